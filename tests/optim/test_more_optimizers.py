"""Adamax, NAdam, RAdam, ASGD and Rprop follow PyTorch's update rules (each written out in NumPy below from
PyTorch's documented algorithm and checked step by step in float64), keep PyTorch's state keys, resume from a
state dict, honour ``maximize``, ``weight_decay`` and per-group options, and word bad options as PyTorch does."""
import copy

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.optim as optim

STEPS = 12


def _problem(seed=0):
    """A least-squares problem whose gradient changes (and changes sign) from step to step."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((6, 3)), rng.standard_normal(6), rng.standard_normal(3)


def _grad(a, b, w):
    return 2 * a.T @ (a @ w - b) / len(b)


def _f32(x: float, t: int = 0, f32_steps: int = STEPS) -> float:
    """A value PyTorch keeps in a 0-d float32 state tensor (NAdam's mu_product, ASGD's eta and mu), computed at
    step ``t``; loading a state dict casts those to the parameter's dtype, float64 here, after ``f32_steps``."""
    return float(np.float32(x)) if t <= f32_steps else x


# -- the rules, from PyTorch's documentation (torch.optim.<Name>, "Algorithm") -----------------------------------
def _adamax(w, grads, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False):
    m, u = np.zeros_like(w), np.zeros_like(w)
    for t in range(1, STEPS + 1):
        g = grads(w)
        g = -g if maximize else g
        g = g + weight_decay * w
        m = betas[0] * m + (1 - betas[0]) * g
        u = np.maximum(betas[1] * u, np.abs(g) + eps)
        w = w - lr / (1 - betas[0] ** t) * m / u
    return w


def _nadam(w, grads, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
           decoupled_weight_decay=False, maximize=False, f32_steps=STEPS):
    m, v, mu_product = np.zeros_like(w), np.zeros_like(w), 1.0
    for t in range(1, STEPS + 1):
        g = grads(w)
        g = -g if maximize else g
        if decoupled_weight_decay:
            w = w * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * w
        mu = betas[0] * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = betas[0] * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        mu_product = _f32(mu_product * _f32(mu, t, f32_steps), t, f32_steps)
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        denom = np.sqrt(v / (1 - betas[1] ** t)) + eps
        w = (w - lr * (1 - mu) / (1 - mu_product) * g / denom
             - lr * mu_next / (1 - mu_product * mu_next) * m / denom)
    return w


def _radam(w, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False,
           maximize=False):
    m, v = np.zeros_like(w), np.zeros_like(w)
    rho_inf = 2 / (1 - betas[1]) - 1
    for t in range(1, STEPS + 1):
        g = grads(w)
        g = -g if maximize else g
        if decoupled_weight_decay:
            w = w * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * w
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat = m / (1 - betas[0] ** t)
        rho_t = rho_inf - 2 * t * betas[1] ** t / (1 - betas[1] ** t)
        if rho_t > 5:
            l_t = np.sqrt(1 - betas[1] ** t) / (np.sqrt(v) + eps)
            r_t = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            w = w - lr * m_hat * l_t * r_t
        else:
            w = w - lr * m_hat
    return w


def _asgd(w, grads, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, maximize=False, averages=None,
          f32_steps=STEPS):
    eta, mu, ax = _f32(lr), 1.0, np.zeros_like(w)
    for t in range(1, STEPS + 1):
        g = grads(w)
        g = -g if maximize else g
        g = g + weight_decay * w
        w = w * (1 - lambd * eta) - eta * g
        ax = ax + mu * (w - ax) if mu != 1 else w.copy()
        eta = _f32(lr / (1 + lambd * lr * t) ** alpha, t, f32_steps)
        mu = _f32(1 / max(1, t - t0), t, f32_steps)
    if averages is not None:
        averages.append(ax)
    return w


