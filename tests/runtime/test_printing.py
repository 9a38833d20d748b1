"""Printing matches PyTorch's text exactly; expected strings are PyTorch 2.x output for the same calls."""
import numpy as np
import pytest

import graphgrad as gg


@pytest.mark.parametrize("make, expected", [
    (lambda: gg.ones(2, 2, requires_grad=True), "tensor([[1., 1.],\n        [1., 1.]], requires_grad=True)"),
    (lambda: (gg.ones(2, 2, requires_grad=True) + 2).mul(3).mean() * 3, "tensor(27., grad_fn=<MulBackward0>)"),
    (lambda: gg.full((2, 2), 4.5), "tensor([[4.5000, 4.5000],\n        [4.5000, 4.5000]])"),
    (lambda: gg.tensor([2.0480e+02, 2.0480e+03, 2.0480e-01]), "tensor([2.0480e+02, 2.0480e+03, 2.0480e-01])"),
    (lambda: gg.tensor([1, 2, 3]), "tensor([1, 2, 3])"),
    (lambda: gg.tensor([True, False]), "tensor([ True, False])"),
    (lambda: gg.tensor([[1, 0], [0, -12]]), "tensor([[  1,   0],\n        [  0, -12]])"),
    (lambda: gg.tensor([[True], [False]]), "tensor([[ True],\n        [False]])"),
    (lambda: gg.tensor([1.0, 2.0], dtype=gg.float64), "tensor([1., 2.], dtype=torch.float64)"),
    (lambda: gg.tensor([-1.5, 10.25]), "tensor([-1.5000, 10.2500])"),
    (lambda: gg.tensor([1e-5, 1.0]), "tensor([1.0000e-05, 1.0000e+00])"),
    (lambda: gg.tensor([1.0, 1e9]), "tensor([1.0000e+00, 1.0000e+09])"),
    (lambda: gg.tensor([0.0, float("nan"), float("inf")]), "tensor([0., nan, inf])"),
    (lambda: gg.tensor(3.5), "tensor(3.5000)"),
    (lambda: gg.zeros(0, 3), "tensor([], size=(0, 3))"),
    (lambda: gg.tensor([], dtype=gg.int64), "tensor([], dtype=torch.int64)"),
    (lambda: gg.zeros(2, 1, 2), "tensor([[[0., 0.]],\n\n        [[0., 0.]]])"),
])
def test_repr_matches_pytorch(make, expected):
    assert repr(make()) == expected
    assert str(make()) == expected


def test_long_rows_wrap_at_80_columns_aligned_under_the_first_element():
    text = repr(gg.arange(20.0) / 3)
    lines = text.split("\n")
    assert lines[0] == "tensor([0.0000, 0.3333, 0.6667, 1.0000, 1.3333, 1.6667, 2.0000, 2.3333, 2.6667,"
    assert lines[1].startswith("        3.0000,")
    assert all(len(line) <= 80 for line in lines)


def test_large_tensors_are_summarized_with_edge_items():
    text = repr(gg.arange(2000))
    assert text == "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"
    rows = repr(gg.zeros(100, 100)).split("\n")
    assert rows[0] == "tensor([[0., 0., 0.,  ..., 0., 0., 0.],"
    assert rows[3].strip() == "...,"


def test_suffix_moves_to_its_own_line_when_the_row_is_full():
    x = gg.tensor(np.linspace(1.0, 2.0, 9), dtype=gg.float64, requires_grad=True)
    assert repr(x) == ("tensor([1.0000, 1.1250, 1.2500, 1.3750, 1.5000, 1.6250, 1.7500, 1.8750, 2.0000],\n"
                       "       dtype=torch.float64, requires_grad=True)")


def test_set_printoptions_changes_precision_and_restores():
    try:
        gg.set_printoptions(precision=2)
        assert repr(gg.tensor([1.23456])) == "tensor([1.23])"
        gg.set_printoptions(sci_mode=True)
        assert repr(gg.tensor([1.5])) == "tensor([1.50e+00])"
    finally:
        gg.set_printoptions(profile="default")
    assert repr(gg.tensor([1.23456])) == "tensor([1.2346])"


@pytest.mark.parametrize("sci_mode, make, expected", [  # PyTorch 2.13's output
    (False, lambda: gg.tensor([1e-6, 2.5e6]), "tensor([      0.0000, 2500000.0000])"),
    (False, lambda: gg.tensor([1.0, 2e3]), "tensor([   1., 2000.])"),
    (True, lambda: gg.tensor([float("nan"), 1.0]), "tensor([       nan, 1.0000e+00])"),
    (True, lambda: gg.tensor([0.0, float("nan")]), "tensor([0., nan])"),
])
def test_a_forced_sci_mode_sets_the_column_width_for_the_format_it_forces(sci_mode, make, expected):
    try:
        gg.set_printoptions(sci_mode=sci_mode)
        assert repr(make()) == expected
    finally:
        gg.set_printoptions(profile="default")


@pytest.mark.parametrize("make, expected", [  # PyTorch 2.13's output
    (lambda: gg.arange(2000.0), "tensor([...], size=(2000,))"),
    (lambda: gg.arange(2000.0).reshape(40, 50), "tensor([...], size=(40, 50))"),
    (lambda: gg.arange(5.0, dtype=gg.float64), "tensor([0., 1., 2., 3., 4.], size=(5,), dtype=torch.float64)"),
])
def test_edgeitems_0_prints_no_element_and_the_size(make, expected):
    try:
        gg.set_printoptions(edgeitems=0)
        assert repr(make()) == expected
    finally:
        gg.set_printoptions(profile="default")


