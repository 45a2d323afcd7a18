"""Numba dropout (mirror csrc/ops/dropout): the same Philox4x32-10 stream, so masks are bitwise
identical to the native backend's. All RNG arithmetic stays in uint64 (numba would turn a
uint64/int64 mix into float64)."""
import numpy as np
from numba import njit, prange

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_CHUNK = 16384


@njit(inline="always")
def _philox(c0, c1, k0, k1):
    c2 = np.uint64(0)
    c3 = np.uint64(0)
    for r in range(10):
        if r:
            k0 = (k0 + _W0) & _MASK
            k1 = (k1 + _W1) & _MASK
        p0 = _M0 * c0
        p1 = _M1 * c2
        n0 = (p1 >> _S32) ^ c1 ^ k0
        n2 = (p0 >> _S32) ^ c3 ^ k1
        c0 = n0
        c1 = p1 & _MASK
        c2 = n2
        c3 = p0 & _MASK
    return c0, c1, c2, c3


@njit(parallel=True, nogil=True, cache=True)
def _apply(x, y, thr, scale, seed, offset):
    n = x.size
    k0 = seed & _MASK
    k1 = seed >> _S32
    nchunks = (n + _CHUNK - 1) // _CHUNK
    for c in prange(nchunks):
        lo = c * _CHUNK
        hi = min(n, lo + _CHUNK)
        for i in range(lo, hi):
            e = offset + np.uint64(i)
            block = e >> np.uint64(2)
            r = _philox(block & _MASK, block >> _S32, k0, k1)
            lane = e & np.uint64(3)
            u = r[0] if lane == 0 else (r[1] if lane == 1 else (r[2] if lane == 2 else r[3]))
            if u >= thr:
                y[i] = x[i] * scale
            else:
                y[i] = 0


def _threshold(p):
    t = p * 4294967296.0
    return 1 << 32 if t >= 4294967296.0 else int(t + 0.5)


def dropout_apply(x, out, p, seed, offset):
    if not 0.0 <= p < 1.0:
        raise ValueError(f"nervo.ops.dropout: p must be in [0, 1), got {p}")
    if x.size == 0:
        return
    scale = x.dtype.type(1.0 / (1.0 - p))
    _apply(x.reshape(-1), out.reshape(-1), np.uint64(_threshold(p)), scale, np.uint64(seed),
           np.uint64(offset))


KERNELS = {"dropout_apply": dropout_apply}
