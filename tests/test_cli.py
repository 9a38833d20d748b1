"""The graphgrad command, run as a user would (subprocess)."""
import os
import subprocess
import sys

import pytest

MLP = os.path.join(os.path.dirname(__file__), "..", "graphgrad", "examples", "mlp.py")
ARGS = ["--arg", "w1=f32[2,8]:grad", "--arg", "b1=f32[8]:grad", "--arg", "w2=f32[8,3]:grad",
        "--arg", "b2=f32[3]:grad", "--arg", "x=f32[16,2]", "--arg", "y=f32[16,3]"]


def run(*argv):
    return subprocess.run([sys.executable, "-m", "graphgrad.cli", *argv], capture_output=True, text=True,
                          cwd=os.path.dirname(__file__))


def test_dump_all_stages():
    r = run("dump", f"{MLP}:loss", *ARGS)
    assert r.returncode == 0, r.stderr
    for stage in ("traced", "pruned", "adjoint", "batched", "optimized", "forward", "backward"):
        assert f"// ---- {stage} ----" in r.stdout
    assert "grad_w1" in r.stdout


def test_frozen_first_layer_is_visible_in_backward():
    frozen = [a.replace(":grad", "") if a.startswith(("w1", "b1")) else a for a in ARGS]
    full = run("dump", f"{MLP}:loss", *ARGS, "--stage", "backward").stdout
    cut = run("dump", f"{MLP}:loss", *frozen, "--stage", "backward").stdout
    assert "grad_w1" in full and "grad_w1" not in cut and "grad_w2" in cut
    assert len(cut.splitlines()) < len(full.splitlines())


@pytest.mark.parametrize("fmt,marker", [("numpy", "import numpy as np"), ("cupy", "import cupy as cp"),
                                        ("dot", "digraph"), ("json", '"graph": "loss"')])
def test_formats(fmt, marker):
    r = run("dump", f"{MLP}:loss", *ARGS, "--format", fmt, "--stage", "optimized")
    assert r.returncode == 0, r.stderr
    assert marker in r.stdout


@pytest.mark.parametrize("argv,message", [
    (["dump", "nofile.py:f"], "no such file: nofile.py"),
    (["dump", f"{MLP}:nope"], "has no function 'nope'"),
    (["dump", f"{MLP}:loss", "--arg", "w1=f32[2,8"], "bad --arg"),
    (["dump", f"{MLP}:loss", "--arg", "w1=f32[2,8]"], "missing --arg for parameter(s) b1"),
    (["dump", f"{MLP}:loss", *ARGS[:-2], "--arg", "y=f32[16,4]"], "must match the size"),
    (["dump", f"{MLP}:loss", *ARGS, "--arg", "x=f32[4,2]"], "--arg x given twice (x=f32[16,2], x=f32[4,2])"),
])
def test_errors_are_one_line_exit_2(argv, message):
    r = run(*argv)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and message in r.stderr and "Traceback" not in r.stderr


def test_debug_shows_traceback():
    r = run("--debug", "dump", "nofile.py:f")
    assert r.returncode != 0 and "Traceback" in r.stderr


# no op lacks a vmap batching rule (structured control flow included)
KNOWN_GAPS: set = set()


def test_ops_lists_coverage_without_gaps():
    r = run("ops")
    assert r.returncode == 0 and "matmul" in r.stdout
    assert "MISSING" not in r.stdout
    refused = {row.split()[0] for row in r.stdout.splitlines()[1:] if "none yet (refused)" in row}
    assert refused == KNOWN_GAPS
    rows = {row.split()[0]: row.split() for row in r.stdout.splitlines()[1:]}
    for op in ("cond", "scan", "while", "get"):  # the vmap batching column names the rule declared with the op
        assert f"_{op}_batch" in rows[op], rows[op]


