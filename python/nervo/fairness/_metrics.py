"""Per-sample-set classification metrics used by the fairness audit (NumPy only).

Every metric has the Fairlearn / scikit-learn signature ``metric(y_true, y_pred, *,
sample_weight=None, pos_label=1)`` and returns a Python float. Rates whose denominator is zero
(a group with no positives for TPR, no negatives for FPR, no predicted positives for precision,
or no samples at all) return ``zero_division`` (0.0 by default, the value scikit-learn's
``confusion_matrix(normalize="true")`` and therefore Fairlearn give) instead of dividing by zero.
Pass ``zero_division=float("nan")`` to mark them as undefined; the aggregate disparity metrics
then ignore such groups.

Vocabulary: ``n`` samples; ``tp, fp, tn, fn`` the (weighted) confusion-matrix counts for the
positive class ``pos_label``.
"""
from __future__ import annotations

import numpy as np


def _as_1d(x, call: str, arg: str) -> np.ndarray:
    if x is None:
        raise TypeError(f"{call}: {arg} is required, got None")
    a = np.asarray(x)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"{call}: {arg} must be one-dimensional (n,), got shape {a.shape}")
    if a.dtype.kind == "c":
        raise TypeError(f"{call}: {arg} must hold class labels, got complex dtype {a.dtype}")
    return a


def check_labels(y_true, y_pred, call: str, sample_weight=None):
    """``(y_true, y_pred, w)`` as 1-D arrays of equal length; ``w`` is float64 (ones by default)."""
    yt = _as_1d(y_true, call, "y_true")
    yp = _as_1d(y_pred, call, "y_pred")
    if yt.shape[0] != yp.shape[0]:
        raise ValueError(f"{call}: y_true has {yt.shape[0]} samples but y_pred has {yp.shape[0]}")
    if sample_weight is None:
        w = np.ones(yt.shape[0], np.float64)
    else:
        w = _as_1d(sample_weight, call, "sample_weight").astype(np.float64)
        if w.shape[0] != yt.shape[0]:
            raise ValueError(f"{call}: sample_weight has {w.shape[0]} entries but y_true has "
                             f"{yt.shape[0]} samples")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"{call}: sample_weight must be finite and >= 0")
    for name, a in (("y_true", yt), ("y_pred", yp)):
        if a.dtype.kind == "f" and a.size and not np.all(np.isfinite(a)):
            raise ValueError(f"{call}: {name} contains NaN or inf")
    return yt, yp, w


def _binary(a: np.ndarray, pos_label, call: str, arg: str) -> np.ndarray:
    """Boolean mask of the positive class; refuses more than two distinct labels."""
    labels = np.unique(a)
    if labels.size > 2:
        shown = ", ".join(repr(v) for v in labels[:5].tolist())
        raise ValueError(f"{call}: {arg} must be binary (two labels at most), got {labels.size} "
                         f"labels: {shown}{', ...' if labels.size > 5 else ''}")
    if labels.size == 2 and pos_label not in labels.tolist():
        raise ValueError(f"{call}: pos_label={pos_label!r} is not one of the labels in {arg} "
                         f"{labels.tolist()}")
    return a == pos_label


def confusion(y_true, y_pred, *, sample_weight=None, pos_label=1, call="confusion"):
    """Weighted ``(tp, fp, tn, fn)`` of a binary problem."""
    yt, yp, w = check_labels(y_true, y_pred, call, sample_weight)
    t = _binary(yt, pos_label, call, "y_true")
    p = _binary(yp, pos_label, call, "y_pred")
    tp = float(w[t & p].sum())
    fp = float(w[~t & p].sum())
    tn = float(w[~t & ~p].sum())
    fn = float(w[t & ~p].sum())
    return tp, fp, tn, fn


def _ratio(num: float, den: float, zero_division: float) -> float:
    return float(num / den) if den > 0 else float(zero_division)


