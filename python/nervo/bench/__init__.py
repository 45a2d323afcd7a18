"""Benchmark cases shared by the pytest-benchmark suite (benchmarks/) and ``nervo bench``.

A :class:`Case` is one operation at one shape (its pytest-benchmark group is ``"<op>:<shape>"``)
with one setup function per implementation. ``setup(impl)`` builds the inputs and returns a
zero-argument callable to time; it raises :class:`Unavailable` when that implementation (a peer
like torch, or the numba backend) is not installed. Before an implementation is timed its result
is checked against ``reference()``; a wrong result is reported and never timed.

Families register a module with a list ``CASES`` in :mod:`nervo.bench.cases`. The same cases
serve three users:

* ``benchmarks/bench_<family>.py``: ``pytest_params(family)`` + ``run_pytest_benchmark(...)``;
* ``nervo bench`` on the command line (:mod:`nervo.bench.cli`);
* :func:`run` in Python (:mod:`nervo.bench.runner`), e.g.
  ``nervo.bench.run(suite="kernels", filter="gemm", threads=2, json="out.json")``.

Tags a case may carry: ``"kernels"``/``"layers"``/``"models"`` (its suite, like ``Case.suite``)
and ``"threads:N"`` when its setup pins N threads itself (e.g. a single-thread GEMM), so that
``nervo bench`` reports its rate against the N-thread peak.

Vocabulary: *impl* is one implementation name (``nervo-native``, ``nervo-numba``, ``numpy``,
``torch``, ``onnxruntime``); the *suite* of a case is ``kernels``, ``layers`` or ``models``.
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

IMPLS = ("nervo-native", "nervo-numba", "numpy", "torch")
SUITES = ("kernels", "layers", "models")

# How to get each peer (shown when it is missing; torch is pinned: an unpinned torch pulls a CUDA build).
INSTALL = {
    "nervo-native": "reinstall nervo with a C++ compiler present",
    "nervo-numba": 'pip install "nervo[numba]"',
    "numpy": "pip install numpy",
    "torch": 'pip install "torch==2.13.0"',
    "onnxruntime": "pip install onnxruntime",
    "matplotlib": 'pip install "nervo[plot]"',
}

# The suite of a family's cases unless a case says otherwise (Case.suite or a tag naming a suite).
FAMILY_SUITE = {
    "act": "kernels", "gemm": "kernels", "conv": "kernels", "pool": "kernels", "norm": "kernels",
    "loss": "kernels", "optim": "kernels",
    "rnn": "layers", "attn": "layers", "privacy": "layers",
    "models": "models",
}


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
    suite: str = ""                           # "kernels" | "layers" | "models"; "" = the family's

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
        raise Unavailable(f"{exc} ({INSTALL.get(impl, '')})") from exc


def torch_module(threads: int | None = None):
    """``import torch`` pinned to nervo's thread count, or raise :class:`Unavailable`."""
    try:
        import torch
    except ImportError as exc:
        raise Unavailable(f"torch is not installed ({INSTALL['torch']})") from exc
    import nervo
    torch.set_num_threads(threads or nervo.get_num_threads())
    return torch


_BLAS = {"controller": None, "loaded": False, "current": None}


class _BlasLimit:
    """What :func:`blas_limits` returns: ``restore_original_limits()`` puts the previous count back."""

    def __init__(self, limiter, previous):
        self._limiter, self._previous = limiter, previous

    def restore_original_limits(self) -> None:
        if self._limiter is not None:
            self._limiter.restore_original_limits()
            self._limiter = None
            _BLAS["current"] = self._previous


