"""MultiheadAttention, Transformer encoder/decoder layers and F.scaled_dot_product_attention
against their torch 2.13 twins with copied weights (outputs, input and parameter gradients) over
batch_first, kdim/vdim, key padding / attention / causal masks, pre- and post-norm, relu/gelu;
positional encodings; float64 central differences; bad inputs."""
import numpy as np
import pytest

import nervo
from nervo import nn
from nervo.nn import functional as F
from tests.checks import check_tensor

torch = pytest.importorskip("torch")
RTOL, ATOL = 2e-4, 3e-5


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _copy(tm, nm):
    assert list(tm.state_dict()) == list(nm.state_dict())
    nm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})


def _check_grads(tm, nm, pairs):
    for tx, nx, what in pairs:
        if tx.grad is not None:
            check_tensor(nx.grad.numpy(), tx.grad.numpy(), 1e-3, 1e-4, f"{what} grad")
    tp = dict(tm.named_parameters())
    for k, p in nm.named_parameters():
        if tp[k].grad is None:
            continue
        check_tensor(p.grad.numpy(), tp[k].grad.numpy(), 1e-3, 1e-4, f"grad of {k}")


def _leaf(a):
    return torch.from_numpy(a.copy()).requires_grad_(True), nervo.tensor(a, requires_grad=True)


MHA_CASES = [
    ("self", dict(), None),
    ("self-batch_first", dict(batch_first=True), None),
    ("cross-kdim-vdim", dict(kdim=5, vdim=3), None),
    ("key_padding", dict(batch_first=True), "kpm"),
    ("bool_attn_mask", dict(), "bool"),
    ("float_attn_mask", dict(), "float"),
    ("3d_attn_mask", dict(), "3d"),
    ("causal", dict(), "causal"),
    ("no_bias", dict(bias=False), None),
    ("bias_kv", dict(add_bias_kv=True), None),
    ("zero_attn-key_padding", dict(add_zero_attn=True), "kpm"),
    ("bias_kv-zero_attn-bool_attn_mask", dict(add_bias_kv=True, add_zero_attn=True), "bool"),
    ("bias_kv-zero_attn-causal", dict(add_bias_kv=True, add_zero_attn=True, batch_first=True),
     "causal"),
    ("bias_kv-3d_attn_mask-kdim", dict(add_bias_kv=True, kdim=5, vdim=3), "3d"),
]


