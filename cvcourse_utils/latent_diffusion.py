"""Text-to-image diffusion on the captioned shapes (module 11): Stable Diffusion's recipe, small, in pixel space.

Two parts::

    text encoder   module 06's toy CLIP text encoder, frozen: tokens (N, 12) -> features (N, 12, 64) + mask
    denoiser       TextUNet(patch=4): images (N, 3, 32, 32) in [-1, 1], folded into 4 x 4 patches (48 channels at
                   8 x 8), U-Net at 8 x 8, 4 x 4 and 2 x 2; predicts the clean image x0 from x_t, t and the text

Why pixels: the course's first model ran on the 16 x 16 x 4 latents of a small autoencoder (:class:`ShapesAutoencoder`,
kept here for that comparison) and drew the prompted shape in only about a third of its samples: the shape judge reads
outlines, and the autoencoder's blur cost it most of them. At 32 x 32 patches make pixel space cheap enough (as in DiT).
Why x0: with 4 x 4 patches each position carries 48 numbers of noise, as many as the first level's channels; a noise
predictor cannot pass them through, while the clean image is smooth. The U-Net redraws every 4 x 4 patch from 8 x 8
features, and even from nearly clean real inputs (t = 10 of 200) the shape judge reads the shape in only 0.83 of its x0
estimates (0.99 of the images themselves). ``TextUNet(head=16)`` adds a residual block at 32 x 32 on (x_t, x0) that fixes
that end (0.98), but it is not in the course's config: in full mode its samples' shape fell from 0.36 to 0.27
(``benchmarks/RESULTS.md``, 2026-12-06): the shape is lost where the layout is drawn, at high noise.
:class:`NoiseFromX0` gives the samplers the noise estimate they expect, eps = (x_t - sqrt(abar) x0) / sqrt(1 - abar), and DDIM turns it back into exactly x0.

Text: attention pooling (a learned query over the tokens) -> FiLM (scale and shift after the GroupNorm) in every block,
and cross-attention to the tokens after every block; a learned null token stands for "no text". Training drops 10% of
the captions (classifier-free guidance), weights the x0 error by 1 + min(SNR, 5) and keeps an EMA of the weights.
Sampling: DDIM with "trailing" timesteps from pure noise, with guidance. :func:`load_text_to_image` trains once and
caches (``get_or_train``).

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
from cvcourse_utils.diffusion import EMA, from_unit, make_schedule, q_sample, sample_ddim, snr, timestep_embedding, to_unit
from cvcourse_utils.fast import per_mode

__all__ = ["ShapesAutoencoder", "ForegroundWeightedMSE", "FiLMResBlock", "CrossAttention", "TextUNet", "NoiseFromX0", "TextToImage", "TextDenoisingObjective", "text_to_image_config", "build_text_to_image",
           "train_text_to_image", "load_text_to_image", "prompts_grid", "colour_from_pixels", "shape_judge_config",
           "load_shape_judge", "evaluate_text_to_image", "FOREGROUND_THRESHOLD"]

FOREGROUND_THRESHOLD = 0.5  # a pixel is part of the shape when its brightest channel exceeds this (backgrounds are dark)


class ShapesAutoencoder(nn.Module):
    """images (N, 3, 32, 32) in [0, 1] <-> latents (N, latent_channels, 32 / 2^d, 32 / 2^d) in [-1, 1], d = downsamplings::

        encoder: conv 3x3 (w) SiLU -> d x [conv stride 2 (2w) SiLU] -> conv 1x1 (latent_channels) -> tanh
        decoder: conv 3x3 (2w) SiLU -> (d - 1) x [up x2, conv (2w) SiLU] -> up x2, conv (w) SiLU -> conv 3x3 (3) -> sigmoid

    ``forward(images)`` reconstructs (adding ``latent_noise`` std of Gaussian noise to the latents in training).
    """

    def __init__(self, width: int = 32, latent_channels: int = 4, latent_noise: float = 0.03, downsamplings: int = 2) -> None:
        super().__init__()
        if downsamplings < 1:
            raise ValueError(f"downsamplings must be at least 1, got {downsamplings}")
        self.latent_channels, self.latent_noise, self.downsamplings = latent_channels, latent_noise, downsamplings
        down = [nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.SiLU()]
        for _ in range(downsamplings - 1):
            down += [nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.SiLU()]
        self.encoder = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.SiLU(), *down,
                                     nn.Conv2d(2 * width, latent_channels, 1), nn.Tanh())
        up = []
        for _ in range(downsamplings - 1):
            up += [nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.SiLU()]
        self.decoder = nn.Sequential(
            nn.Conv2d(latent_channels, 2 * width, 3, padding=1), nn.SiLU(), *up,
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


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class FiLMResBlock(nn.Module):
    """x (N, c_in, H, W), emb (N, emb_dim) -> (N, c_out, H, W): GN-SiLU-conv, GN then scale and shift from emb, SiLU-conv, + skip.

    The embedding (time and pooled text) sets a per-channel scale and shift *after* the second GroupNorm
    (AdaGN, FiLM): added before it, as a plain shift, the norm would subtract it again.
    """

    def __init__(self, c_in: int, c_out: int, emb_dim: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * c_out)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.conv2(F.silu(self.norm2(h) * (1 + scale) + shift))
        return h + self.skip(x)


class CrossAttention(nn.Module):
    """h (N, C, H, W) attends to text tokens (N, L, context_dim) (``padding`` (N, L) True at ignored tokens): h + attention."""

    def __init__(self, channels: int, context_dim: int, heads: int = 4) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.attn = nn.MultiheadAttention(channels, heads, kdim=context_dim, vdim=context_dim, batch_first=True)

    def forward(self, h: torch.Tensor, context: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        n, c, height, width = h.shape
        q = self.norm(h.flatten(2).transpose(1, 2))
        out, _ = self.attn(q, context, context, key_padding_mask=padding, need_weights=False)
        return h + out.transpose(1, 2).reshape(n, c, height, width)


class TextUNet(nn.Module):
    """A two-level U-Net on p x p patches that predicts the clean image x0 from (x_t, t, text)::

        pixel_unshuffle (C p^2 channels) -> conv_in (w) -> block @H/p --------------------------- skip ---+
          down -> block (2w) @H/2p ------------------------------------------- skip ---+             |
            down -> middle block (2w) @H/4p                                            |             |
          up + concat -> block (2w) @H/2p  <-------------------------------------------+             |
        up + concat -> block (w) @H/p  <--------------------------------------------------------------+ -> conv_out, pixel_shuffle
        (head > 0:)  x0 + conv_out(block (head) @H on concat(x_t, x0))

    Text enters twice: a learned query attends over the token states (attention pooling; "a red star" weighs "star" as it
    needs) and the pooled vector joins the time embedding, which scales and shifts every :class:`FiLMResBlock`; and every
    block's feature map cross-attends to the tokens (:class:`CrossAttention`), so each position can look up the word it
    needs. A learned "null" token is always present, so a text with no real token (the "no text" of guidance) attends to it.
    With ``head`` > 0 (default 0: off) a :class:`FiLMResBlock` of ``head`` channels at full resolution reads (x_t, the
    U-Net's x0) and adds a correction to x0 (its last conv starts at zero, so training starts from the plain U-Net): it
    keeps the sharp outlines that a nearly clean x_t still shows, which the patches' U-Net loses.
    forward(x (N, C, H, W), t (N,), labels=None, context (N, L, context_dim), context_mask (N, L) True at real tokens)
    -> x0 estimate (N, C, H, W).
    """

    def __init__(self, in_channels: int = 3, width: int = 48, context_dim: int = 64, patch: int = 4, head: int = 0) -> None:
        super().__init__()
        self.in_channels, self.width, self.patch = in_channels, width, patch
        emb = 4 * width
        self.time_mlp = nn.Sequential(nn.Linear(width, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.null_token = nn.Parameter(torch.zeros(1, 1, context_dim))
        self.pool_query = nn.Parameter(torch.randn(1, 1, context_dim) * 0.02)
        self.pool = nn.MultiheadAttention(context_dim, 4, batch_first=True)
        self.text_mlp = nn.Sequential(nn.Linear(context_dim, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.conv_in = nn.Conv2d(in_channels * patch ** 2, width, 3, padding=1)
        self.block1 = FiLMResBlock(width, width, emb)
        self.down1 = nn.Conv2d(width, width, 3, stride=2, padding=1)
        self.block2 = FiLMResBlock(width, 2 * width, emb)
        self.down2 = nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1)
        self.mid = FiLMResBlock(2 * width, 2 * width, emb)
        self.up2 = nn.Conv2d(2 * width, 2 * width, 3, padding=1)
        self.block3 = FiLMResBlock(4 * width, 2 * width, emb)
        self.up1 = nn.Conv2d(2 * width, width, 3, padding=1)
        self.block4 = FiLMResBlock(2 * width, width, emb)
        self.cross = nn.ModuleDict({name: CrossAttention(c, context_dim) for name, c in
                                    (("block1", width), ("block2", 2 * width), ("mid", 2 * width),
                                     ("block3", 2 * width), ("block4", width))})
        self.norm_out, self.conv_out = _norm(width), nn.Conv2d(width, in_channels * patch ** 2, 3, padding=1)
        self.head = None
        if head:
            self.head = FiLMResBlock(2 * in_channels, head, emb)
            self.head_norm, self.head_out = _norm(head), nn.Conv2d(head, in_channels, 3, padding=1)
            nn.init.zeros_(self.head_out.weight)
            nn.init.zeros_(self.head_out.bias)

    def text(self, n: int, context: torch.Tensor | None, context_mask: torch.Tensor | None,
             device) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens with the null token first (N, 1 + L, D), padding (N, 1 + L) True at tokens to ignore)."""
        null = self.null_token.expand(n, 1, -1)
        if context is None:
            return null, torch.zeros(n, 1, dtype=torch.bool, device=device)
        real = (torch.ones(context.shape[:2], dtype=torch.bool, device=device) if context_mask is None
                else context_mask.to(device).bool())
        padding = torch.cat([torch.zeros(n, 1, dtype=torch.bool, device=device), ~real], 1)
        return torch.cat([null.to(context.dtype), context.to(device)], 1), padding

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None,
                context: torch.Tensor | None = None, context_mask: torch.Tensor | None = None) -> torch.Tensor:
        if x.shape[-1] % (4 * self.patch) or x.shape[-2] % (4 * self.patch):
            raise ValueError(f"image size {tuple(x.shape[-2:])} is not divisible by 4 x patch = {4 * self.patch}")
        n = len(x)
        tokens, padding = self.text(n, context, context_mask, x.device)
        tokens = tokens.to(x.dtype)
        pooled, _ = self.pool(self.pool_query.expand(n, 1, -1).to(x.dtype), tokens, tokens, key_padding_mask=padding,
                              need_weights=False)
        emb = self.time_mlp(timestep_embedding(t.to(x.device), self.width).to(x.dtype)) + self.text_mlp(pooled[:, 0])

        def block(name: str, h: torch.Tensor) -> torch.Tensor:
            return self.cross[name](getattr(self, name)(h, emb), tokens, padding)

        h1 = block("block1", self.conv_in(F.pixel_unshuffle(x, self.patch)))
        h2 = block("block2", self.down1(h1))
        h = block("mid", self.down2(h2))
        h = block("block3", torch.cat([self.up2(F.interpolate(h, scale_factor=2.0, mode="nearest")), h2], 1))
        h = block("block4", torch.cat([self.up1(F.interpolate(h, scale_factor=2.0, mode="nearest")), h1], 1))
        coarse = F.pixel_shuffle(self.conv_out(F.silu(self.norm_out(h))), self.patch)
        if self.head is None:
            return coarse
        r = self.head(torch.cat([x, coarse], 1), emb)
        return coarse + self.head_out(F.silu(self.head_norm(r)))


