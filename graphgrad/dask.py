"""Data-parallel compiled value and gradient on a Dask cluster (``pip install 'graphgrad[dask]'``).

``graphgrad.dask.value_and_grad(loss, argnums)`` takes parameters as NumPy arrays or tensors and data
as ``dask.array`` arrays chunked along their first (row) axis. It compiles ``loss`` once per block
shape (a worker runs a chunk in row blocks of about 1 MiB) through the ordinary pipeline, after
:mod:`graphgrad.passes.row_decomposition` has checked on the IR that the loss is a sum or mean over
rows of per-row terms plus parameter-only terms, and has rewritten it to compute one block's share.
The workers receive the generated module's *source* (it imports only NumPy, so they need neither
graphgrad nor a pickle of its objects), run it on their chunks and sum the chunks' values and
gradients in a tree on the cluster. Parameters travel once per step (scattered to every worker), not
once per chunk. A worker lost mid-step costs Dask a recomputation of its chunks; the tree's order is
fixed, so the result is the same to the bit.

>>> import numpy as np, dask.array as da, graphgrad.dask
>>> from dask.distributed import Client, LocalCluster
>>> cluster = LocalCluster(n_workers=1, processes=False, dashboard_address="127.0.0.1:0")  # in-process
>>> client = Client(cluster)
>>> def loss(w, x, y):
...     return ((x @ w - y) ** 2).mean()
>>> x = da.ones((10, 2), chunks=(4, 2)); y = da.zeros(10, chunks=4)
>>> value, grad = graphgrad.dask.value_and_grad(loss)(np.array([1.0, 2.0]), x, y)
>>> value, grad
(array(9.), array([6., 6.]))
>>> client.close(); cluster.close()
"""
from __future__ import annotations

import functools
import hashlib
import math
import time
from concurrent.futures import CancelledError
from dataclasses import dataclass

import numpy as np

try:
    import dask
    import dask.array as da
    from distributed import default_client
except ImportError as e:  # pragma: no cover - the message is the point
    raise ImportError("graphgrad.dask needs Dask: pip install 'graphgrad[dask]' (dask[distributed])") from e

from .codegen.python import module_source
from .passes.adjoint import generate_adjoint
from .passes.optimize import optimize
from .passes.prune import eliminate_dead_nodes, prune_by_requires_grad
from .passes.row_decomposition import RowCouplingError, check_row_count_free, decompose_rows
from .ir.registry import default_float_as
from .runtime.compiled import _arg_type, _param_names, _still_valid, build_specialization, trace_float
from .runtime.transforms import _to_argnums
from .runtime.tensor import Tensor

__all__ = ["ChunkError", "RowCouplingError", "StepTimings", "grad", "value_and_grad"]


class ChunkError(ValueError):
    """A data chunk cannot be used: it holds NaN or infinity, or its shape or dtype is not what its dask
    array declares. The message names the argument, the chunk and its rows."""


