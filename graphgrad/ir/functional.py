"""Function forms of the Tensor API (``gg.exp(x)``, ``gg.cat([a, b])``), for any interpreter.

Each function is declared beside its op in ``graphgrad.ops`` and read here from ``ir.public.FUNCTIONS``.
"""
from __future__ import annotations

from .public import FUNCTIONS


def __getattr__(name: str):
    try:
        return FUNCTIONS[name]
    except KeyError:
        raise AttributeError(f"module 'graphgrad.ir.functional' has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(FUNCTIONS)
