"""Eager autograd overhead per op: ``y = y * 1.0001`` 1000 times on a one-element tensor that requires grad,
then ``backward()``. Reported per op (forward + backward), beside PyTorch when installed.

The target from issue 3 is 7.5 us per op on the 2-core development machine (PyTorch 2.13's C++ engine
there; HIPS autograd: 13.9 us).

    python benchmarks/bench_eager_per_op.py
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import best_times, optional_torch, parse  # noqa: E402

import graphgrad as gg  # noqa: E402

CHAIN = 1000
TARGET_US = 7.5


def chain(lib):
    def run():
        x = lib.ones(1, requires_grad=True)
        y = x
        for _ in range(CHAIN):
            y = y * 1.0001
        y.backward()
        return x.grad
    return run


def numpy_by_hand():
    """The same work written with NumPy by hand: the forward products, then the chain rule backwards."""
    x = np.ones(1, dtype=np.float32)
    y = x
    for _ in range(CHAIN):
        y = y * np.float32(1.0001)
    g = np.ones(1, dtype=np.float32)
    for _ in range(CHAIN):
        g = g * np.float32(1.0001)
    return g


def main() -> None:
    args = parse(__doc__.splitlines()[0])
    repeat = 3 if args.quick else 30
    expected = 1.0001 ** CHAIN
    assert abs(chain(gg)().item() - expected) < 1e-3, "graphgrad computed a wrong gradient"
    candidates = {"graphgrad (eager)": chain(gg)}
    torch = optional_torch()
    if torch is not None:
        candidates[f"PyTorch {torch.__version__}"] = chain(torch)
    candidates["numpy"] = numpy_by_hand
    results = best_times(candidates, repeat)
    numpy_time = results.pop("numpy")
    print(f"eager per-op cost: y = y * 1.0001 x {CHAIN} on 1 element, forward + backward (min of {repeat} runs)")
    print(f"  {'':<34} {'per op':>13}   {'vs NumPy by hand':>16}")
    for label, seconds in results.items():
        print(f"  {label:<34} {seconds / CHAIN * 1e6:10.2f} us   {seconds / numpy_time:13.1f}x")
    print(f"  {'NumPy by hand (2 multiplies/op)':<34} {numpy_time / CHAIN * 1e6:10.2f} us   {1:13.1f}x")
    print(f"  target (issue 3): {TARGET_US} us per op" + ("" if torch else "; PyTorch is not installed here"))


if __name__ == "__main__":
    main()
