"""Fused optimizer steps: 100 iterations beside torch.optim (1e-6 relative), the float64
reference, gradient-norm clipping, and bad inputs."""
import math

import numpy as np
import pytest

import nervo
import nervo.ops as ops
from nervo.ops.reference import optim as ref
from tests.checks import check_tensor

N = 1031  # odd: exercises vector tails


def check_close_to_torch(got, want, what):
    """1e-6 relative to the parameter scale. Elementwise relative error is not meaningful: a
    coordinate that shrank from ~1 to ~0.07 carries rounding from its larger past, and torch's
    vectorized kernels fuse multiply-adds that the generic (no-FMA) level rounds twice."""
    check_tensor(got, want, 1e-6, 1e-6 * float(np.abs(want).max()), what)


def _run_torch(torch, make_opt, p0, grads):
    tp = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    opt = make_opt([tp])
    for g in grads:
        tp.grad = torch.from_numpy(g.copy())
        opt.step()
    return tp.detach().numpy()


def _grads(rng, steps=100, n=N):
    return [rng.standard_normal(n).astype(np.float32) for _ in range(steps)]


SGD = [dict(lr=0.01), dict(lr=0.01, momentum=0.9), dict(lr=0.02, momentum=0.9, dampening=0.3),
       dict(lr=0.01, momentum=0.8, nesterov=True, weight_decay=0.01),
       dict(lr=0.01, momentum=0.5, maximize=True, weight_decay=0.1), dict(lr=0.05, weight_decay=0.2)]


@pytest.mark.parametrize("kw", SGD, ids=lambda k: "-".join(f"{a}={b}" for a, b in k.items()))
def test_sgd_matches_torch(backend, rng, kw):
    torch = pytest.importorskip("torch")
    p = rng.standard_normal(N).astype(np.float32)
    grads = _grads(rng)
    want = _run_torch(torch, lambda ps: torch.optim.SGD(ps, **kw), p, grads)
    buf = np.zeros_like(p) if kw.get("momentum") else None
    args = {k: v for k, v in kw.items()}
    for i, g in enumerate(grads):
        ops.sgd_step(p, g, buf, first_step=(i == 0), **args)
    check_close_to_torch(p, want, "sgd vs torch")


ADAM = [dict(), dict(weight_decay=0.1), dict(amsgrad=True), dict(amsgrad=True, weight_decay=0.05, maximize=True),
        dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)]


@pytest.mark.parametrize("kw", ADAM, ids=lambda k: "-".join(f"{a}={b}" for a, b in k.items()) or "default")
@pytest.mark.parametrize("adamw", [False, True], ids=["Adam", "AdamW"])
def test_adam_matches_torch(backend, rng, kw, adamw):
    torch = pytest.importorskip("torch")
    p = rng.standard_normal(N).astype(np.float32)
    grads = _grads(rng)
    cls = torch.optim.AdamW if adamw else torch.optim.Adam
    want = _run_torch(torch, lambda ps: cls(ps, **kw), p, grads)
    m, v = np.zeros_like(p), np.zeros_like(p)
    vmax = np.zeros_like(p) if kw.get("amsgrad") else None
    b1, b2 = kw.get("betas", (0.9, 0.999))
    wd = kw.get("weight_decay", 1e-2 if adamw else 0.0)
    for s, g in enumerate(grads, 1):
        ops.adam_step(p, g, m, v, vmax, step=s, lr=kw.get("lr", 1e-3), beta1=b1, beta2=b2,
                      eps=kw.get("eps", 1e-8), weight_decay=wd, decoupled=adamw,
                      maximize=kw.get("maximize", False))
    check_close_to_torch(p, want, "adam vs torch")


def test_adam_fused_torch_and_adamw_alias(backend, rng):
    torch = pytest.importorskip("torch")
    p = rng.standard_normal(N).astype(np.float32)
    grads = _grads(rng)
    want = _run_torch(torch, lambda ps: torch.optim.AdamW(ps, lr=3e-3, fused=True), p, grads)
    m, v = np.zeros_like(p), np.zeros_like(p)
    for s, g in enumerate(grads, 1):
        ops.adamw_step(p, g, m, v, step=s, lr=3e-3)
    check_close_to_torch(p, want, "adamw vs torch fused")


