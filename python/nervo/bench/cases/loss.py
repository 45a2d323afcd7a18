"""Cross-entropy forward+backward on (1024, 1000) float32 logits: nervo's fused call (loss and
gradient in one pass pair) vs torch's F.cross_entropy + backward. Bytes: logits read (twice,
the second from cache) and the gradient written: 8 bytes per element of DRAM traffic."""
import numpy as np

from nervo.bench import Case, Unavailable, nervo_backend, torch_module

R, C = 1024, 1000


def _make(r, c):
    def data():
        rng = np.random.default_rng(0)
        return (rng.standard_normal((r, c)) * 3).astype(np.float32), rng.integers(0, c, r)

    def setup(impl):
        x, t = data()
        if impl.startswith("nervo"):
            nervo_backend(impl)
            import nervo.ops as ops

            def run():
                return ops.cross_entropy(x, t, return_grad=True)
            return run
        if impl == "torch":
            torch = torch_module()
            F = torch.nn.functional
            tx = torch.from_numpy(x)
            tt = torch.from_numpy(t)

            def run():
                xr = tx.detach().requires_grad_(True)
                loss = F.cross_entropy(xr, tt)
                loss.backward()
                return loss.detach(), xr.grad
            return run
        raise Unavailable(f"no {impl} implementation")

    def reference():
        from nervo.ops.reference import loss as ref
        x, t = data()
        return ref.cross_entropy(x, t)

    return setup, reference


def _case(r, c):
    setup, reference = _make(r, c)
    return Case(op="cross_entropy_fwd_bwd", shape=f"({r},{c})", setup=setup, reference=reference,
                nbytes=r * c * 4 * 2, impls=("nervo-native", "nervo-numba", "torch"), rtol=1e-4,
                atol=1e-6, quick=lambda: _case(64, 100))


CASES = [_case(R, C)]
