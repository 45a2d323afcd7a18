"""Higher-order gradients (create_graph=True): every differentiable op is checked twice by float64
central differences, and Hessian-vector products and a WGAN-GP gradient penalty are compared with
torch; ops that are not twice differentiable raise a clear RuntimeError."""
import numpy as np
import pytest

import nervo
import nervo.functional as F
from tests.gradcheck import gradgradcheck
from tests.test_tensor import BINARY, SHAPES, UNARY, _kink_free


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_second_order(name, rng):
    x = _kink_free(rng, (3, 4))
    if name in ("clamp", "hardtanh"):
        x = np.where(np.abs(np.abs(x) - 0.35) < 0.06, 0.7, x)
    gradgradcheck(UNARY[name], x, what=name)


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", SHAPES[:4], ids=str)
def test_binary_second_order(name, shapes, rng):
    a = _kink_free(rng, shapes[0])
    b = _kink_free(rng, shapes[1]) + 0.01
    gradgradcheck(BINARY[name], a, b, what=name)


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)),
                                   ((2, 3, 4), (2, 4, 5)), ((3, 4), (2, 4, 5)), ((4,), (4,))],
                         ids=str)
def test_matmul_second_order(sa, sb, rng):
    gradgradcheck(lambda a, b: a @ b, rng.standard_normal(sa), rng.standard_normal(sb),
                  what="matmul")


def test_scalar_operand_ops_second_order(rng):
    x = _kink_free(rng, (3, 4))
    for name, fn in {"mul_scalar": lambda a: a * 1.5, "div_scalar": lambda a: a / 3.0,
                     "sub_scalar": lambda a: a - 2.0, "pow3": lambda a: a ** 3,
                     "cat": lambda a: F.cat([a, a * a], 0), "max_all": lambda a: (a * a).max(),
                     "amin": lambda a: (a * a).amin(0), "min": lambda a: a.min(1)[0] * a.sum(),
                     "where": lambda a: F.where(a.detach() > 0, a * a, a)}.items():
        gradgradcheck(fn, x, what=name)


@pytest.mark.parametrize("act", [None, "relu", "sigmoid", "tanh"])
def test_linear_second_order(act, rng):
    gradgradcheck(lambda x, w, b: F.linear(x, w, b, activation=act),
                  rng.standard_normal((3, 4)) + 0.1, rng.standard_normal((5, 4)),
                  rng.standard_normal(5), what=f"linear-{act}")
    gradgradcheck(lambda x, w: F.linear(x, w) ** 2, rng.standard_normal((2, 3, 4)),
                  rng.standard_normal((5, 4)), what="linear-3d")


@pytest.mark.parametrize("cfg", [dict(), dict(stride=2, padding=1), dict(dilation=2, padding=2),
                                 dict(groups=2, stride=(2, 1))], ids=str)
def test_conv2d_second_order(cfg, rng):
    x = rng.standard_normal((2, 4, 6, 5))
    w = rng.standard_normal((4, 4 // cfg.get("groups", 1), 3, 3))
    b = rng.standard_normal(4)
    gradgradcheck(lambda x, w, b: F.conv2d(x, w, b, **cfg) ** 2, x, w, b, what=f"conv2d {cfg}")


def test_conv2d_fused_relu_and_conv1d_second_order(rng):
    x = rng.standard_normal((2, 3, 5, 5))
    w = rng.standard_normal((4, 3, 3, 3))
    gradgradcheck(lambda x, w: F.tanh(F.conv2d(x, w, activation="relu")), x, w, what="conv-relu")
    gradgradcheck(lambda x, w: F.conv1d(x, w, padding=1) ** 2, rng.standard_normal((2, 3, 7)),
                  rng.standard_normal((2, 3, 3)), what="conv1d")


def test_conv_transpose2d_second_order(rng):
    x = rng.standard_normal((2, 3, 4, 4))
    w = rng.standard_normal((3, 2, 3, 3))
    b = rng.standard_normal(2)
    gradgradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1,
                                                     output_padding=1) ** 2, x, w, b,
                  what="conv_transpose2d")


def test_third_order_conv_weight_grad(rng):
    # The weight gradient of conv2d is itself a recorded op; differentiate it twice more.
    x = rng.standard_normal((1, 2, 5, 5))
    w = rng.standard_normal((3, 2, 3, 3))
    gradgradcheck(lambda x, w: nervo.grad((F.conv2d(x, w, stride=2) ** 2).sum(), w,
                                          create_graph=True)[0], x, w, what="conv wgrad")


