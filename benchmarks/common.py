"""Shared timing helpers: minimum of repeated runs (the least noisy estimate on a shared machine)."""
from __future__ import annotations

import argparse
import time


def best_times(fns: dict, repeat: int, number: int = 1) -> dict:
    """Seconds per call of each candidate: the minimum over ``repeat`` rounds of ``number`` calls. The candidates
    run in turns, so a noisy spell on a shared machine hits them all alike."""
    for fn in fns.values():
        fn()
    best = {label: float("inf") for label in fns}
    for _ in range(repeat):
        for label, fn in fns.items():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            best[label] = min(best[label], (time.perf_counter() - start) / number)
    return best


def optional_torch():
    """PyTorch when it is installed (benchmarks compare against it; the project never depends on it)."""
    try:
        import torch
    except ImportError:
        return None
    return torch  # with its default threads, as NumPy's BLAS keeps its own


def parse(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run, not a measurement")
    return parser.parse_args()


def row(label: str, seconds: float, baseline: float, unit: str = "us") -> str:
    scale = {"us": 1e6, "ms": 1e3}[unit]
    return f"  {label:<34} {seconds * scale:10.2f} {unit}   {seconds / baseline:7.2f}x"
