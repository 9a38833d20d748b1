"""Source conversion of Python control flow for tracing (TensorFlow AutoGraph's idea).

Inside ``@graphgrad.compile``, ``graphgrad.grad`` and ``graphgrad.value_and_grad`` the traced function is
rewritten from its source before it runs:

- ``if``/``elif``/``else`` -> two local functions (the branches, taking and returning the variables either
  branch assigns) and a call ``gg__.if_stmt(test, true, false, names, values)``;
- ``while test:`` -> ``gg__.while_stmt(test_fn, body_fn, names, values)``;
- ``for i in range(...):`` -> ``gg__.for_range(args, body_fn, names, values)``;
- an ``if`` that returns on some paths, when the rest of its block ends in ``return`` -> the rest copied into each
  branch that falls through, then ``return gg__.if_return(...)``;
- ``a if test else b`` -> ``gg__.if_exp(test, lambda: a, lambda: b)``;
- every call ``f(...)`` -> ``gg__.call(f, ...)``, which converts the user's functions it reaches too.

The helpers decide at run time: a test that is a Python value (or an eager tensor) runs the construct as
plain Python, so control flow on shapes, ints and flags still specializes at trace time; a traced test
records ``cond`` / ``while`` / ``scan`` nodes (``graphgrad.ops.control``). ``break``, ``continue``, a ``return``
that cannot be restructured, ``raise``, ``assert``, and a change to an object from outside the branch or body
(``d[k] = v``, ``outs.append(h)``: it would run once at trace time, whatever the data) stay Python, with a test
that raises a TracerError at the user's line saying what to change if it turns out to be traced. Line numbers
are the user's, so errors, the IR and the generated code point at the original lines. Functions without source
(lambdas typed at a REPL, builtins) are left as they are.
"""
from __future__ import annotations

import ast
import copy
import functools
import inspect
import itertools
import linecache
import textwrap
import types
import weakref

#: the run-time helpers (``if_stmt``, ``while_stmt``, ...), installed by ``graphgrad.ops.autograph``
RUNTIME = types.SimpleNamespace()
_NAME = "gg__"


class _Unconvertible(Exception):
    pass


# -- analysis ------------------------------------------------------------------------------------------

class _Assigned(ast.NodeVisitor):
    """Names a block assigns (not inside nested functions, lambdas, classes or comprehensions)."""

    def __init__(self):
        self.names: list[str] = []

    def _add(self, name: str) -> None:
        if name not in self.names and not name.startswith(_NAME):
            self.names.append(name)

    def visit_Name(self, node):
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self._add(node.id)

    def visit_Call(self, node):
        # `y.mul_(2)`, `y.add_(x)`: an in-place update of the tensor `y` is, for a branch or loop body, a new value
        # of `y` that it must hand out (a traced branch works on its own copy of the variables it assigns)
        f = node.func
        if (isinstance(f, ast.Attribute) and f.attr == "call" and isinstance(f.value, ast.Name)
                and f.value.id == _NAME and node.args):
            f = node.args[0]  # already rewritten to gg__.call(y.mul_, 2)
        if (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.attr.endswith("_")
                and not f.attr.startswith("_")):
            self._add(f.value.id)
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        self._add(node.name)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self._add(node.name)

    def visit_Lambda(self, node):
        pass

    def visit_ListComp(self, node):
        pass

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp

    def visit_Import(self, node):
        for alias in node.names:
            self._add((alias.asname or alias.name).split(".")[0])

    visit_ImportFrom = visit_Import


def _assigned(stmts: list) -> list[str]:
    v = _Assigned()
    for s in stmts:
        v.visit(s)
    return v.names


