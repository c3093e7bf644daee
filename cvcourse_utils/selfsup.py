"""Self-supervised pre-training at course scale: SimCLR, DINO and MAE, each trained once and cached.

Shapes, with B images of 3 x S x S (S = 32 on the cluttered shapes), D features, K DINO prototypes::

    SimCLR  two views (2B, 3, S, S) -> encoder (CifarResNet features, pooled) h (2B, D)
            -> projector z (2B, Z) -> NT-Xent over the 2B x 2B cosine similarities
    DINO    2 global (B, 3, S, S) + n_local (B, 3, S/2, S/2) crops -> student ViT + head -> (B, K) scores;
            teacher = EMA of the student, sees the global crops only; centred and sharpened softmax
    MAE     patches (B, N, 3 P P) -> keep (1 - ratio) N at random -> encoder on the visible ones only
            -> light decoder with mask tokens -> pixels of every patch; the loss on masked patches only

Every model is built by a ``build_*`` and trained by a ``train_*`` function, so that
``get_or_train`` caches it keyed by its config (``load_simclr``, ``load_dino``, ``load_mae``);
``*_config()`` gives the course's sizes (``per_mode``: fewer images and steps in fast mode).
The augmentations here work on a whole batch at once (:func:`augment_batch`, one random crop,
flip and colour change per image), which on a CPU is many times faster than transforming image
by image; ``cvcourse_utils.views`` has the per-image torchvision version that the lab teaches.
"""
from __future__ import annotations

import copy
import math
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cvcourse_utils.fast import per_mode
from cvcourse_utils.models import CifarResNet, SmallCNN
from cvcourse_utils.vit import TinyViT, patchify

__all__ = [
    "augment_batch", "random_resized_crop", "colour_jitter",
    "nt_xent_loss", "cnn_encoder", "SimCLR", "simclr_config", "simclr_view", "build_simclr", "train_simclr",
    "load_simclr",
    "DINOHead", "DINO", "vit_tokens", "dino_loss", "dino_config", "dino_views", "collapsed_dino_config", "build_dino", "train_dino", "load_dino",
    "random_masking", "MAE", "masked_patch_loss", "mean_patch_baseline", "mae_config", "build_mae", "train_mae",
    "load_mae", "FeaturesOf", "train_supervised", "cls_attention", "attention_masks", "mask_iou", "shapes_with_masks", "unlabelled_shapes",
]


# --------------------------------------------------------------------------- data and batched augmentation

def unlabelled_shapes(n: int | None, split: str = "train", seed: int = 0) -> torch.Tensor:
    """The cluttered shapes' images alone, (n, 3, 32, 32) float32 in [0, 1]: what self-supervision sees."""
    from cvcourse_utils.datasets import load_dataset

    images, _ = load_dataset("shapes", split, n=n, seed=seed, difficulty="cluttered", as_numpy=True)
    return torch.from_numpy(images)


