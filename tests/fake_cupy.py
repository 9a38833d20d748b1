"""A CPU stand-in for CuPy, to run the GPU tests' code paths without a GPU (``tests/runtime/test_cupy_*.py`` run
against it in CI, and against real CuPy on a GPU machine).

What it reproduces of CuPy, as far as graphgrad's code can tell:

- device arrays are their own class (not ``numpy.ndarray``): graphgrad takes them for ``cuda`` tensors;
- CuPy's refusals: a NumPy array given to a CuPy function, ufunc or operator is a ``TypeError`` (as CuPy's
  "Unsupported type"), and an implicit conversion to NumPy (``np.asarray(device_array)``) is a ``TypeError``;
  ``.get()`` / ``cupy.asnumpy`` copy to the host, ``cupy.asarray`` to the device;
- only names real CuPy has (it must be importable, without a GPU, for the namespace), and keyword arguments
  are bound against real CuPy's signatures where those are Python functions;
- reductions and scalar indexing return 0-d device arrays, not NumPy scalars;
- ``ElementwiseKernel`` and ``ReductionKernel`` (sums only): C bodies compiled for the host by a C++ compiler
  (``<cmath>``'s float and double overloads, as CUDA has, and host stand-ins for CUDA's ``erfinv``,
  ``cyl_bessel_i0`` and ``cyl_bessel_i1``), a preamble's ``__device__`` functions, CuPy's rule that an array
  argument's dtype must equal a declared parameter type ("Type is mismatched"), Python scalars taking the declared
  type, broadcasting, the output's declared type, outputs passed in (read and written);
- ``cupy.cuda``: one device, synchronize, events, device properties.

It computes with NumPy, so it says nothing about CUDA's numerics, NVRTC, cuBLAS or speed: those stay for a GPU.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import importlib
import importlib.machinery
import inspect
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types

import numpy as np

CXX = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")


def gpu_available() -> bool:
    """Whether real CuPy sees an NVIDIA GPU."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def real_cupy():
    """Real CuPy's module (importable without a GPU), or None."""
    module = sys.modules.get("cupy")
    if module is not None and getattr(module, "__file__", None) == __file__:
        return module.real
    try:
        return importlib.import_module("cupy")
    except Exception:
        return None


def _refuse(x, what: str = "argument"):
    if isinstance(x, np.ndarray):
        raise TypeError(f"Unsupported type {type(x)} (the fake CuPy, as CuPy, refuses a NumPy array as {what})")
    if isinstance(x, (list, tuple)):
        for y in x:
            _refuse(y, what)


def _unwrap(x):
    if type(x) is ndarray:
        return x._a
    if isinstance(x, list):
        return [_unwrap(y) for y in x]
    if isinstance(x, tuple):
        return tuple(_unwrap(y) for y in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _wrap(x):
    if isinstance(x, np.ndarray):
        return ndarray(x)
    if isinstance(x, np.generic):  # CuPy's reductions and scalar indexing give 0-d arrays
        return ndarray(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(_wrap(y) for y in x)
    if isinstance(x, list):
        return [_wrap(y) for y in x]
    return x


def _checked(fn):
    """``fn`` (a NumPy callable) called as CuPy would be: no NumPy arrays in, device arrays out."""
    def call(*args, **kwargs):
        _refuse(args)
        _refuse(tuple(kwargs.values()))
        return _wrap(fn(*_unwrap(args), **_unwrap(kwargs)))
    return call


class ndarray:
    """A device array: a NumPy array behind CuPy's interface."""

    __slots__ = ("_a", "__weakref__")  # CuPy's arrays take weak references
    __module__ = "cupy"
    __hash__ = None

    def __init__(self, a):
        self._a = a

    def __getattr__(self, name):
        attr = getattr(self._a, name)
        return _checked(attr) if callable(attr) else _wrap(attr)

    @property
    def T(self):
        return ndarray(self._a.T)

    @property
    def shape(self):
        return self._a.shape

    @property
    def dtype(self):
        return self._a.dtype

    @property
    def ndim(self):
        return self._a.ndim

    @property
    def size(self):
        return self._a.size

    @property
    def device(self):  # CuPy's: a cupy.cuda.Device (the fake has one, number 0)
        return _Device(0)

    @property
    def flags(self):  # CuPy's flags: no writeable (device arrays always are)
        f = self._a.flags
        return types.SimpleNamespace(c_contiguous=f.c_contiguous, f_contiguous=f.f_contiguous, owndata=f.owndata)

    @property
    def data(self):  # CuPy's MemoryPointer: .ptr is the device address
        return types.SimpleNamespace(ptr=self._a.__array_interface__["data"][0])

    def get(self, stream=None, order="C", out=None):
        return np.array(self._a, order=order)

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a "
                        "NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _refuse(inputs, f"an operand of {ufunc.__name__}")
        _refuse(tuple(kwargs.values()), f"an argument of {ufunc.__name__}")
        return _wrap(getattr(ufunc, method)(*_unwrap(inputs), **_unwrap(kwargs)))

    def __array_function__(self, func, types_, args, kwargs):
        _refuse(args, f"an argument of {func.__name__}")
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key)])

    def __setitem__(self, key, value):
        _refuse(value, "a value to assign")
        a = self._a
        if not a.flags.writeable:  # CuPy's views are writable, broadcast ones too (NumPy makes those read-only)
            a = a.view()
            a.flags.writeable = True
        a[_unwrap(key)] = _unwrap(value)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(x) for x in self._a)

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __index__(self):
        return self._a.__index__()

    def __complex__(self):
        return complex(self._a)

    def __repr__(self):
        return repr(self._a).replace("array(", "fake_cupy_array(", 1)

    def __str__(self):
        return str(self._a)

    def __dlpack__(self, *args, **kwargs):
        raise TypeError("the fake CuPy has no DLPack")


