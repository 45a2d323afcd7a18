"""nervo.metrics equals scikit-learn on the same inputs (random, tied and edge cases)."""
import warnings

import numpy as np
import pytest

from nervo import metrics as M

skm = pytest.importorskip("sklearn.metrics")

SEEDS = range(6)


def _labels(rng, n, k):
    return rng.integers(0, k, size=n)


def _proba(rng, n, k):
    p = rng.random((n, k)) + 1e-3
    return p / p.sum(axis=1, keepdims=True)


@pytest.fixture(autouse=True)
def _quiet_sklearn():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [2, 3, 7])
def test_label_metrics_match_sklearn(seed, k):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    yt, yp = _labels(rng, n, k), _labels(rng, n, k)
    assert M.accuracy_score(yt, yp) == pytest.approx(skm.accuracy_score(yt, yp))
    assert M.accuracy_score(yt, yp, normalize=False) == skm.accuracy_score(yt, yp, normalize=False)
    np.testing.assert_array_equal(M.confusion_matrix(yt, yp), skm.confusion_matrix(yt, yp))
    for norm in ("true", "pred", "all"):
        np.testing.assert_allclose(M.confusion_matrix(yt, yp, normalize=norm),
                                   skm.confusion_matrix(yt, yp, normalize=norm))
    averages = ["micro", "macro", "weighted", None]
    if len(np.unique(np.concatenate([yt, yp]))) <= 2 and 1 in np.concatenate([yt, yp]):
        averages.append("binary")
    for average in averages:
        for ours, theirs in ((M.precision_score, skm.precision_score),
                             (M.recall_score, skm.recall_score), (M.f1_score, skm.f1_score)):
            np.testing.assert_allclose(ours(yt, yp, average=average),
                                       theirs(yt, yp, average=average, zero_division=0),
                                       err_msg=f"{ours.__name__} average={average}")


def test_labels_argument_and_string_labels():
    yt = np.array(["cat", "dog", "dog", "bird", "cat"])
    yp = np.array(["cat", "cat", "dog", "dog", "bird"])
    labels = ["dog", "cat"]
    np.testing.assert_array_equal(M.confusion_matrix(yt, yp, labels=labels),
                                  skm.confusion_matrix(yt, yp, labels=labels))
    for average in ("macro", "micro", "weighted"):
        assert M.f1_score(yt, yp, labels=labels, average=average) == pytest.approx(
            skm.f1_score(yt, yp, labels=labels, average=average, zero_division=0))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [3, 5])
