"""Issue 13 §6: graphgrad.multiprocessing — tensors in shared memory, seen and updated by other processes
(Hogwild training as PyTorch's mnist_hogwild example does it)."""
import multiprocessing

import pytest

import graphgrad as torch
import graphgrad.multiprocessing as mp
from graphgrad import nn

needs_fork = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                                reason="forked workers are how Linux and macOS start processes by default")


def _train(rank, model, steps):
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(steps):
        opt.zero_grad()
        (model.weight.sum() + model.bias.sum()).backward()  # gradient 1 everywhere
        opt.step()


@needs_fork
def test_processes_train_one_shared_model():
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.zero_()
    assert model.share_memory() is model and model.weight.is_shared() and not torch.zeros(1).is_shared()
    context = mp.get_context("fork")
    for rank in range(2):  # one after the other: each sees the other's updates
        p = context.Process(target=_train, args=(rank, model, 4))
        p.start()
        p.join()
        assert p.exitcode == 0
    assert model.weight.tolist() == [[-4.0, -4.0], [-4.0, -4.0]] and model.bias.tolist() == [-4.0, -4.0]
    model(torch.ones(1, 2)).sum().backward()  # the shared parameters still train here
    assert model.weight.grad.tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_shared_tensors_travel_by_reference():
    from multiprocessing.reduction import ForkingPickler

    t = torch.zeros(3).share_memory_()
    p = nn.Parameter(torch.ones(2)).share_memory_()
    t2 = ForkingPickler.loads(ForkingPickler.dumps(t))
    p2 = ForkingPickler.loads(ForkingPickler.dumps(p))
    t2[1] = 5.0
    assert t.tolist() == [0.0, 5.0, 0.0] and t2.is_shared()
    assert isinstance(p2, nn.Parameter) and p2.requires_grad
    with torch.no_grad():
        p2.add_(1.0)
    assert p.tolist() == [2.0, 2.0]
    plain = ForkingPickler.loads(ForkingPickler.dumps(torch.ones(2)))
    assert plain.tolist() == [1.0, 1.0] and not plain.is_shared()
