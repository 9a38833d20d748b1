"""Gaussian-process regression in plain NumPy style: the negative log marginal likelihood of an RBF kernel,
differentiated and compiled by changing one import (``import graphgrad.numpy as np``), then fitted by gradient
descent on its log hyperparameters.

Run: ``python -m graphgrad.examples.gp``.
"""
import numpy

import graphgrad as gg
import graphgrad.numpy as np


def negative_log_marginal_likelihood(params, x, y):
    """``0.5 y^T K^-1 y + 0.5 log det K + n/2 log 2 pi`` for ``K = s^2 exp(-|x - x'|^2 / (2 l^2)) + noise^2 I``;
    ``params`` holds the logs of (s, l, noise)."""
    log_scale, log_length, log_noise = params[0], params[1], params[2]
    sq_dist = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    k = np.exp(2 * log_scale) * np.exp(-0.5 * sq_dist / np.exp(2 * log_length)) \
        + np.exp(2 * log_noise) * np.eye(x.shape[0])
    chol = np.linalg.cholesky(k)
    alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, y))
    n = x.shape[0]
    return 0.5 * np.dot(y, alpha) + np.sum(np.log(np.diagonal(chol))) + 0.5 * n * numpy.log(2 * numpy.pi)


def make_data(n: int = 40, seed: int = 0):
    rng = numpy.random.default_rng(seed)
    x = numpy.sort(rng.uniform(-3.0, 3.0, (n, 1)), axis=0)
    y = numpy.sin(2.0 * x[:, 0]) + 0.1 * rng.standard_normal(n)
    return x, y


def fit(steps: int = 200, lr: float = 0.01, seed: int = 0):
    """Gradient descent on the log hyperparameters; returns them and the loss before and after."""
    x, y = make_data(seed=seed)
    params = numpy.zeros(3)
    value_and_grad = gg.value_and_grad(negative_log_marginal_likelihood)
    first = None
    for _ in range(steps):
        value, g = value_and_grad(params, x, y)
        first = value if first is None else first
        params = params - lr * g
    return params, float(first), float(negative_log_marginal_likelihood(params, x, y))


if __name__ == "__main__":
    params, before, after = fit()
    print(f"NLML {before:.3f} -> {after:.3f}; scale, length, noise = {numpy.exp(params).round(3)}")
