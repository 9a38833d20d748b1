"""The eager Tensor: NumPy (or CuPy) data plus the autograd state PyTorch users expect."""
from __future__ import annotations

import warnings
import weakref

import numpy as np

from ..codegen.expressions import kernel
from ..ir.api import ElementCount, TensorBase, bind
from ..ir.registry import ERRORS, OPS, ShapeError, decode_index, infer_type
from ..ir.types import TensorType, dtype_name, in_place_cast_error
from ..passes.vjp_rules import VJP_RULES
from . import blas as _blas
from . import dtypes
from .device import CPU as _CPU
from .device import CUDA0 as _CUDA0
from .device import device as _device
from .function import UNHELD, AccumulateGrad, Node, short_name
from .function import _sequence as _node_sequence
from .grad_mode import _state as _grad_state
from .surface import TensorSurface
from .grad_mode import is_grad_enabled
from ..tracer.tracer import ACTIVE as _TRACES
from ..tracer.tracer import check_fill_value
from .hooks import RemovableHandle

_SCALARS = (int, float, bool)
FLOAT_ONLY = "only Tensors of floating point and complex dtype can require gradients"  # the setter's wording
INFERENCE_SAVED = ("Inference tensors cannot be saved for backward. Please do not use Tensors created in inference "
                   "mode in computation tracked by autograd. To work around this, you can make a clone to get a "
                   "normal tensor and use it in autograd.")
INFERENCE_INPLACE = ("Inplace update to inference tensor outside InferenceMode is not allowed.You can make a clone to "
                     "get a normal tensor before doing inplace update.See https://github.com/pytorch/rfcs/pull/17 for "
                     "more details.")
_SCALAR_TYPES = frozenset(_SCALARS)
_SELF = object()  # marks where an in-place op's own old value goes among its inputs

NON_LEAF_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad attribute won't be "
    "populated during autograd.backward(). If you indeed want the .grad field to be populated for a non-leaf "
    "Tensor, use .retain_grad() on the non-leaf Tensor. If you access the non-leaf Tensor by mistake, make sure "
    "you access the leaf Tensor instead. See github.com/pytorch/pytorch/pull/30531 for more informations.")


class Size(tuple):
    """A tensor's shape: a tuple that prints as ``torch.Size([2, 3])``, as PyTorch users expect."""

    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"

    # slices, sums and repeats of a Size stay Sizes (x.shape[1:] prints torch.Size([3]), not (3,))
    def __getitem__(self, index):
        item = tuple.__getitem__(self, index)
        return Size(item) if isinstance(index, slice) else item

    def __add__(self, other):
        return Size(tuple.__add__(self, other))

    def __radd__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(other, self))

    def __mul__(self, n):
        return Size(tuple.__mul__(self, n))

    __rmul__ = __mul__

    def numel(self) -> int:
        n = 1
        for d in self:
            n *= d
        return n


try:  # np.errstate costs microseconds per op; set the context variable it sets, directly
    from numpy._core._ufunc_config import _extobj_contextvar as _fp_mode
    from numpy._core._ufunc_config import _make_extobj

    _QUIET = _make_extobj(all="ignore")
except ImportError:  # other NumPy versions: the public, slower way, behind the same two calls
    class _ErrstateMode:
        def get(self):
            return None

        def set(self, _):
            return np.seterr(all="ignore")

        def reset(self, previous):
            np.seterr(**previous)

    _fp_mode, _QUIET = _ErrstateMode(), object()


