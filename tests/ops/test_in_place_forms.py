"""The in-place ``name_`` forms of out-of-place methods (``ops/in_place.py``, the one place they are declared, for
eager and traced tensors alike): each equals its out-of-place method written back, eagerly (one op, version bumped,
PyTorch's node name and gradient) and compiled (the same values and gradient, and the generated code the
out-of-place method gives, written into the tensor). They were missing once (AttributeError in eager code for floor_,
gt_, cumsum_, addmm_..., and in traced code for sqrt_, sin_, log_...), then declared three times over: the runtime's
Tensor and the tracer's SymbolicTensor had their own sin_, neg_, relu_, clamp_, mul_, //= ..., and the traced forms of
in_place.py were a copy_ (an extra ``where(True, new, old)`` in the generated code, "in-place copy_" in errors)."""
import numpy as np
import pytest

import graphgrad as gg
from graphgrad.ops.in_place import _FORMS
from graphgrad.tracer.tracer import TracerError
from graphgrad.utils.gradcheck import gradcheck


def _full(value):
    return gg.full((2, 3), value, dtype=gg.float64)


_ARGS = {  # the arguments of forms that take some (for a 2x3 float64 tensor)
    "add_": lambda: (_full(0.7),), "sub_": lambda: (0.5,), "mul_": lambda: (_full(0.7),), "div_": lambda: (0.3,),
    "pow_": lambda: (_full(1.5),),
    "atan2_": lambda: (_full(0.7),), "arctan2_": lambda: (_full(0.7),), "hypot_": lambda: (_full(0.7),),
    "fmod_": lambda: (0.3,), "remainder_": lambda: (0.3,), "floor_divide_": lambda: (0.3,),
    "clamp_": lambda: (0.2, 0.5), "clip_": lambda: (0.2,),
    "logical_and_": lambda: (gg.ones(2, 3),), "logical_or_": lambda: (gg.zeros(2, 3),),
    "logical_xor_": lambda: (gg.ones(2, 3),),
    "cumsum_": lambda: (1,), "cumprod_": lambda: (0,),
    "addmm_": lambda: (gg.ones(2, 4, dtype=gg.float64), gg.ones(4, 3, dtype=gg.float64)),
    "addr_": lambda: (gg.ones(2, dtype=gg.float64), gg.ones(3, dtype=gg.float64)),
    "addcmul_": lambda: (gg.ones(2, 3, dtype=gg.float64), _full(2.0)),
    "addcdiv_": lambda: (gg.ones(2, 3, dtype=gg.float64), _full(2.0)),
    "scatter_add_": lambda: (1, gg.tensor([[0, 0, 2], [1, 1, 1]]), _full(0.5)),
    "multiply_": lambda: (2.0,), "subtract_": lambda: (2.0,), "divide_": lambda: (2.0,), "true_divide_": lambda: (2.0,),
    "polygamma_": lambda: (2,), "mvlgamma_": lambda: (1,), "round_": lambda: (),
    **{name: lambda: (0.4,) for name in ("eq_", "ne_", "not_equal_", "lt_", "less_", "le_", "less_equal_", "gt_",
                                         "greater_", "ge_", "greater_equal_")},
}
_KWARGS = {"round_": {"decimals": 1}, "addcmul_": {"value": 0.5}, "add_": {"alpha": 2}, "sub_": {"alpha": -3},
           "div_": {"rounding_mode": "floor"}}  # (div_ had no rounding_mode: a TypeError)
_INTEGER = {"bitwise_not_", "bitwise_and_", "bitwise_or_", "bitwise_xor_"}  # below
_OTHER_SHAPES = {"addmv_", "baddbmm_", "addbmm_"}  # below
_FLOAT = sorted(set(_FORMS) - _INTEGER - _OTHER_SHAPES)

# PyTorch's node of the in-place form where it is not the out-of-place method's (torch 2.x, x.gt_(0.4).grad_fn):
# comparisons have none out of place; in place a zero gradient, GtBackward0 (GtBackward1 against a tensor). acosh_,
# asinh_, atanh_ and polygamma_ have in-place formulas of their own (PyTorch's acosh_ & co. raise in backward)
_COMPARISON_NODES = {"eq_": "Eq", "ne_": "Ne", "not_equal_": "Ne", "lt_": "Lt", "less_": "Lt", "le_": "Le",
                     "less_equal_": "Le", "gt_": "Gt", "greater_": "Gt", "ge_": "Ge", "greater_equal_": "Ge"}
