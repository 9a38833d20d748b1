"""An op is declared once, in graphgrad.ops, and reaches every table and every public name from there."""
import numpy as np
import pytest

import graphgrad as gg
import graphgrad.numpy as gnp
from graphgrad.codegen.expressions import EXPRESSIONS
import graphgrad.nn.functional as F
from graphgrad.ir.public import FUNCTIONS, METHODS, NAMES, NN, NUMPY
from graphgrad.ir.registry import OPS
from graphgrad.passes.vjp_rules import VJP_RULES


def test_expm1_block_reaches_every_table_and_name():
    """expm1 is one block in ops/elementwise.py: type rule, gradient rule, expression, three public names."""
    assert "expm1" in OPS and "expm1" in VJP_RULES and "expm1" in EXPRESSIONS
    # (its in-place form expm1_, from ops/in_place.py, is published under it)
    assert NAMES["expm1"] == {"tensor": ["expm1", "expm1_"], "gg": ["expm1"], "numpy": ["expm1"], "nn": []}
    # graphgrad.expm1 wraps the declared function with PyTorch's signature (input, *, out=None)
    assert METHODS["expm1"] is FUNCTIONS["expm1"].__wrapped__ and FUNCTIONS["expm1"] is gg.expm1
    assert "expm1" in NUMPY
    x = gg.tensor([1e-20, 0.5], dtype=gg.float64)
    for y in (x.expm1(), gg.expm1(x), gnp.expm1(x)):
        np.testing.assert_array_equal(y.numpy(), np.expm1([1e-20, 0.5]))  # exp(x) - 1 would give 0 for 1e-20
    assert gnp.expm1(np.array(1e-20)) == 1e-20  # plain arrays: NumPy's own


def test_expm1_dtype_follows_the_float_rule():
    assert gg.tensor([1, 2]).expm1().dtype == gg.float32
    assert gg.tensor([1.0], dtype=gg.float64).expm1().dtype == gg.float64


@pytest.mark.parametrize("op", ["expm1", "log1p"])
def test_small_argument_precision_eager_traced_and_in_generated_code(op):
    """gnp.log1p used to compute log(x + 1), which is 0 for x = 1e-20; the primitive keeps 1e-20."""
    fn = getattr(gnp, op)
    x = np.array(1e-20)
    assert fn(gg.tensor(x)).item() == 1e-20
    compiled = gg.compile(lambda t: fn(t) * 1.0)
    assert float(compiled(gg.tensor(x))) == 1e-20
    assert f"np.{op}(" in compiled.source(gg.tensor(x))
    # d/dx at 0 is 1 for both; the gradient runs through the primitive's rule
    assert gg.grad(lambda t: fn(t))(x) == pytest.approx(1.0, abs=1e-15)


def test_every_op_has_rule_expression_and_every_name_resolves():
    from graphgrad.codegen.python import BLOCKS
    from graphgrad.passes.adjoint import STRUCTURED

    # control flow differentiates and emits itself (its tuple is read by ``get``, which both passes know)
    assert sorted(STRUCTURED) == sorted(BLOCKS) == ["cond", "scan", "while"]
    # ``fused`` is made after differentiation, for code generation only (passes/fusion.py)
    assert sorted(set(OPS) - set(VJP_RULES) - set(STRUCTURED)) == ["fused", "get"]
    assert sorted(set(OPS) - set(EXPRESSIONS) - set(BLOCKS)) == ["get"]
    for op, names in NAMES.items():
        for name in names["tensor"]:
            assert hasattr(gg.Tensor, name), (op, name)
        for name in names["gg"]:
            assert getattr(gg, name) is FUNCTIONS[name], (op, name)
        for name in names["numpy"]:
            module, _, short = name.rpartition(".")
            assert callable(getattr(getattr(gnp, module) if module else gnp, short)), (op, name)
        for name in names["nn"]:
            assert getattr(F, name) is NN[name], (op, name)


def test_lower_layers_declare_no_op():
    """ir, passes and codegen keep the machinery; every declaration lives in graphgrad/ops."""
    import pathlib
    import re

    root = pathlib.Path(gg.__file__).parent
    pattern = re.compile(r'^\s*(defop\(|defvjp\(|defvjp_joint\(|defnondiff\(|defrows\(|EXPRESSIONS\["|@expression\()',
                         re.M)
    for package in ("ir", "passes", "codegen"):
        for path in (root / package).glob("*.py"):
            assert not pattern.search(path.read_text()), path


def test_runtime_keeps_no_table_of_op_names():
    """PyTorch's grad_fn names and which ops read only shapes are declared with each op (``torch_name``,
    ``shape_only``), not listed by the runtime."""
    import pathlib
    import re

    from graphgrad.ir.registry import OPS

    root = pathlib.Path(gg.__file__).parent / "runtime"
    quoted_ops = re.compile(r'"(%s)"' % "|".join(re.escape(op) for op in OPS if len(op) > 3))
    for name in ("function.py", "compiled.py"):
        text = (root / name).read_text()
        assert not re.search(r'"\w+Backward\d"\s*[,}]', text), name  # an op -> name table
        assert not quoted_ops.search(text), (name, quoted_ops.search(text).group(0))
    assert OPS["matmul"].torch_name and OPS["full_like"].shape_only


def test_graphgrad_ops_lists_each_op_with_its_rule_and_names(capsys):
    import re

    from graphgrad.cli import main

    assert main(["ops"]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    # columns are padded text: cut each row at the header's column starts
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=  ))\S", header)]
    names = [header[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
    rows = {}
    for line in lines:
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
        rows[cells[0]] = dict(zip(names, cells))
    assert set(OPS) <= set(rows)
    assert rows["expm1"]["gradient"] == "rule" and rows["expm1"]["expression"] == "yes"
    assert rows["expm1"]["numpy name"] == rows["expm1"]["graphgrad name"] == "expm1"
    assert rows["expm1"]["tensor name"] == "expm1, expm1_"
    assert rows["sign"]["gradient"] == "zero (piecewise const)"
    assert rows["gelu"]["gradient"] == "composite" and rows["gelu"]["nn.functional name"] == "gelu"
    assert rows["var"]["gradient"] == "composite" and rows["var"]["numpy name"] == "var"

def test_memory_and_recompute_properties_come_from_the_declarations():
    """Buffer reuse and the min-cut read what each op's block declares, not op lists of their own."""
    from graphgrad.ir.registry import makes_new_array
    from graphgrad.ir.graph import Node, Value
    from graphgrad.ir.types import TensorType
    from graphgrad.passes.partition import recomputable

    def node(op):
        return Node(op, [], {}, Value(TensorType((2,), "float64")))

    assert OPS["reshape"].memory == "view" and not makes_new_array("reshape") and recomputable(node("reshape"))
    assert OPS["matmul"].memory == "fresh" and makes_new_array("matmul") and not recomputable(node("matmul"))
    assert makes_new_array("exp") and recomputable(node("exp"))  # elementwise by default
    assert not makes_new_array("erf") and not recomputable(node("erf"))  # declared unknown / never
    import pytest

    from graphgrad.ir.registry import defop
    with pytest.raises(ValueError, match="memory='shared'"):
        defop("no_such_op", memory="shared")(lambda inputs: inputs[0])
