"""The Bernoulli distribution: 1 with probability p, else 0."""
from __future__ import annotations

from ..ir.api import TensorBase
from ..ops.elementwise import where
from ..ops.nn import binary_cross_entropy_with_logits
from ..runtime.factories import arange, bernoulli
from ..runtime.grad_mode import no_grad
from ..runtime.tensor import Size
from . import constraints
from .distribution import Distribution
from .utils import broadcast_all, lazy_property, logits_to_probs, probs_to_logits

__all__ = ["Bernoulli"]


class Bernoulli(Distribution):
    """1 with probability ``probs`` (or ``sigmoid(logits)``), else 0, in the parameter's float dtype.
    ``log_prob`` and ``entropy`` are differentiable in the parameter (computed from the logits, stably).

    >>> import graphgrad as gg
    >>> from graphgrad.distributions import Bernoulli
    >>> m = Bernoulli(gg.tensor([0.0, 1.0]))
    >>> m.sample()
    tensor([0., 1.])
    >>> Bernoulli(logits=gg.tensor(0.0)).log_prob(gg.tensor(1.0))
    tensor(-0.6931)
    """

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs: TensorBase | float | None = None, logits: TensorBase | float | None = None,
                 validate_args: bool | None = None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            is_scalar = isinstance(probs, (int, float))
            (self.probs,) = broadcast_all(probs)
        else:
            is_scalar = isinstance(logits, (int, float))
            (self.logits,) = broadcast_all(logits)
        self._param = self.probs if probs is not None else self.logits
        super().__init__(() if is_scalar else tuple(self._param.shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None) -> "Bernoulli":
        new = self._get_checked_instance(Bernoulli, _instance)
        batch_shape = tuple(batch_shape)
        if "probs" in self.__dict__:
            new.probs = self.probs.expand(batch_shape)
            new._param = new.probs
        if "logits" in self.__dict__:
            new.logits = self.logits.expand(batch_shape)
            new._param = new.logits
        super(Bernoulli, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self) -> TensorBase:
        return self.probs

    @property
    def mode(self) -> TensorBase:
        mode = (self.probs >= 0.5)._cast(self.probs._type.dtype)
        return where(self.probs == 0.5, float("nan"), mode)

    @property
    def variance(self) -> TensorBase:
        return self.probs * (1 - self.probs)

    @lazy_property
    def logits(self) -> TensorBase:
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self) -> TensorBase:
        return logits_to_probs(self.logits, is_binary=True)

    @property
    def param_shape(self) -> Size:
        return Size(tuple(self._param.shape))

    def sample(self, sample_shape=()) -> TensorBase:
        shape = tuple(self._extended_shape(sample_shape))
        with no_grad():
            return bernoulli(self.probs.expand(shape))

    def log_prob(self, value: TensorBase) -> TensorBase:
        """``value * log p + (1 - value) * log(1 - p)``, as ``-binary_cross_entropy_with_logits``."""
        if self._validate_args:
            value = self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return -binary_cross_entropy_with_logits(logits, value)

    def entropy(self) -> TensorBase:
        return binary_cross_entropy_with_logits(self.logits, self.probs)

    def enumerate_support(self, expand: bool = True) -> TensorBase:
        values = arange(2, dtype=self._param.dtype)
        values = values.reshape((-1,) + (1,) * len(self._batch_shape))
        if expand:
            values = values.expand((-1,) + tuple(self._batch_shape))
        return values
