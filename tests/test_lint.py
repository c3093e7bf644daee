"""The authoring lint and the module scaffold: every module passes the lint, each authoring
mistake fails it with the file and cell named, and a scaffolded module passes the tests as it is."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cvcourse_utils import cli
from cvcourse_utils.lint import labs_under, lint_course
from cvcourse_utils.notebooks import dumps_notebook, read_notebook
from cvcourse_utils.scaffold import ScaffoldError, new_module, readme_with_row

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = "solutions/lab99_demo.ipynb"


@pytest.mark.parametrize("lab", labs_under(ROOT))
def test_every_module_passes_the_lint(lab):
    problems = lint_course(ROOT, [lab])
    assert problems == [], "\n".join(map(str, problems))


def test_the_whole_course_passes_the_lint(capsys):
    assert cli.main(["lint", "--root", str(ROOT)]) == 0, capsys.readouterr().out
    assert "No problems in every module." in capsys.readouterr().out


# --------------------------------------------------------------------------- a scaffolded module to break


@pytest.fixture
def course(tmp_path):
    """A course folder holding only a scaffolded module 99."""
    (tmp_path / "cvcourse_utils" / "labchecks").mkdir(parents=True)
    (tmp_path / "solutions").mkdir()
    new_module(tmp_path, 99, "demo", "Demo")
    return tmp_path


def edit(course: Path, grade_id: str, change) -> None:
    """Apply ``change(cell)`` to the solution's cell with ``grade_id``."""
    path = course / SOLUTION
    nb = read_notebook(path)
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    change(cell)
    path.write_text(dumps_notebook(nb), encoding="utf-8")


def problems_of(course: Path) -> list[str]:
    return [str(p) for p in lint_course(course)]


def test_the_scaffold_passes_the_lint(course):
    assert problems_of(course) == []


def test_check_points_that_disagree_with_POINTS(course):
    edit(course, "check_clip_to_unit_lab99", lambda c: c["metadata"]["nbgrader"].update(points=2))
    assert any(p.startswith(f"{SOLUTION}: cell 5 (grade_id 'check_clip_to_unit_lab99'): points 2 but POINTS")
               and "solutions/grading/lab99.py is 1" in p for p in problems_of(course)), problems_of(course)


def test_a_check_cell_that_is_not_graded(course):
    edit(course, "check_clip_to_unit_lab99", lambda c: c["metadata"]["nbgrader"].update(grade=False))
    assert any("cell 5" in p and 'needs "grade": true' in p for p in problems_of(course)), problems_of(course)


def test_a_written_answer_without_metadata(course):
    edit(course, "q1_clip", lambda c: c["metadata"].clear())
    assert any(p.startswith(f"{SOLUTION}: cell 8:") and "written answer without nbgrader metadata" in p
               for p in problems_of(course)), problems_of(course)


def test_a_task_cell_without_grade_id(course):
    edit(course, "clip_to_unit_lab99", lambda c: c["metadata"]["nbgrader"].pop("grade_id"))
    problems = problems_of(course)
    assert any(p.startswith(f"{SOLUTION}: cell 4:") and "without a grade_id" in p for p in problems), problems


def test_a_locked_task_cell(course):
    edit(course, "clip_to_unit_lab99", lambda c: c["metadata"]["nbgrader"].update(locked=True, solution=False))
    problems = problems_of(course)
    assert any("cell 4 (grade_id 'clip_to_unit_lab99')" in p and "must be a task cell" in p for p in problems), problems
    assert any("cell 5" in p and "must follow directly the task cell" in p for p in problems), problems


def test_a_check_cell_away_from_its_task(course):
    path = course / SOLUTION
    nb = read_notebook(path)
    nb["cells"].insert(5, nb["cells"].pop(6))  # the demo cell now sits between the task and its check
    path.write_text(dumps_notebook(nb), encoding="utf-8")
    assert any("cell 6" in p and "must follow directly" in p for p in problems_of(course)), problems_of(course)


def test_tasks_points_and_hidden_cases_must_name_the_same_tasks(course):
    grading = course / "solutions" / "grading" / "lab99.py"
    text = grading.read_text().replace('POINTS = {"clip_to_unit_lab99": 1}', 'POINTS = {"clip_to_unit_lab99": 1, "gone": 2}')
    grading.write_text(text.replace('"clip_to_unit_lab99": (\n', '"typo": (\n'))
    problems = problems_of(course)
    assert "solutions/grading/lab99.py: POINTS names 'gone', which is no task of labchecks" in problems, problems
    assert "solutions/grading/lab99.py: HIDDEN has cases for 'typo', which is no task of labchecks" in problems, problems


def test_task_names_are_unique_across_the_course(course):
    new_module(course, 98, "other", "Other")
    tasks = course / "cvcourse_utils" / "labchecks" / "lab98.py"
    tasks.write_text(tasks.read_text().replace('name="clip_to_unit_lab98"', 'name="clip_to_unit_lab99"'))
    assert any("task name 'clip_to_unit_lab99' is already used by lab98" in p for p in problems_of(course)), problems_of(course)


def test_template_sections_ids_and_the_lecture(course):
    edit(course, "summary", lambda c: c.update(source=["## Wrap-up\n"]))
    edit(course, "md_01", lambda c: c.pop("id"))
    (course / "lectures" / "99_demo.ipynb").unlink()
    problems = problems_of(course)
    assert f"{SOLUTION}: no 'Summary' section (the template has Learning goals, Summary and Further reading)" in problems, problems
    assert any(p.startswith(f"{SOLUTION}: cell 3: the cell has no id") for p in problems), problems
    assert any(p.startswith("lectures/99_demo.ipynb: missing") for p in problems), problems


