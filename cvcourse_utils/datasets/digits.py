"""scikit-learn's bundled handwritten digits: 1,797 images of 8x8 pixels, always available offline."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from cvcourse_utils.datasets.base import ImageClassificationDataset, check_split, resize_images
from cvcourse_utils.datasets.splits import stratified_subset, train_val_test_split

DIGIT_SIZES = (8, 16, 28, 32)
DIGITS_FRACTIONS = (0.6, 0.2, 0.2)
_DIGITS_SPLIT_SEED = 0  # the split is part of the dataset: it never changes with `seed`


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8) in [0, 1]
    labels = bunch.target.astype(np.int64)
    parts = train_val_test_split(labels, DIGITS_FRACTIONS, seed=_DIGITS_SPLIT_SEED)
    return images, labels, dict(zip(("train", "val", "test"), parts))


def load_digits_dataset(split: str = "train", *, n: int | None = None, image_size: int | None = None, seed: int = 0,
                        transform=None) -> ImageClassificationDataset:
    """The digits of one split (60/20/20, stratified, fixed) as a torch dataset of (1, S, S) images.

    ``image_size`` (8, 16, 28 or 32; default 8) resizes bilinearly, once, when loading;
    ``n`` keeps a stratified random subset of the split, chosen by ``seed``.
    """
    check_split(split)
    size = 8 if image_size is None else int(image_size)
    if size not in DIGIT_SIZES:
        raise ValueError(f"digits come in image_size {', '.join(map(str, DIGIT_SIZES))}, not {image_size}")
    images, labels, parts = _digits()
    idx = parts[split]
    if n is not None:
        idx = idx[stratified_subset(labels[idx], int(n), seed=seed)]
    data = resize_images(torch.from_numpy(images[idx]), size)
    return ImageClassificationDataset(data, torch.from_numpy(labels[idx]), [str(d) for d in range(10)],
                                      transform=transform, name="digits")
