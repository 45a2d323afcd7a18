"""Normalization layers as differentiable ops: batch_norm, layer_norm, group_norm.

Vocabulary: input (N, C, *) for batch/group norm (statistics per channel over N and *, or per
group over C/G and *), (*, D...) for layer norm (statistics over the trailing normalized_shape).
Forward (one ``nervo.ops`` call) returns the mean and inverse standard deviation it used; the
backward kernel takes them back.
"""
from __future__ import annotations

from nervo import ops
from nervo.autograd import mode as _mode
from nervo.functional.basic import _node, _plain, _t

__all__ = ["batch_norm", "layer_norm", "group_norm", "instance_norm", "normalize"]


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
    use_batch = training or running_mean is None
    y, mean, rstd = ops.batch_norm(
        xd, None if weight is None else weight._data, None if bias is None else bias._data,
        None if running_mean is None else running_mean._data,
        None if running_var is None else running_var._data,
        training=use_batch, momentum=momentum, eps=eps)
    rx = x.requires_grad
    rw = weight is not None and weight.requires_grad
    rb = bias is not None and bias.requires_grad
    if (rx or rw or rb) and _mode.enabled:
        wd = None if weight is None else weight._data

        def bw(g):
            dx, dw, db = ops.batch_norm_backward(g, xd, wd, mean, rstd, training=use_batch,
                                                 needs=(rx, rw, rb))
            return dx, None, None, dw, db
        out = _node(y, (x, None, None, weight, bias), bw, "BatchNormBackward")
        out.grad_fn.ctx = eps  # for the differentiable backward (create_graph)
        return out
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
    wd = weight._data if weight is not None else None
    y, mean, rstd = ops.layer_norm(xd, ns, wd, None if bias is None else bias._data, eps)
    rx = x.requires_grad
    rw = weight is not None and weight.requires_grad
    rb = bias is not None and bias.requires_grad
    if (rx or rw or rb) and _mode.enabled:
        def bw(g):
            return ops.layer_norm_backward(g, xd, ns, mean, rstd, wd, needs=(rx, rw, rb))
        out = _node(y, (x, weight, bias), bw, "LayerNormBackward")
        out.grad_fn.ctx = eps  # for the differentiable backward (create_graph)
        return out
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
    wd = weight._data if weight is not None else None
    y, mean, rstd = ops.group_norm(xd, num_groups, wd, None if bias is None else bias._data, eps)
    rx = x.requires_grad
    rw = weight is not None and weight.requires_grad
    rb = bias is not None and bias.requires_grad
    if (rx or rw or rb) and _mode.enabled:
        def bw(g):
            return ops.group_norm_backward(g, xd, num_groups, mean, rstd, wd, needs=(rx, rw, rb))
        out = _node(y, (x, weight, bias), bw, "GroupNormBackward")
        out.grad_fn.ctx = eps  # for the differentiable backward (create_graph)
        return out
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


# --------------------------------------------------------------------------- double backward
# create_graph=True: the normalizations are rebuilt from differentiable Tensor ops (mean, var,
# rsqrt) on the original inputs and differentiated with create_graph (basic._recompute).
from nervo.autograd import twice as _twice, saved as _saved  # noqa: E402
from nervo.functional import basic as _B  # noqa: E402


def _affine(y, w, b, shape):
    if w is not None:
        y = y * w.reshape(shape)
    if b is not None:
        y = y + b.reshape(shape)
    return y


def _normalized(x, dims, eps):
    xc = x - _B.mean(x, dims, keepdim=True)
    return xc * _B.rsqrt(_B.mean(xc * xc, dims, keepdim=True) + eps)


def _layer_norm_c(node, x, w, b):
    ns = _saved(node.backward)["ns"]
    dims = tuple(range(x.ndim - len(ns), x.ndim))
    return _affine(_normalized(x, dims, node.ctx), w, b, ns)


def _batch_norm_c(node, x, _rm, _rv, w, b):
    s = _saved(node.backward)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if s["use_batch"]:
        y = _normalized(x, (0,) + tuple(range(2, x.ndim)), node.ctx)
    else:  # running statistics: constants
        dt = x._data.dtype
        y = (x - _B._c(s["mean"].reshape(shape), dt)) * _B._c(s["rstd"].reshape(shape), dt)
    return _affine(y, w, b, shape)


def _group_norm_c(node, x, w, b):
    G = _saved(node.backward)["num_groups"]
    xs = x.shape
    y = _normalized(x.reshape(xs[0], G, -1), (2,), node.ctx).reshape(xs)
    return _affine(y, w, b, (1, -1) + (1,) * (x.ndim - 2))


_twice("LayerNormBackward")(_B._recompute(_layer_norm_c))
_twice("BatchNormBackward")(_B._recompute(_batch_norm_c))
_twice("GroupNormBackward")(_B._recompute(_group_norm_c))
