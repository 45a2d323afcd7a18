"""Normalization layers' kernels, forward and backward (NumPy arrays in and out).

* ``batch_norm`` over (N, C) or (N, C, ...): statistics per channel. In training it updates the
  running statistics in place exactly like torch (momentum, unbiased variance for running_var).
* ``layer_norm`` over the trailing ``normalized_shape`` dimensions.
* ``group_norm`` over groups of channels of (N, C, ...).

Each forward returns ``(y, mean, rstd)`` (rstd = 1/sqrt(var + eps), biased variance): what the
backward needs. float32 and float64; statistics are accumulated in float64.

Example:
    >>> import numpy as np, nervo.ops as ops
    >>> y, mean, rstd = ops.layer_norm(np.array([[1.0, 3.0]]), (2,), eps=0.0)
    >>> y
    array([[-1.,  1.]])
"""
from __future__ import annotations

import numpy as np

from nervo.backend import K
from nervo.ops._check import float_array, fmt_shape, output, real
from nervo.ops._convutil import as_int

__all__ = ["batch_norm", "batch_norm_backward", "layer_norm", "layer_norm_backward",
           "group_norm", "group_norm_backward"]


def _param(a, call, arg, dtype, n):
    if a is None:
        return None
    a = float_array(a, call, arg, dtype)
    if a.shape != (n,):
        raise ValueError(f"{call}: {arg} has shape {fmt_shape(a.shape)}, expected ({n},)")
    return a


def _running(a, call, arg, dtype, n):
    """Running statistics are updated in place: never copied, so they must be exact."""
    if a is None:
        return None
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{call}: {arg} must be a numpy.ndarray or None, got {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"{call}: {arg} has dtype {a.dtype}, expected {dtype} (it is updated in "
                        f"place and never cast)")
    if a.shape != (n,):
        raise ValueError(f"{call}: {arg} has shape {fmt_shape(a.shape)}, expected ({n},)")
    if not a.flags.c_contiguous or not a.flags.writeable:
        raise ValueError(f"{call}: {arg} must be contiguous and writable (updated in place)")
    return a


def _eps(eps, call):
    e = real(eps, call, "eps")
    if not e >= 0:
        raise ValueError(f"{call}: eps must be >= 0, got {eps!r}")
    return e


def _needs(needs, call):
    if not isinstance(needs, (tuple, list)) or len(needs) != 3:
        raise ValueError(f"{call}: needs must be a triple of bools (dx, dweight, dbias), got {needs!r}")
    return tuple(bool(n) for n in needs)


def _nc(x, call):
    if x.ndim < 2:
        raise ValueError(f"{call}: x must have shape (N, C, ...), got {fmt_shape(x.shape)}")
    return x.shape[1]


