"""Lectures present as slides: every lecture has the slide metadata, and a deck works offline."""
import re
from pathlib import Path

import pytest

from cvcourse_utils import cli
from cvcourse_utils.notebooks import read_notebook
from cvcourse_utils.slides import embedded_images, markdown_html, render_deck, with_slide_metadata

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_every_lecture_carries_its_slide_metadata(path):
    nb = read_notebook(path)
    assert with_slide_metadata(nb) == nb, f"{path.name}: run `cvcourse slides --tag` to write its slide metadata"
    kinds = [c["metadata"]["slideshow"]["slide_type"] for c in nb["cells"]]
    assert kinds[0] == "slide" and kinds.count("slide") >= 4, kinds


def test_formulas_become_mathml_and_markdown_stays_markdown():
    page = markdown_html("## Loss\n\nThe hinge $\\max(0, s_j - s_y + 1)$ per class:\n\n$$L = \\frac{1}{N}\\sum_i L_i$$\n")
    assert "<h2>Loss</h2>" in page and page.count("<math") == 2 and 'display="block"' in page
    assert "$" not in page


def test_a_deck_has_one_section_per_slide_and_embeds_its_figures():
    nb = with_slide_metadata({"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "# 99 · A title"},
        {"cell_type": "markdown", "metadata": {}, "source": "## 1. A section"},
        {"cell_type": "code", "metadata": {}, "source": "plot()", "outputs": [
            {"output_type": "display_data", "data": {"image/png": PNG, "text/plain": "<Figure>"}, "metadata": {}}]},
        {"cell_type": "markdown", "metadata": {}, "source": "### A sub-slide"},
        {"cell_type": "code", "metadata": {}, "source": "print(1)", "outputs": [
            {"output_type": "stream", "name": "stdout", "text": "1\n"},
            {"output_type": "display_data", "data": {"text/html": "<b>x</b><script src='https://example.org/a.js'></script>"}}]},
    ]})
    page = render_deck(nb, "A title")
    assert page.count("<section") == 3 and embedded_images(page) and "data:image/png;base64," in page
    assert "example.org" not in page, "scripts in outputs are dropped"


def test_cvcourse_slides_builds_a_self_contained_deck(tmp_path, capsys):
    # The lecture as stored (without running it: the figures are checked on the deck above).
    assert cli.main(["slides", "02", "--no-execute", "--out", str(tmp_path), "--root", str(ROOT)]) == 0
    deck = next(tmp_path.glob("02_*.html"))
    page = deck.read_text(encoding="utf-8")
    nb = read_notebook(next((ROOT / "lectures").glob("02_*.ipynb")))
    slides = sum(c["metadata"]["slideshow"]["slide_type"] in ("slide", "subslide") for c in nb["cells"])
    assert page.count("<section") == slides
    assert "<math" in page, "formulas are MathML"
    assert not re.search(r"<(script|link|iframe)[^>]*\s(src|href)=", page, re.I), "nothing is loaded from elsewhere"
    assert not re.search(r"\ssrc=\"(?!data:)", page), "every src is embedded"
    assert "Wrote" in capsys.readouterr().out


def test_cvcourse_slides_runs_the_lecture_and_embeds_what_it_draws(tmp_path, capsys):
    """With execution (the default): a figure, a widget's figure and printed text reach the deck."""
    from cvcourse_utils.notebooks import write_notebook

    code = ["import matplotlib.pyplot as plt\nplt.plot([0, 1]); plt.title('a line'); plt.show()",
            "import ipywidgets as widgets\n"
            "def draw(k):\n    plt.bar(range(k), range(k)); plt.show()\n"
            "widgets.VBox([widgets.interactive_output(draw, {'k': widgets.IntSlider(value=4)})])",
            "print('from the kernel')"]
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# 99 · A lecture"},
             {"cell_type": "markdown", "metadata": {}, "source": "## 1. A section"}]
    cells += [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None} for c in code]
    (tmp_path / "lectures").mkdir()
    write_notebook(tmp_path / "lectures" / "99_a_lecture.ipynb", {"cells": cells, "metadata": {}, "nbformat": 4,
                                                                  "nbformat_minor": 5})
    assert cli.main(["slides", "99", "--root", str(tmp_path), "--out", str(tmp_path / "deck")]) == 0
    page = (tmp_path / "deck" / "99_a_lecture.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 2 and embedded_images(page)
    assert "from the kernel" in page and "interactive widget" in page


def test_a_lecture_that_fails_writes_no_deck_and_says_which_cell(tmp_path, capsys):
    from cvcourse_utils.notebooks import write_notebook

    (tmp_path / "lectures").mkdir()
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# 98 · Broken"},
             {"cell_type": "code", "metadata": {}, "source": "1 / 0", "outputs": [], "execution_count": None}]
    write_notebook(tmp_path / "lectures" / "98_broken.ipynb", {"cells": cells, "metadata": {}, "nbformat": 4,
                                                               "nbformat_minor": 5})
    assert cli.main(["slides", "98", "--root", str(tmp_path), "--out", str(tmp_path / "deck")]) == 1
    assert "cell 1 raised ZeroDivisionError" in capsys.readouterr().err
    assert not (tmp_path / "deck").exists()
