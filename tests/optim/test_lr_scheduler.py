"""Learning-rate schedules follow PyTorch's rules (checked against their closed forms) and drive the optimizer."""
import math

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.optim import lr_scheduler


def _optimizer(lr=0.1, groups=1):
    return gg.optim.SGD([{"params": [gg.zeros(1, requires_grad=True)], "lr": lr * (i + 1)} for i in range(groups)],
                        lr=lr)


def _run(schedule, epochs):
    rates = []
    for _ in range(epochs):
        rates.append(schedule.get_last_lr())
        schedule.optimizer.step()
        schedule.step()
    return np.array(rates)


#: (scheduler maker, its lr at epoch e as a closed form of the base lr)
CLOSED_FORMS = [
    (lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.5), lambda base, e: base * 0.5 ** (e // 3)),
    (lambda o: lr_scheduler.MultiStepLR(o, milestones=[2, 5, 5], gamma=0.1),
     lambda base, e: base * 0.1 ** ((e >= 2) + 2 * (e >= 5))),
    (lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9), lambda base, e: base * 0.9 ** e),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=6, eta_min=0.01),
     lambda base, e: 0.01 + (base - 0.01) * (1 + math.cos(math.pi * e / 6)) / 2),
    (lambda o: lr_scheduler.LambdaLR(o, lambda e: 1 / (1 + e)), lambda base, e: base / (1 + e)),
]


@pytest.mark.parametrize("make, closed", CLOSED_FORMS)
def test_schedules_match_their_closed_forms_for_every_group(make, closed):
    opt = _optimizer(groups=2)
    rates = _run(make(opt), 12)
    expected = np.array([[closed(base, e) for base in (0.1, 0.2)] for e in range(12)])
    np.testing.assert_allclose(rates, expected, rtol=1e-9, atol=1e-12)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([closed(b, 12) for b in (0.1, 0.2)])


def test_the_optimizer_steps_with_the_scheduled_rate():
    w = gg.tensor([1.0], requires_grad=True)
    opt = gg.optim.SGD([w], lr=1.0)
    schedule = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        opt.zero_grad()
        w.sum().backward()  # gradient 1: each step moves w by the current lr
        opt.step()
        schedule.step()
    assert w.item() == pytest.approx(1.0 - (1.0 + 0.5 + 0.25))


def test_state_dict_resumes_the_schedule():
    schedule = lr_scheduler.ExponentialLR(_optimizer(), gamma=0.5)
    _run(schedule, 3)
    resumed = lr_scheduler.ExponentialLR(_optimizer(lr=0.1 * 0.5 ** 3), gamma=0.5)
    resumed.load_state_dict(schedule.state_dict())
    assert resumed.last_epoch == 3
    np.testing.assert_allclose(_run(resumed, 2)[:, 0], [0.1 * 0.5 ** 3, 0.1 * 0.5 ** 4])


def test_errors():
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        lr_scheduler.StepLR([], step_size=1)
    with pytest.raises(KeyError, match=r"param 'initial_lr' is not specified in param_groups\[0\] when resuming"):
        lr_scheduler.StepLR(_optimizer(), step_size=1, last_epoch=4)


def test_plateau_reduces_a_group_added_after_it_was_made():
    opt = _optimizer()
    schedule = lr_scheduler.ReduceLROnPlateau(opt, patience=0, min_lr=0.001)
    opt.add_param_group({"params": [gg.zeros(1, requires_grad=True)], "lr": 1.0})
    for loss in [1.0, 2.0, 3.0]:  # the 2nd and 3rd are bad epochs: each multiplies every lr by 0.1
        schedule.step(loss)
    assert schedule.get_last_lr() == pytest.approx([0.001, 0.01])
    opt = _optimizer()
    schedule = lr_scheduler.ReduceLROnPlateau(opt, patience=0, min_lr=[0.001])
    opt.add_param_group({"params": [gg.zeros(1, requires_grad=True)], "lr": 1.0})
    schedule.step(1.0)
    with pytest.raises(RuntimeError, match=r"number of param groups in the `optimizer` \(2\) differs"):
        schedule.step(2.0)


