"""``torch.testing``: :func:`assert_close`, PyTorch's comparison of tensors, NumPy arrays, numbers, and sequences and
mappings of them, with its default tolerances per dtype and its failure messages, so that tests written against
PyTorch run with ``import graphgrad as torch``.

>>> import graphgrad as torch
>>> torch.testing.assert_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-6]))
>>> torch.testing.assert_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.5]))
Traceback (most recent call last):
AssertionError: Tensor-likes are not close!
<BLANKLINE>
Mismatched elements: 1 / 2 (50.0%)
Greatest absolute difference: 0.5 at index (1,) (up to 1e-05 allowed)
Greatest relative difference: 0.20000000298023224 at index (1,) (up to 1.3e-06 allowed)
"""
from __future__ import annotations

import cmath
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import numpy as np

from .ir.api import TensorBase
from .runtime import dtypes
from .runtime.tensor import Size
from .runtime.torch_api import promote_types

# PyTorch's default (rtol, atol) per dtype; every other dtype (integers, bool) compares exactly
_DTYPE_PRECISIONS = {"float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5), "float32": (1.3e-6, 1e-5),
                     "float64": (1e-7, 1e-7), "complex64": (1.3e-6, 1e-5), "complex128": (1e-7, 1e-7)}
_NUMBER_DTYPES = {int: "int64", float: "float64", complex: "complex128"}


class _Failure(Exception):
    """A comparison failed: the exception type to raise, its message and where (the item path) it happened."""

    def __init__(self, kind: type, message: str, path: tuple = ()):
        super().__init__(message)
        self.kind, self.message, self.path = kind, message, path

    def error(self, msg) -> Exception:
        if isinstance(msg, str):
            return self.kind(msg)
        text = self.message
        if self.path:
            text += f"\n\nThe failure occurred for item {''.join(str([item]) for item in self.path)}"
        return self.kind(msg(text) if callable(msg) else text)


def assert_close(actual: Any, expected: Any, *, allow_subclasses: bool = True, rtol: float | None = None,
                 atol: float | None = None, equal_nan: bool = False, check_device: bool = True,
                 check_dtype: bool = True, check_layout: bool = True, check_stride: bool = False,
                 msg: str | Callable[[str], str] | None = None) -> None:
    """Raise ``AssertionError`` unless ``actual`` and ``expected`` are close: elementwise
    ``|actual - expected| <= atol + rtol * |expected|`` (NaNs equal only with ``equal_nan``), after checking shape,
    device, dtype (``check_dtype``) and, with ``check_stride``, strides. Tensors compare with tensors, NumPy arrays
    with arrays, Python numbers with numbers, and sequences and mappings item by item. Without ``rtol`` and ``atol``
    (give both or neither) PyTorch's defaults for the looser of the two dtypes: float32 (1.3e-6, 1e-5), float64
    (1e-7, 1e-7), float16 (1e-3, 1e-5), exact for integers and bools. ``msg`` replaces the message, or (a callable)
    rewrites it. ``check_layout`` changes nothing (graphgrad's tensors are all strided).

    >>> import graphgrad as torch
    >>> torch.testing.assert_close([1.0, torch.tensor(2)], [1.0 + 1e-8, torch.tensor(2)])
    >>> torch.testing.assert_close(1, 2)
    Traceback (most recent call last):
    AssertionError: Scalars are not equal!
    <BLANKLINE>
    Expected 2 but got 1.
    Absolute difference: 1
    Relative difference: 0.5
    """
    options = dict(allow_subclasses=allow_subclasses, rtol=rtol, atol=atol, equal_nan=equal_nan,
                   check_device=check_device, check_dtype=check_dtype, check_stride=check_stride)
    try:
        _compare(actual, expected, (), options)
    except _Failure as failure:
        raise failure.error(msg) from None


