"""F.embedding_bag and nn.EmbeddingBag: values against a bag-at-a-time reference (the grid's) and outputs PyTorch
2.13 printed, gradients against float64 finite differences (eager and compiled), the first maximum getting the
gradient, scale_grad_by_freq, max_norm, the module, and PyTorch's errors."""
import warnings

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn
import graphgrad.nn.functional as F
from graphgrad.ops.nn import scale_grad

from _references import embedding_bag_reference

rng = np.random.default_rng(0)
W = np.arange(12.0).reshape(6, 2)
I, O = np.array([1, 2, 4, 5, 4, 3]), np.array([0, 2, 2, 5])


def _bag(idx, w, offsets=None, **kw):
    return F.embedding_bag(gg.tensor(idx), w if isinstance(w, gg.Tensor) else gg.tensor(w),
                           None if offsets is None else gg.tensor(offsets), **kw)


# -- values ------------------------------------------------------------------------------------------------
# what PyTorch 2.13 prints for F.embedding_bag(tensor(I), arange(12.).reshape(6, 2), tensor(O), ...)
PYTORCH = [
    ({"mode": "sum"}, [[6, 8], [0, 0], [26, 29], [6, 7]]),
    ({"mode": "sum", "padding_idx": 4}, [[6, 8], [0, 0], [10, 11], [6, 7]]),
    ({"mode": "sum", "padding_idx": -2}, [[6, 8], [0, 0], [10, 11], [6, 7]]),
    ({"mode": "mean"}, [[3, 4], [0, 0], [26 / 3, 29 / 3], [6, 7]]),
    ({"mode": "mean", "padding_idx": 4}, [[3, 4], [0, 0], [10, 11], [6, 7]]),
    ({"mode": "max"}, [[4, 5], [0, 0], [10, 11], [6, 7]]),
    ({"mode": "max", "include_last_offset": True}, [[4, 5], [0, 0], [10, 11]]),
    ({"mode": "sum", "include_last_offset": True}, [[6, 8], [0, 0], [26, 29]]),  # (index 5 in no bag)
]


@pytest.mark.parametrize("kw, expected", PYTORCH)
def test_values_pytorch_printed(kw, expected):
    out = _bag(I, np.float32(W), O, **kw)
    assert out.dtype == gg.float32
    np.testing.assert_allclose(out.numpy(), np.float32(expected), rtol=1e-7)


def test_fixed_length_bags_pytorch_printed():
    i2 = I.reshape(2, 3)
    assert _bag(i2, W, mode="sum").tolist() == [[14, 17], [24, 27]]
    assert _bag(i2, W, mode="max").tolist() == [[8, 9], [10, 11]]
    assert _bag(i2, W, mode="max", padding_idx=4).tolist() == [[4, 5], [10, 11]]
    assert _bag(i2, W, mode="mean", padding_idx=4).tolist() == [[3, 4], [8, 9]]


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("pad", [None, 3])
@pytest.mark.parametrize("last", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_offset_bags_against_the_reference(mode, pad, last, dtype):
    w = rng.standard_normal((8, 5)).astype(dtype)
    idx = rng.integers(0, 8, 30)
    offsets = np.sort(rng.integers(0, 31, 7))
    offsets[0], offsets[3] = 0, offsets[2]  # an empty bag at least
    got = _bag(idx, w, offsets, mode=mode, include_last_offset=last, padding_idx=pad)
    expected = embedding_bag_reference(idx, w.astype(np.float64), offsets, mode, last=last, pad=pad)
    assert got.dtype == gg.tensor(w).dtype and tuple(got.shape) == expected.shape
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6 if dtype == np.float32 else 1e-13, atol=1e-6)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("pad", [None, 0])
def test_fixed_length_bags_equal_the_same_bags_cut_at_offsets(mode, pad):
    w = gg.tensor(rng.standard_normal((6, 4)))
    idx = rng.integers(0, 6, (5, 3))
    psw = gg.tensor(rng.standard_normal((5, 3))) if mode == "sum" else None
    fixed = _bag(idx, w, mode=mode, padding_idx=pad, per_sample_weights=psw)
    cut = _bag(idx.reshape(-1), w, np.arange(0, 15, 3), mode=mode, padding_idx=pad,
               per_sample_weights=None if psw is None else psw.reshape(-1))
    np.testing.assert_allclose(fixed.numpy(), cut.numpy(), rtol=1e-14)


