"""Issue 13 §1: results PyTorch programs read that used to be silently different (values from PyTorch's
documentation and closed forms; PyTorch itself is not used)."""
import numpy as np
import pytest

import graphgrad as torch
from graphgrad import nn
from graphgrad.utils.gradcheck import gradcheck


def f64(values, requires_grad=True):
    return torch.tensor(values, dtype=torch.float64, requires_grad=requires_grad)


# -- the legacy constructor and in-place casting ------------------------------------------------------------
def test_legacy_constructor_is_always_the_default_float_dtype():
    assert torch.Tensor([0]).dtype == torch.float32
    assert torch.Tensor([[1, 2]]).dtype == torch.float32
    assert torch.Tensor(np.array([1, 2])).dtype == torch.float32
    assert torch.Tensor(2, 3).shape == (2, 3) and torch.Tensor(2, 3).dtype == torch.float32
    assert torch.Tensor(torch.Size([4])).shape == (4,)
    assert torch.Tensor().shape == (0,)
    with pytest.raises(TypeError, match=r"^new\(\): data must be a sequence \(got float\)$"):
        torch.Tensor(1.5)
    with pytest.raises(TypeError, match="^new\\(\\): argument 'size' must be tuple of ints, but found element of "
                                        "type str at pos 1$"):
        torch.Tensor(2, "a")


def test_summing_float_losses_into_a_legacy_tensor_keeps_the_fractions():
    total = torch.Tensor([0])
    for loss in (torch.tensor(0.25), torch.tensor(1.5)):
        total += loss.data
    assert total.item() == 1.75


@pytest.mark.parametrize("update", [
    lambda t: t.__iadd__(0.5), lambda t: t.__iadd__(torch.tensor([1.0, 2.0])), lambda t: t.__itruediv__(2),
    lambda t: t.mul_(1.5), lambda t: t.sub_(torch.tensor(0.5)), lambda t: t.sigmoid_()])
def test_in_place_ops_never_downcast_float_to_integer(update):
    t = torch.tensor([1, 2])
    with pytest.raises(RuntimeError, match="^result type Float can't be cast to the desired output type Long$"):
        update(t)
    assert t.tolist() == [1, 2] and t._version == 0


def test_in_place_ops_that_keep_or_widen_the_dtype_still_work():
    t = torch.tensor([1, 2])
    t += 1
    f = torch.zeros(2)
    f += t
    f += torch.tensor([0.5, 0.5], dtype=torch.float64)  # float64 into float32 is a same-kind cast: allowed
    assert t.tolist() == [2, 3] and f.tolist() == [2.5, 3.5] and f.dtype == torch.float32
    b = torch.tensor([True, False])
    with pytest.raises(RuntimeError, match="result type Long can't be cast to the desired output type Bool"):
        b.add_(torch.tensor([1, 1]))


# -- integer results, max/min/sort/topk ---------------------------------------------------------------------
def test_integer_results_carry_no_history():
    x = torch.randn(3, 4, requires_grad=True)
    for out in (x.argmax(), x.argmin(1), x.max(1).indices, x.min(0).indices, x.sort().indices, x.topk(2).indices,
                x > 0, x.long()):
        assert out.grad_fn is None and not out.requires_grad


def test_max_along_a_dim_prints_as_pytorch_return_types():
    x = torch.tensor([[1.0, 3.0], [4.0, 2.0]], requires_grad=True)
    r = x.max(1)
    assert repr(r) == ("torch.return_types.max(\nvalues=tensor([3., 4.], grad_fn=<MaxBackward0>),\n"
                       "indices=tensor([1, 0]))")
    values, indices = r
    assert values is r.values and indices.tolist() == [1, 0]
    assert repr(torch.min(x, 0)).startswith("torch.return_types.min(\nvalues=tensor([1., 2.], "
                                             "grad_fn=<MinBackward0>)")
    assert r.values.grad_fn.next_functions == ((x._grad_node(), 0),)


