"""Lab 12 · Self-supervised learning: the tasks, their public cases and references.

No library holds SimCLR's, DINO's or MAE's objectives in a form the course depends on, so those references are
written here, from the papers' formulas and their authors' code (this module is forbidden in every answer). Where
a library does the job the reference uses it: scikit-learn's ``KNeighborsClassifier`` for the k-NN vote (with
DINO's weights) and ``LogisticRegression`` as the bar a linear probe must reach, NumPy's SVD for the effective rank.
The two-view augmentation has no single answer: its check tests properties (shapes, range, two different views
per image, a crop of its own for every image, colour changes, the same seed the same views).
"""
from __future__ import annotations

import math

import numpy as np

from cvcourse_utils.checking import Case, CheckFailed, Task, close, equal


def _torch(value):
    import torch

    return torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value


def torch_call(fn, args):
    """Call ``fn`` with every NumPy array turned into a tensor of the same dtype."""
    return fn(*(_torch(a) for a in args))


# --------------------------------------------------------------------------- augment_views

def uniform_colour(n: int, size: int, rgb=(0.6, 0.35, 0.2)) -> np.ndarray:
    """(n, 3, size, size) float32 images of one flat colour: crops and flips leave them as they are."""
    return np.broadcast_to(np.asarray(rgb, dtype=np.float32)[None, :, None, None], (n, 3, size, size)).copy()


