"""softmax and log_softmax along any axis, and their backward passes (NumPy arrays in and out).

``x`` is float32 or float64 of any shape and layout; the result has x's shape and dtype. The
max-shifted form keeps large inputs finite: ``softmax([1000, 0]) == [1, 0]``. A slice that is all
``-inf`` gives NaN (like torch: there is no defined distribution); an empty axis gives an empty
result. The backward passes take the forward *output* ``y``:
softmax: ``dx = y * (dy - sum(dy * y))``; log_softmax: ``dx = dy - exp(y) * sum(dy)``.

Example:
    >>> import numpy as np, nervo.ops as ops
    >>> ops.softmax(np.array([[0.0, 0.0]], np.float32))
    array([[0.5, 0.5]], dtype=float32)
"""
from __future__ import annotations

import numpy as np

from nervo.backend import K
from nervo.ops._check import float_array, output, same_shape

__all__ = ["softmax", "log_softmax", "softmax_backward", "log_softmax_backward"]


def _view(shape, dim, call):
    """(outer, C, inner) of ``shape`` around axis ``dim`` (0-d arrays count as shape (1,))."""
    nd = len(shape)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{call}: dim must be an int, got {type(dim).__name__}")
    d = int(dim)
    if nd == 0:
        if d not in (0, -1):
            raise ValueError(f"{call}: dim {d} is out of range for a 0-d array")
        return 1, 1, 1
    if not -nd <= d < nd:
        raise ValueError(f"{call}: dim {d} is out of range for an array with {nd} dimensions "
                         f"(shape {tuple(shape)})")
    d %= nd
    outer = 1
    for s in shape[:d]:
        outer *= s
    inner = 1
    for s in shape[d + 1:]:
        inner *= s
    return outer, shape[d], inner


def _fwd(x, dim, out, log, name):
    call = f"nervo.ops.{name}"
    x = float_array(x, call, "x")
    outer, c, inner = _view(x.shape, dim, call)
    out = output(out, x.shape, x.dtype, call, x)
    K["softmax_forward"](x, out, outer, c, inner, log)
    return out


def _bwd(dy, y, dim, out, log, name):
    call = f"nervo.ops.{name}_backward"
    dy = float_array(dy, call, "dy")
    y = float_array(y, call, "y", dy.dtype)
    same_shape(dy, y, call, "dy", "y")
    outer, c, inner = _view(dy.shape, dim, call)
    out = output(out, dy.shape, dy.dtype, call, dy)
    K["softmax_backward"](y, dy, out, outer, c, inner, log)
    return out


def softmax(x, dim=-1, out=None):
    """exp(x - max) / sum(exp(x - max)) along ``dim``.

    Args:
        x: float32/float64 array. dim: the axis (negative counts from the end).
        out: optional C-contiguous output (may be x itself).
    Returns: array shaped like x. Raises: TypeError (dtype), ValueError (dim, out).
    """
    return _fwd(x, dim, out, False, "softmax")


def log_softmax(x, dim=-1, out=None):
    """x - max - log(sum(exp(x - max))) along ``dim`` (finite for any finite x)."""
    return _fwd(x, dim, out, True, "log_softmax")


def softmax_backward(dy, y, dim=-1, out=None):
    """Gradient of softmax from its output y: y * (dy - sum(dy * y, dim))."""
    return _bwd(dy, y, dim, out, False, "softmax")


def log_softmax_backward(dy, y, dim=-1, out=None):
    """Gradient of log_softmax from its output y: dy - exp(y) * sum(dy, dim)."""
    return _bwd(dy, y, dim, out, True, "log_softmax")
