"""Generative adversarial networks for 28x28 grey images: DCGAN models, their losses and a training loop.

The models follow the DCGAN guidelines (Radford et al., 2016): strided (transposed) convolutions
instead of pooling, BatchNorm in the generator, ReLU in the generator and LeakyReLU(0.2) in the
discriminator, tanh at the generator's output. Images live in [-1, 1] inside a GAN; use
``to_unit`` / ``from_unit`` to move between that range and the course's [0, 1]::

    DCGANGenerator        z (N, latent_dim) [, labels (N,)]  -> images (N, 1, 28, 28) in [-1, 1]
    DCGANDiscriminator    images (N, 1, 28, 28) [, labels (N,)] -> logits (N,)

Both take ``num_classes > 0`` to become conditional: the generator concatenates a learned class
embedding to z, the discriminator adds a projection term ``<embed(y), features>`` (Miyato & Koyama,
2018). ``train_gan`` runs the alternating updates with the non-saturating generator loss;
``sample_gan`` draws images in [0, 1] (the format the judge in ``cvcourse_utils.judge`` scores).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DCGANGenerator", "DCGANDiscriminator", "EMAGenerator", "to_unit", "from_unit", "d_loss_bce",
           "g_loss_nonsaturating", "gan_step", "train_gan_models", "sample_gan", "interpolate_latents"]


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1] (clamped)."""
    return ((x + 1) / 2).clamp(0, 1)


