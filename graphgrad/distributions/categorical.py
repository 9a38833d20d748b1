"""The categorical distribution: one of K classes."""
from __future__ import annotations

import numpy as np

from ..ir.api import TensorBase
from ..ops.shape import broadcast_tensors
from ..runtime.factories import arange, full, multinomial
from ..runtime.tensor import Size
from . import constraints
from .distribution import Distribution
from .utils import lazy_property, logits_to_probs, probs_to_logits

__all__ = ["Categorical"]


class Categorical(Distribution):
    """A class index in ``{0, ..., K-1}`` drawn with the probabilities ``probs`` (non-negative, normalized here
    along the last dimension) or the unnormalized log-probabilities ``logits``; the dimensions before the last
    are the batch. ``sample`` draws with :func:`graphgrad.multinomial`; ``log_prob`` and ``entropy`` are
    differentiable in the parameters (REINFORCE's ``-log_prob(action) * reward``).

    >>> import graphgrad as gg
    >>> from graphgrad.distributions import Categorical
    >>> m = Categorical(gg.tensor([0.0, 1.0, 0.0]))
    >>> m.sample()
    tensor(1)
    >>> m = Categorical(logits=gg.tensor([0.0, 0.0]))
    >>> m.log_prob(gg.tensor(1)), m.entropy()
    (tensor(-0.6931), tensor(0.6931))
    """

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    has_enumerate_support = True

    def __init__(self, probs: TensorBase | None = None, logits: TensorBase | None = None,
                 validate_args: bool | None = None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            if probs.ndim < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = probs / probs.sum(-1, keepdim=True)
        else:
            if logits.ndim < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = logits - logits.logsumexp(dim=-1, keepdim=True)
        self._param = self.probs if probs is not None else self.logits
        self._num_events = self._param.shape[-1]
        batch_shape = tuple(self._param.shape[:-1]) if self._param.ndim > 1 else ()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None) -> "Categorical":
        new = self._get_checked_instance(Categorical, _instance)
        batch_shape = tuple(batch_shape)
        param_shape = batch_shape + (self._num_events,)
        if "probs" in self.__dict__:
            new.probs = self.probs.expand(param_shape)
            new._param = new.probs
        if "logits" in self.__dict__:
            new.logits = self.logits.expand(param_shape)
            new._param = new.logits
        new._num_events = self._num_events
        super(Categorical, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    @lazy_property
    def logits(self) -> TensorBase:
        return probs_to_logits(self.probs)

    @lazy_property
    def probs(self) -> TensorBase:
        return logits_to_probs(self.logits)

    @property
    def param_shape(self) -> Size:
        return Size(tuple(self._param.shape))

    @property
    def mean(self) -> TensorBase:
        return full(tuple(self._extended_shape()), float("nan"), dtype=self.probs.dtype)

    @property
    def mode(self) -> TensorBase:
        return self.probs.argmax(-1)

    @property
    def variance(self) -> TensorBase:
        return full(tuple(self._extended_shape()), float("nan"), dtype=self.probs.dtype)

    def sample(self, sample_shape=()) -> TensorBase:
        shape = self._extended_shape(sample_shape)
        count = 1
        for n in tuple(shape)[:len(shape) - len(self._batch_shape)]:
            count *= n
        probs_2d = self.probs.reshape(-1, self._num_events)
        samples_2d = multinomial(probs_2d, count, True).T
        return samples_2d.reshape(tuple(shape))

    def log_prob(self, value: TensorBase) -> TensorBase:
        """The log-probability of class ``value`` (integers, any shape broadcasting with the batch)."""
        if self._validate_args:
            value = self._validate_sample(value)
        value = value.long().unsqueeze(-1)
        value, log_pmf = broadcast_tensors(value, self.logits)
        value = value[..., :1]
        return log_pmf.gather(-1, value).squeeze(-1)

    def entropy(self) -> TensorBase:
        """``-sum(p log p)`` (a zero probability's term is 0: its logit is clamped to the dtype's lowest)."""
        lowest = float(np.finfo(np.dtype(self.logits._type.dtype)).min)
        return -(self.logits.clamp(min=lowest) * self.probs).sum(-1)

    def enumerate_support(self, expand: bool = True) -> TensorBase:
        values = arange(self._num_events, dtype="int64")
        values = values.reshape((-1,) + (1,) * len(self._batch_shape))
        if expand:
            values = values.expand((-1,) + tuple(self._batch_shape))
        return values
