"""NAdam: Adam with Nesterov momentum and Dozat's momentum schedule, as PyTorch computes it."""
from __future__ import annotations

from typing import Iterable

from ..runtime.factories import tensor, zeros_like
from .adamax import _check_betas
from .optimizer import Optimizer, _flags, _params_with_grad


class NAdam(Optimizer):
    """NAdam: ``mu_t = b1 (1 - 0.5 * 0.96^(t * momentum_decay))``, Adam's moments ``m`` and ``v``, and
    ``p -= lr (1 - mu_t) / (1 - prod mu_1..t) * g / d + lr mu_{t+1} / (1 - prod mu_1..t+1) * m / d`` with
    ``d = sqrt(v / (1 - b2^t)) + eps``. ``weight_decay`` adds ``wd * p`` to ``g``, or with
    ``decoupled_weight_decay=True`` scales ``p`` by ``1 - lr * wd`` first. The running product of the ``mu`` is
    kept in state ``mu_product`` (a 0-d tensor of the default dtype, as in PyTorch).

    >>> import graphgrad as gg
    >>> w = gg.tensor([1.0], requires_grad=True)
    >>> opt = gg.optim.NAdam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> round(w.item(), 4)
    0.8944
    >>> list(opt.state[w])
    ['step', 'mu_product', 'exp_avg', 'exp_avg_sq']
    """

    def __init__(self, params: Iterable, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach=None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False):
        _flags(foreach, capturable, differentiable)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable))

    def _check_group(self, group: dict) -> None:
        _check_betas(group, "momentum_decay")

    def _update(self, group: dict) -> None:
        lr, (beta1, beta2), eps, wd = float(group["lr"]), group["betas"], group["eps"], group["weight_decay"]
        decay = group["momentum_decay"]
        for p, g in _params_with_grad(group):
            state = self.state.setdefault(p, {})
            if not state:
                state["step"] = tensor(0.0)
                state["mu_product"] = tensor(1.0)
                state["exp_avg"] = zeros_like(p)
                state["exp_avg_sq"] = zeros_like(p)
            step = state["step"].add_(1).item()
            if wd != 0:
                if group["decoupled_weight_decay"]:
                    p.mul_(1 - lr * wd)
                else:
                    g = g + p * wd
            mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * decay))
            mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * decay))
            # the product is a tensor (rounded to its dtype at every step) as PyTorch keeps it
            mu_product = state["mu_product"].mul_(mu).item()
            mu_product_next = mu_product * mu_next
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg.mul_(beta1).add_(g, alpha=1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            denom = (exp_avg_sq / (1 - beta2 ** step)).sqrt() + eps
            p.addcdiv_(g, denom, value=-lr * (1.0 - mu) / (1.0 - mu_product))
            p.addcdiv_(exp_avg, denom, value=-lr * mu_next / (1.0 - mu_product_next))
