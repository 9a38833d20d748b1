"""Datasets and loaders, as in ``torch.utils.data``.

>>> import graphgrad as gg
>>> from graphgrad.utils.data import DataLoader, TensorDataset
>>> loader = DataLoader(TensorDataset(gg.ones(10, 3), gg.zeros(10)), batch_size=4, drop_last=True)
>>> [tuple(x.shape) for x, y in loader]
[(4, 3), (4, 3)]
"""
from .dataloader import BatchSampler, DataLoader, RandomSampler, SequentialSampler, default_collate, \
    default_convert
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .workers import WorkerInfo, get_worker_info

__all__ = ["BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "RandomSampler", "SequentialSampler",
           "Subset", "TensorDataset", "WorkerInfo", "default_collate", "default_convert",
           "get_worker_info", "random_split"]
