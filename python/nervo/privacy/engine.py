"""DP-SGD: per-sample clipping, Gaussian noise and Poisson sampling around any nervo optimizer.

One private step (Abadi et al. 2016, Alg. 1), with ``B`` the sampled batch, ``C`` the clipping
norm ``max_grad_norm``, ``sigma`` the noise multiplier and ``q N`` the expected batch size:

    g_n  = per-sample gradient of sample n (all parameters together)
    c_n  = min(1, C / (||g_n|| + 1e-6))                 per-sample clipping factor
    grad = (sum_{n in B} c_n g_n + N(0, sigma^2 C^2 I)) / (q N)   ("mean" loss reduction)

then the wrapped optimizer's ``step()`` uses ``grad``. ``sum_n c_n g_n`` is computed per layer as
one GEMM over the layer's saved input and c-scaled output gradient (see ``grad_sample``), so no
(N, P) array of per-sample gradients is formed for Linear layers.

NOTE: the noise comes from NumPy's PCG64 generator, which is not a cryptographically secure
source, and floating-point Gaussian sampling has known side channels (Mironov 2012). That is the
usual research-grade setting (Opacus without ``secure_mode``); do not rely on it against an
adversary who can observe the generator.
"""
from __future__ import annotations

import math
import weakref
from contextlib import contextmanager

import numpy as np

from nervo import nn
from nervo.autograd import is_grad_enabled
from nervo.privacy.accountant import RDPAccountant, get_noise_multiplier
from nervo.privacy.grad_sample import RECURRENT, SUPPORTED, RNNRecord, recurrent_suffixes, rule_for
from nervo.tensor import Tensor


_BLAS = {}


@contextmanager
def blas_threads():
    """Hold NumPy's BLAS to ``nervo.get_num_threads()`` threads while per-sample gradients are
    computed (they use numpy.matmul), so that one setting drives every thread pool, as for the
    kernels. Without threadpoolctl installed this does nothing.

    NOTE: an unconstrained OpenBLAS pool next to nervo's OpenMP pool oversubscribes the cores;
    on a busy 2-core machine that made a DP step 1.5x slower (spin-waiting threads).
    """
    import nervo
    if "ctl" not in _BLAS:
        try:
            from threadpoolctl import ThreadpoolController
            _BLAS["ctl"] = ThreadpoolController()
        except Exception:  # not installed, or no BLAS found: leave numpy as it is
            _BLAS["ctl"] = None
    ctl = _BLAS["ctl"]
    if ctl is None:
        yield
        return
    with ctl.limit(limits=nervo.get_num_threads(), user_api="blas"):
        yield


def _batchnorm_types():
    return tuple(getattr(nn, n) for n in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
                                          "SyncBatchNorm") if hasattr(nn, n))


def _largest_divisor_at_most(c: int, cap: int) -> int:
    for g in range(min(cap, c), 0, -1):
        if c % g == 0:
            return g
    return 1


def replace_batchnorm(model, *, max_groups: int = 32):
    """Swap every BatchNorm layer of ``model`` for a GroupNorm over the same channels, in place.

    Each ``BatchNorm(C)`` becomes ``GroupNorm(G, C, eps, affine)`` with ``G`` the largest divisor
    of ``C`` that is ``<= max_groups`` (32 by default, following Wu & He 2018; Opacus does the
    same). Learned affine weights are copied; running statistics are dropped (GroupNorm has none).
    Returns the model (a new GroupNorm when ``model`` itself is a BatchNorm).

    Example:
        >>> from nervo import nn
        >>> m = replace_batchnorm(nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU()))
        >>> type(m[1]).__name__, m[1].num_groups
        ('GroupNorm', 8)
    """
    bn = _batchnorm_types()

    def convert(m):
        c = int(m.num_features)
        g = nn.GroupNorm(_largest_divisor_at_most(c, max_groups), c, eps=m.eps, affine=m.affine)
        if m.affine:
            g.weight.numpy()[...] = m.weight.numpy()
            g.bias.numpy()[...] = m.bias.numpy()
        return g

    if isinstance(model, bn):
        return convert(model)
    for parent in list(model.modules()):
        children = list(parent.named_children())
        if not any(isinstance(c, bn) for _, c in children):
            continue
        # NOTE: re-assign every child in order: assigning an existing name may move it to the
        # end of the module's child list, which would reorder a Sequential.
        for name, child in children:
            setattr(parent, name, convert(child) if isinstance(child, bn) else child)
    return model