def test_per_sample_weights_and_empty_cases():
    psw = rng.standard_normal(6)
    got = _bag(I, W, O, mode="sum", per_sample_weights=gg.tensor(psw))
    np.testing.assert_allclose(got.numpy(), embedding_bag_reference(I, W, O, "sum", psw), rtol=1e-14)
    # an empty input: every bag empty (PyTorch: zeros); no offsets: no bag
    assert _bag(np.zeros(0, np.int64), W, [0, 0], mode="max").tolist() == [[0, 0], [0, 0]]
    assert tuple(_bag(I, W, np.zeros(0, np.int64)).shape) == (0, 2)
    assert tuple(_bag(I, W, [0], include_last_offset=True).shape) == (0, 2)
    assert tuple(_bag(np.zeros((0, 3), np.int64), W).shape) == (0, 2)
    # a padding row holding inf or nan is left out, not multiplied by 0 (PyTorch: [[1, 1]], [[2, 2]])
    w = np.array([[1.0, 1.0], [np.inf, np.nan]])
    assert _bag([[0, 1]], w, mode="sum", padding_idx=1).tolist() == [[1.0, 1.0]]
    psw = gg.tensor(np.array([2.0, 3.0]))
    assert _bag([0, 1], w, [0], mode="sum", padding_idx=1, per_sample_weights=psw).tolist() == [[2.0, 2.0]]
    # bags of padding alone: zeros, also for the maximum of negative rows (PyTorch: [[0, 0], [-1, -1]])
    for mode in ("max", "mean"):
        assert _bag([2, 2, 0], -np.ones((3, 2)), [0, 2], mode=mode, padding_idx=2).tolist() == [[0, 0], [-1, -1]]


# -- gradients -------------------------------------------------------------------------------------------
GRADIENT_CASES = {
    "sum offsets": (dict(mode="sum"), False, True),
    "sum offsets psw pad last": (dict(mode="sum", padding_idx=2, include_last_offset=True), True, True),
    "sum fixed psw": (dict(mode="sum"), True, False),
    "mean offsets pad": (dict(mode="mean", padding_idx=2), False, True),
    "mean fixed pad": (dict(mode="mean", padding_idx=2), False, False),
    "max offsets": (dict(mode="max"), False, True),
    "max offsets pad last": (dict(mode="max", padding_idx=2, include_last_offset=True), False, True),
    "max fixed": (dict(mode="max"), False, False),
}


@pytest.mark.parametrize("name", list(GRADIENT_CASES))
def test_gradients_against_finite_differences(name, check_gradients):
    kw, with_psw, cut = GRADIENT_CASES[name]
    w = rng.permutation(np.linspace(-2.0, 2.0, 7 * 3)).reshape(7, 3)  # distinct: no tie in a maximum
    idx = rng.integers(0, 7, 12)
    offsets = gg.tensor(np.array([0, 3, 3, 8, 10])) if cut else None
    idx = gg.tensor(idx if cut else idx.reshape(4, 3))
    args = [w] + ([rng.standard_normal(tuple(idx.shape))] if with_psw else [])
    bags = 4 if cut and kw.get("include_last_offset") else 5 if cut else 4
    v = gg.tensor(rng.standard_normal((bags, 3)))

    def f(weight, *psw):
        out = F.embedding_bag(idx, weight, offsets, per_sample_weights=psw[0] if psw else None, **kw)
        return ((out * v) ** 2).sum()
    check_gradients(f, args)


def test_the_first_maximum_gets_the_gradient():
    # PyTorch 2.13: ties between rows 0 and 1 (column 0) and rows 0 and 2 (column 1) give row 0 the gradient
    for idx, offsets in (([0, 1, 2], [0]), ([[0, 1, 2]], None)):
        w = gg.tensor([[1.0, 5.0], [1.0, 2.0], [0.0, 5.0]], requires_grad=True)
        out = _bag(idx, w, offsets, mode="max")
        out.sum().backward()
        assert out.tolist() == [[1.0, 5.0]] and w.grad.tolist() == [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]
    # compiled alike
    w = gg.tensor([[1.0, 5.0], [1.0, 2.0], [0.0, 5.0]], requires_grad=True)
    gg.compile(lambda w, i, o: F.embedding_bag(i, w, o, mode="max").sum())(w, gg.tensor([0, 1, 2]),
                                                                            gg.tensor([0])).backward()
    assert w.grad.tolist() == [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]