def count(y_true, y_pred, *, sample_weight=None) -> float:
    """Number of samples (sum of weights)."""
    _, _, w = check_labels(y_true, y_pred, "nervo.fairness.count", sample_weight)
    return float(w.sum())


def accuracy_score(y_true, y_pred, *, sample_weight=None, zero_division=0.0) -> float:
    """Fraction of samples with ``y_pred == y_true`` (any number of classes)."""
    yt, yp, w = check_labels(y_true, y_pred, "nervo.fairness.accuracy_score", sample_weight)
    return _ratio(float(w[yt == yp].sum()), float(w.sum()), zero_division)


def selection_rate(y_true, y_pred, *, sample_weight=None, pos_label=1, zero_division=0.0) -> float:
    """Fraction of samples predicted positive: ``(tp + fp) / n``. ``y_true`` is only length-checked."""
    call = "nervo.fairness.selection_rate"
    _, yp, w = check_labels(y_true, y_pred, call, sample_weight)
    return _ratio(float(w[yp == pos_label].sum()), float(w.sum()), zero_division)


def true_positive_rate(y_true, y_pred, *, sample_weight=None, pos_label=1, zero_division=0.0) -> float:
    """``tp / (tp + fn)`` (recall); ``zero_division`` when there are no positives."""
    tp, fp, tn, fn = confusion(y_true, y_pred, sample_weight=sample_weight, pos_label=pos_label,
                               call="nervo.fairness.true_positive_rate")
    return _ratio(tp, tp + fn, zero_division)


def false_positive_rate(y_true, y_pred, *, sample_weight=None, pos_label=1, zero_division=0.0) -> float:
    """``fp / (fp + tn)``; ``zero_division`` when there are no negatives."""
    tp, fp, tn, fn = confusion(y_true, y_pred, sample_weight=sample_weight, pos_label=pos_label,
                               call="nervo.fairness.false_positive_rate")
    return _ratio(fp, fp + tn, zero_division)


def true_negative_rate(y_true, y_pred, *, sample_weight=None, pos_label=1, zero_division=0.0) -> float:
    """``tn / (tn + fp)``; ``zero_division`` when there are no negatives."""
    tp, fp, tn, fn = confusion(y_true, y_pred, sample_weight=sample_weight, pos_label=pos_label,
                               call="nervo.fairness.true_negative_rate")
    return _ratio(tn, tn + fp, zero_division)


def false_negative_rate(y_true, y_pred, *, sample_weight=None, pos_label=1, zero_division=0.0) -> float:
    """``fn / (fn + tp)``; ``zero_division`` when there are no positives."""
    tp, fp, tn, fn = confusion(y_true, y_pred, sample_weight=sample_weight, pos_label=pos_label,
                               call="nervo.fairness.false_negative_rate")
    return _ratio(fn, fn + tp, zero_division)


def precision_score(y_true, y_pred, *, sample_weight=None, pos_label=1, zero_division=0.0) -> float:
    """``tp / (tp + fp)``; ``zero_division`` when nothing is predicted positive."""
    tp, fp, tn, fn = confusion(y_true, y_pred, sample_weight=sample_weight, pos_label=pos_label,
                               call="nervo.fairness.precision_score")
    return _ratio(tp, tp + fp, zero_division)


def recall_score(y_true, y_pred, *, sample_weight=None, pos_label=1, zero_division=0.0) -> float:
    """``tp / (tp + fn)`` (same as :func:`true_positive_rate`)."""
    tp, fp, tn, fn = confusion(y_true, y_pred, sample_weight=sample_weight, pos_label=pos_label,
                               call="nervo.fairness.recall_score")
    return _ratio(tp, tp + fn, zero_division)


# Names used by MetricFrame when metrics are given as strings.
BY_NAME = {
    "count": count,
    "accuracy": accuracy_score,
    "selection_rate": selection_rate,
    "tpr": true_positive_rate,
    "fpr": false_positive_rate,
    "tnr": true_negative_rate,
    "fnr": false_negative_rate,
    "precision": precision_score,
    "recall": recall_score,
}