def view_inputs(rng: np.random.Generator, n: int, size: int, seed: int) -> tuple:
    """(x (n, 3, size, size) float32 in [0, 1] with structure, seed): smooth blobs on noise, so every crop differs."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    x = np.empty((n, 3, size, size), dtype=np.float32)
    for i in range(n):
        cy, cx, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.3)
        blob = ((yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2).astype(np.float32)
        colour = rng.uniform(0.2, 1.0, size=3).astype(np.float32)
        x[i] = 0.15 * rng.random((3, size, size)) + 0.7 * blob[None] * colour[:, None, None]
    return np.clip(x, 0, 1), seed


def run_augment_views(fn, args) -> dict:
    """Call the student's augment_views on the case, again with the same seed, with another seed, on copies of one
    image and on a flat colour; report the properties the check needs."""
    import torch

    x_np, seed = args
    x = torch.from_numpy(x_np.copy())
    out = fn(x, int(seed))
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(v, torch.Tensor) for v in out)):
        raise TypeError("augment_views must return a tuple of two tensors (view1, view2)")
    view1, view2 = (v.detach().cpu() for v in out)
    again = fn(x.clone(), int(seed))
    other = fn(x.clone(), int(seed) + 1)
    copies = fn(x[:1].repeat(8, 1, 1, 1), int(seed))
    flat = fn(torch.from_numpy(uniform_colour(16, x.shape[-1])), int(seed))
    per_image = (view1 - view2).abs().flatten(1).amax(1) if view1.shape == view2.shape else torch.zeros(1)
    first = copies[0].flatten(1)
    return {
        "shape1": np.asarray(view1.shape), "shape2": np.asarray(view2.shape),
        "dtype": str(view1.dtype), "min": float(min(view1.min(), view2.min())), "max": float(max(view1.max(), view2.max())),
        "input_unchanged": bool(torch.equal(x, torch.from_numpy(x_np))),
        "views_differ": float(per_image.min()),
        "same_seed_same_views": bool(torch.equal(view1, again[0].cpu()) and torch.equal(view2, again[1].cpu())),
        "other_seed_other_views": bool(not torch.equal(view1, other[0].cpu())),
        "copies_differ": float((first[1:] - first[:1]).abs().amax()) if len(first) > 1 else 0.0,
        "flat_colour_changes": float((torch.cat(flat) - torch.from_numpy(uniform_colour(32, x.shape[-1]))).abs().amax()),
    }


def compare_augment_views(actual, expected, args) -> None:
    x, seed = args
    if tuple(actual["shape1"]) != x.shape or tuple(actual["shape2"]) != x.shape:
        raise CheckFailed(f"each view must have the input's shape {x.shape} (crop, then resize back to {x.shape[-1]}x"
                          f"{x.shape[-1]}); got {tuple(actual['shape1'])} and {tuple(actual['shape2'])}")
    if actual["dtype"] != "torch.float32":
        raise CheckFailed(f"return float32 views, like the input; got {actual['dtype']}")
    if actual["min"] < 0 or actual["max"] > 1:
        raise CheckFailed(f"views must stay in [0, 1]; got values from {actual['min']:.3f} to {actual['max']:.3f}")
    if not actual["input_unchanged"]:
        raise CheckFailed("the input batch was changed in place: transform copies of the images")
    if actual["views_differ"] < 0.02:
        raise CheckFailed("for some image the two views are (almost) identical: draw each view's crop and colours afresh")
    if actual["copies_differ"] < 0.02:
        raise CheckFailed("8 copies of one image got the same view: a v2 transform called on a whole batch draws one crop for "
                          "all of it; apply it to one image at a time")
    if actual["flat_colour_changes"] < 0.02:
        raise CheckFailed("a flat-colour image comes out unchanged in every view: add colour jitter (and grayscale)")
    if not actual["same_seed_same_views"]:
        raise CheckFailed("the same seed must give the same views: seed torch (torch.manual_seed(seed)) before drawing")
    if not actual["other_seed_other_views"]:
        raise CheckFailed("another seed gave the same views: draw from torch's generator after seeding it with `seed`")


# --------------------------------------------------------------------------- nt_xent_loss

def _nt_xent_reference(z1, z2, temperature):
    """SimCLR's NT-Xent (Chen et al., 2020): 2N rows, cosine similarities / temperature, self-similarity masked,
    cross-entropy towards the other view, averaged over the 2N rows."""
    import torch
    import torch.nn.functional as F

    z1, z2 = _torch(z1), _torch(z2)
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / float(temperature)
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(logits, targets)


def pair_inputs(rng: np.random.Generator, n: int, d: int, temperature: float, scale: float = 1.0) -> tuple:
    """(z1, z2 = z1 + noise, temperature): two float64 batches (n, d) whose rows match."""
    z1 = rng.normal(size=(n, d)) * scale
    return z1, z1 + 0.5 * scale * rng.normal(size=(n, d)), temperature


# --------------------------------------------------------------------------- simclr_step

def _small_net(seed: int):
    """A float64 encoder (conv, ReLU, global pool: 4 features) and projection head (4 -> 8 -> 4), from ``seed``."""
    import torch
    from torch import nn

    torch.manual_seed(int(seed))
    encoder = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()).double()
    head = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4)).double()
    return encoder, head


def step_inputs(rng: np.random.Generator, n: int, size: int, seed: int, temperature: float, lr: float) -> tuple:
    """(four float64 view batches (n, 3, size, size), temperature, lr, seed): two training steps."""
    views = tuple(rng.random((n, 3, size, size)) for _ in range(4))
    return (*views, temperature, lr, seed)


def _two_steps(step, loss_fn, args) -> dict:
    import torch

    a1, b1, a2, b2, temperature, lr, seed = args
    encoder, head = _small_net(seed)
    optimizer = torch.optim.SGD([*encoder.parameters(), *head.parameters()], lr=float(lr), momentum=0.9)
    losses = [step(encoder, head, optimizer, _torch(a), _torch(b), float(temperature), loss_fn) for a, b in ((a1, b1), (a2, b2))]
    weights = np.concatenate([p.detach().reshape(-1).numpy() for p in (*encoder.parameters(), *head.parameters())])
    return {"losses": np.asarray(losses, dtype=np.float64), "weights": weights}


def run_simclr_step(fn, args) -> dict:
    """Two steps of the student's simclr_step on a fixed float64 encoder + head with SGD (momentum 0.9)."""
    return _two_steps(lambda e, h, o, a, b, t, _: float(fn(e, h, o, a, b, t)), None, args)


def _reference_step(encoder, head, optimizer, view1, view2, temperature, _):
    loss = _nt_xent_reference(head(encoder(view1)), head(encoder(view2)), temperature)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _simclr_step_reference(*args):
    return _two_steps(_reference_step, None, args)


