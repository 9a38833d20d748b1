"""Tensor methods PyTorch code calls inside a model's forward work on traced values too, with eager's values and
gradients: ``x.to(dtype)``, ``x.device``, ``x.new_zeros(...)``, ``x.narrow``/``select``/``unbind``, ``topk``,
``addcmul``, ``type_as``, ``masked_fill_`` (each stopped ``@gg.compile`` with an AttributeError before)."""
import numpy as np
import pytest

import graphgrad as torch

CASES = {
    "to dtype": lambda t: t.to(torch.float32).double().sum(),
    "to device": lambda t: t.to("cpu").sum() + t.cpu().sum(),
    "to other": lambda t: (t.to(t) * 2).sum(),
    "type": lambda t: t.type(torch.float32).sum().double(),
    "new_zeros": lambda t: (t + t.new_zeros(3, 4)).sum(),
    "new_ones": lambda t: (t * t.new_ones((3, 4))).sum(),
    "new_full": lambda t: (t * t.new_full((3, 4), 2.0)).sum(),
    "new_tensor": lambda t: (t * t.new_tensor([1.0, 2.0, 3.0, 4.0])).sum(),
    "narrow": lambda t: (t.narrow(1, 1, 2) ** 2).sum(),
    "select": lambda t: (t.select(1, 2) ** 2).sum(),
    "unbind": lambda t: sum(r.exp().sum() * (i + 1) for i, r in enumerate(t.unbind(0))),
    "topk": lambda t: (t.topk(2, dim=1).values * torch.tensor([3.0, 1.0], dtype=torch.float64)).sum(),
    "topk smallest": lambda t: t.topk(3, dim=0, largest=False).values.sum(),
    "addcmul": lambda t: t.addcmul(t, t, value=0.5).sum() + t.addcdiv(t, t * t + 1.0).sum(),
    "masked_fill_": lambda t: (t * 1).masked_fill_(t > 0, 0.0).sum(),
    "device": lambda t: (t * (1.0 if t.device.type == "cpu" and not t.is_cuda else 2.0)).sum(),
    "type_as": lambda t: t.type_as(torch.zeros(1)).double().sum(),
    "element_size": lambda t: t.sum() * t.element_size(),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_method_matches_eager_value_and_gradient(name):
    fn = CASES[name]
    data = np.random.default_rng(0).standard_normal((3, 4))
    x = torch.tensor(data, requires_grad=True)
    expected = fn(x)
    expected.backward()
    eager_grad = x.grad.numpy().copy()
    x.grad = None
    got = torch.compile(fn)(x)
    got.backward()
    np.testing.assert_allclose(got.item(), expected.item(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), eager_grad, rtol=1e-6)


def test_traced_topk_is_torch_return_types_and_its_gradient_goes_to_the_picked_elements():
    x = torch.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]], dtype=torch.float64, requires_grad=True)
    out = torch.compile(lambda t: t.topk(2))(x)
    assert type(out).__name__ == "topk" and out.values.tolist() == [[5.0, 3.0], [6.0, 4.0]]
    assert out.indices.tolist() == [[1, 2], [2, 0]]
    out.values.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]]


def test_traced_type_without_a_dtype_names_the_tensor_type():
    names = []
    with pytest.warns(UserWarning, match="changed the contents of closed-over 'names'"):
        torch.compile(lambda t: names.append(t.type()) or t * 1)(torch.ones(2))
    assert names == ["torch.FloatTensor"]
