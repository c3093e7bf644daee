"""Checks for lab 03: backpropagation and neural networks.

Every reference is computed by PyTorch's autograd in float64 (or by ``torch.nn.init``),
never by the lab's solution. Backward tasks receive the cache in the format their
docstring fixes (``affine_backward(dout, (x, w, b))``, ``relu_backward(dout, x)``,
``sigmoid_backward(dout, out)``), built here from the inputs with a library call, so a
backward check does not depend on the student's forward pass. Gradients must agree
with autograd to a relative error below 1e-7, the bar of a numerical gradient check.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from cvcourse_utils.checking import Case, CheckFailed, Task, describe, nested

MAX_RELATIVE_ERROR = 1e-7


# --------------------------------------------------------------------------- comparison


def rel_close(max_error: float = MAX_RELATIVE_ERROR, atol: float = 1e-12) -> Callable[[Any, Any, tuple], None]:
    """Nested comparison by relative error: ``|a - e| / max(1e-8, |a| + |e|) < max_error`` per entry.

    Entries that differ by less than ``atol`` also pass (float64 round-off around exact zeros).
    """

    def compare_arrays(actual: np.ndarray, expected: np.ndarray, args: tuple, path: str) -> None:
        a, e = actual.astype(np.float64), expected.astype(np.float64)
        if not np.isfinite(a).all():
            raise CheckFailed(f"{path}: contains NaN or inf (expected {describe(e)} of finite numbers)")
        diff = np.abs(a - e)
        rel = diff / np.maximum(1e-8, np.abs(a) + np.abs(e))
        bad = (rel >= max_error) & (diff > atol)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise CheckFailed(
                f"{path}: relative error {rel.max():.2e} (must be below {max_error:g}) in {int(bad.sum())} of {e.size} "
                f"values; first at index {first}: actual {a[first]:.8g}, expected {e[first]:.8g}"
            )

    return nested(compare_arrays)


# --------------------------------------------------------------------------- references (torch autograd, float64)


def _t(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def _affine_forward_ref(x, w, b):
    out = _t(x).reshape(x.shape[0], -1) @ _t(w) + _t(b)
    return {"out": out.numpy(), "cache": (x, w, b)}


def _affine_backward_ref(dout, cache):
    x, w, b = (_t(a, grad=True) for a in cache)
    out = x.reshape(x.shape[0], -1) @ w + b
    out.backward(_t(dout))
    return x.grad.numpy(), w.grad.numpy(), b.grad.numpy()


def _elementwise_forward_ref(torch_fn, cache_is_output):
    def reference(x):
        out = torch_fn(_t(x)).numpy()
        return {"out": out, "cache": out if cache_is_output else x}

    return reference


def _elementwise_backward_ref(torch_fn):
    def reference(dout, x):
        xt = _t(x, grad=True)
        torch_fn(xt).backward(_t(dout))
        return xt.grad.numpy()

    return reference


def _forward_call(fn, args):
    """Run a ``*_forward``: it must return ``(out, cache)``; both are compared (the cache format is fixed)."""
    result = fn(*args)
    if not isinstance(result, tuple) or len(result) != 2:
        raise CheckFailed(f"return a pair (out, cache), got {describe(result)}")
    return {"out": result[0], "cache": result[1]}


def _relu_backward_call(fn, args):
    dout, x = args
    return fn(dout, x)  # the cache of relu is x itself


def _from_output_backward_call(library_forward):
    """Sigmoid and tanh caches are the forward's *output*: computed here with a library, not the student's forward."""

    def call(fn, args):
        dout, x = args
        return fn(dout, library_forward(x))

    return call


def _sigmoid_np(x):
    return torch.sigmoid(_t(x)).numpy()


def _softmax_ref(scores, y):
    s = _t(scores, grad=True)
    loss = F.cross_entropy(s, torch.as_tensor(y, dtype=torch.long))
    loss.backward()
    return loss.detach().numpy(), s.grad.numpy()


def _two_layer_ref(params, X, y=None, reg=0.0):
    p = {k: _t(v, grad=True) for k, v in params.items()}
    scores = torch.relu(_t(X) @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    if y is None:
        return scores.detach().numpy()
    loss = F.cross_entropy(scores, torch.as_tensor(y, dtype=torch.long))
    loss = loss + 0.5 * reg * (torch.sum(p["W1"] ** 2) + torch.sum(p["W2"] ** 2))
    loss.backward()
    return loss.detach().numpy(), {k: v.grad.numpy() for k, v in p.items()}


def _deep_net_ref(X, weights, activation, dout):
    act = {"relu": torch.relu, "tanh": torch.tanh}[activation]
    h = _t(X)
    ws = [_t(w, grad=True) for w in weights]
    activations = []
    for w in ws:
        h = act(h @ w)
        activations.append(h)
    h.backward(_t(dout))
    return [a.detach().numpy() for a in activations], [w.grad.numpy() for w in ws]


# --------------------------------------------------------------------------- inputs


def affine_case(n: int, in_shape: tuple, m: int) -> Callable:
    def make(rng):
        return rng.standard_normal((n, *in_shape)), rng.standard_normal((int(np.prod(in_shape)), m)), rng.standard_normal(m)

    return make


def affine_backward_case(n: int, in_shape: tuple, m: int) -> Callable:
    def make(rng):
        x, w, b = affine_case(n, in_shape, m)(rng)
        return rng.standard_normal((n, m)), (x, w, b)

    return make


def elementwise_case(shape: tuple, scale: float = 2.0) -> Callable:
    return lambda rng: (scale * rng.standard_normal(shape),)


def elementwise_backward_case(shape: tuple, scale: float = 2.0) -> Callable:
    return lambda rng: (rng.standard_normal(shape), scale * rng.standard_normal(shape))


def with_exact_zeros(make: Callable) -> Callable:
    """The same case with every third entry of the last argument (x) set to exactly 0."""

    def wrapped(rng):
        args = list(make(rng))
        x = args[-1].copy()
        x.flat[::3] = 0.0
        args[-1] = x
        return tuple(args)

    return wrapped


def softmax_case(n: int, c: int, scale: float = 1.0, offset: float = 0.0) -> Callable:
    return lambda rng: (scale * rng.standard_normal((n, c)) + offset, rng.integers(0, c, size=n))


def two_layer_params(rng, d: int, h: int, c: int) -> dict:
    return {
        "W1": rng.standard_normal((d, h)) / np.sqrt(d),
        "b1": 0.1 * rng.standard_normal(h),
        "W2": rng.standard_normal((h, c)) / np.sqrt(h),
        "b2": 0.1 * rng.standard_normal(c),
    }


def two_layer_case(n: int, d: int, h: int, c: int, reg: float = 0.0, with_labels: bool = True) -> Callable:
    def make(rng):
        params = two_layer_params(rng, d, h, c)
        X = rng.standard_normal((n, d))
        y = rng.integers(0, c, size=n) if with_labels else None
        return params, X, y, reg

    return make


def digits_split(n_train: int, n_val: int, seed: int) -> tuple:
    """A fixed, shuffled subset of scikit-learn's bundled 8x8 digits: (X_train, y_train, X_val, y_val), X (N, 64) in [0, 1]."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.target))
    X = digits.data[order].astype(np.float64) / 16.0
    y = digits.target[order].astype(np.int64)
    mean = X[:n_train].mean(axis=0)
    X = X - mean  # zero-centred with the training mean
    return X[:n_train], y[:n_train], X[n_train:n_train + n_val], y[n_train:n_train + n_val]


