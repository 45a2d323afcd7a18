"""Numba optimizer kernels (mirror csrc/ops/optim): same update rules, in place, on flat views.
Scalars are cast to the array dtype first so float32 arithmetic stays float32, like native."""
import math

import numpy as np
from numba import njit, prange


@njit(parallel=True, nogil=True, cache=True)
def _sgd(p, g, buf, has_buf, lr, mom, damp1, wd, use_wd, nesterov, sign, first):
    for i in prange(p.size):
        d = sign * g[i]
        if use_wd:
            d = wd * p[i] + d
        if has_buf:
            b = d if first else damp1 * d + buf[i] * mom
            buf[i] = b
            d = mom * b + d if nesterov else b
        p[i] = -lr * d + p[i]


@njit(parallel=True, nogil=True, cache=True)
def _adam(p, g, m, v, vmax, amsgrad, step_size, inv_bc2, w1, beta2, w2, eps, wd, decay, l2, dec,
          sign):
    for i in prange(p.size):
        pi = p[i]
        d = sign * g[i]
        if l2:
            d = wd * pi + d
        if dec:
            pi = pi * decay
        mi = w1 * (d - m[i]) + m[i]
        vi = w2 * d * d + v[i] * beta2
        m[i] = mi
        v[i] = vi
        vv = vi
        if amsgrad:
            vv = max(vmax[i], vi)
            vmax[i] = vv
        denom = math.sqrt(vv) * inv_bc2 + eps
        p[i] = -step_size * (mi / denom) + pi


@njit(parallel=True, nogil=True, cache=True)
def _rmsprop(p, g, sq, ga, centered, buf, has_buf, lr, alpha, w, eps, wd, use_wd, mom, sign):
    for i in prange(p.size):
        d = sign * g[i]
        if use_wd:
            d = wd * p[i] + d
        s = w * d * d + sq[i] * alpha
        sq[i] = s
        if centered:
            gi = w * (d - ga[i]) + ga[i]
            ga[i] = gi
            avg = math.sqrt(-gi * gi + s) + eps
        else:
            avg = math.sqrt(s) + eps
        if has_buf:
            b = mom * buf[i] + d / avg
            buf[i] = b
            p[i] = -lr * b + p[i]
        else:
            p[i] = -lr * (d / avg) + p[i]


@njit(parallel=True, nogil=True, cache=True)
def _adagrad(p, g, ss, clr, wd, use_wd, eps, sign):
    for i in prange(p.size):
        d = sign * g[i]
        if use_wd:
            d = wd * p[i] + d
        s = d * d + ss[i]
        ss[i] = s
        p[i] = -clr * (d / (math.sqrt(s) + eps)) + p[i]


_CHUNK = 16384


@njit(parallel=True, nogil=True, cache=True)
def _norm_accum(x, pnorm, mode):
    n = x.size
    nchunks = (n + _CHUNK - 1) // _CHUNK
    part = np.zeros(nchunks)
    for c in prange(nchunks):
        lo = c * _CHUNK
        hi = min(n, lo + _CHUNK)
        s = 0.0
        for i in range(lo, hi):
            a = abs(np.float64(x[i]))
            if mode == 0:
                s += a * a
            elif mode == 1:
                if a > s or a != a:
                    s = a
            else:
                s += a ** pnorm
        part[c] = s
    total = 0.0
    for c in range(nchunks):
        if mode == 1:
            if part[c] > total or part[c] != part[c]:
                total = part[c]
        else:
            total += part[c]
    return total


@njit(parallel=True, nogil=True, cache=True)
def _scale(x, s):
    for i in prange(x.size):
        x[i] = x[i] * s


def _flat(a):
    return None if a is None else a.reshape(-1)


def sgd_step(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov,
             maximize, first_step):
    t = param.dtype.type
    p = param.reshape(-1)
    has_buf = momentum != 0.0 and momentum_buffer is not None
    buf = momentum_buffer.reshape(-1) if has_buf else p[:0]
    _sgd(p, grad.reshape(-1), buf, has_buf, t(lr), t(momentum), t(1.0 - dampening),
         t(weight_decay), weight_decay != 0.0, bool(nesterov), t(-1.0 if maximize else 1.0),
         bool(first_step))


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
              weight_decay, decoupled, maximize):
    t = param.dtype.type
    p = param.reshape(-1)
    bc1 = 1.0 - beta1 ** step
    bc2 = 1.0 - beta2 ** step
    ams = max_exp_avg_sq is not None
    _adam(p, grad.reshape(-1), exp_avg.reshape(-1), exp_avg_sq.reshape(-1),
          max_exp_avg_sq.reshape(-1) if ams else p[:0], ams, t(lr / bc1), t(1.0 / math.sqrt(bc2)),
          t(1.0 - beta1), t(beta2), t(1.0 - beta2), t(eps), t(weight_decay),
          t(1.0 - lr * weight_decay), weight_decay != 0.0 and not decoupled,
          weight_decay != 0.0 and bool(decoupled), t(-1.0 if maximize else 1.0))


def rmsprop_step(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay,
                 momentum, maximize):
    t = param.dtype.type
    p = param.reshape(-1)
    centered = grad_avg is not None
    has_buf = momentum > 0 and momentum_buffer is not None
    _rmsprop(p, grad.reshape(-1), square_avg.reshape(-1), grad_avg.reshape(-1) if centered else p[:0],
             centered, momentum_buffer.reshape(-1) if has_buf else p[:0], has_buf, t(lr), t(alpha),
             t(1.0 - alpha), t(eps), t(weight_decay), weight_decay != 0.0, t(momentum),
             t(-1.0 if maximize else 1.0))


def adagrad_step(param, grad, state_sum, step, lr, lr_decay, weight_decay, eps, maximize):
    t = param.dtype.type
    _adagrad(param.reshape(-1), grad.reshape(-1), state_sum.reshape(-1),
             t(lr / (1.0 + (step - 1) * lr_decay)), t(weight_decay), weight_decay != 0.0, t(eps),
             t(-1.0 if maximize else 1.0))


def grads_norm(arrays, p):
    inf = math.isinf(p)
    mode = 1 if inf else (0 if p == 2.0 else 2)
    total = 0.0
    for a in arrays:
        if a.size == 0:
            continue
        s = _norm_accum(a.reshape(-1), float(p), mode)
        if inf:
            total = s if (s > total or s != s) else total
        else:
            total += s
    return total


def grads_scale(arrays, s):
    for a in arrays:
        if a.size:
            _scale(a.reshape(-1), a.dtype.type(s))


KERNELS = {
    "sgd_step": sgd_step, "adam_step": adam_step, "rmsprop_step": rmsprop_step,
    "adagrad_step": adagrad_step, "grads_norm": grads_norm, "grads_scale": grads_scale,
}
