"""The row-decomposition pass: which losses split into chunks of rows, and the rewrite that makes the chunks'
values and gradients add up to the whole data set's (checked here eagerly, without a cluster)."""
import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn
from graphgrad.ir.interpret import interpret
from graphgrad.passes.row_decomposition import (REDUCED, Row, RowCouplingError, check_row_count_free, decompose_rows,
                                                row_states)
from graphgrad.runtime.compiled import build_specialization


def traced(fn, *args, data=(), captured=None):
    """The traced graph of ``fn`` and each graph input's data flag (``data``: argument positions)."""
    spec = build_specialization(fn, args, [False] * len(args))
    graph = spec.stages["traced"]
    if captured is not None:
        captured[:] = spec.captured  # tensors the function closed over: inputs after the arguments
    positions = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]
    return graph, [p in data for p in positions] + [False] * (len(graph.inputs) - len(positions))


def chunked_value_and_grads(fn, params, data, splits):
    """Sum over chunks of the decomposed graph, run eagerly (gradients by the eager engine)."""
    total = None
    for lo, hi in zip(splits[:-1], splits[1:]):
        chunk = [d[lo:hi] for d in data]
        captured = []
        graph, flags = traced(fn, *params, *chunk, data=range(len(params), len(params) + len(data)), captured=captured)
        part = decompose_rows(graph, flags)
        ts = [gg.tensor(p, requires_grad=True) for p in params]
        weight = gg.tensor((hi - lo) / len(data[0]), dtype=gg.float64)  # this chunk's share of the rows
        share = gg.tensor(float(lo == 0), dtype=gg.float64)  # parameter-only terms: counted by the first chunk
        (out,) = interpret(part, ts + [gg.tensor(c) for c in chunk] + captured + [weight, share])
        out.backward()
        result = [out.detach().numpy()] + [t.grad.numpy() for t in ts]
        total = result if total is None else [a + b for a, b in zip(total, result)]
    return total


def reference(fn, params, data):
    value, grads = gg.value_and_grad(fn, argnums=tuple(range(len(params))))(*params, *data)
    return [value] + list(grads)


def logistic(w, b, x, y):
    z = x @ w + b
    return (gg.log1p((-z).exp()) + (1 - y) * z).mean() + 0.01 * (w ** 2).sum() + 1.5


def mixed(w, b, x, y):
    # a sum and a mean over rows, a parameter scaling a row sum, a reduction contracting rows with rows
    r = x @ w + b
    return 2.0 * (r ** 2).sum() / 7 + b * ((y - r.tanh()) ** 2).mean() + (x.T @ y).sum() * w.sum() - b


def classifier(w, b, x, y):
    logits = (x @ w.reshape(3, 1) + b).expand(x.shape[0], 2) * gg.tensor([1.0, -1.0])
    running = (x.cumsum(dim=1) @ w).tanh()  # a running sum along each row keeps the rows apart
    return -(logits.log_softmax(dim=1)[:, 0] * y).mean() + (w ** 2).sum() * 0.5 + (running * y).sum() / 9


def max_margin(w, b, x, y):
    # max/min along a row gather each row's scores at its own argmax/argmin
    scores = x * w + b
    return (scores.max(dim=1).values * y).mean() + scores.min(1, keepdim=True).values.sum() / 5 + (w ** 2).sum()


LOSSES = [logistic, mixed, classifier, max_margin]


def stacked(w, b, x, y):
    # axes of size 1 come and go around the rows: unsqueeze(0) and stack along 0 put them on axis 1
    z = (x @ w + b).unsqueeze(0)
    both = gg.stack([x @ w, y], 0)
    return (z.mean(1) * 2).sum() + (both.mean(1) * gg.tensor([1.0, -0.5], dtype=gg.float64)).sum() + \
        ((x @ w).unsqueeze(1).squeeze(1) ** 2).mean()


