"""Graph -> Python module source for the ``numpy``, ``cupy`` or ``numba`` backend.

One statement per node (a few ops add a setup line), named after the user's variables, with the
user's ``file:line`` and source text as a comment; intermediates are deleted at their last use (small ones in
groups: see ``HELD_BYTES``), an elementwise result is written into the buffer of an operand that dies there
(``h += b1``, ``np.tanh(h, out=h)``; ``_buffer_names`` says when it keeps the buffer's name) and constants are
built once, at module level (``ir/buffers.py`` says when either is safe).
The module imports only the array library and defines the functions NumPy lacks that its ops call (erf:
``ops/numpy_functions.py``), so it can be exported and run without graphgrad.
"""
from __future__ import annotations

import keyword
import linecache
import math
import os
import re

from ..ir.graph import _RESERVED, Graph, Value
from ..ir.registry import makes_new_array
from ..ir.types import TensorType, known_nbytes
from .expressions import (ANY_ARRAY_HELPERS, OP_HELPERS, STDLIB_IMPORTS, computed_dtype, computes_narrow, helper_source,
                          statements)
from ..ir.buffers import plan, ufunc_call
from .memory import into
from .numba import CALLS_LOOPS, loop_definitions

#: backend -> (the array module, its alias); ``numba`` writes NumPy code with fused regions as Numba loops
BACKENDS = {"numpy": ("numpy", "np"), "cupy": ("cupy", "cp"), "numba": ("numpy", "np")}


def _literal(x, xp: str) -> str:
    if isinstance(x, float) and not math.isfinite(x):
        return f"{xp}.nan" if math.isnan(x) else (f"{xp}.inf" if x > 0 else f"-{xp}.inf")
    return repr(x)


def _source_comment(node, last_loc: list, texts: dict) -> str:
    """``  # file.py:12: the source line`` (the text only when the line changes); ``texts`` caches each line."""
    loc = node.loc
    if loc is None:
        return ""
    if last_loc:  # [the previous node's loc, its short comment]: most nodes repeat the line before
        last = last_loc[0]
        if last is loc or last == loc:
            return last_loc[1]
    cached = texts.get(loc)
    if cached is None:
        if loc.file not in texts:  # once per file and module: comments quote the file as it is now
            texts[loc.file] = linecache.checkcache(loc.file)
        text = linecache.getline(loc.file, loc.line).strip()
        here = f"{os.path.basename(loc.file)}:{loc.line}"
        cached = texts[loc] = (f"  # {here}", f"  # {here}: {text}" if text else f"  # {here}")
    last_loc[:] = [loc, cached[0]]
    return cached[1]


def _numpy_dtype(node) -> str | None:
    """What NumPy computes for ``node``, where it may differ from the IR type: only an operand of another
    dtype than the result can make NumPy promote differently (int * 2.5, float32 + int64, exp(int)), or a bool
    result (bool ** True is int8 in NumPy)."""
    dtype = node.output.type.dtype
    if dtype != "bool" and all(x.__class__ is not Value or x.type.dtype == dtype for x in node.inputs):
        return None
    operands = tuple((x.type.ndim, x.type.dtype) if isinstance(x, Value) else x for x in node.inputs)
    try:
        return computed_dtype(node.op, tuple(node.attrs.items()), operands)
    except TypeError:  # attributes that cannot key the cache
        return None


def _type_check(name: str, value: Value, xp: str) -> str:
    """A line asserting that ``name`` holds an array of ``value``'s IR type (``GRAPHGRAD_CHECK_TYPES=1``)."""
    t = value.type
    return (f"assert {name}.shape == {tuple(t.shape)!r} and {name}.dtype == {xp}.dtype({t.dtype!r}), "
            f"f\"{name}: the IR says {t}, the array is {{{name}.dtype}}{{list({name}.shape)}}\"")