def test_max_along_a_dim_sends_the_gradient_to_the_chosen_element_only():
    x = f64([[2.0, 5.0, 5.0], [7.0, 1.0, 7.0]])
    x.max(1).values.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]  # PyTorch's max(dim): the index's element


@pytest.mark.parametrize("fn", [
    lambda x: x.max(0).values, lambda x: x.min(1, keepdim=True).values, lambda x: x.sort(1).values,
    lambda x: x.sort(0, descending=True).values, lambda x: x.topk(2).values,
    lambda x: torch.topk(x, 2, dim=0, largest=False).values])
def test_values_of_max_min_sort_topk_are_differentiable(fn):
    x = torch.tensor(np.random.default_rng(0).permutation(12).reshape(3, 4) / 3.0, requires_grad=True)
    assert gradcheck(fn, [x])


def test_sort_and_topk_values_and_indices():
    x = torch.tensor([[3.0, 1.0, 2.0, 1.0]])
    assert x.sort().values.tolist() == [[1.0, 1.0, 2.0, 3.0]] and x.sort().indices.tolist() == [[1, 3, 2, 0]]
    assert torch.sort(x, descending=True).indices.tolist() == [[0, 2, 1, 3]]
    assert x.topk(2).values.tolist() == [[3.0, 2.0]] and x.topk(2).indices.tolist() == [[0, 2]]
    assert torch.argsort(x).tolist() == [[1, 3, 2, 0]]
    assert repr(x.sort()).startswith("torch.return_types.sort(\nvalues=")


# -- grad_fn names and next_functions ---------------------------------------------------------------------
def test_indexing_nodes_are_named_as_pytorch_names_them():
    x = torch.randn(3, 4, 5, requires_grad=True)
    names = {"x[:, 1]": x[:, 1], "x[0]": x[0], "x[1:3]": x[1:3], "x[0, 1:3]": x[0, 1:3], "x[1:2, 0]": x[1:2, 0],
             "x[..., 2]": x[..., 2], "x[None]": x[None], "x[:, [0, 1]]": x[:, [0, 1]], "x[:]": x[:]}
    got = {k: v.grad_fn.name() for k, v in names.items()}
    assert got == {"x[:, 1]": "SelectBackward0", "x[0]": "SelectBackward0", "x[1:3]": "SliceBackward0",
                   "x[0, 1:3]": "SliceBackward0", "x[1:2, 0]": "SelectBackward0", "x[..., 2]": "SelectBackward0",
                   "x[None]": "UnsqueezeBackward0", "x[:, [0, 1]]": "IndexBackward0", "x[:]": "AliasBackward0"}


