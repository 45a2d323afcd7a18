"""Numba normalization kernels (mirror csrc/ops/norm): same names and signatures; statistics in
float64, two passes per channel/row/group, dweight/dbias partitioned by output element."""
import math

import numpy as np
from numba import njit, prange


@njit(parallel=True, nogil=True, cache=True)
def _bn_fwd(x, w, b, rm, rv, mean, rstd, y, momentum, eps, batch_stats, has_w, has_b, has_r):
    N, C, L = x.shape
    cnt = N * L
    for c in prange(C):
        if batch_stats:
            s = 0.0
            for n in range(N):
                for i in range(L):
                    s += x[n, c, i]
            m = s / cnt if cnt > 0 else np.nan
            v = 0.0
            for n in range(N):
                for i in range(L):
                    d = x[n, c, i] - m
                    v += d * d
            v = v / cnt if cnt > 0 else np.nan
            mean[c] = m
            rstd[c] = 1.0 / math.sqrt(v + eps)
            if has_r and cnt > 0:
                rm[c] = (1.0 - momentum) * rm[c] + momentum * m
                ub = v * cnt / (cnt - 1) if cnt > 1 else np.nan
                rv[c] = (1.0 - momentum) * rv[c] + momentum * ub
        else:
            mean[c] = rm[c]
            rstd[c] = 1.0 / math.sqrt(rv[c] + eps)
        scale = rstd[c] * (w[c] if has_w else 1.0)
        shift = (b[c] if has_b else 0.0) - mean[c] * scale
        for n in range(N):
            for i in range(L):
                y[n, c, i] = x[n, c, i] * scale + shift


@njit(parallel=True, nogil=True, cache=True)
def _bn_bwd(dy, x, mean, rstd, w, dx, dw, db, batch_stats, has_w, want_dx, want_dw, want_db):
    N, C, L = x.shape
    cnt = N * L
    for c in prange(C):
        m = mean[c]
        r = rstd[c]
        s_dy = 0.0
        s_dyx = 0.0
        for n in range(N):
            for i in range(L):
                g = dy[n, c, i]
                s_dy += g
                s_dyx += g * (x[n, c, i] - m)
        if want_dw:
            dw[c] = s_dyx * r
        if want_db:
            db[c] = s_dy
        if not want_dx:
            continue
        wr = (w[c] if has_w else 1.0) * r
        if batch_stats and cnt > 0:
            k = r * r * s_dyx / cnt
            for n in range(N):
                for i in range(L):
                    dx[n, c, i] = wr * (dy[n, c, i] - s_dy / cnt - (x[n, c, i] - m) * k)
        else:
            for n in range(N):
                for i in range(L):
                    dx[n, c, i] = wr * dy[n, c, i]


@njit(parallel=True, nogil=True, cache=True)
def _ln_fwd(x, w, b, mean, rstd, y, eps, has_w, has_b):
    M, D = x.shape
    for i in prange(M):
        s = 0.0
        for j in range(D):
            s += x[i, j]
        m = s / D if D > 0 else np.nan
        v = 0.0
        for j in range(D):
            d = x[i, j] - m
            v += d * d
        v = v / D if D > 0 else np.nan
        r = 1.0 / math.sqrt(v + eps)
        mean[i] = m
        rstd[i] = r
        for j in range(D):
            xh = (x[i, j] - m) * r
            y[i, j] = xh * (w[j] if has_w else 1.0) + (b[j] if has_b else 0.0)


@njit(parallel=True, nogil=True, cache=True)
def _ln_bwd_dx(dy, x, mean, rstd, w, dx, has_w):
    M, D = x.shape
    for i in prange(M):
        m = mean[i]
        r = rstd[i]
        s_g = 0.0
        s_gx = 0.0
        for j in range(D):
            gw = dy[i, j] * (w[j] if has_w else 1.0)
            s_g += gw
            s_gx += gw * (x[i, j] - m)
        a1 = s_g / D
        a2 = r * r * s_gx / D
        for j in range(D):
            gw = dy[i, j] * (w[j] if has_w else 1.0)
            dx[i, j] = r * (gw - a1 - (x[i, j] - m) * a2)


@njit(parallel=True, nogil=True, cache=True)
def _ln_bwd_w(dy, x, mean, rstd, dw, db, want_dw, want_db):
    M, D = x.shape
    for j in prange(D):
        aw = 0.0
        ab = 0.0
        for i in range(M):
            aw += dy[i, j] * (x[i, j] - mean[i]) * rstd[i]
            ab += dy[i, j]
        if want_dw:
            dw[j] = aw
        if want_db:
            db[j] = ab


@njit(parallel=True, nogil=True, cache=True)
def _gn_fwd(x, w, b, mean, rstd, y, G, eps, has_w, has_b):
    N, C, L = x.shape
    Cg = C // G
    cnt = Cg * L
    for ng in prange(N * G):
        n = ng // G
        g = ng % G
        s = 0.0
        for c in range(g * Cg, (g + 1) * Cg):
            for i in range(L):
                s += x[n, c, i]
        m = s / cnt if cnt > 0 else np.nan
        v = 0.0
        for c in range(g * Cg, (g + 1) * Cg):
            for i in range(L):
                d = x[n, c, i] - m
                v += d * d
        v = v / cnt if cnt > 0 else np.nan
        r = 1.0 / math.sqrt(v + eps)
        mean[n, g] = m
        rstd[n, g] = r
        for c in range(g * Cg, (g + 1) * Cg):
            scale = r * (w[c] if has_w else 1.0)
            shift = (b[c] if has_b else 0.0) - m * scale
            for i in range(L):
                y[n, c, i] = x[n, c, i] * scale + shift


