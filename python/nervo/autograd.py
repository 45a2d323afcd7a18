"""Reverse-mode automatic differentiation: grad mode, graph nodes and the backward engine.

Every differentiable op (in ``nervo.functional``) computes its forward with NumPy or ``nervo.ops``
and, when some input requires a gradient and grad mode is on, attaches a :class:`Node` to its
output. A node holds the op's inputs and a ``backward`` closure mapping the gradient of the
output to a tuple of gradients, one per input (None where an input needs none). The closure
keeps what the forward saved; freeing a node (after ``backward()`` without ``retain_graph``)
drops the closure and with it the saved arrays.

``backward()`` walks the graph without recursion (so graph depth is unlimited) in reverse
creation order: every node carries a sequence number from a global counter, and creation order
is a topological order, so a max-heap on that number yields each node after all its consumers.
The order, and with it every floating-point sum, is deterministic (no set or address ordering).

Differences from torch, by design:

* Grad mode is process-wide, not thread-local: it is read on every op, and a global is the
  cheapest thing to read. Data-loading threads do not record graphs, so this is safe in practice.
* Backward closures work on NumPy arrays (the fast path). ``create_graph=True`` (higher-order
  gradients) runs a second engine, :func:`_run_graph`, that calls each node's *differentiable*
  backward instead: a function registered per node name (:func:`twice`) that builds the gradient
  from recorded Tensor ops, so the result has a graph of its own. Nodes without one raise a
  RuntimeError naming the op (never a silently constant gradient). The differentiable backwards
  read the forward's hyperparameters from the NumPy closure's captured variables
  (:func:`saved`), so recording an op costs nothing extra for create_graph.
* In-place ops (``add_``, ``x[i] = v``, ``+=``, ...) are recorded (see "In-place ops" below),
  with torch's checks: on a leaf that requires grad they raise in grad mode, and a backward that
  needs a value overwritten in place since it was saved raises a RuntimeError. Unlike torch, an
  in-place op on a *view* of a tensor that requires grad raises instead of rewriting the base's
  history ("clone() the view first").
"""
from __future__ import annotations

import heapq
import itertools
import weakref

import numpy as np

__all__ = [
    "Node", "no_grad", "enable_grad", "inference_mode", "set_grad_enabled", "is_grad_enabled",
    "backward", "grad",
]


class _GradMode:
    __slots__ = ("enabled",)

    def __init__(self):
        self.enabled = True


# Read by every op; `mode.enabled` is one attribute load.
mode = _GradMode()


def is_grad_enabled() -> bool:
    return mode.enabled


class _ModeContext:
    """Base of the grad-mode context managers; also usable as function decorators."""

    _value = True

    def __enter__(self):
        self._prev = mode.enabled
        mode.enabled = self._value
        return self

    def __exit__(self, *exc):
        mode.enabled = self._prev
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_ModeContext):
    """Context manager / decorator: ops inside record nothing (torch.no_grad)."""

    _value = False


class enable_grad(_ModeContext):
    """Context manager / decorator: turn recording back on inside a no_grad block."""

    _value = True


class inference_mode(_ModeContext):
    """Like :class:`no_grad` (nervo has no separate inference tensors). ``mode=False`` is a no-op."""

    def __init__(self, mode_: bool = True):
        self._value = not mode_

    def __call__(self, fn):
        import functools

        value = self._value

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = mode.enabled
            mode.enabled = value
            try:
                return fn(*args, **kwargs)
            finally:
                mode.enabled = prev
        return wrapper


class set_grad_enabled(_ModeContext):
    """Set grad mode to ``mode_`` now (as a function) or for a ``with`` block."""

    def __init__(self, mode_: bool):
        self._prev = mode.enabled
        self._value = bool(mode_)
        mode.enabled = self._value

    def __enter__(self):
        return self


# Creation order is a topological order (an op's output is made after its inputs), so the engine
# processes nodes by decreasing sequence number.
_next_seq = itertools.count().__next__
_Tensor = None  # nervo.tensor.Tensor, set by that module (it imports this one)


class Node:
    """One recorded op: ``backward(g)`` returns one gradient (or None) per entry of ``inputs``.

    ``name`` is the op's name (``"MulBackward"``), used in error messages and ``repr``.
    """

    # NOTE: ``ctx`` is left unset unless an op stores extra values its differentiable backward
    # needs (read with getattr(node, "ctx", None)); setting it on every node would cost every op.
    __slots__ = ("backward", "inputs", "name", "seq", "ctx")

    def __init__(self, backward, inputs, name):
        self.backward = backward
        self.inputs = inputs
        self.name = name
        self.seq = _next_seq()

    def __repr__(self):
        return f"<{self.name}>"

    # torch spelling, for users who inspect graphs.
    def name_(self):
        return self.name

    @property
    def next_functions(self):
        return tuple((t.grad_fn, 0) if t is not None else (None, 0) for t in self.inputs)


