"""The fit loop: ``Trainer`` (and the ``fit`` / ``evaluate`` / ``predict`` functions around it).

One training step: batch (NumPy, prefetched) -> tensors -> ``model(x)`` -> ``loss`` ->
``zero_grad`` -> ``backward`` -> NaN/inf guard -> ``optimizer.step``. After each epoch: validation
metrics, the learning-rate scheduler (``ReduceLROnPlateau`` gets the monitored value), the
History record, callbacks. Checkpoints hold model, optimizer, scheduler, epoch, step, History,
callback state and the RNG state, so a resumed run continues exactly where it stopped (the
DataLoader's order depends only on seed and epoch).
"""
from __future__ import annotations

import math
import time
import warnings

import numpy as np

from nervo import metrics as M
from nervo.data import DataLoader
from nervo.train.callbacks import Callback, ModelCheckpoint, ProgressBar
from nervo.train.history import History

NAN_POLICIES = ("raise", "stop", "skip")


class NonFiniteError(FloatingPointError):
    """The loss or a gradient became NaN/inf; the message names the epoch and step."""


# --- metrics by name ---------------------------------------------------------------------------

def _argmax(out):
    return out.argmax(axis=1) if out.ndim == 2 else (out > 0).astype(np.int64)


def _top_k(k):
    return lambda y, out: M.top_k_accuracy_score(y, out, k=k, labels=np.arange(out.shape[1]))


METRICS = {
    "accuracy": lambda y, out: M.accuracy_score(y, _argmax(out)),
    "top5_accuracy": _top_k(5),
    "precision_macro": lambda y, out: M.precision_score(y, _argmax(out), average="macro"),
    "recall_macro": lambda y, out: M.recall_score(y, _argmax(out), average="macro"),
    "f1_macro": lambda y, out: M.f1_score(y, _argmax(out), average="macro"),
    "f1_weighted": lambda y, out: M.f1_score(y, _argmax(out), average="weighted"),
    "mae": lambda y, out: M.mean_absolute_error(y, out.reshape(y.shape)),
    "mse": lambda y, out: M.mean_squared_error(y, out.reshape(y.shape)),
    "rmse": lambda y, out: M.root_mean_squared_error(y, out.reshape(y.shape)),
    "r2": lambda y, out: M.r2_score(y, out.reshape(y.shape)),
}


def resolve_metrics(metrics) -> list:
    """``[(name, fn(y_true, outputs) -> float)]`` from names in ``METRICS``, ``(name, fn)`` pairs
    or plain functions (named by ``__name__``)."""
    out = []
    for m in metrics or ():
        if isinstance(m, str):
            if m not in METRICS:
                raise ValueError(f"unknown metric {m!r} (choose from {sorted(METRICS)} or pass a "
                                 f"function fn(y_true, outputs))")
            out.append((m, METRICS[m]))
        elif isinstance(m, tuple) and len(m) == 2 and callable(m[1]):
            out.append((str(m[0]), m[1]))
        elif callable(m):
            out.append((m.__name__, m))
        else:
            raise TypeError(f"metrics entries must be names or functions, got {m!r}")
    return out


# --- losses by name ----------------------------------------------------------------------------

_LOSSES = {"cross_entropy": "cross_entropy", "mse": "mse_loss", "l1": "l1_loss",
           "bce_with_logits": "binary_cross_entropy_with_logits", "nll": "nll_loss"}


def resolve_loss(loss):
    """A callable ``loss(outputs, targets) -> scalar Tensor`` from a name or a callable."""
    if callable(loss):
        return loss
    if loss not in _LOSSES:
        raise ValueError(f"unknown loss {loss!r} (choose from {sorted(_LOSSES)} or pass a callable)")
    import importlib
    for mod in ("nervo.nn.functional", "nervo.functional"):
        try:
            fn = getattr(importlib.import_module(mod), _LOSSES[loss], None)
        except ImportError:
            continue
        if fn is not None:
            return fn
    raise ImportError(f"loss {loss!r}: nervo.nn.functional.{_LOSSES[loss]} is not available")


# --- helpers -----------------------------------------------------------------------------------

def _tensor(a):
    import nervo
    return nervo.from_numpy(np.ascontiguousarray(a))


