"""``torch.autograd.Function``: an op whose forward and backward the user writes.

>>> import graphgrad as torch
>>> class Cube(torch.autograd.Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_for_backward(x)
...         return x ** 3
...     @staticmethod
...     def backward(ctx, grad_output):
...         x, = ctx.saved_tensors
...         return grad_output * 3 * x ** 2
>>> x = torch.tensor([1.0, 2.0], requires_grad=True)
>>> y = Cube.apply(x)
>>> y.grad_fn
<CubeBackward object at ...>
>>> y.sum().backward(); x.grad
tensor([ 3., 12.])

Eager only: under ``@graphgrad.compile`` ``apply`` refuses with an error naming the function (the compiler
differentiates traced code itself; write the forward with graphgrad ops and drop the Function there).
A Function with several outputs records one node for all of them, as PyTorch: ``backward`` runs once, with
every output's gradient (zeros, or None after ``ctx.set_materialize_grads(False)``, for one that got none).
"""
from __future__ import annotations

import warnings

from .engine import SECOND_BACKWARD, _modified
from .function import Node
from .grad_mode import is_grad_enabled, no_grad
from .tensor import _TRACES, Tensor, _xp

DIRTY_NOT_RETURNED = ("Some elements marked as dirty during the forward method were not returned as output. The "
                      "inputs that are modified inplace must all be outputs of the Function.")


class FunctionCtx:
    """The ``ctx`` of ``forward``/``backward``: saved tensors and flags; any other attribute may be set on it."""

    def __init__(self, needs_input_grad: tuple):
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True
        self._to_save: tuple = ()
        self._saved: list | None = []
        self._non_differentiable: set = set()
        self._dirty: tuple = ()
        self.saved_variables = None

    def save_for_backward(self, *tensors) -> None:
        """Keep ``tensors`` (or None) for ``backward``; changing one in place before then is an error."""
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError("save_for_backward can only save variables, but argument "
                                f"{tensors.index(t)} is of type {type(t).__name__}")
        self._to_save = tensors

    @property
    def saved_tensors(self) -> tuple:
        if self._saved is None:
            raise RuntimeError(SECOND_BACKWARD)
        out = []
        for t, version in self._saved:
            if t is not None and t._version_box[0] != version:
                raise _modified(t, t.grad_fn, version)
            out.append(t)
        return tuple(out)

    def mark_non_differentiable(self, *tensors) -> None:
        """These outputs get no gradient (``requires_grad=False``), e.g. indices returned beside values."""
        self._non_differentiable.update(id(t) for t in tensors)

    def mark_dirty(self, *tensors) -> None:
        """``forward`` changed these inputs in place (and returns them): each becomes that output, its version
        bumped once more and its history this Function's node, as in PyTorch."""
        self._dirty = tensors

    def set_materialize_grads(self, value: bool) -> None:
        """With False, ``backward`` receives None (not zeros) for outputs that got no gradient."""
        self.materialize_grads = bool(value)


class _FunctionBackward(Node):
    """``<Name>Backward``: calls the user's ``backward`` once with every output's gradient, and checks what it
    returns as PyTorch does (their number, a tensor or None each, the input's shape, dtype and device)."""

    def __init__(self, fn: type, ctx: FunctionCtx, edges: tuple, tensor_args: tuple, inputs: tuple, outputs: list):
        super().__init__("custom_function", {}, edges, (), (), (None,) * len(edges), None, f"{fn.__name__}Backward")
        self._fn, self._ctx, self._outputs, self._tensor_args = fn, ctx, outputs, tensor_args
        # what the returned gradients are checked against: each tensor input's shape, dtype and device
        self._in_meta = tuple((tuple(t.shape), t.dtype, str(t.device)) for t in inputs)
        if len(outputs) != 1:
            self._n_outputs = len(outputs)
            self._out_hooks = [{} for _ in outputs]
            self._out_retained = [None] * len(outputs)

    def apply(self, g) -> list:
        ctx = self._ctx
        grads = []
        for k, (gk, like) in enumerate(zip([g] if self._n_outputs == 1 else g, self._outputs)):
            if gk is None and like is not None and ctx.materialize_grads:
                gk = Tensor._wrap(_xp(like._data).zeros_like(like._data))
            grads.append(gk)
        result = self._fn.backward(ctx, *grads)
        return self._checked(result if isinstance(result, tuple) else (result,))

    def _checked(self, result: tuple) -> list:
        name = self.name()
        tensor_args = self._tensor_args
        if len(result) > len(tensor_args) and all(r is None for r in result[len(tensor_args):]):
            result = result[:len(tensor_args)]
        if len(result) != len(tensor_args):
            raise RuntimeError(f"function {name} returned an incorrect number of gradients (expected "
                               f"{len(tensor_args)}, got {len(result)})")
        grads = []
        for i, (r, is_tensor) in enumerate(zip(result, tensor_args)):
            if not is_tensor:
                if r is not None:
                    raise RuntimeError(f"function {name} returned a gradient different than None at position {i + 1}, "
                                       "but the corresponding forward input was not a Variable")
                continue
            if r is not None and not isinstance(r, Tensor):
                raise RuntimeError(f"expected Variable or None (got {type(r).__name__})")
            grads.append(r)
        for i, ((node, _), r, (shape, dtype, device)) in enumerate(zip(self._next, grads, self._in_meta)):
            if node is None or r is None:
                grads[i] = None
                continue
            got = tuple(r.shape)
            if got != shape:
                if not _expandable(shape, got):
                    raise RuntimeError(f"Function {name} returned an invalid gradient at index {i} - got {list(got)} "
                                       f"but expected shape compatible with {list(shape)}")
                r = r.sum_to(shape)
            if r.dtype != dtype:
                r = r.to(dtype)
            if str(r.device) != device:
                if r.ndim:
                    raise RuntimeError(f"Function {name} returned an invalid gradient at index {i} - expected device "
                                       f"{device} but got {r.device}")
                r = r.to(device)
            grads[i] = r
        return grads

    def release(self) -> None:
        self._ctx._saved = None


