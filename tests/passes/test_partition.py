"""The forward/backward partition by min-cut (passes/partition.py): what the forward keeps, before and after the
cut; and that recomputing in the backward, and writing results into dying buffers (ir/buffers.py), never
change a gradient: compiled against eager, float64, on the benchmark workloads and some models."""
import os
import sys

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn
import graphgrad.nn.functional as F
from graphgrad.passes.partition import partition

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import workloads  # noqa: E402

sys.path.pop(0)


def tanh_chain(x):
    return x.tanh().tanh().tanh().tanh().sum()


def ops(graph):
    return [n.op for n in graph.nodes]


def test_a_tanh_chain_keeps_its_input_instead_of_every_tanh():
    x = gg.tensor(np.linspace(-2, 2, 100_000), requires_grad=True)
    f = gg.compile(tanh_chain)
    joint = f.graph(x, stage="optimized")
    # before: every tanh output is kept for the backward
    naive_fwd, naive_bwd, naive = partition(joint, 1, min_cut=False)
    assert len(naive) == 4 and all(v.node.op == "tanh" for v in naive)
    assert ops(naive_bwd).count("tanh") == 0
    # after: the forward keeps x alone (an input: no extra bytes) and the backward redoes the tanhs
    forward, backward = f.graph(x, stage="forward"), f.graph(x, stage="backward")
    assert [v.name for v in forward.outputs[1:]] == ["x"]
    assert ops(backward).count("tanh") == 4
    assert ops(forward) == ["tanh"] * 4 + ["sum"]
    report = f.saved_bytes(x)
    assert (report.before, report.after) == (4 * 800_000, 0)
    assert len(report.before_values) == 4 and report.after_values == ("x",)
    assert "without the min-cut" in str(report)
    x_eager = x.detach().clone().requires_grad_()
    f(x).backward()
    tanh_chain(x_eager).backward()
    np.testing.assert_allclose(x.grad.numpy(), x_eager.grad.numpy(), rtol=1e-13, atol=1e-15)


def test_small_values_are_kept_where_a_numpy_call_costs_more_than_their_bytes():
    f = gg.compile(tanh_chain)
    report = f.saved_bytes(gg.ones(16, dtype=gg.float64, requires_grad=True))
    assert report.after == report.before == 4 * 128


def test_matmul_and_reduction_outputs_are_kept_never_recomputed():
    def f(w, x):
        h = x @ w                      # big, but a product: kept
        s = h.sum(1, keepdim=True)     # a reduction: kept
        return ((h * s).tanh() * 2.0).sum()
    w = gg.randn(300, 300, dtype=gg.float64, requires_grad=True)
    x = gg.randn(300, 300, dtype=gg.float64)
    cf = gg.compile(f)
    backward = cf.graph(w, x, stage="backward")
    assert "matmul" not in ops(backward)[:ops(backward).index("mul")]  # only the gradient's own products
    assert not any(n.op == "sum" and n.inputs[0].name == "h" for n in backward.nodes)
    assert {"h", "s"} <= {v.name for v in backward.inputs}


def test_dropout_masks_are_kept_never_drawn_again():
    gg.manual_seed(0)
    x = gg.tensor(np.linspace(-2, 2, 50_000), requires_grad=True)

    def f(x):
        return (F.dropout(x.tanh(), 0.5) ** 2).sum()
    cf = gg.compile(f)
    y = cf(x)
    backward = cf.graph(x, stage="backward")
    assert "mask0" in [v.name for v in backward.inputs]          # the call's own draw, passed along
    assert "tanh" in ops(backward)                                # the cheap part is recomputed
    y.backward()
    # the gradient uses the forward's mask: 2 (tanh(x) m)^2 ... = 2 tanh(x) m^2 (1 - tanh^2 x), m in {0, 2}
    t = np.tanh(x.detach().numpy())
    g = x.grad.numpy()
    mask = np.where(g == 0, 0.0, 2.0)
    np.testing.assert_allclose(y.item(), np.sum((t * mask) ** 2), rtol=1e-12)
    np.testing.assert_allclose(g, 2 * t * mask ** 2 * (1 - t * t), rtol=1e-12, atol=1e-15)


def _f64(arrays):
    return [gg.tensor(np.asarray(a, dtype=np.float64) if np.asarray(a).dtype.kind == "f" else a,
                      requires_grad=np.asarray(a).dtype.kind == "f") for a in arrays]


