"""Lab 08 · Object detection: the tasks, their public cases and library references.

IoU and NMS are checked against ``torchvision.ops`` (``box_iou``, ``nms``, ``batched_nms``) in
float64; anchors against torchvision's ``AnchorGenerator``, anchor matching against the
``Matcher`` of torchvision's detection models and box encoding against their ``BoxCoder``; AP and
mAP against torchmetrics' ``MeanAveragePrecision`` with the pycocotools backend (COCO's
101-point interpolated AP, at most 100 detections per image, a detection matches when IoU >= t).

Each task forbids those references (and ``cvcourse_utils.detection``'s own encoding and evaluation helpers):
an answer that reaches one earns 0 (``cvcourse_utils.taught``).
"""
from __future__ import annotations

import numpy as np

from cvcourse_utils.checking import Case, CheckFailed, Task, close, equal

# --------------------------------------------------------------------------- inputs


def random_boxes(rng: np.random.Generator, n: int, canvas: float = 64.0, min_side: float = 2.0,
                 max_side: float = 30.0) -> np.ndarray:
    """(n, 4) float64 XYXY boxes with sides in [min_side, max_side] inside a canvas x canvas image."""
    w, h = rng.uniform(min_side, max_side, size=(2, n))
    x1, y1 = rng.uniform(0, canvas - w), rng.uniform(0, canvas - h)
    return np.stack([x1, y1, x1 + w, y1 + h], 1)


def jitter(rng: np.random.Generator, boxes: np.ndarray, amount: float) -> np.ndarray:
    """Boxes moved and resized by up to ``amount`` of their size (still valid XYXY)."""
    wh = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, 1)
    out = boxes + rng.uniform(-amount, amount, size=boxes.shape) * wh
    out[:, 2:] = np.maximum(out[:, 2:], out[:, :2] + 0.5)
    return out


def iou_inputs(rng: np.random.Generator, n: int, m: int) -> tuple:
    """``(boxes1 (n, 4), boxes2 (m, 4))`` float64 XYXY, half of boxes2 overlapping boxes1."""
    a = random_boxes(rng, n)
    b = random_boxes(rng, m)
    k = min(n, m) // 2
    if k:
        b[:k] = jitter(rng, a[:k], 0.3)
    return (a, b)


def nms_inputs(rng: np.random.Generator, n: int, threshold: float = 0.5, clusters: int = 4) -> tuple:
    """``(boxes (n, 4) float64, scores (n,) float64, iou_threshold)``: boxes around a few objects."""
    centres = random_boxes(rng, clusters)
    boxes = jitter(rng, centres[rng.integers(0, clusters, size=n)], 0.25) if n else np.zeros((0, 4))
    return (boxes, rng.random(n), threshold)


def batched_nms_inputs(rng: np.random.Generator, n: int, num_classes: int = 3, threshold: float = 0.5) -> tuple:
    """``(boxes, scores, labels (n,) int64, iou_threshold)``."""
    boxes, scores, _ = nms_inputs(rng, n, threshold)
    return (boxes, scores, rng.integers(1, num_classes + 1, size=n).astype(np.int64), threshold)


def match_inputs(rng: np.random.Generator, k: int, a: int, high: float = 0.7, low: float = 0.3) -> tuple:
    """``(gt_boxes (k, 4), anchors (a, 4), high, low)`` float64, some anchors near the ground truth."""
    gt = random_boxes(rng, k, min_side=8)
    anchors = random_boxes(rng, a, min_side=4)
    near = min(a, 3 * k)
    anchors[:near] = jitter(rng, gt[rng.integers(0, k, size=near)], 0.25)
    return (gt, anchors, high, low)


def coder_inputs(rng: np.random.Generator, k: int, weights=(1.0, 1.0, 1.0, 1.0)) -> tuple:
    """``(boxes (k, 4), anchors (k, 4), weights)`` float64 for ``encode_boxes``."""
    anchors = random_boxes(rng, k, min_side=4)
    return (jitter(rng, anchors, 0.4), anchors, tuple(float(w) for w in weights))


def codes_inputs(rng: np.random.Generator, k: int, weights=(1.0, 1.0, 1.0, 1.0), scale: float = 0.5) -> tuple:
    """``(codes (k, 4), anchors (k, 4), weights)`` float64 for ``decode_boxes``."""
    return (rng.normal(0, scale, size=(k, 4)), random_boxes(rng, k, min_side=4), tuple(float(w) for w in weights))


