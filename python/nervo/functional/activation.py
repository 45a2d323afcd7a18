"""Activations, softmax and log-softmax as differentiable ops on nervo's kernels.

Each activation calls the matching ``nervo.ops`` forward and, in backward, its ``*_backward``
with what is cheapest to save (the output for relu/sigmoid/tanh, the input otherwise).
"""
from __future__ import annotations

import numpy as np

from nervo import ops
from nervo.autograd import mode as _mode
from nervo.functional.basic import _node, _plain, _t, clamp, mul, where
from nervo.tensor import Tensor

__all__ = [
    "relu", "relu_", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish",
    "sigmoid", "tanh", "softplus", "hardtanh", "hardswish", "hardsigmoid", "softsign",
    "tanhshrink", "logsigmoid", "prelu", "softmax", "log_softmax", "softmin", "threshold",
    "glu",
]


def _float(x, call):
    x = _t(x)
    if x._data.dtype.kind != "f":
        raise TypeError(f"nervo.nn.functional.{call}: expected a float32 or float64 tensor, got "
                        f"{x._data.dtype}")
    return x


def _act_y(name, fwd, bwd):
    """Activation whose backward needs the output y."""
    def op(input, inplace=False):
        x = input if type(input) is Tensor else _float(input, name)
        xd = x._data
        y = fwd(xd)
        if x.requires_grad and _mode.enabled:
            return _node(y, (x,), lambda g: (bwd(g, y),), name + "Backward")
        return _plain(y)
    op.__name__ = name
    return op


def _act_x(name, fwd, bwd):
    """Activation whose backward needs the input x."""
    def op(input, inplace=False):
        x = input if type(input) is Tensor else _float(input, name)
        xd = x._data
        y = fwd(xd)
        if x.requires_grad and _mode.enabled:
            return _node(y, (x,), lambda g: (bwd(g, xd),), name + "Backward")
        return _plain(y)
    op.__name__ = name
    return op


relu = _act_y("relu", ops.relu, ops.relu_backward)
sigmoid = _act_y("sigmoid", ops.sigmoid, ops.sigmoid_backward)
tanh = _act_y("tanh", ops.tanh, ops.tanh_backward)
selu = _act_x("selu", ops.selu, ops.selu_backward)
silu = _act_x("silu", ops.silu, ops.silu_backward)
mish = _act_x("mish", ops.mish, ops.mish_backward)
hardswish = _act_x("hardswish", ops.hardswish, ops.hardswish_backward)


def relu_(input):
    """In-place relu on a tensor outside autograd (torch.relu_)."""
    input._inplace_ok("relu_")
    ops.relu(input._data, out=input._data)
    return input


def leaky_relu(input, negative_slope=0.01, inplace=False):
    x = _float(input, "leaky_relu")
    xd = x._data
    y = ops.leaky_relu(xd, negative_slope)
    if x.requires_grad and _mode.enabled:
        return _node(y, (x,), lambda g: (ops.leaky_relu_backward(g, xd, negative_slope),),
                     "LeakyReluBackward")
    return _plain(y)


