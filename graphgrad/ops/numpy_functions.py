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
    (85 ns each); from there on ``erf_ranges`` computes fdlibm's rational approximations array by array, within an
    ulp of the C library's, about 2.5 times as fast on large arrays (their ~80 array operations cost about 90 us
    however small the array)."""
    x = np.asarray(x)
    dtype = np.result_type(x.dtype, np.float32)
    if x.size < 1500:
        return np.asarray(np.frompyfunc(math.erf, 1, 1)(x), dtype=dtype)
    out = erf_ranges(np.abs(x.reshape(-1), dtype=np.float64), False)
    return np.copysign(out, x.reshape(-1), out=out).reshape(x.shape).astype(dtype, copy=False)


@helper
def erfc(x):
    """``1 - erf(x)`` of each element without its cancellation (erfc(10) is 2.1e-45, not 0), in ``x``'s float dtype
    (float64 for integers, float32 for bools), computed in float64: below 1,500 elements Python's (the C library's)
    erfc per element (85 ns each), from there on fdlibm's approximations array by array (``erf_ranges``: within 4
    ulp of the C library's, 1.7 times as fast on large arrays), ``2 - erfc(-x)`` for negative ``x``."""
    x = np.asarray(x)
    dtype = np.result_type(x.dtype, np.float32)
    if x.size < 1500:
        return np.asarray(np.frompyfunc(math.erfc, 1, 1)(x), dtype=dtype)
    flat = x.reshape(-1)
    out = erf_ranges(np.abs(flat, dtype=np.float64), True)
    np.subtract(2.0, out, out=out, where=flat < 0)
    return out.reshape(x.shape).astype(dtype, copy=False)


@helper
def erf_ranges(a, complement):
    """erf (or, with ``complement``, erfc) of ``a``, a flat float64 array of values >= 0 or nan, by fdlibm's
    rational approximations on four ranges of ``a`` (Sun Microsystems, 1993: the algorithm of C libraries' erf and
    erfc), array by array: within an ulp of the C library's."""
    def poly(coefficients, t):  # Horner's rule, highest degree first, in place
        r = coefficients[0] * t
        for c in coefficients[1:-1]:
            r += c
            r *= t
        r += coefficients[-1]
        return r

    # a < 0.84375: a + a P(a^2) / Q(a^2), computed for every element (most are there) and replaced elsewhere
    with np.errstate(over="ignore", invalid="ignore"):  # (a^2 of huge a overflows: replaced below)
        z = a * a
        out = poly((-2.37630166566501626084e-05, -5.77027029648944159157e-03, -2.84817495755985104766e-02,
                    -3.25042107247001499370e-01, 1.28379167095512558561e-01), z)
        out /= poly((-3.96022827877536812320e-06, 1.32494738004321644526e-04, 5.08130628187576562776e-03,
                     6.50222499887672944485e-02, 3.97917223959155352819e-01, 1.0), z)
        out *= a
    if complement:  # fdlibm's sums: 1 - (a + a P/Q) below 1/4, 0.5 - (a P/Q + (a - 0.5)) above
        out = np.where(a < 0.25, 1.0 - (out + a), 0.5 - (out + (a - 0.5)))
    else:
        out += a
    far = a >= 0.84375  # (nan: False, and the nan computed above stays)
    if far.any():
        t = a[far]
        # erf: 1 from 6 on, to the last bit; erfc: 0 from 28 on (it underflows from 27.3)
        y = np.zeros_like(t) if complement else np.ones_like(t)
        near_one = t < 1.25  # erx + P(a - 1) / Q(a - 1)
        s = t[near_one] - 1.0
        pq = poly((-2.16637559486879084300e-03, 3.54783043256182359371e-02, -1.10894694282396677476e-01,
                   3.18346619901161753674e-01, -3.72207876035701323847e-01, 4.14856118683748331666e-01,
                   -2.36211856075265944077e-03), s) / poly(
            (1.19844998467991074170e-02, 1.36370839120290507362e-02, 1.26171219808761642112e-01,
             7.18286544141962662868e-02, 5.40397917702171048937e-01, 1.06420880400844228286e-01, 1.0), s)
        erx = 8.45062911510467529297e-01
        y[near_one] = (1.0 - erx) - pq if complement else erx + pq
        tail = (t >= 1.25) & (t < (28.0 if complement else 6.0))  # erfc: exp(-a^2 - 0.5625 + R(1/a^2) / S(1/a^2)) / a
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
        # a^2 as hi^2 + (a - hi)(a + hi), hi being a's upper 32 bits: hi^2 is exact, so exp loses nothing to it
        hi = (u.view(np.uint64) & np.uint64(0xFFFFFFFF00000000)).view(np.float64)
        e = np.exp(-hi * hi - 0.5625) * np.exp((hi - u) * (hi + u) + r) / u
        y[tail] = e if complement else 1.0 - e
        out[far] = y
    return out