def _compare(actual, expected, path: tuple, options: dict) -> None:
    if _is_sequence(actual) and _is_sequence(expected):
        if len(actual) != len(expected):
            raise _Failure(AssertionError, f"The length of the sequences mismatch: {len(actual)} != {len(expected)}",
                           path)
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, path + (i,), options)
        return
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if set(actual) != set(expected):
            raise _Failure(AssertionError, f"The keys of the mappings do not match:\n"
                           f"Missing keys in the actual mapping: {sorted(set(expected) - set(actual))}\n"
                           f"Additional keys in the actual mapping: {sorted(set(actual) - set(expected))}", path)
        for key in sorted(actual) if _sortable(actual) else actual:
            _compare(actual[key], expected[key], path + (key,), options)
        return
    if actual is None and expected is None:
        return
    if actual is None or expected is None:
        raise _Failure(AssertionError, f"None mismatch: {actual} is not {expected}", path)
    if isinstance(actual, (bool, np.bool_)) and isinstance(expected, (bool, np.bool_)):
        if bool(actual) != bool(expected):
            raise _Failure(AssertionError, f"Booleans mismatch: {bool(actual)} is not {bool(expected)}", path)
        return
    if _is_number(actual) and _is_number(expected):
        _compare_numbers(actual, expected, path, options)
        return
    if _related(actual, expected, TensorBase, options) or _related(actual, expected, np.ndarray, options):
        _compare_arrays(actual, expected, path, options)
        return
    raise _Failure(TypeError, f"No comparison pair was able to handle inputs of type {type(actual)} and "
                              f"{type(expected)}.", path)


def _is_sequence(x) -> bool:
    return isinstance(x, Sequence) and not isinstance(x, (str, bytes))


def _sortable(mapping) -> bool:
    try:
        sorted(mapping)
    except TypeError:
        return False
    return True


def _is_number(x) -> bool:
    return isinstance(x, (int, float, complex, np.number)) and not isinstance(x, (bool, np.bool_))


def _related(actual, expected, cls: type, options: dict) -> bool:
    """Both of ``cls`` and one of the other's type (PyTorch's pairing: a Parameter with a tensor, unless
    ``allow_subclasses=False``)."""
    if not (isinstance(actual, cls) and isinstance(expected, cls)):
        return False
    if not (isinstance(actual, type(expected)) or isinstance(expected, type(actual))):
        return False
    return options["allow_subclasses"] or type(actual) is type(expected)


def _tolerances(dtype_names: list, options: dict, path: tuple) -> tuple:
    rtol, atol = options["rtol"], options["atol"]
    if (rtol is None) != (atol is None):
        raise _Failure(ValueError, f"Both 'rtol' and 'atol' must be either specified or omitted, but got no "
                                   f"{'rtol' if rtol is None else 'atol'}.", path)
    if rtol is not None:
        return rtol, atol
    rtols, atols = zip(*[_DTYPE_PRECISIONS.get(name, (0.0, 0.0)) for name in dtype_names])
    return max(rtols), max(atols)


def _compare_numbers(actual, expected, path: tuple, options: dict) -> None:
    actual, expected = (x.item() if isinstance(x, np.number) else x for x in (actual, expected))
    rtol, atol = _tolerances([_NUMBER_DTYPES[type(x)] for x in (actual, expected)], options, path)
    if options["check_dtype"] and type(actual) is not type(expected):
        raise _Failure(AssertionError, f"The (d)types do not match: {type(actual)} != {type(expected)}.", path)
    if actual == expected:
        return
    if options["equal_nan"] and cmath.isnan(actual) and cmath.isnan(expected):
        return
    difference = abs(actual - expected)
    if cmath.isfinite(difference) and difference <= atol + rtol * abs(expected):
        return
    raise _Failure(AssertionError, _scalar_message(actual, expected, rtol, atol), path)


def _scalar_message(actual, expected, rtol: float, atol: float) -> str:
    difference = abs(actual - expected)
    relative = float("inf") if expected == 0 else difference / abs(expected)
    return _message("Scalars", f"Expected {expected} but got {actual}.", difference, None, relative, None, rtol, atol)


def _message(identifier: str, extra: str, abs_diff, abs_index, rel_diff, rel_index, rtol: float, atol: float) -> str:
    """PyTorch's mismatch message (``torch.testing._comparison._make_mismatch_msg``)."""
    equality = rtol == 0 and atol == 0

    def line(kind: str, diff, index, tol) -> str:
        text = f"{kind.title()} difference: {diff}" if index is None else \
            f"Greatest {kind} difference: {diff} at index {index}"
        return text + ("" if equality else f" (up to {tol} allowed)") + "\n"

    text = f"{identifier} are not {'equal' if equality else 'close'}!\n\n{extra.strip()}\n"
    text += line("absolute", abs_diff, abs_index, atol) + line("relative", rel_diff, rel_index, rtol)
    return text.strip()


