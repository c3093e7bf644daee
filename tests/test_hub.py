"""The course on JupyterHub, end to end: deploy/jupyterhub/jupyterhub_config.py as a class would use it.

One hub on free local ports (shared-password authenticator, local-process spawner with a home folder
per student under tmp_path). Two students log in through the REST API and get their own JupyterLab
server, whose kernel imports the course; the nbgitpuller link from ``cvcourse hub-link`` gives them
the labs from a git repository, and a second pull after the instructor changes the lab keeps a
student's edits; ``cvcourse collect`` gathers the labs from the homes and ``cvcourse grade`` grades them.
Everything the hub started (proxy, servers) is stopped at the end, and the teardown checks it.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import csv
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cvcourse_utils import cli
from cvcourse_utils.hub import find_proxy
from cvcourse_utils.notebooks import cell_source, read_notebook

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py"
LAB = "lab01_images_and_arrays.ipynb"
STUDENTS = ("alice", "bob")

pytest.importorskip("jupyterhub", reason="JupyterHub is not installed (it is in the dev extra: pip install -e '.[dev]')")
pytest.importorskip("nbgitpuller", reason="nbgitpuller is not installed (it is in the dev extra: pip install -e '.[dev]')")
if find_proxy() is None:
    pytest.skip("configurable-http-proxy is not installed: make setup installs it with npm into .venv/node "
                "when npm is there (on Debian: apt install npm)", allow_module_level=True)
if shutil.which("git") is None:
    pytest.skip("git is not installed (nbgitpuller needs it)", allow_module_level=True)
if sys.platform == "win32":
    pytest.skip("JupyterHub's local-process spawner needs a POSIX system", allow_module_level=True)

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has ended: only its parent has not reaped it yet
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except OSError:
        return True


class Hub:
    """A running hub: its URL, the admin token, and a small REST client."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.home = folder / "homes"
        self.port, self.hub_port, self.api_port = _free_port(), _free_port(), _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_token = secrets.token_hex(16)
        self.password = secrets.token_hex(8)
        self.tokens: dict[str, str] = {}
        self.pids: set[int] = set()
        self.log = folder / "hub.log"
        self.timings: dict[str, float] = {}  # printed at the end (with -s): what the README's timings come from

    def start(self) -> float:
        env = dict(os.environ, CVCOURSE_HUB_PASSWORD=self.password, CVCOURSE_HUB_STUDENTS=",".join(STUDENTS),
                   CVCOURSE_HUB_HOME=str(self.home), CVCOURSE_HUB_ADMIN_TOKEN=self.admin_token)
        started = time.perf_counter()
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(CONFIG), f"--JupyterHub.bind_url={self.url}",
                 f"--JupyterHub.hub_port={self.hub_port}", f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{self.api_port}"],
                cwd=self.folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pids.add(self.process.pid)
        self.wait_for(lambda: self.request("GET", "/hub/api/")[0] == 200, 90, "the hub did not answer")
        return time.perf_counter() - started

    def wait_for(self, ready, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while True:
            with contextlib.suppress(OSError):
                if ready():
                    return
            assert self.process.poll() is None, f"the hub exited ({self.process.returncode}):\n{self.log_tail()}"
            assert time.monotonic() < deadline, f"{what} within {seconds} s:\n{self.log_tail()}"
            time.sleep(0.3)

    def log_tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def request(self, method: str, path: str, token: str | None = None, body=None, raw: bytes | None = None,
                timeout: float = 60) -> tuple[int, object]:
        """(status, decoded JSON or text) of one request to the hub (``/hub/...``) or a server (``/user/...``)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(path if path.startswith("http") else self.url + path, data=data, method=method)
        if token:
            req.add_header("Authorization", f"token {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as reply:
                status, text, final = reply.status, reply.read().decode("utf-8", "replace"), reply.geturl()
        except urllib.error.HTTPError as err:
            status, text, final = err.code, err.read().decode("utf-8", "replace"), err.geturl()
        self.last_url = final
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def login(self, name: str, password: str) -> int:
        """Log in through the REST API: the authenticator checks the password and the hub issues a token."""
        status, reply = self.request("POST", f"/hub/api/users/{name}/tokens",
                                     body={"auth": {"username": name, "password": password}, "note": "test login"})
        if status == 201:
            self.tokens[name] = reply["token"]
        return status

    def user(self, name: str) -> dict:
        status, reply = self.request("GET", f"/hub/api/users/{name}", self.admin_token)
        assert status == 200, reply
        return reply

    def stop(self) -> list[int]:
        """Stop every server, then the hub (which stops its proxy); kill what is left; return what had to be killed."""
        if getattr(self, "process", None) is None:
            return []
        with contextlib.suppress(OSError):
            proxy_pid = int((self.folder / "jupyterhub-proxy.pid").read_text())
            self.pids.add(proxy_pid)
        for name in STUDENTS:
            with contextlib.suppress(Exception):
                pid = self.user(name)["servers"][""]["state"]["pid"]
                self.pids.add(pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # the hub stops the servers it spawned (all at once) and its proxy
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in self.pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        killed = [p for p in self.pids if _alive(p)]
        for pid in killed:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        return killed


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    hub = Hub(tmp_path_factory.mktemp("hub"))
    try:
        hub.timings["starting the hub"] = hub.start()
        yield hub
    finally:
        started = time.perf_counter()
        killed = hub.stop()
        hub.timings["stopping the hub, its proxy and the servers"] = time.perf_counter() - started
        print("\n" + "\n".join(f"{what}: {seconds:.1f} s" for what, seconds in hub.timings.items()))
    assert not killed, f"processes the hub started were still running after it stopped: {killed}\n{hub.log_tail()}"


async def _run_in_kernel(hub: Hub, name: str, code: str, timeout: float = 120) -> str:
    """Start a kernel in ``name``'s server, run ``code`` over the kernel's websocket, return what it printed."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    token = hub.tokens[name]
    status, kernel = await asyncio.to_thread(hub.request, "POST", f"/user/{name}/api/kernels", token, {"name": "python3"})
    assert status == 201, kernel
    url = hub.url.replace("http", "ws", 1) + f"/user/{name}/api/kernels/{kernel['id']}/channels"
    ws = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {token}"}))
    try:
        msg_id = uuid.uuid4().hex
        ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": name, "session": uuid.uuid4().hex,
                       "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        printed, deadline = [], time.monotonic() + timeout
        while True:
            message = await asyncio.wait_for(ws.read_message(), max(1.0, deadline - time.monotonic()))
            assert message is not None, "the kernel's websocket closed"
            msg = json.loads(message)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "stream" and msg["content"]["name"] == "stdout":
                printed.append(msg["content"]["text"])
            elif kind == "error":
                raise AssertionError(f"{name}'s kernel raised {msg['content']['ename']}: {msg['content']['evalue']}")
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(printed)
    finally:
        ws.close()
        await asyncio.to_thread(hub.request, "DELETE", f"/user/{name}/api/kernels/{kernel['id']}", token)


def test_two_students_log_in_and_each_gets_jupyterlab_with_the_course(hub):
    assert hub.login("alice", "not-the-password") == 403, "a wrong password must not log in"
    for name in STUDENTS:
        assert hub.login(name, hub.password) == 201
    assert hub.request("GET", "/hub/api/users/bob", hub.tokens["alice"])[0] in (403, 404), "a student cannot see another"

    started = time.perf_counter()
    with ThreadPoolExecutor(len(STUDENTS)) as pool:  # each student starts their own server, with their own token
        replies = list(pool.map(lambda name: hub.request("POST", f"/hub/api/users/{name}/server", hub.tokens[name]), STUDENTS))
    for status, reply in replies:
        assert status in (201, 202), reply
    for name in STUDENTS:
        hub.wait_for(lambda: hub.user(name)["servers"].get("", {}).get("ready"), 180, f"{name}'s server was not ready")
    hub.timings["spawning two servers"] = time.perf_counter() - started

    for name in STUDENTS:
        status, page = hub.request("GET", f"/user/{name}/lab", hub.tokens[name])
        assert status == 200 and "JupyterLab" in page, f"{name} does not get JupyterLab: {status}"
        status, info = hub.request("GET", f"/user/{name}/api/status", hub.tokens[name])
        assert status == 200 and "started" in info, info
    status, _ = hub.request("GET", "/user/bob/api/status", hub.tokens["alice"])
    assert status in (403, 404) or "/hub/" in hub.last_url, "alice must not reach bob's server"

    code = "import os, cvcourse_utils, jupyterlab; print(os.environ['HOME']); print(cvcourse_utils.__file__)"

    async def both():
        return await asyncio.gather(*(_run_in_kernel(hub, name, code) for name in STUDENTS))

    started = time.perf_counter()
    # In a thread of its own: a test run earlier in this worker (the browser tests' Playwright) may hold
    # this thread's event loop, and asyncio.run refuses to start inside a running loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        printed_by = pool.submit(asyncio.run, both()).result()
    hub.timings["two kernels importing the course"] = time.perf_counter() - started
    for name, printed in zip(STUDENTS, printed_by):
        home, module = printed.split()
        assert Path(home) == hub.home / name, f"{name}'s kernel runs in {home}"
        assert Path(module).resolve() == (ROOT / "cvcourse_utils" / "__init__.py").resolve()
        assert (hub.home / name).is_dir()


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=Instructor", "-c", "user.email=instructor@example.edu", *args],
                   cwd=cwd, check=True, capture_output=True)


