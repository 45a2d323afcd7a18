"""Every layer against its torch twin with copied weights (forward, input and parameter
gradients, float32 tolerance), plus float64 central-difference checks of the layer ops."""
import numpy as np
import pytest

import nervo
import nervo.functional as F
from nervo import nn
from tests.gradcheck import gradcheck

torch = pytest.importorskip("torch")
tnn = torch.nn

RTOL, ATOL = 2e-4, 2e-5


def _copy_weights(tm, nm):
    nm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})


def _twin(tm, nm, x, *, train=True, int_input=False, extra=()):
    """Forward both with the same input and cotangent; compare outputs and every gradient."""
    tm.train(train)
    nm.train(train)
    _copy_weights(tm, nm)
    assert list(tm.state_dict()) == list(nm.state_dict())
    if int_input:
        tx, nx = torch.from_numpy(x), nervo.from_numpy(x)
    else:
        tx = torch.from_numpy(x.copy()).requires_grad_(True)
        nx = nervo.tensor(x, requires_grad=True)
    ty = tm(tx, *[torch.from_numpy(e) for e in extra])
    ny = nm(nx, *[nervo.from_numpy(e) for e in extra])
    np.testing.assert_allclose(ny.numpy(), ty.detach().numpy(), rtol=RTOL, atol=ATOL,
                               err_msg="forward")
    g = np.random.default_rng(7).standard_normal(ty.shape).astype(np.float32)
    ty.backward(torch.from_numpy(g))
    ny.backward(nervo.from_numpy(g))
    if not int_input:
        np.testing.assert_allclose(nx.grad.numpy(), tx.grad.numpy(), rtol=RTOL, atol=ATOL,
                                   err_msg="input grad")
    tp = dict(tm.named_parameters())
    for k, p in nm.named_parameters():
        if tp[k].grad is None:
            assert p.grad is None or not p.grad.numpy().any(), k
            continue
        np.testing.assert_allclose(p.grad.numpy(), tp[k].grad.numpy(), rtol=RTOL, atol=ATOL,
                                   err_msg=f"grad of {k}")
    for k, b in nm.named_buffers():
        tb = dict(tm.named_buffers())[k]
        np.testing.assert_allclose(b.numpy(), tb.numpy(), rtol=RTOL, atol=ATOL, err_msg=k)
    return ny


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


LAYERS = {
    "linear": (lambda m: m.Linear(7, 5), (4, 7)),
    "linear_nobias": (lambda m: m.Linear(7, 5, bias=False), (4, 7)),
    "linear_3d": (lambda m: m.Linear(7, 5), (2, 3, 7)),
    "conv2d": (lambda m: m.Conv2d(3, 4, 3), (2, 3, 7, 6)),
    "conv2d_pad_stride": (lambda m: m.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 7, 6)),
    "conv2d_groups_dil": (lambda m: m.Conv2d(4, 6, (3, 2), padding=(2, 1), dilation=2, groups=2),
                          (2, 4, 8, 7)),
    "conv2d_same": (lambda m: m.Conv2d(2, 3, 3, padding="same", bias=False), (1, 2, 5, 5)),
    "conv1d": (lambda m: m.Conv1d(3, 4, 3, padding=1, stride=2), (2, 3, 9)),
    "conv_transpose2d": (lambda m: m.ConvTranspose2d(3, 4, 3, stride=2, padding=1,
                                                     output_padding=1), (2, 3, 4, 5)),
    "conv_transpose2d_groups": (lambda m: m.ConvTranspose2d(4, 6, 2, stride=2, groups=2),
                                (1, 4, 3, 3)),
    "maxpool2d": (lambda m: m.MaxPool2d(2), (2, 3, 6, 8)),
    "maxpool2d_pad": (lambda m: m.MaxPool2d(3, stride=2, padding=1), (2, 3, 7, 6)),
    "maxpool2d_ceil": (lambda m: m.MaxPool2d(2, ceil_mode=True), (1, 2, 5, 5)),
    "maxpool1d": (lambda m: m.MaxPool1d(3, stride=2), (2, 3, 9)),
    "avgpool2d": (lambda m: m.AvgPool2d(2), (2, 3, 6, 8)),
    "avgpool2d_pad": (lambda m: m.AvgPool2d(3, stride=2, padding=1), (2, 3, 7, 6)),
    "avgpool2d_nopadcount": (lambda m: m.AvgPool2d(3, stride=2, padding=1,
                                                   count_include_pad=False), (2, 3, 7, 6)),
    "avgpool1d": (lambda m: m.AvgPool1d(2), (2, 3, 8)),
    "adaptive_avgpool2d": (lambda m: m.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 5)),
    "adaptive_avgpool2d_1": (lambda m: m.AdaptiveAvgPool2d(1), (2, 3, 7, 5)),
    "batchnorm2d": (lambda m: m.BatchNorm2d(3), (4, 3, 5, 5)),
    "batchnorm1d": (lambda m: m.BatchNorm1d(5), (8, 5)),
    "batchnorm1d_3d": (lambda m: m.BatchNorm1d(3), (4, 3, 6)),
    "batchnorm2d_noaffine": (lambda m: m.BatchNorm2d(3, affine=False), (4, 3, 5, 5)),
    "layernorm": (lambda m: m.LayerNorm(6), (3, 4, 6)),
    "layernorm_2d": (lambda m: m.LayerNorm((4, 6)), (3, 4, 6)),
    "groupnorm": (lambda m: m.GroupNorm(2, 4), (3, 4, 5, 5)),
    "flatten": (lambda m: m.Flatten(), (2, 3, 4, 5)),
    "unflatten": (lambda m: m.Unflatten(1, (3, 4)), (2, 12)),
    "identity": (lambda m: m.Identity(), (2, 3)),
    "dropout_eval": (lambda m: m.Dropout(0.5), (2, 3)),
    "prelu": (lambda m: m.PReLU(3), (2, 3, 4)),
    "prelu_1": (lambda m: m.PReLU(), (2, 3, 4)),
    "softmax": (lambda m: m.Softmax(dim=1), (3, 5)),
    "logsoftmax": (lambda m: m.LogSoftmax(dim=-1), (3, 5)),
    "softmin": (lambda m: m.Softmin(dim=1), (3, 5)),
    "glu": (lambda m: m.GLU(), (3, 6)),
}
for _name in ("ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish",
              "Sigmoid", "Tanh", "Softplus", "Hardtanh", "Hardswish", "Hardsigmoid", "Softsign",
              "Tanhshrink", "LogSigmoid"):
    LAYERS[_name] = ((lambda n: lambda m: getattr(m, n)())(_name), (3, 5))


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_matches_torch(name):
    make, shape = LAYERS[name]
    torch.manual_seed(0)
    tm, nm = make(tnn), make(nn)
    x = _x(*shape) * (3 if name in ("ReLU6", "Hardswish", "Hardsigmoid") else 1)
    _twin(tm, nm, x, train=(name != "dropout_eval"))


