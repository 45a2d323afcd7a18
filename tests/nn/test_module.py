"""Module machinery: registration, traversal, state_dict keys and strict loading, hooks,
train/eval, freezing, containers, and error messages that name the layer."""
from collections import OrderedDict

import numpy as np
import pytest

import nervo
from nervo import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4),
                                      nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def test_state_dict_keys_match_torch():
    torch = pytest.importorskip("torch")

    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1),
                                                torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                                torch.nn.MaxPool2d(2))
            self.head = torch.nn.Linear(64, 3)
    t, n = TNet(), Net()
    assert list(t.state_dict()) == list(n.state_dict())
    for k, v in t.state_dict().items():
        assert tuple(v.shape) == n.state_dict()[k].shape, k
    assert [k for k, _ in t.named_parameters()] == [k for k, _ in n.named_parameters()]
    assert [k for k, _ in t.named_modules()] == [k for k, _ in n.named_modules()]


def test_load_state_dict_reports_every_problem_and_changes_nothing():
    n = Net()
    before = {k: v.numpy().copy() for k, v in n.state_dict().items()}
    sd = {k: v.numpy().copy() + 1 for k, v in n.state_dict().items()}
    del sd["head.bias"]
    sd["extra.weight"] = np.zeros(3)
    sd["features.0.weight"] = np.zeros((4, 2, 3, 3), np.float32)
    with pytest.raises(RuntimeError) as info:
        n.load_state_dict(sd)
    msg = str(info.value)
    assert '"head.bias"' in msg and '"extra.weight"' in msg and "features.0.weight" in msg
    assert "(4, 2, 3, 3)" in msg
    for k, v in n.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    # non-strict: missing/unexpected reported, shape mismatch still an error
    sd["features.0.weight"] = before["features.0.weight"]
    res = n.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["head.bias"] and res.unexpected_keys == ["extra.weight"]
    np.testing.assert_array_equal(n.head.weight.numpy(), before["head.weight"] + 1)


def test_state_dict_shares_memory_and_load_copies():
    m = nn.Linear(2, 3)
    sd = m.state_dict()
    assert np.shares_memory(sd["weight"].numpy(), m.weight.numpy())
    w = np.ones((3, 2), np.float32)
    m.load_state_dict({"weight": w, "bias": np.zeros(3, np.float32)})
    w[0, 0] = 5
    assert m.weight.numpy()[0, 0] == 1


def test_parameters_buffers_children():
    n = Net()
    assert len(list(n.parameters())) == 6
    assert [k for k, _ in n.named_buffers()] == [
        "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked"]
    assert [type(c).__name__ for c in n.children()] == ["Sequential", "Linear"]
    assert len(list(n.modules())) == 7
    shared = nn.Linear(2, 2)
    s = nn.Sequential(shared, shared)
    assert len(list(s.parameters())) == 2


def test_train_eval_and_apply():
    n = Net()
    n.eval()
    assert all(not m.training for m in n.modules())
    n.train()
    assert all(m.training for m in n.modules())
    names = []
    n.apply(lambda m: names.append(type(m).__name__))
    assert names[-1] == "Net"


def test_dropout_train_vs_eval_and_seed():
    d = nn.Dropout(0.5)
    x = nervo.ones(1000)
    nervo.manual_seed(1)
    a = d(x).numpy()
    nervo.manual_seed(1)
    b = d(x).numpy()
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) <= {0.0, 2.0} and 300 < (a == 0).sum() < 700
    d.eval()
    np.testing.assert_array_equal(d(x).numpy(), x.numpy())


def test_forward_hooks():
    n = Net()
    seen = []
    h = n.features.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    pre = n.head.register_forward_pre_hook(lambda m, i: (i[0] * 0,))
    out = n(nervo.randn(2, 1, 8, 8))
    assert seen == [(2, 4, 4, 4)]
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(n.head.bias.numpy(), (2, 3)),
                               rtol=1e-6)
    h.remove()
    pre.remove()
    n(nervo.randn(2, 1, 8, 8))
    assert len(seen) == 1


