"""Numba pooling kernels (mirror csrc/ops/pool): same names, signatures and edge rules as the
native ones (torch's window clipping and divisors; NaN wins in max pooling)."""
import math

import numpy as np
from numba import njit, prange


def _planes(a):
    return a.reshape(-1, a.shape[-2], a.shape[-1])


@njit(parallel=True, nogil=True, cache=True)
def _max_fwd(x, y, idx, R, S, sh, sw, ph, pw, dh, dw):
    NC, H, W = x.shape
    P, Q = y.shape[1], y.shape[2]
    HW = H * W
    for pl in prange(NC):
        for p in range(P):
            h0 = p * sh - ph
            h1 = min(h0 + (R - 1) * dh + 1, H)
            while h0 < 0:
                h0 += dh
            for q in range(Q):
                w0 = q * sw - pw
                w1 = min(w0 + (S - 1) * dw + 1, W)
                while w0 < 0:
                    w0 += dw
                best = -np.inf
                bi = min(max(h0 * W + w0, 0), HW - 1)
                for h in range(h0, h1, dh):
                    for w in range(w0, w1, dw):
                        v = x[pl, h, w]
                        if v > best or math.isnan(v):
                            best = v
                            bi = h * W + w
                y[pl, p, q] = best
                idx[pl, p, q] = bi if HW > 0 else 0


@njit(parallel=True, nogil=True, cache=True)
def _max_bwd(dy, idx, dx):
    NC, P, Q = dy.shape
    H, W = dx.shape[1], dx.shape[2]
    HW = H * W
    bad = np.zeros(NC, np.bool_)
    for pl in prange(NC):
        for h in range(H):
            for w in range(W):
                dx[pl, h, w] = 0
        for p in range(P):
            for q in range(Q):
                j = idx[pl, p, q]
                if j < 0 or j >= HW:
                    bad[pl] = True
                else:
                    dx[pl, j // W, j % W] += dy[pl, p, q]
    return bad.any()


@njit(inline="always")
def _avg_window(p, q, H, W, R, S, sh, sw, ph, pw, cip, divisor):
    h0 = p * sh - ph
    w0 = q * sw - pw
    h1 = min(h0 + R, H + ph)
    w1 = min(w0 + S, W + pw)
    pool_size = (h1 - h0) * (w1 - w0)
    h0 = max(h0, 0)
    w0 = max(w0, 0)
    h1 = min(h1, H)
    w1 = min(w1, W)
    if divisor > 0:
        div = divisor
    elif cip:
        div = pool_size
    else:
        div = (h1 - h0) * (w1 - w0)
    return h0, h1, w0, w1, div


@njit(parallel=True, nogil=True, cache=True)
def _avg_fwd(x, y, R, S, sh, sw, ph, pw, cip, divisor):
    NC, H, W = x.shape
    P, Q = y.shape[1], y.shape[2]
    for pl in prange(NC):
        for p in range(P):
            for q in range(Q):
                h0, h1, w0, w1, div = _avg_window(p, q, H, W, R, S, sh, sw, ph, pw, cip, divisor)
                acc = 0.0
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        acc += x[pl, h, w]
                y[pl, p, q] = acc / div if div != 0 else np.nan


@njit(parallel=True, nogil=True, cache=True)
def _avg_bwd(dy, dx, R, S, sh, sw, ph, pw, cip, divisor):
    NC, P, Q = dy.shape
    H, W = dx.shape[1], dx.shape[2]
    for pl in prange(NC):
        for h in range(H):
            for w in range(W):
                dx[pl, h, w] = 0
        for p in range(P):
            for q in range(Q):
                h0, h1, w0, w1, div = _avg_window(p, q, H, W, R, S, sh, sw, ph, pw, cip, divisor)
                if div == 0:
                    continue
                v = dy[pl, p, q] / div
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        dx[pl, h, w] += v


@njit(parallel=True, nogil=True, cache=True)
def _ada_fwd(x, y):
    NC, H, W = x.shape
    P, Q = y.shape[1], y.shape[2]
    for pl in prange(NC):
        for p in range(P):
            h0 = (p * H) // P
            h1 = ((p + 1) * H + P - 1) // P
            for q in range(Q):
                w0 = (q * W) // Q
                w1 = ((q + 1) * W + Q - 1) // Q
                acc = 0.0
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        acc += x[pl, h, w]
                y[pl, p, q] = acc / ((h1 - h0) * (w1 - w0))


@njit(parallel=True, nogil=True, cache=True)
def _ada_bwd(dy, dx):
    NC, P, Q = dy.shape
    H, W = dx.shape[1], dx.shape[2]
    for pl in prange(NC):
        for h in range(H):
            for w in range(W):
                dx[pl, h, w] = 0
        for p in range(P):
            h0 = (p * H) // P
            h1 = ((p + 1) * H + P - 1) // P
            for q in range(Q):
                w0 = (q * W) // Q
                w1 = ((q + 1) * W + Q - 1) // Q
                v = dy[pl, p, q] / ((h1 - h0) * (w1 - w0))
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        dx[pl, h, w] += v


def max_pool2d_forward(x, y, indices, kh, kw, sh, sw, ph, pw, dh, dw):
    _max_fwd(_planes(x), _planes(y), _planes(indices), kh, kw, sh, sw, ph, pw, dh, dw)


def max_pool2d_backward(dy, indices, dx):
    if _max_bwd(_planes(dy), _planes(indices), _planes(dx)):
        H, W = dx.shape[-2], dx.shape[-1]
        raise IndexError(f"nervo.ops.max_pool2d_backward: indices must lie in [0, H*W) = "
                         f"[0, {H * W}) of each input plane")


def avg_pool2d_forward(x, y, kh, kw, sh, sw, ph, pw, count_include_pad, divisor):
    _avg_fwd(_planes(x), _planes(y), kh, kw, sh, sw, ph, pw, bool(count_include_pad), divisor)


def avg_pool2d_backward(dy, dx, kh, kw, sh, sw, ph, pw, count_include_pad, divisor):
    _avg_bwd(_planes(dy), _planes(dx), kh, kw, sh, sw, ph, pw, bool(count_include_pad), divisor)


def adaptive_avg_pool2d_forward(x, y):
    _ada_fwd(_planes(x), _planes(y))


def adaptive_avg_pool2d_backward(dy, dx):
    _ada_bwd(_planes(dy), _planes(dx))


KERNELS = {
    "max_pool2d_forward": max_pool2d_forward, "max_pool2d_backward": max_pool2d_backward,
    "avg_pool2d_forward": avg_pool2d_forward, "avg_pool2d_backward": avg_pool2d_backward,
    "adaptive_avg_pool2d_forward": adaptive_avg_pool2d_forward,
    "adaptive_avg_pool2d_backward": adaptive_avg_pool2d_backward,
}
