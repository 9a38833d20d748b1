"""Many small elementwise ops: 25 x (mul, tanh, add) on a 4-element tensor, loss and gradient. This is where
per-op overhead dominates, so compiling (one generated function instead of 75 dispatched ops) pays most.

    python benchmarks/bench_small_ops.py
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import best_times, optional_torch, parse, row  # noqa: E402

import graphgrad as gg  # noqa: E402

DEPTH = 25


def chain(x, w):
    for _ in range(DEPTH):
        x = (x * w).tanh() + x
    return x.sum()


def numpy_by_hand(x, w):
    """Forward keeping what backward needs, then the chain rule by hand."""
    xs, ts = [], []
    for _ in range(DEPTH):
        t = np.tanh(x * w)
        xs.append(x)
        ts.append(t)
        x = t + x
    g, g_w = np.ones_like(x), np.zeros_like(w)
    for x_i, t in zip(reversed(xs), reversed(ts)):
        d = g * (1 - t * t)
        g_w += d * x_i
        g = g + d * w
    return x.sum(), g, g_w


def main() -> None:
    args = parse(__doc__.splitlines()[0])
    repeat = 3 if args.quick else 20
    rng = np.random.default_rng(0)
    x0, w0 = rng.standard_normal(4) * 0.5, rng.standard_normal(4) * 0.5
    compiled = gg.compile(chain)

    def step(fn, lib):
        x, w = lib.tensor(x0, requires_grad=True), lib.tensor(w0, requires_grad=True)
        return lambda: (setattr(x, "grad", None), setattr(w, "grad", None), fn(x, w).backward(), x, w)[-2:]

    _, g_x, g_w = numpy_by_hand(x0, w0)
    for fn in (compiled, chain):
        x, w = step(fn, gg)()
        np.testing.assert_allclose(x.grad.numpy(), g_x, rtol=1e-10)
        np.testing.assert_allclose(w.grad.numpy(), g_w, rtol=1e-10)
    candidates = {"NumPy by hand": lambda: numpy_by_hand(x0, w0),
                  "graphgrad compiled (numpy)": step(compiled, gg),
                  "graphgrad eager": step(chain, gg)}
    torch = optional_torch()
    if torch is not None:
        candidates[f"PyTorch {torch.__version__} eager"] = step(chain, torch)
    times = best_times(candidates, repeat, 20)
    base = times["NumPy by hand"]
    print(f"{DEPTH} x (mul, tanh, add) on 4 float64 elements, loss and both gradients (min of {repeat} runs)")
    print(f"  {'':<34} {'time':>13}   {'vs NumPy':>7}")
    for label, seconds in times.items():
        print(row(label, seconds, base))


if __name__ == "__main__":
    main()
