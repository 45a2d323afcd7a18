"""Matrix multiply: ``gemm`` (BLAS-style, with a fused bias + activation epilogue) and ``matmul``
(NumPy's batched semantics). NumPy arrays in and out, float32 or float64.

Sizes: ``op(a)`` is M x K, ``op(b)`` is K x N, the output is M x N (``op(x)`` is ``x`` or ``x.T``).
Inputs may have any layout (row-major, column-major, sliced with steps, negative strides) and are
read in place, without a copy. Outputs are row-major.

Example:
    >>> import numpy as np, nervo.ops as ops
    >>> a = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    >>> ops.gemm(a, np.eye(2, dtype=np.float32), bias=np.array([0.5, -9.0], np.float32), activation="relu")
    array([[1.5, 0. ],
           [3.5, 0. ]], dtype=float32)
    >>> ops.matmul(np.ones((3, 2, 4), np.float32), np.ones((4, 5), np.float32)).shape
    (3, 2, 5)
"""
from __future__ import annotations

import numpy as np

from nervo.backend import K
from nervo.ops._check import F32, F64, fmt_shape, real

__all__ = ["gemm", "matmul", "peak_gflops", "ACTIVATIONS"]

# Activation ids of csrc/ops/gemm/gemm.h (enum class Act).
ACTIVATIONS = {None: 0, "relu": 1, "gelu": 2, "sigmoid": 3, "tanh": 4}