def quiet_fp(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with floating-point errors giving inf and nan silently, as in PyTorch (backward()
    runs the engine inside it once, so the ops it runs skip switching the mode each)."""
    token = _fp_mode.set(_QUIET)
    try:
        return fn(*args, **kwargs)
    finally:
        _fp_mode.reset(token)

_new = object.__new__

_ONES: dict = {}  # dtype -> a read-only 0-d array of 1: the seed of loss.backward() on a compiled call


def _is_device_array(a) -> bool:
    """A CuPy array (or the tests' fake CuPy's): the one other array type graphgrad computes with."""
    return type(a).__module__.startswith("cupy")


OVERLAP = ("unsupported operation: more than one element of the written-to tensor refers to a single memory "
           "location. Please clone() the tensor before performing the operation.")


def _internal_overlap(data) -> bool:
    """Whether elements of ``data`` share memory as PyTorch tells (its has_internal_overlap is YES): a zero stride
    over more than one element, as expand makes. (PyTorch writes other views, overlapping or not.)"""
    return any(stride == 0 and n > 1 for stride, n in zip(data.strides, data.shape))


def _writable(data):
    """``data``, or for a read-only NumPy view of writable memory a writable alias of the same memory: NumPy makes
    broadcast views (an expanded tensor, and views of one) read-only, where PyTorch's expanded tensors write into
    the memory they share. None where NumPy refuses one: memory read-only itself, or the overlapping windows of
    ``Tensor.unfold`` (whose writes would depend on the order of their elements)."""
    if data.__class__ is not np.ndarray or data.flags.writeable:
        return data
    alias = data.view()
    try:
        alias.flags.writeable = True
    except ValueError:
        return None
    return alias


def _one(dtype) -> np.ndarray:
    one = np.array(1, dtype)
    one.flags.writeable = False
    _ONES[dtype] = one
    return one


_autograd_backward = None
_TYPES: dict = {}  # (shape, dtype) -> TensorType: building one per op would dominate small-tensor cost


def _type_of(data) -> TensorType:
    key = (data.shape, data.dtype.num)  # the dtype's number hashes and compares far faster than the dtype
    t = _TYPES.get(key)
    if t is None:
        if len(_TYPES) > 10_000:
            _TYPES.clear()
        t = _TYPES[key] = TensorType(data.shape, dtype_name(data.dtype))
    return t


def _array_module(data):
    return "np" if type(data) is np.ndarray else "cp"


def _operator(op: str, reflected: bool = False):
    if reflected:
        def method(self, o):
            if o.__class__ in _SCALAR_TYPES or isinstance(o, Tensor):
                return Tensor._apply(op, (o, self), _NO_ATTRS)
            if o.__class__ in _NOT_OPERANDS:  # Python then raises "unsupported operand type(s)", as PyTorch does
                return NotImplemented
            return bind(op, o, self)
    else:
        def method(self, o):
            if o.__class__ in _SCALAR_TYPES or isinstance(o, Tensor):
                return Tensor._apply(op, (self, o), _NO_ATTRS)
            if o.__class__ in _NOT_OPERANDS:
                return NotImplemented
            return bind(op, self, o)
    method.__name__ = f"__{'r' if reflected else ''}{op if op != 'div' else 'truediv'}__"
    return method


_reflected_sub = _operator("sub", reflected=True)
_NOT_OPERANDS = frozenset({type(None), str, bytes, dict, set})
_NO_ATTRS: dict = {}  # shared by attribute-less ops; never mutated
_AUTOGRAD_STATE = frozenset({"_grad", "_accumulator", "_hooks", "_base", "_retains_grad", "_is_inference",
                             "_output_nr", "_view_meta"})
_NO_EDGE = (None, 0)  # next_functions entry of an input without history
_PLAIN_KERNELS: dict = {}  # (op, number of arguments, array module) -> kernel, for ops without attributes


#: bytes per piece of a large ``p.add_(g, alpha=a)`` where BLAS's axpy is not at hand: the scaled piece is the only temporary, so an optimizer's
#: step allocates this much, not a parameter's size (PyTorch's fused update allocates nothing). 256 KiB made the
#: mlp step's update, all gradients and one piece, its peak (4 bytes over PyTorch's); 128 KiB leaves the peak to
#: the backward, for 6 more NumPy calls on the mlp's largest weight
_UPDATE_PIECE_BYTES = 128 << 10


_DEVICE_ONES: dict = {}  # (array class, device id, dtype.char) -> a 0-d 1 there: the seed of a compiled loss's backward
_SCALED_ADD_KERNELS: dict = {}  # (array module, dtype.char) -> its p += alpha * g kernel


def _scaled_add(p, g, alpha: float) -> None:
    """``p += alpha * g`` (same shapes, dtypes and array module): BLAS's axpy when ``p`` is a large NumPy array and
    NumPy's BLAS is at hand (:mod:`.blas`), else a piece at a time; on a GPU one kernel (a launch costs about as much as updating the mlp's largest weight: two per
    parameter were a third of its update's time)."""
    n = p.size
    if p.__class__ is not np.ndarray:
        xp = _xp(p)
        char = p.dtype.char  # (dtype.name is a Python property: 2 us a parameter)
        kernel = _SCALED_ADD_KERNELS.get((xp, char))
        if kernel is None:
            dtype = {"f": "float32", "d": "float64"}.get(char)
            if dtype is None:
                xp.add(p, xp.multiply(g, alpha), out=p)
                return
            # (an output passed in is read as well as written)
            kernel = _SCALED_ADD_KERNELS[xp, char] = xp.ElementwiseKernel(
                f"{dtype} g, {dtype} alpha", f"{dtype} p", "p += alpha * g", f"graphgrad_scaled_add_{dtype}")
        kernel(g, alpha, p)
        return
    piece = _UPDATE_PIECE_BYTES // p.itemsize
    # (g in p's memory, shifted: the pieces would read g after writing p; the whole-array product is made first)
    if n <= piece or not (p.flags.c_contiguous and g.flags.c_contiguous) or np.may_share_memory(p, g):
        np.add(p, np.multiply(g, alpha), out=p)
        return
    if _blas.axpy(alpha, g, p):  # (no temporary, one pass: half the time of the two NumPy calls)
        return
    p, g = p.reshape(-1), g.reshape(-1)
    scratch = np.empty(piece, p.dtype)
    whole = n - n % piece
    # the rows of a 2-d view are the pieces: NumPy makes each row view faster than a slice made in Python
    for p_row, g_row in zip(p[:whole].reshape(-1, piece), g[:whole].reshape(-1, piece)):
        np.multiply(g_row, alpha, out=scratch)
        np.add(p_row, scratch, out=p_row)
    if whole < n:
        rest = scratch[:n - whole]
        np.multiply(g[whole:], alpha, out=rest)
        np.add(p[whole:], rest, out=p[whole:])


class Tensor(TensorSurface, TensorBase):
    """An n-dimensional array that can record the operations applied to it.

    >>> import graphgrad as gg
    >>> x = gg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """

    __slots__ = ("_data", "_requires_grad", "grad_fn", "_version_box", "__weakref__", "__dict__")
    # Autograd state most tensors never set: class defaults, shadowed in the instance __dict__ once set,
    # so that creating a tensor (once per op, forward and backward) stores four fields, not nine.
    _grad = None
    _accumulator = None  # weakref to a leaf's AccumulateGrad node
    _hooks = None
    _base = None         # the tensor a view was taken of
    _view_version = 0    # the shared version when a view's grad_fn was made (older: rebuilt from the base's)
    _retains_grad = False
    _output_nr = 0       # which output of its grad_fn this is (a custom Function may have several)
    _view_meta = None    # a view made in no_grad mode (or a view of one): how PyTorch's error for writing it starts
    _level = 0
    _is_inference = False  # set (in the instance dict) on tensors created inside inference_mode
    _born_in = None        # the tracer a tensor was created under (a trace-time constant), if any

    def __init__(self, *data, requires_grad: bool = False, device=None):
        # PyTorch's legacy constructor: always the default float dtype; ``Tensor(2, 3)`` is a shape
        sizes = all(type(d) is int for d in data) or (len(data) == 1 and isinstance(data[0], Size))
        if not sizes and len(data) == 1:
            if isinstance(data[0], (float, bool, complex)):
                raise TypeError(f"new(): data must be a sequence (got {type(data[0]).__name__})")
            array = _to_array(data[0], None)
            if array.dtype != dtypes.default_float().numpy:
                array = array.astype(dtypes.default_float().numpy)
        else:
            if len(data) == 1 and isinstance(data[0], Size):
                data = tuple(data[0])
            elif not data:
                data = (0,)
            for d in data:
                if type(d) is not int:
                    raise TypeError(f"new(): argument 'size' must be tuple of ints, but found element of type "
                                    f"{type(d).__name__} at pos {data.index(d)}")
            array = np.zeros(data, dtype=dtypes.default_float().numpy)
        _init(self, array)
        if device is not None and str(device) != "cpu":
            self._data = _to_device(self, str(device))._data
        if requires_grad:
            self.requires_grad = True

    @staticmethod
    def _wrap(array, requires_grad: bool = False, grad_fn=None, version=None) -> "Tensor":
        t = _new(Tensor)
        # a NumPy function of a 0-d array returns a NumPy scalar: hold it as a 0-d array (anything but an ndarray
        # is taken for a CuPy array)
        t._data = np.asarray(array) if isinstance(array, np.generic) else array
        t._requires_grad = requires_grad
        t.grad_fn = grad_fn
        t._version_box = version if version is not None else [0]
        return t

    # -- the interpreter: run one primitive eagerly and record it ---------------------------------
    @staticmethod
    def _apply(op: str, inputs: tuple, attrs: dict):
        arrays = []
        record = False
        xp = "np"
        for x in inputs:
            if isinstance(x, Tensor):
                data = x._data
                arrays.append(data)
                if x._requires_grad:
                    record = True
                if data.__class__ is not np.ndarray:
                    xp = "cp"
            elif isinstance(x, _SCALARS):
                arrays.append(x)
            elif isinstance(x, TensorBase):
                raise TypeError(f"{op}: cannot mix an eager Tensor with {type(x).__name__}")
            else:
                arrays.append(_to_array(x, None))
        if xp == "cp" and any(x.__class__ is Tensor and x._data.__class__ is np.ndarray and not x._data.ndim
                              for x in inputs):
            # a 0-d CPU tensor joins a CUDA op as PyTorch lets it, moved by a differentiable copy (its gradient
            # comes back to the CPU through ToCopyBackward0)
            return Tensor._apply(op, tuple(x.to("cuda") if x.__class__ is Tensor and x._data.__class__ is np.ndarray
                                           and not x._data.ndim else x for x in inputs), attrs)
        traces = _TRACES.stack  # thread-local: read once per op
        if traces and (record and _grad_state.enabled or _reads_state(inputs)):
            return _into_trace(op, inputs, attrs)
        fn = _PLAIN_KERNELS.get((op, len(arrays), xp)) if not attrs else None
        if fn is None:
            fn = _kernel(op, attrs, len(arrays), xp)
        # overflow, 0/0, log(0): inf and nan without warnings, as in PyTorch
        token = None if _fp_mode.get() is _QUIET else _fp_mode.set(_QUIET)
        try:
            out = fn(*arrays)
        except Exception as e:
            raise _explain(op, inputs, attrs, e) from None
        finally:
            if token is not None:
                _fp_mode.reset(token)
        if out.__class__ is not np.ndarray and xp == "np":
            out = _element_view(arrays[0], attrs) if op == "getitem" and arrays[0].__class__ is np.ndarray \
                else np.asarray(out)
        dtype = out.dtype
        if dtype.num == _FLOAT64 and not _has_float64_operand(inputs):
            out = _as_pytorch_dtype(op, inputs, attrs, out)
            dtype = out.dtype
        elif dtype.num not in _STORED:  # float16 or int8, from bool operands: computed again from them cast
            out = _from_cast_bools(op, inputs, attrs, fn, arrays)
            dtype = out.dtype
        result = _new(Tensor)  # Tensor._wrap, inlined: this runs once per op
        result._data = out
        result._requires_grad = False
        result.grad_fn = None
        # view=True in its declaration, and NumPy gave a view (or the operand itself: stop_gradient) that shares the
        # operand's memory: a reshape of a transposed tensor is a copy (of a temporary: its .base is no view of
        # ours), and writes into it reach nothing else
        if OPS[op].view and isinstance(inputs[0], Tensor) and (
                (arrays and out is arrays[0])
                or (out.base is not None and (xp == "cp" or np.may_share_memory(out, inputs[0]._data)))):
            base = inputs[0]
            result._version_box = base._version_box  # views share the version counter of their base
            if not OPS[op].stops_gradient:  # detach() shares it too, but is no view (PyTorch: no _base, no history)
                result._base = base._base if base._base is not None else base
                if base._version_box[0]:
                    result._view_version = base._version_box[0]
                if not _grad_state.enabled:
                    if not _grad_state.inference:
                        result._view_meta = _NO_GRAD_VIEW
                elif base._view_meta is not None:
                    result._view_meta = _view_of_no_grad_view(op, inputs, attrs)
        else:
            result._version_box = [0]
        if record and _grad_state.enabled and dtype.kind == "f":  # integer and bool results have no history
            if not OPS[op].stops_gradient:  # stop_gradient (an internal detach()): none either
                _record(result, op, inputs, attrs)
        elif _grad_state.inference:
            result._is_inference = True
        if traces:  # a constant of the running trace, computed once while it traces
            result._born_in = traces[-1]
        return result

    # The hottest operators skip bind's search for the owning interpreter when the other operand is
    # eager too (a symbolic operand still goes through bind, so tracing captures closed-over tensors).
    __add__, __radd__ = _operator("add"), _operator("add", reflected=True)
    __sub__ = _operator("sub")

    def __rsub__(self, o):
        out = _reflected_sub(self, o)
        # (PyTorch's node for `number - tensor`: its rsub of a scalar)
        return out._shown_as("RsubBackward1") if o.__class__ in _SCALAR_TYPES and out.__class__ is Tensor else out
    __mul__, __rmul__ = _operator("mul"), _operator("mul", reflected=True)
    __truediv__, __rtruediv__ = _operator("div"), _operator("div", reflected=True)
    def __neg__(self): return Tensor._apply("neg", (self,), _NO_ATTRS)

    # -- type and device ------------------------------------------------------------------------
    @property
    def _type(self) -> TensorType:
        data = self._data
        return _TYPES.get((data.shape, data.dtype.num)) or _type_of(data)

    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    @property
    def size(self) -> "ElementCount":
        """NumPy's ``x.size`` (the number of elements, an int) that is also PyTorch's ``x.size()`` (the shape)
        and ``x.size(dim)``."""
        return ElementCount(self._data.size, Size(self._data.shape))

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self) -> dtypes.dtype:
        return dtypes.BY_NAME[dtype_name(self._data.dtype)]

    @property
    def device(self) -> _device:
        """``device(type='cpu')``, or ``device(type='cuda', index=0)`` for a tensor held by CuPy."""
        return _CPU if type(self._data) is np.ndarray else _CUDA0

    @property
    def is_cuda(self) -> bool:
        return type(self._data) is not np.ndarray

    def _type_label(self) -> str:
        kind = dtypes.BY_NAME[dtype_name(self._data.dtype)].scalar_name + "Tensor"
        prefix = "torch.cuda." if self.is_cuda else "torch."
        return f"{prefix}{kind} [{', '.join(map(str, self._data.shape))}]" if self._data.ndim else f"{prefix}{kind} []"

    def to(self, *args, **kwargs) -> "Tensor":
        """``t.to("cuda")``, ``t.to(gg.float64)``, ``t.to("cpu", gg.float32)``, ``t.to(other)``."""
        device, dtype = kwargs.get("device"), kwargs.get("dtype")
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, (str, _device)):
                device = a
            else:
                dtype = a
        out = self
        if dtype is not None:
            out = out._cast(dtypes.to_name(dtype))
        if device is not None:
            out = _to_device(out, device)
        return out

    def cuda(self, device=None) -> "Tensor":
        return self.to("cuda")

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def type(self, dtype=None):
        if dtype is None:
            return self._type_label().split(" ")[0]
        return self.to(dtype)

    # -- autograd state -------------------------------------------------------------------------
    @property
    def _version(self) -> int:
        """How many times this tensor's storage was modified in place (shared by its views and detach())."""
        return self._version_box[0]

    @property
    def requires_grad(self) -> bool:
        if _TRACES.stack and self._born_in is None:  # a trace branching on it holds while it does (not for its
            _TRACES.stack[-1].guard(self, "_requires_grad", self._requires_grad)  # own constants)
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if self.grad_fn is not None:
            raise RuntimeError(_leaf_only(flag))
        if flag:
            check_can_require_grad(self._data)
        self._requires_grad = bool(flag)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set ``requires_grad`` in place and return self; on a non-leaf only ``True`` (a no-op) is allowed."""
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError(_leaf_only(False))
        if self.grad_fn is None:
            if requires_grad and self._data.dtype.kind != "f":  # (PyTorch 2.13's wording here: no "complex")
                raise RuntimeError("only Tensors of floating point dtype can require gradients")
            self.requires_grad = requires_grad
        return self

    def is_inference(self) -> bool:
        """Whether this tensor was created inside ``inference_mode``; such tensors never enter autograd."""
        return self._is_inference

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def grad(self):
        if self.grad_fn is not None and not self._retains_grad and self._grad is None:
            warnings.warn(NON_LEAF_GRAD_WARNING, UserWarning, stacklevel=2)
        if _TRACES.stack and self._born_in is None:  # what a trace read of .grad is baked in: re-specialize
            _TRACES.stack[-1].guard(self, "_grad", self._grad)  # when it changes (None, or another tensor)
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None and not isinstance(value, Tensor):
            raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type "
                            f"{type(value).__name__}")
        if value is self:
            raise RuntimeError("can't assign Variable as its own grad")
        if value is not None and tuple(value.shape) != tuple(self.shape):
            raise RuntimeError("assigned grad has data of a different size")
        self._grad = value

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    @property
    def output_nr(self) -> int:
        return self._output_nr

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after ``backward()``: the gradient of its current
        value (an in-place change moves it to the new ``grad_fn``, as PyTorch's retains_grad hook moves)."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is not None and not self._retains_grad:
            self.grad_fn._set_retained(self._output_nr, weakref.ref(self))
            self._retains_grad = True

    def register_hook(self, hook) -> RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor replaces it."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            return RemovableHandle(self.grad_fn._tensor_hooks(self._output_nr), hook)
        if self._hooks is None:
            self._hooks = {}
        return RemovableHandle(self._hooks, hook)

    def _set_grad_fn(self, node, nr: int = 0) -> None:
        """Give this tensor new history (an in-place change, a view regenerated from its base); a retained
        gradient follows it to the new node."""
        old, old_nr = self.grad_fn, self._output_nr
        self.grad_fn = node
        if nr or old_nr:
            self._output_nr = nr
        if self._retains_grad:
            ref = old._retained(old_nr) if old is not None else None
            if ref is not None and ref() is self:
                old._set_retained(old_nr, None)
            if node is not None:
                node._set_retained(nr, weakref.ref(self))

    def _grad_edge(self) -> tuple:
        """The ``(node, output_nr)`` edge gradients for this tensor flow along."""
        if self.grad_fn is not None:
            return (self.grad_fn, self._output_nr)
        return (self._grad_node(), 0)

    def _grad_node(self):
        """The graph node gradients flow into: ``grad_fn``, or the leaf's ``AccumulateGrad``."""
        if self.grad_fn is not None:
            return self.grad_fn
        if not self._requires_grad:
            return None
        return self._accumulate_node()

    def _accumulate_node(self) -> AccumulateGrad:
        """This leaf's ``AccumulateGrad``: one per leaf while anything holds it."""
        acc = self._accumulator() if self._accumulator is not None else None
        if acc is None:
            acc = AccumulateGrad(self)
            self._accumulator = weakref.ref(acc)
        return acc

    def _accumulate(self, g: "Tensor", create_graph: bool) -> None:
        """Add ``g`` into the leaf's ``.grad`` as PyTorch's AccumulateGrad does: under ``create_graph`` the first
        gradient is a copy of ``g`` (``CopyBackwards``: never the very tensor another leaf or a hook holds) and
        later ones a recorded sum; otherwise the sum is added into ``.grad`` in place."""
        if create_graph:
            grad = self._grad
            if grad is not None:
                self._grad = grad + g
            elif g._requires_grad:
                self._grad = _recorded_copy(g, "CopyBackwards")
            else:
                self._grad = Tensor._wrap(g._data.copy())
        else:
            self._accumulate_array(g._data, False)

    def _accumulate_array(self, a, owned: bool) -> None:
        """Add the bare gradient array ``a`` into ``.grad``; ``owned``: ``a`` is a fresh array nobody else holds (a
        compiled backward's own result), which ``.grad`` may keep without a copy."""
        grad = self._grad
        if grad is None:
            # own the buffer: the same gradient array may flow to several leaves, or be the caller's
            self._grad = Tensor._wrap(a if owned else a.copy())
        else:
            # in place, as PyTorch's (grad mode is off): a .grad with history (from create_graph) or that
            # requires grad keeps both, and stays the same object
            grad._data += a
            grad._version_box[0] += 1

    def _retain(self, g, create_graph: bool) -> None:
        """Store ``g`` as a retained (non-leaf) gradient, as PyTorch's retains_grad hook: a copy the first time
        (``CloneBackward0`` under ``create_graph``), then a new sum, never an update of the tensor ``.grad``
        was."""
        grad = self._grad
        if create_graph:
            if grad is not None:
                self._grad = grad + g
            elif g._requires_grad:
                self._grad = _recorded_copy(g, "CloneBackward0")
            else:
                self._grad = Tensor._wrap(g._data.copy())
        elif grad is None:
            self._grad = Tensor._wrap(g._data.copy())
        else:
            self._grad = grad + Tensor._wrap(g._data)

    def backward(self, gradient=None, retain_graph=None, create_graph: bool = False, inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (see ``graphgrad.autograd.backward``)."""
        global _autograd_backward
        node = self.grad_fn
        if node is not None and node.into_leaves is not None and gradient is None and inputs is None \
                and not create_graph and not node._node_prehooks:
            # loss.backward() on a compiled function's output: straight into the leaves, no engine walk
            data = self._data
            if data.__class__ is np.ndarray and data.size == 1 and data.dtype.kind == "f":
                token = _fp_mode.set(_QUIET)
                try:
                    # the common 0-d loss takes a shared read-only 1 (generated code never writes into its
                    # arguments, and a leaf copies a gradient that is one of them); np.ones costs 2 us
                    seed = _ONES.get(data.dtype) if data.ndim == 0 else None
                    if seed is None:
                        seed = np.ones(data.shape, data.dtype) if data.ndim else _one(data.dtype)
                    if node.into_leaves(seed, bool(retain_graph)):
                        return
                finally:
                    _fp_mode.reset(token)
            elif data.ndim == 0 and data.dtype.kind == "f" and _is_device_array(data):
                # on a GPU a shared 1 per device and dtype likewise (cp.ones_like is a launch: about 20 us)
                key = (data.__class__, data.device.id, data.dtype.char)
                seed = _DEVICE_ONES.get(key)
                if seed is None:
                    with data.device:
                        seed = _DEVICE_ONES[key] = _xp(data).ones((), data.dtype)
                if node.into_leaves(seed, bool(retain_graph)):
                    return
        if _autograd_backward is None:  # autograd imports this module: bind on first use, not per call
            from .autograd import backward as _autograd_backward
        _autograd_backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    def _shown_as(self, name: str) -> "Tensor":
        if self.grad_fn is not None:
            self.grad_fn._name = name
        elif self._view_meta is not None and self._view_meta.startswith("Output 0 of "):  # PyTorch's view's node
            self._view_meta = _VIEW_OF_VIEW.format(short_name(name))
        return self

    def detach(self) -> "Tensor":
        """A tensor sharing this one's data (and version counter) with no history."""
        return Tensor._wrap(self._data, version=self._version_box)

    def detach_(self) -> "Tensor":
        self.grad_fn = None
        self._requires_grad = False
        return self

    @property
    def data(self) -> "Tensor":
        """The same storage, without history; changes through it are not tracked by autograd."""
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value: "Tensor") -> None:
        self._data = value._data if isinstance(value, Tensor) else _to_array(value, None)

    # -- conversion -----------------------------------------------------------------------------
    def numpy(self, force: bool = False) -> np.ndarray:
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        if self.is_cuda and not force:
            raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the "
                            "tensor to host memory first.")
        return self._data if not self.is_cuda else self._data.get()

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        if _TRACES.stack:
            _guard_contents(self)
        return self._data.reshape(()).item() if self._data.ndim else self._data.item()

    def tolist(self):
        if _TRACES.stack:
            _guard_contents(self)
        data = self._data if not self.is_cuda else self._data.get()
        return data.tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __index__(self) -> int:
        if dtype_name(self._data.dtype) != "int64" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __array__(self, dtype=None, copy=None):
        data = self.numpy()
        return data if dtype is None else data.astype(dtype)

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def _index_array(self):
        return self._data

    def __repr__(self) -> str:
        from .printing import tensor_repr

        fn = self.grad_fn
        data = self._data if not self.is_cuda else self._data.get()
        return tensor_repr(data, dtype=dtype_name(self._data.dtype), requires_grad=self._requires_grad,
                           grad_fn_name=fn.name() if fn is not None else None,
                           device="cuda" if self.is_cuda else "cpu")

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        return (_rebuild, (self.numpy(force=True), self._requires_grad))

    def __deepcopy__(self, memo):
        if self.grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                               "protocol at the moment.  If you were attempting to deepcopy a module, this may "
                               "be because of a torch.nn.utils.weight_norm usage, see "
                               "https://github.com/pytorch/pytorch/pull/103001")
        new = type(self).__new__(type(self))
        _init(new, self._data.copy(), self._requires_grad)
        if self._grad is not None:
            new._grad = Tensor._wrap(self._grad._data.copy())
        # user attributes travel; autograd state (hooks, the leaf's node, view base) stays behind
        new.__dict__.update({k: v for k, v in self.__dict__.items() if k not in _AUTOGRAD_STATE})
        memo[id(self)] = new
        return new

    def clone(self) -> "Tensor":
        if _TRACES.stack and self._born_in is not _TRACES.stack[-1]:  # a copy of the value at each call
            return Tensor._apply("cast", (self,), {"dtype": self._type.dtype})
        return _recorded_copy(self, "CloneBackward0") if self._requires_grad else Tensor._wrap(self._data.copy())

    def contiguous(self, memory_format=None) -> "Tensor":
        """The tensor itself if its elements lie in row-major order, else a copy that does (PyTorch's: a view's
        copy no longer shares the view's memory, so in-place updates of it leave the base alone)."""
        if self._data.flags.c_contiguous:
            return self
        return self.clone()

    # -- values with their indices (eager: the indices are computed first, the values gathered by them) ------
    def max(self, dim=None, keepdim: bool = False, **numpy_keywords):
        """``x.max()`` is the largest element; ``x.max(dim)`` returns ``torch.return_types.max(values, indices)``
        whose values' gradient goes to the element the index names, as in PyTorch; ``x.max(axis=1)`` (NumPy's
        keywords) the values alone, as NumPy."""
        if numpy_keywords or dim is None or isinstance(dim, TensorBase) or _TRACES.stack:
            return super().max(dim, keepdim, **numpy_keywords)
        return _along(self, "max", dim, keepdim)

    def min(self, dim=None, keepdim: bool = False, **numpy_keywords):
        if numpy_keywords or dim is None or isinstance(dim, TensorBase) or _TRACES.stack:
            return super().min(dim, keepdim, **numpy_keywords)
        return _along(self, "min", dim, keepdim)

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        """``(values, indices)`` sorted along ``dim`` (ties keep their order); values are differentiable.

        >>> import graphgrad as gg
        >>> gg.tensor([3.0, 1.0, 2.0]).sort(descending=True).indices
        tensor([0, 2, 1])
        """
        return _along(self, "sort", dim, True, descending=descending)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False, **numpy_keywords) -> "Tensor":
        if numpy_keywords:  # NumPy's axis= (None: flattened), kind=
            return super().argsort(dim, descending, stable, **numpy_keywords)
        return _along(self, "sort", dim, True, descending=descending).indices

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
        """The ``k`` largest (or smallest) elements along ``dim`` and their indices."""
        return _along(self, "topk", dim, True, descending=largest, k=k)

    # -- in place -------------------------------------------------------------------------------
    def _inplace(self, op: str, *args, overlap_ok: bool = False, **attrs) -> "Tensor":
        """Run ``op(self, *args)`` (``self`` at the ``_SELF`` marker if given) out of place, then write the
        result into this tensor's storage."""
        apply = Tensor._apply if not _TRACES.stack else (lambda op, inputs, attrs: bind(op, *inputs, **attrs))
        if any(a is _SELF for a in args):
            return self._inplace_with(lambda old: apply(op, tuple(old if a is _SELF else a for a in args), attrs),
                                      overlap_ok=overlap_ok)
        return self._inplace_with(lambda old: apply(op, (old,) + args, attrs), overlap_ok=overlap_ok)

    def _inplace_with(self, compute, name: str | None = None, *, written=None, overlap_ok: bool = False,
                      warn: str | None = None) -> "Tensor":
        """Write ``compute(old)`` into this tensor's storage as one in-place operation (one version bump).

        ``old`` is an alias of the current value. A gradient rule that saved it gets a copy of the overwritten
        value instead (as PyTorch saves the original when the formula needs it). On a view of a tensor with
        history the base's history is rebased (PyTorch's ``CopySlices``): the base becomes "the old base with
        the view's elements replaced". ``name`` names the resulting node.

        Where elements of this tensor share memory (an expanded tensor) PyTorch refuses the write (``OVERLAP``)
        unless the op is one it lets through (``overlap_ok``: fill_, zero_, index_put_, masked_fill_, index_fill_,
        x[index] = v, the last three with ``warn``, its deprecation warning). Such an op writes only its own
        elements, in its order: ``written()`` gives their flat positions (None: every element, all with one value),
        so that an element sharing memory with a written one does not write its old value back.
        """
        if self._is_inference and not _grad_state.inference:
            raise RuntimeError(INFERENCE_INPLACE)
        if _TRACES.stack and self._born_in is not _TRACES.stack[-1]:
            return _inplace_into_trace(self, compute)
        tracked = is_grad_enabled()
        base = self._base
        if tracked and self._view_meta is not None and base._requires_grad:
            raise RuntimeError(no_grad_view_error(self._view_meta))
        if tracked and self._requires_grad and self.grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        if tracked and base is not None and base._requires_grad and base.grad_fn is None:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place "
                               "operation.")
        if base is not None and self._view_version != self._version_box[0]:
            _refresh_view(self)
        first_new = next(_node_sequence)
        old = Tensor._wrap(self._data, self._requires_grad, self.grad_fn, self._version_box)
        result = compute(old)
        refused = in_place_cast_error(result._data.dtype.name, self._data.dtype.name)
        if refused:
            raise RuntimeError(refused)
        if tracked and self._view_meta is not None and result.grad_fn is not None:  # (a value requiring grad)
            raise RuntimeError(no_grad_view_error(self._view_meta))
        if result._data.shape != self._data.shape:
            raise RuntimeError(f"output with shape {list(self._data.shape)} doesn't match the broadcast shape "
                               f"{list(result._data.shape)}")
        data = self._data
        overlap = 0 in data.strides and _internal_overlap(data)
        # (the common case, a writable array, without a call: this runs once per in-place op)
        target = data if not overlap and data.__class__ is np.ndarray and data.flags.writeable else \
            None if overlap and not overlap_ok else _writable(data)
        if target is None:
            raise RuntimeError(OVERLAP)
        if overlap and warn:
            _warn_at_user(warn)
        flat = written() if overlap and written is not None else None
        if result.grad_fn is not None:
            _keep_overwritten(result.grad_fn, old, first_new)
        rebase = tracked and base is not None and (result.grad_fn is not None or base._requires_grad)
        if rebase:
            from .views import replace, view_positions

            base_old = Tensor._wrap(base._data, base._requires_grad, base.grad_fn, base._version_box)
            positions = view_positions(base, self)
            if flat is None:
                new_base = replace(base_old, positions, result)
            else:  # only the written elements, in order (of positions sharing memory the last wins)
                new_base = replace(base_old, positions.reshape(-1)[flat],
                                   result.reshape(-1)[Tensor._wrap(flat.astype(np.int64))])
        if flat is None:
            target[...] = result._data
        else:
            at = _xp(data).unravel_index(flat, data.shape)
            target[at] = result._data[at]
        self._version_box[0] += 1
        if base is not None:
            self._view_version = self._version_box[0]
        if result.grad_fn is not None:
            if name is not None:
                result.grad_fn._name = name
            self._set_grad_fn(result.grad_fn, result._output_nr)
            self._requires_grad = True
            if result.grad_fn._out is not None:
                result.grad_fn._out = (self._data, self._version_box, self._version_box[0])
        if rebase:
            new_base.grad_fn._name = "CopySlices"
            base._set_grad_fn(new_base.grad_fn)
            base._requires_grad = True
            # the view's history is now its elements of the base's new history (PyTorch regenerates its grad_fn):
            # hooks and retain_grad from now on see the view's gradient through the base
            _view_history_from_base(self, positions)
        return self

    def add_(self, other, alpha=1):
        if alpha != 1 and alpha.__class__ in (int, float) and self._plain_update(other):
            # p.add_(g, alpha=-lr) in an optimizer's step: the sum is written straight into p (the general path
            # makes the sum, then copies it in); the same arithmetic
            _scaled_add(self._data, other._data, alpha)
            self._version_box[0] += 1
            return self
        return super().add_(other, alpha=alpha)  # (graphgrad.ops.in_place's)

    def _plain_update(self, other) -> bool:
        """Whether ``self.add_(other, alpha)`` is plain array arithmetic: no autograd to record (grad mode off, or
        neither requires grad), no view to keep in step with its base, no trace, same device, shape and dtype."""
        if other.__class__ is not Tensor:
            return False
        data, other_data = self._data, other._data
        if data.__class__ is np.ndarray:  # (the optimizer's every step: the flag itself, no call)
            writable = other_data.__class__ is np.ndarray and data.flags.writeable
        else:
            writable = other_data.__class__ is data.__class__ and data.device == other_data.device \
                and not _internal_overlap(data)
        return (writable and self._base is None and not _TRACES.stack
                and not (is_grad_enabled() and (self._requires_grad or other._requires_grad))
                and not (self._is_inference and not _grad_state.inference)
                and other_data.shape == data.shape and other_data.dtype == data.dtype)

    def clamp(self, min=None, max=None) -> "Tensor":
        """Limit to ``[min, max]`` (``graphgrad.ops``' clamp, which compiled code runs too), shown as PyTorch's
        ClampBackward1."""
        out = super().clamp(min, max)
        if not _TRACES.stack and out.grad_fn is not None:
            out.grad_fn._name = "ClampBackward1"
            out.grad_fn._shown = ((self._grad_node(), 0),)
        return out

    clip = clamp

    def zero_(self) -> "Tensor":
        return self.fill_(0)

    def fill_(self, value) -> "Tensor":
        if isinstance(value, TensorBase):  # a 0-d tensor: its value, differentiably (as copy_ broadcasts it)
            check_fill_value(value)
            return self.copy_(value)
        # (a number fills an expanded tensor too, as PyTorch's: every element gets the one value)
        return self._inplace("full_like", value=float(value) if self.is_floating_point() else value, overlap_ok=True)

    def copy_(self, src) -> "Tensor":
        """Overwrite with ``src`` (broadcast and cast); differentiable in ``src``, not in the old value."""
        if not isinstance(src, Tensor):
            src = Tensor._wrap(_to_array(src, None))
        if src.is_cuda != self.is_cuda:
            src = src.to(self.device)
        if src._data.dtype != self._data.dtype:  # copy_ converts (the in-place casting rule does not apply)
            src = src._cast(self.dtype.name)
        return self._inplace("where", True, src, _SELF)

    # -- composites PyTorch has as methods, and writes into part of a tensor -----------------------------------
    def log2(self): return (self.log() / float(np.log(2.0)))._shown_as("Log2Backward0")
    def log10(self): return (self.log() / float(np.log(10.0)))._shown_as("Log10Backward0")

    def masked_fill_(self, mask, value) -> "Tensor":
        def written():
            m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
            return _xp(m).flatnonzero(_xp(m).broadcast_to(m, self._data.shape))
        return self._inplace_with(lambda old: old.masked_fill(mask, value), written=written, overlap_ok=True,
                                  warn=_DEPRECATED_ON_EXPANDED.format("masked_fill_", "mask", "scalar"))


    def __setitem__(self, index, value) -> None:
        """``x[index] = value``; on a tensor with history (or a value with one) it is recorded as PyTorch's
        ``CopySlices`` (``IndexPutBackward0`` for a mask or integer-array index), so gradients flow to the
        elements that were not overwritten and to ``value``."""
        if self._is_inference and not _grad_state.inference:
            raise RuntimeError(INFERENCE_INPLACE)
        base = self._base
        warn = None
        if 0 in self._data.strides:  # an expanded tensor (no other has elements sharing memory)
            from .views import written_view

            written, advanced, mask = written_view(self._data, index)
            if _internal_overlap(written):  # PyTorch's rule: a basic index writes into x[index], which must not
                if not advanced:            # overlap; an advanced one is index_put_ into that view, which it lets
                    raise RuntimeError(OVERLAP)  # through, warning
                warn = _DEPRECATED_ON_EXPANDED.format("index_put_", "indices", "tensor")
                if mask:
                    warn = (warn, _DEPRECATED_ON_EXPANDED.format("masked_fill_", "mask", "scalar"))
        if not (is_grad_enabled() and (self._requires_grad or getattr(value, "_requires_grad", False)
                                       or (base is not None and base._requires_grad))):
            if isinstance(value, Tensor) and value.is_cuda != self.is_cuda:
                value = value.to(self.device)
            from .views import write_at

            data = self._data
            target = data if data.__class__ is np.ndarray and data.flags.writeable else _writable(data)
            if target is None:
                raise RuntimeError(OVERLAP)
            if warn:
                _warn_at_user(warn)
            write_at(target, index, value._data if isinstance(value, Tensor) else value)
            self._version_box[0] += 1
            return
        from .views import as_value, index_positions, replace

        if self._view_meta is not None:  # PyTorch writes through a view of this view unless the index is advanced
            written = _basic_index_view(index)
            if written is not None and (base._requires_grad or getattr(value, "_requires_grad", False)):
                raise RuntimeError(no_grad_view_error(self._view_meta if written == "" else
                                                      _VIEW_OF_VIEW.format(written)))
        positions = index_positions(self, index)
        value = as_value(value, self, positions.shape)
        advanced = any(isinstance(i, (Tensor, list, np.ndarray)) for i in (index if isinstance(index, tuple)
                                                                           else (index,)))
        self._inplace_with(lambda old: replace(old, positions, value),
                           "IndexPutBackward0" if advanced else "CopySlices",
                           written=lambda: positions.reshape(-1), overlap_ok=True, warn=warn)


