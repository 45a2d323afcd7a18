"""Pooling as differentiable ops on nervo.ops kernels.

Vocabulary: input (N, C, H, W) -> output (N, C, Ho, Wo). 1-D variants run the 2-D kernels with
H = 1. Max pooling saves the argmax indices (flat h * W + w per plane, as torch returns them).
"""
from __future__ import annotations

import numpy as np
import numpy as _np  # used by functions below: this module deletes `np` at its end

from nervo.autograd import mode as _mode
from nervo.functional.basic import _node, _plain, _t
from nervo import ops
from nervo.backend import K
from nervo.functional.conv import _FAST_NUMEL, _tuple
from nervo.ops.pool import pool_output_size

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "adaptive_max_pool2d"]


def _input(x, call, nd=4):
    x = _t(x)
    xd = x._data
    if xd.ndim == nd - 1:  # unbatched (C, H, W)
        return x, True
    if xd.ndim != nd:
        raise ValueError(f"{call}: expected a {nd}-D (or {nd - 1}-D unbatched) input, got shape "
                         f"{tuple(xd.shape)}")
    return x, False


def _check_window(k, s, p, d, call):
    if any(v <= 0 for v in k + s + d):
        raise ValueError(f"{call}: kernel_size {k}, stride {s} and dilation {d} must be positive")
    if any(pi < 0 or pi * 2 > ki for pi, ki in zip(p, k)):
        raise ValueError(f"{call}: padding {p} must be >= 0 and at most half the kernel size {k}")


def _max_pool2d_fast(xd, k, s, p, d, ceil_mode):
    """(y, indices) from the kernel called directly, or None where nervo.ops.max_pool2d must run
    (see conv._conv2d_fast: same reasoning, same output-size helper as nervo.ops)."""
    if xd.ndim != 4 or type(ceil_mode) is not bool:
        return None
    for kk, ss, pp, dd in zip(k, s, p, d):
        if kk < 1 or ss < 1 or dd < 1 or pp < 0 or pp > (dd * (kk - 1) + 1) // 2:
            return None
    N, C, H, W = xd.shape
    P = pool_output_size(H, k[0], s[0], p[0], d[0], ceil_mode)
    Q = pool_output_size(W, k[1], s[1], p[1], d[1], ceil_mode)
    if P <= 0 or Q <= 0 or N * C * P * Q > _FAST_NUMEL:
        return None
    try:
        y = _np.empty((N, C, P, Q), xd.dtype)
        idx = _np.empty((N, C, P, Q), _np.int64)
        K["max_pool2d_forward"](xd, y, idx, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1])
    except Exception:
        return None
    return y, idx


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over k x k windows. Shape: (N, C, H, W) -> (N, C, Ho, Wo)."""
    call = "nervo.nn.functional.max_pool2d"
    x, unb = _input(input, call)
    if unb:
        r = max_pool2d(x.unsqueeze(0), kernel_size, stride, padding, dilation, ceil_mode,
                       return_indices)
        return (r[0].squeeze(0), r[1].squeeze(0)) if return_indices else r.squeeze(0)
    k = _tuple(kernel_size, 2, call, "kernel_size")
    s = k if stride is None or stride == () else _tuple(stride, 2, call, "stride")
    p = _tuple(padding, 2, call, "padding")
    d = _tuple(dilation, 2, call, "dilation")
    _check_window(k, s, p, d, call)
    xd = x._data
    r = _max_pool2d_fast(xd, k, s, p, d, ceil_mode)
    y, idx = r if r is not None else ops.max_pool2d(xd, k, s, p, d, ceil_mode)
    if x.requires_grad and _mode.enabled:
        bwd = ops.max_pool2d_backward
        shape = xd.shape
        out = _node(y, (x,), lambda g: (bwd(g, idx, shape),), "MaxPool2DBackward")
    else:
        out = _plain(y)
    return (out, _plain(idx)) if return_indices else out


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    call = "nervo.nn.functional.max_pool1d"
    x, unb = _input(input, call, 3)
    if unb:
        x = x.unsqueeze(0)
    k = _tuple(kernel_size, 1, call, "kernel_size")[0]
    s = k if stride is None else _tuple(stride, 1, call, "stride")[0]
    r = max_pool2d(x.unsqueeze(2), (1, k), (1, s), (0, _tuple(padding, 1, call, "padding")[0]),
                   (1, _tuple(dilation, 1, call, "dilation")[0]), ceil_mode, return_indices)
    if return_indices:
        y, i = r[0].squeeze(2), r[1].squeeze(2)
        return (y.squeeze(0), i.squeeze(0)) if unb else (y, i)
    y = r.squeeze(2)
    return y.squeeze(0) if unb else y


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over k x k windows. Shape: (N, C, H, W) -> (N, C, Ho, Wo)."""
    call = "nervo.nn.functional.avg_pool2d"
    x, unb = _input(input, call)
    if unb:
        return avg_pool2d(x.unsqueeze(0), kernel_size, stride, padding, ceil_mode,
                          count_include_pad, divisor_override).squeeze(0)
    k = _tuple(kernel_size, 2, call, "kernel_size")
    s = k if stride is None or stride == () else _tuple(stride, 2, call, "stride")
    p = _tuple(padding, 2, call, "padding")
    _check_window(k, s, p, (1, 1), call)
    if divisor_override is not None and divisor_override <= 0:
        raise ValueError(f"{call}: divisor_override must be positive, got {divisor_override}")
    xd = x._data
    y = ops.avg_pool2d(xd, k, s, p, ceil_mode, count_include_pad, divisor_override)
    if x.requires_grad and _mode.enabled:
        bwd = ops.avg_pool2d_backward
        shape = xd.shape
        return _node(y, (x,), lambda g: (bwd(g, shape, k, s, p, ceil_mode, count_include_pad,
                                             divisor_override),), "AvgPool2DBackward")
    return _plain(y)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    call = "nervo.nn.functional.avg_pool1d"
    x, unb = _input(input, call, 3)
    if unb:
        x = x.unsqueeze(0)
    k = _tuple(kernel_size, 1, call, "kernel_size")[0]
    s = k if stride is None else _tuple(stride, 1, call, "stride")[0]
    y = avg_pool2d(x.unsqueeze(2), (1, k), (1, s), (0, _tuple(padding, 1, call, "padding")[0]),
                   ceil_mode, count_include_pad).squeeze(2)
    return y.squeeze(0) if unb else y


