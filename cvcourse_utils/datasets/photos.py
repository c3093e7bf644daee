"""Real photographs that ship inside scikit-learn, so no download is ever needed."""
from __future__ import annotations

import numpy as np

PHOTOS = ("china", "flower")


def sample_photo(name: str = "china") -> np.ndarray:
    """A real colour photograph as floats: ``(H, W, 3)`` in ``[0, 1]`` (427 x 640 pixels).

    ``china`` is a temple in China, ``flower`` a close-up of a flower; both are
    bundled with scikit-learn.
    """
    from sklearn.datasets import load_sample_image

    if name not in PHOTOS:
        raise KeyError(f"no photo named {name!r}; choose one of {', '.join(PHOTOS)}")
    return load_sample_image(f"{name}.jpg").astype(np.float32) / 255.0
