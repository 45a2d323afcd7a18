"""nervo.nn.utils: gradient clipping and parameter/vector conversion (torch.nn.utils)."""
from __future__ import annotations

import math

import numpy as np

from nervo.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters",
           "get_total_norm"]


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad._data for p in parameters if p.grad is not None]


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False):
    arrays = [t._data if isinstance(t, Tensor) else np.asarray(t) for t in tensors]
    return _total_norm(arrays, float(norm_type), error_if_nonfinite)


def _total_norm(arrays, norm_type, error_if_nonfinite):
    if not arrays:
        return 0.0
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(a))) if a.size else 0.0 for a in arrays)
    elif norm_type == 2.0:
        # float64 accumulation: one dot product per array.
        total = math.sqrt(sum(float(np.dot(a.reshape(-1), a.reshape(-1))) for a in arrays))
    else:
        total = sum(float(np.sum(np.abs(a.astype(np.float64)) ** norm_type)) for a in arrays) \
            ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` "
                           "is non-finite, so it cannot be clipped. Set error_if_nonfinite=False "
                           "to clip anyway")
    return total


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all gradients in place so that their joint norm is at most ``max_norm``.

    Returns the total norm before clipping (a 0-d float32 Tensor, as torch returns).
    """
    arrays = _grads(parameters)
    total = _total_norm(arrays, float(norm_type), error_if_nonfinite)
    coef = float(max_norm) / (total + 1e-6)
    if coef < 1.0:
        for a in arrays:
            a *= a.dtype.type(coef)
    return Tensor._wrap(np.asarray(total, np.float32))


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element to [-clip_value, clip_value] in place."""
    c = float(clip_value)
    for a in _grads(parameters):
        np.clip(a, -c, c, out=a)


def parameters_to_vector(parameters):
    return Tensor._wrap(np.concatenate([p._data.reshape(-1) for p in parameters]))


def vector_to_parameters(vec, parameters):
    v = vec._data if isinstance(vec, Tensor) else np.asarray(vec)
    i = 0
    for p in parameters:
        n = p._data.size
        p._data[...] = v[i:i + n].reshape(p._data.shape)
        i += n
