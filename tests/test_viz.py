"""Pictures: the IR's DOT export (colours, greyed pruned inputs), ``graphgrad dump --format svg|png``,
``Graph._repr_svg_`` and ``gg.viz.make_dot`` for eager graphs.

The DOT text is checked everywhere. Drawing needs Graphviz's ``dot``: those tests run where it is installed, and
CI (``.ci/run`` installs it and sets GRAPHGRAD_REQUIRE_DOT=1) fails them rather than skipping when it is not.
"""
import os
import re
import subprocess
import sys

import pytest

import graphgrad as gg
import graphgrad.nn as nn
from graphgrad.ir.printer import DOT_COLORS, to_dot, to_dot_stages
from graphgrad.ir.render import GraphvizNotFound, find_dot, render
from graphgrad.runtime.compiled import CompiledFunction

HERE = os.path.dirname(__file__)
MLP = os.path.join(HERE, "..", "graphgrad", "examples", "mlp.py")
FROZEN_FIRST_LAYER = ["--arg", "w1=f32[2,8]", "--arg", "b1=f32[8]", "--arg", "w2=f32[8,3]:grad",
                      "--arg", "b2=f32[3]:grad", "--arg", "x=f32[16,2]", "--arg", "y=f32[16,3]"]


def needs_dot():
    if find_dot() is None:
        if os.environ.get("GRAPHGRAD_REQUIRE_DOT"):
            pytest.fail("GRAPHGRAD_REQUIRE_DOT is set but Graphviz's dot is not on PATH")
        pytest.skip("Graphviz's dot is not installed (apt-get install graphviz)")


def node_attrs(dot: str, name: str) -> str:
    m = re.search(rf'^\s*"{re.escape(name)}" \[(.*)\];$', dot, re.M)
    assert m, f"no node {name!r} in\n{dot}"
    return m.group(1)


def mlp_graphs():
    from graphgrad.examples import mlp

    f = CompiledFunction(mlp.loss)
    args = [gg.zeros(2, 8), gg.zeros(8), gg.zeros(8, 3, requires_grad=True), gg.zeros(3, requires_grad=True),
            gg.zeros(16, 2), gg.zeros(16, 3)]
    return f, args


# -- the DOT text ----------------------------------------------------------------------------------------------

def test_dot_colours_forward_and_adjoint_nodes_apart():
    f, args = mlp_graphs()
    dot = to_dot(f.graph(*args, stage="optimized"))
    assert f'fillcolor="{DOT_COLORS["forward"]}"' in node_attrs(dot, "logits")
    assert f'fillcolor="{DOT_COLORS["adjoint"]}"' in node_attrs(dot, "grad_w2")
    assert f'fillcolor="{DOT_COLORS["adjoint"]}"' in node_attrs(dot, "grad_loss")   # the cotangent input
    assert 'label="log_probs = log_softmax\\nf32[16,3]"' in node_attrs(dot, "log_probs")
    assert 'tooltip="mlp.py:12"' in node_attrs(dot, "log_probs")
    assert "blue: forward, red: adjoint" in dot


def test_dot_greys_inputs_that_need_no_gradient_and_the_work_pruned_from_backward():
    f, args = mlp_graphs()
    dot = to_dot(f.graph(*args, stage="pruned"))
    grey = DOT_COLORS["no_grad_line"]
    for name in ("w1", "b1", "x", "y"):   # frozen first layer and data: no gradient flows to them
        assert f'fontcolor="{grey}"' in node_attrs(dot, name) and DOT_COLORS["no_grad"] in node_attrs(dot, name)
    for name in ("w2", "b2"):
        assert grey not in node_attrs(dot, name) and "bold" in node_attrs(dot, name)
    for name in ("t1", "t2", "hidden"):   # the first layer's forward work has no backward
        assert f'fontcolor="{grey}"' in node_attrs(dot, name)
    assert grey not in node_attrs(dot, "logits")
    assert f'"w1" -> "t1" [color="{grey}"];' in dot and '"t3" -> "logits";' in dot
    # before pruning nothing is marked: the forward nodes are not greyed
    traced = to_dot(f.graph(*args, stage="traced"))
    assert grey not in node_attrs(traced, "t1") and grey in node_attrs(traced, "x")


def test_dot_backward_graph_colours_saved_values_as_forward_and_cotangents_as_adjoint():
    f, args = mlp_graphs()
    dot = to_dot(f.graph(*args, stage="backward"))
    assert DOT_COLORS["forward"] in node_attrs(dot, "hidden") and "bold" not in node_attrs(dot, "hidden")
    assert DOT_COLORS["no_grad_line"] not in node_attrs(dot, "hidden")
    assert DOT_COLORS["adjoint"] in node_attrs(dot, "grad_loss")
    assert '"out0" [shape=plaintext, label="grad_w2"];' in dot


