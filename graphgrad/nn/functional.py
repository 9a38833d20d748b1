"""Layers and losses as functions, written with the Tensor API only: they run eagerly, record the same
gradient rules, and trace under ``@graphgrad.compile``.

>>> import graphgrad as gg
>>> import graphgrad.nn.functional as F
>>> logits = gg.tensor([[2.0, 0.0, 0.0]])
>>> round(F.cross_entropy(logits, gg.tensor([0])).item(), 4)
0.2395
"""
from __future__ import annotations

import itertools
import math
import warnings

import numpy as np

from ..ir.api import TensorBase, bind
from ..ir.public import NN as _NN
from ..ir.registry import ShapeError, broadcast_shapes
from ..ops.define import tensors_only
from ..ops.elementwise import check_above, where, xlogy as _xlogy
from ..ops.indexing import check_range
from ..ops.nn import _tiles, binary_cross_entropy as _bce, binary_cross_entropy_with_logits as _bce_logits
from ..ops.nn import window_count
from ..ops.nn import logsigmoid, scale_grad, softmax_cross_entropy
from ..ops.shape import fresh, pad, stack
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


def softmax(input: TensorBase, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> TensorBase:
    """``exp(input)`` normalized along ``dim``; ``dtype`` casts the input first (PyTorch's way to get a float64
    softmax of float32 or integer input); no ``dim`` picks PyTorch's implicit one, with its deprecation warning.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.softmax(gg.tensor([1, 2]), 0, dtype=gg.float64)
    tensor([0.2689, 0.7311], dtype=torch.float64)
    """
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim, _stacklevel)
    return input.softmax(dim, dtype=dtype)


def log_softmax(input: TensorBase, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> TensorBase:
    """The log of :func:`softmax`, computed stably; ``dtype`` casts the input first, as PyTorch's.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.log_softmax(gg.tensor([1.0, 2.0]), 0, dtype=gg.float64)
    tensor([-1.3133, -0.3133], dtype=torch.float64)
    """
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim, _stacklevel)
    return input.log_softmax(dim, dtype=dtype)


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


def embedding(input: TensorBase, weight: TensorBase, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> TensorBase:
    """Rows of ``weight`` picked by the integer tensor ``input`` (any shape); the ``padding_idx`` row gets no
    gradient; ``scale_grad_by_freq`` divides each row's gradient by the number of times its index occurs in
    ``input``; ``max_norm`` first renormalizes, in place, each named row whose ``norm_type``-norm exceeds it (as
    ``F.embedding_bag``)."""
    if input._type.dtype != "int64":
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got torch.{_scalar_name(input)}"
                           "Tensor instead (while checking arguments for embedding)")
    if sparse:
        raise NotImplementedError("embedding(sparse=True): graphgrad has no sparse tensors; pass sparse=False (the "
                                  "gradient is then a dense tensor of the weight's shape)")
    padding_idx = _padding_index(padding_idx, weight.shape[0])
    input = check_range(input, "self", weight.shape[0])  # (indexing would take a negative index from the end)
    if max_norm is not None:
        _embedding_renorm_(weight, input, max_norm, norm_type, "embedding")
    rows = _looked_up(weight, input, True) if scale_grad_by_freq else weight[input]
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


_BAG_MODES = ("sum", "mean", "max")


def embedding_bag(input: TensorBase, weight: TensorBase, offsets: TensorBase | None = None,
                  max_norm: float | None = None, norm_type: float = 2, scale_grad_by_freq: bool = False,
                  mode: str = "mean", sparse: bool = False, per_sample_weights: TensorBase | None = None,
                  include_last_offset: bool = False, padding_idx: int | None = None) -> TensorBase:
    """Sums, means or maxima of bags of rows of ``weight`` (num_embeddings, embedding_dim), without the rows
    themselves: PyTorch's ``F.embedding_bag``. ``input`` is a 2-D tensor of fixed-length bags (``offsets`` None),
    or a 1-D tensor of indices that ``offsets`` cut into bags: bag ``i`` runs from ``offsets[i]`` to the next
    offset (the last to the end, or with ``include_last_offset`` to the last offset, CSR's layout); an empty bag
    gives zeros. ``per_sample_weights`` (``mode='sum'`` only) scale each index's row; entries equal to
    ``padding_idx`` are left out (and not counted by the mean); ``scale_grad_by_freq`` divides each row's gradient
    by the number of times its index occurs in ``input``; ``max_norm`` renormalizes, in place, each row that
    ``input`` names whose ``norm_type``-norm exceeds it, before the lookup (PyTorch's ``embedding_renorm_``).
    Differentiable in ``weight`` and ``per_sample_weights``; in ``mode='max'`` the gradient goes to the first
    maximum of each bag, as PyTorch's.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> weight = gg.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> F.embedding_bag(gg.tensor([0, 2, 1, 1]), weight, gg.tensor([0, 2, 2]), mode="sum")
    tensor([[6., 8.],
            [0., 0.],
            [6., 8.]])
    >>> F.embedding_bag(gg.tensor([[0, 1], [2, 2]]), weight)
    tensor([[2., 3.],
            [5., 6.]])
    """
    if weight._type.dtype == "int64" and input._type.is_floating:
        warnings.warn("Argument order of nn.functional.embedding_bag was changed. Usage `embedding_bag(weight, "
                      "input, ...)` is deprecated, and should now be `embedding_bag(input, weight, ...)`.",
                      stacklevel=2)
        weight, input = input, weight
    if per_sample_weights is not None and tuple(input.shape) != tuple(per_sample_weights.shape):
        raise ValueError(f"embedding_bag: If per_sample_weights ({per_sample_weights.shape}) is not None, then it "
                         f"must have the same shape as the input ({input.shape})")
    if weight.ndim != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}")
    if input.ndim == 2:
        if offsets is not None:
            kind = "<class 'torch.Tensor'>" if isinstance(offsets, TensorBase) else str(type(offsets))
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                             f"fixed length sequences. However, found offsets of type {kind}")
        include_last_offset = False
    elif input.ndim == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor")
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    if mode == "max":
        if scale_grad_by_freq:
            raise ValueError("max mode does not support scaling the gradient by the frequency")
        if sparse:
            raise ValueError("max mode does not support sparse weights")
    elif mode not in _BAG_MODES:
        raise ValueError("mode has to be one of sum, mean or max")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError("embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                  f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
                                  "GitHub.")
    if sparse:
        raise NotImplementedError("embedding_bag(sparse=True): graphgrad has no sparse tensors; pass sparse=False "
                                  "for the dense gradient (the same values, every row of the weight)")
    # the checks of PyTorch's kernel, all before max_norm changes the weight
    if not weight._type.is_floating:
        raise RuntimeError("Expected tensor for argument #1 'weight' to have one of the following scalar types: Half, "
                           f"BFloat16, Float, Double; but got torch.{_scalar_name(weight)}Tensor instead (while "
                           "checking arguments for embedding_bag)")
    input = _bag_indices(input)
    offsets = _bag_indices(offsets) if offsets is not None else None
    if per_sample_weights is not None and per_sample_weights._type.dtype != weight._type.dtype:
        raise RuntimeError("Expected tensor for argument #1 'weight' to have the same type as tensor for argument #1 "
                           f"'per_sample_weights'; but type torch.{_scalar_name(weight)}Tensor does not equal "
                           f"torch.{_scalar_name(per_sample_weights)}Tensor (while checking arguments for "
                           "embedding_bag)")
    rows = weight.shape[0]
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise RuntimeError(f"padding_idx must be within the number of embeddings, -{rows} through {rows - 1}, "
                               f"but got {padding_idx}")
        padding_idx %= rows
    if input.ndim == 2 and input.shape[1] == 0:  # (PyTorch's offsets for it: arange(0, 0, 0))
        raise RuntimeError("step must be nonzero")
    if offsets is not None:
        if include_last_offset and offsets.shape[0] < 1:
            raise RuntimeError("include_last_offset: number of offset should be at least 1")
        offsets = check_range(offsets, "offsets", input.shape[0])
    input = check_range(input, "embedding_bag max" if mode == "max" else "embedding_bag", rows)
    if max_norm is not None:
        _embedding_renorm_(weight, input, max_norm, norm_type)
    if input.ndim == 2:
        out = _fixed_bags(input, weight, mode, per_sample_weights, scale_grad_by_freq, padding_idx)
    else:
        out = _offset_bags(input, offsets, weight, mode, per_sample_weights, scale_grad_by_freq, include_last_offset,
                           padding_idx)
    if per_sample_weights is not None and input.ndim == 2 and _edge(per_sample_weights)[0] is not None:
        per_sample_weights = _display_node("ViewBackward0", per_sample_weights)  # (PyTorch flattens it)
    return _as_pytorch_names(out, "EmbeddingBagBackward0", weight, per_sample_weights)


def _bag_indices(t: TensorBase) -> TensorBase:
    """``input``/``offsets`` as int64 (PyTorch also takes int32, which graphgrad lacks, and reads bool as 0/1)."""
    if t._type.dtype == "bool":
        return t._cast("int64")
    if t._type.dtype != "int64":
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got torch.{_scalar_name(t)}Tensor instead (while checking arguments for "
                           "embedding_bag)")
    return t


def _full_on(shape: tuple, value, dtype: str, like: TensorBase) -> TensorBase:
    """``full(shape, value)`` where ``like`` is: an eager tensor on its device, else a node of its trace."""
    from ..runtime import factories

    return factories.full(shape, value, dtype=dtype, device=like.device if isinstance(like, Tensor) else None)


def _looked_up(weight: TensorBase, input: TensorBase, scale_grad_by_freq: bool) -> TensorBase:
    """``weight[input]``; with ``scale_grad_by_freq`` each row's gradient divided by its index's count in
    ``input`` (the documented scaling: PyTorch 2.13's CPU kernel divides some rows by another index's count,
    pytorch/pytorch#190063)."""
    rows = bind("gather_rows", weight, input)
    if not scale_grad_by_freq:
        return rows
    flat = input.reshape(-1)
    ones = bind("full_like", flat, value=1)._cast(weight._type.dtype)
    counts = bind("scatter_add_rows", ones, flat, rows=weight.shape[0])
    return scale_grad(rows, (1 / bind("gather_rows", counts, input)).unsqueeze(-1))


def _embedding_renorm_(weight: TensorBase, input: TensorBase, max_norm: float, norm_type: float,
                       fn: str = "embedding_bag") -> None:
    """PyTorch's ``embedding_renorm_``, under no_grad: each row of ``weight`` that ``input`` names whose
    ``norm_type``-norm exceeds ``max_norm`` scaled, in place, by ``max_norm / (norm + 1e-7)`` (computed in double,
    as PyTorch's)."""
    from ..runtime.grad_mode import no_grad

    if not isinstance(weight, Tensor) and weight.requires_grad:
        raise NotImplementedError(
            f"{fn}(max_norm=...) inside a compiled function, of a weight that requires grad: PyTorch "
            "renormalizes the weight in place under no_grad and passes the gradient through unchanged, which "
            f"compiled code cannot express. Renormalize outside the compiled function (an eager F.{fn} call "
            "with max_norm does it for the rows it names), or leave max_norm out of the compiled call")
    with no_grad():
        flat = input.reshape(-1)
        named = bind("scatter_add_rows", bind("full_like", flat, value=1), flat, rows=weight.shape[0]) > 0
        norms = weight.norm(p=norm_type, dim=1)._cast("float64")
        scale = where(named & (norms > max_norm), max_norm / (norms + 1e-7), 1.0)._cast(weight._type.dtype)
        weight.mul_(scale.unsqueeze(1))  # (a row times 1 is itself, bit for bit)


def _fixed_bags(input, weight, mode, per_sample_weights, scale_grad_by_freq, padding_idx):
    """Bags of a 2-D input: rows (bags, length, dim) reduced over their axis 1."""
    rows = _looked_up(weight, input, scale_grad_by_freq)
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.unsqueeze(-1)
    keep = None if padding_idx is None else (input != padding_idx)
    count = keep.sum(1, keepdim=True) if keep is not None else None
    if mode == "max":
        if keep is not None:
            rows = where(keep.unsqueeze(-1), rows, -math.inf)
        out = rows.max(1).values  # (ties: the first maximum gets the gradient, as PyTorch's)
        return out if keep is None else where(count > 0, out, 0.0)
    if keep is not None:
        rows = where(keep.unsqueeze(-1), rows, 0.0)  # (not times 0: an inf padding row stays out)
    out = rows.sum(1)
    if mode == "mean":
        out = out / (count.clamp(min=1)._cast(out._type.dtype) if keep is not None else input.shape[1])
    return out


def _offset_bags(input, offsets, weight, mode, per_sample_weights, scale_grad_by_freq, include_last_offset,
                 padding_idx):
    """Bags of a 1-D input cut at ``offsets``: each index's row added (``scatter_add_rows``, add.at's fast path; no
    loop over bags) into its bag's, the bag being the number of offsets at or before the index's position, minus
    1. Padding entries, and with ``include_last_offset`` the positions from the last offset on, go to one more
    bag, dropped at the end."""
    n, bags = input.shape[0], offsets.shape[0] - (1 if include_last_offset else 0)
    if bags == 0:  # (no bag: zeros (0, dim), still a function of the weight)
        return weight[:0] * 0
    starts = bind("scatter_add_rows", bind("full_like", offsets, value=1), offsets, rows=n + 1)
    bag = starts.cumsum(0)[:n] - 1  # in [0, len(offsets) - 1]: bag `bags` is the extra one
    if padding_idx is not None:
        bag = where(input == padding_idx, bags, bag)
    if mode == "max":
        return _bag_max(weight, input, bag, bags)
    rows = _looked_up(weight, input, scale_grad_by_freq)
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.unsqueeze(-1)
    out = bind("scatter_add_rows", rows, bag, rows=bags + 1)
    if mode == "mean":
        ones = bind("full_like", bag, value=1)._cast(out._type.dtype)
        out = out / bind("scatter_add_rows", ones, bag, rows=bags + 1).clamp(min=1).unsqueeze(1)
    return out[:bags]


def _bag_max(weight: TensorBase, input: TensorBase, bag: TensorBase, bags: int) -> TensorBase:
    """The maximum of each bag's rows, elementwise, and zeros for an empty bag; the gradient goes to the first
    maximum (PyTorch's): the maxima (``scatter_reduce`` amax, no gradient), then per bag and column the first
    position holding one (amin of positions), whose weight entry is gathered, so the gradient follows that gather
    (a scatter of bags x dim elements into the weight's shape)."""
    n, dim = input.shape[0], weight.shape[1]
    if n == 0:
        return weight[:0].sum(0, keepdim=True).expand(bags, dim)  # (zeros, a function of the weight)
    value = bind("gather_rows", weight.detach(), input)
    # (bound directly: the bags and positions lie in range by construction, and scatter_reduce's and gather's range
    # checks would read every element of the broadcast bag index)
    at = bag.unsqueeze(1).expand(n, dim)
    # (from -inf: a bag's maximum is its own, and an empty bag has no element to match it)
    peak = bind("scatter_reduce", _full_on((bags + 1, dim), -math.inf, value._type.dtype, value), at, value, dim=0,
                reduce="amax", include_self=True)
    peak_at = bind("gather_rows", peak, bag)
    hit = (value == peak_at) | ((peak_at != peak_at) & (value != value))  # (a nan maximum: the first nan)
    position = where(hit, _arange_on(n, value).unsqueeze(1), n)
    first = bind("scatter_reduce", _full_on((bags + 1, dim), n, "int64", value), at, position, dim=0, reduce="amin",
                 include_self=True)[:bags]
    found = first < n
    picked = bind("gather", weight, bind("gather_rows", input, where(found, first, 0)), dim=0)
    return where(found, picked, 0.0)


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


def rms_norm(input: TensorBase, normalized_shape, weight: TensorBase | None = None,
             eps: float | None = None) -> TensorBase:
    """Root mean square normalization over the last ``len(normalized_shape)`` dimensions:
    ``input / sqrt(mean(input ** 2) + eps) * weight``; ``eps=None`` is ``finfo(input.dtype).eps``, as PyTorch's.

    >>> import graphgrad as gg
    >>> import graphgrad.nn.functional as F
    >>> F.rms_norm(gg.tensor([[1.0, 2.0, 3.0]], dtype=gg.float64), [3], eps=0.0)
    tensor([[0.4629, 0.9258, 1.3887]], dtype=torch.float64)
    """
    tensors_only("rms_norm", input=input)
    if not isinstance(normalized_shape, (list, tuple)):  # PyTorch's int[] refuses a bare int here (not RMSNorm)
        raise TypeError(f"rms_norm(): argument 'normalized_shape' (position 2) must be tuple of ints, not "
                        f"{type(normalized_shape).__name__}")
    for pos, size in enumerate(normalized_shape):
        if not isinstance(size, int) or isinstance(size, bool):
            raise TypeError(f"rms_norm(): argument 'normalized_shape' (position 2) must be tuple of ints, but found "
                            f"element of type {type(size).__name__} at pos {pos}")
    if eps is not None and (not isinstance(eps, (int, float)) or isinstance(eps, bool)):
        raise TypeError(f"rms_norm(): argument 'eps' (position 4) must be float, not {type(eps).__name__}")
    shape = tuple(normalized_shape)
    if not shape:
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one "
                           "element, but got normalized_shape = []")
    if weight is not None and tuple(weight.shape) != shape:
        raise RuntimeError(f"Expected weight to be of same shape as normalized_shape, but got weight of shape "
                           f"{list(weight.shape)} and normalized_shape = {list(shape)}")
    if input.ndim < len(shape):
        raise ValueError(f"Input tensor must have at least {len(shape)} dimensions, but got {input.ndim}")
    if tuple(input.shape[input.ndim - len(shape):]) != shape:  # PyTorch's text: "[*3, 4]", no comma after *
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape "
                           f"[*{', '.join(map(str, shape))}], but got input of size{list(input.shape)}")
    if not input.is_floating_point():
        raise NotImplementedError(f"\"rms_norm\" not implemented for '{_scalar_name(input)}'")
    if eps is None:
        eps = float(np.finfo(input._type.dtype).eps)
    dims = tuple(range(input.ndim - len(shape), input.ndim))
    out = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    if weight is not None:
        out = out * weight
        if out._type.dtype != input._type.dtype:  # PyTorch casts the result back to the input's dtype
            out = out.to(dtypes.BY_NAME[input._type.dtype])
    return out


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


