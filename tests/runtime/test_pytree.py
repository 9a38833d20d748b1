import pytest

from graphgrad.runtime.pytree import tree_flatten, tree_map, tree_unflatten


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