def _browser(hub: Hub, name: str) -> urllib.request.OpenerDirector:
    """A browser session: the hub's login form, then its cookies (a link is followed in a browser, not with a token)."""
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with browser.open(hub.url + "/hub/login", timeout=60) as reply:
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', reply.read().decode()).group(1)
    form = urllib.parse.urlencode({"username": name, "password": hub.password, "_xsrf": xsrf}).encode()
    with browser.open(hub.url + "/hub/login", data=form, timeout=60) as reply:
        assert "/hub/login" not in reply.geturl(), f"{name} could not log in with the form"
    return browser


def _pull(hub: Hub, name: str, link: str) -> str:
    """What the nbgitpuller link does in a browser: its page, then the pull that the page starts (an event stream)."""
    browser = _browser(hub, name)
    with browser.open(link, timeout=60) as reply:
        assert reply.status == 200 and f"/user/{name}/git-pull" in reply.geturl(), (reply.status, reply.geturl())
        assert "nbgitpuller" in reply.read().decode().lower()
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query))
    query = urllib.parse.urlencode({k: v for k, v in params.items() if k in ("repo", "branch", "targetpath")})
    with browser.open(f"{hub.url}/user/{name}/git-pull/api?{query}", timeout=120) as reply:
        assert reply.status == 200
        events = reply.read().decode()
    phases = [json.loads(line[5:]).get("phase") for line in events.splitlines() if line.startswith("data:")]
    assert phases and phases[-1] == "finished", events[-2000:]
    return params["urlpath"]


