"""Helpers the distributions share (``torch.distributions.utils``): broadcasting parameters, probabilities and
logits, lazily computed attributes, and argument checks that hold eagerly and inside ``@graphgrad.compile``.

>>> import graphgrad as gg
>>> from graphgrad.distributions.utils import broadcast_all, probs_to_logits
>>> loc, scale = broadcast_all(gg.zeros(2), 1.0)
>>> scale
tensor([1., 1.])
>>> probs_to_logits(gg.tensor([0.5, 0.5]), is_binary=True)
tensor([0., 0.])
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from ..ir.api import TensorBase
from ..ops.elementwise import check_above
from ..ops.shape import broadcast_tensors
from ..runtime import dtypes
from ..runtime.factories import randn, tensor
from ..runtime.grad_mode import enable_grad
from ..runtime.tensor import Size, Tensor

__all__ = ["broadcast_all", "logits_to_probs", "clamp_probs", "probs_to_logits", "lazy_property", "euler_constant"]

euler_constant = 0.57721566490153286060  # Euler-Mascheroni constant

_NUMBER = (int, float)


def is_traced(x) -> bool:
    """True for a tensor of a running trace (its values are known only when the compiled code runs)."""
    return isinstance(x, TensorBase) and not isinstance(x, Tensor)


def broadcast_all(*values) -> tuple:
    """Tensors and Python numbers broadcast to one shape; numbers become tensors of the first tensor's dtype and
    device (of the default dtype when all are numbers).

    >>> import graphgrad as gg
    >>> [tuple(t.shape) for t in broadcast_all(gg.zeros(3, 1), gg.zeros(2), 0.5)]
    [(3, 2), (3, 2), (3, 2)]
    """
    if not all(isinstance(v, (TensorBase,) + _NUMBER) for v in values):
        raise ValueError("Input arguments must all be instances of Number, torch.Tensor or objects implementing "
                         "__torch_function__.")
    if not all(isinstance(v, TensorBase) for v in values):
        like = next((v for v in values if isinstance(v, TensorBase)), None)
        dtype = like.dtype if like is not None else dtypes.default_float()
        device = like.device if isinstance(like, Tensor) and like.is_cuda else None
        values = tuple(v if isinstance(v, TensorBase) else tensor(v, dtype=dtype, device=device) for v in values)
    return broadcast_tensors(*values)


def _standard_normal(shape, dtype, device) -> TensorBase:
    """N(0, 1) draws of ``shape`` (fresh at every call of a compiled function)."""
    return randn(*shape, dtype=dtype, device=device if device is not None and str(device) != "cpu" else None)


def _sum_rightmost(value: TensorBase, dim: int) -> TensorBase:
    """``value`` summed over its ``dim`` rightmost dimensions."""
    if dim == 0:
        return value
    return value.reshape(tuple(value.shape[:-dim]) + (-1,)).sum(-1)


def logits_to_probs(logits: TensorBase, is_binary: bool = False) -> TensorBase:
    """Probabilities from logits: ``sigmoid`` of log-odds (``is_binary``), else the softmax of the last dimension.

    >>> import graphgrad as gg
    >>> logits_to_probs(gg.tensor([0.0, 0.0]))
    tensor([0.5000, 0.5000])
    """
    if is_binary:
        return logits.sigmoid()
    return logits.softmax(-1)


def clamp_probs(probs: TensorBase) -> TensorBase:
    """Probabilities clamped into ``[eps, 1 - eps]`` (``eps`` of their dtype), so that their logs are finite.

    >>> import graphgrad as gg
    >>> clamp_probs(gg.tensor([0.0, 0.5, 1.0], dtype=gg.float64))
    tensor([2.2204e-16, 5.0000e-01, 1.0000e+00], dtype=torch.float64)
    """
    eps = float(np.finfo(np.dtype(probs._type.dtype)).eps)
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs: TensorBase, is_binary: bool = False) -> TensorBase:
    """Logits from probabilities: the log-odds ``log p - log(1 - p)`` (``is_binary``), else ``log p`` (clamped
    first: a 0 gives the log of its dtype's eps, not -inf).

    >>> import graphgrad as gg
    >>> probs_to_logits(gg.tensor([0.25, 0.75]), is_binary=True)
    tensor([-1.0986,  1.0986])
    """
    clamped = clamp_probs(probs)
    if is_binary:
        return clamped.log() - (-clamped).log1p()
    return clamped.log()


class lazy_property:
    """A method computed on first access, then stored on the instance (an attribute from then on): the
    distributions' derived parameters (``logits`` of a distribution built from ``probs``, and the reverse).

    >>> class Square:
    ...     def __init__(self, x):
    ...         self.x = x
    ...     @lazy_property
    ...     def value(self):
    ...         return self.x ** 2
    >>> s = Square(3)
    >>> s.value, "value" in s.__dict__
    (9, True)
    """

    def __init__(self, wrapped: Callable[[Any], Any]):
        self.wrapped = wrapped
        functools.update_wrapper(self, wrapped)

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        with enable_grad():  # (as PyTorch's: computed under no_grad, it would keep no history for later calls)
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


def describe(value) -> str:
    """A parameter as PyTorch's ``Distribution.__repr__`` shows it: a one-element tensor by its value, any other
    by its size (a traced one always by its size: its value is not known while tracing)."""
    if isinstance(value, Tensor) and value.numel() == 1:
        return f"{value}"
    return f"{Size(tuple(value.shape))}"


def checked(valid: TensorBase, value: TensorBase, message: Callable[[], str]) -> TensorBase:
    """``value``, once every element of the boolean ``valid`` is True, else a ValueError: eagerly now, with
    ``message()`` followed by the values (PyTorch's text); traced, when the compiled code runs (the values are not
    shown). Traced, the check is part of ``value``'s computation (``value`` times a 1 that raises), so that it
    runs at every call and no pass removes it while ``value`` is used."""
    if not is_traced(valid) and not is_traced(value):
        if not bool(valid.all()):
            raise ValueError(f"{message()}:\n{value}")
        return value
    ok = check_above(valid.all()._cast("float64"), 0.5,
                     f"{message()}:\n(not shown: the compiled function checks the values as it runs; call the "
                     "function eagerly to see them)", kind="ValueError")
    if value._type.dtype == "bool":
        return value & (ok > 0.5)
    return value * ok._cast(value._type.dtype)


def _no_rsample(name: str) -> NotImplementedError:
    return NotImplementedError(f"{name}.rsample: graphgrad has no reparameterized gamma sampler (its gradient needs the "
                               "derivative of the incomplete gamma function in the shape); use sample(), and "
                               "log_prob for score-function gradients")


_GAMMA_PROPOSALS = 16  # Marsaglia-Tsang accepts each with probability above 0.95: all 16 fail below 1e-20


def _log_standard_gamma(concentration: TensorBase) -> TensorBase:
    """``log`` of Gamma(``concentration``, 1) draws (float64, no gradient), by Marsaglia and Tsang's method written
    with tensor ops, so that it runs eagerly, traced (fresh draws at each call) and on CuPy alike: 16 proposals
    per element, the first accepted one kept. Shape below 1 is boosted: G_a = G_(a+1) U^(1/a), added in log
    space, where tiny shapes stay representable (their draws underflow to 0 as numbers)."""
    from ..ops.elementwise import where
    from ..runtime.factories import rand

    a = concentration.detach()._cast("float64")
    shape = tuple(a.shape)
    device = a.device if isinstance(a, Tensor) and a.is_cuda else None
    boost = a < 1
    d = where(boost, a + 1, a) - 1.0 / 3.0
    c = (9 * d).rsqrt()
    x = randn(_GAMMA_PROPOSALS, *shape, dtype="float64", device=device)
    u = rand(_GAMMA_PROPOSALS, *shape, dtype="float64", device=device)
    v = (1 + c * x) ** 3
    v = where(v > 0, v, 1.0)  # (a proposal with v <= 0 is rejected below; 1.0 keeps its log finite)
    accept = ((1 + c * x) > 0) & (u.log() < 0.5 * x * x + d - d * v + d * v.log())
    first = accept._cast("int64").argmax(0, keepdim=True)
    log_g = (d * v).log().gather(0, first).squeeze(0)
    return where(boost, log_g + rand(*shape, dtype="float64", device=device).log() / a, log_g)
