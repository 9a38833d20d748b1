"""Compile cost grows linearly: counted, not timed. The type rules are asked once per distinct question, the
verifier runs once per stage whatever the graph's size, and tracing runs no hook on every Python call."""
import sys

import numpy as np

import graphgrad as gg
import graphgrad.ir.registry as registry
import graphgrad.passes.adjoint as adjoint
import graphgrad.ir.verify as verify_module
import graphgrad.passes.optimize as optimize

RULE, VERIFY_ADJOINT, VERIFY_OPTIMIZE = registry.infer_type, adjoint.verify, optimize.verify


def chain(n):
    def f(x):
        y = x
        for i in range(n):
            y = (y + 0.5) if i % 3 == 0 else (y * 0.9) if i % 3 == 1 else y.tanh()
        return y.sum()
    return f


def counts(monkeypatch, n):
    calls = {"rules": 0, "verify": 0}

    def counted_rule(*a, **k):
        calls["rules"] += 1
        return RULE(*a, **k)

    def counted(original):
        def verify(graph):
            calls["verify"] += 1
            return original(graph)
        return verify

    monkeypatch.setattr(registry, "infer_type", counted_rule)
    monkeypatch.setattr(verify_module, "infer_type", counted_rule)
    monkeypatch.setattr(adjoint, "verify", counted(VERIFY_ADJOINT))
    monkeypatch.setattr(optimize, "verify", counted(VERIFY_OPTIMIZE))
    monkeypatch.setattr(verify_module, "_TYPES", {})  # a cold memo: count every distinct question
    gg.compile(chain(n))(gg.tensor(np.linspace(0, 1, 4), requires_grad=True)).backward()
    return calls


def test_type_rules_and_verification_do_not_grow_with_the_graph(monkeypatch):
    small, large = counts(monkeypatch, 30), counts(monkeypatch, 300)
    assert large["verify"] == small["verify"] == 2  # the adjoint and the optimized stage, once each
    assert large["rules"] == small["rules"]  # 300 ops of three kinds ask the rules the same few questions


def test_tracing_installs_no_per_call_hook():
    seen = []

    def f(x):
        seen.append(sys.getprofile())
        return (x * 2.0).sum()

    gg.compile(f)(gg.ones(3))
    assert seen == [None]
