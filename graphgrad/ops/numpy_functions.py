"""Functions NumPy lacks, which the NumPy expressions of ops call: plain functions of arrays that read only ``np``
and ``math``. A generated NumPy module that uses one defines it at module level (its source, copied: the module
still imports only NumPy and the standard library), and eager kernels call this very function
(``codegen.expressions.helper``).

Their names are never given to a value of generated code (``ir.graph``'s reserved names).
"""
from __future__ import annotations

import math

import numpy as np

from ..codegen.expressions import helper


@helper
def erf(x):
    """The error function of each element, in ``x``'s float dtype (float64 for integers, float32 for bools),
    computed in float64. NumPy has no erf: below 1,500 elements Python's (the C library's) is called per element
    (85 ns each); from there on fdlibm's rational approximations on four ranges of ``|x|`` (Sun Microsystems, 1993:
    the algorithm of C libraries' erf) are computed array by array, within an ulp of the C library's, about 2.5
    times as fast on large arrays (their ~80 array operations cost about 90 us however small the array)."""
    x = np.asarray(x)
    dtype = np.result_type(x.dtype, np.float32)
    if x.size < 1500:
        return np.asarray(np.frompyfunc(math.erf, 1, 1)(x), dtype=dtype)
    a = np.abs(x.reshape(-1), dtype=np.float64)  # (flat: the ranges' masks then pick along one axis)

    def poly(coefficients, t):  # Horner's rule, highest degree first, in place
        r = coefficients[0] * t
        for c in coefficients[1:-1]:
            r += c
            r *= t
        r += coefficients[-1]
        return r

    # |x| < 0.84375: x + x P(x^2) / Q(x^2), computed for every element (most are there) and replaced elsewhere
    with np.errstate(over="ignore", invalid="ignore"):  # (x^2 of huge |x| overflows: replaced below)
        z = a * a
        out = poly((-2.37630166566501626084e-05, -5.77027029648944159157e-03, -2.84817495755985104766e-02,
                    -3.25042107247001499370e-01, 1.28379167095512558561e-01), z)
        out /= poly((-3.96022827877536812320e-06, 1.32494738004321644526e-04, 5.08130628187576562776e-03,
                     6.50222499887672944485e-02, 3.97917223959155352819e-01, 1.0), z)
        out *= a
        out += a
    far = a >= 0.84375  # (nan: False, and the nan computed above stays)
    if far.any():
        t = a[far]
        y = np.ones_like(t)  # |x| >= 6: 1, to the last bit
        near_one = t < 1.25  # erx + P(|x| - 1) / Q(|x| - 1)
        s = t[near_one] - 1.0
        y[near_one] = 8.45062911510467529297e-01 + poly(
            (-2.16637559486879084300e-03, 3.54783043256182359371e-02, -1.10894694282396677476e-01,
             3.18346619901161753674e-01, -3.72207876035701323847e-01, 4.14856118683748331666e-01,
             -2.36211856075265944077e-03), s) / poly(
            (1.19844998467991074170e-02, 1.36370839120290507362e-02, 1.26171219808761642112e-01,
             7.18286544141962662868e-02, 5.40397917702171048937e-01, 1.06420880400844228286e-01, 1.0), s)
        tail = (t >= 1.25) & (t < 6.0)  # 1 - exp(-x^2 - 0.5625 + R(1/x^2) / S(1/x^2)) / |x|
        u = t[tail]
        s = 1.0 / (u * u)
        below = u < 1 / 0.35  # two fits: up to 1/0.35, and beyond
        r = np.where(below, poly((-9.81432934416914548592e+00, -8.12874355063065934246e+01,
                                  -1.84605092906711035994e+02, -1.62396669462573470355e+02,
                                  -6.23753324503260060396e+01, -1.05586262253232909814e+01,
                                  -6.93858572707181764372e-01, -9.86494403484714822705e-03), s),
                     poly((-4.83519191608651397019e+02, -1.02509513161107724954e+03, -6.37566443368389627722e+02,
                           -1.60636384855821916062e+02, -1.77579549177547519889e+01, -7.99283237680523006574e-01,
                           -9.86494292470009928597e-03), s))
        r /= np.where(below, poly((-6.04244152148580987438e-02, 6.57024977031928170135e+00,
                                   1.08635005541779435134e+02, 4.29008140027567833386e+02,
                                   6.45387271733267880336e+02, 4.34565877475229228821e+02,
                                   1.37657754143519042600e+02, 1.96512716674392571292e+01, 1.0), s),
                      poly((-2.24409524465858183362e+01, 4.74528541206955367215e+02, 2.55305040643316442583e+03,
                            3.19985821950859553908e+03, 1.53672958608443695994e+03, 3.25792512996573918826e+02,
                            3.03380607434824582924e+01, 1.0), s))
        # x^2 as hi^2 + (x - hi)(x + hi), hi being x's upper 32 bits: hi^2 is exact, so exp loses nothing to it
        hi = (u.view(np.uint64) & np.uint64(0xFFFFFFFF00000000)).view(np.float64)
        y[tail] = 1.0 - np.exp(-hi * hi - 0.5625) * np.exp((hi - u) * (hi + u) + r) / u
        out[far] = y
    return np.copysign(out, x.reshape(-1), out=out).reshape(x.shape).astype(dtype, copy=False)


