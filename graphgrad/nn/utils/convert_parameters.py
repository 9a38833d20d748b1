"""Parameters to one flat vector and back, as ``torch.nn.utils`` does it."""
from __future__ import annotations

from typing import Iterable

from ...runtime.grad_mode import no_grad
from ...runtime.tensor import Tensor
from ...ops.shape import cat


def _check_tensor(value, what: str) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(value).__name__}")


def _check_param_device(param: Tensor, old_device):
    # PyTorch refuses parameters split across devices; graphgrad's devices are cpu and (CuPy) cuda
    device = str(param.device)
    if old_device is not None and device != old_device:
        raise TypeError("Found two parameters on different devices, this is currently not supported.")
    return device


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """One 1-D tensor of all parameters, flattened and concatenated in order (differentiable, as in PyTorch).

    >>> import graphgrad as gg
    >>> layer = gg.nn.Linear(2, 3)
    >>> gg.nn.utils.parameters_to_vector(layer.parameters()).shape
    torch.Size([9])
    """
    device = None
    vec = []
    for param in parameters:
        device = _check_param_device(param, device)
        vec.append(param.view(-1) if param.ndim else param.reshape(1))
    return cat(vec)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of ``vec`` into the parameters' data, in order (no gradient is recorded).

    >>> import graphgrad as gg
    >>> layer = gg.nn.Linear(2, 1)
    >>> gg.nn.utils.vector_to_parameters(gg.arange(3.0), layer.parameters())
    >>> layer.weight, layer.bias
    (Parameter containing:
    tensor([[0., 1.]], requires_grad=True), Parameter containing:
    tensor([2.], requires_grad=True))
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    parameters = list(parameters)
    device = None
    total = 0
    for param in parameters:
        device = _check_param_device(param, device)
        total += param.numel()
    if vec.ndim != 1 or vec.shape[0] != total:  # PyTorch's view() would fail here; say what does not fit
        raise RuntimeError(f"vector_to_parameters: expected a 1-D vector of {total} elements (the parameters' total), "
                           f"got shape {list(vec.shape)}")
    pointer = 0
    with no_grad():
        for param in parameters:
            n = param.numel()
            param.copy_(vec[pointer:pointer + n].view_as(param))
            pointer += n
