"""graphgrad.dask on a real 2-worker LocalCluster (worker processes, loopback only), started once for the module.

Every step is bounded in time (``timeout=``), so a fault shows up as a failure, never as a hung suite."""
import logging
import os
import signal
import sys
import threading
import time
import traceback

import dask
import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster

import graphgrad as gg
import graphgrad.nn.functional as F
import graphgrad.dask as gd

STEP = 60  # seconds: far above a step's time, only there to turn a hang into a failure


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address="127.0.0.1:0", silence_logs=logging.CRITICAL, memory_limit="1GiB")
    try:
        with Client(cluster, timeout=STEP) as c:
            c.wait_for_workers(2, timeout=STEP)
            yield c
    finally:
        close_tolerating_restarted_workers(cluster)


def close_tolerating_restarted_workers(cluster):
    """Close ``cluster``; the tests that kill workers can leave distributed's own watcher of worker status a
    'remove' for a restarted worker it never saw (dask/distributed#5407). Its KeyError surfaces from
    ``close()`` after the workers and the scheduler have shut down, so it says nothing about graphgrad."""
    try:
        cluster.close(timeout=STEP)
    except KeyError as e:
        if not any(frame.name == "_update_worker_status" for frame in traceback.extract_tb(e.__traceback__)):
            raise


def logistic(w, b, x, y):
    z = x @ w + b
    return (gg.log1p((-z).exp()) + (1 - y) * z).mean() + 0.01 * (w ** 2).sum()


def logistic_closed_form(w, b, x, y):
    z = x @ w + b
    p = 1 / (1 + np.exp(-z))
    value = np.mean(np.log1p(np.exp(-z)) + (1 - y) * z) + 0.01 * np.sum(w ** 2)
    return value, x.T @ (p - y) / len(y) + 0.02 * w, np.mean(p - y)


def data(rng, rows=437, features=5):
    x = rng.standard_normal((rows, features))
    y = (rng.random(rows) < 1 / (1 + np.exp(-x @ np.arange(features)))).astype(np.float64)
    return x, y


@pytest.mark.parametrize("block_bytes", [None, 1 << 20, 30 * 48], ids=["whole-chunks", "default", "blocks-of-30-rows"])
def test_uneven_chunks_give_the_single_machine_gradient(client, rng, block_bytes):
    x, y = data(rng)
    w, b = rng.standard_normal(5), np.array(0.3)
    vg = gd.value_and_grad(logistic, argnums=(0, 1), timeout=STEP, block_bytes=block_bytes)
    # rows in chunks of 100 (the last has 37), columns split too; y chunked differently on purpose
    value, (gw, gb) = vg(w, b, da.from_array(x, chunks=(100, 2)), da.from_array(y, chunks=60))
    ref_value, (ref_w, ref_b) = gg.value_and_grad(logistic, argnums=(0, 1))(w, b, x, y)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    np.testing.assert_allclose(gw, ref_w, rtol=1e-10)
    np.testing.assert_allclose(gb, ref_b, rtol=1e-10)
    closed = logistic_closed_form(w, b, x, y)  # and both are the textbook gradient
    np.testing.assert_allclose([value, *gw, gb], [closed[0], *closed[1], closed[2]], rtol=1e-10)
    assert vg.last_timings.chunks == 5


def test_a_sum_and_a_mean_together_and_tensor_parameters(client, rng):
    def loss(w, x, y):
        r = x @ w - y
        return (r ** 2).sum() / 3 + r.abs().mean() + (w ** 2).sum()
    x, y = data(rng, 250, 4)
    w = gg.tensor(rng.standard_normal(4), requires_grad=True)
    value, g = gd.value_and_grad(loss, timeout=STEP)(w, da.from_array(x, chunks=64), da.from_array(y, chunks=64))
    assert isinstance(value, gg.Tensor) and isinstance(g, gg.Tensor)
    loss(w, gg.tensor(x), gg.tensor(y)).backward()  # eager, on one machine
    np.testing.assert_allclose(g.numpy(), w.grad.numpy(), rtol=1e-10)
    assert gd.grad(loss, timeout=STEP)(w.detach().numpy(), da.from_array(x, chunks=64),
                                       da.from_array(y, chunks=64)).shape == (4,)


def test_each_step_scatters_the_parameters_once(client, rng, monkeypatch):
    calls = []
    scatter = client.scatter

    def counting(data, **kw):
        calls.append((len(data), kw.get("broadcast")))
        return scatter(data, **kw)
    monkeypatch.setattr(client, "scatter", counting)
    x, y = data(rng, 400)
    vg = gd.value_and_grad(logistic, argnums=(0, 1), client=client, timeout=STEP)
    for _ in range(2):
        vg(np.zeros(5), np.array(0.0), da.from_array(x, chunks=25), da.from_array(y, chunks=25))
    assert calls == [(2, True), (2, True)]  # 16 chunks, but one scatter of both parameters per step