@helper
def where(condition, x, y):
    """``np.where(condition, x, y)``, bit for bit. NumPy's where branches on each element: where the condition
    follows no pattern (an activation's sign, say) that costs it about 5 ns an element from some 10,000 elements
    on (65,536 float32: 307 us). From a condition of 8,192 elements this selects the bit patterns instead, at the
    same cost whatever the condition (52 us there); below, NumPy's is quicker."""
    # the condition's size alone: a small one broadcast is a pattern (np.where(True, x, y) is quick); and most calls
    # take this branch (getattr: np.size is a Python function; a number has no size)
    if getattr(condition, "size", 1) < 8192:
        return np.where(condition, x, y)
    dtype = np.result_type(x, y)
    if dtype.kind not in "biuf":
        return np.where(condition, x, y)
    condition, x, y = np.broadcast_arrays(np.asarray(condition, bool), np.asarray(x, dtype), np.asarray(y, dtype))
    bits = np.dtype(f"i{dtype.itemsize}")
    mask = np.negative(condition, dtype=bits)  # all ones where the condition holds
    out = np.bitwise_and(x.view(bits), mask)
    np.bitwise_and(y.view(bits), np.invert(mask, out=mask), out=mask)
    return np.bitwise_or(out, mask, out=out).view(dtype)


@helper(any_array=True)
def check_divisor(y):
    """``y`` itself, once checked to hold no zero: an integer quotient or remainder by zero is PyTorch's
    RuntimeError, where NumPy and CuPy give 0 (and NumPy a warning). Reads only ``y``'s own methods (CuPy's too)."""
    if y.size and not y.all():
        raise RuntimeError("ZeroDivisionError")
    return y


@helper(any_array=True)
def check_range(x, rule, size):
    """``x`` itself, once its values are checked as PyTorch checks them, with PyTorch's error where they fail:
    class indices in ``[0, size)``, which NumPy and CuPy would take from the end when negative (CuPy even when too
    large). ``rule`` names PyTorch's words: ``"dimension d"`` (gather, scatter), ``"self"`` (index_select,
    embedding), ``"Target"`` (nll_loss) or ``"class"`` (one_hot); ``"take"`` (take, put: ``[-size, size)``),
    ``"index_fill dimension d"`` (``[-size, size)``), ``"index_copy_(): dimension d"``, ``"masked_scatter"`` (the
    source's size). Reads only ``x``'s own methods (CuPy's too)."""
    if not x.size:
        return x
    lowest = -size if rule == "take" or rule.startswith("index_fill ") else 0  # (these count from the end)
    low, high = x.min(), x.max()
    if low >= lowest and high < size:
        return x
    if rule == "masked_scatter":
        raise RuntimeError("Number of elements of source < number of ones in mask")
    if rule == "class":
        raise RuntimeError("Class values must be non-negative." if low < 0 else
                           "Class values must be smaller than num_classes.")
    if rule == "self":
        raise IndexError("index out of range in self")
    flat = x.ravel()
    bad = flat[((flat < lowest) | (flat >= size)).argmax()].item()  # the first, as PyTorch names it
    if rule == "Target":
        raise IndexError(f"Target {bad} is out of bounds.")
    if rule == "take":
        raise IndexError(f"out of range: tried to access index {bad} on a tensor of {size} elements.")
    if rule.startswith("index_fill "):
        raise IndexError(f"index {bad} is out of bounds for {rule[len('index_fill '):]} with size {size}")
    if rule.startswith("index_copy_(): "):
        raise IndexError(f"index_copy_(): index {bad} is out of bounds for {rule[len('index_copy_(): '):]} with "
                         f"size {size}")
    raise RuntimeError(f"index {bad} is out of bounds for {rule} with size {size}")


@helper(any_array=True)
def check_probabilities(p, y):
    """Nothing, once probabilities ``p`` and targets ``y`` (arrays or numbers) are checked to lie in [0, 1] (nan
    fails), as PyTorch's ``binary_cross_entropy`` checks them: element by element in row-major order, the input
    before the target, so that its error names the first failure. Reads only the arrays' own methods (CuPy's
    too)."""
    p_ok = (p >= 0) & (p <= 1)
    y_ok = (y >= 0) & (y <= 1)
    ok = p_ok & y_ok
    if ok if isinstance(ok, bool) else ok.all():
        return
    if isinstance(ok, bool):
        first_p = not p_ok
    else:  # the first failure's element, p_ok laid out as the broadcast pair (ok ^ ok: all False)
        first = (~ok).ravel().argmax()
        first_p = not (p_ok | (ok ^ ok)).ravel()[first]
    raise RuntimeError(f"all elements of {'input' if first_p else 'target'} should be between 0 and 1")
