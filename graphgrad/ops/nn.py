"""Neural-network ops: softmax, log_softmax, image patches (convolution and average pooling are built on these)
and max pooling."""
from __future__ import annotations

import math

from ..ir.api import TensorBase, bind
from ..ir.public import export
from ..ir.registry import ShapeError, broadcast_shapes, elementwise_type, float_dtype, is_type, normalize_dims
from ..ir.types import SCALAR_NAMES, TensorType
from ..passes.row_decomposition import Row, RowCouplingError, along_dim_rows, batch_axis_rows
from ..passes.batching import along_axis, batch_size, broadcast_batch, elementwise, to_front
from . import numpy_functions
from .define import primitive
from .elementwise import clamp_expr, erf, exp, expm1, log1p, sigmoid, tanh, where
from .shape import pad


# -- softmax / log_softmax ------------------------------------------------------------------------
def _softmax_type(inputs, dim):
    normalize_dims(dim, inputs[0].ndim)
    return TensorType(inputs[0].shape, float_dtype(inputs))


def _softmax_expr(a, xp, out, dim):
    e = f"{out}_exp"
    return [f"{e} = {xp}.exp({a[0]} - {a[0]}.max(axis={dim}, keepdims=True))",
            f"{e} / {e}.sum(axis={dim}, keepdims=True)"]


def softmax(x: TensorBase, dim: int, dtype=None) -> TensorBase:
    """``exp(x)`` normalized to sum to 1 along ``dim``; with ``dtype``, ``x`` is cast to it first, as PyTorch's.

    >>> import graphgrad as gg
    >>> gg.tensor([1.0, 2.0]).softmax(0, dtype=gg.float64)
    tensor([0.2689, 0.7311], dtype=torch.float64)
    """
    x = x if dtype is None else x.to(dtype)
    if x._type.size == 0:  # (NumPy's max over an empty dim fails; the result is as empty as x)
        return bind("cast", x, dtype=float_dtype([x._type]))
    return bind("softmax", x, dim=int(dim))


primitive("softmax", memory="fresh", batch=along_axis, attrs=("dim",), infer=_softmax_type, doc="softmax along dim",
          vjp=(lambda g, out, x, *, dim: out * (g - (g * out).sum(dim=dim, keepdim=True)),),
          expr=_softmax_expr, fn=softmax, tensor="softmax", gg="softmax", rows=along_dim_rows)


def _log_softmax_expr(a, xp, out, dim):
    s = f"{out}_shifted"
    # (in place: an array of x's size fewer, the logits of a language model are large)
    return [f"{s} = {a[0]} - {a[0]}.max(axis={dim}, keepdims=True)",
            f"{s} -= {xp}.log({xp}.exp({s}).sum(axis={dim}, keepdims=True))", s]


def log_softmax(x: TensorBase, dim: int, dtype=None) -> TensorBase:
    """The log of ``softmax(x, dim)``, computed stably; with ``dtype``, ``x`` is cast to it first, as PyTorch's.

    >>> import graphgrad as gg
    >>> gg.tensor([1.0, 2.0]).log_softmax(0, dtype=gg.float64)
    tensor([-1.3133, -0.3133], dtype=torch.float64)
    """
    x = x if dtype is None else x.to(dtype)
    if x._type.size == 0:  # (as softmax's)
        return bind("cast", x, dtype=float_dtype([x._type]))
    return bind("log_softmax", x, dim=int(dim))


primitive("log_softmax", memory="fresh", batch=along_axis,
          attrs=("dim",), infer=_softmax_type, doc="log of softmax along dim, computed stably",
          vjp=(lambda g, out, x, *, dim: g - out.exp() * g.sum(dim=dim, keepdim=True),),
          expr=_log_softmax_expr, fn=log_softmax, tensor="log_softmax", gg="log_softmax", rows=along_dim_rows)


# -- softmax cross-entropy of class indices ------------------------------------------------------------
# One op, as a NumPy expert writes it, where log_softmax and a pick of its classes kept the log-probabilities (an
# array of the logits' size) for the backward and built the gradient in two more: the loss is logsumexp(z) - z[c],
# and the gradient softmax(z) - onehot(c) is computed into one array from the logits and the loss (logsumexp =
# loss + z[c]): a language model's logits are large (2048 x 32000 float32: 250 MiB each).
def _cross_entropy_type(inputs):
    z, c = inputs
    if z.ndim != 2 or c.ndim != 1 or c.shape[0] != z.shape[0] or c.dtype != "int64":
        raise ShapeError(f"softmax_cross_entropy: logits (N, C) and int64 classes (N,), got {z} and {c}")
    return TensorType(c.shape, float_dtype([z]))


def _cross_entropy_expr(a, xp, out):
    z, c = a
    top, exp = f"{out}_top", f"{out}_exp"
    return [f"{top} = {z}.max(axis=1)",
            f"{exp} = {z} - {top}[:, None]",
            f"{xp}.exp({exp}, out={exp})",
            f"{top} += {xp}.log({exp}.sum(axis=1))",  # logsumexp
            f"{top} - {z}[{xp}.arange(len({c})), {c}]"]


def _cross_entropy_grad_type(inputs):
    g, loss, z, c = inputs
    return TensorType(z.shape, z.dtype)


def _cross_entropy_grad_expr(a, xp, out):
    g, loss, z, c = a
    rows, p = f"{out}_rows", f"{out}_softmax"
    return [f"{rows} = {xp}.arange(len({c}))",
            f"{p} = {z} - ({loss} + {z}[{rows}, {c}])[:, None]",  # z - logsumexp
            f"{xp}.exp({p}, out={p})",
            f"{p} *= {g}[:, None]",
            f"{p}[{rows}, {c}] -= {g}",
            p]


def _one_hot_like(z, c):
    classes = z._apply_here("arange", (), {"start": 0, "stop": z.shape[1], "step": 1, "dtype": "int64"})
    return c.unsqueeze(1) == classes


