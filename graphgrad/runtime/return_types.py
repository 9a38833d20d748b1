"""``torch.return_types`` (``graphgrad.return_types``): the named tuples are defined in ``graphgrad.ir.return_types``,
below ``graphgrad.ops``, whose functions (``median``, ``kthvalue``, ``aminmax``, ...) return them in eager and traced
code alike."""
from ..ir.return_types import *  # noqa: F401,F403
from ..ir.return_types import max, min  # noqa: A004,F401
