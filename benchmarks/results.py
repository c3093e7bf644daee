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
