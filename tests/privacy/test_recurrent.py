"""Per-sample gradients of the recurrent layers (RNN / LSTM / GRU and their cells) against a loop
over single samples with ordinary autograd (float64), for every configuration; DP training of an
LSTM sequence classifier."""
import itertools

import numpy as np
import pytest

pytest.importorskip("nervo.nn", reason="nervo.nn (autograd and layers) not built yet")

import nervo  # noqa: E402
from nervo import nn, optim  # noqa: E402
from nervo.privacy import make_private, per_sample_gradients  # noqa: E402
from nervo.privacy.grad_sample import gate_grads  # noqa: E402

N, T, I, H = 4, 5, 3, 4


def _f64(model):
    for p in model.parameters():
        p.data = p.numpy().astype(np.float64)
    return model


class Seq(nn.Module):
    """A recurrent layer whose every output enters the loss: the output sequence, h_n and (LSTM)
    c_n, each through fixed random weights."""

    def __init__(self, layer, lstm, batch_first, lengths=None):
        super().__init__()
        self.layer, self.lstm, self.batch_first, self.lengths = layer, lstm, batch_first, lengths

    def forward(self, x, w_out, w_h, w_c, idx):
        kw = {} if self.lengths is None else {"lengths": self.lengths[idx]}
        out, state = self.layer(x, **kw)
        h, c = state if self.lstm else (state, None)
        # h_n, c_n are (layers*D, N, H): put the batch first for the per-sample weights.
        loss = (out * w_out).sum() + (h.transpose(0, 1) * w_h).sum()
        if c is not None:
            loss = loss + (c.transpose(0, 1) * w_c).sum()
        return loss


def _check(model, x, extra, batch_axis=0):
    """Per-sample gradients of sum_n loss_n vs grads of each loss_n alone."""
    params = [p for p in model.parameters() if p.requires_grad]
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    n = x.shape[batch_axis]
    want = {k: [] for k in names}
    for i in range(n):
        xi = np.take(x, [i], axis=batch_axis)
        loss = model(nervo.tensor(xi), *[nervo.tensor(e[i:i + 1]) for e in extra], np.array([i]))
        gs = nervo.grad(loss, params, allow_unused=True, materialize_grads=True)
        for k, g in zip(names, gs):
            want[k].append(g.numpy().copy())
    psg = per_sample_gradients(model)
    try:
        model(nervo.tensor(x), *[nervo.tensor(e) for e in extra], np.arange(n)).backward()
        got = psg.materialize()
        assert set(got) == set(names)
        for k in names:
            np.testing.assert_allclose(got[k], np.stack(want[k]), rtol=1e-7, atol=1e-10, err_msg=k)
        norms = np.sqrt(sum((np.stack(v).reshape(n, -1) ** 2).sum(1) for v in want.values()))
        np.testing.assert_allclose(psg.norms(), norms, rtol=1e-7)
    finally:
        psg.remove()


CONFIGS = list(itertools.product(["lstm", "gru", "rnn_tanh", "rnn_relu"],
                                 [1, 2],            # num_layers
                                 [False, True],     # bidirectional
                                 [False, True],     # batch_first
                                 [True, False]))    # bias


def _layer(mode, layers, bidir, batch_first, bias):
    kw = dict(num_layers=layers, bidirectional=bidir, batch_first=batch_first, bias=bias)
    if mode == "lstm":
        return nn.LSTM(I, H, **kw)
    if mode == "gru":
        return nn.GRU(I, H, **kw)
    return nn.RNN(I, H, nonlinearity=mode[4:], **kw)


@pytest.mark.parametrize("mode,layers,bidir,batch_first,bias", CONFIGS,
                         ids=["-".join(map(str, c)) for c in CONFIGS])
