"""Devices as PyTorch programs query them: ``torch.device``, ``torch.cuda``, ``torch.accelerator``,
``torch.set_default_device`` and ``torch.backends.mps``.

The CPU (NumPy) always works; ``"cuda"`` is CuPy on an NVIDIA GPU, where CuPy is installed and a GPU is usable.

>>> import graphgrad as torch
>>> device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
>>> torch.ones(2, device=device).device.type == device.type  # (a tensor's device has an index: cuda:0)
True
>>> torch.device("cuda", 0)
device(type='cuda', index=0)
"""
from __future__ import annotations

import functools

_TYPES = ("cpu", "cuda")


class device:
    """A device: ``device("cpu")``, ``device("cuda")``, ``device("cuda:0")`` or ``device("cuda", 0)``."""

    __slots__ = ("type", "index")

    def __init__(self, type: "str | device", index: int | None = None):  # noqa: A002
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index  # noqa: A001
        elif isinstance(type, int):
            type, index = "cuda", type  # noqa: A001  (torch.device(0) is the first GPU)
        elif not isinstance(type, str):
            raise TypeError(f"device() received an invalid combination of arguments - got ({type.__class__.__name__})")
        name = type
        if ":" in name:
            if index is not None:
                raise RuntimeError(f"type (string) must not include an index because index was passed explicitly: "
                                   f"{name}")
            name, _, number = name.partition(":")
            if not number.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}'")
            index = int(number)
        if name not in _TYPES:
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {type}")
        if index is not None and index < 0:
            raise RuntimeError("Device index must not be negative")
        self.type = name
        self.index = index

    def __repr__(self) -> str:
        return f"device(type='{self.type}')" if self.index is None else \
            f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):  # graphgrad also compares with strings, as its earlier str devices did
            try:
                other = device(other)
            except RuntimeError:
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (self.type, self.index))


CPU = device("cpu")
CUDA0 = device("cuda", 0)
_default = [CPU]


def default_device() -> device:
    return _default[0]


def set_default_device(d) -> None:
    """Where factories (``zeros``, ``randn``, ``tensor`` …) put new tensors when ``device=`` is not given."""
    d = CPU if d is None else device(d)
    if d.type == "cuda":
        from .tensor import require_cupy

        require_cupy()
    _default[0] = d


def get_default_device() -> device:
    return _default[0]


@functools.lru_cache(maxsize=None)
def _cuda_count() -> int:
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # no CuPy, or CuPy without a driver or GPU
        return 0


class _Cuda:
    """``torch.cuda``: what a program asks before choosing a device."""

    @staticmethod
    def is_available() -> bool:
        return _cuda_count() > 0

    @staticmethod
    def device_count() -> int:
        return _cuda_count()

    @staticmethod
    def current_device() -> int:
        if not _cuda_count():
            raise RuntimeError("No CUDA GPUs are available")
        return 0

    @staticmethod
    def get_device_name(device=None) -> str:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"]
        return name.decode() if isinstance(name, bytes) else name

    @staticmethod
    def manual_seed(seed: int) -> None:
        """Seeds the shared generator (graphgrad draws random numbers on the CPU for every device)."""
        from .factories import manual_seed

        manual_seed(seed)

    manual_seed_all = manual_seed

    @staticmethod
    def synchronize(device=None) -> None:
        if _cuda_count():
            import cupy

            cupy.cuda.Device().synchronize()

    @staticmethod
    def empty_cache() -> None:
        if _cuda_count():
            import cupy

            cupy.get_default_memory_pool().free_all_blocks()


class _Accelerator:
    """``torch.accelerator``: the GPU when one is usable, else none."""

    @staticmethod
    def is_available() -> bool:
        return _cuda_count() > 0

    @staticmethod
    def current_accelerator(check_available: bool = False) -> device | None:
        return device("cuda") if _cuda_count() else None

    @staticmethod
    def device_count() -> int:
        return _cuda_count()


class _Mps:
    @staticmethod
    def is_available() -> bool:
        return False

    @staticmethod
    def is_built() -> bool:
        return False


class _Cudnn:
    """``torch.backends.cudnn``: settings programs write; graphgrad has no cuDNN, so they change nothing."""

    enabled = True
    deterministic = False
    benchmark = False

    @staticmethod
    def is_available() -> bool:
        return False


class _Backends:
    mps = _Mps()
    cudnn = _Cudnn()


cuda = _Cuda()
accelerator = _Accelerator()
backends = _Backends()