def test_the_dtype_suffix_is_relative_to_the_default_dtype():
    try:
        gg.set_default_dtype(gg.float64)
        texts = [repr(gg.tensor([1.5, 2.0])), repr(gg.tensor([1.5], dtype=gg.float32)), repr(gg.zeros(0)),
                 repr(gg.zeros(2, 0, dtype=gg.float32))]
    finally:
        gg.set_default_dtype(gg.float32)
    assert texts == ["tensor([1.5000, 2.0000])", "tensor([1.5000], dtype=torch.float32)", "tensor([])",  # PyTorch's
                     "tensor([], size=(2, 0), dtype=torch.float32)"]


def test_slices_sums_and_repeats_of_a_shape_are_sizes():
    shape = gg.ones(2, 3).shape
    # PyTorch's output
    assert [repr(s) for s in (shape[1:], shape + (4,), (4,) + shape, shape * 2, shape[::-1])] == [
        "torch.Size([3])", "torch.Size([2, 3, 4])", "torch.Size([4, 2, 3])", "torch.Size([2, 3, 2, 3])",
        "torch.Size([3, 2])"]
    assert shape[-1] == 3 and type(shape[0]) is int and shape[1:].numel() == 3


@pytest.mark.parametrize("make, name", [  # PyTorch's grad_fn names
    (lambda x: x.acos(), "AcosBackward0"), (lambda x: x.asin(), "AsinBackward0"), (lambda x: x.atan(), "AtanBackward0"),
    (lambda x: x.asinh(), "AsinhBackward0"), (lambda x: x.atanh(), "AtanhBackward0"),
    (lambda x: (x + 1).acosh(), "AcoshBackward0"), (lambda x: gg.atan2(x, x), "Atan2Backward0"),
    (lambda x: x.log1p(), "Log1PBackward0"),
    (lambda x: x ** 2, "PowBackward0"), (lambda x: x ** x, "PowBackward1"), (lambda x: 2 ** x, "PowBackward2"),
    (lambda x: x.sum(), "SumBackward0"), (lambda x: x.sum(0), "SumBackward1"), (lambda x: x.mean(0), "MeanBackward1"),
    (lambda x: x @ x, "DotBackward0"), (lambda x: x[None] @ x, "MvBackward0"), (lambda x: x[:, None] @ x[None], "MmBackward0"),
    (lambda x: x[1:], "SliceBackward0"), (lambda x: x[0], "SelectBackward0"), (lambda x: x[[1, 0]], "IndexBackward0"),
    (lambda x: x // 0.5, "DivBackward2"), (lambda x: x.floor(), "FloorBackward0"), (lambda x: x.round(decimals=1), "RoundBackward1"),
    (lambda x: x.reshape(2, 1), "ViewBackward0"), (lambda x: gg.cat([x, x]), "CatBackward0"),
    (lambda x: 1 - x, "RsubBackward1"), (lambda x: 2.5 - x, "RsubBackward1"), (lambda x: x - 1, "SubBackward0"),
    (lambda x: x.detach() - x, "SubBackward0"),
])
def test_grad_fn_names_of_primitives(make, name):
    out = make(gg.tensor([0.5, 0.25], requires_grad=True))
    assert out.grad_fn.name() == name and repr(out).endswith(f"grad_fn=<{name}>)")


@pytest.mark.parametrize("make, name", [  # PyTorch's grad_fn names
    (lambda x: x.clone(), "CloneBackward0"), (lambda x: x.square(), "PowBackward0"),
    (lambda x: x.reciprocal(), "ReciprocalBackward0"), (lambda x: x.rsqrt(), "RsqrtBackward0"),
    (lambda x: x.log2(), "Log2Backward0"), (lambda x: x.log10(), "Log10Backward0"),
    (lambda x: x.var(), "VarBackward0"), (lambda x: x.std(), "StdBackward0"),
    (lambda x: x.norm(), "LinalgVectorNormBackward0"), (lambda x: x.norm(1), "LinalgVectorNormBackward0"),
    (lambda x: x.masked_fill(x > 0.3, 0.0), "MaskedFillBackward0"),
])
def test_grad_fn_names_of_composites(make, name):
    x = gg.tensor([0.5, 0.25], requires_grad=True)
    out = make(x)
    assert out.grad_fn.name() == name and repr(out).endswith(f"grad_fn=<{name}>)")
    assert x.grad_fn is None  # the input's own node (a leaf's: none) is never renamed


@pytest.mark.parametrize("make, name", [  # PyTorch's grad_fn names
    (lambda x: gg.nn.functional.gelu(x), "GeluBackward0"),
    (lambda x: gg.nn.functional.gelu(x, approximate="tanh"), "GeluBackward0"),
    (lambda x: gg.nn.functional.silu(x), "SiluBackward0"),
    (lambda x: gg.nn.functional.softplus(x), "SoftplusBackward0"),
    (lambda x: gg.nn.functional.leaky_relu(x), "LeakyReluBackward0"),
    (lambda x: gg.nn.functional.elu(x), "EluBackward0"),
    (lambda x: gg.nn.functional.pad(x, (1, 1)), "ConstantPadNdBackward0"),
])
def test_grad_fn_names_of_activations_and_padding(make, name):
    out = make(gg.tensor([0.5, -0.25], requires_grad=True))
    assert out.grad_fn.name() == name and repr(out).endswith(f"grad_fn=<{name}>)")
