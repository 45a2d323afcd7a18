"""dropout benchmarks, nervo vs torch (cases: nervo.bench.cases.dropout)."""
import pytest

from nervo.bench import pytest_params, run_pytest_benchmark


@pytest.mark.parametrize("case,impl", pytest_params("dropout"))
def test_dropout(benchmark, case, impl):
    run_pytest_benchmark(benchmark, case, impl)