def test_scale_grad_by_freq_divides_each_rows_gradient_by_its_count():
    # the documented scaling (PyTorch's F.embedding does it; 2.13's CPU embedding_bag divides some rows by another
    # index's count, pytorch/pytorch#190063: for [1, 1, 3] row 3 got 0.5)
    idx, offsets = np.array([1, 1, 3, 1, 0, 3]), np.array([0, 2, 4])
    g = rng.standard_normal((3, 4))
    bag = np.searchsorted(offsets, np.arange(6), side="right") - 1
    counts = np.bincount(idx, minlength=5)
    for mode in ("sum", "mean"):
        sizes = np.bincount(bag, minlength=3) if mode == "mean" else np.ones(3)
        expected = np.zeros((5, 4))
        np.add.at(expected, idx, g[bag] / sizes[bag, None] / counts[idx, None])
        for run in (lambda f, *a: f(*a), lambda f, *a: gg.compile(f)(*a)):
            w = gg.tensor(rng.standard_normal((5, 4)), requires_grad=True)
            run(lambda w, i, o: (F.embedding_bag(i, w, o, mode=mode, scale_grad_by_freq=True) * gg.tensor(g)).sum(),
                w, gg.tensor(idx), gg.tensor(offsets)).backward()
            np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-14)
    # scale_grad itself: the value passes, the gradient is scaled
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    y = scale_grad(x, gg.tensor([0.5, 3.0]))
    (y * y).sum().backward()
    assert y.tolist() == [1.0, 2.0] and x.grad.tolist() == [1.0, 12.0]


# -- max_norm --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_max_norm_renormalizes_the_named_rows_in_place(norm_type):
    w0 = rng.standard_normal((6, 3)) * 2
    w = gg.tensor(w0, requires_grad=True)
    out = _bag([1, 4, 4, 0], w, [0, 2], mode="sum", max_norm=1.5, norm_type=norm_type)
    norms = np.linalg.norm(w0, norm_type, axis=1)
    expected = w0.copy()
    for r in (0, 1, 4):  # PyTorch's embedding_renorm_: max_norm / (norm + 1e-7), rows the input names
        if norms[r] > 1.5:
            expected[r] *= 1.5 / (norms[r] + 1e-7)
    np.testing.assert_allclose(w.detach().numpy(), expected, rtol=1e-15)
    assert w.is_leaf and w._version > 0
    np.testing.assert_allclose(out.detach().numpy(), [expected[1] + expected[4], expected[4] + expected[0]],
                               rtol=1e-14)
    out.sum().backward()  # the gradient of the lookup from the renormalized weight, unscaled (PyTorch's)
    assert w.grad.tolist() == [[1.0] * 3, [1.0] * 3, [0.0] * 3, [0.0] * 3, [2.0] * 3, [0.0] * 3]


def test_max_norm_compiled():
    idx, offsets = gg.tensor([1, 4, 4, 0]), gg.tensor([0, 2])
    eager = gg.tensor(rng.standard_normal((6, 3)) * 2)
    traced = eager.clone()
    want = F.embedding_bag(idx, eager, offsets, max_norm=1.0)
    got = gg.compile(lambda w, i, o: F.embedding_bag(i, w, o, max_norm=1.0))(traced, idx, offsets)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-14)
    np.testing.assert_allclose(traced.numpy(), eager.numpy(), rtol=1e-14)  # written back, as eagerly
    # a weight that requires grad: PyTorch's no_grad update passes the gradient through, which compiled code
    # cannot express
    with pytest.raises(NotImplementedError, match=r"embedding_bag\(max_norm=...\) inside a compiled function"):
        gg.compile(lambda w, i, o: F.embedding_bag(i, w, o, max_norm=1.0))(
            gg.tensor(np.ones((6, 3)), requires_grad=True), idx, offsets)


