"""Lab 09 · Visualising and fooling networks: the tasks, their public cases and library references.

- ``saliency_map``, ``occlusion_map``, ``grad_cam``: compared with Captum (``Saliency``, ``Occlusion``,
  ``LayerGradCam``) through ``cvcourse_utils.attribution.attribution_map``, on small seeded networks (a
  ``SmallCNN`` without BatchNorm or a ``CifarResNet`` with BatchNorm in eval mode and non-trivial running
  statistics), rebuilt from ``(kind, width, seed)`` so the student's function and the reference see the same
  weights; float32 results, to ``atol=1e-6, rtol=1e-5``.
- ``class_visualisation`` (no single answer) on a SmallCNN trained for a few seconds on easy shapes: the
  image has shape (3, 32, 32) and lies in [0, 1], the model gives the target class >= 0.9; with
  ``jitter=0, blur_every=0, l2=0.01`` (nothing random) the image is Adam on the stated objective to 0.02 per
  pixel on average; two seeds give different images (jitter); and its high-frequency energy is at most 80 %
  of plain, unregularised ascent's.
- ``fgsm_attack``: ``clip(x + eps sign(grad), 0, 1)`` from autograd, pixel by pixel (pixels whose gradient is
  too close to 0 for a reliable sign are not compared), inside the eps-ball and [0, 1].
- ``accuracy_under_attack``: the accuracy on FGSM images, one float per eps in order, on the trained SmallCNN
  and on a random one.
- ``targeted_attack`` (no single answer): on the trained SmallCNN, every result inside the eps-ball and
  [0, 1], and >= 90 % of the images turned into the target class.
- ``adversarial_training_step``: two steps in a row on a SmallCNN with BatchNorm, compared with the
  reference's losses, parameters and running statistics; the FGSM images must come from eval mode (the
  running statistics) and the update from train mode, so the statistics move once per step.

Every task forbids the course's Captum wrapper or attacks and the libraries that answer it
(``cvcourse_utils.taught``; see ``ATTRIBUTION``, ``ATTACKS``, ``FEATURE_VISUALISATION`` below).
"""
from __future__ import annotations

import functools

import numpy as np

from cvcourse_utils.checking import Case, CheckFailed, Task, close

# --------------------------------------------------------------------------- the networks the checks use

KINDS = ("small_cnn", "small_cnn_bn", "resnet")


def probe_model(kind: str, width: int, seed: int):
    """A seeded, untrained network in eval mode: 3 channels in, 5 logits out."""
    import torch

    from cvcourse_utils.models import CifarResNet, SmallCNN

    torch.manual_seed(seed)
    if kind == "small_cnn":
        model = SmallCNN(3, 5, batchnorm=False, width=width)
    elif kind in ("small_cnn_bn", "resnet"):
        model = SmallCNN(3, 5, width=width) if kind == "small_cnn_bn" else CifarResNet(3, 5, blocks=(1, 1, 1), width=width)
        g = torch.Generator().manual_seed(seed)
        for m in model.modules():  # non-trivial BatchNorm statistics, so eval mode matters
            if isinstance(m, torch.nn.BatchNorm2d):
                with torch.no_grad():
                    m.running_mean.normal_(0.0, 0.1, generator=g)
                    m.running_var.uniform_(0.5, 1.5, generator=g)
    else:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    return model.eval()


def layer_of(model, index: int):
    """``model.features[index]``: a conv block of SmallCNN, or a stage of CifarResNet."""
    return model.features[index]