def _describe(x) -> tuple:
    """(host array, dtype name, dtype as printed, device as printed, shape as printed, strides) of a tensor or array."""
    if isinstance(x, TensorBase):
        array = x.detach().cpu().numpy() if x.is_cuda else x.detach().numpy()
        return array, x._type.dtype, str(x.dtype), str(x.device), Size(x.shape), x.stride()
    name = x.dtype.name
    return x, name, f"torch.{name}", "cpu", Size(x.shape), tuple(s // x.itemsize for s in x.strides)


def _compare_arrays(actual, expected, path: tuple, options: dict) -> None:
    (a, a_name, a_dtype, a_device, a_shape, a_strides), (e, e_name, e_dtype, e_device, e_shape, e_strides) = \
        _describe(actual), _describe(expected)
    rtol, atol = _tolerances([a_name, e_name], options, path)

    def mismatch(attribute: str, got, want):
        raise _Failure(AssertionError, f"The values for attribute '{attribute}' do not match: {got} != {want}.", path)

    if a_shape != e_shape:
        mismatch("shape", a_shape, e_shape)
    if options["check_stride"] and a_strides != e_strides:
        mismatch("stride()", a_strides, e_strides)
    if options["check_device"] and a_device != e_device:
        mismatch("device", a_device, e_device)
    if options["check_dtype"] and a_dtype != e_dtype:
        mismatch("dtype", a_dtype, e_dtype)
    if a.dtype != e.dtype:  # compared in the promoted dtype, as PyTorch's
        common = np.promote_types(a.dtype, e.dtype)
        if isinstance(actual, TensorBase) and a.dtype.kind != e.dtype.kind:  # (int64 with float32 is float32)
            common = np.dtype(promote_types(actual.dtype, expected.dtype).numpy)
        a, e = a.astype(common), e.astype(common)
    matches = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=options["equal_nan"]) if a.dtype.kind in "fc" else \
        (a == e) if rtol == 0 and atol == 0 else np.isclose(a, e, rtol=rtol, atol=atol)
    if matches.all():
        return
    if a.ndim == 0:
        raise _Failure(AssertionError, _scalar_message(a.item(), e.item(), rtol, atol), path)
    raise _Failure(AssertionError, _array_message(a, e, matches, rtol, atol), path)


def _array_message(a: np.ndarray, e: np.ndarray, matches: np.ndarray, rtol: float, atol: float) -> str:
    """PyTorch's ``make_tensor_mismatch_msg``: the differences in the compared dtype (integers and bools as int64,
    their relative difference in the default float dtype, as PyTorch's true division gives), the first greatest."""
    total = matches.size
    mismatched = total - int(matches.sum())
    extra = f"Mismatched elements: {mismatched} / {total} ({mismatched / total:.1%})"
    a, e, same = a.ravel(), e.ravel(), matches.ravel()
    if a.dtype.kind not in "fc":
        a, e = a.astype(np.int64), e.astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        abs_diff = np.abs(a - e)
        abs_diff[same] = 0
        divisor = np.abs(e)
        if a.dtype.kind not in "fc":
            float_type = dtypes.default_float().numpy
            abs_float, divisor = abs_diff.astype(float_type), divisor.astype(float_type)
        else:
            abs_float = abs_diff
        rel_diff = abs_float / divisor
    rel_diff[same] = 0
    abs_at, rel_at = int(_argmax(abs_diff)), int(_argmax(rel_diff))

    def index(flat: int) -> tuple:
        return tuple(int(i) for i in np.unravel_index(flat, matches.shape))
    return _message("Tensor-likes", extra, abs_diff[abs_at].item(), index(abs_at), rel_diff[rel_at].item(),
                    index(rel_at), rtol, atol)


def _argmax(values: np.ndarray) -> int:
    """The first greatest element, a NaN counting as the greatest (``torch.max``'s)."""
    nan = np.isnan(values) if values.dtype.kind in "fc" else None
    if nan is not None and nan.any():
        return int(nan.argmax())
    return int(values.argmax())


__all__ = ["assert_close"]
