"""Convolutions: every backend and ISA level against the float64 NumPy reference, torch 2.13 and
central differences; bad input; determinism across thread counts."""
import numpy as np
import pytest

import nervo
import nervo.ops as ops
from nervo.ops.reference import conv as ref
from tests.checks import check_tensor

# Tolerances per dtype for a reduction of depth k (the conv's C/groups*R*S or N*P*Q):
# float32 rounding grows like sqrt(k) ulps of the magnitudes involved.
TOL = {np.float32: (1e-4, 1e-5), np.float64: (1e-10, 1e-11)}


def tol(dtype, k):
    rtol, atol = TOL[np.dtype(dtype).type]
    return rtol, atol * max(1.0, float(k)) ** 0.5 * 4


# (x shape, w shape, kwargs)
CASES = [
    ((2, 3, 9, 8), (4, 3, 3, 3), {}),
    ((2, 3, 9, 8), (4, 3, 3, 3), {"padding": 1}),
    ((2, 4, 10, 7), (6, 2, 3, 2), {"stride": 2, "padding": (1, 0), "groups": 2}),
    ((1, 2, 11, 12), (3, 2, 3, 3), {"stride": (2, 3), "dilation": (2, 1), "padding": 2}),
    ((3, 4, 8, 8), (4, 1, 3, 3), {"padding": 1, "groups": 4}),              # depthwise
    ((2, 5, 6, 7), (8, 5, 1, 1), {}),                                      # 1x1 as GEMM
    ((2, 5, 6, 7), (8, 5, 1, 1), {"stride": 2}),
    ((2, 3, 7, 9), (2, 3, 2, 4), {"padding": "same"}),                     # asymmetric same
    ((2, 3, 9, 9), (2, 3, 3, 3), {"padding": "same", "dilation": 2}),
    ((2, 3, 9, 9), (2, 3, 3, 3), {"padding": "valid"}),
    ((1, 2, 9, 10), (3, 2, 7, 7), {"padding": 3}),                         # 7x7
    ((4, 1, 12, 12), (5, 1, 3, 3), {"padding": 1}),                        # first layer
    ((4, 1, 12, 12), (5, 1, 5, 5), {"padding": 2}),
    ((2, 3, 12, 12), (5, 3, 3, 3), {"padding": 1, "stride": 2}),
    ((0, 3, 5, 5), (2, 3, 3, 3), {}),                                      # empty batch
    ((9, 2, 5, 5), (3, 2, 3, 3), {"padding": 1}),                          # batch > chunks
    # wide enough that the forward builds its column matrix in bands of output rows (CRS * Q *
    # 4 bytes > 512 KiB / rows): bands that start inside the padding, strides, dilation
    ((2, 64, 23, 21), (5, 64, 3, 3), {"padding": 1}),
    ((1, 64, 23, 21), (4, 32, 3, 3), {"padding": 2, "dilation": 2, "stride": (2, 1), "groups": 2}),
]
IDS = [f"{x}-{w}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for x, w, kw in CASES]


@pytest.mark.parametrize("xs,ws,kw", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_matches_reference(backend, rng, xs, ws, kw, dtype):
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    y = ops.conv2d(x, w, b, **kw)
    want = ref.conv2d(x, w, b, **kw)
    crs = ws[1] * ws[2] * ws[3]
    check_tensor(y, want, *tol(dtype, crs), "conv2d forward")
    yr = ops.conv2d(x, w, b, activation="relu", **kw)
    check_tensor(yr, np.maximum(want, 0), *tol(dtype, crs), "conv2d forward + relu")
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = ops.conv2d_backward(dy, x, w, **kw)
    rdx, rdw, rdb = ref.conv2d_backward(dy, x, w, **kw)
    npq = max(1, y.shape[0] * y.shape[2] * y.shape[3])
    check_tensor(dx, rdx, *tol(dtype, ws[0] * ws[2] * ws[3]), "conv2d dx")
    check_tensor(dw, rdw, *tol(dtype, npq), "conv2d dw")
    check_tensor(db, rdb, *tol(dtype, npq), "conv2d db")


def test_backward_needs_and_nonstrided_layouts(backend, rng):
    x = rng.standard_normal((3, 4, 9, 9)).astype(np.float32)
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((3, 6, 7, 7)).astype(np.float32)
    dx, dw, db = ops.conv2d_backward(dy, x, w, needs=(False, True, False))
    assert dx is None and db is None and dw.shape == w.shape
    # Non-contiguous, negative-stride and Fortran-order inputs give the contiguous result.
    xs = np.asfortranarray(x)[:, :, ::-1][:, :, ::-1]
    check_tensor(ops.conv2d(xs, w[..., ::-1][..., ::-1]), ops.conv2d(x, w), 0, 0, "layouts")
    dxa, _, _ = ops.conv2d_backward(np.asfortranarray(dy), x, w)
    check_tensor(dxa, ops.conv2d_backward(dy, x, w)[0], 0, 0, "dy layout")
    # out= pre-filled with NaN is fully overwritten; unbatched input works.
    out = np.full((3, 6, 7, 7), np.nan, np.float32)
    assert ops.conv2d(x, w, out=out) is out
    check_tensor(out, ops.conv2d(x, w), 0, 0, "out=")
    check_tensor(ops.conv2d(x[0], w), ops.conv2d(x, w)[0], 0, 0, "unbatched")


def test_empty_batch_gives_zero_weight_grads(backend):
    x = np.zeros((0, 3, 6, 6), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    y = ops.conv2d(x, w, np.ones(4, np.float32))
    assert y.shape == (0, 4, 4, 4)
    dx, dw, db = ops.conv2d_backward(np.zeros(y.shape, np.float32), x, w)
    assert dx.shape == x.shape
    assert np.array_equal(dw, np.zeros_like(w)) and np.array_equal(db, np.zeros(4, np.float32))


@pytest.mark.parametrize("kw", [{"stride": 2, "padding": 1}, {"padding": "same", "dilation": 2},
                                {"groups": 2, "padding": 1}])
def test_gradients_by_central_differences(backend, rng, kw):
    x = rng.standard_normal((2, 4, 6, 5))
    w = rng.standard_normal((4, 4 // kw.get("groups", 1), 3, 3))
    b = rng.standard_normal(4)
    dy = rng.standard_normal(ops.conv2d(x, w, b, **kw).shape)
    dx, dw, db = ops.conv2d_backward(dy, x, w, **kw)
    eps = 1e-6

    def f(x_, w_, b_):
        return float((ops.conv2d(x_, w_, b_, **kw) * dy).sum())

    for arr, grad, name in ((x, dx, "dx"), (w, dw, "dw"), (b, db, "db")):
        flat = arr.reshape(-1)
        picks = rng.choice(flat.size, size=min(12, flat.size), replace=False)
        num = []
        for i in picks:
            old = flat[i]
            flat[i] = old + eps
            fp = f(x, w, b)
            flat[i] = old - eps
            fm = f(x, w, b)
            flat[i] = old
            num.append((fp - fm) / (2 * eps))
        check_tensor(grad.reshape(-1)[picks], np.array(num), 1e-3, 1e-5, f"gradcheck {name}")


TORCH_CASES = [
    ((2, 6, 11, 10), (4, 3, 3, 3), {"stride": 2, "padding": 1, "groups": 2}),
    ((2, 3, 10, 9), (5, 3, 4, 2), {"padding": "same", "dilation": (1, 2)}),
    ((3, 8, 7, 7), (8, 1, 3, 3), {"padding": 1, "groups": 8}),
    ((2, 1, 28, 28), (4, 1, 5, 5), {"padding": 2}),
    ((1, 5, 6, 6), (7, 5, 1, 1), {}),
]


@pytest.mark.parametrize("xs,ws,kw", TORCH_CASES)
def test_conv2d_matches_torch(backend, rng, xs, ws, kw):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_(True)
    tw = torch.from_numpy(w).requires_grad_(True)
    tb = torch.from_numpy(b).requires_grad_(True)
    ty = F.conv2d(tx, tw, tb, **kw)
    dy = rng.standard_normal(ty.shape).astype(np.float32)
    ty.backward(torch.from_numpy(dy))
    y = ops.conv2d(x, w, b, **kw)
    check_tensor(y, ty.detach().numpy(), 1e-4, 1e-4, "conv2d vs torch")
    dx, dw, db = ops.conv2d_backward(dy, x, w, **kw)
    check_tensor(dx, tx.grad.numpy(), 1e-4, 1e-4, "dx vs torch")
    check_tensor(dw, tw.grad.numpy(), 1e-4, 1e-3, "dw vs torch")
    check_tensor(db, tb.grad.numpy(), 1e-4, 1e-3, "db vs torch")


@pytest.mark.parametrize("kw", [{}, {"stride": 2, "padding": 2, "dilation": 2, "groups": 2},
                                {"padding": "same"}])
def test_conv1d_matches_torch(backend, rng, kw):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((3, 4, 17)).astype(np.float32)
    w = rng.standard_normal((6, 4 // kw.get("groups", 1), 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_(True)
    tw = torch.from_numpy(w).requires_grad_(True)
    tb = torch.from_numpy(b).requires_grad_(True)
    ty = F.conv1d(tx, tw, tb, **kw)
    dy = rng.standard_normal(ty.shape).astype(np.float32)
    ty.backward(torch.from_numpy(dy))
    check_tensor(ops.conv1d(x, w, b, **kw), ty.detach().numpy(), 1e-4, 1e-4, "conv1d")
    dx, dw, db = ops.conv1d_backward(dy, x, w, **kw)
    check_tensor(dx, tx.grad.numpy(), 1e-4, 1e-4, "conv1d dx")
    check_tensor(dw, tw.grad.numpy(), 1e-4, 1e-4, "conv1d dw")
    check_tensor(db, tb.grad.numpy(), 1e-4, 1e-4, "conv1d db")


@pytest.mark.parametrize("xs,ws,kw", [
    ((2, 4, 5, 6), (4, 3, 3, 3), {"stride": 2, "padding": 1, "output_padding": 1}),
    ((2, 4, 5, 5), (4, 2, 2, 2), {"stride": 2, "groups": 2}),
    ((1, 3, 4, 4), (3, 5, 3, 3), {"dilation": 2, "padding": 1}),
    ((2, 3, 4, 4), (3, 2, 1, 1), {}),
])
def test_conv_transpose2d(backend, rng, xs, ws, kw):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    b = rng.standard_normal(ws[1] * kw.get("groups", 1))
    y = ops.conv_transpose2d(x, w, b, **kw)
    check_tensor(y, ref.conv_transpose2d(x, w, b, **kw), 1e-10, 1e-10, "conv_transpose2d vs ref")
    tx = torch.from_numpy(x).requires_grad_(True)
    tw = torch.from_numpy(w).requires_grad_(True)
    tb = torch.from_numpy(b).requires_grad_(True)
    ty = F.conv_transpose2d(tx, tw, tb, **kw)
    dy = rng.standard_normal(ty.shape)
    ty.backward(torch.from_numpy(dy))
    check_tensor(y, ty.detach().numpy(), 1e-10, 1e-10, "conv_transpose2d vs torch")
    dx, dw, db = ops.conv_transpose2d_backward(dy, x, w, **kw)
    check_tensor(dx, tx.grad.numpy(), 1e-10, 1e-10, "dx")
    check_tensor(dw, tw.grad.numpy(), 1e-10, 1e-10, "dw")
    check_tensor(db, tb.grad.numpy(), 1e-10, 1e-10, "db")


def test_deterministic_across_threads(backend, rng):
    x = rng.standard_normal((19, 3, 10, 10)).astype(np.float32)
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((19, 8, 10, 10)).astype(np.float32)
    prev = nervo.get_num_threads()
    try:
        nervo.set_num_threads(1)
        one = (ops.conv2d(x, w, padding=1),) + ops.conv2d_backward(dy, x, w, padding=1)
        nervo.set_num_threads(2)
        two = (ops.conv2d(x, w, padding=1),) + ops.conv2d_backward(dy, x, w, padding=1)
    finally:
        nervo.set_num_threads(prev)
    for a, b_ in zip(one, two):
        assert np.array_equal(a, b_)


def test_concurrent_python_threads(backend, rng):
    from concurrent.futures import ThreadPoolExecutor
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    xs = [rng.standard_normal((4, 3, 12, 12)).astype(np.float32) for _ in range(6)]
    serial = [ops.conv2d(x, w, padding=1) for x in xs]
    with ThreadPoolExecutor(3) as pool:
        par = list(pool.map(lambda x: ops.conv2d(x, w, padding=1), xs))
    for s, p in zip(serial, par):
        assert np.array_equal(s, p)


F32 = np.float32
BAD = [
    # (x, w, kwargs, exception, message)
    (np.zeros((1, 3, 5, 5), F32), np.zeros((2, 4, 3, 3), F32), {}, ValueError, "x has 3 channels but w expects 4"),
    (np.zeros((1, 4, 5, 5), F32), np.zeros((3, 2, 3, 3), F32), {"groups": 2}, ValueError, "must divide"),
    (np.zeros((1, 3, 5, 5), F32), np.zeros((2, 1, 3, 3), F32), {"groups": 3}, ValueError, "must divide"),
    (np.zeros((1, 3, 2, 2), F32), np.zeros((2, 3, 3, 3), F32), {}, ValueError, "larger than the padded input"),
    (np.zeros((1, 3, 5, 5), F32), np.zeros((2, 3, 3, 3), F32), {"stride": 0}, ValueError, "stride must be >= 1"),
    (np.zeros((1, 3, 5, 5), F32), np.zeros((2, 3, 3, 3), F32), {"dilation": -1}, ValueError, "dilation"),
    (np.zeros((1, 3, 5, 5), F32), np.zeros((2, 3, 3, 3), F32), {"padding": -1}, ValueError, "padding"),
    (np.zeros((1, 3, 5, 5), F32), np.zeros((2, 3, 3, 3), F32), {"padding": 2 ** 62}, ValueError, "out of range"),
    (np.zeros((1, 3, 5, 5), F32), np.zeros((2, 3, 3, 3), F32), {"padding": "full"}, ValueError, "padding must be"),
    (np.zeros((1, 3, 5, 5), F32), np.zeros((2, 3, 3, 3), F32), {"padding": "same", "stride": 2}, ValueError, "strided"),
    (np.zeros((1, 3, 5, 5), F32), np.zeros((2, 3, 3, 3), F32), {"groups": 0}, ValueError, "groups"),
    (np.zeros((1, 3, 5, 5), F32), np.zeros((2, 3, 3, 3), F32), {"stride": 1.5}, TypeError, "int"),
    (np.zeros((1, 3, 5, 5), np.float16), np.zeros((2, 3, 3, 3), F32), {}, TypeError, "float32 or float64"),
    (np.zeros((1, 3, 5, 5), np.int32), np.zeros((2, 3, 3, 3), F32), {}, TypeError, "float32 or float64"),
    (np.zeros((1, 3, 5, 5), ">f4"), np.zeros((2, 3, 3, 3), F32), {}, TypeError, "float32 or float64"),
    (np.zeros((1, 3, 5, 5), F32), np.zeros((2, 3, 3, 3), np.float64), {}, TypeError, "dtype"),
    (np.zeros((3, 5, 5, 1, 1), F32), np.zeros((2, 3, 3, 3), F32), {}, ValueError, "4-D"),
    (np.zeros((1, 3, 5, 5), F32), np.zeros((2, 3, 3), F32), {}, ValueError, "4-D"),
    ([[1.0]], np.zeros((2, 3, 3, 3), F32), {}, TypeError, "numpy.ndarray"),
    (None, np.zeros((2, 3, 3, 3), F32), {}, TypeError, "numpy.ndarray"),
]


@pytest.mark.parametrize("x,w,kw,exc,match", BAD)
def test_bad_input(backend, x, w, kw, exc, match):
    with pytest.raises(exc, match=match):
        ops.conv2d(x, w, **kw)


def test_bad_backward_and_out(backend):
    x = np.zeros((2, 3, 6, 6), F32)
    w = np.zeros((4, 3, 3, 3), F32)
    with pytest.raises(ValueError, match="dy has shape"):
        ops.conv2d_backward(np.zeros((2, 4, 5, 5), F32), x, w)
    with pytest.raises(TypeError, match="dtype"):
        ops.conv2d_backward(np.zeros((2, 4, 4, 4), np.float64), x, w)
    with pytest.raises(ValueError, match="out has shape"):
        ops.conv2d(x, w, out=np.zeros((2, 4, 5, 5), F32))
    with pytest.raises(TypeError, match="out has dtype"):
        ops.conv2d(x, w, out=np.zeros((2, 4, 4, 4), np.float64))
    with pytest.raises(ValueError, match="bias has shape"):
        ops.conv2d(x, w, np.zeros(3, F32))
    with pytest.raises(ValueError, match="activation"):
        ops.conv2d(x, w, activation="gelu")
    with pytest.raises(ValueError, match="output_padding"):
        ops.conv_transpose2d(x, np.zeros((3, 2, 3, 3), F32), stride=2, output_padding=2)