def check_model(model, call: str = "nervo.privacy.make_private") -> list:
    """The ``(name, module, rule)`` triples to hook; raises on BatchNorm or on a layer with
    trainable parameters that has no per-sample rule."""
    bn = _batchnorm_types()
    hooked, bad = [], []
    for name, m in model.named_modules():
        label = name or "<model>"
        if isinstance(m, bn):
            raise ValueError(
                f"{call}: the model contains {type(m).__name__} at '{label}'. Batch normalization "
                f"mixes statistics across the samples of a batch, so a sample's gradient depends "
                f"on the others and per-sample clipping cannot bound it (no privacy guarantee). "
                f"Use GroupNorm instead: model = nervo.privacy.replace_batchnorm(model)")
        own = [p for p in m.parameters(recurse=False) if p.requires_grad]
        if not own:
            continue
        if isinstance(m, RECURRENT) and getattr(m, "proj_size", 0):
            raise ValueError(f"{call}: '{label}' is an LSTM with proj_size={m.proj_size}; it runs "
                             "step by step on generic ops, and nervo.privacy has no per-sample "
                             "rule for it. Use proj_size=0 (optionally followed by a Linear)")
        rule = rule_for(m)
        if rule is None:
            bad.append(f"'{label}' ({type(m).__name__})")
        else:
            hooked.append((label, m, rule))
    if bad:
        names = ", ".join(t.__name__ for t in SUPPORTED)
        raise ValueError(f"{call}: no per-sample gradient rule for the trainable layers "
                         f"{', '.join(bad)}; supported: {names}. Freeze them "
                         f"(p.requires_grad_(False)) or build the model from supported layers")
    return hooked


class GradSampleHooks:
    """Hooks that record, for every supported layer, its input and its output gradient.

    ``per_sample(scale)`` turns the records of the last forward/backward into
    ``{param: PerSample}``; ``clear()`` forgets them. ``remove()`` detaches the hooks.
    Records are kept only for layers in training mode with grad enabled.
    """

    def __init__(self, model, call="nervo.privacy.GradSampleHooks"):
        self.model = model
        self.layers = check_model(model, call)
        self.records = {id(m): [] for _, m, _ in self.layers}
        self.handles = [m.register_forward_hook(self._forward_hook) for _, m, _ in self.layers
                        if not isinstance(m, RECURRENT)]
        # Recurrent modules run one fused op per layer and direction (functional.rnn_layer); an
        # observer of that op records each call, found by its weight_hh.
        self._rnn = {id(w): (m, sfx) for _, m, _ in self.layers if isinstance(m, RECURRENT)
                     for sfx, w in recurrent_suffixes(m).items()}
        self._observer = None
        if self._rnn:
            from nervo.functional import recurrent
            ref = weakref.WeakMethod(self._rnn_call)

            def observer(call):
                f = ref()
                if f is None:   # these hooks were dropped without remove()
                    if observer in recurrent.observers:
                        recurrent.observers.remove(observer)
                    return
                f(call)
            self._observer = observer
            recurrent.observers.append(observer)

    def _rnn_call(self, call):
        hit = self._rnn.get(id(call["params"][1]))
        if hit is None:
            return
        module, sfx = hit
        if not module.training or not is_grad_enabled():
            return
        r = call["saved"]
        lengths = call["lengths"]
        rec = RNNRecord(sfx, call["x"], r, call["mode"],
                        None if lengths is None else np.asarray(lengths), call["reverse"],
                        call["params"][1].numpy())
        self.records[id(module)].append(rec)

        def on_hs(g):
            rec.dhs = g.numpy()

        def on_cn(g):
            rec.dcn = g.numpy()
        call["hs"].register_hook(on_hs)
        if call["cn"] is not None:
            call["cn"].register_hook(on_cn)

    def _forward_hook(self, module, inputs, output):
        if not module.training or not is_grad_enabled():
            return None
        if not isinstance(output, Tensor) or not output.requires_grad:
            return None
        x = inputs[0]
        xd = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
        rec = [xd, None]
        self.records[id(module)].append(rec)

        def grad_hook(g):
            rec[1] = g.numpy()
            return None
        output.register_hook(grad_hook)
        return None

    def batch_size(self):
        """Samples in the recorded batch (None when nothing was recorded)."""
        sizes = {rec.x.shape[1] if isinstance(rec, RNNRecord) else rec[0].shape[0]
                 for recs in self.records.values() for rec in recs
                 if (rec.done if isinstance(rec, RNNRecord) else rec[1] is not None and rec[0].ndim)}
        if len(sizes) > 1:
            raise RuntimeError(f"nervo.privacy: layers saw different batch sizes {sorted(sizes)} "
                               f"in one step; every layer's input must have the batch first")
        return sizes.pop() if sizes else None

    def per_sample(self, scale: float) -> dict:
        """``{id(param): PerSample}`` for the recorded step (``scale`` multiplies each ``g``)."""
        out = {}
        for _, m, rule in self.layers:
            if isinstance(m, RECURRENT):
                recs = [r for r in self.records[id(m)] if r.done]
            else:
                recs = [(x, g) for x, g in self.records[id(m)] if g is not None]
            if not recs:
                continue
            for pname, ps in rule(m, recs, scale).items():
                out[id(getattr(m, pname))] = ps
        return out

    def clear(self):
        for recs in self.records.values():
            recs.clear()

    def remove(self):
        for h in self.handles:
            h.remove()
        self.handles = []
        if self._observer is not None:
            from nervo.functional import recurrent
            if self._observer in recurrent.observers:
                recurrent.observers.remove(self._observer)
            self._observer = None
        self.clear()


