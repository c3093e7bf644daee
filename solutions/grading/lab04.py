"""Lab 04 · Convolutional networks: points per task and hidden cases (instructors only).

Hidden cases use other seeds and sizes than the public ones, plus edge cases:
non-square kernels and images, strides that do not tile the input exactly (PyTorch
floors the output size), 1x1 kernels, single images and channels, pooling windows
that overlap or leave gaps, other optimisers and another search optimum.
"""
import re

import numpy as np

from cvcourse_utils.checking import Case
from cvcourse_utils.labchecks.lab04 import (
    batchnorm_backward_inputs,
    batchnorm_inputs,
    dropout_backward_inputs,
    optimizer_inputs,
    col2im_inputs,
    conv_backward_inputs,
    conv_inputs,
    im2col_inputs,
    pool_backward_inputs,
    pool_inputs,
    search_inputs,
)

POINTS = {
    "conv_forward_naive": 2,
    "receptive_field": 1,
    "im2col": 2,
    "conv_forward_im2col": 2,
    "conv_backward_naive": 2,
    "col2im": 2,
    "conv_backward_im2col": 3,
    "max_pool_forward": 1,
    "max_pool_backward": 2,
    "build_cnn": 2,
    "train_cnn": 2,
    "batchnorm_forward": 2,
    "batchnorm_backward": 2,
    "dropout_forward": 1,
    "dropout_backward": 1,
    "sgd_momentum_update": 1,
    "rmsprop_update": 1,
    "adam_update": 2,
    "random_search": 2,
}

# (n, c, h, w, f, kh, kw, stride, pad)
_CONV_SIZES = (
    ("3x2x9x7 input, 5 filters 3x3, stride 1, pad 1", (3, 2, 9, 7, 5, 3, 3, 1, 1), 301),
    ("1x3x8x8 input, 2 filters 1x1 (a 1x1 convolution)", (1, 3, 8, 8, 2, 1, 1, 1, 0), 302),
    ("2x2x10x11 input, 3 filters 5x4, stride 3, pad 2 (the stride does not tile the input)", (2, 2, 10, 11, 3, 5, 4, 3, 2), 303),
    ("1x1x4x4 input, 1 filter 4x4 (a 1x1 output)", (1, 1, 4, 4, 1, 4, 4, 1, 0), 304),
    ("2x4x6x5 input, 3 filters 2x2, stride 2, pad 0", (2, 4, 6, 5, 3, 2, 2, 2, 0), 305),
    ("1x2x5x5 input, 2 filters 3x3, stride 1, pad 2 (output larger than the input)", (1, 2, 5, 5, 2, 3, 3, 1, 2), 306),
)


def _conv_cases():
    return tuple(Case(name, lambda rng, s=s: conv_inputs(rng, *s), seed=seed) for name, s, seed in _CONV_SIZES)


def _windows(name: str) -> str:
    """'4 filters 3x3' -> '3x3 windows' (im2col and col2im have no filters)."""
    return re.sub(r"\d+ filters? ([0-9x]+)", r"\1 windows", name)


def _unfold_cases():
    return tuple(Case(_windows(name), lambda rng, s=s: im2col_inputs(rng, *s[:4], *s[5:]), seed=seed) for name, s, seed in _CONV_SIZES)


def _fold_cases():
    return tuple(Case("columns of a " + _windows(name),
                      lambda rng, s=s: col2im_inputs(rng, *s[:4], *s[5:]), seed=seed + 10) for name, s, seed in _CONV_SIZES)


def _backward_cases():
    return tuple(Case(name, lambda rng, s=s: conv_backward_inputs(rng, *s), seed=seed + 20) for name, s, seed in _CONV_SIZES)


# (n, c, h, w, pool, stride)
_POOL_SIZES = (
    ("2x3x6x6 input, 2x2 pool, stride 2", (2, 3, 6, 6, 2, 2), 401),
    ("1x1x7x9 input, 3x3 pool, stride 2 (overlapping, odd sizes)", (1, 1, 7, 9, 3, 2), 402),
    ("2x2x8x8 input, 2x2 pool, stride 3 (gaps between windows)", (2, 2, 8, 8, 2, 3), 403),
    ("1x2x5x5 input, 2x2 pool, stride 1 (heavy overlap)", (1, 2, 5, 5, 2, 1), 404),
    ("3x2x4x4 input, 4x4 pool (one window)", (3, 2, 4, 4, 4, 4), 405),
)


def _pool_cases():
    return tuple(Case(name, lambda rng, s=s: pool_inputs(rng, *s), seed=seed) for name, s, seed in _POOL_SIZES)


def _pool_backward_cases():
    return tuple(Case(name, lambda rng, s=s: pool_backward_inputs(rng, *s), seed=seed + 10) for name, s, seed in _POOL_SIZES)