def _operator(name: str):
    def op(self, *others):
        _refuse(others, f"an operand of {name}")
        return _wrap(getattr(self._a, name)(*_unwrap(others)))

    def inplace(self, other):
        _refuse(other, f"an operand of {name}")
        getattr(self._a, name)(_unwrap(other))
        return self
    return inplace if name.startswith("__i") and name not in ("__index__", "__invert__") else op


for _name in ("add sub mul truediv floordiv mod pow matmul and or xor lshift rshift".split()):
    for _form in (f"__{_name}__", f"__r{_name}__", f"__i{_name}__"):
        setattr(ndarray, _form, _operator(_form))
for _form in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__", "__neg__", "__pos__", "__abs__",
              "__invert__"):
    setattr(ndarray, _form, _operator(_form))


# -- module functions ---------------------------------------------------------------------------------------------
_TRANSFERS = ("asarray", "array", "asanyarray", "ascontiguousarray")


def _to_device(np_fn):
    def call(a, *args, **kwargs):
        return _wrap(np.array(np_fn(_unwrap(a), *args, **kwargs), copy=True))
    return call


def asnumpy(a, stream=None, order="C", out=None):
    return a.get() if type(a) is ndarray else np.asarray(a, order=order)


def _bind_like(real, fn, name: str):
    """``fn`` refusing the keyword arguments CuPy's own ``real`` does not take."""
    try:
        sig = inspect.signature(real)
    except (TypeError, ValueError):
        return fn
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return fn

    def call(*args, **kwargs):
        try:
            sig.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"cupy.{name}: {e}") from None
        return fn(*args, **kwargs)
    return call


def _namespace(np_module, real_module, prefix: str) -> dict:
    out = {}
    for name in dir(real_module):
        if name.startswith("__") or not hasattr(np_module, name):
            continue
        value = getattr(np_module, name)
        real = getattr(real_module, name)
        if isinstance(value, type) or isinstance(value, (np.dtype, int, float, str, bool, types.ModuleType)):
            out[name] = value  # dtypes (cupy.float32 is numpy.float32), constants
        elif callable(value):
            fn = _to_device(value) if name in _TRANSFERS and prefix == "" else _checked(value)
            if isinstance(value, np.ufunc):
                out[name] = _Ufunc(value, fn)
            else:
                out[name] = functools.wraps(value)(_bind_like(real, fn, prefix + name))
    return out


def _where(where):
    """CuPy's ``where`` reads ``condition.astype('?')``: a Python bool as the condition is an AttributeError."""
    def call(condition, x=None, y=None):
        if (x is not None or y is not None) and type(condition) is not ndarray:
            raise AttributeError(f"'{type(condition).__name__}' object has no attribute 'astype'")
        return where(condition) if x is None and y is None else where(condition, x, y)
    return functools.wraps(where)(call)