@pytest.mark.parametrize("make, closed", CLOSED_FORMS)
def test_step_with_an_epoch_jumps_there_through_the_closed_form(make, closed):
    opt = _optimizer(groups=2)
    schedule = make(opt)
    for epoch in [4, 1, 7, 7, 0]:
        with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)` was not necessary"):
            schedule.step(epoch)
        assert schedule.last_epoch == epoch
        assert schedule.get_last_lr() == pytest.approx([closed(b, epoch) for b in (0.1, 0.2)], rel=1e-12)


def test_plateau_step_takes_an_epoch():
    schedule = lr_scheduler.ReduceLROnPlateau(_optimizer(), patience=0)
    with pytest.warns(UserWarning, match="The epoch parameter"):
        schedule.step(1.0, epoch=5)
    assert schedule.last_epoch == 5


class _Decay:
    """A callable object: its attributes are saved in the scheduler's state dict (functions are not)."""

    def __init__(self, rate):
        self.rate = rate

    def __call__(self, epoch):
        return self.rate ** epoch


def test_lambda_state_dict_holds_callable_objects_state_as_pytorch():
    schedule = lr_scheduler.LambdaLR(_optimizer(groups=2), [_Decay(0.5), lambda e: 1.0])
    state = schedule.state_dict()
    assert state["lr_lambdas"] == [{"rate": 0.5}, None]
    resumed = lr_scheduler.LambdaLR(_optimizer(groups=2), [_Decay(0.9), lambda e: 2.0])
    resumed.load_state_dict(state)  # None keeps the resumed scheduler's own function
    resumed.step()
    assert resumed.get_last_lr() == pytest.approx([0.1 * 0.5, 0.2 * 2.0])
    multiplicative = lr_scheduler.MultiplicativeLR(_optimizer(), lambda e: 0.5)
    assert multiplicative.state_dict()["lr_lambdas"] == [None]
    multiplicative.load_state_dict(multiplicative.state_dict())
    multiplicative.step()
    assert multiplicative.get_last_lr() == pytest.approx([0.05])


def _restart_cosine(base, e, eta_min=0.01):
    start, length = 0, 2  # T_0 = 2, T_mult = 2: cycles [0, 2), [2, 6), [6, 14), ...
    while e >= start + length:
        start, length = start + length, 2 * length
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * (e - start) / length)) / 2


def _triangle(e, up=3, down=5):
    x = e % (up + down)
    return x / up if x <= up else (up + down - x) / down


@pytest.mark.parametrize("make, closed", [
    (lambda o: lr_scheduler.MultiplicativeLR(o, lambda e: 0.9), lambda base, e: base * 0.9 ** e),
    (lambda o: lr_scheduler.LinearLR(o, start_factor=0.25, end_factor=0.75, total_iters=4),
     lambda base, e: base * (0.25 + 0.5 * min(e, 4) / 4)),
    (lambda o: lr_scheduler.ConstantLR(o, factor=0.5, total_iters=3), lambda base, e: base * (0.5 if e < 3 else 1.0)),
    (lambda o: lr_scheduler.PolynomialLR(o, total_iters=6, power=2.0), lambda base, e: base * (1 - min(e, 6) / 6) ** 2),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2, eta_min=0.01), _restart_cosine),
    (lambda o: lr_scheduler.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=[0.1, 0.2], step_size_up=3, step_size_down=5),
     lambda base, e: base / 10 + (base - base / 10) * _triangle(e)),
    (lambda o: lr_scheduler.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=[0.1, 0.2], step_size_up=3, step_size_down=5,
                                     mode="triangular2"),
     lambda base, e: base / 10 + (base - base / 10) * _triangle(e) / 2 ** (e // 8)),
    (lambda o: lr_scheduler.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=[0.1, 0.2], step_size_up=3, step_size_down=5,
                                     mode="exp_range", gamma=0.9),
     lambda base, e: base / 10 + (base - base / 10) * _triangle(e) * 0.9 ** e),
])
def test_more_schedules_match_their_closed_forms(make, closed):
    opt = gg.optim.SGD([{"params": [gg.zeros(1, requires_grad=True)], "lr": lr} for lr in (0.1, 0.2)], lr=0.1,
                       momentum=0.9)
    rates = _run(make(opt), 20)
    expected = np.array([[closed(base, e) for base in (0.1, 0.2)] for e in range(20)])
    np.testing.assert_allclose(rates, expected, rtol=1e-9, atol=1e-12)


def test_cyclic_lr_cycles_momentum_and_adam_s_beta1_against_the_rate():
    w = gg.zeros(1, requires_grad=True)
    for opt, read in [(gg.optim.SGD([w], lr=0.1, momentum=0.9), lambda g: g["momentum"]),
                      (gg.optim.Adam([w], lr=0.1), lambda g: g["betas"][0])]:
        schedule = lr_scheduler.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=4, base_momentum=0.8,
                                         max_momentum=0.9)
        for e in range(12):
            assert read(opt.param_groups[0]) == pytest.approx(0.9 - 0.1 * _triangle(e, 4, 4))
            opt.step()
            schedule.step()
        assert opt.param_groups[0].get("betas", (0, 0.999))[1] == 0.999


def test_warm_restarts_take_fractional_epochs():
    opt = _optimizer()
    schedule = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2, eta_min=0.01)
    for epoch in [0.5, 1.75, 2.0, 3.5, 5.99, 6.25, 13.0]:
        schedule.step(epoch)
        assert schedule.get_last_lr()[0] == pytest.approx(_restart_cosine(0.1, epoch), rel=1e-12)
        assert schedule.last_epoch == math.floor(epoch)


def test_sequential_lr_switches_schedule_at_each_milestone():
    opt = _optimizer(groups=2)
    warmup = lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=3)
    cosine = lr_scheduler.CosineAnnealingLR(opt, T_max=6)
    decay = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    schedule = lr_scheduler.SequentialLR(opt, [warmup, cosine, decay], milestones=[3, 9])

    def closed(base, e):  # each schedule restarts from its own epoch 0 at its milestone
        if e < 3:
            return base * (0.1 + 0.9 * e / 3)
        if e < 9:
            return base * (1 + math.cos(math.pi * (e - 3) / 6)) / 2
        return base * 0.5 ** ((e - 9) // 2)

    rates = _run(schedule, 14)
    np.testing.assert_allclose(rates, [[closed(b, e) for b in (0.1, 0.2)] for e in range(14)], rtol=1e-9, atol=1e-15)
    with pytest.raises(ValueError, match="expects number of schedulers provided to be one more than the number"):
        lr_scheduler.SequentialLR(opt, [warmup, cosine], milestones=[3, 9])
    with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`"):
        lr_scheduler.SequentialLR(opt, [warmup, lr_scheduler.ReduceLROnPlateau(opt)], milestones=[3])


