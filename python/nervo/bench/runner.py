"""``nervo bench``: time nervo and every installed peer side by side, fairly, in one process.

What "fair" means here, and how each point is enforced:

* Same process, same inputs: every implementation of a case comes from the same
  :class:`nervo.bench.Case` (same shapes, dtypes, data).
* Same thread count for every peer: ``nervo.set_num_threads(n)``, ``torch.set_num_threads(n)``
  (through :func:`nervo.bench.torch_module`) and numpy's BLAS pool through threadpoolctl when it
  is installed (the report says when it is not).
* Correct before timed: each implementation's first call is checked against the case's
  reference; a wrong result is reported as ``wrong`` and never timed. That first call also
  compiles Numba kernels, so compilation is never timed.
* Warm-up, then ``repeats`` timed runs of ``number`` calls each (``number`` calibrated so one run
  lasts at least ``min_time``), with the garbage collector off; the reported time is the median
  per call, the spread is the interquartile range over the runs. Runs of the implementations of a
  case are interleaved (A B C A B C ...) so that drift on a shared machine hits all of them alike.
* Machine figures measured in the same process: a STREAM-like triad for memory bandwidth and
  ``nervo.ops.peak_gflops(threads)`` for the FMA peak; rates are reported as a fraction of them.

Vocabulary: *base* is the nervo implementation the ratios are relative to (``nervo-native``, or
``nervo-numba`` where native is missing); *ratio* of an implementation = its time / the base's
time, i.e. how many times faster nervo is (> 1: nervo faster).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import gc
import json as _json
import math
import os
import platform
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from nervo.bench import INSTALL, Case, Unavailable, check_result, select

FORMAT = "nervo-bench/1"          # "format" key of the JSON file
PEER_ORDER = ("nervo-native", "nervo-numba", "numpy", "torch", "onnxruntime")
REGRESSION_EXIT = 3               # exit status of `nervo bench --compare` past the threshold
WRONG_EXIT = 1                    # exit status when any result was wrong or failed
_SPIN_SETTLE_S = 0.15             # pause after an implementation whose BLAS threads spin (run_case)


@dataclass
class Settings:
    """How long to measure. ``quick`` is for CI smoke runs: tiny cases, few short repeats."""
    repeats: int = 7
    warmup: float = 0.1          # seconds of untimed calls after the checked first call
    min_time: float = 0.05       # seconds per timed run (calls per run calibrated to reach it)
    max_time: float = 10.0       # seconds of timed runs per implementation (fewer repeats beyond)

    @classmethod
    def quick(cls) -> "Settings":
        # The checked first call is the only warm-up and each implementation gets two single-call
        # runs: a smoke run (every case executes and is checked), not a measurement.
        return cls(repeats=2, warmup=0.0, min_time=0.0, max_time=0.05)


@dataclass
class Result:
    """One implementation of one case."""
    family: str
    suite: str
    op: str
    shape: str
    impl: str
    status: str                  # ok | wrong | skipped | error | unchecked (timed, no reference)
    message: str = ""
    median_s: float | None = None
    min_s: float | None = None
    max_s: float | None = None
    iqr_s: float | None = None
    repeats: int = 0
    number: int = 0              # calls per timed run
    gflops: float | None = None
    gbs: float | None = None
    fraction: float | None = None   # of the FMA peak (flop cases) or the triad bandwidth
    ratio: float | None = None      # time / base time (> 1: nervo's base faster)
    times_s: list = field(default_factory=list)

    @property
    def group(self) -> str:
        return f"{self.op}:{self.shape}"

    @property
    def timed(self) -> bool:
        return self.median_s is not None

    @property
    def spread(self) -> float | None:
        """Interquartile range over the runs, relative to the median."""
        if self.median_s and self.iqr_s is not None:
            return self.iqr_s / self.median_s
        return None


@dataclass
class Report:
    """What :func:`run` measured; ``to_dict()`` is the JSON file's content."""
    date: str
    command: str
    settings: dict
    machine: dict
    peers: dict
    skipped_peers: dict
    results: list
    elapsed_s: float = 0.0
    comparison: dict | None = None

    @property
    def wrong(self) -> list:
        return [r for r in self.results if r.status in ("wrong", "error")]

    def to_dict(self) -> dict:
        return {"format": FORMAT, "date": self.date, "command": self.command,
                "settings": self.settings, "machine": self.machine, "peers": self.peers,
                "skipped_peers": self.skipped_peers, "elapsed_s": round(self.elapsed_s, 3),
                "results": [dict(asdict(r), group=r.group) for r in self.results],
                **({"comparison": self.comparison} if self.comparison is not None else {})}

    def exit_code(self) -> int:
        """0; WRONG_EXIT when a result was wrong or failed; REGRESSION_EXIT past the threshold."""
        if self.comparison and self.comparison["regressions"]:
            return REGRESSION_EXIT
        return WRONG_EXIT if self.wrong else 0


