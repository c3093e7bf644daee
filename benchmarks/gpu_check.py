"""One prepared GPU check: every module's CUDA path, in full mode, in one go (``make gpu-check``).

On a machine with CUDA it runs, in a fixed order, the solution notebook of each module whose
training is what a GPU speeds up, in full mode on the GPU (bf16 autocast through the course's
``fit``), and for each one:

- asserts that CUDA was really used: the notebook's ``device`` is ``cuda``, PyTorch allocated
  GPU memory, and ``cvcourse_utils.autocast`` switched bf16 mixed precision on;
- checks the module's quality bars under mixed precision;
- records the wall time, the CPU time of the same notebook measured earlier (the newest
  "labNN full-mode run time" row of ``benchmarks/RESULTS.md``) and the speed-up.

Modules not built yet are skipped with a notice, so the check grows with the course.
``--budget SECONDS`` stops cleanly before a notebook would start past the budget (and records
what was done). Trained models are not taken from the cache: the check trains in a fresh
temporary cache (``--keep-cache`` reuses yours).

``--dry-run`` (what ``tests/test_gpu_check.py`` runs) takes the same code paths on the CPU in
fast mode, checks the probes but not the bars or CUDA, and records nothing.

    .venv/bin/python -m benchmarks.gpu_check                 # on a GPU machine: all of it
    .venv/bin/python -m benchmarks.gpu_check --only 04,07    # some modules
    .venv/bin/python -m benchmarks.gpu_check --dry-run       # anywhere, in fast mode
"""
from __future__ import annotations

import argparse
import json
import operator
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.notebook_results import ROOT, run_notebook
from benchmarks.results import RESULTS, record

NAME = "gpu_check"
OPS = {">=": operator.ge, "<=": operator.le}


@dataclass(frozen=True)
class Check:
    module: str                                   # "04"
    notebook: str                                 # the solution notebook, relative to the repo root
    bars: tuple[tuple[str, str, float], ...]      # (results key, ">=" or "<=", bar)


CHECKS = (
    Check("04", "solutions/lab04_convolutional_networks.ipynb",
          (("shapes_cnn_test_accuracy", ">=", 0.97), ("digits28_cnn_test_accuracy", ">=", 0.98))),
    Check("05", "solutions/lab05_cnn_architectures_and_transfer.ipynb",
          (("backbone_source_test_accuracy", ">=", 0.99), ("retrieval_recall_at_1_seen", ">=", 0.90))),
    Check("06", "solutions/lab06_attention_and_transformers.ipynb",
          (("digits28_vit_test_accuracy", ">=", 0.97), ("clip_zero_shot_held_out", ">=", 0.80))),
    Check("07", "solutions/lab07_semantic_segmentation.ipynb",
          (("unet_test_miou", ">=", 0.90), ("unet_test_dice_shapes", ">=", 0.90))),
    Check("08", "solutions/lab08_object_detection.ipynb",
          (("one_stage_map50", ">=", 0.90), ("faster_rcnn_map50", ">=", 0.85))),
    Check("10", "solutions/lab10_generative_adversarial_networks.ipynb",
          (("cgan_recognisable_rate", ">=", 0.90), ("dcgan_classes_covered", ">=", 10), ("dcgan_max_class_fraction", "<=", 0.20))),
    Check("11", "solutions/lab11_diffusion_models.ipynb",
          (("ddpm_recognisable_rate", ">=", 0.95), ("ddim_gap", "<=", 0.05))),
)

# Run after the notebook: what a GPU check must see (device, GPU memory, autocast).
PROBE = """
import torch as _torch
import cvcourse_utils.device as _device
results["_probe_device"] = str(device) if "device" in globals() else "unknown"
results["_probe_cuda_max_memory"] = float(_torch.cuda.max_memory_allocated()) if _torch.cuda.is_available() else 0.0
results["_probe_autocast_entries"] = float(_device.AUTOCAST_ENTRIES)
"""


def cpu_seconds(module: str, results_file: Path = RESULTS) -> float | None:
    """The newest CPU full-mode run time of lab ``module`` in the results file, in seconds."""
    if not results_file.exists():
        return None
    found = None
    for line in results_file.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and "no GPU" in cells[1] and cells[3] == f"lab{module} full-mode run time":
            match = re.fullmatch(r"([0-9.]+) (min|s)", cells[4])
            if match:
                found = float(match.group(1)) * (60 if match.group(2) == "min" else 1)
    return found


