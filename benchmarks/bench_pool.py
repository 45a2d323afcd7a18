"""pool kernels forward and forward+backward, nervo vs torch (cases: nervo.bench.cases.pool)."""
import pytest

from nervo.bench import pytest_params, run_pytest_benchmark


@pytest.mark.parametrize("case,impl", pytest_params("pool"))
def test_pool(benchmark, case, impl):
    run_pytest_benchmark(benchmark, case, impl)
