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


@pytest.mark.parametrize("op", [
    lambda t: t.repeat(2, 1),  # a size-1 axis repeated: an expanded view before
    lambda t: t.repeat(1, 1),
    lambda t: t.tile((1,)),
    lambda t: gg.nn.functional.pad(t, (0, 0)),
    lambda t: gg.nn.functional.pad(t, (0, -1)),  # only cropped: a slice before
    lambda t: gg.rot90(t, 0),
    lambda t: gg.linalg.matrix_power(t.expand(3, 3), 1)[:1],
    lambda t: gg.nn.functional.pixel_shuffle(t[None], 1)[0],
    lambda t: gg.nn.functional.pixel_unshuffle(t[None], 1)[0],
    lambda t: gg.nn.functional.channel_shuffle(t[None], 1)[0],
], ids=["repeat_expand", "repeat_ones", "tile", "pad_zero", "pad_crop", "rot90_0", "matrix_power_1",
        "pixel_shuffle_1", "pixel_unshuffle_1", "channel_shuffle_1"])
@pytest.mark.parametrize("run", [lambda f, t: f(t), lambda f, t: gg.compile(f)(t)], ids=["eager", "compiled"])
def test_ops_pytorch_computes_into_a_new_tensor_never_write_into_their_operand(op, run):
    # each returned its operand or a view of it in these trivial cases: a write into the result reached the operand
    def write(t):
        out = op(t)
        out[0, 0] = 7.0
        return out
    original = gg.tensor([[1.0, 2.0, 3.0]])
    out = run(write, original)
    assert original.tolist() == [[1.0, 2.0, 3.0]]
    assert out[0, 0].item() == 7.0 and (out.numel() == 1 or out.reshape(-1)[1].item() != 7.0)
