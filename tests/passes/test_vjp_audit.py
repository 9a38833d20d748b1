"""passes.vjp_audit derives whether a gradient rule differentiates again from the rule's code."""
import graphgrad  # noqa: F401  (declares the ops)
from graphgrad.ir.api import bind
from graphgrad.passes.vjp_audit import reach, second_order
from graphgrad.passes.vjp_rules import VJP_RULES, VJPRule


def test_a_rule_reaches_the_ops_of_its_helpers_methods_and_operators():
    ops, escapes = reach(VJP_RULES["amax"].per_input[0])  # unreduce, ==, _cast, *, /, .sum
    assert {"eq", "mul", "div", "sum", "reshape", "expand", "cast"} <= ops and not escapes
    assert second_order("amax") == "yes" and second_order("argmax") == "zero"


def test_a_rule_that_leaves_the_tensor_api_or_binds_an_op_without_a_rule_is_not_second_order(monkeypatch):
    def through_numpy(g, out, x):
        return g * x.detach().numpy()

    def through_fused(g, out, x):
        return bind("fused", g, x)

    def nested(g, out, x):
        return (lambda t: t.item())(g)

    monkeypatch.setitem(VJP_RULES, "exp", VJPRule((through_numpy,), False, frozenset({0})))
    assert second_order("exp") == "no (.detach, .numpy)"
    monkeypatch.setitem(VJP_RULES, "exp", VJPRule((through_fused,), False, frozenset({0})))
    monkeypatch.delitem(VJP_RULES, "fused", raising=False)
    assert second_order("exp") == "no (fused)"
    monkeypatch.setitem(VJP_RULES, "exp", VJPRule((nested,), False, frozenset({0})))
    assert second_order("exp") == "no (.item)"
