"""The clean-up passes on graphs written out as text: what goes in, what comes out; ``optimize`` reaches its
fixed point in one walk."""
import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn.functional as F
from graphgrad.ir.parser import parse_graph
from graphgrad.ir.verify import verify
from graphgrad.passes.optimize import (drop_explicit_broadcasts, eliminate_common_subexpressions, fold_shape_chains,
                                       optimize, simplify)


def ops(graph):
    return [n.op for n in graph.nodes]


def body(graph):
    """The node lines without location comments, for comparing two graphs."""
    return [line.split("#")[0].strip() for line in str(graph).splitlines()]


def test_simplify_removes_identities():
    g = parse_graph("""
    graph f(%x: f32[3]*) {
      %a: f32[3]* = mul(%x, 1)
      %b: f32[3]* = sub(%a, 0.0)
      %c: f32[3]* = neg(%b)
      %d: f32[3]* = neg(%c)
      %e: f32[3]* = reshape(%d, shape=(3,))
      %f: f32[3]* = exp(%e)
      return %f
    }""")
    out = verify(simplify(g))
    assert ops(out) == ["exp"] and out.nodes[0].inputs == [out.inputs[0]]


def test_common_subexpressions_merge_but_literals_of_another_type_do_not():
    g = parse_graph("""
    graph f(%x: f32[3], %i: i64[3]) {
      %a: f32[3] = exp(%x)
      %b: f32[3] = exp(%x)
      %c: f32[3] = add(%a, %b)
      %p: i64[3] = mul(%i, 2)
      %q: f32[3] = mul(%i, 2.0)
      return %c, %p, %q
    }""")
    out = verify(eliminate_common_subexpressions(g))
    assert ops(out) == ["exp", "add", "mul", "mul"]
    assert out.nodes[1].inputs == [out.nodes[0].output, out.nodes[0].output]
    assert [v.type.dtype for v in out.outputs[1:]] == ["int64", "float32"]


def test_shape_chains_fold():
    g = parse_graph("""
    graph f(%x: f32[2,3]) {
      %a: f32[6] = reshape(%x, shape=(6,))
      %b: f32[3,2] = reshape(%a, shape=(3, 2))
      %s: f32[] = sum(%x, dim=None, keepdim=False)
      %e: f32[4] = expand(%s, shape=(4,))
      %r: f32[2,2] = reshape(%e, shape=(2, 2))
      return %b, %r
    }""")
    out = verify(fold_shape_chains(g))
    assert "%b: f32[3,2] = reshape(%x, shape=(3, 2))" in body(out)
    # a reshaped broadcast of one element is one broadcast of it
    assert [n.op for n in out.nodes] == ["reshape", "sum", "reshape", "expand"]
    assert out.outputs[1].node.op == "expand" and out.outputs[1].node.inputs[0].type.shape == (1, 1)


def test_elementwise_ops_read_through_explicit_broadcasts():
    g = parse_graph("""
    graph f(%g: f32[1,3], %y: f32[4,3]) {
      %e: f32[4,3] = expand(%g, shape=(4, 3))
      %m: f32[4,3] = mul(%e, %y)
      return %m
    }""")
    out = verify(drop_explicit_broadcasts(g))
    assert ops(out) == ["mul"] and out.nodes[0].inputs == out.inputs


def test_one_walk_reaches_what_needed_two_rounds():
    # x * 1 -> x makes the two exps identical; the second walk the old fixed-point loop ran is not needed
    g = parse_graph("""
    graph f(%x: f32[3]) {
      %a: f32[3] = mul(%x, 1)
      %b: f32[3] = exp(%a)
      %c: f32[3] = exp(%x)
      %d: f32[3] = add(%b, %c)
      return %d
    }""")
    assert ops(optimize(g)) == ["exp", "add"]


def _mlp(w1, b1, w2, b2, x, y):
    return F.cross_entropy((x @ w1 + b1).relu() @ w2 + b2, y)


