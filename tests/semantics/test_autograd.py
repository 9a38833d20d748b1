"""SPEC §2 items 1-8 and 16: eager autograd behaves as PyTorch's, with PyTorch's exact messages.

Each expected text below is PyTorch's (2.x) for the same call."""
import re
import warnings

import numpy as np
import pytest

import graphgrad as torch  # the seeds' spelling: these are the calls PyTorch users make

FLOAT_ONLY = "Only Tensors of floating point and complex dtype can require gradients"
LEAF_ONLY = "you can only change requires_grad flags of leaf variables."
DETACH_HINT = (" If you want to use a computed variable in a subgraph that doesn't require differentiation use "
               "var_no_grad = var.detach().")


def raises(error, text):
    return pytest.raises(error, match="^" + re.escape(text) + "$")


# -- 1. factories and requires_grad ---------------------------------------------------------------
def test_requires_grad_defaults_to_false_and_only_floats_may_require_it():
    assert not torch.ones(2).requires_grad and not torch.tensor([1.0]).requires_grad
    assert torch.zeros(2, dtype=torch.float64, requires_grad=True).requires_grad
    with raises(RuntimeError, FLOAT_ONLY):
        torch.tensor([1, 2], requires_grad=True)
    with raises(RuntimeError, FLOAT_ONLY):
        torch.ones(2, dtype=torch.int64, requires_grad=True)
    # the setter spells it in lower case, as PyTorch's Python binding does; requires_grad_() without "complex"
    with raises(RuntimeError, "only Tensors of floating point dtype can require gradients"):
        torch.tensor([1]).requires_grad_()
    with raises(RuntimeError, FLOAT_ONLY[0].lower() + FLOAT_ONLY[1:]):
        torch.tensor([True]).requires_grad = True
    t = torch.tensor([1])
    t.requires_grad = False  # always allowed
    assert not t.requires_grad


# -- 2. propagation, leaves, grad_fn --------------------------------------------------------------
def test_results_require_grad_iff_an_input_does_and_grad_mode_is_on():
    x, c = torch.ones(2, requires_grad=True), torch.ones(2)
    assert (x * c).requires_grad and not (c * c).requires_grad
    with torch.no_grad():
        assert not (x * c).requires_grad
    y = x * 2
    assert x.is_leaf and not y.is_leaf and c.is_leaf and x.grad_fn is None
    assert re.fullmatch(r"<MulBackward0 object at 0x[0-9a-f]+>", repr(y.grad_fn))
    assert y.grad_fn.name() == "MulBackward0"
    (acc, _), (const, _) = y.grad_fn.next_functions
    assert type(acc).__name__ == "AccumulateGrad" and acc.variable is x and const is None
    assert (x @ x).grad_fn.name() == "DotBackward0" and x.sum().grad_fn.name() == "SumBackward0"


def test_requires_grad_may_change_only_on_leaves():
    x = torch.ones(2, requires_grad=True)
    y = x * 2
    with raises(RuntimeError, LEAF_ONLY):
        y.requires_grad = True
    with raises(RuntimeError, LEAF_ONLY + DETACH_HINT):
        y.requires_grad = False
    with raises(RuntimeError, LEAF_ONLY + DETACH_HINT):
        y.requires_grad_(False)
    assert y.requires_grad_() is y  # True on a non-leaf is a no-op, as in PyTorch
    leaf = torch.ones(2)
    assert leaf.requires_grad_() is leaf and leaf.requires_grad


# -- 3. backward ----------------------------------------------------------------------------------
def test_backward_of_a_scalar_and_vector_jacobian_products():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x ** 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])
    x.grad = None
    y = x * torch.tensor([1.0, 10.0, 100.0])
    y.backward(torch.tensor([0.1, 1.0, 0.0001]))  # v^T J with J = diag(1, 10, 100)
    np.testing.assert_allclose(x.grad.numpy(), [0.1, 10.0, 0.01], rtol=1e-6)


