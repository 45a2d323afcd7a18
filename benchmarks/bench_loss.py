"""loss benchmarks, nervo vs torch (cases: nervo.bench.cases.loss)."""
import pytest

from nervo.bench import pytest_params, run_pytest_benchmark


@pytest.mark.parametrize("case,impl", pytest_params("loss"))
def test_loss(benchmark, case, impl):
    run_pytest_benchmark(benchmark, case, impl)
