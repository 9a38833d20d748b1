"""What happens on ``backward()``: walk the dynamic graph in reverse, applying gradient rules.

1. Count, for every node reachable from the roots, how many edges lead into it.
2. Start from the roots with their seed gradients; a node runs once all its consumers have run
   (ties broken by creation order, later first, as PyTorch's engine does).
3. Running a node: tensor hooks may replace its gradient; ``AccumulateGrad`` queues it for the leaf's
   ``.grad`` (written once the whole walk succeeded); any other node checks that its saved tensors were
   not modified in place, applies its rule (recording a graph when ``create_graph``), and passes one
   gradient to each input's node.
4. Unless ``retain_graph``, saved tensors are released as soon as a node has run; a node that saved none
   may run again, as PyTorch's (``(x + 1).sum()`` backward twice).

Without ``create_graph`` nothing is recorded, so gradients travel as ``Cotangent``s: the same rules run on
bare arrays; hooks and ``.grad`` still receive Tensors.
"""
from __future__ import annotations

import itertools
import re
from heapq import heapify, heappop, heappush

from ..passes.vjp_rules import VJP_RULES, apply_vjp
from .function import FREED, UNHELD, AccumulateGrad
from .grad_mode import _set, is_grad_enabled
from .tensor import Cotangent, Tensor, as_cotangent

_NEEDS_ONE = (True,)
SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they "
    "have already been freed). Saved intermediate values of the graph are freed when you call .backward() "
    "or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time "
    "or if you need to access saved tensors after calling backward.")


def _modified(x, producer, expected: int) -> RuntimeError:
    """PyTorch's error for a saved tensor changed in place after it was saved (2.13's words: the producing node
    is named without its ``Backward0``)."""
    which = f", which is output 0 of {re.sub(r'Backward[0-9]*$', '', producer.name())}," if producer is not None \
        else ""
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace operation: "
        f"[{x._type_label()}]{which} is at version {x._version_box[0]}; expected version {expected} instead. "
        "Hint: enable anomaly detection to find the operation that failed to compute its gradient, with "
        "torch.autograd.set_detect_anomaly(True, check_nan=False).")


