"""Numerical gradients: the slow, simple truth that analytic gradients are checked against.

Central differences approximate a derivative from two evaluations of the function,

    df/dx_i  ~  (f(x + h e_i) - f(x - h e_i)) / (2 h),

with an error of order h**2.

The course's one rule for reading a gradient check (every notebook uses it):

- Work in float64 with h = 1e-5, and compare with ``relative_error(analytic, numeric)``,
  the worst entry of |a - n| / max(1e-8, |a| + |n|).
- 1e-7 or less: the gradients agree (a smooth function typically gives about 1e-10).
- between 1e-7 and 1e-4: look closer. It is still right if the worst entries sit at a kink
  (ReLU at 0, a hinge margin at 0, a max with ties) or have a gradient so close to 0 that the
  round-off of the numerical gradient, about 1e-16 |f| / h, is not small against it.
- above 1e-4: a bug.
- In float32 the round-off is about 1e-7 |f| / h, a billion times larger: never check in float32.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

__all__ = ["layer_gradient_errors", "numerical_gradient", "numerical_gradient_array", "relative_error"]


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Gradient of a scalar function ``f`` at ``x`` by central differences.

    f: maps an array shaped like x to a float (it may read ``x`` directly: each
       entry of ``x`` is nudged in place and restored before returning).
    x: array of any shape (use float64).
    returns: array shaped like x, entry i is approximately df/dx_i.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"x must be a floating-point array, got dtype {x.dtype}")
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        old = x[index]
        x[index] = old + h
        f_plus = float(f(x))
        x[index] = old - h
        f_minus = float(f(x))
        x[index] = old
        grad[index] = (f_plus - f_minus) / (2 * h)
    return grad


def numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, df: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Gradient of ``sum(df * f(x))`` with respect to ``x``: what a layer's backward pass returns.

    f:  maps an array shaped like x to an array (a layer's forward pass).
    x:  the input (any shape, float64); nudged in place and restored.
    df: upstream gradient, shaped like f(x).
    returns: array shaped like x.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"x must be a floating-point array, got dtype {x.dtype}")
    df = np.asarray(df)
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        old = x[index]
        x[index] = old + h
        f_plus = np.array(f(x), dtype=np.float64, copy=True)
        x[index] = old - h
        f_minus = np.array(f(x), dtype=np.float64, copy=True)
        x[index] = old
        grad[index] = np.sum((f_plus - f_minus) * df) / (2 * h)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """``max |a - b| / max(1e-8, |a| + |b|)`` over all entries (0 for identical arrays).

    Below ~1e-7 in float64: the gradients agree. Above ~1e-3: almost surely a bug.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def layer_gradient_errors(
    forward: Callable[..., tuple], backward: Callable[..., object], inputs: Sequence[np.ndarray],
    dout: np.ndarray | None = None, h: float = 1e-5, seed: int = 0,
) -> list[float]:
    """Check a layer's backward pass against numerical gradients, one relative error per input.

    forward:  ``forward(*inputs) -> (out, cache)`` (the course's layer API)
    backward: ``backward(dout, cache) -> grad`` or a tuple of grads, one per input, in order
    inputs:   float64 arrays; each is nudged in place and restored
    dout:     upstream gradient shaped like ``out`` (default: standard normal, from ``seed``)
    returns:  ``[relative_error(analytic_i, numerical_i) for each input i]``

    >>> errors = layer_gradient_errors(affine_forward, affine_backward, [x, w, b])
    """
    inputs = list(inputs)
    out, cache = forward(*inputs)
    if dout is None:
        dout = np.random.default_rng(seed).standard_normal(np.shape(out))
    grads = backward(dout, cache)
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) != len(inputs):
        raise ValueError(f"backward returned {len(grads)} gradients for {len(inputs)} inputs")
    errors = []
    for i, x in enumerate(inputs):
        def forward_in_x(value, i=i):
            args = list(inputs)
            args[i] = value
            return forward(*args)[0]

        errors.append(relative_error(grads[i], numerical_gradient_array(forward_in_x, x, dout, h)))
    return errors
