"""float32 GEMM, nervo vs numpy/torch (cases: nervo.bench.cases.gemm), and single-thread 1024^3
as a fraction of the measured FMA peak.

The fraction of peak compares like with like: nervo.ops.peak_gflops times its FMA loop by the
thread's CPU time, and the GEMM's CPU-time rate is recorded next to pytest-benchmark's wall-clock
figure (on a shared machine wall time also counts the slices other processes take).
"""
import time

import numpy as np
import pytest

import nervo
from nervo.bench import pytest_params, run_pytest_benchmark


@pytest.mark.parametrize("case,impl", pytest_params("gemm"))
def test_gemm(benchmark, case, impl):
    run_pytest_benchmark(benchmark, case, impl)


def test_gemm_1thread_fraction_of_peak(benchmark):
    if "native" not in nervo.backend.available_backends():
        pytest.skip("native backend only")
    import nervo.ops as ops
    prev_backend, prev_threads = nervo.backend.backend(), nervo.get_num_threads()
    n = 1024
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    out = np.empty((n, n), np.float32)
    try:
        nervo.set_backend("native")
        nervo.set_num_threads(1)
        peak = ops.peak_gflops(1, 0.3)
        benchmark.group = "sgemm_1thread_vs_peak:1024^3"
        ops.gemm(a, b, out)
        cpu = []
        for _ in range(5):
            t0 = time.thread_time()
            ops.gemm(a, b, out)
            cpu.append(time.thread_time() - t0)
        cpu_gflops = 2.0 * n ** 3 / max(min(cpu), 1e-9) / 1e9
        benchmark.extra_info.update(isa=nervo.get_isa(), threads=1, peak_gflops=round(peak, 1),
                                    cpu_time_GFLOPs=round(cpu_gflops, 2),
                                    fraction_of_peak=round(cpu_gflops / peak, 3))
        benchmark(ops.gemm, a, b, out)
        stats = getattr(benchmark, "stats", None)
        if stats is not None and getattr(stats, "stats", None) is not None:
            benchmark.extra_info["GFLOP/s"] = round(2.0 * n ** 3 / stats.stats.median / 1e9, 2)
    finally:
        nervo.set_num_threads(prev_threads)
        if prev_backend:
            nervo.set_backend(prev_backend)