#: ops with sub-graphs (control flow) emit a block of statements instead of one expression:
#: op -> fn(node, targets, names, xp, emit) -> lines, where ``targets`` are the names the ``get`` nodes of the
#: result bind (None for unread outputs) and ``emit(graph, indent)`` the lines of a sub-graph's nodes
#: (registered by ``graphgrad.ops.control``)
BLOCKS: dict = {}


def _computes_in_own_dtype(node) -> bool:
    return _numpy_dtype(node) in (None, node.output.type.dtype)


def _promoted(nodes) -> set:
    """The nodes NumPy computes in another dtype than their IR dtype (``_computes_in_own_dtype`` of each, with
    the common case, every operand of the result's dtype, tested inline: it is most nodes of most graphs)."""
    found = set()
    for n in nodes:
        if n.op == "get" or n.op in BLOCKS:  # a block's tuple of results is no array
            continue
        dtype = n.output.type.dtype
        for x in n.inputs:
            # (a bool result from bool operands too: NumPy's bool ** True is int8)
            if x.__class__ is Value and (x.type.dtype != dtype or dtype == "bool"):
                if not _computes_in_own_dtype(n):
                    found.add(n)
                break
    return found


def _hoisted_line(n, names: dict, xp: str, texts: dict) -> str:
    """The module-level statement building constant node ``n`` once."""
    t = n.output.type
    if n.op == "full_like" and n.attrs["value"] == 0:  # (calloc'd: pages only read stay unmapped, any size)
        expr = f"{xp}.zeros({t.shape!r}, dtype={xp}.{t.dtype})"
    elif n.op == "full_like":  # the shape is fixed for this specialization
        expr = f"{xp}.full({t.shape!r}, {_literal(n.attrs['value'], xp)}, dtype={xp}.{t.dtype})"
    else:
        expr = statements(n.op, [], xp, names[n.output], n.attrs)[-1]
    return f"{names[n.output]} = {expr}{_source_comment(n, [], texts)}"


#: the NumPy ufuncs (of ops' ``ufunc=`` templates) whose loop against a scalar is slower than over two arrays
#: (``benchmarks/bench_scalar_blocks.py``): NumPy 2.4 takes 25-28 us for ``maximum(h, 0)`` of (128, 512) float32
#: numbers; against a row of 512 zeros 10 us on an AMD EPYC, 21 us on an Intel Xeon; against a block as large as
#: ``h`` 6 and 12 us. For float64 the Xeon took longer against the row than against the scalar (36 -> 41 us), so
#: only float32 reads a block. (add is as fast against a scalar: not listed)
_SCALAR_LOOP_SLOW = frozenset({"maximum", "minimum"})
#: a constant block has the trailing dimensions of the array against which it is broadcast, as few as make
#: _BLOCK_LEAST elements (NumPy's loop goes one block at a time), and none where those are more than _BLOCK_MOST
#: (what the module holds)
_BLOCK_LEAST, _BLOCK_MOST = 256, 16384
_UFUNC_OPERANDS = re.compile(r"(\w+)\((.*)\)")
_SLOW_UFUNC: dict = {}  # op -> (its ufunc's name, its operands' texts) if that is in _SCALAR_LOOP_SLOW, else None


def _block_shape(t: TensorType) -> tuple | None:
    """The shape of a constant block to broadcast against an array of type ``t``, or None: too small to gain."""
    if t.__class__ is not TensorType or t.dtype != "float32" or not known_nbytes(t):  # (dims not plain ints)
        return None
    size = 1
    for k in range(len(t.shape) - 1, -1, -1):
        size *= t.shape[k]
        if size >= _BLOCK_LEAST:
            return tuple(t.shape[k:]) if size <= _BLOCK_MOST else None
    return None


