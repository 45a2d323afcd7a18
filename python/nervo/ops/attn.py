"""Fused scaled-dot-product attention (flash-attention style) and its backward.

    out = softmax(scale * q @ k^T + mask) @ v

computed block by block with an online softmax: at most one 32 x 64 block of scores exists at a
time per thread, never the L x S matrix. Semantics follow
``torch.nn.functional.scaled_dot_product_attention``, with one definition added: a query row
whose scores are all masked (-inf) gets a zero output and zero gradients (torch's math path gives
NaN there).

Shapes: q (..., L, E), k (..., S, E), v (..., S, Ev) with the same leading dims (0 to 2 of them,
read as (B, heads)); out (..., L, Ev).
attn_mask: None; a bool array (True = may attend); or a float array added to the scores;
broadcastable to (..., L, S) (each dim 1 or full).
is_causal: query i attends keys j <= i (top-left aligned, like torch).
dropout_p, seed: dropout on the attention weights, decided by a counter-based hash of (seed,
element index): the same seed gives the same mask in forward and backward, on any thread count.

Example:
    >>> import numpy as np, nervo.ops as ops
    >>> q = np.ones((1, 2, 3, 4), np.float32)
    >>> ops.scaled_dot_product_attention(q, q, q).shape
    (1, 2, 3, 4)
"""
from __future__ import annotations

import math

import numpy as np

from nervo.backend import K
from nervo.ops._check import float_array, fmt_shape, real

__all__ = ["scaled_dot_product_attention", "scaled_dot_product_attention_backward",
           "attention_mask"]


def _as4d(a, call, arg):
    if a.ndim < 2 or a.ndim > 4:
        raise ValueError(f"{call}: {arg} must have 2 to 4 dims (..., length, dim), got shape "
                         f"{fmt_shape(a.shape)}")
    return a.reshape((1,) * (4 - a.ndim) + a.shape)


def attention_mask(attn_mask, shape4, dtype, call="nervo.ops.scaled_dot_product_attention"):
    """The additive 4-D mask the kernel takes: bool -> 0 / -inf; rank padded to 4; each dim must
    be 1 or match ``shape4`` = (B, heads, L, S)."""
    if attn_mask is None:
        return None
    if not isinstance(attn_mask, np.ndarray):
        raise TypeError(f"{call}: attn_mask must be a numpy.ndarray or None, got {type(attn_mask).__name__}")
    m = attn_mask
    if m.ndim > 4 or m.ndim < 1:
        raise ValueError(f"{call}: attn_mask must have 1 to 4 dims, got shape {fmt_shape(m.shape)}")
    m4 = m.reshape((1,) * (4 - m.ndim) + m.shape)
    for d in range(4):
        if m4.shape[d] not in (1, shape4[d]):
            raise ValueError(f"{call}: attn_mask of shape {fmt_shape(m.shape)} does not broadcast to "
                             f"(batch, heads, L, S) = {fmt_shape(shape4)}")
    if m4.dtype == np.bool_:
        out = np.zeros(m4.shape, dtype)
        out[~m4] = -np.inf
        return out
    if m4.dtype.kind != "f":
        raise TypeError(f"{call}: attn_mask must be bool or floating, got {m4.dtype}")
    return np.ascontiguousarray(m4, dtype)


