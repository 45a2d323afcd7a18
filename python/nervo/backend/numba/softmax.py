"""Numba softmax kernels (mirror csrc/ops/softmax): softmax_forward / softmax_backward over an
(outer, C, inner) view of contiguous arrays."""
import math

import numpy as np
from numba import njit, prange


@njit(parallel=True, nogil=True, cache=True)
def _forward(x, y, outer, C, inner, log):
    for t in prange(outer * inner):
        o = t // inner
        j = t % inner
        base = o * C * inner + j
        m = -np.inf
        for c in range(C):
            v = x[base + c * inner]
            if v > m:
                m = v
        s = 0.0
        for c in range(C):
            e = math.exp(x[base + c * inner] - m)
            if not log:
                y[base + c * inner] = e
            s += e
        if log:
            lz = math.log(s)
            for c in range(C):
                y[base + c * inner] = (x[base + c * inner] - m) - lz
        else:
            inv = 1.0 / s
            for c in range(C):
                y[base + c * inner] = y[base + c * inner] * inv


@njit(parallel=True, nogil=True, cache=True)
def _backward(y, dy, dx, outer, C, inner, log):
    for t in prange(outer * inner):
        o = t // inner
        j = t % inner
        base = o * C * inner + j
        s = 0.0
        for c in range(C):
            k = base + c * inner
            s += dy[k] if log else dy[k] * y[k]
        for c in range(C):
            k = base + c * inner
            if log:
                dx[k] = dy[k] - math.exp(y[k]) * s
            else:
                dx[k] = y[k] * (dy[k] - s)


def softmax_forward(x, out, outer, C, inner, log):
    if outer * C * inner:
        _forward(x.reshape(-1), out.reshape(-1), outer, C, inner, bool(log))


def softmax_backward(y, dy, dx, outer, C, inner, log):
    if outer * C * inner:
        _backward(y.reshape(-1), dy.reshape(-1), dx.reshape(-1), outer, C, inner, bool(log))


KERNELS = {"softmax_forward": softmax_forward, "softmax_backward": softmax_backward}