def compare_simclr_step(actual, expected, args) -> None:
    if len(actual["losses"]) != 2:
        raise CheckFailed("simclr_step returns one float, the step's loss")
    if not np.isclose(actual["losses"][0], expected["losses"][0], atol=1e-8, rtol=1e-8):
        raise CheckFailed(f"the first step's loss is {actual['losses'][0]:.6f}, expected {expected['losses'][0]:.6f}: both views "
                          "go through the same encoder and head, then your nt_xent_loss")
    if not np.allclose(actual["weights"], expected["weights"], atol=1e-8, rtol=1e-6):
        raise CheckFailed("the loss is right but the weights after two steps are not: zero the gradients, call backward(), "
                          "then optimizer.step(), once per call")
    close(atol=1e-8, rtol=1e-6, dtype="float64")(actual, expected, args)


# --------------------------------------------------------------------------- ema_update

def _ema_nets(student_seed: int, teacher_seed: int):
    import torch
    from torch import nn

    def net(seed):
        torch.manual_seed(int(seed))
        m = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 5)).double()
        with torch.no_grad():
            m[1].running_mean.normal_()
            m[1].running_var.uniform_(0.5, 2.0)
        return m

    teacher = net(teacher_seed)
    teacher.requires_grad_(False)
    return net(student_seed), teacher


def _flat(tensors) -> np.ndarray:
    return np.concatenate([t.detach().reshape(-1).double().numpy() for t in tensors])


def run_ema_update(fn, args) -> dict:
    """The student's ema_update on a student and a teacher network (float64, with BatchNorm), applied twice."""
    student_seed, teacher_seed, momentum = args
    student, teacher = _ema_nets(student_seed, teacher_seed)
    before = _flat(student.parameters())
    buffers = _flat(teacher.buffers())
    for _ in range(2):
        fn(teacher, student, float(momentum))
    return {"teacher": _flat(teacher.parameters()), "student_unchanged": bool(np.array_equal(before, _flat(student.parameters()))),
            "teacher_buffers_unchanged": bool(np.array_equal(buffers, _flat(teacher.buffers())))}


def _ema_reference(student_seed, teacher_seed, momentum):
    student, teacher = _ema_nets(student_seed, teacher_seed)
    m = float(momentum)
    s, t = _flat(student.parameters()), _flat(teacher.parameters())
    for _ in range(2):
        t = m * t + (1 - m) * s
    return {"teacher": t, "student_unchanged": True, "teacher_buffers_unchanged": True}


def compare_ema_update(actual, expected, args) -> None:
    if not actual["student_unchanged"]:
        raise CheckFailed("the student's parameters changed: only the teacher is updated")
    if not actual["teacher_buffers_unchanged"]:
        raise CheckFailed("the teacher's buffers (BatchNorm's running statistics) changed: average the parameters only")
    close(atol=1e-12, rtol=1e-10, dtype="float64")(actual["teacher"], expected["teacher"], args)


# --------------------------------------------------------------------------- dino_loss and update_center

def dino_inputs(rng: np.random.Generator, n_views: int, n: int, k: int, student_temp: float, teacher_temp: float) -> tuple:
    """(student_out (V, n, k), teacher_out (2, n, k), center (k,), student_temp, teacher_temp) in float64."""
    student = rng.normal(size=(n_views, n, k)) * 2
    teacher = rng.normal(size=(2, n, k)) * 2 + 1.0
    return student, teacher, 0.5 * rng.normal(size=k), student_temp, teacher_temp


def _dino_reference_loss(student_out, teacher_out, center, student_temp, teacher_temp):
    """DINO (Caron et al., 2021): the teacher's centred, sharpened softmax is the target of every student view
    but the one it saw itself; cross-entropy averaged over the images and the pairs."""
    import torch

    s, t, c = _torch(student_out), _torch(teacher_out), _torch(center)
    targets = torch.softmax((t - c) / float(teacher_temp), dim=-1).detach()
    log_p = torch.log_softmax(s / float(student_temp), dim=-1)
    terms = [-(targets[i] * log_p[j]).sum(-1).mean() for i in range(len(t)) for j in range(len(s)) if i != j]
    return torch.stack(terms).mean()