def test_norm_layers_second_order(rng):
    x = rng.standard_normal((3, 4, 2, 2))
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    gradgradcheck(lambda x, w, b: F.layer_norm(x, (2, 2), w.reshape(2, 2), b.reshape(2, 2)) ** 2,
                  x, w, b, what="layer_norm")
    gradgradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True) ** 2,
                  x, w, b, what="batch_norm")
    rm, rv = nervo.tensor(rng.standard_normal(4)), nervo.tensor(rng.uniform(0.5, 2, 4))
    gradgradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False) ** 2,
                  x, w, b, what="batch_norm-eval")
    gradgradcheck(lambda x, w, b: F.group_norm(x, 2, w, b) ** 2, x, w, b, what="group_norm")


def test_losses_second_order(rng):
    x = rng.standard_normal((4, 3))
    y = rng.standard_normal((4, 3))
    p = rng.uniform(0.1, 0.9, (4, 3))
    cls = nervo.tensor([0, 2, 1, 2])
    for name, fn, args in [
            ("mse", lambda a, b: F.mse_loss(a, b), (x, y)),
            ("mse-none", lambda a, b: F.mse_loss(a, b, reduction="none") ** 2, (x, y)),
            ("huber", lambda a, b: F.huber_loss(a * 3, b), (x, y)),
            ("smooth_l1", lambda a, b: F.smooth_l1_loss(a * 3, b, beta=0.5), (x, y)),
            ("bce_logits", lambda a, b: F.binary_cross_entropy_with_logits(a, b.sigmoid()),
             (x, y)),
            ("bce", lambda a: F.binary_cross_entropy(a, nervo.tensor(p[::-1].copy())), (p,)),
            ("kl_div", lambda a, b: F.kl_div(F.log_softmax(a, 1), b.softmax(1),
                                             reduction="batchmean"), (x, y)),
            ("ce", lambda a: F.cross_entropy(a, cls), (x,)),
            ("ce-smooth-weight", lambda a: F.cross_entropy(
                a, cls, weight=nervo.tensor([1.0, 2.0, 0.5], dtype=nervo.float64),
                label_smoothing=0.2), (x,)),
            ("ce-ignore-sum", lambda a: F.cross_entropy(a, nervo.tensor([0, -100, 1, 2]),
                                                        reduction="sum"), (x,)),
            ("ce-probs", lambda a: F.cross_entropy(a, F.softmax(nervo.tensor(y), 1),
                                                   label_smoothing=0.1), (x,)),
            ("nll", lambda a: F.nll_loss(F.log_softmax(a, 1), cls, reduction="none"), (x,))]:
        gradgradcheck(fn, *args, what=name)


def test_embedding_prelu_bilinear_second_order(rng):
    idx = nervo.tensor([[1, 3], [0, 1]])
    gradgradcheck(lambda w: F.embedding(idx, w, padding_idx=0) ** 2, rng.standard_normal((4, 3)),
                  what="embedding")
    gradgradcheck(lambda x, w: F.prelu(x, w) ** 2, _kink_free(rng, (2, 3, 2)),
                  rng.standard_normal(3), what="prelu")
    gradgradcheck(lambda a, b, w: F.bilinear(a, b, w), rng.standard_normal((2, 3)),
                  rng.standard_normal((2, 2)), rng.standard_normal((4, 3, 2)), what="bilinear")


# ---------------------------------------------------------------------------- against torch
def _twin(torch, layers_n, layers_t, seed=0):
    """Copy a nervo Sequential's parameters into its torch twin."""
    sd = {k: torch.tensor(v.numpy().copy()) for k, v in layers_n.state_dict().items()}
    layers_t.load_state_dict(sd)


def _mlp(nn, act):
    return nn.Sequential(nn.Linear(6, 16), act(), nn.Linear(16, 8), act(), nn.Linear(8, 1))


ACTS = ["Tanh", "ReLU", "Sigmoid", "Softplus", "GELU"]


@pytest.mark.parametrize("act", ACTS)
def test_gradient_penalty_matches_torch(act):
    """WGAN-GP: ||d D(x_hat)/d x_hat||^2 penalty backpropagated into D's parameters."""
    torch = pytest.importorskip("torch")
    nervo.manual_seed(0)
    dn = _mlp(nervo.nn, getattr(nervo.nn, act))
    dt = _mlp(torch.nn, getattr(torch.nn, act)).double()
    dn = dn.double()
    _twin(torch, dn, dt)
    rng = np.random.default_rng(1)
    xh = rng.standard_normal((5, 6))

    xn = nervo.tensor(xh, requires_grad=True)
    out = dn(xn)
    g, = nervo.grad(out.sum(), xn, create_graph=True)
    gp = ((g.norm(2, dim=1) - 1) ** 2).mean() * 10 + out.mean()
    gp.backward()

    xt = torch.tensor(xh, requires_grad=True)
    ot = dt(xt)
    gt, = torch.autograd.grad(ot.sum(), xt, create_graph=True)
    gpt = ((gt.norm(2, dim=1) - 1) ** 2).mean() * 10 + ot.mean()
    gpt.backward()

    np.testing.assert_allclose(gp.item(), gpt.item(), rtol=1e-10)
    np.testing.assert_allclose(g.detach().numpy(), gt.detach().numpy(), rtol=1e-9, atol=1e-12)
    pn = dict(dn.named_parameters())
    for k, p in dt.named_parameters():
        np.testing.assert_allclose(pn[k].grad.numpy(), p.grad.numpy(), rtol=1e-8, atol=1e-11,
                                   err_msg=f"{act} {k}")
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-8, atol=1e-11)