def _matrix(x, call: str, arg: str, ndims, dtype=None) -> np.ndarray:
    """``x`` as a float32/float64 array with ndim in ``ndims``, read in place (no copy) unless a
    stride is not a whole number of elements."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{call}: {arg} must be a numpy.ndarray of float32 or float64, "
                        f"got {type(x).__name__}")
    dt = x.dtype
    if dt is not F32 and dt is not F64 and dt not in (F32, F64):
        raise TypeError(f"{call}: {arg} must be float32 or float64 (native byte order), got {dt}")
    if dtype is not None and dt != dtype:
        raise TypeError(f"{call}: {arg} has dtype {dt} but the other arguments are {dtype}")
    if x.ndim not in ndims:
        want = " or ".join(f"{n}-D" for n in ndims)
        raise ValueError(f"{call}: {arg} must be {want}, got {x.ndim}-D array of shape "
                         f"{fmt_shape(x.shape)}")
    if not x.flags.aligned or any(s % x.itemsize for s in x.strides):
        # A view that starts between elements (e.g. a float32 view one byte into a buffer) is
        # copied too: the kernels load elements as T, which C++ requires to be aligned (UBSan
        # flagged the generic kernel's loads in .ci/sanitize).
        x = x.copy()
    return x


def _activation_id(activation, call: str) -> int:
    try:
        return ACTIVATIONS[activation]
    except (KeyError, TypeError):
        names = ", ".join(repr(k) for k in ACTIVATIONS)
        raise ValueError(f"{call}: activation must be one of {names}; got {activation!r}") from None


def _check_out(out, shape, dtype, call: str) -> np.ndarray:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{call}: out must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{call}: out has dtype {out.dtype}, expected {dtype} (out= is never cast)")
    if out.shape != tuple(shape):
        raise ValueError(f"{call}: out has shape {fmt_shape(out.shape)}, expected {fmt_shape(shape)}")
    if not out.flags.writeable:
        raise ValueError(f"{call}: out is read-only")
    if not out.flags.aligned:
        raise ValueError(f"{call}: out must be aligned to its {out.itemsize}-byte elements (it starts "
                         f"between two elements; pass a freshly allocated array)")
    if out.size == 0:
        return out
    item = out.itemsize
    s = out.strides
    ok = all(st % item == 0 for st in s)
    if ok and shape[-1] > 1:
        ok = s[-1] == item
    if ok and len(shape) >= 2 and shape[-2] > 1:
        ok = s[-2] >= shape[-1] * item
    if ok and len(shape) == 3 and shape[0] > 1:
        ok = s[0] >= (shape[1] * s[1] if shape[1] > 1 else shape[2] * item)
    if not ok:
        raise ValueError(f"{call}: out must be row-major with unit column stride (e.g. C-contiguous), "
                         f"got strides {out.strides}")
    return out


def gemm(a, b, out=None, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, bias=None,
         activation=None) -> np.ndarray:
    """out = act(alpha * op(a) @ op(b) + beta * out + bias), in one pass over the output.

    Args:
        a, b: 2-D float32 or float64 arrays of the same dtype, any strides.
        out: optional (M, N) output, row-major with unit column stride (C-contiguous or a row
            slice of a larger array). Required when ``beta != 0``. With ``beta == 0`` whatever it
            held is ignored, even NaN.
        trans_a, trans_b: use ``a.T`` / ``b.T`` (no copy is made).
        alpha, beta: real scalars.
        bias: optional length-N vector added to every row (after alpha/beta).
        activation: None, "relu", "gelu" (exact, erf), "sigmoid" or "tanh", applied last.

    Shape:
        op(a): (M, K), op(b): (K, N), out: (M, N).

    Returns:
        ``out`` (a new array when out is None).

    Raises:
        TypeError: non-array input, dtype other than float32/float64, mixed dtypes.
        ValueError: not 2-D, inner dimensions differ, wrong out/bias shape, read-only out,
            unknown activation, ``beta != 0`` without ``out``.

    Example:
        >>> import numpy as np, nervo.ops as ops
        >>> x = np.ones((2, 3), np.float32); w = np.full((4, 3), 0.5, np.float32)
        >>> ops.gemm(x, w, trans_b=True)  # a Linear layer: x @ w.T
        array([[1.5, 1.5, 1.5, 1.5],
               [1.5, 1.5, 1.5, 1.5]], dtype=float32)
    """
    call = "nervo.ops.gemm"
    # Fast path for the common case (a few attribute reads); anything unusual takes the full
    # checks, which raise the precise errors.
    if (type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == 2 and b.ndim == 2
            and ((dt := a.dtype) is F32 or dt is F64) and b.dtype is dt
            and a.flags.aligned and b.flags.aligned):
        pass
    else:
        a = _matrix(a, call, "a", (2,))
        b = _matrix(b, call, "b", (2,), a.dtype)
        dt = a.dtype
    if type(alpha) is not float:
        alpha = real(alpha, call, "alpha")
    if type(beta) is not float:
        beta = real(beta, call, "beta")
    act = ACTIVATIONS.get(activation, -1) if (activation is None or type(activation) is str) else -1
    if act < 0:
        _activation_id(activation, call)
    m, ka = (a.shape[1], a.shape[0]) if trans_a else a.shape
    kb, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if ka != kb:
        raise ValueError(f"{call}: inner dimensions differ: op(a) is {m}x{ka} but op(b) is {kb}x{n} "
                         f"(a.shape={fmt_shape(a.shape)}, trans_a={bool(trans_a)}, "
                         f"b.shape={fmt_shape(b.shape)}, trans_b={bool(trans_b)})")
    if bias is not None:
        if not (type(bias) is np.ndarray and bias.dtype is dt and bias.ndim == 1
                and bias.flags.c_contiguous):
            bias = _matrix(bias, call, "bias", (1,), dt)
            if not bias.flags.c_contiguous:
                bias = np.ascontiguousarray(bias)
        if bias.shape[0] != n:
            raise ValueError(f"{call}: bias has shape {fmt_shape(bias.shape)}, expected ({n},)")
    if out is None:
        if beta != 0.0:
            raise ValueError(f"{call}: beta={beta} scales out, but no out was given")
        out = np.empty((m, n), dt)
    else:
        f = out.flags if type(out) is np.ndarray else None
        if not (f is not None and f.c_contiguous and f.writeable and out.dtype is dt
                and out.shape == (m, n)):
            out = _check_out(out, (m, n), dt, call)
        # An input overlapping out is copied by the kernel before out is written.
    K["gemm"](a, b, out, bool(trans_a), bool(trans_b), alpha, beta, bias, act)
    return out


def matmul(a, b, out=None) -> np.ndarray:
    """a @ b with NumPy's semantics for 1-D, 2-D and 3-D arrays (the batch dimension broadcasts).

    Args:
        a, b: float32 or float64 arrays (same dtype), 1-D to 3-D, any strides.
        out: optional output of the result's shape, row-major with unit column stride.

    Shape:
        (M, K) @ (K, N) -> (M, N); (B, M, K) @ (K, N) -> (B, M, N); (M, K) @ (B, K, N) ->
        (B, M, N); (B, M, K) @ (B or 1, K, N) -> (B, M, N); a 1-D operand is a row (a) or column
        (b) vector whose dimension is dropped from the result, as in NumPy.

    Raises:
        TypeError / ValueError: as for :func:`gemm`; batch sizes that do not broadcast.

    Example:
        >>> import numpy as np, nervo.ops as ops
        >>> ops.matmul(np.ones((2, 3, 4), np.float32), np.ones((1, 4, 2), np.float32))[0]
        array([[4., 4.],
               [4., 4.],
               [4., 4.]], dtype=float32)
    """
    call = "nervo.ops.matmul"
    if not (type(a) is np.ndarray and type(b) is np.ndarray and 1 <= a.ndim <= 3
            and 1 <= b.ndim <= 3 and ((dt := a.dtype) is F32 or dt is F64) and b.dtype is dt
            and a.flags.aligned and b.flags.aligned):
        a = _matrix(a, call, "a", (1, 2, 3))
        b = _matrix(b, call, "b", (1, 2, 3), a.dtype)
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(f"{call}: inner dimensions differ: a.shape={fmt_shape(a.shape)}, "
                         f"b.shape={fmt_shape(b.shape)}")
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    ba = a2.shape[0] if a2.ndim == 3 else 1
    bb = b2.shape[0] if b2.ndim == 3 else 1
    if ba != bb and ba != 1 and bb != 1:
        raise ValueError(f"{call}: batch sizes {ba} and {bb} do not broadcast "
                         f"(a.shape={fmt_shape(a.shape)}, b.shape={fmt_shape(b.shape)})")
    m, n = a2.shape[-2], b2.shape[-1]
    batched = a2.ndim == 3 or b2.ndim == 3
    full = (bb if ba == 1 else ba, m, n) if batched else (m, n)
    shape = [*full]
    if b.ndim == 1:
        del shape[-1]
    if a.ndim == 1:
        del shape[-2 if b.ndim > 1 else -1]
    if out is None:
        out = np.empty(shape, a.dtype)
    else:
        out = _check_out(out, shape, a.dtype, call) if len(shape) >= 2 else out
        if len(shape) < 2:
            if not isinstance(out, np.ndarray) or out.dtype != a.dtype or out.shape != tuple(shape):
                raise ValueError(f"{call}: out must be a {a.dtype} array of shape {fmt_shape(shape)}")
            if not out.flags.writeable:
                raise ValueError(f"{call}: out is read-only")
    if out.size == 0:
        return out
    out_full = out
    if out.ndim != len(full):
        out_full = out.reshape(full)
        if not np.shares_memory(out_full, out):
            raise ValueError(f"{call}: out cannot be viewed as {fmt_shape(full)} without a copy")
    # Batched (B, M, K) @ (K, N) with a row-major a: one GEMM of B*M rows is faster than B small ones.
    if a2.ndim == 3 and b2.ndim == 2 and a2.flags.c_contiguous and out_full.flags.c_contiguous:
        K["gemm"](a2.reshape(-1, a2.shape[-1]), b2, out_full.reshape(-1, n), False, False, 1.0, 0.0,
                  None, 0)
    else:
        K["gemm"](a2, b2, out_full, False, False, 1.0, 0.0, None, 0)
    return out


def peak_gflops(threads: int = 1, seconds: float = 0.2) -> float:
    """Measured FP32 FMA throughput in GFLOP/s on ``threads`` threads (register-resident FMAs at
    the ISA level the native kernels run at); the yardstick for GEMM efficiency. Each thread is
    timed by its own CPU time, so other processes sharing the machine do not lower the figure.

    Raises:
        ImportError: the native extension is not available (the numba backend has no equivalent).
        ValueError: threads < 1 or seconds <= 0.
    """
    from nervo.backend import native_module
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"nervo.ops.peak_gflops: threads must be a positive int, got {threads!r}")
    seconds = real(seconds, "nervo.ops.peak_gflops", "seconds")
    if seconds <= 0:
        raise ValueError(f"nervo.ops.peak_gflops: seconds must be > 0, got {seconds}")
    return float(native_module().peak_gflops(threads, seconds))
