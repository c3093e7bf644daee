"""Student labs are generated from solution notebooks.

A solution notebook marks what the student writes with nbgrader's markers::

    def to_grey(img):
        ### BEGIN SOLUTION
        return img @ np.array([0.2989, 0.587, 0.114])
        ### END SOLUTION

:func:`make_lab` replaces every marked region with a stub (code cells) or
``YOUR ANSWER HERE`` (markdown cells), clears outputs and keeps each cell's
nbgrader metadata, so the solutions can also be fed to nbgrader itself.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
CODE_STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
ANSWER_STUB = "YOUR ANSWER HERE"
LAB_PATTERN = "lab[0-9][0-9]_*.ipynb"


class MarkerError(ValueError):
    """A solution notebook whose BEGIN/END SOLUTION markers do not pair up."""


class NotebookError(ValueError):
    """A file that is not a readable nbformat-4 notebook."""


def read_notebook(path: str | Path) -> dict:
    """Load a notebook as plain JSON, with a clear error for anything that is not nbformat 4."""
    path = Path(path)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise NotebookError(f"{path}: not a readable notebook ({err})") from None
    if not isinstance(nb, dict) or nb.get("nbformat") != 4 or not isinstance(nb.get("cells"), list):
        raise NotebookError(f"{path}: not an nbformat-4 notebook (found nbformat={nb.get('nbformat') if isinstance(nb, dict) else '?'})")
    return nb


def dumps_notebook(nb: dict) -> str:
    """Serialise exactly as Jupyter does (1-space indent, sorted keys), so files diff cleanly."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def cell_source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _where(path, index: int, cell: dict) -> str:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"{path}: cell {index}" + (f" (grade_id {grade_id!r})" if grade_id else "")


def solution_regions(lines: list[str], where: str = "cell") -> list[tuple[int, int]]:
    """The ``(begin, end)`` line indices of each BEGIN/END SOLUTION pair in ``lines``."""
    regions, start = [], None
    for i, line in enumerate(lines):
        text = line.strip()
        if text == BEGIN:
            if start is not None:
                raise MarkerError(f"{where}: nested '{BEGIN}' on line {i + 1} (the one on line {start + 1} is still open)")
            start = i
        elif text == END:
            if start is None:
                raise MarkerError(f"{where}: '{END}' on line {i + 1} has no matching '{BEGIN}'")
            regions.append((start, i))
            start = None
    if start is not None:
        raise MarkerError(f"{where}: '{BEGIN}' on line {start + 1} has no matching '{END}'")
    return regions


def strip_solutions(source: str, cell_type: str, where: str = "cell") -> str:
    """Replace each marked region of one cell's source with the student stub."""
    lines = source.split("\n")
    regions = solution_regions(lines, where)
    if not regions:
        return source
    out, last = [], 0
    for begin, end in regions:
        out.extend(lines[last:begin])
        if cell_type == "code":
            indent = re.match(r"\s*", lines[begin]).group(0)
            out.extend(indent + stub for stub in CODE_STUB)
        else:
            out.append(ANSWER_STUB)
        last = end + 1
    out.extend(lines[last:])
    return "\n".join(out)


def make_lab(solution: dict, path: str | Path = "notebook") -> dict:
    """The student version of a solution notebook (a new dict; the input is not changed)."""
    lab = copy.deepcopy(solution)
    for index, cell in enumerate(lab["cells"]):
        where = _where(path, index, cell)
        source = strip_solutions(cell_source(cell), cell.get("cell_type", "code"), where)
        cell["source"] = source.splitlines(keepends=True)
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    lab.setdefault("metadata", {})["cvcourse"] = {"generated_from": f"solutions/{Path(path).name}"}
    return lab


def lab_path_for(solution_path: Path, root: Path) -> Path:
    return root / "labs" / solution_path.name


def generate_labs(root: str | Path = ".", check: bool = False) -> list[str]:
    """Write ``labs/labNN_*.ipynb`` for every ``solutions/labNN_*.ipynb``.

    With ``check=True`` nothing is written; the return value lists every lab that is
    stale or missing (and every lab whose solution is gone). Without it, the return
    value lists the labs that were (re)written.
    """
    root = Path(root)
    solutions = sorted((root / "solutions").glob(LAB_PATTERN))
    if not solutions:
        raise FileNotFoundError(f"no solutions/{LAB_PATTERN} under {root.resolve()}: run this from the course folder")
    problems = []
    for sol in solutions:
        target = lab_path_for(sol, root)
        text = dumps_notebook(make_lab(read_notebook(sol), sol))
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        if check:
            problems.append(f"{target.relative_to(root)}: {'missing' if current is None else 'stale'}")
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            problems.append(str(target.relative_to(root)))
    if check:
        names = {s.name for s in solutions}
        for lab in sorted((root / "labs").glob(LAB_PATTERN)):
            if lab.name not in names:
                problems.append(f"{lab.relative_to(root)}: no solutions/{lab.name} to generate it from")
    return problems
