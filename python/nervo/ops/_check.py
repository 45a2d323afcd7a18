"""Argument checks shared by every nervo.ops function.

Each check is cheap (a few attribute reads) because ops sit on hot paths. Messages name the call,
the argument, what was expected and what was given.
"""
from __future__ import annotations

import numpy as np

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
FLOATS = (F32, F64)


def fmt_shape(shape) -> str:
    return str(tuple(int(s) for s in shape))


def float_array(x, call: str, arg: str, dtype=None) -> np.ndarray:
    """``x`` as a C-contiguous float32/float64 ndarray (inputs only: copies a strided view).

    ``dtype``, when given, is the dtype the other arrays of the call have.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{call}: {arg} must be a numpy.ndarray of float32 or float64, "
                        f"got {type(x).__name__}")
    dt = x.dtype
    if dt is not F32 and dt is not F64 and dt not in FLOATS:
        raise TypeError(f"{call}: {arg} must be float32 or float64 (native byte order), got {dt}")
    if dtype is not None and dt != dtype:
        raise TypeError(f"{call}: {arg} has dtype {dt} but the other arguments are {dtype}")
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    return x


def output(out, shape, dtype, call: str, *inputs) -> np.ndarray:
    """Allocate the output, or check a caller's ``out=``: exact shape and dtype, C-contiguous,
    writable, and not partially overlapping an input (an exact alias is allowed only where the
    caller passes it in ``inputs`` as elementwise-safe)."""
    if out is None:
        return np.empty(shape, dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{call}: out must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{call}: out has dtype {out.dtype}, expected {dtype} (out= is never cast)")
    if out.shape != tuple(shape):
        raise ValueError(f"{call}: out has shape {fmt_shape(out.shape)}, expected {fmt_shape(shape)}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{call}: out must be C-contiguous (got strides {out.strides})")
    if not out.flags.writeable:
        raise ValueError(f"{call}: out is read-only")
    for x in inputs:
        if x is not out and np.may_share_memory(x, out):
            same = (x.__array_interface__["data"][0] == out.__array_interface__["data"][0]
                    and x.strides == out.strides and x.shape == out.shape)
            if not same:
                raise ValueError(f"{call}: out partially overlaps an input; pass a separate array")
    return out


def same_shape(a: np.ndarray, b: np.ndarray, call: str, arg_a: str, arg_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{call}: {arg_a} has shape {fmt_shape(a.shape)} but {arg_b} has shape "
                         f"{fmt_shape(b.shape)}; they must match")


def real(value, call: str, arg: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{call}: {arg} must be a real number, got {type(value).__name__}")
    return float(value)