def _rprop(w, grads, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), maximize=False):
    prev, size = np.zeros_like(w), np.full_like(w, lr)
    for _ in range(STEPS):
        g = grads(w)
        g = -g if maximize else g
        s = np.sign(g * prev)
        size = np.clip(size * np.where(s > 0, etas[1], np.where(s < 0, etas[0], 1.0)), *step_sizes)
        g = np.where(s < 0, 0.0, g)
        w = w - np.sign(g) * size
        prev = g
    return w


RULES = {"Adamax": _adamax, "NAdam": _nadam, "RAdam": _radam, "ASGD": _asgd, "Rprop": _rprop}
CASES = [
    ("Adamax", {}), ("Adamax", dict(lr=0.05, weight_decay=0.1)), ("Adamax", dict(lr=0.05, maximize=True)),
    ("Adamax", dict(lr=0.02, betas=(0.5, 0.9), eps=1e-3)),
    ("NAdam", {}), ("NAdam", dict(lr=0.05, weight_decay=0.1)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.05, maximize=True, momentum_decay=0.1)),
    ("RAdam", {}), ("RAdam", dict(lr=0.05, weight_decay=0.1, betas=(0.9, 0.9))),
    ("RAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.05, maximize=True, betas=(0.8, 0.9))),
    ("ASGD", {}), ("ASGD", dict(lr=0.05, t0=5, lambd=0.01)), ("ASGD", dict(lr=0.05, weight_decay=0.1, t0=3)),
    ("ASGD", dict(lr=0.05, maximize=True, alpha=0.5, t0=4)),
    ("Rprop", {}), ("Rprop", dict(lr=0.05, etas=(0.3, 1.5))), ("Rprop", dict(lr=0.05, step_sizes=(0.01, 0.08))),
    ("Rprop", dict(lr=0.05, maximize=True)),
]


def _train(opt, w, steps, seed=0):
    a, b, _ = _problem(seed)
    ta, tb = gg.tensor(a), gg.tensor(b)
    for _ in range(steps):
        opt.zero_grad()
        ((ta @ w - tb) ** 2).mean().backward()
        opt.step()


def _reference(name, options, seed=0, **more):
    a, b, w0 = _problem(seed)
    return RULES[name](w0, lambda w: _grad(a, b, w), **options, **more)


@pytest.mark.parametrize("name,options", CASES, ids=[f"{n}-{o}" for n, o in CASES])
def test_steps_follow_the_documented_rule(name, options):
    w = gg.tensor(_problem()[2], requires_grad=True)
    opt = getattr(optim, name)([w], **options)
    _train(opt, w, STEPS)
    np.testing.assert_allclose(w.detach().numpy(), _reference(name, options), rtol=1e-12, atol=1e-14)
    assert w.is_leaf and w.grad_fn is None  # updated in place, unrecorded


def test_radam_takes_both_branches_and_asgd_averages():
    # RAdam with b2 = 0.9: rho_t <= 5 for the first steps (plain momentum), then rectified steps
    rho_inf = 2 / (1 - 0.9) - 1
    rhos = [rho_inf - 2 * t * 0.9 ** t / (1 - 0.9 ** t) for t in range(1, STEPS + 1)]
    assert min(rhos) <= 5 < max(rhos)
    # ASGD's average follows the parameter until t0, then averages it
    a, b, w0 = _problem()
    averages = []
    _asgd(w0, lambda w: _grad(a, b, w), lr=0.05, t0=3, averages=averages)
    w = gg.tensor(w0, requires_grad=True)
    opt = optim.ASGD([w], lr=0.05, t0=3)
    _train(opt, w, STEPS)
    np.testing.assert_allclose(opt.state[w]["ax"].numpy(), averages[0], rtol=1e-12)
    assert not np.allclose(averages[0], w.detach().numpy())