def test_workers_need_no_graphgrad(client, rng):
    """The workers get generated NumPy source and functions pickled by value: hide graphgrad from them."""
    def hide():
        hidden = [m for m in sys.modules if m == "graphgrad" or m.startswith("graphgrad.")]
        for m in hidden:
            sys.modules[m] = None  # an import of it now raises ImportError
        return len(hidden)

    def unhide():
        for m in [m for m, v in sys.modules.items() if v is None and m.split(".")[0] == "graphgrad"]:
            del sys.modules[m]
    x, y = data(rng, 120)
    client.run(lambda: sys.modules.__setitem__("graphgrad", sys.modules.get("graphgrad")))
    client.run(hide)
    try:
        got = gd.grad(logistic, client=client, timeout=STEP)(np.ones(5), np.array(0.1), da.from_array(x, chunks=50),
                                                            da.from_array(y, chunks=50))
    finally:
        client.run(unhide)
    np.testing.assert_allclose(got, gg.grad(logistic)(np.ones(5), np.array(0.1), x, y), rtol=1e-10)


def test_a_worker_killed_mid_step_costs_a_retry_not_a_wrong_gradient(client, rng):
    x, y = data(rng, 480)

    def slowly(block):  # each chunk of data takes a moment to load, as from a remote store
        time.sleep(0.25)
        return block
    dx = da.from_array(x, chunks=(60, 5)).map_blocks(slowly, dtype=x.dtype)
    dy = da.from_array(y, chunks=60)
    w, b = rng.standard_normal(5), np.array(-0.2)
    vg = gd.value_and_grad(logistic, argnums=(0, 1), client=client, timeout=STEP)
    clean = vg(w, b, dx, dy)
    pids = client.run(os.getpid)
    result = []
    step = threading.Thread(target=lambda: result.append(vg(w, b, dx, dy)), daemon=True)
    step.start()
    deadline = time.monotonic() + STEP
    victim = None
    while victim is None and time.monotonic() < deadline:  # wait until a worker is busy with one of our chunks
        busy = {addr: keys for addr, keys in client.processing().items() if keys}
        victim = next(iter(busy), None)
        time.sleep(0.02)
    assert victim is not None and step.is_alive()
    os.kill(pids[victim], signal.SIGKILL)
    step.join(STEP)
    assert not step.is_alive() and result, "the step did not finish after the worker died"
    (value, (gw, gb)), (clean_value, (clean_w, clean_b)) = result[0], clean
    assert value == clean_value and np.array_equal(gw, clean_w) and gb == clean_b  # identical, to the bit
    ref_value, (ref_w, ref_b) = gg.value_and_grad(logistic, argnums=(0, 1))(w, b, x, y)
    np.testing.assert_allclose(gw, ref_w, rtol=1e-10)
    client.wait_for_workers(2, timeout=STEP)  # the nanny restarts the worker
    assert pids[victim] not in client.run(os.getpid).values()


def test_a_chunk_holding_nan_fails_the_step_naming_it(client, rng):
    x, y = data(rng, 300)
    x[217, 3] = np.nan
    x[250, 0] = np.inf
    y[42] = -np.inf
    grad = gd.grad(logistic, client=client, timeout=STEP)
    with pytest.raises(gd.ChunkError, match=r"chunk 2 \(rows 200:300\) of argument `x` holds NaN \(first at row 217\)"):
        grad(np.ones(5), np.array(0.0), da.from_array(x, chunks=100), da.from_array(np.nan_to_num(y), chunks=100))
    with pytest.raises(gd.ChunkError, match=r"chunk 0 \(rows 0:100\) of argument `y` holds infinity \(first at row 42"):
        grad(np.ones(5), np.array(0.0), da.from_array(np.nan_to_num(x, nan=0.0, posinf=0.0), chunks=100),
             da.from_array(y, chunks=100))


def test_a_chunk_of_the_wrong_shape_fails_the_step_naming_it(client, rng):
    x, y = data(rng, 300)
    blocks = [da.from_delayed(dask.delayed(lambda k: x[k * 100:k * 100 + (99 if k == 1 else 100)])(k),
                              shape=(100, 5), dtype=x.dtype) for k in range(3)]
    with pytest.raises(gd.ChunkError, match=r"chunk 1 \(rows 100:200\) of argument `x` has shape \(99, 5\), but its "
                                            r"dask array declares \(100, 5\)"):
        gd.grad(logistic, client=client, timeout=STEP)(np.ones(5), np.array(0.0), da.concatenate(blocks),
                                                       da.from_array(y, chunks=100))