def _expand(value, n: int, name: str) -> tuple:
    """A convolution argument as ``n`` ints: an int, or a sequence of one (repeated) or ``n``, as PyTorch's."""
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * n
    if len(value) != n:
        raise RuntimeError(f"expected {name} to be a single integer value or a list of {n} values to match the "
                           f"convolution dimensions, but got {name}={list(value)}")
    return value


def _size_text(sizes) -> str:
    return " x ".join(str(s) for s in sizes)


def _conv_arguments(fn: str, dims: int, input: TensorBase, weight: TensorBase, bias: TensorBase | None, stride,
                    padding, dilation, groups: int, output_padding=None) -> tuple:
    """PyTorch's checks of a ``dims``-D convolution's arguments, with its texts (``output_padding`` given: a
    transposed one, whose weight is (C_in, C_out / groups, K...)). Returns the input with a batch axis and
    ``stride, padding, dilation, output_padding`` as ``dims``-tuples (``padding`` may stay a string)."""
    if input.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(f"Expected {dims + 1}D (unbatched) or {dims + 2}D (batched) input to {fn}, but got input "
                           f"of size: {list(input.shape)}")
    x = input if input.ndim == dims + 2 else input.unsqueeze(0)  # unbatched, as PyTorch: a batch of one
    transposed = output_padding is not None
    if weight.ndim != dims + 2:
        raise RuntimeError(f"Expected {weight.ndim}-dimensional input for {weight.ndim}-dimensional weight "
                           f"{list(weight.shape)}, but got {x.ndim}-dimensional input of size {list(x.shape)} instead")
    stride, dilation = _expand(stride, dims, "stride"), _expand(dilation, dims, "dilation")
    if isinstance(padding, str) and padding not in ("same", "valid"):
        raise RuntimeError(f"Invalid padding string: {padding!r}")
    if not isinstance(padding, str):
        padding = _expand(padding, dims, "padding")
    if transposed:
        output_padding = _expand(output_padding, dims, "output_padding")
    if min(stride) <= 0:
        raise RuntimeError("non-positive stride is not supported")
    if not isinstance(padding, str) and min(padding) < 0:
        raise RuntimeError("negative padding is not supported")
    if transposed and min(output_padding) < 0:
        raise RuntimeError("negative output_padding is not supported")
    if min(dilation) <= 0:  # (PyTorch's texts: of the 2-D convolution a 1-D one runs as)
        if transposed:
            height, width = ((1,) + dilation)[-2:]
            raise RuntimeError(f"dilation should be greater than zero, but got dilation_height: {height}, "
                               f"dilation_width: {width}")
        raise RuntimeError(f"dilation should be greater than zero, but got {list(((1,) + dilation)[-2:])}")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if weight.shape[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but "
                           f"got weight of size [{list(weight.shape)}] instead")
    channels = weight.shape[0] if transposed else weight.shape[1] * groups
    given = f"Given transposed=1, weight of size {list(weight.shape)}" if transposed else \
        f"Given groups={groups}, weight of size {list(weight.shape)}"
    if x.shape[1] != channels:
        raise RuntimeError(f"{given}, expected input{list(x.shape)} to have {channels} channels, but got "
                           f"{x.shape[1]} channels instead")
    outputs = weight.shape[1] * groups if transposed else weight.shape[0]
    if bias is not None and tuple(bias.shape) != (outputs,):
        prefix = "Given transposed=1, weight" if transposed else "Given weight"
        raise RuntimeError(f"{prefix} of size {list(weight.shape)}, expected bias to be 1-dimensional with {outputs} "
                           f"elements, but got bias of size {list(bias.shape)} instead")
    if not transposed and padding != "same":
        pads = (0,) * dims if padding == "valid" else padding
        padded = [s + 2 * p for s, p in zip(x.shape[2:], pads)]
        spans = [d * (k - 1) + 1 for d, k in zip(dilation, weight.shape[2:])]
        if any(p < k for p, k in zip(padded, spans)):
            raise RuntimeError(f"Calculated padded input size per channel: ({_size_text(padded)}). Kernel size: "
                               f"({_size_text(spans)}). Kernel size can't be greater than actual input size")
    return x, stride, padding, dilation, output_padding


