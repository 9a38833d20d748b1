"""graphgrad: one Tensor API, two modes — eager autograd (PyTorch style) and a compiler that emits
readable NumPy/CuPy code for forward and backward.

>>> import graphgrad as gg
>>> x = gg.tensor([1.0, 2.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([2., 4.])
"""
import builtins as _builtins

from . import ops  # noqa: F401  (declares every op: fills ir's, passes' and codegen's tables, Tensor methods)
from . import ir
from .ir.public import FUNCTIONS as _FUNCTIONS, namespace as _namespace

globals().update(_FUNCTIONS)  # graphgrad.exp, graphgrad.where, ...: each declared beside its op in graphgrad.ops
from . import autograd
from .runtime import return_types
from .runtime.dtypes import bool_ as bool  # noqa: A001
from .runtime.dtypes import double, dtype, float, float32, float64, int64, long  # noqa: A001
from .runtime.dtypes import finfo, get_default_dtype, iinfo, set_default_dtype
from .runtime.device import accelerator, backends, cuda, device, get_default_device, set_default_device
from .runtime.factories import (DoubleTensor, FloatTensor, Generator, LongTensor, arange, as_tensor, bernoulli,
                                empty, empty_like, eye, from_numpy, full, full_like, initial_seed, linspace, logspace,
                                manual_seed, normal, ones, ones_like, rand, rand_like, randint, randint_like, randn,
                                randn_like, randperm, range, tensor, zeros, zeros_like)
from .runtime.grad_mode import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled,
                                no_grad, set_grad_enabled)
from .runtime.printing import set_printoptions
from .runtime.tensor import Size, Tensor
from .tracer.tracer import SymbolicTensor
from .runtime.torch_api import install as _install_torch_signatures

_install_torch_signatures(_FUNCTIONS)  # PyTorch's argument names and out= on graphgrad.add, graphgrad.exp, ...
globals().update(_FUNCTIONS)
linalg = _namespace(__name__ + ".linalg", _FUNCTIONS, "torch.linalg's functions, declared in graphgrad.ops.linalg.")
linalg.LinAlgError = ops.linalg.LinAlgError
special = _namespace(__name__ + ".special", _FUNCTIONS,
                     "torch.special's functions, declared in graphgrad.ops.elementwise.")
from .runtime.compiled import compile, export  # noqa: A004
from .runtime.jax_transforms import (elementwise_grad, hessian, hvp, jacfwd, jacobian, jacrev, jvp, linearize, vjp,
                                     vmap)
from .runtime.transforms import grad, value_and_grad
from .ops.control import cond, fori_loop, scan, while_loop
from .ops import autograph as _autograph  # noqa: F401  (installs the run-time half of source conversion)

from . import nn  # noqa: E402  (built on everything above)
from . import optim  # noqa: E402
from . import numpy as _numpy_face  # noqa: E402,F401  (tensors dispatch NumPy's functions to it)
from .utils import data as _data  # noqa: E402,F401  (so graphgrad.utils.data is reachable as torch.utils.data is)
from .utils.serialization import load, save  # noqa: E402
from . import viz  # noqa: E402  (gg.viz.make_dot: pictures of eager graphs, as torchviz draws them)

__version__ = "0.1.0"


def __getattr__(name: str):
    """Functions declared after import (an op module loaded later) are found in the names table too."""
    try:
        return _FUNCTIONS[name]
    except KeyError:
        raise AttributeError(f"module 'graphgrad' has no attribute {name!r}") from None


def is_tensor(obj) -> bool:
    # a traced value inside a compiled function stands for a Tensor, as the same code sees one eagerly
    return isinstance(obj, (Tensor, SymbolicTensor))


def numel(t: Tensor) -> int:
    return t.numel()


def _tensor_argument(fn: str, input) -> None:
    if not is_tensor(input):
        raise TypeError(f"{fn}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")


