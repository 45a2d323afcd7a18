"""DP-SGD step vs ordinary step (cases: nervo.bench.cases.privacy). Bar: private <= 2.5x."""
import pytest

from nervo.bench import pytest_params, run_pytest_benchmark


@pytest.mark.parametrize("case,impl", pytest_params("privacy"))
def test_privacy(benchmark, case, impl):
    run_pytest_benchmark(benchmark, case, impl)
