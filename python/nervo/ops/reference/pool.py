"""NumPy references of pooling (float64, explicit window loops; torch's rules for windows,
divisors, ceil mode and NaN)."""
import math

import numpy as np


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def out_size(n, k, s, p, d, ceil_mode):
    eff = d * (k - 1) + 1
    if ceil_mode:
        o = -(-(n + 2 * p - eff) // s) + 1
        if (o - 1) * s >= n + p:
            o -= 1
    else:
        o = (n + 2 * p - eff) // s + 1
    return o


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    k = _pair(kernel_size)
    s = k if stride is None else _pair(stride)
    p, d = _pair(padding), _pair(dilation)
    H, W = x.shape[-2:]
    P = out_size(H, k[0], s[0], p[0], d[0], ceil_mode)
    Q = out_size(W, k[1], s[1], p[1], d[1], ceil_mode)
    lead = x.shape[:-2]
    xf = x.astype(np.float64).reshape(-1, H, W)
    y = np.empty((xf.shape[0], P, Q))
    idx = np.empty((xf.shape[0], P, Q), np.int64)
    for pl in range(xf.shape[0]):
        for i in range(P):
            for j in range(Q):
                best, bi = -math.inf, None
                for r in range(k[0]):
                    h = i * s[0] - p[0] + r * d[0]
                    if not 0 <= h < H:
                        continue
                    for t in range(k[1]):
                        w = j * s[1] - p[1] + t * d[1]
                        if not 0 <= w < W:
                            continue
                        v = xf[pl, h, w]
                        if bi is None:
                            bi = h * W + w
                        if v > best or math.isnan(v):
                            best, bi = v, h * W + w
                y[pl, i, j] = best
                idx[pl, i, j] = bi
    return y.reshape(lead + (P, Q)), idx.reshape(lead + (P, Q))


def max_pool2d_backward(dy, indices, x_shape):
    H, W = x_shape[-2:]
    dx = np.zeros((int(np.prod(x_shape[:-2])), H * W))
    PQ = dy.shape[-2] * dy.shape[-1]
    g = dy.astype(np.float64).reshape(dx.shape[0], PQ)
    ii = indices.reshape(dx.shape[0], PQ)
    for pl in range(dx.shape[0]):
        np.add.at(dx[pl], ii[pl], g[pl])
    return dx.reshape(x_shape)


def _avg_windows(H, W, k, s, p, ceil_mode, count_include_pad, divisor_override):
    P = out_size(H, k[0], s[0], p[0], 1, ceil_mode)
    Q = out_size(W, k[1], s[1], p[1], 1, ceil_mode)
    out = []
    for i in range(P):
        for j in range(Q):
            h0, w0 = i * s[0] - p[0], j * s[1] - p[1]
            h1, w1 = min(h0 + k[0], H + p[0]), min(w0 + k[1], W + p[1])
            size = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, H), min(w1, W)
            if divisor_override:
                div = divisor_override
            elif count_include_pad:
                div = size
            else:
                div = (h1 - h0) * (w1 - w0)
            out.append((i, j, h0, h1, w0, w1, div))
    return P, Q, out


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    k = _pair(kernel_size)
    s = k if stride is None else _pair(stride)
    p = _pair(padding)
    H, W = x.shape[-2:]
    P, Q, wins = _avg_windows(H, W, k, s, p, ceil_mode, count_include_pad, divisor_override)
    xf = x.astype(np.float64).reshape(-1, H, W)
    y = np.empty((xf.shape[0], P, Q))
    for i, j, h0, h1, w0, w1, div in wins:
        y[:, i, j] = xf[:, h0:h1, w0:w1].sum(axis=(1, 2)) / div
    return y.reshape(x.shape[:-2] + (P, Q))


def avg_pool2d_backward(dy, x_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    k = _pair(kernel_size)
    s = k if stride is None else _pair(stride)
    p = _pair(padding)
    H, W = x_shape[-2:]
    P, Q, wins = _avg_windows(H, W, k, s, p, ceil_mode, count_include_pad, divisor_override)
    g = dy.astype(np.float64).reshape(-1, P, Q)
    dx = np.zeros((g.shape[0], H, W))
    for i, j, h0, h1, w0, w1, div in wins:
        dx[:, h0:h1, w0:w1] += (g[:, i, j] / div)[:, None, None]
    return dx.reshape(x_shape)


def adaptive_avg_pool2d(x, output_size):
    P, Q = _pair(output_size)
    H, W = x.shape[-2:]
    xf = x.astype(np.float64)
    y = np.empty(x.shape[:-2] + (P, Q))
    for i in range(P):
        h0, h1 = (i * H) // P, -(-((i + 1) * H) // P)
        for j in range(Q):
            w0, w1 = (j * W) // Q, -(-((j + 1) * W) // Q)
            y[..., i, j] = xf[..., h0:h1, w0:w1].mean(axis=(-2, -1))
    return y


def adaptive_avg_pool2d_backward(dy, x_shape):
    P, Q = dy.shape[-2:]
    H, W = x_shape[-2:]
    dx = np.zeros(x_shape)
    g = dy.astype(np.float64)
    for i in range(P):
        h0, h1 = (i * H) // P, -(-((i + 1) * H) // P)
        for j in range(Q):
            w0, w1 = (j * W) // Q, -(-((j + 1) * W) // Q)
            dx[..., h0:h1, w0:w1] += (g[..., i, j] / ((h1 - h0) * (w1 - w0)))[..., None, None]
    return dx
