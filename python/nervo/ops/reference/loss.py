"""NumPy references of the losses and their gradients (float64, written for clarity)."""
import numpy as np


def _logsoftmax(x):
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def cross_entropy(x, target, weight=None, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    """x (R, C); target int (R,) or probabilities (R, C). Returns (loss, dloss/dx)."""
    x = np.asarray(x, np.float64)
    R, C = x.shape
    w = np.ones(C) if weight is None else np.asarray(weight, np.float64)
    eps = label_smoothing
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        lp = _logsoftmax(x)
        p = np.exp(lp)
        if target.dtype.kind == "f":
            q = (1 - eps) * np.asarray(target, np.float64) + eps / C
            rows = -(w * q * lp).sum(axis=1)
            grad = p * (w * q).sum(axis=1, keepdims=True) - w * q
            denom = R
        else:
            valid = target != ignore_index
            t = np.where(valid, target, 0)
            wt = np.where(valid, w[t], 0.0)
            nll = -wt * lp[np.arange(R), t]
            smooth = -(w * lp).sum(axis=1) * valid
            rows = (1 - eps) * nll + eps / C * smooth
            onehot = np.zeros((R, C))
            onehot[np.arange(R), t] = 1
            grad = p * ((1 - eps) * wt + eps / C * w.sum() * valid)[:, None] \
                - (1 - eps) * wt[:, None] * onehot - eps / C * w * valid[:, None]
            denom = wt.sum()
        if reduction == "none":
            return rows, grad
        if reduction == "sum":
            return rows.sum(), grad
        return rows.sum() / denom, grad / denom


def pointwise(name, x, y, w=None, pw=None, a=0.0):
    """Per-element (loss, dloss/dx) of a pointwise loss, in float64."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    d = x - y
    with np.errstate(all="ignore"):
        if name == "mse":
            l, g = d * d, 2 * d
        elif name == "l1":
            l, g = np.abs(d), np.sign(d)
        elif name == "smooth_l1":
            small = np.abs(d) < a
            l = np.where(small, 0.5 * d * d / (a if a else 1), np.abs(d) - 0.5 * a)
            g = np.where(small, d / (a if a else 1), np.sign(d))
        elif name == "huber":
            small = np.abs(d) < a
            l = np.where(small, 0.5 * d * d, a * (np.abs(d) - 0.5 * a))
            g = np.where(small, d, a * np.sign(d))
        elif name == "bce":
            l = -(y * np.maximum(np.log(x), -100) + (1 - y) * np.maximum(np.log1p(-x), -100))
            g = (x - y) / np.maximum((1 - x) * x, 1e-12)
        elif name == "bce_logits":
            lw = 1.0 if pw is None else (np.asarray(pw, np.float64) - 1) * y + 1
            sp = np.logaddexp(0, -x)  # softplus(-x)
            sig = 1 / (1 + np.exp(-x))
            l = (1 - y) * x + lw * sp
            g = lw * sig - (1.0 if pw is None else np.asarray(pw, np.float64)) * y
        elif name == "kl_div":
            if a:
                l, g = np.exp(y) * (y - x), -np.exp(y)
            else:
                l = np.where(y == 0, 0.0, y * np.log(np.where(y == 0, 1, y))) - y * x
                g = -y
        else:
            raise KeyError(name)
    if w is not None:
        l, g = l * w, g * w
    return l, g
