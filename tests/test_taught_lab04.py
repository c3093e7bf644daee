"""Lab 04 · Convolutional networks: a ready-made answer to a task (``F.conv2d``, ``F.unfold``/``F.fold``, pooling,
batch norm and dropout layers, autograd, ``torch.optim``, the course's own CNNs) earns 0 (``cvcourse_utils.taught``),
in ``check`` and in the grader; the solution (``sliding_window_view``, matrix products, ``fit``) is not flagged."""
from __future__ import annotations

import pytest
from taught_shortcuts import assert_shortcuts_earn_zero, check_refuses

_OPTIMISER_STEP = """
import torch


def {name}(w, dw, config=None):
    config = {{}} if config is None else config
    t = torch.tensor(w)
    optimizer = config.setdefault("optimizer", torch.optim.{cls}([t], lr=config.get("learning_rate", 1e-2)))
    t.grad = torch.from_numpy(dw)
    optimizer.step()
    return t.numpy(), config
"""

SHORTCUTS = {
    "conv_forward_naive": """
import torch
import torch.nn.functional as F


def conv_forward_naive(x, w, b, stride=1, pad=0):
    return F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=stride, padding=pad).numpy()
""",
    "im2col": """
import torch
import torch.nn.functional as F


def im2col(x, kh, kw, stride=1, pad=0):
    return F.unfold(torch.from_numpy(x), (kh, kw), padding=pad, stride=stride).numpy()
""",
    "conv_forward_im2col": """
import torch


def conv_forward_im2col(x, w, b, stride=1, pad=0):
    conv = torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2:], stride=stride, padding=pad).double()
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(w))
        conv.bias.copy_(torch.from_numpy(b))
        return conv(torch.from_numpy(x)).numpy()
""",
    "conv_backward_naive": """
import torch
from torch.nn import grad


def conv_backward_naive(dout, x, w, b, stride=1, pad=0):
    d, xt, wt = torch.from_numpy(dout), torch.from_numpy(x), torch.from_numpy(w)
    dx = grad.conv2d_input(xt.shape, wt, d, stride=stride, padding=pad)
    dw = grad.conv2d_weight(xt, wt.shape, d, stride=stride, padding=pad)
    return dx.numpy(), dw.numpy(), dout.sum(axis=(0, 2, 3))
""",
    "col2im": """
import torch
import torch.nn.functional as F


def col2im(cols, x_shape, kh, kw, stride=1, pad=0):
    return F.fold(torch.from_numpy(cols), x_shape[2:], (kh, kw), padding=pad, stride=stride).numpy()
""",
    "conv_backward_im2col": """
import torch
import torch.nn.functional as F


def conv_backward_im2col(dout, x, w, b, stride=1, pad=0):
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    F.conv2d(xt, wt, bt, stride=stride, padding=pad).backward(torch.from_numpy(dout))
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()
""",
    "max_pool_forward": """
import torch
import torch.nn.functional as F


def max_pool_forward(x, pool=2, stride=2):
    return F.max_pool2d(torch.from_numpy(x), pool, stride).numpy()
""",
    "max_pool_backward": """
import torch
import torch.nn.functional as F


def max_pool_backward(dout, x, pool=2, stride=2):
    _, indices = F.max_pool2d(torch.from_numpy(x), pool, stride, return_indices=True)
    return F.max_unpool2d(torch.from_numpy(dout), indices, pool, stride, output_size=x.shape[2:]).numpy()
""",
    "build_cnn": """
from cvcourse_utils.models import SmallCNN


def build_cnn(in_channels, num_classes, batchnorm=True, dropout=0.0, width=16):
    return SmallCNN(in_channels, num_classes)
""",
    "train_cnn": """
def train_cnn(model, train_set, val_set, *, epochs, lr=1e-3, weight_decay=0.0, optimizer="adam", batch_size=64, seed=0,
              progress=False):
    import pytorch_lightning as pl

    return pl.Trainer(max_epochs=epochs).fit(model, train_set, val_set)
""",
    "batchnorm_forward": """
import torch
import torch.nn.functional as F


def batchnorm_forward(x, gamma, beta, running_mean, running_var, train, momentum=0.1, eps=1e-5):
    mean, var = torch.tensor(running_mean), torch.tensor(running_var)
    out = F.batch_norm(torch.from_numpy(x), mean, var, torch.from_numpy(gamma), torch.from_numpy(beta), train, momentum, eps)
    return out.numpy(), mean.numpy(), var.numpy()
""",
    "batchnorm_backward": """
import torch
import torch.nn.functional as F


def batchnorm_backward(dout, x, gamma, eps=1e-5):
    xt, g, b = torch.tensor(x, requires_grad=True), torch.tensor(gamma, requires_grad=True), torch.zeros_like(torch.tensor(gamma), requires_grad=True)
    F.batch_norm(xt, None, None, g, b, True, 0.1, eps).backward(torch.from_numpy(dout))
    return xt.grad.numpy(), g.grad.numpy(), b.grad.numpy()
""",
    "dropout_forward": """
import numpy as np
import torch
import torch.nn.functional as F


def dropout_forward(x, p, train, rng):
    out = F.dropout(torch.from_numpy(x), p, train).numpy()
    return out, out != 0
""",
    "dropout_backward": """
import torch


def dropout_backward(dout, mask, p):
    d = torch.tensor(dout, requires_grad=True)
    out = d * torch.from_numpy(mask) / (1 - p)
    return torch.autograd.grad(out, d, torch.from_numpy(dout))[0].numpy()
""",
    "sgd_momentum_update": _OPTIMISER_STEP.format(name="sgd_momentum_update", cls="SGD"),
    "rmsprop_update": _OPTIMISER_STEP.format(name="rmsprop_update", cls="RMSprop"),
    "adam_update": _OPTIMISER_STEP.format(name="adam_update", cls="Adam"),
    "random_search": """
from scipy.stats import loguniform


def random_search(evaluate, n_trials, lr_range, wd_range, seed=0):
    lrs = loguniform(*lr_range).rvs(n_trials, random_state=seed)
    wds = loguniform(*wd_range).rvs(n_trials, random_state=seed + 1)
    trials = [{"lr": float(a), "weight_decay": float(b), "val_accuracy": float(evaluate(a, b))} for a, b in zip(lrs, wds)]
    return sorted(trials, key=lambda t: t["val_accuracy"], reverse=True)
""",
}

