"""float32 GEMM: square problems and the shapes of one training step of a 784-256-128-10 MLP at
batch 128 (forward x @ W.T, backward dY @ W and dY.T @ x), nervo vs numpy (OpenBLAS) and torch.mm,
all writing into a preallocated output, on the same thread count. Plus 1024^3 on one thread
(compare with nervo.ops.peak_gflops(1), recorded by benchmarks/bench_gemm.py).

NOTE: numpy's OpenBLAS picks its kernel from OPENBLAS_CORETYPE when it loads; the environment sets
it to Haswell (AVX2). On a CPU with AVX-512, run the benchmark with OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset to compare with its SkylakeX kernel. On an AVX2-only CPU both are the same.
"""
import numpy as np

from nervo.bench import Case, Unavailable, nervo_backend, threads_default, torch_module

BATCH = 128
MLP = (784, 256, 128, 10)


def _blas_limits(threads):
    # nervo.bench.blas_limits reuses one threadpoolctl controller: threadpool_limits() rescans the
    # loaded libraries on each call (~1 ms), which would be charged to numpy inside run().
    from nervo.bench import blas_limits
    return blas_limits(threads)  # None without threadpoolctl: numpy keeps its default count


def _make(m, n, k, trans_a, trans_b, threads=None):
    """op(a) (m x k) @ op(b) (k x n); a is stored transposed when trans_a (likewise b)."""
    def data():
        rng = np.random.default_rng(0)
        a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
        b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
        return a, b

    def setup(impl):
        a, b = data()
        out = np.empty((m, n), np.float32)
        nthreads = threads or threads_default()
        if impl.startswith("nervo"):
            nervo_backend(impl)
            import nervo
            import nervo.ops as ops
            ops.gemm(a, b, out, trans_a=trans_a, trans_b=trans_b)  # warm up (numba compiles)

            def run():
                prev = nervo.get_num_threads()
                nervo.set_num_threads(nthreads)
                try:
                    return ops.gemm(a, b, out, trans_a=trans_a, trans_b=trans_b)
                finally:
                    nervo.set_num_threads(prev)
            return run
        if impl == "numpy":
            opa, opb = (a.T if trans_a else a), (b.T if trans_b else b)
            limits = _blas_limits(nthreads)
            if limits is not None:
                limits.restore_original_limits()

            def run():
                lim = _blas_limits(nthreads)
                try:
                    return np.matmul(opa, opb, out=out)
                finally:
                    if lim is not None:
                        lim.restore_original_limits()
            return run
        if impl == "torch":
            torch = torch_module(nthreads)
            ta, tb, tout = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
            opa, opb = (ta.t() if trans_a else ta), (tb.t() if trans_b else tb)

            def run():
                prev = torch.get_num_threads()
                torch.set_num_threads(nthreads)
                try:
                    return torch.mm(opa, opb, out=tout)
                finally:
                    torch.set_num_threads(prev)
            return run
        raise Unavailable(f"no {impl} implementation")

    def reference():
        a, b = data()
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        return (a64.T if trans_a else a64) @ (b64.T if trans_b else b64)

    return setup, reference


def _case(op, label, m, n, k, trans_a=False, trans_b=False, threads=None, quick=True):
    setup, reference = _make(m, n, k, trans_a, trans_b, threads)
    return Case(op=op, shape=label, setup=setup, reference=reference, flops=2.0 * m * n * k,
                rtol=1e-3, atol=1e-3 * max(1.0, k ** 0.5),
                impls=("nervo-native", "nervo-numba", "numpy", "torch"),
                tags=(f"threads:{threads}",) if threads else (),
                quick=(lambda: _case(op, label + "-quick", 8, 8, 8, trans_a, trans_b, threads, False))
                if quick else None)


def _mlp_cases():
    out = []
    for fan_in, fan_out in zip(MLP[:-1], MLP[1:]):
        w = f"{fan_out}x{fan_in}"
        # forward: y (B, out) = x (B, in) @ W.T, W stored (out, in)
        out.append(_case("sgemm_mlp_fwd", f"x{BATCH}x{fan_in}@W{w}.T", BATCH, fan_out, fan_in,
                         trans_b=True))
        # backward to the input: dx (B, in) = dY (B, out) @ W
        out.append(_case("sgemm_mlp_bwd_data", f"dY{BATCH}x{fan_out}@W{w}", BATCH, fan_in, fan_out))
        # backward to the weight: dW (out, in) = dY.T @ x
        out.append(_case("sgemm_mlp_bwd_weight", f"dY{BATCH}x{fan_out}.T@x{BATCH}x{fan_in}",
                         fan_out, fan_in, BATCH, trans_a=True))
    return out


CASES = [
    _case("sgemm", "256^3", 256, 256, 256),
    _case("sgemm", "1024^3", 1024, 1024, 1024),
    _case("sgemm", "2048^3", 2048, 2048, 2048),
    *_mlp_cases(),
    _case("sgemm_1thread", "1024^3", 1024, 1024, 1024, threads=1),
]
