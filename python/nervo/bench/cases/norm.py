"""Batch norm (training mode, affine, running statistics) on (128, 64, 28, 28) float32, forward
and forward+backward, nervo vs torch. GB/s counts one read of x and one write of y (forward);
plus reads of dy and x and a write of dx (backward)."""
import functools

import numpy as np

from nervo.bench import Case, Unavailable, nervo_backend, torch_module

SHAPE = (128, 64, 28, 28)


@functools.lru_cache(maxsize=1)
def _data():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(SHAPE) * 2 + 1).astype(np.float32)
    dy = rng.standard_normal(SHAPE).astype(np.float32)
    w = rng.standard_normal(SHAPE[1]).astype(np.float32)
    b = rng.standard_normal(SHAPE[1]).astype(np.float32)
    return x, dy, w, b


def _make(backward):
    def setup(impl):
        x, dy, w, b = _data()
        rm, rv = np.zeros(SHAPE[1], np.float32), np.ones(SHAPE[1], np.float32)
        if impl.startswith("nervo"):
            nervo_backend(impl)
            import nervo.ops as ops
            y = np.empty_like(x)

            def run():
                _, mean, rstd = ops.batch_norm(x, w, b, rm, rv, training=True, out=y)
                if not backward:
                    return y
                return (y,) + ops.batch_norm_backward(dy, x, w, mean, rstd)
            return run
        if impl == "torch":
            torch = torch_module()
            F = torch.nn.functional
            tx, tdy, tw, tb = (torch.from_numpy(a) for a in (x, dy, w, b))
            trm, trv = torch.from_numpy(rm), torch.from_numpy(rv)
            if not backward:
                def run():
                    with torch.no_grad():
                        return F.batch_norm(tx, trm, trv, tw, tb, training=True)
                return run

            def run():
                xr = tx.detach().requires_grad_(True)
                wr = tw.detach().requires_grad_(True)
                br = tb.detach().requires_grad_(True)
                y = F.batch_norm(xr, trm, trv, wr, br, training=True)
                y.backward(tdy)
                return y.detach(), xr.grad, wr.grad, br.grad
            return run
        raise Unavailable(f"no {impl} implementation of batch_norm")

    @functools.lru_cache(maxsize=1)
    def reference():
        from nervo.ops.reference import norm as ref
        x, dy, w, b = _data()
        y, mean, rstd, _, _ = ref.batch_norm(x, w, b, None, None, True, 0.1, 1e-5)
        if not backward:
            return y.astype(np.float32)
        return (y,) + ref.batch_norm_backward(dy, x, w, mean, rstd, True)

    return setup, reference


n = float(np.prod(SHAPE))
CASES = [
    Case(op="batch_norm_fwd", shape="128x64x28x28", setup=_make(False)[0],
         reference=_make(False)[1], nbytes=n * 8, rtol=1e-4, atol=1e-4,
         impls=("nervo-native", "nervo-numba", "torch")),
    Case(op="batch_norm_fwd_bwd", shape="128x64x28x28", setup=_make(True)[0],
         reference=_make(True)[1], nbytes=n * 8 + n * 12, rtol=1e-3, atol=1e-2,
         impls=("nervo-native", "nervo-numba", "torch")),
]
