"""Train-and-report recipes behind ``nervo demo`` / ``nervo train`` / ``nervo evaluate``.

``train_reference`` runs the whole practice: fixed holdout test set, a stratified validation split,
standardization fitted on the training split, optional augmentation, Adam/AdamW/SGD with
ReduceLROnPlateau, early stopping with best-weight restore, then test metrics, the model file
(safetensors, with what ``evaluate_saved`` needs to rebuild it) and a training-curve PNG.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from nervo import data as D
from nervo import metrics as M
from nervo.train.callbacks import EarlyStopping, ProgressBar
from nervo.train.models import build_model
from nervo.train.trainer import Trainer, predict

OPTIMIZERS = ("adam", "adamw", "sgd")


def make_optimizer(name: str, params, lr: float, weight_decay: float = 0.0):
    from nervo import optim
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=weight_decay or 1e-2)
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay, nesterov=True)
    raise ValueError(f"unknown optimizer {name!r} (choose from {list(OPTIMIZERS)})")


def train_reference(*, dataset: str = "digits", model: str = "cnn", data_dir=None, epochs: int = 15,
                    batch_size: int = 32, lr: float = 1e-3, optimizer: str = "adam",
                    weight_decay: float = 0.0, seed: int = 0, out="nervo-run", val_fraction=0.1,
                    patience: int = 5, augment: bool = False, verbose: int = 1, stream=None) -> dict:
    """Train a reference model on a named dataset and write model + curves to ``out``.

    Returns:
        ``{"history", "test": {accuracy, precision, recall, f1}, "report", "samples_per_s",
        "train_seconds", "model_path", "plot_path", "n_train", "n_val", "n_test"}``.
    """
    import nervo
    if dataset not in D.DATASETS:
        raise ValueError(f"unknown dataset {dataset!r} (choose from {sorted(D.DATASETS)})")
    if epochs <= 0 or batch_size <= 0 or lr <= 0:
        raise ValueError(f"epochs, batch size and learning rate must be positive "
                         f"(got {epochs}, {batch_size}, {lr})")
    nervo.manual_seed(seed)
    (x, y), (xte, yte) = D.load_dataset(dataset, data_dir)
    (xtr, ytr), (xva, yva) = D.train_val_split(x, y, val_fraction=val_fraction, seed=seed, stratify=y)
    norm = D.Standardize(per_channel=True).fit(xtr)
    xtr, xva, xte = norm(xtr), norm(xva), norm(xte)
    shape = tuple(xtr.shape[1:])
    classes = D.DATASETS[dataset]["classes"]
    net = build_model(model, shape, len(classes))
    opt = make_optimizer(optimizer, net.parameters(), lr, weight_decay)
    from nervo.optim.lr_scheduler import ReduceLROnPlateau
    sched = ReduceLROnPlateau(opt, factor=0.5, patience=2)
    transform = None
    if augment:
        transform = D.Compose([D.RandomCrop(shape[1], padding=max(1, shape[1] // 14)),
                               D.RandomHorizontalFlip()])
    loader = D.DataLoader((xtr, ytr), batch_size=batch_size, shuffle=True, seed=seed,
                          transform=transform)
    callbacks = [EarlyStopping(patience=patience, restore_best_weights=True)]
    if verbose:
        callbacks.insert(0, ProgressBar(stream=stream))
    trainer = Trainer(net, optimizer=opt, scheduler=sched, callbacks=callbacks,
                      metrics=["accuracy"], verbose=0)
    t0 = time.perf_counter()
    history = trainer.fit(loader, val_data=(xva, yva), epochs=epochs)
    train_seconds = time.perf_counter() - t0
    pred = predict(net, xte).argmax(axis=1)
    p, r, f1, _ = M.precision_recall_fscore_support(yte, pred, average="macro")
    test = {"accuracy": M.accuracy_score(yte, pred), "precision": p, "recall": r, "f1": f1}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "model.safetensors"
    spec = {"dataset": dataset, "model": model, "in_shape": list(shape), "num_classes": len(classes),
            "classes": classes, "norm_mean": norm.mean.tolist(), "norm_std": norm.std.tolist()}
    nervo.save(net, model_path, metadata={"nervo.model": json.dumps(spec),
                                          "test_accuracy": f"{test['accuracy']:.4f}"})
    plot_path = None
    try:
        plot_path = history.plot(out / "training_curves.png", title=f"{model} on {dataset}")
    except ImportError:
        pass
    history.to_csv(out / "history.csv")
    sps = float(np.mean(history["samples_per_s"])) if len(history) else float("nan")
    return {"history": history, "test": test, "samples_per_s": sps, "train_seconds": train_seconds,
            "report": M.classification_report(yte, pred, target_names=classes, digits=3),
            "model_path": model_path, "plot_path": plot_path, "n_train": len(xtr),
            "n_val": len(xva), "n_test": len(xte)}


def evaluate_saved(path, *, dataset: str | None = None, data_dir=None, batch_size: int = 256) -> dict:
    """Rebuild a model written by ``train_reference`` and score it on its dataset's test split."""
    import nervo
    from nervo.io import load_metadata
    meta = load_metadata(path)
    if "nervo.model" not in meta:
        raise ValueError(f"{path} has no nervo.model description (was it written by nervo train?)")
    spec = json.loads(meta["nervo.model"])
    dataset = dataset or spec["dataset"]
    net = build_model(spec["model"], spec["in_shape"], spec["num_classes"])
    net.load_state_dict(nervo.load(path))
    _, (xte, yte) = D.load_dataset(dataset, data_dir)
    if tuple(xte.shape[1:]) != tuple(spec["in_shape"]):
        raise ValueError(f"{path} expects inputs {tuple(spec['in_shape'])}, dataset {dataset} has "
                         f"{tuple(xte.shape[1:])}")
    xte = D.Normalize(spec["norm_mean"], spec["norm_std"])(xte)
    proba_logits = predict(net, xte, batch_size=batch_size)
    pred = proba_logits.argmax(axis=1)
    p, r, f1, _ = M.precision_recall_fscore_support(yte, pred, average="macro")
    return {"accuracy": M.accuracy_score(yte, pred), "precision": p, "recall": r, "f1": f1,
            "report": M.classification_report(yte, pred, target_names=spec["classes"], digits=3),
            "spec": spec, "n_test": len(yte)}
