"""Lab 02 · Linear classifiers: the tasks, their public cases and library references.

Conventions (CS231n's): ``X`` is ``(N, D)`` with one example per row, ``y`` is ``(N,)``
of class indices, ``W`` is ``(D, C)`` so that ``scores = X @ W`` is ``(N, C)``, and the
regularised loss is ``data_loss + reg * np.sum(W ** 2)``. The bias lives in ``W`` as its
last row (the bias trick: ``X`` ends with a column of ones).

Every reference is a library call: SciPy for distances, scikit-learn for k-NN, k-fold
cross-validation and the metrics, PyTorch autograd in float64 for the losses and their
gradients. No check contains the lab's solution.
"""
from __future__ import annotations

import numpy as np

from cvcourse_utils.checking import Case, CheckFailed, Task, close, equal

# --------------------------------------------------------------------------- inputs


def points_with_duplicates(rng: np.random.Generator, m: int, n: int, dim: int, shared: int) -> tuple[np.ndarray, np.ndarray]:
    """Test points ``(m, dim)`` and training points ``(n, dim)`` whose first ``shared`` rows coincide."""
    x_test, x_train = rng.random((m, dim)), rng.random((n, dim))
    x_test[:shared] = x_train[:shared]
    return x_test, x_train


def knn_predict_args(rng: np.random.Generator, m: int, n: int, num_classes: int, k: int) -> tuple:
    """``(dists (m, n), y_train (n,), k)`` with distances between random points (no ties)."""
    from scipy.spatial.distance import cdist

    dists = cdist(rng.random((m, 5)), rng.random((n, 5)))
    return dists, rng.integers(0, num_classes, size=n), k


