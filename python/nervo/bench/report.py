"""Rendering a ``nervo bench`` report: the text table, the Markdown page, the PNG bar chart.

Vocabulary as in :mod:`nervo.bench.runner`: the *base* is the nervo implementation ratios refer
to; a ratio is an implementation's time over the base's (> 1: nervo is that many times faster).
"""
from __future__ import annotations

import os

from nervo.bench.runner import PEER_ORDER, Report, Result, base_result, fmt_time

MARK_BEGIN = "<!-- nervo bench: generated table begins (do not edit by hand) -->"
MARK_END = "<!-- nervo bench: generated table ends -->"

STATUS_CELL = {"wrong": "WRONG", "error": "error", "skipped": "skip"}


def _impl_columns(report: Report) -> list[str]:
    seen = []
    for r in report.results:
        if r.impl not in seen:
            seen.append(r.impl)
    known = [i for i in PEER_ORDER if i in seen]
    return known + [i for i in seen if i not in known]


def _groups(report: Report):
    """(family, suite, op, shape, {impl: Result}) per case, in run order."""
    out, index = [], {}
    for r in report.results:
        key = (r.family, r.group)
        if key not in index:
            index[key] = len(out)
            out.append((r.family, r.suite, r.op, r.shape, {}))
        out[index[key]][4][r.impl] = r
    return out


def _cell(r: Result | None, base: Result | None) -> str:
    if r is None:
        return ""
    if not r.timed:
        return STATUS_CELL.get(r.status, r.status)
    text = fmt_time(r.median_s)
    if r.spread is not None and r.repeats >= 2:
        text += f" ±{r.spread * 50:.0f}%"
    if r.status == "unchecked":
        text += " ?"
    if base is not None and r is not base and r.ratio is not None:
        text += f" ({r.ratio:.2f}x)"
    return text


def _rate(base: Result | None) -> tuple[str, str]:
    if base is None:
        return "", ""
    if base.gflops is not None:
        frac = f"{base.fraction:.0%} FMA" if base.fraction is not None else ""
        return f"{base.gflops:.3g} GFLOP/s", frac
    if base.gbs is not None:
        frac = f"{base.fraction:.0%} BW" if base.fraction is not None else ""
        return f"{base.gbs:.3g} GB/s", frac
    return "", ""


def table_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    impls = _impl_columns(report)
    header = ["op", "shape"] + impls + ["nervo rate", "of peak"]
    rows = []
    for _family, _suite, op, shape, by_impl in _groups(report):
        base = base_result(list(by_impl.values()))
        rate, frac = _rate(base)
        rows.append([op, shape] + [_cell(by_impl.get(i), base) for i in impls] + [rate, frac])
    return header, rows


