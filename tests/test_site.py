"""The website's build on a one-lecture course: the execution cache, the mode each page states, a failing lecture.

The real site (lectures 01 and 06, in Chromium) is tests/browser/test_site_page.py. Skipped, saying why, without the
site extra (Sphinx, MyST-NB, the book theme, jupyter-cache) or MathJax and reveal.js.
"""
from pathlib import Path

import pytest

from cvcourse_utils import cli
from cvcourse_utils.notebooks import write_notebook
from cvcourse_utils.site import Module, SiteError, build_site, lab_page, missing_tools, run_lecture, store_run

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason=f"the website cannot be built here: {missing_tools()}")
README = """# cvcourse

A tiny course.

## Quickstart

```bash
make lab
make test
```

## Who it is for

- Everyone.

## Syllabus

| # | module | lecture | lab | status |
|---|---|---|---|---|
| 99 | Tiny | a formula | none | ready |
"""


def tiny_course(root: Path, code: str) -> Path:
    (root / "site").mkdir(parents=True)
    for name in ("conf.py", "course.css"):
        (root / "site" / name).write_text((Path(__file__).resolve().parents[1] / "site" / name).read_text())
    (root / "README.md").write_text(README)
    (root / "lectures").mkdir()
    cells = [{"cell_type": "markdown", "id": "title", "metadata": {}, "source": "# 99 · Tiny\n\nThe loss $L = x^2$."},
             {"cell_type": "code", "id": "code", "metadata": {}, "source": code, "outputs": [], "execution_count": None}]
    path = root / "lectures" / "99_tiny.ipynb"
    write_notebook(path, {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                      "language": "python"}},
                          "nbformat": 4, "nbformat_minor": 5})
    return path


def test_a_rebuild_runs_nothing_and_a_cached_full_run_wins(tmp_path, capsys):
    path = tiny_course(tmp_path, "import os\nprint('fast mode:', os.environ.get('CVCOURSE_FAST'))")
    built = build_site(tmp_path)
    page = (built.html / "lectures" / "99_tiny.html").read_text()
    assert built.executed == ["99_tiny.ipynb"] and built.modes == {"99_tiny.ipynb": "fast"}
    assert "fast mode: 1" in page and "fast-mode" in page, "the page shows its outputs and says which mode made them"
    assert (built.html / "slides" / "99_tiny.html").is_file() and "../slides/99_tiny.html" in page
    assert "mathjax/tex-svg.js" in page and "cdn" not in page.lower()

    again = build_site(tmp_path)
    assert again.executed == [] and again.cached == ["99_tiny.ipynb"], "an unchanged lecture is not run again"

    # A full-mode run in the cache (as `cvcourse site --full` leaves it) is what the page then shows.
    store_run(tmp_path / "site" / "_build" / ".jupyter_cache", "full", run_lecture(Module("99", path, None), "full", 60), path)
    full = build_site(tmp_path)
    page = (full.html / "lectures" / "99_tiny.html").read_text()
    assert full.modes == {"99_tiny.ipynb": "full"} and full.executed == []
    assert "fast mode: None" in page and "full-mode" in page
    print(f"tiny site: first build {built.seconds:.1f} s, warm rebuild {again.seconds:.1f} s")


def test_a_lecture_that_fails_fails_the_build_and_names_the_cell(tmp_path, capsys):
    tiny_course(tmp_path, "x = 1\nraise ValueError('broken on purpose')")
    with pytest.raises(SiteError, match=r"99_tiny.ipynb failed in fast mode: cell 1 raised ValueError: broken on purpose "
                                         r"\(the cell that starts 'x = 1'\)"):
        build_site(tmp_path)
    assert cli.main(["site", "--root", str(tmp_path)]) == 1
    assert "cell 1 raised ValueError" in capsys.readouterr().err


def test_hub_buttons_need_the_repository(tmp_path, monkeypatch):
    tiny_course(tmp_path, "pass")
    monkeypatch.setenv("CVCOURSE_HUB_URL", "https://hub.example.edu")
    monkeypatch.delenv("CVCOURSE_REPO_URL", raising=False)
    with pytest.raises(SiteError, match="CVCOURSE_REPO_URL"):
        build_site(tmp_path)


def test_a_lab_page_has_a_download_and_with_a_hub_an_open_in_jupyterhub_button():
    root = Path(__file__).resolve().parents[1]
    module = Module("01", next(root.glob("lectures/01_*.ipynb")), next(root.glob("labs/lab01_*.ipynb")))
    plain = lab_page(module, None, None)["cells"][1]["source"]
    assert 'class="btn btn-outline-primary lab-download"' in plain and "JupyterHub" not in plain
    hub = lab_page(module, "https://hub.example.edu", "https://github.com/org/cvcourse-class")["cells"][1]["source"]
    assert "Open in JupyterHub" in hub and "https://hub.example.edu/hub/user-redirect/git-pull?repo=" in hub
    assert "lab01_images_and_arrays.ipynb" in hub
