"""norm kernels forward and forward+backward, nervo vs torch (cases: nervo.bench.cases.norm)."""
import pytest

from nervo.bench import pytest_params, run_pytest_benchmark


@pytest.mark.parametrize("case,impl", pytest_params("norm"))
def test_norm(benchmark, case, impl):
    run_pytest_benchmark(benchmark, case, impl)
