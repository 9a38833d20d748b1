"""Module bookkeeping, state and printing behave as torch.nn.Module's do."""
import pickle
import re

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(3, 4)
        self.act = nn.Tanh()
        self.head = nn.Linear(4, 2)
        self.scale = nn.Parameter(gg.ones(2))
        self.register_buffer("offset", gg.zeros(2))
        self.note = "plain attributes stay plain"

    def forward(self, x):
        return self.head(self.act(self.body(x))) * self.scale + self.offset


def test_assignment_registers_parameters_buffers_and_submodules_in_order():
    m = TwoLayer()
    assert [n for n, _ in m.named_parameters()] == ["scale", "body.weight", "body.bias", "head.weight", "head.bias"]
    assert [n for n, _ in m.named_buffers()] == ["offset"]
    assert [type(c).__name__ for c in m.children()] == ["Linear", "Tanh", "Linear"]
    assert [n for n, _ in m.named_modules()] == ["", "body", "act", "head"]
    assert m.note == "plain attributes stay plain" and "note" not in m._parameters
    assert all(isinstance(p, nn.Parameter) and p.is_leaf and p.requires_grad for p in m.parameters())
    assert list(m.parameters(recurse=False)) == [m.scale]


def test_shared_parameters_and_modules_are_listed_once():
    shared = nn.Linear(2, 2)
    m = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(m.parameters())) == 2
    assert len(list(m.modules())) == 3


def test_replacing_a_submodule_replaces_its_parameters():
    m = TwoLayer()
    old = m.head.weight
    m.head = nn.Linear(4, 5)
    assert all(p is not old for p in m.parameters())
    assert m.head.weight.shape == (5, 4)
    del m.head
    assert "head" not in dict(m.named_children())


def test_bad_assignments_raise_pytorch_errors():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=re.escape("cannot assign 'torch.FloatTensor' as parameter 'weight' "
                                                  "(torch.nn.Parameter or None expected)")):
        m.weight = gg.ones(2, 2)
    assert isinstance(m.weight, nn.Parameter)

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(gg.ones(1))

    with pytest.raises(AttributeError, match=re.escape("cannot assign parameters before Module.__init__() call")):
        Early()
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'wieght'"):
        m.wieght
    with pytest.raises(NotImplementedError, match='Module \\[Module\\] is missing the required "forward" function'):
        nn.Module()(1)


def test_parameter_shares_storage_and_prints_as_pytorch():
    data = gg.zeros(2)
    p = nn.Parameter(data)
    with gg.no_grad():
        p.add_(1.0)
    assert data.tolist() == [1.0, 1.0]
    assert repr(p) == "Parameter containing:\ntensor([1., 1.], requires_grad=True)"
    assert repr(nn.Parameter(gg.ones(1), requires_grad=False)) == "Parameter containing:\ntensor([1.])"
    assert type(p * 2) is gg.Tensor
    copy = pickle.loads(pickle.dumps(p))
    assert isinstance(copy, nn.Parameter) and copy.tolist() == [1.0, 1.0]


def test_zero_grad_sets_to_none_by_default_or_zeroes():
    m = TwoLayer()
    m(gg.ones(5, 3)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_train_eval_reach_every_submodule_and_switch_dropout():
    gg.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    assert m.training and m[1].training
    x = gg.ones(64, 4)
    m.eval()
    assert not m[1].training
    np.testing.assert_array_equal(m(x).detach().numpy(), m[0](x).detach().numpy())
    m.train()
    dropped = m(x).detach().numpy()
    kept = dropped != 0
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(dropped[kept], 2 * m[0](x).detach().numpy()[kept], rtol=1e-6)


def test_requires_grad_false_freezes_the_module():
    m = TwoLayer()
    m.body.requires_grad_(False)
    m(gg.ones(1, 3)).sum().backward()
    assert m.body.weight.grad is None and m.head.weight.grad is not None


def test_state_dict_shares_storage_and_round_trips():
    gg.manual_seed(1)
    a, b = TwoLayer(), TwoLayer()
    state = a.state_dict()
    assert list(state) == ["scale", "offset", "body.weight", "body.bias", "head.weight", "head.bias"]
    assert all(not t.requires_grad for t in state.values())
    with gg.no_grad():
        a.scale.mul_(3.0)
    assert state["scale"].tolist() == [3.0, 3.0]  # a view of the parameter, as in PyTorch
    result = b.load_state_dict(state)
    assert repr(result) == "<All keys matched successfully>"
    x = gg.randn(4, 3)
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())
    assert b.scale is not a.scale  # copied, not aliased


def test_load_state_dict_errors_leave_the_module_unchanged():
    m = nn.Linear(2, 2)
    before = m.weight.detach().clone()
    bad = {"weight": gg.zeros(3, 2), "extra": gg.zeros(1)}
    expected = ('Error(s) in loading state_dict for Linear:\n\tMissing key(s) in state_dict: "bias". \n\t'
                'Unexpected key(s) in state_dict: "extra". \n\tsize mismatch for weight: copying a param with '
                'shape torch.Size([3, 2]) from checkpoint, the shape in current model is torch.Size([2, 2]).')
    with pytest.raises(RuntimeError) as info:
        m.load_state_dict(bad)
    assert str(info.value) == expected
    np.testing.assert_array_equal(m.weight.detach().numpy(), before.numpy())
    result = m.load_state_dict({"weight": gg.zeros(2, 2)}, strict=False)
    assert result.missing_keys == ["bias"] and not m.weight.detach().numpy().any()