class _Jumps(ast.NodeVisitor):
    """``return``/``break``/``continue``/``raise``/``yield``/``global``/``nonlocal`` in a block (break and continue
    only where they leave the block's own loop level)."""

    def __init__(self):
        self.found: set[str] = set()
        self.loop_depth = 0

    def visit_Return(self, node):
        self.found.add("return")

    def visit_Break(self, node):
        if not self.loop_depth:
            self.found.add("break")

    def visit_Continue(self, node):
        if not self.loop_depth:
            self.found.add("continue")

    def visit_Raise(self, node):
        self.found.add("raise")

    def visit_Yield(self, node):
        self.found.add("yield")

    visit_YieldFrom = visit_Yield

    def visit_Global(self, node):
        self.found.add("global")

    visit_Nonlocal = visit_Global

    def _loop(self, node):
        self.loop_depth += 1
        for s in node.body:
            self.visit(s)
        self.loop_depth -= 1
        for s in node.orelse:
            self.visit(s)

    visit_For = visit_While = visit_AsyncFor = _loop

    def visit_FunctionDef(self, node):
        pass

    visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = visit_FunctionDef


def _jumps(stmts: list) -> set[str]:
    v = _Jumps()
    for s in stmts:
        v.visit(s)
    return v.found


# -- the rewriting ------------------------------------------------------------------------------------

def _helper(name: str) -> ast.expr:
    return ast.Attribute(ast.Name(_NAME, ast.Load()), name, ast.Load())


def _str_tuple(names: list) -> ast.expr:
    return ast.Tuple([ast.Constant(n) for n in names], ast.Load())


def _values(names: list) -> ast.expr:
    """``gg__.values(locals(), names)``: each name's current value (UNDEFINED where it has none yet)."""
    return ast.Call(_helper("values"), [ast.Call(ast.Name("locals", ast.Load()), [], []), _str_tuple(names)], [])


def _fn(name: str, params: list, body: list, returns: ast.expr | None) -> ast.FunctionDef:
    body = list(body) + ([ast.Return(returns)] if returns is not None else [])
    return ast.FunctionDef(name=name, args=ast.arguments(posonlyargs=[], args=[ast.arg(p) for p in params],
                                                          kwonlyargs=[], kw_defaults=[], defaults=[]),
                           body=body or [ast.Pass()], decorator_list=[], returns=None)


def _names_tuple(names: list, ctx) -> ast.expr:
    return ast.Tuple([ast.Name(n, ctx()) for n in names], ctx())


def _at(nodes: list, line: int) -> list:
    """Give the synthesized nodes (those without a position) the line of the construct they replace: the
    helper call then reports that line, not the end of the block."""
    for top in nodes:
        for n in ast.walk(top):
            if "lineno" in n._attributes and getattr(n, "lineno", None) is None:
                n.lineno, n.end_lineno, n.col_offset, n.end_col_offset = line, line, 0, 0
    return nodes


def _always_returns(stmts: list) -> bool:
    """The block cannot fall off its end: it ends in a ``return``, or in an ``if`` whose branches both do."""
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, ast.If):
        return _always_returns(last.body) and _always_returns(last.orelse)
    return isinstance(last, ast.Return)


def _returns_only_last(stmts: list) -> bool:
    """The block ends in a ``return`` and has no other (nested functions' returns are theirs)."""
    return _always_returns(stmts) and "return" not in _jumps(stmts[:-1])


def _falls_through_to(rest: list) -> bool:
    """Whether the statements after an ``if`` can be copied into its branches: they end in a ``return`` and
    leave no other way (``break``, ``continue``, ``yield``, ``global``)."""
    return _always_returns(rest) and _jumps(rest) <= {"return"}


#: methods that change the object they are called on (list, dict, set, deque): called inside a traced branch or
#: loop body on an object from outside it, the change would happen once while tracing, whatever the data
_MUTATORS = frozenset({"append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault", "popitem",
                       "add", "discard", "sort", "reverse", "appendleft", "extendleft", "popleft", "__setitem__",
                       "__delitem__", "__iadd__"})


def _root_name(node) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


