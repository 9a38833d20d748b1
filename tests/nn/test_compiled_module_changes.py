"""A compiled function that calls a module stays in step with the module's structure: a submodule or parameter
appended to a container, or a forward hook registered after the first call, re-specializes the compiled code
(it ran the old structure, silently, before). Expected values are the eager module's own."""
import numpy as np

import graphgrad as gg
import graphgrad.nn as nn


def _same_as_eager(compiled, module, x):
    np.testing.assert_allclose(compiled(x).detach().numpy(), module(x).detach().numpy(), rtol=1e-12, atol=1e-15)


def test_sequential_append_after_a_compiled_call():
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
    f = gg.compile(lambda x: model(x))
    x = gg.randn(4, 3)
    _same_as_eager(f, model, x)
    model.append(nn.Linear(3, 1))
    assert tuple(f(x).shape) == (4, 1)  # the traced forward stopped after the Tanh: (4, 3)
    _same_as_eager(f, model, x)
    assert f.recompile_reasons[-1] == "the number of Sequential's modules changed: 2 -> 3"


class _Stack(nn.Module):
    """Iterates containers it never calls itself: their own __call__ guards nothing."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(3, 3)])
        self.gains = nn.ParameterList([nn.Parameter(gg.full((3,), 2.0))])
        self.heads = nn.ModuleDict({"a": nn.Linear(3, 3)})

    def forward(self, x):
        for layer in self.layers:
            x = layer(x).tanh()
        for gain in self.gains:
            x = x * gain
        for head in self.heads.values():
            x = head(x)
        return x


def test_containers_a_forward_iterates_are_guarded():
    gg.manual_seed(0)
    model = _Stack()
    f = gg.compile(lambda x: model(x))
    x = gg.randn(4, 3)
    _same_as_eager(f, model, x)
    model.layers.append(nn.Linear(3, 3))
    _same_as_eager(f, model, x)
    model.gains.append(nn.Parameter(gg.full((3,), -3.0)))
    _same_as_eager(f, model, x)
    model.heads["b"] = nn.Linear(3, 2)
    assert tuple(f(x).shape) == (4, 2)
    _same_as_eager(f, model, x)
    model.layers[0] = nn.Linear(3, 3)  # replaced in a container no forward calls: a new object, new weights
    _same_as_eager(f, model, x)
    specializations = f.cache_info().specializations
    f(x)
    assert f.cache_info().specializations == specializations  # nothing changed: no new trace


def test_forward_hooks_registered_after_a_compiled_call():
    gg.manual_seed(0)
    layer = nn.Linear(3, 2)
    f = gg.compile(lambda x: layer(x))
    x = gg.randn(4, 3)
    _same_as_eager(f, layer, x)
    handle = layer.register_forward_hook(lambda module, args, out: out * 0.0 + 7.0)
    assert f(x).detach().numpy().tolist() == [[7.0, 7.0]] * 4
    handle.remove()
    _same_as_eager(f, layer, x)
    doubled = layer(x * 2.0).detach().numpy()
    pre = layer.register_forward_pre_hook(lambda module, args: (args[0] * 2.0,))
    np.testing.assert_allclose(f(x).detach().numpy(), doubled, rtol=1e-12, atol=1e-15)
    pre.remove()
    _same_as_eager(f, layer, x)
