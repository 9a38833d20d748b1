"""``autograd.Function`` as PyTorch runs it: one node for all outputs (``backward`` called once with every
output's gradient), the gradients ``backward`` returns checked and conformed to the inputs (number, shape, dtype),
and ``ctx.mark_dirty`` making the changed input the output, with the Function's history and one more version.

Expected values are closed forms or finite differences in float64; error texts are PyTorch 2.13's."""
import re
import warnings

import numpy as np
import pytest

import graphgrad as torch
from graphgrad.autograd import Function
from graphgrad.utils.gradcheck import gradcheck


def f64(values, requires_grad=True):
    return torch.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def close(t, expected):
    return t is not None and np.allclose(t.detach().numpy(), np.asarray(expected, dtype=np.float64))


def raises(error, text):
    return pytest.raises(error, match="^" + re.escape(text) + "$")


class ProductAndSum(Function):
    calls: list = []

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b, a + b

    @staticmethod
    def backward(ctx, g_product, g_sum):
        ProductAndSum.calls.append((None if g_product is None else g_product.tolist(),
                                    None if g_sum is None else g_sum.tolist()))
        a, b = ctx.saved_tensors
        return g_product * b + g_sum, g_product * a + g_sum


# -- several outputs: one node, one call -------------------------------------------------------------------------
def test_both_outputs_in_one_loss_call_backward_once_with_both_gradients():
    ProductAndSum.calls = []
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
    p, s = ProductAndSum.apply(a, b)
    assert p.grad_fn is s.grad_fn and (p.output_nr, s.output_nr) == (0, 1)
    (p * 2 + s * 3).sum().backward()  # saves a and b once, without retain_graph
    assert ProductAndSum.calls == [([2.0, 2.0], [3.0, 3.0])]
    assert close(a.grad, 2 * np.array([3.0, 4.0]) + 3) and close(b.grad, 2 * np.array([1.0, 2.0]) + 3)


def test_an_unused_output_gets_zeros_or_none_without_materialize_grads():
    ProductAndSum.calls = []
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
    p, s = ProductAndSum.apply(a, b)
    (p * 2).sum().backward()
    assert ProductAndSum.calls == [([2.0, 2.0], [0.0, 0.0])]
    assert close(a.grad, [6.0, 8.0]) and close(b.grad, [2.0, 4.0])

    seen = []

    class Lazy(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g1, g2):
            seen.append((g1 is None, g2 is None))
            return g2 * 3

    x = f64([1.0, 2.0])
    (Lazy.apply(x)[1] * 2).sum().backward()
    assert seen == [(True, False)] and close(x.grad, [6.0, 6.0])


def test_grad_with_respect_to_several_outputs_and_their_hooks():
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
    p, s = ProductAndSum.apply(a, b)
    seen = []
    p.register_hook(lambda g: seen.append(("p", None if g is None else g.tolist())))
    s.register_hook(lambda g: seen.append(("s", None if g is None else g.tolist())))
    p.retain_grad()
    s.retain_grad()
    gp, gs = torch.autograd.grad((p * 5 + s).sum(), [p, s], retain_graph=True)
    assert close(gp, [5.0, 5.0]) and close(gs, [1.0, 1.0])
    assert close(p.grad, [5.0, 5.0]) and close(s.grad, [1.0, 1.0])
    # an output without a gradient: its hooks get None (PyTorch's), its retained gradient is left alone
    seen.clear()
    (p * 1).sum().backward()
    assert seen == [("p", [1.0, 1.0]), ("s", None)]
    assert close(p.grad, [6.0, 6.0]) and close(s.grad, [1.0, 1.0])
    assert close(a.grad, [3.0, 4.0])


def test_a_node_prehook_gets_the_tuple_of_output_gradients_and_may_replace_it():
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
    p, s = ProductAndSum.apply(a, b)
    seen = []

    def prehook(grads):
        seen.append(tuple(None if g is None else g.tolist() for g in grads))
        return grads[0] * 10, grads[1]

    p.grad_fn.register_prehook(prehook)
    p.sum().backward()
    assert seen == [([1.0, 1.0], None)]
    assert close(a.grad, [30.0, 40.0])