def detection_inputs(rng: np.random.Generator, n_images: int, num_classes: int = 1, max_objects: int = 4,
                     false_positives: float = 1.0, miss: float = 0.2, noise: float = 0.15,
                     duplicates: float = 0.3) -> dict[str, np.ndarray]:
    """Random ground truth and detections over ``n_images`` images, flattened with an image index.

    Returns ``det_boxes (D, 4), det_scores (D,), det_labels (D,), det_image (D,), gt_boxes (G, 4),
    gt_labels (G,), gt_image (G,)``: detections are jittered copies of most objects (some twice),
    plus random false positives; scores are distinct floats in (0, 1); labels 1..num_classes."""
    det, gt = {k: [] for k in ("boxes", "scores", "labels", "image")}, {k: [] for k in ("boxes", "labels", "image")}
    for i in range(n_images):
        k = int(rng.integers(1, max_objects + 1))
        boxes, labels = random_boxes(rng, k, min_side=6), rng.integers(1, num_classes + 1, size=k)
        gt["boxes"].append(boxes), gt["labels"].append(labels), gt["image"].append(np.full(k, i))
        found = rng.random(k) >= miss
        again = found & (rng.random(k) < duplicates)
        copies = np.concatenate([boxes[found], boxes[again]])
        d_labels = np.concatenate([labels[found], labels[again]])
        f = int(rng.poisson(false_positives))
        d_boxes = np.concatenate([jitter(rng, copies, noise), random_boxes(rng, f)])
        d_labels = np.concatenate([d_labels, rng.integers(1, num_classes + 1, size=f)])
        det["boxes"].append(d_boxes), det["labels"].append(d_labels), det["image"].append(np.full(len(d_boxes), i))
        det["scores"].append(rng.uniform(0.01, 0.99, size=len(d_boxes)))
    out = {f"det_{k}": np.concatenate(v) for k, v in det.items()}
    out.update({f"gt_{k}": np.concatenate(v) for k, v in gt.items()})
    out["det_boxes"], out["gt_boxes"] = out["det_boxes"].reshape(-1, 4), out["gt_boxes"].reshape(-1, 4)
    for key in ("det_labels", "det_image", "gt_labels", "gt_image"):
        out[key] = out[key].astype(np.int64)
    return out


def ap_inputs(rng: np.random.Generator, n_images: int, iou_threshold: float = 0.5, **options) -> tuple:
    """``(det_boxes, det_scores, det_image, gt_boxes, gt_image, iou_threshold)`` for one class."""
    d = detection_inputs(rng, n_images, num_classes=1, **options)
    return (d["det_boxes"], d["det_scores"], d["det_image"], d["gt_boxes"], d["gt_image"], iou_threshold)


def map_inputs(rng: np.random.Generator, n_images: int, num_classes: int = 3, **options) -> tuple:
    """``(det_boxes, det_scores, det_labels, det_image, gt_boxes, gt_labels, gt_image)``."""
    d = detection_inputs(rng, n_images, num_classes=num_classes, **options)
    return (d["det_boxes"], d["det_scores"], d["det_labels"], d["det_image"], d["gt_boxes"], d["gt_labels"], d["gt_image"])


# --------------------------------------------------------------------------- references (library calls)


def _t(a, dtype=None):
    import torch

    return torch.as_tensor(np.asarray(a), dtype=dtype if dtype is not None else torch.float64)


def _box_iou_reference(boxes1, boxes2):
    from torchvision.ops import box_iou

    return box_iou(_t(boxes1), _t(boxes2)).numpy()


def _nms_reference(boxes, scores, iou_threshold):
    from torchvision.ops import nms

    return nms(_t(boxes).reshape(-1, 4), _t(scores), float(iou_threshold)).numpy().astype(np.int64)


def _batched_nms_reference(boxes, scores, labels, iou_threshold):
    import torch
    from torchvision.ops import batched_nms

    return batched_nms(_t(boxes).reshape(-1, 4), _t(scores), _t(labels, torch.int64), float(iou_threshold)).numpy()


