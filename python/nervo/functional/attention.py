"""Attention as differentiable ops: the fused scaled-dot-product attention kernel
(nervo.ops.attn) and the multi-head attention forward built on it.

``scaled_dot_product_attention`` records one autograd node whose backward is one
``ops.scaled_dot_product_attention_backward`` call; the score matrix never exists in full (the
kernel works on 32 x 64 blocks with an online softmax). Dropout on the attention weights draws a
64-bit seed from nervo's global generator; the kernel derives the mask from it by a counter-based
hash, so forward and backward agree and ``nervo.manual_seed`` fixes it.
"""
from __future__ import annotations

import math

import numpy as np

from nervo import ops
from nervo.autograd import mode as _mode
from nervo.functional.basic import _node, _plain, _t
from nervo.random import generator

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


def _mask_data(m):
    if m is None:
        return None
    return m._data if hasattr(m, "_data") else np.asarray(m)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, enable_gqa=False):
    """softmax(scale * q k^T + mask) v (torch.nn.functional.scaled_dot_product_attention).

    Shape: query (..., L, E), key (..., S, E), value (..., S, Ev) with up to two leading dims
    (batch, heads) -> (..., L, Ev). attn_mask: bool (True = may attend) or float (added),
    broadcastable to (..., L, S); it receives no gradient. A query row with every key masked
    gives zeros (torch gives NaN there).

    Raises:
        ValueError: shapes that do not fit; NotImplementedError: enable_gqa=True.
    """
    if enable_gqa:
        raise NotImplementedError("nervo.nn.functional.scaled_dot_product_attention: enable_gqa")
    q, k, v = _t(query), _t(key), _t(value)
    mask = _mask_data(attn_mask)
    seed = int(generator().integers(0, 2**63)) if dropout_p > 0 else 0
    out, lse = ops.scaled_dot_product_attention(q._data, k._data, v._data, mask, dropout_p,
                                                is_causal, scale, seed=seed, return_lse=True)
    if not (_mode.enabled and (q.requires_grad or k.requires_grad or v.requires_grad)):
        return _plain(out)
    qd, kd, vd = q._data, k._data, v._data

    def bw(g):
        return ops.scaled_dot_product_attention_backward(g, qd, kd, vd, out, lse, mask, dropout_p,
                                                         is_causal, scale, seed=seed)

    return _node(out, (q, k, v), bw, "ScaledDotProductAttentionBackward")


def _sdpa_packed(qkv, mask, dropout_p, is_causal):
    """scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]) for a packed (3, N, h, L, hd) Tensor, as
    one autograd node whose backward returns the packed gradient (dq, dk, dv in one array).

    NOTE: indexing q, k and v off the packed tensor would record three nodes, and each one's
    backward fills a full-size zero array that autograd then adds up: three memsets and two adds
    of the whole packed size per step.
    """
    d = qkv._data
    seed = int(generator().integers(0, 2**63)) if dropout_p > 0 else 0
    out, lse = ops.scaled_dot_product_attention(d[0], d[1], d[2], mask, dropout_p, is_causal,
                                                None, seed=seed, return_lse=True)
    if not (_mode.enabled and qkv.requires_grad):
        return _plain(out)

    def bw(g):
        dq, dk, dv = ops.scaled_dot_product_attention_backward(g, d[0], d[1], d[2], out, lse, mask,
                                                               dropout_p, is_causal, None,
                                                               seed=seed)
        grad = np.empty(d.shape, d.dtype)
        grad[0], grad[1], grad[2] = dq, dk, dv
        return (grad,)

    return _node(out, (qkv,), bw, "ScaledDotProductAttentionBackward")


def _heads(x, L, N, h, hd, batch_first):
    """(L, N, E) or (N, L, E) -> (N, h, L, hd), contiguous."""
    if batch_first:
        return x.reshape(N, L, h, hd).permute(0, 2, 1, 3).contiguous()
    return x.reshape(L, N, h, hd).permute(1, 2, 0, 3).contiguous()


