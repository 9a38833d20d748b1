"""Tensor printing, digit for digit as PyTorch prints (precision 4, 1000-element summary, 80 columns).

Users compare our output with tutorials, so the rules are PyTorch's: one format for the whole tensor, chosen
from its finite non-zero magnitudes (integers print as ``1.``, wide ranges switch to ``1.0000e+03``),
every element right-aligned to the widest, rows wrapped at the line width.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir import registry


@dataclass
class PrintOptions:
    precision: int = 4
    threshold: int = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


PRINT_OPTS = PrintOptions()


def set_printoptions(precision: int | None = None, threshold: int | None = None, edgeitems: int | None = None,
                     linewidth: int | None = None, profile: str | None = None, sci_mode: bool | None = None) -> None:
    """Change how tensors print, as ``torch.set_printoptions`` does.

    >>> import graphgrad as gg
    >>> gg.set_printoptions(precision=2)
    >>> gg.tensor([1.2345])
    tensor([1.23])
    >>> gg.set_printoptions(profile="default")
    """
    if profile is not None:
        presets = {"default": PrintOptions(), "short": PrintOptions(precision=2, edgeitems=2),
                   "full": PrintOptions(threshold=2 ** 63 - 1)}
        if profile not in presets:
            raise ValueError(f"Invalid profile {profile!r}: expected 'default', 'short' or 'full'")
        PRINT_OPTS.__dict__.update(presets[profile].__dict__)
    for name, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                        ("linewidth", linewidth)):
        if value is not None:
            setattr(PRINT_OPTS, name, value)
    PRINT_OPTS.sci_mode = sci_mode


class _Formatter:
    """The single element format of one tensor (PyTorch's ``_Formatter``)."""

    def __init__(self, values: np.ndarray):
        self.floating = values.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        if not self.floating:
            for v in values.ravel().tolist():
                self.max_width = max(self.max_width, len(str(v)))
            return
        finite = values[np.isfinite(values) & (values != 0)].astype(np.float64)
        if finite.size:
            magnitudes = np.abs(finite)
            lo, hi = magnitudes.min(), magnitudes.max()
            self.int_mode = bool(np.all(finite == np.ceil(finite)))
            p = PRINT_OPTS.precision
            items = finite.tolist()
            # a forced sci_mode decides the widths too (PyTorch 2.13): the column fits the format printed
            self.sci_mode = (hi / lo > 1000.0 or hi > 1.0e8 or (not self.int_mode and lo < 1.0e-4)
                             if PRINT_OPTS.sci_mode is None else PRINT_OPTS.sci_mode)
            if self.sci_mode:
                widths = [len(f"{v:.{p}e}") for v in items]
            elif self.int_mode:
                widths = [len(f"{v:.0f}") + 1 for v in items]
            else:
                widths = [len(f"{v:.{p}f}") for v in items]
            self.max_width = max(widths)
        # (no finite non-zero value: PyTorch keeps the plain format whatever sci_mode says, `tensor([0., nan])`)

    def format(self, value) -> str:
        p = PRINT_OPTS.precision
        if not self.floating:
            text = str(value)
        elif self.sci_mode:
            text = f"{value:{self.max_width}.{p}e}"
        elif self.int_mode:
            text = f"{value:.0f}" + ("" if math.isinf(value) or math.isnan(value) else ".")
        else:
            text = f"{value:.{p}f}"
        return text.rjust(self.max_width)


def _summarized(data: np.ndarray) -> np.ndarray:
    """Only the edge items along every axis: what the formatter must fit when a tensor is summarized."""
    e = PRINT_OPTS.edgeitems
    if data.ndim == 0:
        return data
    if data.ndim > 1 and not e:
        return data[:0]
    if data.shape[0] > 2 * e:
        data = np.concatenate([data[:e], data[len(data) - e:]])
    return np.stack([_summarized(row) for row in data]) if data.ndim > 1 else data


def _body(data: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    e = PRINT_OPTS.edgeitems
    if data.ndim == 0:
        return fmt.format(data.item())
    if data.ndim == 1:
        per_line = max(1, (PRINT_OPTS.linewidth - indent) // (fmt.max_width + 2))
        if summarize and not e:  # edgeitems=0: no element at all (the size is printed instead)
            items = ["..."]
        elif summarize and data.shape[0] > 2 * e:
            items = ([fmt.format(v) for v in data[:e].tolist()] + [" ..."]
                     + [fmt.format(v) for v in data[len(data) - e:].tolist()])
        else:
            items = [fmt.format(v) for v in data.tolist()]
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    if summarize and data.shape[0] > 2 * e:
        rows = ([_body(r, indent + 1, summarize, fmt) for r in data[:e]] + ["..."]
                + [_body(r, indent + 1, summarize, fmt) for r in data[len(data) - e:]])
    else:
        rows = [_body(r, indent + 1, summarize, fmt) for r in data]
    return "[" + ("," + "\n" * (data.ndim - 1) + " " * (indent + 1)).join(rows) + "]"


def array_str(data: np.ndarray, indent: int = 0) -> str:
    """The bracketed body of a tensor's printout, each nested row indented past ``indent`` columns."""
    if data.size == 0:
        return "[]"
    summarize = data.size > PRINT_OPTS.threshold
    fmt = _Formatter(_summarized(data) if summarize else data)
    return _body(data, indent, summarize, fmt)


def tensor_repr(data: np.ndarray, *, dtype: str, requires_grad: bool = False, grad_fn_name: str | None = None,
                device: str = "cpu", prefix: str = "tensor(") -> str:
    """``tensor([...], suffixes)`` as PyTorch prints it: ``dtype=`` only for non-default dtypes, ``size=`` for
    empty tensors whose shape is not ``(0,)`` (and for all with ``edgeitems=0``), then the device, ``grad_fn=`` or
    ``requires_grad=True``."""
    indent = len(prefix)
    default = registry.default_float()  # gg.set_default_dtype(gg.float64) drops float64's suffix instead
    suffixes = []
    if device != "cpu":
        suffixes.append(f"device='{device}:0'" if ":" not in device else f"device='{device}'")
    if data.size == 0:
        if data.ndim != 1:
            suffixes.append(f"size={tuple(data.shape)}")
        if dtype != default:
            suffixes.append(f"dtype=torch.{dtype}")
        body = "[]"
    else:
        if not PRINT_OPTS.edgeitems:
            suffixes.append(f"size={tuple(data.shape)}")
        if dtype not in (default, "int64", "bool"):
            suffixes.append(f"dtype=torch.{dtype}")
        body = array_str(data, indent)
    if grad_fn_name is not None:
        suffixes.append(f"grad_fn=<{grad_fn_name}>")
    elif requires_grad:
        suffixes.append("requires_grad=True")
    out = prefix + body
    last_line = len(out) - out.rfind("\n") + 1
    for s in suffixes:
        if last_line + len(s) + 2 > PRINT_OPTS.linewidth:
            out += ",\n" + " " * indent + s
            last_line = indent + len(s)
        else:
            out += ", " + s
            last_line += len(s) + 2
    return out + ")"
