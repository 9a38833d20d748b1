"""ASGD: averaged stochastic gradient descent, as PyTorch computes it."""
from __future__ import annotations

from typing import Iterable

from ..runtime.factories import tensor, zeros_like
from .optimizer import Optimizer, _check_non_negative, _flags, _params_with_grad


class ASGD(Optimizer):
    """Averaged SGD: ``p = p (1 - lambd eta) - eta g``, then the average ``ax`` follows ``p`` (a copy of it
    while ``mu`` is 1, ``ax += mu (p - ax)`` once averaging starts after ``t0`` steps); then
    ``eta = lr / (1 + lambd lr t)^alpha`` and ``mu = 1 / max(1, t - t0)``. ``eta`` and ``mu`` are 0-d tensors
    of the default dtype in the state (``step``, ``eta``, ``mu``, ``ax``), as in PyTorch.

    >>> import graphgrad as gg
    >>> w = gg.tensor([1.0], requires_grad=True)
    >>> opt = gg.optim.ASGD([w], lr=0.1, lambd=0.0)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> round(w.item(), 4), round(opt.state[w]["ax"].item(), 4)
    (0.8, 0.8)
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0, foreach=None, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False):
        _flags(foreach, capturable, differentiable)
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                                      foreach=foreach, maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))

    def _check_group(self, group: dict) -> None:
        _check_non_negative(group, "weight_decay")

    def _update(self, group: dict) -> None:
        lr, lambd, alpha, t0, wd = (float(group["lr"]), group["lambd"], group["alpha"], group["t0"],
                                    group["weight_decay"])
        for p, g in _params_with_grad(group):
            state = self.state.setdefault(p, {})
            if not state:
                state["step"] = tensor(0.0)
                state["eta"] = tensor(lr)
                state["mu"] = tensor(1.0)
                state["ax"] = zeros_like(p)
            step = state["step"].add_(1).item()
            if wd != 0:
                g = g + p * wd
            eta = state["eta"].item()
            p.mul_(1 - lambd * eta)
            p.add_(g, alpha=-eta)
            mu = state["mu"].item()
            if mu != 1:
                state["ax"].add_((p - state["ax"]) * mu)
            else:
                state["ax"].copy_(p)
            state["eta"].fill_(lr / ((1 + lambd * lr * step) ** alpha))
            state["mu"].fill_(1 / max(1, step - t0))
