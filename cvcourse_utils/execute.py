"""Run a notebook's code cells in a fresh kernel and keep their outputs (what ``cvcourse slides`` shows).

nbclient's asynchronous client sometimes waits for ever on a cell that opens ipywidgets (its issue 312;
here: lecture 01's filter explorer, two runs in four). This client is the simple, blocking one that
nbval uses too: send the cell, then read the kernel's messages until it has both replied and gone
idle, with one deadline per cell. Outputs an ``Output`` widget captures (``interactive_output``,
``interact``) land in the cell itself, so a static deck shows the figure the widget drew.

    nb = execute_notebook(read_notebook(path), cwd=path.parent, timeout=300)
"""
from __future__ import annotations

import copy
import os
import queue
import time
from pathlib import Path

from cvcourse_utils.notebooks import cell_source

__all__ = ["CellError", "CellTimeout", "execute_notebook"]


class CellError(RuntimeError):
    """A cell raised: which cell, and the kernel's exception name and message."""


class CellTimeout(TimeoutError):
    """A cell did not finish within its deadline."""


def _cell_outputs(kc, source: str, timeout: float, where: str, alive=lambda: True) -> tuple[list[dict], int | None]:
    """Run ``source``; its nbformat outputs and execution count. Raises CellError / CellTimeout."""
    msg_id = kc.execute(source, allow_stdin=False, stop_on_error=True)
    deadline = time.monotonic() + timeout
    outputs: list[dict] = []
    clear_before_next = False
    reply, idle = None, False
    while reply is None or not idle:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CellTimeout(f"{where} did not finish within {timeout:g} s")
        if reply is None:  # the reply never waits behind a full output queue: look for it at every turn
            try:
                msg = kc.get_shell_msg(timeout=0 if not idle else min(left, 1.0))
                if msg["parent_header"].get("msg_id") == msg_id:
                    reply = msg["content"]
            except queue.Empty:
                pass
        if idle:
            if not alive():
                raise CellError(f"{where}: the kernel died before it replied")
            continue
        try:
            msg = kc.get_iopub_msg(timeout=min(left, 0.2))
        except queue.Empty:
            if not alive():
                raise CellError(f"{where}: the kernel died (out of memory, or the process was killed)") from None
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "status":
            idle = content["execution_state"] == "idle"
            continue
        if kind == "clear_output":
            if content.get("wait"):
                clear_before_next = True
            else:
                outputs.clear()
            continue
        if kind not in ("stream", "display_data", "execute_result", "error"):
            continue  # execute_input, comm messages, update_display_data
        if clear_before_next:
            outputs.clear()
            clear_before_next = False
        if kind == "stream":
            if outputs and outputs[-1]["output_type"] == "stream" and outputs[-1]["name"] == content["name"]:
                outputs[-1]["text"] += content["text"]
            else:
                outputs.append({"output_type": "stream", "name": content["name"], "text": content["text"]})
        elif kind == "error":
            outputs.append({"output_type": "error", "ename": content["ename"], "evalue": content["evalue"],
                            "traceback": content["traceback"]})
        else:
            out = {"output_type": kind, "data": content["data"], "metadata": content.get("metadata", {})}
            if kind == "execute_result":
                out["execution_count"] = content.get("execution_count")
            outputs.append(out)
    if reply.get("status") == "error":
        raise CellError(f"{where} raised {reply.get('ename', 'an error')}: {reply.get('evalue', '')}")
    return outputs, reply.get("execution_count")


def execute_notebook(nb: dict, cwd: str | Path, *, timeout: float = 300, env: dict | None = None,
                     kernel_name: str = "python3", startup_timeout: float = 120) -> dict:
    """A copy of ``nb`` with every code cell run in order in a new kernel started in ``cwd``.

    env: the kernel's environment (default: this process's). timeout: seconds per cell.
    The first failing cell stops the run with :class:`CellError`; a slow one with :class:`CellTimeout`.
    The kernel is always shut down.
    """
    from jupyter_client.manager import start_new_kernel

    nb = copy.deepcopy(nb)
    km, kc = start_new_kernel(kernel_name=kernel_name, startup_timeout=startup_timeout, cwd=str(cwd),
                              env=dict(os.environ if env is None else env))
    try:
        for index, cell in enumerate(nb.get("cells", [])):
            if cell.get("cell_type") != "code":
                continue
            cell["outputs"], cell["execution_count"] = _cell_outputs(kc, cell_source(cell), timeout, f"cell {index}",
                                                                      alive=km.is_alive)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return nb
