"""The benchmarks run and check their own answers (they assert graphgrad's gradients against hand-written
NumPy before timing). No timing is asserted: speed is measured in benchmarks/, not in tests."""
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..")


def test_every_benchmark_runs_in_quick_mode():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "run_all.py"), "--quick"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    for workload in ("mlp", "rnn", "logreg", "tiny_chain", "cnn", "compile"):
        assert f"== {workload}:" in r.stdout, r.stdout
    for expected in ("NumPy by hand", "graphgrad compiled (numpy)", "graphgrad eager", "first call of a fresh",
                     "peak memory of one step", "eager per-op cost", "graphgrad (eager)", "two-layer MLP",
                     "graphgrad.dask, 2 workers", "graphgrad vmap(grad)", "graphgrad hessian", "Fixed cost of a call"):
        assert expected in r.stdout, r.stdout


def test_a_benchmark_that_computes_the_wrong_gradient_fails(monkeypatch):
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        import run_all
        import workloads
    finally:
        sys.path.pop(0)
    workload = workloads.make_tiny_chain(quick=True)
    right = workload.steps["graphgrad compiled (numpy)"]
    workload.steps["graphgrad compiled (numpy)"] = lambda: [g * 1.001 for g in right()]
    try:
        run_all.check(workload)
    except AssertionError as e:
        assert "graphgrad compiled (numpy), gradient 0" in str(e)
    else:
        raise AssertionError("check() accepted a wrong gradient")