def test_hooks_run_inside_fused_sequential():
    s = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    acts = {}
    s[0].register_forward_hook(lambda m, i, o: acts.setdefault("lin", o))
    s(nervo.randn(2, 3))
    assert acts["lin"].shape == (2, 4)


def test_full_backward_hook_sees_output_grad():
    lin = nn.Linear(3, 2)
    got = []
    lin.register_full_backward_hook(lambda m, gi, go: got.append(go[0].shape))
    lin(nervo.randn(4, 3)).sum().backward()
    assert got == [(4, 2)]


def test_errors_name_the_layer():
    n = Net()
    with pytest.raises(ValueError) as info:
        n(nervo.randn(2, 3, 8, 8))
    msg = str(info.value)
    assert "features.0" in msg and "Conv2d" in msg and "3 channels" in msg
    s = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(5, 2))
    with pytest.raises(ValueError, match=r"in layer '2' \(Linear\(in_features=5"):
        s(nervo.randn(2, 3))
    with pytest.raises(ValueError, match=r"in layer '0'"):
        s(nervo.randn(2, 7))
    with pytest.raises(TypeError, match="float64"):
        nn.Linear(3, 2)(nervo.randn(2, 3, dtype=nervo.float64))
    with pytest.raises(ValueError, match="BatchNorm2d"):
        nn.BatchNorm2d(3)(nervo.randn(2, 3))


def test_requires_grad_freezes():
    n = Net()
    n.features.requires_grad_(False)
    out = n(nervo.randn(2, 1, 8, 8))
    out.sum().backward()
    assert all(p.grad is None for p in n.features.parameters())
    assert n.head.weight.grad is not None


def test_containers():
    ml = nn.ModuleList([nn.Linear(2, 2), nn.ReLU()])
    ml.append(nn.Linear(2, 1))
    assert len(ml) == 3 and isinstance(ml[-1], nn.Linear)
    assert list(ml.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    md = nn.ModuleDict({"a": nn.Linear(2, 2)})
    md["b"] = nn.Linear(2, 3)
    assert list(md.keys()) == ["a", "b"] and "b" in md
    assert list(md.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    s = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3)), ("act", nn.ReLU())]))
    assert s.fc is s[0] and list(s.state_dict()) == ["fc.weight", "fc.bias"]
    s.append(nn.Linear(3, 1))
    assert s(nervo.randn(4, 2)).shape == (4, 1)
    assert len(s[1:]) == 2
    del s[0]
    assert list(s.state_dict()) == ["1.weight", "1.bias"]


def test_sequential_plan_rebuilt_when_children_change():
    s = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    x = nervo.randn(4, 2)
    s(x)
    s[1] = nn.Tanh()
    y = s(x).numpy()
    assert (y < 0).any() or np.allclose(y, np.tanh(s[0](x).numpy()))
    np.testing.assert_allclose(y, np.tanh(s[0](x).numpy()), rtol=1e-5, atol=1e-6)


def test_default_init_matches_torch_distribution():
    nervo.manual_seed(0)
    lin = nn.Linear(100, 50)
    bound = 1 / np.sqrt(100)
    assert np.abs(lin.weight.numpy()).max() <= bound and np.abs(lin.weight.numpy()).max() > 0.9 * bound
    conv = nn.Conv2d(4, 8, 3)
    assert np.abs(conv.bias.numpy()).max() <= 1 / np.sqrt(36)
    bn = nn.BatchNorm2d(3)
    np.testing.assert_array_equal(bn.weight.numpy(), 1)
    emb = nn.Embedding(10, 3, padding_idx=0)
    np.testing.assert_array_equal(emb.weight.numpy()[0], 0)


@pytest.mark.parametrize("fn", ["kaiming_uniform_", "kaiming_normal_", "xavier_uniform_",
                                "xavier_normal_", "orthogonal_", "zeros_", "ones_"])
