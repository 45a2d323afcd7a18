"""Evaluation metrics, NumPy in, Python floats (or arrays) out; each equals scikit-learn's.

Conventions follow scikit-learn: ``y_true`` / ``y_pred`` are label vectors, ``y_score`` /
``y_proba`` are scores or probabilities ``(N,)`` (binary, positive class) or ``(N, K)``. Where
scikit-learn warns on a zero division and returns 0, nervo returns ``zero_division`` (0.0) silently.
"""
from nervo.metrics.classification import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    top_k_accuracy_score,
)
from nervo.metrics.ranking import average_precision_score, roc_auc_score
from nervo.metrics.regression import (
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    root_mean_squared_error,
)

__all__ = [
    "accuracy_score", "top_k_accuracy_score", "precision_score", "recall_score", "f1_score",
    "precision_recall_fscore_support", "confusion_matrix", "log_loss", "classification_report",
    "roc_auc_score", "average_precision_score", "mean_absolute_error", "mean_squared_error",
    "root_mean_squared_error", "r2_score",
]
