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
                     "peak memory of one step", "peak of array (tensor) data", "eager per-op cost", "graphgrad (eager)",
                     "two-layer MLP",
                     "graphgrad.dask, 2 workers", "graphgrad vmap(grad)", "graphgrad hessian", "Fixed cost of a call",
                     "hand-written mlp step (run_all.py's)", "softmax cross-entropy, 256 x 2000"):
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


def test_array_peak_counts_the_array_data_alive_at_once(numpy_memory):
    """benchmarks/numpy_memory.py's figure, set beside PyTorch's: two of the three 8000-byte arrays are alive at
    once; a view holds no data; a step's frees of what an earlier step made do not count; scratch inside np.dot
    counts (its operands, made within one line, are alive while it runs); the usual handler is back after."""
    import numpy as np

    x = np.ones(1000)

    def step():
        a = x + x
        b = a * a
        del a
        c = b * b
        del b
        return c

    assert numpy_memory.peak_array_bytes(step) == 16000
    assert numpy_memory.peak_array_bytes(lambda: x.reshape(10, 100).T) == 0
    kept = {}

    def replace():  # frees what the step before kept, then makes as much again (PyTorch's profiler sees no free)
        kept.clear()
        kept["a"], kept["b"] = x * x, x * x
    assert numpy_memory.peak_array_bytes(replace) == 16000
    assert numpy_memory.peak_array_bytes(lambda: np.dot(np.ones((50, 50)), np.ones((50, 50)))) == 3 * 20000
    core = getattr(np, "_core", None) or np.core
    assert core.multiarray.get_handler_name() == "default_allocator"


# -- run_all.py --device cuda (benchmarks/gpu_workloads.py) ---------------------------------------------------------
def _gpu_workloads():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        import gpu_workloads
    finally:
        sys.path.pop(0)
    return gpu_workloads


def _run_cuda_benchmark(env_path=None):
    env = dict(os.environ)
    if env_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([env_path, env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "run_all.py"), "--device", "cuda",
                           "--quick"], capture_output=True, text=True, timeout=300, env=env)


def test_cuda_benchmark_without_a_gpu_is_one_line_and_exit_code_2(tmp_path):
    if _gpu_workloads().no_gpu_reason() is None:
        import pytest

        pytest.skip("a GPU is present: benchmarks/gpu_check.py runs the benchmark itself")
    r = _run_cuda_benchmark()
    assert r.returncode == 2 and r.stdout == "", r.stdout + r.stderr
    assert r.stderr.startswith("run_all.py --device cuda: no GPU to run on: ") and r.stderr.count("\n") == 1, r.stderr
    # and where CuPy is not installed at all (an import of cupy that fails stands in for it)
    (tmp_path / "cupy.py").write_text("raise ImportError('No module named cupy')\n")
    r = _run_cuda_benchmark(str(tmp_path))
    assert r.returncode == 2 and "CuPy is not installed" in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_cuda_workloads_run_and_check_their_gradients_on_the_cpu():
    """The GPU benchmark's candidates (compiled fused / unfused, eager, PyTorch where installed) with
    device="cpu": the same code, on NumPy, checked against the hand-written NumPy step before it is timed."""
    gpu = _gpu_workloads()
    lines = []
    for name in gpu.GPU_WORKLOADS:
        assert gpu.run(name, "cpu", quick=True, out=lines.append), "\n".join(lines)
    text = "\n".join(lines)
    for expected in ("== mlp on cpu", "== rnn on cpu", "== tiny_chain on cpu", "graphgrad compiled, fused (numpy)",
                     "graphgrad compiled, unfused (numpy)", "graphgrad eager (cpu)", "fusion: unfused / fused = "):
        assert expected in text, text
    assert "FAILED" not in text


def test_a_cuda_candidate_with_a_wrong_gradient_is_reported_and_not_timed():
    gpu = _gpu_workloads()
    workload = gpu.make_tiny_chain("cpu", quick=True)
    label = next(iter(workload.steps))
    right = workload.steps[label]
    workload.steps[label] = lambda: [g * 1.001 for g in right()]
    failed = gpu.check(workload)
    assert list(failed) == [label] and "gradient 0" in failed[label]


def _fake_cupy_usable() -> bool:
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    try:
        import fake_cupy
    finally:
        sys.path.pop(0)
    return fake_cupy.real_cupy() is not None and fake_cupy.CXX is not None


