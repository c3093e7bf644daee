"""Where student code runs: a child process with limits, inside bubblewrap when it works.

:func:`prepare` picks the sandbox once per batch (``CVCOURSE_GRADER_SANDBOX=none``
forces the fallback) and :func:`run` runs one job in it:

- **bubblewrap** (Linux): new user, PID, network, IPC and mount namespaces; the
  file system holds only the system folders, the Python install, the
  ``cvcourse_utils`` package (read-only) and empty size-limited tmpfs folders.
  The course folder (solutions, hidden cases), the submissions, the output
  folder, home folders and the grader's temporary files are not there at all.
- **fallback** (no usable bubblewrap, e.g. macOS): the same child process and
  limits, without the namespaces, so it can read whatever the user it runs as can.

In both, when the grader runs as root each child runs as its own unprivileged user, a
uid from a private range that no other process uses (the kernel does not enforce the
process-count limit for root, and children sharing one user could signal each other or
exhaust each other's limit), after :mod:`launcher` makes the Python install reachable
for that user in a private mount namespace. Whatever a child leaves running under its
uid is killed when it ends.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

NOBODY = 65534
PRIVATE_UID_BASE = 1_500_000_000  # one uid per graded notebook, from a range no account uses
PRIVATE_UIDS = 100_000_000
TMPFS_SIZE = 64 << 20
FILE_SIZE_LIMIT = 64 << 20  # each file the child writes: stdout, stderr, results
MEMORY_LIMIT = int(os.environ.get("CVCOURSE_GRADER_MEMORY_MB", "6144")) << 20  # address space; import torch alone maps ~3.6 GB
PROCESSES_PER_JOB = 8  # tasks (processes and threads) per submission: Python, bubblewrap's init, a few threads
OPEN_FILES = 256
TAIL = 4000
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group", "nsswitch.conf", "hosts",
             "host.conf", "mime.types", "alternatives", "os-release")
LAUNCHER = Path(__file__).with_name("launcher.py")


class SandboxError(RuntimeError):
    """The grader cannot start a child at all (or the sandbox demanded is not usable)."""


@dataclass(frozen=True)
class Sandbox:
    kind: str                      # "bubblewrap" or "fallback"
    description: str               # one line for every report
    prefix: tuple[str, ...]        # launcher (+ bubblewrap) arguments before the Python command
    python: str
    uid: int | None                # when the grader drops privileges: the trial's uid; each job gets its own
    nproc: int | None
    inside_workdir: str | None     # the child's working folder inside bubblewrap
    env: dict = field(default_factory=dict)
    spec: dict | None = None       # the launcher's spec (its uid is replaced for each job)

    def prefix_for(self, uid: int | None) -> tuple[str, ...]:
        """The command prefix for a child that runs as ``uid`` (the launcher's spec carries the uid)."""
        if uid is None or self.spec is None or self.spec.get("uid") is None:
            return self.prefix
        launcher = _launcher({**self.spec, "uid": uid, "gid": uid})
        return (*launcher, *self.prefix[len(launcher):])


@dataclass
class Outcome:
    """What came back from one child: exit status, whether it ran out of time, its results and output tails."""

    returncode: int | None
    timed_out: bool
    seconds: float
    result: bytes | None
    result_too_large: bool
    stdout_tail: str
    stderr_tail: str
    stdout_bytes: int
    signal: int | None = None


def _child_env(home: str, tmp: str) -> dict:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": tmp, "LANG": "C.UTF-8",
        "CVCOURSE_FAST": "1", "CVCOURSE_DEVICE": "cpu", "CVCOURSE_DATA": os.path.join(home, ".cache", "cvcourse"),
        "CUDA_VISIBLE_DEVICES": "", "MPLBACKEND": "Agg", "MPLCONFIGDIR": os.path.join(home, ".matplotlib"),
        "TORCH_HOME": os.path.join(home, ".cache", "torch"),
    }
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
        env[var] = "1"
    if os.name == "nt":  # Windows needs these to start Python at all
        env.update({k: os.environ[k] for k in ("SYSTEMROOT", "SYSTEMDRIVE", "WINDIR") if k in os.environ})
    return env


