"""Arguments PyTorch refuses that gave silent values here (a one-hot row of zeros, a zero Huber loss), and the
unbatched (C, H, W) input PyTorch's average pools take. Expected values are closed forms in NumPy."""
import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn
import graphgrad.nn.functional as F


@pytest.mark.parametrize("classes, num_classes, message", [
    ([0, 3], 3, "Class values must be smaller than num_classes."),
    ([0, -1], 3, "Class values must be non-negative."),
    ([2, -1], -1, "Class values must be non-negative."),
])
def test_one_hot_refuses_classes_out_of_range(classes, num_classes, message):
    with pytest.raises(RuntimeError, match=message):
        F.one_hot(gg.tensor(classes), num_classes)


def test_one_hot_in_range_is_unchanged():
    assert F.one_hot(gg.tensor([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]
    assert F.one_hot(gg.tensor([1]), -1).tolist() == [[0, 1]]
    assert tuple(F.one_hot(gg.zeros(0, dtype=gg.int64), 4).shape) == (0, 4)


def test_huber_and_smooth_l1_refuse_parameters_pytorch_refuses():
    x, t = gg.tensor([0.5, 3.0]), gg.zeros(2)
    for delta in (0.0, -1.0):
        with pytest.raises(RuntimeError, match="huber_loss does not support non-positive values for delta."):
            F.huber_loss(x, t, delta=delta)
        with pytest.raises(RuntimeError, match="huber_loss does not support non-positive values for delta."):
            nn.HuberLoss(delta=delta)(x, t)
    with pytest.raises(RuntimeError, match="smooth_l1_loss does not support negative values for beta."):
        F.smooth_l1_loss(x, t, beta=-1.0)
    # the allowed edges keep their closed forms: beta = 0 is the L1 loss
    assert F.smooth_l1_loss(x, t, beta=0.0, reduction="none").tolist() == [0.5, 3.0]
    assert F.huber_loss(x, t, delta=2.0, reduction="none").tolist() == [0.125, 2.0 * (3.0 - 1.0)]


def _avg_pool_closed_form(image: np.ndarray, k: int, s: int, p: int) -> np.ndarray:
    padded = np.pad(image, ((0, 0), (p, p), (p, p)))
    oh, ow = (padded.shape[1] - k) // s + 1, (padded.shape[2] - k) // s + 1
    return np.array([[[padded[c, i * s:i * s + k, j * s:j * s + k].mean() for j in range(ow)] for i in range(oh)]
                     for c in range(image.shape[0])])


@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 2, 1)])
def test_avg_pool2d_takes_unbatched_input(k, s, p):
    image = np.random.default_rng(0).standard_normal((2, 5, 6))
    x = gg.tensor(image, requires_grad=True)
    out = nn.AvgPool2d(k, s, p)(x)
    np.testing.assert_allclose(out.detach().numpy(), _avg_pool_closed_form(image, k, s, p), rtol=1e-12)
    out.sum().backward()
    # each input pixel gets 1/k² from every window it lies in
    counts = np.zeros((5 + 2 * p, 6 + 2 * p))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            counts[i * s:i * s + k, j * s:j * s + k] += 1.0 / k ** 2
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(counts[p:p + 5, p:p + 6], (2, 5, 6)), rtol=1e-12)
    f = gg.compile(lambda v: F.avg_pool2d(v, k, s, p))
    np.testing.assert_allclose(f(gg.tensor(image)).numpy(), out.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("size", [(2, 3), (None, 2), 1])
def test_adaptive_avg_pool2d_takes_unbatched_input(size):
    image = np.random.default_rng(1).standard_normal((3, 4, 6))
    out = nn.AdaptiveAvgPool2d(size)(gg.tensor(image))
    oh, ow = (size, size) if isinstance(size, int) else (size[0] or 4, size[1] or 6)
    expected = image.reshape(3, oh, 4 // oh, ow, 6 // ow).mean((2, 4))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    batched = F.adaptive_avg_pool2d(gg.tensor(image[None]), size)
    np.testing.assert_allclose(batched.numpy()[0], expected, rtol=1e-12)


def test_pools_refuse_2d_input():
    with pytest.raises(RuntimeError, match="3D or 4D"):
        F.avg_pool2d(gg.ones(4, 4), 2)
    with pytest.raises(RuntimeError, match="3D or 4D"):
        F.adaptive_avg_pool2d(gg.ones(4, 4), 2)


def test_embedding_refuses_negative_indices():
    weight = gg.arange(8.0).reshape(4, 2)
    with pytest.raises(IndexError, match="index out of range in self"):
        F.embedding(gg.tensor([1, -1]), weight)  # NumPy's indexing gave the last row
    with pytest.raises(IndexError, match="index out of range in self"):
        nn.Embedding(4, 2)(gg.tensor([[0], [-4]]))
    assert F.embedding(gg.tensor([3, 0]), weight).tolist() == [[6.0, 7.0], [0.0, 1.0]]
