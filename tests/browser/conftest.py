"""One JupyterLab server and one headless Chromium for the browser tests (per test worker).

The tests drive the system's Chromium (``/usr/bin/chromium``; CI installs the Debian package) with
Playwright for Python; nothing is downloaded (``playwright install`` is never needed). Without Playwright
or Chromium they are skipped with the reason. On a failure the page is saved as ``failure.png`` in the
test's temporary folder.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
CHROMIUM_NAMES = ("chromium", "chromium-browser")


def chromium_path() -> str | None:
    """The system Chromium: ``$CVCOURSE_CHROMIUM`` if set, else the first of ``chromium``, ``chromium-browser`` on PATH."""
    if os.environ.get("CVCOURSE_CHROMIUM"):
        return os.environ["CVCOURSE_CHROMIUM"]
    return next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    """A running JupyterLab: ``url(path)`` opens a file of its root folder in the lab."""

    root: Path
    port: int
    token: str
    log: Path

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/lab/tree/{path}?token={self.token}"

    def api(self, path: str, method: str = "GET", body: dict | None = None) -> dict:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            body = reply.read()
        return json.loads(body) if body else {}


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory) -> Path:
    """The server's root folder: copies of the notebooks the tests open (the repository is never written)."""
    root = tmp_path_factory.mktemp("lab-root")
    for folder, pattern in (("lectures", "01_*.ipynb"), ("labs", "lab01_*.ipynb")):
        (root / folder).mkdir()
        for path in sorted((ROOT / folder).glob(pattern)):
            shutil.copy2(path, root / folder / path.name)
    return root


@pytest.fixture(scope="session")
def lab_server(browser, lab_root, tmp_path_factory) -> LabServer:
    """JupyterLab from this Python's environment (the course's .venv under `make test`), as `make lab` starts it.

    Fast mode is on in its kernels; its user settings, workspaces and runtime files live in a temporary
    folder, so a student's own JupyterLab state cannot change what the tests see. It is always stopped,
    kernels included. (It asks for ``browser`` so that it is not started where the tests are skipped.)
    """
    state = tmp_path_factory.mktemp("lab-state")
    port, token = _free_port(), os.urandom(16).hex()
    env = dict(os.environ, CVCOURSE_FAST="1", OMP_NUM_THREADS="1",
               JUPYTERLAB_SETTINGS_DIR=str(state / "user-settings"), JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(state / "runtime"), PYDEVD_DISABLE_FILE_VALIDATION="1")
    env.pop("MPLBACKEND", None)  # the test session's Agg backend would hide every figure from the notebook
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={lab_root}",
           "--ServerApp.contents_manager_class=cvcourse_utils.jupyter_contents.CourseContentsManager",
           "--LabApp.expose_app_in_browser=True"]  # window.jupyterapp: the tests read the document's state
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = state / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)  # its own process group: kernels are stopped with it
    server = LabServer(lab_root, port, token, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with status {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                server.api("status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer within 90 s:\n{log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.3)
        # Each notebook's kernel starts now, in the background, as when a student reopens a notebook whose
        # kernel still runs; JupyterLab joins it on open (and still writes its metadata into the notebook).
        for path in sorted(lab_root.glob("*/*.ipynb")):
            rel = path.relative_to(lab_root).as_posix()
            server.api("sessions", "POST", {"path": rel, "name": path.name, "type": "notebook", "kernel": {"name": "python3"}})
        yield server
    finally:
        try:
            server.api("shutdown", method="POST")  # stops every kernel, then the server
            proc.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def browser():
    """Headless system Chromium driven by Playwright, or a skip that says what is missing."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python is not installed (it comes with the course's dev extra: make setup)")
    executable = chromium_path()
    if not executable:
        pytest.skip("no system Chromium (on Debian/Ubuntu: sudo apt install chromium; or set CVCOURSE_CHROMIUM)")
    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium's sandbox cannot run as root
    with sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=executable, args=args, headless=True)
        except Error as err:
            pytest.skip(f"Chromium at {executable} does not start under Playwright: {str(err).splitlines()[0]}")
        yield chromium
        chromium.close()


@dataclass
class Network:
    """Every request a page made that left this machine (each one blocked)."""

    blocked: list[str] = field(default_factory=list)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def network() -> Network:
    return Network()


@pytest.fixture
def page(browser, network, request, tmp_path):
    """A fresh page whose requests outside localhost (and file:, data:, blob:) are blocked and recorded."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})

    def only_local(route):
        url = urlparse(route.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.hostname not in LOCAL_HOSTS:
            network.blocked.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", only_local)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        shot = tmp_path / "failure.png"
        try:
            page.screenshot(path=str(shot), full_page=False)
            print(f"screenshot of the failed page: {shot}")
        except Exception as err:  # the page may be gone; the failure itself is what matters
            print(f"no screenshot ({err})")
    context.close()
