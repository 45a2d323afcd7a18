"""Max-pool 2x2 on (128, 64, 28, 28) float32, forward and forward+backward, nervo vs torch.
GB/s counts the bytes the pass must move: x read, y and indices (int64) written (forward);
plus dy and indices read and dx written (backward)."""
import functools

import numpy as np

from nervo.bench import Case, Unavailable, nervo_backend, torch_module

SHAPE = (128, 64, 28, 28)


@functools.lru_cache(maxsize=1)
def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE).astype(np.float32)
    dy = rng.standard_normal(SHAPE[:2] + (14, 14)).astype(np.float32)
    return x, dy


def _make(backward):
    def setup(impl):
        x, dy = _data()
        if impl.startswith("nervo"):
            nervo_backend(impl)
            import nervo.ops as ops
            if not backward:
                return lambda: ops.max_pool2d(x, 2)[0]

            def run():
                y, idx = ops.max_pool2d(x, 2)
                return y, ops.max_pool2d_backward(dy, idx, x.shape)
            return run
        if impl == "torch":
            torch = torch_module()
            F = torch.nn.functional
            tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)
            if not backward:
                def run():
                    with torch.no_grad():
                        return F.max_pool2d(tx, 2)
                return run

            def run():
                xr = tx.detach().requires_grad_(True)
                y = F.max_pool2d(xr, 2)
                y.backward(tdy)
                return y.detach(), xr.grad
            return run
        raise Unavailable(f"no {impl} implementation of max_pool2d")

    def reference():
        x, dy = _data()
        y = x.reshape(128, 64, 14, 2, 14, 2).max(axis=(3, 5))
        if not backward:
            return y
        hit = x == np.repeat(np.repeat(y, 2, axis=2), 2, axis=3)
        # first max of each window gets the gradient (ties are measure-zero with random data)
        dx = np.where(hit, np.repeat(np.repeat(dy, 2, axis=2), 2, axis=3), 0).astype(np.float32)
        return y, dx

    return setup, reference


n_in = float(np.prod(SHAPE))
CASES = [
    Case(op="max_pool2d_fwd", shape="2x2:128x64x28x28", setup=_make(False)[0],
         reference=_make(False)[1], nbytes=n_in * 4 + n_in / 4 * 12,
         impls=("nervo-native", "nervo-numba", "torch")),
    Case(op="max_pool2d_fwd_bwd", shape="2x2:128x64x28x28", setup=_make(True)[0],
         reference=_make(True)[1], nbytes=n_in * 4 + n_in / 4 * 12 + n_in / 4 * 12 + n_in * 4,
         impls=("nervo-native", "nervo-numba", "torch")),
]
