"""``cvcourse grade``: grade a class's notebooks into a gradebook, running student code in a sandbox.

One module per step:

- ``lab``         what a lab is graded against (reference notebook, tasks, points, hidden cases)
- ``submission``  finding and reading submissions, merging them into the reference notebook
- ``sandbox``     the child process: limits, bubblewrap, timeouts (``launcher`` is its first step)
- ``child``       the code that runs inside the sandbox, next to the student's
- ``wire``        the plain-data format between the two (``.npz``, never pickle)
- ``grader``      comparing and scoring one submission (expected values never leave this process)
- ``gradebook``   ``grades.csv``, feedback and logs

Keep this file light: the child imports the package too.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable

__all__ = ["grade_batch", "grade_command"]


def _font_cache() -> dict | None:
    """Matplotlib's font list from the grader's cache, so each child need not rebuild it (about a second)."""
    try:
        import matplotlib

        found = sorted(Path(matplotlib.get_cachedir()).glob("fontlist-v*.json"))
        if found and found[-1].stat().st_size < (1 << 20):
            return {"name": found[-1].name, "text": found[-1].read_text(encoding="utf-8")}
    except Exception:  # noqa: BLE001 - an optimisation only
        pass
    return None


def grade_batch(lab, paths: list[Path], out: Path, *, jobs: int = 1, timeout: float = 120.0,
                hidden: list[Path] = (), progress: Callable[[str], None] = print) -> list:
    """Grade every submission in ``paths`` (files or folders) into ``out``; returns the grades in input order.

    ``hidden`` are more folders the sandbox must hide (the course folder); the
    output folder, the submissions' folders and the grader's temporary files are
    always hidden.
    """
    from cvcourse_utils.grading import gradebook, sandbox
    from cvcourse_utils.grading.grader import Grader
    from cvcourse_utils.grading.submission import expand, feedback_names, read_submission

    files = expand([Path(p) for p in paths])
    for p in paths:
        if Path(p).is_dir() and not any(Path(f).is_relative_to(p) for f in files):
            progress(f"warning: no .ipynb files in {p}")
    submissions = [read_submission(p) for p in files]  # each file read once, here, and never written
    gradebook.prepare_out(out)
    workroot = Path(tempfile.mkdtemp(prefix="cvcourse-grade-"))
    try:
        os.chmod(workroot, 0o711)
        folders = [Path(p) if Path(p).is_dir() else Path(p).parent for p in [*paths, *files]]
        box = sandbox.prepare([*hidden, out, *folders, workroot], jobs, workroot)
        progress(f"Grading {len(submissions)} submission(s) of {lab.name} with {jobs} job(s), {timeout:g} s each.")
        progress(f"Sandbox: {box.description}.")
        grader = Grader(lab, box, timeout, workroot, _font_cache())
        stems = feedback_names(files)
        grades: list = [None] * len(submissions)
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(grader.grade, s): i for i, s in enumerate(submissions)}
            for done, future in enumerate(as_completed(futures), 1):
                i = futures[future]
                grades[i] = g = future.result()
                gradebook.write_feedback(out, stems[i], lab, g)
                progress(f"[{done}/{len(submissions)}] {g.file}: {gradebook.number(g.score)}/{gradebook.number(g.max_score)} "
                         f"{g.status} ({g.seconds:.1f} s)")
        gradebook.write_csv(out, lab, grades)
        progress(gradebook.summary(lab, grades))
        progress(f"Wrote {out / 'grades.csv'} and {len(grades)} feedback file(s) in {out / 'feedback'} "
                 f"({time.perf_counter() - start:.1f} s).")
        return grades
    finally:
        shutil.rmtree(workroot, ignore_errors=True)


def grade_command(args) -> int:
    """The ``cvcourse grade`` command: 0 when every submission got a row, 2 when the grader itself cannot run."""
    from cvcourse_utils.grading import gradebook
    from cvcourse_utils.grading.lab import LabError, load_lab
    from cvcourse_utils.grading.sandbox import SandboxError

    def fail(message: str) -> int:
        print(f"error: {message}", file=sys.stderr)
        return 2

    if args.jobs < 1:
        return fail("--jobs must be at least 1")
    if not args.timeout > 0:
        return fail("--timeout must be a positive number of seconds")
    try:
        lab = load_lab(args.lab, args.root)
    except LabError as err:
        return fail(str(err))
    try:
        gradebook.prepare_out(Path(args.out))
    except OSError as err:
        return fail(f"cannot write the gradebook to {args.out}: {err.strerror or err}")
    try:
        grade_batch(lab, list(args.submissions), Path(args.out), jobs=args.jobs, timeout=args.timeout, hidden=[Path(args.root)])
    except (LabError, SandboxError) as err:
        return fail(str(err))
    except OSError as err:
        return fail(f"cannot write the gradebook to {args.out}: {err.strerror or err}")
    return 0
