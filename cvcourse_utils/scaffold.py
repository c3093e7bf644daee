"""``cvcourse new-module NN topic "Title"``: the six files of a new module, from one template.

It writes the lecture, the solution, the lab's tasks (``labchecks/labNN.py``), its points and
hidden cases (``solutions/grading/labNN.py``) and the generated lab, with every cell's nbgrader
metadata and id as the course stores them, and adds the module's row to the README's syllabus
when it is missing. The result passes the lint and ``make test`` as it is: replace the example
task, the example section and the example question with the module's own.
"""
from __future__ import annotations

import re
from pathlib import Path

from cvcourse_utils.notebooks import KERNELSPEC, LANGUAGE_INFO, NBFORMAT_MINOR, make_lab, write_notebook


class ScaffoldError(ValueError):
    """The module cannot be created: a bad number or topic, or files that already exist."""


def _locked(grade_id: str) -> dict:
    return {"nbgrader": {"grade": False, "grade_id": grade_id, "locked": True, "schema_version": 3,
                         "solution": False, "task": False}}


def task_metadata(grade_id: str) -> dict:
    """A task cell: the student's code, matched by the grader through ``grade_id``."""
    return {"nbgrader": {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3,
                         "solution": True, "task": False}}


def check_metadata(task: str, points: float) -> dict:
    """The check cell right after a task cell; ``points`` equal ``POINTS[task]``."""
    return {"nbgrader": {"grade": True, "grade_id": f"check_{task}", "locked": True, "points": points,
                         "schema_version": 3, "solution": False, "task": False}}


def answer_metadata(grade_id: str, points: float = 1) -> dict:
    """A written answer (markdown), graded by hand."""
    return {"nbgrader": {"grade": True, "grade_id": grade_id, "locked": False, "points": points,
                         "schema_version": 3, "solution": True, "task": False}}


def _cell(kind: str, source: str, cell_id: str, metadata: dict | None = None) -> dict:
    cell = {"cell_type": kind, "id": cell_id, "metadata": metadata or {}, "source": source.splitlines(keepends=True)}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _notebook(cells: list[dict]) -> dict:
    return {"cells": cells, "metadata": {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)},
            "nbformat": 4, "nbformat_minor": NBFORMAT_MINOR}


def _lab_cell(kind: str, source: str, grade_id: str, metadata: dict | None = None) -> dict:
    """A lab cell whose id is its grade_id with hyphens, as the course stores them."""
    return _cell(kind, source, grade_id.replace("_", "-"), metadata or _locked(grade_id))


# --------------------------------------------------------------------------- the templates


