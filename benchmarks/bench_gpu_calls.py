"""What one array operation costs on the GPU, CuPy against PyTorch: the floor under a compiled step's time.

    python3 benchmarks/bench_gpu_calls.py        # on a machine with an NVIDIA GPU and CuPy (PyTorch optional)

A compiled step on CuPy is a sequence of calls, each a kernel launch (or a cuBLAS call) made from Python. On
the small arrays of the benchmark workloads the GPU finishes each kernel before the next is launched, so a
step costs about (number of calls) x (cost of one call). This prints the cost of one call of each kind found
in the generated mlp step, on the mlp's shapes: the mean over ``--calls`` calls issued back to back, between
two device synchronizations, so that it is the host's cost of issuing the call where that is the larger.

    python3 benchmarks/bench_gpu_calls.py --profile   # then where the compiled mlp step's host time goes

``--profile`` runs the compiled mlp step (fused and unfused, as ``run_all.py --device cuda`` times it) under
cProfile and prints the calls that take the most time per step: the generated module's CuPy calls, graphgrad's
own per-call work, the optimizer's.

    python3 benchmarks/bench_gpu_calls.py --floor     # the mlp step's floor: its module alone, as a CUDA graph

``--floor`` times the mlp step issued back to back (no synchronization between steps): graphgrad's compiled
steps and PyTorch's as ``run_all.py --device cuda`` builds them, then the generated CuPy module's forward and
backward with a one-kernel-per-parameter SGD update called directly, without graphgrad's runtime around them,
and last an experiment: that module step captured into a CUDA graph (``Stream.begin_capture``) and replayed.
(On CuPy 14.2 the capture fails: CuPy refuses cuBLAS calls during a capture, and the step has six products.)
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))


def per_call(fn, sync, calls: int, repeat: int = 5) -> float:
    """Minimum over ``repeat`` runs of the mean seconds per call of ``calls`` calls of ``fn``."""
    fn()
    sync()
    best = float("inf")
    for _ in range(repeat):
        begin = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        best = min(best, (time.perf_counter() - begin) / calls)
    return best


def cupy_cases(cp) -> dict:
    rng = np.random.default_rng(0)
    a, b, logits, h, w, p, g = (cp.asarray(rng.standard_normal(shape).astype(np.float32)) for shape in
                                [(128, 512), (512,), (128, 10), (128, 256), (256, 10), (784, 512), (784, 512)])
    scalar = cp.float32(2.0) * cp.ones((), cp.float32)
    add_relu = cp.ElementwiseKernel('float32 x, float32 b', 'float32 y', 'float t = x + b;\ny = t > 0 ? t : 0;',
                                    'probe_add_relu')
    axpy = cp.ElementwiseKernel('float32 g, float32 a', 'float32 p', 'p = p + a * g', 'probe_axpy')
    m = logits.max(axis=1, keepdims=True)
    cases = {
        "add, 128x512 + 512 (ufunc)": lambda: a + b,
        "add in place, 784x512 (ufunc, out=)": lambda: cp.add(p, g, out=p),
        "multiply by a Python float, 784x512": lambda: g * -0.01,
        "ElementwiseKernel add+relu, 128x512": lambda: add_relu(a, b),
        "ElementwiseKernel axpy in place, 784x512": lambda: axpy(g, cp.float32(-0.01), p),
        "sum over axis 1, 128x10": lambda: logits.sum(axis=1, keepdims=True),
        "max over axis 1, 128x10": lambda: logits.max(axis=1, keepdims=True),
        "sum of all, 128x512": lambda: a.sum(),
        "sum over axis 0, 128x512": lambda: a.sum(axis=0),
        "matmul 128x256 @ 256x10": lambda: h @ w,
        "matmul 256x128 @ 128x10 (transposed view)": lambda: h.T @ logits,
        "0-d divide": lambda: scalar / scalar,
        "astype float32 of bool 128x10": lambda: (logits > 0).astype(cp.float32),
    }
    sum_exp = cp.ReductionKernel('float32 x, float32 m', 'float32 y', 'exp(x - m)', 'a + b', 'y = a', '0',
                                 'probe_sum_exp', reduce_type='float')
    cases["ReductionKernel sum(exp(x - m)), 128x10"] = lambda: sum_exp(logits, m, axis=1, keepdims=True)
    return cases


def torch_cases(torch) -> dict:
    gen = torch.Generator(device="cuda").manual_seed(0)
    def randn(*shape):
        return torch.randn(*shape, device="cuda", generator=gen)
    a, b, logits, h, w, p, g = (randn(128, 512), randn(512), randn(128, 10), randn(128, 256), randn(256, 10),
                                randn(784, 512), randn(784, 512))
    ps = [randn(784, 512), randn(512), randn(512, 256), randn(256), randn(256, 10), randn(10)]
    gs = [torch.randn_like(t) for t in ps]
    return {
        "add, 128x512 + 512": lambda: a + b,
        "add_ in place with alpha, 784x512": lambda: p.add_(g, alpha=-0.01),
        "relu, 128x512": lambda: a.relu(),
        "log_softmax, 128x10": lambda: logits.log_softmax(1),
        "sum of all, 128x512": lambda: a.sum(),
        "matmul 128x256 @ 256x10": lambda: h @ w,
        "_foreach_add_ of the mlp's 6 parameters": lambda: torch._foreach_add_(ps, gs, alpha=-0.01),
    }


def profile_mlp(steps: int = 100, top: int = 22) -> None:
    """Prints the costliest calls of the compiled mlp step on the GPU, by own time per step."""
    import cProfile
    import pstats

    import gpu_workloads

    workload = gpu_workloads.make_mlp("cuda", quick=False)
    for label, step in workload.steps.items():
        if "compiled" not in label:
            continue
        for _ in range(10):
            step()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(steps):
            step()
        profiler.disable()
        stats = pstats.Stats(profiler)
        total = sum(entry[2] for entry in stats.stats.values())
        print(f"== {label}: {total / steps * 1e6:.0f} us of host time per step under cProfile; the {top} costliest "
              "calls by own time (us per step, calls per step):")
        rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]
        for (file, line, name), (_, calls, own, cumulative, _) in rows:
            where = f"{file.rsplit('/', 1)[-1]}:{line}({name})" if file != "~" else name
            print(f"  {own / steps * 1e6:8.1f} us {calls / steps:6.1f}x  {where[:110]}")


def floor_mlp(steps: int = 200) -> None:
    """The mlp step issued back to back: its generated module alone, graphgrad's compiled steps, PyTorch's; then
    the module captured as one CUDA graph (see the module's docstring)."""
    import cupy as cp

    import graphgrad as gg
    import gpu_workloads
    from workloads import MLP_LR, MLP_SIZES, mlp_loss

    rng = np.random.default_rng(0)
    host = []
    for n_in, n_out in zip(MLP_SIZES[:-1], MLP_SIZES[1:]):
        host += [(rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(np.float32),
                 np.zeros(n_out, np.float32)]
    x, y = rng.standard_normal((128, MLP_SIZES[0])).astype(np.float32), rng.integers(0, MLP_SIZES[-1], 128)
    sync = cp.cuda.Device().synchronize
    print(f"== the mlp step issued back to back ({steps} steps between two synchronizations, minimum of 5 runs)")
    for label, step in gpu_workloads.make_mlp("cuda", quick=False).steps.items():
        if "eager (cuda)" not in label or label.startswith("PyTorch"):
            print(f"  {label:<48} {per_call(step, sync, steps) * 1e6:8.1f} us per step")
    for fuse in (True, False):
        compiled = gg.compile(mlp_loss, fuse=fuse)
        example = [gg.tensor(a, requires_grad=True) for a in host] + [gg.tensor(x), gg.tensor(y)]
        namespace: dict = {}
        exec(compile(compiled.source(*example, backend="cupy"), f"mlp_{'fused' if fuse else 'unfused'}", "exec"),
             namespace)
        forward, backward = namespace["forward"], namespace["backward"]
        params = [cp.asarray(a) for a in host]
        data = [cp.asarray(x), cp.asarray(y)]
        seed = cp.ones((), cp.float32)
        axpy = cp.ElementwiseKernel("float32 g, float32 a", "float32 p", "p += a * g", "probe_sgd")

        def module_step():
            loss, *saved = forward(*params, *data)
            grads = backward(*saved, seed)
            for p, g in zip(params, grads):
                axpy(g, -MLP_LR, p)
            return loss, grads

        label = f"its generated module alone ({'fused' if fuse else 'unfused'})"
        print(f"  {label:<48} {per_call(module_step, sync, steps) * 1e6:8.1f} us per step")
        if not hasattr(cp.cuda.Stream, "begin_capture"):
            print("  (this CuPy has no stream capture)")
            continue
        stream = cp.cuda.Stream(non_blocking=True)
        try:
            with stream:
                module_step()
                stream.synchronize()
                stream.begin_capture()
                try:
                    module_step()
                except Exception:
                    try:  # a capture left open would break every later call
                        stream.end_capture()
                    except Exception:  # noqa: BLE001 (the capture's own failure is the one to report)
                        pass
                    raise
                graph = stream.end_capture()
                graph.launch(stream)
                stream.synchronize()
                replayed = per_call(lambda: graph.launch(stream), stream.synchronize, steps)
                print(f"  {'as one CUDA graph, replayed':<48} {replayed * 1e6:8.1f} us per step")
        except Exception as e:  # noqa: BLE001 (what failed is the finding)
            print(f"  as one CUDA graph: the capture failed: {type(e).__name__}: {e}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per measurement (default 200)")
    parser.add_argument("--profile", action="store_true", help="then profile the compiled mlp step")
    parser.add_argument("--floor", action="store_true",
                        help="then the mlp step back to back: its module alone, graphgrad's, PyTorch's, a CUDA graph")
    ns = parser.parse_args()
    try:
        import cupy as cp
        cp.cuda.runtime.getDeviceCount()
    except Exception as e:  # noqa: BLE001 (any failure means: no GPU to measure on)
        print(f"bench_gpu_calls.py: no GPU: {type(e).__name__}: {e}")
        return 2
    print(f"== one call on {cp.cuda.runtime.getDeviceProperties(0)['name'].decode()}, CuPy {cp.__version__} "
          f"(mean of {ns.calls} calls issued back to back, minimum of 5 runs)")
    sync = cp.cuda.Device().synchronize
    for label, fn in cupy_cases(cp).items():
        try:
            print(f"  cupy   {label:<48} {per_call(fn, sync, ns.calls) * 1e6:8.1f} us")
        except Exception as e:  # noqa: BLE001 (one case's failure is printed; the others still run)
            print(f"  cupy   {label:<48} failed: {type(e).__name__}: {e}")
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and torch.cuda.is_available():
        for label, fn in torch_cases(torch).items():
            print(f"  torch  {label:<48} {per_call(fn, torch.cuda.synchronize, ns.calls) * 1e6:8.1f} us")
    if ns.profile:
        profile_mlp(steps=min(100, ns.calls))
    if ns.floor:
        floor_mlp(steps=ns.calls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
