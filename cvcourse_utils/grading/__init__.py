"""``cvcourse grade``: grade a class's notebooks into a gradebook, running student code in a sandbox.

One module per step:

- ``lab``         what a lab is graded against (reference notebook, tasks, points, hidden cases)
- ``submission``  finding and reading submissions, merging them into the reference notebook
- ``sandbox``     the child process: limits, bubblewrap, timeouts (``launcher`` is its first step)
- ``child``       the code that runs inside the sandbox, next to the student's
- ``wire``        the plain-data format between the two (``.npz``, never pickle)
- ``grader``      comparing and scoring one submission (expected values never leave this process)
- ``gradebook``   ``grades.csv``, feedback, logs, rows and ``batch.json``

and, after grading (``cvcourse report``), one module per step again:

- ``results``     a finished gradebook read back, every file checked
- ``similarity``  how alike the students' task code is (normalised tokens, winnowed fingerprints)
- ``report``      the class report, one self-contained HTML page
- ``lms``         Canvas's and Moodle's import CSV, and every case in long form

Keep this file light: the child imports the package too.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable

__all__ = ["grade_batch", "grade_command", "self_test"]


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


ANOMALIES = ("killed", "error", "timeout")


def _progress_bar(total: int, lab: str, show: bool | None):
    """A tqdm bar on stderr: notebooks done of ``total``, rate and ETA (``show=None``: only on a terminal)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"Grading {lab}", unit="notebook", file=sys.stderr, dynamic_ncols=True,
                disable=None if show is None else not show,
                bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| {elapsed} elapsed, ETA {remaining}, {rate_fmt}")


