"""`nervo bench` and the shared case registry: the quick suite runs, wrong results are reported and
never timed, missing peers are skipped, --compare flags regressions. No test asserts on a timing."""
import io
import json
import sys

import numpy as np
import pytest

import nervo
from nervo import bench
from nervo.bench import Case, Unavailable, check_result, runner
from nervo.cli import main as nervo_main

FAST = dict(quick=True, measure_machine=False, progress=False, repeats=2)


def _case(impls=("nervo-native", "numpy"), wrong=(), calls=None, reference=True, op="toy", shape="8"):
    """A tiny synthetic case: doubles a vector; the impls in ``wrong`` return x + 1 instead."""
    x = np.arange(8, dtype=np.float32)
    calls = {} if calls is None else calls

    def setup(impl):
        if impl == "torch":
            bench.torch_module()
        elif impl == "onnxruntime":
            raise Unavailable(f"onnxruntime is not installed ({bench.INSTALL['onnxruntime']})")

        def run():
            calls[impl] = calls.get(impl, 0) + 1
            return x + 1 if impl in wrong else x * 2
        return run

    return Case(op=op, shape=shape, setup=setup, reference=(lambda: x * 2) if reference else None,
                nbytes=64, impls=tuple(impls))


def _run(cases, **kw):
    out = io.StringIO()
    report = bench.run(cases=[("toy", c) for c in cases], out=out, **{**FAST, **kw})
    return report, out.getvalue()


def _by_impl(report):
    return {r.impl: r for r in report.results}


def test_wrong_result_is_reported_and_never_timed():
    calls = {}
    report, text = _run([_case(wrong=("nervo-native",), calls=calls)])
    res = _by_impl(report)
    assert res["nervo-native"].status == "wrong"
    assert res["nervo-native"].median_s is None and res["nervo-native"].times_s == []
    assert "8 elements differ" in res["nervo-native"].message or "differ" in res["nervo-native"].message
    assert calls["nervo-native"] == 1          # the checked call only: never warmed up or timed
    assert res["numpy"].status == "ok" and res["numpy"].median_s > 0 and calls["numpy"] > 1
    assert "WRONG" in text
    assert report.exit_code() == runner.WRONG_EXIT


def test_missing_peer_is_skipped_with_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)     # `import torch` raises ImportError
    report, text = _run([_case(impls=("nervo-native", "torch", "onnxruntime"))])
    res = _by_impl(report)
    assert res["torch"].status == "skipped" and 'pip install "torch==2.13.0"' in res["torch"].message
    assert res["onnxruntime"].status == "skipped" and "pip install onnxruntime" in res["onnxruntime"].message
    assert res["nervo-native"].status == "ok"
    assert "torch" in report.skipped_peers and "onnxruntime" in report.skipped_peers
    assert "skipped" in text and 'pip install "torch==2.13.0"' in text
    assert report.exit_code() == 0


def test_failing_setup_is_an_error_not_a_crash():
    def setup(impl):
        raise RuntimeError("boom")
    report, text = _run([Case(op="bad", shape="1", setup=setup, reference=lambda: 1.0, impls=("numpy",))])
    (r,) = report.results
    assert r.status == "error" and "boom" in r.message and r.median_s is None
    assert report.exit_code() == runner.WRONG_EXIT


def test_case_without_reference_is_timed_but_marked_unchecked():
    report, _ = _run([_case(impls=("numpy",), reference=False)])
    (r,) = report.results
    assert r.status == "unchecked" and r.median_s > 0


def test_interleaved_runs_use_each_impls_own_backend():
    """Cases switch the global backend in setup; the runner must switch it back before each run."""
    if set(nervo.backend.available_backends()) != {"native", "numba"}:
        pytest.skip("needs both backends")
    seen = {"nervo-native": set(), "nervo-numba": set()}

    def setup(impl):
        bench.nervo_backend(impl)

        def run():
            seen[impl].add(nervo.backend.backend())
            return 1.0
        return run
    prev = nervo.backend.backend()
    _run([Case(op="which", shape="1", setup=setup, reference=lambda: 1.0,
               impls=("nervo-native", "nervo-numba"))])
    assert seen == {"nervo-native": {"native"}, "nervo-numba": {"numba"}}
    assert nervo.backend.backend() == prev


def test_ratios_rates_and_json_roundtrip(tmp_path):
    path = tmp_path / "r.json"
    report, _ = _run([_case(impls=("nervo-native", "numpy"))], json=str(path))
    res = _by_impl(report)
    assert res["nervo-native"].ratio == 1.0
    assert res["numpy"].ratio == pytest.approx(res["numpy"].median_s / res["nervo-native"].median_s)
    assert res["numpy"].gbs == pytest.approx(64 / res["numpy"].median_s / 1e9)
    data = json.loads(path.read_text())
    assert data["format"] == runner.FORMAT
    assert {r["group"] for r in data["results"]} == {"toy:8"}
    assert data["settings"]["threads"] == nervo.get_num_threads()


