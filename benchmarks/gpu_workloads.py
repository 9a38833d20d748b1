"""The GPU runs of ``run_all.py --device cuda``: the mlp, rnn and tiny_chain anchors on CuPy.

Candidates, each doing one full step (loss, gradients, and for mlp the SGD update) on the device:

- graphgrad compiled, CuPy backend, elementwise chains fused into ``cp.ElementwiseKernel``s (the default);
- the same compiled without fusion (``gg.compile(fn, fuse=False)``: one CuPy call per op);
- graphgrad eager on ``"cuda"`` tensors;
- PyTorch eager on CUDA, where PyTorch with CUDA is installed.

Before anything is timed, every candidate's gradients (copied to the host) are compared with the hand-written
NumPy step of ``workloads.py`` on the CPU: a candidate that computes the wrong thing is reported as failed and
not timed. Timing: after warm-up calls (the first compiles the module and, through NVRTC, its kernels), each
timed call is bracketed by ``cupy.cuda.Device().synchronize()`` (every stream of the device, PyTorch's included)
and by CUDA events, the candidates taking turns; the table gives the minimum and median wall time of one step,
the minimum of the event-measured span, and ratios to PyTorch CUDA and of unfused to fused.

``device="cpu"`` runs the same candidates with NumPy (no fusion, nothing to synchronize): what the test suite
uses to check this code without a GPU.
"""
from __future__ import annotations

import os
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import graphgrad as gg  # noqa: E402
from common import fmt_time, median, optional_torch  # noqa: E402
from workloads import (MLP_LR, HandChain, HandMLP, HandRNN, mlp_data, mlp_loss, rnn_loss,  # noqa: E402
                       tiny_chain)

GPU_WORKLOADS = ("mlp", "rnn", "tiny_chain")
FUSED, UNFUSED, EAGER = "graphgrad compiled, fused", "graphgrad compiled, unfused", "graphgrad eager"


def no_gpu_reason() -> str | None:
    """Why the ``cuda`` device cannot run here (one line), or None when CuPy sees a GPU."""
    try:
        import cupy
    except ImportError as e:
        return f"CuPy is not installed ({e}); pip install 'graphgrad[cuda]' on a machine with an NVIDIA GPU"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CuPy without a driver or a GPU
        return f"CuPy {cupy.__version__} finds no usable NVIDIA GPU ({type(e).__name__}: {e})".replace("\n", " ")
    return None if count > 0 else f"CuPy {cupy.__version__} finds no NVIDIA GPU (0 devices)"


def device_name(device: str) -> str:
    if device == "cpu":
        return "CPU (NumPy)"
    import cupy

    try:
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props.get("name", b"?")
        name = name.decode() if isinstance(name, bytes) else str(name)
        driver = cupy.cuda.runtime.driverGetVersion()
        return (f"{name}, {props.get('totalGlobalMem', 0) / 2**30:.0f} GiB, CUDA driver {driver // 1000}."
                f"{driver % 1000 // 10}, CuPy {cupy.__version__}")
    except Exception as e:  # a label must not stop the run
        return f"CuPy {cupy.__version__} (device properties unreadable: {type(e).__name__}: {e})"


@dataclass
class DeviceWorkload:
    name: str
    title: str
    #: the hand-written NumPy step on the CPU: the reference gradients (never timed here)
    reference: Callable
    #: label -> zero-argument step returning the gradients as device tensors (graphgrad's or PyTorch's)
    steps: dict
    rtol: float
    atol: float


def to_host(g) -> np.ndarray:
    """A gradient (graphgrad or PyTorch tensor, on any device) as a NumPy array."""
    return np.asarray(g.detach().cpu().numpy())


def _torch_device(torch, device: str):
    """PyTorch's device for this run, or None where PyTorch cannot run there (no CUDA build / no GPU)."""
    if torch is None:
        return None
    if device == "cuda" and not torch.cuda.is_available():
        return None
    return torch.device(device)


def _step(fn, params, tensors, opt):
    """One step of ``fn`` (graphgrad's or PyTorch's): gradients, then the optimizer's update where there is one.
    With an optimizer, ``step.parts`` holds the step's forward, backward and update as separate calls, for the
    breakdown printed under the table."""
    def step():
        for p in params:
            p.grad = None
        fn(*params, *tensors).backward()
        grads = [p.grad for p in params]
        if opt is not None:
            opt.step()
        return grads
    if opt is not None:
        state = {}

        def forward():
            for p in params:
                p.grad = None
            state["loss"] = fn(*params, *tensors)

        def backward():
            state.pop("loss").backward()
        step.parts = {"forward": forward, "backward": backward, "update": opt.step}
    return step


