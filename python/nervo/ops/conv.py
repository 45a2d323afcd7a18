"""Convolutions, forward and backward (NumPy arrays in and out; NCHW / NCL).

Semantics follow torch.nn.functional: cross-correlation, ``stride``/``padding``/``dilation`` as
an int or a pair, ``padding="same"`` (stride 1; extra padding goes to the bottom/right like
torch) or ``"valid"``, grouped and depthwise convolution (``groups``). float32 and float64;
inputs of any layout are accepted (copied to C-contiguous), ``out=`` must be exact.

Size vocabulary: x (N, C, H, W), w (K, C/groups, R, S), y (N, K, P, Q).

Example:
    >>> import numpy as np, nervo.ops as ops
    >>> x = np.ones((1, 1, 3, 3), np.float32); w = np.ones((1, 1, 2, 2), np.float32)
    >>> ops.conv2d(x, w)[0, 0]
    array([[4., 4.],
           [4., 4.]], dtype=float32)
"""
from __future__ import annotations

import numpy as np

from nervo.backend import K
from nervo.ops._check import float_array, fmt_shape, output
from nervo.ops._convutil import as_int, check_numel, ntuple

__all__ = ["conv2d", "conv2d_backward", "conv1d", "conv1d_backward", "conv_transpose2d",
           "conv_transpose2d_backward", "conv_output_size"]

# Activation ids of csrc/ops/conv/conv.h.
_ACTS = {None: 0, "none": 0, "relu": 1}


def conv_output_size(size: int, kernel: int, stride: int, pad_total: int, dilation: int) -> int:
    """floor((size + pad_total - dilation*(kernel-1) - 1) / stride) + 1."""
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


class _Geom:
    """Resolved geometry of one conv2d call: (top, left) padding and output size."""
    __slots__ = ("stride", "dilation", "pad", "groups", "P", "Q")


def _geometry(call, x_shape, w_shape, stride, padding, dilation, groups, nd=2) -> _Geom:
    g = _Geom()
    N, C, H, W = x_shape
    Kout, Cg, R, S = w_shape
    g.stride = ntuple(stride, nd, call, "stride", 1)
    g.dilation = ntuple(dilation, nd, call, "dilation", 1)
    g.groups = as_int(groups, call, "groups")
    if g.groups < 1:
        raise ValueError(f"{call}: groups must be >= 1, got {groups!r}")
    if nd == 1:
        g.stride, g.dilation = (1,) + g.stride, (1,) + g.dilation
    if C != Cg * g.groups:
        raise ValueError(f"{call}: x has {C} channels but w expects {Cg * g.groups} "
                         f"(w.shape={fmt_shape(w_shape)}, groups={g.groups})")
    if Kout % g.groups:
        raise ValueError(f"{call}: groups={g.groups} must divide the {Kout} output channels "
                         f"(w.shape={fmt_shape(w_shape)})")
    if isinstance(padding, str):
        if padding == "valid":
            pads = ((0, 0), (0, 0))
        elif padding == "same":
            if any(s != 1 for s in g.stride):
                raise ValueError(f"{call}: padding='same' is not supported for strided "
                                 f"convolutions (stride={stride!r})")
            pads = tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                         for d, k in zip(g.dilation, (R, S)))
        else:
            raise ValueError(f"{call}: padding must be an int, a tuple, 'same' or 'valid', "
                             f"got {padding!r}")
    else:
        p = ntuple(padding, nd, call, "padding", 0)
        if nd == 1:
            p = (0,) + p
        pads = ((p[0], p[0]), (p[1], p[1]))
    g.pad = (pads[0][0], pads[1][0])
    sizes = []
    for size, k, s, d, (lo, hi), name in zip((H, W), (R, S), g.stride, g.dilation, pads,
                                            ("height", "width")):
        if d * (k - 1) + 1 > size + lo + hi:
            raise ValueError(f"{call}: the dilated kernel ({d * (k - 1) + 1}) is larger than the "
                             f"padded input {name} ({size + lo + hi}); x.shape={fmt_shape(x_shape)}, "
                             f"w.shape={fmt_shape(w_shape)}")
        o = conv_output_size(size, k, s, lo + hi, d)
        if o <= 0:
            raise ValueError(f"{call}: output {name} would be {o} (<= 0)")
        sizes.append(o)
    g.P, g.Q = sizes
    check_numel((N, Kout, g.P, g.Q), call)
    return g


