"""Index tensors out of range raise PyTorch's errors, eagerly and compiled, where NumPy would read another element.

NumPy (and CuPy) take a negative index from the end. PyTorch's gather, scatter, index_select, embedding, one_hot
and nll_loss refuse one; so before the ``check_range`` op, ``x.gather(1, [[-1]])`` returned the last element and a
compiled ``cross_entropy`` silently left out a sample whose class was -1 or too large. Plain indexing
(``x[idx]``) and ``take_along_dim`` take a negative index from the end in PyTorch too, and still do.
"""
import re

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn.functional as F

X = np.arange(12.0).reshape(3, 4)


def _gather(x, i):
    return x.gather(1, i.reshape(1, -1).expand(3, -1))


def _scatter_add(x, i):
    return x.scatter_add(1, i.reshape(1, -1), gg.ones(1, i.shape[0], dtype=x.dtype))


def _scatter_reduce(x, i):
    return x.scatter_reduce(1, i.reshape(1, -1), gg.ones(1, i.shape[0], dtype=x.dtype), "amax")


def _index_select(x, i):
    return x.index_select(1, i)


def _embedding(x, i):
    return F.embedding(i, x.t())


def _one_hot(x, i):
    return F.one_hot(i, 4).double() * x[0]


def _nll_loss(x, i):
    return F.nll_loss(x[:, :2].t(), i[:2])


def _cross_entropy(x, i):
    return F.cross_entropy(x[:, :2].t(), i[:2])


