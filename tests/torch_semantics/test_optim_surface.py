"""Issue 13 §6: Adadelta, LBFGS (closure form), ReduceLROnPlateau and OneCycleLR against their formulas."""
import math

import numpy as np
import pytest

import graphgrad as torch


def test_adadelta_follows_its_update_formula():
    w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adadelta([w], lr=0.5, rho=0.8, eps=1e-6, weight_decay=0.1)
    p, v, u = w.detach().numpy().copy(), np.zeros(2), np.zeros(2)
    for _ in range(3):
        opt.zero_grad()
        (w ** 3).sum().backward()
        opt.step()
        g = 3 * p ** 2 + 0.1 * p
        v = 0.8 * v + 0.2 * g * g
        delta = np.sqrt(u + 1e-6) / np.sqrt(v + 1e-6) * g
        u = 0.8 * u + 0.2 * delta * delta
        p = p - 0.5 * delta
    assert np.allclose(w.detach().numpy(), p, rtol=1e-12)


def test_lbfgs_closure_form_minimises_a_quadratic():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(4, 4))
    a, b = m @ m.T + 4 * np.eye(4), rng.normal(size=4)
    A, B = torch.tensor(a), torch.tensor(b)
    w = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=1, max_iter=50, tolerance_grad=1e-10, tolerance_change=1e-14)
    calls = []

    def closure():
        opt.zero_grad()
        loss = 0.5 * (w @ (A @ w)) - B @ w
        loss.backward()
        calls.append(loss.item())
        return loss

    first = opt.step(closure)
    assert first.item() == calls[0] == 0.0
    assert np.allclose(w.detach().numpy(), np.linalg.solve(a, b), atol=1e-6)
    assert len(calls) <= 50 * 5 // 4 and opt.state[w]["func_evals"] == len(calls)
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        torch.optim.LBFGS([{"params": [w]}, {"params": [torch.zeros(1, requires_grad=True)]}])


def test_reduce_lr_on_plateau_rules():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2, cooldown=1,
                                                          min_lr=0.2)
    lrs = []
    for metric in [5.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 3.0]:
        schedule.step(metric)
        lrs.append(schedule.get_last_lr()[0])
    # improvement resets; 3 bad epochs (> patience 2) halve; 1 cooldown epoch counts as good; min_lr floors
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25]
    schedule.step(3.0)
    schedule.step(3.0)
    schedule.step(3.0)
    assert schedule.get_last_lr() == [0.2]
    up = torch.optim.lr_scheduler.ReduceLROnPlateau(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0),
                                                    mode="max", patience=0, threshold=0.1, threshold_mode="abs")
    up.step(1.0)
    up.step(1.05)  # not better by more than 0.1
    assert up.get_last_lr() == [0.1]


def test_one_cycle_lr_closed_form_and_momentum():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    total, max_lr = 10, 1.0
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total)
    initial, final = max_lr / 25, max_lr / 25 / 1e4

    def cos(start, end, pct):
        return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)

    expected, momenta = [], []
    for step in range(total):
        if step <= 2:  # pct_start 0.3 of 10 steps: the rise ends at step 2
            expected.append(cos(initial, max_lr, step / 2))
            momenta.append(cos(0.95, 0.85, step / 2))
        else:
            expected.append(cos(max_lr, final, (step - 2) / 7))
            momenta.append(cos(0.85, 0.95, (step - 2) / 7))
    got, got_momenta = [schedule.get_last_lr()[0]], [opt.param_groups[0]["momentum"]]
    for _ in range(total - 1):
        opt.step()
        schedule.step()
        got.append(schedule.get_last_lr()[0])
        got_momenta.append(opt.param_groups[0]["momentum"])
    assert np.allclose(got, expected, rtol=1e-12) and np.allclose(got_momenta, momenta, rtol=1e-12)
    schedule.step()
    with pytest.raises(ValueError, match="^Tried to step 11 times. The specified number of total steps is 10$"):
        schedule.step()
    adam = torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    torch.optim.lr_scheduler.OneCycleLR(adam, max_lr=0.01, epochs=2, steps_per_epoch=5)
    assert adam.param_groups[0]["betas"] == (0.95, 0.999)
