"""Vectorised tasks are graded on their source: loops are found, also through helpers and in disguise."""
import dataclasses

import numpy as np
import pytest

from cvcourse_utils import checking
from cvcourse_utils.checking import Case, CheckFailed, Task, check, close
from cvcourse_utils.loops import find_loops, function_defs, loops_in_function

SOURCE = '''
def helper(x):
    return [v * 2 for v in x]

def vectorised(x):
    return x * 2

def through_helper(x):
    return np.asarray(helper(x))

def with_while(x):
    i = 0
    while i < 3:
        i += 1
    return x

def disguised(x):
    return np.vectorize(lambda v: v * 2)(x)

def recursive(x):
    return recursive(x) if False else list(map(abs, x))
'''


def test_loops_are_found_with_their_line_and_function():
    defs = function_defs(SOURCE)
    assert find_loops(defs, "vectorised") == []
    assert find_loops(defs, "through_helper") == ["a list comprehension (line 2 of helper)"]
    assert find_loops(defs, "with_while") == ["a while loop (line 3 of with_while)"]
    assert find_loops(defs, "disguised") == ["np.vectorize (line 2 of disguised)"]
    assert find_loops(defs, "recursive") == ["map() (line 2 of recursive)"]
    assert find_loops(defs, "through_helper", allowed=("helper",)) == []


def test_unparsable_source_defines_nothing():
    assert function_defs("def broken(:\n") == {}


def loop_squares(x):
    out = np.empty_like(x)
    for i in range(len(x)):
        out[i] = x[i] ** 2
    return out


def square_via_loop_helper(x):
    return loop_squares(x)


def square(x):
    return x**2


SQUARE = Task(name="demo_square_vectorised", function="square", cases=(Case("5 values", lambda rng: (rng.random(5),)),),
              reference=np.square, compare=close(), vectorised=True)


@pytest.fixture
def demo(monkeypatch):
    real = checking.get_task
    monkeypatch.setattr(checking, "get_task", lambda name: SQUARE if name == SQUARE.name else real(name))


def test_live_functions_are_read_through_their_helpers():
    assert loops_in_function(square) == []
    assert loops_in_function(loop_squares) == ["a for loop (line 3 of loop_squares)"]
    assert loops_in_function(square_via_loop_helper) == ["a for loop (line 3 of loop_squares)"]
    namespace = {}
    exec("def hidden(x):\n    return x", namespace)  # no source to read
    assert loops_in_function(namespace["hidden"]) == ["code whose source cannot be read"]


def test_check_fails_a_correct_but_looping_answer(demo, capsys):
    check(SQUARE.name, square)
    assert "✓ vectorised: no Python loops" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="1 of 2 cases failed"):
        check(SQUARE.name, loop_squares)
    out = capsys.readouterr().out
    assert "✓ 5 values" in out and "✗ vectorised: no Python loops" in out and "must be vectorised, but it uses a for loop" in out


def test_every_vectorised_task_of_the_course_is_marked():
    names = [t for lab in checking.known_labs() for t in checking.lab_tasks(lab)]
    for task in names:
        if task.name.endswith(("_vectorised", "_no_loops", "_im2col")):
            assert task.vectorised, f"{task.name} is named as vectorised but its Task does not say vectorised=True"
    assert dataclasses.replace(SQUARE, vectorised=False).vectorised is False
