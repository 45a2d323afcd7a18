"""Threshold post-processing: one decision threshold per group so that selection rates (or true
positive rates) are equal across groups.

Vocabulary: ``n`` samples, ``n_g`` samples in group ``g``, scores ``s`` (higher = more positive),
target rate ``r``. For a group, the threshold that gives rate ``r`` selects its ``round(r * m)``
highest scores, where ``m`` is ``n_g`` (selection rate) or the group's positive count (TPR); it is
placed halfway between the last selected and the first unselected score so that it carries over
to new data. Rates are therefore equal up to one sample per group (``1 / m``); ties at a
threshold select all tied samples. Unlike Fairlearn's ``ThresholdOptimizer`` the rule is
deterministic (no randomized predictions).
"""
from __future__ import annotations

import numpy as np

from nervo.fairness import _metrics as M
from nervo.fairness._frame import group_codes, sensitive_columns

_CONSTRAINTS = {
    "demographic_parity": "selection_rate", "selection_rate": "selection_rate",
    "true_positive_rate_parity": "tpr", "equal_opportunity": "tpr", "tpr": "tpr",
}


def _threshold_for(sorted_desc: np.ndarray, k: int) -> float:
    """Threshold selecting the ``k`` highest of ``sorted_desc`` (``score >= threshold``)."""
    m = sorted_desc.shape[0]
    if k <= 0:
        return float(np.nextafter(sorted_desc[0], np.inf)) if m else float("inf")
    if k >= m:
        return float(sorted_desc[-1])
    hi, lo = float(sorted_desc[k - 1]), float(sorted_desc[k])
    # NOTE: midpoint when the two differ; with a tie the threshold sits on the tied score and
    # selects every tied sample (deterministic, may overshoot the rate).
    return (hi + lo) / 2 if hi > lo else hi


class GroupThresholdOptimizer:
    """Per-group thresholds on a score that equalize selection rate or true positive rate.

    Args:
        constraint: ``"demographic_parity"`` (equal selection rates ``P(pred = 1 | g)``) or
            ``"true_positive_rate_parity"`` (equal ``P(pred = 1 | y = 1, g)``; Fairlearn's name;
            ``"equal_opportunity"`` is accepted too).
        target_rate: the common rate; ``None`` picks, on a grid of 201 rates, the one that
            maximizes accuracy on the data given to :meth:`fit`.

    Attributes (after fit): ``thresholds_`` ``{group: threshold}``, ``target_rate_``.

    Example:
        >>> import numpy as np
        >>> s = np.array([.9, .8, .3, .2, .6, .4, .35, .1]); g = np.array(list("aaaabbbb"))
        >>> opt = GroupThresholdOptimizer("demographic_parity", target_rate=0.5)
        >>> opt.fit([1, 1, 0, 0, 1, 0, 0, 0], s, sensitive_features=g).predict(s, sensitive_features=g).tolist()
        [1, 1, 0, 0, 1, 1, 0, 0]
    """

    def __init__(self, constraint: str = "demographic_parity", *, target_rate: float | None = None):
        if constraint not in _CONSTRAINTS:
            raise ValueError(f"GroupThresholdOptimizer: constraint must be one of "
                             f"{sorted(_CONSTRAINTS)}, got {constraint!r}")
        if target_rate is not None and not (0.0 <= float(target_rate) <= 1.0):
            raise ValueError(f"GroupThresholdOptimizer: target_rate must be in [0, 1], got {target_rate}")
        self.constraint = constraint
        self.target_rate = target_rate

    def _scores(self, scores, n, call):
        s = np.asarray(scores, dtype=np.float64)
        if s.ndim != 1:
            raise ValueError(f"{call}: scores must be 1-D (n,), got shape {s.shape}")
        if n is not None and s.shape[0] != n:
            raise ValueError(f"{call}: scores has {s.shape[0]} values but y_true has {n}")
        if not np.all(np.isfinite(s)):
            raise ValueError(f"{call}: scores contain NaN or inf")
        return s

    def _thresholds(self, rate, per_group):
        return {key: _threshold_for(sd, int(round(rate * sd.shape[0]))) for key, sd in per_group.items()}

    def fit(self, y_true, scores, *, sensitive_features, pos_label=1):
        call = "GroupThresholdOptimizer.fit"
        yt = M._as_1d(y_true, call, "y_true")
        s = self._scores(scores, yt.shape[0], call)
        if yt.shape[0] == 0:
            raise ValueError(f"{call}: no samples")
        pos = M._binary(yt, pos_label, call, "y_true")
        _, cols = sensitive_columns(sensitive_features, yt.shape[0], call)
        keys, codes = group_codes(cols, call)
        kind = _CONSTRAINTS[self.constraint]
        per_group = {}
        for gi, key in enumerate(keys):
            sel = codes == gi
            if kind == "tpr":
                sel = sel & pos
                if not sel.any():
                    raise ValueError(f"{call}: group {key!r} has no positive samples, so its true "
                                     f"positive rate is undefined; use constraint="
                                     f"'demographic_parity' or merge the group")
            per_group[key] = np.sort(s[sel])[::-1]

        if self.target_rate is not None:
            rate = float(self.target_rate)
        else:
            best = (-1.0, 0.0)
            for r in np.linspace(0.0, 1.0, 201):
                th = self._thresholds(r, per_group)
                pred = s >= np.array([th[keys[c]] for c in range(len(keys))])[codes]
                acc = float(np.mean(pred == pos))
                if acc > best[0] + 1e-12:
                    best = (acc, float(r))
            rate = best[1]
        self.target_rate_ = rate
        self.thresholds_ = self._thresholds(rate, per_group)
        self.pos_label_ = pos_label
        return self

    def predict(self, scores, *, sensitive_features):
        """1 where ``score >= threshold of the sample's group``, else 0 (int64 array)."""
        call = "GroupThresholdOptimizer.predict"
        if not hasattr(self, "thresholds_"):
            raise RuntimeError(f"{call}: call fit() first")
        s = self._scores(scores, None, call)
        _, cols = sensitive_columns(sensitive_features, s.shape[0], call)
        keys, codes = group_codes(cols, call)
        unknown = [k for k in keys if k not in self.thresholds_]
        if unknown:
            raise ValueError(f"{call}: groups {unknown} were not seen in fit (known: "
                             f"{list(self.thresholds_)})")
        th = np.array([self.thresholds_[k] for k in keys], np.float64)
        return (s >= th[codes]).astype(np.int64)
