"""NumPy references of softmax / log_softmax and their backward (float64 inside)."""
import numpy as np


def softmax(x, dim=-1, log=False):
    z = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        m = np.max(z, axis=dim, keepdims=True) if z.size else z
        e = np.exp(z - m)
        s = np.sum(e, axis=dim, keepdims=True)
        r = (z - m - np.log(s)) if log else e / s
    return r.astype(x.dtype)


def softmax_backward(dy, y, dim=-1, log=False):
    g = np.asarray(dy, np.float64)
    yy = np.asarray(y, np.float64)
    if log:
        r = g - np.exp(yy) * np.sum(g, axis=dim, keepdims=True)
    else:
        r = yy * (g - np.sum(g * yy, axis=dim, keepdims=True))
    return r.astype(dy.dtype)
