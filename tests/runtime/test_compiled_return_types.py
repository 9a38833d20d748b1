"""A compiled function returns the ``torch.return_types`` named tuple eager code returns (``x.max(dim=1)`` is a
``torch.return_types.max`` with ``values`` and ``indices``), and gradients flow through its values."""
import numpy as np
import pytest

import graphgrad as gg

X = [[1.0, 5.0, 3.0], [4.0, 2.0, 6.0], [0.5, -1.0, 0.25]]

CASES = {
    "max_dim": lambda x: x.max(dim=1),
    "min_keepdim": lambda x: x.min(0, keepdim=True),
    "torch_max": lambda x: gg.max(x, 1),
    "max_0d": lambda x: x[0, 1].max(0),
    "sort": lambda x: x.sort(1, descending=True),
    "torch_sort": lambda x: gg.sort(x, 0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_returns_eagers_named_tuple_with_its_gradient(name):
    fn = CASES[name]
    xe = gg.tensor(X, dtype=gg.float64, requires_grad=True)
    xc = gg.tensor(X, dtype=gg.float64, requires_grad=True)
    eager, compiled = fn(xe), gg.compile(fn)(xc)
    assert type(compiled) is type(eager)
    assert type(compiled).__module__ == "graphgrad.ir.return_types"
    assert repr(compiled).startswith("torch.return_types.")
    np.testing.assert_array_equal(compiled.indices.numpy(), eager.indices.numpy())
    np.testing.assert_array_equal(compiled.values.detach().numpy(), eager.values.detach().numpy())
    assert compiled.values.requires_grad and not compiled.indices.requires_grad
    w = np.arange(1.0, 1.0 + eager.values.numel()).reshape(eager.values.shape)
    (eager.values * gg.tensor(w)).sum().backward()
    (compiled.values * gg.tensor(w)).sum().backward()
    # each weight lands where its value came from
    expected = np.zeros(np.shape(X))
    dim = {"max_dim": 1, "min_keepdim": 0, "torch_max": 1, "sort": 1, "torch_sort": 0}.get(name)
    if dim is None:  # a 0-d tensor is its own maximum
        expected[0, 1] = w
    else:
        np.put_along_axis(expected, eager.indices.numpy().reshape(
            w.shape if w.ndim == 2 else np.expand_dims(w, dim).shape), w if w.ndim == 2 else np.expand_dims(w, dim),
            axis=dim)
    np.testing.assert_array_equal(xe.grad.numpy(), expected)
    np.testing.assert_array_equal(xc.grad.numpy(), expected)
