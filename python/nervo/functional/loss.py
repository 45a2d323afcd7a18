"""Loss functions as fused differentiable ops: one ``nervo.ops`` call forward (which also returns
the gradient when the input requires one) and at most one elementwise scale in backward.

Vocabulary: ``input`` (N, C) or (N, C, d1, ...) logits/log-probabilities for the classification
losses, any shape for the pointwise ones; ``target`` class indices (int, shape (N, d1, ...)) or
values. ``reduction`` is 'none' | 'mean' | 'sum' (KLDiv also 'batchmean'), as in torch.
"""
from __future__ import annotations

import numpy as np

from nervo import ops
from nervo.autograd import mode as _mode
from nervo.functional.basic import _node, _plain, _t, _unb
from nervo.tensor import Tensor

__all__ = [
    "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
]


def _float_input(x, call, arg="input"):
    x = _t(x)
    if x._data.dtype.kind != "f":
        raise TypeError(f"{call}: {arg} must be a float tensor, got {x._data.dtype}")
    return x


def _arr(t):
    if t is None:
        return None
    return t._data if isinstance(t, Tensor) else np.asarray(t)


def _fused(name, x, fwd, bwd, reduction, args, kw, inputs=None, target_grad=None):
    """Run ``fwd(*args, reduction=, **kw)``; when ``x`` needs a gradient, ask the kernel for it in
    the same pass (reductions 'mean'/'sum'/'batchmean') or call ``bwd`` later ('none').
    ``target_grad(g)``, when given, is the gradient for a target that requires grad."""
    want = _mode.enabled and (x.requires_grad or target_grad is not None)
    if not want:
        return _plain(fwd(*args, reduction=reduction, **kw))
    if reduction == "none" or not x.requires_grad:
        loss = fwd(*args, reduction=reduction, **kw)
        grad = None
    else:
        loss, grad = fwd(*args, reduction=reduction, return_grad=True, **kw)

    def bw(g):
        gx = None
        if x.requires_grad:
            if grad is None:
                gx = bwd(g, *args, reduction=reduction, **kw)
            else:
                s = float(g)
                gx = grad if s == 1.0 else grad * grad.dtype.type(s)
        gy = target_grad(g) if target_grad is not None else None
        return gx, gy
    return _node(loss, inputs, bw, name)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy from logits (torch.nn.functional.cross_entropy).

    ``target`` holds class indices (int, shape (N,) / (N, d1, ...)) or class probabilities
    (float, the input's shape). ``weight`` (C,) rescales classes; ``ignore_index`` targets add
    nothing (and do not count in the mean); ``label_smoothing`` mixes in the uniform
    distribution.

    Raises:
        ValueError: shapes do not match, unknown reduction, label_smoothing outside [0, 1].
        IndexError: a class index outside [0, C) (other than ignore_index).
    """
    x = _float_input(input, "nervo.nn.functional.cross_entropy")
    td = _arr(target)
    kw = dict(weight=_arr(weight), ignore_index=ignore_index, label_smoothing=label_smoothing)
    return _fused("CrossEntropyBackward", x, ops.cross_entropy, ops.cross_entropy_backward,
                  reduction, (x._data, td), kw, (x, None))


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood from log-probabilities: -input[i, target[i]] * weight[target[i]]."""
    x = _float_input(input, "nervo.nn.functional.nll_loss")
    kw = dict(weight=_arr(weight), ignore_index=ignore_index)
    return _fused("NllLossBackward", x, ops.nll_loss, ops.nll_loss_backward, reduction,
                  (x._data, _arr(target)), kw, (x, None))


def _pair(input, target, call):
    """(x, y, xd, yd, shape_x, shape_y): operands broadcast to one shape (torch broadcasts the
    pointwise losses too), float, same dtype."""
    x = _float_input(input, call)
    y = _float_input(target, call, "target")
    xd, yd = x._data, y._data
    if yd.dtype != xd.dtype:
        yd = yd.astype(xd.dtype)
    if xd.shape != yd.shape:
        try:
            xd, yd = (np.ascontiguousarray(a) for a in np.broadcast_arrays(xd, yd))
        except ValueError as exc:
            raise ValueError(f"{call}: input shape {tuple(x.shape)} and target shape "
                             f"{tuple(y.shape)} do not broadcast") from exc
    return x, y, xd, yd


def _pointwise(name, fwd, bwd, input, target, reduction, call, target_grad=None, **kw):
    x, y, xd, yd = _pair(input, target, call)
    sx, sy = x._data.shape, y._data.shape
    tg = None
    if y.requires_grad and _mode.enabled:
        def tg(g):
            if target_grad is None:  # losses of d = x - y: d/dy = -d/dx
                gy = -bwd(g, xd, yd, reduction=reduction, **kw)
            else:
                gy = target_grad(g, xd, yd)
            return _unb(gy, sy)
    out = _fused(name, x, fwd, bwd, reduction, (xd, yd), kw, (x, y), tg)
    if out.grad_fn is not None and xd.shape != sx:
        fn = out.grad_fn.backward

        def bw(g):
            gx, gy = fn(g)
            return (None if gx is None else _unb(gx, sx)), gy
        out.grad_fn.backward = bw
    return out


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """mean((input - target)^2)."""
    return _pointwise("MseLossBackward", ops.mse_loss, ops.mse_loss_backward, input, target,
                      reduction, "nervo.nn.functional.mse_loss")


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """mean(|input - target|)."""
    return _pointwise("L1LossBackward", ops.l1_loss, ops.l1_loss_backward, input, target,
                      reduction, "nervo.nn.functional.l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0):
    """0.5 d^2 where |d| < delta, else delta * (|d| - 0.5 delta)."""
    return _pointwise("HuberLossBackward", ops.huber_loss, ops.huber_loss_backward, input, target,
                      reduction, "nervo.nn.functional.huber_loss", delta=delta)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta."""
    return _pointwise("SmoothL1LossBackward", ops.smooth_l1_loss, ops.smooth_l1_loss_backward,
                      input, target, reduction, "nervo.nn.functional.smooth_l1_loss", beta=beta)


def _scale(el, g, reduction, denom):
    if reduction == "none":
        return el * g
    return el * (float(g) / denom if reduction in ("mean", "batchmean") else float(g))


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Sigmoid + BCE in one stable formula: finite for any |input|.

    loss = (1 - y) x + (1 + (pos_weight - 1) y) (log1p(exp(-|x|)) + max(-x, 0)), times weight.
    """
    call = "nervo.nn.functional.binary_cross_entropy_with_logits"
    x = _float_input(input, call)
    if _t(target).shape != x.shape:
        raise ValueError(f"{call}: target size {tuple(_t(target).shape)} must be the same as "
                         f"input size {tuple(x.shape)}")
    w, pw = _arr(weight), _arr(pos_weight)

    def tgrad(g, xd, yd):
        sp = np.logaddexp(0, -xd)
        d = -xd + ((pw - 1) * sp if pw is not None else 0)
        if w is not None:
            d = d * w
        return _scale(d, g, reduction, xd.size).astype(xd.dtype, copy=False)
    return _pointwise("BinaryCrossEntropyWithLogitsBackward", ops.binary_cross_entropy_with_logits,
                      ops.binary_cross_entropy_with_logits_backward, x, target, reduction, call,
                      tgrad, weight=w, pos_weight=pw)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """-(y log p + (1 - y) log(1 - p)), with each log clamped at -100 (torch)."""
    call = "nervo.nn.functional.binary_cross_entropy"
    x = _float_input(input, call)
    if _t(target).shape != x.shape:
        raise ValueError(f"{call}: target size {tuple(_t(target).shape)} must be the same as "
                         f"input size {tuple(x.shape)}")
    w = _arr(weight)

    def tgrad(g, xd, yd):
        with np.errstate(divide="ignore"):
            d = np.maximum(np.log1p(-xd), -100) - np.maximum(np.log(xd), -100)
        if w is not None:
            d = d * w
        return _scale(d, g, reduction, xd.size).astype(xd.dtype, copy=False)
    return _pointwise("BinaryCrossEntropyBackward", ops.binary_cross_entropy,
                      ops.binary_cross_entropy_backward, x, target, reduction, call, tgrad,
                      weight=w)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target || exp(input)) pointwise: target * (log target - input) (input holds
    log-probabilities). Use reduction='batchmean' for the true KL divergence (torch's advice)."""
    call = "nervo.nn.functional.kl_div"

    def tgrad(g, xd, yd):
        if log_target:
            d = np.exp(yd) * (yd - xd + 1)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                d = np.where(yd > 0, np.log(np.where(yd > 0, yd, 1)) - xd + 1, 0)
        denom = (xd.shape[0] if xd.ndim else 1) if reduction == "batchmean" else xd.size
        return _scale(d, g, reduction, denom).astype(xd.dtype, copy=False)
    return _pointwise("KlDivBackward", ops.kl_div, ops.kl_div_backward, input, target, reduction,
                      call, tgrad, log_target=log_target)


# --------------------------------------------------------------------------- double backward
# create_graph=True: each loss is rebuilt from differentiable Tensor ops on the original inputs
# (same formula as the fused kernel) and differentiated with create_graph (basic._recompute).
from nervo.autograd import twice as _twice, saved as _saved  # noqa: E402
from nervo.functional import basic as _B  # noqa: E402
from nervo.functional.activation import log_softmax  # noqa: E402


def _loss_saved(node):
    s = _saved(node.backward)
    if "fn" in s and "sx" in s:  # _pointwise wrapped the fused closure to unbroadcast
        s = _saved(s["fn"])
    return s


def _reduce(el, reduction, denom=None):
    if reduction == "none":
        return el
    if reduction == "sum":
        return el.sum()
    return el.sum() / (el.numel() if denom is None else denom)


def _pointwise_c(node, x, y):
    s = _loss_saved(node)
    kw, reduction, name = s["kw"], s["reduction"], node.name
    if y is None:
        y = _plain(s["args"][1])
    d = x - y
    if name == "MseLossBackward":
        el = d * d
    elif name == "L1LossBackward":
        el = _B.abs(d)
    elif name in ("HuberLossBackward", "SmoothL1LossBackward"):
        lim = kw["delta"] if name == "HuberLossBackward" else kw["beta"]
        ad = np.abs(d._data)
        if lim == 0:
            el = _B.abs(d)
        elif name == "HuberLossBackward":
            el = _B.where(ad < lim, d * d * 0.5, (_B.abs(d) - 0.5 * lim) * lim)
        else:
            el = _B.where(ad < lim, d * d * (0.5 / lim), _B.abs(d) - 0.5 * lim)
    elif name == "BinaryCrossEntropyWithLogitsBackward":
        w, pw = kw["weight"], kw["pos_weight"]
        sp = _B.log1p(_B.exp(_B.neg(_B.abs(x)))) + _B.clamp(_B.neg(x), min=0.0)
        coef = 1.0 if pw is None else y * _B._c(pw - 1, x.dtype) + 1.0
        el = (1.0 - y) * x + coef * sp
        if w is not None:
            el = el * _B._c(w, x.dtype)
    elif name == "BinaryCrossEntropyBackward":
        w = kw["weight"]
        el = _B.neg(y * _B.clamp(_B.log(x), min=-100.0)
                    + (1.0 - y) * _B.clamp(_B.log(1.0 - x), min=-100.0))
        if w is not None:
            el = el * _B._c(w, x.dtype)
    elif name == "KlDivBackward":
        if kw["log_target"]:
            el = _B.exp(y) * (y - x)
        else:
            pos = y._data > 0
            el = _B.where(pos, y * (_B.log(_B.where(pos, y, 1.0)) - x), 0.0)
    else:
        raise _B._not_twice(node)
    denom = None
    if reduction == "batchmean":
        denom = x.shape[0] if x.ndim else 1
    return _reduce(el, reduction, denom)


def _cross_entropy_c(node, x, _t_none):
    s = _loss_saved(node)
    kw, reduction = s["kw"], s["reduction"]
    td = s["args"][1]
    w, eps = kw["weight"], kw.get("label_smoothing", 0.0)
    lp = x if node.name == "NllLossBackward" else log_softmax(x, 1)
    C = x.shape[1]
    dt = x._data.dtype
    wshape = (1, C) + (1,) * (x.ndim - 2)
    if td.dtype.kind == "f":  # class probabilities
        q = td * (1 - eps) + eps / C if eps else td
        lw = lp * _B._c(q, dt)
        if w is not None:
            lw = lw * _B._c(w.reshape(wshape), dt)
        el = _B.neg(lw.sum(1))
        return _reduce(el, reduction, el.numel())
    ig = kw["ignore_index"]
    valid = td != ig
    safe = np.where(valid, td, 0)
    wi = (w[safe] if w is not None else np.ones(safe.shape)) * valid
    nll = _B.neg(_B.gather(lp, 1, _plain(np.expand_dims(safe, 1))).squeeze(1)) * _B._c(wi, dt)
    denom = wi.sum()
    if eps:
        lw = lp if w is None else lp * _B._c(w.reshape(wshape), dt)
        smooth = _B.neg(lw.sum(1)) * _B._c(valid, dt)
        if reduction == "none":
            return nll * (1 - eps) + smooth * (eps / C)
        if reduction == "sum":
            return nll.sum() * (1 - eps) + smooth.sum() * (eps / C)
        return (nll.sum() * (1 - eps) + smooth.sum() * (eps / C)) / float(denom)
    return _reduce(nll, reduction, float(denom))


for _n in ("MseLossBackward", "L1LossBackward", "HuberLossBackward", "SmoothL1LossBackward",
           "BinaryCrossEntropyWithLogitsBackward", "BinaryCrossEntropyBackward", "KlDivBackward"):
    _twice(_n)(_B._recompute(_pointwise_c))
_twice("CrossEntropyBackward", "NllLossBackward")(_B._recompute(_cross_entropy_c))
del _n
