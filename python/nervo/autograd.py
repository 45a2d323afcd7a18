"""Reverse-mode automatic differentiation: grad mode, graph nodes and the backward engine.

Every differentiable op (in ``nervo.functional``) computes its forward with NumPy or ``nervo.ops``
and, when some input requires a gradient and grad mode is on, attaches a :class:`Node` to its
output. A node holds the op's inputs and a ``backward`` closure mapping the gradient of the
output to a tuple of gradients, one per input (None where an input needs none). The closure
keeps what the forward saved; freeing a node (after ``backward()`` without ``retain_graph``)
drops the closure and with it the saved arrays.

``backward()`` orders the graph by an iterative depth-first search (no recursion, so graph depth
is unlimited) over the nodes' input lists in their recorded order, so the order, and with it
every floating-point sum, is deterministic.

Differences from torch, by design:

* Grad mode is process-wide, not thread-local: it is read on every op, and a global is the
  cheapest thing to read. Data-loading threads do not record graphs, so this is safe in practice.
* Backward closures work on NumPy arrays, so ``create_graph=True`` (higher-order gradients) is
  not supported and raises ``NotImplementedError``.
* In-place ops on tensors are not recorded; on a tensor that requires grad they raise while grad
  mode is on (as torch does for leaves).
"""
from __future__ import annotations

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


class Node:
    """One recorded op: ``backward(g)`` returns one gradient (or None) per entry of ``inputs``.

    ``name`` is the op's name (``"MulBackward"``), used in error messages and ``repr``.
    """

    __slots__ = ("backward", "inputs", "name")

    def __init__(self, backward, inputs, name):
        self.backward = backward
        self.inputs = inputs
        self.name = name

    def __repr__(self):
        return f"<{self.name}>"

    # torch spelling, for users who inspect graphs.
    def name_(self):
        return self.name

    @property
    def next_functions(self):
        return tuple((t.grad_fn, 0) if t is not None else (None, 0) for t in self.inputs)


def _topo_order(roots):
    """Tensors with a grad_fn reachable from ``roots``, each after every tensor that uses it
    (reverse post-order of an iterative DFS; deterministic)."""
    post = []
    visited = set()
    for root in roots:
        if root.grad_fn is None or id(root) in visited:
            continue
        visited.add(id(root))
        stack = [(root, iter(root.grad_fn.inputs))]
        while stack:
            t, it = stack[-1]
            for p in it:
                if p is not None and p.grad_fn is not None and id(p) not in visited:
                    visited.add(id(p))
                    stack.append((p, iter(p.grad_fn.inputs)))
                    break
            else:
                stack.pop()
                post.append(t)
    post.reverse()
    return post


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
    order = _topo_order(roots)
    grads = {}
    leaves = {}
    seen = set()
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
    target_ids = None
    found = None
    if targets is not None:
        target_ids = {id(t): i for i, t in enumerate(targets)}
        found = [None] * len(targets)
    for t in order:
        g = grads.pop(id(t), None)
        if g is None:
            continue
        if t._hooks:
            g = _apply_hooks(t, g)
        if targets is not None:
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
        gs = fn(g)
        if not retain_graph:
            node.backward = None
        for p, gp in zip(node.inputs, gs):
            if gp is None or p is None or not p.requires_grad:
                continue
            k = id(p)
            if p.grad_fn is None:
                prev = leaves.get(k)
                leaves[k] = (p, gp if prev is None else prev[1] + gp)
            else:
                prev = grads.get(k)
                grads[k] = gp if prev is None else prev + gp
    for k, (p, g) in leaves.items():
        if p._hooks:
            g = _apply_hooks(p, g)
        if targets is not None:
            i = target_ids.get(k)
            if i is not None:
                found[i] = g
        else:
            _accumulate(p, g, seen)
    return found


def _apply_hooks(t, g):
    from nervo.tensor import Tensor
    for hook in t._hooks.values():
        r = hook(Tensor._wrap(g))
        if r is not None:
            r = r._data if isinstance(r, Tensor) else np.asarray(r)
            _check_grad_shape(t, r, "a tensor hook")
            g = r
    return g


def _accumulate(t, g, seen):
    from nervo.tensor import Tensor
    cur = t.grad
    if cur is None:
        t.grad = Tensor._wrap(_owned(g, t._data.dtype, seen))
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


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(sum of tensors * grad_tensors)/d(leaf) into every leaf's ``.grad``."""
    from nervo.tensor import Tensor
    if create_graph:
        raise NotImplementedError("nervo.autograd.backward: create_graph=True (higher-order "
                                  "gradients) is not supported")
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    if isinstance(grad_tensors, (Tensor, np.ndarray)):
        grad_tensors = [grad_tensors]
    tensors = list(tensors)
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
    is touched (torch.autograd.grad).

    Raises:
        RuntimeError: an input was not used to compute outputs (unless ``allow_unused=True``, in
            which case its entry is None, or zeros with ``materialize_grads=True``).
    """
    from nervo.tensor import Tensor
    if create_graph:
        raise NotImplementedError("nervo.grad: create_graph=True (higher-order gradients) is not "
                                  "supported")
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
        else:
            res.append(Tensor._wrap(np.array(g, dtype=t._data.dtype, order="C")))
    return tuple(res)