# -- what runs on the workers ---------------------------------------------------------------------
# Defined from source in a namespace no module holds, so cloudpickle sends these functions by value:
# a worker needs NumPy and Dask, not graphgrad. Loaded modules are cached per worker process by the
# hash of their source (in sys.modules, which outlives any one task).
_WORKER_SOURCE = '''
import hashlib
import sys
import types

import numpy as np

_MARK = "graphgrad.dask: "


def load(source):
    cache = sys.modules.get("_graphgrad_dask_modules")
    if cache is None:
        cache = sys.modules["_graphgrad_dask_modules"] = types.ModuleType("_graphgrad_dask_modules")
        cache.modules = {}
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    namespace = cache.modules.get(digest)
    if namespace is None:
        import linecache
        filename = "<graphgrad generated " + digest + ">"
        namespace = {"__name__": "graphgrad_generated_" + digest}
        exec(compile(source, filename, "exec"), namespace)
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        cache.modules[digest] = namespace
    return namespace["value_and_grad"]


def aligned(a):
    """``a`` in C order, aligned to its item size. Buffers that arrive over the network can start at any
    byte; on misaligned data NumPy's matmul skips BLAS and sums in another order, so a chunk recomputed on
    another worker after a fault would differ in the last bit. (Offsets that are multiples of the item
    size give the same bits, so aligned arrays are used as they are, without a copy.)"""
    return np.require(a, requirements=["C", "A"])


def run_chunk(sources, params, blocks, meta):
    """One chunk's (value, *gradients): its blocks checked against their declared shapes, then the generated
    module run on the row blocks ``meta["blocks"]`` ((start, stop) pairs; ``sources`` maps a row count to its
    module) and summed in order. Blocks keep the temporaries in cache and under malloc's mmap threshold."""
    start = meta["start"]
    rows = meta["rows"]
    where = "chunk %d (rows %d:%d)" % (meta["index"], start, start + rows)
    arrays = []
    for block, name, shape, dtype in zip(blocks, meta["data_names"], meta["shapes"], meta["dtypes"]):
        block = aligned(block)
        if block.shape != shape:
            raise ValueError(_MARK + "%s of argument `%s` has shape %s, but its dask array declares %s"
                             % (where, name, block.shape, shape))
        if block.dtype != np.dtype(dtype):
            raise ValueError(_MARK + "%s of argument `%s` has dtype %s, but its dask array declares %s"
                             % (where, name, block.dtype, dtype))
        arrays.append(block)
    params = [aligned(p) for p in params]
    outs = None
    for lo, hi in meta["blocks"]:
        inputs = [params[j] if kind == "p" else arrays[j][lo:hi] for kind, j in meta["order"]]
        share = meta["share"] if lo == 0 else 0.0
        part = load(sources[hi - lo])(*inputs, np.float64((hi - lo) / meta["total"]), np.float64(share))
        outs = part if outs is None else [a + b for a, b in zip(outs, part)]
    outs = tuple(np.asarray(o) for o in outs)
    if not all(np.isfinite(o).all() for o in outs):  # only then pay for a scan of the data
        for block, name in zip(arrays, meta["data_names"]):
            if block.dtype.kind == "f":
                bad = ~np.isfinite(block)
                if bad.any():
                    first = tuple(np.argwhere(bad)[0])
                    kind = "NaN" if np.isnan(block[first]) else "infinity"
                    raise ValueError(_MARK + "%s of argument `%s` holds %s (first at row %d)"
                                     % (where, name, kind, start + int(first[0])))
    return outs


def combine(*parts):
    """Sum the chunks' (value, *gradients) tuples, in the order given."""
    total = list(parts[0])
    for part in parts[1:]:
        total = [a + b for a, b in zip(total, part)]
    return tuple(total)
'''
_worker: dict = {"__name__": "graphgrad_dask_worker"}
exec(compile(_WORKER_SOURCE, "<graphgrad.dask worker>", "exec"), _worker)


@dataclass
class _Compiled:
    """One chunk shape's generated module and how the call's arguments feed it."""

    source: str
    order: list  # per module input: ("p", index into the scattered parameters) or ("d", index into the data)
    grad_positions: list  # argument position of each gradient the module returns
    spec: object = None  # kept when closed-over tensors or guards can make it stale


@dataclass
class StepTimings:
    """Where the last step's wall time went, in seconds (``value_and_grad(...).last_timings``)."""

    wall: float = 0.0
    compile: float = 0.0
    scatter: float = 0.0  # sending the parameters to every worker
    submit_and_wait: float = 0.0  # graph submission, chunk compute, transfers and the tree reduction
    chunks: int = 0
    attempts: int = 1  # more than 1 when the parameters had to be scattered again after workers died


def _is_dask(x) -> bool:
    return isinstance(x, da.Array)


def _probe(shape: tuple, dtype) -> np.ndarray:
    """A zero-stride array of this shape and dtype: typed like a chunk, costing no memory."""
    return np.lib.stride_tricks.as_strided(np.zeros(1, dtype), shape=shape, strides=(0,) * len(shape))


