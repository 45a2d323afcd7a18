"""Module and Parameter: torch.nn.Module's API (parameters, buffers, children, state_dict, hooks,
train/eval) with a lean ``__call__``.

Speed notes: parameters, buffers and submodules are registered in the ``_parameters`` /
``_buffers`` / ``_modules`` dicts (for traversal, in registration order, as torch does) *and*
stored as plain instance attributes, so ``self.weight`` inside ``forward`` is an ordinary
attribute read rather than a ``__getattr__`` fallback. ``__call__`` runs hooks only when some are
registered.

Errors raised inside a layer's forward are re-raised with the layer's path in the model and its
description prefixed, e.g. ``in layer 'features.3' (Conv2d(8, 16, kernel_size=(3, 3), ...)):``.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from nervo.autograd import no_grad
from nervo.tensor import Tensor, _RemovableHandle

__all__ = ["Module", "Parameter", "Buffer", "IncompatibleKeys"]

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])

_global_forward_hooks = {}
_global_forward_pre_hooks = {}


class Parameter(Tensor):
    """A Tensor that a Module registers as a learnable parameter (requires_grad by default).

    ``Parameter(t)`` shares memory with tensor/array ``t``.
    """

    def __new__(cls, data=None, requires_grad=True):
        return object.__new__(cls)

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            a = np.empty((0,), np.float32)
        elif isinstance(data, Tensor):
            a = data._data
        elif isinstance(data, np.ndarray):
            a = data
        else:
            a = Tensor(data)._data
        self._data = a
        self.grad = None
        self.grad_fn = None
        self._hooks = None
        self._retain = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, proto):
        return (Parameter, (self._data, self.requires_grad))


class Buffer(Tensor):
    """Marks a tensor to be registered as a buffer when assigned to a Module attribute
    (torch.nn.Buffer)."""

    def __init__(self, data=None, persistent=True):
        super().__init__(data if data is not None else np.empty((0,), np.float32))
        self.persistent = persistent


def _addindent(s, n):
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


class Module:
    """Base class of every layer and model (torch.nn.Module)."""

    _version = 1
    training: bool

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments")
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent"] = set()
        d["_modules"] = {}
        d["_forward_hooks"] = {}
        d["_forward_pre_hooks"] = {}
        d["_backward_hooks"] = {}
        d["_state_dict_hooks"] = {}

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  '"forward" function')

    # ------------------------------------------------------------------ calling
    def __call__(self, *args, **kwargs):
        if self._forward_pre_hooks or self._forward_hooks or _global_forward_hooks \
                or _global_forward_pre_hooks:
            return self._call_with_hooks(args, kwargs)
        try:
            return self.forward(*args, **kwargs)
        except Exception as exc:
            _annotate(self, exc)
            raise

    def _call_with_hooks(self, args, kwargs):
        for hook in (*_global_forward_pre_hooks.values(), *self._forward_pre_hooks.values()):
            if type(hook) is _WithKwargs:
                r = hook.fn(self, args, kwargs)
                if r is not None:
                    if not (isinstance(r, tuple) and len(r) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of "
                                           f"(new_args, new_kwargs), but got {r}.")
                    args, kwargs = r
                continue
            r = hook(self, args)
            if r is not None:
                args = r if isinstance(r, tuple) else (r,)
        try:
            out = self.forward(*args, **kwargs)
        except Exception as exc:
            _annotate(self, exc)
            raise
        for hook in (*_global_forward_hooks.values(), *self._forward_hooks.values()):
            if type(hook) is _WithKwargs:
                r = hook.fn(self, args, kwargs, out)
            else:
                r = hook(self, args, out)
            if r is not None:
                out = r
        return out

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False):
        """``hook(module, inputs, output)`` (``hook(module, inputs, kwargs, output)`` with
        ``with_kwargs``) runs after forward; a non-None result replaces the output. ``prepend``
        runs it before the hooks already registered. Returns a handle with ``remove()``."""
        return _register(self._forward_hooks, _WithKwargs(hook) if with_kwargs else hook, prepend)

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """``hook(module, inputs)`` runs before forward; a non-None result replaces the inputs.
        With ``with_kwargs``: ``hook(module, args, kwargs)`` returning None or
        ``(new_args, new_kwargs)``."""
        return _register(self._forward_pre_hooks, _WithKwargs(hook) if with_kwargs else hook,
                         prepend)

    def register_full_backward_hook(self, hook):
        """``hook(module, grad_input, grad_output)`` runs when the gradient w.r.t. the module's
        output is computed (nervo passes grad_input=None: it calls the hook from the output's
        tensor hook). A returned value is ignored."""
        def fwd_hook(module, inputs, output):
            if isinstance(output, Tensor) and output.requires_grad:
                output.register_hook(lambda g: hook(module, None, (g,)) and None)
        return _RemovableHandle(self._forward_hooks, fwd_hook)

    def register_full_backward_pre_hook(self, hook):
        """``hook(module, grad_output)`` runs when the gradient w.r.t. the module's output is
        computed, before it flows into the module; a returned tuple replaces ``grad_output``
        (nervo calls it from the output's tensor hook, like register_full_backward_hook)."""
        def fwd_hook(module, inputs, output):
            if isinstance(output, Tensor) and output.requires_grad:
                def pre(g):
                    r = hook(module, (g,))
                    return r[0] if isinstance(r, (tuple, list)) else r
                output.register_hook(pre)
        return _RemovableHandle(self._forward_hooks, fwd_hook)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        # Same branch order as torch: a name keeps its slot (and its position in the registry,
        # so state_dict / children order does not change) when it is assigned again.
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            _discard(d, name, keep="_parameters")
            params[name] = value
            d[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(nervo.nn.Parameter or None expected)")
            params[name] = None
            d[name] = None
        elif isinstance(value, Module):
            if "_modules" not in d:
                raise AttributeError("cannot assign module before Module.__init__() call")
            _discard(d, name, keep="_modules")
            d["_modules"][name] = value
            d[name] = value
            self._modules_changed()
        elif "_modules" in d and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(nervo.nn.Module or None expected)")
            d["_modules"][name] = None
            d[name] = None
            self._modules_changed()
        elif isinstance(value, Buffer) or ("_buffers" in d and name in d["_buffers"]):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(nervo.Tensor or None expected)")
            persistent = value.persistent if isinstance(value, Buffer) else \
                name not in d["_non_persistent"]
            self.register_buffer(name, value, persistent)
        else:
            object.__setattr__(self, name, value)

    def __delattr__(self, name):
        d = self.__dict__
        for reg in ("_parameters", "_buffers", "_modules"):
            if name in d.get(reg, ()):
                del d[reg][name]
                d.pop(name, None)
                d["_non_persistent"].discard(name)
                if reg == "_modules":
                    self._modules_changed()
                return
        object.__delattr__(self, name)

    def _modules_changed(self):
        """Hook for containers that cache a plan of their children (Sequential)."""

    def register_parameter(self, name, param):
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"parameter name must be a non-empty string without '.', got {name!r}")
        _check_free(self, name, "_parameters")
        if param is None:
            self._parameters[name] = None
            self.__dict__[name] = None
        elif not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(nervo.nn.Parameter or None required)")
        else:
            setattr(self, name, param)

    def register_buffer(self, name, tensor, persistent=True):
        """Register a non-learnable tensor (running statistics); saved in state_dict if
        ``persistent``."""
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"buffer name must be a non-empty string without '.', got {name!r}")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(nervo.Tensor or None required)")
        _check_free(self, name, "_buffers")
        d = self.__dict__
        d["_buffers"][name] = tensor
        d[name] = tensor
        if persistent:
            d["_non_persistent"].discard(name)
        else:
            d["_non_persistent"].add(name)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if not isinstance(name, str) or "." in name or name == "":
            raise KeyError(f"module name must be a non-empty string without '.', got {name!r}")
        _check_free(self, name, "_modules")
        d = self.__dict__
        d["_modules"][name] = module
        d[name] = module
        self._modules_changed()

    register_module = add_module

    def get_submodule(self, target):
        if target == "":
            return self
        mod = self
        for item in target.split("."):
            if item not in mod._modules:
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = mod._modules[item]
        return mod

    def set_submodule(self, target, module, strict=False):
        """Set the submodule at dotted path ``target`` (its parent must exist); with ``strict``
        the submodule must already exist. Its position among the parent's children is kept when
        it is replaced (torch.nn.Module.set_submodule)."""
        if not isinstance(target, str) or target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        if module is not None and not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module).__name__}")
        parent_path, _, name = target.rpartition(".")
        parent = self.get_submodule(parent_path)
        if name not in parent._modules:
            if strict:
                raise AttributeError(f"{parent._get_name()} has no attribute `{name}`")
            if hasattr(parent, name):
                raise AttributeError(f"`{name}` is not an nn.Module")
        parent.add_module(name, module)

    def get_buffer(self, target):
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if name not in mod._buffers:
            raise AttributeError(f"{mod._get_name()} has no buffer `{name}`")
        return mod._buffers[name]

    def get_parameter(self, target):
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if name not in mod._parameters:
            raise AttributeError(f"{mod._get_name()} has no parameter `{name}`")
        return mod._parameters[name]

    # ------------------------------------------------------------------ traversal
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(name, module) for self and every descendant, depth-first in registration order."""
        out = []
        stack = [(prefix, self)]
        seen = set() if memo is None else memo
        while stack:
            name, m = stack.pop()
            if remove_duplicate:
                if id(m) in seen:
                    continue
                seen.add(id(m))
            out.append((name, m))
            children = [(name + ("." if name else "") + k, c) for k, c in m._modules.items()
                        if c is not None]
            stack.extend(reversed(children))
        return iter(out)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, get, prefix="", recurse=True, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mp, m in mods:
            for k, v in get(m):
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                if remove_duplicate:
                    seen.add(id(v))
                yield (mp + ("." if mp else "") + k, v)

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members(lambda m: m._parameters.items(), prefix, recurse,
                                   remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ------------------------------------------------------------------ state
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """Every parameter and persistent buffer by dotted name (torch's keys, in torch's order:
        a module's own parameters, then its buffers, then its children's). Values share memory
        with the model (detached unless ``keep_vars``)."""
        out = OrderedDict() if destination is None else destination
        for mp, m in self.named_modules(prefix=prefix[:-1] if prefix.endswith(".") else prefix,
                                        remove_duplicate=False):
            pre = mp + "." if mp else ""
            for k, p in m._parameters.items():
                if p is not None:
                    out[pre + k] = p if keep_vars else p.detach()
            for k, b in m._buffers.items():
                if b is not None and k not in m._non_persistent:
                    out[pre + k] = b if keep_vars else b.detach()
            for hook in m._state_dict_hooks.values():
                hook(m, out, pre)
        return out

    def _load_targets(self):
        targets = {}
        for mp, m in self.named_modules(remove_duplicate=False):
            pre = mp + "." if mp else ""
            for k, p in m._parameters.items():
                if p is not None:
                    targets[pre + k] = p
            for k, b in m._buffers.items():
                if b is not None and k not in m._non_persistent:
                    targets[pre + k] = b
        return targets

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy values from ``state_dict`` (nervo or torch tensors, or NumPy arrays) into this
        module's parameters and buffers, in place.

        Raises:
            RuntimeError: listing every missing key and unexpected key (when ``strict``) and every
                key whose shape differs; nothing is changed in that case.
        """
        targets = self._load_targets()
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        arrays = {}
        errors = []
        for k, t in targets.items():
            if k not in state_dict:
                continue
            try:
                a = _as_numpy(state_dict[k])
            except TypeError as exc:
                errors.append(f'value for "{k}" is not an array: {exc}')
                continue
            if a.shape != t._data.shape:
                errors.append(f"size mismatch for {k}: copying a param with shape {tuple(a.shape)}"
                              f" from checkpoint, the shape in current model is "
                              f"{tuple(t._data.shape)}.")
                continue
            arrays[k] = a
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {self._get_name()}:\n\t"
                               + "\n\t".join(errors))
        with no_grad():
            for k, a in arrays.items():
                t = targets[k]
                if assign:
                    t._data = np.array(a, dtype=t._data.dtype)
                else:
                    np.copyto(t._data, a, casting="unsafe")
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ modes, grads
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze every parameter."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:  # as torch: detach a gradient that has a graph (create_graph), then zero
                    p.grad.grad_fn = None
                    p.grad.requires_grad = False
                    p.grad._data[...] = 0

    def apply(self, fn):
        """Call ``fn(m)`` on every descendant (children first) and self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def to(self, *args, **kwargs):
        """Cast floating parameters and buffers to a dtype; device 'cpu' only."""
        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, str):
                if not a.startswith("cpu"):
                    raise ValueError(f"{self._get_name()}.to: only the 'cpu' device exists, got {a!r}")
            elif a is not None:
                dtype = a
        dev = kwargs.get("device")
        if dev is not None and not str(dev).startswith("cpu"):
            raise ValueError(f"{self._get_name()}.to: only the 'cpu' device exists, got {dev!r}")
        if dtype is not None:
            dt = np.dtype(dtype)
            for t in (*self.parameters(), *self.buffers()):
                if t._data.dtype.kind == "f" and t._data.dtype != dt:
                    t._data = t._data.astype(dt)
                    if t.grad is not None:
                        t.grad._data = t.grad._data.astype(dt)
        return self

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def cpu(self):
        return self

    def cuda(self, device=None):
        raise RuntimeError(f"{self._get_name()}.cuda: nervo runs on the CPU only (no CUDA "
                           "device); drop the .cuda() call")

    def half(self):
        raise TypeError(f"{self._get_name()}.half: nervo's kernels are float32/float64 only; "
                        "use .float() or .double()")

    bfloat16 = half

    def share_memory(self):
        return self

    # ------------------------------------------------------------------ repr
    def extra_repr(self):
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for k, m in self._modules.items():
            lines.append(f"({k}): " + _addindent(repr(m), 2))
        main = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"

    def __dir__(self):
        return sorted(set(super().__dir__()))

    def __getstate__(self):
        return self.__dict__.copy()

    def __setstate__(self, state):
        self.__dict__.update(state)


class _WithKwargs:
    """A hook registered with ``with_kwargs=True`` (called with the forward's kwargs too)."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn


def _register(store, hook, prepend):
    handle = _RemovableHandle(store, hook)
    if prepend:  # move the new entry first, in place (handles hold this dict)
        items = list(store.items())
        store.clear()
        store.update([items[-1]] + items[:-1])
    return handle


def _discard(d, name, keep):
    """Drop ``name`` from the registries other than ``keep`` (a parameter replacing a buffer of
    the same name, ...); its entry in ``keep``, if any, stays where it is (torch's remove_from)."""
    for reg in ("_parameters", "_buffers", "_modules"):
        r = d.get(reg)
        if reg != keep and r is not None and name in r:
            del r[name]
    if keep != "_buffers":
        d.get("_non_persistent", set()).discard(name)


def _check_free(module, name, reg):
    """register_parameter / register_buffer / add_module refuse a name that is already another
    kind of attribute (torch: "attribute 'x' already exists")."""
    d = module.__dict__
    if "_parameters" not in d:
        raise AttributeError(f"cannot register '{name}' before Module.__init__() call")
    if name not in d[reg] and hasattr(module, name):
        raise KeyError(f"attribute '{name}' already exists")


def _as_numpy(v) -> np.ndarray:
    if isinstance(v, Tensor):
        return v._data
    if isinstance(v, np.ndarray):
        return v
    if hasattr(v, "detach") and hasattr(v, "numpy"):  # a torch tensor
        return v.detach().cpu().numpy()
    if isinstance(v, (int, float, bool, np.generic)):
        return np.asarray(v)
    raise TypeError(f"expected a tensor or array, got {type(v).__name__}")


def _annotate(module, exc):
    """Prefix an exception raised in a forward with the layer's path and description.

    The innermost module records itself; each enclosing module's ``__call__`` prepends the name
    under which it holds the failing child, and the message is rebuilt at each level.
    """
    info = getattr(exc, "_nervo_layer", None)
    if info is None:
        if not exc.args or not isinstance(exc.args[0], str):
            return
        try:
            desc = repr(module) if not module._modules else module._get_name()
        except Exception:  # a broken extra_repr must not hide the real error
            desc = module._get_name()
        info = {"path": [], "cur": module, "desc": desc, "msg": exc.args[0]}
        try:
            exc._nervo_layer = info
        except AttributeError:
            return
    else:
        child = info["cur"]
        for name, c in module._modules.items():
            if c is child:
                info["path"].insert(0, name)
                break
        info["cur"] = module
    path = ".".join(info["path"])
    where = f"in layer '{path}' ({info['desc']})" if path else f"in {info['desc']}"
    exc.args = (f"{where}: {info['msg']}",) + tuple(exc.args[1:])


def register_module_forward_hook(hook):
    """A forward hook run for every module (torch.nn.modules.module.register_module_forward_hook)."""
    return _RemovableHandle(_global_forward_hooks, hook)


def register_module_forward_pre_hook(hook):
    return _RemovableHandle(_global_forward_pre_hooks, hook)
