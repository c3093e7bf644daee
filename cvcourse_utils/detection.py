"""Object detection on the built-in scenes: a small one-stage detector, Faster R-CNN and helpers.

Module 08 uses these pieces (``load_dataset("shapes_detection")`` gives 64x64 scenes with 1..4
shapes, boxes XYXY in pixels, labels 1..5)::

    from cvcourse_utils.detection import (OneStageDetector, train_one_stage, detect, faster_rcnn_from_backbone,
                                          train_torchvision_detector, collate_scenes, draw_detections)
    model = OneStageDetector(num_classes=5)          # FCOS-style: classes, distances, centerness
    out = model(images)                              # (N, 3, 64, 64) -> dict of (N, A, 5), (N, A, 4), (N, A)
    detections = detect(model, images)               # list of {"boxes", "scores", "labels"} per image

Box encoding (``encode_boxes``/``decode_boxes``) follows torchvision's ``BoxCoder``; the lab asks
students to write it themselves and checks it against ``BoxCoder``.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms, box_iou, generalized_box_iou_loss, sigmoid_focal_loss
from torchvision.utils import draw_bounding_boxes

__all__ = [
    "OneStageDetector", "collate_scenes", "scene_tensors", "location_centres", "fcos_targets", "one_stage_loss",
    "one_stage_loss_terms",
    "decode_one_stage", "detect", "train_one_stage", "encode_boxes", "decode_boxes", "faster_rcnn_from_backbone",
    "mask_rcnn_from_backbone", "train_torchvision_detector", "predict_torchvision", "draw_detections",
    "targets_as_numpy", "flatten_detections", "greedy_match", "precision_recall", "interpolated_ap",
    "torchmetrics_map", "BBOX_CLIP",
]

BBOX_CLIP = math.log(1000.0 / 16)  # torchvision's BoxCoder clamps dw, dh at this before exp


# --------------------------------------------------------------------------- data


def collate_scenes(batch):
    """``DataLoader`` collate for scenes: images stacked to (N, 3, H, W) float32, targets a list of dicts
    with plain tensors (``"boxes"`` (K, 4) float32 XYXY, ``"labels"`` (K,) int64, and ``"masks"`` if present)."""
    images = torch.stack([torch.as_tensor(image).as_subclass(torch.Tensor) for image, _ in batch])
    targets = [{k: v.as_subclass(torch.Tensor) for k, v in target.items()} for _, target in batch]
    return images, targets


def scene_tensors(dataset) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """All of a scenes dataset at once: images (N, 3, H, W) float32 and a list of N target dicts."""
    return collate_scenes([dataset[i] for i in range(len(dataset))])


def targets_as_numpy(targets: Sequence[dict]) -> list[dict[str, np.ndarray]]:
    """Targets or detections as NumPy dicts (boxes float64, labels int64, scores float64 when present)."""
    out = []
    for t in targets:
        d = {"boxes": np.asarray(t["boxes"], dtype=np.float64).reshape(-1, 4),
             "labels": np.asarray(t["labels"], dtype=np.int64).reshape(-1)}
        if "scores" in t:
            d["scores"] = np.asarray(t["scores"], dtype=np.float64).reshape(-1)
        out.append(d)
    return out


# --------------------------------------------------------------------------- box encoding (as torchvision's BoxCoder)


def encode_boxes(boxes: torch.Tensor, anchors: torch.Tensor, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """Boxes (K, 4) XYXY relative to anchors (K, 4) XYXY -> codes (K, 4): (wx dx/wa, wy dy/ha, ww log(w/wa), wh log(h/ha))."""
    wx, wy, ww, wh = weights
    wa, ha = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    xa, ya = anchors[:, 0] + 0.5 * wa, anchors[:, 1] + 0.5 * ha
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    x, y = boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h
    return torch.stack([wx * (x - xa) / wa, wy * (y - ya) / ha, ww * torch.log(w / wa), wh * torch.log(h / ha)], 1)


def decode_boxes(codes: torch.Tensor, anchors: torch.Tensor, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """The inverse of ``encode_boxes``: codes (K, 4) and anchors (K, 4) XYXY -> boxes (K, 4) XYXY
    (dw, dh clamped at ``BBOX_CLIP`` as torchvision does)."""
    wx, wy, ww, wh = weights
    wa, ha = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    xa, ya = anchors[:, 0] + 0.5 * wa, anchors[:, 1] + 0.5 * ha
    x, y = codes[:, 0] / wx * wa + xa, codes[:, 1] / wy * ha + ya
    w = torch.exp((codes[:, 2] / ww).clamp(max=BBOX_CLIP)) * wa
    h = torch.exp((codes[:, 3] / wh).clamp(max=BBOX_CLIP)) * ha
    return torch.stack([x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h], 1)


# --------------------------------------------------------------------------- the one-stage detector (FCOS-style)


def _conv(c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


def location_centres(height: int, width: int, stride: int) -> torch.Tensor:
    """Image coordinates (H*W, 2) as (x, y) of the centres of a feature map's cells, row by row:
    cell (i, j) sits at ((j + 0.5) stride, (i + 0.5) stride)."""
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], 1).float().add_(0.5).mul_(stride)


class OneStageDetector(nn.Module):
    """A small FCOS-style detector: one feature map of stride 4, three heads per location.

    ``forward(images (N, 3, H, W))`` returns ``{"logits": (N, A, C), "distances": (N, A, 4),
    "centerness": (N, A)}`` with A = (H/4)(W/4) locations (row by row, as ``location_centres``),
    C classes without background (label k + 1 is column k), distances (left, top, right, bottom)
    in pixels from the location's centre (positive: ``exp`` of the head's output, times the stride).
    """

    def __init__(self, num_classes: int = 5, width: int = 32, stride: int = 4, prior: float = 0.01) -> None:
        super().__init__()
        if stride != 4:
            raise ValueError("this detector has one feature map of stride 4")
        self.num_classes, self.stride = num_classes, stride
        w = width
        self.body = nn.Sequential(_conv(3, w, 2), _conv(w, 2 * w, 2), _conv(2 * w, 2 * w),       # stride 4
                                  _conv(2 * w, 2 * w, dilation=2), _conv(2 * w, 2 * w, dilation=4))  # wide context
        self.tower = _conv(2 * w, 2 * w)
        self.cls_head = nn.Conv2d(2 * w, num_classes, 3, padding=1)
        self.reg_head = nn.Conv2d(2 * w, 4, 3, padding=1)
        self.ctr_head = nn.Conv2d(2 * w, 1, 3, padding=1)
        nn.init.constant_(self.cls_head.bias, -math.log((1 - prior) / prior))  # focal loss's prior: few positives

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.tower(self.body(images))
        n = f.shape[0]
        logits = self.cls_head(f).flatten(2).transpose(1, 2)                  # (N, A, C)
        distances = self.reg_head(f).clamp(max=8).exp().flatten(2).transpose(1, 2) * self.stride  # (N, A, 4)
        centerness = self.ctr_head(f).reshape(n, -1)                          # (N, A) logits
        return {"logits": logits, "distances": distances, "centerness": centerness}


def fcos_targets(boxes: torch.Tensor, labels: torch.Tensor, centres: torch.Tensor,
                 radius: float | None = None, stride: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """FCOS assignment of one image's ground truth to locations.

    boxes (K, 4) XYXY, labels (K,) 1..C, centres (A, 2) (x, y). A location is positive for a box
    when its centre lies inside the box (and, with ``radius``, within ``radius * stride`` of the
    box centre); among several boxes it takes the smallest. Returns labels (A,) int64 (0 =
    background), distances (A, 4) float32 (l, t, r, b) to the assigned box, centerness (A,) float32
    ``sqrt(min(l, r)/max(l, r) * min(t, b)/max(t, b))`` (0 for background).
    """
    a = len(centres)
    if len(boxes) == 0:
        return torch.zeros(a, dtype=torch.int64), torch.zeros(a, 4), torch.zeros(a)
    x, y = centres[:, 0:1], centres[:, 1:2]                                   # (A, 1)
    ltrb = torch.stack([x - boxes[:, 0], y - boxes[:, 1], boxes[:, 2] - x, boxes[:, 3] - y], 2)  # (A, K, 4)
    inside = ltrb.min(2).values > 0
    if radius is not None:
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        r = radius * stride
        near = ((x - cx).abs() < r) & ((y - cy).abs() < r)
        inside &= near | _only_cell(centres, boxes, stride)
    area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[None].expand(a, -1).clone()
    area[~inside] = float("inf")
    best_area, best = area.min(1)
    positive = torch.isfinite(best_area)
    out_labels = torch.where(positive, labels[best], torch.zeros_like(labels[best]))
    dist = ltrb[torch.arange(a), best].clamp(min=0) * positive[:, None]
    lr, tb = dist[:, [0, 2]], dist[:, [1, 3]]
    ctr = torch.sqrt((lr.min(1).values / lr.max(1).values.clamp(min=1e-6)) * (tb.min(1).values / tb.max(1).values.clamp(min=1e-6)))
    return out_labels, dist.float(), (ctr * positive).float()


def _only_cell(centres: torch.Tensor, boxes: torch.Tensor, stride: int) -> torch.Tensor:
    """(A, K): the location nearest each box's centre, so even a tiny box gets one positive."""
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    d = (centres[:, 0:1] - cx).abs().maximum((centres[:, 1:2] - cy).abs())  # (A, K)
    return d == d.min(0, keepdim=True).values