class _OuterMutations(ast.NodeVisitor):
    """Changes a block makes to objects it did not create: ``d[k] = v``, ``obj.n += 1``, ``del d[k]``,
    ``outs.append(h)`` on a name the block does not assign (not inside nested functions or lambdas)."""

    def __init__(self, local: set):
        self.local = local
        self.found: list = []

    def _target(self, t, stmt) -> None:
        if isinstance(t, (ast.Tuple, ast.List)):
            for e in t.elts:
                self._target(e, stmt)
        elif isinstance(t, ast.Starred):
            self._target(t.value, stmt)
        elif isinstance(t, (ast.Attribute, ast.Subscript)):
            root = _root_name(t)
            if root is None or root not in self.local:
                self.found.append(stmt)

    def visit_Assign(self, node):
        for t in node.targets:
            self._target(t, node)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._target(node.target, node)
        self.generic_visit(node)

    visit_AnnAssign = visit_AugAssign

    def visit_Delete(self, node):
        for t in node.targets:
            self._target(t, node)

    def visit_Call(self, node):
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr in _MUTATORS:
            root = _root_name(f.value)
            if root is None or root not in self.local:
                self.found.append(node)
        elif isinstance(f, ast.Name) and f.id in ("setattr", "delattr") and node.args:
            root = _root_name(node.args[0])
            if root is None or root not in self.local:
                self.found.append(node)
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        pass

    visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = visit_FunctionDef


def _outer_mutation(stmts: list) -> str | None:
    """The source of the first change ``stmts`` make to an object from outside them, or None."""
    v = _OuterMutations(set(_assigned(stmts)))
    for s in stmts:
        v.visit(s)
    if not v.found:
        return None
    node = v.found[0]
    text = ast.unparse(node).split("\n")[0]
    return text if len(text) <= 60 else text[:57] + "..."


def _located_call(helper: str, args: list, node: ast.AST) -> ast.Call:
    """``gg__.helper(*args)`` at ``node``'s position, its attribute included: a method-style call reports its
    attribute's line, which is then the user's line (the converter's lazy lambdas are no frames of their own)."""
    func = _helper(helper)
    for part in ast.walk(func):
        ast.copy_location(part, node)
    return ast.copy_location(ast.Call(func, args, []), node)


def _lazy(expr: ast.expr) -> ast.expr:
    return ast.copy_location(ast.Lambda(ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[],
                                                      defaults=[]), expr), expr)


def _logical(test: ast.expr) -> ast.expr:
    """``a and b`` / ``a or b`` / ``not a`` in a test -> ``gg__.and_(lambda: a, lambda: b)`` ...: Python's
    short-circuit on Python values, elementwise logic on traced ones (``and`` would ask a traced bool). Not where
    an operand holds ``:=``: inside the lambda it would bind the lambda's name, not the function's."""
    if isinstance(test, ast.BoolOp) and not any(isinstance(n, ast.NamedExpr) for n in ast.walk(test)):
        fn = "and_" if isinstance(test.op, ast.And) else "or_"
        values = [_logical(v) for v in test.values]
        out = values[0]
        for v in values[1:]:
            out = _located_call(fn, [_lazy(out), _lazy(v)], test)
        return out
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return ast.copy_location(ast.Call(_helper("not_"), [_logical(test.operand)], []), test)
    if _is_call_of(test, "bool"):  # `if bool(t):` is `if t:`
        return _logical(test.args[1])
    return test


def _is_call_of(node, name: str) -> bool:
    """``node`` is ``name(one argument)`` after the call rewrite (``gg__.call(name, a)``)."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "call"
            and isinstance(node.func.value, ast.Name) and node.func.value.id == _NAME and len(node.args) == 2
            and not node.keywords and isinstance(node.args[0], ast.Name) and node.args[0].id == name)


def _range_bound(arg: ast.expr) -> ast.expr:
    """A ``range`` argument: ``int(t)`` and ``t.item()`` of a traced ``t`` stay traced (``gg__.to_int``), so the
    loop becomes a loop node rather than asking the tensor's value at trace time."""
    if _is_call_of(arg, "int"):
        return ast.copy_location(ast.Call(_helper("to_int"), [arg.args[1]], []), arg)
    if (isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr == "call"
            and len(arg.args) == 1 and not arg.keywords and isinstance(arg.args[0], ast.Attribute)
            and arg.args[0].attr == "item"):
        return ast.copy_location(ast.Call(_helper("to_int"), [arg.args[0].value, ast.Constant(True)], []), arg)
    return arg


