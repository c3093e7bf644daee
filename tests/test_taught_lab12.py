"""Lab 12: a ready-made answer to each task earns 0, in the check and in the grader (cvcourse_utils.taught).

Add a shortcut for every task you write: the one-line answer a student in a hurry would try.
"""
from taught_shortcuts import assert_shortcuts_earn_zero

SHORTCUTS = {
    "clip_to_unit_lab12": "import numpy as np\n\ndef clip_to_unit(img):\n    return np.clip(img, 0.0, 1.0)\n",
}


def test_shortcuts_earn_zero(capsys):
    assert_shortcuts_earn_zero("lab12", SHORTCUTS, capsys)
