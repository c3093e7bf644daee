"""Module 04 quality bars, measured on the notebooks themselves in full mode.

Bars (figures from the ``results`` dict of ``solutions/lab04_convolutional_networks.ipynb``):

- cluttered shapes: the lab's CNN reaches >= 0.97 test accuracy and beats module 02's linear
  classifier (softmax regression on the pixels, trained the same way in the lab) by >= 0.30;
- scikit-learn's digits resized to 28x28: the lab's CNN reaches >= 0.98 test accuracy;
- CIFAR-10, only when it is in the cache (``cvcourse data download cifar10``): >= 0.80 test
  accuracy within 10 epochs; the training time is recorded with the device it ran on (a GPU
  trains in bf16 mixed precision through ``fit``). Without the data this part is skipped with a notice.

The lecture runs in full mode too; its run time and its two accuracies are recorded (no bars).

Run from the repository root:  .venv/bin/python -m benchmarks.bench_module04
"""
from __future__ import annotations

import os
import sys

from benchmarks.notebook_results import run_notebook
from benchmarks.results import Bars, dataset_in_cache, record

NAME = "bench_module04"
LAB = "solutions/lab04_convolutional_networks.ipynb"
LECTURE = "lectures/04_convolutional_networks.ipynb"

SHAPES_BAR = 0.97
LINEAR_MARGIN = 0.30
DIGITS_BAR = 0.98
CIFAR10_BAR = 0.80


def main() -> int:
    bars = Bars(NAME)
    bar = bars.check

    with_cifar = dataset_in_cache("cifar10", "CIFAR-10")
    if with_cifar:
        os.environ["CVCOURSE_CIFAR10"] = "1"  # the lab's CIFAR-10 cell trains on a CPU too when this is set

    results, seconds = run_notebook(LAB)
    record(NAME, "lab04 full-mode run time", f"{seconds / 60:.1f} min", "solutions notebook, CVCOURSE_FAST=0")
    shapes, linear = results["shapes_cnn_test_accuracy"], results["shapes_linear_test_accuracy"]
    bar("cluttered shapes: CNN test accuracy", shapes, shapes >= SHAPES_BAR, f">= {SHAPES_BAR}")
    record(NAME, "cluttered shapes: linear (module 02) test accuracy", f"{linear:.4f}", "same data and training loop")
    bar("cluttered shapes: CNN minus linear", shapes - linear, shapes - linear >= LINEAR_MARGIN, f">= {LINEAR_MARGIN}")
    digits = results["digits28_cnn_test_accuracy"]
    bar("digits 28x28: CNN test accuracy", digits, digits >= DIGITS_BAR, f">= {DIGITS_BAR}")
    record(NAME, "im2col speed-up over naive loops", f"{results['conv_im2col_speedup']:.0f}x", "16x3x32x32, 16 filters 3x3, one core")
    record(NAME, "random search: best validation accuracy", f"{results['search_best_val_accuracy']:.4f}",
           "8 trials, 1,000 training images, 8 epochs each")

    if "cifar10_cnn_test_accuracy" in results:
        cifar = results["cifar10_cnn_test_accuracy"]
        device = results.get("cifar10_device", "?")
        bar(f"CIFAR-10: CNN test accuracy after 10 epochs ({device})", cifar, cifar >= CIFAR10_BAR, f">= {CIFAR10_BAR}")
        precision = "bf16 mixed precision" if str(device).startswith("cuda") else "float32"
        record(NAME, f"CIFAR-10: 10 epochs training time ({device})", f"{results['cifar10_seconds'] / 60:.1f} min", precision)
    elif with_cifar:
        bars.fail("CIFAR-10 is in the cache but the lab did not report its accuracy")
    else:
        record(NAME, "CIFAR-10: CNN test accuracy", "not measured", "CIFAR-10 not in the cache on this machine")

    lecture, lecture_seconds = run_notebook(LECTURE)
    record(NAME, "lecture 04 full-mode run time", f"{lecture_seconds / 60:.1f} min", "CVCOURSE_FAST=0")
    for key, value in sorted(lecture.items()):
        record(NAME, f"lecture: {key}", f"{value:.4f}" if isinstance(value, float) else str(value))

    return bars.finish("module 04")


if __name__ == "__main__":
    sys.exit(main())
