"""Model-level benchmarks: Python overhead and end-to-end latency of the layer API.

* ``tiny_graph_fwd_bwd:3ops``: ``((a * b) + c).sum()`` on 8x8 tensors, then ``backward()``:
  almost pure framework overhead (graph recording, the backward walk, gradient accumulation).
* ``mlp_infer:b1`` / ``cnn_infer:b1``: batch-1 inference (eval mode, no_grad) of the
  784-256-128-10 MLP and of the small CNN (conv32-pool-conv64-pool-fc128-fc10 on 28x28), the
  architectures of ``nervo.train.models`` (dropout included, inactive in eval).
* ``mlp_train_step:b128`` / ``cnn_train_step:b128``: one Adam training step at batch 128
  (zero_grad, forward, cross-entropy, backward, step).

nervo and torch build the same architecture from their own ``nn`` namespaces and start from the
same weights (copied from torch), so results can be compared.
"""
from __future__ import annotations

import numpy as np

from nervo.bench import Case, Unavailable, nervo_backend, torch_module

IMPLS = ("nervo-native", "nervo-numba", "torch")


def mlp(nn):
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10))


def cnn(nn):
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25),
                         nn.Linear(128, 10))


ARCH = {"mlp": mlp, "cnn": cnn}


def _torch_model(arch):
    torch = torch_module()
    torch.manual_seed(0)
    return torch, ARCH[arch](torch.nn)


def _pair(arch, impl):
    """(framework, model) for impl, with nervo's weights copied from torch's."""
    torch, tm = _torch_model(arch)
    if impl == "torch":
        return torch, tm
    nervo_backend(impl)
    import nervo
    nm = ARCH[arch](nervo.nn)
    nm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return nervo, nm


def _data(batch, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    return x, y


# ---------------------------------------------------------------------------- tiny graph
def _tiny_setup(impl):
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal((8, 8)).astype(np.float32) for _ in range(3))
    if impl == "torch":
        torch = torch_module()
        ta = torch.from_numpy(a).requires_grad_(True)
        tb = torch.from_numpy(b).requires_grad_(True)
        tc = torch.from_numpy(c)

        def run():
            ta.grad = None
            tb.grad = None
            ((ta * tb) + tc).sum().backward()
            return ta.grad
        return run
    if impl.startswith("nervo"):
        nervo_backend(impl)
        import nervo
        na = nervo.tensor(a, requires_grad=True)
        nb = nervo.tensor(b, requires_grad=True)
        nc = nervo.tensor(c)

        def run():
            na.grad = None
            nb.grad = None
            ((na * nb) + nc).sum().backward()
            return na.grad
        return run
    raise Unavailable(f"no {impl} implementation")


def _tiny_reference():
    rng = np.random.default_rng(0)
    _, b, _ = (rng.standard_normal((8, 8)).astype(np.float32) for _ in range(3))
    return b


# ---------------------------------------------------------------------------- inference
def _infer_setup(arch):
    def setup(impl):
        if impl not in IMPLS:
            raise Unavailable(f"no {impl} implementation")
        fw, model = _pair(arch, impl)
        model.eval()
        x = fw.from_numpy(_data(1)[0])
        if impl == "torch":
            def run():
                with fw.inference_mode():
                    return model(x)
            return run

        def run():
            with fw.no_grad():
                return model(x)
        return run
    return setup


def _infer_reference(arch):
    def ref():
        torch, tm = _torch_model(arch)
        tm.eval()
        with torch.no_grad():
            return tm(torch.from_numpy(_data(1)[0])).numpy()
    return ref


# ---------------------------------------------------------------------------- training step
def _train_setup(arch, batch):
    def setup(impl):
        if impl not in IMPLS:
            raise Unavailable(f"no {impl} implementation")
        fw, model = _pair(arch, impl)
        model.train()
        xa, ya = _data(batch)
        x, y = fw.from_numpy(xa), fw.from_numpy(ya)
        opt = fw.optim.Adam(model.parameters(), lr=1e-3)
        ce = fw.nn.functional.cross_entropy

        def run():
            opt.zero_grad()
            loss = ce(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return run
    return setup


def _flops(arch, batch, train):
    if arch == "mlp":
        f = 2 * batch * (784 * 256 + 256 * 128 + 128 * 10)
    else:
        f = 2 * batch * (28 * 28 * 32 * 9 + 14 * 14 * 64 * 32 * 9 + 3136 * 128 + 128 * 10)
    return 3 * f if train else f


def _case(op, shape, setup, reference=None, flops=0.0, rtol=1e-4, atol=1e-5, quick=None):
    return Case(op=op, shape=shape, setup=setup, reference=reference, flops=flops, impls=IMPLS,
                rtol=rtol, atol=atol, tags=("models",), quick=quick)


def _train_case(arch, batch):
    return _case(f"{arch}_train_step", f"b{batch}", _train_setup(arch, batch), None,
                 _flops(arch, batch, True),
                 quick=None if batch <= 8 else (lambda: _train_case(arch, 8)))


def _small(make):
    """A case that is already small enough for smoke runs is its own quick version."""
    case = make()
    case.quick = make
    return case


CASES = [
    _small(lambda: _case("tiny_graph_fwd_bwd", "3ops", _tiny_setup, _tiny_reference)),
    _small(lambda: _case("mlp_infer", "b1", _infer_setup("mlp"), _infer_reference("mlp"),
                         _flops("mlp", 1, False))),
    _small(lambda: _case("cnn_infer", "b1", _infer_setup("cnn"), _infer_reference("cnn"),
                         _flops("cnn", 1, False))),
    _train_case("mlp", 128),
    _train_case("cnn", 128),
]
