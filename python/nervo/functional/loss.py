"""Loss functions as fused differentiable ops (one node each, closed-form gradients).

Vocabulary: ``input`` (N, C) or (N, C, d1, ...) logits/log-probabilities for the classification
losses, any shape for the pointwise ones; ``target`` class indices (int, shape (N, d1, ...)) or
values. ``reduction`` is 'none' | 'mean' | 'sum' (KLDiv also 'batchmean'), as in torch.
"""
from __future__ import annotations

import numpy as np

from nervo import ops
from nervo.autograd import mode as _mode
from nervo.functional.activation import _log_softmax_np
from nervo.functional.basic import _node, _plain, _t, _unb
from nervo.tensor import Tensor

__all__ = [
    "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
]

_REDUCTIONS = ("none", "mean", "sum")


def _reduction(reduction, call, extra=()):
    if reduction not in _REDUCTIONS + tuple(extra):
        raise ValueError(f"{call}: reduction must be one of {_REDUCTIONS + tuple(extra)}, got "
                         f"{reduction!r}")
    return reduction


def _float_input(x, call, arg="input"):
    x = _t(x)
    if x._data.dtype.kind != "f":
        raise TypeError(f"{call}: {arg} must be a float tensor, got {x._data.dtype}")
    return x


def _class_target(input_d, target, call):
    td = target._data if isinstance(target, Tensor) else np.asarray(target)
    return td


