"""nn modules inside @gg.compile: their parameters are closed-over tensors, captured as graph inputs, so the
compiled loss gives the same gradients as eager and an optimizer trains through it."""
import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn


def test_compiled_loss_of_a_module_matches_eager_and_trains(assert_compiled_matches_eager):
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    x, y = gg.randn(16, 2, dtype=gg.float64), gg.randint(0, 3, (16,))
    loss_fn = assert_compiled_matches_eager(model, lambda x, y: nn.functional.cross_entropy(model(x), y), x, y)

    opt = gg.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn(x, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    assert loss_fn.cache_info().specializations == 1  # in-place updates keep the signature
    model.float()  # a new parameter dtype is a new signature, not stale code
    loss_fn(x.float(), y)
    assert loss_fn.cache_info().specializations == 2


def test_dropout_draws_a_fresh_mask_per_call_and_eval_switches_it_off():
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 1)).double()
    f = gg.compile(lambda x: model(x).sum())
    x = gg.randn(5, 3, dtype=gg.float64)
    for seed in (1, 2):  # the same seed gives the same mask, compiled or eager: same values and gradients
        gg.manual_seed(seed)
        model.zero_grad()
        compiled = f(x)
        compiled.backward()
        grads = [p.grad.numpy().copy() for p in model.parameters()]
        gg.manual_seed(seed)
        model.zero_grad()
        eager = model(x).sum()
        eager.backward()
        np.testing.assert_allclose(compiled.item(), eager.item(), rtol=1e-12)
        for g, p in zip(grads, model.parameters()):
            np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-12)
    assert f(x).item() != f(x).item()  # a new mask every call, not one frozen at trace time
    model.eval()
    np.testing.assert_allclose(f(x).item(), model(x).sum().item(), rtol=1e-12)
    model.train()
    f(x)
    assert f.cache_info().specializations == 2  # one per mode, reused after switching back
    with pytest.raises(NotImplementedError, match="draws random numbers"):
        gg.grad(lambda x: model(x).sum())(np.ones((2, 3)))


def test_generated_code_names_parameters_after_the_module():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(3, 4)
            self.fc2 = nn.Linear(4, 1)

        def forward(self, x):
            return self.fc2(self.fc1(x).relu())

    net = Net()
    source = gg.compile(lambda x: net(x).sum()).source(gg.randn(2, 3))
    assert "def forward(x, fc1_weight, fc1_bias, fc2_weight, fc2_bias):" in source


def test_compiling_a_module_gives_a_module_over_the_original_as_pytorch():
    gg.manual_seed(0)
    original = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.ReLU(), nn.Linear(8, 2)).double()
    model = gg.compile(original)
    assert isinstance(model, nn.Module) and type(model).__name__ == "OptimizedModule"
    assert model._orig_mod is original
    # the same Parameter objects: an optimizer built on either trains both
    assert all(a is b for a, b in zip(model.parameters(), original.parameters()))
    assert [name for name, _ in model.named_parameters()][:2] == ["_orig_mod.0.weight", "_orig_mod.0.bias"]
    assert list(model.state_dict()) == ["_orig_mod." + key for key in original.state_dict()]
    assert getattr(model, "0") is original[0] and model.training  # other attributes are the original's
    assert repr(model).startswith("OptimizedModule(\n  (_orig_mod): Sequential(")
    x = gg.randn(4, 3, dtype=gg.float64)
    model.eval()
    assert not original.training and not original[1].training
    compiled = model(x)
    np.testing.assert_allclose(compiled.detach().numpy(), original(x).detach().numpy(), rtol=1e-12)
    compiled.sum().backward()
    grads = [p.grad.numpy().copy() for p in original.parameters()]
    original.zero_grad()
    original(x).sum().backward()
    for g, p in zip(grads, original.parameters()):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-12)
    assert "def forward(" in model.source(x) and model.cache_info().specializations == 1
    model.train()  # dropout again: a second specialization, reached through the wrapper
    model(x)
    assert original.training and model.cache_info().specializations == 2
    with pytest.raises(AttributeError, match="'OptimizedModule' object has no attribute 'nonexistent'"):
        model.nonexistent


def test_a_compiled_module_trains_with_an_optimizer_on_its_parameters():
    gg.manual_seed(1)
    model = gg.compile(nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1)).double())
    opt = gg.optim.Adam(model.parameters(), lr=0.05)
    x = gg.randn(32, 2, dtype=gg.float64)
    y = (x[:, :1] * x[:, 1:]).tanh()
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert model.cache_info().specializations == 1


def test_module_compile_compiles_its_calls_in_place():
    gg.manual_seed(2)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    x = gg.randn(5, 3, dtype=gg.float64)
    eager = model(x)
    model.compile(mode="max-autotune")
    compiled = model(x)
    assert model._gg_compiled_call.cache_info().misses == 1  # the call ran generated code
    np.testing.assert_allclose(compiled.detach().numpy(), eager.detach().numpy(), rtol=1e-12)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # still itself
    compiled.sum().backward()
    assert model[0].weight.grad.shape == (4, 3)
    model[0].weight.data.mul_(0)  # an in-place change of a parameter reaches the compiled call
    np.testing.assert_allclose(model(x).detach().numpy(), model[2](model[1](model[0](x))).detach().numpy(),
                               rtol=1e-12)
    model2 = nn.Linear(2, 2)
    model2.compile(disable=True)
    assert "_gg_compiled_call" not in model2.__dict__


def test_compiled_modules_copy_and_pickle():
    import copy
    import io

    gg.manual_seed(3)
    x = gg.randn(4, 2, dtype=gg.float64)
    in_place = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)).double()
    in_place.compile()
    in_place(x)
    wrapped = gg.compile(nn.Linear(2, 1).double())
    wrapped(x)
    for model in (in_place, wrapped):
        expected = model(x).detach().numpy()
        twin = copy.deepcopy(model)  # (the DQN tutorial's target network)
        assert all(a is not b for a, b in zip(twin.parameters(), model.parameters()))
        np.testing.assert_allclose(twin(x).detach().numpy(), expected, rtol=1e-12)
        buffer = io.BytesIO()
        gg.save(model, buffer)
        buffer.seek(0)
        loaded = gg.load(buffer, weights_only=False)
        np.testing.assert_allclose(loaded(x).detach().numpy(), expected, rtol=1e-12)
    assert type(twin).__name__ == "OptimizedModule" and twin.cache_info().specializations == 1
