"""``DataLoader``: batches from a dataset, in order or shuffled by a seeded generator."""
from __future__ import annotations

import collections.abc
import copy
import math
from typing import Callable, Iterator

import numpy as np

from ...runtime.factories import _rng, tensor
from ...runtime.tensor import Tensor
from .dataset import Dataset, TensorDataset


_COLLATE_ERROR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def _numpy_strings(dtype: np.dtype) -> bool:
    """Arrays of strings, bytes or objects: PyTorch's default_convert leaves them be, default_collate refuses."""
    return dtype.kind in "SaUO"


def _rebuilt(container, items):
    """``items`` (a dict's or a sequence's converted fields) in the container type of ``container``, as PyTorch's
    collate/convert: a copy updated in place when mutable, the type called on them otherwise, a plain dict or
    list when the type cannot be built so."""
    if isinstance(container, collections.abc.Mapping):
        try:
            if isinstance(container, collections.abc.MutableMapping):
                clone = copy.copy(container)  # keeps the mapping's type and its other state (defaultdict's factory)
                clone.update(items)
                return clone
            return type(container)(items)
        except TypeError:
            return dict(items)
    try:
        if isinstance(container, collections.abc.MutableSequence):
            clone = copy.copy(container)
            for i, item in enumerate(items):
                clone[i] = item
            return clone
        return type(container)(items)
    except TypeError:
        return list(items)


def default_convert(data):
    """What a ``DataLoader`` with ``batch_size=None`` applies to each sample, as PyTorch's: NumPy arrays and
    scalars become tensors of their dtype, recursively inside dicts, namedtuples and sequences (tuples become
    lists); anything else is returned as it is."""
    if isinstance(data, Tensor):
        return data
    if type(data).__module__ == "numpy" and type(data).__name__ not in ("str_", "string_", "bytes_"):
        if isinstance(data, np.ndarray) and _numpy_strings(data.dtype):
            return data
        return tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _rebuilt(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # a namedtuple
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # a list, as PyTorch's (for backward compatibility)
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuilt(data, [default_convert(d) for d in data])
    return data


def default_collate(batch: list):
    """Stack a list of samples into a batch, as PyTorch's: tensors and arrays are stacked along a new first
    dimension, NumPy scalars become a tensor of their dtype, Python floats a float64 and ints an int64 one, and
    dicts, namedtuples and sequences are collated field by field into the same container type (tuples into
    lists)."""
    first = batch[0]
    if isinstance(first, Tensor):
        from ...ir.functional import stack

        return stack(batch, 0)
    if isinstance(first, np.ndarray):
        if _numpy_strings(first.dtype):
            raise TypeError(_COLLATE_ERROR.format(first.dtype))
        return tensor(np.stack(batch))
    if isinstance(first, (np.bool_, np.number)):  # before float: np.float64 is one; keeps np.float32's dtype
        return tensor(np.asarray(batch))
    if isinstance(first, float):
        return tensor(batch, dtype="float64")
    if isinstance(first, int):  # bools too: a bool tensor
        return tensor(batch)
    if isinstance(first, (str, bytes)):
        return batch
    if isinstance(first, collections.abc.Mapping):
        return _rebuilt(first, {key: default_collate([sample[key] for sample in batch]) for key in first})
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # a namedtuple: the same namedtuple type
        return type(first)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(first, collections.abc.Sequence):
        if any(len(sample) != len(first) for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        fields = [default_collate(list(field)) for field in zip(*batch)]
        return fields if isinstance(first, tuple) else _rebuilt(first, fields)
    raise TypeError(_COLLATE_ERROR.format(type(first)))


class SequentialSampler:
    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler:
    """A fresh permutation each epoch, drawn from ``generator`` (graphgrad's default generator if None)."""

    def __init__(self, data_source, generator=None):
        self.data_source = data_source
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        return iter(_rng(self.generator).permutation(len(self.data_source)).tolist())

    def __len__(self) -> int:
        return len(self.data_source)


class BatchSampler:
    def __init__(self, sampler, batch_size: int, drop_last: bool):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


class DataLoader:
    """Iterate over ``dataset`` in batches.

    With ``num_workers > 0`` batches are built in that many worker processes (see ``workers.py``), seeded
    from ``generator`` as PyTorch seeds them, and yielded in order.

    >>> import graphgrad as gg
    >>> from graphgrad.utils.data import DataLoader, TensorDataset
    >>> data = TensorDataset(gg.arange(5.0), gg.arange(5))
    >>> [y.tolist() for x, y in DataLoader(data, batch_size=2)]
    [[0, 1], [2, 3], [4]]
    >>> g = gg.Generator().manual_seed(0)
    >>> len(DataLoader(data, batch_size=2, shuffle=True, generator=g, drop_last=True))
    2
    """

    def __init__(self, dataset: Dataset, batch_size: int | None = 1, shuffle: bool | None = None, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn: Callable | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, **kwargs):
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                             "drop_last")
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing.let num_workers > 0 "
                             "to enable multiprocessing, otherwise set prefetch_factor to None.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor = 2 if prefetch_factor is None and num_workers > 0 else prefetch_factor
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.num_workers = num_workers
        self.generator = generator
        self.sampler = sampler if sampler is not None else (
            RandomSampler(dataset, generator) if shuffle else SequentialSampler(dataset))
        if batch_sampler is None and batch_size is not None:
            batch_sampler = BatchSampler(self.sampler, batch_size, drop_last)
        self.batch_sampler = batch_sampler
        # without batching (batch_size=None) PyTorch passes each sample to collate_fn, default_convert by default
        self.collate_fn = collate_fn or (default_collate if batch_sampler is not None else default_convert)

    def __iter__(self) -> Iterator:
        # PyTorch draws the workers' base seed from the generator when an iteration starts, workers or not, before
        # the sampler's first draw: the shuffled order is then the same whatever num_workers is
        return self._batches(int(_rng(self.generator).integers(0, 2 ** 62)))

    def _batches(self, base_seed: int) -> Iterator:
        if self.num_workers > 0:
            yield from self._worker_iter(base_seed)
            return
        if self.batch_sampler is None:
            for index in self.sampler:
                yield self.collate_fn(self.dataset[index])
            return
        for indices in self.batch_sampler:
            yield self._fetch(indices)

    def _worker_iter(self, base_seed: int) -> Iterator:
        from . import workers

        auto_batch = self.batch_sampler is not None
        fetch = self._fetch if auto_batch and self._gathers() else None
        fetcher = workers.Fetcher(self.dataset, self.collate_fn, auto_batch, fetch)
        batches = iter(self.batch_sampler) if auto_batch else iter(self.sampler)
        yield from workers.iterate(fetcher, batches, self.num_workers, base_seed, self.worker_init_fn,
                                   self.prefetch_factor, self.timeout, self.multiprocessing_context)

    def _gathers(self) -> bool:
        """Whether a batch is one gather per tensor: a TensorDataset whose samples are TensorDataset's own (a
        subclass overriding ``__getitem__`` transforms its samples: they are fetched one by one, as PyTorch's)."""
        return isinstance(self.dataset, TensorDataset) and self.collate_fn is default_collate and \
            type(self.dataset).__getitem__ is TensorDataset.__getitem__

    def _fetch(self, indices: list[int]):
        if self._gathers():
            # One gather per tensor instead of len(indices) lookups and a stack: the same batch, much faster.
            rows = tensor(indices)
            return [t[rows] for t in self.dataset.tensors]
        return self.collate_fn([self.dataset[i] for i in indices])

    def __len__(self) -> int:
        if self.batch_sampler is None:
            return len(self.sampler)
        return len(self.batch_sampler)
