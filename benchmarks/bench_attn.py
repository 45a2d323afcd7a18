"""Scaled-dot-product attention forward+backward, nervo vs numpy/torch (cases: nervo.bench.cases.attn)."""
import pytest

from nervo.bench import pytest_params, run_pytest_benchmark


@pytest.mark.parametrize("case,impl", pytest_params("attn"))
def test_attn(benchmark, case, impl):
    run_pytest_benchmark(benchmark, case, impl)
