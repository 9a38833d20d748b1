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

    python3 benchmarks/bench_gpu_calls.py --graph     # the mlp step's floor: its module alone, and as a CUDA graph

``--graph`` is an experiment, not a feature: it takes the generated CuPy module of the mlp (forward, backward)
and a one-kernel-per-parameter SGD update, and times (a) those calls alone, without graphgrad's runtime around
them, and (b) the same step captured once into a CUDA graph (``Stream.begin_capture``) and replayed, every
allocation made during the capture kept for the graph. It checks that a replay computes what the step does.
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
    if hasattr(cp, "ReductionKernel"):  # (the tests' fake CuPy has none)
        sum_exp = cp.ReductionKernel('float32 x, float32 m', 'float32 y', 'exp(x - m)', 'a + b', 'y = a', '0',
                                     'probe_sum_exp')
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


def graph_mlp(replays: int = 200) -> None:
    """Times the mlp step's generated module alone and as a replayed CUDA graph (see the module's docstring)."""
    import cupy as cp

    import graphgrad as gg
    from workloads import MLP_LR, MLP_SIZES, mlp_loss

    rng = np.random.default_rng(0)
    host = []
    for n_in, n_out in zip(MLP_SIZES[:-1], MLP_SIZES[1:]):
        host += [(rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(np.float32),
                 np.zeros(n_out, np.float32)]
    x, y = rng.standard_normal((128, MLP_SIZES[0])).astype(np.float32), rng.integers(0, MLP_SIZES[-1], 128)
    sync = cp.cuda.Device().synchronize
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

        def step():
            loss, *saved = forward(*params, *data)
            grads = backward(*saved, seed)
            for p, g in zip(params, grads):
                axpy(g, -MLP_LR, p)
            return loss, grads

        label = "fused" if fuse else "unfused"
        print(f"== the mlp step's generated module ({label}), called directly: "
              f"{per_call(step, sync, replays) * 1e6:.1f} us per step (back to back)")
        if not hasattr(cp.cuda.Stream, "begin_capture"):
            print("  (this CuPy has no stream capture)")
            continue
        start = [p.copy() for p in params]
        want_loss, want_grads = step()
        want_loss, want_grads = float(want_loss), [g.get() for g in want_grads]
        for p, p0 in zip(params, start):
            p[...] = p0
        pool, kept = cp.get_default_memory_pool(), []

        def keep(size):
            memory = pool.malloc(size)
            kept.append(memory)
            return memory

        stream = cp.cuda.Stream(non_blocking=True)
        try:
            with stream:
                step()  # warm on this stream, then put the parameters back
                stream.synchronize()
                for p, p0 in zip(params, start):
                    p[...] = p0
                stream.synchronize()
                cp.cuda.set_allocator(keep)
                try:
                    stream.begin_capture()
                    loss, grads = step()
                    graph = stream.end_capture()
                finally:
                    cp.cuda.set_allocator(pool.malloc)
                graph.launch(stream)
                stream.synchronize()
                errors = [float(abs(float(loss) - want_loss))] + [
                    float(np.max(np.abs(g.get() - w))) for g, w in zip(grads, want_grads)]
                print(f"  as one CUDA graph: the replay's loss and gradients differ from the step's by at most "
                      f"{max(errors):.2e}; {len(kept)} allocations kept for the graph "
                      f"({sum(m.mem.size for m in kept) / 2**20:.2f} MiB)")
                replayed = per_call(lambda: graph.launch(stream), stream.synchronize, replays)
                print(f"  as one CUDA graph, replayed: {replayed * 1e6:.1f} us per step (back to back)")
        except Exception as e:  # noqa: BLE001 (what failed is the finding)
            print(f"  capture failed: {type(e).__name__}: {e}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per measurement (default 200)")
    parser.add_argument("--profile", action="store_true", help="then profile the compiled mlp step")
    parser.add_argument("--graph", action="store_true", help="then time the mlp's module alone and as a CUDA graph")
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
    if ns.graph:
        graph_mlp(replays=ns.calls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
