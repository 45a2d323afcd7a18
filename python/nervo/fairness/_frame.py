"""MetricFrame: metrics computed overall and per group of one or more sensitive features.

Vocabulary: ``n`` samples, ``k`` sensitive-feature columns, ``G`` groups (the combinations of
sensitive values that occur). A group key is the value itself for one column and a tuple of
values for several, ordered as ``numpy.unique`` orders each column.

Results are plain Python dicts (no pandas dependency); :meth:`MetricFrame.to_pandas` builds a
DataFrame when pandas is installed.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from nervo.fairness import _metrics as M

_METHODS = ("between_groups", "to_overall")


def sensitive_columns(sensitive_features, n: int, call: str):
    """``(names, columns)``: the sensitive features as a list of 1-D arrays of length ``n``.

    Accepts a 1-D array-like (one feature), a 2-D ``(n, k)`` array, a dict ``{name: column}`` or a
    pandas DataFrame / Series.
    """
    if sensitive_features is None:
        raise TypeError(f"{call}: sensitive_features is required (one value per sample), got None")
    if isinstance(sensitive_features, dict):
        if not sensitive_features:
            raise ValueError(f"{call}: sensitive_features is an empty dict")
        items = [(str(k), v) for k, v in sensitive_features.items()]
    elif hasattr(sensitive_features, "columns") and hasattr(sensitive_features, "__getitem__"):
        items = [(str(c), np.asarray(sensitive_features[c])) for c in sensitive_features.columns]
    else:
        a = np.asarray(sensitive_features)
        name = getattr(sensitive_features, "name", None)
        if a.ndim == 1:
            items = [(str(name) if name is not None else "sensitive_feature_0", a)]
        elif a.ndim == 2:
            items = [(f"sensitive_feature_{j}", a[:, j]) for j in range(a.shape[1])]
        else:
            raise ValueError(f"{call}: sensitive_features must be 1-D (n,) or 2-D (n, k), "
                             f"got shape {a.shape}")
    names, cols = [], []
    for name, col in items:
        c = np.asarray(col)
        if c.ndim != 1:
            raise ValueError(f"{call}: sensitive feature {name!r} must be 1-D, got shape {c.shape}")
        if c.shape[0] != n:
            raise ValueError(f"{call}: sensitive feature {name!r} has {c.shape[0]} values but "
                             f"y_true has {n} samples")
        if c.dtype.kind == "f" and np.isnan(c).any():
            raise ValueError(f"{call}: sensitive feature {name!r} contains NaN; give missing "
                             f"values an explicit group label")
        names.append(name)
        cols.append(c)
    return names, cols


def group_codes(cols, call: str):
    """``(keys, codes)``: one key per group that occurs, and each sample's group index."""
    uniques, inverses = [], []
    for j, c in enumerate(cols):
        try:
            u, inv = np.unique(c, return_inverse=True)
        except TypeError as exc:
            raise ValueError(f"{call}: sensitive feature column {j} mixes value types that cannot "
                             f"be ordered ({exc}); convert it to str") from exc
        uniques.append(u)
        inverses.append(inv.reshape(-1))
    if len(cols) == 1:
        keys = [v.item() if hasattr(v, "item") else v for v in uniques[0]]
        return keys, inverses[0]
    flat = np.ravel_multi_index(inverses, [len(u) for u in uniques])
    present, codes = np.unique(flat, return_inverse=True)
    idx = np.unravel_index(present, [len(u) for u in uniques])
    keys = [tuple((u[i].item() if hasattr(u[i], "item") else u[i]) for u, i in zip(uniques, ii))
            for ii in zip(*idx)]
    return keys, codes.reshape(-1)


def _resolve_metrics(metrics, call: str):
    """``(single, {name: fn})`` from a callable, a name, a list of those, or a dict."""
    def one(m):
        if isinstance(m, str):
            if m not in M.BY_NAME:
                raise ValueError(f"{call}: unknown metric {m!r}; known: {sorted(M.BY_NAME)}")
            return m, M.BY_NAME[m]
        if callable(m):
            return getattr(m, "__name__", "metric"), m
        raise TypeError(f"{call}: a metric must be a callable or a name, got {type(m).__name__}")

    if isinstance(metrics, dict):
        if not metrics:
            raise ValueError(f"{call}: metrics is an empty dict")
        out = {}
        for name, m in metrics.items():
            out[str(name)] = one(m)[1]
        return False, out
    if isinstance(metrics, (list, tuple)):
        if not metrics:
            raise ValueError(f"{call}: metrics is empty")
        return False, dict(one(m) for m in metrics)
    name, fn = one(metrics)
    return True, {name: fn}


