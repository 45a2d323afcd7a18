"""DP-SGD step cost: one private training step (per-sample gradients, clipping, noise, SGD) next
to the same model's ordinary step, on Fashion-MNIST-shaped batches (random data, fixed seed).

Two cases per model share a shape label: ``<model>_step`` (non-private) and ``<model>_dp_step``
(private); the bar is ``dp_step <= 2.5 x step`` (compare the two medians of one run;
``step_ratio()`` measures both back to back and returns the ratio).

Models (both with GroupNorm, the DP-compatible normalization):
- ``small``: the DP example's tanh CNN (Papernot et al. 2021): conv16 8x8/2 - conv32 4x4/2 - fc32 - fc10.
- ``ref``: the reference CNN conv32-pool-conv64-pool-fc128-fc10 with GroupNorm after each conv.
- ``lstm``: ``nn.RNNSequenceClassifier("lstm", 28, 128)``: an image read as 28 steps of 28 pixels
  through an LSTM(128), its last hidden state through fc10 (per-sample gradients of the LSTM come
  from backward through time over its saved gates, ``nervo.privacy.grad_sample.gate_grads``).
"""
from __future__ import annotations

import time

import numpy as np

from nervo.bench import Case, Unavailable, nervo_backend


def small_cnn():
    from nervo import nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 8, stride=2, padding=3), nn.GroupNorm(4, 16), nn.Tanh(), nn.MaxPool2d(2, 1),
        nn.Conv2d(16, 32, 4, stride=2), nn.GroupNorm(8, 32), nn.Tanh(), nn.MaxPool2d(2, 1),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 32), nn.Tanh(), nn.Linear(32, 10))


def ref_cnn():
    from nervo import nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.GroupNorm(8, 32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.GroupNorm(8, 64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def lstm_classifier():
    from nervo import nn
    return nn.RNNSequenceClassifier("lstm", 28, 128, num_classes=10)


MODELS = {"small": small_cnn, "ref": ref_cnn, "lstm": lstm_classifier}
KIND = {"small": "cnn", "ref": "cnn", "lstm": "rnn"}


def make_step(model_name: str, batch: int, private: bool, seed: int = 0):
    """A zero-argument callable running one training step; returns the loss."""
    import nervo
    from nervo import nn, optim
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    nervo.manual_seed(seed)
    model = MODELS[model_name]()
    opt = optim.SGD(model.parameters(), lr=0.01)
    if private:
        from nervo.privacy.engine import DPOptimizer, GradSampleHooks
        opt = DPOptimizer(opt, GradSampleHooks(model), noise_multiplier=1.0, max_grad_norm=1.0,
                          expected_batch_size=batch, sample_rate=batch / 60000, seed=seed)
    xt, yt = nervo.tensor(x), nervo.tensor(y)

    def run():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        return loss.item()
    return run


def step_ratio(model_name: str = "small", batch: int = 256, repeats: int = 5) -> dict:
    """Median seconds of a private and an ordinary step, measured alternately in this process,
    and their ratio."""
    plain = make_step(model_name, batch, False)
    dp = make_step(model_name, batch, True)
    plain(), dp()   # warm up
    tp, td = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        plain()
        tp.append(time.perf_counter() - t)
        t = time.perf_counter()
        dp()
        td.append(time.perf_counter() - t)
    p, d = float(np.median(tp)), float(np.median(td))
    return {"model": model_name, "batch": batch, "step_s": p, "dp_step_s": d, "ratio": d / p}


def _case(model_name, batch, private):
    def setup(impl):
        if impl != "nervo-native":
            raise Unavailable(f"no {impl} implementation of a DP-SGD step")
        nervo_backend(impl)
        try:
            import nervo.nn  # noqa: F401
        except ImportError as exc:
            raise Unavailable(f"nervo.nn is not available: {exc}") from exc
        fn = make_step(model_name, batch, private)
        fn()   # warm up
        return fn

    return Case(op=f"{model_name}_{KIND[model_name]}_{'dp_' if private else ''}step", shape=f"b{batch}",
                setup=setup, reference=None, impls=("nervo-native",),
                quick=lambda: _case(model_name, 8, private))


CASES = [_case(m, 256, p) for m in ("small", "ref", "lstm") for p in (False, True)]
