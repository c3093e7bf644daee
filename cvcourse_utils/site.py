"""The course as a website: every lecture executed with its outputs, its deck and its lab, built offline.

``cvcourse site`` (``make site``) builds ``site/_build/html`` with Sphinx, MyST-NB and the book theme (the
``site`` extra). It works in three steps:

1. **Execute** each lecture with the course's own runner (``execute.py``, the one ``cvcourse slides`` uses,
   so widget figures are kept) and keep the result in a jupyter-cache, one per mode
   (``site/_build/.jupyter_cache/fast`` and ``/full``). A notebook whose code is unchanged is not run again.
   A lecture shows full-mode outputs when its full-mode run is cached (``--full`` runs and caches them),
   fast-mode outputs (``CVCOURSE_FAST=1``) otherwise, and its page says which.
2. **Write the sources** into ``site/_build/src``: the home page and syllabus (from the README), one page per
   lecture with its outputs, its lab (from ``labs/``: no solutions) as a sub-page with a download link or an
   "Open in JupyterHub" button (``CVCOURSE_HUB_URL`` and ``CVCOURSE_REPO_URL``), and each lecture's deck.
   Files are only rewritten when they change, so Sphinx re-reads only what changed.
3. **Build** with Sphinx. MathJax comes from ``.venv/node`` (``webassets.py``), so nothing is fetched.

    build_site(".", only=["01", "06"])   # -> SiteBuild(html=Path("site/_build/html"), ...)
"""
from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from cvcourse_utils.notebooks import cell_source, read_notebook

MODES = ("full", "fast")
ID = re.compile(r"[^A-Za-z0-9_-]+")


class SiteError(RuntimeError):
    """The site cannot be built: a lecture failed (which cell), or a tool is missing (what to install)."""


@dataclass
class Module:
    number: str
    lecture: Path
    lab: Path | None


@dataclass
class SiteBuild:
    html: Path
    executed: list[str] = field(default_factory=list)   # lectures run during this build
    cached: list[str] = field(default_factory=list)     # lectures taken from the cache
    modes: dict[str, str] = field(default_factory=dict)  # lecture -> "fast" or "full"
    seconds: float = 0.0


def modules(root: str | Path, only: list[str] | None = None) -> list[Module]:
    """The course's modules in order (``only``: these numbers, e.g. ["01", "06"])."""
    root = Path(root)
    found = []
    for lecture in sorted((root / "lectures").glob("[0-9][0-9]_*.ipynb")):
        number = lecture.name[:2]
        if only and number not in {f"{int(n):02d}" for n in only}:
            continue
        labs = sorted((root / "labs").glob(f"lab{number}_*.ipynb"))
        found.append(Module(number, lecture, labs[0] if labs else None))
    if only and len(found) != len(set(only)):
        known = ", ".join(p.name[:2] for p in sorted((root / "lectures").glob("[0-9][0-9]_*.ipynb")))
        raise SiteError(f"no lecture for some of {', '.join(only)} (lectures: {known})")
    return found


# --------------------------------------------------------------------------- 1. execution with a cache


def _node(nb: dict):
    import nbformat

    return nbformat.reads(json.dumps(nb), as_version=4)


def cached_run(cache_root: Path, mode: str, nb: dict) -> tuple[dict, str] | None:
    """The cached run of ``nb``'s code in ``mode`` (outputs merged in, and the run's date), or None."""
    from jupyter_cache import get_cache

    cache = get_cache(cache_root / mode)
    try:
        pk, merged = cache.merge_match_into_notebook(_node(nb))
    except KeyError:
        return None
    return json.loads(json.dumps(merged)), cache.get_cache_record(pk).created.strftime("%Y-%m-%d")


def store_run(cache_root: Path, mode: str, nb: dict, uri: Path) -> None:
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    get_cache(cache_root / mode).cache_notebook_bundle(CacheBundleIn(_node(nb), str(uri)), check_validity=False,
                                                       overwrite=True)


def run_lecture(module: Module, mode: str, timeout: float) -> dict:
    """Execute a lecture in ``mode``; a failing cell raises :class:`SiteError` naming the lecture and cell."""
    from cvcourse_utils.execute import CellError, CellTimeout, execute_notebook

    nb = read_notebook(module.lecture)
    env = dict(os.environ, MPLBACKEND="module://matplotlib_inline.backend_inline")  # figures become outputs
    env.pop("CVCOURSE_FAST", None)
    if mode == "fast":
        env["CVCOURSE_FAST"] = "1"
    try:
        return execute_notebook(nb, cwd=module.lecture.parent, timeout=timeout, env=env)
    except (CellError, CellTimeout) as err:
        where = re.match(r"cell (\d+)", str(err))
        first = cell_source(nb["cells"][int(where.group(1))]).strip().splitlines()[0] if where else ""
        hint = (f"; if it trains a model, run `cvcourse prepare {module.number}` first or raise --timeout"
                if isinstance(err, CellTimeout) else "")
        raise SiteError(f"lectures/{module.lecture.name} failed in {mode} mode: {err} "
                        f"(the cell that starts {first!r}){hint}") from None