def _merge_masks(attn_mask, key_padding_mask, N, h, L, S, dtype, call):
    """torch MHA mask semantics (bool True = NOT allowed; float added) -> one additive float
    array broadcastable to (N, h, L, S), or None."""
    out = None
    if attn_mask is not None:
        m = _mask_data(attn_mask)
        if m.ndim == 2:
            if m.shape != (L, S):
                raise ValueError(f"{call}: attn_mask should have shape ({L}, {S}), got {m.shape}")
            m = m.reshape(1, 1, L, S)
        elif m.ndim == 3:
            if m.shape != (N * h, L, S):
                raise ValueError(f"{call}: attn_mask should have shape ({N * h}, {L}, {S}), got "
                                 f"{m.shape}")
            m = m.reshape(N, h, L, S)
        else:
            raise ValueError(f"{call}: attn_mask must be 2-D or 3-D, got shape {m.shape}")
        out = np.where(m, -np.inf, 0.0).astype(dtype) if m.dtype == np.bool_ else m.astype(dtype)
    if key_padding_mask is not None:
        kp = _mask_data(key_padding_mask)
        if kp.shape != (N, S):
            raise ValueError(f"{call}: key_padding_mask should have shape ({N}, {S}), got {kp.shape}")
        kp = kp.reshape(N, 1, 1, S)
        kp = np.where(kp, -np.inf, 0.0).astype(dtype) if kp.dtype == np.bool_ else kp.astype(dtype)
        out = kp if out is None else out + kp
    return out


