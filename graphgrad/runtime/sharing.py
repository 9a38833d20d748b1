"""Tensors in shared memory, for Hogwild-style training across processes (``tensor.share_memory_()``,
``module.share_memory()``): the data moves into a named POSIX shared-memory block; a forked child sees it
as is, and a tensor sent through a ``graphgrad.multiprocessing`` queue or to a spawned process re-attaches
to the same block instead of copying it. Writes in any process are seen by all."""
from __future__ import annotations

import weakref
from multiprocessing import shared_memory
from multiprocessing.reduction import ForkingPickler

import numpy as np

from .tensor import Tensor


def share(t: Tensor) -> Tensor:
    """Move ``t``'s data into shared memory, in place (a no-op if it is already there or on a GPU)."""
    if "_shm" in t.__dict__ or t.is_cuda:
        return t
    data = t._data
    block = shared_memory.SharedMemory(create=True, size=max(data.nbytes, 1))
    shared = np.ndarray(data.shape, dtype=data.dtype, buffer=block.buf)
    shared[...] = data
    t._data = shared
    t.__dict__["_shm"] = block
    weakref.finalize(t, _release, block, True)
    return t


def is_shared(t: Tensor) -> bool:
    return "_shm" in t.__dict__


def _release(block: shared_memory.SharedMemory, owner: bool) -> None:
    try:
        block.close()
        if owner:
            block.unlink()
    except (FileNotFoundError, BufferError):
        pass


def _attach(name: str, shape: tuple, dtype: str, requires_grad: bool, parameter: bool) -> Tensor:
    # The creating process owns (and unlinks) the block. Processes started from it share its resource tracker,
    # so attaching here registers nothing new and unlinks nothing at exit.
    block = shared_memory.SharedMemory(name=name)
    data = np.ndarray(shape, dtype=np.dtype(dtype), buffer=block.buf)
    if parameter:
        from ..nn.parameter import Parameter

        t = Parameter(Tensor._wrap(data), requires_grad)
    else:
        t = Tensor._wrap(data, requires_grad)
    t.__dict__["_shm"] = block
    weakref.finalize(t, _release, block, False)
    return t


def _reduce(t: Tensor):
    from ..nn.parameter import Parameter

    if not is_shared(t):
        return t.__reduce_ex__(2)
    block = t.__dict__["_shm"]
    return (_attach, (block.name, tuple(t._data.shape), t._data.dtype.str, t.requires_grad,
                      isinstance(t, Parameter)))


def register() -> None:
    """Send shared tensors between processes by reference (multiprocessing's pickler only)."""
    from ..nn.parameter import Parameter

    ForkingPickler.register(Tensor, _reduce)
    ForkingPickler.register(Parameter, _reduce)
