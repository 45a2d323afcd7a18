"""Differentiable tensor math: elementwise ops with broadcasting, reductions, shape ops, indexing.

Each op computes its forward on NumPy arrays and, when an input requires grad and grad mode is
on, records a Node whose ``backward(g)`` closure sits right below the forward. Cheap elementwise
glue uses NumPy; matrix products go to ``nervo.ops``.

Vocabulary: ``a``, ``b`` are input arrays, ``g`` the gradient of the output, ``out`` the output.
Broadcasting follows NumPy (= torch); ``_unb(g, shape)`` sums a gradient back to an input shape.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from nervo import ops as _ops
from nervo.autograd import Node, mode as _mode
from nervo.tensor import Tensor, _F32

__all__ = [
    "add", "sub", "mul", "div", "true_divide", "pow", "neg", "abs", "exp", "log", "log1p", "expm1",
    "sqrt", "rsqrt", "square", "sin", "cos", "sign", "reciprocal", "clamp", "clip", "where",
    "maximum", "minimum", "matmul", "mm", "bmm", "dot", "sum", "mean", "max", "min", "amax",
    "amin", "var", "std", "logsumexp", "argmax", "argmin", "norm", "prod", "reshape", "flatten",
    "unflatten", "permute", "transpose", "t", "squeeze", "unsqueeze", "expand", "broadcast_to",
    "cat", "concat", "stack", "split", "chunk", "unbind", "gather", "index_select", "masked_fill",
    "eq", "ne", "lt", "le", "gt", "ge", "isnan", "isinf", "isfinite", "allclose", "equal",
    "clone", "cumsum", "outer", "topk", "sort", "argsort",
]

_nd = np.ndarray
_tnew = object.__new__
MaxMin = namedtuple("MaxMin", ["values", "indices"])


# --------------------------------------------------------------------------- helpers
def _plain(a):
    """A Tensor holding result ``a`` outside the graph."""
    if type(a) is not _nd:
        a = np.asarray(a)
    t = _tnew(Tensor)
    t._data = a
    t.requires_grad = False
    t.grad = None
    t.grad_fn = None
    t._hooks = None
    t._retain = False
    return t


def _node(a, inputs, bw, name):
    """A Tensor holding result ``a``, produced by a recorded op."""
    if type(a) is not _nd:
        a = np.asarray(a)
    t = _tnew(Tensor)
    t._data = a
    t.requires_grad = True
    t.grad = None
    t.grad_fn = Node(bw, inputs, name)
    t._hooks = None
    t._retain = False
    return t


def _unb(g, shape):
    """Sum gradient ``g`` down to ``shape`` (undo NumPy broadcasting)."""
    if g.shape == shape:
        return g
    nd = g.ndim - len(shape)
    if nd > 0:
        g = g.sum(axis=tuple(range(nd)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _as(x, like=None):
    """Coerce an operand: Tensors pass; Python/NumPy scalars stay scalars (they take the tensor's
    dtype, as in torch); arrays and lists become constant Tensors."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.generic):  # before the float check: np.float64 subclasses float
        return x.item()
    if isinstance(x, (bool, int, float)):
        return x
    a = np.asarray(x)
    if a.dtype == np.float64 and not isinstance(x, np.ndarray):
        a = a.astype(like.dtype if like is not None and like.dtype.kind == "f" else _F32)
    return _plain(a)


def _t(x):
    """A Tensor from anything array-like (for functions whose first argument must be a tensor)."""
    if isinstance(x, Tensor):
        return x
    return _as(x) if not isinstance(x, (bool, int, float, np.generic)) else _plain(np.asarray(x))


def _dims(dim, ndim):
    if dim is None:
        return None
    if isinstance(dim, (list, tuple)):
        return tuple(d % ndim if ndim else 0 for d in dim)
    return dim % ndim if ndim else 0


def _need(*ts):
    if not _mode.enabled:
        return False
    for t in ts:
        if type(t) is Tensor or isinstance(t, Tensor):
            if t.requires_grad:
                return True
    return False


# --------------------------------------------------------------------------- arithmetic
def add(a, b, alpha=1):
    """a + alpha * b, broadcasting."""
    a = _t(a)
    if alpha != 1:
        b = mul(_as(b, a._data), alpha)
    return _add(a, b)


def _add(a, b):
    ad = a._data
    if type(b) is Tensor or isinstance(b, Tensor):
        bd = b._data
        out = ad + bd
        ra, rb = a.requires_grad, b.requires_grad
        if (ra or rb) and _mode.enabled:
            sa, sb = ad.shape, bd.shape

            def bw(g):
                return (_unb(g, sa) if ra else None, _unb(g, sb) if rb else None)
            return _node(out, (a, b), bw, "AddBackward")
        return _plain(out)
    b = _as(b, ad)
    if isinstance(b, Tensor):
        return _add(a, b)
    out = ad + b
    if a.requires_grad and _mode.enabled:
        return _node(out, (a,), _pass, "AddBackward")
    return _plain(out)


def _pass(g):
    return (g,)


def _radd(a, b):
    return _add(a, b)


def sub(a, b, alpha=1):
    """a - alpha * b, broadcasting."""
    a = _t(a)
    if alpha != 1:
        b = mul(_as(b, a._data), alpha)
    return _sub(a, b)


def _sub(a, b):
    ad = a._data
    if type(b) is Tensor or isinstance(b, Tensor):
        bd = b._data
        out = ad - bd
        ra, rb = a.requires_grad, b.requires_grad
        if (ra or rb) and _mode.enabled:
            sa, sb = ad.shape, bd.shape

            def bw(g):
                return (_unb(g, sa) if ra else None, _unb(-g, sb) if rb else None)
            return _node(out, (a, b), bw, "SubBackward")
        return _plain(out)
    b = _as(b, ad)
    if isinstance(b, Tensor):
        return _sub(a, b)
    out = ad - b
    if a.requires_grad and _mode.enabled:
        return _node(out, (a,), _pass, "SubBackward")
    return _plain(out)


def _rsub(a, b):
    b = _as(b, a._data)
    if isinstance(b, Tensor):
        return _sub(b, a)
    out = b - a._data
    if a.requires_grad and _mode.enabled:
        return _node(out, (a,), lambda g: (-g,), "RsubBackward")
    return _plain(out)


def mul(a, b):
    """a * b, broadcasting."""
    return _mul(_t(a), b)


def _mul(a, b):
    ad = a._data
    if type(b) is Tensor or isinstance(b, Tensor):
        bd = b._data
        out = ad * bd
        ra, rb = a.requires_grad, b.requires_grad
        if (ra or rb) and _mode.enabled:
            def bw(g):
                return (_unb(g * bd, ad.shape) if ra else None,
                        _unb(g * ad, bd.shape) if rb else None)
            return _node(out, (a, b), bw, "MulBackward")
        return _plain(out)
    b = _as(b, ad)
    if isinstance(b, Tensor):
        return _mul(a, b)
    out = ad * b
    if a.requires_grad and _mode.enabled:
        return _node(out, (a,), lambda g: (g * b,), "MulBackward")
    return _plain(out)


