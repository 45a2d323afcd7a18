"""Fairness audits: per-group metrics, group-disparity measures, a report, and threshold
post-processing, with Fairlearn's signatures (``metric(y_true, y_pred, *, sensitive_features)``).

NumPy only; :func:`plot_by_group` needs matplotlib (``pip install 'nervo[plot]'``).

Example:
    >>> from nervo import fairness
    >>> y_true = [1, 0, 1, 1, 0, 0]; y_pred = [1, 0, 0, 1, 1, 0]; group = list("aaabbb")
    >>> fairness.demographic_parity_difference(y_true, y_pred, sensitive_features=group)
    0.3333333333333333
    >>> print(fairness.fairness_report(y_true, y_pred, sensitive_features=group).report())  # doctest: +SKIP
"""
from nervo.fairness._metrics import (
    accuracy_score,
    count,
    false_negative_rate,
    false_positive_rate,
    precision_score,
    recall_score,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from nervo.fairness._frame import MetricFrame
from nervo.fairness._disparity import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
)
from nervo.fairness._postprocess import GroupThresholdOptimizer
from nervo.fairness._plot import plot_by_group

REPORT_METRICS = ("accuracy", "selection_rate", "tpr", "fpr", "precision", "recall")


def fairness_report(y_true, y_pred, *, sensitive_features, metrics=REPORT_METRICS,
                    sample_weight=None) -> MetricFrame:
    """A :class:`MetricFrame` of the usual audit metrics; ``print(frame.report())`` shows the
    per-group table with overall, difference and ratio rows."""
    sp = None
    if sample_weight is not None:
        sp = {m: {"sample_weight": sample_weight} for m in metrics}
    return MetricFrame(metrics=list(metrics), y_true=y_true, y_pred=y_pred,
                       sensitive_features=sensitive_features, sample_params=sp)


__all__ = [
    "MetricFrame", "fairness_report", "plot_by_group", "GroupThresholdOptimizer",
    "accuracy_score", "count", "selection_rate", "true_positive_rate", "false_positive_rate",
    "true_negative_rate", "false_negative_rate", "precision_score", "recall_score",
    "demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
    "equalized_odds_ratio", "equal_opportunity_difference", "equal_opportunity_ratio",
]
