"""embed benchmarks, nervo vs torch (cases: nervo.bench.cases.embed)."""
import pytest

from nervo.bench import pytest_params, run_pytest_benchmark


@pytest.mark.parametrize("case,impl", pytest_params("embed"))
def test_embed(benchmark, case, impl):
    run_pytest_benchmark(benchmark, case, impl)
