"""Training: the fit loop with callbacks, History, evaluation, reference models, transfer learning.

``fit(model, (X, y), val_data=..., epochs=...)`` or a ``Trainer`` with the same parts; see
``nervo.train.trainer`` for the loop and ``nervo.train.callbacks`` for the hooks.
"""
from nervo.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    JSONLogger,
    ModelCheckpoint,
    ProgressBar,
)
from nervo.train.history import History
from nervo.train.models import MODELS, build_model
from nervo.train.trainer import METRICS, NonFiniteError, Trainer, evaluate, fit, predict
from nervo.train.transfer import freeze, load_pretrained, trainable_parameters, unfreeze

__all__ = [
    "fit", "evaluate", "predict", "Trainer", "History", "NonFiniteError", "METRICS",
    "Callback", "EarlyStopping", "ModelCheckpoint", "CSVLogger", "JSONLogger", "ProgressBar",
    "MODELS", "build_model", "freeze", "unfreeze", "load_pretrained", "trainable_parameters",
]
