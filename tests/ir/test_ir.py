import pytest

from graphgrad.ir import Graph, TensorType, infer_type
from graphgrad.ir.printer import from_json, to_dot, to_json
from graphgrad.ir.registry import ShapeError, broadcast_shapes
from graphgrad.ir.verify import VerificationError, verify


def small_graph():
    g = Graph("f")
    x = g.add_input(TensorType((3, 4), "float32"), "x")
    w = g.add_input(TensorType((4, 2), "float32"), "w")
    w.requires_grad = True
    h = g.add_node("matmul", [x, w], {}, TensorType((3, 2), "float32"), name="h")
    s = g.add_node("sum", [h], {"dim": (1,), "keepdim": False}, TensorType((3,), "float32"))
    i = g.add_node("getitem", [s], {"index": (("slice", 1, None, None),)}, TensorType((2,), "float32"))
    m = g.add_node("mul", [i, float("inf")], {}, TensorType((2,), "float32"))
    g.outputs = [m]
    return verify(g)


def test_printer_one_line_per_node_with_types():
    text = str(small_graph())
    assert text.splitlines()[0] == "graph f(%x: f32[3,4], %w: f32[4,2]*) {"
    assert "%h: f32[3,2] = matmul(%x, %w)" in text
    assert "getitem(%t1, index=[1:])" in text
    assert "mul(%t2, inf)" in text
    assert text.count(" = ") == 4


def test_json_round_trip_is_exact():
    g = small_graph()
    back = from_json(to_json(g))
    assert str(back) == str(g)
    assert to_json(back) == to_json(g)


def test_dot_export_has_every_value():
    dot = to_dot(small_graph())
    assert dot.startswith('digraph "f"') and '"x" -> "h"' in dot and dot.count("shape=box") == 4


def test_verifier_rejects_use_before_definition_and_bad_types():
    g = small_graph()
    g.nodes.reverse()
    with pytest.raises(VerificationError, match="before it is defined"):
        verify(g)
    g = small_graph()
    g.nodes[0].output.type = TensorType((9, 9), "float32")
    with pytest.raises(VerificationError, match="its rule says f32\\[3,2\\]"):
        verify(g)


def test_verifier_trusts_a_recorded_type_only_while_the_node_is_unchanged():
    """Traced nodes remember what their type rule was asked (``Node.typed``); a node changed since, in any way
    that could change its type, is checked again."""
    import copy

    from graphgrad.ir.verify import typed_for
    from graphgrad.tracer.tracer import Tracer

    def traced():
        tr = Tracer("f")
        x = tr.input(TensorType((3, 4), "float32"), "x")
        w = tr.input(TensorType((4, 2), "float32"), "w")
        y = tr.input(TensorType((3, 2), "float32"), "y")
        h = tr.record("matmul", [x.value, w.value], {})
        s = tr.record("mul", [h.value, 2.0], {})
        tr.graph.outputs = [s.value]
        return tr.graph, (x.value, w.value, y.value)

    g, _ = traced()
    assert all(n.typed is not None for n in g.nodes)
    assert verify(g.copy()) is not None  # copies keep the records
    g, (x, w, y) = traced()
    g.nodes[0].output.type = TensorType((9, 9), "float32")  # another result type
    with pytest.raises(VerificationError, match="its rule says"):
        verify(g)
    g, (x, w, y) = traced()
    g.nodes[0].inputs[1] = x  # an operand replaced in place by one of another type
    with pytest.raises((VerificationError, ShapeError)):
        verify(g)
    g, (x, w, y) = traced()
    g.nodes[1].inputs[1] = True  # a literal replaced in place: mul(f32, True) is still f32, and is checked so
    assert verify(g) is g and g.nodes[1].typed[3][1] == 2.0
    g, (x, w, y) = traced()
    g.nodes[0].op = "add"  # another op
    with pytest.raises((VerificationError, ShapeError)):
        verify(g)
    g, (x, w, y) = traced()
    n = g.nodes[1]
    n.op, n.attrs = "sum", {"dim": (1,), "keepdim": False}  # other attributes
    n.inputs = [n.inputs[0]]
    with pytest.raises(VerificationError, match="its rule says f32\\[3\\]"):
        verify(g)
    n.typed = typed_for("sum", n.inputs, n.attrs)  # recorded afresh for the node as it is now: still checked
    with pytest.raises(VerificationError, match="its rule says f32\\[3\\]"):
        verify(g)
    assert copy.copy(n).typed is n.typed


def _traced_chain():
    """x -> exp -> mul 2.0 -> add x, every node typed by the tracer (so verify's short walk trusts it); an unused
    input y: f64[3]."""
    from graphgrad.tracer.tracer import Tracer

    tr = Tracer("f")
    x = tr.input(TensorType((3,), "float32"), "x")
    tr.input(TensorType((3,), "float64"), "y")
    a = tr.record("exp", [x.value], {})
    b = tr.record("mul", [a.value, 2.0], {})
    c = tr.record("add", [b.value, x.value], {})
    tr.graph.outputs = [c.value]
    assert all(n.typed is not None for n in tr.graph.nodes)
    return tr.graph


