"""L-BFGS with PyTorch's strong-Wolfe line search: the step it takes satisfies the Wolfe conditions, it minimises
a quadratic and the Rosenbrock function, and it calls the closure no more than max_eval times."""
import numpy as np
import pytest

import graphgrad as gg
from graphgrad.optim.lbfgs import _cubic_interpolate, _strong_wolfe


def test_cubic_interpolation_finds_the_minimum_of_a_cubic():
    f = lambda x: x ** 3 - 3 * x  # minimum at x = 1
    df = lambda x: 3 * x ** 2 - 3
    assert _cubic_interpolate(0.0, f(0.0), df(0.0), 2.0, f(2.0), df(2.0)) == pytest.approx(1.0, rel=1e-12)
    assert _cubic_interpolate(2.0, f(2.0), df(2.0), 0.0, f(0.0), df(0.0)) == pytest.approx(1.0, rel=1e-12)
    assert _cubic_interpolate(0.0, f(0.0), df(0.0), 2.0, f(2.0), df(2.0), bounds=(1.5, 3.0)) == 1.5


@pytest.mark.parametrize("t0", [1e-3, 1.0, 50.0])
def test_strong_wolfe_returns_a_step_meeting_both_conditions(t0):
    # phi(t) = f(x + t d) along d = -grad f(x) for f(x) = sum(x^4) + sum(x^2)
    f = lambda x: float((x ** 4).sum() + (x ** 2).sum())
    grad = lambda x: 4 * x ** 3 + 2 * x
    x = np.array([1.5, -0.5, 2.0])
    d = -grad(x)
    evals = []

    def obj(x0, t, direction):
        evals.append(t)
        point = x0 + t * direction
        return f(point), grad(point)

    f0, g0 = f(x), grad(x)
    gtd = float(g0 @ d)
    loss, g, t, n = _strong_wolfe(obj, x, t0, d, f0, g0, gtd)
    assert n == len(evals) <= 25
    assert loss == f(x + t * d) and np.array_equal(g, grad(x + t * d))
    assert loss <= f0 + 1e-4 * t * gtd  # sufficient decrease
    assert abs(float(g @ d)) <= 0.9 * abs(gtd)  # strong curvature condition


def _rosenbrock_closure(opt, w, calls):
    def closure():
        opt.zero_grad()
        loss = ((1 - w[:-1]) ** 2).sum() + 100 * ((w[1:] - w[:-1] ** 2) ** 2).sum()
        loss.backward()
        calls.append(loss.item())
        return loss
    return closure


def test_lbfgs_with_strong_wolfe_minimises_rosenbrock():
    w = gg.tensor([-1.2, 1.0, -0.5, 0.8], dtype=gg.float64, requires_grad=True)
    opt = gg.optim.LBFGS([w], lr=1, max_iter=200, line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                         tolerance_change=1e-15)
    calls = []
    first = opt.step(_rosenbrock_closure(opt, w, calls))
    assert first.item() == calls[0]
    np.testing.assert_allclose(w.detach().numpy(), np.ones(4), atol=1e-6)
    assert len(calls) == opt.state[w]["func_evals"] <= 200 * 5 // 4


def test_lbfgs_line_search_respects_max_eval_and_names_its_search():
    w = gg.tensor([-1.2, 1.0], dtype=gg.float64, requires_grad=True)
    opt = gg.optim.LBFGS([w], max_iter=10, max_eval=6, line_search_fn="strong_wolfe")
    calls = []
    opt.step(_rosenbrock_closure(opt, w, calls))
    assert len(calls) <= 6  # the search gets what is left of max_eval after the first evaluation
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        gg.optim.LBFGS([w], line_search_fn="backtracking").step(_rosenbrock_closure(opt, w, []))


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_state_dict_is_a_weights_only_file_and_resumes_exactly(line_search_fn, tmp_path):
    def make():
        w = gg.tensor([-1.2, 1.0, 0.5], dtype=gg.float64, requires_grad=True)
        opt = gg.optim.LBFGS([w], max_iter=4, history_size=3, line_search_fn=line_search_fn)
        return w, opt, _rosenbrock_closure(opt, w, [])

    w, opt, closure = make()
    for _ in range(6):
        opt.step(closure)
    resumed_w, resumed, resumed_closure = make()
    w2, opt2, closure2 = make()
    for _ in range(3):
        opt2.step(closure2)
    # the history is kept as tensors, as PyTorch keeps it (torch.load's weights-only unpickler refuses NumPy arrays)
    state = opt2.state_dict()["state"][0]
    history = [state["d"], state["H_diag"], state["prev_flat_grad"], *state["old_dirs"], *state["old_stps"], *state["ro"]]
    assert all(isinstance(v, gg.Tensor) for v in history)
    gg.save(opt2.state_dict(), tmp_path / "lbfgs.pt")
    with gg.no_grad():
        resumed_w.copy_(w2)
    resumed.load_state_dict(gg.load(tmp_path / "lbfgs.pt"))
    for _ in range(3):
        resumed.step(resumed_closure)
    np.testing.assert_array_equal(resumed_w.detach().numpy(), w.detach().numpy())
