"""Lab 08: every task earns points only for the code it teaches (``cvcourse_utils.taught``).

The shortcuts are those a review of the lab found (torchvision's box ops, NMS, anchor generator, matcher and box
coder; the course's own ``encode_boxes``/``decode_boxes``; the checks' references and ``coco_map``; torchmetrics,
pycocotools, scikit-learn) and a few more."""
from __future__ import annotations

import pytest
from taught_shortcuts import ROOT, assert_shortcuts_earn_zero, check_refuses, given_sources

from cvcourse_utils import checking
from cvcourse_utils.grading.lab import load_lab
from cvcourse_utils.taught import find_delegations

SHORTCUTS = {
    "box_iou_by_hand": """import torch
from torchvision.ops import box_iou

def box_iou_by_hand(boxes1, boxes2):
    return box_iou(torch.as_tensor(boxes1), torch.as_tensor(boxes2)).numpy()
""",
    "nms_by_hand": """import torch
import torchvision

def nms_by_hand(boxes, scores, iou_threshold):
    return torchvision.ops.nms(torch.as_tensor(boxes).reshape(-1, 4), torch.as_tensor(scores), iou_threshold).numpy()
""",
    "batched_nms_by_hand": """import torch
from torchvision.ops import batched_nms as bn

def batched_nms_by_hand(boxes, scores, labels, iou_threshold):
    return bn(torch.as_tensor(boxes).reshape(-1, 4), torch.as_tensor(scores), torch.as_tensor(labels), iou_threshold).numpy()
""",
    "grid_anchors": """import torch
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList

def grid_anchors(feature_height, feature_width, stride, sizes, aspect_ratios):
    generator = AnchorGenerator(sizes=(tuple(sizes),), aspect_ratios=(tuple(aspect_ratios),))
    h, w = feature_height * stride, feature_width * stride
    images = ImageList(torch.zeros(1, 3, h, w), [(h, w)])
    return generator(images, [torch.zeros(1, 1, feature_height, feature_width)])[0].numpy()
""",
    "match_anchors": """import numpy as np
import torch
from torchvision.models.detection._utils import Matcher

def match_anchors(gt_boxes, anchors, high, low):
    return Matcher(high, low)(torch.as_tensor(box_iou_by_hand(gt_boxes, anchors))).numpy().astype(np.int64)
""",
    "encode_boxes": """import torch
from cvcourse_utils.detection import encode_boxes as encode

def encode_boxes(boxes, anchors, weights=(1.0, 1.0, 1.0, 1.0)):
    return encode(torch.as_tensor(boxes), torch.as_tensor(anchors), weights).numpy()
""",
    "decode_boxes": """import torch
from cvcourse_utils import detection

def decode_boxes(codes, anchors, weights=(1.0, 1.0, 1.0, 1.0)):
    return detection.decode_boxes(torch.as_tensor(codes), torch.as_tensor(anchors), weights).numpy()
""",
    "average_precision": """import numpy as np
from cvcourse_utils.labchecks.lab08 import coco_map

def average_precision(det_boxes, det_scores, det_image, gt_boxes, gt_image, iou_threshold):
    ones = lambda a: np.ones(len(a), dtype=np.int64)
    return coco_map(det_boxes, det_scores, ones(det_scores), det_image, gt_boxes, ones(gt_image), gt_image,
                    iou_thresholds=[iou_threshold])["map"]
""",
    "mean_average_precision": """import numpy as np
import torch
from torchmetrics.detection import MeanAveragePrecision

def mean_average_precision(det_boxes, det_scores, det_labels, det_image, gt_boxes, gt_labels, gt_image):
    metric = MeanAveragePrecision(iou_type="bbox")
    for i in np.union1d(det_image, gt_image):
        d, g = det_image == i, gt_image == i
        metric.update([{"boxes": torch.as_tensor(det_boxes[d]).float(), "scores": torch.as_tensor(det_scores[d]).float(),
                        "labels": torch.as_tensor(det_labels[d])}],
                      [{"boxes": torch.as_tensor(gt_boxes[g]).float(), "labels": torch.as_tensor(gt_labels[g])}])
    result = metric.compute()
    return np.array([float(result["map_50"]), float(result["map"])])
""",
    "assign_targets": """from cvcourse_utils.detection import fcos_targets

def assign_targets(boxes, labels, centres, radius=1.5, stride=4):
    return fcos_targets(boxes, labels, centres, radius, stride)
""",
    "one_stage_loss_by_hand": """import torch
from torchvision.ops import generalized_box_iou_loss, sigmoid_focal_loss

def one_stage_loss_by_hand(logits, distances, centerness, labels, target_distances, target_centerness, centres,
                           alpha=0.25, gamma=2.0):
    one_hot = torch.nn.functional.one_hot(labels, logits.shape[-1] + 1)[..., 1:].to(logits.dtype)
    positive = labels > 0
    cls = sigmoid_focal_loss(logits, one_hot, reduction="sum") / positive.sum().clamp(min=1)
    pc = centres[None].expand(len(labels), -1, -1)[positive]
    box = lambda d: torch.cat([pc - d[positive][:, :2], pc + d[positive][:, 2:]], 1)
    giou = generalized_box_iou_loss(box(distances), box(target_distances), reduction="mean")
    ctr = torch.nn.functional.binary_cross_entropy_with_logits(centerness[positive], target_centerness[positive])
    return {"loss": cls + giou + ctr, "cls": cls, "box": giou, "centerness": ctr}
""",
    "decode_detections": """import torch
from cvcourse_utils.detection import decode_one_stage

def decode_detections(logits, distances, centerness, centres, image_size, score_threshold=0.05, iou_threshold=0.5,
                      max_detections=50):
    outputs = {"logits": torch.as_tensor(logits)[None], "distances": torch.as_tensor(distances)[None],
               "centerness": torch.as_tensor(centerness)[None]}
    return decode_one_stage(outputs, image_size, 4, score_threshold, iou_threshold, max_detections)[0]
""",
}

