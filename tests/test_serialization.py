"""gg.save / gg.load round-trip checkpoints as torch.save / torch.load do, and refuse to run code by default."""
import collections
import io
import os
import pickle

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn


def test_checkpoint_round_trip_resumes_training(tmp_path):
    gg.manual_seed(0)
    model = nn.Linear(3, 2)
    opt = gg.optim.Adam(model.parameters(), lr=0.1)
    x = gg.randn(8, 3)
    for _ in range(2):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
    path = tmp_path / "checkpoint.pt"
    gg.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 2,
             "labels": gg.tensor([1, 0])}, path)
    checkpoint = gg.load(path)
    assert checkpoint["epoch"] == 2 and checkpoint["labels"].dtype == gg.int64
    restored = nn.Linear(3, 2)
    restored.load_state_dict(checkpoint["model"])
    restored_opt = gg.optim.Adam(restored.parameters(), lr=0.1)
    restored_opt.load_state_dict(checkpoint["optimizer"])
    for m, o in ((model, opt), (restored, restored_opt)):
        o.zero_grad()
        m(x).pow(2).mean().backward()
        o.step()
    for a, b in zip(model.parameters(), restored.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_parameters_and_requires_grad_survive():
    buffer = io.BytesIO()
    gg.save([nn.Parameter(gg.ones(2)), gg.ones(1, requires_grad=True)], buffer)
    buffer.seek(0)
    p, t = gg.load(buffer)
    assert isinstance(p, nn.Parameter) and p.requires_grad and t.requires_grad and t.is_leaf


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_weights_only_refuses_code_and_whole_modules():
    buffer = io.BytesIO(pickle.dumps(_Exploit()))
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed. Unsupported global: GLOBAL "
                                                     "(posix|os|nt).system was not an allowed global"):
        gg.load(buffer)
    buffer = io.BytesIO()
    gg.save(nn.Linear(2, 2), buffer)
    buffer.seek(0)
    with pytest.raises(pickle.UnpicklingError, match="graphgrad.nn.layers.Linear"):
        gg.load(buffer)
    buffer.seek(0)
    assert isinstance(gg.load(buffer, weights_only=False), nn.Linear)


@pytest.mark.parametrize("zip_format", [True, False])
def test_weights_only_reads_scheduler_states_and_the_types_pytorch_allows(zip_format):
    # PyTorch's weights-only unpickler allows collections.Counter (MultiStepLR keeps its milestones in one), and
    # bytes and bytearray, which a protocol-2 pickle (torch.save's format) names as _codecs.encode and
    # __builtin__.bytearray
    opt = gg.optim.SGD([gg.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = gg.optim.lr_scheduler.MultiStepLR(opt, [2, 4, 4])
    opt.step()
    scheduler.step()
    state = {"scheduler": scheduler.state_dict(), "optimizer": opt.state_dict(), "raw": b"\x00\xff",
             "buffer": bytearray(b"ab"), "counts": collections.Counter("aab")}
    buffer = io.BytesIO()
    gg.save(state, buffer, _use_new_zipfile_serialization=zip_format)
    buffer.seek(0)
    loaded = gg.load(buffer)
    assert loaded["scheduler"]["milestones"] == collections.Counter({2: 1, 4: 2})
    assert type(loaded["scheduler"]["milestones"]) is collections.Counter
    assert loaded["scheduler"] == scheduler.state_dict() and loaded["optimizer"] == opt.state_dict()
    assert loaded["raw"] == b"\x00\xff" and loaded["buffer"] == bytearray(b"ab")
    assert type(loaded["buffer"]) is bytearray and loaded["counts"] == collections.Counter(a=2, b=1)
    restored = gg.optim.lr_scheduler.MultiStepLR(opt, [1])
    restored.load_state_dict(loaded["scheduler"])
    assert restored.milestones == scheduler.milestones and restored.last_epoch == 1
