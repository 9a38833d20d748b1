"""Issue 13 §6: the rest of the tensor surface PyTorch programs touch (values from PyTorch's documentation)."""
import numpy as np
import pytest

import graphgrad as torch
from graphgrad.utils.gradcheck import gradcheck


def test_random_like_factories_keep_shape_dtype_and_draw_from_the_seeded_generator():
    t = torch.zeros(3, 4, dtype=torch.float64)
    torch.manual_seed(0)
    a = torch.rand_like(t)
    torch.manual_seed(0)
    assert torch.rand_like(t).tolist() == a.tolist()
    assert a.shape == (3, 4) and a.dtype == torch.float64 and ((a >= 0) & (a < 1)).all()
    assert torch.randn_like(t, dtype=torch.float32).dtype == torch.float32
    r = torch.randint_like(t, 3, 5)
    assert r.dtype == torch.float64 and set(np.unique(r.numpy())) <= {3.0, 4.0}
    assert set(np.unique(torch.randint_like(torch.zeros(50, dtype=torch.int64), 2).numpy())) <= {0, 1}


def test_new_factories_take_dtype_and_device_from_the_tensor():
    t = torch.ones(2, dtype=torch.float64)
    assert t.new_zeros(2, 3).dtype == torch.float64 and t.new_zeros((2, 3)).shape == (2, 3)
    assert t.new_ones(2).tolist() == [1.0, 1.0] and t.new_full((2,), 7).tolist() == [7.0, 7.0]
    # PyTorch 2.13: new_tensor takes the tensor's dtype too (this said int64 and float32 for a float64 tensor)
    assert t.new_tensor([1, 2]).dtype == torch.float64 and t.new_tensor([1.5]).dtype == torch.float64
    assert torch.tensor([1, 2]).new_tensor([1.5]).tolist() == [1] and torch.ones(2).new_tensor([1, 2]).dtype == \
        torch.float32
    assert t.new_tensor([1, 2], dtype=torch.int64).dtype == torch.int64
    assert t.new_empty(4).shape == (4,)
    assert t.new_zeros(2, requires_grad=True).requires_grad


def test_in_place_random_fills():
    torch.manual_seed(1)
    w = torch.empty(1000)
    w.uniform_(-2.0, 3.0)
    assert -2.0 <= w.min().item() and w.max().item() < 3.0 and abs(w.mean().item() - 0.5) < 0.2
    w.normal_(5.0, 0.1)
    assert abs(w.mean().item() - 5.0) < 0.05 and abs(w.std().item() - 0.1) < 0.02
    w.bernoulli_(0.25)
    assert set(np.unique(w.numpy())) <= {0.0, 1.0} and abs(w.mean().item() - 0.25) < 0.06
    w.fill_(2.5)
    assert w.tolist() == [2.5] * 1000
    leaf = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        leaf.normal_()
    with torch.no_grad():
        leaf.normal_()
    assert leaf.requires_grad and leaf._version == 1


def test_comparison_methods_and_format():
    a, b = torch.tensor([1, 2, 3]), torch.tensor([3, 2, 1])
    assert a.eq(b).tolist() == [False, True, False] and a.ne(b).tolist() == [True, False, True]
    assert a.lt(b).tolist() == [True, False, False] and a.le(b).tolist() == [True, True, False]
    assert a.gt(b).tolist() == [False, False, True] and a.ge(b).tolist() == [False, True, True]
    assert a.equal(a.clone()) and not a.equal(b) and torch.equal(a, a)
    assert "{:.2f}".format(torch.tensor(3.14159)) == "3.14"
    assert f"{torch.tensor(2.0):6.1f}" == "   2.0" and f"{torch.tensor(7)}" == "7"
    assert f"{torch.tensor([1.0, 2.0])}" == "tensor([1., 2.])"
    with pytest.raises(TypeError):
        "{:.2f}".format(torch.tensor([1.0, 2.0]))  # PyTorch formats only 0-d tensors as numbers


def test_repeat_split_chunk_documented_examples():
    x = torch.tensor([1, 2, 3])
    assert x.repeat(4, 2).tolist() == [[1, 2, 3, 1, 2, 3]] * 4
    assert x.repeat(4, 2, 1).shape == (4, 2, 3)
    a = torch.arange(10).reshape(5, 2)
    assert [p.tolist() for p in torch.split(a, 2)] == [[[0, 1], [2, 3]], [[4, 5], [6, 7]], [[8, 9]]]
    assert [p.shape for p in torch.split(a, [1, 4])] == [(1, 2), (4, 2)]
    assert [p.tolist() for p in torch.arange(11).chunk(6)] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10]]
    assert len(torch.arange(12).chunk(6)) == 6 and len(torch.arange(6).chunk(4)) == 3
    assert [t.tolist() for t in torch.unbind(torch.tensor([[1, 2], [3, 4]]), 1)] == [[1, 3], [2, 4]]
    v = torch.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert gradcheck(lambda v: v.repeat(2, 3) * v.repeat(2, 3), [v])
    assert gradcheck(lambda v: v.chunk(2, 1)[0] * 2, [v])