def _against_block(n, args: list, blocks: dict) -> tuple[str, list] | None:
    """``(ufunc name, operand texts)`` computing node ``n`` with its number operand read from a constant block
    (``np.maximum(h, zeros_512)``) where its ufunc's loop against a scalar is slow (``_SCALAR_LOOP_SLOW``);
    ``blocks`` collects each block's placeholder. None where that does not apply."""
    parsed = _SLOW_UFUNC.get(n.op, False)
    if parsed is False:
        template = ufunc_call(n.op)
        match = _UFUNC_OPERANDS.fullmatch(template) if template else None
        parsed = _SLOW_UFUNC[n.op] = ((match.group(1), match.group(2).split(", "))
                                      if match and match.group(1) in _SCALAR_LOOP_SLOW else None)
    if parsed is None:
        return None
    function, operands = parsed
    texts = [a.format(*args) for a in operands]
    values = [n.inputs[int(a[1:-1])] if a[0] == "{" else a for a in operands]
    arrays = [k for k, v in enumerate(values) if v.__class__ is Value]
    if len(arrays) != 1 or len(values) != 2 or values[arrays[0]].type != n.output.type:
        return None
    shape = _block_shape(n.output.type)
    if shape is None:
        return None
    number = texts[1 - arrays[0]]
    try:
        value = float(number)
    except ValueError:  # (nan, inf: spelled np.nan)
        return None
    key = (n.output.type.dtype, shape, value)
    if key not in blocks:
        blocks[key] = f"\0block{len(blocks)}\0"
    texts[1 - arrays[0]] = blocks[key]
    return function, texts


def _block_call(blocked: tuple[str, list], xp: str, buffer: str | None = None) -> str:
    """The ufunc call of ``_against_block``'s ``(name, operands)``, into ``buffer`` where given."""
    function, operands = blocked
    return f"{xp}.{function}({', '.join(operands)}{'' if buffer is None else f', out={buffer}'})"


def _block_definitions(blocks: dict, module_lines: list, xp: str) -> tuple[list, dict]:
    """The module-level lines building each constant block, and each placeholder's name: ``zeros_512``, with a
    suffix where ``module_lines`` (the functions, the other constants) use that name already."""
    text = "\n".join(module_lines)
    lines, names = [], {}
    for (dtype, shape, value), placeholder in blocks.items():
        kind = ("zeros" if value == 0 and math.copysign(1.0, value) > 0 else "ones" if value == 1  # (-0.0: full)
                else "full")
        name = f"{kind}_{'x'.join(map(str, shape))}"  # (float32 only: _block_shape)
        base, k = name, 0
        while re.search(rf"\b{name}\b", text) or name in names.values():
            k += 1
            name = f"{base}_{k}"
        names[placeholder] = name
        build = (f"{xp}.{kind}({shape!r}, dtype={xp}.{dtype})" if kind != "full"
                 else f"{xp}.full({shape!r}, {value!r}, dtype={xp}.{dtype})")
        lines.append(f"{name} = {build}")
    lines[:0] = ["# numbers that maximum and minimum read, as arrays: NumPy's loops for those are",
                 "# faster against an array than against a number"]
    return lines, names


def _has_subgraphs(graph: Graph) -> bool:
    """``ir.subgraphs.has_subgraphs``, without building a list per node (most nodes have no attributes)."""
    for n in graph.nodes:
        if n.attrs:
            for v in n.attrs.values():
                if isinstance(v, Graph):
                    return True
    return False


#: what ``Graph.value_names`` never keeps as a name: keywords, and the names generated code uses itself
#: (``_RESERVED``: read when used, as codegen's helpers reserve theirs when ``graphgrad.ops`` loads)
_KEYWORDS = frozenset(keyword.kwlist)
_PLAIN_NAMES = re.compile(r"(?:(?!__)[A-Za-z_][A-Za-z0-9_]*\n)*")