def header_lines(report: Report) -> list[str]:
    m, p, s = report.machine, report.peers, report.settings
    n_cases = len(_groups(report))
    lines = [f"nervo bench: suite={s.get('suite')}"
             + (f", filter={s['filter']!r}" if s.get("filter") else "")
             + f", {n_cases} case(s), threads={s.get('threads')}, quick={'yes' if s.get('quick') else 'no'}"
             + f"  ({report.date})"]
    simd = " ".join(m.get("simd") or []) or "?"
    avx512 = m.get("avx512")
    isa_note = ("AVX-512 present" if avx512 else
                "no AVX-512: nervo runs its AVX2 kernels" if avx512 is False else "AVX-512 unknown")
    lines.append(f"machine : {m.get('cpu')}, {m.get('cores_available')} core(s) available; SIMD {simd} ({isa_note})")
    peak, bw = m.get("peak") or {}, m.get("bandwidth") or {}
    peak_txt = (f"FMA peak {peak['gflops']:.1f} GFLOP/s ({peak.get('method')})" if peak.get("gflops")
                else f"FMA peak unavailable ({peak.get('why')})")
    if (m.get("peak_1thread") or {}).get("gflops"):
        peak_txt += f", {m['peak_1thread']['gflops']:.1f} GFLOP/s on 1 thread"
    bw_txt = (f"triad bandwidth {bw['gbs']:.1f} GB/s ({bw.get('method')}, {bw.get('array_mib')} MiB arrays)"
              if bw.get("gbs") else f"bandwidth unavailable ({bw.get('why')})")
    lines.append(f"measured: {peak_txt}; {bw_txt}")
    load = [x for x in (m.get("load_start"), m.get("load_end")) if x is not None]
    if load:
        busy = max(load) > 0.5 * (m.get("cores_available") or 1)
        lines.append(f"load    : 1-min load average {load[0]:.1f} at start, {load[-1]:.1f} at end, "
                     f"{m.get('cores_available')} core(s)"
                     + ("; the machine is shared and busy: timings are noisy, compare ratios within one run"
                        if busy else ""))
    if m.get("env"):
        lines.append("env     : " + " ".join(f"{k}={v}" for k, v in m["env"].items()))
    nv = p.get("nervo", {})
    lines.append(f"nervo   : {nv.get('version')}, backends {', '.join(nv.get('backends') or []) or '-'}, "
                 f"isa {nv.get('isa')}, OpenMP {nv.get('openmp') or '-'}, {s.get('threads')} thread(s)")
    npc = p.get("numpy", {})
    core = m.get("openblas_coretype")
    if core and avx512:
        core_txt = (f"OPENBLAS_CORETYPE={core} is set: OpenBLAS is held to that kernel; unset it and "
                    f"OPENBLAS_L2_SIZE to compare with its AVX-512 (SkylakeX) kernel")
    elif core:
        core_txt = (f"OPENBLAS_CORETYPE={core} is set (no AVX-512 here, so OpenBLAS's AVX2 kernel "
                    f"either way)")
    else:
        core_txt = "OPENBLAS_CORETYPE unset (OpenBLAS picks its kernel from the CPU)"
    lines.append(f"numpy   : {npc.get('version')}, BLAS {npc.get('blas')}; runtime: "
                 f"{npc.get('blas_runtime', '?')}; {core_txt}"
                 + ("" if m.get("blas_threads_pinned") else "; BLAS threads NOT pinned (no threadpoolctl)"))
    if "torch" in p:
        t = p["torch"]
        lines.append(f"torch   : {t.get('version')}, {t.get('mkl_version') or ('MKL' if t.get('mkl') else 'no MKL')}, "
                     f"{t.get('onednn_version') or ('oneDNN' if t.get('onednn') else 'no oneDNN')}, "
                     f"CPU capability {t.get('cpu_capability', '?')}, {t.get('threads')} thread(s)")
    if "onnxruntime" in p:
        lines.append(f"onnxrt  : {p['onnxruntime'].get('version')}")
    if report.skipped_peers:
        lines.append("skipped : " + "; ".join(f"{k} not installed ({v})" for k, v in report.skipped_peers.items()))
    lines.append(f"timing  : median of up to {s.get('repeats')} runs after warm-up, peers interleaved, "
                 f"same thread count; ± = half the interquartile range; (N.NNx) = that time / nervo's "
                 f"(> 1: nervo faster); rate and peak fraction are nervo's")
    return lines


def _notes(report: Report) -> list[str]:
    notes, skipped = [], {}
    unchecked = sorted({r.group for r in report.results if r.status == "unchecked"})
    if unchecked:
        notes.append(f"? = timed but not checked (the case has no reference): {', '.join(unchecked)}")
    for r in report.results:
        if r.status in ("wrong", "error"):
            notes.append(f"{r.status.upper()}: {r.family}/{r.group} [{r.impl}]: {r.message}")
        elif r.status == "skipped":
            skipped.setdefault(r.message, []).append(f"{r.group} [{r.impl}]")
    for why, which in skipped.items():
        shown = ", ".join(which[:4]) + (f" and {len(which) - 4} more" if len(which) > 4 else "")
        notes.append(f"skipped: {why}: {shown}")
    return notes


def _comparison_lines(report: Report) -> list[str]:
    c = report.comparison
    if not c:
        return []
    what = "nervo times" if c.get("by", "time") == "time" else "nervo time / peer time"
    lines = [f"compared with {c.get('old_date')} ({c.get('old_command')}); regression threshold "
             f"{c['threshold']:.0%} on {what}:"]
    for row in c["rows"]:
        change = f"{row['change']:+.1%}" if row["change"] is not None else "-"
        flag = "  REGRESSION" if row["regression"] else ""
        lines.append(f"  {row['group']:<40} {row['impl']:<14} {fmt_time(row['old_s']):>10} -> "
                     f"{fmt_time(row['new_s']):>10} {change:>8}{flag} {row['note']}".rstrip())
    if c["only_old"]:
        lines.append(f"  only in the old run: {', '.join(c['only_old'][:8])}")
    n = len(c["regressions"])
    lines.append(f"{n} regression(s) past {c['threshold']:.0%}" if n else "no regression past the threshold")
    return lines


