"""Transfer learning: load pretrained weights (nervo's files or a PyTorch ``state_dict`` saved as
safetensors: the keys match), freeze the backbone, replace the head, fine-tune."""
from __future__ import annotations

import numpy as np


def _arr(v):
    return v.numpy() if hasattr(v, "numpy") else np.asarray(v)


def load_pretrained(model, source, *, skip_mismatched: bool = True, strict: bool = False) -> dict:
    """Copy matching weights from ``source`` (a path, a state dict or a Module) into ``model``.

    Args:
        skip_mismatched: leave entries whose shape differs (e.g. a new head) at their current
            values instead of failing.
        strict: require every model entry to be loaded and every source entry to be used.
    Returns:
        ``{"loaded": [...], "missing": [...], "unexpected": [...], "mismatched": [...]}``.
    Raises:
        ValueError: shape mismatches with ``skip_mismatched=False``, or anything left over with
            ``strict=True``; the model is unchanged then.
    """
    if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
        from nervo.io import load
        source = load(source)
        if "model" in source and isinstance(source["model"], dict):  # a full checkpoint
            source = source["model"]
    elif hasattr(source, "state_dict"):
        source = source.state_dict()
    own = model.state_dict()
    loaded, mismatched = {}, []
    for k, v in source.items():
        if k in own:
            a = _arr(v)
            if tuple(a.shape) != tuple(_arr(own[k]).shape):
                mismatched.append(f"{k}: {tuple(a.shape)} in source vs {tuple(_arr(own[k]).shape)} in model")
            else:
                loaded[k] = a.astype(_arr(own[k]).dtype, copy=False)
    missing = [k for k in own if k not in source]
    unexpected = [k for k in source if k not in own]
    problems = []
    if mismatched and not skip_mismatched:
        problems.append("shape mismatches: " + "; ".join(mismatched))
    if strict and (missing or unexpected):
        problems.append(f"missing {missing}, unexpected {unexpected}")
    if problems:
        raise ValueError("load_pretrained: " + " | ".join(problems))
    full = {k: _arr(v) for k, v in own.items()}
    full.update(loaded)
    model.load_state_dict(full)
    return {"loaded": list(loaded), "missing": missing, "unexpected": unexpected,
            "mismatched": mismatched}


def freeze(module, *, except_=None) -> int:
    """Set ``requires_grad=False`` on every parameter of ``module`` (except those of the
    submodules in ``except_``); returns the number of frozen parameters. BatchNorm layers in a
    frozen backbone still update running statistics in train mode, as in PyTorch; call
    ``.eval()`` on them to keep those fixed too."""
    keep = set()
    for m in except_ or ():
        keep.update(id(p) for p in m.parameters())
    n = 0
    for p in module.parameters():
        if id(p) not in keep:
            p.requires_grad = False
            n += 1
    return n


def unfreeze(module) -> None:
    """Set ``requires_grad=True`` on every parameter of ``module``."""
    for p in module.parameters():
        p.requires_grad = True


def trainable_parameters(module) -> list:
    """The parameters that still require gradients (what to hand the optimizer)."""
    return [p for p in module.parameters() if p.requires_grad]