class _Ufunc:
    def __init__(self, ufunc, call):
        self._ufunc, self._call = ufunc, call
        self.__name__ = ufunc.__name__
        self.nin, self.nout = ufunc.nin, ufunc.nout

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def __getattr__(self, name):  # reduce, at, outer, accumulate
        return _checked(getattr(self._ufunc, name))


# -- ElementwiseKernel: the C body compiled for the host ------------------------------------------------------------
_C_TYPES = {"float32": "float", "float64": "double", "bool": "bool", "int64": "long long", "int32": "int"}

#: CUDA's math functions of double that the host's <cmath> lacks, which kernels may call: stand-ins of full precision
#: computed otherwise (erfinv by bisection on erf, the Bessel functions by libstdc++'s C++17 ``cyl_bessel_i``), each
#: compiled into the kernels that name it
_CUDA_MATH = {
    "erfinv": r"""
static double erfinv(double y) {
    double a = fabs(y);
    if (!(a < 1.0)) return a == 1.0 ? copysign(HUGE_VAL, y) : nan("");
    double lo = 0.0, hi = 6.0;  // erf(6) rounds to 1: the root lies between, found to the last bit
    for (int k = 0; k < 200; k++) {
        double mid = 0.5 * (lo + hi);
        if (mid == lo || mid == hi) break;
        if (a < 0.5 ? erf(mid) < a : erfc(mid) > 1.0 - a) lo = mid; else hi = mid;
    }
    return copysign(a < 0.5 ? (fabs(erf(hi) - a) < fabs(erf(lo) - a) ? hi : lo)
                            : (fabs(erfc(hi) - (1.0 - a)) < fabs(erfc(lo) - (1.0 - a)) ? hi : lo), y);
}
""",
    "cyl_bessel_i0": r"""
static double cyl_bessel_i0(double x) {
    double a = fabs(x);
    return a > 713.987 ? HUGE_VAL : std::cyl_bessel_i(0.0, a);  // (libstdc++ throws beyond)
}
""",
    "cyl_bessel_i1": r"""
static double cyl_bessel_i1(double x) {
    double a = fabs(x);
    return copysign(a > 713.987 ? HUGE_VAL : std::cyl_bessel_i(1.0, a), x);
}
""",
}


@functools.lru_cache(maxsize=None)
def _host_library(source: str):
    directory = os.path.join(tempfile.gettempdir(), f"graphgrad-fake-cupy-{os.getuid()}")
    os.makedirs(directory, exist_ok=True)
    stem = os.path.join(directory, hashlib.sha1(source.encode()).hexdigest())
    if not os.path.exists(stem + ".so"):
        # files of this process's own, then one atomic rename: test runs sharing the directory may compile the same
        # kernel at once (a shared .tmp.so was renamed away under the other's feet)
        own = f"{stem}.{os.getpid()}"
        with open(own + ".cpp", "w") as f:
            f.write(source)
        result = subprocess.run([CXX, "-O1", "-shared", "-fPIC", "-o", own + ".tmp.so", own + ".cpp"],
                                capture_output=True, text=True)
        os.remove(own + ".cpp")
        if result.returncode:
            raise RuntimeError(f"the kernel does not compile (the fake CuPy's host C++):\n{result.stderr}\n{source}")
        os.replace(own + ".tmp.so", stem + ".so")
    return ctypes.CDLL(stem + ".so")