def format_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]


def print_report(report: Report, out) -> None:
    header, rows = table_rows(report)
    text = header_lines(report) + [""] + format_table(header, rows)
    notes = _notes(report)
    if notes:
        text += [""] + notes
    comp = _comparison_lines(report)
    if comp:
        text += [""] + comp
    text.append(f"\n{len(report.results)} result(s) in {report.elapsed_s:.1f} s; "
                f"{len(report.wrong)} wrong or failed")
    out.write("\n".join(text) + "\n")
    out.flush()


def markdown_table(report: Report) -> list[str]:
    header, rows = table_rows(report)
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            + ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows])


def markdown_block(report: Report) -> str:
    lines = [MARK_BEGIN, "",
             f"Measured {report.date} with:", "", "```bash", report.command, "```", ""]
    lines += ["```text"] + header_lines(report) + ["```", ""]
    lines += markdown_table(report)
    notes = _notes(report)
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    lines += ["", MARK_END]
    return "\n".join(lines)


def write_markdown(report: Report, path: str) -> None:
    """Write the generated block into ``path``: between the markers when the file has them
    (the hand-written text around them is kept), else as a new page."""
    block = markdown_block(report)
    if os.path.exists(path):
        with open(path) as fh:
            text = fh.read()
        if MARK_BEGIN in text and MARK_END in text:
            head, rest = text.split(MARK_BEGIN, 1)
            tail = rest.split(MARK_END, 1)[1]
            with open(path, "w") as fh:
                fh.write(head + block + tail)
            return
    with open(path, "w") as fh:
        fh.write("# nervo benchmarks\n\n" + block + "\n")


def write_plot(report: Report, path: str) -> None:
    """A horizontal bar chart of each peer's time over nervo's, per case (log scale; > 1 means
    nervo is faster). Needs matplotlib (the ``nervo[plot]`` extra)."""
    from nervo.bench.runner import require_matplotlib
    require_matplotlib()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _groups(report)
    peers = [i for i in _impl_columns(report) if i != "nervo-native"]
    labels, data = [], {p: [] for p in peers}
    for family, _suite, op, shape, by_impl in groups:
        base = base_result(list(by_impl.values()))
        labels.append(f"{op}:{shape}")
        for p in peers:
            r = by_impl.get(p)
            data[p].append(r.ratio if (r is not None and r.timed and base is not None and r is not base) else None)
    peers = [p for p in peers if any(v is not None for v in data[p])]
    n = max(1, len(labels))
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.32 * n * max(1, len(peers)) ** 0.5 + 0.2 * n))
    height = 0.8 / max(1, len(peers))
    for k, p in enumerate(peers):
        ys = [i + (k - (len(peers) - 1) / 2) * height for i in range(len(labels))]
        vals = [v if v is not None else float("nan") for v in data[p]]
        # Bars grow from 1 (parity): right when nervo is faster, left when it is slower.
        ax.barh(ys, [v - 1.0 for v in vals], left=1.0, height=height, label=f"{p} time / nervo time")
        for y, v in zip(ys, vals):
            if v == v:
                ax.annotate(f"{v:.2g}x", (v, y), xytext=(3 if v >= 1 else -3, 0), textcoords="offset points",
                            ha="left" if v >= 1 else "right", va="center", fontsize=7)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    finite = [v for p in peers for v in data[p] if v is not None and v > 0]
    if finite:
        ax.set_xlim(min(min(finite), 1.0) / 1.6, max(max(finite), 1.0) * 1.6)
    from matplotlib.ticker import FuncFormatter
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _pos: ""))
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ratio (> 1: nervo faster)")
    m = report.machine
    ax.set_title(f"nervo bench, {report.settings.get('threads')} thread(s), {m.get('cpu')}, "
                 f"isa {m.get('isa')} ({report.date})", fontsize=9)
    if peers:
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
