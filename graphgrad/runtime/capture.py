"""``gg.ir.capture``: the dynamic graph behind an eager tensor, as IR."""
from __future__ import annotations

from ..ir.graph import Graph
from ..ir.verify import verify
from .function import FREED, AccumulateGrad, Node


def capture(tensor) -> Graph:
    """Rebuild the recorded history of ``tensor`` as a Graph (leaves and constants become inputs)."""
    root = tensor.grad_fn
    if root is None:
        raise RuntimeError("this tensor has no recorded history (it is a leaf, or was computed without grad)")
    order: list = []
    seen: set = set()

    def visit(node) -> None:  # iterative post-order keeps deep graphs off the Python stack
        stack = [(node, False)]
        while stack:
            n, done = stack.pop()
            if done:
                order.append(n)
                continue
            if id(n) in seen:
                continue
            seen.add(id(n))
            stack.append((n, True))
            for nxt, _ in n._next:
                if isinstance(nxt, Node) and id(nxt) not in seen:
                    stack.append((nxt, False))

    visit(root)
    graph = Graph("captured")
    values: dict = {}
    leaves: dict = {}
    for n in order:
        if n._saved is FREED:
            raise RuntimeError("this graph was freed by backward(): its saved constants are gone. Capture it "
                               "before backward(), or call backward(retain_graph=True)")
        ins = []
        for k, ((nxt, _), t) in enumerate(zip(n._next, n._in_types)):
            if t is None:
                ins.append(n._saved[k] if n._saved[k] is not None else 0.0)
            elif isinstance(nxt, Node):
                ins.append(values[id(nxt)])
            else:
                key = id(nxt) if isinstance(nxt, AccumulateGrad) else ("const", id(n), k)
                if key not in leaves:
                    leaves[key] = graph.add_input(t, f"leaf{len(leaves)}" if nxt is not None else f"const{len(leaves)}")
                    leaves[key].requires_grad = nxt is not None
                ins.append(leaves[key])
        out_type = _infer(n, ins)
        v = graph.add_node(n.op, ins, n.attrs, out_type)
        v.requires_grad = True
        values[id(n)] = v
    graph.outputs = [values[id(root)]]
    return verify(graph)


def _infer(node, ins):
    from ..ir.registry import infer_type

    return infer_type(node.op, [v.type if hasattr(v, "type") else v for v in ins], node.attrs)
