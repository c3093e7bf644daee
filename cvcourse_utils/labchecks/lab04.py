"""Lab 04 · Convolutional networks: the tasks, their public cases and library references.

The NumPy layers are checked against PyTorch: ``F.conv2d``, ``F.unfold`` / ``F.fold``
and ``F.max_pool2d`` for forward passes, autograd for backward passes. The PyTorch
tasks have no single right answer, so their checks run the student's code and test
properties: output shapes and layers of a built model, accuracy after a small fixed
training budget, the bookkeeping and the sampling of a random search.
"""
from __future__ import annotations

import math

import numpy as np

from cvcourse_utils.checking import Case, CheckFailed, Task, close, describe, equal, preview

# --------------------------------------------------------------------------- inputs


def conv_inputs(rng: np.random.Generator, n: int, c: int, h: int, w: int, f: int, kh: int, kw: int,
                stride: int, pad: int) -> tuple:
    """``(x, w, b, stride, pad)`` with x (n, c, h, w), w (f, c, kh, kw), b (f,), all float64."""
    return (rng.normal(size=(n, c, h, w)), rng.normal(size=(f, c, kh, kw)), rng.normal(size=f), stride, pad)


def conv_output_shape(x_shape: tuple, kh: int, kw: int, stride: int, pad: int) -> tuple[int, int]:
    """The spatial output size of a convolution, ``floor((H + 2 pad - kh) / stride) + 1`` (as PyTorch)."""
    return (x_shape[2] + 2 * pad - kh) // stride + 1, (x_shape[3] + 2 * pad - kw) // stride + 1


def im2col_inputs(rng: np.random.Generator, n: int, c: int, h: int, w: int, kh: int, kw: int, stride: int, pad: int):
    """``(x, kh, kw, stride, pad)`` for ``im2col``."""
    return (rng.normal(size=(n, c, h, w)), kh, kw, stride, pad)


def col2im_inputs(rng: np.random.Generator, n: int, c: int, h: int, w: int, kh: int, kw: int, stride: int, pad: int):
    """``(cols, x_shape, kh, kw, stride, pad)``: random columns shaped like ``im2col``'s output."""
    ho, wo = conv_output_shape((n, c, h, w), kh, kw, stride, pad)
    return (rng.normal(size=(n, c * kh * kw, ho * wo)), (n, c, h, w), kh, kw, stride, pad)


def conv_backward_inputs(rng: np.random.Generator, n: int, c: int, h: int, w: int, f: int, kh: int, kw: int,
                         stride: int, pad: int):
    """``(dout, x, w, b, stride, pad)`` with a random upstream gradient of the right shape."""
    x, weight, b, stride, pad = conv_inputs(rng, n, c, h, w, f, kh, kw, stride, pad)
    ho, wo = conv_output_shape(x.shape, kh, kw, stride, pad)
    return (rng.normal(size=(n, f, ho, wo)), x, weight, b, stride, pad)


def pool_inputs(rng: np.random.Generator, n: int, c: int, h: int, w: int, pool: int, stride: int):
    """``(x, pool, stride)``."""
    return (rng.normal(size=(n, c, h, w)), pool, stride)


def pool_backward_inputs(rng: np.random.Generator, n: int, c: int, h: int, w: int, pool: int, stride: int,
                         ties: bool = False):
    """``(dout, x, pool, stride)``. With ``ties``, x looks like a ReLU's output rounded to one decimal, so many
    windows hold their maximum twice (or are all 0): the gradient must go to the first maximum in
    row-major order, as PyTorch routes it."""
    ho, wo = (h - pool) // stride + 1, (w - pool) // stride + 1
    x = rng.normal(size=(n, c, h, w))
    if ties:
        x = np.maximum(np.round(x, 1), 0.0)
    return (rng.normal(size=(n, c, ho, wo)), x, pool, stride)


# --------------------------------------------------------------------------- references (library calls)


def _t(a):
    import torch

    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def _conv_reference(x, w, b, stride, pad):
    import torch.nn.functional as F

    return F.conv2d(_t(x), _t(w), _t(b), stride=stride, padding=pad)


def _unfold_reference(x, kh, kw, stride, pad):
    import torch.nn.functional as F

    return F.unfold(_t(x), (kh, kw), padding=pad, stride=stride)


def _fold_reference(cols, x_shape, kh, kw, stride, pad):
    import torch.nn.functional as F

    return F.fold(_t(cols), tuple(x_shape[2:]), (kh, kw), padding=pad, stride=stride)


def _conv_backward_reference(dout, x, w, b, stride, pad):
    import torch.nn.functional as F

    xt, wt, bt = (_t(a).requires_grad_() for a in (x, w, b))
    F.conv2d(xt, wt, bt, stride=stride, padding=pad).backward(_t(dout))
    return xt.grad, wt.grad, bt.grad


def _receptive_field_reference(layers):
    """Measured, not computed: the input pixels whose gradient reaches one output unit of a chain of
    convolutions with all-ones kernels (1-D, since the receptive field is the same along each axis)."""
    import torch
    import torch.nn.functional as F

    layers = [(int(k), int(s)) for k, s in np.asarray(layers).reshape(-1, 2)]
    size = 1
    for k, s in reversed(layers):  # an input just large enough for one output unit
        size = (size - 1) * s + k
    x = torch.ones(1, 1, size + 8, dtype=torch.float64, requires_grad=True)
    out = x
    for k, s in layers:
        out = F.conv1d(out, torch.ones(1, 1, k, dtype=torch.float64), stride=s)
    out[0, 0, 0].backward()
    return int((x.grad[0, 0] != 0).sum())