class ElementwiseKernel:
    """CuPy's ``ElementwiseKernel`` for explicitly typed parameters (what graphgrad emits), run on the host."""

    def __init__(self, in_params, out_params, operation, name="kernel", reduce_dims=True, preamble="",
                 no_return=False, return_tuple=False, **kwargs):
        if CXX is None:
            raise RuntimeError("the fake CuPy's ElementwiseKernel needs a C++ compiler")
        self.ins = [tuple(p.split()) for p in in_params.split(",")]
        self.outs = [tuple(p.split()) for p in out_params.split(",")]
        for dtype, pname in self.ins + self.outs:
            if dtype not in _C_TYPES:
                raise NotImplementedError(f"the fake ElementwiseKernel takes only explicit types, not {dtype}")
            if pname == "i":
                raise ValueError("Can not use 'i' as a parameter name")
        self.operation, self.name, self.preamble = operation, name, preamble

    def _library(self):
        params = [f"const {_C_TYPES[t]}* _p{k}" for k, (t, _) in enumerate(self.ins)]
        params += [f"{_C_TYPES[t]}* _q{k}" for k, (t, _) in enumerate(self.outs)]
        loads = "".join(f"    const {_C_TYPES[t]} {n} = _p{k}[_k];\n" for k, (t, n) in enumerate(self.ins))
        decls = "".join(f"    {_C_TYPES[t]} {n} = _q{k}[_k];\n" for k, (t, n) in enumerate(self.outs))
        stores = "".join(f"    _q{k}[_k] = {n};\n" for k, (_, n) in enumerate(self.outs))
        code = self.preamble + self.operation
        cuda = "".join(f for name, f in _CUDA_MATH.items() if name in code)
        prelude = f"#define __device__\n{cuda}{self.preamble}\n" if cuda or self.preamble else ""
        source = (f"#include <cmath>\nusing namespace std;\n{prelude}extern \"C\" void {self.name}(long long _n, "
                  f"{', '.join(params)}) {{\n  for (long long _k = 0; _k < _n; _k++) {{\n{loads}{decls}"
                  f"    {self.operation};\n{stores}  }}\n}}\n")  # CuPy ends the body with a ;
        return getattr(_host_library(source), self.name)

    def __call__(self, *args, **kwargs):
        if len(args) not in (len(self.ins), len(self.ins) + len(self.outs)):
            raise TypeError(f"Wrong number of arguments for {self.name!r}. It must be either {len(self.ins)} or "
                            f"{len(self.ins) + len(self.outs)} (with outputs), but given {len(args)}.")
        _refuse(args, f"an argument of the kernel {self.name}")
        args, given = args[:len(self.ins)], args[len(self.ins):]
        for x, (dtype, pname) in zip(given, self.outs):  # outputs passed in are read as well as written, as in CuPy
            if type(x) is not ndarray or x.dtype != np.dtype(dtype):
                raise TypeError(f"Type is mismatched. {pname} {getattr(x, 'dtype', type(x).__name__)} {dtype}")
        arrays = []
        for x, (dtype, pname) in zip(args, self.ins):
            if type(x) is ndarray:
                if x.dtype != np.dtype(dtype):  # CuPy: an array's dtype must equal a declared type
                    raise TypeError(f"Type is mismatched. {pname} {x.dtype} {dtype}")
                arrays.append(x._a)
            else:
                arrays.append(np.asarray(x, dtype=dtype))
        if not any(type(x) is ndarray for x in args):
            raise ValueError("Loop size is undecided.")
        shape = np.broadcast_shapes(*(a.shape for a in arrays), *(x.shape for x in given))
        if given and any(x.shape != shape for x in given):
            raise ValueError(f"Out shape is mismatched: {[x.shape for x in given]} for the loop's {shape}")
        inputs = [np.ascontiguousarray(np.broadcast_to(a, shape)) for a in arrays]
        outputs = [np.array(x._a, order="C") for x in given] or [np.zeros(shape, dtype) for dtype, _ in self.outs]
        size = int(np.prod(shape))
        if size:
            self._library()(ctypes.c_longlong(size), *[a.ctypes.data_as(ctypes.c_void_p) for a in inputs + outputs])
        for x, o in zip(given, outputs):
            x._a[...] = o
        result = list(given) or [ndarray(o) for o in outputs]
        return result[0] if len(result) == 1 and not kwargs.get("return_tuple") else tuple(result)