@helper
def lgamma(x):
    """``log(|gamma(x)|)`` of each element, in ``x``'s float dtype (float64 for integers, float32 for bools),
    computed in float64; inf at 0, at the negative integers and at +-inf, as PyTorch's. fdlibm's algorithm (Sun
    Microsystems, 1993: the C library's), array by array: polynomials about 1, 2 and the minimum 1.4616 below 2, a
    rational function with the recurrence up to 8, a series in 1/x beyond; ``log(pi / |x sin(pi x)|) - lgamma(-x)``
    for negative x. Within 2 ulp of the exact value for positive x (less near the zeros of lgamma below -2, whose
    reflection cancels). Python's ``math.lgamma`` is no shortcut for small arrays: CPython's own Lanczos sum, it is
    10^6 ulp off near 1 and 2."""
    x = np.asarray(x)
    dtype = np.result_type(x.dtype, np.float32)
    v = x.reshape(-1).astype(np.float64)
    a = np.abs(v)
    out = np.empty_like(a)

    def poly(coefficients, t):  # Horner's rule, highest degree first
        r = coefficients[0] * t
        for c in coefficients[1:-1]:
            r += c
            r *= t
        return r + coefficients[-1]

    # fdlibm's ranges of |x| (its boundaries are upper 32-bit patterns, hence the digits): below 0.9 the expansions
    # about 1, tc and 0 give lgamma(a + 1), from which log(a) is taken; from 0.9 to 2 those about 2, tc and 1 give
    # lgamma(a). Then [2, 8), [8, 2^58) and the rest; nan falls in the first, and stays nan. (Counted by comparisons:
    # np.searchsorted took 15 ns an element)
    region = (a >= 0.23163998126983643).view(np.int8)
    for edge in (0.7315998077392578, 0.9000000953674316, 1.2316322326660156, 1.7316312789916992, 2.0, 8.0,
                 2.8823037615171174e+17):
        region += a >= edge
    tc = 1.46163214496836224576e+00  # where lgamma is least
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        m = (region == 2) | (region == 5)  # about 1 (and 2)
        if m.any():
            t, below = a[m], region[m] < 3
            y = np.where(below, 1.0 - t, 2.0 - t)
            z = y * y
            p = y * poly((2.52144565451257326939e-05, 2.20862790713908385557e-04, 1.19270763183362067845e-03,
                          7.38555086081402883957e-03, 6.73523010531292681824e-02, 7.72156649015328655494e-02), z)
            p += z * poly((4.48640949618915160150e-05, 1.08011567247583939954e-04, 5.10069792153511336608e-04,
                           2.89051383673415629091e-03, 2.05808084325167332806e-02, 3.22467033424113591611e-01), z)
            out[m] = np.where(below, -np.log(t), 0.0) + (p - 0.5 * y)
        m = (region == 1) | (region == 4)  # about tc: lgamma(tc) + y^2 poly(y), three interleaved polynomials in y^3
        if m.any():
            t, below = a[m], region[m] < 3
            y = np.where(below, t - (tc - 1.0), t - tc)
            z = y * y
            w = z * y
            p1 = poly((3.15632070903625950361e-04, -1.40346469989232843813e-03, 6.10053870246291332635e-03,
                       -3.27885410759859649565e-02, 4.83836122723810047042e-01), w)
            p2 = poly((-3.12754168375120860518e-04, 8.81081882437654011382e-04, -3.68452016781138256760e-03,
                       1.79706750811820387126e-02, -1.47587722994593911752e-01), w)
            p3 = poly((3.35529192635519073543e-04, -5.38595305356740546715e-04, 2.25964780900612472250e-03,
                       -1.03142241298341437450e-02, 6.46249402391333854778e-02), w)
            # lgamma(tc) in two parts: -1.2148...e-01 and the tail beyond a double, 3.6387e-18
            p = z * p1 - (-3.63867699703950536541e-18 - w * (p2 + y * p3))
            out[m] = np.where(below, -np.log(t), 0.0) + (-1.21486290535849611461e-01 + p)
        m = (region == 0) | (region == 3)  # about 0 (and 1): a rational function
        if m.any():
            t, below = a[m], region[m] < 3
            y = np.where(below, t, t - 1.0)
            p1 = y * poly((1.33810918536787660377e-02, 2.28963728064692451092e-01, 9.77717527963372745603e-01,
                           1.45492250137234768737e+00, 6.32827064025093366517e-01, -7.72156649015328655494e-02), y)
            p2 = poly((3.21709242282423911810e-03, 1.04222645593369134254e-01, 7.69285150456672783825e-01,
                       2.12848976379893395361e+00, 2.45597793713041134822e+00, 1.0), y)
            out[m] = np.where(below, -np.log(t), 0.0) + (-0.5 * y + p1 / p2)  # (-log(0): inf)
        m = region == 6  # lgamma(2 + y) of y = frac(a), a rational function, + log((y + 2) ... (y + i - 1))
        if m.any():
            t = a[m]
            i = np.floor(t)
            y = t - i
            r = 0.5 * y + y * poly((3.19475326584100867617e-05, 1.84028451407337715652e-03, 2.66422703033638609560e-02,
                                    1.46350472652464452805e-01, 3.25778796408930981787e-01, 2.14982415960608852501e-01,
                                    -7.72156649015328655494e-02), y) / poly(
                (7.32668430744625636189e-06, 7.77942496381893596434e-04, 1.86459191715652901344e-02,
                 1.71933865632803078993e-01, 7.21935547567138069525e-01, 1.39200533467621045958e+00, 1.0), y)
            z = np.ones_like(y)
            for k in (6.0, 5.0, 4.0, 3.0, 2.0):  # fdlibm's order of the product
                z = np.where(i > k, z * (y + k), z)
            out[m] = r + np.log(z)
        m = region == 7  # (a - 1/2)(log(a) - 1) + a series in 1/a
        if m.any():
            t = a[m]
            z = 1.0 / t
            w = 4.18938533204672725052e-01 + z * poly((-1.63092934096575273989e-03, 8.36339918996282139126e-04,
                                                       -5.95187557450339963135e-04, 7.93650558643019558500e-04,
                                                       -2.77777777728775536470e-03, 8.33333333333329678849e-02),
                                                      z * z)
            out[m] = (t - 0.5) * (np.log(t) - 1.0) + w
        m = region == 8  # a (log(a) - 1); inf, nan
        out[m] = a[m] * (np.log(a[m]) - 1.0)
        # x < 0: log(pi / |x sin(pi x)|) - lgamma(-x), inf at the integers (all from 2^52 on); below 2^-70, -log(-x)
        m = (v < 0) & (a >= 8.470329472543003e-22)
        if m.any():
            t = a[m]
            s = np.abs(np.sin(np.pi * (t - np.round(t))))  # (t - round(t) is exact: no loss to pi t)
            out[m] = np.where((s == 0) | (t >= 4503599627370496.0), np.inf, np.log(np.pi / (s * t)) - out[m])
    return out.reshape(x.shape).astype(dtype, copy=False)