def test_dot_stages_puts_each_stage_in_its_own_box_with_distinct_ids():
    f, args = mlp_graphs()
    dot = to_dot_stages({s: f.graph(*args, stage=s) for s in ("traced", "optimized")})
    assert dot.count("subgraph ") == 2 and 'label="traced"' in dot and 'label="optimized"' in dot
    assert '"traced:t1"' in dot and '"optimized:t1"' in dot and '"traced:grad_w2"' not in dot
    assert '"optimized:grad_w2"' in dot


# -- drawing through dot ---------------------------------------------------------------------------------------

def run_cli(*argv, env=None):
    return subprocess.run([sys.executable, "-m", "graphgrad.cli", *argv], capture_output=True, cwd=HERE, env=env)


def test_dump_svg_draws_the_ir():
    needs_dot()
    r = run_cli("dump", f"{MLP}:loss", *FROZEN_FIRST_LAYER, "--stage", "optimized", "--format", "svg")
    assert r.returncode == 0, r.stderr
    svg = r.stdout.decode()
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    assert "grad_w2 = matmul" in svg and "grad_w1" not in svg
    assert DOT_COLORS["adjoint"] in svg and DOT_COLORS["no_grad"] in svg


def test_dump_png_of_all_stages_to_a_file(tmp_path):
    needs_dot()
    out = tmp_path / "loss.png"
    r = run_cli("dump", f"{MLP}:loss", *FROZEN_FIRST_LAYER, "--format", "png", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"" and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dump_text_formats_write_to_output_file_too(tmp_path):
    out = tmp_path / "loss.dot"
    r = run_cli("dump", f"{MLP}:loss", *FROZEN_FIRST_LAYER, "--stage", "pruned", "--format", "dot", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"" and out.read_text().startswith('digraph "loss"')


def test_dump_picture_without_dot_names_the_package(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))   # an empty directory: no dot on PATH
    r = run_cli("dump", f"{MLP}:loss", *FROZEN_FIRST_LAYER, "--format", "svg", env=env)
    err = r.stderr.decode()
    assert r.returncode == 2 and r.stdout == b""
    assert err.count("\n") == 1 and "graphviz" in err and "dot" in err and "Traceback" not in err


def test_render_errors(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="format='bmpx'"):
        render("digraph { a }", "bmpx")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GraphvizNotFound, match="apt-get install graphviz"):
        render("digraph { a }", "svg")


def test_render_reports_dots_own_message_for_bad_source():
    needs_dot()
    with pytest.raises(RuntimeError, match="dot -Tsvg failed: .*syntax error"):
        render("digraph { a -> }", "svg")


def test_graph_shows_itself_as_svg_in_jupyter(monkeypatch, tmp_path):
    needs_dot()
    f, args = mlp_graphs()
    graph = f.graph(*args, stage="adjoint")
    svg = graph._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and "grad_b2 = sum" in svg
    monkeypatch.setenv("PATH", str(tmp_path))
    assert graph._repr_svg_() is None   # no dot: Jupyter falls back to the text form


# -- gg.viz.make_dot -------------------------------------------------------------------------------------------

def parse(dot_source: str):
    labels = dict(re.findall(r'^\t(\S+) \[label=("[^"]*"|\S+?)[,\]]', dot_source, re.M))
    labels = {k.strip('"'): v.strip('"') for k, v in labels.items()}
    edges = [(a.strip('"'), b.strip('"')) for a, b in re.findall(r"^\t(\S+) -> (\S+?)(?: \[.*\])?$", dot_source, re.M)]
    return labels, edges


def test_make_dot_draws_grad_fns_leaves_and_output_as_torchviz():
    x = gg.randn(3, requires_grad=True)
    w = gg.randn(3, requires_grad=True)
    y = (x * w).sum()
    dot = gg.viz.make_dot(y, params={"x": x, "w": w})
    labels, edges = parse(dot.source)
    named = {v: k for k, v in labels.items()}
    assert sorted(labels.values()) == sorted(["\\n ()", "SumBackward0", "MulBackward0", "AccumulateGrad",
                                              "AccumulateGrad", "x\\n (3)", "w\\n (3)"])
    sum_, mul = named["SumBackward0"], named["MulBackward0"]
    assert (sum_, str(id(y))) in edges and (mul, sum_) in edges
    for leaf in (x, w):
        acc = next(b for a, b in edges if a == str(id(leaf)))
        assert labels[acc] == "AccumulateGrad" and (acc, mul) in edges
    assert len(edges) == 6
    assert "fillcolor=darkolivegreen1" in dot.source and dot.source.count("fillcolor=lightblue") == 2


