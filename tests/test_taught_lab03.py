"""Lab 03 · Backpropagation: a ready-made answer to a task (a PyTorch layer, autograd instead of the hand-written
backward pass) earns 0 (``cvcourse_utils.taught``), in ``check`` and in the grader; the solution is not flagged."""
from __future__ import annotations

import pytest
from taught_shortcuts import assert_shortcuts_earn_zero, check_refuses

_AUTOGRAD_BACKWARD = """
import torch


def {name}(dout, cache):
    x = torch.tensor(cache, requires_grad=True)
    {forward}.backward(torch.from_numpy(dout))
    return x.grad.numpy()
"""

SHORTCUTS = {
    "affine_forward": """
import torch
import torch.nn.functional as F


def affine_forward(x, w, b):
    out = F.linear(torch.from_numpy(x.reshape(len(x), -1)), torch.from_numpy(w.T), torch.from_numpy(b)).numpy()
    return out, (x, w, b)
""",
    "affine_backward": """
import torch


def affine_backward(dout, cache):
    x, w, b = (torch.tensor(a, requires_grad=True) for a in cache)
    out = x.reshape(len(x), -1) @ w + b
    out.backward(torch.from_numpy(dout))
    return x.grad.numpy(), w.grad.numpy(), b.grad.numpy()
""",
    "relu_forward": """
import torch


def relu_forward(x):
    return torch.relu(torch.from_numpy(x)).numpy(), x
""",
    "relu_backward": _AUTOGRAD_BACKWARD.format(name="relu_backward", forward="torch.relu(x)"),
    "sigmoid_forward": """
from scipy.special import expit


def sigmoid_forward(x):
    out = expit(x)
    return out, out
""",
    "sigmoid_backward": """
import torch


def sigmoid_backward(dout, cache):
    z = torch.logit(torch.tensor(cache)).requires_grad_()
    torch.sigmoid(z).backward(torch.from_numpy(dout))
    return z.grad.numpy()
""",
    "tanh_backward": """
import torch
from torch.func import vjp


def tanh_backward(dout, cache):
    _, pullback = vjp(torch.tanh, torch.atanh(torch.tensor(cache)))
    return pullback(torch.from_numpy(dout))[0].numpy()
""",
    "softmax_cross_entropy": """
import torch
import torch.nn.functional as F


def softmax_cross_entropy(scores, y):
    s = torch.tensor(scores, requires_grad=True)
    loss = F.cross_entropy(s, torch.from_numpy(y))
    loss.backward()
    return loss.item(), s.grad.numpy()
""",
    "two_layer_net": """
import torch
import torch.nn.functional as F


def two_layer_net(params, X, y=None, reg=0.0):
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    scores = F.relu(torch.from_numpy(X) @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    if y is None:
        return scores.detach().numpy()
    loss = F.cross_entropy(scores, torch.from_numpy(y)) + 0.5 * reg * ((p["W1"] ** 2).sum() + (p["W2"] ** 2).sum())
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in p.items()}
""",
    "train_two_layer_net": """
import numpy as np
import torch


def train_two_layer_net(X_train, y_train, X_val, y_val, *, hidden_size=64, learning_rate=0.1, reg=1e-4, epochs=10,
                        batch_size=64, lr_decay=0.95, seed=0):
    rng = np.random.default_rng(seed)
    params = init_two_layer_net(X_train.shape[1], hidden_size, int(y_train.max()) + 1, seed=seed)
    tensors = {k: torch.from_numpy(v) for k, v in params.items()}
    optimizer = torch.optim.SGD(list(tensors.values()), lr=learning_rate)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, lr_decay)
    history = {"loss": [], "train_accuracy": [], "val_accuracy": [], "lr": []}
    for epoch in range(epochs):
        history["lr"].append(scheduler.get_last_lr()[0])
        order = rng.permutation(len(X_train))
        for start in range(0, len(X_train), batch_size):
            batch = order[start:start + batch_size]
            loss, grads = two_layer_net(params, X_train[batch], y_train[batch], reg)
            for k in tensors:
                tensors[k].grad = torch.from_numpy(grads[k])
            optimizer.step()
            history["loss"].append(float(loss))
        scheduler.step()
        history["train_accuracy"].append(two_layer_accuracy(params, X_train[:1000], y_train[:1000]))
        history["val_accuracy"].append(two_layer_accuracy(params, X_val, y_val))
    return params, history
""",
    "search_two_layer_net": """
import numpy as np
from sklearn.model_selection import ParameterGrid


def search_two_layer_net(X_train, y_train, X_val, y_val, hidden_sizes, learning_rates, epochs):
    runs = [(g, train_two_layer_net(X_train, y_train, X_val, y_val, epochs=epochs, **g))
            for g in ParameterGrid({"hidden_size": hidden_sizes, "learning_rate": learning_rates})]
    table = np.array([h["val_accuracy"][-1] for _, h in runs]).reshape(len(hidden_sizes), len(learning_rates))
    best, (params, _) = runs[int(np.argmax(table))]
    return {"val_accuracy": table, "best_hidden_size": best["hidden_size"], "best_learning_rate": best["learning_rate"],
            "best_params": params}
""",
    "init_weights_xavier_he": """
import numpy as np
import torch
from torch import nn


def init_weights(fan_in, fan_out, scheme, rng):
    w = torch.empty(fan_out, fan_in, dtype=torch.float64)
    {"zero": nn.init.zeros_, "small": lambda t: nn.init.normal_(t, std=0.01), "xavier": nn.init.xavier_normal_,
     "he": nn.init.kaiming_normal_}[scheme](w)
    return w.T.numpy()
""",
    "deep_net_forward_backward": """
import torch


def deep_net_forward_backward(X, weights, activation, dout):
    ws = [torch.tensor(w, requires_grad=True) for w in weights]
    f = {"relu": torch.relu, "tanh": torch.tanh}[activation]
    h, activations = torch.from_numpy(X), []
    for w in ws:
        h = f(h @ w)
        activations.append(h)
    h.backward(torch.from_numpy(dout))
    return [a.detach().numpy() for a in activations], [w.grad.numpy() for w in ws]
""",
}

