"""The generated module is a product: it compiles, imports only numpy/cupy, has one statement per
node, names values after the user's variables, and runs without graphgrad."""
import ast
import os
import subprocess
import sys

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.codegen.loader import cache_dir, load_module


def loss(w, b, x, y):
    pred = x @ w + b
    err = pred - y
    return (err * err).mean()


def args():
    rng = np.random.default_rng(0)
    return (gg.tensor(rng.standard_normal((3, 2)), requires_grad=True), gg.tensor(np.zeros(2), requires_grad=True),
            gg.tensor(rng.standard_normal((5, 3))), gg.tensor(rng.standard_normal((5, 2))))


def imports(tree):
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module)
    return names


def cnn_loss(x, w):
    import graphgrad.nn.functional as F

    return F.avg_pool2d(F.conv2d(x, w, stride=2, padding=1), 2).sum() + (x.sum() / 3).exp()


def cnn_args():
    rng = np.random.default_rng(0)
    return gg.tensor(rng.standard_normal((1, 2, 6, 6))), gg.tensor(rng.standard_normal((3, 2, 3, 3)),
                                                                   requires_grad=True)


@pytest.mark.parametrize("backend,module", [("numpy", "numpy"), ("cupy", "cupy")])
@pytest.mark.parametrize("fn, make_args", [(loss, args), (cnn_loss, cnn_args)])
def test_source_compiles_and_imports_only_the_array_library(backend, module, fn, make_args):
    src = gg.compile(fn).source(*make_args(), backend=backend)
    tree = ast.parse(src)
    compile(src, "<generated>", "exec")
    assert imports(tree) == {module}
    assert "graphgrad" not in src.split("\n", 3)[-1]  # only the header comment mentions us
    if backend == "cupy":
        assert "np." not in src and "numpy" not in src.split("\n", 3)[-1]


def test_one_statement_per_node_with_user_names_and_source_lines():
    f = gg.compile(loss)
    a = args()
    src = f.source(*a)
    tree = ast.parse(src)
    funcs = {fn.name: fn for fn in tree.body if isinstance(fn, ast.FunctionDef)}
    for name, graph in (("forward", f.graph(*a, stage="forward")), ("backward", f.graph(*a, stage="backward"))):
        body = funcs[name].body[1:]  # the docstring
        statements = [s for s in body if isinstance(s, (ast.Assign, ast.AugAssign, ast.Expr))]
        assert len(statements) == len(graph.nodes)  # these ops need no setup lines
    # the sums go into the buffers of their dying operands (tests/codegen/test_memory_plan.py); x @ w's buffer
    # takes the user's name, err is saved for the backward: assigned under its own
    assert "    pred = x @ w  #" in src and "    pred += b  #" in src and "err = np.subtract(pred, y, out=pred)" in src
    assert "# test_codegen.py:16: pred = x @ w + b" in src
    assert "def backward(" in src and "return grad_w, grad_b" in src


def test_values_are_deleted_after_last_use():
    # on arrays big enough to matter (small ones: tests/codegen/test_memory_plan.py)
    rng = np.random.default_rng(0)
    big = (gg.tensor(rng.standard_normal((300, 2)), requires_grad=True), gg.tensor(np.zeros(2), requires_grad=True),
           gg.tensor(rng.standard_normal((5000, 300))), gg.tensor(rng.standard_normal((5000, 2))))
    src = gg.compile(loss).source(*big)
    forward = src.split("def backward")[0]
    assert "del t2" in forward  # err * err, 80 KB, dies at the mean


def test_nan_and_infinities_in_constants_are_valid_source():
    """repr writes nan and inf, which name nothing in a generated module: constants, full and full_like spell
    them np.nan / np.inf, in compiled and eager code alike."""
    import graphgrad.numpy as gnp
    inf, nan = float("inf"), float("nan")

    def f(x):
        return (gnp.multiply(x, [1.0, nan, -inf]), gg.full((3,), inf, dtype=gg.float64) + x,
                gg.full_like(x, -inf) - x)

    x = gg.tensor([1.0, 2.0, 3.0], dtype=gg.float64)
    expected = (np.array([1.0, nan, -inf]), np.array([inf, inf, inf]), np.array([-inf, -inf, -inf]))
    for run in (f, gg.compile(f)):
        for got, want in zip(run(x), expected):
            np.testing.assert_array_equal(got.numpy(), want)


