"""The functional transforms ``grad`` and ``value_and_grad``, built on the compile pipeline.

Arguments are pytrees (``graphgrad.runtime.pytree``): tuples, lists and dicts of arrays, tensors and Python
scalars. Each argument is flattened; array leaves become graph inputs, the other leaves are static values the
trace may branch on, and the specialization key is the structure plus each leaf's shape and dtype (or static
value). The gradient of a differentiated argument comes back in that argument's structure.

Where the result carries history (called inside another trace, or on tensors that require grad), the joint
forward-and-gradient graph is replayed through the Tensor API, so the outer trace or the eager tape records
it and ``grad(grad(f))`` composes. Otherwise the generated module runs directly on NumPy arrays.
"""
from __future__ import annotations

import functools

import numpy as np

from ..codegen.loader import load_module
from ..codegen.python import module_source
from ..ir.interpret import interpret
from ..ir.registry import default_float
from ..ir.types import dtype_name
from ..tracer.tracer import ACTIVE, SymbolicTensor, _converted, float_bits
from .compiled import (_after_trace, _arg_type, _closure_guards, _param_names, _signature_text, _still_valid,
                       build_specialization, check_types_enabled, trace_float)
from .grad_mode import is_grad_enabled
from .pytree import TreeDef, leaf_paths, tree_flatten, tree_unflatten
from .tensor import Tensor


def _to_argnums(argnums, n: int) -> tuple:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums:
        raise ValueError("argnums must name at least one argument to differentiate")
    for a in nums:
        if not isinstance(a, int) or isinstance(a, bool):
            raise TypeError(f"argnums must be an int or a tuple of ints, got {argnums!r}")
        if not -n <= a < n:
            raise ValueError(f"argnums {a} is out of range for a function of {n} positional arguments")
    return tuple(a % n for a in nums)


def _leaf_names(name: str, tree: TreeDef) -> list:
    """``p`` for a bare argument; ``p_0``, ``p_w`` for the leaves of ``p = (a, b)`` or ``{"w": ...}``."""
    if tree.kind == "leaf":
        return [name]
    keys = (tree.meta if tree.kind == "dict" else tree.meta[0]._fields if tree.kind == "namedtuple" else
            range(len(tree.children)))
    return [n for k, c in zip(keys, tree.children) for n in _leaf_names(f"{name}_{k}", c)]


def non_float_error(what: str, fn, argnum: int, n_args: int, path: str, leaf) -> TypeError:
    """JAX's refusal of a differentiated argument that is not floating point (an integer array, an int, a bool),
    naming the transform, the argument (its position, parameter name and leaf) and the dtype it got."""
    name = getattr(fn, "__name__", None) or type(fn).__name__
    param = _param_names(fn, n_args)[argnum] if argnum < n_args else "kwargs"
    dtype = getattr(leaf, "dtype", None)
    got = getattr(dtype, "name", None) or (str(dtype) if dtype is not None else type(leaf).__name__)
    shape = getattr(leaf, "shape", None)
    got += f" (shape {tuple(shape)})" if shape else ""
    constant = ("close over it (lambda x: f(x, n)) to use it as a constant" if what in ("jvp", "vjp", "linearize")
                else "leave it out of argnums to use it as a constant")
    return TypeError(f"{what} requires real-valued (floating point) inputs, got {got} for argument {argnum} "
                     f"({param}{path}) of {name}: pass floats (np.asarray({param}{path}, dtype=float)), or "
                     f"{constant}")


def _as_differentiable(x):
    """A differentiated Python float or NumPy scalar is a 0-d array (float64 for a Python float, as NumPy)."""
    if isinstance(x, float) or (isinstance(x, np.generic) and np.issubdtype(type(x), np.inexact)):
        return np.asarray(x)
    return x


def _static_key(x):
    """A non-array leaf keys the specialization by value (and type: 1, 1.0 and True trace differently); a float
    bit for bit, as compile does: 0.0 == -0.0, but a function may tell them apart (copysign, 1 / s)."""
    key = ("static", type(x).__name__, float_bits(x) if type(x) is float else x)
    hash(key)  # TypeError for an unhashable leaf: the caller then does not cache
    return key


def _nested(x):
    return tuple(_nested(i) for i in x) if isinstance(x, list) else x


def _own_arrays(outs, inputs: list) -> list:
    """Writable arrays of their own: two gradients may be one value (of ``x + y``), or a broadcast view, or an
    input; NumPy users update gradients in place (``g *= lr``), which must touch only that gradient."""
    result, seen = [], {id(a) for a in inputs}
    for o in outs:
        o = np.asarray(o)
        if id(o) in seen or o.base is not None or not o.flags.writeable:
            o = o.copy()
        seen.add(id(o))
        result.append(o)
    return result