@functools.lru_cache(maxsize=2)
def trained_probe(seed: int = 0):
    """A SmallCNN (width 8) trained for a few seconds on easy 32x32 shapes (eval mode), with test images.

    Returns ``(model, images (n, 3, 32, 32), labels (n,))``: 64 test images it classifies correctly.
    """
    import torch
    import torch.nn.functional as F

    from cvcourse_utils.datasets import load_dataset
    from cvcourse_utils.models import SmallCNN

    torch.manual_seed(seed)
    x, y = load_dataset("shapes", "train", n=400, seed=seed, as_numpy=True)
    x, y = torch.from_numpy(x).float(), torch.from_numpy(y).long()
    model = SmallCNN(3, 5, width=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(5):
        order = torch.randperm(len(x), generator=g)
        for start in range(0, len(x), 50):
            idx = order[start:start + 50]
            optimizer.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            optimizer.step()
    model.eval()
    xt, yt = load_dataset("shapes", "test", n=200, seed=seed, as_numpy=True)
    xt, yt = torch.from_numpy(xt).float(), torch.from_numpy(yt).long()
    with torch.no_grad():
        right = model(xt).argmax(1) == yt
    return model, xt[right][:64], yt[right][:64]


def images_inputs(rng: np.random.Generator, kind: str, width: int, seed: int, n: int, size: int = 32,
                  *extra) -> tuple:
    """``(kind, width, seed, images (n, 3, size, size) float32 in [0, 1], targets (n,) int64, *extra)``."""
    images = rng.random((n, 3, size, size)).astype(np.float32)
    targets = rng.integers(0, 5, size=n).astype(np.int64)
    return (kind, width, seed, images, targets, *extra)


def _tensors(args):
    import torch

    kind, width, seed, images, targets = args[:5]
    return probe_model(kind, width, seed), torch.from_numpy(images), torch.from_numpy(targets)


def _map_result(fn_name: str, out, n: int, h: int, w: int):
    import torch

    if not isinstance(out, torch.Tensor):
        raise TypeError(f"{fn_name} must return a torch tensor of shape ({n}, {h}, {w}), got {type(out).__name__}")
    return out.detach().cpu().float()


# --------------------------------------------------------------------------- attribution maps vs Captum


def run_saliency_map(fn, args):
    model, x, t = _tensors(args)
    return _map_result("saliency_map", fn(model, x, t), *x.shape[:1], *x.shape[2:])


def saliency_reference(kind, width, seed, images, targets):
    from cvcourse_utils.attribution import attribution_map

    model, x, t = _tensors((kind, width, seed, images, targets))
    return attribution_map("saliency", model, x, t)


def run_occlusion_map(fn, args):
    model, x, t = _tensors(args)
    window, stride, baseline = args[5:]
    return _map_result("occlusion_map", fn(model, x, t, window, stride, baseline), x.shape[0], *x.shape[2:])


def occlusion_reference(kind, width, seed, images, targets, window, stride, baseline):
    from cvcourse_utils.attribution import attribution_map

    model, x, t = _tensors((kind, width, seed, images, targets))
    return attribution_map("occlusion", model, x, t, window=window, stride=stride, baseline=baseline)


def run_grad_cam(fn, args):
    model, x, t = _tensors(args)
    return _map_result("grad_cam", fn(model, layer_of(model, args[5]), x, t), x.shape[0], *x.shape[2:])


def grad_cam_reference(kind, width, seed, images, targets, layer_index):
    from cvcourse_utils.attribution import attribution_map

    model, x, t = _tensors((kind, width, seed, images, targets))
    return attribution_map("grad_cam", model, x, t, layer=layer_of(model, layer_index))


def _map_shape(args) -> tuple:
    images = args[3]
    return (images.shape[0], images.shape[2], images.shape[3])


# --------------------------------------------------------------------------- class visualisation (property)


VIS_L2 = 0.01  # the deterministic run: the L2 term alone, no jitter, no blur


def _plain_ascent(model, target: int, steps: int, *, l2: float, size: int = 32, lr: float = 0.05):
    """Adam on ``-s_t(x) + l2 ||x - 0.5||^2`` from grey, clamped to [0, 1] after every step (no jitter, no blur)."""
    import torch

    image = torch.full((1, 3, size, size), 0.5, requires_grad=True)
    optimizer = torch.optim.Adam([image], lr=lr)
    for _ in range(steps):
        loss = -model(image)[0, target] + l2 * (image - 0.5).pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            image.clamp_(0.0, 1.0)
    return image.detach()[0]


def high_frequency(image) -> float:
    """Mean squared difference between neighbouring pixels (what blur and the L2 pull keep small)."""
    image = np.asarray(image, dtype=np.float64)
    return float(np.mean(np.diff(image, axis=-1) ** 2) + np.mean(np.diff(image, axis=-2) ** 2))


def _visualised(fn, model, target: int, steps: int, seed: int, **options):
    import torch

    torch.manual_seed(seed)
    image = fn(model, int(target), steps, **options)
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"class_visualisation must return a torch tensor (3, 32, 32), got {type(image).__name__}")
    return image.detach().float()


