"""Neural-network ops: softmax, log_softmax, and image patches (convolution and pooling are built on these)."""
from __future__ import annotations

import math

from ..ir.api import TensorBase, bind
from ..ir.public import export
from ..ir.registry import ShapeError, float_dtype, normalize_dims
from ..ir.types import TensorType
from ..passes.row_decomposition import along_dim_rows, batch_axis_rows
from ..passes.batching import along_axis, to_front
from .define import primitive
from .elementwise import erf, exp, expm1, log1p, minimum, sigmoid, tanh, where


# -- softmax / log_softmax ------------------------------------------------------------------------
def _softmax_type(inputs, dim):
    normalize_dims(dim, inputs[0].ndim)
    return TensorType(inputs[0].shape, float_dtype(inputs))


def _softmax_expr(a, xp, out, dim):
    e = f"{out}_exp"
    return [f"{e} = {xp}.exp({a[0]} - {a[0]}.max(axis={dim}, keepdims=True))",
            f"{e} / {e}.sum(axis={dim}, keepdims=True)"]


def softmax(x: TensorBase, dim: int) -> TensorBase:
    """``exp(x)`` normalized to sum to 1 along ``dim``."""
    return bind("softmax", x, dim=int(dim))


primitive("softmax", memory="fresh", batch=along_axis, attrs=("dim",), infer=_softmax_type, doc="softmax along dim",
          vjp=(lambda g, out, x, *, dim: out * (g - (g * out).sum(dim=dim, keepdim=True)),),
          expr=_softmax_expr, fn=softmax, tensor="softmax", gg="softmax", rows=along_dim_rows)


def _log_softmax_expr(a, xp, out, dim):
    s = f"{out}_shifted"
    return [f"{s} = {a[0]} - {a[0]}.max(axis={dim}, keepdims=True)",
            f"{s} - {xp}.log({xp}.exp({s}).sum(axis={dim}, keepdims=True))"]


def log_softmax(x: TensorBase, dim: int) -> TensorBase:
    """The log of ``softmax(x, dim)``, computed stably."""
    return bind("log_softmax", x, dim=int(dim))


primitive("log_softmax", memory="fresh", batch=along_axis,
          attrs=("dim",), infer=_softmax_type, doc="log of softmax along dim, computed stably",
          vjp=(lambda g, out, x, *, dim: g - out.exp() * g.sum(dim=dim, keepdim=True),),
          expr=_log_softmax_expr, fn=log_softmax, tensor="log_softmax", gg="log_softmax", rows=along_dim_rows)


