"""nn.RNN / LSTM / GRU and their cells against their torch 2.13 twins with copied weights
(outputs, final states, input/state/parameter gradients) over layers, directions, batch_first,
initial states and variable lengths; float64 central differences; bad inputs."""
import numpy as np
import pytest

import nervo
from nervo import nn
from tests.checks import check_tensor

torch = pytest.importorskip("torch")
RTOL, ATOL = 2e-4, 2e-5


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _copy(tm, nm):
    assert list(tm.state_dict()) == list(nm.state_dict())
    nm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})


def _grads_match(tm, nm):
    tp = dict(tm.named_parameters())
    for k, p in nm.named_parameters():
        check_tensor(p.grad.numpy(), tp[k].grad.numpy(), 1e-3, 1e-4, f"grad of {k}")


CONFIGS = [
    dict(),
    dict(num_layers=2),
    dict(bidirectional=True),
    dict(num_layers=2, bidirectional=True, batch_first=True),
    dict(bias=False),
    dict(batch_first=True),
]


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN", "RNN-relu"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=[str(c) for c in CONFIGS])
@pytest.mark.parametrize("with_state", [False, True])
def test_twin(kind, cfg, with_state):
    I, H, T, B = 5, 6, 7, 3
    kw = dict(cfg)
    name = kind.split("-")[0]
    if kind == "RNN-relu":
        kw["nonlinearity"] = "relu"
    tm = getattr(torch.nn, name)(I, H, **kw)
    nm = getattr(nn, name)(I, H, **kw)
    _copy(tm, nm)
    D = 2 if kw.get("bidirectional") else 1
    L = kw.get("num_layers", 1)
    shape = (B, T, I) if kw.get("batch_first") else (T, B, I)
    x = _x(*shape)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    nx = nervo.tensor(x, requires_grad=True)
    targs, nargs = [], []
    if with_state:
        h0 = _x(L * D, B, H, seed=1)
        th0 = torch.from_numpy(h0.copy()).requires_grad_(True)
        nh0 = nervo.tensor(h0, requires_grad=True)
        if name == "LSTM":
            c0 = _x(L * D, B, H, seed=2)
            tc0 = torch.from_numpy(c0.copy()).requires_grad_(True)
            nc0 = nervo.tensor(c0, requires_grad=True)
            targs, nargs = [(th0, tc0)], [(nh0, nc0)]
        else:
            targs, nargs = [th0], [nh0]
    ty, tst = tm(tx, *targs)
    ny, nst = nm(nx, *nargs)
    check_tensor(ny.numpy(), ty.detach().numpy(), RTOL, ATOL, "output")
    tstates = tst if name == "LSTM" else (tst,)
    nstates = nst if name == "LSTM" else (nst,)
    loss_t = (ty * torch.from_numpy(_x(*ty.shape, seed=3))).sum()
    loss_n = (ny * nervo.from_numpy(_x(*ty.shape, seed=3))).sum()
    for i, (a, b) in enumerate(zip(tstates, nstates)):
        check_tensor(b.numpy(), a.detach().numpy(), RTOL, ATOL, f"state {i}")
        g = _x(*a.shape, seed=4 + i)
        loss_t = loss_t + (a * torch.from_numpy(g)).sum()
        loss_n = loss_n + (b * nervo.from_numpy(g)).sum()
    loss_t.backward()
    loss_n.backward()
    check_tensor(nx.grad.numpy(), tx.grad.numpy(), 1e-3, 1e-4, "input grad")
    if with_state:
        check_tensor(nargs[0][0].grad.numpy() if name == "LSTM" else nargs[0].grad.numpy(),
                     (targs[0][0] if name == "LSTM" else targs[0]).grad.numpy(), 1e-3, 1e-4, "h0 grad")
        if name == "LSTM":
            check_tensor(nargs[0][1].grad.numpy(), targs[0][1].grad.numpy(), 1e-3, 1e-4, "c0 grad")
    _grads_match(tm, nm)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_lengths_match_packed_sequences(kind, bidirectional):
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    I, H, T, B = 4, 5, 6, 4
    tm = getattr(torch.nn, kind)(I, H, num_layers=2, bidirectional=bidirectional, batch_first=True)
    nm = getattr(nn, kind)(I, H, num_layers=2, bidirectional=bidirectional, batch_first=True)
    _copy(tm, nm)
    x = _x(B, T, I)
    lengths = np.array([6, 2, 4, 1])
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    packed = pack_padded_sequence(tx, torch.from_numpy(lengths), batch_first=True, enforce_sorted=False)
    ty, tst = tm(packed)
    ty, _ = pad_packed_sequence(ty, batch_first=True, total_length=T)
    nx = nervo.tensor(x, requires_grad=True)
    ny, nst = nm(nx, lengths=lengths)
    check_tensor(ny.numpy(), ty.detach().numpy(), RTOL, ATOL, "padded output")
    th = tst[0] if kind == "LSTM" else tst
    nh = nst[0] if kind == "LSTM" else nst
    check_tensor(nh.numpy(), th.detach().numpy(), RTOL, ATOL, "h_n")
    g = _x(*ty.shape, seed=5)
    gh = _x(*th.shape, seed=6)
    ((ty * torch.from_numpy(g)).sum() + (th * torch.from_numpy(gh)).sum()).backward()
    ((ny * nervo.from_numpy(g)).sum() + (nh * nervo.from_numpy(gh)).sum()).backward()
    check_tensor(nx.grad.numpy(), tx.grad.numpy(), 1e-3, 1e-4, "input grad")
    _grads_match(tm, nm)
    # the same through a (batch, time) prefix mask
    mask = np.arange(T)[None, :] < lengths[:, None]
    ny2, _ = nm(nervo.tensor(x), mask=mask)
    check_tensor(ny2.numpy(), ny.numpy(), 0, 0, "mask == lengths")


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell"])
def test_cells_twin(kind):
    I, H, B = 5, 7, 3
    tm, nm = getattr(torch.nn, kind)(I, H), getattr(nn, kind)(I, H)
    _copy(tm, nm)
    x, h = _x(B, I), _x(B, H, seed=1)
    tx, th = (torch.from_numpy(a.copy()).requires_grad_(True) for a in (x, h))
    nx, nh = (nervo.tensor(a, requires_grad=True) for a in (x, h))
    if kind == "LSTMCell":
        c = _x(B, H, seed=2)
        tc, nc = torch.from_numpy(c.copy()).requires_grad_(True), nervo.tensor(c, requires_grad=True)
        th2, tc2 = tm(tx, (th, tc))
        nh2, nc2 = nm(nx, (nh, nc))
        check_tensor(nc2.numpy(), tc2.detach().numpy(), RTOL, ATOL, "c'")
        ((th2 * 2).sum() + (tc2 * 3).sum()).backward()
        ((nh2 * 2).sum() + (nc2 * 3).sum()).backward()
        check_tensor(nc.grad.numpy(), tc.grad.numpy(), 1e-3, 1e-4, "dc")
    else:
        th2, nh2 = tm(tx, th), nm(nx, nh)
        (th2 * 2).sum().backward()
        (nh2 * 2).sum().backward()
    check_tensor(nh2.numpy(), th2.detach().numpy(), RTOL, ATOL, "h'")
    check_tensor(nx.grad.numpy(), tx.grad.numpy(), 1e-3, 1e-4, "dx")
    check_tensor(nh.grad.numpy(), th.grad.numpy(), 1e-3, 1e-4, "dh")
    _grads_match(tm, nm)