def _x4(x, call, dtype=None):
    x = float_array(x, call, "x", dtype)
    if x.ndim != 4:
        raise ValueError(f"{call}: x must be 4-D (N, C, H, W), got shape {fmt_shape(x.shape)}")
    return x


def _w4(w, call, dtype):
    w = float_array(w, call, "w", dtype)
    if w.ndim != 4:
        raise ValueError(f"{call}: w must be 4-D (K, C/groups, R, S), got shape {fmt_shape(w.shape)}")
    return w


def _bias(bias, call, dtype, K_):
    if bias is None:
        return None
    bias = float_array(bias, call, "bias", dtype)
    if bias.shape != (K_,):
        raise ValueError(f"{call}: bias has shape {fmt_shape(bias.shape)}, expected ({K_},)")
    return bias


def conv2d(x, w, bias=None, *, stride=1, padding=0, dilation=1, groups=1, activation=None,
           out=None):
    """y = act(conv2d(x, w) + bias), like torch.nn.functional.conv2d.

    Args:
        x: (N, C, H, W) or unbatched (C, H, W). w: (K, C/groups, R, S). bias: (K,) or None.
        stride, dilation: int or pair, >= 1. padding: int or pair >= 0, "same" or "valid".
        groups: divides C and K. activation: None or "relu" (fused into the output pass).
        out: optional (N, K, P, Q) array of x's dtype, overwritten.
    Returns:
        y (N, K, P, Q) with P = floor((H + 2*pad - dilation*(R-1) - 1) / stride) + 1.
    Raises:
        TypeError: non-float or mismatched dtypes. ValueError: shapes, channels, groups,
        output size <= 0, kernel larger than the padded input.
    """
    call = "nervo.ops.conv2d"
    x = float_array(x, call, "x")
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    x = _x4(x, call)
    w = _w4(w, call, x.dtype)
    bias = _bias(bias, call, x.dtype, w.shape[0])
    if activation not in _ACTS:
        raise ValueError(f"{call}: activation must be None or 'relu', got {activation!r}")
    g = _geometry(call, x.shape, w.shape, stride, padding, dilation, groups)
    shape = (x.shape[0], w.shape[0], g.P, g.Q)
    if unbatched and out is not None:
        out = out[None] if isinstance(out, np.ndarray) and out.ndim == 3 else out
    y = output(out, shape, x.dtype, call, x, w)
    K["conv2d_forward"](x, w, bias, y, g.stride[0], g.stride[1], g.pad[0], g.pad[1],
                        g.dilation[0], g.dilation[1], g.groups, _ACTS[activation])
    return y[0] if unbatched else y


def _needs(needs, call):
    if not isinstance(needs, (tuple, list)) or len(needs) != 3:
        raise ValueError(f"{call}: needs must be a triple of bools (dx, dw, db), got {needs!r}")
    return tuple(bool(n) for n in needs)


def conv2d_backward(dy, x, w, *, stride=1, padding=0, dilation=1, groups=1,
                    needs=(True, True, True)):
    """Gradients of conv2d: returns (dx, dw, db), None for those not asked for in ``needs``.

    dx = conv_transpose(dy, w), dw[k, c, r, s] = sum over n, p, q of dy * x (shifted),
    db = sum of dy over (N, P, Q). The hyper-parameters must be the forward's.
    """
    call = "nervo.ops.conv2d_backward"
    nx, nw, nb = _needs(needs, call)
    x = _x4(x, call)
    dy = float_array(dy, call, "dy", x.dtype)
    w = _w4(w, call, x.dtype)
    g = _geometry(call, x.shape, w.shape, stride, padding, dilation, groups)
    want = (x.shape[0], w.shape[0], g.P, g.Q)
    if dy.shape != want:
        raise ValueError(f"{call}: dy has shape {fmt_shape(dy.shape)}, expected {fmt_shape(want)}")
    dx = np.empty(x.shape, x.dtype) if nx else None
    dw = np.empty(w.shape, x.dtype) if nw else None
    db = np.empty(w.shape[0], x.dtype) if nb else None
    if nx or nw or nb:
        K["conv2d_backward"](dy, x, w, dx, dw, db, g.stride[0], g.stride[1], g.pad[0], g.pad[1],
                             g.dilation[0], g.dilation[1], g.groups)
    return dx, dw, db


