"""Argument checks shared by the metrics (messages name the metric, the argument and the shapes)."""
from __future__ import annotations

import numpy as np


def to_array(name: str, arg: str, a, *, ndim=None) -> np.ndarray:
    if a is None:
        raise TypeError(f"{name}: {arg} is None")
    if hasattr(a, "numpy") and not isinstance(a, np.ndarray):  # nervo / torch tensors
        a = a.numpy()
    arr = np.asarray(a)
    if arr.dtype == object or arr.dtype.kind == "c":
        raise TypeError(f"{name}: {arg} has unsupported dtype {arr.dtype}")
    if ndim is not None and arr.ndim not in ((ndim,) if isinstance(ndim, int) else ndim):
        raise ValueError(f"{name}: {arg} must have ndim {ndim}, got shape {arr.shape}")
    return arr


def same_length(name: str, **arrays) -> int:
    lens = {k: len(v) for k, v in arrays.items()}
    if len(set(lens.values())) > 1:
        raise ValueError(f"{name}: inconsistent numbers of samples {lens}")
    n = next(iter(lens.values()))
    return n


def labels_1d(name: str, y_true, y_pred):
    yt = to_array(name, "y_true", y_true, ndim=1)
    yp = to_array(name, "y_pred", y_pred, ndim=1)
    same_length(name, y_true=yt, y_pred=yp)
    if yt.dtype.kind == "f" and not np.all(np.isfinite(yt)):
        raise ValueError(f"{name}: y_true contains NaN or inf")
    if yp.dtype.kind == "f" and not np.all(np.isfinite(yp)):
        raise ValueError(f"{name}: y_pred contains NaN or inf")
    return yt, yp


def finite(name: str, arg: str, a: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: {arg} contains NaN or inf")
    return a
