"""Every benchmark: the anchor workloads of issue 10, compile time, peak memory, then the older scripts.

    python benchmarks/run_all.py                # a measurement (several minutes)
    python benchmarks/run_all.py --quick        # checks every benchmark still runs and computes right (seconds)
    python benchmarks/run_all.py --only mlp,rnn # some anchors only (names: mlp rnn logreg tiny_chain cnn compile)
    python benchmarks/run_all.py --threads 0    # BLAS and PyTorch with their own thread counts (default: 1)
    python benchmarks/run_all.py --device cuda  # mlp, rnn, tiny_chain on an NVIDIA GPU (CuPy; gpu_workloads.py)

For each anchor workload it prints the minimum and the median over repeated samples of one step, the ratio of
each candidate's minimum to the hand-written NumPy's (and to PyTorch's when it is installed), measured in the
same run, the minimum CPU time of the process per step and its ratio (on a loaded machine wall time also counts
the waits for a core; with one BLAS thread, CPU time counts the work), the first call of a freshly compiled
function against a warm call, and the peak memory one step allocates (tracemalloc: NumPy's buffers and Python's
objects), then the peak of array data alone, the figure PyTorch's memory profiler gives for its tensors (which
tracemalloc does not see), printed beside it. Before timing, every candidate's
gradients are compared with the hand-written NumPy's: a benchmark that computes the wrong thing fails.
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings


def _threads_from_argv(argv: list) -> int:
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return 1


# BLAS (and PyTorch / XLA) threads are fixed before NumPy loads: on a small shared machine a second BLAS thread
# turns a 30 us product into milliseconds of thread synchronisation whenever another process holds a core
THREADS = _threads_from_argv(sys.argv)
if THREADS > 0:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(THREADS)
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
                          if THREADS == 1 else "")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

from common import calls_per_sample, fmt_bytes, fmt_time, median, sample_times  # noqa: E402
from numpy_memory import peak_array_bytes  # noqa: E402
from workloads import WORKLOADS, tiny_chain  # noqa: E402

import graphgrad as gg  # noqa: E402

OTHERS = ["bench_eager_per_op.py", "bench_small_ops.py", "bench_mlp.py", "bench_embedding.py", "bench_dask.py",
          "bench_transforms.py", "bench_call_overhead.py", "bench_scalar_blocks.py", "bench_special_functions.py",
          "bench_cross_entropy.py"]
CHAIN_SIZES = (1_000, 10_000, 100_000)


def check(workload) -> None:
    """Each candidate's gradients against the hand-written NumPy's (the first candidate)."""
    labels = list(workload.steps)
    reference = [np.array(g, copy=True) for g in workload.steps[labels[0]]()]
    for label in labels[1:]:
        grads = workload.steps[label]()
        assert len(grads) == len(reference), label
        for i, (got, want) in enumerate(zip(grads, reference)):
            np.testing.assert_allclose(np.asarray(got), want, rtol=workload.rtol, atol=workload.atol,
                                       err_msg=f"{workload.name}: {label}, gradient {i}")


def peak_bytes(step) -> int:
    """The most memory one call of ``step`` holds at once beyond what was allocated before it."""
    step()
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        step()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def torch_peak_bytes(step) -> int | None:
    """The same figure for a PyTorch step, whose CPU tensors tracemalloc does not see: the peak of the live
    tensor bytes PyTorch's memory profiler records over one call, less those live when the call starts (None
    where the profiler's timeline, a private API, is not available)."""
    try:
        from torch.profiler import ProfilerActivity, profile
        from torch.profiler._memory_profiler import MemoryProfileTimeline
    except ImportError:
        return None
    step()
    try:
        with warnings.catch_warnings(), profile(activities=[ProfilerActivity.CPU], profile_memory=True,
                                                record_shapes=True, with_stack=True) as prof:
            warnings.simplefilter("ignore")
            step()
        _, sizes = MemoryProfileTimeline(prof._memory_profile())._coalesce_timeline("cpu")
    except Exception:  # noqa: BLE001 - a private API: report "not measured" rather than stop the benchmarks
        return None
    return max(sum(s) for s in sizes) - sum(sizes[0]) if sizes else None