def lecture_notebook(number: str, title: str) -> dict:
    cells = [
        ("markdown", f"# {number} · {title}\n\nOne sentence on what this lecture is about.\n\n**Learning goals**\n\n"
                     "- the first thing a student can do after this lecture;\n- the second thing.\n"),
        ("code", "import ipywidgets as widgets\nimport matplotlib.pyplot as plt\nimport numpy as np\nimport torch\n\n"
                 "from cvcourse_utils import get_device, per_mode, seed_everything\n\n"
                 "seed_everything(0)\ndevice = get_device()\n"
                 "torch.set_num_threads(1)  # the course's models are tiny: one thread is faster on a laptop\n\n"
                 "# Sizes that fast mode (CVCOURSE_FAST=1) shrinks; the text describes full mode.\n"
                 "n_points = per_mode(full=200, fast=50)\nprint(f\"device: {device}\")\n"),
        ("markdown", "## 1. The first idea\n\nShort theory, with the formula it rests on:\n\n"
                     "$$\\sigma(x) = \\frac{1}{1 + e^{-x}}.$$\n\nThen code that shows it and checks what it shows.\n"),
        ("code", "x = np.linspace(-6, 6, n_points)\ny = 1 / (1 + np.exp(-x))\n"
                 "assert np.allclose(y, torch.sigmoid(torch.from_numpy(x)).numpy()), \"the formula disagrees with torch.sigmoid\"\n\n"
                 "fig, ax = plt.subplots(figsize=(5, 3), layout=\"constrained\")\nax.plot(x, y)\n"
                 "ax.set_title(\"The logistic sigmoid\")\nax.set_xlabel(\"x\")\nax.set_ylabel(\"sigmoid(x)\")\nplt.show()\n"),
        ("markdown", "## 2. Try it\n\nA widget lets the instructor vary one thing live. The function behind it runs once\n"
                     "here too, so the test run exercises it.\n"),
        ("code", "def show_steepness(k: float = 1.0) -> plt.Figure:\n    \"\"\"Plot sigmoid(k x) for one steepness k.\"\"\"\n"
                 "    fig, ax = plt.subplots(figsize=(5, 3), layout=\"constrained\")\n    ax.plot(x, 1 / (1 + np.exp(-k * x)))\n"
                 "    ax.set_title(f\"sigmoid({k:g} x)\")\n    ax.set_xlabel(\"x\")\n    ax.set_ylabel(\"value\")\n    plt.show()\n"
                 "    return fig\n\n\nshow_steepness(2.0)\n"
                 "widgets.interact(show_steepness, k=widgets.FloatSlider(value=1.0, min=0.1, max=5.0, step=0.1));\n"),
        ("markdown", "## Summary\n\n- What to remember, as bullets.\n\n## Further reading\n\n"
                     "- A paper or a chapter, with a [link](https://d2l.ai/).\n"),
    ]
    from cvcourse_utils.slides import with_slide_metadata

    return with_slide_metadata(_notebook([_cell(kind, source, f"cell-{i:02d}") for i, (kind, source) in enumerate(cells)]))


HOW_TO_WORK = """## How to work

- Run the cells from top to bottom (**Run ▸ Run All Cells** is fine: it stops at the first task you have not done yet).
- Each task is a function (or a class). Write your code where it says `# YOUR CODE HERE` and delete the line
  `raise NotImplementedError()`. Do not change its name, its arguments or what it returns.
- Run the **check cell** right after the function. It runs your function on a few small inputs and
  prints ✓ or ✗ for each; a ✗ comes with the expected and the actual values, so read it.
  A task is done when the cell prints `All ... cases ... pass`.
- Grading runs the same checks plus hidden ones (other sizes and edge cases), so write general code:
  nothing that only works for the inputs you see.
- Write what each task teaches yourself. An answer that hands the task to a ready-made implementation
  (the course's own code in `cvcourse_utils`, or a library call that does the whole task) earns 0, however
  right its numbers: the check reads your code and names the call it found. Building blocks such as
  `torch.matmul` or `nn.Linear` are fine; each task's text says what it asks for. Some checks read the
  code for more: where a task's name says *vectorised*, *no_loops* or *im2col*, Python loops are not allowed.
- Written questions are answered in the cells that say `YOUR ANSWER HERE` (a few sentences each).
- If an import fails or something seems broken, open a terminal in the course folder and run
  `.venv/bin/cvcourse doctor`: it says what is installed and what to fix.
"""


def example_task(number: str) -> str:
    return f"clip_to_unit_lab{number}"