def test_init_functions(fn):
    w = nn.Parameter(nervo.empty(64, 32))
    getattr(nn.init, fn)(w)
    a = w.numpy()
    if fn == "orthogonal_":
        np.testing.assert_allclose(a.T @ a, np.eye(32), atol=1e-5)
    elif fn == "kaiming_uniform_":
        assert np.abs(a).max() <= np.sqrt(2) * np.sqrt(3 / 32) + 1e-6
    elif fn == "xavier_uniform_":
        assert np.abs(a).max() <= np.sqrt(6 / 96) + 1e-6
    elif fn == "zeros_":
        assert not a.any()
    assert np.isfinite(a).all()


def test_module_to_dtype():
    m = nn.Linear(2, 3).double()
    assert m.weight.dtype == np.float64
    assert m(nervo.randn(1, 2, dtype=nervo.float64)).dtype == np.float64
    with pytest.raises(ValueError):
        m.to("cuda")


def test_repr():
    r = repr(Net())
    assert "Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))" in r
    assert "(head): Linear(in_features=64, out_features=3, bias=True)" in r


# ---------------------------------------------------------------------------- re-registration
def _build(nn, reassign):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 3)
            self.b = nn.Linear(3, 3)
            self.register_buffer("s", nn.Parameter(np.zeros(1, np.float32)).detach()
                                 if nn is nervo.nn else __import__("torch").zeros(1))
            self.c = nn.Linear(3, 1)
    m = Net()
    reassign(m, nn)
    return m


REASSIGN = {
    "module": lambda m, nn: setattr(m, "a", nn.Linear(2, 3)),
    "module_none_then_back": lambda m, nn: (setattr(m, "b", None),
                                            setattr(m, "b", nn.Linear(3, 3))),
    "add_module": lambda m, nn: m.add_module("a", nn.Linear(2, 3)),
    "parameter": lambda m, nn: setattr(m.a, "weight", nn.Parameter(m.a.weight.detach().clone())),
    "parameter_none_then_back": lambda m, nn: (
        setattr(m.a, "weight", None), setattr(m.a, "weight", nn.Parameter(m.a.bias.detach()))),
    "register_buffer": lambda m, nn: m.register_buffer("s", m.s.detach().clone()),
    "buffer_assign": lambda m, nn: setattr(m, "s", m.s.detach().clone()),
}


@pytest.mark.parametrize("name", sorted(REASSIGN))
def test_reassignment_keeps_registration_order_like_torch(name):
    torch = pytest.importorskip("torch")
    mn = _build(nervo.nn, REASSIGN[name])
    mt = _build(torch.nn, REASSIGN[name])
    assert list(mn.state_dict()) == list(mt.state_dict())
    assert [n for n, _ in mn.named_children()] == [n for n, _ in mt.named_children()]
    assert [n for n, _ in mn.named_parameters()] == [n for n, _ in mt.named_parameters()]


def test_sequential_reassigned_child_keeps_position_and_plan():
    seq = nervo.nn.Sequential(nervo.nn.Linear(2, 3), nervo.nn.ReLU(), nervo.nn.Linear(3, 1))
    new = nervo.nn.Linear(2, 3)
    setattr(seq, "0", new)
    assert list(seq._modules) == ["0", "1", "2"] and seq[0] is new
    x = nervo.randn(4, 2)
    F = nervo.nn.functional
    want = F.linear(F.relu(F.linear(x, new.weight, new.bias)), seq[2].weight, seq[2].bias)
    np.testing.assert_allclose(seq(x).detach().numpy(), want.detach().numpy(), rtol=1e-6)


