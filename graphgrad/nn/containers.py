"""``ParameterList``, ``ParameterDict`` and ``ModuleDict``: containers whose items the parent module sees.

>>> import graphgrad as gg
>>> params = gg.nn.ParameterList([gg.nn.Parameter(gg.ones(2)) for _ in range(3)])
>>> [name for name, _ in params.named_parameters()]
['0', '1', '2']
"""
from __future__ import annotations

from typing import Iterator

from .module import Module
from .parameter import Parameter


def _as_parameter(value) -> Parameter:
    return value if isinstance(value, Parameter) else Parameter(value)


def _describe(k, p: Parameter, kind: str) -> str:
    """One line of a ParameterList's (``kind`` the dtype, ``torch.float32``) or ParameterDict's (``kind`` the type,
    ``torch.FloatTensor``) repr, with PyTorch's two leading spaces (so the lines print indented by four)."""
    size = "x".join(str(d) for d in p.shape)
    where = f" ({p.device})" if p.is_cuda else ""
    return f"  ({k}): Parameter containing: [{kind} of size {size}{where}]"


class ParameterList(Module):
    def __init__(self, values=None):
        super().__init__()
        for v in values or ():
            self.append(v)

    def __getitem__(self, index: int) -> Parameter:
        items = list(self._parameters.values())
        if isinstance(index, slice):
            return ParameterList(items[index])
        return items[index]

    def __setitem__(self, index: int, value) -> None:
        self.register_parameter(list(self._parameters)[index], _as_parameter(value))

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())

    def append(self, value) -> "ParameterList":
        self.register_parameter(str(len(self)), _as_parameter(value))
        return self

    def extend(self, values) -> "ParameterList":
        for v in values:
            self.append(v)
        return self

    def extra_repr(self) -> str:
        return "\n".join(_describe(k, p, repr(p.dtype)) for k, p in self._parameters.items())


class ParameterDict(Module):
    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Parameter:
        return self._parameters[key]

    def __setitem__(self, key: str, value) -> None:
        self.register_parameter(key, _as_parameter(value))

    def __delitem__(self, key: str) -> None:
        del self._parameters[key]

    def __contains__(self, key: str) -> bool:
        return key in self._parameters

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters)

    def keys(self):
        return self._parameters.keys()

    def values(self):
        return self._parameters.values()

    def items(self):
        return self._parameters.items()

    def update(self, parameters) -> None:
        for k, v in (parameters.items() if hasattr(parameters, "items") else parameters):
            self[k] = v

    def extra_repr(self) -> str:
        return "\n".join(_describe(k, p, p.type()) for k, p in self._parameters.items())


class ModuleDict(Module):
    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules) -> None:
        for k, m in (modules.items() if hasattr(modules, "items") else modules):
            self[k] = m