def test_several_outputs_pass_gradcheck():
    def both(a, b):
        p, s = ProductAndSum.apply(a, b)
        return p * 2 + s.sin()

    assert gradcheck(both, [f64([0.5, -1.5]), f64([2.0, 0.25])])


# -- what backward returns is checked ---------------------------------------------------------------------------
def _returning(result):
    class Foo(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return result(g)

    return Foo


def _run(foo, b=None):
    a = torch.ones(2, 3, dtype=torch.float64, requires_grad=True)
    b = torch.ones(2, 3, dtype=torch.float64, requires_grad=True) if b is None else b
    foo.apply(a, b).sum().backward()
    return a, b


@pytest.mark.parametrize("result, got", [
    (lambda g: (g.sum(0), g), [3]),
    (lambda g: (g.sum(0, keepdim=True), g), [1, 3]),
    (lambda g: (g.sum(), g), []),
])
def test_a_gradient_of_the_wrong_shape_is_refused(result, got):
    with raises(RuntimeError, f"Function FooBackward returned an invalid gradient at index 0 - got {got} but expected "
                              "shape compatible with [2, 3]"):
        _run(_returning(result))


def test_a_gradient_the_input_broadcasts_to_is_summed_down():
    a, b = _run(_returning(lambda g: (g.expand(4, 2, 3), g.unsqueeze(0))))
    assert a.grad.shape == (2, 3) and close(a.grad, np.full((2, 3), 4.0))
    assert b.grad.shape == (2, 3) and close(b.grad, np.ones((2, 3)))


def test_a_gradient_of_another_dtype_is_cast_to_the_input_s():
    a, b = _run(_returning(lambda g: (g.float(), g.long())))
    assert a.grad.dtype == torch.float64 and b.grad.dtype == torch.float64
    assert close(a.grad, np.ones((2, 3))) and close(b.grad, np.ones((2, 3)))


def test_the_wrong_number_or_kind_of_gradients_is_refused():
    with raises(RuntimeError, "function FooBackward returned an incorrect number of gradients (expected 2, got 3)"):
        _run(_returning(lambda g: (g, g, g)))
    a, b = _run(_returning(lambda g: (g, g, None)))  # extra Nones are dropped
    assert close(a.grad, np.ones((2, 3)))
    with raises(RuntimeError, "expected Variable or None (got float)"):
        _run(_returning(lambda g: (3.0, g)))
    # an input that does not require grad: whatever is returned for it is ignored, unchecked
    a, b = _run(_returning(lambda g: (g, g.sum())), b=torch.ones(2, 3, dtype=torch.float64))
    assert b.grad is None and close(a.grad, np.ones((2, 3)))

    class Scaled(Function):
        @staticmethod
        def forward(ctx, a, k, b):
            return a * b * k

        @staticmethod
        def backward(ctx, g):
            return g, g, g

    a, b = f64([1.0]), f64([2.0])
    y = Scaled.apply(a, 3.0, b)
    assert len(y.grad_fn.next_functions) == 2  # only tensor inputs have edges, as in PyTorch
    with raises(RuntimeError, "function ScaledBackward returned a gradient different than None at position 2, but "
                              "the corresponding forward input was not a Variable"):
        y.sum().backward()


def test_the_index_in_the_shape_error_counts_tensor_inputs_only():
    class Scaled(Function):
        @staticmethod
        def forward(ctx, a, k, b):
            return a * b * k

        @staticmethod
        def backward(ctx, g):
            return g, None, g.sum(0)

    a = torch.ones(2, 3, dtype=torch.float64, requires_grad=True)
    b = torch.ones(2, 3, dtype=torch.float64, requires_grad=True)
    with raises(RuntimeError, "Function ScaledBackward returned an invalid gradient at index 1 - got [3] but expected "
                              "shape compatible with [2, 3]"):
        Scaled.apply(a, 2.0, b).sum().backward()


# -- mark_dirty ---------------------------------------------------------------------------------------------------
class Double_(Function):
    @staticmethod
    def forward(ctx, x):
        x.mul_(2)
        ctx.mark_dirty(x)
        return x

    @staticmethod
    def backward(ctx, g):
        return g * 2


def test_a_dirtied_non_leaf_becomes_the_output_with_the_function_s_history():
    a = f64([1.0, 2.0])
    b = a * 1
    b.retain_grad()
    y = Double_.apply(b)
    assert y is b and b.grad_fn.name() == "Double_Backward" and b._version == 2  # mul_ and the mark
    (y * y).sum().backward()
    assert close(b.grad, [4.0, 8.0])  # 2 y, y = 2a: the gradient of the dirtied (current) value
    assert close(a.grad, [8.0, 16.0])


def test_a_dirtied_leaf_that_requires_grad_is_refused():
    with raises(RuntimeError, "a leaf Variable that requires grad has been used in an in-place operation."):
        Double_.apply(f64([1.0, 2.0]))


def test_a_dirtied_input_that_does_not_require_grad_gets_history_from_the_others():
    class ScaleInto(Function):
        @staticmethod
        def forward(ctx, x, w):
            x.mul_(w)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return None, g

    x, w = f64([1.0, 2.0], requires_grad=False), f64([3.0, 4.0])
    y = ScaleInto.apply(x, w)
    assert y is x and x.requires_grad and x.grad_fn.name() == "ScaleIntoBackward" and x._version == 2
    y.sum().backward()
    assert close(w.grad, [1.0, 1.0])
    z = f64([1.0, 2.0], requires_grad=False)
    assert Double_.apply(z) is z and z._version == 2 and not z.requires_grad  # no history: only the bump


def test_a_dirtied_view_rewrites_its_base_s_history():
    a = f64([1.0, 2.0])
    b = a * 1
    v = b[:1]
    y = Double_.apply(v)
    assert y is v and repr(b.grad_fn).startswith("<CopySlices object")
    (b * b).sum().backward()
    # b = [2 a0, a1]: d/da0 of (2 a0)^2 through the Function's backward (g * 2) = 2 * (2 * 2 a0)
    assert close(a.grad, [8.0, 4.0])


def test_a_dirtied_input_may_be_saved_and_a_stale_saved_one_names_the_function():
    class Square_(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            x.mul_(x)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            y, = ctx.saved_tensors  # y = x^2 (the saved tensor is the output)
            return g * 2 * y.sqrt()

    a = f64([1.0, 2.0])
    y = Square_.apply(a * 1)
    y.sum().backward()
    assert close(a.grad, [2.0, 4.0])

    a = f64([1.0, 2.0])
    b = a * 1
    z = b * b  # saves b at version 0
    Double_.apply(b)
    with raises(RuntimeError, "one of the variables needed for gradient computation has been modified by an inplace "
                              "operation: [torch.DoubleTensor [2]], which is output 0 of Double_, is at version 2; "
                              "expected version 0 instead. Hint: enable anomaly detection to find the operation that "
                              "failed to compute its gradient, with torch.autograd.set_detect_anomaly(True, "
                              "check_nan=False)."):
        z.sum().backward()


def test_a_dirty_tensor_must_be_returned_and_should_be_an_input():
    class Forgets(Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g

    with raises(RuntimeError, "Some elements marked as dirty during the forward method were not returned as output. "
                              "The inputs that are modified inplace must all be outputs of the Function."):
        Forgets.apply(f64([1.0]) * 1)

    class DirtiesItsOwn(Function):
        @staticmethod
        def forward(ctx, x):
            y = x * 2
            ctx.mark_dirty(y)
            return y

        @staticmethod
        def backward(ctx, g):
            return g * 2

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        DirtiesItsOwn.apply(f64([1.0]))
    assert [str(w.message).split(" (Triggered internally")[0] for w in caught] == [
        "ctx.mark_dirty() received a tensor that was not an input. Only input Tensors that have been mutated should be "
        "passed to ctx.mark_dirty()."]


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