def _declared_global(body: list) -> set:
    """The names a function body declares ``global`` (not its nested functions')."""
    found: set = set()

    class Visitor(ast.NodeVisitor):
        def visit_Global(self, node):
            found.update(node.names)

        def visit_FunctionDef(self, node):
            pass

        visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = visit_FunctionDef

    for stmt in body:
        Visitor().visit(stmt)
    return found


class _Converter(ast.NodeTransformer):
    def __init__(self):
        self.counter = itertools.count()
        self.in_class = False  # a class body's names are not visible from a lambda in it
        self.globals: set = set()  # the names the function being converted declares global

    def _jumps(self, stmts: list) -> set:
        """``_jumps``, and "global" where the block assigns a name the function declares global: as a branch's
        or body's variable it would become a local of the branch function, and the global would get the
        converter's undefined marker."""
        found = _jumps(stmts)
        if self.globals and self.globals & set(_assigned(stmts)):
            found.add("global")
        return found

    def _fresh(self, kind: str, node) -> str:
        return f"{_NAME}{kind}_{node.lineno}_{next(self.counter)}"

    def _static_only(self, test: ast.expr, why: str) -> ast.expr:
        """``test``, checked to be a Python value at run time (else a TracerError at this line saying ``why``)."""
        return ast.copy_location(ast.Call(_helper("must_be_static"), [test, ast.Constant(why)], []), test)

    # -- blocks: an `if` whose body returns takes the rest of its block as its else ---------------------
    def _block(self, stmts: list) -> list:
        """Visit a block. An ``if`` that returns on some of its paths, followed by statements that end in a
        ``return``, gets a copy of those statements at the end of each branch that falls through: every path of
        it then returns, and it becomes one ``cond`` of the value returned (``if_return``)."""
        out: list = []
        for i, s in enumerate(stmts):
            rest = stmts[i + 1:]
            jumps = self._jumps([s]) if isinstance(s, ast.If) else set()
            if "return" in jumps and jumps <= {"return"} and _falls_through_to(rest):
                if not _always_returns(s.body):
                    s.body = s.body + copy.deepcopy(rest)
                if not _always_returns(s.orelse):
                    s.orelse = s.orelse + copy.deepcopy(rest)
                out.extend(self._as_list(self.visit(s)))
                return out
            out.extend(self._as_list(self.visit(s)))
        return out

    @staticmethod
    def _as_list(x) -> list:
        return x if isinstance(x, list) else [x]

    def visit_FunctionDef(self, node):
        outer, self.in_class = self.in_class, False
        outer_globals, self.globals = self.globals, _declared_global(node.body)
        body = node.body
        if "return" in _jumps(body) and not _jumps(body) & {"yield"} and not _always_returns(body):
            # falling off the end returns None: said explicitly, an `if` that returns can take it as its other path
            body = body + [ast.copy_location(ast.Return(None), body[-1])]
        try:
            node.body = self._block(body)
        finally:
            self.in_class, self.globals = outer, outer_globals
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        return self._scoped(node, False)

    def visit_ClassDef(self, node):
        return self._scoped(node, True)

    def _scoped(self, node, in_class: bool):
        outer, self.in_class = self.in_class, in_class
        try:
            return self.generic_visit(node)
        finally:
            self.in_class = outer

    # -- a if test else b -----------------------------------------------------------------------------------
    def visit_IfExp(self, node):
        self.generic_visit(node)
        # the branches become lambdas: not where that changes what a name means (a class body, `:=`)
        if self.in_class or any(isinstance(n, (ast.NamedExpr, ast.Yield, ast.YieldFrom, ast.Await))
                                for branch in (node.body, node.orelse) for n in ast.walk(branch)):
            return node
        return _located_call("if_exp", [_logical(node.test), _lazy(node.body), _lazy(node.orelse)], node)

    def visit_Call(self, node):
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in ("locals", "super", "globals", "vars", "eval", "exec"):
            return node
        helper = _helper("call")
        for part in ast.walk(helper):  # at the call's own position: a method-style call reports its attribute's line
            ast.copy_location(part, node)
        return ast.copy_location(ast.Call(helper, [node.func] + node.args, node.keywords), node)

    # -- if ----------------------------------------------------------------------------------------------
    def visit_If(self, node):
        node.test = _logical(self.visit(node.test))
        mutation = _outer_mutation(node.body + node.orelse)  # before the branches are rewritten
        node.body = self._block(node.body)
        node.orelse = self._block(node.orelse)
        jumps = self._jumps(node.body) | self._jumps(node.orelse)
        if mutation is not None:
            node.test = self._static_only(node.test, _mutation_advice(mutation, "an `if`"))
            return node
        if jumps == {"return"} and _returns_only_last(node.body) and _returns_only_last(node.orelse):
            names = _assigned(node.body + node.orelse)
            t, f = self._fresh("if_true", node), self._fresh("if_false", node)
            defs = [ast.copy_location(_fn(t, names, node.body, None), node),
                    ast.copy_location(_fn(f, names, node.orelse, None), node)]
            call = ast.Call(_helper("if_return"), [node.test, ast.Name(t, ast.Load()), ast.Name(f, ast.Load()),
                                                   _str_tuple(names), _values(names)], [])
            return _at(defs + [ast.Return(call)], node.lineno)
        if jumps:
            what = sorted(jumps)[0]
            node.test = self._static_only(node.test, f"`{what}` inside an `if` whose test is a traced tensor: "
                                                     f"{_ADVICE.get(what, _ADVICE['other'])}")
            return node
        names = _assigned(node.body + node.orelse)
        t, f = self._fresh("if_true", node), self._fresh("if_false", node)
        result = _names_tuple(names, ast.Load)
        defs = [_fn(t, names, node.body, result), _fn(f, names, node.orelse, result)]
        call = ast.Call(_helper("if_stmt"), [node.test, ast.Name(t, ast.Load()), ast.Name(f, ast.Load()),
                                             _str_tuple(names), _values(names)], [])
        stmt = ast.Assign([_names_tuple(names, ast.Store)], call) if names else ast.Expr(call)
        return _at(defs + [stmt], node.lineno)

    def visit_Assert(self, node):
        self.generic_visit(node)
        node.test = self._static_only(_logical(node.test), _ADVICE["assert"])
        return node

    def visit_ExceptHandler(self, node):
        """``except Exception:`` (or bare, ``RuntimeError``, ...) would catch the TracerError that says why a
        construct cannot be traced (``float(x)`` of a traced value, both branches of a traced ``if``), and the
        handler's fallback would be compiled in silently: it re-raises those first (``gg__.reraise``), unless the
        handler names ``TracerError`` itself."""
        self.generic_visit(node)
        if node.type is not None and any(isinstance(n, (ast.Name, ast.Attribute))
                                          and (getattr(n, "id", None) or getattr(n, "attr", None)) == "TracerError"
                                          for n in ast.walk(node.type)):
            return node
        if node.name is None:
            node.name = f"{_NAME}exc"
        check = ast.Expr(ast.Call(_helper("reraise"), [ast.Name(node.name, ast.Load())], []))
        node.body = _at([check], node.lineno) + node.body
        return node

    # -- while ---------------------------------------------------------------------------------------------
    def visit_While(self, node):
        node.test = _logical(self.visit(node.test))
        mutation = _outer_mutation(node.body)
        node.body = self._block(node.body)
        node.orelse = self._block(node.orelse)
        jumps = self._jumps(node.body)
        if mutation is not None:
            node.test = self._static_only(node.test, _mutation_advice(mutation, "a `while` loop"))
            return node
        if any(isinstance(n, ast.NamedExpr) for n in ast.walk(node.test)):
            # the test becomes a function of its own, where `:=` would bind a name of that function
            node.test = self._static_only(node.test, _ADVICE["walrus"])
            return node
        if jumps or node.orelse:
            what = sorted(jumps)[0] if jumps else "else"
            node.test = self._static_only(node.test, f"`{what}` in a `while` loop whose test is a traced tensor: "
                                                     f"{_ADVICE.get(what, _ADVICE['other'])}")
            return node
        names = _assigned(node.body)
        c, b = self._fresh("while_test", node), self._fresh("while_body", node)
        defs = [_fn(c, names, [], node.test), _fn(b, names, node.body, _names_tuple(names, ast.Load))]
        call = ast.Call(_helper("while_stmt"), [ast.Name(c, ast.Load()), ast.Name(b, ast.Load()),
                                                _str_tuple(names), _values(names)], [])
        stmt = ast.Assign([_names_tuple(names, ast.Store)], call) if names else ast.Expr(call)
        return _at(defs + [stmt], node.lineno)

    # -- for i in range(...) ----------------------------------------------------------------------------
    def visit_For(self, node):
        node.iter = self.visit(node.iter)
        mutation = _outer_mutation(node.body)
        node.body = self._block(node.body)
        node.orelse = self._block(node.orelse)
        it = node.iter
        # the iterator was rewritten to gg__.call(range, ...): recognise that form
        is_range = (isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr == "call"
                    and it.args and isinstance(it.args[0], ast.Name) and it.args[0].id == "range" and not it.keywords
                    and 2 <= len(it.args) <= 4)
        if not is_range or not isinstance(node.target, ast.Name):
            return node
        args = [_range_bound(a) for a in it.args[1:]]
        jumps = self._jumps(node.body)
        if jumps or node.orelse or mutation is not None:
            what = sorted(jumps)[0] if jumps else "else" if node.orelse else None
            why = (_mutation_advice(mutation, "a `for` loop over range(traced tensor)") if what is None else
                   f"`{what}` in a `for` loop over range(traced tensor): {_ADVICE.get(what, _ADVICE['other'])}")
            node.iter = ast.copy_location(ast.Call(ast.Name("range", ast.Load()), [
                self._static_only(a, why) for a in args], []), it)
            return node
        target = node.target.id
        names = [n for n in _assigned(node.body) if n != target]
        b = self._fresh("for_body", node)
        defs = [_fn(b, [target] + names, node.body, _names_tuple(names, ast.Load))]
        # the loop variable is one of the results: after the loop it holds the last index, as in Python
        call = ast.Call(_helper("for_range"), [ast.Tuple(args, ast.Load()), ast.Name(b, ast.Load()),
                                               _str_tuple([target] + names), _values([target] + names)], [])
        stmt = ast.Assign([_names_tuple([target] + names, ast.Store)], call)
        return _at(defs + [stmt], node.lineno)


