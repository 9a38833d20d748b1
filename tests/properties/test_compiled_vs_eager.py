"""Random programs run eagerly and through ``gg.compile`` agree (issue 9 section 3).

A program is drawn by hypothesis: float64 (now and then float32) inputs of small shapes (0-d included) that broadcast against each
other (now and then one that does not), each requiring grad or not, some passed inside a tuple or dict
argument; a few steps of unary, binary (tensor or Python-scalar operand), reduction (every axis, negative
too, keepdim) and shape ops; a scalar or tensor output; and now and then an input changed in place between
forward and backward. Both modes must give the same values, dtypes, ``.grad`` after ``backward()`` (``None``
for an input the output does not use) and the same error type, in the forward or in the backward.
"""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import graphgrad as gg

from _gg_hypothesis import prop_settings

UNARY = {
    "tanh": lambda x: x.tanh(), "sin": lambda x: x.sin(), "cos": lambda x: x.cos(),
    "sigmoid": lambda x: x.sigmoid(), "neg": lambda x: -x, "square": lambda x: x * x, "abs": lambda x: x.abs(),
    "relu": lambda x: x.relu(), "exp": lambda x: x.exp(), "log1p_sq": lambda x: (x * x).log1p(),
}
BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "maximum": lambda a, b: gg.maximum(a, b) if _both(a, b) else a + b,
}
SCALARS = [0.5, -1.5, 2.0, 3, -2, -0.0]
REDUCE = {"sum": lambda x, d, k: x.sum(d, keepdim=k), "mean": lambda x, d, k: x.mean(d, keepdim=k),
          "amax": lambda x, d, k: x.amax(d, keepdim=k)}


def _both(a, b):  # values are Tensors eagerly and traced values when compiled: test for the Python scalar
    return not isinstance(a, (int, float)) and not isinstance(b, (int, float))


shapes = st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple)


@st.composite
def programs(draw):
    base = draw(shapes)
    n = draw(st.integers(1, 3))
    inputs = []
    for _ in range(n):
        if draw(st.integers(0, 9)) == 0:
            shape = (4,)  # broadcasts with nothing drawn above but 0-d and size-1 dims: an error, or not
        else:
            k = draw(st.integers(0, len(base)))
            shape = tuple(1 if draw(st.booleans()) else s for s in base[len(base) - k:])
        dtype = draw(st.sampled_from(["float64"] * 4 + ["float32"]))  # mixed dtypes: promotion agrees too
        inputs.append((shape, draw(st.booleans()), dtype))
    steps = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["unary", "binary", "scalar", "reduce", "shape"]))
        a, b = draw(st.integers(0, 20)), draw(st.integers(0, 20))
        if kind == "unary":
            steps.append((kind, draw(st.sampled_from(sorted(UNARY))), a))
        elif kind == "binary":
            steps.append((kind, draw(st.sampled_from(sorted(BINARY))), a, b))
        elif kind == "scalar":
            steps.append((kind, draw(st.sampled_from(sorted(BINARY))), a, draw(st.sampled_from(SCALARS)),
                          draw(st.booleans())))
        elif kind == "reduce":
            steps.append((kind, draw(st.sampled_from(sorted(REDUCE))), a, draw(st.integers(-3, 3)),
                          draw(st.booleans())))
        else:
            steps.append((kind, draw(st.sampled_from(["flatten", "unsqueeze", "transpose", "flip", "squeeze"])),
                          a))
    return {
        "inputs": inputs, "steps": steps,
        "container": draw(st.sampled_from([None, "tuple", "dict"])) if n > 1 else None,
        "scalar_output": draw(st.booleans()),
        "inplace": draw(st.one_of(st.none(), st.integers(0, n - 1))),
        "seed": draw(st.integers(0, 2**16)),
    }