@pytest.mark.parametrize("breakage, message", [
    (lambda g: g.nodes.insert(2, g.nodes[0]), "defined twice"),
    (lambda g: g.nodes.append(g.nodes[1]), "defined twice"),
    (lambda g: g.inputs.append(g.inputs[0]), "input .* listed twice"),
    (lambda g: g.outputs.append(g.nodes[0].inputs[0].__class__(TensorType((3,), "float32"))), "never defined"),
    (lambda g: g.nodes.pop(), "never defined"),
    (lambda g: g.nodes.pop(0), "node 0 \\(mul\\) reads .* before it is defined"),
    (lambda g: setattr(g.nodes[1].output, "node", g.nodes[0]), "does not point back"),
    (lambda g: setattr(g.nodes[1], "op", "no_such_op"), "node 1 uses unknown primitive 'no_such_op'"),
    (lambda g: setattr(g.nodes[0].output, "type", TensorType((3,), "float64")), "node 0 \\(exp\\) has type f64"),
    (lambda g: setattr(g.nodes[2].output, "type", TensorType((1, 3), "float32")), "node 2 \\(add\\) has type"),
    (lambda g: g.nodes[2].inputs.__setitem__(1, g.inputs[1]), "node 2 \\(add\\) has type f32\\[3\\], its rule says f64"),
    (lambda g: g.nodes[1].inputs.__setitem__(0, g.inputs[1]), "node 1 \\(mul\\) has type f32\\[3\\], its rule says f64"),
    # two faults: the first in node order is the one named
    (lambda g: (g.nodes.insert(1, g.nodes[0]), g.nodes[3].inputs.__setitem__(1, g.inputs[1])), "defined twice"),
    (lambda g: (g.nodes[1].inputs.__setitem__(0, g.inputs[1]), g.nodes.append(g.nodes[0])), "node 1 \\(mul\\)"),
])
def test_verifier_names_the_first_fault_of_a_typed_graph(breakage, message):
    """verify's short walk over nodes whose typed record still holds defers to the exact walk at anything amiss:
    every kind of breakage a pass could leave is still caught, and the first bad node is the one named."""
    g = _traced_chain()
    assert verify(g) is g
    assert verify(g.copy()) is not None
    breakage(g)
    with pytest.raises((VerificationError, ShapeError), match=message):
        verify(g)


def test_verifier_accepts_a_node_changed_into_one_its_rule_agrees_with():
    """A typed record that no longer matches only means the rule is asked again, not that the node is wrong."""
    g = _traced_chain()
    g.nodes[1].inputs[1] = 3  # mul(f32, 3) is still f32[3]
    g.nodes[2].inputs = [g.nodes[2].inputs[1], g.nodes[2].inputs[0]]  # add(x, b): the same type
    assert verify(g) is g


def test_type_rules_follow_pytorch_promotion_and_messages():
    f32, f64, i64 = (TensorType((2, 3), d) for d in ("float32", "float64", "int64"))
    f64_0d, b = TensorType((), "float64"), TensorType((2, 3), "bool")
    assert infer_type("add", [f32, 2.0], {}).dtype == "float32"      # Python scalars are weak
    assert infer_type("add", [f32, f64], {}).dtype == "float64"
    assert infer_type("add", [f32, i64], {}).dtype == "float32"      # NumPy: float64
    assert infer_type("mul", [i64, 2.5], {}).dtype == "float32"      # the default float, not float64
    assert infer_type("mul", [f32, f64_0d], {}).dtype == "float32"   # 0-d tensors do not promote
    assert infer_type("mul", [i64, f64_0d], {}).dtype == "float64"   # ... unless of a higher category
    assert infer_type("add", [b, 1], {}).dtype == "int64"
    assert infer_type("div", [i64, 2], {}).dtype == "float32"
    assert infer_type("exp", [i64], {}).dtype == "float32"
    assert infer_type("lt", [f32, 0.0], {}).dtype == "bool"
    assert broadcast_shapes((3, 1), (1, 4)) == (3, 4)
    with pytest.raises(ShapeError, match=r"size of tensor a \(3\) must match the size of tensor b \(4\)"):
        broadcast_shapes((3,), (4,))
    # every size that is not 1 must agree, not only neighbours: (3,), (1,), (2,) passed as (3,)
    with pytest.raises(ShapeError, match=r"size of tensor a \(3\) must match the size of tensor b \(2\)"):
        broadcast_shapes((3,), (1,), (2,))
    assert broadcast_shapes((0,), (1,)) == (0,) and broadcast_shapes((1, 1), (2, 0)) == (2, 0)
    with pytest.raises(ShapeError, match=r"size of tensor a \(0\) must match the size of tensor b \(3\)"):
        broadcast_shapes((0,), (3,))
    with pytest.raises(ShapeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x3\)"):
        infer_type("matmul", [f32, f32], {})


def test_networkx_view_is_the_dataflow():
    nxg = small_graph().to_networkx()
    assert nxg.number_of_nodes() == 6 and nxg.number_of_edges() == 5


def test_tensor_type_parse_round_trip():
    for text in ("f32[3,4]", "f64[]", "i64[5]", "bool[2,1]"):
        assert str(TensorType.parse(text)) == text
    with pytest.raises(ValueError, match="bad tensor type"):
        TensorType.parse("float[3]")


def test_text_round_trip_through_the_parser():
    import numpy as np

    import graphgrad as gg
    from graphgrad.ir.parser import parse_graph

    def f(w, x):
        h = (x @ w).relu()[1:, ::2]
        return h.softmax(dim=1).sum(dim=(0, 1)) * float("inf") + x[[0, 2]].sum()

    c = gg.compile(f)
    args = (gg.tensor(np.ones((3, 4)), requires_grad=True), gg.tensor(np.ones((3, 3))))
    for stage in ("traced", "pruned", "optimized"):
        g = c.graph(*args, stage=stage)
        assert str(parse_graph(str(g))) == str(g)


def test_parser_reports_the_bad_line():
    from graphgrad.ir.parser import ParseError, parse_graph

    with pytest.raises(ParseError, match="line 2: cannot parse"):
        parse_graph("graph f(%x: f32[2]) {\n  %y: f32[2] = frobnicate(%x)\n  return %y\n}")
