"""Lectures present as slides: every lecture has the slide metadata, and a deck is made for a room and works offline.

Decks are made by nbconvert's reveal.js SlidesExporter with reveal.js and MathJax inlined (from .venv/node, installed
by `make setup` with npm); without them the deck tests are skipped and say why.
"""
import base64
import re
import struct
from pathlib import Path

import pytest

from cvcourse_utils import cli
from cvcourse_utils.notebooks import cell_source, read_notebook, write_notebook
from cvcourse_utils.slides import (FOLD_LINES, deck_notebook, embedded_images, render_deck,
                                   with_slide_metadata)
from cvcourse_utils.webassets import missing_assets

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
needs_assets = pytest.mark.skipif(bool(missing_assets()), reason=f"decks need MathJax and reveal.js: {missing_assets()}")
LOADS_FROM_ELSEWHERE = re.compile(r"<(script|link|iframe|img)\b[^>]*\s(src|href)=\"(?!data:)", re.I)


def markup(page: str) -> str:
    """The page without the code inside its <script> elements (reveal.js's own source mentions <iframe src=...>)."""
    return re.sub(r"(<script\b[^>]*>).*?</script>", r"\1</script>", page, flags=re.S | re.I)


def figure(text="<Figure size 640x480 with 1 Axes>"):
    return {"output_type": "display_data", "data": {"image/png": PNG, "text/plain": text}, "metadata": {}}


def widget(text):
    return {"output_type": "display_data", "metadata": {},
            "data": {"application/vnd.jupyter.widget-view+json": {"model_id": "0", "version_major": 2}, "text/plain": text}}


def code(source, *outputs):
    return {"cell_type": "code", "metadata": {}, "source": source, "outputs": list(outputs), "execution_count": 1}


