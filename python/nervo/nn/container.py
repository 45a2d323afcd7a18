"""Containers: Sequential, ModuleList, ModuleDict, ParameterList (torch's names and keys).

Sequential runs a cached *plan* of its children: a ``Linear`` directly followed by an activation
the GEMM epilogue can apply (ReLU, Sigmoid, Tanh) becomes one fused call (one kernel call and one
autograd node instead of two), and plain layers are called through their ``forward`` without
the generic ``Module.__call__`` path. The plan is rebuilt whenever the children change; a layer
with hooks is always called normally.
"""
from __future__ import annotations

from collections import OrderedDict
from itertools import islice

from nervo.nn.module import Module, Parameter, _annotate

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"]


def _fusable_activation(m):
    from nervo.nn.activation import ReLU, Sigmoid, Tanh
    t = type(m)
    if t is ReLU:
        return "relu"
    if t is Sigmoid:
        return "sigmoid"
    if t is Tanh:
        return "tanh"
    return None


class Sequential(Module):
    """Children called in order: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Accepts modules as positional arguments or one OrderedDict of name -> module.
    """

    def __init__(self, *args):
        super().__init__()
        self.__dict__["_plan"] = None
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for k, m in args[0].items():
                self.add_module(k, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def _modules_changed(self):
        self.__dict__["_plan"] = None

    def _build_plan(self):
        """[(kind, payload)] steps; kind 0: call module; kind 1: fused linear+activation."""
        from nervo.nn.linear import Linear
        mods = [(k, m) for k, m in self._modules.items() if m is not None]
        plan = []
        i = 0
        while i < len(mods):
            k, m = mods[i]
            if type(m) is Linear and i + 1 < len(mods):
                act = _fusable_activation(mods[i + 1][1])
                if act is not None:
                    plan.append((1, (m, mods[i + 1][1], act)))
                    i += 2
                    continue
            plan.append((0, m))
            i += 1
        self.__dict__["_plan"] = plan
        return plan

    def forward(self, input):
        plan = self._plan
        if plan is None:
            plan = self._build_plan()
        x = input
        for kind, p in plan:
            if kind == 0:
                x = p(x)
            else:
                lin, act_mod, act = p
                if lin._forward_hooks or lin._forward_pre_hooks or act_mod._forward_hooks \
                        or act_mod._forward_pre_hooks:
                    x = act_mod(lin(x))
                else:
                    try:
                        x = lin._fused_forward(x, act)
                    except Exception as exc:
                        _annotate(lin, exc)
                        raise
        return x

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        n = len(mods)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for Sequential of length {n}")
        return mods[idx % n]

    def __setitem__(self, idx, module):
        key = list(self._modules.keys())[idx]
        setattr(self, key, module)

    def __delitem__(self, idx):
        keys = list(self._modules.keys())
        for k in (keys[idx] if isinstance(idx, slice) else [keys[idx]]):
            delattr(self, k)
        # Renumber to keep keys contiguous, as torch does.
        items = list(self._modules.items())
        for k, _ in items:
            self.__dict__.pop(k, None)
        self._modules.clear()
        for i, (_, m) in enumerate(items):
            self.add_module(str(i), m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        mods = list(self._modules.values())
        mods.insert(index, module)
        for k in list(self._modules.keys()):
            self.__dict__.pop(k, None)
        self._modules.clear()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)
        return self


class ModuleList(Module):
    """A list of modules whose parameters are registered (keys "0", "1", ...)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for ModuleList of length {n}")
        return self._modules[str(idx % n)]

    def __setitem__(self, idx, module):
        self.add_module(str(idx % len(self)), module)

    def __delitem__(self, idx):
        mods = list(self._modules.values())
        del mods[idx]
        for k in list(self._modules.keys()):
            self.__dict__.pop(k, None)
        self._modules.clear()
        self.extend(mods)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        mods = list(self._modules.values())
        mods.insert(index, module)
        for k in list(self._modules.keys()):
            self.__dict__.pop(k, None)
        self._modules.clear()
        self.extend(mods)


class ModuleDict(Module):
    """An ordered dict of modules whose parameters are registered under their keys."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        delattr(self, key)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def pop(self, key):
        m = self._modules[key]
        delattr(self, key)
        return m

    def clear(self):
        for k in list(self._modules):
            delattr(self, k)

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for k, m in items:
            self[k] = m


class ParameterList(Module):
    """A list of Parameters registered under "0", "1", ..."""

    def __init__(self, values=None):
        super().__init__()
        self.__dict__["_n"] = 0
        for v in values or ():
            self.append(v)

    def append(self, value):
        if not isinstance(value, Parameter):
            value = Parameter(value)
        self.register_parameter(str(self._n), value)
        self.__dict__["_n"] += 1
        return self

    def extend(self, values):
        for v in values:
            self.append(v)
        return self

    def __getitem__(self, idx):
        return list(self._parameters.values())[idx]

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())


class ParameterDict(Module):
    def __init__(self, parameters=None):
        super().__init__()
        for k, v in (parameters or {}).items():
            self[k] = v

    def __setitem__(self, key, value):
        if not isinstance(value, Parameter):
            value = Parameter(value)
        self.register_parameter(key, value)

    def __getitem__(self, key):
        return self._parameters[key]

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters)

    def keys(self):
        return self._parameters.keys()

    def items(self):
        return self._parameters.items()

    def values(self):
        return self._parameters.values()


del islice
