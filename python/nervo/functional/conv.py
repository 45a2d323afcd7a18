"""Convolutions as differentiable ops: one ``nervo.ops.conv2d`` call forward, one
``conv2d_backward`` call for all of (dx, dw, db).

Vocabulary: input (N, C, H, W), weight (K, C/groups, R, S), output (N, K, Ho, Wo). conv1d is
conv2d with H = R = 1; conv_transpose2d is the data-gradient of a conv2d (and vice versa).
"""
from __future__ import annotations

import numpy as np

from nervo import ops
from nervo.autograd import mode as _mode
from nervo.backend import K
from nervo.functional.basic import _node, _plain, _t
from nervo.ops.conv import conv_output_size

# Largest output (elements) the fast path allocates; bigger calls go through nervo.ops, whose
# overflow checks give the clear error.
_FAST_NUMEL = 1 << 40

__all__ = ["conv1d", "conv2d", "conv_transpose2d"]


def _tuple(v, n, call, arg):
    if isinstance(v, (int, np.integer)):
        return (int(v),) * n
    v = tuple(int(e) for e in v)
    if len(v) != n:
        raise ValueError(f"{call}: {arg} must be an int or a tuple of {n} ints, got {v}")
    return v


def _check(xd, wd, bd, groups, call, in_dims):
    if xd.ndim != in_dims + 2:
        raise ValueError(f"{call}: expected a {in_dims + 2}-D input (batch, channels, "
                         f"{'H, W' if in_dims == 2 else 'L'}), got shape {tuple(xd.shape)}")
    if xd.shape[1] != wd.shape[1] * groups:
        raise ValueError(f"{call}: input has {xd.shape[1]} channels but the weight expects "
                         f"{wd.shape[1] * groups} (weight.shape={tuple(wd.shape)}, groups={groups})")
    if bd is not None and bd.shape != (wd.shape[0],):
        raise ValueError(f"{call}: bias has shape {tuple(bd.shape)}, expected ({wd.shape[0]},)")
    if xd.dtype != wd.dtype:
        raise TypeError(f"{call}: input is {xd.dtype} but the weight is {wd.dtype}")


