"""Layers and losses as functions, written with the Tensor API only: they run eagerly, record the same
gradient rules, and trace under ``@graphgrad.compile``.

>>> import graphgrad as gg
>>> import graphgrad.nn.functional as F
>>> logits = gg.tensor([[2.0, 0.0, 0.0]])
>>> round(F.cross_entropy(logits, gg.tensor([0])).item(), 4)
0.2395
"""
from __future__ import annotations

import warnings

import numpy as np

from ..ir.api import TensorBase, bind
from ..ir.public import NN as _NN
from ..ops.elementwise import where
from ..ops.indexing import check_range
from ..ops.nn import binary_cross_entropy as _bce, binary_cross_entropy_with_logits as _bce_logits, window_count
from ..ops.nn import logsigmoid, softmax_cross_entropy
from ..ops.shape import pad
from ..runtime import dtypes
from ..runtime.factories import _rng, arange
from ..runtime.function import Node
from ..runtime.tensor import Tensor

_REDUCTIONS = ("none", "mean", "sum")


def _update_running(buffer: Tensor, statistic: TensorBase, momentum: float, scale: float = 1.0) -> None:
    """``buffer = (1 - momentum) * buffer + momentum * scale * statistic``, in place; under ``@gg.compile`` the
    compiled function writes it after each call (``momentum`` may then be a traced 0-d tensor: BatchNorm's
    cumulative average)."""
    def update(old):
        return old * (1 - momentum) + statistic.detach() * (momentum * scale)

    if isinstance(statistic, Tensor):
        from ..runtime.grad_mode import no_grad

        with no_grad():
            buffer.copy_(update(buffer))
    else:
        statistic.tracer.assign(buffer, update)


def _scalar_name(t: TensorBase) -> str:
    return dtypes.BY_NAME[t._type.dtype].scalar_name


def _as_pytorch_names(result: TensorBase, name: str, *inputs) -> TensorBase:
    """Name an eager result's ``grad_fn`` as PyTorch's fused kernel is named (``MseLossBackward0``) and show the
    composite's ``inputs`` (tensors, None, or display nodes) as its ``next_functions``, so that printed losses
    and walks of the graph read as in PyTorch; the recorded ops, and so the gradients, stay the composite ones."""
    node = getattr(result, "grad_fn", None)
    if node is not None and isinstance(result, Tensor):
        node._name = name
        if inputs:
            node._shown = tuple(_edge(x) for x in inputs)
    return result


def _edge(x) -> tuple:
    if isinstance(x, Node):
        return (x, 0)
    if isinstance(x, Tensor) and x._requires_grad:
        return (x._grad_node(), 0)
    return (None, 0)


def _display_node(name: str, *inputs) -> Node:
    """A node that only shows in ``next_functions`` (a step PyTorch's kernel has and the composite does not)."""
    return Node("display", {}, tuple(_edge(x) for x in inputs), (), (), (), None, name)


def linear(input: TensorBase, weight: TensorBase, bias: TensorBase | None = None) -> TensorBase:
    """``input @ weight.T + bias``, with ``weight`` of shape (out_features, in_features)."""
    if input.shape[-1:] != weight.shape[-1:]:
        rows = int(np.prod(input.shape[:-1])) if input.ndim > 1 else 1
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{input.shape[-1] if input.ndim else 1}"
                           f" and {weight.shape[-1]}x{weight.shape[0]})")
    weight_t = weight.t()
    if isinstance(weight_t, Tensor) and weight_t.grad_fn is not None:
        weight_t.grad_fn._name = "TBackward0"
    out = input @ weight_t
    if bias is None:
        return out
    out = out + bias
    if input.ndim == 2:  # PyTorch's addmm(bias, input, weight.t())
        return _as_pytorch_names(out, "AddmmBackward0", bias, input, weight_t)
    # other ranks: PyTorch flattens the input to 2-D, runs addmm and views the result back
    if isinstance(out, Tensor) and out.grad_fn is not None:
        flat = _display_node("ViewBackward0", input) if _edge(input)[0] is not None else None
        _as_pytorch_names(out, "ViewBackward0", _display_node("AddmmBackward0", bias, flat, weight_t))
    return out


def relu(input: TensorBase, inplace: bool = False) -> TensorBase:
    return input.relu_() if inplace else input.relu()


def tanh(input: TensorBase) -> TensorBase:
    return input.tanh()


def sigmoid(input: TensorBase) -> TensorBase:
    return input.sigmoid()


def softmax(input: TensorBase, dim: int) -> TensorBase:
    return input.softmax(dim)


def log_softmax(input: TensorBase, dim: int) -> TensorBase:
    return input.log_softmax(dim)


def dropout(input: TensorBase, p: float = 0.5, training: bool = True, generator=None) -> TensorBase:
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)``; identity when not training."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    shape, dtype = tuple(input.shape), np.dtype(input._type.dtype)

    def draw():
        return (_rng(generator).random(shape) >= p).astype(dtype) / dtype.type(1.0 - p)

    if isinstance(input, Tensor):  # drawn on the host (one generator for every device), used where input is
        return input * Tensor._wrap(draw()).to(input.device)
    # traced: the mask is an input of the compiled function, drawn afresh on every call
    return input * input.tracer.random_input(input._type, draw)


