"""Pytrees: nested tuples, namedtuples, lists and dicts of leaves, as JAX and HIPS autograd accept them.

Transforms and compiled functions flatten their arguments into leaves (tensors, arrays, scalars) and a
``TreeDef`` that describes the nesting. A TreeDef is hashable and compares by structure alone, so it can be
part of a specialization key: two calls share a specialization only when their containers have the same
shape, never because two objects happened to live at the same address.

A dict's leaves come in the order of its sorted keys (JAX's order: ``{"a": .., "b": ..}`` and ``{"b": .., "a": ..}``
have the same leaves), but it is rebuilt in its own key order, which its TreeDef keeps: a function that
iterates the dict sees it as its caller built it, and a specialization traced for one order is not reused for
the other. ``same_structure`` compares two TreeDefs ignoring that order.

>>> from graphgrad.runtime.pytree import tree_flatten, tree_unflatten
>>> leaves, tree = tree_flatten({"b": (1.0, 2.0), "a": [3.0]})
>>> leaves
[3.0, 1.0, 2.0]
>>> tree_unflatten(tree, [x * 10 for x in leaves])
{'b': (10.0, 20.0), 'a': [30.0]}
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple


class TreeDef(NamedTuple):
    """The structure of a pytree: a node kind, its metadata (dict keys) and its children's TreeDefs.

    ``kind`` is "leaf", "none", "tuple", "namedtuple" (``meta``: its class), "list" or "dict" (``meta``: its
    keys sorted, as its children are; ``order``: its keys in its own order where that differs)."""

    kind: str
    meta: tuple = ()
    children: tuple = ()
    order: tuple = ()

    @property
    def num_leaves(self) -> int:
        if self.kind == "leaf":
            return 1
        return sum(c.num_leaves for c in self.children)

    def __repr__(self) -> str:
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        inner = ", ".join(repr(c) for c in self.children)
        if self.kind == "dict":
            by_key = dict(zip(self.meta, self.children))
            inner = ", ".join(f"{k!r}: {by_key[k]!r}" for k in (self.order or self.meta))
            return "{" + inner + "}"
        if self.kind == "namedtuple":
            return f"{self.meta[0].__name__}({inner})"
        return f"({inner}{',' if len(self.children) == 1 else ''})" if self.kind == "tuple" else f"[{inner}]"


LEAF = TreeDef("leaf")


def tree_flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> tuple[list, TreeDef]:
    """The leaves of ``tree`` in a fixed order (dict keys sorted) and its structure."""
    leaves: list = []
    return leaves, _flatten(tree, leaves, is_leaf)


def _flatten(x, leaves: list, is_leaf) -> TreeDef:
    if is_leaf is not None and is_leaf(x):
        leaves.append(x)
        return LEAF
    if x is None:
        return TreeDef("none")
    # exact types: a subclass of tuple or list is a leaf rather than silently rebuilt as a plain one; a namedtuple
    # (JAX's pytree node too) is rebuilt as its own class
    if type(x) is tuple or type(x) is list:
        return TreeDef(type(x).__name__, (), tuple(_flatten(c, leaves, is_leaf) for c in x))
    if isinstance(x, tuple) and isinstance(getattr(type(x), "_fields", None), tuple):
        return TreeDef("namedtuple", (type(x),), tuple(_flatten(c, leaves, is_leaf) for c in x))
    if type(x) is dict:
        own = tuple(x)
        keys = tuple(sorted(own, key=_sort_key))
        return TreeDef("dict", keys, tuple(_flatten(x[k], leaves, is_leaf) for k in keys), own if own != keys else ())
    leaves.append(x)
    return LEAF


def _sort_key(k):
    return (type(k).__name__, k)


def tree_unflatten(treedef: TreeDef, leaves) -> Any:
    """Rebuild a tree of ``treedef``'s structure from ``leaves`` (in ``tree_flatten``'s order)."""
    it = iter(leaves)
    out = _unflatten(treedef, it)
    if next(it, _END) is not _END:
        raise ValueError(f"too many leaves for the tree structure {treedef!r}")
    return out


_END = object()


def _unflatten(t: TreeDef, it):
    if t.kind == "leaf":
        x = next(it, _END)
        if x is _END:
            raise ValueError("too few leaves for the tree structure")
        return x
    if t.kind == "none":
        return None
    children = [_unflatten(c, it) for c in t.children]
    if t.kind == "dict":
        d = dict(zip(t.meta, children))
        return {k: d[k] for k in t.order} if t.order else d
    if t.kind == "namedtuple":
        return t.meta[0](*children)
    return tuple(children) if t.kind == "tuple" else children


def tree_map(fn: Callable, tree: Any, *rest: Any) -> Any:
    """``fn`` applied to every leaf (and the matching leaves of ``rest``, which must share the structure)."""
    leaves, treedef = tree_flatten(tree)
    others = []
    for r in rest:
        r_leaves, r_def = tree_flatten(r)
        if not same_structure(r_def, treedef):
            raise ValueError(f"tree_map: structures differ: {treedef!r} and {r_def!r}")
        others.append(r_leaves)
    return tree_unflatten(treedef, [fn(*xs) for xs in zip(leaves, *others)])


def same_structure(a: TreeDef, b: TreeDef) -> bool:
    """Whether ``a`` and ``b`` nest the same containers, a dict's key order aside (their leaves then match up).

    >>> same_structure(tree_flatten({"a": 1, "b": 2})[1], tree_flatten({"b": 3, "a": 4})[1])
    True
    """
    if a is b or a == b:
        return True
    return a.kind == b.kind and a.meta == b.meta and len(a.children) == len(b.children) \
        and all(same_structure(x, y) for x, y in zip(a.children, b.children))


def tree_leaves(tree: Any) -> list:
    return tree_flatten(tree)[0]


def leaf_paths(tree: TreeDef) -> list[str]:
    """Where each leaf sits, as a subscript: ``""`` for a bare leaf, ``"[1]"``, ``"['w'][0]"`` inside
    containers (for messages that name one leaf of an argument)."""
    if tree.kind == "leaf":
        return [""]
    if tree.kind == "none":
        return []
    if tree.kind == "namedtuple":
        return [f".{k}{rest}" for k, c in zip(tree.meta[0]._fields, tree.children) for rest in leaf_paths(c)]
    keys = tree.meta if tree.kind == "dict" else range(len(tree.children))
    return [f"[{k!r}]{rest}" for k, c in zip(keys, tree.children) for rest in leaf_paths(c)]
