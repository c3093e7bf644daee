"""Lab 03 · Backpropagation and neural networks: points per task and hidden cases (instructors only).

Hidden cases use other seeds and shapes than the public ones, plus edge cases: a single example,
inputs of four dimensions, ReLU inputs that are exactly 0, extreme sigmoid inputs, scores far from 0,
one-column grids, non-square weight matrices and tanh stacks.
"""
import numpy as np

from cvcourse_utils.checking import Case
from cvcourse_utils.labchecks.lab03 import (
    affine_backward_case,
    affine_case,
    deep_net_case,
    elementwise_backward_case,
    elementwise_case,
    init_case,
    search_case,
    softmax_case,
    train_case,
    two_layer_case,
    with_exact_zeros,
)

POINTS = {
    "affine_forward": 1,
    "affine_backward": 2,
    "relu_forward": 1,
    "relu_backward": 1,
    "sigmoid_forward": 1,
    "sigmoid_backward": 1,
    "tanh_forward": 1,
    "tanh_backward": 1,
    "softmax_cross_entropy": 2,
    "two_layer_net": 3,
    "train_two_layer_net": 3,
    "search_two_layer_net": 2,
    "init_weights_xavier_he": 1,
    "deep_net_forward_backward": 3,
}


HIDDEN = {
    "affine_forward": (
        Case("one example x (1, 7), w (7, 1)", affine_case(1, (7,), 1), seed=101),
        Case("x (3, 2, 2, 2, 2) flattened to 16", affine_case(3, (2, 2, 2, 2), 5), seed=102),
    ),
    "affine_backward": (
        Case("one example x (1, 7), w (7, 1)", affine_backward_case(1, (7,), 1), seed=111),
        Case("x (3, 2, 2, 2, 2): dx back to 5-D", affine_backward_case(3, (2, 2, 2, 2), 5), seed=112),
        Case("x (9, 3), w (3, 11)", affine_backward_case(9, (3,), 11), seed=113),
    ),
    "relu_forward": (
        Case("x (3,)", elementwise_case((3,)), seed=121),
        Case("x (2, 3, 4, 5) with exact zeros", with_exact_zeros(elementwise_case((2, 3, 4, 5))), seed=122),
    ),
    "relu_backward": (
        Case("x (2, 3, 4, 5)", elementwise_backward_case((2, 3, 4, 5)), seed=131),
        Case("x (4, 6) with exact zeros (gradient 0 there)", with_exact_zeros(elementwise_backward_case((4, 6))), seed=132),
    ),
    "sigmoid_forward": (
        Case("x (2, 3, 4)", elementwise_case((2, 3, 4)), seed=141),
        Case("extreme inputs, |x| up to 500", elementwise_case((5, 5), scale=200.0), seed=142),
    ),
    "sigmoid_backward": (
        Case("x (2, 3, 4)", elementwise_backward_case((2, 3, 4)), seed=151),
        Case("x (7,)", elementwise_backward_case((7,), scale=5.0), seed=152),
    ),
    "tanh_forward": (
        Case("x (3, 4, 5)", elementwise_case((3, 4, 5)), seed=161),
        Case("large inputs, |x| up to 50", elementwise_case((4, 4), scale=20.0), seed=162),
    ),
    "tanh_backward": (
        Case("x (3, 4, 5)", elementwise_backward_case((3, 4, 5)), seed=171),
        Case("x (1,)", elementwise_backward_case((1,)), seed=172),
    ),
    "softmax_cross_entropy": (
        Case("one example, two classes", softmax_case(1, 2), seed=181),
        Case("100 classes", softmax_case(8, 100), seed=182),
        Case("very negative scores (around -1000)", softmax_case(5, 6, scale=30.0, offset=-1000.0), seed=183),
    ),
    "two_layer_net": (
        Case("scores, one example", two_layer_case(1, 3, 4, 2, with_labels=False), seed=191),
        Case("loss and gradients, 12 x 9 -> 15 -> 6", two_layer_case(12, 9, 15, 6), seed=192),
        Case("strong L2, reg=1.5", two_layer_case(5, 4, 3, 3, reg=1.5), seed=193),
    ),
    "train_two_layer_net": (
        Case(
            "800 digits, batch 32, decay 0.8",
            train_case(800, 400, hidden_size=32, learning_rate=0.2, reg=1e-3, epochs=6, batch_size=32, lr_decay=0.8),
            seed=201,
        ),
    ),
    "search_two_layer_net": (
        Case("3 x 1 grid (hidden sizes only)", search_case(500, 300, [8, 32, 96], [0.2], epochs=5), seed=211),
        Case("1 x 3 grid (learning rates only)", search_case(500, 300, [48], [0.0005, 0.05, 0.3], epochs=5), seed=212),
    ),
    "init_weights_xavier_he": (
        Case("he, fan_in 1000, fan_out 100", init_case(1000, 100, "he"), seed=221),
        Case("xavier, fan_in 100, fan_out 1000", init_case(100, 1000, "xavier"), seed=222),
        Case("small, fan_in 50, fan_out 2000", init_case(50, 2000, "small"), seed=223),
        Case("zero, fan_in 3, fan_out 7", init_case(3, 7, "zero"), seed=224),
    ),
    "deep_net_forward_backward": (
        Case("6 tanh layers", deep_net_case(7, 3, 5, 6, "tanh", std=1.0), seed=231),
        Case("one ReLU layer", deep_net_case(4, 6, 3, 1, "relu", std=np.sqrt(2)), seed=232),
        Case("8 ReLU layers, one example", deep_net_case(1, 5, 9, 8, "relu", std=np.sqrt(2)), seed=233),
    ),
}
