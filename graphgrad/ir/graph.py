"""The graph IR: a Graph is an ordered list of Nodes in SSA form over typed Values."""
from __future__ import annotations

import itertools
import keyword
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from .types import TensorType

_ids = itertools.count()


class Value:
    """One SSA value: produced by exactly one Node, or a graph input (``node is None``)."""

    __slots__ = ("id", "type", "name", "node", "requires_grad")

    def __init__(self, type: TensorType, name: str | None = None, node: "Node | None" = None):
        self.id = next(_ids)
        self.type = type
        self.name = name
        self.node = node
        #: set by ``prune_by_requires_grad``: lies on a path from an input that requires grad.
        self.requires_grad = False

    @property
    def shape(self) -> tuple:
        return self.type.shape

    @property
    def dtype(self) -> str:
        return self.type.dtype

    def __repr__(self) -> str:
        return f"Value({self.name or self.id}: {self.type})"


@dataclass(frozen=True)
class Loc:
    """Where in the user's code a node was recorded."""

    file: str
    line: int

    def __str__(self) -> str:
        import os

        return f"{os.path.basename(self.file)}:{self.line}"


@dataclass(eq=False, slots=True)
class Node:
    """``output = op(*inputs, **attrs)``. Inputs are Values or Python scalars (weakly typed literals)."""

    op: str
    inputs: list
    attrs: dict
    output: Value
    loc: Loc | None = None
    #: "forward" for traced nodes, "adjoint" for nodes made by adjoint generation.
    role: str = "forward"
    #: what the type rule was asked when this node was made (``ir.verify.typed_for``), so that ``verify`` need not
    #: ask again while op, attrs and types stay the same objects; None: unknown. Copies keep it.
    typed: tuple | None = field(default=None, repr=False)

    def value_inputs(self) -> list[Value]:
        return [v for v in self.inputs if v.__class__ is Value]


def name_assigner(names: dict, taken: set):
    """``assign(value)``: record in ``names`` a unique identifier for ``value`` (the user's name where known,
    else ``t1``, ``t2``...), never one in ``taken``."""
    counter = itertools.count(1)
    # per name, the first suffix not yet tried: a user's `y = f(y)` in a loop names thousands of values y_k, and
    # trying y_1, y_2, ... again for each was quadratic (names are never freed, so no lower suffix frees up)
    suffixes: dict = {}
    identifiers: dict = {}  # name -> _identifier(name): a loop names thousands of values alike

    def assign(v: Value) -> None:
        name = v.name
        if name:
            base = identifiers.get(name)
            if base is None:
                base = identifiers[name] = _identifier(name)
        else:
            base = None
        if base is None:
            base = f"t{next(counter)}"
            while base in taken:
                base = f"t{next(counter)}"
        name = base
        if name in taken:
            k = suffixes.get(base, 1)
            name = f"{base}_{k}"
            while name in taken:
                k += 1
                name = f"{base}_{k}"
            suffixes[base] = k + 1
        taken.add(name)
        names[v] = name

    return assign


@dataclass(eq=False)
class Graph:
    """A function in SSA form: ``inputs`` -> ``nodes`` (topologically ordered) -> ``outputs``."""

    name: str
    inputs: list[Value] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    outputs: list[Value] = field(default_factory=list)
    #: names for the outputs in generated code and printing (optional)
    output_names: list[str] | None = None
    #: facts passes leave for later passes (e.g. "n_primal": inputs before the cotangents)
    meta: dict = field(default_factory=dict)

    # -- construction -------------------------------------------------------------------------
    def add_input(self, type: TensorType, name: str | None = None) -> Value:
        v = Value(type, name)
        self.inputs.append(v)
        return v

    def add_node(self, op: str, inputs: Iterable[Any], attrs: dict, type: TensorType,
                 loc: Loc | None = None, role: str = "forward", name: str | None = None) -> Value:
        out = Value(type, name)
        out.node = node = Node(op, list(inputs), dict(attrs), out, loc, role)
        self.nodes.append(node)
        return out

    # -- queries ------------------------------------------------------------------------------
    def users(self) -> dict[Value, list[Node]]:
        """Map every value to the nodes that read it."""
        result: dict[Value, list[Node]] = {v: [] for v in self.inputs}
        for n in self.nodes:
            result.setdefault(n.output, [])
            for v in n.value_inputs():
                result.setdefault(v, []).append(n)
        return result

    def to_networkx(self):
        """A ``networkx.DiGraph`` over values (edges: input value -> output value), for analyses."""
        import networkx as nx

        g = nx.DiGraph()
        for v in self.inputs:
            g.add_node(v, role="input")
        for n in self.nodes:
            g.add_node(n.output, op=n.op, role=n.role)
            for v in n.value_inputs():
                g.add_edge(v, n.output)
        return g

    def value_names(self) -> dict[Value, str]:
        """Unique, valid Python identifiers for every value: the user's names where known."""
        names: dict[Value, str] = {}
        assign = name_assigner(names, set())
        for v in self.inputs:
            assign(v)
        for n in self.nodes:
            assign(n.output)
        return names

    def __str__(self) -> str:
        from .printer import format_graph

        return format_graph(self)

    def _repr_svg_(self) -> str | None:
        """Jupyter shows a Graph as a picture (Graphviz's ``dot`` draws it; the text form where it is missing)."""
        from .printer import to_dot
        from .render import repr_svg

        return repr_svg(to_dot(self))

    def __len__(self) -> int:
        return len(self.nodes)

    def inputs_only(self) -> tuple["Graph", dict]:
        """A graph with this one's name, output names, meta and a copy of each input, but no nodes or outputs yet
        (what a pass that rebuilds the graph starts from), and the map from this graph's inputs to the copies."""
        mapping: dict[Value, Value] = {}
        g = Graph(self.name, output_names=list(self.output_names) if self.output_names else None,
                  meta=dict(self.meta))
        for v in self.inputs:
            nv = g.add_input(v.type, v.name)
            nv.requires_grad = v.requires_grad
            mapping[v] = nv
        return g, mapping

    def copy(self) -> "Graph":
        """A deep copy with fresh Values (attrs are shared; they are immutable by convention)."""
        g, mapping = self.inputs_only()
        nodes = g.nodes
        for n in self.nodes:
            old = n.output
            nv = Value(old.type, old.name)
            nv.requires_grad = old.requires_grad
            nv.node = node = Node(n.op, [mapping[x] if x.__class__ is Value else x for x in n.inputs], n.attrs, nv,
                                  n.loc, n.role, n.typed)
            nodes.append(node)
            mapping[old] = nv
        g.outputs = [mapping[v] for v in self.outputs]
        return g


#: names generated code uses itself, never a value's: array modules, its functions, and those codegen adds
#: (``reserve_name``)
_RESERVED = {"np", "cp", "xp", "forward", "backward", "joint", "saved"}


def reserve_name(name: str) -> None:
    """Keep ``name`` from every value: generated code defines it itself (a function NumPy lacks, say)."""
    _RESERVED.add(name)


def _identifier(name: str) -> str | None:
    if name.isidentifier() and name.isascii() and not keyword.iskeyword(name) and name not in _RESERVED \
            and not name.startswith("__"):
        return name
    s = re.sub(r"\W", "_", name)
    if not s or s[0].isdigit():
        s = "v_" + s
    if keyword.iskeyword(s) or s in _RESERVED or s.startswith("__"):
        s = s + "_"
    return s