_DEPRECATED_ON_EXPANDED = ("Use of {} on expanded tensors is deprecated. Please clone() the tensor before "
                           "performing this operation. This also applies to advanced indexing e.g. tensor[{}] = {}")


def _warn_at_user(messages) -> None:
    """PyTorch's UserWarning(s), shown at the user's line."""
    from ..ops.define import warn_user

    for message in (messages,) if isinstance(messages, str) else messages:
        warn_user(message)


def _in_place_view(name: str):
    """PyTorch's ``t_``, ``unsqueeze_``, ...: the tensor itself becomes that view of its memory (one version bump),
    its history the view's."""
    def method(self, *args):
        if _TRACES.stack:
            raise RuntimeError(f"{name}_() on a tensor inside a compiled function: use the out-of-place "
                               f"x = x.{name}(...) there")
        if self._base is not None:
            raise NotImplementedError(f"{name}_() on a view of another tensor: use x = x.{name}(...) instead")
        if is_grad_enabled() and self._requires_grad and self.grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        view = getattr(self, name)(*args)
        self._data = view._data
        if view.grad_fn is not None:
            self.grad_fn = view.grad_fn
        self._version_box[0] += 1
        return self
    method.__name__ = name + "_"
    method.__doc__ = f"In-place ``{name}``: this tensor becomes ``{name}(...)`` of itself (a view of its memory)."
    return method


