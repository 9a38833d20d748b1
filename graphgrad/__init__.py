"""graphgrad: one Tensor API, two modes — eager autograd (PyTorch style) and a compiler that emits
readable NumPy/CuPy code for forward and backward.

>>> import graphgrad as gg
>>> x = gg.tensor([1.0, 2.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([2., 4.])
"""
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
from .runtime.factories import (DoubleTensor, FloatTensor, Generator, LongTensor, arange, as_tensor, bernoulli, poisson,
                                empty, empty_like, eye, from_numpy, full, full_like, initial_seed, linspace, logspace,
                                manual_seed, multinomial, normal, ones, ones_like, rand, rand_like, randint, randint_like, randn,
                                randn_like, randperm, range, tensor, zeros, zeros_like)
from .runtime.grad_mode import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled,
                                no_grad, set_grad_enabled)
from .runtime.printing import set_printoptions
from .runtime.settings import (are_deterministic_algorithms_enabled, get_float32_matmul_precision, get_num_threads,
                               is_deterministic_algorithms_warn_only_enabled, seed, set_float32_matmul_precision,
                               set_num_threads, use_deterministic_algorithms)
from .runtime.tensor import Size, Tensor
from .tracer.tracer import SymbolicTensor
from .runtime.torch_api import (install as _install_torch_signatures, is_floating_point, is_nonzero, is_tensor, numel,
                                promote_types, result_type)
from .runtime.torch_api import broadcast_shapes, can_cast, detach, is_complex

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
from .nn.torch_functions import *  # noqa: E402,F401,F403  (torch.conv2d, torch.embedding, ...: nn's functions)
from . import optim  # noqa: E402
from . import distributions  # noqa: E402  (torch.distributions: built on the Tensor API, as nn)
from . import numpy as _numpy_face  # noqa: E402,F401  (tensors dispatch NumPy's functions to it)
from .utils import data as _data  # noqa: E402,F401  (so graphgrad.utils.data is reachable as torch.utils.data is)
from .utils.serialization import load, save  # noqa: E402
from . import viz  # noqa: E402  (gg.viz.make_dot: pictures of eager graphs, as torchviz draws them)
from . import testing  # noqa: E402  (torch.testing.assert_close)

__version__ = "0.1.0"


def __getattr__(name: str):
    """Functions declared after import (an op module loaded later) are found in the names table too."""
    try:
        return _FUNCTIONS[name]
    except KeyError:
        raise AttributeError(f"module 'graphgrad' has no attribute {name!r}") from None


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
