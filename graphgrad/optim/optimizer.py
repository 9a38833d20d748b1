"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad`` and ``step``, as in ``torch.optim``."""
from __future__ import annotations

import copy
from collections import defaultdict
from typing import Callable, Iterable

from ..runtime.autograd import reset_grad
from ..runtime.grad_mode import enable_grad, no_grad
from ..runtime.tensor import Tensor


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Base class: subclasses give ``defaults`` and implement ``_update(group)`` for one parameter group.

    ``params`` is an iterable of tensors or of dicts (parameter groups whose keys override the defaults).
    Updates run under ``no_grad`` and change parameters in place, so their version counters advance.
    """

    def __init__(self, params: Iterable, defaults: dict):
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {params.type()}")
        self.defaults = defaults
        # a defaultdict, as PyTorch's: custom optimizers read self.state[p] before anything is stored
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own options (e.g. a smaller ``lr`` for a pretrained body)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = param_group  # the caller's dict itself, as in PyTorch: later changes to it reach the optimizer
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]  # (name, tensor) pairs: named parameters
        group["params"] = params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            group["param_names"] = names
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__module__}.{type(p).__qualname__}".replace("builtins.", ""))
            if not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for other in self.param_groups:
            if ("param_names" in group) != ("param_names" in other):
                raise ValueError("all optimizer param groups should be with/without names. cannot add param group "
                                 f"{'with' if 'param_names' in group else 'without'} names to the optimizer")
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            group.setdefault(name, default)
        self._check_group(group)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params) or len({id(p) for p in params}) != len(params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        """Validate a group's options (subclasses raise PyTorch's ValueError texts)."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every optimized parameter: to None (the default) or to zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                reset_grad(p, set_to_none)

    def step(self, closure: Callable[[], Tensor] | None = None):
        """Update every parameter that has a gradient; ``closure`` re-evaluates the loss first if given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                self._update(group)
        return loss

    def _update(self, group: dict) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement its update")

    # -- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}``, parameters by index."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: s for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore options and per-parameter state saved by :meth:`state_dict` (tensors are copied)."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        params = {i: p for g, own in zip(groups, self.param_groups) for i, p in zip(g["params"], own["params"])}
        state: defaultdict = defaultdict(dict)
        for i, s in state_dict["state"].items():
            state[params[i]] = {k: _loaded(k, v, params[i]) for k, v in s.items()}
        for g, own in zip(groups, self.param_groups):
            own.update({k: v for k, v in g.items() if k != "params"})
        self.state = state

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"


def _loaded(key: str, value, param: Tensor):
    """A state value as ``load_state_dict`` keeps it: a copy, floating tensors in the parameter's dtype except
    ``step`` (PyTorch's: its own float32, or float64 under a float64 default), and a ``step`` saved as a number
    (older graphgrad's RMSprop, Adagrad, Adadelta) made the 0-d tensor PyTorch's ``__setstate__`` makes it."""
    if key == "step":
        if isinstance(value, Tensor):
            return value.detach().clone()
        from ..runtime.factories import tensor
        return tensor(float(value))
    if isinstance(value, Tensor) and value.is_floating_point():
        return value.detach().clone().to(param.dtype)
    return copy.deepcopy(value)


def _check_non_negative(group: dict, *names: str) -> None:
    """PyTorch's ValueError for a negative learning rate or other option ("Invalid epsilon value: -1")."""
    if not 0.0 <= group["lr"]:
        raise ValueError(f"Invalid learning rate: {group['lr']}")
    for name in names:
        if not 0.0 <= group[name]:
            raise ValueError(f"Invalid {'epsilon' if name == 'eps' else name} value: {group[name]}")


def _flags(foreach=None, capturable=False, differentiable=False, fused=None) -> dict:
    """PyTorch's implementation switches, kept in the defaults (and state dicts) as PyTorch keeps them; graphgrad
    has one implementation, which computes what each of them computes, except a step that autograd can see."""
    if differentiable:
        raise NotImplementedError("differentiable=True (autograd through optimizer.step()) is not supported")
    return dict(foreach=foreach, capturable=capturable, differentiable=differentiable, fused=fused)


def _params_with_grad(group: dict):
    for p in group["params"]:
        if p.grad is not None:
            yield p, (-p.grad if group.get("maximize") else p.grad)
