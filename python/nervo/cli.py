"""The ``nervo`` command line: ``info``, ``demo``, ``train``, ``evaluate`` (+ registered extras).

Each command is one ``_register_<name>(sub)`` function; other packages add theirs with one
``register(sub)`` line in ``build_parser``. Errors print one line (``nervo <cmd>: error: ...``)
and exit 1; bad flags exit 2 with one line.
"""
from __future__ import annotations

import argparse
import sys


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the command and pointing to --help."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


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


def _register_info(sub):
    p = sub.add_parser("info", help="show version, backend, ISA level, threads and compiler")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=_cmd_info)


def _positive_int(s):
    v = int(s)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {s}")
    return v


def _positive_float(s):
    v = float(s)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {s}")
    return v


def _print_result(res, title):
    import nervo
    info = nervo.info()
    t = res["test"]
    print(f"\n{title}")
    print(f"test accuracy  {t['accuracy']:.4f}   (n={res['n_test']})")
    print(f"precision {t['precision']:.4f}  recall {t['recall']:.4f}  F1 {t['f1']:.4f}  (macro)")
    print(res["report"])
    print(f"speed          {res['samples_per_s']:,.0f} training samples/s "
          f"({len(res['history'])} epochs in {res['train_seconds']:.1f} s; backend {info['backend']}, "
          f"{info.get('isa') or '-'}, {info.get('threads')} threads)")
    if res["history"].stopped_reason:
        print(f"stopped early  {res['history'].stopped_reason}")
    print(f"model saved    {res['model_path']}")
    if res["plot_path"]:
        print(f"curves (PNG)   {res['plot_path']}")


def _cmd_demo(args) -> int:
    from nervo.train.recipe import train_reference
    print("nervo demo: a small CNN (conv32-pool-conv64-pool-fc128-fc10) on scikit-learn's "
          "handwritten digits (8x8), fixed 20% test split", flush=True)
    res = train_reference(dataset="digits", model="cnn", epochs=args.epochs, batch_size=32,
                          lr=2e-3, optimizer="adam", seed=args.seed, out=args.out,
                          patience=4, verbose=0 if args.quiet else 1, stream=sys.stdout)
    _print_result(res, "results on the held-out test set")
    return 0


def _register_demo(sub):
    p = sub.add_parser("demo", help="train a small CNN on scikit-learn digits and report (< 1 min)",
                       description="Train a small CNN on scikit-learn's digits, then print test "
                                   "accuracy, precision/recall/F1, samples/s and where the model "
                                   "and the training-curve PNG were saved.")
    p.add_argument("--epochs", type=_positive_int, default=12, help="epochs (default 12)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", default="nervo-demo", help="output folder (default ./nervo-demo)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    p.set_defaults(func=_cmd_demo)


def _cmd_train(args) -> int:
    from nervo.train.recipe import train_reference
    res = train_reference(dataset=args.dataset, model=args.model, data_dir=args.data_dir,
                          epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                          optimizer=args.optimizer, weight_decay=args.weight_decay, seed=args.seed,
                          out=args.out, patience=args.patience, augment=args.augment,
                          verbose=0 if args.quiet else 1, stream=sys.stdout)
    _print_result(res, f"{args.model} on {args.dataset}: held-out test set")
    return 0


def _register_train(sub):
    from nervo.data import DATASETS
    from nervo.train.models import MODELS
    from nervo.train.recipe import OPTIMIZERS
    p = sub.add_parser("train", help="train a reference model on digits or Fashion-MNIST",
                       description="Train a reference model with a validation split, "
                                   "standardization fitted on the training split, "
                                   "ReduceLROnPlateau and early stopping; report test metrics.")
    p.add_argument("--dataset", choices=sorted(DATASETS), default="digits")
    p.add_argument("--data-dir", default=None,
                   help="folder of the IDX files (fashion-mnist; default /usr/share/datasets/fashion-mnist)")
    p.add_argument("--model", choices=MODELS, default="cnn")
    p.add_argument("--epochs", type=_positive_int, default=10)
    p.add_argument("--batch-size", type=_positive_int, default=128)
    p.add_argument("--lr", type=_positive_float, default=1e-3)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--patience", type=_positive_int, default=5, help="early-stopping patience")
    p.add_argument("--augment", action="store_true", help="random crop (padding) + horizontal flip")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="nervo-run", help="output folder (default ./nervo-run)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    p.set_defaults(func=_cmd_train)


def _cmd_evaluate(args) -> int:
    from nervo.train.recipe import evaluate_saved
    r = evaluate_saved(args.model_path, dataset=args.dataset, data_dir=args.data_dir)
    spec = r["spec"]
    print(f"{spec['model']} from {args.model_path} on {args.dataset or spec['dataset']} test set "
          f"(n={r['n_test']})")
    print(f"test accuracy  {r['accuracy']:.4f}")
    print(f"precision {r['precision']:.4f}  recall {r['recall']:.4f}  F1 {r['f1']:.4f}  (macro)")
    print(r["report"])
    return 0


def _register_evaluate(sub):
    from nervo.data import DATASETS
    p = sub.add_parser("evaluate", help="score a model saved by 'nervo train' / 'nervo demo'")
    p.add_argument("model_path", help="the model.safetensors written by nervo train/demo")
    p.add_argument("--dataset", choices=sorted(DATASETS), default=None,
                   help="dataset to score on (default: the one it was trained on)")
    p.add_argument("--data-dir", default=None)
    p.set_defaults(func=_cmd_evaluate)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nervo", description="nervo: fast neural networks on the CPU")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _register_info(sub)
    _register_demo(sub)
    _register_train(sub)
    _register_evaluate(sub)
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
    except KeyboardInterrupt:
        print(f"nervo {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, ImportError, RuntimeError, OSError,
            KeyError, FloatingPointError) as exc:
        print(f"nervo {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
