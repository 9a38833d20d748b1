"""JAX's function transforms on graphgrad's IR: ``vjp``, ``jvp``, ``linearize``, ``jacrev``, ``jacfwd``,
``jacobian``, ``hessian``, ``hvp``, ``elementwise_grad`` and ``vmap``.

Every transform is a Graph -> Graph construction on the same pipeline as ``compile`` and ``grad``: the user's
function is traced into IR, reverse mode is ``generate_adjoint`` (IR), forward mode is the transpose of that
adjoint (the VJP of the VJP, again ``generate_adjoint``), and batching runs each node through its op's rule
(``passes.batching``). The transformed function is itself traced once per signature into one Graph, optimized
(CSE and dead-node elimination remove what the constructions duplicate) and run as one generated module. Called
inside another trace (``compile``, ``grad``, another transform) it replays its Graph into that trace instead, so
transforms compose: ``gg.compile(gg.hessian(f))`` is one module. See docs/transforms.md.
"""
from __future__ import annotations

import functools
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from ..codegen.loader import load_module
from ..codegen.python import module_source
from ..ir.api import TensorBase, bind
from ..ir.graph import Graph, Value
from ..ir.registry import default_float_as
from ..ir.types import TensorType
from ..passes.adjoint import generate_adjoint
from ..passes.batching import batch_interpret, moveaxis, to_front
from ..passes.optimize import optimize
from ..passes.prune import eliminate_dead_nodes, prune_by_requires_grad
from ..tracer.tracer import (ACTIVE, SymbolicTensor, Tracer, TracerError, _converted, float_bits, read_guarded,
                             same_value, trace)
from .compiled import _after_trace, _arg_type, _backend_of, _closure_guards, _param_names, trace_float
from .grad_mode import enable_grad, is_grad_enabled
from .pytree import TreeDef, leaf_paths, same_structure, tree_flatten, tree_unflatten
from .transforms import _as_differentiable, check_holomorphic, non_float_error
from .tensor import Tensor

__all__ = ["vjp", "jvp", "linearize", "jacrev", "jacfwd", "jacobian", "hessian", "hvp", "elementwise_grad",
           "vmap"]


def _captured(captured: list) -> list:
    """Closed-over NumPy arrays (compile lifts them to graph inputs) as tensors of the interpreter that replays
    the graph: an input of the active trace, or an eager tensor."""
    from ..tracer.tracer import ACTIVE

    out = []
    for c in captured:
        if isinstance(c, np.ndarray):
            if ACTIVE.stack:
                tracer = ACTIVE.stack[-1]
                c = tracer.wrap(tracer.lift(c, "capture"))
            else:
                c = Tensor._wrap(c)
        out.append(c)
    return out


# -- helpers -------------------------------------------------------------------------------------

def _name(fn) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


def _is_dynamic(x) -> bool:
    return _arg_type(x) is not None


def _to_argnums(argnums, n: int, what: str) -> tuple:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums:
        raise ValueError(f"{what}: argnums must name at least one argument")
    for a in nums:
        if not isinstance(a, int) or not -n <= a < n:
            raise ValueError(f"{what}: argnums {a!r} is out of range for a function of {n} positional arguments")
    return tuple(a % n for a in nums)


def _float_args(args: tuple, positions, what: str, fn) -> tuple:
    """Python floats and NumPy float scalars at differentiated positions become 0-d arrays (float64 for a Python
    float, a NumPy scalar's own dtype): they are traced, not baked in; anything else there must be a floating
    point array or tensor (or a pytree of them)."""
    out = list(args)
    while isinstance(fn, Staged):  # hessian is jacfwd(jacrev(fn)): name the user's function
        fn = fn.fn
    for i in positions:
        leaves, tree = tree_flatten(args[i])
        new = []
        for leaf, path in zip(leaves, leaf_paths(tree)):
            leaf = _as_differentiable(leaf)  # a Python float, np.float64 or np.float32: a 0-d array of its dtype
            t = _arg_type(leaf)
            if t is None or not t.is_floating:
                raise non_float_error(what, fn, i, len(args), path, leaf)
            new.append(leaf)
        out[i] = tree_unflatten(tree, new)
    return tuple(out)


def _replay(graph: Graph, inputs: list) -> list:
    """``graph`` applied to ``inputs`` through ``bind``: recorded into the trace that owns them, or eager.
    Arrays among symbolic inputs become constants of that trace; among eager tensors, tensors."""
    tracer = next((a.tracer for a in inputs if isinstance(a, SymbolicTensor)), None)
    values = []
    for a in inputs:
        if isinstance(a, SymbolicTensor) or not _is_dynamic(a):
            values.append(a)
        elif tracer is not None:
            values.append(tracer.wrap(tracer.lift(a, graph.name)))
        elif not isinstance(a, Tensor):
            values.append(Tensor._wrap(np.asarray(a)) if isinstance(a, np.ndarray) else a)
        else:
            values.append(a)
    return [v for v, _ in batch_interpret(graph, values, [None] * len(values))]


def _zeros(like, shape: tuple, dtype: str):
    """Zeros of ``shape``/``dtype``, made from ``like`` (a tensor of the same interpreter)."""
    z = bind("full_like", bind("sum", like, dim=None, keepdim=False), value=0.0)
    z = z._cast(dtype)
    return bind("expand", z, shape=tuple(shape)) if shape else z


def _const(like, array: np.ndarray):
    """A literal array in the interpreter of ``like``."""
    if isinstance(like, SymbolicTensor):
        return like.tracer.wrap(like.tracer.lift(array, "transform"))
    return Tensor._wrap(array)


def _basis(like, size: int, shape: tuple, dtype: str):
    """The ``size`` unit vectors of a value of ``shape``, stacked: ``eye(size).reshape((size,) + shape)``,
    built from a ``size``-element literal so the generated code does not spell out the identity."""
    if size == 1:  # one unit vector (a scalar output): a literal 1
        return _const(like, np.ones((1,) + tuple(shape), dtype=dtype))
    idx = _const(like, np.arange(size, dtype=np.int64))
    eye = bind("eq", idx.reshape(size, 1), idx)._cast(dtype)
    return eye.reshape((size,) + tuple(shape))


def _own_arrays(outs, inputs: list) -> list:
    """Writable arrays of their own: a generated module may return an input, one array twice, or a broadcast
    view (an unbatched output of vmap); users update results in place, which must touch only that result."""
    result, seen = [], {id(a) for a in inputs}
    for o in outs:
        o = np.asarray(o)
        if id(o) in seen or not o.flags.writeable:
            o = o.copy()
        seen.add(id(o))
        result.append(o)
    return result


# -- tracing a user function into a Graph ----------------------------------------------------------