def run_class_visualisation(fn, args):
    """Three runs: the defaults under seeds 1 and 2 (jitter is random, so they differ), and one with
    ``jitter=0, blur_every=0, l2=VIS_L2`` (deterministic: plain Adam on the regularised objective)."""
    import torch

    target, steps = args
    model, _, _ = trained_probe(0)
    image = _visualised(fn, model, target, steps, 1)
    other = _visualised(fn, model, target, steps, 2)
    fixed = _visualised(fn, model, target, steps, 0, jitter=0, blur_every=0, l2=VIS_L2)
    with torch.no_grad():
        probs = torch.softmax(model(image.reshape(1, *image.shape[-3:])), dim=1)[0] if image.numel() == 3 * 32 * 32 \
            else torch.zeros(5)
    return {"shape": list(image.shape), "min": float(image.min()), "max": float(image.max()),
            "target_probability": float(probs[int(target)]), "predicted": int(probs.argmax()),
            "seed_difference": float((image - other).abs().max()) if image.shape == other.shape else 1.0,
            "high_frequency": high_frequency(image), "fixed": fixed}


def class_visualisation_reference(target, steps):
    """Plain ascent (no regulariser) for the high-frequency bar, and the deterministic run's expected image."""
    model, _, _ = trained_probe(0)
    plain = _plain_ascent(model, int(target), steps, l2=0.0)
    return {"plain_high_frequency": high_frequency(plain), "fixed": _plain_ascent(model, int(target), steps, l2=VIS_L2)}


CLASS_VIS_BAR = 0.9
SMOOTHER = 0.8     # the regularised image's high-frequency energy, at most this share of plain ascent's
FIXED_ATOL = 0.02  # mean |difference| from the deterministic reference (a wrong objective differs by ~0.2)


def compare_class_visualisation(actual, expected, args) -> None:
    target, steps = args
    if [int(s) for s in actual["shape"]] != [3, 32, 32]:
        raise CheckFailed(f"the image must have shape (3, 32, 32), got {tuple(int(s) for s in actual['shape'])}")
    if float(actual["min"]) < 0 or float(actual["max"]) > 1:
        raise CheckFailed(f"pixel values must lie in [0, 1] (clamp after each step); got [{float(actual['min']):.3f}, "
                          f"{float(actual['max']):.3f}]")
    p = float(actual["target_probability"])
    if p < CLASS_VIS_BAR:
        raise CheckFailed(f"after {steps} steps the model gives class {target} probability {p:.3f} (predicts class "
                          f"{int(actual['predicted'])}); it should be >= {CLASS_VIS_BAR}")
    fixed, want = np.asarray(actual["fixed"], dtype=np.float64), np.asarray(expected["fixed"], dtype=np.float64)
    if fixed.shape != want.shape:
        raise CheckFailed(f"with jitter=0, blur_every=0, l2={VIS_L2} the image must have shape {want.shape}, got {fixed.shape}")
    gap = float(np.abs(fixed - want).mean())
    if gap > FIXED_ATOL:
        raise CheckFailed(f"with jitter=0, blur_every=0 and l2={VIS_L2} (nothing random), the result should be Adam "
                          f"(lr={0.05}) on -s_t(x) + l2 * ||x - 0.5||^2 from a grey image, clamped to [0, 1] after each step; "
                          f"it differs from that by {gap:.3f} per pixel on average (tolerance {FIXED_ATOL}): start from grey, "
                          "add the L2 term and climb the target's score")
    if float(actual["seed_difference"]) < 0.01:
        raise CheckFailed("two runs under different seeds (torch.manual_seed 1 and 2) gave the same image: shift the image "
                          "by a random amount (up to `jitter` pixels, torch.randint and torch.roll) at every step")
    hf, plain = float(actual["high_frequency"]), float(expected["plain_high_frequency"])
    if hf > SMOOTHER * plain:
        raise CheckFailed(f"the image is as noisy as plain gradient ascent (mean squared neighbour difference {hf:.3f}, "
                          f"plain ascent {plain:.3f}; the regularised image should be <= {SMOOTHER:.0%} of it): apply the "
                          "L2 pull, the jitter and a light Gaussian blur every `blur_every` steps")


