"""torch.testing.assert_close: PyTorch 2.13's pairing of inputs, default tolerances per dtype and failure texts
(each expected message below is what PyTorch 2.13 raises for the same call)."""
import numpy as np
import pytest

import graphgrad as torch
from graphgrad.testing import assert_close

T = torch.tensor
CLOSE32 = "(up to 1e-05 allowed)", "(up to 1.3e-06 allowed)"


def _fails(error, message, *args, **kwargs):
    with pytest.raises(error) as info:
        assert_close(*args, **kwargs)
    assert str(info.value) == message


@pytest.mark.parametrize("args,kwargs", [
    ((T([1.0, 2.0]), T([1.0, 2.0 + 1e-5])), {}),  # within float32's rtol 1.3e-6 + atol 1e-5
    ((T([1.0], dtype=torch.float64), T([1.0 + 5e-8], dtype=torch.float64)), {}),
    ((T([1.0]), T([1.0], dtype=torch.float64)), {"check_dtype": False}),
    ((T([float("nan")]), T([float("nan")])), {"equal_nan": True}),
    ((T([1.0, float("inf")]), T([1.0, float("inf")])), {}),
    ((T([1.0]), T([1.1])), {"rtol": 0.2, "atol": 0}),
    ((T([1, 2]), T([1.0, 2.0])), {"check_dtype": False}),
    ((torch.ones(2, requires_grad=True), torch.ones(2)), {}),
    ((torch.ones(0), torch.ones(0)), {}),
    (((1.0, 2.0), [1.0, 2.0]), {}),
    (([1.0, T(2)], [1.0 + 1e-8, T(2)]), {}),
    (({"a": T([1.0]), "b": [1, 2]}, {"a": T([1.0]), "b": [1, 2]}), {}),
    ((np.float32(1.0), 1.0), {}),
    ((1, 1.0), {"check_dtype": False}),
    ((None, None), {}),
    ((torch.nn.Parameter(torch.ones(1)), torch.ones(1)), {}),
])
def test_close_inputs_pass(args, kwargs):
    assert_close(*args, **kwargs)
    torch.testing.assert_close(*args, **kwargs)


def test_float_tensors():
    _fails(AssertionError, "Tensor-likes are not close!\n\nMismatched elements: 1 / 3 (33.3%)\nGreatest absolute "
           "difference: 0.5 at index (1,) (up to 1e-05 allowed)\nGreatest relative difference: 0.20000000298023224 "
           "at index (1,) (up to 1.3e-06 allowed)", T([1.0, 2.0, 3.0]), T([1.0, 2.5, 3.0]))
    _fails(AssertionError, "Tensor-likes are not close!\n\nMismatched elements: 1 / 3 (33.3%)\nGreatest absolute "
           "difference: 0.5 at index (1,) (up to 1e-07 allowed)\nGreatest relative difference: 0.2 at index (1,) "
           "(up to 1e-07 allowed)", T([1.0, 2.0, 3.0], dtype=torch.float64), T([1.0, 2.5, 3.0], dtype=torch.float64))
    _fails(AssertionError, "Tensor-likes are not close!\n\nMismatched elements: 2 / 6 (33.3%)\nGreatest absolute "
           "difference: 0.001000046730041504 at index (1, 1) (up to 1e-05 allowed)\nGreatest relative difference: "
           "0.0009990476537495852 at index (1, 1) (up to 1.3e-06 allowed)",
           torch.ones(2, 3), torch.ones(2, 3) + T([[0, 0, 0], [0, 1e-3, 1e-3]]))
    _fails(AssertionError, "Tensor-likes are not close!\n\nMismatched elements: 1 / 2 (50.0%)\nGreatest absolute "
           "difference: 0.5 at index (0,) (up to 1e-05 allowed)\nGreatest relative difference: 4.999974862585077e-06 "
           "at index (0,) (up to 1.3e-06 allowed)", T([100000.0, 2.0]), T([100000.5, 2.0]))
    _fails(AssertionError, "Tensor-likes are not close!\n\nMismatched elements: 1 / 2 (50.0%)\nGreatest absolute "
           "difference: 1.0 at index (0,) (up to 1e-05 allowed)\nGreatest relative difference: inf at index (0,) "
           "(up to 1.3e-06 allowed)", T([1.0, 2.0]), T([0.0, 2.0]))
    _fails(AssertionError, "Tensor-likes are not close!\n\nMismatched elements: 2 / 4 (50.0%)\nGreatest absolute "
           "difference: nan at index (0, 0) (up to 1e-05 allowed)\nGreatest relative difference: nan at index (0, 0) "
           "(up to 1.3e-06 allowed)", T([[float("nan"), 1.0], [2.0, 3.0]]), T([[1.0, 1.0], [2.0, 5.0]]))
    _fails(AssertionError, "Tensor-likes are not close!\n\nMismatched elements: 1 / 2 (50.0%)\nGreatest absolute "
           "difference: inf at index (1,) (up to 1e-05 allowed)\nGreatest relative difference: nan at index (1,) "
           "(up to 1.3e-06 allowed)", T([1.0, float("inf")]), T([1.0, float("-inf")]))
    # different dtypes: the looser tolerances, compared in the promoted dtype
    _fails(AssertionError, "Tensor-likes are not close!\n\nMismatched elements: 1 / 2 (50.0%)\nGreatest absolute "
           "difference: 0.5 at index (1,) (up to 1e-05 allowed)\nGreatest relative difference: 0.2 at index (1,) "
           "(up to 1.3e-06 allowed)", T([1.0, 2.0], dtype=torch.float64), T([1.0, 2.5]), check_dtype=False)


