"""Errors that name the problem in PyTorch's words: expand's sizes, cat/stack of non-tensors, extrema of empty
tensors (eager, and compiled with the op and the user's line)."""
import pytest

import graphgrad as gg


def test_expand_names_the_mismatching_sizes():
    with pytest.raises(RuntimeError) as e:
        gg.ones(2, 3).expand(4, 3)
    assert str(e.value) == ("The expanded size of the tensor (4) must match the existing size (2) at non-singleton "
                            "dimension 0.  Target sizes: [4, 3].  Tensor sizes: [2, 3]")
    with pytest.raises(RuntimeError, match=r"The expanded size of the tensor \(4\) must match the existing size \(3\) "
                                           r"at non-singleton dimension 2.  Target sizes: \[5, 2, 4\]"):
        gg.ones(2, 3).expand(5, 2, 4)
    with pytest.raises(RuntimeError, match=r"expand\(torch.FloatTensor\{\[2, 3\]\}, size=\[3\]\): the number of "
                                           r"sizes provided \(1\) must be greater or equal to the number of dimensions "
                                           r"in the tensor \(2\)"):
        gg.ones(2, 3).expand(3)
    with pytest.raises(RuntimeError, match=r"The expanded size of the tensor \(-1\) isn't allowed in a leading, "
                                           r"non-existing dimension 0"):
        gg.ones(3).expand(-1, 3)
    assert gg.ones(1, 3).expand(2, -1, -1).shape == (2, 1, 3)


def test_expand_error_in_a_compiled_function_names_the_line():
    def f(x):
        return x.expand(4, 3)
    with pytest.raises(Exception, match=r"The expanded size of the tensor \(4\) must match the existing size \(2\) "
                                        r"at non-singleton dimension 0.*test_small_errors.py"):
        gg.compile(f)(gg.ones(2, 3))


@pytest.mark.parametrize("join", [gg.cat, gg.stack])
def test_cat_and_stack_of_non_tensors_raise_pytorchs_type_error(join):
    with pytest.raises(TypeError, match="^expected Tensor as element 0 in argument 0, but got list$"):
        join([[1.0], [2.0]])
    with pytest.raises(TypeError, match="^expected Tensor as element 1 in argument 0, but got float$"):
        join([gg.ones(1), 2.0])


def test_extrema_of_empty_tensors_eager():
    with pytest.raises(RuntimeError, match=r"amax\(\): Expected reduction dim to be specified for "
                                           r"input.numel\(\) == 0"):
        gg.zeros(0).amax()
    with pytest.raises(IndexError, match=r"amin\(\): Expected reduction dim 0 to have non-zero size."):
        gg.zeros(0, 3).amin(0)
    with pytest.raises(IndexError, match=r"min\(\): Expected reduction dim 0 to have non-zero size."):
        gg.zeros(0, 3).min(0)
    # PyTorch 2.13's: an IndexError for argmax/argmin, and max()/min() named as called
    with pytest.raises(IndexError, match=r"^argmax\(\): Expected reduction dim to be specified for "
                                         r"input.numel\(\) == 0.$"):
        gg.zeros(0).argmax()
    with pytest.raises(IndexError, match=r"^argmin\(\): Expected reduction dim to be specified"):
        gg.compile(lambda x: x.argmin())(gg.zeros(0, 2))
    for name in ("max", "min"):
        with pytest.raises(RuntimeError, match=rf"^{name}\(\): Expected reduction dim to be specified for "
                                               r"input.numel\(\) == 0. Specify the reduction dim with the 'dim' "
                                               r"argument.$"):
            getattr(gg.zeros(0, 3), name)()
    assert gg.zeros(0, 3).amax(1).shape == (0,)  # reducing a non-empty extent of an empty tensor is fine


def test_compiled_reduction_of_an_empty_tensor_names_the_op_and_line():
    def f(x):
        return x.amax() * 2
    with pytest.raises(ValueError, match=r"amax\(\): Expected reduction dim to be specified.*in amax\(f32\[0\]\) at "
                                         r".*test_small_errors.py:\d+: `return x.amax\(\) \* 2`"):
        gg.compile(f)(gg.zeros(0))
