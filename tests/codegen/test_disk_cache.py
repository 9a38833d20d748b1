"""The on-disk cache of generated modules: bounded (least recently used removed first, GRAPHGRAD_CACHE_MAX_MB),
and `graphgrad cache info|clear`."""
import importlib.util
import marshal
import os
import time

import pytest

import graphgrad as gg
from graphgrad import cli
from graphgrad.codegen import loader


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHGRAD_CACHE_DIR", str(tmp_path))
    return tmp_path


def _module(i: int) -> str:
    return f"# generated {i}\nVALUE = {i}\n" + "#" * 1000 + "\n"


def _stored_bytes(cache, i: int) -> int:
    """What loading ``_module(i)`` as ``m<i>`` stores: its source and its compiled code."""
    path = str(cache / f"gg_m{i}_{'0' * 16}.py")
    return len(_module(i)) + len(importlib.util.MAGIC_NUMBER) + len(marshal.dumps((compile(_module(i), path, "exec"),)))


def test_the_cache_is_bounded_least_recently_used_first(cache, monkeypatch):
    monkeypatch.setenv("GRAPHGRAD_CACHE_MAX_MB", str(3.5 * _stored_bytes(cache, 0) / (1024 * 1024)))
    monkeypatch.setattr(loader, "_written", {})
    for i in range(3):
        loader.load_module(_module(i), f"m{i}")
    assert len(list(cache.glob("gg_*.py"))) == len(list(cache.glob("gg_*.code"))) == 3
    stamp = time.time() - 100
    for p in cache.glob("gg_*"):
        k = int(p.name[len("gg_m")])
        os.utime(p, (stamp + k, stamp + k))  # m0 oldest, m2 newest
    assert loader.load_module(_module(0), "m0").VALUE == 0  # used again: now the most recent
    loader.load_module(_module(3), "m3")  # a fourth module does not fit: the least recently used (m1) goes
    left = sorted(p.read_text().split("\n")[0] for p in cache.glob("gg_*.py"))
    assert left == ["# generated 0", "# generated 2", "# generated 3"]
    assert sorted(p.name[:len("gg_m0")] for p in cache.glob("gg_*.code")) == ["gg_m0", "gg_m2", "gg_m3"]


def test_cache_info_and_clear_touch_only_graphgrads_files(cache, capsys):
    (cache / "notes.txt").write_text("the user's own file")
    gg.compile(lambda x: x * 3)(gg.ones(2))
    generated = list(cache.glob("gg_*"))
    assert {p.suffix for p in generated} == {".py", ".code"}  # each module's source and its compiled code
    assert cli.main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert str(cache) in out
    assert f"files      {len(generated)}\n" in out
    assert f"({sum(p.stat().st_size for p in generated)} bytes)" in out
    assert cli.main(["cache", "clear"]) == 0
    assert f"removed {len(generated)} files" in capsys.readouterr().out
    assert [p.name for p in cache.iterdir()] == ["notes.txt"]
    assert gg.compile(lambda x: x * 4)(gg.ones(2)).tolist() == [4.0, 4.0]  # and compiling still works


def test_a_bad_limit_is_named(cache, monkeypatch):
    monkeypatch.setenv("GRAPHGRAD_CACHE_MAX_MB", "lots")
    with pytest.raises(ValueError, match="GRAPHGRAD_CACHE_MAX_MB must be a number of megabytes, got 'lots'"):
        loader.max_bytes()


def test_the_directory_is_scanned_at_exit_or_when_this_process_wrote_a_tenth_of_the_bound(cache, monkeypatch):
    """A scan stats every file of the cache (thousands): not while compiling a new module."""
    scans, at_exit = [], []
    real = loader._generated_files
    monkeypatch.setattr(loader, "_generated_files", lambda d: scans.append(d) or real(d))
    monkeypatch.setattr(loader.atexit, "register", lambda fn, *args: at_exit.append((fn, args)))
    monkeypatch.setattr(loader, "_written", {})
    size = _stored_bytes(cache, 0)
    monkeypatch.setenv("GRAPHGRAD_CACHE_MAX_MB", str(35.5 * size / (1024 * 1024)))  # a tenth: 3.55 modules
    for i in range(3):
        loader.load_module(_module(i), f"m{i}")
    assert scans == [] and len(at_exit) == 1  # the first write registered the scan at exit, once
    loader.load_module(_module(3), "m3")  # this process has now written more than a tenth of the bound
    assert len(scans) == 1
    for i in range(4, 40):  # another process's modules: seen at the next scan
        (cache / f"gg_other{i}_0.py").write_text(_module(i))
        (cache / f"gg_other{i}_0{loader._CODE_SUFFIX}").write_bytes(b"x" * (size - len(_module(i))))
    fn, args = at_exit[0]
    fn(*args)
    assert len(scans) == 2 and len(list(cache.glob("gg_*.py"))) == len(list(cache.glob("gg_*.code"))) == 35


