"""Layers: ``Linear``, convolutions, pooling, padding, normalization, activations, ``Flatten``, ``Dropout``."""
from __future__ import annotations

import math

from ..runtime import factories
from ..runtime.tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter, UninitializedParameter


class Linear(Module):
    """``y = x @ weight.T + bias`` with ``weight`` of shape (out_features, in_features), initialised as in
    PyTorch: U(-1/sqrt(in_features), 1/sqrt(in_features)) for weight and bias.

    >>> import graphgrad as gg
    >>> layer = gg.nn.Linear(3, 2)
    >>> layer.weight.shape, layer(gg.ones(5, 3)).shape
    (torch.Size([2, 3]), torch.Size([5, 2]))
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(factories.empty(out_features, in_features, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(factories.empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # = U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class LazyLinear(Linear):
    """``Linear`` whose ``in_features`` is the last dimension of its first input, as PyTorch's ``nn.LazyLinear``:
    until then ``weight`` and ``bias`` are ``UninitializedParameter``s; the first (eager) call gives them their
    shapes and PyTorch's initialisation and the module becomes a ``Linear``. An optimizer made before that call holds
    the same parameter objects, materialized in place, so it trains them (PyTorch's behaviour). A compiled function
    cannot create parameters: call the module once eagerly (a dummy batch) before compiling it.

    >>> import graphgrad as gg
    >>> layer = gg.nn.LazyLinear(2)
    >>> layer
    LazyLinear(in_features=0, out_features=2, bias=True)
    >>> layer(gg.ones(5, 3)).shape, layer
    (torch.Size([5, 2]), Linear(in_features=3, out_features=2, bias=True))
    """

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None):
        Module.__init__(self)
        self.in_features, self.out_features = 0, out_features
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def has_uninitialized_params(self) -> bool:
        return any(isinstance(p, UninitializedParameter) for p in self._parameters.values())

    def initialize_parameters(self, input) -> None:
        """Materialize ``weight`` (out_features, input's last dim) and ``bias``, initialised as ``Linear``'s."""
        if self.has_uninitialized_params():
            if not isinstance(input, Tensor):
                raise RuntimeError("LazyLinear: its parameters are created by its first call, which must run eagerly: "
                                   "call the module once on a dummy batch before compiling a function that calls it")
            from ..runtime.grad_mode import no_grad

            with no_grad():
                self.in_features = input.shape[-1]
                self.weight.materialize((self.out_features, self.in_features))
                if self.bias is not None:
                    self.bias.materialize((self.out_features,))
                self.reset_parameters()

    def forward(self, input):
        # the first call: infer, then become a Linear (PyTorch's LazyModuleMixin does it in a forward pre-hook)
        self.initialize_parameters(input)
        if not self.in_features:  # materialized by load_state_dict
            self.in_features = self.weight.shape[1]
        self.__class__ = self.cls_to_become
        return F.linear(input, self.weight, self.bias)


class Identity(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class ReLU(Module):
    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Tanh(Module):
    def forward(self, input):
        return F.tanh(input)


class Sigmoid(Module):
    def forward(self, input):
        return F.sigmoid(input)


class Softmax(Module):
    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmax(input, self.dim if self.dim is not None else (0 if input.ndim in (0, 1, 3) else 1))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, input):
        return F.log_softmax(input, self.dim if self.dim is not None else (0 if input.ndim in (0, 1, 3) else 1))


class Flatten(Module):
    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """Zeroes elements with probability ``p`` while training; the identity after ``.eval()``."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Embedding(Module):
    """A lookup table: ``Embedding(10, 3)(gg.tensor([1, 4]))`` is rows 1 and 4 of a (10, 3) weight, N(0, 1)
    initialised; the ``padding_idx`` row starts at zero and gets no gradient."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None, dtype=None):
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = F._padding_index(padding_idx, num_embeddings)
        self.weight = Parameter(factories.empty(num_embeddings, embedding_dim, dtype=dtype))
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight._data[self.padding_idx] = 0

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embeddings (``F.embedding_bag``) without the embeddings themselves: a text
    classifier's bag of words. ``weight`` (num_embeddings, embedding_dim) is N(0, 1) initialised, its
    ``padding_idx`` row zero; ``forward(input, offsets=None, per_sample_weights=None)``.

    >>> import graphgrad as gg, graphgrad.nn as nn
    >>> bag = nn.EmbeddingBag.from_pretrained(gg.tensor([[1.0, 2.0], [3.0, 4.0]]), mode="sum")
    >>> bag(gg.tensor([0, 1, 1]), gg.tensor([0, 1]))
    tensor([[1., 2.],
            [6., 8.]])
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm: float | None = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                 _weight: Tensor | None = None, include_last_offset: bool = False, padding_idx: int | None = None,
                 device=None, dtype=None):
        super().__init__()
        if sparse:  # (refused here, before a training loop that counts on sparse gradients starts)
            raise NotImplementedError("EmbeddingBag(sparse=True): graphgrad has no sparse tensors; pass sparse=False "
                                      "for the dense gradient (the same values, every row of the weight)")
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        if padding_idx is not None:  # (PyTorch's checks and words: AssertionError)
            if padding_idx > 0 and padding_idx >= num_embeddings or padding_idx < -num_embeddings:
                raise AssertionError("padding_idx must be within num_embeddings")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = Parameter(factories.empty(num_embeddings, embedding_dim, dtype=dtype, device=device))
            self.reset_parameters()
        else:
            if list(_weight.shape) != [num_embeddings, embedding_dim]:
                raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
            self.weight = Parameter(_weight)
        self.mode = mode
        self.sparse = sparse
        self.include_last_offset = include_last_offset

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            from ..runtime.grad_mode import no_grad

            with no_grad():
                self.weight[self.padding_idx].fill_(0)

    def forward(self, input, offsets=None, per_sample_weights=None):
        return F.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type, self.scale_grad_by_freq,
                               self.mode, self.sparse, per_sample_weights, self.include_last_offset, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm!r}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type!r}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq!r}"
        s += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx!r}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean",
                        sparse: bool = False, include_last_offset: bool = False,
                        padding_idx: int | None = None) -> "EmbeddingBag":
        """An ``EmbeddingBag`` whose weight is ``embeddings`` (2-D), frozen unless ``freeze=False``."""
        if embeddings.ndim != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        bag = cls(num_embeddings=rows, embedding_dim=cols, _weight=embeddings, max_norm=max_norm, norm_type=norm_type,
                  scale_grad_by_freq=scale_grad_by_freq, mode=mode, sparse=sparse,
                  include_last_offset=include_last_offset, padding_idx=padding_idx)
        bag.weight.requires_grad = not freeze
        return bag


class LayerNorm(Module):
    """Normalize over the trailing ``normalized_shape`` dimensions, with a learned scale and shift."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 dtype=None):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(factories.ones(*self.normalized_shape, dtype=dtype))
            self.bias = Parameter(factories.zeros(*self.normalized_shape, dtype=dtype)) if bias else None
        else:
            self.weight = self.bias = None

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class RMSNorm(Module):
    """Root mean square normalization over the trailing ``normalized_shape`` dimensions (``F.rms_norm``), with a
    learned scale ``weight`` (ones at first); ``eps=None`` is the input dtype's machine epsilon.

    >>> import graphgrad as gg
    >>> norm = gg.nn.RMSNorm(2)
    >>> norm, norm(gg.tensor([[3.0, 4.0]])).detach()
    (RMSNorm((2,), eps=None, elementwise_affine=True), tensor([[0.8485, 1.1314]]))
    """

    def __init__(self, normalized_shape, eps: float | None = None, elementwise_affine: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(factories.ones(*self.normalized_shape, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input):
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class BatchNorm1d(Module):
    """Batch normalization over (N, C) or (N, C, L) inputs: batch statistics while training (updating
    ``running_mean``/``running_var``), the running ones after ``.eval()``."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(factories.ones(num_features, dtype=dtype))
            self.bias = Parameter(factories.zeros(num_features, dtype=dtype)) if bias else None
        else:
            self.weight = self.bias = None
        if track_running_stats:
            self.register_buffer("running_mean", factories.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", factories.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", factories.tensor(0))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, input):
        if input.ndim not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {input.ndim}D input)")
        return self._normalize(input)

    def _normalize(self, input):
        # momentum=None: a cumulative moving average, factor 1 / num_batches_tracked (after counting this batch),
        # as PyTorch's _BatchNorm; 0.0 when nothing is counted (then no running stats are updated either)
        momentum = 0.0 if self.momentum is None else self.momentum
        counts = self.training and self.num_batches_tracked is not None
        if counts and isinstance(input, Tensor):
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked)
        elif counts:  # traced: the compiled function counts each call
            tracer = input.tracer
            tracer.assign(self.num_batches_tracked, lambda count: count + 1)
            if self.momentum is None:  # from the count passed in at each call, not one baked in at tracing
                count = tracer.wrap(tracer.lift(self.num_batches_tracked, "assign")) + 1
                momentum = 1.0 / count._cast(self.running_mean._type.dtype)
        return F.batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or self.running_mean is None, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


def _ntuple(value, n: int) -> tuple:
    """PyTorch's ``_single``/``_pair``/``_quadruple``: an int repeated ``n`` times, a sequence as a tuple."""
    return (value,) * n if isinstance(value, int) else tuple(value)


class _ConvNd(Module):
    """What PyTorch's convolutions share: the arguments' checks, ``padding_mode``, the (out, in / groups, K...)
    weight (transposed: (in, out / groups, K...)) and its initialisation: ``kaiming_uniform_(a=sqrt(5))``, the
    bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in the weight's dimension 1 times the kernel's size."""

    _dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride, padding, dilation,
                 transposed: bool, output_padding, groups: int, bias: bool, padding_mode: str, device=None,
                 dtype=None):
        super().__init__()
        n = self._dims
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        self.kernel_size, self.stride, self.dilation = (_ntuple(v, n) for v in (kernel_size, stride, dilation))
        if isinstance(padding, str):  # kept as the string, as PyTorch keeps it
            if padding not in ("valid", "same"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"padding_mode must be one of {{'zeros', 'reflect', 'replicate', 'circular'}}, but got "
                             f"padding_mode='{padding_mode}'")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.padding = padding if isinstance(padding, str) else _ntuple(padding, n)
        self.transposed, self.output_padding = transposed, _ntuple(output_padding, n)
        self.groups, self.padding_mode = groups, padding_mode
        # F.pad's amounts (last dimension first) for the modes other than zeros; "same" puts the odd one after
        if isinstance(self.padding, str):
            totals = [d * (k - 1) if self.padding == "same" else 0 for d, k in zip(self.dilation, self.kernel_size)]
            self._reversed_padding_repeated_twice = [p for t in reversed(totals) for p in (t // 2, t - t // 2)]
        else:
            self._reversed_padding_repeated_twice = tuple(p for p in reversed(self.padding) for _ in range(2))
        shape = (in_channels, out_channels // groups) if transposed else (out_channels, in_channels // groups)
        self.weight = Parameter(factories.empty(*shape, *self.kernel_size, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(factories.empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def _conv_forward(self, input, convolution):
        if self.padding_mode != "zeros":  # F.pad with the mode, then no padding in the convolution
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return convolution(input, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return convolution(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        n = self._dims
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * n:  # (a padding string shows too)
            text += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


class _Conv(_ConvNd):
    """PyTorch's ``ConvNd`` signature over ``_ConvNd``: a convolution, not transposed."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, False, 0, groups, bias,
                         padding_mode, device, dtype)


class Conv1d(_Conv):
    """1-D convolution (cross-correlation) of (N, C, L) or (C, L) inputs with PyTorch's parameters,
    ``padding_mode`` and initialisation.

    >>> import graphgrad as gg
    >>> conv = gg.nn.Conv1d(4, 6, kernel_size=3, padding=1, groups=2, padding_mode="circular")
    >>> conv.weight.shape, conv(gg.ones(2, 4, 10)).shape
    (torch.Size([6, 2, 3]), torch.Size([2, 6, 10]))
    """

    _dims = 1

    def forward(self, input):
        return self._conv_forward(input, F.conv1d)


class Conv2d(_Conv):
    """2-D convolution (cross-correlation) with PyTorch's parameters, ``padding_mode`` and initialisation.

    >>> import graphgrad as gg
    >>> gg.nn.Conv2d(3, 8, kernel_size=3, padding=1)(gg.ones(2, 3, 16, 16)).shape
    torch.Size([2, 8, 16, 16])
    """

    def forward(self, input):
        return self._conv_forward(input, F.conv2d)


class Conv3d(_Conv):
    """3-D convolution (cross-correlation) of (N, C, D, H, W) or (C, D, H, W) inputs with PyTorch's parameters,
    ``padding_mode`` and initialisation.

    >>> import graphgrad as gg
    >>> gg.nn.Conv3d(2, 4, kernel_size=3, padding=1)(gg.ones(1, 2, 5, 6, 7)).shape
    torch.Size([1, 4, 5, 6, 7])
    """

    _dims = 3

    def forward(self, input):
        return self._conv_forward(input, F.conv3d)


class _ConvTransposeNd(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {self.__class__.__name__}')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, True, output_padding,
                         groups, bias, padding_mode, device, dtype)

    def _output_padding(self, input, output_size) -> tuple:
        """``output_padding``, or the one that makes the output ``output_size`` (its spatial sizes, or all of
        the output's), with PyTorch's checks."""
        n = self._dims
        if output_size is None:
            return self.output_padding
        batched = input.ndim == n + 2
        leading = 2 if batched else 1
        if len(output_size) == leading + n:
            output_size = output_size[leading:]
        if len(output_size) != n:
            raise ValueError(f"ConvTranspose{n}D: for {input.ndim}D input, output_size must have {n} or {leading + n} "
                             f"elements (got {len(output_size)})")
        smallest = [(input.shape[d + leading] - 1) * self.stride[d] - 2 * self.padding[d]
                    + self.dilation[d] * (self.kernel_size[d] - 1) + 1 for d in range(n)]
        largest = [s + stride - 1 for s, stride in zip(smallest, self.stride)]
        for size, low, high in zip(output_size, smallest, largest):
            if size < low or size > high:
                raise ValueError(f"requested an output size of {output_size}, but valid sizes range from {smallest} "
                                 f"to {largest} (for an input of {input.shape[2:]})")
        return tuple(size - low for size, low in zip(output_size, smallest))

    def _transposed_forward(self, input, output_size, convolution):
        return convolution(input, self.weight, self.bias, self.stride, self.padding,
                           self._output_padding(input, output_size), self.groups, self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-D convolution (conv1d's input gradient), with PyTorch's parameters and initialisation; the
    weight is (in_channels, out_channels / groups, K). ``forward(input, output_size)`` picks the
    ``output_padding`` that gives that length.

    >>> import graphgrad as gg
    >>> up = gg.nn.ConvTranspose1d(4, 2, kernel_size=3, stride=2, padding=1)
    >>> up(gg.ones(1, 4, 5)).shape, up(gg.ones(1, 4, 5), output_size=[10]).shape
    (torch.Size([1, 2, 9]), torch.Size([1, 2, 10]))
    """

    _dims = 1

    def forward(self, input, output_size=None):
        return self._transposed_forward(input, output_size, F.conv_transpose1d)


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-D convolution (conv2d's input gradient, DCGAN's upsampling layer), with PyTorch's parameters
    and initialisation; the weight is (in_channels, out_channels / groups, KH, KW). ``forward(input,
    output_size)`` picks the ``output_padding`` that gives that size.

    >>> import graphgrad as gg
    >>> gg.nn.ConvTranspose2d(8, 3, kernel_size=4, stride=2, padding=1)(gg.ones(2, 8, 16, 16)).shape
    torch.Size([2, 3, 32, 32])
    """

    def forward(self, input, output_size=None):
        return self._transposed_forward(input, output_size, F.conv_transpose2d)


class ConvTranspose3d(_ConvTransposeNd):
    """Transposed 3-D convolution (conv3d's input gradient, a 3-D U-Net's upsampling layer), with PyTorch's
    parameters and initialisation; the weight is (in_channels, out_channels / groups, KD, KH, KW).

    >>> import graphgrad as gg
    >>> gg.nn.ConvTranspose3d(4, 2, kernel_size=2, stride=2)(gg.ones(1, 4, 3, 4, 5)).shape
    torch.Size([1, 2, 6, 8, 10])
    """

    _dims = 3

    def forward(self, input, output_size=None):
        return self._transposed_forward(input, output_size, F.conv_transpose3d)


class _MaxPoolNd(Module):
    function = ""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input):
        return getattr(F, self.function)(input, self.kernel_size, self.stride, self.padding, self.dilation,
                                         self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """``F.max_pool1d`` as a module: the maximum of each window of (N, C, L) or (C, L) inputs.

    >>> import graphgrad as gg
    >>> gg.nn.MaxPool1d(2)(gg.tensor([[1.0, 5.0, 0.0, 3.0]]))
    tensor([[5., 3.]])
    """

    function = "max_pool1d"


class MaxPool2d(_MaxPoolNd):
    function = "max_pool2d"


class MaxPool3d(_MaxPoolNd):
    """``F.max_pool3d`` as a module: the maximum of each window of (N, C, D, H, W) or (C, D, H, W) inputs.

    >>> import graphgrad as gg
    >>> gg.nn.MaxPool3d(2)(gg.ones(1, 1, 4, 4, 4)).shape
    torch.Size([1, 1, 2, 2, 2])
    """

    function = "max_pool3d"


class _MaxUnpoolNd(Module):
    function = ""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding = padding

    def forward(self, input, indices, output_size=None):
        return getattr(F, self.function)(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """``F.max_unpool1d`` as a module: ``MaxPool1d(..., return_indices=True)`` undone.

    >>> import graphgrad as gg
    >>> out, i = gg.nn.MaxPool1d(2, return_indices=True)(gg.tensor([[1.0, 5.0, 3.0, 2.0]]))
    >>> gg.nn.MaxUnpool1d(2)(out, i)
    tensor([[0., 5., 3., 0.]])
    """

    function = "max_unpool1d"


class MaxUnpool2d(_MaxUnpoolNd):
    """``F.max_unpool2d`` as a module: ``MaxPool2d(..., return_indices=True)`` undone (zeros elsewhere)."""

    function = "max_unpool2d"


class Unfold(Module):
    """``F.unfold`` as a module: the sliding blocks of an image as columns."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, input):
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Fold(Module):
    """``F.fold`` as a module: columns of sliding blocks summed back into an image."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input):
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class AvgPool1d(Module):
    """``F.avg_pool1d`` as a module: the mean of each window of (N, C, L) or (C, L) inputs.

    >>> import graphgrad as gg
    >>> gg.nn.AvgPool1d(2)(gg.tensor([[1.0, 5.0, 0.0, 3.0]]))
    tensor([[3.0000, 1.5000]])
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__()
        self.kernel_size = _ntuple(kernel_size, 1)
        self.stride = _ntuple(stride if stride is not None else kernel_size, 1)
        self.padding = _ntuple(padding, 1)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, input):
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    """``F.avg_pool2d`` as a module: the mean of each window of (N, C, H, W) or (C, H, W) inputs."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool3d(AvgPool2d):
    """``F.avg_pool3d`` as a module: the mean of each window of (N, C, D, H, W) or (C, D, H, W) inputs.

    >>> import graphgrad as gg
    >>> gg.nn.AvgPool3d(2, stride=1)(gg.ones(1, 3, 3, 3)).shape
    torch.Size([1, 2, 2, 2])
    """

    def forward(self, input):
        return F.avg_pool3d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class _AdaptivePool(Module):
    function = ""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return getattr(F, self.function)(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _AdaptiveMaxPool(_AdaptivePool):
    def __init__(self, output_size, return_indices: bool = False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input):
        return getattr(F, self.function)(input, self.output_size, self.return_indices)


class AdaptiveAvgPool1d(_AdaptivePool):
    """``F.adaptive_avg_pool1d`` as a module: (N, C, L) or (C, L) inputs averaged to length ``output_size``.

    >>> import graphgrad as gg
    >>> gg.nn.AdaptiveAvgPool1d(3)(gg.arange(7.0).reshape(1, 7))
    tensor([[1., 3., 5.]])
    """

    function = "adaptive_avg_pool1d"


class AdaptiveAvgPool2d(_AdaptivePool):
    function = "adaptive_avg_pool2d"


class AdaptiveMaxPool1d(_AdaptiveMaxPool):
    """``F.adaptive_max_pool1d`` as a module: the maxima of (N, C, L) or (C, L) inputs over ``output_size``
    windows (and their positions, with ``return_indices=True``).

    >>> import graphgrad as gg
    >>> gg.nn.AdaptiveMaxPool1d(2, return_indices=True)(gg.tensor([[1.0, 5.0, 0.0, 3.0, 2.0]]))
    (tensor([[5., 3.]]), tensor([[1, 3]]))
    """

    function = "adaptive_max_pool1d"


class AdaptiveMaxPool2d(_AdaptiveMaxPool):
    """``F.adaptive_max_pool2d`` as a module (``output_size`` an int, or (OH, OW) with None keeping a size).

    >>> import graphgrad as gg
    >>> gg.nn.AdaptiveMaxPool2d((1, None))(gg.tensor([[[1.0, 5.0], [3.0, 2.0]]]))
    tensor([[[3., 5.]]])
    """

    function = "adaptive_max_pool2d"


class AdaptiveAvgPool3d(_AdaptivePool):
    """``F.adaptive_avg_pool3d`` as a module: (N, C, D, H, W) or (C, D, H, W) inputs averaged to ``output_size``
    (an int, or (OD, OH, OW) with None keeping a size).

    >>> import graphgrad as gg
    >>> gg.nn.AdaptiveAvgPool3d(1)(gg.arange(8.0).reshape(1, 2, 2, 2))
    tensor([[[[3.5000]]]])
    """

    function = "adaptive_avg_pool3d"


class AdaptiveMaxPool3d(_AdaptiveMaxPool):
    """``F.adaptive_max_pool3d`` as a module (and the maxima's positions, with ``return_indices=True``).

    >>> import graphgrad as gg
    >>> gg.nn.AdaptiveMaxPool3d((1, 1, None))(gg.arange(8.0).reshape(1, 2, 2, 2))
    tensor([[[[6., 7.]]]])
    """

    function = "adaptive_max_pool3d"


class _LPPoolNd(Module):
    function = ""

    def __init__(self, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False):
        super().__init__()
        self.norm_type, self.kernel_size, self.stride, self.ceil_mode = norm_type, kernel_size, stride, ceil_mode

    def forward(self, input):
        return getattr(F, self.function)(input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """``F.lp_pool1d`` as a module: the ``norm_type``-norm of each window of (N, C, L) or (C, L) inputs.

    >>> import graphgrad as gg
    >>> gg.nn.LPPool1d(2, 2)(gg.tensor([[3.0, 4.0, 1.0, 0.0]]))
    tensor([[5., 1.]])
    """

    function = "lp_pool1d"


class LPPool2d(_LPPoolNd):
    """``F.lp_pool2d`` as a module: the ``norm_type``-norm of each window of (N, C, H, W) or (C, H, W) inputs.

    >>> import graphgrad as gg
    >>> gg.nn.LPPool2d(1, 2)(gg.ones(1, 2, 2))
    tensor([[[4.]]])
    """

    function = "lp_pool2d"


class LPPool3d(_LPPoolNd):
    """``F.lp_pool3d`` as a module: the ``norm_type``-norm of each window of (N, C, D, H, W) or (C, D, H, W) inputs.

    >>> import graphgrad as gg
    >>> gg.nn.LPPool3d(1, 2)(gg.ones(1, 2, 2, 2))
    tensor([[[[8.]]]])
    """

    function = "lp_pool3d"


# -- padding: F.pad with a mode --------------------------------------------------------------------------------
class _ConstantPadNd(Module):
    _dims = 1

    def __init__(self, padding, value: float):
        super().__init__()
        self.padding = _ntuple(padding, 2 * self._dims)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dimension with ``value``: ``padding`` an int (both sides) or (left, right).

    >>> import graphgrad as gg
    >>> gg.nn.ConstantPad1d((1, 2), 3.5)(gg.ones(1, 2))
    tensor([[3.5000, 1.0000, 1.0000, 3.5000, 3.5000]])
    """


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dimensions with ``value``: ``padding`` an int or (left, right, top, bottom)."""

    _dims = 2


class ZeroPad1d(ConstantPad1d):
    """Pad the last dimension with zeros: ``padding`` an int or (left, right)."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pad the last two dimensions with zeros: ``padding`` an int or (left, right, top, bottom).

    >>> import graphgrad as gg
    >>> gg.nn.ZeroPad2d((1, 0, 0, 1))(gg.ones(1, 1, 1))
    tensor([[[0., 1.],
             [0., 0.]]])
    """

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dimensions with ``value``: ``padding`` an int or (left, right, top, bottom, front,
    back).

    >>> import graphgrad as gg
    >>> gg.nn.ConstantPad3d((0, 1, 0, 0, 0, 0), 2.0)(gg.ones(1, 1, 1, 1)).flatten()
    tensor([1., 2.])
    """

    _dims = 3


class ZeroPad3d(ConstantPad3d):
    """Pad the last three dimensions with zeros: ``padding`` an int or (left, right, top, bottom, front, back).

    >>> import graphgrad as gg
    >>> gg.nn.ZeroPad3d(1)(gg.ones(1, 1, 1, 1)).shape
    torch.Size([1, 3, 3, 3])
    """

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ModePadNd(Module):
    """``F.pad(input, padding, mode)`` over the last ``_dims`` dimensions of a (N, C, ...) or (C, ...) input."""

    _dims, mode = 1, ""

    def __init__(self, padding):
        super().__init__()
        self.padding = _ntuple(padding, 2 * self._dims)

    def forward(self, input):
        return F.pad(input, self.padding, self.mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_ModePadNd):
    """Pad the last dimension with its reflection at each end (the edge not repeated).

    >>> import graphgrad as gg
    >>> gg.nn.ReflectionPad1d(2)(gg.tensor([[0.0, 1.0, 2.0, 3.0]]))
    tensor([[2., 1., 0., 1., 2., 3., 2., 1.]])
    """

    mode = "reflect"


class ReflectionPad2d(ReflectionPad1d):
    """Pad the last two dimensions with their reflections: ``padding`` an int or (left, right, top, bottom)."""

    _dims = 2


class ReplicationPad1d(_ModePadNd):
    """Pad the last dimension with copies of its edge values.

    >>> import graphgrad as gg
    >>> gg.nn.ReplicationPad1d((1, 2))(gg.tensor([[0.0, 1.0, 2.0]]))
    tensor([[0., 0., 1., 2., 2., 2.]])
    """

    mode = "replicate"


class ReplicationPad2d(ReplicationPad1d):
    """Pad the last two dimensions with copies of their edges: ``padding`` an int or (left, right, top,
    bottom)."""

    _dims = 2


class CircularPad1d(_ModePadNd):
    """Pad the last dimension of a (N, C, L) or (C, L) input periodically (the far end's values).

    >>> import graphgrad as gg
    >>> gg.nn.CircularPad1d(1)(gg.tensor([[0.0, 1.0, 2.0]]))
    tensor([[2., 0., 1., 2., 0.]])
    """

    mode = "circular"

    def forward(self, input):
        if input.ndim not in (self._dims + 1, self._dims + 2):
            raise ValueError(f"expected {self._dims + 1}D or {self._dims + 2}D input (got {input.ndim}D input)")
        return super().forward(input)


class CircularPad2d(CircularPad1d):
    """Pad the last two dimensions of a (N, C, H, W) or (C, H, W) input periodically: ``padding`` an int or
    (left, right, top, bottom)."""

    _dims = 2


class ReflectionPad3d(ReflectionPad1d):
    """Pad the last three dimensions of a (N, C, D, H, W) or (C, D, H, W) input with their reflections:
    ``padding`` an int or (left, right, top, bottom, front, back).

    >>> import graphgrad as gg
    >>> gg.nn.ReflectionPad3d((1, 0, 0, 0, 0, 0))(gg.tensor([[[[0.0, 1.0]]]]))
    tensor([[[[1., 0., 1.]]]])
    """

    _dims = 3


class ReplicationPad3d(ReplicationPad1d):
    """Pad the last three dimensions of a (N, C, D, H, W) or (C, D, H, W) input with copies of their edges.

    >>> import graphgrad as gg
    >>> gg.nn.ReplicationPad3d((0, 2, 0, 0, 0, 0))(gg.tensor([[[[0.0, 1.0]]]]))
    tensor([[[[0., 1., 1., 1.]]]])
    """

    _dims = 3


class CircularPad3d(CircularPad1d):
    """Pad the last three dimensions of a (N, C, D, H, W) or (C, D, H, W) input periodically.

    >>> import graphgrad as gg
    >>> gg.nn.CircularPad3d((1, 1, 0, 0, 0, 0))(gg.tensor([[[[0.0, 1.0, 2.0]]]]))
    tensor([[[[2., 0., 1., 2., 0.]]]])
    """

    _dims = 3


class BatchNorm2d(BatchNorm1d):
    """Batch normalization of each channel of (N, C, H, W) images."""

    def forward(self, input):
        if input.ndim != 4:
            raise ValueError(f"expected 4D input (got {input.ndim}D input)")
        return self._normalize(input)


class BatchNorm3d(BatchNorm1d):
    """Batch normalization of each channel of (N, C, D, H, W) volumes.

    >>> import graphgrad as gg
    >>> gg.nn.BatchNorm3d(2)(gg.randn(4, 2, 3, 3, 3)).mean().abs().item() < 1e-6
    True
    """

    def forward(self, input):
        if input.ndim != 5:
            raise ValueError(f"expected 5D input (got {input.ndim}D input)")
        return self._normalize(input)


class GELU(Module):
    """``x * Φ(x)`` (``approximate="tanh"``: PyTorch's tanh form)."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate='{self.approximate}'"


class SiLU(Module):
    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.silu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return F.elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Softplus(Module):
    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """``F.hardtanh``: clamp to ``[min_val, max_val]``."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__()
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class ReLU6(Hardtanh):
    """``F.relu6``: ``Hardtanh(0, 6)``."""

    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class _Activation(Module):
    """An activation without parameters of its own: ``F.<function>(input)``, with ``inplace`` where it has one."""

    function = ""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return getattr(F, self.function)(input, inplace=True) if self.inplace else getattr(F, self.function)(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Hardsigmoid(_Activation):
    function = "hardsigmoid"


class Hardswish(_Activation):
    function = "hardswish"


class SELU(_Activation):
    function = "selu"


class Mish(_Activation):
    function = "mish"


class _Plain(Module):
    """An activation without options: ``F.<function>(input)``."""

    function = ""

    def forward(self, input):
        return getattr(F, self.function)(input)


class Softsign(_Plain):
    function = "softsign"


class Tanhshrink(_Plain):
    function = "tanhshrink"


class LogSigmoid(_Plain):
    function = "logsigmoid"


class CELU(Module):
    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return F.celu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Hardshrink(Module):
    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input):
        return F.hardshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    def forward(self, input):
        return F.softshrink(input, self.lambd)


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size`` (the inverse of ``Flatten``)."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, input):
        dim = self.dim % input.ndim
        return input.reshape(tuple(input.shape[:dim]) + self.unflattened_size + tuple(input.shape[dim + 1:]))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


# == more of PyTorch's modules: PReLU, GLU, Softmin, Threshold, distances, Bilinear, GroupNorm, InstanceNorm1d/2d,
# LocalResponseNorm, channel-wise and alpha dropout, RReLU, Softmax2d, shuffles, Upsample =========================
import warnings as _warnings  # noqa: E402


class PReLU(Module):
    """``F.prelu`` with a learned slope, one shared (``num_parameters=1``) or one per channel, starting at
    ``init`` (0.25).

    >>> import graphgrad as gg
    >>> act = gg.nn.PReLU()
    >>> act(gg.tensor([-4.0, 2.0]))
    tensor([-1.,  2.], grad_fn=<PreluKernelBackward0>)
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(factories.empty(num_parameters, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.constant_(self.weight, self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class GLU(Module):
    """``F.glu``: the first half of ``dim`` gated by the sigmoid of the second.

    >>> import graphgrad as gg
    >>> gg.nn.GLU()(gg.ones(2, 6)).shape
    torch.Size([2, 3])
    """

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmin(Module):
    """``F.softmin``: ``softmax(-input)`` along ``dim``.

    >>> import graphgrad as gg
    >>> gg.nn.Softmin(dim=0)(gg.tensor([1.0, 1.0]))
    tensor([0.5000, 0.5000])
    """

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmin(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Threshold(Module):
    """``F.threshold``: ``x`` above ``threshold``, ``value`` elsewhere.

    >>> import graphgrad as gg
    >>> gg.nn.Threshold(0.1, 20.0)(gg.tensor([0.0, 1.0]))
    tensor([20.,  1.])
    """

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input):
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + (", inplace=True" if self.inplace else "")


class CosineSimilarity(Module):
    """``F.cosine_similarity`` along ``dim``, each norm clamped to ``eps``.

    >>> import graphgrad as gg
    >>> gg.nn.CosineSimilarity(dim=0)(gg.tensor([1.0, 0.0]), gg.tensor([0.0, 2.0]))
    tensor(0.)
    """

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """``F.pairwise_distance``: ``‖x1 - x2 + eps‖_p`` over the last dimension.

    >>> import graphgrad as gg
    >>> gg.nn.PairwiseDistance(eps=0.0)(gg.tensor([[1.0, 1.0]]), gg.tensor([[4.0, 5.0]]))
    tensor([5.])
    """

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class Bilinear(Module):
    """``y = x1ᵀ A x2 + b`` with ``weight`` (out_features, in1_features, in2_features), weight and bias
    initialised U(-1/sqrt(in1_features), 1/sqrt(in1_features)) as in PyTorch.

    >>> import graphgrad as gg
    >>> layer = gg.nn.Bilinear(3, 4, 2)
    >>> layer.weight.shape, layer(gg.ones(5, 3), gg.ones(5, 4)).shape
    (torch.Size([2, 3, 4]), torch.Size([5, 2]))
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = Parameter(factories.empty(out_features, in1_features, in2_features, dtype=dtype,
                                                device=device))
        if bias:
            self.bias = Parameter(factories.empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.in1_features <= 0:
            raise ValueError(f"in1_features must be > 0, but got (in1_features={self.in1_features})")
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class GroupNorm(Module):
    """``F.group_norm``: channels normalized in ``num_groups`` groups per sample, with a learned per-channel
    scale (ones) and shift (zeros) when ``affine``.

    >>> import graphgrad as gg
    >>> gn = gg.nn.GroupNorm(2, 4)
    >>> gn(gg.randn(3, 4, 5)).shape, gn.weight.shape
    (torch.Size([3, 4, 5]), torch.Size([4]))
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        if affine:
            self.weight = Parameter(factories.ones(num_channels, dtype=dtype, device=device))
            self.bias = Parameter(factories.zeros(num_channels, dtype=dtype, device=device)) if bias else None
        else:
            self.weight = self.bias = None

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class _InstanceNorm(Module):
    """Instance normalization: no learned scale and shift and no running statistics unless asked for
    (``affine``, ``track_running_stats``); with running statistics, ``.eval()`` normalizes by them."""

    _spatial = 1  # spatial dimensions of a batched input

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(factories.ones(num_features, dtype=dtype, device=device))
            self.bias = Parameter(factories.zeros(num_features, dtype=dtype, device=device)) if bias else None
        else:
            self.weight = self.bias = None
        if track_running_stats:
            self.register_buffer("running_mean", factories.zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", factories.ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", factories.tensor(0))  # kept, never counted, as PyTorch
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, input):
        unbatched = self._spatial + 1
        if input.ndim not in (unbatched, unbatched + 1):
            raise ValueError(f"expected {unbatched}D or {unbatched + 1}D input (got {input.ndim}D input)")
        feature_dim = input.ndim - unbatched
        if input.shape[feature_dim] != self.num_features:
            if self.affine:
                raise ValueError(f"expected input's size at dim={feature_dim} to match num_features "
                                 f"({self.num_features}), but got: {input.shape[feature_dim]}.")
            _warnings.warn(f"input's size at dim={feature_dim} does not match num_features. You can silence this "
                           f"warning by not passing in num_features, which is not used because affine=False",
                           stacklevel=2)
        if input.ndim == unbatched:
            return self._normalize(input.unsqueeze(0)).squeeze(0)
        return self._normalize(input)

    def _normalize(self, input):
        return F.instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                               self.training or not self.track_running_stats,
                               self.momentum if self.momentum is not None else 0.0, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization of (N, C, L) or unbatched (C, L) inputs: each channel of each sample over its
    positions.

    >>> import graphgrad as gg
    >>> gg.nn.InstanceNorm1d(2)(gg.tensor([[[1.0, 3.0], [0.0, 4.0]]]))
    tensor([[[-1.0000,  1.0000],
             [-1.0000,  1.0000]]])
    """


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization of (N, C, H, W) or unbatched (C, H, W) images.

    >>> import graphgrad as gg
    >>> gg.nn.InstanceNorm2d(3, affine=True)(gg.randn(2, 3, 4, 4)).shape
    torch.Size([2, 3, 4, 4])
    """

    _spatial = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalization of (N, C, D, H, W) or unbatched (C, D, H, W) volumes.

    >>> import graphgrad as gg
    >>> gg.nn.InstanceNorm3d(1)(gg.tensor([[[[[1.0, 3.0]]]]]))
    tensor([[[[[-1.0000,  1.0000]]]]])
    """

    _spatial = 3


class LocalResponseNorm(Module):
    """``F.local_response_norm``: each value divided by ``(k + alpha * mean of squares over the size channels
    around it)^beta``.

    >>> import graphgrad as gg
    >>> gg.nn.LocalResponseNorm(2)(gg.ones(1, 3, 2)).shape
    torch.Size([1, 3, 2])
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class _DropoutNd(Module):
    function = ""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input):
        return getattr(F, self.function)(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_DropoutNd):
    """``F.dropout1d`` while training: whole channels of (N, C, L) inputs zeroed; the identity after ``.eval()``.

    >>> import graphgrad as gg
    >>> gg.nn.Dropout1d(0.5).eval()(gg.ones(2, 3, 4)).sum()
    tensor(24.)
    """

    function = "dropout1d"


class Dropout2d(_DropoutNd):
    """``F.dropout2d`` while training: whole channels of (N, C, H, W) images zeroed; the identity after
    ``.eval()``.

    >>> import graphgrad as gg
    >>> x = gg.nn.Dropout2d(0.5)(gg.ones(4, 8, 3, 3))
    >>> bool(((x == 0).all((2, 3)) | (x == 2).all((2, 3))).all())
    True
    """

    function = "dropout2d"


class Dropout3d(_DropoutNd):
    """``F.dropout3d`` while training: whole channels of (N, C, D, H, W) volumes zeroed; the identity after
    ``.eval()``.

    >>> import graphgrad as gg
    >>> gg.nn.Dropout3d(0.5).eval()(gg.ones(2, 3, 2, 2, 2)).sum()
    tensor(48.)
    """

    function = "dropout3d"


class AlphaDropout(_DropoutNd):
    """``F.alpha_dropout`` while training (for SELU networks); the identity after ``.eval()``.

    >>> import graphgrad as gg
    >>> gg.nn.AlphaDropout(0.2).eval()(gg.ones(3))
    tensor([1., 1., 1.])
    """

    function = "alpha_dropout"


class RReLU(Module):
    """``F.rrelu``: random slopes in [lower, upper] for non-positive inputs while training, their mean
    after ``.eval()``.

    >>> import graphgrad as gg
    >>> gg.nn.RReLU(0.1, 0.3).eval()(gg.tensor([-1.0, 1.0]))
    tensor([-0.2000,  1.0000])
    """

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input):
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace else "")


class Softmax2d(Module):
    """Softmax over the channels (dimension -3) at each position of (N, C, H, W) or (C, H, W) inputs.

    >>> import graphgrad as gg
    >>> gg.nn.Softmax2d()(gg.zeros(1, 2, 1, 1)).flatten()
    tensor([0.5000, 0.5000])
    """

    def forward(self, input):
        if input.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {input.ndim}D instead")
        return F.softmax(input, -3)


class ChannelShuffle(Module):
    """``F.channel_shuffle``: the channels of ``groups`` groups interleaved.

    >>> import graphgrad as gg
    >>> gg.nn.ChannelShuffle(2)(gg.arange(4.0).reshape(1, 4, 1)).flatten()
    tensor([0., 2., 1., 3.])
    """

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, input):
        return F.channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class PixelShuffle(Module):
    """``F.pixel_shuffle``: (*, C r², H, W) to (*, C, H r, W r).

    >>> import graphgrad as gg
    >>> gg.nn.PixelShuffle(3)(gg.ones(1, 9, 4, 4)).shape
    torch.Size([1, 1, 12, 12])
    """

    def __init__(self, upscale_factor: int):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input):
        return F.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """``F.pixel_unshuffle``: (*, C, H r, W r) to (*, C r², H, W).

    >>> import graphgrad as gg
    >>> gg.nn.PixelUnshuffle(3)(gg.ones(1, 1, 12, 12)).shape
    torch.Size([1, 9, 4, 4])
    """

    def __init__(self, downscale_factor: int):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input):
        return F.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class Upsample(Module):
    """``F.interpolate`` as a module: to ``size``, or by ``scale_factor``, with ``mode`` nearest, nearest-exact,
    linear, bilinear or trilinear.

    >>> import graphgrad as gg
    >>> gg.nn.Upsample(scale_factor=2, mode="bilinear")(gg.ones(1, 1, 2, 3)).shape
    torch.Size([1, 1, 4, 6])
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None):
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, tuple):
            self.scale_factor = tuple(float(factor) for factor in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode, self.align_corners, self.recompute_scale_factor = mode, align_corners, recompute_scale_factor

    def forward(self, input):
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = "scale_factor=" + repr(self.scale_factor)
        else:
            info = "size=" + repr(self.size)
        return info + ", mode=" + repr(self.mode)


class UpsamplingNearest2d(Upsample):
    """``Upsample(size, scale_factor, mode="nearest")`` for images.

    >>> import graphgrad as gg
    >>> gg.nn.UpsamplingNearest2d(scale_factor=2)(gg.ones(1, 1, 2, 2)).shape
    torch.Size([1, 1, 4, 4])
    """

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(size, scale_factor, mode="bilinear", align_corners=True)`` for images.

    >>> import graphgrad as gg
    >>> gg.nn.UpsamplingBilinear2d(size=3)(gg.tensor([[[[0.0, 2.0]]]]))
    tensor([[[[0., 1., 2.],
              [0., 1., 2.],
              [0., 1., 2.]]]])
    """

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
