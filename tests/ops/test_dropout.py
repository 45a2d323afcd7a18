"""Dropout: the counter-based mask against the NumPy Philox reference (bitwise), statistics,
reproducibility across threads and backends, and bad inputs."""
import numpy as np
import pytest

import nervo
import nervo.ops as ops
from nervo.ops.reference import dropout as ref


def test_philox_known_answer():
    # Random123's published known-answer vector for philox4x32_10, counter 0 and key 0.
    words = ref.philox4x32_10(np.zeros(1, np.uint64), np.zeros(1, np.uint64), 0, 0)
    assert [int(w[0]) for w in words] == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 17, 16385, 40003])
@pytest.mark.parametrize("offset", [0, 1, 6, 2**32 * 4 - 2, 2**64 - 100_000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_reference_bitwise(backend, rng, n, offset, dtype):
    x = rng.standard_normal(n).astype(dtype)
    seed = 0x1234_5678_9ABC_DEF0
    y = ops.dropout(x, 0.3, seed=seed, offset=offset)
    want = ref.dropout(x, 0.3, seed, offset)
    assert y.dtype == dtype and np.array_equal(y, want)
    dy = rng.standard_normal(n).astype(dtype)
    assert np.array_equal(ops.dropout_backward(dy, 0.3, seed=seed, offset=offset),
                          ref.dropout(dy, 0.3, seed, offset))


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_keep_rate_within_three_sigma(backend, p):
    n = 1_000_003
    m = ops.dropout_mask((n,), p, seed=7)
    k = m.mean()
    sigma = np.sqrt(p * (1 - p) / n)
    assert abs(k - (1 - p)) <= 3 * sigma + 1e-12, (k, 1 - p, sigma)
    if p == 0.0:
        x = np.arange(10, dtype=np.float32)
        assert np.array_equal(ops.dropout(x, 0.0, seed=1), x)


def test_scale_and_shapes(backend, rng):
    x = rng.standard_normal((6, 7, 8)).astype(np.float32)
    y = ops.dropout(x, 0.25, seed=3)
    keep = ops.dropout_mask(x.shape, 0.25, seed=3)
    assert y.shape == x.shape
    assert np.array_equal(y[keep], x[keep] * np.float32(1 / 0.75))
    assert (y[~keep] == 0).all()
    # non-contiguous input == contiguous copy; in place
    v = x[:, ::2]
    assert np.array_equal(ops.dropout(v, 0.5, seed=9), ops.dropout(np.ascontiguousarray(v), 0.5, seed=9))
    z = x.copy()
    assert ops.dropout(z, 0.25, seed=3, out=z) is z and np.array_equal(z, y)


def test_offset_streams_and_seeds(backend, rng):
    x = rng.standard_normal(1000).astype(np.float32)
    full = ops.dropout(x, 0.5, seed=11)
    assert np.array_equal(ops.dropout(x[37:], 0.5, seed=11, offset=37), full[37:])
    assert not np.array_equal(ops.dropout(x, 0.5, seed=12), full)
    # NaN / inf in dropped positions give 0; kept ones propagate
    s = np.array([np.nan, np.inf, -np.inf, 1.0] * 8, np.float32)
    keep = ops.dropout_mask(s.shape, 0.5, seed=5)
    y = ops.dropout(s, 0.5, seed=5)
    assert (y[~keep] == 0).all()
    assert np.array_equal(np.isnan(y), np.isnan(s) & keep)


def test_identical_across_threads_and_backends(rng):
    from nervo import backend as B
    x = rng.standard_normal(500_001).astype(np.float32)
    prev_b, prev_t = B.backend(), nervo.get_num_threads()
    outs = []
    try:
        for name in B.available_backends():
            B.set_backend(name)
            for t in (1, 2):
                nervo.set_num_threads(t)
                outs.append(ops.dropout(x, 0.2, seed=2024, offset=5))
    finally:
        B.set_backend(prev_b)
        nervo.set_num_threads(prev_t)
    assert all(np.array_equal(outs[0], o) for o in outs[1:])


@pytest.mark.parametrize("p,exc", [(-0.1, ValueError), (1.0, ValueError), (float("nan"), ValueError),
                                   ("0.5", TypeError), (None, TypeError)])
def test_bad_p(backend, p, exc):
    with pytest.raises(exc, match="p"):
        ops.dropout(np.ones(4, np.float32), p, seed=0)


def test_bad_args(backend):
    x = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="seed must be in"):
        ops.dropout(x, 0.5, seed=-1)
    with pytest.raises(ValueError, match="offset must be in"):
        ops.dropout(x, 0.5, seed=1, offset=2**64)
    with pytest.raises(TypeError, match="seed must be an int"):
        ops.dropout(x, 0.5, seed=1.5)
    with pytest.raises(TypeError):
        ops.dropout(x, 0.5)  # seed is required
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.dropout(x.astype(np.int64), 0.5, seed=1)
