"""A compiled function computes what the Python function computes, or raises (issue 9, SPEC §3c).

Each test here got a wrong answer without an error before the fix it guards.
"""
import dataclasses
import gc
import math
import sys
import types

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.numpy as gnp


# -- 1. specialization keys are structural, never id() ----------------------------------------------

def test_dict_argument_keyed_by_value_not_identity():
    h = gg.compile(lambda x, c: x * c["s"])
    assert [h(gg.ones(1), {"s": float(i)}).item() for i in range(5)] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_tuple_and_list_arguments_keyed_by_value():
    h = gg.compile(lambda x, c: x * c[0] + c[1])
    # each freed container's address is typically reused by the next one
    assert [h(gg.ones(1), (float(i), 1.0)).item() for i in range(4)] == [1.0, 2.0, 3.0, 4.0]
    assert [h(gg.ones(1), [1.0, float(i)]).item() for i in range(4)] == [1.0, 2.0, 3.0, 4.0]


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
    with pytest.raises(RuntimeError, match="which is output 0 of Mul,"):
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
    assert "which is output 0 of CompiledFunction," in str(compiled_error.value)


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


def test_what_runs_under_no_grad_inside_a_compiled_function_gets_no_gradient_as_in_eager():
    # the trace ignored grad mode: y = x * 2 under no_grad() sent 2 more into x's gradient (3 for eager's 1)
    def top(x):
        with gg.no_grad():
            y = x * 2.0
        y.add_(x)  # an in-place update outside no_grad() of a value made under it: eager allows it
        with gg.no_grad():
            with gg.enable_grad():
                z = x * 3.0
        return (y * x + z).sum()

    @gg.no_grad()
    def frozen(x):
        return x * 2.0

    def branch(x):
        if x.sum() > 0:
            with gg.no_grad():
                y = x * 2.0
        else:
            y = frozen(x) * x
        return (y * x).sum()

    def buffer(x):
        running = gg.zeros(2, dtype=gg.float64)
        with gg.no_grad():
            running.add_(x * 3.0)  # a tensor with no gradient: updated under no_grad() as in eager
        return (running * x).sum()

    for f in (top, branch, buffer):
        for value in ([1.0, 2.0], [-1.0, -3.0]):
            eager = gg.tensor(value, dtype=gg.float64, requires_grad=True)
            f(eager).backward()
            compiled = gg.tensor(value, dtype=gg.float64, requires_grad=True)
            gg.compile(f)(compiled).backward()
            assert compiled.grad.tolist() == eager.grad.tolist(), f.__name__
            assert gg.grad(f)(np.array(value)).tolist() == eager.grad.tolist(), f.__name__

    def carried(x):
        y = x * 1.0
        with gg.no_grad():
            y.mul_(2.0)  # eager passes y's gradient through the update unchanged: no op says that
        return (y * x).sum()

    with pytest.raises(gg.tracer.TracerError, match=r"in-place mul_ under no_grad\(\) of a tensor that carries a "
                                                    r"gradient, inside a compiled function at .*soundness.py:"):
        gg.compile(carried)(gg.tensor([1.0, 2.0], requires_grad=True))


def test_enable_grad_inside_a_compiled_function_called_under_no_grad_records_as_in_eager():
    # the trace under an outer no_grad() ignored the inner enable_grad(): y had no history (eager: 2 into x.grad)
    def f(x, w):
        with gg.enable_grad():
            y = x * w
            y = y * 2.0 if y.requires_grad else y * 5.0  # eager: y requires grad, z does not
        z = x * 3.0  # under the outer no_grad(): no history
        return y, z, (z * 4.0 if z.requires_grad else z * 7.0)

    for fn in (f, gg.compile(f)):
        x = gg.tensor([1.0, 2.0], dtype=gg.float64, requires_grad=True)
        w = gg.tensor([3.0, 5.0], dtype=gg.float64)
        with gg.no_grad():
            y, z, other = fn(x, w)
        assert y.requires_grad and not z.requires_grad and not other.requires_grad
        assert y.tolist() == [6.0, 20.0] and other.tolist() == [21.0, 42.0]
        y.sum().backward()
        assert x.grad.tolist() == [6.0, 10.0]


def test_a_transform_under_no_grad_differentiates_as_torch_func_does():
    def f(x):
        with gg.no_grad():
            c = x * 10.0  # an inner no_grad() still counts
        return (x * x + c * x).sum()

    x = gg.tensor([1.0, 2.0], dtype=gg.float64)
    with gg.no_grad():
        assert gg.grad(f)(x).tolist() == [12.0, 24.0]
        assert gg.jacrev(f)(x).tolist() == [12.0, 24.0]
    assert gg.grad(f)(x).tolist() == [12.0, 24.0]


def test_in_place_on_a_view_made_under_no_grad_reaches_its_base():
    # x[0] under no_grad() was taken for a no_grad result and updated without reaching x
    def f(x, w):
        with gg.no_grad():
            x[0].add_(1.0)
        return (x * w).sum()

    compiled = gg.compile(f)
    for _ in range(2):
        x, w = gg.zeros(2, dtype=gg.float64), gg.ones(2, dtype=gg.float64, requires_grad=True)
        compiled(x, w).backward()
        assert x.tolist() == [1.0, 0.0] and w.grad.tolist() == [1.0, 0.0]


def test_an_argument_returned_is_the_caller_s_tensor():
    # the compiled function returned a copy: an update through the result did not reach the argument
    def bump(x):
        x.add_(1.0)
        return x, x * 2.0

    compiled = gg.compile(bump)
    for _ in range(2):  # the traced call and a cached one
        x = gg.tensor([1.0, 2.0])
        y, doubled = compiled(x)
        assert y is x and x.tolist() == [2.0, 3.0] and doubled.tolist() == [4.0, 6.0]
    same = gg.compile(lambda x, y: (x, y * 1.0))
    x = gg.ones(2, requires_grad=True)
    for _ in range(2):
        out, _ = same(x, gg.ones(2))
        assert out is x
    a = np.zeros(2)
    assert gg.compile(bump)(a)[0] is a and a.tolist() == [1.0, 1.0]


