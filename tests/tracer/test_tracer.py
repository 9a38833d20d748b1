import numpy as np
import pytest

import graphgrad as gg
from graphgrad.tracer import TracerError


def test_value_dependent_control_flow_names_file_line_and_alternative():
    def f(x):
        if x.sum() > 0:
            return x
        return -x

    with pytest.raises(TracerError) as info:
        gg.compile(f)(gg.ones(3))
    msg = str(info.value)
    assert "test_tracer.py:10" in msg and "if x.sum() > 0:" in msg and "graphgrad.where" in msg


@pytest.mark.parametrize("bad", [lambda x: x.sum().item(), lambda x: float(x.sum()), lambda x: x.numpy()])
def test_concrete_values_are_rejected(bad):
    with pytest.raises(TracerError, match="needs the value of a traced tensor"):
        gg.compile(bad)(gg.ones(2))


def test_shape_errors_name_the_user_line_and_shapes():
    def f(a, b):
        return a @ b

    with pytest.raises(ValueError) as info:
        gg.compile(f)(gg.ones(2, 3), gg.ones(2, 3))
    assert "mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)" in str(info.value)
    assert "test_tracer.py:28" in str(info.value)


def test_control_flow_on_shapes_unrolls():
    def f(x):
        for _ in range(x.shape[0]):
            x = x * 2.0
        return x.sum()

    c = gg.compile(f)
    assert [n.op for n in c.graph(gg.ones(3), stage="traced").nodes] == ["mul"] * 3 + ["sum"]
    assert c(gg.ones(3)).item() == 24.0


def test_closed_over_tensors_become_inputs_and_get_gradients():
    w = gg.tensor([1.0, 2.0], requires_grad=True)
    f = gg.compile(lambda x: (x * w).sum())
    f(gg.tensor([3.0, 4.0])).backward()
    np.testing.assert_allclose(w.grad.numpy(), [3.0, 4.0])


def test_detach_in_traced_code_stops_gradients():
    c = gg.compile(lambda x: (x * x.detach()).sum())
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    c(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 2.0])
