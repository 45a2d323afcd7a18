"""Attributions: which input features a model's output for a class depends on.

Vocabulary: ``x`` a batch (N, *F) of inputs with feature shape F (e.g. (C, H, W)), the model maps
it to (N, K) class scores (or (N,) scalar outputs, with ``target=None``); ``f_t(x)`` is sample
n's score for its target class t_n. Every method returns an array of the shape of ``x``.

* saliency:             |d f_t / d x|                         (Simonyan et al. 2014)
* gradient_x_input:     x * d f_t / d x                       (Shrikumar et al. 2016)
* smoothgrad:           mean over noisy copies x + e, e ~ N(0, (noise_level * (max x - min x))^2),
                        of the saliency (or of the gradient)  (Smilkov et al. 2017)
* integrated_gradients: (x - x') * int_0^1 d f_t / d x (x' + a (x - x')) da, by Gauss-Legendre
                        quadrature over ``steps`` points      (Sundararajan et al. 2017); its
                        completeness gap sum(attr) - (f_t(x) - f_t(x')) is the convergence delta
* occlusion:            f_t(x) - f_t(x with a window set to the baseline), averaged over the
                        windows covering each feature        (Zeiler & Fergus 2014)

Every method evaluates the model on at most ``internal_batch_size`` rows at a time, so memory is
bounded by that, not by N * steps. The model is put in eval mode (and left there: attribution is
an inference-time question, and dropout would make it random); its parameters' ``.grad`` and
``requires_grad`` are unchanged afterwards (gradients are taken with ``nervo.grad`` w.r.t. the
input only, with parameter gradients switched off while it runs).
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np

import nervo
from nervo.tensor import Tensor

DEFAULT_INTERNAL_BATCH = 256


# -- shared plumbing ------------------------------------------------------------------------

def _as_input(x, call) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.numpy()
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{call}: x must be a numpy.ndarray or nervo.Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{call}: x must be floating point, got dtype {x.dtype}")
    if x.ndim < 1:
        raise ValueError(f"{call}: x must have a batch dimension, got a 0-d array")
    if x.size and not np.all(np.isfinite(x)):
        raise ValueError(f"{call}: x contains NaN or inf")
    return np.ascontiguousarray(x)


def _check_batch(ibs, call) -> int:
    if ibs is None:
        return DEFAULT_INTERNAL_BATCH
    if isinstance(ibs, bool) or not isinstance(ibs, (int, np.integer)) or ibs <= 0:
        raise ValueError(f"{call}: internal_batch_size must be a positive int, got {ibs!r}")
    return int(ibs)


@contextmanager
def _attribution_mode(model):
    """Eval mode (kept afterwards); parameter gradients off while attributing (restored)."""
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        with nervo.enable_grad():
            yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _outputs(model, xb: np.ndarray, call) -> Tensor:
    out = model(nervo.tensor(xb))
    if not isinstance(out, Tensor):
        raise TypeError(f"{call}: the model must return a nervo.Tensor, got {type(out).__name__}")
    if out.ndim not in (1, 2) or out.shape[0] != xb.shape[0]:
        raise ValueError(f"{call}: the model must return (N, K) class scores or (N,) outputs, "
                         f"got shape {tuple(out.shape)} for a batch of {xb.shape[0]}")
    return out


def _resolve_target(model, x, target, call) -> np.ndarray | None:
    """(N,) int64 class per sample, or None for models with a (N,) output."""
    n = x.shape[0]
    probe = x[:1] if n else x
    with nervo.no_grad():
        out = _outputs(model, probe, call) if n else None
    if out is not None and out.ndim == 1:
        if target is not None:
            raise ValueError(f"{call}: the model returns one value per sample, so target must be "
                             f"None, got {target!r}")
        return None
    k = out.shape[1] if out is not None else None
    if target is None:
        if not n:
            return np.zeros(0, np.int64)
        with nervo.no_grad():
            scores = np.concatenate([_outputs(model, x[i:i + 256], call).numpy()
                                     for i in range(0, n, 256)])
        return scores.argmax(axis=1).astype(np.int64)
    t = np.asarray(target)
    if t.dtype.kind not in "iu" and not (t.dtype.kind == "f" and np.all(t == np.round(t))):
        raise TypeError(f"{call}: target must be an int or an (N,) array of ints, got dtype {t.dtype}")
    t = t.astype(np.int64)
    if t.ndim == 0:
        t = np.full(n, int(t), np.int64)
    if t.shape != (n,):
        raise ValueError(f"{call}: target has shape {t.shape}, expected ({n},) (one class per sample)")
    if k is not None and t.size and (t.min() < 0 or t.max() >= k):
        bad = t[(t < 0) | (t >= k)][0]
        raise IndexError(f"{call}: target class {int(bad)} is out of range for a model with {k} "
                         f"outputs")
    return t


def _select(out: Tensor, t: np.ndarray | None) -> Tensor:
    """sum_n out[n, t_n] (a scalar whose gradient w.r.t. each x_n is d f_{t_n}(x_n) / d x_n)."""
    if t is None:
        return out.sum()
    onehot = np.zeros(out.shape, out.numpy().dtype)
    onehot[np.arange(out.shape[0]), t] = 1
    return (out * nervo.tensor(onehot)).sum()


def _grads(model, xs: np.ndarray, t, ibs: int, call) -> tuple[np.ndarray, np.ndarray]:
    """Gradients d f_t / d x and the scores f_t, in chunks of ``ibs`` rows."""
    n = xs.shape[0]
    g = np.empty(xs.shape, xs.dtype)
    f = np.empty(n, np.float64)
    for i in range(0, n, ibs):
        xb = nervo.tensor(xs[i:i + ibs], requires_grad=True)
        out = model(xb)
        if not isinstance(out, Tensor):
            raise TypeError(f"{call}: the model must return a nervo.Tensor, got {type(out).__name__}")
        tb = None if t is None else t[i:i + ibs]
        sel = _select(out, tb)
        (gb,) = nervo.grad(sel, [xb])
        g[i:i + ibs] = gb.numpy()
        od = out.numpy()
        f[i:i + ibs] = od if tb is None else od[np.arange(od.shape[0]), tb]
    return g, f


def _scores(model, xs, t, ibs, call) -> np.ndarray:
    n = xs.shape[0]
    f = np.empty(n, np.float64)
    with nervo.no_grad():
        for i in range(0, n, ibs):
            od = _outputs(model, xs[i:i + ibs], call).numpy()
            tb = None if t is None else t[i:i + ibs]
            f[i:i + ibs] = od if tb is None else od[np.arange(od.shape[0]), tb]
    return f


# -- methods ----------------------------------------------------------------------------------

def saliency(model, x, target=None, *, abs: bool = True, internal_batch_size: int | None = None):
    """Saliency map ``|d f_t(x) / d x|`` (the raw gradient with ``abs=False``).

    Args:
        model: a nervo Module returning (N, K) scores (or (N,) outputs with ``target=None``).
        x: (N, *F) float array or Tensor.
        target: class per sample: an int, an (N,) int array, or None for the predicted class.
        internal_batch_size: rows per forward/backward (memory bound); default 256.
    Returns:
        ndarray shaped like ``x``.
    Raises:
        IndexError: a target class outside [0, K). ValueError/TypeError: bad shapes or dtypes.

    Example:
        >>> import numpy as np, nervo
        >>> from nervo import nn
        >>> lin = nn.Linear(3, 2)
        >>> s = saliency(lin, np.ones((4, 3), np.float32), target=1)
        >>> np.allclose(s, np.abs(lin.weight.numpy()[1]))
        True
    """
    call = "nervo.explain.saliency"
    x = _as_input(x, call)
    ibs = _check_batch(internal_batch_size, call)
    with _attribution_mode(model):
        t = _resolve_target(model, x, target, call)
        g, _ = _grads(model, x, t, ibs, call)
    return np.abs(g) if abs else g


def gradient_x_input(model, x, target=None, *, internal_batch_size: int | None = None):
    """``x * d f_t(x) / d x`` (for a linear model, each feature's exact share of the score).

    Example:
        >>> import numpy as np
        >>> from nervo import nn
        >>> lin = nn.Linear(3, 1, bias=False)
        >>> a = gradient_x_input(lin, np.ones((1, 3), np.float32), target=0)
        >>> np.allclose(a.sum(), lin.weight.numpy().sum())
        True
    """
    call = "nervo.explain.gradient_x_input"
    x = _as_input(x, call)
    ibs = _check_batch(internal_batch_size, call)
    with _attribution_mode(model):
        t = _resolve_target(model, x, target, call)
        g, _ = _grads(model, x, t, ibs, call)
    return x * g


def smoothgrad(model, x, target=None, *, noise_level: float = 0.15, n_samples: int = 25,
               abs: bool = True, seed: int | None = 0, internal_batch_size: int | None = None):
    """SmoothGrad: the saliency averaged over ``n_samples`` noisy copies of each input.

    The noise std is ``noise_level * (max(x_n) - min(x_n))`` per sample (Smilkov et al. suggest
    10-20%). ``abs=False`` averages the signed gradient instead.

    Raises:
        ValueError: noise_level < 0, n_samples < 1.
    """
    call = "nervo.explain.smoothgrad"
    x = _as_input(x, call)
    ibs = _check_batch(internal_batch_size, call)
    if not (float(noise_level) >= 0) or math.isinf(float(noise_level)):
        raise ValueError(f"{call}: noise_level must be finite and >= 0, got {noise_level}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"{call}: n_samples must be an int >= 1, got {n_samples!r}")
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    flat = x.reshape(n, -1)
    span = (flat.max(axis=1) - flat.min(axis=1)) if flat.shape[1] else np.zeros(n)
    std = (noise_level * span).astype(x.dtype).reshape((n,) + (1,) * (x.ndim - 1))
    acc = np.zeros(x.shape, np.float64)
    with _attribution_mode(model):
        t = _resolve_target(model, x, target, call)
        # Rows are (sample, noise draw) pairs, processed internal_batch_size at a time.
        per_chunk = max(1, ibs // max(n, 1))
        done = 0
        while done < n_samples:
            k = min(per_chunk, n_samples - done)
            noisy = np.repeat(x[None], k, axis=0)
            noisy += rng.standard_normal(noisy.shape).astype(x.dtype) * std[None]
            noisy = noisy.reshape((k * n,) + x.shape[1:])
            g, _ = _grads(model, noisy, None if t is None else np.tile(t, k), ibs, call)
            g = g.reshape((k,) + x.shape)
            acc += (np.abs(g) if abs else g).sum(axis=0)
            done += k
    return (acc / n_samples).astype(x.dtype)


def _quadrature(steps: int, method: str):
    """Points in [0, 1] and weights summing to 1."""
    if method == "gausslegendre":
        a, w = np.polynomial.legendre.leggauss(steps)
        return (a + 1) / 2, w / 2
    if method == "riemann_trapezoid":
        if steps < 2:
            raise ValueError("nervo.explain.integrated_gradients: riemann_trapezoid needs steps >= 2")
        a = np.linspace(0, 1, steps)
        w = np.full(steps, 1.0 / (steps - 1))
        w[0] = w[-1] = 0.5 / (steps - 1)
        return a, w
    if method == "riemann_middle":
        return (np.arange(steps) + 0.5) / steps, np.full(steps, 1.0 / steps)
    raise ValueError(f"nervo.explain.integrated_gradients: method must be 'gausslegendre', "
                     f"'riemann_trapezoid' or 'riemann_middle', got {method!r}")


def integrated_gradients(model, x, target=None, baseline=None, steps: int = 50, *,
                         internal_batch_size: int | None = None, method: str = "gausslegendre",
                         return_convergence_delta: bool = True):
    """Integrated gradients ``(x - x') * int_0^1 grad f_t(x' + a (x - x')) da`` and its
    convergence delta.

    Completeness: the attributions of a sample sum to ``f_t(x) - f_t(x')`` exactly in the limit;
    the returned ``delta = sum(attr) - (f_t(x) - f_t(x'))`` (per sample) is the quadrature
    error, and shrinks as ``steps`` grows.

    Args:
        baseline: ``x'``: None (zeros), a scalar, or an array broadcastable to ``x``.
        steps: quadrature points (>= 1).
        internal_batch_size: rows (sample, point) per forward/backward; memory is bounded by it
            (default 256), whatever N * steps is.
        method: ``"gausslegendre"`` (default), ``"riemann_trapezoid"`` or ``"riemann_middle"``.
        return_convergence_delta: return ``(attributions, delta)`` (default) or attributions.
    Returns:
        ``(attributions shaped like x, delta (N,) float64)``.

    Example:
        >>> import numpy as np
        >>> from nervo import nn
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
        >>> attr, delta = integrated_gradients(model, np.ones((2, 4), np.float32), target=0)
        >>> attr.shape, bool(np.all(np.abs(delta) < 1e-4))
        ((2, 4), True)
    """
    call = "nervo.explain.integrated_gradients"
    x = _as_input(x, call)
    ibs = _check_batch(internal_batch_size, call)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"{call}: steps must be an int >= 1, got {steps!r}")
    if baseline is None:
        base = np.zeros_like(x)
    else:
        b = baseline.numpy() if isinstance(baseline, Tensor) else np.asarray(baseline, x.dtype)
        try:
            base = np.ascontiguousarray(np.broadcast_to(b.astype(x.dtype), x.shape))
        except ValueError:
            raise ValueError(f"{call}: baseline of shape {b.shape} does not broadcast to x's "
                             f"shape {x.shape}") from None
    alphas, weights = _quadrature(int(steps), method)
    n = x.shape[0]
    diff = x - base
    acc = np.zeros(x.shape, np.float64)
    with _attribution_mode(model):
        t = _resolve_target(model, x, target, call)
        # Rows are (point, sample) pairs; one chunk holds whole points when it can, else part
        # of one point's batch (memory stays bounded by ibs either way).
        pts_per_chunk = max(1, ibs // max(n, 1))
        for j0 in range(0, len(alphas), pts_per_chunk):
            a = alphas[j0:j0 + pts_per_chunk].astype(x.dtype)
            w = weights[j0:j0 + pts_per_chunk]
            k = a.shape[0]
            pts = base[None] + a.reshape((k,) + (1,) * x.ndim) * diff[None]
            pts = pts.reshape((k * n,) + x.shape[1:])
            g, _ = _grads(model, pts, None if t is None else np.tile(t, k), ibs, call)
            acc += np.tensordot(w, g.reshape((k,) + x.shape).astype(np.float64), axes=1)
        attr = (diff.astype(np.float64) * acc)
        if not return_convergence_delta:
            return attr.astype(x.dtype)
        fx = _scores(model, x, t, ibs, call)
        fb = _scores(model, base, t, ibs, call)
    delta = attr.reshape(n, -1).sum(axis=1) - (fx - fb)
    return attr.astype(x.dtype), delta


def _window(window, stride, fshape, call):
    """Window and stride tuples over the feature dims. An int ``k`` is a square window over the
    last two dims spanning the leading (channel) dims whole; over one dim it is ``(k,)``."""
    d = len(fshape)

    def expand(v, lead):
        if isinstance(v, (int, np.integer)):
            v = int(v)
            return (v,) if d == 1 else tuple(lead) + (v, v)
        return tuple(int(e) for e in v)

    win = expand(window, fshape[:-2])
    st = (1,) * d if stride is None else expand(stride, (1,) * max(0, d - 2))
    for name, v in (("window", win), ("stride", st)):
        if len(v) != d:
            raise ValueError(f"{call}: {name} {v} must have one size per feature dim {tuple(fshape)}")
    if min(win) < 1 or min(st) < 1:
        raise ValueError(f"{call}: window and stride must be >= 1, got window={win}, stride={st}")
    if any(w > f for w, f in zip(win, fshape)):
        raise ValueError(f"{call}: window {win} is larger than the input's features {tuple(fshape)}")
    return win, st


def occlusion(model, x, target=None, *, window=4, stride=None, baseline: float = 0.0,
              internal_batch_size: int | None = None):
    """Occlusion: how much the target score drops when a window of the input is replaced by
    ``baseline``, averaged over the windows that cover each feature.

    Args:
        window: window shape over the feature dims F (e.g. ``(1, 4, 4)`` for (C, H, W)); an int
            ``k`` means ``(C, k, k)`` for images (all channels together) and ``(k,)`` for vectors.
        stride: steps between windows (same forms; default 1, every position).
        baseline: the value occluded features are set to.
    Raises:
        ValueError: window larger than the input, window/stride < 1.
    """
    call = "nervo.explain.occlusion"
    x = _as_input(x, call)
    ibs = _check_batch(internal_batch_size, call)
    fshape = x.shape[1:]
    if not fshape:
        raise ValueError(f"{call}: x must have feature dims after the batch dim, got shape {x.shape}")
    win, st = _window(window, stride, fshape, call)
    starts = [range(0, f - w + 1, s) for f, w, s in zip(fshape, win, st)]
    # make sure the last window reaches the end of each dim
    starts = [list(r) + ([f - w] if (f - w) % s else []) for r, f, w, s in zip(starts, fshape, win, st)]
    corners = np.array(np.meshgrid(*starts, indexing="ij")).reshape(len(fshape), -1).T
    n = x.shape[0]
    acc = np.zeros(x.shape, np.float64)
    count = np.zeros(fshape, np.float64)
    with _attribution_mode(model):
        t = _resolve_target(model, x, target, call)
        f0 = _scores(model, x, t, ibs, call)
        per_chunk = max(1, ibs // max(n, 1))
        for c0 in range(0, len(corners), per_chunk):
            cs = corners[c0:c0 + per_chunk]
            k = len(cs)
            batch = np.repeat(x[None], k, axis=0)
            for j, c in enumerate(cs):
                sl = tuple(slice(int(a), int(a) + w) for a, w in zip(c, win))
                batch[(j, slice(None)) + sl] = baseline
            f = _scores(model, batch.reshape((k * n,) + fshape), None if t is None else np.tile(t, k),
                        ibs, call).reshape(k, n)
            for j, c in enumerate(cs):
                sl = tuple(slice(int(a), int(a) + w) for a, w in zip(c, win))
                acc[(slice(None),) + sl] += (f0 - f[j]).reshape((n,) + (1,) * len(fshape))
                count[sl] += 1
    return (acc / np.maximum(count, 1)).astype(x.dtype)
