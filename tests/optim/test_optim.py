"""Optimizers and schedulers against torch: a 50-step training run per optimizer (same init via
copied weights, same data order) whose loss curve matches within 1e-4 relative, schedules step by
step, state_dict round trips, freezing, and bad hyperparameters."""
import numpy as np
import pytest

import nervo
from nervo import nn, optim

torch = pytest.importorskip("torch")

OPTIMIZERS = {
    "sgd": dict(lr=0.05),
    "sgd_momentum": dict(lr=0.05, momentum=0.9, weight_decay=1e-3),
    "sgd_nesterov": dict(lr=0.05, momentum=0.9, nesterov=True),
    "sgd_dampening": dict(lr=0.05, momentum=0.9, dampening=0.3),
    "adam": dict(lr=1e-2),
    "adam_wd_amsgrad": dict(lr=1e-2, weight_decay=1e-2, amsgrad=True),
    "adamw": dict(lr=1e-2, weight_decay=0.1),
    "rmsprop": dict(lr=1e-3),
    "rmsprop_centered_momentum": dict(lr=1e-3, momentum=0.9, centered=True, weight_decay=1e-3),
    "adagrad": dict(lr=5e-2, lr_decay=1e-3, weight_decay=1e-3, initial_accumulator_value=0.1),
}
CLASS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop",
         "adagrad": "Adagrad"}


def _models():
    def make(m):
        return m.Sequential(m.Linear(20, 32), m.ReLU(), m.Linear(32, 16), m.Tanh(),
                            m.Linear(16, 4))
    torch.manual_seed(0)
    tm, nm = make(torch.nn), make(nn)
    nm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return tm, nm