def blobs(rng: np.random.Generator, n: int, dim: int, num_classes: int, spread: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points in ``dim >= 2`` dimensions around ``num_classes`` centres on a circle of radius 3.

    With a small ``spread`` the classes are linearly separable (each centre is a corner of their hull).
    """
    angles = 2 * np.pi * np.arange(num_classes) / num_classes + rng.uniform(0, 2 * np.pi)
    centres = np.zeros((num_classes, dim))
    centres[:, 0], centres[:, 1] = 3 * np.cos(angles), 3 * np.sin(angles)
    y = np.arange(n) % num_classes
    rng.shuffle(y)
    return centres[y] + spread * rng.normal(size=(n, dim)), y.astype(np.int64)


def with_bias_column(x: np.ndarray) -> np.ndarray:
    """``(N, D) -> (N, D + 1)``: the bias trick, a column of ones at the end."""
    return np.hstack([x, np.ones((x.shape[0], 1))])


def loss_args(rng: np.random.Generator, n: int, dim: int, num_classes: int, reg: float, scale: float = 1.0) -> tuple:
    """``(W (D, C), X (N, D), y (N,), reg)`` in float64; ``scale`` makes the scores large."""
    W = 0.1 * rng.normal(size=(dim, num_classes))
    X = with_bias_column(scale * rng.normal(size=(n, dim - 1)))
    y = rng.integers(0, num_classes, size=n)
    return W, X, y, reg


def class_scores(rng: np.random.Generator, n: int, distinct: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Binary labels (both classes present) and scores; ``distinct`` rounds the scores to that many values (ties)."""
    y = rng.integers(0, 2, size=n)
    y[:2] = (0, 1)
    scores = rng.random(n) + 0.4 * y
    if distinct is not None:
        scores = np.round(scores * (distinct - 1) / scores.max()) / (distinct - 1)
    return y, scores


def labels_and_predictions(rng: np.random.Generator, n: int, num_classes: int, accuracy: float = 0.6) -> tuple:
    """``(y_true, y_pred, num_classes)``: predictions right with probability ``accuracy``, else random."""
    y_true = rng.integers(0, num_classes, size=n)
    wrong = rng.integers(0, num_classes, size=n)
    y_pred = np.where(rng.random(n) < accuracy, y_true, wrong)
    return y_true, y_pred, num_classes


class SmoothFunction:
    """``f(x) = sum(A * sin(x)) + log(1 + sum(x ** 2))``: a scalar test function for gradient checks.

    Calling it with a NumPy array gives a float (what the student's code sees); ``torch(x)``
    is the same function on tensors, so the reference gets the exact gradient from autograd.
    """

    def __init__(self, rng: np.random.Generator, shape: tuple[int, ...]):
        self.A = rng.normal(size=shape)

    def __call__(self, x: np.ndarray) -> float:
        return float(np.sum(self.A * np.sin(x)) + np.log1p(np.sum(x**2)))

    def torch(self, x):
        import torch

        return torch.sum(torch.from_numpy(self.A) * torch.sin(x)) + torch.log1p(torch.sum(x**2))

    def __repr__(self) -> str:
        return f"SmoothFunction(shape={self.A.shape})"


def gradient_args(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple:
    return SmoothFunction(rng, shape), rng.normal(size=shape)


class RecordingSoftmaxLoss:
    """A softmax loss ``(W, X_batch, y_batch, reg) -> (loss, dW)`` computed by PyTorch, that records each batch size."""

    def __init__(self):
        self.batch_sizes: list[int] = []

    def __call__(self, W, X, y, reg):
        self.batch_sizes.append(int(X.shape[0]))
        return _softmax_reference(W, X, y, reg)

    def __repr__(self) -> str:
        return "softmax_loss"


def training_args(rng: np.random.Generator, n: int, dim: int, num_classes: int, num_iters: int, batch_size: int) -> tuple:
    """``(loss_fn, X, y, num_classes, learning_rate, reg, num_iters, batch_size)`` on separable blobs."""
    X, y = blobs(rng, n, dim, num_classes)
    return RecordingSoftmaxLoss(), with_bias_column(X), y, num_classes, 0.5, 1e-4, num_iters, batch_size


def torch_training_args(rng: np.random.Generator, n: int, dim: int, num_classes: int, epochs: int,
                        learning_rate: float = 0.1, weight_decay: float = 1e-4) -> tuple:
    """``(X_train, y_train, learning_rate, weight_decay, epochs, batch_size, X_test, y_test)`` in float32."""
    X, y = blobs(rng, 2 * n, dim, num_classes)
    X = X.astype(np.float32)
    return X[:n], y[:n], learning_rate, weight_decay, epochs, 32, X[n:], y[n:]


# --------------------------------------------------------------------------- references (library calls)


def _distances_reference(x_test: np.ndarray, x_train: np.ndarray):
    from scipy.spatial.distance import cdist

    return cdist(x_test, x_train)


def _knn_predict_reference(dists: np.ndarray, y_train: np.ndarray, k: int):
    from sklearn.neighbors import KNeighborsClassifier

    n = dists.shape[1]
    knn = KNeighborsClassifier(n_neighbors=k, metric="precomputed", algorithm="brute")
    return knn.fit(np.zeros((n, n)), y_train).predict(dists)


def _cross_validate_reference(X: np.ndarray, y: np.ndarray, k_choices, num_folds: int):
    from sklearn.model_selection import KFold
    from sklearn.neighbors import KNeighborsClassifier

    accuracies = np.zeros((len(k_choices), num_folds))
    for f, (train, val) in enumerate(KFold(n_splits=num_folds, shuffle=False).split(X)):
        for i, k in enumerate(k_choices):
            knn = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(X[train], y[train])
            accuracies[i, f] = knn.score(X[val], y[val])
    return accuracies


def _linear_predict_reference(W: np.ndarray, X: np.ndarray):
    import torch

    return torch.argmax(torch.from_numpy(X) @ torch.from_numpy(W), dim=1)


def _loss_reference(W, X, y, reg, data_loss):
    import torch

    weights = torch.tensor(W, dtype=torch.float64, requires_grad=True)
    scores = torch.as_tensor(X, dtype=torch.float64) @ weights
    loss = data_loss(scores, torch.as_tensor(y, dtype=torch.int64)) + reg * torch.sum(weights**2)
    loss.backward()
    return loss.detach(), weights.grad


def _svm_reference(W, X, y, reg):
    """Multiclass hinge loss with margin 1. PyTorch's multi_margin_loss divides each example's sum by C."""
    import torch.nn.functional as F

    num_classes = W.shape[1]
    return _loss_reference(W, X, y, reg, lambda s, t: F.multi_margin_loss(s, t, margin=1.0) * num_classes)


def _softmax_reference(W, X, y, reg):
    import torch.nn.functional as F

    loss, grad = _loss_reference(W, X, y, reg, F.cross_entropy)
    return float(loss), grad.numpy()


def _gradient_reference(f: SmoothFunction, x: np.ndarray, h: float = 1e-5):
    import torch

    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    f.torch(xt).backward()
    return xt.grad


def _confusion_reference(y_true, y_pred, num_classes):
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y_true, y_pred, labels=np.arange(num_classes))


def _prf_reference(y_true, y_pred, num_classes):
    from sklearn.metrics import precision_recall_fscore_support

    labels = np.arange(num_classes)
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0.0)
    mp, mr, mf, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0.0)
    return {"precision": p, "recall": r, "f1": f, "macro_precision": mp, "macro_recall": mr, "macro_f1": mf}


