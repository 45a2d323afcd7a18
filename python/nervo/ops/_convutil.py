"""Hyper-parameter parsing shared by nervo.ops.conv and nervo.ops.pool (ints or pairs, range and
overflow checks, output sizes) so both families give the same errors."""
from __future__ import annotations

import numpy as np

# Every size and hyper-parameter must stay below this: the kernels compute offsets in int64, and
# products of two such values cannot overflow.
LIMIT = 2 ** 31


def as_int(v, call: str, arg: str) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{call}: {arg} must be an int or a tuple of ints, got {v!r}")
    v = int(v)
    if abs(v) >= LIMIT:
        raise ValueError(f"{call}: {arg}={v} is out of range (|value| < 2**31)")
    return v


def ntuple(v, n: int, call: str, arg: str, minimum: int) -> tuple:
    """``v`` (an int or a sequence of n ints) as an n-tuple of ints >= minimum."""
    if isinstance(v, (tuple, list)):
        if len(v) != n:
            raise ValueError(f"{call}: {arg} must be an int or a sequence of {n} ints, got {v!r}")
        out = tuple(as_int(e, call, arg) for e in v)
    else:
        out = (as_int(v, call, arg),) * n
    if any(e < minimum for e in out):
        raise ValueError(f"{call}: {arg} must be >= {minimum}, got {v!r}")
    return out


def check_numel(shape, call: str) -> None:
    n = 1
    for s in shape:
        n *= int(s)
    if n >= 2 ** 62:
        raise ValueError(f"{call}: output shape {tuple(shape)} is too large")
