"""Elementwise fusion (passes/fusion.py) and the CuPy kernels it becomes (codegen/cuda.py), checked without a GPU:
the pass's graphs before and after, the generated CuPy source (compiles, one ElementwiseKernel per region with
the expected C body, only names CuPy has), and the C expressions' numerics, compiled for the host with a C++
compiler where one is installed. tests/runtime/test_cupy_backend.py runs the kernels on a GPU."""
import ast
import re
import shutil
import subprocess
import types

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.codegen.cuda import C_EXPRESSIONS, fusible, reducible
from graphgrad.codegen.python import module_source
from graphgrad.ir.verify import verify
from graphgrad.passes.fusion import fuse_elementwise, fusion_groups


def chain(x, w, b):
    return (x.tanh() * w + b).sum()


def chain_args():
    rng = np.random.default_rng(0)
    return (gg.tensor(rng.standard_normal((4, 3)), requires_grad=True), gg.tensor(rng.standard_normal(3)),
            gg.tensor(rng.standard_normal((4, 3))))


def ops(graph):
    return [n.op for n in graph.nodes]


def test_forward_chain_becomes_one_fused_node():
    x, w, b = chain_args()
    x.requires_grad_(False); b.requires_grad_()   # nothing of the chain is saved for backward
    f = gg.compile(chain)
    before = f.graph(x, w, b, stage="forward")
    assert ops(before) == ["tanh", "mul", "add", "sum"]
    after = fuse_elementwise(before, fusible)
    assert ops(after) == ["fused", "sum"]
    fused = after.nodes[0]
    assert fused.attrs["kernel"] == "fused_tanh_mul_add"
    assert ops(fused.attrs["body"]) == ["tanh", "mul", "add"]
    assert [v.name for v in fused.inputs] == ["x", "w", "b"]
    assert "kernel='fused_tanh_mul_add'" in str(after)
    verify(after)


def test_a_saved_value_ends_a_region():
    f, a = gg.compile(chain), chain_args()   # x requires grad: backward reads tanh(x)
    after = fuse_elementwise(f.graph(*a, stage="forward"), fusible)
    assert ops(after) == ["tanh", "fused", "sum"] and after.nodes[1].attrs["kernel"] == "fused_mul_add"


def test_saved_values_stay_outside_regions():
    f, a = gg.compile(chain), chain_args()
    g = f.graph(*a, stage="forward")
    saved = [v for v in g.outputs[1:] if v.node is not None]
    after = fuse_elementwise(g, fusible)
    for n in after.nodes:
        if n.op == "fused":
            inner = {m.output.name for m in n.attrs["body"].nodes[:-1]}
            assert not inner & {v.name for v in saved if v.name}
    assert len(after.outputs) == len(g.outputs)


def test_adjoint_chain_is_fused():
    f, a = gg.compile(chain), chain_args()
    before = f.graph(*a, stage="backward")
    # d/dx of sum(tanh(x) * w + b) = g * w * (1 - tanh(x)^2): mul, mul, sub, mul, all of x's shape (g * w made
    # just before the product that reads it: passes/scheduling.py)
    groups = fusion_groups(before, fusible)
    assert [[n.op for n in group] for group in groups] == [["mul", "sub", "mul", "mul"]]
    after = fuse_elementwise(before, fusible)
    assert ops(after).count("fused") == 1
    assert len(after.nodes) == len(before.nodes) - len(groups[0]) + 1


def test_values_read_twice_outside_and_other_shapes_end_a_region():
    def f(x, y):
        t = x.exp()
        return (t * 2 + t.sum()).sum() + (x + y).sum()   # t read by mul and by sum: not interior

    x, y = gg.tensor(np.ones((2, 3)), requires_grad=True), gg.tensor(np.ones(3))
    g = gg.compile(f).graph(x, y, stage="forward")
    groups = fusion_groups(g, fusible)
    for group in groups:
        assert all(n.output.type.shape == group[-1].output.type.shape for n in group)
        assert not any(n.op == "exp" for n in group[:-1])