RMS = [dict(), dict(centered=True), dict(momentum=0.9), dict(centered=True, momentum=0.5, weight_decay=0.1),
       dict(alpha=0.9, eps=1e-6, maximize=True)]


@pytest.mark.parametrize("kw", RMS, ids=lambda k: "-".join(f"{a}={b}" for a, b in k.items()) or "default")
def test_rmsprop_matches_torch(backend, rng, kw):
    torch = pytest.importorskip("torch")
    p = rng.standard_normal(N).astype(np.float32)
    grads = _grads(rng)
    want = _run_torch(torch, lambda ps: torch.optim.RMSprop(ps, lr=1e-3, **kw), p, grads)
    sq = np.zeros_like(p)
    ga = np.zeros_like(p) if kw.get("centered") else None
    buf = np.zeros_like(p) if kw.get("momentum") else None
    args = {k: v for k, v in kw.items() if k != "centered"}
    for g in grads:
        ops.rmsprop_step(p, g, sq, ga, buf, lr=1e-3, **args)
    check_close_to_torch(p, want, "rmsprop vs torch")


ADAGRAD = [dict(), dict(lr_decay=0.01), dict(weight_decay=0.1, initial_accumulator_value=0.5),
           dict(eps=1e-6, maximize=True)]


@pytest.mark.parametrize("kw", ADAGRAD, ids=lambda k: "-".join(f"{a}={b}" for a, b in k.items()) or "default")
def test_adagrad_matches_torch(backend, rng, kw):
    torch = pytest.importorskip("torch")
    p = rng.standard_normal(N).astype(np.float32)
    grads = _grads(rng)
    want = _run_torch(torch, lambda ps: torch.optim.Adagrad(ps, lr=0.05, **kw), p, grads)
    ss = np.full_like(p, kw.get("initial_accumulator_value", 0.0))
    args = {k: v for k, v in kw.items() if k != "initial_accumulator_value"}
    for s, g in enumerate(grads, 1):
        ops.adagrad_step(p, g, ss, step=s, lr=0.05, **args)
    check_close_to_torch(p, want, "adagrad vs torch")