def _gg_step(fn, arrays, data, device: str, lr: float | None):
    """One step of graphgrad code on ``device``: parameters and data live there, the gradients stay there."""
    params = [gg.tensor(a, device=device, requires_grad=True) for a in arrays]
    tensors = [gg.tensor(d, device=device) for d in data]
    return _step(fn, params, tensors, gg.optim.SGD(params, lr=lr) if lr is not None else None)


def _torch_step(torch, fn, arrays, data, device, lr: float | None):
    params = [torch.tensor(a, device=device, requires_grad=True) for a in arrays]
    tensors = [torch.as_tensor(np.ascontiguousarray(d), device=device) for d in data]
    return _step(fn, params, tensors, torch.optim.SGD(params, lr=lr) if lr is not None else None)


def _candidates(fn, torch_fn, arrays, data, device: str, lr: float | None = None) -> dict:
    backend = "cupy" if device == "cuda" else "numpy"
    steps = {f"{FUSED} ({backend})": _gg_step(gg.compile(fn), arrays, data, device, lr),
             f"{UNFUSED} ({backend})": _gg_step(gg.compile(fn, fuse=False), arrays, data, device, lr),
             f"{EAGER} ({device})": _gg_step(fn, arrays, data, device, lr)}
    torch = optional_torch()
    torch_device = _torch_device(torch, device)
    if torch_device is not None:
        steps[f"PyTorch {torch.__version__} eager ({device})"] = _torch_step(
            torch, torch_fn(torch) if torch_fn else fn, arrays, data, torch_device, lr)
    return steps


def _torch_mlp(torch):
    def loss(w1, b1, w2, b2, w3, b3, x, y):
        h1 = (x @ w1 + b1).relu()
        h2 = (h1 @ w2 + b2).relu()
        return torch.nn.functional.cross_entropy(h2 @ w3 + b3, y)
    return loss


def make_mlp(device: str, quick: bool) -> DeviceWorkload:
    arrays, x, y = mlp_data()
    hand = HandMLP(arrays, x, y, MLP_LR)
    return DeviceWorkload("mlp", "784-512-256-10 MLP, ReLU, softmax cross-entropy, batch 128, float32, one SGD step",
                          hand.step, _candidates(mlp_loss, _torch_mlp, arrays, [x, y], device, MLP_LR), 2e-3, 1e-5)


def make_rnn(device: str, quick: bool) -> DeviceWorkload:
    rng = np.random.default_rng(0)
    steps, batch, n_in, hidden = (10 if quick else 50), 8, 32, 64
    wx = (rng.standard_normal((n_in, hidden)) / np.sqrt(n_in)).astype(np.float32)
    wh = (rng.standard_normal((hidden, hidden)) / np.sqrt(hidden)).astype(np.float32)
    b = np.zeros(hidden, np.float32)
    h0 = np.zeros((batch, hidden), np.float32)
    xs = rng.standard_normal((steps, batch, n_in)).astype(np.float32)
    hand = HandRNN(wx, wh, b, h0, xs)
    return DeviceWorkload("rnn", f"tanh RNN, hidden 64, input 32, batch 8, {steps} steps, loss = sum of squares of "
                          "the last state, float32", hand.step,
                          _candidates(rnn_loss, None, [wx, wh, b], [h0, xs], device), 2e-3, 1e-4)


def make_tiny_chain(device: str, quick: bool) -> DeviceWorkload:
    x = np.random.default_rng(0).standard_normal(16)
    hand = HandChain(x)
    return DeviceWorkload("tiny_chain", "100 chained elementwise ops (add, mul, tanh, sin, exp) on 16 float64 "
                          "elements, value and gradient", hand.step, _candidates(tiny_chain, None, [x], [], device),
                          1e-9, 1e-14)


MAKERS = {"mlp": make_mlp, "rnn": make_rnn, "tiny_chain": make_tiny_chain}


class Clock:
    """Brackets one call: synchronizes the device before and after (so the wall time is the step's, not its
    launch's) and records CUDA events around it; on the CPU only the wall time."""

    def __init__(self, device: str):
        self.cupy = None
        if device == "cuda":
            import cupy

            self.cupy = cupy
            self.start, self.end = cupy.cuda.Event(), cupy.cuda.Event()

    def sync(self) -> None:
        if self.cupy is not None:
            self.cupy.cuda.Device().synchronize()

    def time(self, fn) -> tuple:
        """(wall seconds, event seconds or None) of one call of ``fn``."""
        self.sync()
        begin = time.perf_counter()
        if self.cupy is not None:
            self.start.record()
        fn()
        if self.cupy is not None:
            self.end.record()
        self.sync()
        wall = time.perf_counter() - begin
        if self.cupy is None:
            return wall, None
        return wall, self.cupy.cuda.get_elapsed_time(self.start, self.end) / 1e3


