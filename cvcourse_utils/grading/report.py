"""``cvcourse report GRADES_DIR``: one self-contained HTML page on a graded class, and the LMS exports.

The page (``GRADES_DIR/report.html``, opened from disk: no server, no script, nothing fetched;
figures are PNGs inside it) shows the score distribution and the statuses, each task's mean
points, share of full marks and most often failed cases with their commonest messages, how
many answered each written question, the slowest and re-graded submissions, the batch's wall
time, and pairs of submissions whose task code is suspiciously alike (:mod:`similarity`),
side by side. It reads the gradebook only (:mod:`results`) and the submitted notebooks where
the gradebook says they were graded; it changes no grade and no file but its own.
"""
from __future__ import annotations

import base64
import html
import io
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cvcourse_utils.grading import lms
from cvcourse_utils.grading.gradebook import atomic_write, number
from cvcourse_utils.grading.grader import STATUSES
from cvcourse_utils.grading.results import Gradebook, GradebookError, Row, read_cells, read_gradebook
from cvcourse_utils.grading.similarity import THRESHOLD, Similarity, compare, given_lines
from cvcourse_utils.notebooks import ANSWER_STUB

REPORT = "report.html"
REGRADED = "Re-graded alone after the batch"
SHOWN = 5            # failed cases and messages listed per task
SLOWEST = 10         # submissions listed by time taken
LISTED = 200         # flagged pairs listed
SIDE_BY_SIDE = 40    # flagged pairs shown side by side


# --------------------------------------------------------------------------- what the page says


@dataclass
class Distribution:
    count: int
    mean: float
    median: float
    q1: float
    q3: float
    low: float
    high: float


def distribution(values: list[float]) -> Distribution:
    """Count, mean, median, quartiles (NumPy's linear interpolation), minimum and maximum."""
    a = np.asarray(values, dtype=float)
    q1, median, q3 = np.percentile(a, [25, 50, 75])
    return Distribution(len(a), float(a.mean()), float(median), float(q1), float(q3), float(a.min()), float(a.max()))


@dataclass
class TaskSummary:
    name: str
    max_points: float
    mean_points: float                       # over every submission, from grades.csv
    full_marks: int                          # submissions with the task's full points
    count: int
    ran: int                                 # submissions graded 'ok' (their cases ran)
    failed_cases: list[tuple[str, bool, int]] = field(default_factory=list)   # (case, hidden, failures), most first
    messages: list[tuple[str, int]] = field(default_factory=list)             # (public case's message, how often)

    @property
    def full_share(self) -> float:
        return self.full_marks / self.count


@dataclass
class WrittenSummary:
    grade_id: str
    points: float
    answered: int
    blank: int                               # the cell is there, still as the lab gave it
    missing: int                             # no such cell in the notebook
    median_words: float | None


@dataclass
class ClassReport:
    book: Gradebook
    scores: Distribution
    statuses: dict[str, int]
    tasks: list[TaskSummary]
    written: list[WrittenSummary]
    cells: dict[str, dict[str, str]]         # stem -> grade_id -> source, for the notebooks that could be read
    unreadable: list[tuple[Row, str]]        # (submission, why its cells could not be read)
    slowest: list[Row]
    regraded: list[tuple[Row, str]]
    similarity: Similarity


def message_kind(message: str) -> str:
    """A failure message without its numbers and inputs, so that the same mistake counts once per kind."""
    first = message.strip().splitlines()[0] if message.strip() else "(no message)"
    first = re.split(r" \(inputs: |; first at index ", first)[0]
    first = re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "#", first)
    return first if len(first) <= 160 else first[:157] + "..."


def summarise_task(book: Gradebook, task: str) -> TaskSummary:
    top = book.max_points[task]
    points = [r.points[task] for r in book.rows]
    ran = [r for r in book.rows if r.status == "ok"]
    failed: Counter = Counter()
    messages: Counter = Counter()
    for r in ran:
        for t in r.grade.tasks:
            if t.name != task:
                continue
            for c in t.cases:
                if not c.passed:
                    failed[(c.name, c.hidden)] += 1
                    if not c.hidden:
                        messages[message_kind(c.message)] += 1
    return TaskSummary(task, top, float(np.mean(points)), sum(p >= top - 1e-9 for p in points), len(points), len(ran),
                       [(name, hidden, n) for (name, hidden), n in failed.most_common(SHOWN)], messages.most_common(SHOWN))


