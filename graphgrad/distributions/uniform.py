"""The continuous uniform distribution on [low, high)."""
from __future__ import annotations

from ..ir.api import TensorBase
from ..runtime.factories import rand
from . import constraints
from .distribution import Distribution
from .utils import broadcast_all

__all__ = ["Uniform"]


class Uniform(Distribution):
    """Uniform draws from the half-open interval ``[low, high)``; ``rsample`` is ``low + u * (high - low)``,
    differentiable in both bounds.

    >>> import graphgrad as gg
    >>> from graphgrad.distributions import Uniform
    >>> d = Uniform(0.0, 4.0)
    >>> d.log_prob(gg.tensor([1.0, 3.0])), d.entropy()
    (tensor([-1.3863, -1.3863]), tensor(1.3863))
    >>> Uniform(0.0, 4.0, validate_args=False).log_prob(gg.tensor(5.0))  # (validated, outside the support raises)
    tensor(-inf)
    """

    has_rsample = True

    @property
    def arg_constraints(self) -> dict:
        return {"low": constraints.less_than(self.high), "high": constraints.greater_than(self.low)}

    def __init__(self, low: TensorBase | float, high: TensorBase | float, validate_args: bool | None = None):
        self.low, self.high = broadcast_all(low, high)
        numbers = isinstance(low, (int, float)) and isinstance(high, (int, float))
        super().__init__(() if numbers else tuple(self.low.shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None) -> "Uniform":
        new = self._get_checked_instance(Uniform, _instance)
        batch_shape = tuple(batch_shape)
        new.low = self.low.expand(batch_shape)
        new.high = self.high.expand(batch_shape)
        super(Uniform, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self) -> TensorBase:
        return (self.high + self.low) / 2

    @property
    def mode(self) -> TensorBase:
        return float("nan") * self.high

    @property
    def stddev(self) -> TensorBase:
        return (self.high - self.low) / 12 ** 0.5

    @property
    def variance(self) -> TensorBase:
        return (self.high - self.low).pow(2) / 12

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.interval(self.low, self.high)

    def rsample(self, sample_shape=()) -> TensorBase:
        shape = tuple(self._extended_shape(sample_shape))
        device = self.low.device if getattr(self.low, "is_cuda", False) else None
        return self.low + rand(*shape, dtype=self.low.dtype, device=device) * (self.high - self.low)

    def log_prob(self, value: TensorBase) -> TensorBase:
        """``-log(high - low)`` inside ``[low, high)``, ``-inf`` outside."""
        if self._validate_args:
            value = self._validate_sample(value)
        lb = self.low.le(value).type_as(self.low)
        ub = self.high.gt(value).type_as(self.low)
        return (lb * ub).log() - (self.high - self.low).log()

    def cdf(self, value: TensorBase) -> TensorBase:
        if self._validate_args:
            value = self._validate_sample(value)
        return ((value - self.low) / (self.high - self.low)).clamp(min=0, max=1)

    def icdf(self, value: TensorBase) -> TensorBase:
        return value * (self.high - self.low) + self.low

    def entropy(self) -> TensorBase:
        return (self.high - self.low).log()