class _Layout:
    """How one call's arguments map to leaves and graph inputs."""

    def __init__(self, args: tuple, kwargs: dict, nums: tuple):
        trees = list(args) + [kwargs]  # keyword arguments: one more tree, never differentiated
        self.treedefs, self.leaves, self.owner = [], [], []
        self.scalars: set = set()  # leaves given as Python floats or NumPy scalars: their gradients are scalars too
        for i, tree in enumerate(trees):
            leaves, treedef = tree_flatten(tree)
            if i in nums:
                self.scalars.update(len(self.leaves) + k for k, x in enumerate(leaves) if _as_differentiable(x) is not x)
                leaves = [_as_differentiable(x) for x in leaves]
            self.treedefs.append(treedef)
            self.leaves += leaves
            self.owner += [i] * len(leaves)
        self.types = [_arg_type(x) for x in self.leaves]
        #: leaf index of each graph input that comes from an argument (closed-over tensors follow them)
        self.array_leaves = [j for j, t in enumerate(self.types) if t is not None]
        self.n_args = len(args)

    def key(self, nums: tuple):
        parts = []
        for x, t in zip(self.leaves, self.types):
            parts.append((t.shape, t.dtype) if t is not None else _static_key(x))
        # the default dtype: type rules read it while tracing (int / int is the default float); NumPy's float64
        # for NumPy arrays (build_specialization traces under it)
        return tuple(self.treedefs), tuple(parts), nums, trace_float(self.leaves)

    def call(self, fn, flat: tuple):
        """``fn`` on the trees rebuilt from ``flat`` (one entry per leaf)."""
        trees, start = [], 0
        for treedef in self.treedefs:
            n = treedef.num_leaves
            trees.append(tree_unflatten(treedef, flat[start:start + n]))
            start += n
        return fn(*trees[:-1], **trees[-1])


