"""Semantic segmentation: data as tensors, an FCN and a U-Net, metrics from a confusion matrix, and a figure.

A segmentation network maps images ``(N, C, H, W)`` to class scores for every pixel,
``(N, K, H, W)``; the targets are class maps ``(N, H, W)`` int64 (0 = background). So the
course's ``fit``/``evaluate``/``predict`` work unchanged: ``nn.CrossEntropyLoss`` and the
``accuracy`` metric both accept the extra spatial axes (accuracy then is pixel accuracy).

    train_loader = segmentation_loader(load_dataset("shapes_segmentation", "train"), shuffle=True)
    model = UNet(3, 6)
    fit(model, train_loader, torch.optim.Adam(model.parameters(), 1e-3), epochs=10)
    cm = confusion_matrix_pixels(predictions, masks, num_classes=6)
    iou = iou_from_confusion(cm)              # (K,), NaN for classes absent from truth and prediction
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

# --------------------------------------------------------------------------- data


def segmentation_tensors(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """All items of a segmentation dataset as two tensors.

    dataset: items ``(image (3, H, W) float, target dict with "mask" (H, W) int64)``, as
    ``load_dataset("shapes_segmentation", ...)`` returns them (its transform is applied).
    Returns images ``(N, 3, H, W)`` float32 and masks ``(N, H, W)`` int64.
    """
    images, masks = [], []
    for image, target in dataset:
        images.append(torch.as_tensor(image, dtype=torch.float32).as_subclass(torch.Tensor))
        masks.append(torch.as_tensor(target["mask"]).as_subclass(torch.Tensor).long())
    if not images:
        raise ValueError("the dataset is empty")
    return torch.stack(images), torch.stack(masks)


def segmentation_loader(dataset: Dataset, batch_size: int = 32, shuffle: bool = False, seed: int = 0) -> DataLoader:
    """A DataLoader of ``(images (B, 3, H, W), masks (B, H, W))`` pairs, what ``fit`` expects.

    The items are converted once (``segmentation_tensors``); shuffling uses a torch generator
    seeded with ``seed``, so a run repeats. No worker processes.
    """
    images, masks = segmentation_tensors(dataset)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(TensorDataset(images, masks), batch_size=batch_size, shuffle=shuffle, generator=generator)


# --------------------------------------------------------------------------- models


def conv_bn_relu(in_channels: int, out_channels: int, dilation: int = 1) -> nn.Sequential:
    """3x3 convolution (padding keeps the size), BatchNorm, ReLU: (N, in, H, W) -> (N, out, H, W)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two ``conv_bn_relu`` blocks, the unit of every stage of the FCN and the U-Net."""
    return nn.Sequential(conv_bn_relu(in_channels, out_channels), conv_bn_relu(out_channels, out_channels))


class FCN(nn.Module):
    """A fully convolutional network without skip connections (in the spirit of FCN-32s).

    An encoder of ``depth`` stages (two 3x3 convolutions, then 2x2 max-pooling) reduces
    (N, C, H, W) to (N, width * 2**depth, H / 2**depth, W / 2**depth); a 1x1 convolution
    scores every coarse position, and bilinear up-sampling brings the scores back to
    (N, num_classes, H, W). H and W should be multiples of 2**depth. Everything the decoder
    knows comes through the coarse map, so boundaries come out blurred.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 6, width: int = 16, depth: int = 3) -> None:
        super().__init__()
        channels = [width * 2**i for i in range(depth + 1)]
        stages, previous = [], in_channels
        for c in channels[:-1]:
            stages.append(nn.Sequential(double_conv(previous, c), nn.MaxPool2d(2)))
            previous = c
        self.encoder = nn.Sequential(*stages)
        self.bottom = double_conv(previous, channels[-1])
        self.classifier = nn.Conv2d(channels[-1], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.classifier(self.bottom(self.encoder(x)))
        return F.interpolate(scores, size=x.shape[-2:], mode="bilinear", align_corners=False)


def bilinear_upsampling_kernel(factor: int) -> torch.Tensor:
    """The (k, k) kernel of bilinear up-sampling by an integer factor, k = 2 factor - factor % 2 (float32).

    A transposed convolution with it on each channel, stride ``factor`` and padding
    ``(k - factor + 1) // 2``, equals ``F.interpolate(mode="bilinear", align_corners=False)`` away from the border.
    """
    size = 2 * factor - factor % 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    ramp = 1 - (torch.arange(size, dtype=torch.float64) - centre).abs() / factor
    return torch.outer(ramp, ramp).float()


def bilinear_transposed_conv(channels: int, factor: int) -> nn.ConvTranspose2d:
    """A ``channels -> channels`` transposed convolution that up-samples by ``factor``, initialised to bilinear
    up-sampling of every channel on its own (diagonal weights, zero bias), as FCN initialises its up-sampling."""
    kernel = bilinear_upsampling_kernel(factor)
    k = kernel.shape[0]
    layer = nn.ConvTranspose2d(channels, channels, k, stride=factor, padding=(k - factor + 1) // 2)
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[range(channels), range(channels)] = kernel
        layer.bias.zero_()
    return layer


class SkipFCN(nn.Module):
    """An FCN with a skip, in the spirit of FCN-8s (Long et al., 2015): scores from two depths, summed.

    The encoder is ``FCN``'s (stages at 1, 1/2 and 1/4 of the resolution, a bottom stage at 1/8). A 1x1
    convolution scores the bottom map (1/8) and another the last encoder stage's map (1/4); the coarse
    scores are up-sampled x2 by a transposed convolution initialised to bilinear up-sampling and added to
    the finer ones, and a second such layer (x4) brings the sum to (N, num_classes, H, W). H and W should be
    multiples of 8. Boundaries are placed at 1/4 of the resolution: better than ``FCN``, coarser than ``UNet``.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 6, width: int = 16) -> None:
        super().__init__()
        self.stage1, self.stage2 = double_conv(in_channels, width), double_conv(width, 2 * width)
        self.stage3, self.bottom = double_conv(2 * width, 4 * width), double_conv(4 * width, 8 * width)
        self.score_quarter = nn.Conv2d(4 * width, num_classes, 1)
        self.score_eighth = nn.Conv2d(8 * width, num_classes, 1)
        self.up2 = bilinear_transposed_conv(num_classes, 2)
        self.up4 = bilinear_transposed_conv(num_classes, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.stage1(x), 2)
        quarter = self.stage3(F.max_pool2d(self.stage2(x), 2))          # (N, 4 width, H/4, W/4)
        eighth = self.bottom(F.max_pool2d(quarter, 2))                   # (N, 8 width, H/8, W/8)
        scores = self.up2(self.score_eighth(eighth)) + self.score_quarter(quarter)
        return self.up4(scores)


class UNet(nn.Module):
    """A small U-Net (Ronneberger et al., 2015): encoder, decoder, and a skip at every scale.

    (N, C, H, W) -> (N, num_classes, H, W), H and W multiples of 2**depth. Encoder stage i
    has ``width * 2**i`` channels; the decoder up-samples with a 2x2 transposed convolution of
    stride 2, concatenates the encoder's map of the same size (the skip) and applies two 3x3
    convolutions. The skips hand the fine, early features straight to the decoder, which is
    why a U-Net draws sharp boundaries.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 6, width: int = 16, depth: int = 3) -> None:
        super().__init__()
        channels = [width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        previous = in_channels
        for c in channels[:-1]:
            self.down.append(double_conv(previous, c))
            previous = c
        self.bottom = double_conv(previous, channels[-1])
        self.up = nn.ModuleList(nn.ConvTranspose2d(c_in, c_out, 2, stride=2)
                                for c_in, c_out in zip(channels[:0:-1], channels[-2::-1]))
        self.decode = nn.ModuleList(double_conv(2 * c, c) for c in channels[-2::-1])
        self.classifier = nn.Conv2d(channels[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for stage in self.down:
            x = stage(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for up, decode, skip in zip(self.up, self.decode, reversed(skips)):
            x = decode(torch.cat([up(x), skip], dim=1))
        return self.classifier(x)


class OutputOf(nn.Module):
    """Wrap a model that returns a dict (torchvision's segmentation models) so it returns one tensor.

    ``OutputOf(lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=6))``
    maps (N, 3, H, W) to ``model(x)[key]``, (N, num_classes, H, W), which ``fit`` can train.
    """

    def __init__(self, model: nn.Module, key: str = "out") -> None:
        super().__init__()
        self.model, self.key = model, key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[self.key]


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - the mean soft Dice over classes. logits: (N, K, H, W); target: (N, H, W) int64 in [0, K).

    Per class k, with p the softmax probabilities and t the one-hot target summed over the
    batch and pixels: Dice_k = (2 sum p t + eps) / (sum p + sum t + eps). ``eps`` keeps
    absent classes finite (their Dice is then 1).
    """
    probs = logits.float().softmax(dim=1)
    one_hot = F.one_hot(target, probs.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
    dims = (0, 2, 3)
    intersection = (probs * one_hot).sum(dims)
    dice = (2 * intersection + eps) / (probs.sum(dims) + one_hot.sum(dims) + eps)
    return 1 - dice.mean()


# --------------------------------------------------------------------------- metrics


def _flat(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a).reshape(-1).astype(np.int64)


def confusion_matrix_pixels(pred, target, num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """Pixel confusion matrix (K, K) int64: entry [t, p] counts pixels of true class t predicted as p.

    pred, target: class maps of the same shape (any number of images), arrays or tensors.
    Pixels whose target is ``ignore_index`` are left out.
    """
    p, t = _flat(pred), _flat(target)
    if p.shape != t.shape:
        raise ValueError(f"pred and target must have the same number of pixels, got {p.size} and {t.size}")
    keep = t != ignore_index if ignore_index is not None else np.ones_like(t, dtype=bool)
    p, t = p[keep], t[keep]
    if p.size and (min(p.min(), t.min()) < 0 or max(p.max(), t.max()) >= num_classes):
        raise ValueError(f"class indices must lie in [0, {num_classes})")
    return np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)


def iou_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Per-class IoU = TP / (TP + FP + FN) from a (K, K) confusion matrix; NaN where a class is
    absent from both truth and prediction (``np.nanmean`` of the result is the mIoU)."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def dice_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Per-class Dice = 2 TP / (2 TP + FP + FN) (the F1 score) from a (K, K) confusion matrix; NaN where absent."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    total = cm.sum(0) + cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 2 * tp / total, np.nan)


def pixel_accuracy_from_confusion(cm: np.ndarray) -> float:
    """Fraction of pixels whose predicted class is right: trace / sum."""
    cm = np.asarray(cm, dtype=np.float64)
    return float(np.trace(cm) / cm.sum())


def boundary_pixels(masks, width: int = 1) -> np.ndarray:
    """Pixels within ``width`` pixels (chessboard distance) of a change of class.

    masks: (N, H, W) or (H, W) class maps. Returns a bool array of the same shape; a boundary
    IoU is the IoU computed over these pixels only.
    """
    m = torch.as_tensor(np.asarray(masks.cpu() if isinstance(masks, torch.Tensor) else masks)).long()
    squeeze = m.ndim == 2
    m = m[None] if squeeze else m
    x = m[:, None].float()
    k = 2 * width + 1
    high = F.max_pool2d(x, k, stride=1, padding=width)
    low = -F.max_pool2d(-x, k, stride=1, padding=width)
    edge = (high != low)[:, 0].numpy()
    return edge[0] if squeeze else edge


@torch.no_grad()
def predict_masks(model: nn.Module, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """The predicted class map of every image: images (N, C, H, W) -> (N, H, W) int64 on the CPU.

    Runs in eval mode on the model's device and restores the model's mode afterwards.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = [model(images[i:i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(images), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out)


# --------------------------------------------------------------------------- figure


def class_colors(num_classes: int) -> np.ndarray:
    """(num_classes, 3) float RGB in [0, 1]: black for the background (0), then the course palette
    (class k as in ``plots.show_boxes`` / ``show_masks``)."""
    from cvcourse_utils.plots import PALETTE

    colours = np.zeros((num_classes, 3))
    for k in range(1, num_classes):
        colours[k] = PALETTE[(k - 1) % len(PALETTE)]
    return colours


def show_segmentation(images, masks, predictions: dict | None = None, class_names: Sequence[str] | None = None,
                      title: str = "", max_images: int = 6):
    """A grid: one row per image; columns: the image, the true class map, then one per model.

    images: (N, 3, H, W) float in [0, 1]; masks: (N, H, W) int class maps; predictions:
    {model name: (N, H, W) class maps}. class_names: names of classes 1..K-1 (the legend);
    0 is the background (black). Returns the figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    images = torch.as_tensor(np.asarray(images)).float()
    masks = np.asarray(masks)
    predictions = {name: np.asarray(p) for name, p in (predictions or {}).items()}
    n = min(len(images), max_images)
    num_classes = int(max([masks.max()] + [p.max() for p in predictions.values()]) + 1)
    if class_names is not None:
        num_classes = max(num_classes, len(class_names) + 1)
    colours = class_colors(num_classes)
    columns = ["image", "ground truth", *predictions]
    fig, axes = plt.subplots(n, len(columns), figsize=(1.9 * len(columns), 1.9 * n + 0.6), squeeze=False,
                             layout="constrained")
    for i in range(n):
        panels = [images[i].permute(1, 2, 0).clamp(0, 1).numpy(), colours[masks[i]],
                  *(colours[p[i]] for p in predictions.values())]
        for j, (ax, panel) in enumerate(zip(axes[i], panels)):
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(columns[j], fontsize=9)
        axes[i, 0].set_ylabel(f"scene {i}", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("x (pixels)", fontsize=8)
    names = ["background", *(class_names or [f"class {k}" for k in range(1, num_classes)])]
    fig.legend(handles=[Patch(color=colours[k], label=names[k]) for k in range(num_classes)], loc="outside lower center",
               ncols=min(num_classes, 6), fontsize=8, frameon=False)
    fig.suptitle(title or "Segmentation: ground truth and predictions")
    return fig
