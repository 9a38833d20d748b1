"""A compiled function re-specializes when an object it reads attributes of changes: a compiled bound method's
or callable object's self, a module closed over or passed as an argument and read directly (m.k, m.lin.weight),
a config module's attributes. Each of these reused the old value, silently."""
import sys
import warnings

import graphgrad as gg
from graphgrad import nn

X = gg.ones(3)


class Scaled:
    def __init__(self):
        self.k = 1.0

    def __call__(self, x):
        return x * self.k

    def method(self, x):
        return x * self.k


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(gg.ones(3))
        self.k = 1.0
        self.lin = nn.Linear(3, 3)
        self.t = gg.ones(3)

    @gg.compile
    def total(self, x):
        return (x * self.w * self.k).sum()


def test_a_compiled_callable_object_and_bound_method_see_their_self_change():
    c = Scaled()
    compiled, method = gg.compile(c), gg.compile(c.method)
    compiled(X), method(X)
    c.k = 3.0
    assert compiled(X).tolist() == [3.0] * 3 and method(X).tolist() == [3.0] * 3
    m = nn.Linear(3, 3)
    forward = gg.compile(m.forward)
    forward(X)
    m.weight = nn.Parameter(gg.zeros(3, 3))
    assert forward(X).tolist() == m(X).tolist()


def test_a_module_read_directly_closed_over_passed_or_self():
    n = Net()
    assert n.total(X).item() == 3.0
    n.k = 10.0
    assert n.total(X).item() == 30.0
    n.w = nn.Parameter(gg.full((3,), 4.0))
    assert n.total(X).item() == 120.0
    closed, passed = gg.compile(lambda x: x * n.k * n.t), gg.compile(lambda m, x: x * m.k)
    weight = gg.compile(lambda x: x @ n.lin.weight.t())
    closed(X), passed(n, X), weight(X)
    n.k, n.t = 5.0, gg.full((3,), 2.0)
    n.lin.weight = nn.Parameter(gg.zeros(3, 3))
    assert closed(X).tolist() == [10.0] * 3 and passed(n, X).tolist() == [5.0] * 3
    assert weight(X).tolist() == [0.0] * 3


def test_a_config_modules_attributes(tmp_path, monkeypatch):
    (tmp_path / "gg_settings_probe.py").write_text("K = 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import gg_settings_probe as cfg

    try:
        f = gg.compile(lambda x: x * cfg.K)
        f(X)
        cfg.K = 4.0
        assert f(X).tolist() == [4.0] * 3
    finally:
        sys.modules.pop("gg_settings_probe", None)


def test_an_assert_in_a_compiled_function_watches_none_of_pytest_s_state():
    # pytest rewrites this file's asserts into its own helpers (a global '@pytest_ar'); the guards walked into
    # pytest's modules, warned that its state was too large to watch and compared it before every call
    @gg.compile
    def f(x):
        assert x.shape == (3,), "a shape"
        return x * 2

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f(X).tolist() == [2.0] * 3
        assert f(X).tolist() == [2.0] * 3


def _helper(x, k=2.0, scales=[1.0], *, shift=0.0):  # noqa: B006 - the mutable default is the point
    return x * k * scales[0] + shift


def test_the_defaults_of_a_function_the_compiled_one_calls():
    f = gg.compile(lambda x: _helper(x))
    saved = _helper.__defaults__, dict(_helper.__kwdefaults__)
    try:
        assert f(X).tolist() == [2.0] * 3
        _helper.__defaults__ = (3.0, [1.0])
        assert f(X).tolist() == [3.0] * 3
        _helper.__defaults__[1][0] = 5.0
        assert f(X).tolist() == [15.0] * 3
        _helper.__kwdefaults__["shift"] = 1.0
        assert f(X).tolist() == [16.0] * 3
    finally:
        _helper.__defaults__, _helper.__kwdefaults__ = saved