class _ValueAndGrad:
    def __init__(self, fn, argnums):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.argnums = argnums
        self._cache: dict = {}
        self._fast: dict | None = None  # (default dtype, (shape, dtype) per array argument) -> plan (see _fast_call)
        self.what = "value_and_grad"  # the transform's name in messages (grad sets its own)

    def _check(self, layout: _Layout, nums: tuple) -> None:
        paths = [p for treedef in layout.treedefs for p in leaf_paths(treedef)]
        for j, (x, t) in enumerate(zip(layout.leaves, layout.types)):
            if layout.owner[j] in nums and (t is None or not t.is_floating):
                raise non_float_error(self.what, self.fn, layout.owner[j], layout.n_args, paths[j], x)

    def _spec(self, layout: _Layout, nums: tuple):
        spec = self._find_spec(layout, nums)
        if ACTIVE.stack:  # what fn's trace read guards the enclosing trace too (vmap(grad(f)), cached or not)
            enclosing = ACTIVE.stack[-1]
            for guard in spec.guards:
                enclosing.guard(*guard)
        return spec

    def _find_spec(self, layout: _Layout, nums: tuple):
        try:
            key = layout.key(nums)
        except TypeError:  # an unhashable static leaf: trace this call without caching it
            key = None
        spec = self._cache.get(key) if key is not None else None
        if spec is not None and _still_valid(spec) and not any(
                isinstance(c, SymbolicTensor) and c.tracer not in ACTIVE.stack for c in spec.captured):
            return spec  # (a value closed over from a trace that has ended is never reused)
        self._check(layout, nums)
        names = [n for i, (treedef, param) in enumerate(zip(layout.treedefs,
                                                            _param_names(self.fn, layout.n_args) + ["kwargs"]))
                 for n in _leaf_names(param, treedef)]
        value_shape = []

        user_fn = _converted(self.fn)  # its if/while on traced values become control-flow nodes

        def flat_fn(*flat):
            out = layout.call(user_fn, flat)
            if isinstance(out, (int, float, np.ndarray, np.generic)) and not isinstance(out, bool):
                # independent of the inputs: its gradient is zero (as in JAX; autograd warns)
                like = next(x for x in flat if isinstance(x, SymbolicTensor))
                arr = np.asarray(out, dtype=np.float64 if isinstance(out, int) else None)
                out = like._apply_here("constant", (), {"value": _nested(arr.tolist()), "dtype": dtype_name(arr.dtype)})
            # a one-element output is a scalar for grad, as in autograd: (1,) and (1, 1) are accepted
            if isinstance(out, (Tensor, SymbolicTensor)) and out.ndim and out.numel() == 1:
                value_shape.append(out.shape)
                out = out.reshape(())
            return out

        flat_fn.__name__ = getattr(self.fn, "__name__", "f")
        flags = [layout.owner[j] in nums for j in range(len(layout.leaves))]
        # the wrapper is not user code, so its own guards would miss the globals and closure cells fn reads
        guards = _closure_guards(self.fn)
        spec = build_specialization(flat_fn, tuple(layout.leaves), flags, seed="ones", names=names)
        spec.guards = _after_trace(guards, self.fn, spec.captured) + spec.guards
        spec.origin = _signature_text(self.fn)
        spec.value_shape = value_shape[0] if value_shape else ()
        if spec.draws:
            raise NotImplementedError("grad of a function that draws random numbers (gg.randn, gg.rand, ... or "
                                      "dropout in training mode) is not supported: draw them outside and pass them "
                                      "as arguments, or call .eval() on the module first")
        if spec.assigned:
            raise NotImplementedError("grad of a function that updates module buffers (a BatchNorm in training "
                                      "mode) is not supported: call .eval() on the module first")
        if spec.n_outputs != 1 or not spec.single:
            raise TypeError("grad requires a function returning a single scalar tensor")
        out = spec.stages["traced"].outputs[0]
        if out.type.shape != ():
            raise TypeError(f"grad requires a scalar output; {spec.forward.name} returns {out.type}")
        if not out.type.is_floating:  # a bool or an integer is piecewise constant: a zero gradient would hide it
            raise TypeError(f"grad requires a real-valued (floating point) output; {spec.forward.name} returns "
                            f"{out.type} (cast it, or return the floating-point value it is computed from)")
        if key is not None:
            self._cache[key] = spec
        return spec

    def _fast_call(self, args: tuple):
        """The common call, every argument a plain NumPy array whose (shape, dtype) signature was seen before:
        the specialization is found from that signature alone (its guards still checked) and the generated
        ``value_and_grad`` runs directly. None when the call is not of that kind."""
        key = [default_float()]  # as in _Layout.key
        for a in args:
            if a.__class__ is not np.ndarray:
                return None
            key.append((a.shape, a.dtype))
        plan = self._fast.get(tuple(key)) if self._fast else None
        if plan is None:
            return None
        spec, picks, single = plan
        module = spec.modules.get("joint")
        if module is None or not _still_valid(spec):
            return None
        arrays = list(args)
        if spec.captured:
            arrays += [c._data if isinstance(c, Tensor) else c for c in spec.captured]
        outs = _own_arrays(module.value_and_grad(*arrays), arrays)
        value = outs[0]
        if spec.value_shape != ():
            value = value.reshape(spec.value_shape)
        grads, given = [], set()
        for k in picks:
            g = outs[k]
            if id(g) in given:  # argnums=(0, 0): two gradients, not one array twice
                g = g.copy()
            given.add(id(g))
            grads.append(g)
        return value, (grads[0] if single else tuple(grads))

    def _remember_fast(self, args: tuple, nums: tuple, spec) -> None:
        """Record the fast path's plan for an all-array call that just took the full path."""
        if not all(a.__class__ is np.ndarray for a in args):
            return
        if any(not isinstance(c, (np.ndarray, Tensor)) for c in spec.captured):
            return  # values closed over from an enclosing trace: the full path decides how they are recorded
        position = {i: k + 1 for k, i in enumerate(spec.diff_inputs)}  # graph input -> index in the outputs
        if any(n not in position for n in nums):
            return
        plan = (spec, [position[n] for n in nums], isinstance(self.argnums, int))
        if self._fast is None:
            self._fast = {}
        self._fast[(default_float(), *((a.shape, a.dtype) for a in args))] = plan

    def graph(self, *args, stage: str = "optimized", **kwargs):
        """The IR for these arguments: ``stage`` "traced", "pruned", "adjoint" or "optimized" (the joint graph
        the generated ``value_and_grad`` computes)."""
        nums = _to_argnums(self.argnums, len(args))
        spec = self._spec(_Layout(args, kwargs, nums), nums)
        if stage not in spec.stages:
            raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(spec.stages)}")
        return spec.stages[stage]

    def source(self, *args, **kwargs) -> str:
        """The generated module (its function ``value_and_grad``) for these arguments."""
        joint = self.graph(*args, **kwargs)
        return module_source([(joint, "value_and_grad", f"{joint.name} and its gradients")], "numpy",
                             f"Generated by graphgrad: value and gradient of {joint.name}.")

    def __call__(self, *args, **kwargs):
        if not kwargs:
            fast = self._fast_call(args)
            if fast is not None:
                return fast
        nums = _to_argnums(self.argnums, len(args))
        layout = _Layout(args, kwargs, nums)
        if not layout.array_leaves:  # no array anywhere (grad(f)([])): nothing to trace, nothing to differentiate
            self._check(layout, nums)
            value = np.asarray(self.fn(*args, **kwargs))
            if value.ndim or value.dtype.kind not in "fiu":  # the checks a traced output gets (below)
                name = getattr(self.fn, "__name__", "f")
                raise TypeError(f"grad requires a real-valued scalar output; {name} returns {value.dtype}"
                                f"{list(value.shape)}")
            value = value.astype(np.float64)
            picked = [tree_unflatten(layout.treedefs[num], []) for num in nums]
            return value, (picked[0] if isinstance(self.argnums, int) else tuple(picked))
        spec = self._spec(layout, nums)
        if not kwargs:
            self._remember_fast(args, nums, spec)
        joint = spec.stages["optimized"]
        array_inputs = [layout.leaves[j] for j in layout.array_leaves]
        captured = [c for c in spec.captured if _arg_type(c) is not None]
        # symbolic captured values: fn closed over an enclosing trace's values (gg.grad(lambda w: loss(w, x)) under
        # vmap or compile); the innermost trace among them records
        tracers = [x.tracer for x in array_inputs + captured if isinstance(x, SymbolicTensor)]
        tracer = max(tracers, key=lambda t: ACTIVE.stack.index(t) if t in ACTIVE.stack else -1, default=None)
        symbolic = tracer is not None
        as_tensor = any(isinstance(x, Tensor) for x in array_inputs)
        history = as_tensor and is_grad_enabled() and any(
            isinstance(x, Tensor) and x._requires_grad for x in array_inputs + captured)
        if symbolic or history:
            # inside a trace (grad of grad) or on tensors with history: replay the joint graph through the
            # Tensor API, so the outer trace or the eager tape records it
            wrap = ((lambda x: x if isinstance(x, SymbolicTensor) else tracer.wrap(tracer.lift(x, "grad"))) if symbolic
                    else (lambda x: x if isinstance(x, Tensor) else Tensor._wrap(np.asarray(x))))
            # closed-over arrays are inputs of the joint graph: an input of the outer trace too, or a tensor
            arrays = [(tracer.wrap(tracer.lift(c, "grad")) if tracer is not None else Tensor._wrap(c))
                      if isinstance(c, np.ndarray) else c for c in captured]
            outs = interpret(joint, [wrap(x) for x in array_inputs] + arrays)
            if tracer is not None:  # a gradient that depends on constants only is a constant of the outer trace
                outs = [tracer.wrap(tracer.lift(o, "grad")) if isinstance(o, Tensor) else o for o in outs]
        else:
            module = spec.modules.get("joint")
            if module is None:
                module = spec.modules["joint"] = load_module(
                    module_source([(joint, "value_and_grad", f"{joint.name} and its gradients")], "numpy",
                                  f"Generated by graphgrad: value and gradient of {joint.name}.",
                                  check_types=check_types_enabled()), joint.name + "_vg")
            arrays = [x._data if isinstance(x, Tensor) else np.asarray(x) for x in array_inputs + captured]
            outs = _own_arrays(module.value_and_grad(*arrays), arrays)
            if as_tensor:
                outs = [Tensor._wrap(o) for o in outs]
        value, grads = outs[0], outs[1:]
        if spec.value_shape != ():
            value = value.reshape(spec.value_shape)
        by_leaf = {layout.array_leaves[i]: g for i, g in zip(spec.diff_inputs, grads) if i < len(layout.array_leaves)}
        picked, given = [], set()
        for num in nums:
            leaves = []
            for j in (j for j, owner in enumerate(layout.owner) if owner == num):
                g = by_leaf[j]
                if isinstance(g, np.ndarray):
                    if id(g) in given:  # argnums=(0, 0): two gradients, not one array twice
                        g = g.copy()
                    given.add(id(g))
                    if j in layout.scalars:
                        g = g[()]
                leaves.append(g)
            picked.append(tree_unflatten(layout.treedefs[num], leaves))
        return value, (picked[0] if isinstance(self.argnums, int) else tuple(picked))


