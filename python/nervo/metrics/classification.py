"""Classification metrics on label vectors: accuracy, precision/recall/F1, confusion matrix, log
loss, top-k accuracy and a text report, each matching scikit-learn 1.x on the same inputs."""
from __future__ import annotations

import numpy as np

from nervo.metrics._check import finite, labels_1d, same_length, to_array

_AVERAGES = ("binary", "micro", "macro", "weighted", None)


def accuracy_score(y_true, y_pred, *, normalize: bool = True):
    """Fraction (or count, ``normalize=False``) of samples with ``y_pred == y_true``.

    Example:
        >>> accuracy_score([0, 1, 2, 2], [0, 2, 2, 2])
        0.75
    """
    yt, yp = labels_1d("accuracy_score", y_true, y_pred)
    correct = int(np.sum(yt == yp))
    if not normalize:
        return correct
    return float(correct / len(yt)) if len(yt) else 0.0


def top_k_accuracy_score(y_true, y_score, *, k: int = 2, labels=None, normalize: bool = True):
    """Fraction of samples whose true label is among the ``k`` highest scores ``(N, K)``.

    Ties are broken like scikit-learn (a later column wins). ``labels`` names the columns
    (default: ``0..K-1``).
    """
    name = "top_k_accuracy_score"
    yt = to_array(name, "y_true", y_true, ndim=1)
    ys = finite(name, "y_score", to_array(name, "y_score", y_score, ndim=2).astype(np.float64))
    same_length(name, y_true=yt, y_score=ys)
    if k <= 0:
        raise ValueError(f"{name}: k must be > 0, got {k}")
    classes = np.arange(ys.shape[1]) if labels is None else np.asarray(labels)
    if len(classes) != ys.shape[1]:
        raise ValueError(f"{name}: {len(classes)} labels for {ys.shape[1]} score columns")
    order = np.argsort(classes, kind="stable")
    pos = np.searchsorted(classes[order], yt)
    pos = np.clip(pos, 0, len(classes) - 1)
    if not np.all(classes[order][pos] == yt):
        raise ValueError(f"{name}: y_true has labels not among the score columns {classes.tolist()}")
    yt_enc = order[pos]
    top = np.argsort(ys, axis=1, kind="mergesort")[:, ::-1][:, :k]
    hits = np.any(top == yt_enc[:, None], axis=1)
    n = int(hits.sum())
    if not normalize:
        return n
    return float(n / len(yt)) if len(yt) else 0.0


def _label_set(yt, yp, labels):
    if labels is not None:
        return np.asarray(labels)
    return np.unique(np.concatenate([yt, yp]))


def confusion_matrix(y_true, y_pred, *, labels=None, normalize=None):
    """``C[i, j]`` = samples of true class ``labels[i]`` predicted as ``labels[j]``.

    Args:
        normalize: None, ``"true"`` (rows sum to 1), ``"pred"`` (columns) or ``"all"``.
    Example:
        >>> confusion_matrix([0, 1, 1], [0, 0, 1]).tolist()
        [[1, 0], [1, 1]]
    """
    name = "confusion_matrix"
    yt, yp = labels_1d(name, y_true, y_pred)
    labs = _label_set(yt, yp, labels)
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"{name}: normalize must be None, 'true', 'pred' or 'all', got {normalize!r}")
    k = len(labs)
    sorter = np.argsort(labs, kind="stable")
    def encode(y):
        pos = np.clip(np.searchsorted(labs[sorter], y), 0, max(k - 1, 0))
        ok = (labs[sorter][pos] == y) if k else np.zeros(len(y), bool)
        return sorter[pos], ok
    ti, tok = encode(yt)
    pi, pok = encode(yp)
    keep = tok & pok
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (ti[keep], pi[keep]), 1)
    if normalize is None:
        return cm
    with np.errstate(invalid="ignore", divide="ignore"):
        if normalize == "true":
            out = cm / cm.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            out = cm / cm.sum(axis=0, keepdims=True)
        else:
            out = cm / cm.sum()
    return np.nan_to_num(out)


