import numpy as np
import pytest

import graphgrad as gg
from graphgrad.runtime.pytree import same_structure, tree_flatten, tree_map, tree_unflatten


def test_round_trip_and_order():
    tree = {"w": (1.0, [2.0, None]), "b": 3.0}
    leaves, treedef = tree_flatten(tree)
    assert leaves == [3.0, 1.0, 2.0]  # dict keys sorted
    assert tree_unflatten(treedef, leaves) == tree
    assert treedef.num_leaves == 3


def test_structure_decides_equality_not_identity():
    _, a = tree_flatten((1.0, [2.0]))
    _, b = tree_flatten((5.0, [6.0]))
    _, c = tree_flatten((1.0, (2.0,)))
    assert a == b and hash(a) == hash(b)
    assert a != c


def test_leaf_count_is_checked():
    _, treedef = tree_flatten((1, 2))
    with pytest.raises(ValueError):
        tree_unflatten(treedef, [1])
    with pytest.raises(ValueError):
        tree_unflatten(treedef, [1, 2, 3])


def test_tree_map_over_two_trees():
    assert tree_map(lambda a, b: a + b, {"x": (1, 2)}, {"x": (10, 20)}) == {"x": (11, 22)}
    with pytest.raises(ValueError):
        tree_map(lambda a, b: a, (1, 2), [1, 2])


def test_a_dict_is_rebuilt_in_its_own_key_order_and_a_specialization_is_per_order():
    _, ab = tree_flatten({"a": 1.0, "b": 2.0})
    leaves, ba = tree_flatten({"b": 2.0, "a": 1.0})
    assert leaves == [1.0, 2.0]  # JAX's sorted order for the leaves either way
    assert list(tree_unflatten(ba, leaves)) == ["b", "a"]
    assert ab != ba and same_structure(ab, ba)
    assert tree_map(lambda x, y: x + y, {"b": 2.0, "a": 1.0}, {"a": 10.0, "b": 20.0}) == {"b": 22.0, "a": 11.0}


def test_a_compiled_function_iterates_a_dict_argument_and_result_in_the_caller_s_order():
    # the dict was rebuilt with sorted keys: the values came out concatenated in another order than eager's,
    # with no error, and a call with the other order reused the trace
    def f(d):
        return {"both": gg.cat(list(d.values())), **{k: v * 2 for k, v in d.items()}}

    compiled = gg.compile(f)
    for d in ({"b": gg.ones(1), "a": gg.zeros(1)}, {"a": gg.zeros(1), "b": gg.ones(1)}):
        out, ref = compiled(d), f(d)
        assert list(out) == list(ref) == ["both", *d]
        assert out["both"].tolist() == ref["both"].tolist() == [float(k == "b") for k in d]
    grads = gg.grad(lambda p: (p["w"] * 3.0).sum() + p["b"].sum())({"w": np.ones(2), "b": np.ones(1)})
    assert list(grads) == ["w", "b"]
    np.testing.assert_array_equal(grads["w"], [3.0, 3.0])
