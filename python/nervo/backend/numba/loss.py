"""Numba loss kernels (mirror csrc/ops/loss): cross_entropy, nll_loss and pointwise_loss with
the native signatures; the reduced loss is accumulated in float64 in row/chunk order."""
import math

import numpy as np
from numba import njit, prange

_CHUNK = 16384


@njit(nogil=True, cache=True)
def _first_bad(t, C, ignore_index):
    for i in range(t.size):
        if t[i] != ignore_index and (t[i] < 0 or t[i] >= C):
            return i
    return -1


def _check_targets(t, C, ignore_index, call):
    bad = _first_bad(t, C, ignore_index)
    if bad >= 0:
        raise IndexError(f"{call}: target {int(t[bad])} at position {bad} is out of range for {C} "
                         f"classes (ignore_index={ignore_index})")


@njit(parallel=True, nogil=True, cache=True)
def _ce_index(x, t, w, has_w, ignore_index, eps, wsum_classes, gscale, losses, has_losses, g,
              has_g, drows, has_drows, rows):
    R, C = x.shape
    for i in prange(R):
        ti = t[i]
        if ti == ignore_index:
            rows[i] = 0.0
            if has_losses:
                losses[i] = 0.0
            if has_g:
                for c in range(C):
                    g[i, c] = 0.0
            continue
        m = -np.inf
        for c in range(C):
            if x[i, c] > m:
                m = x[i, c]
        se = 0.0
        sw = 0.0
        for c in range(C):
            z = float(x[i, c]) - m
            se += math.exp(z)
            if eps > 0:
                sw += (float(w[c]) * z) if has_w else z
        lz = math.log(se)
        wt = float(w[ti]) if has_w else 1.0
        zt = float(x[i, ti]) - m
        loss = -(1.0 - eps) * wt * (zt - lz)
        if eps > 0:
            loss += -eps / C * (sw - lz * wsum_classes)
        rows[i] = loss
        if has_losses:
            losses[i] = loss
        if has_g:
            s = gscale * float(drows[i]) if has_drows else gscale
            A = (1.0 - eps) * wt + eps / C * wsum_classes
            for c in range(C):
                wc = float(w[c]) if has_w else 1.0
                g[i, c] = s * (A * math.exp((float(x[i, c]) - m) - lz) - eps / C * wc)
            g[i, ti] -= s * (1.0 - eps) * wt


@njit(parallel=True, nogil=True, cache=True)
def _ce_prob(x, q, w, has_w, eps, gscale, losses, has_losses, g, has_g, drows, has_drows, rows):
    R, C = x.shape
    for i in prange(R):
        m = -np.inf
        for c in range(C):
            if x[i, c] > m:
                m = x[i, c]
        se = 0.0
        B = 0.0
        D = 0.0
        for c in range(C):
            z = float(x[i, c]) - m
            se += math.exp(z)
            wq = (float(w[c]) if has_w else 1.0) * ((1.0 - eps) * float(q[i, c]) + eps / C)
            B += wq
            D += wq * z
        lz = math.log(se)
        loss = -(D - lz * B)
        rows[i] = loss
        if has_losses:
            losses[i] = loss
        if has_g:
            s = gscale * float(drows[i]) if has_drows else gscale
            for c in range(C):
                wq = (float(w[c]) if has_w else 1.0) * ((1.0 - eps) * float(q[i, c]) + eps / C)
                g[i, c] = s * (B * math.exp((float(x[i, c]) - m) - lz) - wq)


def _opt(a, like):
    return (a, True) if a is not None else (like[:0], False)


def cross_entropy(logits, target, probs, weight, ignore_index, label_smoothing, reduction, losses,
                  grad, dscale, drows):
    R, C = logits.shape
    if target is not None:
        _check_targets(target, C, ignore_index, "nervo.ops.cross_entropy")
    flat = logits.reshape(-1)
    w, has_w = _opt(weight, flat)
    l, has_l = _opt(losses, flat)
    g, has_g = _opt(grad, logits)
    d, has_d = _opt(drows, flat)
    if probs is not None:
        wtot = float(R)
    else:
        valid = target != ignore_index
        wtot = float(weight[target[valid]].astype(np.float64).sum()) if has_w else float(valid.sum())
    wsum_classes = float(weight.astype(np.float64).sum()) if has_w else float(C)
    with np.errstate(divide="ignore", invalid="ignore"):
        gscale = np.float64(dscale) / wtot if reduction == 1 else float(dscale)
    rows = np.zeros(R)
    if R:
        if probs is not None:
            _ce_prob(logits, probs, w, has_w, float(label_smoothing), float(gscale), l, has_l, g,
                     has_g, d, has_d, rows)
        else:
            _ce_index(logits, target, w, has_w, ignore_index, float(label_smoothing), wsum_classes,
                      float(gscale), l, has_l, g, has_g, d, has_d, rows)
    total = 0.0
    for v in rows:
        total += v
    if reduction == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.float64(total) / wtot)
    return total


