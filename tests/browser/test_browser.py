"""A student's and an instructor's first hour, in a real browser (headless Chromium, see conftest.py).

All in one file so that ``pytest -n 2 --dist loadfile`` gives them one worker and one JupyterLab server.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from cvcourse_utils import cli

ROOT = Path(__file__).resolve().parents[2]
LECTURE = "lectures/01_images_and_arrays.ipynb"  # the cheapest lecture with a widget (NumPy filters, ~25 s in fast mode)
LAB = "labs/lab01_images_and_arrays.ipynb"

# JavaScript run in the page; window.jupyterapp is the JupyterLab application (--LabApp.expose_app_in_browser).
OPENED = """(path) => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                        return !!(w && w.context && w.context.path === path && w.context.isReady && w.sessionContext); }"""
KERNEL_READY = """async () => {
  const w = window.jupyterapp.shell.currentWidget;
  await w.sessionContext.ready;
  const kernel = w.sessionContext.session.kernel;
  await kernel.info; await kernel.spec;           // JupyterLab writes both into the notebook's metadata now
  await new Promise((done) => setTimeout(done, 1000));
  return {dirty: w.context.model.dirty, kernel: kernel.name, status: kernel.status};
}"""
KERNEL_SAYS = """async (code) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = kernel.requestExecute({code, silent: false, store_history: false});
  let text = "";
  future.onIOPub = (msg) => { if (msg.header.msg_type === "stream") text += msg.content.text; };
  await future.done;
  return text;
}"""
RUN_ALL = """async () => {
  const timeout = new Promise((_, fail) => setTimeout(() => fail(new Error("Run All took over 150 s")), 150000));
  await Promise.race([window.jupyterapp.commands.execute("notebook:run-all-cells"), timeout]);
  const w = window.jupyterapp.shell.currentWidget;
  return w.content.widgets.map((cell) => {
    const json = cell.model.toJSON();
    return {id: json.id, type: json.cell_type, count: json.execution_count ?? null,
            grade_id: (json.metadata.nbgrader || {}).grade_id || "",
            errors: (json.outputs || []).filter((o) => o.output_type === "error").map((o) => o.ename)};
  });
}"""
SHOWN_OUTPUT = """async (index) => {  // scroll cell `index` into view and return its output as the page shows it
  const cell = window.jupyterapp.shell.currentWidget.content.widgets[index];
  cell.node.scrollIntoView({block: "center"});
  await new Promise((done) => setTimeout(done, 500));
  return cell.outputArea.node.innerText;
}"""


def open_notebook(page, lab_server, path: str) -> dict:
    """Open ``path`` in JupyterLab and wait for its kernel; return the document's state then."""
    start = time.monotonic()
    page.goto(lab_server.url(path))
    page.wait_for_function(OPENED, arg=path, timeout=90_000)
    state = page.evaluate(KERNEL_READY)
    print(f"{path}: opened with a ready kernel in {time.monotonic() - start:.1f} s")
    return state


def test_a_lecture_runs_top_to_bottom_and_its_widget_redraws(page, lab_server, network):
    state = open_notebook(page, lab_server, LECTURE)
    assert state["kernel"] == "python3" and not state["dirty"], f"opening the lecture marked it as changed: {state}"
    assert page.evaluate(KERNEL_SAYS, "import sys; print(sys.executable)").strip() == sys.executable, \
        "the notebook's kernel is not this environment's Python"

    start = time.monotonic()
    cells = page.evaluate(RUN_ALL)
    print(f"{LECTURE}: Run All took {time.monotonic() - start:.1f} s")
    code = [c for c in cells if c["type"] == "code"]
    assert code and all(c["count"] is not None for c in code), [c["id"] for c in code if c["count"] is None]
    assert not [c for c in code if c["errors"]], [(c["id"], c["errors"]) for c in code if c["errors"]]

    # The filter explorer: a preset dropdown, nine kernel entries and the filtered image below them.
    explorer = page.locator(".jp-Cell", has=page.locator(".widget-dropdown label", has_text="preset"))
    preset = explorer.locator(".widget-dropdown select")
    preset.scroll_into_view_if_needed()
    assert preset.input_value() == "Sobel x" and explorer.locator(".widget-text input").count() == 9
    image = explorer.locator(".widget-output img")
    image.wait_for(state="visible")
    before = image.get_attribute("src")
    preset.select_option("Sobel y")
    page.wait_for_function("([cell, old]) => { const img = cell.querySelector('.widget-output img');"
                           " return img && img.getAttribute('src') !== old && img.naturalWidth > 0; }",
                           arg=[explorer.element_handle(), before], timeout=30_000)
    assert explorer.locator(".widget-text input").first.input_value() == "-1"  # Sobel y's k00
    print(f"{LECTURE}: the preset Sobel x -> Sobel y re-drew the filtered image")

    assert page.get_by_text("official Jupyter news").count() == 0, "the course's settings switch the news pop-up off"
    assert not network.blocked, f"JupyterLab asked for something outside this machine: {network.blocked}"


