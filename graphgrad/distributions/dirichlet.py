"""The Dirichlet distribution over the probability simplex."""
from __future__ import annotations

from ..ir.api import TensorBase
from ..ops.elementwise import where, xlogy
from ..runtime.factories import arange
from ..runtime.grad_mode import no_grad
from . import constraints
from .distribution import Distribution
from .utils import _log_standard_gamma, _no_rsample

__all__ = ["Dirichlet"]


class Dirichlet(Distribution):
    """Probability vectors (the last dimension) drawn with density proportional to ``prod x_i^(a_i - 1)``.
    ``log_prob`` and ``entropy`` are differentiable in ``concentration``; ``sample`` normalizes gamma draws (in
    log space: a softmax of their logs, so small concentrations do not underflow to 0 / 0). No ``rsample``, as
    for :class:`Gamma`.

    >>> import graphgrad as gg
    >>> from graphgrad.distributions import Dirichlet
    >>> d = Dirichlet(gg.tensor([1.0, 1.0, 2.0]))
    >>> d.mean
    tensor([0.2500, 0.2500, 0.5000])
    >>> d.log_prob(gg.tensor([0.25, 0.25, 0.5]))
    tensor(1.0986)
    """

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = False

    def __init__(self, concentration: TensorBase, validate_args: bool | None = None):
        if concentration.ndim < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        super().__init__(tuple(concentration.shape[:-1]), tuple(concentration.shape[-1:]),
                         validate_args=validate_args)

    def expand(self, batch_shape, _instance=None) -> "Dirichlet":
        new = self._get_checked_instance(Dirichlet, _instance)
        batch_shape = tuple(batch_shape)
        new.concentration = self.concentration.expand(batch_shape + tuple(self.event_shape))
        super(Dirichlet, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def sample(self, sample_shape=()) -> TensorBase:
        shape = tuple(self._extended_shape(sample_shape))
        with no_grad():
            log_g = _log_standard_gamma(self.concentration.expand(shape))
            return log_g.softmax(-1)._cast(self.concentration._type.dtype)

    def rsample(self, sample_shape=()) -> TensorBase:
        raise _no_rsample("Dirichlet")

    def log_prob(self, value: TensorBase) -> TensorBase:
        if self._validate_args:
            value = self._validate_sample(value)
        return (xlogy(self.concentration - 1.0, value).sum(-1) + self.concentration.sum(-1).lgamma()
                - self.concentration.lgamma().sum(-1))

    @property
    def mean(self) -> TensorBase:
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self) -> TensorBase:
        """``(a - 1) / sum(a - 1)`` (clamped at 0). Where every ``a`` is below 1 (a density unbounded at every
        vertex) PyTorch gives the first vertex, ``(1, 0, ...)``: the one-hot of the argmax of that formula's 0 / 0,
        all nan; so does this."""
        above = (self.concentration - 1).clamp(min=0.0)
        mode = above / above.sum(-1, keepdim=True)
        vertex = (arange(self.concentration.shape[-1]) == 0)._cast(mode._type.dtype)
        return where((self.concentration < 1).all(-1, keepdim=True), vertex, mode)

    @property
    def variance(self) -> TensorBase:
        total = self.concentration.sum(-1, keepdim=True)
        return self.concentration * (total - self.concentration) / (total.pow(2) * (total + 1))

    def entropy(self) -> TensorBase:
        k = self.concentration.shape[-1]
        a0 = self.concentration.sum(-1)
        return (self.concentration.lgamma().sum(-1) - a0.lgamma() - (k - a0) * a0.digamma()
                - ((self.concentration - 1.0) * self.concentration.digamma()).sum(-1))
