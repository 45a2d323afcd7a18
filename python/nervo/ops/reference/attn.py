"""NumPy reference of scaled-dot-product attention (materializes the whole score matrix; float64).

Shapes: q (B, N, L, E), k (B, N, S, E), v (B, N, S, Ev); mask additive and broadcastable to
(B, N, L, S) or None; causal masks keys j > i (torch's top-left alignment). A fully masked row gives
a zero output and zero gradients (nervo's definition; no NaN).
"""
import numpy as np


def _probs(q, k, mask, causal, scale):
    s = np.einsum("bnle,bnse->bnls", q, k) * scale
    if mask is not None:
        s = s + mask
    if causal:
        L, S = s.shape[-2:]
        s = np.where(np.tril(np.ones((L, S), bool)), s, -np.inf)
    m = s.max(-1, keepdims=True)
    dead = ~np.isfinite(m)
    p = np.exp(s - np.where(dead, 0, m))
    p = np.where(dead, 0, p)
    l = p.sum(-1, keepdims=True)
    return np.where(l > 0, p / np.where(l > 0, l, 1), 0)


def forward(q, k, v, mask=None, causal=False, scale=None):
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    p = _probs(q, k, mask, causal, scale)
    return p @ v


def backward(dout, q, k, v, mask=None, causal=False, scale=None):
    q, k, v, dout = (np.asarray(a, np.float64) for a in (q, k, v, dout))
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    p = _probs(q, k, mask, causal, scale)
    dv = np.swapaxes(p, -1, -2) @ dout
    dp = dout @ np.swapaxes(v, -1, -2)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True))
    return ds @ k * scale, np.swapaxes(ds, -1, -2) @ q * scale, dv