def test_registration_name_conflicts_raise_like_torch():
    torch = pytest.importorskip("torch")
    for nn in (nervo.nn, torch.nn):
        m = nn.Linear(2, 2)
        with pytest.raises(KeyError, match="already exists"):
            m.register_buffer("weight", m.bias.detach().clone())
        with pytest.raises(KeyError, match="already exists"):
            m.add_module("bias", nn.ReLU())
        m.plain = 3
        with pytest.raises(KeyError, match="already exists"):
            m.register_parameter("plain", None)
        with pytest.raises(TypeError):
            m.weight = m.weight.detach() * 2  # a plain tensor where a Parameter lives
        # a Parameter replacing a buffer moves it to the parameters (both frameworks)
        m.register_buffer("buf", m.bias.detach().clone())
        m.buf = nn.Parameter(m.bias.detach().clone())
        assert "buf" in dict(m.named_parameters()) and "buf" not in dict(m.named_buffers())


def test_zero_grad_without_none_detaches_a_graph_gradient():
    lin = nervo.nn.Linear(2, 1)
    x = nervo.randn(3, 2)
    lin(x).pow(2).sum().backward(create_graph=True)
    assert lin.weight.grad.grad_fn is not None
    lin.zero_grad(set_to_none=False)
    assert lin.weight.grad.grad_fn is None and not lin.weight.grad.requires_grad
    np.testing.assert_array_equal(lin.weight.grad.numpy(), 0)


def test_hook_options_prepend_and_with_kwargs_like_torch():
    torch = pytest.importorskip("torch")

    class Scale:
        def __init__(self, nn):
            class M(nn.Module):
                def forward(self, x, scale=1.0):
                    return x * scale
            self.m = M()

    for nn_, T in ((nervo.nn, nervo.tensor), (torch.nn, torch.tensor)):
        m = Scale(nn_).m
        order = []
        m.register_forward_hook(lambda mod, a, o: order.append("first"))
        m.register_forward_hook(lambda mod, a, o: order.append("prepended"), prepend=True)
        m.register_forward_pre_hook(
            lambda mod, a, kw: (a, {**kw, "scale": kw.get("scale", 1.0) * 10}), with_kwargs=True)
        m.register_forward_hook(lambda mod, a, kw, o: o + kw["scale"], with_kwargs=True)
        out = m(T([1.0, 2.0]), scale=2.0)
        np.testing.assert_allclose(np.asarray(out.tolist()), [40.0, 60.0])
        assert order == ["prepended", "first"]


def test_get_buffer():
    m = nn.Sequential(nn.BatchNorm1d(3))
    assert m.get_buffer("0.running_mean") is m[0].running_mean
    with pytest.raises(AttributeError):
        m.get_buffer("0.weight")


def test_set_submodule_backward_pre_hook_and_cpu_only_errors():
    torch = pytest.importorskip("torch")
    for nn_ in (nervo.nn, torch.nn):
        m = nn_.Sequential(nn_.Linear(2, 3), nn_.Sequential(nn_.ReLU(), nn_.Linear(3, 1)))
        new = nn_.Tanh()
        m.set_submodule("1.0", new)
        assert m[1][0] is new and [k for k, _ in m[1].named_children()] == ["0", "1"]
        m.set_submodule("1.extra", nn_.Identity())
        assert [k for k, _ in m[1].named_children()] == ["0", "1", "extra"]
        with pytest.raises(AttributeError):
            m.set_submodule("1.missing", nn_.Identity(), strict=True)
        with pytest.raises(AttributeError):
            m.set_submodule("nope.x", nn_.Identity())
    lin = nn.Linear(2, 2)
    seen = []
    lin.register_full_backward_pre_hook(lambda mod, go: seen.append(go[0].shape) or (go[0] * 0,))
    x = nervo.ones(3, 2, requires_grad=True)
    lin(x).sum().backward()
    assert seen == [(3, 2)]
    np.testing.assert_array_equal(x.grad.numpy(), 0)  # the replaced grad_output flowed in
    with pytest.raises(RuntimeError, match="CPU only"):
        lin.cuda()
    with pytest.raises(TypeError, match="float32/float64"):
        lin.half()