def _topo_order(roots):
    """Tensors with a grad_fn reachable from ``roots``, each before every tensor it was computed
    from (decreasing creation order). For inspection and tests; the engine walks the same order
    lazily with a heap."""
    seen = set()
    stack = [r for r in roots if r.grad_fn is not None]
    found = []
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        found.append(t)
        stack.extend(p for p in t.grad_fn.inputs if p is not None and p.grad_fn is not None)
    found.sort(key=lambda t: -t.grad_fn.seq)
    return found


def _owned(g: np.ndarray, dtype, seen: set) -> np.ndarray:
    """``g`` as an array the caller may keep and update in place: writable, C-contiguous, of
    ``dtype``, not sharing memory with any other gradient handed out in this pass."""
    base = g.base if g.base is not None else g
    if (g.dtype != dtype or not g.flags.writeable or not g.flags.c_contiguous
            or id(base) in seen):
        g = np.array(g, dtype=dtype, order="C")
        base = g
    seen.add(id(base))
    return g


def _check_grad_shape(t, g, what):
    if g.shape != t._data.shape:
        raise RuntimeError(f"{what}: gradient has shape {tuple(g.shape)} but the tensor has shape "
                           f"{tuple(t._data.shape)}")


def _run(roots, root_grads, retain_graph, targets=None):
    """The engine. Without ``targets``: accumulate into ``.grad`` of leaves (and of tensors that
    called ``retain_grad()``). With ``targets`` (a list of tensors): return their gradients
    (None where unreachable) and touch no ``.grad``."""
    grads = {}    # id(tensor) -> gradient summed so far (tensors in the heap)
    leaves = {}   # id(leaf) -> (leaf, gradient)
    heap = []
    seen = set()  # ids of array buffers handed out as .grad in this pass
    push, pop = heapq.heappush, heapq.heappop
    for r, g in zip(roots, root_grads):
        seen.add(id(g.base if g.base is not None else g))  # never hand out the caller's array
        k = id(r)
        if r.grad_fn is None:  # backward() called on a leaf itself
            prev = leaves.get(k)
            leaves[k] = (r, g if prev is None else prev[1] + g)
        elif k in grads:
            grads[k] = grads[k] + g
        else:
            grads[k] = g
            push(heap, (-r.grad_fn.seq, r))
    target_ids = found = None
    if targets is not None:
        target_ids = {id(t): i for i, t in enumerate(targets)}
        found = [None] * len(targets)
    last_write = _state.last
    while heap:
        t = pop(heap)[1]
        g = grads.pop(id(t))
        if t._hooks:
            g = _apply_hooks(t, g)
        if target_ids is not None:
            i = target_ids.get(id(t))
            if i is not None:
                found[i] = g
        elif t._retain:
            _accumulate(t, g, seen)
        node = t.grad_fn
        fn = node.backward
        if fn is None:
            raise RuntimeError(
                f"Trying to backward through the graph a second time (at {node.name}, whose saved "
                "arrays were freed by the first backward()); call backward(retain_graph=True) the "
                "first time if you need to backward twice")
        inputs = node.inputs if node.seq > last_write else _check_inplace(node, t)
        gs = fn(g)
        if not retain_graph:
            node.backward = None
        for p, gp in zip(inputs, gs):
            if gp is None or p is None or not p.requires_grad:
                continue
            k = id(p)
            pf = p.grad_fn
            if pf is None:
                prev = leaves.get(k)
                leaves[k] = (p, gp if prev is None else prev[1] + gp)
            else:
                prev = grads.get(k)
                if prev is None:
                    grads[k] = gp
                    push(heap, (-pf.seq, p))
                else:
                    grads[k] = prev + gp
    for k, (p, g) in leaves.items():
        if p._hooks:
            g = _apply_hooks(p, g)
        if target_ids is not None:
            i = target_ids.get(k)
            if i is not None:
                found[i] = g
        else:
            _accumulate(p, g, seen)
    return found