def test_the_blitz_tutorials_graph_walk():
    """The 60-minute blitz prints loss.grad_fn, then follows next_functions[0][0] twice: MseLossBackward0,
    AddmmBackward0 (the last Linear), AccumulateGrad (its bias)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    loss = nn.MSELoss()(net(torch.randn(5, 3)), torch.randn(5, 2))
    mse = loss.grad_fn
    assert mse.name() == "MseLossBackward0" and mse.next_functions[1] == (None, 0)
    addmm = mse.next_functions[0][0]
    assert addmm.name() == "AddmmBackward0"
    bias_node, input_node, weight_t = (n for n, _ in addmm.next_functions)
    assert bias_node.name() == "torch::autograd::AccumulateGrad" and bias_node.variable is net[2].bias
    assert input_node.name() == "ReluBackward0"
    assert weight_t.name() == "TBackward0" and weight_t.next_functions[0][0].variable is net[2].weight
    loss.backward()  # the engine still walks the recorded primitives
    assert net[0].weight.grad is not None


def test_linear_on_other_ranks_and_without_bias():
    lin = nn.Linear(3, 2)
    assert lin(torch.randn(4, 3)).grad_fn.name() == "AddmmBackward0"
    three_d = lin(torch.randn(2, 4, 3)).grad_fn
    assert three_d.name() == "ViewBackward0" and three_d.next_functions[0][0].name() == "AddmmBackward0"
    no_bias = nn.Linear(3, 2, bias=False)
    assert no_bias(torch.randn(4, 3)).grad_fn.name() == "MmBackward0"


def test_cross_entropy_shows_nll_over_log_softmax():
    logits = torch.randn(4, 3, requires_grad=True)
    loss = nn.CrossEntropyLoss()(logits, torch.tensor([0, 2, 1, 0]))
    assert loss.grad_fn.name() == "NllLossBackward0"
    log_softmax = loss.grad_fn.next_functions[0][0]
    assert log_softmax.name() == "LogSoftmaxBackward0" and log_softmax.next_functions[0][0].variable is logits


def test_assigning_a_non_tensor_grad_is_pytorchs_type_error():
    a = torch.ones(2, requires_grad=True)
    with pytest.raises(TypeError, match="^assigned grad expected to be a Tensor or None but got grad of type "
                                        "float$"):
        a.grad = 0.
    with pytest.raises(RuntimeError, match="can't assign Variable as its own grad"):
        a.grad = a
    a.grad = torch.zeros(2)
    a.grad = None
    assert a.grad is None


def test_copy_and_fill_convert_as_pytorch_does():
    assert torch.zeros(2, dtype=torch.int64).copy_(torch.tensor([1.5, 2.5])).tolist() == [1, 2]
    assert torch.zeros(2, dtype=torch.int64).fill_(2.7).tolist() == [2, 2]
    x = f64([1.0, 2.0])
    y = torch.zeros(2)
    y.copy_(x * 2)  # float64 into float32: the gradient flows back in x's dtype
    y.sum().backward()
    assert y.dtype == torch.float32 and x.grad.tolist() == [2.0, 2.0] and x.grad.dtype == torch.float64


# -- module bookkeeping, checkpoints, dtype names (found by comparing with PyTorch 2.13) -------------------
def test_a_reassigned_child_or_parameter_keeps_its_place():
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    seq[1] = nn.Tanh()  # it used to move to the end: forward ran Linear, Linear, Tanh
    assert [name for name, _ in seq.named_children()] == ["0", "1", "2"]
    x = torch.tensor([[0.5, -1.0]])
    expected = seq[2](seq[1](seq[0](x)))
    np.testing.assert_allclose(seq(x).detach().numpy(), expected.detach().numpy())
    lin = nn.Linear(2, 1)
    lin.weight = nn.Parameter(torch.tensor([[1.0, 2.0]]))
    lin.bias = nn.Parameter(torch.tensor([7.0]))
    assert [name for name, _ in lin.named_parameters()] == ["weight", "bias"]
    assert nn.utils.parameters_to_vector(lin.parameters()).tolist() == [1.0, 2.0, 7.0]


def test_a_buffer_registered_again_as_persistent_is_saved():
    m = nn.Module()
    m.register_buffer("stat", torch.zeros(2), persistent=False)
    assert "stat" not in m.state_dict()
    m.register_buffer("stat", torch.ones(2), persistent=True)
    assert m.state_dict()["stat"].tolist() == [1.0, 1.0]


def test_a_saved_zero_dim_tensor_loads_zero_dim(tmp_path):
    bn = nn.BatchNorm1d(3)
    bn(torch.randn(4, 3))  # num_batches_tracked: a 0-d int64 tensor
    path = tmp_path / "bn.pt"
    torch.save({"model": bn.state_dict(), "loss": torch.tensor(0.25)}, path)
    loaded = torch.load(path)
    assert loaded["loss"].shape == () and loaded["loss"].item() == 0.25
    assert loaded["model"]["num_batches_tracked"].shape == ()
    fresh = nn.BatchNorm1d(3)
    fresh.load_state_dict(loaded["model"])  # used to fail: size mismatch for num_batches_tracked
    assert fresh.num_batches_tracked.item() == 1


def test_python_float_as_a_dtype_is_float64_as_in_pytorch():
    assert torch.tensor([1.5], dtype=float).dtype == torch.float64
    assert torch.zeros(2, dtype=float).dtype == torch.float64
    assert torch.ones(2).to(float).dtype == torch.float64
    assert torch.tensor([1.1], dtype=float).item() == 1.1  # not rounded to float32
    assert torch.tensor([1], dtype=int).dtype == torch.int64


def test_a_shared_submodule_is_in_the_state_dict_under_both_names():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    keys = list(model.state_dict())
    assert keys == ["0.weight", "0.bias", "2.weight", "2.bias"]  # PyTorch's keys for this model
    other = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
    other[2] = other[0]
    other.load_state_dict(model.state_dict())  # strict: both names expected and given
    np.testing.assert_array_equal(other[0].weight.detach().numpy(), shared.weight.detach().numpy())


def test_a_zero_dim_buffer_saved_as_shape_one_loads_as_pytorch_does():
    # older writers (and graphgrad before the 0-d fix) stored num_batches_tracked as shape (1,); PyTorch loads
    # the one element into the 0-d buffer
    bn = nn.BatchNorm1d(2)
    state = dict(bn.state_dict())
    state["num_batches_tracked"] = torch.tensor([7])
    bn.load_state_dict(state)
    assert bn.num_batches_tracked.shape == () and bn.num_batches_tracked.item() == 7
    state["num_batches_tracked"] = torch.tensor([7, 8])
    with pytest.raises(RuntimeError, match="size mismatch for num_batches_tracked"):
        bn.load_state_dict(state)


def test_flip_refuses_a_repeated_dim_and_takes_dim_0_of_a_scalar():
    x = torch.arange(6.0).reshape(2, 3)
    for dims in ([0, 0], [0, -2], (1, 1)):  # flipped once before, as if the repeat were not there
        with pytest.raises(RuntimeError, match="dim [01] appears multiple times in the list of dims"):
            x.flip(dims)
    for dims in (0, -1, []):
        assert torch.tensor(3.0).flip(dims).item() == 3.0
    assert torch.compile(lambda t: t.flip((0, 1)))(x).tolist() == [[5.0, 4.0, 3.0], [2.0, 1.0, 0.0]]


def test_layer_norm_over_no_dims_is_refused_as_in_pytorch():
    # an empty dim list means "every dim" to mean(): this normalized the whole tensor, with no error
    for shape in ((), []):
        with pytest.raises(RuntimeError, match=r"normalized_shape to be at least 1-dimensional.*= \[\]"):
            torch.nn.functional.layer_norm(torch.randn(2, 3), shape)


def test_a_numpy_float64_scalar_keeps_float64_as_in_pytorch():
    # np.float64 is a subclass of Python's float; it was rounded to float32: -3030569.1453 became -3030569.25
    value = np.float64(-3030569.1453)
    for data in (value, [value], [value, 2.0], [[1.0], [value]]):
        assert torch.tensor(data).dtype == torch.float64
    assert torch.tensor(value).item() == value and torch.tensor([2.0, value])[1].item() == value
    assert torch.as_tensor(value).dtype == torch.float64
    # Python floats and NumPy float32 scalars keep the default dtype (PyTorch's output)
    assert torch.tensor(1.5).dtype == torch.float32 and torch.tensor([np.float32(1.5), 2.0]).dtype == torch.float32


def test_flip_is_a_copy_as_in_pytorch():
    # NumPy's flip is a view; PyTorch's flip copies ("torch.flip makes a copy of input's data"): eager flip
    # was a view, so a later in-place update of the tensor showed in the flipped one ([5., 3.], not [4., 2.])
    def f(x):
        y = x * 2
        z = y.flip(0)
        y.add_(1)
        return z * 1

    assert f(torch.tensor([1.0, 2.0])).tolist() == [4.0, 2.0]
    assert torch.compile(f)(torch.tensor([1.0, 2.0])).tolist() == [4.0, 2.0]
    x = f64([1.0, 2.0, 3.0])
    assert gradcheck(lambda t: t.flip(0) * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), (x,))
    import graphgrad.numpy as gnp
    a = np.arange(3.0)
    assert np.shares_memory(gnp.flip(a), a)  # the NumPy face keeps NumPy's view


def test_a_numpy_scalar_keeps_its_dtype():
    # torch.tensor(np.float64(1.5)) is float64, as an array is; it was float32 (1/3 rounded to 0.3333333432674408)
    third = np.float64(1.0) / 3.0
    for make in (torch.tensor, torch.as_tensor):
        t = make(third)
        assert t.dtype == torch.float64 and t.item() == third
        assert make(np.float32(0.5)).dtype == torch.float32 and make(np.bool_(True)).dtype == torch.bool


def test_contiguous_of_a_strided_view_is_a_copy_and_of_a_contiguous_tensor_itself():
    base = torch.zeros(2, 3)
    for view in (base.t(), base[:, ::2], base.permute(1, 0), base[:, 1]):
        c = view.contiguous()
        c.add_(1)  # was written into base: contiguous() returned the view itself
        assert base.sum().item() == 0.0
    w = torch.zeros(2, 3, requires_grad=True)
    assert w.contiguous() is w and w.t().contiguous().grad_fn.name() == "CloneBackward0"
    w.t().contiguous().sum().backward()
    assert w.grad.tolist() == [[1.0] * 3] * 2


@pytest.mark.parametrize("compiled", [False, True])
def test_narrow_counts_a_negative_start_from_the_end_and_refuses_what_pytorch_refuses(compiled):
    x = torch.arange(5.0)
    last_two = lambda x: x.narrow(0, -2, 2)  # noqa: E731
    assert (torch.compile(last_two) if compiled else last_two)(x).tolist() == [3.0, 4.0]  # was empty: -2 to 0
    with pytest.raises(RuntimeError, match=r"^start \(4\) \+ length \(2\) exceeds dimension size \(5\)\.$"):
        x.narrow(0, 4, 2)  # was [4.]: a slice clips
    with pytest.raises(IndexError, match=r"^start out of range \(expected to be in range of \[-5, 5\], but got 6\)$"):
        x.narrow(0, 6, 1)
    with pytest.raises(RuntimeError, match=r"^narrow\(\): length must be non-negative\.$"):
        x.narrow(0, 0, -1)


@pytest.mark.parametrize("compiled", [False, True])
def test_descending_sorts_put_nan_first_and_keep_ties_in_order_as_pytorch(compiled):
    nan = float("nan")
    run = torch.compile if compiled else (lambda f: f)
    x = torch.tensor([1.0, nan, 3.0, 1.0, 3.0])
    ordered = run(lambda a: a.sort(descending=True))(x)
    assert ordered.indices.tolist() == [1, 2, 4, 0, 3]  # eager put nan last, compiled reversed the ties
    assert np.isnan(ordered.values[0].item()) and ordered.values[1:].tolist() == [3.0, 3.0, 1.0, 1.0]
    top = run(lambda a: a.topk(2))(x)
    assert top.indices.tolist() == [1, 2] and np.isnan(top.values[0].item())  # was [3., 3.]: nan ignored
    ints = torch.tensor([1, 3, 1, 3, -2 ** 63])
    assert run(lambda a: a.argsort(descending=True, stable=True))(ints).tolist() == [1, 3, 0, 2, 4]


@pytest.mark.parametrize("compiled", [False, True])
def test_the_gradient_of_a_full_max_with_nans_goes_to_the_nans(compiled):
    x = torch.tensor([1.0, float("nan"), 3.0, float("nan")], requires_grad=True)
    (torch.compile(lambda a: a.max()) if compiled else (lambda a: a.max()))(x).backward()
    assert x.grad.tolist() == [0.0, 0.5, 0.0, 0.5]  # was nan everywhere: the mask x == max found no element


def test_nan_through_hardshrink_softshrink_and_sign_as_pytorch():
    x = torch.tensor([float("nan"), -0.3, 0.7, -2.0], requires_grad=True)
    hard, soft = nn.functional.hardshrink(x), nn.functional.softshrink(x)
    assert np.isnan(hard[0].item()) and hard[1:].tolist() == pytest.approx([0.0, 0.7, -2.0])  # nan was 0
    assert np.isnan(soft[0].item()) and np.signbit(soft[1].item()) and soft[2:].tolist() == pytest.approx([0.2, -1.5])
    soft.sum().backward()
    assert x.grad.tolist() == [1.0, 0.0, 1.0, 1.0]
    assert x.detach().sign().tolist()[0] == 0.0 and torch.compile(lambda a: a.sign())(x.detach()).tolist()[0] == 0.0


def test_hardtanh_and_relu6_keep_an_integer_dtype():
    x = torch.tensor([1, -3, 7])
    assert nn.functional.relu6(x).tolist() == [1, 0, 6] and nn.functional.relu6(x).dtype == torch.int64
    assert nn.functional.hardtanh(x, -2.5, 2.5).tolist() == [1, -2, 2]  # bounds truncated, as PyTorch's
    with pytest.raises(RuntimeError, match="^Bool inputs not supported for hardtanh$"):
        nn.functional.hardtanh(torch.tensor([True]))


@pytest.mark.parametrize("compiled", [False, True])
def test_float32_running_sums_are_added_in_float64_as_pytorchs(compiled):
    import graphgrad.numpy as gnp

    x = torch.full((10 ** 6,), 0.1)
    last = (torch.compile(lambda a: a.cumsum(0)[-1]) if compiled else (lambda a: a.cumsum(0)[-1]))(x)
    assert last.item() == 100000.0 and last.dtype == torch.float32  # was 100958.34, added in float32
    a = np.full(10 ** 6, 0.1, np.float32)
    assert gnp.cumsum(a)[-1] == np.cumsum(a)[-1]  # the NumPy face: NumPy's own float32 sums


def test_the_product_of_bools_is_int64_compiled_as_eager():
    x = torch.tensor([True, True, False])
    for run in (lambda f: f, torch.compile):
        for fn in (lambda a: a.prod(), lambda a: a.prod(0, keepdim=True)):
            got = run(fn)(x)
            assert got.dtype == torch.int64 and got.reshape(-1).tolist() == [0]  # compiled: bool False


def test_kl_div_of_a_negative_target_is_nan_and_its_input_gradient_minus_the_target():
    x = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    loss = nn.functional.kl_div(x, torch.tensor([[-0.5, 1.5]]), reduction="sum")
    loss.backward()
    assert np.isnan(loss.item())  # was 2.108: the negative entry counted as 0
    assert x.grad.tolist() == [[0.5, -1.5]]  # (PyTorch's: xlogy(t, t) - t * input)
    assert nn.functional.kl_div(torch.tensor([[-1.0, -2.0]]), torch.tensor([[0.0, 1.0]]), reduction="sum").item() == 2.0


def test_padding_idx_is_a_row_of_the_table_as_pytorchs():
    assert nn.Embedding(5, 3, padding_idx=-1).padding_idx == 4
    for bad in (5, -6):
        with pytest.raises(AssertionError, match="^Padding_idx must be within num_embeddings$"):
            nn.Embedding(5, 3, padding_idx=bad)
    with pytest.raises(AssertionError, match="^Padding_idx must be within num_embeddings$"):
        nn.functional.embedding(torch.tensor([0]), torch.zeros(3, 2), padding_idx=5)  # was taken as row 2


def test_named_parameters_without_removing_duplicates_lists_a_shared_module_twice():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert [n for n, _ in model.named_parameters(remove_duplicate=False)] == \
        ["0.weight", "0.bias", "2.weight", "2.bias"]  # the flag was ignored
