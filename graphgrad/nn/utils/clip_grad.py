"""Gradient clipping with PyTorch's formulas: the total norm is the ``norm_type``-norm of the per-gradient
norms, and each gradient is scaled in place by ``min(1, max_norm / (total_norm + 1e-6))``."""
from __future__ import annotations

import math
import types
import warnings
from typing import Iterable, Optional, Union

from ...ops.linalg import vector_norm
from ...ops.shape import stack
from ...runtime import factories
from ...runtime.grad_mode import no_grad
from ...runtime.tensor import Tensor

_tensor_or_tensors = Union[Tensor, Iterable[Tensor]]


def _as_list(tensors) -> list:
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _check_foreach(foreach: Optional[bool], tensors: list) -> None:
    # graphgrad has one implementation; foreach=True is honoured on the devices PyTorch has it for (cpu, cuda)
    if foreach:
        for t in tensors:
            kind = getattr(t.device, "type", str(t.device))
            if kind not in ("cpu", "cuda"):
                raise RuntimeError(f"foreach=True was passed, but can't use the foreach API on {kind} tensors")


def get_total_norm(tensors: _tensor_or_tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: Optional[bool] = None) -> Tensor:
    """The ``norm_type``-norm of the tensors' norms, as if they were concatenated into one vector.

    >>> import graphgrad as gg
    >>> gg.nn.utils.get_total_norm([gg.tensor([3.0]), gg.tensor([4.0])])
    tensor(5.)
    """
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return factories.tensor(0.0)
    _check_foreach(foreach, tensors)
    with no_grad():
        norms = [vector_norm(t.detach(), norm_type) for t in tensors]
        # stack promotes, as PyTorch's does: float32 and float64 gradients give a float64 total norm
        total = vector_norm(stack(norms), norm_type)
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    return total


def clip_grads_with_norm_(parameters: _tensor_or_tensors, max_norm: float, total_norm: Tensor,
                          foreach: Optional[bool] = None) -> None:
    """Scale the gradients in place by ``min(1, max_norm / (total_norm + 1e-6))`` (``clip_grad_norm_`` with a
    norm computed beforehand, e.g. by :func:`get_total_norm`)."""
    parameters = _as_list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    _check_foreach(foreach, grads)
    with no_grad():
        coef = (float(max_norm) / (total_norm + 1e-6)).clamp(max=1.0)
        for g in grads:  # in place, as PyTorch's mul_: whatever holds the .grad tensors sees the clipped values
            g.mul_(coef.to(g.dtype))


def clip_grad_norm_(parameters: _tensor_or_tensors, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: Optional[bool] = None) -> Tensor:
    """Clip the gradients' total norm to ``max_norm`` in place; returns the total norm before clipping.

    >>> import graphgrad as gg
    >>> a, b = gg.nn.Parameter(gg.zeros(1)), gg.nn.Parameter(gg.zeros(1))
    >>> a.grad, b.grad = gg.tensor([6.0]), gg.tensor([8.0])
    >>> gg.nn.utils.clip_grad_norm_([a, b], 5.0)
    tensor(10.)
    >>> a.grad, b.grad
    (tensor([3.0000]), tensor([4.0000]))
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=2)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_norm(parameters: _tensor_or_tensors, max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: Optional[bool] = None) -> Tensor:
    """Deprecated spelling of :func:`clip_grad_norm_` (a ``FutureWarning``, as in PyTorch)."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.",
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters: _tensor_or_tensors, clip_value: float, foreach: Optional[bool] = None) -> None:
    """Clamp every gradient in place to ``[-clip_value, clip_value]``.

    >>> import graphgrad as gg
    >>> w = gg.nn.Parameter(gg.zeros(3))
    >>> w.grad = gg.tensor([-5.0, 0.5, 2.0])
    >>> gg.nn.utils.clip_grad_value_([w], 1.0)
    >>> w.grad
    tensor([-1.0000,  0.5000,  1.0000])
    """
    parameters = _as_list(parameters)
    clip_value = float(clip_value)
    grads = [p.grad for p in parameters if p.grad is not None]
    _check_foreach(foreach, grads)
    with no_grad():
        for g in grads:
            g.clamp_(min=-clip_value, max=clip_value)
