"""``autograd.grad(out, inputs)`` and ``backward(inputs=...)`` as PyTorch runs them: only the part of the graph
on a path to a requested input runs (hooks and ``retain_grad`` elsewhere do not fire, other leaves keep their
``.grad``), and a non-leaf passed in ``inputs=`` gets its gradient in ``.grad`` (PyTorch calls ``retain_grad`` on
it). Expected values are closed forms in float64."""
import warnings

import numpy as np
import pytest

import graphgrad as torch
from graphgrad.autograd import Function


def f64(values, requires_grad=True):
    return torch.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def close(t, expected):
    return t is not None and np.allclose(t.detach().numpy(), np.asarray(expected, dtype=np.float64))


# -- a non-leaf in backward(inputs=...) -------------------------------------------------------------------------
def test_backward_accumulates_into_a_non_leaf_passed_as_input_and_nowhere_else():
    x = f64([1.0, 2.0])
    y = x * 2
    loss = (y * y).sum()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PyTorch warns about nothing here (y now retains its gradient)
        loss.backward(inputs=[y], retain_graph=True)
        assert close(y.grad, [4.0, 8.0])  # 2y
    assert y.retains_grad and x.grad is None
    loss.backward(inputs=[y], retain_graph=True)
    assert close(y.grad, [8.0, 16.0])
    loss.backward()  # y keeps retaining its gradient from now on
    assert close(y.grad, [12.0, 24.0]) and close(x.grad, [8.0, 16.0])


def test_backward_inputs_sees_the_non_leaf_s_hooks_and_accepts_a_single_tensor():
    x = f64([1.0, 2.0])
    y = x * 2
    y.register_hook(lambda g: g * 10)
    (y * y).sum().backward(inputs=y)
    assert close(y.grad, [40.0, 80.0]) and x.grad is None


def test_backward_inputs_with_create_graph_stores_a_differentiable_copy():
    x = f64([1.0, 2.0])
    y = x * 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (y * y).sum().backward(inputs=[y], create_graph=True)
    assert y.grad.grad_fn.name() == "CloneBackward0"
    g, = torch.autograd.grad(y.grad.sum(), x)  # d/dx sum(2 * 2x) = 4
    assert close(g, [4.0, 4.0])


def test_backward_inputs_refuses_a_tensor_that_does_not_require_grad():
    x, c = f64([1.0, 2.0]), f64([1.0, 2.0], requires_grad=False)
    with pytest.raises(RuntimeError, match="^can't retain_grad on Tensor that has requires_grad=False$"):
        (x * c).sum().backward(inputs=[c])


def test_an_input_the_loss_does_not_reach_is_left_alone():
    x = f64([1.0, 2.0])
    z = x * 2
    (x * 3).sum().backward(inputs=[z])
    assert z.grad is None and x.grad is None


# -- only what leads to a requested input runs ------------------------------------------------------------------
def _two_branches():
    x, w = f64([1.0, 2.0]), f64([3.0, 4.0])
    fired = []
    a = w * 2
    a.retain_grad()
    a.register_hook(lambda g: fired.append("a"))
    b = x * 3
    b.register_hook(lambda g: fired.append("b"))
    w.register_hook(lambda g: fired.append("w"))
    return x, w, a, b, (a * b).sum(), fired


def test_grad_runs_only_the_branch_leading_to_its_inputs():
    x, w, a, b, out, fired = _two_branches()
    g, = torch.autograd.grad(out, [x])
    assert close(g, 3 * 2 * np.array([3.0, 4.0]))  # d/dx sum(2w * 3x) = 6w
    assert fired == ["b"] and a.grad is None and w.grad is None


def test_backward_inputs_runs_only_the_branch_leading_to_its_inputs():
    x, w, a, b, out, fired = _two_branches()
    out.backward(inputs=[x])
    assert close(x.grad, 6 * np.array([3.0, 4.0]))
    assert fired == ["b"] and a.grad is None and w.grad is None


def test_grad_of_a_non_leaf_runs_its_hooks_but_not_the_graph_behind_it():
    x, w, a, b, out, fired = _two_branches()
    g, = torch.autograd.grad(out, [b], retain_graph=True)
    assert close(g, 2 * np.array([3.0, 4.0]))  # a = 2w
    assert fired == ["b"]
    g, = torch.autograd.grad(out, [a])
    assert close(g, 3 * np.array([1.0, 2.0]))
    assert fired == ["b", "a"] and close(a.grad, 3 * np.array([1.0, 2.0]))  # retain_grad of a target fires


def test_a_custom_backward_off_the_path_does_not_run():
    calls = []

    class Double(Function):
        @staticmethod
        def forward(ctx, t):
            return t * 2

        @staticmethod
        def backward(ctx, g):
            calls.append(1)
            return g * 2

    x, w = f64([1.0, 2.0]), f64([5.0, 7.0])
    y = Double.apply(x)
    g, = torch.autograd.grad((y * w).sum(), [w])
    assert close(g, [2.0, 4.0]) and calls == []
    # the node of a non-leaf passed to backward(inputs=...) does run (PyTorch documents it as a detail)
    y = Double.apply(x)
    (y * y).sum().backward(inputs=[y])
    assert calls == [1] and close(y.grad, [4.0, 8.0]) and x.grad is None


def test_grad_with_several_inputs_on_one_path_runs_each_hook_once():
    x = f64([1.0, 2.0])
    y = x * 2
    z = y * 3
    fired = []
    y.register_hook(lambda g: fired.append("y"))
    z.register_hook(lambda g: fired.append("z"))
    gz, gx = torch.autograd.grad((z * z).sum(), [z, x])
    assert close(gz, 2 * 6 * np.array([1.0, 2.0])) and close(gx, 72 * np.array([1.0, 2.0]))
    assert fired == ["z", "y"]


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