def one_stage_loss(outputs: dict[str, torch.Tensor], targets: Sequence[dict], radius: float | None = 1.5,
                   stride: int = 4) -> dict[str, torch.Tensor]:
    """The FCOS loss of a batch: ``fcos_targets`` for each image, then ``one_stage_loss_terms``.
    Returns a dict of the three terms and their sum ``"loss"``."""
    logits = outputs["logits"]
    n, a, c = logits.shape
    side = int(round(math.sqrt(a)))
    centres = location_centres(side, side, stride).to(logits.device)
    assigned = [fcos_targets(t["boxes"].to(logits.device).float(), t["labels"].to(logits.device), centres, radius, stride)
                for t in targets]
    labels = torch.stack([t[0] for t in assigned])                            # (N, A)
    target_dist = torch.stack([t[1] for t in assigned])                       # (N, A, 4)
    target_ctr = torch.stack([t[2] for t in assigned])                        # (N, A)
    return one_stage_loss_terms(outputs, labels, target_dist, target_ctr, centres)


def one_stage_loss_terms(outputs: dict[str, torch.Tensor], labels: torch.Tensor, target_dist: torch.Tensor,
                         target_ctr: torch.Tensor, centres: torch.Tensor) -> dict[str, torch.Tensor]:
    """The FCOS loss given the assigned targets: labels (N, A) (0 = background), distances (N, A, 4),
    centerness (N, A) and the locations' centres (A, 2). Sigmoid focal loss (alpha 0.25, gamma 2) summed
    over every location and class and divided by the number of positives (at least 1); GIoU loss of the
    positives' boxes (centre -/+ distances), averaged over positives; BCE of the positives' centerness
    logits, averaged. Returns ``{"loss", "cls", "box", "centerness"}``."""
    logits, distances, centerness = outputs["logits"], outputs["distances"], outputs["centerness"]
    n, a, c = logits.shape
    positive = labels > 0
    num_pos = positive.sum().clamp(min=1).to(logits.dtype)
    one_hot = F.one_hot(labels, c + 1)[..., 1:].to(logits.dtype)
    cls_loss = sigmoid_focal_loss(logits, one_hot, reduction="sum") / num_pos
    if positive.any():
        pc = centres.to(distances.dtype)[None].expand(n, -1, -1)[positive]
        pred, true = distances[positive], target_dist[positive].to(distances.dtype)
        to_box = lambda d: torch.cat([pc - d[:, :2], pc + d[:, 2:]], 1)
        box_loss = generalized_box_iou_loss(to_box(pred), to_box(true), reduction="mean")
        ctr_loss = F.binary_cross_entropy_with_logits(centerness[positive], target_ctr[positive].to(centerness.dtype))
    else:
        box_loss = ctr_loss = logits.sum() * 0
    return {"loss": cls_loss + box_loss + ctr_loss, "cls": cls_loss, "box": box_loss, "centerness": ctr_loss}


