"""What the grader writes: ``grades.csv``, ``feedback/<name>.md`` and ``.json``, ``logs/<name>.txt``, ``batch.json``.

Feedback is for students: per task the points and each case's result. Public
cases come with the check's message; hidden cases only with their name and
whether they passed (a message could reveal the expected values). The logs
(the tail of what each notebook printed) are for the instructor.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from pathlib import Path

from cvcourse_utils.grading.grader import Grade
from cvcourse_utils.grading.lab import Lab
from cvcourse_utils.lint import protect_at_names  # mAP@0.5 in a case's name is not a mailto: link

COLUMNS = ("student", "file", "score", "max_score", "status")  # student: the file stem, the name feedback/ uses


def number(x: float) -> str:
    """``7.5``, ``10``, ``0.33``: the CSV and reports show points without trailing zeros."""
    return f"{round(float(x), 2):g}"


def atomic_write(path: Path, text: str) -> None:
    """Write a whole file or nothing (a temporary file in the same folder, then a rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare_out(out: Path) -> None:
    """Create the output folders and prove they are writable (raises OSError with the reason)."""
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("feedback", "logs", "rows"):
        (out / sub).mkdir(exist_ok=True)
    fd, probe = tempfile.mkstemp(dir=out, prefix=".write-test-")
    os.close(fd)
    os.unlink(probe)


def csv_cell(text: str) -> str:
    """A file name as a CSV cell that spreadsheets show as text, never run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_text(lab: Lab, grades: list[Grade], stems: list[str] | None = None) -> str:
    """grades.csv: a row per graded submission (None: not graded yet), named by ``stems`` (default: the file stems)."""
    from cvcourse_utils.grading.submission import feedback_names

    stems = stems if stems is not None else feedback_names([Path(g.file) for g in grades if g is not None])
    graded = [g for g in grades if g is not None] if len(stems) < len(grades) else grades
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*COLUMNS, *(t.name for t in lab.tasks)])
    for g, stem in zip(graded, stems):
        if g is None:  # not graded yet (a batch in progress)
            continue
        points = {t.name: t.points for t in g.tasks}
        writer.writerow([csv_cell(stem), csv_cell(g.file), number(g.score), number(g.max_score), g.status,
                         *(number(points.get(t.name, 0)) for t in lab.tasks)])
    return buffer.getvalue()


ROWS = "rows"  # out/rows/<name>.json: each graded submission, saved the moment it is graded


def fingerprint(lab: Lab, data: bytes | None, timeout: float) -> str:
    """What decides a submission's grade: the lab (reference, tasks, points, hidden cases), the file and the timeout."""
    import hashlib

    digest = hashlib.sha256()
    for part in (lab.name, json.dumps(lab.reference, sort_keys=True), lab.tasks_module["source"],
                 json.dumps(lab.points, sort_keys=True), repr(sorted((k, [c.name for c in v]) for k, v in lab.hidden.items())),
                 repr(timeout)):
        digest.update(part.encode("utf-8", "backslashreplace") + b"\0")
    digest.update(data if data is not None else b"<unreadable>")
    return digest.hexdigest()


def save_row(out: Path, stem: str, g: Grade, key: str) -> None:
    """Keep one graded submission on disk at once (atomically), so that an interrupted batch loses nothing."""
    from dataclasses import asdict

    (out / ROWS).mkdir(exist_ok=True)
    atomic_write(out / ROWS / f"{stem}.json", json.dumps({"fingerprint": key, "grade": asdict(g)}, ensure_ascii=False) + "\n")


def load_row(out: Path, stem: str, key: str) -> Grade | None:
    """The saved grade of a submission, if it was graded before with the same lab, file and timeout."""
    from cvcourse_utils.grading.grader import CaseResult, TaskResult

    try:
        saved = json.loads((out / ROWS / f"{stem}.json").read_text(encoding="utf-8"))
        if saved.get("fingerprint") != key:
            return None
        g = dict(saved["grade"])
        g["tasks"] = [TaskResult(**{**t, "cases": [CaseResult(**c) for c in t["cases"]]}) for t in g["tasks"]]
        return Grade(**g)
    except (OSError, ValueError, KeyError, TypeError):
        return None


BATCH = "batch.json"  # out/batch.json: the batch's settings and times, where each notebook was read, the stub's cells


def batch_record(lab: Lab, stub: dict, files: list[Path], stems: list[str], **settings) -> dict:
    """What ``batch.json`` says before grading starts (``finished`` and ``wall_seconds`` stay ``None`` until it ends).

    ``submissions`` maps each feedback name to the notebook's absolute path, so that ``cvcourse report``
    can read the students' cells later; ``stub_cells`` are the generated lab's task and written-answer
    cells (what every student starts from, public material), so that the report can leave them out.
    """
    from datetime import datetime, timezone

    from cvcourse_utils.notebooks import cell_source

    stub_cells = {}
    for cell in stub["cells"]:
        info = cell.get("metadata", {}).get("nbgrader", {})
        if info.get("solution") and isinstance(info.get("grade_id"), str):
            stub_cells[info["grade_id"]] = cell_source(cell)
    return {"lab": lab.name, **settings, "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "finished": None, "wall_seconds": None,
            "submissions": {stem: str(Path(f).absolute()) for stem, f in zip(stems, files)},
            "tasks": [t.name for t in lab.tasks], "written": [{"grade_id": g, "points": p} for g, p in lab.written],
            "stub_cells": stub_cells}


def finish_batch(record: dict, wall_seconds: float, **counts) -> dict:
    """The record once the batch has ended: when, how long (wall-clock seconds) and how many were graded."""
    from datetime import datetime, timezone

    return {**record, **counts, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_seconds": round(wall_seconds, 2)}


def write_batch(out: Path, record: dict) -> None:
    # ASCII JSON: a file name that is not valid UTF-8 survives as an escaped surrogate and reads back the same
    atomic_write(out / BATCH, json.dumps(record, indent=1, ensure_ascii=True) + "\n")


def write_csv(out: Path, lab: Lab, grades: list[Grade], stems: list[str] | None = None) -> Path:
    path = out / "grades.csv"
    atomic_write(path, csv_text(lab, grades, stems))
    return path


ABSOLUTE_PATH = re.compile(r"(?<![\w.~/:])(?:[A-Za-z]:)?[/\\](?:[^/\\\s'\"`<>|:]+[/\\])+")  # its folders


def relative(text: str) -> str:
    """``text`` with every absolute path cut to its file name: ``/home/me/subs/alice.ipynb`` -> ``alice.ipynb``.

    What a student reads never shows the instructor's (or the grader's temporary) folders.
    """
    return ABSOLUTE_PATH.sub("", text)


def cell_name(error: dict) -> str:
    """How feedback names a cell: the task's cell, else its number as Restart and Run All shows it (``cell [8]``)."""
    return error.get("cell") or f"cell {error['index']}"


def feedback_json(lab: Lab, g: Grade) -> dict:
    return {
        "file": Path(g.file).name, "lab": lab.name, "status": g.status, "score": g.score, "max_score": g.max_score,
        "message": relative(g.message), "sandbox": {"kind": g.sandbox_kind, "description": g.sandbox},
        "tasks": [{"name": t.name, "function": t.function, "points": t.points, "max_points": t.max_points,
                   "cases": [{"name": c.name, "hidden": True, "passed": c.passed} if c.hidden else
                             {"name": c.name, "hidden": False, "passed": c.passed, "message": relative(c.message)}
                             for c in t.cases]}
                  for t in g.tasks],
        "cell_errors": [{**e, "error": relative(e["error"])} for e in g.cell_errors],
        "notes": [relative(n) for n in g.notes], "seconds": g.seconds,
        "written_answers": [{"grade_id": gid, "points": points, "graded": "by hand"} for gid, points in lab.written],
    }


def _md(text: str) -> str:
    return relative(text).replace("\r", " ").replace("`", "'")


def feedback_markdown(lab: Lab, g: Grade) -> str:
    lines = [f"# Feedback: {lab.name}, {_md(Path(g.file).name)}", "",
             f"**Score: {number(g.score)} / {number(g.max_score)}** (status: {g.status})", ""]
    if g.message:
        lines += [f"> {protect_at_names(_md(g.message))}", ""]
    if g.status != "ok":  # nothing was checked: one line per task
        lines += ["## Tasks", "", *(f"- `{t.name}` (function `{t.function}`): 0 / {number(t.max_points)}, not checked" for t in g.tasks), ""]
    for t in g.tasks if g.status == "ok" else ():
        lines += [f"## `{t.name}` (function `{t.function}`): {number(t.points)} / {number(t.max_points)}", ""]
        for c in t.cases:
            mark = "✓" if c.passed else "✗"
            if c.hidden:
                lines.append(f"- {mark} hidden case: {protect_at_names(_md(c.name))}")
            else:
                lines.append(f"- {mark} {protect_at_names(_md(c.name))}")
                if c.message:
                    lines += ["", "  ```", *("  " + line for line in relative(c.message).replace("`", "'").splitlines()),
                              "  ```", ""]
        lines.append("")
    if lab.written:
        answers = ", ".join(f"`{gid}` ({number(points)} point{'s' if points != 1 else ''})" for gid, points in lab.written)
        lines += ["## Written answers", "", f"Graded by hand, not part of the score above: {answers}.", ""]
    if g.cell_errors or g.notes:
        lines += ["## Notes", ""]
        for e in g.cell_errors:
            name = cell_name(e)
            lines.append(f"- {name[0].upper() + name[1:]} raised an error: `{_md(e['error'])}`")
        lines += [f"- {protect_at_names(_md(n))}" for n in g.notes]
        lines.append("")
    lines += ["## How this was graded", "",
              "Your task cells were run with the lab's other cells as published (your edits to other cells are not used), "
              "then each task's function was called on the public cases (the ones `check` runs) and on hidden cases. "
              "Hidden cases show only whether they passed. A task earns its points in proportion to the cases it passes.", "",
              f"Sandbox: {g.sandbox}.", ""]
    return "\n".join(lines)


def write_feedback(out: Path, stem: str, lab: Lab, g: Grade) -> None:
    atomic_write(out / "feedback" / f"{stem}.md", feedback_markdown(lab, g))
    atomic_write(out / "feedback" / f"{stem}.json", json.dumps(feedback_json(lab, g), indent=1, ensure_ascii=False) + "\n")
    timing = ", ".join(f"{k} {v:.2f} s" for k, v in g.timing.items())
    log = [f"{g.file}: {g.status} {number(g.score)}/{number(g.max_score)} in {g.seconds} s" + (f" (child: {timing})" if timing else ""),
           f"sandbox: {g.sandbox}",
           "--- stdout (tail) ---", g.stdout_tail, "--- stderr (tail) ---", g.stderr_tail]
    atomic_write(out / "logs" / f"{stem}.txt", "\n".join(log) + "\n")


def summary(lab: Lab, grades: list[Grade]) -> str:
    """A short table for the terminal."""
    width = min(max([len(g.file) for g in grades] + [4]), 60)
    lines = [f"{'file':<{width}}  {'score':>11}  status"]
    for g in grades:
        name = g.file if len(g.file) <= width else "..." + g.file[-(width - 3):]
        lines.append(f"{name:<{width}}  {number(g.score):>5} / {number(g.max_score):<3}  {g.status}")
    counts = {s: sum(g.status == s for g in grades) for s in ("ok", "error", "timeout", "invalid", "killed")}
    lines.append(f"{len(grades)} submission(s): " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return "\n".join(lines)