def test_unbatched_and_default_state():
    tm, nm = torch.nn.GRU(3, 4, bidirectional=True), nn.GRU(3, 4, bidirectional=True)
    _copy(tm, nm)
    x = _x(5, 3)
    ty, th = tm(torch.from_numpy(x))
    ny, nh = nm(nervo.tensor(x))
    check_tensor(ny.numpy(), ty.detach().numpy(), RTOL, ATOL, "unbatched output")
    check_tensor(nh.numpy(), th.detach().numpy(), RTOL, ATOL, "unbatched h_n")


def test_dropout_between_layers_train_and_eval():
    nm = nn.LSTM(4, 5, num_layers=2, dropout=0.5)
    x = nervo.tensor(_x(6, 2, 4))
    nm.eval()
    a, _ = nm(x)
    b, _ = nm(x)
    check_tensor(a.numpy(), b.numpy(), 0, 0, "eval is deterministic")
    nm.train()
    nervo.manual_seed(0)
    c, _ = nm(x)
    nervo.manual_seed(0)
    d, _ = nm(x)
    check_tensor(c.numpy(), d.numpy(), 0, 0, "same seed, same dropout")
    assert not np.allclose(a.numpy(), c.numpy())


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_gradient_by_central_differences(kind):
    from tests.gradcheck import gradcheck
    nervo.manual_seed(0)
    m = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    h0 = np.random.default_rng(1).standard_normal((4, 2, 4))
    if kind == "LSTM":
        gradcheck(lambda a, b: m(a, (b, b * 0.5))[0], x, h0, what=kind)
    else:
        gradcheck(lambda a, b: m(a, b)[1], x, h0, what=kind)


