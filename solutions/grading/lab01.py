"""Lab 01 · Images and arrays: points per task and hidden cases (instructors only).

Hidden cases use other seeds and sizes than the public ones, plus edge cases:
1x1 images, non-square images and kernels, float32 inputs, coinciding points.
"""
import numpy as np

from cvcourse_utils.checking import Case
from cvcourse_utils.labchecks.lab01 import SOBEL_X, grey_levels, points_with_duplicates, random_image

POINTS = {
    "standardise_channels": 2,
    "to_grey": 1,
    "center_crop": 1,
    "flip_rotate": 2,
    "grey_histogram": 2,
    "pairwise_distances_loops": 1,
    "pairwise_distances_vectorised": 3,
    "conv2d_naive": 2,
    "conv2d_vectorised": 3,
}

_CONV_CASES = (
    Case("7x9 image, 3x3 kernel, no padding", lambda rng: (rng.random((7, 9)), rng.normal(size=(3, 3))), seed=301),
    Case("6x5 float32 image, Sobel-x, padding 1 (same size)",
         lambda rng: (rng.random((6, 5)).astype(np.float32), SOBEL_X, 1), seed=302),
    Case("1x1 image, 1x1 kernel", lambda rng: (rng.random((1, 1)), rng.normal(size=(1, 1))), seed=303),
    Case("1x1 image, 3x3 kernel, padding 1", lambda rng: (rng.random((1, 1)), rng.normal(size=(3, 3)), 1), seed=304),
    Case("5x8 image, 1x4 kernel, padding 2", lambda rng: (rng.random((5, 8)), rng.normal(size=(1, 4)), 2), seed=305),
    Case("image equal to the kernel size (1x1 output)",
         lambda rng: (rng.random((4, 3)), rng.normal(size=(4, 3))), seed=306),
)

_DISTANCE_CASES = (
    Case("17 and 11 points in 7-D", lambda rng: (rng.normal(size=(17, 7)), rng.normal(size=(11, 7))), seed=201),
    Case("one point against one point", lambda rng: (rng.random((1, 4)), rng.random((1, 4))), seed=202),
    Case("points in 1-D", lambda rng: (rng.random((5, 1)), rng.random((6, 1))), seed=203),
    Case("float32 points in 16-D", lambda rng: (rng.random((9, 16)).astype(np.float32),
                                               rng.random((12, 16)).astype(np.float32)), seed=204),
    Case("a set against itself (zero diagonal)", lambda rng: (lambda a: (a, a.copy()))(rng.random((10, 32))), seed=205),
    Case("6 and 5 points, three shared", lambda rng: points_with_duplicates(rng, 6, 5, 20, shared=3), seed=206),
)

HIDDEN = {
    "standardise_channels": (
        Case("batch of 5 images 7x3x3", lambda rng: (rng.random((5, 7, 3, 3)) * 10 - 3,), seed=101),
        Case("float32 batch 3x6x5x3", lambda rng: (rng.random((3, 6, 5, 3)).astype(np.float32),), seed=102),
        Case("batch of 4 single-pixel images", lambda rng: (rng.random((4, 1, 1, 3)),), seed=103),
        Case("one 4-channel image 3x5", lambda rng: (rng.normal(size=(3, 5, 4)),), seed=104),
    ),
    "to_grey": (
        Case("tall 31x7 image", lambda rng: (random_image(rng, 31, 7),), seed=111),
        Case("1x1 image", lambda rng: (random_image(rng, 1, 1),), seed=112),
        Case("float32 5x9 image", lambda rng: (random_image(rng, 5, 9, dtype=np.float32),), seed=113),
    ),
    "center_crop": (
        Case("9x7 image -> 3x3", lambda rng: (random_image(rng, 9, 7), 3, 3), seed=121),
        Case("crop to the whole image", lambda rng: (random_image(rng, 4, 6), 4, 6), seed=122),
        Case("1x1 crop from 6x5", lambda rng: (random_image(rng, 6, 5), 1, 1), seed=123),
        Case("grey 8x10 image -> 5x4", lambda rng: (rng.random((8, 10)), 5, 4), seed=124),
        Case("float32 7x8 image -> 4x6", lambda rng: (random_image(rng, 7, 8, dtype=np.float32), 4, 6), seed=125),
    ),
    "flip_rotate": (
        Case("non-square 4x7 image", lambda rng: (random_image(rng, 4, 7),), seed=131),
        Case("1x1 image", lambda rng: (random_image(rng, 1, 1),), seed=132),
        Case("1-row grey image", lambda rng: (rng.random((1, 5)),), seed=133),
        Case("float32 5x3 image", lambda rng: (random_image(rng, 5, 3, dtype=np.float32),), seed=134),
    ),
    "grey_histogram": (
        Case("20x30 image, 16 bins", lambda rng: (grey_levels(rng, (20, 30)), 16), seed=141),
        Case("one bin", lambda rng: (grey_levels(rng, (4, 4)), 1), seed=142),
        Case("1x1 image of value 1.0", lambda rng: (np.ones((1, 1)), 8), seed=143),
        Case("float32 9x7 image, 10 bins", lambda rng: (rng.random((9, 7)).astype(np.float32), 10), seed=144),
        Case("all black 3x3 image, 5 bins", lambda rng: (np.zeros((3, 3)), 5), seed=145),
    ),
    "pairwise_distances_loops": _DISTANCE_CASES[:4],
    "pairwise_distances_vectorised": _DISTANCE_CASES,
    "conv2d_naive": _CONV_CASES,
    "conv2d_vectorised": _CONV_CASES,
}
