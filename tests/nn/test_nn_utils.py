"""graphgrad.nn.utils: gradient clipping, parameters <-> vector, padding and packing sequences, RNNs on packed
batches — checked against closed forms and against running each sequence alone."""
import math
import warnings

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.nn.utils import (clip_grad_norm_, clip_grad_value_, parameters_to_vector, vector_to_parameters)
from graphgrad.nn.utils.rnn import (PackedSequence, pack_padded_sequence, pack_sequence, pad_packed_sequence,
                                    pad_sequence, unpack_sequence)
from graphgrad.utils.gradcheck import gradcheck


def _params(*grads):
    out = []
    for g in grads:
        p = gg.nn.Parameter(gg.zeros(*np.shape(g), dtype=gg.float64))
        p.grad = gg.tensor(np.asarray(g, dtype=np.float64))
        out.append(p)
    return out


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, math.inf])
def test_clip_grad_norm_matches_the_closed_form(norm_type):
    grads = [np.array([3.0, -4.0]), np.array([[1.0, 2.0], [-2.0, 0.5]])]
    params = _params(*grads)
    flat = np.concatenate([g.ravel() for g in grads])
    total = np.max(np.abs(flat)) if norm_type == math.inf else np.sum(np.abs(flat) ** norm_type) ** (1 / norm_type)
    returned = clip_grad_norm_(params, max_norm=1.5, norm_type=norm_type)
    assert np.isclose(returned.item(), total)
    coef = min(1.0, 1.5 / (total + 1e-6))
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p.grad.numpy(), g * coef)


def test_clip_grad_norm_leaves_small_gradients_and_skips_missing_ones():
    a, b = _params([0.3, 0.4], [0.0])
    b.grad = None
    g = a.grad
    assert np.isclose(clip_grad_norm_(iter([a, b]), 10.0).item(), 0.5)
    np.testing.assert_allclose(a.grad.numpy(), [0.3, 0.4])
    assert a.grad is g and b.grad is None  # in place


def test_clip_grad_norm_single_tensor_and_errors():
    (p,) = _params([np.nan, 1.0])
    with pytest.raises(RuntimeError, match=r"The total norm of order 2.0 for gradients from `parameters` is "
                                           r"non-finite, so it cannot be clipped"):
        clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    assert math.isnan(clip_grad_norm_(p, 1.0).item())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert clip_grad_norm_((q for q in []), 1.0).item() == 0.0
    assert "`parameters` is an empty generator, no gradient clipping will occur." in str(caught[0].message)


def test_clip_grad_norm_of_float32_and_float64_gradients_is_float64():
    a = gg.nn.Parameter(gg.zeros(2))  # float32 first
    a.grad = gg.tensor([3.0, 4.0])
    (b,) = _params([1e-4, 0.1])
    total = clip_grad_norm_([a, b], 1.0)
    assert total.dtype == gg.float64  # the stacked norms promote, as in PyTorch
    assert total.item() == pytest.approx(math.sqrt(25.0 + 1e-8 + 0.01), rel=1e-14)  # not rounded to float32
    np.testing.assert_allclose(b.grad.numpy(), np.array([1e-4, 0.1]) / (total.item() + 1e-6), rtol=1e-15)


def test_clip_grad_value_clamps_in_place():
    a, b = _params([-3.0, 0.2, 7.0], [[0.5, -0.9]])
    assert clip_grad_value_([a, b], 0.6) is None
    np.testing.assert_allclose(a.grad.numpy(), [-0.6, 0.2, 0.6])
    np.testing.assert_allclose(b.grad.numpy(), [[0.5, -0.6]])