for _name in ("t", "transpose", "swapaxes", "swapdims", "squeeze", "unsqueeze"):
    setattr(Tensor, _name + "_", _in_place_view(_name))


def _keep_overwritten(node, old: Tensor, first_new: int) -> None:
    """Nodes recorded by an in-place op (sequence numbers from ``first_new``) that saved ``old``, the value
    about to be overwritten, or another tensor of its memory (a composite's slice of it, cumprod_'s; the alias a
    cast to its own dtype gives, mvlgamma_'s), save a copy of it instead."""
    data = old._data
    share = _xp(data).may_share_memory
    copies: dict = {}

    def overwritten(x) -> bool:
        return x is old or (isinstance(x, Tensor) and x._data.__class__ is data.__class__
                            and bool(share(x._data, data)))

    def copy_of(x: Tensor) -> Tensor:
        if id(x) not in copies:
            copies[id(x)] = Tensor._wrap(x._data.copy(), x._requires_grad, x.grad_fn)
        return copies[id(x)]

    stack, seen = [node], set()
    while stack:
        n = stack.pop()
        if id(n) in seen or not isinstance(n, Node) or n._seq < first_new:
            continue
        seen.add(id(n))
        hit = [overwritten(x) for x in n._saved]
        if any(hit):
            n._versions = tuple(0 if h else v for h, v in zip(hit, n._versions))
            n._saved = tuple(copy_of(x) if h else x for h, x in zip(hit, n._saved))
        stack.extend(nxt for nxt, _ in n._next if nxt is not None)


