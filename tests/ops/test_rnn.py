"""Recurrent kernels (nervo.ops.rnn_forward / rnn_backward): every backend and ISA level against the
NumPy reference, float64 central differences, torch 2.13 with copied weights, and bad inputs."""
import numpy as np
import pytest

import nervo.ops as ops
from nervo.ops.reference import rnn as ref
from tests.checks import check_tensor

MODES = ["lstm", "gru", "rnn_tanh", "rnn_relu"]
# (rtol, atol) per dtype: float32 accumulates T steps of H-long dot products.
TOL = {np.float32: (1e-4, 2e-5), np.float64: (1e-7, 1e-8)}


def _params(rng, mode, T, B, I, H, dtype, bias=True):
    G = ref.GATES[mode]
    s = 1 / np.sqrt(max(H, 1))
    w_ih = rng.uniform(-s, s, (G * H, I)).astype(dtype)
    w_hh = rng.uniform(-s, s, (G * H, H)).astype(dtype)
    b_ih = rng.uniform(-s, s, G * H).astype(dtype) if bias else None
    b_hh = rng.uniform(-s, s, G * H).astype(dtype) if bias else None
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0 = rng.standard_normal((B, H)).astype(dtype)
    c0 = rng.standard_normal((B, H)).astype(dtype) if mode == "lstm" else None
    return x, w_ih, w_hh, b_ih, b_hh, h0, c0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reverse", [False, True])
# Batch sizes 7, 13 and 32 give row tiles of mixed heights in the recurrent product (6 + 1 is
# split 4 + 3, 13 as 5 + 4 + 4, 32 as 6 6 5 5 5 5); H = 20 leaves partial column panels.
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (5, 3, 4, 7), (4, 2, 3, 17), (3, 9, 5, 33),
                                   (2, 7, 3, 20), (2, 13, 6, 9), (2, 32, 3, 20)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_reference(backend, rng, mode, reverse, shape, dtype):
    T, B, I, H = shape
    x, w_ih, w_hh, b_ih, b_hh, h0, c0 = _params(rng, mode, T, B, I, H, dtype)
    lengths = rng.integers(0, T + 1, B) if B > 1 else None
    r = ops.rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, mode=mode, lengths=lengths, reverse=reverse)
    f64 = [None if a is None else a.astype(np.float64) for a in (x, w_ih, w_hh, b_ih, b_hh, h0, c0)]
    hs, cs = ref.forward(mode, *f64, lengths=lengths, reverse=reverse)
    rtol, atol = TOL[dtype]
    check_tensor(r.hs, hs, rtol, atol, f"{mode} hs")
    if mode == "lstm":
        check_tensor(r.cs, cs, rtol, atol, f"{mode} cs")
    dhs = rng.standard_normal((T, B, H)).astype(dtype)
    dcn = rng.standard_normal((B, H)).astype(dtype) if mode == "lstm" else None
    g = ops.rnn_backward(dhs, x, w_ih, w_hh, b_ih, b_hh, r, dcn=dcn, mode=mode, lengths=lengths,
                         reverse=reverse)
    want = ref.backward(mode, dhs.astype(np.float64), *f64, lengths=lengths, reverse=reverse,
                        dcn=None if dcn is None else dcn.astype(np.float64))
    for name, got, w in zip(g._fields, g, want):
        if w is None:
            assert got is None, name
            continue
        check_tensor(got, w, rtol * 10, atol * 10, f"{mode} {name}")


@pytest.mark.parametrize("mode", MODES)
def test_no_bias_and_default_states(backend, rng, mode):
    x, w_ih, w_hh, *_ = _params(rng, mode, 4, 3, 5, 6, np.float32, bias=False)
    r = ops.rnn_forward(x, w_ih, w_hh, mode=mode)
    hs, _ = ref.forward(mode, x, w_ih, w_hh)
    check_tensor(r.hs, hs, 1e-4, 2e-5, mode)
    g = ops.rnn_backward(np.ones_like(r.hs), x, w_ih, w_hh, None, None, r, mode=mode)
    assert g.db_ih is None and g.db_hh is None
    g2 = ops.rnn_backward(np.ones_like(r.hs), x, w_ih, w_hh, None, None, r, mode=mode, need_dx=False)
    assert g2.dx is None
    check_tensor(g2.dw_ih, g.dw_ih, 0, 0, "dw_ih without dx")
    check_tensor(g2.dh0, g.dh0, 0, 0, "dh0 without dx")


