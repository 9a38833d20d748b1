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

import os
import pickle
from typing import IO, Any

# Everything a weights-only file may name: tensor and parameter rebuilders, NumPy's array reconstruction,
# the containers state dicts are made of.
_WEIGHTS_ONLY = {
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
        if (module, name) in _WEIGHTS_ONLY or (module.startswith("numpy") and name.endswith("DType")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"Weights only load failed. Unsupported global: GLOBAL {module}.{name} was not an allowed global by "
            "default. Load with weights_only=False only if you trust the file's source.")


def save(obj: Any, f: str | os.PathLike | IO[bytes]) -> None:
    """Write ``obj`` (tensors, ``state_dict()``s, optimizer states, nested containers) to a path or file."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    else:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def load(f: str | os.PathLike | IO[bytes], map_location=None, weights_only: bool = True) -> Any:
    """Read what :func:`save` wrote. Tensors come back on the CPU (``map_location`` is accepted for
    compatibility). ``weights_only=False`` also rebuilds arbitrary objects, such as whole modules: use it only
    for files you trust."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            return load(fh, map_location, weights_only)
    if not weights_only:
        return pickle.load(f)
    return _WeightsOnlyUnpickler(f).load()