def _as_loader(data, batch_size, *, shuffle, seed, name, drop_last=False):
    if data is None:
        return None
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return DataLoader(tuple(data), batch_size=batch_size, shuffle=shuffle, seed=seed,
                          drop_last=drop_last)
    raise TypeError(f"{name} must be a DataLoader or an (X, y) tuple, got {type(data).__name__}")


def _numpy(t):
    return t.numpy() if hasattr(t, "numpy") else np.asarray(t)


def _no_grad():
    from nervo.autograd import no_grad
    return no_grad()


def _is_plateau(scheduler) -> bool:
    return any(c.__name__ == "ReduceLROnPlateau" for c in type(scheduler).__mro__)


def _lr(optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def predict(model, data, *, batch_size: int = 256) -> np.ndarray:
    """Model outputs for ``data`` (an array ``X``, an ``(X, y)`` tuple or a DataLoader), in
    evaluation mode without recording gradients."""
    if isinstance(data, np.ndarray):
        data = DataLoader((data,), batch_size=batch_size)
    loader = _as_loader(data, batch_size, shuffle=False, seed=0, name="predict: data")
    was_training = getattr(model, "training", False)
    model.eval()
    outs = []
    try:
        with _no_grad():
            for batch in loader:
                outs.append(np.array(_numpy(model(_tensor(batch[0]))), copy=True))
    finally:
        if was_training:
            model.train()
    if not outs:
        raise ValueError("predict: data is empty")
    return np.concatenate(outs)


def evaluate(model, data, *, metrics=("accuracy",), loss=None, batch_size: int = 256) -> dict:
    """``{"loss": ..., <metric>: ...}`` of ``model`` on ``data`` (DataLoader or ``(X, y)``).

    The loss is averaged over samples (``loss`` name or callable; omitted when None).
    """
    loader = _as_loader(data, batch_size, shuffle=False, seed=0, name="evaluate: data")
    loss_fn = resolve_loss(loss) if loss is not None else None
    mets = resolve_metrics(metrics)
    was_training = getattr(model, "training", False)
    model.eval()
    outs, ys, total, n = [], [], 0.0, 0
    try:
        with _no_grad():
            for xb, yb in loader:
                out = model(_tensor(xb))
                if loss_fn is not None:
                    total += float(loss_fn(out, _tensor(yb)).item()) * len(xb)
                outs.append(np.array(_numpy(out), copy=True))
                ys.append(yb)
                n += len(xb)
    finally:
        if was_training:
            model.train()
    if n == 0:
        raise ValueError("evaluate: data is empty")
    out, y = np.concatenate(outs), np.concatenate(ys)
    logs = {}
    if loss_fn is not None:
        logs["loss"] = total / n
    for name, fn in mets:
        logs[name] = float(fn(y, out))
    return logs


class Trainer:
    """Owns the parts of a training run and runs the fit loop.

    Args:
        model: a ``nervo.nn.Module``.
        loss: name (``"cross_entropy"``, ``"mse"``, ...) or callable ``(outputs, targets)``.
        optimizer: a ``nervo.optim`` optimizer (default: Adam(lr=1e-3) over the trainable params).
        scheduler: a learning-rate scheduler stepped once per epoch; a ``ReduceLROnPlateau`` gets
            the ``plateau_monitor`` value (default ``val_loss``, else ``loss``).
        callbacks: ``Callback`` instances (EarlyStopping, ModelCheckpoint, CSVLogger, ...).
        metrics: names from ``METRICS`` or functions ``fn(y_true, outputs)``.
        nan_policy: on a NaN/inf loss or gradient: ``"raise"`` (``NonFiniteError``), ``"stop"``
            (end training, reason in ``history.stopped_reason``) or ``"skip"`` (drop the step).
            Parameters and optimizer state are untouched by the offending step in every case.
        verbose: 1 adds a ``ProgressBar`` (bar only on a terminal, a line per epoch); 0 is silent.
    """

    def __init__(self, model, *, loss="cross_entropy", optimizer=None, scheduler=None,
                 callbacks=(), metrics=("accuracy",), nan_policy: str = "raise", verbose: int = 1,
                 plateau_monitor: str | None = None):
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"Trainer: nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
        if not hasattr(model, "parameters") or not callable(model):
            raise TypeError(f"Trainer: model must be a nervo.nn.Module, got {type(model).__name__}")
        self.model = model
        self.loss_fn = resolve_loss(loss)
        self.metrics = resolve_metrics(metrics)
        if optimizer is None:
            from nervo.optim import Adam
            optimizer = Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        self.optimizer = optimizer
        self.scheduler = scheduler
        cbs = list(callbacks or ())
        for cb in cbs:
            if not isinstance(cb, Callback):
                raise TypeError(f"Trainer: callbacks must be Callback instances, got {type(cb).__name__}")
        if verbose and not any(isinstance(cb, ProgressBar) for cb in cbs):
            cbs.insert(0, ProgressBar())
        # Checkpoints go last so they capture every other callback's end-of-epoch state.
        self.callbacks = ([cb for cb in cbs if not isinstance(cb, ModelCheckpoint)]
                          + [cb for cb in cbs if isinstance(cb, ModelCheckpoint)])
        self.nan_policy = nan_policy
        self.plateau_monitor = plateau_monitor
        self.history = History()
        self.epoch = 0            # next epoch to run (0-based)
        self.global_step = 0
        self.epochs = 0
        self.steps_per_epoch = 0
        self.skipped_steps = 0
        self.stop_training = False
        self._stopped_mid_epoch = False

    # --- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> dict:
        import nervo.random
        return {
            "model": {k: _numpy(v) for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "epoch": self.epoch, "global_step": self.global_step,
            "skipped_steps": self.skipped_steps,
            "history": self.history.state_dict(),
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "rng": nervo.random.get_rng_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        import nervo.random
        missing = [k for k in ("model", "optimizer", "epoch", "global_step", "history", "rng")
                   if k not in state]
        if missing:
            raise ValueError(f"Trainer.load_state_dict: checkpoint lacks {missing}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch = int(state["epoch"])
        self.global_step = int(state["global_step"])
        self.skipped_steps = int(state.get("skipped_steps", 0))
        self.history.load_state_dict(state["history"])
        for cb, cb_state in zip(self.callbacks, state.get("callbacks") or []):
            if cb_state:
                cb.load_state_dict(cb_state)
        nervo.random.set_rng_state(state["rng"])

    def save_checkpoint(self, path, **_ignored) -> None:
        """Write a full, resumable checkpoint to ``path`` (safetensors, atomic)."""
        from nervo.io import _describe, save
        save(self.state_dict(), path, metadata={"kind": "checkpoint", "epoch": str(self.epoch),
                                                "nervo.arch": _describe(self.model)})

    def load_checkpoint(self, path) -> None:
        from nervo.io import load
        self.load_state_dict(load(path))

    # --- the loop --------------------------------------------------------------------------
    def _nonfinite(self, what, value, epoch, step):
        msg = (f"non-finite {what} ({value}) at epoch {epoch + 1}, step {step + 1}/"
               f"{self.steps_per_epoch} (global step {self.global_step + 1})")
        if self.nan_policy == "raise":
            raise NonFiniteError(msg + "; parameters and optimizer state are left as before this step")
        if self.nan_policy == "stop":
            self.stop_training = True
            self._stopped_mid_epoch = True
            self.history.stopped_reason = msg
            warnings.warn(f"training stopped: {msg}", RuntimeWarning, stacklevel=3)
        else:
            self.skipped_steps += 1

    def _grads_finite(self):
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is not None and not np.isfinite(_numpy(g)).all():
                    return False
        return True

    def _train_epoch(self, loader, epoch):
        model, opt, loss_fn = self.model, self.optimizer, self.loss_fn
        model.train()
        keep_outputs = bool(self.metrics)
        outs, ys = [], []
        total, n = 0.0, 0
        for step, (xb, yb) in enumerate(loader):
            out = model(_tensor(xb))
            loss = loss_fn(out, _tensor(yb))
            lv = float(loss.item())
            if not math.isfinite(lv):
                self._nonfinite("loss", lv, epoch, step)
                opt.zero_grad()
                if self.stop_training:
                    break
                continue
            opt.zero_grad()
            loss.backward()
            if not self._grads_finite():
                self._nonfinite("gradient", "nan/inf", epoch, step)
                opt.zero_grad()
                if self.stop_training:
                    break
                continue
            opt.step()
            self.global_step += 1
            total += lv * len(xb)
            n += len(xb)
            if keep_outputs:
                outs.append(np.array(_numpy(out), copy=True))
                ys.append(yb)
            for cb in self.callbacks:
                cb.on_batch_end(self, step, lv)
        logs = {"loss": total / n if n else float("nan")}
        if keep_outputs and outs:
            y, o = np.concatenate(ys), np.concatenate(outs)
            for name, fn in self.metrics:
                logs[name] = float(fn(y, o))
        return logs, n

    def fit(self, train_data, *, val_data=None, epochs: int = 10, batch_size: int = 32,
            shuffle: bool = True, seed: int = 0, resume=None) -> History:
        """Train until ``epochs`` epochs have run in total (a resumed run continues its count).

        Args:
            train_data, val_data: DataLoaders or ``(X, y)`` tuples (then batched with
                ``batch_size``, training data shuffled with ``seed``).
            resume: path of a checkpoint written by ``save_checkpoint`` / ``ModelCheckpoint``.
        Returns:
            the ``History`` (also ``trainer.history``).
        """
        if not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
        train = _as_loader(train_data, batch_size, shuffle=shuffle, seed=seed, name="fit: train_data")
        val = _as_loader(val_data, max(batch_size, 256), shuffle=False, seed=0, name="fit: val_data")
        if resume is not None:
            self.load_checkpoint(resume)
        self.epochs = epochs
        self.steps_per_epoch = len(train)
        if len(train) == 0:
            raise ValueError("fit: train_data has no batches (empty, or smaller than the batch "
                             "with drop_last)")
        self.stop_training = False
        self._stopped_mid_epoch = False
        for cb in self.callbacks:
            cb.on_train_begin(self)
        try:
            while self.epoch < epochs and not self.stop_training:
                epoch = self.epoch
                if hasattr(train, "set_epoch"):
                    train.set_epoch(epoch)
                for cb in self.callbacks:
                    cb.on_epoch_begin(self, epoch)
                lr = _lr(self.optimizer)
                t0 = time.perf_counter()
                train_logs, n = self._train_epoch(train, epoch)
                train_time = time.perf_counter() - t0
                if self._stopped_mid_epoch:
                    break  # the NaN guard stopped mid-epoch: no record for a partial epoch
                logs = {"epoch": epoch + 1, **train_logs}
                if val is not None:
                    v = evaluate(self.model, val, metrics=[m for m in self.metrics],
                                 loss=self.loss_fn)
                    logs.update({f"val_{k}": x for k, x in v.items()})
                logs["lr"] = lr
                logs["train_time"] = train_time
                logs["samples_per_s"] = n / train_time if train_time > 0 else float("nan")
                logs["time"] = time.perf_counter() - t0
                if self.scheduler is not None:
                    if _is_plateau(self.scheduler):
                        key = self.plateau_monitor or ("val_loss" if "val_loss" in logs else "loss")
                        self.scheduler.step(logs[key])
                    else:
                        self.scheduler.step()
                self.epoch = epoch + 1
                self.history.append(logs)
                for cb in self.callbacks:
                    cb.on_epoch_end(self, epoch, logs)
        finally:
            for cb in self.callbacks:
                cb.on_train_end(self)
        return self.history


def fit(model, train_data, *, val_data=None, loss="cross_entropy", optimizer=None, epochs: int = 10,
        scheduler=None, callbacks=(), metrics=("accuracy",), batch_size: int = 32, shuffle=True,
        seed: int = 0, nan_policy: str = "raise", verbose: int = 1, resume=None) -> History:
    """Train ``model`` and return its ``History``; see ``Trainer`` for the arguments.

    Example:
        >>> history = fit(model, (X_train, y_train), val_data=(X_val, y_val), epochs=5,
        ...               optimizer=nervo.optim.Adam(model.parameters(), lr=1e-3))  # doctest: +SKIP
    """
    trainer = Trainer(model, loss=loss, optimizer=optimizer, scheduler=scheduler,
                      callbacks=callbacks, metrics=metrics, nan_policy=nan_policy, verbose=verbose)
    return trainer.fit(train_data, val_data=val_data, epochs=epochs, batch_size=batch_size,
                       shuffle=shuffle, seed=seed, resume=resume)
