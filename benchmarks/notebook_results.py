"""Run a notebook in full mode and read back the figures it collected.

Quality bars are measured on exactly what a student runs: the benchmark executes the
solution (or lecture) notebook with fast mode off, then reads the dict named ``results``
that the notebook fills in (``results["knn_test_accuracy"] = 0.98``).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
MARK = "CVCOURSE-RESULTS:"


def run_notebook(path: str | Path, fast: bool = False, timeout: int = 3600, probe: str = "") -> tuple[dict, float]:
    """Execute ``path`` (relative to the repo root) and return ``(results, seconds)``.

    probe: code run after the notebook's last cell, before ``results`` is read (it may add to it).
    timeout: seconds per cell.
    """
    path = ROOT / path
    nb = nbformat.read(path, as_version=4)
    if probe:
        nb.cells.append(nbformat.v4.new_code_cell(probe))
    nb.cells.append(nbformat.v4.new_code_cell(
        "import json as _json\n"
        f"print({MARK!r} + _json.dumps({{k: (float(v) if hasattr(v, '__float__') else v) for k, v in results.items()}}))"
    ))
    os.environ["CVCOURSE_FAST"] = "1" if fast else "0"
    os.environ.setdefault("MPLBACKEND", "Agg")
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    for output in nb.cells[-1].outputs:
        for line in output.get("text", "").splitlines():
            if line.startswith(MARK):
                return json.loads(line[len(MARK):]), seconds
    raise RuntimeError(f"{path.name} did not print its results dict")
