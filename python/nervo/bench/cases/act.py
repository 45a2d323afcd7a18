"""Activation forward+backward on 6.4M float32 elements (bandwidth-bound: 4 arrays touched per
element in forward+backward, 16 bytes per element for fwd+bwd with saved input)."""
import numpy as np

from nervo.bench import Case, nervo_backend, torch_module

N = 6_400_000
_OPS = ["relu", "gelu", "silu", "sigmoid", "tanh"]


def _make(name, n):
    def data():
        rng = np.random.default_rng(0)
        return rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)

    def setup(impl):
        x, dy = data()
        if impl.startswith("nervo"):
            nervo_backend(impl)
            import nervo.ops as ops
            fwd, bwd = getattr(ops, name), getattr(ops, name + "_backward")
            saves_y = name in ("relu", "sigmoid", "tanh")
            y = np.empty_like(x)
            dx = np.empty_like(x)

            def run():
                fwd(x, out=y)
                bwd(dy, y if saves_y else x, out=dx)
                return y, dx
            return run
        if impl == "torch":
            torch = torch_module()
            F = torch.nn.functional
            fn = {"relu": torch.relu, "gelu": F.gelu, "silu": F.silu, "sigmoid": torch.sigmoid,
                  "tanh": torch.tanh}[name]
            tx = torch.from_numpy(x)
            tdy = torch.from_numpy(dy)

            def run():
                xr = tx.detach().requires_grad_(True)
                yy = fn(xr)
                yy.backward(tdy)
                return yy.detach(), xr.grad
            return run
        if impl == "numpy" and name == "relu":
            def run():
                y = np.maximum(x, 0)
                return y, np.where(y > 0, dy, 0).astype(np.float32)
            return run
        from nervo.bench import Unavailable
        raise Unavailable(f"no {impl} implementation of {name}")

    def reference():
        from nervo.ops.reference import act as ref
        x, dy = data()
        y = ref.forward(name, x)
        return y, ref.backward(name, dy, y if name in ("relu", "sigmoid", "tanh") else x)

    return setup, reference


def _case(name, n, label):
    setup, reference = _make(name, n)
    return Case(op=f"{name}_fwd_bwd", shape=label, setup=setup, reference=reference,
                nbytes=n * 4 * 5, rtol=1e-4, atol=1e-5,
                impls=("nervo-native", "nervo-numba", "torch") + (("numpy",) if name == "relu" else ()),
                quick=lambda: _case(name, 4096, "4k"))


CASES = [_case(name, N, "6.4M") for name in _OPS]