def div(a, b, rounding_mode=None):
    """a / b (true division), broadcasting. ``rounding_mode`` 'floor'/'trunc' is not
    differentiable."""
    a = _t(a)
    if rounding_mode is not None:
        bd = b._data if isinstance(b, Tensor) else b
        q = a._data / bd
        if rounding_mode == "floor":
            return _plain(np.floor(q).astype(np.result_type(q), copy=False))
        if rounding_mode == "trunc":
            return _plain(np.trunc(q))
        raise ValueError(f"nervo.div: rounding_mode must be None, 'floor' or 'trunc', got "
                         f"{rounding_mode!r}")
    return _div(a, b)


true_divide = div


def _div(a, b):
    ad = a._data
    if type(b) is Tensor or isinstance(b, Tensor):
        bd = b._data
        out = ad / bd
        ra, rb = a.requires_grad, b.requires_grad
        if (ra or rb) and _mode.enabled:
            def bw(g):
                return (_unb(g / bd, ad.shape) if ra else None,
                        _unb(-g * out / bd, bd.shape) if rb else None)
            return _node(out, (a, b), bw, "DivBackward")
        return _plain(out)
    b = _as(b, ad)
    if isinstance(b, Tensor):
        return _div(a, b)
    out = ad / b
    if a.requires_grad and _mode.enabled:
        return _node(out, (a,), lambda g: (g / b,), "DivBackward")
    return _plain(out)


def _rdiv(a, b):
    b = _as(b, a._data)
    if isinstance(b, Tensor):
        return _div(b, a)
    ad = a._data
    out = b / ad
    if a.requires_grad and _mode.enabled:
        return _node(out, (a,), lambda g: (-g * out / ad,), "DivBackward")
    return _plain(out)


def pow(a, b):
    """a ** b, broadcasting (either may be a scalar)."""
    if not isinstance(a, Tensor):
        a2 = _as(a)
        if not isinstance(a2, Tensor):
            return _rpow(_t(b), a2)
        a = a2
    return _pow(a, b)


def _pow(a, b):
    ad = a._data
    b = _as(b, ad)
    if isinstance(b, Tensor):
        bd = b._data
        out = ad ** bd
        ra, rb = a.requires_grad, b.requires_grad
        if (ra or rb) and _mode.enabled:
            def bw(g):
                ga = gb = None
                if ra:
                    ga = _unb(g * bd * ad ** (bd - 1), ad.shape)
                if rb:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        lg = np.where(ad > 0, np.log(np.where(ad > 0, ad, 1)), np.where(ad == 0, 0, np.nan))
                    gb = _unb(g * out * lg.astype(out.dtype, copy=False), bd.shape)
                return ga, gb
            return _node(out, (a, b), bw, "PowBackward")
        return _plain(out)
    out = ad ** b
    if a.requires_grad and _mode.enabled:
        if b == 2:
            return _node(out, (a,), lambda g: (g * 2 * ad,), "PowBackward")
        return _node(out, (a,), lambda g: (g * b * ad ** (b - 1),), "PowBackward")
    return _plain(out)


def _rpow(a, b):
    """b ** a for a scalar b."""
    ad = a._data
    out = np.asarray(b, dtype=ad.dtype) ** ad
    if a.requires_grad and _mode.enabled:
        lb = np.log(b) if b > 0 else (0.0 if b == 0 else np.nan)
        return _node(out, (a,), lambda g: (g * out * lb,), "PowBackward")
    return _plain(out)


def neg(a):
    a = _t(a)
    out = -a._data
    if a.requires_grad and _mode.enabled:
        return _node(out, (a,), lambda g: (-g,), "NegBackward")
    return _plain(out)


def _unary(name, fwd, grad_of):
    """An elementwise op ``out = fwd(a)`` whose backward is ``g * grad_of(a, out)``."""
    def op(a):
        a = _t(a)
        ad = a._data
        out = fwd(ad)
        if a.requires_grad and _mode.enabled:
            return _node(out, (a,), lambda g: (g * grad_of(ad, out),), name)
        return _plain(out)
    op.__name__ = name.replace("Backward", "").lower()
    return op


abs = _unary("AbsBackward", np.abs, lambda a, o: np.sign(a))
exp = _unary("ExpBackward", np.exp, lambda a, o: o)
expm1 = _unary("Expm1Backward", np.expm1, lambda a, o: o + 1)
log = _unary("LogBackward", np.log, lambda a, o: 1 / a)
log1p = _unary("Log1pBackward", np.log1p, lambda a, o: 1 / (1 + a))
sqrt = _unary("SqrtBackward", np.sqrt, lambda a, o: 0.5 / o)
rsqrt = _unary("RsqrtBackward", lambda a: 1 / np.sqrt(a), lambda a, o: -0.5 * o * o * o)
square = _unary("SquareBackward", np.square, lambda a, o: 2 * a)
sin = _unary("SinBackward", np.sin, lambda a, o: np.cos(a))
cos = _unary("CosBackward", np.cos, lambda a, o: -np.sin(a))
reciprocal = _unary("ReciprocalBackward", lambda a: 1 / a, lambda a, o: -o * o)


def sign(a):
    a = _t(a)
    out = np.sign(a._data)
    if a.requires_grad and _mode.enabled:
        return _node(out, (a,), lambda g: (np.zeros_like(g),), "SignBackward")
    return _plain(out)


def clamp(a, min=None, max=None):
    """Clip to [min, max] (either may be None or a tensor); gradient 1 inside, 0 outside."""
    a = _t(a)
    if min is None and max is None:
        raise ValueError("nervo.clamp: at least one of min and max must be given")
    ad = a._data
    lo = min._data if isinstance(min, Tensor) else min
    hi = max._data if isinstance(max, Tensor) else max
    out = np.clip(ad, lo, hi)
    if out.dtype != ad.dtype and ad.dtype.kind == "f":
        out = out.astype(ad.dtype)
    if a.requires_grad and _mode.enabled:
        def bw(g):
            m = np.ones(ad.shape, bool)
            if lo is not None:
                m &= ad >= lo
            if hi is not None:
                m &= ad <= hi
            return (g * m,)
        return _node(out, (a,), bw, "ClampBackward")
    return _plain(out)


clip = clamp


def where(cond, a, b):
    """a where cond else b, broadcasting."""
    c = cond._data if isinstance(cond, Tensor) else np.asarray(cond)
    c = c.astype(bool, copy=False)
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    ad = a._data if ta else a
    bd = b._data if tb else b
    if ta and not tb:
        bd = np.asarray(bd, dtype=a.dtype) if not isinstance(bd, np.ndarray) else bd
    if tb and not ta:
        ad = np.asarray(ad, dtype=b.dtype) if not isinstance(ad, np.ndarray) else ad
    out = np.where(c, ad, bd)
    ra = ta and a.requires_grad
    rb = tb and b.requires_grad
    if (ra or rb) and _mode.enabled:
        sa, sb = np.shape(ad), np.shape(bd)

        def bw(g):
            return (_unb(np.where(c, g, 0).astype(g.dtype, copy=False), sa) if ra else None,
                    _unb(np.where(c, 0, g).astype(g.dtype, copy=False), sb) if rb else None)
        return _node(out, (a if ta else None, b if tb else None), bw, "WhereBackward")
    return _plain(out)


