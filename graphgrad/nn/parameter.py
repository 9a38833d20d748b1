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
