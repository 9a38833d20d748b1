"""The Tensor API shared by every interpreter, and ``bind``, which applies a primitive.

``bind(op, *inputs, **attrs)`` hands the primitive to the interpreter of its highest-level tensor
input (JAX's design): eager ``runtime.Tensor`` evaluates it now, ``tracer.SymbolicTensor`` records a
Node. Gradient rules are written against this class only, so the same rule runs eagerly, records
a double-backward graph, or emits adjoint IR.
"""
from __future__ import annotations

from .registry import normalize_dims
from .types import TensorType


def bind(op: str, *inputs, **attrs):
    """Apply primitive ``op`` through the interpreter that owns its tensor inputs."""
    top = None
    for x in inputs:
        if isinstance(x, TensorBase) and (top is None or x._level > top._level):
            top = x
    if top is None:
        raise TypeError(f"{op}: expected at least one tensor argument, got {[type(x).__name__ for x in inputs]}")
    return type(top)._apply(op, inputs, attrs)


class ElementCount(int):
    """``x.size``: NumPy's attribute (the number of elements, an int) and, called, PyTorch's method:
    ``x.size()`` is the shape and ``x.size(dim)`` one extent. Both faces read one name, so it is both."""

    def __new__(cls, n: int, shape: tuple):
        self = super().__new__(cls, n)
        self._shape = shape
        return self

    def __call__(self, dim: int | None = None):
        return self._shape if dim is None else self._shape[dim]

    def __reduce__(self):  # pickles (and copies) as the plain int it reads as
        return int, (int(self),)


