"""Softmax cross-entropy of a language model's size (2,048 tokens x 32,000 classes, float32: 250 MiB of logits),
loss and gradient of the logits: graphgrad compiled and eager against NumPy written by hand (one array of the
logits' size: the gradient ``softmax - onehot`` computed in place) and PyTorch / JAX when installed. Time is the
minimum of a few calls; memory is the most resident memory a step adds (each candidate in a process of its own:
the page-level figure a user sees, which counts what NumPy's allocator hands back lazily as it is touched).

    python benchmarks/bench_cross_entropy.py
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
from common import fmt_time, optional_jax, optional_torch  # noqa: E402

CANDIDATES = ("NumPy by hand", "graphgrad compiled (numpy)", "graphgrad eager", "PyTorch eager", "JAX jit")


def data(tokens: int, classes: int):
    rng = np.random.default_rng(0)
    return rng.standard_normal((tokens, classes)).astype(np.float32), rng.integers(0, classes, tokens)


def by_hand(z: np.ndarray, y: np.ndarray):
    """Loss and gradient with one array of z's size: exp(z - max) in place, then softmax - onehot, over N."""
    n = z.shape[0]
    rows = np.arange(n)
    top = z.max(axis=1, keepdims=True)
    p = np.subtract(z, top)
    np.exp(p, out=p)
    total = p.sum(axis=1, keepdims=True)
    loss = (np.log(total[:, 0]) + top[:, 0] - z[rows, y]).mean()
    p *= 1 / (total * n)
    p[rows, y] -= 1 / n
    return loss, p


def step(name: str, z: np.ndarray, y: np.ndarray):
    """A function computing the loss and the logits' gradient (as a NumPy array) with candidate ``name``, and one
    letting go of the gradient it keeps (``.grad``), or None where the candidate is not installed."""
    if name == "NumPy by hand":
        return lambda: by_hand(z, y)[1], lambda: None
    if name.startswith("graphgrad"):
        import graphgrad as gg
        import graphgrad.nn.functional as F

        logits, target = gg.tensor(z, requires_grad=True), gg.from_numpy(y)
        fn = (lambda a, b: F.cross_entropy(a, b))
        fn = gg.compile(fn) if "compiled" in name else fn

        def run():
            logits.grad = None
            fn(logits, target).backward()
            return logits.grad.numpy()
        return run, lambda: setattr(logits, "grad", None)
    if name == "PyTorch eager":
        torch = optional_torch()
        if torch is None:
            return None
        torch.set_num_threads(1)
        logits, target = torch.tensor(z, requires_grad=True), torch.from_numpy(y)

        def run():
            logits.grad = None
            torch.nn.functional.cross_entropy(logits, target).backward()
            return logits.grad.numpy()
        return run, lambda: setattr(logits, "grad", None)
    jax = optional_jax()
    if jax is None:
        return None
    import jax.numpy as jnp

    def loss(a, b):
        return -jnp.take_along_axis(jax.nn.log_softmax(a), b[:, None], 1).mean()

    grad = jax.jit(jax.grad(loss))
    a, b = jnp.asarray(z), jnp.asarray(y)
    return lambda: np.asarray(jax.block_until_ready(grad(a, b))), lambda: None


def _resident() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_resident() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def child(name: str, tokens: int, classes: int, repeat: int) -> dict | None:
    """In this process: candidate ``name``'s gradient (checked against the hand-written one), its best time and
    the resident memory a step adds over what the process held before it (the inputs, a framework's own copy)."""
    z, y = data(tokens, classes)
    candidate = step(name, z, y)
    if candidate is None:
        return None
    run, release = candidate
    np.testing.assert_allclose(run(), by_hand(z, y)[1], rtol=1e-4, atol=1e-9)  # (compiles, warms up)
    release()  # (each step starts without last step's gradient, as run() lets go of it first)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:  # (Linux: "5" resets the peak, VmHWM, to what is resident now)
        f.write("5")
    before = _resident()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return {"seconds": best, "added": max(0, _peak_resident() - before)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small problem, few repetitions: a smoke run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, nargs=2, default=None, help=argparse.SUPPRESS)
    ns = parser.parse_args()
    tokens, classes = ns.size or ((256, 2000) if ns.quick else (2048, 32000))
    repeat = 2 if ns.quick else 5
    if ns.child:
        print(json.dumps(child(ns.child, tokens, classes, repeat)))
        return 0
    print(f"softmax cross-entropy, {tokens} x {classes} float32 logits ({tokens * classes * 4 / 2**20:.0f} MiB), "
          f"loss and gradient; min of {repeat} calls; memory: the most resident memory a step adds")
    results = {}
    for name in CANDIDATES:
        out = subprocess.run([sys.executable, __file__, "--child", name, "--size", str(tokens), str(classes)],
                             capture_output=True, text=True)
        if out.returncode:
            print(out.stdout + out.stderr)
            return 1
        found = json.loads(out.stdout.strip().splitlines()[-1])
        if found is not None:
            results[name] = found
    base = results["NumPy by hand"]
    size = tokens * classes * 4
    print(f"  {'':<28} {'time':>11} {'vs NumPy':>9}   {'memory added':>12}  {'in logits':>9}")
    for name, r in results.items():
        print(f"  {name:<28} {fmt_time(r['seconds'])} {r['seconds'] / base['seconds']:8.2f}x   "
              f"{r['added'] / 2**20:8.0f} MiB  {r['added'] / size:8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
