"""Lab 07 · Semantic segmentation: the tasks, their public cases and library references.

Transposed convolution is checked against ``torch.nn.functional.conv_transpose2d`` in
float64; the bilinear kernel by up-sampling with it and comparing with
``F.interpolate(mode="bilinear", align_corners=False)`` away from the border; the
confusion matrix, IoU and Dice against scikit-learn (``confusion_matrix``,
``jaccard_score``, ``f1_score``: Dice is the F1 score). The two networks the student builds (``build_fcn``,
``build_unet``) are checked by architecture and behaviour: output shape on several sizes, an encoder down to 1/8,
the skips (with the coarse feature maps zeroed by forward hooks the output must still follow the input), the FCN's
transposed convolutions starting as bilinear up-sampling, a parameter count near the course's network of the
same width, and a short training run on easy scenes. The training function has no single
right answer: its check trains a fixed small U-Net with it and asks for a mean IoU, and watches what it does: the
learning rate of every optimiser step (``lr``, then a cosine over the epochs) and, at the first batch, the gradient
of its loss, which must be cross-entropy plus ``dice_weight`` times the soft Dice loss.

Each task's ``forbidden`` list names the ready-made code that would answer it (``cvcourse_utils.taught``): PyTorch's
transposed convolutions, its up-sampling and resizing, the metric libraries and the course's own metrics in
``cvcourse_utils.segmentation``, and the ready-made segmentation networks (the course's ``FCN``, ``SkipFCN`` and
``UNet``, torchvision's and the segmentation libraries').
"""
from __future__ import annotations

import numpy as np

from cvcourse_utils.checking import Case, CheckFailed, Task, close, equal

IGNORE = 255  # the label of pixels that no metric counts (as in Pascal VOC)

# --------------------------------------------------------------------------- inputs


def conv_transpose_inputs(rng: np.random.Generator, n: int, c_in: int, h: int, w: int, c_out: int, kh: int, kw: int,
                          stride: int, padding: int, output_padding: int = 0) -> tuple:
    """``(x, w, b, stride, padding, output_padding)``: x (n, c_in, h, w), w (c_in, c_out, kh, kw) as
    PyTorch lays out a transposed convolution's weights, b (c_out,); all float64."""
    return (rng.normal(size=(n, c_in, h, w)), rng.normal(size=(c_in, c_out, kh, kw)), rng.normal(size=c_out),
            stride, padding, output_padding)


def upsample_inputs(rng: np.random.Generator, n: int, c: int, h: int, w: int, factor: int) -> tuple:
    """``(x, factor)``: images x (n, c, h, w) float64 to up-sample by an integer factor."""
    return (rng.random((n, c, h, w)), factor)


