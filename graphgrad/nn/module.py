"""``Module``: the base class of layers and models, and the containers ``Sequential`` and ``ModuleList``.

Attribute assignment does the bookkeeping PyTorch users expect: a :class:`Parameter` becomes a parameter, a
Module becomes a submodule, and ``parameters()``, ``state_dict()`` and ``zero_grad()`` walk the tree they form.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Callable, Iterator

from ..runtime.autograd import reset_grad
from ..runtime.compiled import WRAPPERS as _COMPILE_WRAPPERS
from ..runtime.compiled import compile as _compile
from ..runtime.grad_mode import no_grad
from ..runtime.guards import content_guard
from ..runtime.hooks import RemovableHandle
from ..runtime.device import device
from ..runtime.tensor import Tensor
from ..tracer.tracer import ACTIVE as _TRACES
from ..tracer.tracer import MISSING as _ABSENT
from ..tracer.tracer import _is_user_file
from .parameter import Buffer, Parameter, UninitializedParameter

_GUARDED_SCALARS = (int, float, bool, str, type(None))

# a module's own tables: parameters, buffers and children are guarded entry by entry, hooks run at trace time
_BOOKKEEPING = frozenset({"_parameters", "_buffers", "_modules", "_forward_hooks", "_forward_pre_hooks",
                          "_gg_compiled", "_gg_compiled_call"})  # (the last two: compile()'s, see below)


class _TableReader:
    # A guard's reader (see graphgrad.tracer.tracer.read_guarded): how many entries a module's table holds, or
    # (hooks=True) the ids of its hooks' handles, unique per registration, as a string; its __doc__ is what a
    # recompile log calls it.
    def __init__(self, label: str, hooks: bool):
        self.__doc__, self.hooks = label, hooks

    def __call__(self, table: OrderedDict):
        return (" ".join(map(str, table)) or "none") if self.hooks else len(table)


_READERS: dict = {}  # (module class name, table) -> its _TableReader


def _guard_table(tracer, module: "Module", table: str) -> None:
    """Re-specialize when ``module``'s ``table`` (``"_modules"``, ``"_forward_hooks"``, ...) gains, loses or
    replaces an entry: each entry by identity, and how many there are (one reader per class and table: the
    tracer keys guards by (object, reader), so a table reached again by a nested module's call counts once).
    Hooks are guarded by their handles' ids."""
    key = (type(module).__name__, table)
    if key not in _READERS:
        hooks = "hooks" in table
        what = f"the {'handles' if hooks else 'number'} of {key[0]}'s {table.strip('_').replace('_', ' ')}"
        _READERS[key] = _TableReader(what, hooks)
    entries, reader = module.__dict__[table], _READERS[key]
    if not reader.hooks:
        for name, value in entries.items():
            tracer.guard(entries, name, value)
    tracer.guard(entries, reader, reader(entries))


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


class Module:
    """Base class of every layer and model: subclass it, assign layers and Parameters in ``__init__`` and
    compute the output in ``forward``.

    >>> import graphgrad as gg
    >>> class Affine(gg.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.scale = gg.nn.Parameter(gg.ones(2))
    ...         self.inner = gg.nn.Linear(2, 2)
    ...     def forward(self, x):
    ...         return self.inner(x) * self.scale
    >>> [name for name, _ in Affine().named_parameters()]
    ['scale', 'inner.weight', 'inner.bias']
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())

    # -- running ----------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def _guard_for_trace(self, tracer) -> None:
        """Guards (``tracer.guard``) on what a trace may read of this module: a compiled function that calls it,
        or reads its attributes, is only valid while those are unchanged: its training mode, its Python scalar
        attributes (Dropout.p, eps, ...) by value, a tensor attribute by identity, and which tensors its
        parameters and buffers are (a replaced Parameter re-specializes). ``graphgrad.compile`` also calls it for
        a module the function closes over, takes as an argument or is a method of."""
        attributes = self.__dict__
        for name, value in attributes.items():
            if name in _BOOKKEEPING:
                continue
            # by value (scalars) or identity: a list, array or function put in its place re-specializes
            tracer.guard(attributes, name, value)
            if value.__class__ not in _GUARDED_SCALARS:  # a list, dict or config object it holds: by its contents
                contents = content_guard(value, f"{type(self).__name__}.{name}", type(self).forward)
                if contents is not None:
                    tracer.guard(*contents)
        if "forward" not in attributes:  # model.forward = ... on the instance replaces what its call runs
            tracer.guard(attributes, "forward", _ABSENT)
        contents = content_guard(type(self), f"the class {type(self).__name__}", type(self).forward)
        if contents is not None:  # a class attribute or method of the user's model class, changed
            tracer.guard(*contents)
        # the tables of this module and every one below it (no __getattr__ per check): forward may iterate a
        # table (Sequential) or a container it never calls (a ModuleList, a ParameterList), so an entry appended
        # or replaced there after the trace must re-specialize too
        for module in self.modules():
            for table in ("_parameters", "_buffers", "_modules"):
                _guard_table(tracer, module, table)
        for table in ("_forward_pre_hooks", "_forward_hooks"):  # hooks run, and are baked in, at trace time
            _guard_table(tracer, self, table)

    def __call__(self, *args, **kwargs):
        compiled = self.__dict__.get("_gg_compiled_call")  # (set by compile(); inside its trace, the plain call)
        if compiled is not None and not _TRACES.stack:
            return compiled(*args, **kwargs)
        if _TRACES.stack:
            tracer = _TRACES.stack[-1]
            self._guard_for_trace(tracer)
            for name, tensor in self.state_dict(keep_vars=True).items():  # generated code uses these names
                tracer.names.setdefault(id(tensor), name)
        for hook in list(self._forward_pre_hooks.values()):
            replaced = hook(self, args)
            if replaced is not None:
                args = replaced if isinstance(replaced, tuple) else (replaced,)
        forward = self.forward
        if _TRACES.stack:  # a user-written forward has its if/while on traced values converted, as a function has
            forward = _converted_forward(forward)
        result = forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            replaced = hook(self, args, result)
            if replaced is not None:
                result = replaced
        return result

    def register_forward_pre_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, args)`` runs before ``forward``; a returned value replaces the arguments."""
        return RemovableHandle(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, args, output)`` runs after ``forward``; a returned value replaces the output."""
        return RemovableHandle(self._forward_hooks, hook)

    # -- registration -----------------------------------------------------------------------------
    def _check_registrable(self, name: str, what: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{what} name should be a string. Got {type(name).__name__}")
        if "." in name:
            raise KeyError(f'{what} name can\'t contain "."')
        if name == "":
            raise KeyError(f'{what} name can\'t be empty string ""')

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        self._check_registrable(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                            "(torch.nn.Parameter or None required)")
        if param is not None and param.grad_fn is not None:
            raise ValueError(f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must be "
                             "created explicitly. To express '{name}' as a function of another Tensor, compute "
                             "the value in the forward() method.")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """A tensor that belongs to the module's state (saved in ``state_dict``) but is not trained."""
        self._check_registrable(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{_typename(tensor)}' object to buffer '{name}' "
                            "(torch Tensor or None required)")
        self._buffers[name] = tensor
        if not persistent:
            self.__dict__.setdefault("_non_persistent_buffers", set()).add(name)
        else:  # registered again as persistent: saved again
            self.__dict__.get("_non_persistent_buffers", set()).discard(name)

    def add_module(self, name: str, module: Module | None) -> None:
        self._check_registrable(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value) -> None:
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name, keep=self._parameters)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as parameter '{name}' "
                                "(torch.nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name, keep=self._modules)
            self._modules[name] = value
        elif params is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as child module '{name}' "
                                "(torch.nn.Module or None expected)")
            self._modules[name] = None
        elif params is not None and (isinstance(value, Buffer) or name in self._buffers):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{_typename(value)}' as buffer '{name}' "
                                "(torch.nn.Buffer, torch.Tensor or None expected)")
            if isinstance(value, Buffer):  # self.x = nn.Buffer(t): registered, persistent as the Buffer says
                self.register_buffer(name, value, value.persistent)
            else:
                self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: dict) -> None:
        """Drop ``name`` from every table but ``keep``, which the caller assigns: a name already there keeps its
        place, as in PyTorch (``seq[1] = nn.Tanh()`` must still run second; ``parameters()`` keeps its order)."""
        self.__dict__.pop(name, None)
        for table in (self._parameters, self._buffers, self._modules):
            if table is not keep:
                table.pop(name, None)
        self.__dict__.get("_non_persistent_buffers", set()).discard(name)

    def __getattr__(self, name: str):
        # Only called when normal lookup fails: parameters, buffers and submodules live in their tables.
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in d and name in d[table]:
                return d[table][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    # -- walking the tree -------------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True):
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, table: str, prefix: str, recurse: bool, remove_duplicate: bool = True):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(name, parameter)`` pairs, submodules' names dotted (``"0.weight"``); shared ones once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        module = self
        for part in target.split(".") if target else []:
            if part not in module._modules:
                raise AttributeError(f"{module._get_name()} has no attribute `{part}`")
            module = module._modules[part]
        return module

    def share_memory(self) -> Module:
        """Move every parameter and buffer into shared memory (Hogwild training across processes)."""
        for t in list(self.parameters()) + list(self.buffers()):
            t.share_memory_()
        return self

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every submodule (children first), then on this module."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # -- training state ---------------------------------------------------------------------------
    def __getstate__(self) -> dict:
        # compile()'s generated code is this process's: a copy or an unpickled module runs eagerly until compiled
        # again, as PyTorch's drops its _compiled_call_impl
        state = dict(self.__dict__)
        state.pop("_gg_compiled_call", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def compile(self, *args, **kwargs) -> None:
        """Run this module's calls as generated code from now on, in place (PyTorch's ``Module.compile``): the
        arguments are ``graphgrad.compile``'s. Unlike ``graphgrad.compile(model)``, the module stays itself
        (its ``state_dict`` keys keep their names).

        >>> import graphgrad as gg
        >>> layer = gg.nn.Linear(2, 1)
        >>> layer.compile()
        >>> layer(gg.ones(3, 2)).shape, list(layer.state_dict())
        (torch.Size([3, 1]), ['weight', 'bias'])
        """
        wrapped = _compile(self, *args, **kwargs)
        if isinstance(wrapped, OptimizedModule):  # (not with disable=True: the module itself)
            object.__setattr__(self, "_gg_compiled_call", wrapped._gg_compiled)

    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to None (the default, as in PyTorch 2) or to zeros."""
        for p in self.parameters():
            reset_grad(p, set_to_none)

    # -- moving and casting -----------------------------------------------------------------------
    def _apply_to_tensors(self, convert: Callable[[Tensor], Tensor]) -> Module:
        # Parameters keep their identity (optimizers hold them); only their storage changes.
        with no_grad():
            for module in self.modules():
                for p in module._parameters.values():
                    if p is None:
                        continue
                    moved = convert(p)
                    grad = convert(p._grad) if p._grad is not None else None
                    p._data = moved._data
                    p._grad = grad
                for name, b in module._buffers.items():
                    if b is not None:
                        module._buffers[name] = convert(b)
        return self

    def to(self, *args, **kwargs) -> Module:
        """Move (``"cuda"``/``"cpu"``) and/or cast (floating-point tensors only) every parameter and buffer."""
        def convert(t: Tensor) -> Tensor:
            if not t.is_floating_point():
                return t.to(*[a for a in args if isinstance(a, (str, device))], **{k: v for k, v in kwargs.items()
                                                                          if k == "device"})
            return t.to(*args, **kwargs)
        return self._apply_to_tensors(convert)

    def cuda(self, device=None) -> Module:
        return self.to("cuda")

    def cpu(self) -> Module:
        return self.to("cpu")

    def double(self) -> Module:
        return self._apply_to_tensors(lambda t: t.double() if t.is_floating_point() else t)

    def float(self) -> Module:
        return self._apply_to_tensors(lambda t: t.float() if t.is_floating_point() else t)

    # -- state ------------------------------------------------------------------------------------
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False) -> OrderedDict:
        """Every parameter and persistent buffer by dotted name, sharing storage with the module's tensors. A
        submodule reachable under two names is listed under both, as in PyTorch (its checkpoints have both keys)."""
        out = OrderedDict() if destination is None else destination
        for module_prefix, module in self.named_modules(prefix=prefix.rstrip("."), remove_duplicate=False):
            dotted = module_prefix + ("." if module_prefix else "")
            for name, p in module._parameters.items():
                if p is not None:
                    out[dotted + name] = p if keep_vars else p.detach()
            skip = module.__dict__.get("_non_persistent_buffers", ())
            for name, b in module._buffers.items():
                if b is not None and name not in skip:
                    out[dotted + name] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> _IncompatibleKeys:
        """Copy tensors from ``state_dict`` into this module's parameters and buffers.

        Every key and shape is checked before anything is copied, so a failed load changes nothing.
        """
        if not isinstance(state_dict, dict):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            source = state_dict[key]
            if not isinstance(source, Tensor):
                errors.append(f'While copying the parameter named "{key}", expected torch.Tensor or Tensor-like '
                              f"object from checkpoint but received {type(source)}")
            elif isinstance(target, UninitializedParameter):
                pass  # a lazy module's parameter takes the checkpoint's shape, as PyTorch's
            elif target.ndim == 0 and tuple(source.shape) == (1,):
                pass  # a 0-d tensor saved as shape (1,) by older writers: PyTorch loads its one element too
            elif tuple(source.shape) != tuple(target.shape):
                errors.append(f"size mismatch for {key}: copying a param with shape {source.shape} from "
                              f"checkpoint, the shape in current model is {target.shape}.")
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in unexpected)))
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in missing)))
        if errors:
            raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
                self._get_name(), "\n\t".join(errors)))
        with no_grad():
            for key, target in own.items():
                if key in state_dict:
                    source = state_dict[key]
                    if isinstance(target, UninitializedParameter):
                        target.materialize(tuple(source.shape), dtype=source.dtype)
                    target.copy_(source.reshape(()) if target.ndim == 0 and source.ndim == 1 else source)
        return _IncompatibleKeys(missing, unexpected)

    # -- printing ---------------------------------------------------------------------------------
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The text between the parentheses of this module's repr; layers override it."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _addindent(repr(module), 2) for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                body = extra_lines[0]
            else:
                body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"


def _typename(value) -> str:
    if isinstance(value, Tensor):
        return value.type()
    return f"{type(value).__module__}.{type(value).__qualname__}".replace("builtins.", "")


class _ModuleSequence(Module):
    """Submodules kept in order under the names "0", "1", …: what Sequential and ModuleList share."""

    def _from_items(self, items: list) -> "_ModuleSequence":
        raise NotImplementedError

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return self._from_items(items[index])
        return items[_check_index(index, len(items))][1]

    def __setitem__(self, index: int, module: Module) -> None:
        setattr(self, list(self._modules)[_check_index(index, len(self._modules))], module)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> "_ModuleSequence":
        self.add_module(str(len(self)), module)
        return self


class Sequential(_ModuleSequence):
    """Modules applied one after another; built from arguments or an ``OrderedDict`` of named modules.

    >>> import graphgrad as gg
    >>> model = gg.nn.Sequential(gg.nn.Linear(2, 3), gg.nn.ReLU())
    >>> model
    Sequential(
      (0): Linear(in_features=2, out_features=3, bias=True)
      (1): ReLU()
    )
    >>> model(gg.ones(4, 2)).shape
    torch.Size([4, 3])
    """

    def __init__(self, *args: Module):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def _from_items(self, items: list) -> Sequential:
        return Sequential(OrderedDict(items))

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x


class ModuleList(_ModuleSequence):
    """A list of submodules whose parameters the parent module sees.

    >>> import graphgrad as gg
    >>> layers = gg.nn.ModuleList([gg.nn.Linear(2, 2) for _ in range(3)])
    >>> len(list(layers.parameters()))
    6
    """

    def __init__(self, modules=None):
        super().__init__()
        for module in modules or ():
            self.append(module)

    def _from_items(self, items: list) -> ModuleList:
        return ModuleList(module for _, module in items)

    def __repr__(self) -> str:
        """Runs of equal entries print once, as PyTorch's: ``(0-5): 6 x TransformerEncoderLayer(...)``."""
        reprs = [repr(module) for module in self]
        if not reprs:
            return self._get_name() + "()"
        runs = []  # [first index, last index, repr]
        for i, text in enumerate(reprs):
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        lines = [_addindent(f"({a}): {text}" if a == b else f"({a}-{b}): {b - a + 1} x {text}", 2)
                 for a, b, text in runs]
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"

    def extend(self, modules) -> ModuleList:
        for module in modules:
            self.append(module)
        return self


def _check_index(index: int, length: int) -> int:
    index = int(index)
    if not -length <= index < length:
        raise IndexError(f"index {index} is out of range")
    return index % length


def _converted_forward(forward):
    from ..tracer import autograph

    fn = getattr(forward, "__func__", None)
    code = getattr(fn, "__code__", None)
    if code is None or not _is_user_file(code.co_filename):
        return forward
    return autograph.convert(forward)


class OptimizedModule(Module):
    """What ``graphgrad.compile(model)`` returns for a module, as PyTorch's ``torch.compile``: a module holding
    the original as ``_orig_mod``, whose call runs the original's call as generated code. Its parameters and
    buffers are the original's (``state_dict`` keys begin ``_orig_mod.``, as PyTorch's), ``train()``, ``eval()``
    and ``to()`` reach the original, and other attributes are read from it, then from the compiled function
    (``model.source(x)``, ``model.cache_info()``).

    >>> import graphgrad as gg
    >>> model = gg.compile(gg.nn.Linear(3, 1))
    >>> type(model).__name__, model.in_features, [name for name, _ in model.named_parameters()]
    ('OptimizedModule', 3, ['_orig_mod.weight', '_orig_mod.bias'])
    >>> model(gg.ones(2, 3)).shape
    torch.Size([2, 1])
    """

    def __init__(self, mod: Module, compiled: Callable) -> None:
        super().__init__()
        self._orig_mod = mod
        object.__setattr__(self, "_gg_compiled", compiled)  # (a CompiledFunction: its cache statistics, source, ...)

    def forward(self, *args, **kwargs):
        return self._gg_compiled(*args, **kwargs)

    def __getstate__(self) -> dict:
        # the generated code stays behind; a copy (copy.deepcopy, pickle) compiles its own original again
        state = super().__getstate__()
        compiled = state.pop("_gg_compiled")
        state["_gg_compile_options"] = (compiled.backend, compiled.outputs, compiled.fuse)
        return state

    def __setstate__(self, state: dict) -> None:
        backend, outputs, fuse = state.pop("_gg_compile_options")
        super().__setstate__(state)
        object.__setattr__(self, "_gg_compiled", _compile(self._orig_mod, backend=backend, outputs=outputs,
                                                          fuse=fuse)._gg_compiled)

    def __getattr__(self, name: str):
        # the original's attributes, then the compiled function's (``source``, ``graph``, ``cache_info``, ...)
        d = self.__dict__
        modules = d.get("_modules")
        if modules is not None and "_orig_mod" in modules:
            if name == "_orig_mod":
                return modules[name]
            try:
                return getattr(modules["_orig_mod"], name)
            except AttributeError:
                if "_gg_compiled" in d and hasattr(d["_gg_compiled"], name):
                    return getattr(d["_gg_compiled"], name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")


_COMPILE_WRAPPERS[Module] = OptimizedModule
