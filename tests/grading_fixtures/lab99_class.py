"""A synthetic class of 24 lab99 submissions for the report's tests: known mistakes, independent work and copies.

Most students start from the lab and write the reference's code, breaking a task in a known way;
three write genuinely different correct solutions (``indep_a/b/c``); three copy one of those:
``copy_a_renamed`` and ``copy_b_renamed`` with every variable renamed, ``copy_c_comments`` with other
comments and blank lines. The written question ``q1`` is answered by most, left as given by some and
deleted by one. ``fake_gradebook`` writes a gradebook for such notebooks without running them.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np

from cvcourse_utils.grading import gradebook
from cvcourse_utils.grading.grader import CaseResult, Grade, TaskResult
from cvcourse_utils.grading.lab import load_lab_files
from cvcourse_utils.grading.submission import feedback_names, printable
from cvcourse_utils.notebooks import cell_source, dumps_notebook, make_lab

FIXTURES = Path(__file__).resolve().parent
SIGNATURES = {
    "fx_double": 'def double(x: np.ndarray) -> np.ndarray:\n    """x: any shape -> 2 * x."""\n',
    "fx_rows": 'def normalise_rows(x: np.ndarray) -> np.ndarray:\n    """x: (N, D) positive -> rows that sum to 1."""\n',
    "fx_count": 'def count_positive(x: np.ndarray) -> int:\n    """x: (N,) -> how many entries are > 0."""\n',
}
REFERENCE = {"fx_double": "    return SCALE * x\n", "fx_rows": "    return x / x.sum(axis=1, keepdims=True)\n",
             "fx_count": "    return int((x > 0).sum())\n"}

INDEP_A = {
    "fx_double": "    result = np.empty_like(x, dtype=float)\n    result[...] = x\n    result += x\n    return result\n",
    "fx_rows": ("    totals = np.sum(x, axis=1)\n    out = np.zeros_like(x, dtype=float)\n"
                "    for i in range(x.shape[0]):\n        out[i] = x[i] / totals[i]\n    return out\n"),
    "fx_count": "    n = 0\n    for value in x:\n        if value > 0:\n            n += 1\n    return n\n",
}
INDEP_B = {
    "fx_double": "    return np.multiply(x, 2)\n",
    "fx_rows": ("    x = np.asarray(x, dtype=float)\n    row_sums = x.sum(axis=-1)\n"
                "    assert (row_sums > 0).all(), 'rows must be positive'\n    return x / row_sums.reshape(-1, 1)\n"),
    "fx_count": "    mask = x > 0\n    positives = x[mask]\n    return int(positives.size)\n",
}
INDEP_C = {
    "fx_double": "    # doubling is adding the array to itself\n    y = x.copy()\n    y = y + y\n    return y\n",
    "fx_rows": ("    # divide each row by its sum\n    s = np.add.reduce(x, axis=1)[:, np.newaxis]\n"
                "    normalised = np.divide(x, s)\n    assert np.allclose(normalised.sum(axis=1), 1.0)\n    return normalised\n"),
    "fx_count": "    # ones where positive, zeros elsewhere\n    return int(np.sum(np.where(x > 0, 1, 0)))\n",
}
COPY_A_RENAMED = {  # INDEP_A with every name changed and comments added
    "fx_double": ("    # make an output array first\n    doubled = np.empty_like(x, dtype=float)\n    doubled[...] = x\n"
                  "    doubled += x  # add it again\n    return doubled\n"),
    "fx_rows": ("    row_total = np.sum(x, axis=1)\n    normalised = np.zeros_like(x, dtype=float)\n"
                "    for r in range(x.shape[0]):\n        normalised[r] = x[r] / row_total[r]\n    return normalised\n"),
    "fx_count": ("    count = 0\n    for v in x:\n        if v > 0:\n            count += 1  # one more positive\n"
                 "    return count\n"),
}
COPY_B_RENAMED = {  # INDEP_B with every name and the assert's message changed
    "fx_double": "    return np.multiply(x, 2)\n",
    "fx_rows": ("    arr = np.asarray(x, dtype=float)\n    sums = arr.sum(axis=-1)\n"
                "    assert (sums > 0).all(), 'every row needs a positive sum'\n    return arr / sums.reshape(-1, 1)\n"),
    "fx_count": "    positive = x > 0\n    kept = x[positive]\n    return int(kept.size)\n",
}
COPY_C_COMMENTS = {  # INDEP_C with other comments and blank lines
    "fx_double": "    y = x.copy()\n\n    y = y + y   # twice\n    return y\n",
    "fx_rows": ("    # row sums, as a column\n    s = np.add.reduce(x, axis=1)[:, np.newaxis]\n\n"
                "    normalised = np.divide(x, s)  # broadcasting\n    assert np.allclose(normalised.sum(axis=1), 1.0)\n"
                "    return normalised\n"),
    "fx_count": "    return int(np.sum(np.where(x > 0, 1, 0)))  # count them\n",
}

ANSWERS = ["Because the rows must sum to one, dividing by the row sum is the normalisation.",
           "Dividing by the sum makes each row a probability distribution over the columns.",
           "It keeps the proportions within a row while the total becomes exactly one."]

# name -> (task bodies that differ from the reference; None = the lab's stub; "delete" = no cell), answer index or None
STUDENTS: dict[str, tuple[dict, object]] = {
    "s01_full": ({}, 0), "s02_full": ({}, 1),
    "s03_stub": ({"fx_double": None, "fx_rows": None, "fx_count": None}, None),
    "s04_double_triple": ({"fx_double": "    return 3 * x\n"}, 0),
    "s05_rows_columns": ({"fx_rows": "    return x / x.sum(axis=0, keepdims=True)\n"}, 2),
    "s06_rows_max": ({"fx_rows": "    biggest = x.max(axis=1, keepdims=True)\n    return x / biggest\n"}, 0),
    "s07_count_shifted": ({"fx_count": "    return int((x >= -0.5).sum())\n"}, 1),
    "s08_rows_raises": ({"fx_rows": "    raise ValueError('not sure how to do this yet')\n"}, 2),
    "s09_count_syntax": ({"fx_count": "    return int((x > 0).sum()\n"}, 0),
    "s10_exits": ({"fx_double": "    return SCALE * x\n\nimport os\nos._exit(0)\n"}, 1),
    "s11_invalid": ({}, 0),   # written as a damaged file
    "s12_no_answer": ({}, None),
    "s13_indep_a": (INDEP_A, 0), "s14_indep_b": (INDEP_B, 1), "s15_indep_c": (INDEP_C, 2),
    "s16_copy_a_renamed": (COPY_A_RENAMED, 0), "s17_copy_b_renamed": (COPY_B_RENAMED, 1),
    "s18_copy_c_comments": (COPY_C_COMMENTS, 2),
    "s19_double_inplace": ({"fx_double": "    x = x.copy()\n    x *= 2\n    return x\n"}, 0),
    "s20_rows_stack": ({"fx_rows": "    rows = []\n    for row in x:\n        rows.append(row / row.sum())\n    return np.stack(rows)\n"}, 1),
    "s21_count_ternary": ({"fx_count": ("    total = 0\n    for i in range(len(x)):\n        total += 1 if x[i] > 0 else 0\n"
                                        "    return total\n")}, 2),
    "s22_rows_four_columns": ({"fx_rows": "    return x / (x[:, 0] + x[:, 1] + x[:, 2] + x[:, 3])[:, None]\n"}, 0),
    "s23_answer_deleted": ({}, "delete"),
    "s24_rows_deleted": ({"fx_rows": "delete"}, 2),
}
COPIED_PAIRS = {("s13_indep_a", "s16_copy_a_renamed"), ("s14_indep_b", "s17_copy_b_renamed"),
                ("s15_indep_c", "s18_copy_c_comments")}
INDEPENDENT = ("s13_indep_a", "s14_indep_b", "s15_indep_c")
ANSWERED = sum(1 for name, (_, answer) in STUDENTS.items() if isinstance(answer, int) and name != "s11_invalid")
LEFT_AS_GIVEN = sum(1 for _, answer in STUDENTS.values() if answer is None)


def written_lab():
    """The fixture lab with its question ``q1`` made a written answer (1 point, graded by hand)."""
    lab = load_lab_files("lab99", FIXTURES / "lab99_fixture.json", FIXTURES / "lab99_tasks.py", FIXTURES / "lab99_grading.py")
    ref = copy.deepcopy(lab.reference)
    for cell in ref["cells"]:
        info = cell["metadata"]["nbgrader"]
        if info["grade_id"] == "q1":
            info.update(solution=True, grade=True, locked=False, points=1)
    return dataclasses.replace(lab, reference=ref, written=(("q1", 1.0),))


def _index(nb: dict, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def student_notebook(lab, changes: dict, answer) -> dict:
    """The generated lab with the task cells written (the reference's code unless ``changes`` says otherwise)."""
    nb = make_lab(lab.reference)
    for task, signature in SIGNATURES.items():
        body = changes.get(task, REFERENCE[task])
        if body is None:
            continue
        if body == "delete":
            nb["cells"].pop(_index(nb, task))
            continue
        nb["cells"][_index(nb, task)]["source"] = signature + body
    if answer == "delete":
        nb["cells"].pop(_index(nb, "q1"))
    elif answer is not None:
        nb["cells"][_index(nb, "q1")]["source"] = "**Q1.** Why?\n\n" + ANSWERS[answer]
    return nb


def build_class(lab, folder: Path) -> list[Path]:
    """Write the class's notebooks into ``folder``; returns their paths in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (changes, answer) in STUDENTS.items():
        path = folder / f"{name}.ipynb"
        text = dumps_notebook(student_notebook(lab, changes, answer))
        path.write_text(text[: len(text) // 2] if name == "s11_invalid" else text, encoding="utf-8")
        paths.append(path)
    return paths


def fake_gradebook(lab, paths: list[Path], out: Path, seed: int = 0) -> list[Grade]:
    """A gradebook for ``paths`` as ``cvcourse grade`` writes it, with made-up results (no notebook runs): fast."""
    rng = np.random.default_rng(seed)
    gradebook.prepare_out(out)
    stems = feedback_names(paths)
    grades = []
    for path, stem in zip(paths, stems):
        status = rng.choice(["ok"] * 16 + ["error", "timeout", "killed", "invalid"])
        tasks = []
        for task in lab.tasks:
            names = [(c.name, False) for c in task.cases] + [(c.name, True) for c in lab.hidden[task.name]]
            passed = [bool(status == "ok" and rng.random() < 0.7) for _ in names]
            cases = [CaseResult(n, h, p, "" if p or h else f"result: {rng.integers(1, 9)} of 9 values differ (max |actual - "
                                f"expected| = {rng.random():.3g})") for (n, h), p in zip(names, passed)]
            top = lab.points[task.name]
            tasks.append(TaskResult(task.name, task.function, round(top * sum(passed) / len(passed), 2), top, cases))
        notes = [f"Re-graded alone after the batch: the first attempt ended '{status}'; this is the second result."] \
            if status in ("error", "timeout", "killed") else []
        g = Grade(printable(path), str(status), round(sum(t.points for t in tasks), 2), lab.max_score, tasks,
                  "" if status == "ok" else f"made up: {status}", notes=notes, seconds=round(float(rng.uniform(0.5, 9)), 2),
                  sandbox="fake", sandbox_kind="fallback")
        grades.append(g)
        gradebook.save_row(out, stem, g, "fake")
        gradebook.write_feedback(out, stem, lab, g)
    gradebook.write_csv(out, lab, grades)
    record = gradebook.batch_record(lab, make_lab(lab.reference), paths, stems, jobs=2, timeout=60, sandbox="fake")
    gradebook.write_batch(out, gradebook.finish_batch(record, 12.5, graded=len(paths), kept=0, regraded=0))
    return grades


def cell_of(path: Path, grade_id: str) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return cell_source(nb["cells"][_index(nb, grade_id)])
