"""Loss functions and their gradients (NumPy arrays in and out), following torch.nn.functional.

Every loss takes ``reduction`` in ``"none" | "mean" | "sum"`` and returns the per-sample losses
(``"none"``) or a 0-d array of the input's dtype. ``return_grad=True`` also returns the gradient
of that result with respect to the input, computed in the same call (one more pass over data
already in cache instead of a separate backward call). Each ``*_backward(dloss, ...)`` computes
``dloss * d(loss)/d(input)`` on its own, for autograd.

Numerics: cross-entropy is fused with a max-shifted log-softmax, so logits of any magnitude give
finite losses and gradients (and ``-inf`` logits contribute exactly zero probability); BCE with
logits uses ``log1p(exp(-|x|))``; BCE clamps its logs at -100 like torch. The mean of an empty
batch is NaN, like torch. Unlike torch, ``input`` and ``target`` of the pointwise losses must
have the same shape (no broadcasting); ``weight``/``pos_weight`` broadcast to it.

Example:
    >>> import numpy as np, nervo.ops as ops
    >>> float(ops.cross_entropy(np.zeros((2, 4), np.float32), np.array([1, 3])))  # log(4)
    1.3862943649291992
"""
from __future__ import annotations

import numpy as np

from nervo.backend import K
from nervo.ops._check import float_array, fmt_shape, real, same_shape

__all__ = [
    "cross_entropy", "cross_entropy_backward", "nll_loss", "nll_loss_backward",
    "mse_loss", "mse_loss_backward", "l1_loss", "l1_loss_backward",
    "smooth_l1_loss", "smooth_l1_loss_backward", "huber_loss", "huber_loss_backward",
    "binary_cross_entropy", "binary_cross_entropy_backward",
    "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_backward",
    "kl_div", "kl_div_backward",
]

_RED = {"none": 0, "mean": 1, "sum": 2}
# Pointwise loss ids of csrc/ops/loss/loss.h.
MSE, L1, SMOOTH_L1, HUBER, BCE, BCE_LOGITS, KL_DIV = range(7)


def _reduction(reduction, call, extra=()):
    if reduction in _RED or reduction in extra:
        return reduction
    allowed = ", ".join(repr(r) for r in (*_RED, *extra))
    raise ValueError(f"{call}: reduction must be one of {allowed}, got {reduction!r}")


# ---------------------------------------------------------------- class losses (CE, NLL)

def _class_inputs(x, target, call, xname):
    """Flatten (C,), (N, C) or (N, C, d1, ...) to rows (R, C); returns (x2, t, probs, unflatten)
    where exactly one of t (int64 (R,)) / probs ((R, C)) is set and unflatten(a, kind) maps a
    per-row ("rows") or per-element ("grad") result back to the caller's layout."""
    x = float_array(x, call, xname)
    if x.ndim == 0:
        raise ValueError(f"{call}: {xname} must have a class dimension, got a 0-d array")
    if not isinstance(target, np.ndarray):
        target = np.asarray(target)
    kind = target.dtype.kind
    if kind == "b" or kind not in "iuf":
        raise TypeError(f"{call}: target must hold integer class indices or float probabilities, "
                        f"got dtype {target.dtype}")
    probs = kind == "f"
    C = x.shape[0] if x.ndim == 1 else x.shape[1]
    if probs:
        if target.shape != x.shape:
            raise ValueError(f"{call}: probability target has shape {fmt_shape(target.shape)} but "
                             f"{xname} has shape {fmt_shape(x.shape)}; they must match")
        target = float_array(target, call, "target", x.dtype)
    else:
        want = x.shape[:1] + x.shape[2:] if x.ndim >= 2 else ()
        if target.shape != want:
            raise ValueError(f"{call}: target has shape {fmt_shape(target.shape)}, expected "
                             f"{fmt_shape(want)} for {xname} of shape {fmt_shape(x.shape)}")
        if target.dtype != np.int64 or not target.flags.c_contiguous:
            target = np.ascontiguousarray(target, np.int64)
    if x.ndim == 1:
        x2 = x.reshape(1, C)
        t2 = target.reshape(1, C) if probs else target.reshape(1)

        def unflatten(a, what):
            return a.reshape(()) if what == "rows" else a.reshape(x.shape)
    elif x.ndim == 2:
        x2, t2 = x, target

        def unflatten(a, what):
            return a
    else:
        moved = np.moveaxis(x, 1, -1)
        x2 = np.ascontiguousarray(moved).reshape(-1, C)
        t2 = np.ascontiguousarray(np.moveaxis(target, 1, -1)).reshape(-1, C) if probs else target.reshape(-1)

        def unflatten(a, what):
            if what == "rows":
                return a.reshape(x.shape[:1] + x.shape[2:])
            return np.ascontiguousarray(np.moveaxis(a.reshape(moved.shape), -1, 1))
    if probs:
        return x2, None, t2, unflatten
    return x2, t2, None, unflatten