def test_threads_are_pinned_for_the_run_and_restored():
    before = nervo.get_num_threads()
    seen = []

    def setup(impl):
        def run():
            seen.append(nervo.get_num_threads())
            return 1.0
        return run
    _run([Case(op="t", shape="1", setup=setup, reference=lambda: 1.0, impls=("numpy",))], threads=1)
    assert set(seen) == {1}
    assert nervo.get_num_threads() == before


def _write_shifted(src, dst, factor):
    """A copy of a --json file with every median multiplied by ``factor`` (synthetic old run)."""
    data = json.loads(src.read_text())
    for r in data["results"]:
        if r["median_s"]:
            r["median_s"] *= factor
    dst.write_text(json.dumps(data))


def _synthetic(times, status=None):
    """A --json dict with one case: {impl: median seconds}."""
    status = status or {}
    return {"format": runner.FORMAT, "date": "d", "command": "c",
            "results": [{"group": "toy:8", "impl": impl, "median_s": t, "status": status.get(impl, "ok"),
                         "message": ""} for impl, t in times.items()]}


def test_compare_flags_a_synthetic_regression(tmp_path):
    old = _synthetic({"nervo-native": 1.0, "numpy": 1.0})
    slower = runner.compare_reports(old, _synthetic({"nervo-native": 1.3, "numpy": 1.0}), 0.10)
    assert [(r["impl"], round(r["change"], 3)) for r in slower["regressions"]] == [("nervo-native", 0.3)]
    within = runner.compare_reports(old, _synthetic({"nervo-native": 1.05, "numpy": 3.0}), 0.10)
    assert within["regressions"] == []                  # a peer's slowdown is not nervo's regression
    faster = runner.compare_reports(old, _synthetic({"nervo-native": 0.5, "numpy": 1.0}), 0.10)
    assert faster["regressions"] == []

    # End to end through run(): the saved run was 1e4x faster (far beyond any timing noise).
    new = tmp_path / "new.json"
    _run([_case()], json=str(new))
    faster_before, slower_before = tmp_path / "fast.json", tmp_path / "slow.json"
    _write_shifted(new, faster_before, 1e-4)
    _write_shifted(new, slower_before, 1e4)
    report, text = _run([_case()], compare=str(faster_before), threshold=50)
    assert report.exit_code() == runner.REGRESSION_EXIT
    assert {r["impl"] for r in report.comparison["regressions"]} == {"nervo-native"}
    assert "REGRESSION" in text
    report, text = _run([_case()], compare=str(slower_before), threshold=50)
    assert report.exit_code() == 0 and not report.comparison["regressions"]


def test_compare_flags_a_result_that_became_wrong(tmp_path):
    old = tmp_path / "old.json"
    _run([_case()], json=str(old))
    report, _ = _run([_case(wrong=("nervo-native",))], compare=str(old))
    assert report.exit_code() == runner.REGRESSION_EXIT
    assert "now wrong" in report.comparison["regressions"][0]["note"]


def test_compare_rejects_a_file_that_is_not_a_bench_json(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"benchmarks": []}')
    with pytest.raises(ValueError, match="not a `nervo bench --json` file"):
        _run([_case()], compare=str(bad))


def test_cli_quick_suite_runs(tmp_path, capsys):
    """The CI smoke run: every registered family's quick cases, every installed peer."""
    path = tmp_path / "quick.json"
    rc = nervo_main(["bench", "--quick", "--no-progress", "--repeats", "1", "--json", str(path)])
    out = capsys.readouterr().out
    data = json.loads(path.read_text())
    bad = [r for r in data["results"] if r["status"] in ("wrong", "error")]
    assert rc == 0, (bad, out)
    assert data["results"] and data["settings"]["quick"] is True
    assert any(r["status"] == "ok" and r["impl"] == "nervo-native" for r in data["results"]) or \
        "native" not in nervo.backend.available_backends()
    assert "nervo-native" in out and "measured:" in out


def test_cli_compare_exit_status(tmp_path, capsys):
    new = tmp_path / "new.json"
    args = ["bench", "--quick", "--no-progress", "--filter", "relu", "--impl", "nervo-native,numpy",
            "--repeats", "1"]
    assert nervo_main(args + ["--json", str(new)]) == 0
    old_fast, old_slow = tmp_path / "fast.json", tmp_path / "slow.json"
    _write_shifted(new, old_fast, 1e-4)
    _write_shifted(new, old_slow, 1e4)
    assert nervo_main(args + ["--compare", str(old_fast), "--threshold", "5000%"]) == runner.REGRESSION_EXIT
    assert nervo_main(args + ["--compare", str(old_slow)]) == 0
    capsys.readouterr()