def _minmax2(a, b, name, fn):
    a = _t(a)
    b = _as(b, a._data)
    if not isinstance(b, Tensor):
        b = _plain(np.asarray(b, dtype=a.dtype))
    ad, bd = a._data, b._data
    out = fn(ad, bd)
    ra, rb = a.requires_grad, b.requires_grad
    if (ra or rb) and _mode.enabled:
        def bw(g):
            wa = (fn(ad, bd) == ad).astype(g.dtype) - 0.5 * (ad == bd)
            return (_unb(g * wa, ad.shape) if ra else None,
                    _unb(g * (1 - wa), bd.shape) if rb else None)
        return _node(out, (a, b), bw, name)
    return _plain(out)


def maximum(a, b):
    """Elementwise max; at ties the gradient is split evenly (torch)."""
    return _minmax2(a, b, "MaximumBackward", np.maximum)


def minimum(a, b):
    return _minmax2(a, b, "MinimumBackward", np.minimum)


# --------------------------------------------------------------------------- matrix products
def _mm(x, y):
    """x @ y for 2-D float arrays on nervo's GEMM (strided views are passed without copies)."""
    if x.dtype.kind == "f" and x.dtype == y.dtype and x.dtype.itemsize >= 4:
        return _ops.matmul(x, y)
    return x @ y  # integer / mixed dtypes: not a hot path


def matmul(a, b):
    """a @ b with torch's rules: 1-D operands are promoted and squeezed, batch dims broadcast."""
    a, b = _t(a), _t(b)
    ad, bd = a._data, b._data
    if ad.ndim == 0 or bd.ndim == 0:
        raise RuntimeError(f"nervo.matmul: both arguments need at least 1 dimension, got shapes "
                           f"{tuple(ad.shape)} and {tuple(bd.shape)}")
    ka = ad.shape[-1]
    kb = bd.shape[-2] if bd.ndim >= 2 else bd.shape[0]
    if ka != kb:
        raise RuntimeError(f"nervo.matmul: shapes {tuple(ad.shape)} and {tuple(bd.shape)} cannot be "
                           f"multiplied ({ka} != {kb})")
    if ad.ndim == 2 and bd.ndim == 2:
        out = _mm(ad, bd)
        ra, rb = a.requires_grad, b.requires_grad
        if (ra or rb) and _mode.enabled:
            def bw(g):
                return (_mm(g, bd.T) if ra else None, _mm(ad.T, g) if rb else None)
            return _node(out, (a, b), bw, "MmBackward")
        return _plain(out)
    a2 = ad[None, :] if ad.ndim == 1 else ad
    b2 = bd[:, None] if bd.ndim == 1 else bd
    out = np.matmul(a2, b2)
    if ad.ndim == 1:
        out = out.squeeze(-2)
    if bd.ndim == 1:
        out = out.squeeze(-1)
    ra, rb = a.requires_grad, b.requires_grad
    if (ra or rb) and _mode.enabled:
        def bw(g):
            if ad.ndim == 1 and bd.ndim == 1:
                g2 = np.reshape(g, (1, 1))
            elif ad.ndim == 1:
                g2 = np.expand_dims(g, -2)
            elif bd.ndim == 1:
                g2 = np.expand_dims(g, -1)
            else:
                g2 = g
            ga = gb = None
            if ra:
                ga = _unb(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(ad.shape)
            if rb:
                gb = _unb(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape).reshape(bd.shape)
            return ga, gb
        return _node(out, (a, b), bw, "MatmulBackward")
    return _plain(out)


def mm(a, b):
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"nervo.mm: both arguments must be 2-D, got shapes {tuple(a.shape)} and "
                           f"{tuple(b.shape)}")
    return matmul(a, b)


def bmm(a, b):
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise RuntimeError(f"nervo.bmm: expected 3-D tensors with equal batch, got shapes "
                           f"{tuple(a.shape)} and {tuple(b.shape)}")
    return matmul(a, b)


def dot(a, b):
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError("nervo.dot: both arguments must be 1-D")
    return matmul(a, b)


def outer(a, b):
    return mul(reshape(a, (-1, 1)), reshape(b, (1, -1)))


# --------------------------------------------------------------------------- reductions
def _expand_back(g, shape, dim, keepdim):
    """Reduced gradient ``g`` broadcast back to ``shape``, as a new array.

    NOTE: an assignment into np.empty is several times cheaper than np.broadcast_to (a Python
    function) on small tensors, and gives an owned contiguous array that needs no later copy."""
    out = np.empty(shape, g.dtype)
    if dim is None:
        out[...] = g if keepdim or g.ndim == 0 else g.reshape(())
    else:
        out[...] = g if keepdim else np.expand_dims(g, dim)
    return out


def _count(shape, dim):
    if dim is None:
        return int(np.prod(shape)) if len(shape) else 1
    if isinstance(dim, tuple):
        return int(np.prod([shape[d] for d in dim]))
    return shape[dim]


def sum(a, dim=None, keepdim=False, dtype=None):
    """Sum over ``dim`` (int, tuple or None for all)."""
    a = _t(a)
    ad = a._data
    dim = _dims(dim, ad.ndim)
    if dtype is None and ad.dtype.kind in "bui":
        dtype = np.int64
    out = ad.sum(axis=dim, keepdims=keepdim, dtype=dtype)
    if a.requires_grad and _mode.enabled:
        shape = ad.shape
        return _node(out, (a,), lambda g: (_expand_back(g, shape, dim, keepdim),), "SumBackward")
    return _plain(out)


def mean(a, dim=None, keepdim=False, dtype=None):
    a = _t(a)
    ad = a._data
    if ad.dtype.kind not in "fc" and dtype is None:
        raise RuntimeError(f"nervo.mean: input dtype should be floating point, got {ad.dtype}")
    dim = _dims(dim, ad.ndim)
    out = ad.mean(axis=dim, keepdims=keepdim, dtype=dtype)
    if a.requires_grad and _mode.enabled:
        shape = ad.shape
        n = _count(shape, dim)
        return _node(out, (a,), lambda g: (_expand_back(g / n, shape, dim, keepdim),),
                     "MeanBackward")
    return _plain(out)


def _extreme(a, dim, keepdim, is_max):
    a = _t(a)
    ad = a._data
    red = np.max if is_max else np.min
    arg = np.argmax if is_max else np.argmin
    name = "MaxBackward" if is_max else "MinBackward"
    if dim is None:
        if ad.size == 0:
            raise RuntimeError(f"nervo.{'max' if is_max else 'min'}: empty tensor with no dim")
        out = red(ad)
        if a.requires_grad and _mode.enabled:
            def bw(g):
                m = (ad == out) | (np.isnan(ad) & np.isnan(out))
                return (m * (g / m.sum()),)
            return _node(out, (a,), bw, name)
        return _plain(out)
    d = _dims(dim, ad.ndim)
    idx = arg(ad, axis=d, keepdims=True)
    vals = np.take_along_axis(ad, idx, axis=d)
    if not keepdim:
        vals = vals.squeeze(d)
        idx_out = idx.squeeze(d)
    else:
        idx_out = idx
    ind = _plain(idx_out.astype(np.int64, copy=False))
    if a.requires_grad and _mode.enabled:
        def bw(g):
            z = np.zeros(ad.shape, g.dtype)
            gk = g if keepdim else np.expand_dims(g, d)
            np.put_along_axis(z, idx, gk, axis=d)
            return (z,)
        return MaxMin(_node(vals, (a,), bw, name), ind)
    return MaxMin(_plain(vals), ind)