def _class_weight(weight, C, dtype, call):
    if weight is None:
        return None
    w = float_array(weight, call, "weight", dtype)
    if w.shape != (C,):
        raise ValueError(f"{call}: weight has shape {fmt_shape(w.shape)}, expected ({C},)")
    return w


def _drows(dloss, reduction, rows_shape, R, dtype, call):
    """(dscale, drows) for a backward call: a scalar dloss, or per-sample dloss for 'none'."""
    if reduction == "none":
        d = float_array(np.asarray(dloss, dtype) if not isinstance(dloss, np.ndarray) else dloss,
                        call, "dloss", dtype)
        if d.shape != tuple(rows_shape):
            raise ValueError(f"{call}: dloss has shape {fmt_shape(d.shape)}, expected "
                             f"{fmt_shape(rows_shape)} for reduction='none'")
        return 1.0, d.reshape(R)
    d = np.asarray(dloss)
    if d.size != 1:
        raise ValueError(f"{call}: dloss must be a scalar for reduction={reduction!r}, "
                         f"got shape {fmt_shape(d.shape)}")
    return float(d.reshape(())), None


def _ce(logits, target, weight, ignore_index, label_smoothing, reduction, return_grad, dloss,
        out, call, backward):
    reduction = _reduction(reduction, call)
    x2, t, probs, unflatten = _class_inputs(logits, target, call, "logits")
    R, C = x2.shape
    if C == 0 and R > 0:
        raise ValueError(f"{call}: logits have 0 classes")
    ls = real(label_smoothing, call, "label_smoothing")
    if not 0.0 <= ls <= 1.0:
        raise ValueError(f"{call}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"{call}: ignore_index must be an int, got {type(ignore_index).__name__}")
    w = _class_weight(weight, C, x2.dtype, call)
    rows_shape = unflatten(np.empty(R, np.int8), "rows").shape
    if backward:
        dscale, drows = _drows(dloss, reduction, rows_shape, R, x2.dtype, call)
        grad = np.empty_like(x2)
        K["cross_entropy"](x2, t, probs, w, int(ignore_index), ls, _RED[reduction], None, grad,
                           dscale, drows)
        g = unflatten(grad, "grad")
        if out is not None:
            np.copyto(out, g, casting="no")
            return out
        return g
    losses = np.empty(R, x2.dtype) if reduction == "none" else None
    grad = np.empty_like(x2) if return_grad else None
    total = K["cross_entropy"](x2, t, probs, w, int(ignore_index), ls, _RED[reduction], losses,
                               grad, 1.0, None)
    loss = unflatten(losses, "rows") if losses is not None else np.asarray(total, x2.dtype)
    if return_grad:
        return loss, unflatten(grad, "grad")
    return loss


def cross_entropy(logits, target, *, weight=None, ignore_index=-100, label_smoothing=0.0,
                  reduction="mean", return_grad=False):
    """Cross-entropy of softmax(logits) against class indices or class probabilities.

    loss_i = -(1 - e) w[t_i] log p_{i,t_i} - e/C sum_c w_c log p_{i,c}  (indices, e = smoothing);
    loss_i = -sum_c w_c q'_{i,c} log p_{i,c} with q' = (1 - e) q + e/C  (probabilities).
    "mean" divides by the summed weight of non-ignored targets (indices) or by N (probabilities).

    Args:
        logits: (N, C), (C,) or (N, C, d1, ...) float32/float64.
        target: int class indices (N,) / () / (N, d1, ...), or float probabilities shaped like logits.
        weight: optional (C,) class weights. ignore_index: target value that contributes nothing.
        label_smoothing: in [0, 1]. reduction: "none" | "mean" | "sum".
        return_grad: also return d(loss)/d(logits).
    Returns: the loss (0-d array, or per-sample for "none"), plus the gradient when asked.
    Raises: IndexError (a target outside [0, C)), ValueError (shapes, options), TypeError (dtypes).
    """
    return _ce(logits, target, weight, ignore_index, label_smoothing, reduction, return_grad,
               None, None, "nervo.ops.cross_entropy", False)


def cross_entropy_backward(dloss, logits, target, *, weight=None, ignore_index=-100,
                           label_smoothing=0.0, reduction="mean", out=None):
    """dloss * d(cross_entropy)/d(logits); dloss is a scalar, or shaped like the per-sample
    losses for reduction='none'."""
    return _ce(logits, target, weight, ignore_index, label_smoothing, reduction, False, dloss,
               out, "nervo.ops.cross_entropy_backward", True)


def _nll(x, target, weight, ignore_index, reduction, return_grad, dloss, call, backward):
    reduction = _reduction(reduction, call)
    x2, t, probs, unflatten = _class_inputs(x, target, call, "input")
    if t is None:
        raise TypeError(f"{call}: target must hold integer class indices")
    R, C = x2.shape
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"{call}: ignore_index must be an int, got {type(ignore_index).__name__}")
    w = _class_weight(weight, C, x2.dtype, call)
    rows_shape = unflatten(np.empty(R, np.int8), "rows").shape
    if backward:
        dscale, drows = _drows(dloss, reduction, rows_shape, R, x2.dtype, call)
        grad = np.empty_like(x2)
        K["nll_loss"](x2, t, w, int(ignore_index), _RED[reduction], None, grad, dscale, drows)
        return unflatten(grad, "grad")
    losses = np.empty(R, x2.dtype) if reduction == "none" else None
    grad = np.empty_like(x2) if return_grad else None
    total = K["nll_loss"](x2, t, w, int(ignore_index), _RED[reduction], losses, grad, 1.0, None)
    loss = unflatten(losses, "rows") if losses is not None else np.asarray(total, x2.dtype)
    return (loss, unflatten(grad, "grad")) if return_grad else loss


