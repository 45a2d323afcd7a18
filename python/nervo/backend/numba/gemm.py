"""Numba GEMM kernel (mirrors csrc/ops/gemm): gemm(a, b, out, trans_a, trans_b, alpha, beta, bias,
act). The product is NumPy's matmul (OpenBLAS) into a temporary, so a and b may overlap out;
alpha/beta, bias and the activation are one numba pass over the output. Activation ids match csrc/ops/gemm/gemm.h; shapes as in csrc/bind/bind_gemm.cpp
(2-D, or 3-D with a broadcastable batch)."""
import math

import numpy as np
from numba import njit, prange

_INV_SQRT2 = 0.70710678118654752


@njit(inline="always")
def _act(v, act):
    if act == 1:
        return 0.0 if v < 0 else v  # NaN passes through
    if act == 2:
        return 0.5 * v * (1.0 + math.erf(v * _INV_SQRT2))
    if act == 3:
        if v >= 0:
            return 1.0 / (1.0 + math.exp(-v))
        z = math.exp(v)
        return z / (1.0 + z)
    if act == 4:
        return math.tanh(v)
    return v


@njit(parallel=True, nogil=True)
def _epilogue(p, out, alpha, beta, bias, has_bias, act):
    # p, out: (B, M, N); out = act(alpha * p + beta * out + bias); beta == 0 ignores out.
    nb, m, n = out.shape
    for r in prange(nb * m):
        bi = r // m
        i = r - bi * m
        for j in range(n):
            v = alpha * p[bi, i, j]
            if beta != 0.0:
                v += beta * out[bi, i, j]
            if has_bias:
                v += bias[j]
            out[bi, i, j] = _act(v, act)


def gemm(a, b, out, trans_a, trans_b, alpha, beta, bias, act):
    opa = np.swapaxes(a, -1, -2) if trans_a else a
    opb = np.swapaxes(b, -1, -2) if trans_b else b
    if out.size == 0:
        return
    if opa.shape[-1] == 0:  # NumPy's matmul gives zeros; keep the dtype exact
        p = np.zeros(out.shape, out.dtype)
    else:
        p = np.matmul(opa, opb)
    p3 = p.reshape((-1,) + p.shape[-2:]) if p.ndim == 3 else p[None]
    o3 = out if out.ndim == 3 else out[None]
    has_bias = bias is not None
    if has_bias and np.may_share_memory(bias, out):  # the epilogue writes out while reading bias
        bias = bias.copy()
    bias_arr = bias if has_bias else np.zeros(1, out.dtype)
    _epilogue(p3, o3, out.dtype.type(alpha), out.dtype.type(beta), bias_arr, has_bias, int(act))


KERNELS = {"gemm": gemm}