# ---------------------------------------------------------------------------------------------
# Threads


@contextlib.contextmanager
def pinned_threads(threads: int):
    """Every peer on ``threads`` threads for the duration: nervo (OpenMP and numba), numpy's BLAS
    (threadpoolctl), torch (set again by torch_module in each setup). Restores nervo's after."""
    import nervo
    prev = nervo.get_num_threads()
    nervo.set_num_threads(threads)
    limits = None
    try:
        from nervo.bench import blas_limits
        limits = blas_limits(threads)
        if sys.modules.get("torch") is not None:
            sys.modules["torch"].set_num_threads(threads)
        yield limits is not None
    finally:
        if limits is not None:
            limits.restore_original_limits()
        nervo.set_num_threads(prev)


# ---------------------------------------------------------------------------------------------
# Machine: CPU, measured bandwidth and FMA peak


def _cpu_info() -> dict:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name") and model in ("", platform.machine(), platform.processor()):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    simd = [f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16")
            if f in flags]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": model, "cores_available": cores, "simd": simd,
            "avx512": "avx512f" in flags if flags else None}


def _loadavg() -> float | None:
    """The 1-minute load average (other processes competing for the cores), None where unknown."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


_TRIAD = None


def _numba_threading_for_peers() -> str | None:
    """Make numba use its own 'workqueue' thread pool in the benchmark process (unless the user
    chose a layer or numba's threads already started): numba's 'omp' layer shares libgomp with
    nervo and torch, and after one numba parallel launch torch's attention forward+backward ran
    30x slower for the rest of the process (27 ms -> 0.88 s, 2 threads), which would make every
    later torch time in the run wrong. Returns the layer in effect (None without numba)."""
    try:
        import numba
        from numba.np.ufunc import parallel as _par
    except ImportError:
        return None
    if "NUMBA_THREADING_LAYER" not in os.environ and not getattr(_par, "_is_initialized", True):
        numba.config.THREADING_LAYER = "workqueue"
    try:
        return numba.threading_layer()
    except ValueError:  # not initialized yet: the configured choice applies at the first launch
        return str(numba.config.THREADING_LAYER)


def _numba_triad():
    """A parallel STREAM triad a[i] = b[i] + s * c[i] (numba prange; None without numba)."""
    global _TRIAD
    if _TRIAD is None:
        try:
            import numba
        except ImportError:
            return None

        @numba.njit(parallel=True, fastmath=False, cache=True)
        def triad(a, b, c, s):  # pragma: no cover - compiled
            for i in numba.prange(a.shape[0]):
                a[i] = b[i] + s * c[i]

        @numba.njit(parallel=True, cache=True)
        def first_touch(a, v):  # pragma: no cover - compiled
            for i in numba.prange(a.shape[0]):
                a[i] = v
        _TRIAD = (triad, first_touch)
    return _TRIAD


def measure_bandwidth(threads: int, n: int = 1 << 23, trials: int = 10, use_numba: bool = True) -> dict:
    """STREAM-like triad bandwidth in GB/s on ``threads`` threads (best of ``trials``, STREAM's
    convention: 24 bytes per float64 element, write-allocate traffic not counted).

    With numba: one parallel pass a = b + s*c. Without: numpy's two passes (a = s*c; a += b),
    single-threaded, counted as the 5 array sweeps they make. ``n`` = 2**23 gives 64 MiB arrays,
    twice the 32 MiB L3 each, so the figure is DRAM bandwidth; the quick mode's small arrays
    measure the cache instead (the report says which).
    """
    kernels = _numba_triad() if use_numba else None
    a = np.empty(n)
    b = np.empty(n)
    c = np.empty(n)
    if kernels is not None:
        import numba
        triad, first_touch = kernels
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        for arr, v in ((a, 0.0), (b, 1.0), (c, 2.0)):
            first_touch(arr, v)          # pages land near the threads that use them
        run = lambda: triad(a, b, c, 3.0)  # noqa: E731
        nbytes, how = 3 * 8 * n, f"numba parallel triad, {threads} thread(s)"
    else:
        b.fill(1.0)
        c.fill(2.0)

        def run():
            np.multiply(c, 3.0, out=a)
            np.add(a, b, out=a)
        nbytes, how = 5 * 8 * n, ("numpy two-pass triad, 1 thread" +
                                  ("" if not use_numba else " (numba not installed)"))
    run()
    best, spent, done = math.inf, 0.0, 0
    # At least `trials` passes and 0.2 s: on a shared machine a pass can lose its time slice.
    while done < trials or (spent < (0.2 if use_numba else 0.02) and done < 50 * trials):
        t0 = time.perf_counter()
        run()
        dt = time.perf_counter() - t0
        best, spent, done = min(best, dt), spent + dt, done + 1
    if kernels is not None and not np.all(a[:: max(1, n // 97)] == 7.0):
        raise RuntimeError("nervo bench: the bandwidth triad computed a wrong result")
    return {"gbs": nbytes / best / 1e9, "method": how, "array_mib": round(8 * n / 2**20, 1)}


def measure_peak(threads: int, seconds: float) -> dict:
    """FP32 FMA peak in GFLOP/s from ``nervo.ops.peak_gflops(threads)`` (the GEMM family's
    register-only FMA loop); ``{"gflops": None, "why": ...}`` where this build lacks it."""
    import nervo.ops as ops
    fn = getattr(ops, "peak_gflops", None)
    if fn is None:
        return {"gflops": None, "why": "nervo.ops.peak_gflops is not in this build yet"}
    try:
        try:
            value = fn(threads, seconds=seconds)
        except TypeError:
            value = fn(threads)
    except (ImportError, RuntimeError, ValueError) as exc:
        return {"gflops": None, "why": f"nervo.ops.peak_gflops failed: {exc}"}
    return {"gflops": float(value), "method": f"nervo.ops.peak_gflops({threads})"}


def machine_info(threads: int, quick: bool = False, measure: bool = True) -> dict:
    import nervo
    info = nervo.info()
    m = _cpu_info()
    m.update(threads=threads, nervo_version=info["version"], backend=info["backend"], isa=info["isa"],
             isa_available=info["isa_available"], openmp=info["openmp"], compiler=info["compiler"],
             python=platform.python_version(),
             openblas_coretype=os.environ.get("OPENBLAS_CORETYPE"),
             openblas_l2_size=os.environ.get("OPENBLAS_L2_SIZE"),
             env={k: v for k, v in sorted(os.environ.items())
                  if k.startswith(("OMP_", "GOMP_", "KMP_", "MKL_", "OPENBLAS_", "NUMBA_NUM", "NUMBA_THREADING",
                                   "NERVO_"))},
             load_start=_loadavg())
    if measure:
        # quick: numpy's triad (no JIT compile to wait for) on small arrays.
        bw = measure_bandwidth(threads, n=(1 << 20) if quick else (1 << 23), trials=3 if quick else 10,
                               use_numba=not quick)
        if quick:
            bw["method"] += "; quick mode: small arrays, cache rather than DRAM"
        m["bandwidth"] = bw
        m["peak"] = measure_peak(threads, seconds=0.02 if quick else 0.3)
        if threads > 1 and m["peak"].get("gflops"):
            # Single-thread cases (tag "threads:1") are measured against the one-core peak.
            m["peak_1thread"] = measure_peak(1, seconds=0.02 if quick else 0.3)
    else:
        m["bandwidth"] = {"gbs": None, "why": "not measured"}
        m["peak"] = {"gflops": None, "why": "not measured"}
    return m


# ---------------------------------------------------------------------------------------------
# Peers: what is installed and how each is configured


def _numpy_config() -> dict:
    cfg: dict[str, Any] = {"version": np.__version__}
    try:
        deps = np.show_config(mode="dicts").get("Build Dependencies", {})
        blas = deps.get("blas", {})
        cfg["blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
        if blas.get("openblas configuration"):
            cfg["blas_build"] = blas["openblas configuration"]
    except (TypeError, AttributeError):     # numpy < 1.26: show_config prints only
        cfg["blas"] = "unknown (numpy < 1.26)"
    try:
        from threadpoolctl import threadpool_info
        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            p = pools[0]
            cfg["blas_runtime"] = (f"{p.get('internal_api')} {p.get('version')}, kernel "
                                   f"{p.get('architecture', '?')}, {p.get('num_threads')} threads, "
                                   f"{p.get('threading_layer', '?')}")
            cfg["blas_kernel"] = p.get("architecture")
    except ImportError:
        cfg["blas_runtime"] = "unknown (pip install threadpoolctl to see the BLAS kernel and pin its threads)"
    return cfg


def _torch_config() -> dict:
    import torch
    cfg: dict[str, Any] = {"version": torch.__version__, "threads": torch.get_num_threads()}
    try:
        cfg["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except AttributeError:
        pass
    cfg["mkl"] = bool(torch.backends.mkl.is_available())
    cfg["onednn"] = bool(torch.backends.mkldnn.is_available())
    try:
        for line in torch.__config__.show().splitlines():
            line = line.strip(" -\t")
            if "Math Kernel Library" in line:
                found = re.search(r"Version ([0-9][0-9.]*)", line)
                cfg["mkl_version"] = f"MKL {found.group(1)}" if found else line
            elif "MKL-DNN" in line or "oneDNN" in line:
                found = re.search(r"v([0-9][0-9.]*)", line)
                cfg["onednn_version"] = f"oneDNN v{found.group(1)}" if found else line
            elif line.startswith("CPU capability usage"):
                cfg["cpu_capability"] = line.split(":", 1)[1].strip()
    except Exception as exc:  # noqa: BLE001 - a diagnostic must not stop the benchmark
        cfg["config_error"] = str(exc)
    return cfg


def peer_configs(impls_wanted) -> tuple[dict, dict]:
    """(configs of the installed peers, {missing peer: install command})."""
    import nervo
    configs: dict[str, Any] = {}
    missing: dict[str, str] = {}
    info = nervo.info()
    configs["nervo"] = {"version": info["version"], "backends": info["backends_available"],
                        "isa": info["isa"], "threads": info["threads"], "openmp": info["openmp"]}
    for name in ("nervo-native", "nervo-numba"):
        if name in impls_wanted and name.split("-", 1)[1] not in info["backends_available"]:
            missing[name] = INSTALL[name]
    configs["numpy"] = _numpy_config()
    for peer, loader in (("torch", _torch_config), ("onnxruntime", None)):
        if peer not in impls_wanted and peer != "torch":
            continue
        try:
            __import__(peer)
        except ImportError:
            missing[peer] = INSTALL[peer]
            continue
        if loader is not None:
            configs[peer] = loader()
        else:
            mod = sys.modules[peer]
            configs[peer] = {"version": getattr(mod, "__version__", "?")}
    return configs, missing


# ---------------------------------------------------------------------------------------------
# Timing


def _call_runs(fn: Callable[[], Any], number: int) -> float:
    """Seconds per call over ``number`` calls, garbage collector off (timeit's convention)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - t0) / number
    finally:
        if enabled:
            gc.enable()


def _activate(impl: str) -> None:
    """Point nervo's kernel table at this impl's backend: cases switch the global backend in
    setup, so with interleaved runs it must be switched again before each impl's runs."""
    if impl.startswith("nervo-"):
        import nervo
        nervo.set_backend(impl.split("-", 1)[1])


class _Timer:
    """One implementation being measured: its callable, calibration and run times."""

    def __init__(self, result: Result, fn: Callable[[], Any], settings: Settings):
        self.result, self.fn, self.settings = result, fn, settings
        self.number = 1
        self.times: list[float] = []

    def warm_up(self, first_call_s: float) -> None:
        s = self.settings
        budget = s.max_time / max(1, s.repeats)
        per_call = max(first_call_s, 1e-9)
        spent = 0.0
        if first_call_s > budget and s.warmup > 0:
            # The checked first call took a whole run's budget (a slow case, or a JIT compile):
            # one more call tells which. If it is slow again, the checked call was the warm-up
            # and this call is the first timed run (a training step of seconds is not repeated
            # once more just to warm up).
            per_call = _call_runs(self.fn, 1)
            if per_call > budget:
                self.number = 1
                self.times.append(per_call)
                self.max_runs = max(min(3, s.repeats), min(s.repeats, int(s.max_time / per_call)))
                return
            spent = per_call
        while spent < s.warmup:
            per_call = _call_runs(self.fn, 1)
            spent += per_call
        self.number = max(1, math.ceil(s.min_time / max(per_call, 1e-9)))
        if per_call * self.number > budget:   # long calls: one call per run, fewer runs
            self.number = 1
        self.max_runs = max(min(3, s.repeats), min(s.repeats, int(s.max_time / max(per_call * self.number, 1e-9))))

    def run_once(self) -> None:
        if len(self.times) < self.max_runs:
            self.times.append(_call_runs(self.fn, self.number))

    def finish(self) -> None:
        t = sorted(self.times)
        r = self.result
        r.times_s = [float(x) for x in self.times]
        r.repeats, r.number = len(t), self.number
        r.median_s = float(statistics.median(t))
        r.min_s, r.max_s = float(t[0]), float(t[-1])
        if len(t) >= 2:
            q = statistics.quantiles(t, n=4, method="inclusive")
            r.iqr_s = float(q[2] - q[0])
        else:
            r.iqr_s = 0.0


def _impl_order(impls) -> list[str]:
    known = [i for i in PEER_ORDER if i in impls]
    return known + [i for i in impls if i not in known]


def run_case(family: str, suite: str, case: Case, settings: Settings, impls=None,
             machine: dict | None = None) -> list[Result]:
    """Check then time every implementation of one case (interleaved runs); never raises for a
    failing implementation: its Result says ``wrong``, ``error`` or ``skipped`` and why."""
    import nervo
    prev_backend = nervo.backend.backend()
    names = _impl_order([i for i in case.impls if impls is None or i in impls])
    results: list[Result] = []
    timers: list[_Timer] = []
    ref = {}     # the reference result, computed when the first implementation has run

    def reference():
        if not ref:
            try:
                ref["value"], ref["error"] = case.reference(), None
            except Exception as exc:  # noqa: BLE001 - reported, the run goes on
                ref["value"], ref["error"] = None, f"reference failed: {type(exc).__name__}: {exc}"
        return ref["value"], ref["error"]

    try:
        for impl in names:
            r = Result(family=family, suite=suite, op=case.op, shape=case.shape, impl=impl, status="ok")
            results.append(r)
            try:
                fn = case.setup(impl)
                t0 = time.perf_counter()
                got = fn()
                first = time.perf_counter() - t0
            except Unavailable as exc:
                r.status, r.message = "skipped", str(exc)
                continue
            except Exception as exc:  # noqa: BLE001 - reported, the run goes on
                r.status, r.message = "error", f"{type(exc).__name__}: {exc}"
                continue
            if case.reference is None:
                r.status, r.message = "unchecked", "the case has no reference"
            else:
                want, ref_error = reference()
                if ref_error is not None:
                    r.status, r.message = "error", ref_error
                    continue
                try:
                    err = check_result(case, got, want)
                except Exception as exc:  # noqa: BLE001
                    err = f"check failed: {type(exc).__name__}: {exc}"
                if err is not None:
                    r.status, r.message = "wrong", err     # never timed
                    continue
            del got
            timer = _Timer(r, fn, settings)
            try:
                timer.warm_up(first)
            except Exception as exc:  # noqa: BLE001
                r.status, r.message = "error", f"{type(exc).__name__} during warm-up: {exc}"
                continue
            timers.append(timer)
        # OpenBLAS's worker threads (numpy, and nervo-numba's products) keep spinning for up to
        # ~0.1 s after a call: the next implementation would find one of its cores taken (nervo's
        # 2-thread 128x784x256 product measured 680 us right after numpy, 370 us alone). So
        # the run after one of those waits until they have gone to sleep.
        spinners = {"numpy", "nervo-numba"}
        settle = _SPIN_SETTLE_S if (machine or {}).get("threads", 1) > 1 and settings.warmup > 0 else 0.0
        prev = None
        for _ in range(settings.repeats):
            for timer in timers:
                if settle and prev in spinners and timer.result.impl != prev:
                    time.sleep(settle)
                _activate(timer.result.impl)
                timer.run_once()
                prev = timer.result.impl
        for timer in timers:
            timer.finish()
    finally:
        if prev_backend:
            nervo.set_backend(prev_backend)
    _rates(case, results, machine or {})
    return results


def case_threads(case: Case) -> int | None:
    """The thread count a case pins itself to (tag ``"threads:N"``), else None (the run's)."""
    for tag in case.tags:
        if isinstance(tag, str) and tag.startswith("threads:") and tag[8:].isdigit():
            return int(tag[8:])
    return None


def _rates(case: Case, results: list[Result], machine: dict) -> None:
    peak = (machine.get("peak") or {}).get("gflops")
    bw = (machine.get("bandwidth") or {}).get("gbs")
    if case_threads(case) == 1 and machine.get("threads", 1) > 1:
        peak = (machine.get("peak_1thread") or {}).get("gflops")
        bw = None   # the triad was measured on the run's thread count
    base = base_result(results)
    for r in results:
        if not r.timed:
            continue
        if case.flops:
            r.gflops = case.flops / r.median_s / 1e9
            if peak:
                r.fraction = r.gflops / peak
        if case.nbytes:
            r.gbs = case.nbytes / r.median_s / 1e9
            if bw and not case.flops:
                r.fraction = r.gbs / bw
        if base is not None:
            r.ratio = r.median_s / base.median_s


def base_result(results) -> Result | None:
    """The nervo result ratios refer to: nervo-native, else nervo-numba (None if neither timed)."""
    for name in ("nervo-native", "nervo-numba"):
        for r in results:
            if r.impl == name and r.timed:
                return r
    return None


# ---------------------------------------------------------------------------------------------
# The whole run


def _progress_printer(stream):
    def progress(i: int, n: int, family: str, case: Case, results: list[Result] | None):
        if results is None:
            stream.write(f"[{i}/{n}] {family} {case.group} ...")
            stream.flush()
            return
        parts = []
        for r in results:
            if r.timed:
                parts.append(f"{r.impl} {fmt_time(r.median_s)}")
            else:
                parts.append(f"{r.impl} {r.status}")
        stream.write(" " + ", ".join(parts) + "\n")
        stream.flush()
    return progress


def run(suite: str = "all", filter: str | None = None, threads: int | None = None,
        quick: bool = False, impls=None, repeats: int | None = None, min_time: float | None = None,
        warmup: float | None = None, max_time: float | None = None, cases=None,
        json: str | None = None, plot: str | None = None, markdown: str | None = None,
        compare: str | None = None, threshold: float = 0.10, compare_by: str = "time", progress=True,
        measure_machine: bool = True, command: str | None = None, out=None) -> Report:
    """Run benchmarks, print the report, and optionally write JSON / PNG / Markdown files.

    Args:
        suite: ``"all"``, ``"kernels"``, ``"layers"`` or ``"models"``.
        filter: comma-separated substrings (or globs) of ``family/op:shape``.
        threads: thread count for nervo and every peer (default: nervo's current count).
        quick: run each case's tiny ``quick()`` version with short timings (CI smoke run).
        impls: implementation names to run (default: every one a case declares).
        repeats, min_time, warmup, max_time: override :class:`Settings`.
        cases: run these ``(family, Case)`` pairs (or bare Cases) instead of the registry's.
        json, plot, markdown: files to write (plot needs matplotlib: ``nervo[plot]``).
        compare: an earlier JSON file; the report gains a ``comparison`` and ``exit_code()``
            turns non-zero when a nervo time grew by more than ``threshold`` (0.10 = 10%).
        compare_by: ``"time"`` or ``"ratio"`` (nervo's time over torch's or numpy's in the same
            run: robust to a machine that got uniformly slower); see :func:`compare_reports`.
        progress: print one line per case to stderr (or a callable(i, n, family, case, results)).
        measure_machine: measure bandwidth and FMA peak (needed for the fraction column).
        out: stream for the report (default stdout; None-like False to print nothing).

    Returns:
        :class:`Report`; ``report.exit_code()`` is what ``nervo bench`` exits with.

    Raises:
        ValueError: bad suite / threads / threshold; ImportError: ``plot`` without matplotlib;
        FileNotFoundError: ``compare`` file missing.
    """
    import nervo
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"nervo.bench.run: threads must be a positive int, got {threads!r}")
    if not (isinstance(threshold, (int, float)) and threshold >= 0):
        raise ValueError(f"nervo.bench.run: threshold must be a number >= 0, got {threshold!r}")
    if compare_by not in COMPARE_BY:
        raise ValueError(f"nervo.bench.run: compare_by must be one of {COMPARE_BY}, got {compare_by!r}")
    if plot:
        require_matplotlib()
    old = load_json(compare) if compare else None
    settings = Settings.quick() if quick else Settings()
    for name, value in (("repeats", repeats), ("min_time", min_time), ("warmup", warmup), ("max_time", max_time)):
        if value is not None:
            if not isinstance(value, (int, float)) or value < (1 if name == "repeats" else 0):
                raise ValueError(f"nervo.bench.run: {name} must be >= {1 if name == 'repeats' else 0}, got {value!r}")
            setattr(settings, name, int(value) if name == "repeats" else float(value))
    if cases is None:
        selected = select(suite, filter, quick=quick)
    else:
        selected = [c if isinstance(c, tuple) else ("custom", c) for c in cases]
    if impls is not None:
        impls = tuple(impls)
    threads = threads or nervo.get_num_threads()
    if out is None:
        out = sys.stdout
    if progress is True:
        progress = _progress_printer(sys.stderr)
    t_start = time.perf_counter()
    numba_layer = _numba_threading_for_peers()
    with pinned_threads(threads) as blas_pinned:
        machine = machine_info(threads, quick=quick, measure=measure_machine)
        machine["numba_threading_layer"] = numba_layer
        machine["blas_threads_pinned"] = blas_pinned
        wanted = set(impls) if impls is not None else {i for _, c in selected for i in c.impls}
        peers, missing = peer_configs(wanted)
        from nervo.bench import suite_of
        results: list[Result] = []
        for i, (family, case) in enumerate(selected, 1):
            if progress:
                progress(i, len(selected), family, case, None)
            got = run_case(family, suite_of(case, family), case, settings, impls, machine)
            results.extend(got)
            if progress:
                progress(i, len(selected), family, case, got)
        if sys.modules.get("torch") is not None and "torch" not in peers and "torch" not in missing:
            peers["torch"] = _torch_config()
        machine["load_end"] = _loadavg()
    report = Report(date=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                    command=command or _api_command(suite=suite, filter=filter, threads=threads, quick=quick,
                                                     impls=list(impls) if impls else None), settings=dict(asdict(settings), quick=quick,
                    suite=suite, filter=filter, threads=threads, impls=list(impls) if impls else None),
                    machine=machine, peers=peers, skipped_peers=missing, results=results,
                    elapsed_s=time.perf_counter() - t_start)
    if old is not None:
        report.comparison = compare_reports(old, report.to_dict(), threshold, compare_by)
    if out:
        from nervo.bench.report import print_report
        print_report(report, out)
    if json:
        with open(json, "w") as fh:
            _json.dump(report.to_dict(), fh, indent=1)
    if plot:
        from nervo.bench.report import write_plot
        write_plot(report, plot)
    if markdown:
        from nervo.bench.report import write_markdown
        write_markdown(report, markdown)
    return report


def report_from_dict(data: dict) -> Report:
    """A :class:`Report` rebuilt from a ``--json`` file's content (to re-render it)."""
    fields = set(Result.__dataclass_fields__)
    results = [Result(**{k: v for k, v in r.items() if k in fields}) for r in data.get("results", [])]
    return Report(date=data.get("date", "?"), command=data.get("command", "?"),
                  settings=data.get("settings", {}), machine=data.get("machine", {}),
                  peers=data.get("peers", {}), skipped_peers=data.get("skipped_peers", {}),
                  results=results, elapsed_s=data.get("elapsed_s", 0.0), comparison=data.get("comparison"))


def render(path: str, markdown: str | None = None, plot: str | None = None, out=None) -> Report:
    """Print (and optionally write as Markdown / PNG) the report saved by an earlier ``--json``,
    without running anything: ``nervo bench --from-json run.json --markdown BENCHMARKS.md``."""
    if plot:
        require_matplotlib()
    report = report_from_dict(load_json(path))
    from nervo.bench.report import print_report, write_markdown, write_plot
    print_report(report, out or sys.stdout)
    if markdown:
        write_markdown(report, markdown)
    if plot:
        write_plot(report, plot)
    return report


def _api_command(**kwargs) -> str:
    """How this run was asked for, as a Python call (the CLI passes its own command line)."""
    given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if v not in (None, False))
    return f"nervo.bench.run({given})"


