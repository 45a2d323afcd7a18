"""Fused scaled-dot-product attention forward+backward, nervo vs torch
(F.scaled_dot_product_attention). Shape of issue 8's MultiheadAttention benchmark: batch 32,
8 heads, length 128, head dim 32 (d=256). FLOPs: forward 4*B*N*L*S*E, backward 2.5x that."""
import numpy as np

from nervo.bench import Case, Unavailable, nervo_backend, torch_module


def _make(B, N, L, E, causal):
    def data():
        rng = np.random.default_rng(0)
        f = np.float32
        return tuple(rng.standard_normal((B, N, L, E)).astype(f) for _ in range(4))

    def setup(impl):
        q, k, v, dout = data()
        if impl.startswith("nervo"):
            nervo_backend(impl)
            import nervo.ops as ops

            def run():
                out, lse = ops.scaled_dot_product_attention(q, k, v, is_causal=causal, return_lse=True)
                dq, dk, dv = ops.scaled_dot_product_attention_backward(dout, q, k, v, out, lse,
                                                                       is_causal=causal)
                return out, dq, dk, dv
            return run
        if impl == "torch":
            torch = torch_module()
            F = torch.nn.functional
            tq, tk, tv, tdo = (torch.from_numpy(a) for a in (q, k, v, dout))

            def run():
                a, b, c = (t.detach().requires_grad_(True) for t in (tq, tk, tv))
                o = F.scaled_dot_product_attention(a, b, c, is_causal=causal)
                o.backward(tdo)
                return o.detach(), a.grad, b.grad, c.grad
            return run
        raise Unavailable(f"no {impl} implementation of attention")

    def reference():
        from nervo.ops.reference import attn as ref
        q, k, v, dout = data()
        return (ref.forward(q, k, v, None, causal),) + ref.backward(dout, q, k, v, None, causal)

    return setup, reference


def _case(B, N, L, E, causal, label):
    setup, reference = _make(B, N, L, E, causal)
    return Case(op="sdpa_causal_fwd_bwd" if causal else "sdpa_fwd_bwd", shape=label, setup=setup,
                reference=reference, flops=3.5 * 4.0 * B * N * L * L * E, rtol=1e-3, atol=1e-4,
                impls=("nervo-native", "nervo-numba", "torch"),
                quick=lambda: _case(1, 2, 9, 4, causal, "tiny"))


CASES = [
    _case(32, 8, 128, 32, False, "B32-h8-L128-E32"),
    _case(32, 8, 128, 32, True, "B32-h8-L128-E32"),
]
