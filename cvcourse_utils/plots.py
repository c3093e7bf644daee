"""The figures every notebook draws: image grids, learned weights, boxes, masks and training curves.

Every function returns the matplotlib ``Figure`` it drew, with a title and labelled axes.
Images may be torch tensors or NumPy arrays shaped (N, C, H, W) or (N, H, W) with 1 or 3
channels (channels-last (N, H, W, C) works too). uint8 images are divided by 255; float
images in [0, 1] are shown as they are, any other floats are min-max scaled per image.

In a notebook, end the line with ``;`` (``show_images(x);``) or assign the figure
(``fig = show_images(x)``): otherwise Jupyter shows it twice, once as the cell's value.

Drawing is done by the libraries that already do it: ``torchvision.utils.make_grid``,
``draw_bounding_boxes`` and ``draw_segmentation_masks``.
"""
from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks, make_grid

RIGHT, WRONG = "green", "red"  # title colours of right and wrong predictions
PALETTE = plt.get_cmap("tab10").colors  # class k (1, 2, ...) is drawn in PALETTE[(k - 1) % 10]


# ----------------------------------------------------------------------------- helpers


def _numpy(x) -> np.ndarray:
    """A tensor (any device, any float type) or array-like as a NumPy array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return (x.float() if x.dtype in (torch.float16, torch.bfloat16) else x).numpy()
    return np.asarray(x)


def _unit_range(x: np.ndarray) -> np.ndarray:
    """x: (N, ...) -> float32 in [0, 1]: uint8 / 255, floats outside [0, 1] min-max scaled per item."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255
    x = x.astype(np.float32)
    if x.size and (x.min() < 0 or x.max() > 1):
        axes = tuple(range(1, x.ndim))
        low, high = x.min(axis=axes, keepdims=True), x.max(axis=axes, keepdims=True)
        x = (x - low) / np.maximum(high - low, 1e-12)
    return x


def _as_images(images, what: str = "images") -> np.ndarray:
    """(N, C, H, W), (N, H, W) or (N, H, W, C) -> float32 (N, H, W, C) in [0, 1] with C in {1, 3}."""
    x = _numpy(images)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"{what} must be shaped (N, C, H, W) or (N, H, W); got shape {tuple(x.shape)}")
    if x.shape[1] not in (1, 3) and x.shape[3] in (1, 3):
        x = x.transpose(0, 3, 1, 2)  # channels last -> channels first
    if x.shape[1] not in (1, 3):
        raise ValueError(f"{what} must have 1 or 3 channels (dim 1 of (N, C, H, W)); got shape {tuple(x.shape)}")
    return _unit_range(x).transpose(0, 2, 3, 1)


def _rgb_uint8(image) -> torch.Tensor:
    """One image (3, H, W), (1, H, W), (H, W) or (H, W, 3) -> uint8 tensor (3, H, W)."""
    x = _numpy(image)
    if x.ndim not in (2, 3):
        raise ValueError(f"image must be one image shaped (3, H, W) or (H, W); got shape {tuple(x.shape)}")
    x = _as_images(x[None], what="image")[0]  # (H, W, C) in [0, 1]
    x = torch.from_numpy(np.round(x * 255).astype(np.uint8)).permute(2, 0, 1)
    return x.expand(3, -1, -1).contiguous()


def _show(ax, image: np.ndarray) -> None:
    """image: (H, W, C) in [0, 1]; grey images get a grey colour map."""
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(image)


def _panels(n: int, ncols: int, size: float = 1.6) -> tuple[Figure, list]:
    """A figure with a grid of n image panels (no ticks); unused grid cells are hidden."""
    if n == 0:
        raise ValueError("there is nothing to show: got 0 images")
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.8), squeeze=False,
                             layout="constrained")
    axes = list(axes.flat)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _class_indices(values, n: int, what: str) -> np.ndarray | None:
    if values is None:
        return None
    values = _numpy(values).reshape(-1)
    if len(values) != n:
        raise ValueError(f"{what} must have one entry per image: {n} images but {len(values)} {what}")
    return values.astype(np.int64)


def _name(index: int, class_names: Sequence[str] | None) -> str:
    """Classification: index 0, 1, ... into class_names."""
    return str(class_names[index]) if class_names is not None else str(index)