OTHER_SHORTCUTS = [
    ("conv_forward_naive", "import torch\n\ndef conv_forward_naive(x, w, b, stride=1, pad=0):\n"
     "    return torch.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride, pad).numpy()"),
    ("im2col", "import torch\n\ndef im2col(x, kh, kw, stride=1, pad=0):\n    return torch.nn.Unfold((kh, kw), padding=pad, stride=stride)(torch.from_numpy(x)).numpy()"),
    ("im2col", "import torch\nimport numpy as np\n\ndef im2col(x, kh, kw, stride=1, pad=0):\n"
     "    t = torch.from_numpy(np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))))\n"
     "    w = t.unfold(2, kh, stride).unfold(3, kw, stride)\n"
     "    return w.permute(0, 1, 4, 5, 2, 3).reshape(x.shape[0], -1, w.shape[2] * w.shape[3]).numpy()"),
    ("max_pool_forward", "import torch\n\ndef max_pool_forward(x, pool=2, stride=2):\n"
     "    return torch.nn.MaxPool2d(pool, stride)(torch.from_numpy(x)).numpy()"),
    ("batchnorm_forward", "import torch\n\ndef batchnorm_forward(x, gamma, beta, running_mean, running_var, train, momentum=0.1, eps=1e-5):\n"
     "    bn = torch.nn.BatchNorm2d(len(gamma), eps, momentum).double()\n    bn.train(train)\n"
     "    return bn(torch.from_numpy(x)).detach().numpy(), bn.running_mean.numpy(), bn.running_var.numpy()"),
    ("build_cnn", "import torchvision\n\ndef build_cnn(in_channels, num_classes, batchnorm=True, dropout=0.0, width=16):\n"
     "    return torchvision.models.resnet18(num_classes=num_classes)"),
    ("adam_update", "from torch.optim import Adam\nimport torch\n\ndef adam_update(w, dw, config=None):\n"
     "    t = torch.tensor(w)\n    opt = Adam([t])\n    t.grad = torch.from_numpy(dw)\n    opt.step()\n    return t.numpy(), config or {}"),
    ("conv_backward_naive", "from cvcourse_utils.gradcheck import numerical_gradient_array as num\n\n"
     "def conv_backward_naive(dout, x, w, b, stride=1, pad=0):\n"
     "    f = lambda x_, w_, b_: conv_forward_naive(x_, w_, b_, stride, pad)\n"
     "    return num(lambda v: f(v, w, b), x, dout), num(lambda v: f(x, v, b), w, dout), num(lambda v: f(x, w, v), b, dout)"),
]


def test_shortcuts_earn_zero(capsys):
    assert_shortcuts_earn_zero("lab04", SHORTCUTS, capsys)


@pytest.mark.parametrize("task, source", OTHER_SHORTCUTS, ids=[f"{t}-{i}" for i, (t, _) in enumerate(OTHER_SHORTCUTS)])
def test_other_shortcuts_are_refused(task, source):
    check_refuses(task, [source])
