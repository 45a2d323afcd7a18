"""Elementwise activations and their backward passes (NumPy arrays in and out).

Every forward takes ``x`` (float32 or float64, any shape and layout) and an optional ``out=``
(same shape and dtype, C-contiguous, writable; may be ``x`` itself for an in-place update).
Every backward takes the gradient of the output ``dy`` and what is cheapest to save from the
forward: the output ``y`` for relu, sigmoid and tanh, the input ``x`` for all others. Semantics
(including NaN propagation and the gradient at kinks) follow torch.nn.functional.

Example:
    >>> import numpy as np, nervo.ops as ops
    >>> ops.relu(np.array([-1.0, 2.0], np.float32))
    array([0., 2.], dtype=float32)
"""
from __future__ import annotations

import numpy as np

from nervo.backend import K
from nervo.ops._check import float_array, output, real, same_shape

__all__ = [
    "relu", "relu_backward", "leaky_relu", "leaky_relu_backward", "elu", "elu_backward",
    "selu", "selu_backward", "gelu", "gelu_backward", "silu", "silu_backward", "mish",
    "mish_backward", "sigmoid", "sigmoid_backward", "tanh", "tanh_backward", "softplus",
    "softplus_backward", "hardtanh", "hardtanh_backward", "hardswish", "hardswish_backward",
]

# Op ids of csrc/ops/act/act.h.
RELU, LEAKY_RELU, ELU, SELU, GELU, GELU_TANH, SILU, MISH, SIGMOID, TANH, SOFTPLUS, HARDTANH, \
    HARDSWISH = range(13)


def _fwd(op: int, name: str, x, out, a: float = 0.0, b: float = 0.0) -> np.ndarray:
    call = f"nervo.ops.{name}"
    x = float_array(x, call, "x")
    out = output(out, x.shape, x.dtype, call, x)
    K["act_forward"](op, x, out, a, b)
    return out


def _bwd(op: int, name: str, dy, saved, saved_name: str, out, a: float = 0.0, b: float = 0.0):
    call = f"nervo.ops.{name}_backward"
    dy = float_array(dy, call, "dy")
    saved = float_array(saved, call, saved_name, dy.dtype)
    same_shape(dy, saved, call, "dy", saved_name)
    out = output(out, dy.shape, dy.dtype, call, dy, saved)
    K["act_backward"](op, saved, dy, out, a, b)
    return out


def relu(x, out=None):
    """max(x, 0). Returns an array shaped like x."""
    return _fwd(RELU, "relu", x, out)


def relu_backward(dy, y, out=None):
    """dy where y > 0, else 0 (from the forward output y)."""
    return _bwd(RELU, "relu", dy, y, "y", out)


def leaky_relu(x, negative_slope=0.01, out=None):
    """x if x > 0 else negative_slope * x."""
    s = real(negative_slope, "nervo.ops.leaky_relu", "negative_slope")
    return _fwd(LEAKY_RELU, "leaky_relu", x, out, s)


def leaky_relu_backward(dy, x, negative_slope=0.01, out=None):
    s = real(negative_slope, "nervo.ops.leaky_relu_backward", "negative_slope")
    return _bwd(LEAKY_RELU, "leaky_relu", dy, x, "x", out, s)


def elu(x, alpha=1.0, out=None):
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return _fwd(ELU, "elu", x, out, real(alpha, "nervo.ops.elu", "alpha"))


def elu_backward(dy, x, alpha=1.0, out=None):
    return _bwd(ELU, "elu", dy, x, "x", out, real(alpha, "nervo.ops.elu_backward", "alpha"))


def selu(x, out=None):
    """scale * (x if x > 0 else alpha * (exp(x) - 1)) with torch's scale and alpha."""
    return _fwd(SELU, "selu", x, out)


def selu_backward(dy, x, out=None):
    return _bwd(SELU, "selu", dy, x, "x", out)


def _gelu_op(approximate, call):
    if approximate == "none":
        return GELU
    if approximate == "tanh":
        return GELU_TANH
    raise ValueError(f"{call}: approximate must be 'none' or 'tanh', got {approximate!r}")


def gelu(x, approximate="none", out=None):
    """x * Phi(x) (exact, erf) or its tanh approximation (approximate='tanh')."""
    return _fwd(_gelu_op(approximate, "nervo.ops.gelu"), "gelu", x, out)


def gelu_backward(dy, x, approximate="none", out=None):
    return _bwd(_gelu_op(approximate, "nervo.ops.gelu_backward"), "gelu", dy, x, "x", out)


def silu(x, out=None):
    """x * sigmoid(x)."""
    return _fwd(SILU, "silu", x, out)


def silu_backward(dy, x, out=None):
    return _bwd(SILU, "silu", dy, x, "x", out)


def mish(x, out=None):
    """x * tanh(softplus(x))."""
    return _fwd(MISH, "mish", x, out)


def mish_backward(dy, x, out=None):
    return _bwd(MISH, "mish", dy, x, "x", out)


def sigmoid(x, out=None):
    """1 / (1 + exp(-x)), without overflow for large |x|."""
    return _fwd(SIGMOID, "sigmoid", x, out)


def sigmoid_backward(dy, y, out=None):
    """dy * y * (1 - y) (from the forward output y)."""
    return _bwd(SIGMOID, "sigmoid", dy, y, "y", out)


def tanh(x, out=None):
    return _fwd(TANH, "tanh", x, out)


def tanh_backward(dy, y, out=None):
    """dy * (1 - y^2) (from the forward output y)."""
    return _bwd(TANH, "tanh", dy, y, "y", out)


def _softplus_args(beta, threshold, call):
    b = real(beta, call, "beta")
    if b == 0.0:
        raise ValueError(f"{call}: beta must be nonzero, got {beta!r}")
    return b, real(threshold, call, "threshold")


def softplus(x, beta=1.0, threshold=20.0, out=None):
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold."""
    b, t = _softplus_args(beta, threshold, "nervo.ops.softplus")
    return _fwd(SOFTPLUS, "softplus", x, out, b, t)


def softplus_backward(dy, x, beta=1.0, threshold=20.0, out=None):
    b, t = _softplus_args(beta, threshold, "nervo.ops.softplus_backward")
    return _bwd(SOFTPLUS, "softplus", dy, x, "x", out, b, t)


def _hardtanh_args(min_val, max_val, call):
    lo, hi = real(min_val, call, "min_val"), real(max_val, call, "max_val")
    if lo > hi:
        raise ValueError(f"{call}: min_val ({lo}) must not exceed max_val ({hi})")
    return lo, hi


def hardtanh(x, min_val=-1.0, max_val=1.0, out=None):
    """clamp(x, min_val, max_val)."""
    lo, hi = _hardtanh_args(min_val, max_val, "nervo.ops.hardtanh")
    return _fwd(HARDTANH, "hardtanh", x, out, lo, hi)


def hardtanh_backward(dy, x, min_val=-1.0, max_val=1.0, out=None):
    lo, hi = _hardtanh_args(min_val, max_val, "nervo.ops.hardtanh_backward")
    return _bwd(HARDTANH, "hardtanh", dy, x, "x", out, lo, hi)


def hardswish(x, out=None):
    """x * relu6(x + 3) / 6."""
    return _fwd(HARDSWISH, "hardswish", x, out)


def hardswish_backward(dy, x, out=None):
    return _bwd(HARDSWISH, "hardswish", dy, x, "x", out)