def test_chained_scheduler_composes_the_factors():
    opt = _optimizer(groups=2)
    schedule = lr_scheduler.ChainedScheduler([lr_scheduler.ConstantLR(opt, factor=0.1, total_iters=2),
                                              lr_scheduler.ExponentialLR(opt, gamma=0.9)])
    rates = _run(schedule, 6)
    np.testing.assert_allclose(rates, [[b * (0.1 if e < 2 else 1.0) * 0.9 ** e for b in (0.1, 0.2)] for e in range(6)],
                               rtol=1e-12)
    state = schedule.state_dict()
    assert [s["last_epoch"] for s in state["_schedulers"]] == [6, 6]


def test_every_schedule_is_an_lr_scheduler_as_in_pytorch():
    # training loops dispatch on isinstance(s, LRScheduler) (step()) vs ReduceLROnPlateau (step(metric))
    assert issubclass(lr_scheduler.ReduceLROnPlateau, lr_scheduler.LRScheduler)
    assert issubclass(lr_scheduler._LRScheduler, lr_scheduler.LRScheduler)


def test_per_group_values_of_the_wrong_length_are_worded_as_pytorch():
    opt = gg.optim.SGD([gg.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"max_lr must have the same length as optimizer.param_groups. max_lr has 2 "
                                         r"values, param_groups has 1."):
        lr_scheduler.OneCycleLR(opt, [1.0, 2.0], total_steps=10)
    with pytest.raises(ValueError, match="base_momentum must have the same length as optimizer.param_groups"):
        lr_scheduler.CyclicLR(opt, 0.01, 0.1, base_momentum=[0.8, 0.7])


def test_a_group_added_after_a_base_lr_schedule_is_refused_not_left_unscheduled():
    opt = _optimizer()
    schedule = lr_scheduler.LambdaLR(opt, lambda e: 0.5 ** e)
    opt.add_param_group({"params": [gg.zeros(1, requires_grad=True)], "lr": 1.0})
    with pytest.raises(ValueError, match="zip\\(\\) argument 2 is shorter than argument 1"):
        schedule.step()  # PyTorch's error; the new group's lr used to stay at 1.0 while the first one decayed
