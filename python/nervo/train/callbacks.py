"""Callbacks: hooks the fit loop calls at train/epoch/batch boundaries.

Each hook receives the ``Trainer`` (model, optimizer, history, ``stop_training``). ``logs`` is the
epoch record being built (``loss``, ``val_loss``, metrics, ``lr``, ...).
"""
from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np


class Callback:
    """Base class; override the hooks you need."""

    def on_train_begin(self, trainer) -> None: ...
    def on_epoch_begin(self, trainer, epoch: int) -> None: ...
    def on_batch_end(self, trainer, step: int, loss: float) -> None: ...
    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None: ...
    def on_train_end(self, trainer) -> None: ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def _mode_for(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    return "min" if ("loss" in monitor or "error" in monitor) else "max"


class _Monitor:
    def __init__(self, monitor, mode, min_delta):
        self.monitor = monitor
        self.mode = _mode_for(monitor, mode)
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        self.min_delta = min_delta
        self.best = math.inf if self.mode == "min" else -math.inf

    def value(self, logs, who):
        if self.monitor not in logs:
            raise KeyError(f"{who}: monitored value {self.monitor!r} is not in the epoch logs "
                           f"{sorted(logs)} (pass val_data to monitor val_* values)")
        return float(logs[self.monitor])

    def improved(self, v) -> bool:
        if math.isnan(v):
            return False
        if self.mode == "min":
            return v < self.best - self.min_delta
        return v > self.best + self.min_delta


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    Args:
        restore_best_weights: at the end, load the weights of the best epoch back into the model.
    """

    def __init__(self, monitor: str = "val_loss", *, patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = True):
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        self._m = _Monitor(monitor, mode, min_delta)
        self.patience = patience
        self.restore_best_weights = restore_best_weights
        self.wait = 0
        self.best_epoch = None
        self.best_weights = None
        self.stopped_epoch = None

    @property
    def best(self):
        return self._m.best

    def on_epoch_end(self, trainer, epoch, logs):
        v = self._m.value(logs, "EarlyStopping")
        if self._m.improved(v):
            self._m.best, self.wait, self.best_epoch = v, 0, epoch
            if self.restore_best_weights:
                self.best_weights = {k: np.array(a, copy=True)
                                     for k, a in _state_arrays(trainer.model).items()}
            return
        self.wait += 1
        if self.wait >= max(self.patience, 1):
            self.stopped_epoch = epoch
            trainer.stop_training = True
            trainer.history.stopped_reason = (
                f"EarlyStopping: {self._m.monitor} did not improve for {self.wait} epochs "
                f"(best {self._m.best:.6g} at epoch {self.best_epoch})")

    def on_train_end(self, trainer):
        if self.restore_best_weights and self.best_weights is not None and self.stopped_epoch is not None:
            trainer.model.load_state_dict(self.best_weights)

    def state_dict(self):
        return {"best": self._m.best, "wait": self.wait, "best_epoch": self.best_epoch,
                "best_weights": self.best_weights}

    def load_state_dict(self, state):
        self._m.best, self.wait = state["best"], state["wait"]
        self.best_epoch, self.best_weights = state["best_epoch"], state["best_weights"]


def _state_arrays(model) -> dict:
    out = {}
    for k, v in model.state_dict().items():
        out[k] = v.numpy() if hasattr(v, "numpy") else np.asarray(v)
    return out


class ModelCheckpoint(Callback):
    """Save checkpoints atomically at the end of epochs.

    Args:
        path: file to write; may contain ``{epoch}`` and any log key, e.g.
            ``"runs/ep{epoch:02d}-{val_loss:.3f}.safetensors"`` (``epoch`` counts from 1).
        monitor, mode, min_delta: what "best" means.
        save_best_only: write only when ``monitor`` improves (else every epoch: "last").
        full: write a full checkpoint (optimizer, scheduler, epoch, RNG: resumable) rather than
            the model's weights only.
    """

    def __init__(self, path, *, monitor: str = "val_loss", mode: str = "auto",
                 save_best_only: bool = False, full: bool = True):
        self.path = str(path)
        self._m = _Monitor(monitor, mode, 0.0)
        self.save_best_only = save_best_only
        self.full = full
        self.last_saved = None

    def on_epoch_end(self, trainer, epoch, logs):
        if self.save_best_only:
            v = self._m.value(logs, "ModelCheckpoint")
            if not self._m.improved(v):
                return
            self._m.best = v
        path = Path(self.path.format(**{**logs, "epoch": epoch + 1}))
        path.parent.mkdir(parents=True, exist_ok=True)
        # NOTE: the epoch has finished but fit's own bookkeeping has not advanced yet, so the
        # checkpoint records epoch + 1 as the next epoch to run.
        if self.full:
            trainer.save_checkpoint(path, next_epoch=epoch + 1)
        else:
            from nervo.io import save
            save(trainer.model, path, metadata={"epoch": str(epoch)})
        self.last_saved = path

    def state_dict(self):
        return {"best": self._m.best}

    def load_state_dict(self, state):
        self._m.best = state["best"]


class CSVLogger(Callback):
    """Append each epoch's record to a CSV file (header written once)."""

    def __init__(self, path, *, append: bool = False):
        self.path = Path(path)
        self.append = append
        self._fields = None

    def on_train_begin(self, trainer):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.append and self.path.exists():
            self.path.unlink()

    def on_epoch_end(self, trainer, epoch, logs):
        new = not self.path.exists() or self.path.stat().st_size == 0
        if self._fields is None:
            self._fields = list(logs)
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self._fields, extrasaction="ignore", lineterminator="\n")
            if new:
                w.writeheader()
            w.writerow(logs)


