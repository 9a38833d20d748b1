"""The ``graphgrad`` command: ``dump`` a function's IR and generated code, ``demo``, ``ops``, ``cache``."""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import time

import numpy as np

STAGE_CHOICES = ("traced", "pruned", "adjoint", "batched", "optimized", "forward", "backward", "all")
FORMATS = ("text", "dot", "json", "numpy", "cupy", "numba", "svg", "png")
PICTURES = ("svg", "png")  # drawn by Graphviz's dot


class UsageError(Exception):
    """A mistake in the command line or the user's file: reported in one line, exit code 2."""


_SPEC = re.compile(r"^(?P<name>[A-Za-z_]\w*)=(?P<type>(f32|f64|i64|bool)\[[0-9,\s]*\])(?P<grad>:grad)?$")


def parse_arg_spec(text: str):
    """``x=f32[128,784]`` or ``w=f32[784,10]:grad`` -> (name, TensorType, requires_grad)."""
    from .ir.types import TensorType

    m = _SPEC.match(text.strip())
    if not m:
        raise UsageError(f"bad --arg {text!r}: expected NAME=TYPE[SHAPE][:grad], e.g. x=f32[128,784] or "
                         f"w=f32[784,10]:grad (types: f32, f64, i64, bool)")
    ttype = TensorType.parse(m["type"].replace(" ", ""))
    if m["grad"] and not ttype.is_floating:
        raise UsageError(f"--arg {text}: only floating point tensors can require grad")
    return m["name"], ttype, bool(m["grad"])