def test_a_view_of_an_argument_returned_shares_its_memory():
    # x[0] came back as a copy: a write into it did not reach x as it does in eager code
    views = gg.compile(lambda x: (x[0], x.t(), x.detach(), x.reshape(-1), x * 2.0))
    for _ in range(2):
        x = gg.zeros(2, 2, requires_grad=True)
        row, t, detached, flat, doubled = views(x)
        assert row._base is x and detached.grad_fn is None and doubled._base is None
        with gg.no_grad():
            row.add_(1.0)
            detached[1, 1] += 5.0
        assert x.tolist() == [[1.0, 1.0], [0.0, 5.0]] == t.t().tolist() and flat.tolist() == [1.0, 1.0, 0.0, 5.0]
        (t * gg.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
        assert x.grad.tolist() == [[1.0, 3.0], [2.0, 4.0]]


def test_an_argument_updated_from_a_tensor_that_requires_grad_gets_its_history():
    # eager: x.mul_(w) gives x a grad_fn that sends grad * old x into w. Compiled, x kept no history, and the
    # gradient through the result read the new x (the write-back overwrote what backward had saved)
    def scale(x, w):
        x.mul_(w)
        return x

    compiled = gg.compile(scale)
    for fn in (scale, compiled, compiled):
        x = gg.tensor([3.0, 4.0], dtype=gg.float64)
        w = gg.tensor([1.0, 2.0], dtype=gg.float64, requires_grad=True)
        out = fn(x, w)
        assert out is x and x.requires_grad and x.grad_fn is not None and x.tolist() == [3.0, 8.0]
        x.add_(1.0)  # after the update: its gradient needs the old x, which is kept
        (x * x).sum().backward()
        assert w.grad.tolist() == [2 * 4.0 * 3.0, 2 * 9.0 * 4.0]


def test_requires_grad_of_a_traced_value_is_eager_s_so_a_branch_on_it_takes_the_same_path():
    # an intermediate's requires_grad was False while tracing: `if y.requires_grad:` took the other branch (2 for 6)
    def f(x, w):
        y = x * 2.0
        z = (w * 1.0).detach()
        with gg.no_grad():
            u = x * 3.0
        flags = [y.requires_grad, z.requires_grad, u.requires_grad, (y * z).requires_grad]
        assert flags == [x.requires_grad, False, False, x.requires_grad]
        return y * 3.0 if y.requires_grad else y

    for grad in (True, False):
        x = gg.tensor([1.0], requires_grad=grad)
        w = gg.ones(1, requires_grad=True)
        assert gg.compile(f)(x, w).tolist() == f(x, w).tolist()


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


# -- 4. state read at trace time is guarded (or lifted), never baked ------------------------------------

SCALE = 2.0
WEIGHT = gg.ones(2)


def scaled(x):
    return x * SCALE


def weighted(x):
    return x * WEIGHT


def test_rebound_global_float_respecializes():
    global SCALE
    f = gg.compile(scaled)
    try:
        assert f(gg.ones(1)).item() == 2.0
        SCALE = 5.0
        assert f(gg.ones(1)).item() == 5.0
        SCALE = -0.0
        assert f(gg.ones(1)).item() == 0.0 and math.copysign(1, f(gg.ones(1)).item()) == -1
        assert f.recompile_reasons[0] == "global SCALE changed: 2.0 -> 5.0"
    finally:
        SCALE = 2.0


def test_rebound_global_tensor_respecializes():
    global WEIGHT
    f = gg.compile(weighted)
    try:
        assert f(gg.ones(2)).tolist() == [1.0, 1.0]
        WEIGHT = gg.tensor([3.0, 4.0])
        assert f(gg.ones(2)).tolist() == [3.0, 4.0]
    finally:
        WEIGHT = gg.ones(2)


def test_closed_over_values_and_helpers_are_guarded():
    scale = 2.0

    def helper(x):
        return x * scale

    f = gg.compile(lambda x: helper(x) + 1)
    assert f(gg.ones(1)).item() == 3.0
    scale = 10.0  # a closure cell read by a helper the compiled function calls
    assert f(gg.ones(1)).item() == 11.0


SCALES = [1.0, 2.0]


def test_update_inside_a_global_list_respecializes():
    f = gg.compile(lambda x: x * SCALES[1])
    try:
        assert f(gg.ones(1)).item() == 2.0
        SCALES[1] = 5.0  # the same list, another value: a trace that baked 2.0 in is stale
        assert f(gg.ones(1)).item() == 5.0
        assert f.recompile_reasons[0] == "the contents of global 'SCALES' changed: [1] is now 5.0"
        assert f(gg.ones(1)).item() == 5.0 and f.cache_info().specializations == 2
    finally:
        SCALES[1] = 2.0


@pytest.mark.parametrize("make, update", [
    (lambda: {"s": 2.0}, lambda c: c.__setitem__("s", 5.0)),
    (lambda: {"layer": {"s": [2.0]}}, lambda c: c["layer"]["s"].__setitem__(0, 5.0)),
    (lambda: types.SimpleNamespace(s=2.0), lambda c: setattr(c, "s", 5.0)),
    (lambda: _Options(2.0), lambda c: setattr(c, "s", 5.0)),
    (lambda: _Plain(2.0), lambda c: setattr(c, "s", 5.0)),
], ids=["dict", "nested", "namespace", "dataclass", "object"])
def test_update_inside_closed_over_state_respecializes(make, update):
    def read(c):
        if isinstance(c, dict):
            return c["layer"]["s"][0] if "layer" in c else c["s"]
        return c.s

    cfg = make()
    f = gg.compile(lambda x: x * read(cfg))
    assert f(gg.ones(1)).item() == 2.0
    update(cfg)
    assert f(gg.ones(1)).item() == 5.0
    where = "['layer']['s'][0]" if "layer" in getattr(cfg, "keys", dict)() else "['s']" if isinstance(cfg, dict) else ".s"
    assert f.recompile_reasons[0] == f"the contents of closed-over 'cfg' changed: {where} is now 5.0"
    assert f(gg.ones(1)).item() == 5.0 and f.cache_info().specializations == 2  # unchanged: the guards hold

    opts = make()
    g = gg.grad(lambda x: (x * read(opts)) ** 2)  # the transforms check the same guards
    assert g(1.0) == 8.0
    update(opts)
    assert g(1.0) == 50.0


def test_array_replaced_inside_a_closed_over_list_respecializes():
    ws = [np.array([1.0, 2.0])]
    f = gg.compile(lambda x: x * ws[0])
    assert f(gg.ones(2)).tolist() == [1.0, 2.0]
    ws[0] = np.array([3.0, 3.0])
    assert f(gg.ones(2)).tolist() == [3.0, 3.0]
    g = gg.grad(lambda x: (x * ws[0]).sum())
    ws[0] = np.array([8.0, 8.0])
    np.testing.assert_array_equal(g(np.ones(2)), [8.0, 8.0])


def test_attribute_of_an_object_argument_or_self_is_guarded():
    class Scaled:
        def __init__(self):
            self.s = 2.0

        @gg.compile
        def apply(self, x):
            return x * self.s

    m = Scaled()
    assert m.apply(gg.ones(1)).item() == 2.0
    m.s = 3.0  # self is keyed by identity; its attributes are what the trace read
    assert m.apply(gg.ones(1)).item() == 3.0
    opts = types.SimpleNamespace(s=2.0)
    g = gg.grad(lambda x, o: x * x * o.s)
    assert g(1.0, opts) == 4.0
    opts.s = 10.0
    assert g(1.0, opts) == 20.0


def test_callable_object_attributes_are_guarded():
    loss = _Weighted(2.0)
    f = gg.compile(lambda x: loss(x))
    assert f(gg.ones(1)).item() == 2.0
    loss.w = 3.0
    assert f(gg.ones(1)).item() == 3.0


def test_state_the_trace_itself_updates_is_kept_with_a_warning_not_retraced_every_call():
    calls = []

    def f(x):
        calls.append(1)  # a trace-time side effect
        return x * 2

    cf = gg.compile(f)
    with pytest.warns(UserWarning, match="changed the contents of closed-over 'calls' while tracing"):
        cf(gg.ones(1))
    cf(gg.ones(1))
    cf(gg.ones(1))
    assert len(calls) == 1 and cf.cache_info().specializations == 1


def test_state_too_large_to_watch_is_named_in_a_warning():
    table = list(range(20_000))
    with pytest.warns(UserWarning, match="closed-over 'table' holds more than 10000 values"):
        assert gg.compile(lambda x: x * table[3])(gg.ones(1)).item() == 3.0


@dataclasses.dataclass
class _Options:
    s: float


class _Plain:
    def __init__(self, s):
        self.s = s


class _Weighted:
    def __init__(self, w):
        self.w = w

    def __call__(self, x):
        return x * self.w


def test_closed_over_numpy_array_changed_in_place_is_seen():
    X = np.arange(6.0).reshape(3, 2)
    f = gg.compile(lambda W: (gnp.dot(X, W) ** 2).sum())
    W = np.ones(2)
    first = f(W)
    X *= 2
    assert f(W) == 4 * first
    assert f.cache_info().specializations == 1  # an input, not a constant: no recompile needed
    Y = np.arange(6.0)
    g = gg.compile(lambda w: (Y * w).sum(0))
    assert g(np.ones(1)).shape == ()
    Y.shape = (2, 3)  # the same array with another shape: re-specialize
    np.testing.assert_array_equal(g(np.ones(1)), [3.0, 5.0, 7.0])


_W = np.ones(3)


@pytest.mark.parametrize("read", [
    lambda a: a * gg.tensor(_W),                       # lifted: a copy at each call
    lambda a: a[:2] * gg.tensor(_W[:2]),               # a view of the global, lifted
    lambda a: a * gg.tensor(_W, dtype=gg.float32),
    lambda a: a * gnp.array(_W),                       # NumPy copies at trace time: guarded on _W's values
    lambda a: a * gg.tensor(_W.tolist()),
    lambda a: a * float(_W[0]),
    lambda a: a * _W.sum(),
    lambda a: gg.where(gg.tensor(_W > 2), a, 0.0),
], ids=["tensor", "tensor-of-view", "tensor-dtype", "gnp.array", "tolist", "float", "sum", "mask"])
def test_a_global_arrays_values_read_while_tracing_are_never_a_stale_constant(read):
    # each of these copied _W (or a number computed from it) at trace time, and the compiled function kept
    # computing with the old values after `_W[:] = 3`: a wrong result with no error
    _W[:] = 1.0
    x = gg.tensor([1.0, 2.0, 3.0], dtype=gg.float64)
    f, g = gg.compile(read), gg.grad(lambda a: read(a).sum())
    for value in (1.0, 3.0, -2.0):
        _W[:] = value
        expected = read(x)
        np.testing.assert_allclose(f(x).numpy(), expected.numpy())
        leaf = x.detach().requires_grad_()
        read(leaf).sum().backward()
        np.testing.assert_allclose(g(x.numpy()), leaf.grad.numpy())
    _W[:] = 1.0


def test_a_global_array_lifted_by_tensor_is_read_at_each_call_not_retraced():
    W = np.ones(3)
    f = gg.compile(lambda a: a * gg.tensor(W))
    x = gg.tensor([1.0, 2.0, 3.0], dtype=gg.float64)
    for step in range(4):
        W += 1.0  # a NumPy-side update at every step must not recompile at every step
        np.testing.assert_allclose(f(x).numpy(), x.numpy() * (step + 2))
    assert f.cache_info().specializations == 1

    def g(a):
        t = gg.tensor(W)
        t += 1  # on the copy, as in eager code: W itself is not written back
        return a * t

    before = W.copy()
    np.testing.assert_allclose(gg.compile(g)(x).numpy(), x.numpy() * (before + 1))
    np.testing.assert_array_equal(W, before)


def test_a_local_buffer_read_by_tensor_between_writes_is_copied_at_each_read():
    # gg.tensor of an array the function makes itself is a copy as of that line: lifting the buffer (as a global
    # is lifted) made every read see its final contents, a wrong sum with no error
    def f(x):
        buf = np.zeros(3)
        out = x * 0
        for i in range(3):
            buf[i] = i + 1.0
            out = out + gg.tensor(buf)
        return out

    x = gg.zeros(3, dtype=gg.float64)
    assert gg.compile(f)(x).tolist() == f(x).tolist() == [3.0, 4.0, 3.0]


def test_a_modules_array_attribute_read_by_tensor_is_read_at_each_call():
    class Shift(gg.nn.Module):
        def __init__(self):
            super().__init__()
            self.table = np.ones(3)

        def forward(self, x):
            return x + gg.tensor(self.table)

    m = Shift()
    f = gg.compile(m)
    x = gg.zeros(3, dtype=gg.float64)
    assert f(x).tolist() == [1.0, 1.0, 1.0]
    m.table[:] = 4.0  # in place: no guard sees the attribute change, the lifted array is read at the call
    assert f(x).tolist() == [4.0, 4.0, 4.0]


def test_a_global_arrays_values_change_is_named_in_the_recompile_log(monkeypatch, caplog):
    monkeypatch.setenv("GRAPHGRAD_LOG_RECOMPILES", "1")
    f = gg.compile(lambda a: a * _W.sum())
    x = gg.ones(3)
    f(x)
    _W[1] = 5.0
    try:
        with caplog.at_level("INFO", logger="graphgrad.recompiles"):
            assert f(x).tolist() == [7.0, 7.0, 7.0]
    finally:
        _W[:] = 1.0
    assert "the contents of global '_W' changed: its values" in caplog.text


def test_a_large_global_array_read_in_numpy_is_named_in_a_warning():
    big = np.ones(20_000)
    with pytest.warns(UserWarning, match="closed-over 'big' is an array of more than 10000 values"):
        assert gg.compile(lambda x: x * float(big.sum()))(gg.ones(1)).item() == 20_000.0
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # used as an operand, it is read at every call: nothing to warn about
        assert gg.compile(lambda x: (x * big).sum())(gg.ones(1)).item() == 20_000.0


def test_module_float_attribute_and_replaced_parameter_are_guarded():
    drop = gg.nn.Dropout(p=0.0)
    f = gg.compile(lambda x: drop(x))
    x = gg.ones(1000)
    assert f(x).tolist() == x.tolist()
    drop.p = 0.5
    assert (f(x) == 0).sum().item() > 100  # the new p is used, not the traced 0.0

    lin = gg.nn.Linear(2, 1)
    g = gg.compile(lambda x: lin(x))
    for _ in range(3):
        g(gg.ones(1, 2))
    assert g.cache_info().specializations == 1 and g.cache_info().hits == 2  # guards hold while nothing changes
    lin.weight = gg.nn.Parameter(gg.zeros(1, 2))
    lin.bias = gg.nn.Parameter(gg.zeros(1))
    assert g(gg.ones(1, 2)).item() == 0.0
    assert g.recompile_reasons[0].startswith("parameter, buffer or submodule 'weight' changed")


class _Gains(gg.nn.Module):
    def __init__(self):
        super().__init__()
        self.scales, self.cfg, self.inner = [2.0], {"s": 1.0}, gg.nn.Identity()

    def forward(self, x):
        return self.inner(x) * self.scales[0] * self.cfg["s"]


def test_module_container_attributes_and_replaced_submodules_are_guarded():
    m = _Gains()
    f = gg.compile(m)
    x = gg.ones(1)
    assert f(x).item() == 2.0
    m.scales[0] = 3.0
    assert f(x).item() == 3.0
    assert f.recompile_reasons[-1] == "the contents of _Gains.scales changed: [0] is now 3.0"
    m.cfg["s"] = 2.0
    assert f(x).item() == 6.0
    m.inner = gg.nn.Tanh()  # a new child module: the trace ran the old one
    assert f(x).item() == pytest.approx(6.0 * math.tanh(1.0))
    assert f(x).item() == pytest.approx(6.0 * math.tanh(1.0)) and f.cache_info().specializations == 4
    g = gg.compile(_Gains())
    g(x)
    g.fn.inner = gg.nn.Tanh()
    g(x)
    assert g.recompile_reasons[0].startswith("parameter, buffer or submodule 'inner' changed")


def test_branch_on_captured_tensors_item_respecializes():
    threshold = gg.tensor(1.0)

    @gg.compile
    def f(x):
        return x * 2 if threshold.item() > 0 else x * -2

    assert f(gg.ones(1)).item() == 2.0
    threshold.fill_(-1.0)
    assert f(gg.ones(1)).item() == -2.0
    assert "the value of an eager tensor read with .item()" in f.recompile_reasons[0]


# -- 5. random factories draw afresh on every call -----------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda x: gg.randn(3), lambda x: gg.randn_like(x), lambda x: gg.rand(3), lambda x: gg.rand_like(x),
    lambda x: gg.randint(0, 1000, (3,)), lambda x: gg.bernoulli(gg.full((3,), 0.5)) * gg.rand(3),
    lambda x: gg.normal(gg.zeros(3), gg.ones(3)), lambda x: gg.normal(0.0, 2.0, size=(3,)),
    lambda x: gg.empty(3).uniform_(2.0, 3.0), lambda x: gg.zeros(3).normal_(1.0, 2.0),
    lambda x: gg.zeros(3).bernoulli_(0.5) * gg.zeros(3).exponential_(2.0),
    lambda x: gg.zeros(3, dtype=gg.int64).random_(0, 1000),
], ids=["randn", "randn_like", "rand", "rand_like", "randint", "bernoulli", "normal", "normal_size",
        "uniform_", "normal_", "bernoulli_exponential_", "random_"])
