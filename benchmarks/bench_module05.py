"""Module 05 quality bars, measured on the notebooks themselves in full mode.

Bars (figures from the ``results`` dict of ``solutions/lab05_cnn_architectures_and_transfer.ipynb``):

- the small ResNet on cluttered shapes (the course backbone, ResNet-14, trained by the lab's call to
  ``course_backbone()`` unless it is already cached): test accuracy >= 0.99;
- a plain network of 32 layers ends with a higher training loss than the residual one of the same depth;
- transfer with the fewest labels the lab shows (25 images): the linear probe or fine-tuning beats
  training from scratch by >= 0.10 accuracy; every point of the plot is recorded;
- retrieval with the triplet embedding, trained on the digits 0-4: recall@1 >= 0.90 on test images of those
  seen digits, and >= 0.70 on the held-out digits 5-9 (gallery and queries never trained on;
  chance is about 0.2);
- FLOP counts by hand (the lab's ``network_flops``) equal ``FlopCounterMode`` exactly;
- CIFAR-10, only when it is in the cache: a ResNet reaches >= 0.93 test accuracy within 25 epochs, with
  the training time and the device (a GPU trains in bf16 mixed precision through ``fit``).

The lecture runs in full mode too; its run time and figures are recorded (no bars).

Run from the repository root:  .venv/bin/python -m benchmarks.bench_module05
"""
from __future__ import annotations

import os
import sys

from benchmarks.notebook_results import run_notebook
from benchmarks.results import Bars, dataset_in_cache, record

NAME = "bench_module05"
LAB = "solutions/lab05_cnn_architectures_and_transfer.ipynb"
LECTURE = "lectures/05_cnn_architectures_and_transfer.ipynb"

RESNET_BAR = 0.99
TRANSFER_MARGIN = 0.10
RECALL_BAR = 0.90
UNSEEN_RECALL_BAR = 0.70
CIFAR10_BAR = 0.93


def main() -> int:
    bars = Bars(NAME)
    bar = bars.check

    with_cifar = dataset_in_cache("cifar10", "CIFAR-10")
    if with_cifar:
        os.environ["CVCOURSE_CIFAR10"] = "1"  # the lab's CIFAR-10 cell trains on a CPU too when this is set

    results, seconds = run_notebook(LAB)
    record(NAME, "lab05 full-mode run time", f"{seconds / 60:.1f} min", "solutions notebook, CVCOURSE_FAST=0")
    resnet = results["backbone_source_test_accuracy"]
    bar("cluttered shapes: small ResNet (course backbone, ResNet-14) test accuracy", resnet, resnet >= RESNET_BAR, f">= {RESNET_BAR}")
    residual, plain = results["residual32_final_train_loss"], results["plain32_final_train_loss"]
    bar("32 layers: plain minus residual final training loss", plain - residual, plain > residual, "> 0",
        f"residual {residual:.4f}, plain {plain:.4f}; test accuracy residual {results['residual32_test_accuracy']:.3f}, "
        f"plain {results['plain32_test_accuracy']:.3f}")
    margin = results["transfer_best_pretrained_minus_scratch_smallest"]
    bar("transfer, fewest labels: best of probe / fine-tuning minus from scratch", margin, margin >= TRANSFER_MARGIN,
        f">= {TRANSFER_MARGIN}")
    for key in sorted(k for k in results if k.startswith("transfer_") and k[-1].isdigit()):
        record(NAME, f"lab: {key}", f"{results[key]:.4f}", "target test accuracy, five new shapes")
    for group, threshold in (("seen", RECALL_BAR), ("unseen", UNSEEN_RECALL_BAR)):
        recall = results[f"retrieval_recall_at_1_{group}"]
        digits = "0-4, trained on" if group == "seen" else "5-9, held out"
        bar(f"digits retrieval (triplet embedding), {group} digits ({digits}): recall@1", recall, recall >= threshold,
            f">= {threshold}", f"recall@5 {results[f'retrieval_recall_at_5_{group}']:.3f}, "
            f"verification AUC {results[f'verification_auc_{group}']:.3f}")
    exact = results["flops_by_hand_equal_counted"]
    bar("FLOPs by hand equal FlopCounterMode (4 networks)", exact, exact == 1.0, "== 1 (all exact)")

    if "cifar10_resnet_test_accuracy" in results:
        cifar = results["cifar10_resnet_test_accuracy"]
        device = results.get("cifar10_device", "?")
        bar(f"CIFAR-10: ResNet test accuracy after 25 epochs ({device})", cifar, cifar >= CIFAR10_BAR, f">= {CIFAR10_BAR}")
        precision = "bf16 mixed precision" if str(device).startswith("cuda") else "float32"
        record(NAME, f"CIFAR-10: 25 epochs training time ({device})", f"{results['cifar10_seconds'] / 60:.1f} min", precision)
    elif with_cifar:
        bars.fail("CIFAR-10 is in the cache but the lab did not report its accuracy")
    else:
        record(NAME, "CIFAR-10: ResNet test accuracy", "not measured", "CIFAR-10 not in the cache on this machine")

    lecture, lecture_seconds = run_notebook(LECTURE)
    record(NAME, "lecture 05 full-mode run time", f"{lecture_seconds / 60:.1f} min", "CVCOURSE_FAST=0")
    for key, value in sorted(lecture.items()):
        record(NAME, f"lecture: {key}", f"{value:.4f}" if isinstance(value, float) else str(value))

    return bars.finish("module 05")


if __name__ == "__main__":
    sys.exit(main())
