"""Benchmark cases shared by the pytest-benchmark suite (benchmarks/) and ``nervo bench``.

A :class:`Case` is one operation at one shape (its pytest-benchmark group is ``"<op>:<shape>"``)
with one setup function per implementation. ``setup(impl)`` builds the inputs and returns a
zero-argument callable to time; it raises :class:`Unavailable` when that implementation (a peer
like torch, or the numba backend) is not installed. Before an implementation is timed its result
is checked against ``reference()``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

IMPLS = ("nervo-native", "nervo-numba", "numpy", "torch")


class Unavailable(Exception):
    """This implementation cannot run here (message: why, and how to install it)."""


@dataclass
class Case:
    op: str                                   # e.g. "relu_fwd_bwd"
    shape: str                                # e.g. "6.4M"
    setup: Callable[[str], Callable[[], Any]]   # impl -> zero-arg callable returning its result
    reference: Callable[[], Any] | None = None  # expected result of the callable (any impl)
    flops: float = 0.0                        # per call (GFLOP/s = flops / seconds / 1e9)
    nbytes: float = 0.0                       # memory traffic per call (GB/s)
    impls: tuple = IMPLS
    rtol: float = 1e-4
    atol: float = 1e-5
    quick: Callable[[], "Case"] | None = None   # a tiny version for smoke runs
    tags: tuple = field(default_factory=tuple)

    @property
    def group(self) -> str:
        return f"{self.op}:{self.shape}"


def nervo_backend(impl: str):
    """Switch nervo to the backend named by ``impl`` ("nervo-native" / "nervo-numba")."""
    import nervo
    name = impl.split("-", 1)[1]
    try:
        nervo.set_backend(name)
    except ImportError as exc:
        raise Unavailable(str(exc)) from exc


def torch_module(threads: int | None = None):
    try:
        import torch
    except ImportError as exc:
        raise Unavailable('torch is not installed (pip install "torch==2.13.0")') from exc
    import nervo
    torch.set_num_threads(threads or nervo.get_num_threads())
    return torch


def check_result(case: Case, got) -> str | None:
    """None when ``got`` matches the reference, else a message saying how it differs."""
    if case.reference is None:
        return None
    want = case.reference()
    gots = got if isinstance(got, (tuple, list)) else (got,)
    wants = want if isinstance(want, (tuple, list)) else (want,)
    for i, (g, w) in enumerate(zip(gots, wants)):
        if hasattr(g, "detach"):
            g = g.detach().numpy()
        g = np.asarray(g, dtype=np.float64)
        w = np.asarray(w, dtype=np.float64)
        if g.shape != w.shape:
            return f"output {i}: shape {g.shape} != {w.shape}"
        if not np.allclose(g, w, rtol=case.rtol, atol=case.atol, equal_nan=True):
            return f"output {i}: max |diff| {np.nanmax(np.abs(g - w)):.3g}"
    return None


def all_cases(family: str | None = None) -> list[Case]:
    from nervo.bench.cases import FAMILIES
    out = []
    for fam, module in FAMILIES.items():
        if family is None or fam == family:
            out.extend(module.CASES)
    return out


def pytest_params(family: str):
    """(case, impl) pairs for pytest.mark.parametrize, with readable ids."""
    import pytest
    return [pytest.param(c, impl, id=f"{c.group}-{impl}") for c in all_cases(family) for impl in c.impls]


def run_pytest_benchmark(benchmark, case: Case, impl: str) -> None:
    """Body of every benchmarks/bench_<family>.py test: set up, check, then time."""
    import pytest
    import nervo
    prev = nervo.backend.backend()
    try:
        try:
            fn = case.setup(impl)
        except Unavailable as exc:
            pytest.skip(str(exc))
        err = check_result(case, fn())
        assert err is None, f"{case.group} [{impl}] gives a wrong result: {err}"
        benchmark.group = case.group
        benchmark.extra_info.update(isa=nervo.get_isa(), threads=nervo.get_num_threads(), impl=impl)
        benchmark(fn)
        stats = getattr(benchmark, "stats", None)
        if stats is not None and getattr(stats, "stats", None) is not None:
            t = stats.stats.median
            if case.flops:
                benchmark.extra_info["GFLOP/s"] = round(case.flops / t / 1e9, 2)
            if case.nbytes:
                benchmark.extra_info["GB/s"] = round(case.nbytes / t / 1e9, 2)
    finally:
        if prev:
            nervo.set_backend(prev)


def threads_default() -> int:
    import nervo
    return nervo.get_num_threads() if os.environ.get("NERVO_BENCH_THREADS") is None else int(os.environ["NERVO_BENCH_THREADS"])
