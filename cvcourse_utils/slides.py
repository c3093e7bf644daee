"""Lectures as slides: slide metadata for presenting live, and a self-contained HTML deck.

- Every lecture carries RISE's slide metadata (``cell.metadata.slideshow.slide_type``): the title and
  every ``## `` section start a slide, every ``### `` heading a sub-slide, and code and figures stay
  on the slide of the text before them. In JupyterLab, the ``jupyterlab-rise`` extension (installed
  with the course) presents the notebook live, with running code. ``cvcourse slides --tag`` writes
  the metadata; a test checks that every lecture has it.
- ``cvcourse slides NN`` runs lecture NN and writes one reveal.js deck with its outputs, made by
  nbconvert's ``SlidesExporter`` with the course's template (``templates/cvcourse_deck``): reveal.js,
  MathJax (formulas as SVG) and every style are inlined and figures are embedded images, so the one
  HTML file opens offline from disk. Both come from the npm registry at set-up (``webassets.py``).
- A deck is made for a room (:func:`deck_notebook`): the set-up cell and cache paths stay off the
  slides, a figure that would fall below the fold starts a sub-slide of its own, long code folds
  away under a click, and matplotlib's return values (``<Figure size ...>``) are not shown.
"""
from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

from cvcourse_utils.notebooks import cell_source, read_notebook, write_notebook


def slide_type(cell: dict, index: int) -> str:
    """The course's rule: title and ``## `` sections are slides, ``### `` sub-slides, the rest follows."""
    if cell.get("cell_type") == "markdown":
        text = cell_source(cell).lstrip()
        if index == 0 or text.startswith("## "):
            return "slide"
        if text.startswith("### "):
            return "subslide"
    return "-"


def with_slide_metadata(nb: dict) -> dict:
    """A copy of ``nb`` whose cells carry the slide metadata of :func:`slide_type`."""
    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb["cells"]):
        cell.setdefault("metadata", {})["slideshow"] = {"slide_type": slide_type(cell, i)}
    return nb


def tag_lectures(root: str | Path = ".") -> list[Path]:
    """Write the slide metadata into every ``lectures/*.ipynb`` that lacks it; returns the files changed."""
    changed = []
    for path in sorted(Path(root, "lectures").glob("*.ipynb")):
        nb = read_notebook(path)
        tagged = with_slide_metadata(nb)
        if tagged != nb:
            write_notebook(path, tagged)
            changed.append(path)
    return changed


# --------------------------------------------------------------------------- a deck for a room

WIDGET = "application/vnd.jupyter.widget-view+json"
CACHE_PATH = re.compile(r"""(?:(?<=[\s'"(])|^)[~/][^\s'"()]*\.cache/cvcourse[^\s'"()]*""", re.M)
# tqdm's bar in a notebook is a widget whose text is the bar: "sampling 300 images:  40%|####  | 8/20 [00:03<00:04, ...]",
# or without a total "12it [00:03, 4.01it/s]"
TQDM_BAR = re.compile(r"\d+%\|.*\| *\S+/\S+ \[|^[^|\n]*\d+\S* \[\d+:\d\d, ")
MATPLOTLIB_REPR = re.compile(r"^(<(Figure|matplotlib\.|Axes)|\[<matplotlib\.|Text\(|<Axes)")
FOLD_LINES = 12     # longer code folds away under a click, so the figure it draws stays on screen
SLIDE_LINES = 16    # about this many lines of text fit above a figure on a slide
LONG_VALUE = 16     # a displayed value longer than this shows its first half only
PREPARE_HINT = "run `cvcourse prepare {number}` first, so that its models are trained and cached before class"


def _text(value) -> str:
    return value if isinstance(value, str) else "".join(value)


