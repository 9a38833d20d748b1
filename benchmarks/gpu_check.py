"""Everything issue 15 needs verified on an NVIDIA GPU, in one command of at most ``--budget`` seconds (300):

    python3 benchmarks/gpu_check.py            # on the GPU machine, from the repository root
    python3 benchmarks/gpu_check.py --suite    # then the whole test suite too, in the time left
    python benchmarks/gpu_check.py --fake      # a rehearsal without a GPU, on the fake CuPy (tests/fake_cupy.py)

In order:

1. the machine: GPU, driver, CuPy, NumPy, PyTorch (and whether PyTorch sees CUDA);
2. the GPU tests: every test module using the ``cupy_device`` fixture, ``pytest -m gpu`` (their ``[gpu]``
   instances), which must all run and pass: a skipped GPU test fails this check, as does an empty selection;
3. ``benchmarks/run_all.py --device cuda`` (mlp, rnn, tiny_chain: compiled fused / unfused, eager, PyTorch CUDA);
4. with ``--suite``: the rest of the test suite (``-m "not gpu"``; on up to 8 cores where pytest-xdist is
   installed, as in the GPU machines' image: about 4 minutes on one core there), where time is left.

``--fake`` runs all of it on the fake CuPy (NumPy behind CuPy's interface, kernels compiled for the host): it
checks that this script, the tests' GPU instances and the benchmark's CUDA path run, and says nothing of a GPU.

Everything printed goes to ``$OUT`` too where that is set (gpu_check.log, gpu_tests.xml, gpu_benchmark.txt,
summary.txt). Exit code 0 when every step passed, 1 when one failed or ran out of time, 2 without a GPU.
"""
from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import platform
import queue
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))


class Log:
    """Prints, and keeps a copy under $OUT."""

    def __init__(self, out: str | None):
        self.out = out
        self.file = open(os.path.join(out, "gpu_check.log"), "w", encoding="utf-8") if out else None

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        if self.file:
            self.file.write(text + "\n")
            self.file.flush()

    def path(self, name: str) -> str | None:
        return os.path.join(self.out, name) if self.out else None


def gpu_test_files() -> list:
    """The test modules that run on a GPU: those using the cupy_device fixture."""
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "**", "test_*.py"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            if "cupy_device" in f.read():
                found.append(os.path.relpath(path, ROOT))
    return found


def run(log: Log, argv: list, timeout: float, keep: str | None = None) -> tuple:
    """(exit code or None on timeout, output) of ``argv`` run from the repository root, its output shown as it
    comes and copied into ``$OUT/keep``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
               PYTHONUNBUFFERED="1")
    log(f"$ {' '.join(argv)}   (time limit {timeout:.0f} s)")
    lines = []
    start = time.monotonic()
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    queue_: queue.Queue = queue.Queue()

    def pump() -> None:  # a thread reads, so that a line the child never ends cannot hold the time limit up
        for line in process.stdout:
            queue_.put(line)
        queue_.put(None)

    threading.Thread(target=pump, daemon=True).start()
    code = None
    while True:
        left = timeout - (time.monotonic() - start)
        try:
            line = queue_.get(timeout=max(left, 0.01))
        except queue.Empty:
            process.kill()
            process.wait()
            log(f"!! stopped after {timeout:.0f} s")
            break
        if line is None:
            code = process.wait()
            break
        lines.append(line.rstrip("\n"))
        log(lines[-1])
    if keep and log.path(keep):
        with open(log.path(keep), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    log(f"(exit code {code}, {time.monotonic() - start:.1f} s)\n")
    return code, lines


def junit_counts(path: str) -> dict:
    """tests / failures / errors / skipped over every test suite of a JUnit XML report."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    return {key: sum(int(s.get(key, 0)) for s in suites) for key in ("tests", "failures", "errors", "skipped")}


def skipped_tests(path: str) -> list:
    root = ET.parse(path).getroot()
    return [f"{case.get('classname')}::{case.get('name')}: {case.find('skipped').get('message', '')}"
            for case in root.iter("testcase") if case.find("skipped") is not None]


