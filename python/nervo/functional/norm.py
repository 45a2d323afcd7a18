"""Normalization layers as differentiable ops: batch_norm, layer_norm, group_norm.

Vocabulary: input (N, C, *) for batch/group norm (statistics per channel over N and *, or per
group over C/G and *), (*, D...) for layer norm (statistics over the trailing normalized_shape).
Forward saves the mean and the inverse standard deviation; backward is the usual closed form.
"""
from __future__ import annotations

import numpy as np

from nervo.autograd import mode as _mode
from nervo.functional.basic import _node, _plain, _t

__all__ = ["batch_norm", "layer_norm", "group_norm", "instance_norm", "normalize"]


def _norm_backward(g, xhat, rstd, w, axes, count):
    """dx of y = xhat * w + b where xhat = (x - mean) * rstd, statistics over ``axes``."""
    gx = g * w if w is not None else g
    m1 = gx.mean(axis=axes, keepdims=True)
    m2 = (gx * xhat).mean(axis=axes, keepdims=True)
    return (gx - m1 - xhat * m2) * rstd


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """(x - mean) / sqrt(var + eps) * weight + bias per channel (dim 1).

    In training (or without running statistics) the batch's statistics are used and the running
    ones (if given) are updated in place: running = (1 - momentum) * running + momentum * batch,
    with the unbiased batch variance (torch's rule).

    Shape: input (N, C) or (N, C, *); running stats, weight, bias (C,).
    """
    call = "nervo.nn.functional.batch_norm"
    x = _t(input)
    xd = x._data
    if xd.ndim < 2:
        raise ValueError(f"{call}: expected input of at least 2 dims (N, C, ...), got shape "
                         f"{tuple(xd.shape)}")
    C = xd.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (C,):
            raise ValueError(f"{call}: input has {C} channels but {name} has shape "
                             f"{tuple(t.shape)}")
    axes = (0,) + tuple(range(2, xd.ndim))
    bshape = (1, C) + (1,) * (xd.ndim - 2)
    count = xd.size // C if C else 0
    use_batch = training or running_mean is None
    # TODO(kernel): ops.batch_norm / batch_norm_backward
    if use_batch:
        if training and count <= 1:
            raise ValueError(f"{call}: expected more than 1 value per channel when training, got "
                             f"input shape {tuple(xd.shape)}")
        mean = xd.mean(axis=axes, keepdims=True)
        xc = xd - mean
        var = (xc * xc).mean(axis=axes, keepdims=True)
        if training and running_mean is not None:
            rm, rv = running_mean._data, running_var._data
            rm *= 1 - momentum
            rm += momentum * mean.reshape(C)
            rv *= 1 - momentum
            rv += momentum * var.reshape(C) * (count / (count - 1))
    else:
        mean = running_mean._data.reshape(bshape)
        var = running_var._data.reshape(bshape)
        xc = xd - mean
    rstd = (1.0 / np.sqrt(var + eps)).astype(xd.dtype, copy=False)
    xhat = xc * rstd
    wd = weight._data.reshape(bshape) if weight is not None else None
    y = xhat * wd if wd is not None else xhat
    if bias is not None:
        y = y + bias._data.reshape(bshape)
    y = y.astype(xd.dtype, copy=False)
    rx = x.requires_grad
    rw = weight is not None and weight.requires_grad
    rb = bias is not None and bias.requires_grad
    if (rx or rw or rb) and _mode.enabled:
        def bw(g):
            dx = dw = db = None
            if rx:
                if use_batch:
                    dx = _norm_backward(g, xhat, rstd, wd, axes, count)
                else:
                    dx = g * (rstd * wd if wd is not None else rstd)
            if rw:
                dw = (g * xhat).sum(axis=axes)
            if rb:
                db = g.sum(axis=axes)
            return dx, None, None, dw, db
        return _node(y, (x, None, None, weight, bias), bw, "BatchNormBackward")
    return _plain(y)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing ``normalized_shape`` dims, then * weight + bias."""
    call = "nervo.nn.functional.layer_norm"
    x = _t(input)
    xd = x._data
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if xd.shape[xd.ndim - len(ns):] != ns or len(ns) > xd.ndim:
        raise ValueError(f"{call}: input shape {tuple(xd.shape)} does not end with "
                         f"normalized_shape {ns}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != ns:
            raise ValueError(f"{call}: {name} has shape {tuple(t.shape)}, expected {ns}")
    axes = tuple(range(xd.ndim - len(ns), xd.ndim))
    # TODO(kernel): ops.layer_norm / layer_norm_backward
    mean = xd.mean(axis=axes, keepdims=True)
    xc = xd - mean
    var = (xc * xc).mean(axis=axes, keepdims=True)
    rstd = (1.0 / np.sqrt(var + eps)).astype(xd.dtype, copy=False)
    xhat = xc * rstd
    wd = weight._data if weight is not None else None
    y = xhat * wd if wd is not None else xhat
    if bias is not None:
        y = y + bias._data
    rx = x.requires_grad
    rw = weight is not None and weight.requires_grad
    rb = bias is not None and bias.requires_grad
    if (rx or rw or rb) and _mode.enabled:
        lead = tuple(range(xd.ndim - len(ns)))

        def bw(g):
            dx = _norm_backward(g, xhat, rstd, wd, axes, 0) if rx else None
            dw = (g * xhat).sum(axis=lead) if rw else None
            db = g.sum(axis=lead) if rb else None
            return dx, dw, db
        return _node(y, (x, weight, bias), bw, "LayerNormBackward")
    return _plain(y)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize over groups of C/num_groups channels (and all spatial positions)."""
    call = "nervo.nn.functional.group_norm"
    x = _t(input)
    xd = x._data
    if xd.ndim < 2 or xd.shape[1] % num_groups:
        raise ValueError(f"{call}: input of shape {tuple(xd.shape)} has channels not divisible "
                         f"into {num_groups} groups")
    N, C = xd.shape[:2]
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (C,):
            raise ValueError(f"{call}: {name} has shape {tuple(t.shape)}, expected ({C},)")
    # TODO(kernel): ops.group_norm / group_norm_backward
    xg = xd.reshape(N, num_groups, -1)
    mean = xg.mean(axis=2, keepdims=True)
    xc = xg - mean
    var = (xc * xc).mean(axis=2, keepdims=True)
    rstd = (1.0 / np.sqrt(var + eps)).astype(xd.dtype, copy=False)
    xhat = (xc * rstd).reshape(xd.shape)
    bshape = (1, C) + (1,) * (xd.ndim - 2)
    wd = weight._data.reshape(bshape) if weight is not None else None
    y = xhat * wd if wd is not None else xhat
    if bias is not None:
        y = y + bias._data.reshape(bshape)
    rx = x.requires_grad
    rw = weight is not None and weight.requires_grad
    rb = bias is not None and bias.requires_grad
    if (rx or rw or rb) and _mode.enabled:
        axes = (0,) + tuple(range(2, xd.ndim))

        def bw(g):
            dx = dw = db = None
            if rx:
                gx = (g * wd if wd is not None else g).reshape(N, num_groups, -1)
                xh = xhat.reshape(N, num_groups, -1)
                m1 = gx.mean(axis=2, keepdims=True)
                m2 = (gx * xh).mean(axis=2, keepdims=True)
                dx = ((gx - m1 - xh * m2) * rstd).reshape(xd.shape)
            if rw:
                dw = (g * xhat).sum(axis=axes)
            if rb:
                db = g.sum(axis=axes)
            return dx, dw, db
        return _node(y, (x, weight, bias), bw, "GroupNormBackward")
    return _plain(y)


def instance_norm(input, weight=None, bias=None, eps=1e-5):
    """Per-sample, per-channel normalization (group_norm with one channel per group)."""
    x = _t(input)
    return group_norm(x, x.shape[1], weight, bias, eps)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """x / max(||x||_p, eps) along ``dim``."""
    from nervo.functional.basic import clamp, norm
    x = _t(input)
    return x / clamp(norm(x, p, dim, keepdim=True), min=eps)
