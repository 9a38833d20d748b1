"""The op registry: every primitive is declared here once, with its attributes and its type rule.

Gradient rules live in ``graphgrad.passes.vjp_rules`` and array expressions in
``graphgrad.codegen.expressions``; both are tables keyed by the names declared here, so coverage can
be audited (``graphgrad ops`` prints it).
"""
from __future__ import annotations

import contextlib
import operator
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .types import TensorType, dtype_name


class ShapeError(ValueError, RuntimeError):
    """An op was applied to inputs whose shapes or dtypes do not fit; the message names them.

    A RuntimeError too: eager raises PyTorch's RuntimeError for the same input, and code that catches it must
    catch the compiled error as well."""


@dataclass(frozen=True)
class OpDef:
    name: str
    attrs: tuple
    infer: Callable  # (inputs: list[TensorType | scalar], **attrs) -> TensorType
    doc: str = ""
    #: applied element by element with broadcasting: op(broadcast(x), y) may read x directly
    elementwise: bool = False
    #: "view": the result may share memory with the first operand (a NumPy view, or the operand itself);
    #: "fresh": always a new array; "" : fresh when elementwise, else unknown (never assumed fresh)
    memory: str = ""
    #: "cheap": the backward may compute it again instead of the forward keeping it; "never": always kept;
    #: "" : cheap when elementwise or a view, else never
    recompute: str = ""
    #: the one NumPy/CuPy ufunc call that computes the op, as a template over its operands (``"subtract({0}, {1})"``),
    #: so that generated code can write the result into a dying operand's buffer (``out=``); "" : none
    ufunc: str = ""
    #: the result is a PyTorch view of the first operand whenever the array library returns one (``x[0]``,
    #: ``x.reshape(...)``): it shares the base's version counter, and an in-place update of it would have to
    #: reach the base. ``memory="view"`` alone only says that NumPy memory may be shared (``unfold2d``'s windows).
    #: With ``stops_gradient`` (``detach()``) it shares the counter without being a view (no ``_base``, as PyTorch)
    view: bool = False
    #: the result carries no gradient (``stop_gradient``, what ``detach()`` and ``no_grad()`` record): it never
    #: requires grad. A piecewise-constant op (floor) is not one: its result requires grad, with a zero gradient
    stops_gradient: bool = False
    #: PyTorch's name for the backward node of this op (``x * y``: ``MulBackward0``), so that printed tensors and
    #: ``grad_fn.name()`` read as users know them; a function ``(attrs, in_types) -> name`` where it depends on
    #: them (``matmul`` of two matrices is MmBackward0, of a matrix and a vector MvBackward0); "" : the op's name
    #: in CamelCase + ``Backward0``
    torch_name: str | Callable = ""
    #: the result depends on its attributes and its operands' shapes and dtypes only, never their values
    #: (``full_like``; ``full``, ``arange``, ``constant``, which have no operands): a compiled backward that saved a
    #: tensor only for such an op need not refuse an in-place change of it, as eager, which keeps only the type,
    #: does not; and generated code may build the result once per module (``ir.buffers``)
    shape_only: bool = False
    #: how the op treats the sign of a zero, for the compiler's ``+ 0.0`` (relu's gradient turning -0.0 into
    #: PyTorch's +0.0): "positive": never a -0.0 result, so a ``+ 0.0`` on an operand changes nothing
    #: (``matmul``: its sums start at +0.0); "through": each result element is an element of the first operand, a
    #: sum of them or a +0.0, so ``op(v + 0.0)`` is ``op(v) + 0.0`` (views, ``sum``, a scatter into zeros); "" : neither
    zero_signs: str = ""
    #: op(a + b) is op(a) + op(b), and op(a - b) is op(a) - op(b), for ``a`` and ``b`` of the operand's type, up to
    #: rounding (``sum``, ``mean``): the compiler may reduce the terms of a large sum one by one
    additive: bool = False
    #: the result is its operands laid end to end along attribute ``dim`` (``concat``): generated code may compute
    #: each operand straight into its place in the result instead of copying it there
    joins: bool = False
    #: "unfold": the result is the patches of an image batch, the batch axis first and each image's patches made
    #: from that image alone (im2col, ``kernel``-size times the input); "fold": the adjoint, each image's patches
    #: summed back into that image; "" : neither. The compiler may then compute a convolution a chunk of images at
    #: a time (``passes.patch_chunking``)
    patches: str = ""
    #: whether PyTorch's backward keeps the result itself (relu, exp, softmax), so that changing the result in
    #: place before backward is PyTorch's "modified by an inplace operation" error. False where the backward
    #: reads the result but PyTorch's keeps something else (max_pool2d: its indices; ``F.max_pool2d(x).relu_()``
    #: is allowed): eager backward, finding the result changed, computes it again from the saved operands
    saves_result: bool = True