def test_a_sum_or_mean_that_alone_reads_a_region_ends_it():
    x, w, b = chain_args()
    x.requires_grad_(False); b.requires_grad_()
    g = gg.compile(chain).graph(x, w, b, stage="forward")
    after = fuse_elementwise(g, fusible, None, reducible)
    assert ops(after) == ["fused"] and after.nodes[0].attrs["kernel"] == "fused_tanh_mul_add_sum"
    assert ops(after.nodes[0].attrs["body"]) == ["tanh", "mul", "add", "sum"]
    assert after.nodes[0].output.type == g.outputs[0].type
    verify(after)

    def f(x, y):
        s = (x * y).mean(1, keepdim=True)   # a one-node region (mul) ending in a mean over an axis
        t = x.exp()
        u = t.sum()                          # t is read twice: the sum does not take it
        v = (x @ y.t()).sum()                # a product is not elementwise
        return s.sum() + u + t.mean() + v + (x > 0).sum()   # an integer sum is never fused

    x, y = gg.tensor(np.ones((2, 3))), gg.tensor(np.ones((2, 3)))
    g = gg.compile(f).graph(x, y, stage="forward")
    groups = fusion_groups(g, fusible, reducible)
    ended = [[n.op for n in group] for group in groups if group[-1].op in ("sum", "mean")]
    assert ended == [["mul", "mean"]]   # (the scalar adds at the end are a region of their own)
    assert [group for group in groups if group[-1].op == "mean"][0][-1].attrs == {"dim": (1,), "keepdim": True}
    assert all(n.op not in ("sum", "mean") for n in fusion_groups(g, fusible)[0])  # without reducible: none


def test_integer_labels_are_compared_and_cast_inside_a_kernel_and_the_range_is_built_once():
    """A one-hot cross-entropy's mask (labels == arange, cast to float) is one kernel reading the int64 labels,
    the arange built once at module level; integer arithmetic itself stays per-op (C's is not NumPy's)."""
    z = gg.tensor(np.ones((4, 3), np.float32), requires_grad=True)
    y = gg.tensor(np.array([0, 2, 1, 1]))
    src = gg.compile(lambda z, y: -((y.unsqueeze(-1) == gg.arange(3)).float() * z.log_softmax(1)).sum()).source(
        z, y, backend="cupy")
    kernel = re.search(r"'int64 (\w+), int64 (\w+)',\n    'float32 (\w+)',\n    'bool (\w+) = \(\1 == \2\);\\n'\n"
                       r"    '\3 = \(float\)\4;'", src)
    assert kernel, src
    module_level, functions = src.split("\ndef forward", 1)
    assert f"{kernel[2]} = cp.arange(0, 3, 1, dtype=cp.int64)" in module_level and "cp.arange" not in functions
    src = gg.compile(lambda x, y: ((y != -100).float() * x + (y + 1)).sum()).source(
        gg.ones(4, requires_grad=True), y, backend="cupy")
    assert "(y != -100LL)" in src and re.search(r"\n    \w+ = y \+ 1  #", src)  # the int64 sum stays per-op


def test_ops_without_c_expression_are_not_fused():
    def f(x):
        return (x.erf() * 2 + 1).sum()

    x = gg.tensor(np.ones(3), requires_grad=True)
    g = gg.compile(f).graph(x, stage="forward")
    after = fuse_elementwise(g, fusible)
    assert "erf" not in C_EXPRESSIONS and ops(after)[0] == "erf" and ops(after)[1] == "fused"


# -- the generated CuPy module ---------------------------------------------------------------------------------
def _cupy_names(src):
    """Every dotted ``cp.a.b`` name the source uses."""
    found = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Attribute):
            parts, x = [], node
            while isinstance(x, ast.Attribute):
                parts.append(x.attr)
                x = x.value
            if isinstance(x, ast.Name) and x.id in ("cp", "cupy"):
                found.add(".".join(reversed(parts)))
    return found


#: CuPy names graphgrad's CuPy code is known to use, checked against CuPy 14 (cupy-cuda12x, not in the test
#: extra: a 137 MB wheel); where CuPy is importable, test_cupy_names_exist checks against CuPy itself
KNOWN_CUPY_NAMES = {"ElementwiseKernel", "ReductionKernel", "float32", "float64", "int64", "bool_", "tanh", "exp",
                    "log", "sum", "maximum", "where", "asarray", "array", "full", "full_like", "zeros", "ones", "dtype",
                    "logaddexp", "result_type", "sqrt", "matmul", "broadcast_to", "pad", "lib", "lib.stride_tricks",
                    "lib.stride_tricks.sliding_window_view", "lib.stride_tricks.as_strided", "concatenate"}


def _cupy_module():
    try:
        import cupy

        return cupy
    except Exception:
        return None


def cnn_loss(x, w):
    import graphgrad.nn.functional as F

    return (F.conv2d(x, w, padding=1).tanh() * 0.5 + 1.0).sigmoid().mean()


@pytest.mark.parametrize("fn, make_args", [
    (chain, chain_args),
    (cnn_loss, lambda: (gg.tensor(np.ones((1, 2, 5, 5))), gg.tensor(np.ones((3, 2, 3, 3)), requires_grad=True)))])
