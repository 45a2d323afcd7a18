"""Inverted dropout from a counter-based RNG (NumPy arrays in and out).

Element ``i`` of a call is kept with probability ``1 - p``, decided by Philox4x32-10 keyed by
``seed`` at the global element index ``offset + i`` (csrc/ops/dropout/dropout.h). Kept elements
are scaled by ``1 / (1 - p)``. The mask is never stored: ``dropout_backward`` with the same
``(p, seed, offset)`` regenerates it. Results are bitwise identical for any thread count and on
both backends. A layer calling dropout repeatedly with one seed advances ``offset`` by ``x.size``
per call (or draws a fresh seed) so successive masks are independent.

Example:
    >>> import numpy as np, nervo.ops as ops
    >>> y = ops.dropout(np.ones(8, np.float32), 0.5, seed=1)
    >>> sorted(set(y.tolist())) in ([0.0, 2.0], [0.0], [2.0])
    True
"""
from __future__ import annotations

import numpy as np

from nervo.backend import K
from nervo.ops._check import float_array, output, real

__all__ = ["dropout", "dropout_backward", "dropout_mask"]

_U64 = 1 << 64


def _args(p, seed, offset, call):
    p = real(p, call, "p")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{call}: p must be in [0, 1), got {p!r}")
    for name, v in (("seed", seed), ("offset", offset)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{call}: {name} must be an int, got {type(v).__name__}")
        if not 0 <= int(v) < _U64:
            raise ValueError(f"{call}: {name} must be in [0, 2**64), got {v!r}")
    return p, int(seed), int(offset)


def dropout(x, p=0.5, *, seed, offset=0, out=None):
    """x * keep / (1 - p) with keep ~ Bernoulli(1 - p) from (seed, offset + index).

    Args:
        x: float32/float64 array. p: drop probability in [0, 1).
        seed, offset: ints in [0, 2**64). out: optional output (may be x).
    Raises: ValueError (p outside [0, 1)), TypeError (dtype, seed type).
    """
    call = "nervo.ops.dropout"
    p, seed, offset = _args(p, seed, offset, call)
    x = float_array(x, call, "x")
    out = output(out, x.shape, x.dtype, call, x)
    K["dropout_apply"](x, out, p, seed, offset)
    return out


def dropout_backward(dy, p=0.5, *, seed, offset=0, out=None):
    """dy * keep / (1 - p) with the forward's mask (same p, seed and offset)."""
    call = "nervo.ops.dropout_backward"
    p, seed, offset = _args(p, seed, offset, call)
    dy = float_array(dy, call, "dy")
    out = output(out, dy.shape, dy.dtype, call, dy)
    K["dropout_apply"](dy, out, p, seed, offset)
    return out


def dropout_mask(shape, p=0.5, *, seed, offset=0):
    """The boolean keep mask dropout(x, p, seed=seed, offset=offset) applies to an x of ``shape``."""
    call = "nervo.ops.dropout_mask"
    p, seed, offset = _args(p, seed, offset, call)
    ones = np.ones(shape, np.float32)
    K["dropout_apply"](ones, ones, p, seed, offset)
    return ones != 0
