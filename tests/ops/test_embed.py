"""Embedding forward/backward: every backend against the NumPy reference and torch."""
import numpy as np
import pytest

import nervo
import nervo.ops as ops
from nervo.ops.reference import embed as ref
from tests.checks import check_tensor


@pytest.mark.parametrize("V,D,idx_shape", [(1, 1, (1,)), (10, 3, (7,)), (50, 64, (4, 9)),
                                           (100, 300, (2, 3, 5)), (5, 8, (0,)), (5, 0, (3,))])
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_reference(backend, rng, V, D, idx_shape, padding_idx, dtype):
    w = rng.standard_normal((V, D)).astype(dtype)
    idx = rng.integers(0, V, idx_shape)
    if idx.size > 2:
        idx.reshape(-1)[:2] = idx.reshape(-1)[-1]  # repeated indices
    out = ops.embedding(w, idx)
    assert out.shape == idx_shape + (D,)
    assert np.array_equal(out, ref.embedding(w, idx))
    dout = rng.standard_normal(idx_shape + (D,)).astype(dtype)
    pad = None if padding_idx is None or padding_idx >= V else padding_idx % V
    dw = ops.embedding_backward(dout, idx, V, padding_idx=pad)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    check_tensor(dw, ref.embedding_backward(dout, idx, V, pad), rtol, rtol, "backward")
    acc = np.ones((V, D), dtype)
    ops.embedding_backward(dout, idx, V, padding_idx=pad, out=acc, accumulate=True)
    check_tensor(acc, 1 + ref.embedding_backward(dout, idx, V, pad).astype(np.float64), rtol, rtol, "accumulate")
    nan_out = np.full((V, D), np.nan, dtype)
    ops.embedding_backward(dout, idx, V, padding_idx=pad, out=nan_out)
    assert not np.isnan(nan_out).any()


def test_matches_torch(backend, rng):
    torch = pytest.importorskip("torch")
    w = rng.standard_normal((300, 40)).astype(np.float32)
    idx = rng.integers(0, 300, (16, 20))
    idx[0, :5] = 7
    dout = rng.standard_normal((16, 20, 40)).astype(np.float32)
    tw = torch.from_numpy(w.copy()).requires_grad_(True)
    ty = torch.nn.functional.embedding(torch.from_numpy(idx), tw, padding_idx=7)
    ty.backward(torch.from_numpy(dout))
    assert np.array_equal(ops.embedding(w, idx), ty.detach().numpy())
    check_tensor(ops.embedding_backward(dout, idx, 300, padding_idx=7), tw.grad.numpy(), 1e-5, 1e-6, "grad")


def test_index_dtypes_and_layouts(backend, rng):
    w = rng.standard_normal((20, 6)).astype(np.float32)
    idx = rng.integers(0, 20, (8, 5))
    want = w[idx]
    for dt in (np.int32, np.uint8, np.int16, np.uint64):
        assert np.array_equal(ops.embedding(w, idx.astype(dt)), want)
    assert np.array_equal(ops.embedding(w, idx.T), w[idx.T])
    assert np.array_equal(ops.embedding(w[:, ::2], idx), w[:, ::2][idx])
    assert np.array_equal(ops.embedding(w, [1, 2]), w[[1, 2]])


def test_bad_inputs(backend):
    w = np.zeros((5, 3), np.float32)
    with pytest.raises(IndexError, match="index 5 at position 1 is out of range for 5 embeddings"):
        ops.embedding(w, np.array([0, 5]))
    with pytest.raises(IndexError, match="index -1"):
        ops.embedding(w, np.array([-1]))
    with pytest.raises(IndexError, match="out of range"):
        ops.embedding_backward(np.zeros((2, 3), np.float32), np.array([0, 9]), 5)
    with pytest.raises(TypeError, match="indices must be integers"):
        ops.embedding(w, np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="indices must be integers"):
        ops.embedding(w, np.array([True]))
    with pytest.raises(ValueError, match="weight must be 2-D"):
        ops.embedding(np.zeros(5, np.float32), np.array([0]))
    with pytest.raises(ValueError, match="dout has shape"):
        ops.embedding_backward(np.zeros((2, 3), np.float32), np.array([0, 1, 2]), 5)
    with pytest.raises(ValueError, match="padding_idx 5 is out of range"):
        ops.embedding_backward(np.zeros((2, 3), np.float32), np.array([0, 1]), 5, padding_idx=5)
    with pytest.raises(ValueError, match="out has shape"):
        ops.embedding_backward(np.zeros((2, 3), np.float32), np.array([0, 1]), 5, out=np.zeros((4, 3), np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.embedding(w.astype(np.float16), np.array([0]))


def test_threads_identical(backend, rng):
    dout = rng.standard_normal((4000, 256)).astype(np.float32)
    idx = rng.integers(0, 50, 4000)
    prev = nervo.get_num_threads()
    try:
        nervo.set_num_threads(1)
        a = ops.embedding_backward(dout, idx, 50)
        nervo.set_num_threads(2)
        b = ops.embedding_backward(dout, idx, 50)
    finally:
        nervo.set_num_threads(prev)
    assert np.array_equal(a, b)