def answer_words(source: str, stub: str) -> int:
    """Words the student wrote in an answer cell: its text without the lab's own lines and ``YOUR ANSWER HERE``."""
    given = given_lines(stub)
    text = "\n".join(line for line in source.splitlines() if line.strip() not in given).replace(ANSWER_STUB, " ")
    return len(re.findall(r"\w+", text))


def summarise_written(book: Gradebook, cells: dict[str, dict[str, str]]) -> list[WrittenSummary]:
    out = []
    for gid, points in book.written:
        words = [answer_words(c[gid], book.stub_cells.get(gid, ANSWER_STUB)) for c in cells.values() if gid in c]
        answered = [w for w in words if w > 0]
        out.append(WrittenSummary(gid, points, len(answered), len(words) - len(answered),
                                  sum(gid not in c for c in cells.values()),
                                  float(np.median(answered)) if answered else None))
    return out


def task_cell_ids(book: Gradebook) -> list[str]:
    """The ``grade_id`` of each task cell: the stub's code cells, else the task names (a task's cell is named after it)."""
    written = {gid for gid, _ in book.written}
    return [gid for gid in book.stub_cells if gid not in written] or list(book.tasks)


def build_report(book: Gradebook, threshold: float = THRESHOLD) -> ClassReport:
    """Everything the page shows, computed from the gradebook and the submitted notebooks."""
    code_ids = task_cell_ids(book)
    wanted = set(code_ids) | {gid for gid, _ in book.written}
    cells, unreadable = {}, []
    for r in book.rows:
        if r.path is None:
            unreadable.append((r, "the notebook is no longer where it was graded"))
            continue
        try:
            cells[r.stem] = read_cells(r.path, wanted)
        except GradebookError as err:
            unreadable.append((r, str(err)))
    task_cells = {stem: {gid: c[gid] for gid in code_ids if gid in c} for stem, c in cells.items()}
    regraded = [(r, note) for r in book.rows for note in r.grade.notes if note.startswith(REGRADED)]
    return ClassReport(
        book, distribution([r.score for r in book.rows]), {s: sum(r.status == s for r in book.rows) for s in STATUSES},
        [summarise_task(book, t) for t in book.tasks], summarise_written(book, cells), cells, unreadable,
        sorted(book.rows, key=lambda r: -r.grade.seconds)[:SLOWEST], regraded,
        compare(task_cells, book.stub_cells, threshold))


# --------------------------------------------------------------------------- figures


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float = 6.4, height: float = 3.2):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def score_figure(report: ClassReport) -> str:
    fig, ax = _figure()
    top = report.book.max_score
    scores = [r.score for r in report.book.rows]
    ax.hist(scores, bins=np.linspace(0, top, 21) if top > 0 else 10, color="#4c78a8", edgecolor="white")
    d = report.scores
    ax.axvline(d.mean, color="#e45756", linestyle="--", label=f"mean {d.mean:.2f}")
    ax.axvline(d.median, color="#54a24b", linestyle=":", linewidth=2, label=f"median {d.median:.2f}")
    ax.set(title=f"Scores of {d.count} submissions", xlabel=f"score (points out of {number(top)})", ylabel="submissions")
    ax.legend(loc="upper left")
    return _png(fig)


def task_figure(report: ClassReport) -> str:
    fig, ax = _figure(6.4, 1.6 + 0.45 * len(report.tasks))
    names = [t.name for t in report.tasks][::-1]
    y = np.arange(len(names))
    ax.barh(y + 0.2, [t.mean_points / t.max_points for t in report.tasks][::-1], height=0.4, color="#4c78a8",
            label="mean points, as a share of the task's points")
    ax.barh(y - 0.2, [t.full_share for t in report.tasks][::-1], height=0.4, color="#f58518",
            label="submissions with full marks (share)")
    ax.set_yticks(y, names)
    ax.set(title="Tasks", xlabel="share (0 to 1)", ylabel="task", xlim=(0, 1))
    fig.legend(loc="outside lower center", fontsize="small", ncols=2)
    return _png(fig)