def from_unit(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return x * 2 - 1


class DCGANGenerator(nn.Module):
    """z (N, latent_dim) [+ labels (N,) when num_classes > 0] -> images (N, 1, 28, 28) in [-1, 1]::

        [z, embed(y)]  Linear -> (N, 2w, 7, 7), BatchNorm, ReLU
        ConvTranspose2d(2w, w, 4, stride 2, pad 1) -> (N, w, 14, 14), BatchNorm, ReLU
        ConvTranspose2d(w, 1, 4, stride 2, pad 1)  -> (N, 1, 28, 28), tanh

    With latent_dim=32, width=32: 133,825 parameters (unconditional).
    """

    def __init__(self, latent_dim: int = 32, width: int = 32, num_classes: int = 0, embed_dim: int = 16) -> None:
        super().__init__()
        self.latent_dim, self.width, self.num_classes = latent_dim, width, num_classes
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes > 0 else None
        in_features = latent_dim + (embed_dim if num_classes > 0 else 0)
        self.project = nn.Sequential(nn.Linear(in_features, 2 * width * 7 * 7, bias=False),
                                     nn.Unflatten(1, (2 * width, 7, 7)), nn.BatchNorm2d(2 * width), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if labels is None:
                raise ValueError("this generator is conditional: pass labels (N,) as well as z")
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.up(self.project(z))


class DCGANDiscriminator(nn.Module):
    """images (N, 1, 28, 28) in [-1, 1] [+ labels (N,) when num_classes > 0] -> logits (N,)::

        Conv2d(1, w, 4, stride 2, pad 1)  -> (N, w, 14, 14), LeakyReLU(0.2)
        Conv2d(w, 2w, 4, stride 2, pad 1) -> (N, 2w, 7, 7), LeakyReLU(0.2)
        Flatten -> features (N, 98w);  logit = Linear(features) [+ <embed(y), features>]

    ``spectral_norm=True`` wraps each layer in spectral normalisation (Miyato et al., 2018);
    ``dropout`` > 0 adds dropout after each convolution (a cheap regulariser on small data sets).
    """

    def __init__(self, width: int = 32, num_classes: int = 0, spectral_norm: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        self.num_classes = num_classes
        drop = (lambda: nn.Dropout(dropout)) if dropout > 0 else nn.Identity
        self.features = nn.Sequential(
            sn(nn.Conv2d(1, width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2), drop(),
            sn(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2), drop(),
            nn.Flatten(),
        )
        n_features = 2 * width * 7 * 7
        self.head = sn(nn.Linear(n_features, 1))
        self.embed = nn.Embedding(num_classes, n_features) if num_classes > 0 else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, std=0.02)  # small at first: the projection starts near zero

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        logits = self.head(h).squeeze(1)
        if self.embed is not None:
            if labels is None:
                raise ValueError("this discriminator is conditional: pass labels (N,) as well as images")
            logits = logits + (self.embed(labels) * h).sum(dim=1)
        return logits


class EMAGenerator(nn.Module):
    """A generator that samples with an exponential moving average (EMA) of its weights (Karras et al., 2018).

    Wraps ``generator`` without changing how it is trained: ``parameters()`` are the live generator's, so any
    training loop and optimiser work as before. Each forward pass in training mode first folds the live weights
    into the average, ``avg <- b * avg + (1 - b) * live`` with ``b = min(decay, (1 + t) / (10 + t))`` at the
    t-th update (the warm-up keeps the random initial weights from lingering in a short run; BatchNorm statistics
    are copied), then runs the live generator; in eval mode (snapshots, ``sample_gan``) it generates with the
    averaged weights, which are smoother than the last step's. ``latent_dim`` is the wrapped generator's.
    """

    def __init__(self, generator: nn.Module, decay: float = 0.995) -> None:
        super().__init__()
        import copy

        self.generator, self.decay, self.num_updates = generator, float(decay), 0
        self._average = [copy.deepcopy(generator).requires_grad_(False)]  # a list: not a sub-module, no parameters
        if hasattr(generator, "latent_dim"):
            self.latent_dim = generator.latent_dim

    @property
    def average(self) -> nn.Module:
        """The generator with the averaged weights (always in eval mode)."""
        return self._average[0].eval()

    def _apply(self, fn, *args, **kwargs):  # .to(device) moves the average too
        self._average[0]._apply(fn, *args, **kwargs)
        return super()._apply(fn, *args, **kwargs)

    @torch.no_grad()
    def update(self) -> None:
        avg, t = self._average[0], self.num_updates
        beta = min(self.decay, (1 + t) / (10 + t))
        self.num_updates += 1
        for a, p in zip(avg.parameters(), self.generator.parameters()):
            a.lerp_(p.detach(), 1 - beta)
        for a, b in zip(avg.buffers(), self.generator.buffers()):
            a.copy_(b)

    def forward(self, *args):
        if self.training:
            self.update()
            return self.generator(*args)
        return self.average(*args)


def d_loss_bce(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss -E[log D(x)] - E[log(1 - D(G(z)))], from logits (N,) and (M,)."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def g_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss -E[log D(G(z))], from logits (N,)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def _call(model: nn.Module, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    return model(x) if labels is None else model(x, labels)


def gan_step(generator: nn.Module, discriminator: nn.Module, g_optimizer, d_optimizer, real: torch.Tensor,
             z: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[float, float]:
    """One alternating update: D on (real, G(z).detach()), then G through the updated D. Returns (d_loss, g_loss)."""
    fake = _call(generator, z, labels)
    d_loss = d_loss_bce(_call(discriminator, real, labels), _call(discriminator, fake.detach(), labels))
    d_optimizer.zero_grad()
    d_loss.backward()
    d_optimizer.step()
    g_loss = g_loss_nonsaturating(_call(discriminator, fake, labels))
    g_optimizer.zero_grad()
    g_loss.backward()
    g_optimizer.step()
    return float(d_loss.detach()), float(g_loss.detach())


def train_gan_models(generator: nn.Module, discriminator: nn.Module, images: torch.Tensor,
                     labels: torch.Tensor | None = None, *, steps: int, batch_size: int = 64, lr: float = 2e-4,
                     betas: tuple[float, float] = (0.5, 0.999), seed: int = 0, device=None,
                     snapshot_every: int = 0, snapshot_z: torch.Tensor | None = None,
                     snapshot_labels: torch.Tensor | None = None, progress: bool = True,
                     step_fn: Callable | None = None) -> dict:
    """Train a (conditional) GAN for ``steps`` alternating updates with Adam (the DCGAN settings).

    images: (N, 1, 28, 28) in [0, 1] (mapped to [-1, 1] here); labels: (N,) class indices for a
    conditional GAN, else None. Every ``snapshot_every`` steps (0: never) the generator's images for
    ``snapshot_z`` (default 16 fixed latents; with labels, classes 0, 1, ... in turn) are kept.
    ``step_fn`` replaces :func:`gan_step` (same signature). Returns ``{"d_loss": [...], "g_loss": [...],
    "snapshots": [(step, images (K, 1, 28, 28) in [0, 1]), ...], "seconds": float}``.
    """
    import time

    from tqdm.auto import tqdm

    from cvcourse_utils.device import get_device

    device = torch.device(device) if device is not None else get_device()
    step_fn = step_fn or gan_step
    generator.to(device).train()
    discriminator.to(device).train()
    g_opt = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)
    gen = torch.Generator().manual_seed(seed)
    data = from_unit(torch.as_tensor(images, dtype=torch.float32))
    ys = None if labels is None else torch.as_tensor(labels, dtype=torch.long)
    latent_dim = generator.latent_dim
    if snapshot_z is None:
        snapshot_z = torch.randn(16, latent_dim, generator=gen)
    if ys is not None and snapshot_labels is None:
        snapshot_labels = torch.arange(len(snapshot_z)) % int(ys.max() + 1)
    history = {"d_loss": [], "g_loss": [], "snapshots": []}
    began = time.perf_counter()
    order, pos = torch.randperm(len(data), generator=gen), 0
    for step in tqdm(range(steps), desc="GAN steps", disable=not progress, mininterval=2):
        if pos + batch_size > len(data):
            order, pos = torch.randperm(len(data), generator=gen), 0
        idx = order[pos:pos + batch_size]
        pos += batch_size
        z = torch.randn(len(idx), latent_dim, generator=gen).to(device)
        y = None if ys is None else ys[idx].to(device)
        d, g = step_fn(generator, discriminator, g_opt, d_opt, data[idx].to(device), z, y)
        history["d_loss"].append(float(d))
        history["g_loss"].append(float(g))
        if snapshot_every and ((step + 1) % snapshot_every == 0 or step == 0):
            history["snapshots"].append((step + 1, sample_gan(generator, z=snapshot_z, labels=snapshot_labels)))
            generator.train()
    history["seconds"] = time.perf_counter() - began
    generator.eval()
    discriminator.eval()
    return history


@torch.no_grad()
def sample_gan(generator: nn.Module, n: int | None = None, *, z: torch.Tensor | None = None,
               labels=None, seed: int = 0, batch_size: int = 500) -> np.ndarray:
    """Images (n, 1, 28, 28) float32 in [0, 1] from ``generator`` in eval mode.

    Give either ``n`` (latents drawn with ``seed``) or ``z`` (n, latent_dim); ``labels`` (n,) for a
    conditional generator (an int means that class for every sample).
    """
    device = next(generator.parameters()).device
    if z is None:
        z = torch.randn(int(n), generator.latent_dim, generator=torch.Generator().manual_seed(seed))
    if labels is not None:
        labels = torch.as_tensor(labels, dtype=torch.long)
        if labels.ndim == 0:
            labels = labels.repeat(len(z))
    was_training = generator.training
    generator.eval()
    out = []
    for start in range(0, len(z), batch_size):
        y = None if labels is None else labels[start:start + batch_size].to(device)
        out.append(to_unit(_call(generator, z[start:start + batch_size].to(device), y)).float().cpu())
    generator.train(was_training)
    return torch.cat(out).numpy()


def interpolate_latents(z0: torch.Tensor, z1: torch.Tensor, steps: int = 8, spherical: bool = True) -> torch.Tensor:
    """``steps`` latents from z0 to z1 (each (latent_dim,)) -> (steps, latent_dim).

    spherical=True follows the great circle (slerp), which keeps the norm typical of Gaussian latents.
    """
    t = torch.linspace(0, 1, steps)[:, None]
    if not spherical:
        return (1 - t) * z0 + t * z1
    cos = torch.dot(z0, z1) / (z0.norm() * z1.norm())
    omega = torch.arccos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    if float(omega) < 1e-4:
        return (1 - t) * z0 + t * z1
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / math.sin(float(omega))
