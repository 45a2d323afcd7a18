"""Heatmap overlay of an attribution on its image (matplotlib, the ``nervo[plot]`` extra)."""
from __future__ import annotations

import os

import numpy as np


def _require_matplotlib(call):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(f"{call} needs matplotlib, which is not installed: "
                          f"pip install 'nervo[plot]'") from exc
    return Figure


def _to_hw(a: np.ndarray, call: str, what: str, reduce) -> np.ndarray:
    """(H, W), (C, H, W) or (H, W, C) with C in {1, 3, 4} -> (H, W) (channels reduced) or
    (H, W, 3) for an RGB image."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 2:
        return a
    if a.ndim == 3:
        if a.shape[0] in (1, 3, 4) and a.shape[2] not in (1, 3, 4):
            a = np.moveaxis(a, 0, -1)
        elif a.shape[0] in (1, 3, 4) and a.shape[2] in (1, 3, 4) and a.shape[0] < a.shape[2]:
            a = np.moveaxis(a, 0, -1)
        return reduce(a)
    raise ValueError(f"{call}: {what} must be (H, W), (C, H, W) or (H, W, C), got shape {a.shape}")


def plot(image, attribution, path, *, cmap: str = "inferno", alpha: float = 0.55,
         title: str | None = None, signed: bool = False) -> str:
    """Write a PNG with three panels: the image, the attribution heatmap, and the overlay.

    Channels of the attribution are summed in absolute value (``signed=True`` keeps the sign and
    uses a diverging colormap). The heatmap is scaled by its 99th percentile so that a few
    extreme pixels do not wash it out.

    Args:
        image: (H, W), (C, H, W) or (H, W, C); attribution: the same spatial size.
        path: where to write the PNG. Returns ``path``.
    Raises:
        ImportError: matplotlib missing (install ``nervo[plot]``).
        ValueError: shapes that do not match.
    """
    call = "nervo.explain.plot"
    Figure = _require_matplotlib(call)

    def img_reduce(a):
        return a[..., 0] if a.shape[-1] == 1 else a[..., :3]

    def attr_reduce(a):
        return a.sum(axis=-1) if signed else np.abs(a).sum(axis=-1)

    img = _to_hw(image, call, "image", img_reduce)
    att = _to_hw(attribution, call, "attribution", attr_reduce)
    if not signed:
        att = np.abs(att)
    if img.shape[:2] != att.shape[:2]:
        raise ValueError(f"{call}: image is {img.shape[:2]} but attribution is {att.shape[:2]} "
                         f"(height, width)")
    lo, hi = np.nanmin(img), np.nanmax(img)
    img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    scale = np.percentile(np.abs(att), 99) if att.size else 0.0
    scale = scale if scale > 0 else (np.abs(att).max() or 1.0)
    if signed:
        heat, cm, vmin = np.clip(att / scale, -1, 1), "RdBu_r", -1
    else:
        heat, cm, vmin = np.clip(att / scale, 0, 1), cmap, 0
    gray = "gray" if img.ndim == 2 else None
    fig = Figure(figsize=(9, 3.3), layout="constrained")
    axes = fig.subplots(1, 3)
    axes[0].imshow(img, cmap=gray)
    axes[0].set_title("input")
    im = axes[1].imshow(heat, cmap=cm, vmin=vmin, vmax=1)
    axes[1].set_title("attribution")
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    axes[2].imshow(img, cmap=gray)
    axes[2].imshow(heat, cmap=cm, vmin=vmin, vmax=1, alpha=alpha)
    axes[2].set_title("overlay")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.savefig(os.fspath(path), format="png", dpi=100)
    return path
