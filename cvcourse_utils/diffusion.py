"""Denoising diffusion (module 11): noise schedules, a small time-conditioned U-Net, DDPM and DDIM samplers.

Conventions (the same as Hugging Face ``diffusers``' ``DDPMScheduler`` / ``DDIMScheduler``, which the
tests compare against)::

    betas (T,)            beta_t, t = 0 .. T-1
    alphas_cumprod (T,)   abar_t = prod_{s <= t} (1 - beta_s)
    q(x_t | x_0)          x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps
    images                (N, C, H, W) in [-1, 1] inside the model; ``to_unit`` maps them back to [0, 1]

The model predicts the noise: ``model(x_t (N, C, H, W), t (N,) int64, labels (N,) int64 or None)``
-> eps (N, C, H, W). Label ``num_classes`` is the "no label" of classifier-free guidance.
Training goes through the course's ``fit`` (so bf16 ``autocast`` on CUDA) with
:class:`DenoisingObjective`; sampling with :func:`sample_ddpm` / :func:`sample_ddim`, whose
``step`` argument takes any step function with the signature of :func:`ddpm_step` / :func:`ddim_step`.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import math
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["linear_beta_schedule", "cosine_beta_schedule", "alphas_cumprod_from_betas", "make_schedule",
           "q_sample", "snr", "timestep_embedding", "ResBlock", "TinyUNet", "EMA", "DenoisingObjective",
           "train_diffusion", "ddpm_step", "ddim_step", "cfg_guidance", "drop_labels", "sample_ddpm",
           "sample_ddim", "ddim_timesteps", "sampling_progress", "to_unit", "from_unit", "digits_diffusion_config",
           "build_digits_diffusion", "train_digits_diffusion", "load_digits_diffusion"]


# --------------------------------------------------------------------------- schedules

def linear_beta_schedule(num_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """(T,) float32 betas evenly spaced from beta_start to beta_end (diffusers' "linear")."""
    return torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float32)


def cosine_beta_schedule(num_timesteps: int, max_beta: float = 0.999) -> torch.Tensor:
    """(T,) float32 betas of Nichol & Dhariwal's cosine schedule (diffusers' "squaredcos_cap_v2").

    abar(s) = cos^2((s + 0.008) / 1.008 * pi / 2) at s = t / T; beta_t = min(1 - abar((t+1)/T) / abar(t/T), max_beta).
    """
    def abar(s: float) -> float:
        return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = [min(1 - abar((i + 1) / num_timesteps) / abar(i / num_timesteps), max_beta) for i in range(num_timesteps)]
    return torch.tensor(betas, dtype=torch.float32)


def alphas_cumprod_from_betas(betas: torch.Tensor) -> torch.Tensor:
    """betas (T,) -> abar (T,) = cumprod(1 - betas), in the betas' dtype."""
    return torch.cumprod(1.0 - betas, dim=0)


def make_schedule(num_timesteps: int = 200, kind: str = "cosine") -> dict[str, torch.Tensor]:
    """{"betas", "alphas", "alphas_cumprod"}: (T,) float32 tensors of a "linear" or "cosine" schedule.

    The linear schedule is scaled to T as in DDPM (beta from 1e-4 to 0.02 at T = 1000: both times 1000 / T).
    """
    if kind == "linear":
        scale = 1000 / num_timesteps
        betas = linear_beta_schedule(num_timesteps, 1e-4 * scale, 0.02 * scale)
    elif kind == "cosine":
        betas = cosine_beta_schedule(num_timesteps)
    else:
        raise ValueError(f"kind must be 'linear' or 'cosine', not {kind!r}")
    return {"betas": betas, "alphas": 1.0 - betas, "alphas_cumprod": alphas_cumprod_from_betas(betas)}


