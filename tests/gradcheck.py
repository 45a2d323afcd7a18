"""Gradient checks by float64 central differences (shared by the Tensor, nn and optim tests).

``gradcheck(fn, *arrays)`` builds float64 leaf tensors from the arrays, runs ``fn`` to a tensor,
contracts it with a fixed random cotangent, and compares every input's autograd gradient with
(f(x + eps e_i) - f(x - eps e_i)) / (2 eps). Inputs may be non-contiguous views (the check runs
on them as given).
"""
import numpy as np

import nervo

EPS, ATOL, RTOL = 1e-6, 1e-5, 1e-3


def gradcheck(fn, *arrays, eps=EPS, atol=ATOL, rtol=RTOL, seed=0, what=""):
    xs = [nervo.from_numpy(a if isinstance(a, np.ndarray) and a.dtype == np.float64
                           else np.array(a, dtype=np.float64)).requires_grad_(True)
          for a in arrays]
    out = fn(*xs)
    rng = np.random.default_rng(seed)
    cot = rng.standard_normal(out.shape)
    # Non-contiguous grad output: a transposed copy viewed back.
    if cot.ndim >= 2:
        cot = np.ascontiguousarray(cot.swapaxes(0, 1)).swapaxes(0, 1)
    out.backward(nervo.from_numpy(cot))
    for i, x in enumerate(xs):
        base = x.numpy()
        num = np.zeros(base.shape)
        flat_idx = list(np.ndindex(base.shape))
        for idx in flat_idx:
            orig = base[idx]
            base[idx] = orig + eps
            with nervo.no_grad():
                fp = float(np.sum(fn(*xs).numpy() * cot))
            base[idx] = orig - eps
            with nervo.no_grad():
                fm = float(np.sum(fn(*xs).numpy() * cot))
            base[idx] = orig
            num[idx] = (fp - fm) / (2 * eps)
        got = x.grad.numpy() if x.grad is not None else np.zeros(base.shape)
        bad = ~np.isclose(got, num, rtol=rtol, atol=atol)
        if bad.any():
            j = tuple(int(v) for v in np.argwhere(bad)[0])
            raise AssertionError(f"{what} input {i}: autograd vs numeric gradient differ at "
                                 f"{j}: {got[j]!r} vs {num[j]!r}; max |diff| "
                                 f"{np.max(np.abs(got - num)):.3g}")


def gradgradcheck(fn, *arrays, eps=EPS, atol=ATOL, rtol=RTOL, seed=1, what=""):
    """Second-order check of ``fn`` (create_graph=True) by float64 central differences.

    With u a random cotangent of the output and v random directions for the inputs,
    h(x, u) = sum_i <d<fn(x), u>/dx_i, v_i> is computed with ``nervo.grad(create_graph=True)``
    and differentiated again; its gradients w.r.t. every x_i and u are compared with central
    differences of h evaluated by the first-order (already checked) engine.
    """
    rng = np.random.default_rng(seed)
    xs = [nervo.from_numpy(np.array(a, dtype=np.float64)).requires_grad_(True) for a in arrays]
    out = fn(*xs)
    u = nervo.from_numpy(rng.standard_normal(out.shape)).requires_grad_(True)
    vs = [rng.standard_normal(x.shape) for x in xs]

    def h_first(xs_, u_):
        gs = nervo.grad(fn(*xs_), xs_, u_, allow_unused=True)
        return float(sum(np.sum(g.numpy() * v) for g, v in zip(gs, vs) if g is not None))

    gs = nervo.grad(out, xs, u, create_graph=True, allow_unused=True)
    h = None
    for g, v in zip(gs, vs):
        if g is not None and g.requires_grad:
            term = (g * nervo.from_numpy(v)).sum()
            h = term if h is None else h + term
    if h is None:
        got = [np.zeros(x.shape) for x in xs + [u]]
    else:
        got = [g.numpy() if g is not None else np.zeros(x.shape)
               for g, x in zip(nervo.grad(h, xs + [u], allow_unused=True), xs + [u])]
    for i, x in enumerate(xs + [u]):
        base = x.numpy()
        num = np.zeros(base.shape)
        for idx in np.ndindex(base.shape):
            orig = base[idx]
            base[idx] = orig + eps
            fp = h_first(xs, u)
            base[idx] = orig - eps
            fm = h_first(xs, u)
            base[idx] = orig
            num[idx] = (fp - fm) / (2 * eps)
        bad = ~np.isclose(got[i], num, rtol=rtol, atol=atol)
        if bad.any():
            j = tuple(int(v) for v in np.argwhere(bad)[0])
            name = "grad_output" if i == len(xs) else f"input {i}"
            raise AssertionError(f"{what} {name}: second-order autograd vs numeric differ at {j}: "
                                 f"{got[i][j]!r} vs {num[j]!r}; max |diff| "
                                 f"{np.max(np.abs(got[i] - num)):.3g}")