def _rnn(h, xs, wx, wh, b):
    for t in range(xs.shape[0]):
        h = (xs[t] @ wx + h @ wh + b).tanh()
    return (h * h).sum()


def _cnn(x, w):
    return F.max_pool2d(F.conv2d(x, w).relu(), 2).mean()


def _logreg(w, b, x, y):
    p = (x @ w + b).sigmoid()
    return -(y * p.log() + (1 - y) * (1 - p).log()).mean() + 0.01 * (w * w).sum()


def _t(rng, *shape, grad=False):
    return gg.tensor(rng.standard_normal(shape), requires_grad=grad)


WORKLOADS = {
    "mlp": (_mlp, lambda r: [_t(r, 4, 8, grad=True), _t(r, 8, grad=True), _t(r, 8, 3, grad=True), _t(r, 3, grad=True),
                             _t(r, 5, 4), gg.tensor(np.array([0, 1, 2, 0, 1]))]),
    "rnn": (_rnn, lambda r: [_t(r, 2, 3), _t(r, 4, 2, 5), _t(r, 5, 3, grad=True), _t(r, 3, 3, grad=True),
                             _t(r, 3, grad=True)]),
    "cnn": (_cnn, lambda r: [_t(r, 2, 1, 6, 6), _t(r, 2, 1, 3, 3, grad=True)]),
    "logreg": (_logreg, lambda r: [_t(r, 5, grad=True), _t(r, 1, grad=True), _t(r, 20, 5),
                                   gg.tensor((r.random((20, 1)) > 0.5).astype(np.float64))]),
}


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_optimize_is_a_fixed_point_after_one_walk(name):
    fn, make = WORKLOADS[name]
    joint = gg.compile(fn).graph(*make(np.random.default_rng(0)), stage="adjoint")
    once = optimize(joint)
    # the cnn's adjoint has nothing left to simplify (max pooling and its gradient are primitives, the
    # convolution one product): there the walk must only change nothing
    assert len(once.nodes) < len(joint.nodes) or (name == "cnn" and body(once) == body(joint))
    assert body(optimize(once)) == body(once)


def test_adding_positive_zero_to_a_float_is_not_an_identity():
    # -0.0 + 0.0 is +0.0: only x + (-0.0) and x - 0.0 leave every float as it was
    from graphgrad.ir.parser import parse_graph
    from graphgrad.passes.optimize import optimize
    g = parse_graph("""
    graph f(%x: f64[3]) {
      %a: f64[3] = add(%x, 0.0)
      %b: f64[3] = sub(%a, 0.0)
      %c: f64[3] = add(%b, -0.0)
      %d: f64[3] = add(0, %c)
      return %d
    }""")
    out = optimize(g)
    assert [(n.op, n.inputs[0]) for n in out.nodes] == [("add", out.inputs[0]), ("add", 0)]


def test_positive_zero_fix_moves_past_sums_and_matrix_products():
    # relu's gradient is g * mask + 0.0; a product never returns -0.0 and a sum is a zero only when all its terms
    # are, so the + 0.0 goes from the full-sized operand to the small sum, and from before a product altogether
    g = parse_graph("""
    graph f(%g: f64[4,3], %m: f64[4,3], %w: f64[3,2], %i: i64[4,3]) {
      %a: f64[4,3] = mul(%g, %m)
      %b: f64[4,3] = add(%a, 0.0)
      %s: f64[3] = sum(%b, dim=(0,), keepdim=False)
      %p: f64[4,2] = matmul(%b, %w)
      %c: f32[4,3] = add(%i, 0.0)
      %q: f32[3] = sum(%c, dim=(0,), keepdim=False)
      return %s, %p, %q
    }""")
    out = optimize(g)
    assert body(out) == [
        "graph f(%g: f64[4,3], %m: f64[4,3], %w: f64[3,2], %i: i64[4,3]) {",
        "%a: f64[4,3] = mul(%g, %m)",
        "%t1: f64[3] = sum(%a, dim=(0,), keepdim=False)",
        "%s: f64[3] = add(%t1, 0.0)",
        "%p: f64[4,2] = matmul(%a, %w)",
        "%c: f32[4,3] = add(%i, 0.0)",  # an integer's + 0.0 is a cast: it stays
        "%q: f32[3] = sum(%c, dim=(0,), keepdim=False)",
        "return %s, %p, %q", "}"]