def run_dino_loss(fn, args) -> dict:
    """The student's loss, its gradient with respect to the student's outputs, and whether any reached the teacher."""
    import torch

    student_out, teacher_out, center, student_temp, teacher_temp = args
    s = _torch(student_out.copy()).requires_grad_(True)
    t = _torch(teacher_out.copy()).requires_grad_(True)
    loss = fn(s, t, _torch(center.copy()), float(student_temp), float(teacher_temp))
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        raise TypeError(f"dino_loss must return a 0-d tensor, got {getattr(loss, 'shape', type(loss).__name__)}")
    loss.backward()
    teacher_grad = 0.0 if t.grad is None else float(t.grad.abs().max())
    return {"loss": loss.detach(), "student_grad": s.grad, "teacher_grad": teacher_grad}


def _dino_reference(*args) -> dict:
    import torch

    student_out = _torch(args[0].copy()).requires_grad_(True)
    loss = _dino_reference_loss(student_out, *args[1:])
    loss.backward()
    return {"loss": loss.detach(), "student_grad": student_out.grad, "teacher_grad": 0.0}


def compare_dino_loss(actual, expected, args) -> None:
    if actual["teacher_grad"] > 0:
        raise CheckFailed("gradients reached the teacher's outputs: the teacher's probabilities are a fixed target "
                          "(stop-gradient: .detach() them)")
    close(atol=1e-9, rtol=1e-7, dtype="float64")(actual, expected, args)


def _center_reference(center, teacher_out, momentum):
    k = center.shape[-1]
    return float(momentum) * center + (1 - float(momentum)) * teacher_out.reshape(-1, k).mean(0)


# --------------------------------------------------------------------------- random_masking and mae_loss

def _masking_reference(x, mask_ratio, seed):
    """MAE's ``random_masking`` (He et al., 2022, the authors' code), its noise from ``torch.rand`` with the seed."""
    import torch

    x = _torch(x)
    n, length, d = x.shape
    noise = torch.rand((n, length), generator=torch.Generator().manual_seed(int(seed)))
    keep = int(length * (1 - float(mask_ratio)))
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    visible = torch.gather(x, 1, ids_shuffle[:, :keep, None].expand(-1, -1, d))
    mask = torch.ones((n, length), dtype=x.dtype)
    mask[:, :keep] = 0
    return visible, torch.gather(mask, 1, ids_restore), ids_restore


def run_random_masking(fn, args):
    import torch

    x, mask_ratio, seed = args
    out = fn(_torch(x.copy()), float(mask_ratio), torch.Generator().manual_seed(int(seed)))
    if not (isinstance(out, (tuple, list)) and len(out) == 3):
        raise TypeError("random_masking returns three values: (x_visible, mask, ids_restore)")
    return tuple(out)


def compare_random_masking(actual, expected, args) -> None:
    x, mask_ratio, seed = args
    n, length, d = x.shape
    keep = int(length * (1 - float(mask_ratio)))
    visible, mask, restore = (np.asarray(a) for a in actual)
    if visible.shape != (n, keep, d):
        raise CheckFailed(f"x_visible must be (N, len_keep, D) = {(n, keep, d)} with len_keep = int(L * (1 - mask_ratio)); "
                          f"got {visible.shape}")
    if mask.shape != (n, length) or not np.all((mask == 0) | (mask == 1)) or not np.all(mask.sum(1) == length - keep):
        raise CheckFailed(f"mask must be (N, L) = {(n, length)} of 0 (kept) and 1 (masked), with L - len_keep = "
                          f"{length - keep} ones per row")
    if restore.shape != (n, length) or not all(sorted(row) == list(range(length)) for row in restore.tolist()):
        raise CheckFailed("ids_restore must hold, in each row, a permutation of 0 .. L-1")
    equal(dtype="integer")(actual[2], expected[2], args)
    close(atol=0, rtol=0, dtype="float64")(actual[:2], expected[:2], args)


