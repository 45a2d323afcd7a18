"""NumPy references of the optimizer steps (torch.optim's single-tensor formulas, in float64)."""
import numpy as np


def sgd(p, g, buf, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
        maximize=False):
    """Returns new (p, buf); buf None before the first momentum step."""
    d = -g if maximize else g
    d = d + weight_decay * p
    if momentum:
        buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
        d = d + momentum * buf if nesterov else buf
    return p - lr * d, buf


def adam(p, g, m, v, vmax, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
         decoupled=False, maximize=False):
    d = -g if maximize else g
    if weight_decay:
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            d = d + weight_decay * p
    m = m + (1 - beta1) * (d - m)
    v = beta2 * v + (1 - beta2) * d * d
    if vmax is not None:
        vmax = np.maximum(vmax, v)
    bc1 = 1 - beta1 ** step
    bc2 = 1 - beta2 ** step
    denom = np.sqrt(v if vmax is None else vmax) / np.sqrt(bc2) + eps
    return p - lr / bc1 * m / denom, m, v, vmax


def rmsprop(p, g, sq, ga, buf, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
            maximize=False):
    d = -g if maximize else g
    d = d + weight_decay * p
    sq = alpha * sq + (1 - alpha) * d * d
    if ga is not None:
        ga = ga + (1 - alpha) * (d - ga)
        avg = np.sqrt(sq - ga * ga) + eps
    else:
        avg = np.sqrt(sq) + eps
    if momentum > 0:
        buf = momentum * buf + d / avg
        return p - lr * buf, sq, ga, buf
    return p - lr * d / avg, sq, ga, buf


def adagrad(p, g, ss, step, lr=1e-2, lr_decay=0.0, weight_decay=0.0, eps=1e-10, maximize=False):
    d = -g if maximize else g
    d = d + weight_decay * p
    clr = lr / (1 + (step - 1) * lr_decay)
    ss = ss + d * d
    return p - clr * d / (np.sqrt(ss) + eps), ss
