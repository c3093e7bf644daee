"""Timing code fairly: the best of a few runs, as every speed-up in the course is measured."""
from __future__ import annotations

import time
from typing import Any, Callable

__all__ = ["best_time"]


def best_time(fn: Callable[..., Any], *args: Any, repeats: int = 1) -> float:
    """The fastest of ``repeats`` runs of ``fn(*args)``, in seconds (``time.perf_counter``).

    The minimum, not the mean: other programs only ever make a run slower. Call it inside
    ``threadpool_limits(limits=1)`` so that a busy machine cannot distort a speed-up.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return min(times)
