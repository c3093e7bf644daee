"""Our cell metadata is nbgrader's: nbgrader's own `generate_assignment` turns each solution into our lab.

nbgrader runs as an instructor would run it (the command line, a course folder with ``source/``,
``--no-db`` so no gradebook database is needed) on every solution notebook at once, and its
student version is compared with ours cell by cell and task by task: the same cells in the same
order, the same sources (solution regions replaced by the same stubs, written answers by
"YOUR ANSWER HERE"), outputs cleared, and the same nbgrader fields.

Differences by design (CONTRIBUTING.md, "Labs: tasks, markers, checks", says why):

- nbgrader adds a ``checksum`` and a ``cell_type`` to each graded, solution or locked cell, so
  that its autograder can notice edited locked cells; our grader needs neither: it takes only the
  task cells from a submission (by ``grade_id``) and restores every other cell from the solution.
- nbgrader marks cells ``deletable: false`` and locked cells ``editable: false``; our labs let
  students edit and delete any cell while they experiment, for the same reason.
- our labs record the solution they were generated from (``metadata.cvcourse``).
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cvcourse_utils.notebooks import cell_source

pytest.importorskip("nbgrader", reason="nbgrader is not installed (it is in the dev extra: pip install -e '.[dev]')")

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("lab[0-9][0-9]_*.ipynb"))
FIELDS = ("grade", "grade_id", "locked", "points", "schema_version", "solution", "task")
NBGRADER_ONLY = {"checksum", "cell_type"}      # in nbgrader's cell metadata, never in ours


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    """nbgrader's student versions of every solution: ``<course>/release/course/labNN_*.ipynb``."""
    course = tmp_path_factory.mktemp("nbgrader-course")
    (course / "source" / "course").mkdir(parents=True)
    for path in SOLUTIONS:
        shutil.copy(path, course / "source" / "course" / path.name)
    run = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "course", "--no-db",
                          f"--CourseDirectory.root={course}"], cwd=course, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return course / "release" / "course"


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name[:5])
def test_nbgraders_student_version_is_our_lab_task_for_task(released, solution):
    theirs = json.loads((released / solution.name).read_text(encoding="utf-8"))
    ours = json.loads((ROOT / "labs" / solution.name).read_text(encoding="utf-8"))
    assert [_nbgrader(c).get("grade_id") for c in theirs["cells"]] == [_nbgrader(c).get("grade_id") for c in ours["cells"]]
    tasks = 0
    for their, our in zip(theirs["cells"], ours["cells"]):
        name = _nbgrader(our)["grade_id"]
        assert their["cell_type"] == our["cell_type"], name
        assert cell_source(their) == cell_source(our), f"{solution.name}: cell {name} differs from nbgrader's"
        assert their.get("outputs", []) == our.get("outputs", []) == [] and their.get("execution_count") is None
        assert {k: _nbgrader(their).get(k) for k in FIELDS} == {k: _nbgrader(our).get(k) for k in FIELDS}, name
        assert set(_nbgrader(their)) - set(_nbgrader(our)) <= NBGRADER_ONLY, name
        assert not NBGRADER_ONLY & set(_nbgrader(our)), name
        # nbgrader's lock on cells: the one difference outside its metadata (see the docstring)
        extra = {k: v for k, v in their["metadata"].items() if k != "nbgrader" and our["metadata"].get(k) != v}
        expected = {"deletable": False} if _nbgrader(their)["solution"] or _nbgrader(their)["grade"] else {}
        if _nbgrader(their)["locked"]:
            expected = {"deletable": False, "editable": False}
        assert extra == expected, name
        if _nbgrader(our)["solution"] and our["cell_type"] == "code":
            tasks += 1
            assert "raise NotImplementedError()" in cell_source(their) and "### BEGIN SOLUTION" not in cell_source(their)
    assert tasks > 0, "every lab has tasks"
    assert {k: v for k, v in ours["metadata"].items() if k != "cvcourse"} == theirs["metadata"]