@dataclass
class _Traced:
    """A user function traced for some arguments: ``graph`` takes the dynamic leaves of the arguments, then
    the tensors the function closed over; it returns the output leaves, then the aux leaves."""

    graph: Graph
    in_tree: TreeDef
    leaves: list                      # all argument leaves (dynamic ones are graph inputs, in order)
    dynamic: list                     # positions of the dynamic leaves
    captured: list
    out_tree: TreeDef
    n_out: int
    aux_tree: TreeDef | None = None
    n_aux: int = 0


def _trace_user(fn, args: tuple, has_aux: bool, what: str, types: list | None = None) -> _Traced:
    leaves, in_tree = tree_flatten(args)
    dynamic = [i for i, leaf in enumerate(leaves) if _is_dynamic(leaf)]
    types = types if types is not None else [_arg_type(leaves[i]) for i in dynamic]
    names = _leaf_names(fn, args)
    holder: dict = {}
    user_fn = _converted(fn)  # its if/while/for on traced values become control-flow nodes, as under grad

    def flat(*syms):
        full = list(leaves)
        for i, s in zip(dynamic, syms):
            full[i] = s
        out = user_fn(*tree_unflatten(in_tree, full))
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise TypeError(f"{what}: with has_aux=True, {_name(fn)} must return a pair (output, aux), got "
                                f"{type(out).__name__}")
            out, aux = out
            holder["aux"] = tree_flatten(aux)
        holder["out"] = tree_flatten(out)
        return holder["out"][0] + (holder["aux"][0] if has_aux else [])

    with enable_grad():  # an outer no_grad() does not reach into a transform, as in torch.func
        tracer, result = trace(flat, types, [names[i] for i in dynamic], None, _name(fn), pure=f"graphgrad.{what}")
    if ACTIVE.stack:  # the Python state this trace read (train/eval flags) guards the enclosing one too
        ACTIVE.stack[-1].guards.update(tracer.guards)
    if tracer.random_inputs:
        raise NotImplementedError(f"{what} of a function that draws random numbers (gg.randn, gg.rand, ... or dropout "
                                  f"in training mode) is not supported: draw them outside and pass them as arguments "
                                  f"(mapped by vmap's in_axes), or call .eval() on the module first")
    if tracer.assignments:
        raise NotImplementedError(f"{what} of a function that updates module buffers (a BatchNorm in training "
                                  f"mode) is not supported: call .eval() on the module first")
    outs = []
    for i, o in enumerate(result):
        if isinstance(o, SymbolicTensor) and o.tracer is tracer:
            outs.append(o.value)
        elif isinstance(o, (int, float, bool, np.ndarray, np.generic, Tensor)):
            outs.append(tracer.lift(o if isinstance(o, Tensor) else np.asarray(o), what))
        else:
            raise TypeError(f"{what}: {_name(fn)} must return tensors or arrays (or pytrees of them); output {i} "
                            f"is {type(o).__name__}")
    graph = tracer.graph
    graph.outputs = outs
    for i, v in enumerate(outs):
        if v.name is None and v.node is not None:
            v.name = f"out{i}" if len(outs) > 1 else _name(fn)
    out_leaves, out_tree = holder["out"]
    aux_tree, n_aux = (holder["aux"][1], len(holder["aux"][0])) if has_aux else (None, 0)
    return _Traced(graph, in_tree, leaves, dynamic, list(tracer.captured), out_tree, len(out_leaves),
                   aux_tree, n_aux)


def _leaf_names(fn, args: tuple) -> list:
    params = _param_names(fn, len(args))
    names = []
    for p, a in zip(params, args):
        leaves, _ = tree_flatten(a)
        names += [p] if len(leaves) == 1 else [f"{p}_{k}" for k in range(len(leaves))]
    return names


# -- reverse mode: the VJP graph -------------------------------------------------------------------

@dataclass
class _VJPGraph:
    """``graph(primals, captured, cotangents) -> outputs + gradients + aux``.

    ``ct_for[j]`` is the output leaf that cotangent input j belongs to (outputs that do not depend on the
    differentiated inputs have none); ``grad_for[k]`` the dynamic-leaf index that gradient output k belongs to.
    """

    traced: _Traced
    graph: Graph
    ct_for: list
    grad_for: list
    n_in: int          # primal + captured inputs


def _vjp_graph(fn, args: tuple, diff: list, has_aux: bool, what: str) -> _VJPGraph:
    """Reverse mode of ``fn`` at ``args`` with respect to the dynamic leaves flagged in ``diff``."""
    tr = _trace_user(fn, args, has_aux, what)
    g = tr.graph
    main = Graph(g.name, list(g.inputs), list(g.nodes), g.outputs[:tr.n_out], list(g.output_names or [])[:tr.n_out]
                 or None)
    flags = list(diff) + [False] * len(tr.captured)
    pruned = prune_by_requires_grad(main, flags)
    joint = generate_adjoint(pruned, seed="input")
    ct_for = [i for i, v in enumerate(pruned.outputs) if v.requires_grad]
    grad_for = [k for k, v in enumerate(pruned.inputs) if v.requires_grad]
    n_fwd = len(pruned.outputs)
    # aux outputs are not differentiated here; they are the joint graph's replay of the forward values
    # (joint.nodes begins with one replayed node per traced node, in order)
    position = {n.output: k for k, n in enumerate(g.nodes)}
    if tr.n_aux and any(joint.nodes[k].op != n.op for k, n in enumerate(g.nodes)):
        raise NotImplementedError(f"{what} with has_aux=True of a function with structured control flow "
                                  f"(cond, scan, while_loop) is not supported yet; return the aux values from a "
                                  f"separate call")
    aux = []
    for v in g.outputs[tr.n_out:]:
        aux.append(joint.inputs[g.inputs.index(v)] if v.node is None else joint.nodes[position[v]].output)
    joint.outputs = joint.outputs[:n_fwd] + joint.outputs[n_fwd:] + aux
    joint.output_names = None
    return _VJPGraph(tr, joint, ct_for, grad_for, len(g.inputs))


# -- forward mode: the JVP graph, as the transpose of the VJP ------------------------------------------

@dataclass
class _JVPGraph:
    """``graph(primals, captured, tangents) -> outputs + tangent outputs + aux``; one tangent input per
    differentiated dynamic leaf (``diff_leaves``), one tangent output per output leaf."""

    traced: _Traced
    graph: Graph
    diff_leaves: list
    n_in: int


