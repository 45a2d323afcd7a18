"""Fused optimizer steps over one flat 10M-parameter float32 buffer: nervo vs torch.optim with
fused=True and with foreach=True (same hyperparameters, same thread count).

Bytes per step (each array 4 bytes per parameter): Adam/AdamW read p, g, m, v and write p, m, v
(28 bytes per parameter); SGD with momentum reads p, g, buf and writes p, buf (20 bytes)."""
import numpy as np

from nervo.bench import Case, Unavailable, nervo_backend, torch_module

N = 10_000_000
LR = 1e-3


def _make(kind, n):
    def data():
        rng = np.random.default_rng(0)
        return rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)

    def setup(impl):
        p0, g = data()
        if impl.startswith("nervo"):
            nervo_backend(impl)
            import nervo.ops as ops
            p = p0.copy()
            s1, s2 = np.zeros_like(p), np.zeros_like(p)
            step = [0]
            if kind == "sgd_momentum":
                def run():
                    ops.sgd_step(p, g, s1, lr=LR, momentum=0.9, first_step=step[0] == 0)
                    step[0] += 1
                    return p
                return run

            def run():
                step[0] += 1
                ops.adam_step(p, g, s1, s2, step=step[0], lr=LR,
                              weight_decay=0.01 if kind == "adamw" else 0.0, decoupled=kind == "adamw")
                return p
            return run
        if impl in ("torch-fused", "torch-foreach"):
            torch = torch_module()
            tp = torch.nn.Parameter(torch.from_numpy(p0.copy()))
            tp.grad = torch.from_numpy(g)
            flag = {"fused": True} if impl == "torch-fused" else {"foreach": True}
            if kind == "sgd_momentum":
                opt = torch.optim.SGD([tp], lr=LR, momentum=0.9, **flag)
            elif kind == "adamw":
                opt = torch.optim.AdamW([tp], lr=LR, weight_decay=0.01, **flag)
            else:
                opt = torch.optim.Adam([tp], lr=LR, **flag)

            def run():
                opt.step()
                return tp.detach()
            return run
        raise Unavailable(f"no {impl} implementation")

    def reference():
        from nervo.ops.reference import optim as ref
        p0, g = data()
        p64, g64 = p0.astype(np.float64), g.astype(np.float64)
        if kind == "sgd_momentum":
            return ref.sgd(p64, g64, None, LR, momentum=0.9)[0]
        z = np.zeros(n)
        return ref.adam(p64, g64, z, z, None, 1, lr=LR, weight_decay=0.01 if kind == "adamw" else 0.0,
                        decoupled=kind == "adamw")[0]

    return setup, reference


def _case(kind, n, label):
    setup, reference = _make(kind, n)
    nbytes = n * (20 if kind == "sgd_momentum" else 28)
    return Case(op=f"{kind}_step", shape=label, setup=setup, reference=reference, nbytes=nbytes,
                impls=("nervo-native", "nervo-numba", "torch-fused", "torch-foreach"),
                rtol=1e-5, atol=1e-6, quick=lambda: _case(kind, 4099, "4k"))


CASES = [_case(k, N, "10M") for k in ("adam", "adamw", "sgd_momentum")]