def _grid_anchors_reference(feature_height, feature_width, stride, sizes, aspect_ratios):
    import torch
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.image_list import ImageList

    generator = AnchorGenerator(sizes=(tuple(sizes),), aspect_ratios=(tuple(float(r) for r in aspect_ratios),))
    h, w = feature_height * stride, feature_width * stride
    images = ImageList(torch.zeros(1, 3, h, w), [(h, w)])
    return generator(images, [torch.zeros(1, 1, feature_height, feature_width)])[0].numpy()


def _match_reference(gt_boxes, anchors, high, low):
    from torchvision.models.detection._utils import Matcher
    from torchvision.ops import box_iou

    matcher = Matcher(float(high), float(low), allow_low_quality_matches=False)
    return matcher(box_iou(_t(gt_boxes), _t(anchors))).numpy().astype(np.int64)


def _encode_reference(boxes, anchors, weights):
    from torchvision.models.detection._utils import BoxCoder

    return BoxCoder(tuple(weights)).encode_single(_t(boxes), _t(anchors)).numpy()


def _decode_reference(codes, anchors, weights):
    from torchvision.models.detection._utils import BoxCoder

    return BoxCoder(tuple(weights)).decode_single(_t(codes), _t(anchors)).numpy()


def coco_map(det_boxes, det_scores, det_labels, det_image, gt_boxes, gt_labels, gt_image,
             iou_thresholds=None) -> dict[str, float]:
    """torchmetrics' ``MeanAveragePrecision`` (pycocotools backend) on flattened detections:
    returns ``{"map": mAP@[.5:.95], "map_50": mAP@0.5}`` (or the mAP at ``iou_thresholds``) as floats."""
    import torch
    from torchmetrics.detection import MeanAveragePrecision

    det_image, gt_image = np.asarray(det_image), np.asarray(gt_image)
    images = np.union1d(det_image, gt_image)
    preds, targets = [], []
    for i in images:
        d, g = det_image == i, gt_image == i
        preds.append({"boxes": _t(det_boxes)[d].reshape(-1, 4).float(), "scores": _t(det_scores)[d].float(),
                      "labels": _t(det_labels, torch.int64)[d]})
        targets.append({"boxes": _t(gt_boxes)[g].reshape(-1, 4).float(), "labels": _t(gt_labels, torch.int64)[g]})
    # torchmetrics' default thresholds come from a float32 linspace (0.3 becomes 0.30000001, so a recall of
    # exactly 3/10 would not reach it); pass COCO's thresholds in float64, as pycocotools itself has them.
    thresholds = np.linspace(0.5, 0.95, 10) if iou_thresholds is None else np.asarray(iou_thresholds, dtype=np.float64)
    metric = MeanAveragePrecision(iou_type="bbox", backend="pycocotools", iou_thresholds=thresholds.tolist(),
                                  rec_thresholds=np.linspace(0.0, 1.0, 101).tolist())
    metric.update(preds, targets)
    result = metric.compute()
    map_50 = result["map_50"] if iou_thresholds is None else result["map"]
    return {"map": max(float(result["map"]), 0.0), "map_50": max(float(map_50), 0.0)}


def _ap_reference(det_boxes, det_scores, det_image, gt_boxes, gt_image, iou_threshold):
    ones = lambda a: np.ones(len(np.asarray(a)), dtype=np.int64)
    return coco_map(det_boxes, det_scores, ones(det_scores), det_image, gt_boxes, ones(gt_image), gt_image,
                    iou_thresholds=[iou_threshold])["map"]


def _map_reference(*args):
    result = coco_map(*args)
    return np.array([result["map_50"], result["map"]])


def compare_scalar(atol: float, what: str):
    """A float (or 0-d array) equal to the reference to ``atol``."""
    def compare(actual, expected, args) -> None:
        value = np.asarray(actual, dtype=np.float64)
        if value.shape not in ((), (1,)):
            raise CheckFailed(f"{what} should be one number, got an array of shape {value.shape}")
        if not abs(float(value.reshape(-1)[0]) - float(expected)) <= atol:
            raise CheckFailed(f"{what}: expected {float(expected):.6f} (torchmetrics' MeanAveragePrecision, COCO "
                              f"101-point AP), got {float(value.reshape(-1)[0]):.6f}; tolerance {atol:g}")
    return compare


# --------------------------------------------------------------------------- what each task must write itself

