"""cvcourse_utils.detection: box coding against torchvision, FCOS targets, the detectors and the figure."""
import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from torchvision.models.detection._utils import BoxCoder

from cvcourse_utils.datasets import load_dataset
from cvcourse_utils.detection import (
    OneStageDetector,
    collate_scenes,
    decode_boxes,
    decode_one_stage,
    detect,
    draw_detections,
    encode_boxes,
    faster_rcnn_from_backbone,
    fcos_targets,
    flatten_detections,
    location_centres,
    mask_rcnn_from_backbone,
    one_stage_loss,
    one_stage_loss_terms,
    predict_torchvision,
    train_one_stage,
    scene_tensors,
)
from cvcourse_utils.models import CifarResNet


@pytest.fixture(scope="module")
def scenes():
    return load_dataset("shapes_detection", "train", n=6, difficulty="cluttered")


def _boxes(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 40
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * 20 + 2
    return torch.cat([xy, xy + wh], 1)


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_encode_decode_match_torchvision_box_coder(weights):
    boxes, anchors = _boxes(7, 1), _boxes(7, 2)
    coder = BoxCoder(weights)
    codes = encode_boxes(boxes, anchors, weights)
    assert torch.allclose(codes, coder.encode_single(boxes, anchors), atol=1e-10)
    assert torch.allclose(decode_boxes(codes, anchors, weights), coder.decode_single(codes, anchors), atol=1e-10)
    assert torch.allclose(decode_boxes(codes, anchors, weights), boxes, atol=1e-9)


def test_location_centres_are_cell_centres_row_by_row():
    c = location_centres(2, 3, 4)
    assert c.shape == (6, 2)
    assert c[0].tolist() == [2.0, 2.0] and c[1].tolist() == [6.0, 2.0] and c[3].tolist() == [2.0, 6.0]


def test_fcos_targets_take_the_smallest_box_and_centerness_peaks_at_the_centre():
    centres = location_centres(16, 16, 4)
    boxes = torch.tensor([[0.0, 0.0, 64.0, 64.0], [8.0, 8.0, 24.0, 24.0]])
    labels, dist, ctr = fcos_targets(boxes, torch.tensor([1, 2]), centres)
    at = lambda x, y: int(((centres[:, 0] == x) & (centres[:, 1] == y)).nonzero())
    assert labels[at(18, 18)] == 2 and labels[at(50, 50)] == 1
    assert dist[at(18, 18)].tolist() == [10.0, 10.0, 6.0, 6.0]
    assert float(ctr.max()) <= 1.0 and float(ctr.min()) >= 0.0
    empty = fcos_targets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), centres)
    assert (empty[0] == 0).all() and empty[1].shape == (256, 4)


def test_fcos_targets_radius_keeps_one_location_for_a_tiny_box():
    centres = location_centres(16, 16, 4)
    labels, _, _ = fcos_targets(torch.tensor([[9.0, 9.0, 12.5, 12.5]]), torch.tensor([3]), centres, radius=0.5)
    assert int((labels == 3).sum()) == 1


def test_one_stage_detector_shapes_loss_and_decoding(scenes):
    images, targets = collate_scenes([scenes[i] for i in range(4)])
    assert images.shape == (4, 3, 64, 64) and isinstance(targets[0]["boxes"], torch.Tensor)
    model = OneStageDetector(num_classes=5, width=8)
    out = model(images)
    assert out["logits"].shape == (4, 256, 5) and out["distances"].shape == (4, 256, 4) and out["centerness"].shape == (4, 256)
    losses = one_stage_loss(out, targets)
    assert torch.isfinite(losses["loss"]) and losses["loss"] > 0
    losses["loss"].backward()
    assert model.cls_head.weight.grad is not None
    dets = decode_one_stage({k: v.detach() for k, v in out.items()}, score_threshold=0.0, max_detections=7)
    assert len(dets) == 4 and all(len(d["boxes"]) <= 7 for d in dets)
    assert all(float(d["boxes"].min()) >= 0 and float(d["boxes"].max()) <= 64 for d in dets)
    assert len(detect(model, images, score_threshold=0.0)) == 4


