"""Real datasets (MNIST, Fashion-MNIST, CIFAR-10): downloaded on request, read from the cache.

Nothing here downloads on its own. ``download(name)`` (what ``cvcourse data download NAME``
runs) fetches a dataset with torchvision into ``cache_dir() / name``, in torchvision's own
layout; loading reads those files directly and fails with a :class:`DatasetUnavailableError`
that says what to do when they are missing or damaged.

File formats (read here, so that the checks and messages are ours):

- MNIST and Fashion-MNIST: IDX files in ``<name>/MNIST/raw`` (``FashionMNIST/raw``), plain or
  gzipped: a 4-byte magic number (0, 0, type 0x08 = unsigned byte, number of dimensions), the
  dimensions as big-endian int32, then the bytes.
- CIFAR-10: Python pickles in ``cifar10/cifar-10-batches-py``: ``data_batch_1..5`` and
  ``test_batch`` hold ``{"data": (N, 3072) uint8, "labels": [N ints]}`` (the 3072 values are the
  red, green and blue planes of a 32x32 image), ``batches.meta`` holds ``{"label_names": [...]}``.
  torchvision checks the MD5 sums of these files; we check their structure instead, so that a
  small hand-made file (as in the tests) loads too. A real download is checked by torchvision.
"""
from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from cvcourse_utils.cache import cache_dir
from cvcourse_utils.datasets.base import (
    CorruptDatasetError,
    DatasetUnavailableError,
    ImageClassificationDataset,
    check_split,
)
from cvcourse_utils.datasets.splits import stratified_subset, train_val_test_split

VAL_FRACTION = 0.1  # carved out of the official training set, stratified, always the same
_VAL_SPLIT_SEED = 0


@dataclass(frozen=True)
class RealDataset:
    name: str
    folder: str  # inside cache_dir() / name
    files: dict[str, tuple[str, str]]  # official split -> (images file, labels file); CIFAR: batch files
    classes: tuple[str, ...]
    alternative: str  # the built-in dataset to use instead
    torchvision_class: str


_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_CIFAR_FILES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}

REAL_DATASETS: dict[str, RealDataset] = {
    "mnist": RealDataset("mnist", "MNIST/raw", _MNIST_FILES, tuple(str(d) for d in range(10)), "digits", "MNIST"),
    "fashion_mnist": RealDataset(
        "fashion_mnist", "FashionMNIST/raw", _MNIST_FILES,
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        "digits", "FashionMNIST",
    ),
    "cifar10": RealDataset("cifar10", "cifar-10-batches-py", _CIFAR_FILES, _CIFAR_CLASSES, "shapes", "CIFAR10"),
}


def dataset_folder(name: str) -> Path:
    """Where the files of real dataset ``name`` are expected: ``cache_dir() / name / <torchvision layout>``."""
    return cache_dir() / name / REAL_DATASETS[name].folder


def _advice(info: RealDataset) -> str:
    return (f"Without it, use the built-in dataset instead: load_dataset({info.alternative!r}, ...), "
            "which needs no download.")


def _expected_files(info: RealDataset) -> list[str]:
    names = [f for pair in info.files.values() for f in pair]
    return names + (["batches.meta"] if info.name == "cifar10" else [])


def _not_downloaded(info: RealDataset, missing: list[str]) -> DatasetUnavailableError:
    folder = dataset_folder(info.name)
    return DatasetUnavailableError(
        f"The {info.name} dataset is not downloaded: {', '.join(missing)} not found in {folder}. "
        f"Download it once with `cvcourse data download {info.name}` (needs internet), or copy its files "
        f"({', '.join(_expected_files(info))}) into that folder. "
        f"The cache folder is {cache_dir()} (set CVCOURSE_DATA to move it). {_advice(info)}"
    )


def _corrupt(info: RealDataset, path: Path, what: str) -> CorruptDatasetError:
    return CorruptDatasetError(
        f"The file {path} of {info.name} is damaged ({what}). Delete it and run "
        f"`cvcourse data download {info.name}` again. {_advice(info)}",
        path=path,
    )


# ---- MNIST and Fashion-MNIST: IDX files --------------------------------------------------------

def _find(folder: Path, name: str) -> Path | None:
    """The plain file if present, else its gzipped copy (torchvision keeps both)."""
    for path in (folder / name, folder / f"{name}.gz"):
        if path.is_file():
            return path
    return None


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes (plain or ``.gz``); raises ValueError if it is damaged."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise ValueError(f"cannot decompress it: {err}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError("it does not start with the IDX magic number of an unsigned-byte file")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ValueError("its header is cut short")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise ValueError(f"it holds {len(raw)} bytes but its header promises {expected}; it is truncated")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def _load_idx_split(info: RealDataset, official: str) -> tuple[np.ndarray, np.ndarray]:
    folder = dataset_folder(info.name)
    names = info.files[official]
    paths = [_find(folder, f) for f in names]
    missing = [f for f, p in zip(names, paths) if p is None]
    if missing:
        raise _not_downloaded(info, missing)
    arrays = []
    for path in paths:
        try:
            arrays.append(read_idx(path))
        except ValueError as err:
            raise _corrupt(info, path, str(err)) from None
    images, labels = arrays
    if images.ndim != 3:
        raise _corrupt(info, paths[0], f"expected images (N, H, W), found shape {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images) or (len(labels) and labels.max() >= len(info.classes)):
        raise _corrupt(info, paths[1], f"expected {len(images)} labels in 0..{len(info.classes) - 1}")
    return images[:, None], labels.astype(np.int64)  # (N, 1, H, W) uint8


# ---- CIFAR-10: pickled batches -----------------------------------------------------------------

def _unpickle(info: RealDataset, path: Path) -> dict:
    try:
        with path.open("rb") as f:
            content = pickle.load(f, encoding="latin1")
    except Exception as err:  # truncated or foreign files fail in many ways inside pickle
        raise _corrupt(info, path, f"it cannot be unpickled: {type(err).__name__}: {err}") from None
    if not isinstance(content, dict):
        raise _corrupt(info, path, "it does not hold a dictionary")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in content.items()}