def embedding(input: TensorBase, weight: TensorBase, padding_idx: int | None = None) -> TensorBase:
    """Rows of ``weight`` picked by the integer tensor ``input`` (any shape); the ``padding_idx`` row gets no
    gradient."""
    if input._type.dtype != "int64":
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got torch.{_scalar_name(input)}"
                           "Tensor instead (while checking arguments for embedding)")
    padding_idx = _padding_index(padding_idx, weight.shape[0])
    input = check_range(input, "self", weight.shape[0])  # (indexing would take a negative index from the end)
    rows = weight[input]
    if padding_idx is not None:  # the padding row reads as it is but passes no gradient back
        rows = where((input != padding_idx).unsqueeze(-1), rows, rows.detach())
    return _as_pytorch_names(rows, "EmbeddingBackward0", weight)


def _padding_index(padding_idx: int | None, rows: int) -> int | None:
    """PyTorch's padding_idx: a row of the table, a negative one counted from the end (5 of 3 rows was taken
    as row 2, silently)."""
    if padding_idx is None:
        return None
    if not -rows <= padding_idx < rows:
        raise AssertionError("Padding_idx must be within num_embeddings")
    return padding_idx % rows


def layer_norm(input: TensorBase, normalized_shape, weight: TensorBase | None = None,
               bias: TensorBase | None = None, eps: float = 1e-5) -> TensorBase:
    """Normalize over the last ``len(normalized_shape)`` dimensions (biased variance), then scale and shift."""
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not normalized_shape:  # not "every dim", which an empty dim list means to mean()
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one "
                           "element, but got normalized_shape = []")
    if tuple(input.shape[input.ndim - len(normalized_shape):]) != normalized_shape:
        raise RuntimeError(f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
                           f"[*, {', '.join(map(str, normalized_shape))}], but got input of size"
                           f"{list(input.shape)}")
    dims = tuple(range(input.ndim - len(normalized_shape), input.ndim))
    centered = input - input.mean(dims, keepdim=True)
    out = centered / ((centered * centered).mean(dims, keepdim=True) + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return _as_pytorch_names(out, "NativeLayerNormBackward0", input, weight, bias)


def batch_norm(input: TensorBase, running_mean: TensorBase | None, running_var: TensorBase | None,
               weight: TensorBase | None = None, bias: TensorBase | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> TensorBase:
    """Normalize each channel (dimension 1) by the batch's statistics when ``training`` (updating the running
    ones in place: biased variance to normalize, unbiased variance into ``running_var``), else by the running
    statistics."""
    dims = (0,) + tuple(range(2, input.ndim))
    shape = (1, -1) + (1,) * (input.ndim - 2)
    if training:
        count = input.numel() // input.shape[1]
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"torch.Size({list(input.shape)})")
        mean = input.mean(dims)
        centered = input - mean.reshape(shape)
        var = (centered * centered).mean(dims)
        if running_mean is not None:
            _update_running(running_mean, mean, momentum)
            _update_running(running_var, var, momentum, count / (count - 1))
    else:
        mean, var = running_mean, running_var
        centered = input - mean.reshape(shape)
    out = centered / (var.reshape(shape) + eps).sqrt()
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return _as_pytorch_names(out, "NativeBatchNormBackward0", input, weight, bias)


def _arange_on(n: int, like: TensorBase) -> TensorBase:
    """``arange(n)`` on ``like``'s device: eager on the GPU a CPU arange would be a second device in the op
    (traced, the node is generated for the module's backend anyway)."""
    return arange(n, device=like.device if isinstance(like, Tensor) else None)


def _pair(v) -> tuple:
    return (v, v) if isinstance(v, int) else tuple(v)


def _patches(input: TensorBase, kernel, stride, padding, dilation) -> TensorBase:
    return bind("unfold2d", input, kernel=_pair(kernel), stride=_pair(stride), padding=_pair(padding),
                dilation=_pair(dilation))


def conv2d(input: TensorBase, weight: TensorBase, bias: TensorBase | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> TensorBase:
    """2-D cross-correlation of (N, C, H, W) ``input`` with (OC, C, KH, KW) ``weight``, as a matrix product of
    the input's patches (``unfold2d``) and the flattened filters."""
    if groups != 1:
        raise NotImplementedError("conv2d: groups > 1 is not supported yet")
    if input.ndim not in (3, 4):
        raise RuntimeError(f"Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: "
                           f"{list(input.shape)}")
    if input.ndim == 3:  # unbatched (C, H, W), as PyTorch: a batch of one, squeezed out again
        return conv2d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    if isinstance(padding, str):
        input, padding = _string_padding(input, weight, padding, stride, dilation)
    if weight.ndim != 4 or input.shape[1] != weight.shape[1]:
        raise RuntimeError(f"Given groups=1, weight of size {list(weight.shape)}, expected input"
                           f"{list(input.shape)} to have {weight.shape[1]} channels, but got "
                           f"{input.shape[1] if input.ndim > 1 else 0} channels instead")
    out_channels, _, kh, kw = weight.shape
    filters = weight.reshape(out_channels, -1)
    if _pair(stride) == (1, 1):
        out = _conv2d_rows(input, filters, (kh, kw), _pair(padding), _pair(dilation))
    else:
        patches = _patches(input, (kh, kw), stride, padding, dilation)  # (N, C, OH, OW, KH, KW), a view
        n, c, oh, ow = patches.shape[:4]
        # each image's patches as the columns of a (C*KH*KW, OH*OW) matrix (Caffe's im2col): the copy moves whole
        # output rows, and filters @ columns is the output already in (N, OC, OH, OW) order, no transpose after
        columns = patches.permute(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh * ow)
        out = (filters @ columns).reshape(n, out_channels, oh, ow)
    if bias is not None:
        out = out + bias.reshape(1, out_channels, 1, 1)
    return _as_pytorch_names(out, "ConvolutionBackward0", input, weight, bias)


def _string_padding(input: TensorBase, weight: TensorBase, padding: str, stride, dilation) -> tuple:
    """``padding="valid"`` (none) or ``"same"`` (the output as large as the input; stride 1 only) as ``(input,
    padding)``: "same" pads ``dilation * (kernel - 1)`` in all, half of it before; an odd total puts the extra
    row/column after (bottom, right), on the input itself, as PyTorch does."""
    if padding == "valid":
        return input, (0, 0)
    if padding != "same":
        raise RuntimeError(f"Invalid padding string: {padding!r}")
    if _pair(stride) != (1, 1):
        raise RuntimeError("padding='same' is not supported for strided convolutions")
    totals = [d * (k - 1) for d, k in zip(_pair(dilation), tuple(weight.shape[2:]))]
    if any(t % 2 for t in totals):
        input = pad(input, (0, totals[1] % 2, 0, totals[0] % 2))
    return input, tuple(t // 2 for t in totals)


def _conv2d_rows(input: TensorBase, filters: TensorBase, kernel: tuple, padding: tuple,
                 dilation: tuple) -> TensorBase:
    """A stride-1 convolution over whole image rows (``unfold2d_rows``): the filters times, per kernel offset,
    runs of OH * W consecutive pixels of the padded image give the output at every (oh, ow < W); the columns past
    OW, which straddle two rows, are dropped. The runs' copy and the input gradient's slice-adds move OH * W
    contiguous pixels at a time instead of OW; the products are W / OW times larger."""
    (kh, kw), (ph, pw), (dh, dw) = kernel, padding, dilation
    n, c, h, w = input.shape
    width = w + 2 * pw
    oh, ow = h + 2 * ph - dh * (kh - 1), width - dw * (kw - 1)
    if oh <= 0 or ow <= 0:
        raise RuntimeError(f"Calculated padded input size per channel: ({h + 2 * ph} x {width}). Kernel size: "
                           f"({dh * (kh - 1) + 1} x {dw * (kw - 1) + 1}). Kernel size can't be greater than actual "
                           f"input size")
    runs = bind("unfold2d_rows", input, kernel=kernel, padding=padding, dilation=dilation, size=(h, w))
    out = filters @ runs.reshape(n, c * kh * kw, oh * width)  # (N, OC, OH * W)
    return out.reshape(n, -1, oh, width)[:, :, :, :ow]


def max_pool2d(input: TensorBase, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False) -> TensorBase:
    """The maximum of each window of an (N, C, H, W) or (C, H, W) ``input`` (the ``max_pool2d`` primitive).
    ``padding`` pads with -inf, so padding is never the maximum; ``ceil_mode`` adds the windows that start inside
    the input (or its left padding) but run past its end. As in PyTorch, the gradient goes to the first maximal
    element of a window in row-major order, not shared among ties (ties are common: windows of zeros after a
    ReLU); a window holding NaN gets NaN, but its gradient is zero (PyTorch's goes to the last NaN).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.max_pool2d(gg.tensor([[[[1.0, 5.0, 0.0], [3.0, 2.0, 4.0]]]]), 2, ceil_mode=True)
    tensor([[[[5., 4.]]]])
    """
    if return_indices:
        raise NotImplementedError("max_pool2d: return_indices=True is not supported")
    kernel, dilation, padding = _pair(kernel_size), _pair(dilation), _pair(padding)
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _pair(stride)
    if 0 in stride:
        raise RuntimeError("stride should not be zero")
    if min(kernel) <= 0:
        raise RuntimeError(f"kernel size should be greater than zero, but got kH: {kernel[0]} kW: {kernel[1]}")
    if min(dilation) <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got dilationH: {dilation[0]} "
                           f"dilationW: {dilation[1]}")
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    for p, k, d, span in zip(padding, kernel, dilation, spans):
        if p > span // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={p}, "
                               f"kernel_size={k} and dilation={d}")
    if input.ndim not in (3, 4):
        raise RuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
    if 0 in input.shape[-3:]:
        raise RuntimeError(f"Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but "
                           f"got:{list(input.shape)}")
    x = input if input.ndim == 4 else input.unsqueeze(0)
    _, c, h, w = x.shape
    counts = [_pool_count(*args, ceil_mode) for args in zip((h, w), kernel, stride, padding, dilation)]
    # the primitive's type rule says so too, but eager ops run without it: NumPy would return an empty array
    if min(counts) <= 0:
        raise RuntimeError(f"Given input size: ({c}x{h}x{w}). Calculated output size: "
                           f"({c}x{counts[0]}x{counts[1]}). Output size is too small")
    # ceil_mode's extra windows see -inf past the input's end: pad for them, then pool as usual
    extra = [max(0, (n - 1) * s + span - (size + 2 * p)) for n, s, span, size, p in zip(counts, stride, spans, (h, w),
                                                                                      padding)]
    if any(extra):
        x = pad(x, (0, extra[1], 0, extra[0]), value=float("-inf"))
    out = bind("max_pool2d", x, kernel=kernel, stride=stride, padding=padding, dilation=dilation)
    out = out if input.ndim == 4 else out.squeeze(0)
    return _as_pytorch_names(out, "MaxPool2DWithIndicesBackward0", input)


def _pool_count(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """PyTorch's number of pooling windows along one axis: with ``ceil_mode``, also a last window that runs past
    the end if it starts inside the input or its left padding."""
    if not ceil_mode:
        return window_count(size, kernel, stride, padding, dilation)
    count = -(-(size + 2 * padding - dilation * (kernel - 1) - 1) // stride) + 1
    return count - 1 if (count - 1) * stride >= size + padding else count


def unfold(input: TensorBase, kernel_size, dilation=1, padding=0, stride=1) -> TensorBase:
    """The sliding blocks of an (N, C, H, W) or (C, H, W) ``input`` as columns (PyTorch's ``F.unfold``, im2col):
    (N, C * KH * KW, L), L the number of blocks in row-major order, each column channel-major.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.unfold(gg.arange(9.0).reshape(1, 1, 3, 3), 2)
    tensor([[[0., 1., 3., 4.],
             [1., 2., 4., 5.],
             [3., 4., 6., 7.],
             [4., 5., 7., 8.]]])
    """
    if input.ndim not in (3, 4):
        raise RuntimeError(f"Input Error: Only 3D or 4D input Tensors are supported (got {input.ndim}D)")
    x = input if input.ndim == 4 else input.unsqueeze(0)
    patches = _patches(x, kernel_size, stride, padding, dilation)  # (N, C, OH, OW, KH, KW)
    n, c, oh, ow, kh, kw = patches.shape
    columns = patches.permute(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh * ow)
    return _as_pytorch_names(columns if input.ndim == 4 else columns.squeeze(0), "Im2ColBackward0", input)


def fold(input: TensorBase, output_size, kernel_size, dilation=1, padding=0, stride=1) -> TensorBase:
    """Sliding blocks given as columns, (N, C * KH * KW, L) or (C * KH * KW, L), summed back into an
    (N, C, *output_size) image (PyTorch's ``F.fold``, col2im: the adjoint of ``unfold``).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.fold(gg.ones(1, 4, 4), (3, 3), 2)
    tensor([[[[1., 2., 1.],
              [2., 4., 2.],
              [1., 2., 1.]]]])
    """
    size, kernel, dilation, padding, stride = (_pair(v) for v in (output_size, kernel_size, dilation, padding, stride))
    if input.ndim not in (2, 3):
        raise RuntimeError(f"Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported "
                           f"(got {input.ndim}D)")
    x = input if input.ndim == 3 else input.unsqueeze(0)
    n, rows, blocks = x.shape
    if rows % (kernel[0] * kernel[1]):
        raise RuntimeError(f"Expected size of input's dimension 1 to be divisible by the product of kernel_size, but "
                           f"got input.size(1)={rows} and kernel_size={kernel}")
    counts = [window_count(*args) for args in zip(size, kernel, stride, padding, dilation)]
    if counts[0] * counts[1] != blocks or min(counts) < 1:
        raise RuntimeError(f"Given output_size={size}, kernel_size={kernel}, dilation={dilation}, "
                           f"padding={padding}, stride={stride}, expected size of input's dimension 2 to match the "
                           f"calculated number of sliding blocks {counts[0]} * {counts[1]} = {counts[0] * counts[1]}, "
                           f"but got input.size(2)={blocks}.")
    c = rows // (kernel[0] * kernel[1])
    patches = x.reshape(n, c, kernel[0], kernel[1], counts[0], counts[1]).permute(0, 1, 4, 5, 2, 3)
    image = bind("fold2d", patches, kernel=kernel, stride=stride, padding=padding, dilation=dilation, size=size)
    return _as_pytorch_names(image if input.ndim == 3 else image.squeeze(0), "Col2ImBackward0", input)


def avg_pool2d(input: TensorBase, kernel_size, stride=None, padding=0) -> TensorBase:
    """The mean of each window of an (N, C, H, W) or (C, H, W) ``input``; zero padding counts towards the mean,
    as PyTorch's default."""
    if input.ndim not in (3, 4):
        raise RuntimeError(f"Expected 3D or 4D (batch mode) tensor for input, but got: {list(input.shape)}")
    x = input if input.ndim == 4 else input.unsqueeze(0)  # unbatched, as PyTorch: a batch of one
    windows = _patches(x, kernel_size, stride if stride is not None else kernel_size, padding, 1)
    out = windows.mean((-2, -1))
    return _as_pytorch_names(out if input.ndim == 4 else out.squeeze(0), "AvgPool2DBackward0", input)


def adaptive_avg_pool2d(input: TensorBase, output_size) -> TensorBase:
    """Average pooling of an (N, C, H, W) or (C, H, W) ``input`` to ``output_size`` (None keeps that size);
    each output size must divide the input size."""
    if input.ndim not in (3, 4):
        raise RuntimeError(f"adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {list(input.shape)}")
    oh, ow = _pair(output_size)
    h, w = input.shape[-2:]
    oh, ow = oh or h, ow or w
    if h % oh or w % ow:
        raise NotImplementedError(f"adaptive_avg_pool2d: output size {oh}x{ow} must divide the input size {h}x{w}")
    return input.reshape(*input.shape[:-2], oh, h // oh, ow, w // ow).mean((-3, -1))


def one_hot(tensor: TensorBase, num_classes: int = -1) -> TensorBase:
    """Class indices of shape (*) as int64 one-hot rows of shape (*, num_classes).

    >>> import graphgrad as gg
    >>> gg.nn.functional.one_hot(gg.tensor([0, 2]), 3)
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    if tensor._type.dtype != "int64":
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        if not isinstance(tensor, Tensor):
            raise ValueError("one_hot needs an explicit num_classes when its input is traced")
        num_classes = int(tensor._data.max()) + 1 if tensor.numel() else 0
    tensor = check_range(tensor, "class", num_classes)  # (else a row of zeros, silently)
    return _one_hot_mask(tensor, num_classes).long()


def _one_hot_mask(target: TensorBase, num_classes: int) -> TensorBase:
    # A comparison against arange instead of a scatter: it is an ordinary op in both modes.
    return target.unsqueeze(-1) == _arange_on(num_classes, target)


def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    """PyTorch's deprecated ``size_average``/``reduce``, where either is given, decide the reduction (with PyTorch's
    warning); they keep their places in the signatures, so that positional arguments mean what they mean there."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    found = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{found}' instead.",
                  UserWarning, stacklevel=3)
    return found


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _reduce(loss: TensorBase, reduction: str) -> TensorBase:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _warn_size(input: TensorBase, target: TensorBase) -> None:
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({_size(target)}) that is different to the input size ({_size(input)}). "
                      "This will likely lead to incorrect results due to broadcasting. Please ensure they have the "
                      "same size.", UserWarning, stacklevel=3)


def _size(t: TensorBase) -> str:
    return f"torch.Size([{', '.join(map(str, t.shape))}])"


def mse_loss(input: TensorBase, target: TensorBase, size_average=None, reduce=None,
             reduction: str = "mean") -> TensorBase:
    """Mean (or sum, or elementwise) squared error."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _warn_size(input, target)
    diff = input - target
    return _as_pytorch_names(_reduce(diff * diff, reduction), "MseLossBackward0", input, target)


def l1_loss(input: TensorBase, target: TensorBase, size_average=None, reduce=None,
            reduction: str = "mean") -> TensorBase:
    """Mean (or sum, or elementwise) absolute error."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _warn_size(input, target)
    return _reduce((input - target).abs(), reduction)


def binary_cross_entropy(input: TensorBase, target: TensorBase, weight: TensorBase | None = None, size_average=None,
                         reduce=None, reduction: str = "mean") -> TensorBase:
    """``-(t log p + (1 - t) log(1 - p))`` for probabilities ``p``; the logs are clamped at -100, as in PyTorch,
    so p = 0 or 1 gives a finite loss."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({_size(target)}) that is different to the input size "
                         f"({_size(input)}) is deprecated. Please ensure they have the same size.")
    if isinstance(input, Tensor) and input.numel():  # traced inputs have no values to check
        data = input.detach().numpy()
        if not ((data >= 0) & (data <= 1)).all():  # NaN fails too, as in PyTorch
            raise RuntimeError("all elements of input should be between 0 and 1")
    # a primitive, for PyTorch's input gradient (p - t) / max(p (1 - p), 1e-12): finite at p = 0 and 1
    loss = _bce(input, target)
    if weight is not None:
        loss = loss * weight
    return _as_pytorch_names(_reduce(loss, reduction), "BinaryCrossEntropyBackward0", input, target, weight)


def binary_cross_entropy_with_logits(input: TensorBase, target: TensorBase, weight: TensorBase | None = None,
                                     size_average=None, reduce=None, reduction: str = "mean",
                                     pos_weight: TensorBase | None = None) -> TensorBase:
    """Sigmoid and binary cross-entropy in one numerically stable expression:
    ``max(x, 0) - x t + log(1 + exp(-|x|))``, with positives weighted by ``pos_weight`` when given.

    >>> import graphgrad as gg
    >>> round(gg.nn.functional.binary_cross_entropy_with_logits(gg.tensor([0.0]), gg.tensor([1.0])).item(), 4)
    0.6931
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({_size(target)}) must be the same as input size ({_size(input)})")
    if pos_weight is None:
        loss = _bce_logits(input, target)
    else:  # log(1 + exp(-x)) = -logsigmoid(x), whose gradient -sigmoid(-x) holds at 0 too (a relu and an abs,
        # each of derivative 0 at 0, made the loss's gradient at a zero logit 0: a zero-initialized output layer's)
        loss = (1 - target) * input - (1 + (pos_weight - 1) * target) * logsigmoid(input)
    if weight is not None:
        loss = loss * weight
    return _as_pytorch_names(_reduce(loss, reduction), "BinaryCrossEntropyWithLogitsBackward0", input, target, weight, pos_weight)


def nll_loss(input: TensorBase, target: TensorBase, weight: TensorBase | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> TensorBase:
    """Negative log-likelihood of class indices ``target`` under log-probabilities ``input`` (N, C[, d…]).

    With ``reduction="mean"`` the sum is divided by the total weight of the non-ignored targets, as in PyTorch.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    logp = _classes_last(input, target)

    def losses(classes: TensorBase) -> TensorBase:
        # picked by indexing, as NumPy code writes logp[rows, classes]: a one-hot mask of the classes cost three
        # arrays of the logits' size (a language model's logits are large); an arange along each leading axis
        lead = logp.ndim - 1
        grids = [_arange_on(n, target).reshape(tuple(-1 if k == axis else 1 for k in range(lead)))
                 for axis, n in enumerate(logp.shape[:lead])]
        return -logp[(*grids, classes)]
    per_target, weights = _class_losses(losses, logp.shape[-1], target, weight, ignore_index)
    return _reduce_classes(per_target, weights, reduction, input, target, weight)


def _class_losses(losses, num_classes: int, target: TensorBase, weight: TensorBase | None,
                  ignore_index: int) -> tuple:
    """nll_loss's per-target losses from ``losses(classes)`` (each target's, the classes checked to be in range),
    weighted, 0 where ignored; and the targets' weights (0 where ignored)."""
    if weight is not None and tuple(weight.shape) != (num_classes,):
        raise RuntimeError(f"weight tensor should be defined either for all {num_classes} classes or no classes but "
                           f"got weight tensor of shape: [{', '.join(map(str, weight.shape))}]")
    kept = target != ignore_index
    classes = check_range(where(kept, target, 0), "Target", num_classes)  # (ignored: class 0, weighing 0)
    per_target = losses(classes)
    if weight is None:
        weights = kept._cast(per_target._type.dtype)
    else:
        weights = where(kept, weight[classes], 0.0)
        per_target = per_target * weights
    # PyTorch's ignored targets lose 0.0 and get no gradient, even where the total weight is 0 (every target
    # ignored: the mean is 0/0 = nan, its gradient 0 there, not 0 * (1/0) = nan); kept targets of zero total
    # weight still get nan, as PyTorch's
    return where(kept, per_target, 0.0), weights


def _reduce_classes(per_target: TensorBase, weights: TensorBase, reduction: str, *shown) -> TensorBase:
    """A mean is over the total weight of the targets not ignored, as PyTorch's nll_loss."""
    if reduction == "mean":
        return _as_pytorch_names(per_target.sum() / weights.sum(), "NllLossBackward0", *shown)
    return _as_pytorch_names(_reduce(per_target, reduction), "NllLossBackward0", *shown)


def cross_entropy(input: TensorBase, target: TensorBase, weight: TensorBase | None = None, size_average=None,
                  ignore_index: int = -100, reduce=None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> TensorBase:
    """Softmax cross-entropy of logits ``input`` (N, C[, d…]) against class indices or class probabilities.
    ``label_smoothing`` mixes the target with the uniform distribution over the C classes, as PyTorch's.

    >>> import graphgrad as gg
    >>> F = gg.nn.functional
    >>> round(F.cross_entropy(gg.zeros(1, 3), gg.tensor([[0.5, 0.5, 0.0]])).item(), 4)
    1.0986
    >>> round(F.cross_entropy(gg.tensor([[2.0, 0.0, 0.0]]), gg.tensor([0]), label_smoothing=0.3).item(), 4)
    0.6395
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if label_smoothing > 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    smoothing = max(float(label_smoothing), 0.0)  # (PyTorch's: a negative one smooths nothing)
    class_dim = 1 if input.ndim > 1 else 0
    if target.is_floating_point():
        if tuple(target.shape) != tuple(input.shape):
            raise RuntimeError(f"Expected target size {list(input.shape)}, got {list(target.shape)}")
        if smoothing:
            target = target * (1 - smoothing) + smoothing / input.shape[class_dim]
        logp = input.log_softmax(class_dim)
        weighted = target if weight is None else target * _along(weight, class_dim, input.ndim)
        return _reduce(-(logp * weighted).sum(class_dim), reduction)
    scores = _classes_last(input, target)
    num_classes = scores.shape[-1]

    def losses(classes: TensorBase) -> TensorBase:
        # one op (ops/nn.py): its gradient softmax - onehot in one array, as NumPy by hand
        flat = softmax_cross_entropy(scores.reshape(-1, num_classes), classes.reshape(-1))
        return flat.reshape(tuple(classes.shape))
    per_target, weights = _class_losses(losses, num_classes, target, weight, ignore_index)
    if smoothing:  # each target also loses -sum_c w_c log p_c / C, sum_c w_c logsumexp - z . w
        total, dotted = ((num_classes, scores.sum(-1)) if weight is None else (weight.sum(), scores @ weight))
        uniform = where(target != ignore_index, scores.logsumexp(-1) * total - dotted, 0.0)
        per_target = per_target * (1 - smoothing) + uniform * (smoothing / num_classes)
    # (shown as PyTorch's: NllLossBackward0 over LogSoftmaxBackward0 over the logits)
    shown = _display_node("LogSoftmaxBackward0", input) if isinstance(input, Tensor) else input
    return _reduce_classes(per_target, weights, reduction, shown, target, weight)


def _along(weight: TensorBase, dim: int, ndim: int) -> TensorBase:
    return weight.reshape(tuple(-1 if d == dim else 1 for d in range(ndim)))


def _classes_last(input: TensorBase, target: TensorBase) -> TensorBase:
    """(N, C, d…) scores as (N, d…, C), after checking that ``target`` has shape (N, d…)."""
    if not isinstance(target, TensorBase):
        raise TypeError(f"nll_loss(): argument 'target' must be Tensor, not {type(target).__name__}")
    if target._type.dtype != "int64":
        raise RuntimeError(f"expected scalar type Long but found {_scalar_name(target)}")
    if input.ndim == 1:
        if target.ndim != 0:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        return input
    if input.shape[0] != (target.shape[0] if target.ndim else -1):
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
                         f"({target.shape[0] if target.ndim else 0}).")
    if tuple(target.shape) != tuple(input.shape[:1]) + tuple(input.shape[2:]):
        raise RuntimeError(f"Expected target size {list(input.shape[:1] + input.shape[2:])}, got "
                           f"{list(target.shape)}")
    return input.permute((0,) + tuple(range(2, input.ndim)) + (1,)) if input.ndim > 2 else input


globals().update(_NN)  # leaky_relu, gelu, ...: declared beside their ops in graphgrad.ops
_constant_pad = _NN["pad"]


# -- more losses and padding modes (issue 13 §6) --------------------------------------------------------------
def smooth_l1_loss(input: TensorBase, target: TensorBase, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> TensorBase:
    """``0.5 d² / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``d = input - target``)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if beta < 0:  # else the loss is |d| + |beta| / 2 for every d, silently
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _warn_size(input, target)
    d = (input - target).abs()
    if beta == 0:
        loss = d
    else:
        loss = where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta)
    return _as_pytorch_names(_reduce(loss, reduction), "SmoothL1LossBackward0", input, target)


