"""softmax benchmarks, nervo vs torch (cases: nervo.bench.cases.softmax)."""
import pytest

from nervo.bench import pytest_params, run_pytest_benchmark


@pytest.mark.parametrize("case,impl", pytest_params("softmax"))
def test_softmax(benchmark, case, impl):
    run_pytest_benchmark(benchmark, case, impl)