def label_maps(rng: np.random.Generator, shape: tuple, num_classes: int, accuracy: float = 0.7,
               absent: tuple[int, ...] = (), ignore_fraction: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A random target class map and a prediction that agrees with it on about ``accuracy`` of
    the pixels; classes in ``absent`` appear in neither; a fraction of target pixels is IGNORE."""
    allowed = np.array([k for k in range(num_classes) if k not in absent])
    target = rng.choice(allowed, size=shape)
    wrong = rng.choice(allowed, size=shape)
    pred = np.where(rng.random(shape) < accuracy, target, wrong)
    if ignore_fraction:
        target = np.where(rng.random(shape) < ignore_fraction, IGNORE, target)
    return pred.astype(np.int64), target.astype(np.int64)


def confusion_inputs(rng: np.random.Generator, shape: tuple, num_classes: int, ignore_fraction: float = 0.0,
                     absent: tuple[int, ...] = (), accuracy: float = 0.7) -> tuple:
    """``(pred, target, num_classes, ignore_index)`` for ``segmentation_confusion``."""
    pred, target = label_maps(rng, shape, num_classes, accuracy, absent, ignore_fraction)
    return (pred, target, num_classes, IGNORE)


def matrix_inputs(rng: np.random.Generator, shape: tuple, num_classes: int, absent: tuple[int, ...] = (),
                  accuracy: float = 0.7, never_predicted: tuple[int, ...] = ()) -> tuple:
    """``(confusion,)``: a (K, K) int64 pixel confusion matrix (rows truth, columns prediction) of
    random maps, made with scikit-learn; ``never_predicted`` classes occur in the truth only."""
    from sklearn.metrics import confusion_matrix

    pred, target = label_maps(rng, shape, num_classes, accuracy, absent)
    for k in never_predicted:
        pred = np.where(pred == k, (k + 1) % num_classes, pred)
    return (confusion_matrix(target.ravel(), pred.ravel(), labels=np.arange(num_classes)).astype(np.int64),)


# --------------------------------------------------------------------------- references (library calls)


def _t(a):
    import torch

    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def _conv_transpose_reference(x, w, b, stride, padding, output_padding):
    import torch.nn.functional as F

    return F.conv_transpose2d(_t(x), _t(w), _t(b), stride=stride, padding=padding, output_padding=output_padding)


def bilinear_kernel_size(factor: int) -> int:
    """The side of the bilinear kernel for up-sampling by ``factor``: 2 factor - factor mod 2."""
    return 2 * factor - factor % 2


def upsample_with_kernel(x: np.ndarray, kernel: np.ndarray, factor: int) -> np.ndarray:
    """Up-sample every channel of x (N, C, H, W) by a transposed convolution with ``kernel`` (k, k),
    stride ``factor`` and padding ``(k - factor + 1) // 2``; returns (N, C, H', W') float64."""
    import torch
    import torch.nn.functional as F

    kernel = _t(kernel)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1]:
        raise CheckFailed(f"bilinear_kernel({factor}) must return a square 2-D array, got shape {tuple(kernel.shape)}")
    c, k = x.shape[1], kernel.shape[0]
    weight = torch.zeros(c, c, k, k, dtype=torch.float64)
    weight[range(c), range(c)] = kernel  # channel i -> channel i only
    return F.conv_transpose2d(_t(x), weight, stride=factor, padding=(k - factor + 1) // 2).numpy()


def run_bilinear_kernel(fn, args) -> dict:
    """The student's kernel, and what a transposed convolution initialised with it makes of x."""
    x, factor = args
    kernel = np.asarray(fn(factor), dtype=np.float64)
    if kernel.shape != (bilinear_kernel_size(factor),) * 2:
        return {"kernel_shape": list(kernel.shape)}
    return {"kernel_shape": list(kernel.shape), "upsampled": upsample_with_kernel(x, kernel, factor)}


def _bilinear_reference(x, factor):
    import torch.nn.functional as F

    return F.interpolate(_t(x), scale_factor=factor, mode="bilinear", align_corners=False).numpy()


def compare_bilinear_kernel(actual, expected, args) -> None:
    x, factor = args
    k = bilinear_kernel_size(factor)
    shape = [int(s) for s in actual["kernel_shape"]]
    if shape != [k, k]:
        raise CheckFailed(f"bilinear_kernel({factor}) should be {k}x{k} (2*factor - factor % 2 on a side), got shape {tuple(shape)}")
    inner = (slice(None), slice(None), slice(factor, -factor), slice(factor, -factor))
    up = np.asarray(actual["upsampled"])
    if up.shape != expected.shape:
        raise CheckFailed(f"up-sampled shape {up.shape}, expected {expected.shape}")
    try:
        close(atol=1e-10, rtol=0)(up[inner], expected[inner], args)
    except CheckFailed as err:
        raise CheckFailed(f"a transposed convolution (stride {factor}) with your kernel should equal "
                          f"F.interpolate(mode='bilinear', align_corners=False) away from a border of {factor} pixels "
                          f"(float64):\n{err}") from None


def _confusion_reference(pred, target, num_classes, ignore_index):
    from sklearn.metrics import confusion_matrix

    keep = np.asarray(target) != ignore_index
    return confusion_matrix(np.asarray(target)[keep], np.asarray(pred)[keep], labels=np.arange(num_classes)).astype(np.int64)


def labels_from_confusion(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel labels (y_true, y_pred) that have this confusion matrix (rows truth, columns prediction)."""
    confusion = np.asarray(confusion, dtype=np.int64)
    k = confusion.shape[0]
    truth, pred = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    counts = confusion.ravel()
    return np.repeat(truth.ravel(), counts), np.repeat(pred.ravel(), counts)


def _absent(confusion) -> np.ndarray:
    """Classes with no pixel in the truth and none in the prediction."""
    confusion = np.asarray(confusion)
    return (confusion.sum(0) == 0) & (confusion.sum(1) == 0)


def _iou_reference(confusion):
    from sklearn.metrics import jaccard_score

    y_true, y_pred = labels_from_confusion(confusion)
    k = np.asarray(confusion).shape[0]
    iou = jaccard_score(y_true, y_pred, labels=np.arange(k), average=None, zero_division=0).astype(np.float64)
    return np.where(_absent(confusion), np.nan, iou)  # the convention: absent from both -> NaN


def _dice_reference(confusion):
    from sklearn.metrics import f1_score

    y_true, y_pred = labels_from_confusion(confusion)
    k = np.asarray(confusion).shape[0]
    dice = f1_score(y_true, y_pred, labels=np.arange(k), average=None, zero_division=0).astype(np.float64)
    return np.where(_absent(confusion), np.nan, dice)


def compare_per_class(what: str):
    """Per-class scores: float values, NaN exactly where a class is absent from truth and prediction."""
    inner = close(atol=1e-12, rtol=1e-12)

    def compare(actual, expected, args) -> None:
        actual = np.asarray(actual)
        if actual.dtype.kind != "f":
            raise CheckFailed(f"{what} should be floats (float64), got dtype {actual.dtype}")
        if actual.shape == expected.shape:
            nan_actual, nan_expected = np.isnan(actual), np.isnan(expected)
            if (nan_actual != nan_expected).any():
                k = int(np.argmax(nan_actual != nan_expected))
                raise CheckFailed(f"class {k}: expected {expected[k]}, got {actual[k]}. The convention: a class that is absent "
                                  "from both the truth and the prediction gets NaN (np.nanmean skips it); a class that "
                                  "is present in either gets a number, possibly 0")
        inner(actual, expected, args)

    return compare


# --------------------------------------------------------------------------- train_segmenter: a property check

# The fixed budget of the check: easy scenes (each class has its own colour) at 32x32, a width-8 U-Net
# of depth 2, batches of 8. A working train_segmenter reaches a validation mIoU of 0.6 to 0.9 in 4-5
# epochs on 256-320 scenes with Adam at lr 5e-3 or 1e-2 (with or without the Dice term); a model that
# predicts background everywhere scores about 0.15.
SEGMENTATION_FOR_CHECKS = dict(difficulty="easy", image_size=32)
CHECK_VAL_SCENES = 64
TRAIN_SEGMENTER_BAR = 0.45


def _first_step_loss_weights(first: dict, train_images, train_masks) -> dict:
    """How the loss of the first training batch is made of cross-entropy and soft Dice.

    ``first`` holds the batch's images, the logits the model returned and the gradient the loss sent back to them.
    The gradient is fitted as ``a * dCE/dlogits + b * dDice/dlogits`` (least squares); a loss of
    ``CE + dice_weight * soft_dice_loss`` gives a = 1 and b = dice_weight.
    """
    import torch
    import torch.nn.functional as F

    from cvcourse_utils.segmentation import soft_dice_loss

    if "grad" not in first:
        return {"found": False}
    images = first["images"].flatten(1)
    same = (images[:, None, :] == train_images.flatten(1)[None]).all(-1)
    if not bool(same.any(1).all()):
        return {"found": False}
    target = train_masks[same.float().argmax(1)]
    grads = []
    for loss in (F.cross_entropy, soft_dice_loss):
        logits = first["logits"].clone().requires_grad_(True)
        grads.append(torch.autograd.grad(loss(logits, target), logits)[0].flatten().double())
    basis, g = torch.stack(grads, 1), first["grad"].flatten().double()
    coef = torch.linalg.lstsq(basis, g[:, None]).solution[:, 0]
    residual = float((basis @ coef - g).norm() / g.norm().clamp_min(1e-30))
    return {"found": True, "ce": float(coef[0]), "dice": float(coef[1]), "residual": residual}


def run_train_segmenter(fn, args) -> dict:
    """Train a fixed small U-Net with the student's ``train_segmenter``; report its history and mIoU, and what it
    did: the optimiser and learning rate of every step (a global step hook) and, at the first batch, the gradient
    its loss sent back to the logits (a forward hook), to read the loss's cross-entropy and Dice weights."""
    import torch
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    from cvcourse_utils.datasets import load_dataset
    from cvcourse_utils.seeding import seed_everything
    from cvcourse_utils.segmentation import (UNet, confusion_matrix_pixels, iou_from_confusion, predict_masks,
                                             segmentation_tensors)

    epochs, lr, batch_size, dice_weight, n_train, seed = args
    seed_everything(seed)
    train_set = load_dataset("shapes_segmentation", "train", n=n_train, seed=seed, **SEGMENTATION_FOR_CHECKS)
    val_set = load_dataset("shapes_segmentation", "val", n=CHECK_VAL_SCENES, seed=seed, **SEGMENTATION_FOR_CHECKS)
    model = UNet(3, len(train_set.classes) + 1, width=8, depth=2)
    before = [p.detach().clone() for p in model.parameters()]
    own = {id(p) for p in model.parameters()}
    steps: list[tuple[bool, bool, float]] = []   # (is Adam, holds the model's parameters, learning rate)
    first: dict = {}

    def on_step(optimizer, *_):
        groups = optimizer.param_groups
        steps.append((isinstance(optimizer, torch.optim.Adam), any(id(p) in own for g in groups for p in g["params"]),
                      float(groups[0]["lr"])))

    def on_forward(module, inputs, output):
        # the first training forward pass whose output a gradient reaches (passes without a backward are skipped)
        if module.training and torch.is_tensor(output) and output.requires_grad and "grad" not in first:
            images, logits = inputs[0].detach().float().cpu(), output.detach().float().cpu()

            def on_grad(grad):
                if "grad" not in first:
                    first.update(images=images, logits=logits, grad=grad.detach().float().cpu())

            output.register_hook(on_grad)

    handles = [register_optimizer_step_pre_hook(on_step), model.register_forward_hook(on_forward)]
    try:
        history = fn(model, train_set, val_set, epochs=epochs, lr=lr, batch_size=batch_size, dice_weight=dice_weight, seed=seed)
    finally:
        for handle in handles:
            handle.remove()
    if not isinstance(history, dict) or "val_accuracy" not in history:
        raise TypeError("train_segmenter must return the History dict from fit (with a 'val_accuracy' list)")
    moved = any(not torch.equal(b, p.detach().to(b.device)) for b, p in zip(before, model.parameters()))
    train_images, train_masks = segmentation_tensors(train_set)
    images, masks = segmentation_tensors(val_set)
    miou = float(np.nanmean(iou_from_confusion(confusion_matrix_pixels(predict_masks(model, images), masks, 6))))
    return {"val_accuracy": [float(a) for a in history["val_accuracy"]], "parameters_changed": bool(moved), "miou": miou,
            "adam": [s[0] for s in steps], "own_parameters": [s[1] for s in steps], "lrs": [s[2] for s in steps],
            "loss": _first_step_loss_weights(first, train_images, train_masks)}


def cosine_lrs(lr: float, epochs: int) -> np.ndarray:
    """The learning rate of each epoch under ``CosineAnnealingLR(T_max=epochs)`` stepped once per epoch."""
    return lr * (1 + np.cos(np.pi * np.arange(epochs) / epochs)) / 2


def compare_train_segmenter(actual, expected, args) -> None:
    epochs, lr, batch_size, dice_weight, n_train, seed = args
    accs = [float(a) for a in actual["val_accuracy"]]
    if not bool(actual["parameters_changed"]):
        raise CheckFailed("the model's parameters did not change: train the model you were given, in place")
    if len(accs) != epochs:
        raise CheckFailed(f"epochs={epochs} but the history has {len(accs)} validation accuracies: pass val_loader to fit")
    lrs = np.asarray(actual["lrs"], dtype=np.float64).ravel()
    per_epoch = -(-n_train // batch_size)
    if lrs.size != epochs * per_epoch:
        raise CheckFailed(f"{n_train} scenes in batches of {batch_size} for {epochs} epochs make {epochs * per_epoch} "
                          f"optimiser steps, but your function made {lrs.size}: use the batch_size and epochs you are given")
    if not all(bool(a) for a in actual["own_parameters"]) or not all(bool(a) for a in actual["adam"]):
        raise CheckFailed("every step should be an Adam step on the model's parameters (torch.optim.Adam(model.parameters(), lr=lr))")
    if not np.isclose(lrs[0], lr, rtol=1e-6, atol=0):
        raise CheckFailed(f"the first step used learning rate {lrs[0]:g}, but lr={lr:g}: give lr to Adam")
    wanted = cosine_lrs(lr, epochs)
    got = lrs.reshape(epochs, per_epoch)
    if not np.allclose(got, wanted[:, None], rtol=1e-6, atol=1e-12):
        raise CheckFailed(f"the learning rate of each epoch should follow a cosine from lr to 0 over the {epochs} epochs "
                          "(CosineAnnealingLR(optimizer, T_max=epochs), given to fit as scheduler, which steps it once per "
                          f"epoch): expected {np.array2string(wanted, precision=5)}, your steps used "
                          f"{np.array2string(got[:, 0], precision=5)} at the start of each epoch")
    loss = actual["loss"]
    if not bool(loss["found"]):
        raise CheckFailed("could not follow the loss of the first training batch back to the model's output: train the "
                          "model you were given on the training scenes you were given, with fit")
    ce, dice, residual = float(loss["ce"]), float(loss["dice"]), float(loss["residual"])
    if residual > 0.05 or abs(ce - 1) > 0.05 or abs(dice - dice_weight) > 0.05:
        shape = "" if residual <= 0.05 else f" (and {residual:.0%} of it is neither)"
        raise CheckFailed(f"dice_weight={dice_weight:g}: the loss should be cross-entropy + {dice_weight:g} x soft_dice_loss, "
                          f"but its gradient at the first batch is {ce:.2f} x cross-entropy's + {dice:.2f} x soft Dice's"
                          f"{shape}: use nn.CrossEntropyLoss() (the mean over pixels) plus dice_weight * "
                          "soft_dice_loss(logits, target)")
    miou = float(actual["miou"])
    if miou < TRAIN_SEGMENTER_BAR:
        raise CheckFailed(f"lr={lr:g}, dice_weight={dice_weight:g}: after {epochs} epochs on {n_train} easy scenes the "
                          f"validation mIoU is {miou:.3f}; a working training function reaches {TRAIN_SEGMENTER_BAR} "
                          f"(pixel accuracy per epoch: {', '.join(f'{a:.2f}' for a in accs)})")


# --------------------------------------------------------------------------- build_fcn and build_unet: architecture and behaviour

#: The input sizes (H, W) every network is run on: its output must be (N, num_classes, H, W) for each.
ARCHITECTURE_SIZES = ((32, 32), (64, 48), (16, 40))
#: The short training run of the check (the course's own loop, not the student's): cross-entropy + soft Dice, Adam
#: 5e-3, batches of 8, easy 32x32 scenes. The course's SkipFCN and UNet of width 8 usually reach a validation mIoU of
#: 0.6 to 0.9 in it, but the U-Net's run stalls near 0.25 from some initialisations, so a network below the bar gets a
#: second run from another seed and the better one counts; background everywhere scores about 0.15.
ARCHITECTURE_TRAINING = dict(epochs=4, lr=5e-3, batch_size=8, n_train=256, dice_weight=1.0)
ARCHITECTURE_BAR = 0.30
#: The parameter count must lie within these factors of the course's network of the same width (SkipFCN, UNet).
PARAMETER_RANGE = (0.5, 2.0)


def _outputs_with_coarse_maps_zeroed(model, x, max_side: int):
    """The model's output on x when the output of every leaf module whose feature map has a side of at most
    ``max_side`` pixels is replaced by zeros; and the smallest side any leaf module produced."""
    import torch

    sides: list[int] = []

    def hook(module, inputs, output):
        if torch.is_tensor(output) and output.ndim == 4:
            side = int(min(output.shape[-2:]))
            sides.append(side)
            if side <= max_side:
                return torch.zeros_like(output)
        return None

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    return out, min(sides) if sides else int(min(x.shape[-2:]))


def run_architecture(kind: str):
    """Build the student's network (seeded), and report what it is and does: output shapes on several sizes, its
    parameter count against the course's, its transposed convolutions, whether its output follows the input when
    the coarse maps are cut (the skips), and (``train`` > 0) the validation mIoU after a short training run."""

    def run(fn, args) -> dict:
        import torch
        from torch import nn

        from cvcourse_utils.seeding import seed_everything
        from cvcourse_utils.segmentation import SkipFCN, UNet

        in_channels, num_classes, width, seed, train = args
        seed_everything(seed)
        model = fn(in_channels, num_classes, width)
        if not isinstance(model, nn.Module):
            raise TypeError(f"build_{kind} must return an nn.Module, got {type(model).__name__}")
        model = model.float().cpu().eval()
        report: dict = {"parameters": sum(p.numel() for p in model.parameters())}
        reference = (SkipFCN if kind == "fcn" else UNet)(in_channels, num_classes, width=width)
        report["reference_parameters"] = sum(p.numel() for p in reference.parameters())
        gen = torch.Generator().manual_seed(seed)
        shapes = []
        with torch.no_grad():
            for h, w in ARCHITECTURE_SIZES:
                shapes.append(list(model(torch.rand(2, in_channels, h, w, generator=gen)).shape))
        report["shapes"] = shapes
        ups = [m for m in model.modules() if isinstance(m, nn.ConvTranspose2d)]
        report["transposed"] = [{"stride": int(m.stride[0]), "in": m.in_channels, "out": m.out_channels,
                                 "weight": m.weight.detach().double().cpu().numpy(),
                                 "bias": None if m.bias is None else m.bias.detach().double().cpu().numpy()} for m in ups]
        x1, x2 = (torch.rand(1, in_channels, 32, 32, generator=gen) for _ in range(2))
        with torch.no_grad():
            full1 = model(x1)
        cut_side = 32 // 8 if kind == "fcn" else 32 // 2   # FCN: cut 1/8 (the skip is at 1/4); U-Net: all below full size
        cut1, smallest = _outputs_with_coarse_maps_zeroed(model, x1, cut_side)
        cut2, _ = _outputs_with_coarse_maps_zeroed(model, x2, cut_side)
        report["smallest_side"] = smallest
        report["coarse_changes_output"] = float((full1 - cut1).abs().max())
        report["cut_follows_input"] = float((cut1 - cut2).abs().max())
        if train:
            report["miou"] = _train_briefly(model.train(), num_classes, seed)
            if report["miou"] < ARCHITECTURE_BAR:   # a short run from one initialisation can stall: one more try
                seed_everything(seed + 1000)
                retry = fn(in_channels, num_classes, width).float().cpu().train()
                report["miou"] = max(report["miou"], _train_briefly(retry, num_classes, seed + 1000))
        return report

    return run


def _train_briefly(model, num_classes: int, seed: int) -> float:
    """Train ``model`` with the course's own loop (cross-entropy, Adam, ARCHITECTURE_TRAINING) on easy scenes and
    return its validation mIoU."""
    import torch

    from cvcourse_utils.datasets import load_dataset
    from cvcourse_utils.segmentation import (confusion_matrix_pixels, iou_from_confusion, predict_masks,
                                             segmentation_loader, segmentation_tensors, soft_dice_loss)
    from cvcourse_utils.training import fit

    cfg = ARCHITECTURE_TRAINING
    train_set = load_dataset("shapes_segmentation", "train", n=cfg["n_train"], seed=seed, **SEGMENTATION_FOR_CHECKS)
    val_set = load_dataset("shapes_segmentation", "val", n=CHECK_VAL_SCENES, seed=seed, **SEGMENTATION_FOR_CHECKS)
    loader = segmentation_loader(train_set, batch_size=cfg["batch_size"], shuffle=True, seed=seed)
    ce = torch.nn.CrossEntropyLoss()

    def loss_fn(logits, target):   # the Dice term keeps a short run from settling on background everywhere
        return ce(logits, target) + cfg["dice_weight"] * soft_dice_loss(logits, target)

    fit(model, loader, torch.optim.Adam(model.parameters(), lr=cfg["lr"]), epochs=cfg["epochs"], loss_fn=loss_fn,
        progress=False)
    images, masks = segmentation_tensors(val_set)
    return float(np.nanmean(iou_from_confusion(confusion_matrix_pixels(predict_masks(model, images), masks, num_classes))))


def compare_architecture(kind: str):
    name = f"build_{kind}"

    def compare(actual, expected, args) -> None:
        in_channels, num_classes, width, seed, train = args
        for (h, w), shape in zip(ARCHITECTURE_SIZES, actual["shapes"]):
            if [int(s) for s in shape] != [2, num_classes, h, w]:
                raise CheckFailed(f"{name}({in_channels}, {num_classes}, {width}) on input (2, {in_channels}, {h}, {w}) "
                                  f"returned shape {tuple(int(s) for s in shape)}, expected (2, {num_classes}, {h}, {w}): "
                                  "one score per class and pixel, at the input's size")
        if int(actual["smallest_side"]) > 4:
            raise CheckFailed(f"on a 32x32 input the smallest feature map has a side of {int(actual['smallest_side'])}; "
                              "the encoder should pool three times, down to 1/8 of the input (4x4)")
        if float(actual["coarse_changes_output"]) < 1e-6:
            raise CheckFailed("zeroing the feature maps at 1/8 of the resolution does not change the output: the "
                              "coarse, deep features must reach the scores")
        if float(actual["cut_follows_input"]) < 1e-6:
            where = "at 1/8 of the resolution" if kind == "fcn" else "below the full resolution"
            skip = ("a score layer on the 1/4-resolution features, added to the up-sampled coarse scores"
                    if kind == "fcn" else "the encoder's full-resolution map concatenated in the last decoder stage")
            raise CheckFailed(f"with every feature map {where} zeroed, the output no longer depends on the input: "
                              f"the skip is missing ({skip})")
        low, high = PARAMETER_RANGE
        params, ref = int(actual["parameters"]), int(actual["reference_parameters"])
        if not low * ref <= params <= high * ref:
            raise CheckFailed(f"width {width}: {params:,} parameters, expected between {int(low * ref):,} and "
                              f"{int(high * ref):,} (the course's network of this width has {ref:,}): follow the stages "
                              "and channel counts the text gives")
        ups = actual["transposed"]
        if not ups:
            raise CheckFailed("no nn.ConvTranspose2d layer found: the network up-samples with transposed convolutions")
        if kind == "fcn":
            for up in ups:
                s, wt = int(up["stride"]), np.asarray(up["weight"])
                k = bilinear_kernel_size(s)
                if int(up["in"]) != num_classes or int(up["out"]) != num_classes or wt.shape[2:] != (k, k):
                    raise CheckFailed(f"a transposed convolution of stride {s} should map the {num_classes} class scores to "
                                      f"{num_classes} with a {k}x{k} kernel (bilinear_kernel({s})), got {int(up['in'])} -> "
                                      f"{int(up['out'])} channels, kernel {wt.shape[2:]}")
                off = wt.copy()
                off[range(num_classes), range(num_classes)] = 0
                if np.abs(off).max() > 0 or (up["bias"] is not None and np.abs(np.asarray(up["bias"])).max() > 0):
                    raise CheckFailed(f"the transposed convolution of stride {s} should start as bilinear up-sampling of "
                                      "each class on its own: weight[c, c] = the kernel, every other weight and the bias 0")
                x = np.random.default_rng(seed).random((1, 1, 6, 6))
                for c in range(num_classes):
                    try:
                        compare_bilinear_kernel({"kernel_shape": [k, k], "upsampled": upsample_with_kernel(x, wt[c, c], s)},
                                                _bilinear_reference(x, s), (x, s))
                    except CheckFailed as err:
                        raise CheckFailed(f"the initial weight[{c}, {c}] of the transposed convolution of stride {s} is not "
                                          f"the bilinear kernel (use your bilinear_kernel({s})): {err}") from None
        if train:
            miou = float(actual["miou"])
            if miou < ARCHITECTURE_BAR:
                cfg = ARCHITECTURE_TRAINING
                raise CheckFailed(f"after {cfg['epochs']} epochs of Adam (lr {cfg['lr']:g}, cross-entropy + soft Dice) on {cfg['n_train']} easy scenes "
                                  f"your network reaches a validation mIoU of {miou:.3f} (the better of two runs); the course's "
                                  f"usually reaches 0.6 or more, background everywhere about 0.15, and the bar is "
                                  f"{ARCHITECTURE_BAR}")

    return compare


def architecture_case(name: str, in_channels: int, num_classes: int, width: int, seed: int, train: int) -> Case:
    return Case(name, lambda rng: (in_channels, num_classes, width, seed, train), seed=seed)


# --------------------------------------------------------------------------- what each task must not use

#: Ready-made transposed convolutions (and the convolution's input gradient, which is one), and fold (col2im),
#: which performs exactly the scatter-add the task teaches.
CONV_TRANSPOSE_FORBIDDEN = (
    "torch.nn.functional.conv_transpose2d", "torch.nn.functional.conv_transpose3d", "torch.conv_transpose2d",
    "torch.conv_transpose3d", "torch.nn.ConvTranspose2d", "torch.nn.ConvTranspose3d", "torch.nn.grad.conv2d_input",
    "torch.nn.grad.conv3d_input", "torch.nn.functional.fold", "torch.nn.Fold", "torch.autograd", "torch.func", ".backward",
    "torch.ao", "torch.nn.quantized", "kornia",
)
#: Ready-made up-sampling and resizing, from which the kernel could be cut out as the response to a single 1
#: (including the course's own bilinear resize in cvcourse_utils.datasets).
BILINEAR_FORBIDDEN = (
    "torch.nn.functional.interpolate", "torch.nn.functional.upsample", "torch.nn.functional.upsample_bilinear",
    "torch.nn.functional.grid_sample", "torch.nn.Upsample", "torch.nn.UpsamplingBilinear2d", "torch.ao",
    "torch.nn.quantized", "torchvision.transforms", "cvcourse_utils.datasets.base.resize_images", "scipy.ndimage",
    "scipy.interpolate", "scipy.signal.resample", "skimage.transform", "cv2", "PIL", "kornia",
    "cvcourse_utils.segmentation.bilinear_upsampling_kernel", "cvcourse_utils.segmentation.bilinear_transposed_conv",
)
#: Metric libraries and the course's own implementations (cvcourse_utils.segmentation) of the three metrics.
METRIC_LIBRARIES = ("sklearn.metrics", "torchmetrics")
CONFUSION_FORBIDDEN = (*METRIC_LIBRARIES, "cvcourse_utils.segmentation.confusion_matrix_pixels", "numpy.histogram2d",
                       "numpy.histogramdd", "torch.histogramdd", "scipy.sparse", "scipy.stats.contingency",
                       "torch.sparse", "torch.sparse_coo_tensor", "pandas")
IOU_DICE_FORBIDDEN = (*METRIC_LIBRARIES, "cvcourse_utils.segmentation.iou_from_confusion",
                      "cvcourse_utils.segmentation.dice_from_confusion")

#: Ready-made segmentation networks: the course's own (and their parts that are the answer), torchvision's and
#: the segmentation libraries'.
NETWORK_LIBRARIES = ("torchvision.models.segmentation", "segmentation_models_pytorch", "monai", "timm", "transformers",
                     "cvcourse_utils.diffusion.TinyUNet", "cvcourse_utils.latent_diffusion")
FCN_FORBIDDEN = (*NETWORK_LIBRARIES, "cvcourse_utils.segmentation.FCN", "cvcourse_utils.segmentation.SkipFCN",
                 "cvcourse_utils.segmentation.UNet", "cvcourse_utils.segmentation.bilinear_transposed_conv",
                 "cvcourse_utils.segmentation.bilinear_upsampling_kernel")
UNET_FORBIDDEN = (*NETWORK_LIBRARIES, "cvcourse_utils.segmentation.UNet", "cvcourse_utils.segmentation.SkipFCN",
                  "cvcourse_utils.segmentation.FCN")

# --------------------------------------------------------------------------- tasks, in notebook order

TASKS = (
    Task(
        name="conv_transpose2d_scatter",
        function="conv_transpose2d_scatter",
        cases=(
            Case("1x1x3x3 input, 1 -> 1 channel, 3x3 kernel, stride 1", lambda rng: conv_transpose_inputs(rng, 1, 1, 3, 3, 1, 3, 3, 1, 0)),
            Case("2x3x4x4 input, 3 -> 2 channels, 4x4 kernel, stride 2, padding 1 (doubles the size)",
                 lambda rng: conv_transpose_inputs(rng, 2, 3, 4, 4, 2, 4, 4, 2, 1), seed=1),
            Case("1x2x3x5 input, 2 -> 3 channels, 3x3 kernel, stride 2, padding 1, output_padding 1",
                 lambda rng: conv_transpose_inputs(rng, 1, 2, 3, 5, 3, 3, 3, 2, 1, 1), seed=2),
            Case("2x1x4x3 input, 1 -> 2 channels, 3x2 kernel, stride 2", lambda rng: conv_transpose_inputs(rng, 2, 1, 4, 3, 2, 3, 2, 2, 0), seed=3),
        ),
        reference=_conv_transpose_reference,
        compare=close(atol=1e-10, rtol=1e-10),
        forbidden=CONV_TRANSPOSE_FORBIDDEN,
        by_hand="stamp a weighted copy of the kernel for every input position and add up the overlaps yourself, in NumPy",
    ),
    Task(
        name="bilinear_kernel",
        function="bilinear_kernel",
        cases=(
            Case("factor 2 (4x4 kernel), 1x1x5x5 images", lambda rng: upsample_inputs(rng, 1, 1, 5, 5, 2)),
            Case("factor 4 (8x8 kernel), 2x3x6x4 images", lambda rng: upsample_inputs(rng, 2, 3, 6, 4, 4), seed=1),
        ),
        reference=_bilinear_reference,
        compare=compare_bilinear_kernel,
        call=run_bilinear_kernel,
        forbidden=BILINEAR_FORBIDDEN,
        by_hand="build the tent kernel from its formula yourself (an outer product of two 1-D tents)",
    ),
    Task(
        name="segmentation_confusion",
        function="segmentation_confusion",
        cases=(
            Case("two 6x6 maps, 4 classes", lambda rng: confusion_inputs(rng, (2, 6, 6), 4)),
            Case("one 16x16 map, 6 classes, 10% of the pixels ignored (255)",
                 lambda rng: confusion_inputs(rng, (1, 16, 16), 6, ignore_fraction=0.1), seed=1),
            Case("three 8x8 maps, 5 classes, class 3 absent", lambda rng: confusion_inputs(rng, (3, 8, 8), 5, absent=(3,)), seed=2),
        ),
        reference=_confusion_reference,
        compare=equal(),
        forbidden=CONFUSION_FORBIDDEN,
        by_hand="count the (true, predicted) pairs of the pixels yourself (one np.bincount of target * K + pred)",
    ),
    Task(
        name="iou_per_class",
        function="iou_per_class",
        cases=(
            Case("4 classes, all present", lambda rng: matrix_inputs(rng, (2, 8, 8), 4)),
            Case("6 classes, class 2 absent from truth and prediction (NaN)", lambda rng: matrix_inputs(rng, (1, 12, 12), 6, absent=(2,)), seed=1),
        ),
        reference=_iou_reference,
        compare=compare_per_class("iou_per_class"),
        forbidden=IOU_DICE_FORBIDDEN,
        by_hand="compute IoU from the confusion matrix yourself (its diagonal, row and column sums)",
    ),
    Task(
        name="dice_per_class",
        function="dice_per_class",
        cases=(
            Case("4 classes, all present", lambda rng: matrix_inputs(rng, (2, 8, 8), 4), seed=3),
            Case("5 classes, class 4 absent from truth and prediction (NaN)", lambda rng: matrix_inputs(rng, (1, 12, 12), 5, absent=(4,)), seed=4),
        ),
        reference=_dice_reference,
        compare=compare_per_class("dice_per_class"),
        forbidden=IOU_DICE_FORBIDDEN,
        by_hand="compute Dice from the confusion matrix yourself (its diagonal, row and column sums)",
    ),
    Task(
        name="build_fcn",
        function="build_fcn",
        cases=(
            architecture_case("3 -> 6 classes, width 8: shapes, the 1/4 skip, bilinear start, parameters", 3, 6, 8, 0, 0),
            architecture_case("1 -> 4 classes, width 4", 1, 4, 4, 1, 0),
            architecture_case("3 -> 6 classes, width 8, trained briefly on easy scenes", 3, 6, 8, 2, 1),
        ),
        reference=None,
        compare=compare_architecture("fcn"),
        call=run_architecture("fcn"),
        forbidden=FCN_FORBIDDEN,
        by_hand=("build the FCN's encoder, score layers, skip and bilinear-initialised transposed convolutions yourself "
                 "from nn layers (and your bilinear_kernel)"),
    ),
    Task(
        name="build_unet",
        function="build_unet",
        cases=(
            architecture_case("3 -> 6 classes, width 8: shapes, the skips, parameters", 3, 6, 8, 0, 0),
            architecture_case("1 -> 4 classes, width 4", 1, 4, 4, 1, 0),
            architecture_case("3 -> 6 classes, width 8, trained briefly on easy scenes", 3, 6, 8, 2, 1),
        ),
        reference=None,
        compare=compare_architecture("unet"),
        call=run_architecture("unet"),
        forbidden=UNET_FORBIDDEN,
        by_hand="build the U-Net's encoder, decoder and skip concatenations yourself from nn layers",
    ),
    Task(
        name="train_segmenter",
        function="train_segmenter",
        cases=(
            Case("Adam lr 5e-3, batch 8, 5 epochs on 256 easy 32x32 scenes, cross-entropy", lambda rng: (5, 5e-3, 8, 0.0, 256, 0)),
            Case("the same with a Dice loss added (dice_weight 1)", lambda rng: (5, 5e-3, 8, 1.0, 256, 1)),
        ),
        reference=None,
        compare=compare_train_segmenter,
        call=run_train_segmenter,
        forbidden=(),
        by_hand=("write the loaders, the loss (cross-entropy + dice_weight x soft Dice), Adam and its cosine schedule "
                 "yourself and train with fit: nothing ready-made in the course trains a segmenter, and fit and "
                 "soft_dice_loss are the building blocks it asks for"),
    ),
)
