"""Gradient of a two-layer MLP loss (tanh hidden layer, mean squared error): graphgrad compiled and eager
against the same forward and backward written by hand in NumPy, and PyTorch when installed.

    python benchmarks/bench_mlp.py
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import best_times, optional_torch, parse, row  # noqa: E402

import graphgrad as gg  # noqa: E402

SIZES = [(64, 2, 32, 3), (256, 64, 256, 10), (1024, 256, 512, 10)]  # (batch, inputs, hidden, outputs)


def loss(w1, b1, w2, b2, x, y):
    hidden = (x @ w1 + b1).tanh()
    return ((hidden @ w2 + b2 - y) ** 2).mean()


def numpy_by_hand(w1, b1, w2, b2, x, y):
    """What a careful NumPy programmer writes for the same loss and its four gradients."""
    hidden = np.tanh(x @ w1 + b1)
    diff = hidden @ w2 + b2 - y
    value = (diff * diff).mean()
    d_out = diff * (2.0 / diff.size)
    g_w2 = hidden.T @ d_out
    g_b2 = d_out.sum(0)
    d_pre = (d_out @ w2.T) * (1 - hidden * hidden)
    return value, x.T @ d_pre, d_pre.sum(0), g_w2, g_b2


def make_step(fn, params, data):
    def step():
        for p in params:
            p.grad = None
        fn(*params, *data).backward()
    return step


def main() -> None:
    args = parse(__doc__.splitlines()[0])
    repeat = 3 if args.quick else 20
    torch = optional_torch()
    compiled = gg.compile(loss)
    print("two-layer MLP: loss and gradients of all four parameters (min of %d runs)" % repeat)
    for batch, n_in, n_hidden, n_out in SIZES[:1] if args.quick else SIZES:
        rng = np.random.default_rng(0)
        arrays = [rng.standard_normal(s).astype(np.float32) * 0.1
                  for s in ((n_in, n_hidden), (n_hidden,), (n_hidden, n_out), (n_out,))]
        data = [rng.standard_normal(s).astype(np.float32) for s in ((batch, n_in), (batch, n_out))]
        params = [gg.tensor(a, requires_grad=True) for a in arrays]
        tensors = [gg.tensor(d) for d in data]
        reference = numpy_by_hand(*arrays, *data)
        compiled(*params, *tensors).backward()
        for p, expected in zip(params, reference[1:]):  # measure only what computes the right answer
            np.testing.assert_allclose(p.grad.numpy(), expected, rtol=1e-4, atol=1e-6)
        candidates = {"NumPy by hand": lambda: numpy_by_hand(*arrays, *data),
                      "graphgrad compiled (numpy)": make_step(compiled, params, tensors),
                      "graphgrad eager": make_step(loss, params, tensors)}
        if torch is not None:
            t_params = [torch.tensor(a, requires_grad=True) for a in arrays]
            t_data = [torch.tensor(d) for d in data]
            candidates[f"PyTorch {torch.__version__} eager"] = make_step(loss, t_params, t_data)
        times = best_times(candidates, repeat, 10)
        base = times["NumPy by hand"]
        print(f" batch {batch}, {n_in} -> {n_hidden} -> {n_out}:{'':<10} {'time':>13}   {'vs NumPy':>7}")
        for label, seconds in times.items():
            print(row(label, seconds, base))


if __name__ == "__main__":
    main()
