"""Pooling: every backend and ISA level against the NumPy reference and torch 2.13; NaN/-inf
windows; bad indices; bad hyper-parameters."""
import numpy as np
import pytest

import nervo.ops as ops
from nervo.ops.reference import pool as ref
from tests.checks import check_tensor

TOL = {np.float32: (2e-6, 1e-6), np.float64: (1e-12, 1e-12)}

MAX_CASES = [
    ((2, 3, 8, 8), dict(kernel_size=2)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1)),
    ((1, 2, 10, 11), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), dilation=(2, 1))),
    ((2, 2, 9, 9), dict(kernel_size=2, stride=2, ceil_mode=True)),
    ((2, 2, 10, 10), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((3, 5, 5), dict(kernel_size=3, stride=1)),             # unbatched
    ((0, 2, 4, 4), dict(kernel_size=2)),                     # empty batch
]


@pytest.mark.parametrize("xs,kw", MAX_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool2d(backend, rng, xs, kw, dtype):
    x = rng.standard_normal(xs).astype(dtype)
    y, idx = ops.max_pool2d(x, **kw)
    ry, ridx = ref.max_pool2d(x, **kw)
    check_tensor(y, ry, 0, 0, "max_pool2d")
    assert np.array_equal(idx, ridx)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = ops.max_pool2d_backward(dy, idx, x.shape)
    check_tensor(dx, ref.max_pool2d_backward(dy, idx, x.shape), *TOL[dtype], "max_pool2d backward")


AVG_CASES = [
    ((2, 3, 8, 8), dict(kernel_size=2)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ((2, 2, 10, 10), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((2, 2, 10, 10), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ((2, 2, 7, 7), dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0), divisor_override=5)),
    ((3, 6, 6), dict(kernel_size=2)),
]


@pytest.mark.parametrize("xs,kw", AVG_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_avg_pool2d(backend, rng, xs, kw, dtype):
    x = rng.standard_normal(xs).astype(dtype)
    y = ops.avg_pool2d(x, **kw)
    check_tensor(y, ref.avg_pool2d(x, **kw), *TOL[dtype], "avg_pool2d")
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = ops.avg_pool2d_backward(dy, x.shape, **kw)
    check_tensor(dx, ref.avg_pool2d_backward(dy, x.shape, **kw), *TOL[dtype], "avg_pool2d backward")


@pytest.mark.parametrize("xs,out", [((2, 3, 8, 8), 1), ((2, 3, 7, 9), (3, 4)), ((2, 3, 5, 5), (7, 2)),
                                    ((3, 6, 6), (None, 2))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adaptive_avg_pool2d(backend, rng, xs, out, dtype):
    x = rng.standard_normal(xs).astype(dtype)
    y = ops.adaptive_avg_pool2d(x, out)
    o = tuple(xs[-2 + i] if v is None else v for i, v in enumerate(out)) if isinstance(out, tuple) else out
    check_tensor(y, ref.adaptive_avg_pool2d(x, o), *TOL[dtype], "adaptive_avg_pool2d")
    dy = rng.standard_normal(y.shape).astype(dtype)
    check_tensor(ops.adaptive_avg_pool2d_backward(dy, x.shape),
                 ref.adaptive_avg_pool2d_backward(dy, x.shape), *TOL[dtype], "adaptive backward")


def test_pools_match_torch(backend, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((2, 3, 11, 10)).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_(True)
    for kw in (dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
               dict(kernel_size=2, dilation=2), dict(kernel_size=(2, 3), stride=(1, 2))):
        ty, tidx = F.max_pool2d(tx, return_indices=True, **kw)
        y, idx = ops.max_pool2d(x, **kw)
        check_tensor(y, ty.detach().numpy(), 0, 0, f"max_pool2d {kw}")
        assert np.array_equal(idx, tidx.numpy())
        dy = rng.standard_normal(y.shape).astype(np.float32)
        tx.grad = None
        ty.backward(torch.from_numpy(dy))
        check_tensor(ops.max_pool2d_backward(dy, idx, x.shape), tx.grad.numpy(), 1e-6, 1e-6, "max bwd")
    for kw in (dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
               dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
               dict(kernel_size=2, divisor_override=3)):
        ty = F.avg_pool2d(tx, **kw)
        y = ops.avg_pool2d(x, **kw)
        check_tensor(y, ty.detach().numpy(), 1e-6, 1e-6, f"avg_pool2d {kw}")
        dy = rng.standard_normal(y.shape).astype(np.float32)
        tx.grad = None
        ty.backward(torch.from_numpy(dy))
        check_tensor(ops.avg_pool2d_backward(dy, x.shape, **kw), tx.grad.numpy(), 1e-6, 1e-6, "avg bwd")
    ty = F.adaptive_avg_pool2d(tx, (4, 3))
    check_tensor(ops.adaptive_avg_pool2d(x, (4, 3)), ty.detach().numpy(), 1e-6, 1e-6, "adaptive")


def test_pool1d_matches_torch(backend, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((2, 3, 17)).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_(True)
    ty, tidx = F.max_pool1d(tx, 3, 2, 1, ceil_mode=True, return_indices=True)
    y, idx = ops.max_pool1d(x, 3, 2, 1, ceil_mode=True)
    check_tensor(y, ty.detach().numpy(), 0, 0, "max_pool1d")
    assert np.array_equal(idx, tidx.numpy())
    dy = rng.standard_normal(y.shape).astype(np.float32)
    ty.backward(torch.from_numpy(dy))
    check_tensor(ops.max_pool1d_backward(dy, idx, x.shape), tx.grad.numpy(), 1e-6, 1e-6, "max1d bwd")
    tx.grad = None
    ty = F.avg_pool1d(tx, 4, 3, 2, count_include_pad=False)
    y = ops.avg_pool1d(x, 4, 3, 2, count_include_pad=False)
    check_tensor(y, ty.detach().numpy(), 1e-6, 1e-6, "avg_pool1d")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    ty.backward(torch.from_numpy(dy))
    check_tensor(ops.avg_pool1d_backward(dy, x.shape, 4, 3, 2, count_include_pad=False),
                 tx.grad.numpy(), 1e-6, 1e-6, "avg1d bwd")


def test_max_pool_nan_and_inf_windows(backend):
    x = np.full((1, 1, 4, 4), -np.inf, np.float32)
    x[0, 0, 0, 1] = np.nan
    x[0, 0, 2, 2] = np.nan
    x[0, 0, 3, 3] = np.nan
    x[0, 0, 1, 2] = 5.0
    y, idx = ops.max_pool2d(x, 2)
    assert np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 1
    assert y[0, 0, 0, 1] == 5.0 and idx[0, 0, 0, 1] == 6
    assert y[0, 0, 1, 0] == -np.inf and idx[0, 0, 1, 0] == 8      # all -inf: first element
    assert np.isnan(y[0, 0, 1, 1]) and idx[0, 0, 1, 1] == 15      # last NaN wins
    assert (idx >= 0).all() and (idx < 16).all()
    # Padding-only rows never give an index outside the plane.
    y, idx = ops.max_pool2d(np.full((1, 1, 3, 3), -np.inf, np.float32), 3, stride=1, padding=1)
    assert (idx >= 0).all() and (idx < 9).all()
    torch = pytest.importorskip("torch")
    ty, tidx = torch.nn.functional.max_pool2d(torch.from_numpy(x), 2, return_indices=True)
    assert np.array_equal(idx if False else ops.max_pool2d(x, 2)[1], tidx.numpy())


def test_bad_indices(backend):
    dy = np.ones((1, 1, 2, 2), np.float32)
    with pytest.raises(IndexError, match=r"\[0, 16\)"):
        ops.max_pool2d_backward(dy, np.array([[[[0, 1], [2, 16]]]], np.int64), (1, 1, 4, 4))
    with pytest.raises(IndexError):
        ops.max_pool2d_backward(dy, np.array([[[[0, -1], [2, 3]]]], np.int64), (1, 1, 4, 4))
    with pytest.raises(ValueError, match="indices has shape"):
        ops.max_pool2d_backward(dy, np.zeros((1, 1, 2, 3), np.int64), (1, 1, 4, 4))
    with pytest.raises(TypeError, match="int64"):
        ops.max_pool2d_backward(dy, np.zeros((1, 1, 2, 2), np.int32), (1, 1, 4, 4))
    with pytest.raises(ValueError, match="incompatible"):
        ops.max_pool2d_backward(dy, np.zeros((1, 1, 2, 2), np.int64), (1, 2, 4, 4))


@pytest.mark.parametrize("kw,exc,match", [
    (dict(kernel_size=0), ValueError, "kernel_size must be >= 1"),
    (dict(kernel_size=2, stride=0), ValueError, "stride"),
    (dict(kernel_size=2, padding=2), ValueError, "at most half"),
    (dict(kernel_size=2, dilation=0), ValueError, "dilation"),
    (dict(kernel_size=9), ValueError, "output size"),
    (dict(kernel_size=2 ** 62), ValueError, "out of range"),
    (dict(kernel_size=2.0), TypeError, "int"),
])
def test_bad_hyperparameters(backend, kw, exc, match):
    x = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(exc, match=match):
        ops.max_pool2d(x, **kw)


def test_bad_inputs(backend):
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.max_pool2d(np.zeros((1, 1, 4, 4), np.int64), 2)
    with pytest.raises(ValueError, match="x must be"):
        ops.avg_pool2d(np.zeros((4, 4), np.float32), 2)
    with pytest.raises(ValueError, match="output_size"):
        ops.adaptive_avg_pool2d(np.zeros((1, 1, 4, 4), np.float32), 0)
    with pytest.raises(ValueError, match="divisor_override"):
        ops.avg_pool2d(np.zeros((1, 1, 4, 4), np.float32), 2, divisor_override=0)
    with pytest.raises(ValueError, match="dy has shape"):
        ops.avg_pool2d_backward(np.zeros((1, 1, 3, 3), np.float32), (1, 1, 4, 4), 2)


def test_strided_input(backend, rng):
    x = rng.standard_normal((2, 3, 12, 12)).astype(np.float32)
    view = x[:, ::-1, ::2, 1::2]
    y1, i1 = ops.max_pool2d(view, 2)
    y2, i2 = ops.max_pool2d(np.ascontiguousarray(view), 2)
    assert np.array_equal(y1, y2) and np.array_equal(i1, i2)