def test_a_loss_coupling_rows_is_refused_before_anything_runs(rng):
    def batch_normed(w, x):
        return (((x - x.mean(0)) / x.std(0)) @ w).sum()
    with pytest.raises(gd.RowCouplingError, match=r"`sub` at test_dask_gradients.py:\d+ .*couples rows"):
        gd.value_and_grad(batch_normed, client=object())(np.ones(3), da.ones((10, 3), chunks=5))


def test_bad_arguments_are_named(rng):
    vg = gd.value_and_grad(logistic, argnums=2)
    x = da.ones((10, 5), chunks=5)
    with pytest.raises(TypeError, match=r"argnums includes 2 \(x\), a dask array"):
        vg(np.ones(5), np.array(0.0), x, da.ones(10, chunks=5))
    with pytest.raises(ValueError, match=r"x \(10 rows\) and y \(9 rows\) must have the same number of rows"):
        gd.value_and_grad(logistic)(np.ones(5), np.array(0.0), x, da.ones(9, chunks=5))
    with pytest.raises(ValueError, match=r"unknown chunk sizes .* x.compute_chunk_sizes\(\)"):
        gd.value_and_grad(logistic)(np.ones(5), np.array(0.0), x[x[:, 0] > 0], da.ones(10, chunks=5))
    with pytest.raises(TypeError, match=r"argument p is a dict; pass each parameter as its own NumPy array"):
        gd.value_and_grad(lambda p, x: (x @ p["w"]).sum())({"w": np.ones(5)}, x)  # was TypeError: unhashable type
    with pytest.raises(TypeError, match="no argument of logistic is a dask array"):
        gd.value_and_grad(logistic)(np.ones(5), np.array(0.0), np.ones((10, 5)), np.ones(10))


def test_the_example_trains_to_the_single_machine_losses(client):
    from graphgrad.examples import dask_logreg
    x, y = dask_logreg.make_data(3000, 4, 700, seed=1)
    losses, _ = dask_logreg.train(x, y, steps=4, client=client, progress=False, timeout=STEP)
    single = dask_logreg.train_single_machine(x.compute(), y.compute(), 4)
    np.testing.assert_allclose(losses, single, rtol=1e-10)
    assert losses[-1] < losses[0]


def test_graphgrad_demo_dask_on_a_given_scheduler(client, capsys):
    from graphgrad.cli import main
    assert main(["demo", "--dask", "--scheduler", client.scheduler.address, "--rows", "3000", "--chunk-rows", "1000",
                 "--features", "3", "--steps", "3", "--check"]) == 0
    out = capsys.readouterr().out
    assert f"scheduler {client.scheduler.address}; dashboard" in out
    assert "data: 3,000 rows x 3 features" in out and "in 3 chunks" in out
    assert "after 3 Adam steps" in out and "one machine, same steps" in out
    gap = float(out.split("largest relative difference ")[1].split(")")[0])
    assert gap <= 1e-10


def test_losing_every_worker_mid_step_rescatters_the_parameters(client, rng):
    x, y = data(rng, 240)

    def slowly(block):
        time.sleep(0.25)
        return block
    dx, dy = da.from_array(x, chunks=(60, 5)).map_blocks(slowly, dtype=x.dtype), da.from_array(y, chunks=60)
    w, b = rng.standard_normal(5), np.array(0.4)
    vg = gd.value_and_grad(logistic, argnums=(0, 1), client=client, timeout=STEP)
    pids = client.run(os.getpid)
    result = []
    step = threading.Thread(target=lambda: result.append(vg(w, b, dx, dy)), daemon=True)
    step.start()
    deadline = time.monotonic() + STEP
    while not any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid in pids.values():  # the only copies of the scattered parameters go with them
        os.kill(pid, signal.SIGKILL)
    step.join(2 * STEP)
    assert not step.is_alive() and result, "the step did not finish after the workers died"
    assert vg.last_timings.attempts == 2
    ref_value, (ref_w, ref_b) = gg.value_and_grad(logistic, argnums=(0, 1))(w, b, x, y)
    np.testing.assert_allclose(result[0][1][0], ref_w, rtol=1e-10)
    # the nannies restart both workers for the tests after this one; two fresh processes importing NumPy and
    # Dask can take a minute on a loaded 2-core machine
    client.wait_for_workers(2, timeout=4 * STEP)


