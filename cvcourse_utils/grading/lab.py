"""What the grader knows about a lab: reference notebook, tasks, points and hidden cases.

For ``labNN`` these come from three places:

- ``solutions/labNN_<topic>.ipynb``: the reference notebook (every cell but the
  student's comes from here);
- ``cvcourse_utils/labchecks/labNN.py``: the tasks and their public cases (public
  code: the child runs the same module to call the student's functions);
- ``solutions/grading/labNN.py``: ``POINTS`` and ``HIDDEN`` (instructor material,
  loaded only in the grading process).
"""
from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from cvcourse_utils.checking import Case, Task
from cvcourse_utils.notebooks import NotebookError, read_notebook


#: Seconds a submission may run when neither the lab's grading file (``TIMEOUT``) nor ``--timeout`` says otherwise.
DEFAULT_TIMEOUT = 120.0


class LabError(ValueError):
    """The lab cannot be graded: unknown name, missing or inconsistent instructor files."""


@dataclass(frozen=True)
class Lab:
    name: str
    notebook: Path                       # the reference (solution) notebook
    reference: dict                      # its JSON
    tasks: tuple[Task, ...]
    points: dict[str, float]
    hidden: dict[str, tuple[Case, ...]]
    tasks_module: dict                   # name, package, filename and source of the tasks module, for the child
    written: tuple[tuple[str, float], ...] = ()   # (grade_id, points) of written answers, graded by hand
    timeout: float = DEFAULT_TIMEOUT     # seconds per submission unless `cvcourse grade --timeout` says otherwise

    @property
    def max_score(self) -> float:
        return float(sum(self.points[t.name] for t in self.tasks))


def _import_file(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LabError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        raise LabError(f"{path} does not import: {type(err).__name__}: {err}") from err
    return module


def build_lab(name: str, notebook: Path, tasks_module: ModuleType, grading: ModuleType) -> Lab:
    """Check that the pieces agree (every task has points, hidden cases are Cases) and bundle them."""
    where = getattr(grading, "__file__", "the grading module")
    tasks = tuple(tasks_module.TASKS)
    points = dict(getattr(grading, "POINTS", {}))
    hidden = {k: tuple(v) for k, v in dict(getattr(grading, "HIDDEN", {})).items()}
    names = [t.name for t in tasks]
    if set(points) != set(names):
        raise LabError(f"{where}: POINTS names {sorted(points)} but the tasks are {names}")
    if any(not isinstance(p, (int, float)) or p <= 0 for p in points.values()):
        raise LabError(f"{where}: every task's points must be a positive number")
    unknown = set(hidden) - set(names)
    if unknown:
        raise LabError(f"{where}: HIDDEN has cases for unknown tasks {sorted(unknown)}")
    if any(not isinstance(c, Case) for cases in hidden.values() for c in cases):
        raise LabError(f"{where}: HIDDEN must map task names to tuples of Case")
    try:
        reference = read_notebook(notebook)
    except NotebookError as err:
        raise LabError(str(err)) from None
    source_file = Path(tasks_module.__file__)
    module = {"name": tasks_module.__name__, "package": tasks_module.__package__ or "",
              "filename": str(source_file), "source": source_file.read_text(encoding="utf-8")}
    written = tuple((c["metadata"]["nbgrader"]["grade_id"], float(c["metadata"]["nbgrader"].get("points", 0)))
                    for c in reference["cells"] if c.get("cell_type") == "markdown"
                    and c.get("metadata", {}).get("nbgrader", {}).get("solution") and c["metadata"]["nbgrader"].get("grade"))
    timeout = getattr(grading, "TIMEOUT", DEFAULT_TIMEOUT)
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise LabError(f"{where}: TIMEOUT must be a positive number of seconds")
    return Lab(name, notebook, reference, tasks, {k: float(v) for k, v in points.items()},
               {n: hidden.get(n, ()) for n in names}, module, written, float(timeout))


def load_lab_files(name: str, notebook: Path, tasks_file: Path, grading_file: Path) -> Lab:
    """A lab from explicit files (tests use a small fixture lab this way)."""
    tasks = _import_file(f"cvcourse_grading_tasks_{name}", Path(tasks_file))
    grading = _import_file(f"cvcourse_grading_{name}", Path(grading_file))
    return build_lab(name, Path(notebook), tasks, grading)


def available_labs(root: Path) -> list[str]:
    """Labs under ``root`` that have a reference notebook and a grading file."""
    solutions = Path(root) / "solutions"
    found = {p.name[:5] for p in solutions.glob("lab[0-9][0-9]_*.ipynb")}
    return sorted(lab for lab in found if (solutions / "grading" / f"{lab}.py").is_file())


def load_lab(lab: str, root: Path) -> Lab:
    """The course's lab ``labNN`` (reference notebook, public tasks, points and hidden cases)."""
    root = Path(root)
    known = available_labs(root)
    if not re.fullmatch(r"lab[0-9]{2}", lab) or lab not in known:
        where = (root / "solutions").resolve()
        listing = ", ".join(known) if known else f"none (no solutions/labNN_*.ipynb with solutions/grading/labNN.py under {where})"
        raise LabError(f"unknown lab {lab!r}; labs that can be graded: {listing}")
    notebooks = sorted((root / "solutions").glob(f"{lab}_*.ipynb"))
    if len(notebooks) != 1:
        raise LabError(f"expected one solutions/{lab}_*.ipynb, found {[p.name for p in notebooks]}")
    try:
        tasks = importlib.import_module(f"cvcourse_utils.labchecks.{lab}")
    except ModuleNotFoundError:
        raise LabError(f"{lab} has no cvcourse_utils/labchecks/{lab}.py (its tasks and public cases)") from None
    grading = _import_file(f"cvcourse_grading_{lab}", root / "solutions" / "grading" / f"{lab}.py")
    return build_lab(lab, notebooks[0], tasks, grading)
