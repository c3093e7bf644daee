"""Finding Python loops in a function's source: a vectorised task must have none.

Tasks named ``*_vectorised``, ``*_no_loops`` or ``*_im2col`` (``Task(vectorised=True)``) are graded
on how they compute, not only on what: their body, and every function of the student's that it
calls, may not contain a ``for`` or ``while`` loop, a comprehension or generator expression, or a
loop in disguise (``map``, ``np.vectorize``, ``np.apply_along_axis``, ``np.frompyfunc``, or code
hidden in ``exec``/``eval``). The source is read, never run, so the verdict cannot be faked by
patching a clock; the grader reads it in its own process.
"""
from __future__ import annotations

import ast
import inspect
import textwrap
import types
from typing import Callable

LOOP_NODES = {
    ast.For: "a for loop", ast.AsyncFor: "a for loop", ast.While: "a while loop",
    ast.ListComp: "a list comprehension", ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension", ast.GeneratorExp: "a generator expression",
}
HIDDEN_LOOPS = {"map": "map()", "vectorize": "np.vectorize", "apply_along_axis": "np.apply_along_axis",
                "apply_over_axes": "np.apply_over_axes", "frompyfunc": "np.frompyfunc",
                "exec": "exec() (code that cannot be read)", "eval": "eval() (code that cannot be read)"}


def function_defs(source: str) -> dict[str, ast.FunctionDef]:
    """The top-level functions defined in ``source`` (a later definition replaces an earlier one)."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return {}
    return {node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _called_names(node: ast.AST) -> set[str]:
    return {n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def find_loops(defs: dict[str, ast.FunctionDef], name: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """Every loop in function ``name`` and in the functions of ``defs`` it calls, directly or not.

    ``allowed``: functions that may loop (another task's, e.g. ``col2im`` looping over the kernel's
    offsets, not over the data); they are not looked into. Returns messages such as
    ``"a for loop (line 4 of knn_distances_no_loops)"``; empty when vectorised.
    """
    found, seen, todo = [], set(allowed), [name]
    while todo:
        current = todo.pop(0)
        if current in seen or current not in defs:
            continue
        seen.add(current)
        node = defs[current]
        start = node.lineno
        for sub in ast.walk(node):
            what = LOOP_NODES.get(type(sub))
            if what is None and isinstance(sub, ast.Call):
                callee = sub.func.id if isinstance(sub.func, ast.Name) else sub.func.attr if isinstance(sub.func, ast.Attribute) else ""
                what = HIDDEN_LOOPS.get(callee)
            if what:
                found.append(f"{what} (line {sub.lineno - start + 1} of {current})")
        todo += sorted(_called_names(node) - seen)
    return found


def loops_in_function(fn: Callable, allowed: tuple[str, ...] = ()) -> list[str]:
    """``find_loops`` for a live function (what ``check`` uses): its source and that of the functions it
    calls from the same notebook or module. A function whose source cannot be read counts as a loop."""
    try:
        defs = function_defs(inspect.getsource(fn))
    except (OSError, TypeError):
        return ["code whose source cannot be read"]
    if fn.__name__ not in defs:
        return ["code whose source cannot be read"]
    module = getattr(fn, "__module__", None)
    todo, done = [fn.__name__], set()
    while todo:
        name = todo.pop()
        if name in done or name not in defs or name in allowed:
            continue
        done.add(name)
        for called in _called_names(defs[name]):
            other = getattr(fn, "__globals__", {}).get(called)
            if called not in defs and isinstance(other, types.FunctionType) and other.__module__ == module:
                try:
                    defs.update({k: v for k, v in function_defs(inspect.getsource(other)).items() if k == called})
                except (OSError, TypeError):
                    continue
                todo.append(called)
    return find_loops(defs, fn.__name__, allowed)
