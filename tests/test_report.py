"""`cvcourse report`: the class report, its similarity flags, the LMS exports, the progress bar and bad input.

One synthetic class of 24 lab99 notebooks (tests/grading_fixtures/lab99_class.py: known mistakes,
three independent correct solutions and three planted copies of them) is graded for real once per
module (about 30 CPU-seconds: 24 small children) and reported; the other tests write a gradebook
directly (``fake_gradebook``), which takes well under a second.
"""
from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import re
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from cvcourse_utils import cli
from cvcourse_utils.grading import grade_batch
from cvcourse_utils.grading.report import build_report
from cvcourse_utils.grading.results import read_gradebook
from cvcourse_utils.grading.similarity import THRESHOLD, compare, normalised_tokens

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("lab99_class", ROOT / "tests" / "grading_fixtures" / "lab99_class.py")
klass = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(klass)
N = len(klass.STUDENTS)


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """The class's notebooks graded by the real grader (2 jobs), with what it printed and its progress bar."""
    lab = klass.written_lab()
    root = tmp_path_factory.mktemp("class")
    paths = klass.build_class(lab, root / "subs")
    lines, bar = [], io.StringIO()
    with contextlib.redirect_stderr(bar):
        grade_batch(lab, paths, root / "grades", jobs=2, timeout=60, hidden=[ROOT], progress=lines.append, bar=True)
    return lab, paths, root / "grades", lines, bar.getvalue()


@pytest.fixture
def small_gradebook(tmp_path):
    """Six notebooks of the class with a gradebook written directly (no grading): for the error cases."""
    lab = klass.written_lab()
    paths = klass.build_class(lab, tmp_path / "subs")[:6]
    klass.fake_gradebook(lab, paths, tmp_path / "grades")
    return lab, paths, tmp_path / "grades"


# --------------------------------------------------------------------------- a real batch, reported


@pytest.mark.slow
def test_grading_shows_a_progress_bar_and_records_the_batch(graded_class):
    lab, paths, out, lines, bar = graded_class
    assert [line for line in lines if line.startswith("[")][-1].startswith("[re-graded 1/1] "), "the old lines stay"
    assert sum(bool(re.match(rf"\[\d+/{N}\] ", line)) for line in lines) == N
    assert f"Grading lab99: {N}/{N}" in bar and "ETA" in bar and ("notebook/s" in bar or "s/notebook" in bar), bar[-500:]
    batch = json.loads((out / "batch.json").read_text())
    assert batch["lab"] == "lab99" and batch["jobs"] == 2 and batch["timeout"] == 60 and batch["finished"]
    assert batch["wall_seconds"] > 0 and batch["graded"] == N and batch["regraded"] == 1
    assert batch["submissions"]["s13_indep_a"] == str(paths[12].absolute())
    assert "YOUR CODE HERE" in batch["stub_cells"]["fx_double"] and "YOUR ANSWER HERE" in batch["stub_cells"]["q1"]