def _xp(data):
    if type(data) is np.ndarray:
        return np
    import cupy
    return cupy


def _open_grid(xp, shape: tuple) -> list:
    """``xp.indices(shape, sparse=True)``, which CuPy lacks (its ``indices`` has no ``sparse``): per axis an
    index array spanning that axis, of size 1 along the others."""
    return list(xp.ix_(*[xp.arange(n) for n in shape]))


def _along(x: Tensor, kind: str, dim: int, keepdim: bool, descending: bool = False, k: int | None = None):
    """``max``/``min``/``sort``/``topk`` along ``dim``: integer indices without history, and values gathered at
    them (one node, named as PyTorch names its backward, whose gradient goes to the picked elements)."""
    from . import return_types

    data = x._data
    xp = _xp(data)
    ndim = data.ndim
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of [{-max(ndim, 1)}, {max(ndim, 1) - 1}], "
                         f"but got {dim})")
    dim %= max(ndim, 1)
    work = data.reshape(1) if ndim == 0 else data
    if kind in ("max", "min"):
        if work.shape[dim] == 0:
            raise IndexError(f"{kind}(): Expected reduction dim {dim} to have non-zero size.")
        idx = (xp.argmax if kind == "max" else xp.argmin)(work, axis=dim)
        idx = xp.expand_dims(idx, dim)
    else:
        if k is not None and not 0 <= k <= work.shape[dim]:
            raise RuntimeError("selected index k out of range")
        if descending:  # (as the argsort op's: nan first, ties in their order)
            idx = work.shape[dim] - 1 - xp.flip(xp.argsort(xp.flip(work, dim), axis=dim, kind="stable"), dim)
        else:
            idx = xp.argsort(work, axis=dim, kind="stable")
        if k is not None:
            idx = xp.take(idx, xp.arange(k), axis=dim)
    coords = _open_grid(xp, idx.shape)
    coords[dim] = idx
    flat = xp.ravel_multi_index(tuple(xp.broadcast_arrays(*coords)), work.shape)
    if kind in ("max", "min") and not keepdim or ndim == 0:
        idx, flat = xp.squeeze(idx, axis=dim), xp.squeeze(flat, axis=dim)
    values = x.reshape(-1)[Tensor._wrap(flat.astype(np.int64))]
    if values.grad_fn is not None:
        values.grad_fn._name = kind.capitalize() + "Backward0"
        values.grad_fn._shown = ((x._grad_node(), 0),)
    return getattr(return_types, kind)(values, Tensor._wrap(idx.astype(np.int64)))