class TensorBase:
    """Operators and methods common to eager and symbolic tensors.

    Subclasses provide ``_type`` (a TensorType), ``_level`` and ``_apply(op, inputs, attrs)``.
    """

    __slots__ = ()
    _level = 0
    __array_priority__ = 1000  # so that ndarray <op> Tensor defers to Tensor

    def _apply_here(self, op: str, inputs: tuple, attrs: dict):
        """Apply ``op`` through this tensor's interpreter although no input is a tensor (a ``constant``)."""
        return type(self)._apply(op, tuple(inputs), attrs)

    # -- type ---------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self._type.shape

    @property
    def ndim(self) -> int:
        return len(self._type.shape)

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return self._type.size

    def nelement(self) -> int:
        """PyTorch's alias of ``numel()``: the number of elements.

        >>> import graphgrad as gg
        >>> gg.zeros(2, 3).nelement(), gg.zeros(2, 3).ndimension()
        (6, 2)
        """
        return self._type.size

    def ndimension(self) -> int:
        """PyTorch's alias of ``dim()``."""
        return self.ndim

    @property
    def size(self) -> "ElementCount":
        """NumPy's ``x.size`` (the number of elements, an int) that is also PyTorch's ``x.size()`` (the shape)
        and ``x.size(dim)``."""
        return ElementCount(self._type.size, self.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    @property
    def is_floating_point_type(self) -> bool:
        return self._type.is_floating

    def is_floating_point(self) -> bool:
        return self._type.is_floating

    def is_nonzero(self) -> bool:
        """Whether the one element is not zero (``bool(x)``, PyTorch's refusals of any other count). Needs the value:
        a traced tensor raises, as ``bool()`` does.

        >>> import graphgrad as gg
        >>> gg.tensor([0.0]).is_nonzero(), gg.tensor(2).is_nonzero()
        (False, True)
        """
        if self._type.size != 1:
            count = "no values" if self._type.size == 0 else "more than one value"
            raise RuntimeError(f"Boolean value of Tensor with {count} is ambiguous")
        return bool(self)

    __hash__ = object.__hash__  # comparisons are elementwise ops (graphgrad.ops), as in PyTorch

    # -- in-place random fills: ``draw(rng, shape)`` makes the values; each interpreter's ``_fill_random``
    # decides when (eagerly now; in a compiled function afresh at every call) ----------------------------
    def uniform_(self, a: float = 0.0, b: float = 1.0, generator=None):
        return self._fill_random(lambda rng, shape: rng.uniform(a, b, shape), generator)

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator=None):
        return self._fill_random(lambda rng, shape: rng.normal(mean, std, shape), generator)

    def bernoulli_(self, p: float = 0.5, generator=None):
        return self._fill_random(lambda rng, shape: rng.random(shape) < p, generator)

    def exponential_(self, lambd: float = 1.0, generator=None):
        return self._fill_random(lambda rng, shape: rng.exponential(1.0 / lambd, shape), generator)

    def random_(self, from_: int = 0, to: int | None = None, generator=None):
        if to is None:
            from_, to = 0, (from_ if from_ else 2 ** 24 if self.is_floating_point() else 2 ** 63 - 1)
        return self._fill_random(lambda rng, shape: rng.integers(from_, to, shape), generator)

    def __pos__(self): return self

    def _no_grad_apply(self, op, **attrs):
        return bind(op, self, **attrs)

    def sum_to(self, shape: tuple):
        """Sum out broadcast dimensions so the result has ``shape`` (the adjoint of broadcasting)."""
        shape = tuple(shape)
        if tuple(self.shape) == shape:
            return self
        lead = self.ndim - len(shape)
        kept = tuple(i + lead for i, d in enumerate(shape) if d == 1 and self.shape[i + lead] != 1)
        out = self
        if lead:  # leading axes disappear: one reduction without keepdim
            out = bind("sum", out, dim=tuple(range(lead)), keepdim=False)
        if kept:
            out = bind("sum", out, dim=tuple(k - lead for k in kept), keepdim=True)
        return out.reshape(shape) if tuple(out.shape) != shape else out

    def _shown_as(self, name: str):
        """This result, whose eager ``grad_fn`` is shown under PyTorch's name for the composite that made it
        (``x.t()`` is ``TBackward0`` though it records a permute); symbolic values have no grad_fn."""
        return self

    def _index_array(self):
        raise TypeError("tensors used as indices must be concrete integer tensors")

    # -- dtypes -------------------------------------------------------------------------------
    def _cast(self, dtype: str):
        return self if self._type.dtype == dtype else bind("cast", self, dtype=dtype)

    def type_as(self, other: "TensorBase"):
        """This tensor in ``other``'s dtype."""
        return self._cast(other._type.dtype)

    def element_size(self) -> int:
        """Bytes per element."""
        from .types import ITEMSIZE

        return ITEMSIZE[self._type.dtype]

    # -- memory layout, PyTorch's strided view of a storage: an eager tensor's is its array's (``_data``); a traced
    # value's is the one eager code would give it (``SymbolicTensor.stride``)
    @property
    def itemsize(self) -> int:
        """Bytes per element (``element_size()``)."""
        return self.element_size()

    @property
    def nbytes(self) -> int:
        """Bytes of the elements: ``numel() * itemsize`` (an expanded tensor counts each element it shows)."""
        return self._type.size * self.element_size()

    def _strides(self) -> tuple:
        data = getattr(self, "_data", None)
        if data is None or data.size == 0:  # (NumPy gives an empty array zero strides; PyTorch row-major ones)
            return row_major_strides(self.shape)
        return tuple(s // data.itemsize for s in data.strides)

    def stride(self, dim: int | None = None):
        """The step in elements between neighbours along each dimension (a tuple), or along ``dim``.

        >>> import graphgrad as gg
        >>> x = gg.zeros(2, 3)
        >>> x.stride(), x.t().stride(), x.t().is_contiguous()
        ((3, 1), (1, 3), False)
        """
        strides = self._strides()
        if dim is None:
            return strides
        return strides[normalize_dims(dim, self.ndim)[0]] if self.ndim else strides[dim]

    def is_contiguous(self, memory_format=None) -> bool:
        """Whether the elements lie in row-major order without gaps (dimensions of size 1 and empty tensors
        aside), PyTorch's test. graphgrad has no other memory format."""
        if memory_format is not None and str(memory_format) not in ("torch.contiguous_format", "contiguous_format"):
            raise NotImplementedError(f"is_contiguous(memory_format={memory_format!r}): graphgrad's tensors have "
                                      f"only the row-major (contiguous) format")
        if self._type.size == 0:
            return True
        expected = 1
        for n, s in zip(reversed(self.shape), reversed(self.stride())):
            if n != 1:
                if s != expected:
                    return False
                expected *= n
        return True

    def storage_offset(self) -> int:
        """Where this tensor's first element lies in its storage, in elements: a view's offset from its base's
        first element (``x[1:]`` of a (2, 3) ``x``: 3); 0 for a tensor that owns its memory."""
        base = getattr(self, "_base", None)
        data = getattr(self, "_data", None)
        if base is None or data is None:
            return 0

        def pointer(a) -> int:
            return a.__array_interface__["data"][0] if hasattr(a, "__array_interface__") else a.data.ptr

        return (pointer(data) - pointer(base._data)) // data.itemsize

    def data_ptr(self) -> int:
        """The address of this tensor's first element (its array's; 0 when it has none, as PyTorch's empty tensors).
        A view's differs from its base's by ``storage_offset() * element_size()``. Needs the array: a traced tensor
        raises.

        >>> import graphgrad as gg
        >>> x = gg.zeros(2, 3)
        >>> x[1].data_ptr() - x.data_ptr() == 3 * x.element_size()
        True
        """
        data = getattr(self, "_data", None)
        if data is None:
            raise RuntimeError("data_ptr() inside a compiled function: a traced tensor has no memory yet; call it on "
                               "an eager tensor")
        if data.size == 0:
            return 0
        return data.__array_interface__["data"][0] if hasattr(data, "__array_interface__") else data.data.ptr

    def get_device(self) -> int:
        """The index of the GPU holding this tensor, -1 on the CPU (PyTorch's).

        >>> import graphgrad as gg
        >>> gg.zeros(2).get_device()
        -1
        """
        device = self.device
        return -1 if device.type == "cpu" else (device.index or 0)

    def is_complex(self) -> bool:
        """False: graphgrad has no complex dtype.

        >>> import graphgrad as gg
        >>> gg.zeros(2).is_complex()
        False
        """
        return False

    # -- composites, in terms of the ops: eager tensors and traced values alike ----------------------------------
    def unbind(self, dim: int = 0) -> tuple:
        """The slices along ``dim``, each without that dim (the index in range by construction: no select's
        checks per slice)."""
        (d,) = normalize_dims(dim, self.ndim)
        lead = (slice(None),) * d
        return tuple(self[lead + (i,)] for i in range(self.shape[d]))

    def select(self, dim: int, index: int):
        """``self[:, ..., index]`` with ``index`` at position ``dim`` (a negative one counts from the end), with
        PyTorch's errors."""
        shape = self._type.shape
        if not shape:
            raise IndexError("select() cannot be applied to a 0-dim tensor.")
        d = dim if dim.__class__ is int and 0 <= dim < len(shape) else normalize_dims(dim, len(shape))[0]
        if not -shape[d] <= index < shape[d]:
            raise IndexError(f"select(): index {index} out of range for tensor of size {list(shape)} at "
                             f"dimension {d}")
        return self[(slice(None),) * d + (index,)]

    def narrow(self, dim: int, start: int, length: int):
        """``length`` elements along ``dim`` from ``start`` (a view, as PyTorch's; a negative start counts from
        the end)."""
        if not self.ndim:
            raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
        (d,) = normalize_dims(dim, self.ndim)
        size = self.shape[d]
        if not -size <= start <= size:  # (a slice would clip it, silently)
            raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], but got {start})")
        start = start + size if start < 0 else start
        if length < 0:
            raise RuntimeError("narrow(): length must be non-negative.")
        if start + length > size:
            raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
        idx = [slice(None)] * self.ndim
        idx[d] = slice(start, start + length)
        return self[tuple(idx)]

    def addcmul(self, tensor1, tensor2, value=1):
        """``self + value * tensor1 * tensor2``."""
        out = self + tensor1 * tensor2 * value if value != 1 else self + tensor1 * tensor2
        return out._shown_as("AddcmulBackward0")

    def addcdiv(self, tensor1, tensor2, value=1):
        """``self + value * tensor1 / tensor2``."""
        out = self + tensor1 / tensor2 * value if value != 1 else self + tensor1 / tensor2
        return out._shown_as("AddcdivBackward0")


def is_tensor_type(t) -> bool:
    return isinstance(t, TensorType)


def row_major_strides(shape) -> tuple:
    """The strides, in elements, of a contiguous (row-major) tensor of ``shape``; a size-0 dim counts as 1."""
    strides, step = [], 1
    for n in reversed(tuple(shape)):
        strides.insert(0, step)
        step *= max(n, 1)
    return tuple(strides)