def per_sample_gradients(model, loss_reduction: str = "sum"):
    """Context helper for tests and analysis: hooks ``model``; after a forward and backward the
    returned object's ``materialize()`` gives ``{param_name: (N, *param.shape) array}``.

    Example:
        >>> import nervo
        >>> from nervo import nn
        >>> lin = nn.Linear(3, 2)
        >>> psg = per_sample_gradients(lin)
        >>> lin(nervo.randn(5, 3)).sum().backward()
        >>> psg.materialize()["weight"].shape
        (5, 2, 3)
    """
    return _PerSampleGradients(model, loss_reduction)


class _PerSampleGradients:
    def __init__(self, model, loss_reduction):
        if loss_reduction not in ("sum", "mean"):
            raise ValueError(f"per_sample_gradients: loss_reduction must be 'sum' or 'mean', "
                             f"got {loss_reduction!r}")
        self.hooks = GradSampleHooks(model, "nervo.privacy.per_sample_gradients")
        self.loss_reduction = loss_reduction
        self.names = {id(p): n for n, p in model.named_parameters()}

    def materialize(self) -> dict:
        n = self.hooks.batch_size()
        scale = float(n) if (self.loss_reduction == "mean" and n) else 1.0
        return {self.names[k]: ps.materialize() for k, ps in self.hooks.per_sample(scale).items()}

    def norms(self) -> np.ndarray:
        n = self.hooks.batch_size()
        scale = float(n) if (self.loss_reduction == "mean" and n) else 1.0
        return np.sqrt(sum(ps.norm_sq() for ps in self.hooks.per_sample(scale).values()))

    def clear(self):
        self.hooks.clear()

    def remove(self):
        self.hooks.remove()


