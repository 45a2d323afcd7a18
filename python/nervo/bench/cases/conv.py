"""Convolution forward and forward+backward at the shapes of the conv issue (float32, NCHW),
nervo vs torch in the same run. GFLOP/s counts 2*N*K*P*Q*C/groups*R*S per pass (forward), three
passes for forward+backward (forward, data gradient, weight gradient)."""
import functools

import numpy as np

from nervo.bench import Case, Unavailable, nervo_backend, torch_module

# (label, x shape, K, filter, padding, groups)
SHAPES = [
    ("3x3:128x1x28x28->32", (128, 1, 28, 28), 32, 3, 1, 1),
    ("3x3:128x32x14x14->64", (128, 32, 14, 14), 64, 3, 1, 1),
    ("3x3:32x64x56x56->64", (32, 64, 56, 56), 64, 3, 1, 1),
    ("3x3:32x128x28x28->128", (32, 128, 28, 28), 128, 3, 1, 1),
    ("3x3:64x3x32x32->64", (64, 3, 32, 32), 64, 3, 1, 1),
    ("1x1:32x64x56x56->256", (32, 64, 56, 56), 256, 1, 0, 1),
    ("dw3x3:32x128x28x28", (32, 128, 28, 28), 128, 3, 1, 128),
    ("5x5:128x1x28x28->32", (128, 1, 28, 28), 32, 5, 2, 1),
]


def _flops(xs, K, R, pad, groups):
    N, C, H, W = xs
    P = H + 2 * pad - R + 1
    return 2.0 * N * K * P * P * (C // groups) * R * R


@functools.lru_cache(maxsize=2)
def _data(xs, K, R, groups):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal((K, xs[1] // groups, R, R)) / np.sqrt(xs[1] // groups * R * R)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    return x, w, b


def _make(xs, K, R, pad, groups, backward):
    def setup(impl):
        x, w, b = _data(xs, K, R, groups)
        rng = np.random.default_rng(1)
        P = xs[2] + 2 * pad - R + 1
        dy = rng.standard_normal((xs[0], K, P, P)).astype(np.float32)
        if impl.startswith("nervo"):
            nervo_backend(impl)
            import nervo.ops as ops
            y = np.empty((xs[0], K, P, P), np.float32)
            if not backward:
                def run():
                    return ops.conv2d(x, w, b, padding=pad, groups=groups, out=y)
                return run

            def run():
                ops.conv2d(x, w, b, padding=pad, groups=groups, out=y)
                return ops.conv2d_backward(dy, x, w, padding=pad, groups=groups)
            return run
        if impl == "torch":
            torch = torch_module()
            F = torch.nn.functional
            tx, tw, tb, tdy = (torch.from_numpy(a) for a in (x, w, b, dy))
            if not backward:
                def run():
                    with torch.no_grad():
                        return F.conv2d(tx, tw, tb, padding=pad, groups=groups)
                return run

            def run():
                xr = tx.detach().requires_grad_(True)
                wr = tw.detach().requires_grad_(True)
                br = tb.detach().requires_grad_(True)
                F.conv2d(xr, wr, br, padding=pad, groups=groups).backward(tdy)
                return xr.grad, wr.grad, br.grad
            return run
        raise Unavailable(f"no {impl} implementation of conv2d")

    @functools.lru_cache(maxsize=1)
    def reference():
        from nervo.ops.reference import conv as ref
        x, w, b = _data(xs, K, R, groups)
        if not backward:
            return ref.conv2d(x, w, b, padding=pad, groups=groups)
        rng = np.random.default_rng(1)
        P = xs[2] + 2 * pad - R + 1
        dy = rng.standard_normal((xs[0], K, P, P)).astype(np.float32)
        return ref.conv2d_backward(dy, x, w, padding=pad, groups=groups)

    return setup, reference


def _case(label, xs, K, R, pad, groups, backward):
    setup, reference = _make(xs, K, R, pad, groups, backward)
    f = _flops(xs, K, R, pad, groups)
    return Case(op="conv2d_fwd_bwd" if backward else "conv2d_fwd", shape=label, setup=setup,
                reference=reference, flops=f * (3 if backward else 1),
                rtol=2e-3, atol=2e-3 if not backward else 5e-2,
                impls=("nervo-native", "nervo-numba", "torch"),
                quick=lambda: _case(label, (1, xs[1], min(xs[2], 10), min(xs[3], 10)), K, R, pad, groups, backward))


CASES = [_case(*s, backward=bwd) for s in SHAPES for bwd in (False, True)]
