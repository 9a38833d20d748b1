"""Issue 13 §6: state dicts move between PyTorch's checkpoint format and graphgrad, both ways.

The fixture is written byte for byte as ``torch.save(model.state_dict(), f)`` lays it out (a zip archive
named after the file; ``data.pkl`` a protocol-2 pickle of an OrderedDict with ``_metadata``; tensors as
``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, OrderedDict())`` on storages
given by persistent ids ``('storage', torch.FloatStorage, key, 'cpu', numel)``; one raw record per storage)."""
import io
import pickle
import pickletools
import struct
import zipfile

import numpy as np
import pytest

import graphgrad as torch
from graphgrad import nn


def _op_global(module, name):
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def _unicode(s):
    raw = s.encode()
    return pickle.BINUNICODE + struct.pack("<I", len(raw)) + raw


def _int(n):
    return pickle.BININT + struct.pack("<i", n)


def _tuple(items):
    return pickle.MARK + b"".join(items) + pickle.TUPLE


def _tensor(key, storage_type, numel, offset, size, stride):
    storage = _tuple([_unicode("storage"), _op_global("torch", storage_type), _unicode(key), _unicode("cpu"),
                      _int(numel)]) + pickle.BINPERSID
    hooks = _op_global("collections", "OrderedDict") + pickle.EMPTY_TUPLE + pickle.REDUCE
    args = _tuple([storage, _int(offset), _tuple([_int(d) for d in size]), _tuple([_int(s) for s in stride]),
                   pickle.NEWFALSE, hooks])
    return _op_global("torch._utils", "_rebuild_tensor_v2") + args + pickle.REDUCE


def pytorch_style_checkpoint() -> bytes:
    """fc.weight (2x3) and a transposed view of the same storage (tied weights), fc.bias at offset 6 of a
    second storage, and an int64 buffer, as PyTorch 2.x writes them."""
    items = [
        (_unicode("fc.weight"), _tensor("0", "FloatStorage", 6, 0, (2, 3), (3, 1))),
        (_unicode("tied.weight"), _tensor("0", "FloatStorage", 6, 0, (3, 2), (1, 3))),
        (_unicode("fc.bias"), _tensor("1", "FloatStorage", 8, 6, (2,), (1,))),
        (_unicode("steps"), _tensor("2", "LongStorage", 1, 0, (), ())),
    ]
    metadata = (_op_global("collections", "OrderedDict") + pickle.EMPTY_TUPLE + pickle.REDUCE + pickle.MARK
                + _unicode("") + pickle.EMPTY_DICT + pickle.MARK + _unicode("version") + _int(1) + pickle.SETITEMS
                + pickle.SETITEMS)
    body = (pickle.PROTO + b"\x02" + _op_global("collections", "OrderedDict") + pickle.EMPTY_TUPLE + pickle.REDUCE
            + pickle.MARK + b"".join(k + v for k, v in items) + pickle.SETITEMS
            + pickle.EMPTY_DICT + _unicode("_metadata") + metadata + pickle.SETITEM + pickle.BUILD + pickle.STOP)
    pickletools.dis(body, out=io.StringIO())  # a well-formed pickle
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("model/data.pkl", body)
        z.writestr("model/byteorder", "little")
        z.writestr("model/data/0", np.arange(6, dtype="<f4").tobytes())
        z.writestr("model/data/1", np.arange(8, dtype="<f4").tobytes())
        z.writestr("model/data/2", np.array([7], dtype="<i8").tobytes())
        z.writestr("model/version", "3\n")
    return buffer.getvalue()


def test_a_pytorch_checkpoint_loads():
    state = torch.load(io.BytesIO(pytorch_style_checkpoint()))
    assert list(state) == ["fc.weight", "tied.weight", "fc.bias", "steps"]
    assert state["fc.weight"].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert state["tied.weight"].tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    assert state["fc.bias"].tolist() == [6.0, 7.0] and state["fc.bias"].dtype == torch.float32
    assert state["steps"].item() == 7 and state["steps"].dtype == torch.int64
    assert state._metadata == {"": {"version": 1}}
    model = nn.Module()
    model.fc = nn.Linear(3, 2)
    result = model.load_state_dict({k: state[k] for k in ("fc.weight", "fc.bias")}, strict=True)
    assert result.missing_keys == [] and model.fc(torch.ones(1, 3)).tolist() == [[9.0, 19.0]]


def test_graphgrad_writes_pytorchs_layout_and_reads_it_back(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["model/byteorder", "model/data.pkl", "model/data/0", "model/data/1",
                                        "model/data/2", "model/data/3", "model/version"]
        assert all(info.compress_type == zipfile.ZIP_STORED for info in z.infolist())
        listing = io.StringIO()
        pickletools.dis(z.read("model/data.pkl"), out=listing)
        text = listing.getvalue()
        assert "PROTO      2" in text and "GLOBAL     'torch._utils _rebuild_tensor_v2'" in text
        assert "GLOBAL     'torch FloatStorage'" in text and "BINPERSID" in text
        assert np.frombuffer(z.read("model/data/0"), "<f4").tolist() == model[0].weight.detach().numpy().ravel().tolist()
    again = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    again.load_state_dict(torch.load(path))
    x = torch.randn(5, 3)
    assert again(x).tolist() == model(x).tolist()


def test_weights_only_still_guards_zip_checkpoints():
    buffer = io.BytesIO()
    torch.save(nn.Linear(2, 2), buffer)
    buffer.seek(0)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        torch.load(buffer)
    buffer.seek(0)
    assert isinstance(torch.load(buffer, weights_only=False), nn.Linear)
    plain = io.BytesIO()
    torch.save({"w": torch.ones(2)}, plain, _use_new_zipfile_serialization=False)
    plain.seek(0)
    assert torch.load(plain)["w"].tolist() == [1.0, 1.0]


def test_storages_of_dtypes_graphgrad_lacks_load_as_its_own_dtypes():
    # uint8/int32 (int64) and float16 (float32) storages were held as they are under the dtype the tensor
    # reports: `mask - 5` wrapped around in uint8, int32 overflowed, float16 rounded
    body = (pickle.PROTO + b"\x02" + pickle.MARK
            + _tensor("0", "ByteStorage", 3, 0, (3,), (1,))
            + _tensor("1", "IntStorage", 1, 0, (), ())
            + _tensor("2", "HalfStorage", 2, 0, (2,), (1,))
            + pickle.LIST + pickle.STOP)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", body)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", np.array([0, 1, 2], dtype="u1").tobytes())
        z.writestr("archive/data/1", np.array([2 ** 30], dtype="<i4").tobytes())
        z.writestr("archive/data/2", np.array([1.0, 2.0], dtype="<f2").tobytes())
        z.writestr("archive/version", "3\n")
    buffer.seek(0)
    mask, count, half = torch.load(buffer)
    assert mask.dtype == torch.int64 and (mask - 5).tolist() == [-5, -4, -3]
    assert count.dtype == torch.int64 and (count * 4).item() == 2 ** 32
    assert half.dtype == torch.float32 and (half + 1e-4).tolist() == [np.float32(1.0001), np.float32(2.0001)]
    assert mask.numpy().dtype == np.int64 and half.numpy().dtype == np.float32
