"""Fused scaled-dot-product attention: every backend and ISA level against the NumPy reference,
torch 2.13, float64 central differences; lengths not a multiple of the block size, masks (bool,
float, broadcast, key padding), causal, fully masked rows (zero output, no NaN in any gradient),
dropout determinism and bad inputs."""
import numpy as np
import pytest

import nervo.ops as ops
from nervo.ops.reference import attn as ref
from tests.checks import check_tensor

# float64: the native kernels use vmath.h's exp (degree-7 polynomial, ~5e-9 relative error).
TOL = {np.float32: (2e-5, 2e-6), np.float64: (1e-6, 1e-8)}
SHAPES = [(1, 1, 1, 1, 1, 1), (2, 3, 5, 7, 8, 5), (1, 2, 33, 65, 16, 16), (2, 1, 70, 130, 12, 9),
          (1, 1, 64, 64, 32, 32)]


def _qkv(rng, B, N, L, S, E, Ev, dtype):
    return (rng.standard_normal((B, N, L, E)).astype(dtype),
            rng.standard_normal((B, N, S, E)).astype(dtype),
            rng.standard_normal((B, N, S, Ev)).astype(dtype))


def _check_all(q, k, v, mask_add, causal, dtype, rng, what, mask_arg=None):
    rtol, atol = TOL[dtype]
    m = mask_add if mask_arg is None else mask_arg
    out, lse = ops.scaled_dot_product_attention(q, k, v, m, is_causal=causal, return_lse=True)
    check_tensor(out, ref.forward(q, k, v, mask_add, causal), rtol, atol, f"{what} out")
    dout = rng.standard_normal(out.shape).astype(dtype)
    got = ops.scaled_dot_product_attention_backward(dout, q, k, v, out, lse, m, is_causal=causal)
    want = ref.backward(dout, q, k, v, mask_add, causal)
    for name, g, w in zip("qkv", got, want):
        assert np.isfinite(g).all(), f"{what}: NaN/inf in d{name}"
        check_tensor(g, w, rtol * 10, atol * 10, f"{what} d{name}")
    return out


@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_reference(backend, rng, shape, causal, dtype):
    q, k, v = _qkv(rng, *shape, dtype)
    _check_all(q, k, v, None, causal, dtype, rng, f"{shape} causal={causal}")


@pytest.mark.parametrize("mshape", [(1, 1, 1, 130), (2, 1, 1, 130), (1, 1, 70, 130), (2, 1, 70, 130),
                                    (70, 130), (130,)])
def test_float_masks_broadcast(backend, rng, mshape):
    q, k, v = _qkv(rng, 2, 1, 70, 130, 12, 9, np.float32)
    mask = rng.standard_normal(mshape).astype(np.float32)
    _check_all(q, k, v, mask.reshape((1,) * (4 - mask.ndim) + mask.shape), False, np.float32, rng,
               f"mask {mshape}", mask_arg=mask)


def test_bool_key_padding_and_fully_masked_rows(backend, rng):
    q, k, v = _qkv(rng, 2, 2, 40, 70, 8, 8, np.float32)
    keep = rng.random((2, 1, 40, 70)) > 0.3
    keep[0, 0, 3, :] = False          # fully masked query rows
    keep[1, 0, 39, :] = False
    add = np.where(keep, 0.0, -np.inf).astype(np.float32)
    out = _check_all(q, k, v, add, False, np.float32, rng, "bool mask", mask_arg=keep)
    assert np.all(out[0, :, 3] == 0) and np.all(out[1, :, 39] == 0)


def test_fully_masked_rows_have_finite_gradients_everywhere(backend, rng):
    q, k, v = _qkv(rng, 1, 1, 6, 5, 4, 4, np.float64)
    mask = np.zeros((6, 5))
    mask[2] = -np.inf
    out, lse = ops.scaled_dot_product_attention(q, k, v, mask, return_lse=True)
    assert np.isinf(lse[0, 0, 2]) and np.all(out[0, 0, 2] == 0)
    dq, dk, dv = ops.scaled_dot_product_attention_backward(np.ones_like(out), q, k, v, out, lse, mask)
    assert np.all(dq[0, 0, 2] == 0)
    for g in (dq, dk, dv):
        assert np.isfinite(g).all()