# -- compiled ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_compiled_equals_eager_with_gradients(mode):
    w0 = rng.standard_normal((50, 8)).astype(np.float32)
    idx, offsets = gg.tensor(rng.integers(0, 50, 200)), gg.tensor(np.r_[0, np.sort(rng.integers(0, 201, 29))])
    psw = gg.tensor(rng.standard_normal(200).astype(np.float32), requires_grad=True) if mode == "sum" else None
    g = gg.tensor(rng.standard_normal((30, 8)).astype(np.float32))
    results = []
    for run in (lambda f, *a: f(*a), lambda f, *a: gg.compile(f)(*a)):
        w = gg.tensor(w0, requires_grad=True)
        if psw is not None:
            psw.grad = None
        out = run(lambda w, i, o: F.embedding_bag(i, w, o, mode=mode, per_sample_weights=psw, padding_idx=7), w, idx,
                  offsets)
        (out * g).sum().backward()
        results.append([out.detach().numpy(), w.grad.numpy()] + ([psw.grad.numpy()] if psw is not None else []))
    for eager, compiled in zip(*results):
        np.testing.assert_array_equal(compiled, eager)


def test_compiled_checks_offsets_and_indices_when_it_runs():
    f = gg.compile(lambda w, i, o: F.embedding_bag(i, w, o))
    w = gg.tensor(W)
    assert f(w, gg.tensor(I), gg.tensor(O)).shape == (4, 2)
    with pytest.raises(RuntimeError, match=r"^offsets\[0\] has to be 0"):
        f(w, gg.tensor(I), gg.tensor([1, 2, 2, 5]))
    with pytest.raises(RuntimeError, match=r"^offsets\[-1\] can not be greater than input's length 6"):
        f(w, gg.tensor(I), gg.tensor([0, 2, 2, 7]))
    with pytest.raises(RuntimeError, match=r"^Index 2 of input takes value 6 which is not in the valid range"):
        f(w, gg.tensor([1, 2, 6, 5, 4, 3]), gg.tensor(O))


# -- the module ----------------------------------------------------------------------------------------------
def test_module_is_pytorchs():
    gg.manual_seed(0)
    bag = nn.EmbeddingBag(1000, 16, padding_idx=-1)
    assert repr(bag) == "EmbeddingBag(1000, 16, mode='mean', padding_idx=999)"  # PyTorch's repr and padding_idx
    assert bag.weight.shape == (1000, 16) and bag.weight.requires_grad
    assert bag.weight[999].tolist() == [0.0] * 16
    assert abs(bag.weight.detach().numpy()[:999].std() - 1.0) < 0.05  # N(0, 1), as PyTorch's reset_parameters
    assert repr(nn.EmbeddingBag(10, 3, max_norm=1.0, norm_type=1.0, scale_grad_by_freq=True, mode="sum")) == (
        "EmbeddingBag(10, 3, max_norm=1.0, norm_type=1.0, scale_grad_by_freq=True, mode='sum')")
    x, offsets = gg.tensor([1, 2, 3, 999, 5]), gg.tensor([0, 3])
    out = bag(x, offsets)
    assert out.grad_fn.name() == "EmbeddingBagBackward0"
    np.testing.assert_allclose(out.detach().numpy(), F.embedding_bag(x, bag.weight, offsets, padding_idx=999).detach()
                               .numpy())
    compiled = gg.compile(bag)
    np.testing.assert_array_equal(compiled(x, offsets).detach().numpy(), out.detach().numpy())
    compiled(x, offsets).sum().backward()
    grad = bag.weight.grad.numpy().copy()
    bag.weight.grad = None
    out.sum().backward()
    np.testing.assert_array_equal(bag.weight.grad.numpy(), grad)
    assert bag.weight.grad[999].tolist() == [0.0] * 16
    # per_sample_weights in forward
    summed = nn.EmbeddingBag(10, 3, mode="sum")
    psw = gg.tensor([0.5, 2.0, -1.0])
    np.testing.assert_allclose(summed(gg.tensor([1, 2, 2]), gg.tensor([0]), psw).detach().numpy(),
                               (summed.weight[1] * 0.5 + summed.weight[2]).detach().numpy()[None], rtol=1e-6)