@pytest.mark.parametrize("splits", [[0, 40], [0, 16, 32, 40], [0, 13, 26, 40]], ids=["one", "even", "uneven"])
def test_axes_of_size_1_around_the_rows(splits, rng):
    # (chunks of 1 row are ambiguous here: is (1, 3) -> (1, 1, 3) an unsqueeze(0) or (1)? graphgrad.dask never
    # runs one unless the whole data set is a single row)
    params = [rng.standard_normal(3), np.array(0.3)]
    data = [rng.standard_normal((40, 3)), (rng.random(40) > 0.5).astype(np.float64)]
    got = chunked_value_and_grads(stacked, params, data, splits)
    for g, r in zip(got, reference(stacked, params, data)):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("fn", LOSSES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("splits", [[0, 40], [0, 16, 32, 40], [0, 13, 26, 39, 40]], ids=["one", "even", "uneven"])
def test_chunks_sum_to_the_whole_data_set(fn, splits, rng):
    params = [rng.standard_normal(3), np.array(0.3)]
    data = [rng.standard_normal((40, 3)), (rng.random(40) > 0.5).astype(np.float64)]
    got = chunked_value_and_grads(fn, params, data, splits)
    for g, r in zip(got, reference(fn, params, data)):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-14)


def test_float32_data_keeps_float32_types(rng):
    def loss(w, x):
        return ((x @ w) ** 2).mean() + 1.0
    w = rng.standard_normal(3).astype(np.float32)
    x = rng.standard_normal((10, 3)).astype(np.float32)
    graph, flags = traced(loss, w, x, data=[1])
    part = decompose_rows(graph, flags)
    assert part.outputs[0].type.dtype == "float32"
    assert [v.name for v in part.inputs[-2:]] == ["row_weight", "param_share"]
    got = chunked_value_and_grads(loss, [w], [x], [0, 6, 10])
    for g, r in zip(got, reference(loss, [w], [x])):
        np.testing.assert_allclose(g, r, rtol=1e-5)


def test_states_follow_the_row_axis(rng):
    def loss(w, x):
        h = (x @ w).permute(1, 0)      # rows move to axis 1
        s = h.sum(0)                   # reduce the other axis: still per row, now axis 0
        return s.mean()
    graph, flags = traced(loss, rng.standard_normal((3, 2)), rng.standard_normal((5, 3)), data=[1])
    states = row_states(graph, flags)
    by_op = {n.op: states[n.output] for n in graph.nodes}
    assert by_op["permute"] == Row(1) and by_op["sum"] == Row(0) and by_op["mean"] is REDUCED


def refused(fn, *args, data=(1,)):
    graph, flags = traced(fn, *args, data=data)
    with pytest.raises(RowCouplingError) as info:
        decompose_rows(graph, flags)
    return info.value


W, X = np.ones((3, 2)), np.ones((6, 3))


def test_batch_norm_over_rows_is_refused_naming_the_node():
    def loss(w, x):
        centered = x - x.mean(0)
        return (centered @ w).sum()
    err = refused(loss, W, X)
    assert err.node.op == "sub"
    assert "`sub` at test_row_decomposition.py:" in str(err) and "centered = x - x.mean(0)" in str(err)
    assert "`mean` over the rows" in str(err)


def test_a_batchnorm_module_in_training_mode_is_refused():
    bn = nn.BatchNorm1d(3).double()

    def loss(w, x):
        return (bn(x) @ w).sum()
    err = refused(loss, W, X)
    assert err.node.op == "sub" and "bn(x)" in str(err)


