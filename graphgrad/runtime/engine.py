"""What happens on ``backward()``: walk the dynamic graph in reverse, applying gradient rules.

1. Count, for every node reachable from the roots, how many edges lead into it. With targets
   (``autograd.grad``'s inputs, ``backward(inputs=...)``) only the nodes on a path to one count, and only they
   run, as in PyTorch: hooks and ``retain_grad`` elsewhere do not fire.
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
from heapq import heapify, heappop, heappush

from ..ir.registry import OPS
from ..passes.vjp_rules import VJP_RULES, apply_vjp
from .function import FREED, UNHELD, AccumulateGrad, short_name
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
    which = f", which is output 0 of {short_name(producer.name())}," if producer is not None else ""
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace operation: "
        f"[{x._type_label()}]{which} is at version {x._version_box[0]}; expected version {expected} instead. "
        "Hint: enable anomaly detection to find the operation that failed to compute its gradient, with "
        "torch.autograd.set_detect_anomaly(True, check_nan=False).")


def _result_again(node, saved: tuple):
    """The result of ``node``'s op computed again from its saved operands, without recording: the result itself
    was changed in place after the op, which PyTorch allows where its backward does not keep the result."""
    before = is_grad_enabled()
    _set(False)
    try:
        return Tensor._apply(node.op, tuple(saved), node.attrs)._data
    finally:
        _set(before)


def run_backward(roots: list, grads: list, retain_graph: bool, create_graph: bool, make_output,
                 inputs: list | None = None, capture: list | None = None) -> list | None:
    """Propagate ``grads`` from the ``roots`` (``(node, output_nr)`` edges) to the leaves.

    ``inputs``: edges whose nodes are the only targets (``backward(inputs=...)``): a leaf's accumulates into
    ``.grad``, a non-leaf's runs. ``capture``: edges whose incoming gradient is returned (``autograd.grad``);
    nothing is written to a leaf's ``.grad`` then. With either, as in PyTorch, only the nodes on a path to a
    target run: hooks and ``retain_grad`` of the other branches do not fire.
    """
    if len(roots) == 1 and inputs is None and capture is None and not create_graph:
        done = _one_node_into_leaves(roots[0][0], grads[0], retain_graph)
        if done:
            return None
    deps: dict = {}
    stack = [n for n, _ in roots if n is not None]
    seen = set(stack)
    targets = None
    if inputs is not None or capture is not None:
        targets = {n for n, _ in (inputs or ())} | {n for n, _ in (capture or ())}
        targets.discard(None)
        parents: dict = {}
    while stack:
        node = stack.pop()
        for nxt, _ in node._next:
            if nxt is not None:
                if targets is not None:
                    parents.setdefault(nxt, []).append(node)
                else:
                    deps[nxt] = deps.get(nxt, 0) + 1
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
    relevant = None
    if targets is not None:
        # the nodes from which a target is reachable; a target that is only captured runs its hooks, hands over
        # its gradient and stops unless it also leads to another target
        relevant = {n for n in targets if n in seen}
        stack = list(relevant)
        while stack:
            for parent in parents.get(stack.pop(), ()):
                if parent not in relevant:
                    relevant.add(parent)
                    stack.append(parent)
        for nxt, ps in parents.items():
            if nxt in relevant:
                deps[nxt] = sum(1 for p in ps if p in relevant)
        runs_anyway = {n for n, _ in (inputs or ())}

    pending: dict = {}
    for (node, nr), g in zip(roots, grads):
        if node is None or (relevant is not None and node not in relevant):
            continue
        if not create_graph:  # nothing is recorded: gradients travel as bare cotangents
            g = as_cotangent(g)
        _deliver(pending, node, nr, g)
    ticket = itertools.count()  # ties (several ready leaves) run in the order they became ready
    ready = [(-node._seq, next(ticket), node) for node in pending if deps.get(node, 0) == 0]
    heapify(ready)
    captured = {edge: None for edge in capture} if capture is not None else None

    # .grad is written only once the whole traversal succeeded: a backward that fails half-way
    # (a modified saved tensor, a hook raising) leaves every gradient as it was
    writes = []
    prev_mode = is_grad_enabled()
    _set(create_graph)
    try:
        node = heappop(ready)[2] if ready else None
        while node is not None:
            g = pending.pop(node)
            if node._n_outputs != 1:
                g = _output_hooks(node, g, writes, captured)
            else:
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
                if captured is not None and (node, 0) in captured:
                    captured[node, 0] = g
            if node.__class__ is AccumulateGrad:
                if captured is None:
                    writes.append((node.variable, g, False))
                node = heappop(ready)[2] if ready else None
                continue
            next_functions = node._next
            if relevant is not None and node not in runs_anyway \
                    and not any(nxt in relevant for nxt, _ in next_functions):
                node = heappop(ready)[2] if ready else None  # captured, and leads to no other target
                continue
            if node._node_prehooks:
                g = _node_prehooks(node, g)
            if node.apply is not None:  # custom Functions, device transfers and compiled functions
                if node._n_outputs != 1:
                    g = [x.tensor() if x.__class__ is Cotangent else x for x in g]
                elif g.__class__ is Cotangent:
                    g = g.tensor()
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
                    if box[0] != version:
                        if OPS[node.op].saves_result or any(x is None for x in saved):
                            raise _modified(make_output(data, box, node), node, version)
                        # PyTorch's backward keeps something else (max_pool2d: its indices): not an error
                        data, box = _result_again(node, saved), [0]
                    out = make_output(data, box, node)
                if relevant is not None:
                    needs = [nxt is not None and nxt in relevant for nxt, _ in next_functions]
                elif len(next_functions) == 1:  # recorded only because its one input requires grad
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
            for (nxt, nr), gi in zip(next_functions, in_grads):
                if nxt is None or (relevant is not None and nxt not in relevant):
                    continue
                if gi is not None:
                    if nxt._n_outputs == 1:
                        before = pending.get(nxt)
                        pending[nxt] = gi if before is None else before + gi
                    else:
                        _deliver(pending, nxt, nr, gi)
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
                        _skip_zero_branch(nxt, deps, pending, ready, ticket, relevant)
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
        return [captured[edge] for edge in capture]
    return None


def _deliver(pending: dict, node, nr: int, g) -> None:
    """Add ``g`` to the gradient waiting at output ``nr`` of ``node`` (a list of them for a node with several
    outputs: a custom Function's)."""
    if node._n_outputs == 1:
        before = pending.get(node)
        pending[node] = g if before is None else before + g
        return
    slots = pending.get(node)
    if slots is None:
        slots = pending[node] = [None] * node._n_outputs
    slots[nr] = g if slots[nr] is None else slots[nr] + g


def _output_hooks(node, grads: list, writes: list, captured) -> list:
    """Per output of a node with several: its tensor's hooks (called with None for an output that got no
    gradient, as PyTorch's are), its retained gradient, its capture."""
    grads = [g.tensor() if g.__class__ is Cotangent else g for g in grads]
    for k in range(node._n_outputs):
        g = grads[k]
        hooks = node._out_hooks[k]
        if hooks:
            for hook in list(hooks.values()):
                replaced = hook(g)
                if replaced is not None:
                    if g is None:
                        raise RuntimeError("can't replace a None gradient with a non-None value")
                    g = _checked_hook_result(hook, g, replaced)
            grads[k] = g
        ref = node._out_retained[k]
        if ref is not None and g is not None:
            tensor = ref()
            if tensor is not None:
                writes.append((tensor, g, True))
        if captured is not None and (node, k) in captured:
            captured[node, k] = g
    return grads


def _node_prehooks(node, g):
    """``Node.register_prehook``'s hooks: each gets the tuple of output gradients and may return a new one."""
    grads = tuple(x.tensor() if x.__class__ is Cotangent else x for x in ([g] if node._n_outputs == 1 else g))
    for hook in list(node._node_prehooks.values()):
        replaced = hook(grads)
        if replaced is not None:
            grads = tuple(replaced)
    return grads[0] if node._n_outputs == 1 else list(grads)


def _one_node_into_leaves(root, g, retain_graph: bool) -> bool:
    """The common backward of a compiled call: a node that can feed its leaves itself (``into_leaves``) does,
    without the walk's bookkeeping; it returns False when the walk is needed."""
    if root.__class__ is AccumulateGrad or root.into_leaves is None or root._node_prehooks:
        return False
    return root.into_leaves(g._data, retain_graph)


def _skip_zero_branch(node, deps, pending, ready, ticket, relevant) -> None:
    """A node that received only symbolic zeros does not run; release its dependants' counts."""
    stack = [node]
    while stack:
        n = stack.pop()
        for nxt, _ in n._next:
            if nxt is None or (relevant is not None and nxt not in relevant):
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