def nll_loss(logp, target, weight, ignore_index, reduction, losses, grad, dscale, drows):
    R, C = logp.shape
    _check_targets(target, C, ignore_index, "nervo.ops.nll_loss")
    valid = target != ignore_index
    tv = np.where(valid, target, 0)
    w = weight[tv].astype(np.float64) if weight is not None else np.ones(R)
    w = np.where(valid, w, 0.0)
    wtot = float(w.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        gscale = np.float64(dscale) / wtot if reduction == 1 else float(dscale)
    picked = logp[np.arange(R), tv].astype(np.float64) if R else np.zeros(0)
    rows = np.where(valid, -w * picked, 0.0)
    if losses is not None:
        losses[...] = rows
    if grad is not None:
        grad[...] = 0
        s = gscale * drows.astype(np.float64) if drows is not None else np.full(R, gscale)
        if R:
            grad[np.arange(R)[valid], tv[valid]] = (-w * s)[valid]
    total = 0.0
    for v in rows:
        total += v
    if reduction == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.float64(total) / wtot)
    return total


@njit(inline="always")
def _sgn(d):
    return 1.0 if d > 0 else (-1.0 if d < 0 else 0.0)


@njit(parallel=True, nogil=True, cache=True)
def _pointwise(op, x, y, w, has_w, pw, has_pw, a, losses, has_l, g, has_g, dscale, drows, has_d,
               part):
    n = x.size
    nchunks = part.size
    for c in prange(nchunks):
        lo = c * _CHUNK
        hi = min(n, lo + _CHUNK)
        s = 0.0
        for i in range(lo, hi):
            xi = x[i]
            yi = y[i]
            if op == 0:
                d = xi - yi
                loss = d * d
                dx = 2.0 * d
            elif op == 1:
                d = xi - yi
                loss = abs(d)
                dx = _sgn(d)
            elif op == 2:
                d = xi - yi
                ad = abs(d)
                if ad < a:
                    loss = 0.5 * d * d / a
                    dx = d / a
                else:
                    loss = ad - 0.5 * a
                    dx = _sgn(d)
            elif op == 3:
                d = xi - yi
                ad = abs(d)
                if ad < a:
                    loss = 0.5 * d * d
                    dx = d
                else:
                    loss = a * (ad - 0.5 * a)
                    dx = a * _sgn(d)
            elif op == 4:
                lx = max(math.log(xi), -100.0) if xi > 0 else -100.0
                l1x = max(math.log1p(-xi), -100.0) if xi < 1 else -100.0
                loss = (yi - 1.0) * l1x - yi * lx
                dx = (xi - yi) / max((1.0 - xi) * xi, 1e-12)
            elif op == 5:
                sp = math.log1p(math.exp(-abs(xi))) + max(-xi, 0.0)
                if xi >= 0:
                    sig = 1.0 / (1.0 + math.exp(-xi))
                else:
                    e = math.exp(xi)
                    sig = e / (1.0 + e)
                if has_pw:
                    lw = (pw[i] - 1.0) * yi + 1.0
                    loss = (1.0 - yi) * xi + lw * sp
                    dx = lw * sig - pw[i] * yi
                else:
                    loss = (1.0 - yi) * xi + sp
                    dx = sig - yi
            else:
                if a != 0.0:
                    ey = math.exp(yi)
                    loss = ey * (yi - xi)
                    dx = -ey
                else:
                    ylogy = 0.0 if yi == 0.0 else yi * math.log(yi)
                    loss = ylogy - yi * xi
                    dx = -yi
            if has_w:
                loss = loss * w[i]
                dx = dx * w[i]
            s += loss
            if has_l:
                losses[i] = loss
            if has_g:
                g[i] = (dscale * drows[i] if has_d else dscale) * dx
        part[c] = s


def pointwise_loss(op, x, y, w, pw, a, losses, grad, dscale, drows):
    if not 0 <= op < 7:
        raise ValueError(f"nervo.ops loss: unknown loss id {op}")
    n = x.size
    flat = x.reshape(-1)
    wf, has_w = _opt(None if w is None else w.reshape(-1), flat)
    pf, has_pw = _opt(None if pw is None else pw.reshape(-1), flat)
    lf, has_l = _opt(None if losses is None else losses.reshape(-1), flat)
    gf, has_g = _opt(None if grad is None else grad.reshape(-1), flat)
    df, has_d = _opt(None if drows is None else drows.reshape(-1), flat)
    part = np.zeros((n + _CHUNK - 1) // _CHUNK)
    if n:
        _pointwise(op, flat, y.reshape(-1), wf, has_w, pf, has_pw, float(a), lf, has_l, gf, has_g,
                   float(dscale), df, has_d, part)
    total = 0.0
    for v in part:
        total += v
    return total


KERNELS = {"cross_entropy": cross_entropy, "nll_loss": nll_loss, "pointwise_loss": pointwise_loss}
