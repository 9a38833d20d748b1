"""A compiled function computes what the Python function computes, or raises (issue 9, SPEC §3c).

Each test here got a wrong answer without an error before the fix it guards.
"""
import gc
import math

import numpy as np
import pytest

import graphgrad as gg


# -- 1. specialization keys are structural, never id() ----------------------------------------------

def test_dict_argument_keyed_by_value_not_identity():
    h = gg.compile(lambda x, c: x * c["s"])
    assert [h(gg.ones(1), {"s": float(i)}).item() for i in range(5)] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_tuple_and_list_arguments_keyed_by_value():
    h = gg.compile(lambda x, c: x * c[0] + c[1])
    for i in range(4):
        assert h(gg.ones(1), (float(i), 1.0)).item() == i + 1.0
        assert h(gg.ones(1), [1.0, float(i)]).item() == 1.0 + i
        gc.collect()  # the freed tuple's address is reused by the next one


def test_numpy_scalars_keyed_by_dtype_and_value():
    h = gg.compile(lambda x, s: x * s)
    assert [h(gg.ones(1), np.float32(i)).item() for i in range(4)] == [0.0, 1.0, 2.0, 3.0]
    assert h(gg.ones(1), np.int64(3)).item() == 3.0
    assert h(gg.ones(1), np.float64(3)).item() == 3.0
    assert h.cache_info().specializations == 6


def test_tensors_inside_containers_get_gradients_like_top_level_ones():
    @gg.compile
    def loss(params, x):
        return ((x @ params["w"] + params["b"]) ** 2).sum()

    def make():
        rng = np.random.default_rng(0)
        return ({"w": gg.tensor(rng.standard_normal((3, 2)), requires_grad=True),
                 "b": gg.tensor(rng.standard_normal(2), requires_grad=True)},
                gg.tensor(rng.standard_normal((4, 3))))

    params, x = make()
    loss(params, x).backward()
    eager_params, x = make()
    loss.fn(eager_params, x).backward()
    for k in ("w", "b"):
        np.testing.assert_allclose(params[k].grad.numpy(), eager_params[k].grad.numpy(), rtol=1e-6)
    # a list of tensors, one of which does not require grad
    f = gg.compile(lambda ts: (ts[0] * ts[1]).sum())
    a, b = gg.tensor([1.0, 2.0], requires_grad=True), gg.tensor([3.0, 4.0])
    f([a, b]).backward()
    assert a.grad.tolist() == [3.0, 4.0] and b.grad is None


def test_objects_keyed_by_identity_stay_alive_with_their_specialization():
    class Scale:
        def __init__(self, s):
            self.s = s

    h = gg.compile(lambda x, obj: x * obj.s)
    values = []
    for i in range(5):
        values.append(h(gg.ones(1), Scale(float(i))).item())
        gc.collect()
    assert values == [0.0, 1.0, 2.0, 3.0, 4.0]


# -- 2. floats: 0.0 / -0.0 differ, NaN finds its own entry -----------------------------------------

def test_negative_zero_gets_its_own_specialization():
    h = gg.compile(lambda x, s: x / s)
    with np.errstate(divide="ignore"):
        assert h(gg.ones(1), 0.0).item() == math.inf
        assert h(gg.ones(1), -0.0).item() == -math.inf


def test_nan_hits_its_cached_entry():
    h = gg.compile(lambda x, s: x + s)
    for _ in range(3):
        assert math.isnan(h(gg.ones(1), float("nan")).item())
    assert h.cache_info().specializations == 1 and h.cache_info().hits == 2


# -- 3. version checks in compiled backward --------------------------------------------------------

def test_input_modified_in_place_before_backward_raises_like_eager():
    f = gg.compile(lambda x: (x * x).sum())
    for fn in (f, f.fn):
        xx = gg.ones(3, requires_grad=True)
        out = fn(xx)
        with gg.no_grad():
            xx.mul_(10)
        with pytest.raises(RuntimeError, match=r"modified by an inplace operation: \[torch.FloatTensor \[3\]\] is at "
                                               r"version 1; expected version 0 instead"):
            out.backward()
        assert xx.grad is None