class JSONLogger(Callback):
    """Write one JSON object per epoch (JSON Lines) to ``path``."""

    def __init__(self, path, *, append: bool = False):
        self.path = Path(path)
        self.append = append

    def on_train_begin(self, trainer):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.append and self.path.exists():
            self.path.unlink()

    def on_epoch_end(self, trainer, epoch, logs):
        with open(self.path, "a") as f:
            f.write(json.dumps(logs) + "\n")


def _fmt(logs: dict) -> str:
    parts = []
    for k, v in logs.items():
        if k in ("epoch", "time", "train_time"):
            continue
        if k == "samples_per_s":
            parts.append(f"{v:,.0f} samples/s")
        elif k == "lr":
            parts.append(f"lr {v:.3g}")
        elif isinstance(v, float):
            parts.append(f"{k} {v:.4f}")
    return "  ".join(parts)


class ProgressBar(Callback):
    """A tqdm bar per epoch (only when ``stream`` is a terminal) plus one summary line per epoch.

    Args:
        stream: where to write (default ``sys.stderr``).
        bar: ``True``/``False`` to force the bar on or off; ``None`` = only on a terminal.
        summary: print one line per epoch (also when not a terminal).
    """

    def __init__(self, *, stream=None, bar: bool | None = None, summary: bool = True):
        self.stream = stream
        self.bar = bar
        self.summary = summary
        self._pbar = None

    def _out(self):
        return self.stream if self.stream is not None else sys.stderr

    def _bar_on(self):
        if self.bar is not None:
            return self.bar
        isatty = getattr(self._out(), "isatty", None)
        return bool(isatty and isatty())

    def on_epoch_begin(self, trainer, epoch):
        if not self._bar_on():
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self._pbar = tqdm(total=trainer.steps_per_epoch, desc=f"epoch {epoch + 1}/{trainer.epochs}",
                          file=self._out(), leave=False, dynamic_ncols=True, unit="batch")

    def on_batch_end(self, trainer, step, loss):
        if self._pbar is not None:
            self._pbar.update(1)
            if step % 10 == 0:
                self._pbar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def on_epoch_end(self, trainer, epoch, logs):
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None
        if self.summary:
            print(f"epoch {epoch + 1}/{trainer.epochs}  {_fmt(logs)}  ({logs['time']:.1f}s)",
                  file=self._out(), flush=True)

    def on_train_end(self, trainer):
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None