def check_holomorphic(holomorphic: bool, what: str) -> None:
    """JAX's ``holomorphic`` flag: False (the default) is what graphgrad does; graphgrad has no complex dtypes."""
    if holomorphic:
        raise NotImplementedError(f"{what}(holomorphic=True): graphgrad has no complex dtypes; its derivatives are "
                                  f"of real functions (holomorphic=False)")


def value_and_grad(fn, argnums=0, has_aux: bool = False, holomorphic: bool = False):
    """``f -> (lambda *args: (f(*args), gradient of f w.r.t. args[argnums]))`` for a scalar ``f``.

    Arguments may be arrays, tensors, Python floats or tuples/lists/dicts of them; a gradient has its
    argument's structure. With ``has_aux=True`` (JAX's), ``f`` returns a pair ``(scalar, aux)``, and the result
    is ``((value, aux), gradient)``: ``aux`` (a pytree of arrays) is computed by the same graph but not
    differentiated.

    >>> import numpy as np, graphgrad as gg
    >>> gg.value_and_grad(lambda x: (x ** 2).sum())(np.array([1.0, 2.0]))
    (array(5.), array([2., 4.]))
    >>> gg.value_and_grad(lambda p: p["w"] * p["b"])({"w": np.array(3.0), "b": np.array(2.0)})
    (array(6.), {'w': array(2.), 'b': array(3.)})
    >>> (value, aux), g = gg.value_and_grad(lambda x: ((x ** 2).sum(), x.mean()), has_aux=True)(np.array([1.0, 2.0]))
    >>> value, aux, g
    (array(5.), array(1.5), array([2., 4.]))
    """
    check_holomorphic(holomorphic, "value_and_grad")
    if has_aux:
        return _with_aux(fn, argnums, "value_and_grad", lambda value_aux, grads: (value_aux, grads))
    return _ValueAndGrad(fn, argnums)