def _contents(t: Tensor) -> tuple:
    """the value of an eager tensor read with .item() / .tolist() / float() while tracing"""
    data = t._data if t._data.__class__ is np.ndarray else t._data.get()
    return (data.shape, data.dtype.str, data.tobytes())


def _guard_contents(t: Tensor) -> None:
    """A compiled function whose trace read this eager tensor's value as a Python number (``if t.item() > 0``,
    ``float(t)``) re-specializes when that value changes, rather than keep a stale constant."""
    _TRACES.stack[-1].guard(t, _contents, _contents(t))


def _init(t: Tensor, array, requires_grad: bool = False, grad_fn=None, version=None) -> None:
    t._data = array
    t._requires_grad = requires_grad
    t.grad_fn = grad_fn
    t._version_box = version if version is not None else [0]


_FLOAT64 = np.dtype(np.float64).num


def _element_view(array: np.ndarray, attrs: dict) -> np.ndarray:
    """``x[0]`` of a 1-d tensor: NumPy gives a scalar, a copy, where PyTorch gives a 0-d view whose in-place
    updates reach ``x``; a trailing ``...`` makes NumPy give that view."""
    index = attrs["index"]
    if all(i.__class__ is int for i in index):  # (x[0], x[1, 2]: encoded as themselves, nothing to decode)
        return array[index + (Ellipsis,)]
    index = decode_index(index)
    if any(i is Ellipsis or isinstance(i, np.ndarray) for i in index):  # integer arrays: a copy in both
        return np.asarray(array[index])
    return array[index + (Ellipsis,)]


def _has_float64_operand(inputs: tuple) -> bool:
    for x in inputs:
        if isinstance(x, TensorBase) and x._data.dtype.num == _FLOAT64 and x._data.ndim:
            return True
    return False


def _as_pytorch_dtype(op: str, inputs: tuple, attrs: dict, out):
    """NumPy gave float64 where PyTorch's promotion (the IR's) may not: int tensor * 2.5, float32 with int64,
    int / int, exp(int). Cast to what the op's type rule says."""
    dtype = infer_type(op, [x._type if isinstance(x, TensorBase) else x for x in inputs], attrs).dtype
    return out if dtype == "float64" else out.astype(dtype)


#: the NumPy dtypes graphgrad stores (``ir.types.DTYPES``)
_STORED = frozenset(np.dtype(name).num for name in ("bool", "int64", "float32", "float64"))


