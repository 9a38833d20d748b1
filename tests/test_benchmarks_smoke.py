"""The benchmarks run and check their own answers (they assert graphgrad's gradients against hand-written
NumPy before timing). No timing is asserted: speed is measured in benchmarks/, not in tests."""
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..")


def test_every_benchmark_runs_in_quick_mode():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "run_all.py"), "--quick"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for expected in ("eager per-op cost", "graphgrad (eager)", "graphgrad compiled (numpy)", "NumPy by hand",
                     "two-layer MLP"):
        assert expected in r.stdout, r.stdout
