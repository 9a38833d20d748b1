"""Run every benchmark; ``--quick`` makes it a smoke run (few repetitions, smallest sizes).

    python benchmarks/run_all.py            # a measurement (a few minutes)
    python benchmarks/run_all.py --quick    # checks the benchmarks still run (seconds)
"""
from __future__ import annotations

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHMARKS = ["bench_eager_per_op.py", "bench_small_ops.py", "bench_mlp.py", "bench_embedding.py"]


def main() -> int:
    failed = 0
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        failed |= subprocess.call([sys.executable, os.path.join(HERE, name), *sys.argv[1:]])
        print(flush=True)
    return failed


if __name__ == "__main__":
    sys.exit(main())