def test_cupy_source_compiles_with_one_kernel_per_region_and_only_cupy_names(fn, make_args):
    f, a = gg.compile(fn), make_args()
    src = f.source(*a, backend="cupy")
    compile(src, "<generated cupy>", "exec")
    regions = [n for stage in ("forward", "backward")
               for n in fuse_elementwise(f.graph(*a, stage=stage), fusible, None, reducible).nodes if n.op == "fused"]
    assert regions and src.count("cp.ElementwiseKernel(") + src.count("cp.ReductionKernel(") == len(regions)
    for n in regions:
        kind = "Reduction" if n.attrs["body"].nodes[-1].op in ("sum", "mean") else "Elementwise"
        assert f"{n.attrs['kernel']} = cp.{kind}Kernel(" in src
    cupy = _cupy_module()
    for name in _cupy_names(src):
        assert name in KNOWN_CUPY_NAMES if cupy is None else _resolves(cupy, name), f"cupy has no {name}"


def _resolves(module, dotted: str) -> bool:
    for part in dotted.split("."):
        if not hasattr(module, part):
            return False
        module = getattr(module, part)
    return True


def test_cupy_names_exist():
    cupy = _cupy_module()
    if cupy is None:
        pytest.skip("CuPy is not installed (pip install 'graphgrad[cuda]')")
    assert all(_resolves(cupy, name) for name in KNOWN_CUPY_NAMES)
    assert not _resolves(cupy, "lib.no_such_thing")


def test_chain_kernel_has_the_expected_c_body():
    x, w, b = chain_args()
    x.requires_grad_(False); b.requires_grad_()
    src = gg.compile(lambda x, w, b: (x.tanh() * w + b) * 2, outputs=0).source(x, w, b, backend="cupy")
    assert ("fused_tanh_mul_add_mul = cp.ElementwiseKernel(\n"
            "    'float64 x, float64 w, float64 b',\n") in src
    assert "'double t1 = tanh(x);\\n'" in src
    assert "= fused_tanh_mul_add_mul(x, w, b)" in src
    assert "= (t1 * w);" in src and "+ b);\\n'" in src


def test_a_chain_ending_in_a_sum_is_one_reduction_kernel_with_the_chain_as_its_map():
    x, w, b = chain_args()
    x.requires_grad_(False); b.requires_grad_()
    src = gg.compile(chain).source(x, w, b, backend="cupy")
    assert ("fused_tanh_mul_add_sum = cp.ReductionKernel(\n"
            "    'float64 x, float64 w, float64 b_',\n"  # b is the reduction's own variable: renamed
            "    'float64 chain',\n"
            "    'fused_tanh_mul_add_sum_map(x, w, b_)',\n"
            "    'a + b',\n"
            "    'chain = a',\n"
            "    '0',\n"
            "    'fused_tanh_mul_add_sum',\n"
            "    reduce_type='double',\n"
            "    preamble=(\n"
            "        '__device__ double fused_tanh_mul_add_sum_map(double x, double w, double b_) {\\n'\n"
            "        '    double t1 = tanh(x);\\n'\n") in src
    assert "        '    return t3;\\n'\n        '}'))" in src
    assert "chain = fused_tanh_mul_add_sum(x, w, b, axis=None, keepdims=False)" in src


def test_float32_kernels_keep_float_and_cast_literals():
    def f(x):
        return (x * 2.5 + 1).exp().sum()

    x = gg.tensor(np.ones(3, np.float32), requires_grad=True)
    src = gg.compile(f).source(x, backend="cupy")
    assert "'float32 x'" in src and "float t1 = (x * 2.5f);" in src and "(t1 + 1.0f)" in src


def test_numpy_backend_is_unfused_and_emits_the_regions_statements_if_given_them():
    f, a = gg.compile(chain), chain_args()
    assert "fused" not in f.source(*a)
    fwd = f.graph(*a, stage="forward")
    src = module_source([(fuse_elementwise(fwd, fusible), "forward", None)], "numpy")
    assert "ElementwiseKernel" not in src and "np.tanh(x)" in src
    ns: dict = {}
    exec(compile(src, "<fused numpy>", "exec"), ns)
    plain: dict = {}
    exec(compile(module_source([(fwd, "forward", None)], "numpy"), "<numpy>", "exec"), plain)
    arrays = [t.detach().numpy() for t in a]
    for got, want in zip(ns["forward"](*arrays), plain["forward"](*arrays)):
        np.testing.assert_array_equal(got, want)
    a[0].requires_grad_(False)  # then the chain ends in its sum: a region's reduction is a NumPy statement too
    fwd = f.graph(*a, stage="forward")
    src = module_source([(fuse_elementwise(fwd, fusible, None, reducible), "forward", None)], "numpy")
    assert "ReductionKernel" not in src and "chain = chain_2.sum()" in src
    exec(compile(src, "<fused numpy>", "exec"), ns)
    assert ns["forward"](*arrays) == chain(*a).item()


