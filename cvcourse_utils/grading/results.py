"""A finished gradebook read back: ``grades.csv``, ``rows/<name>.json``, ``batch.json`` and the submitted cells.

``cvcourse report`` and the LMS exports start here. ``grades.csv`` is the authority for
scores (an instructor may have corrected a score in it by hand); ``rows/`` adds what the
CSV cannot hold (each case's result and message, notes, time taken); ``batch.json`` (written
by ``cvcourse grade`` since it records batches) adds the wall time, where each notebook was
read and the generated lab's cells. Anything missing or damaged is a :class:`GradebookError`
whose message names the file and says what is wrong.
"""
from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from cvcourse_utils.grading.gradebook import BATCH, COLUMNS, ROWS
from cvcourse_utils.grading.grader import STATUSES, CaseResult, Grade, TaskResult
from cvcourse_utils.grading.submission import InvalidNotebook, feedback_names, parse_notebook


class GradebookError(ValueError):
    """The gradebook (or a file given with it) cannot be used; the message names the file and the problem."""


@dataclass
class Row:
    """One graded submission: its line of ``grades.csv`` and its full record from ``rows/``."""

    line: int                    # line number in grades.csv
    file: str                    # the notebook as it was graded (a printable path)
    stem: str                    # its name in feedback/, logs/ and rows/
    status: str
    score: float
    max_score: float
    points: dict[str, float]     # task -> points, as grades.csv says
    grade: Grade                 # rows/<stem>.json
    path: Path | None = None     # where the notebook can be read now (None: moved or never recorded)


@dataclass
class Gradebook:
    folder: Path
    lab: str
    tasks: list[str]
    max_points: dict[str, float]
    rows: list[Row]
    batch: dict = field(default_factory=dict)            # batch.json; empty for a gradebook written before it existed
    written: list[tuple[str, float]] = field(default_factory=list)   # (grade_id, points) of written answers
    stub_cells: dict[str, str] = field(default_factory=dict)         # grade_id -> the generated lab's cell

    @property
    def max_score(self) -> float:
        return sum(self.max_points.values())


def _uncell(text: str) -> str:
    """Undo :func:`gradebook.csv_cell` (a quote in front of a name that starts like a formula)."""
    return text[1:] if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@", "\t", "\r") else text


