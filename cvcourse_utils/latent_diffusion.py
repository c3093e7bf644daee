"""Latent text-to-image diffusion on the captioned shapes (module 11): Stable Diffusion's design, small.

Three parts, as in Rombach et al. (2022)::

    autoencoder    images (N, 3, 32, 32) in [0, 1] -> latents z (N, 4, 16, 16) in [-1, 1] (tanh) -> images;
                   the diffusion sees them standardised per channel (mean 0, std 1), as Stable Diffusion scales its own
    text encoder   module 06's toy CLIP text encoder, frozen: tokens (N, 12) -> features (N, 12, 64) + mask
    denoiser       TextUNet(in_channels=4, context_dim=64, patch=2): predicts the noise of z_t; FiLM (scale-shift after
                   the norm) by time + attention-pooled text in every block, cross-attention to the tokens at every resolution

The latents are only 3 times smaller than the images: at 8 x 8 (12 times smaller, two down-samplings) the autoencoder
blurred the small shapes' outlines so that the shape judge read only half of its reconstructions. The denoiser
folds 2 x 2 latent pixels into channels (as DiT does with its patches), so it runs at 8 x 8 all the same.

Training: the autoencoder first (squared reconstruction error, the shape's pixels weighted 5 times the
background's, a little noise on the latents so that the decoder forgives the diffusion's small errors), then the diffusion on the frozen latents with 10% of the
captions dropped (the "no text" of classifier-free guidance), its noise-prediction error weighted min-SNR-5.
Sampling runs DDIM ("trailing" timesteps) in the latent space from N(0, I) with guidance and decodes once. :func:`load_text_to_image` trains once and caches (``get_or_train``).

Evaluation (:func:`evaluate_text_to_image`): one prompt per (colour, shape) pair, "a red star"; the shape of
each generated image is judged by :func:`load_shape_judge` (the course backbone fine-tuned on the real
captioned training images: as it comes it was trained on cluttered shapes and misreads these), and its colour
is measured from the pixels (:func:`colour_from_pixels`: the mean colour of the bright pixels, nearest named colour).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cvcourse_utils.datasets.captions import CAPTION_SHAPES, COLOR_NAMES, COLOR_RGB, TOKENIZER
from cvcourse_utils.diffusion import EMA, _sample, ddim_step, make_schedule, q_sample, timestep_embedding
from cvcourse_utils.fast import per_mode

__all__ = ["ShapesAutoencoder", "ForegroundWeightedMSE", "FiLMBlock", "CrossAttention", "TextUNet", "TextToImage", "TextDenoisingObjective", "text_to_image_config", "build_text_to_image",
           "train_text_to_image", "load_text_to_image", "prompts_grid", "colour_from_pixels", "shape_judge_config",
           "load_shape_judge", "evaluate_text_to_image", "trailing_timesteps", "min_snr_weights", "FOREGROUND_THRESHOLD"]

FOREGROUND_THRESHOLD = 0.5  # a pixel is part of the shape when its brightest channel exceeds this (backgrounds are dark)


class ShapesAutoencoder(nn.Module):
    """images (N, 3, 32, 32) in [0, 1] <-> latents (N, latent_channels, 32 / 2^d, 32 / 2^d) in [-1, 1], d = downsamplings::

        encoder: conv 3x3 (w) SiLU -> d x [conv stride 2 (2w) SiLU] -> k x [conv 3x3 (2w) SiLU] -> conv 1x1 (latent_channels) -> tanh
        decoder: conv 3x3 (2w) SiLU -> k x [conv 3x3 (2w) SiLU] -> (d - 1) x [up x2, conv (2w) SiLU] -> up x2, conv (w) SiLU
                 -> conv 3x3 (3) -> sigmoid

    (k = ``extra_convs``: more layers at the latent resolution, where they are 4 times cheaper than at 32 x 32.)

    ``forward(images)`` reconstructs (adding ``latent_noise`` std of Gaussian noise to the latents in training).
    """

    def __init__(self, width: int = 32, latent_channels: int = 4, latent_noise: float = 0.03, downsamplings: int = 2,
                 extra_convs: int = 0) -> None:
        super().__init__()
        if downsamplings < 1:
            raise ValueError(f"downsamplings must be at least 1, got {downsamplings}")
        self.latent_channels, self.latent_noise, self.downsamplings = latent_channels, latent_noise, downsamplings
        down = [nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.SiLU()]
        for _ in range(downsamplings - 1):
            down += [nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.SiLU()]
        extra = [m for _ in range(extra_convs) for m in (nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.SiLU())]
        self.encoder = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.SiLU(), *down, *extra,
                                     nn.Conv2d(2 * width, latent_channels, 1), nn.Tanh())
        extra = [m for _ in range(extra_convs) for m in (nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.SiLU())]
        up = []
        for _ in range(downsamplings - 1):
            up += [nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.SiLU()]
        self.decoder = nn.Sequential(
            nn.Conv2d(latent_channels, 2 * width, 3, padding=1), nn.SiLU(), *extra, *up,
            nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(2 * width, width, 3, padding=1), nn.SiLU(),
            nn.Conv2d(width, 3, 3, padding=1), nn.Sigmoid())

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decoder(latents)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        z = self.encode(images)
        if self.training and self.latent_noise > 0:
            z = z + self.latent_noise * torch.randn_like(z)
        return self.decode(z)


class ForegroundWeightedMSE(nn.Module):
    """Mean squared error whose pixels of the shape (brightest channel > FOREGROUND_THRESHOLD in the target) weigh
    ``weight`` times more: plain MSE is dominated by the background and blurs a small shape's outline away."""

    def __init__(self, weight: float = 5.0) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        w = 1 + (self.weight - 1) * (target.amax(1, keepdim=True) > FOREGROUND_THRESHOLD).to(output.dtype)
        return (w * (output.float() - target.float()) ** 2).mean() / w.mean()


