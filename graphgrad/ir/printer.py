"""Text, DOT and JSON forms of a Graph. JSON round-trips exactly, without eval or pickle."""
from __future__ import annotations

import json
import math

from .graph import Graph, Loc, Value
from .registry import decode_index
from .types import TensorType, TupleType


def format_literal(x) -> str:
    """A Python scalar as source text (``inf``/``nan`` spelt so the text stays valid Python)."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return repr(x)


def format_index(index: tuple) -> str:
    parts = []
    for item in decode_index(index):
        if isinstance(item, slice):
            s = "" if item.start is None else str(item.start)
            s += ":" + ("" if item.stop is None else str(item.stop))
            if item.step is not None:
                s += f":{item.step}"
            parts.append(s)
        elif item is Ellipsis:
            parts.append("...")
        elif item is None:
            parts.append("None")
        elif hasattr(item, "tolist"):
            parts.append(repr(item.tolist()))
        else:
            parts.append(repr(item))
    return "[" + ", ".join(parts) + "]"


def format_attr(key: str, value) -> str:
    if key == "index":
        return f"index={format_index(value)}"
    return f"{key}={format_literal(value) if isinstance(value, float) else repr(value)}"


def format_graph(graph: Graph, names: dict | None = None) -> str:
    """One line per node: ``%name: type = op(args, attrs)   # file:line``; a control-flow node's sub-graphs
    follow it as indented blocks (``true(%x: f32[3]) { ... }``)."""
    from .subgraphs import all_value_names, has_subgraphs

    names = names or (all_value_names(graph) if has_subgraphs(graph) else graph.value_names())

    def decl(v: Value) -> str:
        return f"%{names[v]}: {v.type}" + ("*" if v.requires_grad else "")

    lines = [f"graph {graph.name}({', '.join(decl(v) for v in graph.inputs)}) {{"]
    lines += _format_body(graph, names, "  ")
    lines.append("}")
    legend = "  (* marks values that require grad)" if any(
        v.requires_grad for v in graph.inputs + [n.output for n in graph.nodes]) else None
    return "\n".join(lines + ([legend] if legend else []))


def _format_body(graph: Graph, names: dict, indent: str) -> list[str]:
    def ref(x):
        return f"%{names[x]}" if isinstance(x, Value) else format_literal(x)

    def decl(v: Value) -> str:
        return f"%{names[v]}: {v.type}" + ("*" if v.requires_grad else "")

    body: list = []  # (code, comment) or a finished nested line (str)
    for n in graph.nodes:
        blocks = [(k, v) for k, v in n.attrs.items() if isinstance(v, Graph)]
        args = [ref(x) for x in n.inputs] + [format_attr(k, v) for k, v in n.attrs.items() if not isinstance(v, Graph)]
        body.append((f"{indent}{decl(n.output)} = {n.op}({', '.join(args)})" + (" {" if blocks else ""),
                     f"# {n.loc}" if n.loc else ("# adjoint" if n.role == "adjoint" else "")))
        for key, sub in blocks:
            body.append(f"{indent}  {key}({', '.join(decl(v) for v in sub.inputs)}) {{")
            body.extend(_format_body(sub, names, indent + "    "))
            body.append(f"{indent}  }}")
        if blocks:
            body.append(f"{indent}}}")
    width = max((len(b[0]) for b in body if isinstance(b, tuple)), default=0)
    lines = [b if isinstance(b, str) else f"{b[0]:<{width}}  {b[1]}".rstrip() for b in body]
    lines.append(f"{indent}return {', '.join(ref(v) for v in graph.outputs)}")
    return lines


#: fill colours of the DOT export, so forward and adjoint work are told apart at a glance
DOT_COLORS = {"forward": "#dbe8f7", "adjoint": "#fde2e2", "no_grad": "#eeeeee", "no_grad_line": "#9a9a9a"}
DOT_LEGEND = ("blue: forward, red: adjoint (backward), grey: inputs that need no gradient and forward nodes off the "
              "gradient path (pruned from the backward)")


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_body(graph: Graph, prefix: str = "") -> list[str]:
    """Node and edge statements for ``graph``, their ids prefixed (so several graphs share one document)."""
    names = graph.value_names()
    # a joint graph's inputs are primal values then cotangents; a backward graph's, saved values then cotangents
    n_saved = graph.meta.get("n_saved")
    n_primal = graph.meta.get("n_primal", len(graph.inputs)) if n_saved is None else n_saved
    grey = DOT_COLORS["no_grad_line"]

    def node_id(v) -> str:
        return _dot_quote(prefix + names[v])

    # once pruning has marked the gradient path, forward nodes off it are drawn grey-edged: no backward for them
    # (not in a backward graph: the forward work there is recomputation the backward needs)
    marked = n_saved is None and any(n.output.requires_grad for n in graph.nodes)
    out, greyed = [], set()
    for i, v in enumerate(graph.inputs):
        label = f"{names[v]}\\n{v.type}"
        if i >= n_primal:  # a cotangent fed to the backward: adjoint work
            style = f'style=filled, fillcolor="{DOT_COLORS["adjoint"]}"'
        elif n_saved is not None:  # a forward value the backward reads
            style = f'style=filled, fillcolor="{DOT_COLORS["forward"]}"'
        elif v.requires_grad:
            style = f'style="filled,bold", fillcolor="{DOT_COLORS["forward"]}"'
        else:  # no gradient flows to it: pruning keeps its part of the backward out
            style = f'style=filled, fillcolor="{DOT_COLORS["no_grad"]}", color="{grey}", fontcolor="{grey}"'
            greyed.add(v)
        out.append(f'  {node_id(v)} [shape=ellipse, label="{label}", {style}];')
    for n in graph.nodes:
        v = n.output
        role = "adjoint" if n.role == "adjoint" else "forward"
        extra = f", tooltip={_dot_quote(str(n.loc))}" if n.loc else ""
        if role == "forward" and marked and not v.requires_grad:
            extra += f', color="{grey}", fontcolor="{grey}"'
            greyed.add(v)
        out.append(f'  {node_id(v)} [shape=box, label="{names[v]} = {n.op}\\n{v.type}", style=filled, '
                   f'fillcolor="{DOT_COLORS[role]}"{extra}];')
        for x in n.value_inputs():
            edge = f' [color="{grey}"]' if x in greyed else ""
            out.append(f"  {node_id(x)} -> {node_id(v)}{edge};")
    out_names = graph.output_names or []
    for i, v in enumerate(graph.outputs):
        label = out_names[i] if i < len(out_names) and out_names[i] else f"output {i}"
        out.append(f'  {_dot_quote(f"{prefix}out{i}")} [shape=plaintext, label={_dot_quote(label)}];')
        out.append(f'  {node_id(v)} -> {_dot_quote(f"{prefix}out{i}")};')
    return out


def to_dot(graph: Graph) -> str:
    """Graphviz DOT: values as boxes labelled with op and type, inputs as ellipses; forward nodes blue, adjoint
    nodes red, inputs that need no gradient (the ones pruning cuts out of the backward) grey.

    >>> from graphgrad.ir import Graph, TensorType
    >>> g = Graph("f"); x = g.add_input(TensorType((3,), "float32"), "x")
    >>> g.outputs = [g.add_node("exp", [x], {}, TensorType((3,), "float32"), name="y")]
    >>> print("\\n".join(to_dot(g).splitlines()[4:7]))
      "x" [shape=ellipse, label="x\\nf32[3]", style=filled, fillcolor="#eeeeee", color="#9a9a9a", fontcolor="#9a9a9a"];
      "y" [shape=box, label="y = exp\\nf32[3]", style=filled, fillcolor="#dbe8f7"];
      "x" -> "y" [color="#9a9a9a"];
    """
    out = [f"digraph {_dot_quote(graph.name)} {{", "  rankdir=TB;", '  node [fontname="monospace"];',
           f"  label={_dot_quote(DOT_LEGEND)}; labelloc=b; fontname=\"sans-serif\"; fontsize=10;"]
    return "\n".join(out + _dot_body(graph) + ["}"])


def to_dot_stages(graphs: dict) -> str:
    """One DOT document with a box (cluster) per stage, e.g. ``{"traced": g1, "optimized": g2}``: what
    ``graphgrad dump --stage all --format svg`` draws, since one picture holds one graph."""
    name = next(iter(graphs.values())).name if graphs else "graph"
    out = [f"digraph {_dot_quote(name)} {{", "  rankdir=TB;", '  node [fontname="monospace"];',
           f"  label={_dot_quote(DOT_LEGEND)}; labelloc=b; fontname=\"sans-serif\"; fontsize=10;"]
    for stage, graph in graphs.items():
        out.append(f"  subgraph {_dot_quote('cluster_' + stage)} {{")
        out.append(f"    label={_dot_quote(stage)}; labelloc=t; fontsize=14; color=\"#bbbbbb\";")
        out += ["  " + line for line in _dot_body(graph, prefix=f"{stage}:")]
        out.append("  }")
    out.append("}")
    return "\n".join(out)


def _jsonable(x):
    if isinstance(x, tuple):
        return {"tuple": [_jsonable(i) for i in x]}
    if isinstance(x, float) and not math.isfinite(x):
        return {"float": format_literal(x)}
    return x


def _from_jsonable(x):
    if isinstance(x, dict):
        if "tuple" in x:
            return tuple(_from_jsonable(i) for i in x["tuple"])
        if "float" in x:
            return float(x["float"])
    return x


def to_json(graph: Graph) -> str:
    """The graph as JSON; a control-flow node's sub-graphs nest as ``{"subgraph": {...}}`` attributes."""
    return json.dumps(_graph_doc(graph), indent=1)


