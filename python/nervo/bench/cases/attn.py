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


# ---------------------------------------------------------------- layers (nn), issue 8's shapes
def _make_layer(kind, B, L, d, h, ff):
    """nn.MultiheadAttention (self-attention, need_weights=False) or nn.TransformerEncoderLayer
    (post-norm, relu, dropout 0), batch_first, forward + backward of sum(out * g); torch's twin
    gets the same weights (copied through state_dict)."""

    def data():
        rng = np.random.default_rng(0)
        return (rng.standard_normal((B, L, d)).astype(np.float32),
                rng.standard_normal((B, L, d)).astype(np.float32))

    def torch_model(torch):
        torch.manual_seed(0)
        if kind == "mha":
            return torch.nn.MultiheadAttention(d, h, batch_first=True)
        return torch.nn.TransformerEncoderLayer(d, h, ff, dropout=0.0, batch_first=True)

    def nervo_model(dtype=np.float32):
        import nervo
        from nervo import nn
        torch = torch_module()
        tm = torch_model(torch)
        nm = (nn.MultiheadAttention(d, h, batch_first=True, dtype=dtype) if kind == "mha" else
              nn.TransformerEncoderLayer(d, h, ff, dropout=0.0, batch_first=True, dtype=dtype))
        nm.load_state_dict({k: v.detach().numpy().astype(dtype) for k, v in tm.state_dict().items()})
        return nervo, nm

    def run_nervo(nervo, nm, x, g):
        xt = nervo.tensor(x, requires_grad=True)
        out = nm(xt, xt, xt, need_weights=False)[0] if kind == "mha" else nm(xt)
        out.backward(nervo.from_numpy(g))
        return out.numpy(), xt.grad.numpy()

    def setup(impl):
        x, g = data()
        if impl.startswith("nervo"):
            nervo_backend(impl)
            nervo, nm = nervo_model()
            return lambda: run_nervo(nervo, nm, x, g)
        if impl == "torch":
            torch = torch_module()
            tm = torch_model(torch)
            tx, tg = torch.from_numpy(x), torch.from_numpy(g)

            def run():
                xr = tx.detach().requires_grad_(True)
                out = tm(xr, xr, xr, need_weights=False)[0] if kind == "mha" else tm(xr)
                out.backward(tg)
                return out.detach(), xr.grad
            return run
        raise Unavailable(f"no {impl} implementation of {kind}")

    def reference():
        x, g = data()
        nervo, nm = nervo_model(np.float64)
        return run_nervo(nervo, nm, x.astype(np.float64), g.astype(np.float64))

    return setup, reference


def _layer_case(kind, B, L, d, h, ff, label):
    setup, reference = _make_layer(kind, B, L, d, h, ff)
    proj = 4 * 2.0 * B * L * d * d + (2 * 2.0 * B * L * d * ff if kind == "encoder_layer" else 0)
    flops = 3 * proj + 3.5 * 4.0 * B * L * L * d
    return Case(op=f"{kind}_fwd_bwd", shape=label, setup=setup, reference=reference, flops=flops,
                rtol=2e-3, atol=2e-4, impls=("nervo-native", "torch"),
                quick=lambda: _layer_case(kind, 2, 5, 16, 2, 32, "tiny"))


CASES += [
    _layer_case("mha", 32, 128, 256, 8, 1024, "d256-h8-B32-T128"),
    _layer_case("encoder_layer", 32, 128, 256, 8, 1024, "d256-h8-ff1024-B32-T128"),
]
