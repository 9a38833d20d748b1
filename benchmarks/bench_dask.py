"""One compiled gradient step of a logistic regression: rows per second in one process (the generated NumPy
module on all rows) against graphgrad.dask on a LocalCluster with 1 and 2 worker processes; the cost of a Dask
step on tiny data (its fixed overhead); and where a Dask step's time goes (scatter, compute, transfer, the rest).

    python benchmarks/bench_dask.py            # 2,000,000 rows x 16 features (256 MiB), chunks of 125,000 rows
    python benchmarks/bench_dask.py --quick    # a smoke run on small data
"""
from __future__ import annotations

import logging
import os
import sys

# one BLAS thread in every process, as Dask gives its workers: the one-process figure is then one core's, and
# BLAS threads spinning on a shared machine do not distort it
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from common import best_times, parse  # noqa: E402

try:
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster, get_task_stream
except ImportError as error:  # an optional extra: run_all.py goes on to the next benchmark
    print(f"skipped: {error.name} is not installed (pip install 'graphgrad[dask]')")
    sys.exit(0)

import graphgrad as gg  # noqa: E402
import graphgrad.dask as gd  # noqa: E402
from graphgrad.examples.dask_logreg import loss  # noqa: E402


def dask_data(client, rows: int, features: int, chunk_rows: int, seed: int):
    """The data persisted in the workers' memory, so that a step measures the gradient, not data generation."""
    rng = da.random.default_rng(seed)
    x = rng.standard_normal((rows, features), chunks=(chunk_rows, features))
    y = (rng.random(rows, chunks=chunk_rows) < 0.5).astype(np.float64)
    x, y = client.persist([x, y])
    client.wait_for_workers(len(client.scheduler_info()["workers"]))
    from distributed import wait
    wait([x, y])
    return x, y


def split(vg, client, args) -> dict:
    """One step under Dask's task stream: the busiest worker's compute, all transfers, and the rest."""
    with get_task_stream(client) as stream:
        vg(*args)
    busy: dict = {}
    chunk_seconds = []
    transfer = 0.0
    for task in stream.data:
        for part in task["startstops"]:
            seconds = part["stop"] - part["start"]
            if part["action"] == "compute":
                busy[task["worker"]] = busy.get(task["worker"], 0.0) + seconds
                if "run_chunk" in str(task["key"]):
                    chunk_seconds.append(seconds)
            elif part["action"] == "transfer":
                transfer += seconds
    t = vg.last_timings
    compute = max(busy.values(), default=0.0)
    return {"wall": t.wall, "scatter": t.scatter, "compute": compute, "transfer": transfer,
            "rest": max(t.wall - t.scatter - compute - transfer, 0.0), "tasks": len(stream.data),
            "per_chunk": float(np.median(chunk_seconds)) if chunk_seconds else 0.0}


def main() -> None:
    args = parse(__doc__.splitlines()[0])
    rows, features, chunk_rows = (40_000, 16, 5_000) if args.quick else (2_000_000, 16, 125_000)
    repeat = 2 if args.quick else 7
    w, b = np.random.default_rng(1).standard_normal(features) * 0.1, np.array(0.1)
    print(f"logistic regression gradient step: {rows:,} rows x {features} features (float64), "
          f"chunks of {chunk_rows:,} rows; min of {repeat} runs; {os.cpu_count()} CPU cores on this machine, "
          f"{os.environ['OPENBLAS_NUM_THREADS']} BLAS thread per process, load average {os.getloadavg()[0]:.1f} "
          "at the start")
    # as graphgrad demo --dask does: glibc's adaptive malloc thresholds instead of Dask's MALLOC_TRIM_THRESHOLD_
    dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        vg = gd.value_and_grad(loss, argnums=(0, 1), client=client, timeout=600)
        x, y = dask_data(client, rows, features, chunk_rows, seed=0)
        xs, ys = (np.array(a) for a in client.compute([x, y], sync=True))  # fresh, aligned copies in this process
        single = gg.value_and_grad(loss, argnums=(0, 1))
        expected = single(w, b, xs, ys)
        got = vg(w, b, x, y)  # measure only what computes the right answer
        np.testing.assert_allclose(got[1][0], expected[1][0], rtol=1e-10)
        np.testing.assert_allclose(got[0], expected[0], rtol=1e-10)
        times = {"one process (graphgrad compiled, NumPy)": best_times({"": lambda: single(w, b, xs, ys)}, repeat)[""]}
        del xs, ys
        times["graphgrad.dask, 1 worker"] = best_times({"": lambda: vg(w, b, x, y)}, repeat)[""]
        tiny = [a[:100].rechunk(100) for a in (x, y)]
        tiny = client.persist(tiny)
        overhead = {1: best_times({"": lambda: vg(w, b, *tiny)}, repeat * 3)[""]}
        del x, y, tiny
        cluster.scale(2)
        client.wait_for_workers(2, timeout=120)
        x, y = dask_data(client, rows, features, chunk_rows, seed=1)  # new keys: spread over both workers
        times["graphgrad.dask, 2 workers"] = best_times({"": lambda: vg(w, b, x, y)}, repeat)[""]
        tiny = client.persist([a[:100].rechunk(100) for a in (x, y)])
        overhead[2] = best_times({"": lambda: vg(w, b, *tiny)}, repeat * 3)[""]
        parts = min((split(vg, client, (w, b, x, y)) for _ in range(repeat)), key=lambda p: p["wall"])
    base = times["one process (graphgrad compiled, NumPy)"]
    print(f"  {'':<42} {'step':>10}   {'rows/s':>12}   {'vs one process':>14}")
    for label, seconds in times.items():
        print(f"  {label:<42} {seconds * 1e3:7.1f} ms   {rows / seconds:12,.0f}   {base / seconds:13.2f}x")
    print("overhead of a Dask step on tiny data (100 rows, 1 chunk): "
          + ", ".join(f"{k} worker{'s' if k > 1 else ''} {s * 1e3:.1f} ms" for k, s in overhead.items()))
    print(f"where a 2-worker step's {parts['wall'] * 1e3:.1f} ms go ({parts['tasks']} tasks): "
          f"scatter parameters {parts['scatter'] * 1e3:.1f} ms, compute on the busiest worker "
          f"{parts['compute'] * 1e3:.1f} ms, transfers {parts['transfer'] * 1e3:.1f} ms, scheduling and driver "
          f"{parts['rest'] * 1e3:.1f} ms; one chunk's gradient takes {parts['per_chunk'] * 1e3:.1f} ms on a worker, "
          f"{base * chunk_rows / rows * 1e3:.1f} ms of the one-process step")


if __name__ == "__main__":
    main()
