"""Tensor factories (``tensor``, ``ones``, ``randn`` …) with PyTorch's signatures and defaults."""
from __future__ import annotations

import builtins
import warnings

import numpy as np

from ..ir.api import bind
from ..ir.types import TensorType
from ..ops.define import tensors_only
from ..tracer.tracer import ACTIVE as _TRACES
from ..tracer import tracer as _tracer_module
from ..tracer.tracer import TracerError, user_location
from . import dtypes
from .device import CPU, default_device
from .grad_mode import is_inference_mode_enabled
from .tensor import Tensor, _to_array, _to_device, check_can_require_grad

class Generator:
    """A seeded source of random numbers, passed as ``generator=`` to the random factories and DataLoader.

    >>> import graphgrad as gg
    >>> g = gg.Generator().manual_seed(0)
    >>> gg.randperm(4, generator=g).tolist() == gg.randperm(4, generator=gg.Generator().manual_seed(0)).tolist()
    True
    """

    def __init__(self, device: str = "cpu"):
        self.device = device
        self.manual_seed(67280421310721)  # PyTorch's default seed

    def manual_seed(self, seed: int) -> "Generator":
        self._seed = int(seed)
        self.rng = np.random.default_rng(self._seed)
        return self

    def initial_seed(self) -> int:
        return self._seed

    def seed(self) -> int:
        """Re-seed from a non-deterministic source; returns the new seed."""
        return self.manual_seed(int(np.random.SeedSequence().entropy) % 2**63).initial_seed()

    def get_state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> "Generator":
        self.rng.bit_generator.state = state
        return self


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed graphgrad's default generator (``randn``, ``rand``, ``randint``, ``nn`` initialisation, DataLoader
    shuffling)."""
    return default_generator.manual_seed(seed)


def initial_seed() -> int:
    return default_generator.initial_seed()


def _rng(generator) -> np.random.Generator:
    if generator is None:
        return default_generator.rng
    if isinstance(generator, np.random.Generator):
        return generator
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be a graphgrad.Generator, not {type(generator).__name__}")
    return generator.rng


def _finish(array, dtype, device, requires_grad) -> Tensor:
    if dtype is not None:
        array = array.astype(dtypes.BY_NAME[dtypes.to_name(dtype)].numpy, copy=False)
    if requires_grad:
        check_can_require_grad(array, at_creation=True)
    t = Tensor._wrap(array)
    if device is None:
        device = default_device()
    if device is not CPU and str(device) != "cpu":
        t = _to_device(t, device)
    t._requires_grad = bool(requires_grad)
    if is_inference_mode_enabled():
        t._is_inference = True
    if _TRACES.stack:  # created while tracing: a constant of that trace
        t._born_in = _TRACES.stack[-1]
    return t


def _shape(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for i, d in enumerate(size):
        # int(2.5) would silently make a size of 2: PyTorch refuses anything that is not an integer
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"argument 'size' (position 1) must be tuple of ints, but found element of type "
                            f"{type(d).__name__} at pos {i}")
    return tuple(int(d) for d in size)


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, scalars, arrays or tensors).

    >>> import graphgrad as gg
    >>> gg.tensor([[1, 2], [3, 4]]).dtype
    torch.int64
    """
    if isinstance(data, Tensor):
        warnings.warn("To copy construct from a tensor, it is recommended to use sourceTensor.clone().detach() or "
                      "sourceTensor.clone().detach().requires_grad_(True), rather than torch.tensor(sourceTensor).",
                      UserWarning, stacklevel=2)
    tracer = _traced(requires_grad, device) if data.__class__ is np.ndarray else None
    if tracer is not None:
        name = dtypes.to_name(dtype) if dtype is not None else data.dtype.name
        lifted = _tracer_module.LIFTED_DTYPES
        if data.dtype.name in lifted and name in lifted and _tracer_module.held_from_outside(data):
            # while tracing, a copy of the array as it is at each call, as eager code makes: `gg.tensor(W)` of
            # a global W lifts W to an input, where a copy made now would be a constant gone stale once W changes.
            # Only then: an array the function makes itself is copied now (a buffer filled between reads)
            return _tracer_module.SymbolicTensor._apply("cast", (tracer.wrap(tracer.lift(data, "tensor")),),
                                                        {"dtype": name})
    array = _to_array(data, dtype)
    array = array.copy() if isinstance(data, (np.ndarray, Tensor)) else array
    return _finish(np.asarray(array) if type(array).__module__ == "numpy" else array, None, device, requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    return data if isinstance(data, Tensor) and dtype is None else _finish(_to_array(data, dtype), None, device, False)


def from_numpy(array: np.ndarray) -> Tensor:
    return Tensor._wrap(_to_array(array, None))


def _traced(requires_grad: bool, device):
    """The running trace a factory call should record into (as a node), or None: outside a trace, and for
    leaves that require grad or live on another device, a factory makes an eager tensor."""
    if not _TRACES.stack or requires_grad or (device is not None and str(device) != "cpu"):
        return None
    return _TRACES.stack[-1]


def _fill_node(tracer, shape: tuple, value, name: str):
    value = bool(value) if name == "bool" else int(value) if name == "int64" else float(value)
    return tracer.record("full", [], {"shape": tuple(shape), "value": value, "dtype": name})


def _filled(fill, size, dtype, device, requires_grad) -> Tensor:
    name = dtypes.to_name(dtype) if dtype is not None else dtypes.default_float().name
    tracer = _traced(requires_grad, device)
    if tracer is not None:
        return _fill_node(tracer, _shape(size), 1 if fill is np.ones else 0, name)
    return _finish(fill(_shape(size), dtype=np.dtype(name)), None, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones. ``gg.ones(2, 3)`` or ``gg.ones((2, 3))``."""
    return _filled(np.ones, size, dtype, device, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros. ``gg.zeros(2, 3)`` or ``gg.zeros((2, 3))``."""
    return _filled(np.zeros, size, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _filled(np.zeros, size, dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if dtype is None:
        dtype = "bool" if isinstance(fill_value, bool) else "int64" if isinstance(fill_value, int) else dtypes.default_float().name
    tracer = _traced(requires_grad, device)
    if tracer is not None and isinstance(fill_value, (bool, int, float)):
        return _fill_node(tracer, _shape((size,)), fill_value, dtypes.to_name(dtype))
    return _finish(np.full(_shape((size,)), fill_value, dtype=np.dtype(dtypes.to_name(dtype))), None, device,
                   requires_grad)


def _like(fill, t: Tensor, dtype, device, requires_grad) -> Tensor:
    name = dtypes.to_name(dtype) if dtype is not None else t.dtype.name
    tracer = _traced(requires_grad, device)
    if tracer is not None and not getattr(t, "is_cuda", False):
        return _fill_node(tracer, tuple(t.shape), fill((), dtype=np.dtype(name)).item(), name)
    return _finish(fill(tuple(t.shape), dtype=np.dtype(name)), None, device or (t.device if t.is_cuda else None),
                   requires_grad)


def ones_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _like(np.ones, t, dtype, device, requires_grad)


def zeros_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _like(np.zeros, t, dtype, device, requires_grad)


def empty_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _like(np.zeros, t, dtype, device, requires_grad)


def full_like(t: Tensor, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _like(lambda shape, dtype: np.full(shape, fill_value, dtype=dtype), t, dtype, device, requires_grad)


_tracer_module.resolve_generator = _rng  # traced in-place fills (t.uniform_()) draw from these generators


def _random(draw, shape: tuple, dtype: str, device, requires_grad: bool, name: str):
    """A random factory's result. Eagerly: ``draw()`` now. Inside ``@graphgrad.compile``: a graph input that
    each call fills with a fresh ``draw()``, never numbers frozen at trace time (the draws happen in program
    order from the same generator, so a seed gives the same values compiled and eager)."""
    if _TRACES.stack:
        if requires_grad:
            loc = user_location(3)
            raise TracerError(f"{name}(..., requires_grad=True) inside a compiled function"
                              f"{f' at {loc.file}:{loc.line}' if loc else ''}: create the leaf outside and pass "
                              f"it as an argument")
        return _TRACES.stack[-1].random_input(TensorType(shape, dtype), lambda: draw().astype(dtype, copy=False),
                                               name)
    return _finish(draw().astype(np.dtype(dtype), copy=False), None, device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad: bool = False, generator=None) -> Tensor:
    """Standard normal samples (float32, or the default dtype, unless ``dtype`` says otherwise); fresh on every
    compiled call too.

    >>> import graphgrad as gg
    >>> f = gg.compile(lambda x: x + gg.randn(2))
    >>> bool((f(gg.zeros(2)) != f(gg.zeros(2))).all())
    True
    """
    shape = _shape(size)
    return _random(lambda: _rng(generator).standard_normal(shape), shape,
                   dtypes.to_name(dtype or dtypes.default_float().name), device, requires_grad, "randn")


def rand(*size, dtype=None, device=None, requires_grad: bool = False, generator=None) -> Tensor:
    """Uniform samples on [0, 1)."""
    shape = _shape(size)
    return _random(lambda: _rng(generator).random(shape), shape, dtypes.to_name(dtype or dtypes.default_float().name),
                   device, requires_grad, "rand")


def _like_device(t, device):
    return device or (t.device if getattr(t, "is_cuda", False) else None)


def randn_like(t, dtype=None, device=None, requires_grad: bool = False, generator=None) -> Tensor:
    """Standard normal samples shaped like ``t`` (its dtype and device unless given)."""
    return randn(*t.shape, dtype=dtype or t.dtype, device=_like_device(t, device), requires_grad=requires_grad,
                 generator=generator)


def rand_like(t, dtype=None, device=None, requires_grad: bool = False, generator=None) -> Tensor:
    """Uniform samples on [0, 1) shaped like ``t`` (its dtype and device unless given)."""
    return rand(*t.shape, dtype=dtype or t.dtype, device=_like_device(t, device), requires_grad=requires_grad,
                generator=generator)


def randint(low, high=None, size=(), dtype=None, device=None, generator=None) -> Tensor:
    """Integers drawn uniformly from [low, high) (int64 unless ``dtype`` says otherwise)."""
    if high is None:
        low, high = 0, low
    shape = _shape((size,))
    return _random(lambda: _rng(generator).integers(low, high, size=shape), shape,
                   dtypes.to_name(dtype or "int64"), device, False, "randint")


def randint_like(t, low: int = 0, high: int | None = None, dtype=None, device=None, requires_grad: bool = False,
                 generator=None) -> Tensor:
    """Integers in [low, high) shaped like ``t`` (``randint_like(t, high)`` starts at 0), of ``t``'s dtype."""
    if high is None:
        low, high = 0, low
    shape = tuple(t.shape)
    return _random(lambda: _rng(generator).integers(low, high, size=shape), shape,
                   dtypes.to_name(dtype or t.dtype), _like_device(t, device), requires_grad, "randint_like")


def randperm(n: int, dtype=None, device=None, generator=None) -> Tensor:
    return _random(lambda: _rng(generator).permutation(n), (n,), dtypes.to_name(dtype or "int64"), device, False,
                   "randperm")


def bernoulli(input, p=None, generator=None) -> Tensor:
    """Draws 1 with probability ``input`` (elementwise; or ``p`` when given), else 0, in ``input``'s dtype.
    Not differentiable, as in PyTorch.

    >>> import graphgrad as gg
    >>> gg.bernoulli(gg.tensor([0.0, 1.0])).tolist()
    [0.0, 1.0]
    """
    u = rand(*input.shape, dtype="float64", generator=generator, device=_like_device(input, None))
    probs = input.detach() if p is None else p if isinstance(p, (int, float)) else np.broadcast_to(p, tuple(input.shape))
    return (u < probs)._cast(input._type.dtype)


def poisson(input, generator=None) -> Tensor:
    """Poisson samples, each with its element of ``input`` as rate, in ``input``'s dtype; fresh on every compiled
    call too. The gradient to the rates is zero (PyTorch's ``PoissonBackward0``). Its seed is drawn from
    ``generator`` (the default one: ``manual_seed``), so a seed replays the samples, eagerly and compiled.

    >>> import graphgrad as gg
    >>> gg.poisson(gg.tensor([0.0, 0.0])).tolist()
    [0.0, 0.0]
    >>> _ = gg.manual_seed(0); a = gg.poisson(gg.full((4,), 3.0))
    >>> _ = gg.manual_seed(0); bool((gg.poisson(gg.full((4,), 3.0)) == a).all())
    True
    """
    tensors_only("poisson", input=input)
    if generator is not None and not isinstance(generator, Generator):
        raise TypeError(f"poisson(): argument 'generator' (position 2) must be torch.Generator, not "
                        f"{type(generator).__name__}")
    if input._type.dtype not in ("float32", "float64"):
        raise NotImplementedError(f"\"poisson_cpu\" not implemented for '{dtypes.BY_NAME[input._type.dtype].scalar_name}'")
    seed = _random(lambda: np.asarray(_rng(generator).integers(0, 2 ** 63)), (), "int64",
                   _like_device(input, None), False, "poisson_seed")
    return bind("poisson", input, seed)


_BAD_ENTRY = "probability tensor contains either `inf`, `nan` or element < 0"
_BAD_SUM = "invalid multinomial distribution (sum of probabilities <= 0)"
# the per-row checks of PyTorch's with-replacement kernel (num_samples > 1), which words its errors apart
_ROW_ERRORS = ("invalid multinomial distribution (encountering probability entry < 0)",
               "invalid multinomial distribution (encountering probability entry = infinity or NaN)", _BAD_SUM)


def multinomial(input, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:
    """``num_samples`` category indices (int64) drawn from each row of ``input``: 1-D or 2-D non-negative weights,
    not necessarily normalized. Without ``replacement`` no index comes twice in a row (once the positive weights
    are used up, zero-weight indices follow, lowest first). No gradient. Drawn afresh at every compiled call.

    >>> import graphgrad as gg
    >>> _ = gg.manual_seed(0)
    >>> gg.multinomial(gg.tensor([0.0, 10.0, 0.0]), 4, replacement=True)
    tensor([1, 1, 1, 1])
    >>> sorted(gg.multinomial(gg.tensor([[1.0, 2.0, 3.0]]), 3)[0].tolist())
    [0, 1, 2]
    """
    return _multinomial(input, num_samples, replacement, generator, "(position 2) ")


def _multinomial_method(self, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:
    """``graphgrad.multinomial(self, num_samples, replacement)``: category indices drawn from the rows of these
    weights.

    >>> import graphgrad as gg
    >>> gg.tensor([0.0, 1.0]).multinomial(3, replacement=True).tolist()
    [1, 1, 1]
    """
    return _multinomial(self, num_samples, replacement, generator, "(position 1) ")


def _multinomial(input, num_samples, replacement, generator, position: str):
    from ..ir.api import TensorBase
    from ..ops.elementwise import check_above, where
    from ..ops.shape import cat

    if not isinstance(input, TensorBase):
        raise TypeError(f"multinomial(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise TypeError(f"multinomial(): argument 'num_samples' {position}must be int, not "
                        f"{type(num_samples).__name__}")
    if not isinstance(replacement, (bool, np.bool_)):
        raise TypeError(f"multinomial(): argument 'replacement' must be bool, not {type(replacement).__name__}")
    n, replacement = int(num_samples), bool(replacement)
    # PyTorch's checks, in its order: the shape, the dtype, the count; the values last (they need the data)
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if not input._type.is_floating:
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: "
                           f"{dtypes.BY_NAME[input._type.dtype].scalar_name}")
    if n <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    categories = input.shape[-1]
    if not replacement and n > categories:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    rows = input.shape[0] if input.ndim == 2 else 1
    out_shape = (rows, n) if input.ndim == 2 else (n,)
    device = _like_device(input, None)
    # float64 throughout: a float32 cumulative sum of many categories would shift the later ones' shares
    w = input.detach().reshape(rows, categories)._cast("float64")
    fast = not replacement or n == 1
    if rows == 0:  # (nothing to draw: PyTorch returns before looking at the values)
        return zeros(*out_shape, dtype="int64", device=device)
    if categories == 0:  # PyTorch's own words: its fast path takes the extrema of nothing
        raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the operation has no "
                           "identity." if fast else _BAD_SUM)
    if fast:
        # every entry finite and >= 0 (nan fails), then every row sums above 0: checked in the data path, so that
        # a compiled function checks them at each call
        w = check_above(where(w.isfinite(), w, -1.0), 0.0, _BAD_ENTRY, inclusive=True)
        w = w / check_above(w.sum(-1, keepdim=True), 0.0, _BAD_SUM)
        # the exponential race (Gumbel-top-k): with E ~ Exp(1), the largest w / E is category i with probability
        # w_i / sum(w), and the next largest follow as draws without replacement would. (E is never 0 here: a 0
        # would make 0 / 0 a nan that wins.)
        shape = (rows, categories)
        race = _random(lambda: np.maximum(_rng(generator).standard_exponential(shape), np.finfo(np.float64).tiny),
                       shape, "float64", device, False, "multinomial")
        keys = w / race
        if n == 1:
            return keys.argmax(-1, keepdim=True).reshape(out_shape)
        # descending and stable: zero-weight categories (key 0) come last, lowest index first
        return keys.argsort(-1, descending=True)[:, :n].reshape(out_shape)
    w = _row_checked(w, where, check_above)
    # the inverse CDF: sample s of a row is the number of cumulative sums (the last left out) at or below
    # u_s * total, u_s ~ U[0, 1). A zero-weight category i never wins (its sum equals the one before it),
    # except trailing ones where u * total rounds up to the total (subnormal weights): capped at the last positive.
    cdf = w.cumsum(-1)
    shape = (rows, n)
    u = _random(lambda: _rng(generator).random(shape), shape, "float64", device, False, "multinomial")
    targets = u * cdf[:, categories - 1:]
    # counted by one sort of the sums and the targets together, per row (O((K + n) log(K + n)), where comparing
    # every target with every sum would take K * n): sums first, so that a tie counts as "at or below"
    edges = categories - 1
    order = cat([cdf[:, :edges], targets], -1).argsort(-1)
    seen = (order < edges)._cast("int64").cumsum(-1)  # sums among the first j sorted values
    counts = seen.gather(-1, order.argsort(-1)[:, edges:])  # at each target's own sorted position
    positions = arange(categories, device=device)
    last = ((w > 0)._cast("int64") * positions).amax(-1, keepdim=True)
    return counts.minimum(last).reshape(out_shape)


def _row_checked(w, where, check_above):
    """``w``, once checked as PyTorch's with-replacement kernel checks it, row by row: each entry ``>= 0`` (nan
    fails), then finite, then the row's sum above 0; the first failure names the error. Checked in the data path
    (``w`` times factors of 1.0 that raise), so that compiled code checks each call's values."""
    code = where(~(w >= 0), 1, where(~w.isfinite(), 2, 0))
    failed = (code != 0)._cast("int64")
    row_code = code.gather(-1, failed.argmax(-1, keepdim=True))[:, 0]
    row_code = where((row_code == 0) & ~(w.sum(-1) > 0), 3, row_code)
    first = row_code.gather(0, (row_code != 0)._cast("int64").argmax(0, keepdim=True))[0]  # first failing row
    for k, message in enumerate(_ROW_ERRORS, 1):
        w = w * check_above((first != k)._cast("float64"), 0.5, message)
    return w


def normal(mean, std=1.0, size=None, generator=None, dtype=None) -> Tensor:
    """Samples of N(mean, std**2): ``normal(mean_tensor, std_tensor)``, or ``normal(0.0, 1.0, size=(2, 3))``.
    Not differentiable in ``mean`` and ``std`` (as in PyTorch); write ``mean + std * gg.randn_like(std)`` to
    reparameterize."""
    if size is not None:
        return randn(*_shape((size,)), dtype=dtype, generator=generator) * std + mean
    like = mean if hasattr(mean, "shape") else std
    shape = tuple(np.broadcast_shapes(tuple(getattr(mean, "shape", ())), tuple(getattr(std, "shape", ()))))
    eps = randn(*shape, dtype=dtype or like.dtype, generator=generator)
    mean = mean.detach() if hasattr(mean, "detach") else mean
    std = std.detach() if hasattr(std, "detach") else std
    return eps * std + mean


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``start, start + step, ...`` below ``end``: int64 when every bound is integral (a Python or NumPy int, a
    0-d integer tensor), else the default float dtype, as in PyTorch."""
    if end is None:
        start, end = 0, start
    start, end, step = (_number(v) for v in (start, end, step))
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (step > 0 and start > end) or (step < 0 and start < end):
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    array = np.arange(start, end, step)
    if dtype is None:
        dtype = "int64" if all(isinstance(v, int) for v in (start, end, step)) else dtypes.default_float().name
    tracer = _traced(requires_grad, device)
    if tracer is not None and all(isinstance(v, (int, float)) for v in (start, end, step)):
        return tracer.record("arange", [], {"start": start, "stop": end, "step": step,
                                            "dtype": dtypes.to_name(dtype)})
    return _finish(array, dtype, device, requires_grad)


def _number(v):
    """A bound of ``arange`` as a Python number: NumPy scalars and 0-d eager tensors by value (an integer one
    stays an int, so that ``arange(torch.tensor(3))`` is int64 as in PyTorch)."""
    if isinstance(v, Tensor) and v.ndim == 0:
        return v.item()
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        return v.item()
    return v


def range(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False) -> Tensor:  # noqa: A001
    """Deprecated PyTorch ``range``: like ``arange`` but the end is included, and float32 by default."""
    warnings.warn("torch.range is deprecated and will be removed in a future release because its behavior is "
                  "inconsistent with Python's range builtin. Instead, use torch.arange, which produces values in "
                  "[start, end).", UserWarning, stacklevel=2)
    if end is None:
        start, end = 0, start
    count = int(np.floor((end - start) / step)) + 1
    return _finish(start + step * np.arange(count), dtype or dtypes.default_float().name, device, requires_grad)


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    return _finish(np.linspace(start, end, steps), dtype or dtypes.default_float().name, device, requires_grad)


def logspace(start, end, steps: int, base: float = 10.0, *, dtype=None, layout=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``base ** linspace(start, end, steps)`` as PyTorch computes it: the exponents from ``start`` for the first
    half and from ``end`` for the second (so both ends are exact), each power in float64, then rounded to ``dtype``.

    >>> import graphgrad as gg
    >>> gg.logspace(0, 2, 3)
    tensor([  1.,  10., 100.])
    """
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    name = dtypes.to_name(dtype) if dtype is not None else dtypes.default_float().name
    kind = np.dtype(name)
    start, end = (float(kind.type(v)) if kind.kind == "f" else float(v) for v in (start, end))
    i = np.arange(steps, dtype=np.float64)
    if steps == 1:
        exponents = np.array([start])
    else:
        step = (end - start) / (steps - 1)
        exponents = np.where(i < steps // 2, start + step * i, end - step * (steps - i - 1))
    return _finish(np.power(float(base), exponents), name, device, requires_grad)


def eye(n: int, m: int | None = None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.eye(n, m), dtype or dtypes.default_float().name, device, requires_grad)


def FloatTensor(*data) -> Tensor:
    """Legacy constructor: ``FloatTensor([1, 2])`` copies data, ``FloatTensor(2, 3)`` is uninitialised."""
    if len(data) == 1 and not isinstance(data[0], int):
        values = data[0]
        return tensor(list(values) if isinstance(values, builtins.range) else values, dtype="float32")
    return zeros(*data)


def DoubleTensor(*data) -> Tensor:
    return FloatTensor(*data).double()


def LongTensor(*data) -> Tensor:
    if len(data) == 1 and not isinstance(data[0], int):
        return tensor(data[0], dtype="int64")
    return zeros(*data, dtype="int64")



def _triangle_indices(name: str, fn, row: int, col: int, offset: int, dtype, device) -> Tensor:
    dtype_name = "int64" if dtype is None else dtypes.to_name(dtype)
    if dtype_name != "int64":  # graphgrad's one integer dtype (PyTorch also takes int32 and the like)
        raise NotImplementedError(f"\"{name}\" not implemented for '{dtypes.BY_NAME[dtype_name].scalar_name}'")
    if row < 0:
        raise RuntimeError(f"row must be non-negative, got{row}")
    if col < 0:
        raise RuntimeError(f"col must be non-negative, got{col}")
    rows, cols = fn(row, offset, col)
    return _finish(np.stack([rows, cols]).astype(np.int64).reshape(2, -1), None, device, False)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None) -> Tensor:
    """The (row, column) coordinates of the lower triangle (on and below diagonal ``offset``) of a ``row`` x ``col``
    matrix, row by row: a (2, N) int64 tensor.

    >>> import graphgrad as gg
    >>> gg.tril_indices(3, 3)
    tensor([[0, 1, 1, 2, 2, 2],
            [0, 0, 1, 0, 1, 2]])
    """
    return _triangle_indices("tril_indices", np.tril_indices, row, col, offset, dtype, device)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None) -> Tensor:
    """The (row, column) coordinates of the upper triangle (on and above diagonal ``offset``) of a ``row`` x ``col``
    matrix, row by row: a (2, N) int64 tensor.

    >>> import graphgrad as gg
    >>> gg.triu_indices(3, 3, 1)
    tensor([[0, 0, 1],
            [1, 2, 2]])
    """
    return _triangle_indices("triu_indices", np.triu_indices, row, col, offset, dtype, device)


# graphgrad.tril_indices, .triu_indices: the functions table (graphgrad/__init__.py publishes it)
from ..ir.public import export as _export  # noqa: E402

_export(tril_indices, "tril_indices", gg="tril_indices")
_export(multinomial, "multinomial", gg="multinomial")
_export(_multinomial_method, "multinomial", tensor="multinomial")
_export(triu_indices, "triu_indices", gg="triu_indices")