def _roc_reference(y_true, scores):
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y_true, scores, drop_intermediate=False)
    return fpr, tpr


def _roc_args(rng, n, distinct=None):
    return class_scores(rng, n, distinct)


def _auc_args(rng, n):
    fpr, tpr = _roc_reference(*class_scores(rng, n))
    return fpr, tpr


def _auc_reference(fpr, tpr):
    from sklearn.metrics import auc

    return auc(fpr, tpr)


# --------------------------------------------------------------------------- property checks


def _training_call(fn, args):
    """Run the student's training loop; also return how many rows each loss call saw."""
    result = fn(*args)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed("train_linear_classifier must return a pair (W, loss_history)")
    W, history = result
    return [W, np.asarray(history, dtype=np.float64), np.array(args[0].batch_sizes)]


def _training_compare(actual, expected, args):
    W, history, batch_sizes = actual
    _, X, y, num_classes, _, _, num_iters, batch_size = args
    if W.shape != (X.shape[1], num_classes):
        raise CheckFailed(f"W has shape {W.shape}; expected (D, C) = {(X.shape[1], num_classes)}")
    if history.shape != (num_iters,):
        raise CheckFailed(f"loss_history has {history.size} values; expected one per iteration ({num_iters})")
    if batch_sizes.size != num_iters or np.any(batch_sizes != batch_size):
        seen = sorted(set(batch_sizes.tolist()))
        raise CheckFailed(f"loss_fn was called {batch_sizes.size} times on batches of {seen} rows; expected "
                          f"{num_iters} calls on mini-batches of {batch_size} rows")
    if not np.all(np.isfinite(history)) or history[-10:].mean() > 0.5 * history[0]:
        raise CheckFailed(f"the loss did not go down enough: first {history[0]:.4g}, mean of the last ten "
                          f"{history[-10:].mean():.4g} (expected below half the first)")
    accuracy = np.mean(np.argmax(X @ W, axis=1) == y)
    if accuracy < 0.9:
        raise CheckFailed(f"training accuracy on well-separated blobs is {accuracy:.3f}; expected at least 0.9")


def _torch_call(fn, args):
    """Train the student's PyTorch model and return its scores on the held-out points."""
    import torch

    seen: dict = {}
    namespace = getattr(fn, "__globals__", {})
    real_fit = namespace.get("fit")

    def watched_fit(*fit_args, **fit_kwargs):  # notes the optimiser that the student's code builds
        opt = fit_kwargs.get("optimizer", fit_args[2] if len(fit_args) > 2 else None)
        if isinstance(opt, torch.optim.Optimizer):
            group = opt.param_groups[0]
            seen.update(optimizer=type(opt).__name__, lr=float(group["lr"]), weight_decay=float(group.get("weight_decay", 0.0)))
        return real_fit(*fit_args, **fit_kwargs)

    if callable(real_fit):
        namespace["fit"] = watched_fit
    try:
        model = fn(*args[:6])
    finally:
        if callable(real_fit):
            namespace["fit"] = real_fit
    if not isinstance(model, torch.nn.Module):
        raise CheckFailed(f"train_torch_softmax must return the trained nn.Module, got {type(model).__name__}")
    model = model.cpu().eval()
    with torch.no_grad():
        scores = model(torch.as_tensor(args[6], dtype=torch.float32))
    return {"scores": scores, "optimizer": seen}


