"""softmax / log_softmax: every backend and ISA level against the NumPy reference and torch."""
import numpy as np
import pytest

import nervo
import nervo.ops as ops
from nervo.ops.reference import softmax as ref
from tests.checks import check_tensor, tol

SHAPES_DIMS = [((1,), 0), ((7,), -1), ((3, 1), 1), ((5, 8), 1), ((4, 17), -1), ((2, 33), 1),
               ((3, 1000), 1), ((6, 5), 0), ((2, 9, 7), 1), ((2, 3, 4, 5), 2), ((3, 4, 19), 0),
               ((0, 5), 1), ((4, 0), 1), ((4, 0), 0), ((), 0)]


@pytest.mark.parametrize("shape,dim", SHAPES_DIMS, ids=[f"{s}-d{d}" for s, d in SHAPES_DIMS])
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_reference(backend, rng, shape, dim, log, dtype):
    x = np.asarray(rng.standard_normal(shape) * 5, dtype)
    dy = np.asarray(rng.standard_normal(shape), dtype)
    rtol, atol = tol("transcendental", dtype)
    f = ops.log_softmax if log else ops.softmax
    fb = ops.log_softmax_backward if log else ops.softmax_backward
    y = f(x, dim=dim)
    check_tensor(y, ref.softmax(x, dim, log), rtol, atol, "forward")
    dx = fb(dy, y, dim=dim)
    check_tensor(dx, ref.softmax_backward(dy, y, dim, log), rtol * 10, atol * 10, "backward")


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_matches_torch(backend, rng, log):
    torch = pytest.importorskip("torch")
    for shape, dim in [((64, 1000), 1), ((8, 10, 6), 1), ((5, 7), 0)]:
        x = (rng.standard_normal(shape) * 4).astype(np.float32)
        dy = rng.standard_normal(shape).astype(np.float32)
        tx = torch.from_numpy(x.copy()).requires_grad_(True)
        ty = (torch.log_softmax if log else torch.softmax)(tx, dim)
        ty.backward(torch.from_numpy(dy))
        y = (ops.log_softmax if log else ops.softmax)(x, dim=dim)
        # log_softmax values reach |x - max| ~ 30: an ulp there is 2e-6 (torch is as far from exact).
        check_tensor(y, ty.detach().numpy(), 1e-5, 5e-6, "forward vs torch")
        dx = (ops.log_softmax_backward if log else ops.softmax_backward)(dy, y, dim=dim)
        check_tensor(dx, tx.grad.numpy(), 1e-4, 1e-5, "backward vs torch")


def test_extremal_rows(backend):
    inf = np.inf
    x = np.array([[-1e4, -1e4], [1000.0, 0.0], [-inf, -inf], [-inf, 3.0], [100.0, -100.0],
                  [np.nan, 1.0], [inf, 1.0]], np.float32)
    y = ops.softmax(x)
    ly = ops.log_softmax(x)
    check_tensor(y[:2], [[0.5, 0.5], [1.0, 0.0]], 1e-6, 0, "softmax finite rows")
    assert np.isnan(y[2]).all() and np.isnan(ly[2]).all()      # all -inf: NaN, like torch
    assert y[3].tolist() == [0.0, 1.0] and ly[3].tolist() == [-inf, 0.0]
    check_tensor(ly[4], [0.0, -200.0], 1e-6, 0, "log_softmax at |x| = 100")
    assert np.isnan(y[5]).all() and np.isnan(ly[5]).all()
    assert np.isnan(y[6]).all()                                # inf - inf, like torch
    torch = pytest.importorskip("torch")
    check_tensor(y, torch.softmax(torch.from_numpy(x), 1).numpy(), 1e-6, 0, "vs torch")
    check_tensor(ly, torch.log_softmax(torch.from_numpy(x), 1).numpy(), 1e-6, 0, "vs torch (log)")
    assert ops.softmax(np.zeros((3, 0), np.float32)).shape == (3, 0)


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_gradient_by_central_differences(backend, rng, log):
    x = rng.standard_normal((3, 5, 4))
    dy = rng.standard_normal((3, 5, 4))[:, ::-1]  # non-contiguous grad output
    f = ops.log_softmax if log else ops.softmax
    eps = 1e-6
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        num[i] = ((f(xp, dim=1) - f(xm, dim=1)) * dy).sum() / (2 * eps)
    dx = (ops.log_softmax_backward if log else ops.softmax_backward)(dy, f(x[:, :, :], dim=1), dim=1)
    check_tensor(dx, num, 1e-3, 1e-5, "gradcheck")


def test_layouts_and_out(backend, rng):
    x = rng.standard_normal((16, 40)).astype(np.float32)
    check_tensor(ops.softmax(x[::2, 1::3]), ops.softmax(np.ascontiguousarray(x[::2, 1::3])), 0, 0, "strided")
    check_tensor(ops.softmax(x.T, dim=0), ops.softmax(np.ascontiguousarray(x.T), dim=0), 0, 0, "transposed")
    y = x.copy()
    assert ops.log_softmax(y, out=y) is y
    check_tensor(y, ops.log_softmax(x), 0, 0, "in place")
    out = np.full_like(x, np.nan)
    ops.softmax(x, out=out)
    assert np.isfinite(out).all()


def test_bad_inputs(backend):
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="dim 2 is out of range"):
        ops.softmax(x, dim=2)
    with pytest.raises(TypeError, match="dim must be an int"):
        ops.softmax(x, dim=1.0)
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.softmax(x.astype(np.int32))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        ops.log_softmax([[1.0, 2.0]])
    with pytest.raises(ValueError, match="dy has shape"):
        ops.softmax_backward(np.zeros((2, 4), np.float32), x)
    with pytest.raises(TypeError, match="dtype"):
        ops.softmax_backward(x, x.astype(np.float64))
    with pytest.raises(ValueError, match="out has shape"):
        ops.softmax(x, out=np.zeros((3, 2), np.float32))


def test_threads_identical(backend, rng):
    x = rng.standard_normal((512, 300)).astype(np.float32)
    prev = nervo.get_num_threads()
    try:
        nervo.set_num_threads(1)
        a = ops.log_softmax(x), ops.softmax(x, dim=0)
        nervo.set_num_threads(2)
        b = ops.log_softmax(x), ops.softmax(x, dim=0)
    finally:
        nervo.set_num_threads(prev)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