def _load_cifar_split(info: RealDataset, official: str) -> tuple[np.ndarray, np.ndarray]:
    folder = dataset_folder(info.name)
    names = info.files[official]
    missing = [f for f in names if not (folder / f).is_file()]
    if missing:
        raise _not_downloaded(info, missing)
    images, labels = [], []
    for name in names:
        path = folder / name
        batch = _unpickle(info, path)
        data, targets = batch.get("data"), batch.get("labels")
        data = np.asarray(data) if data is not None else None
        if data is None or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise _corrupt(info, path, "its 'data' is not an (N, 3072) array of unsigned bytes")
        targets = np.asarray(targets if targets is not None else [], dtype=np.int64)
        if targets.shape != (len(data),) or (len(targets) and (targets.min() < 0 or targets.max() > 9)):
            raise _corrupt(info, path, f"its 'labels' are not {len(data)} integers in 0..9")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(targets)
    return np.concatenate(images), np.concatenate(labels)


def _cifar_classes(info: RealDataset) -> list[str]:
    path = dataset_folder(info.name) / "batches.meta"
    if not path.is_file():
        raise _not_downloaded(info, ["batches.meta"])
    names = _unpickle(info, path).get("label_names")
    if not isinstance(names, list) or len(names) != 10:
        raise _corrupt(info, path, "its 'label_names' is not a list of 10 names")
    return [str(n) for n in names]


# ---- splits, loading, downloading ---------------------------------------------------------------

@lru_cache(maxsize=4)
def _load_official(name: str, official: str, folder: Path, stamp: tuple) -> tuple[np.ndarray, np.ndarray]:
    info = REAL_DATASETS[name]
    return _load_cifar_split(info, official) if name == "cifar10" else _load_idx_split(info, official)


def _official(name: str, official: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, C, H, W) uint8 and labels of the official train or test set (memoised while the files are unchanged)."""
    folder = dataset_folder(name)
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.glob("*")) if p.is_file()) \
        if folder.is_dir() else ()
    return _load_official(name, official, folder, stamp)


def load_real(name: str, split: str = "train", *, n: int | None = None, image_size: int | None = None,
              seed: int = 0, transform=None) -> ImageClassificationDataset:
    """Real dataset ``name`` from the cache. ``val`` is a fixed stratified 10% of the official
    training set (``train`` is the other 90%), ``test`` the official test set; ``n`` draws a
    stratified subset (chosen by ``seed``); ``image_size`` resizes bilinearly on access."""
    check_split(split)
    info = REAL_DATASETS[name]
    images, labels = _official(name, "test" if split == "test" else "train")
    classes = _cifar_classes(info) if name == "cifar10" else list(info.classes)
    if split != "test":
        train_idx, val_idx, _ = train_val_test_split(labels, (1 - VAL_FRACTION, VAL_FRACTION, 0.0), seed=_VAL_SPLIT_SEED)
        idx = train_idx if split == "train" else val_idx
        images, labels = images[idx], labels[idx]
    if n is not None:
        idx = stratified_subset(labels, int(n), seed=seed)
        images, labels = images[idx], labels[idx]
    if image_size is not None and int(image_size) < 1:
        raise ValueError(f"image_size must be a positive number of pixels, got {image_size}")
    return ImageClassificationDataset(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels), classes,
                                      image_size=None if image_size is None else int(image_size),
                                      transform=transform, name=name)


def is_downloaded(name: str) -> bool:
    """True when every file of real dataset ``name`` is in the cache and reads without error."""
    try:
        for official in ("train", "test"):
            _official(name, official)
        if name == "cifar10":
            _cifar_classes(REAL_DATASETS[name])
    except DatasetUnavailableError:
        return False
    return True


def download_real(name: str) -> Path:
    """Download real dataset ``name`` with torchvision into ``cache_dir() / name``; returns that folder.

    Does nothing when the files are already there. On failure (offline, blocked, a damaged
    download) raises :class:`DatasetUnavailableError` saying what failed and what to do.
    """
    import torchvision.datasets

    info = REAL_DATASETS[name]
    root = cache_dir() / name
    if is_downloaded(name):
        return root
    dataset_class = getattr(torchvision.datasets, info.torchvision_class)
    try:
        for train in (True, False):
            dataset_class(root=str(root), train=train, download=True)
    except Exception as err:  # offline machines fail with URLError, torchvision wraps some in RuntimeError
        reason = " ".join(f"{type(err).__name__}: {err}".split())
        failure = DatasetUnavailableError(
            f"Downloading {name} failed ({reason}). Is this machine offline or behind a firewall? "
            f"Try again where there is internet access, or copy the files "
            f"({', '.join(_expected_files(info))}) into {dataset_folder(name)}. {_advice(info)}"
        )
        failure.reason = err
        raise failure from None
    for official in ("train", "test"):
        _official(name, official)  # the same checks as loading: raises if something is off
    return root
