"""Lab 02 · Linear classifiers: a ready-made answer to a task earns 0 (``cvcourse_utils.taught``), in ``check`` and in
the grader, while the solution's own answers are not flagged; the set-up cell gives no ready-made metrics."""
from __future__ import annotations

import pytest
from taught_shortcuts import assert_shortcuts_earn_zero, check_refuses

_TORCH_LOSS = """
import torch
import torch.nn.functional as F


def {name}(W, X, y, reg):
    w = torch.tensor(W, requires_grad=True)
    scores = torch.from_numpy(X) @ w
    loss = {loss} + reg * (w ** 2).sum()
    loss.backward()
    return loss.item(), w.grad.numpy()
"""

SHORTCUTS = {
    "knn_distances_two_loops": """
import numpy as np
from scipy.spatial.distance import euclidean


def knn_distances_two_loops(X_test, X_train):
    dists = np.zeros((len(X_test), len(X_train)))
    for i in range(len(X_test)):
        for j in range(len(X_train)):
            dists[i, j] = euclidean(X_test[i], X_train[j])
    return dists
""",
    "knn_distances_one_loop": """
import numpy as np
from sklearn.metrics.pairwise import euclidean_distances


def knn_distances_one_loop(X_test, X_train):
    dists = np.zeros((len(X_test), len(X_train)))
    for i in range(len(X_test)):
        dists[i] = euclidean_distances(X_test[i:i + 1], X_train)[0]
    return dists
""",
    "knn_distances_no_loops": """
from scipy.spatial.distance import cdist


def knn_distances_no_loops(X_test, X_train):
    return cdist(X_test, X_train)
""",
    "knn_predict": """
import numpy as np
from scipy import stats


def knn_predict(dists, y_train, k=1):
    return stats.mode(y_train[np.argsort(dists, axis=1)[:, :k]], axis=1).mode
""",
    "knn_cross_validate": """
import numpy as np
from sklearn.model_selection import KFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier


def knn_cross_validate(X, y, k_choices, num_folds=5):
    return np.array([cross_val_score(KNeighborsClassifier(k), X, y, cv=KFold(num_folds)) for k in k_choices])
""",
    "svm_loss_naive": _TORCH_LOSS.format(name="svm_loss_naive", loss="F.multi_margin_loss(scores, torch.from_numpy(y)) * W.shape[1]"),
    "svm_loss_vectorised": """
import numpy as np
import torch


def svm_loss_vectorised(W, X, y, reg):
    w = torch.tensor(W, requires_grad=True)
    scores = torch.from_numpy(X) @ w
    correct = scores[torch.arange(len(y)), torch.from_numpy(y)][:, None]
    margins = torch.clamp(scores - correct + 1, min=0)
    loss = (margins.sum() - len(y)) / len(y) + reg * (w ** 2).sum()
    (grad,) = torch.autograd.grad(loss, w)
    return loss.item(), grad.numpy()
""",
    "centred_difference_gradient": """
from cvcourse_utils.gradcheck import numerical_gradient


def centred_difference_gradient(f, x, h=1e-5):
    return numerical_gradient(f, x, h)
""",
    "softmax_loss_naive": _TORCH_LOSS.format(name="softmax_loss_naive", loss="F.cross_entropy(scores, torch.from_numpy(y))"),
    "softmax_loss_vectorised": """
import numpy as np
from scipy.special import log_softmax


def softmax_loss_vectorised(W, X, y, reg):
    log_probs = log_softmax(X @ W, axis=1)
    rows = np.arange(len(y))
    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1
    return -log_probs[rows, y].mean() + reg * np.sum(W * W), X.T @ dscores / len(y) + 2 * reg * W
""",
    "train_linear_classifier": """
import numpy as np
import torch


def train_linear_classifier(loss_fn, X, y, num_classes, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200, seed=0):
    rng = np.random.default_rng(seed)
    W = torch.tensor(0.001 * rng.standard_normal((X.shape[1], num_classes)))
    optimizer = torch.optim.SGD([W], lr=learning_rate)
    history = []
    for _ in range(num_iters):
        batch = rng.choice(len(X), batch_size)
        loss, dW = loss_fn(W.numpy(), X[batch], y[batch], reg)
        W.grad = torch.from_numpy(dW)
        optimizer.step()
        history.append(float(loss))
    return W.numpy(), history
""",
    "confusion_matrix_by_hand": """
from sklearn.metrics import confusion_matrix


def confusion_matrix_by_hand(y_true, y_pred, num_classes):
    return confusion_matrix(y_true, y_pred, labels=range(num_classes))
""",
    "precision_recall_f1": """
from sklearn import metrics


def precision_recall_f1(y_true, y_pred, num_classes):
    p, r, f, _ = metrics.precision_recall_fscore_support(y_true, y_pred, labels=range(num_classes), zero_division=0)
    return {"precision": p, "recall": r, "f1": f, "macro_precision": p.mean(), "macro_recall": r.mean(), "macro_f1": f.mean()}
""",
    "roc_curve_by_hand": """
import sklearn.metrics as M


def roc_curve_by_hand(y_true, scores):
    fpr, tpr, _ = M.roc_curve(y_true, scores, drop_intermediate=False)
    return fpr, tpr
""",
    "auc_by_hand": """
import numpy as np


def auc_by_hand(fpr, tpr):
    return float(np.trapezoid(tpr, fpr))
""",
    "train_torch_softmax": """
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn


def train_torch_softmax(X_train, y_train, learning_rate, weight_decay, epochs, batch_size=200):
    fitted = LogisticRegression(max_iter=epochs * 100).fit(X_train, y_train)
    model = nn.Linear(X_train.shape[1], len(fitted.classes_))
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(fitted.coef_))
        model.bias.copy_(torch.as_tensor(fitted.intercept_))
    return model
""",
}