def _cross_entropy_grad_vjp(v, out, needs, g, loss, z, c):
    """Second order: the gradient ``g (p - onehot)``, ``p = exp(z - loss - z[c])``, differentiated in each operand
    as written (the loss is a function of z too: the chain rule through it completes z's Hessian)."""
    mask = _one_hot_like(z, c)
    p = exp(z - (loss + where(mask, z, 0.0).sum(1)).unsqueeze(1))
    w = v * p * g.unsqueeze(1)
    return [(v * p).sum(1) - where(mask, v, 0.0).sum(1) if needs[0] else None,
            -w.sum(1) if needs[1] else None,
            w - where(mask, w.sum(1, keepdim=True), 0.0) if needs[2] else None,
            None]


def _per_row(a, node, states):
    """Every operand's rows are its first axis, and each row's result reads that row alone."""
    if any(not isinstance(s, Row) or s.axis != 0 for s in states):
        raise RowCouplingError(node, f"`{node.op}` keeps rows apart only when every operand has them first")
    return states[0]


def _rows_batch(op, args, bdims):
    """vmap: the examples' rows laid end to end, the op applied once, its result split again."""
    size = batch_size(args, bdims)
    args = [broadcast_batch(x, d, size) for x, d in zip(args, bdims)]
    rows = args[-1].shape[1]  # (the classes, (B, N))
    out = bind(op, *[x.reshape((size * rows,) + tuple(x.shape[2:])) for x in args])
    return out.reshape((size, rows) + tuple(out.shape[1:])), 0


def softmax_cross_entropy(z: TensorBase, classes: TensorBase) -> TensorBase:
    """Per row of logits ``z`` (N, C), ``-log(softmax(z)[class])`` for int64 ``classes`` (N,) in range (the
    ``softmax_cross_entropy`` primitive; ``nn.functional.cross_entropy`` checks, weights and reduces it).

    >>> import graphgrad as gg
    >>> from graphgrad.ops.nn import softmax_cross_entropy
    >>> softmax_cross_entropy(gg.zeros(2, 4), gg.tensor([0, 3]))
    tensor([1.3863, 1.3863])
    """
    return bind("softmax_cross_entropy", z, classes)


primitive("softmax_cross_entropy", memory="fresh", infer=_cross_entropy_type, expr=_cross_entropy_expr,
          vjp=(lambda g, out, z, c: bind("softmax_cross_entropy_grad", g, out, z, c), None),
          batch=_rows_batch, rows=_per_row, fn=softmax_cross_entropy,
          doc="per row of logits (N, C): logsumexp minus the logit of its class")
primitive("softmax_cross_entropy_grad", memory="fresh", infer=_cross_entropy_grad_type, expr=_cross_entropy_grad_expr,
          joint_vjp=_cross_entropy_grad_vjp, batch=_rows_batch, rows=_per_row,
          doc="the gradient of softmax_cross_entropy in its logits: g (softmax - onehot), from the logits and loss")


# -- binary cross-entropy ---------------------------------------------------------------------------
def _bce_expr(a, xp, out):
    # the values checked first, as PyTorch's kernel: eagerly and compiled (check_probabilities, a line of the code)
    p, y = a
    return [f"check_probabilities({p}, {y})",
            f"{out}_log_p = {xp}.maximum({xp}.log({p}), -100.0)",
            f"{out}_log_q = {xp}.maximum({xp}.log1p(-{p}), -100.0)",
            f"({y} - 1) * {out}_log_q - {y} * {out}_log_p"]


def _bce_grad_input(g, out, p, y):
    # PyTorch's binary_cross_entropy_backward: (p - y) / max(p (1 - p), 1e-12). Differentiating the clamped logs
    # instead gives 0 * inf = NaN at p = 0 or 1 (a saturated float32 sigmoid), where this gives 0 or +-1e12.
    return g * (p - y) / (p * (1 - p)).clamp(min=1e-12)


def binary_cross_entropy(p: TensorBase, y: TensorBase) -> TensorBase:
    """Elementwise ``-(y log p + (1 - y) log(1 - p))``, each log clamped at -100 (the ``binary_cross_entropy``
    primitive; ``nn.functional.binary_cross_entropy`` weights and reduces it). A ``p`` or ``y`` outside [0, 1]
    (or nan) raises PyTorch's RuntimeError, eagerly and in compiled code."""
    return bind("binary_cross_entropy", p, y)


primitive("binary_cross_entropy", batch=elementwise, elementwise=True, fn=binary_cross_entropy,
          infer=lambda inputs: elementwise_type(inputs, float_dtype(inputs)), expr=_bce_expr,
          helpers=(numpy_functions.check_probabilities,), errors=lambda arrays, error: error,
          doc="elementwise binary cross-entropy of probabilities p and targets y, logs clamped at -100 (p or y "
              "outside [0, 1]: PyTorch's RuntimeError)",
          # the target's gradient is PyTorch's too: -logit(p), unclamped
          vjp=(_bce_grad_input, lambda g, out, p, y: g * ((-p).log1p() - p.log())))


def _bce_logits_expr(a, xp, out):
    x, y = a
    # (1 - y) x + max(-x, 0) + log1p(exp(-|x|)), the large terms cancelling first (-log(sigmoid(x)) as PyTorch's
    # log_sigmoid), in two arrays besides x: a single expression holds four at once (NumPy elides no temporaries
    # under 256 KiB), above PyTorch's peak on logistic regression's loss. (asarray: of 0-d operands NumPy makes a
    # scalar, which out= cannot receive)
    lin, tail = f"{out}_lin", f"{out}_tail"
    return [f"{lin} = {xp}.asarray({x} * (1 - {y}))", f"{tail} = {xp}.asarray(-{x})",
            f"{xp}.maximum({tail}, 0, out={tail})", f"{lin} += {tail}",
            f"{xp}.abs({x}, out={tail})", f"{xp}.negative({tail}, out={tail})", f"{xp}.exp({tail}, out={tail})",
            f"{xp}.log1p({tail}, out={tail})", f"{xp}.add({lin}, {tail}, out={lin})"]