def decode_one_stage(outputs: dict[str, torch.Tensor], image_size: tuple[int, int] = (64, 64), stride: int = 4,
                     score_threshold: float = 0.05, iou_threshold: float = 0.5, max_detections: int = 50,
                     nms=batched_nms) -> list[dict[str, torch.Tensor]]:
    """Boxes from the detector's outputs: score = sqrt(sigmoid(class) sigmoid(centerness)), keep
    scores above ``score_threshold``, boxes = centre -/+ distances clipped to the image, then
    class-aware NMS ``nms(boxes, scores, labels, iou_threshold)`` and the best ``max_detections``.
    Returns one dict per image: ``"boxes"`` (D, 4) XYXY, ``"scores"`` (D,), ``"labels"`` (D,) 1..C."""
    logits, distances, centerness = outputs["logits"], outputs["distances"], outputs["centerness"]
    n, a, c = logits.shape
    height, width = image_size
    centres = location_centres(height // stride, width // stride, stride).to(logits.device)
    scores = torch.sqrt(torch.sigmoid(logits) * torch.sigmoid(centerness)[..., None])  # (N, A, C)
    results = []
    for i in range(n):
        loc, cls = torch.nonzero(scores[i] > score_threshold, as_tuple=True)
        s = scores[i][loc, cls]
        d = distances[i][loc]
        boxes = torch.cat([centres[loc] - d[:, :2], centres[loc] + d[:, 2:]], 1)
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
        labels = cls + 1
        keep = torch.as_tensor(nms(boxes, s, labels, iou_threshold), dtype=torch.int64)[:max_detections]
        results.append({"boxes": boxes[keep], "scores": s[keep], "labels": labels[keep]})
    return results


@torch.no_grad()
def detect(model: OneStageDetector, images: torch.Tensor, batch_size: int = 64, **decode_options) -> list[dict]:
    """Run the one-stage detector in eval mode over images (N, 3, H, W) and decode (see ``decode_one_stage``)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size].to(device)
        out += decode_one_stage(model(batch), tuple(batch.shape[-2:]), model.stride, **decode_options)
    return [{k: v.cpu() for k, v in d.items()} for d in out]


def train_one_stage(model: OneStageDetector, loader, *, epochs: int, lr: float = 2e-3, weight_decay: float = 1e-4,
                    progress: bool = True, loss_fn=None) -> dict[str, list[float]]:
    """Train the detector with AdamW and a one-cycle schedule; returns ``{"loss": [...], "seconds": [...]}`` per epoch.

    loader yields ``(images (N, 3, H, W), targets)`` as ``collate_scenes`` makes them. ``loss_fn(outputs, targets)``
    returns the scalar loss (default: ``one_stage_loss(outputs, targets)["loss"]``)."""
    if loss_fn is None:
        loss_fn = lambda outputs, targets: one_stage_loss(outputs, targets)["loss"]
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=max(1, epochs * len(loader)))
    history: dict[str, list[float]] = {"loss": [], "seconds": []}
    start = time.perf_counter()
    for _ in tqdm(range(epochs), desc="epochs", disable=not progress):
        model.train()
        total, count = 0.0, 0
        for images, targets in loader:
            loss = loss_fn(model(images.to(device)), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total, count = total + loss.item() * len(images), count + len(images)
        history["loss"].append(total / max(count, 1))
        history["seconds"].append(time.perf_counter() - start)
    model.eval()
    return history


# --------------------------------------------------------------------------- torchvision's two-stage models


class _Features(nn.Module):
    """A backbone's ``features`` as torchvision's detectors want it: ``out_channels`` and a tensor out."""

    def __init__(self, features: nn.Module, out_channels: int) -> None:
        super().__init__()
        self.body, self.out_channels = features, out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _two_stage_options(num_classes: int, image_size: int, anchor_sizes, channels: int) -> dict:
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.ops import MultiScaleRoIAlign

    return dict(
        num_classes=None, min_size=image_size, max_size=image_size,
        image_mean=[0.0, 0.0, 0.0], image_std=[1.0, 1.0, 1.0],   # the course backbone takes images in [0, 1]
        rpn_anchor_generator=AnchorGenerator(sizes=(tuple(anchor_sizes),), aspect_ratios=((0.5, 1.0, 2.0),)),
        box_roi_pool=MultiScaleRoIAlign(["0"], output_size=7, sampling_ratio=2),
        box_head=TwoMLPHead(channels * 7 * 7, 256), box_predictor=FastRCNNPredictor(256, num_classes),
        rpn_pre_nms_top_n_train=300, rpn_post_nms_top_n_train=150, rpn_pre_nms_top_n_test=150,
        rpn_post_nms_top_n_test=50, rpn_batch_size_per_image=64, box_batch_size_per_image=64,
        box_detections_per_img=20, box_score_thresh=0.01,
    )


def faster_rcnn_from_backbone(backbone: nn.Module, num_classes: int = 6, image_size: int = 64,
                              anchor_sizes: Sequence[int] = (8, 16, 32)):
    """torchvision's ``FasterRCNN`` on a course ``CifarResNet`` (its ``features``, stride 4, 64 channels).

    num_classes counts the background (6 for the scenes). Images are not resized (``min_size`` =
    ``max_size`` = image_size) and not normalised; anchors of ``anchor_sizes`` pixels and aspect
    ratios 0.5, 1, 2 replace the default 32-512 px ones. Nothing is downloaded."""
    from torchvision.models.detection import FasterRCNN

    channels = getattr(backbone, "feature_channels", 64)
    return FasterRCNN(_Features(backbone.features, channels), **_two_stage_options(num_classes, image_size, anchor_sizes, channels))


def mask_rcnn_from_backbone(backbone: nn.Module, num_classes: int = 6, image_size: int = 64,
                            anchor_sizes: Sequence[int] = (8, 16, 32)):
    """As ``faster_rcnn_from_backbone``, plus Mask R-CNN's mask head (RoI align 14x14, 28x28 masks)."""
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
    from torchvision.ops import MultiScaleRoIAlign

    channels = getattr(backbone, "feature_channels", 64)
    return MaskRCNN(_Features(backbone.features, channels),
                    mask_roi_pool=MultiScaleRoIAlign(["0"], output_size=14, sampling_ratio=2),
                    mask_head=MaskRCNNHeads(channels, (64, 64), 1), mask_predictor=MaskRCNNPredictor(64, 64, num_classes),
                    **_two_stage_options(num_classes, image_size, anchor_sizes, channels))


def train_torchvision_detector(model: nn.Module, loader, *, epochs: int, lr: float = 1e-3, weight_decay: float = 1e-4,
                               progress: bool = True) -> dict[str, list[float]]:
    """Train a torchvision detector (it returns its losses in train mode) with AdamW and a one-cycle
    schedule; loader yields ``(images (N, 3, H, W), targets)``. Returns per-epoch loss and seconds."""
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=max(1, epochs * len(loader)))
    history: dict[str, list[float]] = {"loss": [], "seconds": []}
    start = time.perf_counter()
    for _ in tqdm(range(epochs), desc="epochs", disable=not progress):
        model.train()
        total, count = 0.0, 0
        for images, targets in loader:
            targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
            losses = model(list(images.to(device)), targets)
            loss = sum(losses.values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total, count = total + loss.item() * len(images), count + len(images)
        history["loss"].append(total / max(count, 1))
        history["seconds"].append(time.perf_counter() - start)
    model.eval()
    return history


@torch.no_grad()
def predict_torchvision(model: nn.Module, images: torch.Tensor, batch_size: int = 32) -> list[dict[str, torch.Tensor]]:
    """A torchvision detector's predictions (eval mode) for images (N, 3, H, W), on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(images), batch_size):
        out += model(list(images[start:start + batch_size].to(device)))
    return [{k: v.cpu() for k, v in d.items()} for d in out]


# --------------------------------------------------------------------------- drawing


def draw_detections(images: torch.Tensor, detections: Sequence[dict], class_names: Sequence[str] | None = None,
                    title: str = "", ncols: int = 4, score_threshold: float = 0.0):
    """A grid of images (N, 3, H, W) in [0, 1] with their boxes drawn by
    ``torchvision.utils.draw_bounding_boxes`` (label names and scores as text); returns the figure."""
    import matplotlib.pyplot as plt

    n = len(images)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.8 * nrows), squeeze=False, layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(n):
        det = detections[i]
        keep = torch.ones(len(det["boxes"]), dtype=torch.bool)
        if "scores" in det:
            keep = torch.as_tensor(det["scores"]) >= score_threshold
        boxes = torch.as_tensor(det["boxes"], dtype=torch.float32)[keep]
        labels = torch.as_tensor(det["labels"])[keep].tolist()
        names = [(class_names[k - 1] if class_names else str(k)) for k in labels]
        if "scores" in det:
            names = [f"{name} {s:.2f}" for name, s in zip(names, torch.as_tensor(det["scores"])[keep].tolist())]
        img = (torch.as_tensor(images[i]).as_subclass(torch.Tensor).clamp(0, 1) * 255).to(torch.uint8)
        img = F.interpolate(img[None].float(), scale_factor=4, mode="nearest")[0].to(torch.uint8)  # room for text
        drawn = draw_bounding_boxes(img, boxes * 4, labels=names, colors="yellow", width=2) if len(boxes) else img
        axes.ravel()[i].imshow(drawn.permute(1, 2, 0).numpy())
        axes.ravel()[i].set_title(f"image {i}: {len(boxes)} boxes", fontsize=9)
    fig.suptitle(title or "detections")
    return fig


def flatten_detections(detections: Sequence[dict], targets: Sequence[dict]) -> tuple[np.ndarray, ...]:
    """Per-image detections and targets as the lab's flat arrays: ``(det_boxes (D, 4), det_scores (D,),
    det_labels (D,), det_image (D,), gt_boxes (G, 4), gt_labels (G,), gt_image (G,))`` (boxes float64,
    labels and image indices int64)."""
    dets, gts = targets_as_numpy(detections), targets_as_numpy(targets)
    image = lambda items: np.concatenate([np.full(len(d["labels"]), i, dtype=np.int64) for i, d in enumerate(items)] or [np.zeros(0, np.int64)])
    cat = lambda items, key, shape: np.concatenate([d[key] for d in items] or [np.zeros(shape)])
    return (cat(dets, "boxes", (0, 4)).reshape(-1, 4), cat(dets, "scores", (0,)), cat(dets, "labels", (0,)).astype(np.int64),
            image(dets), cat(gts, "boxes", (0, 4)).reshape(-1, 4), cat(gts, "labels", (0,)).astype(np.int64), image(gts))


# --------------------------------------------------------------------------- evaluation (the lecture's; the lab writes its own)


def greedy_match(detections: Sequence[dict], targets: Sequence[dict], iou_threshold: float = 0.5,
                 label: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Mark each detection TP or FP as COCO does: per image, by decreasing score, a detection takes the
    unmatched ground-truth box of its label with the highest IoU if that IoU >= ``iou_threshold``.
    ``label``: only that class (default: every class, each matched within its own label).
    Returns (scores (D,), is_tp (D,) bool), both sorted by decreasing score, and the number of ground-truth boxes."""
    all_scores, all_tp, num_gt = [], [], 0
    for det, tgt in zip(targets_as_numpy(detections), targets_as_numpy(targets)):
        labels = np.unique(np.concatenate([det["labels"], tgt["labels"]])) if label is None else [label]
        for k in labels:
            d, g = np.flatnonzero(det["labels"] == k), np.flatnonzero(tgt["labels"] == k)
            d = d[np.argsort(-det["scores"][d], kind="stable")]
            num_gt += len(g)
            tp = np.zeros(len(d), dtype=bool)
            if len(d) and len(g):
                iou = box_iou(torch.from_numpy(det["boxes"][d]), torch.from_numpy(tgt["boxes"][g])).numpy()
                taken = np.zeros(len(g), dtype=bool)
                for row in range(len(d)):
                    cand = np.where(taken, -1.0, iou[row])
                    if cand.max() >= iou_threshold:
                        taken[cand.argmax()], tp[row] = True, True
            all_scores.append(det["scores"][d]), all_tp.append(tp)
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    tp = np.concatenate(all_tp) if all_tp else np.zeros(0, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    return scores[order], tp[order], num_gt


def precision_recall(is_tp: np.ndarray, num_gt: int) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall (D,) after each of the detections sorted by decreasing score."""
    tps = np.cumsum(is_tp)
    return tps / np.arange(1, len(is_tp) + 1), tps / max(num_gt, 1)


def interpolated_ap(precision: np.ndarray, recall: np.ndarray, method: str = "coco101") -> float:
    """AP from a precision-recall curve: ``"all"`` (VOC 2010+: area under the envelope at every recall
    reached), ``"voc11"`` (mean envelope at recalls 0, 0.1, ..., 1) or ``"coco101"`` (at 0, 0.01, ..., 1)."""
    if len(precision) == 0:
        return 0.0
    envelope = np.maximum.accumulate(np.asarray(precision, dtype=np.float64)[::-1])[::-1]
    recall = np.asarray(recall, dtype=np.float64)
    if method == "all":
        steps = np.diff(np.concatenate([[0.0], recall]))
        return float(np.sum(steps * envelope))
    points = {"voc11": np.linspace(0, 1, 11), "coco101": np.linspace(0, 1, 101)}[method]
    at = np.searchsorted(recall, points, side="left")
    return float(np.mean(np.where(at < len(envelope), envelope[np.minimum(at, len(envelope) - 1)], 0.0)))


def torchmetrics_map(detections: Sequence[dict], targets: Sequence[dict], iou_type: str = "bbox") -> dict[str, float]:
    """COCO mAP@[.5:.95] (``"map"``) and mAP@0.5 (``"map_50"``) from torchmetrics' ``MeanAveragePrecision``
    (pycocotools backend). ``iou_type="segm"``: detections and targets carry ``"masks"`` (K, H, W) bool."""
    from torchmetrics.detection import MeanAveragePrecision

    keys = ("boxes", "scores", "labels") if iou_type == "bbox" else ("masks", "scores", "labels")
    preds = [{k: torch.as_tensor(d[k]) for k in keys} for d in detections]
    gts = [{k: torch.as_tensor(t[k]) for k in keys if k != "scores"} for t in targets]
    metric = MeanAveragePrecision(iou_type=iou_type, backend="pycocotools",
                                  iou_thresholds=np.linspace(0.5, 0.95, 10).tolist(),
                                  rec_thresholds=np.linspace(0.0, 1.0, 101).tolist())
    metric.update(preds, gts)
    result = metric.compute()
    return {"map": max(float(result["map"]), 0.0), "map_50": max(float(result["map_50"]), 0.0)}