# --------------------------------------------------------------------------- FGSM and the accuracy under attack


def _input_gradient(model, x, y):
    import torch
    import torch.nn.functional as F

    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), x)
    return grad


def attack_inputs(rng: np.random.Generator, kind: str, width: int, seed: int, n: int, eps: float) -> tuple:
    """``(kind, width, seed, images (n, 3, 32, 32) float32 in [0, 1], labels (n,) int64, eps)``; some pixels at 0 and 1."""
    images = rng.random((n, 3, 32, 32)).astype(np.float32)
    images[:, :, :4] = 0.0
    images[:, :, -4:] = 1.0
    return (kind, width, seed, images, rng.integers(0, 5, size=n).astype(np.int64), float(eps))


def run_fgsm_attack(fn, args):
    import torch

    model, x, y = _tensors(args)
    out = fn(model, x, y, args[5])
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"fgsm_attack must return a torch tensor shaped like the images, got {type(out).__name__}")
    return out.detach().float()


def fgsm_reference(kind, width, seed, images, labels, eps):
    """``clip(x + eps sign(grad), 0, 1)`` with autograd, and which pixels have a reliable gradient sign."""
    model, x, y = _tensors((kind, width, seed, images, labels))
    grad = _input_gradient(model, x, y)
    adv = (x + eps * grad.sign()).clamp(0, 1)
    scale = grad.abs().flatten(1).amax(1).clamp_min(1e-30).reshape(-1, 1, 1, 1)
    return {"adv": adv, "reliable": (grad.abs() > 1e-4 * scale)}


def compare_fgsm(actual, expected, args) -> None:
    images, eps = np.asarray(args[3], dtype=np.float64), float(args[5])
    a = np.asarray(actual, dtype=np.float64)
    if a.shape != images.shape:
        raise CheckFailed(f"expected shape {images.shape} (float32, like the images), got {a.shape}")
    if a.min() < 0 or a.max() > 1:
        raise CheckFailed(f"adversarial pixels must lie in [0, 1] (clip them); got [{a.min():.4f}, {a.max():.4f}]")
    linf = float(np.abs(a - images).max())
    if linf > eps + 1e-6:
        raise CheckFailed(f"|x_adv - x|_inf = {linf:.6f} is larger than eps = {eps:.6f}")
    reliable = np.asarray(expected["reliable"], dtype=bool)
    want = np.asarray(expected["adv"], dtype=np.float64)
    bad = reliable & ~np.isclose(a, want, atol=1e-6, rtol=0)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise CheckFailed(f"{int(bad.sum())} of {int(reliable.sum())} pixels differ from clip(x + eps * sign(grad), 0, 1) "
                          f"(eps = {eps:.5f}); first at index {first}: actual {a[first]:.6f}, expected {want[first]:.6f}, "
                          f"clean {images[first]:.6f}")


def run_accuracy_under_attack(fn, args):
    import torch

    kind, width, seed, images, labels, epsilons = args
    model, x, y = trained_probe(0) if kind == "trained" else _tensors(args[:5])
    out = fn(model, x, y, list(epsilons))
    return np.asarray(out, dtype=np.float64) if not isinstance(out, torch.Tensor) else out.detach().double()


def accuracy_under_attack_reference(kind, width, seed, images, labels, epsilons):
    """Accuracy (float64, in [0, 1]) on FGSM images, one number per eps, in the order given."""
    import torch

    model, x, y = trained_probe(0) if kind == "trained" else _tensors((kind, width, seed, images, labels))
    grad = _input_gradient(model, x, y)
    out = []
    for eps in epsilons:
        with torch.no_grad():
            out.append(float((model((x + eps * grad.sign()).clamp(0, 1)).argmax(1) == y).double().mean()))
    return np.array(out)