def test_batchnorm_eval_uses_running_stats():
    tm, nm = tnn.BatchNorm2d(3), nn.BatchNorm2d(3)
    x = _x(4, 3, 5, 5)
    for _ in range(3):  # accumulate running statistics in both
        _twin(tm, nm, x * 2 + 1)
    _twin(tm, nm, x, train=False)


def test_batchnorm_momentum_none():
    tm, nm = tnn.BatchNorm1d(3, momentum=None), nn.BatchNorm1d(3, momentum=None)
    for s in range(3):
        _twin(tm, nm, _x(6, 3, seed=s))


def test_embedding_matches_torch():
    tm, nm = tnn.Embedding(10, 4, padding_idx=2), nn.Embedding(10, 4, padding_idx=2)
    idx = np.array([[1, 2, 3], [2, 9, 1]], np.int64)
    _twin(tm, nm, idx, int_input=True)


def test_bilinear_matches_torch():
    tm, nm = tnn.Bilinear(3, 4, 5), nn.Bilinear(3, 4, 5)
    _twin(tm, nm, _x(2, 3), extra=(_x(2, 4, seed=1),))


def test_sequential_fused_linear_activation_matches_torch():
    for act in ("ReLU", "Sigmoid", "Tanh"):
        torch.manual_seed(0)
        tm = tnn.Sequential(tnn.Linear(6, 8), getattr(tnn, act)(), tnn.Linear(8, 3))
        nm = nn.Sequential(nn.Linear(6, 8), getattr(nn, act)(), nn.Linear(8, 3))
        _twin(tm, nm, _x(5, 6))