def _out_pair(output_size, xd, call):
    o = _tuple(output_size, 2, call, "output_size") if not isinstance(output_size, (tuple, list)) \
        else tuple(xd.shape[2 + i] if v is None else int(v) for i, v in enumerate(output_size))
    if len(o) != 2 or any(v <= 0 for v in o):
        raise ValueError(f"{call}: output_size must be 2 positive ints, got {output_size}")
    return o


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed (Ho, Wo), torch's window rule."""
    call = "nervo.nn.functional.adaptive_avg_pool2d"
    x, unb = _input(input, call)
    if unb:
        return adaptive_avg_pool2d(x.unsqueeze(0), output_size).squeeze(0)
    xd = x._data
    o = _out_pair(output_size, xd, call)
    y = ops.adaptive_avg_pool2d(xd, o)
    if x.requires_grad and _mode.enabled:
        bwd = ops.adaptive_avg_pool2d_backward
        shape = xd.shape
        return _node(y, (x,), lambda g: (bwd(g, shape),), "AdaptiveAvgPool2DBackward")
    return _plain(y)


def adaptive_avg_pool1d(input, output_size):
    x = _t(input)
    return adaptive_avg_pool2d(x.unsqueeze(-2), (1, int(output_size))).squeeze(-2)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed size; supported where the size divides evenly (then it is a plain
    max pool)."""
    call = "nervo.nn.functional.adaptive_max_pool2d"
    x, _ = _input(input, call)
    H, W = x.shape[-2:]
    o = _out_pair(output_size, x._data, call)
    if H % o[0] or W % o[1]:
        raise NotImplementedError(f"{call}: input size {(H, W)} must be a multiple of the output "
                                  f"size {o}")
    k = (H // o[0], W // o[1])
    return max_pool2d(x, k, k, 0, 1, False, return_indices)


# --------------------------------------------------------------------------- double backward
# Pooling backwards are linear in the gradient: max pooling scatters it to the argmax positions
# (adjoint: gather them), average pooling applies A^T (adjoint: the pooling A itself). Written as
# recorded ops whose backward is the adjoint, every order is differentiable.
from nervo.autograd import twice as _twice, saved as _saved  # noqa: E402
from nervo.functional import basic as _B  # noqa: E402


@_twice("MaxPool2DBackward")
def _max_pool2d_tw(node, out, g):
    s = _saved(node.backward)
    idx, shape = s["idx"], s["shape"]
    N, C = shape[0], shape[1]
    at = (_np.arange(N).reshape(N, 1, 1), _np.arange(C).reshape(1, C, 1), idx.reshape(N, C, -1))
    flat = _B._scatter(g.reshape(N, C, -1), (N, C, shape[2] * shape[3]), at, True)
    return (flat.reshape(shape),)


def _pool_grad(g, grad_np, pool_np, pool_t):
    """``grad_np(g)`` (a pooling backward, linear in g) as a recorded op; its backward is the
    pooling itself (``pool_np`` on arrays; ``pool_t`` on Tensors, kept in ``ctx`` for
    create_graph)."""
    dx = grad_np(g._data)
    if g.requires_grad and _mode.enabled:
        out = _node(dx, (g,), lambda h: (pool_np(_np.ascontiguousarray(h, dx.dtype)),),
                    "PoolGradBackward")
        out.grad_fn.ctx = pool_t
        return out
    return _plain(dx)


@_twice("PoolGradBackward")
def _pool_grad_tw(node, out, h):
    return (node.ctx(h),)


@_twice("AvgPool2DBackward")
def _avg_pool2d_tw(node, out, g):
    v = _saved(node.backward)
    shape, args = v["shape"], (v["k"], v["s"], v["p"], v["ceil_mode"], v["count_include_pad"],
                               v["divisor_override"])
    return (_pool_grad(g, lambda a: ops.avg_pool2d_backward(a, shape, *args),
                       lambda a: ops.avg_pool2d(a, *args), lambda t: avg_pool2d(t, *args)),)


@_twice("AdaptiveAvgPool2DBackward")
def _adaptive_avg_pool2d_tw(node, out, g):
    shape = _saved(node.backward)["shape"]
    o = tuple(g.shape[2:])
    return (_pool_grad(g, lambda a: ops.adaptive_avg_pool2d_backward(a, shape),
                       lambda a: ops.adaptive_avg_pool2d(a, o),
                       lambda t: adaptive_avg_pool2d(t, o)),)


del np