class NoiseFromX0(nn.Module):
    """Wraps an x0-predicting network for the samplers, which expect the noise: eps = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t).

    DDIM turns this eps back into exactly the network's x0 (then clipped to [-1, 1]), so nothing is lost.
    """

    def __init__(self, net: nn.Module, alphas_cumprod: torch.Tensor) -> None:
        super().__init__()
        self.net, self.in_channels, self.num_classes = net, net.in_channels, 0
        self.register_buffer("alphas_cumprod", alphas_cumprod.float().clone(), persistent=False)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, labels=None, **cond) -> torch.Tensor:
        abar = self.alphas_cumprod.to(x_t.device)[t.to(x_t.device)][:, None, None, None].to(x_t.dtype)
        return (x_t - abar.sqrt() * self.net(x_t, t, labels, **cond)) / (1 - abar).sqrt()


class TextToImage(nn.Module):
    """The frozen text encoder and the pixel-space denoiser, with the noise schedule as a buffer.

    ``encode_text(texts)`` -> (context (N, L, 64), context_mask (N, L) True at real tokens);
    ``generate(prompts, ...)`` -> images (N, 3, 32, 32) in [0, 1] on the CPU.
    """

    def __init__(self, config: dict) -> None:
        super().__init__()
        from cvcourse_utils.clip import build_toy_clip

        self.text_encoder = build_toy_clip(config["clip"]).text_encoder.requires_grad_(False)
        self.unet = TextUNet(3, width=config["width"], context_dim=self.text_encoder.width, patch=config["patch"],
                             head=config.get("head", 0))
        self.register_buffer("alphas_cumprod", make_schedule(config["timesteps"])["alphas_cumprod"])
        self.image_shape = (3, 32, 32)

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
        """One image per prompt: DDIM (eta = 0, "trailing" timesteps) with text guidance, from pure noise."""
        context, mask = self.encode_text(prompts)
        images = sample_ddim(NoiseFromX0(self.unet, self.alphas_cumprod), len(context), self.alphas_cumprod,
                             num_steps=min(num_steps, len(self.alphas_cumprod)), shape=self.image_shape,
                             cond={"context": context, "context_mask": mask}, guidance_scale=guidance_scale, seed=seed,
                             batch_size=batch_size, spacing="trailing")
        return to_unit(images)