def _ops_table():
    import re

    header, *lines = run("ops").stdout.splitlines()
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=  ))\S", header)]
    names = [header[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
    return {cells[0]: dict(zip(names, cells)) for cells in
            ([line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])] for line in lines)}


def test_ops_lists_second_order_cupy_and_numpy_names():
    from graphgrad.ir.registry import OPS

    rows = _ops_table()
    assert {"gradient", "second order", "numpy name", "cupy"} <= set(rows["tanh"])
    assert rows["tanh"]["second order"] == "yes" and rows["tanh"]["cupy"] == "cp expression + C (fusable)"
    assert rows["mean"]["cupy"] == "cp expression + C (ends a fused region)"
    assert rows["argsort"]["second order"] == "zero" and rows["argpartition"]["second order"] == "zero"
    assert rows["qr"]["gradient"] == "rule" and rows["qr"]["numpy name"] == "linalg.qr"
    assert rows["qr"]["cupy"] == "cp expression"  # a LAPACK call: CuPy runs it, never inside a fused kernel
    assert rows["partition"]["numpy name"] == "partition" and rows["partition"]["second order"] == "composite"
    # derived from each rule's code: every gradient rule is built from differentiable ops
    for op in set(OPS) - {"fused", "get", "cond", "scan", "while"}:
        assert rows[op]["second order"] in ("yes", "zero"), (op, rows[op]["second order"])


def test_demo_trains():
    r = run("demo", "--steps", "40")
    assert r.returncode == 0, r.stderr
    losses = [float(line.split("loss")[1]) for line in r.stdout.splitlines() if line.strip().startswith("step")]
    assert losses[-1] < losses[0] * 0.8
    assert "compiled" in r.stdout and "def backward" in r.stdout


def test_output_piped_into_a_reader_that_stops_early_is_not_an_error():
    proc = subprocess.Popen([sys.executable, "-m", "graphgrad.cli", "dump", f"{MLP}:loss", *ARGS],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=os.path.dirname(__file__))
    proc.stdout.close()  # the reader is gone before anything is written, like `| head -0`
    stderr = proc.stderr.read().decode()
    assert proc.wait() == 0, stderr
    assert stderr == ""


def test_dump_timings_prints_every_compile_stage():
    r = run("dump", f"{MLP}:loss", *ARGS, "--stage", "optimized", "--timings")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("// ---- compile time per stage ----\n")[1].splitlines()
    stages = [line.split()[1] for line in lines]
    assert stages == ["trace", "prune", "adjoint", "batch", "optimize", "split", "codegen", "load", "total"]
    assert all(line.split()[3] == "ms" and float(line.split()[2]) >= 0 for line in lines)


def test_dump_timings_go_to_stderr_beside_json():
    import json

    r = run("dump", f"{MLP}:loss", *ARGS, "--stage", "optimized", "--format", "json", "--timings")
    assert r.returncode == 0, r.stderr
    json.loads(r.stdout)
    assert "compile time per stage" in r.stderr


USER_FN = "def loss(w, x):\n    h = (x @ w).tanh()\n    return (h * h).sum()\n"


@pytest.mark.parametrize("transform,markers", [
    ("grad", ["graph loss(%w: f64[3,2], %x: f64[4,3])", "tanh"]),
    ("jvp", ["graph jvp_loss(%w: f64[3,2], %x: f64[4,3], %tangent_w: f64[3,2])", "matmul(%x, %tangent_w)",
             "# userf.py:2"]),
    ("hessian", ["graph hessian_loss(", "f64[3,2,3,2]"]),
])
def test_dump_a_transformed_function(tmp_path, transform, markers):
    (tmp_path / "userf.py").write_text(USER_FN)
    r = run("dump", f"{tmp_path / 'userf.py'}:loss", "--arg", "w=f64[3,2]:grad", "--arg", "x=f64[4,3]",
            "--transform", transform, "--stage", "optimized")
    assert r.returncode == 0, r.stderr
    for m in markers:
        assert m in r.stdout, r.stdout
    source = run("dump", f"{tmp_path / 'userf.py'}:loss", "--arg", "w=f64[3,2]:grad", "--arg", "x=f64[4,3]",
                 "--transform", transform, "--format", "numpy").stdout
    assert source.count("def forward(") == 1 and "def backward(" not in source


