"""Optimizers follow PyTorch's update formulas (checked against a NumPy reimplementation of each, step by
step, in float64), its parameter-group rules and its error texts."""
import copy
import re

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn
import graphgrad.optim as optim


def _problem(seed=0):
    """A least-squares problem whose gradient changes every step."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((6, 3)), rng.standard_normal(6)
    w0 = rng.standard_normal(3)
    return a, b, w0


def _grad(a, b, w):
    return 2 * a.T @ (a @ w - b) / len(b)


def _run(make_optimizer, steps=6):
    a, b, w0 = _problem()
    w = gg.tensor(w0, requires_grad=True)
    opt = make_optimizer([w])
    ta, tb = gg.tensor(a), gg.tensor(b)
    for _ in range(steps):
        opt.zero_grad()
        ((ta @ w - tb) ** 2).mean().backward()
        opt.step()
    return w.detach().numpy()


def _numpy_sgd(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False, steps=6):
    a, b, w = _problem()
    buf = None
    for _ in range(steps):
        d = _grad(a, b, w)
        d = -d if maximize else d
        d = d + weight_decay * w
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        w = w - lr * d
    return w


def _numpy_adam(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False, steps=6):
    a, b, w = _problem()
    m = v = vmax = np.zeros_like(w)
    for t in range(1, steps + 1):
        g = _grad(a, b, w)
        if decoupled:
            w = w * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * w
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        vmax = np.maximum(vmax, v)
        second = vmax if amsgrad else v
        w = w - lr / (1 - betas[0] ** t) * m / (np.sqrt(second) / np.sqrt(1 - betas[1] ** t) + eps)
    return w


@pytest.mark.parametrize("options", [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.05, momentum=0.5, weight_decay=0.1),
    dict(lr=0.05, momentum=0.5, maximize=True),
])
def test_sgd_matches_pytorch_formula(options):
    np.testing.assert_allclose(_run(lambda p: optim.SGD(p, **options)), _numpy_sgd(**options), rtol=1e-12)


@pytest.mark.parametrize("options", [
    dict(lr=0.1),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, amsgrad=True),
])
def test_adam_matches_pytorch_formula(options):
    np.testing.assert_allclose(_run(lambda p: optim.Adam(p, **options)), _numpy_adam(**options), rtol=1e-12)


def test_adamw_decouples_weight_decay():
    got = _run(lambda p: optim.AdamW(p, lr=0.05, weight_decay=0.1))
    np.testing.assert_allclose(got, _numpy_adam(lr=0.05, weight_decay=0.1, decoupled=True), rtol=1e-12)
    assert not np.allclose(got, _numpy_adam(lr=0.05, weight_decay=0.1))
    decoupled = _run(lambda p: optim.Adam(p, lr=0.05, weight_decay=0.1, decoupled_weight_decay=True))
    np.testing.assert_allclose(decoupled, got, rtol=1e-15)


@pytest.mark.parametrize("make, flags", [
    (lambda p, **kw: optim.SGD(p, lr=0.05, momentum=0.9, **kw), ("foreach", "fused")),
    (lambda p, **kw: optim.Adam(p, lr=0.05, amsgrad=True, **kw), ("foreach", "capturable", "fused")),
    (lambda p, **kw: optim.AdamW(p, lr=0.05, **kw), ("foreach", "capturable", "fused")),
    (lambda p, **kw: optim.RMSprop(p, lr=0.01, centered=True, **kw), ("foreach", "capturable")),
    (lambda p, **kw: optim.Adagrad(p, lr=0.1, **kw), ("foreach", "fused")),
    (lambda p, **kw: optim.Adadelta(p, **kw), ("foreach", "capturable")),
])
def test_implementation_flags_are_accepted_and_change_nothing(make, flags):
    plain = _run(make)
    for flag in flags:  # PyTorch's foreach/fused/capturable kernels compute the same update
        np.testing.assert_array_equal(_run(lambda p: make(p, **{flag: True})), plain)
        assert make([gg.zeros(1, requires_grad=True)], **{flag: True}).param_groups[0][flag] is True
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        make([gg.zeros(1, requires_grad=True)], differentiable=True)


def test_parameter_groups_take_their_own_options():
    a, b = gg.tensor([1.0], requires_grad=True), gg.tensor([1.0], requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1)
    (a + b).sum().backward()
    opt.step()
    assert a.tolist() == [pytest.approx(0.9)] and b.tolist() == [pytest.approx(0.5)]
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]


def test_the_optimizer_keeps_the_group_dicts_it_was_given():
    a, b = gg.tensor([1.0], requires_grad=True), gg.tensor([1.0], requires_grad=True)
    groups = [{"params": [a]}, {"params": b, "lr": 0.5}]
    opt = optim.SGD(groups, lr=0.1)
    extra = {"params": [gg.tensor([1.0], requires_grad=True)]}
    opt.add_param_group(extra)
    assert opt.param_groups[0] is groups[0] and opt.param_groups[2] is extra  # as PyTorch: no copies
    assert groups[0]["lr"] == 0.1 and groups[1]["params"] == [b]  # defaults filled in, params listed
    groups[1]["lr"] = 2.0  # so a change made through the caller's dict reaches the update
    (a + b).sum().backward()
    opt.step()
    assert b.tolist() == [pytest.approx(1.0 - 2.0)]


def test_named_parameters_and_retained_non_leaves_can_be_optimized():
    model = nn.Linear(2, 1)
    opt = optim.Adam(model.named_parameters(), lr=0.1)
    assert opt.param_groups[0]["params"] == [model.weight, model.bias]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]
    with pytest.raises(ValueError, match="cannot add param group without names to the optimizer"):
        opt.add_param_group({"params": [gg.zeros(1, requires_grad=True)]})
    with pytest.raises(ValueError, match="Some param names are missing"):
        optim.SGD([("w", model.weight), model.bias], lr=0.1)
    x = gg.ones(2, requires_grad=True)
    y = x * 2
    y.retain_grad()
    (y * y).sum().backward()
    optim.SGD([y], lr=0.25).step()  # PyTorch optimizes a non-leaf that retains its gradient
    assert y.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([x * 2], lr=0.1)


def test_a_custom_optimizer_written_the_pytorch_way_runs():
    class SignDescent(optim.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, dict(lr=lr))

        @gg.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    state = self.state[p]  # PyTorch's state is a defaultdict(dict)
                    if len(state) == 0:
                        state["steps"] = 0
                    state["steps"] += 1
                    p.add_(p.grad.sign(), alpha=-group["lr"] / state["steps"])

    w = gg.tensor([1.0, -2.0], requires_grad=True)
    opt = SignDescent([w])
    for _ in range(3):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
    assert w.tolist() == pytest.approx([1.0 - 0.1 * (1 + 1 / 2 + 1 / 3), -2.0 + 0.1 * (1 + 1 / 2 + 1 / 3)])
    resumed = SignDescent([w])
    resumed.load_state_dict(opt.state_dict())
    assert resumed.state[w] == {"steps": 3} and resumed.state[gg.zeros(1)] == {}


def test_step_updates_in_place_and_advances_versions():
    w = gg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    version = w._version
    opt.step()
    assert w._version > version and w.is_leaf and w.grad_fn is None and w.requires_grad


def test_parameters_without_grad_are_left_alone():
    w, unused = gg.tensor([1.0], requires_grad=True), gg.tensor([5.0], requires_grad=True)
    opt = optim.Adam([w, unused], lr=0.1)
    (w * 2).sum().backward()
    opt.step()
    assert unused.tolist() == [5.0] and unused not in opt.state


def test_zero_grad_defaults_to_none():
    w = gg.tensor([1.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * 3).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert w.grad.tolist() == [0.0]
    opt.zero_grad()
    assert w.grad is None


def test_closure_is_evaluated_with_grad_enabled():
    w = gg.tensor([2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with gg.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 4.0 and w.tolist() == [1.0]


def test_state_dict_round_trip_resumes_exactly():
    uninterrupted = _run(lambda p: optim.Adam(p, lr=0.1), steps=6)
    a, b, w0 = _problem()
    ta, tb = gg.tensor(a), gg.tensor(b)
    w = gg.tensor(w0, requires_grad=True)
    opt = optim.Adam([w], lr=0.1)

    def step(opt, w):
        opt.zero_grad()
        ((ta @ w - tb) ** 2).mean().backward()
        opt.step()

    for _ in range(3):
        step(opt, w)
    saved, saved_w = copy.deepcopy(opt.state_dict()), w.detach().clone()
    w2 = gg.tensor(saved_w.numpy(), requires_grad=True)
    resumed = optim.Adam([w2], lr=0.1)
    resumed.load_state_dict(saved)
    for _ in range(3):
        step(resumed, w2)
    np.testing.assert_allclose(w2.detach().numpy(), uninterrupted, rtol=1e-12)
    with pytest.raises(ValueError, match="loaded state dict has a different number of parameter groups"):
        resumed.load_state_dict({"state": {}, "param_groups": []})


def test_fine_tuning_trains_only_the_new_head():
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    for p in model.parameters():
        p.requires_grad = False
    model[2] = nn.Linear(8, 2)
    body = [p.detach().clone() for p in model[0].parameters()]
    head = [p.detach().clone() for p in model[2].parameters()]
    opt = optim.SGD(model[2].parameters(), lr=0.1, momentum=0.9)
    x, y = gg.randn(16, 4), gg.randint(0, 2, (16,))
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert all(p.grad is None for p in model[0].parameters())
    for before, p in zip(body, model[0].parameters()):
        np.testing.assert_array_equal(before.numpy(), p.detach().numpy())
    assert all(not np.array_equal(b.numpy(), p.detach().numpy()) for b, p in zip(head, model[2].parameters()))


def test_repr_lists_groups_as_pytorch():
    opt = optim.SGD([gg.ones(1, requires_grad=True)], lr=0.01, momentum=0.9)
    assert repr(opt) == ("SGD (\nParameter Group 0\n    dampening: 0\n    differentiable: False\n    foreach: None\n"
                         "    fused: None\n    lr: 0.01\n    maximize: False\n    momentum: 0.9\n    nesterov: False\n"
                         "    weight_decay: 0\n)")


def test_errors_are_pytorch_s():
    p = gg.ones(2, requires_grad=True)
    cases = [
        (lambda: optim.SGD([p], lr=-1), ValueError, "Invalid learning rate: -1"),
        (lambda: optim.SGD([p], lr=0.1, momentum=-0.5), ValueError, "Invalid momentum value: -0.5"),
        (lambda: optim.SGD([p], lr=0.1, weight_decay=-1), ValueError, "Invalid weight_decay value: -1"),
        (lambda: optim.SGD([p], lr=0.1, nesterov=True), ValueError,
         "Nesterov momentum requires a momentum and zero dampening"),
        (lambda: optim.Adam([p], betas=(1.0, 0.9)), ValueError, "Invalid beta parameter at index 0: 1.0"),
        (lambda: optim.Adam([p], eps=-1), ValueError, "Invalid epsilon value: -1"),
        (lambda: optim.SGD([], lr=0.1), ValueError, "optimizer got an empty parameter list"),
        (lambda: optim.SGD(p, lr=0.1), TypeError, "params argument given to the optimizer should be an iterable of "
                                                  "Tensors or dicts, but got torch.FloatTensor"),
        (lambda: optim.SGD([p * 2], lr=0.1), ValueError, "can't optimize a non-leaf Tensor"),
        (lambda: optim.SGD([p, p], lr=0.1), ValueError, "some parameters appear in more than one parameter group"),
        (lambda: optim.SGD([1.0], lr=0.1), TypeError, "optimizer can only optimize Tensors, but one of the params "
                                                      "is float"),
    ]
    for make, error, text in cases:
        with pytest.raises(error, match=re.escape(text)):
            make()


def _numpy_rmsprop(lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, steps=6):
    a, b, w = _problem()
    v = np.zeros_like(w)
    mean = np.zeros_like(w)
    buf = np.zeros_like(w)
    for _ in range(steps):
        g = _grad(a, b, w) + weight_decay * w
        v = alpha * v + (1 - alpha) * g * g
        if centered:
            mean = alpha * mean + (1 - alpha) * g
            avg = np.sqrt(v - mean * mean) + eps
        else:
            avg = np.sqrt(v) + eps
        if momentum:
            buf = momentum * buf + g / avg
            w = w - lr * buf
        else:
            w = w - lr * g / avg
    return w


def _numpy_adagrad(lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10, steps=6):
    a, b, w = _problem()
    total = np.full_like(w, initial_accumulator_value)
    for t in range(1, steps + 1):
        g = _grad(a, b, w) + weight_decay * w
        total = total + g * g
        w = w - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(total) + eps)
    return w


@pytest.mark.parametrize("options", [
    dict(lr=0.01), dict(lr=0.01, alpha=0.9, momentum=0.5), dict(lr=0.01, centered=True, weight_decay=0.1),
])
def test_rmsprop_matches_pytorch_formula(options):
    np.testing.assert_allclose(_run(lambda p: optim.RMSprop(p, **options)), _numpy_rmsprop(**options), rtol=1e-12)


@pytest.mark.parametrize("options", [dict(lr=0.1), dict(lr=0.1, lr_decay=0.5, initial_accumulator_value=0.2,
                                                      weight_decay=0.01)])
def test_adagrad_matches_pytorch_formula(options):
    np.testing.assert_allclose(_run(lambda p: optim.Adagrad(p, **options)), _numpy_adagrad(**options), rtol=1e-12)
    with pytest.raises(ValueError, match="Invalid lr_decay value: -1"):
        optim.Adagrad([gg.ones(1, requires_grad=True)], lr_decay=-1)


def test_every_optimizer_words_bad_options_as_pytorch():
    p = [gg.ones(1, requires_grad=True)]
    for make, text in ((lambda: optim.RMSprop(p, eps=-1), "Invalid epsilon value: -1"),
                       (lambda: optim.RMSprop(p, alpha=-1), "Invalid alpha value: -1"),
                       (lambda: optim.Adagrad(p, lr=-1), "Invalid learning rate: -1"),
                       (lambda: optim.Adam(p, weight_decay=-1), "Invalid weight_decay value: -1")):
        with pytest.raises(ValueError, match=re.escape(text)):
            make()


# -- state["step"]: a 0-d float tensor, as PyTorch 2.13's ---------------------------------------------------------
def _stepped(name, **options):
    w = gg.tensor([1.0, -2.0], dtype=gg.float64, requires_grad=True)
    opt = getattr(optim, name)([w], **options)
    for _ in range(2):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
    return w, opt


@pytest.mark.parametrize("name, options", [
    ("RMSprop", {}), ("RMSprop", dict(centered=True, momentum=0.9)), ("Adagrad", dict(lr_decay=0.5)),
    ("Adadelta", {}), ("Adam", {}), ("AdamW", {}), ("Adamax", {}), ("ASGD", {}), ("NAdam", {}), ("RAdam", {}),
    ("Rprop", {}),
])
def test_state_step_is_a_0d_float32_tensor_in_the_state_dict_and_after_loading(name, options):
    # PyTorch 2.13: state_dict()['state'][0]['step'] is tensor(2.) (float32, 0-d) for a float64 parameter, and
    # load_state_dict keeps it float32 (the other state is cast to the parameter's dtype)
    w, opt = _stepped(name, **options)
    step = opt.state_dict()["state"][0]["step"]
    assert isinstance(step, gg.Tensor) and step.dtype == gg.float32 and step.shape == () and step.item() == 2.0
    w2 = gg.tensor([1.0, -2.0], dtype=gg.float64, requires_grad=True)
    resumed = getattr(optim, name)([w2], **options)
    resumed.load_state_dict(copy.deepcopy(opt.state_dict()))
    loaded = resumed.state[w2]["step"]
    assert isinstance(loaded, gg.Tensor) and loaded.dtype == gg.float32 and loaded.item() == 2.0


def test_state_step_follows_a_float64_default_dtype():
    previous = gg.get_default_dtype()
    gg.set_default_dtype(gg.float64)
    try:
        for name in ("RMSprop", "Adagrad", "Adadelta"):
            assert _stepped(name)[1].state_dict()["state"][0]["step"].dtype == gg.float64
    finally:
        gg.set_default_dtype(previous)


def test_adagrad_makes_its_state_when_made_as_pytorchs():
    # PyTorch 2.13: Adagrad's state exists before any step (step 0, the sum at initial_accumulator_value); a group
    # added later gets its state at its first step
    w = gg.tensor([1.0, 2.0], dtype=gg.float64, requires_grad=True)
    opt = optim.Adagrad([w], initial_accumulator_value=0.5)
    state = opt.state_dict()["state"][0]
    assert state["step"].dtype == gg.float32 and state["step"].item() == 0.0
    assert state["sum"].dtype == gg.float64 and state["sum"].tolist() == [0.5, 0.5]
    opt.add_param_group({"params": [gg.ones(1, requires_grad=True)]})
    assert len(opt.state) == 1


def test_a_saved_integer_step_loads_as_a_tensor_and_training_continues():
    # state dicts saved by graphgrad before the step was a tensor (RMSprop, Adagrad, Adadelta kept an int), as
    # PyTorch's __setstate__ converts older ones
    for name in ("RMSprop", "Adagrad", "Adadelta"):
        options = dict(lr_decay=0.5) if name == "Adagrad" else {}  # (Adagrad's rate reads the step)
        w, opt = _stepped(name, **options)
        saved = copy.deepcopy(opt.state_dict())
        saved["state"][0]["step"] = 2
        w2 = gg.tensor(w.detach().numpy().copy(), requires_grad=True)
        resumed = getattr(optim, name)([w2], **options)
        resumed.load_state_dict(saved)
        assert resumed.state[w2]["step"].dtype == gg.float32 and resumed.state[w2]["step"].item() == 2.0
        w.grad = None
        for o, t in ((opt, w), (resumed, w2)):
            (t * t).sum().backward()
            o.step()
        np.testing.assert_array_equal(w2.detach().numpy(), w.detach().numpy())