def _detection_name(label: int, class_names: Sequence[str] | None) -> str:
    """Detection and segmentation labels: 0 is background, 1..C are classes. class_names may leave out
    the background (as the course datasets do: label k is class_names[k - 1]) or start with it
    (as torchvision's "__background__", label k is class_names[k])."""
    if class_names is None:
        return str(label)
    if str(class_names[0]).strip("_").lower() == "background":
        return str(class_names[label])
    return "background" if label == 0 else str(class_names[label - 1])


def _class_rgb(label: int) -> tuple[int, int, int]:
    """The colour of detection/segmentation class ``label`` (1, 2, ...) as uint8 RGB."""
    return tuple(round(255 * c) for c in PALETTE[(int(label) - 1) % len(PALETTE)])


# ----------------------------------------------------------------------------- image grids


def show_images(images, labels=None, predictions=None, class_names: Sequence[str] | None = None, ncols: int = 8,
                title: str = "", *, max_images: int = 64) -> Figure:
    """A grid of images titled by their labels, or by their predictions (green if right, red if wrong).

    images: (N, C, H, W) or (N, H, W); labels, predictions: (N,) class indices into class_names.
    Only the first ``max_images`` are drawn.
    """
    x = _as_images(images)
    labels = _class_indices(labels, len(x), "labels")
    predictions = _class_indices(predictions, len(x), "predictions")
    fig, axes = _panels(min(len(x), max_images), ncols)
    for i, ax in enumerate(axes):
        _show(ax, x[i])
        if predictions is not None and labels is not None:
            wrong = predictions[i] != labels[i]
            text = _name(predictions[i], class_names) + (f"\n(true: {_name(labels[i], class_names)})" if wrong else "")
            ax.set_title(text, color=WRONG if wrong else RIGHT, fontsize=9)
        elif predictions is not None or labels is not None:
            shown = predictions if predictions is not None else labels
            ax.set_title(_name(shown[i], class_names), fontsize=9)
    if predictions is not None and labels is not None:
        note = f"panel title: predicted class, green if right, red if wrong ({int((predictions != labels).sum())} wrong)"
    elif predictions is not None:
        note = "panel title: predicted class"
    else:
        note = "panel title: label" if labels is not None else ""  # unlabelled: the title says what they are
    fig.suptitle(title or "Images")
    if note:
        fig.supxlabel(note, fontsize=9)
    return fig


def show_templates(weights, image_shape: Sequence[int], class_names: Sequence[str] | None = None,
                   title: str = "") -> Figure:
    """A linear classifier's weights as one image per class ("templates"), min-max scaled per class.

    weights: (K, D) like ``nn.Linear(D, K).weight``; each row is reshaped to image_shape (C, H, W)
    or (H, W), so D must be C * H * W (drop a bias column first).
    """
    w = _numpy(weights).astype(np.float32)
    shape = tuple(int(s) for s in image_shape)
    d = math.prod(shape)
    if w.ndim != 2 or w.shape[1] != d:
        hint = ""
        if w.ndim == 2 and w.shape[0] == d:
            hint = "; it looks like (D, K): pass weights.T"
        elif w.ndim == 2 and w.shape[1] == d + 1:
            hint = "; drop the bias column first"
        raise ValueError(f"weights must be (K, D) with D = {d} (the size of image_shape {shape}); "
                         f"got shape {tuple(w.shape)}{hint}")
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise ValueError(f"image_shape must be (C, H, W) with C = 1 or 3, or (H, W); got {tuple(image_shape)}")
    templates = w.reshape(-1, *shape).transpose(0, 2, 3, 1)  # (K, H, W, C)
    low, high = templates.min(axis=(1, 2, 3), keepdims=True), templates.max(axis=(1, 2, 3), keepdims=True)
    templates = (templates - low) / np.maximum(high - low, 1e-12)  # min-max scaled per class
    fig, axes = _panels(len(templates), ncols=min(len(templates), 10))
    for k, ax in enumerate(axes):
        _show(ax, templates[k])
        ax.set_title(_name(k, class_names) if class_names is not None else f"class {k}", fontsize=9)
    fig.suptitle(title or "Learned templates")
    fig.supxlabel("each panel: one class's weights as an image, min-max scaled (bright = large weight)", fontsize=9)
    return fig