def describe_machine(log: Log) -> None:
    import numpy

    log(f"host: {platform.node()}, {platform.platform()}, Python {platform.python_version()}, NumPy {numpy.__version__}")
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        log(f"nvidia-smi: {smi.stdout.strip() or smi.stderr.strip()}")
    except (OSError, subprocess.SubprocessError) as e:
        log(f"nvidia-smi: not run ({e})")
    import gpu_workloads

    log(f"device: {gpu_workloads.device_name('cuda')}")
    try:
        import torch

        log(f"PyTorch {torch.__version__}, CUDA {'available' if torch.cuda.is_available() else 'NOT available'}")
    except ImportError:
        log("PyTorch: not installed (the benchmark has no PyTorch CUDA rows)")
    import graphgrad as gg

    log(f"graphgrad: gg.cuda.is_available() = {gg.cuda.is_available()}, {gg.cuda.get_device_name()}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=300, help="seconds for all steps together (default 300)")
    parser.add_argument("--suite", action="store_true", help="then the rest of the test suite, in the time left")
    parser.add_argument("--quick", action="store_true", help="the benchmark's --quick (few calls: a smoke run)")
    parser.add_argument("--fake", action="store_true",
                        help="a rehearsal on the fake CuPy (tests/fake_cupy.py), where there is no GPU")
    ns = parser.parse_args()
    if ns.fake:  # this process and every one it starts import the fake for cupy
        os.environ["GRAPHGRAD_FAKE_CUPY"] = "1"
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.join(ROOT, "tests", "fake_gpu"),
                                                                 os.environ.get("PYTHONPATH")]))
        sys.path.insert(0, os.path.join(ROOT, "tests"))
        import fake_cupy

        fake_cupy.install_globally()
    start = time.monotonic()
    out = os.environ.get("OUT") or None
    if out:
        os.makedirs(out, exist_ok=True)
    log = Log(out)

    import gpu_workloads

    reason = gpu_workloads.no_gpu_reason()
    if reason is not None:
        log(f"gpu_check.py: no GPU to check on: {reason}")
        return 2
    if ns.fake:
        log("gpu_check.py --fake: on the FAKE CuPy (NumPy on the CPU): a rehearsal of this script, not a GPU check\n")
    describe_machine(log)
    summary = ["(on the FAKE CuPy: a rehearsal, nothing here ran on a GPU)"] if ns.fake else []

    def left() -> float:
        return ns.budget - (time.monotonic() - start)

    # 2. the GPU tests: all of them run (a skip fails the check) and pass
    files = gpu_test_files()
    xml = log.path("gpu_tests.xml") or os.path.join(ROOT, ".gpu_tests.xml")
    if os.path.exists(xml):
        os.unlink(xml)
    code, _ = run(log, [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-m", "gpu",
                        f"--junitxml={xml}", *files], timeout=max(30.0, left() * 0.6))
    if code is None or not os.path.exists(xml):
        summary.append(f"GPU tests: FAILED (no report: {'ran out of time' if code is None else f'exit code {code}'})")
    else:
        counts = junit_counts(xml)
        skipped = skipped_tests(xml)
        ok = code == 0 and counts["tests"] > 0 and not counts["failures"] and not counts["errors"] and not skipped
        summary.append(f"GPU tests: {'passed' if ok else 'FAILED'}: {counts['tests']} run from {len(files)} files, "
                       f"{counts['failures']} failed, {counts['errors']} errors, {len(skipped)} skipped")
        summary += [f"  skipped on a GPU (each a failure here): {s}" for s in skipped]
    if not log.out and os.path.exists(xml):
        os.unlink(xml)

    # 3. the GPU benchmark
    if left() < 20:
        summary.append("GPU benchmark: FAILED (no time left)")
    else:
        code, lines = run(log, [sys.executable, os.path.join("benchmarks", "run_all.py"), "--device", "cuda",
                                *(["--quick"] if ns.quick else [])], timeout=left() - 5, keep="gpu_benchmark.txt")
        summary.append("GPU benchmark: " + ("passed" if code == 0 else "ran out of time" if code is None else
                                           f"FAILED (exit code {code})"))
        summary += [f"  {line.strip()}" for line in lines if "fusion: unfused / fused" in line or "FAILED" in line]

    # 4. the rest of the suite, where asked and time is left
    if ns.suite:
        if left() < 30:
            summary.append("rest of the test suite: not run (no time left)")
        else:
            extra = []
            # Dask is not in the GPU machines' image, and under --fake its worker processes, which import the
            # fake CuPy as they start, do not come up
            if importlib.util.find_spec("dask") is None or ns.fake:
                log("(Dask is not installed, or CuPy is the fake: Dask's tests, graphgrad.dask's examples and the "
                    "all-benchmarks smoke run are left out)")
                extra = ["--ignore=tests/parallel/test_dask_gradients.py"]
                for test in ("tests/test_benchmarks_smoke.py::test_every_benchmark_runs_in_quick_mode",
                             "tests/test_docstrings.py::test_the_public_api_has_examples",
                             "tests/test_docstrings.py::test_docstring_examples[graphgrad.dask]"):
                    extra += ["--deselect", test]
            if importlib.util.find_spec("xdist") is not None:  # in the GPU machines' image: the suite on 8 cores
                extra += ["-n", str(min(8, os.cpu_count() or 1))]
            # (pyproject's addopts has -q already: a second one would drop the "N passed" line quoted here)
            code, lines = run(log, [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "not gpu",
                                    *extra, "tests"], timeout=left() - 5)
            counts = [line for line in lines if " passed" in line or " failed" in line]
            summary.append(f"rest of the test suite: {'passed' if code == 0 else 'FAILED'}"
                           f" ({(counts or lines or ['no output'])[-1].strip()})")

    failed = any("FAILED" in s or "ran out of time" in s for s in summary)
    summary.append(f"gpu_check: {'FAILED' if failed else 'passed'} in {time.monotonic() - start:.0f} s "
                   f"(budget {ns.budget:.0f} s)")
    log("== summary")
    for line in summary:
        log(line)
    if log.path("summary.txt"):
        with open(log.path("summary.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(summary) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
