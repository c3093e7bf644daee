"""Lab 08 · Object detection: points per task and hidden cases (instructors only).

Hidden cases use other seeds and sizes than the public ones, plus edge cases: disjoint and
degenerate (zero-area) boxes, a single box, many boxes; NMS with tied scores, identical boxes
and no boxes at all; anchors for one cell and for many sizes; a single ground-truth box; large
codes that hit the clamp; AP with no detections, with every detection wrong, at IoU 0.9, and
mAP with a class that has detections but no ground truth; the one-stage detector's assignment with no
boxes, a tiny box (only its nearest location), a huge radius (every location inside) and a coarser grid,
its loss with no positive location, and decoding that keeps nothing or only the best detection.
"""
import numpy as np

from cvcourse_utils.checking import Case
from cvcourse_utils.labchecks.lab08 import (ap_inputs, assign_inputs, batched_nms_inputs, codes_inputs, coder_inputs,
                                            decode_inputs, grid_centres, iou_inputs, loss_inputs, map_inputs, match_inputs,
                                            nms_inputs, random_boxes)

POINTS = {
    "box_iou_by_hand": 2,
    "nms_by_hand": 2,
    "batched_nms_by_hand": 1,
    "grid_anchors": 2,
    "match_anchors": 2,
    "encode_boxes": 1,
    "decode_boxes": 1,
    "average_precision": 3,
    "mean_average_precision": 2,
    "assign_targets": 2,
    "one_stage_loss_by_hand": 2,
    "decode_detections": 2,
}


def _no_detections(rng):
    args = ap_inputs(rng, 3)
    return (np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64)) + args[3:]


def _all_wrong(rng):
    gt = random_boxes(rng, 3, canvas=30)
    det = random_boxes(rng, 4, canvas=30) + 34.0  # far from every object
    return (det, rng.random(4), np.zeros(4, dtype=np.int64), gt, np.zeros(3, dtype=np.int64), 0.5)


def _extra_class(rng):
    args = list(map_inputs(rng, 6, num_classes=2))
    extra = random_boxes(rng, 3)
    args[0] = np.concatenate([args[0], extra])
    args[1] = np.concatenate([args[1], rng.uniform(0.01, 0.99, size=3)])
    args[2] = np.concatenate([args[2], np.full(3, 3)])  # class 3: detections only, no ground truth
    args[3] = np.concatenate([args[3], np.array([0, 1, 2])])
    return tuple(args)