def grade_batch(lab, paths: list[Path], out: Path, *, jobs: int = 1, timeout: float = 120.0,
                hidden: list[Path] = (), progress: Callable[[str], None] = print, resume: bool = False,
                bar: bool | None = False) -> list:
    """Grade every submission in ``paths`` (files or folders) into ``out``; returns the grades in input order.

    ``hidden`` are more folders the sandbox must hide (the course folder); the
    output folder, the submissions' folders and the grader's temporary files are
    always hidden. Each grade reaches ``out/rows/`` (and ``grades.csv`` so far) the moment it
    is done; with ``resume`` a submission already graded there with the same lab, file and
    timeout is not graded again. A submission that ends ``killed``, ``error`` or ``timeout``
    is graded once more after the batch, alone, and that second result is kept.
    ``out/batch.json`` records the batch (settings, start, end and wall time, where each
    notebook was read). ``bar`` shows a progress bar on stderr (count, rate, ETA) beside the
    per-submission lines: ``True`` always, ``None`` only on a terminal.
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
        keys = [gradebook.fingerprint(lab, s.data, timeout) for s in submissions]
        grades: list = [None] * len(submissions)
        if resume:
            for i, stem in enumerate(stems):
                grades[i] = gradebook.load_row(out, stem, keys[i])
            kept = sum(g is not None for g in grades)
            progress(f"Resuming: {kept} of {len(submissions)} submission(s) were graded before and are kept.")
        lock = threading.Lock()
        todo = [i for i, g in enumerate(grades) if g is None]
        meter = _progress_bar(len(todo), lab.name, bar)

        def say(line: str) -> None:
            with meter.external_write_mode():  # the bar steps aside for the line, then comes back below it
                progress(line)

        def record(i: int, g, label: str) -> None:
            with lock:  # one writer at a time: the feedback, the gradebook so far, then the row
                grades[i] = g
                gradebook.write_feedback(out, stems[i], lab, g)
                gradebook.write_csv(out, lab, grades, stems)
                # last: a saved row is what --resume keeps, so a batch killed between these writes
                # grades that submission again rather than keeping a row that grades.csv lacks
                gradebook.save_row(out, stems[i], g, keys[i])
            say(f"[{label}] {g.file}: {gradebook.number(g.score)}/{gradebook.number(g.max_score)} {g.status} ({g.seconds:.1f} s)")

        start = time.perf_counter()
        batch = gradebook.batch_record(lab, grader.stub, files, stems, jobs=jobs, timeout=timeout, sandbox=box.description)
        gradebook.write_batch(out, batch)
        with meter, ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(grader.grade, submissions[i]): i for i in todo}
            for done, future in enumerate(as_completed(futures), 1):
                record(futures[future], future.result(), f"{done}/{len(todo)}")
                meter.update(1)
        again = [i for i in todo if grades[i].status in ANOMALIES]
        for n, i in enumerate(again, 1):  # alone: nothing else runs, so a neighbour cannot have caused it
            first = grades[i]
            g = grader.grade(submissions[i])
            g.notes = [*g.notes, f"Re-graded alone after the batch: the first attempt ended '{first.status}'"
                       + (f" ({first.message})" if first.message else "") + "; this is the second result."]
            record(i, g, f"re-graded {n}/{len(again)}")
        gradebook.write_csv(out, lab, grades, stems)
        wall = time.perf_counter() - start
        gradebook.write_batch(out, gradebook.finish_batch(batch, wall, graded=len(todo), kept=len(grades) - len(todo),
                                                          regraded=len(again)))
        progress(gradebook.summary(lab, grades))
        progress(f"Wrote {out / 'grades.csv'} and {len(grades)} feedback file(s) in {out / 'feedback'} ({wall:.1f} s).")
        return grades
    finally:
        shutil.rmtree(workroot, ignore_errors=True)


def self_test(lab, *, jobs: int = 2, timeout: float = 300.0, hidden: list[Path] = (),
              progress: Callable[[str], None] = print) -> list[str]:
    """Grade a lab's solution and its generated lab; return what is wrong (an empty list when all is well).

    The solution must earn full marks with status ``ok`` and the generated lab (the stub every
    student starts from) exactly zero: a stub that earns points means a task cell is locked or
    has no SOLUTION region, so a student could be given points for nothing.
    """
    from cvcourse_utils.grading import gradebook
    from cvcourse_utils.notebooks import dumps_notebook, make_lab

    with tempfile.TemporaryDirectory(prefix=f"cvcourse-selftest-{lab.name}-") as tmp:
        subs = Path(tmp) / "submissions"
        subs.mkdir()
        solution, generated = subs / "solution.ipynb", subs / "generated_lab.ipynb"
        solution.write_text(dumps_notebook(lab.reference), encoding="utf-8")
        generated.write_text(dumps_notebook(make_lab(lab.reference, lab.notebook)), encoding="utf-8")
        ref, stub = grade_batch(lab, [solution, generated], Path(tmp) / "out", jobs=jobs, timeout=timeout,
                                hidden=hidden, progress=progress)
    full = gradebook.number(lab.max_score)
    problems = []
    if ref.status != "ok" or ref.score < lab.max_score:
        short = [f"{t.name} {gradebook.number(t.points)}/{gradebook.number(t.max_points)}"
                 for t in ref.tasks if t.points < t.max_points]
        problems.append(f"the solution of {lab.name} scores {gradebook.number(ref.score)}/{full} (status {ref.status}"
                        + (f"; {ref.message}" if ref.message else "") + ")"
                        + (f"; tasks below full marks: {', '.join(short)}" if short else ""))
    if stub.status != "ok" or stub.score > 0:
        earned = [f"{t.name} {gradebook.number(t.points)}" for t in stub.tasks if t.points > 0]
        problems.append(f"the generated lab of {lab.name} scores {gradebook.number(stub.score)}/{full} (status {stub.status}); "
                        + (f"the stub earns points in {', '.join(earned)}: is its task cell locked, or without a "
                           "BEGIN/END SOLUTION region?" if earned else "it must be graded 'ok' with 0 points"))
    verdict = "OK" if not problems else "FAILED"
    progress(f"Self-test {lab.name}: solution {gradebook.number(ref.score)}/{full} ({ref.status}), "
             f"generated lab {gradebook.number(stub.score)}/{full} ({stub.status}): {verdict}")
    for problem in problems:
        progress(f"WARNING: {problem}")
    return problems


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
    if args.timeout is not None and not args.timeout > 0:
        return fail("--timeout must be a positive number of seconds")
    try:
        lab = load_lab(args.lab, args.root)
    except LabError as err:
        return fail(str(err))
    timeout = args.timeout if args.timeout is not None else lab.timeout
    if getattr(args, "self_test", False):
        if args.submissions or args.out:
            return fail("--self-test grades the lab's own solution and generated lab: give no submissions and no --out")
        try:
            problems = self_test(lab, jobs=max(args.jobs, 2), timeout=max(timeout, 300.0), hidden=[Path(args.root)])
        except (LabError, SandboxError) as err:
            return fail(str(err))
        return 1 if problems else 0
    if not args.submissions or args.out is None:
        return fail("give the submitted notebooks (files or folders) and --out FOLDER, or --self-test")
    try:
        gradebook.prepare_out(Path(args.out))
    except OSError as err:
        return fail(f"cannot write the gradebook to {args.out}: {err.strerror or err}")
    try:
        grade_batch(lab, list(args.submissions), Path(args.out), jobs=args.jobs, timeout=timeout, hidden=[Path(args.root)],
                    resume=getattr(args, "resume", False), bar=None)
    except (LabError, SandboxError) as err:
        return fail(str(err))
    except OSError as err:
        return fail(f"cannot write the gradebook to {args.out}: {err.strerror or err}")
    return 0
