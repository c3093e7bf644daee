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


def grid_centres(side: int, stride: int = 4) -> np.ndarray:
    """(side * side, 2) float64 (x, y) centres of a side x side feature map's cells, row by row."""
    ys, xs = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    return (np.stack([xs.ravel(), ys.ravel()], 1) + 0.5) * stride


def assign_inputs(rng: np.random.Generator, k: int, side: int = 16, radius: float = 1.5, stride: int = 4,
                  min_side: float = 4.0, max_side: float = 30.0) -> tuple:
    """``(boxes (k, 4) float64, labels (k,) int64 in 1..5, centres (A, 2) float64, radius, stride)``."""
    boxes = random_boxes(rng, k, canvas=side * stride, min_side=min_side, max_side=max_side) if k else np.zeros((0, 4))
    return (boxes, rng.integers(1, 6, size=k).astype(np.int64), grid_centres(side, stride), float(radius), int(stride))


def loss_inputs(rng: np.random.Generator, n: int, k: int, side: int = 8, num_classes: int = 5) -> tuple:
    """``(logits (n, A, C), distances (n, A, 4), centerness (n, A), labels (n, A), target_distances (n, A, 4),
    target_centerness (n, A), centres (A, 2))`` float64 (labels int64): targets from the course's FCOS
    assignment of k random boxes per image, predictions near them."""
    import torch

    from cvcourse_utils.detection import fcos_targets

    centres = grid_centres(side)
    labels, dist, ctr = [], [], []
    for _ in range(n):
        boxes, box_labels, *_ = assign_inputs(rng, k, side, max_side=min(30.0, side * 4 * 0.6))
        lab, d, c = fcos_targets(torch.as_tensor(boxes), torch.as_tensor(box_labels), torch.as_tensor(centres), 1.5, 4)
        labels.append(lab.numpy()), dist.append(d.double().numpy()), ctr.append(c.double().numpy())
    labels, dist, ctr = np.stack(labels).astype(np.int64), np.stack(dist), np.stack(ctr)
    a = len(centres)
    logits = rng.normal(-3.0, 1.5, size=(n, a, num_classes))
    pred = np.where(labels[..., None] > 0, dist, rng.uniform(1, 20, size=(n, a, 4))) * np.exp(rng.normal(0, 0.3, (n, a, 4)))
    return (logits, pred, rng.normal(0, 1, size=(n, a)), labels, dist, ctr, centres)


def decode_inputs(rng: np.random.Generator, side: int = 16, num_classes: int = 5, objects: int = 3,
                  score_threshold: float = 0.05, iou_threshold: float = 0.5, max_detections: int = 50) -> tuple:
    """One image's raw outputs ``(logits (A, C), distances (A, 4), centerness (A,), centres (A, 2), image_size,
    score_threshold, iou_threshold, max_detections)`` float64: a few objects that many neighbouring locations fire on."""
    centres = grid_centres(side)
    a = len(centres)
    logits = rng.normal(-6.0, 1.0, size=(a, num_classes))
    distances = rng.uniform(2, 12, size=(a, 4))
    boxes = random_boxes(rng, objects, canvas=side * 4, min_side=8)
    for box, label in zip(boxes, rng.integers(0, num_classes, size=objects)):
        x, y = centres[:, 0], centres[:, 1]
        inside = (x > box[0]) & (x < box[2]) & (y > box[1]) & (y < box[3])
        logits[inside, label] = rng.normal(1.0, 1.5, size=inside.sum())
        ltrb = np.stack([x - box[0], y - box[1], box[2] - x, box[3] - y], 1)[inside]
        distances[inside] = ltrb * np.exp(rng.normal(0, 0.15, size=ltrb.shape))
    return (logits, distances, rng.normal(0, 1, size=a), centres, (side * 4, side * 4), float(score_threshold),
            float(iou_threshold), int(max_detections))


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


def _torch_args(args):
    import torch

    return [torch.as_tensor(a) if isinstance(a, np.ndarray) else a for a in args]


def _assign_reference(boxes, labels, centres, radius, stride):
    from cvcourse_utils.detection import fcos_targets

    labels_out, dist, ctr = fcos_targets(*_torch_args((boxes, labels, centres)), radius, stride)
    return [labels_out.numpy(), dist.double().numpy(), ctr.double().numpy()]


def _call_assign(fn, args):
    """The student's assign_targets on tensors (as the training loop calls it): boxes and centres float64."""
    out = fn(*_torch_args(args))
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise CheckFailed("assign_targets should return a tuple (labels, distances, centerness)")
    return list(out)


