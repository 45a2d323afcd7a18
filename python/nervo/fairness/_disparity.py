"""Group-disparity metrics with Fairlearn's signatures: ``fn(y_true, y_pred, *, sensitive_features)``.

Each is a :class:`MetricFrame` aggregate: a *difference* is ``max_g - min_g`` of a rate (0 means
parity) and a *ratio* is ``min_g / max_g`` (1 means parity), or, with ``method="to_overall"``,
the worst group's distance to (ratio with) the overall rate.
"""
from __future__ import annotations

from nervo.fairness import _metrics as M
from nervo.fairness._frame import MetricFrame

_AGGS = ("worst_case", "mean")


def _frame(metric, y_true, y_pred, sensitive_features, sample_weight, **params):
    sp = {}
    if sample_weight is not None:
        sp["sample_weight"] = sample_weight
    sp.update(params)
    return MetricFrame(metrics=metric, y_true=y_true, y_pred=y_pred,
                       sensitive_features=sensitive_features, sample_params=sp or None)


def demographic_parity_difference(y_true, y_pred, *, sensitive_features, method="between_groups",
                                  sample_weight=None) -> float:
    """Largest gap in selection rate ``P(y_pred = 1 | group)`` between groups.

    Example:
        >>> demographic_parity_difference([0, 0, 0, 0], [1, 1, 1, 0], sensitive_features=[0, 0, 1, 1])
        0.5
    """
    return _frame(M.selection_rate, y_true, y_pred, sensitive_features, sample_weight).difference(method)


def demographic_parity_ratio(y_true, y_pred, *, sensitive_features, method="between_groups",
                             sample_weight=None) -> float:
    """Smallest over largest selection rate across groups (1.0 when all are equal, even at 0)."""
    return _frame(M.selection_rate, y_true, y_pred, sensitive_features, sample_weight).ratio(method)


def _odds(y_true, y_pred, sensitive_features, sample_weight, zero_division):
    p = {"zero_division": zero_division}
    if sample_weight is not None:
        p["sample_weight"] = sample_weight
    return MetricFrame(metrics={"tpr": M.true_positive_rate, "fpr": M.false_positive_rate},
                       y_true=y_true, y_pred=y_pred, sensitive_features=sensitive_features,
                       sample_params={"tpr": p, "fpr": p})


def _agg(a: float, b: float, agg: str, worst) -> float:
    if agg not in _AGGS:
        raise ValueError(f"nervo.fairness: agg must be one of {_AGGS}, got {agg!r}")
    return float(worst(a, b)) if agg == "worst_case" else float((a + b) / 2)


def equalized_odds_difference(y_true, y_pred, *, sensitive_features, method="between_groups",
                              sample_weight=None, agg="worst_case", zero_division=0.0) -> float:
    """``max(TPR difference, FPR difference)`` between groups (``agg="mean"`` averages them).

    A group with no positives (negatives) has TPR (FPR) ``zero_division``; pass ``float("nan")``
    to leave such groups out of the comparison.
    """
    f = _odds(y_true, y_pred, sensitive_features, sample_weight, zero_division)
    d = f.difference(method)
    return _agg(d["tpr"], d["fpr"], agg, max)


def equalized_odds_ratio(y_true, y_pred, *, sensitive_features, method="between_groups",
                         sample_weight=None, agg="worst_case", zero_division=0.0) -> float:
    """``min(TPR ratio, FPR ratio)`` across groups (``agg="mean"`` averages them)."""
    f = _odds(y_true, y_pred, sensitive_features, sample_weight, zero_division)
    r = f.ratio(method)
    return _agg(r["tpr"], r["fpr"], agg, min)


def equal_opportunity_difference(y_true, y_pred, *, sensitive_features, method="between_groups",
                                 sample_weight=None, zero_division=0.0) -> float:
    """Largest gap in true positive rate ``P(y_pred = 1 | y_true = 1, group)`` between groups."""
    return _frame(M.true_positive_rate, y_true, y_pred, sensitive_features, sample_weight,
                  zero_division=zero_division).difference(method)


def equal_opportunity_ratio(y_true, y_pred, *, sensitive_features, method="between_groups",
                            sample_weight=None, zero_division=0.0) -> float:
    """Smallest over largest true positive rate across groups."""
    return _frame(M.true_positive_rate, y_true, y_pred, sensitive_features, sample_weight,
                  zero_division=zero_division).ratio(method)
