"""Backend selection, the kernel registry, threads and run-time information.

Two backends implement the same kernels under the same names and signatures:

* ``native``: the C++ extension ``nervo._C`` (AVX2/AVX-512 microkernels chosen at run time, OpenMP).
* ``numba``: ``nervo.backend.numba`` (used when no compiler was available at install time, or when
  forced with ``NERVO_BACKEND=numba`` / :func:`set_backend`).

``K`` is the registry the ops layer calls through: ``K["act_forward"](...)``. It is updated in place
when the backend changes, so callers may keep a reference to it.
"""
from __future__ import annotations

import importlib
import os

from nervo._version import __version__

__all__ = [
    "K", "backend", "set_backend", "available_backends", "info", "set_num_threads",
    "get_num_threads", "set_isa", "get_isa", "native_module", "numba_kernels",
]

_NUMBA_HINT = 'install the Numba fallback with: pip install "nervo[numba]"'


class _Registry(dict):
    """name -> kernel for the active backend; a missing backend raises on first use."""

    missing_reason = ""
    blocked_reason = ""

    def __missing__(self, name):
        if self.blocked_reason:
            raise RuntimeError(self.blocked_reason)
        if self.missing_reason:
            raise ImportError(f"nervo: no kernel backend is available ({self.missing_reason}); "
                              f"{_NUMBA_HINT}, or reinstall nervo with a C++ compiler present")
        raise KeyError(f"nervo: kernel {name!r} is not registered in the {backend()!r} backend")


K = _Registry()
_state = {"backend": None, "threads": None}
_native = None
_native_error = None
_numba_table = None
_numba_error = None


# OpenMP threads that finish early wait for the others. GNU OpenMP's default is to spin for a
# long while first (300,000 rounds): on a machine whose cores are busy with other work (a shared
# server, a data pipeline's own threads) a spinning thread steals the time slice of the thread it
# waits for. A CNN training step at batch 128, 2 threads on 2 busy cores (load 8): 1.3-1.7 s
# with the default spin, 0.74 s with 10,000 rounds, 0.40 s fully passive. On an idle machine
# passive waits cost 7-20% on mid-size 2-thread products (a sleeping thread's vCPU is slow to
# wake: 128x784x256 took 700 us after a 0.2 s pause) while 10,000 rounds cost nothing (360 us,
# the same as spinning forever). So nervo sets GOMP_SPINCOUNT=10000 unless the user chose a
# policy; it must be set before libgomp is loaded (libgomp reads the environment once).
_OMP_ENV_DEFAULTS = {"GOMP_SPINCOUNT": "10000"}


def _omp_defaults():
    if not any(k in os.environ for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")):
        os.environ.update(_OMP_ENV_DEFAULTS)


def native_module():
    """The ``nervo._C`` extension, or raise ImportError saying why it is unavailable."""
    global _native, _native_error
    if _native is None and _native_error is None:
        _omp_defaults()
        try:
            _native = importlib.import_module("nervo._C")
        except ImportError as exc:  # pure-Python install (no compiler at install time)
            _native_error = str(exc)
    if _native is None:
        raise ImportError(
            "nervo: the native backend is not available: the extension nervo._C failed to import "
            f"({_native_error}). Reinstall with a C++ compiler present (pip install --force-reinstall "
            f"--no-binary nervo nervo), or use the numba backend ({_NUMBA_HINT}).")
    return _native


def numba_kernels():
    """The numba backend's kernel table (imports numba on first use)."""
    global _numba_table, _numba_error
    if _numba_table is None:
        _omp_defaults()  # numba's OpenMP threading layer loads libgomp too
        try:
            from nervo.backend.numba import KERNELS
        except ImportError as exc:
            _numba_error = str(exc)
            raise ImportError(f"nervo: the numba backend is not available ({exc}); {_NUMBA_HINT}") from exc
        _numba_table = KERNELS
        if _state["threads"] is not None:
            _numba_set_threads(_state["threads"])
    return _numba_table


def native_kernels():
    mod = native_module()
    return {name: getattr(mod, name) for name in mod.KERNELS}


def available_backends() -> list[str]:
    out = []
    for name, loader in (("native", native_module), ("numba", numba_kernels)):
        try:
            loader()
            out.append(name)
        except ImportError:
            pass
    return out


def backend() -> str | None:
    """The active backend's name: ``"native"``, ``"numba"``, or None when neither is available."""
    return _state["backend"]


def set_backend(name: str) -> None:
    """Switch every kernel to backend ``name`` (``"native"`` or ``"numba"``).

    Raises:
        ValueError: unknown name.
        ImportError: that backend is not available here (the message says how to get it).
    """
    if name == "native":
        table = native_kernels()
    elif name == "numba":
        table = numba_kernels()
    else:
        raise ValueError(f"nervo.set_backend: unknown backend {name!r} (expected 'native' or 'numba')")
    K.clear()
    K.update(table)
    K.missing_reason = K.blocked_reason = ""
    _state["backend"] = name


def _numba_set_threads(n: int) -> None:
    import numba
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))