def test_relu_gradients_keep_positive_zeros_bit_for_bit():
    def mlp(w1, b1, w2, b2, x, y):
        h = (x @ w1 + b1).relu()
        return F.cross_entropy(h @ w2 + b2, y)

    r = np.random.default_rng(0)
    # a negative bias kills most units, so many gradients are zeros reached through -0.0 before the fix
    arrays = [r.standard_normal((6, 8)), r.standard_normal(8) - 3.0, r.standard_normal((8, 3)),
              r.standard_normal(3), r.standard_normal((5, 6))]
    y = gg.tensor(np.array([0, 1, 2, 0, 1]))

    def grads(f):
        leaves = [gg.tensor(a, requires_grad=True) for a in arrays]
        f(*leaves, y).backward()
        return [p.grad.numpy() for p in leaves]

    compiled, eager = grads(gg.compile(mlp)), grads(mlp)
    assert sum(int((g == 0).sum()) for g in eager) > 20
    for c, e in zip(compiled, eager):
        assert c.tobytes() == e.tobytes()  # signs of zeros included
    leaves = [gg.tensor(a, requires_grad=True) for a in arrays]
    backward = gg.compile(mlp).graph(*leaves, y, stage="optimized")
    hidden = [n for n in backward.nodes if n.op == "add" and 0.0 in n.inputs]
    assert [n.output.type.shape for n in hidden] == [(8,)]  # b1's gradient only, not the [5, 8] relu gradient


def test_results_keep_their_own_buffers_as_in_eager_code():
    # each result owns its buffer eagerly; merging it (or the value it is a view of) into another value made
    # the compiled results alias: ``(x * 1).reshape(-1)`` was a view of the input x, and ``x.exp()`` the same
    # array as ``x.exp().t()``, so an in-place update of one result silently changed the input or the other
    cases = {"identity": lambda x: ((x * 1).reshape(-1),), "cse": lambda x: (x.exp(), x.exp().t()),
             "cse of a view's base": lambda x: (x.clamp(max=0.2), x.clamp(max=0.2).flatten())}
    for name, f in cases.items():
        x = gg.tensor([[1.0], [-2.0]])
        outs = gg.compile(f)(x)
        with gg.no_grad():
            outs[0].mul_(-3.0)
        eager = f(gg.tensor([[1.0], [-2.0]]))
        with gg.no_grad():
            eager[0].mul_(-3.0)
        assert x.tolist() == [[1.0], [-2.0]], name
        for o, e in zip(outs, eager):
            np.testing.assert_allclose(o.numpy(), e.numpy(), err_msg=name)
    g = parse_graph("""
    graph f(%x: f32[3]) {
      %a: f32[3] = exp(%x)
      %b: f32[3] = exp(%x)
      %c: f32[3] = exp(%x)
      %d: f32[3] = add(%c, %a)
      return %a, %b, %d
    }""")
    assert ops(eliminate_common_subexpressions(g)) == ["exp", "exp", "add"]  # %c, read by nothing else, merges


def test_an_elementwise_result_read_through_a_broadcast_is_a_buffer_of_its_own():
    # op(expand(s)) -> expand(op(s)) made the result a read-only broadcast view: out.mul_(2) raised "more than
    # one element of the written-to tensor refers to a single memory location" where eager's result is writable
    cases = {"expand": (lambda x: (x.expand(2, 3) + 1.0) * 3.0, gg.tensor([1.0, 2.0, 3.0])),
             "unit axes": (lambda x: x.unsqueeze(0).sin(), gg.tensor(0.5))}
    for name, (f, x) in cases.items():
        out = gg.compile(f)(x)
        out.mul_(2)
        np.testing.assert_allclose(out.numpy(), 2 * f(x).numpy(), err_msg=name)


