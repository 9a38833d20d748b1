"""``graphgrad.multiprocessing``, as ``torch.multiprocessing``: Python's ``multiprocessing``, with tensors in
shared memory (``tensor.share_memory_()``, ``model.share_memory()``) passed between processes by reference,
so several processes can train one model Hogwild-style.

>>> import graphgrad as gg
>>> import graphgrad.multiprocessing as mp
>>> t = gg.zeros(3).share_memory_()
>>> t.is_shared()
True
"""
from multiprocessing import *  # noqa: F401,F403  (Process, Queue, Pool, get_context, set_start_method, ...)
from multiprocessing import get_all_start_methods, get_context, get_start_method, set_start_method  # noqa: F401

from .runtime.sharing import register as _register

_register()


def spawn(fn, args: tuple = (), nprocs: int = 1, join: bool = True, daemon: bool = False,
          start_method: str = "spawn"):
    """Run ``fn(i, *args)`` in ``nprocs`` processes (``i`` = 0 … nprocs-1); wait for them if ``join``."""
    context = get_context(start_method)
    processes = [context.Process(target=fn, args=(i, *args), daemon=daemon) for i in range(nprocs)]
    for p in processes:
        p.start()
    if not join:
        return processes
    for p in processes:
        p.join()
    failed = [(i, p.exitcode) for i, p in enumerate(processes) if p.exitcode != 0]
    if failed:
        i, code = failed[0]
        raise RuntimeError(f"process {i} terminated with exit code {code}")
    return None