def _apply_hooks(t, g):
    Tensor = _Tensor
    for hook in t._hooks.values():
        r = hook(Tensor._wrap(g))
        if r is not None:
            r = r._data if isinstance(r, Tensor) else np.asarray(r)
            _check_grad_shape(t, r, "a tensor hook")
            g = r
    return g


def _accumulate(t, g, seen):
    cur = t.grad
    if cur is None:
        t.grad = _Tensor._wrap(_owned(g, t._data.dtype, seen))
    elif cur.requires_grad:  # a .grad with a graph (from create_graph): never write into it
        t.grad = _Tensor._wrap((cur._data + g).astype(t._data.dtype, copy=False))
    else:
        a = cur._data
        if a.flags.writeable and a.shape == g.shape:
            np.add(a, g, out=a, casting="unsafe")
        else:
            cur._data = (a + g).astype(t._data.dtype, copy=False)


def _root_grads(tensors, grad_tensors, call):
    from nervo.tensor import Tensor
    out = []
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{call}: expected Tensors, got {type(t).__name__} at position {i}")
        if not t.requires_grad:
            raise RuntimeError(f"{call}: element {i} of tensors does not require grad and does not "
                               "have a grad_fn")
        g = grad_tensors[i] if grad_tensors is not None else None
        if g is None:
            if t._data.size != 1:
                raise RuntimeError(f"{call}: grad can be implicitly created only for scalar "
                                   f"outputs (got shape {tuple(t._data.shape)}); pass gradient=")
            g = np.ones(t._data.shape, t._data.dtype)
        else:
            g = g._data if isinstance(g, Tensor) else np.asarray(g, dtype=t._data.dtype)
            _check_grad_shape(t, g, call)
        out.append(g)
    return out


# --------------------------------------------------------------------------- in-place ops
# Version tracking without a counter on every tensor (which every op would pay for):
#
# * Every in-place write into an array is logged against the array's root base (so views and
#   aliases share it) with a fresh sequence number from the node counter: ``_mods``. A node
#   created *before* that number and that saved the written array would read a changed value.
# * A recorded in-place op on tensor t moves t's old identity to a proxy Tensor (old grad_fn,
#   a snapshot of the old values, ``_inplace`` = the write's number) and gives t a new grad_fn
#   whose input is the proxy; t keeps a history ``_inplace`` = [(number, proxy), ...] so that an
#   edge recorded before the write is routed to the proxy (to the version it saw).
#
# The engine looks at any of this only for nodes older than the latest write (``_state.last``),
# so training loops (writes happen before the forward, or under no_grad after backward) pay one
# integer compare per node.
class _InplaceState:
    __slots__ = ("last",)

    def __init__(self):
        self.last = -1


_state = _InplaceState()
_mods = {}  # id(root base array) -> (sequence number of the last write, weakref to the array)


def _root(a):
    b = a.base
    while isinstance(b, np.ndarray):
        a, b = b, b.base
    return a


def _forget(k, ref):
    ent = _mods.get(k)
    if ent is not None and ent[1] is ref:
        del _mods[k]


def bump(a, seq=None) -> int:
    """Log an in-place write into array ``a`` (and every view of its memory) under ``seq`` (a
    fresh number by default); returns the number."""
    if seq is None:
        seq = _next_seq()
    base = _root(a)
    k = id(base)
    ent = _mods.get(k)
    if ent is not None and ent[1]() is base:
        ref = ent[1]
    else:
        try:
            ref = weakref.ref(base, lambda r, k=k: _forget(k, r))
        except TypeError:  # an array type without weakref support: untracked
            return seq
    _mods[k] = (seq, ref)
    _state.last = seq
    return seq


def _written(t) -> int:
    """Sequence number of the last in-place write into t's values (-1 if none)."""
    base = _root(t._data)
    ent = _mods.get(id(base))
    w = ent[0] if ent is not None and ent[1]() is base else -1
    mark = getattr(t, "_inplace", None)  # a proxy: its values were overwritten at `mark`
    if type(mark) is int and mark > w:
        w = mark
    return w