def nll_loss(input, target, *, weight=None, ignore_index=-100, reduction="mean", return_grad=False):
    """Negative log-likelihood of log-probabilities: loss_i = -w[t_i] * input[i, t_i]."""
    return _nll(input, target, weight, ignore_index, reduction, return_grad, None,
                "nervo.ops.nll_loss", False)


def nll_loss_backward(dloss, input, target, *, weight=None, ignore_index=-100, reduction="mean"):
    """dloss * d(nll_loss)/d(input)."""
    return _nll(input, target, weight, ignore_index, reduction, False, dloss,
                "nervo.ops.nll_loss_backward", True)


# ---------------------------------------------------------------- pointwise losses

def _bcast(w, shape, dtype, call, arg):
    if w is None:
        return None
    w = float_array(w, call, arg, dtype)
    if w.shape == tuple(shape):
        return w
    try:
        return np.ascontiguousarray(np.broadcast_to(w, shape))
    except ValueError:
        raise ValueError(f"{call}: {arg} of shape {fmt_shape(w.shape)} does not broadcast to the "
                         f"input shape {fmt_shape(shape)}") from None


def _pointwise(op, name, x, y, reduction, return_grad, a=0.0, w=None, pw=None, dloss=None,
               backward=False, out=None, extra=()):
    call = f"nervo.ops.{name}" + ("_backward" if backward else "")
    reduction = _reduction(reduction, call, extra)
    x = float_array(x, call, "input")
    y = float_array(y, call, "target", x.dtype)
    same_shape(x, y, call, "input", "target")
    w = _bcast(w, x.shape, x.dtype, call, "weight")
    pw = _bcast(pw, x.shape, x.dtype, call, "pos_weight")
    if op == BCE and x.size and ((x < 0) | (x > 1)).any():
        raise ValueError(f"{call}: input holds values outside [0, 1]; binary_cross_entropy takes "
                         "probabilities (use binary_cross_entropy_with_logits for logits)")
    n = x.size
    if reduction == "batchmean":
        denom = x.shape[0] if x.ndim else 1
    else:
        denom = n if reduction == "mean" else 1
    inv = 1.0 / denom if denom else float("nan")
    if backward:
        drows = None
        if reduction == "none":
            drows = float_array(dloss, call, "dloss", x.dtype)
            same_shape(drows, x, call, "dloss", "input")
            dscale = 1.0
        else:
            d = np.asarray(dloss)
            if d.size != 1:
                raise ValueError(f"{call}: dloss must be a scalar for reduction={reduction!r}, "
                                 f"got shape {fmt_shape(d.shape)}")
            dscale = float(d.reshape(())) * (inv if reduction != "sum" else 1.0)
        if out is None:
            out = np.empty(x.shape, x.dtype)
        K["pointwise_loss"](op, x, y, w, pw, float(a), None, out, dscale, drows)
        return out
    losses = np.empty(x.shape, x.dtype) if reduction == "none" else None
    grad = np.empty(x.shape, x.dtype) if return_grad else None
    scale = 1.0 if reduction in ("none", "sum") else inv
    total = K["pointwise_loss"](op, x, y, w, pw, float(a), losses, grad, scale, None)
    if reduction == "none":
        loss = losses
    else:
        loss = np.asarray(total * scale if reduction != "sum" else total, x.dtype)
    return (loss, grad) if return_grad else loss