class TextDenoisingObjective(nn.Module):
    """``fit`` trains the denoiser through this: batches are (images x0 in [-1, 1], caption index).

    ``loss(x0, index)`` looks the captions' precomputed text features up, drops each caption with probability
    ``p_uncond`` (its mask becomes all False: "no text"), draws t and the noise, and returns the squared error of the
    network's x0 estimate weighted by ``1 + min(SNR(t), min_snr)``: v-prediction's weighting (1 + SNR) truncated as in
    min-SNR (Hang et al., 2023), so that nearly clean inputs, whose error is the data's own pixel noise, do not dominate.
    With ``ema``, the average is updated at each training call.
    """

    def __init__(self, unet: nn.Module, alphas_cumprod: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor,
                 *, p_uncond: float = 0.1, min_snr: float = 5.0, ema: EMA | None = None) -> None:
        super().__init__()
        self.unet, self.p_uncond, self.ema = unet, p_uncond, ema
        self.register_buffer("alphas_cumprod", alphas_cumprod.float().clone())
        self.register_buffer("weights", 1 + snr(self.alphas_cumprod).clamp(max=min_snr))
        self.register_buffer("context", context.float())
        self.register_buffer("context_mask", context_mask.bool())

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        return x0

    def loss(self, x0: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        if self.training and self.ema is not None:
            self.ema.update(self.unet)
        context, mask = self.context[index], self.context_mask[index]
        if self.training and self.p_uncond > 0:
            keep = torch.rand(len(index), device=mask.device) >= self.p_uncond
            mask = mask & keep[:, None]
        t = torch.randint(0, len(self.alphas_cumprod), (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        x0_hat = self.unet(q_sample(x0, t, noise, self.alphas_cumprod), t, None, context=context, context_mask=mask)
        return (self.weights[t] * (x0_hat.float() - x0.float()).square().mean((1, 2, 3))).mean()


# --------------------------------------------------------------------------- the course's cached model

def text_to_image_config() -> dict:
    """Sizes of the text-to-image model (fast mode: a tiny model trained for seconds; its samples are poor)."""
    from cvcourse_utils.clip import toy_clip_config

    return {"n_train": per_mode(full=10000, fast=384), "pairs": "all", "keep": 0.6, "keep_color": 0.9, "patch": 4,
            "timesteps": per_mode(full=200, fast=20), "width": per_mode(full=48, fast=16),
            "steps": per_mode(full=3000, fast=24), "batch_size": per_mode(full=64, fast=32), "lr": 2e-3,
            "p_uncond": 0.1, "min_snr": 5.0, "ema_decay": 0.995, "seed": 0, "clip": toy_clip_config()}


def build_text_to_image(config: dict) -> TextToImage:
    return TextToImage(config)


def train_text_to_image(model: TextToImage, config: dict) -> dict:
    """Copy the toy CLIP's text encoder in and train the denoiser on the captioned images (EMA weights kept)."""
    from torch.utils.data import DataLoader, TensorDataset

    from cvcourse_utils.clip import load_toy_clip
    from cvcourse_utils.datasets.captions import load_captioned_shapes
    from cvcourse_utils.device import get_device
    from cvcourse_utils.seeding import seed_everything
    from cvcourse_utils.training import fit

    device = get_device()
    model.to(device)
    model.text_encoder.load_state_dict(load_toy_clip(device="cpu", config=config["clip"]).text_encoder.state_dict())
    seed_everything(config["seed"])
    data = load_captioned_shapes("train", n=config["n_train"], seed=config["seed"], pairs=config["pairs"],
                                 keep=config["keep"], keep_color=config["keep_color"])
    images = from_unit(data.image_tensor())
    context, mask = [], []
    for i in range(0, len(data.captions), 500):
        c, m = model.encode_text(data.captions[i:i + 500])
        context.append(c.cpu())
        mask.append(m.cpu())
    unet = model.unet
    ema = EMA(unet, config["ema_decay"])
    objective = TextDenoisingObjective(unet, model.alphas_cumprod, torch.cat(context), torch.cat(mask),
                                       p_uncond=config["p_uncond"], min_snr=config["min_snr"], ema=ema)
    per_epoch = max(1, len(images) // config["batch_size"])
    epochs = max(1, math.ceil(config["steps"] / per_epoch))
    gen = torch.Generator().manual_seed(config["seed"])
    loader = DataLoader(TensorDataset(images, torch.arange(len(images))), batch_size=config["batch_size"], shuffle=True,
                        drop_last=True, generator=gen)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=config["lr"])
    history = fit(objective, loader, optimizer, epochs=epochs, loss_fn=objective.loss, metrics={}, device=device,
                  progress="overall", scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs,
                                                                                     eta_min=config["lr"] * 0.05))
    ema.update(unet)
    unet.load_state_dict(ema.model.state_dict())
    return {"diffusion_loss": history["train_loss"]}


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
    fit(model, loader, optimizer, epochs=config["epochs"], progress="overall",
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