def _nan_extreme(values, fn):
    v = np.asarray([x for x in values if not (isinstance(x, float) and math.isnan(x))], np.float64)
    return float(fn(v)) if v.size else float("nan")


def _safe_ratio(a: float, b: float) -> float:
    """``a / b`` for non-negative metrics, with ``0 / 0 = 1`` (equal) and ``x / 0 = 0``."""
    if math.isnan(a) or math.isnan(b):
        return float("nan")
    if b == 0:
        return 1.0 if a == 0 else 0.0
    return float(a / b)


class MetricFrame:
    """Metrics overall and per sensitive group (Fairlearn's ``MetricFrame``, without pandas).

    Args:
        metrics: a callable ``fn(y_true, y_pred, **params) -> float``, a known name
            (``"accuracy"``, ``"selection_rate"``, ``"tpr"``, ``"fpr"``, ``"tnr"``, ``"fnr"``,
            ``"precision"``, ``"recall"``, ``"count"``), or a list / dict of those.
        y_true, y_pred: labels, shape ``(n,)``.
        sensitive_features: shape ``(n,)``, ``(n, k)``, a dict of columns or a DataFrame.
        sample_params: extra keyword arguments per metric (``{name: {param: value}}``, or one
            dict for a single metric); array values of length ``n`` (such as ``sample_weight``)
            are split by group.

    Attributes:
        overall: the metric on all samples (a float, or ``{metric: float}`` for several).
        by_group: ``{group: float}`` (one metric) or ``{group: {metric: float}}``.
        groups: the group keys, in order; ``sensitive_feature_names``: the column names.

    Raises:
        ValueError: mismatched lengths, unknown metric name, empty input.

    Example:
        >>> from nervo.fairness import MetricFrame
        >>> mf = MetricFrame(metrics="selection_rate", y_true=[1, 0, 1, 0], y_pred=[1, 1, 0, 0],
        ...                  sensitive_features=["a", "a", "b", "b"])
        >>> mf.by_group
        {'a': 1.0, 'b': 0.0}
        >>> mf.difference()
        1.0
    """

    def __init__(self, *, metrics, y_true, y_pred, sensitive_features, sample_params=None):
        call = "nervo.fairness.MetricFrame"
        yt, yp, _ = M.check_labels(y_true, y_pred, call)
        n = yt.shape[0]
        if n == 0:
            raise ValueError(f"{call}: y_true and y_pred are empty (no samples to audit)")
        self._single, self._metrics = _resolve_metrics(metrics, call)
        self.sensitive_feature_names, cols = sensitive_columns(sensitive_features, n, call)
        self.groups, codes = group_codes(cols, call)
        params = self._params(sample_params, n, call)

        self._overall = {name: float(fn(yt, yp, **params[name])) for name, fn in self._metrics.items()}
        self._by_group = {}
        for gi, key in enumerate(self.groups):
            sel = codes == gi
            row = {}
            for name, fn in self._metrics.items():
                p = {k: (v[sel] if isinstance(v, np.ndarray) and v.shape[:1] == (n,) else v)
                     for k, v in params[name].items()}
                row[name] = float(fn(yt[sel], yp[sel], **p))
            self._by_group[key] = row
        self.group_sizes = {key: int(np.count_nonzero(codes == gi)) for gi, key in enumerate(self.groups)}

    def _params(self, sample_params, n, call):
        out = {name: {} for name in self._metrics}
        if sample_params is None:
            return out
        if not isinstance(sample_params, dict):
            raise TypeError(f"{call}: sample_params must be a dict, got {type(sample_params).__name__}")
        # One metric: its params may be given directly ({"sample_weight": w}) or by metric name.
        if self._single and not all(isinstance(v, dict) for v in sample_params.values()):
            sample_params = {next(iter(self._metrics)): sample_params}
        for name, p in sample_params.items():
            if name not in self._metrics:
                raise ValueError(f"{call}: sample_params names metric {name!r}, which is not one "
                                 f"of {list(self._metrics)}")
            if not isinstance(p, dict):
                raise TypeError(f"{call}: sample_params[{name!r}] must be a dict of keyword "
                                f"arguments, got {type(p).__name__}")
            conv = {}
            for k, v in p.items():
                a = np.asarray(v) if isinstance(v, (list, tuple, np.ndarray)) else v
                if isinstance(a, np.ndarray) and a.ndim >= 1 and a.shape[0] != n:
                    raise ValueError(f"{call}: sample_params[{name!r}][{k!r}] has {a.shape[0]} "
                                     f"values but there are {n} samples")
                conv[k] = a
            out[name] = conv
        return out

    # -- results --------------------------------------------------------------------------
    @property
    def metric_names(self) -> list:
        return list(self._metrics)

    @property
    def overall(self):
        return next(iter(self._overall.values())) if self._single else dict(self._overall)

    @property
    def by_group(self):
        if self._single:
            name = next(iter(self._metrics))
            return {g: row[name] for g, row in self._by_group.items()}
        return {g: dict(row) for g, row in self._by_group.items()}

    def _per_metric(self, fn: Callable[[str], float]):
        out = {name: fn(name) for name in self._metrics}
        return next(iter(out.values())) if self._single else out

    def _column(self, name):
        return [row[name] for row in self._by_group.values()]

    def group_min(self):
        """Smallest per-group value of each metric (NaN groups ignored)."""
        return self._per_metric(lambda m: _nan_extreme(self._column(m), np.min))

    def group_max(self):
        """Largest per-group value of each metric (NaN groups ignored)."""
        return self._per_metric(lambda m: _nan_extreme(self._column(m), np.max))

    def _check_method(self, method, call):
        if method not in _METHODS:
            raise ValueError(f"{call}: method must be one of {_METHODS}, got {method!r}")

    def difference(self, method: str = "between_groups"):
        """``max_g - min_g`` (``between_groups``) or ``max_g |m_g - overall|`` (``to_overall``)."""
        self._check_method(method, "MetricFrame.difference")

        def diff(m):
            if method == "between_groups":
                return _nan_extreme(self._column(m), np.max) - _nan_extreme(self._column(m), np.min)
            o = self._overall[m]
            return _nan_extreme([abs(v - o) for v in self._column(m)], np.max)
        return self._per_metric(diff)

    def ratio(self, method: str = "between_groups"):
        """``min_g / max_g`` (``between_groups``) or ``min_g min(m_g/overall, overall/m_g)``.

        NOTE: unlike Fairlearn (which divides and returns NaN), ``0 / 0`` counts as equal (1.0):
        every group at 0 is perfect parity.
        """
        self._check_method(method, "MetricFrame.ratio")

        def ratio(m):
            if method == "between_groups":
                return _safe_ratio(_nan_extreme(self._column(m), np.min),
                                   _nan_extreme(self._column(m), np.max))
            o = self._overall[m]
            vals = [min(_safe_ratio(v, o), _safe_ratio(o, v)) for v in self._column(m)]
            return _nan_extreme(vals, np.min)
        return self._per_metric(ratio)

    # -- presentation ---------------------------------------------------------------------
    def table(self):
        """``(header, rows)``: one row per group, then ``overall``, ``difference``, ``ratio``."""
        names = self.metric_names
        header = ["group", "n"] + names
        rows = []
        for g, row in self._by_group.items():
            rows.append([_fmt_key(g), str(self.group_sizes[g])] + [_fmt(row[m]) for m in names])
        total = sum(self.group_sizes.values())
        rows.append(["overall", str(total)] + [_fmt(self._overall[m]) for m in names])
        diff = self.difference() if not self._single else {names[0]: self.difference()}
        ratio = self.ratio() if not self._single else {names[0]: self.ratio()}
        rows.append(["difference", ""] + [_fmt(diff[m]) for m in names])
        rows.append(["ratio", ""] + [_fmt(ratio[m]) for m in names])
        return header, rows

    def report(self) -> str:
        """The :meth:`table` as aligned text."""
        header, rows = self.table()
        widths = [max(len(r[j]) for r in [header] + rows) for j in range(len(header))]
        lines = ["  ".join(h.ljust(w) if j == 0 else h.rjust(w) for j, (h, w) in enumerate(zip(header, widths)))]
        lines.append("  ".join("-" * w for w in widths))
        for i, r in enumerate(rows):
            if i == len(self._by_group):
                lines.append("  ".join("-" * w for w in widths))
            lines.append("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        return "\n".join(lines)

    __str__ = report

    def __repr__(self) -> str:
        return (f"MetricFrame(metrics={self.metric_names}, groups={len(self.groups)}, "
                f"sensitive_features={self.sensitive_feature_names})")

    def to_pandas(self):
        """Per-group values as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("MetricFrame.to_pandas needs pandas (pip install pandas)") from exc
        return pd.DataFrame.from_dict({g: dict(r) for g, r in self._by_group.items()}, orient="index")


def _fmt(v: float) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    return f"{v:.4g}" if abs(v) >= 1e4 else f"{v:.4f}"


def _fmt_key(k) -> str:
    return ", ".join(str(x) for x in k) if isinstance(k, tuple) else str(k)