def max(a, dim=None, keepdim=False):
    """max over everything (a scalar tensor) or over ``dim`` ((values, indices)). If ``dim`` is a
    Tensor, the elementwise maximum (torch.max(a, b))."""
    if isinstance(dim, Tensor):
        return maximum(a, dim)
    return _extreme(a, dim, keepdim, True)


def min(a, dim=None, keepdim=False):
    if isinstance(dim, Tensor):
        return minimum(a, dim)
    return _extreme(a, dim, keepdim, False)


def _amm(a, dim, keepdim, is_max):
    a = _t(a)
    ad = a._data
    d = _dims(dim, ad.ndim)
    if isinstance(d, list):
        d = tuple(d)
    out = (np.max if is_max else np.min)(ad, axis=d, keepdims=keepdim)
    if a.requires_grad and _mode.enabled:
        def bw(g):
            o = out if keepdim or d is None else np.expand_dims(out, d)
            gk = g if keepdim or d is None else np.expand_dims(g, d)
            m = ad == o
            return (m * (gk / m.sum(axis=d, keepdims=True)),)
        return _node(out, (a,), bw, "AmaxBackward" if is_max else "AminBackward")
    return _plain(out)


def amax(a, dim=None, keepdim=False):
    return _amm(a, dim, keepdim, True)


def amin(a, dim=None, keepdim=False):
    return _amm(a, dim, keepdim, False)


def argmax(a, dim=None, keepdim=False):
    ad = _t(a)._data
    if dim is None:
        return _plain(np.asarray(np.argmax(ad), np.int64))
    return _plain(np.argmax(ad, axis=dim, keepdims=keepdim).astype(np.int64, copy=False))


def argmin(a, dim=None, keepdim=False):
    ad = _t(a)._data
    if dim is None:
        return _plain(np.asarray(np.argmin(ad), np.int64))
    return _plain(np.argmin(ad, axis=dim, keepdims=keepdim).astype(np.int64, copy=False))


def var(a, dim=None, unbiased=None, keepdim=False, correction=None):
    """Variance over ``dim`` with Bessel's correction by default (torch.var)."""
    a = _t(a)
    ad = a._data
    if correction is None:
        correction = 0 if unbiased is False else 1
    d = _dims(dim, ad.ndim)
    n = _count(ad.shape, d)
    mu = ad.mean(axis=d, keepdims=True)
    xc = ad - mu
    denom = n - correction
    out = np.divide((xc * xc).sum(axis=d, keepdims=keepdim), denom if denom > 0 else 0) \
        if denom > 0 else np.full(np.sum(xc, axis=d, keepdims=keepdim).shape, np.nan, ad.dtype)
    if a.requires_grad and _mode.enabled:
        def bw(g):
            gk = _expand_back(g, ad.shape, d, keepdim) if not keepdim else g
            return (gk * (2.0 / denom) * xc,)
        return _node(np.asarray(out, ad.dtype), (a,), bw, "VarBackward")
    return _plain(np.asarray(out, ad.dtype))


def std(a, dim=None, unbiased=None, keepdim=False, correction=None):
    return sqrt(var(a, dim, unbiased, keepdim, correction))


def logsumexp(a, dim, keepdim=False):
    a = _t(a)
    ad = a._data
    d = _dims(dim, ad.ndim)
    m = np.max(ad, axis=d, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    s = np.exp(ad - m).sum(axis=d, keepdims=True)
    outk = np.log(s) + m
    out = outk if keepdim else np.squeeze(outk, axis=d)
    if a.requires_grad and _mode.enabled:
        def bw(g):
            gk = g if keepdim else np.expand_dims(g, d)
            return (gk * np.exp(ad - outk),)
        return _node(out, (a,), bw, "LogsumexpBackward")
    return _plain(out)


def norm(a, p=2, dim=None, keepdim=False):
    """The p-norm (p = 1, 2, inf, or any positive number) over ``dim``."""
    if p == 2 or p == "fro":
        return sqrt(sum(a * a, dim, keepdim))
    if p == 1:
        return sum(abs(a), dim, keepdim)
    if p in (float("inf"), "inf"):
        return amax(abs(a), dim, keepdim)
    return pow(sum(pow(abs(a), p), dim, keepdim), 1.0 / p)


def prod(a, dim=None, keepdim=False):
    a = _t(a)
    ad = a._data
    d = _dims(dim, ad.ndim)
    out = np.prod(ad, axis=d, keepdims=keepdim)
    if a.requires_grad and _mode.enabled:
        def bw(g):
            gk = _expand_back(g, ad.shape, d, keepdim)
            ok = _expand_back(out, ad.shape, d, keepdim)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.where(ad != 0, ok / np.where(ad != 0, ad, 1), 0)
            if (ad == 0).any():  # product of the others at zeros: recompute exactly
                r = r.copy()
                for i in zip(*np.nonzero(ad == 0)):
                    others = ad.copy()
                    others[i] = 1
                    sl = list(i)
                    if d is None:
                        r[i] = np.prod(others)
                    else:
                        sl[d] = slice(None)
                        r[i] = np.prod(others[tuple(sl)])
            return (gk * r,)
        return _node(out, (a,), bw, "ProdBackward")
    return _plain(out)


def cumsum(a, dim):
    a = _t(a)
    ad = a._data
    out = np.cumsum(ad, axis=dim)
    if a.requires_grad and _mode.enabled:
        return _node(out, (a,), lambda g: (np.flip(np.cumsum(np.flip(g, dim), axis=dim), dim),),
                     "CumsumBackward")
    return _plain(out)


# --------------------------------------------------------------------------- shape ops
def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return shape


def reshape(a, *shape):
    a = _t(a)
    ad = a._data
    shape = _shape_arg(shape)
    try:
        out = ad.reshape(shape)
    except ValueError as exc:
        raise RuntimeError(f"nervo.reshape: shape {tuple(shape)} is invalid for input of shape "
                           f"{tuple(ad.shape)} ({ad.size} elements)") from exc
    if a.requires_grad and _mode.enabled:
        s = ad.shape
        return _node(out, (a,), lambda g: (g.reshape(s),), "ReshapeBackward")
    return _plain(out)


def flatten(a, start_dim=0, end_dim=-1):
    a = _t(a)
    sh = a._data.shape
    if len(sh) == 0:
        return reshape(a, (1,))
    s = start_dim % len(sh)
    e = end_dim % len(sh)
    if s > e:
        raise RuntimeError(f"nervo.flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    n = 1
    for v in sh[s:e + 1]:
        n *= v
    return reshape(a, sh[:s] + (n,) + sh[e + 1:])


def unflatten(a, dim, sizes):
    a = _t(a)
    sh = a._data.shape
    d = dim % len(sh)
    return reshape(a, sh[:d] + tuple(sizes) + sh[d + 1:])


def permute(a, *dims):
    a = _t(a)
    dims = tuple(_shape_arg(dims))
    ad = a._data
    if sorted(d % ad.ndim for d in dims) != list(range(ad.ndim)):
        raise RuntimeError(f"nervo.permute: dims {dims} are not a permutation of {ad.ndim} dims")
    out = ad.transpose(dims)
    if a.requires_grad and _mode.enabled:
        inv = tuple(np.argsort([d % ad.ndim for d in dims]))
        return _node(out, (a,), lambda g: (g.transpose(inv),), "PermuteBackward")
    return _plain(out)


def transpose(a, dim0, dim1):
    a = _t(a)
    out = np.swapaxes(a._data, dim0, dim1)
    if a.requires_grad and _mode.enabled:
        return _node(out, (a,), lambda g: (np.swapaxes(g, dim0, dim1),), "TransposeBackward")
    return _plain(out)


def t(a):
    a = _t(a)
    if a.ndim > 2:
        raise RuntimeError(f"nervo.t: expects a tensor with <= 2 dimensions, got {a.ndim}")
    return transpose(a, 0, 1) if a.ndim == 2 else a


def squeeze(a, dim=None):
    a = _t(a)
    sh = a._data.shape
    if dim is None:
        new = tuple(s for s in sh if s != 1)
    else:
        dims = {d % len(sh) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))} if sh else set()
        new = tuple(s for i, s in enumerate(sh) if not (i in dims and s == 1))
    return reshape(a, new)