def test_integer_and_bool_tensors_compare_exactly():
    _fails(AssertionError, "Tensor-likes are not equal!\n\nMismatched elements: 1 / 3 (33.3%)\nGreatest absolute "
           "difference: 1 at index (1,)\nGreatest relative difference: 0.3333333432674408 at index (1,)",
           T([1, 2, 3]), T([1, 3, 3]))
    _fails(AssertionError, "Tensor-likes are not equal!\n\nMismatched elements: 1 / 4 (25.0%)\nGreatest absolute "
           "difference: 3 at index (1, 1)\nGreatest relative difference: 0.4285714328289032 at index (1, 1)",
           T([[1, 2], [3, 4]]), T([[1, 2], [3, 7]]))
    _fails(AssertionError, "Tensor-likes are not equal!\n\nMismatched elements: 1 / 2 (50.0%)\nGreatest absolute "
           "difference: 1 at index (1,)\nGreatest relative difference: 1.0 at index (1,)", T([True, False]),
           T([True, True]))


def test_scalars():
    _fails(AssertionError, "Scalars are not close!\n\nExpected 1.5 but got 1.0.\nAbsolute difference: 0.5 (up to "
           "1e-05 allowed)\nRelative difference: 0.3333333333333333 (up to 1.3e-06 allowed)", T(1.0), T(1.5))
    _fails(AssertionError, "Scalars are not close!\n\nExpected 1.5 but got 1.0.\nAbsolute difference: 0.5 (up to "
           "1e-07 allowed)\nRelative difference: 0.3333333333333333 (up to 1e-07 allowed)", 1.0, 1.5)
    _fails(AssertionError, "Scalars are not equal!\n\nExpected 2 but got 1.\nAbsolute difference: 1\nRelative "
           "difference: 0.5", 1, 2)
    _fails(AssertionError, "Scalars are not close!\n\nExpected 0.0 but got 1.0.\nAbsolute difference: 1.0 (up to "
           "1e-07 allowed)\nRelative difference: inf (up to 1e-07 allowed)", 1.0, 0.0)
    _fails(AssertionError, "Scalars are not close!\n\nExpected nan but got nan.\nAbsolute difference: nan (up to "
           "1e-07 allowed)\nRelative difference: nan (up to 1e-07 allowed)", float("nan"), float("nan"))
    _fails(AssertionError, "The (d)types do not match: <class 'int'> != <class 'float'>.", 1, 1.0)
    _fails(AssertionError, "Booleans mismatch: True is not False", True, False)
    _fails(AssertionError, "None mismatch: None is not 1", None, 1)


def test_attributes():
    _fails(AssertionError, "The values for attribute 'shape' do not match: torch.Size([1]) != torch.Size([2]).",
           T([1.0]), T([1.0, 2.0]))
    _fails(AssertionError, "The values for attribute 'dtype' do not match: torch.float32 != torch.float64.",
           T([1.0]), T([1.0], dtype=torch.float64))
    _fails(AssertionError, "The values for attribute 'dtype' do not match: torch.int64 != torch.float32.",
           T([1, 2]), T([1.0, 2.0]))
    _fails(AssertionError, "The values for attribute 'stride()' do not match: (0, 1) != (2, 1).",
           T([1.0, 2.0]).expand(2, 2), T([[1.0, 2.0], [1.0, 2.0]]), check_stride=True)
    _fails(AssertionError, "The values for attribute 'dtype' do not match: torch.int64 != torch.int32.",
           np.array([1, 2]), np.array([1, 2], dtype=np.int32))


