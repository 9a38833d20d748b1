"""``detach()`` shares its tensor's storage and version counter, as PyTorch's does: an in-place change through the
detached tensor is seen by a later backward that saved the original. Its primitive (``stop_gradient``) declares
this (``view=True``), so eager, the tracer and the passes read it from the declaration."""
import numpy as np
import pytest

import graphgrad as gg
from graphgrad.ir.api import bind
from graphgrad.tracer import TracerError

MODIFIED = "one of the variables needed for gradient computation has been modified by an inplace operation"

DETACH = {"method": lambda x: x.detach(), "primitive": lambda x: bind("stop_gradient", x)}


@pytest.mark.parametrize("how", sorted(DETACH))
def test_in_place_change_through_detach_bumps_the_version_and_fails_backward(how):
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    y = x * x  # saves x
    d = DETACH[how](x)
    assert not d.requires_grad and d.grad_fn is None
    d.mul_(2)
    assert x._version == d._version == 1
    np.testing.assert_array_equal(x.detach().numpy(), [2.0, 4.0])
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.sum().backward()


@pytest.mark.parametrize("how", sorted(DETACH))
def test_detach_of_a_view_shares_the_base_version_without_history(how):
    x = gg.tensor([1.0, 2.0, 3.0], dtype=gg.float64, requires_grad=True)
    y = x.exp()
    d = DETACH[how](y[1:])
    d.add_(1)
    assert y._version == 1 and not d.requires_grad and d.grad_fn is None
    np.testing.assert_allclose(y.detach().numpy(), np.exp([1.0, 2.0, 3.0]) + [0, 1, 1], rtol=1e-15)
    with pytest.raises(RuntimeError, match=MODIFIED):  # ExpBackward0 saved y
        y.sum().backward()


def test_compiled_detach_taken_before_an_update_is_refused_when_used():
    def f(x):
        d = x.detach()
        x.mul_(2)
        return d + x  # eager: d sees the update (4x)

    x = gg.tensor([1.0, 2.0])
    np.testing.assert_array_equal(f(x.clone()).numpy(), [4.0, 8.0])
    with pytest.raises(TracerError, match="taken before its base tensor was updated"):
        gg.compile(f)(x.clone())


def test_compiled_in_place_on_detach_names_detach():
    def f(x):
        d = x.detach()
        d.add_(1)
        return x * 2

    with pytest.raises(TracerError, match=r"\.data or \.detach\(\)"):
        gg.compile(f)(gg.tensor([1.0, 2.0], requires_grad=True))
