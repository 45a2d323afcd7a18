"""Pooling, forward and backward (NumPy arrays in and out; NCHW / NCL, batched or not).

Semantics follow torch.nn.functional: ``kernel_size``/``stride``/``padding``/``dilation`` as an
int or a pair (``stride=None`` means the kernel size), ``ceil_mode``, ``count_include_pad`` and
``divisor_override`` for average pooling. Max pooling returns the indices of the maxima (flat
index h*W + w inside each input plane, int64) for its backward; a NaN in a window wins.

Example:
    >>> import numpy as np, nervo.ops as ops
    >>> y, idx = ops.max_pool2d(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4), 2)
    >>> y[0, 0], idx[0, 0]
    (array([[ 5.,  7.],
           [13., 15.]], dtype=float32), array([[ 5,  7],
           [13, 15]]))
"""
from __future__ import annotations

import numpy as np

from nervo.backend import K
from nervo.ops._check import float_array, fmt_shape, output
from nervo.ops._convutil import as_int, check_numel, ntuple

__all__ = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
           "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward", "max_pool1d",
           "max_pool1d_backward", "avg_pool1d", "avg_pool1d_backward", "pool_output_size"]


def pool_output_size(size, kernel, stride, pad, dilation, ceil_mode) -> int:
    """torch's pooling_output_shape: floor or ceil of the window count; in ceil mode the last
    window must start inside the input or its left padding."""
    eff = dilation * (kernel - 1) + 1
    num = size + 2 * pad - eff + ((stride - 1) if ceil_mode else 0)
    o = num // stride + 1
    if ceil_mode and (o - 1) * stride >= size + pad:
        o -= 1
    return o


def _input(x, call, nd):
    x = float_array(x, call, "x")
    lo = nd + 1
    if x.ndim not in (lo, lo + 1):
        want = "(N, C, H, W) or (C, H, W)" if nd == 2 else "(N, C, L) or (C, L)"
        raise ValueError(f"{call}: x must be {want}, got shape {fmt_shape(x.shape)}")
    return x


def _window(call, x_shape, nd, kernel_size, stride, padding, dilation, ceil_mode, max_pool):
    k = ntuple(kernel_size, nd, call, "kernel_size", 1)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) \
        else ntuple(stride, nd, call, "stride", 1)
    p = ntuple(padding, nd, call, "padding", 0)
    d = ntuple(dilation, nd, call, "dilation", 1)
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"{call}: ceil_mode must be a bool, got {ceil_mode!r}")
    for kk, pp, dd in zip(k, p, d):
        limit = (dd * (kk - 1) + 1) // 2 if max_pool else kk // 2
        if pp > limit:
            raise ValueError(f"{call}: padding ({pp}) must be at most half of the "
                             f"{'effective ' if max_pool else ''}kernel size "
                             f"(kernel_size={kernel_size!r}, dilation={dilation!r})")
    spatial = x_shape[-nd:]
    out = []
    for size, kk, ss, pp, dd in zip(spatial, k, s, p, d):
        o = pool_output_size(size, kk, ss, pp, dd, bool(ceil_mode))
        if o <= 0:
            raise ValueError(f"{call}: output size would be {o} (<= 0) for input "
                             f"{fmt_shape(x_shape)} and kernel_size={kernel_size!r}")
        out.append(o)
    shape = tuple(x_shape[:-nd]) + tuple(out)
    check_numel(shape, call)
    if nd == 1:  # run as 2-D with H = 1
        k, s, p, d = (1,) + k, (1,) + s, (0,) + p, (1,) + d
    return shape, k, s, p, d


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """y = max over each window; returns (y, indices) like torch's return_indices=True.

    Args:
        x: (N, C, H, W) or (C, H, W), float32/float64.
        kernel_size, stride (default kernel_size), padding (<= half the effective kernel),
        dilation: int or pair. ceil_mode: ceil instead of floor for the output size.
    Returns:
        y (..., P, Q) and indices (..., P, Q) int64: flat h*W + w of each maximum in its plane.
    """
    call = "nervo.ops.max_pool2d"
    x = _input(x, call, 2)
    shape, k, s, p, d = _window(call, x.shape, 2, kernel_size, stride, padding, dilation,
                                ceil_mode, True)
    y = np.empty(shape, x.dtype)
    idx = np.empty(shape, np.int64)
    K["max_pool2d_forward"](x, y, idx, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1])
    return y, idx