_OWN_NODES = {"acosh_": "AcoshBackward1", "arccosh_": "AcoshBackward1", "asinh_": "AsinhBackward1",
              "arcsinh_": "AsinhBackward1", "atanh_": "AtanhBackward1", "arctanh_": "AtanhBackward1",
              "polygamma_": "PolygammaBackward1"}
# logical_not_ & co.: no node (PyTorch records none), so the tensor keeps its history and its gradient passes
# through the write, as in PyTorch. A compiled graph has no op for one tensor's values with another's gradient:
# there the tensor stays in the graph with a zero gradient
_NO_NODE = {"logical_not_", "logical_and_", "logical_or_", "logical_xor_"}


def _x(requires_grad=False):
    return gg.tensor(np.linspace(0.1, 0.9, 6).reshape(2, 3), requires_grad=requires_grad)


def _call(x, method, name):
    return getattr(x, method)(*_ARGS.get(name, lambda: ())(), **_KWARGS.get(name, {}))


_WEIGHTS = np.arange(1.0, 7.0).reshape(2, 3)  # (a gradient that tells the elements apart)


def _expected(name):
    """The out-of-place method's value, node name and gradient of sum(weights * result); None: no gradient."""
    x = _x(requires_grad=True)
    out = _call(x * 1.0, name[:-1], name)
    value = out.detach().to(gg.float64).numpy()
    if out.grad_fn is None:
        return value, None, None
    (out * gg.tensor(_WEIGHTS)).sum().backward()
    return value, out.grad_fn.name(), x.grad.numpy()


@pytest.mark.parametrize("name", _FLOAT)
def test_each_form_equals_its_out_of_place_method_eagerly(name):
    # PyTorch's rule, x.name_(...) is x.name(...) written back: the expected value does not read _FORMS, the table
    # the methods are made from (a wrong entry there, "fix_": "floor", would otherwise agree with itself)
    value, node, grad = _expected(name)
    x = _x(requires_grad=True)
    y = x * 1.0
    version = y._version
    assert _call(y, name, name) is y and y._version == version + 1 and y.dtype == gg.float64
    np.testing.assert_allclose(y.detach().numpy(), value, rtol=1e-12, equal_nan=True)
    if name in _COMPARISON_NODES:
        node, grad = f"{_COMPARISON_NODES[name]}Backward0", np.zeros((2, 3))
    elif name in _NO_NODE:
        node, grad = "MulBackward0", _WEIGHTS
    node = _OWN_NODES.get(name, node)
    assert y.grad_fn.name() == node
    (y * gg.tensor(_WEIGHTS)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), grad, rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("name", _FLOAT)
def test_each_form_equals_its_out_of_place_method_compiled(name):
    value, _, grad = _expected(name)
    if name in _COMPARISON_NODES or name in _NO_NODE:
        grad = np.zeros((2, 3))

    def in_place(t):
        y = t * 1.0
        assert _call(y, name, name) is y
        return y

    compiled = gg.compile(in_place)
    np.testing.assert_allclose(compiled(_x()).numpy(), value, rtol=1e-12, equal_nan=True)
    x = _x(requires_grad=True)
    (gg.compile(lambda t: (in_place(t) * gg.tensor(_WEIGHTS)).sum())(x)).backward()
    np.testing.assert_allclose(x.grad.numpy(), grad, rtol=1e-12, equal_nan=True)
    # the out-of-place method's code, its result written into y: no copy of it (where(True, new, y)), only where a
    # zero gradient keeps y in the graph (a comparison's, logical_not_'s)
    out_of_place = gg.compile(lambda t: _call(t * 1.0, name[:-1], name)).source(_x())
    extra = name in _COMPARISON_NODES or name in _NO_NODE
    assert _wheres(compiled.source(_x())) == _wheres(out_of_place) + extra


def _wheres(source: str) -> int:
    """How many where()s the generated forward function calls (not counting the helper's definition)."""
    return source.partition("def forward(")[2].count("where(")


