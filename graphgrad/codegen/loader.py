"""Load generated modules through an on-disk cache keyed by the source's content hash.

Beside each module's source the cache keeps its compiled code (``gg_*.<python tag>.code``, like a ``.pyc``; one code
object per top-level function, see ``_compile_in_parts``): CPython compiles about 10-20 µs per statement, a third of
a large graph's first call, and a program run again loads the code instead. The code file starts with the interpreter's bytecode magic number and is used only while its source file
holds exactly the module's text; anything else compiles again.

The cache is bounded: when graphgrad's files (``gg_*.py``) under it pass ``$GRAPHGRAD_CACHE_MAX_MB`` megabytes
(default 100), the least recently used are removed (a file's modification time is refreshed each time it is
loaded). The directory is scanned for that when a process that wrote modules there exits, and while it runs
only once it has written a tenth of the bound itself (a scan stats every file): the bound may be passed by that
much until then.
``graphgrad cache info`` and ``graphgrad cache clear`` show and empty it.
"""
from __future__ import annotations

import atexit
import hashlib
import importlib.util
import linecache
import marshal
import os
import sys
import tempfile
import types
import warnings


def cache_dir() -> str:
    """``$GRAPHGRAD_CACHE_DIR``, else ``~/.cache/graphgrad`` (a temp dir if home is not writable)."""
    path = os.environ.get("GRAPHGRAD_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "graphgrad")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        if os.environ.get("GRAPHGRAD_CACHE_DIR"):  # the user's choice: do not silently write elsewhere
            return path
        path = os.path.join(tempfile.gettempdir(), "graphgrad-cache")
        try:
            os.makedirs(path, exist_ok=True)
        except OSError:
            pass
    return path


_warned: set = set()


def _warn_unwritable(path: str, error: OSError) -> None:
    directory = os.path.dirname(path)
    if directory in _warned:
        return
    _warned.add(directory)
    warnings.warn(f"graphgrad cannot write generated modules to {directory} ({error.strerror or error}); they are "
                  f"kept in memory only. Set GRAPHGRAD_CACHE_DIR to a writable directory to cache them on disk.",
                  RuntimeWarning, stacklevel=4)


def _write_atomic(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)  # readers see the old file or the whole new one, never a torn write
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


_PREFIX, _SUFFIXES = "gg_", (".py", ".code")
#: the compiled code's file: the bytecode format is the interpreter's own (a .pyc's tag and magic number)
_CODE_SUFFIX = f".{sys.implementation.cache_tag or 'python'}.code"
DEFAULT_MAX_MB = 100.0


def _generated_files(directory: str) -> list:
    """``(path, size, mtime)`` of graphgrad's generated modules in ``directory`` (nothing else is touched)."""
    found = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return found
    for entry in entries:
        if entry.name.startswith(_PREFIX) and entry.name.endswith(_SUFFIXES):
            try:
                if entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    found.append((entry.path, st.st_size, st.st_mtime))
            except OSError:
                pass  # removed by another process meanwhile
    return found


def max_bytes() -> int:
    """The on-disk cache's bound, from ``$GRAPHGRAD_CACHE_MAX_MB`` (megabytes; default 100)."""
    text = os.environ.get("GRAPHGRAD_CACHE_MAX_MB")
    try:
        mb = float(text) if text else DEFAULT_MAX_MB
    except ValueError:
        raise ValueError(f"GRAPHGRAD_CACHE_MAX_MB must be a number of megabytes, got {text!r}") from None
    return max(0, int(mb * 1024 * 1024))


def cache_info(directory: str | None = None) -> dict:
    """The cache's directory, how many files of generated modules it holds (sources and compiled code), their
    total size in bytes and the bound.

    >>> import graphgrad.codegen.loader as loader
    >>> sorted(loader.cache_info())
    ['directory', 'files', 'max_bytes', 'size_bytes']
    """
    directory = directory or cache_dir()
    files = _generated_files(directory)
    return {"directory": directory, "files": len(files), "size_bytes": sum(f[1] for f in files),
            "max_bytes": max_bytes()}


def cache_clear(directory: str | None = None) -> int:
    """Remove graphgrad's generated modules and their compiled code from the cache directory (only those);
    returns how many files."""
    removed = 0
    directory = directory or cache_dir()
    for path, _, _ in _generated_files(directory):
        try:
            os.unlink(path)
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def prune(directory: str, limit: int | None = None) -> int:
    """Remove the least recently used generated modules (a module's source and compiled code together) until
    they fit in ``limit`` bytes; returns how many files were removed."""
    limit = max_bytes() if limit is None else limit
    modules: dict = {}  # gg_<name>_<hash> -> [paths, bytes, last used]
    for path, size, mtime in _generated_files(directory):
        entry = modules.setdefault(os.path.basename(path).split(".")[0], [[], 0, mtime])
        entry[0].append(path)
        entry[1] += size
        entry[2] = max(entry[2], mtime)
    total = sum(m[1] for m in modules.values())
    removed = 0
    for paths, size, _ in sorted(modules.values(), key=lambda m: m[2]):
        if total <= limit:
            break
        for path in paths:
            try:
                os.unlink(path)
                removed += 1
            except OSError:
                pass
        total -= size
    return removed


#: directory -> bytes of modules this process wrote there since it last scanned it. A scan stats every file (a
#: cache of 10,000 modules took ~0.1 s), so it is not done while compiling but at exit, and sooner only when this
#: process alone has written a tenth of the bound
_written: dict = {}


def _prune_after_write(directory: str, size: int) -> None:
    """Keep the cache bounded after this process wrote ``size`` bytes into ``directory`` (other processes' writes
    are seen at the next scan)."""
    written = _written.get(directory)
    if written is None:
        atexit.register(_prune_at_exit, directory)
        written = 0
    written += size
    if written > max_bytes() / 10:
        prune(directory)
        written = 0
    _written[directory] = written


def _prune_at_exit(directory: str) -> None:
    try:
        prune(directory)
    except OSError:  # the directory went away: nothing to bound
        pass


def _cached_code(path: str):
    """The code objects stored at ``path`` (a tuple, run in order), or None when they are missing, another
    interpreter's, corrupt, or were compiled under another file name (the cache directory moved)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    magic = importlib.util.MAGIC_NUMBER
    if not data.startswith(magic):
        return None
    try:
        codes = marshal.loads(data[len(magic):])
    except (EOFError, ValueError, TypeError):
        return None
    source_path = path[:-len(_CODE_SUFFIX)] + ".py"
    if isinstance(codes, types.CodeType):  # written before modules were compiled a function at a time
        codes = (codes,)
    if not (isinstance(codes, tuple) and codes
            and all(isinstance(c, types.CodeType) and c.co_filename == source_path for c in codes)):
        return None
    return codes


#: what separates the generated module's top-level functions (``module_source``): nothing nested starts a line
#: with ``def``, and no generated string holds three newlines
_FUNCTION_BREAK = "\n\n\ndef "


def _compile_in_parts(source: str, path: str) -> tuple:
    """``compile(source)`` as a tuple of code objects, one per top-level function (and one for what precedes
    them), to run in order: CPython compiles a module of two large functions about a fifth slower than the two
    apart (a 10,000-op chain's module: 194 ms whole, 154 ms in parts). Each part is padded with the newlines
    before it, so that its line numbers are the file's."""
    parts = source.split(_FUNCTION_BREAK)
    codes = [compile(parts[0], path, "exec")]
    line = parts[0].count("\n")
    for part in parts[1:]:
        line += 3
        codes.append(compile("\n" * line + "def " + part, path, "exec"))
        line += part.count("\n")
    return tuple(codes)


def load_module(source: str, name: str) -> types.ModuleType:
    """Import ``source`` as a module, via ``<cache>/<name>_<hash>.py`` and its compiled code beside it; a corrupt
    file is rewritten."""
    encoded = source.encode()
    digest = hashlib.sha256(encoded).hexdigest()[:16]
    safe = "".join(c if c.isalnum() else "_" for c in name)
    stem = os.path.join(cache_dir(), f"gg_{safe}_{digest}")
    path, code_path = stem + ".py", stem + _CODE_SUFFIX
    try:
        with open(path, "rb") as f:
            intact = f.read() == encoded
    except OSError:
        intact = False
    code, on_disk = None, intact
    if not intact:
        try:
            _write_atomic(path, encoded)
            _prune_after_write(os.path.dirname(path), len(encoded))
            on_disk = True
        except OSError as e:  # an unwritable or blocked cache: run from memory, and say so once
            _warn_unwritable(path, e)
    else:
        code = _cached_code(code_path)
        for used in (path, code_path) if code is not None else (path,):
            try:
                os.utime(used)  # recently used: last to be pruned
            except OSError:
                pass
    if code is None:
        # exec our own copy of the source: what runs is what we generated, whatever the disk holds
        code = _compile_in_parts(source, path)
        if on_disk:
            try:
                data = importlib.util.MAGIC_NUMBER + marshal.dumps(code)
                _write_atomic(code_path, data)
                _prune_after_write(os.path.dirname(path), len(data))
            except OSError:
                pass  # the next load compiles again
    module_name = f"graphgrad_generated.{safe}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    for part in code:
        exec(part, module.__dict__)
    linecache.cache[path] = (len(source), None, source.splitlines(True), path)  # tracebacks and pdb show it
    sys.modules[module_name] = module
    return module
