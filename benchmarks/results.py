"""Append one measured figure to benchmarks/RESULTS.md: date, machine, figure, value."""
from __future__ import annotations

import datetime as _dt
import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = "| date | machine | benchmark | figure | value | notes |\n|---|---|---|---|---|---|\n"


def machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}"


def record(benchmark: str, figure: str, value: str, notes: str = "") -> None:
    """Add a row to the results table (the file is created with its header if missing)."""
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nEach row is one run of a script in `benchmarks/`; newest last.\n\n" + HEADER)
    row = f"| {_dt.date.today().isoformat()} | {machine()} | {benchmark} | {figure} | {value} | {notes} |\n"
    with RESULTS.open("a", encoding="utf-8") as f:
        f.write(row)
    print(row.strip())


class Bars:
    """Figures measured against a quality bar: each is recorded as met or missed, and the misses collected.

        bars = Bars("bench_module04")
        bars.check("digits: CNN test accuracy", 0.991, 0.991 >= 0.98, ">= 0.98")
        return bars.finish("module 04")   # prints the misses; 1 if any, else 0
    """

    def __init__(self, benchmark: str, prefix: str = "", fmt: str = ".4f") -> None:
        self.benchmark, self.prefix, self.fmt = benchmark, prefix, fmt
        self.failures: list[str] = []

    def check(self, figure: str, value: float, ok: bool, requirement: str, note: str = "", fmt: str | None = None) -> None:
        """Record ``value`` with ``pass`` or ``FAIL (missed)`` against ``requirement``; remember a miss."""
        shown = f"{value:{fmt or self.fmt}}"
        record(self.benchmark, self.prefix + figure, shown,
               f"bar: {requirement} -> {'pass' if ok else 'FAIL (missed)'}" + (f"; {note}" if note else ""))
        if not ok:
            self.fail(f"{figure} = {shown} (needs {requirement})")

    def fail(self, message: str) -> None:
        """A miss that is not a figure (e.g. a result the notebook did not report)."""
        self.failures.append(self.prefix + message)

    def expect_files(self, paths) -> None:
        """A miss for each file the run should have written and did not; the others are printed."""
        for path in paths:
            if path.exists():
                print(f"written: {path}")
            else:
                self.fail(f"{path} was not written")

    def finish(self, what: str) -> int:
        """Print the misses (or that every bar of ``what`` passed); the script's exit code."""
        if self.failures:
            print("\nBars missed:\n  " + "\n  ".join(self.failures))
            return 1
        print(f"\nAll {what} bars pass.")
        return 0


def dataset_in_cache(name: str, title: str) -> bool:
    """True when dataset ``name`` is in the cache; otherwise say that its bars are not measured in this run."""
    from cvcourse_utils.datasets import is_downloaded

    if is_downloaded(name):
        return True
    print(f"{title} is not in the cache (run `cvcourse data download {name}` when online): "
          "its bar is NOT measured in this run.")
    return False


def on_cuda() -> bool:
    """Whether this run has a CUDA GPU (for the device a figure was measured on)."""
    import torch

    return torch.cuda.is_available()


def prepare_sample_run(benchmark: str, dataset: str, samples_out, dataset_env: str) -> bool:
    """Set up a generative benchmark (modules 10, 11): dataset and sample folder go to the notebook's environment.

    False (and "not measured" recorded) when ``dataset`` is MNIST and MNIST is not in the cache.
    """
    if dataset == "mnist" and not dataset_in_cache("mnist", "MNIST"):
        record(benchmark, "MNIST figures", "not measured", "MNIST not in the cache on this machine")
        return False
    os.environ[dataset_env] = dataset
    if samples_out is not None:
        samples_out.mkdir(parents=True, exist_ok=True)
        os.environ["CVCOURSE_SAMPLES_OUT"] = str(samples_out.resolve())
    return True