def test_exported_module_runs_without_graphgrad(tmp_path):
    a = args()
    path = tmp_path / "loss_module.py"
    gg.export(loss, *a, path=str(path))
    script = (
        "import sys; sys.modules['graphgrad'] = None\n"  # make any graphgrad import fail
        "import numpy as np, loss_module as m\n"
        "w, b, x, y = (np.load(f'{n}.npy') for n in 'wbxy')\n"
        "out, *saved = m.forward(w, b, x, y)\n"
        "gw, gb = m.backward(*saved, np.array(1.0))\n"
        "print(repr(float(out)), repr(float(gw.sum())), repr(float(gb.sum())))\n")
    for n, t in zip("wbxy", a):
        np.save(tmp_path / f"{n}.npy", t.detach().numpy())
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    value, gw, gb = map(float, result.stdout.split())
    l = loss(*a)
    l.backward()
    assert value == pytest.approx(l.item(), rel=1e-12)
    assert gw == pytest.approx(a[0].grad.sum().item(), rel=1e-10)
    assert gb == pytest.approx(a[1].grad.sum().item(), rel=1e-10)


def test_cache_rebuilds_a_corrupt_file():
    src = "import numpy as np\n\n\ndef forward(x):\n    return x + 1\n"
    m1 = load_module(src, "corrupt_test")
    files = [f for f in os.listdir(cache_dir()) if f.startswith("gg_corrupt_test_") and f.endswith(".py")]
    assert len(files) == 1
    path = os.path.join(cache_dir(), files[0])
    with open(path, "w") as f:
        f.write("def forward(:\n  garbage")
    m2 = load_module(src, "corrupt_test")
    assert m2.forward(1) == 2 == m1.forward(1)
    assert open(path).read() == src


def test_tracebacks_show_generated_lines(monkeypatch):
    import traceback

    monkeypatch.setenv("GRAPHGRAD_CHECK_TYPES", "0")  # reach the matmul with a wrong shape, past the checks
    f = gg.compile(lambda x: x @ x)
    x = gg.ones(2, 3)
    with pytest.raises(Exception):
        f(x)
    x2 = gg.ones(3, 3)
    f(x2)
    mod = f.specialize(x2).module("numpy")
    try:
        mod.forward(np.ones((2, 3)))
    except ValueError:
        text = traceback.format_exc()
    assert "x @ x" in text or "matmul" in text


def test_value_names_taken_as_given_only_where_value_names_would_keep_them():
    """codegen/python.py's ``_value_names`` is ``Graph.value_names`` (it skips the per-value work only when every
    name is already a distinct valid identifier)."""
    from graphgrad.codegen.python import _value_names
    from graphgrad.ir.parser import parse_graph

    g = parse_graph('''
graph f(%x: f64[3]) {
  %a: f64[3] = tanh(%x)
  %b: f64[3] = mul(%a, %a)
  return %b
}''')
    assert _value_names(g) == g.value_names() == {g.inputs[0]: "x", g.nodes[0].output: "a", g.nodes[1].output: "b"}
    for clash in (["a", "a"], [None, "b"], ["np", "b"], ["lambda", "b"], ["__a", "b"], ["a-1", "b"], ["é", "b"]):
        g.nodes[0].output.name, g.nodes[1].output.name = clash
        assert _value_names(g) == g.value_names(), clash


_LIFTED = np.ones(3)


def test_lifted_globals_and_closed_over_tensors_keep_the_users_names():
    bias = gg.ones(3, dtype=gg.float64)

    def f(a):
        return a * _LIFTED + gg.tensor(_LIFTED) + bias

    x = gg.ones(3, dtype=gg.float64)
    source = gg.compile(f).source(x)
    assert "# Signature: a: f64[3], _LIFTED: f64[3], bias: f64[3]" in source
    assert "def forward(a, _LIFTED, bias):" in source
