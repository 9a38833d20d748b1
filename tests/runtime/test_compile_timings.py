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