PROJ_CONFIGS = [
    dict(),
    dict(num_layers=2, bidirectional=True),
    dict(num_layers=2, batch_first=True, bias=False),
]


@pytest.mark.parametrize("cfg", PROJ_CONFIGS, ids=[str(c) for c in PROJ_CONFIGS])
@pytest.mark.parametrize("with_state", [False, True])
def test_lstm_proj_size_twin(cfg, with_state):
    I, H, P, T, B = 5, 6, 3, 7, 3
    tm = torch.nn.LSTM(I, H, proj_size=P, **cfg)
    nm = nn.LSTM(I, H, proj_size=P, **cfg)
    _copy(tm, nm)
    for k, v in tm.state_dict().items():
        assert tuple(nm.state_dict()[k].shape) == tuple(v.shape), k
    D = 2 if cfg.get("bidirectional") else 1
    L = cfg.get("num_layers", 1)
    x = _x(*((B, T, I) if cfg.get("batch_first") else (T, B, I)))
    tx, nx = torch.from_numpy(x.copy()).requires_grad_(True), nervo.tensor(x, requires_grad=True)
    targs, nargs, leaves = [], [], []
    if with_state:
        h0, c0 = _x(L * D, B, P, seed=1), _x(L * D, B, H, seed=2)
        th0, tc0 = (torch.from_numpy(a.copy()).requires_grad_(True) for a in (h0, c0))
        nh0, nc0 = (nervo.tensor(a, requires_grad=True) for a in (h0, c0))
        targs, nargs, leaves = [(th0, tc0)], [(nh0, nc0)], [(th0, nh0), (tc0, nc0)]
    ty, (th, tc) = tm(tx, *targs)
    ny, (nh, nc) = nm(nx, *nargs)
    assert tuple(ny.shape) == tuple(ty.shape) and ty.shape[-1] == D * P
    check_tensor(ny.numpy(), ty.detach().numpy(), RTOL, ATOL, "output")
    check_tensor(nh.numpy(), th.detach().numpy(), RTOL, ATOL, "h_n")
    check_tensor(nc.numpy(), tc.detach().numpy(), RTOL, ATOL, "c_n")
    gy, gh, gc = _x(*ty.shape, seed=3), _x(*th.shape, seed=4), _x(*tc.shape, seed=5)
    ((ty * torch.from_numpy(gy)).sum() + (th * torch.from_numpy(gh)).sum()
     + (tc * torch.from_numpy(gc)).sum()).backward()
    ((ny * nervo.from_numpy(gy)).sum() + (nh * nervo.from_numpy(gh)).sum()
     + (nc * nervo.from_numpy(gc)).sum()).backward()
    check_tensor(nx.grad.numpy(), tx.grad.numpy(), 1e-3, 1e-4, "input grad")
    for t, n in leaves:
        check_tensor(n.grad.numpy(), t.grad.numpy(), 1e-3, 1e-4, "state grad")
    _grads_match(tm, nm)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_proj_size_lengths_match_packed_sequences(bidirectional):
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    I, H, P, T, B = 4, 5, 2, 6, 4
    tm = torch.nn.LSTM(I, H, proj_size=P, bidirectional=bidirectional, batch_first=True)
    nm = nn.LSTM(I, H, proj_size=P, bidirectional=bidirectional, batch_first=True)
    _copy(tm, nm)
    x = _x(B, T, I)
    lengths = np.array([6, 2, 4, 1])
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    packed = pack_padded_sequence(tx, torch.from_numpy(lengths), batch_first=True, enforce_sorted=False)
    ty, (th, _) = tm(packed)
    ty, _ = pad_packed_sequence(ty, batch_first=True, total_length=T)
    nx = nervo.tensor(x, requires_grad=True)
    ny, (nh, _) = nm(nx, lengths=lengths)
    check_tensor(ny.numpy(), ty.detach().numpy(), RTOL, ATOL, "padded output")
    check_tensor(nh.numpy(), th.detach().numpy(), RTOL, ATOL, "h_n")
    g, gh = _x(*ty.shape, seed=5), _x(*th.shape, seed=6)
    ((ty * torch.from_numpy(g)).sum() + (th * torch.from_numpy(gh)).sum()).backward()
    ((ny * nervo.from_numpy(g)).sum() + (nh * nervo.from_numpy(gh)).sum()).backward()
    check_tensor(nx.grad.numpy(), tx.grad.numpy(), 1e-3, 1e-4, "input grad")
    _grads_match(tm, nm)


