"""gg.multinomial / Tensor.multinomial: the distribution of the draws (counts of many draws against the weights,
with a fixed seed and a bound no correct sampler crosses: 6 standard deviations, a chance below 1e-8 per count),
both replacement modes, eager and compiled (fresh draws per call, the eager numbers for a seed), on the device,
and PyTorch's argument checks with its error texts."""
from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

import graphgrad as gg


def assert_counts_match(counts, probs, draws: int):
    """Each count within 6 binomial standard deviations of draws * p (plus one for rounding); a zero-probability
    category never drawn."""
    counts, probs = np.asarray(counts, dtype=np.float64), np.asarray(probs, dtype=np.float64)
    expected = draws * probs
    bound = 6 * np.sqrt(draws * probs * (1 - probs)) + 1
    assert np.all(counts[probs == 0] == 0), (counts, probs)
    assert np.all(np.abs(counts - expected) <= bound), (counts, expected, bound)
    assert counts.sum() == draws


WEIGHTS = np.array([[1.0, 2.0, 3.0, 0.0, 4.0],     # unnormalized, a zero inside
                    [0.0, 0.0, 5.0, 5.0, 0.0],     # zeros at both ends
                    [0.25, 0.25, 0.25, 0.25, 0.0],  # the last category impossible (the inverse CDF's edge)
                    [1e-3, 1.0, 1.0, 1.0, 1.0]])   # a rare category


@pytest.mark.parametrize("dtype", [gg.float32, gg.float64])
def test_with_replacement_draws_each_category_in_proportion_to_its_weight(dtype):
    gg.manual_seed(0)
    draws = 200_000
    samples = gg.multinomial(gg.tensor(WEIGHTS, dtype=dtype), draws, replacement=True)
    assert samples.dtype == gg.int64 and tuple(samples.shape) == (4, draws)
    for row, weights in zip(samples.numpy(), WEIGHTS):
        assert_counts_match(np.bincount(row, minlength=5), weights / weights.sum(), draws)


@pytest.mark.parametrize("replacement", [True, False])
def test_one_sample_per_row_follows_the_weights(replacement):
    """num_samples=1 takes the exponential race in both modes: one draw from each of many identical rows."""
    gg.manual_seed(1)
    rows = 100_000
    weights = WEIGHTS[0]
    samples = gg.tensor(np.tile(weights, (rows, 1))).multinomial(1, replacement)
    assert tuple(samples.shape) == (rows, 1)
    assert_counts_match(np.bincount(samples.numpy()[:, 0], minlength=5), weights / weights.sum(), rows)


def _ordered_draw_probability(probs, sequence) -> float:
    """P(the draws without replacement come out as ``sequence``): each pick's share of what is left."""
    left, p = 1.0, 1.0
    for i in sequence:
        p *= probs[i] / left
        left -= probs[i]
    return p


def test_without_replacement_orders_follow_sequential_draws():
    """Each ordered triple of 4 categories comes with the probability of drawing it one by one without
    replacement: the order of the draws carries the distribution, not only the set."""
    gg.manual_seed(2)
    rows = 120_000
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    samples = gg.multinomial(gg.tensor(np.tile(weights, (rows, 1))), 3).numpy()
    assert all(len(set(row)) == 3 for row in samples[:1000])  # (all rows: below)
    assert np.all(np.sort(samples, 1)[:, 1:] != np.sort(samples, 1)[:, :-1])
    triples = list(itertools.permutations(range(4), 3))
    code = samples @ np.array([16, 4, 1])
    counts = [np.count_nonzero(code == 16 * a + 4 * b + c) for a, b, c in triples]
    probs = [_ordered_draw_probability(weights / weights.sum(), t) for t in triples]
    assert math.isclose(sum(probs), 1.0)
    assert_counts_match(counts, probs, rows)


def test_without_replacement_takes_the_positive_weights_first_then_the_zeros_in_order():
    gg.manual_seed(3)
    samples = gg.multinomial(gg.tensor([[0.0, 1.0, 0.0, 3.0], [0.0, 0.0, 2.0, 0.0]]), 4).tolist()
    assert sorted(samples[0][:2]) == [1, 3] and samples[0][2:] == [0, 2]
    assert samples[1] == [2, 0, 1, 3]
    # a 1-D input gives a 1-D result; every index once
    assert sorted(gg.multinomial(gg.tensor([5.0, 1.0, 1.0]), 3).tolist()) == [0, 1, 2]


def test_edge_shapes():
    assert gg.multinomial(gg.ones(1), 3, True).tolist() == [0, 0, 0]
    assert gg.multinomial(gg.ones(3, 1), 2, True).tolist() == [[0, 0]] * 3
    empty = gg.multinomial(gg.zeros(0, 3), 2, True)
    assert tuple(empty.shape) == (0, 2) and empty.dtype == gg.int64


