"""The batch grader (`cvcourse grade`): scores, gradebook, feedback, and hostile submissions.

Fast tests cover the pieces (merge, plain-data format, names). The slow ones run real
grading children: every lab with a grading file must give its reference full marks and
its generated lab zero, and one batch of hostile lab-01 submissions, graded through the
command line with --jobs 2, must give each its own row with the right status and only
the points its honest code earns, while the honest submissions around them are graded
normally.
"""
import copy
import dataclasses
import csv
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cvcourse_utils import cli, grading
from cvcourse_utils.checking import preview
from cvcourse_utils.grading import grade_batch, sandbox, wire
from cvcourse_utils.grading.gradebook import csv_cell
from cvcourse_utils.grading.lab import available_labs, load_lab, load_lab_files
from cvcourse_utils.grading.submission import InvalidNotebook, feedback_names, merge, parse_notebook, printable
from cvcourse_utils.notebooks import cell_source, dumps_notebook, make_lab

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "grading_fixtures"
GRADED_LABS = available_labs(ROOT)


def fixture_lab():
    return load_lab_files("lab99", FIXTURES / "lab99_fixture.json", FIXTURES / "lab99_tasks.py", FIXTURES / "lab99_grading.py")


def cell_index(nb: dict, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def with_source(nb: dict, grade_id: str, source: str) -> dict:
    nb = copy.deepcopy(nb)
    nb["cells"][cell_index(nb, grade_id)]["source"] = source
    return nb


def write(folder: Path, name, nb_or_bytes) -> Path:
    data = nb_or_bytes if isinstance(nb_or_bytes, bytes) else dumps_notebook(nb_or_bytes).encode("utf-8")
    path = os.path.join(os.fsencode(folder), name if isinstance(name, bytes) else name.encode())
    with open(path, "wb") as f:
        f.write(data)
    return Path(os.fsdecode(path))


def read_csv(out: Path) -> list[dict]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def bubblewrap_works(tmp_path_factory):
    if os.environ.get("CVCOURSE_GRADER_SANDBOX", "auto") == "none":
        return False
    work = tmp_path_factory.mktemp("probe")
    return sandbox.prepare([ROOT], 1, work).kind == "bubblewrap"


# --------------------------------------------------------------------------- pieces (fast)


def test_merge_takes_solution_cells_by_grade_id_and_restores_everything_else():
    lab = fixture_lab()
    ref, stub = lab.reference, make_lab(lab.reference)
    sub = with_source(ref, "fx_double", "def double(x):\n    return 3 * x")
    sub = with_source(sub, "setup", "import numpy as np\nSCALE = 100.0  # an edited locked cell")
    sub["cells"] = [c for c in sub["cells"][::-1] if c["metadata"]["nbgrader"]["grade_id"] != "fx_count"]  # reordered, one deleted
    sub["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": "print('mine')"})
    dup = copy.deepcopy(sub["cells"][0])
    dup["metadata"]["nbgrader"]["grade_id"] = "fx_rows"
    dup["source"] = "second copy: ignored"
    sub["cells"].append(dup)
    merged = merge(ref, stub, sub)
    by_label = {c["label"]: c["source"] for c in merged.cells}
    assert [c["index"] for c in merged.cells] == sorted(c["index"] for c in merged.cells), "reference order"
    assert by_label["fx_double"] == "def double(x):\n    return 3 * x"
    assert "SCALE = 2.0" in by_label["setup"], "locked cells come from the reference"
    assert by_label["fx_rows"] == cell_source(ref["cells"][cell_index(ref, "fx_rows")]), "the first of two cells with one grade_id counts"
    assert "raise NotImplementedError()" in by_label["fx_count"], "a deleted task cell runs as its stub"
    assert not any(label.startswith("check_") for label in by_label), "check cells are not run"
    assert "print('mine')" not in "".join(by_label.values())
    notes = " ".join(merged.notes)
    assert "`fx_count` is missing" in notes and "locked cell(s) had been edited" in notes and "you added were not run" in notes


@pytest.mark.parametrize("data, problem", [
    (b"{ not json", "not valid JSON"),
    (json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [{"cells": []}], "metadata": {}}).encode(), "nbformat-4"),
    (b"[1, 2, 3]", "not an object"),
    (json.dumps({"nbformat": 4, "cells": "none"}).encode(), "no list of cells"),
    (b"\xff\xfe\x00garbage", "not valid JSON"),
])
def test_files_that_are_not_notebooks_are_invalid(data, problem):
    with pytest.raises(InvalidNotebook, match=problem):
        parse_notebook(data)


