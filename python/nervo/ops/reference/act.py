"""NumPy references of the activations (computed in float64, returned in the input's dtype)."""
import math

import numpy as np

_SELU_SCALE = 1.0507009873554804934193349852946
_SELU_ALPHA = 1.6732632423543772848170429916717
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sig(z):
    with np.errstate(over="ignore"):
        return np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))


def _sp(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def forward(name, x, **kw):
    z = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if name == "relu":
            r = np.where(z < 0, 0.0, z)
        elif name == "leaky_relu":
            r = np.where(z > 0, z, z * kw.get("negative_slope", 0.01))
        elif name == "elu":
            r = np.where(z > 0, z, kw.get("alpha", 1.0) * np.expm1(z))
        elif name == "selu":
            r = _SELU_SCALE * np.where(z > 0, z, _SELU_ALPHA * np.expm1(z))
        elif name == "gelu":
            if kw.get("approximate", "none") == "tanh":
                r = 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z ** 3)))
            else:
                r = 0.5 * z * (1 + _erf(z / math.sqrt(2)))
        elif name == "silu":
            r = z * _sig(z)
        elif name == "mish":
            r = z * np.tanh(_sp(z))
        elif name == "sigmoid":
            r = _sig(z)
        elif name == "tanh":
            r = np.tanh(z)
        elif name == "softplus":
            beta, thr = kw.get("beta", 1.0), kw.get("threshold", 20.0)
            r = np.where(z * beta > thr, z, _sp(z * beta) / beta)
        elif name == "hardtanh":
            r = np.clip(z, kw.get("min_val", -1.0), kw.get("max_val", 1.0))
        elif name == "hardswish":
            r = z * np.clip(z + 3, 0, 6) / 6
        else:
            raise KeyError(name)
    return r.astype(x.dtype)


def backward(name, dy, saved, **kw):
    """saved is y for relu/sigmoid/tanh, x otherwise (like nervo.ops)."""
    g = dy.astype(np.float64)
    s = saved.astype(np.float64)
    with np.errstate(all="ignore"):
        if name == "relu":
            d = np.where(s <= 0, 0.0, 1.0)
        elif name == "leaky_relu":
            d = np.where(s > 0, 1.0, kw.get("negative_slope", 0.01))
        elif name == "elu":
            d = np.where(s > 0, 1.0, kw.get("alpha", 1.0) * np.exp(s))
        elif name == "selu":
            d = _SELU_SCALE * np.where(s > 0, 1.0, _SELU_ALPHA * np.exp(s))
        elif name == "gelu":
            if kw.get("approximate", "none") == "tanh":
                c = math.sqrt(2 / math.pi)
                t = np.tanh(c * (s + 0.044715 * s ** 3))
                d = 0.5 * (1 + t) + 0.5 * s * (1 - t * t) * c * (1 + 3 * 0.044715 * s * s)
            else:
                d = 0.5 * (1 + _erf(s / math.sqrt(2))) + s * np.exp(-0.5 * s * s) / math.sqrt(2 * math.pi)
        elif name == "silu":
            sg = _sig(s)
            d = sg * (1 + s * (1 - sg))
        elif name == "mish":
            t = np.tanh(_sp(s))
            d = t + s * _sig(s) * (1 - t * t)
        elif name == "sigmoid":
            d = s * (1 - s)
        elif name == "tanh":
            d = 1 - s * s
        elif name == "softplus":
            beta, thr = kw.get("beta", 1.0), kw.get("threshold", 20.0)
            d = np.where(s * beta > thr, 1.0, _sig(s * beta))
        elif name == "hardtanh":
            d = np.where((s <= kw.get("min_val", -1.0)) | (s >= kw.get("max_val", 1.0)), 0.0, 1.0)
        elif name == "hardswish":
            d = np.where(s <= -3, 0.0, np.where(s < 3, s / 3 + 0.5, 1.0))
        else:
            raise KeyError(name)
        r = g * d
    return r.astype(dy.dtype)