def conv1d(input: TensorBase, weight: TensorBase, bias: TensorBase | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> TensorBase:
    """1-D cross-correlation of (N, C, L) or (C, L) ``input`` with (OC, C / groups, K) ``weight``: a 2-D
    convolution over an image of height 1. ``padding`` is a number of zeros on each side, or ``"same"`` (output
    as long as the input; stride 1) or ``"valid"`` (none).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.conv1d(gg.tensor([[[1.0, 2.0, 3.0, 4.0]]]), gg.tensor([[[1.0, -1.0]]]))
    tensor([[[-1., -1., -1.]]])
    """
    return _convolution("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: TensorBase, weight: TensorBase, bias: TensorBase | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> TensorBase:
    """2-D cross-correlation of (N, C, H, W) or (C, H, W) ``input`` with (OC, C / groups, KH, KW) ``weight``, as
    a matrix product of the input's patches (``unfold2d``) and the flattened filters (per group: a batched
    product).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.conv2d(gg.ones(1, 2, 3, 3), gg.ones(2, 1, 2, 2), groups=2)
    tensor([[[[4., 4.],
              [4., 4.]],
    <BLANKLINE>
             [[4., 4.],
              [4., 4.]]]])
    """
    return _convolution("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def _convolution(fn: str, dims: int, input: TensorBase, weight: TensorBase, bias: TensorBase | None, stride,
                 padding, dilation, groups: int) -> TensorBase:
    x, stride, padding, dilation, _ = _conv_arguments(fn, dims, input, weight, bias, stride, padding, dilation,
                                                      groups)
    batched = x
    if dims == 1:  # a 1-D convolution is a 2-D one over a height-1 image
        x, weight = x.unsqueeze(2), weight.unsqueeze(2)
        stride, dilation = (1,) + stride, (1,) + dilation
        padding = padding if isinstance(padding, str) else (0,) + padding
    if isinstance(padding, str):
        x, padding = _string_padding(x, weight, padding, stride, dilation)
    out = _conv2d(x, weight, stride, padding, dilation, groups)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    if dims == 1:
        out = out.squeeze(2)
    out = _as_pytorch_names(out, "ConvolutionBackward0", batched, weight, bias)
    return out if input.ndim == dims + 2 else out.squeeze(0)


def _conv2d(x: TensorBase, weight: TensorBase, stride: tuple, padding: tuple, dilation: tuple,
            groups: int) -> TensorBase:
    """The convolution of a batch of images (N, C, H, W), no bias: the filters times the patches, per group a
    (OC / groups, C / groups * KH * KW) block of filters times its channels' patches."""
    out_channels, _, kh, kw = weight.shape
    if groups == 1:
        filters = weight.reshape(out_channels, -1)
    else:
        filters = weight.reshape(groups, out_channels // groups, -1)
    if stride == (1, 1):
        return _conv2d_rows(x, filters, (kh, kw), padding, dilation, groups)
    patches = _patches(x, (kh, kw), stride, padding, dilation)  # (N, C, OH, OW, KH, KW), a view
    n, c, oh, ow = patches.shape[:4]
    # each image's patches as the columns of a (C*KH*KW, OH*OW) matrix (Caffe's im2col): the copy moves whole
    # output rows, and filters @ columns is the output already in (N, OC, OH, OW) order, no transpose after
    columns = patches.permute(0, 1, 4, 5, 2, 3)
    if groups == 1:
        columns = columns.reshape(n, c * kh * kw, oh * ow)
    else:
        columns = columns.reshape(n, groups, c // groups * kh * kw, oh * ow)
    return (filters @ columns).reshape(n, out_channels, oh, ow)


def conv3d(input: TensorBase, weight: TensorBase, bias: TensorBase | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> TensorBase:
    """3-D cross-correlation of (N, C, D, H, W) or (C, D, H, W) ``input`` with (OC, C / groups, KD, KH, KW)
    ``weight``: per kernel depth offset, a 2-D convolution of every output depth's input slice (the slices as
    one batch of images), summed.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.conv3d(gg.ones(1, 1, 3, 3, 3), gg.ones(2, 1, 2, 2, 2), padding=(0, 1, 0)).shape
    torch.Size([1, 2, 2, 4, 2])
    """
    x, stride, padding, dilation, _ = _conv_arguments("conv3d", 3, input, weight, bias, stride, padding, dilation,
                                                      groups)
    batched = x
    if isinstance(padding, str):
        x, padding = _string_padding(x, weight, padding, stride, dilation)
    slices, depth = _depth_slices(x, weight.shape[2], stride[0], padding[0], dilation[0], 0.0, False)
    out = 0
    for k, images in enumerate(slices):
        out = out + _conv2d(images, weight[:, :, k], stride[1:], padding[1:], dilation[1:], groups)
    out = _from_depth_batch(out, x.shape[0], depth)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1, 1)
    out = _as_pytorch_names(out, "ConvolutionBackward0", batched, weight, bias)
    return out if input.ndim == 5 else out.squeeze(0)


def _depth_slices(x: TensorBase, kernel: int, stride: int, padding: int, dilation: int, fill: float,
                  ceil_mode: bool) -> tuple:
    """The input slices a 3-D window op reads at each kernel depth offset, each as one batch of images
    (N * OD, C, H, W), the depth padded with ``fill`` (and ``ceil_mode``'s last windows' overhang too); and OD."""
    n, c, d, h, w = x.shape
    depth = _pool_count(d, kernel, stride, padding, dilation, ceil_mode)
    overhang = max(0, (depth - 1) * stride + dilation * (kernel - 1) + 1 - (d + 2 * padding))
    if padding or overhang:
        x = pad(x, (0, 0, 0, 0, padding, padding + overhang), value=fill)
    end = (depth - 1) * stride + 1
    return [x[:, :, k * dilation:k * dilation + end:stride].permute(0, 2, 1, 3, 4).reshape(n * depth, c, h, w)
            for k in range(kernel)], depth


def _from_depth_batch(images: TensorBase, n: int, depth: int) -> TensorBase:
    """(N * OD, C, OH, OW) images back to (N, C, OD, OH, OW)."""
    return images.reshape((n, depth) + tuple(images.shape[1:])).permute(0, 2, 1, 3, 4)


def _pool3d_arguments(fn: str, input: TensorBase, kernel_size, stride, padding) -> tuple:
    if input.ndim not in (4, 5):
        raise RuntimeError(f"{fn}: Expected 4D or 5D tensor for input, but got: {list(input.shape)}" if fn ==
                           "avg_pool3d" else "non-empty 4D or 5D (batch mode) tensor expected for input")
    kernel = _expand(kernel_size, 3, "kernel_size")
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) else \
        _expand(stride, 3, "stride")
    return (input if input.ndim == 5 else input.unsqueeze(0)), kernel, stride, _expand(padding, 3, "padding")


def max_pool3d(input: TensorBase, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False) -> TensorBase:
    """The maximum of each (KD, KH, KW) window of an (N, C, D, H, W) or (C, D, H, W) ``input``, padded with -inf:
    per kernel depth offset a 2-D max pool of the depth slices, then the maximum over the offsets, so the gradient
    goes to the first maximum of each window in (depth, row, column) order, as PyTorch's.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.max_pool3d(gg.arange(8.0).reshape(1, 2, 2, 2), 2)
    tensor([[[[7.]]]])
    """
    if return_indices:
        raise NotImplementedError("max_pool3d(return_indices=True) is not supported; max_pool1d/2d's are")
    x, kernel, stride, padding = _pool3d_arguments("max_pool3d", input, kernel_size, stride, padding)
    dilation = _expand(dilation, 3, "dilation")
    for p, k, d in zip(padding, kernel, dilation):
        if p > (d * (k - 1) + 1) // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={p}, "
                               f"kernel_size={k} and dilation={d}")
    slices, depth = _depth_slices(x, kernel[0], stride[0], padding[0], dilation[0], -math.inf, ceil_mode)
    pooled = [max_pool2d(images, kernel[1:], stride[1:], padding[1:], dilation[1:], ceil_mode) for images in slices]
    # (max over a new leading axis: the first offset holding the maximum gets the gradient)
    out = _from_depth_batch(stack(pooled).max(0).values if len(pooled) > 1 else pooled[0], x.shape[0], depth)
    return _as_pytorch_names(out if input.ndim == 5 else out.squeeze(0), "MaxPool3DWithIndicesBackward0", input)


def avg_pool3d(input: TensorBase, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> TensorBase:
    """The mean of each (KD, KH, KW) window of an (N, C, D, H, W) or (C, D, H, W) ``input``, zero padding counted
    unless ``count_include_pad=False``, as PyTorch's (``ceil_mode``'s last windows divided by their part inside
    the padded input).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.avg_pool3d(gg.arange(8.0).reshape(1, 2, 2, 2), 2)
    tensor([[[[3.5000]]]])
    """
    x, kernel, stride, padding = _pool3d_arguments("avg_pool3d", input, kernel_size, stride, padding)
    for p, k in zip(padding, kernel):
        if p > k // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={p}, "
                               f"kernel_size={k} and dilation=1")
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    slices, depth = _depth_slices(x, kernel[0], stride[0], padding[0], 1, 0.0, ceil_mode)
    # each slice's window sums (a divisor of 1), added over the depth offsets, then PyTorch's 3-D divisors
    sums = 0
    for images in slices:
        sums = sums + avg_pool2d(images, kernel[1:], stride[1:], padding[1:], ceil_mode, True, 1)
    sums = _from_depth_batch(sums, x.shape[0], depth)
    if divisor_override is not None:
        out = sums / float(divisor_override)
    else:
        counts = (depth,) + tuple(sums.shape[3:])
        axes = [_avg_divisors(*args, count_include_pad) for args in zip(x.shape[2:], kernel, stride, padding, counts)]
        out = sums / _constant(np.einsum("i,j,k->ijk", *axes).astype(np.float64), sums)
    return _as_pytorch_names(out if input.ndim == 5 else out.squeeze(0), "AvgPool3DBackward0", input)


def _string_padding(input: TensorBase, weight: TensorBase, padding: str, stride, dilation) -> tuple:
    """``padding="valid"`` (none) or ``"same"`` (the output as large as the input; stride 1 only) as ``(input,
    padding)``: "same" pads ``dilation * (kernel - 1)`` in all, half of it before; an odd total puts the extra
    row/column after (bottom, right), on the input itself, as PyTorch does."""
    dims = weight.ndim - 2
    if padding == "valid":
        return input, (0,) * dims
    if padding != "same":
        raise RuntimeError(f"Invalid padding string: {padding!r}")
    if any(s != 1 for s in _expand(stride, dims, "stride")):
        raise RuntimeError("padding='same' is not supported for strided convolutions")
    totals = [d * (k - 1) for d, k in zip(_expand(dilation, dims, "dilation"), tuple(weight.shape[2:]))]
    if any(t % 2 for t in totals):
        input = pad(input, tuple(p for t in reversed(totals) for p in (0, t % 2)))
    return input, tuple(t // 2 for t in totals)


def _conv2d_rows(input: TensorBase, filters: TensorBase, kernel: tuple, padding: tuple,
                 dilation: tuple, groups: int = 1) -> TensorBase:
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
    if groups == 1:
        out = filters @ runs.reshape(n, c * kh * kw, oh * width)  # (N, OC, OH * W)
    else:  # (G, OC / G, C / G * KH * KW) @ (N, G, C / G * KH * KW, OH * W)
        out = filters @ runs.reshape(n, groups, c // groups * kh * kw, oh * width)
    return out.reshape(n, -1, oh, width)[:, :, :, :ow]


def conv_transpose1d(input: TensorBase, weight: TensorBase, bias: TensorBase | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> TensorBase:
    """The transposed 1-D convolution of (N, C_in, L) or (C_in, L) ``input`` with (C_in, C_out / groups, K)
    ``weight``: the adjoint of ``conv1d`` in its input (its input gradient), ``L_out = (L - 1) * stride -
    2 * padding + dilation * (K - 1) + output_padding + 1``.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.conv_transpose1d(gg.tensor([[[1.0, 2.0]]]), gg.tensor([[[1.0, 10.0]]]), stride=2)
    tensor([[[ 1., 10.,  2., 20.]]])
    """
    return _transposed_convolution("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding,
                                   groups, dilation)


def conv_transpose2d(input: TensorBase, weight: TensorBase, bias: TensorBase | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> TensorBase:
    """The transposed 2-D convolution ("deconvolution") of (N, C_in, H, W) or (C_in, H, W) ``input`` with
    (C_in, C_out / groups, KH, KW) ``weight``: ``conv2d``'s input gradient, each input pixel scattering its
    filter-weighted copy into the output (``fold2d`` of the filters' product with the input). ``padding`` crops
    the output; ``output_padding`` adds rows and columns at its bottom and right.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.conv_transpose2d(gg.ones(1, 1, 2, 2), gg.ones(1, 1, 2, 2))
    tensor([[[[1., 2., 1.],
              [2., 4., 2.],
              [1., 2., 1.]]]])
    """
    return _transposed_convolution("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding,
                                   groups, dilation)


def _transposed_convolution(fn: str, dims: int, input: TensorBase, weight: TensorBase, bias: TensorBase | None,
                            stride, padding, output_padding, groups: int, dilation) -> TensorBase:
    if isinstance(padding, str):
        raise TypeError(f"{fn}(): argument 'padding' must be tuple of ints, not str")
    x, stride, padding, dilation, output_padding = _conv_arguments(fn, dims, input, weight, bias, stride, padding,
                                                                   dilation, groups, output_padding)
    batched = x
    if dims == 1:  # over a height-1 image, as conv1d
        x, weight = x.unsqueeze(2), weight.unsqueeze(2)
        stride, padding, dilation = (1,) + stride, (0,) + padding, (1,) + dilation
        output_padding = (0,) + output_padding
    if dims == 3:
        out = _conv_transpose3d(x, weight, stride, padding, output_padding, dilation, groups)
    else:
        out = _conv_transpose2d(x, weight, stride, padding, output_padding, dilation, groups)
    if bias is not None:
        out = out + bias.reshape((1, -1) + (1,) * max(dims, 2))
    if dims == 1:
        out = out.squeeze(2)
    out = _as_pytorch_names(out, "ConvolutionBackward0", batched, weight, bias)
    return out if input.ndim == dims + 2 else out.squeeze(0)


def conv_transpose3d(input: TensorBase, weight: TensorBase, bias: TensorBase | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> TensorBase:
    """The transposed 3-D convolution of (N, C_in, D, H, W) or (C_in, D, H, W) ``input`` with
    (C_in, C_out / groups, KD, KH, KW) ``weight``: ``conv3d``'s input gradient. Per kernel depth offset, the
    transposed 2-D convolution of every input depth's plane, each placed at its depth (``stride`` apart, shifted
    by the offset) and summed; ``padding`` crops, ``output_padding`` adds planes, rows and columns at the end.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.conv_transpose3d(gg.ones(1, 1, 2, 2, 2), gg.ones(1, 1, 2, 2, 2), stride=2).shape
    torch.Size([1, 1, 4, 4, 4])
    """
    return _transposed_convolution("conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding,
                                   groups, dilation)


def _conv_transpose3d(x: TensorBase, weight: TensorBase, stride: tuple, padding: tuple, output_padding: tuple,
                      dilation: tuple, groups: int) -> TensorBase:
    n, _, depth, h, w = x.shape
    planes_in = x.permute(0, 2, 1, 3, 4).reshape(n * depth, x.shape[1], h, w)
    span = (depth - 1) * stride[0] + 1  # the input planes' depths, stride apart
    full = span + dilation[0] * (weight.shape[2] - 1)  # before padding crops and output_padding adds
    out = 0
    for k in range(weight.shape[2]):
        planes = _from_depth_batch(_conv_transpose2d(planes_in, weight[:, :, k], stride[1:], padding[1:],
                                                     output_padding[1:], dilation[1:], groups), n, depth)
        if stride[0] > 1:  # stride - 1 zero planes after each: (N, C, D, stride, H, W) laid end to end
            planes = pad(planes.unsqueeze(3), (0, 0, 0, 0, 0, stride[0] - 1))
            planes = planes.reshape((n, planes.shape[1], depth * stride[0]) + tuple(planes.shape[4:]))[:, :, :span]
        shift = k * dilation[0]
        out = out + pad(planes, (0, 0, 0, 0, shift, full - span - shift + output_padding[0]))
    return out[:, :, padding[0]:full + output_padding[0] - padding[0]]


def _conv_transpose2d(x: TensorBase, weight: TensorBase, stride: tuple, padding: tuple, output_padding: tuple,
                      dilation: tuple, groups: int) -> TensorBase:
    """conv2d's input gradient (its rule: ``fold2d(filters.T @ g)``) with the input as the output gradient:
    the filters' transpose times the input gives each output patch, which ``fold2d`` sums into the image
    (``fold2d_rows`` over runs of whole rows for stride 1, as conv2d's backward)."""
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        (oph, opw), (sh, sw), (dh, dw) = output_padding, stride, dilation
        raise RuntimeError(f"output padding must be smaller than either stride or dilation, but got "
                           f"output_padding_height: {oph} output_padding_width: {opw} stride_height: {sh} "
                           f"stride_width: {sw} dilation_height: {dh} dilation_width: {dw}")
    n, c_in, h, w = x.shape
    _, per_group, kh, kw = weight.shape
    size = tuple((i - 1) * s - 2 * p + d * (k - 1) + op + 1
                 for i, s, p, d, k, op in zip((h, w), stride, padding, dilation, (kh, kw), output_padding))
    if min(size) <= 0:
        raise RuntimeError(f"Given input size per channel: ({h} x {w}). Calculated output size per channel: "
                           f"({size[0]} x {size[1]}). Output size is too small")
    if groups == 1:
        filters = weight.reshape(c_in, per_group * kh * kw).t()  # (C_out * KH * KW, C_in)
    else:  # per group (C_out / G * KH * KW, C_in / G)
        filters = weight.reshape(groups, c_in // groups, per_group * kh * kw).transpose(1, 2)

    def patches(image: TensorBase) -> TensorBase:
        """The filters' transpose times each pixel's channels: (N, C_out * KH * KW, pixels), group-major."""
        pixels = image.shape[2] * image.shape[3]
        if groups == 1:
            return filters @ image.reshape(n, c_in, pixels)
        return (filters @ image.reshape(n, groups, c_in // groups, pixels)).reshape(n, -1, pixels)

    if stride == (1, 1):
        # conv2d's stride-1 layout: runs of OH * W' pixels, W' the padded output's width, their columns past the
        # input's width zero; OH is the input's height (and output_padding's rows, zero, when dilation allows it)
        width = size[1] + 2 * padding[1]
        runs = patches(pad(x, (0, width - w, 0, output_padding[0])))
        return bind("fold2d_rows", runs.reshape(n, per_group * groups, kh, kw, -1), kernel=(kh, kw),
                    padding=padding, dilation=dilation, size=size)
    counts = [window_count(*args) for args in zip(size, (kh, kw), stride, padding, dilation)]
    if counts != [h, w]:  # output_padding >= stride (allowed below dilation): windows that see no input
        x = pad(x, (0, counts[1] - w, 0, counts[0] - h))
    columns = patches(x).reshape(n, per_group * groups, kh, kw, counts[0], counts[1]).permute(0, 1, 4, 5, 2, 3)
    return bind("fold2d", columns, kernel=(kh, kw), stride=stride, padding=padding, dilation=dilation, size=size)


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
    pooled = bind("max_pool2d", x, kernel=kernel, stride=stride, padding=padding, dilation=dilation)
    indices = _max_pool_indices(x, pooled, kernel, stride, padding, dilation, w) if return_indices else None
    out = pooled if input.ndim == 4 else pooled.squeeze(0)
    out = _as_pytorch_names(out, "MaxPool2DWithIndicesBackward0", input)
    if not return_indices:
        return out
    return out, indices if input.ndim == 4 else indices.squeeze(0)


def _max_pool_indices(x: TensorBase, pooled: TensorBase, kernel, stride, padding, dilation, width: int
                      ) -> TensorBase:
    """Where each window's maximum is in its (H * W) plane, PyTorch's ``return_indices``: the entry the
    ``max_pool2d_mask`` op marks, the one the gradient goes to (the first maximum in row-major order, a NaN
    window's last NaN, never the padding). No gradient."""
    mask = bind("max_pool2d_mask", x.detach(), pooled.detach(), kernel=kernel, stride=stride, padding=padding,
                dilation=dilation)
    n, c, oh, ow = pooled.shape
    if _tiles(kernel, stride, dilation):  # (N, C, OH, KH, OW, KW): the image's layout
        mask = mask.permute(0, 1, 2, 4, 3, 5)
    k = mask.reshape(n, c, oh, ow, kernel[0] * kernel[1]).long().argmax(-1)
    rows = _constant((np.arange(oh) * stride[0] - padding[0]).reshape(-1, 1), k) + k // kernel[1] * dilation[0]
    columns = _constant(np.arange(ow) * stride[1] - padding[1], k) + k % kernel[1] * dilation[1]
    return rows * width + columns  # (the image's width: x holds ceil_mode's extra columns too)


def max_unpool2d(input: TensorBase, indices: TensorBase, kernel_size, stride=None, padding=0,
                 output_size=None) -> TensorBase:
    """The inverse of ``max_pool2d(..., return_indices=True)``: zeros of the unpooled size with each of ``input``'s
    values written where ``indices`` (positions in each (H * W) plane) says its maximum was. The default size is
    ``(H - 1) * stride - 2 * padding + kernel_size``; ``output_size`` (the last two of it) picks another.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> out, i = F.max_pool2d(gg.tensor([[[[1.0, 5.0], [3.0, 2.0]]]]), 2, return_indices=True)
    >>> F.max_unpool2d(out, i, 2)
    tensor([[[[0., 5.],
              [0., 0.]]]])
    """
    kernel, padding = _pair(kernel_size), _pair(padding)
    stride = kernel if stride is None else _pair(stride)
    return _max_unpool(input, indices, kernel, stride, padding, output_size, 2, "max_unpool2d")._shown_as(
        "MaxUnpool2DBackward0")


def max_unpool1d(input: TensorBase, indices: TensorBase, kernel_size, stride=None, padding=0,
                 output_size=None) -> TensorBase:
    """The inverse of ``max_pool1d(..., return_indices=True)`` (``max_unpool2d`` over an image of height 1).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> out, i = F.max_pool1d(gg.tensor([[1.0, 5.0, 3.0, 2.0]]), 2, return_indices=True)
    >>> F.max_unpool1d(out, i, 2)
    tensor([[0., 5., 3., 0.]])
    """
    kernel = _single(kernel_size, "max_unpool1d", "kernel_size")
    stride = kernel if stride is None else _single(stride, "max_unpool1d", "stride")
    padding = _single(padding, "max_unpool1d", "padding")
    return _max_unpool(input, indices, (kernel,), (stride,), (padding,), output_size, 1, "max_unpool1d")


def _max_unpool(input, indices, kernel, stride, padding, output_size, dims: int, name: str) -> TensorBase:
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(f"Expected shape of indices to be same as that of the input tensor ({list(input.shape)}) "
                           f"but got indices tensor with shape: {list(indices.shape)}")
    if indices._type.dtype != "int64":
        raise RuntimeError(f"{name}(): Expected dtype int64 for index")
    size = [(n - 1) * s - 2 * p + k for n, s, p, k in zip(input.shape[-dims:], stride, padding, kernel)]
    if output_size is not None:  # (PyTorch's rule: within a stride of the default size)
        given = tuple(output_size)
        given = given[2:] if len(given) == dims + 2 else given
        if len(given) != dims:
            raise ValueError(f"output_size should be a sequence containing {dims} or {dims + 2} elements, but it has "
                             f"a length of '{len(given)}'")
        for d, (n, default, s) in enumerate(zip(given, size, stride)):
            if not default - s < n < default + s:
                raise ValueError(f'invalid output_size "{output_size}" (dim {d} must be between {default - s} and '
                                 f'{default + s})')
        size = [int(n) for n in given]
    lead = tuple(input.shape[:-dims])
    flat_input = input.reshape(*lead, -1)
    plane = int(np.prod(size))
    zeros = flat_input.new_zeros(*lead, plane)
    at = check_range(indices.reshape(*lead, -1), "unpool " + "x".join(map(str, size)), plane)
    # the values scattered (of repeated indices the last written), the gradient gathered back to every input that
    # names a place, as PyTorch's (a scatter alone gives it to the last writer only): the scatter_add adds zeros
    flat_values = flat_input.detach()
    return (zeros.scatter(-1, at, flat_values) + zeros.scatter_add(-1, at, flat_input - flat_values)).reshape(
        *lead, *size)


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


def _single(value, fn: str, name: str) -> int:
    """A 1-D pooling argument: an int or a sequence of one, as PyTorch's (its texts for others)."""
    if isinstance(value, int):
        return value
    value = tuple(value)
    if len(value) != 1:
        if fn == "max_pool1d":
            kinds = "None, an int, list of ints, or tuple of ints" if name == "stride" else \
                "an int, list of ints or tuple of ints"
            raise RuntimeError(f"max_pool1d() {name} must be {kinds} of size 1 but got size {len(value)}")
        raise RuntimeError(f"{fn}() argument '{name}' should contain one int (got {len(value)})")
    return int(value[0])


def _pool1d_input(input: TensorBase, fn: str) -> None:
    if input.ndim not in (2, 3):
        raise RuntimeError(f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for argument #1 "
                           f"'self' (while checking arguments for {fn})")


def max_pool1d(input: TensorBase, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False) -> TensorBase:
    """The maximum of each window of an (N, C, L) or (C, L) ``input``: ``max_pool2d`` over an image of height 1
    (padding with -inf; the gradient to each window's first maximum).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.max_pool1d(gg.tensor([[1.0, 5.0, 0.0, 3.0, 2.0]]), 2, ceil_mode=True)
    tensor([[5., 3., 2.]])
    """
    if input.ndim not in (2, 3) or 0 in input.shape[-2:]:
        raise RuntimeError(f"max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for "
                           f"input, but got:{list(input.shape)}")
    kernel = _single(kernel_size, "max_pool1d", "kernel_size")
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) else \
        _single(stride, "max_pool1d", "stride")
    padding, dilation = _single(padding, "max_pool1d", "padding"), _single(dilation, "max_pool1d", "dilation")
    for name, value, least in (("kernel_size", kernel, 1), ("stride", stride, 1), ("padding", padding, 0),
                               ("dilation", dilation, 1)):
        if value < least:
            relation = "must be non-negative" if name == "padding" else "must be greater than zero"
            raise RuntimeError(f"max_pool1d() {name} {relation}, but got {value}")
        if name == "padding" and padding > kernel // 2:
            raise RuntimeError(f"max_pool1d() padding should be at most half of kernel size, but got "
                               f"padding={padding} and kernel_size={kernel}")
    count = _pool_count(input.shape[-1], kernel, stride, padding, dilation, ceil_mode)
    if count < 1:
        raise RuntimeError(f"max_pool1d() Invalid computed output size: {count}")
    out = max_pool2d(input.unsqueeze(-2), (1, kernel), (1, stride), (0, padding), (1, dilation), ceil_mode,
                     return_indices)
    return (out[0].squeeze(-2), out[1].squeeze(-2)) if return_indices else out.squeeze(-2)


def avg_pool1d(input: TensorBase, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> TensorBase:
    """The mean of each window of an (N, C, L) or (C, L) ``input``: ``avg_pool2d`` over an image of height 1.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.avg_pool1d(gg.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]]), 2, ceil_mode=True)
    tensor([[1.5000, 3.5000, 5.0000]])
    """
    _pool1d_input(input, "avg_pool1d")
    kernel = _single(kernel_size, "avg_pool1d", "kernel_size")
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) else \
        _single(stride, "avg_pool1d", "stride")
    return avg_pool2d(input.unsqueeze(-2), (1, kernel), (1, stride), (0, _single(padding, "avg_pool1d", "padding")),
                      ceil_mode, count_include_pad).squeeze(-2)


def _avg_divisors(size: int, kernel: int, stride: int, padding: int, count: int, include_pad: bool) -> np.ndarray:
    """PyTorch's divisor of each window along one axis: the window clipped to the padded input (ceil_mode's last
    window can run past it), and without the padding unless ``include_pad``."""
    starts = np.arange(count) * stride - padding
    ends = np.minimum(starts + kernel, size + padding)
    if include_pad:
        return ends - starts
    return np.minimum(ends, size) - np.maximum(starts, 0)


def avg_pool2d(input: TensorBase, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> TensorBase:
    """The mean of each window of an (N, C, H, W) or (C, H, W) ``input``; zero padding counts towards the mean
    unless ``count_include_pad=False``; ``ceil_mode`` adds the windows that start inside the input or its left
    padding but run past its end (divided by the part inside the padded input), as PyTorch's.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.avg_pool2d(gg.ones(1, 3, 3), 2, padding=1, count_include_pad=False)
    tensor([[[1., 1.],
             [1., 1.]]])
    """
    if input.ndim not in (3, 4):
        raise RuntimeError(f"Expected 3D or 4D (batch mode) tensor for input, but got: {list(input.shape)}")
    for name, value in (("kernel_size", kernel_size), ("stride", stride), ("padding", padding)):
        if not isinstance(value, int) and value is not None and len(value) not in (1, 2) + ((0,) if name == "stride"
                                                                                             else ()):
            raise RuntimeError({"kernel_size": "avg_pool2d: kernel_size must either be a single int, or a tuple of "
                                               "two ints",
                                "stride": "avg_pool2d: stride must either be omitted, a single int, or a tuple of two "
                                          "ints",
                                "padding": "avg_pool2d: padding must either be a single int, or a tuple of two ints"
                                }[name])
    kernel = _pair(kernel_size) if isinstance(kernel_size, int) or len(kernel_size) == 2 else tuple(kernel_size) * 2
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) else \
        _pair(stride) if isinstance(stride, int) or len(stride) == 2 else tuple(stride) * 2
    padding = _pair(padding) if isinstance(padding, int) or len(padding) == 2 else tuple(padding) * 2
    if 0 in stride:
        raise RuntimeError("stride should not be zero")
    if min(kernel) <= 0:
        raise RuntimeError(f"kernel size should be greater than zero, but got kH: {kernel[0]} kW: {kernel[1]}")
    for p, k in zip(padding, kernel):
        if p > k // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={p}, "
                               f"kernel_size={k} and dilation=1")
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    x = input if input.ndim == 4 else input.unsqueeze(0)  # unbatched, as PyTorch: a batch of one
    _, c, h, w = x.shape
    counts = [_pool_count(*args, 1, ceil_mode) for args in zip((h, w), kernel, stride, padding)]
    if min(counts) <= 0:
        raise RuntimeError(f"Given input size: ({c}x{h}x{w}). Calculated output size: ({c}x{counts[0]}x{counts[1]}). "
                           f"Output size is too small")
    # ceil_mode's last windows run past the padded input: zeros there, left out of the divisor below
    extra = [max(0, (n - 1) * s + k - (size + 2 * p)) for n, s, k, size, p in zip(counts, stride, kernel, (h, w),
                                                                                 padding)]
    if any(extra):
        x = pad(x, (0, extra[1], 0, extra[0]))
    windows = _patches(x, kernel, stride, padding, 1)
    divisors = np.outer(*(_avg_divisors(*args, count_include_pad) for args in zip((h, w), kernel, stride, padding,
                                                                                   counts)))
    if divisor_override is not None:
        out = windows.sum((-2, -1)) / float(divisor_override)
    elif (divisors == kernel[0] * kernel[1]).all():
        out = windows.mean((-2, -1))
    else:  # windows of several sizes: the sums divided by a constant of the output's shape
        out = windows.sum((-2, -1)) / _constant(divisors, x)
    return _as_pytorch_names(out if input.ndim == 4 else out.squeeze(0), "AvgPool2DBackward0", input)


def _constant(values: np.ndarray, like: TensorBase) -> TensorBase:
    """``values`` as a tensor of ``like``'s dtype, on its device; traced, a constant of the generated code (made
    on the module's device: an array captured from the host would be a CPU input of a CuPy module)."""
    if isinstance(like, Tensor):
        from ..runtime.factories import tensor

        return tensor(values, dtype=like.dtype, device=like.device)
    from ..tracer.tracer import _nested

    return like.tracer.record("constant", [], {"value": _nested(np.asarray(values).tolist()),
                                               "dtype": like._type.dtype})


def _adaptive_windows(size: int, count: int) -> tuple:
    """PyTorch's adaptive pooling windows along an axis of ``size``: window i is ``[floor(i * size / count),
    ceil((i + 1) * size / count))``."""
    index = np.arange(count)
    return index * size // count, -(-(index + 1) * size // count)


def _adaptive_size(input: TensorBase, output_size, fn: str, dims: int = 2) -> tuple:
    """``output_size`` as (OH, OW) for the (…, H, W) ``input`` (``dims=3``: (OD, OH, OW) for (…, D, H, W)), None
    keeping that size, after PyTorch's checks, in the words of its 2-D kernels and of its 3-D avg and max ones."""
    size = (output_size,) * dims if output_size is None or isinstance(output_size, int) else tuple(output_size)
    if len(size) != dims:
        raise RuntimeError(f"{fn}(): internal error: output_size.size() must be {dims}" if "max" in fn else
                           f"{fn}: output_size must be {dims}")
    size = tuple(input.shape[k - dims] if s is None else int(s) for k, s in enumerate(size))
    if min(size) < 0:
        if dims == 3 and "max" in fn:
            raise RuntimeError(f"Trying to create tensor with negative dimension {min(size)}: "
                               f"{list(input.shape[:-3]) + list(size)}")
        received = ", ".join(map(str, size[:2])) + "".join(f",{s}" for s in size[2:])  # (3-D: "{1, 2,-3}")
        raise RuntimeError(f"{fn}: elements of output_size must be greater than or equal to 0 but received "
                           f"{{{received}}}")
    for dim in range(input.ndim - dims - 1, input.ndim):
        if input.shape[dim] == 0:
            raise RuntimeError(f"{fn}(): Expected input to have non-zero size for non-batch dimensions, but input "
                               f"has sizes {list(input.shape)} with dimension {dim} being empty")
    return size


def adaptive_avg_pool2d(input: TensorBase, output_size) -> TensorBase:
    """Average pooling of an (N, C, H, W) or (C, H, W) ``input`` to ``output_size`` (None keeps that size), over
    PyTorch's windows: output row i averages input rows ``floor(i * H / OH)`` to ``ceil((i + 1) * H / OH) - 1``.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.adaptive_avg_pool2d(gg.arange(6.0).reshape(1, 2, 3), (1, 2))
    tensor([[[2., 3.]]])
    """
    if input.ndim not in (3, 4):
        raise RuntimeError(f"adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {list(input.shape)}")
    oh, ow = _adaptive_size(input, output_size, "adaptive_avg_pool2d")
    h, w = input.shape[-2:]
    if oh and ow and not h % oh and not w % ow:  # windows that tile the image: a mean over its reshape
        out = input.reshape(*input.shape[:-2], oh, h // oh, ow, w // ow).mean((-3, -1))
    else:  # windows of several sizes (or overlapping) along an axis: averaged by a constant matrix
        out = input
        if oh and not h % oh:
            out = out.reshape(*input.shape[:-2], oh, h // oh, w).mean(-2)
        else:
            out = _constant(_averaging(h, oh), input) @ out
        if ow and not w % ow:
            out = out.reshape(*out.shape[:-1], ow, w // ow).mean(-1)
        else:
            out = out @ _constant(_averaging(w, ow).T, input)
    return _as_pytorch_names(out, "AdaptiveAvgPool2DBackward0", input)


def _averaging(size: int, count: int) -> np.ndarray:
    """The (count, size) matrix whose row i averages adaptive window i."""
    starts, ends = _adaptive_windows(size, count)
    positions = np.arange(size)
    inside = (positions >= starts[:, None]) & (positions < ends[:, None])
    return inside / (ends - starts)[:, None]


def adaptive_max_pool2d(input: TensorBase, output_size, return_indices: bool = False):
    """Max pooling of an (N, C, H, W) or (C, H, W) ``input`` to ``output_size`` (None keeps that size) over
    PyTorch's adaptive windows (those of ``adaptive_avg_pool2d``). As PyTorch's, the gradient goes to each window's
    first maximum in row-major order (a window holding NaN: to its first NaN, PyTorch's to its last);
    ``return_indices`` also returns its position in the flattened (H * W) image.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.adaptive_max_pool2d(gg.tensor([[[1.0, 5.0, 0.0], [3.0, 2.0, 4.0]]]), (1, 2), return_indices=True)
    (tensor([[[5., 5.]]]), tensor([[[1, 1]]]))
    """
    if input.ndim not in (3, 4):
        raise RuntimeError(f"adaptive_max_pool2d(): Expected 3D or 4D tensor, but got: {list(input.shape)}")
    oh, ow = _adaptive_size(input, output_size, "adaptive_max_pool2d")
    h, w = input.shape[-2:]
    lead = tuple(input.shape[:-2])
    # every window as a row of KH * KW entries (a shorter window repeats its last entry, which changes neither its
    # maximum nor which entry is first to reach it): the maximum of each row and where it is, as max(dim)'s
    windows, (kh, starts_h) = _adaptive_split(input, input.ndim - 2, oh)  # (…, OH, KH, W)
    windows, (kw, starts_w) = _adaptive_split(windows, input.ndim, ow)  # (…, OH, KH, OW, KW)
    k = len(lead)
    windows = windows.permute(*range(k), k, k + 2, k + 1, k + 3).reshape(*lead, oh, ow, kh * kw)
    values, where_max = windows.max(-1)
    values = _as_pytorch_names(values, "AdaptiveMaxPool2DBackward0", input)
    if not return_indices:
        return values
    rows = _constant(starts_h.reshape(-1, 1), where_max) + where_max // kw
    return values, rows * w + _constant(starts_w, where_max) + where_max % kw


def _adaptive_split(x: TensorBase, dim: int, count: int) -> tuple:
    """Axis ``dim`` of ``x`` cut into ``count`` adaptive windows of K entries, (…, count, K, …), a shorter window
    padded with copies of its last entry; and (K, the windows' starts)."""
    size = x.shape[dim]
    starts, ends = _adaptive_windows(size, count)
    if count and not size % count:  # windows that tile the axis: a reshape
        shape = tuple(x.shape[:dim]) + (count, size // count) + tuple(x.shape[dim + 1:])
        return x.reshape(shape), (size // count, starts)
    if not count:  # (no windows: an empty axis, each window of one entry)
        return x[(slice(None),) * dim + (slice(0, 0),)].unsqueeze(dim + 1), (1, starts)
    length = int((ends - starts).max())
    positions = np.minimum(starts[:, None] + np.arange(length), ends[:, None] - 1)
    return x[(slice(None),) * dim + (positions,)], (length, starts)


def adaptive_avg_pool1d(input: TensorBase, output_size) -> TensorBase:
    """Average pooling of an (N, C, L) or (C, L) ``input`` to length ``output_size`` over PyTorch's adaptive
    windows (``adaptive_avg_pool2d`` over an image of height 1).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.adaptive_avg_pool1d(gg.arange(7.0).reshape(1, 7), 3)
    tensor([[1., 3., 5.]])
    """
    _pool1d_input(input, "adaptive_avg_pool1d")
    if output_size is None:
        raise TypeError("adaptive_avg_pool1d(): argument 'output_size' (position 2) must be tuple of ints, not "
                        "NoneType")
    size = _single(output_size, "adaptive_avg_pool1d", "output_size")
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, size)).squeeze(-2)


def adaptive_max_pool1d(input: TensorBase, output_size, return_indices: bool = False):
    """Max pooling of an (N, C, L) or (C, L) ``input`` to length ``output_size`` over PyTorch's adaptive windows
    (``adaptive_max_pool2d`` over an image of height 1); ``return_indices`` also returns the maxima's positions.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.adaptive_max_pool1d(gg.tensor([[1.0, 5.0, 0.0, 3.0, 2.0]]), 2)
    tensor([[5., 3.]])
    """
    _pool1d_input(input, "adaptive_max_pool1d")
    if output_size is None:
        raise TypeError("adaptive_max_pool1d(): argument 'output_size' (position 2) must be tuple of ints, not "
                        "NoneType")
    size = _single(output_size, "adaptive_max_pool1d", "output_size")
    out = adaptive_max_pool2d(input.unsqueeze(-2), (1, size), return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


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


def _torch_broadcast_shapes(*tensors: TensorBase) -> tuple:
    """The broadcast shape of ``tensors``' shapes, with ``torch.broadcast_shapes``'s error for their sizes."""
    common = [1] * max(t.ndim for t in tensors)
    for index, t in enumerate(tensors):
        for axis in range(-1, -1 - t.ndim, -1):
            size = t.shape[axis]
            if size == common[axis]:
                continue
            if common[axis] == 1:
                common[axis] = size
            elif size != 1:
                raise RuntimeError(f"Attempting to broadcast a dimension of length {size} at {axis}! Mismatching "
                                   f"argument at index {index} had {_size(t)}; but expected shape should be "
                                   f"broadcastable to {common}")
    return tuple(common)


def _check_into_loss(input: TensorBase, *shapes: tuple) -> None:
    """The checks of PyTorch's in-place product of the (input-shaped) loss with a factor: ``shapes`` broadcast
    (PyTorch's RuntimeError where they do not), their broadcast shape no larger than the input's."""
    try:
        shape = broadcast_shapes(*(tuple(s) for s in shapes))
    except ShapeError as e:  # PyTorch's own type (ShapeError is a ValueError too)
        raise RuntimeError(str(e)) from None
    if shape != tuple(input.shape):
        raise RuntimeError(f"output with shape {list(input.shape)} doesn't match the broadcast shape {list(shape)}")


def binary_cross_entropy(input: TensorBase, target: TensorBase, weight: TensorBase | None = None, size_average=None,
                         reduce=None, reduction: str = "mean") -> TensorBase:
    """``-(t log p + (1 - t) log(1 - p))`` for probabilities ``p``; the logs are clamped at -100, as in PyTorch,
    so p = 0 or 1 gives a finite loss. An input or target outside [0, 1] raises PyTorch's RuntimeError (compiled
    too: a check in the code), as does a ``weight`` that broadcasts the loss to a larger shape."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({_size(target)}) that is different to the input size "
                         f"({_size(input)}) is deprecated. Please ensure they have the same size.")
    if weight is not None:  # PyTorch's order: the weight's shape, the values, then the loss times the weight
        weight_shape = _torch_broadcast_shapes(target, weight)
    # a primitive, for PyTorch's input gradient (p - t) / max(p (1 - p), 1e-12): finite at p = 0 and 1; it checks
    # the values
    loss = _bce(input, target)
    if weight is not None:
        _check_into_loss(input, weight_shape)
        loss = loss * weight
    return _as_pytorch_names(_reduce(loss, reduction), "BinaryCrossEntropyBackward0", input, target, weight)


def binary_cross_entropy_with_logits(input: TensorBase, target: TensorBase, weight: TensorBase | None = None,
                                     size_average=None, reduce=None, reduction: str = "mean",
                                     pos_weight: TensorBase | None = None) -> TensorBase:
    """Sigmoid and binary cross-entropy in one numerically stable expression:
    ``max(x, 0) - x t + log(1 + exp(-|x|))``, with positives weighted by ``pos_weight`` when given. A ``weight``
    or ``pos_weight`` that broadcasts the loss to a larger shape raises PyTorch's RuntimeError.

    >>> import graphgrad as gg
    >>> round(gg.nn.functional.binary_cross_entropy_with_logits(gg.tensor([0.0]), gg.tensor([1.0])).item(), 4)
    0.6931
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({_size(target)}) must be the same as input size ({_size(input)})")
    # PyTorch computes the loss in place: log_sigmoid(x) *= (pos_weight - 1) * t + 1, then loss *= weight
    if pos_weight is not None:
        _check_into_loss(input, pos_weight.shape, target.shape)
    if weight is not None:
        _check_into_loss(input, input.shape, weight.shape)
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
    smoothing = max(float(label_smoothing), 0.0)  # (PyTorch's: a negative one smooths nothing)
    # (C++'s printing of a double: 2.0 is "2")
    smoothing_error = f"label_smoothing must be between 0.0 and 1.0. Got: {float(label_smoothing):g}"
    class_dim = 1 if input.ndim > 1 else 0
    if tuple(target.shape) == tuple(input.shape):  # PyTorch's rule: class probabilities, whatever the dtype
        if not target.is_floating_point():
            raise RuntimeError(f"Expected floating point type for target with class probabilities, got "
                               f"{_scalar_name(target)}")
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        classes = input.shape[class_dim] if input.ndim else 1
        if weight is not None and (weight.ndim != 1 or weight.shape[0] != classes):
            raise RuntimeError(f"cross_entropy: weight tensor should be defined either for all {classes} classes or "
                               f"no classes but got weight tensor of shape: [{', '.join(map(str, weight.shape))}]")
        if smoothing:
            if smoothing > 1.0:
                raise RuntimeError(smoothing_error)
            target = target * (1 - smoothing) + smoothing / input.shape[class_dim]
        logp = input.log_softmax(class_dim)
        weighted = target if weight is None else target * _along(weight, class_dim, input.ndim)
        return _reduce(-(logp * weighted).sum(class_dim), reduction)
    if smoothing > 1.0:
        raise RuntimeError(smoothing_error)
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
    # PyTorch's order: the shapes, then the target's dtype (its kernel's check)
    if input.ndim == 1:
        if target.ndim != 0:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    else:
        if input.shape[0] != (target.shape[0] if target.ndim else -1):
            raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
                             f"({target.shape[0] if target.ndim else 0}).")
        if input.ndim == 2 and target.ndim != 1:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        if tuple(target.shape) != tuple(input.shape[:1]) + tuple(input.shape[2:]):
            raise RuntimeError(f"Expected target size {list(input.shape[:1] + input.shape[2:])}, got "
                               f"{list(target.shape)}")
    if target._type.dtype != "int64":  # (PyTorch's Byte too: graphgrad has no uint8)
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {_scalar_name(target)}")
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
    else:  # PyTorch's xlogy(t, t) - t * input: 0 log 0 is 0, a negative target gives nan, and the gradient in
        # the target is PyTorch's log(t) + t / t, nan at t = 0 (a where() around the log made it 1 there)
        loss = _xlogy(target, target) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      UserWarning, stacklevel=2)
    return _reduce(loss, reduction)


# -- margin, Poisson, Gaussian and triplet losses (PyTorch's formulas, as composites: gradients come for free) -----
def margin_ranking_loss(input1: TensorBase, input2: TensorBase, target: TensorBase, margin: float = 0,
                        size_average=None, reduce=None, reduction: str = "mean") -> TensorBase:
    """``max(0, -target * (input1 - input2) + margin)``: ``target`` 1 says ``input1`` should rank higher, -1
    lower; the three must have the same number of dimensions (PyTorch's RuntimeError), and broadcast.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.margin_ranking_loss(gg.tensor([1.0, 0.2]), gg.tensor([0.5, 0.4]), gg.tensor([1.0, 1.0]), margin=0.1)
    tensor(0.1500)
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if input1.ndim != input2.ndim or input1.ndim != target.ndim:
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {_size(input1)}, input2: {_size(input2)}, target: {_size(target)} ")
    loss = (-target * (input1 - input2) + margin).clamp_min(0)
    return _reduce(loss, reduction)


def hinge_embedding_loss(input: TensorBase, target: TensorBase, margin: float = 1.0, size_average=None,
                         reduce=None, reduction: str = "mean") -> TensorBase:
    """``input`` where ``target`` is 1, ``max(0, margin - input)`` where it is -1 (for ``input`` a distance);
    PyTorch's kernel adds both terms for any other target value, and so does this.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.hinge_embedding_loss(gg.tensor([0.3, 0.4, 2.0]), gg.tensor([1.0, -1.0, -1.0]), reduction="none")
    tensor([0.3000, 0.6000, 0.0000])
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    # PyTorch's where(target != 1, clamp_min(margin - x, 0), 0) + where(target != -1, x, 0)
    loss = where(target != 1, (margin - input).clamp_min(0), 0.0) + where(target != -1, input, 0.0)
    return _reduce(loss, reduction)


def soft_margin_loss(input: TensorBase, target: TensorBase, size_average=None, reduce=None,
                     reduction: str = "mean") -> TensorBase:
    """``log(1 + exp(-target * input))``, two-class logistic loss for targets of 1 or -1. PyTorch computes it
    into an input-shaped array, so a target that broadcasts the input larger is its RuntimeError.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.soft_margin_loss(gg.tensor([0.0, 2.0]), gg.tensor([1.0, -1.0]), reduction="none")
    tensor([0.6931, 2.1269])
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _check_into_loss(input, input.shape, target.shape)
    # PyTorch's literal formula (not softplus): the same values, overflow and gradient
    return _reduce((-input * target).exp().log1p(), reduction)


def multilabel_soft_margin_loss(input: TensorBase, target: TensorBase, weight: TensorBase | None = None,
                                size_average=None, reduce=None, reduction: str = "mean") -> TensorBase:
    """Binary cross-entropy of logits ``input`` against 0/1 ``target`` per class, averaged over the last
    (class) dimension: one loss per sample; ``weight`` (broadcast) weighs the classes.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.multilabel_soft_margin_loss(gg.tensor([[0.0, 2.0]]), gg.tensor([[1.0, 0.0]]), reduction="none")
    tensor([1.4100])
    """
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce, reduction)
    # PyTorch's Python: computed first, the reduction's name checked last
    try:  # (PyTorch's formula multiplies the target first: its message names the target as tensor a)
        broadcast_shapes(tuple(target.shape), tuple(input.shape))
    except ShapeError as e:
        raise RuntimeError(str(e)) from None
    loss = _bce_logits(input, target)  # -(t log sigmoid(x) + (1 - t) log sigmoid(-x)), PyTorch's exact gradients
    if weight is not None:
        loss = loss * weight
    class_dim = input.ndim - 1
    loss = loss.sum(class_dim) / _size_along_dim(input, class_dim)
    if reduction not in _REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    return _reduce(loss, reduction)


def _size_along_dim(t: TensorBase, dim: int) -> int:
    return t.shape[dim] if t.ndim else 1


def poisson_nll_loss(input: TensorBase, target: TensorBase, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None, reduction: str = "mean") -> TensorBase:
    """Negative log-likelihood of ``target`` counts under Poisson rates: ``exp(input) - target * input`` for
    log-rates (``log_input``), else ``input - target * log(input + eps)``; ``full`` adds Stirling's
    approximation of ``log(target!)``, ``t log t - t + log(2 pi t) / 2``, where ``target > 1``.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.poisson_nll_loss(gg.tensor([0.0, 1.0]), gg.tensor([1.0, 3.0]), full=True, reduction="none")
    tensor([1.0000, 1.4824])
    """
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:  # PyTorch's masked_fill(target <= 1, 0): a where, so log(0) at target 0 never reaches the value
        stirling = target * target.log() - target + 0.5 * (2 * math.pi * target).log()
        loss = loss + where(target <= 1, 0.0, stirling)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: TensorBase, target: TensorBase, var: TensorBase | float, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> TensorBase:
    """``(log(var) + (input - target)² / var) / 2`` (plus ``log(2 pi) / 2`` when ``full``), ``var`` clamped at
    ``eps`` with its gradient passed through the clamp, as PyTorch's. ``var`` has the input's shape, or one
    dimension fewer (the last), or one dimension of size 1 where the input's is not, or is a number; else
    PyTorch's ValueError. A negative variance is refused eagerly (under ``gg.compile`` values are not known).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.gaussian_nll_loss(gg.tensor([[1.0, 2.0]]), gg.tensor([[0.0, 2.0]]), gg.tensor([1.0]), reduction="none")
    tensor([[0.5000, 0.0000]])
    """
    if not isinstance(var, TensorBase):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = input.new_full(tuple(input.shape), float(var))  # PyTorch's var * ones_like(input)
    else:  # (in generated code too: a compiled call with a negative var raised nothing)
        var = check_above(var, 0.0, "var has negative entry/entries", inclusive=True, kind="ValueError")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):  # one variance per sample: broadcast along the last dim
            var = var.unsqueeze(-1)
        elif not (input.ndim == var.ndim and  # PyTorch's test, literally: the mismatched sizes of var sum to 1
                  sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in _REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    var = _clamped_below(var, eps)  # (PyTorch clamps a clone under no_grad)
    diff = input - target
    loss = 0.5 * (var.log() + diff * diff / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def triplet_margin_loss(anchor: TensorBase, positive: TensorBase, negative: TensorBase, margin: float = 1.0,
                        p: float = 2, eps: float = 1e-6, swap: bool = False, size_average=None, reduce=None,
                        reduction: str = "mean") -> TensorBase:
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))`` with ``d`` the
    :func:`pairwise_distance` (``p``, ``eps``); ``swap`` uses ``min(d(a, n), d(p, n))`` for the negative one.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> a, p, n = gg.tensor([[0.0, 0.0]]), gg.tensor([[3.0, 4.0]]), gg.tensor([[1.0, 0.0]])
    >>> F.triplet_margin_loss(a, p, n, eps=0.0)
    tensor(5.)
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and negative "
                           f"{negative.ndim}D inputs")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = d_neg.minimum(pairwise_distance(positive, negative, p, eps))
    return _reduce((margin + d_pos - d_neg).clamp_min(0), reduction)


def multi_margin_loss(input: TensorBase, target: TensorBase, p: int = 1, margin: float = 1.0,
                      weight: TensorBase | None = None, size_average=None, reduce=None,
                      reduction: str = "mean") -> TensorBase:
    """Multi-class hinge loss of scores ``input`` (N, C) or (C,) and class indices ``target``:
    ``sum_{i != y} max(0, margin - x[y] + x[i])^p / C`` per sample (``p`` 1 or 2), each term times
    ``weight[y]`` when given.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.multi_margin_loss(gg.tensor([[0.1, 0.2, 0.4, 0.8]]), gg.tensor([3]))
    tensor(0.3250)
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if p != 1 and p != 2:
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.ndim != 1:
        raise ValueError("weight must be one-dimensional")
    # PyTorch's kernel's checks, in its order
    if not ((input.ndim == 2 and input.shape[1] != 0) or (input.ndim == 1 and input.shape[0] != 0)
            or input.ndim == 0):
        raise RuntimeError(f"Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
                           f"{list(input.shape)}")
    frames, classes = (input.shape[0], input.shape[1]) if input.ndim == 2 else (1, _size_along_dim(input, 0))
    if target.ndim > 1 or int(np.prod(target.shape)) != frames:
        raise RuntimeError(f"multi_margin_loss: target tensor should be 1-D with size equal to the number of input "
                           f"samples (batch size). Expected target size [{frames}], but got {list(target.shape)}. "
                           f"Input has shape {list(input.shape)}.")
    if weight is not None and weight.shape[0] != classes:
        raise RuntimeError(f"inconsistent weight size, expected {classes} but got {list(weight.shape)}")
    if target._type.dtype != "int64":
        raise RuntimeError(f"expected scalar type Long but found {_scalar_name(target)}")
    if weight is not None and weight._type.dtype != input._type.dtype:
        raise RuntimeError(f"expected scalar type {_scalar_name(input)} but found {_scalar_name(weight)}")
    labels = target.reshape((frames,))
    labels = check_range(labels, "target out of range", classes)  # (PyTorch's words, compiled too)
    scores = input.reshape((frames, classes))
    picked = scores[(_arange_on(frames, labels), labels)].unsqueeze(1)
    hinge = (margin - picked + scores).relu()  # PyTorch's z > 0: no gradient at z = 0, as relu's
    if p == 2:
        hinge = hinge * hinge
    if weight is not None:
        hinge = hinge * weight[labels].unsqueeze(1)
    hinge = where(_one_hot_mask(labels, classes), 0.0, hinge)  # the target's own class is no margin
    loss = (hinge.sum(1) / classes).reshape(tuple(target.shape))
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
    if mode not in ("reflect", "replicate", "circular"):  # (PyTorch's first check)
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise RuntimeError("Padding length must be divisible by 2" if len(pad) % 2 else
                           f"Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {input.ndim}")
    _check_mode_pad(input, pad, mode, value)
    out = input
    for k in range(len(pad) // 2):
        out = _pad_dim(out, input.ndim - 1 - k, int(pad[2 * k]), int(pad[2 * k + 1]), mode)
    return out


def _check_mode_pad(input: TensorBase, pad: tuple, mode: str, value) -> None:
    """PyTorch's limits on reflect, replicate and circular padding: of the last 1 to 3 dimensions of an input
    with one or two more (a batch, channels), no value, and (reflect, replicate) no empty dimension but the
    batch; (reflect, replicate) no bool input."""
    if value is not None and value != 0:  # (PyTorch's: a value of 0 is no value)
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    dims = len(pad) // 2
    if dims > 3 or input.ndim not in (dims + 1, dims + 2):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {input.ndim}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    if mode != "circular" and 0 in tuple(input.shape)[input.ndim - dims - 1:]:
        raise RuntimeError(f"Expected {dims + 1}D or {dims + 2}D (batch mode) tensor with possibly 0 batch size and "
                           f"other non-zero dimensions for input, but got: {list(input.shape)}")
    if mode != "circular" and input._type.dtype == "bool":  # (PyTorch's kernels have no bool loop)
        kernel = "reflection" if mode == "reflect" else "replication"
        raise NotImplementedError(f"\"{kernel}_pad{dims}d\" not implemented for 'Bool'")


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


# == more of PyTorch's functionals, composites of existing ops: PReLU, GLU, softmin, threshold, distances, bilinear,
# group/instance/local response norm, channel-wise and alpha dropout, RReLU, gumbel_softmax, channel and pixel
# shuffles, interpolate ==========================================================================================
import math as _math  # noqa: E402

from ..ir.registry import broadcast_shapes as _broadcast_shapes, normalize_dims as _normalize_dims  # noqa: E402
from ..ir.types import TensorType as _TensorType  # noqa: E402
from ..ops.nn import _maybe_inplace  # noqa: E402


def _random_like(input: TensorBase, shape: tuple, draw, name: str) -> TensorBase:
    """``draw()`` (random numbers of ``shape``) in ``input``'s dtype, for an op with ``input``: drawn now on the
    host (one generator for every device) and moved where ``input`` is; traced, a graph input drawn afresh at every
    call, as dropout's mask."""
    dtype = np.dtype(input._type.dtype)

    def cast():
        return np.asarray(draw(), dtype=dtype)

    if isinstance(input, Tensor):
        return Tensor._wrap(cast()).to(input.device)
    return input.tracer.random_input(_TensorType(tuple(shape), input._type.dtype), cast, name)


def _host_constant(array, like: TensorBase) -> Tensor:
    """A constant array in ``like``'s dtype, as a tensor on ``like``'s device (traced: where the specialization
    runs, and the trace takes it as an input; a NumPy array would reach a CuPy kernel as such)."""
    return Tensor._wrap(np.asarray(array, dtype=np.dtype(like._type.dtype))).to(like.device)


def _take(x: TensorBase, dim: int, positions: np.ndarray) -> TensorBase:
    """``x`` at integer ``positions`` along ``dim`` (a gather whose gradient scatter-adds back)."""
    return x[(slice(None),) * dim + (positions,)]


def prelu(input: TensorBase, weight: TensorBase) -> TensorBase:
    """``x`` where positive, ``weight * x`` elsewhere, ``weight`` one slope or one per channel (dimension 1).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.prelu(gg.tensor([[-2.0, 3.0], [-4.0, 1.0]]), gg.tensor([0.5, 0.25]))
    tensor([[-1.,  3.],
            [-2.,  1.]])
    """
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}")
    count = weight.numel()
    if count != 1:
        if input.ndim == 0:
            raise RuntimeError("Not allow zero-dim input tensor.")
        channels = input.shape[1] if input.ndim >= 2 else 1
        if count != channels:
            raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                               f"{count} and channel size = {channels}.")
        slope = weight.reshape((count,) + (1,) * (input.ndim - 2))
    else:
        slope = weight.reshape(())
    return _as_pytorch_names(where(input > 0, input, slope * input), "PreluKernelBackward0", input, weight)


def glu(input: TensorBase, dim: int = -1) -> TensorBase:
    """The gated linear unit: ``a * sigmoid(b)`` for the halves ``a``, ``b`` of ``input`` along ``dim``.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.glu(gg.tensor([[1.0, 2.0, 0.0, 100.0]]))
    tensor([[0.5000, 2.0000]])
    """
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    (dim,) = _normalize_dims(dim, input.ndim)
    size = input.shape[dim]
    if size % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {dim} is size {size}")
    first, second = input.split(size // 2, dim)
    return _as_pytorch_names(first * second.sigmoid(), "GluBackward0", input)


def _softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as "
                  f"an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmin(input: TensorBase, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> TensorBase:
    """``softmax(-input, dim)`` (``dtype``: computed in that dtype); no ``dim`` picks PyTorch's implicit one,
    with its deprecation warning.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.softmin(gg.tensor([0.0, 0.6931472]), dim=0)
    tensor([0.6667, 0.3333])
    """
    if dim is None:
        dim = _softmax_dim("softmin", input.ndim, _stacklevel)
    negated = -input
    return (negated if dtype is None else negated.to(dtype)).softmax(dim)


def threshold(input: TensorBase, threshold: float, value: float, inplace: bool = False) -> TensorBase:
    """``x`` where ``x > threshold``, else ``value`` (a nan stays nan, as in PyTorch).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.threshold(gg.tensor([-1.0, 0.5, 2.0]), 0.5, 9.0)
    tensor([9., 9., 2.])
    """
    return _maybe_inplace(input, inplace, lambda x: where(x <= threshold, value, x), "ThresholdBackward0")


def _broadcast_pair(x1: TensorBase, x2: TensorBase) -> tuple:
    shape = _broadcast_shapes(tuple(x1.shape), tuple(x2.shape))  # PyTorch's text on a mismatch
    return (x1 if tuple(x1.shape) == shape else x1.expand(shape),
            x2 if tuple(x2.shape) == shape else x2.expand(shape))


def _clamped_below(x: TensorBase, eps: float) -> TensorBase:
    """``max(x, eps)`` whose gradient is ``x``'s own everywhere, as a clamp PyTorch makes in place under no_grad
    (autograd never sees it): eps exactly where ``x`` is below it, gradient 1 into ``x``."""
    small = x.detach() < eps
    return where(small, (x - x.detach()) + eps, x)


def _clamped_norm(x: TensorBase, dim: int, eps: float) -> TensorBase:
    """``max(‖x‖, eps)`` along ``dim`` (kept), whose gradient is the norm's own, as PyTorch 2.x's
    cosine_similarity clamps each norm."""
    return _clamped_below(x.norm(2, dim, keepdim=True), eps)


def cosine_similarity(x1: TensorBase, x2: TensorBase, dim: int = 1, eps: float = 1e-8) -> TensorBase:
    """``sum(x1 / max(‖x1‖, eps) * x2 / max(‖x2‖, eps))`` along ``dim`` (inputs broadcast), each norm clamped
    separately, as PyTorch 2.x.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.cosine_similarity(gg.tensor([[1.0, 0.0], [1.0, 1.0]]), gg.tensor([[1.0, 1.0], [-2.0, -2.0]]))
    tensor([ 0.7071, -1.0000])
    """
    x1, x2 = _broadcast_pair(x1, x2)
    (dim,) = _normalize_dims(dim, x1.ndim)
    return ((x1 / _clamped_norm(x1, dim, eps)) * (x2 / _clamped_norm(x2, dim, eps))).sum(dim)


def pairwise_distance(x1: TensorBase, x2: TensorBase, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> TensorBase:
    """``‖x1 - x2 + eps‖_p`` over the last dimension (inputs broadcast).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.pairwise_distance(gg.tensor([[3.0, 4.0]]), gg.tensor([[0.0, 0.0]]), eps=0.0)
    tensor([5.])
    """
    out = (x1 - x2 + eps).norm(p, max(x1.ndim, x2.ndim) - 1, keepdim=keepdim)
    return _as_pytorch_names(out, "NormBackward1")


def pdist(input: TensorBase, p: float = 2.0) -> TensorBase:
    """The p-norm distances between the rows of an (N, M) ``input``, pairs ``i < j`` in row-major order
    (N(N-1)/2 of them), with PyTorch's gradients: 0 where a distance is 0 (and, for p < 1, from equal
    coordinates), and for ``p = inf`` the whole gradient to each coordinate that ties for the maximum.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.pdist(gg.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]]))
    tensor([5.0000, 1.0000, 4.2426])
    """
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    first, second = np.triu_indices(input.shape[0], 1)
    diff = input[first] - input[second]
    size = diff.abs()
    if p == 0:  # the number of differing coordinates; gradient 0, through a where that never picks the input
        dist = (size != 0).type_as(input).sum(-1) + where(size < 0, size, 0.0).sum(-1)
    elif p == float("inf"):
        top = size.amax(-1, keepdim=True)
        ties = where(size == top, size, 0.0)  # every tying coordinate gets the whole gradient, as PyTorch's
        dist = top.squeeze(-1).detach() + (ties - ties.detach()).sum(-1)
    else:
        nonzero = size > 0  # |0|^p contributes 0 and passes no gradient (PyTorch's, for p < 1 too)
        total = where(nonzero, where(nonzero, size, 1.0) ** p if p != 1 else size, 0.0).sum(-1)
        if p == 1:
            dist = total
        else:
            positive = total > 0  # a zero distance passes no gradient
            safe = where(positive, total, 1.0)
            dist = where(positive, safe.sqrt() if p == 2 else safe ** (1.0 / p), 0.0)
    return _as_pytorch_names(dist, "PdistBackward0", input)


def bilinear(input1: TensorBase, input2: TensorBase, weight: TensorBase, bias: TensorBase | None = None
             ) -> TensorBase:
    """``y[..., o] = sum_ij input1[..., i] weight[o, i, j] input2[..., j] + bias[o]``.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.bilinear(gg.tensor([[1.0, 2.0]]), gg.tensor([[3.0]]), gg.ones(1, 2, 1), gg.tensor([0.5]))
    tensor([[9.5000]])
    """
    if input1.ndim != input2.ndim:
        raise RuntimeError(f"bilinear(): input dimensions do not match: got {input1.ndim} and {input2.ndim}")
    for i in range(input1.ndim - 1):
        if input1.shape[i] != input2.shape[i]:
            raise RuntimeError(f"bilinear(): input batch dimensions do not match: got {input1.shape[i]} and "
                               f"{input2.shape[i]}")
    out_features, in1, in2 = weight.shape
    if input1.shape[-1] != in1:
        raise RuntimeError(f"bilinear(): input1 size does not match weight size: got {input1.shape[-1]} but "
                           f"expected {in1}")
    if input2.shape[-1] != in2:
        raise RuntimeError(f"bilinear(): input2 size does not match weight size: got {input2.shape[-1]} but "
                           f"expected {in2}")
    if bias is not None and bias.shape[0] != out_features:
        raise RuntimeError(f"bilinear(): bias size does not match weight size: got {bias.shape[0]} but expected "
                           f"{out_features}")
    # one matrix product, input1 against every (o, j) column, then the sum against input2
    mixed = input1 @ weight.permute(1, 0, 2).reshape(in1, out_features * in2)
    out = (mixed.reshape(tuple(input1.shape[:-1]) + (out_features, in2)) * input2.unsqueeze(-2)).sum(-1)
    return out if bias is None else out + bias


def _verify_batch_size(size: list) -> None:
    count = size[0]
    for s in size[2:]:
        count *= s
    if count == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {size}")


def group_norm(input: TensorBase, num_groups: int, weight: TensorBase | None = None,
               bias: TensorBase | None = None, eps: float = 1e-5) -> TensorBase:
    """Normalize each sample's channels (dimension 1) in ``num_groups`` groups, over each group's channels and
    positions (biased variance), then scale and shift per channel.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.group_norm(gg.tensor([[1.0, 3.0, 10.0, 10.0]]), 2, eps=0.0)
    tensor([[-1.,  1., nan, nan]])
    """
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
    n, c = input.shape[:2]
    _verify_batch_size([n * c // num_groups, num_groups] + list(input.shape[2:]))
    if c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input of "
                           f"shape {list(input.shape)} and num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.ndim != 1 or t.shape[0] != c):
            raise RuntimeError(f"Expected {name} to be a vector of size equal to the number of channels in input, "
                               f"but got {name} of shape {list(t.shape)} and input of shape {list(input.shape)}")
    grouped = input.reshape(n, num_groups, -1)
    centered = grouped - grouped.mean(-1, keepdim=True)
    out = (centered / ((centered * centered).mean(-1, keepdim=True) + eps).sqrt()).reshape(tuple(input.shape))
    shape = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return _as_pytorch_names(out, "NativeGroupNormBackward0", input, weight, bias)


def instance_norm(input: TensorBase, running_mean: TensorBase | None = None,
                  running_var: TensorBase | None = None, weight: TensorBase | None = None,
                  bias: TensorBase | None = None, use_input_stats: bool = True, momentum: float = 0.1,
                  eps: float = 1e-5) -> TensorBase:
    """Normalize each channel of each sample over its positions (dimensions 2...), biased variance; with
    ``use_input_stats`` and running statistics given, those move toward the batch average of the samples' means
    and unbiased variances (in place); without ``use_input_stats`` the running statistics normalize.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.instance_norm(gg.tensor([[[1.0, 3.0], [5.0, 5.0]]]), eps=0.0)[0, 0]
    tensor([-1.,  1.])
    """
    dims = tuple(range(2, input.ndim))
    shape = (1, input.shape[1]) + (1,) * (input.ndim - 2)
    if use_input_stats:
        count = 1
        for s in input.shape[2:]:
            count *= s
        if count == 1:
            raise ValueError(f"Expected more than 1 spatial element when training, got input size "
                             f"torch.Size({list(input.shape)})")
        mean = input.mean(dims, keepdim=True)
        centered = input - mean
        var = (centered * centered).mean(dims, keepdim=True)
        if running_mean is not None:
            _update_running(running_mean, mean.reshape(input.shape[:2]).mean(0), momentum)
        if running_var is not None:
            _update_running(running_var, var.reshape(input.shape[:2]).mean(0), momentum, count / (count - 1))
    else:
        centered = input - running_mean.reshape(shape)
        var = running_var.reshape(shape)
    out = centered / (var + eps).sqrt()
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def local_response_norm(input: TensorBase, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> TensorBase:
    """``x / (k + alpha / size * sum of x² over the ``size`` channels around it)^beta`` (channels past either
    end count as 0), over dimension 1 of a 3-D or larger input.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.local_response_norm(gg.tensor([[[2.0], [0.0]]]), 2, alpha=1.0, beta=1.0)
    tensor([[[0.6667],
             [0.0000]]])
    """
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality                          input (got {input.ndim} "
                         f"dimensions)")
    if input.numel() == 0:
        return input
    channels = input.shape[1]
    squares = _constant_pad(input * input, (0, 0) * (input.ndim - 2) + (size // 2, (size - 1) // 2))
    total = squares[:, 0:channels]
    for shift in range(1, size):
        total = total + squares[:, shift:shift + channels]
    return input / ((total / size) * alpha + k) ** beta


def _check_dropout_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _channel_dropout(input: TensorBase, p: float, training: bool, inplace: bool, mask_shape: tuple) -> TensorBase:
    """Zero whole channels (the mask broadcast over positions) with probability ``p``, scale the rest by
    ``1/(1-p)``."""
    if p == 0 or not training or input.numel() == 0:
        return input
    if p == 1:
        return _maybe_inplace(input, inplace, lambda x: x * 0.0, "MulBackward0")
    dtype = np.dtype(input._type.dtype)
    mask = _random_like(input, mask_shape, lambda: (_rng(None).random(mask_shape) >= p).astype(dtype)
                        / dtype.type(1.0 - p), "mask")
    return _maybe_inplace(input, inplace, lambda x: x * mask, "MulBackward0")


def _feature_dropout(input: TensorBase, p: float, training: bool, inplace: bool) -> TensorBase:
    if input.ndim < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    return _channel_dropout(input, p, training, inplace, tuple(input.shape[:2]) + (1,) * (input.ndim - 2))


def dropout1d(input: TensorBase, p: float = 0.5, training: bool = True, inplace: bool = False) -> TensorBase:
    """Zero each channel of an (N, C, L) or (C, L) input, whole, with probability ``p``; scale the rest by
    ``1/(1-p)``.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> x = F.dropout1d(gg.ones(8, 4, 3))
    >>> bool(((x == 0).all(-1) | (x == 2).all(-1)).all())
    True
    """
    _check_dropout_p(p)
    if input.ndim not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that "
                           "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, a "
                           "channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    if input.ndim == 3:
        return _feature_dropout(input, p, training, inplace)
    return _channel_dropout(input, p, training, inplace, (input.shape[0], 1))  # unbatched: (C, L)


def dropout2d(input: TensorBase, p: float = 0.5, training: bool = True, inplace: bool = False) -> TensorBase:
    """Zero each channel of an (N, C, H, W) input, whole, with probability ``p``; scale the rest by
    ``1/(1-p)``. As in PyTorch, a 3-D input is taken as (N, C, L), with a warning.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> x = F.dropout2d(gg.ones(8, 4, 3, 3), p=0.25)
    >>> sorted(set(x.flatten().tolist()))
    [0.0, 1.3333333730697632]
    """
    _check_dropout_p(p)
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and will "
                      "result in an error in a future release. To retain the behavior and silence this warning, "
                      "please use dropout instead. Note that dropout2d exists to provide channel-wise dropout on "
                      "inputs with 2 spatial dimensions, a channel dimension, and an optional batch dimension "
                      "(i.e. 3D or 4D inputs).", stacklevel=2)
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel dim. "
                      "This behavior will change in a future release to interpret the input as one without a "
                      "batch dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout behavior, "
                      "please switch to using dropout1d instead.", stacklevel=2)
    return _feature_dropout(input, p, training, inplace)


_SELU_ALPHA = 1.7580993408473766  # SELU's -scale * alpha: the value dropped elements take


def alpha_dropout(input: TensorBase, p: float = 0.5, training: bool = False, inplace: bool = False) -> TensorBase:
    """Dropout that keeps SELU's self-normalization: dropped elements become SELU's negative saturation, then
    ``a * x + b`` restores zero mean and unit variance. Note ``training=False`` by default, as in PyTorch.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> x = F.alpha_dropout(gg.zeros(1000), 0.2, training=True)
    >>> sorted({round(v, 4) for v in x.tolist()})
    [-1.2362, 0.309]
    """
    _check_dropout_p(p)
    if p == 0 or not training or input.numel() == 0:
        return input
    if p == 1:
        return _maybe_inplace(input, inplace, lambda x: x * 0.0, "MulBackward0")
    shape = tuple(input.shape)
    keep = _random_like(input, shape, lambda: _rng(None).random(shape) >= p, "mask")
    a = 1.0 / _math.sqrt((_SELU_ALPHA * _SELU_ALPHA * p + 1) * (1 - p))
    shift = (keep - 1) * (_SELU_ALPHA * a) + _SELU_ALPHA * a * p
    return _maybe_inplace(input, inplace, lambda x: x * (keep * a) + shift, "AddBackward0")


def rrelu(input: TensorBase, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> TensorBase:
    """Randomized leaky ReLU: while training, each non-positive element is multiplied by a slope drawn from
    U(lower, upper); otherwise the slope is ``(lower + upper) / 2``, deterministically.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.rrelu(gg.tensor([-1.0, 2.0]), 0.1, 0.3)
    tensor([-0.2000,  2.0000])
    """
    if lower > upper:
        raise RuntimeError("Lower bound should be less than or equal to the upper bound")
    if not training:
        slope = (lower + upper) / 2
        return _maybe_inplace(input, inplace, lambda x: where(x > 0, x, x * slope), "RreluWithNoiseBackward0")
    shape = tuple(input.shape)
    slopes = _random_like(input, shape, lambda: _rng(None).uniform(lower, upper, shape), "noise")
    return _maybe_inplace(input, inplace, lambda x: x * where(x <= 0, slopes, 1.0), "RreluWithNoiseBackward0")


def gumbel_softmax(logits: TensorBase, tau: float = 1, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1) -> TensorBase:
    """``softmax((logits + g) / tau)`` along ``dim`` with Gumbel(0, 1) noise ``g``; ``hard=True`` returns the
    one-hot of its maximum, whose gradient is the soft sample's (straight through).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> y = F.gumbel_softmax(gg.zeros(4, 3), hard=True)
    >>> y.sum(-1)
    tensor([1., 1., 1., 1.])
    """
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    shape = tuple(logits.shape)
    gumbels = _random_like(logits, shape, lambda: -np.log(_rng(None).standard_exponential(shape)), "gumbels")
    y_soft = ((logits + gumbels) / tau).softmax(dim)
    if not hard:
        return y_soft
    (axis,) = _normalize_dims(dim, logits.ndim)
    index = y_soft.argmax(axis, keepdim=True)
    positions = _arange_on(shape[axis], logits).reshape((-1,) + (1,) * (logits.ndim - 1 - axis))
    y_hard = (positions == index).type_as(y_soft)
    return y_hard - y_soft.detach() + y_soft


def channel_shuffle(input: TensorBase, groups: int) -> TensorBase:
    """Split the channels (dimension 1) into ``groups`` and interleave them: (N, g*k, *) read as (N, g, k, *),
    transposed to (N, k, g, *).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.channel_shuffle(gg.arange(6.0).reshape(1, 6, 1), 2).flatten()
    tensor([0., 3., 1., 4., 2., 5.])
    """
    if input.ndim <= 2:
        raise RuntimeError(f"channel_shuffle expects input with > 2 dims, but got input with sizes "
                           f"{list(input.shape)}")
    if groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of groups:{groups}")
    n, c = input.shape[:2]
    if c % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels and {groups} groups.")
    rest = tuple(input.shape[2:])
    out = fresh(input.reshape((n, groups, c // groups) + rest).transpose(1, 2).reshape(tuple(input.shape)))
    return _as_pytorch_names(out, "ChannelShuffleBackward0", input)


def pixel_shuffle(input: TensorBase, upscale_factor: int) -> TensorBase:
    """(*, C r², H, W) to (*, C, H r, W r): each group of r² channels becomes an r x r block of pixels.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.pixel_shuffle(gg.arange(4.0).reshape(1, 4, 1, 1), 2)
    tensor([[[[0., 1.],
              [2., 3.]]]])
    """
    r = upscale_factor
    if input.ndim < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    c, h, w = input.shape[-3:]
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    batch, b = tuple(input.shape[:-3]), input.ndim - 3
    out = input.reshape(batch + (c // (r * r), r, r, h, w))
    out = out.permute(tuple(range(b)) + (b, b + 3, b + 1, b + 4, b + 2)).reshape(batch + (c // (r * r), h * r, w * r))
    return _as_pytorch_names(fresh(out), "PixelShuffleBackward0", input)


def pixel_unshuffle(input: TensorBase, downscale_factor: int) -> TensorBase:
    """(*, C, H r, W r) to (*, C r², H, W), the inverse of :func:`pixel_shuffle`.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.pixel_unshuffle(gg.arange(4.0).reshape(1, 1, 2, 2), 2).flatten()
    tensor([0., 1., 2., 3.])
    """
    r = downscale_factor
    if input.ndim < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
    c, h, w = input.shape[-3:]
    if h % r:
        raise RuntimeError(f"pixel_unshuffle expects height to be divisible by downscale_factor, but input.size(-2)="
                           f"{h} is not divisible by {r}")
    if w % r:
        raise RuntimeError(f"pixel_unshuffle expects width to be divisible by downscale_factor, but input.size(-1)="
                           f"{w} is not divisible by {r}")
    batch, b = tuple(input.shape[:-3]), input.ndim - 3
    out = input.reshape(batch + (c, h // r, r, w // r, r))
    out = out.permute(tuple(range(b)) + (b, b + 2, b + 4, b + 1, b + 3)).reshape(batch + (c * r * r, h // r, w // r))
    return _as_pytorch_names(fresh(out), "PixelUnshuffleBackward0", input)


_LINEAR_MODES = {"linear": 3, "bilinear": 4, "trilinear": 5}


def interpolate(input: TensorBase, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> TensorBase:
    """Resample the spatial dimensions (2...) of an (N, C, ...) input to ``size``, or ``scale_factor`` times
    theirs (rounded down), as PyTorch computes it: ``nearest`` (source index ``floor(i * in / out)``, PyTorch's),
    ``nearest-exact``, ``linear`` (3-D), ``bilinear`` and ``bicubic`` (4-D), ``trilinear`` (5-D), with ``align_corners``
    matching the corner pixels' centres (True) or edges (False), and ``area`` (4-D). A given ``scale_factor``
    sets the source positions (``1 / scale_factor`` apart) unless ``recompute_scale_factor``.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> x = gg.tensor([[[0.0, 1.0]]])
    >>> F.interpolate(x, scale_factor=2), F.interpolate(x, size=3, mode="linear", align_corners=True)
    (tensor([[[0., 0., 1., 1.]]]), tensor([[[0.0000, 0.5000, 1.0000]]]))
    """
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    dim = input.ndim - 2
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(f"Input and output must have the same number of spatial dimensions, but got input "
                                 f"with spatial dimensions of {list(input.shape[2:])} and output size of {size}. "
                                 "Please provide input tensor in (N, C, d1, d2, ...,dK) format and output size in "
                                 "(o1, o2, ...,oK) format.")
            if not all(isinstance(s, (int, np.integer)) for s in size):
                raise TypeError("expected size to be one of int or Tuple[int] or Tuple[int, int] or "
                                f"Tuple[int, int, int], but got size with types {[type(s) for s in size]}")
            output_size = [int(s) for s in size]
        else:
            output_size = [int(size)] * dim
        scale_factors = None
    elif scale_factor is not None:
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(f"Input and scale_factor must have the same number of spatial dimensions, but got "
                                 f"input with spatial dimensions of {list(input.shape[2:])} and scale_factor of "
                                 f"shape {scale_factor}. Please provide input tensor in (N, C, d1, d2, ...,dK) "
                                 "format and scale_factor in (s1, s2, ...,sK) format.")
            scale_factors = [float(s) for s in scale_factor]
        else:
            scale_factors = [float(scale_factor)] * dim
        output_size = None
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if mode == "area" and output_size is None:
        recompute_scale_factor = True
    if recompute_scale_factor:  # the size from the factor, then positions from the sizes alone
        output_size = [_math.floor(input.shape[i + 2] * scale_factors[i]) for i in range(dim)]
        scale_factors = None
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and input.ndim == 4):
        raise ValueError("Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires a "
                         "4-D tensor as input")
    supported = (mode in ("nearest", "nearest-exact") and input.ndim in (3, 4, 5)
                 or _LINEAR_MODES.get(mode) == input.ndim or mode == "bicubic" and input.ndim == 4)
    if supported and not antialias:
        return _upsample(input, output_size, scale_factors, mode, align_corners)
    if mode == "area" and input.ndim == 4:
        return adaptive_avg_pool2d(input, output_size)
    if mode in _LINEAR_MODES and input.ndim in (3, 4, 5) and _LINEAR_MODES[mode] != input.ndim:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {_LINEAR_MODES[mode]}D input")
    if input.ndim in (3, 4, 5) and (mode in ("lanczos", "area", "bilinear") or mode == "bicubic" and input.ndim == 4):
        raise NotImplementedError(f"interpolate: mode={mode!r}{' with antialias=True' if antialias else ''} on a "
                                  f"{input.ndim}-D input is not supported (nearest, nearest-exact, linear, bilinear, "
                                  "trilinear, and area on 4-D inputs are)")
    raise NotImplementedError("Input Error: Only 3D, 4D and 5D input Tensors supported"
                              f" (got {input.ndim}D) for the modes: nearest | linear | bilinear | bicubic | trilinear"
                              f" | lanczos | area | nearest-exact (got {mode})")


def _upsample(input: TensorBase, output_size, scale_factors, mode: str, align_corners: bool) -> TensorBase:
    spatial = tuple(input.shape[2:])
    dim = len(spatial)
    if output_size is None:  # PyTorch's (int64_t)(double(size) * scale)
        output_size = [int(spatial[i] * scale_factors[i]) for i in range(dim)]
    if any(s <= 0 for s in spatial) or any(o <= 0 for o in output_size):
        labels = "DHW"[3 - dim:]
        given = ", ".join(f"{a}: {s}" for a, s in zip(labels, spatial))
        wanted = ", ".join(f"{a}: {s}" for a, s in zip(labels, output_size))
        raise RuntimeError(f"Input and output sizes should be greater than 0, but got input ({given})"
                           f"{' and' if dim == 1 else ''} output ({wanted})")
    out = input
    for k in range(dim):
        scale = scale_factors[k] if scale_factors is not None else None
        out = _resample(out, 2 + k, spatial[k], output_size[k], scale, mode, align_corners)
    if mode in ("nearest", "nearest-exact"):
        name = f"{'UpsampleNearestExact' if mode == 'nearest-exact' else 'UpsampleNearest'}{dim}DBackward0"
    else:
        name = {"linear": "UpsampleLinear1DBackward0", "bilinear": "UpsampleBilinear2DBackward0",
                "bicubic": "UpsampleBicubic2DBackward0", "trilinear": "UpsampleTrilinear3DBackward0"}[mode]
    return _as_pytorch_names(out if out is not input else input * 1, name, input)


def _resample(x: TensorBase, axis: int, size: int, out_size: int, scale, mode: str, align_corners: bool
              ) -> TensorBase:
    """One spatial axis of :func:`interpolate`, with PyTorch's source indices and weights (its CPU kernels'
    arithmetic, in the input's dtype; nearest on 4-D inputs copies, or repeats each sample twice, when the size stays
    or doubles, whatever the scale given, as PyTorch's 2-D kernel does, and its 1-D and 3-D ones do not)."""
    positions = np.arange(out_size)
    opmath = np.dtype(x._type.dtype).type
    if mode in ("nearest", "nearest-exact"):  # source scale * i (exact: scale * (i + 0.5)), floored as a float
        if mode == "nearest" and x.ndim == 4 and out_size in (size, 2 * size):
            return x if out_size == size else _take(x, axis, positions >> 1)  # PyTorch's 2-D kernel's shortcuts
        ratio = opmath(1.0 / scale) if scale is not None and scale > 0 else opmath(size) / opmath(out_size)
        if mode == "nearest":
            source = np.floor((ratio * positions.astype(opmath)).astype(np.float32))
        else:
            centre = np.maximum(ratio * (positions.astype(opmath) + opmath(0.5)) - opmath(0.5), opmath(0))
            source = np.floor((centre.astype(np.float64) + 0.5).astype(np.float32))
        return _take(x, axis, np.minimum(source.astype(np.int64), size - 1))
    if mode == "bicubic":  # (no copy at an equal size: the weights are then exactly 0, 1, 0, 0)
        return _bicubic(x, axis, size, out_size, scale, align_corners, positions, opmath)
    if out_size == size:  # PyTorch's linear kernels copy then, whatever the scale
        return x
    if align_corners:
        ratio = opmath(size - 1) / opmath(out_size - 1) if out_size > 1 else opmath(0)
        source = ratio * positions.astype(opmath)
    else:
        ratio = opmath(1.0 / scale) if scale is not None and scale > 0 else opmath(size) / opmath(out_size)
        source = np.maximum(ratio * (positions.astype(opmath) + opmath(0.5)) - opmath(0.5), opmath(0))
    low = np.minimum(np.floor(source).astype(np.int64), size - 1)
    high = np.where(low < size - 1, low + 1, low)
    weight_high = np.clip(source - low, 0, 1).astype(opmath)
    weight_low = opmath(1) - weight_high
    trailing = (1,) * (x.ndim - axis - 1)
    return (_take(x, axis, low) * _host_constant(weight_low.reshape((-1,) + trailing), x)
            + _take(x, axis, high) * _host_constant(weight_high.reshape((-1,) + trailing), x))


_GRID_WARNING = ("Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. Please "
                 "specify align_corners=True if the old behavior is desired. See the documentation of grid_sample for "
                 "details.")


def _bicubic(x: TensorBase, axis: int, size: int, out_size: int, scale, align_corners: bool, positions: np.ndarray,
             opmath) -> TensorBase:
    """Cubic convolution along one axis, as PyTorch's ``upsample_bicubic2d``: the source position of each output
    (not clamped at 0, unlike the linear modes'), its four neighbours from one before to two after, each clamped
    into the axis (the edge repeated), weighted by :func:`_cubic_weights` of the fractional part."""
    if align_corners:
        ratio = opmath(size - 1) / opmath(out_size - 1) if out_size > 1 else opmath(0)
        source = ratio * positions.astype(opmath)
    else:
        ratio = opmath(1.0 / scale) if scale is not None and scale > 0 else opmath(size) / opmath(out_size)
        source = ratio * (positions.astype(opmath) + opmath(0.5)) - opmath(0.5)
    low = np.floor(source)
    trailing = (1,) * (x.ndim - axis - 1)
    out = 0
    for k, weight in enumerate(_cubic_weights((source - low).astype(opmath))):
        taps = np.clip(low.astype(np.int64) + (k - 1), 0, size - 1)
        out = out + _take(x, axis, taps) * _host_constant(weight.reshape((-1,) + trailing), x)
    return out


def affine_grid(theta: TensorBase, size, align_corners: bool | None = None) -> TensorBase:
    """The sampling grid of a batch of affine maps, for :func:`grid_sample`: for an (N, C, H, W) ``size`` and an
    (N, 2, 3) ``theta``, an (N, H, W, 2) grid of ``theta @ (x, y, 1)`` over the output's pixels in [-1, 1]
    coordinates (x along W); for an (N, C, D, H, W) ``size``, (N, 3, 4) maps and an (N, D, H, W, 3) grid.
    ``align_corners`` places -1 and 1 at the corner pixels' centres (True) or edges (False, the default).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> identity = gg.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    >>> F.affine_grid(identity, (1, 1, 1, 3), align_corners=True)
    tensor([[[[-1.,  0.],
              [ 0.,  0.],
              [ 1.,  0.]]]])
    """
    if align_corners is None:
        warnings.warn(_GRID_WARNING, stacklevel=2)
        align_corners = False
    if theta._type.dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise ValueError(f"Expected theta to have floating point type, but got {dtypes.BY_NAME[theta._type.dtype]}")
    given, size = size, tuple(int(s) for s in size)  # (messages show the size as given, as PyTorch's)
    if len(size) not in (4, 5):
        raise NotImplementedError("affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
                                  f"respectively. Got size {given}.")
    rows, spatial = len(size) - 2, size[2:]
    if theta.ndim != 3 or tuple(theta.shape[-2:]) != (rows, rows + 1):
        raise ValueError(f"Expected a batch of {rows}D affine matrices of shape Nx{rows}x{rows + 1} for size "
                         f"{given}. Got {theta.shape}.")
    if align_corners and min(spatial) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an intended use case of affine_grid. See the documentation of "
                      "affine_grid for details.", stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {given}")
    if theta.shape[0] != size[0]:  # (PyTorch's base grid has size[0] rows: its bmm's words)
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{size[0]}, {rows + 1}] "
                           f"but got: [{theta.shape[0]}, {rows + 1}].")
    # the output's pixels as (x, y[, z], 1), x along the last axis: PyTorch's base grid
    axes = [_grid_steps(n, align_corners, np.dtype(theta._type.dtype)) for n in reversed(spatial)]
    mesh = list(np.meshgrid(*axes[::-1], indexing="ij"))[::-1]  # each of the spatial shape; x first
    base = np.stack(mesh + [np.ones(spatial, mesh[0].dtype)], axis=-1).reshape(-1, rows + 1)
    grid = _host_constant(base, theta) @ theta.transpose(1, 2)
    return _as_pytorch_names(grid.reshape((size[0],) + spatial + (rows,)), "AffineGridGeneratorBackward0", theta)


def _grid_steps(n: int, align_corners: bool, dtype: np.dtype) -> np.ndarray:
    """PyTorch's ``linspace_from_neg_one``: ``n`` points from -1 to 1, scaled by ``(n - 1) / n`` unless
    ``align_corners`` (the pixels' centres, not their edges, at -1 and 1); a single point is 0."""
    if n <= 1:
        return np.zeros(1, dtype)
    steps = np.linspace(-1, 1, n, dtype=dtype)
    return steps if align_corners else steps * dtype.type((n - 1) / n)


def grid_sample(input: TensorBase, grid: TensorBase, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners: bool | None = None) -> TensorBase:
    """``input`` (N, C, H, W) sampled at the points of ``grid`` (N, H_out, W_out, 2), given as (x, y) in
    [-1, 1] (x along W): an (N, C, H_out, W_out) result, as PyTorch's ``grid_sample``. ``mode``: ``"bilinear"``,
    ``"nearest"`` (ties to even) or ``"bicubic"`` (PyTorch's cubic convolution, A = -0.75); ``padding_mode``: what
    points outside the input read: ``"zeros"``, ``"border"`` (the nearest edge) or ``"reflection"`` (mirrored at
    the edges). A volume (N, C, D, H, W) is sampled at (x, y, z) points of an (N, D_out, H_out, W_out, 3) grid,
    trilinearly for ``"bilinear"`` (PyTorch's name) or nearest. Differentiable in ``input`` and in ``grid``
    (through the interpolation weights; ``"nearest"`` gives the grid a zero gradient, as PyTorch's).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> image = gg.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    >>> F.grid_sample(image, gg.tensor([[[[0.0, 0.0], [1.0, -1.0]]]]), align_corners=True)
    tensor([[[[1.5000, 1.0000]]]])
    """
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError("nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', but "
                         f"got: '{mode}'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError("nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    if align_corners is None:
        warnings.warn(_GRID_WARNING, stacklevel=2)
        align_corners = False
    sizes = f"input with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}"
    if input._type.dtype != grid._type.dtype:
        raise RuntimeError(f"expected scalar type {_scalar_name(input)} but found {_scalar_name(grid)}")
    if input.ndim not in (4, 5) or input.ndim != grid.ndim or input.shape[0] != grid.shape[0]:
        raise RuntimeError(f"grid_sampler(): expected grid and input to have same batch size, but got {sizes}")
    if grid.shape[-1] != input.ndim - 2:
        raise RuntimeError(f"grid_sampler(): expected grid to have size {input.ndim - 2} in last dimension, but got "
                           f"grid with sizes {list(grid.shape)}")
    for d in range(2, input.ndim):
        if input.shape[d] == 0:
            raise RuntimeError(f"grid_sampler(): expected input to have non-empty spatial dimensions, but input has "
                               f"sizes {list(input.shape)} with dimension {d} being empty")
    if input._type.dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise NotImplementedError(f"\"grid_sampler_2d_cpu_kernel_impl\" not implemented for '{_scalar_name(input)}'")
    if input.ndim == 5 and mode == "bicubic":
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    n, c = input.shape[:2]
    sizes = tuple(input.shape[2:])[::-1]  # W, H (, D): the order of the grid's coordinates
    points = math.prod(grid.shape[1:-1])
    flat = input.reshape(n, c, math.prod(sizes))
    # (N, points) source coordinates in pixels, x along W
    coords = [_unnormalize(grid[..., k].reshape(n, points), size, align_corners) for k, size in enumerate(sizes)]
    if mode == "bicubic":  # padding applies to each of the 16 taps, not to the point (PyTorch's get_value_bounded)
        lows = [t.floor() for t in coords]
        weights = [_cubic_weights(t - low) for t, low in zip(coords, lows)]
        out = 0
        for i in range(4):
            row = 0
            for j in range(4):
                tap = _pixels(flat, [_padded(lows[0] + (j - 1), sizes[0], padding_mode, align_corners),
                                     _padded(lows[1] + (i - 1), sizes[1], padding_mode, align_corners)], sizes)
                row = row + tap * weights[0][j].unsqueeze(1)
            out = out + row * weights[1][i].unsqueeze(1)
    else:
        coords = [_padded(t, size, padding_mode, align_corners) for t, size in zip(coords, sizes)]
        if mode == "nearest":  # (round: half to even, as PyTorch's nearbyint)
            # the points outside read |sign(x)| * 0, +0 (sign is 0 at nan) through the piecewise-constant sign: the
            # result depends on the grid with a zero gradient, as PyTorch's (the grid's .grad stayed None, and a grid
            # alone requiring grad gave a result without history)
            out = _pixels(flat, [t.round() for t in coords], sizes, outside=coords[0].sign().abs() * 0.0)
        else:  # (bi- or trilinear) the 4 or 8 neighbours, x fastest, as PyTorch adds them: nw, ne, sw, se (t, b)
            lows = [t.floor() for t in coords]
            out = 0
            for corner in itertools.product((0, 1), repeat=len(coords)):
                offsets = corner[::-1]  # (x's offset, y's (, z's)): x varies fastest
                weight = None
                for t, low, offset in zip(coords, lows, offsets):
                    factor = (t - low) if offset else (low + 1 - t)
                    weight = factor if weight is None else weight * factor
                picked = [low + offset if offset else low for low, offset in zip(lows, offsets)]
                out = out + _pixels(flat, picked, sizes) * weight.unsqueeze(1)
    out = out.reshape((n, c) + tuple(grid.shape[1:-1]))
    return _as_pytorch_names(out, f"GridSampler{input.ndim - 2}DBackward0", input, grid)


def _unnormalize(coordinate: TensorBase, size: int, align_corners: bool) -> TensorBase:
    """[-1, 1] to pixels: -1 and 1 are the corner pixels' centres (``align_corners``) or their outer edges."""
    if align_corners:
        return (coordinate + 1) / 2 * (size - 1)
    return ((coordinate + 1) * size - 1) / 2


def _padded(coordinate: TensorBase, size: int, padding_mode: str, align_corners: bool) -> TensorBase:
    """A pixel coordinate moved inside ``[0, size - 1]`` as ``padding_mode`` says (``"zeros"`` leaves it: the
    pixels outside read 0); nan (of a nan point, or of an infinite one reflected) becomes 0, as in PyTorch's CPU
    kernel, whose vectorized clip is a maximum and a minimum that drop nan."""
    if padding_mode == "zeros":
        return coordinate
    if padding_mode == "reflection":  # mirrored at the corner pixels' centres, or at their outer edges
        low, span = (0.0, size - 1.0) if align_corners else (-0.5, float(size))
        if span <= 0:
            return coordinate * 0
        distance = (coordinate - low).abs()
        extra = distance.fmod(span)
        even = (distance / span).floor().fmod(2) == 0
        coordinate = where(even, extra + low, span - extra + low)
    # a nan becomes 0 (fmax/fmin drop it); the gradient passes strictly inside the image only, as PyTorch's
    # clip_coordinates_set_grad: at the edge itself it would also see the neighbour past it, which reads 0
    clipped = bind("fmin", bind("fmax", coordinate, 0.0), float(size - 1))
    return where((coordinate > 0) & (coordinate < size - 1), coordinate, clipped.detach())


def _pixels(flat: TensorBase, coords: list, sizes: tuple, outside: TensorBase | float = 0.0) -> TensorBase:
    """``flat`` (N, C, H * W) or (N, C, D * H * W) at the integral pixel coordinates ``coords`` (x, y (, z), each
    (N, points)) of an image of ``sizes`` (W, H (, D)): (N, C, points), ``outside`` (0, or zeros (N, points)) where
    a point lies outside the image."""
    inside = None
    for t, size in zip(coords, sizes):
        within = (t >= 0) & (t <= size - 1)  # (false for nan)
        inside = within if inside is None else inside & within
    index, stride = 0, 1
    for t, size in zip(coords, sizes):
        index = index + where(inside, t, 0).long() * stride
        stride *= size
    index = index.unsqueeze(1)
    values = flat.gather(2, index.expand(flat.shape[0], flat.shape[1], index.shape[2]))
    return where(inside.unsqueeze(1), values, outside if isinstance(outside, float) else outside.unsqueeze(1))


def _cubic_weights(t: TensorBase) -> list:
    """The four weights of cubic convolution (Keys, A = -0.75, as PyTorch) at fractional offset ``t`` in [0, 1),
    for the samples at -1, 0, 1 and 2."""
    a = -0.75

    def near(s):  # |s| <= 1
        return ((a + 2) * s - (a + 3)) * s * s + 1

    def far(s):  # 1 < |s| < 2
        return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


# -- losses of pairs and of label sets ---------------------------------------------------------------------------
def cosine_embedding_loss(input1: TensorBase, input2: TensorBase, target: TensorBase, margin: float = 0,
                          size_average=None, reduce=None, reduction: str = "mean") -> TensorBase:
    """``1 - cos(x1, x2)`` where ``target`` is 1, ``max(0, cos(x1, x2) - margin)`` where it is -1 (0 elsewhere),
    the cosine along the last dim of (N, D) inputs with a (N,) target, or of (D,) inputs with a 0-d one; PyTorch's
    formula: ``cos = sum(x1 * x2) / sqrt((sum(x1^2) + 1e-12) * (sum(x2^2) + 1e-12))``.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> a, b = gg.tensor([[1.0, 0.0], [1.0, 1.0]]), gg.tensor([[0.0, 1.0], [1.0, 1.0]])
    >>> F.cosine_embedding_loss(a, b, gg.tensor([1, -1]), reduction="none")
    tensor([1., 1.])
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if target.ndim not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if target.ndim == 1 and (input1.ndim != 2 or input2.ndim != 2):
        raise RuntimeError(f"1D target tensor expects 2D input tensors, but found inputs with sizes "
                           f"{list(input1.shape)} and {list(input2.shape)}.")
    if target.ndim == 0 and (input1.ndim != 1 or input2.ndim != 1):
        raise RuntimeError(f"0D target tensor expects 1D input tensors, but found inputs with sizes "
                           f"{list(input1.shape)} and {list(input2.shape)}.")
    dim = target.ndim
    cos = (input1 * input2).sum(dim) / (((input1 * input1).sum(dim) + 1e-12) * ((input2 * input2).sum(dim) + 1e-12)
                                        ).sqrt()
    loss = where(target == 1, 1 - cos, 0.0) + where(target == -1, (cos - margin).clamp_min(0), 0.0)
    return _reduce(loss, reduction)


def multilabel_margin_loss(input: TensorBase, target: TensorBase, size_average=None, reduce=None,
                           reduction: str = "mean") -> TensorBase:
    """The multi-class, multi-label hinge loss of (C,) or (N, C) scores: each row of ``target`` lists the row's
    classes (int64) up to its first -1; the loss of a row is ``sum over its classes j and the other classes i of
    max(0, 1 - (x[j] - x[i])) / C``. A class listed twice counts twice, as in PyTorch.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.multilabel_margin_loss(gg.tensor([[0.1, 0.2, 0.4, 0.8]]), gg.tensor([[3, 0, -1, 1]]))
    tensor(0.8500)
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if input.ndim > 2 or input.ndim == 2 and input.shape[1] == 0 or input.ndim == 1 and input.shape[0] == 0:
        raise RuntimeError(f"Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
                           f"{list(input.shape)}")
    if tuple(target.shape) != tuple(input.shape):
        raise RuntimeError(f"inconsistent target size: {list(target.shape)} for input of size: {list(input.shape)}")
    if target._type.dtype != "int64":
        raise RuntimeError(f"expected scalar type Long but found {_scalar_name(target)}")
    rows = input.reshape(-1, input.shape[-1] if input.ndim else 1)
    c = rows.shape[1]
    labels = check_range(target.reshape(rows.shape) + 1, "argument #2 'target' is out of range", c + 1) - 1
    listed = (labels < 0).long().cumsum(1) == 0  # the entries before the row's first -1
    classes = where(listed, labels, -1)
    is_target = (classes.unsqueeze(2) == _arange_on(c, input)).any(1)  # (N, C): class i listed in the row
    picked = rows.gather(1, where(listed, labels, 0))  # x[y_k], (N, K)
    hinge = (1 - (picked.unsqueeze(2) - rows.unsqueeze(1))).clamp_min(0)  # (N, K, C)
    counted = listed.unsqueeze(2) & is_target.logical_not().unsqueeze(1)
    loss = where(counted, hinge, 0.0).sum((1, 2)) / c
    if input.ndim < 2:
        loss = loss.reshape(())
    if reduction == "mean" and input.ndim == 2:
        loss = loss.mean()
    elif reduction == "sum" and input.ndim == 2:
        loss = loss.sum()
    return _as_pytorch_names(loss, "MultilabelMarginLossBackward0", input)


# -- power-average pooling ---------------------------------------------------------------------------------------
def _lp_pool(avg_pool, max_pool, input: TensorBase, norm_type: float, kernel_size, stride, ceil_mode: bool,
             count: int) -> TensorBase:
    """PyTorch's composite: ``(sum over the window of x^p)^(1/p)`` as an average pool times the window's size
    (``sign(s) * relu(|s|)``, as PyTorch's, so the gradient is zero where the sum is); p = +-inf: max pools of |x|."""
    if norm_type == math.inf:
        return max_pool(input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    if norm_type == -math.inf:
        return -max_pool(-input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    out = avg_pool(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    return (out.sign() * out.abs().relu()).mul(count).pow(1.0 / norm_type)


def lp_pool1d(input: TensorBase, norm_type: float, kernel_size: int, stride=None, ceil_mode: bool = False
              ) -> TensorBase:
    """The ``norm_type``-norm of each window of an (N, C, L) or (C, L) input: ``(sum x^p)^(1/p)``.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.lp_pool1d(gg.tensor([[3.0, 4.0, 1.0, 0.0]]), 2, 2)
    tensor([[5., 1.]])
    """
    return _lp_pool(avg_pool1d, max_pool1d, input, norm_type, kernel_size, stride, ceil_mode, kernel_size)


def lp_pool2d(input: TensorBase, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> TensorBase:
    """The ``norm_type``-norm of each (KH, KW) window of an (N, C, H, W) or (C, H, W) input: ``(sum x^p)^(1/p)``.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.lp_pool2d(gg.tensor([[[1.0, 2.0], [2.0, 4.0]]]), 2, 2)
    tensor([[[5.]]])
    """
    kh, kw = _pair(kernel_size)
    return _lp_pool(avg_pool2d, max_pool2d, input, norm_type, kernel_size, stride, ceil_mode, kh * kw)


def lp_pool3d(input: TensorBase, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> TensorBase:
    """The ``norm_type``-norm of each (KD, KH, KW) window of an (N, C, D, H, W) or (C, D, H, W) input.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.lp_pool3d(gg.ones(1, 2, 2, 2), 1, 2)
    tensor([[[[8.]]]])
    """
    kd, kh, kw = _expand(kernel_size, 3, "kernel_size")
    return _lp_pool(avg_pool3d, max_pool3d, input, norm_type, kernel_size, stride, ceil_mode, kd * kh * kw)


# -- in-place activations: F.relu_(x) is F.relu(x, inplace=True) -------------------------------------------------
def _in_place_activation(name: str, signature: str, example: str, result: str):
    base = globals()[name]

    def activation(input: TensorBase, *args, **kwargs) -> TensorBase:
        return base(input, *args, inplace=True, **kwargs)
    activation.__name__ = activation.__qualname__ = name + "_"
    activation.__doc__ = (f"``F.{name}({signature}, inplace=True)``: ``input`` overwritten with the result, and "
                          f"returned.\n\n    >>> import graphgrad as gg, graphgrad.nn.functional as F\n"
                          f"    >>> x = gg.tensor([-2.0, 0.5, 3.0])\n    >>> F.{name}_({example}) is x, x\n"
                          f"    (True, {result})\n    ")
    return activation


relu_ = _in_place_activation("relu", "input", "x", "tensor([0.0000, 0.5000, 3.0000])")
elu_ = _in_place_activation("elu", "input, alpha=1.0", "x", "tensor([-0.8647,  0.5000,  3.0000])")
leaky_relu_ = _in_place_activation("leaky_relu", "input, negative_slope=0.01", "x, 0.5",
                                   "tensor([-1.0000,  0.5000,  3.0000])")
hardtanh_ = _in_place_activation("hardtanh", "input, min_val=-1.0, max_val=1.0", "x",
                                 "tensor([-1.0000,  0.5000,  1.0000])")
selu_ = _in_place_activation("selu", "input", "x", "tensor([-1.5202,  0.5254,  3.1521])")
celu_ = _in_place_activation("celu", "input, alpha=1.0", "x", "tensor([-0.8647,  0.5000,  3.0000])")
threshold_ = _in_place_activation("threshold", "input, threshold, value", "x, 1.0, 0.0",
                                  "tensor([0., 0., 3.])")
rrelu_ = _in_place_activation("rrelu", "input, lower=1/8, upper=1/3, training=False", "x",
                              "tensor([-0.4583,  0.5000,  3.0000])")


# -- pooling that returns the maxima's places, as a tuple (PyTorch's *_with_indices) ------------------------------
def max_pool1d_with_indices(input: TensorBase, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = False) -> tuple:
    """``F.max_pool1d(..., return_indices=True)``: (values, positions); ``return_indices`` changes nothing.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.max_pool1d_with_indices(gg.tensor([[1.0, 3.0, 2.0, 0.0]]), 2)
    (tensor([[3., 2.]]), tensor([[1, 2]]))
    """
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input: TensorBase, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = False) -> tuple:
    """``F.max_pool2d(..., return_indices=True)``: (values, positions in the flattened H * W plane).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.max_pool2d_with_indices(gg.tensor([[[1.0, 3.0], [4.0, 2.0]]]), 2)
    (tensor([[[4.]]]), tensor([[[2]]]))
    """
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool1d_with_indices(input: TensorBase, output_size, return_indices: bool = False) -> tuple:
    """``F.adaptive_max_pool1d(..., return_indices=True)``: (values, positions).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.adaptive_max_pool1d_with_indices(gg.tensor([[1.0, 5.0, 0.0, 3.0]]), 2)
    (tensor([[5., 3.]]), tensor([[1, 3]]))
    """
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input: TensorBase, output_size, return_indices: bool = False) -> tuple:
    """``F.adaptive_max_pool2d(..., return_indices=True)``: (values, positions in the flattened H * W plane).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.adaptive_max_pool2d_with_indices(gg.tensor([[[1.0, 5.0], [3.0, 2.0]]]), 1)
    (tensor([[[5.]]]), tensor([[[1]]]))
    """
    return adaptive_max_pool2d(input, output_size, True)


def adaptive_max_pool3d_with_indices(input: TensorBase, output_size, return_indices: bool = False) -> tuple:
    """``F.adaptive_max_pool3d(..., return_indices=True)``: (values, positions in the flattened D * H * W volume).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.adaptive_max_pool3d_with_indices(gg.arange(8.0).reshape(1, 2, 2, 2), 1)
    (tensor([[[[7.]]]]), tensor([[[[7]]]]))
    """
    return adaptive_max_pool3d(input, output_size, True)


# -- 3-D channel dropout and adaptive pooling --------------------------------------------------------------------
def dropout3d(input: TensorBase, p: float = 0.5, training: bool = True, inplace: bool = False) -> TensorBase:
    """Zero each channel of an (N, C, D, H, W) or (C, D, H, W) input, whole, with probability ``p``; scale the rest
    by ``1/(1-p)``. Another number of dims warns, as PyTorch's, and is taken as unbatched (channels first).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> x = F.dropout3d(gg.ones(2, 8, 2, 2, 2))
    >>> bool(((x == 0).all((2, 3, 4)) | (x == 2).all((2, 3, 4))).all())
    True
    """
    _check_dropout_p(p)
    if input.ndim not in (4, 5):
        warnings.warn(f"dropout3d: Received a {input.ndim}-D input to dropout3d, which is deprecated and will "
                      "result in an error in a future release. To retain the behavior and silence this warning, "
                      "please use dropout instead. Note that dropout3d exists to provide channel-wise dropout on "
                      "inputs with 3 spatial dimensions, a channel dimension, and an optional batch dimension "
                      "(i.e. 4D or 5D inputs).", stacklevel=2)
    if input.ndim == 5:
        return _feature_dropout(input, p, training, inplace)
    # unbatched: PyTorch adds a batch dim of one, so the channels are the first dim
    return _channel_dropout(input, p, training, inplace, (input.shape[0],) + (1,) * (input.ndim - 1))


def _adaptive_size3(input: TensorBase, output_size, fn: str) -> tuple:
    """``_adaptive_size`` of a (N, C, D, H, W) or (C, D, H, W) ``input``."""
    if input.ndim not in (4, 5):
        raise RuntimeError(f"{fn}(): Expected 4D or 5D tensor, but got{':' if 'max' in fn else ''} "
                           f"{list(input.shape)}")
    return _adaptive_size(input, output_size, fn, 3)


def adaptive_avg_pool3d(input: TensorBase, output_size) -> TensorBase:
    """Average pooling of an (N, C, D, H, W) or (C, D, H, W) ``input`` to ``output_size`` (None keeps that size)
    over PyTorch's adaptive windows (those of ``adaptive_avg_pool2d``, along each of the three dims).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.adaptive_avg_pool3d(gg.arange(8.0).reshape(1, 2, 2, 2), (1, 1, 2))
    tensor([[[[3., 4.]]]])
    """
    out_size = _adaptive_size3(input, output_size, "adaptive_avg_pool3d")
    out = input
    for k, count in enumerate(out_size):
        dim = input.ndim - 3 + k
        size = out.shape[dim]
        if count and not size % count:  # windows that tile the axis: a mean over its reshape
            out = out.reshape(*out.shape[:dim], count, size // count, *out.shape[dim + 1:]).mean(dim + 1)
        else:  # windows of several sizes: a product with the constant averaging matrix
            out = (out.movedim(dim, -1) @ _constant(_averaging(size, count).T, input)).movedim(-1, dim)
    return _as_pytorch_names(out, "AdaptiveAvgPool3DBackward0", input)


def adaptive_max_pool3d(input: TensorBase, output_size, return_indices: bool = False):
    """Max pooling of an (N, C, D, H, W) or (C, D, H, W) ``input`` to ``output_size`` over PyTorch's adaptive
    windows; the gradient goes to each window's first maximum in (depth, row, column) order, as PyTorch's;
    ``return_indices`` also returns its position in the flattened (D * H * W) volume.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.adaptive_max_pool3d(gg.arange(8.0).reshape(1, 2, 2, 2), (1, 2, 1))
    tensor([[[[5.],
              [7.]]]])
    """
    od, oh, ow = _adaptive_size3(input, output_size, "adaptive_max_pool3d")
    d, h, w = input.shape[-3:]
    lead = tuple(input.shape[:-3])
    k = len(lead)
    windows, (kd, starts_d) = _adaptive_split(input, k, od)  # (…, OD, KD, H, W)
    windows, (kh, starts_h) = _adaptive_split(windows, k + 2, oh)  # (…, OD, KD, OH, KH, W)
    windows, (kw, starts_w) = _adaptive_split(windows, k + 4, ow)  # (…, OD, KD, OH, KH, OW, KW)
    windows = windows.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3, k + 5).reshape(*lead, od, oh, ow,
                                                                                        kd * kh * kw)
    values, where_max = windows.max(-1)
    values = _as_pytorch_names(values, "AdaptiveMaxPool3DBackward0", input)
    if not return_indices:
        return values
    depth = _constant(starts_d.reshape(-1, 1, 1), where_max) + where_max // (kh * kw)
    row = _constant(starts_h.reshape(-1, 1), where_max) + where_max // kw % kh
    return values, (depth * h + row) * w + _constant(starts_w, where_max) + where_max % kw
