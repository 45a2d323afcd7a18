"""Regression metrics: MAE, MSE, RMSE, R^2 (multi-output averaged uniformly, or ``"raw_values"``)."""
from __future__ import annotations

import numpy as np

from nervo.metrics._check import finite, to_array


def _pair(name, y_true, y_pred, multioutput):
    if multioutput not in ("uniform_average", "raw_values"):
        raise ValueError(f"{name}: multioutput must be 'uniform_average' or 'raw_values', "
                         f"got {multioutput!r}")
    yt = finite(name, "y_true", to_array(name, "y_true", y_true, ndim=(1, 2)).astype(np.float64))
    yp = finite(name, "y_pred", to_array(name, "y_pred", y_pred, ndim=(1, 2)).astype(np.float64))
    if yt.ndim == 1:
        yt = yt[:, None]
    if yp.ndim == 1:
        yp = yp[:, None]
    if yt.shape != yp.shape:
        raise ValueError(f"{name}: y_true {yt.shape} and y_pred {yp.shape} differ in shape")
    if len(yt) == 0:
        raise ValueError(f"{name}: empty inputs")
    return yt, yp


def _reduce(values, multioutput):
    return values if multioutput == "raw_values" else float(np.mean(values))


def mean_absolute_error(y_true, y_pred, *, multioutput="uniform_average"):
    """``mean(|y_true - y_pred|)``."""
    yt, yp = _pair("mean_absolute_error", y_true, y_pred, multioutput)
    return _reduce(np.mean(np.abs(yt - yp), axis=0), multioutput)


def mean_squared_error(y_true, y_pred, *, multioutput="uniform_average"):
    """``mean((y_true - y_pred)^2)``."""
    yt, yp = _pair("mean_squared_error", y_true, y_pred, multioutput)
    return _reduce(np.mean((yt - yp) ** 2, axis=0), multioutput)


def root_mean_squared_error(y_true, y_pred, *, multioutput="uniform_average"):
    """``sqrt(mean((y_true - y_pred)^2))`` per output, then averaged."""
    yt, yp = _pair("root_mean_squared_error", y_true, y_pred, multioutput)
    return _reduce(np.sqrt(np.mean((yt - yp) ** 2, axis=0)), multioutput)


def r2_score(y_true, y_pred, *, multioutput="uniform_average"):
    """Coefficient of determination ``1 - SS_res / SS_tot``.

    A constant ``y_true`` gives 1.0 for a perfect prediction and 0.0 otherwise (scikit-learn's
    ``force_finite=True``).
    """
    yt, yp = _pair("r2_score", y_true, y_pred, multioutput)
    ss_res = np.sum((yt - yp) ** 2, axis=0)
    ss_tot = np.sum((yt - yt.mean(axis=0)) ** 2, axis=0)
    r2 = np.ones(yt.shape[1])
    ok = ss_tot != 0
    r2[ok] = 1.0 - ss_res[ok] / ss_tot[ok]
    r2[~ok & (ss_res != 0)] = 0.0
    return _reduce(r2, multioutput)