def test_parameters_to_vector_and_back():
    layer = gg.nn.Linear(3, 2).double()
    vec = parameters_to_vector(layer.parameters())
    expected = np.concatenate([layer.weight.detach().numpy().ravel(), layer.bias.detach().numpy()])
    np.testing.assert_allclose(vec.detach().numpy(), expected)
    vec.sum().backward()  # differentiable, as in PyTorch
    np.testing.assert_allclose(layer.weight.grad.numpy(), np.ones((2, 3)))
    vector_to_parameters(gg.arange(8.0, dtype=gg.float64), layer.parameters())
    np.testing.assert_allclose(layer.weight.detach().numpy(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_allclose(layer.bias.detach().numpy(), [6.0, 7.0])
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: list"):
        vector_to_parameters([1.0], layer.parameters())


def test_pad_sequence_sides_and_errors():
    a, b = gg.tensor([1.0, 2.0, 3.0]), gg.tensor([4.0])
    np.testing.assert_array_equal(pad_sequence([a, b]).numpy(), [[1, 4], [2, 0], [3, 0]])
    np.testing.assert_array_equal(pad_sequence([a, b], batch_first=True, padding_value=-1, padding_side="left")
                                  .numpy(), [[1, 2, 3], [-1, -1, 4]])
    with pytest.raises(RuntimeError, match="Expected padding_side to be one of left or right, but got up."):
        pad_sequence([a], padding_side="up")
    with pytest.raises(RuntimeError, match="received an empty list of sequences"):
        pad_sequence([])


def test_pack_and_pad_round_trip_in_original_order():
    x = gg.tensor([[1.0, 2.0, 0.0], [3.0, 4.0, 5.0], [6.0, 0.0, 0.0]])
    packed = pack_padded_sequence(x, gg.tensor([2, 3, 1]), batch_first=True, enforce_sorted=False)
    np.testing.assert_array_equal(packed.data.numpy(), [3, 1, 6, 4, 2, 5])
    np.testing.assert_array_equal(packed.batch_sizes.numpy(), [3, 2, 1])
    np.testing.assert_array_equal(packed.sorted_indices.numpy(), [1, 0, 2])
    np.testing.assert_array_equal(packed.unsorted_indices.numpy(), [1, 0, 2])
    padded, lengths = pad_packed_sequence(packed, batch_first=True, total_length=4)
    np.testing.assert_array_equal(padded.numpy(), np.pad(x.numpy(), ((0, 0), (0, 1))))
    np.testing.assert_array_equal(lengths.numpy(), [2, 3, 1])
    seqs = [gg.tensor([1.0]), gg.tensor([2.0, 3.0])]
    assert [s.tolist() for s in unpack_sequence(pack_sequence(seqs, enforce_sorted=False))] == [[1.0], [2.0, 3.0]]


def test_pack_errors_are_pytorchs():
    x = gg.zeros(3, 2)
    with pytest.raises(RuntimeError, match="`lengths` array must be sorted in decreasing order when `enforce_sorted`"):
        pack_padded_sequence(x, [1, 3])
    with pytest.raises(RuntimeError, match=r"Expected `len\(lengths\)` to be equal to batch_size, but got 3 "
                                           r"\(batch_size=2\)"):
        pack_padded_sequence(x, [3, 2, 1])
    with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
        pack_padded_sequence(x, [2, 0])
    with pytest.raises(ValueError, match="Expected total_length to be at least the length of the longest sequence "
                                         "in input, but got total_length=1 and max sequence length being 3"):
        pad_packed_sequence(pack_padded_sequence(x, [3, 1]), total_length=1)


def test_packing_is_differentiable():
    def f(x):
        packed = pack_padded_sequence(x, [3, 1], enforce_sorted=True)
        return pad_packed_sequence(PackedSequence(packed.data * packed.data, packed.batch_sizes))[0]
    assert gradcheck(f, (gg.randn(3, 2, 2, dtype=gg.float64, requires_grad=True),))


@pytest.mark.parametrize("batch_first", [False, True])
def test_pad_packed_sequence_compiles(batch_first, check_gradients):
    # it read data.device, which a traced tensor does not have (AttributeError under gg.compile)
    lengths = [2, 4, 1]
    w = np.random.default_rng(50).standard_normal((3, 5, 2) if batch_first else (5, 3, 2))

    def f(x):
        packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
        padded = pad_packed_sequence(PackedSequence(packed.data * packed.data, packed.batch_sizes,
                                                    packed.sorted_indices, packed.unsorted_indices),
                                     batch_first=batch_first, padding_value=-1.0, total_length=5)[0]
        return padded * gg.tensor(w)

    x = np.random.default_rng(51).standard_normal((3, 4, 2) if batch_first else (4, 3, 2))
    steps = np.arange(5)[:, None, None] < np.array(lengths)[None, :, None]  # (time, batch, 1)
    x_tb = x.transpose(1, 0, 2) if batch_first else x
    want = np.where(steps, np.pad(x_tb, ((0, 1), (0, 0), (0, 0))) ** 2, -1.0)
    want = (want.transpose(1, 0, 2) if batch_first else want) * w
    for fn in (f, gg.compile(f)):
        np.testing.assert_allclose(fn(gg.tensor(x)).numpy(), want, rtol=1e-12)
    check_gradients(lambda x: f(x).sum(), [x])


@pytest.mark.parametrize("cls", [gg.nn.RNN, gg.nn.LSTM, gg.nn.GRU])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_rnns_run_each_packed_sequence_to_its_length(cls, bidirectional):
    gg.manual_seed(0)
    m = cls(3, 4, num_layers=2, bidirectional=bidirectional).double()
    seqs = [gg.randn(n, 3, dtype=gg.float64) for n in (2, 5, 3)]
    out, state = m(pack_sequence(seqs, enforce_sorted=False))
    assert isinstance(out, PackedSequence)
    padded, lengths = pad_packed_sequence(out)
    assert lengths.tolist() == [2, 5, 3]
    h_n = state[0] if isinstance(state, tuple) else state
    for i, s in enumerate(seqs):  # the same as running each sequence alone
        alone, alone_state = m(s)
        alone_h = alone_state[0] if isinstance(alone_state, tuple) else alone_state
        np.testing.assert_allclose(padded[:len(s), i].detach().numpy(), alone.detach().numpy(), atol=1e-12)
        np.testing.assert_array_equal(padded[len(s):, i].detach().numpy(), 0.0)
        np.testing.assert_allclose(h_n[:, i].detach().numpy(), alone_h.detach().numpy(), atol=1e-12)


def test_packed_lstm_gradients_and_initial_states():
    gg.manual_seed(1)
    m = gg.nn.LSTM(2, 3, bidirectional=True).double()
    h0 = gg.randn(2, 2, 3, dtype=gg.float64)
    c0 = gg.randn(2, 2, 3, dtype=gg.float64)

    def f(x):
        packed = pack_padded_sequence(x, [1, 3], enforce_sorted=False)
        out, (h, c) = m(packed, (h0, c0))
        return pad_packed_sequence(out)[0].sum() + h.sum() + c.sum()
    assert gradcheck(f, (gg.randn(3, 2, 2, dtype=gg.float64, requires_grad=True),))
    # sequence 0 (length 1) alone, with its own initial state
    x = gg.randn(3, 2, 2, dtype=gg.float64)
    out, (h, c) = m(pack_padded_sequence(x, [1, 3], enforce_sorted=False), (h0, c0))
    alone, (ha, ca) = m(x[:1, 0], (h0[:, 0], c0[:, 0]))
    np.testing.assert_allclose(h[:, 0].detach().numpy(), ha.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(c[:, 0].detach().numpy(), ca.detach().numpy(), atol=1e-12)
