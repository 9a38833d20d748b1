import numpy as np
import pytest

import graphgrad as gg
from graphgrad.tracer import TracerError


def test_value_dependent_control_flow_without_source_names_file_line_and_alternative():
    """Where the source cannot be read (code typed at a REPL, exec), an `if` on a traced value stays an error
    (with source, it converts: tests/tracer/test_autograph.py)."""
    namespace = {}
    exec(compile("def f(x):\n    if x.sum() > 0:\n        return x\n    return -x\n", "<stdin>", "exec"), namespace)

    with pytest.raises(TracerError) as info:
        gg.compile(namespace["f"])(gg.ones(3))
    msg = str(info.value)
    assert "<stdin>:2" in msg and "graphgrad.where" in msg and "graphgrad.cond" in msg


@pytest.mark.parametrize("bad", [lambda x: x.sum().item(), lambda x: float(x.sum()), lambda x: x.numpy()])
def test_concrete_values_are_rejected(bad):
    with pytest.raises(TracerError, match="needs the value of a traced tensor"):
        gg.compile(bad)(gg.ones(2))


def test_shape_errors_name_the_user_line_and_shapes():
    def f(a, b):
        return a @ b

    with pytest.raises(ValueError) as info:
        gg.compile(f)(gg.ones(2, 3), gg.ones(2, 3))
    assert "mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)" in str(info.value)
    assert "test_tracer.py:28" in str(info.value)


def test_control_flow_on_shapes_unrolls():
    def f(x):
        for _ in range(x.shape[0]):
            x = x * 2.0
        return x.sum()

    c = gg.compile(f)
    assert [n.op for n in c.graph(gg.ones(3), stage="traced").nodes] == ["mul"] * 3 + ["sum"]
    assert c(gg.ones(3)).item() == 24.0


def test_closed_over_tensors_become_inputs_and_get_gradients():
    w = gg.tensor([1.0, 2.0], requires_grad=True)
    f = gg.compile(lambda x: (x * w).sum())
    f(gg.tensor([3.0, 4.0])).backward()
    np.testing.assert_allclose(w.grad.numpy(), [3.0, 4.0])


def test_detach_in_traced_code_stops_gradients():
    c = gg.compile(lambda x: (x * x.detach()).sum())
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    c(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 2.0])


def _layer(x, w):
    hidden = (x @ w).tanh()
    return hidden


def _net(x, w1, w2):
    h1 = _layer(x, w1)
    h2 = _layer(h1, w2)
    return (h2 * h2).sum()


def test_values_are_named_after_locals_innermost_frame_first():
    names = [n.output.name for n in gg.compile(_net).graph(gg.ones(2, 3), gg.ones(3, 3), gg.ones(3, 3),
                                                          stage="traced").nodes]
    # the helper's `hidden` names each tanh before the caller's h1/h2 could; the returned value is named by the
    # compiled function's name
    assert names == [None, "hidden", None, "hidden", None, "_net"]


def test_helper_that_records_nothing_itself_still_names_its_caller_s_values():
    def outer(x):
        inner = _layer(x, x)  # outer records nothing on this line: only _layer's frame records
        return inner.sum()

    names = [n.output.name for n in gg.compile(outer).graph(gg.ones(3, 3), stage="traced").nodes]
    assert names == [None, "hidden", "outer"]


def test_tracing_under_a_profiler_keeps_the_profiler_and_the_names():
    import cProfile

    def called_after_the_trace():
        pass

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        graph = gg.compile(_net).graph(gg.ones(2, 3), gg.ones(3, 3), gg.ones(3, 3), stage="traced")
        called_after_the_trace()
    finally:
        profiler.disable()
    # the profiler saw a call made after the trace (sys.getprofile() is None under 3.12's sys.monitoring profiler)
    assert called_after_the_trace.__code__ in [entry.code for entry in profiler.getstats()]
    assert "hidden" in [n.output.name for n in graph.nodes]


def test_a_trace_does_not_keep_the_user_s_frames_alive():
    import gc
    import weakref

    class Marker:
        pass

    refs = []

    def f(x):
        m = Marker()
        refs.append(weakref.ref(m))
        return (x * 2.0).sum()

    gg.compile(f)(gg.ones(2))
    gc.collect()
    assert refs[0]() is None
