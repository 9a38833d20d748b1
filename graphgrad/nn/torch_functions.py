"""PyTorch's ``torch.X`` names for functions of ``torch.nn.functional`` (``torch.conv2d``, ``torch.layer_norm``,
``torch.embedding``, ...), with the signatures ``torch.X`` has, which are ATen's and not always ``F.X``'s:
``torch.dropout(input, p, train)``, ``torch.embedding(weight, input)``, ``torch.batch_norm(input, weight, bias,
running_mean, running_var, training, momentum, eps, cudnn_enabled)``, ``torch.max_pool2d(..., stride=())``
without ``return_indices``. Each calls the ``graphgrad.nn.functional`` function, so it runs eagerly, traces and
differentiates as that does. ``graphgrad`` exports them.

>>> import graphgrad as torch
>>> torch.conv1d(torch.ones(1, 1, 4), torch.ones(1, 1, 2))
tensor([[[2., 2., 2.]]])
"""
from __future__ import annotations

from ..ir.api import TensorBase
from ..ops.define import tensors_only
from . import functional as F

# the same signature as torch.X: the function itself
cosine_similarity = F.cosine_similarity
pairwise_distance = F.pairwise_distance
pdist = F.pdist
conv1d, conv2d, conv3d = F.conv1d, F.conv2d, F.conv3d
conv_transpose1d, conv_transpose2d, conv_transpose3d = F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d
avg_pool1d = F.avg_pool1d
prelu = F.prelu
pixel_shuffle, pixel_unshuffle, channel_shuffle = F.pixel_shuffle, F.pixel_unshuffle, F.channel_shuffle
rms_norm = F.rms_norm


def threshold(input: TensorBase, threshold: float, value: float) -> TensorBase:
    """``input`` where it is above ``threshold``, else ``value`` (``F.threshold``).

    >>> import graphgrad as torch
    >>> torch.threshold(torch.tensor([0.5, 2.0]), 1.0, -1.0)
    tensor([-1.,  2.])
    """
    return F.threshold(input, threshold, value)


def dropout(input: TensorBase, p: float, train: bool) -> TensorBase:
    """``F.dropout(input, p, training=train)``: each element zeroed with probability ``p`` and the rest scaled by
    ``1 / (1 - p)`` when ``train``; ``input`` itself otherwise.

    >>> import graphgrad as torch
    >>> torch.dropout(torch.ones(3), 0.5, False)
    tensor([1., 1., 1.])
    """
    tensors_only("dropout", input=input)
    return F.dropout(input, p, train)


def layer_norm(input: TensorBase, normalized_shape, weight: TensorBase | None = None,
               bias: TensorBase | None = None, eps: float = 1e-5, cudnn_enable: bool = True) -> TensorBase:
    """``F.layer_norm`` (``cudnn_enable`` changes nothing).

    >>> import graphgrad as torch
    >>> torch.layer_norm(torch.tensor([[1.0, 3.0]]), [2])
    tensor([[-1.0000,  1.0000]])
    """
    tensors_only("layer_norm", input=input)
    return F.layer_norm(input, normalized_shape, weight, bias, eps)


def batch_norm(input: TensorBase, weight: TensorBase | None, bias: TensorBase | None,
               running_mean: TensorBase | None, running_var: TensorBase | None, training: bool, momentum: float,
               eps: float, cudnn_enabled: bool) -> TensorBase:
    """``F.batch_norm`` with ATen's argument order: the affine parameters before the running statistics.

    >>> import graphgrad as torch
    >>> torch.batch_norm(torch.tensor([[1.0], [3.0]]), None, None, None, None, True, 0.1, 0.0, True)
    tensor([[-1.],
            [ 1.]])
    """
    tensors_only("batch_norm", input=input)
    return F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(input: TensorBase, weight: TensorBase | None, bias: TensorBase | None,
                  running_mean: TensorBase | None, running_var: TensorBase | None, use_input_stats: bool,
                  momentum: float, eps: float, cudnn_enabled: bool) -> TensorBase:
    """``F.instance_norm`` with ATen's argument order: the affine parameters before the running statistics.

    >>> import graphgrad as torch
    >>> torch.instance_norm(torch.tensor([[[1.0, 3.0]]]), None, None, None, None, True, 0.1, 0.0, True)
    tensor([[[-1.,  1.]]])
    """
    tensors_only("instance_norm", input=input)
    return F.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


def group_norm(input: TensorBase, num_groups: int, weight: TensorBase | None = None, bias: TensorBase | None = None,
               eps: float = 1e-5, cudnn_enabled: bool = True) -> TensorBase:
    """``F.group_norm`` (``cudnn_enabled`` changes nothing).

    >>> import graphgrad as torch
    >>> torch.group_norm(torch.tensor([[[1.0], [3.0]]]), 1, eps=0.0)
    tensor([[[-1.],
             [ 1.]]])
    """
    tensors_only("group_norm", input=input)
    return F.group_norm(input, num_groups, weight, bias, eps)


def _pool(fn, name: str):
    def pool(input: TensorBase, kernel_size, stride=(), padding=0, dilation=1, ceil_mode: bool = False) -> TensorBase:
        tensors_only(name, input=input)
        # ATen's default stride is the empty list: the kernel size
        return fn(input, kernel_size, None if stride is None or stride == () or stride == [] else stride, padding,
                  dilation, ceil_mode)
    pool.__name__ = pool.__qualname__ = name
    pool.__doc__ = (f"``F.{name}`` without ``return_indices`` (``F.{name}_with_indices`` gives them); ``stride`` "
                    f"empty (the default) is the kernel size.")
    return pool


max_pool1d = _pool(F.max_pool1d, "max_pool1d")
max_pool2d = _pool(F.max_pool2d, "max_pool2d")
max_pool3d = _pool(F.max_pool3d, "max_pool3d")


def embedding(weight: TensorBase, input: TensorBase, padding_idx: int = -1, scale_grad_by_freq: bool = False,
              sparse: bool = False) -> TensorBase:
    """``F.embedding(input, weight, ...)``, the weight first (ATen's order); ``padding_idx`` negative (the default
    -1) means none, as ATen's.

    >>> import graphgrad as torch
    >>> torch.embedding(torch.tensor([[0.0, 1.0], [2.0, 3.0]]), torch.tensor([1, 0]))
    tensor([[2., 3.],
            [0., 1.]])
    """
    tensors_only("embedding", weight=weight, indices=input)
    return F.embedding(input, weight, padding_idx if padding_idx >= 0 else None,
                       scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


__all__ = ["cosine_similarity", "pairwise_distance", "pdist", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
           "conv_transpose2d", "conv_transpose3d", "avg_pool1d", "prelu", "pixel_shuffle", "pixel_unshuffle",
           "channel_shuffle", "rms_norm", "threshold", "dropout", "layer_norm", "batch_norm", "instance_norm",
           "group_norm", "max_pool1d", "max_pool2d", "max_pool3d", "embedding"]
