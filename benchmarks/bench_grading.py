"""How fast `cvcourse grade` is: overhead per submission, and a class of 50 lab-01 notebooks.

    .venv/bin/python benchmarks/bench_grading.py            # both, appended to benchmarks/RESULTS.md
    .venv/bin/python benchmarks/bench_grading.py --n 10     # a smaller class

1. Overhead: a trivial notebook (the grader's fixture lab: three one-line NumPy
   functions) graded one at a time. Its wall time is almost all overhead: starting
   the sandbox and Python, importing cvcourse_utils (and so PyTorch), shipping
   the cases in and the results back, comparing. Also measured without the sandbox
   (``CVCOURSE_GRADER_SANDBOX=none``) and, for reference, a bare ``import cvcourse_utils``.
2. A class: 50 lab-01 submissions (a mix of complete, partly wrong and untouched
   notebooks) graded with ``--jobs 2`` through the command line (``--n 200`` for the load
   figure): wall time, time per submission and the grader process's peak memory.
"""
from __future__ import annotations

import argparse
import copy
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from results import record  # noqa: E402

from cvcourse_utils import cli  # noqa: E402
from cvcourse_utils.grading import grade_batch  # noqa: E402
from cvcourse_utils.grading.lab import load_lab, load_lab_files  # noqa: E402
from cvcourse_utils.notebooks import dumps_notebook, make_lab  # noqa: E402

FIXTURES = ROOT / "tests" / "grading_fixtures"


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""


def overhead(repeats: int, tmp: Path) -> dict[str, float]:
    """Median seconds per trivial submission, with and without the sandbox, and a bare import."""
    lab = load_lab_files("lab99", FIXTURES / "lab99_fixture.json", FIXTURES / "lab99_tasks.py", FIXTURES / "lab99_grading.py")
    subs = tmp / "trivial"
    subs.mkdir()
    for i in range(repeats):
        (subs / f"s{i:02d}.ipynb").write_text(dumps_notebook(lab.reference))
    out = {}
    for mode in ("auto", "none"):
        os.environ["CVCOURSE_GRADER_SANDBOX"] = mode
        grades = grade_batch(lab, [subs], tmp / f"out-{mode}", jobs=1, timeout=120, hidden=[ROOT], progress=lambda s: None)
        assert all(g.status == "ok" and g.score == g.max_score for g in grades), [(g.status, g.message) for g in grades]
        name = grades[0].sandbox_kind if mode == "auto" else "fallback (CVCOURSE_GRADER_SANDBOX=none)"
        out[name] = statistics.median(g.seconds for g in grades)
        out[f"{name}, CPU time of the child"] = statistics.median(g.timing["cpu"] for g in grades)
    os.environ.pop("CVCOURSE_GRADER_SANDBOX")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-c", "import cvcourse_utils"], check=True)
        times.append(time.perf_counter() - start)
    out["bare import cvcourse_utils"] = statistics.median(times)
    return out


def lab01_class(n: int, tmp: Path) -> tuple[float, list, float]:
    """Grade ``n`` lab-01 submissions with --jobs 2 through the CLI; (seconds, rows, median CPU seconds of a child)."""
    lab = load_lab("lab01", ROOT)
    subs = tmp / "class"
    subs.mkdir()
    wrong_grey = "def to_grey(img):\n    return img.mean(axis=-1)\n"
    for i in range(n):
        kind = i % 4
        nb = lab.reference if kind < 2 else make_lab(lab.reference) if kind == 2 else copy.deepcopy(lab.reference)
        if kind == 3:  # a partly wrong notebook
            cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "to_grey")
            cell["source"] = wrong_grey
        (subs / f"student{i:03d}.ipynb").write_text(dumps_notebook(nb))
    start = time.perf_counter()
    code = cli.main(["grade", "lab01", str(subs), "--out", str(tmp / "out-class"), "--jobs", "2", "--timeout", "300",
                     "--root", str(ROOT)])
    seconds = time.perf_counter() - start
    assert code == 0
    rows = (tmp / "out-class" / "grades.csv").read_text().splitlines()[1:]
    cpu = [float(m.group(1)) for log in (tmp / "out-class" / "logs").glob("*.txt")
           if (m := re.search(r"cpu ([0-9.]+) s", log.read_text().splitlines()[0]))]
    return seconds, rows, statistics.median(cpu)


def peak_mb() -> float:
    """The grader process's peak resident memory so far (Linux reports kB, macOS bytes)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50, help="submissions in the lab-01 class (default 50)")
    parser.add_argument("--repeats", type=int, default=5, help="trivial submissions for the overhead (default 5)")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    os.environ.setdefault("CVCOURSE_FAST", "1")
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        before = load()
        medians = overhead(args.repeats, Path(tmp))
        for name, seconds in medians.items():
            print(f"{name:>28}: {seconds:.2f} s per submission (median of {args.repeats})")
        seconds, rows, cpu = lab01_class(args.n, Path(tmp))
        statuses = sorted({r.split(",")[3] for r in rows})
        print(f"{args.n} lab-01 submissions, --jobs 2: {seconds:.1f} s ({seconds / args.n:.2f} s per submission), statuses {statuses}; "
              f"median CPU time of a child {cpu:.2f} s; peak memory of the grader {peak_mb():.0f} MB")
        after = load()
    if args.no_record:
        return
    notes = f"{before} before, {after} after; machine shared with other jobs"
    for name, value in medians.items():
        what = "bare import of cvcourse_utils in a new Python (wall)" if name.startswith("bare") else f"grading a trivial submission, {name} (median)"
        record("bench_grading", what, f"{value:.2f} s", notes)
    record("bench_grading", f"{args.n} lab-01 submissions, --jobs 2, wall time", f"{seconds:.1f} s",
           f"{seconds / args.n:.2f} s per submission; median CPU time of one child {cpu:.2f} s; "
           f"peak memory of the grader process {peak_mb():.0f} MB; {notes}")


if __name__ == "__main__":
    main()
