"""Numba activation kernels (mirror csrc/ops/act): act_forward(op, x, out, a, b) and
act_backward(op, saved, dy, dx, a, b) on contiguous arrays. Op ids match csrc/ops/act/act.h."""
import math

import numba
from numba import njit, prange

_SELU_SCALE = 1.0507009873554804934193349852946
_SELU_ALPHA = 1.6732632423543772848170429916717
_INV_SQRT2 = 0.70710678118654752
_INV_SQRT_2PI = 0.39894228040143268
_SQRT_2_OVER_PI = 0.79788456080286536


@njit(inline="always")
def _sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


@njit(inline="always")
def _softplus1(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


# forward(x, a, b) and backward(saved, dy, a, b) per op, in op-id order.
@njit(inline="always")
def _relu_f(x, a, b):
    return 0.0 if x < 0 else x  # NaN passes through


@njit(inline="always")
def _relu_b(y, g, a, b):
    return 0.0 if y <= 0 else g


@njit(inline="always")
def _leaky_f(x, a, b):
    return x if x > 0 else x * a


@njit(inline="always")
def _leaky_b(x, g, a, b):
    return g if x > 0 else g * a


@njit(inline="always")
def _elu_f(x, a, b):
    return x if x > 0 else a * math.expm1(x)


@njit(inline="always")
def _elu_b(x, g, a, b):
    return g if x > 0 else g * a * math.exp(x)


@njit(inline="always")
def _selu_f(x, a, b):
    return _SELU_SCALE * x if x > 0 else _SELU_SCALE * _SELU_ALPHA * math.expm1(x)


@njit(inline="always")
def _selu_b(x, g, a, b):
    return g * _SELU_SCALE if x > 0 else g * _SELU_SCALE * _SELU_ALPHA * math.exp(x)


@njit(inline="always")
def _gelu_f(x, a, b):
    return x * 0.5 * (1.0 + math.erf(x * _INV_SQRT2))


@njit(inline="always")
def _gelu_b(x, g, a, b):
    cdf = 0.5 * (1.0 + math.erf(x * _INV_SQRT2))
    return g * (cdf + x * math.exp(-0.5 * x * x) * _INV_SQRT_2PI)


@njit(inline="always")
def _gelu_tanh_f(x, a, b):
    return 0.5 * x * (1.0 + math.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))


@njit(inline="always")
def _gelu_tanh_b(x, g, a, b):
    t = math.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
    d = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x)
    return g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * d)


@njit(inline="always")
def _silu_f(x, a, b):
    return x * _sigmoid(x)


@njit(inline="always")
def _silu_b(x, g, a, b):
    s = _sigmoid(x)
    return g * s * (1.0 + x * (1.0 - s))


@njit(inline="always")
def _mish_f(x, a, b):
    return x * math.tanh(_softplus1(x))


@njit(inline="always")
def _mish_b(x, g, a, b):
    t = math.tanh(_softplus1(x))
    return g * (t + x * _sigmoid(x) * (1.0 - t * t))


@njit(inline="always")
def _sigmoid_f(x, a, b):
    return _sigmoid(x)


@njit(inline="always")
def _sigmoid_b(y, g, a, b):
    return g * y * (1.0 - y)


@njit(inline="always")
def _tanh_f(x, a, b):
    return math.tanh(x)


@njit(inline="always")
def _tanh_b(y, g, a, b):
    return g * (1.0 - y * y)


@njit(inline="always")
def _softplus_f(x, a, b):
    z = x * a
    return x if z > b else _softplus1(z) / a


@njit(inline="always")
def _softplus_b(x, g, a, b):
    z = x * a
    return g if z > b else g * _sigmoid(z)


@njit(inline="always")
def _hardtanh_f(x, a, b):
    if x < a:
        return a
    if x > b:
        return b
    return x


@njit(inline="always")
def _hardtanh_b(x, g, a, b):
    return 0.0 if (x <= a or x >= b) else g


@njit(inline="always")
def _hardswish_f(x, a, b):
    return x * min(max(x + 3.0, 0.0), 6.0) / 6.0 if x == x else x


@njit(inline="always")
def _hardswish_b(x, g, a, b):
    if x <= -3.0:
        return 0.0
    if x < 3.0:
        return g * (x / 3.0 + 0.5)
    return g


def _make_forward(f):
    @njit(parallel=True, nogil=True)
    def kernel(x, y, a, b):
        for i in prange(x.size):
            y[i] = f(x[i], a, b)
    return kernel


def _make_backward(f):
    @njit(parallel=True, nogil=True)
    def kernel(s, g, dx, a, b):
        for i in prange(g.size):
            dx[i] = f(s[i], g[i], a, b)
    return kernel


_PAIRS = [
    (_relu_f, _relu_b), (_leaky_f, _leaky_b), (_elu_f, _elu_b), (_selu_f, _selu_b),
    (_gelu_f, _gelu_b), (_gelu_tanh_f, _gelu_tanh_b), (_silu_f, _silu_b), (_mish_f, _mish_b),
    (_sigmoid_f, _sigmoid_b), (_tanh_f, _tanh_b), (_softplus_f, _softplus_b),
    (_hardtanh_f, _hardtanh_b), (_hardswish_f, _hardswish_b),
]
_FWD = [_make_forward(f) for f, _ in _PAIRS]
_BWD = [_make_backward(bk) for _, bk in _PAIRS]


def act_forward(op, x, out, a, b):
    _FWD[op](x.reshape(-1), out.reshape(-1), float(a), float(b))


def act_backward(op, saved, dy, dx, a, b):
    _BWD[op](saved.reshape(-1), dy.reshape(-1), dx.reshape(-1), float(a), float(b))


KERNELS = {"act_forward": act_forward, "act_backward": act_backward}
del numba