def _value_names(graph: Graph) -> dict:
    """``graph.value_names()``: where every value already has its own valid name (the compile pipeline names
    them all, forward and backward together), those, checked in a few C-level passes instead of one Python
    call per value."""
    values = list(graph.inputs)
    values += [n.output for n in graph.nodes]
    given = [v.name for v in values]
    if None not in given:
        unique = set(given)
        if len(unique) == len(given) and unique.isdisjoint(_KEYWORDS) and unique.isdisjoint(_RESERVED) \
                and _PLAIN_NAMES.fullmatch("\n".join(given) + "\n"):
            return dict(zip(values, given))
    return graph.value_names()


def function_source(graph: Graph, fn_name: str, xp: str, returns: str | None = None,
                    doc: str | None = None, check_types: bool = False, constants: list | None = None,
                    release=(), blocks: dict | None = None) -> str:
    """One Python function computing ``graph``; returns a tuple unless ``graph`` has one output.

    ``check_types``: assert every input's and every computed value's shape and dtype against the IR. With a
    ``constants`` list, the constants that can be built once are appended to it as module-level statements.
    ``release``: inputs of ``graph`` whose name is deleted at its last use, like an intermediate's (a backward's
    saved activations: a caller that hands them over holding no other reference gets their memory back there,
    as PyTorch's engine frees saved tensors node by node); small ones are deleted together, as intermediates are.
    ``blocks``: where given (NumPy), a number that a ufunc slow against scalars reads is read from a constant block
    instead, written as a placeholder that ``module_source`` names (``_against_block``). The function may call
    functions the array library lacks (``where``, ``erf``, ``check_range``: ``expressions.HELPERS``), which the
    module ``module_source`` writes defines: a runnable module is ``module_source``'s."""
    from ..ir.subgraphs import all_value_names

    names = all_value_names(graph) if _has_subgraphs(graph) else _value_names(graph)
    lines = [f"def {fn_name}({', '.join(names[v] for v in graph.inputs)}):"]
    if doc:
        lines.append(f'    """{doc}"""')
    if check_types:
        lines += [f"    {_type_check(names[v], v, xp)}" for v in graph.inputs]
    promoted = _promoted(graph.nodes)
    # the top level only: a loop body reassigns its values
    reuse, hoisted, joins = plan(graph, lambda n: n not in promoted)
    if constants is None:
        hoisted = set()
    texts: dict = {}
    constants = constants if constants is not None else []
    constants += [_hoisted_line(n, names, xp, texts) for n in graph.nodes if n in hoisted]
    release = {v for v in release if v.type.__class__ is TensorType}
    lines += _body_lines(graph, names, xp, "    ", [], top=True, texts=texts, check_types=check_types, reuse=reuse,
                         hoisted=hoisted, promoted=promoted, release=release, joins=joins, blocks=blocks)
    outs = [names[v] for v in graph.outputs]
    if returns is not None:
        lines.append(f"    return {returns}")
    else:
        lines.append(f"    return {', '.join(outs)}")
    return "\n".join(lines)


#: a dead intermediate array smaller than this (bytes, its object's header counted) may be left undeleted at its
#: last use: a ``del`` line costs more to compile than such an array is worth (a third of a chain's lines were
#: ``del`` of 128-byte arrays, and compile() of the module was a third of the compile time). It waits for one
#: ``del`` of many while that cannot raise the function's peak (``_room_to_hold``) and the waiting ones hold less
#: than this together. 4 KiB compiled a 10,000-op chain as fast as 16 KiB did (634 vs 636 ms).
HELD_BYTES = 4 * 1024
_ARRAY_OBJECT_BYTES = 112  # sys.getsizeof of an empty ndarray: the header a small array costs besides its data


def _small_bytes(v: Value) -> int:
    """The bytes ``v``'s array holds when it is a fresh array under ``HELD_BYTES`` (its node makes a new array:
    a view could hold a larger base alive) or an input released under that size, else 0: it is deleted at its
    last use."""
    node = v.node
    if node is not None and not makes_new_array(node.op):
        return 0
    size = known_nbytes(v.type)  # (0 for a tuple of results: deleted at its last use)
    return size + _ARRAY_OBJECT_BYTES if 0 < size < HELD_BYTES else 0