def solution_notebook(number: str, title: str) -> dict:
    task = example_task(number)
    return _notebook([
        _lab_cell("markdown", f"# Lab {number} · {title}\n\nOne sentence on what the student builds in this lab.\n\n"
                              "**Learning goals**\n\n- clip an image's values to the range $[0, 1]$ (the example task: replace it);\n"
                              "- the second thing the student can do afterwards.\n", "intro"),
        _lab_cell("markdown", HOW_TO_WORK, "how_to_work"),
        _lab_cell("code", "import numpy as np\nimport torch\n\n"
                          "from cvcourse_utils import check, get_device, per_mode, seed_everything\n\n"
                          "seed_everything(0)\ndevice = get_device()\n"
                          "torch.set_num_threads(1)  # the lab's models are tiny: one thread is faster on a laptop\n"
                          f"results = {{}}  # the figures this lab measures (benchmarks/bench_module{number}.py may read them)\n\n"
                          "# Sizes that fast mode (CVCOURSE_FAST=1) shrinks.\nn_images = per_mode(full=1000, fast=100)\n"
                          "print(f\"device: {device}\")\n", "setup"),
        _lab_cell("markdown", "## 1. Clipping to the unit range\n\nImages in this course are floats in $[0, 1]$. After "
                              "arithmetic (a brightness change, noise) some values fall outside; clipping puts each back:\n\n"
                              "$$\\operatorname{clip}(x) = \\min(\\max(x, 0), 1).$$\n", "md_01"),
        _lab_cell("code", "def clip_to_unit(img: np.ndarray) -> np.ndarray:\n"
                          "    \"\"\"img: any shape, floats -> the same shape, float64, every value clipped to [0, 1].\"\"\"\n"
                          "    ### BEGIN SOLUTION\n    return np.minimum(np.maximum(np.asarray(img, dtype=np.float64), 0.0), 1.0)\n"
                          "    ### END SOLUTION\n", task, task_metadata(task)),
        _lab_cell("code", f'check("{task}", clip_to_unit)\n', f"check_{task}", check_metadata(task, 1)),
        _lab_cell("code", "noisy = np.random.default_rng(0).normal(0.5, 0.5, size=(n_images, 8, 8))\nclipped = clip_to_unit(noisy)\n"
                          "results[\"fraction_clipped\"] = float(np.mean((noisy < 0) | (noisy > 1)))\n"
                          "assert clipped.min() >= 0 and clipped.max() <= 1, \"clipped values must lie in [0, 1]\"\n"
                          "print(f\"{results['fraction_clipped']:.1%} of the noisy values were outside [0, 1]\")\n", "code_02"),
        _lab_cell("markdown", "**Question 1** (1 point). Why clip rather than rescale the whole image to $[0, 1]$?", "md_03"),
        _lab_cell("markdown", "### BEGIN SOLUTION\nRescaling changes every pixel, so contrast and brightness change everywhere; "
                              "clipping changes only the values that are out of range and leaves the rest exactly as they were.\n"
                              "### END SOLUTION\n", "q1_clip", answer_metadata("q1_clip")),
        _lab_cell("markdown", "## Summary\n\n- What to remember, as bullets.\n\n## Further reading\n\n"
                              "- A paper or a chapter, with a [link](https://d2l.ai/).\n", "summary"),
    ])


def labchecks_source(number: str, title: str) -> str:
    task = example_task(number)
    return f'''"""Lab {number} · {title}: the tasks, their public cases and library references.

Each reference is a library call, so these checks never contain the lab's solution.
"""
from __future__ import annotations

import numpy as np

from cvcourse_utils.checking import Case, Task, close

TASKS = (
    Task(
        name="{task}",
        function="clip_to_unit",
        cases=(
            Case("3x4 image around 0.5", lambda rng: (rng.normal(0.5, 0.6, size=(3, 4)),)),
            Case("values already in [0, 1] stay as they are", lambda rng: (rng.random((2, 3, 3)),), seed=1),
        ),
        reference=lambda img: np.clip(img, 0.0, 1.0),
        compare=close(atol=0.0, rtol=0.0, dtype="float64"),
        # What the answer must not use (cvcourse_utils.taught): the one call that would answer the task.
        forbidden=("numpy.clip", "torch.clamp", "torch.clip", ".clip", ".clamp"),
        by_hand="clip with np.minimum and np.maximum",
    ),
)
'''


def grading_source(number: str, title: str) -> str:
    task = example_task(number)
    return f'''"""Lab {number} · {title}: points per task and hidden cases (instructors only)."""
import numpy as np

from cvcourse_utils.checking import Case

POINTS = {{"{task}": 1}}

HIDDEN = {{
    "{task}": (
        Case("a single pixel far below 0", lambda rng: (np.array([[-3.0]]),), seed=101),
        Case("float32 input, 5x2x3", lambda rng: (rng.normal(0.5, 1.0, size=(5, 2, 3)).astype(np.float32),), seed=102),
    ),
}}
'''


# --------------------------------------------------------------------------- writing it