class ReductionKernel:
    """CuPy's ``ReductionKernel`` for what graphgrad emits, run on the host: explicitly typed parameters, a map
    expression (calling the preamble's ``__device__`` functions), a sum (``'a + b'``, identity ``'0'``) in
    ``reduce_type``, and a post-map of the sum ``a`` (which may read ``_in_ind.size()``/``_out_ind.size()``)."""

    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr, identity, name="reduce_kernel",
                 reduce_type=None, reduce_dims=True, preamble="", options=()):
        if CXX is None:
            raise RuntimeError("the fake CuPy's ReductionKernel needs a C++ compiler")
        if reduce_expr.replace(" ", "") != "a+b" or str(identity) != "0" or reduce_type not in ("float", "double"):
            raise NotImplementedError("the fake ReductionKernel computes sums ('a + b', identity '0') in a given "
                                      "reduce_type (float or double) only")
        self.ins = [tuple(p.split()) for p in in_params.split(",")]
        self.outs = [tuple(p.split()) for p in out_params.split(",")]
        for dtype, pname in self.ins + self.outs:
            if dtype not in _C_TYPES:
                raise NotImplementedError(f"the fake ReductionKernel takes only explicit types, not {dtype}")
        if len(self.outs) != 1:
            raise NotImplementedError("the fake ReductionKernel has one output")
        self.map_expr, self.post, self.name = map_expr, post_map_expr, name
        self.reduce_type, self.preamble = reduce_type, preamble

    def _library(self):
        params = [f"const {_C_TYPES[t]}* _p{k}" for k, (t, _) in enumerate(self.ins)]
        loads = "".join(f"    const {_C_TYPES[t]} {n} = _p{k}[_k];\n" for k, (t, n) in enumerate(self.ins))
        out_type, out_name = _C_TYPES[self.outs[0][0]], self.outs[0][1]
        post = self.post.replace("_in_ind.size()", "_in_size").replace("_out_ind.size()", "_out_size")
        r = self.reduce_type
        source = (f"#include <cmath>\nusing namespace std;\n#define __device__\n{self.preamble}\n"
                  f"extern \"C\" void {self.name}_map(long long _n, {', '.join(params)}, {r}* _m) {{\n"
                  f"  for (long long _k = 0; _k < _n; _k++) {{\n{loads}    _m[_k] = ({self.map_expr});\n  }}\n}}\n"
                  f"extern \"C\" void {self.name}_post(long long _n, long long _in_size, long long _out_size, "
                  f"const {r}* _a, {out_type}* _q) {{\n  for (long long _k = 0; _k < _n; _k++) {{\n"
                  f"    {r} a = _a[_k];\n    {out_type} {out_name};\n    {post};\n    _q[_k] = {out_name};\n  }}\n}}\n")
        library = _host_library(source)
        return getattr(library, f"{self.name}_map"), getattr(library, f"{self.name}_post")

    def __call__(self, *args, axis=None, keepdims=False, **kwargs):
        if len(args) != len(self.ins) or kwargs:
            raise TypeError(f"the fake ReductionKernel {self.name!r} takes its {len(self.ins)} inputs, axis and "
                            "keepdims")
        _refuse(args, f"an argument of the kernel {self.name}")
        arrays = []
        for x, (dtype, pname) in zip(args, self.ins):
            if type(x) is ndarray:
                if x.dtype != np.dtype(dtype):
                    raise TypeError(f"Type is mismatched. {pname} {x.dtype} {dtype}")
                arrays.append(x._a)
            else:
                arrays.append(np.asarray(x, dtype=dtype))
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        inputs = [np.ascontiguousarray(np.broadcast_to(a, shape)) for a in arrays]
        reduce_dtype = np.float32 if self.reduce_type == "float" else np.float64
        mapped = np.zeros(shape, reduce_dtype)
        map_fn, post_fn = self._library()
        pointers = [a.ctypes.data_as(ctypes.c_void_p) for a in inputs]
        if mapped.size:
            map_fn(ctypes.c_longlong(mapped.size), *pointers, mapped.ctypes.data_as(ctypes.c_void_p))
        summed = np.array(np.add.reduce(mapped, axis=axis, keepdims=keepdims, dtype=reduce_dtype), order="C")
        out = np.empty(summed.shape, self.outs[0][0])
        if out.size:
            post_fn(ctypes.c_longlong(out.size), ctypes.c_longlong(mapped.size), ctypes.c_longlong(out.size),
                    summed.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p))
        return ndarray(out)


