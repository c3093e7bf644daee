"""Instant feedback for labs: ``check("to_grey", to_grey)`` after each task.

Each lab's tasks live in ``cvcourse_utils/labchecks/labNN.py`` as :class:`Task`
objects. A task names the function the student writes, a few public
:class:`Case` inputs, and a *reference* that computes the expected answer with
a library (NumPy, PyTorch, scikit-learn), so the check never contains the
solution. The batch grader (``cvcourse grade``) runs the very same tasks, plus
hidden cases kept with the instructor material.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


class CheckFailed(AssertionError):
    """A task's check found a wrong answer.

    In a notebook it shows as its message alone, not as a traceback into this file: IPython
    displays what ``_render_traceback_`` returns. It is still an exception, so "Run All" stops here.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[1;31m✗ {self}\x1b[0m"]


class TaskNotDone(CheckFailed):
    """The task's function still raises ``NotImplementedError``: the stub is untouched."""

    def _render_traceback_(self) -> list[str]:
        # No emoji: a hand sign shows as an empty box where no emoji font is installed.
        return [f"\x1b[1;33m■ {self}\x1b[0m", "(Run All stops here until this task is done; the cells below wait for it.)"]


# --------------------------------------------------------------------------- data


def to_plain(value: Any) -> Any:
    """Turn a function's result into plain data: arrays, lists, dicts of str, or None.

    Tensors become NumPy arrays and numbers become 0-d arrays. Anything else
    (objects with their own ``__eq__``, generators, modules) is refused, so a
    check compares numbers and never runs code that came with the answer.
    """
    if value is None:
        return None
    if type(value) in (bool, int, float, complex, np.bool_) or isinstance(value, np.generic):
        return np.asarray(value)
    if type(value) is str:
        return value
    if type(value) in (list, tuple):
        return [to_plain(v) for v in value]
    if type(value) is dict:
        if not all(type(k) is str for k in value):
            raise TypeError("a returned dict must have string keys")
        return {k: to_plain(v) for k, v in value.items()}
    if type(value) is np.ndarray:
        if value.dtype == object:
            raise TypeError("returned an array of Python objects; return numbers instead")
        return np.array(value, copy=True)
    try:
        import torch
        if isinstance(value, torch.Tensor):
            return to_plain(value.detach().cpu().numpy())
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    raise TypeError(f"returned a {type(value).__name__}; expected a NumPy array, a tensor, a number, or a list/tuple of them")


def describe(value: Any) -> str:
    """A short description of a value for messages: ``array (4, 5) float64``."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return f"{value.item()!r} ({value.dtype})"
        return f"array {tuple(value.shape)} {value.dtype}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(describe(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {describe(v)}" for k, v in value.items()) + "}"
    return type(value).__name__


def describe_inputs(args: tuple | list, limit: int = 12) -> str:
    """A case's inputs for messages: small arrays and numbers with their values, large arrays as a shape."""
    parts = []
    for value in args:
        try:
            plain = to_plain(value)
        except TypeError:
            parts.append(type(value).__name__)
            continue
        if isinstance(plain, np.ndarray) and 0 < plain.size <= limit and plain.ndim > 0:
            parts.append(f"{preview(plain, limit)} ({plain.dtype})")
        else:
            parts.append(describe(plain) if not isinstance(plain, str) else repr(plain))
    return "(" + ", ".join(parts) + ")"


ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


def readable_path(path: str) -> str:
    """``result[2]['mean']`` -> ``the third returned value (result[2]['mean'])``: say what the index means."""
    if path.startswith("result[") and path[7:8].isdigit():
        index = int(path[7:path.index("]")])
        if index < len(ORDINALS):
            return f"the {ORDINALS[index]} returned value ({path})"
    return path


def preview(a: np.ndarray, limit: int = 12) -> str:
    """Small arrays in full, large ones as a shape."""
    a = np.asarray(a)
    if a.size <= limit:
        return np.array2string(a, precision=4, suppress_small=True).replace("\n", " ")
    return describe(a)


# --------------------------------------------------------------------------- comparisons


def nested(compare_arrays: Callable[[np.ndarray, np.ndarray, tuple, str], None]) -> Callable[[Any, Any, tuple], None]:
    """Lift a comparison of two arrays to results made of lists, tuples and dicts of arrays.

    ``compare_arrays(actual, expected, args, path)`` sees one array of each (``path`` names
    where it sits in the result, e.g. ``result[1]['mean']``) and raises :class:`CheckFailed`.
    """

    def compare(actual: Any, expected: Any, args: tuple, path: str = "result") -> None:
        if isinstance(expected, (list, tuple)):
            if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
                raise CheckFailed(f"{readable_path(path)}: expected {len(expected)} values {describe(expected)}, got {describe(actual)}")
            for i, (a, e) in enumerate(zip(actual, expected)):
                compare(a, e, args, f"{path}[{i}]")
            return
        if isinstance(expected, dict):
            if not isinstance(actual, dict) or set(actual) != set(expected):
                raise CheckFailed(f"{readable_path(path)}: expected a dict with keys {sorted(expected)}, got {describe(actual)}")
            for key in expected:
                compare(actual[key], expected[key], args, f"{path}[{key!r}]")
            return
        expected = np.asarray(expected)
        if not isinstance(actual, np.ndarray):
            raise CheckFailed(f"{readable_path(path)}: expected {describe(expected)}, got {describe(actual)}")
        if actual.shape != expected.shape:
            raise CheckFailed(f"{readable_path(path)}: expected shape {expected.shape}, got shape {actual.shape} "
                              f"(inputs: {describe_inputs(args)})")
        if actual.dtype.kind not in "biuf":
            raise CheckFailed(f"{readable_path(path)}: expected numbers, got dtype {actual.dtype}")
        compare_arrays(actual, expected, args, path)

    return compare


#: dtype kinds a check can ask for by name, as NumPy's ``dtype.kind`` letters.
DTYPE_KINDS = {"integer": "iu", "signed integer": "i", "unsigned integer": "u", "floating": "f", "bool": "b"}


def dtype_problem(actual: np.ndarray, dtype: str | np.dtype | type | None) -> str | None:
    """Why ``actual`` does not have the promised dtype (None if it has).

    dtype: an exact dtype (``"uint8"``, ``np.float32``) or a kind from :data:`DTYPE_KINDS`
    (``"integer"`` accepts every signed and unsigned integer type, ``"floating"`` every float).
    """
    if dtype is None:
        return None
    if isinstance(dtype, str) and dtype in DTYPE_KINDS:
        if actual.dtype.kind in DTYPE_KINDS[dtype]:
            return None
        return f"expected {dtype} values, got {actual.dtype}"
    wanted = np.dtype(dtype)
    return None if actual.dtype == wanted else f"expected {wanted}, got {actual.dtype}"


def close(atol: float = 1e-6, rtol: float = 1e-5, *, dtype: str | np.dtype | type | None = None,
          shape: tuple[int, ...] | Callable[[tuple], tuple[int, ...]] | None = None) -> Callable[[Any, Any, tuple], None]:
    """Compare (nested) arrays element-wise with ``np.isclose``; raise :class:`CheckFailed` with a helpful message.

    dtype: the dtype the task promises (``"uint8"``) or a kind (``"integer"``, ``"floating"``, ``"bool"``);
    without it any numeric dtype passes. shape: the promised shape, or a function of the case's
    arguments that returns it (the reference's shape is always checked too). Both apply to every
    array of a nested result.
    """

    def compare_arrays(actual: np.ndarray, expected: np.ndarray, args: tuple, path: str) -> None:
        where = readable_path(path)
        problem = dtype_problem(actual, dtype)
        if problem:
            raise CheckFailed(f"{where}: {problem} (inputs: {describe_inputs(args)})")
        if shape is not None:
            wanted = tuple(shape(args) if callable(shape) else shape)
            if actual.shape != wanted:
                raise CheckFailed(f"{where}: expected shape {wanted}, got shape {actual.shape} (inputs: {describe_inputs(args)})")
        a, e = actual.astype(np.float64), expected.astype(np.float64)
        ok = np.isclose(a, e, atol=atol, rtol=rtol, equal_nan=True)
        if not ok.all():
            bad = np.argwhere(~ok)
            first = tuple(int(i) for i in bad[0])
            diff = np.abs(a - e)
            worst = float(np.nanmax(np.where(np.isnan(diff), np.inf, diff))) if diff.size else 0.0
            raise CheckFailed(
                f"{where}: {len(bad)} of {e.size} values differ (max |actual - expected| = {worst:.3g}, "
                f"tolerance atol={atol:g}, rtol={rtol:g}); first at index {first}: "
                f"actual {a[first]:.6g}, expected {e[first]:.6g}.\n"
                f"      expected: {preview(e)}\n      actual:   {preview(a)}\n"
                f"      inputs:   {describe_inputs(args)}"
            )

    return nested(compare_arrays)


def equal(*, dtype: str | np.dtype | type | None = None,
          shape: tuple[int, ...] | Callable[[tuple], tuple[int, ...]] | None = None) -> Callable[[Any, Any, tuple], None]:
    """Exact comparison (labels, counts, indices); ``dtype`` and ``shape`` as for :func:`close`."""
    return close(atol=0.0, rtol=0.0, dtype=dtype, shape=shape)


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Case:
    """One input for a task: ``make_args(rng)`` builds the arguments from a seeded generator."""

    name: str
    make_args: Callable[[np.random.Generator], tuple]
    seed: int = 0

    def args(self) -> tuple:
        return tuple(self.make_args(np.random.default_rng(self.seed)))


def _call(fn: Callable, args: tuple) -> Any:
    return fn(*args)


@dataclass(frozen=True)
class Task:
    """A graded piece of a lab.

    name:      the id used in ``check(name, fn)`` and in the gradebook
    function:  the name of the function the student writes in the notebook
    cases:     public cases, run by ``check`` (the grader adds hidden ones)
    reference: computes the expected result from the arguments (a library call),
               or ``None`` when ``compare`` checks a property of the result instead
    compare:   ``compare(actual, expected, args)`` raises :class:`CheckFailed` if wrong
    call:      ``call(fn, args)`` runs the student's function and returns its result;
               it runs in the student's process, so it may only return plain data
    vectorised: the task must not loop in Python (``cvcourse_utils.loops``): ``check`` and the
               grader read its source, and a loop fails the task whatever its results
    loops_allowed_in: functions the vectorised task may call although they loop (other tasks')
    forbidden: what the answer must not use (``cvcourse_utils.taught``): the course's reference
               implementations and the library calls that would answer the task; an answer that
               reaches one earns 0. ``()`` declares that nothing ready-made answers the task (say why
               in ``by_hand``); ``None`` (undeclared) fails the lint
    by_hand:   what the student writes by hand, completing "`fn` asks you to ...", e.g.
               "compute IoU from the confusion matrix yourself"
    """

    name: str
    function: str
    cases: tuple[Case, ...]
    reference: Callable[..., Any] | None = None
    compare: Callable[[Any, Any, tuple], None] = field(default_factory=close)
    call: Callable[[Callable, tuple], Any] = _call
    vectorised: bool = False
    loops_allowed_in: tuple[str, ...] = ()
    forbidden: tuple[str, ...] | None = None
    by_hand: str = ""

    def expected(self, args: tuple) -> Any:
        return None if self.reference is None else to_plain(self.reference(*args))


@dataclass
class CaseResult:
    case: str
    passed: bool
    message: str = ""
    not_done: bool = False


def run_case(task: Task, fn: Callable, case: Case) -> CaseResult:
    """Run one case in this process and compare (what ``check`` does for each public case)."""
    args = case.args()
    try:
        actual = to_plain(task.call(fn, args))
    except NotImplementedError:
        return CaseResult(case.name, False, "not implemented yet", not_done=True)
    except Exception as err:  # the student's code failed: say where, briefly
        frames = traceback.extract_tb(err.__traceback__)
        where = next((f"line {f.lineno} of {f.name}" for f in reversed(frames) if f.filename.startswith("<")), "")
        return CaseResult(case.name, False, f"raised {type(err).__name__}: {err}" + (f" ({where})" if where else ""))
    return compare_result(task, case.name, actual, args)


VECTORISED_CASE = "vectorised: no Python loops"


def loop_message(task: Task, loops: list[str]) -> str:
    """What a vectorised task is told when its source loops."""
    return (f"`{task.function}` must be vectorised, but it uses {'; '.join(loops)}. Replace the loop with "
            "array operations (broadcasting, matrix products, indexing); a vectorised task earns no points while it loops.")


def compare_result(task: Task, case_name: str, actual: Any, args: tuple) -> CaseResult:
    """Compare a plain result with the task's reference (shared by ``check`` and the grader)."""
    try:
        task.compare(actual, task.expected(args), args)
    except CheckFailed as err:
        return CaseResult(case_name, False, str(err))
    return CaseResult(case_name, True)


# --------------------------------------------------------------------------- registry


def lab_tasks(lab: str) -> list[Task]:
    """The tasks of one lab, e.g. ``lab_tasks("lab01")``, in notebook order."""
    try:
        module = importlib.import_module(f"cvcourse_utils.labchecks.{lab}")
    except ModuleNotFoundError:
        raise KeyError(f"no checks for {lab!r}; known labs: {', '.join(known_labs())}") from None
    return list(module.TASKS)


def known_labs() -> list[str]:
    from cvcourse_utils import labchecks

    return sorted(m.name for m in pkgutil.iter_modules(labchecks.__path__) if m.name.startswith("lab"))


def get_task(name: str) -> Task:
    """Find a task by name across all labs."""
    for lab in known_labs():
        for task in lab_tasks(lab):
            if task.name == name:
                return task
    raise KeyError(f"no task named {name!r}; tasks: {', '.join(t.name for lab in known_labs() for t in lab_tasks(lab))}")


# --------------------------------------------------------------------------- the check cell


def check(name: str, fn: Callable) -> None:
    """Run task ``name``'s public cases on ``fn`` and print what passes.

    Raises :class:`TaskNotDone` while the function is still the stub, and
    :class:`CheckFailed` when a case fails, so a notebook run stops at the first
    unfinished task with a message that says which one.
    """
    task = get_task(name)
    if task.forbidden is not None:  # read before running: a ready-made answer earns nothing, however right
        from cvcourse_utils.taught import TAUGHT_CASE, delegation_message, delegations_in_function

        found = delegations_in_function(fn, task.forbidden, caller=sys._getframe(1).f_globals)
        if found:
            print(f"  ✗ {TAUGHT_CASE}\n      {delegation_message(task.function, task.by_hand, found)}")
            raise CheckFailed(f"'{name}': its answer uses ready-made code (details above); this task earns 0 until it is written by hand.")
    results = [run_case(task, fn, case) for case in task.cases]
    if any(r.not_done for r in results):
        raise TaskNotDone(
            f"Task '{name}' is not done yet: write `{task.function}` where it says "
            "`# YOUR CODE HERE` (and delete the `raise NotImplementedError()`), then run this cell again."
        )
    if task.vectorised:
        from cvcourse_utils.loops import loops_in_function

        loops = loops_in_function(fn, task.loops_allowed_in)
        results.append(CaseResult(VECTORISED_CASE, not loops, loop_message(task, loops) if loops else ""))
    for r in results:
        print(f"  {'✓' if r.passed else '✗'} {r.case}" + ("" if r.passed else f"\n      {r.message}"))
    failed = [r for r in results if not r.passed]
    if failed:
        raise CheckFailed(f"'{name}': {len(failed)} of {len(results)} cases failed (details above).")
    print(f"All {len(results)} cases of '{name}' pass.")