def run_backward(roots: list, grads: list, retain_graph: bool, create_graph: bool, make_output,
                 inputs: list | None = None, capture: list | None = None) -> list | None:
    """Propagate ``grads`` from the ``roots`` (graph nodes) to the leaves.

    ``inputs``: accumulate only into these leaves' nodes. ``capture``: nodes whose incoming gradient
    is returned (for ``autograd.grad``) instead of accumulated; nothing is written to ``.grad`` then.
    """
    if len(roots) == 1 and inputs is None and capture is None and not create_graph:
        done = _one_node_into_leaves(roots[0], grads[0], retain_graph)
        if done:
            return None
    deps: dict = {}
    stack = [n for n in roots if n is not None]
    seen = set(stack)
    while stack:
        node = stack.pop()
        for nxt, _ in node._next:
            if nxt is not None:
                deps[nxt] = deps.get(nxt, 0) + 1
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)

    pending: dict = {}
    for node, g in zip(roots, grads):
        if not create_graph:  # nothing is recorded: gradients travel as bare cotangents
            g = as_cotangent(g)
        pending[node] = pending[node] + g if node in pending else g
    ticket = itertools.count()  # ties (several ready leaves) run in the order they became ready
    ready = [(-node._seq, next(ticket), node) for node in pending if deps.get(node, 0) == 0]
    heapify(ready)
    captured = {n: None for n in capture} if capture is not None else None
    sinks = set(inputs) if inputs is not None else None

    # .grad is written only once the whole traversal succeeded: a backward that fails half-way
    # (a modified saved tensor, a hook raising) leaves every gradient as it was
    writes = []
    prev_mode = is_grad_enabled()
    _set(create_graph)
    try:
        node = heappop(ready)[2] if ready else None
        while node is not None:
            g = pending.pop(node)
            if node._pre_hooks:
                if g.__class__ is Cotangent:  # hooks see (and may return) Tensors
                    g = g.tensor()
                for hook in list(node._pre_hooks.values()):
                    replaced = hook(g)
                    if replaced is not None:
                        g = _checked_hook_result(hook, g, replaced)
            if node._retain_grad is not None:
                tensor = node._retain_grad()
                if tensor is not None:
                    writes.append((tensor, g, True))
            if captured is not None and node in captured:
                captured[node] = g
            if node.__class__ is AccumulateGrad:
                if captured is None and (sinks is None or node in sinks):
                    writes.append((node.variable, g, False))
                node = heappop(ready)[2] if ready else None
                continue
            next_functions = node._next
            if node.apply is not None:  # device transfers and compiled functions bring their own backward
                g = g.tensor() if g.__class__ is Cotangent else g
                if not retain_graph and node.apply_last is not None:
                    in_grads = node.apply_last(g)
                else:
                    in_grads = node.apply(g)
                if not retain_graph and node.release is not None:
                    node.release()
            else:
                saved = node._saved
                if saved is FREED:
                    raise RuntimeError(SECOND_BACKWARD)
                held = node._out is not None
                for x, version in zip(saved, node._versions):
                    if x is not None and version is not UNHELD:  # (a number the rule reads counts: PyTorch saves it)
                        held = True
                        if version is not None and x._version_box[0] != version:
                            raise _modified(x, x.grad_fn, version)
                out = None
                if node._out is not None:
                    data, box, version = node._out
                    out = make_output(data, box, node)
                    if box[0] != version:
                        raise _modified(out, node, version)
                if len(next_functions) == 1:  # recorded only because its one input requires grad
                    needs = _NEEDS_ONE
                elif len(next_functions) == 2:
                    needs = (next_functions[0][0] is not None, next_functions[1][0] is not None)
                else:
                    needs = [nxt is not None for nxt, _ in next_functions]
                in_grads = apply_vjp(node.op, g, out, saved, node._in_types, needs, node.attrs, zeros=True)
                if held and not retain_graph:
                    node._saved = FREED
                    node._out = None
            # A node whose last consumer just ran becomes ready; when it is the only ready node it runs
            # next without a trip through the heap (the common case: a chain of ops).
            following = None
            for (nxt, _), gi in zip(next_functions, in_grads):
                if nxt is None:
                    continue
                if gi is not None:
                    before = pending.get(nxt)
                    pending[nxt] = gi if before is None else before + gi
                remaining = deps[nxt] - 1
                deps[nxt] = remaining
                if remaining == 0:
                    if nxt in pending:
                        if following is None and not ready:
                            following = nxt
                        else:
                            if following is not None:
                                heappush(ready, (-following._seq, next(ticket), following))
                                following = None
                            heappush(ready, (-nxt._seq, next(ticket), nxt))
                    else:  # every path into it carried a symbolic zero
                        _skip_zero_branch(nxt, deps, pending, ready, ticket)
            if following is not None and not ready:
                node = following
            else:
                if following is not None:
                    heappush(ready, (-following._seq, next(ticket), following))
                node = heappop(ready)[2] if ready else None
        for tensor, g, retained in writes:
            if retained:
                tensor._retain(g, create_graph)
            else:
                tensor._accumulate(g, create_graph)
    finally:
        _set(prev_mode)
    if captured is not None:
        return [captured[n] for n in capture]
    return None


def _one_node_into_leaves(root, g, retain_graph: bool) -> bool:
    """The common backward of a compiled call: a node that can feed its leaves itself (``into_leaves``) does,
    without the walk's bookkeeping; it returns False when the walk is needed."""
    if root.__class__ is AccumulateGrad or root.into_leaves is None:
        return False
    return root.into_leaves(g._data, retain_graph)


def _skip_zero_branch(node, deps, pending, ready, ticket) -> None:
    """A node that received only symbolic zeros does not run; release its dependants' counts."""
    stack = [node]
    while stack:
        n = stack.pop()
        for nxt, _ in n._next:
            if nxt is None:
                continue
            deps[nxt] -= 1
            if deps[nxt] == 0:
                if nxt in pending:
                    heappush(ready, (-nxt._seq, next(ticket), nxt))
                else:
                    stack.append(nxt)


def has_rule(op: str) -> bool:
    return op in VJP_RULES


def _checked_hook_result(hook, g, replaced):
    """A hook's replacement gradient, refused (PyTorch's texts) when it is not a tensor or changes the dtype,
    device or shape: stored as ``.grad`` it would be silently wrong."""
    if not isinstance(replaced, Tensor):
        raise TypeError(f"expected Variable, but hook returned '{type(replaced).__name__}'")
    name = getattr(hook, "__name__", None)
    name = name if isinstance(name, str) else "<unknown>"
    was, got = g.type(), replaced.type()
    if was != got:
        raise RuntimeError(f"hook '{name}' has changed the type of value (was {was} got {got})")
    if tuple(replaced.shape) != tuple(g.shape):
        raise RuntimeError(f"hook '{name}' has changed the size of value")
    return replaced