@helper
def digamma(x):
    """The digamma function ``d/dx lgamma(x)`` of each element, in ``x``'s float dtype (float64 for integers, float32
    for bools), computed in float64, with PyTorch's (and SciPy's) values at its poles: -inf at 0 (+inf at -0.0), nan
    at the negative integers and -inf. The algorithm of Cephes' psi as SciPy has it, array by array: ``psi(1 - x) -
    pi cot(pi x)`` for negative x (``cot_pi``: more accurate than SciPy's tan near the half-integers), the recurrence
    ``psi(x + 1) = psi(x) + 1 / x`` into [1, 2], where a rational function about the positive zero 1.4616... (Boost's,
    written ``(x - zero) (Y + R(x - 1))``, accurate there to the last bits), and the asymptotic series from 10 on:
    within 2 ulp of the exact value for positive x, and for negative x within 2 ulp of ``max(1, |psi(x)|)``."""
    x = np.asarray(x)
    dtype = np.result_type(x.dtype, np.float32)
    v = x.reshape(-1).astype(np.float64)
    out = np.zeros_like(v)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        negative = v < 0
        if negative.any():  # reflection
            t = v[negative]
            out[negative] = -np.pi * cot_pi(t)
            v[negative] = 1.0 - t
        m = v < 1.0  # (0 < v < 1: one step up)
        out[m] -= 1.0 / v[m]
        v[m] += 1.0
        m = (v > 2.0) & (v < 10.0)  # steps down into (1, 2]: psi(v) = psi(v - k) + sum of 1 / (v - j), j <= k
        if m.any():
            t = v[m]
            s = np.zeros_like(t)
            for k in range(1, 9):
                s += np.where(t - k > 1.0, 1.0 / (t - k), 0.0)  # (t - k is exact)
            out[m] += s
            v[m] = t - np.ceil(t - 2.0)
        m = v <= 2.0
        t = v[m]
        # (t - zero) (Y + P(t - 1) / Q(t - 1)), the zero in three parts, subtracted one by one
        g = t - 1569415565.0 / 1073741824.0
        g -= (381566830.0 / 1073741824.0) / 1073741824.0
        g -= 0.9016312093258695918615325266959189453125e-19
        s = t - 1.0
        r = (((((-0.0020713321167745952 * s - 0.045251321448739056) * s - 0.28919126444774784) * s
               - 0.65031853770896507) * s - 0.32555031186804491) * s + 0.25479851061131551) / (
            (((((-0.55789841321675513e-6 * s + 0.0021284987017821144) * s + 0.054151797245674225) * s
               + 0.43593529692665969) * s + 1.4606242909763515) * s + 2.0767117023730469) * s + 1.0)
        out[m] += g * 0.99558162689208984 + g * r
        m = v >= 10.0  # log(v) - 1 / (2 v) - sum of B_2k / (2k v^2k), k <= 7
        t = v[m]
        z = 1.0 / (t * t)
        s = ((((((8.33333333333333333333e-2 * z - 2.10927960927960927961e-2) * z + 7.57575757575757575758e-3) * z
                - 4.16666666666666666667e-3) * z + 3.96825396825396825397e-3) * z - 8.33333333333333333333e-3) * z
             + 8.33333333333333333333e-2) * z
        out[m] += np.log(t) - 0.5 / t - s
        flat = x.reshape(-1)
        out[flat == 0] = -1.0 / flat[flat == 0]  # -inf at +0.0, inf at -0.0
        out[negative & (v == np.floor(v))] = np.nan  # the negative integers (-inf too)
        out[np.isnan(v)] = np.nan
    return out.reshape(x.shape).astype(dtype, copy=False)