def test_recurrent_layer_per_sample_gradients_equal_the_loop(mode, layers, bidir, batch_first, bias):
    rng = np.random.default_rng(hash((mode, layers, bidir, batch_first, bias)) % 2**32)
    nervo.manual_seed(3)
    layer = _f64(_layer(mode, layers, bidir, batch_first, bias))
    model = Seq(layer, mode == "lstm", batch_first)
    D = 2 if bidir else 1
    x = rng.standard_normal((N, T, I) if batch_first else (T, N, I))
    w_out = rng.standard_normal((N, T, D * H) if batch_first else (T, N, D * H))
    w_h = rng.standard_normal((N, layers * D, H))
    w_c = rng.standard_normal((N, layers * D, H))
    if batch_first:
        _check(model, x, (w_out, w_h, w_c), batch_axis=0)
    else:
        # time-major: the per-sample slices of x and w_out are along axis 1.
        class TM(nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, xb, wo, wh, wc, idx):   # batch-first in, time-major to the layer
                return self.inner(xb.transpose(0, 1), wo.transpose(0, 1), wh, wc, idx)

        _check(TM(model), x.transpose(1, 0, 2).copy(),
               (w_out.transpose(1, 0, 2).copy(), w_h, w_c))


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_variable_lengths(mode):
    rng = np.random.default_rng(7)
    nervo.manual_seed(7)
    lengths = np.array([5, 2, 0, 4], np.int64)
    layer = _f64(_layer(mode, 2, True, True, True))
    model = Seq(layer, mode == "lstm", True, lengths=lengths)
    x = rng.standard_normal((N, T, I))
    _check(model, x, (rng.standard_normal((N, T, 2 * H)), rng.standard_normal((N, 4, H)),
                      rng.standard_normal((N, 4, H))))


class CellLoop(nn.Module):
    """A cell run over time by hand (one rnn_layer call per step): per-sample gradients sum the
    contributions of every call."""

    def __init__(self, cell, mode):
        super().__init__()
        self.cell, self.mode = cell, mode

    def forward(self, x, w, idx):   # x (N, T, I), w (N, T, H)
        h = c = None
        loss = 0
        for t in range(x.shape[1]):
            if self.mode == "lstm":
                h, c = self.cell(x[:, t], None if h is None else (h, c))
                loss = loss + (c * w[:, t]).sum() * 0.5
            else:
                h = self.cell(x[:, t], h)
            loss = loss + (h * w[:, t]).sum()
        return loss


@pytest.mark.parametrize("mode,bias", list(itertools.product(["lstm", "gru", "rnn_tanh", "rnn_relu"],
                                                              [True, False])))
def test_cell_per_sample_gradients_equal_the_loop(mode, bias):
    rng = np.random.default_rng(11)
    nervo.manual_seed(11)
    if mode == "lstm":
        cell = nn.LSTMCell(I, H, bias=bias)
    elif mode == "gru":
        cell = nn.GRUCell(I, H, bias=bias)
    else:
        cell = nn.RNNCell(I, H, bias=bias, nonlinearity=mode[4:])
    model = CellLoop(_f64(cell), mode)
    _check(model, rng.standard_normal((N, T, I)), (rng.standard_normal((N, T, H)),))


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("reverse", [False, True])
def test_gate_grads_reproduce_the_kernel_weight_gradients(mode, reverse):
    """sum_t dg^T x and sum_t dg^T h_prev from gate_grads equal the fused kernel's dw_ih, dw_hh."""
    from nervo import ops
    rng = np.random.default_rng(5)
    G = {"lstm": 4, "gru": 3}.get(mode, 1)
    x = rng.standard_normal((T, N, I))
    w_ih, w_hh = rng.standard_normal((G * H, I)) * 0.5, rng.standard_normal((G * H, H)) * 0.5
    b_ih, b_hh = rng.standard_normal(G * H), rng.standard_normal(G * H)
    h0 = rng.standard_normal((N, H))
    c0 = rng.standard_normal((N, H)) if mode == "lstm" else None
    lengths = np.array([5, 3, 1, 0])
    r = ops.rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, mode=mode, lengths=lengths, reverse=reverse)
    dhs = rng.standard_normal((T, N, H))
    dcn = rng.standard_normal((N, H)) if mode == "lstm" else None
    g = ops.rnn_backward(dhs, x, w_ih, w_hh, b_ih, b_hh, r, dcn=dcn, mode=mode, lengths=lengths,
                         reverse=reverse)
    dg = gate_grads(mode, w_hh, r, dhs, dcn, lengths, reverse)
    dgh = dg[:, :, :G * H]
    dgx = np.concatenate([dg[:, :, :2 * H], dg[:, :, 3 * H:]], 2) if mode == "gru" else dgh
    hp = np.concatenate([r.hs[1:], h0[None]]) if reverse else np.concatenate([h0[None], r.hs[:-1]])
    np.testing.assert_allclose(np.einsum("tng,tni->gi", dgx, x), g.dw_ih, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.einsum("tng,tnh->gh", dgh, hp), g.dw_hh, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dgh.sum((0, 1)), g.db_hh, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dgx.sum((0, 1)), g.db_ih, rtol=1e-10, atol=1e-12)