# op, index, PyTorch's exception and message (checked against torch 2.13 by hand)
CASES = {
    "gather, negative": (_gather, [0, -1], RuntimeError, "index -1 is out of bounds for dimension 1 with size 4"),
    "gather, too large": (_gather, [4, -1], RuntimeError, "index 4 is out of bounds for dimension 1 with size 4"),
    "scatter_add": (_scatter_add, [1, -2], RuntimeError, "index -2 is out of bounds for dimension 1 with size 4"),
    "scatter_reduce": (_scatter_reduce, [-1], RuntimeError, "index -1 is out of bounds for dimension 1 with size 4"),
    "index_select, negative": (_index_select, [2, -1], IndexError, "index out of range in self"),
    "index_select, too large": (_index_select, [4], IndexError, "index out of range in self"),
    "embedding": (_embedding, [0, -3], IndexError, "index out of range in self"),
    "one_hot, negative": (_one_hot, [5, -1], RuntimeError, "Class values must be non-negative."),
    "one_hot, too large": (_one_hot, [1, 4], RuntimeError, "Class values must be smaller than num_classes."),
    "nll_loss": (_nll_loss, [1, -1], IndexError, "Target -1 is out of bounds."),
    "cross_entropy, first bad named": (_cross_entropy, [3, -2], IndexError, "Target 3 is out of bounds."),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_an_index_out_of_range_raises_pytorchs_error(name, mode):
    fn, index, error, message = CASES[name]
    x = gg.tensor(X, requires_grad=True)
    run = gg.compile(fn) if mode == "compiled" else fn
    with pytest.raises(error, match=re.escape(message)) as caught:
        run(x, gg.tensor(index))  # the index an argument: compiled, its values are known only when the code runs
    if mode == "compiled":  # raised by a line of the generated code, which the message names with the user's line
        assert "check_range(" in str(caught.value) and "test_index_bounds.py" in str(caught.value)
    else:
        assert str(caught.value) == message


@pytest.mark.parametrize("name", sorted(CASES))
def test_indices_in_range_give_the_same_values_and_gradients_eager_and_compiled(name):
    fn = CASES[name][0]
    index = gg.tensor([0, 1] if name.startswith(("nll", "cross")) else [3, 0, 3])
    eager_x, compiled_x = (gg.tensor(X, requires_grad=True) for _ in range(2))
    want, got = fn(eager_x, index), gg.compile(fn)(compiled_x, index)
    np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    if want.requires_grad:
        want.sum().backward()
        got.sum().backward()
        np.testing.assert_array_equal(compiled_x.grad.numpy(), eager_x.grad.numpy())


@pytest.mark.parametrize("run", [lambda f, *a: f(*a), lambda f, *a: gg.compile(f)(*a)], ids=["eager", "compiled"])
def test_in_place_scatter_and_index_add_refuse_a_negative_index(run):
    with pytest.raises(RuntimeError, match=r"^index -1 is out of bounds for dimension 0 with size 3$"):
        run(lambda x: x.scatter_(0, gg.tensor([0, -1]), 1.0), gg.zeros(3))
    with pytest.raises(RuntimeError, match=r"^index -2 is out of bounds for dimension 0 with size 3$"):
        run(lambda x: x.scatter_add_(0, gg.tensor([1, -2, 5]), gg.ones(3)), gg.zeros(3))
    with pytest.raises(RuntimeError, match=r"^index -1 is out of bounds for dimension 0 with size 3$"):  # (2.13's)
        run(lambda x: x.index_add_(0, gg.tensor([2, -1]), gg.ones(2)), gg.zeros(3))
    assert run(lambda x: x.scatter_add_(0, gg.tensor([0]), gg.tensor([5.0])), gg.tensor(1.0)).item() == 6.0  # 0-d


def test_plain_indexing_and_take_along_dim_still_count_a_negative_index_from_the_end():
    x = gg.tensor(X)
    i = gg.tensor([[-1]])
    for run in (lambda f, *a: f(*a), lambda f, *a: gg.compile(f)(*a)):
        assert run(lambda x, i: gg.take_along_dim(x, i, 1), x, i).tolist() == [[3.0], [7.0], [11.0]]
        assert run(lambda x, i: x[i.reshape(-1)], x, i).tolist() == [[8.0, 9.0, 10.0, 11.0]]


@pytest.mark.parametrize("ignore_index", [-100, -1, 1])
def test_ignored_targets_are_not_checked_and_weigh_nothing(ignore_index):
    logits = gg.tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    target = gg.tensor([0, ignore_index, 2, ignore_index])
    fn = gg.compile(lambda z, t: F.cross_entropy(z, t, ignore_index=ignore_index))
    got = fn(logits, target)
    got.backward()
    kept = [0, 2]
    logp = logits.detach().numpy() - np.log(np.exp(logits.detach().numpy()).sum(1, keepdims=True))
    want = -np.mean([logp[k, target.tolist()[k]] for k in kept])
    np.testing.assert_allclose(got.item(), want, rtol=1e-13)
    grad = np.exp(logp)
    grad[np.arange(4), np.where(target.numpy() == ignore_index, 0, target.numpy())] -= 1
    grad[target.numpy() == ignore_index] = 0
    np.testing.assert_allclose(logits.grad.numpy(), grad / len(kept), rtol=1e-12, atol=1e-15)


def test_cross_entropy_picks_its_classes_without_an_array_of_the_logits_size():
    """A language model's logits are large: the one-hot mask the targets were compared into cost three more
    arrays of their size (bool, float, product); the classes are gathered now, as PyTorch's nll_loss does."""
    logits = gg.tensor(np.zeros((8, 50), np.float32), requires_grad=True)
    target = gg.tensor(np.arange(8))
    fn = gg.compile(lambda z, t: F.cross_entropy(z, t))
    for stage in ("forward", "backward"):
        graph = fn.graph(logits, target, stage=stage)
        large = [n.op for n in graph.nodes if getattr(n.output.type, "shape", ()) == (8, 50)]
        assert "eq" not in large and "cast" not in large and large.count("mul") <= 1, (stage, large)


@pytest.mark.parametrize("index, message", [  # PyTorch 2.13's words (NumPy says "axis", "array")
    (5, "index 5 is out of bounds for dimension 0 with size 4"),
    (-5, "index -5 is out of bounds for dimension 0 with size 4"),
    ([5], "index 5 is out of bounds for dimension 0 with size 4"),
    ((1, 2), "too many indices for tensor of dimension 1"),
])
def test_out_of_range_indexing_says_what_pytorch_says(index, message):
    with pytest.raises(IndexError, match="^" + re.escape(message) + "$"):
        gg.ones(4)[index]
    with pytest.raises(IndexError, match="^" + re.escape(message)):  # (then where, in the user's code)
        gg.compile(lambda x: x[index])(gg.ones(4))


def test_an_index_tensor_out_of_range_says_what_pytorch_says():
    # eagerly the message named graphgrad's internal op (gather_rows(f32[4], i64[1]): ...) and NumPy's "axis"
    with pytest.raises(IndexError, match=r"^index 5 is out of bounds for dimension 0 with size 4$"):
        gg.ones(4)[gg.tensor([5])]
    with pytest.raises(IndexError, match=r"^index 7 is out of bounds for dimension 1 with size 3$"):
        gg.ones(2, 3)[:, 7]
    with pytest.raises(IndexError, match=r"^index 5 is out of bounds for dimension 0 with size 4 \(in the generated"):
        gg.compile(lambda x, i: x[i])(gg.ones(4), gg.tensor([5]))
    with pytest.raises(IndexError, match=r"^invalid index of a 0-dim tensor\. Use `tensor\.item\(\)`"):
        gg.tensor(1.0)[0]
