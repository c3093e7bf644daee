"""Every lab's grader self-test: the solution earns full marks and the generated lab 0.

In a file of its own (from test_grading.py) so that `make test`'s two workers, which take whole files
(`--dist loadfile`), can run these minutes of grading beside the rest of test_grading.py.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from cvcourse_utils import cli
from cvcourse_utils.grading.lab import available_labs, load_lab

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("lab", available_labs(ROOT))
def test_self_test_gives_the_solution_full_marks_and_the_generated_lab_zero(lab, capsys):
    spec = load_lab(lab, ROOT)
    assert cli.main(["grade", lab, "--self-test", "--root", str(ROOT)]) == 0
    out = capsys.readouterr().out
    full = f"{spec.max_score:g}"
    assert f"Self-test {lab}: solution {full}/{full} (ok), generated lab 0/{full} (ok): OK" in out, out[-3000:]
    assert "WARNING" not in out
