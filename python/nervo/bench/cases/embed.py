"""Embedding backward (scatter-add of 32k rows of 256 floats into a 50k x 256 gradient) and
forward gather: nervo vs torch (F.embedding's dense backward). Bytes: backward writes the whole
(50k, 256) gradient (zeroing) and reads + read-modify-writes 32k rows; forward reads 32k rows and
writes them."""
import numpy as np

from nervo.bench import Case, Unavailable, nervo_backend, torch_module

V, D, NIDX = 50_000, 256, 32_768


def _make(v, d, n, backward):
    def data():
        rng = np.random.default_rng(0)
        return (rng.standard_normal((v, d)).astype(np.float32), rng.integers(0, v, n),
                rng.standard_normal((n, d)).astype(np.float32))

    def setup(impl):
        w, idx, dout = data()
        if impl.startswith("nervo"):
            nervo_backend(impl)
            import nervo.ops as ops
            out = np.empty((v, d) if backward else (n, d), np.float32)
            if backward:
                return lambda: ops.embedding_backward(dout, idx, v, out=out)
            return lambda: ops.embedding(w, idx, out=out)
        if impl == "torch":
            torch = torch_module()
            tidx, tdout = torch.from_numpy(idx), torch.from_numpy(dout)
            tw = torch.from_numpy(w)
            if backward:
                def run():
                    return torch.ops.aten.embedding_dense_backward(tdout, tidx, v, -1, False)
                return run
            return lambda: torch.nn.functional.embedding(tidx, tw)
        raise Unavailable(f"no {impl} implementation")

    def reference():
        from nervo.ops.reference import embed as ref
        w, idx, dout = data()
        return ref.embedding_backward(dout, idx, v) if backward else ref.embedding(w, idx)

    return setup, reference


def _case(v, d, n, backward, label):
    setup, reference = _make(v, d, n, backward)
    nbytes = (v * d * 4 + 3 * n * d * 4) if backward else 2 * n * d * 4
    return Case(op="embedding_bwd" if backward else "embedding_fwd", shape=label, setup=setup,
                reference=reference, nbytes=nbytes, impls=("nervo-native", "nervo-numba", "torch"),
                rtol=1e-5, atol=1e-5, quick=lambda: _case(1000, 32, 500, backward, "1kx32,500"))


CASES = [_case(V, D, NIDX, True, "50kx256,32k"), _case(V, D, NIDX, False, "50kx256,32k")]
