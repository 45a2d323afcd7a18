"""History: what a training run measured, one record per epoch, with CSV/JSON export and a plot."""
from __future__ import annotations

import csv
import io as _io
import json
import math
from pathlib import Path


class History:
    """Per-epoch records: ``{"epoch", "loss", "val_loss", <metrics>, "val_<metrics>", "lr",
    "time", "train_time", "samples_per_s"}``.

    ``history["loss"]`` is the column as a list (Keras's ``history.history``); ``history.epochs``
    the records. ``stopped_reason`` says why training ended early (EarlyStopping, NaN guard).
    """

    def __init__(self, epochs=None):
        self.epochs: list[dict] = list(epochs or [])
        self.stopped_reason: str | None = None

    def append(self, record: dict) -> None:
        self.epochs.append(dict(record))

    def __len__(self) -> int:
        return len(self.epochs)

    def keys(self) -> list:
        out = []
        for rec in self.epochs:
            out.extend(k for k in rec if k not in out)
        return out

    def __getitem__(self, key: str) -> list:
        if key not in self.keys():
            raise KeyError(f"History: no column {key!r} (has {self.keys()})")
        return [rec.get(key) for rec in self.epochs]

    @property
    def history(self) -> dict:
        return {k: self[k] for k in self.keys()}

    def last(self) -> dict:
        return dict(self.epochs[-1]) if self.epochs else {}

    def best(self, monitor: str = "val_loss", mode: str = "min") -> dict:
        """The record with the best ``monitor`` value (``mode`` "min" or "max")."""
        rows = [r for r in self.epochs if r.get(monitor) is not None and not math.isnan(r[monitor])]
        if not rows:
            raise KeyError(f"History.best: no finite values of {monitor!r}")
        pick = min if mode == "min" else max
        return dict(pick(rows, key=lambda r: r[monitor]))

    def state_dict(self) -> dict:
        return {"epochs": [dict(r) for r in self.epochs], "stopped_reason": self.stopped_reason}

    def load_state_dict(self, state: dict) -> None:
        self.epochs = [dict(r) for r in state["epochs"]]
        self.stopped_reason = state.get("stopped_reason")

    def to_json(self, path=None) -> str:
        text = json.dumps(self.state_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    def to_csv(self, path=None) -> str:
        buf = _io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.keys(), lineterminator="\n")
        w.writeheader()
        for rec in self.epochs:
            w.writerow(rec)
        if path is not None:
            Path(path).write_text(buf.getvalue())
        return buf.getvalue()

    def plot(self, path, *, title: str | None = None) -> Path:
        """Write a PNG: loss curves (train/val) on the left, metric curves on the right.

        Raises:
            ImportError: matplotlib is missing (``pip install 'nervo[plot]'``).
            ValueError: nothing recorded yet.
        """
        if not self.epochs:
            raise ValueError("History.plot: no epochs recorded")
        try:
            import matplotlib
            matplotlib.use("Agg", force=False)
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install 'nervo[plot]'") from None
        skip = {"epoch", "loss", "val_loss", "lr", "time", "train_time", "samples_per_s"}
        metrics = [k for k in self.keys() if k not in skip and not k.startswith("val_")]
        ep = self["epoch"]
        fig = Figure(figsize=(10 if metrics else 5.5, 4), dpi=100)
        axes = fig.subplots(1, 2 if metrics else 1, squeeze=False)[0]
        ax = axes[0]
        ax.plot(ep, self["loss"], marker="o", label="train loss")
        if "val_loss" in self.keys():
            ax.plot(ep, self["val_loss"], marker="o", label="val loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        ax.legend()
        if metrics:
            ax = axes[1]
            for m in metrics:
                ax.plot(ep, self[m], marker="o", label=f"train {m}")
                if f"val_{m}" in self.keys():
                    ax.plot(ep, self[f"val_{m}"], marker="o", label=f"val {m}")
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, format="png")
        return path

    def __repr__(self):
        return f"History({len(self.epochs)} epochs, columns={self.keys()})"