def test_matches_torch(backend, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    q, k, v = _qkv(rng, 2, 4, 37, 70, 16, 16, np.float32)
    mask = rng.random((37, 70)) > 0.2
    for causal, m in ((False, mask), (True, None)):
        tq, tk, tv = (torch.from_numpy(a.copy()).requires_grad_(True) for a in (q, k, v))
        to = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=None if m is None else torch.from_numpy(m),
                                            is_causal=causal)
        dout = rng.standard_normal(to.shape).astype(np.float32)
        to.backward(torch.from_numpy(dout))
        out, lse = ops.scaled_dot_product_attention(q, k, v, m, is_causal=causal, return_lse=True)
        check_tensor(out, to.detach().numpy(), 1e-4, 1e-5, "out vs torch")
        got = ops.scaled_dot_product_attention_backward(dout, q, k, v, out, lse, m, is_causal=causal)
        for g, t in zip(got, (tq, tk, tv)):
            check_tensor(g, t.grad.numpy(), 1e-3, 1e-5, "grad vs torch")


@pytest.mark.parametrize("causal", [False, True])
def test_gradient_by_central_differences(backend, rng, causal):
    q, k, v = _qkv(rng, 1, 2, 5, 6, 3, 2, np.float64)
    mask = rng.standard_normal((5, 6))
    mask[1] = -np.inf
    dout = rng.standard_normal((1, 2, 5, 2))
    out, lse = ops.scaled_dot_product_attention(q, k, v, mask, is_causal=causal, return_lse=True)
    got = ops.scaled_dot_product_attention_backward(dout, q, k, v, out, lse, mask, is_causal=causal)
    eps = 1e-6
    args = [q, k, v]
    for idx in range(3):
        num = np.zeros_like(args[idx])
        for pos in np.ndindex(args[idx].shape):
            ap = [a.copy() for a in args]
            am = [a.copy() for a in args]
            ap[idx][pos] += eps
            am[idx][pos] -= eps
            fp = np.sum(ops.scaled_dot_product_attention(*ap, mask, is_causal=causal) * dout)
            fm = np.sum(ops.scaled_dot_product_attention(*am, mask, is_causal=causal) * dout)
            num[pos] = (fp - fm) / (2 * eps)
        check_tensor(got[idx], num, 1e-3, 1e-5, f"gradcheck d{'qkv'[idx]}")


def test_3d_inputs_and_scale(backend, rng):
    q, k, v = _qkv(rng, 1, 3, 9, 11, 4, 6, np.float32)
    out = ops.scaled_dot_product_attention(q[0], k[0], v[0], scale=0.3)
    check_tensor(out, ref.forward(q, k, v, None, False, 0.3)[0], 2e-5, 2e-6, "3-D input")


def test_empty(backend, rng):
    q, k, v = _qkv(rng, 2, 2, 0, 5, 4, 4, np.float32)
    assert ops.scaled_dot_product_attention(q, k, v).shape == (2, 2, 0, 4)
    q, k, v = _qkv(rng, 1, 1, 3, 0, 4, 4, np.float32)
    out, lse = ops.scaled_dot_product_attention(q, k, v, return_lse=True)  # no keys: fully masked
    assert np.all(out == 0)
    dq, dk, dv = ops.scaled_dot_product_attention_backward(np.ones_like(out), q, k, v, out, lse)
    assert np.all(dq == 0) and dk.shape == (1, 1, 0, 4)