def require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"nervo bench --plot needs matplotlib, which is not installed: "
                          f"{INSTALL['matplotlib']}") from exc


# ---------------------------------------------------------------------------------------------
# Comparing with an earlier run


def load_json(path: str) -> dict:
    with open(path) as fh:
        data = _json.load(fh)
    if not isinstance(data, dict) or not str(data.get("format", "")).startswith("nervo-bench/"):
        raise ValueError(f"nervo bench --compare: {path} is not a `nervo bench --json` file "
                         f"(no 'format': 'nervo-bench/...' key)")
    return data


COMPARE_BY = ("time", "ratio")
RATIO_PEERS = ("torch", "numpy")   # what "ratio" comparisons measure nervo against, first found


def compare_reports(old: dict, new: dict, threshold: float, by: str = "time") -> dict:
    """Per (group, impl) change between two runs; a *regression* is a nervo implementation that
    got slower by more than ``threshold`` (relative), or whose result became wrong. Peers are
    compared for context only (their speed is not nervo's to regress).

    ``by="time"`` compares median times. ``by="ratio"`` compares nervo's time divided by a peer's
    time in the same run (torch, else numpy, timed in both runs), which cancels a machine that is
    uniformly slower or faster than when the old run was made (shared CI runners); cases without
    such a peer fall back to time and say so.
    """
    if by not in COMPARE_BY:
        raise ValueError(f"nervo bench --compare: compare by one of {COMPARE_BY}, got {by!r}")

    def index(d):
        return {(r["group"], r["impl"]): r for r in d.get("results", [])}
    o, n = index(old), index(new)

    def peer_time(idx, group, peer):
        r = idx.get((group, peer))
        return r.get("median_s") if r and r.get("status") in ("ok", "unchecked") else None

    rows, regressions = [], []
    for key, rn in n.items():
        ro = o.get(key)
        if ro is None:
            continue
        row = {"group": key[0], "impl": key[1], "old_s": ro.get("median_s"), "new_s": rn.get("median_s"),
               "change": None, "regression": False, "note": ""}
        is_nervo = key[1].startswith("nervo-")
        if rn["status"] in ("wrong", "error") and ro["status"] not in ("wrong", "error"):
            row["note"] = f"now {rn['status']}: {rn.get('message', '')}"
            row["regression"] = is_nervo
        elif row["old_s"] and row["new_s"]:
            old_v, new_v = row["old_s"], row["new_s"]
            if by == "ratio" and is_nervo:
                for peer in RATIO_PEERS:
                    po, pn = peer_time(o, key[0], peer), peer_time(n, key[0], peer)
                    if po and pn:
                        old_v, new_v = old_v / po, new_v / pn
                        row["note"] = f"relative to {peer}"
                        break
                else:
                    row["note"] = "no peer timed in both runs: by time"
            row["change"] = new_v / old_v - 1.0
            row["regression"] = is_nervo and row["change"] > threshold
        rows.append(row)
        if row["regression"]:
            regressions.append(row)
    return {"threshold": threshold, "by": by, "old_date": old.get("date"), "old_command": old.get("command"),
            "rows": rows, "regressions": regressions,
            "only_old": sorted(f"{g} [{i}]" for g, i in set(o) - set(n)),
            "only_new": sorted(f"{g} [{i}]" for g, i in set(n) - set(o))}


def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.3g} us"
    return f"{s * 1e9:.3g} ns"