HIDDEN = {
    "box_iou_by_hand": (
        Case("disjoint boxes (IoU 0)", lambda rng: (np.array([[0.0, 0, 10, 10]]), np.array([[20.0, 20, 30, 30], [10.0, 0, 20, 10]]))),
        Case("a zero-area box against boxes", lambda rng: (np.array([[5.0, 5, 5, 15]]), random_boxes(rng, 3)), seed=101),
        Case("one box against one box", lambda rng: iou_inputs(rng, 1, 1), seed=102),
        Case("60 boxes against 45 boxes", lambda rng: iou_inputs(rng, 60, 45), seed=103),
    ),
    "nms_by_hand": (
        Case("tied scores: the lower index wins",
             lambda rng: (np.array([[0.0, 0, 10, 10], [20.0, 20, 30, 30], [1.0, 0, 10, 10], [40.0, 40, 50, 50]]),
                          np.array([0.5, 0.5, 0.5, 0.5]), 0.5)),
        Case("identical boxes: only the best stays",
             lambda rng: (np.tile([[3.0, 4, 20, 25]], (5, 1)), rng.permutation(5) / 5 + 0.1, 0.5), seed=201),
        Case("no boxes at all", lambda rng: (np.zeros((0, 4)), np.zeros(0), 0.5)),
        Case("100 boxes, IoU threshold 0.7", lambda rng: nms_inputs(rng, 100, 0.7, clusters=10), seed=202),
        Case("one box", lambda rng: nms_inputs(rng, 1), seed=203),
    ),
    "batched_nms_by_hand": (
        Case("60 boxes of 5 classes, IoU threshold 0.4", lambda rng: batched_nms_inputs(rng, 60, 5, 0.4), seed=301),
        Case("no boxes at all", lambda rng: (np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64), 0.5)),
        Case("one class only", lambda rng: batched_nms_inputs(rng, 12, 1), seed=302),
    ),
    "grid_anchors": (
        Case("one cell, stride 8, sizes (8, 16, 32), ratios (0.5, 1, 2)", lambda rng: (1, 1, 8, (8, 16, 32), (0.5, 1.0, 2.0))),
        Case("3x5 map, stride 4, sizes (6, 12), ratios (0.25, 1, 3)", lambda rng: (3, 5, 4, (6, 12), (0.25, 1.0, 3.0))),
        Case("8x8 map, stride 8, size 16, ratios (1, 2)", lambda rng: (8, 8, 8, (16,), (1.0, 2.0))),
    ),
    "match_anchors": (
        Case("a single object, 40 anchors", lambda rng: match_inputs(rng, 1, 40), seed=401),
        Case("6 objects, 120 anchors, thresholds 0.6 / 0.2", lambda rng: match_inputs(rng, 6, 120, 0.6, 0.2), seed=402),
        Case("equal thresholds 0.5 / 0.5 (nothing ignored)", lambda rng: match_inputs(rng, 3, 30, 0.5, 0.5), seed=403),
    ),
    "encode_boxes": (
        Case("one box", lambda rng: coder_inputs(rng, 1), seed=501),
        Case("50 boxes, weights (2, 3, 0.5, 4)", lambda rng: coder_inputs(rng, 50, (2, 3, 0.5, 4)), seed=502),
    ),
    "decode_boxes": (
        Case("large codes: dw, dh clamped at log(1000/16)", lambda rng: codes_inputs(rng, 8, scale=6.0), seed=601),
        Case("40 codes, weights (10, 10, 5, 5)", lambda rng: codes_inputs(rng, 40, (10, 10, 5, 5)), seed=602),
    ),
    "average_precision": (
        Case("no detections (AP 0)", _no_detections, seed=701),
        Case("every detection far from every object (AP 0)", _all_wrong, seed=702),
        Case("25 images, IoU threshold 0.9", lambda rng: ap_inputs(rng, 25, 0.9, noise=0.05), seed=703),
        Case("15 images, many false positives", lambda rng: ap_inputs(rng, 15, 0.5, false_positives=4.0), seed=704),
        Case("one image, one object, one detection", lambda rng: ap_inputs(rng, 1, 0.5, max_objects=1, miss=0.0,
                                                                           false_positives=0.0, duplicates=0.0), seed=705),
    ),
    "mean_average_precision": (
        Case("20 images, 5 classes", lambda rng: map_inputs(rng, 20, 5), seed=801),
        Case("a class with detections but no ground truth (not averaged)", _extra_class, seed=802),
    ),
    "assign_targets": (
        Case("no boxes: every location is background", lambda rng: assign_inputs(rng, 0), seed=901),
        Case("a 2.5-pixel box, radius 0.05: only the location nearest its centre",
             lambda rng: (np.array([[20.5, 29.0, 23.0, 31.5]]), np.array([4]), grid_centres(16), 0.05, 4)),
        Case("4 boxes, radius 100 (every location inside a box)", lambda rng: assign_inputs(rng, 4, radius=100.0), seed=902),
        Case("6 boxes on an 8x8 grid of stride 8", lambda rng: assign_inputs(rng, 6, side=8, stride=8, max_side=40.0), seed=903),
    ),
    "one_stage_loss_by_hand": (
        Case("no positive location (empty scenes): only the classification term",
             lambda rng: loss_inputs(rng, 2, 0), seed=911),
        Case("4 images, 3 objects each, 16x16 grid", lambda rng: loss_inputs(rng, 4, 3, side=16), seed=912),
    ),
    "decode_detections": (
        Case("no score above 0.99: no detections", lambda rng: decode_inputs(rng, score_threshold=0.99), seed=921),
        Case("8 objects, at most 1 detection", lambda rng: decode_inputs(rng, objects=8, max_detections=1), seed=922),
        Case("6 objects, NMS IoU 0.7", lambda rng: decode_inputs(rng, objects=6, iou_threshold=0.7), seed=923),
    ),
}