def test_random_factories_are_fresh_per_call_and_match_eager(make):
    f = gg.compile(lambda x: x + make(x))
    x = gg.zeros(3, dtype=gg.float64) if make(gg.zeros(1)).dtype == gg.int64 else gg.zeros(3)
    gg.manual_seed(7)
    first, second = f(x), f(x)
    assert first.tolist() != second.tolist()
    gg.manual_seed(7)
    eager_first, eager_second = f.fn(x), f.fn(x)
    assert first.tolist() == eager_first.tolist() and second.tolist() == eager_second.tolist()
    assert first.dtype == eager_first.dtype


def test_in_place_random_fill_of_an_argument_is_written_back_fresh_per_call():
    f = gg.compile(lambda x: x.uniform_(-1.0, 1.0).sum())
    x = gg.zeros(4, dtype=gg.float64)
    gg.manual_seed(3)
    total = f(x).item()
    filled = x.tolist()
    assert -1 <= min(filled) and max(filled) <= 1 and total == pytest.approx(sum(filled))
    gg.manual_seed(3)
    assert gg.zeros(4, dtype=gg.float64).uniform_(-1.0, 1.0).tolist() == filled
    f(x)
    assert x.tolist() != filled


def test_reparameterised_sample_gradient_matches_eager():
    def f(mu, logvar):
        z = mu + (0.5 * logvar).exp() * gg.randn_like(mu)
        return (z ** 2).sum()

    compiled = gg.compile(f)
    grads = []
    for fn in (compiled, f):
        mu = gg.tensor([0.1, -0.2], dtype=gg.float64, requires_grad=True)
        logvar = gg.tensor([0.3, 0.0], dtype=gg.float64, requires_grad=True)
        gg.manual_seed(3)
        fn(mu, logvar).backward()
        grads.append((mu.grad.numpy(), logvar.grad.numpy()))
    np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-12)
    np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-12)


