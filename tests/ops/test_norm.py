"""Normalization: every backend and ISA level against the float64 NumPy reference, torch 2.13
(including running statistics) and central differences; bad input."""
import numpy as np
import pytest

import nervo
import nervo.ops as ops
from nervo.ops.reference import norm as ref
from tests.checks import check_tensor

TOL = {np.float32: (2e-5, 2e-5), np.float64: (1e-10, 1e-10)}


@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 7), (3, 4, 5, 6), (2, 3, 1, 1), (0, 3, 4, 4)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_training(backend, rng, shape, affine, dtype):
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    C = shape[1]
    w = rng.standard_normal(C).astype(dtype) if affine else None
    b = rng.standard_normal(C).astype(dtype) if affine else None
    rm = rng.standard_normal(C).astype(dtype)
    rv = rng.random(C).astype(dtype) + 0.5
    rm0, rv0 = rm.copy(), rv.copy()
    y, mean, rstd = ops.batch_norm(x, w, b, rm, rv, training=True, momentum=0.3, eps=1e-4)
    if x.size == 0:
        assert y.shape == x.shape
        assert np.array_equal(rm, rm0) and np.array_equal(rv, rv0)
        return
    ry, rmean, rrstd, rrm, rrv = ref.batch_norm(x, w, b, rm0, rv0, True, 0.3, 1e-4)
    check_tensor(y, ry, *TOL[dtype], "y")
    check_tensor(mean, rmean, *TOL[dtype], "mean")
    check_tensor(rstd, rrstd, *TOL[dtype], "rstd")
    check_tensor(rm, rrm, *TOL[dtype], "running_mean")
    check_tensor(rv, rrv, *TOL[dtype], "running_var")
    dy = rng.standard_normal(shape).astype(dtype)
    dx, dw, db = ops.batch_norm_backward(dy, x, w, mean, rstd, training=True)
    rdx, rdw, rdb = ref.batch_norm_backward(dy, x, w, mean.astype(np.float64), rstd.astype(np.float64), True)
    check_tensor(dx, rdx, *TOL[dtype], "dx")
    check_tensor(dw, rdw, TOL[dtype][0], TOL[dtype][1] * 10, "dw")
    check_tensor(db, rdb, TOL[dtype][0], TOL[dtype][1] * 10, "db")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_eval(backend, rng, dtype):
    x = rng.standard_normal((4, 3, 5, 5)).astype(dtype)
    w, b = rng.standard_normal(3).astype(dtype), rng.standard_normal(3).astype(dtype)
    rm, rv = rng.standard_normal(3).astype(dtype), (rng.random(3) + 0.5).astype(dtype)
    rm0, rv0 = rm.copy(), rv.copy()
    y, mean, rstd = ops.batch_norm(x, w, b, rm, rv, training=False)
    assert np.array_equal(rm, rm0) and np.array_equal(rv, rv0)
    ry, *_ = ref.batch_norm(x, w, b, rm, rv, False, 0.1, 1e-5)
    check_tensor(y, ry, *TOL[dtype], "eval y")
    dy = rng.standard_normal(x.shape).astype(dtype)
    dx, dw, db = ops.batch_norm_backward(dy, x, w, mean, rstd, training=False)
    rdx, rdw, rdb = ref.batch_norm_backward(dy, x, w, mean.astype(np.float64), rstd.astype(np.float64), False)
    check_tensor(dx, rdx, *TOL[dtype], "eval dx")
    check_tensor(dw, rdw, *TOL[dtype], "eval dw")
    # No running statistics: batch statistics even in eval mode (torch's rule).
    y2, m2, _ = ops.batch_norm(x, w, b, None, None, training=False)
    check_tensor(m2, x.astype(np.float64).mean(axis=(0, 2, 3)), *TOL[dtype], "eval batch stats")


def test_batch_norm_matches_torch_with_running_stats(backend, rng):
    torch = pytest.importorskip("torch")
    bn = torch.nn.BatchNorm2d(4, momentum=0.2)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(rng.standard_normal(4).astype(np.float32)))
        bn.bias.copy_(torch.from_numpy(rng.standard_normal(4).astype(np.float32)))
    w, b = bn.weight.detach().numpy().copy(), bn.bias.detach().numpy().copy()
    rm = np.zeros(4, np.float32)
    rv = np.ones(4, np.float32)
    for step in range(3):
        x = (rng.standard_normal((5, 4, 6, 6)) * (step + 1)).astype(np.float32)
        tx = torch.from_numpy(x).requires_grad_(True)
        ty = bn(tx)
        dy = rng.standard_normal(x.shape).astype(np.float32)
        ty.backward(torch.from_numpy(dy))
        y, mean, rstd = ops.batch_norm(x, w, b, rm, rv, training=True, momentum=0.2)
        check_tensor(y, ty.detach().numpy(), 1e-5, 1e-5, "bn y vs torch")
        check_tensor(rm, bn.running_mean.numpy(), 1e-5, 1e-6, "running_mean vs torch")
        check_tensor(rv, bn.running_var.numpy(), 1e-5, 1e-6, "running_var vs torch")
        dx, dw, db = ops.batch_norm_backward(dy, x, w, mean, rstd)
        check_tensor(dx, tx.grad.numpy(), 1e-4, 1e-5, "bn dx vs torch")
        check_tensor(dw, bn.weight.grad.numpy(), 1e-4, 1e-4, "bn dw vs torch")
        check_tensor(db, bn.bias.grad.numpy(), 1e-4, 1e-4, "bn db vs torch")
        bn.weight.grad = bn.bias.grad = None
    bn.eval()
    x = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    y, _, _ = ops.batch_norm(x, w, b, rm, rv, training=False)
    check_tensor(y, bn(torch.from_numpy(x)).detach().numpy(), 1e-5, 1e-5, "bn eval vs torch")


