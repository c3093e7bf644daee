"""The class report of `cvcourse report`, opened from disk in headless Chromium (see conftest.py): it needs no
JupyterLab server, so it has a file of its own. Its figures must show and nothing may leave the machine."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from cvcourse_utils import cli

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("lab99_class", ROOT / "tests" / "grading_fixtures" / "lab99_class.py")
klass = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(klass)


def test_the_class_report_shows_offline_with_its_figures(page, network, tmp_path):
    lab = klass.written_lab()
    paths = klass.build_class(lab, tmp_path / "subs")
    klass.fake_gradebook(lab, paths, tmp_path / "grades")  # made-up scores, the class's real notebooks
    assert cli.main(["report", str(tmp_path / "grades")]) == 0
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto((tmp_path / "grades" / "report.html").as_uri())

    assert page.title() == "Class report: lab99"
    figures = page.locator("img")
    assert figures.count() == 3
    for i in range(3):
        figure = figures.nth(i)
        figure.scroll_into_view_if_needed()
        assert figure.evaluate("(img) => img.complete && img.naturalWidth > 0 && img.getBoundingClientRect().width > 100"), \
            figure.get_attribute("alt")
    assert "3 pair(s) flagged" in page.locator("#similarity ~ p .flag").first.inner_text()

    pair = page.locator("details").first
    pair.locator("summary").click()
    sides = pair.locator(".pair").first.locator("pre")
    assert sides.count() == 2 and sides.nth(0).is_visible() and sides.nth(1).is_visible()
    assert pair.locator("pre .match").count() > 0, "the matching lines are highlighted"
    outside = [url for url in requests if not url.startswith(("file:", "data:"))]
    assert not outside and not network.blocked, f"the report asked for {outside + network.blocked}"