def _divide(num, den, zero_division):
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, float(zero_division))
    np.divide(num, den, out=out, where=den != 0)
    return out


def precision_recall_fscore_support(y_true, y_pred, *, labels=None, pos_label=1,
                                    average=None, beta: float = 1.0, zero_division=0.0):
    """Per-class or averaged precision, recall, F-beta and support (scikit-learn's contract).

    Args:
        average: None (per class arrays), ``"binary"`` (class ``pos_label`` only),
            ``"micro"``, ``"macro"`` or ``"weighted"`` (by support).
        zero_division: value used where a ratio has a zero denominator.
    Returns:
        ``(precision, recall, fbeta, support)``; support is None when averaged.
    """
    name = "precision_recall_fscore_support"
    if average not in _AVERAGES:
        raise ValueError(f"{name}: average must be one of {_AVERAGES}, got {average!r}")
    if beta < 0:
        raise ValueError(f"{name}: beta must be >= 0, got {beta}")
    yt, yp = labels_1d(name, y_true, y_pred)
    present = np.unique(np.concatenate([yt, yp]))
    if average == "binary":
        if len(present) > 2:
            raise ValueError(f"{name}: target is multiclass ({len(present)} labels) but "
                             f"average='binary'; choose 'micro', 'macro' or 'weighted'")
        if len(present) == 2 and pos_label not in present:
            raise ValueError(f"{name}: pos_label={pos_label!r} is not a valid label; "
                             f"it should be one of {present.tolist()}")
        labs = np.asarray([pos_label])
    else:
        labs = present if labels is None else np.asarray(labels)
    cm_labels = np.unique(np.concatenate([labs, present]))
    cm = confusion_matrix(yt, yp, labels=cm_labels)
    idx = np.searchsorted(cm_labels, labs)
    tp_all = np.diag(cm)
    tp = tp_all[idx].astype(np.float64)
    pred = cm.sum(axis=0)[idx].astype(np.float64)
    true = cm.sum(axis=1)[idx].astype(np.float64)
    if average == "micro":
        tp, pred, true = np.array([tp.sum()]), np.array([pred.sum()]), np.array([true.sum()])
    precision = _divide(tp, pred, zero_division)
    recall = _divide(tp, true, zero_division)
    b2 = beta * beta
    fscore = _divide((1 + b2) * tp, b2 * true + pred, zero_division)
    if average is None:
        return precision, recall, fscore, true.astype(np.int64)
    if average == "weighted":
        weights = true
        if weights.sum() == 0:
            z = float(zero_division)
            return z, z, z, None
    else:
        weights = None
    return (float(np.average(precision, weights=weights)), float(np.average(recall, weights=weights)),
            float(np.average(fscore, weights=weights)), None)


def precision_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary", zero_division=0.0):
    """Precision ``tp / (tp + fp)``; see ``precision_recall_fscore_support`` for ``average``."""
    return precision_recall_fscore_support(y_true, y_pred, labels=labels, pos_label=pos_label,
                                           average=average, zero_division=zero_division)[0]


def recall_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary", zero_division=0.0):
    """Recall ``tp / (tp + fn)``; see ``precision_recall_fscore_support`` for ``average``."""
    return precision_recall_fscore_support(y_true, y_pred, labels=labels, pos_label=pos_label,
                                           average=average, zero_division=zero_division)[1]


def f1_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary", zero_division=0.0):
    """F1 ``2 tp / (2 tp + fp + fn)``; see ``precision_recall_fscore_support`` for ``average``.

    Example:
        >>> round(f1_score([0, 1, 1, 0], [0, 1, 0, 0]), 4)
        0.6667
    """
    return precision_recall_fscore_support(y_true, y_pred, labels=labels, pos_label=pos_label,
                                           average=average, zero_division=zero_division)[2]