# Ops whose backward reads none of its inputs' values / does not read its output's values.
# Unknown names count as reading both (a clear error beats a silently wrong gradient).
_NO_INPUT_VALUES = frozenset((
    "AddBackward", "SubBackward", "RsubBackward", "NegBackward", "SumBackward", "MeanBackward",
    "ReshapeBackward", "PermuteBackward", "TransposeBackward", "ExpandBackward", "CatBackward",
    "IndexBackward", "GatherBackward", "IndexSelectBackward", "MaskedFillBackward",
    "WhereBackward", "ToCopyBackward", "CloneBackward", "CumsumBackward", "SignBackward",
    "DropoutBackward", "EmbeddingBackward", "reluBackward", "sigmoidBackward", "tanhBackward",
    "SoftmaxBackward", "LogSoftmaxBackward", "ExpBackward", "Expm1Backward", "SqrtBackward",
    "RsqrtBackward", "ReciprocalBackward", "CopySlices", "IndexPutBackward",
    "MaxPool2DBackward", "AvgPool2DBackward", "AdaptiveAvgPool2DBackward", "PoolGradBackward"))
_NO_OUTPUT_VALUE = frozenset((
    "AddBackward", "SubBackward", "RsubBackward", "NegBackward", "MulBackward", "SumBackward",
    "MeanBackward", "VarBackward", "ReshapeBackward", "PermuteBackward", "TransposeBackward",
    "ExpandBackward", "AbsBackward", "LogBackward", "Log1pBackward", "SquareBackward",
    "SinBackward", "CosBackward", "SignBackward", "ClampBackward", "WhereBackward",
    "MaximumBackward", "MinimumBackward", "MmBackward", "MatmulBackward", "CatBackward",
    "IndexBackward", "GatherBackward", "IndexSelectBackward", "MaskedFillBackward",
    "ToCopyBackward", "CloneBackward", "CumsumBackward", "DropoutBackward", "EmbeddingBackward",
    "LeakyReluBackward", "EluBackward", "GeluBackward", "SoftplusBackward", "HardtanhBackward",
    "HardsigmoidBackward", "SoftsignBackward", "LogSigmoidBackward", "PreluBackward",
    "seluBackward", "siluBackward", "mishBackward", "hardswishBackward", "LayerNormBackward",
    "BatchNormBackward", "GroupNormBackward", "ConvTransposeBackward", "CopySlices",
    "IndexPutBackward", "MaxPool2DBackward", "AvgPool2DBackward", "AdaptiveAvgPool2DBackward",
    "PoolGradBackward", "ConvWeightGradBackward", "GeluGradBackward", "CrossEntropyBackward",
    "NllLossBackward", "MseLossBackward", "L1LossBackward",
    "HuberLossBackward", "SmoothL1LossBackward", "BinaryCrossEntropyWithLogitsBackward",
    "BinaryCrossEntropyBackward", "KlDivBackward"))
# Ops whose output aliases their input's memory (numpy views).
_VIEW_OPS = frozenset(("ReshapeBackward", "PermuteBackward", "TransposeBackward",
                       "ExpandBackward", "IndexBackward"))


def _reads_inputs(node):
    if node.name in _NO_INPUT_VALUES:
        return False
    if node.name in ("MulBackward", "DivBackward") and len(node.inputs) == 1:
        return "ad" in saved(node.backward)  # x * scalar, x / scalar save nothing; c / x does
    return True


def _reads_output(node):
    name = node.name
    if name in _NO_OUTPUT_VALUE:
        return False
    if name == "DivBackward" and len(node.inputs) == 1:
        return "ad" in saved(node.backward)
    if name == "PowBackward" and len(node.inputs) == 1:
        return "lb" in saved(node.backward)
    if name == "LinearBackward":
        return saved(node.backward)["act_bw"] is not None
    if name == "ConvolutionBackward":
        return bool(saved(node.backward)["relu"])
    return True


def _modified_error(node, what, t, seq):
    return RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: {what} of {node.name} (shape {tuple(t._data.shape)}, dtype "
        f"{t._data.dtype}) was overwritten after {node.name} saved it. Use an out-of-place op "
        "or clone() the tensor before modifying it")


def _check_inplace(node, out):
    """Raise if ``node`` (older than some in-place write) would read overwritten values, and
    return its inputs routed to the versions it saw."""
    seq = node.seq
    if _written(out) > seq and _reads_output(node):
        raise _modified_error(node, "the output", out, seq)
    reads = None
    routed = []
    for i, p in enumerate(node.inputs):
        if p is not None:
            if _written(p) > seq:
                if reads is None:
                    reads = _reads_inputs(node)
                if reads:
                    raise _modified_error(node, f"input {i}", p, seq)
            hist = getattr(p, "_inplace", None)
            if type(hist) is list and hist[-1][0] > seq:
                if node.name in _VIEW_OPS:
                    raise RuntimeError(
                        f"{node.name}: its input was modified in place after this view of it was "
                        "taken; nervo's autograd cannot rebase views (torch can). Take the view "
                        "after the in-place op, or clone() it")
                for when, proxy in hist:
                    if when > seq:
                        p = proxy
                        break
        routed.append(p)
    return routed


