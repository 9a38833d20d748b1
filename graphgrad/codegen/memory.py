"""Writing a result into a buffer: the ``out=`` form of an op's ufunc call. Which buffer, and when that is safe,
is ``ir.buffers``'s plan."""
from __future__ import annotations

from ..ir.buffers import ufunc_call

_INTO: dict = {}  # op -> its ufunc template with an out= argument


def into(op: str, args: list, xp: str, buffer: str) -> str:
    """``op`` of ``args`` computed into ``buffer``: ``np.subtract(a, b, out=buffer)``."""
    template = _INTO.get(op)
    if template is None:
        template = _INTO[op] = "{xp}." + ufunc_call(op)[:-1] + ", out={out})"
    return template.format(*args, xp=xp, out=buffer)
