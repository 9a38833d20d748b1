"""Python state a compiled function reads that later changes re-specializes it (each case below returned the
stale traced value before): attributes reassigned on a module, class attributes, a function's own defaults, a
partial's arguments, ``__slots__``, bytearrays, metadata of a closed-over tensor, ``.grad`` read while tracing,
a helper whose ``__code__`` was replaced. Each compares the compiled result with eager after the change."""
import array
import functools

import numpy as np
import pytest

import graphgrad as gg


def _agrees_after(f, change, x=None):
    x = gg.ones(3, dtype=gg.float64) if x is None else x
    compiled = gg.compile(f)
    compiled(x)
    change()
    assert compiled(x).tolist() == f(x).tolist()
    return compiled


class _Net(gg.nn.Module):
    def __init__(self):
        super().__init__()
        self.scales = [1.0, 2.0]
        self.offset = np.ones(3)
        self.act = np.sin

    def forward(self, x):
        return x * self.scales[0] + gg.tensor(self.offset) + float(self.act(1.0))


@pytest.mark.parametrize("change", [
    lambda m: setattr(m, "scales", [5.0, 2.0]),
    lambda m: setattr(m, "offset", np.full(3, 7.0)),
    lambda m: setattr(m, "act", np.cos),
    lambda m: setattr(m, "forward", lambda x: x * 100.0),
], ids=["list", "array", "function", "forward-on-the-instance"])
def test_a_module_attribute_reassigned_re_specializes(change):
    net = _Net()
    _agrees_after(lambda x: net(x), lambda: change(net))


def test_class_attributes_and_methods_changed_re_specialize():
    class Config:
        scale = 2.0

        def apply(self, x):
            return x * 2.0

    config = Config()
    _agrees_after(lambda x: x * Config.scale, lambda: setattr(Config, "scale", 9.0))
    _agrees_after(lambda x: x * config.scale, lambda: setattr(Config, "scale", 4.0))
    _agrees_after(lambda x: config.apply(x), lambda: setattr(Config, "apply", lambda self, x: x * 50.0))

    class Scaled(gg.nn.Module):
        factor = 3.0

        def forward(self, x):
            return x * self.factor

    model = Scaled()
    _agrees_after(model, lambda: setattr(Scaled, "factor", 6.0))


def test_the_compiled_function_s_own_defaults_and_a_partial_s_arguments():
    def own(x, s=2.0, *, t=1.0):
        return x * s + t

    compiled = _agrees_after(own, lambda: setattr(own, "__defaults__", (7.0,)))
    own.__kwdefaults__ = {"t": 5.0}
    assert compiled(gg.ones(1, dtype=gg.float64)).tolist() == [12.0]
    part = functools.partial(lambda x, s: x * s, s=2.0)
    _agrees_after(part, lambda: part.keywords.update(s=9.0))


def test_slots_bytearrays_and_arrays_of_the_array_module():
    class Slotted:
        __slots__ = ("v",)

        def __init__(self):
            self.v = 2.0

    slotted, raw, packed = Slotted(), bytearray([2]), array.array("d", [2.0])
    _agrees_after(lambda x: x * slotted.v, lambda: setattr(slotted, "v", 8.0))
    _agrees_after(lambda x: x * raw[0], lambda: raw.__setitem__(0, 5))
    _agrees_after(lambda x: x * packed[0], lambda: packed.__setitem__(0, 3.0))


def test_what_a_trace_reads_of_a_closed_over_tensor_without_using_its_values():
    shaped = gg.ones(3)
    _agrees_after(lambda x: x * shaped.shape[0], lambda: setattr(shaped, "data", gg.ones(5)))
    flagged = gg.ones(3)
    _agrees_after(lambda x: x * (2.0 if flagged.requires_grad else 3.0), lambda: flagged.requires_grad_(True))
    tagged = gg.ones(1)
    tagged.scale = 2.0
    _agrees_after(lambda x: x * tagged.scale, lambda: setattr(tagged, "scale", 4.0))


def test_a_gradient_read_while_tracing_is_the_current_one():
    w = gg.ones(3, dtype=gg.float64, requires_grad=True)
    (w * 2.0).sum().backward()

    def renew():
        w.grad = None
        (w * 5.0).sum().backward()

    _agrees_after(lambda x: x * w.grad, renew)
    # a training loop that sets .grad to None every step keeps its one specialization
    loss = gg.compile(lambda x: (x * w).sum())
    optimizer = gg.optim.SGD([w], lr=0.1)
    for _ in range(4):
        optimizer.zero_grad()
        loss(gg.ones(3, dtype=gg.float64)).backward()
        optimizer.step()
    assert loss.misses == 1


def _helper(x):
    return x * 2.0


def test_a_helper_whose_code_is_replaced():
    original = _helper.__code__
    try:
        _agrees_after(lambda x: _helper(x), lambda: setattr(_helper, "__code__", (lambda x: x * 11.0).__code__))
    finally:
        _helper.__code__ = original


def test_a_config_object_answering_any_attribute_is_read_not_called():
    # hasattr(cfg, "_guard_for_trace") was true for an object whose __getattr__ answers every name: it was called
    class Loose:
        def __getattr__(self, name):
            return 2.0

    class EasyDict(dict):
        def __getattr__(self, name):
            try:
                return self[name]
            except KeyError:
                raise AttributeError(name) from None

    loose, easy = Loose(), EasyDict(s=3.0)
    assert gg.compile(lambda x: x * loose.s)(gg.ones(2)).tolist() == [2.0, 2.0]
    _agrees_after(lambda x: x * easy.s, lambda: easy.update(s=5.0))


def test_out_inside_a_compiled_function_writes_the_traced_tensor():
    def f(x):
        y = gg.empty(2)
        gg.add(x, 1.0, out=y)
        gg.mul(y, 3.0, out=y)
        return y

    x = gg.ones(2)
    assert gg.compile(f)(x).tolist() == f(x).tolist() == [6.0, 6.0]
    with pytest.raises(RuntimeError, match=r"out= has shape \[3\] and the result \[2\]"):
        gg.compile(lambda x: gg.add(x, 1.0, out=gg.empty(3)))(x)


@pytest.mark.parametrize("body", [lambda y: y.register_hook(lambda g: g * 3), lambda y: y.detach().requires_grad_()],
                         ids=["register_hook", "requires_grad_"])
def test_hooks_and_new_leaves_inside_a_compiled_function_are_refused_at_the_user_s_line(body):
    def f(x):
        y = x * 2.0
        body(y)
        return y.sum()

    with pytest.raises(gg.tracer.TracerError, match=r"inside a compiled function at .*test_compile_guards_more.py:"):
        gg.compile(f)(gg.ones(2, requires_grad=True))


def test_state_a_submodule_changes_while_tracing_is_the_next_call_s_baseline():
    # the guards a submodule installs while tracing kept their pre-trace snapshot: its forward appending to its
    # own list made every call trace again (and append again)
    class Inner(gg.nn.Module):
        def __init__(self):
            super().__init__()
            self.seen = []

        def forward(self, x):
            self.seen.append(1)
            return x * 2.0

    class Outer(gg.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = Inner()

        def forward(self, x):
            return self.inner(x) + 1.0

    model = Outer()
    compiled = gg.compile(model)
    with pytest.warns(UserWarning, match="changed the contents of Inner.seen while tracing"):
        compiled(gg.ones(2))
    for _ in range(3):
        assert compiled(gg.ones(2)).tolist() == [3.0, 3.0]
    assert compiled.misses == 1 and model.inner.seen == [1]