# --------------------------------------------------------------------------- create_graph
# Differentiable backwards: node name -> fn(node, out, g) returning one Tensor (or None) per entry
# of node.inputs, built from recorded Tensor ops. ``out`` is the node's output Tensor, ``g`` the
# gradient of it (a Tensor that may itself have a graph).
_TWICE = {}


def twice(*names):
    """Decorator: register ``fn(node, out, g)`` as the differentiable backward of ``names``."""
    def deco(fn):
        for n in names:
            _TWICE[n] = fn
        return fn
    return deco


def saved(fn) -> dict:
    """The variables a backward closure captured, by name (the forward's saved values and
    hyperparameters). NOTE: this is how differentiable backwards read them without the forward
    storing anything twice; a test runs every op through create_graph, so a renamed variable
    fails loudly."""
    cells = fn.__closure__
    if not cells:
        return {}
    return dict(zip(fn.__code__.co_freevars, (c.cell_contents for c in cells)))


def _not_twice(node):
    return RuntimeError(
        f"{node.name} is not twice differentiable in nervo: backward(create_graph=True) / "
        f"nervo.grad(create_graph=True) cannot build a gradient graph through it. Compute this "
        "part without create_graph, or express the op with differentiable Tensor ops")


def _run_graph(roots, root_grads, retain_graph, targets=None):
    """The create_graph engine: like :func:`_run` but gradients are Tensors computed by recorded
    ops (grad mode on), so they can be differentiated again. Same order, same sums."""
    Tensor = _Tensor
    prev_mode = mode.enabled
    mode.enabled = True
    try:
        grads, leaves, heap = {}, {}, []
        push, pop = heapq.heappush, heapq.heappop

        def add_leaf(p, g):
            k = id(p)
            prev = leaves.get(k)
            leaves[k] = (p, g if prev is None else prev[1] + g)

        for r, g in zip(roots, root_grads):
            if r.grad_fn is None:
                add_leaf(r, g)
            elif id(r) in grads:
                grads[id(r)] = grads[id(r)] + g
            else:
                grads[id(r)] = g
                push(heap, (-r.grad_fn.seq, r))
        target_ids = found = None
        if targets is not None:
            target_ids = {id(t): i for i, t in enumerate(targets)}
            found = [None] * len(targets)
        while heap:
            t = pop(heap)[1]
            g = grads.pop(id(t))
            if t._hooks:
                g = _apply_hooks_graph(t, g)
            if target_ids is not None:
                i = target_ids.get(id(t))
                if i is not None:
                    found[i] = g
            elif t._retain:
                _accumulate_graph(t, g)
            node = t.grad_fn
            if node.backward is None:
                raise RuntimeError(
                    f"Trying to backward through the graph a second time (at {node.name}, whose "
                    "saved arrays were freed by an earlier backward()); pass retain_graph=True "
                    "the first time")
            inputs = node.inputs if node.seq > _state.last else _check_inplace(node, t)
            fn = _TWICE.get(node.name)
            if fn is None:
                raise _not_twice(node)
            gs = fn(node, t, g)
            if not retain_graph:
                node.backward = None
            for p, gp in zip(inputs, gs):
                if gp is None or p is None or not p.requires_grad:
                    continue
                if not isinstance(gp, Tensor):
                    gp = Tensor._wrap(np.asarray(gp))
                if gp._data.shape != p._data.shape:
                    raise RuntimeError(f"{node.name} (create_graph): gradient of shape "
                                       f"{tuple(gp._data.shape)} for an input of shape "
                                       f"{tuple(p._data.shape)}")
                pf = p.grad_fn
                if pf is None:
                    add_leaf(p, gp)
                else:
                    k = id(p)
                    prev = grads.get(k)
                    if prev is None:
                        grads[k] = gp
                        push(heap, (-pf.seq, p))
                    else:
                        grads[k] = prev + gp
        for k, (p, g) in leaves.items():
            if p._hooks:
                g = _apply_hooks_graph(p, g)
            if target_ids is not None:
                i = target_ids.get(k)
                if i is not None:
                    found[i] = g
            else:
                _accumulate_graph(p, g)
        return found
    finally:
        mode.enabled = prev_mode


