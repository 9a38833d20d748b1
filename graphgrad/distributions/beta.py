"""The beta distribution on [0, 1]."""
from __future__ import annotations

from ..ir.api import TensorBase
from ..ops.shape import stack
from ..runtime.factories import tensor
from . import constraints
from .dirichlet import Dirichlet
from .distribution import Distribution
from .utils import _no_rsample, broadcast_all

__all__ = ["Beta"]


class Beta(Distribution):
    """The beta distribution with concentrations ``concentration1`` (alpha) and ``concentration0`` (beta): a
    two-class :class:`Dirichlet`, as in PyTorch (so its checks and messages are the Dirichlet's). ``log_prob``,
    ``entropy`` and the KL divergence are differentiable in both; ``sample`` has no gradient and there is no
    ``rsample`` (see :class:`Gamma`).

    >>> import graphgrad as gg
    >>> from graphgrad.distributions import Beta
    >>> d = Beta(gg.tensor(2.0), gg.tensor(2.0))
    >>> d.mean, d.log_prob(gg.tensor(0.5))
    (tensor(0.5000), tensor(0.4055))
    """

    arg_constraints = {"concentration1": constraints.positive, "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = False

    def __init__(self, concentration1: TensorBase | float, concentration0: TensorBase | float,
                 validate_args: bool | None = None):
        if isinstance(concentration1, (int, float)) and isinstance(concentration0, (int, float)):
            pair = tensor([float(concentration1), float(concentration0)])
        else:
            concentration1, concentration0 = broadcast_all(concentration1, concentration0)
            pair = stack([concentration1, concentration0], -1)
        self._dirichlet = Dirichlet(pair, validate_args=validate_args)
        super().__init__(self._dirichlet._batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None) -> "Beta":
        new = self._get_checked_instance(Beta, _instance)
        new._dirichlet = self._dirichlet.expand(batch_shape)
        super(Beta, new).__init__(tuple(batch_shape), validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def concentration1(self) -> TensorBase:
        return self._dirichlet.concentration[..., 0]

    @property
    def concentration0(self) -> TensorBase:
        return self._dirichlet.concentration[..., 1]

    @property
    def mean(self) -> TensorBase:
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self) -> TensorBase:
        return self._dirichlet.mode[..., 0]

    @property
    def variance(self) -> TensorBase:
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total.pow(2) * (total + 1))

    def sample(self, sample_shape=()) -> TensorBase:
        return self._dirichlet.sample(sample_shape)[..., 0]

    def rsample(self, sample_shape=()) -> TensorBase:
        raise _no_rsample("Beta")

    def log_prob(self, value: TensorBase) -> TensorBase:
        if self._validate_args:
            value = self._validate_sample(value)
        return self._dirichlet.log_prob(stack([value, 1.0 - value], -1))

    def entropy(self) -> TensorBase:
        return self._dirichlet.entropy()