def _max_pool_reference(x, pool, stride):
    import torch.nn.functional as F

    return F.max_pool2d(_t(x), pool, stride)


def _max_pool_backward_reference(dout, x, pool, stride):
    import torch.nn.functional as F

    xt = _t(x).requires_grad_()
    F.max_pool2d(xt, pool, stride).backward(_t(dout))
    return xt.grad


# --------------------------------------------------------------------------- build_cnn: a property check


def run_build_cnn(fn, args) -> dict:
    """Build the student's model, run it on random images and report what a check needs (plain data)."""
    import torch
    from torch import nn

    in_channels, num_classes, batchnorm, dropout, image_size = args
    torch.manual_seed(0)
    model = fn(in_channels, num_classes, batchnorm=batchnorm, dropout=dropout)
    if not isinstance(model, nn.Module):
        raise TypeError(f"build_cnn must return an nn.Module, got {type(model).__name__}")
    x = torch.rand(4, in_channels, image_size, image_size)
    model.eval()
    with torch.no_grad():
        first, second = model(x), model(x)
    model.train()
    model.zero_grad()
    model(x).logsumexp(dim=1).sum().backward()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    first_grad = convs[0].weight.grad if convs else None
    return {
        "output_shape": list(first.shape),
        "parameters": sum(p.numel() for p in model.parameters()),
        "conv_layers": len(convs),
        "batchnorm_layers": sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()),
        "dropout_p": max([float(m.p) for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)] + [0.0]),
        "eval_is_repeatable": bool(torch.equal(first, second)),
        "first_conv_gets_gradient": bool(first_grad is not None and first_grad.abs().sum() > 0),
    }


MIN_PARAMETERS, MAX_PARAMETERS = 5_000, 2_000_000


def compare_build_cnn(actual, expected, args) -> None:
    in_channels, num_classes, batchnorm, dropout, image_size = args
    shape = [int(s) for s in actual["output_shape"]]
    if shape != [4, num_classes]:
        raise CheckFailed(f"a batch of 4 images (4, {in_channels}, {image_size}, {image_size}) should give logits "
                          f"of shape (4, {num_classes}), got {tuple(shape)}")
    params = int(actual["parameters"])
    if not MIN_PARAMETERS <= params <= MAX_PARAMETERS:
        raise CheckFailed(f"{params:,} parameters: aim for between {MIN_PARAMETERS:,} and {MAX_PARAMETERS:,} "
                          "(a few conv layers of 16-128 channels)")
    if int(actual["conv_layers"]) < 2:
        raise CheckFailed(f"found {int(actual['conv_layers'])} nn.Conv2d layers; a CNN here has at least two")
    bn = int(actual["batchnorm_layers"])
    if batchnorm and bn == 0:
        raise CheckFailed("batchnorm=True but the model has no nn.BatchNorm2d layer")
    if not batchnorm and bn > 0:
        raise CheckFailed(f"batchnorm=False but the model has {bn} BatchNorm layers")
    if not math.isclose(float(actual["dropout_p"]), dropout, abs_tol=1e-9):
        raise CheckFailed(f"dropout={dropout} but the largest nn.Dropout probability in the model is "
                          f"{float(actual['dropout_p'])} (use nn.Dropout(dropout), and no Dropout layer when it is 0)")
    if not bool(actual["eval_is_repeatable"]):
        raise CheckFailed("in eval mode two forward passes on the same images differ: is something random outside nn.Dropout?")
    if not bool(actual["first_conv_gets_gradient"]):
        raise CheckFailed("no gradient reaches the first convolution's weights: is the graph cut (e.g. .detach(), no_grad)?")


# --------------------------------------------------------------------------- train_cnn: a property check


# The fixed budget of the train_cnn check: easy shapes (each class has its own colour), a width-8
# SmallCNN, batches of 16, 100 validation images. A working train_cnn reaches 0.83 to 1.0 after 3 epochs
# on 320 images for every optimiser and seed tried; chance is 0.2.
SHAPES_FOR_CHECKS = dict(difficulty="easy", image_size=32)
CHECK_BATCH_SIZE = 16
CHECK_VAL_IMAGES = 100