def show_filters(weight, title: str = "", *, ncols: int = 8) -> Figure:
    """Convolution filters, each min-max scaled, drawn with ``make_grid``.

    weight: (O, I, kh, kw) like ``nn.Conv2d.weight``. With I = 3 each filter is an RGB patch, with
    I = 1 a grey one; otherwise each (output, input) pair is a grey patch, one row per filter.
    """
    w = torch.as_tensor(_numpy(weight)).float()
    if w.ndim != 4:
        raise ValueError(f"weight must be shaped (O, I, kh, kw) like conv.weight; got shape {tuple(w.shape)}")
    out_channels, in_channels, kh, kw = w.shape
    per_row = ncols if in_channels in (1, 3) else in_channels
    if in_channels not in (1, 3):
        w = w.reshape(out_channels * in_channels, 1, kh, kw)
    grid = make_grid(w, nrow=per_row, padding=1, normalize=True, scale_each=True, pad_value=1.0)
    fig, ax = plt.subplots(figsize=(min(12, 1 + 0.6 * per_row), min(12, 1 + 0.6 * math.ceil(len(w) / per_row))),
                           layout="constrained")
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    columns, rows = min(per_row, len(w)), math.ceil(len(w) / per_row)
    ax.set_xticks([1 + (kw + 1) * c + (kw - 1) / 2 for c in range(columns)], [str(c) for c in range(columns)])
    ax.set_yticks([1 + (kh + 1) * r + (kh - 1) / 2 for r in range(rows)],
                  [str(r * (per_row if in_channels in (1, 3) else 1)) for r in range(rows)])
    if in_channels in (1, 3):
        ax.set_xlabel("filter index (column)")
        ax.set_ylabel("filter index (row start)")
    else:
        ax.set_xlabel("input channel")
        ax.set_ylabel("output channel (filter)")
    ax.set_title(title or f"Convolution filters, weight {out_channels}×{in_channels}×{kh}×{kw}")
    return fig


def show_feature_maps(maps, title: str = "", max_maps: int = 16, *, ncols: int = 8) -> Figure:
    """Activation maps of one image, one panel per channel (yellow = high, purple = low, per map).

    maps: (C, H, W), or (1, C, H, W) for a batch of one; the first ``max_maps`` channels are drawn.
    """
    x = _numpy(maps).astype(np.float32)
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3:
        raise ValueError(f"maps must be shaped (C, H, W) (one image's feature maps); got shape {tuple(x.shape)}")
    shown = min(len(x), max_maps)
    fig, axes = _panels(shown, ncols)
    for c, ax in enumerate(axes):
        ax.imshow(x[c], cmap="viridis")
        ax.set_title(f"channel {c}", fontsize=9)
    fig.suptitle(title or f"Feature maps ({shown} of {len(x)} channels)")
    fig.supxlabel("colour: activation, scaled per map (yellow = high, purple = low)", fontsize=9)
    return fig


# ----------------------------------------------------------------------------- boxes and masks