def _mae_loss_reference(pred, target, mask, norm_pix):
    if norm_pix:  # MAE's norm_pix_loss: each target patch standardised (unbiased variance, as torch.var's default)
        target = (target - target.mean(-1, keepdims=True)) / np.sqrt(target.var(-1, ddof=1, keepdims=True) + 1e-6)
    per_patch = ((pred - target) ** 2).mean(-1)
    return np.float64((per_patch * mask).sum() / mask.sum())


def mae_inputs(rng: np.random.Generator, n: int, length: int, p: int, n_masked: int, norm_pix: bool,
               perfect_on_masked: bool = False) -> tuple:
    """(pred, target (n, length, p), mask (n, length) with n_masked ones per row, norm_pix) in float64."""
    target = rng.random((n, length, p))
    mask = np.zeros((n, length))
    for row in mask:
        row[rng.permutation(length)[:n_masked]] = 1
    pred = rng.normal(size=(n, length, p))
    if perfect_on_masked:  # right where it is scored, wrong where it is not: the loss is 0
        pred = np.where(mask[..., None] == 1, target, pred)
    return pred, target, mask, norm_pix


# --------------------------------------------------------------------------- knn_classify and linear_probe_accuracy

def _knn_reference(train_z, train_y, test_z, k, temperature):
    from sklearn.neighbors import KNeighborsClassifier

    # cosine distance d = 1 - s: DINO's weight exp(s / T) = exp((1 - d) / T)
    knn = KNeighborsClassifier(n_neighbors=int(k), metric="cosine", algorithm="brute",
                               weights=lambda d: np.exp((1 - d) / float(temperature)))
    return knn.fit(train_z, train_y).predict(test_z).astype(np.int64)


def knn_inputs(rng: np.random.Generator, n: int, m: int, d: int, classes: int, k: int, temperature: float) -> tuple:
    """(train_z (n, d), train_y (n,), test_z (m, d), k, temperature): noisy class centres, float64."""
    centres = rng.normal(size=(classes, d))
    train_y = rng.integers(0, classes, n)
    test_y = rng.integers(0, classes, m)
    return (centres[train_y] + 0.8 * rng.normal(size=(n, d)), train_y, centres[test_y] + 0.8 * rng.normal(size=(m, d)),
            k, temperature)


def blob_inputs(rng: np.random.Generator, n: int, m: int, d: int, classes: int, spread: float) -> tuple:
    """(train_z, train_y, test_z, test_y): Gaussian blobs around class centres, float32 features, int64 labels."""
    centres = rng.normal(size=(classes, d)) * 1.5
    ys = rng.integers(0, classes, n), rng.integers(0, classes, m)
    zs = (centres[y] + spread * rng.normal(size=(len(y), d)) for y in ys)
    train_z, test_z = (z.astype(np.float32) for z in zs)
    return train_z, ys[0].astype(np.int64), test_z, ys[1].astype(np.int64)


def random_label_inputs(rng: np.random.Generator, n: int, m: int, d: int, classes: int) -> tuple:
    """Features with no relation to the labels: an honest probe scores near chance on the test set."""
    return (rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, classes, n).astype(np.int64),
            rng.normal(size=(m, d)).astype(np.float32), rng.integers(0, classes, m).astype(np.int64))


def digits_inputs(rng: np.random.Generator) -> tuple:
    """scikit-learn's digits, 64 pixels as the features, 1,200 to train and the rest to test."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = rng.permutation(len(x))
    x, y = x[order].astype(np.float32), y[order].astype(np.int64)
    return x[:1200], y[:1200], x[1200:], y[1200:]


def logistic_regression_accuracy(train_z, train_y, test_z, test_y) -> float:
    """The bar: scikit-learn's LogisticRegression on standardised features (its default L2, C = 1)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_z)
    model = LogisticRegression(max_iter=3000).fit(scaler.transform(train_z), train_y)
    return float(model.score(scaler.transform(test_z), test_y))


def run_linear_probe(fn, args) -> float:
    train_z, train_y, test_z, test_y = (_torch(a.copy()) for a in args)
    return fn(train_z, train_y, test_z, test_y)