@helper
def cot_pi(x):
    """``cot(pi x)`` of a float64 array, to an ulp or two: of ``r = x - round(x)`` (exact), as ``tan(pi (1/2 - |r|))``
    where ``|r| > 1/4`` (``pi r`` rounded near pi/2 would lose the small cotangent's digits); +-inf at the integers.
    The reflections of ``digamma`` and ``polygamma`` read it."""
    r = x - np.round(x)
    a = np.abs(r)
    with np.errstate(divide="ignore"):
        return np.where(a <= 0.25, 1.0 / np.tan(np.pi * r), np.copysign(np.tan(np.pi * (0.5 - a)), r))


@helper
def polygamma(n, x):
    """The polygamma function of order ``n >= 1`` (the n-th derivative of digamma) of each element, in ``x``'s
    float dtype (float64 for integers, float32 for bools), computed in float64: ``(-1)^(n+1) n! zeta(n + 1, x)``, the
    Hurwitz zeta function summed directly until ``x + k`` passes a bound (8 for n = 1, growing with n: 132 at 170)
    and by the Euler-Maclaurin series in ``1 / (x + k)`` (12 terms) from there; for negative x the reflection
    ``(-1)^n psi_n(1 - x) - pi d^n/dx^n cot(pi x)`` (no sum as long as |x|). Within a few ulp of the exact value for
    positive x. At 0, the negative integers and -inf ``(-1)^(n+1) inf``, as PyTorch's zeta (and SciPy's) gives; from
    n = 171 on, n! overflows: inf or nan, as PyTorch's."""
    x = np.asarray(x)
    dtype = np.result_type(x.dtype, np.float32)
    v = x.reshape(-1).astype(np.float64)
    out = np.zeros_like(v)
    # e_j = B_2j / (2j)! (n + 1) (n + 2) ... (n + 2j - 1), j = 1..13, from B_2j / (2j)! (bernoulli[j - 1])
    bernoulli = (1 / 12, -1 / 720, 1 / 30240, -1 / 1209600, 1 / 47900160, -691 / 1307674368000,
                 1 / 74724249600, -3617 / 10670622842880000, 43867 / 5109094217170944000,
                 -174611 / 802857662698291200000, 77683 / 14101100039391805440000,
                 -236364091 / 1693824136731743669452800000, 657931 / 186134520519971831808000000)
    e, rising = [], 1.0
    for j, b in enumerate(bernoulli):
        rising *= (n + 2 * j + 1) * (n + 2 * j) if j else n + 1  # (n + 1) ... (n + 2j - 1)
        e.append(b * rising)
    # the direct sum runs up to where the series' 13th term is below 1e-17 of its first, 1/n (from 8; at most 1000,
    # which no n up to 170 needs: beyond, n! overflows)
    bound = float(max(8, math.ceil(min((abs(e[12]) * n * 1e17) ** (1 / 26), 1000.0))))
    factorial = float(math.factorial(n)) if n <= 170 else math.inf
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        negative = v < 0
        reflected = v[negative]
        v[negative] = 1.0 - reflected
        # zeta(n + 1, v) = sum over k < K of (v + k)^-(n+1) + the series at v + K >= bound, smallest terms first
        m = v < bound
        if m.any():
            t = v[m]
            s = np.zeros_like(t)
            for k in range(int(math.ceil(bound - np.nanmin(t))) - 1, -1, -1):
                s += np.where(t + k < bound, (t + k) ** -(n + 1.0), 0.0)
            out[m] = s
            v[m] = t + np.ceil(bound - t)
        w = 1.0 / (v * v)
        series = e[11]
        for c in e[10::-1]:
            series = series * w + c
        out += v ** -float(n) * (1.0 / n + 0.5 / v + series * w)
        out *= (-1.0) ** (n + 1) * factorial
        if negative.any():
            # pi^(n+1) P_n(cot(pi x)), with P_0(c) = c and P_k+1(c) = -(1 + c^2) P_k'(c) (integer coefficients, as
            # floats: exact while below 2^53)
            coefficients = [0.0, 1.0]  # lowest degree first
            for _ in range(n):
                derivative = [k * c for k, c in enumerate(coefficients)][1:] + [0, 0]
                coefficients = [-(derivative[k] + (derivative[k - 2] if k >= 2 else 0)) for k in range(len(derivative))]
            c = cot_pi(reflected)
            p = np.zeros_like(c)
            for a in coefficients[::-1]:
                p = p * c + a
            reflection = (-1.0) ** n * out[negative] - np.pi ** (n + 1) * p
            # the poles: 0, the negative integers and -inf (PyTorch's zeta, SciPy's)
            out[negative] = np.where(reflected == np.round(reflected), (-1.0) ** (n + 1) * np.inf, reflection)
        out[np.isnan(v)] = np.nan
    return out.reshape(x.shape).astype(dtype, copy=False)


