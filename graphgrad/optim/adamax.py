"""Adamax: Adam with the infinity norm in place of the second moment, as PyTorch computes it."""
from __future__ import annotations

from typing import Iterable

from ..runtime.factories import tensor, zeros_like
from .optimizer import Optimizer, _check_non_negative, _flags, _params_with_grad


class Adamax(Optimizer):
    """Adamax: ``m = b1 m + (1-b1) g``, ``u = max(b2 u, |g| + eps)``, ``p -= lr / (1-b1^t) * m / u``;
    ``weight_decay`` adds ``wd * p`` to ``g``. State per parameter: ``step``, ``exp_avg``, ``exp_inf``.

    >>> import graphgrad as gg
    >>> w = gg.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = gg.optim.Adamax([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    >>> sorted(opt.state[w])
    ['exp_avg', 'exp_inf', 'step']
    """

    def __init__(self, params: Iterable, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, foreach=None, *, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False):
        _flags(foreach, capturable, differentiable)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, capturable=capturable))

    def _check_group(self, group: dict) -> None:
        _check_betas(group)

    def _update(self, group: dict) -> None:
        lr, (beta1, beta2), eps, wd = float(group["lr"]), group["betas"], group["eps"], group["weight_decay"]
        for p, g in _params_with_grad(group):
            state = self.state.setdefault(p, {})
            if not state:
                state["step"] = tensor(0.0)
                state["exp_avg"] = zeros_like(p)
                state["exp_inf"] = zeros_like(p)
            state["step"].add_(1)
            if wd != 0:
                g = g + p * wd
            exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
            exp_avg.mul_(beta1).add_(g, alpha=1 - beta1)
            exp_inf.copy_(exp_inf.mul_(beta2).maximum(g.abs() + eps))
            p.addcdiv_(exp_avg, exp_inf, value=-lr / (1 - beta1 ** state["step"].item()))


def _check_betas(group: dict, *more: str) -> None:
    """PyTorch's Adam-family checks, in its order: lr, eps, both betas, weight_decay, then ``more``."""
    _check_non_negative(group, "eps")
    for i in (0, 1):
        if not 0.0 <= group["betas"][i] < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {group['betas'][i]}")
    _check_non_negative(group, "weight_decay", *more)