def test_random_leaf_inside_compile_is_refused():
    with pytest.raises(gg.TracerError if hasattr(gg, "TracerError") else RuntimeError, match="requires_grad=True"):
        gg.compile(lambda x: x * gg.randn(1, requires_grad=True))(gg.ones(1))


# -- 6. in-place updates of arguments and state are written back, or refused clearly ----------------------

def test_in_place_update_of_an_argument_is_written_back_like_eager():
    def inc(x, d):
        x += 1
        d["a"].mul_(2)
        return x * 2 + d["a"]

    compiled = gg.compile(inc)
    results = []
    for fn in (compiled, inc):
        t, a = gg.zeros(2), gg.ones(2)
        outs = [fn(t, {"a": a}).tolist() for _ in range(2)]
        results.append((outs, t.tolist(), a.tolist(), t._version))
    assert results[0] == results[1] == ([[4.0, 4.0], [8.0, 8.0]], [2.0, 2.0], [4.0, 4.0], 2)


def test_in_place_update_of_a_numpy_argument_is_written_back():
    def scale(x):
        x *= 3
        return x + 0

    a = np.ones(2)
    gg.compile(scale)(a)
    np.testing.assert_array_equal(a, [3.0, 3.0])


def test_module_buffer_updated_in_forward_is_written_back():
    class Counter(gg.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("n", gg.zeros(()))

        def forward(self, x):
            self.n += 1
            return x * self.n

    c = Counter()
    f = gg.compile(lambda x: c(x))
    assert [f(gg.ones(1)).item() for _ in range(3)] == [1.0, 2.0, 3.0] and c.n.item() == 3.0


def test_values_derived_from_closed_over_tensors_follow_their_changes():
    W = gg.tensor([[1.0, 2.0], [3.0, 4.0]])
    f = gg.compile(lambda x: x @ W.t() + W.clone().sum())
    before = f(gg.ones(1, 2)).tolist()
    W.mul_(2)
    assert f(gg.ones(1, 2)).tolist() == [[2 * v for v in before[0]]]


def test_in_place_on_input_that_requires_grad_or_on_a_view_is_refused_at_the_users_line():
    def on_leaf(x):
        x.add_(1)
        return x

    with pytest.raises(gg.compile.__globals__["TracerError"], match=r"in-place add_ on 'x', an input that "
                       r"requires grad.*test_compile_soundness.py:\d+: `x.add_\(1\)`"):
        gg.compile(on_leaf)(gg.ones(2, requires_grad=True))

    def on_view(x):
        y = x[0]
        y += 1  # reaches x, as in eager code (an indexed view is written through)
        x.reshape(2, 1).add_(1)
        return x

    with pytest.raises(RuntimeError, match=r"in-place add_ on a view \(the result of reshape\)"):
        gg.compile(on_view)(gg.ones(2))
    with pytest.raises(RuntimeError, match=r"output with shape \[2\] doesn't match the broadcast shape \[3, 2\]"):
        gg.compile(lambda x: x.add_(gg.ones(3, 2)))(gg.ones(2))


def test_clone_and_contiguous_of_traced_values_run_as_eagerly():
    def f(x):
        y = x * 2
        kept = y.clone()  # a copy: the update below does not reach it
        y.add_(1)
        return kept + y.contiguous().sum(), y

    x = gg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    eager = f(x)
    (eager[0].sum() + eager[1].sum()).backward()
    expected_grad, x.grad = x.grad.clone(), None
    compiled = gg.compile(f)(x)
    (compiled[0].sum() + compiled[1].sum()).backward()
    for e, c in zip(eager, compiled):
        np.testing.assert_allclose(c.detach().numpy(), e.detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), expected_grad.numpy())