def _jvp_graph(fn, args: tuple, diff: list, has_aux: bool, what: str) -> _JVPGraph:
    """Forward mode by linearize-and-transpose: ``u -> J^T u`` (the VJP graph) is linear in ``u``; its own VJP
    with cotangent ``v`` is ``J v``. Both are ``generate_adjoint``; ``u`` is then fed zeros, and dead-node
    elimination removes the ``J^T u`` half, leaving a forward sweep."""
    vg = _vjp_graph(fn, args, diff, has_aux, what)
    tr, g1 = vg.traced, vg.graph
    n_out, n_grad, n_in = tr.n_out, len(vg.grad_for), vg.n_in
    n_ct = len(vg.ct_for)
    # second pass: differentiate gradients (outputs n_out .. n_out + n_grad) with respect to the cotangents
    flags = [False] * n_in + [True] * n_ct
    ordered = Graph(g1.name, list(g1.inputs), list(g1.nodes),
                    g1.outputs[n_out:n_out + n_grad] + g1.outputs[:n_out] + g1.outputs[n_out + n_grad:])
    pruned = prune_by_requires_grad(ordered, flags)
    tangent_in_for = [k for k, v in enumerate(pruned.outputs[:n_grad]) if v.requires_grad]
    joint2 = generate_adjoint(pruned, seed="input")
    # joint2: (primals, captured, u, v) -> gradients, outputs, aux, then d(gradients)/du . v = J v
    grads_of_u = joint2.outputs[len(pruned.outputs):]

    tracer = Tracer(f"jvp_{g1.name}")
    ins = [tracer.input(v.type, v.name) for v in g1.inputs[:n_in]]
    diff_leaves = list(vg.grad_for)  # positions among the dynamic leaves (captured tensors are never differentiated)
    tangents = [tracer.input(g1.inputs[k].type, f"tangent_{g1.inputs[k].name or k}") for k in vg.grad_for]
    forward = _replay(tr.graph, ins)
    zeros_u = [bind("full_like", forward[i], value=0.0) for i in vg.ct_for]
    joint_outs = Graph(joint2.name, joint2.inputs, joint2.nodes, list(joint2.outputs[n_grad:len(pruned.outputs)])
                       + grads_of_u)
    # one cotangent input of joint2 per gradient that depends on u: the tangent of that gradient's input
    values = _replay(joint_outs, ins + zeros_u + [tangents[k] for k in tangent_in_for])
    outs, aux, dus = values[:n_out], values[n_out:n_out + tr.n_aux], values[n_out + tr.n_aux:]
    tangent_outs = [bind("full_like", o, value=0.0) if isinstance(o, TensorBase) else o for o in outs]
    for j, i in enumerate(vg.ct_for):
        tangent_outs[i] = dus[j]
    graph = tracer.graph
    graph.outputs = [o.value for o in outs + tangent_outs + aux]
    return _JVPGraph(tr, optimize(eliminate_dead_nodes(graph)), diff_leaves, n_in)


# -- staging: a transformed function is one Graph per signature ------------------------------------------

@dataclass
class _Entry:
    traced: Graph
    graph: Graph
    out_tree: TreeDef
    captured: list
    captured_types: list
    #: (object, attribute or reader, value) the trace read: the globals and closure cells of the function (a
    #: rebound SCALE, an array changed in place), a module's training flag
    guards: list
    modules: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)

    def still_valid(self) -> bool:
        """Closed-over tensors kept their types, the Python state read is unchanged, and no closed-over value
        belongs to a trace that has ended."""
        return (all(_arg_type(t) == ty for t, ty in zip(self.captured, self.captured_types))
                and not any(isinstance(t, SymbolicTensor) and t.tracer not in ACTIVE.stack for t in self.captured)
                and all(same_value(read_guarded(obj, name), value) for obj, name, value in self.guards))

    def source(self, backend: str, fn_name: str) -> str:
        if backend not in self.sources:
            doc = f"{self.graph.name}: generated by graphgrad from a transformed function."
            self.sources[backend] = module_source([(self.graph, fn_name, doc)], backend,
                                                  f"Generated by graphgrad: {self.graph.name}.\n"
                                                  f"Imports only {backend}; safe to copy and run without graphgrad.")
        return self.sources[backend]

    def module(self, backend: str, fn_name: str):
        if backend not in self.modules:
            self.modules[backend] = load_module(self.source(backend, fn_name), self.graph.name)
        return self.modules[backend]