def huber_loss(input: TensorBase, target: TensorBase, reduction: str = "mean", delta: float = 1.0) -> TensorBase:
    """``0.5 d²`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``."""
    _check_reduction(reduction)
    if delta <= 0:  # else the loss is 0 (delta = 0) or negative, silently
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    _warn_size(input, target)
    d = (input - target).abs()
    loss = where(d < delta, d * d * 0.5, (d - 0.5 * delta) * delta)
    return _as_pytorch_names(_reduce(loss, reduction), "HuberLossBackward0", input, target)


def kl_div(input: TensorBase, target: TensorBase, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> TensorBase:
    """``target * (log target - input)`` for log-probabilities ``input`` (0 where target is 0);
    ``reduction="batchmean"`` divides the sum by the batch size, the true KL divergence per sample."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in _REDUCTIONS + ("batchmean",):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if log_target:
        loss = target.exp() * (target - input)
    else:  # PyTorch's xlogy(t, t) - t * input: 0 log 0 is 0; a negative target gives nan (was 0, silently)
        zero = target == 0
        loss = where(zero, 0.0, target * where(zero, 1.0, target).log()) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      UserWarning, stacklevel=2)
    return _reduce(loss, reduction)


def normalize(input: TensorBase, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> TensorBase:
    """``input / max(‖input‖_p, eps)`` along ``dim``."""
    return input / input.norm(p, dim, keepdim=True).clamp(min=eps)


def pad(input: TensorBase, pad: tuple, mode: str = "constant", value: float | None = None) -> TensorBase:
    """Pad the last ``len(pad) // 2`` dimensions: ``pad = (left, right, top, bottom, …)``, last dimension
    first; negative amounts crop. ``constant`` is the ``pad`` primitive; ``reflect``, ``replicate`` and
    ``circular`` pick elements by index, so they differentiate and trace as indexing does.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.pad(gg.tensor([[0.0, 1.0, 2.0]]), (2, 1), mode="reflect")
    tensor([[2., 1., 0., 1., 2., 1.]])
    """
    if mode == "constant":
        return _constant_pad(input, pad, mode, value)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise RuntimeError("Padding length must be divisible by 2" if len(pad) % 2 else
                           f"Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {input.ndim}")
    out = input
    for k in range(len(pad) // 2):
        out = _pad_dim(out, input.ndim - 1 - k, int(pad[2 * k]), int(pad[2 * k + 1]), mode)
    return out


_NN["pad"] = pad  # F.pad is this, all modes (the table keeps graphgrad.nn.functional's names in one place)


def _pad_dim(x: TensorBase, dim: int, before: int, after: int, mode: str) -> TensorBase:
    n = x.shape[dim]
    if before < 0 or after < 0:  # crop first
        index = [slice(None)] * x.ndim
        index[dim] = slice(max(-before, 0), n - max(-after, 0))
        x = x[tuple(index)]
        before, after, n = max(before, 0), max(after, 0), x.shape[dim]
    if not before and not after:
        return x
    positions = np.arange(-before, n + after)
    if mode == "replicate":
        positions = np.clip(positions, 0, n - 1)
    elif mode == "circular":
        if before > n or after > n:
            raise RuntimeError("Padding value causes wrapping around more than once.")
        positions = positions % n
    elif mode == "reflect":
        if before >= n or after >= n:
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input dimension, "
                               f"but got: padding ({before}, {after}) at dimension {dim} of input {list(x.shape)}")
        period = 2 * (n - 1) if n > 1 else 1
        positions = np.abs(positions) % period
        positions = np.where(positions >= n, period - positions, positions)
    else:
        raise NotImplementedError(f"padding mode {mode!r} is not supported (constant, reflect, replicate, circular)")
    index = [slice(None)] * x.ndim
    index[dim] = positions
    return x[tuple(index)]


def _safe_softmax(scores: TensorBase, dim: int = -1) -> TensorBase:
    """``softmax(scores, dim)`` that is 0, not NaN, on a row whose scores are all -inf (every key masked), as
    PyTorch's ``_safe_softmax`` behind ``scaled_dot_product_attention``. Such a row is softmaxed as zeros and then
    zeroed: were the NaN of softmax(-inf, ..., -inf) only selected away, softmax's backward,
    ``out * (g - sum(g * out))``, would still read the NaN ``out`` and give NaN gradients; this way the row gets
    gradient 0, as PyTorch's (its backward uses the zeroed output)."""
    empty = (scores == float("-inf")).all(dim, keepdim=True)
    return where(empty, 0.0, where(empty, 0.0, scores).softmax(dim))


def scaled_dot_product_attention(query: TensorBase, key: TensorBase, value: TensorBase,
                                 attn_mask: TensorBase | None = None, dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None, enable_gqa: bool = False) -> TensorBase:
    """``softmax(query @ key.mT * scale + mask) @ value`` over the last two dimensions, ``scale`` defaulting to
    ``1/sqrt(E)``. A boolean ``attn_mask`` is True where attention *is* allowed (the opposite of
    ``nn.MultiheadAttention``'s masks, as in PyTorch); a float one is added to the scores; ``is_causal`` lets
    query i see keys 0..i; a query that may see no key at all gets 0 (and gradient 0), not NaN, as in PyTorch.
    ``dropout_p`` drops attention weights whenever it is non-zero (pass 0 in evaluation).

    >>> import graphgrad as gg
    >>> q = k = v = gg.eye(2).unsqueeze(0)
    >>> gg.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)[0, 0]
    tensor([1., 0.])
    """
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention: enable_gqa=True is not supported")
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True")
    if query.shape[-1] != key.shape[-1]:
        raise RuntimeError(f"Expected query and key to have the same last dimension (embedding size), got "
                           f"query.size(-1)={query.shape[-1]} and key.size(-1)={key.shape[-1]}")
    scale = 1.0 / np.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query @ key.transpose(-2, -1)) * float(scale)
    if is_causal:
        rows, cols = query.shape[-2], key.shape[-2]
        device = query.device if isinstance(query, Tensor) else None
        attn_mask = arange(rows, device=device).unsqueeze(-1) >= arange(cols, device=device)
        if not isinstance(scores, Tensor):  # the generated code names the captured mask
            scores.tracer.names.setdefault(id(attn_mask), "causal_mask")
    if attn_mask is not None:
        if attn_mask._type.dtype == "bool":
            scores = where(attn_mask, scores, float("-inf"))
        else:
            scores = scores + attn_mask
    # only a mask can make a whole row -inf (short of infinite inputs); keep unmasked attention a plain softmax
    weights = _safe_softmax(scores) if attn_mask is not None else scores.softmax(-1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, True)
    return weights @ value
