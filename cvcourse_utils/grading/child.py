"""What runs inside the sandbox: ``python -I -B -m cvcourse_utils.grading.child``.

It reads the job (an ``.npz`` from :mod:`cvcourse_utils.grading.wire`) on stdin,
sets its own resource limits, runs the merged notebook cells with plain ``exec``
in one namespace (no IPython, so input transformers and magics do not exist),
then calls each task's function on each case's inputs and writes the plain
results to file descriptor 3. It never sees an expected value: comparing and
scoring happen in the grader.

Everything a submission does here is untrusted, including what this file reports:
the grader treats the result as a claim about what the student's functions
return, checks it strictly, and compares it with values it computed itself.
"""
from __future__ import annotations

import builtins
import os
import signal
import sys
import time
import traceback
import types

MESSAGE_LIMIT = 300
RESULT_BUDGET = 48 << 20  # bytes of results sent back in all (the grader's file-size limit is 64 MB)
OUTPUT_LIMIT = 1 << 20  # bytes of printed output kept per stream; the rest is dropped


class CappedOutput:
    """``sys.stdout``/``sys.stderr`` for the notebook: writes to a file descriptor, silently drops output past a limit.

    So 100 MB of prints cost time but neither fail (a failing ``print`` would break
    the cell that printed) nor fill the disk.
    """

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, fd: int, limit: int = OUTPUT_LIMIT):
        self.fd, self.left = fd, limit

    def write(self, text) -> int:
        if self.left > 0 and isinstance(text, str):
            data = text.encode("utf-8", "replace")[: self.left]
            self.left -= len(data)
            try:
                os.write(self.fd, data)
            except OSError:
                self.left = 0
        return len(text) if isinstance(text, str) else 0

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.fd

    def writable(self) -> bool:
        return True


def read_job() -> bytes:
    """Read the job from stdin, then leave stdin at /dev/null (``input()`` gets end-of-file)."""
    chunks = []
    while True:
        chunk = os.read(0, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return b"".join(chunks)


def apply_limits(limits: dict) -> None:
    """Lower this process's limits (children inherit them). Writing past the file-size limit fails with an error instead of killing."""
    try:
        import resource
    except ImportError:  # Windows: no limits
        return
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    names = {"cpu": "RLIMIT_CPU", "memory": "RLIMIT_AS", "fsize": "RLIMIT_FSIZE", "nproc": "RLIMIT_NPROC", "nofile": "RLIMIT_NOFILE", "core": "RLIMIT_CORE"}
    for key, value in limits.items():
        which = getattr(resource, names[key], None)
        if which is None or value is None:
            continue
        soft, hard = resource.getrlimit(which)
        value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        extra = 5 if key == "cpu" else 0  # SIGXCPU at the soft limit, SIGKILL 5 s later
        try:
            resource.setrlimit(which, (value, value + extra if hard == resource.RLIM_INFINITY else max(value, min(value + extra, hard))))
        except (ValueError, OSError):  # e.g. RLIMIT_AS on macOS
            pass


def safe_text(err: BaseException) -> str:
    """``Type: message`` of an exception raised by student code, bounded, even if its ``__str__`` misbehaves."""
    try:
        text = f"{type(err).__name__}: {err}"
    except BaseException:  # noqa: BLE001 - student-defined __str__ may raise anything
        text = type(err).__name__
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


def where(err: BaseException) -> str:
    """``line 3 of <cell 5>`` for the innermost frame in notebook code."""
    try:
        frames = traceback.extract_tb(err.__traceback__)
        return next((f" (line {f.lineno} of {f.filename})" for f in reversed(frames) if f.filename.startswith("<cell")), "")
    except BaseException:  # noqa: BLE001
        return ""


def load_tasks(module: dict) -> dict:
    """Execute the lab's (public) tasks module from the source the grader sent; ``{task name: Task}``."""
    mod = types.ModuleType(module["name"])
    mod.__file__ = module["filename"]
    mod.__package__ = module.get("package") or ""
    sys.modules[module["name"]] = mod
    exec(compile(module["source"], module["filename"], "exec"), mod.__dict__)
    return {task.name: task for task in mod.TASKS}


def run_cells(cells: list[dict], namespace: dict) -> list[dict]:
    """Run each cell; record every exception (even SystemExit) and go on with the next cell."""
    errors = []
    for cell in cells:
        try:
            code = compile(cell["source"], f"<cell {cell['index']}>", "exec")
            exec(code, namespace)
        except BaseException as err:  # noqa: BLE001 - the notebook's problem, reported, never ours
            errors.append({"index": cell["index"], "label": cell.get("label", ""), "error": safe_text(err) + where(err)})
    return errors


def run_cases(job: dict, arrays: dict, tasks: dict, namespace: dict, writer, to_plain, decode) -> list[dict]:
    """Call each task's function on each case; keep plain results within :data:`RESULT_BUDGET`."""
    results, budget = [], RESULT_BUDGET
    allowed = (job["tasks_module"]["name"],)
    for case in job["cases"]:
        task = tasks[case["task"]]
        fn = namespace.get(task.function)
        if not callable(fn):
            results.append({"error": f"`{task.function}` is not defined as a function (did its cell raise an error?)"})
            continue
        try:
            args = decode(case["args"], arrays, objects=allowed)
            value = to_plain(task.call(fn, args))
            before = set(writer.arrays)
            description = writer.encode(value)
            new = [k for k in writer.arrays if k not in before]
            size = sum(writer.arrays[k].nbytes for k in new) + len(repr(description))
            if size > budget:
                for k in new:
                    del writer.arrays[k]
                results.append({"error": f"the result is too large to check ({size >> 20} MB)"})
                continue
            budget -= size
            results.append({"value": description})
        except NotImplementedError:
            results.append({"not_done": True})
        except BaseException as err:  # noqa: BLE001
            results.append({"error": f"raised {safe_text(err)}{where(err)}"})
    return results


def result_fd(argv: list[str]) -> int:
    """``--result-fd N`` (POSIX: a file the grader opened for us) or ``--result-file PATH`` (Windows)."""
    if len(argv) == 3 and argv[1] == "--result-fd":
        return int(argv[2])
    if len(argv) == 3 and argv[1] == "--result-file":
        return os.open(argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0))
    raise SystemExit("usage: python -m cvcourse_utils.grading.child (--result-fd N | --result-file PATH)")


