"""The `check` cell: passes on right answers, explains wrong ones, says when a task is not started."""
import numpy as np
import pytest
import torch

from cvcourse_utils import checking
from cvcourse_utils.checking import Case, CheckFailed, Task, TaskNotDone, check, close, equal, to_plain

GREY = Task(
    name="demo_grey",
    function="to_grey",
    cases=(Case("4x5 image", lambda rng: (rng.random((4, 5, 3)),)), Case("1x1 image", lambda rng: (rng.random((1, 1, 3)),), seed=1)),
    reference=lambda img: img @ np.array([0.2989, 0.587, 0.114]),
    compare=close(atol=1e-8),
)


@pytest.fixture(autouse=True)
def demo_task(monkeypatch):
    real = checking.get_task
    monkeypatch.setattr(checking, "get_task", lambda name: GREY if name == "demo_grey" else real(name))


def test_right_answer_passes(capsys):
    check("demo_grey", lambda img: (img * [0.2989, 0.587, 0.114]).sum(-1))
    out = capsys.readouterr().out
    assert "✓ 4x5 image" in out and "All 2 cases of 'demo_grey' pass." in out


def test_a_tensor_answer_is_accepted():
    check("demo_grey", lambda img: torch.from_numpy(img) @ torch.tensor([0.2989, 0.587, 0.114], dtype=torch.float64))


def test_stub_says_the_task_is_not_done():
    def to_grey(img):
        raise NotImplementedError()

    with pytest.raises(TaskNotDone, match="Task 'demo_grey' is not done yet: write `to_grey`"):
        check("demo_grey", to_grey)


def test_wrong_values_show_expected_and_actual(capsys):
    with pytest.raises(CheckFailed, match="2 of 2 cases failed"):
        check("demo_grey", lambda img: img.mean(-1))
    out = capsys.readouterr().out
    assert "✗ 4x5 image" in out and "values differ" in out and "expected:" in out and "actual:" in out


def test_wrong_shape_is_named(capsys):
    with pytest.raises(CheckFailed):
        check("demo_grey", lambda img: img)
    assert "expected shape (4, 5), got shape (4, 5, 3)" in capsys.readouterr().out


def test_an_exception_in_student_code_is_reported_not_raised(capsys):
    with pytest.raises(CheckFailed):
        check("demo_grey", lambda img: img @ np.ones(4))
    assert "raised ValueError" in capsys.readouterr().out


class AlwaysEqual(np.ndarray):
    def __eq__(self, other):
        return True


def test_objects_that_claim_equality_do_not_pass():
    with pytest.raises(TypeError):
        to_plain(object())
    with pytest.raises(TypeError):
        to_plain(np.zeros((4, 5)).view(AlwaysEqual))


def test_nested_results_and_exact_comparison():
    equal()([np.array([1, 2]), {"k": np.array(3)}], [np.array([1, 2]), {"k": np.array(3)}], ())
    with pytest.raises(CheckFailed, match=r"result\[1\]\['k'\]"):
        equal()([np.array([1, 2]), {"k": np.array(4)}], [np.array([1, 2]), {"k": np.array(3)}], ())


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(KeyError, match="no task named 'nope'"):
        checking.get_task("nope")


def test_a_promised_dtype_is_enforced_with_a_message_naming_both():
    compare = close(dtype="uint8")
    expected = np.array([1, 2], dtype=np.uint8)
    compare(np.array([1, 2], dtype=np.uint8), expected, ())
    with pytest.raises(CheckFailed, match="expected uint8, got float64"):
        compare(np.array([1.0, 2.0]), expected, ())


def test_a_dtype_kind_accepts_every_width_of_that_kind():
    counts = equal(dtype="integer")
    for dtype in (np.int32, np.int64, np.uint8):
        counts(np.array([3, 4], dtype=dtype), np.array([3, 4]), ())
    with pytest.raises(CheckFailed, match="expected integer values, got float64"):
        counts(np.array([3.0, 4.0]), np.array([3, 4]), ())
    with pytest.raises(CheckFailed, match="expected floating values, got int64"):
        close(dtype="floating")(np.array([1, 2]), np.array([1.0, 2.0]), ())


def test_a_promised_shape_may_depend_on_the_arguments():
    compare = close(shape=lambda args: (args[0], 2))
    compare(np.zeros((3, 2)), np.zeros((3, 2)), (3,))
    with pytest.raises(CheckFailed, match=r"expected shape \(4, 2\), got shape \(3, 2\)"):
        compare(np.zeros((3, 2)), np.zeros((3, 2)), (4,))


def test_without_a_promise_any_numeric_dtype_still_passes():
    close()(np.array([1, 2], dtype=np.int8), np.array([1.0, 2.0]), ())


def test_in_a_notebook_a_failed_check_shows_its_message_not_a_traceback():
    not_done = TaskNotDone("Task 'x' is not done yet: write `f`")
    lines = not_done._render_traceback_()
    assert "Task 'x' is not done yet" in lines[0] and "Run All stops here" in lines[1]
    assert not any("Traceback" in line or "checking.py" in line for line in lines)
    assert "2 of 3 cases failed" in CheckFailed("'x': 2 of 3 cases failed (details above).")._render_traceback_()[0]


def test_a_failing_case_shows_small_inputs_and_names_the_returned_value():
    from cvcourse_utils.checking import describe_inputs, readable_path

    compare = checking.close()
    args = (np.array([[0.0, 0.0, 2.0, 2.0]]), np.zeros((20, 4)), 3)
    with pytest.raises(CheckFailed) as err:
        compare([np.zeros(2), np.ones(3)], [np.zeros(2), np.zeros(3)], args)
    message = str(err.value)
    assert message.startswith("the second returned value (result[1]): 3 of 3 values differ"), message
    assert "[[0. 0. 2. 2.]] (float64)" in message and "array (20, 4) float64" in message and "3 (int64)" in message
    assert readable_path("result") == "result" and readable_path("result[0]['mean']") == "the first returned value (result[0]['mean'])"
    assert describe_inputs((object(), "a")) == "(object, 'a')"