def _torch_compare(actual, expected, args):
    learning_rate, weight_decay = float(args[2]), float(args[3])
    built = actual.get("optimizer") or {}
    if not built:
        raise CheckFailed("train with the notebook's `fit(model, loader, optimizer, ...)`, as the task says")
    if str(built["optimizer"]) != "SGD" or abs(float(built["lr"]) - learning_rate) > 1e-12 \
            or abs(float(built["weight_decay"]) - weight_decay) > 1e-15:
        raise CheckFailed(f"expected torch.optim.SGD with lr={learning_rate:g} and weight_decay={weight_decay:g} (the "
                          f"arguments), got {built['optimizer']} with lr={float(built['lr']):g}, "
                          f"weight_decay={float(built['weight_decay']):g}")
    actual = actual["scores"]
    X_test, y_test, num_classes = args[6], args[7], int(args[1].max()) + 1
    if actual.shape != (len(X_test), num_classes):
        raise CheckFailed(f"the model's output has shape {actual.shape}; expected (N, C) = {(len(X_test), num_classes)}")
    accuracy = np.mean(np.argmax(actual, axis=1) == y_test)
    if accuracy < 0.9:
        raise CheckFailed(f"test accuracy on well-separated blobs is {accuracy:.3f}; expected at least 0.9")


# --------------------------------------------------------------------------- tasks, in notebook order

_DISTANCE_CASES = (
    Case("3 test and 5 training points in 4-D", lambda rng: (rng.random((3, 4)), rng.random((5, 4)))),
    Case("4 test and 6 training points in 64-D, two coincide",
         lambda rng: points_with_duplicates(rng, 4, 6, 64, shared=2), seed=1),
)

_LOSS_CASES = (
    Case("5 examples, 4 features (+ bias), 3 classes, reg 0.1", lambda rng: loss_args(rng, 5, 5, 3, 0.1)),
    Case("20 examples, 7 features (+ bias), 10 classes, no reg", lambda rng: loss_args(rng, 20, 8, 10, 0.0), seed=1),
)

_LARGE_LOGITS = (
    Case("logits around 1e4 (no overflow, no log(0))", lambda rng: loss_args(rng, 6, 5, 4, 0.01, scale=3e4), seed=2),
)

# --------------------------------------------------------------------------- what each task must write itself

#: Euclidean distances between two point sets in one call.
_DISTANCES = ("scipy.spatial", "sklearn.metrics", "sklearn.neighbors", "torch.cdist", "torch.nn.functional.pdist",
              "torch.nn.functional.pairwise_distance", "torch.pairwise_distance", "torch.nn.PairwiseDistance")
#: Gradients computed for you: automatic differentiation and the course's numerical gradients.
_AUTOGRAD = ("torch.autograd", "torch.func", ".backward", "cvcourse_utils.gradcheck.numerical_gradient",
             "cvcourse_utils.gradcheck.numerical_gradient_array", "jax")
#: The multiclass SVM (hinge) loss in one call.
_HINGE = ("torch.nn.functional.multi_margin_loss", "torch.nn.MultiMarginLoss", "sklearn.metrics", "sklearn.svm",
          "sklearn.linear_model", *_AUTOGRAD)
#: Softmax, log-softmax, log-sum-exp and cross-entropy in one call.
_SOFTMAX = ("torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss", "torch.nn.functional.softmax",
            "torch.nn.functional.log_softmax", "torch.softmax", "torch.log_softmax", "torch.logsumexp",
            "torch.special.softmax", "torch.special.log_softmax", "torch.special.logsumexp", "torch.nn.CrossEntropyLoss",
            "torch.nn.NLLLoss", "torch.nn.Softmax", "torch.nn.LogSoftmax", ".softmax", ".log_softmax", ".logsumexp",
            "scipy.special.softmax", "scipy.special.log_softmax", "scipy.special.logsumexp", "sklearn.metrics.log_loss",
            "sklearn.linear_model", *_AUTOGRAD)
#: Classification metrics in one call.
_METRICS = ("sklearn.metrics", "torchmetrics", "torcheval", "pandas")