def _task_cells(nb: dict) -> dict[str, str]:
    """grade_id -> source of the notebook's task (solution) code cells."""
    return {c["metadata"]["nbgrader"]["grade_id"]: cell_source(c) for c in nb["cells"]
            if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("solution")}


def _solve(nb: dict, tasks: set[str] | None) -> dict:
    """The student's work: the solution's code in the given task cells (all tasks when None)."""
    solution = _task_cells(read_notebook(ROOT / "solutions" / LAB))
    for cell in nb["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if cell["cell_type"] == "code" and grade_id in solution and (tasks is None or grade_id in tasks):
            cell["source"] = solution[grade_id]
    return nb


def test_nbgitpuller_hands_out_the_labs_and_collected_work_is_graded(hub, tmp_path, capsys):
    for name in STUDENTS:
        if name not in hub.tokens:
            pytest.skip("the students' servers did not start (see the test before)")
    # The instructor's course repository (here: the labs of this checkout in a fresh git repository).
    upstream = tmp_path / "cvcourse"
    (upstream / "labs").mkdir(parents=True)
    shutil.copy(ROOT / "labs" / LAB, upstream / "labs" / LAB)
    _git("init", "-q", "-b", "main", cwd=upstream)
    _git("add", ".", cwd=upstream)
    _git("commit", "-q", "-m", "The course", cwd=upstream)

    assert cli.main(["hub-link", "--hub", hub.url, "--repo", upstream.as_uri(), "--path", f"labs/{LAB}",
                     "--branch", "main", "--root", str(ROOT)]) == 0
    link = capsys.readouterr().out.strip()
    started = time.perf_counter()
    for name in STUDENTS:
        assert _pull(hub, name, link) == f"lab/tree/cvcourse/labs/{LAB}"
    hub.timings["two first pulls"] = time.perf_counter() - started
    for name in STUDENTS:
        assert (hub.home / name / "cvcourse" / "labs" / LAB).is_file()

    # The students work in JupyterLab: a checkpoint, then a save (both through the server's contents API).
    path = f"/user/{{}}/api/contents/cvcourse/labs/{LAB}"
    for name, tasks in (("alice", None), ("bob", {"to_grey"})):
        token = hub.tokens[name]
        assert hub.request("POST", path.format(name) + "/checkpoints", token)[0] == 201
        status, model = hub.request("GET", path.format(name), token)
        assert status == 200 and model["type"] == "notebook"
        body = {"type": "notebook", "format": "json", "content": _solve(model["content"], tasks)}
        status, reply = hub.request("PUT", path.format(name), token, body)
        assert status == 200, reply

    # The instructor fixes the lab's title and adds a file; alice follows the link again.
    text = (upstream / "labs" / LAB).read_text(encoding="utf-8")
    assert text.count("# Lab 01 · ") == 1
    (upstream / "labs" / LAB).write_text(text.replace("# Lab 01 · ", "# Lab 01 (revised) · "), encoding="utf-8")
    (upstream / "labs" / "ERRATA.md").write_text("Lab 01: the title now says it was revised.\n", encoding="utf-8")
    _git("add", ".", cwd=upstream)
    _git("commit", "-q", "-m", "Revise lab 01, add errata", cwd=upstream)
    started = time.perf_counter()
    _pull(hub, "alice", link)
    hub.timings["a second pull"] = time.perf_counter() - started
    pulled = read_notebook(hub.home / "alice" / "cvcourse" / "labs" / LAB)
    assert "# Lab 01 (revised) · " in cell_source(pulled["cells"][0]), "the instructor's change reached alice"
    assert (hub.home / "alice" / "cvcourse" / "labs" / "ERRATA.md").is_file()
    assert _task_cells(pulled) == _task_cells(read_notebook(ROOT / "solutions" / LAB)), "alice's code survived the pull"

    # Collect from the homes (carol logged in once and has no lab), then grade what was collected.
    (hub.home / "carol").mkdir()
    subs, grades = tmp_path / "submissions" / "lab01", tmp_path / "grades"
    assert cli.main(["collect", "--hub-home", str(hub.home), "--lab", "lab01", "--out", str(subs), "--root", str(ROOT)]) == 0
    said = capsys.readouterr().out
    assert "from 2 of 3 student(s)" in said and "carol" in said.split("No ")[-1], said
    assert sorted(p.name for p in subs.iterdir()) == ["alice.ipynb", "bob.ipynb"]
    assert all(not p.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) for p in subs.iterdir())
    started = time.perf_counter()
    assert cli.main(["grade", "lab01", str(subs), "--out", str(grades), "--jobs", "2", "--timeout", "120",
                     "--root", str(ROOT)]) == 0
    hub.timings["grading the two collected labs"] = time.perf_counter() - started
    with open(grades / "grades.csv", newline="", encoding="utf-8") as f:
        rows = {Path(r["file"]).stem: r for r in csv.DictReader(f)}
    assert rows["alice"]["status"] == "ok" and float(rows["alice"]["score"]) == float(rows["alice"]["max_score"]) > 0
    assert rows["bob"]["status"] == "ok" and 0 < float(rows["bob"]["score"]) < float(rows["bob"]["max_score"])
    assert float(rows["bob"]["to_grey"]) > 0

