"""``graphgrad.nn.utils`` as PyTorch has it: gradient clipping, parameters <-> one vector, and ``rnn``
(padding and packing variable-length sequences).

>>> import graphgrad as gg
>>> from graphgrad.nn.utils import clip_grad_norm_
>>> w = gg.nn.Parameter(gg.zeros(2))
>>> w.grad = gg.tensor([3.0, 4.0])
>>> clip_grad_norm_([w], max_norm=1.0)
tensor(5.)
>>> w.grad
tensor([0.6000, 0.8000])
"""
from . import rnn
from .clip_grad import clip_grad_norm, clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm
from .convert_parameters import parameters_to_vector, vector_to_parameters

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm",
           "parameters_to_vector", "vector_to_parameters", "rnn"]