def set_num_threads(n: int) -> None:
    """Set the thread count of the native kernels (OpenMP) and of numba's pool together."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"nervo.set_num_threads: n must be a positive int, got {n!r}")
    _state["threads"] = n
    if _native is not None:
        _native.set_num_threads(n)
    if _numba_table is not None:
        _numba_set_threads(n)


def get_num_threads() -> int:
    """The thread count kernels use (default: cores available, respecting OMP_NUM_THREADS)."""
    if _state["threads"] is not None:
        return _state["threads"]
    if _native is not None:
        return _native.get_num_threads()
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0]
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def get_isa() -> str | None:
    """The ISA level the native kernels run at (``generic``, ``avx2``, ``avx512``), or None."""
    return _native.isa() if _native is not None else None


def set_isa(name: str) -> None:
    """Force the native kernels' ISA level; raises RuntimeError if this CPU lacks it."""
    native_module().set_isa(name)


def info() -> dict:
    """What nervo runs on: version, backend, ISA level in use and available, threads, OpenMP,
    CUDA and the compiler/flags the extension was built with."""
    nat = _native
    return {
        "version": __version__,
        "backend": backend(),
        "backends_available": available_backends(),
        "isa": nat.isa() if nat else None,
        "isa_available": list(nat.isa_available()) if nat else [],
        "threads": get_num_threads(),
        "openmp": (nat.openmp_runtime() or None) if nat else None,
        "omp_wait": {k: os.environ[k] for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if k in os.environ},
        "cuda": bool(nat.CUDA) if nat else False,
        "compiler": f"{nat.COMPILER}; flags: {nat.CXX_FLAGS}" if nat else None,
        "native_error": _native_error,
    }


def _after_fork_in_child() -> None:
    """A child forked after the kernels' thread pools started: GNU OpenMP would hang in the native
    kernels and numba's OpenMP layer aborts the process. Keep the child usable (native kernels run
    single-threaded there) or make it fail with a clear error (numba), never hang."""
    if _native is not None:
        _native.set_num_threads(1)
        _state["threads"] = 1
    if _numba_table is not None and _state["backend"] == "numba":
        try:
            import numba
            layer = numba.threading_layer()
        except (ImportError, ValueError):  # ValueError: numba's threads never started
            return
        if layer == "omp":
            K.clear()
            K.blocked_reason = (
                "nervo: this process was forked after numba's OpenMP threads started, and numba "
                "cannot run parallel kernels in a forked child; use multiprocessing's 'spawn' start "
                "method (multiprocessing.set_start_method('spawn')) or the native backend")


def _init() -> None:
    want = os.environ.get("NERVO_BACKEND", "").strip().lower()
    if want:
        if want not in ("native", "numba"):
            raise ImportError(f"nervo: NERVO_BACKEND={want!r} is not a backend (use 'native' or 'numba')")
        set_backend(want)  # raises ImportError saying why when unavailable
    else:
        try:
            set_backend("native")
        except ImportError:
            try:
                set_backend("numba")
            except ImportError as exc:
                K.missing_reason = f"nervo._C failed to import ({_native_error}) and numba is missing ({exc})"
    isa = os.environ.get("NERVO_ISA", "").strip().lower()
    if isa and _native is not None:
        try:
            _native.set_isa(isa)
        except (ValueError, RuntimeError) as exc:
            raise ImportError(f"nervo: NERVO_ISA={isa!r}: {exc}") from exc
    threads = get_num_threads()
    _state["threads"] = threads
    if _native is not None:
        _native.set_num_threads(threads)


_init()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