class DPOptimizer:
    """Wraps a nervo optimizer: clips per-sample gradients, adds Gaussian noise, then steps.

    Made by :func:`make_private`. ``param_groups``, ``state``, ``zero_grad`` and ``state_dict``
    pass through to the wrapped optimizer. After each step, ``last_norms`` holds the per-sample
    gradient norms before clipping and ``last_clip_factors`` the factors applied.
    """

    def __init__(self, optimizer, hooks: GradSampleHooks, *, noise_multiplier: float,
                 max_grad_norm: float, expected_batch_size: float, sample_rate: float,
                 loss_reduction: str = "mean", seed=None, accountant: RDPAccountant | None = None):
        self.original_optimizer = optimizer
        self.hooks = hooks
        self.noise_multiplier = float(noise_multiplier)
        self.max_grad_norm = float(max_grad_norm)
        self.expected_batch_size = float(expected_batch_size)
        self.sample_rate = float(sample_rate)
        self.loss_reduction = loss_reduction
        self.rng = np.random.default_rng(seed)
        self.accountant = accountant if accountant is not None else RDPAccountant()
        self.last_norms = None
        self.last_clip_factors = None
        covered = {id(getattr(m, n)) for _, m, _ in hooks.layers
                   for n, p in m.named_parameters(recurse=False) if p.requires_grad}
        for g in optimizer.param_groups:
            for p in g["params"]:
                if p.requires_grad and id(p) not in covered:
                    raise ValueError("nervo.privacy.make_private: the optimizer updates a parameter "
                                     f"of shape {tuple(p.shape)} that is not in the model (or "
                                     "belongs to no supported layer); its gradient would not be "
                                     "clipped")

    # -- pass-through ---------------------------------------------------------------------
    @property
    def param_groups(self):
        return self.original_optimizer.param_groups

    @property
    def state(self):
        return self.original_optimizer.state

    @property
    def defaults(self):
        return self.original_optimizer.defaults

    def zero_grad(self, set_to_none: bool = True):
        self.hooks.clear()
        self.original_optimizer.zero_grad(set_to_none)

    def state_dict(self):
        return {"optimizer": self.original_optimizer.state_dict(),
                "accountant": self.accountant.state_dict(),
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state):
        self.original_optimizer.load_state_dict(state["optimizer"])
        self.accountant.load_state_dict(state["accountant"])
        self.rng.bit_generator.state = state["rng"]

    def get_epsilon(self, delta: float) -> float:
        """Privacy spent so far, for this ``delta``."""
        return self.accountant.get_epsilon(delta)

    # -- the private step -----------------------------------------------------------------
    def privatize(self) -> None:
        """Replace every parameter's ``.grad`` by its clipped, noised, averaged private
        gradient (what :meth:`step` does before calling the wrapped optimizer)."""
        with blas_threads():
            self._privatize()

    def _privatize(self) -> None:
        n = self.hooks.batch_size()
        scale = float(n) if (self.loss_reduction == "mean" and n) else 1.0
        per = self.hooks.per_sample(scale)
        C = self.max_grad_norm
        if per:
            sq = sum(ps.norm_sq() for ps in per.values())
            norms = np.sqrt(sq)
            c = np.minimum(1.0, C / (norms + 1e-6))
        else:  # empty batch: the step still releases noise (and is counted)
            norms = c = np.zeros(0)
        self.last_norms, self.last_clip_factors = norms, c
        std = self.noise_multiplier * C
        denom = self.expected_batch_size if self.loss_reduction == "mean" else 1.0
        for g in self.param_groups:
            for p in g["params"]:
                if not p.requires_grad:
                    continue
                pd = p.numpy()
                ps = per.get(id(p))
                total = ps.weighted_sum(c).astype(pd.dtype, copy=False) if ps is not None \
                    else np.zeros(pd.shape, pd.dtype)
                if std > 0:
                    total = total + self.rng.normal(0.0, std, pd.shape).astype(pd.dtype)
                if denom != 1.0:
                    total = total / pd.dtype.type(denom)
                total = np.ascontiguousarray(total, dtype=pd.dtype).reshape(pd.shape)
                if p.grad is None:
                    p.grad = Tensor(total)
                else:
                    p.grad.numpy()[...] = total
        self.hooks.clear()
        self.accountant.step(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate)

    def step(self, closure=None):
        loss = None
        if closure is not None:
            from nervo.autograd import enable_grad
            with enable_grad():
                loss = closure()
        self.privatize()
        self.original_optimizer.step()
        return loss

    def __repr__(self):
        return (f"DPOptimizer({type(self.original_optimizer).__name__}, noise_multiplier="
                f"{self.noise_multiplier:.4g}, max_grad_norm={self.max_grad_norm}, "
                f"expected_batch_size={self.expected_batch_size:g})")