def run_train_cnn(fn, args) -> dict:
    """Train a fixed reference model with the student's ``train_cnn`` on a tiny shapes set; report the history."""
    import torch

    from cvcourse_utils.datasets import load_dataset
    from cvcourse_utils.models import SmallCNN
    from cvcourse_utils.seeding import seed_everything

    optimizer, lr, weight_decay, epochs, n_train, seed = args
    seed_everything(seed)
    train_set = load_dataset("shapes", "train", n=n_train, seed=seed, **SHAPES_FOR_CHECKS)
    val_set = load_dataset("shapes", "val", n=CHECK_VAL_IMAGES, seed=seed, **SHAPES_FOR_CHECKS)
    model = SmallCNN(3, len(train_set.classes), width=8)
    before = [p.detach().clone() for p in model.parameters()]
    # Watch the call to `fit` (the notebook's, in the function's globals) to see the optimiser and schedule built.
    seen: dict = {}
    namespace = getattr(fn, "__globals__", {})
    real_fit = namespace.get("fit")

    def watched_fit(*fit_args, **fit_kwargs):
        opt = fit_kwargs.get("optimizer", fit_args[2] if len(fit_args) > 2 else None)
        group = opt.param_groups[0] if isinstance(opt, torch.optim.Optimizer) else {}
        seen.update(optimizer=type(opt).__name__, momentum=float(group.get("momentum", 0.0)),
                    nesterov=bool(group.get("nesterov", False)), weight_decay=float(group.get("weight_decay", -1.0)),
                    scheduler=type(fit_kwargs.get("scheduler")).__name__)
        return real_fit(*fit_args, **fit_kwargs)

    if callable(real_fit):
        namespace["fit"] = watched_fit
    try:
        history = fn(model, train_set, val_set, epochs=epochs, lr=lr, weight_decay=weight_decay,
                     optimizer=optimizer, batch_size=CHECK_BATCH_SIZE, seed=seed)
    except ValueError as err:
        return {"raised": "ValueError", "message": str(err)[:200]}
    finally:
        if callable(real_fit):
            namespace["fit"] = real_fit
    if not isinstance(history, dict) or "val_accuracy" not in history:
        raise TypeError("train_cnn must return the History dict from fit (with a 'val_accuracy' list)")
    moved = any(not torch.equal(b, p.detach()) for b, p in zip(before, model.parameters()))
    return {"val_accuracy": [float(a) for a in history["val_accuracy"]], "lr": [float(a) for a in history.get("lr", [])],
            "parameters_changed": bool(moved), "classes": len(train_set.classes), "built": seen}


# What each optimiser name must build: torch.optim class, momentum, nesterov.
OPTIMIZER_SETTINGS = {"sgd": ("SGD", 0.0, False), "momentum": ("SGD", 0.9, False), "nesterov": ("SGD", 0.9, True),
                      "adagrad": ("Adagrad", 0.0, False), "rmsprop": ("RMSprop", 0.0, False), "adam": ("Adam", 0.0, False)}


TRAIN_CNN_BAR = 0.75


def compare_train_cnn(actual, expected, args) -> None:
    optimizer, lr, weight_decay, epochs, n_train, seed = args
    if optimizer not in OPTIMIZER_SETTINGS:
        if actual.get("raised") != "ValueError":
            raise CheckFailed(f"optimizer={optimizer!r} is no known optimiser: train_cnn must raise ValueError naming the choices")
        return
    if "raised" in actual:
        raise CheckFailed(f"optimizer={optimizer!r} raised ValueError: {actual.get('message')}")
    built = actual.get("built") or {}
    if not built:
        raise CheckFailed("train_cnn must train with the notebook's `fit(model, train_loader, optimizer, ...)`")
    name, momentum, nesterov = OPTIMIZER_SETTINGS[optimizer]
    got = (str(built["optimizer"]), float(built["momentum"]), bool(built["nesterov"]))
    if got[0] != name or abs(got[1] - momentum) > 1e-12 or got[2] != nesterov:
        raise CheckFailed(f"optimizer={optimizer!r} must build torch.optim.{name} (momentum {momentum:g}, nesterov {nesterov}); "
                          f"got {got[0]} (momentum {got[1]:g}, nesterov {got[2]})")
    if abs(float(built["weight_decay"]) - weight_decay) > 1e-15:
        raise CheckFailed(f"weight_decay={weight_decay:g} but the optimiser has weight_decay {float(built['weight_decay']):g}")
    rates = np.asarray(actual["lr"], dtype=np.float64)
    cosine = lr * (1 + np.cos(np.pi * np.arange(epochs) / epochs)) / 2
    if rates.shape != cosine.shape or not np.allclose(rates, cosine, rtol=1e-6, atol=0):
        raise CheckFailed(f"the learning rate per epoch must follow a cosine schedule from lr={lr:g} over {epochs} epochs "
                          f"(CosineAnnealingLR(opt, T_max=epochs)): expected {preview(cosine)}, got {preview(rates)}")
    accs = [float(a) for a in actual["val_accuracy"]]
    if not bool(actual["parameters_changed"]):
        raise CheckFailed("the model's parameters did not change: train the model you were given, in place")
    if len(accs) != epochs:
        raise CheckFailed(f"epochs={epochs} but the history has {len(accs)} validation accuracies: pass val_loader to fit")
    chance = 1.0 / int(actual["classes"])
    if accs[-1] < TRAIN_CNN_BAR:
        raise CheckFailed(f"optimizer={optimizer!r}, lr={lr:g}: validation accuracy after {epochs} epochs on easy shapes is "
                          f"{accs[-1]:.3f} (chance is {chance:.2f}); a working training function reaches {TRAIN_CNN_BAR} "
                          f"(history: {', '.join(f'{a:.2f}' for a in accs)})")


# --------------------------------------------------------------------------- random_search: a property check


def bumpy_objective(lr: float, weight_decay: float, best_lr: float = 3e-3, best_wd: float = 1e-4) -> float:
    """A made-up 'validation accuracy' that peaks at (best_lr, best_wd) on log axes; cheap and deterministic."""
    d_lr = math.log10(lr / best_lr)
    d_wd = math.log10(weight_decay / best_wd)
    return 0.5 + 0.45 * math.exp(-d_lr**2 - 0.25 * d_wd**2)


def search_inputs(n_trials: int, lr_range: tuple[float, float], wd_range: tuple[float, float], seed: int,
                  best_lr: float = 3e-3, best_wd: float = 1e-4):
    """``(evaluate, n_trials, lr_range, wd_range, seed)`` with a :func:`bumpy_objective` to maximise."""
    import functools

    return (functools.partial(bumpy_objective, best_lr=best_lr, best_wd=best_wd), n_trials, lr_range, wd_range, seed)


