"""Transforms: per-example gradients (vmap of grad vs a Python loop vs torch.func) and the Hessian of a
100-parameter function (hessian vs NumPy by hand vs jax.hessian).

    python benchmarks/bench_transforms.py
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import best_times, optional_torch, parse, row  # noqa: E402

import graphgrad as gg  # noqa: E402


# -- per-example gradients of a one-hidden-layer regression model ------------------------------------

def loss(w1, b1, w2, x, y):
    """Squared error of one example: x one input, y one target."""
    h = (x @ w1 + b1).tanh()
    return ((h @ w2 - y) ** 2).sum()


def per_example_by_hand(p, X, Y):
    """The same gradients by hand, vectorized over examples by broadcasting."""
    h = np.tanh(X @ p["w1"] + p["b1"])
    r = 2 * (h @ p["w2"] - Y)                               # (n, out)
    g_w2 = h[:, :, None] * r[:, None, :]
    d = (r @ p["w2"].T) * (1 - h * h)                       # (n, hidden)
    return {"w1": X[:, :, None] * d[:, None, :], "b1": d, "w2": g_w2}


def bench_per_example(quick: bool) -> None:
    n, d, hidden, out = (16, 8, 16, 2) if quick else (256, 32, 64, 4)
    rng = np.random.default_rng(0)
    params = {"w1": rng.standard_normal((d, hidden)) / np.sqrt(d), "b1": np.zeros(hidden),
              "w2": rng.standard_normal((hidden, out)) / np.sqrt(hidden)}
    X, Y = rng.standard_normal((n, d)), rng.standard_normal((n, out))
    w1, b1, w2 = params["w1"], params["b1"], params["w2"]
    vmapped = gg.vmap(gg.grad(loss, argnums=(0, 1, 2)), in_axes=(None, None, None, 0, 0))
    one = gg.grad(loss, argnums=(0, 1, 2))

    def loop():
        return [one(w1, b1, w2, x, y) for x, y in zip(X, Y)]

    expected = per_example_by_hand(params, X, Y)
    got = vmapped(w1, b1, w2, X, Y)
    looped = loop()
    for i, k in enumerate(("w1", "b1", "w2")):
        np.testing.assert_allclose(got[i], expected[k], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.stack([g[i] for g in looped]), expected[k], rtol=1e-10, atol=1e-12)
    candidates = {"NumPy by hand (broadcasting)": lambda: per_example_by_hand(params, X, Y),
                  "graphgrad vmap(grad)": lambda: vmapped(w1, b1, w2, X, Y),
                  "graphgrad grad, Python loop": loop}
    torch = optional_torch()
    if torch is not None and hasattr(torch, "func"):
        tp = {k: torch.tensor(v) for k, v in params.items()}
        tX, tY = torch.tensor(X), torch.tensor(Y)

        def tloss(p, x, y):
            h = torch.tanh(x @ p["w1"] + p["b1"])
            return ((h @ p["w2"] - y) ** 2).sum()

        tgrad = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0, 0))
        np.testing.assert_allclose(tgrad(tp, tX, tY)["w1"].numpy(), expected["w1"], rtol=1e-8)
        candidates[f"PyTorch {torch.__version__} func.vmap(grad)"] = lambda: tgrad(tp, tX, tY)
    times = best_times(candidates, 3 if quick else 20)
    base = times["NumPy by hand (broadcasting)"]
    print(f"per-example gradients: {n} examples, MLP {d}-{hidden}-{out} in float64 (min of runs)")
    print(f"  {'':<34} {'time':>13}   {'vs NumPy':>7}")
    for label, seconds in times.items():
        print(row(label, seconds, base))


# -- the Hessian of a 100-parameter function ----------------------------------------------------------

def logistic_loss(w, X, y):
    """Logistic regression's negative log-likelihood with an L2 term."""
    z = X @ w
    return ((1 + (-y * z).exp()).log()).sum() + 0.5 * (w * w).sum()


def hessian_by_hand(w, X, y):
    z = X @ w
    s = 1 / (1 + np.exp(-y * z))
    return (X.T * (s * (1 - s))) @ X + np.eye(w.size)


def bench_hessian(quick: bool) -> None:
    n, p = (64, 20) if quick else (500, 100)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, p))
    y = np.sign(rng.standard_normal(n))
    w = rng.standard_normal(p) * 0.1
    hess = gg.hessian(logistic_loss)
    np.testing.assert_allclose(hess(w, X, y), hessian_by_hand(w, X, y), rtol=1e-9, atol=1e-9)
    candidates = {"NumPy by hand": lambda: hessian_by_hand(w, X, y),
                  "graphgrad hessian": lambda: hess(w, X, y)}
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        jloss = lambda w, X, y: jnp.sum(jnp.log1p(jnp.exp(-y * (X @ w)))) + 0.5 * jnp.sum(w * w)  # noqa: E731
        jhess = jax.jit(jax.hessian(jloss))
        np.testing.assert_allclose(np.asarray(jhess(w, X, y)), hessian_by_hand(w, X, y), rtol=1e-8)
        candidates[f"JAX {jax.__version__} jit(hessian)"] = lambda: jhess(w, X, y).block_until_ready()
    except ImportError:
        pass
    times = best_times(candidates, 3 if quick else 20)
    base = times["NumPy by hand"]
    print(f"Hessian of a {p}-parameter logistic loss over {n} examples, float64 (min of runs)")
    print(f"  {'':<34} {'time':>13}   {'vs NumPy':>7}")
    for label, seconds in times.items():
        print(row(label, seconds, base))


def main() -> None:
    args = parse(__doc__.splitlines()[0])
    bench_per_example(args.quick)
    bench_hessian(args.quick)


if __name__ == "__main__":
    main()