# -- cupy.cuda ------------------------------------------------------------------------------------------------------
class _Device:
    def __init__(self, device=0):
        self.id = int(device)

    def __eq__(self, other):
        return isinstance(other, _Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<CUDA Device {self.id}>"

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Event:
    def __init__(self, *args, **kwargs):
        self.at = None

    def record(self, stream=None):
        self.at = time.perf_counter()

    def synchronize(self):
        pass


def _runtime():
    runtime = types.ModuleType("cupy.cuda.runtime")
    runtime.getDeviceCount = lambda: 1
    runtime.getDeviceProperties = lambda device: {"name": b"fake CuPy (NumPy on the CPU)",
                                                  "totalGlobalMem": 2**30, "multiProcessorCount": 1}
    runtime.driverGetVersion = lambda: 13000
    runtime.runtimeGetVersion = lambda: 13000
    return runtime


def build():
    """The fake ``cupy`` module (None where real CuPy, whose namespace it copies, is not importable)."""
    real = real_cupy()
    if real is None:
        return None
    fake = types.ModuleType("cupy")
    fake.__file__ = __file__
    fake.__spec__ = importlib.machinery.ModuleSpec("cupy", None, origin=__file__)  # find_spec("cupy") finds it
    fake.real = real
    fake.__version__ = f"{real.__version__} (fake, NumPy {np.__version__})"
    fake.__dict__.update(_namespace(np, real, ""))
    fake.ndarray = ndarray
    fake.asnumpy = asnumpy
    fake.where = _where(fake.where)
    fake.ElementwiseKernel = ElementwiseKernel
    fake.ReductionKernel = ReductionKernel
    fake.get_default_memory_pool = lambda: types.SimpleNamespace(free_all_blocks=lambda: None,
                                                                 used_bytes=lambda: 0)
    for sub in ("linalg", "fft"):
        module = types.ModuleType(f"cupy.{sub}")
        module.__dict__.update(_namespace(getattr(np, sub), getattr(real, sub), f"{sub}."))
        setattr(fake, sub, module)
    fake.lib = types.ModuleType("cupy.lib")
    fake.lib.stride_tricks = types.ModuleType("cupy.lib.stride_tricks")
    fake.lib.stride_tricks.__dict__.update(_namespace(np.lib.stride_tricks, real.lib.stride_tricks,
                                                      "lib.stride_tricks."))
    fake.random = types.ModuleType("cupy.random")  # graphgrad draws on the host; a seed is all it may set
    fake.random.seed = lambda seed=None: None
    cuda = types.ModuleType("cupy.cuda")
    cuda.runtime = _runtime()
    cuda.Device = _Device
    cuda.Event = _Event
    cuda.get_elapsed_time = lambda start, end: (end.at - start.at) * 1e3
    cuda.Stream = types.SimpleNamespace(null=types.SimpleNamespace(synchronize=lambda: None))
    fake.cuda = cuda
    return fake


_NAMES = ("cupy", "cupy.cuda", "cupy.linalg", "cupy.fft", "cupy.lib", "cupy.lib.stride_tricks", "cupy.random")


def _install(fake) -> dict:
    """Puts ``fake`` in ``sys.modules`` as cupy; returns what was there."""
    saved = {name: sys.modules.get(name) for name in _NAMES}
    sys.modules.update({"cupy": fake, "cupy.cuda": fake.cuda, "cupy.linalg": fake.linalg, "cupy.fft": fake.fft,
                        "cupy.lib": fake.lib, "cupy.lib.stride_tricks": fake.lib.stride_tricks,
                        "cupy.random": fake.random})
    _reset_graphgrad_caches()
    return saved


def _reset_graphgrad_caches() -> None:
    if "graphgrad" not in sys.modules:
        return
    from graphgrad.codegen import expressions
    from graphgrad.runtime import device

    device._cuda_count.cache_clear()  # the device count
    expressions.kernel.cache_clear()  # eager kernels bound to a cupy module


def install_globally() -> None:
    """``import cupy`` gives the fake from now on in this process (tests/fake_gpu/sitecustomize.py: a whole
    program, ``benchmarks/gpu_check.py --fake``, on the fake)."""
    if getattr(sys.modules.get("cupy"), "__file__", None) == __file__:
        return
    fake = build()
    if fake is None:
        raise RuntimeError("the fake CuPy copies real CuPy's namespace: pip install 'graphgrad[cuda]'")
    _install(fake)


@contextlib.contextmanager
def installed():
    """``import cupy`` gives the fake inside the block (graphgrad's cached device count is reset around it)."""
    if getattr(sys.modules.get("cupy"), "__file__", None) == __file__:  # already (install_globally)
        yield sys.modules["cupy"]
        return
    fake = build()
    if fake is None:
        raise RuntimeError("the fake CuPy copies real CuPy's namespace: pip install 'graphgrad[cuda]'")
    saved = _install(fake)
    try:
        yield fake
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        _reset_graphgrad_caches()
