"""Issue 13 §6: activations, losses, padding and containers PyTorch programs use (closed forms and PyTorch's
documented values; gradients against finite differences)."""
import math
import warnings

import numpy as np
import pytest

import graphgrad as torch
import graphgrad.nn.functional as F
from graphgrad import nn
from graphgrad.utils.gradcheck import gradcheck, gradgradcheck


def f64(values):
    return torch.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


XS = [-3.0, -1.2, -0.3, 0.4, 1.1, 2.5]


def test_activations_match_their_closed_forms():
    x = f64(XS)
    v = np.array(XS)
    erf = np.vectorize(math.erf)
    assert np.allclose(F.gelu(x).detach().numpy(), 0.5 * v * (1 + erf(v / math.sqrt(2))), atol=2e-7)
    tanh_form = 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))
    assert np.allclose(nn.GELU("tanh")(x).detach().numpy(), tanh_form, atol=1e-12)
    assert np.allclose(nn.SiLU()(x).detach().numpy(), v / (1 + np.exp(-v)))
    assert np.allclose(nn.LeakyReLU(0.2)(x).detach().numpy(), np.where(v > 0, v, 0.2 * v))
    assert np.allclose(nn.ELU()(x).detach().numpy(), np.where(v > 0, v, np.exp(v) - 1))
    assert np.allclose(nn.Softplus()(x).detach().numpy(), np.log1p(np.exp(v)))
    assert repr(nn.GELU()) == "GELU(approximate='none')"


@pytest.mark.parametrize("fn", [F.gelu, lambda x: F.gelu(x, approximate="tanh"), F.silu, F.leaky_relu, F.elu,
                                F.softplus])
def test_activation_gradients(fn):
    assert gradcheck(fn, [f64(XS)])
    assert gradgradcheck(fn, [f64(XS)])


def test_losses_match_their_closed_forms():
    x, y = f64([0.0, 2.0, -1.5, 0.2]), torch.tensor([0.5, 0.0, 0.0, 0.2], dtype=torch.float64)
    d = np.abs(x.detach().numpy() - y.numpy())
    assert np.isclose(nn.SmoothL1Loss()(x, y).item(), np.mean(np.where(d < 1, 0.5 * d ** 2, d - 0.5)))
    assert np.isclose(nn.SmoothL1Loss(beta=2.0)(x, y).item(), np.mean(np.where(d < 2, 0.25 * d ** 2, d - 1.0)))
    assert np.isclose(nn.HuberLoss(delta=0.5)(x, y).item(), np.mean(np.where(d < 0.5, 0.5 * d ** 2,
                                                                             0.5 * (d - 0.25))))
    assert nn.HuberLoss(reduction="sum")(x, y).grad_fn.name() == "HuberLossBackward0"
    assert gradcheck(lambda a: F.smooth_l1_loss(a, y), [x]) and gradcheck(lambda a: F.huber_loss(a, y), [x])


def test_kl_div():
    logp = torch.log_softmax(f64([[0.1, 0.5, -0.3], [1.0, 0.0, 0.0]]), 1)
    target = torch.tensor([[0.2, 0.8, 0.0], [0.3, 0.3, 0.4]], dtype=torch.float64)
    t, lp = target.numpy(), logp.detach().numpy()
    pointwise = np.where(t > 0, t * (np.log(np.where(t > 0, t, 1)) - lp), 0.0)
    assert np.isclose(nn.KLDivLoss(reduction="batchmean")(logp, target).item(), pointwise.sum() / 2)
    positive = torch.tensor([[0.2, 0.7, 0.1], [0.3, 0.3, 0.4]], dtype=torch.float64)
    expected = (positive.numpy() * (np.log(positive.numpy()) - lp)).sum()
    assert np.isclose(F.kl_div(logp, positive.log(), reduction="sum", log_target=True).item(), expected)
    with pytest.warns(UserWarning, match="reduction: 'mean' divides the total loss by both the batch size"):
        F.kl_div(logp, target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert gradcheck(lambda a: F.kl_div(a.log_softmax(1), target, reduction="batchmean"),
                         [f64([[0.1, 0.5, -0.3], [1.0, 0.0, 0.0]])])


def test_pad_documented_examples_and_gradients():
    t4d = torch.zeros(3, 3, 4, 2)
    assert F.pad(t4d, (1, 1)).shape == (3, 3, 4, 4)
    assert F.pad(t4d, (1, 1, 2, 2)).shape == (3, 3, 8, 4)
    assert F.pad(t4d, (0, 1, 2, 1, 3, 3)).shape == (3, 9, 7, 3)
    row = torch.arange(4.0).reshape(1, 1, 4)
    assert F.pad(row, (2, 1), value=7.0).tolist() == [[[7.0, 7.0, 0.0, 1.0, 2.0, 3.0, 7.0]]]
    assert F.pad(row, (2, 1), mode="reflect").tolist() == [[[2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0]]]
    assert F.pad(row, (2, 1), mode="replicate").tolist() == [[[0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 3.0]]]
    assert F.pad(row, (2, 1), mode="circular").tolist() == [[[2.0, 3.0, 0.0, 1.0, 2.0, 3.0, 0.0]]]
    assert F.pad(row, (-1, 1)).tolist() == [[[1.0, 2.0, 3.0, 0.0]]]
    x = f64(np.arange(12.0).reshape(1, 3, 4) / 7)
    for mode in ("constant", "reflect", "replicate", "circular"):
        assert gradcheck(lambda a: F.pad(a, (2, 1, 1, 1), mode=mode) ** 2, [x])


def test_normalize_and_one_hot():
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    assert np.allclose(F.normalize(x, dim=1).numpy(), [[0.6, 0.8], [0.0, 0.0]])
    assert np.allclose(F.normalize(x, p=1, dim=0).numpy(), [[1.0, 1.0], [0.0, 0.0]])
    assert gradcheck(lambda a: F.normalize(a, dim=1), [f64([[3.0, 4.0], [1.0, -2.0]])])
    assert F.one_hot(torch.arange(0, 5) % 3).tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]]


def test_containers_register_their_items():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.weights = nn.ParameterList([nn.Parameter(torch.ones(2)) for _ in range(2)])
            self.named = nn.ParameterDict({"scale": nn.Parameter(torch.zeros(1))})
            self.blocks = nn.ModuleDict({"lin": nn.Linear(2, 2), "act": nn.ReLU()})

        def forward(self, x):
            for w in self.weights:
                x = x * w
            return self.blocks["act"](self.blocks["lin"](x)) + self.named["scale"]

    m = Model()
    assert [n for n, _ in m.named_parameters()] == ["weights.0", "weights.1", "named.scale", "blocks.lin.weight",
                                                    "blocks.lin.bias"]
    assert set(m.state_dict()) == {"weights.0", "weights.1", "named.scale", "blocks.lin.weight", "blocks.lin.bias"}
    m(torch.ones(3, 2)).sum().backward()
    assert m.weights[0].grad is not None and len(m.weights) == 2 and "lin" in m.blocks
    assert "(0): Parameter containing: [torch.float32 of size 2]" in repr(m)


def test_unflatten_inverts_flatten():
    x = torch.arange(24.0).reshape(2, 12)
    assert nn.Unflatten(1, (3, 4))(x).shape == (2, 3, 4)
    assert nn.Flatten()(nn.Unflatten(1, (3, 4))(x)).tolist() == x.tolist()
    assert nn.Identity()(x) is x