def _check_against_eager(fn, params, data, *, recomputes=True):
    """Compiled gradients (min-cut) against eager ones in float64; optionally that the cut did recompute."""
    cf = gg.compile(fn)
    eager = [p.detach().clone().requires_grad_() for p in params]
    cf(*params, *data).backward()
    fn(*eager, *data).backward()
    for p, e in zip(params, eager):
        np.testing.assert_allclose(p.grad.numpy(), e.grad.numpy(), rtol=1e-11, atol=1e-13)
    assert "out=" in cf.source(*params, *data)  # buffer reuse took part
    report = cf.saved_bytes(*params, *data)
    if recomputes:
        assert report.after < report.before
    return report


def test_mlp_workload_gradients_unchanged():
    rng = np.random.default_rng(0)
    sizes = (64, 32, 16, 10)
    params = _f64([rng.standard_normal(s) * 0.3 for i in range(3) for s in ((sizes[i], sizes[i + 1]),
                                                                          (sizes[i + 1],))])
    data = [gg.tensor(rng.standard_normal((8, 64))), gg.tensor(rng.integers(0, 10, 8))]
    _check_against_eager(workloads.mlp_loss, params, data, recomputes=False)


def test_rnn_workload_gradients_unchanged():
    # 24 steps of float64[8, 64] states: batched in chunks of 8 steps, each chunk's states joined in the forward,
    # its gradients computed into their rows of a join (codegen's joins in place)
    rng = np.random.default_rng(1)
    params = _f64([rng.standard_normal((4, 64)) * 0.3, rng.standard_normal((64, 64)) * 0.1, np.zeros(64)])
    data = [gg.tensor(rng.standard_normal((8, 64))), gg.tensor(rng.standard_normal((24, 8, 4)))]
    _check_against_eager(workloads.rnn_loss, params, data, recomputes=False)
    source = gg.compile(workloads.rnn_loss).source(*params, *data)
    assert "np.empty(" in source and "out=grad_" in source


def test_logreg_workload_gradients_unchanged():
    rng = np.random.default_rng(2)
    params = _f64([rng.standard_normal(50) * 0.1, np.zeros(1)])
    # 10000 float64 rows (78 KiB a vector): the loss's terms are reduced one by one (passes/reduction_splitting.py)
    data = [gg.tensor(rng.standard_normal((10000, 50))), gg.tensor((rng.random(10000) < 0.5).astype(np.float64))]
    # the loss is one op (binary_cross_entropy_with_logits), whose gradient reads the logits alone: nothing to cut
    report = _check_against_eager(workloads.logreg_loss, params, data, recomputes=False)
    assert report.after == report.before == 10000 * 8


def test_tiny_chain_workload_gradients_unchanged():
    # each tanh and exp output is read by the backward, and redoing 2-3 ops per value costs more than keeping it
    x = _f64([np.linspace(-1, 1, 20000)])
    _check_against_eager(workloads.tiny_chain, x, [], recomputes=False)


def test_cnn_workload_gradients_unchanged():
    rng = np.random.default_rng(3)
    shapes = [(6, 1, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 256), (120,), (10, 120), (10,)]
    params = _f64([rng.standard_normal(s) * 0.2 for s in shapes])
    data = [gg.tensor(rng.standard_normal((4, 1, 28, 28))), gg.tensor(rng.integers(0, 10, 4))]
    _check_against_eager(workloads.lenet_loss, params, data)


@pytest.mark.parametrize("make", [
    lambda: nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.LayerNorm(256), nn.Linear(256, 3)),
    lambda: nn.Sequential(nn.Linear(64, 256), nn.BatchNorm1d(256), nn.SiLU(), nn.Linear(256, 3)),
    lambda: nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(8 * 8 * 8, 3)),
], ids=["gelu-layernorm", "batchnorm-silu", "conv-pool"])
def test_models_gradients_unchanged(make):
    gg.manual_seed(0)
    model = make().double()
    x = gg.randn(32, 64, dtype=gg.float64) if not isinstance(model[0], nn.Conv2d) else \
        gg.randn(16, 3, 16, 16, dtype=gg.float64)
    y = gg.randint(0, 3, (x.shape[0],))
    params = list(model.parameters())

    def loss(*args):
        return F.cross_entropy(model(args[-2]), args[-1])
    cf = gg.compile(loss)
    cf(*params, x, y).backward()
    compiled = [p.grad.numpy().copy() for p in params]
    model.zero_grad()
    loss(*params, x, y).backward()
    for c, p in zip(compiled, params):
        np.testing.assert_allclose(c, p.grad.numpy(), rtol=1e-11, atol=1e-13)
    report = cf.saved_bytes(*params, x, y)
    assert report.after < report.before
