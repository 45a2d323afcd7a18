"""Convolutions as differentiable ops: one ``nervo.ops.conv2d`` call forward, one
``conv2d_backward`` call for all of (dx, dw, db).

Vocabulary: input (N, C, H, W), weight (K, C/groups, R, S), output (N, K, Ho, Wo). conv1d is
conv2d with H = R = 1; conv_transpose2d is the data-gradient of a conv2d (and vice versa).
"""
from __future__ import annotations

import numpy as np

from nervo import ops
from nervo.autograd import mode as _mode
from nervo.functional import _fallback
from nervo.functional.basic import _node, _plain, _t

__all__ = ["conv1d", "conv2d", "conv_transpose2d"]


def _kernel(name):
    fn = getattr(ops, name, None)
    return fn if fn is not None else getattr(_fallback, name)  # TODO(kernel)


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


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation (torch.nn.functional.conv2d). ``padding`` may be an int, a pair or
    "same"/"valid".

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
    y = _kernel("conv2d")(xd, wd, bd, stride=st, padding=pd, dilation=dl, groups=groups)
    rx, rw = x.requires_grad, weight.requires_grad
    rb = bias is not None and bias.requires_grad
    if (rx or rw or rb) and _mode.enabled:
        bwd = _kernel("conv2d_backward")

        def bw(g):
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
    N, C, H, W = xd.shape
    Cin, Kg, R, S = wd.shape
    K = Kg * groups
    Ho = (H - 1) * st[0] - 2 * pd[0] + dl[0] * (R - 1) + op[0] + 1
    Wo = (W - 1) * st[1] - 2 * pd[1] + dl[1] * (S - 1) + op[1] + 1
    if Ho <= 0 or Wo <= 0:
        raise ValueError(f"{call}: output size ({Ho}, {Wo}) is not positive")
    # The equivalent conv2d maps (N, K, Ho, Wo) -> (N, C, H, W) with weight (C, K/groups, R, S).
    bwd = _kernel("conv2d_backward")
    fwd = _kernel("conv2d")
    shape_y = np.zeros((N, K, Ho, Wo), xd.dtype)  # read for its shape only
    y, _, _ = bwd(xd, shape_y, wd, stride=st, padding=pd, dilation=dl, groups=groups,
                  needs=(True, False, False))
    if bias is not None:
        y += bias._data.reshape(1, K, 1, 1)
    rx, rw = x.requires_grad, weight.requires_grad
    rb = bias is not None and bias.requires_grad
    if (rx or rw or rb) and _mode.enabled:
        def bw(g):
            dx = dw = db = None
            if rx:
                dx = fwd(g, wd, None, stride=st, padding=pd, dilation=dl, groups=groups)
            if rw:
                _, dw, _ = bwd(xd, g, wd, stride=st, padding=pd, dilation=dl, groups=groups,
                               needs=(False, True, False))
            if rb:
                db = g.sum(axis=(0, 2, 3))
            return dx, dw, db
        return _node(y, (x, weight, bias), bw, "ConvTransposeBackward")
    return _plain(y)