def _compare_assign(actual, expected, args) -> None:
    names = ("labels", "distances", "centerness")
    for name, got, want in zip(names, actual, expected):
        got = np.asarray(got)
        if got.shape != want.shape:
            raise CheckFailed(f"{name}: expected shape {want.shape}, got {got.shape}")
        if name == "labels":
            if not np.issubdtype(got.dtype, np.integer):
                raise CheckFailed(f"labels: expected integers (int64), got {got.dtype}")
            bad = np.flatnonzero(got != want)
            if len(bad):
                raise CheckFailed(f"labels differ at {len(bad)} of {len(want)} locations, e.g. location {bad[0]} "
                                  f"(centre {args[2][bad[0]].tolist()}): expected {want[bad[0]]}, got {got[bad[0]]}")
        elif not np.allclose(got, want, atol=1e-5, rtol=1e-5):
            i = np.unravel_index(np.abs(got - want).argmax(), want.shape)
            raise CheckFailed(f"{name}: expected {want[i]:.6f} at {tuple(int(j) for j in i)}, got {got[i]:.6f}")


LOSS_TERMS = ("loss", "cls", "box", "centerness")


def _loss_reference(logits, distances, centerness, labels, target_distances, target_centerness, centres):
    from cvcourse_utils.detection import one_stage_loss_terms

    t = _torch_args((logits, distances, centerness, labels, target_distances, target_centerness, centres))
    out = one_stage_loss_terms({"logits": t[0], "distances": t[1], "centerness": t[2]}, *t[3:])
    return {k: float(out[k]) for k in LOSS_TERMS}


def _call_loss(fn, args):
    """The student's loss on tensors; the predictions require gradients, and the loss must carry them back."""
    t = _torch_args(args)
    for i in range(3):
        t[i] = t[i].clone().requires_grad_(True)
    out = fn(*t)
    if not isinstance(out, dict) or not set(LOSS_TERMS) <= set(out):
        raise CheckFailed(f"one_stage_loss_by_hand should return a dict with the keys {LOSS_TERMS}")
    if not getattr(out["loss"], "requires_grad", False):
        raise CheckFailed("the loss carries no gradient: compute it with torch operations on the predictions")
    out["loss"].backward()
    if t[0].grad is None or (bool((t[3] > 0).any()) and t[1].grad is None):
        raise CheckFailed("the loss's gradient does not reach the logits (and, with positive locations, the distances)")
    return {k: out[k] for k in LOSS_TERMS}


def _compare_loss(actual, expected, args) -> None:
    for k in LOSS_TERMS:
        got = np.asarray(actual[k], dtype=np.float64)
        if got.shape not in ((), (1,)):
            raise CheckFailed(f"{k!r} should be one number, got shape {got.shape}")
        if not np.isclose(float(got.reshape(-1)[0]), expected[k], rtol=1e-6, atol=1e-8):
            raise CheckFailed(f"{k!r}: expected {expected[k]:.6f} (the course's one_stage_loss_terms), got {float(got.reshape(-1)[0]):.6f}"
                              f"; {int((np.asarray(args[3]) > 0).sum())} positive locations")


