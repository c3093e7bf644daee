"""``load_dataset``: the one entry point to every dataset of the course."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from cvcourse_utils.datasets.base import ImageClassificationDataset, UnknownDatasetError, check_split
from cvcourse_utils.datasets.digits import load_digits_dataset
from cvcourse_utils.datasets.real import REAL_DATASETS, download_real, load_real
from cvcourse_utils.datasets.shapes import CLASS_SETS, SHAPE_CLASSES, ShapesScenes, generate_shapes

DATASET_NAMES = ("shapes", "shapes_detection", "shapes_segmentation", "digits", "mnist", "fashion_mnist", "cifar10",
                 "shapes_captions")
CLASSIFICATION_NAMES = ("shapes", "digits", "mnist", "fashion_mnist", "cifar10")
BUILT_IN_NAMES = ("shapes", "shapes_detection", "shapes_segmentation", "digits", "shapes_captions")

# images per split when n is not given
_SHAPES_N = {"train": 5000, "val": 1000, "test": 1000}
_SCENES_N = {"train": 1000, "val": 200, "test": 200}
_SPLIT_CODE = {"train": 0, "val": 1, "test": 2}
_VIEW_CODE = {"shapes": 0, "shapes_detection": 1, "shapes_segmentation": 1}  # both views of the same scenes


def _check_name(name: str) -> None:
    if name not in DATASET_NAMES:
        raise UnknownDatasetError(f"no dataset named {name!r}; choose one of {', '.join(DATASET_NAMES)}")


def shapes_seed(name: str, split: str, seed: int) -> np.random.SeedSequence:
    """The seed of one split of a shapes view: train, val and test never share a stream (or an image).

    ``shapes_detection`` and ``shapes_segmentation`` share seeds: they are two views of the same scenes.
    """
    return np.random.SeedSequence([int(seed), _VIEW_CODE[name], _SPLIT_CODE[split]])


def load_dataset(
    name: str,
    split: str = "train",
    *,
    as_numpy: bool = False,
    n: int | None = None,
    image_size: int | None = None,
    seed: int = 0,
    transform: Callable | None = None,
    **options,
):
    """Load one split of a course dataset.

    name: ``"shapes"`` (generated, 5 classes, 3x32x32), ``"shapes_detection"`` and
    ``"shapes_segmentation"`` (generated scenes, 3x64x64), ``"shapes_captions"`` (generated, one
    shape per image with a true caption: items ``(image, tokens, label)``, options ``pairs``,
    ``keep``, ``noise``; see ``datasets.captions``), ``"digits"`` (scikit-learn, 1x8x8),
    ``"mnist"``, ``"fashion_mnist"`` (1x28x28) and ``"cifar10"`` (3x32x32; these three need
    ``cvcourse data download NAME`` once). split: ``"train"``, ``"val"`` or ``"test"``.

    Returns a torch Dataset with ``.classes``: classification items are ``(image (C, H, W)
    float32 in [0, 1], label int)``, detection/segmentation items ``(tv_tensors.Image, target
    dict)``. With ``as_numpy=True`` (classification only): ``(X (N, C, H, W) float32 in [0, 1],
    y (N,) int64)``. ``n``: images in the split (default: all; shapes 5,000 train / 1,000 val
    and test, scenes 1,000 / 200 / 200). ``image_size``: side in pixels. ``seed``: which images
    (shapes) or which subset of ``n`` (other sets); the splits themselves never depend on it.
    ``transform``: a transforms v2 callable, applied to the image (and to the target for
    detection/segmentation). Shapes ``options``: ``difficulty`` ("easy" or "cluttered"),
    ``noise``, ``clutter``, ``occlusion``, ``size_range``, ``class_colors``, ``background``,
    for scenes ``max_objects`` (default 4), and for ``"shapes"`` ``class_set``: ``"original"``
    (circle ... cross) or ``"new"`` (pentagon, diamond, arrow, ell, tee: the transfer target of
    module 05, drawn from its own random streams, so no image repeats one of the original set).
    """
    _check_name(name)
    check_split(split)
    if as_numpy and name not in CLASSIFICATION_NAMES:
        raise ValueError(f"as_numpy=True is for classification datasets ({', '.join(CLASSIFICATION_NAMES)}), not {name!r}")
    if as_numpy and transform is not None:
        raise ValueError("transform applies to the torch view; it cannot be combined with as_numpy=True")
    if n is not None and int(n) < 0:
        raise ValueError(f"n must be >= 0, got {n}")

    if name == "shapes_captions":  # captioned shapes (module 06): options pairs, keep, noise
        from cvcourse_utils.datasets.captions import load_captioned_shapes

        return load_captioned_shapes(split, n=n, image_size=image_size, seed=seed, transform=transform, **options)
    if name.startswith("shapes"):
        dataset = _load_shapes(name, split, n=n, image_size=image_size, seed=seed, transform=transform, **options)
    else:
        if options:
            raise TypeError(f"{name} takes no options {sorted(options)} (shapes options apply to the shapes datasets only)")
        if name == "digits":
            dataset = load_digits_dataset(split, n=n, image_size=image_size, seed=seed, transform=transform)
        else:
            dataset = load_real(name, split, n=n, image_size=image_size, seed=seed, transform=transform)
    return dataset.numpy() if as_numpy else dataset


def _load_shapes(name: str, split: str, *, n, image_size, seed, transform, difficulty: str = "easy",
                 max_objects: int | None = None, class_set: str = "original", **knobs):
    scene = name != "shapes"
    count = int(n) if n is not None else (_SCENES_N if scene else _SHAPES_N)[split]
    size = int(image_size) if image_size is not None else (64 if scene else 32)
    if scene and class_set != "original":
        raise ValueError("class_set='new' is for the shapes classification set only")
    if scene:
        result = generate_shapes(count, image_size=size, max_objects=4 if max_objects is None else int(max_objects),
                                 seed=shapes_seed(name, split, seed), difficulty=difficulty, instance_map=True, **knobs)
        return ShapesScenes(result, task="detection" if name == "shapes_detection" else "segmentation", transform=transform)
    if max_objects not in (None, 1):
        raise ValueError("the shapes classification set has one shape per image; use shapes_detection for more")
    if class_set not in CLASS_SETS:
        raise ValueError(f"class_set must be one of {', '.join(CLASS_SETS)}, not {class_set!r}")
    if class_set == "original":
        seq = shapes_seed(name, split, seed)
    else:  # its own streams: the new set never reuses the positions and colours of the original one
        seq = np.random.SeedSequence([int(seed), _VIEW_CODE[name], _SPLIT_CODE[split], 1])
    result = generate_shapes(count, image_size=size, seed=seq, difficulty=difficulty, class_set=class_set, **knobs)
    return ImageClassificationDataset(torch.from_numpy(result.images), torch.from_numpy(result.labels[:, 0]),
                                      list(CLASS_SETS[class_set]), transform=transform,
                                      name="shapes" if class_set == "original" else "shapes (new classes)")


def download(name: str) -> Path:
    """Download real dataset ``name`` (mnist, fashion_mnist, cifar10) into the cache; returns its folder.

    Built-in datasets need no download (a KeyError says so, as for unknown names); failures
    raise :class:`DatasetUnavailableError` with what went wrong and what to use instead.
    """
    _check_name(name)
    if name not in REAL_DATASETS:
        raise UnknownDatasetError(
            f"{name!r} is built in and needs no download; downloadable datasets are {', '.join(REAL_DATASETS)}"
        )
    return download_real(name)
