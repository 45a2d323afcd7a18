"""Recurrent layers forward+backward, nervo vs numpy/torch (cases: nervo.bench.cases.rnn)."""
import pytest

from nervo.bench import pytest_params, run_pytest_benchmark


@pytest.mark.parametrize("case,impl", pytest_params("rnn"))
def test_rnn(benchmark, case, impl):
    run_pytest_benchmark(benchmark, case, impl)
