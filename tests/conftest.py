"""Shared fixtures: every kernel test runs on every backend and every forced ISA level."""
import os

import numpy as np
import pytest

import nervo
from nervo import backend as B


def _configs():
    out = []
    if "native" in B.available_backends():
        for isa in B.native_module().isa_available():
            out.append(("native", isa))
    if "numba" in B.available_backends():
        out.append(("numba", None))
    return out


CONFIGS = _configs()


@pytest.fixture(params=CONFIGS, ids=[f"{b}-{i}" if i else b for b, i in CONFIGS])
def backend(request):
    """Run the test under one backend (and ISA level); restore the previous setting after."""
    name, isa = request.param
    prev_backend, prev_isa = B.backend(), B.get_isa()
    B.set_backend(name)
    if isa:
        B.set_isa(isa)
    try:
        yield request.param
    finally:
        if prev_backend:
            B.set_backend(prev_backend)
        if prev_isa:
            B.set_isa(prev_isa)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def pytest_report_header(config):
    info = nervo.info()
    return [f"nervo {info['version']}: backend={info['backend']} isa={info['isa']} "
            f"available={info['isa_available']} backends={info['backends_available']} "
            f"threads={info['threads']} OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}"]