def test_closed_over_tensors_and_static_arguments(client, rng):
    sign = gg.tensor([1.0, -1.0, 1.0, -1.0, 1.0], dtype=gg.float64)  # closed over: sent with the parameters

    def loss(w, x, y, power):
        return (((x * sign) @ w - y).abs() ** power).mean()
    x, y = data(rng, 150)
    w = rng.standard_normal(5)
    vg = gd.value_and_grad(loss, client=client, timeout=STEP)
    for power in (2.0, 3.0):  # a Python scalar is static: each value compiles its own module
        value, g = vg(w, da.from_array(x, chunks=40), da.from_array(y, chunks=40), power)
        ref_value, ref = gg.value_and_grad(loss)(w, x, y, power)
        np.testing.assert_allclose([value, *g], [ref_value, *ref], rtol=1e-10)
    sign.data.mul_(-1)  # a changed closed-over value is sent again
    np.testing.assert_allclose(vg(w, da.from_array(x, chunks=40), da.from_array(y, chunks=40), 2.0)[1],
                               gg.grad(loss)(w, x, y, 2.0), rtol=1e-10)



def test_a_closed_over_numpy_array(client, rng):
    scale = rng.standard_normal(5)  # read by the loss from its closure: it failed with AttributeError: _data

    def loss(w, x, y):
        return (((x * scale) @ w - y) ** 2).mean()
    x, y = data(rng, 130, 5)
    w = rng.standard_normal(5)
    value, g = gd.value_and_grad(loss, client=client, timeout=STEP)(w, da.from_array(x, chunks=40),
                                                                    da.from_array(y, chunks=40))
    ref_value, ref = gg.value_and_grad(loss)(w, x, y)
    np.testing.assert_allclose([value, *g], [ref_value, *ref], rtol=1e-10)


def test_a_loss_dividing_by_its_number_of_rows_is_refused(rng):
    # each chunk would divide its own sum by its own rows: 5x the whole data's mean for 5 chunks, with no error
    def loss(w, x):
        return (x @ w).sum() / len(x)
    with pytest.raises(gd.RowCouplingError, match=r"`div` at test_dask_gradients.py:\d+ .*depends on the number of "
                                                  r"rows in a chunk .*use \.mean\(\)"):
        gd.value_and_grad(loss, client=object())(np.ones(3), da.ones((10, 3), chunks=2))


def test_the_row_count_from_outside_the_loss(client, rng):
    x, y = data(rng, 130, 5)
    rows = len(x)  # the data set's rows, read from the closure: the same in every chunk

    def loss(w, x, y):
        return ((x @ w - y) ** 2).sum() / rows
    w = rng.standard_normal(5)
    value, g = gd.value_and_grad(loss, client=client, timeout=STEP)(w, da.from_array(x, chunks=40),
                                                                    da.from_array(y, chunks=40))
    ref_value, ref = gg.value_and_grad(loss)(w, x, y)
    np.testing.assert_allclose([value, *g], [ref_value, *ref], rtol=1e-10)


@pytest.mark.parametrize("chunks, block_bytes", [((11, 11, 1), None), ((1,) * 23, None), ((23,), 8 * 4 * 10)],
                         ids=["last-chunk-1-row", "chunks-of-1-row", "last-block-1-row"])
def test_no_block_of_one_row(client, rng, chunks, block_bytes):
    # a block of one row traced x.squeeze() to a 0-d value, and the loss was refused ("reshaping [1, 1] to []")
    def loss(w, x, y):
        return (((x @ w).squeeze() - y) ** 2).mean() + ((x @ w[:, 0]).unsqueeze(0) ** 2).mean(1).sum()
    x, y = data(rng, 23, 4)
    w = rng.standard_normal((4, 1))
    vg = gd.value_and_grad(loss, client=client, timeout=STEP, block_bytes=block_bytes)
    value, g = vg(w, da.from_array(x, chunks=(chunks, 4)), da.from_array(y, chunks=(chunks,)))
    ref_value, ref = gg.value_and_grad(loss)(w, x, y)
    np.testing.assert_allclose([value, *g.ravel()], [ref_value, *ref.ravel()], rtol=1e-10)


def test_a_softmax_cross_entropy_loss_gives_the_single_machine_gradient(client, rng):
    """cross_entropy's ops (the targets' range check, the fused per-row loss) keep rows apart: a chunk's rows
    alone give its rows' losses (docs/dask.md: reduction="none", then the mean)."""
    def loss(w, x, y):
        return F.cross_entropy(x @ w, y, reduction="none").mean()

    x, y, w = rng.standard_normal((300, 5)), rng.integers(0, 3, 300), rng.standard_normal((5, 3))
    value, grad = gd.value_and_grad(loss, timeout=STEP)(w, da.from_array(x, chunks=(100, 5)),
                                                        da.from_array(y, chunks=120))
    ref_value, ref_grad = gg.value_and_grad(loss)(w, x, y)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-15)
