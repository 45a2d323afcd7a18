"""conv kernels forward and forward+backward, nervo vs torch (cases: nervo.bench.cases.conv)."""
import pytest

from nervo.bench import pytest_params, run_pytest_benchmark


@pytest.mark.parametrize("case,impl", pytest_params("conv"))
def test_conv(benchmark, case, impl):
    run_pytest_benchmark(benchmark, case, impl)