def executed_lecture(module: Module, cache_root: Path, *, full: bool, timeout: float) -> tuple[dict, str, str, bool]:
    """The lecture with outputs: (notebook, mode, date of the run, whether it came from the cache).

    A cached full-mode run wins; ``full`` runs the lecture in full mode when none is cached; else fast mode.
    """
    nb = read_notebook(module.lecture)
    for mode in MODES:
        hit = cached_run(cache_root, mode, nb)
        if hit:
            return hit[0], mode, hit[1], True
        if mode == "full" and not full:
            continue
        print(f"running lectures/{module.lecture.name} in {mode} mode ...", flush=True)
        start = time.perf_counter()
        ran = run_lecture(module, mode, timeout)
        store_run(cache_root, mode, ran, module.lecture)
        print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
        return ran, mode, datetime.date.today().isoformat(), False
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- 2. the sources


def _write(path: Path, text: str) -> bool:
    """Write ``text`` unless the file already holds it (Sphinx then leaves the page alone); whether it wrote."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def _markdown_cell(text: str, name: str) -> dict:
    return {"cell_type": "markdown", "id": ID.sub("-", name), "metadata": {}, "source": text}


def _section(readme: str, heading: str) -> str:
    """The body of README's ``## heading`` section, without in-page links (they point into the README)."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", readme, re.S | re.M)
    if not match:
        raise SiteError(f"README.md has no '## {heading}' section")
    return re.sub(r"\[([^\]]+)\]\(#[^)]*\)", r"\1", match.group(1)).strip()


MODE_TEXT = {
    "fast": "a **fast-mode** run (`CVCOURSE_FAST=1`: smaller data and fewer epochs than in class, the same code "
            "and the same lesson), so numbers and figures differ from a full run",
    "full": "a **full-mode** run, as in class",
}


def lecture_page(module: Module, nb: dict, mode: str, date: str) -> dict:
    """The lecture as its page: the title, a note (mode, deck, lab), then the executed cells."""
    from cvcourse_utils.slides import _clean_output

    nb = json.loads(json.dumps(nb))
    for cell in nb["cells"]:
        if cell.get("cell_type") == "code":  # widgets as their drawings, no cache paths, no <Figure ...> lines
            cell["outputs"] = [o for o in map(_clean_output, cell.get("outputs", [])) if o is not None]
    deck = f"../slides/{module.lecture.stem}.html"
    note = (f"```{{note}}\nThe outputs on this page come from {MODE_TEXT[mode]} (run on {date}).\n"
            f'**Slides:** <a class="deck-link" href="{deck}">the lecture as a slide deck</a> (opens offline). ')
    if module.lab:
        note += f"**Lab:** {{doc}}`../labs/{module.lab.stem}`"
    note += "\n```\n"
    cells = [nb["cells"][0], _markdown_cell(note, f"site-note-{module.number}")] + nb["cells"][1:]
    if module.lab:
        cells.append(_markdown_cell(f"```{{toctree}}\n:hidden:\n\n../labs/{module.lab.stem}\n```\n", f"site-lab-{module.number}"))
    nb["cells"] = cells
    nb.setdefault("metadata", {}).pop("widgets", None)
    return nb


def lab_page(module: Module, hub: str | None, repo: str | None) -> dict:
    """The student's lab (from labs/: no solutions), with a download link or an "Open in JupyterHub" button."""
    nb = read_notebook(module.lab)
    rel = f"labs/{module.lab.name}"
    buttons = f'<a class="btn btn-outline-primary lab-download" href="{module.lab.name}" download>Download the lab</a>'
    if hub:
        from cvcourse_utils.hub import hub_link

        link = hub_link(hub, repo, rel)
        buttons = f'<a class="btn btn-primary lab-hub" href="{link}">Open in JupyterHub</a> ' + buttons
    text = (f"{buttons}\n\nThis is the lab as a student gets it (`{rel}`): run each task's check cell for "
            "instant feedback. Work on it in JupyterLab (`make lab`), not on this page.\n")
    nb["cells"] = [nb["cells"][0], _markdown_cell(text, f"site-lab-note-{module.number}")] + nb["cells"][1:]
    return nb


def home_page(readme: str, mods: list[Module]) -> str:
    intro = readme.split("\n## ", 1)[0].split("\n", 1)[1].strip()
    quick = _section(readme, "Quickstart").split("\n\n**What you need first", 1)[0]
    toc = "\n".join(f"lectures/{m.lecture.stem}" for m in mods)
    return (f"# cvcourse: computer vision, from pixels to diffusion models\n\n{intro}\n\n"
            f"## Who it is for\n\n{_section(readme, 'Who it is for')}\n\n"
            f"## Two commands\n\n{quick}\n\nThe [syllabus](syllabus.md) lists the modules; each page below is a "
            "lecture with its outputs, its slide deck and its lab.\n\n"
            f"```{{toctree}}\n:hidden:\n:caption: Course\n\nsyllabus\n```\n\n"
            f"```{{toctree}}\n:caption: Modules\n:maxdepth: 1\n\n{toc}\n```\n")