def check_probe(results: dict, dry_run: bool) -> list[str]:
    """Why the notebook did not really use CUDA with mixed precision (empty when it did)."""
    missing = [k for k in ("_probe_device", "_probe_cuda_max_memory", "_probe_autocast_entries") if k not in results]
    if missing:
        return [f"the probe did not run ({missing})"]
    if dry_run:
        return []
    problems = []
    if results["_probe_device"] != "cuda":
        problems.append(f"the notebook ran on {results['_probe_device']}, not cuda")
    if results["_probe_cuda_max_memory"] <= 0:
        problems.append("PyTorch allocated no GPU memory")
    if results["_probe_autocast_entries"] <= 0:
        problems.append("bf16 autocast was never switched on (training did not go through fit/autocast)")
    return problems


def run(checks: tuple[Check, ...], *, dry_run: bool, budget: float, record_results: bool,
        printer=print) -> dict:
    """Run the checks in order; returns {module: outcome} with outcome "ok", "failed: ...", "skipped: ..."."""
    outcomes: dict[str, str] = {}
    start = time.perf_counter()
    for check in checks:
        if not (ROOT / check.notebook).exists():
            outcomes[check.module] = "skipped: module not built yet"
            printer(f"module {check.module}: skipped ({check.notebook} does not exist yet)")
            continue
        elapsed = time.perf_counter() - start
        if elapsed >= budget:
            outcomes[check.module] = f"skipped: budget of {budget:g} s used up"
            printer(f"module {check.module}: stopped, the budget of {budget:g} s is used up ({elapsed:.0f} s)")
            continue
        printer(f"module {check.module}: running {check.notebook} ({'fast mode, CPU' if dry_run else 'full mode, GPU'})")
        try:
            results, seconds = run_notebook(check.notebook, fast=dry_run, timeout=max(60, int(budget - elapsed)), probe=PROBE)
        except Exception as err:  # noqa: BLE001 - a cell failed or timed out: report it and go on
            outcomes[check.module] = f"failed: {type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
            printer(f"module {check.module}: FAILED ({outcomes[check.module]})")
            continue
        problems = check_probe(results, dry_run)
        figures = []
        for key, op, bar in check.bars:
            if key not in results:
                problems.append(f"the notebook has no results[{key!r}]")
                continue
            value = float(results[key])
            ok = dry_run or OPS[op](value, bar)
            figures.append((key, value, f"{op} {bar:g}", ok))
            if not ok:
                problems.append(f"{key} = {value:.4f}, bar {op} {bar:g}")
        cpu = cpu_seconds(check.module)
        ratio = f"{cpu / seconds:.1f}x" if cpu else "no CPU time recorded"
        outcomes[check.module] = "ok" if not problems else "failed: " + "; ".join(problems)
        printer(f"module {check.module}: {seconds:.0f} s (CPU {cpu or float('nan'):.0f} s, {ratio}); "
                + ", ".join(f"{k} {v:.4f} ({bar}: {'pass' if ok else 'FAIL'})" for k, v, bar, ok in figures)
                + ("" if not problems else f"; PROBLEMS: {'; '.join(problems)}"))
        if record_results and not dry_run:
            memory = results["_probe_cuda_max_memory"] / 2**30
            record(NAME, f"lab{check.module} full-mode run time on the GPU (bf16)", f"{seconds / 60:.1f} min",
                   f"CPU {cpu / 60:.1f} min -> speed-up {ratio}" if cpu else ratio)
            for key, value, bar, ok in figures:
                record(NAME, f"lab{check.module}: {key} (GPU, bf16)", f"{value:.4f}", f"bar: {bar} -> {'pass' if ok else 'FAIL'}")
            record(NAME, f"lab{check.module}: peak GPU memory", f"{memory:.2f} GiB",
                   f"autocast entered {int(results['_probe_autocast_entries'])} times")
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="CPU, fast mode, no bars, nothing recorded")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds; no notebook starts after (default 480)")
    parser.add_argument("--only", default="", help="comma-separated module numbers, e.g. 04,07")
    parser.add_argument("--keep-cache", action="store_true", help="reuse the trained models in your cache")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args(argv)
    import torch

    if args.dry_run:
        os.environ["CVCOURSE_DEVICE"] = "cpu"
    elif not torch.cuda.is_available():
        print("error: no CUDA GPU here. Run this on a GPU machine, or `--dry-run` to exercise it on the CPU.",
              file=sys.stderr)
        return 2
    else:
        os.environ["CVCOURSE_DEVICE"] = "cuda"
        print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    wanted = {m.strip().zfill(2) for m in args.only.split(",") if m.strip()}
    checks = tuple(c for c in CHECKS if not wanted or c.module in wanted)
    with tempfile.TemporaryDirectory(prefix="cvcourse-gpu-check-") as cache:
        if not args.keep_cache:
            os.environ["CVCOURSE_DATA"] = cache  # train every model here, on this device
        outcomes = run(checks, dry_run=args.dry_run, budget=args.budget, record_results=not args.no_record)
    print(json.dumps(outcomes, indent=1))
    failed = [m for m, o in outcomes.items() if o.startswith("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