def _graph_doc(graph: Graph) -> dict:
    names = graph.value_names()
    ids = {v: i for i, v in enumerate(graph.inputs + [n.output for n in graph.nodes])}

    def value(v: Value) -> dict:
        return {"id": ids[v], "name": names[v], "type": str(v.type), "requires_grad": v.requires_grad}

    def attr(a):
        return {"subgraph": _graph_doc(a)} if isinstance(a, Graph) else _jsonable(a)

    return {
        "graph": graph.name,
        "inputs": [value(v) for v in graph.inputs],
        "nodes": [{
            "op": n.op,
            "inputs": [{"value": ids[x]} if isinstance(x, Value) else {"literal": _jsonable(x)} for x in n.inputs],
            "attrs": {k: attr(v) for k, v in n.attrs.items()},
            "output": value(n.output),
            "loc": [n.loc.file, n.loc.line] if n.loc else None,
            "role": n.role,
        } for n in graph.nodes],
        "outputs": [ids[v] for v in graph.outputs],
        "output_names": graph.output_names,
    }


def _parse_type(text: str):
    return TupleType.parse(text) if text.startswith("(") else TensorType.parse(text)


def from_json(text: str) -> Graph:
    """Rebuild a Graph written by ``to_json``; the result is verified."""
    from .verify import verify

    return verify(_graph_from_doc(json.loads(text)))


def _graph_from_doc(doc: dict) -> Graph:
    g = Graph(doc["graph"], output_names=doc.get("output_names"))
    values: dict[int, Value] = {}
    for d in doc["inputs"]:
        v = g.add_input(TensorType.parse(d["type"]), d["name"])
        v.requires_grad = d["requires_grad"]
        values[d["id"]] = v

    def attr(a):
        return _graph_from_doc(a["subgraph"]) if isinstance(a, dict) and "subgraph" in a else _from_jsonable(a)

    for nd in doc["nodes"]:
        ins = [values[x["value"]] if "value" in x else _from_jsonable(x["literal"]) for x in nd["inputs"]]
        o = nd["output"]
        v = g.add_node(nd["op"], ins, {k: attr(a) for k, a in nd["attrs"].items()},
                       _parse_type(o["type"]), Loc(*nd["loc"]) if nd["loc"] else None, nd["role"], o["name"])
        v.requires_grad = o["requires_grad"]
        values[o["id"]] = v
    g.outputs = [values[i] for i in doc["outputs"]]
    return g