def _mutation_advice(what: str, construct: str) -> str:
    return (f"`{what}` changes an object from outside {construct} whose test is a traced tensor: it would run "
            f"once while the function is traced, whatever the data. Assign the new value to a local variable and "
            f"store it after the {construct.split('`')[1]} (a tensor's item: y = y.at[i].set(v); a list that "
            f"grows: graphgrad.scan, or a loop over a Python range)")


_ADVICE = {
    "return": "assign the result to a variable in every branch and return it after the if "
              "(or end both branches with a return)",
    "break": "fold the exit condition into the loop's test (e.g. `while cond and not done:`), or use "
             "graphgrad.while_loop",
    "continue": "put the rest of the body under an `if` instead of using `continue`",
    "yield": "a generator cannot be traced through data-dependent control flow; compute the values eagerly",
    "global": "pass the value in and return it instead of assigning a global/nonlocal name",
    "else": "move the `else:` block after the loop",
    "walrus": "`:=` in the test of a `while` loop whose test is a traced tensor: assign the value before the loop "
              "and at the end of its body instead",
    "raise": "the compiled code cannot raise on data: check the condition before calling the compiled function, "
             "or make the value safe with graphgrad.where",
    "assert": "`assert` on a traced tensor: the compiled code cannot raise on data; check it before calling the "
              "compiled function (or on its result), or remove the assert",
    "other": "rewrite it with graphgrad.cond / graphgrad.while_loop",
}