@pytest.mark.parametrize("name,kw,mask", MHA_CASES, ids=[c[0] for c in MHA_CASES])
def test_multihead_attention_twin(name, kw, mask):
    E, h, L, S, N = 16, 4, 7, 9, 3
    tm = torch.nn.MultiheadAttention(E, h, **kw)
    nm = nn.MultiheadAttention(E, h, **kw)
    _copy(tm, nm)
    bf = kw.get("batch_first", False)
    self_attn = (name.startswith("self") or mask in ("causal", "bool", "float") or name == "no_bias"
                 or (mask == "3d" and "kdim" not in kw))
    if self_attn or mask == "3d":
        S = L
    kd, vd = kw.get("kdim", E), kw.get("vdim", E)
    shp = lambda n, d: (N, n, d) if bf else (n, N, d)  # noqa: E731
    q = _x(*shp(L, E))
    tq, nq = _leaf(q)
    if self_attn:
        tk = tv = tq
        nk = nv = nq
    else:
        tk, nk = _leaf(_x(*shp(S, kd), seed=1))
        tv, nv = _leaf(_x(*shp(S, vd), seed=2))
    targs, nargs = {}, {}
    rng = np.random.default_rng(3)
    if mask == "kpm":
        kpm = rng.random((N, S)) < 0.3
        kpm[:, 0] = False
        targs["key_padding_mask"], nargs["key_padding_mask"] = torch.from_numpy(kpm), kpm
    elif mask == "bool":
        am = rng.random((L, S)) < 0.3
        np.fill_diagonal(am, False)
        targs["attn_mask"], nargs["attn_mask"] = torch.from_numpy(am), am
    elif mask == "float":
        am = _x(L, S, seed=4)
        targs["attn_mask"], nargs["attn_mask"] = torch.from_numpy(am), am
    elif mask == "3d":
        am = _x(N * h, L, S, seed=5)
        targs["attn_mask"], nargs["attn_mask"] = torch.from_numpy(am), am
    elif mask == "causal":
        am = np.triu(np.ones((L, S), bool), 1)
        targs.update(attn_mask=torch.from_numpy(am), is_causal=True)
        nargs.update(attn_mask=am, is_causal=True)
    to, tw = tm(tq, tk, tv, **targs)
    no, nw = nm(nq, nk, nv, **nargs)
    check_tensor(no.numpy(), to.detach().numpy(), RTOL, ATOL, "output")
    check_tensor(nw.numpy(), tw.detach().numpy(), RTOL, ATOL, "weights")
    g = _x(*to.shape, seed=9)
    to.backward(torch.from_numpy(g))
    no.backward(nervo.from_numpy(g))
    pairs = [(tq, nq, "query")] + ([] if self_attn else [(tk, nk, "key"), (tv, nv, "value")])
    _check_grads(tm, nm, pairs)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_layer_twin(norm_first, activation, batch_first):
    d, h, ff, L, N = 16, 4, 32, 6, 3
    kw = dict(dim_feedforward=ff, dropout=0.0, activation=activation, batch_first=batch_first,
              norm_first=norm_first)
    tm, nm = torch.nn.TransformerEncoderLayer(d, h, **kw), nn.TransformerEncoderLayer(d, h, **kw)
    _copy(tm, nm)
    x = _x(*((N, L, d) if batch_first else (L, N, d)))
    kpm = np.zeros((N, L), bool)
    kpm[1, -2:] = True
    tx, nx = _leaf(x)
    to = tm(tx, src_key_padding_mask=torch.from_numpy(kpm))
    no = nm(nx, src_key_padding_mask=kpm)
    check_tensor(no.numpy(), to.detach().numpy(), RTOL, ATOL, "output")
    g = _x(*to.shape, seed=2)
    to.backward(torch.from_numpy(g))
    no.backward(nervo.from_numpy(g))
    _check_grads(tm, nm, [(tx, nx, "src")])


def test_encoder_stack_causal_twin():
    d, h = 16, 2
    tl = torch.nn.TransformerEncoderLayer(d, h, 24, dropout=0.0, batch_first=True)
    te = torch.nn.TransformerEncoder(tl, 2, norm=torch.nn.LayerNorm(d), enable_nested_tensor=False)
    ne = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, h, 24, dropout=0.0, batch_first=True), 2,
                               norm=nn.LayerNorm(d))
    _copy(te, ne)
    x = _x(2, 5, d)
    mask = np.triu(np.full((5, 5), -np.inf, np.float32), 1)
    tx, nx = _leaf(x)
    to = te(tx, mask=torch.from_numpy(mask), is_causal=True)
    no = ne(nx, mask=mask, is_causal=True)
    check_tensor(no.numpy(), to.detach().numpy(), RTOL, ATOL, "encoder output")
    to.sum().backward()
    no.sum().backward()
    _check_grads(te, ne, [(tx, nx, "src")])


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_twin(norm_first):
    d, h, L, S, N = 16, 4, 5, 7, 2
    kw = dict(dim_feedforward=24, dropout=0.0, norm_first=norm_first)
    tm, nm = torch.nn.TransformerDecoderLayer(d, h, **kw), nn.TransformerDecoderLayer(d, h, **kw)
    _copy(tm, nm)
    tt, nt = _leaf(_x(L, N, d))
    tmem, nmem = _leaf(_x(S, N, d, seed=1))
    causal = np.triu(np.ones((L, L), bool), 1)
    to = tm(tt, tmem, tgt_mask=torch.from_numpy(causal))
    no = nm(nt, nmem, tgt_mask=causal)
    check_tensor(no.numpy(), to.detach().numpy(), RTOL, ATOL, "decoder output")
    g = _x(*to.shape, seed=3)
    to.backward(torch.from_numpy(g))
    no.backward(nervo.from_numpy(g))
    _check_grads(tm, nm, [(tt, nt, "tgt"), (tmem, nmem, "memory")])