def test_gradient_penalty_float32_fused_relu_matches_torch():
    torch = pytest.importorskip("torch")
    nervo.manual_seed(0)
    dn = _mlp(nervo.nn, nervo.nn.ReLU)  # Sequential fuses Linear+ReLU into one GEMM
    dt = _mlp(torch.nn, torch.nn.ReLU)
    _twin(torch, dn, dt)
    xh = np.random.default_rng(2).standard_normal((8, 6)).astype(np.float32)
    xn = nervo.tensor(xh, requires_grad=True)
    g, = nervo.grad(dn(xn).sum(), xn, create_graph=True)
    ((g.norm(2, dim=1) - 1) ** 2).mean().backward()
    xt = torch.tensor(xh, requires_grad=True)
    gt, = torch.autograd.grad(dt(xt).sum(), xt, create_graph=True)
    ((gt.norm(2, dim=1) - 1) ** 2).mean().backward()
    pn = dict(dn.named_parameters())
    for k, p in dt.named_parameters():
        # NOTE: a ReLU net's input gradient does not depend on the biases: torch returns zeros
        # for them (its relu double-backward emits a zero tensor), nervo leaves .grad None.
        got = pn[k].grad.numpy() if pn[k].grad is not None else np.zeros(p.shape)
        want = p.grad.numpy() if p.grad is not None else np.zeros(p.shape)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=k)


def test_hessian_vector_product_matches_torch():
    """Hv of a cross-entropy loss w.r.t. all parameters of a small MLP (Pearlmutter trick)."""
    torch = pytest.importorskip("torch")
    nervo.manual_seed(0)
    mk = lambda nn: nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))  # noqa: E731
    mn, mt = mk(nervo.nn).double(), mk(torch.nn).double()
    _twin(torch, mn, mt)
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    vs = [rng.standard_normal(p.shape) for p in mn.parameters()]

    pn = list(mn.parameters())
    gs = nervo.grad(F.cross_entropy(mn(nervo.tensor(x)), nervo.tensor(y)), pn, create_graph=True)
    dot = sum((g * nervo.tensor(v)).sum() for g, v in zip(gs, vs))
    hv = nervo.grad(dot, pn)

    pt = list(mt.parameters())
    gts = torch.autograd.grad(torch.nn.functional.cross_entropy(mt(torch.tensor(x)),
                                                                torch.tensor(y)), pt,
                              create_graph=True)
    dott = sum((g * torch.tensor(v)).sum() for g, v in zip(gts, vs))
    hvt = torch.autograd.grad(dott, pt)
    for a, b in zip(hv, hvt):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)


def test_conv_double_backward_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((4, 3, 3, 3))

    def run(mod, F_, tensor):
        xx = tensor(x, requires_grad=True)
        ww = tensor(w, requires_grad=True)
        y = F_.conv2d(xx, ww, stride=2, padding=1)
        gx, gw = mod.grad((F_.softplus(y)).sum(), [xx, ww], create_graph=True)
        pen = (gx * gx).sum() + (gw ** 3).sum()
        return [t.detach().numpy() for t in mod.grad(pen, [xx, ww])]

    got = run(nervo, F, nervo.tensor)
    want = run(torch.autograd, torch.nn.functional, torch.tensor)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)


def test_backward_create_graph_gives_grad_with_graph():
    torch = pytest.importorskip("torch")
    x = nervo.tensor([0.5, -1.0, 2.0], requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad and x.grad.grad_fn is not None
    g1 = x.grad
    x.grad = None
    g1.sum().backward()
    xt = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    (xt ** 3).sum().backward(create_graph=True)
    g1t = xt.grad
    xt.grad = None
    g1t.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy())
    # accumulation with create_graph stays out of place and differentiable
    y = nervo.tensor([1.0, 2.0], requires_grad=True)
    (y * y).sum().backward(create_graph=True)
    first = y.grad
    (y * y).sum().backward(create_graph=True)
    np.testing.assert_allclose(first.numpy(), [2, 4])
    np.testing.assert_allclose(y.grad.numpy(), [4, 8])
    assert y.grad.grad_fn is not None


