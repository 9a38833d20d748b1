"""Adadelta, with PyTorch's update formula."""
from __future__ import annotations

from typing import Iterable

from ..runtime.factories import tensor, zeros_like
from .optimizer import Optimizer, _check_non_negative, _flags, _params_with_grad


class Adadelta(Optimizer):
    """``v = rho v + (1 - rho) g²``, ``delta = sqrt(u + eps) / sqrt(v + eps) * g``,
    ``u = rho u + (1 - rho) delta²``, ``p -= lr delta``.

    >>> import graphgrad as gg
    >>> w = gg.tensor([1.0], requires_grad=True)
    >>> opt = gg.optim.Adadelta([w])
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> round(w.item(), 6)  # 1 - sqrt(1e-6) / sqrt(0.1 * 4 + 1e-6) * 2
    0.996838
    """

    def __init__(self, params: Iterable, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach=None, *, capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False):
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        flags = _flags(foreach, capturable, differentiable)
        del flags["fused"]
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                                      **flags))

    def _check_group(self, group: dict) -> None:
        _check_non_negative(group, "lr", "eps", "weight_decay")

    def _update(self, group: dict) -> None:
        rho, eps = group["rho"], group["eps"]
        for p, g in _params_with_grad(group):
            state = self.state.setdefault(p, {})
            if not state:
                state["step"] = tensor(0.0)  # a 0-d float tensor, as PyTorch's (float64 under a float64 default)
                state["square_avg"] = zeros_like(p)
                state["acc_delta"] = zeros_like(p)
            state["step"].add_(1)
            if group["weight_decay"] != 0:
                g = g + p * group["weight_decay"]
            square_avg = state["square_avg"].mul_(rho).add_(g * g, alpha=1 - rho)
            delta = (state["acc_delta"] + eps).sqrt() / (square_avg + eps).sqrt() * g
            state["acc_delta"].mul_(rho).add_(delta * delta, alpha=1 - rho)
            p.add_(delta, alpha=-group["lr"])