@njit(parallel=True, nogil=True, cache=True)
def _gn_bwd_dx(dy, x, mean, rstd, w, dx, G, has_w):
    N, C, L = x.shape
    Cg = C // G
    cnt = Cg * L
    for ng in prange(N * G):
        n = ng // G
        g = ng % G
        m = mean[n, g]
        r = rstd[n, g]
        s_g = 0.0
        s_gx = 0.0
        for c in range(g * Cg, (g + 1) * Cg):
            wc = w[c] if has_w else 1.0
            for i in range(L):
                gw = dy[n, c, i] * wc
                s_g += gw
                s_gx += gw * (x[n, c, i] - m)
        a1 = s_g / cnt
        a2 = r * r * s_gx / cnt
        for c in range(g * Cg, (g + 1) * Cg):
            wc = w[c] if has_w else 1.0
            for i in range(L):
                dx[n, c, i] = r * (dy[n, c, i] * wc - a1 - (x[n, c, i] - m) * a2)


@njit(parallel=True, nogil=True, cache=True)
def _gn_bwd_w(dy, x, mean, rstd, dw, db, G, want_dw, want_db):
    N, C, L = x.shape
    Cg = C // G
    for c in prange(C):
        g = c // Cg
        aw = 0.0
        ab = 0.0
        for n in range(N):
            m = mean[n, g]
            r = rstd[n, g]
            for i in range(L):
                aw += dy[n, c, i] * (x[n, c, i] - m) * r
                ab += dy[n, c, i]
        if want_dw:
            dw[c] = aw
        if want_db:
            db[c] = ab


def _ncl(a):
    L = 1
    for s in a.shape[2:]:
        L *= s
    return a.reshape(a.shape[0], a.shape[1], L)


def _or(a, like):
    return like[:1] if a is None else a


def batch_norm_forward(x, weight, bias, running_mean, running_var, mean, rstd, y, momentum, eps,
                       batch_stats):
    x3 = _ncl(x)
    _bn_fwd(x3, _or(weight, mean), _or(bias, mean), _or(running_mean, mean),
            _or(running_var, rstd), mean, rstd, y.reshape(x3.shape), float(momentum), float(eps),
            bool(batch_stats), weight is not None, bias is not None, running_mean is not None)


def batch_norm_backward(dy, x, mean, rstd, weight, dx, dweight, dbias, batch_stats):
    x3 = _ncl(x)
    _bn_bwd(dy.reshape(x3.shape), x3, mean, rstd, _or(weight, mean),
            x3 if dx is None else dx.reshape(x3.shape), _or(dweight, mean), _or(dbias, mean),
            bool(batch_stats), weight is not None, dx is not None, dweight is not None,
            dbias is not None)


def layer_norm_forward(x, weight, bias, mean, rstd, y, D, eps):
    M = mean.size
    x2 = x.reshape(M, D)
    m1, r1 = mean.reshape(M), rstd.reshape(M)
    _ln_fwd(x2, _or(weight, m1), _or(bias, m1), m1, r1,
            y.reshape(M, D), float(eps), weight is not None, bias is not None)


def layer_norm_backward(dy, x, mean, rstd, weight, dx, dweight, dbias, D):
    M = mean.size
    x2, g2 = x.reshape(M, D), dy.reshape(M, D)
    m1, r1 = mean.reshape(M), rstd.reshape(M)
    if dx is not None:
        _ln_bwd_dx(g2, x2, m1, r1, _or(weight, m1), dx.reshape(M, D), weight is not None)
    if dweight is not None or dbias is not None:
        dw = _or(dweight, m1) if dweight is None else dweight.reshape(D)
        db = _or(dbias, m1) if dbias is None else dbias.reshape(D)
        _ln_bwd_w(g2, x2, m1, r1, dw, db, dweight is not None, dbias is not None)


def group_norm_forward(x, weight, bias, mean, rstd, y, G, eps):
    x3 = _ncl(x)
    _gn_fwd(x3, _or(weight, rstd.reshape(-1)), _or(bias, rstd.reshape(-1)), mean.reshape(-1, G),
            rstd.reshape(-1, G), y.reshape(x3.shape), int(G), float(eps), weight is not None,
            bias is not None)


def group_norm_backward(dy, x, mean, rstd, weight, dx, dweight, dbias, G):
    x3 = _ncl(x)
    g3 = dy.reshape(x3.shape)
    m2, r2 = mean.reshape(-1, G), rstd.reshape(-1, G)
    if dx is not None:
        _gn_bwd_dx(g3, x3, m2, r2, _or(weight, r2.reshape(-1)), dx.reshape(x3.shape), int(G),
                   weight is not None)
    if dweight is not None or dbias is not None:
        _gn_bwd_w(g3, x3, m2, r2, _or(dweight, r2.reshape(-1)), _or(dbias, r2.reshape(-1)),
                  int(G), dweight is not None, dbias is not None)


KERNELS = {
    "batch_norm_forward": batch_norm_forward, "batch_norm_backward": batch_norm_backward,
    "layer_norm_forward": layer_norm_forward, "layer_norm_backward": layer_norm_backward,
    "group_norm_forward": group_norm_forward, "group_norm_backward": group_norm_backward,
}
