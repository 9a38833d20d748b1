"""PyTorch's checkpoint format: a zip archive holding ``data.pkl`` (a protocol-2 pickle whose tensors are
``torch._utils._rebuild_tensor_v2`` calls on storages named by persistent ids) and one ``data/<key>`` record
of raw little-endian bytes per storage. ``graphgrad.save`` writes it and ``graphgrad.load`` reads it, so state
dicts move between PyTorch and graphgrad in both directions — without PyTorch installed.

>>> import io, graphgrad as gg
>>> buffer = io.BytesIO()
>>> gg.save({"w": gg.tensor([1.0, 2.0])}, buffer)
>>> buffer.getvalue()[:2]  # a zip archive, as torch.save writes
b'PK'
"""
from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict

import numpy as np

from ..runtime.tensor import Tensor, _to_array

_STORAGES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
             "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
             "ByteStorage": np.uint8, "BoolStorage": np.bool_}
_BY_DTYPE = {np.dtype(v): k for k, v in _STORAGES.items()}


def is_zip(f) -> bool:
    start = f.tell()
    magic = f.read(4)
    f.seek(start)
    return magic == b"PK\x03\x04"


# -- writing ----------------------------------------------------------------------------------------------
class _Global:
    """A reference written as a pickle GLOBAL (``torch._utils._rebuild_tensor_v2``) without importing it."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle requires a callable in a reduce tuple; only its name is written
        raise TypeError(f"{self.module}.{self.name} is a reference for a PyTorch checkpoint, not a function")


class _Storage:
    def __init__(self, key: str, array: np.ndarray):
        self.key, self.array = key, array


class _Writer(pickle._Pickler):  # the Python pickler: it lets GLOBALs name modules that are not installed
    dispatch = pickle._Pickler.dispatch.copy()

    def __init__(self, file):
        super().__init__(file, protocol=2)
        self.storages: dict[int, _Storage] = {}

    def _save_global(self, obj: _Global) -> None:
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    dispatch[_Global] = _save_global

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            dtype = np.dtype(obj.array.dtype)
            if dtype not in _BY_DTYPE:
                raise TypeError(f"cannot save a tensor of dtype {dtype} in PyTorch's format")
            return ("storage", _Global("torch", _BY_DTYPE[dtype]), obj.key, "cpu", int(obj.array.size))
        return None

    def reducer_override(self, obj):
        if not isinstance(obj, Tensor):
            return NotImplemented
        from ..nn.parameter import Parameter

        array = obj.numpy(force=True)
        if not array.flags.c_contiguous:  # (not for every array: ascontiguousarray makes a 0-d array 1-d)
            array = np.ascontiguousarray(array)
        if isinstance(obj, Parameter):
            plain = Tensor._wrap(array)
            return (_Global("torch._utils", "_rebuild_parameter"), (plain, obj.requires_grad, OrderedDict()))
        storage = self.storages.get(id(obj._data))
        if storage is None:
            storage = self.storages[id(obj._data)] = _Storage(str(len(self.storages)), array.reshape(-1))
        strides = tuple(s // array.itemsize for s in array.strides) if array.ndim else ()
        return (_Global("torch._utils", "_rebuild_tensor_v2"),
                (storage, 0, tuple(array.shape), strides, obj.requires_grad, OrderedDict()))


def write(obj, f, archive: str = "archive") -> None:
    """Write ``obj`` as ``torch.save`` does (zip archive, uncompressed records)."""
    data = io.BytesIO()
    writer = _Writer(data)
    writer.dump(obj)
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(f"{archive}/data.pkl", data.getvalue())
        z.writestr(f"{archive}/byteorder", "little")
        for storage in writer.storages.values():
            z.writestr(f"{archive}/data/{storage.key}", storage.array.astype(storage.array.dtype.newbyteorder("<"),
                                                                             copy=False).tobytes())
        z.writestr(f"{archive}/version", "3\n")


# -- reading ----------------------------------------------------------------------------------------------
class _StorageType:
    def __init__(self, name: str):
        self.dtype = np.dtype(_STORAGES[name])


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None) -> Tensor:
    itemsize = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[storage_offset:], shape=tuple(size),
                                           strides=tuple(s * itemsize for s in stride))
    # graphgrad's dtypes (as gg.tensor/from_numpy make them): an int32, uint8 or float16 array held as it is would
    # compute as that dtype (uint8 wraps, float16 rounds) under the int64 or float32 the tensor reports
    return Tensor._wrap(_to_array(np.array(view), None), bool(requires_grad))


def _rebuild_parameter(data: Tensor, requires_grad: bool, backward_hooks=None):
    from ..nn.parameter import Parameter

    return Parameter(data, requires_grad)


_TORCH_NAMES = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
                ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
                ("collections", "OrderedDict"): OrderedDict}


def read(f, unpickler_base: type, prefix_hint: str | None = None):
    """Read a ``torch.save`` archive; ``unpickler_base`` decides which other globals may be rebuilt."""
    with zipfile.ZipFile(f) as z:
        names = [n for n in z.namelist() if n.endswith("data.pkl")]
        if not names:
            raise RuntimeError("PytorchStreamReader failed locating file data.pkl: file not found")
        prefix = names[0][:-len("data.pkl")]
        loaded: dict[str, np.ndarray] = {}

        class _Reader(unpickler_base):
            def find_class(self, module: str, name: str):
                if (module, name) in _TORCH_NAMES:
                    return _TORCH_NAMES[(module, name)]
                if module == "torch" and name in _STORAGES:
                    return _StorageType(name)
                return super().find_class(module, name)

            def persistent_load(self, pid):
                kind, storage_type, key, _location, numel = pid
                if kind != "storage":
                    raise pickle.UnpicklingError(f"unknown persistent id {kind!r} in a PyTorch checkpoint")
                if key not in loaded:
                    raw = z.read(f"{prefix}data/{key}")
                    loaded[key] = np.frombuffer(raw, dtype=storage_type.dtype.newbyteorder("<"))[:numel] \
                        .astype(storage_type.dtype)
                return loaded[key]

        return _Reader(io.BytesIO(z.read(names[0]))).load()