def test_keyword_forms_and_out():
    a, b = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.eye(2)
    assert torch.matmul(input=a, other=b).tolist() == a.tolist()
    assert torch.add(a, b, alpha=10).tolist() == [[11.0, 2.0], [3.0, 14.0]]
    out = torch.empty(2, 2)
    result = torch.mul(a, 2, out=out)
    assert result is out and out.tolist() == [[2.0, 4.0], [6.0, 8.0]] and out._version == 1
    grown = torch.empty(0)
    torch.cat([a, b], out=grown)
    assert grown.shape == (4, 2)
    assert torch.exp(torch.zeros(2), out=torch.empty(2)).tolist() == [1.0, 1.0]
    assert torch.div(torch.tensor([-7.0, 7.0]), 2, rounding_mode="trunc").tolist() == [-3.0, 3.0]
    assert torch.div(torch.tensor([-7, 7]), 2, rounding_mode="floor").tolist() == [-4, 3]
    with pytest.raises(RuntimeError, match=r"^add\(\): functions with out=\.\.\. arguments don't support automatic "
                                           "differentiation, but one of the arguments requires grad.$"):
        torch.add(torch.ones(2, requires_grad=True), 1.0, out=torch.empty(2))


def test_bitwise_and_logical_operators():
    a, b = torch.tensor([True, False, True]), torch.tensor([True, True, False])
    assert (a & b).tolist() == [True, False, False] and (a | b).tolist() == [True, True, True]
    assert (a ^ b).tolist() == [False, True, True] and (~a).tolist() == [False, True, False]
    assert (torch.tensor([6, 5]) & 3).tolist() == [2, 1] and a.logical_not().tolist() == [False, True, False]
    x = torch.tensor([0.5, 1.5, 2.5], requires_grad=True)
    mask = (x > 1) & (x < 2)
    assert mask.tolist() == [False, True, False] and mask.grad_fn is None
    with pytest.raises(TypeError, match="only implemented on integer and Boolean-type tensors"):
        ~x


def test_rounding_floor_division_and_remainder():
    assert (torch.arange(0, 5) % 3).tolist() == [0, 1, 2, 0, 1]
    assert (torch.tensor([-7.0, 7.0]) % 3).tolist() == [2.0, 1.0]  # Python's sign convention, as torch.remainder
    assert torch.tensor([-7.0, 7.0]).fmod(3).tolist() == [-1.0, 1.0]
    assert (torch.tensor([-7, 7]) // 2).tolist() == [-4, 3]
    x = torch.tensor([1.5, -2.5, 2.7], requires_grad=True)
    assert x.floor().tolist() == [1.0, -3.0, 2.0] and x.ceil().tolist() == [2.0, -2.0, 3.0]
    assert torch.round(torch.tensor([0.5, 1.5, 2.567]), decimals=0).tolist() == [0.0, 2.0, 3.0]  # half to even
    y = x.floor() + x % 1.0
    assert y.grad_fn is not None and x.floor().grad_fn.name() == "FloorBackward0"
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]  # floor: 0, remainder: 1, as in PyTorch


def test_no_grad_decorates_generators():
    x = torch.ones(1, requires_grad=True)

    @torch.no_grad()
    def batches():
        for _ in range(2):
            yield torch.is_grad_enabled(), (x * 2).requires_grad

    seen = [(inside, tracked, torch.is_grad_enabled()) for inside, tracked in batches()]
    assert seen == [(False, False, True), (False, False, True)]  # the caller's code between yields is tracked

    @torch.enable_grad()
    def tracked():
        yield (x * 2).requires_grad

    with torch.no_grad():
        assert list(tracked()) == [True]


def test_shape_composites_show_pytorchs_node_names():
    # printed by PyTorch 2.13 for the same calls
    x = torch.ones(3, 4, requires_grad=True)
    y = torch.ones(1, 3, requires_grad=True) * 2
    names = {"stack": torch.stack([x, x]), "t": x.t(), "transpose": x.transpose(0, 1), "squeeze": y.squeeze(),
             "squeeze(dim)": y.squeeze(0), "unsqueeze": x.unsqueeze(0), "select": x[:, 1], "slice": x[1:]}
    assert {k: v.grad_fn.name() for k, v in names.items()} == {
        "stack": "StackBackward0", "t": "TBackward0", "transpose": "TransposeBackward0", "squeeze": "SqueezeBackward0",
        "squeeze(dim)": "SqueezeBackward1", "unsqueeze": "UnsqueezeBackward0", "select": "SelectBackward0",
        "slice": "SliceBackward0"}
    assert y.squeeze().grad_fn.next_functions[0][0].name() == "MulBackward0"  # y's own node is not renamed
    assert y.grad_fn.name() == "MulBackward0"