def test_one_stage_loss_is_the_terms_of_its_fcos_targets_and_train_takes_a_loss_fn(scenes):
    images, targets = collate_scenes([scenes[i] for i in range(4)])
    model = OneStageDetector(num_classes=5, width=8)
    out = model(images)
    centres = location_centres(16, 16, 4)
    assigned = [fcos_targets(t["boxes"].float(), t["labels"], centres, 1.5, 4) for t in targets]
    labels, dist, ctr = (torch.stack([a[k] for a in assigned]) for k in range(3))
    terms = one_stage_loss_terms(out, labels, dist, ctr, centres)
    whole = one_stage_loss(out, targets)
    assert all(torch.allclose(terms[k], whole[k]) for k in ("loss", "cls", "box", "centerness"))
    no_positive = one_stage_loss_terms(out, torch.zeros_like(labels), dist, ctr, centres)
    assert float(no_positive["box"]) == 0.0 and float(no_positive["centerness"]) == 0.0
    calls = []

    def loss_fn(outputs, batch_targets):
        calls.append(len(batch_targets))
        return one_stage_loss(outputs, batch_targets)["loss"]

    history = train_one_stage(model, [(images, targets)], epochs=1, loss_fn=loss_fn, progress=False)
    assert calls == [4] and len(history["loss"]) == 1


def test_flatten_detections_indexes_images(scenes):
    images, targets = scene_tensors(scenes)
    dets = [{"boxes": t["boxes"][:1], "scores": torch.tensor([0.5]), "labels": t["labels"][:1]} for t in targets]
    db, ds, dl, di, gb, gl, gi = flatten_detections(dets, targets)
    assert db.shape == (6, 4) and di.tolist() == list(range(6)) and db.dtype == np.float64
    assert len(gb) == len(gl) == len(gi) == sum(len(t["labels"]) for t in targets) and gl.dtype == np.int64


@pytest.mark.parametrize("build", [faster_rcnn_from_backbone, mask_rcnn_from_backbone])
def test_two_stage_models_build_offline_on_a_course_resnet(build, scenes):
    torch.manual_seed(0)
    model = build(CifarResNet(3, 5, blocks=(1, 1, 1), width=8), num_classes=6)
    assert model.transform.min_size == (64,) and model.transform.max_size == 64
    sizes = model.rpn.anchor_generator.sizes[0]
    assert max(sizes) <= 32
    images, targets = collate_scenes([scenes[i] for i in range(2)])
    if build is mask_rcnn_from_backbone:
        seg = load_dataset("shapes_segmentation", "train", n=2, difficulty="cluttered")
        images, targets = collate_scenes([seg[i] for i in range(2)])
        targets = [{"boxes": t["boxes"], "labels": t["labels"], "masks": t["masks"].to(torch.uint8)} for t in targets]
    model.train()
    losses = model(list(images), targets)
    assert all(torch.isfinite(v) for v in losses.values())
    preds = predict_torchvision(model, images)
    assert len(preds) == 2 and set(preds[0]) >= {"boxes", "scores", "labels"}


def test_draw_detections_returns_a_titled_figure(scenes):
    images, targets = scene_tensors(scenes)
    fig = draw_detections(images[:3], targets[:3], scenes.classes, title="truth")
    assert fig._suptitle.get_text() == "truth" and len(fig.axes) == 3


def test_greedy_match_and_coco_ap_agree_with_torchmetrics():
    from cvcourse_utils.detection import greedy_match, interpolated_ap, precision_recall, torchmetrics_map

    g = torch.Generator().manual_seed(3)
    targets, dets = [], []
    for i in range(6):
        boxes = _boxes(3, 10 + i).float()
        targets.append({"boxes": boxes, "labels": torch.tensor([1, 1, 2])})
        noisy = torch.cat([boxes + torch.randn(3, 4, generator=g) * 1.5, _boxes(2, 50 + i).float()])
        dets.append({"boxes": noisy, "scores": torch.rand(5, generator=g), "labels": torch.tensor([1, 1, 2, 1, 2])})
    aps = []
    for k in (1, 2):
        _, tp, num_gt = greedy_match(dets, targets, 0.5, label=k)
        precision, recall = precision_recall(tp, num_gt)
        aps.append(interpolated_ap(precision, recall, "coco101"))
        assert interpolated_ap(precision, recall, "all") >= 0 and 0 <= interpolated_ap(precision, recall, "voc11") <= 1
    assert abs(np.mean(aps) - torchmetrics_map(dets, targets)["map_50"]) < 1e-3


def test_interpolated_ap_of_a_perfect_and_an_empty_curve():
    from cvcourse_utils.detection import interpolated_ap

    p, r = np.ones(4), np.array([0.25, 0.5, 0.75, 1.0])
    assert interpolated_ap(p, r, "all") == pytest.approx(1.0) and interpolated_ap(p, r, "coco101") == pytest.approx(1.0)
    assert interpolated_ap(np.zeros(0), np.zeros(0)) == 0.0