@helper
def erfinv(x):
    """The inverse of erf, of each element, in ``x``'s float dtype (float64 for integers, float32 for bools),
    computed in float64: +-inf at +-1, nan outside [-1, 1]. Giles' single-precision approximation ("Approximating the
    erfinv function", 2010: relative error 4e-7 where ``1 - |x|`` is at least float32's 2^-24; closer to 1, only
    float64 reaches, erfc's asymptotic form instead), then two Newton steps: on ``erf(y) = |x|`` below 0.5, on
    ``log(erfc(y)) = log(1 - |x|)`` from there on (exact, and still of relative accuracy near 1, where erf(y) has
    none left). Within an ulp or two of the exact value."""
    x = np.asarray(x)
    dtype = np.result_type(x.dtype, np.float32)
    flat = x.reshape(-1)
    a = np.abs(flat, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = -np.log((1.0 - a) * (1.0 + a))
        central = w < 5.0
        t = np.where(central, w - 2.5, np.sqrt(w) - 3.0)
        p = np.where(central, 2.81022636e-08, -0.000200214257)
        for c, d in ((3.43273939e-07, 0.000100950558), (-3.5233877e-06, 0.00134934322),
                     (-4.39150654e-06, -0.00367342844), (0.00021858087, 0.00573950773),
                     (-0.00125372503, -0.0076224613), (-0.00417768164, 0.00943887047),
                     (0.246640727, 1.00167406), (1.50140941, 2.83297682)):
            p = p * t + np.where(central, c, d)
        y = p * a
        far = w >= 16.0  # erfc(y) = exp(-y^2) / (y sqrt(pi)) (1 - 1 / (2 y^2)): y^2 by two fixed-point steps
        if far.any():
            s = -np.log(1.0 - a[far]) - 0.5723649429247001  # (log(sqrt(pi)))
            y2 = s - 0.5 * np.log(s)
            y2 = s - 0.5 * np.log(y2) - 0.5 / y2
            y[far] = np.sqrt(y2)
        inner = a < 0.5
        outer = ~inner
        q = 1.0 - a[outer]  # (exact)
        for _ in range(2):  # f(y) / f'(y), with erf'(y) = -erfc'(y) = 2 / sqrt(pi) exp(-y^2)
            slope = 1.1283791670955126 * np.exp(-y * y)
            y[inner] -= (erf(y[inner]) - a[inner]) / slope[inner]
            e = erfc(y[outer])
            y[outer] += (np.log(e) - np.log(q)) * e / slope[outer]
        y[a == 1.0] = np.inf
        y[a > 1.0] = np.nan
    return np.copysign(y, flat, out=y).reshape(x.shape).astype(dtype, copy=False)


@helper
def chebyshev(t, coefficients):
    """Cephes' ``chbevl``: the sum of ``c_k T_k(t / 2)`` over the Chebyshev coefficients (highest first) by
    Clenshaw's recurrence, each step over all of ``t``: the expansions of ``i0`` and ``i1``."""
    b0, b1, b2 = np.full_like(t, coefficients[0]), np.zeros_like(t), None
    for c in coefficients[1:]:
        b2, b1 = b1, b0
        b0 = t * b1 - b2 + c
    return 0.5 * (b0 - b2)


# not np.i0: nan at +-inf, inf from 709.78, float32 in float32 (6 ulp; here 0.5, 2x its time on 1e5; float64 as fast)
@helper
def i0(x):
    """The modified Bessel function of the first kind of order 0 of each element, in ``x``'s float dtype (float64 for
    integers, float32 for bools), computed in float64: Cephes' Chebyshev expansions of ``exp(-|x|) i0(x)`` on [0, 8]
    and of ``exp(-|x|) sqrt(|x|) i0(x)`` in ``32 / |x|`` beyond (NumPy's ``i0`` has them too), array by array; inf
    at +-inf (where Cephes' formula gives nan) and from 713.99 on, where i0 overflows (``exp(|x|)`` is taken in two
    halves: Cephes' and PyTorch's overflow from 709.78)."""
    return bessel_i(x, 0, (
        -4.41534164647933937950e-18, 3.33079451882223809783e-17, -2.43127984654795469359e-16,
        1.71539128555513303061e-15, -1.16853328779934516808e-14, 7.67618549860493561688e-14,
        -4.85644678311192946090e-13, 2.95505266312963983461e-12, -1.72682629144155570723e-11,
        9.67580903537323691224e-11, -5.18979560163526290666e-10, 2.65982372468238665035e-9,
        -1.30002500998624804212e-8, 6.04699502254191894932e-8, -2.67079385394061173391e-7,
        1.11738753912010371815e-6, -4.41673835845875056359e-6, 1.64484480707288970893e-5,
        -5.75419501008210370398e-5, 1.88502885095841655729e-4, -5.76375574538582365885e-4,
        1.63947561694133579842e-3, -4.32430999505057594430e-3, 1.05464603945949983183e-2,
        -2.37374148058994688156e-2, 4.93052842396707084878e-2, -9.49010970480476444210e-2,
        1.71620901522208775349e-1, -3.04682672343198398683e-1, 6.76795274409476084995e-1), (
        -7.23318048787475395456e-18, -4.83050448594418207126e-18, 4.46562142029675999901e-17,
        3.46122286769746109310e-17, -2.82762398051658348494e-16, -3.42548561967721913462e-16,
        1.77256013305652638360e-15, 3.81168066935262242075e-15, -9.55484669882830764870e-15,
        -4.15056934728722208663e-14, 1.54008621752140982691e-14, 3.85277838274214270114e-13,
        7.18012445138366623367e-13, -1.79417853150680611778e-12, -1.32158118404477131188e-11,
        -3.14991652796324136454e-11, 1.18891471078464383424e-11, 4.94060238822496958910e-10,
        3.39623202570838634515e-9, 2.26666899049817806459e-8, 2.04891858946906374183e-7,
        2.89137052083475648297e-6, 6.88975834691682398426e-5, 3.36911647825569408990e-3,
        8.04490411014108831608e-1))


@helper
def i1(x):
    """The modified Bessel function of the first kind of order 1 of each element (odd: ``i1(-x) = -i1(x)``), in
    ``x``'s float dtype (float64 for integers, float32 for bools), computed in float64: Cephes' Chebyshev expansions
    of ``exp(-|x|) i1(x) / |x|`` on [0, 8] and of ``exp(-|x|) sqrt(|x|) i1(x)`` in ``32 / |x|`` beyond, array by
    array; +-inf at +-inf."""
    return bessel_i(x, 1, (
        2.77791411276104639959e-18, -2.11142121435816608115e-17, 1.55363195773620046921e-16,
        -1.10559694773538630805e-15, 7.60068429473540693410e-15, -5.04218550472791168711e-14,
        3.22379336594557470981e-13, -1.98397439776494371520e-12, 1.17361862988909016308e-11,
        -6.66348972350202774223e-11, 3.62559028155211703701e-10, -1.88724975172282928790e-9,
        9.38153738649577178388e-9, -4.44505912879632808065e-8, 2.00329475355213526229e-7,
        -8.56872026469545474066e-7, 3.47025130813767847674e-6, -1.32731636560394358279e-5,
        4.78156510755005422638e-5, -1.61760815825896745588e-4, 5.12285956168575772895e-4,
        -1.51357245063125314899e-3, 4.15642294431288815669e-3, -1.05640848946261981558e-2,
        2.47264490306265168283e-2, -5.29459812080949914269e-2, 1.02643658689847095384e-1,
        -1.76416518357834055153e-1, 2.52587186443633654823e-1), (
        7.51729631084210481353e-18, 4.41434832307170791151e-18, -4.65030536848935832153e-17,
        -3.20952592199342395980e-17, 2.96262899764595013876e-16, 3.30820231092092828324e-16,
        -1.88035477551078244854e-15, -3.81440307243700780478e-15, 1.04202769841288027642e-14,
        4.27244001671195135429e-14, -2.10154184277266431302e-14, -4.08355111109219731823e-13,
        -7.19855177624590851209e-13, 2.03562854414708950722e-12, 1.41258074366137813316e-11,
        3.25260358301548823856e-11, -1.89749581235054123450e-11, -5.58974346219658380687e-10,
        -3.83538038596423702205e-9, -2.63146884688951950684e-8, -2.51223623787020892529e-7,
        -3.88256480887769039346e-6, -1.10588938762623716291e-4, -9.76109749136146840777e-3,
        7.78576235018280120474e-1))


@helper
def bessel_i(x, order, low, high):
    """The modified Bessel function of the first kind of ``order`` 0 or 1 of each element, in ``x``'s float dtype
    (float64 for integers, float32 for bools), computed in float64 from Cephes' Chebyshev coefficients: ``low``
    expands ``exp(-|x|) I(x)`` (order 1: divided by ``|x|``) on [0, 8], ``high`` expands ``exp(-|x|) sqrt(|x|) I(x)``
    in ``32 / |x|`` beyond; ``exp(|x|)`` is taken in two halves there (finite up to 713.98, where ``exp`` alone
    overflows from 709.78); inf at +-inf (where Cephes' formula gives nan), I1 odd."""
    x = np.asarray(x)
    dtype = np.result_type(x.dtype, np.float32)
    flat = x.reshape(-1)
    a = np.abs(flat, dtype=np.float64)
    out = np.empty_like(a)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        m = a <= 8.0
        t = a[m]
        out[m] = chebyshev(t / 2.0 - 2.0, low) * t * np.exp(t) if order else np.exp(t) * chebyshev(t / 2.0 - 2.0, low)
        m = ~m  # (nan: nan)
        t = a[m]
        half = np.exp(t / 2.0)
        out[m] = half * chebyshev(32.0 / t - 2.0, high) / np.sqrt(t) * half
        out[a == np.inf] = np.inf
    if order:
        np.negative(out, out=out, where=flat < 0)
    return out.reshape(x.shape).astype(dtype, copy=False)


@helper
def add_rows(rows, index, values):
    """Zeros of ``rows`` rows holding ``values`` (``index.shape`` followed by a row's shape) added at the rows the
    integer ``index`` names, repeats adding up: ``np.add.at``. An index that picks whole rows of several elements
    takes add.at's slow path (20,000 rows of 64 float32: 11 ms); the flat positions of their elements take its fast
    one (2.6 ms; a negative index still counts from the end, a row at a time), and float rows of an even size
    add pairs of elements as complex numbers, half as many."""
    index = np.asarray(index)
    out = np.zeros((rows,) + values.shape[index.ndim:], dtype=values.dtype)
    size = out[0].size if rows else 0
    if size <= 1 or index.size * size < 1024:
        np.add.at(out, index, values)
        return out
    target, source = out.reshape(-1), values.reshape(-1)
    if size % 2 == 0 and out.dtype.kind == "f" and out.dtype.itemsize in (4, 8):
        # two floats as one complex number: add.at adds both halves, each the same float addition bit for bit,
        # in half the steps (float32 rows of 64: 2x as fast)
        size //= 2
        complex_type = np.complex64 if out.dtype.itemsize == 4 else np.complex128
        target, source = target.view(complex_type), np.ascontiguousarray(source).view(complex_type)
    flat = (index.reshape(-1, 1) * size + np.arange(size)).reshape(-1)
    np.add.at(target, flat, source)
    return out

@helper
def flat_positions(shape, index, dim):
    """The flat (C-order) positions, in an array of ``shape``, of the elements an ``index`` of as many dimensions
    names along ``dim``, its other coordinates the index's own (gather's and scatter_add's ``[index[i][j]][j]``):
    ``ravel_multi_index`` of that grid, as the index times ``dim``'s stride plus each other axis's ``arange`` times
    its stride (4,096 x 64: 1.3 -> 0.2 ms). The index lies in range (``check_range``)."""
    index = np.asarray(index)
    strides = [1] * len(shape)
    for k in range(len(shape) - 2, -1, -1):
        strides[k] = strides[k + 1] * shape[k + 1]
    flat = index * np.int64(strides[dim])  # (a new array, also of a broadcast index)
    for k, n in enumerate(index.shape):
        if k != dim and n > 1:
            flat += (np.arange(n, dtype=np.int64) * strides[k]).reshape((n,) + (1,) * (index.ndim - k - 1))
    return flat.reshape(-1)


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
def check_above(x, bound, inclusive, message, kind):
    """``x`` itself, once checked to lie above ``bound`` (every element greater, nan failing, as mvlgamma's
    ``(x > bound).all()``; ``inclusive``: none below it, nan passing, as gaussian_nll_loss's ``any(var < 0)``),
    else PyTorch's ``message`` as a ``RuntimeError`` or (``kind="ValueError"``) a ``ValueError``. Reads only ``x``'s
    own methods (CuPy's too)."""
    if x.size and ((x < bound).any() if inclusive else not (x > bound).all()):
        raise (ValueError if kind == "ValueError" else RuntimeError)(message)
    return x


@helper(any_array=True)
def check_range(x, rule, size):
    """``x`` itself, once its values are checked as PyTorch checks them, with PyTorch's error where they fail:
    class indices in ``[0, size)``, which NumPy and CuPy would take from the end when negative (CuPy even when too
    large). ``rule`` names PyTorch's words: ``"dimension d"`` (gather, scatter), ``"self"`` (index_select,
    embedding), ``"Target"`` (nll_loss) or ``"class"`` (one_hot); ``"take"`` (take, put: ``[-size, size)``),
    ``"index_fill dimension d"`` (``[-size, size)``), ``"index_copy_(): dimension d"``, ``"masked_scatter"`` (the
    source's size), ``"unpool HxW"`` (max_unpool's plane), ``"target out of range"`` (multi_margin_loss), ``"argument #2 'target' is out of range"``
    (multilabel_margin_loss),
    ``"embedding_bag"`` and ``"embedding_bag max"`` (its indices, in the words of PyTorch's sum/mean and max
    kernels), ``"offsets"`` (embedding_bag's: from 0, nondecreasing, none past ``size``, the input's length).
    Reads only ``x``'s own methods (CuPy's too)."""
    if not x.size:
        return x
    if rule == "offsets":
        if x[0] != 0:
            raise RuntimeError("offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from "
                               f"position 0. However, got {x[0].item()}\n[ torch.LongTensor{{}} ]")
        if x[-1] > size:
            raise RuntimeError(f"offsets[-1] can not be greater than input's length {size} but got offsets[-1] of "
                               f"{x[-1].item()}")
        if x.min() < 0:
            raise IndexError("index out of range in self")
        if (x[1:] < x[:-1]).any():  # (PyTorch's kernel reads past the input here: its assertion's words)
            raise RuntimeError("Expected i < index_size to be true, but got false.  (Could this error message be "
                               "improved?  If so, please report an enhancement request to PyTorch.)")
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
    if rule in ("target out of range", "argument #2 'target' is out of range"):  # (multi(label)_margin_loss's)
        raise RuntimeError(rule)
    flat = x.ravel()
    bad = flat[((flat < lowest) | (flat >= size)).argmax()].item()  # the first, as PyTorch names it
    if rule == "Target":
        raise IndexError(f"Target {bad} is out of bounds.")
    if rule == "embedding_bag":
        at = ((flat < lowest) | (flat >= size)).argmax().item()
        raise RuntimeError(f"Index {at} of input takes value {bad} which is not in the valid range [0, {size})")
    if rule == "embedding_bag max":
        raise RuntimeError(f"embedding_bag: Expected idx >= 0 && idx < num_embeddings but found idx to be {bad}")
    if rule == "take":
        raise IndexError(f"out of range: tried to access index {bad} on a tensor of {size} elements.")
    if rule.startswith("index_fill "):
        raise IndexError(f"index {bad} is out of bounds for {rule[len('index_fill '):]} with size {size}")
    if rule.startswith("index_copy_(): "):
        raise IndexError(f"index_copy_(): index {bad} is out of bounds for {rule[len('index_copy_(): '):]} with "
                         f"size {size}")
    if rule.startswith("unpool "):
        raise RuntimeError(f"Found an invalid max index: {bad} (output volumes are of size {rule[len('unpool '):]})")
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


@helper
def poisson_sample(rates, seed):
    """Poisson samples of the (non-negative) ``rates``, in their dtype, from NumPy's generator seeded with ``seed``
    (drawn by the caller from graphgrad's generator, so a seed replays them); PyTorch's error for a negative or nan
    rate."""
    if rates.size and not (rates >= 0).all():
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    return np.asarray(np.random.default_rng(int(seed)).poisson(rates), dtype=rates.dtype)
