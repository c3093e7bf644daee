"""Lab 02 · Linear classifiers: points per task and hidden cases (instructors only).

Hidden cases use other seeds and sizes than the public ones, plus edge cases: one test
point, a set against itself (distances exactly 0), k equal to the training set, two classes,
a single example, scores around -1e4 and 1e4, confident classifiers (no margin violated),
classes that never occur, constant and tied scores.
"""
import numpy as np

from cvcourse_utils.checking import Case
from cvcourse_utils.labchecks.lab02 import (
    blobs,
    class_scores,
    gradient_args,
    knn_predict_args,
    labels_and_predictions,
    loss_args,
    points_with_duplicates,
    torch_training_args,
    training_args,
    with_bias_column,
)

POINTS = {
    "knn_distances_two_loops": 1,
    "knn_distances_one_loop": 1,
    "knn_distances_no_loops": 2,
    "knn_predict": 2,
    "knn_cross_validate": 2,
    "linear_predict": 1,
    "svm_loss_naive": 3,
    "svm_loss_vectorised": 3,
    "centred_difference_gradient": 2,
    "softmax_loss_naive": 3,
    "softmax_loss_vectorised": 3,
    "train_linear_classifier": 3,
    "confusion_matrix_by_hand": 1,
    "precision_recall_f1": 2,
    "roc_curve_by_hand": 2,
    "auc_by_hand": 1,
    "train_torch_softmax": 3,
}


def _confident_args(rng: np.random.Generator, n: int, dim: int, num_classes: int, reg: float) -> tuple:
    """Labels equal to the argmax of large scores: most margins are met (hinge terms 0)."""
    W, X, _, _ = loss_args(rng, n, dim, num_classes, reg)
    W = 50 * W
    return W, X, np.argmax(X @ W, axis=1), reg


_DISTANCE_CASES = (
    Case("17 test and 11 training points in 7-D", lambda rng: (rng.normal(size=(17, 7)), rng.normal(size=(11, 7))), seed=201),
    Case("one test point against one training point", lambda rng: (rng.random((1, 4)), rng.random((1, 4))), seed=202),
    Case("points in 1-D", lambda rng: (rng.random((5, 1)), rng.random((6, 1))), seed=203),
    Case("a set against itself (zero diagonal)", lambda rng: (lambda a: (a, a.copy()))(rng.random((9, 32))), seed=204),
    Case("8 test and 5 training points, three shared", lambda rng: points_with_duplicates(rng, 8, 5, 20, shared=3), seed=205),
)

_LOSS_CASES = (
    Case("two classes, 9 examples, reg 0.5", lambda rng: loss_args(rng, 9, 4, 2, 0.5), seed=301),
    Case("a single example, 6 classes", lambda rng: loss_args(rng, 1, 6, 6, 0.01), seed=302),
    Case("one feature (+ bias), 4 classes, 15 examples", lambda rng: loss_args(rng, 15, 2, 4, 0.0), seed=303),
    Case("confident scores (margins met), 12 examples", lambda rng: _confident_args(rng, 12, 6, 5, 0.1), seed=304),
    Case("50 examples, 30 features, 10 classes, reg 1e-3", lambda rng: loss_args(rng, 50, 31, 10, 1e-3), seed=305),
)

