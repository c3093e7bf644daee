"""The authoring lint: what a module's files must agree on, checked before any notebook runs.

``cvcourse lint`` (and ``tests/test_lint.py``, for every module) reads each lab's solution
notebook, its tasks (``cvcourse_utils/labchecks/labNN.py``) and its points and hidden cases
(``solutions/grading/labNN.py``), and every lecture, and reports each disagreement as one
:class:`Problem` naming the file, the cell and what to change. The rules are the ones
CONTRIBUTING.md states:

- a task cell (the student's code) has a ``grade_id``, ``solution: true``, ``locked: false``,
  ``grade: false`` and a BEGIN/END SOLUTION region, and defines the function its check names;
- its check cell follows it directly, reads ``check("<task>", <function>)`` and has
  ``grade: true``, ``locked: true`` and the points of ``POINTS``;
- a written answer is a markdown cell with ``solution: true``, ``grade: true``, ``locked: false``,
  points and a BEGIN/END SOLUTION region;
- every other cell is locked, and every cell has nbgrader metadata, a unique ``grade_id`` and a
  unique cell id;
- the tasks of ``labchecks``, the check cells and ``POINTS`` name the same tasks, hidden case keys
  name real tasks, and task names are unique across the course;
- every notebook has the template's title, Learning goals, Summary and Further reading, and every
  lab has a lecture with the same number and topic;
- no markdown cell has a bare ``name@number`` such as mAP@0.5 (JupyterLab renders it as a ``mailto:``
  link): write it in backticks, `` `mAP@0.5` ``;
- every task declares what its answer must not use (``Task.forbidden``, with ``by_hand`` saying what
  the student writes; an empty list needs ``by_hand`` to say why nothing ready-made answers it), and
  no cell the lab gives imports a name that a task forbids (the student's namespace holds no answers).
"""
from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from cvcourse_utils.notebooks import BEGIN, END, LAB_PATTERN, NotebookError, cell_source, read_notebook

CHECK_CALL = re.compile(r'^check\("(?P<task>\w+)",\s*(?P<function>\w+)\)\s*$')
TEMPLATE_SECTIONS = ("Learning goals", "Summary", "Further reading")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
# name@number, name@[...], name@k: a metric at a threshold (mAP@0.5, AP@[.5:.95], recall@1); Markdown turns the ones
# that look like an address (mAP@0.5) into mailto: links, so the course writes them all in backticks
AT_NAME = re.compile(r"[\w.+-]*\w@(?:\[[^\]\s]*\]|[\w.]*\w)")
CODE_OR_MATH = re.compile(r"```.*?```|`[^`]*`|\$\$.*?\$\$|\$[^$]*\$", re.S)


@dataclass(frozen=True)
class Problem:
    """One thing to fix: ``file`` (relative to the course folder), ``cell`` (index, or None) and what is wrong."""

    file: str
    cell: int | None
    message: str
    grade_id: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.cell is not None:
            where += f": cell {self.cell}" + (f" (grade_id {self.grade_id!r})" if self.grade_id else "")
        return f"{where}: {self.message}"