class Staged:
    """A function of pytrees of arrays and tensors, traced once per signature into one Graph.

    ``impl`` receives the arguments with symbolic tensors in place of arrays and returns a pytree. Called on
    ``numpy.ndarray``s the generated module runs and ndarrays come back; on tensors, tensors come back (replayed
    through the eager engine when they require grad, so ``backward()`` reaches them); inside another trace the
    Graph is replayed into it.
    """

    def __init__(self, impl, fn, kind: str, float_positions=None):
        functools.update_wrapper(self, fn)
        self.impl = impl
        self.fn = fn
        self.kind = kind
        self.name = self.__name__ = f"{kind}_{_name(fn)}"
        self._float_positions = float_positions  # callable(nargs) -> argument positions that are differentiated
        self._cache: dict = {}

    def _prepare(self, args: tuple) -> tuple:
        if self._float_positions is None:
            return args
        return _float_args(args, self._float_positions(len(args)), self.kind, self.fn)

    def _key(self, args: tuple) -> tuple:
        leaves, tree = tree_flatten(args)
        parts = []
        for leaf in leaves:
            t = _arg_type(leaf)
            if t is not None:
                parts.append((t.shape, t.dtype))
            elif type(leaf) is float:  # bit for bit: 0.0 == -0.0, but copysign or 1 / s tells them apart
                parts.append(("static", "float", float_bits(leaf)))
            elif isinstance(leaf, np.generic):  # by dtype and bits, as compile does (not by id: a new object each call)
                parts.append(("static", leaf.dtype.str, leaf.tobytes()))
            elif isinstance(leaf, (int, float, bool, str, type(None))):
                parts.append(("static", type(leaf).__name__, leaf))
            else:
                parts.append(("static", type(leaf).__name__, id(leaf)))
        # the default dtype: type rules read it while tracing (int / int is the default float); NumPy's float64
        # for NumPy arrays, which _entry traces under
        return tree, tuple(parts), trace_float(leaves)

    def _entry(self, args: tuple) -> _Entry:
        key = self._key(args)
        entry = self._cache.get(key)
        if entry is None or not entry.still_valid():
            with default_float_as(key[-1]):
                entry = self._cache[key] = self._stage(args)
        if ACTIVE.stack:  # what this trace read guards the enclosing one too, cached or not
            enclosing = ACTIVE.stack[-1]
            for guard in entry.guards:
                enclosing.guard(*guard)
        return entry

    def _stage(self, args: tuple) -> _Entry:
        leaves, tree = tree_flatten(args)
        dynamic = [i for i, leaf in enumerate(leaves) if _is_dynamic(leaf)]
        holder = {}

        def staged(*syms):
            full = list(leaves)
            for i, s in zip(dynamic, syms):
                full[i] = s
            out_leaves, holder["tree"] = tree_flatten(self.impl(*tree_unflatten(tree, full)))
            return tuple(out_leaves)

        names = _leaf_names(self.fn, args)
        guards = _closure_guards(self.fn)  # before the trace: the values it reads
        with enable_grad():  # the staged function is cached whatever the caller's grad mode
            tracer, result = trace(staged, [_arg_type(leaves[i]) for i in dynamic], [names[i] for i in dynamic],
                                   None, self.name)
        outs = []
        for i, o in enumerate(result):
            if isinstance(o, SymbolicTensor) and o.tracer is tracer:
                outs.append(o.value)
            elif isinstance(o, SymbolicTensor):
                raise TracerError(f"{self.kind}: output {i} belongs to another trace")
            else:
                outs.append(tracer.lift(o if isinstance(o, TensorBase) else np.asarray(o), self.kind))
        graph = tracer.graph
        graph.outputs = outs
        graph.output_names = [f"out{i}" if len(outs) > 1 else self.name for i in range(len(outs))]
        if tracer.random_inputs or tracer.assignments:
            raise NotImplementedError(f"{self.kind} of a function that draws random numbers or updates module "
                                      f"buffers is not supported: call .eval() on the module first")
        optimized = optimize(eliminate_dead_nodes(graph.copy()))
        optimized.name = self.name
        return _Entry(graph, optimized, holder["tree"], list(tracer.captured), [_arg_type(t) for t in tracer.captured],
                      _after_trace(guards, self.fn, tracer.captured) + list(tracer.guards.values()))

    def __call__(self, *args, **kwargs):
        if kwargs:  # Python's own message named Staged.__call__, which the user never wrote
            fn = self.fn
            while isinstance(fn, Staged):  # hessian is jacfwd(jacrev(fn)): name the user's function
                fn = fn.fn
            raise TypeError(f"{self.kind} of {_name(fn)}: keyword arguments ({', '.join(kwargs)}) are not "
                            f"supported; pass them positionally, or bind them first: "
                            f"gg.{self.kind}(functools.partial({_name(fn)}, {next(iter(kwargs))}=...))")
        args = self._prepare(args)
        entry = self._entry(args)
        leaves, _ = tree_flatten(args)
        inputs = [leaf for leaf in leaves if _is_dynamic(leaf)] + _captured(entry.captured)
        replay = any(isinstance(a, SymbolicTensor) for a in inputs) or (
            is_grad_enabled() and any(isinstance(a, Tensor) and a._requires_grad for a in inputs))
        if replay:
            outs = _replay(entry.graph, inputs)
        else:
            backend = _backend_of(inputs)
            module = entry.module(backend, "forward")
            arrays = [a._data if isinstance(a, Tensor) else a for a in inputs]
            result = module.forward(*arrays)
            result = (result,) if len(entry.graph.outputs) == 1 else result
            as_tensor = any(isinstance(a, Tensor) for a in leaves)
            result = _own_arrays(result, arrays) if backend == "numpy" else list(result)
            outs = [Tensor._wrap(r) if as_tensor else r for r in result]
        return tree_unflatten(entry.out_tree, outs)

    # -- introspection -------------------------------------------------------------------------
    def graph(self, *args, stage: str = "optimized") -> Graph:
        """The IR of the transformed function for these arguments: ``stage="traced"`` or ``"optimized"``."""
        entry = self._entry(self._prepare(args))
        if stage not in ("traced", "optimized"):
            raise ValueError(f"unknown stage {stage!r}; a transformed function has 'traced' and 'optimized'")
        return entry.traced if stage == "traced" else entry.graph

    def source(self, *args, backend: str = "numpy") -> str:
        """The generated module (function ``forward``) for these arguments."""
        return self._entry(self._prepare(args)).source(backend, "forward")

    def __repr__(self) -> str:
        return f"<graphgrad {self.kind} of {_name(self.fn)}>"


_STAGED: "OrderedDict" = OrderedDict()  # (function, transform, options) -> Staged, least recently used first


def _staged_for(fn, kind: str, options: tuple, make):
    """One Staged per (function, transform, options), so that calls like ``gg.jvp(f, ...)`` in a loop reuse
    its compiled module; bounded, so that lambdas made in a loop do not pile up."""
    key = (fn, kind, options)
    try:
        staged = _STAGED.pop(key)
    except KeyError:
        staged = make()
    except TypeError:  # an unhashable callable
        return make()
    _STAGED[key] = staged
    if len(_STAGED) > 256:
        _STAGED.popitem(last=False)
    return staged


# -- the transforms ----------------------------------------------------------------------------------

def _diff_mask(args: tuple, nums: tuple) -> list:
    """One flag per dynamic leaf of ``args``: whether it lies under a differentiated argument."""
    mask = []
    for i, a in enumerate(args):
        leaves, _ = tree_flatten(a)
        mask += [i in nums for leaf in leaves if _is_dynamic(leaf)]
    return mask


def _arg_leaf_slices(args: tuple) -> list:
    """For each argument, the range of its dynamic leaves among all dynamic leaves."""
    out, start = [], 0
    for a in args:
        n = sum(1 for leaf in tree_flatten(a)[0] if _is_dynamic(leaf))
        out.append(range(start, start + n))
        start += n
    return out


def _grads_with_cotangent(fn, args, nums, what, scalar: bool):
    """Gradients of ``sum(fn(*args))`` with respect to ``args[nums]``, shaped like those arguments."""
    vg = _vjp_graph(fn, args, _diff_mask(args, nums), False, what)
    tr = vg.traced
    if scalar and (tr.n_out != 1 or vg.graph.outputs[0].type.shape != ()):
        raise TypeError(f"{what} requires a function returning a single scalar; {_name(fn)} returns "
                        f"{', '.join(str(v.type) for v in vg.graph.outputs[:tr.n_out])}")
    dyn = [tr.leaves[i] for i in tr.dynamic]
    forward = _replay(tr.graph, dyn + _captured(tr.captured))
    ones = [bind("full_like", forward[i], value=1.0) for i in vg.ct_for]
    values = _replay(vg.graph, dyn + _captured(tr.captured) + ones)
    grads = values[tr.n_out:tr.n_out + len(vg.grad_for)]
    by_leaf = dict(zip(vg.grad_for, grads))
    slices = _arg_leaf_slices(args)
    result = []
    for i in nums:
        leaves, tree = tree_flatten(args[i])
        result.append(tree_unflatten(tree, [by_leaf[k] for k in slices[i]]))
    return result[0] if nums._single else tuple(result)


class _Nums(tuple):
    """argnums normalized to a tuple, remembering whether the user gave one int."""
    _single = False


def _nums(argnums, n: int, what: str) -> _Nums:
    nums = _Nums(_to_argnums(argnums, n, what))
    nums._single = isinstance(argnums, int)
    return nums


def elementwise_grad(fn, argnums=0):
    """The gradient of ``sum(fn(x))``: for an elementwise ``fn``, its derivative at each element (HIPS
    autograd's ``elementwise_grad``).

    >>> import numpy as np, graphgrad as gg
    >>> gg.elementwise_grad(gg.tanh)(np.array([0.0, 1.0]))
    array([1.        , 0.41997434])
    """
    def impl(*args):
        return _grads_with_cotangent(fn, args, _nums(argnums, len(args), "elementwise_grad"), "elementwise_grad",
                                     scalar=False)

    return Staged(impl, fn, "elementwise_grad", lambda n: _to_argnums(argnums, n, "elementwise_grad"))


