"""Lectures as slides: slide metadata for presenting live, and a self-contained HTML deck.

- Every lecture carries RISE's slide metadata (``cell.metadata.slideshow.slide_type``): the title and
  every ``## `` section start a slide, every ``### `` heading a sub-slide, and code and figures stay
  on the slide of the text before them. In JupyterLab, the ``jupyterlab-rise`` extension (installed
  with the course) presents the notebook live, with running code. ``cvcourse slides --tag`` writes
  the metadata; a test checks that every lecture has it.
- ``cvcourse slides NN`` runs lecture NN and writes one HTML file with its outputs that works
  offline: styles and the few lines of navigation are inline, figures are embedded images and
  formulas are MathML (rendered by the browser itself), so nothing is loaded from anywhere.
"""
from __future__ import annotations

import copy
import html
import os
import re
from pathlib import Path

from cvcourse_utils.notebooks import cell_source, read_notebook, write_notebook

MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\s)(.+?)(?<![\s\\])\$", re.S)


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


# --------------------------------------------------------------------------- the HTML deck


def _math(tex: str, display: bool) -> str:
    from latex2mathml.converter import convert

    try:
        return convert(tex.strip(), display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - a construct latex2mathml lacks: show the TeX itself
        return f"<code>{html.escape(tex)}</code>"


def markdown_html(text: str) -> str:
    """Markdown with $...$ and $$...$$ turned into MathML (math is cut out first, so Markdown leaves it alone)."""
    import mistune

    formulas: list[str] = []

    def stash(match: re.Match) -> str:
        display = match.group(1) is not None
        formulas.append(_math(match.group(1) if display else match.group(2), display))
        return f"\x00{len(formulas) - 1}\x00"

    rendered = mistune.create_markdown(plugins=["table", "strikethrough"], escape=False)(MATH.sub(stash, text))
    return re.sub("\x00(\\d+)\x00", lambda m: formulas[int(m.group(1))], rendered)


def _code_html(source: str) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return highlight(source, PythonLexer(), HtmlFormatter(cssclass="hl"))


def _output_html(output: dict) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return f'<pre class="out">{html.escape("".join(output.get("text", "")))}</pre>'
    if kind == "error":
        return f'<pre class="out err">{html.escape(output.get("ename", ""))}: {html.escape(output.get("evalue", ""))}</pre>'
    data = output.get("data", {})
    if "image/png" in data:
        png = data["image/png"] if isinstance(data["image/png"], str) else "".join(data["image/png"])
        return f'<img alt="figure" src="data:image/png;base64,{png.strip()}">'
    if "application/vnd.jupyter.widget-view+json" in data:
        return '<p class="note">[an interactive widget: present the notebook itself (RISE) to use it]</p>'
    if "text/html" in data:
        markup = "".join(data["text/html"])
        return re.sub(r"<script\b.*?</script>|<link\b[^>]*>", "", markup, flags=re.S | re.I)
    if "text/plain" in data:
        return f'<pre class="out">{html.escape("".join(data["text/plain"]))}</pre>'
    return ""


STYLE = """
body { margin: 0; background: #222; font-family: system-ui, sans-serif; }
section { display: none; box-sizing: border-box; width: 100vw; height: 100vh; overflow: auto;
          padding: 3vh 6vw; background: #fff; color: #222; font-size: 20px; line-height: 1.45; }
section.current { display: block; }
h1 { font-size: 2.2em; } h2 { font-size: 1.7em; border-bottom: 2px solid #ddd; } h3 { font-size: 1.3em; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 0.2em 0.5em; }
img { max-width: 90%; max-height: 70vh; display: block; margin: 0.5em auto; }
pre { font-size: 0.75em; overflow-x: auto; } .hl { background: #f6f8fa; padding: 0.2em 0.8em; border-radius: 6px; }
pre.out { color: #333; border-left: 3px solid #ccc; padding-left: 0.8em; } pre.err { color: #b00; }
.note { color: #666; font-style: italic; }
#counter { position: fixed; right: 1em; bottom: 0.6em; color: #888; font-size: 14px; }
"""

SCRIPT = """
const slides = Array.from(document.querySelectorAll("section"));
let current = 0;
function show(i) {
  current = Math.max(0, Math.min(slides.length - 1, i));
  slides.forEach((s, k) => s.classList.toggle("current", k === current));
  document.getElementById("counter").textContent = (current + 1) + " / " + slides.length;
  history.replaceState(null, "", "#" + (current + 1));
}
document.addEventListener("keydown", (e) => {
  if (["ArrowRight", "PageDown", " "].includes(e.key)) { show(current + 1); e.preventDefault(); }
  if (["ArrowLeft", "PageUp"].includes(e.key)) { show(current - 1); e.preventDefault(); }
  if (e.key === "Home") show(0);
  if (e.key === "End") show(slides.length - 1);
});
show((parseInt(location.hash.slice(1)) || 1) - 1);
"""


def render_deck(nb: dict, title: str) -> str:
    """One self-contained HTML page, one ``<section>`` per slide or sub-slide (arrow keys move)."""
    from pygments.formatters import HtmlFormatter

    slides: list[list[str]] = []
    for i, cell in enumerate(nb["cells"]):
        kind = cell.get("metadata", {}).get("slideshow", {}).get("slide_type") or slide_type(cell, i)
        if kind == "skip":
            continue
        if kind in ("slide", "subslide") or not slides:
            slides.append([])
        if cell.get("cell_type") == "markdown":
            slides[-1].append(markdown_html(cell_source(cell)))
        elif cell.get("cell_type") == "code":
            slides[-1].append(_code_html(cell_source(cell)))
            slides[-1].extend(_output_html(o) for o in cell.get("outputs", []))
    sections = "\n".join(f'<section id="s{n}">\n' + "\n".join(parts) + "\n</section>" for n, parts in enumerate(slides, 1))
    css = STYLE + HtmlFormatter(cssclass="hl").get_style_defs(".hl")
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f"<style>{css}</style>\n</head>\n<body>\n{sections}\n<div id=\"counter\"></div>\n<script>{SCRIPT}</script>\n</body>\n</html>\n")


