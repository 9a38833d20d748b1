"""Patch chunking (passes/patch_chunking.py): a convolution's patches a chunk of images at a time, in its output,
its weight's gradient and its input's gradient; graphs before and after, gradients against eager ones in float64
and finite differences, and the patches' bytes no longer at the step's peak."""
import tracemalloc

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn.functional as F
import graphgrad.passes.patch_chunking as patch_chunking
from graphgrad.ir.interpret import interpret
from graphgrad.passes.patch_chunking import chunk_patches
from graphgrad.utils.gradcheck import gradcheck, numerical_jacobian


def net(w1, b1, w2, x, padding=1, dilation=1, stride=1):
    h = F.conv2d(x, w1, b1, padding=padding, dilation=dilation, stride=stride).relu()
    return (F.conv2d(h, w2, padding=1) ** 2).mean()


def arrays(batch=7, seed=0):
    r = np.random.default_rng(seed)
    return [r.standard_normal((4, 3, 3, 3)) * 0.4, r.standard_normal(4) * 0.1, r.standard_normal((2, 4, 3, 3)) * 0.4,
            r.standard_normal((batch, 3, 8, 8))]


def grads(fn, values, x_grad=True, **kw):
    leaves = [gg.tensor(a, requires_grad=i < 3 or x_grad) for i, a in enumerate(values)]
    fn(*leaves, **kw).backward()
    return [leaf.grad.numpy() for leaf in leaves if leaf.grad is not None]


def test_each_product_of_large_patches_goes_a_chunk_of_images_at_a_time(monkeypatch):
    # one image's patches of the first convolution: 3 * 9 * 10 * 8 floats (rows of the padded width 10)
    monkeypatch.setattr(patch_chunking, "PATCH_CHUNK_BYTES", 3 * 3 * 9 * 80 * 8)  # three images
    values = arrays()
    leaves = [gg.tensor(a, requires_grad=True) for a in values]
    f = gg.compile(net)
    graph = f.graph(*leaves, stage="batched")
    unfolds = [n for n in graph.nodes if n.op == "unfold2d_rows"]
    folds = [n for n in graph.nodes if n.op == "fold2d_rows"]
    # the first convolution in chunks of 2, 2, 3 images (sizes differ by one at most), the second, with 4 channels
    # in, of 1, 2, 2, 2: each one's output and weight gradient (two unfolds per chunk) and input gradient (a fold)
    sizes = [n.inputs[0].type.shape[0] for n in unfolds + folds]
    assert max(sizes) == 3 and sum(sizes) == 7 * 6
    assert len(unfolds) == 2 * (3 + 4) and len(folds) == 3 + 4
    # relu's + 0.0 follows each chunk's slice of the gradient into its products: only the bias's sum keeps one
    optimized = f.graph(*leaves, stage="optimized")
    assert [n.output.type.shape for n in optimized.nodes if n.op == "add" and 0.0 in n.inputs] == [(4,)]
    before = f.graph(*leaves, stage="adjoint")
    feed = [gg.tensor(a) for a in values] + [gg.tensor(1.0)]
    for a, b in zip(interpret(before, feed), interpret(graph, feed)):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-12, atol=1e-14)


def test_small_patches_are_left_alone():
    values = arrays()
    leaves = [gg.tensor(a, requires_grad=True) for a in values]
    adjoint = gg.compile(net).graph(*leaves, stage="adjoint")
    assert chunk_patches(adjoint) is adjoint  # 7 images: 60 KiB of patches, under PATCH_CHUNK_BYTES


# stride 1 unfolds whole rows (unfold2d_rows); a stride unfolds windows (unfold2d) and transposes them
@pytest.mark.parametrize("padding,dilation,stride", [(1, 1, 1), (0, 2, 1), (2, 1, 1), (1, 1, 2), (1, (1, 2), (2, 1))])
@pytest.mark.parametrize("x_grad", [True, False])
def test_chunked_convolution_gradients_equal_eager_ones_in_float64(padding, dilation, stride, x_grad, monkeypatch):
    monkeypatch.setattr(patch_chunking, "PATCH_CHUNK_BYTES", 4096)
    values = arrays(seed=1)
    kw = dict(padding=padding, dilation=dilation, stride=stride)
    compiled = gg.compile(lambda w1, b1, w2, x: net(w1, b1, w2, x, **kw))
    leaves = [gg.tensor(a, requires_grad=i < 3 or x_grad) for i, a in enumerate(values)]
    batched = compiled.graph(*leaves, stage="batched")
    assert max(n.inputs[0].type.shape[0] for n in batched.nodes if "fold2d" in n.op) < 7  # no unfold of all 7
    compiled = grads(compiled, values, x_grad)
    eager = grads(net, values, x_grad, **kw)
    assert len(compiled) == len(eager) == 3 + x_grad
    for c, e in zip(compiled, eager):
        np.testing.assert_allclose(c, e, rtol=1e-12, atol=1e-14)


