"""Submissions: find them, read them once, and merge the student's cells into the reference notebook.

The merge follows nbgrader: a *solution* cell (``"solution": true``) is the
student's whole cell, found by its ``grade_id`` wherever it is in the submission;
every other cell comes from the reference notebook, so editing, deleting or
reordering locked cells changes nothing. Check cells are not run at all: the
grader calls the functions itself.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

MAX_NOTEBOOK_BYTES = 100 << 20


class InvalidNotebook(ValueError):
    """The file cannot be graded (not JSON, not nbformat 4, ...): the row gets status ``invalid``."""


@dataclass
class Submission:
    path: Path
    name: str                 # printable, always valid UTF-8 (undecodable bytes as \\xNN)
    data: bytes | None        # the file's bytes, read once
    problem: str | None = None


@dataclass
class Merged:
    cells: list[dict]                       # {"index", "label", "source"} in reference order
    notes: list[str] = field(default_factory=list)


def printable(path: Path | str) -> str:
    """A file name safe for CSV, Markdown and JSON: undecodable bytes and control characters escaped."""
    text = os.fsencode(str(path)).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def expand(paths: list[Path]) -> list[Path]:
    """Files as given; folders become their ``*.ipynb`` files (sorted, checkpoints skipped)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb") if p.is_file() and ".ipynb_checkpoints" not in p.parts)
        else:
            found.append(path)
    return found


def read_submission(path: Path) -> Submission:
    """Read the bytes once (never opened for writing); a missing or huge file becomes an ``invalid`` row."""
    name = printable(path)
    try:
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            return Submission(path, name, None, f"the file is {size >> 20} MB; notebooks over {MAX_NOTEBOOK_BYTES >> 20} MB are not graded")
        with open(path, "rb") as f:
            return Submission(path, name, f.read(MAX_NOTEBOOK_BYTES + 1))
    except OSError as err:
        return Submission(path, name, None, f"cannot read the file ({err.strerror or err})")


def parse_notebook(data: bytes) -> dict:
    """The notebook's JSON, or :class:`InvalidNotebook` saying what is wrong."""
    try:
        nb = json.loads(data)
    except (ValueError, RecursionError) as err:
        raise InvalidNotebook(f"not a notebook: the file is not valid JSON ({type(err).__name__})") from None
    if not isinstance(nb, dict):
        raise InvalidNotebook("not a notebook: the JSON is not an object")
    if nb.get("nbformat") != 4:
        raise InvalidNotebook(f"not an nbformat-4 notebook (nbformat={nb.get('nbformat')!r}); open it in JupyterLab and save it again")
    if not isinstance(nb.get("cells"), list):
        raise InvalidNotebook("not a notebook: no list of cells")
    return nb


def _nbgrader(cell) -> dict:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    info = meta.get("nbgrader") if isinstance(meta, dict) else None
    return info if isinstance(info, dict) else {}


def _source(cell) -> str | None:
    src = cell.get("source", "") if isinstance(cell, dict) else None
    if isinstance(src, str):
        return src
    if isinstance(src, list) and all(isinstance(s, str) for s in src):
        return "".join(src)
    return None


def _grade_id(cell) -> str | None:
    gid = _nbgrader(cell).get("grade_id")
    return gid if isinstance(gid, str) else None


def merge(reference: dict, stub: dict, submission: dict) -> Merged:
    """The code cells to run: reference cells, with each solution cell taken from the submission by ``grade_id``.

    ``stub`` is the generated lab (same cells as ``reference``): a solution cell
    missing from the submission runs as its unchanged stub.
    """
    by_id: dict[str, dict] = {}
    for cell in submission["cells"]:
        gid = _grade_id(cell)
        if gid is not None and gid not in by_id:  # duplicates: the first one counts
            by_id[gid] = cell
    cells, notes, edited = [], [], 0
    ref_ids = set()
    for index, (ref, stub_cell) in enumerate(zip(reference["cells"], stub["cells"])):
        info, gid = _nbgrader(ref), _grade_id(ref)
        ref_ids.add(gid)
        if ref.get("cell_type") != "code":
            continue
        if info.get("grade") and not info.get("solution"):
            continue  # a check cell: the grader runs the checks itself
        if info.get("solution"):
            mine = by_id.get(gid)
            source = _source(mine) if mine is not None and mine.get("cell_type") == "code" else None
            if source is None:
                source = _source(stub_cell) or ""
                notes.append(f"The cell `{gid}` is missing from the submission, so its unchanged stub was run.")
        else:
            source = _source(ref) or ""
            mine = by_id.get(gid) if gid else None
            if mine is not None and _source(mine) != source:
                edited += 1
        cells.append({"index": index, "label": gid or "", "source": source})
    added = sum(1 for c in submission["cells"] if isinstance(c, dict) and c.get("cell_type") == "code"
                and _grade_id(c) not in ref_ids and (_source(c) or "").strip())
    if edited:
        notes.append(f"{edited} locked cell(s) had been edited; the original version was run instead.")
    if added:
        notes.append(f"{added} code cell(s) you added were not run: the grader runs only the lab's own cells, "
                     "so put everything a task needs inside its task cell.")
    return Merged(cells, notes)


def feedback_names(paths: list[Path]) -> list[str]:
    """One safe, unique file stem per submission (``alice``, ``alice-2``, ...): letters, digits, ``._-`` only."""
    used: set[str] = set()
    out = []
    for path in paths:
        stem = re.sub(r"\.ipynb$", "", printable(Path(path).name))
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:80] or "submission"
        name, n = stem, 1
        while name.lower() in used:  # also unique on case-insensitive file systems
            n += 1
            name = f"{stem}-{n}"
        used.add(name.lower())
        out.append(name)
    return out