def build_deck(root: str | Path, number: str | int, out: str | Path | None = None, *, execute: bool = True,
               timeout: int = 300) -> Path:
    """Run lecture ``number`` (in the mode this process is in: fast mode if ``CVCOURSE_FAST=1``) and write its deck.

    Returns the HTML file, by default ``slides/NN_<topic>.html`` in the course folder.
    """
    root = Path(root)
    number = f"{int(number):02d}"
    found = sorted((root / "lectures").glob(f"{number}_*.ipynb"))
    if len(found) != 1:
        known = ", ".join(p.name[:2] for p in sorted((root / "lectures").glob("[0-9][0-9]_*.ipynb")))
        raise FileNotFoundError(f"no lecture {number} in {root / 'lectures'} (lectures: {known})")
    path = found[0]
    nb = with_slide_metadata(read_notebook(path))
    if execute:
        from cvcourse_utils.execute import execute_notebook

        env = dict(os.environ, MPLBACKEND="module://matplotlib_inline.backend_inline")  # figures become outputs
        nb = execute_notebook(nb, cwd=path.parent, timeout=timeout, env=env)
    title = cell_source(nb["cells"][0]).splitlines()[0].lstrip("# ").strip() if nb["cells"] else path.stem
    target = Path(out) if out else root / "slides" / f"{path.stem}.html"
    if target.suffix != ".html":
        target = target / f"{path.stem}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_deck(nb, title), encoding="utf-8")
    return target


def embedded_images(page: str) -> bool:
    """Whether every image of a deck is embedded (a ``data:`` URL)."""
    return all(src.startswith("data:") for src in re.findall(r'<img[^>]*\ssrc="([^"]*)"', page))

