"""NumPy reference of GEMM (the test oracle): float64 throughout, returned in float64."""
import math

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])


def apply_activation(z, name):
    with np.errstate(all="ignore"):
        if name is None:
            return z
        if name == "relu":
            return np.where(z < 0, 0.0, z)
        if name == "gelu":
            return 0.5 * z * (1 + _erf(z / math.sqrt(2)))
        if name == "sigmoid":
            e = np.exp(-np.abs(z))
            return np.where(z >= 0, 1 / (1 + e), e / (1 + e))
        if name == "tanh":
            return np.tanh(z)
    raise KeyError(name)


def gemm(a, b, out=None, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, bias=None,
         activation=None):
    """act(alpha * op(a) @ op(b) + beta * out + bias) in float64 (beta == 0 ignores out)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    with np.errstate(all="ignore"):
        r = alpha * (opa @ opb) if opa.shape[1] else np.zeros((opa.shape[0], opb.shape[1]))
        if beta != 0:
            r = r + beta * np.asarray(out, np.float64)
        if bias is not None:
            r = r + np.asarray(bias, np.float64)
    return apply_activation(r, activation)


def matmul(a, b):
    return np.matmul(np.asarray(a, np.float64), np.asarray(b, np.float64))