def _number(text: str, what: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise GradebookError(f"{where}: {what} {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise GradebookError(f"{where}: {what} {text!r} is not a number of points (finite, not negative)")
    return value


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GradebookError(f"{path}: not UTF-8 text; is it a gradebook written by cvcourse grade?") from None
    except OSError as err:
        raise GradebookError(f"{path}: cannot read it ({err.strerror or err})") from None
    try:
        reader = csv.reader(text.splitlines())
        lines = [(reader.line_num, row) for row in reader]
    except csv.Error as err:
        raise GradebookError(f"{path}: not a CSV file ({err})") from None
    if not lines:
        raise GradebookError(f"{path}: empty; expected a header {', '.join(COLUMNS)}, then one column per task")
    header = lines[0][1]
    if tuple(header[:4]) == COLUMNS[1:]:  # written before grades.csv had a student column
        header, lines = ["student", *header], [(n, ["", *row]) for n, row in lines]
    if tuple(header[:len(COLUMNS)]) != COLUMNS or len(header) <= len(COLUMNS):
        raise GradebookError(f"{path} line 1: expected the columns {', '.join(COLUMNS)}, then one per task; "
                             f"found {', '.join(header) or 'nothing'}")
    rows = [(n, row) for n, row in lines[1:] if any(cell.strip() for cell in row)]
    if not rows:
        raise GradebookError(f"{path}: no submissions in it (only a header)")
    return header, rows


def _grade_from_json(data: dict) -> Grade:
    g = dict(data)
    g["tasks"] = [TaskResult(**{**t, "cases": [CaseResult(**c) for c in t["cases"]]}) for t in g["tasks"]]
    return Grade(**g)


def _read_row(path: Path, file: str, where: str) -> Grade:
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GradebookError(f"{path}: missing ({where} names {file}); the gradebook is incomplete: "
                             "grade again with --resume to finish it") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise GradebookError(f"{path}: not a readable grade row ({type(err).__name__}: {err})") from None
    try:
        grade = _grade_from_json(saved["grade"])
    except (KeyError, TypeError, ValueError) as err:
        raise GradebookError(f"{path}: not a grade row as cvcourse grade writes it ({type(err).__name__}: {err})") from None
    if grade.file != file:
        raise GradebookError(f"{path}: is the row of {grade.file!r}, but {where} names {file!r}; "
                             "the rows do not belong to this grades.csv")
    return grade


def _read_batch(folder: Path) -> dict:
    path = folder / BATCH
    if not path.exists():
        return {}
    try:
        batch = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise GradebookError(f"{path}: not readable JSON ({type(err).__name__}: {err})") from None
    if not isinstance(batch, dict):
        raise GradebookError(f"{path}: expected a JSON object")
    return batch


def _feedback_lab(folder: Path, stem: str) -> dict:
    """What feedback/<stem>.json says about the lab (its name, the written answers); {} if unreadable."""
    try:
        data = json.loads((folder / "feedback" / f"{stem}.json").read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, UnicodeDecodeError, ValueError):
        return {}


def read_gradebook(folder: Path) -> Gradebook:
    """Read the gradebook that ``cvcourse grade --out FOLDER`` wrote, checking every file it uses."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GradebookError(f"{folder}: no such folder")
    csv_path = folder / "grades.csv"
    if not csv_path.is_file():
        raise GradebookError(f"{folder}: no gradebook here (no grades.csv); `cvcourse grade LAB SUBMISSIONS --out {folder}` "
                             "writes one")
    header, lines = _read_csv(csv_path)
    tasks = header[len(COLUMNS):]
    files = []
    for n, cells in lines:
        if len(cells) != len(header):
            raise GradebookError(f"{csv_path} line {n}: {len(cells)} values, expected {len(header)} ({', '.join(header)})")
        files.append(_uncell(cells[1]))
    named = [_uncell(cells[0]) for _, cells in lines]
    stems = named if all(named) else feedback_names([Path(f) for f in files])  # the names grade_batch gave them
    batch = _read_batch(folder)
    recorded = batch.get("submissions") if isinstance(batch.get("submissions"), dict) else {}
    rows, max_points = [], {}
    for (n, cells), file, stem in zip(lines, files, stems):
        where = f"{csv_path} line {n}"
        status = cells[4]
        if status not in STATUSES:
            raise GradebookError(f"{where}: status {status!r} is not one of {', '.join(STATUSES)}")
        if not re.fullmatch(r"[A-Za-z0-9._-]+", stem):
            raise GradebookError(f"{where}: the student {stem!r} is not a file stem as cvcourse grade writes it")
        points = {t: _number(v, f"the points of {t}", where) for t, v in zip(tasks, cells[len(COLUMNS):])}
        grade = _read_row(folder / ROWS / f"{stem}.json", file, where)
        for t in grade.tasks:
            max_points.setdefault(t.name, t.max_points)
        path = Path(recorded[stem]) if isinstance(recorded.get(stem), str) else Path(file)
        rows.append(Row(n, file, stem, status, _number(cells[2], "score", where), _number(cells[3], "max_score", where),
                        points, grade, path if path.is_file() else None))
    missing = [t for t in tasks if t not in max_points]
    if missing:
        raise GradebookError(f"{csv_path}: the task column(s) {', '.join(missing)} are in no row of {folder / ROWS}")
    feedback = _feedback_lab(folder, rows[0].stem)
    lab = batch.get("lab") or feedback.get("lab") or folder.name
    listed = batch["written"] if isinstance(batch.get("written"), list) else feedback.get("written_answers", [])
    written = [(str(w["grade_id"]), float(w.get("points") or 0)) for w in listed if isinstance(w, dict) and "grade_id" in w]
    stub_cells = batch.get("stub_cells") if isinstance(batch.get("stub_cells"), dict) else {}
    stub_cells = {str(k): v for k, v in stub_cells.items() if isinstance(v, str)}
    return Gradebook(folder, str(lab), tasks, {t: max_points[t] for t in tasks}, rows, batch, written, stub_cells)


def read_cells(path: Path, grade_ids: set[str]) -> dict[str, str]:
    """The submitted notebook's cells with these ``grade_id``s (the first of each, as the grader takes them).

    Raises :class:`GradebookError` when the file cannot be read or is not a notebook.
    """
    try:
        nb = parse_notebook(Path(path).read_bytes())
    except OSError as err:
        raise GradebookError(f"{path}: cannot read it ({err.strerror or err})") from None
    except InvalidNotebook as err:
        raise GradebookError(f"{path}: {err}") from None
    found: dict[str, str] = {}
    for cell in nb["cells"]:
        meta = cell.get("metadata") if isinstance(cell, dict) else None
        info = meta.get("nbgrader") if isinstance(meta, dict) else None
        gid = info.get("grade_id") if isinstance(info, dict) else None
        if gid in grade_ids and gid not in found:
            source = cell.get("source", "")
            found[gid] = "".join(source) if isinstance(source, list) else source if isinstance(source, str) else ""
    return found
