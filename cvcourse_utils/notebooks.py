"""Notebook files: read and written in the form JupyterLab saves; student labs generated from solutions.

Every notebook the course writes goes through :func:`write_notebook` (:func:`dumps_notebook` gives its
text), which stores it exactly as JupyterLab 4 saves it (:func:`canonical_notebook`), so that opening
it in JupyterLab marks nothing as changed.

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


# What the course's kernel (ipykernel, "python3") reports, and JupyterLab writes into a notebook when the
# kernel starts. "version" is the Python of the course's reference set-up; on another Python, `make lab`
# serves the notebooks with that Python's version instead (cvcourse_utils/jupyter_contents.py).
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": "3.11.7",
}
NBFORMAT_MINOR = 5  # what JupyterLab 4 writes (cells carry ids); older files are upgraded on open


def _lines(text) -> list[str]:
    """A multi-line string (or list of lines) split as nbformat splits it when it writes a file."""
    return ("".join(text) if isinstance(text, list) else text).splitlines(keepends=True)


def canonical_notebook(nb: dict) -> dict:
    """``nb`` (a new dict) as JupyterLab 4 saves it after opening it and starting the course's kernel.

    Saving in JupyterLab sends the document to jupyter_server, which writes it with nbformat: minor
    version 5, transient keys (``trusted``, ``orig_nbformat``, ``signature``) dropped, every source and
    text output split into lines, code cells with ``outputs`` and ``execution_count``, markdown and raw
    cells without them. The kernel's ``kernelspec`` and ``language_info`` replace what a Python notebook
    stored (JupyterLab writes them when the kernel starts, which would mark the notebook as changed).
    Cell ids are kept as they are (the lint asks for them). Anything but an nbformat-4 dict is returned
    unchanged, so :func:`read_notebook`'s errors still reach the caller.
    """
    nb = copy.deepcopy(nb)
    if not isinstance(nb, dict) or nb.get("nbformat") != 4 or not isinstance(nb.get("cells"), list):
        return nb
    nb["nbformat_minor"] = max(int(nb.get("nbformat_minor", 0)), NBFORMAT_MINOR)
    meta = nb.setdefault("metadata", {})
    for key in ("orig_nbformat", "orig_nbformat_minor", "signature"):
        meta.pop(key, None)
    if meta.get("kernelspec", {}).get("name", "python3") == "python3":
        meta["kernelspec"] = dict(KERNELSPEC)
        meta["language_info"] = copy.deepcopy(LANGUAGE_INFO)
    for cell in nb["cells"]:
        if not isinstance(cell, dict):
            continue
        cell["source"] = _lines(cell.get("source", ""))
        for attachment in cell.get("attachments", {}).values():
            _split_output({"data": attachment})
        cell_meta = cell.setdefault("metadata", {})
        cell_meta.pop("trusted", None)
        _sync_collapsed(cell_meta)
        if cell.get("cell_type") == "code":
            cell.setdefault("execution_count", None)
            cell["outputs"] = [_split_output(out) for out in cell.get("outputs", [])]
        else:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    return nb


def _sync_collapsed(meta: dict) -> None:
    """JupyterLab keeps ``collapsed`` and ``jupyter.outputs_hidden`` equal, filling in whichever is missing."""
    if meta.get("collapsed") is not None:
        meta.setdefault("jupyter", {})["outputs_hidden"] = meta["collapsed"]
    elif isinstance(meta.get("jupyter"), dict) and meta["jupyter"].get("outputs_hidden") is not None:
        meta["collapsed"] = meta["jupyter"]["outputs_hidden"]


def _split_output(out: dict) -> dict:
    """One output as nbformat writes it: stream text and text-like data split into lines."""
    from nbformat.v4.rwbase import _rejoin_mimebundle, _split_mimebundle

    if isinstance(out, dict):
        if isinstance(out.get("text"), (str, list)):
            out["text"] = _lines(out["text"])
        if isinstance(out.get("data"), dict):
            _split_mimebundle(_rejoin_mimebundle(out["data"]))
    return out


def dumps_notebook(nb: dict) -> str:
    """The text of ``nb`` in the course's canonical form: :func:`canonical_notebook`, then nbformat's JSON
    (1-space indent, sorted keys, non-ASCII as it is) and a final newline, byte for byte as JupyterLab saves it."""
    return json.dumps(canonical_notebook(nb), indent=1, sort_keys=True, ensure_ascii=False, separators=(",", ": ")) + "\n"


def write_notebook(path: str | Path, nb: dict) -> bool:
    """Write ``nb`` to ``path`` in the canonical form; returns whether the file changed (an equal file is not touched)."""
    path = Path(path)
    text = dumps_notebook(nb)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


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
        lab = make_lab(read_notebook(sol), sol)
        if check:
            current = target.read_text(encoding="utf-8") if target.exists() else None
            if current != dumps_notebook(lab):
                problems.append(f"{target.relative_to(root)}: {'missing' if current is None else 'stale'}")
        elif write_notebook(target, lab):
            problems.append(str(target.relative_to(root)))
    if check:
        names = {s.name for s in solutions}
        for lab in sorted((root / "labs").glob(LAB_PATTERN)):
            if lab.name not in names:
                problems.append(f"{lab.relative_to(root)}: no solutions/{lab.name} to generate it from")
    return problems