def blas_limits(threads: int):
    """Limit numpy's BLAS pool to ``threads`` (threadpoolctl); returns an object whose
    ``restore_original_limits()`` undoes it, or None without threadpoolctl.

    NOTE: ``threadpoolctl.threadpool_limits`` rescans the loaded libraries on every call (about
    1 ms here), which would be charged to numpy if done inside a timed callable. This reuses one
    ``ThreadpoolController`` and does nothing when the pool already has ``threads`` (the count
    this function set last; a change made behind its back is not seen).
    """
    if not _BLAS["loaded"]:
        _BLAS["loaded"] = True
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            pass
        else:
            controller = ThreadpoolController().select(user_api="blas")
            _BLAS["controller"] = controller
            counts = [lib["num_threads"] for lib in controller.info()]
            _BLAS["current"] = counts[0] if counts and len(set(counts)) == 1 else None
    controller = _BLAS["controller"]
    if controller is None:
        return None
    previous = _BLAS["current"]
    if previous == threads:
        return _BlasLimit(None, previous)
    limiter = controller.limit(limits=threads)
    _BLAS["current"] = threads
    return _BlasLimit(limiter, previous)


# ---------------------------------------------------------------------------------------------
# Checking a result against the reference


def _flatten(value, prefix=""):
    """(name, leaf) pairs of a result: tuples/lists by position, dicts by sorted key."""
    if isinstance(value, dict):
        for key in sorted(value):
            yield from _flatten(value[key], f"{prefix}[{key!r}]")
    elif isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{i}]")
    else:
        yield prefix, value


def _as_array(value) -> np.ndarray:
    if hasattr(value, "detach"):            # torch.Tensor (any device, any float dtype)
        value = value.detach().cpu()
        if str(value.dtype) in ("torch.bfloat16", "torch.float16"):
            value = value.float()
        value = value.numpy()
    return np.asarray(value, dtype=np.float64)


def check_result(case: Case, got, want=None) -> str | None:
    """None when ``got`` matches the reference, else a message saying how it differs.

    ``want`` is the reference result when the caller computed it already (``case.reference()``
    otherwise). Results may be arrays, torch tensors, scalars, or tuples/lists/dicts of them; each
    leaf is compared with ``np.isclose(rtol=case.rtol, atol=case.atol)`` in float64, NaN matching
    NaN. The message names the output, the count of bad elements, the max difference and the
    first bad index.
    """
    if want is None:
        if case.reference is None:
            return None
        want = case.reference()
    gots, wants = list(_flatten(got)), list(_flatten(want))
    if len(gots) != len(wants):
        return f"returns {len(gots)} output(s), the reference {len(wants)}"
    for i, ((name, g), (_, w)) in enumerate(zip(gots, wants)):
        label = f"output {name or i}"
        try:
            g = _as_array(g)
        except (TypeError, ValueError) as exc:
            return f"{label}: not numeric ({type(g).__name__}: {exc})"
        w = _as_array(w)
        if g.shape != w.shape:
            return f"{label}: shape {g.shape} != {w.shape}"
        with np.errstate(invalid="ignore", over="ignore"):
            same = (g == w) | (np.isnan(g) & np.isnan(w))
            bad = ~(same | (np.abs(g - w) <= case.atol + case.rtol * np.abs(w)))
        if bad.any():
            idx = np.unravel_index(int(np.argmax(bad)), bad.shape) if bad.ndim else ()
            with np.errstate(invalid="ignore"):
                diff = np.abs(g - w)[bad]
                worst = np.nanmax(diff) if np.isfinite(diff).any() else float("nan")
            return (f"{label}: {int(bad.sum())} of {bad.size} elements differ "
                    f"(rtol={case.rtol:g}, atol={case.atol:g}); max |diff| {worst:.3g}; first at "
                    f"{tuple(int(j) for j in idx)}: got {g[idx]!r}, want {w[idx]!r}")
    return None


# The reference of the case checked last: pytest parametrizes impls innermost, so each case's
# (possibly slow, float64) reference is computed once rather than once per implementation.
_REF_CACHE: dict = {"case": None, "value": None}


def reference_of(case: Case):
    """``case.reference()``, computed once for consecutive calls with the same case."""
    if _REF_CACHE["case"] is not case:
        _REF_CACHE["case"], _REF_CACHE["value"] = None, None
        value = case.reference() if case.reference is not None else None
        _REF_CACHE["case"], _REF_CACHE["value"] = case, value
    return _REF_CACHE["value"]


# ---------------------------------------------------------------------------------------------
# Finding cases


def families() -> dict:
    """family name -> module with ``CASES`` (every registered family)."""
    from nervo.bench.cases import FAMILIES
    return dict(FAMILIES)


