"""Dropout and embedding lookups as differentiable ops.

Dropout keeps each element with probability 1 - p and scales kept ones by 1 / (1 - p); its mask
comes from the global generator (``nervo.manual_seed`` fixes it).
"""
from __future__ import annotations

import numpy as np

from nervo.autograd import mode as _mode
from nervo.functional.basic import _node, _plain, _t
from nervo import ops
from nervo.random import generator, next_seed

__all__ = ["dropout", "dropout2d", "alpha_dropout", "embedding", "one_hot"]


def _check_p(p, call):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{call}: dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p=0.5, training=True, inplace=False):
    call = "nervo.nn.functional.dropout"
    _check_p(p, call)
    x = _t(input)
    if not training or p == 0.0:
        return x
    xd = x._data
    if p == 1.0:
        y = np.zeros(xd.shape, xd.dtype)
        if x.requires_grad and _mode.enabled:
            return _node(y, (x,), lambda g: (np.zeros_like(g),), "DropoutBackward")
        return _plain(y)
    # The kernel draws the mask from (seed, element index): backward regenerates it, so no mask
    # is stored.
    seed = next_seed()
    y = ops.dropout(xd, p, seed=seed)
    if x.requires_grad and _mode.enabled:
        return _node(y, (x,), lambda g: (ops.dropout_backward(g, p, seed=seed),),
                     "DropoutBackward")
    return _plain(y)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels: input (N, C, H, W) or (C, H, W)."""
    _check_p(p, "nervo.nn.functional.dropout2d")
    x = _t(input)
    if not training or p == 0.0:
        return x
    xd = x._data
    shape = xd.shape[:-2] + (1, 1)
    keep = (generator().random(shape) >= p).astype(xd.dtype) / (1.0 - p) if p < 1 else \
        np.zeros(shape, xd.dtype)
    return x * _plain(keep)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout that keeps SELU's self-normalizing mean and variance."""
    _check_p(p, "nervo.nn.functional.alpha_dropout")
    x = _t(input)
    if not training or p == 0.0:
        return x
    alpha_p = -1.7580993408473766
    keep = generator().random(x.shape) >= p
    a = ((1 - p) * (1 + p * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * p
    xd = x._data
    mask = (keep * a).astype(xd.dtype)
    add = ((~keep) * alpha_p * a + b).astype(xd.dtype)
    return x * _plain(mask) + _plain(add)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` selected by integer ``input``; rows at ``padding_idx`` get no gradient.

    Shape: input (*) int, weight (V, D) -> (*, D).

    Raises:
        TypeError: input is not an integer tensor.
        IndexError: an index is outside [0, V).
    """
    call = "nervo.nn.functional.embedding"
    idx = input._data if hasattr(input, "_data") else np.asarray(input)
    wd = weight._data
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{call}: indices must be an integer tensor, got {idx.dtype}")
    V = wd.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= V):
        bad = idx[(idx < 0) | (idx >= V)].reshape(-1)[0]
        raise IndexError(f"{call}: index {int(bad)} is out of range for an embedding of {V} rows")
    if max_norm is not None:
        rows = np.unique(idx)
        n = np.linalg.norm(wd[rows], ord=norm_type, axis=1, keepdims=True)
        scale = np.where(n > max_norm, max_norm / (n + 1e-7), 1.0)
        wd[rows] *= scale.astype(wd.dtype)
    y = ops.embedding(wd, idx)
    if weight.requires_grad and _mode.enabled:
        pad = None if padding_idx is None else padding_idx % V

        def bw(g):
            if scale_grad_by_freq:
                flat = idx.reshape(-1)
                counts = np.bincount(flat, minlength=V)
                g = (g / counts[idx][..., None]).astype(g.dtype, copy=False)
            return (None, ops.embedding_backward(g, idx, V, pad))
        return _node(y, (None, weight), bw, "EmbeddingBackward")
    return _plain(y)


def one_hot(tensor, num_classes=-1):
    idx = tensor._data if hasattr(tensor, "_data") else np.asarray(tensor)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"nervo.nn.functional.one_hot: expected an integer tensor, got {idx.dtype}")
    n = int(idx.max()) + 1 if num_classes < 0 else num_classes
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"nervo.nn.functional.one_hot: class values must be in [0, {n})")
    return _plain(np.eye(n, dtype=np.int64)[idx])


# --------------------------------------------------------------------------- double backward
from nervo.autograd import twice as _twice, saved as _saved  # noqa: E402
from nervo.functional import basic as _B  # noqa: E402


@_twice("DropoutBackward")
def _dropout_tw(node, out, g):
    s = _saved(node.backward)
    if "seed" not in s:  # p == 1: everything dropped
        return (g * 0.0,)
    mask = ops.dropout_backward(np.ones(g.shape, g.dtype), s["p"], seed=s["seed"])
    return (g * _plain(mask),)


@_twice("EmbeddingBackward")
def _embedding_tw(node, out, g):
    s = _saved(node.backward)
    idx, V, pad = s["idx"], s["V"], s["pad"]
    scale = np.ones(idx.shape, g.dtype)
    if s["scale_grad_by_freq"]:
        scale = scale / np.bincount(idx.reshape(-1), minlength=V)[idx]
    if pad is not None:
        scale = scale * (idx != pad)
    gs = g * _B._c(scale[..., None], g.dtype)
    D = g.shape[-1]
    return (None, _B._scatter(gs.reshape(-1, D), (V, D), idx.reshape(-1), True))