def test_chunked_convolution_matches_finite_differences_first_and_second_order(monkeypatch):
    monkeypatch.setattr(patch_chunking, "PATCH_CHUNK_BYTES", 2048)
    values = arrays(batch=3, seed=2)
    values[3] = values[3][:, :, :5, :5]
    x = values[3]
    params = [gg.tensor(a, requires_grad=True) for a in values[:3]]
    assert gradcheck(gg.compile(lambda w1, b1, w2: net(w1, b1, w2, gg.tensor(x))), params)
    grad_f = gg.grad(lambda w1, b1, w2: net(w1, b1, w2, gg.tensor(x)), argnums=(0, 1, 2))

    def g_norm(w1):
        return sum((g * g).sum() for g in grad_f(w1, values[1], values[2]))

    analytic = gg.grad(g_norm)(values[0])
    (numeric,) = numerical_jacobian(lambda w1: float(g_norm(w1)), [values[0]])
    np.testing.assert_allclose(analytic.ravel(), numeric.ravel(), rtol=1e-5, atol=1e-7)


def test_a_training_step_never_holds_the_whole_batch_of_patches():
    # LeNet's first convolution on 64 float32 28x28 images: 4.1 MiB of patches, in the forward and again for the
    # weight's gradient, where the whole step peaked at about 5.6 MiB; a chunk of them at a time, under 3 MiB
    def lenet(c1w, c2w, x):
        h = F.max_pool2d(F.conv2d(x, c1w).relu(), 2)
        return F.conv2d(h, c2w).relu().mean()

    r = np.random.default_rng(3)
    params = [gg.tensor((r.standard_normal(s) * 0.2).astype(np.float32), requires_grad=True)
              for s in ((6, 1, 5, 5), (16, 6, 5, 5))]
    x = gg.tensor(r.standard_normal((64, 1, 28, 28)).astype(np.float32))
    f = gg.compile(lenet)
    f(*params, x).backward()
    patches = 64 * 25 * 24 * 28 * 4
    tracemalloc.start()
    try:
        f(*params, x).backward()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.75 * patches, (peak, patches)


@pytest.mark.parametrize("dim, chunked", [("None", False), ("(-3,)", True), ("(0,)", True), ("(0, 1)", False)])
def test_only_the_batch_s_sum_of_products_is_taken_apart(dim, chunked):
    # sum(g @ patches.T) over the batch axis, however written, is the weight's gradient; a sum over all axes (dim
    # None once crashed the pass) or over more than the batch is left as it is
    from graphgrad.ir.parser import parse_graph
    out_type = {"None": "f64[]", "(-3,)": "f64[2,9]", "(0,)": "f64[2,9]", "(0, 1)": "f64[9]"}[dim]
    g = parse_graph(f"""graph f(%x: f64[4,1,6,6], %g: f64[4,2,24]) {{
      %u: f64[4,1,3,3,24] = unfold2d_rows(%x, kernel=(3, 3), padding=(0, 0), dilation=(1, 1), size=(6, 6))
      %r: f64[4,9,24] = reshape(%u, shape=(4, 9, 24))
      %p: f64[4,24,9] = permute(%r, dims=(0, 2, 1))
      %m: f64[4,2,9] = matmul(%g, %p)
      %s: {out_type} = sum(%m, dim={dim}, keepdim=False)
      return %s
    }}""")
    after = chunk_patches(g, chunk_bytes=2 * 9 * 24 * 8)
    assert [n.op for n in after.nodes].count("unfold2d_rows") == (2 if chunked else 1)
    r = np.random.default_rng(4)
    feed = [gg.tensor(r.standard_normal((4, 1, 6, 6))), gg.tensor(r.standard_normal((4, 2, 24)))]
    np.testing.assert_allclose(interpret(after, feed)[0].numpy(), interpret(g, feed)[0].numpy(), rtol=1e-12)


def test_the_pass_reads_which_ops_make_patches_from_their_declarations():
    # ops declare patches="unfold" / "fold" with their block (ops/nn.py), the pass names none of them (SPEC 1);
    # an unfold's gradient is a fold, so an unfold's backward chunks too
    import pathlib

    from graphgrad.ir.registry import OPS, defop

    declared = {name: op.patches for name, op in OPS.items() if op.patches}
    assert set(declared.values()) == {"unfold", "fold"}
    source = pathlib.Path(patch_chunking.__file__).read_text().split('"""', 2)[2]  # after the module docstring
    assert not any(f'"{name}"' in source for name in declared)
    x = gg.tensor(np.ones((2, 3, 6, 6)), requires_grad=True)
    for stride in (1, 2):
        graph = gg.compile(lambda x: F.conv2d(x, gg.ones(4, 3, 3, 3, dtype=gg.float64), stride=stride).sum()) \
            .graph(x, stage="adjoint")
        kinds = {declared.get(n.op) for n in graph.nodes} - {None}
        assert kinds == {"unfold", "fold"}, (stride, [n.op for n in graph.nodes])
    with pytest.raises(ValueError, match="patches"):
        defop("no_such_op_patches", patches="sometimes")(lambda inputs: inputs[0])