def test_a_labs_first_check_shows_a_friendly_message(page, lab_server, network):
    state = open_notebook(page, lab_server, LAB)
    assert not state["dirty"], f"opening the lab marked it as changed: {state}"

    cells = page.evaluate(RUN_ALL)  # what the lab's "How to work" suggests: it stops at the first unfinished task
    first = next(i for i, c in enumerate(cells) if c["grade_id"].startswith("check_"))
    assert cells[first]["errors"] == ["TaskNotDone"], cells[first]
    message = " ".join(page.evaluate(SHOWN_OUTPUT, first).split())
    print(f"{LAB}: the first check says: {message}")
    assert "is not done yet" in message and "YOUR CODE HERE" in message
    assert "Traceback" not in message and "checking.py" not in message, "the message reads as feedback, not a crash"
    assert all(c["count"] is None for c in cells[first + 1:] if c["type"] == "code"), "Run All stops at the check"
    assert not network.blocked, network.blocked


def test_a_slide_deck_shows_offline(page, network, tmp_path):
    """A reveal.js deck (reveal.js and MathJax inlined) opened from disk: slides move, formulas render, nothing loads."""
    from cvcourse_utils.webassets import missing_assets

    if missing_assets():
        pytest.skip(f"decks need MathJax and reveal.js: {missing_assets()}")
    assert cli.main(["slides", "02", "--no-execute", "--out", str(tmp_path), "--root", str(ROOT)]) == 0
    deck = next(tmp_path.glob("02_*.html"))
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(deck.as_uri())
    page.wait_for_function("() => window.Reveal && Reveal.isReady()")

    assert page.locator(".reveal .slides > section").count() > 4
    shown = page.locator(".reveal .slides section.present").last
    assert "02 · Linear classifiers" in shown.inner_text()
    first = page.evaluate("() => JSON.stringify(Reveal.getIndices())")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("() => JSON.stringify(Reveal.getIndices())") != first, "the arrow key moves to the next slide"
    # MathJax typesets every formula of the deck as SVG; show the first formula's slide and measure it.
    page.wait_for_function("() => document.querySelectorAll('mjx-container svg').length > 0", timeout=30_000)
    page.evaluate("""() => { const m = document.querySelector('mjx-container');
                            const s = m.closest('section'); Reveal.slide(...Object.values(Reveal.getIndices(s)).slice(0, 2)); }""")
    box = page.locator("section.present mjx-container svg").first.bounding_box()
    assert box and box["width"] > 5, "formulas render"
    assert page.locator(".reveal .jp-CodeCell pre").count() > 3, "code cells are on the slides"
    outside = [url for url in requests if not url.startswith(("file:", "data:", "blob:"))]
    assert not outside and not network.blocked, f"the deck asked for {outside + network.blocked}"




LONG_TRAINING = '''import os, tempfile, time
import torch
from torch import nn
from cvcourse_utils.pretrained import get_or_train
from cvcourse_utils.training import fit

os.environ["CVCOURSE_DATA"] = tempfile.mkdtemp()  # a cache of its own


class SlowBatches:  # eight batches of 0.5 s each: a full-mode training in miniature
    def __len__(self):
        return 8

    def __iter__(self):
        for _ in range(8):
            time.sleep(0.5)
            yield torch.randn(4, 2), torch.randint(0, 2, (4,))


def train(model, config):
    fit(model, SlowBatches(), torch.optim.SGD(model.parameters(), lr=0.1), epochs=config["epochs"], device="cpu",
        progress="overall")


model = get_or_train("browser_progress", lambda config: nn.Linear(2, 2), train, {"epochs": 30})
'''


def test_a_long_training_shows_a_progress_bar_and_an_interruption_one_line(page, lab_server, lab_root, network):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(LONG_TRAINING)])
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nbformat.write(nb, lab_root / "long_training.ipynb")
    open_notebook(page, lab_server, "long_training.ipynb")
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")  # not awaited: it runs 2 min
    bar = page.locator(".jp-OutputArea .widget-hprogress").first
    bar.wait_for(state="visible", timeout=60_000)
    shown = " ".join(page.evaluate(SHOWN_OUTPUT, 0).split())
    print(f"long_training.ipynb: while it trains the cell shows: {shown}")
    assert "training 'browser_progress' (cached for next time as models/" in shown and "training:" in shown \
        and "batch" in shown
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:interrupt-kernel')")
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget.content.widgets[0].outputArea.node"
                           ".innerText.includes('nothing was cached')", timeout=30_000)
    shown = page.evaluate(SHOWN_OUTPUT, 0)
    print(f"long_training.ipynb: after the interruption: {' '.join(shown.split())}")
    assert "training 'browser_progress' was interrupted; nothing was cached." in shown
    assert "Traceback" not in shown and "pretrained.py" not in shown and "KeyboardInterrupt" not in shown
    assert not network.blocked, network.blocked