def test_to_double_keeps_parameter_identity():
    m = nn.Linear(2, 3)
    w = m.weight
    m.double()
    assert m.weight is w and w.dtype == gg.float64 and isinstance(w, nn.Parameter)
    assert m(gg.ones(1, 2, dtype=gg.float64)).dtype == gg.float64


def test_repr_matches_pytorch():
    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Sequential(nn.Linear(3, 1, bias=False), nn.Sigmoid()))
    assert repr(m) == ("Sequential(\n"
                       "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
                       "  (1): ReLU()\n"
                       "  (2): Sequential(\n"
                       "    (0): Linear(in_features=3, out_features=1, bias=False)\n"
                       "    (1): Sigmoid()\n"
                       "  )\n"
                       ")")
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert repr(nn.MSELoss()) == "MSELoss()"


def test_module_list_repr_collapses_runs_of_equal_entries():
    layers = nn.ModuleList([nn.Linear(1, 2), nn.Linear(1, 2), nn.ReLU(), nn.Linear(1, 2)])
    assert repr(layers) == ("ModuleList(\n"  # PyTorch's output
                            "  (0-1): 2 x Linear(in_features=1, out_features=2, bias=True)\n"
                            "  (2): ReLU()\n"
                            "  (3): Linear(in_features=1, out_features=2, bias=True)\n"
                            ")")
    assert repr(nn.ModuleList()) == "ModuleList()"
    assert "(0-5): 6 x TransformerEncoderLayer(\n" in repr(nn.Transformer())


def test_parameter_containers_repr_as_pytorch():
    params = nn.ParameterList([nn.Parameter(gg.ones(2)), nn.Parameter(gg.ones(2, 3, dtype=gg.float64))])
    named = nn.ParameterDict({"a": nn.Parameter(gg.ones(2)), "c": nn.Parameter(gg.ones(1, dtype=gg.int64),
                                                                               requires_grad=False)})
    assert [repr(params), repr(named), repr(nn.ParameterDict({"a": nn.Parameter(gg.ones(2))}))] == [  # PyTorch's
        "ParameterList(\n"
        "    (0): Parameter containing: [torch.float32 of size 2]\n"
        "    (1): Parameter containing: [torch.float64 of size 2x3]\n"
        ")",
        "ParameterDict(\n"
        "    (a): Parameter containing: [torch.FloatTensor of size 2]\n"
        "    (c): Parameter containing: [torch.LongTensor of size 1]\n"
        ")",
        "ParameterDict(  (a): Parameter containing: [torch.FloatTensor of size 2])"]


def test_norm_layers_repr_their_bias_as_pytorch_2_13():
    assert [repr(m) for m in (nn.BatchNorm1d(3), nn.BatchNorm2d(3, affine=False), nn.BatchNorm1d(3, bias=False),
                              nn.LayerNorm(4), nn.LayerNorm((2, 4), bias=False))] == [  # PyTorch's output
        "BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)",
        "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=False, bias=False, track_running_stats=True)",
        "BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, bias=False, track_running_stats=True)",
        "LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)",
        "LayerNorm((2, 4), eps=1e-05, elementwise_affine=True, bias=False)"]
    bn = nn.BatchNorm1d(3, bias=False)  # a learned scale, no shift
    assert [n for n, _ in bn.named_parameters()] == ["weight"]
    assert list(bn.state_dict()) == ["weight", "running_mean", "running_var", "num_batches_tracked"]
    x = gg.randn(4, 3)
    np.testing.assert_allclose(bn(x).detach().numpy(), nn.BatchNorm1d(3)(x).detach().numpy())


def test_sequential_indexing_and_module_list():
    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert isinstance(m[-1], nn.Linear) and len(m[1:]) == 2 and len(m) == 3
    with pytest.raises(IndexError, match="index 3 is out of range"):
        m[3]
    layers = nn.ModuleList([nn.Linear(2, 2)]).extend([nn.Linear(2, 2)])
    holder = nn.Module()
    holder.layers = layers
    assert [n for n, _ in holder.named_parameters()] == ["layers.0.weight", "layers.0.bias", "layers.1.weight",
                                                         "layers.1.bias"]


def test_forward_hooks_can_replace_the_output_and_be_removed():
    m = nn.Linear(2, 2)
    handle = m.register_forward_hook(lambda module, args, out: out * 0)
    assert not m(gg.ones(1, 2)).any()
    handle.remove()
    assert m(gg.ones(1, 2)).any()


def test_linear_matches_numpy_and_pytorch_initialisation_bounds():
    gg.manual_seed(0)
    layer = nn.Linear(100, 50)
    bound = 1 / np.sqrt(100)
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    assert w.shape == (50, 100) and np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.9 * bound  # uniform over the whole range, not a narrower one
    x = np.random.default_rng(0).standard_normal((7, 100)).astype(np.float32)
    np.testing.assert_allclose(layer(gg.tensor(x)).detach().numpy(), x @ w.T + b, rtol=1e-5, atol=1e-6)
    gg.manual_seed(0)
    assert np.array_equal(nn.Linear(100, 50).weight.detach().numpy(), w)  # seeded: reproducible