class DaskValueAndGrad:
    """``value_and_grad`` over ``dask.array`` data; see :func:`value_and_grad`."""

    def __init__(self, fn, argnums=0, client=None, split_every: int = 8, timeout: float | None = None,
                 retries: int = 1, block_bytes: int | None = 1 << 20):
        functools.update_wrapper(self, fn)
        if split_every < 2:
            raise ValueError(f"split_every must be at least 2, got {split_every}")
        self.fn = fn
        self.argnums = argnums
        self.client = client
        self.split_every = split_every
        self.timeout = timeout
        self.retries = retries
        self.block_bytes = block_bytes
        self._cache: dict = {}
        self.last_timings = StepTimings()

    # -- compilation ------------------------------------------------------------------------------
    def _names(self, n: int) -> list:
        return _param_names(self.fn, n)

    def _compile(self, args: tuple, nums: tuple, data: list, rows: int) -> _Compiled:
        """The module for chunks of ``rows`` rows (cached by every argument's type and ``rows``)."""
        key = (rows, nums) + tuple(("data", a.shape[1:], a.dtype.str) if i in data else
                                   (t.shape, t.dtype) if (t := _arg_type(a)) is not None else ("static", a)
                                   for i, a in enumerate(args))
        compiled = self._cache.get(key)
        if compiled is not None and (compiled.spec is None or _still_valid(compiled.spec)):
            return compiled
        name = getattr(self.fn, "__name__", "f")
        names = self._names(len(args))
        probes = [_probe((rows,) + tuple(a.shape[1:]), a.dtype) if i in data else
                  (a._data if isinstance(a, Tensor) else a) for i, a in enumerate(args)]
        for i in nums:
            t = _arg_type(probes[i])
            if t is None or not t.is_floating:
                raise TypeError(f"grad: argument {i} ({names[i]}) of {name} must be a floating point tensor or "
                                f"array, got {t or type(args[i]).__name__}")
        # the ordinary trace (and its checks); the passes after it run on the row-decomposed graph below, under the
        # default float dtype it was traced under (chunks are NumPy arrays: NumPy's float64, trace_float)
        with default_float_as(trace_float(probes)):
            return self._build(args, nums, data, rows, key, probes, names, name)

    def _build(self, args, nums, data, rows, key, probes, names, name) -> _Compiled:
        spec = build_specialization(self.fn, tuple(probes), [i in nums for i in range(len(args))])
        traced = spec.stages["traced"]
        positions = [i for i, a in enumerate(args) if _arg_type(probes[i]) is not None]
        n_captured = len(traced.inputs) - len(positions)
        if spec.draws:  # (its random masks, one entry per row, would read as parameters indexed by row)
            raise NotImplementedError(f"{name} draws random numbers (dropout in training mode): chunks would "
                                      "draw differently from one machine; call .eval() first")
        # before the buffer check: a batch norm in training mode is refused for coupling rows, its real fault
        row_flags = [p in data for p in positions] + [False] * n_captured
        graph = decompose_rows(traced, row_flags)
        # a second trace for another row count: a loss that reads the rows of its block (`sum / len(x)`) differs
        other = [_probe((rows + 1,) + tuple(a.shape[1:]), a.dtype) if i in data else p for i, (a, p) in
                 enumerate(zip(args, probes))]
        try:
            other = build_specialization(self.fn, tuple(other), [i in nums for i in range(len(args))])
        except Exception as e:
            raise RowCouplingError(None, f"{name} traces for a block of {rows} rows but fails for {rows + 1} rows "
                                         f"({type(e).__name__}: {e}); it must not depend on the rows of a chunk") from e
        check_row_count_free(traced, row_flags, other.stages["traced"], rows, rows + 1)
        if spec.assigned:
            raise NotImplementedError(f"{name} updates module buffers: call .eval() on the module first")
        if spec.n_outputs != 1 or not spec.single or traced.outputs[0].type.shape != ():
            raise TypeError(f"grad requires a function returning a single scalar tensor; {name} returns "
                            f"{', '.join(str(v.type) for v in traced.outputs)}")
        pruned = eliminate_dead_nodes(prune_by_requires_grad(graph))
        joint = optimize(generate_adjoint(pruned, seed="ones"))
        for value, value_name in joint.value_names().items():
            value.name = value_name
        header = (f"Generated by graphgrad.dask from {name} ({getattr(spec, 'origin', '?')}): one block of rows' "
                  f"share of the loss and its gradients.\nBlock of {rows} rows. row_weight = the block's rows / all "
                  "rows (scales means over rows);\nparam_share = 1 for one block, 0 for the others (counts "
                  "parameter-only terms once).\nImports only numpy; the blocks' outputs sum to the whole data "
                  "set's.")
        doc = f"{name} on one block of rows, and its gradients"
        source = module_source([(joint, "value_and_grad", doc)], "numpy", header)
        n_params = 0
        order = []
        data_index = {p: k for k, p in enumerate(data)}
        for p in positions:
            if p in data_index:
                order.append(("d", data_index[p]))
            else:
                order.append(("p", n_params))
                n_params += 1
        order += [("p", n_params + k) for k in range(n_captured)]
        diff = [i for i, v in enumerate(pruned.inputs) if v.requires_grad]
        grad_positions = [positions[i] if i < len(positions) else None for i in diff]
        compiled = _Compiled(source, order, grad_positions, spec if spec.captured or spec.guards else None)
        self._cache[key] = compiled
        return compiled

    def _block(self, args: tuple, data: list, chunks: tuple) -> int:
        """Rows per block within a chunk: about ``block_bytes`` of data (at least two rows, see ``_blocks``)."""
        if self.block_bytes is None:
            return max(chunks)
        per_row = sum(args[i].dtype.itemsize * math.prod(args[i].shape[1:]) for i in data)
        return max(2, self.block_bytes // max(per_row, 1))

    def source(self, *args, rows: int | None = None) -> str:
        """The generated module the workers run on blocks of ``rows`` rows (default: the first block's)."""
        nums, data, chunks = self._prepare(args)
        return self._compile(args, nums, data, rows or _blocks(chunks[0], self._block(args, data, chunks))[0][1]).source

    # -- a step -----------------------------------------------------------------------------------
    def _prepare(self, args: tuple):
        nums = _to_argnums(self.argnums, len(args))
        names = self._names(len(args))
        data = [i for i, a in enumerate(args) if _is_dask(a)]
        if not data:
            raise TypeError(f"graphgrad.dask: no argument of {getattr(self.fn, '__name__', 'f')} is a dask array; "
                            "pass the data as dask.array arrays chunked along rows")
        for i in nums:
            if i in data:
                raise TypeError(f"graphgrad.dask: argnums includes {i} ({names[i]}), a dask array; gradients are "
                                "taken with respect to parameters (NumPy arrays or tensors), not data")
        for i, a in enumerate(args):
            if i not in data and _arg_type(a) is None:
                try:
                    hash(a)
                except TypeError:  # a pytree of parameters (gg.value_and_grad takes them; this does not yet)
                    raise TypeError(f"graphgrad.dask: argument {names[i]} is a {type(a).__name__}; pass each parameter "
                                    "as its own NumPy array or tensor argument (containers of them are not supported),"
                                    " and static values that are hashable") from None
        first = args[data[0]]
        for i in data:
            a = args[i]
            if a.ndim == 0:
                raise ValueError(f"graphgrad.dask: data argument {names[i]} is 0-d; data needs a row axis")
            if any(math.isnan(c) for c in a.chunks[0]):
                raise ValueError(f"graphgrad.dask: {names[i]} has unknown chunk sizes {a.chunks[0]}; call "
                                 f"{names[i]}.compute_chunk_sizes() first")
            if a.shape[0] != first.shape[0]:
                raise ValueError(f"graphgrad.dask: data arguments {names[data[0]]} ({first.shape[0]} rows) and "
                                 f"{names[i]} ({a.shape[0]} rows) must have the same number of rows")
        if first.shape[0] == 0:
            raise ValueError(f"graphgrad.dask: the data ({names[data[0]]}: {first.shape}) has no rows")
        return nums, data, _no_single_rows(first.chunks[0])

    def _client(self):
        return self.client if self.client is not None else default_client()

    def __call__(self, *args):
        start = time.perf_counter()
        nums, data, chunks = self._prepare(args)
        names = self._names(len(args))
        total = sum(chunks)
        block = self._block(args, data, chunks)
        bounds = [_blocks(rows, block) for rows in chunks]
        sizes = {hi - lo for chunk in bounds for lo, hi in chunk}
        modules = {rows: self._compile(args, nums, data, rows) for rows in sorted(sizes)}
        compiled_at = time.perf_counter()
        client = self._client()
        # every data argument chunked like the first along rows, and whole along its other axes
        blocks = [args[i].rechunk((chunks,) + tuple((d,) for d in args[i].shape[1:])).to_delayed().reshape(-1)
                  for i in data]
        first = next(iter(modules.values()))
        captured = first.spec.captured if first.spec is not None else []
        params = [a._data if isinstance(a, Tensor) else np.asarray(a) for i, a in enumerate(args)
                  if i not in data and _arg_type(a) is not None]
        params += [c._data if isinstance(c, Tensor) else np.asarray(c) for c in captured if _arg_type(c) is not None]
        sources = {rows: dask.delayed(m.source, name=f"graphgrad-source-{_digest(m.source)}")
                   for rows, m in modules.items()}
        run, add = dask.delayed(_worker["run_chunk"], pure=True), dask.delayed(_worker["combine"], pure=True)

        def tree(futures):
            parts, offset = [], 0
            for k, rows in enumerate(chunks):
                meta = {"index": k, "start": offset, "rows": rows, "blocks": bounds[k], "total": total,
                        "order": first.order, "data_names": [names[i] for i in data], "share": 1.0 if k == 0 else 0.0,
                        "shapes": [(rows,) + tuple(args[i].shape[1:]) for i in data],
                        "dtypes": [args[i].dtype.str for i in data]}
                needed = {n: sources[n] for n in {hi - lo for lo, hi in bounds[k]}}
                parts.append(run(needed, futures, [b[k] for b in blocks], meta))
                offset += rows
            while len(parts) > 1:  # a tree of fixed shape: the same sums in the same order on every run
                parts = [add(*parts[i:i + self.split_every]) if len(parts[i:i + self.split_every]) > 1 else parts[i]
                         for i in range(0, len(parts), self.split_every)]
            return parts[0]

        scatter_time = 0.0
        for attempt in range(self.retries + 1):
            try:
                outs, seconds = self._run(client, params, tree)
                scatter_time += seconds
                break
            except CancelledError:
                # Dask recomputes lost chunks itself; what it cannot recompute is the scattered parameters, lost
                # when every worker holding them died: send them again once a worker is back
                if attempt == self.retries:
                    raise
                client.wait_for_workers(1, timeout=self.timeout)
        done = time.perf_counter()
        self.last_timings = StepTimings(done - start, compiled_at - start, scatter_time,
                                        done - compiled_at - scatter_time, len(chunks), attempt + 1)
        as_tensor = any(isinstance(a, Tensor) for a in args)
        wrap = (lambda o: Tensor._wrap(np.asarray(o))) if as_tensor else np.asarray
        value = wrap(outs[0])
        by_arg = {p: wrap(g) for p, g in zip(first.grad_positions, outs[1:]) if p is not None}
        picked = tuple(by_arg[i] for i in nums)
        return value, (picked[0] if isinstance(self.argnums, int) else picked)

    def _run(self, client, params: list, tree) -> tuple:
        """Scatter the parameters to every worker, run the chunks and the reduction; (outputs, scatter seconds)."""
        start = time.perf_counter()
        futures = client.scatter(params, broadcast=True, hash=False) if params else []
        scattered = time.perf_counter() - start
        future = client.compute(tree(futures))
        try:
            return future.result(timeout=self.timeout), scattered
        except ValueError as e:
            if str(e).startswith("graphgrad.dask: "):
                raise ChunkError(str(e)[len("graphgrad.dask: "):]) from None
            raise
        finally:
            future.release()
            for f in futures:
                f.release()


def _no_single_rows(chunks: tuple) -> tuple:
    """Row chunks without a chunk of one row (merged into the chunk before it, or after it for the first), unless
    the data has one row. A block of one row is ambiguous: `(x @ w).squeeze()` drops its row axis, and
    `x.unsqueeze(0)` could put the rows on axis 0 or 1, so its trace would not be the whole data's loss."""
    merged = [rows for rows in chunks if rows > 0]
    k = 0
    while len(merged) > 1 and k < len(merged):
        if merged[k] == 1:
            other = k - 1 if k > 0 else k + 1
            merged[other] += 1
            del merged[k]
        else:
            k += 1
    return tuple(merged)


def _blocks(rows: int, block: int) -> list:
    """(start, stop) of each row block of a chunk of ``rows`` rows: ``block`` rows each; a remainder of one row
    joins the last block (see ``_no_single_rows``)."""
    bounds = [(lo, min(lo + block, rows)) for lo in range(0, rows, block)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], rows)]
    return bounds


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def value_and_grad(fn, argnums=0, *, client=None, split_every: int = 8, timeout: float | None = None,
                   retries: int = 1, block_bytes: int | None = 1 << 20) -> DaskValueAndGrad:
    """``f -> (lambda *args: (f(*args), gradient w.r.t. args[argnums]))``, data-parallel over dask arrays.

    Arguments that are ``dask.array`` arrays are data, chunked along their first axis (all with the
    same rows); the others are parameters (NumPy arrays or tensors, sent to the workers once per
    step) or static Python values. ``fn`` must be a sum or mean over the rows of per-row terms,
    plus terms of the parameters alone; anything that couples rows raises
    :class:`RowCouplingError` naming the node and your source line. A chunk holding NaN or of the
    wrong shape raises :class:`ChunkError`. ``client`` defaults to the current Dask client;
    ``split_every`` is the fan-in of the reduction tree; ``timeout`` bounds a step's wait in seconds;
    ``retries`` is how many times a step is resubmitted when its scattered parameters were lost with
    every worker that held them (a lost chunk is recomputed by Dask without it). A worker runs a chunk
    in blocks of about ``block_bytes`` of data (None: whole chunks), which keeps temporaries in cache.
    The example at the top of :mod:`graphgrad.dask` runs it on a local cluster.
    """
    return DaskValueAndGrad(fn, argnums, client, split_every, timeout, retries, block_bytes)


def grad(fn, argnums=0, **options):
    """The gradient alone of :func:`value_and_grad` (same arguments)."""
    vg = DaskValueAndGrad(fn, argnums, **options)

    @functools.wraps(fn)
    def gradient(*args):
        return vg(*args)[1]

    gradient.value_and_grad = vg
    return gradient