@pytest.mark.parametrize("T,B,I,H", [(0, 3, 4, 5), (4, 0, 4, 5), (4, 3, 0, 5), (4, 3, 4, 0)])
@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_empty_sizes(backend, rng, mode, T, B, I, H):
    x, w_ih, w_hh, b_ih, b_hh, h0, c0 = _params(rng, mode, T, B, I, H, np.float32)
    r = ops.rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, mode=mode)
    assert r.hs.shape == (T, B, H)
    dhs = np.zeros((T, B, H), np.float32)
    g = ops.rnn_backward(dhs, x, w_ih, w_hh, b_ih, b_hh, r, mode=mode)
    assert g.dx.shape == x.shape
    for a in (g.dw_ih, g.dw_hh, g.db_ih, g.db_hh):
        assert np.all(a == 0)  # no steps or no batch rows: zero weight gradients, not garbage
    if T == 0:
        check_tensor(g.dh0, np.zeros((B, H)), 0, 0, "dh0 of an empty sequence")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reverse", [False, True])
def test_gradient_by_central_differences(backend, rng, mode, reverse):
    T, B, I, H = 3, 2, 3, 4
    args = list(_params(rng, mode, T, B, I, H, np.float64))
    if mode == "rnn_relu":
        args[1] = np.abs(args[1])  # keep pre-activations away from the kink
        args[0] = np.abs(args[0])
    lengths = np.array([3, 2])
    dhs = rng.standard_normal((T, B, H))
    dcn = rng.standard_normal((B, H)) if mode == "lstm" else None

    def loss(a):
        r = ops.rnn_forward(*a, mode=mode, lengths=lengths, reverse=reverse)
        v = np.sum(r.hs * dhs)
        last = 0 if reverse else T - 1
        return v + (np.sum(r.cs[last] * dcn) if mode == "lstm" else 0.0)

    r = ops.rnn_forward(*args, mode=mode, lengths=lengths, reverse=reverse)
    g = ops.rnn_backward(dhs, *args[:5], r, dcn=dcn, mode=mode, lengths=lengths, reverse=reverse)
    grads = {0: g.dx, 1: g.dw_ih, 2: g.dw_hh, 3: g.db_ih, 4: g.db_hh, 5: g.dh0, 6: g.dc0}
    eps = 1e-6
    for idx, got in grads.items():
        if got is None:
            continue
        num = np.zeros_like(args[idx])
        for pos in np.ndindex(args[idx].shape):
            a_p = [a.copy() if a is not None else None for a in args]
            a_m = [a.copy() if a is not None else None for a in args]
            a_p[idx][pos] += eps
            a_m[idx][pos] -= eps
            num[pos] = (loss(a_p) - loss(a_m)) / (2 * eps)
        check_tensor(got, num, 1e-3, 1e-5, f"{mode} gradcheck arg {idx}")


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_matches_torch(backend, rng, mode):
    torch = pytest.importorskip("torch")
    T, B, I, H = 6, 4, 5, 8
    x, w_ih, w_hh, b_ih, b_hh, h0, c0 = _params(rng, mode, T, B, I, H, np.float32)
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn_tanh": torch.nn.RNN}[mode]
    m = cls(I, H)
    with torch.no_grad():
        for name, a in (("weight_ih_l0", w_ih), ("weight_hh_l0", w_hh), ("bias_ih_l0", b_ih),
                        ("bias_hh_l0", b_hh)):
            getattr(m, name).copy_(torch.from_numpy(a))
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    th0 = torch.from_numpy(h0[None].copy()).requires_grad_(True)
    if mode == "lstm":
        tc0 = torch.from_numpy(c0[None].copy()).requires_grad_(True)
        ty, (thn, tcn) = m(tx, (th0, tc0))
    else:
        ty, thn = m(tx, th0)
    dy = rng.standard_normal(ty.shape).astype(np.float32)
    dhn = rng.standard_normal((B, H)).astype(np.float32)
    loss = (ty * torch.from_numpy(dy)).sum() + (thn[0] * torch.from_numpy(dhn)).sum()
    dcn = None
    if mode == "lstm":
        dcn = rng.standard_normal((B, H)).astype(np.float32)
        loss = loss + (tcn[0] * torch.from_numpy(dcn)).sum()
    loss.backward()
    r = ops.rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, mode=mode)
    check_tensor(r.hs, ty.detach().numpy(), 1e-4, 1e-5, f"{mode} vs torch output")
    dhs = dy.copy()
    dhs[-1] += dhn
    g = ops.rnn_backward(dhs, x, w_ih, w_hh, b_ih, b_hh, r, dcn=dcn, mode=mode)
    check_tensor(g.dx, tx.grad.numpy(), 1e-3, 1e-5, "dx vs torch")
    check_tensor(g.dh0, th0.grad.numpy()[0], 1e-3, 1e-5, "dh0 vs torch")
    check_tensor(g.dw_ih, m.weight_ih_l0.grad.numpy(), 1e-3, 1e-4, "dw_ih vs torch")
    check_tensor(g.dw_hh, m.weight_hh_l0.grad.numpy(), 1e-3, 1e-4, "dw_hh vs torch")
    check_tensor(g.db_ih, m.bias_ih_l0.grad.numpy(), 1e-3, 1e-4, "db_ih vs torch")
    check_tensor(g.db_hh, m.bias_hh_l0.grad.numpy(), 1e-3, 1e-4, "db_hh vs torch")


