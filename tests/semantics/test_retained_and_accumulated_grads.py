"""Where gradients are stored, as PyTorch stores them: a retained gradient belongs to the tensor's current value
(an in-place change moves it to the new history), a retained gradient is a fresh tensor each time, and a leaf's
``.grad`` after ``create_graph=True`` is a copy that later plain backwards add into in place, keeping its history.

Expected values are closed forms in float64."""
import re
import warnings

import numpy as np
import pytest

import graphgrad as torch


def f64(values, requires_grad=True):
    return torch.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def close(t, expected):
    return t is not None and np.allclose(t.detach().numpy(), np.asarray(expected, dtype=np.float64))


# -- a retained gradient follows in-place changes ----------------------------------------------------------------
def test_retained_gradient_is_that_of_the_value_after_an_in_place_change():
    x = f64([1.0, 2.0])
    y = x * 2
    y.retain_grad()
    y.mul_(3)  # y is now 6x; the loss is sum(y^2): its gradient with respect to the current y is 2y = 12x
    (y * y).sum().backward()
    assert close(y.grad, 12 * np.array([1.0, 2.0]))
    assert close(x.grad, 72 * np.array([1.0, 2.0]))  # d/dx sum(36 x^2)
    assert y.retains_grad


def test_retained_gradient_follows_several_in_place_changes_and_index_assignment():
    x = f64([1.0, 2.0])
    y = x * 2
    y.retain_grad()
    y.mul_(3)
    y.mul_(5)  # y = 30x
    (y * y).sum().backward()
    assert close(y.grad, 60 * np.array([1.0, 2.0]))

    x = f64([1.0, 2.0, 3.0])
    b = x * 2
    b.retain_grad()
    b[0] = 5.0  # b = [5, 4, 6]: the gradient of sum(b^2) at the new b, written element included
    (b * b).sum().backward()
    assert close(b.grad, [10.0, 8.0, 12.0])
    assert close(x.grad, [0.0, 16.0, 24.0])


def test_a_hook_registered_before_an_in_place_change_still_sees_the_old_value_s_gradient():
    # PyTorch keeps such a hook on the old history (unlike retain_grad): d/d(old y) of sum((3 y)^2) = 18 y
    x = f64([1.0, 2.0])
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(g.detach().numpy().copy()))
    y.mul_(3)
    (y * y).sum().backward()
    assert len(seen) == 1 and np.allclose(seen[0], 18 * 2 * np.array([1.0, 2.0]))


def test_a_base_retaining_its_gradient_gets_the_gradient_of_its_value_after_a_view_is_written():
    x = f64([1.0, 2.0, 3.0])
    b = x * 2
    b.retain_grad()
    b[:2].mul_(3)  # b = [6, 12, 6]
    (b * b).sum().backward()
    assert close(b.grad, [12.0, 24.0, 12.0])
    assert repr(b.grad_fn).startswith("<CopySlices object")


def test_a_view_written_in_place_has_its_history_from_its_base():
    x = f64([1.0, 2.0, 3.0])
    b = x * 2
    v = b[:2]
    v.retain_grad()
    v.mul_(3)
    # PyTorch regenerates the view's grad_fn from the base's new history ...
    assert v.grad_fn.name() == "AsStridedBackward0"
    (v * v).sum().backward()
    assert close(v.grad, [12.0, 24.0])  # 2 v, v = [6, 12]
    # ... so a loss that reaches the base but not the view leaves the view's retained gradient unset
    x = f64([1.0, 2.0, 3.0])
    b = x * 2
    v = b[:2]
    v.retain_grad()
    v.mul_(3)
    (b * b).sum().backward()
    assert v.grad is None
    assert close(x.grad, [72.0, 144.0, 24.0])


def test_a_view_retaining_its_gradient_follows_its_base_written_in_place():
    x = f64([1.0, 2.0, 3.0])
    b = x * 2
    v = b[:2]
    v.retain_grad()
    b.mul_(3)
    (v * v).sum().backward()
    assert close(v.grad, [12.0, 24.0])