OTHER_SHORTCUTS = [
    ("knn_distances_no_loops", "import torch\n\ndef knn_distances_no_loops(X_test, X_train):\n"
     "    return torch.cdist(torch.from_numpy(X_test), torch.from_numpy(X_train)).numpy()"),
    ("knn_predict", "import statistics\nimport numpy as np\n\ndef knn_predict(dists, y_train, k=1):\n"
     "    return np.array([statistics.mode(y_train[np.argsort(d)[:k]]) for d in dists])"),
    ("svm_loss_vectorised", "from cvcourse_utils.gradcheck import numerical_gradient\nimport numpy as np\n\n"
     "def svm_loss_vectorised(W, X, y, reg):\n    def loss(W):\n        s = X @ W\n"
     "        m = np.maximum(0, s - s[np.arange(len(y)), y][:, None] + 1)\n        return (m.sum() - len(y)) / len(y) + reg * (W ** 2).sum()\n"
     "    return loss(W), numerical_gradient(loss, W)"),
    ("centred_difference_gradient", "from scipy.optimize import approx_fprime\n\ndef centred_difference_gradient(f, x, h=1e-5):\n"
     "    return approx_fprime(x.ravel(), lambda v: f(v.reshape(x.shape)), h).reshape(x.shape)"),
    ("centred_difference_gradient", "import torch\n\ndef centred_difference_gradient(f, x, h=1e-5):\n"
     "    t = torch.tensor(x, requires_grad=True)\n    f.torch(t).backward()\n    return t.grad.numpy()"),
    ("softmax_loss_vectorised", "import numpy as np\nfrom scipy.special import softmax\n\ndef softmax_loss_vectorised(W, X, y, reg):\n"
     "    p = softmax(X @ W, axis=1)\n    rows = np.arange(len(y))\n    loss = -np.log(p[rows, y]).mean() + reg * np.sum(W * W)\n"
     "    p[rows, y] -= 1\n    return loss, X.T @ p / len(y) + 2 * reg * W"),
    ("confusion_matrix_by_hand", "import numpy as np\n\ndef confusion_matrix_by_hand(y_true, y_pred, num_classes):\n"
     "    return np.histogram2d(y_true, y_pred, bins=num_classes, range=[[0, num_classes], [0, num_classes]])[0].astype(int)"),
    ("auc_by_hand", "from sklearn.metrics import auc\n\ndef auc_by_hand(fpr, tpr):\n    return auc(fpr, tpr)"),
    ("auc_by_hand", "from scipy.integrate import trapezoid\n\ndef auc_by_hand(fpr, tpr):\n    return float(trapezoid(tpr, fpr))"),
]


def test_shortcuts_earn_zero(capsys):
    assert_shortcuts_earn_zero("lab02", SHORTCUTS, capsys)


@pytest.mark.parametrize("task, source", OTHER_SHORTCUTS, ids=[f"{t}-{i}" for i, (t, _) in enumerate(OTHER_SHORTCUTS)])
def test_other_shortcuts_are_refused(task, source):
    check_refuses(task, [source])
