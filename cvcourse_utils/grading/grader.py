"""Grading one submission: merge, run the child, check what it sent back, compare and score.

Only this (trusted) process sees expected values and hidden-case messages.
Scoring is per case: a task earns ``points × passed cases / all cases`` (public
and hidden together), rounded to 2 decimals; a submission whose child did not
finish normally (timeout, killed, error) earns 0.
"""
from __future__ import annotations

import itertools
import math
import re
import secrets
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cvcourse_utils.checking import VECTORISED_CASE, CheckFailed, loop_message
from cvcourse_utils.grading import sandbox as sandboxing
from cvcourse_utils.grading import wire
from cvcourse_utils.grading.child import OUTPUT_LIMIT
from cvcourse_utils.grading.lab import Lab, LabError
from cvcourse_utils.grading.submission import InvalidNotebook, Submission, merge, parse_notebook
from cvcourse_utils.loops import find_loops, function_defs
from cvcourse_utils.taught import TAUGHT_CASE, delegation_message, find_delegations
from cvcourse_utils.notebooks import make_lab

STATUSES = ("ok", "error", "timeout", "invalid", "killed")
TEXT_LIMIT = 300


@dataclass
class CaseResult:
    name: str
    hidden: bool
    passed: bool
    message: str = ""          # always empty for hidden cases


@dataclass
class TaskResult:
    name: str
    function: str
    points: float
    max_points: float
    cases: list[CaseResult]


@dataclass
class Grade:
    file: str
    status: str
    score: float
    max_score: float
    tasks: list[TaskResult]
    message: str = ""
    cell_errors: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sandbox: str = ""
    sandbox_kind: str = ""
    seconds: float = 0.0
    stdout_tail: str = ""
    stderr_tail: str = ""
    timing: dict = field(default_factory=dict)   # the child's own account: setup, cells, cases, cpu (seconds)


def _clip(text: Any) -> str:
    text = text if isinstance(text, str) else repr(text)
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 3] + "..."


def delegated_tasks(tasks, cells: list[dict], ran: set[str] | None = None) -> dict[str, str]:
    """``{task name: message}`` for each task whose answer uses ready-made code (``cvcourse_utils.taught``),
    read in the grader's process from every merged cell (``{"source": ...}``), in the order they run.

    ran: the tasks whose function returned a value in some case; a function the cells never define (a cell
    that does not parse, say) counts against a task only if it ran all the same (made by ``exec``, say).
    """
    sources = [cell["source"] for cell in cells]
    messages = {}
    for t in tasks:
        found = find_delegations(sources, t.function, t.forbidden) if t.forbidden is not None else []
        if ran is not None and t.name not in ran:
            found = [f for f in found if f.entry != "unreadable:missing"]
        if found:
            messages[t.name] = delegation_message(t.function, t.by_hand, found)
    return messages


CELL_FILE = re.compile(r"<cell (\d+)>")  # the file name the child compiles a notebook cell under


def cell_names(reference: dict, tasks: set[str]) -> dict[int, str]:
    """{index in the notebook: how a student finds that code cell}: "the cell of task `box_iou`" for a task's
    cell, else "cell [8]", its number once Kernel > Restart and Run All has run every code cell from the top."""
    names, number = {}, 0
    for index, cell in enumerate(reference["cells"]):
        if cell.get("cell_type") != "code":
            continue
        number += 1
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        names[index] = f"the cell of task `{gid}`" if gid in tasks else f"cell [{number}]"
    return names