def run_random_search(fn, args) -> dict:
    """Run the search twice with the same seed (it must repeat) and once with another; count the evaluations."""
    evaluate, n_trials, lr_range, wd_range, seed = args
    calls = []

    def counted(lr, weight_decay):
        calls.append((float(lr), float(weight_decay)))
        return evaluate(float(lr), float(weight_decay))

    trials = fn(counted, n_trials, lr_range, wd_range, seed)
    n_calls = len(calls)
    again = fn(counted, n_trials, lr_range, wd_range, seed)
    other = fn(counted, n_trials, lr_range, wd_range, seed + 1)
    if not isinstance(trials, list) or not all(isinstance(t, dict) for t in trials):
        raise TypeError("random_search must return a list of dicts {'lr', 'weight_decay', 'val_accuracy'}")

    def table(ts):
        return [[float(t["lr"]), float(t["weight_decay"]), float(t["val_accuracy"])] for t in ts]

    return {"trials": table(trials), "calls": n_calls, "same_seed_repeats": table(again) == table(trials),
            "other_seed_differs": table(other) != table(trials)}


def compare_random_search(actual, expected, args) -> None:
    evaluate, n_trials, (lr_lo, lr_hi), (wd_lo, wd_hi), seed = args
    trials = np.asarray(actual["trials"], dtype=np.float64).reshape(-1, 3)
    if len(trials) != n_trials:
        raise CheckFailed(f"n_trials={n_trials} but {len(trials)} trials were returned")
    if int(actual["calls"]) != n_trials:
        raise CheckFailed(f"evaluate was called {int(actual['calls'])} times for n_trials={n_trials}")
    lr, wd, score = trials.T
    if not ((lr >= lr_lo) & (lr <= lr_hi)).all() or not ((wd >= wd_lo) & (wd <= wd_hi)).all():
        raise CheckFailed(f"sampled values fall outside lr_range={(lr_lo, lr_hi)} or wd_range={(wd_lo, wd_hi)}")
    true_score = np.array([evaluate(a, b) for a, b in zip(lr, wd)])
    if not np.allclose(score, true_score, atol=1e-9):
        raise CheckFailed("a trial's 'val_accuracy' is not what evaluate(lr, weight_decay) returned for its lr and weight_decay")
    if (np.diff(score) > 1e-12).any():
        raise CheckFailed("trials must be sorted best first (highest val_accuracy first)")
    if not bool(actual["same_seed_repeats"]):
        raise CheckFailed("two searches with the same seed gave different trials: use np.random.default_rng(seed)")
    if not bool(actual["other_seed_differs"]):
        raise CheckFailed("a different seed gave the same trials: draw the values from np.random.default_rng(seed)")
    if n_trials < 50:  # too few samples to judge how they are spread
        return
    for name, values, lo, hi in (("lr", lr, lr_lo, lr_hi), ("weight_decay", wd, wd_lo, wd_hi)):
        low_half = float(np.mean(np.log(values) < 0.5 * (math.log(lo) + math.log(hi))))
        if not 0.3 <= low_half <= 0.7:
            raise CheckFailed(f"{low_half:.0%} of the {name} samples lie in the lower half of the range on a log scale; "
                              "sample log-uniformly (uniform in log10) so that each decade gets its share")


# --------------------------------------------------------------------------- BatchNorm and dropout


def batchnorm_inputs(rng: np.random.Generator, shape: tuple, train: bool, momentum: float = 0.1, eps: float = 1e-5):
    """``(x, gamma, beta, running_mean, running_var, train, momentum, eps)``; x (N, D) or (N, C, H, W)."""
    c = shape[1]
    x = 3.0 + 2.0 * rng.normal(size=shape)  # not centred, not unit variance: the normalisation must show
    return (x, rng.normal(1.0, 0.3, size=c), rng.normal(0.0, 0.5, size=c), rng.normal(size=c), rng.uniform(0.5, 2.0, size=c),
            train, momentum, eps)


def _batchnorm_reference(x, gamma, beta, running_mean, running_var, train, momentum, eps):
    import torch.nn.functional as F

    mean, var = _t(running_mean).clone(), _t(running_var).clone()  # F.batch_norm updates these in place
    out = F.batch_norm(_t(x), mean, var, _t(gamma), _t(beta), training=bool(train), momentum=momentum, eps=eps)
    return out, mean, var


def batchnorm_backward_inputs(rng: np.random.Generator, shape: tuple, eps: float = 1e-5):
    """``(dout, x, gamma, eps)``."""
    x, gamma, *_ = batchnorm_inputs(rng, shape, True)
    return rng.normal(size=shape), x, gamma, eps


def _batchnorm_backward_reference(dout, x, gamma, eps):
    import torch.nn.functional as F

    xt, gt = _t(x).requires_grad_(), _t(gamma).requires_grad_()
    bt = _t(np.zeros_like(gamma)).requires_grad_()
    F.batch_norm(xt, None, None, gt, bt, training=True, eps=eps).backward(_t(dout))
    return xt.grad, gt.grad, bt.grad


def run_dropout_forward(fn, args) -> dict:
    """Run the student's dropout twice with one seed and once with another; report the masks and outputs."""
    x, p, train, seed = args
    out, mask = fn(x, p, train, np.random.default_rng(seed))
    out_again, mask_again = fn(x, p, train, np.random.default_rng(seed))
    _, mask_other = fn(x, p, train, np.random.default_rng(seed + 1))
    mask, mask_again, mask_other = (np.asarray(m) for m in (mask, mask_again, mask_other))
    return {"out": np.asarray(out), "mask": mask, "same_seed_repeats": bool(np.array_equal(mask, mask_again)),
            "other_seed_differs": bool(not np.array_equal(mask, mask_other))}


