"""nervo.fairness: per-group metrics and disparities against hand-computed values (incl. a group
with no positives), scikit-learn as an oracle for the base metrics, post-processing, plot, bad input."""
import math

import numpy as np
import pytest

from nervo import fairness as F

# Three groups; group "c" has no positive labels. Confusion counts (tp, fp, tn, fn):
#   a: (1, 1, 1, 1)   b: (1, 1, 2, 0)   c: (0, 1, 2, 0)   overall: (2, 3, 5, 1)
Y_TRUE = [1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]
Y_PRED = [1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 0]
GROUP = list("aaaabbbbccc")

HAND = {  # metric: ({group: value}, overall)
    "accuracy": ({"a": 0.5, "b": 0.75, "c": 2 / 3}, 7 / 11),
    "selection_rate": ({"a": 0.5, "b": 0.5, "c": 1 / 3}, 5 / 11),
    "tpr": ({"a": 0.5, "b": 1.0, "c": 0.0}, 2 / 3),        # c: 0/0 -> zero_division = 0
    "fpr": ({"a": 0.5, "b": 1 / 3, "c": 1 / 3}, 3 / 8),
    "tnr": ({"a": 0.5, "b": 2 / 3, "c": 2 / 3}, 5 / 8),
    "fnr": ({"a": 0.5, "b": 0.0, "c": 0.0}, 1 / 3),
    "precision": ({"a": 0.5, "b": 0.5, "c": 0.0}, 2 / 5),
    "recall": ({"a": 0.5, "b": 1.0, "c": 0.0}, 2 / 3),
}


@pytest.mark.parametrize("name", list(HAND))
def test_metric_frame_matches_hand_computed(name):
    mf = F.MetricFrame(metrics=name, y_true=Y_TRUE, y_pred=Y_PRED, sensitive_features=GROUP)
    groups, overall = HAND[name]
    assert mf.groups == ["a", "b", "c"]
    assert mf.by_group == pytest.approx(groups)
    assert mf.overall == pytest.approx(overall)
    assert mf.group_max() == pytest.approx(max(groups.values()))
    assert mf.group_min() == pytest.approx(min(groups.values()))


def test_disparities_match_hand_computed():
    kw = dict(sensitive_features=GROUP)
    assert F.demographic_parity_difference(Y_TRUE, Y_PRED, **kw) == pytest.approx(0.5 - 1 / 3)
    assert F.demographic_parity_ratio(Y_TRUE, Y_PRED, **kw) == pytest.approx((1 / 3) / 0.5)
    assert F.demographic_parity_difference(Y_TRUE, Y_PRED, method="to_overall", **kw) == \
        pytest.approx(max(abs(0.5 - 5 / 11), abs(1 / 3 - 5 / 11)))
    assert F.demographic_parity_ratio(Y_TRUE, Y_PRED, method="to_overall", **kw) == \
        pytest.approx(min((5 / 11) / 0.5, (1 / 3) / (5 / 11)))
    # Group c has no positives: TPR = 0 by the zero_division convention (Fairlearn's result).
    assert F.equal_opportunity_difference(Y_TRUE, Y_PRED, **kw) == pytest.approx(1.0)
    assert F.equal_opportunity_ratio(Y_TRUE, Y_PRED, **kw) == pytest.approx(0.0)
    assert F.equalized_odds_difference(Y_TRUE, Y_PRED, **kw) == pytest.approx(max(1.0, 0.5 - 1 / 3))
    assert F.equalized_odds_ratio(Y_TRUE, Y_PRED, **kw) == pytest.approx(min(0.0, (1 / 3) / 0.5))
    assert F.equalized_odds_difference(Y_TRUE, Y_PRED, agg="mean", **kw) == \
        pytest.approx((1.0 + 0.5 - 1 / 3) / 2)