# -- conversion ------------------------------------------------------------------------------------------

_CODE_CACHE: dict = {}     # code object -> (converted code object, freevar names) or None
_FN_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _lambda_def(code) -> "ast.FunctionDef | None":
    """The ``lambda`` that compiled to ``code``, as a ``def`` returning its body: of the lambdas in its file on its
    line, the innermost whose span holds every instruction's position and whose parameters are the code's."""
    try:
        filename = inspect.getsourcefile(code) or code.co_filename
        tree = ast.parse("".join(_source_lines(filename)))
    except (OSError, TypeError, SyntaxError, ValueError):
        return None
    spots = [(line, col, end_line, end_col) for line, end_line, col, end_col in code.co_positions()
             if line is not None and col is not None and (line, col) != (end_line, end_col)]
    params = list(code.co_varnames[:code.co_argcount + code.co_kwonlyargcount])
    found = None
    for node in ast.walk(tree):
        if (isinstance(node, ast.Lambda) and node.lineno == code.co_firstlineno
                and [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs] == params
                and all((node.lineno, node.col_offset) <= (l, c) and (el, ec) <= (node.end_lineno, node.end_col_offset)
                        for l, c, el, ec in spots)):
            if found is None or (node.lineno, node.col_offset) > (found.lineno, found.col_offset):
                found = node  # a lambda inside another starts after it
    if found is None:
        return None
    fdef = ast.FunctionDef(name=f"{_NAME}lambda", args=found.args, body=[ast.Return(found.body)],
                           decorator_list=[], returns=None)
    return ast.copy_location(fdef, found)