def test_from_pretrained():
    weights = gg.tensor([[1.0, 2.3, 3.0], [4.0, 5.1, 6.3]])
    bag = nn.EmbeddingBag.from_pretrained(weights)  # PyTorch's docstring example: [[2.5, 3.7, 4.65]]
    np.testing.assert_allclose(bag(gg.tensor([[1, 0]])).numpy(), [[2.5, 3.7, 4.65]], rtol=1e-6)
    assert not bag.weight.requires_grad and bag.mode == "mean"
    bag = nn.EmbeddingBag.from_pretrained(weights, freeze=False, mode="sum", padding_idx=1)
    assert bag.weight.requires_grad and bag.weight.tolist() == weights.tolist()  # (not zeroed)
    assert repr(bag) == "EmbeddingBag(2, 3, mode='sum', padding_idx=1)"
    with pytest.raises(AssertionError, match="^Embeddings parameter is expected to be 2-dimensional$"):
        nn.EmbeddingBag.from_pretrained(gg.ones(4))


@pytest.mark.parametrize("call, error, message", [  # PyTorch 2.13's
    (lambda: nn.EmbeddingBag(10, 3, padding_idx=10), AssertionError, "padding_idx must be within num_embeddings"),
    (lambda: nn.EmbeddingBag(10, 3, padding_idx=-11), AssertionError, "padding_idx must be within num_embeddings"),
    (lambda: nn.EmbeddingBag(10, 3, _weight=gg.ones(9, 3)), AssertionError,
     "Shape of weight does not match num_embeddings and embedding_dim"),
    (lambda: nn.EmbeddingBag(10, 3, mode="x")(gg.tensor([[1]])), ValueError, "mode has to be one of sum, mean or max"),
    (lambda: nn.EmbeddingBag(10, 3, sparse=True), NotImplementedError,
     "EmbeddingBag(sparse=True): graphgrad has no sparse tensors"),
])
def test_module_errors(call, error, message):
    with pytest.raises(error) as raised:
        call()
    assert str(raised.value).startswith(message)


