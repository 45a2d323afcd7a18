"""check_tensor (llm.c style): compare with a reference and report the worst element."""
import numpy as np

# Tolerances per (kind, dtype); kernels with K-dependent error scale atol themselves.
TOL = {
    ("elementwise", np.float32): (2e-6, 1e-6),
    ("elementwise", np.float64): (1e-12, 1e-12),
    ("transcendental", np.float32): (1e-5, 2e-6),
    ("transcendental", np.float64): (1e-6, 1e-7),  # erfc fit: 1.2e-7 relative
}


def tol(kind, dtype):
    return TOL[(kind, np.dtype(dtype).type)]


def check_tensor(got, want, rtol, atol, what=""):
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    g = got.astype(np.float64)
    w = want.astype(np.float64)
    both_nan = np.isnan(g) & np.isnan(w)
    same = (g == w) | both_nan
    with np.errstate(invalid="ignore"):
        close = np.abs(g - w) <= atol + rtol * np.abs(w)
    bad = ~(same | close)
    if bad.any():
        idx = np.unravel_index(np.argmax(bad), bad.shape)
        with np.errstate(invalid="ignore"):
            diff = np.nanmax(np.abs(g - w)[~same]) if (~same).any() else 0.0
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.size} elements differ (rtol={rtol}, atol={atol}); "
            f"max |diff| {diff:.3g}; first bad index {tuple(int(i) for i in idx)}: "
            f"got {g[idx]!r}, want {w[idx]!r}")