def trained_inputs(rng: np.random.Generator, epsilons) -> tuple:
    """Arguments that select the trained SmallCNN and its 64 test images (the arrays are placeholders)."""
    return ("trained", 8, 0, np.zeros((1, 3, 32, 32), np.float32), np.zeros(1, np.int64), tuple(epsilons))


def random_attack_inputs(rng: np.random.Generator, kind: str, width: int, seed: int, n: int, epsilons) -> tuple:
    images = rng.random((n, 3, 32, 32)).astype(np.float32)
    return (kind, width, seed, images, rng.integers(0, 5, size=n).astype(np.int64), tuple(epsilons))


# --------------------------------------------------------------------------- targeted attack (property)


TARGETED_BAR = 0.9


def run_targeted_attack(fn, args):
    import torch

    target, eps, alpha, steps = args
    model, x, y = trained_probe(0)
    keep = y != target
    x, y = x[keep], y[keep]
    wanted = torch.full_like(y, int(target))
    adv = fn(model, x, wanted, eps, alpha, steps)
    if not isinstance(adv, torch.Tensor) or tuple(adv.shape) != tuple(x.shape):
        raise TypeError(f"targeted_attack must return a tensor of shape {tuple(x.shape)}")
    adv = adv.detach().float()
    with torch.no_grad():
        hit = float((model(adv).argmax(1) == wanted).float().mean())
    return {"linf": float((adv - x).abs().max()), "min": float(adv.min()), "max": float(adv.max()), "success": hit,
            "n": len(x)}


def compare_targeted_attack(actual, expected, args) -> None:
    target, eps, alpha, steps = args
    if float(actual["linf"]) > eps + 1e-6:
        raise CheckFailed(f"|x_adv - x|_inf = {float(actual['linf']):.6f} is larger than eps = {eps:.6f}: project after each step")
    if float(actual["min"]) < 0 or float(actual["max"]) > 1:
        raise CheckFailed(f"adversarial pixels must lie in [0, 1]; got [{float(actual['min']):.4f}, {float(actual['max']):.4f}]")
    if float(actual["success"]) < TARGETED_BAR:
        raise CheckFailed(f"only {float(actual['success']):.0%} of {int(actual['n'])} images became class {target} "
                          f"(eps = {eps:.4f}, alpha = {alpha:.4f}, {steps} steps); a targeted attack should reach "
                          f">= {TARGETED_BAR:.0%}")


# --------------------------------------------------------------------------- one step of adversarial training


def training_inputs(rng: np.random.Generator, width: int, seed: int, n: int, eps: float, lr: float, steps: int = 2,
                    kind: str = "small_cnn_bn") -> tuple:
    """A SmallCNN with BatchNorm (non-trivial running statistics) and ``steps`` training steps on the same batch:
    the FGSM images must come from eval mode (running statistics) and the update from train mode (batch
    statistics, which also moves the running ones once per step)."""
    images = rng.random((n, 3, 32, 32)).astype(np.float32)
    return (kind, width, seed, images, rng.integers(0, 5, size=n).astype(np.int64), float(eps), float(lr), int(steps))


def _flat_parameters(model):
    import torch

    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _running_statistics(model):
    import torch

    stats = [b.detach().double().reshape(-1) for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var"))]
    return torch.cat(stats) if stats else torch.zeros(0, dtype=torch.float64)


def run_adversarial_training_step(fn, args):
    import torch

    model, x, y = _tensors(args[:5])
    eps, lr, steps = args[5:]
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    modes = []  # model.training at each forward pass, in order
    hook = model.register_forward_pre_hook(lambda module, inputs: modes.append(bool(module.training)))
    try:
        losses = [float(fn(model, optimizer, x, y, eps)) for _ in range(steps)]
    finally:
        hook.remove()
    return {"loss": np.array(losses), "parameters": _flat_parameters(model), "running_statistics": _running_statistics(model),
            "modes": np.array(modes, dtype=bool)}


def adversarial_training_step_reference(kind, width, seed, images, labels, eps, lr, steps):
    """Each step: FGSM images from the current model in eval mode, then one SGD step on their mean cross-entropy in
    train mode; the losses before each step, the parameters and BatchNorm's running statistics after the last."""
    import torch
    import torch.nn.functional as F

    model, x, y = _tensors((kind, width, seed, images, labels))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        model.eval()
        x_adv = (x + eps * _input_gradient(model, x, y).sign()).clamp(0, 1)
        model.train()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x_adv), y)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return {"loss": np.array(losses), "parameters": _flat_parameters(model), "running_statistics": _running_statistics(model)}