def test_cli_list_and_usage_errors(capsys):
    assert nervo_main(["bench", "--list", "--suite", "kernels", "--filter", "relu"]) == 0
    assert "relu_fwd_bwd" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        nervo_main(["bench", "--threads", "0"])
    with pytest.raises(SystemExit):
        nervo_main(["bench", "--suite", "everything"])
    assert nervo_main(["bench", "--no-progress", "--filter", "no-such-case-anywhere"]) == 1
    capsys.readouterr()


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="threads"):
        bench.run(cases=[], threads=0, out=io.StringIO())
    with pytest.raises(ValueError, match="suite"):
        bench.select("everything")
    with pytest.raises(ValueError, match="threshold"):
        bench.run(cases=[], threshold=-1, out=io.StringIO())


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "ratios.png"
    _run([_case(impls=("nervo-native", "numpy"))], plot=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"nervo\[plot\]"):
        _run([_case()], plot="never-written.png")
    assert nervo_main(["bench", "--quick", "--filter", "relu", "--plot", "x.png"]) == 1
    assert "nervo[plot]" in capsys.readouterr().err


def test_markdown_replaces_only_the_generated_block(tmp_path):
    from nervo.bench.report import MARK_BEGIN, MARK_END
    page = tmp_path / "BENCHMARKS.md"
    page.write_text(f"# Title\n\nhand-written intro\n\n{MARK_BEGIN}\nold table\n{MARK_END}\n\nhand-written end\n")
    _run([_case()], markdown=str(page))
    text = page.read_text()
    assert "hand-written intro" in text and "hand-written end" in text and "old table" not in text
    assert "| toy | 8 |" in text and text.count(MARK_BEGIN) == 1
    fresh = tmp_path / "new.md"
    _run([_case()], markdown=str(fresh))
    assert fresh.read_text().startswith("# nervo benchmarks") and MARK_END in fresh.read_text()


def test_machine_figures_are_measured():
    bw = runner.measure_bandwidth(1, n=1 << 16, trials=2)
    assert bw["gbs"] > 0 and bw["method"]
    peak = runner.measure_peak(1, seconds=0.01)
    assert peak["gflops"] is None and peak["why"] or peak["gflops"] > 0


# --- the registry ---------------------------------------------------------------------------


def test_check_result_reports_how_results_differ():
    c = Case(op="c", shape="1", setup=None, reference=lambda: (np.zeros(3), np.ones(2)), rtol=1e-6, atol=1e-6)
    assert check_result(c, (np.zeros(3), np.ones(2))) is None
    assert "returns 1 output" in check_result(c, np.zeros(3))
    msg = check_result(c, (np.zeros(3), np.array([1.0, 5.0])))
    assert "output [1]" in msg and "first at (1,)" in msg and "1 of 2" in msg
    assert "shape" in check_result(c, (np.zeros(4), np.ones(2)))
    assert check_result(c, (np.zeros(3), np.ones(2)), want=(np.zeros(3), np.ones(2))) is None
    nan = Case(op="n", shape="1", setup=None, reference=lambda: np.array([np.nan, 1.0]))
    assert check_result(nan, np.array([np.nan, 1.0])) is None
    assert "differ" in check_result(nan, np.array([0.0, 1.0]))
    assert "differ" in check_result(nan, np.array([np.nan, np.nan]))
    scalar = Case(op="s", shape="1", setup=None, reference=lambda: 2.0)
    assert check_result(scalar, np.float32(2.0)) is None and "differ" in check_result(scalar, 3.0)
    assert check_result(Case(op="x", shape="1", setup=None), "anything") is None   # no reference


def test_check_result_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    c = Case(op="t", shape="1", setup=None, reference=lambda: {"a": np.ones(2), "b": 3.0})
    assert check_result(c, {"b": torch.tensor(3.0), "a": torch.ones(2, requires_grad=True)}) is None


def test_select_suites_filters_and_quick_versions():
    everything = bench.select("all")
    assert everything and all(isinstance(c, Case) for _, c in everything)
    assert {bench.suite_of(c, f) for f, c in everything} <= set(bench.SUITES)
    relu = bench.select("kernels", "relu")
    assert relu and all("relu" in c.group for _, c in relu)
    assert bench.select("kernels", "act/relu*") == relu
    small = bench.select("kernels", "relu", quick=True)
    assert small and all(c.group != full.group for (_, c), (_, full) in zip(small, relu))
    assert bench.select("models", "act") == []


def test_suite_of_prefers_case_then_tag_then_family():
    c = Case(op="o", shape="s", setup=None)
    assert bench.suite_of(c, "gemm") == "kernels" and bench.suite_of(c, "models") == "models"
    assert bench.suite_of(Case(op="o", shape="s", setup=None, tags=("layers",)), "gemm") == "layers"
    assert bench.suite_of(Case(op="o", shape="s", setup=None, suite="models"), "gemm") == "models"


