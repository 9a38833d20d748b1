"""``DataLoader(num_workers=N)``: batches built in N worker processes, yielded in order.

Each worker gets batches of indices from its own queue (round robin), fetches and collates them and sends them
back; at most ``prefetch_factor * N`` batches are in flight. Workers are seeded ``base_seed + worker_id``
(graphgrad's, NumPy's and Python's generators), ``base_seed`` drawn from the loader's generator, as PyTorch
does, so random augmentations differ between workers and repeat under ``manual_seed``. An exception in a
worker is raised in the main process with PyTorch's "Caught … in DataLoader worker process k." text.
"""
from __future__ import annotations

import multiprocessing
import queue
import random
import traceback
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

_worker_info = None


@dataclass(frozen=True)
class WorkerInfo:
    id: int
    num_workers: int
    seed: int
    dataset: Any


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker process: its id, the number of workers, its seed and its dataset copy;
    None in the main process."""
    return _worker_info


class Fetcher:
    """What a worker runs per batch of indices (picklable, so spawned workers receive it)."""

    def __init__(self, dataset, collate_fn, auto_batch: bool, fetch=None):
        self.dataset, self.collate_fn, self.auto_batch, self.fetch = dataset, collate_fn, auto_batch, fetch

    def __call__(self, indices):
        if not self.auto_batch:  # one index: the sample, converted by collate_fn alone
            return self.collate_fn(self.dataset[indices])
        if self.fetch is not None:
            return self.fetch(indices)
        return self.collate_fn([self.dataset[i] for i in indices])


def _worker_loop(fetcher: Fetcher, jobs, results, worker_id: int, num_workers: int, seed: int,
                 init_fn) -> None:
    global _worker_info
    from ...runtime.factories import manual_seed

    manual_seed(seed)
    np.random.seed(seed % 2 ** 32)
    random.seed(seed)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, fetcher.dataset)
    try:
        if init_fn is not None:
            init_fn(worker_id)
    except Exception as e:  # reported with the first batch this worker was given
        init_error = (type(e), traceback.format_exc())
    else:
        init_error = None
    while True:
        job = jobs.get()
        if job is None:
            return
        k, indices = job
        if init_error is not None:
            results.put((k, None, worker_id, init_error))
            continue
        try:
            results.put((k, fetcher(indices), worker_id, None))
        except Exception as e:
            results.put((k, None, worker_id, (type(e), traceback.format_exc())))


def iterate(fetcher: Fetcher, index_batches: Iterator, num_workers: int, base_seed: int, init_fn,
            prefetch_factor: int = 2, timeout: float = 0, context=None) -> Iterator:
    """Yield ``fetcher(batch)`` for each batch of indices, computed by ``num_workers`` processes, in order."""
    if context is None:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    elif isinstance(context, str):
        context = multiprocessing.get_context(context)
    jobs = [context.Queue() for _ in range(num_workers)]
    results = context.Queue()
    workers = [context.Process(target=_worker_loop, args=(fetcher, jobs[w], results, w, num_workers,
                                                           base_seed + w, init_fn), daemon=True)
               for w in range(num_workers)]
    for w in workers:
        w.start()
    pending = enumerate(index_batches)
    sent = received = 0
    ready: dict = {}
    exhausted = False
    try:
        while True:
            while not exhausted and sent - received < prefetch_factor * num_workers:
                job = next(pending, None)
                if job is None:
                    exhausted = True
                    break
                jobs[sent % num_workers].put(job)
                sent += 1
            if received in ready:
                yield ready.pop(received)
                received += 1
                continue
            if exhausted and received == sent:
                return
            try:
                k, batch, worker_id, error = results.get(timeout=timeout if timeout > 0 else None)
            except queue.Empty:
                raise RuntimeError(f"DataLoader timed out after {timeout} seconds") from None
            if error is not None:
                kind, text = error
                message = f"Caught {kind.__name__} in DataLoader worker process {worker_id}.\nOriginal {text}"
                try:
                    raise kind(message)
                except TypeError:  # an exception type that needs other arguments
                    raise RuntimeError(message) from None
            ready[k] = batch
    finally:
        for q in jobs:
            q.put(None)
        for w in workers:
            w.join(timeout=5)
            if w.is_alive():
                w.terminate()
