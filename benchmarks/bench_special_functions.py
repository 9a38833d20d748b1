"""sigmoid, erf and GELU, eagerly and compiled (forward only), against NumPy written by hand in the same run:
``1 / (1 + np.exp(-x))`` for sigmoid, and for erf the best NumPy alone offers, Python's ``math.erf`` per element
(``np.frompyfunc``); PyTorch eager beside them when installed. Small arrays show the fixed cost of a call,
large ones the per-element cost (erf switches from per-element calls to fdlibm's approximations computed array
by array at 1,500 elements: ``ops/numpy_functions.py``).

    python benchmarks/bench_special_functions.py
"""
from __future__ import annotations

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import best_times, optional_torch, parse, row  # noqa: E402

import graphgrad as gg  # noqa: E402
import graphgrad.nn.functional as F  # noqa: E402

SHAPES = ((512,), (20000,), (64, 3072))


def _by_hand(name: str):
    erf = np.frompyfunc(math.erf, 1, 1)
    if name == "sigmoid":
        return lambda a: 1 / (1 + np.exp(-a))
    if name == "erf":
        return lambda a: erf(a).astype(a.dtype)
    return lambda a: (0.5 * a * (1 + erf(a * (1 / math.sqrt(2))).astype(a.dtype))).astype(a.dtype)


def main() -> None:
    args = parse(__doc__.splitlines()[0])
    repeat = 2 if args.quick else 7
    torch = optional_torch()
    if torch is not None:
        torch.set_num_threads(1)
    functions = {"sigmoid": (gg.sigmoid, "sigmoid"), "erf": (gg.erf, "erf"), "gelu": (F.gelu, "gelu")}
    rng = np.random.default_rng(0)
    for shape in SHAPES[:2] if args.quick else SHAPES:
        a = rng.standard_normal(shape).astype(np.float32)
        x = gg.tensor(a)
        number = max(1, 200_000 // a.size) if not args.quick else 1
        print(f"float32{list(shape)} ({a.size:,} elements; min of {repeat} runs of {number} calls)")
        print(f"  {'':<34} {'per call':>13}   {'vs NumPy':>7}")
        for name, (fn, torch_name) in functions.items():
            hand = _by_hand(name)
            compiled = gg.compile(fn)
            want = hand(a.astype(np.float64))
            for got in (fn(x).numpy(), compiled(x).numpy()):  # the same values first (float32 against float64)
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
            candidates = {f"{name}: NumPy by hand": lambda: hand(a),
                          f"{name}: graphgrad eager": lambda: fn(x),
                          f"{name}: graphgrad compiled": lambda: compiled(x)}
            if torch is not None:
                t = torch.from_numpy(a)
                torch_fn = getattr(torch.nn.functional, torch_name, None) or getattr(torch, torch_name)
                candidates[f"{name}: PyTorch {torch.__version__} eager"] = lambda: torch_fn(t)
            times = best_times(candidates, repeat, number)
            base = times[f"{name}: NumPy by hand"]
            for label, seconds in times.items():
                print(row(label, seconds, base))
        print()


if __name__ == "__main__":
    main()