def test_every_registered_case_is_well_formed():
    for family, case in bench.select("all"):
        assert case.impls and len(set(case.impls)) == len(case.impls), case.group
        assert ":" not in case.op and case.shape, case.group
        if case.quick is not None:
            small = case.quick()
            assert isinstance(small, Case) and small.op == case.op, case.group


def test_single_thread_cases_use_the_one_thread_peak():
    case = Case(op="g", shape="1", setup=None, flops=2e9, tags=("threads:1",))
    assert runner.case_threads(case) == 1 and runner.case_threads(_case()) is None
    machine = {"threads": 2, "peak": {"gflops": 100.0}, "peak_1thread": {"gflops": 50.0},
               "bandwidth": {"gbs": 10.0}}
    r = runner.Result(family="f", suite="kernels", op="g", shape="1", impl="nervo-native", status="ok",
                      median_s=0.1)
    runner._rates(case, [r], machine)
    assert r.gflops == pytest.approx(20.0) and r.fraction == pytest.approx(0.4)


def test_blas_limits_sets_and_restores_numpy_threads():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]:
        pytest.skip("numpy has no BLAS pool threadpoolctl can see")

    outer = bench.blas_limits(1)

    def counts():   # the pools loaded when blas_limits first ran: numpy's (torch's MKL may come later)
        return {lib["num_threads"] for lib in bench._BLAS["controller"].info()}
    outer.restore_original_limits()
    before = counts()
    outer = bench.blas_limits(1)
    assert counts() == {1}
    inner = bench.blas_limits(1)       # already 1: nothing to do, nothing to undo
    inner.restore_original_limits()
    assert counts() == {1}
    outer.restore_original_limits()
    assert counts() == before


def test_compare_by_ratio_ignores_a_uniformly_slower_machine():
    old = _synthetic({"nervo-native": 1.0, "numpy": 2.0, "torch": 4.0})
    machine_slower = _synthetic({"nervo-native": 3.0, "numpy": 6.0, "torch": 12.0})
    by_time = runner.compare_reports(old, machine_slower, 0.10, by="time")
    assert [r["impl"] for r in by_time["regressions"]] == ["nervo-native"]
    assert runner.compare_reports(old, machine_slower, 0.10, by="ratio")["regressions"] == []
    nervo_slower = _synthetic({"nervo-native": 3.0, "numpy": 2.0, "torch": 4.0})
    (row,) = runner.compare_reports(old, nervo_slower, 0.10, by="ratio")["regressions"]
    assert row["note"] == "relative to torch" and row["change"] == pytest.approx(2.0)
    no_peer = runner.compare_reports(_synthetic({"nervo-native": 1.0}), _synthetic({"nervo-native": 2.0}),
                                     0.10, by="ratio")
    assert no_peer["regressions"][0]["note"] == "no peer timed in both runs: by time"
    with pytest.raises(ValueError, match="compare by"):
        runner.compare_reports(old, old, 0.1, by="speed")
    with pytest.raises(ValueError, match="compare_by"):
        _run([_case()], compare_by="speed")

def test_failing_reference_is_an_error_and_is_not_computed_when_nothing_runs():
    calls = []

    def reference():
        calls.append(1)
        raise ArithmeticError("no oracle")

    def setup(impl):
        if impl == "torch":
            raise Unavailable("torch missing")
        return lambda: 1.0
    report, _ = _run([Case(op="r", shape="1", setup=setup, reference=reference, impls=("torch",))])
    assert report.results[0].status == "skipped" and calls == []
    report, _ = _run([Case(op="r", shape="1", setup=setup, reference=reference, impls=("numpy", "torch"))])
    res = _by_impl(report)
    assert res["numpy"].status == "error" and "no oracle" in res["numpy"].message and calls == [1]


def test_slow_case_skips_the_extra_warm_up_call():
    """A call longer than a run's budget: the checked call was the warm-up, the next is run 1."""
    calls = []

    def setup(impl):
        def run():
            calls.append(1)
            return 1.0
        return run
    case = Case(op="slow", shape="1", setup=setup, reference=lambda: 1.0, impls=("numpy",))
    r = runner.run_case("toy", "kernels", case, runner.Settings(repeats=3, warmup=0.1, max_time=0.0))
    assert r[0].status == "ok" and r[0].repeats == 3 and len(calls) == 1 + 3


def test_from_json_rerenders_without_running(tmp_path, capsys):
    saved, page = tmp_path / "run.json", tmp_path / "B.md"
    _run([_case()], json=str(saved))
    assert nervo_main(["bench", "--from-json", str(saved), "--markdown", str(page)]) == 0
    assert "| toy | 8 |" in page.read_text() and "toy" in capsys.readouterr().out