def test_a_view_taken_before_its_base_is_updated_in_place_sees_it_or_is_refused_where_used():
    # eager: the view shares the base's memory and sees the update ([3., 5.]); a traced view is computed from
    # the old base, so the compiled function gave [2., 4.] silently. An indexed view is now taken again after
    # the update; other views are refused where used
    def returned(x):
        y = x * 2
        z = y[0]
        y.add_(1)
        return z

    def used(x):
        y = x * 2
        z = y.detach().t()  # a view of a view
        y.mul_(3)
        return z * 1

    x = gg.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert returned(x).tolist() == [3.0, 5.0]
    assert gg.compile(returned)(x).tolist() == [3.0, 5.0]
    TracerError = gg.compile.__globals__["TracerError"]
    with pytest.raises(TracerError, match=r"result of permute\) used at .*`return z \* 1`.* in-place mul_"):
        gg.compile(used)(x)

    def after(x):  # a view taken after the update, or of an unrelated tensor, is fine
        y = x * 2
        w = x[0]
        y.add_(1)
        return y[0] + w

    np.testing.assert_allclose(gg.compile(after)(x).numpy(), after(x).numpy())


def test_a_value_filled_in_place_keeps_requiring_grad():
    # PyTorch: y.zero_() on a y that requires grad leaves it requiring grad, with a zero gradient; compiled,
    # the fill replaced y by a constant, so the result did not require grad and backward() raised
    def f(x, fill):
        y = x * 2
        y.zero_() if fill == "zero_" else y.fill_(3.0)
        return y * 1

    for fill in ("zero_", "fill_"):
        x = gg.tensor([1.0, 2.0], requires_grad=True)
        out = gg.compile(f)(x, fill)
        assert out.requires_grad
        out.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0])