class FiLMBlock(nn.Module):
    """x (N, c_in, H, W), emb (N, emb_dim) -> (N, c_out, H, W): GN-SiLU-conv, GN, * (1 + scale) + shift, SiLU-conv, + skip.

    The embedding (time and pooled text) scales and shifts each channel *after* the second GroupNorm (FiLM,
    "AdaGN" of Dhariwal & Nichol, 2021). The course's ``diffusion.ResBlock`` adds it *before* the norm, which then
    subtracts each group's mean: with one or two channels per group (8 groups of <= 16 channels) most of the
    embedding is removed again.
    """

    def __init__(self, c_in: int, c_out: int, emb_dim: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(min(8, c_in), c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * c_out)
        self.norm2, self.conv2 = nn.GroupNorm(min(8, c_out), c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.conv2(F.silu(self.norm2(h) * (1 + scale) + shift))
        return h + self.skip(x)


class CrossAttention(nn.Module):
    """h (N, c, H, W) attends to text tokens (N, L, context_dim): every position is a query (LayerNorm first), the
    real tokens are keys and values; the result is added back (residual). A text with no real token adds nothing."""

    def __init__(self, channels: int, context_dim: int, heads: int = 4) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.attn = nn.MultiheadAttention(channels, heads, kdim=context_dim, vdim=context_dim, batch_first=True)

    def forward(self, h: torch.Tensor, context: torch.Tensor, real: torch.Tensor, has_text: torch.Tensor) -> torch.Tensor:
        n, c, hh, ww = h.shape
        q = self.norm(h.flatten(2).transpose(1, 2))
        mask = ~(real | ~has_text[:, None])  # a text without tokens attends everywhere (no NaN), then is dropped
        out, _ = self.attn(q, context.to(q.dtype), context.to(q.dtype), key_padding_mask=mask, need_weights=False)
        out = out * has_text[:, None, None].to(out.dtype)
        return h + out.transpose(1, 2).reshape(n, c, hh, ww)


class TextUNet(nn.Module):
    """The text-conditioned denoiser: the layout of ``diffusion.TinyUNet`` (two down-samplings, skips), with the text
    at every resolution::

        patch p (pixel_unshuffle) -> conv_in (w) -> FiLMBlock(w) + cross-attn  @S ------------------ skip ---+
          down -> FiLMBlock(2w) + cross-attn @S/2 ---------------------------------- skip ---+        |
            down -> FiLMBlock(2w) + cross-attn @S/4                                          |        |
          up + concat -> FiLMBlock(2w) + cross-attn @S/2  <----------------------------------+        |
        up + concat -> FiLMBlock(w) + cross-attn @S  <-----------------------------------------------+ -> conv_out

    The embedding every block scales and shifts by is the timestep's plus the *attention-pooled* text (a learned
    query attends to the real tokens, so it can pick the shape word rather than averaging it with the colour).
    forward(x, t (N,), labels=None, context (N, L, context_dim), context_mask (N, L) True at real tokens) -> eps.
    """

    def __init__(self, in_channels: int, width: int, context_dim: int, patch: int = 2) -> None:
        super().__init__()
        self.in_channels, self.width, self.patch, self.num_classes = in_channels, width, patch, 0
        emb = 4 * width
        self.time_mlp = nn.Sequential(nn.Linear(width, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.pool_query = nn.Parameter(torch.randn(1, 1, context_dim) * context_dim ** -0.5)
        self.pool = nn.MultiheadAttention(context_dim, 4, batch_first=True)
        self.context_embed = nn.Linear(context_dim, emb)
        self.conv_in = nn.Conv2d(in_channels * patch ** 2, width, 3, padding=1)
        chans = [width, 2 * width, 2 * width, 2 * width, width]
        ins = [width, width, 2 * width, 4 * width, 2 * width]
        self.blocks = nn.ModuleList(FiLMBlock(i, c, emb) for i, c in zip(ins, chans))
        self.cross = nn.ModuleList(CrossAttention(c, context_dim) for c in chans)
        self.down1 = nn.Conv2d(width, width, 3, stride=2, padding=1)
        self.down2 = nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1)
        self.up2 = nn.Conv2d(2 * width, 2 * width, 3, padding=1)
        self.up1 = nn.Conv2d(2 * width, width, 3, padding=1)
        self.norm_out = nn.GroupNorm(min(8, width), width)
        self.conv_out = nn.Conv2d(width, in_channels * patch ** 2, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None,
                context: torch.Tensor | None = None, context_mask: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t.to(x.device), self.width).to(x.dtype))
        if context is None:
            context = torch.zeros(len(x), 1, self.pool_query.shape[-1], device=x.device, dtype=x.dtype)
            context_mask = torch.zeros(len(x), 1, dtype=torch.bool, device=x.device)
        real = (torch.ones(context.shape[:2], dtype=torch.bool, device=x.device) if context_mask is None
                else context_mask.to(x.device).bool())
        has_text = real.any(1)
        context = context.to(x.dtype)
        pad = ~(real | ~has_text[:, None])
        pooled, _ = self.pool(self.pool_query.expand(len(x), -1, -1).to(x.dtype), context, context,
                              key_padding_mask=pad, need_weights=False)
        emb = emb + self.context_embed(pooled[:, 0]) * has_text[:, None].to(emb.dtype)
        if x.shape[-1] % self.patch or x.shape[-2] % self.patch:
            raise ValueError(f"latent size {tuple(x.shape[-2:])} is not divisible by patch={self.patch}")
        x = F.pixel_unshuffle(x, self.patch) if self.patch > 1 else x

        def block(i: int, h: torch.Tensor) -> torch.Tensor:
            return self.cross[i](self.blocks[i](h, emb), context, real, has_text)

        h1 = block(0, self.conv_in(x))
        h2 = block(1, self.down1(h1))
        h = block(2, self.down2(h2))
        h = block(3, torch.cat([self.up2(F.interpolate(h, size=h2.shape[-2:], mode="nearest")), h2], 1))
        h = block(4, torch.cat([self.up1(F.interpolate(h, size=h1.shape[-2:], mode="nearest")), h1], 1))
        out = self.conv_out(F.silu(self.norm_out(h)))
        return F.pixel_shuffle(out, self.patch) if self.patch > 1 else out


def trailing_timesteps(num_timesteps: int, num_steps: int) -> list[int]:
    """DDIM's timesteps, largest first, "trailing" (Lin et al., 2024): T-1, T-1-k, ... so that sampling starts at the
    last (pure-noise) timestep, where the "leading" T - k, ... of ``diffusion.ddim_timesteps`` starts k - 1 below it."""
    k = num_timesteps / num_steps
    return sorted({int(round(num_timesteps - 1 - i * k)) for i in range(num_steps)}, reverse=True)


def min_snr_weights(alphas_cumprod: torch.Tensor, t: torch.Tensor, gamma: float = 5.0) -> torch.Tensor:
    """Min-SNR-gamma loss weights for noise prediction (Hang et al., 2023): min(SNR_t, gamma) / SNR_t. The noisy steps
    (low SNR, where the layout - the shape - is decided) keep weight 1; the nearly clean ones, easy and many, weigh less."""
    abar = alphas_cumprod[t]
    snr = abar / (1 - abar)
    return snr.clamp(max=gamma) / snr


class TextToImage(nn.Module):
    """The autoencoder, the frozen text encoder and the latent denoiser, with the noise schedule as a buffer.

    The diffusion runs on *standardised* latents, (z - latent_mean) / latent_std per channel (buffers set after the
    autoencoder is trained; Stable Diffusion multiplies by 0.18215 for the same reason): the schedule assumes data of
    unit variance; at std s every step's signal-to-noise ratio is s^2 times the planned one (s = 0.26 shifts the log-SNR by -2.7).
    ``encode_text(texts)`` -> (context (N, L, 64), context_mask (N, L) True at real tokens);
    ``to_diffusion(z)`` / ``from_diffusion(z)`` standardise and undo it;
    ``generate(prompts, ...)`` -> images (N, 3, 32, 32) in [0, 1] on the CPU.
    """

    def __init__(self, config: dict) -> None:
        super().__init__()
        from cvcourse_utils.clip import build_toy_clip

        c = config["latent_channels"]
        self.autoencoder = ShapesAutoencoder(config["ae_width"], c, config["ae_latent_noise"], config["ae_downsamplings"],
                                             config["ae_extra_convs"])
        self.text_encoder = build_toy_clip(config["clip"]).text_encoder.requires_grad_(False)
        self.unet = TextUNet(c, width=config["width"], context_dim=self.text_encoder.width, patch=config["unet_patch"])
        self.register_buffer("alphas_cumprod", make_schedule(config["timesteps"])["alphas_cumprod"])
        self.register_buffer("latent_mean", torch.zeros(1, c, 1, 1))
        self.register_buffer("latent_std", torch.ones(1, c, 1, 1))
        side = 32 // 2 ** config["ae_downsamplings"]
        self.latent_shape = (c, side, side)

    def to_diffusion(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.latent_mean.to(z.device)) / self.latent_std.to(z.device)

    def from_diffusion(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.latent_std.to(z.device) + self.latent_mean.to(z.device)

    @torch.no_grad()
    def encode_text(self, texts: str | Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        texts = [texts] if isinstance(texts, str) else list(texts)
        device = self.alphas_cumprod.device
        self.text_encoder.eval()
        states, padding = self.text_encoder.token_features(TOKENIZER(texts).to(device))
        return states.float(), ~padding

    @torch.no_grad()
    def generate(self, prompts: str | Sequence[str], *, guidance_scale: float = 3.0, num_steps: int = 50, seed: int = 0,
                 batch_size: int = 500) -> torch.Tensor:
        """One image per prompt: DDIM (eta = 0, "trailing" timesteps) on the standardised latents with text guidance,
        then the decoder. The predicted clean latent is clipped to the range tanh allows (±1 before standardising)."""
        context, mask = self.encode_text(prompts)
        abar = self.alphas_cumprod
        low, high = self.to_diffusion(-torch.ones(1, 1, 1, 1)), self.to_diffusion(torch.ones(1, 1, 1, 1))

        def update(eps, t, t_prev, x, gen):
            a_t = abar[t].to(x.device)
            a_prev = abar[t_prev].to(x.device) if t_prev >= 0 else torch.ones((), device=x.device)
            x0 = ((x - (1 - a_t).sqrt() * eps) / a_t.sqrt())
            x0 = torch.maximum(torch.minimum(x0, high.to(x.device)), low.to(x.device))
            eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
            return a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps

        latents = _sample(self.unet, len(context), abar, None, guidance_scale, seed, self.latent_shape,
                          {"context": context, "context_mask": mask}, None, batch_size,
                          timesteps=trailing_timesteps(len(abar), min(num_steps, len(abar))), update=update)
        self.autoencoder.eval()
        device = abar.device
        return torch.cat([self.autoencoder.decode(self.from_diffusion(latents[i:i + batch_size].to(device))).float().cpu()
                          for i in range(0, len(latents), batch_size)])


class TextDenoisingObjective(nn.Module):
    """``fit`` trains the latent denoiser through this: batches are (latents z0, caption index).

    ``loss(z0, index)`` looks the captions' precomputed text features up, drops each caption with probability
    ``p_uncond`` (its mask becomes all False: "no text"), draws t and the noise, and returns the MSE of the
    noise prediction, each example weighted by :func:`min_snr_weights` (``min_snr_gamma``; None: plain MSE).
    With ``ema``, the average is updated at each training call.
    """

    def __init__(self, unet: nn.Module, alphas_cumprod: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor,
                 *, p_uncond: float = 0.1, ema: EMA | None = None, min_snr_gamma: float | None = 5.0) -> None:
        super().__init__()
        self.unet, self.p_uncond, self.ema, self.min_snr_gamma = unet, p_uncond, ema, min_snr_gamma
        self.register_buffer("alphas_cumprod", alphas_cumprod.float().clone())
        self.register_buffer("context", context.float())
        self.register_buffer("context_mask", context_mask.bool())

    def forward(self, z0: torch.Tensor) -> torch.Tensor:
        return z0

    def loss(self, z0: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        if self.training and self.ema is not None:
            self.ema.update(self.unet)
        context, mask = self.context[index], self.context_mask[index]
        if self.training and self.p_uncond > 0:
            keep = torch.rand(len(index), device=mask.device) >= self.p_uncond
            mask = mask & keep[:, None]
        t = torch.randint(0, len(self.alphas_cumprod), (len(z0),), device=z0.device)
        noise = torch.randn_like(z0)
        eps = self.unet(q_sample(z0, t, noise, self.alphas_cumprod), t, None, context=context, context_mask=mask)
        per_example = ((eps.float() - noise.float()) ** 2).flatten(1).mean(1)
        if self.min_snr_gamma is None:
            return per_example.mean()
        return (min_snr_weights(self.alphas_cumprod, t, self.min_snr_gamma) * per_example).mean()


# --------------------------------------------------------------------------- the course's cached model

def text_to_image_config() -> dict:
    """Sizes of the text-to-image model (fast mode: a tiny model trained for seconds; its samples are poor)."""
    from cvcourse_utils.clip import toy_clip_config

    return {"n_train": per_mode(full=10000, fast=384), "pairs": "all", "keep": 0.6, "keep_color": 0.9,
            "ae_width": per_mode(full=16, fast=8), "latent_channels": 4, "ae_epochs": per_mode(full=8, fast=1),
            "ae_latent_noise": 0.03, "ae_foreground_weight": 5.0, "ae_downsamplings": 1, "ae_extra_convs": 1, "unet_patch": 2,
            "timesteps": per_mode(full=200, fast=20), "width": per_mode(full=32, fast=16),
            "steps": per_mode(full=3000, fast=24), "batch_size": per_mode(full=96, fast=32), "lr": 2e-3,
            "p_uncond": 0.1, "min_snr_gamma": 5.0, "ema_decay": 0.995, "seed": 0, "clip": toy_clip_config()}


def build_text_to_image(config: dict) -> TextToImage:
    return TextToImage(config)


def train_text_to_image(model: TextToImage, config: dict) -> dict:
    """Copy the toy CLIP's text encoder in, train the autoencoder, then the latent diffusion (EMA weights kept)."""
    from torch.utils.data import DataLoader, TensorDataset

    from cvcourse_utils.clip import load_toy_clip
    from cvcourse_utils.datasets.captions import load_captioned_shapes
    from cvcourse_utils.seeding import seed_everything
    from cvcourse_utils.training import fit

    from cvcourse_utils.device import get_device

    device = get_device()
    model.to(device)
    model.text_encoder.load_state_dict(load_toy_clip(device="cpu", config=config["clip"]).text_encoder.state_dict())
    seed_everything(config["seed"])
    data = load_captioned_shapes("train", n=config["n_train"], seed=config["seed"], pairs=config["pairs"],
                                 keep=config["keep"], keep_color=config["keep_color"])
    images = data.image_tensor()
    gen = torch.Generator().manual_seed(config["seed"])
    ae = model.autoencoder
    ae_loader = DataLoader(TensorDataset(images, images), batch_size=config["batch_size"], shuffle=True, generator=gen)
    ae_optimizer = torch.optim.AdamW(ae.parameters(), lr=config["lr"])
    ae_loss = ForegroundWeightedMSE(config["ae_foreground_weight"])
    ae_history = fit(ae, ae_loader, ae_optimizer, epochs=config["ae_epochs"], loss_fn=ae_loss, metrics={},
                     device=device, progress=False,
                     scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(ae_optimizer, T_max=config["ae_epochs"]))
    ae.eval()
    with torch.no_grad():
        latents = torch.cat([ae.encode(images[i:i + 500].to(device)).cpu() for i in range(0, len(images), 500)])
    model.latent_mean.copy_(latents.mean((0, 2, 3), keepdim=True).to(device))
    model.latent_std.copy_(latents.std((0, 2, 3), keepdim=True).clamp(min=1e-3).to(device))
    latents = model.to_diffusion(latents.to(device)).cpu()  # per channel: mean 0, std 1
    context, mask = [], []
    for i in range(0, len(data.captions), 500):
        c, m = model.encode_text(data.captions[i:i + 500])
        context.append(c.cpu())
        mask.append(m.cpu())
    unet = model.unet
    ema = EMA(unet, config["ema_decay"])
    objective = TextDenoisingObjective(unet, model.alphas_cumprod, torch.cat(context), torch.cat(mask),
                                       p_uncond=config["p_uncond"], ema=ema, min_snr_gamma=config["min_snr_gamma"])
    per_epoch = max(1, len(latents) // config["batch_size"])
    epochs = max(1, math.ceil(config["steps"] / per_epoch))
    loader = DataLoader(TensorDataset(latents, torch.arange(len(latents))), batch_size=config["batch_size"], shuffle=True,
                        drop_last=True, generator=gen)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=config["lr"])
    history = fit(objective, loader, optimizer, epochs=epochs, loss_fn=objective.loss, metrics={}, device=device,
                  progress=False, scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs,
                                                                                     eta_min=config["lr"] * 0.05))
    ema.update(unet)
    unet.load_state_dict(ema.model.state_dict())
    return {"autoencoder_loss": ae_history["train_loss"], "diffusion_loss": history["train_loss"],
            "latent_std_before": model.latent_std.flatten().tolist()}


def load_text_to_image(config: dict | None = None, *, device=None) -> TextToImage:
    """The text-to-image model of the captioned shapes, trained once and cached (``get_or_train``), eval mode."""
    from cvcourse_utils.pretrained import get_or_train

    return get_or_train("shapes_text_to_image", build_text_to_image, train_text_to_image,
                        config or text_to_image_config(), device=device)


# --------------------------------------------------------------------------- measuring the samples

def prompts_grid(per_prompt: int = 1) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(prompts "a {colour} {shape}", shape ids, colour ids): every colour with every shape, ``per_prompt`` times each."""
    pairs = [(s, c) for s in range(len(CAPTION_SHAPES)) for c in range(len(COLOR_NAMES))]
    prompts = [f"a {COLOR_NAMES[c]} {CAPTION_SHAPES[s]}" for s, c in pairs for _ in range(per_prompt)]
    shapes = np.repeat([s for s, _ in pairs], per_prompt)
    colours = np.repeat([c for _, c in pairs], per_prompt)
    return prompts, shapes.astype(np.int64), colours.astype(np.int64)


def colour_from_pixels(images) -> np.ndarray:
    """images (N, 3, H, W) in [0, 1] -> (N,) int64 index into COLOR_NAMES (-1 when no pixel is bright).

    The shape's pixels are those whose brightest channel exceeds FOREGROUND_THRESHOLD; their mean RGB is
    matched to the nearest of COLOR_RGB.
    """
    x = torch.as_tensor(images).float()
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W), got {tuple(x.shape)}")
    bright = (x.amax(1, keepdim=True) > FOREGROUND_THRESHOLD).float()
    count = bright.sum((1, 2, 3))
    mean = (x * bright).sum((2, 3)) / count.clamp(min=1)[:, None]
    nearest = torch.cdist(mean, torch.from_numpy(COLOR_RGB)).argmin(1)
    return torch.where(count > 0, nearest, torch.full_like(nearest, -1)).numpy().astype(np.int64)


def shape_judge_config() -> dict:
    return {"n_train": per_mode(full=4000, fast=256), "epochs": per_mode(full=2, fast=1), "batch_size": 64, "lr": 1e-3,
            "pairs": "all", "seed": 0}


def _build_shape_judge(config: dict) -> nn.Module:
    from cvcourse_utils.backbone import backbone_config, build_backbone

    return build_backbone(backbone_config())


def _train_shape_judge(model: nn.Module, config: dict) -> None:
    """Start from the course backbone's weights; fine-tune on real captioned training images (never generated ones)."""
    from torch.utils.data import DataLoader, TensorDataset

    from cvcourse_utils.backbone import course_backbone
    from cvcourse_utils.datasets.captions import load_captioned_shapes
    from cvcourse_utils.seeding import seed_everything
    from cvcourse_utils.training import fit

    model.load_state_dict(course_backbone(device="cpu").state_dict())
    seed_everything(config["seed"])
    data = load_captioned_shapes("train", n=config["n_train"], seed=config["seed"] + 1, pairs=config["pairs"])
    loader = DataLoader(TensorDataset(data.image_tensor(), torch.as_tensor(data.shapes)), batch_size=config["batch_size"],
                        shuffle=True, generator=torch.Generator().manual_seed(config["seed"]))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"])
    fit(model, loader, optimizer, epochs=config["epochs"], progress=False,
        scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config["epochs"]))


def load_shape_judge(*, device=None) -> nn.Module:
    """The captioned shapes' judge: (N, 3, 32, 32) in [0, 1] -> logits (N, 5) over CAPTION_SHAPES (cached)."""
    from cvcourse_utils.pretrained import get_or_train

    return get_or_train("captions_shape_judge", _build_shape_judge, _train_shape_judge, shape_judge_config(), device=device)


def evaluate_text_to_image(model: TextToImage, *, per_prompt: int = 20, guidance_scale: float = 3.0, num_steps: int = 50,
                           judge: nn.Module | None = None, seed: int = 0) -> dict:
    """Generate ``per_prompt`` images for each of the 25 prompts "a {colour} {shape}" and score them.

    Returns {"shape_accuracy", "colour_accuracy", "both_accuracy", "per_shape" (5,), "per_colour" (5,),
    "images" (N, 3, 32, 32), "prompts", "shapes", "colours"}: the fractions of images whose judged shape /
    measured colour is the prompted one.
    """
    judge = judge if judge is not None else load_shape_judge(device=model.alphas_cumprod.device)
    prompts, shapes, colours = prompts_grid(per_prompt)
    images = model.generate(prompts, guidance_scale=guidance_scale, num_steps=num_steps, seed=seed)
    judge.eval()
    device = next(judge.parameters()).device
    with torch.no_grad():
        found = torch.cat([judge(images[i:i + 500].to(device)).argmax(1).cpu() for i in range(0, len(images), 500)]).numpy()
    shape_ok, colour_ok = found == shapes, colour_from_pixels(images) == colours
    return {"shape_accuracy": float(shape_ok.mean()), "colour_accuracy": float(colour_ok.mean()),
            "both_accuracy": float((shape_ok & colour_ok).mean()),
            "per_shape": np.array([shape_ok[shapes == s].mean() for s in range(len(CAPTION_SHAPES))]),
            "per_colour": np.array([colour_ok[colours == c].mean() for c in range(len(COLOR_NAMES))]),
            "images": images, "prompts": prompts, "shapes": shapes, "colours": colours}