def _import_file(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


def _nbgrader(cell: dict) -> dict | None:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else None


def _has_region(source: str) -> bool:
    lines = [line.strip() for line in source.split("\n")]
    return BEGIN in lines and END in lines


def _defines(source: str, name: str) -> bool:
    return re.search(rf"^\s*(def|class)\s+{re.escape(name)}\b", source, re.M) is not None


# --------------------------------------------------------------------------- notebooks


def bare_at_names(markdown: str) -> list[str]:
    """The ``name@number`` words of ``markdown`` outside code and formulas: ``["mAP@0.5"]``."""
    return AT_NAME.findall(CODE_OR_MATH.sub(" ", markdown))


def protect_at_names(text: str) -> str:
    """``text`` with every ``name@number`` word in backticks, for Markdown that has no code spans of its own."""
    return AT_NAME.sub(lambda m: f"`{m.group(0)}`", text)


def repeated_paragraphs(cells: list[dict]) -> list[tuple[int, str]]:
    """(cell index, first words) of every markdown paragraph (40+ characters) already written earlier in the notebook."""
    seen: set[str] = set()
    repeats = []
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "markdown":
            continue
        for paragraph in re.split(r"\n\s*\n", cell_source(cell)):
            text = " ".join(paragraph.split())
            if len(text) >= 40 and text in seen:
                repeats.append((i, text[:60]))
            seen.add(text)
    return repeats


def lint_template(nb: dict, file: str) -> list[Problem]:
    """The template's title cell and sections (every lecture, solution and lab)."""
    problems = []
    cells = nb.get("cells", [])
    for i, start in repeated_paragraphs(cells):
        problems.append(Problem(file, i, f"this paragraph is written twice in the notebook: {start!r}..."))
    for i, cell in enumerate(cells):
        found = bare_at_names(cell_source(cell)) if cell.get("cell_type") == "markdown" else []
        if found:
            problems.append(Problem(file, i, f"write {', '.join(dict.fromkeys(found))} in backticks (`mAP@0.5`): "
                                             "JupyterLab shows a bare name@number as a mailto: link"))
    if not cells or cells[0].get("cell_type") != "markdown" or not cell_source(cells[0]).startswith("# "):
        problems.append(Problem(file, 0, "the first cell must be a markdown title ('# NN · Title')"))
    text = "\n".join(cell_source(c) for c in cells if c.get("cell_type") == "markdown")
    for heading in TEMPLATE_SECTIONS:
        if heading not in text:
            problems.append(Problem(file, None, f"no '{heading}' section (the template has Learning goals, Summary and Further reading)"))
    if nb.get("metadata", {}).get("kernelspec", {}).get("name") != KERNELSPEC["name"]:
        problems.append(Problem(file, None, f"notebook metadata needs the kernelspec {KERNELSPEC}"))
    ids = [c.get("id") for c in cells]
    for i, cell_id in enumerate(ids):
        if not cell_id:
            problems.append(Problem(file, i, "the cell has no id (nbformat 4.5 cells carry one; `cvcourse new-module` writes them)"))
        elif ids.index(cell_id) != i:
            problems.append(Problem(file, i, f"cell id {cell_id!r} is already used by cell {ids.index(cell_id)}"))
    return problems


def lint_solution(nb: dict, file: str, tasks: list, points: dict, hidden: dict, grading_file: str) -> list[Problem]:
    """The nbgrader metadata of a solution notebook and its agreement with the tasks and the points."""
    problems: list[Problem] = []
    task_by_name = {t.name: t for t in tasks}
    cells = nb.get("cells", [])
    seen_ids: dict[str, int] = {}
    checked: list[str] = []

    for i, cell in enumerate(cells):
        kind = cell.get("cell_type")
        source = cell_source(cell)
        meta = _nbgrader(cell)
        gid = meta.get("grade_id") if meta else None

        def problem(message: str) -> None:
            problems.append(Problem(file, i, message, gid))

        if meta is None:
            if kind == "markdown" and _has_region(source):
                problem("a written answer without nbgrader metadata drops out of grading: give it "
                        '{"grade": true, "solution": true, "locked": false, "points": 1, "grade_id": ...}')
            else:
                problem('no nbgrader metadata: every cell of a lab needs it (locked cells: {"locked": true, "solution": false, '
                        '"grade": false, "grade_id": ...})')
            continue
        if not gid:
            problem("nbgrader metadata without a grade_id: the grader matches the student's cells by grade_id")
        elif gid in seen_ids:
            problem(f"grade_id {gid!r} is already used by cell {seen_ids[gid]}")
        else:
            seen_ids[gid] = i
        solution, grade, locked = bool(meta.get("solution")), bool(meta.get("grade")), bool(meta.get("locked"))
        call = CHECK_CALL.match(source.strip()) if kind == "code" else None

        if kind == "code" and _has_region(source) and not solution:
            problem('a code cell with a BEGIN/END SOLUTION region must be a task cell ("solution": true, '
                    '"locked": false); locked, the grader would put the solution back into every submission')
        if kind == "code" and solution:
            if locked:
                problem('a task cell must have "locked": false (a locked cell is restored from the solution, '
                        "so every submission would get the solution's points)")
            if grade:
                problem('a task cell must have "grade": false (its check cell carries the points)')
            if not _has_region(source):
                problem("a task cell needs a BEGIN/END SOLUTION region, or the generated lab contains the solution")
        elif kind == "markdown" and solution:
            if not grade or not meta.get("points"):
                problem('a written answer needs "grade": true and "points" > 0, or it drops out of "Written answers"')
            if locked:
                problem('a written answer must have "locked": false')
            if not _has_region(source):
                problem("a written answer needs a BEGIN/END SOLUTION region around its model answer")
        elif call:
            name, function = call["task"], call["function"]
            checked.append(name)
            if not grade:
                problem(f'the check cell of {name!r} needs "grade": true')
            if not locked:
                problem(f'the check cell of {name!r} needs "locked": true')
            if gid and gid != f"check_{name}":
                problem(f"the check cell of {name!r} should have grade_id 'check_{name}'")
            if name not in task_by_name:
                problem(f"check({name!r}, ...) names no task of labchecks (tasks: {', '.join(task_by_name) or 'none'})")
            else:
                if task_by_name[name].function != function:
                    problem(f"check({name!r}, {function}) but the task's function is {task_by_name[name].function!r}")
                if name in points and meta.get("points") != points[name]:
                    problem(f"points {meta.get('points')} but POINTS[{name!r}] in {grading_file} is {points[name]}")
            previous = cells[i - 1] if i else None
            prev_meta = _nbgrader(previous) if previous else None
            if not (previous and previous.get("cell_type") == "code" and prev_meta and prev_meta.get("solution")
                    and _defines(cell_source(previous), function)):
                problem(f"the check cell of {name!r} must follow directly the task cell that defines {function!r}")
        elif grade:
            problem('"grade": true on a cell that is neither a check cell (check("<task>", <function>)) nor a written answer')
        elif not locked and not solution:
            problem('a cell that is not the student\'s must have "locked": true (the grader restores it from the solution)')

    for name in task_by_name:
        if name not in checked:
            problems.append(Problem(file, None, f"task {name!r} of labchecks has no check cell in the solution"))
    for name in sorted(set(task_by_name) - set(points)):
        problems.append(Problem(grading_file, None, f"task {name!r} has no entry in POINTS"))
    for name in sorted(set(points) - set(task_by_name)):
        problems.append(Problem(grading_file, None, f"POINTS names {name!r}, which is no task of labchecks"))
    for name in sorted(set(hidden) - set(task_by_name)):
        problems.append(Problem(grading_file, None, f"HIDDEN has cases for {name!r}, which is no task of labchecks"))
    if checked != [n for n in task_by_name if n in checked]:
        problems.append(Problem(file, None, f"check cells {checked} are not in the order of the tasks in labchecks {list(task_by_name)}"))
    return problems


# --------------------------------------------------------------------------- the course


def labs_under(root: Path) -> list[str]:
    return sorted({p.name[:5] for p in (root / "solutions").glob(LAB_PATTERN)})


def lint_lab(root: Path, lab: str) -> list[Problem]:
    """Every rule for one lab (``"lab05"``): its solution, tasks, points, hidden cases and lecture."""
    root = Path(root)
    notebooks = sorted((root / "solutions").glob(f"{lab}_*.ipynb"))
    if len(notebooks) != 1:
        return [Problem(f"solutions/{lab}_*.ipynb", None, f"expected one solution notebook, found {[p.name for p in notebooks]}")]
    solution = notebooks[0]
    file = str(solution.relative_to(root))
    tasks_file = root / "cvcourse_utils" / "labchecks" / f"{lab}.py"
    grading_file = root / "solutions" / "grading" / f"{lab}.py"
    problems: list[Problem] = []
    topic = solution.stem[6:]
    lecture = root / "lectures" / f"{lab[3:]}_{topic}.ipynb"
    if not lecture.exists():
        problems.append(Problem(str(lecture.relative_to(root)), None, f"missing: every lab has a lecture with its number and topic ({file})"))
    try:
        nb = read_notebook(solution)
    except NotebookError as err:
        return [*problems, Problem(file, None, str(err))]
    tasks, points, hidden = [], {}, {}
    for path, what in ((tasks_file, "tasks"), (grading_file, "grading")):
        if not path.exists():
            problems.append(Problem(str(path.relative_to(root)), None, f"missing: the lab's {what} file"))
            continue
        try:
            module = _import_file(f"cvcourse_lint_{what}_{lab}", path)
        except Exception as err:  # noqa: BLE001 - report any import failure as a problem
            problems.append(Problem(str(path.relative_to(root)), None, f"does not import: {type(err).__name__}: {err}"))
            continue
        if what == "tasks":
            tasks = list(getattr(module, "TASKS", ()))
        else:
            points = dict(getattr(module, "POINTS", {}))
            hidden = dict(getattr(module, "HIDDEN", {}))
    problems += lint_solution(nb, file, tasks, points, hidden, str(grading_file.relative_to(root)))
    problems += lint_taught(nb, file, tasks, str(tasks_file.relative_to(root)))
    problems += lint_how_to_work(nb, file)
    return problems


def lint_taught(nb: dict, file: str, tasks: list, tasks_file: str) -> list[Problem]:
    """Each task declares its forbidden list, and the cells the lab gives import none of those names."""
    from cvcourse_utils.taught import read_module, rules_for

    problems = []
    for task in tasks:
        forbidden = getattr(task, "forbidden", None)
        if forbidden is None:
            problems.append(Problem(tasks_file, None, f"task {task.name!r} declares no `forbidden` list: name the reference "
                                    "implementations and library calls its answer must not use, or give forbidden=() and "
                                    "say in by_hand why nothing ready-made answers it"))
        elif not getattr(task, "by_hand", ""):
            problems.append(Problem(tasks_file, None, f"task {task.name!r} needs `by_hand`: what the student writes by hand "
                                    "(it completes the message \"`fn` asks you to ...\")" + ("" if forbidden else
                                    ", or, with forbidden=(), why nothing ready-made answers it")))
    entries = sorted({e for t in tasks for e in (getattr(t, "forbidden", None) or ()) if not e.startswith(".")})
    if not entries:
        return problems
    rules = rules_for(tuple(entries))
    for i, cell in enumerate(nb.get("cells", [])):
        meta = _nbgrader(cell) or {}
        if cell.get("cell_type") != "code" or meta.get("solution"):
            continue
        for name, bindings in read_module([cell_source(cell)]).bindings.items():
            for qual in (b.qual for b in bindings if b.absolute):
                entry = rules.match(qual)
                inside = [e for e in entries if e.startswith(qual + ".")] if qual.startswith("cvcourse_utils.") else []
                if entry and not entry.startswith("unreadable:"):
                    problems.append(Problem(file, i, f"this cell gives the student `{name}` ({qual}), which a task forbids "
                                            f"({entry}): import it where it is used, after the task, or not at all", meta.get("grade_id")))
                elif inside:
                    problems.append(Problem(file, i, f"this cell gives the student the module `{name}` ({qual}), which holds "
                                            f"{inside[0]}, forbidden in a task: import only the names the lab needs",
                                            meta.get("grade_id")))
    return problems


def lint_how_to_work(nb: dict, file: str) -> list[Problem]:
    """Every lab explains the same way of working: its 'How to work' cell begins with the course's text."""
    from cvcourse_utils.scaffold import HOW_TO_WORK

    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") == "markdown" and cell_source(cell).startswith("## How to work"):
            if not cell_source(cell).startswith(HOW_TO_WORK):
                return [Problem(file, i, "the 'How to work' cell must begin with the course's common text "
                                         "(cvcourse_utils.scaffold.HOW_TO_WORK); put what is special to this lab after it")]
            return []
    return [Problem(file, None, "no '## How to work' cell (the scaffold writes one)")]


def lint_course(root: str | Path = ".", labs: list[str] | None = None) -> list[Problem]:
    """Every problem in the course (or in the given labs, plus the course-wide rules)."""
    root = Path(root)
    all_labs = labs_under(root)
    problems: list[Problem] = []
    selected = all_labs if not labs else labs
    for lab in selected:
        if lab not in all_labs:
            problems.append(Problem("solutions", None, f"no solutions/{lab}_*.ipynb (labs: {', '.join(all_labs)})"))
            continue
        problems += lint_lab(root, lab)
    numbers = {lab[3:] for lab in selected}
    for folder in ("lectures", "solutions", "labs"):
        for path in sorted((root / folder).glob("*.ipynb")):
            number = re.match(r"(?:lab)?(\d\d)_", path.name)
            if labs and (not number or number.group(1) not in numbers):
                continue
            try:
                problems += lint_template(read_notebook(path), str(path.relative_to(root)))
            except NotebookError as err:
                problems.append(Problem(str(path.relative_to(root)), None, str(err)))
    owner: dict[str, str] = {}
    for lab in all_labs:
        tasks_file = root / "cvcourse_utils" / "labchecks" / f"{lab}.py"
        if not tasks_file.exists():
            continue
        try:
            tasks = _import_file(f"cvcourse_lint_names_{lab}", tasks_file).TASKS
        except Exception:  # noqa: BLE001 - reported by lint_lab
            continue
        for task in tasks:
            if task.name in owner and (not labs or lab in selected or owner[task.name] in selected):
                problems.append(Problem(str(tasks_file.relative_to(root)), None,
                                        f"task name {task.name!r} is already used by {owner[task.name]}: names are unique across the course"))
            owner.setdefault(task.name, lab)
    return problems
