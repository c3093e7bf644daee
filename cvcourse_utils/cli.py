"""The ``cvcourse`` command: ``doctor``, ``labs``, ``normalize``, ``lint``, ``new-module``, ``slides``, ``site``, ``data``,
``prepare``, ``grade``, ``report``, ``hub-link`` and ``collect``."""
from __future__ import annotations

import argparse
import os
import platform
import sys
from importlib import metadata
from pathlib import Path


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def doctor(_: argparse.Namespace) -> int:
    """Print what is installed and whether it works; exit 1 with advice if the install is broken."""
    problems: list[str] = []
    print(f"Python        {platform.python_version()} ({sys.executable})")
    for dist in ("torch", "torchvision", "jupyterlab", "ipywidgets", "numpy", "matplotlib", "scikit-learn"):
        version = _version(dist)
        print(f"{dist:<13} {version or 'MISSING'}")
        if version is None:
            problems.append(f"{dist} is not installed")
    try:
        import torch
        import torchvision
        from torchvision.ops import nms

        from cvcourse_utils.device import get_device

        boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
        kept = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5).tolist()
        ops_ok = kept == [0, 2]
        print(f"torchvision ops {'work' if ops_ok else 'give wrong results'} (nms kept {kept})")
        if not ops_ok:
            problems.append("torchvision.ops.nms gives wrong results")
        device = get_device()
        name = torch.cuda.get_device_name(0) if device.type == "cuda" else ""
        print(f"device        {device}{' (' + name + ')' if name else ''}")
    except Exception as err:  # a broken torch/torchvision pair fails here
        print(f"torch/torchvision do not work together: {type(err).__name__}: {err}")
        problems.append("torch and torchvision are not a working pair")
    from cvcourse_utils.cache import cache_dir

    print(f"data cache    {cache_dir()} (set CVCOURSE_DATA to move it)")
    from cvcourse_utils.site import missing_tools

    missing = missing_tools()  # optional: decks and the website only
    print(f"decks, site   {'ready (MathJax, reveal.js, Sphinx)' if not missing else 'not available: ' + missing}")
    if problems:
        print("\nThe install is broken:\n  - " + "\n  - ".join(problems))
        print("Fix: from the course folder run `make lab` again; if that does not help, delete .venv and rerun it.")
        return 1
    print("\nAll good.")
    return 0


