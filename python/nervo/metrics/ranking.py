"""Ranking metrics on scores: ROC AUC (binary, one-vs-rest) and average precision, matching
scikit-learn. Binary scores are ``(N,)`` for the positive class; multiclass scores are ``(N, K)``
with column ``k`` scoring class ``labels[k]`` (default: the sorted classes of ``y_true``)."""
from __future__ import annotations

import numpy as np

from nervo.metrics._check import finite, same_length, to_array


def _rankdata(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based), ties sharing the mean of their positions."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    boundaries = np.concatenate([[True], xs[1:] != xs[:-1], [True]])
    starts = np.flatnonzero(boundaries)
    avg = (starts[:-1] + starts[1:] + 1) / 2.0  # mean of 1-based positions in each tie group
    ranks_sorted = np.repeat(avg, np.diff(starts))
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = ranks_sorted
    return ranks


def _binary_auc(y: np.ndarray, s: np.ndarray, name: str) -> float:
    npos = int(y.sum())
    nneg = len(y) - npos
    if npos == 0 or nneg == 0:
        raise ValueError(f"{name}: only one class present in y_true; ROC AUC is not defined")
    # Mann-Whitney U with ties counted as 1/2 == the trapezoidal area under the ROC curve.
    ranks = _rankdata(s)
    return float((ranks[y].sum() - npos * (npos + 1) / 2.0) / (npos * nneg))


def _binary_ap(y: np.ndarray, s: np.ndarray) -> float:
    order = np.argsort(s, kind="mergesort")[::-1]
    s_sorted, y_sorted = s[order], y[order]
    last_of_group = np.flatnonzero(np.diff(s_sorted)) if len(s) else np.array([], dtype=np.int64)
    thresh_idx = np.concatenate([last_of_group, [len(s) - 1]])
    tps = np.cumsum(y_sorted)[thresh_idx].astype(np.float64)
    fps = 1 + thresh_idx - tps
    if tps[-1] == 0:
        return 0.0  # scikit-learn: recall undefined, AP reported as 0 (with a warning there)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    recall_prev = np.concatenate([[0.0], recall[:-1]])
    return float(np.sum((recall - recall_prev) * precision))


def _prepare(name, y_true, y_score, labels):
    yt = to_array(name, "y_true", y_true, ndim=1)
    ys = to_array(name, "y_score", y_score, ndim=(1, 2)).astype(np.float64)
    finite(name, "y_score", ys)
    same_length(name, y_true=yt, y_score=ys)
    classes = np.unique(yt) if labels is None else np.asarray(labels)
    return yt, ys, classes


def roc_auc_score(y_true, y_score, *, average: str = "macro", multi_class: str = "ovr",
                  labels=None, pos_label=None):
    """Area under the ROC curve.

    Binary: ``y_score`` is ``(N,)`` (the positive class = the larger label, or ``pos_label``).
    Multiclass: ``y_score`` is ``(N, K)`` probabilities and one-vs-rest AUCs are averaged
    (``"macro"`` or ``"weighted"`` by prevalence). NOTE: scikit-learn needs ``multi_class="ovr"``
    spelled out; nervo defaults to it.
    """
    name = "roc_auc_score"
    if average not in ("macro", "weighted"):
        raise ValueError(f"{name}: average must be 'macro' or 'weighted', got {average!r}")
    if multi_class != "ovr":
        raise ValueError(f"{name}: only multi_class='ovr' is supported, got {multi_class!r}")
    yt, ys, classes = _prepare(name, y_true, y_score, labels)
    if ys.ndim == 1:
        if len(np.unique(yt)) > 2:
            raise ValueError(f"{name}: y_true is multiclass but y_score is 1-d; pass (N, K) scores")
        pos = pos_label if pos_label is not None else (classes[-1] if len(classes) else 1)
        return _binary_auc(yt == pos, ys, name)
    if ys.shape[1] != len(classes):
        raise ValueError(f"{name}: y_score has {ys.shape[1]} columns but there are {len(classes)} "
                         f"classes {classes.tolist()}; pass labels=")
    aucs = np.array([_binary_auc(yt == c, ys[:, k], name) for k, c in enumerate(classes)])
    if average == "weighted":
        return float(np.average(aucs, weights=[np.sum(yt == c) for c in classes]))
    return float(aucs.mean())


def average_precision_score(y_true, y_score, *, average: str = "macro", pos_label=1, labels=None):
    """Average precision ``sum_n (R_n - R_{n-1}) P_n`` over score thresholds (no interpolation).

    Binary: ``y_score`` ``(N,)`` for ``pos_label``. Multiclass: ``(N, K)``, one-vs-rest, averaged
    ``"macro"`` or ``"weighted"`` (by support) or ``"micro"`` (all columns pooled).
    """
    name = "average_precision_score"
    if average not in ("macro", "weighted", "micro"):
        raise ValueError(f"{name}: average must be 'macro', 'weighted' or 'micro', got {average!r}")
    yt, ys, classes = _prepare(name, y_true, y_score, labels)
    if ys.ndim == 1:
        if len(np.unique(yt)) > 2:
            raise ValueError(f"{name}: y_true is multiclass but y_score is 1-d; pass (N, K) scores")
        if len(np.unique(yt)) == 2 and pos_label not in yt:
            raise ValueError(f"{name}: pos_label={pos_label!r} is not a label of y_true")
        return _binary_ap(yt == pos_label, ys)
    if ys.shape[1] != len(classes):
        raise ValueError(f"{name}: y_score has {ys.shape[1]} columns but there are {len(classes)} "
                         f"classes {classes.tolist()}; pass labels=")
    onehot = yt[:, None] == classes[None, :]
    if average == "micro":
        return _binary_ap(onehot.ravel(), ys.ravel())
    aps = np.array([_binary_ap(onehot[:, k], ys[:, k]) for k in range(len(classes))])
    if average == "weighted":
        w = onehot.sum(axis=0)
        return float(np.average(aps, weights=w)) if w.sum() else 0.0
    return float(aps.mean())