def test_an_argument_updated_in_place_may_not_share_memory_with_another():
    # f(x, x): eager code reads the updated x through b ([1., e, e^2]); the generated code read b's old values
    # ([0., 1., 2.]) silently
    def f(a, b):
        a.exp_()
        return b * 1

    x = gg.tensor([0.0, 1.0, 2.0])
    np.testing.assert_allclose(f(x, x).numpy(), np.exp([0.0, 1.0, 2.0]), rtol=1e-6)
    compiled = gg.compile(f)
    for args in (lambda x: (x, x), lambda x: (x, x[1:])):
        x = gg.tensor([0.0, 1.0, 2.0])
        with pytest.raises(RuntimeError, match="updates input 0 in place, and input 1 shares its memory"):
            compiled(*args(x))
        assert x.tolist() == [0.0, 1.0, 2.0]  # refused before anything was written
    x = gg.tensor([0.0, 1.0, 2.0, 3.0])  # views that share no element are fine
    np.testing.assert_allclose(compiled(x[::2], x[1::2]).numpy(), [1.0, 3.0])
    np.testing.assert_allclose(x.numpy(), [1.0, 1.0, np.exp(2.0), 3.0], rtol=1e-6)


def test_check_types_asserts_every_generated_value(monkeypatch):
    monkeypatch.setenv("GRAPHGRAD_CHECK_TYPES", "1")
    f = gg.compile(lambda x: (x * 2).exp().sum())
    source = f.source(gg.ones(3))
    checks = [line for line in source.splitlines() if line.strip().startswith("assert")]
    assert len(checks) == 4  # the input and each of the three computed values
    mod = f.specialize(gg.ones(3)).module("numpy")
    assert mod.forward(np.ones(3, dtype=np.float32)) == pytest.approx(3 * math.exp(2))
    with pytest.raises(AssertionError, match=r"x: the IR says f32\[3\], the array is float64\[3\]"):
        mod.forward(np.ones(3))
    monkeypatch.setenv("GRAPHGRAD_CHECK_TYPES", "0")
    unchecked = gg.compile(lambda x: (x * 2).exp().sum()).source(gg.ones(3))
    assert not [line for line in unchecked.splitlines() if line.strip().startswith("assert")]


# -- section 2: clear errors and explainable, bounded specialization -------------------------------------