def test_basic_block_and_small_resnet_match_torch():
    torchvision_block = pytest.importorskip("torchvision.models.resnet", reason="torchvision") \
        if False else None
    del torchvision_block

    class TBlock(tnn.Module):  # torchvision's BasicBlock, written out
        def __init__(self, i, o, stride=1):
            super().__init__()
            self.conv1 = tnn.Conv2d(i, o, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(o)
            self.conv2 = tnn.Conv2d(o, o, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(o)
            self.downsample = None
            if stride != 1 or i != o:
                self.downsample = tnn.Sequential(tnn.Conv2d(i, o, 1, stride, bias=False),
                                                 tnn.BatchNorm2d(o))

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return torch.relu(out + (x if self.downsample is None else self.downsample(x)))

    def net(m, block):
        return m.Sequential(m.Conv2d(1, 4, 3, padding=1, bias=False), m.BatchNorm2d(4), m.ReLU(),
                            block(4, 4), block(4, 8, 2), m.AdaptiveAvgPool2d(1), m.Flatten(),
                            m.Linear(8, 3))
    _twin(net(tnn, TBlock), net(nn, nn.BasicBlock), _x(2, 1, 8, 8))


def test_residual_wrapper():
    lin = nn.Linear(4, 4)
    r = nn.Residual(lin)
    x = nervo.randn(2, 4)
    np.testing.assert_allclose(r(x).numpy(), (lin(x) + x).numpy())
    assert list(r.state_dict()) == ["fn.weight", "fn.bias"]


# ---------------------------------------------------------------------------- losses
LOSSES = {
    "mse": (lambda m: m.MSELoss(), "float"),
    "mse_sum": (lambda m: m.MSELoss(reduction="sum"), "float"),
    "mse_none": (lambda m: m.MSELoss(reduction="none"), "float"),
    "l1": (lambda m: m.L1Loss(), "float"),
    "huber": (lambda m: m.HuberLoss(delta=0.7), "float"),
    "smooth_l1": (lambda m: m.SmoothL1Loss(beta=0.5), "float"),
    "bce_logits": (lambda m: m.BCEWithLogitsLoss(), "prob"),
    "bce_logits_pos": (lambda m: m.BCEWithLogitsLoss(pos_weight=torch.tensor([1.0, 2.0, 0.5])
                                                     if m is tnn else
                                                     nervo.tensor([1.0, 2.0, 0.5])), "prob"),
    "bce": (lambda m: m.BCELoss(), "bce"),
    "kl": (lambda m: m.KLDivLoss(reduction="batchmean"), "logprob"),
    "kl_logtarget": (lambda m: m.KLDivLoss(reduction="sum", log_target=True), "logprob_lt"),
    "ce": (lambda m: m.CrossEntropyLoss(), "class"),
    "ce_sum": (lambda m: m.CrossEntropyLoss(reduction="sum"), "class"),
    "ce_none": (lambda m: m.CrossEntropyLoss(reduction="none"), "class"),
    "ce_weight_ignore": (lambda m: m.CrossEntropyLoss(
        weight=(torch.tensor if m is tnn else nervo.tensor)([1.0, 2.0, 0.5]), ignore_index=1),
        "class"),
    "ce_smooth": (lambda m: m.CrossEntropyLoss(label_smoothing=0.2), "class"),
    "ce_smooth_weight": (lambda m: m.CrossEntropyLoss(
        weight=(torch.tensor if m is tnn else nervo.tensor)([1.0, 2.0, 0.5]),
        label_smoothing=0.1), "class"),
    "ce_probs": (lambda m: m.CrossEntropyLoss(), "probs"),
    "ce_spatial": (lambda m: m.CrossEntropyLoss(), "class_spatial"),
    "nll": (lambda m: m.NLLLoss(), "class_logp"),
}


def _loss_data(kind, rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    if kind == "float":
        return x, rng.standard_normal((4, 3)).astype(np.float32)
    if kind == "prob":
        return x, rng.uniform(0, 1, (4, 3)).astype(np.float32)
    if kind == "bce":
        return rng.uniform(0.05, 0.95, (4, 3)).astype(np.float32), \
            rng.uniform(0, 1, (4, 3)).astype(np.float32)
    if kind == "logprob":
        return np.log(rng.dirichlet(np.ones(3), 4)).astype(np.float32), \
            rng.dirichlet(np.ones(3), 4).astype(np.float32)
    if kind == "logprob_lt":
        return np.log(rng.dirichlet(np.ones(3), 4)).astype(np.float32), \
            np.log(rng.dirichlet(np.ones(3), 4)).astype(np.float32)
    if kind == "class":
        return x, np.array([0, 2, 1, 2], np.int64)
    if kind == "class_logp":
        return np.log(rng.dirichlet(np.ones(3), 4)).astype(np.float32), np.array([0, 2, 1, 2])
    if kind == "probs":
        return x, rng.dirichlet(np.ones(3), 4).astype(np.float32)
    if kind == "class_spatial":
        return rng.standard_normal((2, 3, 4, 5)).astype(np.float32), \
            rng.integers(0, 3, (2, 4, 5)).astype(np.int64)
    raise KeyError(kind)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_matches_torch(name):
    make, kind = LOSSES[name]
    x, y = _loss_data(kind, np.random.default_rng(3))
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    nx = nervo.tensor(x, requires_grad=True)
    tl = make(tnn)(tx, torch.from_numpy(y))
    nl = make(nn)(nx, nervo.from_numpy(y))
    np.testing.assert_allclose(nl.numpy(), tl.detach().numpy(), rtol=RTOL, atol=ATOL)
    g = np.random.default_rng(1).standard_normal(tl.shape).astype(np.float32)
    tl.backward(torch.from_numpy(g))
    nl.backward(nervo.from_numpy(g))
    np.testing.assert_allclose(nx.grad.numpy(), tx.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_losses_finite_at_extreme_logits():
    x = nervo.tensor([[100.0, -100.0, 0.0], [-150.0, 150.0, 3.0]], requires_grad=True)
    ce = F.cross_entropy(x, nervo.tensor([1, 0]))
    ce.backward()
    assert np.isfinite(ce.item()) and np.isfinite(x.grad.numpy()).all()
    x2 = nervo.tensor([[200.0, -200.0]], requires_grad=True)
    b = F.binary_cross_entropy_with_logits(x2, nervo.tensor([[0.0, 1.0]]))
    b.backward()
    assert np.isfinite(b.item()) and np.isfinite(x2.grad.numpy()).all()
    assert abs(b.item() - 200.0) < 1e-3


# ---------------------------------------------------------------------------- float64 checks
def _r(*s, seed=0):
    return np.random.default_rng(seed).standard_normal(s)


FUNCTIONAL = {
    "linear": (lambda x, w, b: F.linear(x, w, b), [(3, 4), (5, 4), (5,)]),
    "linear_relu": (lambda x, w, b: F.linear(x, w, b, "relu"), [(3, 4), (5, 4), (5,)]),
    "linear_tanh": (lambda x, w, b: F.linear(x, w, b, "tanh"), [(3, 4), (5, 4), (5,)]),
    "bilinear": (lambda a, b, w: F.bilinear(a, b, w), [(2, 3), (2, 4), (2, 3, 4)]),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
               [(2, 3, 5, 5), (4, 3, 3, 3), (4,)]),
    "conv2d_groups": (lambda x, w: F.conv2d(x, w, None, 1, 1, 2, 2), [(1, 4, 5, 5), (2, 2, 2, 2)]),
    "conv1d": (lambda x, w: F.conv1d(x, w, padding=1), [(2, 3, 6), (2, 3, 3)]),
    "conv_transpose2d": (lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1,
                                                            output_padding=1),
                         [(1, 3, 3, 3), (3, 2, 3, 3), (2,)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), [(2, 2, 4, 4)]),
    "max_pool2d_pad": (lambda x: F.max_pool2d(x, 3, 2, 1), [(1, 2, 5, 5)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, 2, 1), [(1, 2, 5, 5)]),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [(1, 2, 5, 4)]),
    "batch_norm_train": (lambda x, w, b: F.batch_norm(x, None, None, w, b, True),
                         [(4, 3, 2, 2), (3,), (3,)]),
    "batch_norm_eval": (lambda x, w, b: F.batch_norm(
        x, nervo.tensor(np.array([0.1, -0.2, 0.3])), nervo.tensor(np.array([1.5, 0.5, 2.0])),
        w, b, False), [(4, 3), (3,), (3,)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (4,), w, b), [(3, 4), (4,), (4,)]),
    "group_norm": (lambda x, w, b: F.group_norm(x, 2, w, b), [(2, 4, 3), (4,), (4,)]),
    "embedding": (lambda w: F.embedding(nervo.tensor([[0, 2], [2, 3]]), w),
                  [(4, 3)]),
    "prelu": (lambda x, w: F.prelu(x, w), [(2, 3, 4), (3,)]),
    "cross_entropy": (lambda x: F.cross_entropy(x, nervo.tensor([0, 2, 1])), [(3, 4)]),
    "cross_entropy_smooth": (lambda x: F.cross_entropy(x, nervo.tensor([0, 2, 1]),
                                                       label_smoothing=0.3), [(3, 4)]),
    "nll": (lambda x: F.nll_loss(x, nervo.tensor([0, 2, 1])), [(3, 4)]),
    "mse": (lambda a, b: F.mse_loss(a, b), [(3, 4), (3, 4)]),
    "huber": (lambda a, b: F.huber_loss(a, b, delta=0.5), [(3, 4), (3, 4)]),
    "bce_logits": (lambda a: F.binary_cross_entropy_with_logits(
        a, nervo.tensor(np.random.default_rng(2).uniform(0, 1, (3, 4)))), [(3, 4)]),
    "kl_div": (lambda a: F.kl_div(a, nervo.tensor(np.full((3, 4), 0.25)),
                                  reduction="batchmean"), [(3, 4)]),
    "normalize": (lambda a: F.normalize(a, dim=1), [(3, 4)]),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONAL))
def test_functional_gradcheck_float64(name):
    fn, shapes = FUNCTIONAL[name]
    arrays = [_r(*s, seed=i) for i, s in enumerate(shapes)]
    if name == "max_pool2d" or name == "max_pool2d_pad":
        arrays[0] = np.random.default_rng(0).permutation(arrays[0].size).reshape(shapes[0]) / 7.0
    if name == "linear_relu":
        arrays[2] = arrays[2] + 0.05  # keep pre-activations away from the kink
    gradcheck(fn, *arrays, what=name)