@pytest.mark.parametrize("name,keys", [
    ("Adamax", ["step", "exp_avg", "exp_inf"]),
    ("NAdam", ["step", "mu_product", "exp_avg", "exp_avg_sq"]),
    ("RAdam", ["step", "exp_avg", "exp_avg_sq"]),
    ("ASGD", ["step", "eta", "mu", "ax"]),
    ("Rprop", ["step", "prev", "step_size"]),
])
def test_state_dict_round_trip_then_continue(name, keys):
    options = dict(lr=0.05)
    w = gg.tensor(_problem()[2], requires_grad=True)
    opt = getattr(optim, name)([w], **options)
    _train(opt, w, STEPS // 2)
    saved = copy.deepcopy(opt.state_dict())
    assert list(saved["state"][0]) == keys
    assert saved["state"][0]["step"].item() == STEPS // 2
    assert saved["param_groups"][0]["params"] == [0] and saved["param_groups"][0]["lr"] == 0.05
    # a fresh optimizer on a copy of the parameter, loaded, continues as the first would have
    w2 = gg.tensor(w.detach().numpy().copy(), requires_grad=True)
    resumed = getattr(optim, name)([w2], lr=1.0)  # the saved lr replaces this one
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == 0.05
    _train(resumed, w2, STEPS - STEPS // 2)
    # as in PyTorch, loading casts NAdam's and ASGD's 0-d float32 state to the parameter's dtype
    more = dict(f32_steps=STEPS // 2) if name in ("NAdam", "ASGD") else {}
    np.testing.assert_allclose(w2.detach().numpy(), _reference(name, options, **more), rtol=1e-12, atol=1e-14)
    # the loaded state is a copy: stepping the resumed optimizer left the saved dict alone
    assert saved["state"][0]["step"].item() == STEPS // 2


@pytest.mark.parametrize("name", list(RULES))
def test_maximize_climbs_what_minimizing_descends(name):
    # maximize on f steps as minimizing -f does
    a, b, w0 = _problem()
    ta, tb = gg.tensor(a), gg.tensor(b)
    ws = []
    for maximize in (False, True):
        w = gg.tensor(w0, requires_grad=True)
        opt = getattr(optim, name)([w], lr=0.05, maximize=maximize)
        for _ in range(5):
            opt.zero_grad()
            loss = ((ta @ w - tb) ** 2).mean()
            (-loss if maximize else loss).backward()
            opt.step()
        ws.append(w.detach().numpy())
    np.testing.assert_allclose(ws[1], ws[0], rtol=1e-13)
    assert not np.allclose(ws[0], w0)


@pytest.mark.parametrize("name", ["Adamax", "NAdam", "RAdam", "ASGD"])
def test_weight_decay_pulls_toward_zero(name):
    # with a zero gradient, only weight decay moves the parameter: toward 0, every element
    w = gg.tensor([1.0, -2.0, 3.0], dtype=gg.float64, requires_grad=True)
    opt = getattr(optim, name)([w], lr=0.05, weight_decay=0.5)
    for _ in range(3):
        w.grad = gg.zeros(3, dtype=gg.float64)
        opt.step()
    got = w.detach().numpy()
    assert np.all(np.abs(got) < [1.0, 2.0, 3.0]) and np.all(np.sign(got) == [1, -1, 1])
    no_decay = gg.tensor([1.0, -2.0, 3.0], dtype=gg.float64, requires_grad=True)
    opt = getattr(optim, name)([no_decay], lr=0.05, **(dict(lambd=0.0) if name == "ASGD" else {}))
    no_decay.grad = gg.zeros(3, dtype=gg.float64)
    opt.step()
    np.testing.assert_array_equal(no_decay.detach().numpy(), [1.0, -2.0, 3.0])


@pytest.mark.parametrize("name", list(RULES))
def test_param_groups_take_their_own_lr(name):
    a, b, w0 = _problem()
    a2, b2, v0 = _problem(1)
    w = gg.tensor(w0, requires_grad=True)
    v = gg.tensor(v0, requires_grad=True)
    frozen = gg.tensor([1.0, 2.0], requires_grad=True)  # no gradient: untouched, no state
    opt = getattr(optim, name)([{"params": [w]}, {"params": [v, frozen], "lr": 0.01}], lr=0.05)
    ta, tb, ta2, tb2 = gg.tensor(a), gg.tensor(b), gg.tensor(a2), gg.tensor(b2)
    for _ in range(STEPS):
        opt.zero_grad()
        (((ta @ w - tb) ** 2).mean() + ((ta2 @ v - tb2) ** 2).mean()).backward()
        opt.step()
    np.testing.assert_allclose(w.detach().numpy(), _reference(name, dict(lr=0.05)), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(v.detach().numpy(), _reference(name, dict(lr=0.01), seed=1), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(frozen.detach().numpy(), [1.0, 2.0])
    assert frozen not in opt.state and [g["lr"] for g in opt.param_groups] == [0.05, 0.01]


def test_defaults_are_pytorch_s():
    w = [gg.zeros(1, requires_grad=True)]
    assert optim.Adamax(w).defaults == dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None,
                                            maximize=False, differentiable=False, capturable=False)
    assert optim.NAdam(w).defaults == dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                                           momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False,
                                           foreach=None, capturable=False, differentiable=False)
    assert optim.RAdam(w).defaults == dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, maximize=False,
                                           foreach=None, capturable=False, decoupled_weight_decay=False,
                                           differentiable=False)
    assert optim.ASGD(w).defaults == dict(lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
                                          maximize=False, differentiable=False, capturable=False)
    assert optim.Rprop(w).defaults == dict(lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), foreach=None,
                                           maximize=False, differentiable=False, capturable=False)


@pytest.mark.parametrize("name,options,message", [
    ("Adamax", dict(lr=-1.0), "Invalid learning rate: -1.0"),
    ("Adamax", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    ("Adamax", dict(betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
    ("Adamax", dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    ("Adamax", dict(weight_decay=-1), "Invalid weight_decay value: -1"),
    ("NAdam", dict(momentum_decay=-1.0), "Invalid momentum_decay value: -1.0"),
    ("NAdam", dict(lr=-1, eps=-1), "Invalid learning rate: -1"),
    ("RAdam", dict(weight_decay=-0.5), "Invalid weight_decay value: -0.5"),
    ("RAdam", dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    ("ASGD", dict(lr=-0.1), "Invalid learning rate: -0.1"),
    ("ASGD", dict(weight_decay=-2), "Invalid weight_decay value: -2"),
    ("Rprop", dict(lr=-1), "Invalid learning rate: -1"),
    ("Rprop", dict(etas=(0.5, 1.0)), "Invalid eta values: 0.5, 1.0"),
    ("Rprop", dict(etas=(0.0, 1.2)), "Invalid eta values: 0.0, 1.2"),
])
def test_bad_options_are_worded_as_pytorch(name, options, message):
    with pytest.raises(ValueError) as info:
        getattr(optim, name)([gg.zeros(2, requires_grad=True)], **options)
    assert str(info.value) == message


@pytest.mark.parametrize("name", list(RULES))
def test_parameters_on_the_device_update_in_place_as_on_the_cpu(cupy_device, name):
    results = []
    for device in ("cpu", "cuda"):
        w = gg.tensor(_problem()[2], requires_grad=True)
        opt = getattr(optim, name)([w], lr=0.05)  # made before the move, as PyTorch code often does
        w.data = w.data.to(device)
        buffer = w.detach()
        a, b, _ = _problem()
        ta, tb = gg.tensor(a, device=device), gg.tensor(b, device=device)
        for _ in range(STEPS):
            opt.zero_grad()
            ((ta @ w - tb) ** 2).mean().backward()
            opt.step()
        assert w.is_cuda == (device == "cuda") and all(
            v.is_cuda == (device == "cuda") for v in opt.state[w].values() if v.numel() > 1)
        results.append(w.detach().cpu().numpy())
        np.testing.assert_array_equal(buffer.cpu().numpy(), results[-1])  # the same storage, updated in place
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12)
    np.testing.assert_allclose(results[0], _reference(name, dict(lr=0.05)), rtol=1e-12, atol=1e-14)
