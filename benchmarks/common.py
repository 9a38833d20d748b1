"""Shared timing helpers: minimum of repeated runs (the least noisy estimate on a shared machine)."""
from __future__ import annotations

import argparse
import statistics
import time


def best_times(fns: dict, repeat: int, number: int = 1) -> dict:
    """Seconds per call of each candidate: the minimum over ``repeat`` rounds of ``number`` calls. The candidates
    run in turns, so a noisy spell on a shared machine hits them all alike."""
    return {label: min(samples) for label, samples in sample_times(fns, repeat, number).items()}


def sample_times(fns: dict, repeat: int, number: int = 1, cpu: dict | None = None) -> dict:
    """Seconds per call of each candidate in each of ``repeat`` rounds (after one warm-up call each), the
    candidates taking turns round by round. With ``cpu`` (a dict), the process's CPU seconds per call are
    collected there too: on a loaded machine they count the work done, not the time spent waiting for a core."""
    for fn in fns.values():
        fn()
    samples: dict = {label: [] for label in fns}
    if cpu is not None:
        cpu.update({label: [] for label in fns})
    for _ in range(repeat):
        for label, fn in fns.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(number):
                fn()
            samples[label].append((time.perf_counter() - start) / number)
            if cpu is not None:
                cpu[label].append((time.process_time() - start_cpu) / number)
    return samples


def calls_per_sample(fn, target: float = 0.01) -> int:
    """How many calls make one timed sample of about ``target`` seconds (timer resolution and noise matter
    less for fast functions timed in batches)."""
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    return max(1, min(1000, int(target / max(once, 1e-7))))


def median(samples: list) -> float:
    return statistics.median(samples)


def optional_torch():
    """PyTorch when it is installed (benchmarks compare against it; the project never depends on it)."""
    try:
        import torch
    except ImportError:
        return None
    return torch  # with its default threads, as NumPy's BLAS keeps its own


def optional_jax():
    """JAX when it is installed (CPU; never a dependency of the project)."""
    try:
        import jax
    except ImportError:
        return None
    return jax


def parse(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run, not a measurement")
    return parser.parse_args()


def row(label: str, seconds: float, baseline: float, unit: str = "us") -> str:
    scale = {"us": 1e6, "ms": 1e3}[unit]
    return f"  {label:<34} {seconds * scale:10.2f} {unit}   {seconds / baseline:7.2f}x"


def fmt_time(seconds: float) -> str:
    """``12.3 us`` / ``4.56 ms`` / ``1.23 s``: three significant figures in a readable unit."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:8.2f} ms"
    return f"{seconds:8.2f} s "


def fmt_bytes(n: float) -> str:
    if n < 1024 * 1024:
        return f"{n / 1024:8.1f} KiB"
    return f"{n / (1024 * 1024):8.2f} MiB"
