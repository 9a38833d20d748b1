"""Eager graphs are IR too: the dynamic graph behind a tensor prints like a traced one."""
import numpy as np

import graphgrad as gg


def f(w, x):
    h = (x @ w).tanh()
    return (h * h).sum(dim=1).mean()


def test_capture_records_the_same_nodes_as_tracing():
    rng = np.random.default_rng(0)
    w = gg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    x = gg.tensor(rng.standard_normal((4, 3)))
    captured = gg.ir.capture(f(w, x))
    traced = gg.compile(f).graph(w, x, stage="traced")
    assert [(n.op, n.output.type, n.attrs) for n in captured.nodes] == \
        [(n.op, n.output.type, n.attrs) for n in traced.nodes]
    text = str(captured)
    assert "matmul(%const0, %leaf1)" in text
    assert text.count(" = ") == len(traced.nodes)


def test_capture_replays_to_the_same_value():
    from graphgrad.ir.interpret import interpret

    w = gg.tensor([[1.0], [2.0], [3.0]], dtype=gg.float64, requires_grad=True)
    x = gg.tensor(np.arange(12.0).reshape(4, 3))
    out = f(w, x)
    graph = gg.ir.capture(out)
    inputs = {v.name: v for v in graph.inputs}
    args = [w if v.requires_grad else x for v in graph.inputs]
    assert len(inputs) == 2
    (replayed,) = interpret(graph, args)
    assert replayed.item() == out.item()


def test_capture_after_backward_freed_the_graph_is_a_clear_error():
    import pytest

    x = gg.ones(2, requires_grad=True)
    y = (x * 3.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="this graph was freed by backward"):
        gg.ir.capture(y)
