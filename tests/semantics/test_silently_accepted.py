"""Inputs that were accepted and gave a wrong result with no error (issue 9): each now raises PyTorch's error."""
import os

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn.functional as F

DATA = os.path.join(os.path.dirname(__file__), "..", "torch_semantics", "data")


@pytest.mark.parametrize("call, error, text", [
    (lambda x: x.transpose(0, 2), IndexError, r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"),
    (lambda x: x.unsqueeze(5), IndexError, r"in range of \[-3, 2\], but got 5"),
    (lambda x: gg.stack([x, x], dim=4), IndexError, r"in range of \[-3, 2\], but got 4"),
    (lambda x: x.flatten(0, 5), IndexError, r"in range of \[-2, 1\], but got 5"),
    (lambda x: x.permute(0), RuntimeError, r"input.dim\(\) = 2 is not equal to len\(dims\) = 1"),
    (lambda x: x.permute(0, 0), RuntimeError, r"duplicate dims are not allowed"),
    (lambda x: (x.unsqueeze(0) * 1).t(), RuntimeError, r"t\(\) expects a tensor with <= 2 dimensions, but self is 3D"),
])
def test_out_of_range_dims_raise_in_both_modes(call, error, text):
    x = gg.ones(2, 3)
    with pytest.raises(error, match=text):
        call(x)
    with pytest.raises(error, match=text):
        gg.compile(call)(gg.ones(2, 3))


def test_in_range_negative_dims_still_work():
    x = gg.arange(6.0).reshape(2, 3)
    assert x.permute(1, -2).shape == (3, 2) and x.unsqueeze(-1).shape == (2, 3, 1)
    assert gg.stack([x, x], dim=-1).shape == (2, 3, 2) and x.transpose(-1, 0).shape == (3, 2)


def test_a_float_size_is_refused():
    with pytest.raises(TypeError, match="must be tuple of ints, but found element of type float at pos 0"):
        gg.ones(2.5)


def test_a_hook_that_changes_the_gradients_shape_is_refused_and_grad_untouched():
    w = gg.ones(3, requires_grad=True)

    def widen(g):
        return gg.ones(5)
    w.register_hook(widen)
    with pytest.raises(RuntimeError, match="hook 'widen' has changed the size of value"):
        (w * 2).sum().backward()
    assert w.grad is None


def test_a_hook_returning_a_non_tensor_gets_pytorchs_type_error():
    w = gg.ones(3, requires_grad=True)
    w.register_hook(lambda g: 3)
    # PyTorch 2.13's words for a tensor hook ("expected Variable or None" is a custom Function's backward's)
    with pytest.raises(TypeError, match=r"^expected Variable, but hook returned 'int'$"):
        (w * 2).sum().backward()


def test_a_hook_that_changes_the_gradients_dtype_is_refused_and_grad_untouched():
    # PyTorch 2.13's text names the tensor types; a leaf's hooks and a non-leaf's are checked alike
    w = gg.ones(3, requires_grad=True)

    def widen(g):
        return g.double()
    w.register_hook(widen)
    with pytest.raises(RuntimeError, match=r"^hook 'widen' has changed the type of value \(was torch.FloatTensor got "
                                           r"torch.DoubleTensor\)$"):
        (w * 2).sum().backward()
    assert w.grad is None
    x = gg.ones(3, requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: g.to(gg.int64))
    with pytest.raises(RuntimeError, match=r"^hook '<lambda>' has changed the type of value \(was torch.FloatTensor "
                                           r"got torch.LongTensor\)$"):
        y.sum().backward()
    assert x.grad is None


def test_a_hook_object_without_a_name_is_named_unknown_in_the_error():
    class Hook:
        def __call__(self, g):
            return g.double()
    x = gg.ones(2, requires_grad=True)
    y = x * 2
    y.register_hook(Hook())
    with pytest.raises(RuntimeError, match=r"^hook '<unknown>' has changed the type of value"):
        y.sum().backward()


def test_binary_cross_entropy_refuses_inputs_outside_0_1():
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(gg.tensor([1.5]), gg.tensor([1.0]))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(gg.tensor([float("nan")]), gg.tensor([1.0]))
    assert abs(F.binary_cross_entropy(gg.tensor([0.5]), gg.tensor([1.0])).item() - np.log(2)) < 1e-6


def test_a_legacy_pytorch_checkpoint_is_refused_not_returned_as_its_magic_number():
    # written by PyTorch 2.13 with torch.save({'w': torch.ones(2)}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(RuntimeError, match="legacy checkpoint format"):
        gg.load(os.path.join(DATA, "legacy_format.pt"))


def test_a_string_operand_is_a_type_error_in_both_modes():
    with pytest.raises(TypeError, match="unsupported operand type"):
        gg.ones(2) + "a"
    with pytest.raises(TypeError, match="unsupported operand type.*str"):
        gg.compile(lambda x: x + "a")(gg.ones(2))