OTHER_SHORTCUTS = [
    ("affine_forward", "import torch\n\ndef affine_forward(x, w, b):\n    layer = torch.nn.Linear(w.shape[0], w.shape[1])\n"
     "    return layer(torch.from_numpy(x)).detach().numpy(), (x, w, b)"),
    ("relu_forward", "import torch.nn.functional as F\nimport torch\n\ndef relu_forward(x):\n"
     "    return F.relu(torch.from_numpy(x)).numpy(), x"),
    ("relu_forward", "import torch\n\ndef relu_forward(x):\n    return torch.from_numpy(x).relu().numpy(), x"),
    ("sigmoid_forward", "import torch\n\ndef sigmoid_forward(x):\n    out = torch.sigmoid(torch.from_numpy(x)).numpy()\n    return out, out"),
    ("relu_backward", "import torch\n\ndef relu_backward(dout, cache):\n    x = torch.tensor(cache, requires_grad=True)\n"
     "    return torch.autograd.grad(torch.relu(x), x, torch.from_numpy(dout))[0].numpy()"),
    ("softmax_cross_entropy", "import numpy as np\nfrom scipy.special import log_softmax\n\ndef softmax_cross_entropy(scores, y):\n"
     "    lp = log_softmax(scores, axis=1)\n    n = len(y)\n    d = np.exp(lp)\n    d[np.arange(n), y] -= 1\n"
     "    return -lp[np.arange(n), y].mean(), d / n"),
    ("affine_backward", "from cvcourse_utils.gradcheck import numerical_gradient_array\n\ndef affine_backward(dout, cache):\n"
     "    x, w, b = cache\n    f = lambda x_, w_, b_: x_.reshape(len(x_), -1) @ w_ + b_\n"
     "    return (numerical_gradient_array(lambda v: f(v, w, b), x, dout), numerical_gradient_array(lambda v: f(x, v, b), w, dout),\n"
     "            numerical_gradient_array(lambda v: f(x, w, v), b, dout))"),
    ("softmax_cross_entropy", "import numpy as np\nfrom cvcourse_utils import gradcheck\n\ndef softmax_cross_entropy(scores, y):\n"
     "    def loss(s):\n        s = s - s.max(axis=1, keepdims=True)\n"
     "        return -(s - np.log(np.exp(s).sum(axis=1, keepdims=True)))[np.arange(len(y)), y].mean()\n"
     "    return loss(scores), gradcheck.numerical_gradient(loss, scores.copy())"),
]


def test_shortcuts_earn_zero(capsys):
    assert_shortcuts_earn_zero("lab03", SHORTCUTS, capsys)


@pytest.mark.parametrize("task, source", OTHER_SHORTCUTS, ids=[f"{t}-{i}" for i, (t, _) in enumerate(OTHER_SHORTCUTS)])
def test_other_shortcuts_are_refused(task, source):
    check_refuses(task, [source])