def _room_to_hold(graph: Graph, dying: list, reuse: dict, release, joins) -> list[int]:
    """For each node, the bytes of dead arrays that may be left undeleted from there on without raising the
    function's peak (nor ``HELD_BYTES``): the peak with every dead array deleted at once, less the most that is
    live at any later node. Where the peak comes early (a backward starts with every saved value), small dead arrays
    wait for a ``del`` of many only once enough has been freed. Bytes as ``_small_bytes`` counts them; views and
    loops count nothing."""
    def nbytes(v: Value) -> int:
        size = known_nbytes(v.type)
        return size + _ARRAY_OBJECT_BYTES if size else 0

    live = sum(nbytes(x) for x in release)
    during = []  # what is live while each node runs: its operands and its result
    for i, n in enumerate(graph.nodes):
        if n not in reuse and makes_new_array(n.op):
            live += nbytes(n.output)
        if joins is not None and n in joins.allocate:
            live += sum(nbytes(j.output) for j in joins.allocate[n])
        during.append(live)
        target = reuse.get(n)
        for x in dying[i] or ():
            if x is target:
                continue
            if x in release or makes_new_array(x.node.op):  # (a saved value's node is the forward's)
                live -= nbytes(x)
    room = during
    later = 0
    peak = max(during, default=0)
    for i in range(len(room) - 1, -1, -1):
        room[i], later = min(HELD_BYTES, peak - later), max(later, during[i])
    return room


def _is_temporary(name: str) -> bool:
    """``t12``: a value the user did not name (``ir.graph.name_assigner``)."""
    return name[0] == "t" and name[1:].isdigit()


def _variable(name: str) -> str:
    """The variable a name is a version of: ``y`` for ``y_3`` (``ir.graph.name_assigner``'s suffixes)."""
    base, sep, suffix = name.rpartition("_")
    return base if sep and suffix.isdigit() else name


def _buffer_names(reuse: dict, names: dict, outputs: set) -> set:
    """The nodes whose result is written into a dying operand's buffer (``reuse``) and keeps that buffer's name,
    renaming in ``names``: ``h = x @ w1; h += b1; np.maximum(h, 0, out=h)``, an expert's spelling, which is also
    what CPython compiles fastest (``h_1 = np.add(t1, b1, out=t1)`` is twice the tokens). A buffer keeps one name
    while its values are temporaries or versions of one variable (``y``, ``y_1``; in the forward, a run of
    temporaries takes the first variable's name, an output's too); a value with another variable's name, or
    another output, is assigned under its own."""
    # value -> [its buffer's name, whether that is a temporary's, its variable (None: not found yet)], one list
    # shared by the buffer's values
    chains: dict[Value, list] = {}
    joined = set()
    for n, x in reuse.items():  # (in the nodes' order)
        chain = chains.get(x)
        if chain is None:
            name = names[x]
            chain = chains[x] = [name, _is_temporary(name), None]
        out = n.output
        own = names[out]
        if chain[1] and n.role == "forward":  # not ``grad_h = t3 * t3`` in an adjoint
            chain[:] = own, _is_temporary(own), None
        elif out in outputs:  # returned under its own name (the backward's argument's)
            continue
        elif not _is_temporary(own):
            if chain[2] is None:
                chain[2] = _variable(chain[0])
            if _variable(own) != chain[2]:
                continue
        chains[out] = chain
        joined.add(n)
    for v, chain in chains.items():
        names[v] = chain[0]
    return joined


def _in_place(op: str, args: list, xp: str, buffer: str) -> str:
    """``op`` of ``args`` computed into ``buffer``, one of them, as a statement: ``y *= 0.9`` where ``op`` is an
    arithmetic operator and ``buffer`` its left operand, else ``np.tanh(y, out=y)``."""
    symbol = _AUGMENTED.get(op)
    if symbol is None:
        symbol = _AUGMENTED[op] = _operator_symbol(op)
    if symbol and args[0] == buffer:
        return f"{buffer} {symbol}= {args[1]}"
    return into(op, args, xp, buffer)


