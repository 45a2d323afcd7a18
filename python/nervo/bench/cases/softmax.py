"""softmax forward+backward along the last axis of (1024, 1000) float32 (attention-/classifier-
sized rows): nervo vs torch. Bytes: x read, y written, dy read, dx written (16 per element)."""
import numpy as np

from nervo.bench import Case, Unavailable, nervo_backend, torch_module


def _make(r, c, log):
    name = "log_softmax" if log else "softmax"

    def data():
        rng = np.random.default_rng(0)
        return (rng.standard_normal((r, c)) * 3).astype(np.float32), rng.standard_normal((r, c)).astype(np.float32)

    def setup(impl):
        x, dy = data()
        if impl.startswith("nervo"):
            nervo_backend(impl)
            import nervo.ops as ops
            fwd, bwd = getattr(ops, name), getattr(ops, name + "_backward")
            y, dx = np.empty_like(x), np.empty_like(x)

            def run():
                fwd(x, out=y)
                bwd(dy, y, out=dx)
                return y, dx
            return run
        if impl == "torch":
            torch = torch_module()
            fn = torch.log_softmax if log else torch.softmax
            tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)

            def run():
                xr = tx.detach().requires_grad_(True)
                yy = fn(xr, 1)
                yy.backward(tdy)
                return yy.detach(), xr.grad
            return run
        raise Unavailable(f"no {impl} implementation")

    def reference():
        from nervo.ops.reference import softmax as ref
        x, dy = data()
        y = ref.softmax(x, 1, log)
        return y, ref.softmax_backward(dy, y, 1, log)

    return setup, reference


def _case(r, c, log):
    setup, reference = _make(r, c, log)
    return Case(op=("log_softmax" if log else "softmax") + "_fwd_bwd", shape=f"({r},{c})", setup=setup,
                reference=reference, nbytes=r * c * 16, impls=("nervo-native", "nervo-numba", "torch"),
                rtol=1e-4, atol=1e-5, quick=lambda: _case(16, 100, log))


CASES = [_case(1024, 1000, False), _case(1024, 1000, True)]