HIDDEN = {
    "conv_forward_naive": _conv_cases(),
    "receptive_field": (
        Case("a single 7x7 convolution, stride 2 (ResNet's stem)", lambda rng: (np.array([[7, 2]]),), seed=350),
        Case("stem, 3x3 pool stride 2, four 3x3 convs, one of them with stride 2",
             lambda rng: (np.array([[7, 2], [3, 2], [3, 1], [3, 1], [3, 2], [3, 1]]),), seed=351),
        Case("1x1 convolutions do not grow it", lambda rng: (np.array([[1, 1], [3, 1], [1, 1]]),), seed=352),
    ),
    "im2col": _unfold_cases(),
    "conv_forward_im2col": _conv_cases() + (
        Case("float32 input 2x3x8x8, 4 filters 3x3, pad 1",
             lambda rng: tuple(a.astype(np.float32) if isinstance(a, np.ndarray) else a
                               for a in conv_inputs(rng, 2, 3, 8, 8, 4, 3, 3, 1, 1)), seed=307),
    ),
    "conv_backward_naive": tuple(Case(name, lambda rng, s=s: conv_backward_inputs(rng, *s), seed=seed + 40)
                                 for name, s, seed in _CONV_SIZES[:2]),
    "col2im": _fold_cases(),
    "conv_backward_im2col": _backward_cases(),
    "max_pool_forward": _pool_cases(),
    "max_pool_backward": _pool_backward_cases() + (
        Case("ties after ReLU, overlapping 3x3 windows, stride 1",
             lambda rng: pool_backward_inputs(rng, 1, 3, 6, 5, 3, 1, ties=True), seed=320),
        Case("an all-zero input: every window ties", lambda rng: (rng.normal(size=(1, 1, 2, 2)), np.zeros((1, 1, 4, 4)), 2, 2)),
    ),
    "build_cnn": (
        Case("RGB 32x32 images, 10 classes, BatchNorm and dropout 0.5", lambda rng: (3, 10, True, 0.5, 32)),
        Case("grey 28x28 images, 4 classes, BatchNorm, no dropout", lambda rng: (1, 4, True, 0.0, 28)),
        Case("RGB 64x64 images, 6 classes, no BatchNorm, no dropout", lambda rng: (3, 6, False, 0.0, 64)),
    ),
    "train_cnn": (
        Case("RMSProp, lr 1e-3, 3 epochs", lambda rng: ("rmsprop", 1e-3, 0.0, 3, 320, 2)),
        Case("a misspelt name ('Adam') raises ValueError", lambda rng: ("Adam", 1e-3, 0.0, 1, 32, 0)),
        Case("Nesterov momentum, lr 0.02, weight decay 1e-3, 3 epochs", lambda rng: ("nesterov", 0.02, 1e-3, 3, 320, 3)),
    ),
    "batchnorm_forward": (
        Case("training, a batch of 2 (the unbiased variance doubles the biased one)",
             lambda rng: batchnorm_inputs(rng, (2, 4), True), seed=330),
        Case("training, images 2 x 4 x 3 x 6, momentum 0.3, eps 1e-3",
             lambda rng: batchnorm_inputs(rng, (2, 4, 3, 6), True, momentum=0.3, eps=1e-3), seed=331),
        Case("evaluation, images 3 x 2 x 4 x 4", lambda rng: batchnorm_inputs(rng, (3, 2, 4, 4), False), seed=332),
    ),
    "batchnorm_backward": (
        Case("a batch of 2, 3 features", lambda rng: batchnorm_backward_inputs(rng, (2, 3)), seed=333),
        Case("images 2 x 3 x 5 x 2, eps 1e-3", lambda rng: batchnorm_backward_inputs(rng, (2, 3, 5, 2), eps=1e-3), seed=334),
    ),
    "dropout_forward": (
        Case("p = 0: nothing is dropped", lambda rng: (rng.normal(size=(40, 50)), 0.0, True, 6), seed=335),
        Case("p = 0.9 on 30,000 units", lambda rng: (rng.normal(size=(3, 100, 100)), 0.9, True, 7), seed=336),
    ),
    "dropout_backward": (
        Case("p = 0.75, 5 x 9", lambda rng: dropout_backward_inputs(rng, (5, 9), 0.75), seed=337),
    ),
    "sgd_momentum_update": (
        Case("momentum 0 is plain SGD, 4 steps", lambda rng: optimizer_inputs(rng, (2, 3), 4, learning_rate=0.5, momentum=0.0),
             seed=338),
        Case("momentum 0.99, 20 steps", lambda rng: optimizer_inputs(rng, (7,), 20, learning_rate=1e-3, momentum=0.99), seed=339),
    ),
    "rmsprop_update": (
        Case("decay 0.9, epsilon 1e-4, 15 steps",
             lambda rng: optimizer_inputs(rng, (2, 5), 15, learning_rate=3e-3, decay_rate=0.9, epsilon=1e-4), seed=340),
    ),
    "adam_update": (
        Case("betas (0.5, 0.9), 20 steps", lambda rng: optimizer_inputs(rng, (3, 3), 20, learning_rate=1e-2, beta1=0.5, beta2=0.9),
             seed=341),
        Case("one step: the bias correction makes it lr * sign(g)", lambda rng: optimizer_inputs(rng, (6,), 1, learning_rate=0.1),
             seed=342),
    ),
    "random_search": (
        Case("150 trials, optimum near the edge of the range",
             lambda rng: search_inputs(150, (1e-4, 1e-1), (1e-6, 1e-2), seed=11, best_lr=5e-2, best_wd=1e-2)),
        Case("one trial", lambda rng: search_inputs(1, (1e-3, 1e-2), (1e-5, 1e-4), seed=3)),
    ),
}
