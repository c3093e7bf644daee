"""cvcourse_utils.execute: a notebook's cells run in a fresh kernel, widgets included, with a deadline per cell."""
import pytest

from cvcourse_utils.execute import CellError, CellTimeout, execute_notebook


def _nb(*sources: str) -> dict:
    return {"cells": [{"cell_type": "code", "metadata": {}, "source": s, "outputs": [], "execution_count": None}
                      for s in sources], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_outputs_widgets_and_their_figures_land_in_the_cells(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = _nb(
        "import os\nprint('in', os.path.basename(os.getcwd()))\nprint('again')",
        "import ipywidgets as widgets, matplotlib.pyplot as plt\n"
        "def draw(k):\n    plt.plot(range(k)); plt.title(f'k = {k}'); plt.show()\n"
        "out = widgets.interactive_output(draw, {'k': widgets.IntSlider(value=3)})\n"
        "widgets.VBox([out])",
        "from IPython.display import clear_output\nprint('gone')\nclear_output(wait=True)\nprint('kept')",
        "6 * 7",
    )
    (tmp_path / "here").mkdir()
    ran = execute_notebook(nb, cwd=tmp_path / "here", timeout=120)
    first, widget, cleared, result = (c["outputs"] for c in ran["cells"])
    assert first == [{"output_type": "stream", "name": "stdout", "text": "in here\nagain\n"}]
    kinds = [next(iter(o["data"])) if "data" in o else o["output_type"] for o in widget]
    assert any("image/png" in o.get("data", {}) for o in widget), kinds  # the figure the widget drew
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in widget), kinds
    assert cleared == [{"output_type": "stream", "name": "stdout", "text": "kept\n"}]
    assert result[0]["data"]["text/plain"] == "42" and ran["cells"][3]["execution_count"] == 4
    assert nb["cells"][0]["outputs"] == [], "the notebook given is not changed"


def test_a_failing_cell_and_a_slow_cell_stop_the_run_and_say_which(tmp_path):
    with pytest.raises(CellError, match=r"cell 1 raised ZeroDivisionError"):
        execute_notebook(_nb("x = 1", "1 / 0", "print('never')"), cwd=tmp_path, timeout=60)
    with pytest.raises(CellTimeout, match=r"cell 0 did not finish within 2 s"):
        execute_notebook(_nb("import time\ntime.sleep(60)"), cwd=tmp_path, timeout=2)