def _at(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """values (T,) indexed by t (N,) -> (N, 1, 1, ...) to broadcast against ``like``."""
    out = values.to(like.device)[t.to(like.device).long()]
    return out.reshape(-1, *([1] * (like.dim() - 1))).to(like.dtype)


def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """x0 (N, ...), t (N,) int64, noise like x0 -> x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise."""
    abar = _at(alphas_cumprod, t, x0)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def snr(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """The signal-to-noise ratio abar_t / (1 - abar_t), (T,)."""
    return alphas_cumprod / (1 - alphas_cumprod)


@contextlib.contextmanager
def sampling_progress(model: nn.Module, total: int, desc: str = "sampling") -> Iterator[object]:
    """A tqdm bar that advances on every forward call of ``model`` inside the ``with`` block.

    For a sampling loop written elsewhere (a student's): ``total`` is the number of model calls it will make
    (steps, times 2 with classifier-free guidance). The bar (yielded) shows once the loop has run 3 s.
    """
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="call", delay=3, leave=False)
    hook = model.register_forward_hook(lambda *_: bar.update())
    try:
        yield bar
    finally:
        hook.remove()
        bar.close()


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped."""
    return ((x + 1) / 2).clamp(0, 1)


def from_unit(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return x * 2 - 1


# --------------------------------------------------------------------------- the U-Net

def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """t (N,) -> (N, dim) float32: [cos(t w_i), sin(t w_i)] with w_i = max_period^(-i / (dim/2)), i < dim/2.

    The Transformer's sinusoidal position code applied to the timestep (diffusers' ``get_timestep_embedding``
    with ``flip_sin_to_cos=True, downscale_freq_shift=0``).
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class ResBlock(nn.Module):
    """x (N, c_in, H, W), emb (N, emb_dim) -> (N, c_out, H, W): GN-SiLU-conv, the embedding, GN-SiLU-conv, + skip.

    How the embedding enters (``scale_shift``):

    - False (the first DDPM U-Nets; kept for old configs): ``Linear(emb)`` (N, c_out) is added to every channel
      *before* ``norm2``. GroupNorm then subtracts each group's mean, and with it the shift's mean over the group's
      channels: with one channel per group (c_out <= 8) the embedding is lost entirely.
    - True (adaptive group normalisation, Dhariwal & Nichol, 2021; FiLM): ``Linear(emb)`` (N, 2 c_out) gives a
      per-channel scale and shift applied *after* ``norm2``: ``norm2(h) * (1 + scale) + shift``, which no norm undoes.
    """

    def __init__(self, c_in: int, c_out: int, emb_dim: int, scale_shift: bool = False) -> None:
        super().__init__()
        self.scale_shift = scale_shift
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * c_out if scale_shift else c_out)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        e = self.emb(F.silu(emb))[:, :, None, None]
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.norm2(h) * (1 + scale) + shift
        else:
            h = self.norm2(h + e)
        h = self.conv2(F.silu(h))
        return h + self.skip(x)


