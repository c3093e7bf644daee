"""Shared by the ``test_taught_labNN.py`` files: a shortcut answer (one that calls ready-made code instead of
writing what the task teaches) earns 0, in the student's ``check`` and in the grader.

Each lab's test gives ``{task name: source of a task cell}``; the source defines the task's function by
delegating to something the task forbids. Nothing here runs the lab: ``check`` reads the answer before it
runs a case, and the grader reads the merged cells in its own process (``grader.delegated_tasks``, what
``Grader._score`` calls), so these tests take seconds.
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from cvcourse_utils import checking
from cvcourse_utils.checking import CheckFailed, check
from cvcourse_utils.grading.grader import delegated_tasks
from cvcourse_utils.grading.lab import load_lab
from cvcourse_utils.grading.submission import merge
from cvcourse_utils.notebooks import cell_source, make_lab
from cvcourse_utils.taught import TAUGHT_CASE

ROOT = Path(__file__).resolve().parents[1]


def task_cell_ids(nb: dict) -> dict[str, str]:
    """``{function name: grade_id}`` of the task cells (the cell whose check names the function follows it)."""
    cells, found = nb["cells"], {}
    for i, cell in enumerate(cells[1:], 1):
        text = cell_source(cell).strip()
        if cell["cell_type"] == "code" and text.startswith("check(") and cells[i - 1]["metadata"].get("nbgrader", {}).get("solution"):
            function = text.rstrip(")").split(",")[-1].strip()
            found[function] = cells[i - 1]["metadata"]["nbgrader"]["grade_id"]
    return found


def given_sources(nb: dict) -> list[str]:
    """The code cells the lab gives (everything but task and check cells), in order."""
    return [cell_source(c) for c in nb["cells"] if c["cell_type"] == "code"
            and not c["metadata"].get("nbgrader", {}).get("solution") and not cell_source(c).strip().startswith("check(")]


def check_refuses(task_name: str, cells: list[str]) -> str:
    """Run ``cells`` as a notebook would (IPython's ``In`` holds them) and ``check`` the last one's function;
    return what ``check`` printed. Only the shortcut cell is executed: it must import what it uses."""
    task = checking.get_task(task_name)
    namespace = {"__name__": "__main__", "In": ["", *cells], "check": check}
    exec(compile(cells[-1], "<shortcut>", "exec"), namespace)
    with pytest.raises(CheckFailed, match="ready-made code"):  # called from the notebook, as a check cell does
        exec(compile(f"check({task_name!r}, {task.function})", "<check>", "exec"), namespace)
    return task.function


def assert_shortcuts_earn_zero(lab: str, shortcuts: dict[str, str], capsys=None) -> None:
    """Every task of ``lab`` with a forbidden list has a shortcut here, and each earns 0 in ``check`` and the grader,
    while the solution's own answers are flagged by neither."""
    spec = load_lab(lab, ROOT)
    declared = [t.name for t in spec.tasks if t.forbidden]
    missing = sorted(set(declared) - set(shortcuts))
    assert not missing, f"{lab}: no shortcut answer tested for {missing}"
    ids = task_cell_ids(spec.reference)
    given = given_sources(spec.reference)
    tasks = {t.name: t for t in spec.tasks}
    submission = copy.deepcopy(spec.reference)
    for name, source in shortcuts.items():
        task = tasks[name]
        check_refuses(name, [*given, source])
        if capsys is not None:
            out = capsys.readouterr().out
            assert TAUGHT_CASE in out and f"`{task.function}` asks you to" in out, out
        cell = next(c for c in submission["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == ids[task.function])
        cell["source"] = source
    merged = merge(spec.reference, make_lab(spec.reference, spec.notebook), submission)
    flagged = delegated_tasks(spec.tasks, merged.cells)
    assert sorted(flagged) == sorted(shortcuts), f"{lab}: the grader flags {sorted(flagged)}, shortcuts {sorted(shortcuts)}"
    clean = merge(spec.reference, make_lab(spec.reference, spec.notebook), spec.reference)
    assert delegated_tasks(spec.tasks, clean.cells) == {}, f"{lab}: the solution itself is flagged"