_close_training = close(atol=1e-5, rtol=1e-4)


def compare_adversarial_training_step(actual, expected, args) -> None:
    steps = int(args[7])
    modes = [bool(m) for m in np.asarray(actual.get("modes", []), dtype=bool).reshape(-1)]
    if True not in modes:
        raise CheckFailed("the model was never in train mode during a forward pass: call model.train() before the training "
                          "forward (BatchNorm must use the batch's statistics there)")
    if steps > 1 and False not in modes[modes.index(True):]:
        raise CheckFailed(f"in {steps} steps in a row, the model stayed in train mode after the first training forward: "
                          "call model.eval() before crafting the FGSM images (the previous step left it in train mode)")
    got, want = np.asarray(actual["running_statistics"], np.float64), np.asarray(expected["running_statistics"], np.float64)
    if got.shape == want.shape and not np.allclose(got, want, atol=1e-5, rtol=1e-4):
        raise CheckFailed("BatchNorm's running statistics differ from the expected ones: they must move only in the one "
                          "training forward of each step (FGSM in eval mode, the update in train mode)")
    _close_training({k: actual[k] for k in ("loss", "parameters", "running_statistics")}, expected, args)


# --------------------------------------------------------------------------- the tasks

#: What an answer may not call (cvcourse_utils.taught): the course's Captum wrapper and Captum itself for the maps
#: (show_heatmaps, in the same module, stays allowed: the lab plots with it), and the course's attacks
#: (fgsm, pgd, robust_accuracy, adversarial_fit) with every attack library for the rest.
ATTRIBUTION = ("cvcourse_utils.attribution.attribution_map", "cvcourse_utils.attribution._attribution_map", "captum")
ATTACKS = ("cvcourse_utils.adversarial", "captum", "torchattacks", "foolbox", "advertorch", "art.attacks", "art.defences")
FEATURE_VISUALISATION = ("captum", "lucent", "cvcourse_utils.attribution.attribution_map",
                         "cvcourse_utils.attribution._attribution_map")