def test_the_lint_command_lists_problems_and_exits_1(course, capsys):
    edit(course, "check_clip_to_unit_lab99", lambda c: c["metadata"]["nbgrader"].update(points=3))
    assert cli.main(["lint", "--root", str(course)]) == 1
    out = capsys.readouterr().out
    assert "points 3 but POINTS" in out and "1 problem(s) in every module" in out


# --------------------------------------------------------------------------- the scaffold


def test_new_module_writes_five_files_and_a_readme_row(tmp_path, capsys):
    (tmp_path / "cvcourse_utils" / "labchecks").mkdir(parents=True)
    (tmp_path / "solutions").mkdir()
    (tmp_path / "README.md").write_text("| # | module |\n|---|---|\n| 01 | One | a | b | ready |\n| 13 | Thirteen | a | b | planned |\n")
    assert cli.main(["new-module", "12", "optical_flow", "Optical flow", "--root", str(tmp_path)]) == 0
    for path in ("lectures/12_optical_flow.ipynb", "solutions/lab12_optical_flow.ipynb", "labs/lab12_optical_flow.ipynb",
                 "cvcourse_utils/labchecks/lab12.py", "solutions/grading/lab12.py"):
        assert (tmp_path / path).is_file(), path
    rows = [line[:7] for line in (tmp_path / "README.md").read_text().splitlines() if line.startswith("| ")]
    assert rows[1:] == ["| 01 | ", "| 12 | ", "| 13 | "]
    lab = json.loads((tmp_path / "labs/lab12_optical_flow.ipynb").read_text())
    assert lab["nbformat_minor"] == 5 and all(c.get("id") for c in lab["cells"])
    assert "raise NotImplementedError()" in "".join(lab["cells"][4]["source"])


def test_new_module_refuses_to_overwrite_and_writes_nothing(course):
    before = {p: p.read_bytes() for p in course.rglob("*") if p.is_file()}
    with pytest.raises(ScaffoldError, match="exists already; nothing was written"):
        new_module(course, 99, "another_topic", "Another")
    for bad in (("7a", "x", "X"), ("05", "Bad Topic", "X"), ("05", "ok", " ")):
        with pytest.raises(ScaffoldError):
            new_module(course, *bad)
    assert {p: p.read_bytes() for p in course.rglob("*") if p.is_file()} == before


def test_readme_row_is_left_alone_when_present():
    text = "| 05 | Five | a | b | planned |\n"
    assert readme_with_row(text, "05", "Five") == text


@pytest.mark.slow
def test_a_scaffolded_module_passes_the_tests_as_it_is(tmp_path):
    """new-module, then labs: the lint, the notebooks under nbval, the repository tests and the grader's self-test pass."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    copy = tmp_path / "course"
    for name in files:
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    env = {**os.environ, "PYTHONPATH": str(copy), "CVCOURSE_FAST": "1"}

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, *args], cwd=copy, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    run("-m", "cvcourse_utils.cli", "new-module", "99", "demo_topic", "Demo topic")
    run("-m", "cvcourse_utils.cli", "labs")
    assert "No problems in every module." in run("-m", "cvcourse_utils.cli", "lint")
    out = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
              "lectures/99_demo_topic.ipynb", "solutions/lab99_demo_topic.ipynb", "tests/test_taught_lab99.py",
              "tests/test_repository.py", "-k", "99 or up_to_date or environment or a_course or shortcuts")
    assert " passed" in out and "failed" not in out, out[-2000:]
    assert "Self-test lab99: solution 1/1 (ok), generated lab 0/1 (ok): OK" in run(
        "-m", "cvcourse_utils.cli", "grade", "lab99", "--self-test")


def test_every_lab_shares_the_how_to_work_text(course):
    edit(course, "how_to_work", lambda c: c.update(source=["## How to work\n\nJust run it.\n"]))
    assert any(p.startswith(f"{SOLUTION}: cell 1") and "the course's common text" in p for p in problems_of(course)), problems_of(course)


def test_a_bare_name_at_number_in_markdown_would_become_a_mailto_link(course):
    from cvcourse_utils.lint import bare_at_names, protect_at_names

    def write(text):
        return lambda cell: cell.update(source=text)

    edit(course, "q1_clip", write("Compare mAP@0.5 with mAP@[.5:.95] and recall@1."))
    problems = [p for p in problems_of(course) if "mailto" in p]
    assert len(problems) == 1 and "cell 8" in problems[0], problems_of(course)
    assert "write mAP@0.5, mAP@[.5:.95], recall@1 in backticks" in problems[0]
    edit(course, "q1_clip", write("Compare `mAP@0.5` with `mAP@[.5:.95]`, $x@1$ and\n```\nrecall@1\n```"))
    assert not [p for p in problems_of(course) if "mailto" in p]
    assert bare_at_names("**Recall@k** is") == ["Recall@k"] and bare_at_names("a@b, 2 @ 3, x @y") == ["a@b"]
    assert protect_at_names("case mAP@0.5, **recall@1**.") == "case `mAP@0.5`, **`recall@1`**."


def test_a_paragraph_written_twice_is_reported():
    from cvcourse_utils.lint import repeated_paragraphs

    text = "**In this lab.** Every task is checked on small inputs in float64."
    cells = [{"cell_type": "markdown", "source": f"# 12 · Title\n\n{text}\n\n{text}"},
             {"cell_type": "code", "source": text},
             {"cell_type": "markdown", "source": f"{text}\n\nShort line.\n\nShort line."}]
    assert repeated_paragraphs(cells) == [(0, text[:60]), (2, text[:60])]
    assert repeated_paragraphs(cells[:1][:0]) == [] and repeated_paragraphs([cells[1]]) == []