def train_case(n_train: int, n_val: int, **options) -> Callable:
    def make(rng):
        seed = int(rng.integers(0, 2**31))
        return (*digits_split(n_train, n_val, seed), dict(options, seed=seed))

    return make


def search_case(n_train: int, n_val: int, hidden_sizes: list, learning_rates: list, epochs: int) -> Callable:
    def make(rng):
        seed = int(rng.integers(0, 2**31))
        return (*digits_split(n_train, n_val, seed), list(hidden_sizes), list(learning_rates), epochs)

    return make


def init_case(fan_in: int, fan_out: int, scheme: str) -> Callable:
    return lambda rng: (fan_in, fan_out, scheme, np.random.default_rng(int(rng.integers(0, 2**31))))


def deep_net_case(n: int, d: int, width: int, layers: int, activation: str, std: float) -> Callable:
    def make(rng):
        X = rng.standard_normal((n, d))
        sizes = [d] + [width] * layers
        weights = [std * rng.standard_normal((sizes[i], sizes[i + 1])) / np.sqrt(sizes[i]) for i in range(layers)]
        return X, weights, activation, rng.standard_normal((n, width))

    return make


# --------------------------------------------------------------------------- training: property checks


def two_layer_scores(params: dict, X: np.ndarray) -> np.ndarray:
    """Scores of a trained two-layer net, computed here (not with the student's code)."""
    W1, b1, W2, b2 = (np.asarray(params[k], dtype=np.float64) for k in ("W1", "b1", "W2", "b2"))
    return np.maximum(X @ W1 + b1, 0) @ W2 + b2