#: The course's builders of torchvision's two-stage models: what they return holds every box op of this lab
#: (``model.rpn.box_similarity`` is ``box_iou``, ``model.rpn.box_coder`` a BoxCoder, ...), so no task may reach them.
MODEL_BUILDERS = ("cvcourse_utils.detection.faster_rcnn_from_backbone", "cvcourse_utils.detection.mask_rcnn_from_backbone")
#: Box IoU, ready-made: torchvision's (and its IoU-based losses, which hold intersection and union), torchmetrics',
#: pycocotools' ``mask.iou``. Every later task says "with your IoU", so it is forbidden in all of them.
IOU_READY_MADE = (
    "torchvision.ops.boxes", "torchvision.ops.box_iou", "torchvision.ops.generalized_box_iou",
    "torchvision.ops.distance_box_iou", "torchvision.ops.complete_box_iou", "torchvision.ops._utils",
    "torchvision.ops.generalized_box_iou_loss", "torchvision.ops.distance_box_iou_loss",
    "torchvision.ops.complete_box_iou_loss", "torchvision.ops.giou_loss", "torchvision.ops.diou_loss",
    "torchvision.ops.ciou_loss", "torchmetrics.functional.detection", "torchmetrics.detection", "pycocotools",
    *MODEL_BUILDERS,
)
#: NMS, ready-made: torchvision's (its compiled kernel too), and the course detector's decoding, which runs it.
NMS_READY_MADE = ("torchvision.ops.nms", "torchvision.ops.batched_nms", "torchvision._C", "torchvision.extension",
                  "cvcourse_utils.detection.decode_one_stage")
#: torchvision's detection models hold AnchorGenerator, DefaultBoxGenerator, Matcher, SSDMatcher and BoxCoder.
DETECTION_MODELS = ("torchvision.models.detection",)
#: Box formats: converting XYXY to centres and sides is part of encoding.
BOX_CONVERSION = ("torchvision.ops.box_convert", "torchvision.ops._box_convert")
#: AP and mAP, ready-made: torchmetrics (MeanAveragePrecision, average_precision), pycocotools' COCOeval,
#: scikit-learn's average_precision_score / precision_recall_curve, and the lecture's evaluation helpers.
AP_READY_MADE = (
    "torchmetrics", "pycocotools", "sklearn.metrics", "cvcourse_utils.detection.greedy_match",
    "cvcourse_utils.detection.precision_recall", "cvcourse_utils.detection.interpolated_ap",
    "cvcourse_utils.detection.torchmetrics_map",
)