def multi_head_attention_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias,
                                 out_proj_weight, out_proj_bias, *, dropout_p=0.0, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 q_proj_weight=None, k_proj_weight=None, v_proj_weight=None,
                                 average_attn_weights=True, is_causal=False, batch_first=False,
                                 bias_k=None, bias_v=None, add_zero_attn=False):
    """Multi-head attention (torch.nn.functional.multi_head_attention_forward's math) on the fused
    kernel. query (L, N, E) [(N, L, E) with batch_first], key/value (S, N, kdim/vdim).

    bias_k, bias_v ((1, 1, E), both or neither): appended to the projected keys/values as one more
    position; add_zero_attn: one more all-zero key/value position per head. Each extra position
    is allowed by every mask (torch pads the masks with a zero column).

    Returns (output, weights): weights (N, L, S) averaged over heads (or (N, h, L, S)) when
    need_weights, else None. NOTE: the weights are computed separately for inspection and carry
    no gradient (the output's gradient does not depend on them).
    """
    from nervo.functional.linear import linear
    call = "nervo.nn.MultiheadAttention"
    q_in, k_in, v_in = _t(query), _t(key), _t(value)
    if q_in.ndim != 3 or k_in.ndim != 3 or v_in.ndim != 3:
        raise ValueError(f"{call}: query, key and value must be 3-D (batched), got shapes "
                         f"{tuple(q_in.shape)}, {tuple(k_in.shape)}, {tuple(v_in.shape)}")
    if batch_first:
        N, L, E = q_in.shape
        S = k_in.shape[1]
        if k_in.shape[0] != N or v_in.shape[0] != N or v_in.shape[1] != S:
            raise ValueError(f"{call}: key/value batch or length do not match: query "
                             f"{tuple(q_in.shape)}, key {tuple(k_in.shape)}, value {tuple(v_in.shape)}")
    else:
        L, N, E = q_in.shape
        S = k_in.shape[0]
        if k_in.shape[1] != N or v_in.shape[1] != N or v_in.shape[0] != S:
            raise ValueError(f"{call}: key/value batch or length do not match: query "
                             f"{tuple(q_in.shape)}, key {tuple(k_in.shape)}, value {tuple(v_in.shape)}")
    h = num_heads
    hd = E // h
    if (bias_k is None) != (bias_v is None):
        raise ValueError(f"{call}: give both bias_k and bias_v or neither")
    extra = (bias_k is not None) + bool(add_zero_attn)
    packed = None
    if in_proj_weight is not None and q_in is k_in and k_in is v_in and not extra:
        # Self-attention: one projection GEMM, one copy into (3, N, h, L, hd) and one attention
        # node reading q, k, v off it (see _sdpa_packed).
        qkv = linear(q_in, in_proj_weight, in_proj_bias)
        if batch_first:
            packed = qkv.reshape(N, L, 3, h, hd).permute(2, 0, 3, 1, 4).contiguous()
        else:
            packed = qkv.reshape(L, N, 3, h, hd).permute(2, 1, 3, 0, 4).contiguous()
        qd, kd = packed._data[0], packed._data[1]
    else:
        if in_proj_weight is not None:
            b = in_proj_bias
            if q_in is k_in and k_in is v_in:
                qkv = linear(q_in, in_proj_weight, in_proj_bias)
                q, k, v = qkv[..., :E], qkv[..., E:2 * E], qkv[..., 2 * E:]
            else:
                q = linear(q_in, in_proj_weight[:E], None if b is None else b[:E])
                k = linear(k_in, in_proj_weight[E:2 * E], None if b is None else b[E:2 * E])
                v = linear(v_in, in_proj_weight[2 * E:], None if b is None else b[2 * E:])
        else:
            b = in_proj_bias
            q = linear(q_in, q_proj_weight, None if b is None else b[:E])
            k = linear(k_in, k_proj_weight, None if b is None else b[E:2 * E])
            v = linear(v_in, v_proj_weight, None if b is None else b[2 * E:])
        qh = _heads(q, L, N, h, hd, batch_first)
        kh = _heads(k, S, N, h, hd, batch_first)
        vh = _heads(v, S, N, h, hd, batch_first)
    dt = (packed if packed is not None else qh)._data.dtype
    mask = _merge_masks(attn_mask, key_padding_mask, N, h, L, S, dt, call)
    causal = bool(is_causal) and mask is None
    if extra:
        from nervo.functional.basic import cat
        if causal:  # the extra positions come after the causal window: spell the mask out
            mask = np.where(np.tril(np.ones((L, S), bool)), 0.0, -np.inf).astype(dt)[None, None]
            causal = False
        if bias_k is not None:
            for b, name in ((bias_k, "bias_k"), (bias_v, "bias_v")):
                if tuple(b.shape) != (1, 1, E):
                    raise ValueError(f"{call}: {name} must have shape (1, 1, {E}), got "
                                     f"{tuple(b.shape)}")
            # (1, 1, E) -> (N, h, 1, hd), one row per batch element and head
            bk = bias_k.reshape(1, h, 1, hd) * _plain(np.ones((N, 1, 1, 1), dt))
            bv = bias_v.reshape(1, h, 1, hd) * _plain(np.ones((N, 1, 1, 1), dt))
            kh, vh = cat([kh, bk], dim=2), cat([vh, bv], dim=2)
        if add_zero_attn:
            z = _plain(np.zeros((N, h, 1, hd), dt))
            kh, vh = cat([kh, z], dim=2), cat([vh, z], dim=2)
        if mask is not None:
            mask = np.concatenate([np.broadcast_to(mask, mask.shape[:-1] + (S,)),
                                   np.zeros(mask.shape[:-1] + (extra,), mask.dtype)], axis=-1)
        S += extra
    if packed is None:
        qd, kd = qh._data, kh._data
    p = dropout_p if training else 0.0
    if packed is not None:
        o = _sdpa_packed(packed, mask, p, causal)  # (N, h, L, hd)
    else:
        o = scaled_dot_product_attention(qh, kh, vh, mask, p, causal)
    if batch_first:
        o = o.permute(0, 2, 1, 3).reshape(N, L, E)
    else:
        o = o.permute(2, 0, 1, 3).reshape(L, N, E)
    out = linear(o, out_proj_weight, out_proj_bias)
    weights = None
    if need_weights:
        s = np.einsum("nhle,nhse->nhls", qd, kd) / math.sqrt(hd)
        if mask is not None:
            s = s + mask
        if causal:
            s = np.where(np.tril(np.ones((L, S), bool)), s, -np.inf)
        m = s.max(-1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        e = np.exp(s - m)
        tot = e.sum(-1, keepdims=True)
        w = np.where(tot > 0, e / np.where(tot > 0, tot, 1), 0).astype(dt)
        weights = _plain(w.mean(1) if average_attn_weights else w)
    return out, weights