def show_boxes(image, boxes, labels=None, scores=None, class_names: Sequence[str] | None = None, title: str = "",
               *, width: int = 1) -> Figure:
    """An image with bounding boxes, each named by its label (and score), coloured by class.

    image: (3, H, W); boxes: (K, 4) XYXY in pixels (a ``tv_tensors.BoundingBoxes`` in another
    format is converted); labels: (K,) detection labels, 0 = background (see ``_detection_name``);
    scores: (K,) confidences.
    """
    img = _rgb_uint8(image)
    fmt = getattr(boxes, "format", None)
    if fmt is not None and fmt.name != "XYXY":
        from torchvision.ops import box_convert
        boxes = box_convert(boxes.as_subclass(torch.Tensor), fmt.name.lower(), "xyxy")
    b = torch.as_tensor(_numpy(boxes), dtype=torch.float32)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must be shaped (K, 4) as (x1, y1, x2, y2); got shape {tuple(b.shape)}")
    labels = _class_indices(labels, len(b), "labels")
    scores = None if scores is None else _numpy(scores).reshape(-1).astype(np.float32)
    if scores is not None and len(scores) != len(b):
        raise ValueError(f"scores must have one entry per box: {len(b)} boxes but {len(scores)} scores")
    colours = [_class_rgb(labels[i] if labels is not None else i + 1) for i in range(len(b))]
    drawn = draw_bounding_boxes(img, b, colors=colours, width=width) if len(b) else img
    fig, ax = plt.subplots(figsize=(5, 5 * img.shape[1] / img.shape[2] + 0.4), layout="constrained")
    ax.imshow(drawn.permute(1, 2, 0).numpy(), interpolation="nearest")
    for i, (x1, y1, _, _) in enumerate(b.tolist()):
        text = " ".join(([_detection_name(labels[i], class_names)] if labels is not None else [])
                        + ([f"{scores[i]:.2f}"] if scores is not None else []))
        if text:
            inside = y1 < 0.1 * img.shape[1]  # no room above the box: write the name inside it
            ax.text(x1, y1, text, fontsize=8, color="white", va="top" if inside else "bottom", ha="left",
                    clip_on=True,
                    bbox=dict(facecolor=np.array(colours[i]) / 255, edgecolor="none", pad=1, alpha=0.85))
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")
    ax.set_title(title or f"{len(b)} boxes")
    return fig


def show_masks(image, masks, class_names: Sequence[str] | None = None, alpha: float = 0.5, title: str = "",
               *, labels=None) -> Figure:
    """An image with segmentation masks laid over it, drawn with ``draw_segmentation_masks``.

    image: (3, H, W). masks: (K, H, W) bool, one mask per instance (Mask R-CNN's (K, 1, H, W)
    probabilities are thresholded at 0.5), coloured by ``labels`` (K,) when given, else one colour
    per instance; or (H, W) int class map, 0 = background (not coloured), k = class k.
    """
    img = _rgb_uint8(image)
    m = torch.as_tensor(_numpy(masks))
    if m.ndim == 4 and m.shape[1] == 1:
        m = m[:, 0]
    if m.is_floating_point():
        m = m > 0.5
    if m.ndim == 3 and m.dtype != torch.bool and m.shape[0] == 1 and m.max() > 1:
        m = m[0]  # a (1, H, W) class map
    if m.ndim == 2 and m.dtype == torch.bool:
        m = m[None]  # a single instance
    if m.ndim == 2:  # class map: one boolean mask per class present, background left out
        classes = [int(c) for c in torch.unique(m) if c != 0]
        stack = m[None] == torch.tensor(classes, dtype=m.dtype).view(-1, 1, 1)
        keys = classes
    elif m.ndim == 3 and (m.dtype == torch.bool or m.max() <= 1):
        stack = m.bool()
        keys = list(_class_indices(labels, len(stack), "labels")) if labels is not None else None
    else:
        raise ValueError("masks must be (K, H, W) boolean instance masks or an (H, W) integer class map; "
                         f"got shape {tuple(m.shape)}, dtype {m.dtype}")
    if stack.shape[-2:] != img.shape[-2:]:
        raise ValueError(f"masks are {tuple(stack.shape[-2:])} but the image is {tuple(img.shape[-2:])} (H, W)")
    colours = [_class_rgb(k) for k in keys] if keys is not None else [_class_rgb(i + 1) for i in range(len(stack))]
    drawn = draw_segmentation_masks(img, stack, alpha=alpha, colors=colours) if len(stack) else img
    fig, ax = plt.subplots(figsize=(5.5, 5 * img.shape[1] / img.shape[2] + 0.4), layout="constrained")
    ax.imshow(drawn.permute(1, 2, 0).numpy(), interpolation="nearest")
    if keys is not None:
        names = {int(k): _detection_name(int(k), class_names) for k in keys}
        handles = [Patch(color=np.array(_class_rgb(k)) / 255, label=name) for k, name in names.items()]
    else:
        handles = [Patch(color=np.array(c) / 255, label=f"instance {i}") for i, c in enumerate(colours[:10])]
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")
    ax.set_title(title or ("Class map" if m.ndim == 2 else f"{len(stack)} instance masks"))
    return fig


# ----------------------------------------------------------------------------- evaluation plots