TASKS = (
    Task(
        name="box_iou_by_hand",
        function="box_iou_by_hand",
        cases=(
            Case("3 boxes against 4 boxes", lambda rng: iou_inputs(rng, 3, 4)),
            Case("a box against itself and a shifted copy",
                 lambda rng: (np.array([[10.0, 10, 30, 30]]), np.array([[10.0, 10, 30, 30], [20.0, 10, 40, 30]]))),
        ),
        reference=_box_iou_reference,
        compare=close(atol=1e-10, rtol=0, dtype="float64", shape=lambda args: (len(args[0]), len(args[1]))),
        forbidden=IOU_READY_MADE,
        by_hand="compute the pairwise IoU yourself, by broadcasting corners and areas",
    ),
    Task(
        name="nms_by_hand",
        function="nms_by_hand",
        cases=(
            Case("12 boxes around 4 objects, IoU threshold 0.5", lambda rng: nms_inputs(rng, 12), seed=1),
            Case("20 boxes, IoU threshold 0.3", lambda rng: nms_inputs(rng, 20, 0.3), seed=2),
        ),
        reference=_nms_reference,
        compare=equal(dtype="integer"),
        forbidden=(*NMS_READY_MADE, *IOU_READY_MADE),
        by_hand="write greedy NMS yourself (with your box_iou_by_hand)",
    ),
    Task(
        name="batched_nms_by_hand",
        function="batched_nms_by_hand",
        cases=(
            Case("15 boxes of 3 classes, IoU threshold 0.5", lambda rng: batched_nms_inputs(rng, 15), seed=3),
            Case("two classes on the same box: both stay",
                 lambda rng: (np.array([[0.0, 0, 10, 10], [0.0, 0, 10, 10], [1.0, 1, 10, 10]]),
                              np.array([0.9, 0.8, 0.7]), np.array([1, 2, 1]), 0.5)),
        ),
        reference=_batched_nms_reference,
        compare=equal(dtype="integer"),
        forbidden=(*NMS_READY_MADE, *IOU_READY_MADE),
        by_hand="write class-aware NMS yourself, with your nms_by_hand",
    ),
    Task(
        name="grid_anchors",
        function="grid_anchors",
        cases=(
            Case("2x3 feature map, stride 4, sizes (8, 16), ratios (0.5, 1, 2)",
                 lambda rng: (2, 3, 4, (8, 16), (0.5, 1.0, 2.0))),
            Case("4x4 feature map, stride 16, size 32, ratio 1", lambda rng: (4, 4, 16, (32,), (1.0,))),
        ),
        reference=_grid_anchors_reference,
        compare=close(atol=1e-4, rtol=0, dtype="floating"),
        forbidden=(*DETECTION_MODELS, *MODEL_BUILDERS, "cvcourse_utils.detection.location_centres"),
        by_hand="build the anchor grid yourself: base anchors of each size and ratio, shifted to every cell",
    ),
    Task(
        name="match_anchors",
        function="match_anchors",
        cases=(
            Case("3 objects, 20 anchors, thresholds 0.7 / 0.3", lambda rng: match_inputs(rng, 3, 20), seed=4),
            Case("1 object, 10 anchors, thresholds 0.5 / 0.4", lambda rng: match_inputs(rng, 1, 10, 0.5, 0.4), seed=5),
        ),
        reference=_match_reference,
        compare=equal(dtype="integer", shape=lambda args: (len(args[1]),)),
        forbidden=(*DETECTION_MODELS, *IOU_READY_MADE),
        by_hand="match anchors to boxes yourself, with your IoU and the two thresholds",
    ),
    Task(
        name="encode_boxes",
        function="encode_boxes",
        cases=(
            Case("6 boxes, weights (1, 1, 1, 1)", lambda rng: coder_inputs(rng, 6), seed=6),
            Case("4 boxes, Faster R-CNN's weights (10, 10, 5, 5)", lambda rng: coder_inputs(rng, 4, (10, 10, 5, 5)), seed=7),
        ),
        reference=_encode_reference,
        compare=close(atol=1e-9, rtol=1e-9, dtype="float64"),
        forbidden=(*DETECTION_MODELS, *MODEL_BUILDERS, *BOX_CONVERSION, "cvcourse_utils.detection.encode_boxes", "cvcourse_utils.detection.decode_boxes"),
        by_hand="compute the offsets (tx, ty, tw, th) yourself, from centres and sides",
    ),
    Task(
        name="decode_boxes",
        function="decode_boxes",
        cases=(
            Case("6 codes, weights (1, 1, 1, 1)", lambda rng: codes_inputs(rng, 6), seed=8),
            Case("5 codes, weights (10, 10, 5, 5)", lambda rng: codes_inputs(rng, 5, (10, 10, 5, 5), scale=2.0), seed=9),
        ),
        reference=_decode_reference,
        compare=close(atol=1e-9, rtol=1e-9, dtype="float64"),
        forbidden=(*DETECTION_MODELS, *MODEL_BUILDERS, *BOX_CONVERSION, "cvcourse_utils.detection.encode_boxes", "cvcourse_utils.detection.decode_boxes"),
        by_hand="turn the offsets back into boxes yourself (with the clamp before exp)",
    ),
    Task(
        name="average_precision",
        function="average_precision",
        cases=(
            Case("6 images, IoU threshold 0.5", lambda rng: ap_inputs(rng, 6), seed=10),
            Case("10 images, noisier boxes, IoU threshold 0.75", lambda rng: ap_inputs(rng, 10, 0.75, noise=0.2), seed=11),
        ),
        reference=_ap_reference,
        compare=compare_scalar(1e-3, "average_precision"),
        forbidden=(*AP_READY_MADE, *IOU_READY_MADE),
        by_hand="match detections, build the precision-recall curve and average its envelope at 101 recalls yourself",
    ),
    Task(
        name="mean_average_precision",
        function="mean_average_precision",
        cases=(
            Case("8 images, 3 classes", lambda rng: map_inputs(rng, 8), seed=12),
        ),
        reference=_map_reference,
        compare=close(atol=1e-3, rtol=0, dtype="floating", shape=(2,)),
        forbidden=(*AP_READY_MADE, *IOU_READY_MADE),
        by_hand="average your average_precision over classes and IoU thresholds yourself",
    ),
)