@pytest.mark.slow
def test_the_report_of_a_graded_class(graded_class, capsys):
    lab, paths, out, _, _ = graded_class
    assert cli.main(["report", str(out)]) == 0
    assert "Wrote" in capsys.readouterr().out
    page = (out / "report.html").read_text(encoding="utf-8")
    report = build_report(read_gradebook(out))

    # per task, the figures are those of grades.csv
    rows = list(csv.DictReader(open(out / "grades.csv", newline="", encoding="utf-8")))
    assert report.scores.count == N and report.scores.mean == pytest.approx(np.mean([float(r["score"]) for r in rows]))
    assert report.scores.median == pytest.approx(np.median([float(r["score"]) for r in rows]))
    for task in report.tasks:
        points = [float(r[task.name]) for r in rows]
        assert task.mean_points == pytest.approx(np.mean(points)), task.name
        assert task.full_marks == sum(p == lab.points[task.name] for p in points), task.name
        assert f"<code>{task.name}</code></td><td class=\"n\">{lab.points[task.name]:g}</td><td class=\"n\">{np.mean(points):.2f}" in page
    assert report.statuses == {"ok": N - 2, "error": 1, "timeout": 0, "invalid": 1, "killed": 0}
    double = next(t for t in report.tasks if t.name == "fx_double")
    assert double.ran == N - 2 and ("3 numbers", False, 2) in double.failed_cases  # the stub and the triple
    assert any("values differ" in m for m, _ in double.messages)

    # written answers: read from the notebooks, which the gradebook does not hold
    q1, = report.written
    assert (q1.answered, q1.blank, q1.missing) == (klass.ANSWERED, klass.LEFT_AS_GIVEN, 1)
    assert "does not record written answers" in page and "s11_invalid.ipynb" in page  # the damaged one is named

    # time: the batch's wall time, the slowest, the re-graded one
    assert re.search(rf"[\d.]+ s wall-clock for {N} notebook\(s\) \(0 kept from an earlier run, 1 re-graded\) with 2 job", page)
    assert [r.stem for r, _ in report.regraded] == ["s10_exits"] and "Re-graded alone after the batch" in page

    # similarity: the planted copies and nothing else
    sim = report.similarity
    flagged = {tuple(sorted((p.a, p.b))) for p in sim.flagged}
    assert flagged == klass.COPIED_PAIRS
    scores = {tuple(sorted((p.a, p.b))): p.score for p in sim.pairs}
    assert all(scores[pair] > 0.9 for pair in klass.COPIED_PAIRS), scores
    independent = [s for pair, s in scores.items() if pair not in klass.COPIED_PAIRS]
    assert max(independent) < THRESHOLD / 2, sorted(independent)[-5:]
    assert all(scores.get(pair, 0) < 0.1 for pair in combinations(klass.INDEPENDENT, 2))
    assert page.count("<details>") == 3 and "s16_copy_a_renamed" in page and 'class="match"' in page

    # one self-contained page: figures inline, no script, nothing to fetch
    assert page.count('src="data:image/png;base64,') == 3
    assert "<script" not in page and not re.search(r"""(src|href)=["']?(https?:)?//""", page)


