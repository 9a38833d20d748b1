"""Composites show PyTorch's node for the op the user called (``grad_fn.name()``), not the last primitive they
are made of; and ``roll`` returns a new tensor even when it shifts nothing, as PyTorch's."""
import pytest

import graphgrad as gg


@pytest.mark.parametrize("make, name", [
    (lambda x, y: x.frac(), "FracBackward0"),
    (lambda x, y: x.deg2rad(), "Deg2RadBackward0"),
    (lambda x, y: x.rad2deg(), "Rad2DegBackward0"),
    (lambda x, y: gg.sinc(x), "SincBackward0"),
    (lambda x, y: gg.nan_to_num(x), "NanToNumBackward0"),
    (lambda x, y: gg.lerp(x, y, 0.3), "LerpBackward0"),
    (lambda x, y: gg.lerp(x, y, gg.tensor([0.3, 0.9, 0.5], dtype=gg.float64)), "LerpBackward1"),
    (lambda x, y: gg.addcmul(x, x, y), "AddcmulBackward0"),
    (lambda x, y: gg.addcdiv(x, x, y, value=2), "AddcdivBackward0"),
    (lambda x, y: x.roll(1), "RollBackward0"),
    (lambda x, y: x.roll(0, 0), "RollBackward0"),
])
def test_composites_show_pytorch_s_node(make, name):
    x = gg.tensor([0.5, -1.5, 2.25], dtype=gg.float64, requires_grad=True)
    y = gg.tensor([1.0, 2.0, 3.0], dtype=gg.float64, requires_grad=True)
    assert make(x, y).grad_fn.name() == name


@pytest.mark.parametrize("roll", [lambda t: t.roll(0), lambda t: t.roll(3, 0), lambda t: t.roll((0, 2), (0, 1))])
def test_a_roll_that_shifts_nothing_is_still_a_new_tensor(roll):
    # it returned the tensor itself (or a view of it): writing into the result wrote into the original
    original = gg.arange(6.0).reshape(3, 2)
    rolled = roll(original)
    rolled.add_(1)
    assert original.tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    assert rolled.tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