def _compiles(monkeypatch) -> list:
    """The sources ``load_module`` hands to CPython's compiler from now on."""
    compiled = []
    monkeypatch.setattr(loader, "compile", lambda source, *a: compiled.append(source) or compile(source, *a),
                        raising=False)
    return compiled


def test_a_module_loaded_again_runs_its_stored_code_without_compiling(cache, monkeypatch):
    loader.load_module(_module(7), "m7")
    (code_file,) = cache.glob("gg_m7_*.code")
    assert code_file.read_bytes().startswith(importlib.util.MAGIC_NUMBER)
    compiled = _compiles(monkeypatch)
    module = loader.load_module(_module(7), "m7")  # another process, or a function compiled again
    assert module.VALUE == 7 and compiled == []
    assert module.__file__.endswith(".py") and module.__file__[:-3] == str(code_file).split(".")[0]


@pytest.mark.parametrize("damage", ["garbage", "other interpreter", "truncated", "moved directory", "edited source"])
def test_a_damaged_or_foreign_code_file_is_compiled_again_and_rewritten(cache, monkeypatch, damage):
    loader.load_module(_module(8), "m8")
    (code_file,) = cache.glob("gg_m8_*.code")
    (source_file,) = cache.glob("gg_m8_*.py")
    good = code_file.read_bytes()
    if damage == "garbage":
        code_file.write_bytes(importlib.util.MAGIC_NUMBER + b"\x00not marshal data")
    elif damage == "other interpreter":
        code_file.write_bytes(b"\x00\x00\r\n" + good[len(importlib.util.MAGIC_NUMBER):])
    elif damage == "truncated":
        code_file.write_bytes(good[:len(good) // 2])
    elif damage == "moved directory":  # code compiled under another path: tracebacks would name that path
        other = tuple(c.replace(co_filename="/elsewhere/gg_m8.py")
                      for c in marshal.loads(good[len(importlib.util.MAGIC_NUMBER):]))
        code_file.write_bytes(importlib.util.MAGIC_NUMBER + marshal.dumps(other))
    else:  # the source no longer holds the module's text: neither file is trusted
        source_file.write_text("VALUE = 'edited'\n")
        code_file.write_bytes(importlib.util.MAGIC_NUMBER + marshal.dumps(compile("VALUE = 'edited'\n",
                                                                                   str(source_file), "exec")))
    damaged = code_file.read_bytes()
    compiled = _compiles(monkeypatch)
    assert loader.load_module(_module(8), "m8").VALUE == 8
    assert compiled == [_module(8)]
    assert source_file.read_text() == _module(8)
    assert code_file.read_bytes() != damaged and loader._cached_code(str(code_file)) is not None


_TWO_FUNCTIONS = """# generated
import math

SCALE = 2.0


def forward(x):
    \"\"\"Doubles.\"\"\"
    y = x * SCALE
    return y


def backward(g):
    z = g + 1
    raise ValueError(f"line of backward: {z}")
"""


def test_a_module_is_compiled_a_function_at_a_time_with_the_file_s_line_numbers(cache, monkeypatch):
    import traceback

    compiled = _compiles(monkeypatch)
    module = loader.load_module(_TWO_FUNCTIONS, "parts")
    assert len(compiled) == 3 and compiled[0].endswith("SCALE = 2.0")
    assert module.forward(3.0) == 6.0
    with pytest.raises(ValueError) as info:
        module.backward(1)
    frame = traceback.extract_tb(info.tb)[-1]
    assert frame.lineno == _TWO_FUNCTIONS.splitlines().index('    raise ValueError(f"line of backward: {z}")') + 1
    assert frame.line == 'raise ValueError(f"line of backward: {z}")'
    assert module.forward.__code__.co_firstlineno == _TWO_FUNCTIONS.splitlines().index("def forward(x):") + 1


def test_a_code_file_written_whole_by_an_earlier_version_is_still_used(cache, monkeypatch):
    loader.load_module(_module(9), "m9")
    (code_file,) = cache.glob("gg_m9_*.code")
    (source_file,) = cache.glob("gg_m9_*.py")
    code_file.write_bytes(importlib.util.MAGIC_NUMBER + marshal.dumps(compile(_module(9), str(source_file), "exec")))
    compiled = _compiles(monkeypatch)
    assert loader.load_module(_module(9), "m9").VALUE == 9 and compiled == []
