"""Numba embedding kernels (mirror csrc/ops/embed): row gather and a column-split scatter-add
(each column slice walks the indices in order: deterministic, no atomics)."""
import numpy as np
from numba import njit, prange


@njit(nogil=True, cache=True)
def _first_bad(idx, V):
    for i in range(idx.size):
        if idx[i] < 0 or idx[i] >= V:
            return i
    return -1


def _check(idx, V, call):
    bad = _first_bad(idx, V)
    if bad >= 0:
        raise IndexError(f"{call}: index {int(idx[bad])} at position {bad} is out of range for "
                         f"{V} embeddings")


@njit(parallel=True, nogil=True, cache=True)
def _forward(w, idx, out):
    for i in prange(idx.size):
        out[i, :] = w[idx[i], :]


@njit(parallel=True, nogil=True, cache=True)
def _backward(dout, idx, dw, pad, accumulate):
    V, D = dw.shape
    if not accumulate:
        for v in prange(V):
            dw[v, :] = 0
    bw = 64
    nblk = (D + bw - 1) // bw
    for b in prange(nblk):
        c0 = b * bw
        c1 = min(D, c0 + bw)
        for i in range(idx.size):
            v = idx[i]
            if v == pad:
                continue
            for c in range(c0, c1):
                dw[v, c] += dout[i, c]


def embedding_forward(weight, idx, out):
    V, D = weight.shape
    _check(idx, V, "nervo.ops.embedding")
    if idx.size and D:
        _forward(weight, idx, out.reshape(idx.size, D))


def embedding_backward(dout, idx, dweight, padding_idx, accumulate):
    V, D = dweight.shape
    _check(idx, V, "nervo.ops.embedding_backward")
    if V * D == 0:
        return
    _backward(dout.reshape(idx.size, D), idx, dweight, padding_idx, bool(accumulate))


KERNELS = {"embedding_forward": embedding_forward, "embedding_backward": embedding_backward}