def unsqueeze(a, dim):
    a = _t(a)
    sh = a._data.shape
    d = dim % (len(sh) + 1)
    return reshape(a, sh[:d] + (1,) + sh[d:])


def expand(a, *sizes):
    a = _t(a)
    sizes = _shape_arg(sizes)
    ad = a._data
    nd = len(sizes) - ad.ndim
    if nd < 0:
        raise RuntimeError(f"nervo.expand: cannot expand shape {tuple(ad.shape)} to {tuple(sizes)}")
    target = tuple(ad.shape[i - nd] if s == -1 else s for i, s in enumerate(sizes))
    try:
        out = np.broadcast_to(ad, target)
    except ValueError as exc:
        raise RuntimeError(f"nervo.expand: cannot expand shape {tuple(ad.shape)} to "
                           f"{tuple(sizes)}") from exc
    if a.requires_grad and _mode.enabled:
        s = ad.shape
        return _node(out, (a,), lambda g: (_unb(g, s),), "ExpandBackward")
    return _plain(out)


def broadcast_to(a, shape):
    return expand(a, tuple(shape))


def cat(tensors, dim=0):
    """Concatenate along ``dim``."""
    ts = [_t(x) for x in tensors]
    if not ts:
        raise RuntimeError("nervo.cat: expected a non-empty list of tensors")
    arrs = [x._data for x in ts]
    try:
        out = np.concatenate(arrs, axis=dim)
    except ValueError as exc:
        raise RuntimeError(f"nervo.cat: shapes {[tuple(x.shape) for x in arrs]} do not match "
                           f"outside dim {dim}") from exc
    if _need(*ts):
        bounds = np.cumsum([x.shape[dim] for x in arrs])[:-1]

        def bw(g):
            parts = np.split(g, bounds, axis=dim)
            return tuple(p if x.requires_grad else None for p, x in zip(parts, ts))
        return _node(out, tuple(ts), bw, "CatBackward")
    return _plain(out)


concat = cat


def stack(tensors, dim=0):
    ts = [_t(x) for x in tensors]
    if not ts:
        raise RuntimeError("nervo.stack: expected a non-empty list of tensors")
    shapes = {x.shape for x in ts}
    if len(shapes) != 1:
        raise RuntimeError(f"nervo.stack: all tensors must have the same shape, got "
                           f"{[tuple(x.shape) for x in ts]}")
    d = dim % (ts[0].ndim + 1)
    return cat([unsqueeze(x, d) for x in ts], d)