def grad(fn, argnums=0, has_aux: bool = False, holomorphic: bool = False):
    """The gradient of a scalar function, as a function (composable: ``grad(grad(f))``). With ``has_aux=True``
    (JAX's), ``f`` returns a pair ``(scalar, aux)`` and the result is ``(gradient, aux)``.

    >>> import numpy as np, graphgrad as gg
    >>> gg.grad(lambda x: (x ** 3).sum())(np.array([1.0, 2.0]))
    array([ 3., 12.])
    >>> print(gg.grad(lambda x: x ** 3)(2.0))
    12.0
    >>> gg.grad(lambda x: ((x ** 3).sum(), {"top": x.max()}), has_aux=True)(np.array([1.0, 2.0]))
    (array([ 3., 12.]), {'top': array(2.)})
    """
    check_holomorphic(holomorphic, "grad")
    if has_aux:
        return _with_aux(fn, argnums, "grad", lambda value_aux, grads: (grads, value_aux[1]))
    return _Grad(fn, argnums)


def _with_aux(fn, argnums, what: str, arrange):
    """``grad`` / ``value_and_grad`` with ``has_aux=True``: one staged graph computes value, aux and gradients
    (``jax_transforms.value_and_grad_with_aux``); ``arrange((value, aux), grads)`` orders them as JAX does. The
    gradient of a Python float or NumPy scalar is a scalar, as without aux."""
    from .jax_transforms import value_and_grad_with_aux

    staged = value_and_grad_with_aux(fn, argnums, what)

    @functools.wraps(fn)
    def call(*args, **kwargs):
        value_aux, grads = staged(*args, kwargs)
        nums = _to_argnums(argnums, len(args))
        scalar = [_as_differentiable(args[i]) is not args[i] for i in nums]
        picked = (grads,) if isinstance(argnums, int) else grads
        picked = tuple(g[()] if s and isinstance(g, np.ndarray) else g for g, s in zip(picked, scalar))
        return arrange(value_aux, picked[0] if isinstance(argnums, int) else picked)
    return call


class _Grad:
    """``grad(fn)``: the gradient part of ``value_and_grad(fn)``, with its ``graph`` and ``source``."""

    def __init__(self, fn, argnums):
        functools.update_wrapper(self, fn)
        self._vg = _ValueAndGrad(fn, argnums)
        self._vg.what = "grad"

    def __call__(self, *args, **kwargs):
        return self._vg(*args, **kwargs)[1]

    def graph(self, *args, stage: str = "optimized", **kwargs):
        """The joint value-and-gradient IR for these arguments (see ``value_and_grad(fn).graph``)."""
        return self._vg.graph(*args, stage=stage, **kwargs)

    def source(self, *args, **kwargs) -> str:
        """The generated module for these arguments."""
        return self._vg.source(*args, **kwargs)
