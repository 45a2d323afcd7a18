"""Accuracy of core/vmath.h's vectorized float32 functions against float64, over the float range
that matters for each (dense samples of [-100, 100], wide log-spaced magnitudes, denormals and
the special values), at every native ISA level. The bounds are the ones vmath.h documents."""
import math

import numpy as np
import pytest

from nervo import backend as B

pytestmark = pytest.mark.skipif("native" not in B.available_backends(), reason="native backend only")

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _inputs(lo, hi):
    rng = np.random.default_rng(0)
    dense = np.linspace(lo, hi, 400_001)
    mags = np.logspace(-30, math.log10(max(abs(lo), abs(hi))), 100_000)
    x = np.concatenate([dense, mags, -mags, rng.uniform(lo, hi, 200_000)])
    x = x[(x >= lo) & (x <= hi)].astype(np.float32)
    return np.unique(x)


def _ulp_err(got, want):
    """|got - want| in units of the float32 ulp at want (denormal-aware)."""
    w32 = want.astype(np.float32)
    spacing = np.spacing(np.abs(w32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - want) / spacing


# name, float64 oracle, input range, max ulp (vmath.h's table)
CASES = [
    ("exp", np.exp, (-103.0, 88.7), 2),
    ("expm1", np.expm1, (-100.0, 88.7), 2.5),
    ("log", np.log, (1e-38, 3e38), 2),
    ("log1p", np.log1p, (-0.999, 1e30), 3),
    ("tanh", np.tanh, (-100.0, 100.0), 3),
    ("sigmoid", lambda z: 1 / (1 + np.exp(-z)), (-87.0, 100.0), 3),
    ("erf", _erf, (-10.0, 10.0), 4),
]
_erfc = np.vectorize(math.erfc, otypes=[np.float64])




@pytest.mark.parametrize("name,oracle,rng_,max_ulp", CASES, ids=[c[0] for c in CASES])
def test_ulp_error_within_documented_bound(name, oracle, rng_, max_ulp):
    mod = B.native_module()
    x = _inputs(*rng_)
    want = oracle(x.astype(np.float64))
    prev = mod.isa()
    try:
        for level in mod.isa_available():
            mod.set_isa(level)
            got = np.empty_like(x)
            mod.vmath_eval(name, x, got)
            err = _ulp_err(got, want)
            worst = int(np.argmax(err))
            assert err[worst] <= max_ulp, (f"{name} [{level}]: {err[worst]:.2f} ulp at x={x[worst]!r} "
                                           f"(got {got[worst]!r}, want {want[worst]!r})")
    finally:
        mod.set_isa(prev)


def _eval_all_levels(name, x):
    mod = B.native_module()
    prev = mod.isa()
    try:
        for level in mod.isa_available():
            mod.set_isa(level)
            got = np.empty_like(x)
            mod.vmath_eval(name, x, got)
            yield level, got
    finally:
        mod.set_isa(prev)


def test_erf_rational_absolute_error():
    x = _inputs(-10.0, 10.0)
    want = _erf(x.astype(np.float64))
    for level, got in _eval_all_levels("erf_rational", x):
        err = np.abs(got - want)
        assert err.max() <= 5e-7, f"erf_rational [{level}]: {err.max():.3g} at x={x[np.argmax(err)]!r}"


def test_erfc_pos_relative_error():
    x = _inputs(0.0, 9.0)  # erfc(9) ~ 4e-37, still a normal float
    want = _erfc(x.astype(np.float64))
    bound = 2e-5  # vmath.h: the fit's 1.2e-7 plus float32 rounding of the polynomial and of -z^2
    for level, got in _eval_all_levels("erfc_pos", x):
        rel = np.abs(got - want) / want
        bad = rel > bound
        assert not bad.any(), f"erfc_pos [{level}]: {rel[bad].max():.3g} at x={x[bad][0]!r}"


def test_special_values_and_float64():
    mod = B.native_module()
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], np.float32)
    for name in ("exp", "expm1", "tanh", "sigmoid", "erf", "erf_rational"):
        got = np.empty_like(x)
        mod.vmath_eval(name, x, got)
        want = {"exp": np.exp, "expm1": np.expm1, "tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
                "erf": _erf, "erf_rational": _erf}[name](x.astype(np.float64))
        np.testing.assert_array_equal(got, want.astype(np.float32), err_msg=name)
    # float64 runs on the C library (vmath.h): activations in float64 are exact to ~1 ulp
    import nervo.ops as ops
    z = np.linspace(-20, 20, 10001)
    np.testing.assert_allclose(ops.tanh(z), np.tanh(z), rtol=4e-16, atol=0)
    np.testing.assert_allclose(ops.elu(z), np.where(z > 0, z, np.expm1(z)), rtol=4e-16, atol=0)
