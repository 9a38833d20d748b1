"""Parse the printer's text form back into a Graph (no eval: literals go through ast.literal_eval).

Locations print as ``file:line`` with the file's base name only, so a parsed graph keeps that
shortened name; everything else round-trips exactly.
"""
from __future__ import annotations

import ast
import re

from .graph import Graph, Loc, Value
from .registry import OPS, encode_index
from .types import TensorType, TupleType
from .verify import verify

_HEADER = re.compile(r"^graph (?P<name>[\w.]+)\((?P<params>.*)\) \{$")
_NODE = re.compile(r"^%(?P<out>\w+): (?P<type>[\w]+\[[\d,]*\]|\([^)]*\))(?P<grad>\*?) = (?P<op>\w+)"
                   r"\((?P<args>.*)\)(?P<block> \{)?(?:\s+# (?P<comment>.*))?$")
_BLOCK = re.compile(r"^(?P<key>\w+)\((?P<params>.*)\) \{$")


class ParseError(ValueError):
    pass


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside brackets."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def _literal(text: str):
    special = {"inf": float("inf"), "-inf": float("-inf"), "nan": float("nan")}
    return special[text] if text in special else ast.literal_eval(text)


def _index(text: str) -> tuple:
    """``[1:, None, ..., [0, 2]]`` -> the encoded index tuple."""
    items = []
    for part in _split_top(text[1:-1]):
        if part == "...":
            items.append(Ellipsis)
        elif part.startswith("["):
            items.append(ast.literal_eval(part))
        elif ":" in part:
            bounds = [int(b) if b.strip() else None for b in part.split(":")]
            items.append(slice(*bounds))
        else:
            items.append(ast.literal_eval(part))
    return encode_index(tuple(items))


def parse_graph(text: str) -> Graph:
    """The inverse of ``str(graph)`` (control-flow nodes' nested blocks included); the result is verified."""
    lines = [ln.rstrip() for ln in text.strip().splitlines() if ln.strip() and not ln.strip().startswith("(*")]
    m = _HEADER.match(lines[0])
    if not m:
        raise ParseError(f"line 1: expected 'graph NAME(%x: f32[2], ...) {{', got {lines[0]!r}")
    g = _params(Graph(m["name"]), m["params"])
    _body(g, lines, 1)
    return verify(g)


def _params(g: Graph, params: str) -> Graph:
    for param in _split_top(params):
        name, _, ty = param.partition(": ")
        v = g.add_input(TensorType.parse(ty.rstrip("*")), name.lstrip("%"))
        v.requires_grad = ty.endswith("*")
    return g


def _body(g: Graph, lines: list, i: int) -> int:
    """Parse nodes into ``g`` from line ``i`` to its closing brace; returns the index after it."""
    env: dict[str, Value] = {v.name: v for v in g.inputs}
    while i < len(lines):
        lineno, line = i + 1, lines[i].strip()
        i += 1
        if line.startswith("return"):
            g.outputs = [env[r.strip().lstrip("%")] for r in line[len("return"):].split(",") if r.strip()]
            continue
        if line == "}":
            return i
        m = _NODE.match(line)
        if not m or m["op"] not in OPS:
            raise ParseError(f"line {lineno}: cannot parse {line!r}")
        inputs, attrs = [], {}
        for arg in _split_top(m["args"]):
            key, eq, value = arg.partition("=")
            if eq and key.isidentifier():
                attrs[key] = _index(value) if key == "index" else _literal(value)
            elif arg.startswith("%"):
                inputs.append(env[arg[1:]])
            else:
                inputs.append(_literal(arg))
        if m["block"]:  # sub-graphs, one `key(%params) { ... }` block each, then the node's closing brace
            while lines[i].strip() != "}":
                b = _BLOCK.match(lines[i].strip())
                if not b:
                    raise ParseError(f"line {i + 1}: expected a sub-graph block 'name(%x: f32[2]) {{'")
                sub = _params(Graph(b["key"]), b["params"])
                i = _body(sub, lines, i + 1)
                attrs[b["key"]] = sub
            i += 1
        loc = None
        comment = m["comment"] or ""
        role = "adjoint" if comment == "adjoint" else "forward"
        if re.fullmatch(r".+:\d+", comment):
            file, _, line_no = comment.rpartition(":")
            loc = Loc(file, int(line_no))
        ty = TupleType.parse(m["type"]) if m["type"].startswith("(") else TensorType.parse(m["type"])
        v = g.add_node(m["op"], inputs, attrs, ty, loc, role, m["out"])
        v.requires_grad = bool(m["grad"])
        env[m["out"]] = v
    return i