def test_dump_vmap_with_in_axes(tmp_path):
    (tmp_path / "userf.py").write_text(USER_FN)
    r = run("dump", f"{tmp_path / 'userf.py'}:loss", "--arg", "w=f64[3,2]", "--arg", "x=f64[8,4,3]",
            "--transform", "vmap", "--in-axes", "None,0", "--stage", "optimized")
    assert r.returncode == 0, r.stderr
    # the shared w: the batch folds into the rows of one product
    assert "reshape(%x, shape=(32, 3))" in r.stdout and "f64[8,4,2]" in r.stdout and "dim=(1, 2)" in r.stdout
    bad = run("dump", f"{tmp_path / 'userf.py'}:loss", "--arg", "w=f64[3,2]", "--arg", "x=f64[8,4,3]",
              "--transform", "vmap", "--in-axes", "0")
    assert bad.returncode == 2 and "one axis (or None) per parameter" in bad.stderr


def test_ops_audits_jvp_and_batching():
    r = run("ops")
    header, *rows = r.stdout.splitlines()
    assert "jvp" in header and "vmap batching" in header
    assert all("MISSING" not in row for row in rows)
    assert any(row.startswith("matmul ") and "transposed gradient" in row for row in rows)


def test_dump_of_a_file_that_exits_at_import_says_so(tmp_path):
    script = tmp_path / "script.py"
    script.write_text("import sys\ndef f(x):\n    return x\nsys.exit(3)\n")
    r = run("dump", f"{script}:f", "--arg", "x=f32[2]")
    assert r.returncode == 2 and "called sys.exit(3) while being imported" in r.stderr


def test_dump_of_a_file_that_defines_a_dataclass(tmp_path):
    # dataclasses look their module up in sys.modules to read string annotations
    script = tmp_path / "with_dataclass.py"
    script.write_text("from __future__ import annotations\nfrom dataclasses import dataclass\n\n\n"
                      "@dataclass\nclass Config:\n    scale: float = 2.0\n\n\n"
                      "def f(x):\n    return (x * Config().scale).sum()\n")
    r = run("dump", f"{script}:f", "--arg", "x=f64[3]:grad", "--format", "numpy")
    assert r.returncode == 0, r.stderr
    assert "def backward(" in r.stdout


def test_dump_does_not_allocate_the_argument_arrays():
    # 10^10 float32 elements: 40 GB if allocated; only the types are needed to trace
    big = run("dump", f"{MLP}:loss", "--arg", "w1=f32[100000,100000]:grad", "--arg", "b1=f32[100000]:grad",
              "--arg", "w2=f32[100000,3]:grad", "--arg", "b2=f32[3]:grad", "--arg", "x=f32[4,100000]",
              "--arg", "y=f32[4,3]", "--stage", "traced")
    assert big.returncode == 0, big.stderr
    assert "f32[100000,100000]" in big.stdout


def test_a_parameter_left_out_takes_its_default(tmp_path):
    (tmp_path / "scaled.py").write_text("def f(x, scale=2.0, *, shift=1.0):\n    return (x * scale + shift).sum()\n")
    r = run("dump", f"{tmp_path / 'scaled.py'}:f", "--arg", "x=f64[3]:grad", "--format", "numpy")
    assert r.returncode == 0, r.stderr
    assert "= x * 2.0  #" in r.stdout and "+= 1.0" in r.stdout
    r = run("dump", f"{tmp_path / 'scaled.py'}:f", "--arg", "x=f64[3]", "--arg", "shift=f64[]")
    assert r.returncode == 2 and "'shift' is not positional; leave it to its default" in r.stderr