def _decode_detections_reference(logits, distances, centerness, centres, image_size, score_threshold, iou_threshold, max_detections):
    from torchvision.ops import batched_nms

    from cvcourse_utils.detection import decode_one_stage, location_centres

    h, w = image_size
    assert np.allclose(location_centres(h // 4, w // 4, 4).numpy(), centres), "the cases use stride-4 centres"
    t = _torch_args((logits, distances, centerness))
    out = decode_one_stage({"logits": t[0][None], "distances": t[1][None], "centerness": t[2][None]}, (h, w), 4,
                           score_threshold, iou_threshold, max_detections, nms=batched_nms)[0]
    return {k: v.numpy() for k, v in out.items()}


def _compare_decode(actual, expected, args) -> None:
    if not isinstance(actual, dict) or not {"boxes", "scores", "labels"} <= set(actual):
        raise CheckFailed('decode_detections should return a dict with "boxes", "scores" and "labels"')
    n = len(expected["scores"])
    got = {k: np.asarray(actual[k]) for k in ("boxes", "scores", "labels")}
    shapes = {"boxes": (n, 4), "scores": (n,), "labels": (n,)}
    if n == 0 and got["boxes"].size == 0:
        got["boxes"] = got["boxes"].reshape(0, 4)
    for k, shape in shapes.items():
        if got[k].shape != shape:
            raise CheckFailed(f"{k}: expected shape {shape} ({n} detections), got {got[k].shape}")
    if n and not np.issubdtype(got["labels"].dtype, np.integer):
        raise CheckFailed(f"labels: expected integers, got {got['labels'].dtype}")
    if not np.array_equal(got["labels"], expected["labels"]):
        raise CheckFailed(f"labels (by decreasing score): expected {expected['labels'].tolist()}, got {got['labels'].tolist()}")
    for k in ("scores", "boxes"):
        if n and not np.allclose(got[k].reshape(shapes[k]), expected[k], atol=1e-6, rtol=1e-6):
            raise CheckFailed(f"{k}: expected {np.round(expected[k], 4).tolist()[:5]}..., got {np.round(got[k], 4).tolist()[:5]}...")


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
#: NMS, ready-made: torchvision's (its compiled kernel too), and the course detector's decoding and ``detect``, which
#: run it (a fake model handed to ``detect`` would get its NMS).
NMS_READY_MADE = ("torchvision.ops.nms", "torchvision.ops.batched_nms", "torchvision._C", "torchvision.extension",
                  "cvcourse_utils.detection.decode_one_stage", "cvcourse_utils.detection.detect")
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

#: The course's one-stage detector: its assignment, loss, decoding and training (they hold every answer of section 5).
ONE_STAGE_COURSE = ("cvcourse_utils.detection.fcos_targets", "cvcourse_utils.detection._only_cell",
                    "cvcourse_utils.detection.one_stage_loss", "cvcourse_utils.detection.one_stage_loss_terms",
                    "cvcourse_utils.detection.decode_one_stage", "cvcourse_utils.detection.detect")
#: Focal loss, ready-made (torchvision's; torchvision's FCOS and RetinaNet models are in DETECTION_MODELS).
FOCAL_READY_MADE = ("torchvision.ops.sigmoid_focal_loss", "torchvision.ops.focal_loss")


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
    Task(
        name="assign_targets",
        function="assign_targets",
        cases=(
            Case("3 boxes on a 16x16 grid, radius 1.5", lambda rng: assign_inputs(rng, 3), seed=13),
            Case("a box inside a bigger box: the smaller one wins", lambda rng: (
                np.array([[4.0, 4, 60, 60], [20.0, 22, 36, 40]]), np.array([1, 2]), grid_centres(16), 1.5, 4)),
            Case("radius 0.25: each box keeps only the location nearest its centre", lambda rng: assign_inputs(rng, 3, radius=0.25),
                 seed=18),
        ),
        reference=_assign_reference,
        call=_call_assign,
        compare=_compare_assign,
        forbidden=(*ONE_STAGE_COURSE, *DETECTION_MODELS, *MODEL_BUILDERS),
        by_hand="decide yourself which locations are positive for which box (inside it, near its centre, the smallest) "
                "and compute their distances and centerness",
    ),
    Task(
        name="one_stage_loss_by_hand",
        function="one_stage_loss_by_hand",
        cases=(
            Case("2 images, 2 objects each, 8x8 grid", lambda rng: loss_inputs(rng, 2, 2), seed=14),
            Case("3 images, 1 object each, 16x16 grid", lambda rng: loss_inputs(rng, 3, 1, side=16), seed=15),
        ),
        reference=_loss_reference,
        call=_call_loss,
        compare=_compare_loss,
        forbidden=(*ONE_STAGE_COURSE, *FOCAL_READY_MADE, *IOU_READY_MADE, *DETECTION_MODELS),
        by_hand="write the focal loss, the GIoU loss and the centerness BCE yourself, normalised as the text says",
    ),
    Task(
        name="decode_detections",
        function="decode_detections",
        cases=(
            Case("3 objects, score >= 0.05, NMS IoU 0.5", lambda rng: decode_inputs(rng), seed=16),
            Case("5 objects, score >= 0.3, NMS IoU 0.3, at most 4 detections",
                 lambda rng: decode_inputs(rng, objects=5, score_threshold=0.3, iou_threshold=0.3, max_detections=4), seed=17),
        ),
        reference=_decode_detections_reference,
        compare=_compare_decode,
        forbidden=(*ONE_STAGE_COURSE, *NMS_READY_MADE, *IOU_READY_MADE, *DETECTION_MODELS),
        by_hand="turn scores and distances into boxes yourself and remove duplicates with your batched_nms_by_hand",
    ),
)