def test_undefined_rates_can_be_left_out_with_nan():
    kw = dict(sensitive_features=GROUP, zero_division=float("nan"))
    mf = F.MetricFrame(metrics=F.true_positive_rate, y_true=Y_TRUE, y_pred=Y_PRED,
                       sensitive_features=GROUP, sample_params={"zero_division": float("nan")})
    assert math.isnan(mf.by_group["c"])
    assert F.equal_opportunity_difference(Y_TRUE, Y_PRED, **kw) == pytest.approx(0.5)
    assert F.equalized_odds_difference(Y_TRUE, Y_PRED, **kw) == pytest.approx(0.5)
    assert F.equalized_odds_ratio(Y_TRUE, Y_PRED, **kw) == pytest.approx(0.5)


def test_degenerate_groups_give_defined_results():
    # Nobody positive, nobody predicted positive anywhere: every rate is defined, parity is perfect.
    yt = [0, 0, 0, 0]
    yp = [0, 0, 0, 0]
    g = [0, 0, 1, 1]
    with np.errstate(all="raise"):
        assert F.demographic_parity_difference(yt, yp, sensitive_features=g) == 0.0
        assert F.demographic_parity_ratio(yt, yp, sensitive_features=g) == 1.0
        assert F.equalized_odds_difference(yt, yp, sensitive_features=g) == 0.0
        assert F.equalized_odds_ratio(yt, yp, sensitive_features=g) == 1.0
        assert F.precision_score(yt, yp) == 0.0
        assert F.true_positive_rate(yt, yp) == 0.0
        assert F.selection_rate([], []) == 0.0


def test_multiple_sensitive_features_form_intersectional_groups():
    sex = ["f", "f", "m", "m", "f", "m"]
    age = [0, 1, 0, 1, 0, 1]
    yt = [1, 0, 1, 0, 0, 1]
    yp = [1, 1, 0, 0, 0, 1]
    mf = F.MetricFrame(metrics=["selection_rate", "accuracy"], y_true=yt, y_pred=yp,
                       sensitive_features={"sex": sex, "age": age})
    assert mf.sensitive_feature_names == ["sex", "age"]
    assert mf.groups == [("f", 0), ("f", 1), ("m", 0), ("m", 1)]
    assert mf.by_group[("f", 0)] == {"selection_rate": 0.5, "accuracy": 1.0}
    assert mf.by_group[("f", 1)] == {"selection_rate": 1.0, "accuracy": 0.0}
    assert mf.by_group[("m", 0)] == {"selection_rate": 0.0, "accuracy": 0.0}
    assert mf.by_group[("m", 1)] == {"selection_rate": 0.5, "accuracy": 1.0}
    assert mf.difference() == {"selection_rate": 1.0, "accuracy": 1.0}
    # The same as a 2-D (n, k) array.
    arr = np.array([sex, age], dtype=object).T
    mf2 = F.MetricFrame(metrics="selection_rate", y_true=yt, y_pred=yp, sensitive_features=arr)
    assert list(mf2.by_group.values()) == [0.5, 1.0, 0.0, 0.5]


def test_sample_weight_equals_repeating_rows():
    rng = np.random.default_rng(0)
    yt = rng.integers(0, 2, 40)
    yp = rng.integers(0, 2, 40)
    g = rng.integers(0, 3, 40)
    w = rng.integers(0, 4, 40)
    rep = np.repeat(np.arange(40), w)
    for fn in (F.demographic_parity_difference, F.equalized_odds_difference,
               F.equal_opportunity_ratio, F.demographic_parity_ratio):
        assert fn(yt, yp, sensitive_features=g, sample_weight=w) == \
            pytest.approx(fn(yt[rep], yp[rep], sensitive_features=g[rep]))


def test_base_metrics_match_sklearn():
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(1, 30))
        yt = rng.integers(0, 2, n)
        yp = rng.integers(0, 2, n)
        w = rng.random(n)
        kw = dict(sample_weight=w, zero_division=0.0)
        assert F.accuracy_score(yt, yp, sample_weight=w) == pytest.approx(skm.accuracy_score(yt, yp, sample_weight=w))
        assert F.precision_score(yt, yp, sample_weight=w) == pytest.approx(skm.precision_score(yt, yp, **kw))
        assert F.recall_score(yt, yp, sample_weight=w) == pytest.approx(skm.recall_score(yt, yp, **kw))
        cm = skm.confusion_matrix(yt, yp, labels=[0, 1], sample_weight=w)
        tn, fp, fn, tp = cm.ravel()
        assert F.false_positive_rate(yt, yp, sample_weight=w) == pytest.approx(fp / (fp + tn) if fp + tn else 0.0)


