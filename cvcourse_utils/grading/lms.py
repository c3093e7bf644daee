"""Scores for a learning-management system: Canvas's and Moodle's gradebook-import CSV, and a long CSV of every case.

**Canvas** (Grades, Import): the columns of Canvas's own gradebook export, ``Student``, ``ID``,
``SIS User ID``, ``SIS Login ID``, ``Section``, then one column per assignment; a second row
whose ``Student`` cell reads ``Points Possible`` gives each assignment's points. Canvas finds each
student by ``ID`` (its own user id), ``SIS User ID`` or ``SIS Login ID``; a column whose header
is not an existing assignment's ``Name (id)`` becomes a new assignment. Without a roster,
``Student`` and ``SIS Login ID`` are the notebook's name (``alice`` for ``alice.ipynb``, as
``cvcourse collect`` names it after the student's hub login) and the other columns stay empty.

**Moodle** (Grades, Import, CSV file): any header names; on import the teacher maps the
identifier column ("Map from") to one of Moodle's user fields ("Map to": user id, username,
ID number or email address) and the grade column to a grade item or a new one. The columns are
named as in Moodle's own export: ``Username``, ``ID number``, ``Email address``, then the grade.
Without a roster ``Username`` is the notebook's name and the others stay empty.

**Long CSV**: one row per submission, task and case: ``student, task, case, hidden, passed``.

A **roster** is a CSV with a ``submission`` column (the notebook's name, ``alice``) and any of
the columns above (``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section``,
``Username``, ``ID number``, ``Email address``), which replace the defaults. Every graded
submission must have a row in it.

Every submission gets its score from ``grades.csv``: a notebook that did not run (``timeout``,
``killed``, ``error``, ``invalid``) scores 0 there and here.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from cvcourse_utils.grading.gradebook import csv_cell, number
from cvcourse_utils.grading.results import Gradebook, GradebookError

FORMATS = {"canvas": "canvas.csv", "moodle": "moodle.csv", "csv": "cases.csv"}
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_ROW = "Points Possible"
MOODLE_COLUMNS = ("Username", "ID number", "Email address")
CASES_COLUMNS = ("student", "task", "case", "hidden", "passed")
ROSTER_KEY = "submission"


def read_roster(path: Path, book: Gradebook) -> dict[str, dict[str, str]]:
    """The roster's row for every graded submission (by its name), or :class:`GradebookError` naming what is missing."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's "CSV UTF-8" starts with a byte-order mark
    except (OSError, UnicodeDecodeError) as err:
        raise GradebookError(f"{path}: cannot read the roster ({getattr(err, 'strerror', None) or err})") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or ROSTER_KEY not in reader.fieldnames:
        found = ", ".join(reader.fieldnames or []) or "nothing"
        raise GradebookError(f"{path}: the roster needs a '{ROSTER_KEY}' column (each notebook's name, e.g. alice for "
                             f"alice.ipynb); its header has {found}")
    roster: dict[str, dict[str, str]] = {}
    for row in reader:
        key = (row.get(ROSTER_KEY) or "").strip()
        if key in roster:
            raise GradebookError(f"{path} line {reader.line_num}: '{key}' is in the roster twice")
        if key:
            roster[key] = {k: (v or "").strip() for k, v in row.items() if k}
    missing = [r.stem for r in book.rows if r.stem not in roster]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise GradebookError(f"{path}: the roster misses {len(missing)} graded submission(s): {shown}")
    return roster


def _table(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def canvas_csv(book: Gradebook, assignment: str, roster: dict[str, dict[str, str]] | None = None) -> str:
    """Canvas's gradebook-import CSV: the five student columns, the assignment, and the ``Points Possible`` row."""
    rows = [[*CANVAS_COLUMNS, assignment], [CANVAS_POINTS_ROW, "", "", "", "", number(book.max_score)]]
    for r in book.rows:
        who = (roster or {}).get(r.stem, {})
        defaults = {"Student": r.stem, "SIS Login ID": r.stem}
        rows.append([csv_cell(who.get(c) or defaults.get(c, "")) for c in CANVAS_COLUMNS] + [number(r.score)])
    return _table(rows)


def moodle_csv(book: Gradebook, assignment: str, roster: dict[str, dict[str, str]] | None = None) -> str:
    """Moodle's grade-import CSV: ``Username``, ``ID number``, ``Email address`` and the grade."""
    rows = [[*MOODLE_COLUMNS, assignment]]
    for r in book.rows:
        who = (roster or {}).get(r.stem, {})
        defaults = {"Username": r.stem}
        rows.append([csv_cell(who.get(c) or defaults.get(c, "")) for c in MOODLE_COLUMNS] + [number(r.score)])
    return _table(rows)


def cases_csv(book: Gradebook) -> str:
    """Every case of every submission, long format: ``student, task, case, hidden, passed`` (``true``/``false``)."""
    rows = [list(CASES_COLUMNS)]
    for r in book.rows:
        for task in r.grade.tasks:
            for case in task.cases:
                rows.append([csv_cell(r.stem), task.name, csv_cell(case.name), str(case.hidden).lower(), str(case.passed).lower()])
    return _table(rows)


def export(book: Gradebook, kind: str, assignment: str, roster: dict[str, dict[str, str]] | None = None) -> str:
    """The text of one export, ``kind`` one of :data:`FORMATS`."""
    if kind == "canvas":
        return canvas_csv(book, assignment, roster)
    if kind == "moodle":
        return moodle_csv(book, assignment, roster)
    if kind == "csv":
        return cases_csv(book)
    raise ValueError(f"unknown export {kind!r}; one of {', '.join(FORMATS)}")