def labs(args: argparse.Namespace) -> int:
    """Regenerate labs/ from solutions/ (or, with --check, only report what is stale)."""
    from cvcourse_utils.notebooks import MarkerError, NotebookError, generate_labs

    try:
        changed = generate_labs(args.root, check=args.check)
    except (MarkerError, NotebookError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.check:
        if changed:
            print("Labs out of date with their solutions (run `cvcourse labs`):\n  " + "\n  ".join(changed))
            return 1
        print("All labs are up to date.")
        return 0
    print("Wrote:\n  " + "\n  ".join(changed) if changed else "All labs were already up to date.")
    return 0


def normalize(args: argparse.Namespace) -> int:
    """Store notebooks as JupyterLab saves them (lectures/ and solutions/ by default, then regenerate labs/)."""
    from cvcourse_utils.notebooks import (MarkerError, NotebookError, dumps_notebook, generate_labs, read_notebook,
                                          write_notebook)

    root = Path(args.root)
    paths = args.paths or sorted([*root.glob("lectures/*.ipynb"), *root.glob("solutions/*.ipynb")])
    try:
        notebooks = {Path(p): read_notebook(p) for p in paths}  # every file is read before any is written
        if args.check:
            stale = [p for p, nb in notebooks.items() if p.read_text(encoding="utf-8") != dumps_notebook(nb)]
            stale += [] if args.paths else generate_labs(root, check=True)
        else:
            stale = [p for p, nb in notebooks.items() if write_notebook(p, nb)]
            stale += [] if args.paths else generate_labs(root)
    except (MarkerError, NotebookError, FileNotFoundError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.check:
        if stale:
            print("Not stored as JupyterLab saves them (run `cvcourse normalize`):\n  " + "\n  ".join(map(str, stale)))
            return 1
        print("Every notebook is stored as JupyterLab saves it.")
        return 0
    print("Rewrote:\n  " + "\n  ".join(map(str, stale)) if stale else "Every notebook was already stored as JupyterLab saves it.")
    return 0


def lint(args: argparse.Namespace) -> int:
    """Check that every module's files agree (metadata, points, tasks, template); exit 1 listing each problem."""
    from cvcourse_utils.lint import lint_course

    problems = lint_course(args.root, args.labs or None)
    for problem in problems:
        print(problem)
    scope = ", ".join(args.labs) if args.labs else "every module"
    if problems:
        print(f"\n{len(problems)} problem(s) in {scope}; CONTRIBUTING.md says what each cell's metadata must be.")
        return 1
    print(f"No problems in {scope}.")
    return 0


def new_module(args: argparse.Namespace) -> int:
    """Write the six files of a new module from the course's template."""
    from cvcourse_utils.scaffold import ScaffoldError
    from cvcourse_utils.scaffold import new_module as scaffold

    try:
        written = scaffold(args.root, args.number, args.topic, args.title)
    except ScaffoldError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    root = Path(args.root)
    print("Wrote:\n  " + "\n  ".join(str(p.relative_to(root)) for p in written))
    print(f"Next: replace the example task, section and question; run `cvcourse labs` after each change to the "
          f"solution, and `make module N={int(args.number):02d}` to run all of the module's tests.")
    return 0


def slides(args: argparse.Namespace) -> int:
    """Write a lecture's offline HTML deck, or (--tag) the slide metadata of every lecture."""
    from cvcourse_utils.execute import CellError, CellTimeout
    from cvcourse_utils.slides import PREPARE_HINT, build_deck, tag_lectures

    if args.tag:
        changed = tag_lectures(args.root)
        print("Tagged:\n  " + "\n  ".join(map(str, changed)) if changed else "Every lecture has its slide metadata.")
        return 0
    if not args.number:
        print("error: give a lecture number (cvcourse slides 04), or --tag", file=sys.stderr)
        return 2
    number = f"{int(args.number):02d}" if str(args.number).isdigit() else args.number
    from cvcourse_utils.fast import fast_mode

    if not args.no_execute and not fast_mode():  # fast mode trains its tiny models in seconds
        from cvcourse_utils.prepare import MODELS, MODULES

        missing = [name for name in MODULES.get(number, ()) if not MODELS[name].cached()]
        if missing:  # the run would train them, for many minutes, and likely stop at the timeout
            print(f"error: lecture {number} loads models that are not cached yet ({', '.join(missing)}), so no deck was "
                  f"written\nhint: {PREPARE_HINT.format(number=number)}", file=sys.stderr)
            return 1
    try:
        path = build_deck(args.root, number, args.out, execute=not args.no_execute, timeout=args.timeout)
    except (FileNotFoundError, ValueError) as err:  # no such lecture, or MathJax / reveal.js not installed
        print(f"error: {err}", file=sys.stderr)
        return 2
    except CellTimeout as err:
        print(f"error: the lecture did not run to the end, so no deck was written: {err}\n"
              f"hint: {PREPARE_HINT.format(number=number)}, or give the cells longer with --timeout SECONDS",
              file=sys.stderr)
        return 1
    except CellError as err:
        print(f"error: the lecture did not run to the end, so no deck was written: {err}", file=sys.stderr)
        return 1
    print(f"Wrote {path}: open it in a browser; arrow keys move between slides (it works offline).")
    return 0


def site(args: argparse.Namespace) -> int:
    """Build the course website into site/_build/html."""
    from cvcourse_utils.site import SiteError, build_site, site_size

    try:
        built = build_site(args.root, full=args.full, only=args.only, timeout=args.timeout, clean=args.clean,
                           build=args.build_dir)
    except SiteError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    modes = ", ".join(f"{name[:2]} {mode}" for name, mode in built.modes.items())
    print(f"Built {built.html} in {built.seconds:.0f} s ({len(built.executed)} lecture(s) run, {len(built.cached)} from "
          f"the cache; modes: {modes}; {site_size(built.html) / 1e6:.1f} MB).")
    print(f"Serve it: python -m http.server -d {built.html}   (then open http://localhost:8000)")
    return 0


def data(args: argparse.Namespace) -> int:
    from cvcourse_utils.datasets import DatasetUnavailableError, download

    try:
        path = download(args.name)
    except (DatasetUnavailableError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{args.name} is ready in {path}")
    return 0


def prepare(args: argparse.Namespace) -> int:
    """Train (or with --check only report) the cached models that modules need: exit 0 when all are ready."""
    from cvcourse_utils.prepare import prepare as prepare_models
    from cvcourse_utils.pretrained import TrainingInterrupted

    if not args.check and "OMP_NUM_THREADS" not in os.environ:
        import torch

        # the course's models are small: one thread is faster on a laptop and ten times faster on a busy machine
        # (measured: 1.2 against 0.1 batches/s for the backbone at load 12 on 2 cores); MODELS' minutes are one thread's
        torch.set_num_threads(1)
    try:
        missing = prepare_models(args.modules, check=args.check)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # TrainingInterrupted says which model; whatever finished stays cached
        print(str(err) if isinstance(err, TrainingInterrupted) else "interrupted; the models already trained stay cached",
              file=sys.stderr)
        return 130
    return 1 if missing else 0


def grade(args: argparse.Namespace) -> int:
    from cvcourse_utils.grading import grade_command

    return grade_command(args)


def report(args: argparse.Namespace) -> int:
    from cvcourse_utils.grading.report import report_command

    return report_command(args)


def hub_link(args: argparse.Namespace) -> int:
    """Print the nbgitpuller link that gives each student the course (cloned or updated) and opens a lab."""
    from cvcourse_utils.hub import hub_link as make_link

    try:
        link = make_link(args.hub, args.repo, args.path, args.branch, args.targetpath)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.path and not (Path(args.root) / args.path).exists():
        print(f"note: {args.path} is not in the course folder {Path(args.root).resolve()}; check the path", file=sys.stderr)
    print(link)
    return 0


def collect(args: argparse.Namespace) -> int:
    """Copy every student's lab notebook from the hub's home folders into one folder, read-only, for grading."""
    from cvcourse_utils.hub import CollectError, collect as gather, lab_filename

    try:
        filename = lab_filename(args.lab, args.root)
        got = gather(args.hub_home, filename, args.out, force=args.force, strip_prefix=args.strip_prefix)
    except CollectError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: cannot write to {args.out}: {err.strerror or err}", file=sys.stderr)
        return 2
    total = len(got.copied) + len(got.missing)
    print(f"Collected {filename} from {len(got.copied)} of {total} student(s) into {args.out} (read-only copies).")
    for note in got.notes:
        print(f"note: {note}")
    if got.missing:
        print(f"No {filename} for {len(got.missing)} student(s): {', '.join(got.missing)}")
    if got.copied:
        print(f"Next: cvcourse grade {args.lab} {args.out} --out grades/{args.lab}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cvcourse", description="Tools for the cvcourse computer-vision course.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("doctor", help="check the install: versions, device, torchvision ops, data cache")
    p.set_defaults(func=doctor)

    p = sub.add_parser("labs", help="generate labs/ from solutions/")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 and list stale or missing labs")
    p.add_argument("--root", type=Path, default=Path("."), help="the course folder (default: here)")
    p.set_defaults(func=labs)

    p = sub.add_parser("normalize", help="store notebooks exactly as JupyterLab saves them (then regenerate labs/)")
    p.add_argument("paths", nargs="*", type=Path, help="notebooks (default: lectures/ and solutions/, then labs/ regenerated)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 and list the notebooks it would rewrite")
    p.add_argument("--root", type=Path, default=Path("."), help="the course folder (default: here)")
    p.set_defaults(func=normalize)

    p = sub.add_parser("lint", help="check that each module's notebooks, tasks and points agree")
    p.add_argument("labs", nargs="*", help="only these labs, e.g. lab05 (default: every module)")
    p.add_argument("--root", type=Path, default=Path("."), help="the course folder (default: here)")
    p.set_defaults(func=lint)

    p = sub.add_parser("new-module", help='write a new module\'s six files: cvcourse new-module 12 optical_flow "Optical flow"')
    p.add_argument("number", help="two digits, e.g. 12")
    p.add_argument("topic", help="lower-case words joined by '_', e.g. optical_flow")
    p.add_argument("title", help='the title, e.g. "Optical flow"')
    p.add_argument("--root", type=Path, default=Path("."), help="the course folder (default: here)")
    p.set_defaults(func=new_module)

    p = sub.add_parser("slides", help="a lecture as an offline HTML slide deck: cvcourse slides 04")
    p.add_argument("number", nargs="?", help="the lecture, e.g. 04")
    p.add_argument("--out", type=Path, help="file or folder (default: slides/NN_<topic>.html)")
    p.add_argument("--no-execute", action="store_true", help="use the notebook as it is, without running it")
    p.add_argument("--tag", action="store_true", help="write the slide metadata into every lecture")
    p.add_argument("--timeout", type=float, default=1800,
                   help="seconds each cell may run (default 1800: lecture 11 samples for minutes on a 2-core CPU)")
    p.add_argument("--root", type=Path, default=Path("."), help="the course folder (default: here)")
    p.set_defaults(func=slides)

    p = sub.add_parser("site", help="the course website (lectures with outputs, decks, labs) into site/_build/html")
    p.add_argument("--only", nargs="+", metavar="NN", help="only these modules, e.g. --only 01 06 (default: all)")
    p.add_argument("--full", action="store_true",
                   help="run in full mode the lectures whose full-mode run is not cached (default: cached full-mode "
                        "outputs where there are some, fast mode otherwise)")
    p.add_argument("--timeout", type=float, default=1800,
                   help="seconds each lecture cell may run (default 1800: lecture 11 samples for minutes on a 2-core CPU)")
    p.add_argument("--clean", action="store_true", help="start from nothing: drop the execution cache and the build")
    p.add_argument("--build-dir", type=Path, help="where to build (default: site/_build; the pages go into its html/)")
    p.add_argument("--root", type=Path, default=Path("."), help="the course folder (default: here)")
    p.set_defaults(func=site)

    p = sub.add_parser("data", help="datasets: `cvcourse data download NAME` fetches one ahead of class")
    dsub = p.add_subparsers(dest="action", required=True)
    d = dsub.add_parser("download", help="download a real dataset (mnist, fashion_mnist, cifar10) into the cache")
    d.add_argument("name")
    d.set_defaults(func=data)

    p = sub.add_parser("prepare", help="train the cached models modules need, before class: cvcourse prepare 11")
    p.add_argument("modules", nargs="*", help="module numbers, e.g. 05 11 (default: every module)")
    p.add_argument("--check", action="store_true", help="train nothing; list what is cached and what is missing (exit 1)")
    p.set_defaults(func=prepare)

    p = sub.add_parser("grade", help="grade submitted notebooks into a gradebook")
    p.add_argument("lab", help="the lab, e.g. lab01")
    p.add_argument("submissions", nargs="*", type=Path, help="notebook files or folders of them")
    p.add_argument("--out", type=Path, help="folder for grades.csv and feedback/")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted batch: keep the rows already in --out for unchanged submissions")
    p.add_argument("--self-test", action="store_true",
                   help="grade the lab's solution (must earn full marks) and generated lab (must earn 0); exit 1 if not")
    p.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel (default 1)")
    p.add_argument("--timeout", type=float, default=None,
                   help="wall-clock seconds per submission (default: the lab's TIMEOUT in its grading file, else 120)")
    p.add_argument("--root", type=Path, default=Path("."), help="the course folder (default: here)")
    p.set_defaults(func=grade)

    p = sub.add_parser("report", help="after grading: a class report in one HTML page (report.html), or --lms exports")
    p.add_argument("grades_dir", type=Path, help="the gradebook folder that `cvcourse grade --out` wrote")
    p.add_argument("--lms", action="append", choices=["canvas", "moodle", "csv"],
                   help="write the scores for an LMS instead (canvas.csv, moodle.csv) or every case in long form (cases.csv); "
                        "may be repeated")
    p.add_argument("--roster", type=Path, help="CSV with a 'submission' column (notebook name) and the LMS's student columns")
    p.add_argument("--assignment", help="the assignment's column name in the LMS export (default: the lab, e.g. lab01)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="similarity (0 to 1) from which a pair of submissions is flagged (default 0.5)")
    p.add_argument("--force", action="store_true", help="replace report.html or the export files if they exist")
    p.set_defaults(func=report)

    p = sub.add_parser("hub-link", help="print the nbgitpuller link that gives students the course on a JupyterHub")
    p.add_argument("--hub", required=True, help="the hub's URL, e.g. https://hub.example.edu")
    p.add_argument("--repo", required=True, help="the course's git repository, e.g. https://github.com/org/cvcourse")
    p.add_argument("--path", help="the file to open, inside the repository, e.g. labs/lab03_backprop_and_neural_networks.ipynb")
    p.add_argument("--branch", help="the branch to pull (default: the repository's default branch)")
    p.add_argument("--targetpath", help="the folder in each student's home (default: the repository's name)")
    p.add_argument("--root", type=Path, default=Path("."), help="the course folder, to check --path (default: here)")
    p.set_defaults(func=hub_link)

    p = sub.add_parser("collect", help="copy each student's lab from the hub's home folders, to grade them")
    p.add_argument("--hub-home", type=Path, required=True, help="the folder of the students' homes, e.g. /home")
    p.add_argument("--lab", required=True, help="the lab, e.g. lab03")
    p.add_argument("--out", type=Path, required=True, help="the submissions folder, e.g. submissions/lab03")
    p.add_argument("--force", action="store_true", help="replace notebooks already in --out")
    p.add_argument("--strip-prefix", default="", help="drop this start of each home's name, e.g. jupyter- on The Littlest JupyterHub")
    p.add_argument("--root", type=Path, default=Path("."), help="the course folder, for the lab's file name (default: here)")
    p.set_defaults(func=collect)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
