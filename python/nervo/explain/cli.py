"""``nervo explain``: attribute an image model's prediction to its input pixels.

    nervo explain --model cnn.safetensors --input shoe.npy [--method integrated_gradients]
                  [--target K] [--arch cnn] [--out shoe_ig.png] [--save attr.npy]

The model file is a safetensors state dict (``nervo.save(model, path)``) or a trainer checkpoint
of one of nervo's reference architectures (``mlp``, ``cnn``, ``resnet``; given by ``--arch`` or
recognized from the weights). The input is a ``.npy`` array ((H, W), (C, H, W) or a batch
(N, C, H, W)) or an image file (PNG/JPEG, read with matplotlib, scaled to [0, 1]).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def register(subparsers) -> None:
    """Add the ``explain`` subcommand to the ``nervo`` CLI's subparsers."""
    from nervo.explain import METHOD_NAMES
    p = subparsers.add_parser("explain", help="attribution heatmap of an image model's prediction")
    p.add_argument("--model", required=True, help="model weights (.safetensors)")
    p.add_argument("--input", required=True, help="input image: .npy array or PNG/JPEG file")
    p.add_argument("--method", default="integrated_gradients", choices=sorted(METHOD_NAMES),
                   help="attribution method (default: integrated_gradients)")
    p.add_argument("--target", type=int, default=None,
                   help="class to explain (default: the predicted class)")
    p.add_argument("--arch", default=None, help="reference architecture: mlp, cnn or resnet "
                   "(default: recognized from the weights)")
    p.add_argument("--steps", type=int, default=50, help="integrated-gradients steps (default 50)")
    p.add_argument("--normalize", default=None, metavar="MEAN,STD",
                   help="apply (x - MEAN) / STD to the input first")
    p.add_argument("--out", default=None, help="heatmap PNG (default: <input>_<method>.png)")
    p.add_argument("--save", default=None, help="also save the attributions as .npy")
    p.set_defaults(func=run)


def _state_dict(path):
    from nervo import io
    obj, meta = io.load(path, with_metadata=True)
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]   # a trainer checkpoint
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, np.ndarray) for v in obj.values()):
        raise ValueError(f"nervo explain: {path} does not hold a model state dict")
    return obj, meta


def _guess_arch(sd, meta):
    for key in ("model", "arch", "nervo.model"):
        v = meta.get(key)
        if v in ("mlp", "cnn", "resnet"):
            return v
    if any(k.endswith("running_mean") for k in sd):
        return "resnet"
    first = next(v for k, v in sd.items() if k.endswith("weight"))
    return "cnn" if first.ndim == 4 else "mlp"


def _read_input(path, call):
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{call}: no such input file: {path}")
    if p.suffix.lower() == ".npy":
        x = np.load(p, allow_pickle=False)
    else:
        try:
            import matplotlib.image as mpimg
        except ImportError as exc:
            raise ImportError(f"{call}: reading {p.suffix} images needs matplotlib: "
                              f"pip install 'nervo[plot]' (or pass a .npy array)") from exc
        x = mpimg.imread(p)
        if x.dtype == np.uint8:
            x = x / 255.0
        if x.ndim == 3:
            x = np.moveaxis(x[..., :3], -1, 0)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"{call}: input must be (H, W), (C, H, W) or (N, C, H, W), got shape {x.shape}")
    return x


def run(args) -> int:
    call = "nervo explain"
    from nervo import explain
    from nervo.train.models import build_model
    sd, meta = _state_dict(args.model)
    arch = args.arch or _guess_arch(sd, meta)
    x = _read_input(args.input, call)
    # Input channels expected by the model: the first conv's C, or an MLP's C*H*W.
    first = next(v for k, v in sd.items() if k.endswith("weight"))
    want_c = first.shape[1] if first.ndim == 4 else None
    if want_c is not None and x.shape[1] != want_c:
        if want_c == 1 and x.shape[1] in (3, 4):
            x = x[:, :3].mean(axis=1, keepdims=True)   # RGB image into a grayscale model
        else:
            raise ValueError(f"{call}: the model expects {want_c} input channels, the input has "
                             f"{x.shape[1]} (shape {x.shape})")
    if args.normalize:
        try:
            mean, std = (float(v) for v in args.normalize.split(","))
        except ValueError:
            raise ValueError(f"{call}: --normalize must be MEAN,STD, got {args.normalize!r}") from None
        x = (x - mean) / std
    last = [v for k, v in sd.items() if k.endswith("weight") and v.ndim == 2][-1]
    model = build_model(arch, x.shape[1:], num_classes=int(last.shape[0]))
    model.load_state_dict({k: v for k, v in sd.items()})
    model.eval()
    import nervo
    with nervo.no_grad():
        scores = model(nervo.tensor(x)).numpy()
    pred = scores.argmax(axis=1)
    k = scores.shape[1]
    if args.target is not None and not 0 <= args.target < k:
        raise ValueError(f"{call}: --target {args.target} is not a class of this model (0..{k - 1})")
    target = pred if args.target is None else np.full(x.shape[0], args.target)
    fn = explain.METHODS[args.method]
    if args.method == "integrated_gradients":
        attr, delta = fn(model, x, target, steps=args.steps)
    else:
        attr, delta = fn(model, x, target), None
    for i in range(x.shape[0]):
        line = f"sample {i}: predicted class {int(pred[i])}, explained class {int(target[i])}"
        if delta is not None:
            line += f", completeness delta {delta[i]:+.2e}"
        print(line)
    out = args.out or f"{os.path.splitext(args.input)[0]}_{args.method}.png"
    explain.plot(x[0], attr[0], out, title=f"{args.method}: class {int(target[0])}")
    print(f"heatmap written to {out}")
    if args.save:
        np.save(args.save, attr)
        print(f"attributions written to {args.save}")
    return 0