def batch_norm(x, weight=None, bias=None, running_mean=None, running_var=None, *, training=False,
               momentum=0.1, eps=1e-5, out=None):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, per channel (dim 1).

    Args:
        x: (N, C) or (N, C, ...). weight, bias: (C,) or None. running_mean, running_var: (C,)
            arrays of x's dtype (updated in place when training) or both None.
        training: use the batch's statistics (and update the running ones); otherwise use the
            running statistics (the batch's when they are None, like torch).
        momentum: running = (1 - momentum) * running + momentum * batch statistic; the running
            variance takes the unbiased batch variance. (torch's momentum=None is not supported.)
    Returns:
        (y, mean, rstd): mean and rstd (C,) are the statistics used (pass them to the backward).
    Raises:
        ValueError: shapes; training with a single value per channel.
    """
    call = "nervo.ops.batch_norm"
    x = float_array(x, call, "x")
    C = _nc(x, call)
    weight = _param(weight, call, "weight", x.dtype, C)
    bias = _param(bias, call, "bias", x.dtype, C)
    rm = _running(running_mean, call, "running_mean", x.dtype, C)
    rv = _running(running_var, call, "running_var", x.dtype, C)
    if (rm is None) != (rv is None):
        raise ValueError(f"{call}: running_mean and running_var must both be arrays or both None")
    mom = real(momentum, call, "momentum")
    e = _eps(eps, call)
    batch_stats = bool(training) or rm is None
    count = x.size // C if C else 0
    if batch_stats and count == 1:
        raise ValueError(f"{call}: expected more than 1 value per channel when training, got "
                         f"input shape {fmt_shape(x.shape)}")
    y = output(out, x.shape, x.dtype, call, x)
    mean = np.empty(C, x.dtype)
    rstd = np.empty(C, x.dtype)
    # batch_stats with running arrays only happens in training: the kernel then updates them.
    K["batch_norm_forward"](x, weight, bias, rm, rv, mean, rstd, y, mom, e, batch_stats)
    return y, mean, rstd


def batch_norm_backward(dy, x, weight, mean, rstd, *, training=True, needs=(True, True, True)):
    """Gradients of batch_norm: (dx, dweight, dbias), None where not asked for in ``needs``
    (weight=None means a scale of 1; dweight, dbias are still computed when asked for).

    ``training`` says whether the forward used batch statistics (True) or fixed running ones.
    """
    call = "nervo.ops.batch_norm_backward"
    nx, nw, nb = _needs(needs, call)
    x = float_array(x, call, "x")
    dy = float_array(dy, call, "dy", x.dtype)
    if dy.shape != x.shape:
        raise ValueError(f"{call}: dy has shape {fmt_shape(dy.shape)} but x has shape "
                         f"{fmt_shape(x.shape)}")
    C = _nc(x, call)
    weight = _param(weight, call, "weight", x.dtype, C)
    mean = _param(mean, call, "mean", x.dtype, C)
    rstd = _param(rstd, call, "rstd", x.dtype, C)
    if mean is None or rstd is None:
        raise TypeError(f"{call}: mean and rstd (from the forward) are required")
    dx = np.empty(x.shape, x.dtype) if nx else None
    dw = np.empty(C, x.dtype) if nw else None
    db = np.empty(C, x.dtype) if nb else None
    K["batch_norm_backward"](dy, x, mean, rstd, weight, dx, dw, db, bool(training))
    return dx, dw, db


def _normalized(normalized_shape, x, call):
    ns = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) \
        else tuple(normalized_shape)
    ns = tuple(as_int(v, call, "normalized_shape") for v in ns)
    if not ns or len(ns) > x.ndim or x.shape[x.ndim - len(ns):] != ns:
        raise ValueError(f"{call}: normalized_shape {ns} must match the trailing dimensions of "
                         f"x {fmt_shape(x.shape)}")
    D = 1
    for v in ns:
        D *= v
    return ns, D


def _wshape(a, call, arg, dtype, ns):
    if a is None:
        return None
    a = float_array(a, call, arg, dtype)
    if a.shape != ns:
        raise ValueError(f"{call}: {arg} has shape {fmt_shape(a.shape)}, expected {fmt_shape(ns)}")
    return a


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5, out=None):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the trailing normalized_shape dims.

    Returns (y, mean, rstd) with mean, rstd of shape x.shape[:-len(normalized_shape)].
    """
    call = "nervo.ops.layer_norm"
    x = float_array(x, call, "x")
    ns, D = _normalized(normalized_shape, x, call)
    weight = _wshape(weight, call, "weight", x.dtype, ns)
    bias = _wshape(bias, call, "bias", x.dtype, ns)
    e = _eps(eps, call)
    lead = x.shape[:x.ndim - len(ns)]
    y = output(out, x.shape, x.dtype, call, x)
    mean = np.empty(lead, x.dtype)
    rstd = np.empty(lead, x.dtype)
    K["layer_norm_forward"](x, None if weight is None else weight.reshape(-1),
                            None if bias is None else bias.reshape(-1), mean, rstd, y, D, e)
    return y, mean, rstd


def layer_norm_backward(dy, x, normalized_shape, mean, rstd, weight=None, *,
                        needs=(True, True, True)):
    """Gradients of layer_norm: (dx, dweight, dbias), None where not asked for."""
    call = "nervo.ops.layer_norm_backward"
    nx, nw, nb = _needs(needs, call)
    x = float_array(x, call, "x")
    dy = float_array(dy, call, "dy", x.dtype)
    if dy.shape != x.shape:
        raise ValueError(f"{call}: dy has shape {fmt_shape(dy.shape)} but x has shape "
                         f"{fmt_shape(x.shape)}")
    ns, D = _normalized(normalized_shape, x, call)
    weight = _wshape(weight, call, "weight", x.dtype, ns)
    lead = x.shape[:x.ndim - len(ns)]
    mean = float_array(mean, call, "mean", x.dtype)
    rstd = float_array(rstd, call, "rstd", x.dtype)
    for a, n in ((mean, "mean"), (rstd, "rstd")):
        if a.shape != lead:
            raise ValueError(f"{call}: {n} has shape {fmt_shape(a.shape)}, expected {fmt_shape(lead)}")
    dx = np.empty(x.shape, x.dtype) if nx else None
    dw = np.empty(ns, x.dtype) if nw else None
    db = np.empty(ns, x.dtype) if nb else None
    K["layer_norm_backward"](dy, x, mean, rstd, None if weight is None else weight.reshape(-1),
                             dx, dw, db, D)
    return dx, dw, db


def _groups(num_groups, C, call):
    G = as_int(num_groups, call, "num_groups")
    if G < 1 or C % G:
        raise ValueError(f"{call}: num_groups={num_groups!r} must be >= 1 and divide the {C} "
                         f"channels")
    return G


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5, out=None):
    """Normalize each group of C/num_groups channels of each sample; per-channel weight, bias.

    Returns (y, mean, rstd) with mean, rstd of shape (N, num_groups).
    """
    call = "nervo.ops.group_norm"
    x = float_array(x, call, "x")
    C = _nc(x, call)
    G = _groups(num_groups, C, call)
    weight = _param(weight, call, "weight", x.dtype, C)
    bias = _param(bias, call, "bias", x.dtype, C)
    e = _eps(eps, call)
    y = output(out, x.shape, x.dtype, call, x)
    mean = np.empty((x.shape[0], G), x.dtype)
    rstd = np.empty((x.shape[0], G), x.dtype)
    K["group_norm_forward"](x, weight, bias, mean, rstd, y, G, e)
    return y, mean, rstd


def group_norm_backward(dy, x, num_groups, mean, rstd, weight=None, *, needs=(True, True, True)):
    """Gradients of group_norm: (dx, dweight, dbias), None where not asked for."""
    call = "nervo.ops.group_norm_backward"
    nx, nw, nb = _needs(needs, call)
    x = float_array(x, call, "x")
    dy = float_array(dy, call, "dy", x.dtype)
    if dy.shape != x.shape:
        raise ValueError(f"{call}: dy has shape {fmt_shape(dy.shape)} but x has shape "
                         f"{fmt_shape(x.shape)}")
    C = _nc(x, call)
    G = _groups(num_groups, C, call)
    weight = _param(weight, call, "weight", x.dtype, C)
    mean = float_array(mean, call, "mean", x.dtype)
    rstd = float_array(rstd, call, "rstd", x.dtype)
    for a, n in ((mean, "mean"), (rstd, "rstd")):
        if a.shape != (x.shape[0], G):
            raise ValueError(f"{call}: {n} has shape {fmt_shape(a.shape)}, expected "
                             f"{(x.shape[0], G)}")
    dx = np.empty(x.shape, x.dtype) if nx else None
    dw = np.empty(C, x.dtype) if nw else None
    db = np.empty(C, x.dtype) if nb else None
    K["group_norm_backward"](dy, x, mean, rstd, weight, dx, dw, db, G)
    return dx, dw, db