def compare_dropout_forward(actual, expected, args) -> None:
    x, p, train, seed = args
    out, mask = actual["out"], actual["mask"]
    if mask.dtype != np.bool_ or mask.shape != x.shape:
        raise CheckFailed(f"mask must be a boolean array shaped like x {x.shape} (True = kept); got {describe(mask)}")
    if out.shape != x.shape:
        raise CheckFailed(f"out must be shaped like x {x.shape}; got {out.shape}")
    if not train:
        if not (mask.all() and np.array_equal(out, x)):
            raise CheckFailed("at test time (train=False) dropout must return x unchanged and keep every unit")
        return
    want = np.where(mask, x / (1 - p), 0.0)
    if not np.allclose(out, want, rtol=1e-12, atol=1e-12):
        raise CheckFailed("out must be x * mask / (1 - p) (inverted dropout: the kept units are scaled up by 1 / (1 - p))")
    dropped, n = 1.0 - mask.mean(), mask.size
    margin = 5 * math.sqrt(p * (1 - p) / n) + 1e-12
    if abs(dropped - p) > margin:
        raise CheckFailed(f"p={p:g} but {dropped:.3f} of the {n} units were dropped: drop each unit with probability p")
    if not bool(actual["same_seed_repeats"]) or (0 < p and not bool(actual["other_seed_differs"])):
        raise CheckFailed("draw the mask from the generator `rng` you are given (the same seed must give the same mask, "
                          "another seed another mask)")


def _dropout_backward_reference(dout, mask, p):
    import torch

    x = torch.zeros(mask.shape, dtype=torch.float64, requires_grad=True)
    (x * torch.from_numpy(np.asarray(mask)) / (1 - p)).backward(_t(dout))
    return x.grad


def dropout_backward_inputs(rng: np.random.Generator, shape: tuple, p: float):
    """``(dout, mask, p)`` with a mask that keeps each unit with probability 1 - p."""
    return rng.normal(size=shape), rng.random(shape) >= p, p


# --------------------------------------------------------------------------- optimisers by hand

OPTIMIZER_TASKS = {  # task -> (torch.optim class, how the task's config keys map to its arguments, the task's defaults)
    "sgd_momentum_update": ("SGD", {"learning_rate": "lr", "momentum": "momentum"},
                            {"learning_rate": 1e-2, "momentum": 0.9}),
    "rmsprop_update": ("RMSprop", {"learning_rate": "lr", "decay_rate": "alpha", "epsilon": "eps"},
                       {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8}),
    "adam_update": ("Adam", {"learning_rate": "lr", "beta1": "betas0", "beta2": "betas1", "epsilon": "eps"},
                    {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}),
}


def optimizer_inputs(rng: np.random.Generator, shape: tuple, steps: int, **config):
    """``(w, grads, config)``: start weights, one gradient per step (steps, *shape), and the hyper-parameters."""
    scale = rng.uniform(0.1, 10.0, size=shape)  # gradients of very different scales, as in a real network
    return rng.normal(size=shape), scale * rng.normal(size=(steps, *shape)), dict(config)


def run_optimizer(fn, args) -> np.ndarray:
    """The weights after each step of the student's update rule: (steps, *shape)."""
    w, grads, config = args
    config, weights = dict(config), []
    for g in grads:
        w, config = fn(np.array(w, dtype=np.float64), np.array(g, dtype=np.float64), config)
        weights.append(np.array(w, dtype=np.float64))
    return np.stack(weights)


def _optimizer_reference(name: str):
    def reference(w, grads, config):
        import torch

        cls, mapping, defaults = OPTIMIZER_TASKS[name]
        kwargs: dict = {}
        for key, value in {**defaults, **config}.items():
            kwargs[mapping[key]] = value
        if "betas0" in kwargs or "betas1" in kwargs:
            kwargs["betas"] = (kwargs.pop("betas0", 0.9), kwargs.pop("betas1", 0.999))
        param = torch.nn.Parameter(_t(w).clone())
        opt = getattr(torch.optim, cls)([param], **kwargs)
        weights = []
        for g in grads:
            param.grad = _t(g).clone()
            opt.step()
            weights.append(param.detach().clone())
        return torch.stack(weights)

    return reference


# --------------------------------------------------------------------------- tasks, in notebook order

_FORWARD_CASES = (
    Case("2x3x5x5 input, 4 filters 3x3, stride 1, pad 0", lambda rng: conv_inputs(rng, 2, 3, 5, 5, 4, 3, 3, 1, 0)),
    Case("2x3x6x6 input, 4 filters 3x3, stride 1, pad 1 ('same')", lambda rng: conv_inputs(rng, 2, 3, 6, 6, 4, 3, 3, 1, 1), seed=1),
    Case("1x2x7x7 input, 3 filters 3x3, stride 2, pad 1", lambda rng: conv_inputs(rng, 1, 2, 7, 7, 3, 3, 3, 2, 1), seed=2),
    Case("2x1x8x6 input, 2 filters 5x3, stride 2, pad 0", lambda rng: conv_inputs(rng, 2, 1, 8, 6, 2, 5, 3, 2, 0), seed=3),
)

# --------------------------------------------------------------------------- what each task must write itself

