"""Define-then-run fetches: compiling, or showing the program for, a subset of a function's outputs."""
import numpy as np
import pytest

import graphgrad as gg


def _model(w, x):
    h = gg.tanh(x @ w)
    loss = (h * h).mean()
    stats = (h.exp() * 2.0).sum(dim=0)  # needs exp, which the loss does not
    return loss, stats, h


def test_compile_for_one_output_runs_only_what_it_needs():
    w = gg.tensor(np.eye(3) * 0.5, requires_grad=True)
    x = gg.ones(4, 3, dtype=gg.float64)
    full = gg.compile(_model)
    loss_only = gg.compile(_model, outputs=0)
    assert "exp" in [n.op for n in full.graph(w, x, stage="forward").nodes]
    forward = loss_only.graph(w, x, stage="forward")
    assert "exp" not in [n.op for n in forward.nodes] and "np.exp" not in loss_only.source(w, x)
    loss = loss_only(w, x)  # a single tensor: outputs was an int
    assert np.allclose(loss.item(), full(w, x)[0].item())
    loss.backward()
    w2 = gg.tensor(np.eye(3) * 0.5, requires_grad=True)
    _model(w2, x)[0].backward()
    assert np.allclose(w.grad.numpy(), w2.grad.numpy())


def test_graph_with_outputs_and_a_tuple_of_fetches():
    w, x = gg.ones(3, 3), gg.ones(2, 3)
    c = gg.compile(_model)
    g = c.graph(w, x, stage="pruned", outputs=[2, 0])  # "traced" is all that ran; pruning drops the rest
    assert len(g.outputs) == 2 and "exp" not in [n.op for n in g.nodes]
    assert len(c.graph(w, x, stage="traced").outputs) == 3  # the function itself is unchanged
    h, loss = gg.compile(_model, outputs=(2, 0))(w, x)
    assert h.shape == (2, 3) and loss.shape == ()


def test_a_bad_fetch_names_the_argument():
    with pytest.raises(IndexError, match="outputs: 3 is not an output index of _model, which returns 3 values"):
        gg.compile(_model, outputs=(0, 3))(gg.ones(3, 3), gg.ones(2, 3))