def test_functional_sdpa_twin():
    q, k, v = _x(2, 3, 9, 8), _x(2, 3, 11, 8, seed=1), _x(2, 3, 11, 4, seed=2)
    mask = np.random.default_rng(0).random((9, 11)) > 0.3
    mask[:, 0] = True
    (tq, nq), (tk, nk), (tv, nv) = _leaf(q), _leaf(k), _leaf(v)
    to = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=torch.from_numpy(mask))
    no = F.scaled_dot_product_attention(nq, nk, nv, attn_mask=mask)
    check_tensor(no.numpy(), to.detach().numpy(), RTOL, ATOL, "sdpa")
    g = _x(*to.shape, seed=3)
    to.backward(torch.from_numpy(g))
    no.backward(nervo.from_numpy(g))
    for a, b, w in ((tq, nq, "q"), (tk, nk, "k"), (tv, nv, "v")):
        check_tensor(b.grad.numpy(), a.grad.numpy(), 1e-3, 1e-4, f"d{w}")


def test_sdpa_fully_masked_rows_no_nan():
    q = nervo.tensor(_x(1, 1, 4, 3).astype(np.float64), requires_grad=True)
    k = nervo.tensor(_x(1, 1, 5, 3, seed=1).astype(np.float64), requires_grad=True)
    v = nervo.tensor(_x(1, 1, 5, 3, seed=2).astype(np.float64), requires_grad=True)
    mask = np.ones((4, 5), bool)
    mask[2] = False
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert np.all(out.numpy()[0, 0, 2] == 0)
    out.sum().backward()
    for t in (q, k, v):
        assert np.isfinite(t.grad.numpy()).all()
    assert np.all(q.grad.numpy()[0, 0, 2] == 0)


def test_mha_gradient_by_central_differences():
    from tests.gradcheck import gradcheck
    nervo.manual_seed(0)
    m = nn.MultiheadAttention(6, 2, batch_first=True, dtype=np.float64)
    kpm = np.array([[False, False, True], [False, False, False]])
    x = np.random.default_rng(0).standard_normal((2, 3, 6))
    gradcheck(lambda a: m(a, a, a, key_padding_mask=kpm, need_weights=False)[0], x, what="mha")


def test_mha_bias_kv_zero_attn_gradient_by_central_differences():
    from tests.gradcheck import gradcheck
    nervo.manual_seed(0)
    m = nn.MultiheadAttention(6, 2, add_bias_kv=True, add_zero_attn=True, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((3, 2, 6))
    gradcheck(lambda a: m(a, a, a, need_weights=False)[0], x, what="mha bias_kv zero_attn")
    # the bias_k / bias_v gradients themselves, through a functional call
    from nervo.functional.attention import multi_head_attention_forward as mha
    bk0 = np.random.default_rng(2).standard_normal((1, 1, 6))
    bv0 = np.random.default_rng(3).standard_normal((1, 1, 6))
    xt = nervo.tensor(x)
    gradcheck(lambda bk, bv: mha(xt, xt, xt, 2, m.in_proj_weight, m.in_proj_bias,
                                 m.out_proj.weight, m.out_proj.bias, need_weights=False,
                                 bias_k=bk, bias_v=bv, add_zero_attn=True)[0],
              bk0, bv0, what="bias_k, bias_v")


def test_mha_bias_kv_state_dict_and_repr():
    t = torch.nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True)
    m = nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True)
    assert list(m.state_dict()) == list(t.state_dict())
    assert tuple(m.bias_k.shape) == (1, 1, 8) and tuple(m.bias_v.shape) == (1, 1, 8)
    assert "add_bias_kv=True" in repr(m) and "add_zero_attn=True" in repr(m)