def test_wire_round_trip_of_plain_values_and_public_objects():
    import functools

    import torch

    from cvcourse_utils.labchecks import lab01

    value = (np.arange(6.0).reshape(2, 3), torch.ones(2, dtype=torch.int64), 3, 2.5, True, None, "text",
             {"k": [np.float32(1.5), (1, 2**80)]}, np.random.default_rng(7), functools.partial(lab01.random_image, height=2, width=3))
    writer = wire.Writer()
    blob = writer.dumps({"v": writer.encode(value)})
    header, arrays = wire.loads(blob)
    back = wire.decode(header["v"], arrays, objects=())
    assert np.array_equal(back[0], value[0]) and isinstance(back[1], torch.Tensor) and back[1].dtype == torch.int64
    assert back[2:7] == (3, 2.5, True, None, "text") and back[7]["k"][1] == (1, 2**80)
    assert back[8].random() == np.random.default_rng(7).random(), "a generator arrives in the same state"
    assert back[9](np.random.default_rng(0)).shape == (2, 3, 3)
    with pytest.raises(wire.WireError):  # the grader reading results accepts plain data only
        wire.decode(header["v"], arrays)


def _npz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _npy(array, allow_pickle=False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


@pytest.mark.parametrize("members, problem", [
    ({"a0.npy": _npy(np.array([{"evil": 1}], dtype=object), allow_pickle=True)}, "not allowed"),
    ({"a0.npy": b"\x93NUMPY\x01\x00" + b"v\x00" + b"{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000,), }".ljust(117) + b"\n"},
     "more than"),
    ({"../../evil.npy": _npy(np.zeros(1))}, "unexpected member"),
    ({"a0.npy": _npy(np.zeros(3))}, "no header"),
])
def test_wire_rejects_pickles_huge_arrays_and_odd_members(members, problem):
    with pytest.raises(wire.WireError, match=problem):
        wire.loads(_npz(members))
    with pytest.raises(wire.WireError):
        wire.loads(b"not a zip file")


def test_names_are_printable_safe_and_unique():
    odd = Path(os.fsdecode(b"caf\xe9.ipynb"))
    assert printable(odd) == "caf\\xe9.ipynb"
    names = feedback_names([Path("a/alice.ipynb"), Path("b/alice.ipynb"), Path("../../etc/passwd"), odd, Path(".ipynb"), Path("Alice.ipynb")])
    assert names == ["alice", "alice-2", "passwd", "caf_xe9", "submission", "Alice-3"]
    assert all("/" not in n and "\\" not in n and not n.startswith(".") for n in names)
    assert csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and csv_cell("alice.ipynb") == "alice.ipynb"


# --------------------------------------------------------------------------- grading runs (slow)


@pytest.mark.slow
def test_fixture_lab_reference_full_marks_stub_zero_and_partial(tmp_path):
    lab = fixture_lab()
    subs = tmp_path / "subs"
    subs.mkdir()
    write(subs, "1_reference.ipynb", lab.reference)
    write(subs, "2_generated.ipynb", make_lab(lab.reference))
    write(subs, "3_partial.ipynb", with_source(lab.reference, "fx_count", "def count_positive(x):\n    return int((x >= -0.5).sum())"))
    (subs / ".ipynb_checkpoints").mkdir()
    write(subs / ".ipynb_checkpoints", "1_reference-checkpoint.ipynb", lab.reference)
    grades = grade_batch(lab, [subs], tmp_path / "out", jobs=2, timeout=60, hidden=[ROOT], progress=lambda s: None)
    assert [(Path(g.file).name, g.status, g.score) for g in grades] == [
        ("1_reference.ipynb", "ok", 4.0), ("2_generated.ipynb", "ok", 0.0), ("3_partial.ipynb", "ok", 3.33)]
    counts = grades[2].tasks[2]
    assert [c.passed for c in counts.cases] == [False, False, True], "only the all-negative case passes"
    assert counts.points == 0.33, "a task earns its points in proportion to the cases it passes"
    rows = read_csv(tmp_path / "out")
    assert list(rows[0]) == ["student", "file", "score", "max_score", "status", "fx_double", "fx_rows", "fx_count"]
    assert [r["student"] for r in rows] == ["1_reference", "2_generated", "3_partial"]  # the file stem names the student
    assert [r["score"] for r in rows] == ["4", "0", "3.33"] and rows[1]["max_score"] == "4"
    feedback = json.loads((tmp_path / "out" / "feedback" / "3_partial.json").read_text())
    hidden = [c for t in feedback["tasks"] for c in t["cases"] if c["hidden"]]
    assert hidden and all(set(c) == {"name", "hidden", "passed"} for c in hidden), "hidden cases: name and result only"
    public = next(c for c in feedback["tasks"][2]["cases"] if not c["hidden"])
    assert "values differ" in public["message"], "public cases explain what is wrong"


def test_feedback_names_cells_as_a_student_sees_them_and_shows_no_absolute_path(tmp_path):
    lab = fixture_lab()
    subs = tmp_path / "class of 2026" / "submissions"
    subs.mkdir(parents=True)
    broken = with_source(lab.reference, "fx_count", "def count_positive(x):\n    return 0\n\n\n"
                         "open('/no/such/teacher/folder/data.txt')")
    write(subs, "alice.ipynb", broken)
    out = tmp_path / "out"
    grade_batch(lab, [subs / "alice.ipynb"], out, timeout=60, hidden=[ROOT], progress=lambda s: None)
    text = (out / "feedback" / "alice.md").read_text()
    assert text.startswith("# Feedback: lab99, alice.ipynb\n")  # the file's name, not the instructor's path
    assert "- The cell of task `fx_count` raised an error: `FileNotFoundError: [Errno 2] No such file or directory: " \
           "'data.txt' (line 5 of the cell of task 'fx_count')`" in text, text
    assert str(tmp_path) not in text and "/no/such/" not in text and "<cell" not in text and "Cell " not in text
    data = json.loads((out / "feedback" / "alice.json").read_text())
    assert data["file"] == "alice.ipynb" and data["cell_errors"][0]["cell"] == "the cell of task `fx_count`"
    assert str(tmp_path) not in json.dumps(data) and "/no/such/" not in json.dumps(data)
    assert read_csv(out)[0]["student"] == "alice" and read_csv(out)[0]["file"] == str(subs / "alice.ipynb")


def test_feedback_markdown_keeps_metric_names_from_becoming_mailto_links():
    from cvcourse_utils.grading.gradebook import feedback_markdown
    from cvcourse_utils.grading.grader import CaseResult, Grade, TaskResult
    from cvcourse_utils.lint import bare_at_names

    lab = fixture_lab()
    cases = [CaseResult("mAP@0.5 of one box", False, False, "mAP@0.5: expected 1.0, got 0.5"),
             CaseResult("AP@[.5:.95], many boxes", True, True)]
    g = Grade("/home/teacher/subs/bob.ipynb", "ok", 0.0, 4.0, [TaskResult("fx_double", "double", 0.0, 1.0, cases)],
              notes=["recall@1 was measured on /home/teacher/data/x.npy"])
    text = feedback_markdown(lab, g)
    outside_code = "\n".join(line for line in text.splitlines() if not line.startswith("  "))  # code blocks are indented
    assert not bare_at_names(outside_code), text
    assert "- ✗ `mAP@0.5` of one box" in text and "hidden case: `AP@[.5:.95]`, many boxes" in text
    assert "- `recall@1` was measured on x.npy" in text and "/home/teacher" not in text


def test_cells_other_than_tasks_are_named_by_their_number_after_run_all():
    from cvcourse_utils.grading.grader import cell_names

    lab = fixture_lab()
    names = cell_names(lab.reference, {t.name for t in lab.tasks})
    code = [i for i, c in enumerate(lab.reference["cells"]) if c["cell_type"] == "code"]
    assert names[code[0]] == "cell [1]" and set(names) == set(code)  # markdown cells are not numbered
    assert names[cell_index(lab.reference, "fx_rows")] == "the cell of task `fx_rows`"
    check = cell_index(lab.reference, "check_fx_rows")
    assert names[check] == f"cell [{code.index(check) + 1}]"


def test_self_test_warns_when_a_stub_earns_points_or_the_solution_falls_short(tmp_path, capsys):
    lab = fixture_lab()
    ref = lab.reference
    # A locked task cell: the grader restores it from the solution, so the stub "earns" its points.
    locked = json.loads(json.dumps(ref))
    locked["cells"][cell_index(locked, "fx_double")]["metadata"]["nbgrader"].update(locked=True, solution=False)
    bad = dataclasses.replace(lab, reference=locked)
    problems = grading.self_test(bad, jobs=2, timeout=120)
    out = capsys.readouterr().out
    assert any("generated lab of lab99 scores" in p and "fx_double" in p for p in problems), problems
    assert "FAILED" in out and "WARNING: the generated lab" in out
    # A solution that is wrong on one task falls short of full marks.
    wrong = with_source(ref, "fx_double", "def double(x):\n    return 3 * x")
    problems = grading.self_test(dataclasses.replace(lab, reference=wrong), jobs=2, timeout=120)
    assert any("the solution of lab99 scores" in p and "fx_double" in p for p in problems), problems


def lab01_hostile_batch(ref: dict, out: Path) -> dict:
    """Name -> (notebook JSON or raw bytes, expected status, expected per-task points relative to full marks)."""
    to_grey = cell_source(ref["cells"][cell_index(ref, "to_grey")])
    wrong_grey = "def to_grey(img):\n    return img.mean(axis=-1)\n"
    stub_grey = "def to_grey(img):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    steal = stub_grey + f"""
import glob, json, os
ROOT = {str(ROOT)!r}
found, here = [], os.getcwd()
while True:  # walk up from the working folder, then try where the course lives on the grader's disk
    found += glob.glob(os.path.join(here, "solutions", "*.ipynb")) + glob.glob(os.path.join(here, "*", "solutions", "*.ipynb"))
    if os.path.dirname(here) == here:
        break
    here = os.path.dirname(here)
found += glob.glob(ROOT + "/solutions/*.ipynb") + glob.glob(ROOT + "/solutions/grading/*.py") + glob.glob("/proc/1/root" + ROOT + "/solutions/*.ipynb")
for path in found:
    try:
        for cell in json.load(open(path))["cells"]:
            if "def to_grey" in "".join(cell["source"]):
                exec("".join(cell["source"]), globals())
    except Exception:
        pass
print("FOUND", len(found))
"""
    tamper = wrong_grey + """
try:
    ip = get_ipython()
except NameError:
    from IPython import get_ipython
    ip = get_ipython()
ip.input_transformers_cleanup.append(lambda lines: [])
ip.input_transformers_post.append(lambda lines: [])
"""
    fake_checks = """
import builtins, numpy as np, numpy.testing, torch
import cvcourse_utils, cvcourse_utils.checking as checking

class AlwaysEqual(np.ndarray):
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False

def to_grey(img):
    return np.zeros(img.shape[:-1]).view(AlwaysEqual)

def check(*args, **kwargs):
    print("All cases pass.")

cvcourse_utils.check = checking.check = check
checking.compare_result = lambda task, name, actual, args: checking.CaseResult(name, True)
checking.close = lambda *a, **k: (lambda *args, **kw: None)
np.allclose = np.array_equal = torch.allclose = torch.equal = lambda *a, **k: True
np.testing.assert_allclose = np.testing.assert_array_equal = lambda *a, **k: None
"""
    writes = to_grey + f"""
import os
OUT = {str(out)!r}
for path in (OUT + "/grades.csv", OUT + "/feedback/honest_full.md", OUT + "/pwned.txt"):
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("file,score,max_score,status\\nwrites_output.ipynb,100,17,ok\\n")
    except OSError as err:
        print("write failed:", err)
print("score: 100")
print("Score: 100 / 100")
"""
    fork_bomb = to_grey + "\nimport os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    crop_rounding_up = ("def center_crop(img, height, width):\n    top = (img.shape[0] - height + 1) // 2\n"
                        "    left = (img.shape[1] - width + 1) // 2\n    return img[top:top + height, left:left + width]\n")
    reordered = copy.deepcopy(ref)
    reordered["cells"] = [c for c in reordered["cells"][::-1] if c["metadata"]["nbgrader"].get("grade_id") != "setup"]
    for cell in reordered["cells"]:
        if cell["cell_type"] == "code" and not cell["metadata"]["nbgrader"].get("solution"):
            cell["source"] = "raise SystemExit('locked cell edited')"
    deleted = copy.deepcopy(ref)
    deleted["cells"].pop(cell_index(ref, "to_grey"))
    nbformat3 = json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": []}]}).encode()
    ok, zero = "ok", {}
    return {
        "honest_full.ipynb": (ref, ok, zero),
        "honest_partial.ipynb": (with_source(with_source(ref, "to_grey", wrong_grey), "center_crop", crop_rounding_up), ok,
                                 {"to_grey": 0, "center_crop": "partial"}),
        "tamper_transformers.ipynb": (with_source(ref, "to_grey", tamper), ok, {"to_grey": 0}),
        "fake_checks.ipynb": (with_source(ref, "to_grey", fake_checks), ok, {"to_grey": 0}),
        "steal_solutions.ipynb": (with_source(ref, "to_grey", steal), ok, {"to_grey": 0}),
        "writes_output.ipynb": (with_source(ref, "to_grey", writes), ok, zero),
        "infinite_loop.ipynb": (with_source(ref, "to_grey", to_grey + "\nwhile True:\n    pass\n"), "timeout", None),
        "huge_allocation.ipynb": (with_source(ref, "to_grey", to_grey + "\nimport numpy as np\nbig = np.zeros(50 * 2**30 // 8)\n"), ok, zero),
        "fork_bomb.ipynb": (with_source(ref, "to_grey", fork_bomb), "timeout", None),
        "sys_exit.ipynb": (with_source(with_source(ref, "to_grey", to_grey + "\nimport sys\nsys.exit(0)\n"), "center_crop",
                                       "def center_crop(img, height, width):\n    raise SystemExit(3)\n"), ok, {"center_crop": 0}),
        "os_exit.ipynb": (with_source(ref, "to_grey", to_grey + "\nimport os\nos._exit(0)\n"), "error", None),
        "kill_self.ipynb": (with_source(ref, "to_grey", to_grey + "\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"), "killed", None),
        "print_flood.ipynb": (with_source(ref, "to_grey", to_grey + "\nfor _ in range(100_000):\n    print('x' * 999)\n"), ok, zero),
        "not_json.ipynb": (b"{ this is not a notebook", "invalid", None),
        "nbformat3.ipynb": (nbformat3, "invalid", None),
        "reordered_and_edited.ipynb": (reordered, ok, zero),
        "deleted_task_cell.ipynb": (deleted, ok, {"to_grey": 0}),
        b"caf\xe9_non_utf8.ipynb": (ref, ok, zero),
    }


@pytest.mark.slow
@pytest.mark.skipif("lab01" not in GRADED_LABS, reason="needs solutions/lab01_*.ipynb and solutions/grading/lab01.py")
def test_hostile_batch_gets_right_statuses_and_only_honest_points(tmp_path, bubblewrap_works, capsys):
    if not bubblewrap_works:
        pytest.skip("bubblewrap is not usable here: the hostile batch needs the sandbox (the fallback cannot hide the course)")
    lab = load_lab("lab01", ROOT)
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    batch = lab01_hostile_batch(lab.reference, out)
    paths = [write(subs, name, nb) for name, (nb, _, _) in batch.items()]
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}
    code = cli.main(["grade", "lab01", *map(str, paths), "--out", str(out), "--jobs", "2", "--timeout", "30", "--root", str(ROOT)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in paths} == before, "grading never modifies a submission"

    rows = read_csv(out)
    assert [r["file"] for r in rows] == [printable(p) for p in paths], "one row per submission, in input order"
    full = lab.points
    for (name, (_, status, expected)), row in zip(batch.items(), rows):
        label = f"{name!r}: {row}\n" + (out / "logs" / f"{feedback_names([Path(os.fsdecode(name))])[0]}.txt").read_text()[-1500:]
        assert row["status"] == status, label
        for task in lab.tasks:
            earned = float(row[task.name])
            want = 0.0 if expected is None else expected.get(task.name, full[task.name])
            if want == "partial":
                assert 0 < earned < full[task.name], label
            else:
                assert earned == want, f"{task.name}: {label}"
    logs = out / "logs"
    assert "FOUND 0" in (logs / "steal_solutions.txt").read_text(), "the sandbox shows neither solutions nor hidden cases"
    assert "score: 100" in (logs / "writes_output.txt").read_text()
    assert not (out / "pwned.txt").exists() and "writes_output.ipynb,100" not in (out / "grades.csv").read_text()
    assert "# Feedback: lab01" in (out / "feedback" / "honest_full.md").read_text()
    assert (logs / "print_flood.txt").stat().st_size < 20_000
    assert "more than 1 MB" in (out / "feedback" / "print_flood.md").read_text()
    memory = json.loads((out / "feedback" / "huge_allocation.json").read_text())
    assert any("MemoryError" in e["error"] for e in memory["cell_errors"]), memory["cell_errors"]
    sys_exit = json.loads((out / "feedback" / "sys_exit.json").read_text())
    assert any("SystemExit" in e["error"] for e in sys_exit["cell_errors"])
    assert "missing from the submission" in (out / "feedback" / "deleted_task_cell.md").read_text()
    assert (out / "feedback" / "caf_xe9_non_utf8.md").exists()
    for name in ("honest_full", "fork_bomb", "not_json"):
        report = json.loads((out / "feedback" / f"{name}.json").read_text())
        assert report["sandbox"]["kind"] == "bubblewrap"

    # hidden cases: name and result only, never their expected values
    partial = (out / "feedback" / "honest_partial.md").read_text()
    report = json.loads((out / "feedback" / "honest_partial.json").read_text())
    grey = next(t for t in report["tasks"] if t["name"] == "to_grey")
    assert any(c["hidden"] and not c["passed"] for c in grey["cases"])
    assert all("message" not in c for t in report["tasks"] for c in t["cases"] if c["hidden"])
    task = next(t for t in lab.tasks if t.name == "to_grey")
    for case in lab.hidden["to_grey"]:
        expected = preview(task.expected(case.args()))
        assert expected not in partial and expected not in json.dumps(report), f"hidden expected values leaked: {expected}"
    assert "hidden case: " + lab.hidden["to_grey"][0].name in partial


@pytest.mark.slow
@pytest.mark.skipif("lab01" not in GRADED_LABS, reason="needs lab01")
def test_fallback_without_bubblewrap_grades_the_reference_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CVCOURSE_GRADER_SANDBOX", "none")
    lab = load_lab("lab01", ROOT)
    path = write(tmp_path, "reference.ipynb", lab.reference)
    out = tmp_path / "out"
    assert cli.main(["grade", "lab01", str(path), "--out", str(out), "--timeout", "300", "--root", str(ROOT)]) == 0
    assert "fallback" in capsys.readouterr().out
    row, = read_csv(out)
    assert row["status"] == "ok" and float(row["score"]) == lab.max_score
    report = json.loads((out / "feedback" / "reference.json").read_text())
    assert report["sandbox"]["kind"] == "fallback" and "fallback" in report["sandbox"]["description"]
    assert "fallback" in (out / "feedback" / "reference.md").read_text()


# --------------------------------------------------------------------------- the grader's own errors


def test_unknown_lab_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["grade", "lab77", str(tmp_path), "--out", str(tmp_path / "out"), "--root", str(ROOT)]) == 2
    err = capsys.readouterr().err
    assert "unknown lab 'lab77'" in err and all(lab in err for lab in GRADED_LABS)
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif("lab01" not in GRADED_LABS, reason="needs lab01")
def test_unwritable_output_folder_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("in the way")
    assert cli.main(["grade", "lab01", str(tmp_path), "--out", str(blocker / "out"), "--root", str(ROOT)]) == 2
    assert "cannot write the gradebook" in capsys.readouterr().err


@pytest.mark.skipif("lab01" not in GRADED_LABS, reason="needs lab01")
def test_demanding_bubblewrap_where_it_is_missing_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CVCOURSE_GRADER_SANDBOX", "bwrap")
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    path = write(tmp_path, "x.ipynb", b"{}")
    assert cli.main(["grade", "lab01", str(path), "--out", str(tmp_path / "out"), "--root", str(ROOT)]) == 2
    assert "bubblewrap (bwrap) is not installed" in capsys.readouterr().err


@pytest.mark.slow
def test_a_vectorised_task_that_loops_earns_nothing_however_right(tmp_path):
    lab = load_lab("lab01", ROOT)
    looping = with_source(lab.reference, "pairwise_distances_vectorised",
                          "def pairwise_distances_vectorised(a, b):\n    return pairwise_distances_loops(a, b)\n")
    comprehension = with_source(lab.reference, "pairwise_distances_vectorised",
                                "def pairwise_distances_vectorised(a, b):\n"
                                "    return np.array([[np.sqrt(((x - y) ** 2).sum()) for y in b] for x in a])\n")
    subs = tmp_path / "subs"
    subs.mkdir()
    files = [write(subs, "helper_loop.ipynb", looping), write(subs, "comprehension.ipynb", comprehension)]
    out = tmp_path / "out"
    grades = grade_batch(lab, files, out, jobs=2, timeout=300, hidden=[ROOT], progress=lambda _: None)
    for g, why in zip(grades, ("a for loop (line 5 of pairwise_distances_loops)", "a list comprehension (line 2 of")):
        assert g.status == "ok" and g.score == lab.max_score - lab.points["pairwise_distances_vectorised"], g
        task = next(t for t in g.tasks if t.name == "pairwise_distances_vectorised")
        assert task.points == 0 and all(c.passed for c in task.cases if c.name != "vectorised: no Python loops")
        assert why in task.cases[-1].message, task.cases[-1].message
    feedback = (out / "feedback" / "helper_loop.md").read_text()
    assert "✗ vectorised: no Python loops" in feedback and "must be vectorised" in feedback


# --------------------------------------------------------------------------- one submission never changes another's grade


def _fallback_attack_batch(ref: dict) -> dict:
    """Name -> (notebook, expected status): attacks on the neighbours, mixed with copies of the solution."""
    to_grey = cell_source(ref["cells"][cell_index(ref, "to_grey")])
    kill_all = "def to_grey(img):\n    import os, signal\n    os.kill(-1, signal.SIGKILL)\n    return img.mean(-1)\n"
    fork_bomb = to_grey + "\nimport os, time\nend = time.time() + 15\nwhile time.time() < end:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    vandal = to_grey + ("\nimport glob, os\nfor path in glob.glob('/tmp/**/*.ipynb', recursive=True) + glob.glob('/work/**/*.ipynb', recursive=True):\n"
                        "    try:\n        open(path, 'w').write('pwned')\n    except OSError:\n        pass\n")
    every_fd = to_grey + "\nimport os\nfor fd in range(3, 256):\n    try:\n        os.write(fd, b'garbage')\n    except OSError:\n        pass\n"
    return {
        "honest_1.ipynb": (ref, "ok"),
        "kill_all.ipynb": (with_source(ref, "to_grey", kill_all), None),  # killed in fallback; in bubblewrap it kills only its namespace
        "honest_2.ipynb": (ref, "ok"),
        "fork_bomb.ipynb": (with_source(ref, "to_grey", fork_bomb), None),
        "honest_3.ipynb": (ref, "ok"),
        "vandal.ipynb": (with_source(ref, "to_grey", vandal), "ok"),
        "every_fd.ipynb": (with_source(ref, "to_grey", every_fd), "ok"),
        "kill_self.ipynb": (with_source(ref, "to_grey", to_grey + "\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"),
                            "killed"),
        "nan_results.ipynb": (with_source(ref, "to_grey", "import numpy as np\ndef to_grey(img):\n    return np.full(img.shape[:-1], np.nan)\n"),
                              "ok"),
        "deep_json.ipynb": (b"[" * 200_000 + b"]" * 200_000, "invalid"),
        "huge_150mb.ipynb": (b'{"nbformat": 4, "cells": [], "x": "' + b"a" * (150 << 20) + b'"}', "invalid"),
        "honest_4.ipynb": (ref, "ok"),
    }


@pytest.mark.slow
@pytest.mark.skipif("lab01" not in GRADED_LABS, reason="needs lab01")
@pytest.mark.parametrize("mode", ["bwrap", "none"])
def test_attacks_on_neighbours_change_no_other_grade(tmp_path, monkeypatch, mode, bubblewrap_works):
    if mode == "bwrap" and not bubblewrap_works:
        pytest.skip("bubblewrap is not usable here")
    monkeypatch.setenv("CVCOURSE_GRADER_SANDBOX", mode)
    lab = load_lab("lab01", ROOT)
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    batch = _fallback_attack_batch(lab.reference)
    paths = [write(subs, name, nb) for name, (nb, _) in batch.items()]
    before = {p: p.read_bytes() for p in paths}
    assert cli.main(["grade", "lab01", *map(str, paths), "--out", str(out), "--jobs", "2", "--timeout", "40",
                     "--root", str(ROOT)]) == 0
    assert {p: p.read_bytes() for p in paths} == before, "no submission file may change"
    rows = {r["file"]: r for r in read_csv(out)}
    for (name, (_, status)), path in zip(batch.items(), paths):
        row = rows[str(path)]
        if name.startswith("honest"):
            assert row["status"] == "ok" and float(row["score"]) == lab.max_score, (name, row)
        elif status is not None:
            assert row["status"] == status, (name, row)
    nan_row = rows[str(paths[list(batch).index("nan_results.ipynb")])]
    assert float(nan_row["to_grey"]) == 0 and float(nan_row["score"]) == lab.max_score - lab.points["to_grey"], nan_row
    feedback = json.loads((out / "feedback" / "kill_self.json").read_text())
    assert any("Re-graded alone after the batch: the first attempt ended 'killed'" in n for n in feedback["notes"]), feedback["notes"]


@pytest.mark.slow
@pytest.mark.skipif("lab01" not in GRADED_LABS, reason="needs lab01")
def test_a_killed_batch_resumes_without_grading_again_and_ends_the_same(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    lab = load_lab("lab01", ROOT)
    subs = tmp_path / "subs"
    subs.mkdir()
    wrong = with_source(lab.reference, "to_grey", "def to_grey(img):\n    return img.mean(axis=-1)\n")
    paths = [write(subs, f"student_{i}.ipynb", lab.reference if i % 2 else wrong) for i in range(3)]
    command = [sys.executable, "-m", "cvcourse_utils.cli", "grade", "lab01", *map(str, paths), "--jobs", "1",
               "--timeout", "120", "--root", str(ROOT)]
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    subprocess.run([*command, "--out", str(whole)], check=True, capture_output=True, timeout=900)
    proc = subprocess.Popen([*command, "--out", str(broken)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 600
    while len(list((broken / "rows").glob("*.json"))) < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # mid-batch: a row on disk, the rest not
    proc.wait()
    done = sorted(p.name for p in (broken / "rows").glob("*.json"))
    assert 1 <= len(done) < 3, done
    in_csv = {Path(row["file"]).stem for row in read_csv(broken)}
    assert {Path(name).stem for name in done} <= in_csv, "grades.csv holds every row graded so far"
    resumed = subprocess.run([*command, "--out", str(broken), "--resume"], check=True, capture_output=True, text=True,
                             timeout=900)
    assert f"Resuming: {len(done)} of 3 submission(s) were graded before and are kept." in resumed.stdout
    assert resumed.stdout.count("] ") == 3 - len(done), resumed.stdout
    assert (broken / "grades.csv").read_text() == (whole / "grades.csv").read_text()


@pytest.mark.skipif(not os.path.exists("/proc/self/uid_map"), reason="Linux namespaces only")
def test_the_launchers_own_namespaces_keep_kill_minus_one_inside(tmp_path):
    """What an ordinary user's fallback uses: the child is process 1 of its own PID namespace."""
    import subprocess
    import sys

    from cvcourse_utils.grading.sandbox import _launcher

    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        # the guard: signal everything only where this process is PID 1 of a namespace of its own
        attack = ("import os, signal, sys\nif os.getpid() != 1:\n    sys.exit(3)\n"
                  "inner = os.fork() or os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(30)'])\n"
                  "os.kill(-1, signal.SIGKILL)\nos.waitpid(inner, 0)\nprint('still here')\nsys.exit(7)\n")
        probe = subprocess.run([*_launcher({"userns": True}), sys.executable, "-I", "-c", attack],
                               capture_output=True, text=True, timeout=60)
        if "unshare" in probe.stderr:
            pytest.skip(f"this kernel refuses user namespaces here: {probe.stderr.strip()}")
        assert probe.returncode == 7 and "still here" in probe.stdout, (probe.returncode, probe.stderr)
        assert bystander.poll() is None, "kill(-1) inside the namespace reached a process outside it"
    finally:
        bystander.kill()


def test_a_lab_sets_its_own_grading_timeout(tmp_path):
    from cvcourse_utils.grading.lab import DEFAULT_TIMEOUT, LabError, load_lab, load_lab_files

    root = Path(__file__).resolve().parents[1]
    assert load_lab("lab10", root).timeout == 300 and load_lab("lab01", root).timeout == DEFAULT_TIMEOUT
    bad = tmp_path / "grading.py"
    bad.write_text((FIXTURES / "lab99_grading.py").read_text() + "\nTIMEOUT = 0\n")
    with pytest.raises(LabError, match="TIMEOUT must be a positive number"):
        load_lab_files("lab99", FIXTURES / "lab99_fixture.json", FIXTURES / "lab99_tasks.py", bad)