def test_make_dot_names_model_parameters_and_shows_composite_ops_as_one_node():
    torch = gg
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    loss = nn.functional.mse_loss(model(torch.randn(5, 3)), torch.zeros(5, 2))
    labels, edges = parse(gg.viz.make_dot(loss, params=dict(model.named_parameters())).source)
    names = sorted(labels.values())
    for expected in ("0.weight\\n (4, 3)", "0.bias\\n (4)", "2.weight\\n (2, 4)", "2.bias\\n (2)",
                     "MseLossBackward0", "TanhBackward0"):
        assert expected in names
    assert names.count("AddmmBackward0") == 2 and names.count("AccumulateGrad") == 4
    assert not any("Pow" in n or "Mean" in n for n in names)   # mse_loss is one node, as in PyTorch


def test_make_dot_shows_attrs_and_saved_tensors_on_request():
    x = gg.randn(2, 3, requires_grad=True)
    y = x.exp().sum(dim=1)
    plain = gg.viz.make_dot(y).source
    assert "dim:" not in plain and "orange" not in plain
    rich = gg.viz.make_dot(y, show_attrs=True, show_saved=True).source
    assert "SumBackward1\\ndim: (1,)\\nkeepdim: False" in rich
    assert 'label="result\\n (2, 3)", fillcolor=orange' in rich      # exp saves its result
    long = gg.viz.make_dot(gg.randn(2, 3, requires_grad=True).permute(1, 0), show_attrs=True, max_attr_chars=4)
    assert "dims: (..." in long.source


def test_make_dot_several_outputs_and_custom_function_names():
    class Double(gg.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    a = gg.randn(2, requires_grad=True)
    u, v = Double.apply(a), a.sin()
    labels, _ = parse(gg.viz.make_dot((u, v)).source)
    assert "DoubleBackward" in labels.values() and "SinBackward0" in labels.values()
    assert list(labels.values()).count("AccumulateGrad") == 1   # one leaf, drawn once


def test_make_dot_rejects_bad_arguments():
    with pytest.raises(TypeError, match="expected a Tensor"):
        gg.viz.make_dot([1.0, 2.0])
    w = gg.ones(2, requires_grad=True)
    with pytest.raises(TypeError, match="params must be a dict"):
        gg.viz.make_dot(w.sum(), params=[w])
    with pytest.raises(TypeError, match=r"params\['w'\] is a list"):
        gg.viz.make_dot(w.sum(), params={"w": [1]})


def test_make_dot_render_pipe_and_jupyter(tmp_path):
    needs_dot()
    w = gg.ones(2, 2, requires_grad=True)
    dot = gg.viz.make_dot((w @ w).sum(), params={"w": w})
    path = dot.render(str(tmp_path / "attached"), format="png")
    assert path == str(tmp_path / "attached.png")
    assert open(path, "rb").read()[:4] == b"\x89PNG" and (tmp_path / "attached").read_text() == dot.source
    out = dot.render(outfile=str(tmp_path / "g.svg"), cleanup=True)
    assert out.endswith("g.svg") and "MmBackward0" in open(out).read() and not (tmp_path / "g.gv").exists()
    assert dot.pipe(format="svg").lstrip().startswith(b"<?xml")
    assert "w" in dot._repr_svg_() and "AccumulateGrad" in dot._repr_svg_()


def test_make_dot_render_without_dot_writes_nothing(monkeypatch, tmp_path):
    dot = gg.viz.make_dot(gg.ones(2, requires_grad=True).sum())
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(GraphvizNotFound, match="graphviz"):
        dot.render(str(tmp_path / "g"), format="png")
    assert list(tmp_path.iterdir()) == []
    assert dot._repr_svg_() is None


def test_readme_picture_is_what_its_command_draws(tmp_path):
    needs_dot()
    root = os.path.join(HERE, "..")
    readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
    command = re.search(r"^(graphgrad dump [^\n]*\\\n[^\n]*--format svg -o (\S+))$", readme, re.M)
    assert command, "README's picture command not found"
    picture = command.group(2)
    assert f"]({picture})" in readme
    argv = command.group(1).replace("\\\n", " ").split()[1:]
    argv[argv.index("-o") + 1] = str(tmp_path / "fresh.svg")
    argv[1] = os.path.join(root, argv[1])   # the FILE.py:FUNC target, relative to the repository root
    r = run_cli(*argv)
    assert r.returncode == 0, r.stderr

    def titles(path):   # dot's <title> per node and edge: the drawing's content, whatever dot's version
        return sorted(re.findall(r"<title>(.*?)</title>", open(path, encoding="utf-8").read()))

    assert titles(tmp_path / "fresh.svg") == titles(os.path.join(root, picture))
