"""Latent text-to-image diffusion on the captioned shapes (module 11): Stable Diffusion's design, small.

Three parts, as in Rombach et al. (2022)::

    autoencoder    images (N, 3, 32, 32) in [0, 1] -> latents z (N, 4, 16, 16) in [-1, 1] (tanh) -> images
    text encoder   module 06's toy CLIP text encoder, frozen: tokens (N, 12) -> features (N, 12, 64) + mask
    denoiser       TinyUNet(in_channels=4, context_dim=64, patch=2): predicts the noise of z_t, cross-attending to the text

The latents are only 3 times smaller than the images: at 8 x 8 (12 times smaller, two down-samplings) the autoencoder
blurred the small shapes' outlines so that the shape judge read only half of its reconstructions. The denoiser
folds 2 x 2 latent pixels into channels (as DiT does with its patches), so it runs at 8 x 8 all the same.

Training: the autoencoder first (squared reconstruction error, the shape's pixels weighted 5 times the
background's, a little noise on the latents so that the decoder forgives the diffusion's small errors), then the diffusion on the frozen latents with 10% of the
captions dropped (the "no text" of classifier-free guidance). Sampling runs DDIM in the latent space from
N(0, I) with guidance and decodes once. :func:`load_text_to_image` trains once and caches (``get_or_train``).

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
from cvcourse_utils.diffusion import EMA, TinyUNet, make_schedule, q_sample, sample_ddim
from cvcourse_utils.fast import per_mode

__all__ = ["ShapesAutoencoder", "ForegroundWeightedMSE", "TextToImage", "TextDenoisingObjective", "text_to_image_config", "build_text_to_image",
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


class TextToImage(nn.Module):
    """The autoencoder, the frozen text encoder and the latent denoiser, with the noise schedule as a buffer.

    ``encode_text(texts)`` -> (context (N, L, 64), context_mask (N, L) True at real tokens);
    ``generate(prompts, ...)`` -> images (N, 3, 32, 32) in [0, 1] on the CPU.
    """

    def __init__(self, config: dict) -> None:
        super().__init__()
        from cvcourse_utils.clip import build_toy_clip

        self.autoencoder = ShapesAutoencoder(config["ae_width"], config["latent_channels"], config["ae_latent_noise"],
                                             config["ae_downsamplings"])
        self.text_encoder = build_toy_clip(config["clip"]).text_encoder.requires_grad_(False)
        self.unet = TinyUNet(config["latent_channels"], width=config["width"], context_dim=self.text_encoder.width,
                             patch=config["unet_patch"])
        self.register_buffer("alphas_cumprod", make_schedule(config["timesteps"])["alphas_cumprod"])
        side = 32 // 2 ** config["ae_downsamplings"]
        self.latent_shape = (config["latent_channels"], side, side)

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
        """One image per prompt: DDIM (eta = 0) in the latent space with text guidance, then the decoder."""
        context, mask = self.encode_text(prompts)
        latents = sample_ddim(self.unet, len(context), self.alphas_cumprod, num_steps=min(num_steps, len(self.alphas_cumprod)),
                              shape=self.latent_shape, cond={"context": context, "context_mask": mask},
                              guidance_scale=guidance_scale, seed=seed, batch_size=batch_size)
        self.autoencoder.eval()
        device = self.alphas_cumprod.device
        return torch.cat([self.autoencoder.decode(latents[i:i + batch_size].to(device)).float().cpu()
                          for i in range(0, len(latents), batch_size)])


class TextDenoisingObjective(nn.Module):
    """``fit`` trains the latent denoiser through this: batches are (latents z0, caption index).

    ``loss(z0, index)`` looks the captions' precomputed text features up, drops each caption with probability
    ``p_uncond`` (its mask becomes all False: "no text"), draws t and the noise, and returns the MSE of the
    noise prediction. With ``ema``, the average is updated at each training call.
    """

    def __init__(self, unet: TinyUNet, alphas_cumprod: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor,
                 *, p_uncond: float = 0.1, ema: EMA | None = None) -> None:
        super().__init__()
        self.unet, self.p_uncond, self.ema = unet, p_uncond, ema
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
        return F.mse_loss(eps.float(), noise.float())


# --------------------------------------------------------------------------- the course's cached model

def text_to_image_config() -> dict:
    """Sizes of the text-to-image model (fast mode: a tiny model trained for seconds; its samples are poor)."""
    from cvcourse_utils.clip import toy_clip_config

    return {"n_train": per_mode(full=10000, fast=384), "pairs": "all", "keep": 0.6, "keep_color": 0.9,
            "ae_width": per_mode(full=16, fast=8), "latent_channels": 4, "ae_epochs": per_mode(full=8, fast=1),
            "ae_latent_noise": 0.03, "ae_foreground_weight": 5.0, "ae_downsamplings": 1, "unet_patch": 2,
            "timesteps": per_mode(full=200, fast=20), "width": per_mode(full=32, fast=16),
            "steps": per_mode(full=3000, fast=24), "batch_size": per_mode(full=96, fast=32), "lr": 2e-3,
            "p_uncond": 0.1, "ema_decay": 0.995, "seed": 0, "clip": toy_clip_config()}


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
                     device=device, progress="overall",
                     scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(ae_optimizer, T_max=config["ae_epochs"]))
    ae.eval()
    with torch.no_grad():
        latents = torch.cat([ae.encode(images[i:i + 500].to(device)).cpu() for i in range(0, len(images), 500)])
    context, mask = [], []
    for i in range(0, len(data.captions), 500):
        c, m = model.encode_text(data.captions[i:i + 500])
        context.append(c.cpu())
        mask.append(m.cpu())
    unet = model.unet
    ema = EMA(unet, config["ema_decay"])
    objective = TextDenoisingObjective(unet, model.alphas_cumprod, torch.cat(context), torch.cat(mask),
                                       p_uncond=config["p_uncond"], ema=ema)
    per_epoch = max(1, len(latents) // config["batch_size"])
    epochs = max(1, math.ceil(config["steps"] / per_epoch))
    loader = DataLoader(TensorDataset(latents, torch.arange(len(latents))), batch_size=config["batch_size"], shuffle=True,
                        drop_last=True, generator=gen)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=config["lr"])
    history = fit(objective, loader, optimizer, epochs=epochs, loss_fn=objective.loss, metrics={}, device=device,
                  progress="overall", scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs,
                                                                                     eta_min=config["lr"] * 0.05))
    ema.update(unet)
    unet.load_state_dict(ema.model.state_dict())
    return {"autoencoder_loss": ae_history["train_loss"], "diffusion_loss": history["train_loss"]}


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
