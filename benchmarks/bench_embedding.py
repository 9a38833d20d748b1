"""Embedding lookups with a new index batch every step (as in training): forward, sum, backward into the
table's gradient, against the same gather and scatter-add written by hand in NumPy.

    python benchmarks/bench_embedding.py
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import best_times, optional_torch, parse, row  # noqa: E402

import graphgrad as gg  # noqa: E402

ROWS, DIM, BATCH, STEPS = 1000, 16, 32, 50


def main() -> None:
    args = parse(__doc__.splitlines()[0])
    repeat = 3 if args.quick else 20
    rng = np.random.default_rng(0)
    table = rng.standard_normal((ROWS, DIM)).astype(np.float32)
    # every round draws new index batches, as training does: nothing may be cached per index
    rounds = [[rng.integers(0, ROWS, BATCH) for _ in range(STEPS)] for _ in range(repeat + 2)]

    numpy_batches = iter(rounds)

    def numpy_by_hand():
        for idx in next(numpy_batches):
            out = table[idx]
            grad = np.zeros_like(table)
            np.add.at(grad, idx, np.ones_like(out))

    def step(embedding, to_index):
        batches = iter(rounds)

        def run():
            for idx in next(batches):
                embedding.weight.grad = None
                embedding(to_index(idx)).sum().backward()
        return run

    gg_embedding = gg.nn.Embedding(ROWS, DIM)
    with gg.no_grad():
        gg_embedding.weight.copy_(gg.tensor(table))
    gg_embedding(gg.tensor(rounds[0][0])).sum().backward()
    expected = np.zeros_like(table)
    np.add.at(expected, rounds[0][0], 1.0)
    np.testing.assert_array_equal(gg_embedding.weight.grad.numpy(), expected)
    candidates = {"NumPy by hand": numpy_by_hand, "graphgrad eager": step(gg_embedding, gg.tensor)}
    torch = optional_torch()
    if torch is not None:
        candidates[f"PyTorch {torch.__version__} eager"] = step(torch.nn.Embedding(ROWS, DIM), torch.tensor)
    times = best_times(candidates, repeat)
    base = times["NumPy by hand"]
    print(f"embedding {ROWS}x{DIM}, {BATCH} new indices per step, {STEPS} steps (min of {repeat} runs)")
    print(f"  {'':<34} {'per step':>13}   {'vs NumPy':>7}")
    for label, seconds in times.items():
        print(row(label, seconds / STEPS, base / STEPS))


if __name__ == "__main__":
    main()