@pytest.mark.parametrize("shape,ns", [((6, 10), (10,)), ((2, 3, 4, 5), (4, 5)), ((3, 7), 7),
                                      ((0, 4), (4,)), ((4, 300), (300,))])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm(backend, rng, shape, ns, affine, dtype):
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    nst = (ns,) if isinstance(ns, int) else ns
    w = rng.standard_normal(nst).astype(dtype) if affine else None
    b = rng.standard_normal(nst).astype(dtype) if affine else None
    y, mean, rstd = ops.layer_norm(x, ns, w, b, eps=1e-5)
    ry, rmean, rrstd = ref.layer_norm(x, nst, w, b, 1e-5)
    check_tensor(y, ry, *TOL[dtype], "ln y")
    check_tensor(mean, rmean, *TOL[dtype], "ln mean")
    check_tensor(rstd, rrstd, *TOL[dtype], "ln rstd")
    dy = rng.standard_normal(shape).astype(dtype)
    dx, dw, db = ops.layer_norm_backward(dy, x, ns, mean, rstd, w)
    rdx, rdw, rdb = ref.layer_norm_backward(dy, x, nst, w)
    check_tensor(dx, rdx, *TOL[dtype], "ln dx")
    check_tensor(dw, rdw, TOL[dtype][0], TOL[dtype][1] * 10, "ln dw")
    check_tensor(db, rdb, TOL[dtype][0], TOL[dtype][1] * 10, "ln db")