def test_encoder_layer_gradient_by_central_differences():
    from tests.gradcheck import gradcheck
    nervo.manual_seed(0)
    m = nn.TransformerEncoderLayer(6, 2, 8, dropout=0.0, norm_first=True, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((3, 2, 6))
    gradcheck(lambda a: m(a, is_causal=True), x, what="encoder layer")


def test_positional_encodings():
    pe = nn.SinusoidalPositionalEncoding(8, max_len=50)
    x = nervo.zeros(10, 2, 8)
    y = pe(x).numpy()
    pos, i = 3, 2
    assert np.isclose(y[pos, 0, 2 * i], np.sin(pos / 10000 ** (2 * i / 8)), atol=1e-6)
    assert np.isclose(y[pos, 1, 2 * i + 1], np.cos(pos / 10000 ** (2 * i / 8)), atol=1e-6)
    assert "pe" not in pe.state_dict()
    lp = nn.LearnedPositionalEncoding(8, max_len=20, batch_first=True)
    xb = nervo.zeros(2, 10, 8, requires_grad=True)
    lp(xb).sum().backward()
    assert np.all(lp.weight.grad.numpy()[:10] == 2) and np.all(lp.weight.grad.numpy()[10:] == 0)
    with pytest.raises(ValueError, match="max_len"):
        lp(nervo.zeros(2, 21, 8))


def test_dropout_in_attention_is_seeded():
    m = nn.MultiheadAttention(8, 2, dropout=0.5)
    x = nervo.tensor(_x(5, 2, 8))
    nervo.manual_seed(1)
    a = m(x, x, x, need_weights=False)[0].numpy()
    nervo.manual_seed(1)
    b = m(x, x, x, need_weights=False)[0].numpy()
    m.eval()
    c = m(x, x, x, need_weights=False)[0].numpy()
    check_tensor(a, b, 0, 0, "same seed")
    assert not np.allclose(a, c)


BAD = [
    ("embed_dim not divisible", lambda: nn.MultiheadAttention(10, 3), ValueError, "divisible"),
    ("query features", lambda: nn.MultiheadAttention(8, 2)(nervo.zeros(3, 2, 6), nervo.zeros(3, 2, 8),
                                                           nervo.zeros(3, 2, 8)), ValueError, "embed_dim"),
    ("attn_mask shape", lambda: nn.MultiheadAttention(8, 2)(
        nervo.zeros(3, 2, 8), nervo.zeros(3, 2, 8), nervo.zeros(3, 2, 8),
        attn_mask=np.zeros((3, 4), bool)), ValueError, "attn_mask"),
    ("key_padding_mask shape", lambda: nn.MultiheadAttention(8, 2)(
        nervo.zeros(3, 2, 8), nervo.zeros(3, 2, 8), nervo.zeros(3, 2, 8),
        key_padding_mask=np.zeros((3, 2), bool)), ValueError, "key_padding_mask"),
    ("key/value length", lambda: nn.MultiheadAttention(8, 2)(
        nervo.zeros(3, 2, 8), nervo.zeros(4, 2, 8), nervo.zeros(5, 2, 8)), ValueError, "match"),
    ("activation", lambda: nn.TransformerEncoderLayer(8, 2, activation="swish"), ValueError, "activation"),
    ("sdpa mask", lambda: F.scaled_dot_product_attention(nervo.zeros(1, 2, 3, 4), nervo.zeros(1, 2, 5, 4),
                                                         nervo.zeros(1, 2, 5, 4),
                                                         attn_mask=np.ones((3, 4), bool)),
     ValueError, "broadcast"),
]


@pytest.mark.parametrize("what,call,exc,msg", BAD, ids=[b[0] for b in BAD])
def test_bad_inputs(what, call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()