def plot_confusion_matrix(cm, class_names: Sequence[str] | None = None, normalize: bool = False,
                          title: str = "") -> Figure:
    """cm: (K, K) counts, rows = true class, columns = predicted class; the numbers are written in the cells.

    normalize=True divides each row by its sum (the fraction of each true class given each prediction).
    """
    counts = _numpy(cm).astype(np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"cm must be a square (K, K) matrix; got shape {tuple(counts.shape)}")
    k = len(counts)
    if class_names is not None and len(class_names) != k:
        raise ValueError(f"cm is {k}×{k} but there are {len(class_names)} class names")
    values = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-12) if normalize else counts
    fmt = ".2f" if normalize else ("d" if np.all(values == np.round(values)) else ".1f")
    fig, ax = plt.subplots(figsize=(max(4.5, 0.55 * k + 2.5), max(4.0, 0.55 * k + 1.8)), layout="constrained")
    im = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else max(values.max(), 1))
    fig.colorbar(im, ax=ax, label="fraction of the true class" if normalize else "count")
    threshold = (1 if normalize else max(values.max(), 1)) / 2
    for i in range(k):
        for j in range(k):
            text = format(int(values[i, j]) if fmt == "d" else values[i, j], fmt)
            ax.text(j, i, text, ha="center", va="center", fontsize=8 if k > 10 else 10,
                    color="white" if values[i, j] > threshold else "black")
    names = [str(n) for n in class_names] if class_names is not None else [str(i) for i in range(k)]
    ax.set_xticks(range(k), names, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or ("Confusion matrix (rows normalised)" if normalize else "Confusion matrix"))
    return fig


