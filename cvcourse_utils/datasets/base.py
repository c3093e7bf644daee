"""What every classification dataset of the course shares: errors, the torch view, resizing."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

SPLITS = ("train", "val", "test")


class DatasetUnavailableError(RuntimeError):
    """A dataset cannot be used here: not downloaded, download failed, or files are damaged."""


class CorruptDatasetError(DatasetUnavailableError):
    """A file in the cache is truncated or not in the expected format; ``path`` names it."""

    def __init__(self, message: str, path=None):
        super().__init__(message)
        self.path = path


class UnknownDatasetError(KeyError):
    """An unknown dataset name (a KeyError whose message reads as plain text)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    return split


def resize_images(images: torch.Tensor, size: int, batch: int = 4096) -> torch.Tensor:
    """Bilinear resize of float images (N, C, H, W) to (N, C, size, size), clamped to [0, 1]."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = [F.interpolate(images[i:i + batch], size=(size, size), mode="bilinear", align_corners=False)
           for i in range(0, len(images), batch)]
    return torch.cat(out).clamp_(0, 1) if out else images.new_zeros((0, images.shape[1], size, size))


class ImageClassificationDataset(Dataset):
    """Images and labels in memory; item ``i`` is ``(image (C, H, W) float32 in [0, 1], label int)``.

    ``data``: (N, C, H, W) uint8 (divided by 255 on access) or float32 in [0, 1];
    ``targets``: (N,) int64; ``classes``: the class names. ``image_size`` resizes each image
    bilinearly on access; ``transform`` is applied last (e.g. a transforms v2 pipeline).
    """

    def __init__(self, data: torch.Tensor, targets: torch.Tensor, classes: list[str], *,
                 image_size: int | None = None, transform: Callable | None = None, name: str = ""):
        if data.ndim != 4 or len(data) != len(targets):
            raise ValueError(f"need data (N, C, H, W) and targets (N,), got {tuple(data.shape)} and {tuple(targets.shape)}")
        self.data, self.targets = data, targets.to(torch.int64)
        self.classes, self.image_size, self.transform, self.name = list(classes), image_size, transform, name

    def __len__(self) -> int:
        return len(self.data)

    def _float(self, images: torch.Tensor) -> torch.Tensor:
        images = images.float().div_(255) if images.dtype == torch.uint8 else images.float()
        return resize_images(images, self.image_size) if self.image_size else images

    def __getitem__(self, i: int):
        image = self._float(self.data[i:i + 1])[0]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[i])

    def numpy(self) -> tuple[np.ndarray, np.ndarray]:
        """All images and labels: X (N, C, H, W) float32 in [0, 1], y (N,) int64 (no transform)."""
        chunks = [self._float(self.data[i:i + 4096]) for i in range(0, len(self.data), 4096)]
        x = torch.cat(chunks) if chunks else self._float(self.data)
        return x.numpy().astype(np.float32, copy=False), self.targets.numpy().astype(np.int64)

    def __repr__(self) -> str:
        shape = tuple(self[0][0].shape) if len(self) else ()
        return f"{type(self).__name__}({self.name!r}, {len(self)} images of shape {shape}, {len(self.classes)} classes)"