# -- PyTorch's errors ----------------------------------------------------------------------------------------
F32 = np.float32(W)
ERRORS = [  # PyTorch 2.13's exceptions and messages, for F.embedding_bag(input, weight, offsets, ...)
    ((I.reshape(2, 3), F32, O), {}, ValueError,
     "if input is 2D, then offsets has to be None, as input is treated is a mini-batch of fixed length sequences. "
     "However, found offsets of type <class 'torch.Tensor'>"),
    ((I, F32, None), {}, ValueError, "offsets has to be a 1D Tensor but got None"),
    ((I.reshape(1, 2, 3), F32, None), {}, ValueError, "input has to be 1D or 2D Tensor, but got Tensor of dimension 3"),
    ((I, F32, O.reshape(2, 2)), {}, ValueError, "offsets has to be a 1D Tensor"),
    ((I, np.ones(6, np.float32), O), {}, ValueError, "weight has to be a 2D Tensor, but got Tensor of dimension 1"),
    ((I, F32, O), {"mode": "prod"}, ValueError, "mode has to be one of sum, mean or max"),
    ((I, F32, O), {"mode": "max", "scale_grad_by_freq": True}, ValueError,
     "max mode does not support scaling the gradient by the frequency"),
    ((I, F32, O), {"mode": "max", "sparse": True}, ValueError, "max mode does not support sparse weights"),
    ((I, F32, O), {"mode": "mean", "per_sample_weights": np.ones(6, np.float32)}, NotImplementedError,
     "embedding_bag: per_sample_weights was not None. per_sample_weights is only supported for mode='sum' (got "
     "mode='mean'). Please open a feature request on GitHub."),
    ((I, F32, O), {"mode": "sum", "per_sample_weights": np.ones(5, np.float32)}, ValueError,
     "embedding_bag: If per_sample_weights (torch.Size([5])) is not None, then it must have the same shape as the "
     "input (torch.Size([6]))"),
    ((I, F32, O), {"mode": "sum", "per_sample_weights": np.ones(6)}, RuntimeError,
     "Expected tensor for argument #1 'weight' to have the same type as tensor for argument #1 'per_sample_weights'; "
     "but type torch.FloatTensor does not equal torch.DoubleTensor (while checking arguments for embedding_bag)"),
    ((I, np.ones((6, 2), np.int64), O), {}, RuntimeError,
     "Expected tensor for argument #1 'weight' to have one of the following scalar types: Half, BFloat16, Float, "
     "Double; but got torch.LongTensor instead (while checking arguments for embedding_bag)"),
    ((I, F32, O.astype(np.float32)), {}, RuntimeError,
     "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but got "
     "torch.FloatTensor instead (while checking arguments for embedding_bag)"),
    ((I, F32, O), {"padding_idx": 6}, RuntimeError,
     "padding_idx must be within the number of embeddings, -6 through 5, but got 6"),
    ((I, F32, np.array([1, 2])), {}, RuntimeError,
     "offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from position 0. However, "
     "got 1\n[ torch.LongTensor{} ]"),
    ((I, F32, np.array([0, 3, 7])), {}, RuntimeError,
     "offsets[-1] can not be greater than input's length 6 but got offsets[-1] of 7"),
    ((I, F32, np.array([0, 3, 2])), {}, RuntimeError,
     "Expected i < index_size to be true, but got false.  (Could this error message be improved?  If so, please "
     "report an enhancement request to PyTorch.)"),
    ((I, F32, np.array([0, -1, 2])), {}, IndexError, "index out of range in self"),
    ((np.array([1, 6]), F32, np.array([0])), {}, RuntimeError,
     "Index 1 of input takes value 6 which is not in the valid range [0, 6)"),
    ((np.array([1, -1]), F32, np.array([0])), {"mode": "sum"}, RuntimeError,
     "Index 1 of input takes value -1 which is not in the valid range [0, 6)"),
    ((np.array([1, 7, -1]), F32, np.array([0])), {"mode": "max"}, RuntimeError,
     "embedding_bag: Expected idx >= 0 && idx < num_embeddings but found idx to be 7"),
    ((I, F32, np.zeros(0, np.int64)), {"include_last_offset": True}, RuntimeError,
     "include_last_offset: number of offset should be at least 1"),
    ((np.zeros((3, 0), np.int64), F32, None), {}, RuntimeError, "step must be nonzero"),
]


@pytest.mark.parametrize("args, kw, error, message", ERRORS)
def test_errors_are_pytorchs(args, kw, error, message):
    idx, w, offsets = args
    kw = {k: gg.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    weight = gg.tensor(w, requires_grad=w.dtype.kind == "f")
    before = weight.detach().numpy().copy()
    with pytest.raises(error) as raised:
        F.embedding_bag(gg.tensor(idx), weight, None if offsets is None else gg.tensor(offsets), max_norm=0.5, **kw)
    assert str(raised.value) == message
    np.testing.assert_array_equal(weight.detach().numpy(), before)  # max_norm changed nothing: checks come first


def test_sparse_is_refused_and_the_old_argument_order_warns():
    with pytest.raises(NotImplementedError, match=r"^embedding_bag\(sparse=True\): graphgrad has no sparse tensors"):
        _bag(I, W, O, sparse=True)
    with pytest.warns(UserWarning, match=r"^Argument order of nn.functional.embedding_bag was changed"):
        out = F.embedding_bag(gg.tensor(W), gg.tensor(I), gg.tensor(O))
    np.testing.assert_allclose(out.numpy(), _bag(I, W, O).numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _bag(I.astype(bool), W, [0]).tolist() == [[2.0, 3.0]]  # bool indices read as 0/1, as PyTorch's


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_vmap_over_weights(mode):
    ws = gg.tensor(rng.standard_normal((3, 6, 2)))
    for idx, offsets in ((gg.tensor(I), gg.tensor(O)), (gg.tensor(I.reshape(2, 3)), None)):
        batched = gg.vmap(lambda w: F.embedding_bag(idx, w, offsets, mode=mode, padding_idx=4))(ws)
        one_by_one = gg.stack([F.embedding_bag(idx, w, offsets, mode=mode, padding_idx=4) for w in ws])
        np.testing.assert_array_equal(batched.numpy(), one_by_one.numpy())
