"""Module 03 quality bars, measured on the solution lab run in full mode (what a student runs).

- built-in digits: the two-layer NumPy network reaches >= 0.97 test accuracy;
- CIFAR-10, when it is in the data cache: >= 0.50 validation accuracy (the classic target of a
  two-layer network); otherwise that part is skipped with a notice and recorded as not measured.

Also recorded: the largest relative error of the lab's numerical gradient checks (must be < 1e-7)
and the validation accuracies of the 10-layer network under the three initialisations.

    .venv/bin/python -m benchmarks.bench_module03
"""
from __future__ import annotations

import sys

from benchmarks.notebook_results import run_notebook
from benchmarks.results import record
from cvcourse_utils.datasets import is_downloaded

NOTEBOOK = "solutions/lab03_backprop_and_neural_networks.ipynb"
NAME = "bench_module03"
DIGITS_BAR, CIFAR_BAR, GRADCHECK_BAR = 0.97, 0.50, 1e-7


def main() -> int:
    cifar_present = is_downloaded("cifar10")
    if not cifar_present:
        print("CIFAR-10 is not in the data cache: its bar is not measured "
              "(`cvcourse data download cifar10` fetches it).")
    results, seconds = run_notebook(NOTEBOOK)
    failures = []

    digits = results["digits_test_accuracy"]
    ok = digits >= DIGITS_BAR
    failures += [] if ok else [f"digits test accuracy {digits:.3f} < {DIGITS_BAR}"]
    record(NAME, "two-layer net, digits test accuracy", f"{digits:.3f}",
           f"bar >= {DIGITS_BAR}: {'met' if ok else 'MISSED'}; val {results['digits_val_accuracy']:.3f}; "
           f"full-mode lab run {seconds:.0f} s")

    if "cifar10_val_accuracy" in results:
        cifar = results["cifar10_val_accuracy"]
        ok = cifar >= CIFAR_BAR
        failures += [] if ok else [f"CIFAR-10 validation accuracy {cifar:.3f} < {CIFAR_BAR}"]
        record(NAME, "two-layer net, CIFAR-10 validation accuracy", f"{cifar:.3f}",
               f"bar >= {CIFAR_BAR}: {'met' if ok else 'MISSED'}")
    else:
        record(NAME, "two-layer net, CIFAR-10 validation accuracy", "not measured",
               "CIFAR-10 not in the data cache" if not cifar_present else "the notebook skipped it")

    worst = max(v for k, v in results.items() if k.startswith("gradcheck_"))
    ok = worst < GRADCHECK_BAR
    failures += [] if ok else [f"gradient check error {worst:.1e} >= {GRADCHECK_BAR}"]
    record(NAME, "largest relative error of the numerical gradient checks", f"{worst:.1e}",
           f"float64, bar < {GRADCHECK_BAR:g}: {'met' if ok else 'MISSED'}")

    inits = ", ".join(f"{s} {results[f'init_{s}_val_accuracy']:.3f}" for s in ("small", "xavier", "he"))
    record(NAME, "10-layer ReLU net on digits, validation accuracy per initialisation", inits,
           "plain SGD, same learning rate and epochs for all three")

    for failure in failures:
        print("FAILED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