class Grader:
    """Grades submissions of one lab; expected values are computed once, here."""

    def __init__(self, lab: Lab, box: sandboxing.Sandbox, timeout: float, workroot: Path, font_cache: dict | None = None):
        self.lab, self.box, self.timeout, self.workroot = lab, box, timeout, workroot
        self.stub = make_lab(lab.reference, lab.notebook)
        self._uids = itertools.count(secrets.randbelow(sandboxing.PRIVATE_UIDS // 2))  # one private uid per notebook
        self.student_cells = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in lab.reference["cells"]
                              if c.get("cell_type") == "code" and c.get("metadata", {}).get("nbgrader", {}).get("solution")}
        self.font_cache = font_cache
        self.cell_names = cell_names(lab.reference, {t.name for t in lab.tasks})
        self.cases = []   # (task, case, hidden, args, expected)
        writer = wire.Writer(modules=(lab.tasks_module["name"],))
        self.case_payload = []
        for task in lab.tasks:
            for case, hidden in [(c, False) for c in task.cases] + [(c, True) for c in lab.hidden[task.name]]:
                where = f"task {task.name!r}, {'hidden ' if hidden else ''}case {case.name!r}"
                try:
                    args = case.args()
                    payload = writer.encode(tuple(args))
                    expected = task.expected(args)
                except TypeError as err:
                    raise LabError(f"{where}: its arguments cannot be sent to the child ({err})") from None
                except Exception as err:
                    raise LabError(f"{where}: the case or the task's reference fails ({type(err).__name__}: {err})") from err
                self.cases.append((task, case, hidden, args, expected))
                self.case_payload.append({"task": task.name, "args": payload})
        self.arrays = writer.arrays

    def job(self, cells: list[dict], nonce: str) -> bytes:
        writer = wire.Writer()
        writer.arrays = dict(self.arrays)
        header = {
            "version": 1, "nonce": nonce, "lab": self.lab.name, "tasks_module": self.lab.tasks_module,
            "limits": {"cpu": math.ceil(self.timeout) + 1, "memory": sandboxing.MEMORY_LIMIT, "fsize": sandboxing.FILE_SIZE_LIMIT,
                       "nproc": self.box.nproc, "nofile": sandboxing.OPEN_FILES, "core": 0},
            "cells": cells, "cases": self.case_payload, "mpl_fontlist": self.font_cache,
        }
        return writer.dumps(header)

    def _empty_tasks(self, note: str) -> list[TaskResult]:
        return [TaskResult(t.name, t.function, 0.0, self.lab.points[t.name],
                           [CaseResult(c.name, h, False, "" if h else note) for tt, c, h, _, _ in self.cases if tt is t])
                for t in self.lab.tasks]

    def _grade(self, sub: Submission, status: str, message: str, **extra) -> Grade:
        return Grade(sub.name, status, 0.0, self.lab.max_score, self._empty_tasks("not run: " + status), message,
                     sandbox=self.box.description, sandbox_kind=self.box.kind, **extra)

    def grade(self, sub: Submission) -> Grade:
        """Grade one submission; whatever happens, it gets a :class:`Grade` (a row in the gradebook)."""
        try:
            return self._grade_one(sub)
        except Exception as err:  # noqa: BLE001 - e.g. the disk filled up; the rest of the batch goes on
            return self._grade(sub, "error", f"the grader failed on this submission ({type(err).__name__}: {err})")

    def _grade_one(self, sub: Submission) -> Grade:
        if sub.data is None:
            return self._grade(sub, "invalid", sub.problem or "cannot read the file")
        try:
            merged = merge(self.lab.reference, self.stub, parse_notebook(sub.data))
        except InvalidNotebook as err:
            return self._grade(sub, "invalid", str(err))
        nonce = secrets.token_hex(16)
        uid = sandboxing.private_uid(next(self._uids))
        out = sandboxing.run(self.box, self.job(merged.cells, nonce), self.timeout, self.workroot, uid=uid)
        extra = {"notes": merged.notes, "seconds": round(out.seconds, 2), "stdout_tail": out.stdout_tail, "stderr_tail": out.stderr_tail}
        if out.stdout_bytes >= OUTPUT_LIMIT:
            extra["notes"] = extra["notes"] + [f"The notebook printed more than {OUTPUT_LIMIT >> 20} MB; the rest of its output was dropped."]
        if out.timed_out:
            return self._grade(sub, "timeout", f"did not finish within {self.timeout:g} s (an endless loop, or far too slow); "
                               "all its processes were stopped", **extra)
        if out.signal:
            try:
                name = signal.Signals(out.signal).name
            except ValueError:
                name = f"signal {out.signal}"
            hint = {"SIGKILL": " (by itself, or for using too much memory)", "SIGXCPU": " (CPU time limit)"}.get(name, "")
            return self._grade(sub, "killed", f"the grading process was killed by {name}{hint} before it finished", **extra)
        if out.returncode != 0:
            return self._grade(sub, "error", f"the grading process exited with status {out.returncode} before it finished "
                               "(does the notebook call os._exit() or end the process some other way?)", **extra)
        if out.result is None:
            why = "its results were larger than allowed" if out.result_too_large else \
                "it ended before writing its results (does the notebook call os._exit()?)"
            return self._grade(sub, "error", f"the grading process exited normally but {why}", **extra)
        try:
            cell_errors, results, timing = self._read_result(out.result, nonce)
        except wire.WireError as err:
            return self._grade(sub, "error", f"the results sent back were not valid: {err}", **extra)
        cell_errors = [{**e, "cell": self.cell_names.get(e["index"], f"cell {e['index']}"),
                        "error": self._named(e["error"])} for e in cell_errors]
        results = [(kind, self._named(value) if kind == "error" else value) for kind, value in results]
        tasks = self._score(results, merged.cells)
        score = round(sum(t.points for t in tasks), 2)
        return Grade(sub.name, "ok", score, self.lab.max_score, tasks, "", cell_errors, sandbox=self.box.description,
                     sandbox_kind=self.box.kind, timing=timing, **extra)

    def _named(self, text: str) -> str:
        """``line 9 of <cell 6>`` -> ``line 9 of the cell of task `box_iou``` (or ``of cell [8]``): names a student sees."""
        return CELL_FILE.sub(lambda m: self.cell_names.get(int(m.group(1)), m.group(0)), text)

    def _read_result(self, blob: bytes, nonce: str) -> tuple[list[dict], list[tuple[str, Any]], dict]:
        """Check the child's result strictly: ``(cell errors, [(kind, value-or-message)] per case, timing)``."""
        header, arrays = wire.loads(blob)
        if not isinstance(header, dict) or header.get("complete") is not True or header.get("nonce") != nonce:
            raise wire.WireError("incomplete results")
        cells, cases = header.get("cells"), header.get("cases")
        if not isinstance(cells, list) or not isinstance(cases, list) or len(cases) != len(self.cases) or len(cells) > 10_000:
            raise wire.WireError("results do not match the job")
        cell_errors = []
        for c in cells:
            if not isinstance(c, dict) or not isinstance(c.get("index"), int) or not isinstance(c.get("error"), str):
                raise wire.WireError("malformed cell error")
            cell_errors.append({"index": c["index"], "label": _clip(c.get("label", "")), "error": _clip(c["error"])})
        results = []
        for r in cases:
            if not isinstance(r, dict) or len(r) != 1:
                raise wire.WireError("malformed case result")
            (kind, body), = r.items()
            if kind == "value":
                results.append(("value", wire.decode(body, arrays)))
            elif kind == "not_done" and body is True:
                results.append(("not_done", "not implemented yet"))
            elif kind == "error" and isinstance(body, str):
                results.append(("error", _clip(body)))
            else:
                raise wire.WireError("malformed case result")
        seconds = header.get("seconds")
        timing = {k: float(v) for k, v in seconds.items() if k in ("setup", "cells", "cases", "cpu") and type(v) in (int, float)} \
            if isinstance(seconds, dict) else {}
        return cell_errors, results, timing

    def _loops(self, cells: list[dict]) -> dict[str, list[str]]:
        """The loops in each vectorised task, read here from the student's cells (never from the child)."""
        vectorised = [t for t in self.lab.tasks if t.vectorised]
        if not vectorised:
            return {}
        defs: dict = {}
        for cell in cells:  # in notebook order: a later definition replaces an earlier one, as when run
            if cell["label"] in self.student_cells:
                defs.update(function_defs(cell["source"]))
        return {t.name: find_loops(defs, t.function, t.loops_allowed_in) if t.function in defs
                else [f"no definition of {t.function!r} in the task cells"] for t in vectorised}

    def _score(self, results: list[tuple[str, Any]], cells: list[dict] = ()) -> list[TaskResult]:
        loops = self._loops(list(cells))
        ran = {task.name for (task, *_), (kind, _) in zip(self.cases, results) if kind == "value"}
        delegated = delegated_tasks(self.lab.tasks, list(cells), ran)
        by_task: dict[str, list[CaseResult]] = {t.name: [] for t in self.lab.tasks}
        for (task, case, hidden, args, expected), (kind, value) in zip(self.cases, results):
            if kind != "value":
                passed, message = False, value
            else:
                try:
                    task.compare(value, expected, args)
                    passed, message = True, ""
                except CheckFailed as err:
                    passed, message = False, str(err)
                except Exception as err:  # noqa: BLE001 - odd plain data the comparison did not expect
                    passed, message = False, f"the result could not be compared ({type(err).__name__})"
            by_task[task.name].append(CaseResult(case.name, hidden, passed, "" if hidden else message))
        tasks = []
        for t in self.lab.tasks:
            cases = by_task[t.name]
            points = self.lab.points[t.name]
            earned = round(points * sum(c.passed for c in cases) / len(cases), 2) if cases else 0.0
            if loops.get(t.name):
                cases.append(CaseResult(VECTORISED_CASE, False, False, loop_message(t, loops[t.name])))
                earned = 0.0
            if t.name in delegated:
                cases.append(CaseResult(TAUGHT_CASE, False, False, delegated[t.name]))
                earned = 0.0
            tasks.append(TaskResult(t.name, t.function, earned, points, cases))
        return tasks
