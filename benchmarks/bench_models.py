"""Model-level benchmarks (framework overhead, batch-1 inference, training steps), nervo vs torch
(cases: nervo.bench.cases.models)."""
import pytest

from nervo.bench import pytest_params, run_pytest_benchmark


@pytest.mark.parametrize("case,impl", pytest_params("models"))
def test_models(benchmark, case, impl):
    run_pytest_benchmark(benchmark, case, impl)