def test_a_result_that_requires_grad_is_not_merged_into_an_equal_value_that_does_not():
    # v0 reaches the results only through a comparison, so the adjoint leaves it unmarked; CSE made the result
    # v1 that value, and the compiled v1 did not require grad (eager: it does, with x0.grad = [[1, 0], [1, 1]])
    def f(x0, x1):
        v0 = gg.where(x0 > 0, x0, x1)
        v1 = gg.where(x0 > 0, x0, x1)
        return ((v1 @ v0) > 0).double(), v1

    for fn in (f, gg.compile(f)):
        x0 = gg.tensor([[1.0, -2.0], [3.0, 4.0]], dtype=gg.float64, requires_grad=True)
        out = fn(x0, gg.full((2, 2), 0.5, dtype=gg.float64))
        assert [o.requires_grad for o in out] == [False, True]
        out[1].sum().backward()
        np.testing.assert_array_equal(x0.grad.numpy(), [[1.0, 0.0], [1.0, 1.0]])


def test_tests_of_positivity_read_the_value_before_a_negation():
    # relu(-x) > 0 and -x > 0 are x < 0 for floats (not for integers: -INT_MIN wraps); relu(x) > 0 stays; relu's
    # gradient mask relu(-x) != 0 (true for a nan) is ~(x >= 0), and -x != 0 stays
    g = parse_graph("""
    graph f(%x: f64[5], %i: i64[5]) {
      %a: f64[5] = relu(%x)
      %m: bool[5] = gt(%a, 0)
      %n: f64[5] = neg(%x)
      %r: f64[5] = relu(%n)
      %k: bool[5] = gt(%r, 0.0)
      %p: bool[5] = gt(%n, 0)
      %j: i64[5] = neg(%i)
      %l: bool[5] = gt(%j, 0)
      %q: bool[5] = ne(%r, 0)
      %s: bool[5] = ne(%n, 0)
      return %m, %k, %p, %l, %q, %s
    }""")
    out = optimize(g)
    assert body(out)[1:-2] == ["%a: f64[5] = relu(%x)", "%m: bool[5] = gt(%a, 0)", "%n: f64[5] = neg(%x)",
                               "%k: bool[5] = lt(%x, 0.0)", "%p: bool[5] = lt(%x, 0)", "%j: i64[5] = neg(%i)",
                               "%l: bool[5] = gt(%j, 0)", "%t1: bool[5] = ge(%x, 0)", "%q: bool[5] = logical_not(%t1)",
                               "%s: bool[5] = ne(%n, 0)"]
    from graphgrad.ir.interpret import interpret
    x = gg.tensor([np.nan, -0.0, 0.0, -2.0, 3.0])
    i = gg.tensor(np.array([np.iinfo(np.int64).min, -1, 0, 1, 2]))
    for a, b in zip(interpret(g, [x, i]), interpret(out, [x, i])):
        assert a.tolist() == b.tolist()


def test_logistic_regression_keeps_its_logits_not_also_their_negative_part():
    def stable_loss(z, y):  # the stable formula written out, as F.binary_cross_entropy_with_logits was
        return ((1 - y) * z + (-z).relu() + (-z.abs()).exp().log1p()).mean()

    def logreg(w, b, x, y):
        return stable_loss(x @ w + b, y)

    def logreg_op(w, b, x, y):  # one op, whose gradient sigmoid(z) - y reads the logits alone
        return F.binary_cross_entropy_with_logits(x @ w + b, y)

    r = np.random.default_rng(0)
    w, b = gg.tensor(r.standard_normal(4), requires_grad=True), gg.tensor(0.1, requires_grad=True)
    x, y = gg.tensor(r.standard_normal((20000, 4))), gg.tensor((r.random(20000) > 0.5).astype(np.float64))
    for fn, saved in ((logreg, 2 * 160_000), (logreg_op, 160_000)):
        cf = gg.compile(fn)
        # the formula: the logits and exp(-|z|) (max(-z, 0) was a third); the op: the logits
        assert cf.saved_bytes(w, b, x, y).after == saved, fn.__name__
        cf(w, b, x, y).backward()
        got = w.grad.numpy().copy(), b.grad.numpy().copy()
        w.grad = b.grad = None
        fn(w, b, x, y).backward()
        np.testing.assert_allclose(got[0], w.grad.numpy(), rtol=1e-13)
        np.testing.assert_allclose(got[1], b.grad.numpy(), rtol=1e-13)
        w.grad = b.grad = None