def _bce_logits_type(inputs):
    x, y = (t.dtype if is_type(t) else None for t in inputs)
    # PyTorch's refusals: no log_sigmoid of integers, and the loss is computed in place of 1 - target
    if x not in (None, "float32", "float64"):
        raise ShapeError(f"\"log_sigmoid_cpu\" not implemented for '{SCALAR_NAMES[x]}'")
    if y not in (None, "float32", "float64"):
        raise ShapeError(f"result type {SCALAR_NAMES[x or 'float32']} can't be cast to the desired output type "
                         f"{SCALAR_NAMES[y]}")
    return elementwise_type(inputs, float_dtype(inputs))


def binary_cross_entropy_with_logits(x: TensorBase, y: TensorBase) -> TensorBase:
    """Elementwise ``(1 - y) x - log(sigmoid(x))``, computed stably (the ``binary_cross_entropy_with_logits``
    primitive; ``nn.functional.binary_cross_entropy_with_logits`` weights and reduces it)."""
    return bind("binary_cross_entropy_with_logits", x, y)


# one op, as PyTorch's, for its gradient: sigmoid(x) - y is 6 array operations where the composite's chain rule
# (through relu, abs, exp and log1p) took 15 (logistic regression's backward, issue 10)
primitive("binary_cross_entropy_with_logits", batch=elementwise, elementwise=True, fn=binary_cross_entropy_with_logits,
          infer=_bce_logits_type, expr=_bce_logits_expr,
          doc="elementwise binary cross-entropy of logits x and targets y, computed stably",
          vjp=(lambda g, out, x, y: g * (sigmoid(x) - y), lambda g, out, x, y: -g * x))


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


