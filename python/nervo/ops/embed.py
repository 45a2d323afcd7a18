"""Embedding lookup and its backward (NumPy arrays in and out).

``embedding(weight, indices)`` gathers rows: ``out[..., :] = weight[indices[...], :]``.
``embedding_backward`` scatter-adds the output gradient into a (V, D) weight gradient; repeated
indices accumulate, rows equal to ``padding_idx`` get none (like torch), and every sum runs in
index order, so results are identical for any thread count.

Example:
    >>> import numpy as np, nervo.ops as ops
    >>> w = np.arange(6, dtype=np.float32).reshape(3, 2)
    >>> ops.embedding(w, np.array([2, 0]))
    array([[4., 5.],
           [0., 1.]], dtype=float32)
"""
from __future__ import annotations

import numpy as np

from nervo.backend import K
from nervo.ops._check import float_array, fmt_shape, output

__all__ = ["embedding", "embedding_backward"]


def _indices(indices, call):
    if not isinstance(indices, np.ndarray):
        indices = np.asarray(indices)
    if indices.dtype.kind not in "iu" or indices.dtype.kind == "b":
        raise TypeError(f"{call}: indices must be integers, got dtype {indices.dtype}")
    if indices.dtype != np.int64 or not indices.flags.c_contiguous:
        if indices.dtype.kind == "u" and indices.size and indices.max() > np.iinfo(np.int64).max:
            raise IndexError(f"{call}: index {indices.max()} is out of range")
        indices = np.ascontiguousarray(indices, np.int64)
    return indices


def _padding(padding_idx, V, call):
    if padding_idx is None:
        return -1
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
        raise TypeError(f"{call}: padding_idx must be an int or None, got {type(padding_idx).__name__}")
    p = int(padding_idx)
    if not -V <= p < V:
        raise ValueError(f"{call}: padding_idx {p} is out of range for {V} embeddings")
    return p % V


def embedding(weight, indices, out=None):
    """weight[indices]: (V, D) table, integer indices of any shape -> (*indices.shape, D).

    Raises: IndexError (an index outside [0, V)), TypeError (dtypes), ValueError (weight not 2-D).
    """
    call = "nervo.ops.embedding"
    weight = float_array(weight, call, "weight")
    if weight.ndim != 2:
        raise ValueError(f"{call}: weight must be 2-D (num_embeddings, dim), got shape "
                         f"{fmt_shape(weight.shape)}")
    idx = _indices(indices, call)
    out = output(out, idx.shape + weight.shape[1:], weight.dtype, call)
    K["embedding_forward"](weight, idx.reshape(-1), out)
    return out


def embedding_backward(dout, indices, num_embeddings, padding_idx=None, out=None, accumulate=False):
    """Weight gradient: sum of dout rows per index, (num_embeddings, D).

    Args:
        dout: (*indices.shape, D) gradient of the embedding output. indices: as in the forward.
        num_embeddings: V. padding_idx: row that receives no gradient (negative counts from V).
        out: optional (V, D) output; overwritten, or added to when ``accumulate`` is true.
    """
    call = "nervo.ops.embedding_backward"
    dout = float_array(dout, call, "dout")
    idx = _indices(indices, call)
    if isinstance(num_embeddings, bool) or not isinstance(num_embeddings, (int, np.integer)) \
            or num_embeddings < 0:
        raise ValueError(f"{call}: num_embeddings must be a non-negative int, got {num_embeddings!r}")
    V = int(num_embeddings)
    if dout.ndim != idx.ndim + 1 or dout.shape[:-1] != idx.shape:
        raise ValueError(f"{call}: dout has shape {fmt_shape(dout.shape)}, expected "
                         f"{fmt_shape(idx.shape)} + (D,) for indices of shape {fmt_shape(idx.shape)}")
    D = dout.shape[-1]
    pad = _padding(padding_idx, V, call)
    if out is None:
        out = np.empty((V, D), dout.dtype)
        accumulate = False
    else:
        out = output(out, (V, D), dout.dtype, call, dout)
    K["embedding_backward"](dout, idx.reshape(-1), out, pad, bool(accumulate))
    return out