def _source_lines(filename: str) -> list:
    """The file's current lines: ``linecache`` keeps a file's text until asked to check it, and a function edited
    and reloaded (same name, same line) would otherwise be converted from its old text and compute the old
    formula. The check is one ``stat``."""
    linecache.checkcache(filename)
    return linecache.getlines(filename)


def _block(lines: list, first: int) -> list | None:
    """The lines of the ``def`` whose decorators or header start at line ``first``, found by indentation: a block
    cut short inside brackets or a string does not parse, and the caller then asks ``inspect``."""
    start = first - 1
    if not 0 <= start < len(lines):
        return None
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start
    while end < len(lines) and lines[end].lstrip().startswith("@"):
        end += 1  # the decorators
    end += 1  # the def line
    while end < len(lines):
        text = lines[end].strip()
        if text and not text.startswith("#") and len(lines[end]) - len(lines[end].lstrip()) <= indent:
            break
        end += 1
    return lines[start:end]


def _definition(code):
    """``(tree, first line, file name)``: the parsed source of the function ``code`` was compiled from, or None.
    The file's lines come from ``linecache``; ``inspect.getsourcelines`` finds the same block but scans every
    loaded module (``inspect.getmodule``) and tokenizes, which took 30 ms of a process's first compile."""
    lines = _source_lines(code.co_filename)
    block = _block(lines, code.co_firstlineno) if lines else None
    if block is not None:
        try:
            return ast.parse(textwrap.dedent("".join(block))), code.co_firstlineno, code.co_filename
        except SyntaxError:
            pass
    try:
        lines, first = inspect.getsourcelines(code)  # the code's own source (a function would follow __wrapped__)
        filename = inspect.getsourcefile(code) or code.co_filename
        return ast.parse(textwrap.dedent("".join(lines))), first, filename
    except (OSError, TypeError, SyntaxError):
        return None