class DPDataLoader:
    """Poisson sampling: each step, every example joins the batch independently with
    probability ``sample_rate`` (the sampling the accountant assumes). An epoch is
    ``round(1 / sample_rate)`` steps. Batch sizes vary; an empty batch is yielded as
    correctly shaped zero-length arrays.

    Args:
        dataset: a nervo ``Dataset`` (anything with ``__len__`` and ``get_batch(indices)``) or
            a tuple of arrays.
        sample_rate: ``q`` in (0, 1].
        seed: seed of the sampling (epoch ``e`` uses ``(seed, e)``, as ``DataLoader`` does).
        transform: like ``DataLoader``'s, applied to the first array.
    """

    def __init__(self, dataset, sample_rate: float, *, seed: int = 0, transform=None,
                 steps_per_epoch: int | None = None):
        from nervo.data import ArrayDataset
        if isinstance(dataset, (tuple, list)):
            dataset = ArrayDataset(*dataset)
        if not hasattr(dataset, "__len__") or not (hasattr(dataset, "get_batch") or hasattr(dataset, "__getitem__")):
            raise TypeError(f"DPDataLoader: dataset must be a Dataset or a tuple of arrays, got "
                            f"{type(dataset).__name__}")
        q = float(sample_rate)
        if not (0.0 < q <= 1.0):
            raise ValueError(f"DPDataLoader: sample_rate must be in (0, 1], got {sample_rate}")
        if len(dataset) == 0:
            raise ValueError("DPDataLoader: the dataset is empty")
        self.dataset = dataset
        self.sample_rate = q
        self.seed = int(seed)
        self.transform = transform
        self.steps_per_epoch = int(steps_per_epoch) if steps_per_epoch else max(1, int(round(1.0 / q)))
        self.epoch = 0

    @classmethod
    def from_data_loader(cls, loader, *, seed: int | None = None):
        """Poisson version of a ``DataLoader``: ``sample_rate = batch_size / len(dataset)``."""
        n = len(loader.dataset)
        return cls(loader.dataset, min(1.0, loader.batch_size / n),
                   seed=loader.seed if seed is None else seed,
                   transform=getattr(loader, "transform", None), steps_per_epoch=len(loader))

    @property
    def expected_batch_size(self) -> float:
        return self.sample_rate * len(self.dataset)

    def __len__(self):
        return self.steps_per_epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def state_dict(self):
        return {"epoch": self.epoch, "seed": self.seed}

    def load_state_dict(self, state):
        self.epoch, self.seed = int(state["epoch"]), int(state["seed"])

    def _get(self, idx):
        if hasattr(self.dataset, "get_batch"):
            if idx.size:
                b = self.dataset.get_batch(idx)
            else:
                b = self.dataset.get_batch(np.zeros(1, np.int64))
                b = tuple(a[:0] for a in b) if isinstance(b, tuple) else b[:0]
        else:
            rows = [self.dataset[int(i)] for i in (idx if idx.size else np.zeros(1, np.int64))]
            b = tuple(np.stack([r[k] for r in rows]) for k in range(len(rows[0])))
            if not idx.size:
                b = tuple(a[:0] for a in b)
        return b if isinstance(b, tuple) else (b,)

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        n = len(self.dataset)
        rng = np.random.default_rng([self.seed, epoch, 2])
        trng = np.random.default_rng([self.seed, epoch, 1])
        for _ in range(self.steps_per_epoch):
            idx = np.flatnonzero(rng.random(n) < self.sample_rate)
            batch = self._get(idx)
            if self.transform is not None and idx.size:
                batch = (self.transform(batch[0], trng),) + tuple(batch[1:])
            yield batch


