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
    """In-place relu (torch.relu_), recorded by autograd like every in-place op."""
    if input._record():
        return input._inplace_op("relu_", (), relu)
    ops.relu(input._data, out=input._data)
    return input._wrote()


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


def softmax(input, dim=None, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim``."""
    x = _float(input, "softmax")
    if dtype is not None:
        x = x.to(dtype)
    xd = x._data
    d = _softmax_dim(xd, dim, "softmax")
    y = ops.softmax(xd, d)
    if x.requires_grad and _mode.enabled:
        return _node(y, (x,), lambda g: (ops.softmax_backward(g, y, d),), "SoftmaxBackward")
    return _plain(y)


def log_softmax(input, dim=None, dtype=None):
    """x - logsumexp(x) along ``dim``, stable for large |x|."""
    x = _float(input, "log_softmax")
    if dtype is not None:
        x = x.to(dtype)
    xd = x._data
    d = _softmax_dim(xd, dim, "log_softmax")
    y = ops.log_softmax(xd, d)
    if x.requires_grad and _mode.enabled:
        return _node(y, (x,), lambda g: (ops.log_softmax_backward(g, y, d),),
                     "LogSoftmaxBackward")
    return _plain(y)


def softmin(input, dim=None, dtype=None):
    return softmax(-_float(input, "softmin"), dim, dtype)


# --------------------------------------------------------------------------- double backward
# Differentiable backwards for create_graph=True (see nervo.functional.basic). Activations whose
# derivative is short are written out; the others rebuild the forward from Tensor ops and
# differentiate that (``_recompute``).
from nervo.autograd import twice as _twice, saved as _saved  # noqa: E402
from nervo.functional import basic as _B  # noqa: E402

_c = _B._c


@_twice("reluBackward")
def _relu_tw(node, out, g):
    return (g * _c(out._data > 0, g.dtype),)


@_twice("sigmoidBackward")
def _sigmoid_tw(node, out, g):
    return (g * (out * (1.0 - out)),)


@_twice("tanhBackward")
def _tanh_tw(node, out, g):
    return (g * (1.0 - out * out),)


@_twice("LeakyReluBackward")
def _leaky_relu_tw(node, out, g):
    s = _saved(node.backward)
    xd = s["xd"]
    one = xd.dtype.type
    return (g * _plain(np.where(xd > 0, one(1), one(s["negative_slope"]))),)


@_twice("EluBackward")
def _elu_tw(node, out, g):
    s = _saved(node.backward)
    return (g * where(s["xd"] > 0, 1.0, _B.exp(node.inputs[0]) * s["alpha"]),)


@_twice("SoftplusBackward")
def _softplus_tw(node, out, g):
    s = _saved(node.backward)
    x, beta = node.inputs[0], s["beta"]
    return (g * where(s["xd"] * beta > s["threshold"], 1.0, sigmoid(x * beta)),)


@_twice("HardtanhBackward")
def _hardtanh_tw(node, out, g):
    s = _saved(node.backward)
    xd = s["xd"]
    return (g * _c((xd > s["min_val"]) & (xd < s["max_val"]), g.dtype),)


@_twice("HardsigmoidBackward")
def _hardsigmoid_tw(node, out, g):
    xd = _saved(node.backward)["xd"]
    return (g * _c(((xd > -3) & (xd < 3)) / 6, g.dtype),)


@_twice("SoftsignBackward")
def _softsign_tw(node, out, g):
    d = _B.abs(node.inputs[0]) + 1.0
    return (g / (d * d),)


@_twice("LogSigmoidBackward")
def _logsigmoid_tw(node, out, g):
    return (g * sigmoid(_B.neg(node.inputs[0])),)


@_twice("PreluBackward")
def _prelu_tw(node, out, g):
    s = _saved(node.backward)
    x, w = node.inputs
    neg, ws, xd = s["neg"], s["ws"], s["xd"]
    gx = where(neg, g * w.reshape(ws.shape), g) if x.requires_grad else None
    gw = None
    if w.requires_grad:
        t = where(neg, g * x, 0.0)
        gw = t.sum() if w.numel() == 1 else t.sum((0,) + tuple(range(2, xd.ndim)))
        gw = gw.reshape(w.shape)
    return gx, gw


@_twice("SoftmaxBackward")
def _softmax_tw(node, out, g):
    d = _saved(node.backward)["d"]
    return (out * (g - (g * out).sum(d, keepdim=True)),)


@_twice("LogSoftmaxBackward")
def _log_softmax_tw(node, out, g):
    d = _saved(node.backward)["d"]
    return (g - _B.exp(out) * g.sum(d, keepdim=True),)


def _selu_c(node, x):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return where(x._data > 0, x, (_B.exp(_B.clamp(x, max=0.0)) - 1.0) * alpha) * scale


def _softplus_c(x):
    return _B.log1p(_B.exp(_B.neg(_B.abs(x)))) + _B.clamp(x, min=0.0)


_twice("seluBackward")(_B._recompute(_selu_c))
_twice("siluBackward")(_B._recompute(lambda node, x: x * sigmoid(x)))
_twice("mishBackward")(_B._recompute(lambda node, x: x * tanh(_softplus_c(x))))
_twice("hardswishBackward")(_B._recompute(
    lambda node, x: x * _B.clamp(x + 3.0, 0.0, 6.0) * (1.0 / 6.0)))


def _gelu_tanh_c(node, x):
    k = float(np.sqrt(2.0 / np.pi))
    return x * 0.5 * (tanh((x + x * x * x * 0.044715) * k) + 1.0)


_gelu_tanh_tw = _B._recompute(_gelu_tanh_c)
_INV_SQRT_2PI = float(1.0 / np.sqrt(2.0 * np.pi))


def _gelu_grad(x):
    """gelu'(x) = Phi(x) + x phi(x) as a recorded op (its derivative is phi(x) (2 - x^2))."""
    xd = x._data
    d = ops.gelu_backward(np.ones_like(xd), xd, "none")
    if x.requires_grad and _mode.enabled:
        def bw(h):
            return (h * (np.exp(-0.5 * xd * xd) * _INV_SQRT_2PI * (2 - xd * xd)).astype(
                xd.dtype, copy=False),)
        return _node(d, (x,), bw, "GeluGradBackward")
    return _plain(d)


@_twice("GeluGradBackward")
def _gelu_grad_tw(node, out, g):
    x = node.inputs[0]
    return (g * _B.exp(x * x * -0.5) * _INV_SQRT_2PI * (2.0 - x * x),)


@_twice("GeluBackward")
def _gelu_tw(node, out, g):
    if _saved(node.backward)["approximate"] == "tanh":
        return _gelu_tanh_tw(node, out, g)
    return (g * _gelu_grad(node.inputs[0]),)


del clamp
