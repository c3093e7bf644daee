"""Module 07 quality bars, measured on the notebooks themselves in full mode.

Bars (figures from the ``results`` dict of ``solutions/lab07_semantic_segmentation.ipynb``):

- cluttered ``shapes_segmentation`` test scenes: the lab's U-Net reaches mIoU >= 0.90 (background
  included) and a mean Dice of the five shape classes >= 0.90;
- the lab's FCN (the student's ``build_fcn``: one score skip at 1/4 of the resolution) is measured on the same
  data (no bar; expected lower, especially at boundaries): its mIoU, Dice and boundary mIoU are recorded beside
  the U-Net's;
- the lab's transposed convolution matches ``F.conv_transpose2d`` to 1e-10 in float64.

The lecture runs in full mode too: torchvision's LR-ASPP (MobileNetV3), trained from scratch on the
same scenes as the course's FCN and U-Net, a run the lecture presents as failed (it ends at the
background-everywhere baseline); its mIoU and training time are recorded with the device.

Run from the repository root:  .venv/bin/python -m benchmarks.bench_module07
"""
from __future__ import annotations

import sys

from benchmarks.notebook_results import run_notebook
from benchmarks.results import Bars, record

NAME = "bench_module07"
LAB = "solutions/lab07_semantic_segmentation.ipynb"
LECTURE = "lectures/07_semantic_segmentation.ipynb"

UNET_MIOU_BAR = 0.90
UNET_DICE_BAR = 0.90
TRANSPOSE_ERROR_BAR = 1e-10


def device_name() -> str:
    from cvcourse_utils.device import get_device

    return str(get_device())


def main() -> int:
    bars = Bars(NAME)
    bar = bars.check

    device = device_name()
    results, seconds = run_notebook(LAB)
    record(NAME, "lab07 full-mode run time", f"{seconds / 60:.1f} min", f"solutions notebook, CVCOURSE_FAST=0, {device}")
    unet_miou, unet_dice = results["unet_test_miou"], results["unet_test_dice_shapes"]
    bar("cluttered scenes: U-Net test mIoU (background included)", unet_miou, unet_miou >= UNET_MIOU_BAR, f">= {UNET_MIOU_BAR}")
    bar("cluttered scenes: U-Net mean Dice of the shape classes", unet_dice, unet_dice >= UNET_DICE_BAR, f">= {UNET_DICE_BAR}")
    record(NAME, "cluttered scenes: lab FCN (one skip, at 1/4) test mIoU", f"{results['fcn_test_miou']:.4f}",
           f"mean Dice of the shapes {results['fcn_test_dice_shapes']:.4f}; same data and training function")
    record(NAME, "cluttered scenes: boundary mIoU (pixels within 1 px of a class change), FCN / U-Net",
           f"{results['fcn_boundary_miou']:.4f} / {results['unet_boundary_miou']:.4f}")
    record(NAME, "cluttered scenes: pixel accuracy, FCN / U-Net / background everywhere",
           f"{results['fcn_test_pixel_accuracy']:.4f} / {results['unet_test_pixel_accuracy']:.4f} / "
           f"{results['background_only_pixel_accuracy']:.4f}")
    record(NAME, "cluttered scenes: recall of small / large shapes (split at the median area), FCN; U-Net",
           f"{results['fcn_small_shape_recall']:.3f} / {results['fcn_large_shape_recall']:.3f}; "
           f"{results['unet_small_shape_recall']:.3f} / {results['unet_large_shape_recall']:.3f}")
    record(NAME, f"training time FCN / U-Net ({device})",
           f"{results['fcn_train_seconds'] / 60:.1f} / {results['unet_train_seconds'] / 60:.1f} min",
           "float32 on CPU" if device == "cpu" else "bf16 mixed precision")
    error = results["conv_transpose_max_abs_error"]
    bar("transposed convolution vs F.conv_transpose2d, max abs error (float64)", error, error <= TRANSPOSE_ERROR_BAR,
        f"<= {TRANSPOSE_ERROR_BAR:g}", fmt=".1e")

    lecture, lecture_seconds = run_notebook(LECTURE)
    record(NAME, "lecture 07 full-mode run time", f"{lecture_seconds / 60:.1f} min",
           f"CVCOURSE_FAST=0, {device}; trained models come from the cache when present")
    record(NAME, f"lecture: torchvision LR-ASPP from scratch (a failed run, shown as one), test mIoU ({device})", f"{lecture['lraspp_test_miou']:.4f}",
           f"easy scenes; training {lecture['lraspp_seconds'] / 60:.1f} min; course U-Net {lecture['unet_test_miou']:.4f}, "
           f"FCN {lecture['fcn_test_miou']:.4f} on the same data")

    return bars.finish("module 07")


if __name__ == "__main__":
    sys.exit(main())
