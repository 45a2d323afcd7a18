"""TODO(kernel): NumPy stand-ins for nervo.ops kernels that have not landed yet.

Every function here mirrors the signature of the nervo.ops kernel it stands in for; functional
calls the kernel when ``nervo.ops`` has it. This file is deleted once all kernels have landed.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _windows(xp, Ho, Wo, R, S, stride, dilation):
    N, C = xp.shape[:2]
    sN, sC, sH, sW = xp.strides
    return as_strided(xp, (N, C, Ho, Wo, R, S),
                      (sN, sC, sH * stride[0], sW * stride[1], sH * dilation[0], sW * dilation[1]),
                      writeable=False)


def conv2d(x, w, bias=None, *, stride=1, padding=0, dilation=1, groups=1):
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    G = groups
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    Ho = (H + 2 * padding[0] - dilation[0] * (R - 1) - 1) // stride[0] + 1
    Wo = (W + 2 * padding[1] - dilation[1] * (S - 1) - 1) // stride[1] + 1
    cols = _windows(xp, Ho, Wo, R, S, stride, dilation).reshape(N, G, Cg, Ho, Wo, R, S)
    y = np.einsum("ngchwrs,gkcrs->ngkhw", cols, w.reshape(G, K // G, Cg, R, S), optimize=True)
    y = np.ascontiguousarray(y.reshape(N, K, Ho, Wo)).astype(x.dtype, copy=False)
    if bias is not None:
        y += bias.reshape(1, K, 1, 1)
    return y


def conv2d_backward(dy, x, w, *, stride=1, padding=0, dilation=1, groups=1,
                    needs=(True, True, True)):
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    G = groups
    Ho, Wo = dy.shape[2:]
    dyg = dy.reshape(N, G, K // G, Ho, Wo)
    dx = dw = db = None
    if needs[1]:
        xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
        cols = _windows(xp, Ho, Wo, R, S, stride, dilation).reshape(N, G, Cg, Ho, Wo, R, S)
        dw = np.einsum("ngkhw,ngchwrs->gkcrs", dyg, cols, optimize=True).reshape(w.shape)
        dw = dw.astype(x.dtype, copy=False)
    if needs[0]:
        dcols = np.einsum("ngkhw,gkcrs->ngchwrs", dyg, w.reshape(G, K // G, Cg, R, S),
                          optimize=True).reshape(N, C, Ho, Wo, R, S)
        dxp = np.zeros((N, C, H + 2 * padding[0], W + 2 * padding[1]), x.dtype)
        for r in range(R):
            for s in range(S):
                h0, w0 = r * dilation[0], s * dilation[1]
                dxp[:, :, h0:h0 + stride[0] * Ho:stride[0], w0:w0 + stride[1] * Wo:stride[1]] += \
                    dcols[..., r, s]
        dx = np.ascontiguousarray(dxp[:, :, padding[0]:padding[0] + H, padding[1]:padding[1] + W])
    if len(needs) > 2 and needs[2]:
        db = dy.sum(axis=(0, 2, 3)).astype(x.dtype, copy=False)
    return dx, dw, db


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    k = _pair(kernel_size)
    st = _pair(stride if stride is not None else kernel_size)
    p, d = _pair(padding), _pair(dilation)
    N, C, H, W = x.shape
    Ho = _out_size(H, k[0], st[0], p[0], d[0], ceil_mode)
    Wo = _out_size(W, k[1], st[1], p[1], d[1], ceil_mode)
    extra_h = max(0, (Ho - 1) * st[0] + d[0] * (k[0] - 1) + 1 - H - p[0])
    extra_w = max(0, (Wo - 1) * st[1] + d[1] * (k[1] - 1) + 1 - W - p[1])
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], extra_h), (p[1], extra_w)), constant_values=-np.inf)
    win = _windows(xp, Ho, Wo, k[0], k[1], st, d).reshape(N, C, Ho, Wo, -1)
    am = np.argmax(win, axis=-1)
    nanw = np.isnan(win)
    if nanw.any():
        am = np.where(nanw.any(-1), np.argmax(nanw, axis=-1), am)
    y = np.take_along_axis(win, am[..., None], -1)[..., 0].astype(x.dtype)
    r, s = am // k[1], am % k[1]
    hh = np.arange(Ho)[:, None] * st[0] - p[0] + r * d[0]
    ww = np.arange(Wo)[None, :] * st[1] - p[1] + s * d[1]
    idx = (hh * W + ww).astype(np.int64)
    return np.ascontiguousarray(y), idx


def _out_size(n, k, s, p, d, ceil):
    span = n + 2 * p - d * (k - 1) - 1
    o = (-(-span // s) if ceil else span // s) + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


def max_pool2d_backward(dy, indices, x_shape):
    N, C, H, W = x_shape
    dx = np.zeros((N, C, H * W), dy.dtype)
    np.add.at(dx, (np.arange(N)[:, None, None], np.arange(C)[None, :, None],
                   indices.reshape(N, C, -1)), dy.reshape(N, C, -1))
    return dx.reshape(x_shape)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    k = _pair(kernel_size)
    st = _pair(stride if stride is not None else kernel_size)
    p = _pair(padding)
    N, C, H, W = x.shape
    Ho = _out_size(H, k[0], st[0], p[0], 1, ceil_mode)
    Wo = _out_size(W, k[1], st[1], p[1], 1, ceil_mode)
    w = _avg_matrix(H, Ho, k[0], st[0], p[0], count_include_pad)
    v = _avg_matrix(W, Wo, k[1], st[1], p[1], count_include_pad)
    return _avg_apply(x, w, v, divisor_override, k)


def _avg_matrix(n, o, k, s, p, include_pad):
    """(o, n) 0/1 window matrix and each window's divisor (for a separable average)."""
    m = np.zeros((o, n))
    cnt = np.zeros(o)
    for i in range(o):
        a, b = i * s - p, i * s - p + k
        lo, hi = max(a, 0), min(b, n)
        m[i, lo:hi] = 1
        cnt[i] = (min(b, n + p) - a) if include_pad else (hi - lo)
    return m, cnt