def _convert_code(fn):
    code = fn.__code__
    if code in _CODE_CACHE:
        return _CODE_CACHE[code]
    if code.co_name == "<lambda>":
        fdef = _lambda_def(code)
        filename = inspect.getsourcefile(code) or code.co_filename
        inner = None if fdef is None else _compile_converted(fdef, code, filename)
        _CODE_CACHE[code] = inner
        return inner
    found = _definition(code)
    if found is None:
        _CODE_CACHE[code] = None
        return None
    tree, first, filename = found
    ast.increment_lineno(tree, first - 1)
    fdef = tree.body[0] if tree.body else None
    if not isinstance(fdef, ast.FunctionDef) or fdef.name != code.co_name:
        _CODE_CACHE[code] = None  # a lambda, or source that is not this function's definition
        return None
    if first != code.co_firstlineno:  # the source of another function (a wrapper's __wrapped__)
        _CODE_CACHE[code] = None
        return None
    fdef.decorator_list = []
    inner = _compile_converted(fdef, code, filename)
    _CODE_CACHE[code] = inner
    return inner


def _compile_converted(fdef: ast.FunctionDef, code, filename: str):
    """The code object of ``fdef`` (the source of ``code``) after conversion."""
    fdef = _Converter().visit(fdef)
    # a name of its own inside the factory: under its user's name, a function that calls itself (recursion)
    # would find the factory's local instead of its global, and have a free variable no closure cell fills
    name = fdef.name = f"{_NAME}converted"
    # compile inside a factory whose parameters are the free variables (and gg__), so the converted
    # function's code has them as free variables too: it then runs with the original closure cells
    freevars = list(code.co_freevars)
    factory = _fn("gg__factory", [_NAME] + freevars, [fdef], ast.Name(fdef.name, ast.Load()))
    factory = ast.copy_location(factory, fdef)
    module = ast.fix_missing_locations(ast.Module([factory], []))
    compiled = compile(module, filename, "exec")
    factory_code = next(c for c in compiled.co_consts if isinstance(c, types.CodeType))
    inner = next(c for c in factory_code.co_consts if isinstance(c, types.CodeType) and c.co_name == name)
    return inner.replace(co_name=code.co_name, co_qualname=code.co_qualname)


def convert(fn):
    """``fn`` with its control flow rewritten (see the module docstring); ``fn`` itself when its source is
    unavailable or it is not a plain Python function. Cached per function."""
    if isinstance(fn, types.MethodType):
        converted = convert(fn.__func__)
        return fn if converted is fn.__func__ else types.MethodType(converted, fn.__self__)
    if not isinstance(fn, types.FunctionType):
        return fn
    hit = _FN_CACHE.get(fn)
    if hit is not None and hit.__graphgrad_converted__ is not fn.__code__:  # fn.__code__ = ...: convert it again
        hit = None
    if hit is not None:
        if hit.__defaults__ is not fn.__defaults__ or hit.__kwdefaults__ is not fn.__kwdefaults__:
            hit.__defaults__, hit.__kwdefaults__ = fn.__defaults__, fn.__kwdefaults__  # f.__defaults__ = ...
        return hit
    try:
        inner = _convert_code(fn)
    except Exception:  # noqa: BLE001  (anything the converter cannot handle runs unconverted)
        inner = None
    if inner is None:
        return fn
    cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))
    cells[_NAME] = types.CellType(RUNTIME)
    try:
        closure = tuple(cells[name] for name in inner.co_freevars)
    except KeyError:
        return fn
    new = types.FunctionType(inner, fn.__globals__, fn.__name__, fn.__defaults__, closure)
    new.__kwdefaults__ = fn.__kwdefaults__
    functools.update_wrapper(new, fn)
    new.__wrapped__ = fn
    new.__graphgrad_converted__ = fn.__code__  # what was converted
    _FN_CACHE[fn] = new
    return new


def converted_source(fn) -> str | None:
    """The converted function as Python source (for reading; ``ast.unparse``), or None."""
    try:
        lines, _ = inspect.getsourcelines(fn)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError):
        return None
    fdef = tree.body[0]
    fdef.decorator_list = []
    return ast.unparse(ast.fix_missing_locations(_Converter().visit(fdef)))
