"""Views of one image for self-supervised learning (module 12): SimCLR's two views and DINO's multi-crop.

A view is the image after a random crop (resized back), a flip and a change of colour, drawn with torchvision
transforms v2. A v2 transform given a whole batch draws *one* set of random parameters for all of it (every image
would get the same crop), so the functions here apply it one image at a time. ``seed`` makes the views repeatable
without touching the global random state; without it they come from torch's global generator (seeded by
``seed_everything``), so every training step draws new views::

    transform = view_transform(32, channels=3)      # shapes; view_transform(28, channels=1) for digits
    v1, v2 = two_views(x, transform)                # x: (N, C, H, W) in [0, 1] -> two (N, C, 32, 32)
    crops = multi_crop(x, n_local=4)                # DINO: [global, global, local x 4]
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torchvision.transforms import v2

__all__ = ["TwoViews", "apply_per_image", "multi_crop", "two_views", "view_transform"]


def view_transform(image_size: int, channels: int = 3, *, scale: Sequence[float] = (0.3, 1.0), flip: bool | None = None,
                   jitter: float = 0.4, grayscale: float = 0.2) -> v2.Compose:
    """The augmentation of one view (SimCLR's recipe, scaled to 32x32 shapes and 28x28 digits).

    RandomResizedCrop to ``image_size`` (area fraction in ``scale``), a horizontal flip, colour jitter with
    probability 0.8 (brightness, contrast and saturation ``jitter``, hue ``jitter / 4``) and grayscale with
    probability ``grayscale``. One channel (digits): only brightness and contrast are jittered, there is no
    grayscale, and ``flip`` defaults to False (a mirrored digit is another symbol); three channels flip by default.
    Takes and returns one image (C, H, W) float in [0, 1].
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    lo, hi = (float(s) for s in scale)
    if not 0 < lo <= hi <= 1:
        raise ValueError(f"scale must satisfy 0 < low <= high <= 1 (a fraction of the image's area), got {tuple(scale)}")
    if jitter < 0 or not 0 <= grayscale <= 1:
        raise ValueError(f"jitter must be >= 0 and grayscale a probability, got {jitter} and {grayscale}")
    flip = channels == 3 if flip is None else flip
    steps: list[Callable] = [v2.RandomResizedCrop(int(image_size), scale=(lo, hi), antialias=True)]
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    if jitter > 0:
        colour = (v2.ColorJitter(jitter, jitter, jitter, min(jitter / 4, 0.5)) if channels == 3
                  else v2.ColorJitter(brightness=jitter, contrast=jitter))
        steps.append(v2.RandomApply([colour], p=0.8))
    if channels == 3 and grayscale > 0:
        steps.append(v2.RandomGrayscale(p=grayscale))
    return v2.Compose(steps)


def _check_batch(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"expected a batch of images as a tensor (N, C, H, W), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    if not x.is_floating_point():
        raise ValueError(f"expected float images in [0, 1], got dtype {x.dtype}")


def apply_per_image(transform: Callable, x: torch.Tensor, *, seed: int | None = None) -> torch.Tensor:
    """x: (N, C, H, W) -> (N, C, H', W'), ``transform`` drawn afresh for each image (from ``seed`` when given)."""
    _check_batch(x)
    if seed is None:
        return torch.stack([transform(image) for image in x])
    with torch.random.fork_rng(devices=[]):  # v2 draws from torch's global generator: seed it here, restore it after
        torch.manual_seed(int(seed))
        return torch.stack([transform(image) for image in x])


def two_views(x: torch.Tensor, transform: Callable | None = None, *, seed: int | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """x: (N, C, H, W) in [0, 1] -> two views, each (N, C, S, S): independent draws of ``transform`` per image.

    ``transform`` defaults to ``view_transform(W, C)``; the same ``seed`` gives the same two views.
    """
    _check_batch(x)
    transform = transform or view_transform(x.shape[-1], x.shape[1])
    if seed is None:
        return apply_per_image(transform, x), apply_per_image(transform, x)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return apply_per_image(transform, x), apply_per_image(transform, x)


def multi_crop(x: torch.Tensor, n_local: int = 4, *, local_size: int | None = None,
               global_scale: Sequence[float] = (0.4, 1.0), local_scale: Sequence[float] = (0.1, 0.4),
               seed: int | None = None, **options) -> list[torch.Tensor]:
    """DINO's multi-crop: x (N, C, H, W) -> [2 global views (N, C, W, W), then ``n_local`` local views (N, C, s, s)].

    Global views cover ``global_scale`` of the image at full size; local views a smaller part (``local_scale``) at
    ``local_size`` (default half the width). The teacher sees only the global views, the student all of them.
    ``options`` (``flip``, ``jitter``, ``grayscale``) go to :func:`view_transform`.
    """
    _check_batch(x)
    if n_local < 0:
        raise ValueError(f"n_local must be >= 0, got {n_local}")
    size, channels = x.shape[-1], x.shape[1]
    local_size = int(local_size) if local_size is not None else max(size // 2, 1)
    big = view_transform(size, channels, scale=global_scale, **options)
    small = view_transform(local_size, channels, scale=local_scale, **options)

    def draw() -> list[torch.Tensor]:
        return [apply_per_image(big, x) for _ in range(2)] + [apply_per_image(small, x) for _ in range(n_local)]

    if seed is None:
        return draw()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return draw()


class TwoViews:
    """A dataset transform that returns two views of one image: ``load_dataset(..., transform=TwoViews(t))``."""

    def __init__(self, transform: Callable) -> None:
        self.transform = transform

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """image: (C, H, W) -> (view 1, view 2), each drawn independently."""
        return self.transform(image), self.transform(image)

    def __repr__(self) -> str:
        return f"TwoViews({self.transform!r})"
