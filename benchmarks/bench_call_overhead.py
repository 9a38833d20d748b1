"""Fixed cost of a compiled call: a tiny function of 4 small tensors, where the generated code itself takes a few
microseconds and everything else (specialization lookup, guards, output wrapping, the engine walk, gradient
accumulation) is overhead. Each row is compared with calling the generated module's functions directly.

    python benchmarks/bench_call_overhead.py
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import parse, sample_times  # noqa: E402

import graphgrad as gg  # noqa: E402


def tiny(a, b, c, d):
    return (a * b + c * d).sum()


def main() -> None:
    args = parse(__doc__.splitlines()[0])
    repeat, number = (3, 20) if args.quick else (15, 1000)
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(4) for _ in range(4)]
    tensors = [gg.tensor(a, requires_grad=True) for a in arrays]
    compiled = gg.compile(tiny)
    grad = gg.grad(tiny, argnums=(0, 1, 2, 3))

    module = compiled.specialize(*tensors).module("numpy")
    joint_vg = grad._vg
    grad(*arrays)  # compiles the joint module
    joint = next(iter(joint_vg._cache.values())).modules["joint"]
    out = module.forward(*arrays)
    value, saved = out[0], out[1:]
    seed = np.ones((), value.dtype)

    # every path gives the same gradients (checked before timing)
    expected = [arrays[1], arrays[0], arrays[3], arrays[2]]
    loss = compiled(*tensors)
    loss.backward()
    for t, e in zip(tensors, expected):
        np.testing.assert_allclose(t.grad.numpy(), e, rtol=1e-12)
        t.grad = None
    for g, e in zip(grad(*arrays), expected):
        np.testing.assert_allclose(g, e, rtol=1e-12)
    for g, e in zip(module.backward(*saved, seed), expected):
        np.testing.assert_allclose(g, e, rtol=1e-12)

    def forward_backward():
        compiled(*tensors).backward()

    pairs = {
        "compiled forward": (lambda: compiled(*tensors), lambda: module.forward(*arrays)),
        "compiled forward + backward": (forward_backward,
                                        lambda: module.backward(*module.forward(*arrays)[1:], seed)),
        "gg.grad(f)(ndarrays)": (lambda: grad(*arrays), lambda: joint.value_and_grad(*arrays)),
    }
    fns = {}
    for label, (ours, direct) in pairs.items():
        fns[label] = ours
        fns[label + " [generated code alone]"] = direct
    cpu: dict = {}
    samples = sample_times(fns, repeat, number, cpu=cpu)
    print(f"Fixed cost of a call: (a*b + c*d).sum() on 4 float64[4] tensors (min of {repeat} runs of {number} "
          "calls; wall / CPU time per call)")
    print(f"  {'':<30} {'graphgrad':>21}   {'generated code':>21}   {'overhead (CPU)':>14}")
    for label in pairs:
        w, c = min(samples[label]), min(cpu[label])
        dw, dc = min(samples[label + " [generated code alone]"]), min(cpu[label + " [generated code alone]"])
        print(f"  {label:<30} {w * 1e6:8.2f} / {c * 1e6:6.2f} us   {dw * 1e6:8.2f} / {dc * 1e6:6.2f} us   "
              f"{(c - dc) * 1e6:11.2f} us")


if __name__ == "__main__":
    main()