def _train_call(fn, args):
    X_train, y_train, X_val, y_val, options = args
    result = fn(X_train, y_train, X_val, y_val, **options)
    if not isinstance(result, tuple) or len(result) != 2:
        raise CheckFailed(f"return (params, history), got {describe(result)}")
    params, history = result
    missing = {"W1", "b1", "W2", "b2"} - set(params)
    if missing:
        raise CheckFailed(f"params has no {sorted(missing)}")
    for key in ("loss", "lr"):
        if key not in history:
            raise CheckFailed(f"history has no {key!r} (keys: {sorted(history)})")
    accuracy = float(np.mean(two_layer_scores(params, X_val).argmax(axis=1) == y_val))
    train_accuracy = float(np.mean(two_layer_scores(params, X_train[:1000]).argmax(axis=1) == y_train[:1000]))
    # Did the parameters move from where the notebook's init_two_layer_net starts them (same seed)?
    init = getattr(fn, "__globals__", {}).get("init_two_layer_net")
    moved = -1.0  # unknown
    if callable(init):
        start = init(X_train.shape[1], options.get("hidden_size", 64), int(y_train.max()) + 1, seed=options.get("seed", 0))
        moved = float(max(np.abs(np.asarray(params[k], dtype=np.float64) - np.asarray(start[k], dtype=np.float64)).max()
                          for k in ("W1", "b1", "W2", "b2")))
    return {
        "val_accuracy": accuracy,
        "train_accuracy": train_accuracy,
        "loss": np.asarray(history["loss"], dtype=np.float64),
        "lr": np.asarray(history["lr"], dtype=np.float64),
        "history_val_accuracy": np.asarray(history.get("val_accuracy", []), dtype=np.float64),
        "history_train_accuracy": np.asarray(history.get("train_accuracy", []), dtype=np.float64),
        "n_train": len(X_train),
        "parameters_moved": moved,
    }


