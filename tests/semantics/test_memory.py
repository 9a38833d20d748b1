"""The graph's saved arrays are released by backward(), and nothing is kept alive by reference cycles:
memory is freed by reference counting alone, as PyTorch users expect."""
import gc
import weakref

import pytest

import graphgrad as torch


@pytest.fixture
def no_gc():
    """Refcounting only: anything that survives here would need the cycle collector to be freed."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def _graph():
    x = torch.randn(1000, 1000, requires_grad=True)
    hidden = x * 2
    saved = weakref.ref(hidden._data)  # sin() saves its input: the graph holds this 8 MB array
    y = hidden.sin().sum()
    return x, y, saved


def test_backward_releases_saved_arrays(no_gc):
    x, y, saved = _graph()
    assert saved() is not None  # held by the graph, not by us
    y.backward()
    assert saved() is None
    assert x.grad is not None


def test_retain_graph_keeps_them_until_the_last_backward(no_gc):
    x, y, saved = _graph()
    y.backward(retain_graph=True)
    assert saved() is not None
    y.backward()
    assert saved() is None


def test_autograd_grad_releases_too(no_gc):
    x, y, saved = _graph()
    torch.autograd.grad(y, x)
    assert saved() is None


def test_no_reference_cycles_keep_tensors_or_nodes_alive(no_gc):
    x = torch.randn(100, requires_grad=True)
    y = (x * 2).exp()
    loss = (y * x).sum()
    y.retain_grad()
    y.register_hook(lambda g: g)
    refs = [weakref.ref(t) for t in (y, loss)] + [weakref.ref(loss.grad_fn), weakref.ref(y.grad_fn)]
    loss.backward()
    del y, loss
    assert [r() for r in refs] == [None] * len(refs)
    x_ref = weakref.ref(x)
    del x
    assert x_ref() is None


def test_an_unused_graph_is_freed_without_backward(no_gc):
    x = torch.randn(100, requires_grad=True)
    y = (x * 2).tanh()
    node = weakref.ref(y.grad_fn)
    del y
    assert node() is None