def run_workload(make, quick: bool) -> None:
    workload = make(quick)
    print(f"== {workload.name}: {workload.title}", flush=True)
    # first, before anything warms this workload's caches: a fresh compile's first step
    start, start_cpu = time.perf_counter(), time.process_time()
    workload.first_call()
    first, first_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    check(workload)
    labels = list(workload.steps)
    number = 1 if quick else max(1, calls_per_sample(workload.steps[labels[0]], 0.02))
    repeat = 3 if quick else 15
    cpu: dict = {}
    samples = sample_times(workload.steps, repeat, number, cpu)
    base, cpu_base = min(samples[labels[0]]), min(cpu[labels[0]])
    torch_label = next((label for label in labels if label.startswith("PyTorch")), None)
    torch_base = min(samples[torch_label]) if torch_label else None
    header = f"  {'':<34} {'min':>11} {'median':>11} {'vs NumPy':>9}"
    header += f" {'vs PyTorch':>10}" if torch_base else ""
    print(header + f" {'CPU min':>11} {'CPU vs NumPy':>12}")
    for label in labels:
        best = min(samples[label])
        line = f"  {label:<34} {fmt_time(best)} {fmt_time(median(samples[label]))} {best / base:8.2f}x"
        if torch_base:
            line += f" {best / torch_base:9.2f}x"
        line += f" {fmt_time(min(cpu[label]))} {min(cpu[label]) / cpu_base:11.2f}x"
        print(line)
    warm = median(samples["graphgrad compiled (numpy)"])
    warm_cpu = median(cpu["graphgrad compiled (numpy)"])
    print(f"  first call of a fresh @gg.compile: {fmt_time(first).strip()} (a warm call: {fmt_time(warm).strip()}; "
          f"compile cost {fmt_time(first - warm).strip()}; in CPU time {fmt_time(first_cpu - warm_cpu).strip()})")
    ours = [label for label in labels if not label.startswith(("PyTorch", "JAX"))]
    memory = {label: peak_bytes(workload.steps[label]) for label in ours}
    print("  peak memory of one step: " + ", ".join(f"{label} {fmt_bytes(memory[label]).strip()}" for label in ours))
    arrays = {label: peak_array_bytes(workload.steps[label]) for label in ours}
    if torch_label:
        arrays[torch_label] = torch_peak_bytes(workload.steps[torch_label])
    print("  peak of array (tensor) data: " + ", ".join(
        f"{label} {'not measured' if b is None else fmt_bytes(b).strip()}" for label, b in arrays.items()))
    for note in workload.notes:
        print(f"  {note}")
    print(f"  ({repeat} samples of {number} call{'s' if number > 1 else ''} each)\n", flush=True)


def make_chain(n: int):
    ops = ("add", "mul", "tanh", "sin", "exp")

    def chain(x):
        y = x
        for i in range(n):
            op = ops[i % 5]
            y = y + -1.0 if op == "add" else y * 0.9 if op == "mul" else getattr(y, op)()
        return y.sum()
    return chain


#: the directory under which this run's on-disk caches are made (removed at its end)
_BENCH_CACHE: str | None = None


