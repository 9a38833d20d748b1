"""The gamma distribution."""
from __future__ import annotations

import numpy as np

from ..ir.api import TensorBase
from ..ops.elementwise import xlogy
from ..runtime.factories import as_tensor
from ..runtime.grad_mode import no_grad
from . import constraints
from .distribution import Distribution
from .utils import _log_standard_gamma, _no_rsample, broadcast_all

__all__ = ["Gamma"]


class Gamma(Distribution):
    """The gamma distribution of shape ``concentration`` and ``rate`` (1 / scale). ``log_prob``, ``entropy`` and
    the KL divergence are differentiable in both; ``sample`` draws without gradient (Marsaglia and Tsang's
    method). There is no ``rsample``: its gradient needs the derivative of the incomplete gamma function in the
    shape (PyTorch's implicit reparameterization), which graphgrad does not have; use the score function
    (``log_prob``) for gradients of expectations.

    >>> import graphgrad as gg
    >>> from graphgrad.distributions import Gamma
    >>> d = Gamma(gg.tensor([2.0]), gg.tensor([4.0]))
    >>> d.mean, d.variance
    (tensor([0.5000]), tensor([0.1250]))
    >>> d.log_prob(gg.tensor([0.5]))  # 2 log 4 + log 0.5 - 4 * 0.5 - lgamma(2)
    tensor([0.0794])
    """

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = False

    def __init__(self, concentration: TensorBase | float, rate: TensorBase | float,
                 validate_args: bool | None = None):
        self.concentration, self.rate = broadcast_all(concentration, rate)
        numbers = isinstance(concentration, (int, float)) and isinstance(rate, (int, float))
        super().__init__(() if numbers else tuple(self.concentration.shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None) -> "Gamma":
        new = self._get_checked_instance(Gamma, _instance)
        batch_shape = tuple(batch_shape)
        new.concentration = self.concentration.expand(batch_shape)
        new.rate = self.rate.expand(batch_shape)
        super(Gamma, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self) -> TensorBase:
        return self.concentration / self.rate

    @property
    def mode(self) -> TensorBase:
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self) -> TensorBase:
        return self.concentration / self.rate.pow(2)

    def sample(self, sample_shape=()) -> TensorBase:
        shape = tuple(self._extended_shape(sample_shape))
        with no_grad():
            log_g = _log_standard_gamma(self.concentration.expand(shape))
            value = (log_g.exp() / self.rate.expand(shape))._cast(self.rate._type.dtype)
            # (as PyTorch: a draw that underflows is the smallest positive number, inside the support's log)
            return value.clamp(min=float(np.finfo(np.dtype(self.rate._type.dtype)).tiny))

    def rsample(self, sample_shape=()) -> TensorBase:
        raise _no_rsample("Gamma")

    def log_prob(self, value) -> TensorBase:
        """``a log(rate) + (a - 1) log(x) - rate x - lgamma(a)``."""
        value = as_tensor(value, dtype=self.rate.dtype) if not isinstance(value, TensorBase) else value
        if self._validate_args:
            value = self._validate_sample(value)
        return (xlogy(self.concentration, self.rate) + xlogy(self.concentration - 1, value) - self.rate * value
                - self.concentration.lgamma())

    def entropy(self) -> TensorBase:
        """``a - log(rate) + lgamma(a) + (1 - a) digamma(a)``."""
        return (self.concentration - self.rate.log() + self.concentration.lgamma()
                + (1.0 - self.concentration) * self.concentration.digamma())
