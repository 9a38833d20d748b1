"""graphgrad.distributions: values against closed forms, gradients against float64 finite differences (eager
and compiled, first and second order), sampling statistics (fixed seeds, 6-sigma bounds no correct sampler
crosses), shapes, expand, and PyTorch's argument validation with its error texts.

The closed forms are written here in NumPy/math from their textbook definitions; the error texts are PyTorch
2.13's (printed by it for the same calls)."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.distributions import (Bernoulli, Categorical, Distribution, Independent, MultivariateNormal, Normal,
                                     Uniform, constraints)

LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))


def f64(a):
    return gg.tensor(np.asarray(a, dtype=np.float64), dtype=gg.float64)


def close(got, expected, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(got.detach().numpy() if hasattr(got, "detach") else got, expected, rtol=rtol,
                               atol=atol)


@pytest.fixture
def rng():
    return np.random.default_rng(2024)


# -- values against closed forms ----------------------------------------------------------------------------------
def test_normal_values(rng):
    mu, s = rng.standard_normal((2, 1)), rng.uniform(0.5, 2.0, 3)  # broadcast to a (2, 3) batch
    x = rng.standard_normal((4, 2, 3))
    d = Normal(f64(mu), f64(s))
    assert d.batch_shape == gg.Size([2, 3]) and d.event_shape == gg.Size([])
    close(d.log_prob(f64(x)), -((x - mu) ** 2) / (2 * s ** 2) - np.log(s) - LOG_SQRT_2PI)
    close(d.entropy(), np.broadcast_to(0.5 * np.log(2 * math.pi * math.e * s ** 2), (2, 3)))
    erf = np.vectorize(math.erf)
    close(d.cdf(f64(x)), 0.5 * (1 + erf((x - mu) / (s * math.sqrt(2)))))
    p = rng.uniform(0.05, 0.95, (2, 3))
    close(d.cdf(d.icdf(f64(p))), p, rtol=1e-10)
    close(d.mean, np.broadcast_to(mu, (2, 3)))
    close(d.variance, np.broadcast_to(s ** 2, (2, 3)))
    close(d.stddev, np.broadcast_to(s, (2, 3)))
    close(d.perplexity(), np.exp(d.entropy().numpy()))
    scalar = Normal(0.0, 1.0)
    assert scalar.batch_shape == gg.Size([]) and scalar.loc.dtype == gg.float32
    assert tuple(scalar.sample((5, 2)).shape) == (5, 2)


def test_categorical_values_from_probs_and_logits(rng):
    weights = rng.uniform(0.1, 1.0, (3, 4))
    weights[0, 2] = 0.0  # a zero probability: its term of the entropy is 0
    probs = weights / weights.sum(-1, keepdims=True)
    log_weights = np.log(np.where(weights > 0, weights, 1.0)) + np.where(weights > 0, 0.0, -np.inf)
    for d in (Categorical(probs=f64(weights)), Categorical(logits=f64(log_weights))):
        assert d.batch_shape == gg.Size([3]) and d.event_shape == gg.Size([]) and d.param_shape == gg.Size([3, 4])
        close(d.probs, probs)
        value = np.array([[0, 1, 3], [3, 2, 1]])  # (2, 3): broadcast with the batch
        expected = np.log(probs[np.arange(3), value])
        got = d.log_prob(gg.tensor(value))
        close(got[:, 1:], expected[:, 1:])
        terms = np.where(probs > 0, probs * np.log(np.where(probs > 0, probs, 1.0)), 0.0)
        close(d.entropy(), -terms.sum(-1))
        assert d.mode.tolist() == probs.argmax(-1).tolist()
        assert bool(d.mean.isnan().all()) and bool(d.variance.isnan().all())
    # the zero-probability class: log 0 = -inf from logits, the log of the dtype's eps from probs (as PyTorch)
    assert Categorical(logits=f64(log_weights)).log_prob(gg.tensor(2))[0].item() == -math.inf
    close(Categorical(probs=f64(weights)).log_prob(gg.tensor(2))[0], math.log(np.finfo(np.float64).eps))
    d = Categorical(f64([0.2, 0.8]))
    assert d.enumerate_support().tolist() == [0, 1]
    assert Categorical(f64(probs)).enumerate_support().tolist() == [[0] * 3, [1] * 3, [2] * 3, [3] * 3]


def test_bernoulli_values(rng):
    p = rng.uniform(0.05, 0.95, (2, 3))
    y = (rng.uniform(size=(2, 3)) < 0.5).astype(np.float64)
    for d in (Bernoulli(probs=f64(p)), Bernoulli(logits=f64(np.log(p) - np.log1p(-p)))):
        assert d.batch_shape == gg.Size([2, 3])
        close(d.log_prob(f64(y)), y * np.log(p) + (1 - y) * np.log1p(-p), rtol=1e-10)
        close(d.entropy(), -(p * np.log(p) + (1 - p) * np.log1p(-p)), rtol=1e-10)
        close(d.mean, p, rtol=1e-12)
        close(d.variance, p * (1 - p), rtol=1e-12)
    close(Bernoulli(f64([0.3, 0.5, 0.7])).mode, [0.0, np.nan, 1.0])
    assert Bernoulli(0.5).batch_shape == gg.Size([]) and Bernoulli(0.5).enumerate_support().tolist() == [0.0, 1.0]
    # certain outcomes: log 1 = 0 (up to the clamp at eps), and a sample that is always the certain value
    close(Bernoulli(f64([0.0, 1.0])).log_prob(f64([0.0, 1.0])), [0.0, 0.0], atol=1e-15)
    assert Bernoulli(f64([0.0, 1.0])).sample((3,)).tolist() == [[0.0, 1.0]] * 3


def test_uniform_values(rng):
    low, high = -rng.uniform(0, 1, 3), rng.uniform(1, 2, 3)
    d = Uniform(f64(low), f64(high))
    x = np.array([0.0, 0.5, 0.9])
    close(d.log_prob(f64(x)), -np.log(high - low))
    close(d.cdf(f64(x)), (x - low) / (high - low))
    close(d.icdf(f64([0.0, 0.5, 1.0])), [low[0], (low[1] + high[1]) / 2, high[2]])
    close(d.entropy(), np.log(high - low))
    close(d.mean, (low + high) / 2)
    close(d.variance, (high - low) ** 2 / 12)
    close(d.stddev, (high - low) / math.sqrt(12))
    outside = Uniform(f64(low), f64(high), validate_args=False)
    assert outside.log_prob(f64([-5.0, 5.0, high[2]])).tolist() == [-math.inf] * 3  # (high itself is outside)
    assert bool(d.mode.isnan().all())


def _spd(rng, batch=(), n=3):
    a = rng.standard_normal(batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def _mvn_log_prob(x, mu, cov):
    k = mu.shape[-1]
    diff = x - mu
    maha = np.einsum("...i,...ij,...j->...", diff, np.linalg.inv(cov), diff)
    return -0.5 * (k * math.log(2 * math.pi) + np.linalg.slogdet(cov)[1] + maha)


def test_multivariate_normal_values_in_each_parameterization(rng):
    cov = _spd(rng, (2,))
    loc = rng.standard_normal((2, 3))
    x = rng.standard_normal((5, 2, 3))
    for d in (MultivariateNormal(f64(loc), covariance_matrix=f64(cov)),
              MultivariateNormal(f64(loc), precision_matrix=f64(np.linalg.inv(cov))),
              MultivariateNormal(f64(loc), scale_tril=f64(np.linalg.cholesky(cov)))):
        assert d.batch_shape == gg.Size([2]) and d.event_shape == gg.Size([3])
        close(d.log_prob(f64(x)), _mvn_log_prob(x, loc, cov), rtol=1e-10)
        close(d.entropy(), 0.5 * np.linalg.slogdet(2 * math.pi * math.e * cov)[1], rtol=1e-12)
        close(d.covariance_matrix, cov, rtol=1e-10)
        close(d.precision_matrix, np.linalg.inv(cov), rtol=1e-10, atol=1e-13)
        close(d.scale_tril, np.linalg.cholesky(cov), rtol=1e-10, atol=1e-13)
        assert np.all(np.triu(d.scale_tril.numpy(), 1) == 0)
        close(d.variance, np.diagonal(cov, axis1=-2, axis2=-1), rtol=1e-10)
        close(d.mean, loc)
    # a general solve inverts the flipped factor with some rounding above the diagonal for this precision matrix
    # (seed 26 of a search): cleared, so that the factor is exactly lower triangular and validates as scale_tril
    a = np.random.default_rng(26).standard_normal((3, 3))
    d = MultivariateNormal(f64(np.zeros(3)), precision_matrix=f64(a @ a.T + np.eye(3)))
    assert np.all(np.triu(d.scale_tril.numpy(), 1) == 0)
    MultivariateNormal(f64(np.zeros(3)), scale_tril=d.scale_tril)
    # a loc batch over one covariance: the factor is not copied per batch element
    d = MultivariateNormal(f64(loc), f64(cov[0]))
    assert tuple(d._unbroadcasted_scale_tril.shape) == (3, 3) and tuple(d.covariance_matrix.shape) == (2, 3, 3)
    close(d.log_prob(f64(x)), _mvn_log_prob(x, loc, cov[0]), rtol=1e-10)


def test_independent_sums_the_reinterpreted_dimensions(rng):
    mu, s = rng.standard_normal((2, 3)), rng.uniform(0.5, 2.0, (2, 3))
    x = rng.standard_normal((4, 2, 3))
    base = Normal(f64(mu), f64(s))
    d = Independent(base, 1)
    assert d.batch_shape == gg.Size([2]) and d.event_shape == gg.Size([3]) and d.has_rsample
    close(d.log_prob(f64(x)), base.log_prob(f64(x)).numpy().sum(-1))
    close(d.entropy(), base.entropy().numpy().sum(-1))
    assert Independent(base, 2).event_shape == gg.Size([2, 3]) and Independent(base, 2).log_prob(f64(x)).shape == (4,)
    assert repr(d) == "Independent(Normal(loc: torch.Size([2, 3]), scale: torch.Size([2, 3])), 1)"
    assert isinstance(d.support, constraints._IndependentConstraint)


# -- sampling ---------------------------------------------------------------------------------------------------
def _within(sample_mean, mean, std, n, sigmas=6.0):
    """A sample mean within ``sigmas`` standard errors of the true mean (a chance below 1e-8 of failing)."""
    bound = sigmas * np.asarray(std) / math.sqrt(n)
    assert np.all(np.abs(np.asarray(sample_mean) - np.asarray(mean)) <= bound), (sample_mean, mean, bound)


def test_sample_shapes_and_statistics():
    gg.manual_seed(0)
    n = 100_000
    d = Normal(f64([1.0, -2.0]), f64([0.5, 3.0]))
    x = d.sample((n,))
    assert tuple(x.shape) == (n, 2) and not x.requires_grad
    _within(x.numpy().mean(0), [1.0, -2.0], [0.5, 3.0], n)
    # the sample variance: its standard error is sigma^2 sqrt(2 / n) for a normal sample
    _within(x.numpy().var(0), [0.25, 9.0], np.array([0.25, 9.0]) * math.sqrt(2), n)
    u = Uniform(f64([0.0, 2.0]), f64([1.0, 6.0])).sample((n,)).numpy()
    assert u.min(0)[0] >= 0 and u.max(0)[0] < 1 and u.min(0)[1] >= 2 and u.max(0)[1] < 6
    _within(u.mean(0), [0.5, 4.0], [1 / math.sqrt(12), 4 / math.sqrt(12)], n)
    b = Bernoulli(f64([0.1, 0.5, 0.9])).sample((n,)).numpy()
    assert set(np.unique(b)) <= {0.0, 1.0}
    _within(b.mean(0), [0.1, 0.5, 0.9], np.sqrt([0.09, 0.25, 0.09]), n)
    c = Categorical(f64([[1.0, 2.0, 7.0], [5.0, 0.0, 5.0]])).sample((n,))
    assert tuple(c.shape) == (n, 2) and c.dtype == gg.int64
    for row, probs in zip(c.numpy().T, ([0.1, 0.2, 0.7], [0.5, 0.0, 0.5])):
        counts = np.bincount(row, minlength=3) / n
        _within(counts, probs, np.sqrt(np.multiply(probs, np.subtract(1, probs))), n)
    assert tuple(Categorical(logits=gg.zeros(4, 3)).sample().shape) == (4,)
    assert tuple(Categorical(logits=gg.zeros(4, 3)).sample((2, 5)).shape) == (2, 5, 4)


def test_multivariate_normal_samples_have_its_covariance(rng):
    gg.manual_seed(1)
    n = 200_000
    cov = np.array([[2.0, 0.8], [0.8, 1.0]])
    d = MultivariateNormal(f64([1.0, -1.0]), f64(cov))
    x = d.rsample((n,)).detach().numpy()
    _within(x.mean(0), [1.0, -1.0], np.sqrt(np.diag(cov)), n)
    # each entry of the sample covariance: standard error sqrt((S_ii S_jj + S_ij^2) / n)
    std = np.sqrt(np.outer(np.diag(cov), np.diag(cov)) + cov ** 2)
    _within(np.cov(x.T), cov, std, n)


def test_rsample_gradients_are_the_reparameterizations():
    """d(loc + scale * eps) / d(loc, scale) = (1, eps); d(low + u (high - low)) = (1 - u, u); d(loc + L eps) / dL
    = outer(1, eps) on the lower triangle."""
    gg.manual_seed(2)
    loc, scale = f64([0.5, -1.0]).requires_grad_(), f64([2.0, 0.5]).requires_grad_()
    z = Normal(loc, scale).rsample()
    z.sum().backward()
    eps = ((z - loc) / scale).detach().numpy()
    close(loc.grad, [1.0, 1.0])
    close(scale.grad, eps)
    low, high = f64([0.0]).requires_grad_(), f64([3.0]).requires_grad_()
    v = Uniform(low, high).rsample((4,))
    v.sum().backward()
    u = (v.detach().numpy() - 0.0) / 3.0
    close(low.grad, [(1 - u).sum()])
    close(high.grad, [u.sum()])
    mean = f64([1.0, 2.0]).requires_grad_()
    L = f64([[1.0, 0.0], [0.5, 2.0]]).requires_grad_()
    x = MultivariateNormal(mean, scale_tril=L).rsample()
    (x * f64([1.0, 10.0])).sum().backward()
    e = np.linalg.solve(L.detach().numpy(), x.detach().numpy() - [1.0, 2.0])
    close(mean.grad, [1.0, 10.0])
    close(L.grad, np.outer([1.0, 10.0], e), rtol=1e-10)


# -- gradients of log_prob, entropy (float64 finite differences, eager and compiled, first and second order) ------
GRADIENT_CASES = {
    "normal": (lambda mu, s, x: Normal(mu, s.exp()).log_prob(x).sum() + Normal(mu, s.exp()).entropy().sum(),
               lambda r: [r.standard_normal(3), r.uniform(-0.5, 0.5, 3), r.standard_normal(3)]),
    "categorical logits": (lambda lg: Categorical(logits=lg).log_prob(gg.tensor([[0, 2], [1, 1]])).sum()
                           + Categorical(logits=lg).entropy().sum(), lambda r: [r.standard_normal((2, 3))]),
    "categorical probs": (lambda w: Categorical(probs=w * w + 0.1).log_prob(gg.tensor([2, 0])).sum()
                          + Categorical(probs=w * w + 0.1).entropy().sum(), lambda r: [r.standard_normal((2, 3))]),
    "bernoulli logits": (lambda lg: Bernoulli(logits=lg).log_prob(gg.tensor([0.0, 1.0, 1.0, 0.0], dtype=gg.float64))
                         .sum() + Bernoulli(logits=lg).entropy().sum(), lambda r: [r.standard_normal(4)]),
    "bernoulli probs": (lambda w: Bernoulli(probs=w.sigmoid()).log_prob(gg.tensor([0.0, 1.0, 1.0], dtype=gg.float64))
                        .sum() + Bernoulli(probs=w.sigmoid()).entropy().sum(), lambda r: [r.standard_normal(3)]),
    "uniform": (lambda lo, w, x: Uniform(lo, lo + w.exp()).log_prob(lo + x * w.exp()).sum()
                + Uniform(lo, lo + w.exp()).entropy().sum(),
                lambda r: [r.standard_normal(3), r.uniform(-0.5, 0.5, 3), r.uniform(0.2, 0.8, 3)]),
    "multivariate normal": (lambda loc, a, x: MultivariateNormal(loc, a @ a.mT + 2 * gg.eye(3, dtype=gg.float64))
                            .log_prob(x).sum() + MultivariateNormal(loc, a @ a.mT + 2 * gg.eye(3, dtype=gg.float64))
                            .entropy(), lambda r: [r.standard_normal(3), r.standard_normal((3, 3)),
                                                   r.standard_normal((2, 3))]),
    "multivariate normal precision": (
        lambda loc, a, x: MultivariateNormal(loc, precision_matrix=a @ a.mT + 2 * gg.eye(3, dtype=gg.float64))
        .log_prob(x).sum(), lambda r: [r.standard_normal(3), r.standard_normal((3, 3)), r.standard_normal((2, 3))]),
    "independent": (lambda mu, s, x: Independent(Normal(mu, s.exp()), 1).log_prob(x).sum(),
                    lambda r: [r.standard_normal((2, 3)), r.uniform(-0.5, 0.5, (2, 3)), r.standard_normal((2, 3))]),
}


@pytest.mark.parametrize("name", list(GRADIENT_CASES))
def test_log_prob_and_entropy_gradients(name, check_gradients):
    fn, arrays = GRADIENT_CASES[name]
    check_gradients(fn, arrays(np.random.default_rng(5)))


# -- eager and compiled agree; compiled samples are fresh per call -------------------------------------------------
def _everything(mu, s, logits, cov_factor, x, a):
    n = Normal(mu, s)
    c = Categorical(logits=logits)
    b = Bernoulli(logits=mu)
    u = Uniform(mu - 1, mu + s)
    m = MultivariateNormal(mu, cov_factor @ cov_factor.mT + gg.eye(3, dtype=gg.float64))
    values = [n.log_prob(x), n.entropy(), n.cdf(x), c.log_prob(a), c.entropy(), c.probs, b.log_prob((x > 0).double()),
              b.entropy(), u.log_prob(mu), u.entropy(), m.log_prob(x), m.entropy(), m.precision_matrix,
              Independent(n, 1).log_prob(x)]
    samples = [n.rsample(), n.sample(), c.sample((2,)), b.sample(), u.rsample(), m.rsample()]
    return values, samples


def test_compiled_equals_eager_and_draws_fresh_samples(rng):
    args = [f64(rng.standard_normal(3)), f64(rng.uniform(0.5, 2, 3)), f64(rng.standard_normal((2, 3))),
            f64(rng.standard_normal((3, 3))), f64(rng.standard_normal(3)), gg.tensor([2, 0])]
    compiled = gg.compile(_everything)
    gg.manual_seed(3)
    values, samples = compiled(*args)
    again = compiled(*args)[1]
    gg.manual_seed(3)
    eager_values, eager_samples = _everything(*args)
    for got, want in zip(values, eager_values):
        close(got, want.detach().numpy(), rtol=1e-12, atol=1e-14)
    for got, want in zip(samples, eager_samples):  # the same draws for a seed, in program order
        assert got.tolist() == want.tolist()
    assert samples[0].tolist() != again[0].tolist() and samples[5].tolist() != again[5].tolist()
    assert not any(s.requires_grad for s in samples[1:4])


# -- validation: PyTorch's errors, eagerly and (checked by the generated code) compiled -----------------------------
BAD_ARGUMENTS = [  # (call, PyTorch 2.13's message)
    (lambda: Normal(0.0, -1.0), "Expected parameter scale (Tensor of shape ()) of distribution Normal(loc: 0.0, "
     "scale: -1.0) to satisfy the constraint GreaterThan(lower_bound=0.0), but found invalid values:\n-1.0"),
    (lambda: Normal(gg.zeros(3), gg.tensor([1.0, -1.0, 2.0])), "Expected parameter scale (Tensor of shape (3,)) of "
     "distribution Normal(loc: torch.Size([3]), scale: torch.Size([3])) to satisfy the constraint "
     "GreaterThan(lower_bound=0.0), but found invalid values:\ntensor([ 1., -1.,  2.])"),
    (lambda: Normal(gg.zeros(1), gg.tensor([-1.0])), "Expected parameter scale (Tensor of shape (1,)) of distribution "
     "Normal(loc: tensor([0.]), scale: tensor([-1.])) to satisfy the constraint GreaterThan(lower_bound=0.0), but "
     "found invalid values:\ntensor([-1.])"),
    (lambda: Normal(gg.zeros(3), gg.ones(3)).log_prob(gg.ones(2)),
     "Value is not broadcastable with batch_shape+event_shape: torch.Size([2]) vs torch.Size([3])."),
    (lambda: Normal(gg.zeros(3), gg.ones(3)).log_prob(gg.tensor([1.0, float("nan"), 0.0])),
     "Expected value argument (Tensor of shape (3,)) to be within the support (Real()) of the distribution "
     "Normal(loc: torch.Size([3]), scale: torch.Size([3])), but found invalid values:\ntensor([1., nan, 0.])"),
    (lambda: Normal(gg.zeros(3), gg.ones(3)).log_prob([1.0, 2.0, 3.0]), "The value argument to log_prob must be a "
     "Tensor"),
    (lambda: Categorical(gg.tensor([0.2, 0.8])).log_prob(gg.tensor(2)), "Expected value argument (Tensor of shape ()) "
     "to be within the support (IntegerInterval(lower_bound=0, upper_bound=1)) of the distribution "
     "Categorical(probs: torch.Size([2])), but found invalid values:\n2"),
    (lambda: Categorical(gg.tensor([0.2, -0.8])), "Expected parameter probs (Tensor of shape (2,)) of distribution "
     "Categorical(probs: torch.Size([2])) to satisfy the constraint Simplex(), but found invalid values:\n"
     "tensor([-0.3333,  1.3333])"),
    (lambda: Categorical(gg.tensor(0.2)), "`probs` parameter must be at least one-dimensional."),
    (lambda: Categorical(logits=gg.tensor(0.2)), "`logits` parameter must be at least one-dimensional."),
    (lambda: Categorical(), "Either `probs` or `logits` must be specified, but not both."),
    (lambda: Bernoulli(1.5), "Expected parameter probs (Tensor of shape ()) of distribution Bernoulli(probs: 1.5) to "
     "satisfy the constraint Interval(lower_bound=0.0, upper_bound=1.0), but found invalid values:\n1.5"),
    (lambda: Bernoulli(0.5).log_prob(gg.tensor(0.5)), "Expected value argument (Tensor of shape ()) to be within the "
     "support (Boolean()) of the distribution Bernoulli(probs: 0.5), but found invalid values:\n0.5"),
    (lambda: Uniform(1.0, 0.0), "Expected parameter low (Tensor of shape ()) of distribution Uniform(low: 1.0, high: "
     "0.0) to satisfy the constraint LessThan(upper_bound=0.0), but found invalid values:\n1.0"),
    (lambda: Uniform(0.0, 1.0).log_prob(gg.tensor(2.0)), "Expected value argument (Tensor of shape ()) to be within "
     "the support (Interval(lower_bound=0.0, upper_bound=1.0)) of the distribution Uniform(low: 0.0, high: 1.0), but "
     "found invalid values:\n2.0"),
    (lambda: MultivariateNormal(gg.zeros(2), gg.tensor([[1.0, 2.0], [2.0, 1.0]])), "Expected parameter "
     "covariance_matrix (Tensor of shape (2, 2)) of distribution MultivariateNormal(loc: torch.Size([2]), "
     "covariance_matrix: torch.Size([2, 2])) to satisfy the constraint PositiveDefinite(), but found invalid values:"
     "\ntensor([[1., 2.],\n        [2., 1.]])"),
    (lambda: MultivariateNormal(gg.zeros(2), gg.tensor([[1.0, 2.0], [0.0, 1.0]])), "Expected parameter "
     "covariance_matrix (Tensor of shape (2, 2)) of distribution MultivariateNormal(loc: torch.Size([2]), "
     "covariance_matrix: torch.Size([2, 2])) to satisfy the constraint PositiveDefinite(), but found invalid values:"
     "\ntensor([[1., 2.],\n        [0., 1.]])"),
    (lambda: MultivariateNormal(gg.zeros(2), scale_tril=gg.tensor([[1.0, 0.0], [0.0, -1.0]])), "Expected parameter "
     "scale_tril (Tensor of shape (2, 2)) of distribution MultivariateNormal(loc: torch.Size([2]), scale_tril: "
     "torch.Size([2, 2])) to satisfy the constraint LowerCholesky(), but found invalid values:\n"
     "tensor([[ 1.,  0.],\n        [ 0., -1.]])"),
    (lambda: MultivariateNormal(gg.tensor(0.0), gg.eye(2)), "loc must be at least one-dimensional."),
    (lambda: MultivariateNormal(gg.zeros(2)), "Exactly one of covariance_matrix or precision_matrix or scale_tril may "
     "be specified."),
    (lambda: MultivariateNormal(gg.zeros(2), gg.ones(2)), "covariance_matrix must be at least two-dimensional, with "
     "optional leading batch dimensions"),
    (lambda: Independent(Normal(gg.zeros(3), gg.ones(3)), 2), "Expected reinterpreted_batch_ndims <= "
     "len(base_distribution.batch_shape), actual 2 vs 1"),
    (lambda: Normal(gg.zeros(2), "a"), "Input arguments must all be instances of Number, torch.Tensor or objects "
     "implementing __torch_function__."),
    (lambda: Normal(0.0, 1.0).expand((2,)).log_prob(gg.zeros(3)), "Value is not broadcastable with "
     "batch_shape+event_shape: torch.Size([3]) vs torch.Size([2])."),
]


@pytest.mark.parametrize("call,message", BAD_ARGUMENTS)
def test_bad_arguments_raise_pytorchs_errors(call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()


def test_reprs_are_pytorchs():
    assert repr(Normal(0.0, 1.0)) == "Normal(loc: 0.0, scale: 1.0)"
    assert repr(Normal(gg.zeros(3), 1.0)) == "Normal(loc: torch.Size([3]), scale: torch.Size([3]))"
    assert repr(Categorical(logits=gg.ones(3))) == "Categorical(logits: torch.Size([3]))"
    assert repr(Bernoulli(0.3)) == "Bernoulli(probs: 0.30000001192092896)"
    assert repr(MultivariateNormal(gg.zeros(2), gg.eye(2))) == ("MultivariateNormal(loc: torch.Size([2]), "
                                                               "covariance_matrix: torch.Size([2, 2]))")
    assert repr(Uniform(0.0, 1.0).arg_constraints) == ("{'low': LessThan(upper_bound=1.0), 'high': "
                                                       "GreaterThan(lower_bound=0.0)}")


PARAMETER_CHECKS = [  # (build from a tensor, good value, bad value, the start of PyTorch's message)
    (lambda s: Normal(gg.zeros(2, dtype=gg.float64), s), [1.0, 2.0], [1.0, -2.0], "Expected parameter scale (Tensor "
     "of shape (2,)) of distribution Normal(loc: torch.Size([2]), scale: torch.Size([2])) to satisfy the constraint "
     "GreaterThan(lower_bound=0.0), but found invalid values:\n"),
    (lambda p: Categorical(probs=p), [0.5, 0.5], [0.5, -0.5], "Expected parameter probs (Tensor of shape (2,)) of "
     "distribution Categorical(probs: torch.Size([2])) to satisfy the constraint Simplex(), but found invalid "
     "values:\n"),
    (lambda p: Bernoulli(probs=p), [0.5, 0.5], [0.5, 1.5], "Expected parameter probs (Tensor of shape (2,)) of "
     "distribution Bernoulli(probs: torch.Size([2])) to satisfy the constraint Interval(lower_bound=0.0, "
     "upper_bound=1.0), but found invalid values:\n"),
    (lambda c: MultivariateNormal(gg.zeros(2, dtype=gg.float64), c), [[2.0, 1.0], [1.0, 2.0]],
     [[1.0, 2.0], [2.0, 1.0]], "Expected parameter covariance_matrix (Tensor of shape (2, 2)) of distribution "
     "MultivariateNormal(loc: torch.Size([2]), covariance_matrix: torch.Size([2, 2])) to satisfy the constraint "
     "PositiveDefinite(), but found invalid values:\n"),
]


@pytest.mark.parametrize("build,good,bad,message", PARAMETER_CHECKS)
def test_compiled_functions_check_parameters_at_every_call(build, good, bad, message):
    """The check is in the generated code: a specialization traced on good values still refuses bad ones."""
    f = gg.compile(lambda p: build(p).entropy().sum())
    close(f(f64(good)), build(f64(good)).entropy().sum().item())
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        f(f64(bad))
    assert f.cache_info().specializations == 1
    # without validation, nothing is checked: the values are used as they are (a covariance that is not positive
    # definite fails in its Cholesky factorization, as in PyTorch)
    unchecked = gg.compile(lambda p: build(p).entropy().sum())
    Distribution.set_default_validate_args(False)
    try:
        if "covariance" in message:
            with pytest.raises(np.linalg.LinAlgError):
                unchecked(f64(bad))
        else:
            unchecked(f64(bad))
    finally:
        Distribution.set_default_validate_args(True)


def test_compiled_log_prob_checks_the_support_at_every_call():
    f = gg.compile(lambda lg, a: Categorical(logits=lg).log_prob(a))
    logits = f64([0.0, 1.0, 2.0])
    close(f(logits, gg.tensor([0, 2])), Categorical(logits=logits).log_prob(gg.tensor([0, 2])).numpy())
    with pytest.raises(ValueError, match=re.escape("to be within the support (IntegerInterval(lower_bound=0, "
                                                   "upper_bound=2)) of the distribution Categorical(logits: "
                                                   "torch.Size([3])), but found invalid values:\n")):
        f(logits, gg.tensor([0, 3]))


def test_validate_args_false_and_the_default_switch():
    assert Normal(0.0, -1.0, validate_args=False).scale.item() == -1.0
    Distribution.set_default_validate_args(False)
    try:
        assert Normal(0.0, -1.0).scale.item() == -1.0
        assert math.isnan(Normal(0.0, 1.0).log_prob(gg.tensor(float("nan"))).item())
        with pytest.raises(ValueError):
            Normal(0.0, -1.0, validate_args=True)
    finally:
        Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        Normal(0.0, -1.0)
    with pytest.raises(ValueError):
        Distribution.set_default_validate_args("yes")


def test_expand():
    d = Normal(gg.zeros(2), 1.0).expand((3, 2))
    assert d.batch_shape == gg.Size([3, 2]) and tuple(d.sample().shape) == (3, 2)
    c = Categorical(logits=gg.zeros(2)).expand((4,))
    assert c.batch_shape == gg.Size([4]) and tuple(c.sample((5,)).shape) == (5, 4)
    b = Bernoulli(0.5).expand((3,))
    assert tuple(b.sample().shape) == (3,)
    u = Uniform(0.0, 1.0).expand((2, 2))
    assert tuple(u.log_prob(gg.full((2, 2), 0.5)).shape) == (2, 2)
    m = MultivariateNormal(gg.zeros(2), gg.eye(2)).expand((5,))
    assert m.batch_shape == gg.Size([5]) and tuple(m.rsample().shape) == (5, 2)
    i = Independent(Normal(gg.zeros(3), 1.0), 1).expand((2,))
    assert i.batch_shape == gg.Size([2]) and i.event_shape == gg.Size([3])
    with pytest.raises(RuntimeError, match="The expanded size of the tensor"):
        Normal(gg.zeros(2), 1.0).expand((3,))


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_on_the_device_equals_the_cpu(cupy_device, compiled):
    """Samples are drawn on the host from the one generator: with a seed, the device's equal the CPU's."""
    def f(mu, s, logits):
        n = Normal(mu, s)
        z = n.rsample((2,))
        c = Categorical(logits=logits)
        a = c.sample()
        return z, a, n.log_prob(z).sum() + c.log_prob(a).sum() + c.entropy().sum()

    results = []
    for device in ("cpu", "cuda"):
        gg.manual_seed(8)
        mu = gg.tensor([0.5, -0.5], dtype=gg.float64, device=device, requires_grad=True)
        s = gg.tensor([1.0, 2.0], dtype=gg.float64, device=device)
        logits = gg.tensor([[0.0, 1.0, 2.0], [1.0, 0.0, 0.0]], dtype=gg.float64, device=device)
        z, a, total = (gg.compile(f) if compiled else f)(mu, s, logits)
        total.backward()
        assert z.is_cuda == (device == "cuda") and a.dtype == gg.int64
        results.append((z.detach().cpu().numpy(), a.cpu().tolist(), total.item(), mu.grad.cpu().numpy()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-12)
    assert results[1][1] == results[0][1]
    np.testing.assert_allclose(results[1][2], results[0][2], rtol=1e-12)
    np.testing.assert_allclose(results[1][3], results[0][3], rtol=1e-12)


def test_scale_tril_s_upper_triangle_gets_no_gradient():
    # read as zeros, as PyTorch's solve_triangular: a general solve passed it one, and a step made L non-triangular
    from graphgrad.distributions import MultivariateNormal, kl_divergence

    L = gg.tensor([[1.0, 0.0], [0.5, 2.0]], dtype=gg.float64, requires_grad=True)
    q = MultivariateNormal(gg.zeros(2, dtype=gg.float64), scale_tril=L)
    (q.log_prob(gg.tensor([1.0, 2.0], dtype=gg.float64))
     + kl_divergence(q, MultivariateNormal(gg.ones(2, dtype=gg.float64), scale_tril=gg.eye(2, dtype=gg.float64)))
     ).backward()
    assert L.grad[0, 1].item() == 0.0 and L.grad[1, 0].item() != 0.0