def _from_cast_bools(op: str, inputs: tuple, attrs: dict, fn, arrays: list):
    """``op`` computed again with its bool operands cast to the result's dtype: NumPy computed in a dtype
    graphgrad does not store (``codegen.expressions.computes_narrow``: exp of bools in float16, ``bool ** 2`` in
    int8), as generated code does."""
    dtype = infer_type(op, [x._type if isinstance(x, TensorBase) else x for x in inputs], attrs).dtype
    out = fn(*[a.astype(dtype) if getattr(a, "dtype", None) == np.bool_ and a.__class__ is not bool else a
               for a in arrays])
    return out if out.dtype == dtype else out.astype(dtype)


def _reads_state(inputs: tuple) -> bool:
    """Whether an eager op run while tracing reads a tensor that existed before the trace (a closed-over
    tensor, a module buffer): it is then recorded into the trace, so each call reads that tensor's current
    value instead of the one it had at trace time."""
    tracer = _TRACES.stack[-1]
    for x in inputs:
        if isinstance(x, Tensor) and x._born_in is not tracer:
            return True
    return False


def _inplace_into_trace(t: Tensor, compute) -> Tensor:
    """An in-place update, while tracing, of a tensor that outlives the trace (a closed-over tensor, a module
    buffer): recorded into the graph and written back into ``t`` after each call of the compiled function."""
    from ..tracer.tracer import user_location

    _TRACES.stack[-1].update_captured(t, compute, "update", user_location(3))
    return t


def _into_trace(op: str, inputs: tuple, attrs: dict):
    """Record an eager op on tensors that require grad into the running trace (they become its inputs)."""
    tracer = _TRACES.stack[-1]
    lifted = tuple(tracer.wrap(tracer.lift(x, op)) if isinstance(x, Tensor) else x for x in inputs)
    return bind(op, *lifted, **attrs)


def check_can_require_grad(array, at_creation: bool = False) -> None:
    """PyTorch's error for requires_grad on a non-float tensor: capitalized when raised at creation (factories,
    Variable), lower-case from the setter and requires_grad_()."""
    if array.dtype.kind != "f":
        raise RuntimeError(FLOAT_ONLY[0].upper() + FLOAT_ONLY[1:] if at_creation else FLOAT_ONLY)


def _kernel(op: str, attrs: dict, nargs: int, xp: str):
    """The compiled array expression of ``op``; those without attributes are also kept in ``_PLAIN_KERNELS``,
    which the interpreters read first, as it skips the lru_cache's argument hashing."""
    if attrs:
        return kernel(op, tuple(attrs.items()), nargs, xp)
    fn = _PLAIN_KERNELS[(op, nargs, xp)] = kernel(op, (), nargs, xp)
    return fn


_NO_GRAD_VIEW = "A view was created in"
_VIEW_OF_VIEW = "Output 0 of {} is a view of a view which was created in"


def no_grad_view_error(meta: str) -> str:
    """PyTorch's refusal to write in place, with grad mode on, into a view made in no_grad mode (``meta`` is how
    the message starts: that view, or a view of it)."""
    return (f"{meta} no_grad mode and is being modified inplace with grad mode enabled. Given that this use case is "
            "ambiguous and error-prone, it is forbidden. You can clarify your code by moving both the view and the "
            "inplace either both inside the no_grad block (if you don't want the inplace to be tracked) or both "
            "outside (if you want the inplace to be tracked).")


def _view_of_no_grad_view(op: str, inputs: tuple, attrs: dict) -> str:
    """The error's start for a view taken, in grad mode, of a no_grad view: PyTorch names the new view's node
    when it has one (its input requires grad there: a no_grad view of a tensor requiring grad does)."""
    x = inputs[0]
    if not (x._requires_grad or (x._base is not None and x._base._requires_grad)):
        return x._view_meta
    from .function import backward_name

    name = backward_name(op, attrs, tuple(i._type if isinstance(i, Tensor) else None for i in inputs))
    return _VIEW_OF_VIEW.format(short_name(name))


def _basic_index_view(index) -> str | None:
    """For ``x[index] = v``: None when PyTorch writes into ``x`` itself (an advanced index), "" when the basic index
    selects all of ``x``, else the name of the last view PyTorch takes to write through (Select, Slice,
    Unsqueeze)."""
    name = ""
    for item in index if isinstance(index, tuple) else (index,):
        if isinstance(item, (Tensor, list, np.ndarray, bool)):
            return None
        if item is None:
            name = "Unsqueeze"
        elif isinstance(item, slice):
            if item != slice(None):
                name = "Slice"
        elif item is not Ellipsis:
            name = "Select"
    return name


def _recorded_copy(t: Tensor, name: str) -> Tensor:
    """A copy of ``t`` recorded (under grad mode) as node ``name``, saving nothing, as PyTorch's clone: a second
    backward through it is allowed."""
    return Tensor._apply("cast", (t,), {"dtype": t._type.dtype})._shown_as(name)


def _leaf_only(flag: bool) -> str:
    text = "you can only change requires_grad flags of leaf variables."
    if not flag:
        text += (" If you want to use a computed variable in a subgraph that doesn't require differentiation use "
                 "var_no_grad = var.detach().")
    return text


def _rebuild(array, requires_grad):
    return Tensor._wrap(array, requires_grad)


def _record(result: Tensor, op: str, inputs: tuple, attrs: dict) -> None:
    """Give ``result`` a ``grad_fn``: the node saves only what the rules of the inputs requiring grad read."""
    rule = VJP_RULES.get(op)
    if len(inputs) == 2 and rule is not None and rule.by_mask:  # the commonest case, without loops or lists
        a, b = inputs
        uses_out, uses, type_only = rule.by_mask[(isinstance(a, Tensor) and a._requires_grad)
                                                 | (isinstance(b, Tensor) and b._requires_grad) << 1]
        edge_a, type_a, saved_a, version_a = _input_record(a, 0 in uses, rule, 0 in type_only)
        if b.__class__ in _SCALAR_TYPES:  # y * 2.0: the number is kept for the rule (_input_record, inlined)
            edge_b, type_b, saved_b, version_b = _NO_EDGE, None, b, (None if 1 in uses else UNHELD)
        else:
            edge_b, type_b, saved_b, version_b = _input_record(b, 1 in uses, rule, 1 in type_only)
        node = Node(op, attrs, (edge_a, edge_b), (saved_a, saved_b), (version_a, version_b), (type_a, type_b),
                    None)
    else:
        if rule is None:  # no rule: recorded anyway, backward() names the op
            uses, uses_out, type_only = (), False, ()
        elif rule.by_mask:
            mask = 0
            for i, x in enumerate(inputs):
                if isinstance(x, Tensor) and x._requires_grad:
                    mask |= 1 << i
            uses_out, uses, type_only = rule.by_mask[mask]
        else:
            uses, uses_out, type_only = rule.uses_inputs, rule.uses_out, rule.type_only
        records = [_input_record(x, i in uses, rule, i in type_only) for i, x in enumerate(inputs)]
        edges, types, saved, versions = zip(*records)  # recorded ops have a tensor input
        node = Node(op, attrs, edges, saved, versions, types, None)
    if uses_out:
        node._out = (result._data, result._version_box, result._version_box[0])
    result._requires_grad = True
    result.grad_fn = node



class _TypeOnly(TensorBase):
    """The shape and dtype of a saved input, without its value: what is kept of an input whose gradient rules read
    only its type (``passes.vjp_rules`` finds those), so that changing it in place afterwards is harmless
    (``y[1:3]`` then ``y.mul_(2)``), as in PyTorch."""

    __slots__ = ("_type",)
    _level = -1

    def __init__(self, type_: TensorType):
        self._type = type_


def _refresh_view(view: Tensor) -> None:
    """A view whose base (or another view of it) was written in place since the view's ``grad_fn`` was made
    reads its elements from the base's new history, as PyTorch regenerates a view's ``grad_fn``."""
    base = view._base
    view._view_version = view._version_box[0]
    if not (base._requires_grad and is_grad_enabled()):
        return
    from .views import view_positions

    _view_history_from_base(view, view_positions(base, view))


def _view_history_from_base(view: Tensor, positions) -> None:
    """Make ``view``'s grad_fn the gather of its elements (flat ``positions``) from its base's history."""
    base = view._base
    fresh = base.reshape(-1)[Tensor._wrap(positions.astype(np.int64))]
    fresh.grad_fn._name = "AsStridedBackward0"
    fresh.grad_fn._shown = ((base._grad_node(), 0),)
    view._set_grad_fn(fresh.grad_fn)
    view._requires_grad = True
    view._view_version = view._version_box[0]