def trains_well(min_accuracy: float) -> Callable[[Any, Any, tuple], None]:
    def compare(actual, expected, args):
        options = args[4]
        loss, lr = actual["loss"], actual["lr"]
        epochs, batch = options["epochs"], options.get("batch_size", 64)
        steps = epochs * -(-int(actual["n_train"]) // batch)
        if loss.ndim != 1 or len(loss) != steps:
            raise CheckFailed(f"history['loss'] should hold one loss per mini-batch step, {epochs} epochs x "
                              f"ceil({int(actual['n_train'])} / {batch}) = {steps} values, got {describe(loss)}")
        for key, final in (("val_accuracy", actual["val_accuracy"]), ("train_accuracy", actual["train_accuracy"])):
            values = actual[f"history_{key}"]
            if values.shape != (epochs,):
                raise CheckFailed(f"history[{key!r}] should hold one accuracy per epoch ({epochs}), got {describe(values)}")
            if abs(float(values[-1]) - float(final)) > 1e-9:
                raise CheckFailed(f"history[{key!r}][-1] = {float(values[-1]):.4f}, but the returned parameters give "
                                  f"{float(final):.4f} on the same images: record the accuracy after each epoch's steps")
        if options["learning_rate"] == 0:  # nothing may change: the learning rate must really be used
            if float(actual["parameters_moved"]) > 0:
                raise CheckFailed("with learning_rate=0 the parameters changed: every step must be scaled by the learning rate")
            return
        if not np.isfinite(loss).all():
            raise CheckFailed("the loss became NaN or inf: is the learning rate too high, or the softmax unstable?")
        k = max(1, len(loss) // 10)
        first, last = loss[:k].mean(), loss[-k:].mean()
        if not last < 0.5 * first:
            raise CheckFailed(f"the loss hardly decreased: first iterations {first:.3f}, last iterations {last:.3f}")
        want_lr = options["learning_rate"] * options["lr_decay"] ** np.arange(options["epochs"])
        if lr.shape != want_lr.shape or not np.allclose(lr, want_lr, rtol=1e-6):
            raise CheckFailed(
                f"history['lr'] should hold the learning rate used in each epoch, learning_rate * lr_decay**epoch "
                f"= {np.round(want_lr, 5)}, got {np.round(lr, 5) if lr.ndim == 1 else describe(lr)}"
            )
        if actual["val_accuracy"] < min_accuracy:
            raise CheckFailed(
                f"validation accuracy {float(actual['val_accuracy']):.3f} is below {min_accuracy} "
                f"(on {len(args[3])} digits after {options['epochs']} epochs)"
            )

    return compare


def _search_call(fn, args):
    X_train, y_train, X_val, y_val, hidden_sizes, learning_rates, epochs = args
    result = fn(X_train, y_train, X_val, y_val, hidden_sizes, learning_rates, epochs)
    if not isinstance(result, dict):
        raise CheckFailed(f"return a dict, got {describe(result)}")
    missing = {"val_accuracy", "best_hidden_size", "best_learning_rate", "best_params"} - set(result)
    if missing:
        raise CheckFailed(f"the result has no {sorted(missing)}")
    best_accuracy = float(np.mean(two_layer_scores(result["best_params"], X_val).argmax(axis=1) == y_val))
    return {
        "val_accuracy": np.asarray(result["val_accuracy"], dtype=np.float64),
        "best_hidden_size": float(result["best_hidden_size"]),
        "best_learning_rate": float(result["best_learning_rate"]),
        "best_params_val_accuracy": best_accuracy,
        "best_W1_columns": float(np.shape(result["best_params"]["W1"])[1]),
    }


def search_is_consistent(min_accuracy: float) -> Callable[[Any, Any, tuple], None]:
    def compare(actual, expected, args):
        hidden_sizes, learning_rates = args[4], args[5]
        table = actual["val_accuracy"]
        if table.shape != (len(hidden_sizes), len(learning_rates)):
            raise CheckFailed(
                f"val_accuracy should be a (len(hidden_sizes), len(learning_rates)) = "
                f"{(len(hidden_sizes), len(learning_rates))} table, got shape {table.shape}"
            )
        if not ((table >= 0) & (table <= 1)).all():
            raise CheckFailed("val_accuracy holds values outside [0, 1]: accuracies are fractions")
        best = float(table.max())
        chosen = [(i, j) for i, h in enumerate(hidden_sizes) for j, lr in enumerate(learning_rates)
                  if h == actual["best_hidden_size"] and np.isclose(lr, actual["best_learning_rate"])]
        if not chosen:
            raise CheckFailed(
                f"best_hidden_size={actual['best_hidden_size']:g}, best_learning_rate={actual['best_learning_rate']:g} "
                f"is not a combination of the grid {hidden_sizes} x {learning_rates}"
            )
        i, j = chosen[0]
        if table[i, j] < best:
            raise CheckFailed(
                f"hidden_size={hidden_sizes[i]}, learning_rate={learning_rates[j]} has validation accuracy "
                f"{table[i, j]:.3f} in your table, but the best entry is {best:.3f}"
            )
        if actual["best_W1_columns"] != hidden_sizes[i]:
            raise CheckFailed(f"best_params has {actual['best_W1_columns']:g} hidden units, the best size is {hidden_sizes[i]}")
        if abs(actual["best_params_val_accuracy"] - table[i, j]) > 0.02:
            raise CheckFailed(
                f"best_params reach {actual['best_params_val_accuracy']:.3f} on the validation set, "
                f"but the table says {table[i, j]:.3f}: return the parameters of the best run"
            )
        if table[i, j] < min_accuracy:
            raise CheckFailed(f"the best validation accuracy {table[i, j]:.3f} is below {min_accuracy}")

    return compare


# --------------------------------------------------------------------------- initialisation: property check


_TORCH_INIT = {
    "zero": torch.nn.init.zeros_,
    "small": lambda w: torch.nn.init.normal_(w, std=0.01),
    "xavier": torch.nn.init.xavier_normal_,
    "he": lambda w: torch.nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu"),
}


def _init_reference(fan_in, fan_out, scheme, rng):
    """The standard deviation of an nn.Linear weight (fan_out, fan_in) initialised by torch.nn.init."""
    w = torch.empty(fan_out, fan_in, dtype=torch.float64)
    _TORCH_INIT[scheme](w)
    return float(w.std())


def _init_call(fn, args):
    fan_in, fan_out, scheme, rng = args
    w = np.asarray(fn(fan_in, fan_out, scheme, rng))
    return {"shape": np.array(w.shape), "mean": float(w.mean()), "std": float(w.std())}


def init_matches_torch(actual, expected, args):
    fan_in, fan_out, scheme, _ = args
    if tuple(actual["shape"].tolist()) != (fan_in, fan_out):
        raise CheckFailed(f"expected a (fan_in, fan_out) = ({fan_in}, {fan_out}) matrix, got shape {tuple(actual['shape'].tolist())}")
    std, want = float(actual["std"]), float(expected)
    if want == 0.0:
        if std != 0.0 or float(actual["mean"]) != 0.0:
            raise CheckFailed("scheme 'zero' should give a matrix of zeros")
        return
    if abs(float(actual["mean"])) > 5 * want / np.sqrt(fan_in * fan_out):
        raise CheckFailed(f"scheme {scheme!r}: the weights should have mean 0, got mean {float(actual['mean']):.4g}")
    if abs(std / want - 1) > 0.03:
        raise CheckFailed(f"scheme {scheme!r}: expected standard deviation {want:.5f} (as torch.nn.init gives), got {std:.5f}")


# --------------------------------------------------------------------------- what each task must write itself

#: Gradients computed for you: automatic differentiation and the course's numerical gradients (which compute
#: exactly what a backward pass returns); the lab's gradient checks import those inside a function, after the tasks.
_AUTOGRAD = ("torch.autograd", "torch.func", ".backward", "jax", "cvcourse_utils.gradcheck.numerical_gradient",
             "cvcourse_utils.gradcheck.numerical_gradient_array")
#: Softmax, log-softmax, log-sum-exp and cross-entropy in one call.
_SOFTMAX = ("torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss", "torch.nn.functional.softmax",
            "torch.nn.functional.log_softmax", "torch.softmax", "torch.log_softmax", "torch.logsumexp",
            "torch.special.softmax", "torch.special.log_softmax", "torch.special.logsumexp", "torch.nn.CrossEntropyLoss",
            "torch.nn.NLLLoss", "torch.nn.Softmax", "torch.nn.LogSoftmax", ".softmax", ".log_softmax", ".logsumexp",
            "scipy.special", "sklearn.metrics.log_loss")
#: Ready-made networks and their training.
_NETWORKS = ("torch.nn.Linear", "torch.nn.Sequential", "torch.nn.functional.linear", "torch.nn.functional.relu", "torch.optim",
             "sklearn.neural_network", "sklearn.linear_model", "cvcourse_utils.models")


# --------------------------------------------------------------------------- the tasks, in notebook order

TASKS = (
    Task(
        name="affine_forward",
        function="affine_forward",
        forbidden=("torch.nn.functional.linear", "torch.nn.Linear", "torch.nn.functional.bilinear", "torch.addmm",
                   "sklearn.neural_network"),
        by_hand="flatten each example and compute x @ w + b yourself",
        cases=(
            Case("x (4, 5), w (5, 3)", affine_case(4, (5,), 3)),
            Case("images x (2, 3, 4, 4) are flattened", affine_case(2, (3, 4, 4), 6), seed=1),
        ),
        reference=_affine_forward_ref,
        compare=rel_close(),
        call=_forward_call,
    ),
    Task(
        name="affine_backward",
        function="affine_backward",
        forbidden=_AUTOGRAD,
        by_hand="derive dx, dw and db with matrix products yourself",
        cases=(
            Case("x (4, 5), w (5, 3)", affine_backward_case(4, (5,), 3)),
            Case("images x (2, 3, 4, 4): dx keeps x's shape", affine_backward_case(2, (3, 4, 4), 6), seed=1),
        ),
        reference=_affine_backward_ref,
        compare=rel_close(),
    ),
    Task(
        name="relu_forward",
        function="relu_forward",
        forbidden=("torch.relu", "torch.relu_", "torch.nn.functional.relu", "torch.nn.functional.relu_",
                   "torch.nn.functional.threshold", "torch.nn.ReLU", ".relu", ".relu_"),
        by_hand="compute max(0, x) yourself",
        cases=(Case("x (4, 6)", elementwise_case((4, 6))), Case("x (2, 3, 5)", elementwise_case((2, 3, 5)), seed=1)),
        reference=_elementwise_forward_ref(torch.relu, cache_is_output=False),
        compare=rel_close(),
        call=_forward_call,
    ),
    Task(
        name="relu_backward",
        function="relu_backward",
        forbidden=_AUTOGRAD,
        by_hand="let the gradient through where x > 0 yourself",
        cases=(
            Case("x (4, 6)", elementwise_backward_case((4, 6))),
            Case("x (2, 3, 5) with some x exactly 0 (gradient 0 there)", with_exact_zeros(elementwise_backward_case((2, 3, 5))), seed=1),
        ),
        reference=_elementwise_backward_ref(torch.relu),
        compare=rel_close(),
        call=_relu_backward_call,
    ),
    Task(
        name="sigmoid_forward",
        function="sigmoid_forward",
        forbidden=("scipy.special", "torch.sigmoid", "torch.special.expit", "torch.nn.functional.sigmoid",
                   "torch.nn.Sigmoid", ".sigmoid", "torch.nn.functional.logsigmoid"),
        by_hand="compute 1 / (1 + e^-x) without overflow yourself",
        cases=(Case("x (4, 6)", elementwise_case((4, 6), scale=3.0)),),
        reference=_elementwise_forward_ref(torch.sigmoid, cache_is_output=True),
        compare=rel_close(),
        call=_forward_call,
    ),
    Task(
        name="sigmoid_backward",
        function="sigmoid_backward",
        forbidden=_AUTOGRAD,
        by_hand="multiply dout by sigma (1 - sigma) from the cache yourself",
        cases=(Case("x (4, 6)", elementwise_backward_case((4, 6), scale=3.0)),),
        reference=_elementwise_backward_ref(torch.sigmoid),
        compare=rel_close(),
        call=_from_output_backward_call(_sigmoid_np),
    ),
    Task(
        name="tanh_forward",
        function="tanh_forward",
        forbidden=(),
        by_hand=("apply tanh and keep what the backward pass needs: tanh itself (np.tanh) is the building block, "
                 "nothing more ready-made answers it"),
        cases=(Case("x (4, 6)", elementwise_case((4, 6))),),
        reference=_elementwise_forward_ref(torch.tanh, cache_is_output=True),
        compare=rel_close(),
        call=_forward_call,
    ),
    Task(
        name="tanh_backward",
        function="tanh_backward",
        forbidden=_AUTOGRAD,
        by_hand="multiply dout by 1 - tanh^2 from the cache yourself",
        cases=(Case("x (4, 6)", elementwise_backward_case((4, 6))),),
        reference=_elementwise_backward_ref(torch.tanh),
        compare=rel_close(),
        call=_from_output_backward_call(np.tanh),
    ),
    Task(
        name="softmax_cross_entropy",
        function="softmax_cross_entropy",
        forbidden=(*_SOFTMAX, *_AUTOGRAD),
        by_hand="compute the shifted log-softmax, the loss and dscores yourself",
        cases=(
            Case("5 examples, 4 classes", softmax_case(5, 4)),
            Case("large scores (needs the max-subtraction trick)", softmax_case(6, 3, scale=50.0, offset=1000.0), seed=1),
        ),
        reference=_softmax_ref,
        compare=rel_close(),
    ),
    Task(
        name="two_layer_net",
        function="two_layer_net",
        forbidden=(*_NETWORKS, *_SOFTMAX, *_AUTOGRAD),
        by_hand="chain your own layers forward and backward yourself",
        cases=(
            Case("scores only (y is None)", two_layer_case(4, 5, 7, 3, with_labels=False)),
            Case("loss and gradients", two_layer_case(6, 5, 7, 3), seed=1),
            Case("with L2 regularisation reg=0.3", two_layer_case(6, 4, 10, 5, reg=0.3), seed=2),
        ),
        reference=_two_layer_ref,
        compare=rel_close(),
    ),
    Task(
        name="train_two_layer_net",
        function="train_two_layer_net",
        forbidden=(*_NETWORKS, *_AUTOGRAD),
        by_hand="write the mini-batch SGD loop with learning-rate decay yourself",
        cases=(
            Case(
                "600 digits, 8 epochs",
                train_case(600, 300, hidden_size=64, learning_rate=0.3, reg=1e-4, epochs=8, batch_size=50, lr_decay=0.9),
            ),
            Case(
                "learning_rate 0 leaves the network as it started (130 digits, batches of 60)",
                train_case(130, 100, hidden_size=16, learning_rate=0.0, reg=1e-4, epochs=2, batch_size=60, lr_decay=0.9),
                seed=1,
            ),
        ),
        reference=None,
        compare=trains_well(min_accuracy=0.85),
        call=_train_call,
    ),
    Task(
        name="search_two_layer_net",
        function="search_two_layer_net",
        forbidden=("sklearn.model_selection", "optuna", "ray", "hyperopt", *_NETWORKS),
        by_hand="train one network per (hidden size, learning rate) and keep the best yourself",
        cases=(Case("2 x 2 grid on 500 digits", search_case(500, 300, [16, 64], [0.001, 0.3], epochs=6)),),
        reference=None,
        compare=search_is_consistent(min_accuracy=0.8),
        call=_search_call,
    ),
    Task(
        name="init_weights_xavier_he",
        function="init_weights",
        forbidden=("torch.nn.init", "torch.nn.Linear", "keras", "tensorflow"),
        by_hand="compute each scheme's standard deviation and draw the weights yourself",
        cases=tuple(
            Case(f"{scheme}, fan_in 400, fan_out 300", init_case(400, 300, scheme), seed=i)
            for i, scheme in enumerate(("zero", "small", "xavier", "he"))
        ),
        reference=_init_reference,
        compare=init_matches_torch,
        call=_init_call,
    ),
    Task(
        name="deep_net_forward_backward",
        function="deep_net_forward_backward",
        forbidden=(*_NETWORKS, *_AUTOGRAD),
        by_hand="run your layers forward and then backward through the caches yourself",
        cases=(
            Case("4 ReLU layers", deep_net_case(8, 5, 6, 4, "relu", std=np.sqrt(2))),
            Case("3 tanh layers", deep_net_case(5, 4, 6, 3, "tanh", std=1.0), seed=1),
        ),
        reference=_deep_net_ref,
        compare=rel_close(),
    ),
)