def _cold_cache() -> str:
    """A new, empty on-disk cache for what is compiled next: a first call measured here compiles its module,
    where a program run again would load the code stored by its previous run (the last column)."""
    os.environ["GRAPHGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="gg-bench-", dir=_BENCH_CACHE)
    return os.environ["GRAPHGRAD_CACHE_DIR"]


def _first_call(n: int) -> tuple:
    """A fresh compile of an n-op chain: (first call, its CPU time, a warm call, the stage timings)."""
    fn = gg.compile(make_chain(n))
    x = gg.tensor(np.linspace(-1, 1, 16), requires_grad=True)
    start, cpu = time.perf_counter(), time.process_time()
    fn(x).backward()
    first, first_cpu = time.perf_counter() - start, time.process_time() - cpu  # CPU: what load does not inflate
    x.grad = None
    start = time.perf_counter()
    fn(x).backward()
    warm = time.perf_counter() - start
    timings = fn.timings(x)
    del fn
    gc.collect()
    return first, first_cpu, warm, timings


def compile_times(quick: bool) -> None:
    print("== compile: first call of @gg.compile on a chain of N elementwise ops with backward (16 float64 "
          "elements); forward graph N nodes; minimum of 3 fresh compiles up to 10,000 nodes, each stage's own "
          "minimum, each in an empty on-disk cache; the last column: a fresh compile whose module's code the disk "
          "cache holds (a program run again)", flush=True)
    sizes = CHAIN_SIZES[:1] if quick else CHAIN_SIZES
    stages = ("trace", "prune", "adjoint", "batch", "optimize", "split", "codegen", "load")
    print(f"  {'N':>7} {'first call':>11} {'(CPU time)':>11} {'warm call':>11}  " + " ".join(f"{s:>9}" for s in stages)
          + f" {'code cached':>12}")
    for n in sizes:
        firsts, cpus, warms, times = [], [], [], {s: [] for s in stages}
        for _ in range(1 if quick or n > 10_000 else 3):
            _cold_cache()
            first, cpu, warm, timings = _first_call(n)
            firsts.append(first)
            cpus.append(cpu)
            warms.append(warm)
            for stage, seconds in timings.items():
                times[stage].append(seconds)
        cached = _first_call(n)[0]  # the same directory again: its code is stored there
        print(f"  {n:>7} {fmt_time(min(firsts))} {fmt_time(min(cpus))} {fmt_time(min(warms))}  " + " ".join(
            f"{min(times[s]) * 1e3:7.1f}ms" for s in stages) + f" {fmt_time(cached)}", flush=True)
    # the tiny_chain workload's own compile goes through the same path; check its answer too
    assert float(gg.compile(tiny_chain)(gg.ones(16, dtype=gg.float64)).item()) == float(
        tiny_chain(gg.ones(16, dtype=gg.float64)).item())
    print()


def machine() -> str:
    cpus = os.cpu_count()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    except OSError:
        model = platform.processor() or "?"
    return f"{model}, {cpus} logical CPUs, Python {platform.python_version()}, NumPy {np.__version__}"


def run_cuda(parser, ns) -> int:
    """``--device cuda``: the GPU anchors (gpu_workloads.py); 2 with one line on stderr where no GPU is usable."""
    import gpu_workloads

    chosen = ns.only.split(",") if ns.only else list(gpu_workloads.GPU_WORKLOADS)
    unknown = [c for c in chosen if c not in gpu_workloads.GPU_WORKLOADS]
    if unknown:
        parser.error(f"--device cuda runs {', '.join(gpu_workloads.GPU_WORKLOADS)}; not {', '.join(unknown)}")
    reason = gpu_workloads.no_gpu_reason()
    if reason is not None:
        print(f"run_all.py --device cuda: no GPU to run on: {reason}", file=sys.stderr)
        return 2
    print(f"device: {gpu_workloads.device_name('cuda')}\nhost: {machine()}\n", flush=True)
    ok = True
    for name in chosen:
        ok &= gpu_workloads.run(name, "cuda", ns.quick, out=lambda line: print(line, flush=True))
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions, small sizes: a smoke run")
    parser.add_argument("--only", help="comma-separated anchors to run (mlp, rnn, logreg, tiny_chain, cnn, compile)")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS / PyTorch / XLA threads (default 1: per-core figures; 0 keeps each library's own)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: the mlp, rnn and tiny_chain anchors on an NVIDIA GPU through CuPy, graphgrad "
                             "compiled (fused and unfused) and eager beside PyTorch CUDA (exit code 2 without a GPU)")
    ns = parser.parse_args()
    if ns.device == "cuda":
        return run_cuda(parser, ns)
    if THREADS > 0:
        from common import optional_torch

        torch = optional_torch()
        if torch is not None:
            torch.set_num_threads(THREADS)
    chosen = ns.only.split(",") if ns.only else list(WORKLOADS) + ["compile"]
    unknown = [c for c in chosen if c not in WORKLOADS and c != "compile"]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}")
    print(f"machine: {machine()}; threads: {THREADS or 'library defaults'}\n", flush=True)
    global _BENCH_CACHE
    _BENCH_CACHE = tempfile.mkdtemp(prefix="gg-bench-")  # first calls compile: nothing from earlier runs is loaded
    try:
        return _run(ns, chosen)
    finally:
        shutil.rmtree(_BENCH_CACHE, ignore_errors=True)


def _run(ns, chosen: list) -> int:
    for name in chosen:
        if name == "compile":
            compile_times(ns.quick)
        else:
            _cold_cache()
            run_workload(WORKLOADS[name], ns.quick)
    if ns.only:
        return 0
    failed = 0
    for name in OTHERS:
        print(f"== {name}", flush=True)
        failed |= subprocess.call([sys.executable, os.path.join(HERE, name), *(["--quick"] if ns.quick else [])])
        print(flush=True)
    return failed


if __name__ == "__main__":
    sys.exit(main())