def _expandable(shape: tuple, to: tuple) -> bool:
    """Whether ``shape`` broadcasts to ``to`` (a gradient of that shape is summed down to ``shape``)."""
    if len(shape) > len(to):
        return False
    return all(s == t or s == 1 for s, t in zip(reversed(shape), reversed(to)))


class Function:
    """Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)``; call ``.apply``."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not implemented.")

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        raise RuntimeError("Legacy autograd function with non-static forward method is deprecated. Please use new-"
                           "style autograd function with static forward method. (Example: "
                           "https://pytorch.org/docs/stable/autograd.html#torch.autograd.Function)")

    @classmethod
    def apply(cls, *args, **kwargs):
        if _TRACES.stack or any(isinstance(a, Tensor) is False and hasattr(a, "tracer") for a in args):
            raise RuntimeError(f"{cls.__name__}.apply: a custom autograd.Function runs in eager mode only, not "
                               "inside @graphgrad.compile; write its forward with graphgrad ops there (the "
                               "compiler differentiates it)")
        needs = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
        ctx = FunctionCtx(needs)
        custom_setup = cls.setup_context is not Function.setup_context
        with no_grad():
            outputs = cls.forward(*args, **kwargs) if custom_setup else cls.forward(ctx, *args, **kwargs)
        if custom_setup:
            cls.setup_context(ctx, args, outputs)
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        dirty = ctx._dirty
        if any(not any(o is t for o in outs) for t in dirty):
            raise RuntimeError(DIRTY_NOT_RETURNED)
        tracked = is_grad_enabled() and any(needs)
        differentiable = [tracked and isinstance(o, Tensor) and o._data.dtype.kind == "f"
                          and id(o) not in ctx._non_differentiable for o in outs]
        rebased = [k for k, o in enumerate(outs) if differentiable[k] and any(o is t for t in dirty)]
        for k in rebased:
            o = outs[k]
            if o._requires_grad and o.grad_fn is None:
                raise RuntimeError("a leaf Variable that requires grad has been used in an in-place operation.")
            if not any(o is a for a in args):
                warnings.warn("ctx.mark_dirty() received a tensor that was not an input. Only input Tensors that have "
                              "been mutated should be passed to ctx.mark_dirty().", UserWarning, stacklevel=2)
        for t in dirty:  # PyTorch bumps a dirty tensor's version once more (rebasing its history below does)
            if not any(outs[k] is t for k in rebased):
                t._version_box[0] += 1
        if not tracked:
            ctx._saved = _versions(ctx._to_save)
            return outputs
        inputs = tuple(a for a in args if isinstance(a, Tensor))
        edges = tuple(a._grad_edge() if a._requires_grad else (None, 0) for a in inputs)
        wrapped = []
        for o in outs:
            if isinstance(o, Tensor) and any(o is a for a in args) and not any(o is t for t in dirty):
                o = Tensor._wrap(o._data, version=o._version_box)  # an input returned as is: a new alias
            wrapped.append(o)
        likes = [o if isinstance(o, Tensor) else None for o in wrapped]
        node = _FunctionBackward(cls, ctx, edges, tuple(isinstance(a, Tensor) for a in args), inputs, likes)
        for k, o in enumerate(wrapped):
            if k in rebased:
                _rebase_dirty(o, node, k)
            elif differentiable[k]:
                o._set_grad_fn(node, k)
                o._requires_grad = True
        # saved after the dirty inputs' bump: saving a tensor forward changed in place is allowed
        ctx._saved = _versions(ctx._to_save)
        return wrapped[0] if single else tuple(wrapped)


def _versions(tensors: tuple) -> list:
    return [(t, t._version_box[0]) if t is not None else (None, 0) for t in tensors]


def _rebase_dirty(t: Tensor, node: _FunctionBackward, k: int) -> None:
    """History for a tensor ``forward`` changed in place: output ``k`` of ``node``, recorded as any in-place
    write (one version bump; on a view the base's history becomes "the old base with the view's elements from
    ``node``")."""
    holder = Tensor._wrap(t._data, True, node)
    if k:
        holder._output_nr = k
    t._inplace_with(lambda old: holder)


class once_differentiable:  # noqa: N801  (PyTorch's decorator name)
    """Accepted on ``backward`` for compatibility; graphgrad runs it as written."""

    def __new__(cls, fn):
        return fn