def test_optimizer_step_between_forward_and_backward_raises():
    w = gg.ones(2, requires_grad=True)
    f = gg.compile(lambda w: (w ** 3).sum())
    out = f(w)
    opt = gg.optim.SGD([w], lr=0.1)
    w.grad = gg.ones(2)
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


def test_non_leaf_input_modified_names_its_producer():
    x = gg.ones(3, requires_grad=True)
    y = x * 2
    out = gg.compile(lambda y: (y * y).sum())(y)
    with gg.no_grad():
        y.add_(1)
    with pytest.raises(RuntimeError, match="which is output 0 of MulBackward0"):
        out.backward()


def test_output_modified_in_place_before_backward_raises():
    x = gg.tensor([0.5, 1.0], requires_grad=True)
    y = gg.compile(lambda x: x.exp())(x)  # exp's gradient reads its output
    eager = x.exp()
    with gg.no_grad():
        y.mul_(2)
        eager.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation") as compiled_error:
        y.sum().backward()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        eager.sum().backward()
    assert "CompiledFunctionBackward0" in str(compiled_error.value)


def test_unmodified_inputs_still_backpropagate():
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    other = gg.ones(2)
    out = gg.compile(lambda x, o: (x * x * o).sum())(x, other)
    other_unrelated = gg.ones(1)
    other_unrelated.add_(1)
    out.backward()
    assert x.grad.tolist() == [2.0, 4.0]


# -- 8. an input the output does not depend on gets no gradient --------------------------------------

def test_unused_input_gradient_stays_none_as_in_eager():
    def f(x, y):
        return (x * 2).sum()

    for fn in (gg.compile(f), f):
        x, y = gg.ones(2, requires_grad=True), gg.ones(2, requires_grad=True)
        fn(x, y).backward()
        assert x.grad.tolist() == [2.0, 2.0] and y.grad is None


def test_each_output_gives_gradients_only_to_what_it_depends_on():
    f = gg.compile(lambda x, y: (x.sum(), (x * y).sum()))
    x, y = gg.ones(2, requires_grad=True), gg.ones(2, requires_grad=True)
    a, b = f(x, y)
    a.backward()
    assert x.grad.tolist() == [1.0, 1.0] and y.grad is None
    b.backward()
    assert x.grad.tolist() == [2.0, 2.0] and y.grad.tolist() == [1.0, 1.0]
    x2 = gg.ones(2, requires_grad=True)
    y2 = gg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        gg.autograd.grad(f(x2, y2)[0], [x2, y2])


def test_input_reaching_output_only_through_detach_gets_no_gradient():
    f = gg.compile(lambda x, y: (x * y.detach()).sum())
    x, y = gg.ones(2, requires_grad=True), gg.ones(2, requires_grad=True)
    f(x, y).backward()
    assert y.grad is None and x.grad.tolist() == [1.0, 1.0]


# -- 7. dtypes --------------------------------------------------------------------------------------

def test_numpy_float64_scalar_keeps_the_tensor_dtype():
    a = gg.ones(3)
    g = gg.compile(lambda a, c: a + c)
    out = g(a, np.float64(0.1))
    assert out.dtype == (a + np.float64(0.1)).dtype == gg.float32
    assert out.numpy().dtype == np.float32
    assert g.graph(a, np.float64(0.1)).outputs[0].type.dtype == "float32"


def test_float64_gradient_into_float32_compiled_output_gives_float32_grad():
    x = gg.ones(3, requires_grad=True)
    out = gg.compile(lambda x: x * 2)(x)
    out.backward(gg.ones(3, dtype=gg.float64))
    assert x.grad.dtype == gg.float32 and x.grad.numpy().dtype == np.float32
    x.grad = None
    (x * 2).backward(gg.ones(3, dtype=gg.float64))
    assert x.grad.dtype == gg.float32
