"""Load generated modules through an on-disk cache keyed by the source's content hash."""
from __future__ import annotations

import hashlib
import importlib.util
import linecache
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


def _write_atomic(path: str, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)  # readers see the old file or the whole new one, never a torn write
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_module(source: str, name: str) -> types.ModuleType:
    """Import ``source`` as a module, via ``<cache>/<name>_<hash>.py``; a corrupt file is rewritten."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() else "_" for c in name)
    path = os.path.join(cache_dir(), f"gg_{safe}_{digest}.py")
    try:
        with open(path, encoding="utf-8") as f:
            intact = f.read() == source
    except (OSError, UnicodeDecodeError):
        intact = False
    if not intact:
        try:
            _write_atomic(path, source)
        except OSError as e:  # an unwritable or blocked cache: run from memory, and say so once
            _warn_unwritable(path, e)
    module_name = f"graphgrad_generated.{safe}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    # exec from our copy of the source: what runs is what we generated, whatever the disk holds
    code = compile(source, path, "exec")
    exec(code, module.__dict__)
    linecache.cache[path] = (len(source), None, source.splitlines(True), path)  # tracebacks and pdb show it
    sys.modules[module_name] = module
    return module