#: More shortcuts, each (task, cell source): read from the solution's given cells plus this cell.
MORE = [
    ("nms_by_hand", "import torch\nfrom cvcourse_utils.detection import detect\n\nclass Fake(torch.nn.Module):\n"
                    "    def __init__(self, out):\n        super().__init__()\n        self.out = out\n"
                    "    def forward(self, x):\n        return self.out\n\n"
                    "def nms_by_hand(boxes, scores, t):\n    return detect(Fake((boxes, scores)), torch.zeros(1, 3, 64, 64), iou_threshold=t)"),
    ("box_iou_by_hand", "import torchvision.ops.boxes as B\n\ndef box_iou_by_hand(a, b):\n    return B.box_iou(a, b)"),
    ("box_iou_by_hand", "from cvcourse_utils import detection\n\ndef box_iou_by_hand(a, b):\n    return detection.box_iou(a, b).numpy()"),
    ("box_iou_by_hand", "from pycocotools import mask\n\ndef box_iou_by_hand(a, b):\n"
                        "    return mask.iou(a, b, [0] * len(b))"),
    ("box_iou_by_hand", "from torchmetrics.functional.detection import intersection_over_union as iou\n\n"
                        "def box_iou_by_hand(a, b):\n    return iou(a, b, aggregate=False).numpy()"),
    ("box_iou_by_hand", "from torchvision.ops._utils import _loss_inter_union\n\ndef box_iou_by_hand(a, b):\n"
                        "    inter, union = _loss_inter_union(a[:, None].expand(-1, len(b), 4), b[None].expand(len(a), -1, 4))\n"
                        "    return inter / union"),
    ("box_iou_by_hand", "from cvcourse_utils.labchecks.lab08 import _box_iou_reference as box_iou_by_hand"),
    ("box_iou_by_hand", "def box_iou_by_hand(a, b):\n    return rcnn.rpn.box_similarity(a, b).numpy()"),  # the lab's model
    ("nms_by_hand", "import torch\n\ndef nms_by_hand(b, s, t):\n    return torch.ops.torchvision.nms(b, s, t).numpy()"),
    ("nms_by_hand", "from cvcourse_utils.labchecks import lab08\n\ndef nms_by_hand(b, s, t):\n"
                    "    return next(x for x in lab08.TASKS if x.name == 'nms_by_hand').reference(b, s, t)"),
    ("batched_nms_by_hand", "from cvcourse_utils.detection import decode_one_stage\n\n"
                            "def batched_nms_by_hand(b, s, l, t):\n    return decode_one_stage(b, iou_threshold=t)"),
    ("batched_nms_by_hand", "from torchvision.ops.boxes import _batched_nms_vanilla\n\n"
                            "def batched_nms_by_hand(b, s, l, t):\n    return _batched_nms_vanilla(b, s, l, t).numpy()"),
    ("batched_nms_by_hand", "import torchvision\n\ndef batched_nms_by_hand(b, s, l, t):\n"
                            "    keep = [torchvision.ops.nms(b[l == k], s[l == k], t) for k in l.unique()]\n    return keep"),
    ("grid_anchors", "from cvcourse_utils.labchecks.lab08 import _grid_anchors_reference\n\n"
                     "def grid_anchors(h, w, s, sizes, ratios):\n    return _grid_anchors_reference(h, w, s, sizes, ratios)"),
    ("grid_anchors", "import torchvision.models.detection.anchor_utils as A\n\ndef grid_anchors(h, w, s, sizes, ratios):\n"
                     "    return A.AnchorGenerator((sizes,), (ratios,)).cell_anchors[0]"),
    ("match_anchors", "from cvcourse_utils.labchecks.lab08 import _match_reference\n\n"
                      "def match_anchors(g, a, high, low):\n    return _match_reference(g, a, high, low)"),
    ("match_anchors", "import numpy as np\nfrom torchvision.ops import box_iou\n\ndef match_anchors(g, a, high, low):\n"
                      "    iou = box_iou(g, a).numpy()\n    m = iou.argmax(0)\n    m[iou.max(0) < low] = -1\n    return m"),
    ("match_anchors", "import torch\n\ndef match_anchors(g, a, high, low):\n"
                      "    return rcnn.rpn.proposal_matcher(torch.as_tensor(box_iou_by_hand(g, a))).numpy()"),  # the lab's model
    ("decode_boxes", "import torch\nfrom cvcourse_utils.backbone import course_backbone\n"
                     "from cvcourse_utils.detection import faster_rcnn_from_backbone\n\n"
                     "def decode_boxes(c, a, w=(1.0, 1.0, 1.0, 1.0)):\n"
                     "    coder = faster_rcnn_from_backbone(course_backbone()).rpn.box_coder\n    coder.weights = w\n"
                     "    return coder.decode_single(torch.as_tensor(c), torch.as_tensor(a)).numpy()"),
    ("encode_boxes", "import torch\nfrom torchvision.models.detection._utils import BoxCoder\n\n"
                     "def encode_boxes(b, a, w=(1.0, 1.0, 1.0, 1.0)):\n    return BoxCoder(w).encode_single(b, a).numpy()"),
    ("encode_boxes", "import numpy as np\nimport torch\nfrom torchvision.ops import box_convert\n\n"
                     "def encode_boxes(b, a, w=(1.0, 1.0, 1.0, 1.0)):\n"
                     "    x, y, bw, bh = box_convert(torch.as_tensor(b), 'xyxy', 'cxcywh').numpy().T\n"
                     "    xa, ya, wa, ha = box_convert(torch.as_tensor(a), 'xyxy', 'cxcywh').numpy().T\n"
                     "    return np.stack([w[0] * (x - xa) / wa, w[1] * (y - ya) / ha, w[2] * np.log(bw / wa), w[3] * np.log(bh / ha)], 1)"),
    ("decode_boxes", "import torch\nimport torchvision.models.detection._utils as U\n\n"
                     "def decode_boxes(c, a, w=(1.0, 1.0, 1.0, 1.0)):\n    return U.BoxCoder(w).decode_single(c, a).numpy()"),
    ("average_precision", "import numpy as np\nfrom sklearn.metrics import average_precision_score\n\n"
                          "def average_precision(db, ds, di, gb, gi, t):\n    return average_precision_score(np.ones(len(ds)), ds)"),
    ("average_precision", "from cvcourse_utils.detection import greedy_match, interpolated_ap, precision_recall\n\n"
                          "def average_precision(db, ds, di, gb, gi, t):\n"
                          "    dets = [{'boxes': db[di == i], 'scores': ds[di == i], 'labels': 1 + 0 * di[di == i]} for i in range(di.max() + 1)]\n"
                          "    gts = [{'boxes': gb[gi == i], 'labels': 1 + 0 * gi[gi == i]} for i in range(di.max() + 1)]\n"
                          "    _, tp, n = greedy_match(dets, gts, t)\n    p, r = precision_recall(tp, n)\n    return interpolated_ap(p, r)"),
    ("average_precision", "from pycocotools.cocoeval import COCOeval\n\ndef average_precision(db, ds, di, gb, gi, t):\n"
                          "    return COCOeval(None, None, 'bbox').stats[0]"),
    ("mean_average_precision", "def mean_average_precision(*flat):\n    return library_map(*flat)"),  # the lab's own given helper
    ("mean_average_precision", "from cvcourse_utils.labchecks.lab08 import coco_map\n\ndef mean_average_precision(*flat):\n"
                               "    r = coco_map(*flat)\n    return [r['map_50'], r['map']]"),
    ("mean_average_precision", "from cvcourse_utils.detection import torchmetrics_map\n\ndef mean_average_precision(*flat):\n"
                               "    r = torchmetrics_map([], [])\n    return [r['map_50'], r['map']]"),
    ("assign_targets", "from cvcourse_utils.detection import one_stage_loss_terms, _only_cell\n\n"
                       "def assign_targets(b, l, c, r=1.5, s=4):\n    return _only_cell(c, b, s)"),
    ("assign_targets", "from torchvision.models.detection.fcos import FCOS\n\ndef assign_targets(b, l, c, r=1.5, s=4):\n"
                       "    return FCOS.compute_loss"),
    ("one_stage_loss_by_hand", "from cvcourse_utils.detection import one_stage_loss_terms\n\n"
                               "def one_stage_loss_by_hand(lo, d, c, l, td, tc, ce, alpha=0.25, gamma=2.0):\n"
                               "    return one_stage_loss_terms({'logits': lo, 'distances': d, 'centerness': c}, l, td, tc, ce)"),
    ("one_stage_loss_by_hand", "import torchvision.ops.focal_loss as F\n\ndef one_stage_loss_by_hand(lo, d, c, l, td, tc, ce):\n"
                               "    return {'loss': F.sigmoid_focal_loss(lo, l)}"),
    ("decode_detections", "from cvcourse_utils.detection import detect\n\n"
                          "def decode_detections(lo, d, c, ce, size, s=0.05, t=0.5, m=50):\n    return detect(None, lo)"),
    ("decode_detections", "import torch\nfrom torchvision.ops import batched_nms\n\n"
                          "def decode_detections(lo, d, c, ce, size, s=0.05, t=0.5, m=50):\n"
                          "    return batched_nms(torch.as_tensor(d), torch.as_tensor(c), torch.as_tensor(lo.argmax(1)), t)"),
]


def test_lab08_shortcuts_earn_zero(capsys):
    assert_shortcuts_earn_zero("lab08", SHORTCUTS, capsys)


@pytest.mark.parametrize("task_name, source", MORE, ids=[f"{t}-{i}" for i, (t, _) in enumerate(MORE)])
def test_lab08_more_shortcuts_are_refused(task_name, source):
    given = given_sources(load_lab("lab08", ROOT).reference)
    task = checking.get_task(task_name)
    assert find_delegations([*given, source], task.function, task.forbidden), f"{task_name}: not caught:\n{source}"
    check_refuses(task_name, [*given, source])  # and check refuses it before running it


def test_lab08_given_cells_give_no_answer():
    """Nothing the lab gives before (or after) the tasks answers one: the lint of the taught rule is clean."""
    from cvcourse_utils.lint import lint_taught
    from cvcourse_utils.notebooks import read_notebook

    nb = read_notebook(ROOT / "solutions" / "lab08_object_detection.ipynb")
    assert lint_taught(nb, "lab08", checking.lab_tasks("lab08"), "lab08.py") == []
    setup = given_sources(nb)[0]
    assert "labchecks" not in setup and "encode_boxes" not in setup and "coco_map" not in setup