HIDDEN = {
    "knn_distances_two_loops": _DISTANCE_CASES,
    "knn_distances_one_loop": _DISTANCE_CASES,
    "knn_distances_no_loops": _DISTANCE_CASES + (
        Case("200 test and 300 training points in 64-D", lambda rng: (rng.random((200, 64)), rng.random((300, 64))), seed=206),
    ),
    "knn_predict": (
        Case("one test point, 7 training points, k=3", lambda rng: knn_predict_args(rng, 1, 7, 3, 3), seed=211),
        Case("k equal to the number of training points", lambda rng: knn_predict_args(rng, 5, 8, 3, 8), seed=212),
        Case("two classes, k=2 (ties go to class 0)", lambda rng: knn_predict_args(rng, 12, 10, 2, 2), seed=213),
        Case("10 classes, 40 training points, k=7", lambda rng: knn_predict_args(rng, 20, 40, 10, 7), seed=214),
        Case("labels that skip a class, k=1",
             lambda rng: (knn_predict_args(rng, 6, 9, 1, 1)[0], np.array([0, 4, 4, 2, 0, 2, 4, 0, 2]), 1), seed=215),
    ),
    "knn_cross_validate": (
        Case("40 points, 4 classes, 5 folds, k in (1, 4, 9)",
             lambda rng: (*blobs(rng, 40, 5, 4, spread=1.5), (1, 4, 9), 5), seed=221),
        Case("2 folds, k in (1, 2, 3, 10)", lambda rng: (*blobs(rng, 31, 2, 3, spread=2.0), (1, 2, 3, 10), 2), seed=222),
        Case("a single k, 7 folds of unequal size", lambda rng: (*blobs(rng, 45, 3, 2, spread=2.5), (3,), 7), seed=223),
    ),
    "linear_predict": (
        Case("two classes, one example", lambda rng: (rng.normal(size=(3, 2)), with_bias_column(rng.normal(size=(1, 2)))), seed=231),
        Case("30 examples, 10 classes", lambda rng: (rng.normal(size=(9, 10)), with_bias_column(rng.normal(size=(30, 8)))), seed=232),
    ),
    "svm_loss_naive": _LOSS_CASES,
    "svm_loss_vectorised": _LOSS_CASES + (
        Case("scores around 1e4", lambda rng: loss_args(rng, 8, 5, 3, 0.01, scale=3e4), seed=306),
    ),
    "centred_difference_gradient": (
        Case("f of a 3x4x2 array", lambda rng: gradient_args(rng, (3, 4, 2)), seed=241),
        Case("f of a single number", lambda rng: gradient_args(rng, (1,)), seed=242),
        Case("f of a 10x7 matrix, h = 1e-4", lambda rng: (*gradient_args(rng, (10, 7)), 1e-4), seed=243),
    ),
    "softmax_loss_naive": _LOSS_CASES + (
        Case("logits around 1e4 (no overflow)", lambda rng: loss_args(rng, 5, 4, 3, 0.0, scale=3e4), seed=307),
    ),
    "softmax_loss_vectorised": _LOSS_CASES + (
        Case("logits around 1e4, two classes", lambda rng: loss_args(rng, 7, 3, 2, 0.1, scale=3e4), seed=308),
        Case("logits around -1e4 and 1e4, 10 classes", lambda rng: loss_args(rng, 20, 6, 10, 0.0, scale=5e4), seed=309),
    ),
    "train_linear_classifier": (
        Case("300 blobs in 3-D, 4 classes, 150 steps of 50", lambda rng: training_args(rng, 300, 3, 4, 150, 50), seed=251),
        Case("120 blobs in 6-D, 2 classes, 60 steps of 10", lambda rng: training_args(rng, 120, 6, 2, 60, 10), seed=252),
    ),
    "confusion_matrix_by_hand": (
        Case("100 labels, 6 classes", lambda rng: labels_and_predictions(rng, 100, 6), seed=261),
        Case("perfect predictions", lambda rng: (lambda y: (y, y.copy(), 4))(rng.integers(0, 4, size=20)), seed=262),
        Case("everything predicted as class 1", lambda rng: (rng.integers(0, 3, size=15), np.ones(15, dtype=np.int64), 3), seed=263),
        Case("a single example", lambda rng: (np.array([2]), np.array([0]), 3), seed=264),
    ),
    "precision_recall_f1": (
        Case("200 labels, 7 classes", lambda rng: labels_and_predictions(rng, 200, 7, accuracy=0.4), seed=271),
        Case("perfect predictions", lambda rng: (lambda y: (y, y.copy(), 5))(rng.integers(0, 5, size=30)), seed=272),
        Case("class 3 never occurs but is predicted",
             lambda rng: (np.array([0, 1, 2, 0, 1, 2]), np.array([0, 3, 2, 0, 1, 3]), 4), seed=273),
        Case("two classes, imbalanced", lambda rng: (np.r_[np.zeros(18, int), np.ones(2, int)], np.r_[np.zeros(19, int), 1], 2), seed=274),
    ),
    "roc_curve_by_hand": (
        Case("200 scores, all different", lambda rng: class_scores(rng, 200), seed=281),
        Case("every score equal (one threshold)", lambda rng: (class_scores(rng, 12)[0], np.full(12, 0.3)), seed=282),
        Case("a single positive among 30", lambda rng: (np.r_[np.zeros(29, int), 1], rng.random(30)), seed=283),
        Case("scores with many ties (3 distinct values)", lambda rng: class_scores(rng, 50, distinct=3), seed=284),
        Case("integer scores, perfect ranking", lambda rng: (np.array([0, 0, 1, 1, 1]), np.array([1, 2, 5, 7, 9])), seed=285),
    ),
    "auc_by_hand": (
        Case("a ROC curve of 300 random scores", lambda rng: tuple(_roc(*class_scores(rng, 300))), seed=291),
        Case("a perfect ranking", lambda rng: (np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0])), seed=292),
        Case("a curve with ties", lambda rng: tuple(_roc(*class_scores(rng, 40, distinct=4))), seed=293),
        Case("the worst ranking", lambda rng: (np.array([0.0, 1.0, 1.0]), np.array([0.0, 0.0, 1.0])), seed=294),
    ),
    "train_torch_softmax": (
        Case("400 blobs in 3-D, 3 classes, 4 epochs", lambda rng: torch_training_args(rng, 400, 3, 3, 4), seed=311),
        Case("200 blobs in 8-D, 2 classes, 6 epochs, lr 0.2, weight decay 0",
             lambda rng: torch_training_args(rng, 200, 8, 2, 6, learning_rate=0.2, weight_decay=0.0), seed=312),
    ),
}


def _roc(y_true, scores):
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y_true, scores, drop_intermediate=False)
    return fpr, tpr
