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
A Function with several outputs records one node per output, each calling ``backward`` with zeros for the
other outputs' gradients (``backward`` is linear in them, so the sums agree with PyTorch's single call).
"""
from __future__ import annotations

from .engine import SECOND_BACKWARD, _modified
from .function import Node
from .grad_mode import is_grad_enabled, no_grad
from .tensor import _TRACES, Tensor, _xp


class FunctionCtx:
    """The ``ctx`` of ``forward``/``backward``: saved tensors and flags; any other attribute may be set on it."""

    def __init__(self, needs_input_grad: tuple):
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True
        self._to_save: tuple = ()
        self._saved: list | None = []
        self._non_differentiable: set = set()
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
        """Accepted for compatibility: in-place changes made by ``forward`` are already bumped by the ops."""

    def set_materialize_grads(self, value: bool) -> None:
        """With False, ``backward`` receives None (not zeros) for outputs that got no gradient."""
        self.materialize_grads = bool(value)


class _FunctionBackward(Node):
    """``<Name>Backward``: calls the user's ``backward`` for one output of a ``Function``."""

    __slots__ = ("_fn", "_ctx", "_index", "_outputs")

    def __init__(self, fn: type, ctx: FunctionCtx, edges: tuple, index: int, outputs: list):
        super().__init__("custom_function", {}, edges, (), (), (None,) * len(edges), None, f"{fn.__name__}Backward")
        self._fn, self._ctx, self._index, self._outputs = fn, ctx, index, outputs

    def apply(self, g: Tensor) -> list:
        ctx = self._ctx
        if ctx._saved is None:
            raise RuntimeError(SECOND_BACKWARD)
        grads = []
        for k, like in enumerate(self._outputs):
            if k == self._index:
                grads.append(g)
            elif like is None or not ctx.materialize_grads:
                grads.append(None)
            else:
                grads.append(Tensor._wrap(_xp(like._data).zeros_like(like._data)))
        result = self._fn.backward(ctx, *grads)
        result = result if isinstance(result, tuple) else (result,)
        edges = self._next
        if len(result) > len(edges) and all(r is None for r in result[len(edges):]):
            result = result[:len(edges)]
        if len(result) != len(edges):
            raise RuntimeError(f"function {self._fn.__name__}Backward returned an incorrect number of gradients "
                               f"(expected {len(edges)}, got {len(result)})")
        out = []
        for i, ((node, _), r) in enumerate(zip(edges, result)):
            if node is None or r is None:
                out.append(None)
                continue
            if not isinstance(r, Tensor):
                raise TypeError(f"function {self._fn.__name__}Backward returned a gradient of type "
                                f"{type(r).__name__} for input {i}; expected a Tensor or None")
            out.append(r)
        return out

    def release(self) -> None:
        self._ctx._saved = None


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
        ctx._saved = [(t, t._version_box[0]) if t is not None else (None, 0) for t in ctx._to_save]
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        if not (is_grad_enabled() and any(needs)):
            return outputs
        edges = tuple((a._grad_node(), 0) if need else (None, 0) for a, need in zip(args, needs))
        wrapped = []
        for o in outs:
            if isinstance(o, Tensor) and any(o is a for a in args):  # an input returned as is: a new alias
                o = Tensor._wrap(o._data, version=o._version_box)
            wrapped.append(o)
        likes = [o if isinstance(o, Tensor) else None for o in wrapped]
        for k, o in enumerate(wrapped):
            if isinstance(o, Tensor) and o._data.dtype.kind == "f" and id(outs[k]) not in ctx._non_differentiable:
                o.grad_fn = _FunctionBackward(cls, ctx, edges, k, likes)
                o._requires_grad = True
        return wrapped[0] if single else tuple(wrapped)


class once_differentiable:  # noqa: N801  (PyTorch's decorator name)
    """Accepted on ``backward`` for compatibility; graphgrad runs it as written."""

    def __new__(cls, fn):
        return fn
