"""``graphgrad.autograd``: ``backward``, ``grad`` and the legacy ``Variable``."""
from __future__ import annotations

import warnings

import numpy as np

from .engine import run_backward
from .grad_mode import enable_grad, inference_mode, no_grad, set_grad_enabled  # noqa: F401
from .tensor import Tensor, _to_array, check_can_require_grad, make_output, quiet_fp


def _as_tuple(x) -> tuple:
    if x is None:
        return ()
    return tuple(x) if isinstance(x, (list, tuple)) else (x,)


def _seed_gradients(outputs: tuple, grad_outputs: tuple, create_graph: bool) -> tuple[list, list]:
    if grad_outputs and len(grad_outputs) != len(outputs):
        raise RuntimeError("grad can be implicitly created only for scalar outputs" if not grad_outputs else
                           f"Mismatch in number of gradients: got {len(grad_outputs)}, expected {len(outputs)}")
    roots, grads = [], []
    for i, out in enumerate(outputs):
        if not isinstance(out, Tensor):
            raise TypeError(f"expected a Tensor as output {i}, got {type(out).__name__}")
        node = out._grad_node()
        if node is None:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        g = grad_outputs[i] if grad_outputs else None
        if g is None:
            if out._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if out._data.dtype.kind != "f":
                raise RuntimeError(f"grad can be implicitly created only for real scalar outputs but got "
                                   f"{out.dtype}")
            g = Tensor._wrap(_ones_like(out._data))
        else:
            if not isinstance(g, Tensor):
                g = Tensor._wrap(_to_array(g, None))
            if tuple(g.shape) != tuple(out.shape):
                raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape} and output[{i}] "
                                   f"has a shape of {out.shape}.")
        roots.append((node, out._output_nr))
        grads.append(g)
    return roots, grads


def _ones_like(a):
    if a.__class__ is np.ndarray:
        return np.array(1, dtype=a.dtype) if a.ndim == 0 else np.ones(a.shape, a.dtype)
    import cupy

    return cupy.ones_like(a)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph: bool = False, grad_variables=None,
             inputs=None) -> None:
    """Accumulate gradients of ``tensors`` into the leaves' ``.grad`` (PyTorch's ``autograd.backward``).

    >>> import graphgrad as gg
    >>> x = gg.tensor([1.0, 2.0], requires_grad=True)
    >>> gg.autograd.backward(x * x, gg.tensor([1.0, 1.0]))
    >>> x.grad
    tensor([2., 4.])
    """
    outputs = _as_tuple(tensors)
    if grad_variables is not None and grad_tensors is None:
        grad_tensors = grad_variables
    grads = _as_tuple(grad_tensors)
    if retain_graph is None:
        retain_graph = create_graph
    roots, seeds = _seed_gradients(outputs, grads, create_graph)
    sinks = None
    if inputs is not None:
        inputs = _as_tuple(inputs)
        if not inputs:
            raise RuntimeError("'inputs' argument to backward() cannot be empty.")
        for t in inputs:  # PyTorch's: a non-leaf input keeps its gradient in .grad from now on
            t.retain_grad()
        sinks = [t._grad_edge() for t in inputs]
    if create_graph:
        _warn_create_graph()
    quiet_fp(run_backward, roots, seeds, retain_graph, create_graph, make_output, inputs=sinks)


_warned_create_graph = False


def _warn_create_graph() -> None:
    """PyTorch's warning, once per process, for ``backward(create_graph=True)``."""
    global _warned_create_graph
    if not _warned_create_graph:
        _warned_create_graph = True
        warnings.warn("Using backward() with create_graph=True will create a reference cycle between the parameter "
                      "and its gradient which can cause a memory leak. We recommend using autograd.grad when creating "
                      "the graph to avoid this. If you have to use this function, make sure to reset the .grad fields "
                      "of your parameters to None after use to break the cycle and avoid the leak.", UserWarning,
                      stacklevel=3)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph: bool = False,
         only_inputs: bool = True, allow_unused: bool | None = None, is_grads_batched: bool = False,
         materialize_grads: bool = False) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, returned as a tuple; ``.grad`` is untouched.

    >>> import graphgrad as gg
    >>> x = gg.tensor(3.0, requires_grad=True)
    >>> gg.autograd.grad(x ** 2, x)
    (tensor(6.),)
    """
    outputs, inputs = _as_tuple(outputs), _as_tuple(inputs)
    if allow_unused is None:
        allow_unused = materialize_grads
    elif materialize_grads and not allow_unused:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, "
                         "but got: allow_unused=False.")
    if retain_graph is None:
        retain_graph = create_graph
    for t in inputs:
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    roots, seeds = _seed_gradients(outputs, _as_tuple(grad_outputs), create_graph)
    edges = [t._grad_edge() for t in inputs]
    results = quiet_fp(run_backward, roots, seeds, retain_graph, create_graph, make_output, capture=edges)
    out = []
    for k, (t, g) in enumerate(zip(inputs, results)):
        if g is None:
            if not allow_unused:  # (PyTorch 2.13's words: the index is named)
                raise RuntimeError(f"The differentiated Tensor at index {k} appears to not have been used in the "
                                   f"graph. Set allow_unused=True if this is the desired behavior.")
            if materialize_grads:
                zeros = t._data.copy()
                zeros[...] = 0  # (``t._data * 0`` of a 0-d array is a NumPy scalar, not an array)
                g = Tensor._wrap(zeros)
        elif not create_graph:
            g = Tensor._wrap(g._data)
        out.append(g)
    return tuple(out)


def Variable(data=None, requires_grad: bool = False, volatile: bool = False) -> Tensor:
    """Legacy constructor (Variables and Tensors merged in PyTorch 0.4): a new leaf sharing ``data``'s storage,
    with ``requires_grad`` as given.

    >>> import graphgrad as gg
    >>> from graphgrad.autograd import Variable
    >>> Variable(gg.ones(2), requires_grad=True)
    tensor([1., 1.], requires_grad=True)
    """
    if volatile:
        warnings.warn("volatile was removed and now has no effect. Use `with torch.no_grad():` instead.",
                      UserWarning, stacklevel=2)
        if requires_grad:
            raise ValueError("Variable can't be volatile and require_grad at the same time!")
    if data is None:
        data = Tensor([])
    if not isinstance(data, Tensor):
        raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
    if requires_grad:
        check_can_require_grad(data._data, at_creation=True)
    out = data.detach()
    out._requires_grad = bool(requires_grad)
    return out


def reset_grad(t: Tensor, set_to_none: bool = True) -> None:
    """What ``Module.zero_grad`` and ``Optimizer.zero_grad`` do to each parameter: drop ``.grad`` (the default),
    or detach it from any graph and fill it with zeros."""
    g = t._grad
    if g is None:
        return
    if set_to_none:
        t._grad = None
    elif g.grad_fn is not None:
        g.detach_().zero_()
    else:
        g.requires_grad_(False).zero_()