# -- a retained gradient is a new tensor each time ---------------------------------------------------------------
def test_a_retained_gradient_accumulates_into_a_new_tensor():
    x = f64([1.0, 2.0])
    y = x * 2
    y.retain_grad()
    (y * y).sum().backward(retain_graph=True)
    first = y.grad
    (y * y).sum().backward()
    assert close(first, [4.0, 8.0])  # the tensor handed out earlier is not changed
    assert close(y.grad, [8.0, 16.0]) and y.grad is not first


def test_a_retained_gradient_under_create_graph_is_a_differentiable_copy():
    x = f64([1.0, 2.0])
    y = x * 2
    y.retain_grad()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (y ** 3).sum().backward(create_graph=True)
    assert y.grad.grad_fn.name() == "CloneBackward0"
    assert close(y.grad, 3 * (2 * np.array([1.0, 2.0])) ** 2)
    # d/dx sum(3 (2x)^2) = 24 x
    g, = torch.autograd.grad(y.grad.sum(), x)
    assert close(g, 24 * np.array([1.0, 2.0]))


# -- a leaf's .grad: copied under create_graph, added in place afterwards -----------------------------------------
def test_create_graph_stores_a_copy_never_the_gradient_tensor_itself():
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ((a + b) ** 2).sum().backward(create_graph=True)
    # both leaves receive the same gradient 2(a + b): each .grad is its own tensor
    assert a.grad is not b.grad
    assert repr(a.grad.grad_fn).startswith("<CopyBackwards object") and a.grad.requires_grad and not a.grad.is_leaf
    with torch.no_grad():
        a.grad.add_(1.0)
    assert close(b.grad, [8.0, 12.0])


def test_a_plain_backward_after_create_graph_adds_in_place_and_keeps_the_history():
    x = f64([1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (x ** 3).sum().backward(create_graph=True)  # x.grad = 3x^2, with history
    first, version = x.grad, x.grad._version
    (x ** 2).sum().backward()  # + 2x, in place
    assert x.grad is first and x.grad._version == version + 1
    assert close(x.grad, 3 * np.array([1.0, 4.0]) + 2 * np.array([1.0, 2.0]))
    assert repr(x.grad.grad_fn).startswith("<CopyBackwards object")
    # the history is still that of 3x^2: backward of sum(x.grad) adds 6x into x.grad itself
    x.grad.sum().backward()
    assert close(x.grad, 3 * np.array([1.0, 4.0]) + 2 * np.array([1.0, 2.0]) + 6 * np.array([1.0, 2.0]))


def test_a_grad_that_requires_grad_stays_the_same_tensor_and_keeps_requiring_grad():
    x = f64([1.0, 2.0])
    (x * x).sum().backward()
    first = x.grad
    first.requires_grad_()
    (x * x).sum().backward()
    assert x.grad is first and x.grad.requires_grad and x.grad.grad_fn is None
    assert close(x.grad, [4.0, 8.0])


def test_create_graph_after_a_plain_backward_records_the_sum():
    x = f64([1.0, 2.0])
    (x ** 3).sum().backward()
    first = x.grad
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (x ** 3).sum().backward(create_graph=True)
    assert x.grad is not first and x.grad.grad_fn.name() == "AddBackward0"
    assert close(first, [3.0, 12.0]) and close(x.grad, [6.0, 24.0])


def test_backward_with_create_graph_warns_about_the_reference_cycle_once(monkeypatch):
    from graphgrad.runtime import autograd

    monkeypatch.setattr(autograd, "_warned_create_graph", False)
    x = f64([1.0, 2.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (x ** 3).sum().backward(create_graph=True)
        (x ** 3).sum().backward(create_graph=True)
        torch.autograd.grad((x ** 3).sum(), x, create_graph=True)  # autograd.grad does not warn
    texts = [str(w.message) for w in caught]
    assert len(texts) == 1 and re.match(r"Using backward\(\) with create_graph=True will create a reference cycle "
                                        r"between the parameter and its gradient", texts[0])


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
