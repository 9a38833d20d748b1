"""Why generated NumPy code compares with a block of zeros, not with 0 (``codegen/python.py``'s ``_against_block``).

NumPy's ``maximum``/``minimum`` loops can be faster for two arrays than against a number. Part 1 times
``np.maximum(h, 0, out=h)`` against the block of trailing dimensions that codegen builds once per module and
against a block as large as ``h``; part 2 times the hand-written mlp step of ``run_all.py`` in its idiomatic form
and with blocks, so that the benchmark's hand-written baseline can be judged fairly. Minimum of several rounds,
the candidates taking turns.

    python benchmarks/bench_scalar_blocks.py [--quick]
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import workloads  # noqa: E402
from graphgrad.codegen.python import _block_shape  # noqa: E402
from graphgrad.ir.types import TensorType  # noqa: E402


def best_of(calls: dict, rounds: int = 7, number: int = 200) -> dict:
    """Minimum seconds per call of each candidate, the candidates taking turns each round."""
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(rounds):
        for label, call in calls.items():
            start = time.perf_counter()
            for _ in range(number):
                call()
            best[label] = min(best[label], (time.perf_counter() - start) / number)
    return best


def relu_forms(rounds: int = 7, number: int = 200) -> None:
    print("np.maximum(h, 0, out=h) against a block (us per call)")
    print(f"  {'shape':>16} {'dtype':>8} {'scalar 0':>9} {'row block':>10} {'full block':>11}")
    rng = np.random.default_rng(0)
    for shape in ((128, 512), (128, 256), (64, 16, 8, 8), (20000,)):
        for dtype in (np.float32, np.float64):
            h = rng.standard_normal(shape).astype(dtype)
            # the block codegen builds for a float32 array of this shape (None: too wide, the scalar stays)
            block = _block_shape(TensorType(shape, "float32"))
            row = np.zeros(block or (), dtype)
            full = np.zeros(shape, dtype)
            calls = {"scalar": lambda: np.maximum(h, 0, out=h), "full": lambda: np.maximum(h, full, out=h)}
            if block is not None:
                calls["row"] = lambda: np.maximum(h, row, out=h)
            times = best_of(calls, rounds, number)
            row_text = f"{times['row'] * 1e6:10.1f}" if block is not None else f"{'-':>10}"
            print(f"  {str(shape):>16} {np.dtype(dtype).name:>8} {times['scalar'] * 1e6:9.1f} {row_text} "
                  f"{times['full'] * 1e6:11.1f}")


def hand_mlp(rounds: int = 7, number: int = 50) -> None:
    arrays, x, y = workloads.mlp_data()
    blocks = tuple(np.zeros(width, np.float32) for width in workloads.MLP_SIZES[1:3])
    idiomatic = workloads.HandMLP(arrays, x, y, 0.0)            # np.maximum(h1, 0, out=h1)
    blocked = workloads.HandMLP(arrays, x, y, 0.0, floors=blocks)  # np.maximum(h1, zeros_512, out=h1)
    for a, b in zip(idiomatic.gradients(), blocked.gradients()):
        np.testing.assert_array_equal(a, b)  # (lr 0: both keep the same weights)
    times = best_of({"idiomatic": idiomatic.step, "blocked": blocked.step}, rounds, number)
    print(f"\nhand-written mlp step (run_all.py's): np.maximum(h1, 0, out=h1) {times['idiomatic'] * 1e6:.0f} us, "
          f"against blocks {times['blocked'] * 1e6:.0f} us ({times['blocked'] / times['idiomatic']:.3f}x)")


if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    relu_forms(*((1, 2) if quick else ()))
    hand_mlp(*((1, 1) if quick else ()))
