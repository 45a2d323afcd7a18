"""Numba scaled-dot-product attention (mirror csrc/ops/attn): attn_forward / attn_backward with the
native signatures. One query row at a time (a row of scores, never the whole matrix), parallel over
(batch, head). Dropout uses the same counter-based hash as csrc/ops/attn/attn.h."""
import math

import numpy as np
from numba import njit, prange, uint64

_M1 = uint64(0xbf58476d1ce4e5b9)
_M2 = uint64(0x94d049bb133111eb)
_GOLD = uint64(0x9e3779b97f4a7c15)


@njit(inline="always")
def _dropped(seed, idx, thr):
    z = seed + idx * _GOLD
    z = (z ^ (z >> uint64(30))) * _M1
    z = (z ^ (z >> uint64(27))) * _M2
    z = z ^ (z >> uint64(31))
    return (z >> uint64(40)) < thr


@njit(inline="always")
def _scores(q, k, mask, causal, scale, bb, nn, i, row):
    S = k.shape[2]
    mb = bb if mask.shape[0] > 1 else 0
    mn = nn if mask.shape[1] > 1 else 0
    mi = i if mask.shape[2] > 1 else 0
    for j in range(S):
        s = 0.0
        for e in range(q.shape[3]):
            s += q[bb, nn, i, e] * k[bb, nn, j, e]
        s *= scale
        s += mask[mb, mn, mi, j if mask.shape[3] > 1 else 0]
        if causal and j > i:
            s = -np.inf
        row[j] = s


@njit(parallel=True, cache=True)
def _forward(q, k, v, mask, causal, scale, p, seed, out, lse):
    B, N, L, _ = q.shape
    S = k.shape[2]
    Ev = v.shape[3]
    thr = uint64(int(p * 16777216.0))
    ks = 1.0 / (1.0 - p)
    for bn in prange(B * N):
        bb, nn = bn // N, bn % N
        row = np.empty(S, q.dtype)
        for i in range(L):
            _scores(q, k, mask, causal, scale, bb, nn, i, row)
            m = -np.inf
            for j in range(S):
                if row[j] > m or row[j] != row[j]:
                    m = row[j]
            if m == -np.inf or S == 0:
                out[bb, nn, i, :] = 0.0
                lse[bb, nn, i] = np.inf
                continue
            tot = 0.0
            for j in range(S):
                row[j] = math.exp(row[j] - m)
                tot += row[j]
            if p > 0:
                base = uint64(((bn * L) + i) * S)
                for j in range(S):
                    row[j] = 0.0 if _dropped(uint64(seed), base + uint64(j), thr) else row[j] * ks
            for e in range(Ev):
                acc = 0.0
                for j in range(S):
                    acc += row[j] * v[bb, nn, j, e]
                out[bb, nn, i, e] = acc / tot
            lse[bb, nn, i] = m + math.log(tot)


@njit(parallel=True, cache=True)
def _backward(q, k, v, mask, causal, scale, p, seed, out, lse, dout, dq, dk, dv):
    B, N, L, E = q.shape
    S = k.shape[2]
    Ev = v.shape[3]
    thr = uint64(int(p * 16777216.0))
    ks = 1.0 / (1.0 - p)
    for bn in prange(B * N):
        bb, nn = bn // N, bn % N
        row = np.empty(S, q.dtype)
        dk[bb, nn] = 0.0
        dv[bb, nn] = 0.0
        for i in range(L):
            _scores(q, k, mask, causal, scale, bb, nn, i, row)
            d = 0.0
            for e in range(Ev):
                d += dout[bb, nn, i, e] * out[bb, nn, i, e]
            base = uint64(((bn * L) + i) * S)
            for e in range(E):
                dq[bb, nn, i, e] = 0.0
            for j in range(S):
                pj = math.exp(row[j] - lse[bb, nn, i])
                kf = 1.0
                if p > 0:
                    kf = 0.0 if _dropped(uint64(seed), base + uint64(j), thr) else ks
                dpj = 0.0
                for e in range(Ev):
                    dpj += dout[bb, nn, i, e] * v[bb, nn, j, e]
                ds = pj * (dpj * kf - d) * scale
                pd = pj * kf
                for e in range(Ev):
                    dv[bb, nn, j, e] += pd * dout[bb, nn, i, e]
                for e in range(E):
                    dq[bb, nn, i, e] += ds * k[bb, nn, j, e]
                    dk[bb, nn, j, e] += ds * q[bb, nn, i, e]


def _mask(mask, dtype):
    return np.zeros((1, 1, 1, 1), dtype) if mask is None else mask


def attn_forward(q, k, v, mask, causal, scale, dropout_p, seed, out, lse):
    if out.size == 0 and lse.size == 0:
        return
    _forward(q, k, v, _mask(mask, q.dtype), bool(causal), float(scale), float(dropout_p),
             np.uint64(seed), out, lse)


def attn_backward(q, k, v, mask, causal, scale, dropout_p, seed, out, lse, dout, dq, dk, dv):
    _backward(q, k, v, _mask(mask, q.dtype), bool(causal), float(scale), float(dropout_p),
              np.uint64(seed), out, lse, dout, dq, dk, dv)


KERNELS = {"attn_forward": attn_forward, "attn_backward": attn_backward}
