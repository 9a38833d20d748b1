"""``Parameter``: a leaf tensor that a Module registers as one of its trainable weights."""
from __future__ import annotations

from ..runtime.tensor import Tensor, _init


class Parameter(Tensor):
    """A tensor that, assigned as a Module attribute, appears in ``module.parameters()``.

    It shares storage with ``data`` and requires grad unless told otherwise.

    >>> import graphgrad as gg
    >>> p = gg.nn.Parameter(gg.ones(2))
    >>> p
    Parameter containing:
    tensor([1., 1.], requires_grad=True)
    """

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            data = Tensor([])
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter data must be a Tensor, not {type(data).__name__}")
        _init(self, data._data, version=data._version_box)
        self.requires_grad = requires_grad

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self.numpy(force=True), self.requires_grad))


def _rebuild_parameter(array, requires_grad: bool) -> Parameter:
    return Parameter(Tensor._wrap(array), requires_grad)


_UNINITIALIZED_ATTRIBUTES = frozenset({"requires_grad", "grad", "is_leaf", "retains_grad", "grad_fn", "materialize",
                                       "cls_to_become", "requires_grad_", "dtype", "device", "is_cuda",
                                       "detach"})


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet (a lazy module's, before its first call). It is a ``Parameter``:
    ``module.parameters()`` lists it and an optimizer made now holds it; ``materialize(shape)`` gives it an array
    and makes it a plain ``Parameter`` in place, the same object, so that optimizer then updates it, as PyTorch's.
    Until then reading its shape or computing with it raises PyTorch's errors.

    >>> import graphgrad as gg
    >>> p = gg.nn.UninitializedParameter()
    >>> p
    <UninitializedParameter>
    >>> p.materialize((2,)); type(p).__name__, p.shape
    ('Parameter', torch.Size([2]))
    """

    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device=None, dtype=None):
        super().__init__(None, requires_grad)
        self.__dict__["_factory"] = (device, dtype)

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Give the parameter an (uninitialised) array of ``shape``, on ``device`` in ``dtype`` (by default those
        given at construction), and make it a ``Parameter``."""
        from ..runtime import factories

        made_device, made_dtype = self.__dict__.pop("_factory", (None, None))
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        data = factories.empty(*shape, device=device or made_device, dtype=dtype or made_dtype)
        object.__setattr__(self, "_data", data._data)
        self.__class__ = self.cls_to_become

    @property
    def shape(self):
        raise RuntimeError("Can't access the shape of an uninitialized parameter or buffer. This error usually happens "
                           "in `load_state_dict` when trying to load an uninitialized parameter into an initialized "
                           "one. Call `forward` to initialize the parameters before accessing their attributes.")

    def __getattribute__(self, name: str):
        if name[0] != "_" and name != "shape" and name not in _UNINITIALIZED_ATTRIBUTES:
            raise ValueError(f"Attempted to use an uninitialized parameter in <method '{name}' of "
                             f"'torch._C.TensorBase' objects>. This error happens when you are using a `LazyModule` "
                             f"or explicitly manipulating `torch.nn.parameter.UninitializedParameter` objects. When "
                             f"using LazyModules Call `forward` with a dummy batch to initialize the parameters before "
                             f"calling torch functions")
        return object.__getattribute__(self, name)

    def detach(self) -> "UninitializedParameter":
        """Itself: a lazy module's ``state_dict()`` lists its uninitialized parameters, as PyTorch's does."""
        return self

    def __repr__(self) -> str:
        return "<UninitializedParameter>"

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        return (UninitializedParameter, (object.__getattribute__(self, "_requires_grad"),))


class _BufferMeta(type):
    def __instancecheck__(cls, instance) -> bool:  # a Buffer is a tensor marked as one (what Buffer() returns)
        return isinstance(instance, Tensor) and bool(getattr(instance, "_is_buffer", False))


class Buffer(Tensor, metaclass=_BufferMeta):
    """PyTorch 2's ``nn.Buffer``: ``self.x = nn.Buffer(t)`` in a module registers ``t`` (detached) as a buffer, saved
    in ``state_dict`` unless ``persistent=False``, as ``register_buffer`` does. ``Buffer(t)`` returns a tensor
    marked as one.

    >>> import graphgrad as gg
    >>> class Scaled(gg.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.scale = gg.nn.Buffer(gg.tensor([2.0]))
    >>> list(Scaled().state_dict())
    ['scale']
    """

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True):
        if data is None:
            data = Tensor([])
        t = data.detach().requires_grad_(data.requires_grad)
        t.persistent = persistent
        t._is_buffer = True
        return t
