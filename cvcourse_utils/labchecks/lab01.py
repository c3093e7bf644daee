"""Lab 01 · Images and arrays: the tasks, their public cases and library references.

Every reference is a library call (scikit-learn, torchvision, NumPy, SciPy, PyTorch),
so these checks never contain the lab's solution. Public cases are tiny on purpose:
a failing check prints the whole expected and actual arrays.
"""
from __future__ import annotations

import numpy as np

from cvcourse_utils.checking import Case, Task, close, equal

# The luma weights of ITU-R BT.601, as torchvision rounds them.
LUMA_WEIGHTS = (0.2989, 0.587, 0.114)


# --------------------------------------------------------------------------- inputs


def random_image(rng: np.random.Generator, height: int, width: int, channels: int = 3, dtype=np.float64) -> np.ndarray:
    """A random image ``(H, W, C)`` with values in [0, 1)."""
    return rng.random((height, width, channels)).astype(dtype)


def grey_levels(rng: np.random.Generator, shape: tuple[int, ...], extremes: bool = True) -> np.ndarray:
    """Random grey levels in [0, 1]; with ``extremes`` the first values are exactly 0, 0.5 and 1."""
    grey = rng.random(shape)
    if extremes:
        flat = grey.reshape(-1)
        flat[: min(3, flat.size)] = (0.0, 0.5, 1.0)[: min(3, flat.size)]
    return grey


def points_with_duplicates(rng: np.random.Generator, n: int, m: int, dim: int, shared: int) -> tuple[np.ndarray, np.ndarray]:
    """Two point sets whose first ``shared`` rows coincide (distance exactly 0)."""
    a = rng.random((n, dim))
    b = rng.random((m, dim))
    b[:shared] = a[:shared]
    return a, b


# --------------------------------------------------------------------------- references (library calls)


def _standardise_reference(images: np.ndarray):
    from sklearn.preprocessing import StandardScaler

    channels = images.shape[-1]
    scaler = StandardScaler().fit(images.reshape(-1, channels).astype(np.float64))
    normalised = scaler.transform(images.reshape(-1, channels).astype(np.float64)).reshape(images.shape)
    return normalised, scaler.mean_, scaler.scale_


