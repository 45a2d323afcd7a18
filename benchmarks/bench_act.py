"""Activations forward+backward, nervo vs numpy/torch (cases: nervo.bench.cases.act)."""
import pytest

from nervo.bench import pytest_params, run_pytest_benchmark


@pytest.mark.parametrize("case,impl", pytest_params("act"))
def test_act(benchmark, case, impl):
    run_pytest_benchmark(benchmark, case, impl)