def _grad_all(fn, what: str):
    """The gradient of a scalar ``fn`` with respect to all its arguments (a tuple), as a Staged function."""
    def impl(*args):
        return _grads_with_cotangent(fn, args, _nums(tuple(range(len(args))), len(args), what), what, scalar=True)

    return Staged(impl, fn, "grad", lambda n: tuple(range(n)))


def value_and_grad_with_aux(fn, argnums=0, what: str = "value_and_grad"):
    """JAX's ``value_and_grad(fn, argnums, has_aux=True)``: ``fn`` returns ``(scalar, aux)``; the staged function,
    called as ``staged(*args, kwargs)`` (the keyword arguments as one more argument, a dict, never
    differentiated), returns ``((value, aux), gradient)``, the aux values computed by the same graph but not
    differentiated."""
    @functools.wraps(fn)
    def with_kwargs(*args):
        return fn(*args[:-1], **args[-1])

    def impl(*args):
        nums = _nums(argnums, len(args) - 1, what)
        vg = _vjp_graph(with_kwargs, args, _diff_mask(args, nums), True, what)
        tr = vg.traced
        out = vg.graph.outputs[0].type if tr.n_out == 1 else None
        if out is None or out.size != 1 or not out.is_floating:
            raise TypeError(f"{what} requires a function returning a pair (scalar, aux) with a real-valued (floating "
                            f"point) scalar; {_name(fn)} returns "
                            f"{', '.join(str(v.type) for v in vg.graph.outputs[:tr.n_out])} before its aux")
        dyn = [tr.leaves[i] for i in tr.dynamic]
        forward = _replay(tr.graph, dyn + _captured(tr.captured))
        ones = [bind("full_like", forward[i], value=1.0) for i in vg.ct_for]
        values = _replay(vg.graph, dyn + _captured(tr.captured) + ones)
        by_leaf = dict(zip(vg.grad_for, values[tr.n_out:tr.n_out + len(vg.grad_for)]))
        slices = _arg_leaf_slices(args)
        grads = []
        for i in nums:
            leaves, tree = tree_flatten(args[i])
            grads.append(tree_unflatten(tree, [by_leaf[k] for k in slices[i]]))
        aux = tree_unflatten(tr.aux_tree, forward[tr.n_out:])
        return (tree_unflatten(tr.out_tree, forward[:tr.n_out]), aux), grads[0] if nums._single else tuple(grads)

    return Staged(impl, fn, what, lambda n: _to_argnums(argnums, n - 1, what))