def _input_record(x, saved_here: bool, rule, type_only: bool = False) -> tuple:
    """(edge, type, saved value, version at save time) of one input of a recorded op."""
    if not isinstance(x, Tensor):  # Python scalars are kept: rules (and capture) read them
        return _NO_EDGE, None, (x if rule is not None else None), (None if saved_here else UNHELD)
    if x._base is not None and x._view_version != x._version_box[0]:
        _refresh_view(x)
    node = x.grad_fn
    if node is None:
        edge = (x._grad_node(), 0) if x._requires_grad else _NO_EDGE
    else:
        edge = (node, 0) if node._n_outputs == 1 else (node, x._output_nr)
    data = x._data
    type_ = _TYPES.get((data.shape, data.dtype.num)) or _type_of(data)
    if not saved_here:
        return edge, type_, None, None
    if type_only:
        return edge, type_, _TypeOnly(type_), UNHELD
    if x._is_inference:
        raise RuntimeError(INFERENCE_SAVED)
    return edge, type_, x, x._version_box[0]


def make_output(data, version, node) -> Tensor:
    """Rebuild a node's saved output as a tensor whose history is that node (for higher order)."""
    return Tensor._wrap(data, True, node, version)


class Cotangent(TensorBase):
    """A gradient on its way through ``backward()`` (without ``create_graph``): an array with the Tensor API
    and nothing else, so the same gradient rules run on it without the bookkeeping of autograd Tensors
    (history, version counters, hooks). Its level is above Tensor's: an op mixing a cotangent with saved
    tensors runs here. Users never see one; the engine turns it into a Tensor at hooks and at ``.grad``.
    """

    __slots__ = ("_data",)
    _level = 0.5
    _requires_grad = False
    grad_fn = None

    @property
    def _type(self) -> TensorType:
        data = self._data
        return _TYPES.get((data.shape, data.dtype.num)) or _type_of(data)

    @staticmethod
    def _apply(op: str, inputs: tuple, attrs: dict):
        arrays = []
        xp = "np"
        for x in inputs:
            if isinstance(x, TensorBase):
                data = x._data
                if data.__class__ is not np.ndarray:
                    xp = "cp"
                arrays.append(data)
            else:
                arrays.append(x)
        fn = _PLAIN_KERNELS.get((op, len(arrays), xp)) if not attrs else None
        if fn is None:
            fn = _kernel(op, attrs, len(arrays), xp)
        try:
            out = fn(*arrays)  # backward() already quiets floating-point errors
        except Exception as e:
            raise _explain(op, inputs, attrs, e) from None
        if out.__class__ is not np.ndarray and xp == "np":
            out = np.asarray(out)
        result = _new(Cotangent)
        result._data = out
        return result

    def __mul__(self, o): return Cotangent._apply("mul", (self, o), _NO_ATTRS)
    def __rmul__(self, o): return Cotangent._apply("mul", (o, self), _NO_ATTRS)
    def __add__(self, o): return Cotangent._apply("add", (self, o), _NO_ATTRS)
    def __radd__(self, o): return Cotangent._apply("add", (o, self), _NO_ATTRS)
    def __neg__(self): return Cotangent._apply("neg", (self,), _NO_ATTRS)

    def tensor(self) -> Tensor:
        return Tensor._wrap(self._data)


def as_cotangent(g: Tensor) -> Cotangent:
    c = _new(Cotangent)
    c._data = g._data
    return c


def _to_array(data, dtype):
    """Python data or arrays to an ndarray with PyTorch's default dtypes (float32 for Python floats)."""
    if isinstance(data, Tensor):
        arr = data._data
    elif data.__class__ is np.ndarray or _is_device_array(data):
        arr = data
    elif isinstance(data, np.ndarray):
        # a subclass (np.matrix, whose * is a matrix product; a memmap; a masked array's data) as a plain array
        # sharing its memory: kept as it was, it passed for a CUDA array and computed with its own operators
        arr = np.asarray(data)
    elif isinstance(data, np.generic):  # a NumPy scalar keeps its dtype, as an array does (PyTorch's rule)
        arr = np.asarray(data)
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flatten(data)):
            data = _nested_items(data)
        arr = np.asarray(data)
        # Python floats take the default dtype; a NumPy float64 scalar (a float subclass) in a list keeps float64,
        # as in PyTorch (np.float64(-3030569.1453) became float32 -3030569.25)
        if dtype is None and arr.dtype.kind == "f" and not (
                arr.dtype == np.float64 and isinstance(data, (list, tuple)) and any(
                    isinstance(x, np.float64) for x in _flatten(data))):
            arr = arr.astype(dtypes.default_float().numpy)
        if dtype is None and arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
    if dtype is not None:
        arr = arr.astype(dtypes.BY_NAME[dtypes.to_name(dtype)].numpy, copy=False)
    elif arr.dtype.kind in "iu" and arr.dtype != np.int64:
        arr = arr.astype(np.int64)
    elif arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    elif arr.dtype.kind not in "fbiu":
        raise TypeError(f"can't convert np.ndarray of type {arr.dtype}. The only supported types are: "
                        "float64, float32, int64, and bool.")
    return arr


def _flatten(xs):
    for x in xs:
        if isinstance(x, (list, tuple)):
            yield from _flatten(x)
        else:
            yield x


def _nested_items(xs):
    return [(_nested_items(x) if isinstance(x, (list, tuple)) else (x.item() if isinstance(x, Tensor) else x))
            for x in xs]


def require_cupy():
    """The cupy module, or PyTorch-users' clear error when the 'cuda' device is not usable here."""
    try:
        import cupy
        cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # ImportError, or CuPy without a driver/GPU
        raise RuntimeError(
            "graphgrad's 'cuda' device needs CuPy and an NVIDIA GPU, and none is usable here "
            f"({type(e).__name__}: {e}). Install the extra with: pip install 'graphgrad[cuda]'") from None
    return cupy


def _to_device(t: Tensor, device) -> Tensor:
    kind = _device(device).type
    if kind == "cpu":
        if not t.is_cuda:
            return t
        return _transfer(t, t._data.get())
    if t.is_cuda:
        return t
    return _transfer(t, require_cupy().asarray(t._data))


def _transfer(t: Tensor, array) -> Tensor:
    """A device copy that stays differentiable: gradients flow back to the source device."""
    out = Tensor._wrap(array)
    if t._requires_grad and is_grad_enabled():
        out._requires_grad = True
        out.grad_fn = _TransferNode(t)
    return out


class _TransferNode(Node):
    """``ToCopyBackward0`` across devices: moves the gradient back where the input lives."""

    __slots__ = ("_to_cpu",)

    def __init__(self, src: Tensor):
        super().__init__("cast", {"dtype": dtype_name(src._data.dtype)}, (src._grad_edge(),),
                         (None,), (None,), (src._type,), None, "ToCopyBackward0")
        self._to_cpu = not src.is_cuda

    def apply(self, g: Tensor) -> list:
        return [g.to("cpu" if self._to_cpu else "cuda")]


def _explain(op: str, inputs: tuple, attrs: dict, error: Exception) -> Exception:
    """Turn an array library failure into a message naming the op, shapes and dtypes."""
    types = [x._type if isinstance(x, (Tensor, Cotangent)) else x for x in inputs]
    devices = {str(x.device) for x in inputs if isinstance(x, Tensor)}
    if len(devices) > 1:
        return RuntimeError("Expected all tensors to be on the same device, but found at least two devices, "
                            + " and ".join(sorted(devices, reverse=True)) + "!")
    try:
        infer_type(op, types, attrs)
    except (ShapeError, IndexError) as e:
        return RuntimeError(str(e)) if isinstance(e, ShapeError) else e
    if op in ERRORS:  # the op's own words for a failure of valid input (a singular matrix)
        better = ERRORS[op]([getattr(x, "_data", x) for x in inputs], error, **attrs)
        if better is not None:
            return better
    if isinstance(error, IndexError) and "out of bounds for axis" in str(error):  # (an index tensor's rows)
        from ..ops.indexing import torch_index_error

        return torch_index_error(error)
    described = ", ".join(str(t) for t in types)
    message = f"{op}({described}): {error}"
    try:
        return type(error)(message)
    except TypeError:  # a class with its own constructor (NumPy's UFuncTypeError): its builtin base
        return next(c for c in type(error).__mro__ if c.__module__ == "builtins")(message)


def _install() -> None:
    from ..ops import autograph  # converted user code answers isinstance(traced, Tensor) as eager code does

    autograph.TENSOR_CLASSES.append(Tensor)


_install()
