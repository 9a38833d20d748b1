"""The normal (Gaussian) distribution."""
from __future__ import annotations

import math

from ..ir.api import TensorBase
from ..ops.elementwise import erf, erfinv
from . import constraints
from .distribution import Distribution
from .utils import _standard_normal, broadcast_all

__all__ = ["Normal"]


class Normal(Distribution):
    """The normal distribution N(``loc``, ``scale``²), batched over the broadcast shape of its parameters.
    ``rsample`` is ``loc + scale * eps`` with ``eps ~ N(0, 1)``: differentiable in ``loc`` and ``scale`` (a VAE's
    reparameterization).

    >>> import graphgrad as gg
    >>> from graphgrad.distributions import Normal
    >>> mu = gg.tensor([0.0, 1.0], requires_grad=True)
    >>> d = Normal(mu, 2.0)
    >>> d.log_prob(gg.tensor([0.0, 1.0]))
    tensor([-1.6121, -1.6121], grad_fn=<SubBackward0>)
    >>> d.rsample().sum().backward()
    >>> mu.grad
    tensor([1., 1.])
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc: TensorBase | float, scale: TensorBase | float, validate_args: bool | None = None):
        self.loc, self.scale = broadcast_all(loc, scale)
        numbers = isinstance(loc, (int, float)) and isinstance(scale, (int, float))
        super().__init__(() if numbers else self.loc.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None) -> "Normal":
        new = self._get_checked_instance(Normal, _instance)
        batch_shape = tuple(batch_shape)
        new.loc = self.loc.expand(batch_shape)
        new.scale = self.scale.expand(batch_shape)
        super(Normal, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self) -> TensorBase:
        return self.loc

    @property
    def mode(self) -> TensorBase:
        return self.loc

    @property
    def stddev(self) -> TensorBase:
        return self.scale

    @property
    def variance(self) -> TensorBase:
        return self.stddev.pow(2)

    def rsample(self, sample_shape=()) -> TensorBase:
        shape = self._extended_shape(sample_shape)
        eps = _standard_normal(shape, self.loc.dtype, self.loc.device)
        return self.loc + eps * self.scale

    def log_prob(self, value: TensorBase) -> TensorBase:
        """``-(x - loc)² / (2 scale²) - log(scale) - log(sqrt(2 pi))``."""
        if self._validate_args:
            value = self._validate_sample(value)
        var = self.scale ** 2
        return -((value - self.loc) ** 2) / (2 * var) - self.scale.log() - math.log(math.sqrt(2 * math.pi))

    def cdf(self, value: TensorBase) -> TensorBase:
        if self._validate_args:
            value = self._validate_sample(value)
        return 0.5 * (1 + erf((value - self.loc) * self.scale.reciprocal() / math.sqrt(2)))

    def icdf(self, value: TensorBase) -> TensorBase:
        return self.loc + self.scale * erfinv(2 * value - 1) * math.sqrt(2)

    def entropy(self) -> TensorBase:
        """``1/2 + log(2 pi)/2 + log(scale)``."""
        return 0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()
