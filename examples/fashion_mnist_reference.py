"""Reference models on Fashion-MNIST, nervo and its PyTorch twin in the same run.

Same architecture (nervo.train.models; the torch twin has the same layer order, so state_dict
keys match), same data order (one nervo DataLoader feeds both), batch 128, Adam lr 1e-3, same
thread count. Prints per-epoch time (training loop only) and test accuracy for each framework, and
the nervo/torch time ratio (the bar: <= 0.5).

    python examples/fashion_mnist_reference.py --model mlp --epochs 10
    python examples/fashion_mnist_reference.py --model cnn --epochs 10 --framework nervo
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

import nervo
from nervo import data as D
from nervo import optim
from nervo.train import build_model, evaluate


def torch_twin(name, in_shape, k=10):
    import torch.nn as tnn
    c, h, w = in_shape
    if name == "mlp":
        return tnn.Sequential(tnn.Flatten(), tnn.Linear(c * h * w, 256), tnn.ReLU(), tnn.Dropout(0.2),
                              tnn.Linear(256, 128), tnn.ReLU(), tnn.Dropout(0.2), tnn.Linear(128, k))
    if name == "cnn":
        return tnn.Sequential(tnn.Conv2d(c, 32, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
                              tnn.Conv2d(32, 64, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
                              tnn.Flatten(), tnn.Linear(64 * (h // 4) * (w // 4), 128), tnn.ReLU(),
                              tnn.Dropout(0.25), tnn.Linear(128, k))
    if name == "resnet":
        return torch_resnet(in_shape, k)
    raise ValueError(f"no torch twin for {name!r} in this script")


def torch_resnet(in_shape, k=10, widths=(32, 64, 128), blocks=2):
    """nervo.train.models.resnet in torch, with the same module names (state_dict keys match)."""
    import torch.nn as tnn

    class BasicBlock(tnn.Module):
        def __init__(self, cin, cout, stride=1):
            super().__init__()
            self.conv1 = tnn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.bn1 = tnn.BatchNorm2d(cout)
            self.conv2 = tnn.Conv2d(cout, cout, 3, padding=1, bias=False)
            self.bn2 = tnn.BatchNorm2d(cout)
            self.relu = tnn.ReLU()
            if stride != 1 or cin != cout:
                self.shortcut = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                               tnn.BatchNorm2d(cout))
            else:
                self.shortcut = tnn.Identity()

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + self.shortcut(x))

    layers = [tnn.Conv2d(in_shape[0], widths[0], 3, padding=1, bias=False), tnn.BatchNorm2d(widths[0]),
              tnn.ReLU()]
    prev = widths[0]
    for i, w in enumerate(widths):
        for b in range(blocks):
            layers.append(BasicBlock(prev, w, stride=2 if (i > 0 and b == 0) else 1))
            prev = w
    layers += [tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(prev, k)]
    return tnn.Sequential(*layers)


def run_nervo(name, train, test, epochs, lr, seed):
    nervo.manual_seed(seed)
    (xtr, ytr), (xte, yte) = train, test
    model = build_model(name, xtr.shape[1:], 10)
    opt = optim.Adam(model.parameters(), lr=lr)
    import nervo.nn.functional as F
    loader = D.DataLoader((xtr, ytr), batch_size=128, shuffle=True, seed=seed)
    rows = []
    for epoch in range(epochs):
        model.train()
        t0 = time.perf_counter()
        for xb, yb in loader:
            loss = F.cross_entropy(model(nervo.from_numpy(xb)), nervo.from_numpy(yb))
            opt.zero_grad()
            loss.backward()
            opt.step()
        dt = time.perf_counter() - t0
        acc = evaluate(model, (xte, yte))["accuracy"]
        rows.append({"epoch": epoch + 1, "seconds": dt, "test_accuracy": acc})
        print(f"nervo {name} epoch {epoch + 1}: {dt:.2f} s, test accuracy {acc:.4f}", flush=True)
    return rows


def run_torch(name, train, test, epochs, lr, seed):
    import torch
    torch.manual_seed(seed)
    (xtr, ytr), (xte, yte) = train, test
    model = torch_twin(name, xtr.shape[1:])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    loader = D.DataLoader((xtr, ytr), batch_size=128, shuffle=True, seed=seed)
    rows = []
    for epoch in range(epochs):
        model.train()
        t0 = time.perf_counter()
        for xb, yb in loader:
            loss = loss_fn(model(torch.from_numpy(xb)), torch.from_numpy(yb))
            opt.zero_grad()
            loss.backward()
            opt.step()
        dt = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(torch.from_numpy(xte[i:i + 1000])).argmax(1)
                              for i in range(0, len(xte), 1000)]).numpy()
        acc = float((pred == yte).mean())
        rows.append({"epoch": epoch + 1, "seconds": dt, "test_accuracy": acc})
        print(f"torch {name} epoch {epoch + 1}: {dt:.2f} s, test accuracy {acc:.4f}", flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["mlp", "cnn", "resnet"], default="mlp")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--framework", choices=["both", "nervo", "torch"], default="both")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    ap.add_argument("--json", default=None, help="write the measurements here")
    a = ap.parse_args(argv)
    nervo.set_num_threads(a.threads)
    (xtr, ytr), (xte, yte) = D.load_dataset("fashion-mnist", a.data_dir)
    if a.limit:
        xtr, ytr = xtr[:a.limit], ytr[:a.limit]
    norm = D.Standardize(per_channel=True).fit(xtr)
    train, test = (norm(xtr), ytr), (norm(xte), yte)
    out = {"model": a.model, "threads": a.threads, "info": nervo.info()}
    if a.framework in ("both", "torch"):
        import torch
        torch.set_num_threads(a.threads)
        out["torch"] = run_torch(a.model, train, test, a.epochs, a.lr, a.seed)
    if a.framework in ("both", "nervo"):
        out["nervo"] = run_nervo(a.model, train, test, a.epochs, a.lr, a.seed)
    for fw in ("nervo", "torch"):
        if fw in out:
            secs = [r["seconds"] for r in out[fw]]
            print(f"{fw}: median epoch {np.median(secs):.2f} s, final test accuracy "
                  f"{out[fw][-1]['test_accuracy']:.4f}, best {max(r['test_accuracy'] for r in out[fw]):.4f}")
    if "nervo" in out and "torch" in out:
        ratio = np.median([r["seconds"] for r in out["nervo"]]) / np.median([r["seconds"] for r in out["torch"]])
        print(f"time per epoch nervo/torch: {ratio:.2f}x (bar: <= 0.5x)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2, default=str)


if __name__ == "__main__":
    main()