def make_private(model, optimizer, data_loader, noise_multiplier: float | None = None,
                 max_grad_norm: float = 1.0, *, target_epsilon: float | None = None,
                 target_delta: float = 1e-5, epochs: int | None = None,
                 poisson_sampling: bool = True, loss_reduction: str = "mean", seed=None):
    """Make a training setup differentially private (DP-SGD); returns ``(model, optimizer,
    data_loader)`` to use in place of the originals.

    The model is the same object with per-sample-gradient hooks attached (its ``state_dict``
    keys are unchanged). The optimizer is a :class:`DPOptimizer` around the given one; the data
    loader samples batches by Poisson sampling with rate ``batch_size / len(dataset)``.

    Give either ``noise_multiplier`` or ``target_epsilon`` (with ``target_delta`` and
    ``epochs``): the latter solves for the smallest noise that keeps epsilon <= target after
    ``epochs * len(data_loader)`` steps.

    Args:
        model: a ``nn.Module`` whose trainable layers are Linear, Conv1d/2d, Embedding,
            LayerNorm, GroupNorm, RNN / LSTM / GRU or their cells (frozen layers of any kind
            are fine).
        optimizer: any nervo optimizer over (a subset of) the model's parameters.
        data_loader: a ``nervo.data.DataLoader`` (or a :class:`DPDataLoader`).
        noise_multiplier: ``sigma``: noise std / ``max_grad_norm``.
        max_grad_norm: ``C``, the per-sample gradient norm bound (> 0).
        loss_reduction: ``"mean"`` (the loss is averaged over the batch, the default) or ``"sum"``.
        seed: seed of the noise generator.
    Raises:
        ValueError: a BatchNorm layer (use :func:`replace_batchnorm`), a trainable layer with no
            per-sample rule, both or neither of noise_multiplier / target_epsilon, bad values.

    Example:
        >>> import numpy as np, nervo
        >>> from nervo import nn, optim
        >>> from nervo.data import DataLoader
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> X = np.random.default_rng(0).standard_normal((100, 4)).astype(np.float32)
        >>> y = (X[:, 0] > 0).astype(np.int64)
        >>> model, opt, dl = make_private(model, optim.SGD(model.parameters(), lr=0.1),
        ...                               DataLoader((X, y), batch_size=10),
        ...                               noise_multiplier=1.0, max_grad_norm=1.0, seed=0)
        >>> for xb, yb in dl:
        ...     opt.zero_grad()
        ...     nn.functional.cross_entropy(model(nervo.tensor(xb)), nervo.tensor(yb)).backward()
        ...     opt.step()
        >>> round(opt.get_epsilon(1e-5), 2) > 0
        True
    """
    call = "nervo.privacy.make_private"
    if (noise_multiplier is None) == (target_epsilon is None):
        raise ValueError(f"{call}: give exactly one of noise_multiplier or target_epsilon")
    if not (float(max_grad_norm) > 0) or math.isinf(float(max_grad_norm)):
        raise ValueError(f"{call}: max_grad_norm must be finite and > 0, got {max_grad_norm}")
    if loss_reduction not in ("mean", "sum"):
        raise ValueError(f"{call}: loss_reduction must be 'mean' or 'sum', got {loss_reduction!r}")
    if isinstance(optimizer, DPOptimizer):
        raise ValueError(f"{call}: the optimizer is already private")
    if isinstance(data_loader, DPDataLoader):
        dl = data_loader
    elif poisson_sampling:
        if not hasattr(data_loader, "dataset") or not hasattr(data_loader, "batch_size"):
            raise TypeError(f"{call}: data_loader must be a nervo DataLoader (with .dataset and "
                            f".batch_size), got {type(data_loader).__name__}")
        dl = DPDataLoader.from_data_loader(data_loader)
    else:
        dl = data_loader
    n_data = len(dl.dataset)
    sample_rate = dl.sample_rate if isinstance(dl, DPDataLoader) else dl.batch_size / n_data
    if target_epsilon is not None:
        if epochs is None or int(epochs) <= 0:
            raise ValueError(f"{call}: target_epsilon mode needs epochs > 0 (the length of the "
                             f"run the budget covers), got {epochs}")
        noise_multiplier = get_noise_multiplier(target_epsilon, target_delta, sample_rate,
                                                int(epochs) * len(dl))
    if not (float(noise_multiplier) >= 0) or math.isinf(float(noise_multiplier)):
        raise ValueError(f"{call}: noise_multiplier must be finite and >= 0, got {noise_multiplier}")
    hooks = GradSampleHooks(model, call)
    try:
        dp_opt = DPOptimizer(optimizer, hooks, noise_multiplier=noise_multiplier,
                             max_grad_norm=max_grad_norm, expected_batch_size=sample_rate * n_data,
                             sample_rate=sample_rate, loss_reduction=loss_reduction, seed=seed)
    except Exception:
        hooks.remove()
        raise
    return model, dp_opt, dl