def _x3(x, call, arg="x", dtype=None):
    x = float_array(x, call, arg, dtype)
    if x.ndim != 3:
        raise ValueError(f"{call}: {arg} must be 3-D (N, C, L), got shape {fmt_shape(x.shape)}")
    return x


def conv1d(x, w, bias=None, *, stride=1, padding=0, dilation=1, groups=1, activation=None,
           out=None):
    """conv1d over (N, C, L) signals with w (K, C/groups, S); like torch.nn.functional.conv1d.

    Runs the conv2d kernels on an (N, C, 1, L) view.
    """
    call = "nervo.ops.conv1d"
    x = _x3(x, call)
    w = float_array(w, call, "w", x.dtype)
    if w.ndim != 3:
        raise ValueError(f"{call}: w must be 3-D (K, C/groups, S), got shape {fmt_shape(w.shape)}")
    bias = _bias(bias, call, x.dtype, w.shape[0])
    if activation not in _ACTS:
        raise ValueError(f"{call}: activation must be None or 'relu', got {activation!r}")
    x4, w4 = x[:, :, None, :], w[:, :, None, :]
    g = _geometry(call, x4.shape, w4.shape, stride, padding, dilation, groups, nd=1)
    shape = (x.shape[0], w.shape[0], g.Q)
    y = output(out, shape, x.dtype, call, x, w)
    K["conv2d_forward"](x4, w4, bias, y.reshape(shape[0], shape[1], 1, shape[2]), 1, g.stride[1],
                        0, g.pad[1], 1, g.dilation[1], g.groups, _ACTS[activation])
    return y


def conv1d_backward(dy, x, w, *, stride=1, padding=0, dilation=1, groups=1,
                    needs=(True, True, True)):
    """Gradients of conv1d: (dx, dw, db), None for those not asked for."""
    call = "nervo.ops.conv1d_backward"
    nx, nw, nb = _needs(needs, call)
    x = _x3(x, call)
    dy = _x3(dy, call, "dy", x.dtype)
    w = float_array(w, call, "w", x.dtype)
    if w.ndim != 3:
        raise ValueError(f"{call}: w must be 3-D (K, C/groups, S), got shape {fmt_shape(w.shape)}")
    x4, w4 = x[:, :, None, :], w[:, :, None, :]
    g = _geometry(call, x4.shape, w4.shape, stride, padding, dilation, groups, nd=1)
    want = (x.shape[0], w.shape[0], g.Q)
    if dy.shape != want:
        raise ValueError(f"{call}: dy has shape {fmt_shape(dy.shape)}, expected {fmt_shape(want)}")
    dx = np.empty(x.shape, x.dtype) if nx else None
    dw = np.empty(w.shape, x.dtype) if nw else None
    db = np.empty(w.shape[0], x.dtype) if nb else None
    if nx or nw or nb:
        K["conv2d_backward"](dy[:, :, None, :], x4, w4,
                             None if dx is None else dx[:, :, None, :],
                             None if dw is None else dw[:, :, None, :], db,
                             1, g.stride[1], 0, g.pad[1], 1, g.dilation[1], g.groups)
    return dx, dw, db