def is_floating_point(input: Tensor) -> bool:
    """Whether ``input``'s dtype is a floating one (``Tensor.is_floating_point``).

    >>> import graphgrad as gg
    >>> gg.is_floating_point(gg.tensor([1.0])), gg.is_floating_point(gg.tensor([1]))
    (True, False)
    """
    _tensor_argument("is_floating_point", input)
    return input.is_floating_point()


def is_nonzero(input: Tensor) -> bool:
    """Whether the one element of ``input`` is not zero (``Tensor.is_nonzero``).

    >>> import graphgrad as gg
    >>> gg.is_nonzero(gg.tensor([1.5])), gg.is_nonzero(gg.tensor(0))
    (True, False)
    """
    _tensor_argument("is_nonzero", input)
    return input.is_nonzero()


def result_type(tensor, other) -> dtype:
    """The dtype PyTorch's type promotion gives an operation on ``tensor`` and ``other`` (tensors or numbers):
    tensors with dimensions first, then 0-d ones, then numbers, each only where it brings a higher category.

    >>> import graphgrad as gg
    >>> gg.result_type(gg.tensor([1, 2]), 1.0), gg.result_type(gg.tensor([1.0]), gg.tensor(1.0, dtype=gg.float64))
    (torch.float32, torch.float32)
    """
    from .ir.registry import result_dtype
    from .runtime.dtypes import BY_NAME

    operands = [tensor, other]
    # (this module's all, bool and float are PyTorch's)
    if not _builtins.all(is_tensor(x) or isinstance(x, (_builtins.bool, int, _builtins.float)) for x in operands):
        got = ", ".join("Tensor" if is_tensor(x) else type(x).__name__ for x in operands)
        raise TypeError(f"result_type() received an invalid combination of arguments - got ({got}), but expected one "
                        f"of:\n * (Tensor tensor, Tensor other)\n * (Number scalar, Tensor tensor)\n"
                        f" * (Tensor tensor, Number other)\n * (Number scalar1, Number scalar2)\n")
    return BY_NAME[result_dtype([x._type if is_tensor(x) else x for x in operands])]


def promote_types(type1: dtype, type2: dtype) -> dtype:
    """The smallest dtype both ``type1`` and ``type2`` convert to (PyTorch's promotion of two tensors' dtypes).

    >>> import graphgrad as gg
    >>> gg.promote_types(gg.int64, gg.float32), gg.promote_types(gg.bool, gg.int64)
    (torch.float32, torch.int64)
    """
    from .ir.registry import result_dtype
    from .ir.types import TensorType
    from .runtime.dtypes import BY_NAME

    for position, name, t in ((1, "type1", type1), (2, "type2", type2)):
        if not isinstance(t, dtype):
            raise TypeError(f"promote_types(): argument '{name}' (position {position}) must be torch.dtype, not "
                            f"{type(t).__name__}")
    return BY_NAME[result_dtype([TensorType((1,), type1.name), TensorType((1,), type2.name)])]


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    """``torch.return_types.sort(values, indices)`` of ``input`` along ``dim``."""
    return input.sort(dim, descending, stable)


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    return input.argsort(dim, descending, stable)


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    """``torch.return_types.topk(values, indices)``: the ``k`` largest (or smallest) elements along ``dim``."""
    return input.topk(k, dim, largest, sorted)


def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, value=1) -> Tensor:
    return input.addcmul(tensor1, tensor2, value)


def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, value=1) -> Tensor:
    return input.addcdiv(tensor1, tensor2, value)






def unbind(input: Tensor, dim: int = 0) -> tuple:
    return input.unbind(dim)


def equal(input: Tensor, other: Tensor) -> bool:
    return input.equal(other)


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    return input.allclose(other, rtol, atol, equal_nan)


def floor(input: Tensor) -> Tensor:
    return input.floor()


def ceil(input: Tensor) -> Tensor:
    return input.ceil()


def round(input: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001
    return input.round(decimals)


def remainder(input: Tensor, other) -> Tensor:
    return input.remainder(other)


def fmod(input: Tensor, other) -> Tensor:
    return input.fmod(other)
