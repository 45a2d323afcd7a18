"""Differentially private training (DP-SGD) of a GroupNorm CNN on Fashion-MNIST.

    python examples/dp_fashion_mnist.py --model cnn --epochs 10 --target-epsilon 3 --delta 1e-5

The noise multiplier is solved for so that the whole run spends at most ``--target-epsilon``
at ``--delta`` (RDP accountant, Poisson sampling). Models (``--model``):

* ``cnn`` (default): the Fashion-MNIST reference CNN of ``nervo.train.models.cnn``
  (conv32-ReLU-pool, conv64-ReLU-pool, fc128-ReLU-dropout, fc10; 421k parameters) with a
  GroupNorm after each convolution (BatchNorm would mix samples and is refused by make_private).
* ``tanh``: the smaller model of Papernot et al. 2021 ("Tempered sigmoid activations for deep
  learning with differential privacy"): strided convolutions with tanh and GroupNorm, which keep
  the gradient dimension (and so the noise) low (26k parameters).

Prints test accuracy and epsilon after each epoch; ``--json FILE`` writes the history.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

import nervo
from nervo import nn, optim
from nervo.data import DataLoader
from nervo.privacy import make_private


def reference_cnn(groups=8, dropout=0.25):
    """nervo.train.models.cnn (the Fashion-MNIST reference CNN) with GroupNorm after each conv."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.GroupNorm(groups, 32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.GroupNorm(groups, 64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(128, 10),
    )


def tanh_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 16, 8, stride=2, padding=3), nn.GroupNorm(4, 16), nn.Tanh(),   # 28 -> 14
        nn.MaxPool2d(2, 1),                                                          # 14 -> 13
        nn.Conv2d(16, 32, 4, stride=2), nn.GroupNorm(8, 32), nn.Tanh(),              # 13 -> 5
        nn.MaxPool2d(2, 1),                                                          # 5 -> 4
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 32), nn.Tanh(),
        nn.Linear(32, 10),
    )


def load(data_dir):
    from nervo.data.datasets import load_fashion_mnist
    xtr, ytr = load_fashion_mnist(data_dir, "train")
    xte, yte = load_fashion_mnist(data_dir, "test")
    def prep(x):
        x = np.asarray(x, np.float32)
        if x.max() > 1.5:
            x = x / 255.0
        x = x.reshape(-1, 1, 28, 28)
        return (x - 0.2860) / 0.3530      # Fashion-MNIST train mean / std
    return prep(xtr), np.asarray(ytr, np.int64), prep(xte), np.asarray(yte, np.int64)


def accuracy(model, x, y, bs=2000):
    model.eval()
    correct = 0
    with nervo.no_grad():
        for i in range(0, len(x), bs):
            correct += int((model(nervo.tensor(x[i:i + bs])).numpy().argmax(1) == y[i:i + bs]).sum())
    model.train()
    return correct / len(x)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--model", choices=("cnn", "tanh"), default="cnn",
                    help="cnn: the reference CNN with GroupNorm; tanh: Papernot et al.'s tanh CNN")
    ap.add_argument("--dropout", type=float, default=0.25, help="dropout of --model cnn")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=2048, help="expected (Poisson) batch size")
    ap.add_argument("--lr", type=float, default=4.0)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--max-grad-norm", type=float, default=0.1)
    ap.add_argument("--target-epsilon", type=float, default=3.0)
    ap.add_argument("--noise-multiplier", type=float, default=None,
                    help="fixed noise instead of solving for --target-epsilon")
    ap.add_argument("--delta", type=float, default=1e-5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-subset", type=int, default=None, help="use only this many training images")
    ap.add_argument("--json", default=None, help="write the per-epoch history here")
    args = ap.parse_args(argv)

    nervo.manual_seed(args.seed)
    xtr, ytr, xte, yte = load(args.data_dir)
    if args.train_subset:
        xtr, ytr = xtr[:args.train_subset], ytr[:args.train_subset]
    model = reference_cnn(dropout=args.dropout) if args.model == "cnn" else tanh_cnn()
    opt = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    loader = DataLoader((xtr, ytr), batch_size=args.batch_size, shuffle=True, seed=args.seed)
    privacy = dict(noise_multiplier=args.noise_multiplier) if args.noise_multiplier is not None \
        else dict(target_epsilon=args.target_epsilon, target_delta=args.delta, epochs=args.epochs)
    model, opt, loader = make_private(model, opt, loader, max_grad_norm=args.max_grad_norm,
                                      seed=args.seed, **privacy)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model {args.model} ({n_params} parameters), {len(xtr)} training images, expected batch {loader.expected_batch_size:.0f}, "
          f"{len(loader)} steps/epoch, noise multiplier {opt.noise_multiplier:.4f}, "
          f"clip {args.max_grad_norm}, lr {args.lr}", flush=True)
    history = []
    t0 = time.time()
    for epoch in range(1, args.epochs + 1):
        losses = []
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(nervo.tensor(xb)), nervo.tensor(yb))
            loss.backward()
            opt.step()
            losses.append(float(loss.item()) if len(yb) else float("nan"))
        acc = accuracy(model, xte, yte)
        eps = opt.get_epsilon(args.delta)
        history.append({"epoch": epoch, "loss": float(np.nanmean(losses)), "test_accuracy": acc,
                        "epsilon": eps, "seconds": time.time() - t0})
        print(f"epoch {epoch:3d}  loss {history[-1]['loss']:.4f}  test acc {acc:.4f}  "
              f"epsilon {eps:.3f} (delta {args.delta:g})  {time.time() - t0:.0f}s", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), "noise_multiplier": opt.noise_multiplier,
                           "history": history}, f, indent=1)
    return history


if __name__ == "__main__":
    main()
