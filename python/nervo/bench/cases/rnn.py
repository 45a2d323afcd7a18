"""Recurrent layers forward+backward (one layer, whole sequence), nervo vs torch (same weights).

nervo-*: nervo.ops.rnn_forward + rnn_backward (the fused kernels the nn.LSTM/GRU layers call);
torch: nn.LSTM / nn.GRU forward + backward of sum(y * dy). Shapes from issue 8:
LSTM 128->256, batch 32, 64 steps; GRU 28->128, batch 128, 28 steps.
FLOPs: forward 2*T*B*G*H*(I+H), backward twice that (dx, dw_ih, dw_hh, dh).
"""
import numpy as np

from nervo.bench import Case, Unavailable, nervo_backend, torch_module

GATES = {"lstm": 4, "gru": 3}


def _make(mode, T, B, I, H):
    G = GATES[mode]

    def data():
        rng = np.random.default_rng(0)
        s = 1 / np.sqrt(H)
        f = np.float32
        return (rng.standard_normal((T, B, I)).astype(f), rng.uniform(-s, s, (G * H, I)).astype(f),
                rng.uniform(-s, s, (G * H, H)).astype(f), rng.uniform(-s, s, G * H).astype(f),
                rng.uniform(-s, s, G * H).astype(f), rng.standard_normal((T, B, H)).astype(f))

    def setup(impl):
        x, w_ih, w_hh, b_ih, b_hh, dy = data()
        if impl.startswith("nervo"):
            nervo_backend(impl)
            import nervo.ops as ops

            def run():
                r = ops.rnn_forward(x, w_ih, w_hh, b_ih, b_hh, mode=mode)
                g = ops.rnn_backward(dy, x, w_ih, w_hh, b_ih, b_hh, r, mode=mode)
                return r.hs, g.dx, g.dw_hh
            return run
        if impl == "torch":
            torch = torch_module()
            m = (torch.nn.LSTM if mode == "lstm" else torch.nn.GRU)(I, H)
            with torch.no_grad():
                for name, a in (("weight_ih_l0", w_ih), ("weight_hh_l0", w_hh),
                                ("bias_ih_l0", b_ih), ("bias_hh_l0", b_hh)):
                    getattr(m, name).copy_(torch.from_numpy(a))
            tx = torch.from_numpy(x)
            tdy = torch.from_numpy(dy)

            def run():
                m.zero_grad(set_to_none=True)
                xr = tx.detach().requires_grad_(True)
                y, _ = m(xr)
                y.backward(tdy)
                return y.detach(), xr.grad, m.weight_hh_l0.grad
            return run
        raise Unavailable(f"no {impl} implementation of {mode}")

    def reference():
        from nervo.ops.reference import rnn as ref
        x, w_ih, w_hh, b_ih, b_hh, dy = data()
        hs, _ = ref.forward(mode, x, w_ih, w_hh, b_ih, b_hh)
        g = ref.backward(mode, dy, x, w_ih, w_hh, b_ih, b_hh)
        return hs, g[0], g[2]

    return setup, reference


def _case(mode, T, B, I, H, label):
    setup, reference = _make(mode, T, B, I, H)
    G = GATES[mode]
    flops = 3 * 2.0 * T * B * G * H * (I + H)
    return Case(op=f"{mode}_fwd_bwd", shape=label, setup=setup, reference=reference, flops=flops,
                rtol=2e-3, atol=2e-4, impls=("nervo-native", "nervo-numba", "torch"),
                quick=lambda: _case(mode, 4, 3, 5, 8, "tiny"))


CASES = [
    _case("lstm", 64, 32, 128, 256, "I128-H256-B32-T64"),
    _case("gru", 28, 128, 28, 128, "I28-H128-B128-T28"),
]
