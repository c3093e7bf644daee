"""Lab 01 · Images and arrays: a ready-made answer to a task earns 0 (``cvcourse_utils.taught``), in ``check`` and in
the grader, while the solution's own answers (slices, matrix products, ``sliding_window_view``) are not flagged."""
from __future__ import annotations

import pytest
from taught_shortcuts import assert_shortcuts_earn_zero, check_refuses

SHORTCUTS = {
    "standardise_channels": """
import numpy as np
from sklearn.preprocessing import StandardScaler


def standardise_channels(images):
    channels = images.shape[-1]
    scaler = StandardScaler().fit(images.reshape(-1, channels))
    return scaler.transform(images.reshape(-1, channels)).reshape(images.shape), scaler.mean_, scaler.scale_
""",
    "to_grey": """
import torch
from torchvision.transforms.v2 import functional as TF


def to_grey(img):
    return TF.rgb_to_grayscale(torch.from_numpy(img).movedim(-1, 0)).squeeze(0).numpy()
""",
    "center_crop": """
import torch
import torchvision.transforms.functional as TF


def center_crop(img, height, width):
    return TF.center_crop(torch.from_numpy(img).movedim(-1, 0), [height, width]).movedim(0, -1).numpy()
""",
    "flip_rotate": """
import numpy as np


def flip_rotate(img):
    return np.fliplr(img), np.flipud(img), np.rot90(img)
""",
    "grey_histogram": """
import numpy as np


def grey_histogram(grey, bins):
    return np.histogram(grey, bins=bins, range=(0.0, 1.0))[0]
""",
    "pairwise_distances_loops": """
import numpy as np
from scipy.spatial.distance import euclidean


def pairwise_distances_loops(a, b):
    out = np.zeros((len(a), len(b)))
    for i in range(len(a)):
        for j in range(len(b)):
            out[i, j] = euclidean(a[i], b[j])
    return out
""",
    "pairwise_distances_vectorised": """
import torch


def pairwise_distances_vectorised(a, b):
    return torch.cdist(torch.from_numpy(a), torch.from_numpy(b)).numpy()
""",
    "conv2d_naive": """
import numpy as np
from scipy.signal import correlate2d


def conv2d_naive(image, kernel, padding=0):
    return correlate2d(np.pad(image, padding), kernel, mode="valid")
""",
    "conv2d_vectorised": """
import torch
import torch.nn.functional as F


def conv2d_vectorised(image, kernel, padding=0):
    return F.conv2d(torch.from_numpy(image)[None, None], torch.from_numpy(kernel)[None, None], padding=padding)[0, 0].numpy()
""",
}

#: More shortcuts a student may write (each must be refused by ``check``).
OTHER_SHORTCUTS = [
    ("standardise_channels", "from scipy.stats import zscore\nimport numpy as np\n\ndef standardise_channels(images):\n"
     "    axes = tuple(range(images.ndim - 1))\n    return zscore(images, axis=None), images.mean(axes), images.std(axes)"),
    ("to_grey", "from PIL import Image\nimport numpy as np\n\ndef to_grey(img):\n"
     "    return np.asarray(Image.fromarray((img * 255).astype(np.uint8)).convert('L')) / 255"),
    ("flip_rotate", "from numpy import flip as mirror\nimport numpy as np\n\ndef flip_rotate(img):\n"
     "    return mirror(img, 1), mirror(img, 0), img.swapaxes(0, 1)[::-1]"),
    ("flip_rotate", "import torch\n\ndef flip_rotate(img):\n    t = torch.from_numpy(img)\n"
     "    return t.flip(1), t.flip(0), torch.rot90(t)"),
    ("grey_histogram", "import torch\n\ndef grey_histogram(grey, bins):\n"
     "    return torch.histc(torch.from_numpy(grey), bins=bins, min=0, max=1).long()"),
    ("grey_histogram", "import numpy as np\n\ndef grey_histogram(grey, bins):\n"
     "    edges = np.linspace(0, 1, bins + 1)\n    return np.bincount(np.digitize(grey.ravel(), edges[1:-1]), minlength=bins)"),
    ("pairwise_distances_vectorised", "from sklearn.metrics import pairwise_distances\n\n"
     "def pairwise_distances_vectorised(a, b):\n    return pairwise_distances(a, b)"),
    ("pairwise_distances_vectorised", "from scipy.spatial import distance\n\n"
     "def pairwise_distances_vectorised(a, b):\n    return distance.cdist(a, b)"),
    ("conv2d_vectorised", "import numpy as np\nfrom scipy import ndimage\n\ndef conv2d_vectorised(image, kernel, padding=0):\n"
     "    full = ndimage.correlate(np.pad(image, padding), kernel, mode='constant')\n    return full"),
]


def test_shortcuts_earn_zero(capsys):
    assert_shortcuts_earn_zero("lab01", SHORTCUTS, capsys)


@pytest.mark.parametrize("task, source", OTHER_SHORTCUTS, ids=[f"{t}-{i}" for i, (t, _) in enumerate(OTHER_SHORTCUTS)])
def test_other_shortcuts_are_refused(task, source):
    check_refuses(task, [source])