def check(workload: DeviceWorkload, clock: "Clock | None" = None, first: dict | None = None) -> dict:
    """Runs each candidate once from the same start and compares its gradients with the reference; returns
    label -> error text for those that failed (they are not timed). ``first`` gets each candidate's first call's
    seconds (for compiled code: tracing, code generation and the kernels' compilation)."""
    reference = [np.array(g, copy=True) for g in workload.reference()]
    failed = {}
    for label, step in workload.steps.items():
        where = "the step"
        try:
            if clock is not None:
                clock.sync()
            begin = time.perf_counter()
            grads = step()
            if clock is not None:
                clock.sync()
            if first is not None:
                first[label] = time.perf_counter() - begin
            where = "the gradients' copy to the host"
            grads = [to_host(g) for g in grads]
            assert len(grads) == len(reference), f"{len(grads)} gradients, expected {len(reference)}"
            for i, (got, want) in enumerate(zip(grads, reference)):
                where = f"gradient {i}"
                np.testing.assert_allclose(got, want, rtol=workload.rtol, atol=workload.atol,
                                           err_msg=f"{workload.name}: {label}, gradient {i}")
        except Exception as e:  # reported, and the other candidates still run
            traceback.print_exc(file=sys.stderr)
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            failed[label] = f"{where}: {type(e).__name__}: {' '.join(lines[:3])}"
    return failed


def sample(steps: dict, clock: Clock, repeat: int, warmup: int) -> tuple:
    """label -> wall seconds of each timed call, and label -> event seconds (CUDA only); the candidates take
    turns call by call, so a noisy spell hits them all alike."""
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    clock.sync()
    walls: dict = {label: [] for label in steps}
    events: dict = {label: [] for label in steps}
    for _ in range(repeat):
        for label, fn in steps.items():
            wall, event = clock.time(fn)
            walls[label].append(wall)
            if event is not None:
                events[label].append(event)
    return walls, events


def sample_parts(parted: dict, clock: Clock, repeat: int) -> dict:
    """label -> part -> the minimum wall time of that part (forward, backward, update) over ``repeat`` steps run
    part by part, each part between device synchronizations: where a step's time goes."""
    mins: dict = {label: {part: float("inf") for part in parts} for label, parts in parted.items()}
    for _ in range(repeat):
        for label, parts in parted.items():
            for part, fn in parts.items():
                mins[label][part] = min(mins[label][part], clock.time(fn)[0])
    return mins


def run(name: str, device: str, quick: bool, out=print) -> bool:
    """Checks and times one workload on ``device``, printing its table; False when a candidate failed."""
    workload = MAKERS[name](device, quick)
    out(f"== {workload.name} on {device}: {workload.title}")
    clock, first = Clock(device), {}
    failed = check(workload, clock, first)
    for label, why in failed.items():
        out(f"  {label}: FAILED ({why})")
    steps = {label: fn for label, fn in workload.steps.items() if label not in failed}
    if not steps:
        return False
    repeat, warmup = (3, 1) if quick else (30, 3)
    walls, events = sample(steps, clock, repeat, warmup)
    torch_label = next((label for label in steps if label.startswith("PyTorch")), None)
    header = f"  {'':<40} {'min':>11} {'median':>11}"
    header += f" {'GPU min':>11}" if device == "cuda" else ""
    header += f" {'vs PyTorch':>10}" if torch_label else ""
    out(header)
    for label in steps:
        best = min(walls[label])
        line = f"  {label:<40} {fmt_time(best)} {fmt_time(median(walls[label]))}"
        if device == "cuda":
            line += f" {fmt_time(min(events[label]))}"
        if torch_label:
            line += f" {best / min(walls[torch_label]):9.2f}x"
        out(line)
    fused = next((label for label in steps if label.startswith(FUSED)), None)
    unfused = next((label for label in steps if label.startswith(UNFUSED)), None)
    if fused and unfused:
        out(f"  fusion: unfused / fused = {min(walls[unfused]) / min(walls[fused]):.2f}x (minimum wall time)")
    parted = {label: fn.parts for label, fn in steps.items()
              if getattr(fn, "parts", None) and not label.startswith(EAGER)}
    for label, mins in sample_parts(parted, clock, repeat).items():
        out(f"  {label}, by part: " + ", ".join(f"{part} {fmt_time(t).strip()}" for part, t in mins.items()))
    out("  first call (compiled: trace, codegen, kernel compiles): " + ", ".join(
        f"{label.split(' (')[0].replace('graphgrad ', '')} {fmt_time(first[label]).strip()}" for label in steps))
    out(f"  ({repeat} timed calls each after {warmup} warm-up call{'s' if warmup > 1 else ''}; wall time between "
        f"device synchronizations{', GPU time between CUDA events' if device == 'cuda' else ''})\n")
    return not failed