_AUGMENTED: dict = {}  # op -> its infix operator where it has an augmented assignment, else ""


def _operator_symbol(op: str) -> str:
    parts = statements(op, ["a", "b"], "np", "out", {})
    text = parts[-1].split(" ") if len(parts) == 1 else ()
    return text[1] if len(text) == 3 and text[0] == "a" and text[2] == "b" and text[1] in ("+", "-", "*", "/", "**") \
        else ""


def _body_lines(graph: Graph, names: dict, xp: str, indent: str, last_loc: list, top: bool = False,
                texts: dict | None = None, check_types: bool = False, reuse: dict | None = None,
                hoisted=frozenset(), promoted=None, release=frozenset(), joins=None,
                blocks: dict | None = None) -> list[str]:
    """The statements of ``graph``'s nodes; at the top level, intermediates are deleted at their last use as the
    module says (inside a block they live on, as a loop body reassigns them). ``reuse``: node -> the dying
    operand whose buffer receives its result; ``hoisted``: constant nodes built at module level instead;
    ``promoted``: node -> the dtype NumPy computes it in where that is not its IR dtype (None: find it);
    ``release``: inputs deleted at their last use too (see ``function_source``); ``joins``: the joins whose operands
    are computed into their rows (``ir.buffers.Joins``); ``blocks``: see ``function_source``."""
    texts = {} if texts is None else texts
    reuse = reuse or {}
    nodes = graph.nodes
    if promoted is None:
        promoted = _promoted(nodes)
    in_place = ()
    if reuse:  # buffers passed on by out= keep one name: ``y *= 0.9`` (names is the caller's: a copy)
        names = dict(names)
        in_place = _buffer_names(reuse, names, set(graph.outputs))
    getters: dict[Value, dict] = {}
    for n in nodes:
        if n.op == "get":
            getters.setdefault(n.inputs[0], {})[n.attrs["item"]] = names[n.output]
    keep = set(graph.inputs).difference(release)
    keep.update(graph.outputs)
    keep.update(n.output for n in hoisted)  # globals: never deleted in the function
    # the values that die at each node (read there for the last time), found walking back from the end
    dying: list = [None] * len(nodes)
    if top:
        seen = keep
        for i in range(len(nodes) - 1, -1, -1):
            for x in nodes[i].inputs:
                if x.__class__ is Value and x not in seen:
                    seen.add(x)
                    if dying[i] is None:
                        dying[i] = [x]
                    else:
                        dying[i].append(x)
    lines: list[str] = []
    append = lines.append
    aliases: dict[Value, list] = {}  # value -> the earlier names of its buffer, taken over by out= and not deleted
    held: list = []  # dead small arrays' names, not yet deleted
    held_bytes = 0
    room = _room_to_hold(graph, dying, reuse, release, joins) if top else None

    def emit(sub: Graph, sub_indent: str) -> list[str]:
        return _body_lines(sub, names, xp, sub_indent, last_loc, texts=texts, check_types=check_types)

    for i, n in enumerate(nodes):
        op = n.op
        if op == "get" or n in hoisted:  # bound by the block that computes the tuple; a module-level constant
            continue
        out = names[n.output]
        temps = None
        target = None
        if joins is not None and n in joins.allocate:  # joins whose first operand comes now: their buffers
            for j in joins.allocate[n]:
                t = j.output.type
                append(f"{indent}{names[j.output]} = {xp}.empty({tuple(t.shape)}, dtype={xp}.{t.dtype})")
        if joins is not None and n in joins.joins:  # its operands were computed into it
            pass
        elif joins is not None and n in joins.slots:  # computed into its rows of a join
            j, start, stop = joins.slots[n]
            args = [names[x] if x.__class__ is Value else _literal(x, xp) for x in n.inputs]
            blocked = _against_block(n, args, blocks) if blocks is not None and n not in promoted and \
                _SLOW_UFUNC.get(op, True) is not None else None
            append(f"{indent}{out} = {names[j.output]}[{start}:{stop}]")
            call = _block_call(blocked, xp, out) if blocked else into(op, args, xp, out)
            append(f"{indent}{call}{_source_comment(n, last_loc, texts)}")
            if check_types:
                append(f"{indent}{_type_check(out, n.output, xp)}")
        elif op in BLOCKS:
            count = len(n.output.type.types)
            targets = [getters.get(n.output, {}).get(k) for k in range(count)]
            block = BLOCKS[op](n, targets, names, xp, emit)
            append(f"{indent}{block[0]}{_source_comment(n, last_loc, texts)}")
            lines += [f"{indent}{line}" for line in block[1:]]
        else:
            args = [names[x] if x.__class__ is Value else _literal(x, xp) for x in n.inputs]
            # bool operands NumPy would compute in float16 or int8: cast first, as PyTorch computes (a bool result
            # is cast after, below)
            narrow = n in promoted and n.output.type.dtype != "bool" and computes_narrow(_numpy_dtype(n))
            if narrow:
                args = [f"{a}.astype({xp}.{n.output.type.dtype})" if x.__class__ is Value and x.type.dtype == "bool"
                        else a for a, x in zip(args, n.inputs)]
            target = reuse.get(n)
            # (_SLOW_UFUNC: an op known not to read a block costs one lookup, not a call)
            blocked = _against_block(n, args, blocks) if blocks is not None and \
                _SLOW_UFUNC.get(op, True) is not None and n not in promoted else None
            if n in in_place:  # the result goes into a dying operand's buffer, and keeps its name
                call = _block_call(blocked, xp, out) if blocked else _in_place(op, args, xp, out)
                append(f"{indent}{call}{_source_comment(n, last_loc, texts)}")
                expr = None
            elif target is not None:  # the result goes into a dying operand's buffer, under a name of its own
                expr = _block_call(blocked, xp, names[target]) if blocked else into(op, args, xp, names[target])
            elif blocked:
                expr = _block_call(blocked, xp)
            else:
                body = statements(op, args, xp, out, n.attrs)
                expr = body[-1]
                if len(body) > 1:  # setup statements: their names are deleted with the node's dead operands
                    temps = []
                    for stmt in body[:-1]:
                        append(f"{indent}{stmt}")
                        name = stmt.split(" = ")[0] if " = " in stmt else ""
                        if name.isidentifier():
                            temps.append(name)
            if expr is not None:
                if n in promoted and not narrow:  # NumPy promotes where PyTorch does not
                    expr = f"({expr}).astype({xp}.{n.output.type.dtype})"
                append(f"{indent}{out} = {expr}{_source_comment(n, last_loc, texts)}")
            if check_types:
                append(f"{indent}{_type_check(out, n.output, xp)}")
        died = dying[i]
        if died is None and not temps or not top:
            continue
        # del only what frees memory worth a line: not a name whose buffer out= just took over (it lives on
        # under the new name, which deletes it with itself), not a small array (until HELD_BYTES of them)
        dead = temps or []
        for x in died or ():
            named = aliases.pop(x, None)  # one list per buffer, grown in place: a chain of thousands of out=
            if x is target:
                if names[x] != out:  # the buffer's earlier name, deleted with the result's
                    if named is None:
                        named = [names[x]]
                    else:
                        named.append(names[x])
                if named:
                    aliases[n.output] = named
                continue
            if named is None:
                named = [names[x]]
            else:
                named.append(names[x])
            # (rows of a join are a view of it: held, they would hold the whole join)
            size = 0 if joins is not None and x.node in joins.slots else _small_bytes(x)
            if size and held_bytes + size <= room[i]:
                held += named
                held_bytes += size
            else:
                if size:  # (room ran out: all go)
                    dead += held
                    held, held_bytes = [], 0
                dead += named
        for k in range(0, len(dead), 16):  # lines of 16 names at most
            append(f"{indent}del {', '.join(dead[k:k + 16])}")
    return lines