def test_compile_on_a_method_binds_self():
    class Model(gg.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = gg.nn.Linear(2, 1)

        @gg.compile
        def forward(self, x):
            return self.lin(x).sum()

    m = Model()
    x = gg.ones(3, 2)
    m(x).backward()
    expected = m.lin.weight.grad.clone()
    m.zero_grad()
    Model.forward.fn(m, x).backward()
    np.testing.assert_allclose(expected.numpy(), m.lin.weight.grad.numpy())
    assert isinstance(Model.forward, gg.compile(lambda: None).__class__)


def test_escaped_tracer_raises():
    leaked = []

    @gg.compile
    def f(x):
        leaked.append(x * 2)
        return x.sum()

    f(gg.ones(2))
    with pytest.raises(RuntimeError, match="escaped tracer"):
        leaked[0] + 1
    with pytest.raises(RuntimeError, match="escaped tracer"):
        gg.ones(2) * leaked[0]


def test_log_recompiles_says_what_changed(monkeypatch, caplog):
    monkeypatch.setenv("GRAPHGRAD_LOG_RECOMPILES", "1")
    f = gg.compile(lambda x, s: x * s)
    with caplog.at_level("WARNING", logger="graphgrad.recompiles"):
        f(gg.ones(2), 1.0)
        f(gg.ones(2), 1.0)
        f(gg.ones(3), 1.0)
        f(gg.ones(3), -0.0)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert messages[0].endswith("first call")
    assert messages[1].endswith("x: f32[2] -> f32[3]") and messages[2].endswith("s: 1.0 -> -0.0")


def test_specialization_cache_is_bounded_and_warns_on_a_recompile_storm(monkeypatch):
    monkeypatch.setenv("GRAPHGRAD_CACHE_SIZE_LIMIT", "4")
    f = gg.compile(lambda x, s: x * s)
    with pytest.warns(RuntimeWarning, match="specialized more than 4 times"):
        for i in range(10):
            assert f(gg.ones(1), float(i)).item() == i
    assert f.cache_info().specializations == 4
    assert f(gg.ones(1), 9.0).item() == 9.0 and f.cache_info().misses == 10  # most recent kept
    assert f(gg.ones(1), 0.0).item() == 0.0 and f.cache_info().misses == 11  # oldest evicted, traced again


def test_cupy_backend_without_cupy_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` raises ImportError, installed or not
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'graphgrad\[cuda\]'"):
        gg.compile(lambda x: x.sum(), backend="cupy")(gg.ones(2))


def test_unwritable_cache_dir_falls_back_to_memory_with_one_warning(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("GRAPHGRAD_CACHE_DIR", str(blocker / "cache"))
    with pytest.warns(RuntimeWarning, match="kept in memory only") as record:
        assert gg.compile(lambda x: x.sum())(gg.ones(2)).item() == 2.0
        assert gg.compile(lambda x: x.exp().sum())(gg.zeros(2)).item() == 2.0
    assert len([w for w in record if "kept in memory" in str(w.message)]) == 1


def test_results_may_be_pytrees():
    f = gg.compile(lambda x: {"y": x * 2, "parts": [x.sum(), (x * x).sum()]})
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    out = f(x)
    assert out["y"].tolist() == [2.0, 4.0] and [p.item() for p in out["parts"]] == [3.0, 5.0]
    out["parts"][1].backward()
    assert x.grad.tolist() == [2.0, 4.0]
    with pytest.raises(RuntimeError, match=r"output 1 \(b\) is int"):
        gg.compile(lambda x: {"a": x, "b": 3})(x)


def test_data_inside_a_trace_is_detach_and_in_place_through_it_is_refused():
    x = gg.ones(2, requires_grad=True)
    gg.compile(lambda x: (x.data * x).sum())(x).backward()
    assert x.grad.tolist() == [1.0, 1.0]

    def scale_data(x):
        x.data.mul_(2)
        return x * 1

    with pytest.raises(RuntimeError, match=r"in-place mul_ on .data or .detach\(\)"):
        gg.compile(scale_data)(gg.ones(2))


def test_unsupported_operands_raise_pythons_type_error_as_pytorch_does():
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \+: 'Tensor' and 'str'"):
        gg.ones(2) + "a"
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \*: 'NoneType' and 'Tensor'"):
        None * gg.ones(2)


def test_errors_in_generated_code_name_the_users_line():
    def factor(x):
        low = gg.linalg.cholesky(x)
        return low

    with pytest.raises(Exception, match=r"not positive definite.*\(in the generated `low = .*`, from "
                                        r"test_compile_soundness.py:\d+: low = gg.linalg.cholesky\(x\)\)"):
        gg.compile(factor)(-gg.eye(2))


def test_a_reduction_of_an_empty_tensor_is_refused_at_trace_time_naming_the_line():
    def biggest(x):
        top = x.amax()
        return top

    with pytest.raises(ValueError, match=r"amax\(\): Expected reduction dim to be specified for input.numel\(\) == 0"
                                         r".*\(in amax\(f32\[0\]\) at .*test_compile_soundness.py:\d+: `top = x.amax\(\)`"):
        gg.compile(biggest)(gg.ones(0))


def test_copy_fill_clamp_in_place_match_eager():
    def f(x, y, z):
        x.copy_(y)
        z.fill_(3.0)
        z.clamp_(0.0, 2.0)
        return x + z

    results = []
    for fn in (gg.compile(f), f):
        x, y, z = gg.full((2,), float("inf")), gg.tensor([1.0, 2.0]), gg.zeros(2)
        results.append((fn(x, y, z).tolist(), x.tolist(), z.tolist()))
    assert results[0] == results[1] == ([3.0, 4.0], [1.0, 2.0], [2.0, 2.0])


def test_input_saved_only_for_its_zero_gradient_may_change_before_backward():
    # found by tests/properties/test_compiled_vs_eager.py: backward saved y just for np.full_like(y, 0.0) and
    # its version check refused an in-place update that eager (which saves nothing for y) accepts
    f = gg.compile(lambda x, y: x.abs())
    x = gg.tensor([1.0, -2.0], dtype=gg.float64, requires_grad=True)
    y = gg.tensor([3.0, 4.0], dtype=gg.float64, requires_grad=True)
    out = f(x, y)
    with gg.no_grad():
        y.mul_(2.0)
    out.sum().backward()
    assert x.grad.tolist() == [1.0, -1.0] and y.grad is None
    x2 = gg.tensor([1.0, -2.0], dtype=gg.float64, requires_grad=True)
    out = f(x2, y)
    with gg.no_grad():
        x2.mul_(2.0)  # x's values are read by backward: still refused, as in eager
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_compiled_shape_errors_are_runtime_errors_as_in_eager():
    # found by tests/properties/test_compiled_vs_eager.py: eager raises RuntimeError for mismatched broadcast
    # shapes, compiled raised a ShapeError that `except RuntimeError` did not catch
    f = gg.compile(lambda a, b: a + b)
    for fn in (lambda a, b: a + b, f):
        with pytest.raises(RuntimeError, match=r"size of tensor a \(4\) must match the size of tensor b \(2\)"):
            fn(gg.ones(4), gg.ones(2))


@pytest.mark.parametrize("view", [lambda x: x.unsqueeze(0), lambda x: x[1:], lambda x: x.reshape(2, 1)])
def test_input_changed_in_place_under_a_saved_view_fails_backward_as_in_eager(view):
    # found by tests/properties/test_compiled_vs_eager.py: backward saved x.reshape(...) (a NumPy view of x's
    # memory), not x, so x.mul_(10) before backward went unchecked and gave a gradient ten times too large
    def f(x):
        return (view(x) ** 2).sum()

    compiled = gg.compile(f)
    for fn in (f, compiled, compiled):  # the second compiled call takes the cached specialization's fast path
        x = gg.tensor([1.0, 2.0], dtype=gg.float64, requires_grad=True)
        out = fn(x)
        with gg.no_grad():
            x.mul_(10.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.backward()


def test_create_graph_through_compiled_backward_is_refused_not_silently_zero():
    # found by tests/properties/test_op_grid.py: gradgradcheck of a compiled function saw second derivatives
    # of 0 — with a seed that does not require grad, create_graph=True returned gradients with no graph
    f = gg.compile(lambda x: (x ** 3).sum())
    x = gg.tensor([1.0, 2.0], dtype=gg.float64, requires_grad=True)
    with pytest.raises(NotImplementedError, match=r"graphgrad.grad\(graphgrad.grad\(f\)\)"):
        gg.autograd.grad(f(x), x, create_graph=True)
    (g,) = gg.autograd.grad(f(x), x)  # first order is unaffected
    assert g.tolist() == [3.0, 12.0]


_SCALE = 2.0
_V = np.ones(3)


@pytest.mark.parametrize("transform", ["vmap", "jacrev", "jacfwd", "hessian"])
def test_staged_transforms_re_trace_when_a_global_they_read_changes(transform):
    # vmap, jacrev, jacfwd and hessian kept one graph per signature and checked only module flags: a rebound
    # global scalar or an array changed in place gave the old result, with no error
    global _SCALE
    make = {"vmap": lambda f: gg.vmap(f),
            "jacrev": lambda f: gg.jacrev(lambda a: f(a).sum()),
            "jacfwd": lambda f: gg.jacfwd(lambda a: f(a).sum()),
            "hessian": lambda f: gg.hessian(lambda a: (f(a) ** 2).sum())}[transform]
    x = np.arange(3.0) + 1.0
    reads = [lambda a: a * _SCALE, lambda a: a * float(_V[0]), lambda a: a * gg.tensor(_V)]
    try:
        for read in reads:
            _SCALE, _V[:] = 2.0, 1.0
            staged = make(read)
            staged(x)
            _SCALE, _V[:] = 5.0, 3.0
            np.testing.assert_allclose(np.asarray(staged(x)), np.asarray(make(read)(x)))
    finally:
        _SCALE, _V[:] = 2.0, 1.0


def test_a_compiled_function_calling_a_staged_transform_guards_what_the_transform_read():
    global _SCALE
    per_row = gg.vmap(lambda a: (a * _SCALE).sum())
    f = gg.compile(lambda x: per_row(x) * 1.0)
    x = gg.ones(2, 3, dtype=gg.float64)
    try:
        assert f(x).tolist() == [6.0, 6.0]
        _SCALE = 5.0
        assert f(x).tolist() == [15.0, 15.0]
    finally:
        _SCALE = 2.0


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # NumPy's about np.matrix itself
def test_ndarray_subclasses_compute_as_plain_arrays(tmp_path):
    # np.matrix's * is a matrix product: kept as it was, an argument, a closed-over array or a tensor made from
    # one computed (M @ M).sum() = 54 where x * x sums to 30, with no error; a memmap passed for a CUDA array
    M = np.matrix([[1.0, 2.0], [3.0, 4.0]])
    plain = np.asarray(M)
    assert float(gg.compile(lambda x: (x * x).sum())(M)) == 30.0
    assert float(gg.compile(lambda x: (x * M).sum())(gg.tensor(np.ones((2, 2))))) == 10.0
    t = gg.from_numpy(M)
    assert t.device == gg.device("cpu")
    np.testing.assert_array_equal((t * t).numpy(), plain * plain)
    m = np.memmap(tmp_path / "m.dat", dtype=np.float64, mode="w+", shape=(3,))
    p = gg.from_numpy(m)
    assert not p.is_cuda
    p.add_(1.5)  # still the memmap's memory, as torch.from_numpy shares it
    np.testing.assert_array_equal(m, [1.5, 1.5, 1.5])
    write_back = gg.compile(lambda x: x.add_(1.0))
    write_back(m)
    np.testing.assert_array_equal(m, [2.5, 2.5, 2.5])


def test_each_guard_is_checked_once_per_call():
    # a module closed over and called is guarded before and by its trace; a second function of the same name
    # (the outputs' copy-on-duplicate helper) shadowed the guards' dedup, so every guard was checked twice
    class Net(gg.nn.Module):  # a class of the user's: its attributes are guarded by a snapshot reader
        def __init__(self):
            super().__init__()
            self.linear = gg.nn.Linear(3, 2)

        def forward(self, x):
            return self.linear(x)

    net = Net()

    @gg.compile
    def f(x):
        return net(x).sum()

    for fn in (f, gg.compile(net)):
        fn(gg.ones(2, 3))
        (spec,) = [s for specs in fn._cache.values() for s in specs]
        keys = [(id(g[0]), g[1] if isinstance(g[1], str) else (type(g[1]), getattr(g[1], "__doc__", None)))
                for g in spec.guards]
        assert len(keys) == len(set(keys))
