"""Logistic regression on more rows than one Dask worker can hold, trained data-parallel with graphgrad.dask.

    graphgrad demo --dask                                  # a 2-worker LocalCluster, 256 MiB per worker
    graphgrad demo --dask --scheduler tcp://HOST:8786      # an existing cluster
    graphgrad demo --dask --rows 20000 --check             # also train on one machine and compare

The data set is generated chunk by chunk on the workers by ``dask.array`` from a seed, so it never exists
on the driver (nor whole on any worker). Each step scatters the parameters, runs the generated NumPy
gradient on every chunk, sums the chunks in a tree on the cluster, and takes an Adam step on the driver.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys

import numpy as np

import graphgrad as gg

WORKER_MEMORY = "256MiB"


def loss(w, b, x, y, l2=1e-3):
    """Mean logistic loss (log(1 + e^z) - y z, in a form that cannot overflow) plus an L2 penalty."""
    z = x @ w + b
    per_row = gg.log1p((-z.abs()).exp()) + z.relu() - y * z
    return per_row.mean() + l2 * (w ** 2).sum()


def make_data(rows: int, features: int, chunk_rows: int, seed: int = 0):
    """``(x, y)`` as lazy dask arrays: standard normal features, labels drawn from a known logistic model."""
    import dask.array as da

    rng = da.random.default_rng(seed)
    x = rng.standard_normal((rows, features), chunks=(chunk_rows, features))
    w_true = np.random.default_rng(seed).standard_normal(features)
    p = 1 / (1 + da.exp(-(x @ w_true + 0.5)))
    y = (rng.random(rows, chunks=chunk_rows) < p).astype(np.float64)
    return x, y


def train(x, y, steps: int, lr: float = 0.1, client=None, progress: bool = True,
          timeout: float | None = 600) -> tuple[list, list]:
    """Adam on the driver over gradients computed on the cluster; returns the losses and the parameters.
    ``timeout`` bounds each step (seconds)."""
    import graphgrad.dask

    w = gg.zeros(x.shape[1], dtype=gg.float64, requires_grad=True)
    b = gg.zeros((), dtype=gg.float64, requires_grad=True)
    optimizer = gg.optim.Adam([w, b], lr=lr)
    value_and_grad = graphgrad.dask.value_and_grad(loss, argnums=(0, 1), client=client, timeout=timeout)
    losses = []
    bar = _progress(steps, progress)
    for _ in range(steps):
        value, (w.grad, b.grad) = value_and_grad(w, b, x, y)
        optimizer.step()
        losses.append(value.item())
        bar.set_postfix(loss=f"{losses[-1]:.5f}", step_s=f"{value_and_grad.last_timings.wall:.2f}")
        bar.update()
    bar.close()
    return losses, [w.detach().numpy(), b.detach().numpy()]


def train_single_machine(x: np.ndarray, y: np.ndarray, steps: int, lr: float = 0.1) -> list:
    """The same training with the whole data set in this process (for a small data set)."""
    w = gg.zeros(x.shape[1], dtype=gg.float64, requires_grad=True)
    b = gg.zeros((), dtype=gg.float64, requires_grad=True)
    optimizer = gg.optim.Adam([w, b], lr=lr)
    value_and_grad = gg.value_and_grad(loss, argnums=(0, 1))
    losses = []
    for _ in range(steps):
        value, (gw, gb) = value_and_grad(w.detach().numpy(), b.detach().numpy(), x, y)
        w.grad, b.grad = gg.tensor(gw), gg.tensor(gb)
        optimizer.step()
        losses.append(float(value))
    return losses


class _Quiet:
    def set_postfix(self, **kw):
        pass

    def update(self):
        pass

    def close(self):
        pass


def _progress(steps: int, enabled: bool):
    if not enabled:
        return _Quiet()
    from tqdm import tqdm

    return tqdm(total=steps, desc="training", unit="step", file=sys.stdout)


def _cluster(scheduler: str | None, workers: int):
    import dask
    from distributed import Client

    if scheduler:
        return None, Client(scheduler, timeout=30)
    # Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which turns every large NumPy temporary into a
    # fresh mmap and its page faults (a chunk's gradient ran 5-9x slower); glibc's own adaptive default is kept
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return _local_cluster(workers)


def _local_cluster(workers: int):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           memory_limit=WORKER_MEMORY, dashboard_address="127.0.0.1:0")
    return cluster, Client(cluster, timeout=30)


def main(argv: list[str] | None = None) -> int:
    """``python -m graphgrad.examples.dask_logreg`` takes the options of ``graphgrad demo --dask``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="training steps (default 20)")
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser) -> None:
    """The example's options (``graphgrad demo --dask`` shows them too)."""
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="a Dask scheduler address (default: start a LocalCluster on 127.0.0.1)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers (default 2)")
    parser.add_argument("--rows", type=int, default=3_000_000, help="data rows (default 3,000,000)")
    parser.add_argument("--features", type=int, default=16, help="features per row (default 16)")
    parser.add_argument("--chunk-rows", type=int, default=100_000, help="rows per chunk (default 100,000)")
    parser.add_argument("--check", action="store_true", help="also train on one machine and compare the losses")


def run(ns) -> int:
    steps = ns.steps if getattr(ns, "steps", None) is not None else 20
    if ns.rows < 1 or ns.chunk_rows < 1 or ns.features < 1:
        raise ValueError("--rows, --chunk-rows and --features must be positive")
    cluster, client = _cluster(ns.scheduler, ns.workers)
    try:
        x, y = make_data(ns.rows, ns.features, ns.chunk_rows)
        workers = client.scheduler_info()["workers"].values()
        limit = min((w["memory_limit"] for w in workers), default=0)
        print(f"graphgrad demo --dask: logistic regression, data-parallel on {len(workers)} Dask workers")
        served = cluster is None or importlib.util.find_spec("bokeh") is not None  # Dask serves it with bokeh only
        dashboard = client.dashboard_link if served else "off (pip install bokeh to see it)"
        print(f"  scheduler {client.scheduler.address}; dashboard {dashboard}")
        size = x.nbytes + y.nbytes
        print(f"  data: {ns.rows:,} rows x {ns.features} features = {size / 2 ** 20:,.0f} MiB in {x.numblocks[0]} "
              f"chunks, generated on the workers from a seed"
              + (f" (a worker may hold {limit / 2 ** 20:,.0f} MiB)" if limit else ""))
        losses, (w, b) = train(x, y, steps, client=client)
        print(f"  loss {losses[0]:.6f} -> {losses[-1]:.6f} after {steps} Adam steps; bias {float(b):+.4f}")
        if ns.check:
            single = train_single_machine(x.compute(), y.compute(), steps)
            gap = max(abs(a - s) / abs(s) for a, s in zip(losses, single))
            print(f"  one machine, same steps: loss {single[-1]:.6f} (largest relative difference {gap:.1e})")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
