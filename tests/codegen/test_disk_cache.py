"""The on-disk cache of generated modules: bounded (least recently used removed first, GRAPHGRAD_CACHE_MAX_MB),
and `graphgrad cache info|clear`."""
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


def test_the_cache_is_bounded_least_recently_used_first(cache, monkeypatch):
    monkeypatch.setenv("GRAPHGRAD_CACHE_MAX_MB", str(3.5 * len(_module(0)) / (1024 * 1024)))
    for i in range(3):
        loader.load_module(_module(i), f"m{i}")
    files = sorted(p.name for p in cache.glob("gg_*.py"))
    assert len(files) == 3
    stamp = time.time() - 100
    for k, p in enumerate(sorted(cache.glob("gg_*.py"), key=lambda p: p.read_text())):
        os.utime(p, (stamp + k, stamp + k))  # m0 oldest, m2 newest
    assert loader.load_module(_module(0), "m0").VALUE == 0  # used again: now the most recent
    loader.load_module(_module(3), "m3")  # a fourth file does not fit: the least recently used (m1) goes
    left = sorted(p.read_text().split("\n")[0] for p in cache.glob("gg_*.py"))
    assert left == ["# generated 0", "# generated 2", "# generated 3"]


def test_cache_info_and_clear_touch_only_graphgrads_files(cache, capsys):
    (cache / "notes.txt").write_text("the user's own file")
    gg.compile(lambda x: x * 3)(gg.ones(2))
    generated = list(cache.glob("gg_*.py"))
    assert generated
    assert cli.main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert str(cache) in out
    assert f"files      {len(generated)}\n" in out
    assert f"({sum(p.stat().st_size for p in generated)} bytes)" in out
    assert cli.main(["cache", "clear"]) == 0
    assert f"removed {len(generated)} generated module" in capsys.readouterr().out
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
    size = len(_module(0))
    monkeypatch.setenv("GRAPHGRAD_CACHE_MAX_MB", str(35.5 * size / (1024 * 1024)))  # a tenth: 3.55 modules
    for i in range(3):
        loader.load_module(_module(i), f"m{i}")
    assert scans == [] and len(at_exit) == 1  # the first write registered the scan at exit, once
    loader.load_module(_module(3), "m3")  # this process has now written more than a tenth of the bound
    assert len(scans) == 1
    for i in range(4, 40):  # another process's modules: seen at the next scan
        (cache / f"gg_other{i}_0.py").write_text(_module(i))
    fn, args = at_exit[0]
    fn(*args)
    assert len(scans) == 2 and len(list(cache.glob("gg_*.py"))) == 35
