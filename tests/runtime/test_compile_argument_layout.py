"""An argument's layout is part of the specialization key: a function compiled for a row-major tensor is not
reused for a transposed or sliced view of the same shape, whose ``contiguous()`` copies, ``is_contiguous()`` is
False and ``stride()`` differs (the code traced for the row-major one wrote ``y.add_(1)`` back into the view)."""
import numpy as np

import graphgrad as gg


def test_contiguous_of_a_transposed_argument_is_a_copy_compiled_as_eagerly():
    def f(x):
        y = x.contiguous()
        y.add_(1)
        return y * 2

    compiled = gg.compile(f)
    rows = gg.arange(6.0).reshape(2, 3)
    compiled(rows.clone())  # traced for a row-major argument first
    view = gg.arange(6.0).reshape(3, 2).t()
    eager_view = gg.arange(6.0).reshape(3, 2).t()
    np.testing.assert_array_equal(compiled(view).numpy(), f(eager_view).numpy())
    assert view.tolist() == eager_view.tolist() == [[0.0, 2.0, 4.0], [1.0, 3.0, 5.0]]  # untouched, as eagerly
    assert compiled.cache_info().specializations == 2


def test_layout_reads_see_the_argument_s_own_strides():
    branch = gg.compile(lambda x: x * 2 if x.is_contiguous() else x * 3)
    assert branch(gg.ones(2, 2)).tolist() == [[2.0, 2.0], [2.0, 2.0]]
    assert branch(gg.ones(2, 2).t()).tolist() == [[3.0, 3.0], [3.0, 3.0]]
    sliced = gg.arange(12.0).reshape(3, 4)[:, 1:3]
    strides = []
    gg.compile(lambda x: strides.append(x.stride()) or x * 1)(sliced)
    assert strides == [sliced.stride()] == [(4, 1)]
    # a strided NumPy argument too (gg.grad over ndarrays)
    array = np.arange(6.0).reshape(3, 2).T
    assert gg.grad(lambda x: (x.contiguous() * x).sum())(array).tolist() == (2 * array).tolist()


def test_recompile_reasons_name_the_strides():
    f = gg.compile(lambda x: x + 1)
    f(gg.ones(2, 3))
    f(gg.ones(3, 2).t())
    assert "with strides (1, 2)" in f.recompile_reasons[-1]