OPS: dict[str, OpDef] = {}
#: op -> ``(arrays, error, **attrs) -> Exception | None``: an array library's failure (a singular matrix, say)
#: in the framework's words, for eager execution; None keeps the generic message
ERRORS: dict[str, Callable] = {}


def defop(name: str, attrs: tuple = (), doc: str = "", elementwise: bool = False, memory: str = "",
          recompute: str = "", ufunc: str = "", view: bool = False, stops_gradient: bool = False,
          torch_name: str | Callable = "", shape_only: bool = False, zero_signs: str = "", additive: bool = False,
          joins: bool = False, patches: str = "", saves_result: bool = True):
    """Register the type rule ``infer(inputs, **attrs) -> TensorType`` of primitive ``name``."""

    def register(infer):
        if name in OPS:
            raise ValueError(f"primitive {name!r} declared twice")
        if memory not in ("", "view", "fresh", "unknown") or recompute not in ("", "cheap", "never"):
            raise ValueError(f"primitive {name!r}: memory={memory!r}, recompute={recompute!r}")
        if view and memory != "view":
            raise ValueError(f"primitive {name!r}: view=True needs memory='view'")
        if zero_signs not in ("", "positive", "through"):
            raise ValueError(f"primitive {name!r}: zero_signs={zero_signs!r}")
        if patches not in ("", "unfold", "fold"):
            raise ValueError(f"primitive {name!r}: patches={patches!r}")
        if ufunc and not (elementwise and ufunc.endswith(")")):
            raise ValueError(f"primitive {name!r}: ufunc={ufunc!r} must be a call template of an elementwise op")
        OPS[name] = OpDef(name, tuple(attrs), infer, doc, elementwise, memory, recompute, ufunc, view, stops_gradient,
                          torch_name, shape_only, zero_signs, additive, joins, patches, saves_result)
        _FRESH.pop(name, None)
        return infer

    return register


_FRESH: dict[str, bool] = {}  # op -> makes_new_array(op), reset by defop


def makes_new_array(op: str) -> bool:
    """Whether ``op``'s result is always a new array (never a view of an operand, nor the operand itself), as its
    declaration says (``memory=`` in ``graphgrad.ops``)."""
    fresh = _FRESH.get(op)
    if fresh is None:
        opdef = OPS.get(op)
        fresh = opdef is not None and (opdef.memory == "fresh" or (opdef.memory == "" and opdef.elementwise))
        if opdef is not None:
            _FRESH[op] = fresh
    return fresh


def infer_type(op: str, inputs: list, attrs: dict) -> TensorType:
    opdef = OPS.get(op)
    if opdef is None:
        raise NotImplementedError(f"unknown primitive {op!r}")
    return opdef.infer(inputs, **attrs)


# -- helpers -----------------------------------------------------------------------------------

#: the dtype of Python floats and of int -> float promotions (``torch.set_default_dtype``; set through
#: ``graphgrad.set_default_dtype``). Here, not in the runtime, because type rules read it while tracing too:
#: a compiled function keys its specializations by it (runtime/compiled.py)
_DEFAULT_FLOAT = ["float32"]


def default_float() -> str:
    """The name of the default float dtype, ``"float32"`` unless ``graphgrad.set_default_dtype`` changed it."""
    return _DEFAULT_FLOAT[0]


