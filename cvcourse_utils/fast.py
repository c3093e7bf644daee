"""Fast mode: the switch tests use to shrink data sizes and epochs.

Fast mode changes how much work a notebook does, never what it teaches:
every cell still runs, on fewer images and for fewer epochs.
"""
from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")


def fast_mode() -> bool:
    """True when the environment variable ``CVCOURSE_FAST`` is ``1`` (as in ``make test``)."""
    return os.environ.get("CVCOURSE_FAST", "").strip().lower() in {"1", "true", "yes", "on"}


def per_mode(full: T, fast: T) -> T:
    """``full`` normally, ``fast`` in fast mode: ``epochs = per_mode(full=20, fast=1)``."""
    return fast if fast_mode() else full