def test_cuda_benchmark_runs_its_cuda_path_on_the_fake_cupy():
    """run_all.py --device cuda end to end (device name, CUDA events, synchronization, the table) on the fake
    CuPy (tests/fake_cupy.py): the code a GPU machine runs, without a GPU."""
    import pytest

    if not _fake_cupy_usable():
        pytest.skip("the fake CuPy needs CuPy importable and a C++ compiler")
    env = dict(os.environ, GRAPHGRAD_FAKE_CUPY="1", PYTHONPATH=os.pathsep.join(
        [os.path.join(ROOT, "tests", "fake_gpu"), ROOT, os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "run_all.py"), "--device", "cuda", "--quick",
                        "--only", "tiny_chain,rnn"], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    for expected in ("device: fake CuPy", "== tiny_chain on cuda", "== rnn on cuda", "GPU min",
                     "graphgrad compiled, fused (cupy)", "graphgrad compiled, unfused (cupy)", "graphgrad eager (cuda)",
                     "fusion: unfused / fused = ", "GPU time between CUDA events"):
        assert expected in r.stdout, r.stdout
    assert "FAILED" not in r.stdout


def test_gpu_check_without_a_gpu_exits_2_and_reads_skips_from_the_junit_report(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        import gpu_check
        import gpu_workloads
    finally:
        sys.path.pop(0)
    if gpu_workloads.no_gpu_reason() is None:
        import pytest

        pytest.skip("a GPU is present")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "gpu_check.py")], capture_output=True,
                       text=True, timeout=120, env=dict(os.environ, OUT=str(tmp_path)))
    assert r.returncode == 2 and r.stdout.startswith("gpu_check.py: no GPU to check on: "), r.stdout + r.stderr
    assert any(f.endswith("test_cupy_backend.py") for f in gpu_check.gpu_test_files())
    report = tmp_path / "report.xml"
    report.write_text('<testsuites><testsuite tests="2" failures="0" errors="0" skipped="1">'
                      '<testcase classname="t" name="a[gpu]"><skipped message="needs CuPy and an NVIDIA GPU"/>'
                      '</testcase><testcase classname="t" name="b[gpu]"/></testsuite></testsuites>')
    assert gpu_check.junit_counts(str(report)) == {"tests": 2, "failures": 0, "errors": 0, "skipped": 1}
    assert gpu_check.skipped_tests(str(report)) == ["t::a[gpu]: needs CuPy and an NVIDIA GPU"]


def test_gpu_check_stops_a_step_at_its_time_limit_even_mid_line(tmp_path, capsys):
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        import gpu_check
    finally:
        sys.path.pop(0)
    log = gpu_check.Log(str(tmp_path))
    code, lines = gpu_check.run(log, [sys.executable, "-c", "import time; print('done'); print('no end', end='', "
                                      "flush=True); time.sleep(60)"], timeout=3, keep="step.txt")
    assert code is None and lines == ["done"]
    assert "stopped after 3 s" in (tmp_path / "gpu_check.log").read_text()
    assert (tmp_path / "step.txt").read_text() == "done\n"
    code, lines = gpu_check.run(log, [sys.executable, "-c", "print('a'); raise SystemExit(3)"], timeout=30)
    assert code == 3 and lines == ["a"]


def test_gpu_call_costs_profile_and_floor_run_on_the_fake_cupy():
    """benchmarks/bench_gpu_calls.py end to end on the fake CuPy: its per-call table, the profile of the compiled
    mlp step, and the step back to back (the fake has no stream capture: said so)."""
    import pytest

    if not _fake_cupy_usable():
        pytest.skip("the fake CuPy needs CuPy importable and a C++ compiler")
    env = dict(os.environ, GRAPHGRAD_FAKE_CUPY="1", PYTHONPATH=os.pathsep.join(
        [os.path.join(ROOT, "tests", "fake_gpu"), ROOT, os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_gpu_calls.py"), "--calls", "2",
                        "--profile", "--floor"], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    for expected in ("== one call on fake CuPy", "cupy   matmul 128x256 @ 256x10",
                     "== graphgrad compiled, fused (cupy): ", "costliest calls by own time", "(forward)",
                     "== the mlp step issued back to back", "graphgrad compiled, fused (cupy)",
                     "its generated module alone (fused)", "its generated module alone (unfused)"):
        assert expected in r.stdout, r.stdout
    assert "failed" not in r.stdout.replace("(this CuPy has no stream capture)", ""), r.stdout