def _transpose_geometry(call, x_shape, w_shape, stride, padding, output_padding, dilation, groups):
    """Output size of conv_transpose2d and the geometry of the conv it is the adjoint of."""
    N, Cin, H, W = x_shape
    Cin_w, Coutg, R, S = w_shape
    st = ntuple(stride, 2, call, "stride", 1)
    pd = ntuple(padding, 2, call, "padding", 0)
    op = ntuple(output_padding, 2, call, "output_padding", 0)
    dl = ntuple(dilation, 2, call, "dilation", 1)
    gr = as_int(groups, call, "groups")
    if gr < 1:
        raise ValueError(f"{call}: groups must be >= 1, got {groups!r}")
    if Cin != Cin_w:
        raise ValueError(f"{call}: x has {Cin} channels but w expects {Cin_w} "
                         f"(w.shape={fmt_shape(w_shape)})")
    if Cin % gr:
        raise ValueError(f"{call}: groups={gr} must divide the {Cin} input channels")
    for o, s, d in zip(op, st, dl):
        if o >= s and o >= d:
            raise ValueError(f"{call}: output_padding ({o}) must be smaller than stride ({s}) or "
                             f"dilation ({d})")
    out = [(n - 1) * s - 2 * p + d * (k - 1) + o + 1
           for n, s, p, d, k, o in zip((H, W), st, pd, dl, (R, S), op)]
    if min(out) <= 0:
        raise ValueError(f"{call}: output size would be {tuple(out)} (<= 0)")
    shape = (N, Coutg * gr, out[0], out[1])
    check_numel(shape, call)
    return shape, st, pd, dl, gr


def conv_transpose2d(x, w, bias=None, *, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, out=None):
    """Transposed convolution (the gradient of conv2d with respect to its input), like
    torch.nn.functional.conv_transpose2d. x (N, Cin, H, W), w (Cin, Cout/groups, R, S), bias (Cout,).

    Output size: (H - 1)*stride - 2*padding + dilation*(R - 1) + output_padding + 1.
    """
    call = "nervo.ops.conv_transpose2d"
    x = _x4(x, call)
    w = _w4(w, call, x.dtype)
    shape, st, pd, dl, gr = _transpose_geometry(call, x.shape, w.shape, stride, padding,
                                                output_padding, dilation, groups)
    bias = _bias(bias, call, x.dtype, shape[1])
    y = output(out, shape, x.dtype, call, x, w)
    if y.size:
        # The adjoint of a conv whose input is y: its data gradient, with x in the place of dy.
        # NOTE: y stands in for that conv's input x, which the data gradient reads only for shape.
        K["conv2d_backward"](x, y, w, y, None, None, st[0], st[1], pd[0], pd[1], dl[0], dl[1], gr)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
    return y


def conv_transpose2d_backward(dy, x, w, *, stride=1, padding=0, output_padding=0, groups=1,
                              dilation=1, needs=(True, True, True)):
    """Gradients of conv_transpose2d: (dx, dw, db), None for those not asked for.

    dx = conv2d(dy, w), dw = the weight gradient of that conv with dy as input and x as its
    output gradient, db = sum of dy over (N, H, W).
    """
    call = "nervo.ops.conv_transpose2d_backward"
    nx, nw, nb = _needs(needs, call)
    x = _x4(x, call)
    w = _w4(w, call, x.dtype)
    dy = float_array(dy, call, "dy", x.dtype)
    shape, st, pd, dl, gr = _transpose_geometry(call, x.shape, w.shape, stride, padding,
                                                output_padding, dilation, groups)
    if dy.shape != shape:
        raise ValueError(f"{call}: dy has shape {fmt_shape(dy.shape)}, expected {fmt_shape(shape)}")
    dx = dw = db = None
    if nx:
        dx = np.empty(x.shape, x.dtype)
        K["conv2d_forward"](dy, w, None, dx, st[0], st[1], pd[0], pd[1], dl[0], dl[1], gr, 0)
    if nw:
        dw = np.empty(w.shape, x.dtype)
        K["conv2d_backward"](x, dy, w, None, dw, None, st[0], st[1], pd[0], pd[1], dl[0], dl[1],
                             gr)
    if nb:
        db = dy.sum(axis=(0, 2, 3), dtype=np.float64).astype(x.dtype)
    return dx, dw, db