# -- image patches --------------------------------------------------------------------------------
def window_count(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _unfold2d_type(inputs, kernel, stride, padding, dilation):
    x = inputs[0]
    if x.ndim != 4:
        raise ShapeError(f"Expected 4D (batched) input to conv2d/pool2d, but got input of size: {list(x.shape)}")
    n, c, h, w = x.shape
    oh, ow = (window_count(s, k, st, p, d) for s, k, st, p, d in zip((h, w), kernel, stride, padding, dilation))
    if oh <= 0 or ow <= 0:
        raise ShapeError(f"Calculated output size: ({oh}x{ow}). Output size is too small "
                         f"(input {h}x{w}, kernel {kernel[0]}x{kernel[1]})")
    return TensorType((n, c, oh, ow) + tuple(kernel), x.dtype)


def _unfold2d_expr(a, xp, out, kernel, stride, padding, dilation):
    (ph, pw), (sh, sw), (dh, dw) = padding, stride, dilation
    source = a[0]
    lines = []
    if ph or pw:
        lines.append(f"{out}_padded = {xp}.pad({a[0]}, ((0, 0), (0, 0), ({ph}, {ph}), ({pw}, {pw})))")
        source = f"{out}_padded"
    span = (dh * (kernel[0] - 1) + 1, dw * (kernel[1] - 1) + 1)
    lines.append(f"{out}_windows = {xp}.lib.stride_tricks.sliding_window_view({source}, {span}, axis=(2, 3))")
    dilate = f", ::{dh}, ::{dw}" if (dh, dw) != (1, 1) else ""
    lines.append(f"{out}_windows[:, :, ::{sh}, ::{sw}{dilate}]")
    return lines


# unfold2d and fold2d are linear and each other's adjoint
def _image_patches_batch(op, args, bdims, **attrs):
    """unfold2d/fold2d work on (N, C, ...) images: the batch joins N and is split off again."""
    x = to_front(args[0], bdims[0])
    size, n = x.shape[0], x.shape[1]
    out = bind(op, x.reshape((size * n,) + tuple(x.shape[2:])), **attrs)
    return out.reshape((size, n) + tuple(out.shape[1:])), 0


primitive("unfold2d", memory="view", batch=_image_patches_batch,
          attrs=("kernel", "stride", "padding", "dilation"), infer=_unfold2d_type,
          doc="the (KH, KW) patches of a zero-padded (N, C, H, W) image: (N, C, OH, OW, KH, KW)",
          vjp=(lambda g, out, x, *, kernel, stride, padding, dilation: bind(
              "fold2d", g, kernel=kernel, stride=stride, padding=padding, dilation=dilation,
              size=x._type.shape[2:]),),
          expr=_unfold2d_expr, rows=batch_axis_rows)


def _fold2d_expr(a, xp, out, kernel, stride, padding, dilation, size):
    (ph, pw), (sh, sw), (dh, dw) = padding, stride, dilation
    oh, ow = (window_count(*args) for args in zip(size, kernel, stride, padding, dilation))
    if (sh, sw) == tuple(kernel) and (dh, dw) == (1, 1) and (ph, pw) == (0, 0):
        # windows that tile the image (a max-pool's): each pixel gets at most one patch entry, so the image is
        # the patches' transpose, one copy, with zeros only where the tiling stops short of the edge
        n_c = f"{a[0]}.shape[:2]"
        tiles = f"{a[0]}.transpose((0, 1, 2, 4, 3, 5)).reshape({n_c} + ({oh * sh}, {ow * sw}))"
        if (oh * sh, ow * sw) == tuple(size):
            return [tiles]
        image = f"{out}_image"
        return [f"{image} = {xp}.zeros({n_c} + ({size[0]}, {size[1]}), dtype={a[0]}.dtype)",
                f"{image}[:, :, :{oh * sh}, :{ow * sw}] = {tiles}", image]
    image = f"{out}_image"
    lines = [f"{image} = {xp}.zeros({a[0]}.shape[:2] + ({size[0] + 2 * ph}, {size[1] + 2 * pw}), dtype={a[0]}.dtype)"]
    for i in range(kernel[0]):  # one strided slice per kernel offset: a patch grid never overlaps itself
        for j in range(kernel[1]):
            rows = f"{i * dh}:{i * dh + sh * (oh - 1) + 1}:{sh}"
            cols = f"{j * dw}:{j * dw + sw * (ow - 1) + 1}:{sw}"
            lines.append(f"{image}[:, :, {rows}, {cols}] += {a[0]}[:, :, :, :, {i}, {j}]")
    lines.append(f"{image}[:, :, {ph}:{ph + size[0]}, {pw}:{pw + size[1]}]" if ph or pw else image)
    return lines


primitive("fold2d", batch=_image_patches_batch, attrs=("kernel", "stride", "padding", "dilation", "size"),
          infer=lambda inputs, kernel, stride, padding, dilation, size: TensorType(
              inputs[0].shape[:2] + tuple(size), inputs[0].dtype),
          doc="the adjoint of unfold2d: patches summed back into an (N, C, *size) image",
          vjp=(lambda g, out, x, *, kernel, stride, padding, dilation, size: bind(
              "unfold2d", g, kernel=kernel, stride=stride, padding=padding, dilation=dilation),),
          expr=_fold2d_expr, rows=batch_axis_rows)


# -- activations: composites of elementwise ops ------------------------------------------------------
def leaky_relu(input: TensorBase, negative_slope: float = 0.01, inplace: bool = False) -> TensorBase:
    """``x`` where positive, ``negative_slope * x`` elsewhere (PyTorch's ``F.leaky_relu``).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.leaky_relu(gg.tensor([-2.0, 3.0]), 0.1)
    tensor([-0.2000,  3.0000])
    """
    return _maybe_inplace(input, inplace, lambda x: where(x > 0, x, x * negative_slope))


def elu(input: TensorBase, alpha: float = 1.0, inplace: bool = False) -> TensorBase:
    """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere (PyTorch's ``F.elu``).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.elu(gg.tensor([-1.0, 2.0]))
    tensor([-0.6321,  2.0000])
    """
    # expm1 of min(x, 0): the branch where() drops never overflows
    return _maybe_inplace(input, inplace, lambda x: where(x > 0, x, expm1(minimum(x, 0.0)) * alpha))


def gelu(input: TensorBase, approximate: str = "none") -> TensorBase:
    """``x * Phi(x)``, Phi the standard normal CDF (``approximate="tanh"``: PyTorch's tanh approximation).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.gelu(gg.tensor([-1.0, 1.0])), F.gelu(gg.tensor([-1.0, 1.0]), approximate="tanh")
    (tensor([-0.1587,  0.8413]), tensor([-0.1588,  0.8412]))
    """
    if approximate == "none":
        return input * 0.5 * (1.0 + erf(input * (1.0 / math.sqrt(2.0))))
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2.0 / math.pi)
        return input * 0.5 * (1.0 + tanh(inner))
    raise RuntimeError("approximate argument must be either none or tanh.")


def softplus(input: TensorBase, beta: float = 1.0, threshold: float = 20.0) -> TensorBase:
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold`` (PyTorch's
    ``F.softplus``).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.softplus(gg.tensor([0.0, 30.0]))
    tensor([ 0.6931, 30.0000])
    """
    scaled = input * beta
    # the exp never sees more than threshold, so the branch where() drops cannot overflow (nor its gradient)
    return where(scaled > threshold, input, log1p(exp(minimum(scaled, threshold))) / beta)


def silu(input: TensorBase, inplace: bool = False) -> TensorBase:
    """``x * sigmoid(x)`` (PyTorch's ``F.silu``).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.silu(gg.tensor([-1.0, 1.0]))
    tensor([-0.2689,  0.7311])
    """
    return _maybe_inplace(input, inplace, lambda x: x * sigmoid(x))


def _maybe_inplace(input, inplace, compute):
    """``compute(input)``, written into ``input`` when ``inplace`` (eager tensors: one in-place op)."""
    if not inplace:
        return compute(input)
    if not hasattr(input, "_inplace_with"):
        raise RuntimeError("in-place activations (inplace=True) cannot be traced; use the out-of-place form")
    return input._inplace_with(compute)


for _fn in (leaky_relu, elu, gelu, softplus, silu):
    export(_fn, _fn.__name__, nn=_fn.__name__)