@pytest.mark.parametrize("shape,G", [((2, 6, 4, 4), 3), ((3, 4, 5), 2), ((2, 4, 3, 3), 4), ((2, 4), 1),
                                     ((0, 4, 2, 2), 2)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_group_norm(backend, rng, shape, G, affine, dtype):
    x = (rng.standard_normal(shape) * 2 - 1).astype(dtype)
    C = shape[1]
    w = rng.standard_normal(C).astype(dtype) if affine else None
    b = rng.standard_normal(C).astype(dtype) if affine else None
    y, mean, rstd = ops.group_norm(x, G, w, b, eps=1e-5)
    ry, rmean, rrstd = ref.group_norm(x, G, w, b, 1e-5)
    check_tensor(y, ry, *TOL[dtype], "gn y")
    check_tensor(mean, rmean, *TOL[dtype], "gn mean")
    dy = rng.standard_normal(shape).astype(dtype)
    dx, dw, db = ops.group_norm_backward(dy, x, G, mean, rstd, w)
    rdx, rdw, rdb = ref.group_norm_backward(dy, x, G, w)
    check_tensor(dx, rdx, *TOL[dtype], "gn dx")
    check_tensor(dw, rdw, TOL[dtype][0], TOL[dtype][1] * 10, "gn dw")
    check_tensor(db, rdb, TOL[dtype][0], TOL[dtype][1] * 10, "gn db")


def test_norms_match_torch(backend, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((3, 6, 5, 4)).astype(np.float32)
    w = rng.standard_normal(6).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    tx, tw, tb = (torch.from_numpy(a).requires_grad_(True) for a in (x, w, b))
    ty = F.group_norm(tx, 3, tw, tb)
    ty.backward(torch.from_numpy(dy))
    y, m, r = ops.group_norm(x, 3, w, b)
    check_tensor(y, ty.detach().numpy(), 1e-5, 1e-5, "gn vs torch")
    dx, dw, db = ops.group_norm_backward(dy, x, 3, m, r, w)
    check_tensor(dx, tx.grad.numpy(), 1e-4, 1e-5, "gn dx vs torch")
    check_tensor(dw, tw.grad.numpy(), 1e-4, 1e-4, "gn dw vs torch")
    check_tensor(db, tb.grad.numpy(), 1e-4, 1e-4, "gn db vs torch")
    lw = rng.standard_normal((5, 4)).astype(np.float32)
    lb = rng.standard_normal((5, 4)).astype(np.float32)
    tx, tw, tb = (torch.from_numpy(a).requires_grad_(True) for a in (x, lw, lb))
    ty = F.layer_norm(tx, (5, 4), tw, tb)
    ty.backward(torch.from_numpy(dy))
    y, m, r = ops.layer_norm(x, (5, 4), lw, lb)
    check_tensor(y, ty.detach().numpy(), 1e-5, 1e-5, "ln vs torch")
    dx, dw, db = ops.layer_norm_backward(dy, x, (5, 4), m, r, lw)
    check_tensor(dx, tx.grad.numpy(), 1e-4, 1e-5, "ln dx vs torch")
    check_tensor(dw, tw.grad.numpy(), 1e-4, 1e-4, "ln dw vs torch")
    check_tensor(db, tb.grad.numpy(), 1e-4, 1e-4, "ln db vs torch")


def _numgrad(f, arrs, grads, rng, eps=1e-6):
    for a, g in zip(arrs, grads):
        flat = a.reshape(-1)
        picks = rng.choice(flat.size, size=min(10, flat.size), replace=False)
        num = []
        for i in picks:
            old = flat[i]
            flat[i] = old + eps
            fp = f()
            flat[i] = old - eps
            fm = f()
            flat[i] = old
            num.append((fp - fm) / (2 * eps))
        check_tensor(g.reshape(-1)[picks], np.array(num), 1e-3, 1e-5, "gradcheck")


def test_gradients_by_central_differences(backend, rng):
    x = rng.standard_normal((3, 4, 3, 2))
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    dy = rng.standard_normal(x.shape)
    _, m, r = ops.batch_norm(x, w, b, None, None, training=True)
    _numgrad(lambda: float((ops.batch_norm(x, w, b, None, None, training=True)[0] * dy).sum()),
             (x, w, b), ops.batch_norm_backward(dy, x, w, m, r), rng)
    _, m, r = ops.group_norm(x, 2, w, b)
    _numgrad(lambda: float((ops.group_norm(x, 2, w, b)[0] * dy).sum()),
             (x, w, b), ops.group_norm_backward(dy, x, 2, m, r, w), rng)
    lw, lb = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    _, m, r = ops.layer_norm(x, (3, 2), lw, lb)
    _numgrad(lambda: float((ops.layer_norm(x, (3, 2), lw, lb)[0] * dy).sum()),
             (x, lw, lb), ops.layer_norm_backward(dy, x, (3, 2), m, r, lw), rng)


def test_deterministic_across_threads(backend, rng):
    x = rng.standard_normal((64, 16, 8, 8)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    w = rng.standard_normal(16).astype(np.float32)
    prev = nervo.get_num_threads()
    res = []
    try:
        for t in (1, 2):
            nervo.set_num_threads(t)
            y, m, r = ops.batch_norm(x, w, None, None, None, training=True)
            g = ops.batch_norm_backward(dy, x, w, m, r)
            ly, lm, lr = ops.layer_norm(x, (8, 8))
            lg = ops.layer_norm_backward(dy, x, (8, 8), lm, lr, np.ones((8, 8), np.float32))
            gy, gm, gr = ops.group_norm(x, 4, w)
            gg = ops.group_norm_backward(dy, x, 4, gm, gr, w)
            res.append((y, *g, ly, *lg, gy, *gg))
    finally:
        nervo.set_num_threads(prev)
    for a, b_ in zip(*res):
        assert np.array_equal(a, b_)


def test_bad_input(backend):
    x = np.zeros((4, 3, 2, 2), np.float32)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        ops.batch_norm(np.zeros((1, 3), np.float32), training=True)
    with pytest.raises(ValueError, match="weight has shape"):
        ops.batch_norm(x, np.zeros(4, np.float32), training=True)
    with pytest.raises(TypeError, match="never cast"):
        ops.batch_norm(x, None, None, np.zeros(3), np.ones(3), training=True)
    with pytest.raises(ValueError, match="both"):
        ops.batch_norm(x, None, None, np.zeros(3, np.float32), None, training=True)
    with pytest.raises(ValueError, match="contiguous"):
        ops.batch_norm(x, None, None, np.zeros(6, np.float32)[::2], np.ones(3, np.float32), training=True)
    with pytest.raises(ValueError, match="shape"):
        ops.batch_norm(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="num_groups"):
        ops.group_norm(x, 2)
    with pytest.raises(ValueError, match="num_groups"):
        ops.group_norm(x, 0)
    with pytest.raises(ValueError, match="normalized_shape"):
        ops.layer_norm(x, (3,))
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.layer_norm(x.astype(np.float16), (2,))
    with pytest.raises(ValueError, match="eps"):
        ops.layer_norm(x, (2,), eps=-1.0)
    with pytest.raises(ValueError, match="dy has shape"):
        ops.group_norm_backward(np.zeros((4, 3, 2, 1), np.float32), x, 3, np.zeros((4, 3), np.float32),
                                np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="mean has shape"):
        ops.group_norm_backward(x, x, 3, np.zeros((4, 2), np.float32), np.zeros((4, 3), np.float32))