def _conv2d_fast(xd, wd, bd, st, pd, dl, groups, activation):
    """The conv2d kernel called directly, or None where nervo.ops.conv2d must run.

    NOTE: nervo.ops.conv2d re-normalizes every argument (about 20 us per call, more than a batch-1
    kernel); conv2d() has already normalized them, and the binding checks ranks, channels,
    dtypes, contiguity and bias size. The output size is computed here with the same helper
    nervo.ops uses (the binding takes it from the output array); anything unusual (bad
    geometry, a huge output, a binding error) falls back to nervo.ops for its precise error."""
    if xd.ndim != 4 or wd.ndim != 4 or activation not in (None, "relu") or groups < 1 \
            or min(st) < 1 or min(dl) < 1 or min(pd) < 0:
        return None
    N, _, H, W = xd.shape
    Kc, _, R, S = wd.shape
    P = conv_output_size(H, R, st[0], 2 * pd[0], dl[0])
    Q = conv_output_size(W, S, st[1], 2 * pd[1], dl[1])
    if P <= 0 or Q <= 0 or N * Kc * P * Q > _FAST_NUMEL:
        return None
    try:
        y = np.empty((N, Kc, P, Q), xd.dtype)
        K["conv2d_forward"](xd, wd, bd, y, st[0], st[1], pd[0], pd[1], dl[0], dl[1], groups,
                            1 if activation == "relu" else 0)
    except Exception:
        return None
    return y


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, activation=None):
    """2-D cross-correlation (torch.nn.functional.conv2d). ``padding`` may be an int, a pair or
    "same"/"valid". nervo extension: ``activation="relu"`` is fused into the kernel's output pass
    (used by Sequential for Conv2d followed by ReLU).

    Shape: input (N, C, H, W), weight (K, C/groups, R, S), bias (K,) -> (N, K, Ho, Wo).
    """
    call = "nervo.nn.functional.conv2d"
    x = _t(input)
    xd, wd = x._data, weight._data
    bd = bias._data if bias is not None else None
    _check(xd, wd, bd, groups, call, 2)
    st = _tuple(stride, 2, call, "stride")
    dl = _tuple(dilation, 2, call, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            pd = (0, 0)
        elif padding == "same":
            tot = [dl[i] * (wd.shape[2 + i] - 1) for i in range(2)]
            if any(t % 2 for t in tot) or st != (1, 1):
                raise ValueError(f"{call}: padding='same' needs stride 1 and an even total padding")
            pd = (tot[0] // 2, tot[1] // 2)
        else:
            raise ValueError(f"{call}: padding must be an int, a pair, 'same' or 'valid', got "
                             f"{padding!r}")
    else:
        pd = _tuple(padding, 2, call, "padding")
    y = _conv2d_fast(xd, wd, bd, st, pd, dl, groups, activation)
    if y is None:
        y = ops.conv2d(xd, wd, bd, stride=st, padding=pd, dilation=dl, groups=groups,
                       activation=activation)
    rx, rw = x.requires_grad, weight.requires_grad
    rb = bias is not None and bias.requires_grad
    if (rx or rw or rb) and _mode.enabled:
        bwd = ops.conv2d_backward
        relu = activation == "relu"

        def bw(g):
            if relu:
                g = ops.relu_backward(g, y)
            return bwd(g, xd, wd, stride=st, padding=pd, dilation=dl, groups=groups,
                       needs=(rx, rw, rb))
        return _node(y, (x, weight, bias), bw, "ConvolutionBackward")
    return _plain(y)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation. Shape: input (N, C, L), weight (K, C/groups, R) -> (N, K, Lo)."""
    call = "nervo.nn.functional.conv1d"
    x = _t(input)
    _check(x._data, weight._data, None if bias is None else bias._data, groups, call, 1)
    if isinstance(padding, str):
        pad2 = padding
    else:
        pad2 = (0, _tuple(padding, 1, call, "padding")[0])
    y = conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, _tuple(stride, 1, call, "stride")[0]),
               pad2, (1, _tuple(dilation, 1, call, "dilation")[0]), groups)
    return y.squeeze(2)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed 2-D convolution (the gradient of conv2d w.r.t. its input).

    Shape: input (N, C, H, W), weight (C, K/groups, R, S) as in torch, bias (K,) ->
    (N, K, (H-1)*stride - 2*padding + dilation*(R-1) + output_padding + 1, ...).
    """
    call = "nervo.nn.functional.conv_transpose2d"
    x = _t(input)
    xd, wd = x._data, weight._data
    if xd.ndim != 4 or xd.shape[1] != wd.shape[0]:
        raise ValueError(f"{call}: input of shape {tuple(xd.shape)} does not match weight.shape="
                         f"{tuple(wd.shape)} (input channels must equal weight.shape[0])")
    st = _tuple(stride, 2, call, "stride")
    pd = _tuple(padding, 2, call, "padding")
    op = _tuple(output_padding, 2, call, "output_padding")
    dl = _tuple(dilation, 2, call, "dilation")
    if any(o >= max(s, d) for o, s, d in zip(op, st, dl)):
        raise ValueError(f"{call}: output_padding {op} must be smaller than stride {st} or "
                         f"dilation {dl}")
    bd = bias._data if bias is not None else None
    y = ops.conv_transpose2d(xd, wd, bd, stride=st, padding=pd, output_padding=op,
                             groups=groups, dilation=dl)
    rx, rw = x.requires_grad, weight.requires_grad
    rb = bias is not None and bias.requires_grad
    if (rx or rw or rb) and _mode.enabled:
        def bw(g):
            return ops.conv_transpose2d_backward(g, xd, wd, stride=st, padding=pd,
                                                 output_padding=op, groups=groups, dilation=dl,
                                                 needs=(rx, rw, rb))
        return _node(y, (x, weight, bias), bw, "ConvTransposeBackward")
    return _plain(y)


# --------------------------------------------------------------------------- double backward
# conv2d is bilinear in (x, w): its input gradient is conv_transpose2d(g, w) and its weight
# gradient Wg(x, g) is bilinear in (x, g), with Wg's own gradients conv_transpose2d(g, h) (for x)
# and conv2d(x, h) (for g). Written with these recorded ops, every order is differentiable.
from nervo.autograd import twice as _twice, saved as _saved  # noqa: E402
from nervo.functional import basic as _B  # noqa: E402


def _out_pad(x_shape, g_shape, w_shape, st, pd, dl):
    """output_padding making conv_transpose2d of a (.., Ho, Wo) gradient land on x's (H, W)."""
    return tuple(x_shape[2 + i] - ((g_shape[2 + i] - 1) * st[i] - 2 * pd[i]
                                   + dl[i] * (w_shape[2 + i] - 1) + 1) for i in range(2))


def _conv2d_wgrad(x, g, wd, st, pd, dl, groups):
    """Wg(x, g): the weight gradient of conv2d (weight shaped like ``wd``) as a recorded op."""
    xd, gd = x._data, g._data
    dw = ops.conv2d_backward(gd, xd, wd, stride=st, padding=pd, dilation=dl, groups=groups,
                             needs=(False, True, False))[1]
    rx, rg = x.requires_grad, g.requires_grad
    if (rx or rg) and _mode.enabled:
        op = _out_pad(xd.shape, gd.shape, wd.shape, st, pd, dl)

        def bw(h):
            h = np.ascontiguousarray(h, wd.dtype)
            return (ops.conv_transpose2d(gd, h, None, stride=st, padding=pd, output_padding=op,
                                         groups=groups, dilation=dl) if rx else None,
                    ops.conv2d(xd, h, None, stride=st, padding=pd, dilation=dl, groups=groups)
                    if rg else None)
        return _node(dw, (x, g), bw, "ConvWeightGradBackward")
    return _plain(dw)


@_twice("ConvWeightGradBackward")
def _wgrad_tw(node, out, h):
    s = _saved(node.backward)
    x, g = node.inputs
    st, pd, dl, groups = s["st"], s["pd"], s["dl"], s["groups"]
    return (conv_transpose2d(g, h, None, st, pd, s["op"], groups, dl) if s["rx"] else None,
            conv2d(x, h, None, st, pd, dl, groups) if s["rg"] else None)


@_twice("ConvolutionBackward")
def _conv2d_tw(node, out, g):
    s = _saved(node.backward)
    x, w, b = node.inputs
    st, pd, dl, groups = s["st"], s["pd"], s["dl"], s["groups"]
    if s["relu"]:
        g = g * _B._c(out._data > 0, g.dtype)
    dx = dw = db = None
    if s["rx"]:
        op = _out_pad(x.shape, g.shape, w.shape, st, pd, dl)
        dx = conv_transpose2d(g, w, None, st, pd, op, groups, dl)
    if s["rw"]:
        dw = _conv2d_wgrad(x, g, w._data, st, pd, dl, groups)
    if s["rb"]:
        db = g.sum((0, 2, 3))
    return dx, dw, db


@_twice("ConvTransposeBackward")
def _conv_transpose2d_tw(node, out, g):
    # y = conv_transpose2d(x, w) is the input gradient of conv2d(., w): its input gradient is
    # conv2d(g, w) and its weight gradient Wg(g, x).
    s = _saved(node.backward)
    x, w, b = node.inputs
    st, pd, dl, groups = s["st"], s["pd"], s["dl"], s["groups"]
    return (conv2d(g, w, None, st, pd, dl, groups) if s["rx"] else None,
            _conv2d_wgrad(g, x, w._data, st, pd, dl, groups) if s["rw"] else None,
            g.sum((0, 2, 3)) if s["rb"] else None)