def markdown(source):
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def lecture_file(folder: Path, name: str, cells: list[dict]) -> None:
    (folder / "lectures").mkdir(exist_ok=True)
    for cell in cells:
        if cell["cell_type"] == "code":
            cell.update(outputs=[], execution_count=None)
    write_notebook(folder / "lectures" / name, {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_every_lecture_carries_its_slide_metadata(path):
    nb = read_notebook(path)
    assert with_slide_metadata(nb) == nb, f"{path.name}: run `cvcourse slides --tag` to write its slide metadata"
    kinds = [c["metadata"]["slideshow"]["slide_type"] for c in nb["cells"]]
    assert kinds[0] == "slide" and kinds.count("slide") >= 4, kinds


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_every_lectures_widgets_show_their_figure_and_nothing_under_it(path):
    """``interact`` prints what its function returns under the figure (a tensor, a dict, the figure again), in the
    lecture and on its deck: each lecture hands it ``plots.widget_view(fn)``, which returns None."""
    sources = [cell_source(c) for c in read_notebook(path)["cells"] if c["cell_type"] == "code"]
    handed = [m.group(1) for s in sources for m in re.finditer(r"\binteract(?:ive)?\(\s*([\w.]+)", s)]
    assert all(name == "widget_view" for name in handed), f"{path.name}: wrap in widget_view: {handed}"


def test_a_deck_is_arranged_for_the_room():
    nb = deck_notebook({"cells": [
        markdown("# 99 · A title\n\nWhat it is about."),
        code("import torch\nseed_everything(0)", {"output_type": "stream", "name": "stdout", "text": "device: cpu\n"}),
        markdown("## 1. A section\n\n" + "A long paragraph of theory. " * 60),
        code("plot()", figure()),
        code("plot_again()", figure(), {"output_type": "execute_result", "execution_count": 3, "metadata": {},
                                        "data": {"text/plain": "<Figure size 640x480 with 1 Axes>"}}),
        code("draw(3)", figure(), {"output_type": "display_data", "metadata": {},
                                   "data": {"text/plain": "tensor([[" + "0.1, " * 8 + "\n" * 40 + "]])"}}),
        code("\n".join(f"x{i} = {i}" for i in range(FOLD_LINES + 3)),
             {"output_type": "stream", "name": "stdout", "text": "training 'tiny' (cached for next time in /root/.cache/cvcourse/models/tiny.pt)\n"},
             {"output_type": "stream", "name": "stderr", "text": "100%|##########| 10/10\n"}),
        code("sample(300)", widget("sampling 300 images:   0%|          | 0/20 [00:00<?, ?step/s]"), figure()),
        code("interact(widget_view(draw))", figure(), widget("interactive(children=(IntSlider(value=3), Output()))")),
    ]})
    kinds = [c["metadata"]["slideshow"]["slide_type"] for c in nb["cells"]]
    assert kinds[1] == "skip", "the set-up cell is not on a slide"
    assert kinds[3] == "subslide", "a figure below a long text starts a sub-slide, so it is on screen"
    assert kinds[4] == "subslide", "one figure per sub-slide"
    assert [o["output_type"] for o in nb["cells"][4]["outputs"]] == ["display_data"], "no <Figure size ...> line"
    value = nb["cells"][5]["outputs"][1]["data"]["text/plain"]
    assert len(value.splitlines()) < 12 and "more lines" in value, "a returned tensor is cut short"
    shown = nb["cells"][6]["outputs"]
    assert len(shown) == 1 and "/.cache/cvcourse" not in shown[0]["text"] and "the course cache" in shown[0]["text"], shown
    assert nb["cells"][6]["metadata"]["deck_fold"] and "deck_fold" not in nb["cells"][3]["metadata"]
    # tqdm.auto's bar in a kernel is a widget: dropped like the bars on stderr, not called an interactive widget
    assert [sorted(o["data"]) for o in nb["cells"][7]["outputs"]] == [["image/png", "text/plain"]]
    assert "interactive widget" in nb["cells"][8]["outputs"][1]["data"]["text/html"], "a real widget keeps its note"


@needs_assets
def test_a_deck_is_one_offline_reveal_page_with_mathjax_and_embedded_figures():
    nb = deck_notebook({"cells": [
        markdown("# 99 · A title"), code("import x"),
        markdown("## 1. A section\n\nThe hinge $\\max(0, s_j - s_y + 1)$ per class:\n\n$$L = \\frac{1}{N}\\sum_i L_i$$"),
        code("plot()", figure()),
        markdown("### A sub-slide"),
        code("print(1)", {"output_type": "stream", "name": "stdout", "text": "1\n"},
             {"output_type": "display_data", "metadata": {},
              "data": {"text/html": "<b>x</b><script src='https://example.org/a.js'></script>"}}),
    ]})
    page = render_deck(nb, "A title")
    assert "Reveal.initialize" in page and "MathJax" in page, "reveal.js and MathJax are inlined"
    assert not LOADS_FROM_ELSEWHERE.search(markup(page)), LOADS_FROM_ELSEWHERE.search(markup(page))
    assert embedded_images(page) and page.count('src="data:image/png;base64,') == 1
    assert "$\\max(0, s_j - s_y + 1)$" in page, "formulas are left to MathJax"
    assert page.count('<section') == 5, "two slides (each a <section> around its first sub-slide) and one more sub-slide"
    assert "import x" not in page, "no set-up cell"


@needs_assets
def test_cvcourse_slides_builds_a_self_contained_deck(tmp_path, capsys):
    # The lecture as stored (without running it: the figures are checked on the decks above and below).
    assert cli.main(["slides", "02", "--no-execute", "--out", str(tmp_path), "--root", str(ROOT)]) == 0
    page = next(tmp_path.glob("02_*.html")).read_text(encoding="utf-8")
    nb = read_notebook(next((ROOT / "lectures").glob("02_*.ipynb")))
    kinds = [c["metadata"]["slideshow"]["slide_type"] for c in nb["cells"]]
    assert page.count("<section") >= 2 * kinds.count("slide") + kinds.count("subslide")
    assert not LOADS_FROM_ELSEWHERE.search(markup(page)), "nothing is loaded from elsewhere"
    assert "Wrote" in capsys.readouterr().out


def _png_size(data: str) -> tuple[int, int]:
    width, height = struct.unpack(">II", base64.b64decode(data[:64])[16:24])
    return width, height


@needs_assets
@pytest.mark.slow
def test_lecture_01s_deck_keeps_the_rules_of_issue_34(tmp_path, capsys):
    """Lecture 01 run (fast mode) into a deck: no set-up cell, no cache path, no stray caption, figures on screen."""
    assert cli.main(["slides", "01", "--root", str(ROOT), "--out", str(tmp_path)]) == 0
    page = next(tmp_path.glob("01_*.html")).read_text(encoding="utf-8")
    lecture = read_notebook(next((ROOT / "lectures").glob("01_*.ipynb")))
    set_up = next(cell_source(c) for c in lecture["cells"] if c["cell_type"] == "code")
    assert "seed_everything" in set_up and "seed_everything" not in page, "the set-up cell is not on a slide"
    assert ".cache/cvcourse" not in page, "no cache paths"
    assert "&lt;Figure size" not in page and "<Figure size" not in page, "no matplotlib return values under figures"
    assert not re.search(r">\s*\d+ images\s*<", page), "no stray captions"
    # One figure per sub-slide at most (so it is on screen), and every figure is embedded.
    subslides = re.split(r"<section", page)[1:]
    figures = [s.count('src="data:image/png;base64,') for s in subslides]
    assert sum(figures) >= 10 and max(figures) <= 1, figures
    assert embedded_images(page)
    # Legible labels: on a 1280 x 800 slide (images at most 640 px high) no figure is scaled below 60 %,
    # so the figures' 9-point panel labels (12 px at 100 dpi) stay at least 7 px high.
    for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page):
        width, height = _png_size(data)
        assert min(1, 1203 / width, 640 / height) >= 0.6, (width, height)
    assert "interactive widget" in page, "the kernel explorer shows its first drawing and says what it is"


def test_cvcourse_slides_runs_the_lecture_and_embeds_what_it_draws(tmp_path, capsys):
    """With execution (the default): a figure, a widget's figure and printed text reach the deck."""
    if missing_assets():
        pytest.skip(f"decks need MathJax and reveal.js: {missing_assets()}")
    cells = [markdown("# 99 · A lecture"), code("import matplotlib.pyplot as plt"), markdown("## 1. A section"),
             code("plt.plot([0, 1]); plt.title('a line'); plt.show()"),
             code("import ipywidgets as widgets\n"
                  "def draw(k):\n    plt.bar(range(k), range(k)); plt.show()\n"
                  "widgets.VBox([widgets.interactive_output(draw, {'k': widgets.IntSlider(value=4)})])"),
             code("print('from the kernel')")]
    lecture_file(tmp_path, "99_a_lecture.ipynb", cells)
    assert cli.main(["slides", "99", "--root", str(tmp_path), "--out", str(tmp_path / "deck")]) == 0
    page = (tmp_path / "deck" / "99_a_lecture.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 2 and embedded_images(page)
    assert "from the kernel" in page and "interactive widget" in page


def test_a_lecture_that_fails_writes_no_deck_and_says_which_cell(tmp_path, capsys):
    lecture_file(tmp_path, "98_broken.ipynb", [markdown("# 98 · Broken"), code("1 / 0")])
    assert cli.main(["slides", "98", "--root", str(tmp_path), "--out", str(tmp_path / "deck")]) == 1
    assert "cell 1 raised ZeroDivisionError" in capsys.readouterr().err
    assert not (tmp_path / "deck").exists()


def test_a_slow_cell_stops_at_the_timeout_and_says_to_prepare_the_models(tmp_path, capsys):
    lecture_file(tmp_path, "97_slow.ipynb", [markdown("# 97 · Slow"), code("import time\ntime.sleep(30)")])
    assert cli.main(["slides", "97", "--timeout", "2", "--root", str(tmp_path), "--out", str(tmp_path / "deck")]) == 1
    err = capsys.readouterr().err
    assert "did not finish within 2 s" in err and "cvcourse prepare 97" in err and "--timeout" in err, err
    assert not (tmp_path / "deck").exists()


def test_a_lecture_whose_models_are_not_cached_is_not_run_and_says_to_prepare(tmp_path, capsys, monkeypatch):
    """Running it would train them inside the deck's run (many minutes, then the timeout): say what to do instead."""
    from cvcourse_utils import prepare

    class Missing:
        def cached(self):
            return False

    monkeypatch.setitem(prepare.MODULES, "96", ("a_model",))
    monkeypatch.setitem(prepare.MODELS, "a_model", Missing())
    lecture_file(tmp_path, "96_needs_a_model.ipynb", [markdown("# 96 · Needs a model"), code("x = 1")])
    # Fast mode trains its tiny models in seconds, so the deck is built; full mode refuses.
    assert cli.main(["slides", "96", "--root", str(tmp_path), "--out", str(tmp_path / "fast-deck")]) == 0
    monkeypatch.setenv("CVCOURSE_FAST", "0")
    assert cli.main(["slides", "96", "--root", str(tmp_path), "--out", str(tmp_path / "deck")]) == 1
    err = capsys.readouterr().err
    assert "not cached yet (a_model)" in err and "cvcourse prepare 96" in err, err
    assert not (tmp_path / "deck").exists()
    monkeypatch.setattr(Missing, "cached", lambda self: True)  # once prepared, the deck is built
    assert cli.main(["slides", "96", "--root", str(tmp_path), "--out", str(tmp_path / "deck")]) == 0