def test_lengths_match_torch_packed(backend, rng):
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    T, B, I, H = 7, 4, 3, 5
    x, w_ih, w_hh, b_ih, b_hh, h0, c0 = _params(rng, "gru", T, B, I, H, np.float32)
    lengths = np.array([7, 5, 2, 1])
    m = torch.nn.GRU(I, H)
    with torch.no_grad():
        for name, a in (("weight_ih_l0", w_ih), ("weight_hh_l0", w_hh), ("bias_ih_l0", b_ih),
                        ("bias_hh_l0", b_hh)):
            getattr(m, name).copy_(torch.from_numpy(a))
    packed = pack_padded_sequence(torch.from_numpy(x), torch.from_numpy(lengths), enforce_sorted=False)
    ty, thn = m(packed, torch.from_numpy(h0[None]))
    ty, _ = pad_packed_sequence(ty, total_length=T)
    r = ops.rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, mode="gru", lengths=lengths)
    valid = (np.arange(T)[:, None] < lengths[None, :])[..., None]
    check_tensor(np.where(valid, r.hs, 0), ty.detach().numpy(), 1e-4, 1e-5, "padded outputs")
    check_tensor(r.hs[-1], thn.detach().numpy()[0], 1e-4, 1e-5, "h_n of packed batch")


def test_native_and_numba_agree(rng):
    from nervo import backend as B
    if set(B.available_backends()) != {"native", "numba"}:
        pytest.skip("needs both backends")
    args = _params(rng, "lstm", 5, 3, 4, 9, np.float32)
    out = {}
    prev = B.backend()
    try:
        for name in ("native", "numba"):
            B.set_backend(name)
            r = ops.rnn_forward(*args, mode="lstm")
            out[name] = (r.hs, ops.rnn_backward(np.ones_like(r.hs), *args[:5], r, mode="lstm").dw_hh)
    finally:
        B.set_backend(prev)
    check_tensor(out["native"][0], out["numba"][0], 1e-5, 1e-6, "hs native vs numba")
    check_tensor(out["native"][1], out["numba"][1], 1e-4, 1e-5, "dw_hh native vs numba")