def log_loss(y_true, y_proba, *, labels=None, normalize: bool = True):
    """Cross-entropy ``-mean(log p[true class])`` of probabilities ``(N, K)`` or ``(N,)`` (binary).

    Probabilities are clipped to ``[eps, 1 - eps]`` (eps of their dtype), as scikit-learn does.
    """
    name = "log_loss"
    yt = to_array(name, "y_true", y_true, ndim=1)
    p = to_array(name, "y_proba", y_proba, ndim=(1, 2))
    if p.dtype.kind != "f":
        p = p.astype(np.float64)
    finite(name, "y_proba", p)
    same_length(name, y_true=yt, y_proba=p)
    if p.size and (p.max() > 1 or p.min() < 0):
        raise ValueError(f"{name}: y_proba must be in [0, 1], got range [{p.min()}, {p.max()}]")
    classes = np.unique(yt if labels is None else np.asarray(labels))
    if p.ndim == 1:
        p = p[:, None]
    if p.shape[1] == 1:
        p = np.concatenate([1 - p, p], axis=1)
    if len(classes) == 1 and p.shape[1] == 2 and labels is None:
        # scikit-learn's LabelBinarizer: a single class c is read as the positive (c=1) or
        # negative class of a binary problem.
        classes = np.array([0, 1]) if classes[0] in (0, 1) else classes
    if len(classes) != p.shape[1]:
        raise ValueError(f"{name}: y_true has {len(classes)} classes {classes.tolist()} but y_proba has "
                         f"{p.shape[1]} columns; pass labels=")
    onehot = (yt[:, None] == classes[None, :]).astype(p.dtype)
    if not np.all(onehot.sum(axis=1) == 1):
        raise ValueError(f"{name}: y_true has labels not in {classes.tolist()}")
    eps = np.finfo(p.dtype).eps
    p = np.clip(p, eps, 1 - eps)
    loss = -np.sum(onehot * np.log(p), axis=1)
    return float(loss.mean() if normalize else loss.sum())


def classification_report(y_true, y_pred, *, labels=None, target_names=None, digits: int = 2,
                          output_dict: bool = False, zero_division=0.0):
    """Per-class precision, recall, F1 and support plus averages, as text (or a dict).

    The text layout is scikit-learn's, character for character.
    """
    name = "classification_report"
    yt, yp = labels_1d(name, y_true, y_pred)
    present = np.unique(np.concatenate([yt, yp]))
    labels_given = labels is not None
    labs = present if labels is None else np.asarray(labels)
    micro_is_accuracy = (not labels_given) or set(labs.tolist()) >= set(present.tolist())
    if target_names is not None and len(labs) != len(target_names):
        raise ValueError(f"{name}: {len(labs)} classes but {len(target_names)} target_names")
    if target_names is None:
        target_names = ["%s" % l for l in labs]
    headers = ["precision", "recall", "f1-score", "support"]
    p, r, f1, s = precision_recall_fscore_support(yt, yp, labels=labs, average=None,
                                                  zero_division=zero_division)
    rows = list(zip(target_names, p, r, f1, s))
    if output_dict:
        out = {row[0]: dict(zip(headers, [float(v) for v in row[1:]])) for row in rows}
    else:
        width = max(max(len(cn) for cn in target_names), len("weighted avg"), digits)
        report = ("{:>{width}s} " + " {:>9}" * len(headers)).format("", *headers, width=width)
        report += "\n\n"
        row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
        for row in rows:
            report += row_fmt.format(*row, width=width, digits=digits)
        report += "\n"
    for average in ("micro", "macro", "weighted"):
        heading = "accuracy" if (average == "micro" and micro_is_accuracy) else average + " avg"
        ap, ar, af, _ = precision_recall_fscore_support(yt, yp, labels=labs, average=average,
                                                        zero_division=zero_division)
        avg = [ap, ar, af, int(np.sum(s))]
        if output_dict:
            out[heading] = dict(zip(headers, [float(v) for v in avg]))
        elif heading == "accuracy":
            fmt = "{:>{width}s} " + " {:>9.{digits}}" * 2 + " {:>9.{digits}f}" + " {:>9}\n"
            report += fmt.format(heading, "", "", *avg[2:], width=width, digits=digits)
        else:
            report += row_fmt.format(heading, *avg, width=width, digits=digits)
    if output_dict:
        if "accuracy" in out:
            out["accuracy"] = out["accuracy"]["precision"]
        return out
    return report