def test_no_gradient_and_the_weights_are_left_alone():
    w = gg.tensor([1.0, 2.0], requires_grad=True)
    samples = gg.multinomial(w, 4, True)
    assert not samples.requires_grad and samples.grad_fn is None and samples.dtype == gg.int64
    assert w.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("args", [(3, True), (3, False), (1, True), (1, False)],
                         ids=["replacement", "without", "one-replacement", "one-without"])
def test_compiled_draws_afresh_each_call_and_equals_eager_for_a_seed(args):
    f = gg.compile(lambda w: gg.multinomial(w, *args))
    w = gg.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]] * 8)
    gg.manual_seed(4)
    first, second = f(w).tolist(), f(w).tolist()
    assert first != second  # (8 rows of draws agreeing by chance: below 1e-6)
    gg.manual_seed(4)
    assert gg.multinomial(w, *args).tolist() == first and w.multinomial(*args).tolist() == second
    assert f.cache_info().specializations == 1


def test_compiled_counts_follow_the_weights():
    f = gg.compile(lambda w: w.softmax(-1).multinomial(50_000, replacement=True))
    logits = gg.tensor([[0.0, 1.0, -1.0]])
    gg.manual_seed(5)
    probs = np.exp([0.0, 1.0, -1.0]) / np.exp([0.0, 1.0, -1.0]).sum()
    assert_counts_match(np.bincount(f(logits).numpy()[0], minlength=3), probs, 50_000)


def test_generator_argument():
    w = gg.tensor([1.0, 1.0, 1.0, 1.0])
    a = gg.multinomial(w, 10, True, generator=gg.Generator().manual_seed(9))
    gg.manual_seed(0)
    b = gg.multinomial(w, 10, True, generator=gg.Generator().manual_seed(9))
    assert a.tolist() == b.tolist()
    f = gg.compile(lambda w, g: w.multinomial(10, True, generator=g))
    assert f(w, gg.Generator().manual_seed(9)).tolist() == a.tolist()


ERRORS = [  # PyTorch 2.13's texts for these calls (RuntimeError)
    (lambda: gg.multinomial(gg.ones(2, 2, 2), 1), "prob_dist must be 1 or 2 dim"),
    (lambda: gg.multinomial(gg.tensor(1.0), 1), "prob_dist must be 1 or 2 dim"),
    (lambda: gg.multinomial(gg.ones(2, 2, 2, dtype=gg.int64), 1), "prob_dist must be 1 or 2 dim"),
    (lambda: gg.multinomial(gg.ones(2, dtype=gg.int64), 0),
     "multinomial only supports floating-point dtypes for input, got: Long"),
    (lambda: gg.multinomial(gg.ones(2), 0, True), "cannot sample n_sample <= 0 samples"),
    (lambda: gg.multinomial(gg.ones(2), -1), "cannot sample n_sample <= 0 samples"),
    (lambda: gg.multinomial(gg.tensor([-1.0, 1.0]), 5), "cannot sample n_sample > prob_dist.size(-1) samples "
                                                         "without replacement"),
    (lambda: gg.multinomial(gg.zeros(2, 0), 1), "cannot sample n_sample > prob_dist.size(-1) samples without "
                                                "replacement"),
    (lambda: gg.multinomial(gg.zeros(2, 0), 1, True), "aminmax(): cannot compute aminmax over an empty dimension "
                                                      "as the operation has no identity."),
    (lambda: gg.multinomial(gg.zeros(2, 0), 2, True), "invalid multinomial distribution (sum of probabilities "
                                                      "<= 0)"),
]

BAD = "probability tensor contains either `inf`, `nan` or element < 0"
SUM = "invalid multinomial distribution (sum of probabilities <= 0)"
NEG = "invalid multinomial distribution (encountering probability entry < 0)"
INF = "invalid multinomial distribution (encountering probability entry = infinity or NaN)"
VALUES = [  # weights, PyTorch's error for (1 sample, with or without replacement), for (2, with), for (2, without)
    ([0.0, 0.0], SUM, SUM, SUM),
    ([[1.0, 1.0], [0.0, 0.0]], SUM, SUM, SUM),
    ([1.0, -1.0], BAD, NEG, BAD),
    ([1.0, float("nan")], BAD, NEG, BAD),
    ([1.0, float("inf")], BAD, INF, BAD),
    ([float("-inf"), 1.0], BAD, NEG, BAD),
    ([[0.0, 0.0], [1.0, -1.0]], BAD, SUM, BAD),  # with replacement, row by row: the first row's error
    ([[1.0, -1.0], [0.0, 0.0]], BAD, NEG, BAD),
    ([[1.0, float("inf")], [1.0, -1.0]], BAD, INF, BAD),
    ([[1.0, 1.0], [float("inf"), -1.0]], BAD, INF, BAD),  # within a row, the first bad entry
]


