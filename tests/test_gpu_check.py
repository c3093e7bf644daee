"""The prepared GPU check cannot rot between GPUs: its dry run takes the same paths on the CPU."""
from pathlib import Path

import pytest

from benchmarks import gpu_check


def test_cpu_times_come_from_the_newest_cpu_row(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text(
        "| date | machine | benchmark | figure | value | notes |\n|---|---|---|---|---|---|\n"
        "| 2026-11-01 | x86_64, 2 cores, no GPU, torch 2 | bench_module04 | lab04 full-mode run time | 3.7 min | |\n"
        "| 2026-11-02 | x86_64, 16 cores, NVIDIA H200, torch 2 | gpu_check | lab04 full-mode run time | 0.4 min | |\n"
        "| 2026-11-03 | x86_64, 2 cores, no GPU, torch 2 | bench_module04 | lab04 full-mode run time | 4.0 min | |\n")
    assert gpu_check.cpu_seconds("04", results) == 240.0
    assert gpu_check.cpu_seconds("07", results) is None


def test_the_probe_must_see_cuda_memory_and_autocast():
    used = {"_probe_device": "cuda", "_probe_cuda_max_memory": 1e9, "_probe_autocast_entries": 12.0}
    assert gpu_check.check_probe(used, dry_run=False) == []
    cpu = {"_probe_device": "cpu", "_probe_cuda_max_memory": 0.0, "_probe_autocast_entries": 0.0}
    problems = gpu_check.check_probe(cpu, dry_run=False)
    assert len(problems) == 3 and "not cuda" in problems[0]
    assert gpu_check.check_probe(cpu, dry_run=True) == []
    assert gpu_check.check_probe({}, dry_run=True) != []


def test_without_a_gpu_the_real_check_refuses_clearly(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here")
    assert gpu_check.main(["--no-record"]) == 2
    assert "no CUDA GPU here" in capsys.readouterr().err


@pytest.mark.slow
def test_dry_run_runs_a_module_then_stops_at_the_budget(monkeypatch):
    monkeypatch.setenv("CVCOURSE_DEVICE", "cpu")
    checks = tuple(c for c in gpu_check.CHECKS if c.module in ("04", "06"))
    missing = gpu_check.Check("98", "solutions/lab98_not_there.ipynb", ())
    lines = []
    outcomes = gpu_check.run((missing, *checks), dry_run=True, budget=1.0, record_results=False, printer=lines.append)
    assert outcomes["98"] == "skipped: module not built yet"
    assert outcomes["04"] == "ok", lines
    assert outcomes["06"].startswith("skipped: budget"), outcomes
    assert any("stopped, the budget of 1 s is used up" in line for line in lines)