def test_containers_and_the_failing_item():
    _fails(AssertionError, "Tensor-likes are not close!\n\nMismatched elements: 1 / 1 (100.0%)\nGreatest absolute "
           "difference: 0.5 at index (0,) (up to 1e-05 allowed)\nGreatest relative difference: 0.20000000298023224 "
           "at index (0,) (up to 1.3e-06 allowed)\n\nThe failure occurred for item [1]",
           [T([1.0]), T([2.0])], [T([1.0]), T([2.5])])
    _fails(AssertionError, "Scalars are not equal!\n\nExpected 4 but got 3.\nAbsolute difference: 1\nRelative "
           "difference: 0.25\n\nThe failure occurred for item [1][1]", [1, [2, 3]], [1, [2, 4]])
    _fails(AssertionError, "Tensor-likes are not close!\n\nMismatched elements: 1 / 1 (100.0%)\nGreatest absolute "
           "difference: 1.0 at index (0,) (up to 1e-05 allowed)\nGreatest relative difference: 0.5 at index (0,) "
           "(up to 1.3e-06 allowed)\n\nThe failure occurred for item ['a']", {"a": T([1.0])}, {"a": T([2.0])})
    _fails(AssertionError, "The length of the sequences mismatch: 2 != 1", [1.0, 2.0], [1.0])
    _fails(AssertionError, "The keys of the mappings do not match:\nMissing keys in the actual mapping: ['c']\n"
           "Additional keys in the actual mapping: ['b']", {"a": 1, "b": 2}, {"a": 1, "c": 2})


def test_unpaired_inputs_and_tolerance_arguments():
    tensor = type(T([1.0]))
    for actual, expected in [(T([1.0]), 1.0), (T([1.0]), [1.0]), (T([1.0]), np.array([1.0])), ("a", "a"),
                             ({"a": 1}, [1])]:
        _fails(TypeError, f"No comparison pair was able to handle inputs of type {type(actual)} and "
               f"{type(expected)}.", actual, expected)
    _fails(TypeError, f"No comparison pair was able to handle inputs of type {torch.nn.Parameter} and {tensor}.",
           torch.nn.Parameter(torch.ones(1)), torch.ones(1), allow_subclasses=False)
    _fails(ValueError, "Both 'rtol' and 'atol' must be either specified or omitted, but got no atol.",
           T([1.0]), T([1.1]), rtol=0.2)
    _fails(ValueError, "Both 'rtol' and 'atol' must be either specified or omitted, but got no rtol.",
           T([1.0]), T([1.1]), atol=0.2)
    _fails(AssertionError, "custom", T([1.0]), T([2.0]), msg="custom")
    _fails(AssertionError, "Tensor-likes are not close!\n\nMismatched elements: 1 / 1 (100.0%)\nGreatest absolute "
           "difference: 1.0 at index (0,) (up to 1e-05 allowed)\nGreatest relative difference: 0.5 at index (0,) "
           "(up to 1.3e-06 allowed)!!", T([1.0]), T([2.0]), msg=lambda m: m + "!!")


def test_numpy_arrays():
    assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-8]))
    _fails(AssertionError, "Tensor-likes are not close!\n\nMismatched elements: 1 / 2 (50.0%)\nGreatest absolute "
           "difference: 0.5 at index (1,) (up to 1e-07 allowed)\nGreatest relative difference: 0.2 at index (1,) "
           "(up to 1e-07 allowed)", np.array([1.0, 2.0]), np.array([1.0, 2.5]))
    _fails(AssertionError, "Tensor-likes are not close!\n\nMismatched elements: 1 / 2 (50.0%)\nGreatest absolute "
           "difference: 0.5 at index (1,) (up to 1e-05 allowed)\nGreatest relative difference: 0.20000000298023224 "
           "at index (1,) (up to 1.3e-06 allowed)", np.array([1.0, 2.0], np.float32), np.array([1.0, 2.5], np.float32))