def test_lstm_proj_size_gradient_by_central_differences():
    from tests.gradcheck import gradcheck
    nervo.manual_seed(0)
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    h0 = np.random.default_rng(1).standard_normal((4, 2, 2))
    c0 = np.random.default_rng(2).standard_normal((4, 2, 4))
    gradcheck(lambda a, b, c: m(a, (b, c))[0], x, h0, c0, what="LSTM proj_size")


def test_lstm_proj_size_no_grad_empty_and_frozen_input():
    m = nn.LSTM(3, 4, proj_size=2, num_layers=2)
    with nervo.no_grad():
        y, (h, c) = m(nervo.zeros(5, 2, 3))
    assert tuple(y.shape) == (5, 2, 2) and tuple(h.shape) == (2, 2, 2) and tuple(c.shape) == (2, 2, 4)
    assert y.grad_fn is None
    y, (h, c) = m(nervo.zeros(0, 2, 3))
    assert tuple(y.shape) == (0, 2, 2) and tuple(h.shape) == (2, 2, 2) and tuple(c.shape) == (2, 2, 4)
    x = nervo.tensor(_x(5, 2, 3))  # no input gradient wanted: only the weights get one
    y, _ = m(x)
    y.sum().backward()
    assert x.grad is None and m.weight_hr_l0.grad is not None and m.weight_ih_l0.grad is not None


def test_lstm_proj_size_bad_args():
    with pytest.raises(ValueError, match="smaller than hidden_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="only supported for LSTM"):
        nn.RNNBase("gru", 3, 4, proj_size=2)
    with pytest.raises(ValueError, match="non-negative"):
        nn.LSTM(3, 4, proj_size=-1)
    with pytest.raises(ValueError, match="h_0 has shape"):
        nn.LSTM(3, 4, proj_size=2)(nervo.zeros(5, 2, 3), (nervo.zeros(1, 2, 4), nervo.zeros(1, 2, 4)))
    assert "proj_size=2" in repr(nn.LSTM(3, 4, proj_size=2))


def test_state_dict_keys_and_repr():
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    t = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    assert list(m.state_dict()) == list(t.state_dict())
    for k, v in t.state_dict().items():
        assert tuple(m.state_dict()[k].shape) == tuple(v.shape), k
    assert "num_layers=2" in repr(m) and "bidirectional=True" in repr(m)


BAD = [
    ("wrong feature size", lambda m: m(nervo.zeros(5, 2, 4)), ValueError, "input_size=3"),
    ("wrong rank", lambda m: m(nervo.zeros(5, 2, 3, 1)), ValueError, "2-D"),
    ("h0 shape", lambda m: m(nervo.zeros(5, 2, 3), (nervo.zeros(1, 3, 4), nervo.zeros(1, 2, 4))),
     ValueError, "h_0 has shape"),
    ("hx not tuple", lambda m: m(nervo.zeros(5, 2, 3), nervo.zeros(1, 2, 4)), ValueError, "tuple"),
    ("lengths too long", lambda m: m(nervo.zeros(5, 2, 3), lengths=[6, 1]), ValueError, "lengths"),
    ("lengths count", lambda m: m(nervo.zeros(5, 2, 3), lengths=[1]), ValueError, "lengths"),
    ("mask not prefix", lambda m: m(nervo.zeros(5, 2, 3), mask=np.array([[1, 0, 1, 0, 0]] * 2, bool)),
     ValueError, "prefix"),
    ("mask shape", lambda m: m(nervo.zeros(5, 2, 3), mask=np.ones((5, 2), bool)), ValueError, "mask"),
]


@pytest.mark.parametrize("what,call,exc,msg", BAD, ids=[b[0] for b in BAD])
def test_bad_inputs(what, call, exc, msg):
    with pytest.raises(exc, match=msg):
        call(nn.LSTM(3, 4))


def test_bad_constructor_args():
    with pytest.raises(ValueError, match="hidden_size"):
        nn.GRU(3, 0)
    with pytest.raises(ValueError, match="num_layers"):
        nn.LSTM(3, 4, num_layers=0)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="dropout"):
        nn.LSTM(3, 4, dropout=1.5)
