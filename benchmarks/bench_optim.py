"""optim benchmarks, nervo vs torch (cases: nervo.bench.cases.optim)."""
import pytest

from nervo.bench import pytest_params, run_pytest_benchmark


@pytest.mark.parametrize("case,impl", pytest_params("optim"))
def test_optim(benchmark, case, impl):
    run_pytest_benchmark(benchmark, case, impl)


def test_stream_triad_bandwidth(benchmark):
    """The GB/s reference for the streaming kernels (optimizer steps, activations): a STREAM
    triad a = b + s*c over 64 MiB float64 arrays on nervo's thread count, in the same run."""
    import nervo
    from nervo.bench.runner import measure_bandwidth
    threads = nervo.get_num_threads()
    bw = benchmark.pedantic(measure_bandwidth, args=(threads,), kwargs={"trials": 3}, rounds=1,
                            iterations=1)
    benchmark.group = "stream_triad:64MiB"
    benchmark.extra_info.update(threads=threads, **{"GB/s": round(bw["gbs"], 2), "method": bw["method"]})
    assert bw["gbs"] > 0
