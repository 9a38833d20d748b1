"""RAdam: Adam with the variance of its adaptive learning rate rectified, as PyTorch computes it."""
from __future__ import annotations

import math
from typing import Iterable

from ..runtime.factories import tensor, zeros_like
from .adamax import _check_betas
from .optimizer import Optimizer, _flags, _params_with_grad


class RAdam(Optimizer):
    """RAdam: Adam's moments ``m``, ``v``; with ``rho_inf = 2 / (1 - b2) - 1`` and
    ``rho_t = rho_inf - 2 t b2^t / (1 - b2^t)``, the step is
    ``lr * m / (1 - b1^t) * r_t * sqrt(1 - b2^t) / (sqrt(v) + eps)`` while ``rho_t > 5``
    (``r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))``), and plain
    momentum SGD, ``lr * m / (1 - b1^t)``, before. ``weight_decay`` as in :class:`NAdam`.

    >>> import graphgrad as gg
    >>> w = gg.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = gg.optim.RAdam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()  # rho_1 = 1 <= 5: an SGD step with the bias-corrected momentum, the gradient itself
    >>> w
    tensor([ 0.8000, -1.6000], requires_grad=True)
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 foreach=None, maximize: bool = False, capturable: bool = False, differentiable: bool = False):
        _flags(foreach, capturable, differentiable)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize,
                                      foreach=foreach, capturable=capturable,
                                      decoupled_weight_decay=decoupled_weight_decay, differentiable=differentiable))

    def _check_group(self, group: dict) -> None:
        _check_betas(group)

    def _update(self, group: dict) -> None:
        lr, (beta1, beta2), eps, wd = float(group["lr"]), group["betas"], group["eps"], group["weight_decay"]
        rho_inf = 2 / (1 - beta2) - 1
        for p, g in _params_with_grad(group):
            state = self.state.setdefault(p, {})
            if not state:
                state["step"] = tensor(0.0)
                state["exp_avg"] = zeros_like(p)
                state["exp_avg_sq"] = zeros_like(p)
            step = state["step"].add_(1).item()
            if wd != 0:
                if group["decoupled_weight_decay"]:
                    p.mul_(1 - lr * wd)
                else:
                    g = g + p * wd
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg.mul_(beta1).add_(g, alpha=1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            bias_correction1, bias_correction2 = 1 - beta1 ** step, 1 - beta2 ** step
            corrected = exp_avg / bias_correction1
            rho_t = rho_inf - 2 * step * beta2 ** step / bias_correction2
            if rho_t > 5.0:  # the variance is tractable: the rectified adaptive step
                rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                adaptive = bias_correction2 ** 0.5 / (exp_avg_sq.sqrt() + eps)
                p.add_(corrected * lr * adaptive * rect, alpha=-1.0)
            else:
                p.add_(corrected * lr, alpha=-1.0)