class NumPyFloat(str):
    """The default float of a trace of NumPy arrays (``runtime.compiled.trace_float``): ``"float64"``, which also
    says that the traced code is NumPy code, so indexing follows NumPy's rules where they differ from PyTorch's
    (``numpy_semantics``). Equal to ``"float64"``, so caches keyed by the dtype's name are unchanged."""


NUMPY_FLOAT64 = NumPyFloat("float64")


def numpy_semantics() -> bool:
    """Whether the code running now is a trace of NumPy arrays (a ``graphgrad.numpy`` function under
    ``gg.grad``/``gg.compile``...): ``x[1, :, [0, 1]]`` then has NumPy's layout, not PyTorch's."""
    return _DEFAULT_FLOAT[0].__class__ is NumPyFloat


@contextlib.contextmanager
def default_float_as(name: str):
    """``name`` as the default float dtype while the block runs (a trace of NumPy arrays builds its graph under
    NumPy's float64, ``runtime.compiled.trace_float``, ``NUMPY_FLOAT64``), restored after it, as it was."""
    saved = _DEFAULT_FLOAT[0]
    _DEFAULT_FLOAT[0] = name
    try:
        yield
    finally:
        _DEFAULT_FLOAT[0] = saved


def _category(dtype: str) -> int:
    return {"b": 0, "i": 1, "u": 1, "f": 2}[np.dtype(dtype).kind]