def _run(values: list, steps) -> gg.Tensor:
    values = list(values)
    for step in steps:
        kind, name, a = step[0], step[1], values[step[2] % len(values)]
        if kind == "unary":
            out = UNARY[name](a)
        elif kind == "binary":
            out = BINARY[name](a, values[step[3] % len(values)])
        elif kind == "scalar":
            s, left = step[3], step[4]
            out = BINARY[name](s, a) if left else BINARY[name](a, s)
        elif kind == "reduce":
            d, keep = step[3], step[4]
            out = REDUCE[name](a, None, False) if a.ndim == 0 or d == 3 else REDUCE[name](a, d % a.ndim - (
                a.ndim if d < 0 else 0), keep)
        elif name == "flatten":
            out = a.reshape(-1)
        elif name == "unsqueeze":
            out = a.unsqueeze(0)
        elif name == "transpose":
            out = a.transpose(0, -1) if a.ndim >= 2 else a
        elif name == "flip":
            out = a.flip(0) if a.ndim else a
        else:
            out = a.squeeze()
        values.append(out)
    return values[-1]


def _make_function(program):
    steps, container = program["steps"], program["container"]
    if container == "tuple":
        def f(x, rest):
            return _run([x, *rest], steps)
    elif container == "dict":
        def f(x, rest):
            return _run([x, *(rest[k] for k in sorted(rest))], steps)
    else:
        def f(*xs):
            return _run(list(xs), steps)
    return f


def _execute(program, fn) -> dict:
    """Run the program once through ``fn``; everything observable, errors as their types."""
    rng = np.random.default_rng(program["seed"])
    tensors = [gg.tensor(rng.standard_normal(shape), dtype=getattr(gg, dtype), requires_grad=rg)
               for shape, rg, dtype in program["inputs"]]
    if program["container"] == "tuple":
        args = (tensors[0], tuple(tensors[1:]))
    elif program["container"] == "dict":
        args = (tensors[0], {f"k{i}": t for i, t in enumerate(tensors[1:])})
    else:
        args = tuple(tensors)
    seen: dict = {}
    try:
        out = fn(*args)
        if program["scalar_output"] and isinstance(out, gg.Tensor):
            out = out.sum()
    except Exception as e:  # noqa: BLE001 - the error's type is what is compared
        seen["forward_error"] = type(e)
        return seen
    if not isinstance(out, gg.Tensor):  # a program of only Python-scalar steps: impossible, a step reads a value
        raise AssertionError(out)
    seen["value"], seen["dtype"], seen["shape"] = out.detach().numpy().copy(), out.dtype, tuple(out.shape)
    seen["requires_grad"] = out.requires_grad
    if not out.requires_grad:
        return seen
    if program["inplace"] is not None:
        with gg.no_grad():
            tensors[program["inplace"]].mul_(2.0)
    try:
        out.backward(gg.ones_like(out))
    except Exception as e:  # noqa: BLE001
        seen["backward_error"] = type(e)
    seen["grads"] = [None if t.grad is None else (t.grad.numpy().copy(), t.grad.dtype) for t in tensors]
    return seen


def _assert_same(eager: dict, compiled: dict, rtol: float) -> None:
    for stage in ("forward_error", "backward_error"):  # code catching eager's error catches compiled's
        e, c = eager.get(stage), compiled.get(stage)
        assert (e is None and c is None) or (e is not None and c is not None and issubclass(c, e)), (stage, e, c)
    if "forward_error" in eager:
        return
    assert compiled["dtype"] == eager["dtype"] and compiled["shape"] == eager["shape"]
    assert compiled["requires_grad"] == eager["requires_grad"]
    np.testing.assert_allclose(compiled["value"], eager["value"], rtol=rtol, atol=rtol * 1e-2, equal_nan=True)
    for k, (ge, gc) in enumerate(zip(eager.get("grads", []), compiled.get("grads", []))):
        assert (ge is None) == (gc is None), f"input {k}: eager .grad {ge}, compiled .grad {gc}"
        if ge is not None:
            assert gc[1] == ge[1]
            np.testing.assert_allclose(gc[0], ge[0], rtol=rtol, atol=rtol * 1e-2, equal_nan=True)


@prop_settings(200)
@given(program=programs())
def test_compiled_agrees_with_eager(program):
    # float32 arithmetic may round differently when the generated code orders or fuses operations otherwise
    rtol = 1e-4 if any(dtype == "float32" for _, _, dtype in program["inputs"]) else 1e-10
    eager = _execute(program, _make_function(program))
    compiled = gg.compile(_make_function(program))
    for _ in range(2):  # the first call traces; the second runs the cached specialization, by its own path
        _assert_same(eager, _execute(program, compiled), rtol)
