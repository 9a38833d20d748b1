"""max_pool1d/2d with return_indices=True and their inverses max_unpool1d/2d (functions and modules), eager and
compiled: values are PyTorch 2.13's on the same calls (the tests do not import torch)."""
import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn.functional as F
from graphgrad.utils.gradcheck import gradcheck

EAGER_AND_COMPILED = pytest.mark.parametrize("run", [lambda f, *a: f(*a), lambda f, *a: gg.compile(f)(*a)],
                                             ids=["eager", "compiled"])
X = [[[[1.0, 5.0, 5.0, 0.0], [3.0, 2.0, 4.0, 4.0], [0.0, 7.0, 1.0, 7.0]]]]


@EAGER_AND_COMPILED
def test_indices_are_pytorch_s(run):
    x = gg.tensor(X)
    values, indices = run(lambda x: F.max_pool2d(x, 2, return_indices=True), x)
    assert values.tolist() == [[[[5.0, 5.0]]]] and indices.tolist() == [[[[1, 2]]]] and indices.dtype == gg.int64
    values, indices = run(lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, return_indices=True), x)
    assert values.tolist() == [[[[5.0, 5.0, 4.0], [7.0, 7.0, 7.0]]]]
    assert indices.tolist() == [[[[1, 1, 7], [9, 9, 11]]]]  # (ties: the first maximum in row-major order)
    values, indices = run(lambda x: F.max_pool1d(x, 2, stride=1, return_indices=True), x[0, :, 0])
    assert values.tolist() == [[5.0, 5.0, 5.0]] and indices.tolist() == [[1, 1, 2]]
    values, indices = run(lambda x: gg.nn.MaxPool2d(2, return_indices=True)(x), x)
    assert indices.tolist() == [[[[1, 2]]]]


@EAGER_AND_COMPILED
def test_unpooling_puts_each_maximum_back(run):
    x = gg.tensor(X)
    values, indices = F.max_pool2d(x, 2, return_indices=True)
    assert run(lambda v, i: F.max_unpool2d(v, i, 2), values, indices).tolist() == [
        [[[0.0, 5.0, 5.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]]
    assert run(lambda v, i: gg.nn.MaxUnpool2d(2)(v, i, output_size=(3, 4)), values, indices).tolist() == [
        [[[0.0, 5.0, 5.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]]
    values, indices = F.max_pool1d(x[0, :, 0], 2, stride=1, return_indices=True)
    assert run(lambda v, i: F.max_unpool1d(v, i, 2, stride=1), values, indices).tolist() == [[0.0, 5.0, 5.0, 0.0]]


def test_unpooling_is_differentiable_and_random_pools_round_trip():
    rng = np.random.default_rng(0)
    x = gg.tensor(rng.normal(size=(2, 3, 6, 5)), requires_grad=True)
    for f in (lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2, output_size=(6, 5)),):
        for run in (f, gg.compile(f)):
            out = run(x)
            # every maximum back in its place, zeros elsewhere
            kept = out.detach().numpy() != 0
            np.testing.assert_array_equal(out.detach().numpy()[kept], x.detach().numpy()[kept])
            assert kept.sum() == 2 * 3 * 3 * 2
        assert gradcheck(gg.compile(f), [x]) and gradcheck(f, [x])


def test_bad_arguments_get_pytorch_s_errors():
    values, indices = F.max_pool2d(gg.tensor(X), 2, return_indices=True)
    with pytest.raises(ValueError, match=r"^invalid output_size \"\(6, 4\)\" \(dim 0 must be between 0 and 4\)$"):
        F.max_unpool2d(values, indices, 2, output_size=(6, 4))
    with pytest.raises(RuntimeError, match=r"^Expected shape of indices to be same as that of the input tensor "
                                           r"\(\[1, 1, 1, 2\]\) but got indices tensor with shape: \[1, 1, 1, 1\]$"):
        F.max_unpool2d(values, indices[..., :1], 2)
    with pytest.raises(RuntimeError, match=r"^Found an invalid max index: 5 \(output volumes are of size 1x3\)$"):
        F.max_unpool2d(values, gg.tensor([[[[1, 5]]]]), 1, stride=2)


@EAGER_AND_COMPILED
def test_indices_of_nan_and_minus_inf_windows_are_pytorch_s(run):
    # an argmax over the -inf-padded windows took a NaN window's first NaN and, beside the padding, a position in it
    # (negative) or outside the window; the indices are now the entries max_pool2d_mask gives the gradient
    inf, nan = float("inf"), float("nan")
    a = gg.tensor([[[[-inf, -inf, 2.0], [-inf, -inf, 1.0]]]])
    assert run(lambda a: F.max_pool2d(a, 2, stride=1, padding=1, return_indices=True)[1], a).flatten().tolist() == [
        0, 0, 2, 2, 0, 0, 2, 2, 3, 3, 5, 5]
    b = gg.tensor([[[[1.0, nan, 3.0, nan], [nan, 2.0, 0.0, 5.0], [4.0, 4.0, nan, 1.0]]]])
    assert run(lambda b: F.max_pool2d(b, 2, stride=1, return_indices=True)[1], b).flatten().tolist() == [
        4, 1, 3, 4, 10, 10]
    assert run(lambda b: F.max_pool2d(b, 2, ceil_mode=True, return_indices=True)[1], b).flatten().tolist() == [
        4, 3, 8, 10]


@EAGER_AND_COMPILED
def test_every_input_naming_a_place_gets_its_gradient(run):
    # overlapping windows share a maximum, so indices repeat: PyTorch's backward gathers (a scatter's alone gave the
    # gradient to the last writer only: [[0, 7]])
    v = gg.tensor([[[[5.0, 5.0]]]], requires_grad=True)
    weights = gg.tensor([[[[1.0, 7.0, 2.0]]]])
    out = run(lambda v, i: (F.max_unpool2d(v, i, (1, 2), stride=1, output_size=(1, 3)) * weights).sum(), v,
              gg.tensor([[[[1, 1]]]]))
    out.backward()
    assert v.grad.tolist() == [[[[7.0, 7.0]]]]