class TinyUNet(nn.Module):
    """A two-level U-Net for (N, C, H, W) images of any size divisible by ``patch`` (28x28 digits, 8x8 latents)::

        conv_in (w) -> ResBlock(w)  @HxW  ---------------------------------- skip ---+
          down (stride 2) -> ResBlock(2w) @H/2 -------------------- skip ---+        |
            down (stride 2) -> ResBlock(2w) @H/4 (the middle)              |        |
          up (nearest x2, conv) + concat -> ResBlock(2w) @H/2  <-----------+        |
        up + concat -> ResBlock(w) @HxW  <-------------------------------------------+ -> GN, SiLU, conv_out (C)

    Every block gets the embedding of the timestep (sinusoidal, then an MLP) plus, when
    ``num_classes > 0``, a learned class embedding (index ``num_classes`` means "no label"); with
    ``context_dim`` the middle block also cross-attends to a sequence of text features
    (``context`` (N, L, context_dim), ``context_mask`` (N, L) True where a token is real), and the mean of the
    real tokens' features, projected, joins the embedding. A text with no real token (the "no text" of
    guidance) adds nothing.
    With ``patch`` p > 1 the image is first folded into p x p patches (``pixel_unshuffle``: (N, C p^2, H/p, W/p))
    and unfolded at the end, so every level runs at 1/p of the resolution (p^2 times cheaper): the 8x8 digits
    scaled up to 28x28 lose nothing at p = 2. Up-sampling goes to the skip's size, so odd sizes (7 -> 4 -> 7) work.
    ``block(c_in, c_out, emb_dim)`` builds the residual blocks (default :class:`ResBlock`; lab 11 passes the student's);
    ``scale_shift=True`` makes the default blocks apply the embedding as a scale and shift after their norm (see
    :class:`ResBlock`; the default False keeps the older additive blocks, and the weights cached with them).
    forward(x, t (N,), labels (N,) or None, context=None, context_mask=None) -> eps (N, C, H, W).
    """

    def __init__(self, in_channels: int = 1, width: int = 32, num_classes: int = 0, context_dim: int | None = None,
                 patch: int = 1, block: Callable[[int, int, int], nn.Module] = ResBlock,
                 scale_shift: bool = False) -> None:
        super().__init__()
        if scale_shift:
            if block is not ResBlock:
                raise ValueError("scale_shift=True configures the default ResBlock; a custom block decides itself "
                                 "how it applies the embedding")
            block = functools.partial(ResBlock, scale_shift=True)
        self.in_channels, self.width, self.num_classes, self.patch = in_channels, width, num_classes, patch
        emb = 4 * width
        self.time_mlp = nn.Sequential(nn.Linear(width, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.class_embed = nn.Embedding(num_classes + 1, emb) if num_classes else None
        self.conv_in = nn.Conv2d(in_channels * patch ** 2, width, 3, padding=1)
        self.block1 = block(width, width, emb)
        self.down1 = nn.Conv2d(width, width, 3, stride=2, padding=1)
        self.block2 = block(width, 2 * width, emb)
        self.down2 = nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1)
        self.mid = block(2 * width, 2 * width, emb)
        self.cross = (nn.MultiheadAttention(2 * width, 4, kdim=context_dim, vdim=context_dim, batch_first=True)
                      if context_dim else None)
        self.cross_norm = nn.LayerNorm(2 * width) if context_dim else None
        self.context_embed = nn.Linear(context_dim, emb) if context_dim else None
        self.up2 = nn.Conv2d(2 * width, 2 * width, 3, padding=1)
        self.block3 = block(4 * width, 2 * width, emb)
        self.up1 = nn.Conv2d(2 * width, width, 3, padding=1)
        self.block4 = block(2 * width, width, emb)
        self.norm_out, self.conv_out = _norm(width), nn.Conv2d(width, in_channels * patch ** 2, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None,
                context: torch.Tensor | None = None, context_mask: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t.to(x.device), self.width).to(x.dtype))
        if self.class_embed is not None:
            if labels is None:
                labels = torch.full((len(x),), self.num_classes, dtype=torch.long, device=x.device)
            emb = emb + self.class_embed(labels.to(x.device).long())
        has_text = None
        if self.cross is not None and context is not None:
            real = (torch.ones(context.shape[:2], dtype=torch.bool, device=x.device) if context_mask is None
                    else context_mask.to(x.device).bool())
            has_text = real.any(1)
            weights = real.to(context.dtype).unsqueeze(-1)
            pooled = (context * weights).sum(1) / weights.sum(1).clamp(min=1)
            emb = emb + self.context_embed(pooled.to(emb.dtype)) * has_text[:, None].to(emb.dtype)
        if self.patch > 1:
            if x.shape[-1] % self.patch or x.shape[-2] % self.patch:
                raise ValueError(f"image size {tuple(x.shape[-2:])} is not divisible by patch={self.patch}")
            x = F.pixel_unshuffle(x, self.patch)
        h1 = self.block1(self.conv_in(x), emb)
        h2 = self.block2(self.down1(h1), emb)
        h = self.mid(self.down2(h2), emb)
        if self.cross is not None and context is not None:
            n, c, hh, ww = h.shape
            q = self.cross_norm(h.flatten(2).transpose(1, 2))
            # a text without tokens attends everywhere (no NaN), and its result is dropped below
            mask = None if context_mask is None else ~(real | ~has_text[:, None])
            attended, _ = self.cross(q, context.to(q.dtype), context.to(q.dtype), key_padding_mask=mask, need_weights=False)
            attended = attended * has_text[:, None, None].to(attended.dtype)
            h = h + attended.transpose(1, 2).reshape(n, c, hh, ww)
        h = self.block3(torch.cat([self.up2(F.interpolate(h, size=h2.shape[-2:], mode="nearest")), h2], 1), emb)
        h = self.block4(torch.cat([self.up1(F.interpolate(h, size=h1.shape[-2:], mode="nearest")), h1], 1), emb)
        out = self.conv_out(F.silu(self.norm_out(h)))
        return F.pixel_shuffle(out, self.patch) if self.patch > 1 else out