def _promote(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    if _category(a) != _category(b):
        return a if _category(a) > _category(b) else b
    return dtype_name(np.promote_types(a, b))


def _combine(higher: str | None, lower: str | None) -> str | None:
    if higher is None:
        return lower
    if _category(higher) == 2:
        return higher
    if higher == "bool" or (lower is not None and _category(lower) == 2):
        return _promote(higher, lower)
    return higher


def result_dtype(inputs: list) -> str:
    """PyTorch's type promotion. Tensors with dimensions decide, then zero-dimensional tensors, then Python
    scalars, each only when it brings a higher category (bool < integer < float): float32 with int64 stays
    float32, an int64 tensor times 2.5 is the default float (float32 unless ``set_default_dtype`` changed it),
    float32 with a float64 0-d tensor stays float32. NumPy would give float64 in all three; codegen and eager
    cast where it does (they find out by computing, not from a list of ops)."""
    dim = zero = wrapped = None
    for x in inputs:
        if isinstance(x, TensorType):
            if x.shape:
                dim = _promote(dim, x.dtype)
            else:
                zero = _promote(zero, x.dtype)
        else:
            kind = ("bool" if isinstance(x, (bool, np.bool_)) else
                    "int64" if isinstance(x, (int, np.integer)) else _DEFAULT_FLOAT[0])
            wrapped = _promote(wrapped, kind)
    return _combine(dim, _combine(zero, wrapped))


def broadcast_shapes(*shapes: tuple) -> tuple:
    """Broadcast like NumPy/PyTorch, raising PyTorch's message on a mismatch."""
    ndim = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for axis, sizes in enumerate(zip(*padded)):
        stretched = [n for n in sizes if n != 1]  # (all equal: a pair of neighbours alone passed (3,), (1,), (2,))
        for b in stretched[1:]:
            if b != stretched[0]:
                raise ShapeError(f"The size of tensor a ({stretched[0]}) must match the size of tensor b ({b}) "
                                 f"at non-singleton dimension {axis}")
        out.append(stretched[0] if stretched else 1)
    return tuple(out)


def normalize_dims(dim, ndim: int) -> tuple | None:
    """``dim`` as a sorted tuple of non-negative axes (None stays None: all axes)."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-max(ndim, 1)}, {max(ndim, 1) - 1}], "
                f"but got {d})")
        out.append(d % max(ndim, 1))
    return tuple(sorted(set(out)))


def reduction_dims(dim, ndim: int) -> tuple | None:
    """``normalize_dims`` for a reduction: a 0-d tensor takes dim 0 or -1, as in PyTorch, and has no axis to
    reduce (``()``; NumPy's mean or max refuse ``axis=0`` on a 0-d array)."""
    dims = normalize_dims(dim, ndim)
    return () if ndim == 0 and dims is not None else dims


def torch_dims(dim, ndim: int) -> tuple | None:
    """``reduction_dims`` for PyTorch's ``dim`` of sum, mean, amax, amin, var, std, norm and logsumexp: an empty
    list or tuple reduces every dim, as PyTorch 2 does (NumPy's ``axis=()``, and PyTorch's any/all, reduce
    none). Every dim spelled out, not None: PyTorch names the node as for a ``dim`` given (SumBackward1)."""
    if dim is not None and not isinstance(dim, int) and len(dim) == 0:
        return tuple(range(ndim))
    return reduction_dims(dim, ndim)


# -- type-rule helpers shared by the op declarations (graphgrad.ops) ---------------------------------

def is_type(x) -> bool:
    """True for a tensor operand (a TensorType), False for a Python scalar."""
    return isinstance(x, TensorType)


def shape_of(x) -> tuple:
    return x.shape if isinstance(x, TensorType) else ()


def elementwise_type(inputs, out_dtype=None) -> TensorType:
    """The broadcast shape of the inputs, with PyTorch's promoted dtype unless ``out_dtype`` is given."""
    shape = broadcast_shapes(*[shape_of(x) for x in inputs])
    return TensorType(shape, out_dtype or result_dtype(list(inputs)))


def float_dtype(inputs) -> str:
    """The promoted dtype, made floating (the default float dtype for integers and bools), as exp or / give."""
    return result_dtype(list(inputs) + [1.0])


def reduction_type(inputs, dim, keepdim, dtype=None) -> TensorType:
    """The type of reducing ``inputs[0]`` over ``dim`` (None: every axis)."""
    (x,) = inputs
    dims = reduction_dims(dim, x.ndim)
    if dims is None:
        shape = (1,) * x.ndim if keepdim else ()
    else:
        shape = tuple(1 if i in dims else d for i, d in enumerate(x.shape) if keepdim or i not in dims)
    return TensorType(shape, dtype or x.dtype)




# -- index encoding: attrs must be hashable and JSON-able ----------------------------------------

def encode_index(index) -> tuple:
    """Turn a user's index into a hashable tuple of ints, ('slice', a, b, c), None, '...', ('array', …)."""
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    for item in index:
        if isinstance(item, slice):  # bounds by value (a 0-d integer tensor's, as Python's __index__)
            out.append(("slice",) + tuple(None if v is None else operator.index(v)
                                          for v in (item.start, item.stop, item.step)))
        elif item is None or item is Ellipsis:
            out.append("..." if item is Ellipsis else None)
        elif isinstance(item, (bool, np.bool_)):
            raise IndexError("indexing with a Python bool is not supported; use a boolean tensor")
        elif isinstance(item, (int, np.integer)):
            out.append(int(item))
        else:
            arr = np.asarray(item)
            if arr.size == 0 and isinstance(item, (list, tuple)):  # x[[]]: no positions (NumPy's [] is float64)
                arr = arr.astype(np.int64)
            if arr.dtype.kind == "f":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            if arr.dtype == bool or arr.dtype.kind not in "iu":
                raise IndexError("only integers, slices, None, ... and integer arrays are valid indices "
                                 f"(got an array of dtype {arr.dtype})")
            out.append(("array", _to_tuple(arr.tolist())))
    return tuple(out)


def _to_tuple(x):
    return tuple(_to_tuple(i) for i in x) if isinstance(x, list) else x


def has_array_index(index: tuple) -> bool:
    """Whether an encoded index holds an integer array (advanced indexing: NumPy and PyTorch copy, never view)."""
    return any(isinstance(i, tuple) and i[0] == "array" for i in index)


def decode_index(index: tuple) -> tuple:
    out = []
    for item in index:
        if item == "...":
            out.append(Ellipsis)
        elif isinstance(item, tuple) and item[0] == "slice":
            out.append(slice(*item[1:]))
        elif isinstance(item, tuple) and item[0] == "array":
            out.append(np.array(item[1], dtype=np.int64))
        else:
            out.append(item)
    return tuple(out)