def _data(steps=50, batch=16):
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((steps, batch, 20)).astype(np.float32)
    ys = rng.integers(0, 4, (steps, batch)).astype(np.int64)
    return xs, ys


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_training_run_matches_torch(name):
    kw = OPTIMIZERS[name]
    cls = CLASS[name.split("_")[0]]
    tm, nm = _models()
    topt = getattr(torch.optim, cls)(tm.parameters(), **kw)
    nopt = getattr(optim, cls)(nm.parameters(), **kw)
    tl, nl = [], []
    for x, y in zip(*_data()):
        topt.zero_grad()
        loss = torch.nn.functional.cross_entropy(tm(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        topt.step()
        tl.append(loss.item())
        nopt.zero_grad()
        loss = nn.functional.cross_entropy(nm(nervo.from_numpy(x)), nervo.from_numpy(y))
        loss.backward()
        nopt.step()
        nl.append(loss.item())
    np.testing.assert_allclose(nl, tl, rtol=1e-4)
    for (k, tp), (k2, p) in zip(tm.named_parameters(), nm.named_parameters()):
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-3, atol=1e-5,
                                   err_msg=k)


def test_optimizer_state_dict_roundtrip():
    _, nm = _models()
    xs, ys = _data(6)
    opt = optim.Adam(nm.parameters(), lr=1e-2)

    def step(model, o, i):
        o.zero_grad()
        nn.functional.cross_entropy(model(nervo.from_numpy(xs[i])), nervo.from_numpy(ys[i])) \
            .backward()
        o.step()
    for i in range(3):
        step(nm, opt, i)
    sd_model = {k: v.numpy().copy() for k, v in nm.state_dict().items()}
    sd_opt = opt.state_dict()
    _, nm2 = _models()
    nm2.load_state_dict(sd_model)
    opt2 = optim.Adam(nm2.parameters(), lr=1e-2)
    opt2.load_state_dict(sd_opt)
    for i in range(3, 6):
        step(nm, opt, i)
        step(nm2, opt2, i)
    for a, b in zip(nm.parameters(), nm2.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_param_groups_and_zero_grad():
    _, nm = _models()
    opt = optim.SGD([{"params": nm[0].parameters(), "lr": 0.0},
                     {"params": list(nm[2].parameters()) + list(nm[4].parameters())}], lr=0.1)
    w0 = nm[0].weight.numpy().copy()
    w2 = nm[2].weight.numpy().copy()
    nn.functional.cross_entropy(nm(nervo.randn(4, 20)), nervo.tensor([0, 1, 2, 3])).backward()
    opt.step()
    np.testing.assert_array_equal(nm[0].weight.numpy(), w0)
    assert not np.array_equal(nm[2].weight.numpy(), w2)
    opt.zero_grad(set_to_none=False)
    assert nm[2].weight.grad is not None and not nm[2].weight.grad.numpy().any()
    opt.zero_grad()
    assert nm[2].weight.grad is None


def test_frozen_backbone_is_bitwise_unchanged():
    _, nm = _models()
    nm[0].requires_grad_(False)
    frozen = {k: v.numpy().copy() for k, v in nm[0].state_dict().items()}
    opt = optim.AdamW(nm.parameters(), lr=1e-2)
    for x, y in zip(*_data(5)):
        opt.zero_grad()
        nn.functional.cross_entropy(nm(nervo.from_numpy(x)), nervo.from_numpy(y)).backward()
        opt.step()
    assert nm[0].weight.grad is None
    for k, v in nm[0].state_dict().items():
        assert v.numpy().tobytes() == frozen[k].tobytes(), k


@pytest.mark.parametrize("cls,kw", [
    ("SGD", dict(lr=-1)), ("SGD", dict(lr=0.1, momentum=-1)),
    ("SGD", dict(lr=0.1, nesterov=True)), ("Adam", dict(betas=(1.0, 0.9))),
    ("Adam", dict(eps=-1)), ("AdamW", dict(weight_decay=-1)), ("RMSprop", dict(alpha=-1)),
    ("Adagrad", dict(lr_decay=-1))])
def test_bad_hyperparameters(cls, kw):
    with pytest.raises(ValueError):
        getattr(optim, cls)([nn.Parameter(nervo.ones(2))], **kw)


def test_bad_params_argument():
    with pytest.raises(TypeError):
        optim.SGD(nervo.ones(2, requires_grad=True), lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)


# ---------------------------------------------------------------------------- schedulers
SCHEDULERS = {
    "StepLR": dict(step_size=3, gamma=0.5),
    "MultiStepLR": dict(milestones=[2, 5, 9], gamma=0.3),
    "ExponentialLR": dict(gamma=0.9),
    "CosineAnnealingLR": dict(T_max=7, eta_min=1e-3),
    "LinearLR": dict(start_factor=0.1, total_iters=6),
    "LambdaLR": dict(lr_lambda=lambda e: 1.0 / (1 + e)),
    "OneCycleLR": dict(max_lr=0.5, total_steps=20),
    "OneCycleLR_3": dict(max_lr=0.5, total_steps=20, three_phase=True, anneal_strategy="linear"),
}


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_scheduler_matches_torch(name, opt_name):
    cls = name.split("_")[0]
    kw = SCHEDULERS[name]
    tp = [torch.nn.Parameter(torch.ones(2))]
    npar = [nn.Parameter(nervo.ones(2))]
    okw = dict(lr=0.1, momentum=0.9) if opt_name == "SGD" else dict(lr=0.1)
    topt = getattr(torch.optim, opt_name)(tp, **okw)
    nopt = getattr(optim, opt_name)(npar, **okw)
    ts = getattr(torch.optim.lr_scheduler, cls)(topt, **kw)
    ns = getattr(optim.lr_scheduler, cls)(nopt, **kw)
    for _ in range(19):
        np.testing.assert_allclose(ns.get_last_lr(), ts.get_last_lr(), rtol=1e-9, atol=1e-12)
        g = topt.param_groups[0]
        if "momentum" in g:
            np.testing.assert_allclose(nopt.param_groups[0]["momentum"], g["momentum"])
        if "betas" in g:
            np.testing.assert_allclose(nopt.param_groups[0]["betas"], g["betas"])
        topt.step()
        nopt.step()
        ts.step()
        ns.step()


def test_reduce_lr_on_plateau_matches_torch():
    tp = [torch.nn.Parameter(torch.ones(2))]
    npar = [nn.Parameter(nervo.ones(2))]
    topt, nopt = torch.optim.SGD(tp, lr=1.0), optim.SGD(npar, lr=1.0)
    kw = dict(mode="min", factor=0.5, patience=2, threshold=0.01, cooldown=1, min_lr=0.01)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    ns = optim.lr_scheduler.ReduceLROnPlateau(nopt, **kw)
    metrics = [1.0, 0.9, 0.9, 0.9, 0.9, 0.95, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    for m in metrics:
        ts.step(m)
        ns.step(m)
        assert nopt.param_groups[0]["lr"] == pytest.approx(topt.param_groups[0]["lr"])


def test_clip_grad_norm_and_value_match_torch():
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s).astype(np.float32) for s in ((3, 4), (5,))]
    for norm_type in (2.0, 1.0, float("inf")):
        tps = [torch.nn.Parameter(torch.zeros(g.shape)) for g in grads]
        nps = [nn.Parameter(nervo.zeros(*g.shape)) for g in grads]
        for tp, np_, g in zip(tps, nps, grads):
            tp.grad = torch.from_numpy(g.copy())
            np_.grad = nervo.tensor(g)
        tn = torch.nn.utils.clip_grad_norm_(tps, 1.5, norm_type)
        nn_ = nn.utils.clip_grad_norm_(nps, 1.5, norm_type)
        assert nn_.item() == pytest.approx(tn.item(), rel=1e-5)
        for tp, np_ in zip(tps, nps):
            np.testing.assert_allclose(np_.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-7)
    p = nn.Parameter(nervo.zeros(3))
    p.grad = nervo.tensor([-3.0, 0.5, 2.0])
    nn.utils.clip_grad_value_([p], 1.0)
    np.testing.assert_array_equal(p.grad.numpy(), [-1.0, 0.5, 1.0])