class EMA:
    """An exponential moving average of a model's weights: ema = decay * ema + (1 - decay) * weights.

    ``ema.model`` is a frozen copy (eval mode) to sample with; ``update(model)`` after optimiser steps.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for ema_p, p in zip(self.model.parameters(), model.parameters()):
            ema_p.lerp_(p.detach().to(ema_p.device, ema_p.dtype), 1 - self.decay)
        for ema_b, b in zip(self.model.buffers(), model.buffers()):
            ema_b.copy_(b)


def drop_labels(labels: torch.Tensor, p_uncond: float, null_label: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """labels (N,) int64 -> a copy where each label is replaced by ``null_label`` with probability p_uncond."""
    drop = torch.rand(labels.shape, generator=generator) < p_uncond
    return torch.where(drop.to(labels.device), torch.full_like(labels, null_label), labels)


class DenoisingObjective(nn.Module):
    """Wraps a noise-predicting model so that the course's ``fit`` trains it with the DDPM loss.

    ``fit(objective, loader of (x0, labels), optimizer, loss_fn=objective.loss, metrics={})``: ``forward``
    hands x0 through (fit calls it inside ``autocast``), and ``loss(x0, labels)`` draws t ~ U{0..T-1} and
    eps ~ N(0, I), drops labels with probability ``p_uncond`` (classifier-free guidance) and returns
    mean ||eps - model(x_t, t, labels)||^2. ``loss_fn`` (default: that MSE) may be replaced by a student's
    ``diffusion_loss(model, x0, t, noise, alphas_cumprod, labels)``. With ``ema``, its weights are updated at each
    training call (before the step: the average lags one step). ``labels`` of -1 mean "no label".
    """

    def __init__(self, model: nn.Module, alphas_cumprod: torch.Tensor, *, p_uncond: float = 0.0,
                 ema: EMA | None = None, loss_fn: Callable | None = None) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("alphas_cumprod", alphas_cumprod.float().clone())
        self.p_uncond, self.ema, self.loss_fn = p_uncond, ema, loss_fn

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        return x0

    def loss(self, x0: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.training and self.ema is not None:
            self.ema.update(self.model)
        num_classes = getattr(self.model, "num_classes", 0)
        if num_classes:
            labels = torch.where(labels < 0, torch.full_like(labels, num_classes), labels)
            if self.training and self.p_uncond > 0:
                labels = drop_labels(labels, self.p_uncond, num_classes)
        else:
            labels = None
        t = torch.randint(0, len(self.alphas_cumprod), (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        if self.loss_fn is not None:
            return self.loss_fn(self.model, x0, t, noise, self.alphas_cumprod, labels)
        return F.mse_loss(self.model(q_sample(x0, t, noise, self.alphas_cumprod), t, labels).float(), noise.float())


class _StepBar:
    """A loader that advances one tqdm bar over every epoch's batches (fit's own bars restart each epoch)."""

    def __init__(self, loader, total: int, show: bool) -> None:
        self.loader, self.total, self.show, self.bar = loader, total, show, None

    def __enter__(self) -> "_StepBar":
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.total, desc="training steps", disable=not self.show)
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            yield batch
            self.bar.update(1)


def train_diffusion(model: nn.Module, images: torch.Tensor, labels: torch.Tensor | None, alphas_cumprod: torch.Tensor, *,
                    steps: int, batch_size: int = 64, lr: float = 2e-3, p_uncond: float = 0.1, ema_decay: float = 0.995,
                    loss_fn: Callable | None = None, device=None, seed: int = 0,
                    progress: bool | None = None) -> tuple[EMA, dict]:
    """Train ``model`` in place for about ``steps`` Adam steps with ``fit`` (AdamW, cosine decay per epoch).

    images (N, C, H, W) in [-1, 1]; labels (N,) or None. Returns (ema, fit's History); sample with ``ema.model``.
    progress: one tqdm bar over all the steps (default: shown for 500 steps or more, the long full-mode runs).
    """
    from torch.utils.data import DataLoader, TensorDataset

    from cvcourse_utils.device import get_device
    from cvcourse_utils.training import fit

    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    ema = EMA(model, ema_decay)
    objective = DenoisingObjective(model, alphas_cumprod, p_uncond=p_uncond, ema=ema, loss_fn=loss_fn)
    labels = labels if labels is not None else torch.full((len(images),), -1, dtype=torch.long)
    per_epoch = max(1, len(images) // batch_size)
    epochs = max(1, math.ceil(steps / per_epoch))
    loader = DataLoader(TensorDataset(images.float(), labels.long()), batch_size=batch_size, shuffle=True,
                        drop_last=True, generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=lr * 0.05)
    show = steps >= 500 if progress is None else progress
    with _StepBar(loader, epochs * len(loader), show) as bar:
        history = fit(objective, bar, optimizer, epochs=epochs, loss_fn=objective.loss, metrics={},
                      scheduler=scheduler, device=device, progress=False)
    ema.update(model)
    return ema, history


# --------------------------------------------------------------------------- sampler steps

def ddpm_step(eps: torch.Tensor, t: int, x_t: torch.Tensor, alphas_cumprod: torch.Tensor, noise: torch.Tensor,
              clip_x0: bool = True) -> torch.Tensor:
    """One ancestral step x_t -> x_{t-1} (diffusers' DDPMScheduler.step, variance "fixed_small").

    x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) (clipped to [-1, 1] if clip_x0);
    mean = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x0_hat + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t,
    with alpha_t = abar_t / abar_{t-1}; plus sqrt(beta_tilde_t) noise for t > 0,
    beta_tilde_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t. abar_{-1} = 1.
    """
    abar_t = alphas_cumprod[t]
    abar_prev = alphas_cumprod[t - 1] if t > 0 else torch.ones_like(abar_t)
    alpha_t = abar_t / abar_prev
    beta_t = 1 - alpha_t
    x0 = (x_t - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
    if clip_x0:
        x0 = x0.clamp(-1, 1)
    mean = (abar_prev.sqrt() * beta_t / (1 - abar_t)) * x0 + (alpha_t.sqrt() * (1 - abar_prev) / (1 - abar_t)) * x_t
    if t == 0:
        return mean
    variance = ((1 - abar_prev) / (1 - abar_t) * beta_t).clamp(min=1e-20)
    return mean + variance.sqrt() * noise


def ddim_step(eps: torch.Tensor, t: int, t_prev: int, x_t: torch.Tensor, alphas_cumprod: torch.Tensor,
              eta: float = 0.0, noise: torch.Tensor | None = None, clip_x0: bool = True) -> torch.Tensor:
    """One DDIM step x_t -> x_{t_prev} (diffusers' DDIMScheduler.step); t_prev < 0 means abar = 1.

    sigma = eta sqrt((1 - abar_prev) / (1 - abar_t) (1 - abar_t / abar_prev));
    x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps (+ sigma noise when eta > 0).
    """
    abar_t = alphas_cumprod[t]
    abar_prev = alphas_cumprod[t_prev] if t_prev >= 0 else torch.ones_like(abar_t)
    x0 = (x_t - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
    if clip_x0:
        x0 = x0.clamp(-1, 1)
    sigma = eta * ((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)).sqrt()
    x_prev = abar_prev.sqrt() * x0 + (1 - abar_prev - sigma ** 2).sqrt() * eps
    if eta > 0:
        x_prev = x_prev + sigma * noise
    return x_prev


def cfg_guidance(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: eps_uncond + scale (eps_cond - eps_uncond); scale 1 is the conditional model."""
    return eps_uncond + scale * (eps_cond - eps_uncond)


def ddim_timesteps(num_timesteps: int, num_steps: int, spacing: str = "leading") -> list[int]:
    """The timesteps a DDIM sampler visits, largest first, k = T // num_steps apart.

    "leading" (diffusers' default, and the DDIM paper's): 0, k, 2k, ..., (S-1) k: the first step starts at
    t = T - k, not at T - 1, so with few steps it starts from a noise level the model never sees as pure noise
    (T = 200, S = 5: t = 160, abar = 0.09). "trailing" (Lin et al., 2024): T-1, T-1-k, ..., T-1-(S-1) k: the first
    step starts from pure noise, as training's last timestep does.
    """
    k = num_timesteps // num_steps
    if spacing == "leading":
        return [i * k for i in range(num_steps)][::-1]
    if spacing == "trailing":
        return [num_timesteps - 1 - i * k for i in range(num_steps)]
    raise ValueError(f"spacing must be 'leading' or 'trailing', not {spacing!r}")


def _guided_eps(model: nn.Module, x: torch.Tensor, t: int, labels: torch.Tensor | None, guidance_scale: float,
                cond: dict | None) -> torch.Tensor:
    """The model's noise estimate at step t, with classifier-free guidance when guidance_scale != 1."""
    tt = torch.full((len(x),), t, dtype=torch.long, device=x.device)
    cond = cond or {}
    if guidance_scale == 1.0 or (labels is None and not cond):
        return model(x, tt, labels, **cond).float()
    if cond:  # text: the "no text" context is the empty mask
        null = {"context": cond["context"], "context_mask": torch.zeros_like(cond["context_mask"])}
        both = model(torch.cat([x, x]), torch.cat([tt, tt]), None,
                     context=torch.cat([null["context"], cond["context"]]),
                     context_mask=torch.cat([null["context_mask"], cond["context_mask"]])).float()
    else:
        null = torch.full_like(labels, model.num_classes)
        both = model(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([null, labels])).float()
    eps_uncond, eps_cond = both.chunk(2)
    return cfg_guidance(eps_uncond, eps_cond, guidance_scale)


def _start(model: nn.Module, n: int, shape: tuple, generator: torch.Generator, device) -> torch.Tensor:
    shape = shape or (model.in_channels, 28, 28)
    return torch.randn(n, *shape, generator=generator).to(device)


@torch.no_grad()
def sample_ddpm(model: nn.Module, n: int, alphas_cumprod: torch.Tensor, *, labels=None, guidance_scale: float = 1.0,
                step: Callable = ddpm_step, seed: int = 0, shape: tuple | None = None, cond: dict | None = None,
                device=None, batch_size: int = 500, progress: bool | None = None) -> torch.Tensor:
    """n samples (n, C, H, W) in [-1, 1] (float32, on the CPU) by T ancestral steps; labels (n,) or None.

    All noise comes from one ``torch.Generator`` seeded with ``seed`` (drawn on the CPU). ``cond``: text
    conditioning {"context", "context_mask"} for a model with cross-attention. progress: a tqdm bar over
    the denoising steps (default: shown once sampling has taken more than 3 s; False: never).
    """
    return _sample(model, n, alphas_cumprod, labels, guidance_scale, seed, shape, cond, device, batch_size, progress,
                   timesteps=list(range(len(alphas_cumprod)))[::-1], update=lambda eps, t, t_prev, x, g:
                   step(eps, t, x, alphas_cumprod.to(x.device), torch.randn(x.shape, generator=g).to(x.device)))


@torch.no_grad()
def sample_ddim(model: nn.Module, n: int, alphas_cumprod: torch.Tensor, *, num_steps: int = 50, eta: float = 0.0,
                labels=None, guidance_scale: float = 1.0, step: Callable = ddim_step, seed: int = 0,
                shape: tuple | None = None, cond: dict | None = None, device=None, batch_size: int = 500,
                spacing: str = "leading", progress: bool | None = None) -> torch.Tensor:
    """n samples (n, C, H, W) in [-1, 1] by ``num_steps`` DDIM steps (deterministic for eta = 0) at the timesteps of
    :func:`ddim_timesteps` with ``spacing``; progress as in :func:`sample_ddpm`."""
    return _sample(model, n, alphas_cumprod, labels, guidance_scale, seed, shape, cond, device, batch_size, progress,
                   timesteps=ddim_timesteps(len(alphas_cumprod), num_steps, spacing), update=lambda eps, t, t_prev, x, g:
                   step(eps, t, t_prev, x, alphas_cumprod.to(x.device), eta,
                        torch.randn(x.shape, generator=g).to(x.device) if eta > 0 else None))


def _sample(model, n, alphas_cumprod, labels, guidance_scale, seed, shape, cond, device, batch_size, progress, *,
            timesteps, update):
    from tqdm.auto import tqdm

    from cvcourse_utils.device import autocast

    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    labels = None if labels is None else torch.as_tensor(labels, dtype=torch.long)
    out = []
    bar = tqdm(total=math.ceil(n / batch_size) * len(timesteps), desc=f"sampling {n} images", unit="step",
               disable=progress is False, delay=0 if progress else 3)
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        x = _start(model, stop - start, shape, gen, device)
        y = None if labels is None else labels[start:stop].to(device)
        c = None if cond is None else {k: v[start:stop].to(device) for k, v in cond.items()}
        for i, t in enumerate(timesteps):
            t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
            with autocast(device):
                eps = _guided_eps(model, x, t, y, guidance_scale, c)
            x = update(eps.float(), t, t_prev, x.float(), gen)
            bar.update(1)
        out.append(x.float().cpu())
    bar.close()
    model.train(was_training)
    return torch.cat(out)


# --------------------------------------------------------------------------- the course's cached digits model

def digits_diffusion_config() -> dict:
    """The lecture's class-conditional digits model: T, width, training steps (fast mode: fewer steps, narrower).

    ``scale_shift``: its blocks apply the time and class embedding after the norm (:class:`ResBlock`); a key of its
    own, so that a model cached with the older additive blocks is trained again, not loaded into the wrong blocks.
    """
    from cvcourse_utils.fast import per_mode

    return {"dataset": "digits", "timesteps": per_mode(full=200, fast=40), "width": per_mode(full=32, fast=16),
            "patch": 2, "scale_shift": True, "steps": per_mode(full=2000, fast=240),
            "batch_size": per_mode(full=64, fast=32), "p_uncond": 0.1, "seed": 0}


def build_digits_diffusion(config: dict) -> TinyUNet:
    return TinyUNet(1, width=config["width"], num_classes=10, patch=config.get("patch", 1),
                    scale_shift=config.get("scale_shift", False))


def train_digits_diffusion(model: TinyUNet, config: dict) -> None:
    """Train on the digits' training split with ``train_diffusion``; the model ends with the EMA weights."""
    from cvcourse_utils.datasets import load_dataset

    x, y = (torch.from_numpy(a) for a in load_dataset(config["dataset"], "train", image_size=28, as_numpy=True))
    abar = make_schedule(config["timesteps"])["alphas_cumprod"]
    ema, _ = train_diffusion(model, from_unit(x), y, abar, steps=config["steps"], batch_size=config["batch_size"],
                             p_uncond=config["p_uncond"], seed=config["seed"])
    model.load_state_dict(ema.model.state_dict())


def load_digits_diffusion(config: dict | None = None, *, device=None) -> tuple[TinyUNet, torch.Tensor]:
    """(model, alphas_cumprod): the class-conditional digits model, trained once and cached (``get_or_train``)."""
    from cvcourse_utils.pretrained import get_or_train

    config = config or digits_diffusion_config()
    model = get_or_train("digits_diffusion", build_digits_diffusion, train_digits_diffusion, config, device=device)
    return model, make_schedule(config["timesteps"])["alphas_cumprod"]