def elu(input, alpha=1.0, inplace=False):
    x = _float(input, "elu")
    xd = x._data
    y = ops.elu(xd, alpha)
    if x.requires_grad and _mode.enabled:
        return _node(y, (x,), lambda g: (ops.elu_backward(g, xd, alpha),), "EluBackward")
    return _plain(y)


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)) = elu(x / alpha) * alpha."""
    if alpha == 0:
        raise ValueError("nervo.nn.functional.celu: alpha must be nonzero")
    return mul(elu(mul(input, 1.0 / alpha), 1.0), alpha)


def gelu(input, approximate="none"):
    x = _float(input, "gelu")
    xd = x._data
    y = ops.gelu(xd, approximate)
    if x.requires_grad and _mode.enabled:
        return _node(y, (x,), lambda g: (ops.gelu_backward(g, xd, approximate),), "GeluBackward")
    return _plain(y)


def softplus(input, beta=1.0, threshold=20.0):
    x = _float(input, "softplus")
    xd = x._data
    y = ops.softplus(xd, beta, threshold)
    if x.requires_grad and _mode.enabled:
        return _node(y, (x,), lambda g: (ops.softplus_backward(g, xd, beta, threshold),),
                     "SoftplusBackward")
    return _plain(y)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    x = _float(input, "hardtanh")
    xd = x._data
    y = ops.hardtanh(xd, min_val, max_val)
    if x.requires_grad and _mode.enabled:
        return _node(y, (x,), lambda g: (ops.hardtanh_backward(g, xd, min_val, max_val),),
                     "HardtanhBackward")
    return _plain(y)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input, inplace=False):
    """relu6(x + 3) / 6."""
    x = _float(input, "hardsigmoid")
    xd = x._data
    y = np.clip(xd / 6 + 0.5, 0, 1).astype(xd.dtype, copy=False)
    if x.requires_grad and _mode.enabled:
        return _node(y, (x,), lambda g: (g * ((xd > -3) & (xd < 3)) / 6,), "HardsigmoidBackward")
    return _plain(y)


def softsign(input):
    x = _float(input, "softsign")
    xd = x._data
    d = 1 + np.abs(xd)
    y = xd / d
    if x.requires_grad and _mode.enabled:
        return _node(y, (x,), lambda g: (g / (d * d),), "SoftsignBackward")
    return _plain(y)


def tanhshrink(input):
    x = _float(input, "tanhshrink")
    return x - tanh(x)


def logsigmoid(input):
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    x = _float(input, "logsigmoid")
    xd = x._data
    y = -np.logaddexp(0, -xd).astype(xd.dtype, copy=False)
    if x.requires_grad and _mode.enabled:
        return _node(y, (x,), lambda g: (g * ops.sigmoid(-xd),), "LogSigmoidBackward")
    return _plain(y)


def threshold(input, threshold, value, inplace=False):
    x = _float(input, "threshold")
    return where(x._data > threshold, x, value)


def prelu(input, weight):
    """max(0, x) + weight * min(0, x); ``weight`` has 1 or C (= input.shape[1]) entries."""
    x = _float(input, "prelu")
    xd, wd = x._data, weight._data
    if wd.size != 1 and (xd.ndim < 2 or xd.shape[1] != wd.size):
        raise ValueError(f"nervo.nn.functional.prelu: weight has {wd.size} entries but input has "
                         f"{xd.shape[1] if xd.ndim >= 2 else 1} channels (input shape "
                         f"{tuple(xd.shape)})")
    ws = wd.reshape((1, -1) + (1,) * (xd.ndim - 2)) if wd.size != 1 else wd.reshape(())
    neg = xd < 0
    y = np.where(neg, ws * xd, xd).astype(xd.dtype, copy=False)
    if (x.requires_grad or weight.requires_grad) and _mode.enabled:
        def bw(g):
            gx = np.where(neg, g * ws, g) if x.requires_grad else None
            gw = None
            if weight.requires_grad:
                t = np.where(neg, g * xd, 0)
                if wd.size == 1:
                    gw = np.asarray(t.sum(), wd.dtype).reshape(wd.shape)
                else:
                    axes = (0,) + tuple(range(2, xd.ndim))
                    gw = t.sum(axis=axes).astype(wd.dtype).reshape(wd.shape)
            return gx, gw
        return _node(y, (x, weight), bw, "PreluBackward")
    return _plain(y)


def glu(input, dim=-1):
    x = _float(input, "glu")
    n = x.shape[dim]
    if n % 2:
        raise ValueError(f"nervo.nn.functional.glu: dim {dim} has odd size {n}")
    a, b = x.split(n // 2, dim)
    return a * sigmoid(b)


# --------------------------------------------------------------------------- softmax family
def _softmax_dim(x, dim, call):
    if dim is None:
        dim = 0 if x.ndim in (0, 1, 3) else 1  # torch's legacy implicit-dim rule
    nd = x.ndim if x.ndim else 1
    if not -nd <= dim < nd:
        raise IndexError(f"nervo.nn.functional.{call}: dim {dim} out of range for a "
                         f"{x.ndim}-D tensor")
    return dim % nd


def _softmax_np(xd, d):
    # TODO(kernel): ops.softmax
    m = np.max(xd, axis=d, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    e = np.exp(xd - m)
    return e / e.sum(axis=d, keepdims=True)


def _log_softmax_np(xd, d):
    # TODO(kernel): ops.log_softmax
    m = np.max(xd, axis=d, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    s = xd - m
    return s - np.log(np.exp(s).sum(axis=d, keepdims=True))


def softmax(input, dim=None, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim``."""
    x = _float(input, "softmax")
    if dtype is not None:
        x = x.to(dtype)
    xd = x._data
    d = _softmax_dim(xd, dim, "softmax")
    if xd.ndim == 0:
        y = np.ones_like(xd)
    else:
        y = _softmax_np(xd, d).astype(xd.dtype, copy=False)
    if x.requires_grad and _mode.enabled:
        def bw(g):
            if xd.ndim == 0:
                return (np.zeros_like(g),)
            gy = g * y
            return (gy - y * gy.sum(axis=d, keepdims=True),)
        return _node(y, (x,), bw, "SoftmaxBackward")
    return _plain(y)


def log_softmax(input, dim=None, dtype=None):
    """x - logsumexp(x) along ``dim``, stable for large |x|."""
    x = _float(input, "log_softmax")
    if dtype is not None:
        x = x.to(dtype)
    xd = x._data
    d = _softmax_dim(xd, dim, "log_softmax")
    if xd.ndim == 0:
        y = np.zeros_like(xd)
    else:
        y = _log_softmax_np(xd, d).astype(xd.dtype, copy=False)
    if x.requires_grad and _mode.enabled:
        def bw(g):
            if xd.ndim == 0:
                return (np.zeros_like(g),)
            return (g - np.exp(y) * g.sum(axis=d, keepdims=True),)
        return _node(y, (x,), bw, "LogSoftmaxBackward")
    return _plain(y)


def softmin(input, dim=None, dtype=None):
    return softmax(-_float(input, "softmin"), dim, dtype)


del clamp