def _avg_apply(x, wv, vv, divisor_override, k):
    (mh, ch), (mw, cw) = wv, vv
    y = np.einsum("ih,nchw,jw->ncij", mh, x, mw, optimize=True)
    div = np.outer(ch, cw) if divisor_override is None else divisor_override
    return np.ascontiguousarray(y / div).astype(x.dtype)


def avg_pool2d_backward(dy, x_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    k = _pair(kernel_size)
    st = _pair(stride if stride is not None else kernel_size)
    p = _pair(padding)
    N, C, H, W = x_shape
    Ho, Wo = dy.shape[2:]
    mh, ch = _avg_matrix(H, Ho, k[0], st[0], p[0], count_include_pad)
    mw, cw = _avg_matrix(W, Wo, k[1], st[1], p[1], count_include_pad)
    div = np.outer(ch, cw) if divisor_override is None else divisor_override
    return np.ascontiguousarray(np.einsum("ih,ncij,jw->nchw", mh, dy / div, mw,
                                          optimize=True)).astype(dy.dtype)


def adaptive_avg_pool2d(x, output_size):
    N, C, H, W = x.shape
    Ho, Wo = output_size
    mh, mw = _adaptive(H, Ho), _adaptive(W, Wo)
    return np.ascontiguousarray(np.einsum("ih,nchw,jw->ncij", mh, x, mw,
                                          optimize=True)).astype(x.dtype)


def _adaptive(n, o):
    m = np.zeros((o, n))
    for i in range(o):
        a = (i * n) // o
        b = -(-((i + 1) * n) // o)
        m[i, a:b] = 1.0 / (b - a)
    return m


def adaptive_avg_pool2d_backward(dy, x_shape):
    N, C, H, W = x_shape
    Ho, Wo = dy.shape[2:]
    mh, mw = _adaptive(H, Ho), _adaptive(W, Wo)
    return np.ascontiguousarray(np.einsum("ih,ncij,jw->nchw", mh, dy, mw,
                                          optimize=True)).astype(dy.dtype)