def compare_linear_probe(actual, expected, args) -> None:
    acc = np.asarray(actual, dtype=np.float64)
    if acc.shape != () or not 0 <= float(acc) <= 1:
        raise CheckFailed(f"return the test accuracy, one float in [0, 1]; got {actual!r}")
    train_z, train_y, test_z, test_y = args
    bar = logistic_regression_accuracy(train_z, train_y, test_z, test_y)
    chance = float(np.bincount(test_y).max() / len(test_y))
    if bar < chance + 0.1:  # the labels cannot be read from these features: neither may the probe
        if float(acc) > chance + 0.12:
            raise CheckFailed(f"the features say nothing about these labels, yet the probe scores {float(acc):.3f} (the most "
                              f"frequent class alone: {chance:.3f}): train on the train set only, score on the test set")
        return
    if float(acc) < bar - 0.05:
        raise CheckFailed(f"test accuracy {float(acc):.3f}, but logistic regression reaches {bar:.3f} on these features: "
                          "standardise them with the train set's mean and std, and train for all the steps")


# --------------------------------------------------------------------------- embedding_spread and is_collapsed_embedding

def _spread_reference(z):
    """(per-dimension std of the L2-normalised rows (population std), effective rank of the centred rows)."""
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    std = z.std(0)
    s = np.linalg.svd(z - z.mean(0), compute_uv=False)
    if s.sum() < 1e-8:
        return std, 0.0
    p = s / s.sum()
    p = p[p > 0]
    return std, float(np.exp(-(p * np.log(p)).sum()))


def embeddings(rng: np.random.Generator, kind: str, n: int, d: int) -> tuple:
    """(z (n, d) float64,): ``healthy`` (Gaussian), ``point`` (one point plus tiny noise), ``line`` (+-1 times one
    direction), ``plane`` (rank 2) or ``equal`` (every row the same)."""
    if kind == "healthy":
        z = rng.normal(size=(n, d))
    elif kind == "point":
        z = 1.0 + 1e-4 * rng.normal(size=(n, d))
    elif kind == "line":
        z = np.sign(rng.normal(size=(n, 1))) * rng.normal(size=d)
    elif kind == "plane":
        z = rng.normal(size=(n, 2)) @ rng.normal(size=(2, d))
    elif kind == "equal":
        z = np.tile(rng.normal(size=d), (n, 1))
    else:
        raise ValueError(kind)
    return (z,)


def run_embedding_spread(fn, args):
    out = torch_call(fn, args)
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError("embedding_spread returns two values: (std (D,), effective_rank)")
    return out[0], float(out[1])


def _collapsed_reference(z, min_std_ratio, min_rank):
    std, rank = _spread_reference(z)
    return bool(std.mean() * math.sqrt(z.shape[1]) < min_std_ratio or rank < min_rank)


def run_is_collapsed(fn, args):
    z, min_std_ratio, min_rank = args
    return bool(fn(_torch(z), float(min_std_ratio), float(min_rank)))


def compare_bool(actual, expected, args) -> None:
    if bool(actual) != bool(expected):
        raise CheckFailed(f"expected {bool(expected)}, got {bool(actual)}")


# --------------------------------------------------------------------------- what each task must not use

#: Self-supervised libraries and the course's own references (views, probing, selfsup): forbidden in every task.
READY_MADE = ("lightly", "solo", "vissl", "pytorch_metric_learning", "timm", "transformers",
              "cvcourse_utils.selfsup", "cvcourse_utils.views", "cvcourse_utils.probing", "cvcourse_utils.clip")
#: What computes a cross-entropy in one call: forbidden where the task is the loss itself.
CROSS_ENTROPY = ("torch.nn.functional.cross_entropy", "torch.nn.CrossEntropyLoss", "torch.nn.functional.nll_loss",
                 "torch.nn.NLLLoss", "torch.nn.functional.kl_div", "torch.nn.KLDivLoss")
#: One-line moving averages.
MOVING_AVERAGE = ("torch.optim.swa_utils", "torch.lerp", ".lerp", ".lerp_", "torch._foreach_lerp_")


# --------------------------------------------------------------------------- tasks, in notebook order