def _has_figure(cell: dict) -> bool:
    return any("image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {}) for o in cell.get("outputs", []))


def _lines(cell: dict) -> int:
    """Roughly how many lines of text a cell takes on a slide (a markdown line of ~90 characters each)."""
    if cell.get("cell_type") == "markdown":
        return sum(1 + len(line) // 90 for line in cell_source(cell).splitlines() if line.strip())
    shown = 1 if cell["metadata"].get("deck_fold") else len(cell_source(cell).splitlines())
    printed = sum(_text(o.get("text", "")).count("\n") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    return shown + printed


def hide_cache_paths(text: str) -> str:
    """``text`` with paths into the course's cache (``~/.cache/cvcourse/...``, ``$CVCOURSE_DATA``) as "the course cache"."""
    data = os.environ.get("CVCOURSE_DATA")
    if data and data in text:
        text = re.sub(re.escape(data.rstrip("/")) + r"""[^\s'"()]*""", "the course cache", text)
    return CACHE_PATH.sub("the course cache", text) if ".cache/cvcourse" in text else text


def _clean_output(output: dict) -> dict | None:
    """The output as a slide (or the website) shows it, or None to drop it (stderr, matplotlib's return values).

    Progress bars are dropped (on stderr, or tqdm's notebook widget), other widgets become a note under the figure
    they drew, cache paths "the course cache", a long displayed value (a tensor a widget's function returned) its
    first lines, and an HTML output loses its ``<script>`` and ``<link>``.
    """
    kind = output.get("output_type")
    if kind == "stream":
        if output.get("name") == "stderr":
            return None  # progress bars and warnings: the lecture shows them, the deck need not
        return dict(output, text=hide_cache_paths(_text(output["text"])))
    if kind not in ("display_data", "execute_result"):
        return output
    data = dict(output.get("data", {}))
    if WIDGET in data and TQDM_BAR.search(_text(data.get("text/plain", ""))):
        return None  # a progress bar (tqdm.auto in a kernel): the lecture shows it, the deck need not
    if WIDGET in data:  # the figure the widget drew is captured in the cell's outputs: say what this is
        note = "an interactive widget: its first drawing is shown; open the notebook to use it"
        return {"output_type": "display_data", "metadata": {}, "data": {"text/html": f'<p class="deck-note">[{note}]</p>'}}
    if "text/html" in data:  # an output's own scripts and style sheets could load from anywhere: not on a deck
        data["text/html"] = re.sub(r"<script\b.*?</script\s*>|<link\b[^>]*>", "", _text(data["text/html"]), flags=re.S | re.I)
    if "text/plain" in data:
        plain = hide_cache_paths(_text(data["text/plain"]))
        if len(data) == 1 and MATPLOTLIB_REPR.match(plain.strip()):
            return None
        lines = plain.splitlines()
        if len(data) == 1 and len(lines) > LONG_VALUE:  # a returned tensor or list (a widget's return value): its start
            plain = "\n".join(lines[:LONG_VALUE // 2] + [f"... ({len(lines) - LONG_VALUE // 2} more lines)"])
        data["text/plain"] = plain
    return dict(output, data=data)


def deck_notebook(nb: dict) -> dict:
    """A copy of an executed lecture arranged for the room (see the module's docstring)."""
    nb = with_slide_metadata(nb)
    set_up = next((c for c in nb["cells"] if c.get("cell_type") == "code"), None)
    lines, figures = 0, 0
    for cell in nb["cells"]:
        show = cell["metadata"]["slideshow"]
        if cell is set_up:
            show["slide_type"] = "skip"  # imports and settings: not for the room
            continue
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in map(_clean_output, cell.get("outputs", [])) if o is not None]
            if len(cell_source(cell).splitlines()) > FOLD_LINES:
                cell["metadata"]["deck_fold"] = True
            if _has_figure(cell) and show["slide_type"] == "-" and (figures or lines > SLIDE_LINES):
                show["slide_type"] = "subslide"  # the figure would fall below the fold: a sub-slide of its own
        if show["slide_type"] in ("slide", "subslide"):
            lines, figures = 0, 0
        lines += _lines(cell)
        figures += _has_figure(cell)
    return nb


def _asset_text(name: str) -> str:
    from cvcourse_utils.webassets import web_asset

    # Inlined in a <script> or <style>: "</" must not close it early.
    return web_asset(name).read_text(encoding="utf-8").replace("</script", "<\\/script").replace("</style", "<\\/style")


COURSE_CSS = """
:root { --r-main-font-size: 26px; --r-heading1-size: 1.9em; --r-heading2-size: 1.45em; --r-heading3-size: 1.15em;
        --r-main-font: system-ui, sans-serif; --r-heading-font: system-ui, sans-serif; --r-heading-text-transform: none; }
.reveal .slides { text-align: left; }
.reveal .slides section { height: 100%; overflow-y: auto; }  /* a slide longer than the screen scrolls */
.reveal .jp-InputPrompt, .reveal .jp-OutputPrompt { display: none; }
.reveal img { max-width: 100%; max-height: 640px; margin: 0.2em auto; display: block; }
.reveal pre { box-shadow: none; width: 100%; font-size: 0.6em; }
.reveal .jp-RenderedText pre, .reveal .jp-RenderedHTMLCommon pre { font-size: 0.62em; }
.reveal table { font-size: 0.75em; }
.reveal a.anchor-link { display: none; }
.deck-note { color: #666; font-style: italic; font-size: 0.75em; }
details.deck-code > summary { cursor: pointer; color: #555; font-size: 0.6em; }
"""
MATHJAX_CONFIG = ("window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], processEscapes: true}, "
                  "svg: {fontCache: 'global'}, options: {enableMenu: false}};")
REVEAL_INIT = ("Reveal.initialize({hash: true, center: false, width: 1280, height: 800, margin: 0.03, "
               "transition: 'none', slideNumber: 'c/t', navigationMode: 'linear', controls: true, progress: true});")


def render_deck(nb: dict, title: str) -> str:
    """One self-contained reveal.js page of ``nb`` (already arranged by :func:`deck_notebook`)."""
    import nbformat
    from nbconvert import SlidesExporter

    exporter = SlidesExporter(template_name="cvcourse_deck", extra_template_basedirs=[str(Path(__file__).parent / "templates")],
                              exclude_input_prompt=True, exclude_output_prompt=True)
    theme = re.sub(r"@import url\([^)]*\);", "", _asset_text("reveal_theme"))  # its web fonts: system fonts instead
    resources = {"deck": {"title": title, "reveal_css": _asset_text("reveal_css"), "theme_css": theme,
                          "reveal_js": _asset_text("reveal_js"), "mathjax_js": _asset_text("mathjax"),
                          "mathjax_config": MATHJAX_CONFIG, "reveal_init": REVEAL_INIT, "course_css": COURSE_CSS}}
    nb = {"metadata": {}, "nbformat": 4, "nbformat_minor": 5, **nb}
    node = nbformat.reads(json.dumps(nb), as_version=4)  # sources as strings, as nbconvert wants them
    node["metadata"].pop("widgets", None)  # no widget state: the template then loads no widget manager
    body, _ = exporter.from_notebook_node(node, resources=resources)
    return body


def lecture_path(root: str | Path, number: str | int) -> Path:
    """``lectures/NN_<topic>.ipynb`` of the course in ``root``; a clear error when there is none."""
    root = Path(root)
    try:
        number = f"{int(number):02d}"
    except ValueError:
        raise ValueError(f"a lecture number is two digits, e.g. 04, not {number!r}") from None
    found = sorted((root / "lectures").glob(f"{number}_*.ipynb"))
    if len(found) != 1:
        known = ", ".join(p.name[:2] for p in sorted((root / "lectures").glob("[0-9][0-9]_*.ipynb")))
        raise FileNotFoundError(f"no lecture {number} in {root / 'lectures'} (lectures: {known})")
    return found[0]


def trained_during_run(nb: dict) -> list[str]:
    """The models a run had to train because they were not cached (from ``get_or_train``'s message)."""
    printed = "".join(_text(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    return re.findall(r"training '([^']+)' \(cached for next time", printed)


def deck_title(nb: dict, fallback: str) -> str:
    return cell_source(nb["cells"][0]).splitlines()[0].lstrip("# ").strip() if nb["cells"] else fallback


def build_deck(root: str | Path, number: str | int, out: str | Path | None = None, *, execute: bool = True,
               timeout: float = 1800) -> Path:
    """Run lecture ``number`` (in the mode this process is in: fast mode if ``CVCOURSE_FAST=1``) and write its deck.

    timeout: seconds per cell. Returns the HTML file, by default ``slides/NN_<topic>.html`` in the course folder.
    """
    path = lecture_path(root, number)
    nb = read_notebook(path)
    if execute:
        from cvcourse_utils.execute import execute_notebook

        env = dict(os.environ, MPLBACKEND="module://matplotlib_inline.backend_inline")  # figures become outputs
        nb = execute_notebook(nb, cwd=path.parent, timeout=timeout, env=env)
    target = Path(out) if out else Path(root) / "slides" / f"{path.stem}.html"
    if target.suffix != ".html":
        target = target / f"{path.stem}.html"
    page = render_deck(deck_notebook(nb), deck_title(nb, path.stem))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target


def embedded_images(page: str) -> bool:
    """Whether every image of a deck is embedded (a ``data:`` URL)."""
    return all(src.startswith("data:") for src in re.findall(r'<img[^>]*\ssrc="([^"]*)"', page))