@pytest.mark.parametrize("fn, op, words", [
    (lambda w, x: (x @ w).max(), "amax", "across the rows"),
    (lambda w, x: (x @ w).max(dim=0).values.sum(), "argmax", "across the rows"),
    (lambda w, x: (x @ w).logsumexp(0).sum(), "logsumexp", "across the rows"),
    (lambda w, x: (x @ w).softmax(0).sum(), "softmax", "across the rows"),
    (lambda w, x: ((x @ w) ** 2).mean().sqrt(), "sqrt", "not linear"),
    (lambda w, x: (x @ w).mean() * (x @ w).sum(), "mul", "multiplies two reductions"),
    (lambda w, x: w.sum() / (x @ w).sum(), "div", "divides by a reduction"),
    (lambda w, x: (x @ x.T).sum() * w.sum(), "matmul", "outer product over rows"),
    (lambda w, x: (gg.ones(2, 6, dtype=gg.float64) @ x).sum() * w.sum(), "matmul", "contracts the row axis"),
    (lambda w, x: x[0].sum() * w.sum(), "getitem", "by position"),
    (lambda w, x: x.reshape(-1).sum() * w.sum(), "reshape", "mixes the row axis"),
    (lambda w, x: gg.cat([x, x], 0).sum() * w.sum(), "concat", "along the row axis"),
    (lambda w, x: (x @ w).cumsum(0).sum(), "cumsum", "along the row axis"),
    (lambda w, x: gg.einsum("ij,jk->ik", x, w).sum(), "einsum", "not known to keep data rows apart"),
], ids=["max", "max-dim-rows", "logsumexp", "softmax", "sqrt-of-mean", "mean-times-sum", "div-by-sum", "gram", "param-contracts",
        "row-by-position", "flatten", "concat-rows", "cumsum-rows", "undeclared-op"])
def test_what_couples_rows_is_refused(fn, op, words):
    err = refused(fn, W, X)
    assert err.node.op == op and words in str(err)


def test_a_parameter_indexed_by_row_is_refused():
    err = refused(lambda w, x: (x * w).sum(), np.ones((6, 1)), X)
    assert err.node.op == "mul" and "one entry per row" in str(err)


def test_a_per_row_result_is_refused():
    err = refused(lambda w, x: x @ w, W, X)
    assert "returns one value per row" in str(err) and ".mean()" in str(err)


def test_a_loss_without_data_is_refused():
    err = refused(lambda w, x: (w ** 2).sum(), W, X)
    assert "does not depend on its data rows" in str(err)


def test_dead_code_is_not_checked():
    def loss(w, x):
        unused = x - x.mean(0)  # noqa: F841  (never reaches the output)
        return (x @ w).sum()
    graph, flags = traced(loss, W, X, data=[1])
    assert any(n.op == "sub" for n in graph.nodes)
    decompose_rows(graph, flags)


def two_traces(fn, rows, other_rows):
    """``check_row_count_free`` on ``fn``(w, x) traced for blocks of ``rows`` and ``other_rows`` rows of x."""
    graph, flags = traced(fn, W, np.ones((rows, 3)), data=[1])
    other, _ = traced(fn, W, np.ones((other_rows, 3)), data=[1])
    decompose_rows(graph, flags)  # each trace alone decomposes
    check_row_count_free(graph, flags, other, rows, other_rows)


@pytest.mark.parametrize("fn, op", [
    (lambda w, x: (x @ w).sum() / len(x), "div"),  # each chunk's sum over its own rows: 5.0 where 2.0 was right
    (lambda w, x: (x @ w).sum() / x.shape[0], "div"),
    (lambda w, x: (x @ w).sum() * (1 / x.numel()), "mul"),
    (lambda w, x: (x @ w).sum() + gg.ones(len(x), dtype=gg.float64).sum() * w.sum(), "full"),
    (lambda w, x: (x @ w).sum() + (gg.ones_like(x).sum() * w).sum(), "full"),
    (lambda w, x: (x @ w).mean().expand(len(x)).sum(), "expand"),
    (lambda w, x: x[:, :len(x)].sum() * w.sum(), "getitem"),
], ids=["len", "shape", "numel", "ones-len", "ones-like", "expand-reduced", "slice-by-rows"])
def test_a_loss_reading_its_number_of_rows_is_refused(fn, op):
    with pytest.raises(RowCouplingError, match="depends on the number of rows in a chunk") as info:
        two_traces(fn, 2, 3)
    assert info.value.node.op == op


def test_shapes_that_follow_the_rows_and_constants_pass():
    n = 6  # the data set's rows, from outside the loss: the same in every chunk

    def loss(w, x):
        per_row = x.reshape(x.shape[0], 3, 1).sum(2).expand(len(x), 3) @ w
        return per_row.sum() / n + (x[:, :2] * 2.0).mean() + (w ** 2).sum()
    two_traces(loss, 2, 3)
