"""Lab 12 · Self-supervised learning: the tasks, their public cases and library references.

Each reference is a library call, so these checks never contain the lab's solution.
"""
from __future__ import annotations

import numpy as np

from cvcourse_utils.checking import Case, Task, close

TASKS = (
    Task(
        name="clip_to_unit_lab12",
        function="clip_to_unit",
        cases=(
            Case("3x4 image around 0.5", lambda rng: (rng.normal(0.5, 0.6, size=(3, 4)),)),
            Case("values already in [0, 1] stay as they are", lambda rng: (rng.random((2, 3, 3)),), seed=1),
        ),
        reference=lambda img: np.clip(img, 0.0, 1.0),
        compare=close(atol=0.0, rtol=0.0, dtype="float64"),
        # What the answer must not use (cvcourse_utils.taught): the one call that would answer the task.
        forbidden=("numpy.clip", "torch.clamp", "torch.clip", ".clip", ".clamp"),
        by_hand="clip with np.minimum and np.maximum",
    ),
)
