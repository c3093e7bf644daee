"""Repository-wide rules: notebooks without outputs, labs up to date, each lab stops at its first task,
environment.yml agrees with pyproject.toml, and `make lab`'s server answers on /lab."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, installed as a test dependency
    import tomli as tomllib

from cvcourse_utils.checking import known_labs, lab_tasks
from cvcourse_utils.notebooks import cell_source, generate_labs, read_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for d in ("lectures", "solutions", "labs") for p in (ROOT / d).glob("*.ipynb"))
LABS = sorted((ROOT / "labs").glob("lab[0-9][0-9]_*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("lab[0-9][0-9]_*.ipynb"))


def test_there_is_a_course():
    assert (ROOT / "lectures" / "01_images_and_arrays.ipynb").exists()
    assert (ROOT / "solutions" / "lab01_images_and_arrays.ipynb").exists()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebooks_are_committed_without_outputs(path):
    nb = read_notebook(path)
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, f"{path.name} cell {i} has outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebooks_follow_the_template(path):
    nb = read_notebook(path)
    text = "\n".join(cell_source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert nb["cells"][0]["cell_type"] == "markdown" and cell_source(nb["cells"][0]).startswith("# ")
    for heading in ("Learning goals", "Summary", "Further reading"):
        assert heading in text, f"{path.name} has no '{heading}'"


def test_every_lab_is_up_to_date():
    assert generate_labs(ROOT, check=True) == []


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solutions_use_no_magics_and_match_their_checks(path):
    nb = read_notebook(path)
    lab = path.name[:5]
    tasks = {t.name: t for t in lab_tasks(lab)}
    checked = []
    for cell in nb["cells"]:
        src = cell_source(cell)
        if cell["cell_type"] == "code":
            assert not re.search(r"^\s*[%!]", src, re.M), f"{path.name}: no IPython magics in solutions"
            checked += re.findall(r"^check\(\"(\w+)\"", src, re.M)
    assert checked == list(tasks), f"{path.name}: check cells {checked} != tasks in labchecks/{lab}.py {list(tasks)}"


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.name)
def test_each_lab_stops_at_its_first_task_with_a_clear_message(path, tmp_path):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    import nbformat

    nb = nbformat.read(path, as_version=4)
    first = lab_tasks(path.name[:5])[0]
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    assert os.environ.get("CVCOURSE_FAST") == "1", "the kernel inherits fast mode from the test run"
    with pytest.raises(CellExecutionError) as err:
        client.execute()
    message = str(err.value)
    assert err.value.ename == "TaskNotDone" and f"Task '{first.name}' is not done yet" in message, message[-2000:]
    assert "checking.py" not in message and "Traceback" not in message, "the student sees a message, not a traceback"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_each_lab_tests_that_ready_made_answers_earn_zero(path):
    """Every lab whose tasks forbid ready-made code has tests/test_taught_labNN.py (cvcourse new-module writes one)."""
    lab = path.name[:5]
    if any(t.forbidden for t in lab_tasks(lab)):
        test = ROOT / "tests" / f"test_taught_{lab}.py"
        assert test.exists() and "assert_shortcuts_earn_zero" in test.read_text(), f"{lab}: no {test.name} with shortcut answers"


def test_task_names_are_unique_across_labs():
    names = [t.name for lab in known_labs() for t in lab_tasks(lab)]
    assert len(names) == len(set(names))


def _requirement_names(reqs):
    return sorted(re.split(r"[<>=!~ \[]", r, maxsplit=1)[0].lower() for r in reqs)


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "cvcourse"
    deps = env["dependencies"]
    assert any(str(d).startswith("python") for d in deps) and "pip" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    assert any(line.startswith("-e .") for line in pip_section), "the pip section must install this package"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = list(dict.fromkeys(project["dependencies"] + extras["dev"] + extras["hub"] + extras["site"]))
    assert set(extras["hub"]) <= set(extras["dev"]), "the tests (dev) need what the hub extra installs"
    assert set(extras["site"]) <= set(extras["dev"]), "the tests (dev) build the website: they need the site extra"
    listed = [line for line in pip_section if not line.startswith("-e")]
    assert sorted(listed) == sorted(wanted), "environment.yml and pyproject.toml disagree"
    assert _requirement_names(listed) == _requirement_names(wanted)


def test_readme_shows_the_two_commands_first():
    readme = (ROOT / "README.md").read_text()
    quick = readme.index("make lab")
    assert quick < readme.index("make test") < readme.index("## Syllabus")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_lab_serves_jupyterlab_on_lab(tmp_path):
    """`make lab` (set-up already done) starts a server that answers on /lab."""
    port = _free_port()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path))
    args = f"LAB_ARGS=--no-browser --port={port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token="
    server = subprocess.Popen(["make", "--no-print-directory", "lab", args], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab", timeout=5) as reply:
                    assert reply.status == 200 and b"JupyterLab" in reply.read()
                    break
            except OSError:
                assert server.poll() is None, "make lab exited instead of serving"
                assert time.time() < deadline, "JupyterLab did not answer on /lab"
                time.sleep(1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_make_setup_keeps_nbgrader_out_of_the_students_jupyterlab():
    """nbgrader is a test dependency: in the venv `make` builds, its lab extension and server extensions are off."""
    prefix = Path(sys.prefix)
    if not (prefix / ".installed").exists():
        pytest.skip("not the venv that `make setup` builds")
    pytest.importorskip("nbgrader")
    page = json.loads((prefix / "etc/jupyter/labconfig/page_config.json").read_text())
    assert page["disabledExtensions"].get("@jupyter/nbgrader") is True
    enabled = {}
    for path in sorted((prefix / "etc/jupyter/jupyter_server_config.d").glob("*.json")):
        enabled.update(json.loads(path.read_text()).get("ServerApp", {}).get("jpserver_extensions", {}))
    nbgrader = {name: on for name, on in enabled.items() if name.startswith("nbgrader")}
    assert nbgrader and not any(nbgrader.values()), nbgrader


def test_the_supported_python_range_is_stated_alike_and_is_the_one_ci_tests():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    spec = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    low, high = re.fullmatch(r"python>=3\.(\d+),<3\.(\d+)", spec).groups()
    oldest, newest = f"3.{low}", f"3.{int(high) - 1}"
    readme = (ROOT / "README.md").read_text()
    assert f"Python {oldest} to {newest}" in readme, f"README must state the range of environment.yml: Python {oldest} to {newest}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == f">={oldest}"
    classified = [c.rsplit(" ", 1)[-1] for c in project["classifiers"] if c.startswith("Programming Language :: Python :: 3.")]
    assert classified == [f"3.{minor}" for minor in range(int(low), int(high))]
    tested = re.search(r'^SUPPORTED_PYTHONS="([^"]+)"', (ROOT / ".ci" / "run").read_text(), re.M).group(1).split()
    assert tested == [oldest, newest], ".ci/run tests the oldest and the newest supported Python"
    assert (3, int(low)) <= sys.version_info[:2] <= (3, int(high) - 1), "this interpreter is outside the supported range"
