"""Module 10 quality bars, measured on the lab notebook itself in full mode.

Bars (figures from the ``results`` dict of ``solutions/lab10_generative_adversarial_networks.ipynb``,
scored by the course judge of ``cvcourse_utils.judge``, trained on the training split only):

- conditional GAN: recognisable rate >= 0.90 over 1,000 samples (100 per class), with its class coverage (how many
  classes the judge predicts, and the largest class's fraction) recorded beside it;
- DCGAN (unconditional): every class covered and none above 20% of the samples; its recognisable
  rate (the judge gives some class >= 0.9) is recorded;
- the Fréchet distance in the judge's feature space of each model, beside the real-train-versus-
  real-test baseline, the judge's own test accuracy, and each model's training time on this machine
  (the lab trains in float32; the device is recorded).

Options: ``--dataset digits|mnist`` (MNIST only when it is in the cache: ``cvcourse data download
mnist``); ``--samples-out DIR`` writes each model's samples to ``DIR/cgan.npz`` and ``DIR/dcgan.npz``
(``images`` float32 (N, 1, 28, 28) in [0, 1], ``labels`` int64 (N,), the class asked for or -1), so
that anyone can score them with their own classifier (``cvcourse_utils.judge.load_samples`` reads them).

Run from the repository root:  .venv/bin/python -m benchmarks.bench_module10 [--dataset mnist] [--samples-out DIR]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from benchmarks.notebook_results import run_notebook
from benchmarks.results import Bars, on_cuda, prepare_sample_run, record

NAME = "bench_module10"
LAB = "solutions/lab10_generative_adversarial_networks.ipynb"

CGAN_RECOGNISABLE_BAR = 0.90
DCGAN_MAX_CLASS_FRACTION = 0.20
TIME_TARGET_MIN = 10.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("digits", "mnist"), default="digits")
    parser.add_argument("--samples-out", type=Path, default=None, help="folder for cgan.npz and dcgan.npz")
    args = parser.parse_args(argv)

    if not prepare_sample_run(NAME, args.dataset, args.samples_out, "CVCOURSE_GAN_DATASET"):
        return 0

    data = args.dataset
    bars = Bars(NAME, prefix=f"{data}: ")
    bar = bars.check

    results, seconds = run_notebook(LAB)
    record(NAME, f"{data}: lab10 full-mode run time", f"{seconds / 60:.1f} min", "solutions notebook, CVCOURSE_FAST=0")
    record(NAME, f"{data}: judge test accuracy", f"{results['judge_test_accuracy']:.4f}", "trained on the training split only")

    rate = results["cgan_recognisable_rate"]
    bar("conditional GAN recognisable rate (1,000 samples, 100 per class)", rate, rate >= CGAN_RECOGNISABLE_BAR,
        f">= {CGAN_RECOGNISABLE_BAR}")
    record(NAME, f"{data}: conditional GAN class coverage (classes the judge predicts)", str(results["cgan_classes_covered"]),
           f"no bar; largest class fraction {results['cgan_max_class_fraction']:.3f} (0.1 when balanced)")
    covered = results["dcgan_classes_covered"]
    bar("DCGAN classes covered", covered, covered == 10, "== 10")
    top = results["dcgan_max_class_fraction"]
    bar("DCGAN largest class fraction", top, top <= DCGAN_MAX_CLASS_FRACTION, f"<= {DCGAN_MAX_CLASS_FRACTION}")
    record(NAME, f"{data}: DCGAN recognisable rate (some class >= 0.9)", f"{results['dcgan_recognisable_rate']:.4f}", "no bar")
    baseline = results["real_train_vs_test_fid"]
    for model in ("cgan", "dcgan"):
        record(NAME, f"{data}: {model} FID in the judge's feature space", f"{results[f'{model}_fid']:.2f}",
               f"real train vs real test: {baseline:.2f}; 1,000 samples vs the test split")
    device = "cuda" if on_cuda() else "cpu"
    for model in ("dcgan", "cgan"):
        minutes = results[f"{model}_seconds"] / 60
        record(NAME, f"{data}: {model} training time ({device}, 2,000 steps of 64)", f"{minutes:.1f} min",
               f"target <= {TIME_TARGET_MIN:g} min on 2 cores; float32; load average {os.getloadavg()[0]:.1f} at the end")
    if args.samples_out is not None:
        bars.expect_files(args.samples_out / f"{name}.npz" for name in ("cgan", "dcgan"))

    return bars.finish("module 10")


if __name__ == "__main__":
    sys.exit(main())
