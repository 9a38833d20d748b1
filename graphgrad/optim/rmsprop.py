"""RMSprop and Adagrad: per-parameter step sizes from running squared gradients, as PyTorch computes them."""
from __future__ import annotations

from typing import Iterable

from ..runtime.factories import full_like, tensor, zeros_like
from .optimizer import Optimizer, _check_non_negative, _flags, _params_with_grad


class RMSprop(Optimizer):
    """``v = alpha v + (1 - alpha) g²`` (centered: minus the squared running mean of g),
    ``p -= lr g / (sqrt(v) + eps)`` — through a momentum buffer when ``momentum`` > 0.

    >>> import graphgrad as gg
    >>> w = gg.tensor([1.0], requires_grad=True)
    >>> opt = gg.optim.RMSprop([w], lr=0.01)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> round(w.item(), 4)
    0.9
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach=None, maximize: bool = False, differentiable: bool = False):
        flags = _flags(foreach, capturable, differentiable)
        del flags["fused"]
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize, **flags))

    def _check_group(self, group: dict) -> None:
        _check_non_negative(group, "eps", "momentum", "weight_decay", "alpha")

    def _update(self, group: dict) -> None:
        alpha, eps, momentum = group["alpha"], group["eps"], group["momentum"]
        for p, g in _params_with_grad(group):
            state = self.state.setdefault(p, {})
            if not state:
                state["step"] = tensor(0.0)  # a 0-d float tensor, as PyTorch's (float64 under a float64 default)
                state["square_avg"] = zeros_like(p)
                if momentum > 0:
                    state["momentum_buffer"] = zeros_like(p)
                if group["centered"]:
                    state["grad_avg"] = zeros_like(p)
            state["step"].add_(1)
            if group["weight_decay"] != 0:
                g = g + p * group["weight_decay"]
            square_avg = state["square_avg"].mul_(alpha).add_(g * g, alpha=1 - alpha)
            if group["centered"]:
                grad_avg = state["grad_avg"].mul_(alpha).add_(g, alpha=1 - alpha)
                avg = (square_avg - grad_avg * grad_avg).sqrt() + eps
            else:
                avg = square_avg.sqrt() + eps
            if momentum > 0:
                buf = state["momentum_buffer"].mul_(momentum).add_(g / avg)
                p.add_(buf, alpha=-group["lr"])
            else:
                p.add_(g / avg, alpha=-group["lr"])


class Adagrad(Optimizer):
    """``s += g²``, ``p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps)``."""

    def __init__(self, params: Iterable, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach=None, *, maximize: bool = False,
                 differentiable: bool = False, fused=None):
        flags = _flags(foreach, differentiable=differentiable, fused=fused)
        del flags["capturable"]
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize,
                                      **flags))
        # PyTorch's Adagrad makes its parameters' state at once (a group added later gets it at its first step)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)

    def _init_state(self, p) -> dict:
        state = self.state[p]
        if not state:
            state["step"] = tensor(0.0)  # a 0-d float tensor, as PyTorch's (float64 under a float64 default)
            state["sum"] = full_like(p, self.defaults["initial_accumulator_value"])
        elif state["sum"].device != p.device:  # made before the model moved (PyTorch's would fail: both devices)
            state["sum"] = state["sum"].to(p.device)
        return state

    def _check_group(self, group: dict) -> None:
        _check_non_negative(group, "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def _update(self, group: dict) -> None:
        for p, g in _params_with_grad(group):
            state = self._init_state(p)
            step = state["step"].add_(1).item()
            if group["weight_decay"] != 0:
                g = g + p * group["weight_decay"]
            clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
            total = state["sum"].add_(g * g)
            p.add_(g / (total.sqrt() + group["eps"]), alpha=-clr)
