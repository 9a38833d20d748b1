"""``graphgrad.save`` / ``graphgrad.load``: tensors, state dicts and optimizer states in a file, as
``torch.save``/``torch.load`` keep them.

Files are pickles. ``load`` defaults to ``weights_only=True``, as PyTorch 2.6 and later do: only tensors,
NumPy arrays and plain containers are rebuilt, never arbitrary classes, so loading an untrusted checkpoint
cannot run code.

>>> import io, graphgrad as gg
>>> buffer = io.BytesIO()
>>> gg.save({"w": gg.ones(2)}, buffer)
>>> _ = buffer.seek(0)
>>> gg.load(buffer)
{'w': tensor([1., 1.])}
"""
from __future__ import annotations

import _compat_pickle
import os
import pickle
from typing import IO, Any

from . import torch_format

# Everything a weights-only file may name: tensor and parameter rebuilders, NumPy's array reconstruction,
# the containers state dicts are made of. PyTorch's weights-only unpickler also allows Counter (MultiStepLR's
# milestones), and _codecs.encode and bytearray, which protocol-2 pickles (torch.save's) use for bytes.
_WEIGHTS_ONLY = {
    ("collections", "Counter"),
    ("_codecs", "encode"),
    ("builtins", "bytearray"),
    ("graphgrad.runtime.tensor", "_rebuild"),
    ("graphgrad.nn.parameter", "_rebuild_parameter"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "slice"),
    ("builtins", "complex"),
}


class _WeightsOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        # protocol 2 names Python 2's modules (__builtin__.bytearray): check the names they stand for, as PyTorch
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in _WEIGHTS_ONLY or (module.startswith("numpy") and name.endswith("DType")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"Weights only load failed. Unsupported global: GLOBAL {module}.{name} was not an allowed global by "
            "default. Load with weights_only=False only if you trust the file's source.")


def save(obj: Any, f: str | os.PathLike | IO[bytes], _use_new_zipfile_serialization: bool = True) -> None:
    """Write ``obj`` (tensors, ``state_dict()``s, optimizer states, nested containers) to a path or file, in
    PyTorch's zip format: ``torch.load`` reads a state dict graphgrad saved (``_use_new_zipfile_serialization
    =False``: a plain pickle, which only graphgrad reads)."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            return _save(obj, fh, _use_new_zipfile_serialization, os.path.basename(os.fspath(f)).split(".")[0])
    return _save(obj, f, _use_new_zipfile_serialization, "archive")


def _save(obj, fh, zip_format: bool, archive: str) -> None:
    if zip_format:
        torch_format.write(obj, fh, archive or "archive")
    else:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)


def load(f: str | os.PathLike | IO[bytes], map_location=None, weights_only: bool = True) -> Any:
    """Read what :func:`save` or ``torch.save`` wrote (PyTorch's zip format, or a plain pickle). Tensors come
    back on the CPU (``map_location`` is accepted for compatibility). ``weights_only=False`` also rebuilds
    arbitrary objects, such as whole modules: use it only for files you trust."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            return load(fh, map_location, weights_only)
    if torch_format.is_zip(f):
        return torch_format.read(f, _WeightsOnlyUnpickler if weights_only else pickle.Unpickler)
    obj = pickle.load(f) if not weights_only else _WeightsOnlyUnpickler(f).load()
    if isinstance(obj, int) and obj == _LEGACY_MAGIC:  # the first of several pickles, not the object saved
        raise RuntimeError("graphgrad.load: this file is in PyTorch's legacy checkpoint format (torch.save before "
                           "PyTorch 1.6, or _use_new_zipfile_serialization=False), which graphgrad does not read; "
                           "load it in PyTorch and save it again with torch.save(obj, path) (the zip format)")
    return obj


#: the number a legacy (non-zip) torch.save file begins with
_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
