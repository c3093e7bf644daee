"""Module 02 quality bars, measured on the solution lab run in full mode (what a student runs).

- built-in digits: k-NN >= 0.97, linear SVM >= 0.93 and softmax >= 0.93 test accuracy;
- the PyTorch softmax classifier within 2 points of the NumPy one (test accuracy);
- built-in shapes: the linear (softmax) test accuracy on the easy and on the cluttered shapes is
  recorded; the cluttered one must stay clearly below what a CNN reaches in module 04 (below 0.5 here);
- CIFAR-10, when it is in the data cache: softmax >= 0.36 and SVM >= 0.38 validation accuracy (the
  classic CS231n targets); otherwise that part is skipped with a notice and recorded as not measured.

Also recorded: the speed-ups of the vectorised code over the loops (k-NN distances, SVM and softmax losses).

    .venv/bin/python -m benchmarks.bench_module02
"""
from __future__ import annotations

import sys

from benchmarks.notebook_results import run_notebook
from benchmarks.results import record
from cvcourse_utils.datasets import is_downloaded

NOTEBOOK = "solutions/lab02_linear_classifiers.ipynb"
NAME = "bench_module02"
DIGITS_BARS = {"knn": 0.97, "svm": 0.93, "softmax": 0.93}
TORCH_GAP = 0.02
CLUTTERED_CEILING = 0.5
CIFAR_BARS = {"softmax": 0.36, "svm": 0.38}


def main() -> int:
    cifar_present = is_downloaded("cifar10")
    if not cifar_present:
        print("CIFAR-10 is not in the data cache: its bars are not measured "
              "(`cvcourse data download cifar10` fetches it).")
    results, seconds = run_notebook(NOTEBOOK)
    failures = []

    for model, bar in DIGITS_BARS.items():
        accuracy = results[f"{model}_test_accuracy"]
        ok = accuracy >= bar
        failures += [] if ok else [f"{model} digits test accuracy {accuracy:.3f} < {bar}"]
        detail = f"k = {results['knn_best_k']:.0f} by 5-fold cross-validation" if model == "knn" else \
            f"val {results[f'{model}_val_accuracy']:.3f}, lr and reg chosen on val"
        record(NAME, f"{model}, digits test accuracy", f"{accuracy:.3f}",
               f"bar >= {bar}: {'met' if ok else 'MISSED'}; {detail}; full-mode lab run {seconds:.0f} s")

    torch_acc, numpy_acc = results["torch_softmax_test_accuracy"], results["softmax_test_accuracy"]
    ok = abs(torch_acc - numpy_acc) <= TORCH_GAP
    failures += [] if ok else [f"PyTorch softmax {torch_acc:.3f} is more than {TORCH_GAP} from NumPy's {numpy_acc:.3f}"]
    record(NAME, "PyTorch softmax (nn.Linear + fit), digits test accuracy", f"{torch_acc:.3f}",
           f"NumPy softmax {numpy_acc:.3f}; bar: absolute difference <= {TORCH_GAP}: {'met' if ok else 'MISSED'}")

    easy, cluttered = results["shapes_easy_softmax_test_accuracy"], results["shapes_cluttered_softmax_test_accuracy"]
    ok = cluttered < CLUTTERED_CEILING
    failures += [] if ok else [f"linear accuracy on cluttered shapes {cluttered:.3f} is not clearly below a CNN's"]
    record(NAME, "softmax (linear), cluttered shapes test accuracy", f"{cluttered:.3f}",
           f"chance 0.2; expected clearly below a CNN (module 04), ceiling {CLUTTERED_CEILING}: "
           f"{'met' if ok else 'MISSED'}; easy shapes (class colours) {easy:.3f}")

    for model, bar in CIFAR_BARS.items():
        key = f"cifar10_{model}_val_accuracy"
        if key in results:
            accuracy = results[key]
            ok = accuracy >= bar
            failures += [] if ok else [f"CIFAR-10 {model} validation accuracy {accuracy:.3f} < {bar}"]
            record(NAME, f"{model}, CIFAR-10 validation accuracy", f"{accuracy:.3f}",
                   f"bar >= {bar}: {'met' if ok else 'MISSED'}")
        else:
            record(NAME, f"{model}, CIFAR-10 validation accuracy", "not measured",
                   "CIFAR-10 not in the data cache" if not cifar_present else "the notebook skipped it")

    speedups = ", ".join(f"{what} {results[key]:.0f}x" for what, key in (
        ("k-NN distances (no loops vs two)", "knn_distance_speedup"),
        ("SVM loss", "svm_speedup"), ("softmax loss", "softmax_speedup")))
    record(NAME, "vectorised over loops, speed-up", speedups, "best of 5 runs, NumPy on one thread")

    for failure in failures:
        print("FAILED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