def _x_shape(x_shape, call):
    try:
        shp = tuple(as_int(v, call, "x_shape") for v in x_shape)
    except TypeError:
        raise TypeError(f"{call}: x_shape must be a tuple of ints, got {x_shape!r}") from None
    if any(v < 0 for v in shp):
        raise ValueError(f"{call}: x_shape must not be negative, got {x_shape!r}")
    return shp


def _indices(indices, call, shape):
    if not isinstance(indices, np.ndarray):
        raise TypeError(f"{call}: indices must be a numpy.ndarray of int64")
    if indices.dtype != np.int64:
        raise TypeError(f"{call}: indices must be int64, got {indices.dtype}")
    if indices.shape != shape:
        raise ValueError(f"{call}: indices has shape {fmt_shape(indices.shape)} but dy has shape "
                         f"{fmt_shape(shape)}")
    return np.ascontiguousarray(indices)


def max_pool2d_backward(dy, indices, x_shape):
    """dx (shape x_shape): zeros, plus dy scattered (summed) to the positions in ``indices``.

    Raises IndexError when an index lies outside its input plane.
    """
    call = "nervo.ops.max_pool2d_backward"
    dy = float_array(dy, call, "dy")
    shp = _x_shape(x_shape, call)
    if len(shp) != dy.ndim or shp[:-2] != dy.shape[:-2] or dy.ndim not in (3, 4):
        raise ValueError(f"{call}: dy has shape {fmt_shape(dy.shape)}, incompatible with "
                         f"x_shape {fmt_shape(shp)}")
    idx = _indices(indices, call, dy.shape)
    dx = np.empty(shp, dy.dtype)
    K["max_pool2d_backward"](dy, idx, dx)
    return dx


def _count_include_pad(v, call):
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{call}: count_include_pad must be a bool, got {v!r}")
    return bool(v)


def _divisor(v, call):
    if v is None:
        return 0
    v = as_int(v, call, "divisor_override")
    if v == 0:
        raise ValueError(f"{call}: divisor_override must be nonzero, got 0")
    if v < 0:
        raise ValueError(f"{call}: divisor_override must be positive, got {v}")
    return v


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over each window, like torch.nn.functional.avg_pool2d."""
    call = "nervo.ops.avg_pool2d"
    x = _input(x, call, 2)
    cip = _count_include_pad(count_include_pad, call)
    div = _divisor(divisor_override, call)
    shape, k, s, p, _ = _window(call, x.shape, 2, kernel_size, stride, padding, 1, ceil_mode, False)
    y = np.empty(shape, x.dtype)
    K["avg_pool2d_forward"](x, y, k[0], k[1], s[0], s[1], p[0], p[1], cip, div)
    return y


def avg_pool2d_backward(dy, x_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """Gradient of avg_pool2d with respect to x (shape x_shape)."""
    call = "nervo.ops.avg_pool2d_backward"
    dy = float_array(dy, call, "dy")
    shp = _x_shape(x_shape, call)
    if len(shp) not in (3, 4):
        raise ValueError(f"{call}: x_shape must be (N, C, H, W) or (C, H, W), got {shp}")
    cip = _count_include_pad(count_include_pad, call)
    div = _divisor(divisor_override, call)
    shape, k, s, p, _ = _window(call, shp, 2, kernel_size, stride, padding, 1, ceil_mode, False)
    if dy.shape != shape:
        raise ValueError(f"{call}: dy has shape {fmt_shape(dy.shape)}, expected {fmt_shape(shape)}")
    dx = np.empty(shp, dy.dtype)
    K["avg_pool2d_backward"](dy, dx, k[0], k[1], s[0], s[1], p[0], p[1], cip, div)
    return dx


def _adaptive_size(output_size, x_shape, call):
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"{call}: output_size must be an int or a pair, got {output_size!r}")
        sizes = tuple(x_shape[-2 + i] if v is None else as_int(v, call, "output_size")
                      for i, v in enumerate(output_size))
    else:
        sizes = (as_int(output_size, call, "output_size"),) * 2
    if any(v <= 0 for v in sizes):
        raise ValueError(f"{call}: output_size must be >= 1, got {output_size!r}")
    if any(v == 0 for v in x_shape[-2:]):
        raise ValueError(f"{call}: input planes must not be empty, got shape {fmt_shape(x_shape)}")
    shape = tuple(x_shape[:-2]) + sizes
    check_numel(shape, call)
    return shape


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed output size (P, Q): window [floor(p*H/P), ceil((p+1)*H/P)).
    output_size=1 is global average pooling; None in a pair keeps that input size."""
    call = "nervo.ops.adaptive_avg_pool2d"
    x = _input(x, call, 2)
    y = np.empty(_adaptive_size(output_size, x.shape, call), x.dtype)
    K["adaptive_avg_pool2d_forward"](x, y)
    return y