def write_result(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def main() -> None:
    started = time.perf_counter()
    pid = os.getpid()
    fd = result_fd(sys.argv)
    blob = read_job()
    from cvcourse_utils.grading import wire

    job, arrays = wire.loads(blob, budget=1 << 34)
    apply_limits(job["limits"])
    font_cache = job.get("mpl_fontlist")
    if font_cache and os.environ.get("MPLCONFIGDIR"):
        os.makedirs(os.environ["MPLCONFIGDIR"], exist_ok=True)
        with open(os.path.join(os.environ["MPLCONFIGDIR"], font_cache["name"]), "w", encoding="utf-8") as f:
            f.write(font_cache["text"])
    from cvcourse_utils.checking import to_plain

    tasks = load_tasks(job["tasks_module"])
    writer, decode, dumps = wire.Writer(), wire.decode, wire.Writer.dumps
    sys.argv = ["notebook"]
    sys.stdout, sys.stderr = CappedOutput(1), CappedOutput(2)
    if hasattr(os, "register_at_fork"):  # processes the notebook forks yield the CPU to everyone else's
        os.register_at_fork(after_in_child=lambda: os.nice(19))
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    ready = time.perf_counter()
    cell_errors = run_cells(job["cells"], namespace)
    cells_done = time.perf_counter()
    cases = run_cases(job, arrays, tasks, namespace, writer, to_plain, decode)
    if os.getpid() != pid:  # a copy made by os.fork() in student code: only the original reports
        os._exit(0)
    header = {
        "version": 1,
        "nonce": job["nonce"],
        "cells": cell_errors,
        "cases": cases,
        "seconds": {"setup": round(ready - started, 3), "cells": round(cells_done - ready, 3),
                    "cases": round(time.perf_counter() - cells_done, 3), "cpu": round(sum(os.times()[:2]), 3)},
        "complete": True,
    }
    write_result(fd, dumps(writer, header))
    os._exit(0)


if __name__ == "__main__":
    main()
