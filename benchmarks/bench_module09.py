"""Module 09 quality bars, measured on the notebooks themselves in full mode.

Bars (figures from the ``results`` dict of ``solutions/lab09_visualizing_and_fooling_networks.ipynb``, on the
course backbone, a ResNet-14 trained on cluttered shapes):

- the lab's saliency, occlusion and Grad-CAM equal Captum's (``Saliency``, ``Occlusion``, ``LayerGradCam``)
  to 1e-6 (largest absolute difference on the backbone);
- FGSM at eps = 8/255 takes the backbone from >= 0.97 clean accuracy to <= 0.30;
- the targeted attack ("make every shape a star", eps = 8/255, 20 steps) succeeds on >= 0.90 of the images;
- adversarial training raises the accuracy under FGSM at 8/255 by >= 0.30 while clean accuracy stays >= 0.90;
- the full-mode run times of the lab and the lecture, on the machine's device (the notebooks run on the CPU).

The lecture runs in full mode too; its figures are recorded (no bars).

Run from the repository root:  .venv/bin/python -m benchmarks.bench_module09
"""
from __future__ import annotations

import sys

from benchmarks.notebook_results import run_notebook
from benchmarks.results import Bars, record

NAME = "bench_module09"
LAB = "solutions/lab09_visualizing_and_fooling_networks.ipynb"
LECTURE = "lectures/09_visualizing_and_fooling_networks.ipynb"

CAPTUM_TOLERANCE = 1e-6
CLEAN_BAR = 0.97
FGSM_BAR = 0.30
TARGETED_BAR = 0.90
ROBUST_GAIN = 0.30
ROBUST_CLEAN_BAR = 0.90


def main() -> int:
    bars = Bars(NAME, fmt=".4g")
    bar = bars.check

    results, seconds = run_notebook(LAB)
    record(NAME, "lab09 full-mode run time", f"{seconds / 60:.1f} min", "solutions notebook, CVCOURSE_FAST=0, CPU, 1 thread")
    for method in ("saliency", "occlusion", "grad_cam"):
        diff = results[f"{method}_max_abs_diff_vs_captum"]
        bar(f"{method}: largest |lab - Captum| on the course backbone", diff, diff <= CAPTUM_TOLERANCE, f"<= {CAPTUM_TOLERANCE:g}")
    clean, fgsm8 = results["clean_accuracy"], results["fgsm_8_accuracy_before"]
    bar("course backbone: clean test accuracy (cluttered shapes)", clean, clean >= CLEAN_BAR, f">= {CLEAN_BAR}")
    bar("course backbone: accuracy under FGSM, eps = 8/255", fgsm8, fgsm8 <= FGSM_BAR, f"<= {FGSM_BAR}",
        "curve " + ", ".join(f"{k}: {v:.3f}" for k, v in results["fgsm_accuracy_before"].items()))
    targeted = results["targeted_star_success_8"]
    bar("targeted attack (every shape a star), eps = 8/255, 20 steps: success", targeted, targeted >= TARGETED_BAR,
        f">= {TARGETED_BAR}", f"alpha = 2/255, {results['targeted_seconds']:.0f} s")
    after, clean_after = results["fgsm_8_accuracy_after"], results["clean_accuracy_after"]
    bar("adversarial training: gain in accuracy under FGSM at 8/255", after - fgsm8, after - fgsm8 >= ROBUST_GAIN,
        f">= {ROBUST_GAIN}", f"before {fgsm8:.3f}, after {after:.3f}; "
        "curve after " + ", ".join(f"{k}: {v:.3f}" for k, v in results["fgsm_accuracy_after"].items()))
    bar("adversarial training: clean accuracy after", clean_after, clean_after >= ROBUST_CLEAN_BAR, f">= {ROBUST_CLEAN_BAR}",
        f"training took {results['adversarial_training_seconds']:.0f} s")
    record(NAME, "lab: class visualisation, lowest confidence of the 5 classes", f"{results['class_visualisation_min_confidence']:.4f}")

    lecture, lecture_seconds = run_notebook(LECTURE)
    record(NAME, "lecture 09 full-mode run time", f"{lecture_seconds / 60:.1f} min", "CVCOURSE_FAST=0, CPU, 1 thread")
    for key, value in sorted(lecture.items()):
        record(NAME, f"lecture: {key}", f"{value:.4f}" if isinstance(value, float) else str(value))

    return bars.finish("module 09")


if __name__ == "__main__":
    sys.exit(main())