#: Gradients computed for you: automatic differentiation and the course's numerical gradients (which compute
#: exactly what a backward pass returns); the lab's gradient checks import those inside a function, after the tasks.
_AUTOGRAD = ("torch.autograd", "torch.func", ".backward", "torch.nn.grad", "jax",
             "cvcourse_utils.gradcheck.numerical_gradient", "cvcourse_utils.gradcheck.numerical_gradient_array")
#: PyTorch's im2col / col2im.
_UNFOLD = ("torch.nn.functional.unfold", "torch.nn.functional.fold", "torch.nn.Unfold", "torch.nn.Fold", ".unfold")
#: A convolution in one call.
_CONVOLUTIONS = ("scipy.signal", "scipy.ndimage", "torch.nn.functional.conv1d", "torch.nn.functional.conv2d",
                 "torch.nn.functional.conv3d", "torch.conv1d", "torch.conv2d", "torch.conv3d", "torch.convolution",
                 "torch.nn.functional.conv_transpose1d", "torch.nn.functional.conv_transpose2d",
                 "torch.nn.functional.conv_transpose3d", "torch.conv_transpose2d", "torch.nn.Conv1d", "torch.nn.Conv2d",
                 "torch.nn.Conv3d", "torch.nn.ConvTranspose2d", "torch.nn.LazyConv2d", "cv2", "skimage")
#: Max-pooling in one call.
_POOLING = ("torch.nn.functional.max_pool1d", "torch.nn.functional.max_pool2d", "torch.nn.functional.max_pool3d",
            "torch.nn.functional.max_pool2d_with_indices", "torch.max_pool2d", "torch.nn.functional.adaptive_max_pool2d",
            "torch.nn.functional.max_unpool2d", "torch.nn.functional.fractional_max_pool2d", "torch.nn.MaxPool2d",
            "torch.nn.AdaptiveMaxPool2d", "torch.nn.MaxUnpool2d", "scipy.ndimage", "skimage")
#: Batch normalisation in one call.
_BATCHNORM = ("torch.nn.functional.batch_norm", "torch.batch_norm", "torch.native_batch_norm",
              "torch.nn.functional.instance_norm", "torch.nn.modules.batchnorm", "torch.nn.BatchNorm1d",
              "torch.nn.BatchNorm2d", "torch.nn.BatchNorm3d", "sklearn.preprocessing", "scipy.stats.zscore")
#: Dropout in one call.
_DROPOUT = ("torch.nn.functional.dropout", "torch.nn.functional.dropout1d", "torch.nn.functional.dropout2d",
            "torch.nn.functional.alpha_dropout", "torch.dropout", "torch.nn.Dropout", "torch.nn.Dropout2d")
#: Ready-made optimisers (``train_cnn`` uses them; the update rules write them).
_OPTIMISERS = ("torch.optim", "optax")
#: Ready-made networks and trainers.
_READY_NETWORKS = ("cvcourse_utils.models", "torchvision.models", "timm")
_TRAINERS = ("lightning", "pytorch_lightning", "skorch", "ignite", "accelerate")