def _prepare(call, q, k, v, attn_mask, is_causal, scale, dropout_p):
    q = float_array(q, call, "q")
    k = float_array(k, call, "k", q.dtype)
    v = float_array(v, call, "v", q.dtype)
    if not (q.ndim == k.ndim == v.ndim):
        raise ValueError(f"{call}: q, k, v must have the same number of dims, got shapes "
                         f"{fmt_shape(q.shape)}, {fmt_shape(k.shape)}, {fmt_shape(v.shape)}")
    q4, k4, v4 = _as4d(q, call, "q"), _as4d(k, call, "k"), _as4d(v, call, "v")
    if q4.shape[:2] != k4.shape[:2] or k4.shape[:2] != v4.shape[:2]:
        raise ValueError(f"{call}: q, k, v leading dims differ: {fmt_shape(q.shape)}, "
                         f"{fmt_shape(k.shape)}, {fmt_shape(v.shape)}")
    if q4.shape[3] != k4.shape[3]:
        raise ValueError(f"{call}: q has feature size {q4.shape[3]} but k has {k4.shape[3]}")
    if k4.shape[2] != v4.shape[2]:
        raise ValueError(f"{call}: k has {k4.shape[2]} keys but v has {v4.shape[2]} values")
    B, N, L, E = q4.shape
    S = k4.shape[2]
    scale = 1.0 / math.sqrt(E) if scale is None else real(scale, call, "scale")
    if not math.isfinite(scale):
        raise ValueError(f"{call}: scale must be finite, got {scale}")
    p = real(dropout_p, call, "dropout_p")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{call}: dropout_p must be in [0, 1), got {p}")
    mask = attention_mask(attn_mask, (B, N, L, S), q.dtype, call)
    return q, q4, k4, v4, mask, bool(is_causal), scale, p


def scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, *, seed=0, return_lse=False):
    """softmax(scale * q k^T + mask) v, fused (see the module docstring).

    Returns:
        out (..., L, Ev); with return_lse=True also lse (..., L), the log-sum-exp of each score
        row (+inf for a fully masked row), which the backward needs.

    Raises:
        ValueError: shapes that do not fit, a mask that does not broadcast, dropout_p outside [0, 1).
        TypeError: non-float or mixed dtypes, a mask that is neither bool nor float.
    """
    call = "nervo.ops.scaled_dot_product_attention"
    q, q4, k4, v4, mask, causal, scale, p = _prepare(call, q, k, v, attn_mask, is_causal, scale,
                                                     dropout_p)
    B, N, L, _ = q4.shape
    out = np.empty((B, N, L, v4.shape[3]), q.dtype)
    lse = np.empty((B, N, L), q.dtype)
    K["attn_forward"](q4, k4, v4, mask, causal, scale, p, int(seed) & (2**64 - 1), out, lse)
    out = out.reshape(q.shape[:-1] + (v4.shape[3],))
    if return_lse:
        return out, lse.reshape(q.shape[:-1])
    return out


def scaled_dot_product_attention_backward(dout, q, k, v, out, lse, attn_mask=None, dropout_p=0.0,
                                          is_causal=False, scale=None, *, seed=0):
    """Gradients (dq, dk, dv) of :func:`scaled_dot_product_attention`, from its ``out`` and
    ``lse`` (return_lse=True) and the same arguments. The mask gets no gradient."""
    call = "nervo.ops.scaled_dot_product_attention_backward"
    q, q4, k4, v4, mask, causal, scale, p = _prepare(call, q, k, v, attn_mask, is_causal, scale,
                                                     dropout_p)
    B, N, L, _ = q4.shape
    oshape = (B, N, L, v4.shape[3])
    dout = float_array(dout, call, "dout", q.dtype)
    out = float_array(out, call, "out", q.dtype)
    lse = float_array(lse, call, "lse", q.dtype)
    for name, a, want in (("dout", dout, oshape), ("out", out, oshape), ("lse", lse, oshape[:3])):
        if a.size != int(np.prod(want)) or a.shape[-1:] != want[-1:]:
            raise ValueError(f"{call}: {name} has shape {fmt_shape(a.shape)}, expected "
                             f"{fmt_shape(q.shape[:-1] + want[-1:]) if name != 'lse' else fmt_shape(q.shape[:-1])}")
    dq = np.empty(q4.shape, q.dtype)
    dk = np.empty(k4.shape, q.dtype)
    dv = np.empty(v4.shape, q.dtype)
    K["attn_backward"](q4, k4, v4, mask, causal, scale, p, int(seed) & (2**64 - 1),
                       out.reshape(oshape), lse.reshape(oshape[:3]), dout.reshape(oshape), dq, dk, dv)
    return dq.reshape(q.shape), dk.reshape(k.shape), dv.reshape(v.shape)
