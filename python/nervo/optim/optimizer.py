"""Optimizer base class: param groups, per-parameter state, zero_grad, state_dict (torch.optim).

State arrays are NumPy arrays updated in place by one fused step per parameter. ``state_dict()``
uses torch's layout: ``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}``.
"""
from __future__ import annotations

import copy

import numpy as np

from nervo.tensor import Tensor

__all__ = ["Optimizer"]


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = {}
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params argument given to the optimizer should "
                            "be an iterable of Tensors or dicts, but got a Tensor")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group):
        name = type(self).__name__
        group = dict(group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor")
        group["params"] = params
        for k, v in self.defaults.items():
            if v is required and k not in group:
                raise ValueError(f"{name}: parameter group didn't specify a value of required "
                                 f"optimization parameter {k}")
            group.setdefault(k, v)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad._data[...] = 0

    def step(self, closure=None):
        raise NotImplementedError

    def _closure(self, closure):
        if closure is None:
            return None
        from nervo.autograd import enable_grad
        with enable_grad():
            return closure()

    # ------------------------------------------------------------------ state dict
    def state_dict(self):
        index = {}
        groups = []
        for g in self.param_groups:
            gd = {k: v for k, v in g.items() if k != "params"}
            ids = []
            for p in g["params"]:
                if id(p) not in index:
                    index[id(p)] = len(index)
                ids.append(index[id(p)])
            gd["params"] = ids
            groups.append(gd)
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                s = self.state.get(p)
                if s:
                    state[index[id(p)]] = {k: (Tensor._wrap(v) if isinstance(v, np.ndarray) else v)
                                           for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        name = type(self).__name__
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: loaded state dict has {len(groups)} "
                             f"parameter groups, the optimizer has {len(self.param_groups)}")
        for mine, theirs in zip(self.param_groups, groups):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError(f"{name}.load_state_dict: loaded state dict contains a parameter "
                                 "group that doesn't match the size of optimizer's group")
        id_map = {}
        for mine, theirs in zip(self.param_groups, groups):
            for p, i in zip(mine["params"], theirs["params"]):
                id_map[i] = p
        new_state = {}
        for k, s in state_dict["state"].items():
            k = int(k)
            if k not in id_map:
                continue
            p = id_map[k]
            ns = {}
            for sk, v in s.items():
                if isinstance(v, Tensor):
                    v = v._data
                elif hasattr(v, "detach") and hasattr(v, "numpy"):
                    v = v.detach().cpu().numpy()
                if isinstance(v, np.ndarray):
                    if sk == "step" or v.ndim == 0:
                        v = v.item()
                    else:
                        if v.shape != p._data.shape:
                            raise ValueError(f"{name}.load_state_dict: state {sk!r} of parameter "
                                             f"{k} has shape {v.shape}, expected "
                                             f"{p._data.shape}")
                        v = np.array(v, dtype=p._data.dtype)
                ns[sk] = v
            new_state[p] = ns
        self.state = new_state
        for mine, theirs in zip(self.param_groups, groups):
            for k, v in theirs.items():
                if k != "params":
                    mine[k] = copy.deepcopy(v)

    def __repr__(self):
        s = type(self).__name__ + " ("
        for i, g in enumerate(self.param_groups):
            s += f"\nParameter Group {i}"
            for k in sorted(g):
                if k != "params":
                    s += f"\n    {k}: {g[k]}"
        return s + "\n)"

    def __getstate__(self):
        return self.__dict__

    def __setstate__(self, state):
        self.__dict__.update(state)


def _check_lr(lr, name):
    if isinstance(lr, Tensor):
        lr = lr.item()
    if not 0.0 <= lr:
        raise ValueError(f"{name}: invalid learning rate: {lr}")
    return lr
