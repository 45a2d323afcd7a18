"""Linear and bilinear layers as differentiable ops: one GEMM call each way.

Sizes: input (..., K) -> output (..., N); weight (N, K) as in torch; M = rows of the flattened
input. Forward is ``gemm(x, W, trans_b=True, bias=b, activation=act)`` (bias and activation in
the GEMM's epilogue); backward is ``dx = g @ W`` and ``dW = g.T @ x`` (two GEMMs, the second
skipped when the weight is frozen, the first when the input needs no gradient) and ``db = sum(g)``.
"""
from __future__ import annotations

import numpy as np

from nervo import ops
from nervo.backend import K
from nervo.autograd import mode as _mode
from nervo.functional.basic import _node, _plain, _t
from nervo.tensor import Tensor

__all__ = ["linear", "bilinear"]

_ACT_BACKWARD = {None: None, "relu": ops.relu_backward, "sigmoid": ops.sigmoid_backward,
                 "tanh": ops.tanh_backward}


_ACT_ID = {None: 0, "relu": 1, "gelu": 2, "sigmoid": 3, "tanh": 4}  # csrc/ops/gemm/gemm.h Act
_FAST_ACT = {k: v for k, v in _ACT_ID.items() if k != "gelu"}  # linear() does not offer gelu


def _gemm(a, b, trans_a=False, trans_b=False, bias=None, activation=None):
    """act(op(a) @ op(b) + bias) into a new array: the GEMM kernel called directly.

    NOTE: this skips nervo.ops.gemm's argument checks on purpose (they cost as much as a
    batch-1 GEMV): linear() has already checked ranks, sizes and dtypes, and the kernel's
    binding re-validates strides and shapes, so a bad call still raises instead of crashing.
    """
    m = a.shape[1] if trans_a else a.shape[0]
    n = b.shape[0] if trans_b else b.shape[1]
    out = np.empty((m, n), a.dtype)
    K["gemm"](a, b, out, trans_a, trans_b, 1.0, 0.0, bias, _ACT_ID[activation])
    return out


def _linear_checked(xd, wd, bd, activation):
    """linear's forward with every argument check (clear errors); returns (y, x as 2-D)."""
    if xd.ndim == 0 or xd.shape[-1] != wd.shape[1]:
        raise ValueError(f"nervo.nn.functional.linear: input has shape {tuple(xd.shape)} but the "
                         f"weight expects {wd.shape[1]} input features (weight.shape="
                         f"{tuple(wd.shape)})")
    if bd is not None and bd.shape != (wd.shape[0],):
        raise ValueError(f"nervo.nn.functional.linear: bias has shape {tuple(bd.shape)}, expected "
                         f"({wd.shape[0]},)")
    if xd.dtype != wd.dtype:
        raise TypeError(f"nervo.nn.functional.linear: input is {xd.dtype} but the weight is "
                        f"{wd.dtype}; convert one of them (e.g. x.float())")
    if wd.dtype.kind != "f" or wd.dtype.itemsize < 4:
        raise TypeError(f"nervo.nn.functional.linear: weight must be float32 or float64, got "
                        f"{wd.dtype}")
    if activation not in _ACT_ID or activation == "gelu":
        raise ValueError(f"nervo.nn.functional.linear: activation must be None, 'relu', "
                         f"'sigmoid' or 'tanh', got {activation!r}")
    if bd is not None and (bd.dtype != wd.dtype or not bd.flags.c_contiguous):
        bd = np.ascontiguousarray(bd, wd.dtype)
    lead = xd.shape[:-1]
    x2 = xd if xd.ndim == 2 else xd.reshape(-1, xd.shape[-1])
    y = _gemm(x2, wd, trans_b=True, bias=bd, activation=activation)
    if xd.ndim != 2:
        y = y.reshape(lead + (wd.shape[0],))
    return y, x2