@pytest.mark.slow
def test_exports_parse_as_canvas_and_moodle_expect(graded_class, tmp_path, capsys):
    lab, paths, out, _, _ = graded_class
    assert cli.main(["report", str(out), "--lms", "canvas", "--lms", "moodle", "--lms", "csv", "--force"]) == 0
    scores = {Path(r["file"]).stem: r["score"] for r in csv.DictReader(open(out / "grades.csv", newline="", encoding="utf-8"))}
    canvas = read_rows(out / "canvas.csv")
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "lab99"]
    assert canvas[1] == ["Points Possible", "", "", "", "", "4"]
    assert {r[3]: r[5] for r in canvas[2:]} == scores and all(r[0] == r[3] for r in canvas[2:])
    moodle = read_rows(out / "moodle.csv")
    assert moodle[0] == ["Username", "ID number", "Email address", "lab99"] and {r[0]: r[3] for r in moodle[1:]} == scores
    cases = list(csv.DictReader(open(out / "cases.csv", newline="", encoding="utf-8")))
    assert list(cases[0]) == ["student", "task", "case", "hidden", "passed"] and len(cases) == N * 8
    shifted = [(c["case"], c["passed"]) for c in cases if c["student"] == "s07_count_shifted" and c["task"] == "fx_count"]
    assert shifted == [("10 values", "false"), ("hidden 50 values", "false"), ("hidden all negative", "true")]

    # a roster gives the LMS's own identifiers; one that misses students is refused
    roster = tmp_path / "roster.csv"
    with open(roster, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", "Student", "ID", "SIS User ID", "SIS Login ID", "Section", "ID number", "Email address"])
        for i, stem in enumerate(scores):
            writer.writerow([stem, f"Student {i}", 1000 + i, f"U{i}", f"login{i}", "A", f"N{i}", f"s{i}@example.edu"])
    assert cli.main(["report", str(out), "--lms", "canvas", "--lms", "moodle", "--roster", str(roster),
                     "--assignment", "Lab 99", "--force"]) == 0
    canvas = read_rows(out / "canvas.csv")
    assert canvas[0][-1] == "Lab 99" and canvas[2][:5] == ["Student 0", "1000", "U0", "login0", "A"]
    assert read_rows(out / "moodle.csv")[1][:3] == ["s01_full", "N0", "s0@example.edu"]
    before = (out / "canvas.csv").read_text()
    short = tmp_path / "short.csv"
    short.write_text("\n".join(roster.read_text().splitlines()[:-2]) + "\n")
    capsys.readouterr()
    assert cli.main(["report", str(out), "--lms", "canvas", "--roster", str(short), "--force"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{short}: the roster misses 2 graded submission(s): s23_answer_deleted, s24_rows_deleted" in err
    assert (out / "canvas.csv").read_text() == before, "nothing is written on an error"


# --------------------------------------------------------------------------- similarity (fast)


def test_normalising_removes_names_comments_layout_literals_and_the_labs_lines():
    stub = 'def f(x):\n    """Doc."""\n    # YOUR CODE HERE\n    raise NotImplementedError()'
    mine = 'def f(x):\n    """Doc."""\n    total = np.sum(x, axis=1)  # sums\n    return x / (total + 1e-9)\n'
    renamed = 'def f(x):\n    """Doc."""\n\n    # the sums\n    s = np.sum(x,axis = 1)\n    return x/(s+0.5)\n'
    tokens = [t for t, _ in normalised_tokens(mine, {line.strip() for line in stub.splitlines()})]
    assert tokens == ["N", "=", "N", ".", "sum", "(", "N", ",", "axis", "=", "L", ")", ";",
                      "return", "N", "/", "(", "N", "+", "L", ")", ";"]
    assert [t for t, _ in normalised_tokens(renamed, {line.strip() for line in stub.splitlines()})] == tokens
    assert normalised_tokens(stub, {line.strip() for line in stub.splitlines()}) == [], "the lab's own lines count for nothing"
    broken = [t for t, _ in normalised_tokens("def f(x:\n    return x.sum(\n")]
    assert "sum" in broken, "code that does not parse is still compared, word by word"


def test_similarity_flags_the_planted_copies_and_not_the_independent_solutions(tmp_path):
    lab = klass.written_lab()
    paths = klass.build_class(lab, tmp_path / "subs")
    klass.fake_gradebook(lab, paths, tmp_path / "grades")
    report = build_report(read_gradebook(tmp_path / "grades"))
    assert {tuple(sorted((p.a, p.b))) for p in report.similarity.flagged} == klass.COPIED_PAIRS
    independent = [p.score for p in report.similarity.pairs if tuple(sorted((p.a, p.b))) not in klass.COPIED_PAIRS]
    assert 0 < max(independent) < THRESHOLD / 2, "alike in places, far from the threshold"
    task_cells = {stem: {gid: c for gid, c in cells.items() if gid != "q1"} for stem, cells in report.cells.items()}
    assert {(p.a, p.b) for p in compare(task_cells, {}, threshold=0.99).flagged} == klass.COPIED_PAIRS, \
        "without the stub's lines left out, the copies are still found (its lines are common code)"


# --------------------------------------------------------------------------- bad input (fast)


def _error(capsys, *argv) -> str:
    assert cli.main(["report", *map(str, argv)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_bad_input_is_one_clear_line_and_nothing_is_overwritten(small_gradebook, tmp_path, capsys):
    _, paths, out = small_gradebook
    assert "no gradebook here (no grades.csv)" in _error(capsys, tmp_path / "subs")
    assert "no such folder" in _error(capsys, tmp_path / "nowhere")

    good = (out / "grades.csv").read_text()
    lines = good.splitlines()
    for damaged, message in [
        (lines[:2] + [lines[2] + ",x"] + lines[3:], "grades.csv line 3: 9 values, expected 8"),
        (["name,points"] + lines[1:], "grades.csv line 1: expected the columns student, file, score, max_score, status"),
        (lines[:1], "grades.csv: no submissions in it"),
    ]:
        (out / "grades.csv").write_text("\n".join(damaged) + "\n")
        assert message in _error(capsys, out)
    cells = lines[2].split(",")
    cells[0] = "../elsewhere"
    (out / "grades.csv").write_text("\n".join(lines[:2] + [",".join(cells)] + lines[3:]) + "\n")
    assert "grades.csv line 3: the student '../elsewhere' is not a file stem" in _error(capsys, out)
    cells = lines[2].split(",")
    cells[2] = "lots"
    (out / "grades.csv").write_text("\n".join(lines[:2] + [",".join(cells)] + lines[3:]) + "\n")
    assert "grades.csv line 3: score 'lots' is not a number" in _error(capsys, out)
    cells = lines[2].split(",")
    cells[4] = "great"
    (out / "grades.csv").write_text("\n".join(lines[:2] + [",".join(cells)] + lines[3:]) + "\n")
    assert "grades.csv line 3: status 'great' is not one of ok, error, timeout, invalid, killed" in _error(capsys, out)
    (out / "grades.csv").write_bytes(b"\xff\xfe garbage")
    assert "grades.csv: not UTF-8 text" in _error(capsys, out)
    (out / "grades.csv").write_text(good)

    row = out / "rows" / "s02_full.json"
    saved = row.read_text()
    row.write_text(saved[:40])
    assert f"{row}: not a readable grade row (JSONDecodeError" in _error(capsys, out)
    row.unlink()
    assert f"{row}: missing (" in _error(capsys, out)
    row.write_text(json.dumps({"grade": {"file": "someone_else.ipynb"}}))
    assert f"{row}: not a grade row as cvcourse grade writes it" in _error(capsys, out)
    row.write_text(saved)

    assert "--roster gives the students' LMS identifiers" in _error(capsys, out, "--roster", tmp_path / "r.csv")
    (tmp_path / "r.csv").write_text("name,ID\nalice,1\n")
    assert "the roster needs a 'submission' column" in _error(capsys, out, "--lms", "canvas", "--roster", tmp_path / "r.csv")
    assert "--threshold must be" in _error(capsys, out, "--threshold", "1.5")

    assert cli.main(["report", str(out)]) == 0
    first = (out / "report.html").read_text()
    assert "report.html exists; give --force to replace it" in _error(capsys, out)
    assert (out / "report.html").read_text() == first
    assert cli.main(["report", str(out), "--force"]) == 0


def test_a_gradebook_from_before_batch_json_is_still_reported(small_gradebook, capsys):
    _, paths, out = small_gradebook
    (out / "batch.json").unlink()
    assert cli.main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert "Not recorded (this gradebook has no batch.json)" in page
    assert "6 notebook(s) compared" in page, "the notebooks are found where grades.csv says they were graded"


def test_grades_csv_names_students_by_stem_and_an_older_gradebook_still_reads(small_gradebook):
    from cvcourse_utils.grading.results import read_gradebook

    _, paths, out = small_gradebook
    rows = list(csv.DictReader(open(out / "grades.csv", newline="", encoding="utf-8")))
    assert [r["student"] for r in rows] == [p.stem for p in paths] and [r["file"] for r in rows] == [str(p) for p in paths]
    book = read_gradebook(out)
    assert [r.stem for r in book.rows] == [p.stem for p in paths]
    lines = (out / "grades.csv").read_text().splitlines()
    (out / "grades.csv").write_text("\n".join(line.split(",", 1)[1] for line in lines) + "\n")  # no student column
    older = read_gradebook(out)
    assert [(r.stem, r.file, r.score, r.points) for r in older.rows] == [(r.stem, r.file, r.score, r.points) for r in book.rows]