TASKS = (
    Task(
        name="saliency_map",
        function="saliency_map",
        cases=(
            Case("SmallCNN (width 4), 3 random 32x32 images", lambda rng: images_inputs(rng, "small_cnn", 4, 0, 3)),
            Case("CifarResNet (width 4, BatchNorm in eval mode), 2 images of 16x16",
                 lambda rng: images_inputs(rng, "resnet", 4, 1, 2, 16), seed=1),
        ),
        reference=saliency_reference,
        compare=close(atol=1e-6, rtol=1e-5, dtype="float32", shape=_map_shape),
        call=run_saliency_map,
        forbidden=ATTRIBUTION,
        by_hand='take the gradient of the target score with respect to the pixels yourself (torch.autograd.grad)',
    ),
    Task(
        name="occlusion_map",
        function="occlusion_map",
        cases=(
            Case("SmallCNN, 2 images, window 8, stride 4, baseline 0",
                 lambda rng: images_inputs(rng, "small_cnn", 4, 0, 2, 32, 8, 4, 0.0)),
            Case("CifarResNet, 16x16, window 5, stride 3 (the last window overhangs), baseline 0.5",
                 lambda rng: images_inputs(rng, "resnet", 4, 2, 2, 16, 5, 3, 0.5), seed=1),
        ),
        reference=occlusion_reference,
        compare=close(atol=1e-6, rtol=1e-5, dtype="float32", shape=_map_shape),
        call=run_occlusion_map,
        forbidden=ATTRIBUTION,
        by_hand='slide the patch over the images and average the score drops yourself',
    ),
    Task(
        name="grad_cam",
        function="grad_cam",
        cases=(
            Case("SmallCNN, last block (4x4 maps), 3 images", lambda rng: images_inputs(rng, "small_cnn", 4, 0, 3, 32, 2)),
            Case("CifarResNet, stage 2 (16x16 maps), 2 images", lambda rng: images_inputs(rng, "resnet", 4, 3, 2, 32, 2),
                 seed=1),
        ),
        reference=grad_cam_reference,
        compare=close(atol=1e-6, rtol=1e-5, dtype="float32", shape=_map_shape),
        call=run_grad_cam,
        forbidden=ATTRIBUTION,
        by_hand="weigh the layer's activations by their mean gradient yourself (a forward hook and torch.autograd.grad)",
    ),
    Task(
        name="class_visualisation",
        function="class_visualisation",
        cases=(
            Case("class 3 (star), 60 steps, on a small trained CNN (seeds 1 and 2, and once with jitter=0, blur_every=0, "
                 "l2=0.01)", lambda rng: (3, 60)),
        ),
        reference=class_visualisation_reference,
        compare=compare_class_visualisation,
        call=run_class_visualisation,
        forbidden=FEATURE_VISUALISATION,
        by_hand='write the regularised gradient ascent on the image yourself (Adam, L2, jitter, blur)',
    ),
    Task(
        name="fgsm_attack",
        function="fgsm_attack",
        cases=(
            Case("SmallCNN, 4 images, eps = 8/255 (some pixels at 0 and 1)",
                 lambda rng: attack_inputs(rng, "small_cnn", 4, 0, 4, 8 / 255)),
            Case("CifarResNet, 3 images, eps = 0.1", lambda rng: attack_inputs(rng, "resnet", 4, 1, 3, 0.1), seed=1),
        ),
        reference=fgsm_reference,
        compare=compare_fgsm,
        call=run_fgsm_attack,
        forbidden=ATTACKS,
        by_hand='take the signed-gradient step yourself (torch.autograd.grad, sign, clamp)',
    ),
    Task(
        name="accuracy_under_attack",
        function="accuracy_under_attack",
        cases=(
            Case("a small trained CNN, 64 shapes, eps = 0, 2/255, 8/255", lambda rng: trained_inputs(rng, (0.0, 2 / 255, 8 / 255))),
            Case("SmallCNN (random weights), 20 images, eps = 0.05, 0", lambda rng: random_attack_inputs(rng, "small_cnn", 4, 1, 20, (0.05, 0.0)),
                 seed=1),
        ),
        reference=accuracy_under_attack_reference,
        compare=close(atol=0.02, rtol=0, dtype="floating"),
        call=run_accuracy_under_attack,
        forbidden=ATTACKS,
        by_hand='measure the accuracy on the images of your own fgsm_attack',
    ),
    Task(
        name="targeted_attack",
        function="targeted_attack",
        cases=(
            Case("make every shape a star: eps = 0.2, alpha = 0.02, 20 steps (a small CNN on easy shapes)",
                 lambda rng: (3, 0.2, 0.02, 20)),
        ),
        reference=None,
        compare=compare_targeted_attack,
        call=run_targeted_attack,
        forbidden=ATTACKS,
        by_hand='write the projected signed-gradient steps toward the target class yourself',
    ),
    Task(
        name="adversarial_training_step",
        function="adversarial_training_step",
        cases=(
            Case("SmallCNN with BatchNorm (width 4), 8 images, eps = 8/255, SGD lr 0.1, two steps in a row",
                 lambda rng: training_inputs(rng, 4, 0, 8, 8 / 255, 0.1)),
        ),
        reference=adversarial_training_step_reference,
        compare=compare_adversarial_training_step,
        call=run_adversarial_training_step,
        forbidden=ATTACKS,
        by_hand='craft the FGSM images (your fgsm_attack, in eval mode) and take the training step (in train mode) yourself',
    ),
)
