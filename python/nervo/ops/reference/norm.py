"""NumPy references of batch, layer and group normalization and their gradients (float64).
Gradients are the textbook formulas written out from xhat = (x - mean) * rstd."""
import numpy as np


def _bcast(v, x, axis=1):
    shape = [1] * x.ndim
    shape[axis] = -1
    return v.reshape(shape)


def batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps):
    """(y, mean, rstd, new_running_mean, new_running_var)."""
    x = x.astype(np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    n = x.size // x.shape[1]
    if training or running_mean is None:
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
    else:
        mean = running_mean.astype(np.float64)
        var = running_var.astype(np.float64)
    rstd = 1 / np.sqrt(var + eps)
    y = (x - _bcast(mean, x)) * _bcast(rstd, x)
    if weight is not None:
        y = y * _bcast(weight.astype(np.float64), x)
    if bias is not None:
        y = y + _bcast(bias.astype(np.float64), x)
    rm, rv = running_mean, running_var
    if training and running_mean is not None:
        rm = (1 - momentum) * running_mean + momentum * mean
        rv = (1 - momentum) * running_var + momentum * var * n / (n - 1)
    return y, mean, rstd, rm, rv


def batch_norm_backward(dy, x, weight, mean, rstd, training):
    dy = dy.astype(np.float64)
    x = x.astype(np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    n = x.size // x.shape[1]
    xhat = (x - _bcast(mean, x)) * _bcast(rstd, x)
    w = np.ones(x.shape[1]) if weight is None else weight.astype(np.float64)
    db = dy.sum(axis=axes)
    dw = (dy * xhat).sum(axis=axes)
    if training:
        dx = _bcast(w * rstd, x) * (dy - _bcast(db / n, x) - xhat * _bcast(dw / n, x))
    else:
        dx = dy * _bcast(w * rstd, x)
    return dx, dw, db


def layer_norm(x, normalized_shape, weight, bias, eps):
    x = x.astype(np.float64)
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    rstd = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    y = (x - mean) * rstd
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    lead = x.shape[:x.ndim - len(normalized_shape)]
    return y, mean.reshape(lead), rstd.reshape(lead)


def layer_norm_backward(dy, x, normalized_shape, weight, eps=1e-5):
    dy = dy.astype(np.float64)
    x = x.astype(np.float64)
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    lead_axes = tuple(range(x.ndim - len(normalized_shape)))
    mean = x.mean(axis=axes, keepdims=True)
    rstd = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    xhat = (x - mean) * rstd
    g = dy * (1 if weight is None else weight)
    D = int(np.prod(normalized_shape))
    dx = rstd * (g - g.sum(axis=axes, keepdims=True) / D
                 - xhat * (g * xhat).sum(axis=axes, keepdims=True) / D)
    return dx, (dy * xhat).sum(axis=lead_axes), dy.sum(axis=lead_axes)


def group_norm(x, G, weight, bias, eps):
    x = x.astype(np.float64)
    N, C = x.shape[:2]
    xg = x.reshape(N, G, (C // G) * int(np.prod(x.shape[2:])))
    mean = xg.mean(axis=2)
    rstd = 1 / np.sqrt(xg.var(axis=2) + eps)
    y = ((xg - mean[:, :, None]) * rstd[:, :, None]).reshape(x.shape)
    if weight is not None:
        y = y * _bcast(weight.astype(np.float64), x)
    if bias is not None:
        y = y + _bcast(bias.astype(np.float64), x)
    return y, mean, rstd


def group_norm_backward(dy, x, G, weight, eps=1e-5):
    dy = dy.astype(np.float64)
    x = x.astype(np.float64)
    N, C = x.shape[:2]
    _, mean, rstd = group_norm(x, G, None, None, eps)
    xhat = ((x.reshape(N, G, (C // G) * int(np.prod(x.shape[2:]))) - mean[:, :, None]) * rstd[:, :, None]).reshape(x.shape)
    w = np.ones(C) if weight is None else weight.astype(np.float64)
    M = (C // G) * int(np.prod(x.shape[2:]))
    g = (dy * _bcast(w, x)).reshape(N, G, M)
    xh = xhat.reshape(N, G, M)
    dx = rstd[:, :, None] * (g - g.sum(axis=2, keepdims=True) / M
                             - xh * (g * xh).sum(axis=2, keepdims=True) / M)
    axes = (0,) + tuple(range(2, x.ndim))
    return dx.reshape(x.shape), (dy * xhat).sum(axis=axes), dy.sum(axis=axes)