def test_positive_zero_fix_of_a_convolution_gradient_reaches_its_products():
    # relu's gradient goes through the scatter into zeros that undoes conv2d's crop and a reshape on its way to the
    # weight's and the input's products: the + 0.0 moves along and is dropped there, leaving the bias's sum only
    def net(w, b, x):
        return F.conv2d(x, w, b).relu().sum()

    r = np.random.default_rng(1)
    arrays = [r.standard_normal((3, 2, 3, 3)), r.standard_normal(3) - 2.0, r.standard_normal((2, 2, 6, 6))]
    leaves = [gg.tensor(a, requires_grad=True) for a in arrays]
    graph = gg.compile(net).graph(*leaves, stage="optimized")
    fixes = [n.output.type.shape for n in graph.nodes if n.op == "add" and 0.0 in n.inputs]
    assert fixes == [(3,)]  # the bias's gradient, summed over batch and space, not the (2, 3, 4, 4) one

    def grads(f):
        leaves = [gg.tensor(a, requires_grad=True) for a in arrays]
        f(*leaves).backward()
        return [p.grad.numpy() for p in leaves]

    for c, e in zip(grads(gg.compile(net)), grads(net)):
        np.testing.assert_allclose(c, e, rtol=1e-13, atol=1e-15)
        assert (np.signbit(c) == np.signbit(e))[c == 0].all()


def test_the_zero_sign_rule_reads_what_each_op_declares():
    # which ops let the + 0.0 through or drop it is declared with the op (ops/*.py, zero_signs=), not in the pass
    from graphgrad.ir.registry import OPS
    declared = {name: op.zero_signs for name, op in OPS.items() if op.zero_signs}
    assert declared == {"matmul": "positive", "sum": "through", "reshape": "through", "permute": "through",
                        "getitem": "through", "index_add_zeros": "through", "unfold": "through"}
    with pytest.raises(ValueError, match="zero_signs"):
        from graphgrad.ir.registry import defop
        defop("no_such_op_zero_signs", zero_signs="sometimes")(lambda inputs: inputs[0])


def test_an_identity_reshape_of_a_result_goes_and_the_gradient_is_its_own_array():
    """``a.reshape(-1, 32)`` of a (64, 32) tensor is an identity whose adjoint reshaped the gradient back: a view,
    which ``.grad`` then copied (an array of the input's size more per step). The result keeps its name."""
    a = gg.tensor(np.random.default_rng(8).standard_normal((64, 32)), requires_grad=True)
    compiled = gg.compile(lambda a: a.reshape(-1, 32).exp().sum())
    backward = compiled.graph(a, stage="backward")
    assert ops(backward) == ["exp", "mul"] and backward.outputs[0].name == "grad_a"
    compiled(a).backward()
    assert a.grad.numpy().base is None  # kept as it came, not copied out of a view
    np.testing.assert_allclose(a.grad.numpy(), np.exp(a.detach().numpy()), rtol=1e-15)


def test_a_result_is_never_replaced_by_an_input_or_by_another_result():
    x = gg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    same = gg.compile(lambda x: x.reshape(2, 3) * 1)(x)  # an input: the result stays a new array
    assert not np.shares_memory(same.detach().numpy(), x.detach().numpy())
    y, z = gg.compile(lambda x: (x.exp(), x.exp().reshape(2, 3)))(x)  # two results: two arrays
    y.detach().numpy()[0, 0] = -1.0
    assert z.detach().numpy()[0, 0] == 1.0
