"""kl_divergence: each registered pair against its closed form (written here from the textbook definitions),
against E_p[log p - log q] where that expectation is a finite sum (from the distributions' own log_prob), its
gradients against finite differences (eager and compiled, first and second order), dispatch and its errors."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.distributions import (Bernoulli, Categorical, Independent, MultivariateNormal, Normal, Uniform,
                                     kl_divergence, register_kl)


def f64(a):
    return gg.tensor(np.asarray(a, dtype=np.float64), dtype=gg.float64)


def close(got, expected, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=rtol, atol=atol)


def test_normal_normal(rng):
    m1, m2 = rng.standard_normal(4), rng.standard_normal(4)
    s1, s2 = rng.uniform(0.5, 2, 4), rng.uniform(0.5, 2, 4)
    expected = np.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - 0.5
    close(kl_divergence(Normal(f64(m1), f64(s1)), Normal(f64(m2), f64(s2))), expected)
    # against the standard normal, numbers broadcast (a VAE's prior)
    close(kl_divergence(Normal(f64(m1), f64(s1)), Normal(0.0, 1.0)), 0.5 * (s1 ** 2 + m1 ** 2 - 1) - np.log(s1))


def test_categorical_categorical_with_zero_probabilities(rng):
    p = rng.uniform(0.1, 1, (3, 4))
    q = rng.uniform(0.1, 1, (3, 4))
    p[0, 1] = 0.0  # p never draws it: its term is 0
    q[1, 2] = 0.0  # q never draws what p can: infinite
    p, q = p / p.sum(-1, keepdims=True), q / q.sum(-1, keepdims=True)
    terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / np.where(q > 0, q, 1.0)), 0.0)
    expected = np.where((q == 0).any(-1) & (p > 0).any(-1), np.inf, terms.sum(-1))
    got = kl_divergence(Categorical(f64(p)), Categorical(f64(q)))
    assert got[1].item() == math.inf
    close(got[[0, 2]], expected[[0, 2]])
    # a class p rules out by a logit of -inf: 0 * -inf would be nan, the term is 0
    got = kl_divergence(Categorical(logits=f64([-math.inf, 0.0, 0.0])), Categorical(logits=f64([0.0, 0.0, 0.0])))
    assert got.item() == pytest.approx(math.log(1.5), rel=1e-15)
    # E_p[log p(x) - log q(x)], summed over the classes, from log_prob
    p_dist, q_dist = Categorical(logits=f64(np.log(p[2]))), Categorical(logits=f64(np.log(q[2])))
    classes = gg.arange(4)
    expectation = (p_dist.probs * (p_dist.log_prob(classes) - q_dist.log_prob(classes))).sum()
    close(kl_divergence(p_dist, q_dist), expectation.item())


def test_bernoulli_bernoulli(rng):
    p, q = rng.uniform(0.05, 0.95, 5), rng.uniform(0.05, 0.95, 5)
    expected = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    close(kl_divergence(Bernoulli(f64(p)), Bernoulli(logits=f64(np.log(q / (1 - q))))), expected, rtol=1e-10)
    # certain distributions: 0 against itself, inf where q rules out what p draws
    got = kl_divergence(Bernoulli(f64([0.0, 1.0, 1.0, 0.0])), Bernoulli(f64([0.0, 1.0, 0.0, 1.0])))
    assert got.tolist() == [0.0, 0.0, math.inf, math.inf]


def test_uniform_uniform():
    got = kl_divergence(Uniform(f64([0.0, 0.0]), f64([1.0, 1.0])), Uniform(f64([-1.0, 0.5]), f64([3.0, 2.0])))
    assert got[0].item() == pytest.approx(math.log(4.0), rel=1e-15) and got[1].item() == math.inf


def test_multivariate_normal_multivariate_normal(rng):
    def spd(batch=()):
        a = rng.standard_normal(batch + (3, 3))
        return a @ np.swapaxes(a, -1, -2) + 3 * np.eye(3)

    c1, c2 = spd((2,)), spd()
    m1, m2 = rng.standard_normal((2, 3)), rng.standard_normal(3)
    inv2 = np.linalg.inv(c2)
    diff = m2 - m1
    expected = 0.5 * (np.trace(inv2 @ c1, axis1=-2, axis2=-1) + np.einsum("...i,ij,...j->...", diff, inv2, diff) - 3
                      + np.linalg.slogdet(c2)[1] - np.linalg.slogdet(c1)[1])
    p = MultivariateNormal(f64(m1), f64(c1))
    for q in (MultivariateNormal(f64(m2), f64(c2)), MultivariateNormal(f64(m2), precision_matrix=f64(inv2)),
              MultivariateNormal(f64(m2), scale_tril=f64(np.linalg.cholesky(c2)))):
        close(kl_divergence(p, q), expected, rtol=1e-10)
    # a diagonal one equals the sum of the Normal-Normal divergences of its coordinates
    s1, s2 = rng.uniform(0.5, 2, 3), rng.uniform(0.5, 2, 3)
    mvn = kl_divergence(MultivariateNormal(f64(m1[0]), f64(np.diag(s1 ** 2))),
                        MultivariateNormal(f64(m2), scale_tril=f64(np.diag(s2))))
    normals = kl_divergence(Independent(Normal(f64(m1[0]), f64(s1)), 1), Independent(Normal(f64(m2), f64(s2)), 1))
    close(mvn, normals.item(), rtol=1e-12)
    with pytest.raises(ValueError, match="^KL-divergence between two Multivariate Normals with {26}different event "
                                         "shapes cannot be computed$"):
        kl_divergence(MultivariateNormal(gg.zeros(2), gg.eye(2)), MultivariateNormal(gg.zeros(3), gg.eye(3)))


def test_normal_and_uniform_cross_pairs(rng):
    low, high = -rng.uniform(0, 1, 3), rng.uniform(1, 2, 3)
    mu, s = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    # KL(U || N) = -H(U) - E_U[log N] = -log(h - l) + log(s sqrt(2 pi)) + E_U[(x - mu)^2] / (2 s^2)
    second_moment = (high - low) ** 2 / 12 + ((high + low) / 2 - mu) ** 2
    expected = -np.log(high - low) + np.log(s * math.sqrt(2 * math.pi)) + second_moment / (2 * s ** 2)
    close(kl_divergence(Uniform(f64(low), f64(high)), Normal(f64(mu), f64(s))), expected, rtol=1e-12)
    assert kl_divergence(Normal(f64(mu), f64(s)), Uniform(f64(low), f64(high))).tolist() == [math.inf] * 3


KL_GRADIENTS = {
    "normal": (lambda m1, a, m2, b: kl_divergence(Normal(m1, a.exp()), Normal(m2, b.exp())).sum(),
               lambda r: [r.standard_normal(3), r.uniform(-0.5, 0.5, 3), r.standard_normal(3), r.uniform(-0.5, 0.5, 3)]),
    "categorical": (lambda a, b: kl_divergence(Categorical(logits=a), Categorical(probs=b * b + 0.1)).sum(),
                    lambda r: [r.standard_normal((2, 3)), r.standard_normal((2, 3))]),
    "bernoulli": (lambda a, b: kl_divergence(Bernoulli(logits=a), Bernoulli(probs=b.sigmoid())).sum(),
                  lambda r: [r.standard_normal(3), r.standard_normal(3)]),
    "multivariate normal": (
        lambda m1, a, m2, b: kl_divergence(MultivariateNormal(m1, a @ a.mT + 2 * gg.eye(2, dtype=gg.float64)),
                                           MultivariateNormal(m2, b @ b.mT + 2 * gg.eye(2, dtype=gg.float64))),
        lambda r: [r.standard_normal(2), r.standard_normal((2, 2)), r.standard_normal(2), r.standard_normal((2, 2))]),
    "independent": (lambda m1, a: kl_divergence(Independent(Normal(m1, a.exp()), 1),
                                                Independent(Normal(0.0, 1.0).expand((3,)), 1)),
                    lambda r: [r.standard_normal(3), r.uniform(-0.5, 0.5, 3)]),
}


@pytest.mark.parametrize("name", list(KL_GRADIENTS))
def test_kl_gradients(name, check_gradients):
    fn, arrays = KL_GRADIENTS[name]
    check_gradients(fn, arrays(np.random.default_rng(6)))


def test_unregistered_pairs_and_registration():
    with pytest.raises(NotImplementedError, match=re.escape("No KL(p || q) is implemented for p type Normal and q "
                                                            "type Categorical")):
        kl_divergence(Normal(0.0, 1.0), Categorical(gg.ones(2)))

    class Shifted(Normal):
        pass

    # a subclass finds its parent's pair, until a more specific one is registered
    close(kl_divergence(Shifted(f64(1.0), 1.0), Normal(0.0, 1.0)), 0.5)

    @register_kl(Shifted, Normal)
    def _kl_shifted(p, q):
        return p.loc * 0 + 42.0

    assert kl_divergence(Shifted(f64(1.0), 1.0), Normal(0.0, 1.0)).item() == 42.0
    assert kl_divergence(Normal(f64(1.0), 1.0), Normal(0.0, 1.0)).item() == pytest.approx(0.5)
