"""Labs are generated from solutions: markers, metadata, determinism and `cvcourse labs --check`."""
import json

import nbformat
import pytest

from cvcourse_utils import cli
from cvcourse_utils.notebooks import (
    MarkerError,
    NotebookError,
    dumps_notebook,
    generate_labs,
    make_lab,
    read_notebook,
    strip_solutions,
)

SOLUTION_CODE = """def add(a, b):
    \"\"\"Return a + b.\"\"\"
    ### BEGIN SOLUTION
    total = a + b
    return total
    ### END SOLUTION

print('kept')"""


def nb_with(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return json.loads(nbformat.writes(nb))


def solution_cell(source, cell_type="code", grade_id="add"):
    make = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
    cell = make(source)
    meta = {"grade": cell_type != "code", "grade_id": grade_id, "locked": False, "schema_version": 3, "solution": True, "task": False}
    if cell_type != "code":
        meta["points"] = 1
    cell.metadata["nbgrader"] = meta
    if cell_type == "code":
        cell.outputs = [nbformat.v4.new_output("stream", text="old output")]
        cell.execution_count = 3
    return cell


def test_code_region_becomes_an_indented_stub():
    out = strip_solutions(SOLUTION_CODE, "code")
    assert "total" not in out
    assert "    # YOUR CODE HERE\n    raise NotImplementedError()" in out
    assert out.startswith("def add(a, b):") and out.endswith("print('kept')")


def test_markdown_answer_becomes_your_answer_here():
    src = "**Q1.** Why?\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION"
    assert strip_solutions(src, "markdown") == "**Q1.** Why?\n\nYOUR ANSWER HERE"


def test_make_lab_clears_outputs_and_keeps_metadata():
    sol = nb_with(solution_cell(SOLUTION_CODE), solution_cell("### BEGIN SOLUTION\nx\n### END SOLUTION", "markdown", "q1"))
    lab = make_lab(sol, "solutions/lab99_demo.ipynb")
    code, md = lab["cells"]
    assert code["outputs"] == [] and code["execution_count"] is None
    assert code["metadata"]["nbgrader"] == sol["cells"][0]["metadata"]["nbgrader"]
    assert md["metadata"]["nbgrader"]["points"] == 1
    assert "".join(md["source"]) == "YOUR ANSWER HERE"
    assert sol["cells"][0]["outputs"], "make_lab must not change its input"
    assert dumps_notebook(make_lab(sol, "x")) == dumps_notebook(make_lab(sol, "x")), "generation is deterministic"


@pytest.mark.parametrize(
    "source, problem",
    [
        ("### BEGIN SOLUTION\nx = 1", "no matching '### END SOLUTION'"),
        ("x = 1\n### END SOLUTION", "no matching '### BEGIN SOLUTION'"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n### END SOLUTION", "nested"),
    ],
)
def test_malformed_markers_name_the_notebook_and_cell(source, problem):
    sol = nb_with(nbformat.v4.new_markdown_cell("intro"), solution_cell(source, grade_id="broken_task"))
    with pytest.raises(MarkerError) as err:
        make_lab(sol, "solutions/lab99_demo.ipynb")
    message = str(err.value)
    assert problem in message and "lab99_demo.ipynb" in message and "cell 1" in message and "broken_task" in message


def make_course(tmp_path):
    (tmp_path / "solutions").mkdir()
    sol = nb_with(solution_cell(SOLUTION_CODE))
    (tmp_path / "solutions" / "lab99_demo.ipynb").write_text(json.dumps(sol))
    return tmp_path


def test_labs_check_finds_missing_then_passes_after_generation(tmp_path, capsys):
    course = make_course(tmp_path)
    assert cli.main(["labs", "--check", "--root", str(course)]) == 1
    assert "labs/lab99_demo.ipynb: missing" in capsys.readouterr().out
    assert not (course / "labs").exists(), "--check must not write anything"
    assert cli.main(["labs", "--root", str(course)]) == 0
    assert cli.main(["labs", "--check", "--root", str(course)]) == 0


def test_labs_check_finds_a_hand_edited_lab(tmp_path, capsys):
    course = make_course(tmp_path)
    generate_labs(course)
    lab = course / "labs" / "lab99_demo.ipynb"
    lab.write_text(lab.read_text().replace("YOUR CODE HERE", "my edit"))
    before = lab.read_text()
    assert cli.main(["labs", "--check", "--root", str(course)]) == 1
    assert "labs/lab99_demo.ipynb: stale" in capsys.readouterr().out
    assert lab.read_text() == before


def test_labs_command_reports_malformed_markers(tmp_path, capsys):
    course = make_course(tmp_path)
    (course / "solutions" / "lab98_bad.ipynb").write_text(json.dumps(nb_with(solution_cell("### BEGIN SOLUTION\n"))))
    assert cli.main(["labs", "--root", str(course)]) == 2
    assert "lab98_bad.ipynb: cell 0" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["{not json", json.dumps({"nbformat": 3, "worksheets": []}), "[]"])
def test_unreadable_notebooks_are_a_clear_error(tmp_path, text):
    path = tmp_path / "x.ipynb"
    path.write_text(text)
    with pytest.raises(NotebookError, match="x.ipynb"):
        read_notebook(path)