def similarity_figure(report: ClassReport) -> str:
    sim = report.similarity
    fig, ax = _figure()
    scores = [p.score for p in sim.pairs] + [0.0] * (sim.total_pairs - len(sim.pairs))
    ax.hist(scores, bins=np.linspace(0, 1, 21), color="#72b7b2", edgecolor="white", log=True)
    ax.axvline(sim.threshold, color="#e45756", linestyle="--", label=f"threshold {sim.threshold:g}")
    ax.set(title=f"Similarity of all {sim.total_pairs} pairs of submissions",
           xlabel="similarity (Jaccard index of code fingerprints)", ylabel="pairs (log scale)")
    ax.legend(loc="upper right")
    return _png(fig)


# --------------------------------------------------------------------------- the page

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em;
       color: #222; }
h1 { margin-bottom: .2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .6em 0; } td, th { border: 1px solid #ddd; padding: .25em .6em; vertical-align: top; }
th { background: #f4f4f4; text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #555; } .flag { color: #b00; font-weight: 600; } img { max-width: 100%; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
details { margin: .5em 0; border: 1px solid #ddd; padding: .3em .6em; } summary { cursor: pointer; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: .6em; }
pre { margin: 0; font: 12px/1.35 ui-monospace, monospace; background: #fafafa; padding: .4em; overflow-x: auto; }
pre span { display: block; } pre .match, .mark { background: #ffe08a; } pre .given { color: #999; }
code { font: 13px ui-monospace, monospace; }
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """Cells are HTML already (escape what they hold); ``header`` is text, none for an empty list."""
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
                   + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _img(data: str, alt: str) -> str:
    return f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}">'


def _time_text(book: Gradebook, rows: list[Row]) -> str:
    batch = book.batch
    busy = sum(r.grade.seconds for r in rows)
    if not batch:
        return f"Not recorded (this gradebook has no batch.json). The notebooks took {busy:.1f} s in all."
    if batch.get("finished") is None:
        return (f"The batch started {_e(batch.get('started'))} and did not finish (interrupted?); "
                f"<code>cvcourse grade ... --resume</code> completes it.")
    if not isinstance(batch.get("wall_seconds"), (int, float)):
        return f"Not recorded (batch.json has no wall time). The notebooks took {busy:.1f} s in all."
    return (f"{batch['wall_seconds']:.1f} s wall-clock for {_e(batch.get('graded', len(rows)))} notebook(s) "
            f"({_e(batch.get('kept', 0))} kept from an earlier run, {_e(batch.get('regraded', 0))} re-graded) with "
            f"{_e(batch.get('jobs'))} job(s) and a timeout of {_e(batch.get('timeout'))} s each; the notebooks took "
            f"{busy:.1f} s in all. Started {_e(batch.get('started'))}, finished {_e(batch.get('finished'))}.")


def _code(source: str, marked: set[int], given: set[str]) -> str:
    lines = []
    for n, line in enumerate(source.splitlines(), 1):
        cls = "match" if n in marked else "given" if line.strip() and line.strip() in given else ""
        lines.append(f'<span class="{cls}">{n:3d}  {_e(line)}</span>' if cls else f"<span>{n:3d}  {_e(line)}</span>")
    return "<pre>" + "".join(lines) + "</pre>"


def _side_by_side(report: ClassReport, a: str, b: str) -> str:
    sim, stub = report.similarity, report.book.stub_cells
    parts = []
    for task, score in sim.task_scores(a, b).items():
        lines_a, lines_b = sim.matching_lines(a, b, task)
        given = given_lines(stub.get(task, ""))
        parts.append(f"<h4><code>{_e(task)}</code>: similarity {score:.2f}</h4><div class=\"pair\">"
                     f"<div><b>{_e(a)}</b>{_code(report.cells[a].get(task, ''), lines_a, given)}</div>"
                     f"<div><b>{_e(b)}</b>{_code(report.cells[b].get(task, ''), lines_b, given)}</div></div>")
    return "".join(parts)


def _similarity_section(report: ClassReport) -> str:
    sim = report.similarity
    s = sim.settings
    files = {r.stem: r.file for r in report.book.rows}
    flagged = sim.flagged
    out = [f"<p>Each student's task cells, without the lines the generated lab gives, are reduced to tokens (comments, "
           f"docstrings and layout dropped; every name a student could rename becomes <code>N</code>, numbers <code>L</code>, "
           f"strings <code>S</code>); every {s['k']} consecutive tokens are hashed and winnowing keeps the smallest hash of each "
           f"{s['window']} as fingerprints. A pair's similarity is the Jaccard index of the two sets of fingerprints "
           f"(shared / all). Code in more than {sim.common_limit} submissions (more than {s['common_share']:.0%}) is the "
           f"common way to write it and is left out. A pair is flagged at {sim.threshold:g} or more with at least "
           f"{s['min_shared']} shared fingerprints.</p>",
           "<p class=\"note\">A flag is a reason to read both notebooks, not a finding: allowed pair work, a shared source "
           "or a very short task can make code alike. It never changes a grade.</p>",
           f"<p>{len(sim.names)} notebook(s) compared ({sim.total_pairs} pairs); "
           f"<span class=\"flag\">{len(flagged)} pair(s) flagged</span>.</p>"]
    if report.unreadable:
        out.append(f"<p class=\"note\">Not compared: {len(report.unreadable)} notebook(s) whose cells could not be read "
                   "(listed under Written questions).</p>")
    if flagged:
        out.append(_table(["similarity", "submission", "submission", "shared fingerprints"],
                          [[f"{p.score:.2f}", _e(files.get(p.a, p.a)), _e(files.get(p.b, p.b)), str(p.shared)]
                           for p in flagged[:LISTED]], {0, 3}))
        if len(flagged) > LISTED:
            out.append(f"<p class=\"note\">And {len(flagged) - LISTED} more pairs: so many flags usually mean a threshold "
                       "too low for this lab (<code>--threshold</code>).</p>")
        out.append("<p class=\"note\">Side by side, each task's cells: <span class=\"mark\">highlighted</span> lines hold a "
                   "fingerprint the other notebook has too, grey lines are the lab's own.</p>")
        for p in flagged[:SIDE_BY_SIDE]:
            out.append(f"<details><summary><b>{p.score:.2f}</b> {_e(p.a)} ↔ {_e(p.b)} ({p.shared} shared fingerprints)"
                       f"</summary>{_side_by_side(report, p.a, p.b)}</details>")
        if len(flagged) > SIDE_BY_SIDE:
            out.append(f"<p class=\"note\">Side by side: the first {SIDE_BY_SIDE} pairs only.</p>")
    shown = {id(p) for p in flagged}
    below = [p for p in sim.pairs if id(p) not in shown][:5]
    if below:
        out.append("<p>Most alike of the pairs not flagged: " + ", ".join(
            f"{_e(p.a)} ↔ {_e(p.b)} {p.score:.2f} ({p.shared} shared)" for p in below) + ".</p>")
    return "".join(out)


def render_html(report: ClassReport) -> str:
    """The whole page, one string: inline CSS, PNG figures as data URIs, every name and message escaped."""
    book, d = report.book, report.scores
    status_rows = [[_e(s), str(n)] for s, n in report.statuses.items()]
    task_rows = []
    for t in report.tasks:
        cases = "<br>".join(f"{_e(name)}{' (hidden)' if hidden and 'hidden' not in name.lower() else ''}: {n} of {t.ran}"
                            for name, hidden, n in t.failed_cases)
        messages = "<br>".join(f"{n}× <code>{_e(m)}</code>" for m, n in t.messages)
        task_rows.append([f"<code>{_e(t.name)}</code>", number(t.max_points), f"{t.mean_points:.2f}",
                          f"{t.full_share:.0%} ({t.full_marks} of {t.count})", cases or "none", messages or "none"])
    written = "<p>This lab has no written questions.</p>"
    if book.written:
        written = ("<p class=\"note\">The gradebook does not record written answers (they are graded by hand): these counts "
                   f"come from the markdown answer cells (nbgrader <code>solution: true</code>) of the {len(report.cells)} "
                   f"submitted notebook(s) that could be read, where the gradebook says they were graded.</p>"
                   + _table(["question", "points", "answered", "left as given", "cell missing", "median words"],
                            [[f"<code>{_e(w.grade_id)}</code>", number(w.points), str(w.answered), str(w.blank), str(w.missing),
                              "" if w.median_words is None else f"{w.median_words:g}"] for w in report.written],
                            {1, 2, 3, 4, 5}))
    if report.unreadable:
        written += "<p>Notebooks that could not be read:</p>" + _table(
            ["submission", "why"], [[_e(r.file), _e(why)] for r, why in report.unreadable])
    slow = _table(["submission", "status", "seconds"], [[_e(r.file), _e(r.status), f"{r.grade.seconds:.1f}"] for r in report.slowest], {2})
    regraded = _table(["submission", "status", "note"], [[_e(r.file), _e(r.status), _e(n)] for r, n in report.regraded]) \
        if report.regraded else "<p>None.</p>"
    problems = [r for r in book.rows if r.status != "ok"]
    problem_table = _table(["submission", "status", "why"], [[_e(r.file), _e(r.status), _e(r.grade.message)] for r in problems]) \
        if problems else ""
    summary = _table([], [["submissions", str(d.count)], ["maximum score", number(book.max_score)],
                                ["mean", f"{d.mean:.2f}"], ["median", f"{d.median:.2f}"],
                                ["quartiles (25 %, 75 %)", f"{d.q1:.2f}, {d.q3:.2f}"], ["lowest, highest", f"{d.low:g}, {d.high:g}"]],
                     {1})
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Class report: {_e(book.lab)}</title><style>{CSS}</style></head><body>
<h1>Class report: {_e(book.lab)}</h1>
<p class="note">From the gradebook <code>{_e(book.folder)}</code> by <code>cvcourse report</code>. Scores come from its grades.csv;
cases, messages and times from its rows/.</p>
<h2 id="scores">Scores</h2>
<div class="figures">{_img(score_figure(report), "histogram of the scores")}<div>{summary}
{_table(["status", "submissions"], status_rows, {1})}</div></div>
<p class="note">Every status but <code>ok</code> scores 0; quartiles by linear interpolation.</p>{problem_table}
<h2 id="tasks">Tasks</h2>
{_img(task_figure(report), "mean points and full marks per task")}
{_table(["task", "points", "mean points", "full marks", "most often failed cases (of the notebooks that ran)",
         "commonest messages of failed public cases"], task_rows, {1, 2})}
<h2 id="written">Written questions</h2>
{written}
<h2 id="time">Time</h2>
<p>{_time_text(book, book.rows)}</p>
<h3>Slowest submissions</h3>{slow}
<h3>Re-graded after the batch</h3>{regraded}
<h2 id="similarity">Similar code</h2>
{_img(similarity_figure(report), "histogram of the similarity of every pair")}
{_similarity_section(report)}
</body></html>
"""


# --------------------------------------------------------------------------- the command


def report_command(args) -> int:
    """``cvcourse report``: 0 when the page (or exports) are written, 2 with a one-line error on bad input."""

    def fail(message: str) -> int:
        print(f"error: {message}", file=sys.stderr)
        return 2

    if not 0 < args.threshold <= 1:
        return fail("--threshold must be a number above 0 and at most 1")
    if args.roster and not args.lms:
        return fail("--roster gives the students' LMS identifiers: use it with --lms canvas or --lms moodle")
    folder = Path(args.grades_dir)
    start = time.perf_counter()
    try:
        book = read_gradebook(folder)
        roster = lms.read_roster(args.roster, book) if args.roster else None
        kinds = list(dict.fromkeys(args.lms or []))
        targets = [folder / lms.FORMATS[k] for k in kinds] if kinds else [folder / REPORT]
        taken = [t for t in targets if t.exists()]
        if taken and not args.force:
            return fail(f"{taken[0]} exists; give --force to replace it")
        if kinds:
            for kind, target in zip(kinds, targets):
                atomic_write(target, lms.export(book, kind, args.assignment or book.lab, roster))
                print(f"Wrote {target} ({kind}, {len(book.rows)} submission(s)).")
            return 0
        report = build_report(book, args.threshold)
        atomic_write(targets[0], render_html(report))
    except GradebookError as err:
        return fail(str(err))
    except OSError as err:
        return fail(f"cannot write to {folder}: {err.strerror or err}")
    flagged = len(report.similarity.flagged)
    print(f"Wrote {targets[0]}: {len(book.rows)} submission(s), mean {report.scores.mean:.2f}/{number(book.max_score)}, "
          f"{flagged} similar pair(s) flagged ({time.perf_counter() - start:.1f} s). Open it in a browser.")
    return 0