TASKS = (
    Task(
        name="conv_forward_naive",
        function="conv_forward_naive",
        forbidden=(*_CONVOLUTIONS, *_UNFOLD),
        by_hand="slide each filter over the padded images with loops yourself",
        cases=_FORWARD_CASES,
        reference=_conv_reference,
        compare=close(atol=1e-5, rtol=1e-5),
    ),
    Task(
        name="im2col",
        function="im2col",
        forbidden=_UNFOLD,
        by_hand="gather every window of the padded images into columns yourself",
        cases=(
            Case("1x1x3x3 input, 2x2 windows, stride 1", lambda rng: im2col_inputs(rng, 1, 1, 3, 3, 2, 2, 1, 0)),
            Case("2x2x5x5 input, 3x3 windows, stride 2, pad 1", lambda rng: im2col_inputs(rng, 2, 2, 5, 5, 3, 3, 2, 1), seed=1),
        ),
        reference=_unfold_reference,
        compare=close(atol=1e-12, rtol=0),
    ),
    Task(
        name="conv_forward_im2col",
        function="conv_forward_im2col",
        forbidden=(*_CONVOLUTIONS, *_UNFOLD),
        by_hand="multiply the filters with your im2col columns yourself",
        vectorised=True,  # graded on its source too: no Python loops
        loops_allowed_in=('im2col', 'col2im'),  # they loop over the kernel offsets, not the data
        cases=_FORWARD_CASES,
        reference=_conv_reference,
        compare=close(atol=1e-5, rtol=1e-5),
    ),
    Task(
        name="receptive_field",
        function="receptive_field",
        forbidden=(),
        by_hand=("grow the field layer by layer from kernels and strides yourself: no library computes a receptive "
                 "field"),
        cases=(
            Case("three 3x3 convolutions, stride 1 (VGG's argument)", lambda rng: (np.array([[3, 1], [3, 1], [3, 1]]),)),
            Case("LeNet-5: 5x5 conv, 2x2 pool, 5x5 conv, 2x2 pool", lambda rng: (np.array([[5, 1], [2, 2], [5, 1], [2, 2]]),)),
        ),
        reference=_receptive_field_reference,
        compare=equal(dtype="integer"),
    ),
    Task(
        name="conv_backward_naive",
        function="conv_backward_naive",
        forbidden=(*_CONVOLUTIONS, *_UNFOLD, *_AUTOGRAD),
        by_hand="accumulate dx, dw and db window by window yourself",
        cases=(
            Case("2x3x5x5 input, 4 filters 3x3, stride 1, pad 1", lambda rng: conv_backward_inputs(rng, 2, 3, 5, 5, 4, 3, 3, 1, 1)),
            Case("1x2x7x7 input, 3 filters 3x3, stride 2, pad 0", lambda rng: conv_backward_inputs(rng, 1, 2, 7, 7, 3, 3, 3, 2, 0), seed=1),
        ),
        reference=_conv_backward_reference,
        compare=close(atol=1e-8, rtol=1e-6),
    ),
    Task(
        name="col2im",
        function="col2im",
        forbidden=(*_UNFOLD, *_AUTOGRAD),
        by_hand="add each column back into its window of the padded image yourself",
        cases=(
            Case("columns of a 1x1x3x3 input, 2x2 windows, stride 1 (overlaps add up)",
                 lambda rng: col2im_inputs(rng, 1, 1, 3, 3, 2, 2, 1, 0)),
            Case("columns of a 2x2x5x5 input, 3x3 windows, stride 2, pad 1",
                 lambda rng: col2im_inputs(rng, 2, 2, 5, 5, 3, 3, 2, 1), seed=1),
        ),
        reference=_fold_reference,
        compare=close(atol=1e-10, rtol=1e-10),
    ),
    Task(
        name="conv_backward_im2col",
        function="conv_backward_im2col",
        forbidden=(*_CONVOLUTIONS, *_UNFOLD, *_AUTOGRAD),
        by_hand="compute dw and dx with matrix products and your col2im yourself",
        vectorised=True,  # graded on its source too: no Python loops
        loops_allowed_in=('im2col', 'col2im'),  # they loop over the kernel offsets, not the data
        cases=(
            Case("2x3x5x5 input, 4 filters 3x3, stride 1, pad 1", lambda rng: conv_backward_inputs(rng, 2, 3, 5, 5, 4, 3, 3, 1, 1)),
            Case("1x2x7x7 input, 3 filters 3x3, stride 2, pad 0", lambda rng: conv_backward_inputs(rng, 1, 2, 7, 7, 3, 3, 3, 2, 0), seed=1),
        ),
        reference=_conv_backward_reference,
        compare=close(atol=1e-8, rtol=1e-6),
    ),
    Task(
        name="max_pool_forward",
        function="max_pool_forward",
        forbidden=_POOLING,
        by_hand="take the maximum of every pooling window yourself",
        cases=(
            Case("2x3x4x4 input, 2x2 pool, stride 2", lambda rng: pool_inputs(rng, 2, 3, 4, 4, 2, 2)),
            Case("1x2x5x7 input, 3x3 pool, stride 2 (overlapping windows)", lambda rng: pool_inputs(rng, 1, 2, 5, 7, 3, 2), seed=1),
        ),
        reference=_max_pool_reference,
        compare=close(atol=1e-12, rtol=0),
    ),
    Task(
        name="max_pool_backward",
        function="max_pool_backward",
        forbidden=(*_POOLING, *_AUTOGRAD),
        by_hand="route each gradient to the maximum of its window yourself",
        cases=(
            Case("2x3x4x4 input, 2x2 pool, stride 2", lambda rng: pool_backward_inputs(rng, 2, 3, 4, 4, 2, 2)),
            Case("1x2x5x7 input, 3x3 pool, stride 2 (overlapping windows)",
                 lambda rng: pool_backward_inputs(rng, 1, 2, 5, 7, 3, 2), seed=1),
            Case("ties after ReLU (2x2x6x6, 2x2 pool, stride 2): the first maximum gets the gradient",
                 lambda rng: pool_backward_inputs(rng, 2, 2, 6, 6, 2, 2, ties=True), seed=2),
        ),
        reference=_max_pool_backward_reference,
        compare=close(atol=1e-10, rtol=1e-8),
    ),
    Task(
        name="build_cnn",
        function="build_cnn",
        forbidden=(*_READY_NETWORKS, *_TRAINERS),
        by_hand="stack the convolution, normalisation, pooling and linear layers yourself",
        cases=(
            Case("RGB 32x32 images, 5 classes, BatchNorm, no dropout", lambda rng: (3, 5, True, 0.0, 32)),
            Case("grey 28x28 images, 10 classes, no BatchNorm, dropout 0.3", lambda rng: (1, 10, False, 0.3, 28)),
        ),
        reference=None,
        compare=compare_build_cnn,
        call=run_build_cnn,
    ),
    Task(
        name="train_cnn",
        function="train_cnn",
        forbidden=(*_READY_NETWORKS, *_TRAINERS),
        by_hand="build the optimiser, the scheduler and the loaders and train with `fit` yourself",
        cases=(
            Case("Adam, lr 3e-3, 3 epochs on 320 easy shapes", lambda rng: ("adam", 3e-3, 0.0, 3, 320, 0)),
            Case("SGD with momentum, lr 0.02, weight decay 5e-4, 3 epochs", lambda rng: ("momentum", 0.02, 5e-4, 3, 320, 1)),
            Case("an unknown optimiser name raises ValueError", lambda rng: ("lbfgs", 1e-3, 0.0, 1, 32, 0)),
        ),
        reference=None,
        compare=compare_train_cnn,
        call=run_train_cnn,
    ),
    Task(
        name="batchnorm_forward",
        function="batchnorm_forward",
        forbidden=_BATCHNORM,
        by_hand="normalise with the batch (or running) statistics and update the running ones yourself",
        cases=(
            Case("training, 8 x 5 features", lambda rng: batchnorm_inputs(rng, (8, 5), True)),
            Case("evaluation: the running statistics, not the batch's", lambda rng: batchnorm_inputs(rng, (6, 3), False), seed=1),
            Case("training, images 4 x 3 x 5 x 5 (statistics per channel)", lambda rng: batchnorm_inputs(rng, (4, 3, 5, 5), True),
                 seed=2),
        ),
        reference=_batchnorm_reference,
        compare=close(atol=1e-10, rtol=1e-8, dtype="floating"),
    ),
    Task(
        name="batchnorm_backward",
        function="batchnorm_backward",
        forbidden=(*_BATCHNORM, *_AUTOGRAD),
        by_hand="derive dx, dgamma and dbeta of batch normalisation yourself",
        cases=(
            Case("8 x 5 features", lambda rng: batchnorm_backward_inputs(rng, (8, 5))),
            Case("images 3 x 2 x 4 x 4", lambda rng: batchnorm_backward_inputs(rng, (3, 2, 4, 4)), seed=1),
        ),
        reference=_batchnorm_backward_reference,
        compare=close(atol=1e-9, rtol=1e-7),
    ),
    Task(
        name="dropout_forward",
        function="dropout_forward",
        forbidden=_DROPOUT,
        by_hand="draw the keep mask and scale the kept values yourself",
        cases=(
            Case("training, p = 0.5 on 20,000 units", lambda rng: (rng.normal(size=(100, 200)), 0.5, True, 3)),
            Case("training, p = 0.2, images 8 x 3 x 16 x 16", lambda rng: (rng.normal(size=(8, 3, 16, 16)), 0.2, True, 4), seed=1),
            Case("test time: the identity", lambda rng: (rng.normal(size=(5, 7)), 0.5, False, 5), seed=2),
        ),
        reference=None,
        compare=compare_dropout_forward,
        call=run_dropout_forward,
    ),
    Task(
        name="dropout_backward",
        function="dropout_backward",
        forbidden=(*_DROPOUT, *_AUTOGRAD),
        by_hand="let the gradient through the kept units, scaled, yourself",
        cases=(
            Case("p = 0.5, 6 x 4", lambda rng: dropout_backward_inputs(rng, (6, 4), 0.5)),
            Case("p = 0.1, 2 x 3 x 4 x 4", lambda rng: dropout_backward_inputs(rng, (2, 3, 4, 4), 0.1), seed=1),
        ),
        reference=_dropout_backward_reference,
        compare=close(atol=1e-12, rtol=1e-10),
    ),
    Task(
        name="sgd_momentum_update",
        function="sgd_momentum_update",
        forbidden=_OPTIMISERS,
        by_hand="update the velocity and step the weights yourself",
        cases=(
            Case("5 steps, lr 0.1, momentum 0.9", lambda rng: optimizer_inputs(rng, (3, 4), 5, learning_rate=0.1, momentum=0.9)),
            Case("defaults (lr 1e-2, momentum 0.9), 8 steps", lambda rng: optimizer_inputs(rng, (6,), 8), seed=1),
        ),
        reference=_optimizer_reference("sgd_momentum_update"),
        compare=close(atol=1e-12, rtol=1e-10),
        call=run_optimizer,
    ),
    Task(
        name="rmsprop_update",
        function="rmsprop_update",
        forbidden=_OPTIMISERS,
        by_hand="update the squared-gradient cache and step the weights yourself",
        cases=(
            Case("6 steps, lr 1e-2, decay 0.99", lambda rng: optimizer_inputs(rng, (3, 4), 6, learning_rate=1e-2, decay_rate=0.99,
                                                                              epsilon=1e-8)),
            Case("defaults, 10 steps", lambda rng: optimizer_inputs(rng, (5,), 10), seed=1),
        ),
        reference=_optimizer_reference("rmsprop_update"),
        compare=close(atol=1e-12, rtol=1e-10),
        call=run_optimizer,
    ),
    Task(
        name="adam_update",
        function="adam_update",
        forbidden=_OPTIMISERS,
        by_hand="update both moments, correct their bias and step the weights yourself",
        cases=(
            Case("6 steps, lr 1e-2, betas (0.9, 0.999)", lambda rng: optimizer_inputs(rng, (3, 4), 6, learning_rate=1e-2)),
            Case("defaults (lr 1e-3), 12 steps: the bias correction matters early", lambda rng: optimizer_inputs(rng, (4,), 12),
                 seed=1),
        ),
        reference=_optimizer_reference("adam_update"),
        compare=close(atol=1e-12, rtol=1e-10),
        call=run_optimizer,
    ),
    Task(
        name="random_search",
        function="random_search",
        forbidden=("sklearn.model_selection", "scipy.stats", "optuna", "ray", "hyperopt"),
        by_hand="draw log-uniform learning rates and weight decays, evaluate each and sort the trials yourself",
        cases=(
            Case("100 trials, lr in [1e-4, 1e-1], weight decay in [1e-6, 1e-2]",
                 lambda rng: search_inputs(100, (1e-4, 1e-1), (1e-6, 1e-2), seed=0)),
            Case("200 trials, another optimum", lambda rng: search_inputs(200, (1e-5, 1.0), (1e-7, 1e-3), seed=7,
                                                                         best_lr=1e-2, best_wd=1e-5)),
        ),
        reference=None,
        compare=compare_random_search,
        call=run_random_search,
    ),
)