def test_string_labels_and_pos_label():
    yt = ["yes", "no", "yes", "no"]
    yp = ["yes", "yes", "no", "no"]
    assert F.true_positive_rate(yt, yp, pos_label="yes") == 0.5
    assert F.selection_rate(yt, yp, pos_label="yes") == 0.5
    with pytest.raises(ValueError, match="pos_label=1 is not one of"):
        F.true_positive_rate(yt, yp)


def test_report_table():
    mf = F.fairness_report(Y_TRUE, Y_PRED, sensitive_features=GROUP)
    header, rows = mf.table()
    assert header[:2] == ["group", "n"] and "tpr" in header
    assert [r[0] for r in rows] == ["a", "b", "c", "overall", "difference", "ratio"]
    assert rows[2][1] == "3"
    text = mf.report()
    assert "difference" in text and "selection_rate" in text
    assert "MetricFrame" in repr(mf)


def test_plot_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    mf = F.fairness_report(Y_TRUE, Y_PRED, sensitive_features=GROUP)
    path = F.plot_by_group(mf, tmp_path / "groups.png", title="audit")
    data = (tmp_path / "groups.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and path == tmp_path / "groups.png"
    with pytest.raises(ValueError, match="not in the frame"):
        F.plot_by_group(mf, tmp_path / "x.png", metrics=["auc"])


def test_plot_without_matplotlib_names_the_extra(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    mf = F.MetricFrame(metrics="accuracy", y_true=Y_TRUE, y_pred=Y_PRED, sensitive_features=GROUP)
    with pytest.raises(ImportError, match=r"nervo\[plot\]"):
        F.plot_by_group(mf, tmp_path / "x.png")


# -- post-processing --------------------------------------------------------------------------

def _scored_population(rng, n=2000):
    g = rng.integers(0, 3, n)
    y = (rng.random(n) < np.array([0.3, 0.5, 0.6])[g]).astype(int)
    # Group 2's scores are shifted up: a single threshold treats the groups unequally.
    s = rng.normal(0, 1, n) + 1.5 * y + np.array([0.0, 0.3, 1.0])[g]
    return y, s, g


def test_threshold_optimizer_equalizes_selection_rate():
    rng = np.random.default_rng(3)
    y, s, g = _scored_population(rng)
    before = F.demographic_parity_difference(y, (s > 0.75).astype(int), sensitive_features=g)
    opt = F.GroupThresholdOptimizer("demographic_parity").fit(y, s, sensitive_features=g)
    pred = opt.predict(s, sensitive_features=g)
    after = F.demographic_parity_difference(y, pred, sensitive_features=g)
    sizes = np.bincount(g)
    assert after <= 1.0 / sizes.min() + 1e-12 < before
    assert set(opt.thresholds_) == {0, 1, 2} and 0 < opt.target_rate_ < 1
    assert F.accuracy_score(y, pred) > 0.6


def test_threshold_optimizer_equalizes_tpr_at_given_rate():
    rng = np.random.default_rng(4)
    y, s, g = _scored_population(rng)
    opt = F.GroupThresholdOptimizer("true_positive_rate_parity", target_rate=0.8)
    pred = opt.fit(y, s, sensitive_features=g).predict(s, sensitive_features=g)
    mf = F.MetricFrame(metrics="tpr", y_true=y, y_pred=pred, sensitive_features=g)
    npos = np.bincount(g[y == 1])
    for key, tpr in mf.by_group.items():
        assert abs(tpr - 0.8) <= 0.5 / npos[key] + 1e-12
    assert F.equal_opportunity_difference(y, pred, sensitive_features=g) <= 1.0 / npos.min()


def test_threshold_optimizer_errors():
    y = np.array([1, 0, 0, 0])
    s = np.array([0.9, 0.1, 0.2, 0.3])
    g = np.array([0, 0, 1, 1])
    with pytest.raises(ValueError, match="group 1 has no positive samples"):
        F.GroupThresholdOptimizer("tpr").fit(y, s, sensitive_features=g)
    opt = F.GroupThresholdOptimizer("demographic_parity", target_rate=0.5).fit(y, s, sensitive_features=g)
    with pytest.raises(ValueError, match=r"groups \[7\] were not seen"):
        opt.predict(s, sensitive_features=[0, 7, 1, 0])
    with pytest.raises(ValueError, match="constraint must be one of"):
        F.GroupThresholdOptimizer("equal_everything")
    with pytest.raises(ValueError, match="target_rate must be in"):
        F.GroupThresholdOptimizer(target_rate=1.5)
    with pytest.raises(RuntimeError, match="fit"):
        F.GroupThresholdOptimizer().predict(s, sensitive_features=g)
    with pytest.raises(ValueError, match="NaN or inf"):
        F.GroupThresholdOptimizer().fit(y, [0.1, np.nan, 0.2, 0.3], sensitive_features=g)


# -- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("call,kwargs,exc,match", [
    (F.demographic_parity_difference, dict(y_true=[0, 1], y_pred=[0, 1, 1], sensitive_features=[0, 1]),
     ValueError, "y_true has 2 samples but y_pred has 3"),
    (F.demographic_parity_difference, dict(y_true=[0, 1], y_pred=[0, 1], sensitive_features=[0, 1, 1]),
     ValueError, "has 3 values but y_true has 2"),
    (F.equalized_odds_difference, dict(y_true=[0, 1, 2], y_pred=[0, 1, 1], sensitive_features=[0, 1, 1]),
     ValueError, "y_true must be binary"),
    (F.demographic_parity_difference, dict(y_true=[0, 1], y_pred=[0, 1], sensitive_features=None),
     TypeError, "sensitive_features is required"),
    (F.demographic_parity_difference, dict(y_true=[[0, 1]] * 2, y_pred=[0, 1], sensitive_features=[0, 1]),
     ValueError, "must be one-dimensional"),
    (F.demographic_parity_difference, dict(y_true=[0, 1], y_pred=[0, 1], sensitive_features=np.zeros((2, 1, 1))),
     ValueError, "must be 1-D"),
    (F.demographic_parity_difference, dict(y_true=[0, 1], y_pred=[0, 1], sensitive_features=[0.0, np.nan]),
     ValueError, "contains NaN"),
    (F.demographic_parity_difference, dict(y_true=[0, 1], y_pred=[0, 1], sensitive_features=[0, 1], method="avg"),
     ValueError, "method must be one of"),
    (F.equalized_odds_difference, dict(y_true=[0, 1], y_pred=[0, 1], sensitive_features=[0, 1], agg="median"),
     ValueError, "agg must be one of"),
    (F.demographic_parity_difference, dict(y_true=[], y_pred=[], sensitive_features=[]),
     ValueError, "empty"),
    (F.accuracy_score, dict(y_true=[0.0, np.nan], y_pred=[0, 1]), ValueError, "NaN or inf"),
    (F.accuracy_score, dict(y_true=[0, 1], y_pred=[0, 1], sample_weight=[1, -1]), ValueError, ">= 0"),
])
def test_bad_input(call, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        call(**kwargs)


def test_unknown_metric_name():
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        F.MetricFrame(metrics="auc", y_true=[0], y_pred=[0], sensitive_features=[0])
    with pytest.raises(ValueError, match="not one of"):
        F.MetricFrame(metrics="accuracy", y_true=[0], y_pred=[0], sensitive_features=[0],
                      sample_params={"accuracy": {}, "tpr": {}})


def test_docstring_examples():
    import doctest
    from nervo.fairness import _disparity, _frame, _postprocess
    import nervo.fairness
    for mod in (nervo.fairness, _frame, _disparity, _postprocess):
        res = doctest.testmod(mod)
        assert res.failed == 0, mod.__name__
