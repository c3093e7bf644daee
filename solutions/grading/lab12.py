"""Lab 12 · Self-supervised learning: points per task and hidden cases (instructors only)."""
import numpy as np

from cvcourse_utils.checking import Case

POINTS = {"clip_to_unit_lab12": 1}

HIDDEN = {
    "clip_to_unit_lab12": (
        Case("a single pixel far below 0", lambda rng: (np.array([[-3.0]]),), seed=101),
        Case("float32 input, 5x2x3", lambda rng: (rng.normal(0.5, 1.0, size=(5, 2, 3)).astype(np.float32),), seed=102),
    ),
}
