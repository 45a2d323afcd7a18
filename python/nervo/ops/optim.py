"""Fused optimizer steps and global gradient-norm clipping (NumPy arrays updated in place).

Each step updates ``param`` and its state buffers in one pass over memory, with torch.optim's
update rules term for term (csrc/ops/optim/optim.h lists them), so a nervo optimizer and
torch.optim with the same hyperparameters agree to float rounding. ``param``, ``grad`` and the
state buffers are C-contiguous arrays of one dtype and size: one parameter, or a flat buffer of
many. State buffers start as zeros (Adagrad: ``initial_accumulator_value``); SGD's momentum
buffer is initialised by the first step (``first_step=True``), as in torch.

Example:
    >>> import numpy as np, nervo.ops as ops
    >>> p = np.ones(3, np.float32); g = np.full(3, 0.5, np.float32)
    >>> m = np.zeros(3, np.float32); v = np.zeros(3, np.float32)
    >>> ops.adam_step(p, g, m, v, step=1, lr=0.1)
    >>> p.round(6)  # the first Adam step moves every coordinate by lr
    array([0.9, 0.9, 0.9], dtype=float32)
"""
from __future__ import annotations

import math

import numpy as np

from nervo.backend import K

__all__ = ["sgd_step", "adam_step", "adamw_step", "rmsprop_step", "adagrad_step", "grad_norm",
           "clip_grad_norm"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _check(call, param, grad, **state):
    """Cheap checks (this runs once per parameter per training step)."""
    if not isinstance(param, np.ndarray) or param.dtype not in _FLOATS:
        raise TypeError(f"{call}: param must be a float32 or float64 numpy.ndarray, got "
                        f"{getattr(param, 'dtype', type(param).__name__)}")
    if not param.flags.c_contiguous or not param.flags.writeable:
        raise ValueError(f"{call}: param must be C-contiguous and writable (it is updated in place)")
    for name, a in (("grad", grad), *state.items()):
        if a is None:
            continue
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{call}: {name} must be a numpy.ndarray, got {type(a).__name__}")
        if a.dtype != param.dtype:
            raise TypeError(f"{call}: {name} has dtype {a.dtype} but param is {param.dtype}")
        if a.shape != param.shape:
            raise ValueError(f"{call}: {name} has shape {a.shape} but param has shape {param.shape}")
        if not a.flags.c_contiguous or (name != "grad" and not a.flags.writeable):
            raise ValueError(f"{call}: {name} must be C-contiguous" + ("" if name == "grad" else " and writable"))


def _nonneg(call, **vals):
    for name, v in vals.items():
        if not v >= 0.0:  # also rejects NaN
            raise ValueError(f"{call}: {name} must be >= 0, got {v!r}")


def _step(call, step):
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"{call}: step must be an int >= 1 (1 on the first step), got {step!r}")
    return int(step)


def sgd_step(param, grad, momentum_buffer=None, *, lr, momentum=0.0, dampening=0.0,
             weight_decay=0.0, nesterov=False, maximize=False, first_step=False):
    """One torch.optim.SGD step in place (momentum_buffer required when momentum != 0)."""
    call = "nervo.ops.sgd_step"
    _check(call, param, grad, momentum_buffer=momentum_buffer)
    _nonneg(call, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if momentum != 0.0 and momentum_buffer is None:
        raise ValueError(f"{call}: momentum={momentum} needs a momentum_buffer")
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError(f"{call}: nesterov momentum requires momentum > 0 and zero dampening")
    K["sgd_step"](param, grad, momentum_buffer, float(lr), float(momentum), float(dampening),
                  float(weight_decay), bool(nesterov), bool(maximize), bool(first_step))


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr=1e-3,
              beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False,
              maximize=False):
    """One torch.optim.Adam step in place (AMSGrad when max_exp_avg_sq is given; AdamW's
    decoupled weight decay when ``decoupled``). ``step`` counts from 1."""
    call = "nervo.ops.adam_step"
    _check(call, param, grad, exp_avg=exp_avg, exp_avg_sq=exp_avg_sq, max_exp_avg_sq=max_exp_avg_sq)
    if exp_avg is None or exp_avg_sq is None:
        raise TypeError(f"{call}: exp_avg and exp_avg_sq are required state buffers")
    _nonneg(call, lr=lr, eps=eps, weight_decay=weight_decay)
    if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
        raise ValueError(f"{call}: betas must be in [0, 1), got ({beta1!r}, {beta2!r})")
    K["adam_step"](param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, _step(call, step), float(lr),
                   float(beta1), float(beta2), float(eps), float(weight_decay), bool(decoupled),
                   bool(maximize))


