"""Notebooks are stored exactly as JupyterLab saves them, so opening one marks nothing as changed."""
import asyncio
import json
from pathlib import Path

import nbformat

from cvcourse_utils import cli
from cvcourse_utils.jupyter_contents import CourseContentsManager, kernel_python_version
from cvcourse_utils.notebooks import LANGUAGE_INFO, canonical_notebook, dumps_notebook, read_notebook, write_notebook

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = sorted(p for folder in ("lectures", "solutions", "labs") for p in (ROOT / folder).glob("*.ipynb"))

MESSY = {
    "nbformat": 4, "nbformat_minor": 4,
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}, "language_info": {"name": "python"},
                 "orig_nbformat": 3, "signature": "sha256:0"},
    "cells": [
        {"cell_type": "markdown", "id": "a", "metadata": {"trusted": True}, "source": "# Title\n\nText é", "outputs": []},
        {"cell_type": "code", "id": "b", "metadata": {"collapsed": True}, "source": ["x = 1\ny = 2", "\nprint(x)"]},
        {"cell_type": "code", "id": "c", "metadata": {}, "source": "print(1)", "execution_count": 3, "outputs": [
            {"output_type": "stream", "name": "stdout", "text": "1\n2\n"},
            {"output_type": "display_data", "metadata": {}, "data": {"text/plain": ["<a", "\nb>"], "application/json": {"k": 1}}}]},
    ],
}


def test_every_committed_notebook_is_stored_as_jupyterlab_saves_it():
    stale = [str(p.relative_to(ROOT)) for p in COMMITTED if p.read_bytes() != dumps_notebook(read_notebook(p)).encode("utf-8")]
    assert len(COMMITTED) >= 30 and not stale, f"run `cvcourse normalize` (then commit): {stale}"


def test_the_canonical_form_is_what_jupyterlab_writes():
    nb = canonical_notebook(MESSY)
    assert nb["nbformat_minor"] == 5 and nb["metadata"]["language_info"] == LANGUAGE_INFO
    assert nb["metadata"]["kernelspec"]["display_name"] == "Python 3 (ipykernel)"
    assert "orig_nbformat" not in nb["metadata"] and "signature" not in nb["metadata"]
    md, code, run = nb["cells"]
    assert md == {"cell_type": "markdown", "id": "a", "metadata": {}, "source": ["# Title\n", "\n", "Text é"]}
    assert code["source"] == ["x = 1\n", "y = 2\n", "print(x)"] and code["outputs"] == [] and code["execution_count"] is None
    assert code["metadata"] == {"collapsed": True, "jupyter": {"outputs_hidden": True}}
    assert run["outputs"][0]["text"] == ["1\n", "2\n"] and run["outputs"][1]["data"]["text/plain"] == ["<a\n", "b>"]
    assert canonical_notebook(nb) == nb, "normalising twice changes nothing"
    assert MESSY["cells"][0]["metadata"] == {"trusted": True}, "the input is not changed"
    # The text is what jupyter_server writes on save: nbformat's JSON writer plus a final newline.
    text = dumps_notebook(MESSY)
    assert text == nbformat.writes(nbformat.from_dict(json.loads(text)), version=nbformat.NO_CONVERT) + "\n"
    assert "Text é" in text and text.startswith('{\n "cells": [\n  {\n   "cell_type": "markdown",')


def test_write_notebook_touches_only_files_that_change(tmp_path):
    path = tmp_path / "n.ipynb"
    assert write_notebook(path, MESSY) and not write_notebook(path, read_notebook(path))
    path.write_text(json.dumps(MESSY), encoding="utf-8")
    assert cli.main(["normalize", "--check", str(path)]) == 1
    assert cli.main(["normalize", str(path)]) == 0 and cli.main(["normalize", "--check", str(path)]) == 0


def test_normalize_reports_a_broken_notebook_and_writes_nothing(tmp_path, capsys):
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    good.write_text(json.dumps(MESSY), encoding="utf-8")
    bad.write_text("{not json", encoding="utf-8")
    assert cli.main(["normalize", str(good), str(bad)]) == 2
    assert "bad.ipynb" in capsys.readouterr().err and good.read_text(encoding="utf-8") == json.dumps(MESSY)


def test_jupyterlab_is_served_the_running_pythons_version(tmp_path):
    nb = canonical_notebook(MESSY)
    nb["metadata"]["language_info"]["version"] = "3.0.0"  # as if saved on another Python
    (tmp_path / "n.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    model = asyncio.run(CourseContentsManager(root_dir=str(tmp_path)).get("n.ipynb"))
    assert model["content"]["metadata"]["language_info"]["version"] == kernel_python_version() != "3.0.0"
    assert read_notebook(tmp_path / "n.ipynb")["metadata"]["language_info"]["version"] == "3.0.0", "the file is not changed"
    other = dict(nb, metadata={"kernelspec": {"name": "ir", "display_name": "R"}, "language_info": {"name": "R", "version": "4"}})
    (tmp_path / "r.ipynb").write_text(json.dumps(other), encoding="utf-8")
    model = asyncio.run(CourseContentsManager(root_dir=str(tmp_path)).get("r.ipynb"))
    assert model["content"]["metadata"]["language_info"] == {"name": "R", "version": "4"}, "other kernels are left alone"
