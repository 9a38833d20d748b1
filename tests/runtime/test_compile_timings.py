"""``f.timings(*args)``: each compile stage's time for one signature, recorded when it was compiled."""
import graphgrad as gg


def loss(w, x):
    return ((x @ w).tanh() ** 2).mean()


def test_timings_name_every_stage_and_do_not_recompile():
    f = gg.compile(loss)
    w, x = gg.ones(3, 2, requires_grad=True), gg.ones(4, 3)
    f(w, x).backward()
    first = f.timings(w, x)
    assert list(first) == ["trace", "prune", "adjoint", "batch", "optimize", "split", "codegen", "load"]
    assert all(isinstance(s, float) and s >= 0 for s in first.values())
    assert f.timings(w, x) == first  # what the compile took, not a new measurement
    assert f.cache_info().misses == 1


def test_timings_without_gradients_have_no_backward_stages():
    f = gg.compile(loss)
    assert list(f.timings(gg.ones(3, 2), gg.ones(4, 3))) == ["trace", "prune", "batch", "optimize", "codegen", "load"]


def test_a_large_compile_hands_its_objects_to_the_collector_and_they_are_freed_with_the_function():
    """A compile that makes many objects promotes them to the oldest generation unwalked (runtime/compiled.py
    ``_no_gc``): the collector stays on, the young generation is left empty, and the graphs (cycles of nodes and
    values) are still collected once the compiled function is gone."""
    import gc
    import weakref

    import numpy as np

    def chain(x):
        for _ in range(1500):
            x = x * 0.99 + 0.01
        return x.sum()

    f = gg.compile(chain)
    x = gg.tensor(np.ones(4), requires_grad=True)
    gc.collect()
    f(x).backward()
    assert gc.isenabled()
    traced = f.graph(x, stage="traced")
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert id(traced) in oldest and id(traced.nodes[-1]) in oldest  # not walked by young collections first
    graph = weakref.ref(traced)
    del traced, oldest
    del f
    gc.collect()
    assert graph() is None
