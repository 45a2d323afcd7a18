"""Losses and their gradients: every backend and ISA level against the NumPy reference and torch."""
import numpy as np
import pytest

import nervo
import nervo.ops as ops
from nervo.ops.reference import loss as ref
from tests.checks import check_tensor

# (rtol, atol) per dtype for losses (sums over rows/classes) and gradients.
# float64 runs through vmath exp, whose float64 polynomial is good to ~1e-8 relative (vmath.h).
TOL = {np.float32: (2e-5, 2e-6), np.float64: (2e-7, 1e-9)}

CE_OPTS = [{}, {"weight": True}, {"label_smoothing": 0.1}, {"weight": True, "label_smoothing": 0.3},
           {"ignore_index": 2}]


def _ce_kw(opts, C, dtype, rng):
    kw = dict(opts)
    if kw.get("weight"):
        kw["weight"] = (rng.random(C) + 0.2).astype(dtype)
    else:
        kw.pop("weight", None)
    return kw


@pytest.mark.parametrize("opts", CE_OPTS, ids=lambda o: "-".join(o) or "plain")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("R,C", [(1, 1), (5, 3), (17, 9), (64, 1000), (0, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_indices(backend, rng, opts, reduction, R, C, dtype):
    x = (rng.standard_normal((R, C)) * 4).astype(dtype)
    t = rng.integers(0, C, R)
    if R > 2:
        t[1] = opts.get("ignore_index", -100)
    kw = _ce_kw(opts, C, dtype, rng)
    loss, grad = ops.cross_entropy(x, t, reduction=reduction, return_grad=True, **kw)
    want, wgrad = ref.cross_entropy(x, t, reduction=reduction, **kw)
    rtol, atol = TOL[dtype]
    check_tensor(loss, np.asarray(want), rtol, atol, "loss")
    if reduction != "none" or R:
        check_tensor(grad, wgrad * (1 if reduction != "none" else 1), rtol, atol, "grad")
    # backward(dloss) agrees with the fused gradient
    dl = rng.standard_normal(R).astype(dtype) if reduction == "none" else 0.7
    g2 = ops.cross_entropy_backward(dl, x, t, reduction=reduction, **kw)
    scale = dl[:, None] if reduction == "none" else dl
    check_tensor(g2, wgrad * scale, rtol, atol, "backward")


@pytest.mark.parametrize("ls", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_probabilities(backend, rng, ls, weighted):
    x = (rng.standard_normal((33, 21)) * 3).astype(np.float32)
    q = rng.random((33, 21)).astype(np.float32)
    q /= q.sum(1, keepdims=True)
    w = (rng.random(21) + 0.5).astype(np.float32) if weighted else None
    for red in ("mean", "sum", "none"):
        loss, grad = ops.cross_entropy(x, q, weight=w, label_smoothing=ls, reduction=red, return_grad=True)
        want, wgrad = ref.cross_entropy(x, q, weight=w, label_smoothing=ls, reduction=red)
        check_tensor(loss, np.asarray(want), 2e-5, 2e-6, "loss")
        check_tensor(grad, wgrad, 2e-5, 2e-6, "grad")


def test_cross_entropy_vs_torch(backend, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    cases = [((64, 10), (64,)), ((4, 7, 3, 5), (4, 3, 5)), ((10,), ())]
    for xs, ts in cases:
        C = xs[0] if len(xs) == 1 else xs[1]
        x = (rng.standard_normal(xs) * 5).astype(np.float32)
        t = rng.integers(0, C, ts)
        w = (rng.random(C) + 0.1).astype(np.float32)
        for kw in ({}, {"label_smoothing": 0.15}, {"ignore_index": 1}):
            for red in ("mean", "sum", "none"):
                tx = torch.from_numpy(x.copy()).requires_grad_(True)
                tl = F.cross_entropy(tx, torch.from_numpy(np.asarray(t)), weight=torch.from_numpy(w),
                                     reduction=red, **kw)
                tl.sum().backward()
                loss, grad = ops.cross_entropy(x, t, weight=w, reduction=red, return_grad=True, **kw)
                check_tensor(loss, tl.detach().numpy(), 2e-5, 2e-6, f"{xs} {kw} {red} loss")
                check_tensor(grad, tx.grad.numpy(), 2e-5, 2e-6, f"{xs} {kw} {red} grad")
    # probabilities with smoothing, 3-D
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    q = rng.random((3, 5, 4)).astype(np.float32)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    tl = F.cross_entropy(tx, torch.from_numpy(q), label_smoothing=0.1)
    tl.backward()
    loss, grad = ops.cross_entropy(x, q, label_smoothing=0.1, return_grad=True)
    check_tensor(loss, tl.detach().numpy(), 2e-5, 2e-6, "prob loss")
    check_tensor(grad, tx.grad.numpy(), 2e-5, 2e-6, "prob grad")


def test_cross_entropy_extremes(backend):
    inf = np.inf
    x = np.array([[100.0, -100.0, 0.0], [-1e4, 1e4, 0.0], [-inf, 2.0, 1.0], [300.0, 300.0, -inf]],
                 np.float32)
    t = np.array([1, 0, 2, 1])
    loss, grad = ops.cross_entropy(x, t, reduction="none", return_grad=True)
    assert np.isfinite(loss).all() and np.isfinite(grad).all()
    check_tensor(loss, [200.0, 2e4, np.log(1 + np.e), np.log(2.0)], 1e-6, 1e-6, "values")
    assert grad[2, 0] == 0.0
    # everything ignored: mean is 0/0 = NaN like torch, gradient zero-weighted (NaN scale * 0)
    l = ops.cross_entropy(x, np.full(4, -100))
    assert np.isnan(l)
    assert ops.cross_entropy(np.zeros((0, 3), np.float32), np.zeros(0, np.int64), reduction="sum") == 0
    assert np.isnan(ops.cross_entropy(np.zeros((0, 3), np.float32), np.zeros(0, np.int64)))


def test_cross_entropy_gradient_by_central_differences(backend, rng):
    x = rng.standard_normal((4, 6))
    t = np.array([0, 5, 2, 2])
    w = rng.random(6) + 0.5
    kw = {"weight": w, "label_smoothing": 0.2}
    _, g = ops.cross_entropy(x, t, return_grad=True, **kw)
    eps = 1e-6
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        num[i] = (ops.cross_entropy(xp, t, **kw) - ops.cross_entropy(xm, t, **kw)) / (2 * eps)
    check_tensor(g, num, 1e-3, 1e-5, "gradcheck")


def test_nll_loss(backend, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((20, 7)).astype(np.float32)
    lp = ops.log_softmax(x)
    t = rng.integers(0, 7, 20)
    t[3] = -100
    w = (rng.random(7) + 0.1).astype(np.float32)
    for red in ("mean", "sum", "none"):
        tx = torch.from_numpy(lp.copy()).requires_grad_(True)
        tl = F.nll_loss(tx, torch.from_numpy(t), weight=torch.from_numpy(w), reduction=red)
        tl.sum().backward()
        loss, grad = ops.nll_loss(lp, t, weight=w, reduction=red, return_grad=True)
        check_tensor(loss, tl.detach().numpy(), 2e-5, 2e-6, f"nll {red}")
        check_tensor(grad, tx.grad.numpy(), 2e-5, 2e-6, f"nll grad {red}")
        dl = np.ones(20, np.float32) if red == "none" else 1.0
        check_tensor(ops.nll_loss_backward(dl, lp, t, weight=w, reduction=red), tx.grad.numpy(),
                     2e-5, 2e-6, "nll backward")


PW = [("mse", "mse_loss", {}), ("l1", "l1_loss", {}), ("smooth_l1", "smooth_l1_loss", {"beta": 0.5}),
      ("smooth_l1", "smooth_l1_loss", {"beta": 0.0}), ("huber", "huber_loss", {"delta": 1.5}),
      ("bce", "binary_cross_entropy", {}), ("bce", "binary_cross_entropy", {"weight": True}),
      ("bce_logits", "binary_cross_entropy_with_logits", {}),
      ("bce_logits", "binary_cross_entropy_with_logits", {"weight": True, "pos_weight": True}),
      ("kl_div", "kl_div", {}), ("kl_div", "kl_div", {"log_target": True})]
PW_IDS = [f"{f}-{'-'.join(kw)}" if kw else f for _, f, kw in PW]


def _pw_inputs(name, rng, shape, dtype):
    x = rng.standard_normal(shape).astype(dtype)
    y = rng.standard_normal(shape).astype(dtype)
    if name == "bce":
        x = rng.uniform(0.01, 0.99, shape).astype(dtype)
        y = rng.random(shape).astype(dtype)
    elif name == "bce_logits":
        x = (x * 5).astype(dtype)
        y = rng.random(shape).astype(dtype)
    elif name == "kl_div":
        y = rng.random(shape).astype(dtype)
        y.reshape(-1)[:3] = 0
    return x, y


def _pw_kw(kw, shape, dtype, rng):
    out = dict(kw)
    for k in ("weight", "pos_weight"):
        if out.get(k):
            out[k] = (rng.random(shape[-1:]) + 0.5).astype(dtype)
    return out


def _ref_args(name, kw, shape):
    a = kw.get("beta", kw.get("delta", 1.0 if kw.get("log_target") else 0.0))
    w = None if kw.get("weight") is None else np.broadcast_to(kw["weight"], shape)
    pw = None if kw.get("pos_weight") is None else np.broadcast_to(kw["pos_weight"], shape)
    return a, w, pw


@pytest.mark.parametrize("name,fn,kw", PW, ids=PW_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pointwise_losses(backend, rng, name, fn, kw, dtype):
    shape = (13, 7)
    x, y = _pw_inputs(name, rng, shape, dtype)
    kw = _pw_kw(kw, shape, dtype, rng)
    a, w, pw = _ref_args(name, kw, shape)
    el, eg = ref.pointwise(name, x, y, w, pw, a)
    rtol, atol = TOL[dtype]
    rtol, atol = rtol * 5, atol * 5
    f, fb = getattr(ops, fn), getattr(ops, fn + "_backward")
    reds = ["none", "sum", "mean"] + (["batchmean"] if name == "kl_div" else [])
    for red in reds:
        loss, grad = f(x, y, reduction=red, return_grad=True, **kw)
        div = {"none": 1, "sum": 1, "mean": x.size, "batchmean": shape[0]}[red]
        want = el if red == "none" else el.sum() / div
        check_tensor(loss, np.asarray(want), rtol, atol, f"{fn} {red} loss")
        check_tensor(grad, eg / div, rtol, atol, f"{fn} {red} grad")
        dl = rng.standard_normal(shape).astype(dtype) if red == "none" else np.asarray(1.7, dtype)
        check_tensor(fb(dl, x, y, reduction=red, **kw), eg / div * dl, rtol, atol, f"{fn} {red} backward")


@pytest.mark.parametrize("name,fn,kw", PW, ids=PW_IDS)
def test_pointwise_vs_torch(backend, rng, name, fn, kw):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    shape = (9, 5)
    x, y = _pw_inputs(name, rng, shape, np.float32)
    kw = _pw_kw(kw, shape, np.float32, rng)
    tkw = {k: (torch.from_numpy(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    for red in ("none", "mean", "sum"):
        tx = torch.from_numpy(x.copy()).requires_grad_(True)
        tl = getattr(F, fn)(tx, torch.from_numpy(y), reduction=red, **tkw)
        tl.sum().backward()
        loss, grad = getattr(ops, fn)(x, y, reduction=red, return_grad=True, **kw)
        check_tensor(loss, tl.detach().numpy(), 1e-5, 1e-6, f"{fn} {red} vs torch")
        check_tensor(grad, tx.grad.numpy(), 1e-5, 1e-6, f"{fn} {red} grad vs torch")


@pytest.mark.parametrize("name,fn,kw", [p for p in PW if p[0] not in ("l1",)],
                         ids=[i for p, i in zip(PW, PW_IDS) if p[0] not in ("l1",)])
def test_pointwise_gradient_by_central_differences(backend, rng, name, fn, kw):
    shape = (4, 5)
    x, y = _pw_inputs(name, rng, shape, np.float64)
    kw = _pw_kw(kw, shape, np.float64, rng)
    if name in ("smooth_l1", "huber"):
        x = y + rng.choice([-1, 1], shape) * rng.uniform(0.05, 3, shape)
        x = np.where(np.abs(np.abs(x - y) - kw.get("beta", kw.get("delta", 1))) < 1e-3, x + 0.01, x)
    f = getattr(ops, fn)
    _, g = f(x, y, reduction="sum", return_grad=True, **kw)
    eps = 1e-6
    num = np.zeros_like(x)
    for i in np.ndindex(shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        num[i] = (f(xp, y, reduction="sum", **kw) - f(xm, y, reduction="sum", **kw)) / (2 * eps)
    check_tensor(g, num, 1e-3, 1e-5, f"{fn} gradcheck")


def test_bce_with_logits_extremes(backend):
    x = np.array([100.0, -100.0, 1e4, -1e4, 0.0, -np.inf, np.inf], np.float32)
    y = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 0.0, 1.0], np.float32)
    loss, grad = ops.binary_cross_entropy_with_logits(x, y, reduction="none", return_grad=True)
    assert np.isfinite(loss[:5]).all() and np.isfinite(grad).all()
    check_tensor(loss[:5], [100.0, 100.0, 1e4, 1e4, np.log(2)], 1e-6, 1e-6, "values")
    torch = pytest.importorskip("torch")
    tl = torch.nn.functional.binary_cross_entropy_with_logits(torch.from_numpy(x), torch.from_numpy(y),
                                                              reduction="none").numpy()
    check_tensor(loss, tl, 1e-6, 1e-6, "inf logits like torch")  # (1-y) * -inf + inf: NaN in both
    l2, g2 = ops.binary_cross_entropy_with_logits(x[:5], y[:5], pos_weight=np.float32([3.0]),
                                                  reduction="none", return_grad=True)
    assert np.isfinite(l2).all() and np.isfinite(g2).all()


def test_loss_bad_inputs(backend):
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(IndexError, match="target 3 at position 1 is out of range for 3 classes"):
        ops.cross_entropy(x, np.array([0, 3, 1, 1]))
    with pytest.raises(IndexError, match="target -1"):
        ops.cross_entropy(x, np.array([0, -1, 1, 1]))
    with pytest.raises(IndexError, match="out of range"):
        ops.nll_loss(x, np.array([0, 1, 7, 1]))
    with pytest.raises(ValueError, match=r"target has shape \(3,\), expected \(4,\)"):
        ops.cross_entropy(x, np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="probability target has shape"):
        ops.cross_entropy(x, np.zeros((4, 2), np.float32))
    with pytest.raises(TypeError, match="target must hold"):
        ops.cross_entropy(x, np.zeros(4, bool))
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.cross_entropy(x.astype(np.float16), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="reduction must be one of"):
        ops.cross_entropy(x, np.zeros(4, np.int64), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        ops.cross_entropy(x, np.zeros(4, np.int64), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"weight has shape \(2,\), expected \(3,\)"):
        ops.cross_entropy(x, np.zeros(4, np.int64), weight=np.ones(2, np.float32))
    with pytest.raises(ValueError, match="0-d"):
        ops.cross_entropy(np.ones((), np.float32), np.zeros((), np.int64))
    with pytest.raises(ValueError, match="input has shape"):
        ops.mse_loss(x, np.zeros((3, 4), np.float32))
    with pytest.raises(TypeError, match="dtype"):
        ops.mse_loss(x, np.zeros((4, 3), np.float64))
    with pytest.raises(ValueError, match="outside"):
        ops.binary_cross_entropy(x + 2, x)
    with pytest.raises(ValueError, match="delta must be > 0"):
        ops.huber_loss(x, x, delta=0.0)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        ops.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(ValueError, match="dloss must be a scalar"):
        ops.mse_loss_backward(np.ones(3), x, x)
    with pytest.raises(ValueError, match="does not broadcast"):
        ops.binary_cross_entropy_with_logits(x, x, pos_weight=np.ones(2, np.float32))
    with pytest.raises(ValueError, match="reduction must be one of"):
        ops.mse_loss(x, x, reduction="batchmean")


def test_empty_and_threads(backend, rng):
    e = np.zeros((0, 5), np.float32)
    assert np.isnan(ops.mse_loss(e, e))
    assert ops.mse_loss(e, e, reduction="sum") == 0
    assert ops.l1_loss(e, e, reduction="none").shape == (0, 5)
    x = rng.standard_normal((300, 1000)).astype(np.float32)
    t = rng.integers(0, 1000, 300)
    y = rng.standard_normal(300_001).astype(np.float32)
    prev = nervo.get_num_threads()
    try:
        nervo.set_num_threads(1)
        a = ops.cross_entropy(x, t, return_grad=True), ops.mse_loss(y, y[::-1].copy())
        nervo.set_num_threads(2)
        b = ops.cross_entropy(x, t, return_grad=True), ops.mse_loss(y, y[::-1].copy())
    finally:
        nervo.set_num_threads(prev)
    assert np.array_equal(a[0][0], b[0][0]) and np.array_equal(a[0][1], b[0][1])
    assert np.array_equal(a[1], b[1])