def test_backward_errors():
    x = torch.ones(3, requires_grad=True)
    with raises(RuntimeError, "grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()
    with raises(RuntimeError, "element 0 of tensors does not require grad and does not have a grad_fn"):
        torch.ones(3).sum().backward()
    with pytest.raises(RuntimeError, match=re.escape("Mismatch in shape: grad_output[0] has a shape of "
                                                     "torch.Size([2]) and output[0] has a shape of torch.Size([3])")):
        (x * 2).backward(torch.ones(2))
    assert x.grad is None  # nothing was accumulated by the failed calls


def test_backward_inputs_limits_accumulation():
    x, w = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    (x * w * 3).sum().backward(inputs=[w])
    assert x.grad is None and w.grad.tolist() == [3.0, 3.0]


# -- 4. accumulation and zeroing ------------------------------------------------------------------
def test_gradients_accumulate_until_zeroed():
    x = torch.ones(2, requires_grad=True)
    for expected in (2.0, 4.0):
        (x * 2).sum().backward()
        assert x.grad.tolist() == [expected, expected]
    x.grad.zero_()
    assert x.grad.tolist() == [0.0, 0.0]
    (x * 2).sum().backward()
    x.grad.data.zero_()
    assert x.grad.tolist() == [0.0, 0.0]


def test_non_leaf_grad_is_none_with_pytorch_warning_unless_retained():
    x = torch.ones(2, requires_grad=True)
    y = x * 3
    z = x * 4
    z.retain_grad()
    (y * z).sum().backward()
    with pytest.warns(UserWarning, match=re.escape("The .grad attribute of a Tensor that is not a leaf Tensor is "
                                                   "being accessed. Its .grad attribute won't be populated")):
        assert y.grad is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert z.grad.tolist() == [3.0, 3.0] and z.retains_grad


# -- 5. freeing the graph -------------------------------------------------------------------------
def test_second_backward_raises_unless_the_graph_is_retained():
    x = torch.ones(2, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * 2 * np.e)  # accumulated twice
    with pytest.raises(RuntimeError, match=re.escape(
            "Trying to backward through the graph a second time (or directly access saved tensors after they have "
            "already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
            "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or "
            "if you need to access saved tensors after calling backward.")):
        y.backward()


# -- 6. higher order ------------------------------------------------------------------------------
def test_create_graph_gives_differentiable_gradients():
    x = torch.tensor(0.0, requires_grad=True)
    y = x ** 2 - 2 * x + 1
    (dy,) = torch.autograd.grad(y, x, create_graph=True)
    (d2y,) = torch.autograd.grad(dy, x)
    assert dy.item() == -2.0 and d2y.item() == 2.0 and dy.grad_fn is not None
    z = torch.tensor([0.5, 2.0], dtype=torch.float64, requires_grad=True)
    (z ** 3).sum().backward(create_graph=True)
    g = z.grad
    assert g.requires_grad
    (g.sum()).backward()
    np.testing.assert_allclose(z.grad.detach().numpy(), 3 * np.array([0.25, 4.0]) + 6 * np.array([0.5, 2.0]))


# -- 7 & 16. autograd.grad and autograd.backward --------------------------------------------------
def test_autograd_grad_returns_a_tuple_and_leaves_grad_alone():
    x, w = torch.ones(2, requires_grad=True), torch.full((2,), 3.0, requires_grad=True)
    gx, gw = torch.autograd.grad((x * w).sum(), [x, w])
    assert gx.tolist() == [3.0, 3.0] and gw.tolist() == [1.0, 1.0]
    assert x.grad is None and w.grad is None and not gx.requires_grad


def test_autograd_grad_unused_inputs():
    x, unused = torch.ones(2, requires_grad=True), torch.ones(1, requires_grad=True)
    with raises(RuntimeError, "The differentiated Tensor at index 1 appears to not have been used in the graph. "
                              "Set allow_unused=True if this is the desired behavior."):
        torch.autograd.grad((x * 2).sum(), [x, unused])
    with raises(RuntimeError, "The differentiated Tensor at index 0 appears to not have been used in the graph. "
                              "Set allow_unused=True if this is the desired behavior."):
        torch.autograd.grad((x * 2).sum(), [unused, x])
    assert torch.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)[1] is None
    assert torch.autograd.grad((x * 2).sum(), [x, unused], materialize_grads=True)[1].tolist() == [0.0]
    with raises(RuntimeError, "One of the differentiated Tensors does not require grad"):
        torch.autograd.grad((x * 2).sum(), [torch.ones(1)])


def test_autograd_backward_with_several_roots():
    x = torch.ones(2, requires_grad=True)
    torch.autograd.backward([x * 2, (x * 3).sum()], [torch.ones(2), None])
    assert x.grad.tolist() == [5.0, 5.0]


