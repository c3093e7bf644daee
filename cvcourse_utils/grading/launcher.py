"""The first step of every grading child on POSIX: trusted, standard library only, no student code.

Run as ``python -I -S launcher.py SPEC -- COMMAND...``. SPEC is a JSON object:

- ``unshare``: when true (the grader runs as root on Linux), enter a private mount
  namespace and a network namespace with no interfaces;
- ``reveal``: ``[[folder, [path, ...]], ...]``: a folder the sandbox user may not
  enter (``/root`` when Python is installed under it) is covered with an empty
  tmpfs and only the listed paths inside it are mounted back, so the unprivileged
  user can reach the Python install and nothing else there; only in that private
  namespace, never on the host;
- ``uid`` / ``gid``: drop to this user (a private uid of its own) before running COMMAND, so
  the process-count limit applies (the kernel does not enforce it for root);
- ``userns``: when true (an ordinary user on Linux, without bubblewrap), enter new user, PID,
  network and mount namespaces and run COMMAND as process 1 of its own PID namespace: it
  cannot signal anything outside, and when it ends everything it started ends with it. The
  launcher waits for it and ends the same way it did.

Then it replaces itself with COMMAND (bubblewrap, or the child directly). Being a
separate single-threaded process, it does what ``preexec_fn`` would do without
the risk of forking a multi-threaded grader.
"""
import ctypes
import json
import os
import resource
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18


def _fail(message: str) -> None:
    sys.stderr.write(f"cvcourse grading launcher: {message}\n")
    os._exit(125)


def _call(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        _fail(f"{what}: {os.strerror(err)}")


def _enter_private_namespaces(libc) -> None:
    _call(libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare(mount, network)")
    _call(libc.mount(None, b"/", None, ctypes.c_ulong(MS_REC | MS_PRIVATE), None), "make / private")


def _reveal(libc, folder: str, paths: list[str]) -> None:
    """Cover ``folder`` with a tmpfs and bind ``paths`` (inside it) back at the same place."""
    fds = [os.open(p, os.O_PATH) for p in paths]  # handles to the originals before they are covered
    _call(libc.mount(b"tmpfs", folder.encode(), b"tmpfs", ctypes.c_ulong(0), b"mode=0755,size=1m"), f"tmpfs on {folder}")
    for path, fd in zip(paths, fds):
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
        _call(libc.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, ctypes.c_ulong(MS_BIND | MS_REC), None), f"bind {path}")
        os.close(fd)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _own_namespaces(libc, command: list[str]) -> None:
    """Run ``command`` as PID 1 of new user, PID, network and mount namespaces; end as it ended."""
    uid, gid = os.getuid(), os.getgid()
    _call(libc.unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS), "unshare(user, pid, network, mount)")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    pid = os.fork()
    if pid == 0:  # process 1 of the new PID namespace
        try:
            os.execvp(command[0], command)
        except OSError as err:
            _fail(f"cannot run {command[0]}: {err}")
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        signal_number = os.WTERMSIG(status)
        import signal

        signal.signal(signal_number, signal.SIG_DFL)
        os.kill(os.getpid(), signal_number)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 125)


def main(argv: list[str]) -> None:
    if len(argv) < 4 or argv[2] != "--":
        _fail("usage: launcher.py SPEC -- COMMAND...")
    spec = json.loads(argv[1])
    command = argv[3:]
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if spec.get("unshare"):
        libc = ctypes.CDLL(None, use_errno=True)
        _enter_private_namespaces(libc)
        for folder, paths in spec.get("reveal", []):
            _reveal(libc, folder, paths)
    if spec.get("uid") is not None:
        os.setgroups([])
        os.setgid(spec["gid"])
        os.setuid(spec["uid"])
        if os.getuid() != spec["uid"] or os.geteuid() != spec["uid"]:
            _fail("could not drop privileges")
    if spec.get("userns"):
        _own_namespaces(ctypes.CDLL(None, use_errno=True), command)
    try:
        os.execvp(command[0], command)
    except OSError as err:
        _fail(f"cannot run {command[0]}: {err}")


if __name__ == "__main__":
    main(sys.argv)
