"""Module 08 quality bars, measured on the notebooks themselves in full mode.

Bars (figures from the ``results`` dict of ``solutions/lab08_object_detection.ipynb``):

- cluttered ``shapes_detection`` test scenes: the lab's one-stage (FCOS-style) detector, trained from
  scratch with the solution's own target assignment, loss and decoding (the lab's tasks), reaches
  mAP@0.5 >= 0.90 (mAP@[.5:.95] recorded);
- torchvision's Faster R-CNN on the course backbone reaches mAP@0.5 >= 0.85 on the same scenes;
- the lab's mAP equals torchmetrics' ``MeanAveragePrecision`` (pycocotools) to 1e-3 on random cases;
- each model's training time is recorded (target: <= 15 min on 2 CPU cores).

The lecture runs in full mode too: its single-object localiser's mean test IoU must reach 0.6; its Mask
R-CNN's mask mAP@0.5 (and box mAPs of its three detectors) are recorded; its models come from the cache when present, so its times are the first run's.

Run from the repository root:  .venv/bin/python -m benchmarks.bench_module08
"""
from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

from benchmarks.notebook_results import run_notebook
from benchmarks.results import Bars, record

NAME = "bench_module08"
LAB = "solutions/lab08_object_detection.ipynb"
LECTURE = "lectures/08_object_detection.ipynb"

ONE_STAGE_MAP50_BAR = 0.90
FASTER_RCNN_MAP50_BAR = 0.85
MAP_AGREEMENT_BAR = 1e-3
TRAIN_MINUTES_TARGET = 15.0
LOCALISER_IOU_BAR = 0.6


def device_name() -> str:
    from cvcourse_utils.device import get_device

    return str(get_device())


def main() -> int:
    bars = Bars(NAME)
    bar = bars.check

    device = device_name()
    # The two notebooks run side by side (each trains on one thread), so a 2-core machine finishes in the time of the lab.
    with ThreadPoolExecutor(2) as pool:
        lab_run, lecture_run = pool.submit(run_notebook, LAB), pool.submit(run_notebook, LECTURE)
        (results, seconds), (lecture, lecture_seconds) = lab_run.result(), lecture_run.result()
    record(NAME, "lab08 full-mode run time", f"{seconds / 60:.1f} min", f"solutions notebook, CVCOURSE_FAST=0, {device}")
    one50, rcnn50 = results["one_stage_map50"], results["faster_rcnn_map50"]
    bar("cluttered scenes: one-stage detector (from scratch) test mAP@0.5", one50, one50 >= ONE_STAGE_MAP50_BAR,
        f">= {ONE_STAGE_MAP50_BAR}")
    record(NAME, "cluttered scenes: one-stage detector test mAP@[.5:.95]", f"{results['one_stage_map']:.4f}")
    bar("cluttered scenes: Faster R-CNN (course backbone) test mAP@0.5", rcnn50, rcnn50 >= FASTER_RCNN_MAP50_BAR,
        f">= {FASTER_RCNN_MAP50_BAR}")
    record(NAME, "cluttered scenes: Faster R-CNN test mAP@[.5:.95]", f"{results['faster_rcnn_map']:.4f}")
    diff = results["map_vs_library_max_difference"]
    bar("lab mAP vs torchmetrics MeanAveragePrecision (pycocotools), max abs difference", diff, diff <= MAP_AGREEMENT_BAR,
        f"<= {MAP_AGREEMENT_BAR:g}", fmt=".1e")
    for key, label in (("one_stage_train_seconds", "one-stage detector"), ("faster_rcnn_train_seconds", "Faster R-CNN")):
        minutes = results[key] / 60
        bar(f"training time, {label} ({device}, 1 thread)", minutes, minutes <= TRAIN_MINUTES_TARGET,
            f"<= {TRAIN_MINUTES_TARGET:g} min", fmt=".1f")

    record(NAME, "lecture 08 full-mode run time", f"{lecture_seconds / 60:.1f} min",
           f"CVCOURSE_FAST=0, {device}; trained models come from the cache when present")
    loc_iou = lecture["localiser_mean_iou"]
    bar("lecture: single-object localiser (class + box heads) mean test IoU", loc_iou, loc_iou >= LOCALISER_IOU_BAR,
        f">= {LOCALISER_IOU_BAR}")
    record(NAME, "lecture: single-object localiser class accuracy", f"{lecture['localiser_accuracy']:.4f}")
    record(NAME, f"lecture: Mask R-CNN (course backbone) mask mAP@0.5 / mAP@[.5:.95] ({device})",
           f"{lecture['mask_rcnn_mask_map50']:.4f} / {lecture['mask_rcnn_mask_map']:.4f}",
           f"box mAP@0.5 {lecture['mask_rcnn_box_map50']:.4f}; ready in {lecture['mask_rcnn_ready_seconds'] / 60:.1f} min")
    record(NAME, "lecture: box mAP@0.5 one-stage / Faster R-CNN",
           f"{lecture['one_stage_box_map50']:.4f} / {lecture['faster_rcnn_box_map50']:.4f}",
           f"ready in {lecture['one_stage_ready_seconds'] / 60:.1f} / {lecture['faster_rcnn_ready_seconds'] / 60:.1f} min")

    return bars.finish("module 08")


if __name__ == "__main__":
    sys.exit(main())
