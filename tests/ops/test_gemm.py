"""GEMM and matmul: every backend and ISA level against the float64 NumPy reference.

Tolerance: a float32 dot product of length K carries an error of at most about K * eps * sum|a||b|
(blocked FMA summation is usually far better); the check allows 2 * (K + 4) * eps times the
absolute-value product, plus the activation's own error (the transcendental tolerance of the
activation kernels). One table, TOL, holds the per-dtype constants.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import nervo
import nervo.ops as ops
from nervo.ops.reference import gemm as ref
from tests.checks import check_tensor

# dtype -> (eps multiplier per K, activation rtol, activation atol)
TOL = {
    np.float32: (2 * np.finfo(np.float32).eps, 1e-5, 2e-6),
    np.float64: (2 * np.finfo(np.float64).eps, 1e-12, 1e-13),
}
ACTS = [None, "relu", "gelu", "sigmoid", "tanh"]


def check_gemm(got, a, b, out0, what, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0,
               bias=None, activation=None):
    """Compare with the float64 reference within a K-dependent, per-element bound."""
    dtype = got.dtype.type
    want = ref.gemm(a, b, out0, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta, bias=bias,
                    activation=activation)
    k = (a.shape[0] if trans_a else a.shape[1])
    absa, absb = np.abs(a.astype(np.float64)), np.abs(b.astype(np.float64))
    with np.errstate(all="ignore"):
        mag = abs(alpha) * ((absa.T if trans_a else absa) @ (absb.T if trans_b else absb))
        if beta != 0:
            mag = mag + abs(beta) * np.abs(out0.astype(np.float64))
        if bias is not None:
            mag = mag + np.abs(bias.astype(np.float64))
    per_k, act_rtol, act_atol = TOL[dtype]
    bound = 1.2 * per_k * (k + 4) * np.nan_to_num(mag, posinf=0.0) + act_atol
    bound = bound + act_rtol * np.abs(np.nan_to_num(want, posinf=0.0, neginf=0.0))
    g = got.astype(np.float64)
    same = (g == want) | (np.isnan(g) & np.isnan(want))
    with np.errstate(invalid="ignore"):
        ok = same | (np.abs(g - want) <= bound)
    if not ok.all():
        idx = np.unravel_index(np.argmax(~ok), ok.shape)
        raise AssertionError(f"{what}: {int((~ok).sum())} of {ok.size} elements differ; first bad "
                             f"index {tuple(int(i) for i in idx)}: got {g[idx]!r}, want "
                             f"{want[idx]!r}, bound {bound[idx]:.3g}")


def _operand(rng, rows, cols, trans, dtype):
    """A matrix whose op() is rows x cols (stored transposed when trans)."""
    x = rng.standard_normal((cols, rows) if trans else (rows, cols)).astype(dtype)
    return x


# (M, N, K): empty, tiny, primes, around the AVX2 (6x16) and AVX-512 (14x32, 6x64) tiles, K across
# the KC block boundary (256/384/512 in csrc/ops/gemm/gemm.cpp's tables), tall-skinny, short-wide.
SHAPES = [
    (0, 5, 3), (5, 0, 3), (5, 3, 0), (0, 0, 0), (1, 1, 1), (1, 17, 1), (2, 3, 5), (7, 11, 13),
    (5, 15, 4), (6, 16, 8), (7, 17, 9), (13, 31, 7), (14, 32, 3), (15, 33, 2), (6, 63, 5),
    (12, 64, 6), (29, 65, 37), (97, 131, 53), (3, 7, 257), (17, 33, 383), (9, 40, 385),
    (17, 33, 511), (6, 16, 513), (5, 47, 1031), (50, 40, 600), (1000, 3, 20), (3, 1000, 20),
    (1, 300, 300), (300, 1, 300), (130, 257, 300),
]


@pytest.mark.parametrize("m,n,k", SHAPES, ids=[f"{m}x{n}x{k}" for m, n, k in SHAPES])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (False, True), (True, False), (True, True)],
                         ids=["nn", "nt", "tn", "tt"])
def test_shapes_match_reference(backend, rng, m, n, k, trans_a, trans_b):
    a = _operand(rng, m, k, trans_a, np.float32)
    b = _operand(rng, k, n, trans_b, np.float32)
    got = ops.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
    assert got.shape == (m, n) and got.dtype == np.float32
    check_gemm(got, a, b, None, f"{m}x{n}x{k}", trans_a=trans_a, trans_b=trans_b)


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("use_bias", [False, True], ids=["nobias", "bias"])
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (0.5, 0.0), (1.0, 1.0), (-2.0, 0.5)])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (False, True), (True, False), (True, True)],
                         ids=["nn", "nt", "tn", "tt"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_option_matches_reference(backend, rng, trans_a, trans_b, alpha, beta, use_bias,
                                        activation, dtype):
    m, n, k = 23, 37, 41
    a = _operand(rng, m, k, trans_a, dtype)
    b = _operand(rng, k, n, trans_b, dtype)
    bias = rng.standard_normal(n).astype(dtype) if use_bias else None
    out0 = rng.standard_normal((m, n)).astype(dtype)
    out = out0.copy()
    got = ops.gemm(a, b, out, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta, bias=bias,
                   activation=activation)
    assert got is out
    check_gemm(got, a, b, out0, "options", trans_a=trans_a, trans_b=trans_b, alpha=alpha,
               beta=beta, bias=bias, activation=activation)


@pytest.mark.parametrize("m,n,k", [(7, 17, 9), (64, 100, 300), (200, 150, 70)])
@pytest.mark.parametrize("activation", ACTS)
def test_epilogue_on_larger_shapes(backend, rng, m, n, k, activation):
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    got = ops.gemm(a, w, trans_b=True, bias=bias, activation=activation)
    check_gemm(got, a, w, None, "linear", trans_b=True, bias=bias, activation=activation)


def test_layouts_strided_sliced_fortran_negative(backend, rng):
    base_a = rng.standard_normal((90, 70)).astype(np.float32)
    base_b = rng.standard_normal((80, 60)).astype(np.float32)
    views_a = {"c": base_a[:40, :30], "f": np.asfortranarray(base_a[:40, :30]),
               "step": base_a[::2, 1::2][:40, :30], "neg": base_a[::-1, ::-1][:40, :30],
               "T": np.ascontiguousarray(base_a[:30, :40]).T}
    views_b = {"c": base_b[:30, :25], "f": np.asfortranarray(base_b[:30, :25]),
               "step": base_b[1::2, ::2][:30, :25], "neg": base_b[::-1][:30, :25],
               "bcast": np.broadcast_to(base_b[0, :25], (30, 25))}
    for na, a in views_a.items():
        for nb, b in views_b.items():
            got = ops.gemm(a, b)
            check_gemm(got, a, b, None, f"a={na} b={nb}")
            # the same views through trans flags
            got_t = ops.gemm(a.T, b.T, trans_a=True, trans_b=True)
            check_gemm(got_t, a, b, None, f"a={na}.T b={nb}.T")
    # unaligned: a float32 view starting one byte in (strides not a multiple of 4 get copied)
    raw = np.zeros(4 * 40 * 30 + 1, np.uint8)[1:].view(np.float32).reshape(40, 30)
    raw[...] = base_a[:40, :30]
    check_gemm(ops.gemm(raw, base_b[:30, :25]), raw, base_b[:30, :25], None, "unaligned")


def test_out_row_slice_and_alias(backend, rng):
    a = rng.standard_normal((20, 30)).astype(np.float32)
    b = rng.standard_normal((30, 20)).astype(np.float32)
    big = np.full((20, 50), 7.0, np.float32)
    view = big[:, 10:30]
    ops.gemm(a, b, view)
    check_gemm(view, a, b, None, "row slice out")
    assert (big[:, :10] == 7).all() and (big[:, 30:] == 7).all()
    # out aliasing an input: correct (the input is copied first)
    c = rng.standard_normal((20, 20)).astype(np.float32)
    c0 = c.copy()
    ops.gemm(c, c, c, alpha=1.0, beta=1.0)
    check_gemm(c, c0, c0, c0, "alias", beta=1.0)


def test_beta_zero_ignores_nan_out(backend, rng):
    a = rng.standard_normal((13, 9)).astype(np.float32)
    b = rng.standard_normal((9, 21)).astype(np.float32)
    out = np.full((13, 21), np.nan, np.float32)
    ops.gemm(a, b, out, beta=0.0, activation="relu")
    assert np.isfinite(out).all()
    check_gemm(out, a, b, None, "beta=0 NaN out", activation="relu")
    out3 = np.full((2, 13, 21), np.nan, np.float32)
    ops.matmul(np.stack([a, a]), b, out=out3)
    assert np.isfinite(out3).all()


@pytest.mark.parametrize("activation", ACTS)
def test_nan_inf_propagate(backend, rng, activation):
    m, n, k = 19, 35, 23
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = np.abs(rng.standard_normal((k, n))).astype(np.float32) + 0.1
    a[2, 5] = np.nan
    a[4, 0] = np.inf
    a[6, 3] = -np.inf
    b[7, 9] = np.nan
    bias = rng.standard_normal(n).astype(np.float32)
    bias[30] = np.inf
    got = ops.gemm(a, b, bias=bias, activation=activation)
    check_gemm(got, a, b, None, "nan/inf", bias=bias, activation=activation)
    assert np.isnan(got[2]).all() if activation in (None, "relu", "gelu", "sigmoid", "tanh") else True


def test_float64_precision(backend, rng):
    a = rng.standard_normal((33, 129))
    b = rng.standard_normal((129, 17))
    got = ops.gemm(a, b, alpha=0.25, bias=np.ones(17), activation="tanh")
    assert got.dtype == np.float64
    check_tensor(got, np.tanh(0.25 * (a @ b) + 1), 1e-12, 1e-12, "float64")


def test_threads_deterministic(backend, rng):
    a = rng.standard_normal((301, 517)).astype(np.float32)
    b = rng.standard_normal((517, 263)).astype(np.float32)
    bias = rng.standard_normal(263).astype(np.float32)
    prev = nervo.get_num_threads()
    try:
        nervo.set_num_threads(1)
        one = ops.gemm(a, b, bias=bias, activation="gelu")
        nervo.set_num_threads(2)
        two = ops.gemm(a, b, bias=bias, activation="gelu")
        again = ops.gemm(a, b, bias=bias, activation="gelu")
    finally:
        nervo.set_num_threads(prev)
    assert np.array_equal(two, again)
    assert np.array_equal(one, two)


def test_concurrent_python_threads(backend, rng):
    pairs = [(rng.standard_normal((70, 90)).astype(np.float32),
              rng.standard_normal((90, 110)).astype(np.float32)) for _ in range(8)]
    serial = [ops.gemm(a, b) for a, b in pairs]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda p: ops.gemm(*p), pairs))
    for s, p in zip(serial, parallel):
        assert np.array_equal(s, p)


MATMUL_SHAPES = [
    ((5, 7), (7, 3)), ((4, 5, 7), (7, 3)), ((5, 7), (4, 7, 3)), ((4, 5, 7), (4, 7, 3)),
    ((1, 5, 7), (4, 7, 3)), ((4, 5, 7), (1, 7, 3)), ((7,), (7, 3)), ((5, 7), (7,)), ((7,), (7,)),
    ((4, 5, 7), (7,)), ((7,), (4, 7, 3)), ((0, 5, 7), (7, 3)), ((3, 0, 7), (3, 7, 2)),
    ((3, 5, 0), (3, 0, 2)), ((64, 33, 17), (64, 17, 40)), ((2, 100, 200), (200, 300)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_matches_numpy(backend, rng, sa, sb, dtype):
    a = rng.standard_normal(sa).astype(dtype)
    b = rng.standard_normal(sb).astype(dtype)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    got = ops.matmul(a, b)
    assert got.shape == want.shape and got.dtype == dtype
    k = sa[-1]
    atol = TOL[dtype][0] * (k + 4) * 4 * max(1, k) ** 0.5
    check_tensor(got, want, 1e-5 if dtype == np.float32 else 1e-12, atol, f"matmul {sa}@{sb}")
    out = np.full(want.shape, np.nan, dtype)
    assert ops.matmul(a, b, out=out) is out
    check_tensor(out, got, 0, 0, "matmul out=")


def test_matmul_strided_batches(backend, rng):
    a = rng.standard_normal((6, 9, 11)).astype(np.float32)[::2, :, 1:]  # (3, 9, 10), strided
    b = rng.standard_normal((3, 12, 10)).astype(np.float32).transpose(0, 2, 1)  # (3, 10, 12)
    got = ops.matmul(a, b)
    check_tensor(got, np.matmul(a.astype(np.float64), b.astype(np.float64)), 1e-5, 1e-5, "strided")


def test_matches_torch(backend, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((64, 784)).astype(np.float32)
    w = rng.standard_normal((256, 784)).astype(np.float32) * 0.05
    bias = rng.standard_normal(256).astype(np.float32)
    want = torch.nn.functional.gelu(torch.nn.functional.linear(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(bias))).numpy()
    got = ops.gemm(x, w, trans_b=True, bias=bias, activation="gelu")
    check_tensor(got, want, 1e-4, 1e-4, "vs torch linear+gelu")
    ta = torch.from_numpy(rng.standard_normal((8, 30, 40)).astype(np.float32))
    tb = torch.from_numpy(rng.standard_normal((8, 40, 20)).astype(np.float32))
    check_tensor(ops.matmul(ta.numpy(), tb.numpy()), torch.bmm(ta, tb).numpy(), 1e-4, 1e-4, "bmm")


F = np.zeros((4, 5), np.float32)
G = np.zeros((5, 3), np.float32)


@pytest.mark.parametrize("args,kw,exc,match", [
    ((F, np.zeros((4, 3), np.float32)), {}, ValueError, r"inner dimensions differ.*\(4, 5\).*\(4, 3\)"),
    ((F, G), {"trans_a": True}, ValueError, "inner dimensions differ"),
    ((F, G.astype(np.float64)), {}, TypeError, "b has dtype float64"),
    ((F.astype(np.float16), G), {}, TypeError, "float32 or float64"),
    ((F.astype(np.int32), G), {}, TypeError, "float32 or float64"),
    ((F.astype(">f4"), G), {}, TypeError, "float32 or float64"),
    ((F.astype(np.complex64), G), {}, TypeError, "float32 or float64"),
    ((F.tolist(), G), {}, TypeError, "numpy.ndarray"),
    ((None, G), {}, TypeError, "numpy.ndarray"),
    ((np.zeros(5, np.float32), G), {}, ValueError, "must be 2-D"),
    ((np.zeros((2, 4, 5), np.float32), G), {}, ValueError, "must be 2-D"),
    ((np.float32(1.0), G), {}, TypeError, "numpy.ndarray"),
    ((F, G, np.zeros((3, 4), np.float32)), {}, ValueError, r"out has shape \(3, 4\), expected \(4, 3\)"),
    ((F, G, np.zeros((4, 3), np.float64)), {}, TypeError, "out has dtype float64"),
    ((F, G, np.zeros((4, 3), np.float32).T.copy().T), {}, ValueError, "unit column stride"),
    ((F, G, np.zeros((4, 3), np.float32)[:, ::-1]), {}, ValueError, "unit column stride"),
    ((F, G, np.zeros((4, 3), np.float32)), {"activation": "swish"}, ValueError, "activation"),
    ((F, G), {"activation": 3}, ValueError, "activation"),
    ((F, G), {"bias": np.zeros(4, np.float32)}, ValueError, r"bias has shape \(4,\), expected \(3,\)"),
    ((F, G), {"bias": np.zeros((1, 3), np.float32)}, ValueError, "bias must be 1-D"),
    ((F, G), {"bias": np.zeros(3, np.float64)}, TypeError, "bias has dtype"),
    ((F, G), {"beta": 1.0}, ValueError, "no out"),
    ((F, G), {"alpha": "2"}, TypeError, "alpha must be a real number"),
])
def test_bad_input(backend, args, kw, exc, match):
    with pytest.raises(exc, match=match):
        ops.gemm(*args, **kw)


def test_bad_out_read_only_and_matmul_errors(backend):
    ro = np.zeros((4, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ops.gemm(F, G, ro)
    with pytest.raises(ValueError, match="inner dimensions differ"):
        ops.matmul(np.zeros((2, 3, 4), np.float32), np.zeros((5, 2), np.float32))
    with pytest.raises(ValueError, match="do not broadcast"):
        ops.matmul(np.zeros((2, 3, 4), np.float32), np.zeros((3, 4, 2), np.float32))
    with pytest.raises(ValueError, match="must be 1-D or 2-D or 3-D"):
        ops.matmul(np.zeros((1, 2, 3, 4), np.float32), np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match="must be 1-D or 2-D or 3-D"):
        ops.matmul(np.zeros((), np.float32), np.zeros((4, 2), np.float32))
    with pytest.raises(TypeError, match="dtype"):
        ops.matmul(np.zeros((2, 4), np.float32), np.zeros((4, 2), np.float64))
    with pytest.raises(ValueError, match="out has shape"):
        ops.matmul(np.zeros((2, 4), np.float32), np.zeros((4, 2), np.float32),
                   out=np.zeros((2, 3), np.float32))


def test_native_kernel_validates_directly(backend):
    # The binding re-checks what the Python layer checks: a direct call cannot crash the process.
    from nervo.backend import K
    if nervo.backend.backend() != "native":
        pytest.skip("native binding only")
    with pytest.raises(ValueError, match="inner dimensions"):
        K["gemm"](F, F, np.zeros((4, 5), np.float32), False, False, 1.0, 0.0, None, 0)
    with pytest.raises(ValueError, match="out has shape"):
        K["gemm"](F, G, np.zeros((4, 4), np.float32), False, False, 1.0, 0.0, None, 0)
    with pytest.raises(ValueError, match="activation id"):
        K["gemm"](F, G, np.zeros((4, 3), np.float32), False, False, 1.0, 0.0, None, 9)
    with pytest.raises(ValueError, match="bias has shape"):
        K["gemm"](F, G, np.zeros((4, 3), np.float32), False, False, 1.0, 0.0, np.zeros(2, np.float32), 0)


def test_peak_gflops_positive():
    if "native" not in nervo.backend.available_backends():
        pytest.skip("native backend only")
    assert ops.peak_gflops(1, 0.02) > 0
    with pytest.raises(ValueError, match="threads"):
        ops.peak_gflops(0)


@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (False, True), (True, False), (True, True)],
                         ids=["nn", "nt", "tn", "tt"])
def test_packed_path_with_epilogue(backend, rng, trans_a, trans_b):
    # Large enough (> 2 * 256^3 flops) for the fully packed path, with edges in M, N and K blocks.
    m, n, k = 301, 199, 613
    a = _operand(rng, m, k, trans_a, np.float32)
    b = _operand(rng, k, n, trans_b, np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    out0 = rng.standard_normal((m, n)).astype(np.float32)
    out = out0.copy()
    ops.gemm(a, b, out, trans_a=trans_a, trans_b=trans_b, alpha=0.5, beta=-1.0, bias=bias,
             activation="gelu")
    check_gemm(out, a, b, out0, "packed", trans_a=trans_a, trans_b=trans_b, alpha=0.5, beta=-1.0,
               bias=bias, activation="gelu")


def test_differential_hypothesis_shapes():
    # native (every ISA level) vs numba vs the float64 reference on generated shapes and options.
    hyp = pytest.importorskip("hypothesis")
    st = hyp.strategies
    from nervo import backend as B
    configs = [("native", isa) for isa in (B.native_module().isa_available()
                                           if "native" in B.available_backends() else [])]
    if "numba" in B.available_backends():
        configs.append(("numba", None))
    prev_backend, prev_isa = B.backend(), B.get_isa()

    @hyp.settings(max_examples=15, deadline=None, derandomize=True)
    @hyp.given(m=st.integers(0, 40), n=st.integers(0, 40), k=st.integers(0, 70),
               trans_a=st.booleans(), trans_b=st.booleans(), use_bias=st.booleans(),
               activation=st.sampled_from(ACTS), beta=st.sampled_from([0.0, 1.0, -0.5]),
               seed=st.integers(0, 2 ** 16))
    def check(m, n, k, trans_a, trans_b, use_bias, activation, beta, seed):
        r = np.random.default_rng(seed)
        a = _operand(r, m, k, trans_a, np.float32)
        b = _operand(r, k, n, trans_b, np.float32)
        bias = r.standard_normal(n).astype(np.float32) if use_bias else None
        out0 = r.standard_normal((m, n)).astype(np.float32)
        for name, isa in configs:
            B.set_backend(name)
            if isa:
                B.set_isa(isa)
            out = out0.copy()
            ops.gemm(a, b, out, trans_a=trans_a, trans_b=trans_b, beta=beta, bias=bias,
                     activation=activation)
            check_gemm(out, a, b, out0, f"{name}-{isa}", trans_a=trans_a, trans_b=trans_b,
                       beta=beta, bias=bias, activation=activation)

    try:
        check()
    finally:
        if prev_backend:
            B.set_backend(prev_backend)
        if prev_isa:
            B.set_isa(prev_isa)


# The skinny path (at most 16 rows of C: gemm.cpp's unpacked kernels): both forms (op(B)'s
# columns contiguous: dot products; its rows contiguous: row streaming), every row-group remainder,
# K tails around the vector width, the column split across threads, the whole epilogue.
@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 7, 8, 15, 16])
@pytest.mark.parametrize("n,k", [(65, 1), (200, 9), (130, 300), (3, 17), (1000, 1100)])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (False, True), (True, True)],
                         ids=["rows", "dots", "dots-copied-a"])
def test_skinny_path_epilogue_and_threads(backend, rng, m, n, k, trans_a, trans_b):
    a = _operand(rng, m, k, trans_a, np.float32)
    b = _operand(rng, k, n, trans_b, np.float32)
    out0 = rng.standard_normal((m, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    kw = dict(trans_a=trans_a, trans_b=trans_b, alpha=0.5, beta=-1.5, bias=bias, activation="tanh")
    results = []
    prev = nervo.get_num_threads()
    try:
        for threads in (1, 2):
            nervo.set_num_threads(threads)
            out = out0.copy()
            ops.gemm(a, b, out, **kw)
            results.append(out)
    finally:
        nervo.set_num_threads(prev)
    for threads, out in zip((1, 2), results):
        check_gemm(out, a, b, out0, f"skinny {m}x{n}x{k} threads={threads}", **kw)
    np.testing.assert_array_equal(results[0], results[1])
