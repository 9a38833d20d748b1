"""Pruning by requires_grad and dead-node elimination, asserted on the IR."""
import numpy as np

import graphgrad as gg


def mlp_loss(w1, b1, w2, b2, x, y):
    hidden = (x @ w1 + b1).relu()
    out = hidden @ w2 + b2
    return ((out - y) ** 2).mean()


def make_args(freeze_first: bool):
    rng = np.random.default_rng(0)
    shapes = [(4, 8), (8,), (8, 3), (3,)]
    params = [gg.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    if freeze_first:
        params[0].requires_grad_(False)
        params[1].requires_grad_(False)
    return params + [gg.tensor(rng.standard_normal((5, 4))), gg.tensor(rng.standard_normal((5, 3)))]


def first_layer_lines(graph):
    """Adjoint nodes that differentiate line `hidden = ...` (the first layer)."""
    return [n for n in graph.nodes if n.role == "adjoint" and n.loc and "hidden = (x @ w1" in
            open(n.loc.file).read().splitlines()[n.loc.line - 1]]


def test_frozen_first_layer_has_no_adjoint_nodes():
    f = gg.compile(mlp_loss)
    full = f.graph(*make_args(False), stage="backward")
    frozen = f.graph(*make_args(True), stage="backward")
    assert first_layer_lines(full), "the full backward differentiates the first layer"
    assert first_layer_lines(frozen) == []
    assert [v.name for v in frozen.outputs] == ["grad_w2", "grad_b2"]
    assert len(frozen.nodes) < len(full.nodes)
    # the relu mask is only needed to reach w1/b1, so it is gone too
    assert not any(n.op == "gt" for n in frozen.nodes)
    assert f.cache_info().specializations == 2


def test_frozen_backward_saves_less():
    f = gg.compile(mlp_loss)
    fwd_full = f.graph(*make_args(False), stage="forward")
    fwd_frozen = f.graph(*make_args(True), stage="forward")
    assert len(fwd_frozen.outputs) < len(fwd_full.outputs)
    assert "x" not in {v.name for v in fwd_frozen.outputs}


def test_pruned_stage_marks_only_values_between_grad_inputs_and_outputs():
    f = gg.compile(mlp_loss)
    pruned = f.graph(*make_args(True), stage="pruned")
    marked = {n.output.name for n in pruned.nodes if n.output.requires_grad}
    assert "hidden" not in marked and "out" in marked


def test_dead_nodes_are_removed():
    def f(x, y):
        unused = (x * 3.0).exp()  # noqa: F841  (dead: no output needs it)
        also_unused = y.sin().sum()  # noqa: F841
        return (x * y).sum()

    c = gg.compile(f)
    args = (gg.ones(3, requires_grad=True), gg.ones(3))
    assert any(n.op == "exp" for n in c.graph(*args, stage="traced").nodes)
    for stage in ("pruned", "adjoint", "batched", "optimized", "forward", "backward"):
        ops = [n.op for n in c.graph(*args, stage=stage).nodes]
        assert "exp" not in ops and "sin" not in ops, stage


def test_no_grad_input_means_no_backward():
    c = gg.compile(lambda x: (x * x).sum())
    out = c(gg.ones(3))
    assert out.grad_fn is None and not out.requires_grad
    assert "def backward" not in c.source(gg.ones(3))


def test_cse_merges_repeated_work():
    c = gg.compile(lambda x: x.exp().sum() + x.exp().sum())
    x = gg.ones(3, requires_grad=True)
    assert sum(n.op == "exp" for n in c.graph(x, stage="traced").nodes) == 2
    assert sum(n.op == "exp" for n in c.graph(x, stage="forward").nodes) == 1


def test_cotangent_broadcasts_of_mean_and_sum_are_left_to_numpy():
    # d mean / d t is a scalar broadcast to t's shape; elementwise ops broadcast by themselves, so the
    # optimized backward scales by the scalar and multiplies, with no explicit broadcast left
    c = gg.compile(mlp_loss)
    args = make_args(freeze_first=False)
    adjoint = c.graph(*args, stage="adjoint")
    assert any(n.op == "expand" for n in adjoint.nodes)
    backward = c.graph(*args, stage="backward")
    assert not any(n.op in ("expand", "reshape") for n in backward.nodes), backward
    out = c(*args)
    out.backward()
    eager = [a.detach().requires_grad_(a.requires_grad) for a in args]
    mlp_loss(*eager).backward()
    for a, e in zip(args[:4], eager[:4]):
        np.testing.assert_allclose(a.grad.numpy(), e.grad.numpy(), rtol=1e-12)