def test_create_graph_retains_graph_by_default():
    x = nervo.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp()).sum()
    nervo.grad(y, x, create_graph=True)
    g, = nervo.grad(y, x)  # graph still there (retain_graph defaults to create_graph)
    np.testing.assert_allclose(g.numpy(), np.exp([1.0, 2.0]), rtol=1e-6)


def test_pooling_second_order(rng):
    x = rng.standard_normal((2, 2, 5, 6))
    gradgradcheck(lambda x: F.max_pool2d(x * x, 2, stride=(2, 1), padding=1), x, what="max_pool")
    gradgradcheck(lambda x: F.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True,
                                         count_include_pad=False) ** 2, x, what="avg_pool")
    gradgradcheck(lambda x: F.adaptive_avg_pool2d(x, (2, 3)) ** 2, x, what="adaptive_avg_pool")
    gradgradcheck(lambda x: F.max_pool1d(x[0] * x[0], 2), x, what="max_pool1d")


def test_pooling_double_backward_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 6, 6))
    w = rng.standard_normal((4, 3, 3, 3))

    def run(mod, F_, tensor):
        xx = tensor(x, requires_grad=True)
        ww = tensor(w, requires_grad=True)
        h = F_.max_pool2d(F_.tanh(F_.conv2d(xx, ww, padding=1)), 2)
        y = F_.adaptive_avg_pool2d(F_.avg_pool2d(h, 2, 1), 1).sum()
        gx, = mod.grad(y, [xx], create_graph=True)
        return mod.grad((gx * gx).sum(), [ww])[0].detach().numpy()

    np.testing.assert_allclose(run(nervo, F, nervo.tensor),
                               run(torch.autograd, torch.nn.functional, torch.tensor),
                               rtol=1e-9, atol=1e-11)


def test_not_twice_differentiable_ops_raise():
    # An op registered without a differentiable backward (as a user extension or a kernel-only
    # layer would be) refuses create_graph instead of returning a constant gradient.
    from nervo.functional.basic import _node
    x = nervo.randn(3, requires_grad=True)
    y = _node(x.numpy() * 2, (x,), lambda g: (g * 2,), "CustomKernelBackward")
    with pytest.raises(RuntimeError, match="CustomKernelBackward is not twice differentiable"):
        nervo.grad(y.sum(), x, create_graph=True)
    g, = nervo.grad(y.sum(), x)  # first order still works
    np.testing.assert_allclose(g.numpy(), [2, 2, 2])
    z = nervo.tensor([1.0, 0.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="zeros"):
        nervo.grad(z.prod(), z, create_graph=True)


def test_plain_backward_does_not_write_into_a_graph_gradient():
    x = nervo.tensor([1.0, 2.0], requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    g1 = x.grad
    snapshot = g1.detach().numpy().copy()
    (x * 1).sum().backward()  # accumulates out of place, like torch
    np.testing.assert_array_equal(g1.numpy(), snapshot)
    np.testing.assert_allclose(x.grad.numpy(), snapshot + 1)


def test_jvp_by_double_vjp_and_hooks_under_create_graph():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a, v = rng.standard_normal(4), rng.standard_normal(4)

    def run(mod, tensor):
        x = tensor(a, requires_grad=True)
        y = x.sin() * x
        seen = []
        y.register_hook(lambda g: seen.append(g.requires_grad) or g * 2)
        u = tensor(np.ones(4), requires_grad=True)  # dummy cotangent
        g, = mod.grad(y, x, u, create_graph=True)
        jvp, = mod.grad(g, u, tensor(v))
        return jvp.detach().numpy(), seen
    got, seen = run(nervo, nervo.tensor)
    want, seen_t = run(torch.autograd, torch.tensor)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert seen == seen_t == [True]


def test_gradient_penalty_cnn_critic_matches_torch():
    """A DCGAN-style critic (strided convs, LeakyReLU, instance norm, linear head)."""
    torch = pytest.importorskip("torch")

    def critic(nn):
        return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
                             nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.GroupNorm(8, 8),
                             nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(8 * 2 * 2, 1))
    nervo.manual_seed(0)
    cn, ct = critic(nervo.nn).double(), critic(torch.nn).double()
    _twin(torch, cn, ct)
    x = np.random.default_rng(6).standard_normal((3, 1, 7, 7))

    def run(mod, model, tensor):
        xx = tensor(x, requires_grad=True)
        g, = mod.grad(model(xx).sum(), xx, create_graph=True)
        ((g.reshape(3, -1).norm(2, dim=1) - 1) ** 2).mean().backward()
        return {k: (np.zeros(tuple(p.shape)) if p.grad is None else p.grad.detach().numpy())
                for k, p in model.named_parameters()}

    got = run(nervo, cn, nervo.tensor)
    want = run(torch.autograd, ct, torch.tensor)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-8, atol=1e-11, err_msg=k)