def _to_rows(xd):
    """(N, C, d1, ...) -> (N*d1*..., C) rows, and a function mapping rows back."""
    if xd.ndim == 2:
        return xd, lambda r: r
    if xd.ndim == 1:
        return xd[None, :], lambda r: r[0]
    C = xd.shape[1]
    moved = np.moveaxis(xd, 1, -1)
    shp = moved.shape

    def back(r):
        return np.ascontiguousarray(np.moveaxis(r.reshape(shp), -1, 1))
    return moved.reshape(-1, C), back


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy from logits (torch.nn.functional.cross_entropy).

    ``target`` holds class indices (int, shape (N,) / (N, d1, ...)) or class probabilities
    (float, the input's shape). ``weight`` (C,) rescales classes; ``ignore_index`` targets add
    nothing (and do not count in the mean); ``label_smoothing`` mixes in the uniform
    distribution.

    Raises:
        ValueError: shapes do not match, unknown reduction, label_smoothing outside [0, 1].
        IndexError: a class index outside [0, C) (other than ignore_index).
    """
    call = "nervo.nn.functional.cross_entropy"
    reduction = _reduction(reduction, call)
    x = _float_input(input, call)
    xd = x._data
    td = _class_target(xd, target, call)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{call}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if xd.ndim == 0:
        raise ValueError(f"{call}: input must have at least 1 dimension (classes)")
    C = xd.shape[1] if xd.ndim >= 2 else xd.shape[0]
    wv = None if weight is None else weight._data
    if wv is not None and wv.shape != (C,):
        raise ValueError(f"{call}: weight has shape {tuple(wv.shape)}, expected ({C},)")
    rows, back = _to_rows(xd)
    # TODO(kernel): ops.cross_entropy
    logp = _log_softmax_np(rows, 1)
    p = np.exp(logp)
    ls = float(label_smoothing)
    if td.dtype.kind == "f":  # class probabilities
        if td.shape != xd.shape:
            raise ValueError(f"{call}: probability target has shape {tuple(td.shape)} but input "
                             f"has shape {tuple(xd.shape)}")
        trows, _ = _to_rows(td.astype(xd.dtype, copy=False))
        if ls:
            trows = trows * (1 - ls) + ls / C
        wt = trows * wv if wv is not None else trows
        per = -(wt * logp).sum(axis=1)
        denom = rows.shape[0]
        gsum = wt.sum(axis=1, keepdims=True)

        def row_grad():
            return p * gsum - wt
    else:
        if td.dtype.kind not in "iu":
            raise TypeError(f"{call}: target must be class indices (int) or probabilities (float), "
                            f"got {td.dtype}")
        want = (xd.shape[0],) + xd.shape[2:] if xd.ndim >= 2 else ()
        if td.shape != want:
            raise ValueError(f"{call}: target has shape {tuple(td.shape)} but input of shape "
                             f"{tuple(xd.shape)} needs target shape {want}")
        t = td.reshape(-1).astype(np.int64, copy=False)
        valid = t != ignore_index
        if valid.any():
            tv = t[valid]
            if tv.min() < 0 or tv.max() >= C:
                bad = tv[(tv < 0) | (tv >= C)][0]
                raise IndexError(f"{call}: target {int(bad)} is out of bounds for {C} classes")
        ts = np.where(valid, t, 0)
        n = rows.shape[0]
        ar = np.arange(n)
        wt = (wv[ts] if wv is not None else np.ones(n, xd.dtype)) * valid
        per = -logp[ar, ts] * wt * (1 - ls)
        if ls:
            wsum = wv.sum() if wv is not None else C
            smooth = -(logp * wv).sum(axis=1) if wv is not None else -logp.sum(axis=1)
            per = per + valid * smooth * (ls / C)
        denom = wt.sum()

        def row_grad():
            gr = p * (wt * (1 - ls))[:, None]
            gr[ar, ts] -= wt * (1 - ls)
            if ls:
                wrow = wv if wv is not None else 1.0
                gr += (valid * (ls / C))[:, None] * (p * wsum - wrow)
            return gr
    per = per.astype(xd.dtype, copy=False)
    if reduction == "none":
        out = per.reshape((xd.shape[0],) + xd.shape[2:] if xd.ndim >= 2 else ())
    elif reduction == "sum":
        out = np.asarray(per.sum(), xd.dtype)
    else:
        out = np.asarray(per.sum() / denom, xd.dtype) if denom else np.asarray(np.nan, xd.dtype)
    if x.requires_grad and _mode.enabled:
        def bw(g):
            gr = row_grad()
            if reduction == "none":
                gr = gr * g.reshape(-1, 1)
            elif reduction == "sum":
                gr = gr * g
            else:
                gr = gr * (g / denom)
            return (back(gr.astype(xd.dtype, copy=False)), None)
        return _node(out, (x, None), bw, "CrossEntropyBackward")
    return _plain(out)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood from log-probabilities: -input[i, target[i]] * weight[target[i]]."""
    call = "nervo.nn.functional.nll_loss"
    reduction = _reduction(reduction, call)
    x = _float_input(input, call)
    xd = x._data
    td = _class_target(xd, target, call)
    if td.dtype.kind not in "iu":
        raise TypeError(f"{call}: target must be an integer tensor, got {td.dtype}")
    C = xd.shape[1] if xd.ndim >= 2 else xd.shape[0]
    want = (xd.shape[0],) + xd.shape[2:] if xd.ndim >= 2 else ()
    if td.shape != want:
        raise ValueError(f"{call}: target has shape {tuple(td.shape)} but input of shape "
                         f"{tuple(xd.shape)} needs {want}")
    rows, back = _to_rows(xd)
    t = td.reshape(-1).astype(np.int64, copy=False)
    valid = t != ignore_index
    tv = t[valid]
    if tv.size and (tv.min() < 0 or tv.max() >= C):
        raise IndexError(f"{call}: target {int(tv[(tv < 0) | (tv >= C)][0])} is out of bounds for "
                         f"{C} classes")
    ts = np.where(valid, t, 0)
    ar = np.arange(rows.shape[0])
    wv = None if weight is None else weight._data
    wt = ((wv[ts] if wv is not None else np.ones(len(t), xd.dtype)) * valid).astype(xd.dtype)
    per = -rows[ar, ts] * wt
    denom = wt.sum()
    if reduction == "none":
        out = per.reshape(want)
    elif reduction == "sum":
        out = np.asarray(per.sum(), xd.dtype)
    else:
        out = np.asarray(per.sum() / denom, xd.dtype)
    if x.requires_grad and _mode.enabled:
        def bw(g):
            gr = np.zeros(rows.shape, xd.dtype)
            scale = g.reshape(-1) if reduction == "none" else (g if reduction == "sum" else g / denom)
            gr[ar, ts] = -wt * scale
            return (back(gr), None)
        return _node(out, (x, None), bw, "NllLossBackward")
    return _plain(out)


def _pointwise(name, input, target, reduction, f, df, call):
    """Loss sum/mean/none of f(d) with d = input - target; df(d) is its derivative in d."""
    reduction = _reduction(reduction, call)
    x = _float_input(input, call)
    y = _t(target) if not isinstance(target, Tensor) else target
    xd, yd = x._data, y._data
    try:
        d = xd - yd
    except ValueError as exc:
        raise ValueError(f"{call}: input shape {tuple(xd.shape)} and target shape "
                         f"{tuple(yd.shape)} do not broadcast") from exc
    el = f(d)
    if reduction == "none":
        out = el
    elif reduction == "sum":
        out = np.asarray(el.sum(), el.dtype)
    else:
        out = np.asarray(el.mean(), el.dtype)
    rx, ry = x.requires_grad, y.requires_grad
    if (rx or ry) and _mode.enabled:
        n = d.size

        def bw(g):
            gd = df(d)
            if reduction == "mean":
                gd = gd * (g / n)
            else:
                gd = gd * g
            return (_unb(gd, xd.shape) if rx else None, _unb(-gd, yd.shape) if ry else None)
        return _node(out, (x, y), bw, name)
    return _plain(out)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """mean((input - target)^2)."""
    return _pointwise("MseLossBackward", input, target, reduction, lambda d: d * d,
                      lambda d: 2 * d, "nervo.nn.functional.mse_loss")


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """mean(|input - target|)."""
    return _pointwise("L1LossBackward", input, target, reduction, np.abs, np.sign,
                      "nervo.nn.functional.l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0):
    """0.5 d^2 where |d| < delta, else delta * (|d| - 0.5 delta)."""
    if delta <= 0:
        raise ValueError(f"nervo.nn.functional.huber_loss: delta must be positive, got {delta}")

    def f(d):
        a = np.abs(d)
        return np.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta)).astype(d.dtype)
    return _pointwise("HuberLossBackward", input, target, reduction, f,
                      lambda d: np.clip(d, -delta, delta), "nervo.nn.functional.huber_loss")


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta."""
    if beta < 0:
        raise ValueError(f"nervo.nn.functional.smooth_l1_loss: beta must be >= 0, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)

    def f(d):
        a = np.abs(d)
        return np.where(a < beta, 0.5 * d * d / beta, a - 0.5 * beta).astype(d.dtype)

    def df(d):
        return np.where(np.abs(d) < beta, d / beta, np.sign(d)).astype(d.dtype)
    return _pointwise("SmoothL1LossBackward", input, target, reduction, f, df,
                      "nervo.nn.functional.smooth_l1_loss")


def _reduce_value(el, reduction):
    if reduction == "none":
        return el
    if reduction == "sum":
        return np.asarray(el.sum(), el.dtype)
    return np.asarray(el.mean(), el.dtype)


def _scale(gd, g, reduction, n):
    return gd * (g / n) if reduction == "mean" else gd * g


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Sigmoid + BCE in one stable formula: finite for any |input|.

    loss = (1 - y) x + (1 + (pos_weight - 1) y) (log1p(exp(-|x|)) + max(-x, 0)), times weight.
    """
    call = "nervo.nn.functional.binary_cross_entropy_with_logits"
    reduction = _reduction(reduction, call)
    x = _float_input(input, call)
    y = _float_input(target, call, "target")
    xd, yd = x._data, y._data
    if xd.shape != yd.shape:
        raise ValueError(f"{call}: target size {tuple(yd.shape)} must be the same as input size "
                         f"{tuple(xd.shape)}")
    wd = None if weight is None else weight._data
    pw = None if pos_weight is None else pos_weight._data
    sp = np.log1p(np.exp(-np.abs(xd))) + np.maximum(-xd, 0)  # softplus(-x)
    lw = 1 + (pw - 1) * yd if pw is not None else 1
    el = (1 - yd) * xd + lw * sp
    if wd is not None:
        el = el * wd
    el = el.astype(xd.dtype, copy=False)
    out = _reduce_value(el, reduction)
    rx, ry = x.requires_grad, y.requires_grad
    if (rx or ry) and _mode.enabled:
        n = el.size

        def bw(g):
            gx = gy = None
            w = wd if wd is not None else 1
            if rx:
                sig_neg = ops.sigmoid(np.ascontiguousarray(-xd))
                gx = _unb(_scale(((1 - yd) - lw * sig_neg) * w, g, reduction, n), xd.shape)
            if ry:
                dy = -xd + ((pw - 1) * sp if pw is not None else 0)
                gy = _scale(dy * w, g, reduction, n)
            return gx.astype(xd.dtype, copy=False) if gx is not None else None, gy
        return _node(out, (x, y), bw, "BinaryCrossEntropyWithLogitsBackward")
    return _plain(out)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """-(y log p + (1 - y) log(1 - p)), with each log clamped at -100 (torch)."""
    call = "nervo.nn.functional.binary_cross_entropy"
    reduction = _reduction(reduction, call)
    x = _float_input(input, call)
    y = _float_input(target, call, "target")
    xd, yd = x._data, y._data
    if xd.shape != yd.shape:
        raise ValueError(f"{call}: target size {tuple(yd.shape)} must be the same as input size "
                         f"{tuple(xd.shape)}")
    if xd.size and (np.nanmin(xd) < 0 or np.nanmax(xd) > 1):
        raise ValueError(f"{call}: all elements of input should be between 0 and 1")
    wd = None if weight is None else weight._data
    with np.errstate(divide="ignore"):
        lp = np.maximum(np.log(xd), -100)
        l1p = np.maximum(np.log1p(-xd), -100)
    el = -(yd * lp + (1 - yd) * l1p)
    if wd is not None:
        el = el * wd
    el = el.astype(xd.dtype, copy=False)
    out = _reduce_value(el, reduction)
    rx, ry = x.requires_grad, y.requires_grad
    if (rx or ry) and _mode.enabled:
        n = el.size

        def bw(g):
            w = wd if wd is not None else 1
            gx = gy = None
            if rx:
                gx = _scale((xd - yd) / np.maximum((1 - xd) * xd, 1e-12) * w, g, reduction, n)
                gx = gx.astype(xd.dtype, copy=False)
            if ry:
                gy = _scale((l1p - lp) * w, g, reduction, n).astype(xd.dtype, copy=False)
            return gx, gy
        return _node(out, (x, y), bw, "BinaryCrossEntropyBackward")
    return _plain(out)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target || exp(input)) pointwise: target * (log target - input) (input holds
    log-probabilities). Use reduction='batchmean' for the true KL divergence (torch's advice)."""
    call = "nervo.nn.functional.kl_div"
    reduction = _reduction(reduction, call, ("batchmean",))
    x = _float_input(input, call)
    y = _float_input(target, call, "target")
    xd, yd = x._data, y._data
    if log_target:
        el = np.exp(yd) * (yd - xd)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            el = np.where(yd > 0, yd * (np.log(np.where(yd > 0, yd, 1)) - xd), 0)
    el = el.astype(xd.dtype, copy=False)
    n = el.size
    if reduction == "batchmean":
        bsz = xd.shape[0] if xd.ndim else 1
        out = np.asarray(el.sum() / bsz, xd.dtype)
    else:
        out = _reduce_value(el, reduction)
    rx, ry = x.requires_grad, y.requires_grad
    if (rx or ry) and _mode.enabled:
        def bw(g):
            if reduction == "batchmean":
                sc = g / (xd.shape[0] if xd.ndim else 1)
            elif reduction == "mean":
                sc = g / n
            else:
                sc = g
            gx = gy = None
            if rx:
                gx = _unb((-(np.exp(yd) if log_target else yd) * sc).astype(xd.dtype), xd.shape)
            if ry:
                if log_target:
                    gy = np.exp(yd) * (yd - xd + 1) * sc
                else:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        gy = np.where(yd > 0, np.log(np.where(yd > 0, yd, 1)) - xd + 1, 0) * sc
                gy = _unb(gy.astype(yd.dtype), yd.shape)
            return gx, gy
        return _node(out, (x, y), bw, "KlDivBackward")
    return _plain(out)
