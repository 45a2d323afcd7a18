"""Activation kernels: every backend and ISA level against the NumPy reference and torch."""
import numpy as np
import pytest

import nervo.ops as ops
from nervo.ops.reference import act as ref
from tests.checks import check_tensor, tol

# (name, kwargs, saves_output)
CASES = [
    ("relu", {}, True), ("leaky_relu", {"negative_slope": 0.2}, False), ("elu", {"alpha": 0.7}, False),
    ("selu", {}, False), ("gelu", {}, False), ("gelu", {"approximate": "tanh"}, False),
    ("silu", {}, False), ("mish", {}, False), ("sigmoid", {}, True), ("tanh", {}, True),
    ("softplus", {"beta": 2.0, "threshold": 15.0}, False), ("softplus", {}, False),
    ("hardtanh", {"min_val": -0.5, "max_val": 2.0}, False), ("hardswish", {}, False),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" if kw else n for n, kw, _ in CASES]
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-40, 100.0, -100.0, 88.5, -88.5, 3.0, -3.0,
           1.0, -1.0, 20.0, 0.5, -0.5]


def _inputs(rng, n, dtype):
    x = (rng.standard_normal(n) * 6).astype(dtype)
    k = min(n, len(SPECIAL))
    x[:k] = SPECIAL[:k]
    return x


def _saved(name, kw, x, y, saves_output):
    return y if saves_output else x


@pytest.mark.parametrize("name,kw,saves_output", CASES, ids=IDS)
@pytest.mark.parametrize("n", [0, 1, 7, 8, 15, 16, 17, 33, 1000, 40001])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_backward_match_reference(backend, rng, name, kw, saves_output, n, dtype):
    x = _inputs(rng, n, dtype)
    dy = rng.standard_normal(n).astype(dtype)
    rtol, atol = tol("transcendental", dtype)
    y = getattr(ops, name)(x, **kw)
    check_tensor(y, ref.forward(name, x.astype(np.float64), **kw), rtol, atol, f"{name} forward")
    saved = _saved(name, kw, x, y, saves_output)
    dx = getattr(ops, name + "_backward")(dy, saved, **kw)
    want = ref.backward(name, dy.astype(np.float64), saved.astype(np.float64), **kw)
    # The derivative is evaluated at a rounded input; its own slope bounds how far that moves it.
    check_tensor(dx, want, rtol * 10, atol * 10, f"{name} backward")


@pytest.mark.parametrize("name,kw,saves_output", CASES, ids=IDS)
def test_matches_torch(backend, rng, name, kw, saves_output):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = _inputs(rng, 4099, np.float32)
    dy = rng.standard_normal(x.size).astype(np.float32)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    fn = {"relu": F.relu, "leaky_relu": F.leaky_relu, "elu": F.elu, "selu": F.selu, "gelu": F.gelu,
          "silu": F.silu, "mish": F.mish, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
          "softplus": F.softplus, "hardtanh": F.hardtanh, "hardswish": F.hardswish}[name]
    tkw = {"elu": {"alpha": kw.get("alpha", 1.0)}}.get(name, kw)
    ty = fn(tx, **tkw)
    ty.backward(torch.from_numpy(dy))
    y = getattr(ops, name)(x, **kw)
    check_tensor(y, ty.detach().numpy(), 1e-5, 2e-6, f"{name} vs torch forward")
    dx = getattr(ops, name + "_backward")(dy, _saved(name, kw, x, y, saves_output), **kw)
    finite = np.isfinite(x)  # torch's gradients at +-inf/NaN inputs are implementation noise
    check_tensor(dx[finite], tx.grad.numpy()[finite], 1e-4, 1e-5, f"{name} vs torch backward")


@pytest.mark.parametrize("name,kw,saves_output", CASES[:8], ids=IDS[:8])
def test_gradient_by_central_differences(backend, rng, name, kw, saves_output):
    x = rng.standard_normal(64) * 3
    x = x[np.abs(np.abs(x) - 3) > 1e-3]  # keep away from hardswish/hardtanh kinks
    x = x[np.abs(x) > 1e-3]
    eps = 1e-6
    f = getattr(ops, name)
    num = (f(x + eps, **kw) - f(x - eps, **kw)) / (2 * eps)
    dx = getattr(ops, name + "_backward")(np.ones_like(x), _saved(name, kw, x, f(x, **kw), saves_output), **kw)
    check_tensor(dx, num, 1e-3, 1e-5, f"{name} gradcheck")