def python_paths() -> list[str]:
    """Folders the child's Python needs (its install, site-packages, the cvcourse_utils package), resolved."""
    import cvcourse_utils

    probe = "import sys, json; print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix] + sys.path))"
    out = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True, timeout=120,
                         env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, check=True).stdout
    paths = json.loads(out) + [str(Path(cvcourse_utils.__file__).parent)]
    return sorted({os.path.realpath(p) for p in paths if p and os.path.exists(p)})


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _blocked_ancestor(path: str) -> str | None:
    """The top-most folder above ``path`` that users other than its owner may not enter, if any."""
    parts = Path(path).parts
    for i in range(2, len(parts)):
        folder = str(Path(*parts[:i]))
        try:
            if not os.stat(folder).st_mode & 0o001:
                return folder
        except OSError:
            return None
    return None


def _reveal_plan(paths: list[str]) -> list[list]:
    groups: dict[str, list[str]] = {}
    for path in paths:
        blocked = _blocked_ancestor(path)
        if blocked:
            groups.setdefault(blocked, []).append(path)
    return [[folder, sorted(p for p in members if not any(q != p and _inside(p, q) for q in members))] for folder, members in sorted(groups.items())]


def _bwrap_features(bwrap: str) -> str:
    try:
        return subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def bwrap_arguments(bwrap: str, paths: list[str], hidden: list[str], env: dict, features: str) -> list[str]:
    """The bubblewrap command line up to (not including) the Python command."""
    args = [bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    if "--disable-userns" in features:
        args.append("--disable-userns")
    for folder in SYSTEM_DIRS:
        if os.path.islink(folder):
            args += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            args += ["--ro-bind", folder, folder]
    for name in ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    sized = ["--size", str(TMPFS_SIZE)] if "--size" in features else []
    args += ["--proc", "/proc", "--dev", "/dev", *sized, "--tmpfs", "/tmp", *sized, "--tmpfs", "/dev/shm"]
    binds = [p for p in paths if p not in hidden and not any(q != p and _inside(p, q) for q in paths)]
    covered = [p for p in binds if any(_inside(p, h) for h in hidden)]
    for p in binds:
        if p not in covered:
            args += ["--ro-bind", p, p]
    for h in hidden:  # a hidden folder inside a bound one (e.g. the course inside /usr/src) is covered up
        if any(_inside(h, p) for p in binds if p not in covered):
            args += ["--tmpfs", h]
    for p in covered:  # then what the child needs from inside it (e.g. the course's .venv) is bound back
        args += ["--ro-bind", p, p]
    args += ["--dir", "/tmp/work", "--chdir", "/tmp/work"]
    if "--remount-ro" in features:
        args += ["--remount-ro", "/"]
    args.append("--clearenv")
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args


def _launcher(spec: dict) -> list[str]:
    return [sys.executable, "-I", "-S", str(LAUNCHER), json.dumps(spec), "--"]


def _trial(prefix: list[str], python: str, env: dict, cwd: str | None) -> str | None:
    """Start the sandbox once on a trivial command; None if it works, else why not."""
    check = "import importlib.util as u, sys; sys.exit(0 if u.find_spec('cvcourse_utils') else 3)"
    try:
        r = subprocess.run([*prefix, python, "-I", "-c", check], capture_output=True, text=True, timeout=120, env=env, cwd=cwd)
    except (OSError, subprocess.SubprocessError) as err:
        return str(err)
    if r.returncode == 0:
        return None
    return (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]


def prepare(hidden: list[Path], jobs: int, workroot: Path) -> Sandbox:
    """Choose the sandbox for this batch; ``hidden`` are folders student code must not see."""
    choice = os.environ.get("CVCOURSE_GRADER_SANDBOX", "auto").strip().lower() or "auto"
    if choice not in ("auto", "bwrap", "bubblewrap", "none"):
        raise SandboxError(f"CVCOURSE_GRADER_SANDBOX must be auto, bwrap or none, not {choice!r}")
    python = os.path.join(os.path.realpath(os.path.dirname(sys.executable)), os.path.basename(sys.executable))
    posix = os.name == "posix"
    root_user = posix and os.geteuid() == 0
    linux = sys.platform.startswith("linux")
    paths = python_paths()
    hidden_paths = sorted({os.path.realpath(h) for h in hidden})
    reveal = _reveal_plan(paths) if root_user else []
    why_not = "CVCOURSE_GRADER_SANDBOX=none"
    if choice != "none":
        bwrap = shutil.which("bwrap")
        why_not = "bubblewrap (bwrap) is not installed"
        if bwrap and linux:
            features = _bwrap_features(bwrap)
            env = _child_env("/tmp/work", "/tmp")
            spec = {"unshare": root_user, "reveal": reveal, "uid": PRIVATE_UID_BASE if root_user else None,
                    "gid": PRIVATE_UID_BASE}
            prefix = _launcher(spec) if posix else []
            prefix += bwrap_arguments(bwrap, paths, hidden_paths, env, features)
            why_not = _trial(prefix, python, {"PATH": "/usr/bin:/bin"}, None)
            if why_not is None:
                who = "each notebook runs as its own unprivileged user" if root_user else "runs as you, in its own user namespace"
                return Sandbox("bubblewrap", "bubblewrap sandbox: no network, separate user/PID/mount namespaces; only the system, "
                               f"the Python install and cvcourse_utils are visible (read-only); {who}",
                               tuple(prefix), python, PRIVATE_UID_BASE if root_user else None, PROCESSES_PER_JOB, "/tmp/work",
                               {"PATH": "/usr/bin:/bin"}, spec if posix else None)
            why_not = f"bubblewrap does not work here ({why_not})"
        if choice != "auto":
            raise SandboxError(f"CVCOURSE_GRADER_SANDBOX={choice} but {why_not}")
    attempts = []
    own = "each notebook runs as its own unprivileged user (a uid from a private range), so it cannot signal another"
    if root_user and linux:
        attempts.append(({"unshare": True, "reveal": reveal, "uid": PRIVATE_UID_BASE, "gid": PRIVATE_UID_BASE},
                         PRIVATE_UID_BASE, f"no network (own namespace); {own}"))
    if root_user:
        attempts.append(({"unshare": False, "uid": PRIVATE_UID_BASE, "gid": PRIVATE_UID_BASE}, PRIVATE_UID_BASE, own))
    if posix and linux and not root_user:
        attempts.append(({"unshare": False, "uid": None, "userns": True}, None,
                         "runs as you, but in its own user, PID and network namespaces, so it cannot signal another notebook"))
    if posix:
        attempts.append(({"unshare": False, "uid": None}, None,
                         "runs as root, so the process-count limit is NOT enforced" if root_user else
                         "runs as you, like the notebooks graded beside it: one could signal another or use up the "
                         "process limit they share (anything that ends killed, error or timeout is re-graded alone)"))
    else:
        attempts.append((None, None, "no resource limits on this system"))
    problems = []
    for spec, uid, note in attempts:
        prefix = _launcher(spec) if spec is not None else []
        trial_dir = tempfile.mkdtemp(dir=workroot)
        os.chmod(trial_dir, 0o711)
        if uid is not None:
            os.chown(trial_dir, uid, uid)
        problem = _trial(prefix, python, _child_env(trial_dir, trial_dir), trial_dir)
        if problem is None:
            _kill_uid(uid)
            # the limit counts every process of the (real) user: with a private uid only this notebook's,
            # as an ordinary user every job's and the grader's own
            if uid is not None:
                nproc = PROCESSES_PER_JOB + 16
            elif linux and posix and not root_user:
                nproc = PROCESSES_PER_JOB * max(jobs, 1) + 16 + _tasks_of(os.getuid())
            else:
                nproc = None
            return Sandbox("fallback", f"fallback (no sandbox: {why_not}): a plain child process with resource limits; "
                           f"{note}; student code can read any file this user can, including the course folder",
                           tuple(prefix), python, uid, nproc, None, spec=spec)
        problems.append(problem)
    raise SandboxError("cannot start a grading child process: " + "; ".join(problems))


def _tasks_of(uid: int) -> int:
    """How many processes and threads ``uid`` runs now (Linux; 0 elsewhere): they count against its process limit."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                total += int(fields["Threads"])
        except (OSError, KeyError, ValueError):
            continue
    return total


def _kill_uid(uid: int | None) -> None:
    """Kill every process of ``uid`` (a private grading uid; Linux, as root), also those that left the group."""
    if uid is None or uid < PRIVATE_UID_BASE or not sys.platform.startswith("linux") or os.geteuid() != 0:
        return
    for _ in range(50):  # a fork bomb may still be forking: repeat until nothing of it is left
        found = False
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
                if int(fields["Uid"].split()[1]) == uid or int(fields["Uid"].split()[0]) == uid:
                    found = True
                    os.kill(int(status.parent.name), signal.SIGKILL)
            except (OSError, KeyError, ValueError, IndexError):
                continue
        if not found:
            return
        time.sleep(0.02)


def _tail(path: Path) -> tuple[str, int]:
    size = path.stat().st_size
    with path.open("rb") as f:
        f.seek(max(0, size - TAIL))
        text = f.read(TAIL).decode("utf-8", "replace")
    return (("[...]\n" if size > TAIL else "") + text), size


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def private_uid(index: int) -> int:
    """The uid of the ``index``-th notebook graded by this process (a private range, wrapping around)."""
    return PRIVATE_UID_BASE + 1 + index % (PRIVATE_UIDS - 1)


def run(sandbox: Sandbox, job: bytes, timeout: float, workroot: Path, uid: int | None = None) -> Outcome:
    """Run one job (see :mod:`child`) in the sandbox; kill its whole process group after ``timeout`` seconds.

    uid: the private user this job runs as, when the grader drops privileges (default: the sandbox's).
    """
    uid = sandbox.uid if uid is None or sandbox.uid is None else uid
    jobdir = Path(tempfile.mkdtemp(dir=workroot))
    try:
        os.chmod(jobdir, 0o711)  # the fallback child (nobody) must reach work/, and only that
        for name in ("job.npz", "stdout", "stderr", "result"):
            os.close(os.open(jobdir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        (jobdir / "job.npz").write_bytes(job)
        work = jobdir / "work"
        work.mkdir(mode=0o700)
        if uid is not None and sandbox.inside_workdir is None:
            os.chown(work, uid, uid)
        env = sandbox.env if sandbox.inside_workdir else _child_env(str(work), str(work))
        posix = os.name == "posix"
        with open(jobdir / "job.npz", "rb") as stdin, open(jobdir / "stdout", "wb") as stdout, \
                open(jobdir / "stderr", "wb") as stderr, open(jobdir / "result", "wb") as result:
            command = [*sandbox.prefix_for(uid), sandbox.python, "-I", "-B", "-m", "cvcourse_utils.grading.child"]
            command += ["--result-fd", str(result.fileno())] if posix else ["--result-file", str(jobdir / "result")]
            start = time.perf_counter()
            kwargs = {"pass_fds": (result.fileno(),), "start_new_session": True} if posix else \
                {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
            proc = subprocess.Popen(command, stdin=stdin, stdout=stdout, stderr=stderr, env=env, close_fds=True,
                                    cwd=str(work), **kwargs)
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            if posix:
                _kill_group(proc.pid)  # also what the submission left running
                _kill_uid(uid)         # and what escaped the group (setsid, daemons)
            else:
                proc.kill()
            proc.wait()
            seconds = time.perf_counter() - start
        rc = proc.returncode
        sig = None
        if rc is not None and rc < 0:
            sig = -rc
        elif sandbox.kind == "bubblewrap" and rc is not None and 128 < rc < 128 + 65:
            sig = rc - 128  # bubblewrap reports a child killed by signal N as 128 + N
        size = (jobdir / "result").stat().st_size
        too_large = size > FILE_SIZE_LIMIT
        blob = None if too_large or size == 0 else (jobdir / "result").read_bytes()
        out_tail, out_size = _tail(jobdir / "stdout")
        err_tail, _ = _tail(jobdir / "stderr")
        return Outcome(rc, timed_out, seconds, blob, too_large, out_tail, err_tail, out_size, sig)
    finally:
        shutil.rmtree(jobdir, ignore_errors=True)
