"""Choosing where tensors live, and mixed precision where it pays off."""
from __future__ import annotations

import contextlib
import os

import torch

_VALID = ("cpu", "cuda", "mps")


class DeviceUnavailableError(RuntimeError):
    """The device asked for (through ``CVCOURSE_DEVICE`` or an argument) is not on this machine."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(name: str | None = None) -> torch.device:
    """The best device here: CUDA, then Apple MPS, then CPU.

    ``name`` (or the environment variable ``CVCOURSE_DEVICE``) forces one of
    ``cpu``, ``cuda`` or ``mps``; forcing a device that is not there raises
    :class:`DeviceUnavailableError` instead of failing later inside a kernel.
    """
    wanted = (name or os.environ.get("CVCOURSE_DEVICE", "")).strip().lower()
    if wanted:
        if wanted not in _VALID:
            raise DeviceUnavailableError(
                f"Unknown device {wanted!r}: use one of {', '.join(_VALID)} "
                "(or unset CVCOURSE_DEVICE to pick automatically)."
            )
        if wanted == "cuda" and not torch.cuda.is_available():
            raise DeviceUnavailableError(
                "CUDA was asked for, but PyTorch sees no CUDA GPU on this machine. "
                "Unset CVCOURSE_DEVICE (or set it to cpu) to run on the CPU; "
                "`cvcourse doctor` shows what PyTorch can see."
            )
        if wanted == "mps" and not _mps_available():
            raise DeviceUnavailableError(
                "Apple MPS was asked for, but it is not available here "
                "(it needs an Apple-silicon Mac and a recent PyTorch). "
                "Unset CVCOURSE_DEVICE to pick automatically."
            )
        return torch.device(wanted)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


#: How many times ``autocast`` switched bf16 mixed precision on in this process (the GPU check reads it).
AUTOCAST_ENTRIES = 0


def autocast(device: torch.device | str | None = None):
    """A context manager for mixed precision: bf16 autocast on CUDA, a no-op elsewhere.

    >>> with autocast(device):
    ...     logits = model(x)
    """
    global AUTOCAST_ENTRIES
    device = torch.device(device) if device is not None else get_device()
    if device.type == "cuda":
        AUTOCAST_ENTRIES += 1
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