def _curve_axes(ax, x, y, names: str) -> tuple[Figure, plt.Axes, np.ndarray, np.ndarray]:
    x, y = _numpy(x).astype(np.float64), _numpy(y).astype(np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"{names} must be 1-D and of equal length; got shapes {x.shape} and {y.shape}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.8, 4.5), layout="constrained")
    return ax.figure, ax, x, y


def plot_roc(fpr, tpr, auc: float | None = None, title: str = "", ax=None, *, label: str = "ROC") -> Figure:
    """A ROC curve (true against false positive rate) with the chance diagonal; AUC in the legend.

    fpr, tpr: (T,) as returned by ``sklearn.metrics.roc_curve``. Pass ``ax`` to draw several curves on one plot.
    """
    fig, ax, fpr, tpr = _curve_axes(ax, fpr, tpr, "fpr and tpr")
    if not any(line.get_label() == "chance" for line in ax.lines):
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.plot(fpr, tpr, label=label if auc is None else f"{label} (AUC = {auc:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title or ax.get_title() or "ROC curve")
    ax.legend(loc="lower right")
    return fig


def plot_pr(recall, precision, ap: float | None = None, title: str = "", ax=None, *, label: str = "PR") -> Figure:
    """A precision-recall curve (drawn as steps, as AP is computed); AP in the legend.

    recall, precision: (T,) as returned by ``sklearn.metrics.precision_recall_curve`` (reversed order is fine).
    """
    fig, ax, recall, precision = _curve_axes(ax, recall, precision, "recall and precision")
    order = np.argsort(recall, kind="stable")
    ax.plot(recall[order], precision[order], drawstyle="steps-post",
            label=label if ap is None else f"{label} (AP = {ap:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title or ax.get_title() or "Precision-recall curve")
    ax.legend(loc="lower left")
    return fig


# ----------------------------------------------------------------------------- training curves

_NOT_CURVES = {"lr", "epoch_time", "epoch"}


def _quantities(keys) -> list[str]:
    """["train_loss", "val_loss", "train_accuracy"] -> ["loss", "accuracy"] (in order of appearance)."""
    names = []
    for key in keys:
        name = key.removeprefix("train_").removeprefix("val_")
        if key not in _NOT_CURVES and name not in names:
            names.append(name)
    return names


def _draw_curves(ax, name: str, series: Mapping[str, Sequence[tuple[float, float]]]) -> None:
    """series: {"train_loss": [(epoch, value), ...], ...}; draws train, val (and bare ``name``) on ax."""
    for key, label in ((f"train_{name}", "train"), (f"val_{name}", "val"), (name, name)):
        points = series.get(key)
        if points:
            epochs, values = zip(*points)
            ax.plot(epochs, values, marker="o" if len(points) <= 30 else None, markersize=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(name)
    ax.set_title(name)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if ax.lines:
        ax.legend()


def plot_history(history: Mapping[str, Sequence[float]], title: str = "") -> Figure:
    """Training curves, one subplot per quantity (loss, then each metric), train against val.

    history: as returned by ``fit`` ({"train_loss": [...], "val_loss": [...], ...}, one value per epoch).
    The learning rate gets its own subplot when it changed during training.
    """
    names = _quantities(history)
    show_lr = "lr" in history and len(set(history["lr"])) > 1
    if not names and not show_lr:
        raise ValueError(f"history has nothing to plot: keys {list(history)} (expected e.g. 'train_loss')")
    series = {key: list(enumerate(values, start=1)) for key, values in history.items()}
    fig, axes = plt.subplots(1, len(names) + show_lr, figsize=(4.2 * (len(names) + show_lr), 3.4),
                             squeeze=False, layout="constrained")
    for ax, name in zip(axes[0], names):
        _draw_curves(ax, name, series)
    if show_lr:
        ax = axes[0][-1]
        ax.plot(*zip(*series["lr"]), marker="o", markersize=3)
        ax.set_yscale("log" if min(history["lr"]) > 0 else "linear")
        ax.set_xlabel("epoch")
        ax.set_ylabel("learning rate")
        ax.set_title("learning rate")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title or "Training history")
    return fig


class LivePlot:
    """Training curves that redraw in place after every epoch in a notebook.

    >>> live = LivePlot(metrics=("loss", "accuracy"))
    >>> live.update(1, train_loss=0.9, val_loss=1.0, train_accuracy=0.6, val_accuracy=0.55)

    ``update`` takes values named ``train_<metric>``, ``val_<metric>`` or ``<metric>``, and ignores
    others. In Jupyter the figure is shown once (as a PNG) and then replaced in place through
    ``IPython.display``'s display id; in plain Python nothing is shown, but ``fig`` and ``history``
    are still kept up to date.
    """

    def __init__(self, metrics: Sequence[str] = ("loss", "accuracy"), title: str = "Training progress"):
        self.metrics = tuple(metrics)
        self.history: dict[str, list[tuple[float, float]]] = {}
        # A Figure outside pyplot: shown only through IPython.display, never a second time at the end of the cell.
        self.fig = Figure(figsize=(4.2 * len(self.metrics), 3.4), layout="constrained")
        self.axes = [self.fig.add_subplot(1, len(self.metrics), i + 1) for i in range(len(self.metrics))]
        self.fig.suptitle(title)
        self._handle = None
        self._redraw()

    def update(self, epoch: int, **values: float) -> None:
        """Add one epoch's values and redraw."""
        for key, value in values.items():
            if key.removeprefix("train_").removeprefix("val_") in self.metrics:
                self.history.setdefault(key, []).append((epoch, float(value)))
        self._redraw()
        self._display()

    def _redraw(self) -> None:
        for ax, name in zip(self.axes, self.metrics):
            ax.clear()
            _draw_curves(ax, name, self.history)

    def _display(self) -> None:
        """In a Jupyter kernel: show the figure as a PNG, then replace that same output on every update."""
        try:
            from IPython import get_ipython
            from IPython.display import Image, display
        except ImportError:
            return
        shell = get_ipython()
        if shell is None or not hasattr(shell, "kernel"):  # plain Python or a terminal: nothing to redraw
            return
        buffer = io.BytesIO()
        self.fig.savefig(buffer, format="png", dpi=90)  # a PNG works whatever matplotlib backend is active
        image = Image(data=buffer.getvalue(), format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)


# ----------------------------------------------------------------------------- widgets


def widget_view(fn: Callable) -> Callable:
    """``fn`` for ``widgets.interact``: it draws the same, but returns None.

    ``interact`` prints whatever its function returns under the figure (a whole tensor of images, say);
    ``widgets.interact(widget_view(draw), ...)`` shows only the figure, and ``draw(...)`` in an ordinary
    cell still returns its values for the cell's asserts. The sliders come from ``fn``'s signature.
    """
    @functools.wraps(fn)
    def view(*args, **kwargs) -> None:
        fn(*args, **kwargs)

    return view
