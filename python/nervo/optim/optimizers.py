"""SGD, Adam, AdamW, RMSprop and Adagrad with torch's update rules, one fused step per parameter.

Each class validates hyperparameters once, then ``step()`` calls the ``nervo.ops`` fused step
kernel for every parameter with a gradient (reading the gradient, updating the weight and the
state arrays in place in one pass).
"""
from __future__ import annotations

import math

import numpy as np

from nervo import ops
from nervo.autograd import no_grad
from nervo.optim.optimizer import Optimizer, _check_lr, required

__all__ = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]


def _grad(p, maximize):
    g = p.grad._data
    return -g if maximize else g


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (torch's
    formulation: v = mu v + (1 - dampening) g; p -= lr (g + mu v) for Nesterov, lr v otherwise)."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 *, maximize=False, foreach=None, differentiable=False, fused=None):
        lr = _check_lr(lr, "SGD")
        if momentum < 0:
            raise ValueError(f"SGD: invalid momentum value: {momentum}")
        if weight_decay < 0:
            raise ValueError(f"SGD: invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def step(self, closure=None):
        loss = self._closure(closure)
        for g in self.param_groups:
            lr, mu, damp, wd = g["lr"], g["momentum"], g["dampening"], g["weight_decay"]
            nesterov, maximize = g["nesterov"], g["maximize"]
            for p in g["params"]:
                if p.grad is None:
                    continue
                st = self.state.get(p)
                if st is None:
                    st = self.state[p] = {"momentum_buffer": None}
                grad = _grad(p, maximize)
                w = p._data
                buf = st.get("momentum_buffer")
                # TODO(kernel): ops.sgd_step
                d = grad + wd * w if wd else grad
                if mu:
                    if buf is None:
                        buf = st["momentum_buffer"] = np.array(d, dtype=w.dtype)
                    else:
                        buf *= mu
                        buf += (1 - damp) * d
                    d = d + mu * buf if nesterov else buf
                w -= (lr * d).astype(w.dtype, copy=False)
        return loss


class Adam(Optimizer):
    """Adam (Kingma & Ba) with torch's bias correction; ``amsgrad`` keeps the max of v."""

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None):
        name = type(self).__name__
        lr = _check_lr(lr, name)
        if not 0.0 <= eps:
            raise ValueError(f"{name}: invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0 or not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"{name}: invalid beta parameters: {betas}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"{name}: invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def step(self, closure=None):
        loss = self._closure(closure)
        decoupled = self._decoupled
        for g in self.param_groups:
            lr, (b1, b2), eps, wd = g["lr"], g["betas"], g["eps"], g["weight_decay"]
            amsgrad, maximize = g["amsgrad"], g["maximize"]
            for p in g["params"]:
                if p.grad is None:
                    continue
                w = p._data
                st = self.state.get(p)
                if st is None:
                    st = self.state[p] = {"step": 0, "exp_avg": np.zeros_like(w),
                                          "exp_avg_sq": np.zeros_like(w)}
                    if amsgrad:
                        st["max_exp_avg_sq"] = np.zeros_like(w)
                st["step"] += 1
                t = st["step"]
                grad = _grad(p, maximize)
                # TODO(kernel): ops.adam_step
                if wd:
                    if decoupled:
                        w *= 1 - lr * wd
                    else:
                        grad = grad + wd * w
                m, v = st["exp_avg"], st["exp_avg_sq"]
                m += (grad - m) * (1 - b1)
                v *= b2
                v += (1 - b2) * grad * grad
                bc1 = 1 - b1 ** t
                bc2 = 1 - b2 ** t
                step_size = lr / bc1
                if amsgrad:
                    mx = st["max_exp_avg_sq"]
                    np.maximum(mx, v, out=mx)
                    denom = np.sqrt(mx) / math.sqrt(bc2) + eps
                else:
                    denom = np.sqrt(v) / math.sqrt(bc2) + eps
                w -= (step_size * m / denom).astype(w.dtype, copy=False)
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p *= 1 - lr * wd before the step.
    Default weight_decay=1e-2, as in torch."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)


class RMSprop(Optimizer):
    """RMSprop (torch's variant: eps added after the square root; optional centering and
    momentum)."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        lr = _check_lr(lr, "RMSprop")
        if eps < 0 or momentum < 0 or weight_decay < 0 or alpha < 0:
            raise ValueError("RMSprop: eps, momentum, weight_decay and alpha must be >= 0")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def step(self, closure=None):
        loss = self._closure(closure)
        for g in self.param_groups:
            lr, alpha, eps, wd = g["lr"], g["alpha"], g["eps"], g["weight_decay"]
            mu, centered, maximize = g["momentum"], g["centered"], g["maximize"]
            for p in g["params"]:
                if p.grad is None:
                    continue
                w = p._data
                st = self.state.get(p)
                if st is None:
                    st = self.state[p] = {"step": 0, "square_avg": np.zeros_like(w)}
                    if mu > 0:
                        st["momentum_buffer"] = np.zeros_like(w)
                    if centered:
                        st["grad_avg"] = np.zeros_like(w)
                st["step"] += 1
                grad = _grad(p, maximize)
                # TODO(kernel): ops.rmsprop_step
                if wd:
                    grad = grad + wd * w
                sq = st["square_avg"]
                sq *= alpha
                sq += (1 - alpha) * grad * grad
                if centered:
                    ga = st["grad_avg"]
                    ga += (grad - ga) * (1 - alpha)
                    avg = np.sqrt(sq - ga * ga) + eps
                else:
                    avg = np.sqrt(sq) + eps
                if mu > 0:
                    buf = st["momentum_buffer"]
                    buf *= mu
                    buf += grad / avg
                    w -= (lr * buf).astype(w.dtype, copy=False)
                else:
                    w -= (lr * grad / avg).astype(w.dtype, copy=False)
        return loss


class Adagrad(Optimizer):
    """Adagrad: sum += g^2; p -= lr / (1 + (step - 1) lr_decay) * g / (sqrt(sum) + eps)."""

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None):
        lr = _check_lr(lr, "Adagrad")
        if lr_decay < 0 or weight_decay < 0 or initial_accumulator_value < 0 or eps < 0:
            raise ValueError("Adagrad: lr_decay, weight_decay, initial_accumulator_value and eps "
                             "must be >= 0")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))

    def step(self, closure=None):
        loss = self._closure(closure)
        for g in self.param_groups:
            lr, decay, wd, eps = g["lr"], g["lr_decay"], g["weight_decay"], g["eps"]
            for p in g["params"]:
                if p.grad is None:
                    continue
                w = p._data
                st = self.state.get(p)
                if st is None:
                    st = self.state[p] = {
                        "step": 0,
                        "sum": np.full_like(w, g["initial_accumulator_value"])}
                st["step"] += 1
                grad = _grad(p, g["maximize"])
                # TODO(kernel): ops.adagrad_step
                if wd:
                    grad = grad + wd * w
                clr = lr / (1 + (st["step"] - 1) * decay)
                s = st["sum"]
                s += grad * grad
                w -= (clr * grad / (np.sqrt(s) + eps)).astype(w.dtype, copy=False)
        return loss


del ops, no_grad, required