primitive("unfold2d", memory="view", patches="unfold", batch=_image_patches_batch,
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


primitive("fold2d", patches="fold", batch=_image_patches_batch,
          attrs=("kernel", "stride", "padding", "dilation", "size"),
          infer=lambda inputs, kernel, stride, padding, dilation, size: TensorType(
              inputs[0].shape[:2] + tuple(size), inputs[0].dtype),
          doc="the adjoint of unfold2d: patches summed back into an (N, C, *size) image",
          vjp=(lambda g, out, x, *, kernel, stride, padding, dilation, size: bind(
              "unfold2d", g, kernel=kernel, stride=stride, padding=padding, dilation=dilation),),
          expr=_fold2d_expr, rows=batch_axis_rows)


# -- image rows as patches: stride-1 convolution without per-pixel windows ----------------------------
# For a stride-1 window grid over a zero-padded image of width W, the patch entry at kernel offset (i, j) of
# output pixel (oh, ow) is the flattened image's element (oh * W + ow) + offset(i, j), offset(i, j) =
# i * dilation_h * W + j * dilation_w. Taking, per kernel offset, the whole run of OH * W consecutive flattened
# pixels from there yields every patch entry (and, at columns ow >= OW, entries that straddle two image rows,
# which the caller drops). A run is one contiguous stretch of memory: the patch copy, and the adjoint's
# slice-adds, move OH * W pixels at a time instead of OW.
def _rows_geometry(kernel, padding, dilation, size):
    """The padded image's rows (with the zero rows the last runs read past its end), its width, and OH, OW."""
    (kh, kw), (ph, pw), (dh, dw), (h, w) = kernel, padding, dilation, size
    width = w + 2 * pw
    oh, ow = h + 2 * ph - dh * (kh - 1), width - dw * (kw - 1)
    extra = -(-dw * (kw - 1) // width)  # the last run of OH * W pixels reads up to dw * (kw - 1) past the end
    return h + 2 * ph + extra, width, oh, ow


def _row_offsets(kernel, dilation, width):
    (kh, kw), (dh, dw) = kernel, dilation
    return [(i, j, i * dh * width + j * dw) for i in range(kh) for j in range(kw)]


def _unfold2d_rows_type(inputs, kernel, padding, dilation, size):
    x = inputs[0]
    if x.ndim != 4 or tuple(x.shape[2:]) != tuple(size):
        raise ShapeError(f"unfold2d_rows: expected an (N, C, {size[0]}, {size[1]}) image, got shape "
                         f"{list(x.shape)}")
    _, width, oh, ow = _rows_geometry(kernel, padding, dilation, size)
    if oh <= 0 or ow <= 0:
        raise ShapeError(f"Calculated padded input size per channel: ({size[0] + 2 * padding[0]} x {width}). "
                         f"Kernel size: ({dilation[0] * (kernel[0] - 1) + 1} x {dilation[1] * (kernel[1] - 1) + 1}). "
                         f"Kernel size can't be greater than actual input size")
    return TensorType(tuple(x.shape[:2]) + tuple(kernel) + (oh * width,), x.dtype)


def _unfold2d_rows_expr(a, xp, out, kernel, padding, dilation, size):
    (kh, kw), (ph, pw), (dh, dw), (h, w) = kernel, padding, dilation, size
    rows, width, oh, _ = _rows_geometry(kernel, padding, dilation, size)
    image = f"{out}_image"
    return [f"{image} = {xp}.zeros({a[0]}.shape[:2] + ({rows}, {width}), dtype={a[0]}.dtype)",
            f"{image}[:, :, {ph}:{ph + h}, {pw}:{pw + w}] = {a[0]}",
            f"{xp}.lib.stride_tricks.as_strided({image}, {image}.shape[:2] + ({kh}, {kw}, {oh * width}), "
            f"{image}.strides[:2] + ({dh} * {image}.strides[2], {dw} * {image}.strides[3], {image}.strides[3])"
            # the runs overlap: NumPy's view is read-only so that no write lands in several; CuPy has no flag
            + (", writeable=False)" if xp == "np" else ")")]


def unfold2d_rows(x: TensorBase, kernel: tuple, padding: tuple = (0, 0), dilation: tuple = (1, 1)) -> TensorBase:
    """For each kernel offset (i, j) of an (N, C, H, W) image, zero-padded to width ``W' = W + 2 * padding[1]``
    (and below its end), the ``OH * W'`` consecutive pixels of the flattened image that start at
    ``i * dilation[0] * W' + j * dilation[1]``: (N, C, KH, KW, OH * W'). The filters' product with these runs
    is a stride-1 convolution's output at every ``(oh, ow)``, ``ow < W'``; the columns ``ow >= OW`` straddle two
    rows, to be dropped.

    >>> import graphgrad as gg
    >>> from graphgrad.ops.nn import unfold2d_rows
    >>> unfold2d_rows(gg.arange(6.0).reshape(1, 1, 2, 3), (2, 2))[0, 0]
    tensor([[[0., 1., 2.],
             [1., 2., 3.]],
    <BLANKLINE>
            [[3., 4., 5.],
             [4., 5., 0.]]])
    """
    return bind("unfold2d_rows", x, kernel=tuple(kernel), padding=tuple(padding), dilation=tuple(dilation),
                size=tuple(x.shape[2:]))


primitive("unfold2d_rows", memory="fresh", recompute="cheap", patches="unfold", batch=_image_patches_batch,
          attrs=("kernel", "padding", "dilation", "size"), infer=_unfold2d_rows_type, fn=unfold2d_rows,
          doc="per kernel offset, a run of OH * W consecutive pixels of the flattened, zero-padded (N, C, H, W) "
              "image: (N, C, KH, KW, OH * W), a view of the padded copy",
          vjp=(lambda g, out, x, *, kernel, padding, dilation, size: bind(
              "fold2d_rows", g, kernel=kernel, padding=padding, dilation=dilation, size=size),),
          expr=_unfold2d_rows_expr, rows=batch_axis_rows)


def _fold2d_rows_expr(a, xp, out, kernel, padding, dilation, size):
    (ph, pw), (h, w) = padding, size
    rows, width, oh, _ = _rows_geometry(kernel, padding, dilation, size)
    image = f"{out}_image"
    lines = [f"{image} = {xp}.zeros({a[0]}.shape[:2] + ({rows * width},), dtype={a[0]}.dtype)"]
    length = oh * width
    for i, j, start in _row_offsets(kernel, dilation, width):
        lines.append(f"{image}[:, :, {start}:{start + length}] += {a[0]}[:, :, {i}, {j}]")
    return lines + [f"{image}.reshape({image}.shape[:2] + ({rows}, {width}))[:, :, {ph}:{ph + h}, {pw}:{pw + w}]"]


primitive("fold2d_rows", memory="fresh", patches="fold", batch=_image_patches_batch,
          attrs=("kernel", "padding", "dilation", "size"),
          infer=lambda inputs, kernel, padding, dilation, size: TensorType(inputs[0].shape[:2] + tuple(size),
                                                                           inputs[0].dtype),
          doc="the adjoint of unfold2d_rows: each run added back into the padded image, cropped to (N, C, *size)",
          vjp=(lambda g, out, x, *, kernel, padding, dilation, size: bind(
              "unfold2d_rows", g, kernel=kernel, padding=padding, dilation=dilation, size=size),),
          expr=_fold2d_rows_expr, rows=batch_axis_rows)


# -- max pooling ----------------------------------------------------------------------------------
def _tiles(kernel, stride, dilation) -> bool:
    """Whether the windows tile the image: each pixel lies in at most one window."""
    return tuple(stride) == tuple(kernel) and tuple(dilation) == (1, 1)


def _max_pool2d_type(inputs, kernel, stride, padding, dilation):
    x = inputs[0]
    if x.ndim != 4:
        raise ShapeError(f"non-empty 3D or 4D (batch mode) tensor expected for input, but got input of size: "
                         f"{list(x.shape)}")
    if (padding[0] or padding[1]) and not x.dtype.startswith("float"):
        raise NotImplementedError(f"max_pool2d: padding pads with -inf, which an {x.dtype} input cannot hold")
    n, c, h, w = x.shape
    oh, ow = (window_count(*args) for args in zip((h, w), kernel, stride, padding, dilation))
    if oh <= 0 or ow <= 0:
        raise ShapeError(f"Given input size: ({c}x{h}x{w}). Calculated output size: ({c}x{oh}x{ow}). "
                         f"Output size is too small")
    return TensorType((n, c, oh, ow), x.dtype)


def _window_slices(source, kernel, stride, dilation):
    """For each kernel offset (i, j), row-major: the strided slice of the padded image ``source`` that holds that
    offset's entry of every window. Each stops ``dilation * (kernel - 1 - i)`` short of the end, so it has
    exactly one entry per window whatever the image's size."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation

    def part(i, k, s, d):
        stop = d * (k - 1 - i)
        return f"{i * d}:{-stop if stop else ''}:{s}"
    return [f"{source}[:, :, {part(i, kh, sh, dh)}, {part(j, kw, sw, dw)}]" for i in range(kh) for j in range(kw)]


def _padded(a, xp, out, padding, fill="-inf"):
    """``a`` padded with ``fill`` (``"-inf"``, or ``"nan"``: an entry no maximum equals), and the lines that pad."""
    (ph, pw) = padding
    if not (ph or pw):
        return a, []
    value = f"-{xp}.inf" if fill == "-inf" else f"{xp}.nan"
    return f"{out}_padded", [f"{out}_padded = {xp}.pad({a}, ((0, 0), (0, 0), ({ph}, {ph}), ({pw}, {pw})), "
                             f"constant_values={value})"]


def _nan_picks(source, pooled, xp, out, kernel, stride, padding, dilation, write):
    """The lines that give each window whose maximum is nan (it holds a nan) its pick, as PyTorch's kernels
    (``val > maxval || isnan(val)``): its last nan, in row-major order. ``source`` is the image padded with nan,
    set to -inf here first: the padding is no nan of the window. ``write(k, hit)`` gives the lines that record
    the picks ``hit`` (bool, one per window) at kernel offset ``k``. NumPy code runs them only where a maximum
    is nan (a check of the pooled values); CuPy code always, rather than wait for the device to answer.
    ``x != x``: ``isnan`` for every dtype (CuPy's has no integer loops)."""
    (ph, pw) = padding
    free, hit = f"{out}_nanfree", f"{out}_nanhit"
    body = []
    if ph:
        body += [f"{source}[:, :, :{ph}] = -{xp}.inf", f"{source}[:, :, -{ph}:] = -{xp}.inf"]
    if pw:
        body += [f"{source}[:, :, :, :{pw}] = -{xp}.inf", f"{source}[:, :, :, -{pw}:] = -{xp}.inf"]
    views = list(enumerate(_window_slices(source, kernel, stride, dilation)))[::-1]  # the last nan first
    for n, (k, view) in enumerate(views):
        body.append(f"{hit} = {xp}.not_equal({view}, {view})" if n == 0 else
                    f"{xp}.not_equal({view}, {view}, out={hit})")
        body.append(f"{hit} &= {free}")
        if n < len(views) - 1:
            body.append(f"{free} ^= {hit}")  # the hits were free: clear exactly them
        body += write(k, hit)
    lines = [f"{free} = {xp}.not_equal({pooled}, {pooled})"]
    if xp == "np":
        return lines + [f"if {free}.any():"] + ["    " + line for line in body]
    return lines + body


def _max_pool2d_expr(a, xp, out, kernel, stride, padding, dilation):
    # the elementwise maximum of one strided slice per kernel offset: kernel-size passes over the output,
    # never a copy of the windows
    source, lines = _padded(a[0], xp, out, padding)
    views = _window_slices(source, kernel, stride, dilation)
    if len(views) == 1:
        return lines + [f"{views[0]}.copy()"]
    lines.append(f"{out}_max = {xp}.maximum({views[0]}, {views[1]})")
    lines += [f"{xp}.maximum({out}_max, {view}, out={out}_max)" for view in views[2:]]
    return lines + [f"{out}_max"]


def _max_pool2d_vjp(g, out, x, *, kernel, stride, padding, dilation):
    return bind("max_pool2d_backward", g, x, out, kernel=kernel, stride=stride, padding=padding, dilation=dilation)


def max_pool2d(x: TensorBase, kernel: tuple, stride: tuple, padding: tuple = (0, 0),
               dilation: tuple = (1, 1)) -> TensorBase:
    """The maximum of each (KH, KW) window of an (N, C, H, W) image padded with -inf (the ``max_pool2d``
    primitive; ``graphgrad.nn.functional.max_pool2d`` is PyTorch's interface to it). The gradient goes to the
    first maximum of each window in row-major order, as PyTorch's.

    >>> import graphgrad as gg
    >>> from graphgrad.ops.nn import max_pool2d
    >>> max_pool2d(gg.tensor([[[[1.0, 5.0], [3.0, 2.0]]]]), (2, 2), (2, 2))
    tensor([[[[5.]]]])
    """
    return bind("max_pool2d", x, kernel=tuple(kernel), stride=tuple(stride), padding=tuple(padding),
                dilation=tuple(dilation))


primitive("max_pool2d", memory="fresh", batch=_image_patches_batch, saves_result=False,
          attrs=("kernel", "stride", "padding", "dilation"), infer=_max_pool2d_type,
          doc="the maximum of each (KH, KW) window of a -inf-padded (N, C, H, W) image: (N, C, OH, OW)",
          vjp=(_max_pool2d_vjp,), expr=_max_pool2d_expr, fn=max_pool2d, rows=batch_axis_rows)


def _max_pool2d_backward_expr(a, xp, out, kernel, stride, padding, dilation):
    """Per kernel offset, in row-major order: which windows' maximum sits there and no earlier offset took it
    (``free``: a tie goes to the first maximum, as in PyTorch), and the gradient written to those entries; then
    the windows whose maximum is nan, whose gradient goes to their last nan (``_nan_picks``). The padding is
    nan, which no maximum equals: a window of -inf's gradient goes to its first entry in the image. The
    gradient is copied where picked, not multiplied by the picks: a nan or inf of it reaches only its pick."""
    g, pooled = a[0], a[2]
    source, lines = _padded(a[1], xp, out, padding, "nan")
    image, hit, free = f"{out}_image", f"{out}_hit", f"{out}_free"
    lines.append(f"{image} = {xp}.zeros({source}.shape, dtype={g}.dtype)")
    views, targets = (_window_slices(name, kernel, stride, dilation) for name in (source, image))
    tiles = _tiles(kernel, stride, dilation)

    def write(k, picked):
        # tiling windows own their entries: the gradient is copied in place, else added to the overlaps
        return ([f"{xp}.copyto({targets[k]}, {g}, where={picked})"] if tiles else
                [f"{targets[k]} += {xp}.where({picked}, {g}, 0)"])

    finite = f"{out}_finite"

    def write_first(k, picked):
        # a masked copy into a strided view is several times slower than a product: NumPy code multiplies by
        # the picks when the gradient is finite (its usual case, where the two agree); CuPy code always copies
        if xp != "np":
            return write(k, picked)
        product = f"{xp}.multiply({g}, {picked}, out={targets[k]})" if tiles else f"{targets[k]} += {g} * {picked}"
        return [f"if {finite}:", f"    {product}", "else:"] + [f"    {line}" for line in write(k, picked)]

    if xp == "np":
        lines.append(f"{finite} = {xp}.isfinite({g}).all()")
    for k, view in enumerate(views):
        if k == 0:
            lines.append(f"{hit} = {xp}.equal({view}, {pooled})")
            if len(views) > 1:
                lines.append(f"{free} = ~{hit}")
        else:
            lines += [f"{xp}.equal({view}, {pooled}, out={hit})", f"{hit} &= {free}"]
            if k < len(views) - 1:
                lines.append(f"{free} ^= {hit}")  # the hits were free: clear exactly them
        lines += write_first(k, hit)
    lines += _nan_picks(source, pooled, xp, out, kernel, stride, padding, dilation, write)
    (ph, pw) = padding
    if ph or pw:
        return lines + [f"{image}[:, :, {ph}:{-ph if ph else ''}, {pw}:{-pw if pw else ''}]"]
    return lines + [image]


def _max_pool2d_gather(gg, out, g, x, pooled, *, kernel, stride, padding, dilation):
    """The adjoint of max_pool2d_backward in its gradient: each window's entry at its first maximum, picked by
    the first-maximum mask (second-order gradients of max_pool2d)."""
    mask = bind("max_pool2d_mask", x, pooled, kernel=kernel, stride=stride, padding=padding, dilation=dilation)
    n, c, oh, ow = pooled._type.shape
    (kh, kw), (ph, pw) = kernel, padding
    if not _tiles(kernel, stride, dilation):
        return (bind("unfold2d", gg, kernel=kernel, stride=stride, padding=padding, dilation=dilation)
                * mask).sum((-2, -1))
    if ph or pw:
        gg = pad(gg, (pw, pw, ph, ph))
    if tuple(gg.shape[2:]) != (oh * kh, ow * kw):  # the rows and columns no window reaches
        gg = gg[:, :, :oh * kh, :ow * kw]
    return (gg.reshape(n, c, oh, kh, ow, kw) * mask).sum((3, 5))


def _max_pool2d_backward_batch(op, args, bdims, **attrs):
    size = batch_size(args, bdims)
    batched = [broadcast_batch(a, d, size) for a, d in zip(args, bdims)]
    n = batched[1].shape[1]
    out = bind(op, *[b.reshape((size * n,) + tuple(b.shape[2:])) for b in batched], **attrs)
    return out.reshape((size, n) + tuple(out.shape[1:])), 0


def _all_batch_rows(a, node, states):
    if any(not isinstance(s, Row) or s.axis != 0 for s in states):
        raise RowCouplingError(node, f"`{node.op}` keeps rows apart only when they are the batch axis of all "
                                     f"its operands")
    return states[0]


primitive("max_pool2d_backward", memory="fresh", batch=_max_pool2d_backward_batch,
          attrs=("kernel", "stride", "padding", "dilation"),
          infer=lambda inputs, kernel, stride, padding, dilation: TensorType(inputs[1].shape, inputs[0].dtype),
          doc="max_pool2d's gradient (g, x, pooled) -> dx: g at each window's first maximum, zero elsewhere",
          vjp=(_max_pool2d_gather, None, None), expr=_max_pool2d_backward_expr, rows=_all_batch_rows)


def _max_pool2d_mask_type(inputs, kernel, stride, padding, dilation):
    n, c, oh, ow = inputs[1].shape
    (kh, kw) = kernel
    return TensorType((n, c, oh, kh, ow, kw) if _tiles(kernel, stride, dilation) else (n, c, oh, ow, kh, kw), "bool")


def _max_pool2d_mask_expr(a, xp, out, kernel, stride, padding, dilation):
    """One comparison with the maximum per kernel offset, in row-major order; ``free`` marks the windows whose
    maximum no earlier offset has taken, so that a tie goes to the first maximum, as in PyTorch; then a window
    whose maximum is nan takes its last nan (``_nan_picks``). The padding is nan, which no maximum equals."""
    source, lines = _padded(a[0], xp, out, padding, "nan")
    views = _window_slices(source, kernel, stride, dilation)
    kh, kw = kernel
    mask, free = f"{out}_mask", f"{out}_free"
    if _tiles(kernel, stride, dilation):  # (N, C, OH, KH, OW, KW): the image's layout, cut into its windows
        lines.append(f"{mask} = {xp}.empty({a[1]}.shape[:3] + ({kh}, {a[1]}.shape[3], {kw}), dtype=bool)")
        offsets = [f"{mask}[:, :, :, {i}, :, {j}]" for i in range(kh) for j in range(kw)]
    else:  # (N, C, OH, OW, KH, KW): unfold2d's layout, for fold2d
        lines.append(f"{mask} = {xp}.empty({a[1]}.shape + ({kh}, {kw}), dtype=bool)")
        offsets = [f"{mask}[:, :, :, :, {i}, {j}]" for i in range(kh) for j in range(kw)]
    for k, (view, hit) in enumerate(zip(views, offsets)):
        lines.append(f"{xp}.equal({view}, {a[1]}, out={hit})")
        if k == 0:
            if len(views) > 1:
                lines.append(f"{free} = ~{hit}")
            continue
        lines.append(f"{hit} &= {free}")
        if k < len(views) - 1:
            lines.append(f"{free} ^= {hit}")  # the hits were free: clear exactly them
    lines += _nan_picks(source, a[1], xp, out, kernel, stride, padding, dilation,
                        lambda k, picked: [f"{offsets[k]} |= {picked}"])
    return lines + [mask]


primitive("max_pool2d_mask", memory="fresh", batch=_max_pool2d_backward_batch, nondiff=True,
          attrs=("kernel", "stride", "padding", "dilation"), infer=_max_pool2d_mask_type,
          doc="which entry of each window max_pool2d took (the first maximum, row-major): bool, laid out as the "
              "image's (N, C, OH, KH, OW, KW) where the windows tile it, else (N, C, OH, OW, KH, KW)",
          expr=_max_pool2d_mask_expr, rows=_all_batch_rows)


# -- activations: composites of elementwise ops ------------------------------------------------------
def leaky_relu(input: TensorBase, negative_slope: float = 0.01, inplace: bool = False) -> TensorBase:
    """``x`` where positive, ``negative_slope * x`` elsewhere (PyTorch's ``F.leaky_relu``).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.leaky_relu(gg.tensor([-2.0, 3.0]), 0.1)
    tensor([-0.2000,  3.0000])
    """
    return _maybe_inplace(input, inplace, lambda x: where(x > 0, x, x * negative_slope), "LeakyReluBackward0")


def elu(input: TensorBase, alpha: float = 1.0, inplace: bool = False) -> TensorBase:
    """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere (PyTorch's ``F.elu``).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.elu(gg.tensor([-1.0, 2.0]))
    tensor([-0.6321,  2.0000])
    """
    # expm1 of x clamped to 0 where x > 0: the branch where() drops never overflows. The clamp is a where on
    # PyTorch's comparison x <= 0, not minimum(x, 0), whose tie at x = 0 would halve the gradient there (PyTorch:
    # alpha); a nan takes the x branch, gradient 1, as PyTorch's
    return _maybe_inplace(input, inplace,
                          lambda x: where(x <= 0, expm1(where(x <= 0, x, 0.0)) * alpha, x), "EluBackward0")


def gelu(input: TensorBase, approximate: str = "none") -> TensorBase:
    """``x * Phi(x)``, Phi the standard normal CDF (``approximate="tanh"``: PyTorch's tanh approximation).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.gelu(gg.tensor([-1.0, 1.0])), F.gelu(gg.tensor([-1.0, 1.0]), approximate="tanh")
    (tensor([-0.1587,  0.8413]), tensor([-0.1588,  0.8412]))
    """
    if approximate == "none":
        return (input * 0.5 * (1.0 + erf(input * (1.0 / math.sqrt(2.0)))))._shown_as("GeluBackward0")
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2.0 / math.pi)
        return (input * 0.5 * (1.0 + tanh(inner)))._shown_as("GeluBackward0")
    raise RuntimeError("approximate argument must be either none or tanh.")


def softplus(input: TensorBase, beta: float = 1.0, threshold: float = 20.0) -> TensorBase:
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold`` (PyTorch's
    ``F.softplus``).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.softplus(gg.tensor([0.0, 30.0]))
    tensor([ 0.6931, 30.0000])
    """
    scaled = input * beta
    # the exp never sees more than threshold, so the branch where() drops cannot overflow (nor its gradient); the
    # clamp is a where on PyTorch's comparison (not minimum, whose tie would halve the gradient at the threshold):
    # beta * x == threshold takes the log1p branch, as PyTorch's value and gradient do
    clamped = where(scaled > threshold, threshold, scaled)
    return where(scaled > threshold, input, log1p(exp(clamped)) / beta)._shown_as("SoftplusBackward0")


def silu(input: TensorBase, inplace: bool = False) -> TensorBase:
    """``x * sigmoid(x)`` (PyTorch's ``F.silu``).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.silu(gg.tensor([-1.0, 1.0]))
    tensor([-0.2689,  0.7311])
    """
    return _maybe_inplace(input, inplace, lambda x: x * sigmoid(x), "SiluBackward0")


def _maybe_inplace(input, inplace, compute, name):
    """``compute(input)``, its eager grad_fn shown as PyTorch's ``name``; written into ``input`` when ``inplace``
    (eager tensors: one in-place op)."""
    if not inplace:
        return compute(input)._shown_as(name)
    if not hasattr(input, "_inplace_with"):
        raise RuntimeError("in-place activations (inplace=True) cannot be traced; use the out-of-place form")
    return input._inplace_with(compute)


# one np.clip (the where() chain it was took 11 times as long on a large array); PyTorch's gradient: 0 where
# x <= min or x >= max, so only strictly inside, and through a nan. (clamp's passes at the bounds: another op)
primitive("hardtanh", batch=elementwise, attrs=("min", "max"), elementwise=True, torch_name="HardtanhBackward0",
          infer=lambda inputs, min, max: elementwise_type(list(inputs) + [min, max]), expr=clamp_expr,
          vjp=(lambda g, out, x, *, min, max: where((x <= min) | (x >= max), 0.0, g),),
          doc="x limited to [min, max] (numbers, min <= max), its gradient passed strictly inside")


# PyTorch's gradients at the kinks: hardtanh and its relatives pass it only strictly inside (min, max); the
# where() chains of the relatives below give exactly that (a gradient of 1 only where neither bound is taken)
def hardtanh(input: TensorBase, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> TensorBase:
    """``x`` clamped to ``[min_val, max_val]``; the gradient is 1 strictly inside, 0 at and beyond the bounds.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.hardtanh(gg.tensor([-2.0, 0.5, 2.0]))
    tensor([-1.0000,  0.5000,  1.0000])
    """
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    dtype = input._type.dtype
    if dtype == "bool":
        raise RuntimeError("Bool inputs not supported for hardtanh")
    # the result has the input's dtype, as PyTorch's: an integer tensor's bounds are integers (truncated)
    number = float if dtype.startswith("float") else int
    bounds = {"min": number(min_val), "max": number(max_val)}
    return _maybe_inplace(input, inplace, lambda x: bind("hardtanh", x, **bounds), "HardtanhBackward0")


def relu6(input: TensorBase, inplace: bool = False) -> TensorBase:
    """``hardtanh(x, 0, 6)``.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.relu6(gg.tensor([-1.0, 3.0, 7.0]))
    tensor([0., 3., 6.])
    """
    return hardtanh(input, 0.0, 6.0, inplace)


# hardsigmoid and hardswish: PyTorch's formulas, one np.clip each (the where() chains they were took 1.2-2.3x as
# long), and PyTorch's gradients: hardsigmoid's 1/6 only strictly inside (-3, 3), so 0 at a nan; hardswish's
# x / 3 + 1/2 inside, 0 at and below -3, 1 from 3 on (the where() chain gave 0 * inf = nan at +-inf) and nan at
# a nan, as PyTorch's vectorized loop (its scalar loop, for the last few elements, gives 1)
primitive("hardsigmoid", batch=elementwise, elementwise=True, torch_name="HardsigmoidBackward0",
          infer=lambda inputs: elementwise_type(inputs), expr=lambda a, xp, out: [f"{xp}.clip({a[0]} + 3, 0, 6) / 6"],
          vjp=(lambda g, out, x: where((x > -3.0) & (x < 3.0), g * (1 / 6), 0.0),),
          doc="relu6(x + 3) / 6, its gradient 1/6 strictly inside (-3, 3)")
primitive("hardswish", batch=elementwise, elementwise=True, torch_name="HardswishBackward0",
          infer=lambda inputs: elementwise_type(inputs),
          expr=lambda a, xp, out: [f"{a[0]} * {xp}.clip({a[0]} + 3, 0, 6) / 6"],
          vjp=(lambda g, out, x: where(x <= -3.0, 0.0, where(x >= 3.0, g, g * (x / 3.0 + 0.5))),),
          doc="x * relu6(x + 3) / 6")


def _float(input: TensorBase) -> TensorBase:
    return input if input._type.is_floating else input._cast(float_dtype([input._type]))


def hardsigmoid(input: TensorBase, inplace: bool = False) -> TensorBase:
    """``relu6(x + 3) / 6``: 0 at and below -3, 1 at and above 3 (gradient 1/6 strictly between).

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.hardsigmoid(gg.tensor([-4.0, 0.0, 4.0]))
    tensor([0.0000, 0.5000, 1.0000])
    """
    return _maybe_inplace(input, inplace, lambda x: bind("hardsigmoid", _float(x)), "HardsigmoidBackward0")


def hardswish(input: TensorBase, inplace: bool = False) -> TensorBase:
    """``x * relu6(x + 3) / 6``; its gradient is PyTorch's: 0 at and below -3, ``(2x + 3) / 6`` between, 1 at and
    above 3.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.hardswish(gg.tensor([-4.0, 1.0, 4.0]))
    tensor([-0.0000, 0.6667, 4.0000])
    """
    return _maybe_inplace(input, inplace, lambda x: bind("hardswish", _float(x)), "HardswishBackward0")


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def selu(input: TensorBase, inplace: bool = False) -> TensorBase:
    """``scale * elu(x, alpha)`` with the self-normalizing constants of Klambauer et al.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.selu(gg.tensor([-1.0, 1.0]))
    tensor([-1.1113,  1.0507])
    """
    return _maybe_inplace(input, inplace, lambda x: elu(x, _SELU_ALPHA) * _SELU_SCALE, "EluBackward0")


def celu(input: TensorBase, alpha: float = 1.0, inplace: bool = False) -> TensorBase:
    """``x`` where positive, ``alpha * (exp(x / alpha) - 1)`` elsewhere.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.celu(gg.tensor([-1.0, 1.0]), alpha=2.0)
    tensor([-0.7869,  1.0000])
    """
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError")
    return _maybe_inplace(input, inplace, lambda x: where(x <= 0, expm1(where(x <= 0, x, 0.0) / alpha) * alpha, x),
                          "CeluBackward0")


def mish(input: TensorBase, inplace: bool = False) -> TensorBase:
    """``x * tanh(softplus(x))``.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.mish(gg.tensor([-1.0, 1.0]))
    tensor([-0.3034,  0.8651])
    """
    return _maybe_inplace(input, inplace, lambda x: x * tanh(softplus(x)), "MishBackward0")


def softsign(input: TensorBase) -> TensorBase:
    """``x / (1 + |x|)``.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.softsign(gg.tensor([-1.0, 3.0]))
    tensor([-0.5000,  0.7500])
    """
    return input / (input.abs() + 1.0)


def tanhshrink(input: TensorBase) -> TensorBase:
    """``x - tanh(x)``."""
    return input - tanh(input)


def hardshrink(input: TensorBase, lambd: float = 0.5) -> TensorBase:
    """``x`` where ``|x| > lambd``, else 0."""
    # (zero inside [-lambd, lambd]: a nan, inside nothing, stays nan, as PyTorch's)
    return where((input >= -lambd) & (input <= lambd), 0.0, input)._shown_as("HardshrinkBackward0")


def softshrink(input: TensorBase, lambd: float = 0.5) -> TensorBase:
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0."""
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    # (inside, x * 0 as PyTorch's kernel: -0.3 gives -0.0; a nan, inside nothing, stays nan with gradient 1)
    inside = (input >= -lambd) & (input <= lambd)
    return where(inside, input * 0.0, where(input > lambd, input - lambd, input + lambd))._shown_as(
        "SoftshrinkBackward0")


def logsigmoid(input: TensorBase) -> TensorBase:
    """``log(sigmoid(x)) = -softplus(-x)``, without overflow for very negative ``x``.

    >>> import graphgrad as gg, graphgrad.nn.functional as F
    >>> F.logsigmoid(gg.tensor([-200.0, 0.0]))
    tensor([-200.0000,   -0.6931])
    """
    return (-softplus(-input))._shown_as("LogSigmoidBackward0")


for _fn in (leaky_relu, elu, gelu, softplus, silu, hardtanh, relu6, hardsigmoid, hardswish, selu, celu, mish, softsign,
            tanhshrink, hardshrink, softshrink, logsigmoid):
    export(_fn, _fn.__name__, nn=_fn.__name__)
# PyTorch's torch.selu, torch.celu, torch.hardshrink and Tensor.hardshrink are these too
export(selu, "selu", gg="selu")
export(celu, "celu", gg="celu")
export(hardshrink, "hardshrink", tensor="hardshrink", gg="hardshrink")


# -- a gradient scaled on its way back --------------------------------------------------------------------------
def _scale_grad_type(inputs):
    x, scale = inputs
    if broadcast_shapes(x.shape, scale.shape) != tuple(x.shape) or scale.dtype != x.dtype:
        raise ShapeError(f"scale_grad: the scale ({scale}) must broadcast to the tensor's shape and have its dtype "
                         f"({x})")
    return x


def scale_grad(x: TensorBase, scale: TensorBase) -> TensorBase:
    """``x`` itself, whose gradient is multiplied by ``scale`` (of ``x``'s dtype, broadcasting to its shape; it
    gets no gradient) on its way back: ``F.embedding_bag(scale_grad_by_freq=True)`` divides the gradient of each
    looked-up row by the number of times its index occurs, as PyTorch's kernel does.

    >>> import graphgrad as gg
    >>> from graphgrad.ops.nn import scale_grad
    >>> x = gg.tensor([1.0, 2.0], requires_grad=True)
    >>> scale_grad(x, gg.tensor([0.5, 3.0])).sum().backward()
    >>> x.grad
    tensor([0.5000, 3.0000])
    """
    return bind("scale_grad", x, scale)


primitive("scale_grad", memory="view", infer=_scale_grad_type, batch=elementwise,
          vjp=(lambda g, out, x, scale: g * scale, None), expr=lambda a, xp, out: [a[0]],
          doc="x itself, its gradient multiplied by scale on the way back (scale gets none)")
