"""Probability distributions (``torch.distributions``): sampling (fresh at every call of a compiled function),
log-probabilities, entropies and KL divergences, differentiable in the parameters, eagerly and inside
``@graphgrad.compile``, for policy gradients and variational autoencoders.

>>> import graphgrad as gg
>>> from graphgrad.distributions import Categorical
>>> logits = gg.tensor([1.0, 2.0, 0.5], requires_grad=True)
>>> m = Categorical(logits=logits)
>>> action = m.sample()
>>> loss = -m.log_prob(action) * 2.0   # REINFORCE, with a reward of 2
>>> loss.backward()
>>> round(float(logits.grad.sum()), 6)   # (a softmax's log-probability: the gradient sums to 0)
0.0
"""
from . import constraints
from .bernoulli import Bernoulli
from .beta import Beta
from .categorical import Categorical
from .dirichlet import Dirichlet
from .distribution import Distribution
from .gamma import Gamma
from .independent import Independent
from .kl import kl_divergence, register_kl
from .multivariate_normal import MultivariateNormal
from .normal import Normal
from .uniform import Uniform

__all__ = ["Bernoulli", "Beta", "Categorical", "Dirichlet", "Distribution", "Gamma", "Independent", "MultivariateNormal",
           "Normal", "Uniform", "constraints", "kl_divergence", "register_kl"]
