"""``graphgrad.compile`` takes ``torch.compile``'s keywords, so that code written for PyTorch 2 runs unchanged
(``import graphgrad as torch``): they are checked as PyTorch checks them, and what they ask is what graphgrad
does anyway or changes nothing (docs/compile.md)."""
import pytest

import graphgrad as gg
import graphgrad.nn as nn


def double(x):
    return x * 2


@pytest.mark.parametrize("keywords", [dict(mode="reduce-overhead"), dict(mode="max-autotune", fullgraph=True),
                                      dict(dynamic=False), dict(dynamic=True), dict(backend="inductor"),
                                      dict(options={"triton.cudagraphs": False}), dict(name="step")])
def test_torch_s_keywords_compile_as_usual(keywords):
    f = gg.compile(double, **keywords)
    assert isinstance(f, gg.runtime.compiled.CompiledFunction)
    assert f(gg.ones(2)).tolist() == [2.0, 2.0]
    assert "def forward(x):" in f.source(gg.ones(2))


def test_as_a_decorator_with_keywords():
    @gg.compile(mode="max-autotune-no-cudagraphs", recompile_limit=2)
    def f(x):
        return x + 1
    assert f.cache_size_limit == 2
    for n in (1, 2, 3):  # a third shape: the least recently used specialization goes
        f(gg.ones(n))
    assert f.cache_info().specializations == 2


def test_disable_returns_the_function_itself():
    assert gg.compile(double, disable=True) is double
    model = nn.Linear(2, 1)
    assert gg.compile(model, disable=True) is model


def test_bad_modes_and_backends_are_pytorch_s_errors():
    with pytest.raises(RuntimeError) as caught:
        gg.compile(double, mode="fast")
    assert str(caught.value) == ("Unrecognized mode=fast, should be one of: default, lite, reduce-overhead, "
                                 "max-autotune-no-cudagraphs, max-autotune")
    with pytest.raises(RuntimeError, match="^Either mode or options can be specified, but both can't be specified"):
        gg.compile(double, mode="default", options={})
    with pytest.raises(ValueError, match="unknown backend 'eager'; choose one of numpy, cupy"):
        gg.compile(double, backend="eager")
