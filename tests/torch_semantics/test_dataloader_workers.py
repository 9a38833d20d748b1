"""Issue 13 §6: DataLoader(num_workers > 0) loads in worker processes, in order, seeded as PyTorch seeds them."""
import os

import pytest

import graphgrad as torch
from graphgrad.utils.data import DataLoader, Dataset, TensorDataset, get_worker_info


class Probe(Dataset):
    """Each sample says which process and worker built it, and draws one random number there."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == 7 and getattr(self, "fail", False):
            raise ValueError("sample 7 is broken")
        info = get_worker_info()
        return torch.tensor([float(i)]), info.id if info else -1, os.getpid(), torch.rand(1)


def test_batches_come_in_order_from_other_processes():
    serial = [x.tolist() for x, *_ in DataLoader(Probe(), batch_size=3)]
    batches = list(DataLoader(Probe(), batch_size=3, num_workers=2))
    assert [x.tolist() for x, *_ in batches] == serial
    assert [w.tolist() for _, w, _, _ in batches] == [[0, 0, 0], [1, 1, 1], [0, 0, 0], [1]]  # round robin
    pids = {int(p) for _, _, pid, _ in batches for p in pid}
    assert len(pids) == 2 and os.getpid() not in pids
    assert get_worker_info() is None
    tensors = DataLoader(TensorDataset(torch.arange(5.0), torch.arange(5)), batch_size=2, num_workers=3)
    assert [y.tolist() for _, y in tensors] == [[0, 1], [2, 3], [4]]
    singles = DataLoader(TensorDataset(torch.arange(3.0)), batch_size=None, num_workers=2)
    assert [x[0].item() for x in singles] == [0.0, 1.0, 2.0]


def test_workers_are_seeded_from_the_loader_generator():
    def draws(seed):
        loader = DataLoader(Probe(), batch_size=5, num_workers=2, generator=torch.Generator().manual_seed(seed))
        return [r.tolist() for *_, r in loader]

    first = draws(3)
    assert first == draws(3) and first != draws(4)
    assert first[0] != first[1]  # the two workers' streams differ


def test_worker_errors_and_init_fn():
    broken = Probe()
    broken.fail = True
    with pytest.raises(ValueError, match=r"^Caught ValueError in DataLoader worker process 1\.\nOriginal Traceback "
                                         r"(.|\n)*sample 7 is broken"):
        list(DataLoader(broken, batch_size=2, num_workers=2))
    seen = []

    def init(worker_id):
        assert get_worker_info().id == worker_id and get_worker_info().num_workers == 2
        torch.manual_seed(100 + worker_id)

    batches = list(DataLoader(Probe(), batch_size=5, num_workers=2, worker_init_fn=init))
    torch.manual_seed(100)
    seen.append(torch.rand(5).tolist())
    assert [r.reshape(-1).tolist() for *_, r in batches][0] == seen[0]
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified in multiprocessing"):
        DataLoader(Probe(), prefetch_factor=2)