def test_frozen_recurrent_parameters_are_skipped():
    rng = np.random.default_rng(2)
    nervo.manual_seed(2)
    layer = _f64(nn.GRU(I, H, num_layers=2, batch_first=True))
    layer.weight_hh_l0.requires_grad_(False)
    layer.bias_ih_l1.requires_grad_(False)
    model = Seq(layer, False, True)
    _check(model, rng.standard_normal((N, T, I)),
           (rng.standard_normal((N, T, H)), rng.standard_normal((N, 2, H)),
            rng.standard_normal((N, 2, H))))


def test_eval_mode_and_no_grad_record_nothing():
    from nervo.functional import recurrent
    n_obs = len(recurrent.observers)
    layer = nn.LSTM(I, H, batch_first=True)
    psg = per_sample_gradients(layer)
    assert len(recurrent.observers) == n_obs + 1
    try:
        x = nervo.tensor(np.zeros((N, T, I), np.float32))
        with nervo.no_grad():
            layer(x)
        layer.eval()
        layer(x)[0].sum().backward()
        assert psg.materialize() == {}
    finally:
        psg.remove()
    assert len(recurrent.observers) == n_obs


def test_dp_training_of_an_lstm_sequence_classifier():
    """make_private accepts an LSTM classifier (embedding-free, float32), clipping bounds every
    per-sample norm, and a few private epochs learn an easy sequence task."""
    from nervo.data import DataLoader
    rng = np.random.default_rng(0)
    nervo.manual_seed(0)
    n, steps, feats = 512, 8, 3
    X = rng.standard_normal((n, steps, feats)).astype(np.float32)
    y = (X[:, :, 0].sum(1) > 0).astype(np.int64)   # the sign of a running sum
    model = nn.RNNSequenceClassifier("lstm", feats, 16, num_classes=2, bidirectional=True)
    opt = optim.Adam(model.parameters(), lr=0.02)
    model, opt, dl = make_private(model, opt, DataLoader((X, y), batch_size=64, shuffle=True),
                                  noise_multiplier=0.5, max_grad_norm=1.0, seed=0)
    for _ in range(4):
        for xb, yb in dl:
            opt.zero_grad()
            nn.functional.cross_entropy(model(nervo.tensor(xb)), nervo.tensor(yb)).backward()
            opt.step()
            assert opt.last_norms.shape == (len(yb),)
            assert np.all(opt.last_norms * opt.last_clip_factors <= 1.0 + 1e-5)
    model.eval()
    with nervo.no_grad():
        acc = (model(nervo.tensor(X)).numpy().argmax(1) == y).mean()
    assert acc > 0.75
    assert 0 < opt.get_epsilon(1e-5) < np.inf
    opt.hooks.remove()


def test_projected_lstm_is_refused():
    from nervo.data import DataLoader
    model = nn.LSTM(I, H, proj_size=2)
    X, y = np.zeros((8, T, I), np.float32), np.zeros(8, np.int64)
    with pytest.raises(ValueError, match="proj_size=2"):
        make_private(model, optim.SGD(model.parameters(), lr=0.1), DataLoader((X, y), batch_size=4),
                     noise_multiplier=1.0, max_grad_norm=1.0)
