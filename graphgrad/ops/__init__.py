"""Every op, declared once: one module per family, one block per op (see ``docs/ops.md``).

Importing this package registers each op's type rule (``ir.registry.OPS``), gradient rule
(``passes.vjp_rules.VJP_RULES``), array expression (``codegen.expressions.EXPRESSIONS``) and public
names (``ir.public``: Tensor methods, ``graphgrad.X``, ``graphgrad.numpy.X``). ``graphgrad`` imports it
before anything else.
"""
from . import elementwise, indexing, linalg, nn, reductions, shape  # noqa: F401
from . import control  # noqa: F401  (cond, scan, while: sub-graph primitives; after the ops they may contain)
from . import fused  # noqa: F401  (the fusion pass's region node, for code generation)
from . import in_place  # noqa: F401  (the in-place forms of methods declared above)
