"""``nervo bench``: the command-line face of :func:`nervo.bench.run`.

Exit status: 0 when every result was checked and timed; 1 when any result was wrong or failed
(or on a usage error); 3 when ``--compare`` found a nervo time past the regression threshold.
"""
from __future__ import annotations

import argparse
import sys


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _fraction(text: str) -> float:
    """``0.1``, ``10%`` -> 0.1."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction like 0.1 or 10%, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative threshold, got {text!r}")
    return value


def _command_line(args) -> str:
    """The command as run, rebuilt from the parsed options (recorded in JSON and Markdown)."""
    parts = ["nervo", "bench"]
    for opt in ("suite", "filter", "threads", "impl", "repeats", "min_time", "max_time", "json", "plot",
                "markdown", "compare", "threshold", "compare_by"):
        value = getattr(args, opt)
        if value is None or (opt in ("threshold", "compare_by") and not args.compare):
            continue
        text = str(value)
        if any(ch in text for ch in " *?[],'\"$"):
            text = "'" + text.replace("'", "'\\''") + "'"
        parts += ["--" + opt.replace("_", "-"), text]
    if args.quick:
        parts.append("--quick")
    return " ".join(parts)


def _cmd_bench(args) -> int:
    from nervo.bench import select
    from nervo.bench.runner import run
    if args.list:
        for family, case in select(args.suite, args.filter, quick=args.quick):
            print(f"{family:<8} {case.group:<40} {', '.join(case.impls)}")
        return 0
    if args.from_json:
        from nervo.bench.runner import render
        report = render(args.from_json, markdown=args.markdown, plot=args.plot)
        return 1 if report.wrong else 0
    impls = [s.strip() for s in args.impl.split(",") if s.strip()] if args.impl else None
    report = run(suite=args.suite, filter=args.filter, threads=args.threads, quick=args.quick,
                 impls=impls, repeats=args.repeats, min_time=args.min_time, max_time=args.max_time,
                 json=args.json,
                 plot=args.plot, markdown=args.markdown, compare=args.compare,
                 threshold=args.threshold, compare_by=args.compare_by, progress=not args.no_progress,
                 command=_command_line(args))
    if not report.results:
        print("nervo bench: no case matched (see `nervo bench --list`)", file=sys.stderr)
        return 1
    return report.exit_code()


def register(subparsers) -> None:
    """Add the ``bench`` command to ``nervo``'s subparsers."""
    p = subparsers.add_parser(
        "bench", help="compare nervo with numpy/torch (same process, same threads) and guard against regressions",
        description="Time nervo and every installed peer side by side on the same inputs and thread "
                    "count; each result is checked against a reference before it is timed.",
        epilog="exit status: 0 all checked and timed; 1 a result was wrong or failed (or a usage error); "
               "3 --compare found a regression past --threshold",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", choices=("kernels", "layers", "models", "all"), default="all",
                   help="which benchmarks (default: all)")
    p.add_argument("--filter", metavar="PATTERN",
                   help="comma-separated substrings or globs of family/op:shape, e.g. 'gemm' or 'relu*,conv'")
    p.add_argument("--threads", type=_positive_int, metavar="N",
                   help="threads for nervo and every peer (default: nervo's, i.e. the cores available)")
    p.add_argument("--impl", metavar="LIST", help="only these implementations, e.g. nervo-native,torch")
    p.add_argument("--quick", action="store_true",
                   help="tiny shapes and short timings: a smoke run of a few seconds (CI)")
    p.add_argument("--repeats", type=_positive_int, metavar="N", help="timed runs per implementation (default 7)")
    p.add_argument("--min-time", type=float, metavar="S", help="seconds per timed run (default 0.05)")
    p.add_argument("--max-time", type=float, metavar="S",
                   help="seconds of timed runs per implementation before fewer runs are made (default 10; "
                        "at least 3 runs are always made)")
    p.add_argument("--json", metavar="FILE", help="write every result as JSON (input of --compare)")
    p.add_argument("--plot", metavar="FILE", help="write a PNG bar chart of the ratios (needs nervo[plot])")
    p.add_argument("--markdown", metavar="FILE",
                   help="write the table into a Markdown page (between its markers if it has them), "
                        "e.g. BENCHMARKS.md")
    p.add_argument("--compare", metavar="OLD.json", help="show the change against an earlier --json run")
    p.add_argument("--threshold", type=_fraction, default=0.10, metavar="FRACTION",
                   help="with --compare: exit 3 when a nervo time grew by more than this (default 0.10 = 10%%)")
    p.add_argument("--compare-by", choices=("time", "ratio"), default="time",
                   help="with --compare: 'time' (median times) or 'ratio' (nervo's time over torch's or "
                        "numpy's in the same run: robust to a machine that is uniformly slower today)")
    p.add_argument("--from-json", metavar="FILE",
                   help="run nothing: print (and with --markdown/--plot write) the report of an earlier --json run")
    p.add_argument("--list", action="store_true", help="list the selected cases and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_cmd_bench)


def main(argv=None) -> int:
    """``python -m nervo.bench.cli ...`` (same as ``nervo bench ...``)."""
    parser = argparse.ArgumentParser(prog="nervo")
    register(parser.add_subparsers(dest="command"))
    argv = ["bench"] + list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, ImportError, RuntimeError) as exc:
        print(f"nervo bench: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