def shapes_with_masks(n: int, split: str = "test", seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cluttered shapes with their foreground masks: images (n, 3, 32, 32), labels (n,), masks (n, 32, 32) bool.

    The images are exactly ``load_dataset("shapes", split, difficulty="cluttered")``'s; the masks come from
    the same generator with ``instance_map=True`` (as the segmentation data of module 07).
    """
    from cvcourse_utils.datasets.loading import shapes_seed
    from cvcourse_utils.datasets.shapes import generate_shapes

    scenes = generate_shapes(int(n), image_size=32, seed=shapes_seed("shapes", split, seed), difficulty="cluttered",
                             instance_map=True)
    images = torch.from_numpy(scenes.images.astype(np.float32) / 255.0)  # (n, 3, 32, 32), as load_dataset's
    return images, torch.from_numpy(scenes.labels[:, 0].astype(np.int64)), torch.from_numpy(scenes.instance_map > 0)


def random_resized_crop(images: torch.Tensor, size: int, scale: tuple[float, float] = (0.3, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3), flip: bool = True,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """A different random crop (area fraction in ``scale``), resized to ``size``, for every image.

    images (B, C, H, W) -> (B, C, size, size). One ``affine_grid`` + ``grid_sample`` for the batch;
    with ``flip`` half of the crops are mirrored left-right.
    """
    b, device = len(images), images.device
    rand = lambda *shape: torch.rand(*shape, generator=generator).to(device)  # noqa: E731
    area = scale[0] + (scale[1] - scale[0]) * rand(b)
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * rand(b)
    w = (area * log_r.exp()).sqrt().clamp(max=1.0)  # fractions of the side
    h = (area / log_r.exp()).sqrt().clamp(max=1.0)
    cx, cy = (1 - w) * (2 * rand(b) - 1), (1 - h) * (2 * rand(b) - 1)
    sign = torch.where(rand(b) < 0.5, -1.0, 1.0) if flip else torch.ones(b, device=device)
    theta = torch.zeros(b, 2, 3, device=device)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w * sign, cx, h, cy
    grid = F.affine_grid(theta, [b, images.shape[1], size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def colour_jitter(images: torch.Tensor, strength: float = 0.5, p_grey: float = 0.2,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Per image: random brightness, contrast and saturation (factors in 1 +- strength), the colour
    channels shuffled (a crude but strong hue change) and, with probability ``p_grey``, grey.

    images (B, 3, H, W) in [0, 1] -> same shape, clamped to [0, 1].
    """
    b, device = len(images), images.device
    rand = lambda *shape: torch.rand(*shape, generator=generator).to(device)  # noqa: E731
    factor = lambda: (1 + strength * (2 * rand(b) - 1)).view(b, 1, 1, 1)  # noqa: E731
    perm = torch.argsort(rand(b, 3), dim=1)
    x = images[torch.arange(b, device=device)[:, None], perm]
    x = x * factor()
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * factor() + mean
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * factor() + grey
    x = torch.where((rand(b) < p_grey).view(b, 1, 1, 1), x.mean(dim=1, keepdim=True).expand_as(x), x)
    return x.clamp(0, 1)


def augment_batch(images: torch.Tensor, size: int | None = None, scale: tuple[float, float] = (0.3, 1.0),
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """One SimCLR-style view of every image: random resized crop and flip, then colour jitter.

    images (B, 3, H, W) in [0, 1] -> (B, 3, size, size) (``size`` defaults to H).
    """
    crops = random_resized_crop(images, size or images.shape[-1], scale, generator=generator)
    return colour_jitter(crops, generator=generator)


def _batches(n: int, batch_size: int, steps: int, seed: int):
    """``steps`` random index batches (without replacement within an epoch) over n items."""
    gen = torch.Generator().manual_seed(seed)
    done, order = 0, torch.randperm(n, generator=gen)
    position = 0
    while done < steps:
        if position + batch_size > n:
            order, position = torch.randperm(n, generator=gen), 0
        yield order[position:position + batch_size]
        position += batch_size
        done += 1


def _warmup_cosine(optimizer: torch.optim.Optimizer, steps: int, warmup: float = 0.05):
    """A linear warm-up over ``warmup`` of the steps, then a cosine decay to zero (one scheduler step per batch)."""
    n_warm = max(1, int(warmup * steps))

    def factor(step: int) -> float:
        if step < n_warm:
            return (step + 1) / n_warm
        return 0.5 * (1 + math.cos(math.pi * (step - n_warm) / max(1, steps - n_warm)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class _Record:
    """Buffers every pre-trained model carries, so that they are cached with its weights: ``train_seconds``
    (wall-clock, process CPU time) of its training and ``loss_curve``, the loss averaged over 50 equal spans."""

    def _init_record(self) -> None:
        self.register_buffer("train_seconds", torch.zeros(2))
        self.register_buffer("loss_curve", torch.full((50,), float("nan")))

    def _record(self, losses: list[float], wall: float, cpu: float) -> None:
        chunks = np.array_split(np.asarray(losses, dtype=np.float64), min(50, max(1, len(losses))))
        curve = torch.full((50,), float("nan"))
        curve[:len(chunks)] = torch.tensor([c.mean() for c in chunks], dtype=torch.float32)
        self.loss_curve.copy_(curve)
        self.train_seconds.copy_(torch.tensor([wall, cpu]))


def _progress(steps: int, desc: str, show: bool):
    from tqdm.auto import tqdm

    return tqdm(total=steps, desc=desc, disable=not show, mininterval=1.0)


# --------------------------------------------------------------------------- SimCLR

def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """SimCLR's NT-Xent (InfoNCE) loss for two views, averaged over all 2B anchors.

    z1, z2: (B, Z), row i of each a view of image i. The 2B rows are L2-normalised, their cosine
    similarities divided by ``temperature``; each row's positive is its other view and the other
    2B - 2 rows are its negatives (its similarity with itself is masked out).
    """
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"z1 and z2 must both be (B, Z), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), float("-inf"))
    b = len(z1)
    positives = torch.cat([torch.arange(b, 2 * b), torch.arange(b)]).to(z.device)
    return F.cross_entropy(logits, positives)


def cnn_encoder(arch: str = "small_cnn", width: int = 16) -> tuple[nn.Sequential, int]:
    """A course CNN without its classification head: (B, 3, S, S) -> features (B, D); returns (encoder, D).

    arch: ``"small_cnn"`` (:class:`~cvcourse_utils.models.SmallCNN`, D = 4 width) or ``"resnet14"``
    (:class:`~cvcourse_utils.models.CifarResNet`, the course backbone's architecture, D = 4 width).
    Both end in global average pooling.
    """
    if arch == "small_cnn":
        features = SmallCNN(3, 1, width=width).features
    elif arch == "resnet14":
        features = CifarResNet(3, 1, blocks=(2, 2, 2), width=width).features
    else:
        raise ValueError(f"arch must be 'small_cnn' or 'resnet14', got {arch!r}")
    return nn.Sequential(features, nn.AdaptiveAvgPool2d(1), nn.Flatten()), 4 * width


class SimCLR(_Record, nn.Module):
    """An encoder and a projection head: images (B, 3, S, S) -> h = ``encode(x)`` (B, D), z = ``forward(x)`` (B, Z).

    The encoder is a course CNN without its classification head (:func:`cnn_encoder`); the projector is
    Linear(D, D), [BatchNorm1d(D) when ``projection_bn``], ReLU, Linear(D, Z). The loss is taken on z; the features
    kept for later tasks are h (the projection is free to throw away whatever the two views do not share).
    """

    def __init__(self, arch: str = "small_cnn", width: int = 16, projection_dim: int = 64,
                 projection_bn: bool = False) -> None:
        super().__init__()
        self.encoder, self.feature_dim = cnn_encoder(arch, width)
        d = self.feature_dim
        norm = [nn.BatchNorm1d(d)] if projection_bn else []
        self.projector = nn.Sequential(nn.Linear(d, d), *norm, nn.ReLU(inplace=True), nn.Linear(d, projection_dim))
        self._init_record()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(x))


def simclr_config() -> dict[str, Any]:
    """The course's SimCLR on the cluttered shapes (part of the cache key).

    Issue 33's search, linear probe on all labels (the bench's protocol): crops of 50-100 % of the area and
    temperature 0.1 (300-step runs: 0.640 against 0.570 for 30-100 % crops at 0.2); then width and length: width 16
    (64 features) reached 0.764 after 1,200 steps and 0.799 after 2,000; width 24 (96 features) 0.842 after 1,000
    and 0.858 after 1,800 (17.4 min of CPU time: 8.8 min on 2 idle cores with 2 threads, 17 min on one thread).
    The probe wants more features more than more steps. Fast mode keeps width 16.
    """
    return dict(arch="small_cnn", width=per_mode(full=24, fast=16), projection_dim=64, projection_bn=True,
                n_train=per_mode(full=5000, fast=256), steps=per_mode(full=1800, fast=15),
                batch_size=per_mode(full=128, fast=64), temperature=0.1, lr=2e-3, weight_decay=1e-4,
                crop_scale=[0.5, 1.0], colour_strength=0.5, grey=0.2, seed=0)


def build_simclr(config: dict[str, Any]) -> SimCLR:
    """An untrained :class:`SimCLR` (its initial weights seeded by the config)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config["seed"])
        return SimCLR(config["arch"], config["width"], config["projection_dim"], config.get("projection_bn", False))


def simclr_view(images: torch.Tensor, config: dict[str, Any], generator: torch.Generator | None = None) -> torch.Tensor:
    """One SimCLR view of every image with the config's augmentation: a random resized crop (area in
    ``crop_scale``) and flip, then :func:`colour_jitter` of ``colour_strength`` with ``grey`` the chance of grey.

    images (B, 3, S, S) in [0, 1] -> (B, 3, S, S).
    """
    crops = random_resized_crop(images, images.shape[-1], tuple(config["crop_scale"]), generator=generator)
    return colour_jitter(crops, config.get("colour_strength", 0.5), config.get("grey", 0.2), generator=generator)


def train_simclr(model: SimCLR, config: dict[str, Any], *, progress: bool = True) -> dict[str, list[float]]:
    """SimCLR on the unlabelled cluttered shapes: two random views per image, NT-Xent, AdamW + cosine.

    Returns ``{"loss": [...], "seconds": wall, "cpu_seconds": process CPU time}``; the model is trained in place
    and keeps the times and a loss curve in its buffers (cached with the weights).
    """
    device = next(model.parameters()).device
    images = unlabelled_shapes(config["n_train"], seed=config["seed"]).to(device)
    gen = torch.Generator().manual_seed(config["seed"] + 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    scheduler = _warmup_cosine(optimizer, config["steps"], 0.05)
    history: dict[str, Any] = {"loss": []}
    model.train()
    start, cpu_start = time.perf_counter(), time.process_time()
    bar = _progress(config["steps"], "SimCLR", progress)
    for index in _batches(len(images), config["batch_size"], config["steps"], config["seed"]):
        x = images[index]
        z1, z2 = model(simclr_view(x, config, gen)), model(simclr_view(x, config, gen))
        loss = nt_xent_loss(z1, z2, config["temperature"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        history["loss"].append(loss.item())
        bar.update()
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    bar.close()
    history["seconds"], history["cpu_seconds"] = time.perf_counter() - start, time.process_time() - cpu_start
    model._record(history["loss"], history["seconds"], history["cpu_seconds"])
    return history


def load_simclr(config: dict[str, Any] | None = None, *, device=None) -> SimCLR:
    """The SimCLR model of ``config`` (default :func:`simclr_config`), from the cache or trained now (eval mode)."""
    from cvcourse_utils.pretrained import get_or_train

    return get_or_train("simclr_shapes", build_simclr, train_simclr, dict(config or simclr_config()), device=device)


# --------------------------------------------------------------------------- DINO on the tiny ViT

def vit_tokens(vit: TinyViT, x: torch.Tensor) -> torch.Tensor:
    """The ViT's tokens for images of any size that is a multiple of its patch: (B, 3, s, s) -> (B, 1 + n, D).

    The learned position embeddings (a grid of the training size) are interpolated bicubically to
    the grid of ``x`` (how DINO feeds its small local crops to the same network).
    """
    t = vit.patch_embed(x)
    pos = vit.pos_embed
    n, side = t.shape[1], int(round(math.sqrt(vit.num_patches)))
    if n != vit.num_patches:
        new = int(round(math.sqrt(n)))
        grid = pos[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(new, new), mode="bicubic", align_corners=False)
        pos = torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, n, -1)], dim=1)
    t = torch.cat([vit.cls_token.expand(len(t), -1, -1), t], dim=1) + pos
    for block in vit.blocks:
        t = block(t)
    return vit.norm(t)


class DINOHead(nn.Module):
    """DINO's projection head: MLP to a bottleneck, L2-normalise, weight-normalised linear to K prototypes.

    (B, D) -> (B, K) scores (the softmax over K is taken in the loss, with a temperature).
    """

    def __init__(self, dim: int, out_dim: int = 256, hidden: int = 256, bottleneck: int = 64,
                 norm_last_layer: bool = True) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, bottleneck))
        self.last = nn.utils.parametrizations.weight_norm(nn.Linear(bottleneck, out_dim, bias=False))
        if norm_last_layer:  # as DINO's code: every prototype of length 1, so scores lie in [-1, 1] and cannot shrink
            magnitude = self.last.parametrizations.weight.original0
            magnitude.data.fill_(1.0)
            magnitude.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(F.normalize(self.mlp(x), dim=-1))


class DINO(_Record, nn.Module):
    """A student (ViT + head), its momentum teacher (a copy, never trained by gradients) and the centre.

    ``student_out(x)`` / ``teacher_out(x)``: crops (B, 3, s, s) -> (B, K) scores. ``center`` (1, K) is a
    buffer, the running mean of the teacher's scores. ``vit`` is the student's ViT (the features kept).
    """

    def __init__(self, vit_kwargs: dict, out_dim: int = 256, norm_last_layer: bool = True) -> None:
        super().__init__()
        self.vit = TinyViT(**vit_kwargs)
        self.vit.head = nn.Identity()
        self.head = DINOHead(self.vit.norm.normalized_shape[0], out_dim, norm_last_layer=norm_last_layer)
        self.teacher_vit, self.teacher_head = copy.deepcopy(self.vit), copy.deepcopy(self.head)
        for p in [*self.teacher_vit.parameters(), *self.teacher_head.parameters()]:
            p.requires_grad_(False)
        self.register_buffer("center", torch.zeros(1, out_dim))
        self._init_record()

    def student_out(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(vit_tokens(self.vit, x)[:, 0])

    @torch.no_grad()
    def teacher_out(self, x: torch.Tensor) -> torch.Tensor:
        return self.teacher_head(vit_tokens(self.teacher_vit, x)[:, 0])

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """teacher <- momentum * teacher + (1 - momentum) * student, parameter by parameter."""
        student = [*self.vit.parameters(), *self.head.parameters()]
        teacher = [*self.teacher_vit.parameters(), *self.teacher_head.parameters()]
        for t, s in zip(teacher, student):
            t.mul_(momentum).add_(s.detach(), alpha=1 - momentum)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The student ViT's class token (B, D): the features that are evaluated."""
        return vit_tokens(self.vit, x)[:, 0]


def dino_loss(student: list[torch.Tensor], teacher: list[torch.Tensor], center: torch.Tensor | None,
              student_temp: float = 0.1, teacher_temp: float = 0.04) -> torch.Tensor:
    """DINO's cross-entropy between the teacher's centred, sharpened softmax and the student's.

    student: scores (B, K) of every crop; teacher: scores (B, K) of the global crops (the first
    ``len(teacher)`` crops of ``student`` are the same images). Pairs of the same crop are skipped;
    the loss is averaged over the pairs. ``center=None`` switches the centring off (to show collapse).
    """
    targets = [F.softmax((t - (0 if center is None else center)) / teacher_temp, dim=-1).detach() for t in teacher]
    logs = [F.log_softmax(s / student_temp, dim=-1) for s in student]
    total, pairs = 0.0, 0
    for i, q in enumerate(targets):
        for j, log_p in enumerate(logs):
            if i == j:
                continue
            total = total + (-(q * log_p).sum(dim=-1)).mean()
            pairs += 1
    return total / pairs


def dino_config() -> dict[str, Any]:
    """The course's DINO on the cluttered shapes: a 4-block ViT, patches 4x4 (part of the cache key).

    ``colour_jitter=False``: the crops are not recoloured. With SimCLR's colour change (every view's channels
    shuffled) a randomly initialised ViT's outputs on two views of one image were almost unrelated (correlation
    about 0.09, against 0.9 for crops alone), the centred targets carried no signal and the loss went to the
    uniform value log K (see :func:`dino_views`).
    """
    return dict(vit=dict(image_size=32, patch_size=4, in_channels=3, num_classes=1, dim=64, depth=4, heads=4,
                         mlp_ratio=2.0),
                out_dim=256, norm_last_layer=True, n_train=per_mode(full=5000, fast=256), steps=per_mode(full=600, fast=10),
                batch_size=per_mode(full=64, fast=32), n_local=2, global_scale=[0.4, 1.0], local_scale=[0.1, 0.4],
                local_size=16, colour_jitter=False, student_temp=0.1, teacher_temp=0.04, center_momentum=0.9,
                teacher_momentum=[0.99, 1.0], lr=1e-3, weight_decay=0.04, centring=True, seed=0)


def collapsed_dino_config() -> dict[str, Any]:
    """DINO as :func:`dino_config` but without centring and for fewer steps: the run that collapses."""
    return {**dino_config(), "centring": False, "steps": per_mode(full=200, fast=10)}


def dino_views(images: torch.Tensor, config: dict[str, Any],
               generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """DINO's multi-crop of a batch: [2 global crops (B, 3, S, S), then ``n_local`` local crops (B, 3, s, s)].

    Random resized crops and flips (``global_scale`` / ``local_scale`` of the area, S = the ViT's image size,
    s = ``local_size``); with ``config["colour_jitter"]`` each crop is also recoloured as SimCLR's views
    (:func:`colour_jitter`).
    """
    def view(size: int, scale: list[float]) -> torch.Tensor:
        crops = random_resized_crop(images, size, tuple(scale), generator=generator)
        return colour_jitter(crops, generator=generator) if config.get("colour_jitter", True) else crops

    size = config["vit"]["image_size"]
    return ([view(size, config["global_scale"]) for _ in range(2)]
            + [view(config["local_size"], config["local_scale"]) for _ in range(config["n_local"])])


def build_dino(config: dict[str, Any]) -> DINO:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config["seed"])
        return DINO(dict(config["vit"]), config["out_dim"], config.get("norm_last_layer", False))


def train_dino(model: DINO, config: dict[str, Any], *, progress: bool = True) -> dict[str, Any]:
    """DINO: 2 global + ``n_local`` local crops, the teacher on the global ones, EMA teacher, centring.

    Returns ``{"loss": [...], "teacher_entropy": [...], "seconds": wall, "cpu_seconds": CPU time}``.
    """
    device = next(model.parameters()).device
    images = unlabelled_shapes(config["n_train"], seed=config["seed"]).to(device)
    gen = torch.Generator().manual_seed(config["seed"] + 1)
    params = [p for p in [*model.vit.parameters(), *model.head.parameters()] if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config["lr"], weight_decay=config["weight_decay"])
    steps = config["steps"]
    scheduler = _warmup_cosine(optimizer, steps, 0.1)
    m0, m1 = config["teacher_momentum"]
    history: dict[str, Any] = {"loss": [], "teacher_entropy": []}
    model.train()
    start, cpu_start = time.perf_counter(), time.process_time()
    bar = _progress(steps, "DINO" if config["centring"] else "DINO without centring", progress)
    for step, index in enumerate(_batches(len(images), config["batch_size"], steps, config["seed"])):
        crops = dino_views(images[index], config, gen)
        teacher = [model.teacher_out(c) for c in crops[:2]]
        student = [model.student_out(c) for c in crops]
        center = model.center if config["centring"] else None
        loss = dino_loss(student, teacher, center, config["student_temp"], config["teacher_temp"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        momentum = m1 - (m1 - m0) * (math.cos(math.pi * step / steps) + 1) / 2
        model.update_teacher(momentum)
        with torch.no_grad():
            batch_center = torch.cat(teacher).mean(dim=0, keepdim=True)
            model.center.mul_(config["center_momentum"]).add_(batch_center, alpha=1 - config["center_momentum"])
            q = F.softmax((teacher[0] - (center if center is not None else 0)) / config["teacher_temp"], dim=-1)
            entropy = -(q * q.clamp_min(1e-12).log()).sum(-1).mean().item()
        history["loss"].append(loss.item())
        history["teacher_entropy"].append(entropy)
        bar.update()
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    bar.close()
    history["seconds"], history["cpu_seconds"] = time.perf_counter() - start, time.process_time() - cpu_start
    model._record(history["loss"], history["seconds"], history["cpu_seconds"])
    return history


def load_dino(config: dict[str, Any] | None = None, *, device=None) -> DINO:
    """The DINO model of ``config`` (default :func:`dino_config`), from the cache or trained now (eval mode)."""
    from cvcourse_utils.pretrained import get_or_train

    return get_or_train("dino_shapes", build_dino, train_dino, dict(config or dino_config()), device=device)


@torch.no_grad()
def cls_attention(vit: TinyViT, images: torch.Tensor) -> torch.Tensor:
    """The last layer's class-token attention over the patches, averaged over heads: (B, side, side)."""
    maps = vit.attention_maps(images)[-1].mean(dim=1)  # (B, T, T)
    row = maps[:, 0, 1:]
    side = int(round(math.sqrt(row.shape[-1])))
    return row.reshape(len(images), side, side)


def attention_masks(attention: torch.Tensor, mass: float = 0.6, size: int | None = None) -> torch.Tensor:
    """Threshold attention maps as DINO does: keep the smallest set of patches holding ``mass`` of it.

    attention (B, h, w) non-negative -> bool masks (B, size, size) (nearest up-sampling; default h).
    """
    b, h, w = attention.shape
    flat = attention.reshape(b, -1)
    values, order = flat.sort(dim=1, descending=True)
    cum = values.cumsum(dim=1) / values.sum(dim=1, keepdim=True)
    keep_sorted = (cum - values / values.sum(dim=1, keepdim=True)) < mass  # patches before the mass is reached
    keep = torch.zeros_like(keep_sorted).scatter(1, order, keep_sorted).reshape(b, 1, h, w)
    size = size or h
    return F.interpolate(keep.float(), size=(size, size), mode="nearest")[:, 0] > 0.5


def mask_iou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Intersection over union of boolean masks, per image: (B, H, W), (B, H, W) -> (B,)."""
    if pred.shape != target.shape:
        raise ValueError(f"mask shapes differ: {tuple(pred.shape)} and {tuple(target.shape)}")
    inter = (pred & target).flatten(1).sum(1).float()
    union = (pred | target).flatten(1).sum(1).float()
    return inter / union.clamp_min(1)


# --------------------------------------------------------------------------- MAE on the tiny ViT

def random_masking(batch: int, num_patches: int, ratio: float, generator: torch.Generator | None = None,
                   device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """MAE's per-image random masking: which patches the encoder sees.

    Returns ``keep`` (B, n_keep) int64 indices of the visible patches (n_keep = round((1 - ratio) N)) and
    ``mask`` (B, N) bool, True where a patch is hidden.
    """
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"the masking ratio must be in [0, 1), got {ratio}")
    n_keep = max(1, int(round(num_patches * (1 - ratio))))
    noise = torch.rand(batch, num_patches, generator=generator).to(device)
    keep = noise.argsort(dim=1)[:, :n_keep]
    mask = torch.ones(batch, num_patches, dtype=torch.bool, device=device)
    mask.scatter_(1, keep, False)
    return keep, mask


class MAE(_Record, nn.Module):
    """A masked autoencoder on the tiny ViT: the encoder sees only the visible patches.

    ``forward(x, keep)`` -> predicted pixels of every patch (B, N, 3 P P). The encoder is a
    :class:`TinyViT` (patch embedding, positions, blocks) run on the class token and the visible
    patches; the decoder is one narrow transformer block that gets the encoded visible tokens, a
    shared learned mask token at every hidden position, and its own position embeddings.
    ``features(x)``: the encoder on all patches, the mean of its patch tokens (B, D), for probing.
    """

    def __init__(self, vit_kwargs: dict, decoder_dim: int = 32, decoder_depth: int = 1) -> None:
        super().__init__()
        from cvcourse_utils.vit import EncoderBlock

        self.vit = TinyViT(**vit_kwargs)
        self.vit.head = nn.Identity()
        dim, n = self.vit.norm.normalized_shape[0], self.vit.num_patches
        p, c = self.vit.patch_size, vit_kwargs.get("in_channels", 3)
        self.decoder_embed = nn.Linear(dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.decoder_pos = nn.Parameter(torch.randn(1, n + 1, decoder_dim) * 0.02)
        self.decoder = nn.ModuleList(EncoderBlock(decoder_dim, 2) for _ in range(decoder_depth))
        self.decoder_norm = nn.LayerNorm(decoder_dim)
        self.predict = nn.Linear(decoder_dim, c * p * p)
        self._init_record()

    def encode(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens (B, 1 + n_keep, D) of the class token and the visible patches (all when keep is None)."""
        t = self.vit.patch_embed(x) + self.vit.pos_embed[:, 1:]
        if keep is not None:
            t = torch.gather(t, 1, keep[..., None].expand(-1, -1, t.shape[-1]))
        cls = (self.vit.cls_token + self.vit.pos_embed[:, :1]).expand(len(t), -1, -1)
        t = torch.cat([cls, t], dim=1)
        for block in self.vit.blocks:
            t = block(t)
        return self.vit.norm(t)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        encoded = self.decoder_embed(self.encode(x, keep))  # (B, 1 + n_keep, d)
        b, n = len(x), self.vit.num_patches
        full = self.mask_token.expand(b, n, -1).clone()
        full.scatter_(1, keep[..., None].expand(-1, -1, full.shape[-1]), encoded[:, 1:])
        t = torch.cat([encoded[:, :1], full], dim=1) + self.decoder_pos
        for block in self.decoder:
            t = block(t)
        return self.predict(self.decoder_norm(t)[:, 1:])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder on every patch, its patch tokens averaged: (B, D) (MAE's class token gets no loss of its own)."""
        return self.encode(x)[:, 1:].mean(dim=1)


def masked_patch_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the hidden patches only: pred, target (B, N, L), mask (B, N) bool."""
    per_patch = ((pred - target) ** 2).mean(dim=-1)
    return (per_patch * mask).sum() / mask.sum().clamp_min(1)


def mean_patch_baseline(patches: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The baseline MAE must beat: every hidden patch predicted as the mean of the image's visible patches.

    patches (B, N, L), mask (B, N) bool (True = hidden) -> predictions (B, N, L).
    """
    visible = (~mask).float()[..., None]
    mean = (patches * visible).sum(1, keepdim=True) / visible.sum(1, keepdim=True).clamp_min(1)
    return mean.expand_as(patches)


def mae_config() -> dict[str, Any]:
    """The course's MAE on the cluttered shapes: the same ViT as DINO's, 75 % of the patches hidden."""
    return dict(vit=dict(image_size=32, patch_size=4, in_channels=3, num_classes=1, dim=64, depth=4, heads=4,
                         mlp_ratio=2.0),
                decoder_dim=32, decoder_depth=1, mask_ratio=0.75, n_train=per_mode(full=5000, fast=256),
                steps=per_mode(full=600, fast=15), batch_size=per_mode(full=128, fast=32), lr=2e-3,
                weight_decay=0.05, seed=0)


def build_mae(config: dict[str, Any]) -> MAE:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config["seed"])
        return MAE(dict(config["vit"]), config["decoder_dim"], config["decoder_depth"])


def train_mae(model: MAE, config: dict[str, Any], *, progress: bool = True) -> dict[str, Any]:
    """MAE: random crops and flips (no colour change), hide ``mask_ratio`` of the patches, predict them.

    Returns ``{"loss": [...], "seconds": wall, "cpu_seconds": CPU time}``.
    """
    device = next(model.parameters()).device
    images = unlabelled_shapes(config["n_train"], seed=config["seed"]).to(device)
    gen = torch.Generator().manual_seed(config["seed"] + 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"],
                                  betas=(0.9, 0.95))
    scheduler = _warmup_cosine(optimizer, config["steps"], 0.05)
    history: dict[str, Any] = {"loss": []}
    model.train()
    start, cpu_start = time.perf_counter(), time.process_time()
    bar = _progress(config["steps"], "MAE", progress)
    p, n = model.vit.patch_size, model.vit.num_patches
    for index in _batches(len(images), config["batch_size"], config["steps"], config["seed"]):
        x = random_resized_crop(images[index], images.shape[-1], (0.5, 1.0), generator=gen)
        keep, mask = random_masking(len(x), n, config["mask_ratio"], gen, device)
        loss = masked_patch_loss(model(x, keep), patchify(x, p), mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        history["loss"].append(loss.item())
        bar.update()
        bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
    bar.close()
    history["seconds"], history["cpu_seconds"] = time.perf_counter() - start, time.process_time() - cpu_start
    model._record(history["loss"], history["seconds"], history["cpu_seconds"])
    return history


def load_mae(config: dict[str, Any] | None = None, *, device=None) -> MAE:
    """The MAE of ``config`` (default :func:`mae_config`), from the cache or trained now (eval mode)."""
    from cvcourse_utils.pretrained import get_or_train

    return get_or_train("mae_shapes", build_mae, train_mae, dict(config or mae_config()), device=device)


class FeaturesOf(nn.Module):
    """A model's ``features`` method as a module: ``extract_features(FeaturesOf(mae), images)`` -> (N, D)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x)


# --------------------------------------------------------------------------- the supervised baseline

def train_supervised(images: torch.Tensor, labels: torch.Tensor, *, encoder: nn.Module | None = None,
                     num_classes: int = 5, arch: str = "small_cnn", width: int = 16, steps: int = 300, batch_size: int = 64, lr: float = 2e-3,
                     weight_decay: float = 1e-4, seed: int = 0, progress: bool = True) -> nn.Sequential:
    """The same encoder as SimCLR's, trained from scratch with labels: the baseline of few-label learning.

    images (N, 3, S, S), labels (N,) -> ``nn.Sequential(encoder, Linear(D, num_classes))`` in eval mode, trained
    with cross-entropy, AdamW and a cosine schedule for ``steps`` batches, on the same kind of random crops,
    flips and colour changes as the self-supervised views (augmentation is not what separates the two).
    ``encoder``: start from (a copy of) this pre-trained encoder instead, which is few-label *fine-tuning*
    (``width`` is then ignored: the linear layer takes as many features as the encoder's last convolution has
    channels).
    """
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"need as many labels as images (and at least one), got {len(images)} and {len(labels)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh, dim = cnn_encoder(arch, width)
        start = fresh if encoder is None else copy.deepcopy(encoder).cpu()
        convs = [m for m in start.modules() if isinstance(m, nn.Conv2d)]
        dim = convs[-1].out_channels if encoder is not None and convs else dim
        model = nn.Sequential(start, nn.Linear(dim, num_classes))
    gen = torch.Generator().manual_seed(seed + 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = _warmup_cosine(optimizer, steps, 0.05)
    labels = torch.as_tensor(labels)
    model.train()
    bar = _progress(steps, "supervised from scratch", progress)
    for index in _batches(len(images), min(batch_size, len(images)), steps, seed):
        x = augment_batch(images[index], scale=(0.5, 1.0), generator=gen)
        loss = F.cross_entropy(model(x), labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        bar.update()
    bar.close()
    return model.eval()