def _channels_first(img: np.ndarray):
    """(H, W, C) array -> (C, H, W) tensor; (H, W) -> (H, W) tensor."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(img))
    return t.movedim(-1, 0) if img.ndim == 3 else t


def _to_grey_reference(img: np.ndarray):
    from torchvision.transforms.v2 import functional as F

    return F.rgb_to_grayscale(_channels_first(img)).squeeze(0)


def _center_crop_reference(img: np.ndarray, height: int, width: int):
    from torchvision.transforms.v2 import functional as F

    top, left = (img.shape[0] - height) // 2, (img.shape[1] - width) // 2
    out = F.crop(_channels_first(img), top, left, height, width)
    return out.movedim(0, -1) if img.ndim == 3 else out


def _flip_rotate_reference(img: np.ndarray):
    return np.flip(img, axis=1), np.flip(img, axis=0), np.rot90(img, k=1, axes=(0, 1))


def _histogram_reference(grey: np.ndarray, bins: int):
    return np.histogram(grey, bins=bins, range=(0.0, 1.0))[0]


def _distances_reference(a: np.ndarray, b: np.ndarray):
    from scipy.spatial.distance import cdist

    return cdist(a.astype(np.float64), b.astype(np.float64))


def _conv2d_reference(image: np.ndarray, kernel: np.ndarray, padding: int = 0):
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.asarray(image, dtype=np.float64))[None, None]
    w = torch.from_numpy(np.asarray(kernel, dtype=np.float64))[None, None]
    return F.conv2d(x, w, padding=padding)[0, 0]


SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


# --------------------------------------------------------------------------- what each task must write itself

#: Ready-made image transforms: torchvision's, PIL's and OpenCV's (none of them is used by this lab's own code).
_IMAGE_LIBRARIES = ("torchvision.transforms", "PIL", "cv2", "skimage")
#: Euclidean distances between two point sets in one call.
_DISTANCES = ("scipy.spatial", "sklearn.metrics", "sklearn.neighbors", "torch.cdist", "torch.nn.functional.pdist",
              "torch.nn.functional.pairwise_distance", "torch.pairwise_distance", "torch.nn.PairwiseDistance")
#: A 2-D convolution / cross-correlation in one call.
_CONVOLUTIONS = ("scipy.signal", "scipy.ndimage", "torch.nn.functional.conv1d", "torch.nn.functional.conv2d",
                 "torch.nn.functional.conv3d", "torch.conv1d", "torch.conv2d", "torch.conv3d", "torch.convolution",
                 "torch.nn.functional.conv_transpose2d", "torch.conv_transpose2d", "torch.nn.Conv1d", "torch.nn.Conv2d",
                 "torch.nn.Conv3d", "torch.nn.ConvTranspose2d", "numpy.convolve", "numpy.correlate", "cv2", "skimage")


# --------------------------------------------------------------------------- tasks, in notebook order

TASKS = (
    Task(
        name="standardise_channels",
        function="standardise_channels",
        forbidden=("sklearn.preprocessing", "scipy.stats.zscore", "torch.nn.functional.batch_norm",
                   "torch.nn.functional.instance_norm", "torch.nn.BatchNorm2d",
                   "torchvision.transforms"),
        by_hand="take each channel's mean and standard deviation over the other axes and standardise yourself",
        cases=(
            Case("batch of 2 images 3x4x3", lambda rng: (rng.random((2, 3, 4, 3)),)),
            Case("one image 2x2x3", lambda rng: (rng.random((2, 2, 3)) * 255,), seed=1),
        ),
        reference=_standardise_reference,
        compare=close(atol=1e-6, rtol=1e-5),
    ),
    Task(
        name="to_grey",
        function="to_grey",
        forbidden=_IMAGE_LIBRARIES,
        by_hand="weight the three channels with the luma weights yourself",
        cases=(
            Case("2x3 colour image", lambda rng: (random_image(rng, 2, 3),)),
            Case("pure red, green, blue and white pixels",
                 lambda rng: (np.array([[[1.0, 0, 0], [0, 1.0, 0]], [[0, 0, 1.0], [1.0, 1.0, 1.0]]]),)),
        ),
        reference=_to_grey_reference,
        compare=close(atol=1e-6, rtol=1e-5),
    ),
    Task(
        name="center_crop",
        function="center_crop",
        forbidden=_IMAGE_LIBRARIES,
        by_hand="compute the top-left corner and slice the array yourself",
        cases=(
            Case("4x4 colour image -> 2x2", lambda rng: (random_image(rng, 4, 4), 2, 2)),
            Case("5x6 colour image -> 2x3 (odd margins)", lambda rng: (random_image(rng, 5, 6), 2, 3), seed=1),
        ),
        reference=_center_crop_reference,
        compare=equal(),
    ),
    Task(
        name="flip_rotate",
        function="flip_rotate",
        forbidden=("numpy.flip", "numpy.fliplr", "numpy.flipud", "numpy.rot90", "torch.flip", "torch.fliplr",
                   "torch.flipud", "torch.rot90", ".flip", ".rot90", *_IMAGE_LIBRARIES),
        by_hand="mirror and rotate with slicing and swapped axes yourself",
        cases=(
            Case("2x3 colour image", lambda rng: (random_image(rng, 2, 3),)),
            Case("3x2 grey image of 0..5", lambda rng: (np.arange(6.0).reshape(3, 2),)),
        ),
        reference=_flip_rotate_reference,
        compare=equal(),
    ),
    Task(
        name="grey_histogram",
        function="grey_histogram",
        forbidden=("numpy.histogram", "numpy.histogram2d", "numpy.histogramdd", "numpy.digitize", "torch.histc",
                   "torch.histogram", "torch.histogramdd", ".histc", ".histogram", ".hist", "matplotlib.pyplot.hist",
                   "scipy.stats", "scipy.ndimage", *_IMAGE_LIBRARIES),
        by_hand="compute each value's bin index and count the indices yourself",
        cases=(
            Case("3x4 grey image, 4 bins (with values 0, 0.5 and 1)", lambda rng: (grey_levels(rng, (3, 4)), 4)),
            Case("5x5 grey image, 3 bins", lambda rng: (grey_levels(rng, (5, 5), extremes=False), 3), seed=1),
        ),
        reference=_histogram_reference,
        compare=equal(dtype="integer")  # the docstring promises integer counts / labels,
    ),
    Task(
        name="pairwise_distances_loops",
        function="pairwise_distances_loops",
        forbidden=_DISTANCES,
        by_hand="compute each pair's Euclidean distance yourself",
        cases=(
            Case("3 and 4 points in 2-D", lambda rng: (rng.random((3, 2)), rng.random((4, 2)))),
            Case("2 and 3 points in 5-D", lambda rng: (rng.normal(size=(2, 5)), rng.normal(size=(3, 5))), seed=1),
        ),
        reference=_distances_reference,
        compare=close(atol=1e-6, rtol=1e-5),
    ),
    Task(
        name="pairwise_distances_vectorised",
        function="pairwise_distances_vectorised",
        forbidden=_DISTANCES,
        by_hand="expand |a - b|^2 into |a|^2 + |b|^2 - 2 a.b with a matrix product yourself",
        vectorised=True,  # graded on its source too: no Python loops
        cases=(
            Case("3 and 4 points in 2-D", lambda rng: (rng.random((3, 2)), rng.random((4, 2)))),
            Case("2 and 3 points in 5-D", lambda rng: (rng.normal(size=(2, 5)), rng.normal(size=(3, 5))), seed=1),
            Case("4 and 3 points in 8-D, two of them shared (distance 0)",
                 lambda rng: points_with_duplicates(rng, 4, 3, 8, shared=2), seed=23),
        ),
        reference=_distances_reference,
        compare=close(atol=1e-6, rtol=1e-5),
    ),
    Task(
        name="conv2d_naive",
        function="conv2d_naive",
        forbidden=_CONVOLUTIONS,
        by_hand="slide the kernel over the padded image and sum the products yourself",
        cases=(
            Case("4x5 image, 3x3 Sobel-x kernel", lambda rng: (rng.random((4, 5)), SOBEL_X)),
            Case("4x4 image, 2x3 kernel, padding 1", lambda rng: (rng.random((4, 4)), rng.normal(size=(2, 3)), 1), seed=1),
        ),
        reference=_conv2d_reference,
        compare=close(atol=1e-6, rtol=1e-5),
    ),
    Task(
        name="conv2d_vectorised",
        function="conv2d_vectorised",
        forbidden=_CONVOLUTIONS,
        by_hand="multiply every window with the kernel at once (windows and einsum or a product) yourself",
        vectorised=True,  # graded on its source too: no Python loops
        cases=(
            Case("4x5 image, 3x3 Sobel-x kernel", lambda rng: (rng.random((4, 5)), SOBEL_X)),
            Case("4x4 image, 2x3 kernel, padding 1", lambda rng: (rng.random((4, 4)), rng.normal(size=(2, 3)), 1), seed=1),
        ),
        reference=_conv2d_reference,
        compare=close(atol=1e-6, rtol=1e-5),
    ),
)