def test_a_comparison_against_a_tensor_is_pytorch_s_node_1_with_a_zero_gradient_to_both():
    x, other = _x(requires_grad=True), gg.full((3,), 0.5, dtype=gg.float64, requires_grad=True)
    y = x * 2.0
    y.gt_(other)
    assert y.grad_fn.name() == "GtBackward1" and y.tolist() == [[0.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    y.sum().backward()
    assert x.grad.tolist() == [[0.0] * 3] * 2 and other.grad.tolist() == [0.0] * 3
    # a tensor that does not require grad compared with one that does: PyTorch's result requires grad, zero
    fresh = gg.tensor([0.2, 0.9, 0.5], dtype=gg.float64)
    assert fresh.le_(other).requires_grad and fresh.grad_fn.name() == "LeBackward1"
    # nothing requires grad: no node; an integer or bool tensor keeps its dtype
    assert gg.tensor([0.2, 0.6]).ge_(0.5).grad_fn is None
    assert gg.tensor([1, 2, 3]).eq_(2).tolist() == [0, 1, 0]
    assert gg.tensor([True, False]).lt_(0.5).tolist() == [False, True]


def test_a_traced_form_is_named_in_the_tracer_s_errors():
    def on_a_view(t):
        y = t * 1.0
        y.t().sin_()
        return y

    with pytest.raises(TracerError, match=r"in-place sin_ on a view \(the result of permute\)"):
        gg.compile(on_a_view)(gg.ones(2, 3))

    def argument(t):
        t.relu_()
        return t

    with pytest.raises(TracerError, match="in-place relu_ on 't', an input that requires grad"):
        gg.compile(argument)(gg.ones(2, requires_grad=True))


def test_a_traced_form_writes_back_into_an_argument_and_a_closed_over_tensor():
    w = gg.tensor([0.5, -2.0])

    @gg.compile
    def f(t):
        t.sin_()
        w.clamp_(-1.0, 1.0).abs_()
        return t * 2

    t = gg.tensor([1.0, 2.0])
    np.testing.assert_allclose(f(t).numpy(), 2 * np.sin([1.0, 2.0]), rtol=1e-6)
    np.testing.assert_allclose(t.numpy(), np.sin([1.0, 2.0]), rtol=1e-6)
    assert w.tolist() == [0.5, 1.0]


@pytest.mark.parametrize("operator, method", [("+=", "add"), ("-=", "sub"), ("*=", "mul"), ("/=", "div"),
                                              ("**=", "pow"), ("//=", "floor_divide"), ("%=", "remainder"),
                                              ("&=", "bitwise_and"), ("|=", "bitwise_or"), ("^=", "bitwise_xor")])
def test_augmented_assignments_are_the_forms(operator, method):
    def update(y, other):
        z = y
        exec(f"z {operator} other")  # (the statement itself: Python calls __i...__ and rebinds z to its result)
        return locals()["z"]

    def same(t, expected):
        return np.array_equal(t.numpy(), expected, equal_nan=True)

    for make, other in ((lambda: gg.tensor([5, -7, 9]), gg.tensor([2, 3, 4])),
                        (lambda: gg.tensor([5.5, -7.0, 9.0]), 2.5)):
        floating = make().is_floating_point()
        if floating if method.startswith("bitwise") else method == "div" and not floating:
            continue
        expected = getattr(make(), method)(other).numpy()
        y = make()
        assert update(y, other) is y and same(y, expected)
        assert same(getattr(make(), method + "_")(other), expected)

        @gg.compile
        def f(t, o):
            t = t * 1
            z = update(t, o)
            assert z is t
            return z

        assert same(f(make(), other), expected)


def test_div_takes_pytorch_s_rounding_mode():
    # (Tensor.div_ took other alone: TypeError for rounding_mode=, which PyTorch's div_ takes as div does)
    for mode, expected in (("floor", [-4.0, 3.0]), ("trunc", [-3.0, 3.0]), (None, [-3.5, 3.5])):
        x = gg.tensor([-7.0, 7.0], requires_grad=True)
        y = x * 1.0
        assert y.div_(2, rounding_mode=mode) is y and y.tolist() == expected
        assert y.grad_fn.name() == x.div(2, rounding_mode=mode).grad_fn.name()  # (PyTorch's DivBackward2 when rounded)
        assert gg.compile(lambda t: (t * 1.0).div_(2, rounding_mode=mode))(x.detach()).tolist() == expected


def test_integer_forms():
    a, b = gg.tensor([12, 18, 5]), gg.tensor([10, 3, 6])
    for name, expected in (("bitwise_not_", [-13, -19, -6]), ("bitwise_and_", [8, 2, 4]), ("bitwise_or_", [14, 19, 7]),
                           ("bitwise_xor_", [6, 17, 3])):
        args = () if name == "bitwise_not_" else (b,)
        assert getattr(a.clone(), name)(*args).tolist() == expected == getattr(a, name[:-1])(*args).tolist()
        assert gg.compile(lambda t, *o: getattr(t * 1, name)(*o))(a, *args).tolist() == expected


def test_gradients_flow_through_the_forms():
    def f(x, m):
        y = x * 1.0
        y.acos_().addmm_(m, m.t()).cumsum_(1)
        return y.sinh_()

    x = gg.tensor(np.linspace(0.1, 0.9, 4).reshape(2, 2), requires_grad=True)
    m = gg.tensor(np.linspace(-0.5, 0.5, 6).reshape(2, 3), requires_grad=True)
    assert gradcheck(f, (x, m))
    assert gradcheck(gg.compile(f), (x, m))

    def added(x, s):
        return (x * 1.0).addcmul_(s[:, :2], x, value=0.5).frac_().addcdiv_(s[:, 1:], x.exp())

    s = gg.tensor(np.linspace(-1.0, 1.0, 6).reshape(2, 3), requires_grad=True)
    assert gradcheck(gg.compile(added), (x, s)) and gradcheck(added, (x, s))


def test_a_comparison_form_keeps_the_float_dtype_and_refuses_an_integer_result_into_bool():
    x = gg.tensor([0.2, 0.6])
    assert x.gt_(0.5).tolist() == [0.0, 1.0] and x.dtype == gg.float32
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Bool"):
        gg.tensor([True, False]).sin_()
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        gg.compile(lambda t: (t * 1).sqrt_())(gg.tensor([1, 4]))


@pytest.mark.parametrize("name, shape, args", [
    ("addmv_", (2,), lambda rng: (gg.tensor(rng.normal(size=(2, 3))), gg.tensor(rng.normal(size=3)))),
    ("addbmm_", (2, 4), lambda rng: (gg.tensor(rng.normal(size=(3, 2, 5))), gg.tensor(rng.normal(size=(3, 5, 4))))),
    ("baddbmm_", (3, 2, 4), lambda rng: (gg.tensor(rng.normal(size=(3, 2, 5))),
                                         gg.tensor(rng.normal(size=(3, 5, 4))))),
])
def test_the_forms_of_other_shapes(name, shape, args):
    # (skipped by the table tests above for their shapes)
    rng = np.random.default_rng(0)
    x = gg.tensor(rng.normal(size=shape), requires_grad=True)
    operands = args(rng)
    expected = getattr(x, name[:-1])(*operands)
    y = x * 1.0
    assert getattr(y, name)(*operands) is y and y.grad_fn.name() == expected.grad_fn.name()
    np.testing.assert_allclose(y.detach().numpy(), expected.detach().numpy(), rtol=1e-12)
    compiled = gg.compile(lambda t, a, b: getattr(t * 1.0, name)(a, b))
    np.testing.assert_allclose(compiled(x.detach(), *operands).numpy(), expected.detach().numpy(), rtol=1e-12)


def test_every_form_is_declared_once_for_every_tensor_class():
    # the runtime's Tensor and the tracer's SymbolicTensor had their own sin_, neg_, relu_, clamp_, mul_, //= ...
    # beside these: each form is now TensorBase's alone (Tensor's add_ writes p.add_(g, alpha=-lr) straight into p
    # where nothing is recorded, an optimizer's step, and is TensorBase's otherwise)
    from graphgrad.ir.api import TensorBase
    from graphgrad.runtime.tensor import Tensor
    from graphgrad.tracer.tracer import SymbolicTensor

    names = set(_FORMS) | {"__iadd__", "__isub__", "__imul__", "__itruediv__", "__ipow__", "__ifloordiv__", "__imod__",
                           "__iand__", "__ior__", "__ixor__"}
    assert {"neg_", "exp_", "relu_", "sigmoid_", "tanh_", "clamp_", "mul_", "pow_", "floor_divide_"} <= set(_FORMS)
    assert [n for n in names if getattr(Tensor, n) is not getattr(TensorBase, n)] == ["add_"]
    assert not [n for n in names if getattr(SymbolicTensor, n) is not getattr(TensorBase, n)]