def test_non_contiguous_and_inplace(backend, rng):
    x = rng.standard_normal((64, 33)).astype(np.float32)
    view = x[::2, 1::3]
    check_tensor(ops.silu(view), ops.silu(np.ascontiguousarray(view)), 0, 0, "strided input")
    neg = x[::-1]
    check_tensor(ops.tanh(neg), ops.tanh(neg.copy()), 0, 0, "negative strides")
    y = x.copy()
    out = ops.relu(y, out=y)
    assert out is y
    check_tensor(y, np.maximum(x, 0), 0, 0, "in place")
    nan_out = np.full_like(x, np.nan)
    ops.sigmoid(x, out=nan_out)
    assert np.isfinite(nan_out).all()


@pytest.mark.parametrize("bad,exc,match", [
    (np.zeros(3, np.float16), TypeError, "float32 or float64"),
    (np.zeros(3, np.int32), TypeError, "float32 or float64"),
    (np.zeros(3, ">f4"), TypeError, "float32 or float64"),
    (np.zeros(3, np.complex64), TypeError, "float32 or float64"),
    ([1.0, 2.0], TypeError, "numpy.ndarray"),
    (None, TypeError, "numpy.ndarray"),
])
def test_bad_input_dtype(backend, bad, exc, match):
    with pytest.raises(exc, match=match):
        ops.relu(bad)


def test_bad_out_and_args(backend):
    x = np.zeros((4, 5), np.float32)
    with pytest.raises(ValueError, match=r"out has shape \(5, 4\), expected \(4, 5\)"):
        ops.gelu(x, out=np.zeros((5, 4), np.float32))
    with pytest.raises(TypeError, match="out has dtype float64"):
        ops.gelu(x, out=np.zeros((4, 5), np.float64))
    ro = np.zeros((4, 5), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ops.gelu(x, out=ro)
    with pytest.raises(ValueError, match="C-contiguous"):
        ops.gelu(x, out=np.zeros((5, 4), np.float32).T)
    buf = np.zeros(21, np.float32)
    with pytest.raises(ValueError, match="overlaps"):
        ops.relu(buf[:20], out=buf[1:])
    with pytest.raises(ValueError, match="approximate"):
        ops.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match="dy has shape"):
        ops.silu_backward(np.zeros(3, np.float32), np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="dtype"):
        ops.silu_backward(np.zeros(3, np.float32), np.zeros(3, np.float64))
    with pytest.raises(ValueError, match="min_val"):
        ops.hardtanh(x, min_val=2.0, max_val=1.0)
    with pytest.raises(ValueError, match="beta"):
        ops.softplus(x, beta=0)


def test_threads_give_identical_results(backend, rng):
    import nervo
    x = rng.standard_normal(300_001).astype(np.float32)
    prev = nervo.get_num_threads()
    try:
        nervo.set_num_threads(1)
        one = ops.mish(x)
        nervo.set_num_threads(2)
        two = ops.mish(x)
    finally:
        nervo.set_num_threads(prev)
    assert np.array_equal(one, two)


def test_concurrent_python_threads(backend, rng):
    from concurrent.futures import ThreadPoolExecutor
    xs = [rng.standard_normal(50_000).astype(np.float32) for _ in range(8)]
    serial = [ops.gelu(x) for x in xs]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(ops.gelu, xs))
    for s, p in zip(serial, parallel):
        assert np.array_equal(s, p)


@pytest.mark.parametrize("shift", [0, 1, 3])
def test_large_outputs_streaming_stores(backend, rng, shift):
    # >= 8 MiB outputs take the non-temporal store path, with a head peeled to vector alignment:
    # misaligned out= buffers and odd lengths must give the same values as the reference.
    n = 2_200_003
    x = rng.standard_normal(n).astype(np.float32)
    dy = rng.standard_normal(n).astype(np.float32)
    buf = np.full(n + 8, np.nan, np.float32)
    out = buf[shift:shift + n]
    ops.silu(x, out=out)
    check_tensor(out, ref.forward("silu", x), 1e-5, 2e-6, "silu forward, streamed")
    assert np.isnan(buf[:shift]).all() and np.isnan(buf[shift + n:]).all()
    gbuf = np.full(n + 8, np.nan, np.float32)
    dx = gbuf[shift:shift + n]
    ops.relu_backward(dy, ops.relu(x), out=dx)
    check_tensor(dx, ref.backward("relu", dy, np.maximum(x, 0)), 0, 0, "relu backward, streamed")
    assert np.isnan(gbuf[:shift]).all() and np.isnan(gbuf[shift + n:]).all()