def test_float64_against_reference(backend, rng):
    n = 37
    p0 = rng.standard_normal(n)
    gs = [rng.standard_normal(n) for _ in range(5)]
    # adam (amsgrad, L2)
    p, m, v, vm = p0.copy(), np.zeros(n), np.zeros(n), np.zeros(n)
    rp, rm, rv, rvm = p0.copy(), np.zeros(n), np.zeros(n), np.zeros(n)
    for s, g in enumerate(gs, 1):
        ops.adam_step(p, g, m, v, vm, step=s, lr=0.01, weight_decay=0.1)
        rp, rm, rv, rvm = ref.adam(rp, g, rm, rv, rvm, s, lr=0.01, weight_decay=0.1)
    check_tensor(p, rp, 1e-12, 1e-14, "adam f64")
    # sgd nesterov
    p, buf, rp, rbuf = p0.copy(), np.zeros(n), p0.copy(), None
    for i, g in enumerate(gs):
        ops.sgd_step(p, g, buf, lr=0.1, momentum=0.9, nesterov=True, first_step=i == 0)
        rp, rbuf = ref.sgd(rp, g, rbuf, 0.1, momentum=0.9, nesterov=True)
    check_tensor(p, rp, 1e-12, 1e-14, "sgd f64")
    # rmsprop centered + momentum
    p, sq, ga, buf = p0.copy(), np.zeros(n), np.zeros(n), np.zeros(n)
    rp, rsq, rga, rbuf = p0.copy(), np.zeros(n), np.zeros(n), np.zeros(n)
    for g in gs:
        ops.rmsprop_step(p, g, sq, ga, buf, lr=0.01, momentum=0.9)
        rp, rsq, rga, rbuf = ref.rmsprop(rp, g, rsq, rga, rbuf, lr=0.01, momentum=0.9)
    check_tensor(p, rp, 1e-12, 1e-14, "rmsprop f64")
    p, ss, rp, rss = p0.copy(), np.zeros(n), p0.copy(), np.zeros(n)
    for s, g in enumerate(gs, 1):
        ops.adagrad_step(p, g, ss, step=s, lr_decay=0.1)
        rp, rss = ref.adagrad(rp, g, rss, s, lr_decay=0.1)
    check_tensor(p, rp, 1e-12, 1e-14, "adagrad f64")


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_grad_norm_and_clip_match_torch(backend, rng, norm_type):
    torch = pytest.importorskip("torch")
    # torch's inf-norm rejects empty tensors; nervo's treats them as 0 (the identity of max |x|).
    shapes = [(40000,), (7, 3), (1,), (300, 65)] + ([(0,)] if norm_type != math.inf else [])
    gs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    tps = []
    for g in gs:
        t = torch.nn.Parameter(torch.zeros(g.shape))
        t.grad = torch.from_numpy(g.copy())
        tps.append(t)
    want = float(torch.nn.utils.clip_grad_norm_(tps, max_norm=1.0, norm_type=norm_type))
    got = ops.clip_grad_norm(gs, 1.0, norm_type)
    assert abs(got - want) <= 1e-5 * want
    for g, t in zip(gs, tps):
        check_tensor(g, t.grad.numpy(), 1e-5, 1e-7, "clipped")
    assert ops.grad_norm([]) == 0.0
    big = [np.full(4, 1e30, np.float32)]
    assert ops.grad_norm(big) == pytest.approx(2e30)  # float64 accumulation: no overflow


def test_flat_buffer_thread_independent(backend, rng):
    p0 = rng.standard_normal(1_000_003).astype(np.float32)
    g = rng.standard_normal(p0.size).astype(np.float32)
    res = []
    prev = nervo.get_num_threads()
    try:
        for t in (1, 2):
            nervo.set_num_threads(t)
            p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
            ops.adam_step(p, g, m, v, step=1)
            res.append((p, ops.grad_norm([g])))
    finally:
        nervo.set_num_threads(prev)
    assert np.array_equal(res[0][0], res[1][0]) and res[0][1] == res[1][1]


def test_bad_inputs(backend):
    p = np.zeros(4, np.float32)
    g = np.zeros(4, np.float32)
    m, v = np.zeros(4, np.float32), np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="step must be an int >= 1"):
        ops.adam_step(p, g, m, v, step=0)
    with pytest.raises(TypeError, match="exp_avg has dtype float64"):
        ops.adam_step(p, g, m.astype(np.float64), v, step=1)
    with pytest.raises(ValueError, match=r"grad has shape \(5,\)"):
        ops.adam_step(p, np.zeros(5, np.float32), m, v, step=1)
    with pytest.raises(ValueError, match="betas"):
        ops.adam_step(p, g, m, v, step=1, beta1=1.0)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        ops.sgd_step(p, g, lr=-1.0)
    with pytest.raises(ValueError, match="needs a momentum_buffer"):
        ops.sgd_step(p, g, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="nesterov"):
        ops.sgd_step(p, g, np.zeros(4, np.float32), lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="C-contiguous and writable"):
        ops.sgd_step(np.zeros(8, np.float32)[::2], g, lr=0.1)
    ro = np.zeros(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        ops.sgd_step(ro, g, lr=0.1)
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.sgd_step(np.zeros(4, np.int32), g, lr=0.1)
    with pytest.raises(ValueError, match="needs a momentum_buffer"):
        ops.rmsprop_step(p, g, np.zeros(4, np.float32), momentum=0.9)
    with pytest.raises(ValueError, match="norm_type"):
        ops.grad_norm([g], 0)
    with pytest.raises(TypeError, match=r"grads\[1\]"):
        ops.grad_norm([g, [1.0]])