def _helpers_called(graphs: list, backend: str = "numpy") -> list[str]:
    """The functions the array library lacks (``expressions.HELPERS``) that the expressions of these graphs' ops
    call, sub-graphs' included: a CuPy module's only those for any array (``ANY_ARRAY_HELPERS``)."""
    if not OP_HELPERS:
        return []
    from ..ir.subgraphs import subgraphs

    found: set = set()
    stack = list(graphs)
    while stack:
        g = stack.pop()
        for op in {n.op for n in g.nodes}.intersection(OP_HELPERS):
            found.update(OP_HELPERS[op])
        stack += [sub for n in g.nodes if n.attrs for _, sub in subgraphs(n)]
    return sorted(found if backend == "numpy" else found & ANY_ARRAY_HELPERS)


def module_source(functions: list[tuple[Graph, str, str | None]], backend: str = "numpy",
                  header: str = "", check_types: bool = False, release: dict | None = None) -> str:
    """A whole module: header comment, one import, then each ``(graph, name, docstring)``; ``release``: function
    name -> the inputs it deletes at their last use (``function_source``)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    module, xp = BACKENDS[backend]
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    constants: list = []
    release = release or {}
    blocks: dict | None = {} if xp == "np" else None  # (CuPy's kernels are as fast against a scalar)
    token = CALLS_LOOPS.set(backend == "numba")  # fused nodes: calls of the loops defined below
    try:
        bodies = [function_source(graph, name, xp, doc=doc, check_types=check_types, constants=constants,
                                  release=release.get(name, ()), blocks=blocks)
                  for graph, name, doc in functions]
    finally:
        CALLS_LOOPS.reset(token)
    if blocks:
        definitions, block_names = _block_definitions(blocks, bodies + constants, xp)
        for placeholder, name in block_names.items():
            bodies = [b.replace(placeholder, name) for b in bodies]
        constants = definitions + [""] * bool(constants) + constants
    if constants:  # built once, when the module loads; the functions only read them
        bodies.insert(0, "\n".join(dict.fromkeys(constants)))
    bodies[:0] = [helper_source(name) for name in _helpers_called([graph for graph, _, _ in functions],
                                                                  "cupy" if xp == "cp" else "numpy")]
    if backend == "cupy":  # fused regions' kernels: built once, at import (see codegen/cuda.py)
        from .cuda import kernel_definitions

        kernels = kernel_definitions([graph for graph, _, _ in functions], xp)
        if kernels:
            bodies.insert(0, "\n\n".join(kernels))
    if backend == "numba":  # fused regions' loops, compiled by Numba at their first call (see codegen/numba.py)
        loops = loop_definitions([graph for graph, _, _ in functions])
        if loops:
            bodies.insert(0, "\n\n\n".join(loops).replace("  # the same loop\n\n\n", "  # the same loop\n"))
    # the substring test first: a regex with a leading \b scans a large module ten times slower
    used = [m for m in STDLIB_IMPORTS if any(f"{m}." in b and re.search(rf"\b{m}\.", b) for b in bodies)]
    if used:  # (the header's promise, kept true: erf's helper calls math.erf on small arrays)
        comment = comment.replace(f"Imports only {module};", f"Imports only {module} and Python's {', '.join(used)};")
    stdlib = "".join(f"import {m}\n" for m in used)
    imports = f"import {module} as {xp}" + ("\nimport numba" if backend == "numba" else "")
    return "\n\n\n".join([f"{comment}{stdlib}{imports}"] + bodies) + "\n"