def jacrev(fn, argnums=0, has_aux: bool = False, holomorphic: bool = False):
    """The Jacobian of ``fn`` by reverse mode: one VJP per output element, batched (JAX's ``jacrev``).

    The result has the output's structure, each leaf holding an array of shape ``out.shape + arg.shape`` (a tuple
    of them for a tuple ``argnums``).

    >>> import numpy as np, graphgrad as gg
    >>> gg.jacrev(lambda x: x ** 2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    check_holomorphic(holomorphic, "jacrev")

    def impl(*args):
        nums = _nums(argnums, len(args), "jacrev")
        vg = _vjp_graph(fn, args, _diff_mask(args, nums), has_aux, "jacrev")
        tr = vg.traced
        dyn = [tr.leaves[i] for i in tr.dynamic]
        n_in, n_out, n_grad = vg.n_in, tr.n_out, len(vg.grad_for)
        forward = _replay(tr.graph, dyn + _captured(tr.captured))
        outs, aux = forward[:n_out], forward[n_out:]
        out_types = [v.type for v in vg.graph.outputs[:n_out]]
        in_types = [vg.graph.inputs[k].type for k in vg.grad_for]
        # J[i][k]: output leaf i by differentiated leaf k
        jac = [[None] * n_grad for _ in range(n_out)]
        grads_only = Graph(vg.graph.name, vg.graph.inputs, vg.graph.nodes, vg.graph.outputs[n_out:n_out + n_grad])
        for i, ot in enumerate(out_types):
            if i not in vg.ct_for or ot.size == 0:
                for k, it in enumerate(in_types):
                    jac[i][k] = _zeros(outs[i], ot.shape + it.shape, it.dtype)
                continue
            cts, dims = [], []
            for j in vg.ct_for:
                if j == i:
                    cts.append(_basis(outs[i], ot.size, ot.shape, ot.dtype))
                    dims.append(0)
                else:
                    cts.append(bind("full_like", outs[j], value=0.0))
                    dims.append(None)
            rows = batch_interpret(grads_only, dyn + _captured(tr.captured) + cts, [None] * n_in + dims)
            for k, ((g, d), it) in enumerate(zip(rows, in_types)):
                g = _broadcast_front(g, d, ot.size)
                jac[i][k] = g.reshape(ot.shape + it.shape)
        result = _jacobian_tree(jac, tr, vg.grad_for, args, nums)
        return (result, tree_unflatten(tr.aux_tree, aux)) if has_aux else result

    return Staged(impl, fn, "jacrev", lambda n: _to_argnums(argnums, n, "jacrev"))


jacobian = jacrev


def _broadcast_front(g, d, size: int):
    """A batched value with its batch axis first; an unbatched one (the same for every row) is broadcast."""
    if d is None:
        return bind("expand", g.reshape((1,) + tuple(g.shape)), shape=(size,) + tuple(g.shape))
    return to_front(g, d)


def _jacobian_tree(jac, tr: _Traced, grad_for: list, args: tuple, nums: _Nums):
    """JAX's layout: the output's structure, each leaf replaced by the arguments' structure (a tuple of them for
    a tuple argnums)."""
    slices = _arg_leaf_slices(args)
    position = {leaf: k for k, leaf in enumerate(grad_for)}
    per_out = []
    for row in jac:
        parts = []
        for i in nums:
            _, tree = tree_flatten(args[i])
            parts.append(tree_unflatten(tree, [row[position[k]] for k in slices[i]]))
        per_out.append(parts[0] if nums._single else tuple(parts))
    return tree_unflatten(tr.out_tree, per_out)


def jacfwd(fn, argnums=0, has_aux: bool = False, holomorphic: bool = False):
    """The Jacobian of ``fn`` by forward mode: one JVP per input element, batched (JAX's ``jacfwd``); the same
    layout as ``jacrev``.

    >>> import numpy as np, graphgrad as gg
    >>> gg.jacfwd(lambda x: x.sin())(np.array([0.0, 0.0]))
    array([[1., 0.],
           [0., 1.]])
    """
    check_holomorphic(holomorphic, "jacfwd")

    def impl(*args):
        nums = _nums(argnums, len(args), "jacfwd")
        jg = _jvp_graph(fn, args, _diff_mask(args, nums), has_aux, "jacfwd")
        tr = jg.traced
        dyn = [tr.leaves[i] for i in tr.dynamic]
        n_out, n_t = tr.n_out, len(jg.diff_leaves)
        outs = jg.graph.outputs
        out_types = [v.type for v in outs[:n_out]]
        in_types = [jg.graph.inputs[jg.n_in + k].type for k in range(n_t)]
        jac = [[None] * n_t for _ in range(n_out)]
        forward = None
        for k, it in enumerate(in_types):
            tangents, dims = [], []
            for j in range(n_t):
                leaf = dyn[jg.diff_leaves[j]]
                if j == k:
                    tangents.append(_basis(leaf, it.size, it.shape, it.dtype))
                    dims.append(0)
                else:
                    tangents.append(bind("full_like", leaf, value=0.0))
                    dims.append(None)
            if it.size == 0:
                continue
            values = batch_interpret(jg.graph, dyn + _captured(tr.captured) + tangents, [None] * jg.n_in + dims)
            forward = values
            for i, ot in enumerate(out_types):
                t, d = values[n_out + i]
                t = _broadcast_front(t, d, it.size)                 # (n_k, *out shape)
                t = moveaxis(t, 0, -1) if t.ndim > 1 else t          # (*out shape, n_k)
                jac[i][k] = t.reshape(ot.shape + it.shape)._cast(it.dtype)  # (an integer output's zeros too)
        if forward is None:
            forward = [(v, None) for v in _replay(jg.graph, dyn + _captured(tr.captured) + [
                bind("full_like", dyn[j], value=0.0) for j in jg.diff_leaves])]
        for i, ot in enumerate(out_types):
            for k, it in enumerate(in_types):
                if jac[i][k] is None:
                    jac[i][k] = _zeros(forward[i][0], ot.shape + it.shape, it.dtype)
        result = _jacobian_tree(jac, tr, jg.diff_leaves, args, nums)
        if has_aux:
            aux = [v for v, _ in forward[2 * n_out:]]
            return result, tree_unflatten(tr.aux_tree, aux)
        return result

    return Staged(impl, fn, "jacfwd", lambda n: _to_argnums(argnums, n, "jacfwd"))


def hessian(fn, argnums=0, has_aux: bool = False, holomorphic: bool = False):
    """The Hessian of a scalar ``fn``: ``jacfwd(jacrev(fn))`` (forward over reverse), as in JAX.

    >>> import numpy as np, graphgrad as gg
    >>> gg.hessian(lambda x: (x ** 3).sum())(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    check_holomorphic(holomorphic, "hessian")
    staged = jacfwd(jacrev(fn, argnums, has_aux), argnums, has_aux)
    staged.kind, staged.name = "hessian", f"hessian_{_name(fn)}"
    staged.__name__ = staged.name
    return staged


def vjp(fn, *primals, has_aux: bool = False):
    """``(fn(*primals), vjp_fn)``: ``vjp_fn(cotangent)`` returns one cotangent per primal (a tuple), the
    vector-Jacobian product. The forward runs now; ``vjp_fn`` runs the generated backward.

    >>> import numpy as np, graphgrad as gg
    >>> y, f_vjp = gg.vjp(lambda x: x * x, np.array([1.0, 2.0]))
    >>> f_vjp(np.array([1.0, 10.0]))
    (array([ 2., 40.]),)
    """
    primals = _float_args(primals, range(len(primals)), "vjp", fn)
    with default_float_as(trace_float(tree_flatten(primals)[0])):  # NumPy's float64 for NumPy arrays
        vg = _vjp_graph(fn, primals, [True] * sum(_is_dynamic(x) for x in tree_flatten(primals)[0]), has_aux, "vjp")
        tr = vg.traced
        n_first = vg.n_in
        first_outputs = tr.n_out + tr.n_aux
        g = vg.graph
        # outputs + aux first, gradients second
        ordered = Graph(g.name, g.inputs, g.nodes, g.outputs[:tr.n_out] + g.outputs[tr.n_out + len(vg.grad_for):]
                        + g.outputs[tr.n_out:tr.n_out + len(vg.grad_for)])
        phases = _TwoPhase(optimize(ordered), n_first, first_outputs, f"vjp_{_name(fn)}")
        dyn = [tr.leaves[i] for i in tr.dynamic]
        first = phases.run_first(dyn, _captured(tr.captured))
    outs, aux = first[:tr.n_out], first[tr.n_out:]
    out_types = [v.type for v in g.outputs[:tr.n_out]]

    def vjp_fn(cotangent):
        ct_leaves, ct_tree = tree_flatten(cotangent)
        if not same_structure(ct_tree, tr.out_tree):
            raise TypeError(f"vjp_fn: the cotangent must have the output's structure {tr.out_tree!r}, got "
                            f"{ct_tree!r}")
        # a number is a 0-d array of its output's dtype: a Python float is no value of the graph being traced
        ct_leaves = [np.asarray(c, dtype=t.dtype) if isinstance(c, (int, float, np.number)) else c
                     for c, t in zip(ct_leaves, out_types)]
        for i, (c, t) in enumerate(zip(ct_leaves, out_types)):
            ct = _arg_type(c)
            if ct is None or ct.shape != t.shape:
                raise ValueError(f"vjp_fn: cotangent {i} must have the shape of output {i}, {t}; got "
                                 f"{ct or type(c).__name__}")
        grads = phases.run_second([ct_leaves[i] for i in vg.ct_for])
        slices = _arg_leaf_slices(primals)
        result = []
        for i, p in enumerate(primals):
            _, tree = tree_flatten(p)
            result.append(tree_unflatten(tree, [grads[k] for k in slices[i]]))
        return tuple(result)

    vjp_fn.graph = lambda: phases.second  # the backward graph
    out = tree_unflatten(tr.out_tree, outs)
    return (out, vjp_fn, tree_unflatten(tr.aux_tree, aux)) if has_aux else (out, vjp_fn)


_MODULES: "OrderedDict" = OrderedDict()  # generated source -> loaded module (bounded)


def _module_for(graph: Graph, name: str, backend: str):
    source = module_source([(graph, name, None)], backend, f"Generated by graphgrad: {graph.name}.")
    module = _MODULES.pop(source, None) or load_module(source, graph.name)
    _MODULES[source] = module
    if len(_MODULES) > 256:
        _MODULES.popitem(last=False)
    return module


class _TwoPhase:
    """A graph whose last inputs arrive later (cotangents, tangents): the part that does not depend on them runs
    now, the rest (``second``, a generated module of its own) when they come, from the saved values."""

    def __init__(self, graph: Graph, n_first: int, n_first_outputs: int, name: str):
        later = set(graph.inputs[n_first:])
        depends = set(later)
        first_nodes, second_nodes = [], []
        for n in graph.nodes:
            if any(x in depends for x in n.value_inputs()):
                depends.add(n.output)
                second_nodes.append(n)
            else:
                first_nodes.append(n)
        first_outs = graph.outputs[:n_first_outputs]
        second_outs = graph.outputs[n_first_outputs:]
        saved: list = []
        for n in second_nodes:
            for x in n.value_inputs():
                if x not in depends and x not in saved:
                    saved.append(x)
        for v in second_outs:
            if v not in depends and v not in saved:
                saved.append(v)
        assert not any(v in depends for v in first_outs)
        self.first = eliminate_dead_nodes(Graph(name, list(graph.inputs[:n_first]), first_nodes,
                                                list(first_outs) + saved))
        self.second = eliminate_dead_nodes(Graph(name + "_backward", saved + list(graph.inputs[n_first:]),
                                                 second_nodes, list(second_outs)))
        self.n_saved = len(saved)
        self.n_first_outputs = n_first_outputs
        self._saved = None
        self._as_tensor = False
        self._symbolic = False

    def _run(self, graph: Graph, inputs: list, name: str, as_tensor: bool):
        replay = any(isinstance(a, SymbolicTensor) for a in inputs) or (
            is_grad_enabled() and any(isinstance(a, Tensor) and a._requires_grad for a in inputs))
        if replay:
            return _replay(graph, inputs)
        backend = _backend_of(inputs)
        module = _module_for(graph, name, backend)
        arrays = [a._data if isinstance(a, Tensor) else np.asarray(a) if isinstance(a, float) else a for a in inputs]
        result = getattr(module, name)(*arrays)
        result = result if len(graph.outputs) != 1 else (result,)
        result = _own_arrays(result, arrays) if backend == "numpy" else list(result)
        return [Tensor._wrap(r) if as_tensor else r for r in result]

    def run_first(self, primals: list, captured: list) -> list:
        """The first part on the primals' dynamic leaves and the closed-over values (``_captured``): tensors
        come back where a primal is a tensor, arrays for arrays (closed-over arrays, wrapped as tensors to
        replay, do not decide it)."""
        self._as_tensor = any(isinstance(a, Tensor) for a in primals)
        values = self._run(self.first, list(primals) + list(captured), "forward", self._as_tensor)
        self._saved = values[self.n_first_outputs:]
        return values[:self.n_first_outputs]

    def run_second(self, inputs: list) -> list:
        as_tensor = self._as_tensor or any(isinstance(a, Tensor) for a in inputs)
        return self._run(self.second, self._saved + list(inputs), "backward", as_tensor)


def jvp(fn, primals, tangents, has_aux: bool = False):
    """``(fn(*primals), J tangents)``: the Jacobian-vector product, forward mode (JAX's ``jvp``).

    ``primals`` and ``tangents`` are tuples (one entry per argument of ``fn``) of the same structure.

    >>> import numpy as np, graphgrad as gg
    >>> gg.jvp(lambda x: x.sin(), (np.array([0.0, 1.0]),), (np.array([1.0, 1.0]),))
    (array([0.        , 0.84147098]), array([1.        , 0.54030231]))
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(f"jvp: primals and tangents must be tuples (one entry per argument of {_name(fn)}), got "
                        f"{type(primals).__name__} and {type(tangents).__name__}")
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise TypeError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    primals = _float_args(primals, range(len(primals)), "jvp", fn)  # each primal named as fn's argument
    staged = _staged_for(fn, "jvp", (has_aux,), lambda: _make_jvp(fn, has_aux))
    return staged(primals, tangents)


def _check_tangents(primals: tuple, tangents: tuple, what: str) -> None:
    p_leaves, p_tree = tree_flatten(primals)
    t_leaves, t_tree = tree_flatten(tangents)
    if not same_structure(p_tree, t_tree):
        raise TypeError(f"{what}: tangents must have the primals' structure {p_tree!r}, got {t_tree!r}")
    for i, (p, t) in enumerate(zip(p_leaves, t_leaves)):
        pt, tt = _arg_type(p), _arg_type(t)
        if pt is not None and (tt is None or tt.shape != pt.shape):
            raise ValueError(f"{what}: tangent {i} must have the primal's shape {pt}; got {tt or type(t).__name__}")


def _make_jvp(fn, has_aux: bool) -> Staged:
    def impl(primals, tangents):
        _check_tangents(primals, tangents, "jvp")
        jg = _jvp_graph(fn, primals, [True] * len(_dyn(primals)), has_aux, "jvp")
        tr = jg.traced
        dyn = _dyn(primals)
        t_dyn = [t for p, t in zip(tree_flatten(primals)[0], tree_flatten(tangents)[0]) if _is_dynamic(p)]
        ts = [_cast_like(t_dyn[j], dyn[j]) for j in jg.diff_leaves]
        values = _replay(jg.graph, dyn + _captured(tr.captured) + ts)
        n = tr.n_out
        out = tree_unflatten(tr.out_tree, values[:n])
        tangent_out = tree_unflatten(tr.out_tree, values[n:2 * n])
        if has_aux:
            return out, tangent_out, tree_unflatten(tr.aux_tree, values[2 * n:])
        return out, tangent_out

    def floats(n):
        return (0, 1)

    return Staged(impl, fn, "jvp", floats)


def _dyn(tree) -> list:
    return [leaf for leaf in tree_flatten(tree)[0] if _is_dynamic(leaf)]


def _cast_like(t, p):
    """A tangent in its primal's dtype."""
    return t._cast(p._type.dtype) if t._type.dtype != p._type.dtype else t


def linearize(fn, *primals):
    """``(fn(*primals), f_jvp)``: ``f_jvp(*tangents)`` is the Jacobian-vector product at ``primals``. The
    nonlinear part runs once now; ``f_jvp`` runs a generated module of the linear part (JAX's ``linearize``).

    >>> import numpy as np, graphgrad as gg
    >>> y, f_jvp = gg.linearize(lambda x: x.exp(), np.array([0.0, 1.0]))
    >>> f_jvp(np.array([1.0, 2.0]))
    array([1.        , 5.43656366])
    """
    primals = _float_args(primals, range(len(primals)), "linearize", fn)
    with default_float_as(trace_float(tree_flatten(primals)[0])):  # NumPy's float64 for NumPy arrays
        jg = _jvp_graph(fn, primals, [True] * len(_dyn(primals)), False, "linearize")
        tr = jg.traced
        n = tr.n_out
        phases = _TwoPhase(jg.graph, jg.n_in, n, f"linearize_{_name(fn)}")
        outs = phases.run_first(_dyn(primals), _captured(tr.captured))

    def f_jvp(*tangents):
        # a number is a 0-d array, as a primal given as a number was (jvp's tangents are treated alike)
        leaves, tree = tree_flatten(tangents)
        tangents = tree_unflatten(tree, [np.asarray(t) if isinstance(t, (int, float, np.number)) and not
                                         isinstance(t, bool) else t for t in leaves])
        _check_tangents(primals, tuple(tangents), "linearize")
        dyn = _dyn(primals)
        t_dyn = [t for p, t in zip(tree_flatten(primals)[0], tree_flatten(tangents)[0]) if _is_dynamic(p)]
        t_dyn = [np.asarray(t, dtype=_arg_type(p).dtype) if isinstance(t, np.ndarray) else _cast_like(t, p)
                 for t, p in zip(t_dyn, dyn)]
        values = phases.run_second([t_dyn[j] for j in jg.diff_leaves])
        return tree_unflatten(tr.out_tree, values)

    f_jvp.graph = lambda: phases.second
    return tree_unflatten(tr.out_tree, outs), f_jvp


def hvp(fn, primals, tangents):
    """The Hessian-vector product of a scalar ``fn`` at ``primals`` along ``tangents``, forward over reverse:
    ``jvp(grad(fn), primals, tangents)[1]``. One entry per argument (the tangent's structure).

    >>> import numpy as np, graphgrad as gg
    >>> gg.hvp(lambda x: (x ** 3).sum(), (np.array([1.0, 2.0]),), (np.array([1.0, 0.0]),))
    (array([6., 0.]),)
    """
    grad_fn = _staged_for(fn, "grad_all", (), lambda: _grad_all(fn, "hvp"))
    return jvp(grad_fn, primals, tangents)[1]


# -- vmap ------------------------------------------------------------------------------------------

def _axes_per_leaf(axes, tree_args, what: str) -> list:
    """``in_axes`` (an int or None for everything, or one entry per argument, each an int, None or a pytree prefix
    of the argument) as one entry per leaf."""
    if axes is None or isinstance(axes, int):
        return [axes] * len(tree_flatten(tree_args)[0])
    if not isinstance(axes, (tuple, list)) or len(axes) != len(tree_args):
        raise ValueError(f"vmap: {what} must be an int, None, or a tuple with one entry per argument "
                         f"({len(tree_args)}), got {axes!r}")
    out = []
    for i, (spec, arg) in enumerate(zip(axes, tree_args)):
        out += _prefix_leaves(spec, tree_flatten(arg)[1], f"{what}[{i}]", f"argument {i}")
    return out


def _prefix_leaves(spec, tree: TreeDef, what: str, of: str) -> list:
    """One axis per leaf of ``tree`` from ``spec``, a pytree prefix of it (JAX's rule): an int or None stands for
    every leaf under it. Tuples and lists match each other by position; dicts match dicts by key, never by
    position, since a dict's leaves are in sorted key order."""
    if spec is None or isinstance(spec, int):
        return [spec] * tree.num_leaves
    # a namedtuple matches only its own class (a pytree node of its own, as in JAX)
    kind = "dict" if type(spec) is dict else "sequence" if type(spec) in (tuple, list) else \
        ("namedtuple", type(spec)) if isinstance(spec, tuple) and hasattr(type(spec), "_fields") else None
    mismatch = ValueError(f"vmap: {what} {spec!r} is not a prefix of the structure of {of} ({tree!r}): "
                          f"give an int or None, or a container of the same kind, length and keys")
    if kind is None or kind != ("dict" if tree.kind == "dict" else "sequence" if tree.kind in ("tuple", "list")
                                else ("namedtuple", tree.meta[0]) if tree.kind == "namedtuple" else None):
        raise mismatch
    if kind == "dict":
        if set(spec) != set(tree.meta):
            raise mismatch
        specs = [spec[k] for k in tree.meta]
    elif len(spec) != len(tree.children):
        raise mismatch
    else:
        specs = list(spec)
    return [ax for sub, child in zip(specs, tree.children) for ax in _prefix_leaves(sub, child, what, of)]


def vmap(fn, in_axes=0, out_axes=0, axis_size: int | None = None):
    """Vectorize ``fn`` over an axis of its arguments (JAX's ``vmap``): ``fn`` is written for one example; the
    vmapped function runs every primitive once, batched by its op's rule, in one generated module.

    ``in_axes``: the mapped axis of each argument (None: the same for every example). ``out_axes``: where the
    batch axis goes in the outputs. ``axis_size``: the number of examples, needed only when no argument is
    mapped (each output is then the same for every example, stacked ``axis_size`` times).

    >>> import numpy as np, graphgrad as gg
    >>> w = np.array([1.0, 2.0]); X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> gg.vmap(gg.grad(lambda w, x: ((x * w).sum()) ** 2), in_axes=(None, 0))(w, X)
    array([[2., 0.],
           [0., 4.],
           [6., 6.]])
    """
    def impl(*args):
        leaves, tree = tree_flatten(args)
        axes = _axes_per_leaf(in_axes, args, "in_axes")
        size, dims, types = None, [], []
        names = _leaf_names(fn, args)
        for i, (leaf, ax) in enumerate(zip(leaves, axes)):
            t = _arg_type(leaf)
            if t is None:
                if ax is not None:
                    raise ValueError(f"vmap: cannot map over {names[i]}, a {type(leaf).__name__} (in_axes {ax}); "
                                     f"use None for values shared by every example")
                continue
            if ax is None:
                dims.append(None)
                types.append(t)
                continue
            if not -t.ndim <= ax < t.ndim:
                raise ValueError(f"vmap: in_axes {ax} is out of range for {names[i]} of shape {list(t.shape)}")
            ax %= t.ndim
            if size is None:
                size, first = t.shape[ax], names[i]
            elif t.shape[ax] != size:
                raise ValueError(f"vmap got inconsistent sizes for the mapped axis: {first} has size {size}, "
                                 f"{names[i]} has size {t.shape[ax]} along axis {ax}")
            dims.append(ax)
            types.append(TensorType(t.shape[:ax] + t.shape[ax + 1:], t.dtype))
        if axis_size is not None and size is not None and axis_size != size:
            raise ValueError(f"vmap got axis_size={axis_size}, but {first} has size {size} along its mapped axis")
        size = axis_size if size is None else size
        if size is None:
            raise ValueError("vmap: no argument is mapped (in_axes are all None): map one, or give axis_size")
        tr = _trace_user(fn, args, False, "vmap", types=types)
        dyn = [leaves[i] for i in tr.dynamic]
        graph = optimize(eliminate_dead_nodes(tr.graph))
        results = batch_interpret(graph, dyn + _captured(tr.captured), dims + [None] * len(tr.captured))
        o_axes = _prefix_leaves(out_axes, tr.out_tree, "out_axes", "the output")
        outs = []
        for i, ((v, d), ax) in enumerate(zip(results, o_axes)):
            if ax is None:
                if d is not None:
                    raise ValueError(f"vmap: out_axes is None for output {i}, but it differs between examples")
                outs.append(v)
                continue
            v = _broadcast_front(v, d, size)
            if not -v.ndim <= ax < v.ndim:  # moveaxis would wrap it around, putting the batch axis elsewhere
                raise ValueError(f"vmap: out_axes {ax} is out of range for output {i} of shape {list(v.shape)} (the "
                                 f"batch axis included)")
            outs.append(moveaxis(v, 0, ax) if v.ndim > 1 else v)
        return tree_unflatten(tr.out_tree, outs)

    return Staged(impl, fn, "vmap")
