"""``Distribution``, the base class: batch and event shapes, sampling, scoring, and PyTorch's argument
validation (``validate_args``), eagerly and inside ``@graphgrad.compile``.

>>> import graphgrad as gg
>>> from graphgrad.distributions import Normal
>>> d = Normal(gg.zeros(3), 1.0)
>>> d.batch_shape, d.event_shape, tuple(d.sample((2,)).shape)
(torch.Size([3]), torch.Size([]), (2, 3))
"""
from __future__ import annotations

import warnings

from ..ir.api import TensorBase
from ..runtime.grad_mode import no_grad
from ..runtime.tensor import Size
from . import constraints
from .utils import checked, describe, lazy_property

__all__ = ["Distribution"]


def _size(shape) -> Size:
    if isinstance(shape, int):  # (PyTorch's own error for sample(2): torch.Size(2))
        raise TypeError("'int' object is not iterable")
    return shape if isinstance(shape, Size) else Size(tuple(shape))


class Distribution:
    """The base of every probability distribution: ``batch_shape`` (independent, not identically distributed
    copies) and ``event_shape`` (the shape of one draw).

    Subclasses define ``arg_constraints`` and ``support`` (checked when ``validate_args``: on by default, as in
    PyTorch; ``Distribution.set_default_validate_args(False)`` turns it off), ``sample`` or ``rsample``,
    ``log_prob``, and what they can of ``mean``, ``variance``, ``entropy``, ``cdf``, ``icdf``, ``expand``.

    >>> import graphgrad as gg
    >>> from graphgrad.distributions import Normal
    >>> Normal(0.0, -1.0)
    Traceback (most recent call last):
    ValueError: Expected parameter scale (Tensor of shape ()) of distribution Normal(loc: 0.0, scale: -1.0) to satisfy the constraint GreaterThan(lower_bound=0.0), but found invalid values:
    -1.0
    """

    has_rsample = False
    has_enumerate_support = False
    _validate_args = __debug__

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        """Turn argument validation on or off for every distribution made without ``validate_args``."""
        if value not in [True, False]:
            raise ValueError
        Distribution._validate_args = value

    def __init__(self, batch_shape=(), event_shape=(), validate_args: bool | None = None) -> None:
        self._batch_shape = _size(batch_shape)
        self._event_shape = _size(event_shape)
        if validate_args is not None:
            self._validate_args = validate_args
        if not self._validate_args:
            return
        try:
            arg_constraints = self.arg_constraints
        except NotImplementedError:
            arg_constraints = {}
            warnings.warn(f"{self.__class__} does not define `arg_constraints`. Please set `arg_constraints = {{}}` "
                          "or initialize the distribution with `validate_args=False` to turn off validation.",
                          stacklevel=2)
        for param, constraint in arg_constraints.items():
            if constraints.is_dependent(constraint):
                continue  # (cannot be checked)
            if param not in self.__dict__ and isinstance(getattr(type(self), param), lazy_property):
                continue  # (derived lazily from a checked parameter)
            value = getattr(self, param)
            valid = checked(constraint.check(value), value, lambda: (
                f"Expected parameter {param} (Tensor of shape {tuple(value.shape)}) of distribution {self!r} to "
                f"satisfy the constraint {constraint!r}, but found invalid values"))
            if valid is not value:  # traced: the parameter, checked at each call, replaces it everywhere it is held
                for key, held in list(self.__dict__.items()):
                    if held is value:
                        self.__dict__[key] = valid

    def expand(self, batch_shape, _instance=None) -> "Distribution":
        """A new distribution whose parameters are expanded (views) to ``batch_shape``; not validated again."""
        raise NotImplementedError

    @property
    def batch_shape(self) -> Size:
        """The shape over which the parameters are batched."""
        return self._batch_shape

    @property
    def event_shape(self) -> Size:
        """The shape of a single sample (without batching)."""
        return self._event_shape

    @property
    def arg_constraints(self) -> dict:
        """Each parameter's constraint (``constraints.Constraint``), checked when ``validate_args``."""
        raise NotImplementedError

    @property
    def support(self):
        """The constraint every sample satisfies."""
        raise NotImplementedError

    @property
    def mean(self) -> TensorBase:
        raise NotImplementedError

    @property
    def mode(self) -> TensorBase:
        raise NotImplementedError(f"{self.__class__} does not implement mode")

    @property
    def variance(self) -> TensorBase:
        raise NotImplementedError

    @property
    def stddev(self) -> TensorBase:
        return self.variance.sqrt()

    def sample(self, sample_shape=()) -> TensorBase:
        """A ``sample_shape + batch_shape + event_shape`` sample, with no gradient."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=()) -> TensorBase:
        """A reparameterized sample: differentiable in the parameters (where ``has_rsample``)."""
        raise NotImplementedError

    def sample_n(self, n: int) -> TensorBase:
        warnings.warn("`sample_n(n)` will be deprecated. Use `sample((n,))` instead.", FutureWarning, stacklevel=2)
        return self.sample(Size((n,)))

    def log_prob(self, value: TensorBase) -> TensorBase:
        """The log of the probability density or mass at ``value``."""
        raise NotImplementedError

    def cdf(self, value: TensorBase) -> TensorBase:
        raise NotImplementedError

    def icdf(self, value: TensorBase) -> TensorBase:
        raise NotImplementedError

    def enumerate_support(self, expand: bool = True) -> TensorBase:
        raise NotImplementedError

    def entropy(self) -> TensorBase:
        """The entropy, over ``batch_shape``."""
        raise NotImplementedError

    def perplexity(self) -> TensorBase:
        return self.entropy().exp()

    def _extended_shape(self, sample_shape=()) -> Size:
        """``sample_shape + batch_shape + event_shape``."""
        return Size(tuple(_size(sample_shape)) + tuple(self._batch_shape) + tuple(self._event_shape))

    def _validate_sample(self, value) -> TensorBase:
        """``value`` once checked as PyTorch checks what ``log_prob``, ``cdf`` score: a tensor whose rightmost
        dimensions match the event shape and broadcast with the batch shape, inside the support. Traced, the
        support check runs with the compiled code and is part of the returned value."""
        if not isinstance(value, TensorBase):
            raise ValueError("The value argument to log_prob must be a Tensor")
        actual = Size(tuple(value.shape))
        start = len(actual) - len(self._event_shape)
        if actual[start:] != self._event_shape:
            raise ValueError(f"The right-most size of value must match event_shape: {actual} vs "
                             f"{self._event_shape}.")
        expected = Size(tuple(self._batch_shape) + tuple(self._event_shape))
        for i, j in zip(reversed(actual), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: {actual} vs {expected}.")
        try:
            support = self.support
        except NotImplementedError:
            warnings.warn(f"{self.__class__} does not define `support` to enable sample validation. Please "
                          "initialize the distribution with `validate_args=False` to turn off validation.",
                          stacklevel=2)
            return value
        return checked(support.check(value), value, lambda: (
            f"Expected value argument (Tensor of shape {tuple(value.shape)}) to be within the support ({support!r}) "
            f"of the distribution {self!r}, but found invalid values"))

    def _get_checked_instance(self, cls, _instance=None):
        if _instance is None and type(self).__init__ != cls.__init__:
            raise NotImplementedError(f"Subclass {self.__class__.__name__} of {cls.__name__} that defines a custom "
                                      "__init__ method must also define a custom .expand() method.")
        return self.__new__(type(self)) if _instance is None else _instance

    def __repr__(self) -> str:
        names = [k for k in self.arg_constraints if k in self.__dict__]
        return self.__class__.__name__ + "(" + ", ".join(f"{p}: {describe(self.__dict__[p])}" for p in names) + ")"