def _apply_hooks_graph(t, g):
    Tensor = _Tensor
    for hook in t._hooks.values():
        r = hook(g)
        if r is not None:
            r = r if isinstance(r, Tensor) else Tensor._wrap(np.asarray(r))
            _check_grad_shape(t, r._data, "a tensor hook")
            g = r
    return g


def _accumulate_graph(t, g):
    """``.grad`` becomes (or, out of place, adds) ``g`` with its graph (torch's create_graph
    rule). A read-only or broadcast gradient is copied (by a recorded clone) so that ``.grad``
    can later be updated in place."""
    a = g._data
    if a.dtype != t._data.dtype:
        g = g.to(t._data.dtype)
    elif not (a.flags.writeable and a.flags.c_contiguous) or (a.base is not None):
        g = g.clone()
    t.grad = g if t.grad is None else t.grad + g


def _graph_root_grads(tensors, grad_tensors, call):
    """Root gradients as Tensors (a given Tensor is kept as is: it may have a graph)."""
    Tensor = _Tensor
    arrays = _root_grads(tensors, grad_tensors, call)
    out = []
    for i, a in enumerate(arrays):
        g = grad_tensors[i] if grad_tensors is not None else None
        out.append(g if isinstance(g, Tensor) else Tensor._wrap(a))
    return out


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(sum of tensors * grad_tensors)/d(leaf) into every leaf's ``.grad``.

    With ``create_graph=True`` the gradients are built from recorded ops (``.grad`` then has a
    ``grad_fn`` and can be differentiated again); ``retain_graph`` defaults to ``create_graph``.
    """
    from nervo.tensor import Tensor
    if retain_graph is None:
        retain_graph = create_graph
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    if isinstance(grad_tensors, (Tensor, np.ndarray)):
        grad_tensors = [grad_tensors]
    tensors = list(tensors)
    if grad_tensors is not None:
        grad_tensors = list(grad_tensors)
    if create_graph:
        roots = _graph_root_grads(tensors, grad_tensors, "backward")
        if inputs is not None:
            inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
            found = _run_graph(tensors, roots, retain_graph, inputs)
            for t, g in zip(inputs, found):
                if g is not None:
                    _accumulate_graph(t, g)
            return
        _run_graph(tensors, roots, retain_graph)
        return
    roots = _root_grads(tensors, grad_tensors, "backward")
    if inputs is not None:
        if isinstance(inputs, Tensor):
            inputs = [inputs]
        inputs = list(inputs)
        found = _run(tensors, roots, bool(retain_graph), inputs)
        for t, g in zip(inputs, found):
            if g is not None:
                _accumulate(t, g, set())
        return
    _run(tensors, roots, bool(retain_graph))


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """Gradients of ``outputs`` w.r.t. ``inputs``, returned as a tuple of Tensors; no ``.grad``
    is touched (torch.autograd.grad). With ``create_graph=True`` the returned gradients have a
    graph (higher-order gradients: Hessian-vector products, gradient penalties);
    ``retain_graph`` then defaults to True.

    Raises:
        RuntimeError: an input was not used to compute outputs (unless ``allow_unused=True``, in
            which case its entry is None, or zeros with ``materialize_grads=True``).
    """
    from nervo.tensor import Tensor
    if retain_graph is None:
        retain_graph = create_graph
    if isinstance(outputs, Tensor):
        outputs = [outputs]
    if isinstance(inputs, Tensor):
        inputs = [inputs]
    if isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs]
    outputs, inputs = list(outputs), list(inputs)
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"nervo.grad: input {i} does not require grad")
    if grad_outputs is not None:
        grad_outputs = list(grad_outputs)
    if create_graph:
        roots = _graph_root_grads(outputs, grad_outputs, "nervo.grad")
        found = _run_graph(outputs, roots, bool(retain_graph), inputs)
    else:
        roots = _root_grads(outputs, grad_outputs, "nervo.grad")
        found = _run(outputs, roots, bool(retain_graph), inputs)
    res = []
    for i, (t, g) in enumerate(zip(inputs, found)):
        if g is None:
            if materialize_grads:
                res.append(Tensor._wrap(np.zeros_like(t._data)))
                continue
            if not allow_unused:
                raise RuntimeError(f"nervo.grad: input {i} was not used to compute the outputs "
                                   "(pass allow_unused=True to get None for it)")
            res.append(None)
        elif create_graph:
            res.append(g if g._data.dtype == t._data.dtype else g.to(t._data.dtype))
        else:
            res.append(Tensor._wrap(np.array(g, dtype=t._data.dtype, order="C")))
    return tuple(res)