def split(a, split_size_or_sections, dim=0):
    a = _t(a)
    n = a._data.shape[dim]
    if isinstance(split_size_or_sections, int):
        s = split_size_or_sections
        if s <= 0:
            raise ValueError(f"nervo.split: split_size must be positive, got {s}")
        sizes = [s] * (n // s) + ([n % s] if n % s else [])
    else:
        sizes = list(split_size_or_sections)
        if builtins_sum(sizes) != n:
            raise RuntimeError(f"nervo.split: sections {sizes} do not sum to dim size {n}")
    out = []
    start = 0
    d = dim % a.ndim
    for s in sizes:
        idx = (slice(None),) * d + (slice(start, start + s),)
        out.append(a[idx])
        start += s
    return tuple(out)


def chunk(a, chunks, dim=0):
    n = _t(a)._data.shape[dim]
    size = -(-n // chunks)
    return split(a, builtins_max(size, 1), dim)


def unbind(a, dim=0):
    a = _t(a)
    d = dim % a.ndim
    return tuple(a[(slice(None),) * d + (i,)] for i in range(a.shape[d]))


import builtins as _builtins  # noqa: E402

builtins_sum = _builtins.sum
builtins_max = _builtins.max


# --------------------------------------------------------------------------- indexing
def _index(idx):
    """Convert Tensor indices to arrays; say whether the index is advanced (may repeat)."""
    if isinstance(idx, Tensor):
        return idx._data, True
    if isinstance(idx, tuple):
        adv = False
        items = []
        for i in idx:
            if isinstance(i, Tensor):
                i = i._data
            if isinstance(i, (np.ndarray, list)):
                adv = True
            items.append(i)
        return tuple(items), adv
    if isinstance(idx, (np.ndarray, list)):
        return idx, True
    return idx, False


def getitem(a, idx):
    ad = a._data
    idx, adv = _index(idx)
    try:
        out = ad[idx]
    except IndexError as exc:
        raise IndexError(f"nervo.Tensor indexing: {exc} (tensor shape {tuple(ad.shape)})") from exc
    if a.requires_grad and _mode.enabled:
        def bw(g):
            z = np.zeros(ad.shape, g.dtype)
            if adv:
                np.add.at(z, idx, g)
            else:
                z[idx] = g
            return (z,)
        return _node(out, (a,), bw, "IndexBackward")
    return _plain(out)


def setitem(a, idx, value):
    """``a[idx] = value``, recorded by autograd when ``a`` or ``value`` requires grad."""
    idx2, _ = _index(idx)
    if a._record(value):
        a._inplace_op("__setitem__", (value,), lambda p: _index_put(p, idx2, value))
        return
    a._data[idx2] = value._data if isinstance(value, Tensor) else value
    a._wrote()


def _index_put(a, idx, value):
    """A copy of ``a`` with ``[idx] = value`` (the out-of-place form of setitem), recorded."""
    ad = a._data
    vt = isinstance(value, Tensor)
    vd = value._data if vt else value
    out = ad.copy()
    out[idx] = vd
    ra, rv = a.requires_grad, vt and value.requires_grad
    if (ra or rv) and _mode.enabled:
        vshape = np.shape(vd)

        def bw(g):
            ga = gv = None
            if ra:
                ga = g.copy()
                ga[idx] = 0
            if rv:
                gv = _unb(g[idx], vshape)
            return ga, gv
        return _node(out, (a, value if vt else None), bw, "CopySlices")
    return _plain(out)


def gather(a, dim, index):
    """out[i][j] = a[i][index[i][j]] along ``dim`` (torch.gather)."""
    a = _t(a)
    ad = a._data
    ix = index._data if isinstance(index, Tensor) else np.asarray(index)
    if ix.dtype.kind not in "iu":
        raise TypeError(f"nervo.gather: index must be an integer tensor, got {ix.dtype}")
    d = dim % ad.ndim
    if ix.size and (ix.min() < -ad.shape[d] or ix.max() >= ad.shape[d]):
        raise IndexError(f"nervo.gather: index out of range for dim {dim} of size {ad.shape[d]}")
    if ix.ndim != ad.ndim:
        raise RuntimeError(f"nervo.gather: index has {ix.ndim} dims but input has {ad.ndim}")
    grid = list(np.indices(ix.shape, sparse=True))
    grid[d] = ix
    grid = tuple(grid)
    out = ad[grid]
    if a.requires_grad and _mode.enabled:
        def bw(g):
            z = np.zeros(ad.shape, g.dtype)
            np.add.at(z, grid, g)
            return (z,)
        return _node(out, (a, None), bw, "GatherBackward")
    return _plain(out)


def index_select(a, dim, index):
    a = _t(a)
    ad = a._data
    ix = index._data if isinstance(index, Tensor) else np.asarray(index)
    d = dim % ad.ndim
    idx = (slice(None),) * d + (ix,)
    out = ad[idx]
    if a.requires_grad and _mode.enabled:
        def bw(g):
            z = np.zeros(ad.shape, g.dtype)
            np.add.at(z, idx, g)
            return (z,)
        return _node(out, (a,), bw, "IndexSelectBackward")
    return _plain(out)


def masked_fill(a, mask, value):
    a = _t(a)
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    m = m.astype(bool, copy=False)
    v = value.item() if isinstance(value, Tensor) else value
    ad = a._data
    out = np.where(m, np.asarray(v, ad.dtype), ad)
    if a.requires_grad and _mode.enabled:
        return _node(out, (a,), lambda g: (_unb(np.where(m, 0, g).astype(g.dtype, copy=False),
                                                ad.shape),), "MaskedFillBackward")
    return _plain(out)


# --------------------------------------------------------------------------- casts, copies
def to(a, *args, dtype=None, device=None, copy=False, **kwargs):
    """Cast to a dtype (differentiable between float dtypes); devices other than 'cpu' raise."""
    for x in args:
        if isinstance(x, Tensor):
            dtype = x.dtype
        elif isinstance(x, str) and x.startswith("cpu") or x is None:
            pass
        elif isinstance(x, str):
            try:
                dtype = np.dtype(x)
            except TypeError:
                raise ValueError(f"Tensor.to: only the 'cpu' device exists, got {x!r}") from None
        else:
            dtype = x
    if device is not None and not str(device).startswith("cpu"):
        raise ValueError(f"Tensor.to: only the 'cpu' device exists, got {device!r}")
    if dtype is None:
        return clone(a) if copy else a
    dt = np.dtype(dtype)
    ad = a._data
    if dt == ad.dtype and not copy:
        return a
    out = ad.astype(dt)
    if a.requires_grad and _mode.enabled and dt.kind == "f":
        src = ad.dtype
        return _node(out, (a,), lambda g: (g.astype(src),), "ToCopyBackward")
    return _plain(out)


def clone(a):
    a = _t(a)
    out = a._data.copy()
    if a.requires_grad and _mode.enabled:
        return _node(out, (a,), _pass, "CloneBackward")
    return _plain(out)


def contiguous(a):
    return a if a._data.flags.c_contiguous else clone(a)


# --------------------------------------------------------------------------- comparisons
def _cmp(fn):
    def op(a, b):
        ad = a._data if isinstance(a, Tensor) else a
        bd = b._data if isinstance(b, Tensor) else b
        return _plain(np.asarray(fn(ad, bd)))
    op.__name__ = fn.__name__
    return op


eq = _cmp(np.equal)
ne = _cmp(np.not_equal)
lt = _cmp(np.less)
le = _cmp(np.less_equal)
gt = _cmp(np.greater)
ge = _cmp(np.greater_equal)


def isnan(a):
    return _plain(np.isnan(_t(a)._data))


def isinf(a):
    return _plain(np.isinf(_t(a)._data))


def isfinite(a):
    return _plain(np.isfinite(_t(a)._data))


def allclose(a, b, rtol=1e-5, atol=1e-8, equal_nan=False):
    return bool(np.allclose(_t(a)._data, _t(b)._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(a, b):
    return bool(np.array_equal(_t(a)._data, _t(b)._data))


def topk(a, k, dim=-1, largest=True, sorted=True):
    a = _t(a)
    ad = a._data
    d = dim % ad.ndim
    key = -ad if largest else ad
    idx = np.argsort(key, axis=d, kind="stable")
    idx = np.take(idx, np.arange(k), axis=d)
    vals = gather(a, d, _plain(idx))
    return MaxMin(vals, _plain(idx.astype(np.int64)))


def sort(a, dim=-1, descending=False):
    a = _t(a)
    ad = a._data
    idx = np.argsort(-ad if descending else ad, axis=dim, kind="stable")
    return MaxMin(gather(a, dim, _plain(idx)), _plain(idx.astype(np.int64)))


def argsort(a, dim=-1, descending=False):
    ad = _t(a)._data
    return _plain(np.argsort(-ad if descending else ad, axis=dim, kind="stable").astype(np.int64))


# --------------------------------------------------------------------------- Tensor methods
def _bind_tensor_methods(T):
    """Attach operators and math methods to Tensor (called once by nervo.tensor)."""
    def _flip(fn):
        return lambda self, other: fn(self, other)

    T.__add__ = _add
    T.__radd__ = _radd
    T.__sub__ = _sub
    T.__rsub__ = _rsub
    T.__mul__ = _mul
    T.__rmul__ = _mul
    T.__truediv__ = _div
    T.__rtruediv__ = _rdiv
    T.__pow__ = _pow
    T.__rpow__ = lambda self, other: _rpow(self, other) if not isinstance(other, Tensor) \
        else _pow(other, self)
    T.__neg__ = neg
    T.__abs__ = abs
    T.__matmul__ = matmul
    T.__rmatmul__ = lambda self, other: matmul(other, self)
    T.__getitem__ = getitem
    T.__setitem__ = setitem
    T.__eq__ = eq
    T.__ne__ = ne
    T.__lt__ = lt
    T.__le__ = le
    T.__gt__ = gt
    T.__ge__ = ge
    T.__hash__ = lambda self: id(self)
    T.__floordiv__ = lambda self, o: div(self, o, rounding_mode="floor")
    T.__mod__ = lambda self, o: _plain(np.mod(self._data, o._data if isinstance(o, Tensor) else o))
    T.__invert__ = lambda self: _plain(~self._data)
    T.__and__ = lambda self, o: _plain(self._data & (o._data if isinstance(o, Tensor) else o))
    T.__or__ = lambda self, o: _plain(self._data | (o._data if isinstance(o, Tensor) else o))
    T.__xor__ = lambda self, o: _plain(self._data ^ (o._data if isinstance(o, Tensor) else o))
    for name in ("add", "sub", "mul", "div", "pow", "abs", "exp", "log", "log1p", "expm1", "sqrt",
                 "rsqrt", "square", "sin", "cos", "sign", "reciprocal", "clamp", "clip", "maximum",
                 "minimum", "matmul", "mm", "bmm", "dot", "sum", "mean", "max", "min", "amax",
                 "amin", "var", "std", "logsumexp", "argmax", "argmin", "norm", "prod", "cumsum",
                 "flatten", "unflatten", "transpose", "t", "squeeze", "unsqueeze", "split",
                 "chunk", "unbind", "gather", "index_select", "masked_fill", "eq", "ne", "lt",
                 "le", "gt", "ge", "isnan", "isinf", "isfinite", "allclose", "equal", "clone",
                 "contiguous", "topk", "sort", "argsort", "neg", "to"):
        setattr(T, name, globals()[name])
    T.multiply = mul
    T.divide = div
    T.subtract = sub
    T.negative = neg
    T.reshape = reshape
    T.view = reshape
    T.permute = permute
    T.expand = expand
    T.expand_as = lambda self, other: expand(self, other.shape)
    T.view_as = lambda self, other: reshape(self, other.shape)
    T.reshape_as = lambda self, other: reshape(self, other.shape)
    T.broadcast_to = broadcast_to
    T.where = lambda self, cond, other: where(cond, self, other)
    T.T = property(lambda self: permute(self, tuple(range(self.ndim - 1, -1, -1))))
    T.mT = property(lambda self: transpose(self, -2, -1))
    T.swapaxes = transpose


# --------------------------------------------------------------------------- double backward
# Differentiable backwards for create_graph=True (nervo.autograd: twice, saved, _run_graph).
# Each mirrors the NumPy backward of the op above with recorded Tensor ops, so the gradient it
# returns can be differentiated again; constants (masks, indices, shapes) stay NumPy.
# ``node.inputs`` are the op's input Tensors, ``out`` its output Tensor, ``g`` the gradient.
from nervo.autograd import twice as _twice, saved as _saved, _not_twice, grad as _grad  # noqa: E402


def _c(a, dtype):
    """A constant tensor (mask, weight) of the gradient's dtype."""
    return _plain(np.asarray(a).astype(dtype, copy=False))


def _unb_t(g, shape):
    """Tensor version of :func:`_unb` (recorded, so differentiable)."""
    if g.shape == shape:
        return g
    nd = g.ndim - len(shape)
    if nd > 0:
        g = sum(g, tuple(range(nd)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if axes:
        g = sum(g, axes, keepdim=True)
    return reshape(g, shape)


def _keep(g, shape, dim, keepdim):
    """A reduced tensor ``g`` reshaped to keepdim form (broadcastable against ``shape``)."""
    if keepdim:
        return g
    if dim is None:
        return reshape(g, (1,) * len(shape))
    dims = dim if isinstance(dim, tuple) else (dim,)
    return reshape(g, tuple(1 if i in dims else s for i, s in enumerate(shape)))


def _expand_t(g, shape, dim, keepdim):
    """Tensor version of :func:`_expand_back`: an owned, contiguous copy (a recorded clone)."""
    return clone(expand(_keep(g, shape, dim, keepdim), shape))


def _recompute(composite):
    """A differentiable backward that rebuilds the op from differentiable Tensor ops
    (``composite(node, *inputs)``, on the original inputs) and differentiates that with
    create_graph: right for every order, for ops whose closed-form second derivative is long."""
    def tw(node, out, g):
        ins = node.inputs
        want = [i for i, p in enumerate(ins) if p is not None and p.requires_grad]
        y = composite(node, *ins)
        gs = _grad([y], [ins[i] for i in want], [g], create_graph=True, allow_unused=True)
        res = [None] * len(ins)
        for i, gi in zip(want, gs):
            res[i] = gi
        return tuple(res)
    return tw


def _scatter(g, shape, idx, adv):
    """zeros(shape) with ``g`` added at ``idx``: the backward of indexing as a recorded op (its
    own backward is indexing again)."""
    gd = g._data
    z = np.zeros(shape, gd.dtype)
    if adv:
        np.add.at(z, idx, gd)
    else:
        z[idx] = gd
    if g.requires_grad and _mode.enabled:
        return _node(z, (g,), lambda h: (h[idx],), "IndexPutBackward")
    return _plain(z)


@_twice("IndexPutBackward")
def _scatter_tw(node, out, g):
    return (getitem(g, _saved(node.backward)["idx"]),)


def _both(node, ga, gb):
    a, b = node.inputs
    return (ga() if a is not None and a.requires_grad else None,
            gb() if b is not None and b.requires_grad else None)


@_twice("AddBackward", "CloneBackward")
def _add_tw(node, out, g):
    if len(node.inputs) == 1:
        return (g,)
    a, b = node.inputs
    return _both(node, lambda: _unb_t(g, a.shape), lambda: _unb_t(g, b.shape))


@_twice("SubBackward")
def _sub_tw(node, out, g):
    if len(node.inputs) == 1:
        return (g,)
    a, b = node.inputs
    return _both(node, lambda: _unb_t(g, a.shape), lambda: _unb_t(neg(g), b.shape))


@_twice("RsubBackward", "NegBackward")
def _neg_tw(node, out, g):
    return (neg(g),)


@_twice("MulBackward")
def _mul_tw(node, out, g):
    if len(node.inputs) == 1:
        return (mul(g, _saved(node.backward)["b"]),)
    a, b = node.inputs
    return _both(node, lambda: _unb_t(g * b, a.shape), lambda: _unb_t(g * a, b.shape))


@_twice("DivBackward")
def _div_tw(node, out, g):
    if len(node.inputs) == 1:
        s = _saved(node.backward)
        if "ad" in s:  # _rdiv: out = b / a
            return (neg(g * out / node.inputs[0]),)
        return (div(g, s["b"]),)
    a, b = node.inputs
    return _both(node, lambda: _unb_t(g / b, a.shape), lambda: _unb_t(neg(g * out / b), b.shape))


@_twice("PowBackward")
def _pow_tw(node, out, g):
    s = _saved(node.backward)
    if len(node.inputs) == 1:
        a = node.inputs[0]
        if "lb" in s:  # _rpow: out = b ** a
            return (g * out * s["lb"],)
        b = s.get("b", 2)  # the b == 2 closure captures only the input
        if b == 2:
            return (g * a * 2,)
        return (g * b * a ** (b - 1),)
    a, b = node.inputs
    ad = a._data

    def gb():
        pos = ad > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            other = np.where(ad == 0, 0, np.nan).astype(ad.dtype)
        lg = where(pos, log(where(pos, a, 1.0)), _plain(other))
        return _unb_t(g * out * lg, b.shape)
    return _both(node, lambda: _unb_t(g * b * a ** (b - 1), a.shape), gb)


_UNARY_TW = {
    "AbsBackward": lambda a, o, g: g * _c(np.sign(a._data), g.dtype),
    "ExpBackward": lambda a, o, g: g * o,
    "Expm1Backward": lambda a, o, g: g * (o + 1),
    "LogBackward": lambda a, o, g: g / a,
    "Log1pBackward": lambda a, o, g: g / (a + 1),
    "SqrtBackward": lambda a, o, g: g / o * 0.5,
    "RsqrtBackward": lambda a, o, g: g * o * o * o * -0.5,
    "SquareBackward": lambda a, o, g: g * a * 2,
    "SinBackward": lambda a, o, g: g * cos(a),
    "CosBackward": lambda a, o, g: neg(g * sin(a)),
    "ReciprocalBackward": lambda a, o, g: neg(g * o * o),
    "SignBackward": lambda a, o, g: g * 0,
}


@_twice(*_UNARY_TW)
def _unary_tw(node, out, g):
    return (_UNARY_TW[node.name](node.inputs[0], out, g),)


@_twice("ClampBackward")
def _clamp_tw(node, out, g):
    s = _saved(node.backward)
    ad, lo, hi = s["ad"], s["lo"], s["hi"]
    m = np.ones(ad.shape, bool)
    if lo is not None:
        m &= ad >= lo
    if hi is not None:
        m &= ad <= hi
    return (g * _c(m, g.dtype),)


@_twice("WhereBackward")
def _where_tw(node, out, g):
    s = _saved(node.backward)
    c = s["c"]
    return (_unb_t(where(c, g, 0.0), s["sa"]) if s["ra"] else None,
            _unb_t(where(c, 0.0, g), s["sb"]) if s["rb"] else None)


@_twice("MaximumBackward", "MinimumBackward")
def _minmax2_tw(node, out, g):
    s = _saved(node.backward)
    ad, bd = s["ad"], s["bd"]
    wa = (s["fn"](ad, bd) == ad).astype(g.dtype) - 0.5 * (ad == bd)
    return _both(node, lambda: _unb_t(g * _c(wa, g.dtype), ad.shape),
                 lambda: _unb_t(g * _c(1 - wa, g.dtype), bd.shape))


@_twice("MmBackward")
def _mm_tw(node, out, g):
    a, b = node.inputs
    return _both(node, lambda: matmul(g, transpose(b, 0, 1)), lambda: matmul(transpose(a, 0, 1), g))


@_twice("MatmulBackward")
def _matmul_tw(node, out, g):
    a, b = node.inputs
    a2 = unsqueeze(a, 0) if a.ndim == 1 else a
    b2 = unsqueeze(b, 1) if b.ndim == 1 else b
    if a.ndim == 1 and b.ndim == 1:
        g2 = reshape(g, (1, 1))
    elif a.ndim == 1:
        g2 = unsqueeze(g, -2)
    elif b.ndim == 1:
        g2 = unsqueeze(g, -1)
    else:
        g2 = g
    return _both(node,
                 lambda: reshape(_unb_t(matmul(g2, transpose(b2, -1, -2)), a2.shape), a.shape),
                 lambda: reshape(_unb_t(matmul(transpose(a2, -1, -2), g2), b2.shape), b.shape))


@_twice("SumBackward")
def _sum_tw(node, out, g):
    s = _saved(node.backward)
    return (_expand_t(g, s["shape"], s["dim"], s["keepdim"]),)


@_twice("MeanBackward")
def _mean_tw(node, out, g):
    s = _saved(node.backward)
    return (_expand_t(div(g, s["n"]), s["shape"], s["dim"], s["keepdim"]),)


@_twice("MaxBackward", "MinBackward")
def _extreme_tw(node, out, g):
    s = _saved(node.backward)
    ad = s["ad"]
    if "idx" not in s:  # over everything: split evenly between ties
        m = (ad == s["out"]) | (np.isnan(ad) & np.isnan(s["out"]))
        return (g * _c(m / m.sum(), g.dtype),)
    d = s["d"]
    m = np.zeros(ad.shape, g.dtype)
    np.put_along_axis(m, s["idx"], 1, axis=d)
    return (_keep(g, ad.shape, d, s["keepdim"]) * _plain(m),)


@_twice("AmaxBackward", "AminBackward")
def _amm_tw(node, out, g):
    s = _saved(node.backward)
    ad, d, keepdim = s["ad"], s["d"], s["keepdim"]
    o = s["out"] if keepdim or d is None else np.expand_dims(s["out"], d)
    m = ad == o
    return (_keep(g, ad.shape, d, keepdim) * _c(m / m.sum(axis=d, keepdims=True), g.dtype),)


@_twice("VarBackward")
def _var_tw(node, out, g):
    s = _saved(node.backward)
    a = node.inputs[0]
    d = s["d"]
    xc = a - mean(a, d, keepdim=True)
    return (_keep(g, a.shape, d, s["keepdim"]) * xc * (2.0 / s["denom"]),)


@_twice("LogsumexpBackward")
def _logsumexp_tw(node, out, g):
    s = _saved(node.backward)
    a = node.inputs[0]
    d, keepdim = s["d"], s["keepdim"]
    return (_keep(g, a.shape, d, keepdim) * exp(a - _keep(out, a.shape, d, keepdim)),)


@_twice("ProdBackward")
def _prod_tw(node, out, g):
    s = _saved(node.backward)
    a = node.inputs[0]
    if (s["ad"] == 0).any():
        raise RuntimeError("ProdBackward is not twice differentiable in nervo when the input has "
                           "zeros (create_graph=True)")
    d, keepdim = s["d"], s["keepdim"]
    return (_keep(g, a.shape, d, keepdim) * _keep(out, a.shape, d, keepdim) / a,)


@_twice("CumsumBackward")
def _cumsum_tw(node, out, g):
    dim = _saved(node.backward)["dim"]
    return (sum(g, dim, keepdim=True) - cumsum(g, dim) + g,)


@_twice("ReshapeBackward")
def _reshape_tw(node, out, g):
    return (reshape(g, node.inputs[0].shape),)


@_twice("PermuteBackward")
def _permute_tw(node, out, g):
    return (permute(g, _saved(node.backward)["inv"]),)


@_twice("TransposeBackward")
def _transpose_tw(node, out, g):
    s = _saved(node.backward)
    return (transpose(g, s["dim0"], s["dim1"]),)


@_twice("ExpandBackward")
def _expand_tw(node, out, g):
    return (_unb_t(g, node.inputs[0].shape),)


@_twice("CatBackward")
def _cat_tw(node, out, g):
    s = _saved(node.backward)
    d = s["dim"] % g.ndim
    ends = [int(e) for e in s["bounds"]] + [g.shape[d]]
    res, start = [], 0
    for x, end in zip(s["ts"], ends):
        res.append(getitem(g, (slice(None),) * d + (slice(start, end),))
                   if x.requires_grad else None)
        start = end
    return tuple(res)


@_twice("IndexBackward")
def _index_tw(node, out, g):
    s = _saved(node.backward)
    return (_scatter(g, s["ad"].shape, s["idx"], s["adv"]),)


@_twice("GatherBackward")
def _gather_tw(node, out, g):
    s = _saved(node.backward)
    return (_scatter(g, s["ad"].shape, s["grid"], True), None)


@_twice("IndexSelectBackward")
def _index_select_tw(node, out, g):
    s = _saved(node.backward)
    return (_scatter(g, s["ad"].shape, s["idx"], True),)


@_twice("MaskedFillBackward")
def _masked_fill_tw(node, out, g):
    s = _saved(node.backward)
    return (_unb_t(where(s["m"], 0.0, g), s["ad"].shape),)


@_twice("CopySlices")
def _index_put_tw(node, out, g):
    s = _saved(node.backward)
    idx = s["idx"]
    m = np.ones(g.shape, bool)
    m[idx] = False
    return (g * _c(m, g.dtype) if s["ra"] else None,
            _unb_t(getitem(g, idx), s["vshape"]) if s["rv"] else None)


@_twice("ToCopyBackward")
def _to_tw(node, out, g):
    return (to(g, _saved(node.backward)["src"]),)
