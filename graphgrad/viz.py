"""Pictures of eager autograd graphs, drawn as torchviz draws PyTorch's: ``gg.viz.make_dot(loss)``.

The result holds DOT text and calls Graphviz's ``dot`` program only when a picture is asked for (``render``,
``pipe``, or Jupyter's ``_repr_svg_``); no Python package beyond graphgrad is needed. For the compiled IR,
``compiled.graph(...)`` returns a ``Graph`` that Jupyter draws the same way, and ``graphgrad dump --format svg``
draws it from the command line.

>>> import graphgrad as gg
>>> w = gg.ones(3, requires_grad=True)
>>> dot = gg.viz.make_dot((w * 2).sum(), params={"w": w})
>>> [line.strip() for line in dot.source.splitlines() if "Backward" in line or "AccumulateGrad" in line][:3]
['... [label=SumBackward0]', '... [label=MulBackward0]', '... [label=AccumulateGrad]']
"""
from __future__ import annotations

import os
from typing import Any

from .ir.render import render as _render
from .ir.render import repr_svg as _repr_svg
from .runtime.function import AccumulateGrad
from .runtime.tensor import Tensor

__all__ = ["Digraph", "make_dot"]

# torchviz's look, which PyTorch users know: grey op boxes, blue leaves, a green output, orange saved tensors
_NODE_ATTR = {"style": "filled", "shape": "box", "align": "left", "fontsize": "10", "ranksep": "0.1",
              "height": "0.2", "fontname": "monospace"}
_LEAF, _OUTPUT, _SAVED = "lightblue", "darkolivegreen1", "orange"


def _quote(text: str) -> str:
    if text.isidentifier() or text.isdigit():
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(attrs: dict) -> str:
    return ", ".join(f"{k}={_quote(str(v))}" for k, v in attrs.items())


class Digraph:
    """DOT text with graphviz.Digraph's ways to show it: ``source``, ``render``, ``pipe``, ``_repr_svg_``.

    >>> d = Digraph("g"); d.node("a", "a tensor"); d.edge("a", "b")
    >>> d.source.splitlines()
    ['digraph g {', '\\ta [label="a tensor"]', '\\ta -> b', '}']
    """

    def __init__(self, name: str | None = None, format: str = "pdf",  # noqa: A002  (graphviz's argument name)
                 node_attr: dict | None = None, graph_attr: dict | None = None):
        self.name = name
        self.format = format
        self.node_attr = dict(node_attr or {})
        self.graph_attr = dict(graph_attr or {})
        self.body: list[str] = []

    def node(self, name: str, label: str | None = None, **attrs: str) -> None:
        """Add a node ``name`` (shown as ``label``) with DOT attributes such as ``fillcolor="orange"``."""
        attrs = ({"label": label} if label is not None else {}) | attrs
        self.body.append(f"\t{_quote(name)} [{_attrs(attrs)}]" if attrs else f"\t{_quote(name)}")

    def edge(self, tail: str, head: str, **attrs: str) -> None:
        """Add an edge ``tail -> head``."""
        self.body.append(f"\t{_quote(tail)} -> {_quote(head)}" + (f" [{_attrs(attrs)}]" if attrs else ""))

    @property
    def source(self) -> str:
        """The DOT text."""
        head = f"digraph {_quote(self.name)} {{" if self.name else "digraph {"
        lines = [head]
        if self.graph_attr:
            lines.append(f"\tgraph [{_attrs(self.graph_attr)}]")
        if self.node_attr:
            lines.append(f"\tnode [{_attrs(self.node_attr)}]")
        return "\n".join(lines + self.body + ["}"]) + "\n"

    def __str__(self) -> str:
        return self.source

    def pipe(self, format: str | None = None) -> bytes:  # noqa: A002
        """The picture's bytes (``format`` defaults to ``self.format``), drawn by Graphviz's ``dot``."""
        return _render(self.source, format or self.format)

    def render(self, filename: str | None = None, directory: str | None = None, view: bool = False,
               cleanup: bool = False, format: str | None = None, outfile: str | None = None) -> str:  # noqa: A002
        """Write the DOT text to ``filename`` and the picture beside it as ``filename.<format>``; returns the
        picture's path, as graphviz does (``outfile="g.png"`` names the picture, its suffix the format).
        ``cleanup=True`` removes the DOT file afterwards."""
        if view:
            raise NotImplementedError("render(view=True): open the returned file with your viewer")
        if outfile is not None:
            stem, suffix = os.path.splitext(outfile)
            format = format or suffix.lstrip(".") or self.format  # noqa: A001
            filename = filename or stem + ".gv"
            target = outfile
        else:
            format = format or self.format  # noqa: A001
            filename = filename or f"{self.name or 'Digraph'}.gv"
            target = None
        if directory:
            filename = os.path.join(directory, filename)
            if target is not None and not os.path.isabs(target):
                target = os.path.join(directory, target)
        target = target or f"{filename}.{format}"
        picture = _render(self.source, format)  # first: a missing dot leaves no half-written files
        os.makedirs(os.path.dirname(os.path.abspath(filename)), exist_ok=True)
        with open(filename, "w", encoding="utf-8") as f:
            f.write(self.source)
        with open(target, "wb") as f:
            f.write(picture)
        if cleanup:
            os.remove(filename)
        return target

    def _repr_svg_(self) -> str | None:
        return _repr_svg(self.source)


