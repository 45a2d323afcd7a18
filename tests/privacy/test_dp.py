"""DP-SGD: per-sample gradients vs a loop over single samples (every supported layer), clipping,
noise scale, Poisson sampling, make_private (noise and target-epsilon modes), bad input."""
import numpy as np
import pytest

pytest.importorskip("nervo.nn", reason="nervo.nn (autograd and layers) not built yet")
pytest.importorskip("nervo.data", reason="nervo.data not built yet")

import nervo  # noqa: E402
from nervo import nn, optim  # noqa: E402
from nervo.privacy import (DPDataLoader, DPOptimizer, get_privacy_spent, make_private,
                           per_sample_gradients, replace_batchnorm)
from nervo.privacy.grad_sample import Outer  # noqa: E402


class Shared(nn.Module):
    """The same Linear applied twice (weight sharing): per-sample grads must sum both uses."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return self.lin(nn.functional.tanh(self.lin(x)))


class EmbedBag(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(7, 3, padding_idx=0)
        self.ln = nn.LayerNorm(3)
        self.fc = nn.Linear(3, 2)

    def forward(self, idx):
        return self.fc(self.ln(self.emb(idx)))


def _models():
    return {
        "linear": (lambda: nn.Linear(5, 3), (6, 5)),
        "linear_seq": (lambda: nn.Sequential(nn.Linear(5, 3), nn.Tanh(), nn.Linear(3, 2)), (6, 4, 5)),
        "conv2d": (lambda: nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
                                         nn.Conv2d(4, 6, 3, stride=2, dilation=1)), (5, 3, 8, 7)),
        "conv2d_groups_dilation": (lambda: nn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=(2, 1),
                                                     dilation=(2, 1), groups=2), (3, 4, 9, 8)),
        "conv2d_same": (lambda: nn.Conv2d(2, 3, 3, padding="same", bias=False), (3, 2, 6, 6)),
        "conv1d": (lambda: nn.Sequential(nn.Conv1d(3, 5, 3, padding=1), nn.Tanh(),
                                         nn.Conv1d(5, 2, 2, stride=2)), (4, 3, 11)),
        "groupnorm_cnn": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.GroupNorm(2, 4), nn.ReLU(),
                                                nn.Flatten(), nn.Linear(4 * 4 * 4, 3)), (5, 1, 6, 6)),
        "layernorm": (lambda: nn.Sequential(nn.Linear(6, 6), nn.LayerNorm(6), nn.Linear(6, 2)), (5, 3, 6)),
        "layernorm_2d_shape": (lambda: nn.LayerNorm((3, 4)), (4, 2, 3, 4)),
        "shared": (Shared, (5, 4)),
    }


def _loss_weights(out_shape, rng):
    return nervo.tensor(rng.standard_normal(out_shape).astype(np.float64))


def _loop_grads(model, x, w):
    params = [p for p in model.parameters() if p.requires_grad]
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    per = {n: [] for n in names}
    for i in range(x.shape[0]):
        xi = nervo.tensor(x[i:i + 1])
        loss = (model(xi) * w[i:i + 1]).sum()
        gs = nervo.grad(loss, params, allow_unused=True, materialize_grads=True)
        for n, g in zip(names, gs):
            per[n].append(g.numpy().copy())
    return {n: np.stack(v) for n, v in per.items()}


@pytest.mark.parametrize("name", list(_models()))
def test_per_sample_gradients_equal_the_loop(name):
    build, shape = _models()[name]
    rng = np.random.default_rng(0)
    nervo.manual_seed(0)
    model = build()
    for p in model.parameters():  # float64 so that the comparison is tight
        p.data = p.numpy().astype(np.float64)
    x = rng.standard_normal(shape)
    with nervo.no_grad():
        out_shape = model(nervo.tensor(x)).shape
    w = _loss_weights(out_shape, rng)
    want = _loop_grads(model, x, w)
    psg = per_sample_gradients(model)
    (model(nervo.tensor(x)) * w).sum().backward()
    got = psg.materialize()
    assert set(got) == set(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k][:, 0] if want[k].shape[1:2] == (1,) and
                                   want[k].ndim == got[k].ndim + 1 else want[k], rtol=1e-6, atol=1e-9,
                                   err_msg=k)
    norms = np.sqrt(sum((v.reshape(v.shape[0], -1) ** 2).sum(1) for v in want.values()))
    np.testing.assert_allclose(psg.norms(), norms, rtol=1e-6)
    psg.remove()


def test_embedding_per_sample_gradients_with_repeats_and_padding():
    rng = np.random.default_rng(1)
    nervo.manual_seed(1)
    model = EmbedBag()
    for p in model.parameters():
        p.data = p.numpy().astype(np.float64)
    idx = np.array([[1, 2, 1, 0], [0, 0, 0, 0], [6, 6, 3, 2]], np.int64)
    w = _loss_weights((3, 4, 2), rng)
    params = list(model.parameters())
    names = [n for n, _ in model.named_parameters()]
    want = {n: [] for n in names}
    for i in range(3):
        gs = nervo.grad((model(nervo.tensor(idx[i:i + 1])) * w[i:i + 1]).sum(), params,
                        allow_unused=True, materialize_grads=True)
        for n, g in zip(names, gs):
            want[n].append(g.numpy().copy())
    psg = per_sample_gradients(model)
    (model(nervo.tensor(idx)) * w).sum().backward()
    got = psg.materialize()
    for n in names:
        np.testing.assert_allclose(got[n], np.stack(want[n]), rtol=1e-9, atol=1e-12, err_msg=n)
    assert np.all(got["emb.weight"][:, 0] == 0)   # padding row gets no gradient
    np.testing.assert_allclose(psg.norms(), np.sqrt(sum((np.stack(v).reshape(3, -1) ** 2).sum(1)
                                                        for v in want.values())), rtol=1e-9)


def test_mean_loss_reduction_scales_back_to_per_sample():
    rng = np.random.default_rng(2)
    model = nn.Linear(3, 2)
    x = rng.standard_normal((8, 3)).astype(np.float32)
    psg_sum = per_sample_gradients(model, "sum")
    model(nervo.tensor(x)).sum().backward()
    a = psg_sum.materialize()["weight"]
    psg_sum.remove()
    psg_mean = per_sample_gradients(model, "mean")
    (model(nervo.tensor(x)).sum() / 8).backward()
    np.testing.assert_allclose(psg_mean.materialize()["weight"], a, rtol=1e-5)


@pytest.mark.parametrize("T,I,O", [(1, 7, 5), (3, 16, 16), (9, 4, 3)])
def test_ghost_norms_equal_materialized_norms(T, I, O):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((6, T, I))
    G = rng.standard_normal((6, T, O))
    ghost = Outer(X, G, (O, I))
    full = np.einsum("nto,nti->noi", G, X)
    np.testing.assert_allclose(ghost.norm_sq(), (full.reshape(6, -1) ** 2).sum(1), rtol=1e-10)
    c = rng.random(6)
    np.testing.assert_allclose(Outer(X, G, (O, I)).weighted_sum(c), np.einsum("n,noi->oi", c, full),
                               rtol=1e-10)


# -- the private optimizer ----------------------------------------------------------------

def _data(n=200, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    return X, y


def _loader(X, y, bs):
    from nervo.data import DataLoader
    return DataLoader((X, y), batch_size=bs, shuffle=True)


def test_clipping_bounds_every_per_sample_norm():
    X, y = _data()
    X[:10] *= 100.0   # some samples with huge gradients
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2))
    model, opt, dl = make_private(model, optim.SGD(model.parameters(), lr=0.0), _loader(X, y, 50),
                                  noise_multiplier=0.0, max_grad_norm=0.5, loss_reduction="sum")
    xb, yb = X[:40], y[:40]
    # per-sample gradients by the loop, clipped by hand
    psg = per_sample_gradients(model)
    loss = nn.functional.cross_entropy(model(nervo.tensor(xb)), nervo.tensor(yb), reduction="sum")
    loss.backward()
    per = psg.materialize()
    psg.remove()
    norms = np.sqrt(sum((v.reshape(40, -1).astype(np.float64) ** 2).sum(1) for v in per.values()))
    c = np.minimum(1.0, 0.5 / (norms + 1e-6))
    opt.zero_grad()
    nn.functional.cross_entropy(model(nervo.tensor(xb)), nervo.tensor(yb), reduction="sum").backward()
    opt.step()
    np.testing.assert_allclose(opt.last_norms, norms, rtol=1e-4)
    assert np.all(opt.last_norms * opt.last_clip_factors <= 0.5 + 1e-5)
    assert (norms > 0.5).sum() >= 10
    for name, p in model.named_parameters():
        want = np.einsum("n,n...->...", c, per[name].astype(np.float64))
        np.testing.assert_allclose(p.grad.numpy(), want, rtol=1e-4, atol=1e-6, err_msg=name)


def test_noise_has_the_right_scale():
    # Zero per-sample gradients: the private gradient is pure noise N(0, (sigma C)^2) / (q N).
    model = nn.Linear(100, 100, bias=False)
    X = np.zeros((1000, 100), np.float32)
    y = np.zeros(1000, np.int64)
    sigma, C = 1.7, 0.8
    model, opt, dl = make_private(model, optim.SGD(model.parameters(), lr=0.0), _loader(X, y, 100),
                                  noise_multiplier=sigma, max_grad_norm=C, seed=123)
    assert dl.expected_batch_size == pytest.approx(100)
    xb = next(iter(dl))[0]
    opt.zero_grad()
    model(nervo.tensor(xb)).sum().backward()
    opt.step()
    g = model.weight.grad.numpy().astype(np.float64).ravel() * 100
    n = g.size
    std = g.std()
    # Relative standard error of a sample std is 1/sqrt(2n) = 0.7% here; allow 5 of them.
    assert abs(std / (sigma * C) - 1) < 5 / np.sqrt(2 * n)
    assert abs(g.mean()) < 5 * sigma * C / np.sqrt(n)
    # Kurtosis of a Gaussian is 3 (a uniform or Laplace noise would fail this).
    assert abs(((g - g.mean()) ** 4).mean() / std ** 4 - 3) < 0.15


def test_poisson_loader_sampling_rate():
    X, y = _data(n=2000)
    dl = DPDataLoader((X, y), sample_rate=0.05, seed=3)
    assert len(dl) == 20
    sizes = np.array([xb.shape[0] for _ in range(10) for xb, yb in dl])
    assert sizes.size == 200
    assert abs(sizes.mean() - 100) < 5 * np.sqrt(2000 * 0.05 * 0.95 / 200)
    assert sizes.std() > 3   # not fixed-size batches
    tiny = DPDataLoader((X[:3], y[:3]), sample_rate=1e-6, steps_per_epoch=2)
    xb, yb = next(iter(tiny))
    assert xb.shape == (0, 5) and yb.shape == (0,)


def test_empty_batch_step_is_noise_only_and_counted():
    model = nn.Linear(3, 2)
    X, y = _data(n=10, d=3)
    model, opt, dl = make_private(model, optim.SGD(model.parameters(), lr=0.0), _loader(X, y, 5),
                                  noise_multiplier=1.0, max_grad_norm=1.0, seed=0)
    opt.zero_grad()
    opt.step()
    assert model.weight.grad is not None and np.any(model.weight.grad.numpy() != 0)
    assert opt.accountant.steps == 1


def test_make_private_trains_and_accounts():
    X, y = _data(n=600)
    nervo.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 2))
    model, opt, dl = make_private(model, optim.SGD(model.parameters(), lr=0.5), _loader(X, y, 60),
                                  noise_multiplier=0.8, max_grad_norm=1.0, seed=0)
    assert isinstance(opt, DPOptimizer) and isinstance(dl, DPDataLoader)
    for _ in range(5):
        for xb, yb in dl:
            opt.zero_grad()
            nn.functional.cross_entropy(model(nervo.tensor(xb)), nervo.tensor(yb)).backward()
            opt.step()
    with nervo.no_grad():
        acc = (model(nervo.tensor(X)).numpy().argmax(1) == y).mean()
    assert acc > 0.85
    eps = opt.get_epsilon(1e-5)
    want, _ = get_privacy_spent(sample_rate=0.1, noise_multiplier=0.8, steps=50, delta=1e-5)
    assert eps == pytest.approx(want)


def test_target_epsilon_mode():
    X, y = _data(n=400)
    model = nn.Linear(5, 2)
    model, opt, dl = make_private(model, optim.SGD(model.parameters(), lr=0.1), _loader(X, y, 40),
                                  target_epsilon=2.0, target_delta=1e-5, epochs=3, max_grad_norm=1.0)
    for _ in range(3):
        for xb, yb in dl:
            opt.zero_grad()
            nn.functional.cross_entropy(model(nervo.tensor(xb)), nervo.tensor(yb)).backward()
            opt.step()
    eps = opt.get_epsilon(1e-5)
    assert 1.98 <= eps <= 2.0


def test_state_dict_round_trip():
    X, y = _data(n=100)
    model = nn.Linear(5, 2)
    model, opt, dl = make_private(model, optim.SGD(model.parameters(), lr=0.1), _loader(X, y, 10),
                                  noise_multiplier=1.0, max_grad_norm=1.0, seed=0)
    opt.zero_grad()
    opt.step()
    state = opt.state_dict()
    a = opt.rng.normal(size=3)
    opt.load_state_dict(state)
    np.testing.assert_array_equal(opt.rng.normal(size=3), a)
    assert opt.accountant.steps == 1


# -- bad input ----------------------------------------------------------------------------

def test_batchnorm_is_refused_with_a_groupnorm_suggestion():
    model = nn.Sequential(nn.Conv2d(1, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.Flatten(),
                          nn.Linear(6 * 4 * 4, 2))
    X = np.zeros((20, 1, 6, 6), np.float32)
    y = np.zeros(20, np.int64)
    with pytest.raises(ValueError, match=r"BatchNorm2d at '1'.*GroupNorm.*replace_batchnorm"):
        make_private(model, optim.SGD(model.parameters(), lr=0.1), _loader(X, y, 5),
                     noise_multiplier=1.0, max_grad_norm=1.0)
    model = replace_batchnorm(model)
    assert isinstance(model[1], nn.GroupNorm) and model[1].num_groups == 6
    make_private(model, optim.SGD(model.parameters(), lr=0.1), _loader(X, y, 5),
                 noise_multiplier=1.0, max_grad_norm=1.0)
    gn = replace_batchnorm(nn.BatchNorm1d(48))
    assert isinstance(gn, nn.GroupNorm) and gn.num_groups == 24


def test_unsupported_trainable_layer_is_refused():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.s = nn.Parameter(np.ones(3, np.float32))

        def forward(self, x):
            return x * self.s

    model = nn.Sequential(nn.Linear(3, 3), Scale())
    X, y = _data(n=10, d=3)
    with pytest.raises(ValueError, match=r"no per-sample gradient rule.*'1' \(Scale\)"):
        make_private(model, optim.SGD(model.parameters(), lr=0.1), _loader(X, y, 5),
                     noise_multiplier=1.0, max_grad_norm=1.0)
    model[1].s.requires_grad_(False)   # frozen: fine
    make_private(model, optim.SGD(model[0].parameters(), lr=0.1), _loader(X, y, 5),
                 noise_multiplier=1.0, max_grad_norm=1.0)


@pytest.mark.parametrize("kwargs,match", [
    (dict(), "exactly one of noise_multiplier or target_epsilon"),
    (dict(noise_multiplier=1.0, target_epsilon=1.0), "exactly one of"),
    (dict(noise_multiplier=1.0, max_grad_norm=0.0), "max_grad_norm must be"),
    (dict(noise_multiplier=-1.0), "noise_multiplier must be"),
    (dict(target_epsilon=1.0), "needs epochs"),
    (dict(noise_multiplier=1.0, loss_reduction="max"), "loss_reduction must be"),
])
def test_make_private_bad_arguments(kwargs, match):
    X, y = _data(n=10)
    model = nn.Linear(5, 2)
    with pytest.raises(ValueError, match=match):
        make_private(model, optim.SGD(model.parameters(), lr=0.1), _loader(X, y, 5), **kwargs)


def test_optimizer_over_foreign_parameters_is_refused():
    X, y = _data(n=10)
    model = nn.Linear(5, 2)
    other = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="not in the model"):
        make_private(model, optim.SGD(list(model.parameters()) + list(other.parameters()), lr=0.1),
                     _loader(X, y, 5), noise_multiplier=1.0, max_grad_norm=1.0)


def test_docstring_examples():
    import doctest
    from nervo.privacy import engine
    assert doctest.testmod(engine).failed == 0