TASKS = (
    Task(
        name="knn_distances_two_loops",
        function="knn_distances_two_loops",
        forbidden=_DISTANCES,
        by_hand="compute each pair's Euclidean distance yourself",
        cases=_DISTANCE_CASES,
        reference=_distances_reference,
        compare=close(atol=1e-6, rtol=1e-6),
    ),
    Task(
        name="knn_distances_one_loop",
        function="knn_distances_one_loop",
        forbidden=_DISTANCES,
        by_hand="compute one test image's distances to all training images with broadcasting yourself",
        cases=_DISTANCE_CASES,
        reference=_distances_reference,
        compare=close(atol=1e-6, rtol=1e-6),
    ),
    Task(
        name="knn_distances_no_loops",
        function="knn_distances_no_loops",
        forbidden=_DISTANCES,
        by_hand="expand |a - b|^2 into |a|^2 + |b|^2 - 2 a.b with a matrix product yourself",
        vectorised=True,  # graded on its source too: no Python loops
        cases=_DISTANCE_CASES,
        reference=_distances_reference,
        compare=close(atol=1e-6, rtol=1e-6),
    ),
    Task(
        name="knn_predict",
        function="knn_predict",
        forbidden=("sklearn.neighbors", "scipy.stats", "statistics", "torch.mode", ".mode"),
        by_hand="find the k nearest labels and take their majority vote yourself",
        cases=(
            Case("4 test points, 9 training points, 3 classes, k=1", lambda rng: knn_predict_args(rng, 4, 9, 3, 1)),
            Case("6 test points, 12 training points, 4 classes, k=5", lambda rng: knn_predict_args(rng, 6, 12, 4, 5), seed=1),
            Case("a 2-2 tie (k=4) goes to the smaller label",
                 lambda rng: (np.array([[0.1, 0.2, 0.3, 0.4, 0.9]]), np.array([2, 1, 1, 2, 0]), 4)),
        ),
        reference=_knn_predict_reference,
        compare=equal(dtype="integer")  # the docstring promises integer counts / labels,
    ),
    Task(
        name="knn_cross_validate",
        function="knn_cross_validate",
        forbidden=("sklearn.model_selection", "sklearn.neighbors", "sklearn.metrics", *_DISTANCES),
        by_hand="split the folds and score each k with your own k-NN functions yourself",
        cases=(
            Case("30 points, 3 classes, k in (1, 3, 5), 3 folds",
                 lambda rng: (*blobs(rng, 30, 4, 3, spread=1.5), (1, 3, 5), 3)),
            Case("23 points (unequal folds), k in (1, 2, 8), 4 folds",
                 lambda rng: (*blobs(rng, 23, 3, 2, spread=2.0), (1, 2, 8), 4), seed=1),
        ),
        reference=_cross_validate_reference,
        compare=close(atol=1e-9),
    ),
    Task(
        name="linear_predict",
        function="linear_predict",
        forbidden=(),
        by_hand=("take the row-wise argmax of the scores X @ W yourself: nothing ready-made is simpler than that "
                 "matrix product"),
        cases=(
            Case("5 examples, 3 features (+ bias), 4 classes",
                 lambda rng: (rng.normal(size=(4, 4)), with_bias_column(rng.normal(size=(5, 3))))),
        ),
        reference=_linear_predict_reference,
        compare=equal(),
    ),
    Task(
        name="svm_loss_naive",
        function="svm_loss_naive",
        forbidden=_HINGE,
        by_hand="add up the margins and their gradient with loops yourself",
        cases=_LOSS_CASES,
        reference=_svm_reference,
        compare=close(atol=1e-8, rtol=1e-7),
    ),
    Task(
        name="svm_loss_vectorised",
        function="svm_loss_vectorised",
        forbidden=_HINGE,
        by_hand="compute the margins and the gradient with array operations yourself",
        vectorised=True,  # graded on its source too: no Python loops
        cases=_LOSS_CASES,
        reference=_svm_reference,
        compare=close(atol=1e-8, rtol=1e-7),
    ),
    Task(
        name="centred_difference_gradient",
        function="centred_difference_gradient",
        forbidden=("cvcourse_utils.gradcheck.numerical_gradient", "cvcourse_utils.gradcheck.numerical_gradient_array",
                   "cvcourse_utils.gradcheck.layer_gradient_errors", "scipy.optimize", "scipy.differentiate", "numpy.gradient", "torch.gradient", "torch.autograd", "torch.func", ".backward", ".torch", "jax"),
        by_hand="nudge each entry by +h and -h and take the centred difference yourself",
        cases=(
            Case("f of a vector of 5", lambda rng: gradient_args(rng, (5,))),
            Case("f of a 4x3 matrix (like W)", lambda rng: gradient_args(rng, (4, 3)), seed=1),
        ),
        reference=_gradient_reference,
        compare=close(atol=1e-6, rtol=1e-5),
    ),
    Task(
        name="softmax_loss_naive",
        function="softmax_loss_naive",
        forbidden=_SOFTMAX,
        by_hand="compute the shifted softmax, its loss and gradient with loops yourself",
        cases=_LOSS_CASES + _LARGE_LOGITS,
        reference=_softmax_reference,
        compare=close(atol=1e-8, rtol=1e-7),
    ),
    Task(
        name="softmax_loss_vectorised",
        function="softmax_loss_vectorised",
        forbidden=_SOFTMAX,
        by_hand="compute the shifted softmax, its loss and gradient with array operations yourself",
        vectorised=True,  # graded on its source too: no Python loops
        cases=_LOSS_CASES + _LARGE_LOGITS,
        reference=_softmax_reference,
        compare=close(atol=1e-8, rtol=1e-7),
    ),
    Task(
        name="train_linear_classifier",
        function="train_linear_classifier",
        forbidden=("torch.optim", "sklearn.linear_model", "sklearn.svm", "torch.autograd", ".backward"),
        by_hand="sample mini-batches and step W against loss_fn's gradient yourself",
        cases=(
            Case("200 blobs in 2-D, 3 classes, 100 steps of 32", lambda rng: training_args(rng, 200, 2, 3, 100, 32)),
        ),
        call=_training_call,
        compare=_training_compare,
    ),
    Task(
        name="confusion_matrix_by_hand",
        function="confusion_matrix_by_hand",
        forbidden=("numpy.histogram2d", "numpy.histogramdd", "torch.histogramdd", "scipy.stats", "scipy.sparse",
                   *_METRICS),
        by_hand="count each (true, predicted) pair into a C x C array yourself",
        cases=(
            Case("12 labels, 3 classes", lambda rng: labels_and_predictions(rng, 12, 3)),
            Case("class 3 never occurs", lambda rng: (np.array([0, 1, 2, 2, 1]), np.array([0, 2, 2, 1, 1]), 4)),
        ),
        reference=_confusion_reference,
        compare=equal(),
    ),
    Task(
        name="precision_recall_f1",
        function="precision_recall_f1",
        forbidden=_METRICS,
        by_hand="compute precision, recall and F1 from the confusion matrix yourself",
        cases=(
            Case("40 labels, 4 classes", lambda rng: labels_and_predictions(rng, 40, 4)),
            Case("class 2 is never predicted (precision 0 by convention)",
                 lambda rng: (np.array([0, 1, 2, 2, 1, 0]), np.array([0, 1, 1, 0, 1, 0]), 3)),
        ),
        reference=_prf_reference,
        compare=close(atol=1e-9),
    ),
    Task(
        name="roc_curve_by_hand",
        function="roc_curve_by_hand",
        forbidden=_METRICS,
        by_hand="sort the scores and accumulate true and false positives yourself",
        cases=(
            Case("10 scores, all different", lambda rng: _roc_args(rng, 10)),
            Case("30 scores with ties (5 distinct values)", lambda rng: _roc_args(rng, 30, distinct=5), seed=1),
        ),
        reference=_roc_reference,
        compare=close(atol=1e-9),
    ),
    Task(
        name="auc_by_hand",
        function="auc_by_hand",
        forbidden=("numpy.trapz", "numpy.trapezoid", "scipy.integrate", "torch.trapz", "torch.trapezoid", *_METRICS),
        by_hand="sum the trapezoids under the curve yourself",
        cases=(
            Case("a ROC curve of 25 random scores", lambda rng: _auc_args(rng, 25)),
            Case("the diagonal (a coin toss)", lambda rng: (np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.5, 1.0]))),
        ),
        reference=_auc_reference,
        compare=close(atol=1e-9),
    ),
    Task(
        name="train_torch_softmax",
        function="train_torch_softmax",
        forbidden=("sklearn", "cvcourse_utils.models", "torchvision.models", "lightning", "pytorch_lightning",
                   "skorch"),
        by_hand="build the nn.Linear, the data loader and the SGD optimiser and train with `fit` yourself",
        cases=(
            Case("300 blobs in 5-D, 4 classes, 5 epochs", lambda rng: torch_training_args(rng, 300, 5, 4, 5)),
            Case("another learning rate and weight decay (0.05, 1e-3) must reach the optimiser",
                 lambda rng: torch_training_args(rng, 300, 4, 3, 8, learning_rate=0.05, weight_decay=1e-3), seed=1),
        ),
        call=_torch_call,
        compare=_torch_compare,
    ),
)