# -- 8. hooks -------------------------------------------------------------------------------------
def test_hooks_see_and_may_replace_gradients_and_can_be_removed():
    x = torch.ones(2, requires_grad=True)
    y = x * 2
    seen = []
    handle = y.register_hook(lambda g: seen.append(g.tolist()) or g * 10)
    y.sum().backward()
    assert seen == [[1.0, 1.0]] and x.grad.tolist() == [20.0, 20.0]
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0] and len(seen) == 1


def test_hooks_on_different_tensors_run_later_created_nodes_first():
    order = []
    x = torch.ones(2, requires_grad=True)
    a, b = x * 2, x * 3
    a.register_hook(lambda g: order.append("a"))
    b.register_hook(lambda g: order.append("b"))
    x.register_hook(lambda g: order.append("x1"))
    x.register_hook(lambda g: order.append("x2"))
    (a + b).sum().backward()
    assert order == ["b", "a", "x1", "x2"]
    # a leaf's gradient is final as soon as its last consumer ran, and PyTorch accumulates it then
    order.clear()
    w = torch.ones(2, requires_grad=True)
    w.register_hook(lambda g: order.append("w"))
    m = w * 3
    m.register_hook(lambda g: order.append("m"))
    (m.sum() + (x * 2).sum()).backward()
    assert order == ["x1", "x2", "m", "w"]


def test_hooks_and_retain_grad_need_requires_grad():
    with raises(RuntimeError, "cannot register a hook on a tensor that doesn't require gradient"):
        torch.ones(1).register_hook(lambda g: g)
    with raises(RuntimeError, "can't retain_grad on Tensor that has requires_grad=False"):
        torch.ones(1).retain_grad()


def test_a_failing_backward_leaves_every_grad_as_it_was():
    x = torch.ones(3, requires_grad=True)
    b = (x * 1).exp()
    b.add_(1)  # exp saved its output, now modified
    w = torch.ones(3, requires_grad=True)  # created later: its branch runs before exp's node fails
    w.grad = torch.ones(3)
    loss = (w * 3).sum() + b.sum()
    with pytest.raises(RuntimeError, match="one of the variables needed for gradient computation has been modified"):
        loss.backward()
    assert w.grad.tolist() == [1.0, 1.0, 1.0] and x.grad is None


def test_gradients_users_see_are_tensors():
    # backward() moves gradients as bare arrays internally; hooks, .grad and autograd.grad get Tensors
    x = torch.ones(2, requires_grad=True)
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(type(g)))
    x.register_hook(lambda g: seen.append(type(g)))
    y.retain_grad()
    (y * y).sum().backward(retain_graph=True)
    (gx,) = torch.autograd.grad((y * y).sum(), x)
    assert seen and set(seen) == {torch.Tensor} and type(x.grad) is torch.Tensor and type(y.grad) is torch.Tensor
    assert type(gx) is torch.Tensor and gx.tolist() == [8.0, 8.0]


def test_materialized_gradient_of_a_zero_dim_input_is_a_cpu_array():
    # was Tensor._wrap(x._data * 0): a NumPy scalar, which the tensor took for a CuPy array (is_cuda, no .numpy())
    x = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([1.0, 2.0], requires_grad=True)
    for g in torch.autograd.grad((y * 2).sum(), [x, y], allow_unused=True, materialize_grads=True)[:1] + \
            torch.autograd.grad(x.sign(), x, allow_unused=True, materialize_grads=True):
        assert not g.is_cuda and g.device.type == "cpu" and g.shape == ()
        assert g.numpy().item() == 0.0


@pytest.mark.parametrize("op", [lambda t: t.floor(), lambda t: t.ceil(), lambda t: t.trunc(), lambda t: t.round(),
                                lambda t: t.frac(), lambda t: t // 0.3, lambda t: t % 0.3, lambda t: 0.3 % t,
                                lambda t: t.logical_and(t), lambda t: t.remainder(0.3)])
@pytest.mark.parametrize("requires_grad", [False, True])
def test_rounding_a_zero_dim_tensor_gives_a_cpu_tensor(op, requires_grad):
    # NumPy's ufuncs return NumPy scalars for 0-d arrays; held as a tensor's data they made it a "CUDA" tensor
    # whose print and .numpy() failed (print(torch.tensor(1.5).floor()) raised AttributeError)
    x = torch.tensor(-0.7, dtype=torch.float64, requires_grad=requires_grad)
    y = op(x)
    assert not y.is_cuda and y.shape == ()
    assert isinstance(y.detach().numpy(), np.ndarray) and repr(y).startswith("tensor(")