def test_fuse_false_keeps_the_cupy_module_one_call_per_op():
    """``compile(fuse=False)``: the CuPy module is the NumPy module with ``cp.`` for ``np.`` (what the GPU
    benchmark's unfused rows and the fused-equals-unfused GPU tests run)."""
    a = chain_args()
    fused = gg.compile(chain).source(*a, backend="cupy")
    unfused_fn = gg.compile(chain, fuse=False)
    unfused = unfused_fn.source(*a, backend="cupy")
    assert "cp.ElementwiseKernel(" in fused and "ElementwiseKernel" not in unfused
    body = unfused.split("import cupy as cp\n", 1)[1]
    assert body == unfused_fn.source(*a).split("import numpy as np\n", 1)[1].replace("np.", "cp.")
    # and with outputs= (a program for some outputs only), and through a decorator
    two = gg.compile(outputs=0, fuse=False)(lambda x: ((x.tanh() * 2 + 1).sum(), x.sum()))
    assert "cp.ElementwiseKernel(" not in two.source(gg.ones(3, requires_grad=True), backend="cupy")


# -- the C expressions' numerics, on the host ---------------------------------------------------------------
CXX = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")


def _host_kernel(tmp_path):
    """A stand-in for ``cp.ElementwiseKernel`` that compiles the kernel's C body for the host (C++ <cmath>, the
    same overloads CUDA has for float and double) and runs it over the broadcast operands."""
    ctypes = {"float32": "float", "float64": "double", "bool": "bool"}
    counter = iter(range(10**6))

    def kernel(in_params, out_params, operation, name, preamble=""):
        params = [p.split() for p in in_params.split(", ")]
        (out_type, out_name), = [p.split() for p in out_params.split(", ")]

        def run(*arrays):
            arrays = np.broadcast_arrays(*[np.asarray(x, dtype=t) for x, (t, _) in zip(arrays, params)])
            size, shape = arrays[0].size, arrays[0].shape
            decls = "".join(
                f"static const {ctypes[t]} {p}_in[] = {{{', '.join(str(int(v)) if t == 'bool' else repr(float(v)) for v in x.ravel())}}};\n"
                for x, (t, p) in zip(arrays, params))
            loads = "".join(f"    {ctypes[t]} {p} = {p}_in[k];\n" for t, p in params)
            src = (f"#include <cmath>\n#include <cstdio>\nusing namespace std;\n{preamble}\n{decls}int main() {{\n"
                   f"  for (int k = 0; k < {size}; k++) {{\n{loads}    {ctypes[out_type]} {out_name};\n"
                   f"    {operation}\n    printf(\"%.17g\\n\", (double){out_name});\n  }}\n}}\n")
            path = tmp_path / f"{name}_{next(counter)}"
            (path.with_suffix(".cpp")).write_text(src)
            subprocess.run([CXX, "-O0", "-o", str(path), str(path.with_suffix(".cpp"))], check=True)
            out = subprocess.run([str(path)], check=True, capture_output=True, text=True).stdout.split()
            return np.array([float(v) for v in out], dtype=out_type).reshape(shape)
        return run
    return kernel


def _host_reduction(tmp_path):
    """A stand-in for ``cp.ReductionKernel`` (sums): the map compiled for the host as above, summed by NumPy,
    the post-map (``t = a``, or a mean's division by the counts) evaluated over the sum."""
    kernel = _host_kernel(tmp_path)

    def reduction(in_params, out_params, map_expr, reduce_expr, post_map_expr, identity, name, reduce_type,
                  preamble):
        assert reduce_expr == "a + b" and identity == "0" and reduce_type in ("float", "double")
        (out_type, _), = [p.split() for p in out_params.split(", ")]
        mapped = kernel(in_params, f"{'float64' if reduce_type == 'double' else 'float32'} m_",
                        f"m_ = {map_expr};", name, preamble.replace("__device__ ", ""))

        def run(*arrays, axis, keepdims):
            m = mapped(*arrays)
            a = m.sum(axis=axis, keepdims=keepdims)
            rhs = post_map_expr.split("=", 1)[1].replace("_in_ind.size()", str(m.size))
            return np.asarray(eval(rhs.replace("_out_ind.size()", str(np.size(a))), {"a": a}), dtype=out_type)
        return run
    return reduction