TASKS = (
    Task(
        name="augment_views",
        function="augment_views",
        forbidden=READY_MADE + ("torchvision.transforms.v2.AutoAugment", "torchvision.transforms.v2.RandAugment",
                                "torchvision.transforms.v2.TrivialAugmentWide", "torchvision.transforms.v2.AugMix"),
        by_hand="compose the view's transforms yourself from torchvision's v2 pieces (crop, flip, colour jitter, grayscale)",
        cases=(Case("6 images 32x32, seed 0", lambda rng: view_inputs(rng, 6, 32, 0)),
               Case("3 images 24x24, seed 7", lambda rng: view_inputs(rng, 3, 24, 7), seed=1)),
        compare=compare_augment_views,
        call=run_augment_views,
    ),
    Task(
        name="nt_xent_loss",
        function="nt_xent_loss",
        forbidden=READY_MADE + CROSS_ENTROPY,
        by_hand="compute the similarities, mask the diagonal and take the log-softmax of the positives yourself "
                "(torch.logsumexp is fine)",
        cases=(Case("8 pairs, 16 dimensions, temperature 0.5", lambda rng: pair_inputs(rng, 8, 16, 0.5)),
               Case("5 pairs of long vectors (scale 10), temperature 0.1", lambda rng: pair_inputs(rng, 5, 3, 0.1, 10.0),
                    seed=1)),
        reference=_nt_xent_reference,
        compare=close(atol=1e-8, rtol=1e-8, dtype="float64", shape=()),
        call=torch_call,
    ),
    Task(
        name="simclr_step",
        function="simclr_step",
        forbidden=READY_MADE + ("cvcourse_utils.training.fit",),
        by_hand="run both views through the encoder and head, take your nt_xent_loss and step the optimiser yourself",
        cases=(Case("two steps, 4 images 6x6, temperature 0.5", lambda rng: step_inputs(rng, 4, 6, 0, 0.5, 0.1)),
               Case("two steps, 7 images 5x5, temperature 0.2", lambda rng: step_inputs(rng, 7, 5, 1, 0.2, 0.05), seed=1)),
        reference=_simclr_step_reference,
        compare=compare_simclr_step,
        call=run_simclr_step,
    ),
    Task(
        name="knn_classify",
        function="knn_classify",
        forbidden=READY_MADE + ("sklearn.neighbors", "faiss"),
        by_hand="compute the cosine similarities, take the top k and add up the weighted votes yourself",
        cases=(Case("60 train, 20 test, 4 classes, k = 5, T = 0.1", lambda rng: knn_inputs(rng, 60, 20, 8, 4, 5, 0.1)),
               Case("k = 1: the nearest neighbour's label", lambda rng: knn_inputs(rng, 30, 10, 5, 3, 1, 0.07), seed=1)),
        reference=_knn_reference,
        compare=equal(dtype="integer", shape=lambda args: (len(args[2]),)),
        call=torch_call,
    ),
    Task(
        name="linear_probe_accuracy",
        function="linear_probe_accuracy",
        forbidden=READY_MADE + ("sklearn.linear_model", "sklearn.svm", "sklearn.neighbors", "sklearn.discriminant_analysis",
                                "cvcourse_utils.training.fit"),
        by_hand="standardise the features and train the linear classifier with your own loop",
        cases=(Case("Gaussian blobs: 5 classes, 16 dimensions", lambda rng: blob_inputs(rng, 400, 200, 16, 5, 1.2)),
               Case("features that say nothing about the labels", lambda rng: random_label_inputs(rng, 300, 150, 60, 3),
                    seed=1)),
        compare=compare_linear_probe,
        call=run_linear_probe,
    ),
    Task(
        name="embedding_spread",
        function="embedding_spread",
        forbidden=READY_MADE + ("scipy.stats.entropy", "torch.distributions", "scipy.special.entr"),
        by_hand="normalise the rows, then compute the standard deviations and the singular values' entropy yourself",
        cases=(Case("a healthy Gaussian embedding, 200 x 8", lambda rng: embeddings(rng, "healthy", 200, 8)),
               Case("dimensional collapse: a plane in 6 dimensions", lambda rng: embeddings(rng, "plane", 50, 6), seed=1)),
        reference=_spread_reference,
        compare=close(atol=1e-8, rtol=1e-7, dtype="floating"),
        call=run_embedding_spread,
    ),
    Task(
        name="is_collapsed_embedding",
        function="is_collapsed_embedding",
        forbidden=READY_MADE + ("scipy.stats.entropy", "torch.distributions", "scipy.special.entr"),
        by_hand="decide from your embedding_spread's two measures yourself",
        cases=(Case("healthy: not collapsed", lambda rng: (*embeddings(rng, "healthy", 300, 16), 0.03, 2.0)),
               Case("every image at one point: collapsed", lambda rng: (*embeddings(rng, "point", 100, 16), 0.03, 2.0), seed=1),
               Case("two opposite points on a line: collapsed", lambda rng: (*embeddings(rng, "line", 100, 16), 0.03, 2.0),
                    seed=2)),
        reference=_collapsed_reference,
        compare=compare_bool,
        call=run_is_collapsed,
    ),
    Task(
        name="ema_update",
        function="ema_update",
        forbidden=READY_MADE + MOVING_AVERAGE,
        by_hand="move each teacher parameter towards the student's yourself",
        cases=(Case("momentum 0.9, applied twice", lambda rng: (0, 1, 0.9)),
               Case("momentum 0.996 (DINO's start)", lambda rng: (2, 3, 0.996))),
        reference=_ema_reference,
        compare=compare_ema_update,
        call=run_ema_update,
    ),
    Task(
        name="dino_loss",
        function="dino_loss",
        forbidden=READY_MADE + CROSS_ENTROPY,
        by_hand="centre and sharpen the teacher, and sum -p_teacher * log p_student over the view pairs yourself",
        cases=(Case("2 global views only, 4 images, 6 dimensions",
                    lambda rng: dino_inputs(rng, 2, 4, 6, 0.1, 0.04)),
               Case("2 global + 3 local views, 3 images, 10 dimensions",
                    lambda rng: dino_inputs(rng, 5, 3, 10, 0.1, 0.07), seed=1)),
        reference=_dino_reference,
        compare=compare_dino_loss,
        call=run_dino_loss,
    ),
    Task(
        name="update_center",
        function="update_center",
        forbidden=READY_MADE + MOVING_AVERAGE,
        by_hand="average the teacher's outputs and move the centre towards them yourself",
        cases=(Case("2 views of 5 images, 6 dimensions, momentum 0.9",
                    lambda rng: (rng.normal(size=6), rng.normal(size=(2, 5, 6)), 0.9)),),
        reference=_center_reference,
        compare=close(atol=1e-12, rtol=1e-10, dtype="float64", shape=lambda args: args[0].shape),
        call=torch_call,
    ),
    Task(
        name="random_masking",
        function="random_masking",
        forbidden=READY_MADE,
        by_hand="shuffle the patches with argsort of the noise and gather the kept ones yourself",
        cases=(Case("2 images of 16 patches, 75% masked", lambda rng: (rng.normal(size=(2, 16, 3)), 0.75, 0)),
               Case("3 images of 10 patches, 40% masked", lambda rng: (rng.normal(size=(3, 10, 5)), 0.4, 1), seed=1)),
        reference=_masking_reference,
        compare=compare_random_masking,
        call=run_random_masking,
    ),
    Task(
        name="mae_loss",
        function="mae_loss",
        forbidden=READY_MADE,
        by_hand="average the squared error over each patch, then over the masked patches only, yourself",
        cases=(Case("2 images of 8 patches, 6 masked", lambda rng: mae_inputs(rng, 2, 8, 4, 6, False)),
               Case("right on every masked patch, wrong elsewhere: 0", lambda rng: mae_inputs(rng, 3, 9, 5, 4, False, True),
                    seed=1),
               Case("norm_pix: targets standardised per patch", lambda rng: mae_inputs(rng, 2, 8, 6, 5, True), seed=2)),
        reference=_mae_loss_reference,
        compare=close(atol=1e-10, rtol=1e-9, dtype="float64", shape=()),
        call=torch_call,
    ),
)
