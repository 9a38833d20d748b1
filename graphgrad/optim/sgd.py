"""Stochastic gradient descent with PyTorch's momentum, dampening, Nesterov and weight-decay formulas."""
from __future__ import annotations

from typing import Iterable

from .optimizer import Optimizer, _check_non_negative, _flags, _params_with_grad


class SGD(Optimizer):
    """``p -= lr * d`` where ``d`` is the gradient plus ``weight_decay * p``, passed through the momentum buffer
    ``b = momentum * b + (1 - dampening) * d`` (the first step sets ``b = d``) and, with ``nesterov``,
    ``d + momentum * b``.

    >>> import graphgrad as gg
    >>> w = gg.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = gg.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad()
    ...     (w * w).sum().backward()
    ...     opt.step()
    >>> w
    tensor([ 0.4600, -0.9200], requires_grad=True)
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False, foreach=None,
                 differentiable: bool = False, fused=None):
        flags = _flags(foreach, differentiable=differentiable, fused=fused)
        del flags["capturable"]
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize, **flags))

    def _check_group(self, group: dict) -> None:
        _check_non_negative(group, "momentum", "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _update(self, group: dict) -> None:
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        for p, d in _params_with_grad(group):
            if group["weight_decay"] != 0:
                d = d + p * group["weight_decay"]
            if momentum != 0:
                state = self.state.setdefault(p, {})
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = d.detach().clone()
                else:
                    buf.mul_(momentum).add_(d, alpha=1 - dampening)
                d = d + buf * momentum if group["nesterov"] else buf
            p.add_(d, alpha=-lr)