def adaptive_avg_pool2d_backward(dy, x_shape):
    """Gradient of adaptive_avg_pool2d with respect to x (shape x_shape); P, Q are dy's."""
    call = "nervo.ops.adaptive_avg_pool2d_backward"
    dy = float_array(dy, call, "dy")
    shp = _x_shape(x_shape, call)
    if len(shp) != dy.ndim or dy.ndim not in (3, 4) or shp[:-2] != dy.shape[:-2]:
        raise ValueError(f"{call}: dy has shape {fmt_shape(dy.shape)}, incompatible with "
                         f"x_shape {fmt_shape(shp)}")
    if any(v == 0 for v in shp[-2:]) or any(v == 0 for v in dy.shape[-2:]):
        raise ValueError(f"{call}: input and output planes must not be empty")
    dx = np.empty(shp, dy.dtype)
    K["adaptive_avg_pool2d_backward"](dy, dx)
    return dx


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """max_pool2d's 1-D sibling over (N, C, L) or (C, L); returns (y, indices) with indices in L."""
    call = "nervo.ops.max_pool1d"
    x = _input(x, call, 1)
    shape, k, s, p, d = _window(call, x.shape, 1, kernel_size, stride, padding, dilation,
                                ceil_mode, True)
    y = np.empty(shape, x.dtype)
    idx = np.empty(shape, np.int64)
    K["max_pool2d_forward"](x[..., None, :], y[..., None, :], idx[..., None, :], k[0], k[1],
                            s[0], s[1], p[0], p[1], d[0], d[1])
    return y, idx


def max_pool1d_backward(dy, indices, x_shape):
    call = "nervo.ops.max_pool1d_backward"
    dy = float_array(dy, call, "dy")
    shp = _x_shape(x_shape, call)
    if len(shp) != dy.ndim or dy.ndim not in (2, 3) or shp[:-1] != dy.shape[:-1]:
        raise ValueError(f"{call}: dy has shape {fmt_shape(dy.shape)}, incompatible with "
                         f"x_shape {fmt_shape(shp)}")
    idx = _indices(indices, call, dy.shape)
    dx = np.empty(shp, dy.dtype)
    K["max_pool2d_backward"](dy[..., None, :], idx[..., None, :], dx[..., None, :])
    return dx


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    call = "nervo.ops.avg_pool1d"
    x = _input(x, call, 1)
    cip = _count_include_pad(count_include_pad, call)
    shape, k, s, p, _ = _window(call, x.shape, 1, kernel_size, stride, padding, 1, ceil_mode, False)
    y = np.empty(shape, x.dtype)
    K["avg_pool2d_forward"](x[..., None, :], y[..., None, :], k[0], k[1], s[0], s[1], p[0], p[1],
                            cip, 0)
    return y


def avg_pool1d_backward(dy, x_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True):
    call = "nervo.ops.avg_pool1d_backward"
    dy = float_array(dy, call, "dy")
    shp = _x_shape(x_shape, call)
    if len(shp) not in (2, 3):
        raise ValueError(f"{call}: x_shape must be (N, C, L) or (C, L), got {shp}")
    cip = _count_include_pad(count_include_pad, call)
    shape, k, s, p, _ = _window(call, shp, 1, kernel_size, stride, padding, 1, ceil_mode, False)
    if dy.shape != shape:
        raise ValueError(f"{call}: dy has shape {fmt_shape(dy.shape)}, expected {fmt_shape(shape)}")
    dx = np.empty(shp, dy.dtype)
    K["avg_pool2d_backward"](dy[..., None, :], dx[..., None, :], k[0], k[1], s[0], s[1], p[0],
                             p[1], cip, 0)
    return dx
