"""The course website in a real browser: built in fast mode from a clean cache, then read in headless Chromium.

One test, because the build is the slow part: lectures 01 and 06 only (`--only 01 06`: about 6 minutes at a load
of 16 on 2 cores, 72 s of CPU; all eleven took 27.5 minutes there, 5 minutes of CPU, too long for `make test`),
then the home page, the navigation
to both lectures and a lab, their figures, a formula, the search for "self-attention" (lecture 06), and not one
request leaving the machine. Skipped, saying why, without Chromium or without the site extra and npm's assets.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cvcourse_utils.site import build_site, missing_tools, site_size

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(bool(missing_tools()), reason=f"the website cannot be built here: {missing_tools()}")

IMAGES_LOADED = """() => Array.from(document.querySelectorAll("article img"))
                     .map((img) => ({src: img.getAttribute("src"), ok: img.complete && img.naturalWidth > 0}))"""


@pytest.fixture
def served(tmp_path):
    """Build the site from nothing into a temporary folder and serve it on localhost."""
    start = time.monotonic()
    built = build_site(ROOT, only=["01", "06"], build=tmp_path / "build")
    seconds = time.monotonic() - start
    print(f"\nsite (lectures 01 and 06, fast mode, clean cache) built in {seconds:.0f} s: ran {built.executed}, "
          f"{site_size(built.html) / 1e6:.1f} MB")
    assert built.executed == ["01_images_and_arrays.ipynb", "06_attention_and_transformers.ipynb"]
    assert set(built.modes.values()) == {"fast"}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(built.html)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "python -m http.server did not start"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def figures_loaded(page, at_least: int) -> list[dict]:
    page.wait_for_load_state("load")
    images = page.evaluate(IMAGES_LOADED)
    assert len(images) >= at_least and all(i["ok"] for i in images), [i for i in images if not i["ok"]] or len(images)
    return images


def test_the_site_reads_offline_with_figures_formulas_navigation_and_search(page, network, served):
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(served + "/index.html")
    assert "make lab" in page.locator("article").inner_text()

    # The navigation: the sidebar to lecture 01; its figures, a formula, the mode it ran in and its deck.
    page.locator("nav.bd-links a", has_text="01 · Images and arrays").first.click()
    page.wait_for_url("**/lectures/01_images_and_arrays.html")
    shown = figures_loaded(page, at_least=8)
    print(f"lecture 01: {len(shown)} figures, all loaded")
    assert "fast-mode" in page.locator("article").inner_text()
    formula = page.locator("mjx-container svg").first
    formula.wait_for(timeout=30_000)
    box = formula.bounding_box()
    assert box and box["width"] > 5, "MathJax rendered a formula"
    deck = page.locator("a.deck-link").get_attribute("href")
    assert page.request.get(page.url.rsplit("/", 1)[0] + "/" + deck).ok, "the deck the page links is there"

    # Next: lab 01 as a student gets it, with its download; then lecture 06 from the sidebar.
    page.locator("a.right-next").first.click()
    page.wait_for_url("**/labs/lab01_images_and_arrays.html")
    download = page.locator("a.lab-download").get_attribute("href")
    assert page.request.get(page.url.rsplit("/", 1)[0] + "/" + download).ok, "the lab downloads"
    assert "BEGIN SOLUTION" not in page.content() and "YOUR CODE HERE" in page.content(), "no solutions on the site"
    page.locator("nav.bd-links a", has_text="06 · Attention and transformers").first.click()
    page.wait_for_url("**/lectures/06_attention_and_transformers.html")
    print(f"lecture 06: {len(figures_loaded(page, at_least=8))} figures, all loaded")

    # Search (Sphinx's own index, in the page): a term of lecture 06.
    page.goto(served + "/search.html?q=self-attention")
    hits = page.locator("#search-results a")
    hits.first.wait_for(timeout=30_000)
    links = hits.evaluate_all("(links) => links.map((a) => a.getAttribute('href'))")
    assert any("06_attention_and_transformers" in link for link in links), links

    outside = [url for url in requests if not url.startswith((served, "data:", "blob:"))]
    assert not outside and not network.blocked, f"the site asked for {outside + network.blocked}"