def all_cases(family: str | None = None) -> list[Case]:
    out = []
    for fam, module in families().items():
        if family is None or fam == family:
            out.extend(module.CASES)
    return out


def suite_of(case: Case, family: str) -> str:
    """``kernels``, ``layers`` or ``models``: Case.suite, else a tag naming a suite, else the family's."""
    if case.suite:
        return case.suite
    for tag in case.tags:
        if tag in SUITES:
            return tag
    return FAMILY_SUITE.get(family, "kernels")


def matches(pattern: str | None, family: str, case: Case) -> bool:
    """Does ``--filter PATTERN`` select this case? Comma-separated alternatives, each a
    case-insensitive substring of ``family/op:shape`` (or a glob when it has ``*?[``)."""
    if not pattern:
        return True
    text = f"{family}/{case.group}".lower()
    for alt in (p.strip().lower() for p in pattern.split(",")):
        if not alt:
            continue
        if any(ch in alt for ch in "*?["):
            if fnmatch.fnmatchcase(text, alt) or fnmatch.fnmatchcase(case.group.lower(), alt):
                return True
        elif alt in text:
            return True
    return False


def select(suite: str = "all", pattern: str | None = None, quick: bool = False) -> list[tuple[str, Case]]:
    """(family, case) pairs of a suite (``all`` or one of SUITES) matching ``pattern``.

    With ``quick`` each case is replaced by its tiny ``quick()`` version; cases without one are
    left out (a smoke run must stay fast), and duplicate quick versions are kept once.
    """
    if suite != "all" and suite not in SUITES:
        raise ValueError(f"nervo.bench: suite must be 'all' or one of {SUITES}, got {suite!r}")
    out, seen = [], set()
    for fam, module in families().items():
        for case in module.CASES:
            if suite != "all" and suite_of(case, fam) != suite:
                continue
            if not matches(pattern, fam, case):
                continue
            if quick:
                if case.quick is None:
                    continue
                small = case.quick()
                if not small.suite:
                    small.suite = suite_of(case, fam)
                case = small
            key = (fam, case.group)
            if key in seen:
                continue
            seen.add(key)
            out.append((fam, case))
    return out


# ---------------------------------------------------------------------------------------------
# pytest-benchmark glue (benchmarks/bench_<family>.py)


def pytest_params(family: str):
    """(case, impl) pairs for pytest.mark.parametrize, with readable ids."""
    import pytest
    return [pytest.param(c, impl, id=f"{c.group}-{impl}") for c in all_cases(family) for impl in c.impls]


def run_pytest_benchmark(benchmark, case: Case, impl: str) -> None:
    """Body of every benchmarks/bench_<family>.py test: set up, check, then time.

    A missing implementation skips; a wrong result fails before anything is timed. ``extra_info``
    records impl, backend, ISA, threads and GFLOP/s or GB/s (from the median).
    """
    import pytest
    import nervo
    if getattr(benchmark, "disabled", False) and case.quick is not None:
        # The plain test run (--benchmark-disable) executes every case once so none can rot; the
        # tiny version exercises the same code paths and checks in a fraction of the time.
        case = case.quick()
    prev = nervo.backend.backend()
    try:
        try:
            fn = case.setup(impl)
        except Unavailable as exc:
            pytest.skip(str(exc))
        err = check_result(case, fn(), reference_of(case))
        assert err is None, f"{case.group} [{impl}] gives a wrong result: {err}"
        benchmark.group = case.group
        benchmark.extra_info.update(impl=impl, backend=nervo.backend.backend(), isa=nervo.get_isa(),
                                    threads=nervo.get_num_threads())
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


def run(*args, **kwargs):
    """Run benchmarks and return a report: see :func:`nervo.bench.runner.run`."""
    from nervo.bench.runner import run as _run
    return _run(*args, **kwargs)


__all__ = ["Case", "Unavailable", "IMPLS", "SUITES", "INSTALL", "check_result", "reference_of",
           "all_cases", "families", "select", "suite_of", "matches", "pytest_params",
           "run_pytest_benchmark", "nervo_backend", "torch_module", "blas_limits", "threads_default", "run"]