def syllabus_page(readme: str, mods: list[Module]) -> str:
    table = _section(readme, "Syllabus")
    for m in mods:  # the module's name links to its page
        table = re.sub(rf"^\| {m.number} \| ([^|]+?) \|", rf"| {m.number} | [\1](lectures/{m.lecture.stem}.ipynb) |",
                       table, flags=re.M)
    return f"# Syllabus\n\n{table}\n"


def hub_settings() -> tuple[str | None, str | None]:
    """``CVCOURSE_HUB_URL`` and the repository the hub pulls (``CVCOURSE_REPO_URL``); a clear error if one is missing."""
    hub, repo = os.environ.get("CVCOURSE_HUB_URL") or None, os.environ.get("CVCOURSE_REPO_URL") or None
    if hub and not repo:
        raise SiteError("CVCOURSE_HUB_URL is set, so the labs get 'Open in JupyterHub' buttons: set CVCOURSE_REPO_URL "
                        "to the course's git repository too (as `cvcourse hub-link --repo` takes it)")
    return hub, repo


# --------------------------------------------------------------------------- 3. the build


def missing_tools() -> str | None:
    """None when the site can be built, else what is missing and how to install it."""
    from cvcourse_utils.webassets import missing_assets

    for name in ("sphinx", "myst_nb", "sphinx_book_theme", "jupyter_cache"):
        try:
            __import__(name)
        except ImportError:
            return f"{name} is not installed: the site needs the course's site extra (pip install -e \".[site]\", or make setup)"
    return missing_assets()


def build_site(root: str | Path = ".", *, full: bool = False, only: list[str] | None = None, timeout: float = 1800,
               clean: bool = False, build: str | Path | None = None) -> SiteBuild:
    """Build the website into ``<build>/html``, by default ``<root>/site/_build/html`` (see the module's docstring).

    only: these modules; full: run lectures in full mode where no full-mode run is cached; timeout: seconds per
    cell; clean: drop the build folder, execution cache included, first.
    """
    from cvcourse_utils.slides import deck_notebook, deck_title, render_deck
    from cvcourse_utils.webassets import web_asset

    reason = missing_tools()
    if reason:
        raise SiteError(reason)
    start = time.perf_counter()
    root = Path(root).resolve()
    build = Path(build).resolve() if build else root / "site" / "_build"
    src, html, extra, cache_root = build / "src", build / "html", build / "extra", build / ".jupyter_cache"
    if clean:
        shutil.rmtree(build, ignore_errors=True)
    hub, repo = hub_settings()
    mods = modules(root, only)
    result = SiteBuild(html)

    readme = (root / "README.md").read_text(encoding="utf-8")
    _write(src / "index.md", home_page(readme, mods))
    _write(src / "syllabus.md", syllabus_page(readme, mods))
    _write(src / "conf.py", (root / "site" / "conf.py").read_text(encoding="utf-8"))
    _write(src / "_static" / "course.css", (root / "site" / "course.css").read_text(encoding="utf-8"))
    mathjax = src / "_static" / "mathjax" / "tex-svg.js"
    if not mathjax.is_file() or mathjax.stat().st_size != web_asset("mathjax").stat().st_size:
        mathjax.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(web_asset("mathjax"), mathjax)

    wanted = {"index.md", "syllabus.md", "conf.py"}
    for module in mods:
        nb, mode, date, from_cache = executed_lecture(module, cache_root, full=full, timeout=timeout)
        (result.cached if from_cache else result.executed).append(module.lecture.name)
        result.modes[module.lecture.name] = mode
        page = json.dumps(lecture_page(module, nb, mode, date), indent=1, sort_keys=True)
        if _write(src / "lectures" / module.lecture.name, page) or not (extra / "slides" / f"{module.lecture.stem}.html").is_file():
            _write(extra / "slides" / f"{module.lecture.stem}.html", render_deck(deck_notebook(nb), deck_title(nb, module.lecture.stem)))
        wanted.add(f"lectures/{module.lecture.name}")
        if module.lab:
            _write(src / "labs" / module.lab.name, json.dumps(lab_page(module, hub, repo), indent=1, sort_keys=True))
            _write(extra / "labs" / module.lab.name, module.lab.read_text(encoding="utf-8"))
            wanted.add(f"labs/{module.lab.name}")
    for folder in ("lectures", "labs"):  # pages of modules left out of this build (--only) go
        for stale in (src / folder).glob("*.ipynb"):
            if f"{folder}/{stale.name}" not in wanted:
                stale.unlink()

    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", "1", str(src), str(html), "-d", str(build / "doctrees")]
    done = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    if done.returncode != 0:
        raise SiteError(f"Sphinx failed (exit {done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}")
    warnings = [line for line in done.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    if warnings:
        print(f"Sphinx: {len(warnings)} warning(s):\n  " + "\n  ".join(warnings[:20]), file=sys.stderr)
    result.seconds = time.perf_counter() - start
    return result


def site_size(html: Path) -> int:
    """Bytes under ``html``."""
    return sum(p.stat().st_size for p in html.rglob("*") if p.is_file())