# Bad inputs (shared/RELIABILITY.md): one table, each -> the exception type and a message fragment.
def _bad_cases():
    r = np.random.default_rng(0)
    x, w_ih, w_hh, b_ih, b_hh, h0, c0 = _params(r, "lstm", 3, 2, 4, 5, np.float32)
    ok = dict(x=x, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh, h0=h0, c0=c0)
    return [
        ("x 2-D", dict(ok, x=x[0]), {}, ValueError, "3-D"),
        ("wrong feature size", dict(ok, x=np.zeros((3, 2, 6), np.float32)), {}, ValueError, "input_size 6"),
        ("w_hh not 4H x H", dict(ok, w_hh=np.zeros((12, 5), np.float32)), {}, ValueError, "w_hh"),
        ("h0 wrong shape", dict(ok, h0=np.zeros((3, 5), np.float32)), {}, ValueError, "h0 has shape"),
        ("c0 wrong shape", dict(ok, c0=np.zeros((2, 4), np.float32)), {}, ValueError, "c0 has shape"),
        ("bias wrong", dict(ok, b_ih=np.zeros(7, np.float32)), {}, ValueError, "b_ih"),
        ("one bias", dict(ok, b_hh=None), {}, ValueError, "both"),
        ("int x", dict(ok, x=np.zeros((3, 2, 4), np.int32)), {}, TypeError, "float32 or float64"),
        ("mixed dtype", dict(ok, w_ih=w_ih.astype(np.float64)), {}, TypeError, "dtype"),
        ("float16", dict(ok, x=x.astype(np.float16)), {}, TypeError, "float32"),
        ("list", dict(ok, x=x.tolist()), {}, TypeError, "numpy.ndarray"),
        ("lengths too long", ok, dict(lengths=[4, 1]), ValueError, "lengths"),
        ("lengths negative", ok, dict(lengths=[-1, 1]), ValueError, "lengths"),
        ("lengths shape", ok, dict(lengths=[1, 1, 1]), ValueError, "lengths"),
        ("mode", ok, dict(mode="lstm2"), ValueError, "mode"),
    ]


@pytest.mark.parametrize("what,args,kw,exc,msg", _bad_cases(), ids=[c[0] for c in _bad_cases()])
def test_bad_inputs(backend, what, args, kw, exc, msg):
    kw = {"mode": "lstm", **kw}
    with pytest.raises(exc, match=msg):
        ops.rnn_forward(args["x"], args["w_ih"], args["w_hh"], args["b_ih"], args["b_hh"],
                        args["h0"], args["c0"], **kw)


def test_strided_inputs_same_result(backend, rng):
    x, w_ih, w_hh, b_ih, b_hh, h0, c0 = _params(rng, "gru", 4, 3, 5, 6, np.float32)
    base = ops.rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, mode="gru").hs
    xs = np.asfortranarray(x)
    wi = np.ascontiguousarray(w_ih.T).T
    got = ops.rnn_forward(xs, wi, w_hh[::1], b_ih, b_hh, h0, mode="gru").hs
    check_tensor(got, base, 0, 0, "strided layouts")


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_extreme_preactivations(backend, mode):
    # gates saturate at +-1e30 and +-inf (no inf - inf, no NaN), a NaN input poisons its own row
    # only, and finite large values match the float64 reference
    G = {"lstm": 4, "gru": 3, "rnn_tanh": 1}[mode]
    T, B, I, H = 3, 4, 2, 11
    x = np.zeros((T, B, I), np.float32)
    x[0, 0, 0] = np.nan
    x[1, 1, 0], x[2, 1, 1] = np.inf, -np.inf
    x[:, 2, 0] = [1e30, -1e30, 88.5]
    x[:, 3, :] = np.linspace(-90, 90, T * I).reshape(T, I)
    w_ih = np.ones((G * H, I), np.float32)
    w_hh = np.random.default_rng(0).uniform(-0.3, 0.3, (G * H, H)).astype(np.float32)
    r = ops.rnn_forward(x, w_ih, w_hh, mode=mode)
    assert np.isnan(r.hs[:, 0]).all()
    assert np.isfinite(r.hs[:, 1:]).all()
    with np.errstate(over="ignore"):  # the reference's exp(-x) at x = -1e30 is inf: sigmoid 0
        hs, _ = ref.forward(mode, x[:, 2:].astype(np.float64), w_ih.astype(np.float64),
                            w_hh.astype(np.float64), None, None, None, None)
    check_tensor(r.hs[:, 2:], hs, 1e-5, 1e-6, f"{mode} saturated gates")
