"""``graphgrad.autograd``, importable as PyTorch users write it (``from graphgrad.autograd import Variable``).

The implementation lives in ``graphgrad.runtime``; this module is its public face.

>>> import graphgrad as gg
>>> from graphgrad.autograd import grad
>>> x = gg.tensor(2.0, requires_grad=True)
>>> grad(x ** 3, x)
(tensor(12.),)
"""
from .runtime.autograd import Variable, backward, grad  # noqa: F401
from .runtime.grad_mode import enable_grad, inference_mode, no_grad, set_grad_enabled  # noqa: F401
import sys  # noqa: E402

from .runtime import custom_function as function  # noqa: E402
from .runtime.custom_function import Function, FunctionCtx, once_differentiable  # noqa: F401,E402

sys.modules[__name__ + ".function"] = function  # `from graphgrad.autograd.function import Function` works
