"""The ``nervo`` command line: ``nervo info`` (and the training commands as they land)."""
from __future__ import annotations

import argparse
import sys


def _cmd_info(args) -> int:
    import nervo
    info = nervo.info()
    if args.json:
        import json
        print(json.dumps(info, indent=2))
        return 0
    width = max(len(k) for k in info)
    for key, value in info.items():
        if isinstance(value, list):
            value = ", ".join(value) if value else "-"
        print(f"{key:<{width}}  {value if value is not None else '-'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nervo", description="nervo: fast neural networks on the CPU")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("info", help="show version, backend, ISA level, threads and compiler")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=_cmd_info)
    __import__("nervo.bench.cli", fromlist=["register"]).register(sub)  # `nervo bench`
    __import__("nervo.explain.cli", fromlist=["register"]).register(sub)  # nervo explain
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, ImportError, RuntimeError) as exc:
        print(f"nervo {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
