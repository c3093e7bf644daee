"""JupyterLab opens a course notebook without marking it as changed, whatever the Python version.

The notebooks are stored as JupyterLab saves them (:func:`cvcourse_utils.notebooks.canonical_notebook`),
``language_info`` included: the fields ipykernel reports, with the Python version of the course's
reference set-up. When a kernel starts, JupyterLab writes the kernel's ``language_info`` into the open
notebook, and any difference (another Python version) marks the notebook as changed. ``make lab`` and the
browser tests therefore serve notebooks through :class:`CourseContentsManager`, which fills in the version
of the Python that runs the server; the kernel runs the same interpreter (jupyter_client starts the
``python3`` kernelspec with the server's ``sys.executable``). The file on disk is not touched.

Use it with ``jupyter lab --ServerApp.contents_manager_class=cvcourse_utils.jupyter_contents.CourseContentsManager``.
"""
from __future__ import annotations

import sys

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager

from cvcourse_utils.notebooks import KERNELSPEC, LANGUAGE_INFO


def kernel_python_version() -> str:
    """The version string ipykernel puts into ``language_info`` for this interpreter, e.g. ``"3.11.7"``."""
    return sys.version.split()[0]


def with_running_python(nb: dict) -> dict:
    """Give a course notebook (kernel ``python3``, stored ``language_info``) this Python's version, in place."""
    meta = nb.get("metadata", {})
    info = meta.get("language_info")
    if meta.get("kernelspec", {}).get("name") == KERNELSPEC["name"] and isinstance(info, dict) and (
            {k: v for k, v in info.items() if k != "version"} == {k: v for k, v in LANGUAGE_INFO.items() if k != "version"}):
        info["version"] = kernel_python_version()
    return nb


class CourseContentsManager(AsyncLargeFileManager):
    """Jupyter Server's default contents manager, serving course notebooks with the running Python's version."""

    async def get(self, path, content=True, type=None, format=None, **kwargs):
        model = await super().get(path, content=content, type=type, format=format, **kwargs)
        if model.get("type") == "notebook" and isinstance(model.get("content"), dict):
            with_running_python(model["content"])
        return model
