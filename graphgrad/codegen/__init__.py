"""Code generation: Graph -> readable NumPy/CuPy module source; module loading and on-disk cache."""
from .expressions import EXPRESSIONS, kernel, statements
from .loader import cache_dir, load_module
from .python import BACKENDS, function_source, module_source

__all__ = ["EXPRESSIONS", "kernel", "statements", "cache_dir", "load_module", "BACKENDS", "function_source",
           "module_source"]