def readme_with_row(readme: str, number: str, title: str) -> str:
    """The README with a syllabus row for the module (status ``in progress``) if it has none."""
    lines = readme.split("\n")
    rows = [i for i, line in enumerate(lines) if re.match(r"\| \d\d \|", line)]
    if any(lines[i].startswith(f"| {number} |") for i in rows) or not rows:
        return readme
    row = f"| {number} | {title} | (what the lecture covers) | (what the student builds) | in progress |"
    after = max((i for i in rows if lines[i][2:4] < number), default=rows[0] - 1)
    lines.insert(after + 1, row)
    return "\n".join(lines)


def taught_test_source(number: str) -> str:
    """``tests/test_taught_labNN.py``: a shortcut answer to each task with a forbidden list earns 0."""
    return f'''"""Lab {number}: a ready-made answer to each task earns 0, in the check and in the grader (cvcourse_utils.taught).

Add a shortcut for every task you write: the one-line answer a student in a hurry would try.
"""
from taught_shortcuts import assert_shortcuts_earn_zero

SHORTCUTS = {{
    "{example_task(number)}": "import numpy as np\\n\\ndef clip_to_unit(img):\\n    return np.clip(img, 0.0, 1.0)\\n",
}}


def test_shortcuts_earn_zero(capsys):
    assert_shortcuts_earn_zero("lab{number}", SHORTCUTS, capsys)
'''


def new_module(root: str | Path, number: str | int, topic: str, title: str) -> list[Path]:
    """Write the six files of module ``number`` (``"05"``) with ``topic`` (``"cnn_architectures"``).

    Refuses (``ScaffoldError``, nothing written) when the number or topic is malformed or any of
    the module's files, or another module with the same number, already exists.
    """
    root = Path(root)
    number = f"{int(number):02d}" if str(number).isdigit() else str(number)
    if not re.fullmatch(r"\d\d", number) or number == "00":
        raise ScaffoldError(f"the module number must be 01 to 99; got {number!r}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", topic):
        raise ScaffoldError(f"the topic must be lower-case words joined by '_' (e.g. 'object_detection'); got {topic!r}")
    if not title.strip():
        raise ScaffoldError("the title must not be empty")
    if not (root / "cvcourse_utils" / "labchecks").is_dir() or not (root / "solutions").is_dir():
        raise ScaffoldError(f"{root.resolve()} is not the course folder (no cvcourse_utils/labchecks or solutions/)")
    lab = f"lab{number}"
    solution_path = root / "solutions" / f"{lab}_{topic}.ipynb"
    solution = solution_notebook(number, title)
    files = {  # notebooks as dicts (written in the canonical form), Python files as text
        root / "lectures" / f"{number}_{topic}.ipynb": lecture_notebook(number, title),
        solution_path: solution,
        root / "cvcourse_utils" / "labchecks" / f"{lab}.py": labchecks_source(number, title),
        root / "solutions" / "grading" / f"{lab}.py": grading_source(number, title),
        root / "labs" / f"{lab}_{topic}.ipynb": make_lab(solution, solution_path),
        root / "tests" / f"test_taught_{lab}.py": taught_test_source(number),
    }
    clashes = [p for p in files if p.exists()]
    clashes += [p for folder, pattern in (("lectures", f"{number}_*.ipynb"), ("solutions", f"{lab}_*.ipynb"), ("labs", f"{lab}_*.ipynb"))
                for p in sorted((root / folder).glob(pattern)) if p not in files]
    if clashes:
        raise ScaffoldError("module " + number + " exists already; nothing was written. Remove or rename: "
                            + ", ".join(str(p.relative_to(root)) for p in clashes))
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, dict):
            write_notebook(path, content)
        else:
            path.write_text(content, encoding="utf-8")
    written = list(files)
    readme = root / "README.md"
    if readme.exists():
        text = readme.read_text(encoding="utf-8")
        updated = readme_with_row(text, number, title)
        if updated != text:
            readme.write_text(updated, encoding="utf-8")
            written.append(readme)
    return written