@pytest.mark.parametrize("call,message", ERRORS)
def test_argument_errors_are_pytorchs(call, message):
    with pytest.raises(RuntimeError, match=f"^{re.escape(message)}$"):
        call()


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("weights,one,two_with,two_without", VALUES)
def test_value_errors_are_pytorchs_at_every_call(weights, one, two_with, two_without, compiled):
    """Compiled, the values are checked by the generated code at each call (the error then names its line)."""
    cases = [(1, True, one), (1, False, one), (2, True, two_with), (2, False, two_without)]
    for n, replacement, message in cases:
        fn = (lambda w: gg.multinomial(w, n, replacement))
        if compiled:
            fn = gg.compile(fn)
            fn(gg.ones(*np.shape(weights)))  # traced on good values first: the check is in the code
        with pytest.raises(RuntimeError, match=f"^{re.escape(message)}" + ("" if compiled else "$")):
            fn(gg.tensor(weights))


def test_argument_types_are_pytorchs():
    w = gg.ones(2)
    for call, message in [
        (lambda: gg.multinomial(w, 2.0), "multinomial(): argument 'num_samples' (position 2) must be int, not float"),
        (lambda: gg.multinomial(w, True), "multinomial(): argument 'num_samples' (position 2) must be int, not bool"),
        (lambda: w.multinomial(2.0), "multinomial(): argument 'num_samples' (position 1) must be int, not float"),
        (lambda: w.multinomial(2, replacement=1), "multinomial(): argument 'replacement' must be bool, not int"),
        (lambda: gg.multinomial([1.0, 2.0], 1), "multinomial(): argument 'input' (position 1) must be Tensor, not "
                                                "list"),
    ]:
        with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
            call()


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("args", [(6, True), (3, False)], ids=["replacement", "without"])
def test_on_the_device_draws_the_cpus_samples(cupy_device, compiled, args):
    """The random numbers come from the host's generator, as dropout's masks: same seed, same samples."""
    results = []
    for device in ("cpu", "cuda"):
        gg.manual_seed(6)
        w = gg.tensor([[1.0, 2.0, 0.0, 3.0], [4.0, 0.0, 1.0, 1.0]], device=device)
        f = (lambda w: gg.multinomial(w, *args))
        out = (gg.compile(f) if compiled else f)(w)
        assert out.is_cuda == (device == "cuda") and out.dtype == gg.int64
        results.append(out.cpu().tolist())
    assert results[0] == results[1]


class _Extreme(np.random.Generator):
    """A generator whose uniforms are all ``u`` and whose exponentials are all ``e``: the samplers' edges."""

    def __init__(self, u: float = 0.5, e: float = 1.0):
        super().__init__(np.random.PCG64(0))
        self.u, self.e = u, e

    def random(self, size=None, dtype=np.float64, out=None):
        return np.full(size, self.u)

    def standard_exponential(self, size=None, dtype=np.float64, method="zig", out=None):
        return np.full(size, self.e)


def test_the_inverse_cdf_never_lands_on_a_zero_weight_at_its_edges():
    """u * total never rounds up to the total in normal numbers, but it does with subnormal weights: u = 0.9 of
    a total of 4 subnormal steps is 3.6 steps, rounded to 4, the last sum, which a trailing zero weight shares.
    u = 0 sits on a leading zero weight's sum (0)."""
    tiny = np.nextafter(0.0, 1.0)  # the smallest subnormal
    assert 0.9 * (4 * tiny) == 4 * tiny
    w = gg.tensor([4 * tiny, 0.0, 0.0], dtype=gg.float64)
    assert gg.multinomial(w, 2, True, generator=_Extreme(u=0.9)).tolist() == [0, 0]
    w = gg.tensor([[0.0, 2 * tiny, 2 * tiny, 0.0, 0.0]], dtype=gg.float64)
    assert gg.multinomial(w, 2, True, generator=_Extreme(u=0.9)).tolist() == [[2, 2]]
    assert gg.multinomial(gg.tensor([0.0, 0.0, 1.0]), 2, True, generator=_Extreme(u=0.0)).tolist() == [2, 2]


def test_the_exponential_race_never_picks_a_zero_weight_when_an_exponential_is_0():
    """numpy's standard_exponential can return 0.0 (probability about 2**-53); 0 / 0 would be a nan that argmax
    picks."""
    w = gg.tensor([0.0, 1.0, 0.0, 2.0])
    assert gg.multinomial(w, 1, generator=_Extreme(e=0.0)).tolist() == [3]  # (all keys w / tiny: the largest w)
    assert sorted(gg.multinomial(w, 2, generator=_Extreme(e=0.0)).tolist()) == [1, 3]