def _size(t: Tensor) -> str:
    return "(" + ", ".join(str(d) for d in t.shape) + ")"


def _fn_name(fn: Any) -> str:
    if isinstance(fn, AccumulateGrad):
        return "AccumulateGrad"
    name = fn.name() if callable(getattr(fn, "name", None)) else type(fn).__name__
    return name.rpartition("::")[2]


def make_dot(var: Tensor | tuple | list, params: dict | None = None, show_attrs: bool = False,
             show_saved: bool = False, max_attr_chars: int = 50) -> Digraph:
    """The autograd graph that produced ``var`` (a tensor, or a tuple/list of them), as torchviz draws it.

    Grey boxes are backward nodes (``MulBackward0``, ``AccumulateGrad``), blue boxes the leaf tensors they
    accumulate into (named from ``params``, e.g. ``dict(model.named_parameters())``, with their shapes), green
    the output. ``show_attrs`` adds each node's attributes (``dim``, ``keepdim``...), ``show_saved`` the tensors
    it saved for backward (orange). Arrows point the way the forward computation ran.

    >>> import graphgrad as gg, graphgrad.nn as nn
    >>> model = nn.Linear(3, 2)
    >>> dot = make_dot(model(gg.randn(4, 3)).sum(), params=dict(model.named_parameters()))
    >>> "AddmmBackward0" in dot.source and 'label="weight\\\\n (2, 3)"' in dot.source
    True
    """
    if params is not None:
        if not isinstance(params, dict):
            raise TypeError(f"make_dot(): params must be a dict of name -> Tensor, "
                            f"e.g. dict(model.named_parameters()), not {type(params).__name__}")
        for k, v in params.items():
            if not isinstance(v, Tensor):
                raise TypeError(f"make_dot(): params[{k!r}] is a {type(v).__name__}, not a Tensor")
    roots = list(var) if isinstance(var, (tuple, list)) else [var]
    for i, t in enumerate(roots):
        if not isinstance(t, Tensor):
            raise TypeError(f"make_dot(): expected a Tensor (or a tuple of Tensors) as var, got "
                            f"{type(t).__name__}" + (f" at position {i}" if len(roots) > 1 else ""))
    names = {id(v): k for k, v in (params or {}).items()}

    def var_label(t: Tensor, name: str | None = None) -> str:
        return f"{name or names.get(id(t), '')}\n {_size(t)}"

    dot = Digraph(format="pdf", node_attr=_NODE_ATTR, graph_attr={"size": "12,12"})
    seen: set[int] = set()

    def fn_label(fn) -> str:
        label = _fn_name(fn)
        if not show_attrs:
            return label
        lines = [label]
        for k, v in (getattr(fn, "attrs", None) or {}).items():
            text = str(v)
            lines.append(f"{k}: {text if len(text) <= max_attr_chars else text[:max_attr_chars - 3] + '...'}")
        return "\n".join(lines)

    def add_saved(fn) -> None:
        saved = list(getattr(fn, "_saved", None) or ())
        entries = [(("self", "other")[i] if i < 2 else f"input{i}", s) for i, s in enumerate(saved)]
        out = getattr(fn, "_out", None)
        if out is not None:
            entries.append(("result", out[0]))
        for attr, s in entries:
            shape = getattr(s, "shape", None)
            if shape is None or not hasattr(s, "dtype"):
                continue  # nothing saved there (only a type kept for the gradient's shape)
            if isinstance(s, Tensor) and id(s) in seen:
                dot.edge(str(id(s)), str(id(fn)), dir="none")
                continue
            key = f"{id(fn)}:{attr}"
            dot.node(key, f"{attr}\n ({', '.join(str(d) for d in shape)})", fillcolor=_SAVED)
            dot.edge(key, str(id(fn)), dir="none")

    def add_nodes(root) -> None:
        stack = [root]
        while stack:
            fn = stack.pop()
            if id(fn) in seen:
                continue
            seen.add(id(fn))
            dot.node(str(id(fn)), fn_label(fn))
            if isinstance(fn, AccumulateGrad):
                leaf = fn.variable
                seen.add(id(leaf))
                dot.node(str(id(leaf)), var_label(leaf), fillcolor=_LEAF)
                dot.edge(str(id(leaf)), str(id(fn)))
            for nxt, _ in fn.next_functions:
                if nxt is not None:
                    dot.edge(str(id(nxt)), str(id(fn)))
                    stack.append(nxt)
            if show_saved:
                add_saved(fn)

    for t in roots:
        dot.node(str(id(t)), var_label(t), fillcolor=_OUTPUT)
        if t.grad_fn is not None:
            add_nodes(t.grad_fn)
            dot.edge(str(id(t.grad_fn)), str(id(t)))
    return dot