def linear(input, weight, bias=None, activation=None):
    """y = act(x @ W.T + b) (torch.nn.functional.linear, plus nervo's fused ``activation``: None,
    "relu", "sigmoid" or "tanh", applied in the GEMM epilogue).

    Shape: input (*, K), weight (N, K), bias (N,) -> (*, N).

    Raises:
        ValueError: input's last dimension differs from weight's second, or the bias length
            differs from weight's first dimension.
    """
    x = input if type(input) is Tensor else _t(input)
    xd, wd = x._data, weight._data
    bd = bias._data if bias is not None else None
    y = None
    # Fast path (2-D input, valid activation): call the GEMM directly and let its binding
    # validate (it checks shapes, dtypes, bias layout and raises); on any error the checked path
    # below runs and raises the precise, layer-level message (or fixes a strided bias).
    act = _FAST_ACT.get(activation) if activation is None or type(activation) is str else None
    if act is not None and xd.ndim == 2:
        try:
            y = np.empty((xd.shape[0], wd.shape[0]), xd.dtype)
            K["gemm"](xd, wd, y, False, True, 1.0, 0.0, bd, act)
            x2 = xd
        except Exception:
            y = None
    if y is None:
        y, x2 = _linear_checked(xd, wd, bd, activation)
    rx, rw = x.requires_grad, weight.requires_grad
    rb = bias is not None and bias.requires_grad
    if (rx or rw or rb) and _mode.enabled:
        act_bw = _ACT_BACKWARD[activation] if activation is not None else None

        def bw(g):
            if act_bw is not None:
                g = act_bw(g, y)
            g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])
            if not g2.flags.c_contiguous:
                g2 = np.ascontiguousarray(g2)
            dx = dw = db = None
            if rx:
                dx = _gemm(g2, wd)
                if xd.ndim != 2:
                    dx = dx.reshape(xd.shape)
            if rw:
                dw = _gemm(g2, x2, trans_a=True)
            if rb:
                db = g2.sum(axis=0)
            return dx, dw, db
        return _node(y, (x, weight, bias), bw, "LinearBackward")
    return _plain(y)


def bilinear(input1, input2, weight, bias=None):
    """y_k = x1 @ W_k @ x2 + b_k. Shape: (*, K1), (*, K2), weight (N, K1, K2) -> (*, N)."""
    x1, x2 = _t(input1), _t(input2)
    if weight.ndim != 3 or x1.shape[-1] != weight.shape[1] or x2.shape[-1] != weight.shape[2]:
        raise ValueError(f"nervo.nn.functional.bilinear: inputs of shapes {tuple(x1.shape)} and "
                         f"{tuple(x2.shape)} do not match weight.shape={tuple(weight.shape)}")
    n, k1, k2 = weight.shape
    # (M, K1) @ (K1, N*K2) -> (M, N, K2), times x2 summed over K2.
    w2 = weight.permute(1, 0, 2).reshape(k1, n * k2)
    t = (x1.reshape(-1, k1) @ w2).reshape(-1, n, k2)
    y = (t * x2.reshape(-1, 1, k2)).sum(-1)
    if bias is not None:
        y = y + bias
    return y.reshape(tuple(x1.shape[:-1]) + (n,))


# --------------------------------------------------------------------------- double backward
from nervo.autograd import twice as _twice, saved as _saved  # noqa: E402
from nervo.functional import basic as _B  # noqa: E402


@_twice("LinearBackward")
def _linear_tw(node, out, g):
    """dx = g' @ W, dW = g'.T @ x, db = sum(g'), g' = g * act'(y): recorded ops (create_graph)."""
    s = _saved(node.backward)
    x, w, b = node.inputs
    act_bw = s["act_bw"]
    if act_bw is ops.relu_backward:
        g = g * _B._c(out._data > 0, g.dtype)
    elif act_bw is ops.sigmoid_backward:
        g = g * (out * (1.0 - out))
    elif act_bw is ops.tanh_backward:
        g = g * (1.0 - out * out)
    g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])
    dx = dw = db = None
    if s["rx"]:
        dx = _B.matmul(g2, w)
        if x.ndim != 2:
            dx = dx.reshape(x.shape)
    if s["rw"]:
        x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
        dw = _B.matmul(_B.transpose(g2, 0, 1), x2)
    if s["rb"]:
        db = g2.sum(0)
    return dx, dw, db