def load_function(target: str):
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise UsageError(f"expected FILE.py:FUNC, got {target!r}")
    if not os.path.isfile(path):
        raise UsageError(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location(f"graphgrad_user_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    # registered while it runs, as `import` does: dataclasses, pickle and typing look the module up by name
    sys.modules[spec.name] = module
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        spec.loader.exec_module(module)
    except SystemExit as e:  # not an Exception: it would end graphgrad silently with the script's code
        del sys.modules[spec.name]
        raise UsageError(f"{path} called sys.exit({e.code!r}) while being imported; put its script code under "
                         f"`if __name__ == \"__main__\":`") from e
    except Exception as e:
        del sys.modules[spec.name]
        raise UsageError(f"{path} failed to import: {type(e).__name__}: {e}") from e
    finally:
        sys.path.pop(0)
    fn = getattr(module, name, None)
    if fn is None:
        raise UsageError(f"{path} has no function {name!r}")
    return getattr(fn, "fn", fn)  # accept an already @compile'd function


def example_args(fn, specs: list[str]):
    import inspect

    from . import runtime  # noqa: F401  (installs eager runtime)
    from .runtime.tensor import Tensor

    parsed = {}
    for s in specs:
        name, ttype, grad = parse_arg_spec(s)
        if name in parsed:
            raise UsageError(f"--arg {name} given twice ({', '.join(x for x in specs if x.split('=')[0] == name)})")
        parsed[name] = (ttype, grad)
    signature = list(inspect.signature(fn).parameters.values())
    params = [p.name for p in signature]
    positional = [p for p in signature if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    extra = [n for n in parsed if n not in params]
    if extra:
        raise UsageError(f"--arg {extra[0]}: {fn.__name__}({', '.join(params)}) has no parameter named {extra[0]!r}")
    by_name = [n for n in parsed if n not in {p.name for p in positional}]
    if by_name:
        raise UsageError(f"--arg {by_name[0]}: dump passes arguments by position and {fn.__name__}'s "
                         f"{by_name[0]!r} is not positional; leave it to its default")
    # a parameter left out takes its default, where it has one and no later positional parameter is given
    last = max((i for i, p in enumerate(positional) if p.name in parsed), default=-1)
    missing = [p.name for i, p in enumerate(positional) if p.name not in parsed and (i < last or p.default is p.empty)]
    missing += [p.name for p in signature if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
    if missing:
        raise UsageError(f"missing --arg for parameter(s) {', '.join(missing)} of {fn.__name__}({', '.join(params)})")
    args = []
    for p in (p.name for p in positional[:last + 1]):
        ttype, grad = parsed[p]
        # only the type matters to tracing: a read-only broadcast of one zero allocates nothing
        t = Tensor._wrap(np.broadcast_to(np.zeros((), dtype=ttype.dtype), ttype.shape))
        t._requires_grad = grad
        args.append(t)
    return args


TRANSFORMS = ("grad", "jvp", "hessian", "vmap")


def _parse_in_axes(text: str | None, params: list) -> tuple:
    if text is None:
        return (0,) * len(params)
    items = [t.strip() for t in text.split(",")]
    if len(items) != len(params):
        raise UsageError(f"--in-axes {text!r}: give one axis (or None) per parameter of {len(params)}: "
                         f"{', '.join(params)}")
    try:
        return tuple(None if t == "None" else int(t) for t in items)
    except ValueError:
        raise UsageError(f"--in-axes {text!r}: each entry is an integer axis or None") from None


def transformed(fn, transform: str, args: list, in_axes: str | None = None):
    """``fn`` under a transform, for ``dump --transform``: the arguments marked ``:grad`` are the ones
    differentiated (the first one when none is), and then no longer require grad themselves; jvp takes one
    tangent per differentiated argument after the arguments; vmap maps ``in_axes`` ("0,None,0"; axis 0 of
    every argument by default)."""
    import inspect

    from . import runtime  # noqa: F401
    from .runtime import jax_transforms as jt
    from . import grad as grad_transform
    from .runtime.tensor import Tensor

    params = [p.name for p in inspect.signature(fn).parameters.values()]
    nums = tuple(i for i, a in enumerate(args) if a._requires_grad) or (0,)
    for a in args:
        a._requires_grad = False
    argnums = nums[0] if len(nums) == 1 else nums
    if transform == "grad":
        return grad_transform(fn, argnums), args
    if transform == "hessian":
        return jt.hessian(fn, argnums), args
    if transform == "vmap":
        axes = _parse_in_axes(in_axes, params)
        return jt.vmap(fn, in_axes=axes), args
    n = len(args)

    def jvp_of(*primals_and_tangents):
        primals, tangents = primals_and_tangents[:n], primals_and_tangents[n:]

        def of_differentiated(*diff):
            full = list(primals)
            for i, d in zip(nums, diff):
                full[i] = d
            return fn(*full)

        return jt.jvp(of_differentiated, tuple(primals[i] for i in nums), tuple(tangents))

    jvp_of.__name__ = f"jvp_{fn.__name__}"
    jvp_of.__signature__ = inspect.Signature(
        [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in params]
        + [inspect.Parameter(f"tangent_{params[i]}", inspect.Parameter.POSITIONAL_OR_KEYWORD) for i in nums])
    return jvp_of, args + [Tensor._wrap(args[i]._data.copy()) for i in nums]


def cmd_dump(ns) -> int:
    if ns.output and ns.format not in PICTURES:
        import contextlib

        with open(ns.output, "w", encoding="utf-8") as out, contextlib.redirect_stdout(out):
            return _dump(ns)
    return _dump(ns)


def _dump(ns) -> int:
    from .ir.printer import to_dot, to_json
    from .runtime.compiled import CompiledFunction

    fn = load_function(ns.target)
    args = example_args(fn, ns.arg or [])
    if ns.transform:
        fn, args = transformed(fn, ns.transform, args, ns.in_axes)
    elif ns.in_axes is not None:
        raise UsageError("--in-axes goes with --transform vmap")
    compiled = CompiledFunction(fn)
    if ns.format in ("numpy", "cupy", "numba"):
        print(compiled.source(*args, backend=ns.format), end="")
        if ns.timings:
            print_timings(compiled, args, "#", sys.stdout)
        return 0
    stages = STAGE_CHOICES[:-1] if ns.stage == "all" else (ns.stage,)
    if ns.format in PICTURES:
        return _draw(compiled, args, stages, ns)
    render = {"text": str, "dot": to_dot, "json": to_json}[ns.format]
    spec = compiled.specialize(*args)
    for stage in stages:
        if stage == "backward" and spec.backward is None:
            print("// backward: none (no input requires grad)\n")
            continue
        graph = compiled.graph(*args, stage=stage)
        if len(stages) > 1:
            print(f"// ---- {stage} ----")
        print(render(graph))
        if len(stages) > 1:
            print()
    if spec.backward is not None and any(s in ("forward", "backward") for s in stages):
        print(f"// {compiled.saved_bytes(*args)}", file=sys.stdout if ns.format == "text" else sys.stderr)
    if ns.timings:  # as comments after text; on stderr where they would break a JSON or DOT document
        print_timings(compiled, args, "//", sys.stdout if ns.format == "text" else sys.stderr)
    return 0


def _draw(compiled, args, stages, ns) -> int:
    """``--format svg|png``: the stages' IR drawn by Graphviz (several stages: one box each, in one picture)."""
    from .ir.printer import to_dot, to_dot_stages
    from .ir.render import GraphvizNotFound, render

    if not ns.output and ns.format == "png" and sys.stdout.isatty():
        raise UsageError("--format png writes a binary picture: redirect it (> graph.png) or give -o graph.png")
    spec = compiled.specialize(*args)
    graphs = {stage: compiled.graph(*args, stage=stage) for stage in stages
              if not (stage == "backward" and spec.backward is None)}
    if not graphs:
        raise UsageError("nothing to draw: no input requires grad, so there is no backward (mark one NAME=...:grad)")
    source = to_dot(next(iter(graphs.values()))) if len(graphs) == 1 else to_dot_stages(graphs)
    try:
        picture = render(source, ns.format)
    except GraphvizNotFound as e:
        raise UsageError(str(e)) from None
    if ns.output:
        with open(ns.output, "wb") as f:
            f.write(picture)
    else:
        sys.stdout.buffer.write(picture)
        sys.stdout.flush()
    if ns.timings:
        print_timings(compiled, args, "//", sys.stderr)
    return 0


def print_timings(compiled, args, comment: str, out) -> None:
    """Each compile stage's time for this signature, with the graph sizes they worked on."""
    times = compiled.timings(*args)
    spec = compiled.specialize(*args)
    sizes = {"trace": spec.stages["traced"], "adjoint": spec.stages["adjoint"], "batch": spec.stages["batched"],
             "optimize": spec.stages["optimized"]}
    print(f"{comment} ---- compile time per stage ----", file=out)
    for stage, seconds in times.items():
        size = f"  ({len(sizes[stage].nodes)} nodes)" if stage in sizes else ""
        print(f"{comment} {stage:<10} {seconds * 1e3:9.2f} ms{size}", file=out)
    print(f"{comment} {'total':<10} {sum(times.values()) * 1e3:9.2f} ms", file=out)


def cmd_ops(ns) -> int:
    """One row per op, from the tables the op declarations fill: gradient rule, whether that rule is itself
    differentiable (second order, derived from its code: ``passes.vjp_audit``), forward mode, vmap batching,
    array expression and its CuPy form, and the public names."""
    from .codegen.cuda import C_EXPRESSIONS, C_REDUCTIONS
    from .codegen.expressions import EXPRESSIONS
    from .ir.public import NAMES
    from .ir.registry import OPS
    from .passes.batching import BATCH_RULES
    from .codegen.python import BLOCKS
    from .passes.adjoint import STRUCTURED
    from .passes.vjp_audit import second_order
    from .passes.vjp_rules import NONDIFFERENTIABLE, VJP_RULES

    def names(op, kind):
        return ", ".join(NAMES.get(op, {}).get(kind, ())) or "-"

    rows = []
    for name in sorted(OPS):
        if name == "fused":  # made after differentiation, for codegen only (passes/fusion.py)
            rows.append((name, "- (codegen stage)", "- (codegen stage)", "- (codegen stage)", "- (codegen stage)",
                         "yes", "fused kernel", "-", "-", "-", "-"))
            continue
        grad = ("none (stops it)" if OPS[name].stops_gradient else "zero (piecewise const)" if name in
                NONDIFFERENTIABLE else "rule") if name in VJP_RULES else (
            "sub-graph adjoints" if name in STRUCTURED else "via its node" if name == "get" else "MISSING")
        second = (second_order(name, STRUCTURED) if name in VJP_RULES else
                  "sub-graph adjoints" if name in STRUCTURED else "via its node" if name == "get" else "MISSING")
        # forward mode (jvp) transposes the gradient rule, so an op has one exactly when it has a gradient rule
        jvp = (("zero" if name in NONDIFFERENTIABLE else "transposed gradient") if name in VJP_RULES else
               "transposed adjoints" if name in STRUCTURED else "via its node" if name == "get" else "MISSING")
        batch = getattr(BATCH_RULES.get(name), "__name__", None) or (
            "none (no input)" if name in ("constant", "full", "arange") else "MISSING")
        expr = ("yes" if name in EXPRESSIONS else "python block" if name in BLOCKS else
                "bound by its block" if name == "get" else "MISSING")
        # every expression is written over xp (numpy or cupy); a C template also lets CuPy fuse it into a kernel
        cupy = ("cp expression + C (fusable)" if name in C_EXPRESSIONS else
                "cp expression + C (ends a fused region)" if name in C_REDUCTIONS else
                "cp expression" if name in EXPRESSIONS else "python block" if name in BLOCKS else
                "bound by its block" if name == "get" else "MISSING")
        rows.append((name, grad, second, jvp, batch, expr, cupy, names(name, "numpy"), names(name, "tensor"),
                     names(name, "gg"), names(name, "nn")))
    # public names implemented with other ops: differentiable (to every order their ops allow), batchable and
    # run on CuPy through theirs
    for name in sorted(set(NAMES) - set(OPS)):
        rows.append((name, "composite", "composite", "composite", "composite", "-", "composite",
                     names(name, "numpy"), names(name, "tensor"), names(name, "gg"), names(name, "nn")))
    header = ("op", "gradient", "second order", "jvp", "vmap batching", "expression", "cupy", "numpy name",
              "tensor name", "graphgrad name", "nn.functional name")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0


EXAMPLES = ("cnn", "lstm")


def run_example(ns) -> int:
    """``graphgrad demo --example cnn|lstm``: graphgrad/examples/cnn.py or lstm.py, trained with a progress bar."""
    import importlib

    module = importlib.import_module(f".examples.{ns.example}", __package__)
    plot = None if ns.no_plot else (ns.plot or f"{ns.example}-loss.png")
    module.run(steps=ns.steps, plot=plot, progress_bar=not ns.no_progress)
    return 0


def cmd_demo(ns) -> int:
    if ns.example:
        if ns.dask:
            raise UsageError("--example and --dask are separate demos: give one")
        return run_example(ns)
    if ns.dask:
        from .examples import dask_logreg

        return dask_logreg.run(ns)
    from . import Tensor, compile
    from .examples import mlp

    x, y, label = mlp.make_data()
    params = [Tensor._wrap(p.copy(), True) for p in mlp.init_params()]
    xt, yt = Tensor._wrap(x), Tensor._wrap(y)
    compiled = compile(mlp.loss)
    print("graphgrad demo: a two-layer MLP on three interleaved spirals "
          f"({x.shape[0]} points, hidden width {params[0].shape[1]})\n")
    for stage in ("traced", "optimized"):
        print(f"// ---- IR after stage '{stage}' ----")
        print(compiled.graph(*params, xt, yt, stage=stage), "\n")
    print("// ---- generated NumPy module ----")
    print(compiled.source(*params, xt, yt))

    lr, steps = 0.5, ns.steps if ns.steps is not None else 200
    print(f"training {steps} steps of full-batch gradient descent (lr={lr}):")
    for step in range(steps + 1):
        loss = compiled(*params, xt, yt)
        if step % max(steps // 8, 1) == 0 or step == steps:
            print(f"  step {step:4d}  loss {loss.item():.4f}")
        if step == steps:
            break
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            p._data -= lr * p.grad._data
    w1, b1, w2, b2 = (p._data for p in params)
    pred = (np.maximum(x @ w1 + b1, 0) @ w2 + b2).argmax(1)
    print(f"  training accuracy {np.mean(pred == label):.1%}\n")

    def step_time(fn, repeat=50):
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(repeat):
                for p in params:
                    p.grad = None
                fn(*params, xt, yt).backward()
            best = min(best, (time.perf_counter() - t0) / repeat)
        return best

    eager = step_time(mlp.loss)
    fast = step_time(compiled)
    print(f"forward+backward step: eager {eager * 1e6:.0f} us, compiled {fast * 1e6:.0f} us "
          f"({eager / fast:.2f}x)")
    return 0


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def cmd_cache(ns) -> int:
    from .codegen import loader

    if ns.action == "clear":
        directory = loader.cache_dir()
        removed = loader.cache_clear(directory)
        print(f"removed {removed} file{'s' if removed != 1 else ''} from {directory}")
        return 0
    info = loader.cache_info()
    print(f"directory  {info['directory']}")
    print(f"files      {info['files']}")
    print(f"size       {_megabytes(info['size_bytes'])} ({info['size_bytes']} bytes)")
    print(f"limit      {_megabytes(info['max_bytes'])} (GRAPHGRAD_CACHE_MAX_MB; least recently used removed first)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .examples import dask_logreg  # its options only: Dask itself is imported when the demo runs

    parser = argparse.ArgumentParser(prog="graphgrad", description="graphgrad: an autograd compiler for NumPy/CuPy")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    dump = sub.add_parser("dump", help="print a function's IR after each pass, or its generated module")
    dump.add_argument("target", help="FILE.py:FUNC")
    dump.add_argument("--arg", action="append", metavar="NAME=TYPE[SHAPE][:grad]",
                      help="an argument's type, e.g. x=f32[128,784] or w=f32[784,10]:grad (one per parameter)")
    dump.add_argument("--stage", choices=STAGE_CHOICES, default="all")
    dump.add_argument("--format", choices=FORMATS, default="text",
                      help="text, dot, json, the generated numpy, cupy or numba module, or a picture: svg, png (needs "
                           "Graphviz's dot: apt-get install graphviz)")
    dump.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    dump.add_argument("--timings", action="store_true", help="also print each compile stage's time")
    dump.add_argument("--transform", choices=TRANSFORMS,
                      help="dump FUNC under a transform: grad/jvp/hessian differentiate the :grad arguments (the "
                           "first by default), vmap maps --in-axes")
    dump.add_argument("--in-axes", metavar="AXES", help="for --transform vmap: one axis or None per parameter, "
                                                         "e.g. None,0,0 (default: 0 for every parameter)")
    dump.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
    dump.set_defaults(run=cmd_dump)
    demo = sub.add_parser("demo", help="compile, inspect and train the bundled MLP (--dask: logistic regression "
                                       "data-parallel on a Dask cluster)")
    demo.add_argument("--steps", type=int, default=None,
                      help="training steps (default 200; 20 with --dask; 800 for --example cnn, 300 for lstm)")
    examples = demo.add_argument_group("--example", "a bigger worked example instead of the MLP: a CNN on generated "
                                                   "digits, or a character LSTM on a paragraph of Dickens")
    examples.add_argument("--example", choices=EXAMPLES, help="train graphgrad/examples/cnn.py or lstm.py")
    examples.add_argument("--plot", metavar="PNG", help="where the loss curve goes (default EXAMPLE-loss.png; needs "
                                                        "matplotlib)")
    examples.add_argument("--no-plot", action="store_true", help="write no loss curve")
    examples.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    dask_options = demo.add_argument_group("--dask", "train graphgrad/examples/dask_logreg.py on a Dask cluster "
                                                     "(pip install 'graphgrad[dask]')")
    dask_options.add_argument("--dask", action="store_true", help="run the data-parallel Dask example")
    dask_logreg.add_arguments(dask_options)
    demo.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
    demo.set_defaults(run=cmd_demo)
    ops = sub.add_parser("ops", help="list ops: gradient rule, second order, jvp, vmap, expression, cupy, "
                                        "numpy / tensor / graphgrad / nn.functional names")
    ops.set_defaults(run=cmd_ops)
    cache = sub.add_parser("cache", help="the on-disk cache of generated modules ($GRAPHGRAD_CACHE_DIR): info shows "
                                         "its directory, file count and size; clear removes graphgrad's files")
    cache.add_argument("action", choices=("info", "clear"))
    cache.set_defaults(run=cmd_cache)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    try:
        return ns.run(ns)
    except BrokenPipeError:  # `graphgrad dump ... | head`: the reader left, which is not an error
        sys.stderr.close()
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # one clear line unless --debug
        if ns.debug:
            raise
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if not isinstance(e, UsageError):
            message = f"{type(e).__name__}: {message}"
        print(f"graphgrad: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