def test_dropout_deterministic_and_backends_agree(rng):
    from nervo import backend as B
    q, k, v = _qkv(rng, 2, 2, 33, 70, 8, 8, np.float32)
    dout = rng.standard_normal((2, 2, 33, 8)).astype(np.float32)
    res = {}
    prev = B.backend()
    try:
        for name in B.available_backends():
            B.set_backend(name)
            out, lse = ops.scaled_dot_product_attention(q, k, v, dropout_p=0.3, seed=7, return_lse=True)
            out2 = ops.scaled_dot_product_attention(q, k, v, dropout_p=0.3, seed=7)
            assert np.array_equal(out, out2)
            res[name] = (out,) + ops.scaled_dot_product_attention_backward(
                dout, q, k, v, out, lse, dropout_p=0.3, seed=7)
    finally:
        B.set_backend(prev)
    first = next(iter(res.values()))
    assert not np.allclose(first[0], ops.scaled_dot_product_attention(q, k, v))
    for name, r in res.items():
        for a, b in zip(r, first):
            check_tensor(a, b, 1e-4, 1e-5, f"dropout {name}")


def test_dropout_gradient_by_central_differences(backend, rng):
    q, k, v = _qkv(rng, 1, 1, 4, 5, 3, 2, np.float64)
    dout = rng.standard_normal((1, 1, 4, 2))
    kw = dict(dropout_p=0.4, seed=3)
    out, lse = ops.scaled_dot_product_attention(q, k, v, return_lse=True, **kw)
    got = ops.scaled_dot_product_attention_backward(dout, q, k, v, out, lse, **kw)
    eps = 1e-6
    for idx in range(3):
        args = [q, k, v]
        num = np.zeros_like(args[idx])
        for pos in np.ndindex(args[idx].shape):
            ap = [a.copy() for a in args]
            am = [a.copy() for a in args]
            ap[idx][pos] += eps
            am[idx][pos] -= eps
            num[pos] = (np.sum(ops.scaled_dot_product_attention(*ap, **kw) * dout)
                        - np.sum(ops.scaled_dot_product_attention(*am, **kw) * dout)) / (2 * eps)
        check_tensor(got[idx], num, 1e-3, 1e-5, f"dropout gradcheck d{'qkv'[idx]}")


def _bad():
    r = np.random.default_rng(0)
    q, k, v = _qkv(r, 2, 2, 5, 7, 4, 3, np.float32)
    return [
        ("q feature size", (q[..., :3], k, v), {}, ValueError, "feature size"),
        ("k/v length", (q, k, v[:, :, :6]), {}, ValueError, "keys"),
        ("leading dims", (q, k[:1], v[:1]), {}, ValueError, "leading dims"),
        ("rank mismatch", (q, k[0], v[0]), {}, ValueError, "same number of dims"),
        ("mask shape", (q, k, v), {"attn_mask": np.zeros((5, 6), np.float32)}, ValueError, "broadcast"),
        ("mask int", (q, k, v), {"attn_mask": np.zeros((5, 7), np.int32)}, TypeError, "bool or floating"),
        ("mask list", (q, k, v), {"attn_mask": [[0.0]]}, TypeError, "attn_mask"),
        ("dtype mix", (q, k.astype(np.float64), v), {}, TypeError, "dtype"),
        ("int q", (q.astype(np.int64), k, v), {}, TypeError, "float32"),
        ("dropout", (q, k, v), {"dropout_p": 1.0}, ValueError, "dropout_p"),
        ("scale inf", (q, k, v), {"scale": np.inf}, ValueError, "scale"),
        ("1-D", (q[0, 0, 0], k[0, 0, 0], v[0, 0, 0]), {}, ValueError, "2 to 4 dims"),
    ]


@pytest.mark.parametrize("what,args,kw,exc,msg", _bad(), ids=[c[0] for c in _bad()])
def test_bad_inputs(backend, what, args, kw, exc, msg):
    with pytest.raises(exc, match=msg):
        ops.scaled_dot_product_attention(*args, **kw)