def _fake_cupy(tmp_path):
    fake = types.ModuleType("cp")
    fake.__dict__.update({k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    fake.ElementwiseKernel = _host_kernel(tmp_path)
    fake.ReductionKernel = _host_reduction(tmp_path)
    return fake


@pytest.mark.skipif(CXX is None, reason="needs a C++ compiler to run the C expressions on the host")
def test_generated_cupy_module_with_host_compiled_kernels_matches_numpy(tmp_path):
    """The whole generated CuPy module, its kernels compiled for the host and NumPy standing in for the rest of
    CuPy, computes NumPy's forward and gradients (float64: to rounding)."""
    def f(x, w, b, m):
        h = gg.where(m, (x * w + b).tanh(), (x - 0.5).sigmoid().relu())
        return (gg.maximum(h, x * x) / (1.0 + x.exp()) - gg.minimum(h, w.sqrt()) ** 2).sum()

    rng = np.random.default_rng(1)
    x = gg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = gg.tensor(rng.random(4) + 0.5, requires_grad=True)
    b = gg.tensor(rng.standard_normal((3, 1)), requires_grad=True)
    m = gg.tensor(rng.random((3, 4)) > 0.5)
    args = (x, w, b, m)
    compiled = gg.compile(f)
    src = compiled.source(*args, backend="cupy")
    assert src.count("ElementwiseKernel(") >= 2
    ns: dict = {"cp": _fake_cupy(tmp_path)}
    exec(compile(src.replace("import cupy as cp", ""), "<cupy on host>", "exec"), ns)
    ref: dict = {}
    exec(compile(compiled.source(*args), "<numpy>", "exec"), ref)
    arrays = [t.detach().numpy() for t in args]
    got_out, *got_saved = ns["forward"](*arrays)
    want_out, *want_saved = ref["forward"](*arrays)
    np.testing.assert_allclose(got_out, want_out, rtol=1e-12)
    one = np.array(1.0)
    for got, want in zip(ns["backward"](*got_saved, one), ref["backward"](*want_saved, one)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_values_named_like_c_functions_are_renamed_in_kernels():
    """``tanh = (...).tanh()`` in the user's code: inside a kernel a variable named tanh would hide the function
    (NVRTC, as any C++ compiler, then refuses ``tanh(t2)``), so such values are renamed, apart from the others."""
    def f(x):
        exp = x.exp()
        tanh = (exp * 2 + 1).tanh()
        tanh_ = tanh * exp
        return (tanh_.sin() * 3 + tanh).sum()

    src = gg.compile(f).source(gg.tensor(np.linspace(-1, 1, 5), requires_grad=True), backend="cupy")
    assert "tanh = tanh(" not in src and "double exp " not in src and "'float64 exp'" not in src
    assert "'float64 exp_'" in src and "tanh_ = tanh(" in src
    assert "'float64 tanh_, float64 tanh__'" in src  # the user's tanh_ and the renamed tanh stay two names


def test_values_named_like_cpp_alternative_tokens_are_renamed():
    def f(x):
        xor = x.tanh() * 2  # a Python name, a C++ operator (^)
        blockIdx = xor + 1  # CUDA's built-in
        return (blockIdx.exp() * xor).sum()

    src = gg.compile(f).source(gg.tensor(np.ones(3), requires_grad=True), backend="cupy")
    assert "'float64 xor'" not in src and "'float64 xor_'" in src
    assert "double blockIdx " not in src and "double blockIdx_ = " in src


def test_cupy_source_of_a_convolution_in_chunks(monkeypatch):
    # patch chunking (passes/patch_chunking.py) slices the batch, unfolds each slice and joins the products
    import graphgrad.passes.patch_chunking as patch_chunking

    monkeypatch.setattr(patch_chunking, "PATCH_CHUNK_BYTES", 1024)
    a = (gg.tensor(np.ones((4, 2, 5, 5))), gg.tensor(np.ones((3, 2, 3, 3)), requires_grad=True))
    src = gg.compile(cnn_loss).source(*a, backend="cupy")
    compile(src, "<generated cupy>", "exec")
    assert "cp.concatenate(" in src and src.count("_image = cp.zeros(") >= 4  # one padded image per chunk and pass
    cupy = _cupy_module()
    for name in _cupy_names(src):
        assert name in KNOWN_CUPY_NAMES if cupy is None else _resolves(cupy, name), f"cupy has no {name}"
