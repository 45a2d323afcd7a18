"""Dropout forward+backward (p = 0.1) on 6.4M float32 elements: nervo's counter-based mask (never
stored, regenerated in backward) vs torch's F.dropout + backward (which stores a mask). Bytes: x
read, y written, dy read, dx written (16 per element)."""
import numpy as np

from nervo.bench import Case, Unavailable, nervo_backend, torch_module

N = 6_400_000
P = 0.1


def _make(n):
    def data():
        rng = np.random.default_rng(0)
        return rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)

    def setup(impl):
        x, dy = data()
        if impl.startswith("nervo"):
            nervo_backend(impl)
            import nervo.ops as ops
            y, dx = np.empty_like(x), np.empty_like(x)

            def run():
                ops.dropout(x, P, seed=1, out=y)
                ops.dropout_backward(dy, P, seed=1, out=dx)
                return y, dx
            return run
        if impl == "torch":
            torch = torch_module()
            tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)

            def run():
                xr = tx.detach().requires_grad_(True)
                yy = torch.nn.functional.dropout(xr, P, training=True)
                yy.backward(tdy)
                return yy.detach(), xr.grad
            return run
        raise Unavailable(f"no {impl} implementation")

    return setup


def _case(n, label):
    # No reference: torch's mask is its own RNG's; nervo's is checked bitwise by the tests.
    return Case(op="dropout_fwd_bwd", shape=label, setup=_make(n), reference=None, nbytes=n * 16,
                impls=("nervo-native", "nervo-numba", "torch"), quick=lambda: _case(4096, "4k"))


CASES = [_case(N, "6.4M")]