def test_probability_metrics_match_sklearn(seed, k):
    rng = np.random.default_rng(seed)
    n = 80
    yt = np.concatenate([np.arange(k), _labels(rng, n - k, k)])
    p = _proba(rng, n, k)
    for kk in (1, 2, k):
        assert M.top_k_accuracy_score(yt, p, k=kk) == pytest.approx(
            skm.top_k_accuracy_score(yt, p, k=kk, labels=np.arange(k)))
    assert M.log_loss(yt, p) == pytest.approx(skm.log_loss(yt, p), rel=1e-12)
    assert M.log_loss(yt, p.astype(np.float32)) == pytest.approx(
        skm.log_loss(yt, p.astype(np.float32)), rel=1e-6)
    for average in ("macro", "weighted"):
        assert M.roc_auc_score(yt, p, average=average) == pytest.approx(
            skm.roc_auc_score(yt, p, average=average, multi_class="ovr"), rel=1e-12)
    for average in ("macro", "weighted", "micro"):
        onehot = np.eye(k)[yt]
        theirs = skm.average_precision_score(onehot, p, average=average)
        assert M.average_precision_score(yt, p, average=average) == pytest.approx(theirs, rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_binary_scores_match_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = 50
    yt = np.concatenate([[0, 1], rng.integers(0, 2, n - 2)])
    s = np.round(rng.random(n), 1)  # many ties
    assert M.roc_auc_score(yt, s) == pytest.approx(skm.roc_auc_score(yt, s), rel=1e-12)
    assert M.average_precision_score(yt, s) == pytest.approx(skm.average_precision_score(yt, s),
                                                             rel=1e-12)
    p1 = np.clip(s, 0, 1)
    assert M.log_loss(yt, p1) == pytest.approx(skm.log_loss(yt, p1), rel=1e-12)
    assert M.log_loss(yt, np.stack([1 - p1, p1], 1)) == pytest.approx(skm.log_loss(yt, p1))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("outputs", [1, 3])
def test_regression_metrics_match_sklearn(seed, outputs):
    rng = np.random.default_rng(seed)
    shape = (30,) if outputs == 1 else (30, outputs)
    yt, yp = rng.normal(size=shape), rng.normal(size=shape)
    pairs = [(M.mean_absolute_error, skm.mean_absolute_error),
             (M.mean_squared_error, skm.mean_squared_error),
             (M.root_mean_squared_error, skm.root_mean_squared_error), (M.r2_score, skm.r2_score)]
    for ours, theirs in pairs:
        for mo in ("uniform_average", "raw_values"):
            np.testing.assert_allclose(ours(yt, yp, multioutput=mo), theirs(yt, yp, multioutput=mo),
                                       rtol=1e-12, err_msg=ours.__name__)


def test_r2_constant_target():
    assert M.r2_score([1.0, 1.0], [1.0, 1.0]) == skm.r2_score([1.0, 1.0], [1.0, 1.0])
    assert M.r2_score([1.0, 1.0], [1.0, 2.0]) == skm.r2_score([1.0, 1.0], [1.0, 2.0])


@pytest.mark.parametrize("seed", SEEDS)
def test_classification_report_matches_sklearn_text_and_dict(seed):
    rng = np.random.default_rng(seed)
    yt, yp = _labels(rng, 40, 4), _labels(rng, 40, 4)
    assert M.classification_report(yt, yp) == skm.classification_report(yt, yp, zero_division=0)
    names = ["a", "bee", "a-long-class-name", "d"]
    labs = np.unique(np.concatenate([yt, yp]))
    tn = names[:len(labs)]
    assert M.classification_report(yt, yp, target_names=tn, digits=4) == skm.classification_report(
        yt, yp, target_names=tn, digits=4, zero_division=0)
    ours = M.classification_report(yt, yp, output_dict=True)
    theirs = skm.classification_report(yt, yp, output_dict=True, zero_division=0)
    assert ours.keys() == theirs.keys()
    for key in theirs:
        if isinstance(theirs[key], dict):
            for col in theirs[key]:
                assert ours[key][col] == pytest.approx(theirs[key][col])
        else:
            assert ours[key] == pytest.approx(theirs[key])
    # A label subset: the "micro avg" heading replaces "accuracy".
    assert M.classification_report(yt, yp, labels=[0, 1]) == skm.classification_report(
        yt, yp, labels=[0, 1], zero_division=0)


def test_zero_division_and_empty():
    assert M.precision_score([0, 0], [0, 0]) == 0.0
    assert M.precision_score([0, 0], [0, 0], zero_division=1.0) == 1.0
    assert M.accuracy_score([], []) == 0.0


BAD = [
    (M.accuracy_score, ([0, 1], [0]), ValueError, "inconsistent"),
    (M.accuracy_score, (None, [0]), TypeError, "y_true is None"),
    (M.accuracy_score, ([[0, 1]], [[0, 1]]), ValueError, "ndim"),
    (M.accuracy_score, ([0.0, np.nan], [0.0, 1.0]), ValueError, "NaN"),
    (M.f1_score, ([0, 1, 2], [0, 1, 2]), ValueError, "average='binary'"),
    (M.f1_score, ([0, 1], [0, 1]), ValueError, "average must be"),  # placeholder, replaced below
    (M.log_loss, ([0, 1], [[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]]), ValueError, "columns"),
    (M.log_loss, ([0, 1], [1.5, 0.5]), ValueError, "in \\[0, 1\\]"),
    (M.roc_auc_score, ([1, 1, 1], [0.1, 0.2, 0.3]), ValueError, "one class"),
    (M.roc_auc_score, ([0, 1, 2], [0.1, 0.2, 0.3]), ValueError, "1-d"),
    (M.top_k_accuracy_score, ([0, 5], [[0.5, 0.5], [0.5, 0.5]]), ValueError, "not among"),
    (M.mean_squared_error, ([1.0, 2.0], [[1.0], [2.0], [3.0]]), ValueError, "differ in shape"),
    (M.confusion_matrix, ([0, 1], [0, 1j]), TypeError, "dtype"),
]


@pytest.mark.parametrize("fn,args,exc,match", BAD, ids=lambda v: getattr(v, "__name__", None))
def test_bad_inputs(fn, args, exc, match):
    if match == "average must be":
        with pytest.raises(ValueError, match=match):
            fn(*args, average="median")
        return
    with pytest.raises(exc, match=match):
        fn(*args)
