"""Gamma, Beta and Dirichlet: values against closed forms (densities from math.lgamma; digamma as the central
difference of math.lgamma; entropies and KL divergences against numerical integration of the densities), the
sampler's statistics (fixed seeds, 6-sigma bounds), gradients against finite differences (eager and compiled, first
and second order), compiled sampling, and PyTorch's messages (PyTorch 2.13's, for the same calls)."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.distributions import Beta, Dirichlet, Gamma, kl_divergence

lgamma = np.vectorize(math.lgamma)


def digamma(x, h=1e-5):
    """d/dx lgamma(x), central difference: an error near 1e-10 for the arguments used here."""
    return (lgamma(np.asarray(x) + h) - lgamma(np.asarray(x) - h)) / (2 * h)


def f64(a):
    return gg.tensor(np.asarray(a, dtype=np.float64), dtype=gg.float64)


def close(got, expected, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=rtol, atol=atol)


def integrate(f, lo, hi, n=400_001):
    x = np.linspace(lo, hi, n)
    return np.trapezoid(f(x), x)


def gamma_pdf(x, a, r):
    return np.exp(a * np.log(r) + (a - 1) * np.log(x) - r * x - math.lgamma(a))


def beta_pdf(x, a, b):
    return np.exp((a - 1) * np.log(x) + (b - 1) * np.log1p(-x) + math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b))


def test_gamma_values(rng):
    a, r = rng.uniform(0.5, 3, 4), rng.uniform(0.5, 3, 4)
    x = rng.uniform(0.1, 3, (2, 4))
    d = Gamma(f64(a), f64(r))
    close(d.log_prob(f64(x)), a * np.log(r) + (a - 1) * np.log(x) - r * x - lgamma(a))
    close(d.entropy(), a - np.log(r) + lgamma(a) + (1 - a) * digamma(a), rtol=1e-8)
    close(d.mean, a / r)
    close(d.variance, a / r ** 2)
    close(d.mode, np.maximum((a - 1) / r, 0))
    # the entropy is -E[log p]: against the integral, for one smooth density
    a0, r0 = 2.5, 1.5
    h = -integrate(lambda t: gamma_pdf(t, a0, r0) * np.log(gamma_pdf(t, a0, r0)), 1e-9, 40.0)
    close(Gamma(f64(a0), f64(r0)).entropy(), h, rtol=1e-8)
    # log_prob of a number, and at 0 (xlogy: 0 when a = 1, +inf below, -inf above)
    close(Gamma(2.0, 2.0).log_prob(0.5), 2 * math.log(2) + math.log(0.5) - 1.0 - math.lgamma(2.0), rtol=1e-6)
    assert Gamma(f64([0.5, 1.0, 2.0]), 1.0).log_prob(f64([0.0, 0.0, 0.0])).tolist() == [math.inf, 0.0, -math.inf]


def test_beta_and_dirichlet_values(rng):
    a, b = rng.uniform(0.5, 3, 4), rng.uniform(0.5, 3, 4)
    x = rng.uniform(0.05, 0.95, (2, 4))
    d = Beta(f64(a), f64(b))
    assert d.batch_shape == gg.Size([4]) and d.event_shape == gg.Size([])
    logb = lgamma(a) + lgamma(b) - lgamma(a + b)
    close(d.log_prob(f64(x)), (a - 1) * np.log(x) + (b - 1) * np.log1p(-x) - logb, rtol=1e-10)
    expected_h = logb - (a - 1) * digamma(a) - (b - 1) * digamma(b) + (a + b - 2) * digamma(a + b)
    close(d.entropy(), expected_h, rtol=1e-7, atol=1e-9)
    close(d.mean, a / (a + b))
    close(d.variance, a * b / ((a + b) ** 2 * (a + b + 1)))
    close(Beta(f64(3.0), f64(2.0)).mode, 2.0 / 3.0)
    a0, b0 = 2.5, 3.5
    h = -integrate(lambda t: beta_pdf(t, a0, b0) * np.log(beta_pdf(t, a0, b0)), 1e-9, 1 - 1e-9)
    close(Beta(f64(a0), f64(b0)).entropy(), h, rtol=1e-8)
    # a Dirichlet over three classes
    alpha = rng.uniform(0.5, 3, (2, 3))
    v = rng.dirichlet([1.0, 2.0, 3.0], 2)
    dd = Dirichlet(f64(alpha))
    assert dd.batch_shape == gg.Size([2]) and dd.event_shape == gg.Size([3])
    expected = ((alpha - 1) * np.log(v)).sum(-1) + lgamma(alpha.sum(-1)) - lgamma(alpha).sum(-1)
    close(dd.log_prob(f64(v)), expected, rtol=1e-10)
    a0 = alpha.sum(-1)
    expected_h = (lgamma(alpha).sum(-1) - lgamma(a0) - (3 - a0) * digamma(a0)
                  - ((alpha - 1) * digamma(alpha)).sum(-1))
    close(dd.entropy(), expected_h, rtol=1e-7)
    close(dd.mean, alpha / alpha.sum(-1, keepdims=True))
    close(Dirichlet(f64([2.0, 3.0, 1.0])).mode, [1 / 3, 2 / 3, 0.0])
    close(Dirichlet(f64([0.5, 0.3, 0.9])).mode, [1.0, 0.0, 0.0])  # (PyTorch's answer where all are below 1)
    # Beta is the two-class Dirichlet
    close(Dirichlet(f64(np.stack([a, b], -1))).log_prob(f64(np.stack([x[0], 1 - x[0]], -1))), d.log_prob(f64(x[0]))
          .numpy())


def test_kl_divergences_against_integrals():
    p, q = (2.5, 1.5), (1.5, 0.7)
    kl = integrate(lambda t: gamma_pdf(t, *p) * (np.log(gamma_pdf(t, *p)) - np.log(gamma_pdf(t, *q))), 1e-9, 40.0)
    close(kl_divergence(Gamma(f64(p[0]), f64(p[1])), Gamma(f64(q[0]), f64(q[1]))), kl, rtol=1e-7)
    p, q = (2.5, 3.5), (1.5, 1.2)
    kl = integrate(lambda t: beta_pdf(t, *p) * (np.log(beta_pdf(t, *p)) - np.log(beta_pdf(t, *q))), 1e-9, 1 - 1e-9)
    close(kl_divergence(Beta(f64(p[0]), f64(p[1])), Beta(f64(q[0]), f64(q[1]))), kl, rtol=1e-7)
    close(kl_divergence(Dirichlet(f64(p)), Dirichlet(f64(q))), kl, rtol=1e-7)  # (the same pair, as Dirichlets)


def test_samplers_follow_their_distributions():
    gg.manual_seed(0)
    n = 200_000
    for a in (0.05, 0.3, 1.0, 2.5, 10.0):  # below 1 the boost; 1 and above Marsaglia and Tsang's method alone
        x = Gamma(f64(a), f64(2.0)).sample((n,)).numpy()
        assert x.min() > 0
        assert abs(x.mean() - a / 2) <= 6 * math.sqrt(a) / 2 / math.sqrt(n), (a, x.mean())
        logs = np.log(x)  # E[log X] = digamma(a) - log(rate): the shape of the small values too
        assert abs(logs.mean() - (digamma(a) - math.log(2))) <= 6 * logs.std() / math.sqrt(n), (a, logs.mean())
    b = Beta(f64([0.5, 2.0, 0.05]), f64([0.5, 5.0, 0.05])).sample((n,)).numpy()
    assert b.min() >= 0 and b.max() <= 1
    mean, var = np.array([0.5, 2 / 7, 0.5]), np.array([1 / 8, 10 / (49 * 8), 0.0025 / (0.01 * 1.1)])
    assert np.all(np.abs(b.mean(0) - mean) <= 6 * np.sqrt(var / n)), b.mean(0)
    d = Dirichlet(f64([1.0, 2.0, 3.0])).sample((n,)).numpy()
    np.testing.assert_allclose(d.sum(-1), 1.0, rtol=1e-12)
    alpha = np.array([1.0, 2.0, 3.0])
    var = alpha * (6 - alpha) / (36 * 7)
    assert np.all(np.abs(d.mean(0) - alpha / 6) <= 6 * np.sqrt(var / n))
    assert tuple(Gamma(gg.ones(2, 3), 1.0).sample((4,)).shape) == (4, 2, 3)
    assert not Gamma(gg.ones(2, requires_grad=True), 1.0).sample().requires_grad


def test_compiled_sampling_is_fresh_and_equals_eager():
    f = gg.compile(lambda a, b: (Gamma(a, b).sample((3,)), Beta(a, b).sample(), Dirichlet(a).sample((2,))))
    a, b = f64([0.5, 2.0]), f64([1.0, 3.0])
    gg.manual_seed(4)
    first, second = f(a, b), f(a, b)
    gg.manual_seed(4)
    eager = f.fn(a, b)
    for got, want in zip(first, eager):
        assert got.tolist() == want.tolist()
    assert first[0].tolist() != second[0].tolist()


def test_no_rsample():
    for d in (Gamma(1.0, 1.0), Beta(1.0, 1.0), Dirichlet(gg.ones(2))):
        assert not d.has_rsample
        with pytest.raises(NotImplementedError, match=f"^{type(d).__name__}.rsample: graphgrad has no "
                                                      "reparameterized gamma sampler"):
            d.rsample()


GRADIENTS = {
    "gamma": (lambda a, r, x: Gamma(a.exp(), r.exp()).log_prob(x.exp()).sum() + Gamma(a.exp(), r.exp()).entropy().sum()
              + kl_divergence(Gamma(a.exp(), r.exp()), Gamma(r.exp(), a.exp())).sum(),
              lambda g: [g.uniform(-0.5, 1, 3), g.uniform(-0.5, 1, 3), g.uniform(-1, 1, 3)]),
    "beta": (lambda a, b, x: Beta(a.exp(), b.exp()).log_prob(x.sigmoid()).sum() + Beta(a.exp(), b.exp()).entropy().sum()
             + kl_divergence(Beta(a.exp(), b.exp()), Beta(b.exp(), a.exp())).sum(),
             lambda g: [g.uniform(-0.5, 1, 3), g.uniform(-0.5, 1, 3), g.uniform(-1, 1, 3)]),
    "dirichlet": (lambda a, x: Dirichlet(a.exp()).log_prob(x.softmax(-1)).sum() + Dirichlet(a.exp()).entropy().sum()
                  + kl_divergence(Dirichlet(a.exp()), Dirichlet(a.flip(-1).exp())).sum(),
                  lambda g: [g.uniform(-0.5, 1, (2, 3)), g.standard_normal((2, 3))]),
}


@pytest.mark.parametrize("name", list(GRADIENTS))
def test_gradients(name, check_gradients):
    fn, arrays = GRADIENTS[name]
    check_gradients(fn, arrays(np.random.default_rng(9)))


@pytest.mark.parametrize("call,message", [
    (lambda: Beta(1.0, -1.0), "Expected parameter concentration (Tensor of shape (2,)) of distribution "
     "Dirichlet(concentration: torch.Size([2])) to satisfy the constraint IndependentConstraint(GreaterThan("
     "lower_bound=0.0), 1), but found invalid values:\ntensor([ 1., -1.])"),
    (lambda: Gamma(1.0, -1.0), "Expected parameter rate (Tensor of shape ()) of distribution Gamma(concentration: "
     "1.0, rate: -1.0) to satisfy the constraint GreaterThan(lower_bound=0.0), but found invalid values:\n-1.0"),
    (lambda: Dirichlet(gg.tensor(1.0)), "`concentration` parameter must be at least one-dimensional."),
    (lambda: Beta(2.0, 2.0).log_prob(gg.tensor(1.5)), "Expected value argument (Tensor of shape ()) to be within the "
     "support (Interval(lower_bound=0.0, upper_bound=1.0)) of the distribution Beta(), but found invalid values:\n"
     "1.5"),
    (lambda: Gamma(2.0, 2.0).log_prob(-1.5), "Expected value argument (Tensor of shape ()) to be within the support "
     "(GreaterThanEq(lower_bound=0.0)) of the distribution Gamma(concentration: 2.0, rate: 2.0), but found invalid "
     "values:\n-1.5"),
    (lambda: Dirichlet(gg.tensor([1.0, 2.0])).log_prob(gg.tensor([0.5, 0.6])), "Expected value argument (Tensor of "
     "shape (2,)) to be within the support (Simplex()) of the distribution Dirichlet(concentration: "
     "torch.Size([2])), but found invalid values:\ntensor([0.5000, 0.6000])"),
])
def test_pytorchs_messages(call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_on_the_device_draws_the_cpus_samples(cupy_device, compiled):
    def f(a, b):
        return Gamma(a, b).sample((2,)), Beta(a, b).sample(), Gamma(a, b).log_prob(a)

    results = []
    for device in ("cpu", "cuda"):
        gg.manual_seed(10)
        a = gg.tensor([0.5, 2.0], dtype=gg.float64, device=device)
        b = gg.tensor([1.0, 3.0], dtype=gg.float64, device=device)
        out = (gg.compile(f) if compiled else f)(a, b)
        assert all(t.is_cuda == (device == "cuda") for t in out)
        results.append([t.cpu().numpy() for t in out])
    for got, want in zip(results[1], results[0]):
        np.testing.assert_allclose(got, want, rtol=1e-12)