def adamw_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr=1e-3,
               beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2, maximize=False):
    """One torch.optim.AdamW step: adam_step with decoupled weight decay (default 1e-2)."""
    adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step=step, lr=lr, beta1=beta1,
              beta2=beta2, eps=eps, weight_decay=weight_decay, decoupled=True, maximize=maximize)


def rmsprop_step(param, grad, square_avg, grad_avg=None, momentum_buffer=None, *, lr=1e-2,
                 alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, maximize=False):
    """One torch.optim.RMSprop step in place (centered when grad_avg is given)."""
    call = "nervo.ops.rmsprop_step"
    _check(call, param, grad, square_avg=square_avg, grad_avg=grad_avg, momentum_buffer=momentum_buffer)
    if square_avg is None:
        raise TypeError(f"{call}: square_avg is a required state buffer")
    _nonneg(call, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum)
    if momentum > 0 and momentum_buffer is None:
        raise ValueError(f"{call}: momentum={momentum} needs a momentum_buffer")
    K["rmsprop_step"](param, grad, square_avg, grad_avg, momentum_buffer, float(lr), float(alpha),
                      float(eps), float(weight_decay), float(momentum), bool(maximize))


def adagrad_step(param, grad, state_sum, *, step, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 eps=1e-10, maximize=False):
    """One torch.optim.Adagrad step in place; ``step`` counts from 1."""
    call = "nervo.ops.adagrad_step"
    _check(call, param, grad, state_sum=state_sum)
    if state_sum is None:
        raise TypeError(f"{call}: state_sum is a required state buffer")
    _nonneg(call, lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay)
    K["adagrad_step"](param, grad, state_sum, _step(call, step), float(lr), float(lr_decay),
                      float(weight_decay), float(eps), bool(maximize))


def _grads(grads, call, writable=False):
    if isinstance(grads, np.ndarray):
        grads = [grads]
    out = []
    for i, g in enumerate(grads):
        if not isinstance(g, np.ndarray) or g.dtype not in _FLOATS:
            raise TypeError(f"{call}: grads[{i}] must be a float32/float64 numpy.ndarray")
        if not g.flags.c_contiguous or (writable and not g.flags.writeable):
            raise ValueError(f"{call}: grads[{i}] must be C-contiguous" + (" and writable" if writable else ""))
        out.append(g)
    return out


def _norm_type(norm_type, call):
    p = float(norm_type)
    if not (p > 0):
        raise ValueError(f"{call}: norm_type must be > 0 (or inf), got {norm_type!r}")
    return p


def grad_norm(grads, norm_type=2.0) -> float:
    """The p-norm of all gradients together (as if concatenated), accumulated in float64."""
    call = "nervo.ops.grad_norm"
    p = _norm_type(norm_type, call)
    total = K["grads_norm"](_grads(grads, call), p)
    if math.isinf(p):
        return total
    return math.sqrt(total) if p == 2.0 else total ** (1.0 / p)


def clip_grad_norm(grads, max_norm, norm_type=2.0) -> float:
    """torch.nn.utils.clip_grad_norm_: scale every gradient in place by
    min(1, max_norm / (total_norm + 1e-6)); returns the total norm before clipping."""
    call = "nervo.ops.clip_grad_norm"
    gl = _grads(grads, call, writable=True)
    total = grad_norm(gl, norm_type)
    coef = float(max_norm) / (total + 1e-6)
    if coef < 1.0:
        K["grads_scale"](gl, coef)
    return total