def mse_loss(input, target, reduction="mean", return_grad=False):
    """(input - target)^2, reduced."""
    return _pointwise(MSE, "mse_loss", input, target, reduction, return_grad)


def mse_loss_backward(dloss, input, target, reduction="mean", out=None):
    return _pointwise(MSE, "mse_loss", input, target, reduction, False, dloss=dloss, backward=True, out=out)


def l1_loss(input, target, reduction="mean", return_grad=False):
    """|input - target|, reduced (gradient sign(input - target), 0 where equal)."""
    return _pointwise(L1, "l1_loss", input, target, reduction, return_grad)


def l1_loss_backward(dloss, input, target, reduction="mean", out=None):
    return _pointwise(L1, "l1_loss", input, target, reduction, False, dloss=dloss, backward=True, out=out)


def _beta(beta, call, name, positive):
    b = real(beta, call, name)
    if b < 0 or (positive and b == 0):
        raise ValueError(f"{call}: {name} must be {'> 0' if positive else '>= 0'}, got {beta!r}")
    return b


def smooth_l1_loss(input, target, reduction="mean", beta=1.0, return_grad=False):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target)."""
    b = _beta(beta, "nervo.ops.smooth_l1_loss", "beta", False)
    return _pointwise(SMOOTH_L1, "smooth_l1_loss", input, target, reduction, return_grad, a=b)


def smooth_l1_loss_backward(dloss, input, target, reduction="mean", beta=1.0, out=None):
    b = _beta(beta, "nervo.ops.smooth_l1_loss_backward", "beta", False)
    return _pointwise(SMOOTH_L1, "smooth_l1_loss", input, target, reduction, False, a=b, dloss=dloss,
                      backward=True, out=out)


def huber_loss(input, target, reduction="mean", delta=1.0, return_grad=False):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta)."""
    d = _beta(delta, "nervo.ops.huber_loss", "delta", True)
    return _pointwise(HUBER, "huber_loss", input, target, reduction, return_grad, a=d)


def huber_loss_backward(dloss, input, target, reduction="mean", delta=1.0, out=None):
    d = _beta(delta, "nervo.ops.huber_loss_backward", "delta", True)
    return _pointwise(HUBER, "huber_loss", input, target, reduction, False, a=d, dloss=dloss,
                      backward=True, out=out)


def binary_cross_entropy(input, target, weight=None, reduction="mean", return_grad=False):
    """-w (y log p + (1 - y) log(1 - p)) on probabilities p in [0, 1], logs clamped at -100."""
    return _pointwise(BCE, "binary_cross_entropy", input, target, reduction, return_grad, w=weight)


def binary_cross_entropy_backward(dloss, input, target, weight=None, reduction="mean", out=None):
    return _pointwise(BCE, "binary_cross_entropy", input, target, reduction, False, w=weight,
                      dloss=dloss, backward=True, out=out)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None,
                                     return_grad=False):
    """w ((1 - y) x + (1 + (pos_weight - 1) y) softplus(-x)), stable for any x."""
    return _pointwise(BCE_LOGITS, "binary_cross_entropy_with_logits", input, target, reduction,
                      return_grad, w=weight, pw=pos_weight)


def binary_cross_entropy_with_logits_backward(dloss, input, target, weight=None, reduction="mean",
                                              pos_weight=None, out=None):
    return _pointwise(BCE_LOGITS, "binary_cross_entropy_with_logits", input, target, reduction,
                      False, w=weight, pw=pos_weight, dloss=dloss, backward=True, out=out)


def kl_div(input, target, reduction="mean", log_target=False, return_grad=False):
    """target (log target - input) on log-probabilities input (0 where target == 0);
    reduction also accepts "batchmean" (sum / N), the mathematically correct KL divergence."""
    return _pointwise(KL_DIV, "kl_div", input, target, reduction, return_grad,
                      a=1.0 if log_target else 0.0, extra=("batchmean",))


def kl_div_backward(dloss, input, target, reduction="mean", log_target=False, out=None):
    return _pointwise(KL_DIV, "kl_div", input, target, reduction, False, a=1.0 if log_target else 0.0,
                      dloss=dloss, backward=True, out=out, extra=("batchmean",))
