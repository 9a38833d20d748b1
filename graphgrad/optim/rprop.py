"""Rprop: resilient backpropagation, per-element step sizes driven by gradient signs, as PyTorch computes it."""
from __future__ import annotations

from typing import Iterable

from ..ops.elementwise import where
from ..runtime.factories import full_like, tensor, zeros_like
from .optimizer import Optimizer, _check_non_negative, _flags, _params_with_grad


class Rprop(Optimizer):
    """Rprop: each element's step size is multiplied by ``etas[1]`` where the gradient kept its sign since the
    last step, by ``etas[0]`` where it flipped (and that element's gradient is then taken as 0: no move, and no
    sign to compare next time), clamped to ``step_sizes``; ``p -= sign(g) * step_size``. Step sizes start at
    ``lr``. State: ``step``, ``prev``, ``step_size``.

    >>> import graphgrad as gg
    >>> w = gg.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = gg.optim.Rprop([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, capturable: bool = False, foreach=None,
                 maximize: bool = False, differentiable: bool = False):
        _flags(foreach, capturable, differentiable)
        super().__init__(params, dict(lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, capturable=capturable))

    def _check_group(self, group: dict) -> None:
        _check_non_negative(group)
        etaminus, etaplus = group["etas"]
        if not 0.0 < etaminus < 1.0 < etaplus:
            raise ValueError(f"Invalid eta values: {etaminus}, {etaplus}")

    def _update(self, group: dict) -> None:
        (etaminus, etaplus), (step_min, step_max) = group["etas"], group["step_sizes"]
        for p, g in _params_with_grad(group):
            state = self.state.setdefault(p, {})
            if not state:
                state["step"] = tensor(0.0)
                state["prev"] = zeros_like(p)
                state["step_size"] = full_like(g, float(group["lr"]))
            state["step"].add_(1)
            product = g * state["prev"]
            # a nan product keeps its nan factor, as PyTorch's (which rewrites only >0, <0 and ==0 entries)
            flipped = product < 0
            factor = where(product > 0, etaplus, where(flipped, etaminus, where(product == 0, 1.0, product.sign())))
            step_size = state["step_size"].mul_(factor).clamp_(step_min, step_max)
            g = where(flipped, 0.0, g)
            p.addcmul_(g.sign(), step_size, value=-1)
            state["prev"].copy_(g)
