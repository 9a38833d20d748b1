"""The forward walk the clean-up passes share: local rewrite rules, then common-subexpression elimination.

A rule ``rule(node, rewriter)`` sees a node whose inputs are already in their final form (every producer was
rewritten before it), so one walk applies a set of local rules to a fixed point.

A rule that only ever changes nodes of some ops may say so with an attribute ``applies``: ``applies(op) -> bool``
(e.g. ``frozenset(...).__contains__``). The walk then calls it only for those ops, which is the same walk: for
any other op the rule would have returned None and changed nothing.
"""
from __future__ import annotations

from ..ir.graph import Graph, Node, Value
from ..ir.registry import OPS
from ..ir.types import TensorType


def _always(op: str) -> bool:
    return True


class Rewriter:
    """One forward walk over a graph applying local rules, then common-subexpression elimination.

    A rule ``rule(node, rewriter)`` either changes ``node`` in place (its op, inputs, attrs; it may
    ``emit`` new nodes placed before it) and returns None, or returns an existing Value that computes the
    same thing, which then replaces the node's output everywhere.

    With ``copy=True`` the walk rewrites fresh copies of the nodes (new Values, as ``Graph.copy``) into a new
    Graph and leaves ``graph`` as it was: a copy and a walk in one pass over the nodes.
    """

    def __init__(self, graph: Graph, rules: tuple, cse: bool, copy: bool = False):
        self.graph = graph
        self.rules = rules
        self.cse = cse
        self.copy = copy
        self.mapping: dict[Value, Value] = {}
        self.nodes: list[Node] = []
        self.seen: dict = {}
        self.outputs = set(graph.outputs)
        # the outputs and the values they are views of: each owns its buffer in eager code
        self.owners = _owners(graph.outputs)
        self._uses: dict | None = None
        self._copies: list = []  # with ``copy``: the copy of each node visited so far, in order
        self._origin: dict = {}  # with ``copy``: a copied value -> the value it copies
        self._applies = [getattr(rule, "applies", _always) for rule in rules]
        self._by_op: dict = {}  # op -> the rules that apply to it, in order

    def uses(self, value: Value) -> int:
        """How many times the graph as it was before this walk reads ``value`` (outputs count): a rule that
        would duplicate work for a value read elsewhere asks first. Counted on first use, over the nodes as they
        are then: those already visited read their rewritten operands."""
        if self._uses is None:
            counts: dict = {}
            if self.copy:
                # the copies made so far read their values' copies, the nodes not yet copied the originals: a
                # value counts under both (``_origin``: copy -> original)
                copies = self._copies
                readers = [c.inputs for c in copies] + [n.inputs for n in self._old.nodes[len(copies):]]
                outputs = self._old.outputs
            else:
                readers = [n.inputs for n in self.graph.nodes]
                outputs = self.graph.outputs
            for inputs in readers:
                for x in inputs:
                    if x.__class__ is Value:
                        counts[x] = counts.get(x, 0) + 1
            for v in outputs:
                counts[v] = counts.get(v, 0) + 1
            self._uses = counts
        count = self._uses.get(value, 0)
        if self.copy:
            original = self._origin.get(value)
            if original is not None:
                count += self._uses.get(original, 0)
        return count

    def run(self) -> Graph:
        if not self.copy:
            visit = self.visit
            for n in self.graph.nodes:
                visit(n)
            self.graph.nodes = self.nodes
            mapping = self.mapping
            if mapping:
                self.graph.outputs = [mapping.get(v, v) for v in self.graph.outputs]
            return self.graph
        old_graph = self._old = self.graph
        g, inputs = old_graph.inputs_only()
        self.graph = g
        mapping, copies, origin, outputs, visit = self.mapping, self._copies, self._origin, self.outputs, self._visit
        get = mapping.get
        mapping.update(inputs)
        origin.update((nv, v) for v, nv in inputs.items())
        for n in old_graph.nodes:
            old = n.output
            out = Value(old.type, old.name)
            out.requires_grad = old.requires_grad
            # inputs map straight to their final form: a producer's value is never replaced after its visit (every
            # value is in the map: a read of one the graph never defined fails here, not in a later stage)
            out.node = node = Node(n.op, [mapping[x] if x.__class__ is Value else x for x in n.inputs], n.attrs,
                                   out, n.loc, n.role, n.typed)
            copies.append(node)
            origin[out] = old
            if old in outputs:
                outputs.add(out)
            if old in self.owners:
                self.owners.add(out)
            visit(node)
            mapping[old] = get(out, out)
        g.nodes = self.nodes
        g.outputs = [get(v, v) for v in old_graph.outputs]
        return g

    def emit(self, op: str, inputs: list, attrs: dict, type: TensorType, like: Node) -> Value:
        """A new node just before the one being rewritten (rewritten itself); its value."""
        out = Value(type)
        node = Node(op, inputs, attrs, out, like.loc, like.role)
        out.node = node
        self.visit(node)
        return self.mapping.get(out, out)

    def replace(self, n: Node, same: Value) -> None:
        self.mapping[n.output] = same
        if n.output.name and (not same.name or n.output in self.outputs):  # (a result keeps its name: grad_x)
            same.name = n.output.name

    def _may_replace(self, n: Node, same: Value) -> bool:
        """Whether ``same`` may stand for ``n``'s value: a result only by a value the graph computes (an identity
        ``reshape`` of a gradient made it a view, which ``.grad`` then copied), and never by an input."""
        if n.output not in self.outputs:
            return self._unaliased(n, same)
        if same.node is None or same in self.outputs:
            return False
        # the result's own buffer may stand for it (its view, no longer): only another result's may not
        chain = [same] + _view_chain(same)
        mine = (n.output, self._origin.get(n.output))  # (with copy: the value it copies is a result too)
        others = _owners([v for v in self.outputs if v not in mine])
        if chain[-1].node is None or any(v in others for v in chain):
            return False
        self.owners.update(chain)
        return True

    def _unaliased(self, n: Node, same: Value) -> bool:
        """Whether ``same`` may replace ``n``'s value without making a result share its buffer with an input or
        another result, where eager code gives each its own: ``(x * 1).reshape(-1)`` would be a view of the input
        ``x``, and ``x.exp(), x.exp().t()`` one array (an in-place update of one result would change the other)."""
        if n.output not in self.owners:
            return True
        chain = [same] + _view_chain(same)
        if chain[-1].node is None or any(v in self.owners for v in chain):
            return False
        self.owners.update(chain)  # now the buffer of a result
        return True

    def visit(self, n: Node) -> None:
        mapping = self.mapping
        if mapping:
            n.inputs = [mapping.get(x, x) if x.__class__ is Value else x for x in n.inputs]
        self._visit(n)

    def _visit(self, n: Node) -> None:
        """``visit`` for a node whose inputs are in their final form already."""
        op = n.op
        rules = self._by_op.get(op)
        if rules is None:
            rules = self._by_op[op] = [(k, rule) for k, (rule, applies) in enumerate(zip(self.rules, self._applies))
                                       if applies(op)]
        for k, rule in rules:
            same = rule(n, self)
            if same is not None and same.type == n.output.type and self._may_replace(n, same):
                self.replace(n, same)
                return
            if n.op != op:  # the rule changed the op: the later rules are those that apply to the new one
                for rule, applies in zip(self.rules[k + 1:], self._applies[k + 1:]):
                    if applies(n.op):
                        same = rule(n, self)
                        if same is not None and same.type == n.output.type and self._may_replace(n, same):
                            self.replace(n, same)
                            return
                break
        if self.cse:
            try:
                # a literal is keyed with its class: 1, 1.0 and True are equal but differ in type
                key = (n.op, tuple([x if x.__class__ is Value else (x.__class__, x) for x in n.inputs]),
                       tuple(n.attrs.items()) if n.attrs else ())
                earlier = self.seen.get(key)
            except TypeError:  # an unhashable attribute: never merged
                key = earlier = None
            # a result marked as requiring grad stays so: an equal value the adjoint left unmarked (it reaches
            # the outputs only through non-differentiable ops) would make it a result without gradient
            if earlier is not None and (earlier.requires_grad or not n.output.requires_grad) \
                    and self._unaliased(n, earlier):
                self.replace(n, earlier)
                return
            if key is not None:
                self.seen[key] = n.output
        self.nodes.append(n)


def _owners(outputs: list) -> set:
    owners: set = set()
    for v in outputs:
        owners.add(v)
        owners.update(_view_chain(v))
    return owners


def _view_chain(v: Value) -> list:
    """The values whose memory ``v`` may share (the ops declared ``memory="view"``: reshape, permute, getitem,
    stop_gradient, ...), nearest first."""
    chain = []
    while v.node is not None and OPS[v.node.op].memory == "view":
        v = v.node.inputs[0]
        chain.append(v)
    return chain


def rewrite(graph: Graph, rules: tuple, cse: bool = False, copy: bool = False) -> Graph:
    """Apply ``rules`` (and CSE when asked) to ``graph`` in one forward walk: in place, or with ``copy=True`` into
    a copy (``graph`` unchanged)."""
    return Rewriter(graph, rules, cse, copy).run()
