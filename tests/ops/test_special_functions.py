"""The special functions NumPy lacks (``erfc``, ``lgamma``, ``digamma``, ``polygamma``, ``mvlgamma``, ``erfinv``,
``i0``, ``special.i1``): values against closed forms, Python's ``math``, series summed in ``decimal`` and identities
that tie them together (no SciPy: CI has none), on small arrays and on arrays past the sizes where ``erfc`` switches
from Python's per-element function to the array algorithm; PyTorch's values at the special points; float32 stays
float32 and integers give the default float dtype; first and second derivatives against finite differences, eager
and compiled; the generated NumPy module runs without graphgrad, and the CuPy one imports only cupy and agrees with
the CPU on the fake CuPy."""
import decimal
import doctest
import math
from fractions import Fraction

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.ops import numpy_functions as nf

EULER = 0.5772156649015329
ZETA3 = 1.2020569031595942
ZETA5 = 1.0369277551433699
# 40 digits, for references computed in decimal and rounded once (ln, exp, sqrt are decimal's own)
D = decimal.Context(prec=40)
PI = D.create_decimal("3.141592653589793238462643383279502884197")
GAMMA = D.create_decimal("0.5772156649015328606065120900824024310422")
LN2 = D.ln(2)


def _exact(*values) -> np.ndarray:
    """Decimal values (or expressions of them) rounded to float64 once."""
    return np.array([float(v) for v in values])


# -- references independent of the algorithms tested: series summed in decimal, rounded once ---------------------------
#: B_2, B_4, ..., B_20
BERNOULLI = [Fraction(1, 6), Fraction(-1, 30), Fraction(1, 42), Fraction(-1, 30), Fraction(5, 66), Fraction(-691, 2730),
             Fraction(7, 6), Fraction(-3617, 510), Fraction(43867, 798), Fraction(-174611, 330)]


def _shifted(x: float) -> tuple:
    """``x`` in decimal, the number N of unit steps from it to ``z = x + N >= 40`` and ``z``, where the asymptotic
    series below reach 40 digits with ten terms."""
    steps = max(0, 40 - math.floor(x))
    x = D.create_decimal_from_float(x)
    return x, steps, x + steps


def _polygamma_reference(n: int, x: float) -> float:
    """psi_n(x) (digamma for n = 0): the recurrence psi_n(x) = psi_n(x + N) - sum of (-1)^n n! / (x + k)^(n+1) up to
    z = x + N >= 40, and there the asymptotic series in 1 / z (Abramowitz and Stegun 6.3.18, 6.4.11)."""
    f = math.factorial
    with decimal.localcontext(D):
        x, steps, z = _shifted(x)
        if n == 0:
            value = z.ln() - 1 / (2 * z) - sum(D.divide(b.numerator, b.denominator) / (2 * k * z ** (2 * k))
                                               for k, b in enumerate(BERNOULLI, 1))
        else:
            value = (-1) ** (n + 1) * (f(n - 1) / z ** n + f(n) / (2 * z ** (n + 1)) + sum(
                D.divide(b.numerator * f(2 * k + n - 1), b.denominator * f(2 * k)) / z ** (2 * k + n)
                for k, b in enumerate(BERNOULLI, 1)))
        return float(value - sum((-1) ** n * f(n) / (x + k) ** (n + 1) for k in range(steps)))


def _lgamma_reference(x: float) -> float:
    """log|gamma(x)|: the recurrence lgamma(x) = lgamma(x + N) - sum of log|x + k| up to z = x + N >= 40, and there
    Stirling's series (Abramowitz and Stegun 6.1.40). (Python's math.lgamma is only absolutely accurate near 1, 2.)"""
    with decimal.localcontext(D):
        x, steps, z = _shifted(x)
        value = (z - D.create_decimal("0.5")) * z.ln() - z + (2 * PI).ln() / 2 + sum(
            D.divide(b.numerator, b.denominator * 2 * k * (2 * k - 1)) / z ** (2 * k - 1)
            for k, b in enumerate(BERNOULLI, 1))
        value -= sum(abs(x + k).ln() for k in range(steps))
        return float(value.quantize(D.create_decimal("1e-30"))) + 0.0  # (0 at 1 and 2: the series' 3e-33 cut off)


def _erf_decimal(x: decimal.Decimal) -> decimal.Decimal:
    """erf by its Maclaurin series, 2 / sqrt(pi) times the sum of (-1)^k x^(2k+1) / (k! (2k+1)) (|x| <= 3)."""
    with decimal.localcontext(D):
        power, total, k = x, x, 0
        while abs(power) > D.create_decimal("1e-45"):
            k += 1
            power *= -x * x / k
            total += power / (2 * k + 1)
        return 2 / D.sqrt(PI) * total


def _erfinv_reference(y: float) -> float:
    """The inverse of erf by Newton's method on its series (from below: erf is concave for x > 0), |y| < 0.9999."""
    with decimal.localcontext(D):
        target, x = abs(D.create_decimal_from_float(y)), D.create_decimal(0)
        for _ in range(100):
            step = (_erf_decimal(x) - target) / (2 / D.sqrt(PI) * (-x * x).exp())
            x -= step
            if abs(step) < D.create_decimal("1e-36"):
                return math.copysign(float(x), y)
        raise AssertionError(f"no convergence at {y}")


def _ulps(got, want):
    """How many units in the last place of ``want`` apart (0 for two equal values, nan or inf alike)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    with np.errstate(invalid="ignore"):
        return np.where(same, 0.0, np.abs(got - want) / np.spacing(np.abs(want)))


# -- erfc ----------------------------------------------------------------------------------------------------------
def test_erfc_agrees_with_the_c_library_on_both_paths_and_keeps_its_tail():
    rng = np.random.default_rng(0)
    ends = [0.84375, 1.25, 1 / 0.35, 6.0, 28.0, 0.25]
    xs = np.concatenate([rng.standard_normal(3000) * 4, np.linspace(-30, 30, 6001),
                         np.concatenate([np.nextafter(e, [-np.inf, np.inf]) for e in ends] + [ends]),
                         -np.array(ends), 10.0 ** rng.uniform(-320, 1.4, 1000) * rng.choice([-1.0, 1.0], 1000)])
    want = np.array([math.erfc(v) for v in xs])
    large = nf.erfc(xs)  # the array algorithm (fdlibm's), within a few ulp of the C library's
    assert large.dtype == np.float64 and _ulps(large, want).max() <= 4
    np.testing.assert_array_equal(nf.erfc(xs[:1000]), want[:1000])  # below 1,500: the C library's own
    # the tail is there, not 1 - erf(x) = 0
    tail = np.array([5.0, 10.0, 26.0, 27.0])
    want = np.array([1.5374597944280349e-12, 2.088487583762545e-45, 5.663192408856143e-296, 5.2370464393526e-319])
    for got in (nf.erfc(tail), nf.erfc(np.tile(tail, 1000))[:4]):
        np.testing.assert_allclose(got[:3], want[:3], rtol=1e-15)
        assert got[3] == pytest.approx(want[3], rel=1e-3)  # (a subnormal: few digits left)


@pytest.mark.parametrize("size", [7, 3000])
def test_erfc_special_points(size):
    x = np.resize([np.inf, -np.inf, np.nan, 0.0, -0.0, 30.0, -30.0], size)
    got = nf.erfc(x)[:7]
    np.testing.assert_array_equal(got, [0.0, 2.0, np.nan, 1.0, 1.0, 0.0, 2.0])


# -- lgamma --------------------------------------------------------------------------------------------------------
def test_lgamma_at_known_points():
    x = np.array([1.0, 2.0, 3.0, 0.5, 1.5, 2.5, 10.0, -0.5, -1.5, -2.5, 100.0, 1e-300, -1e-300, 1e300])
    root_pi = D.sqrt(PI)
    want = _exact(0, 0, LN2, D.ln(root_pi), D.ln(root_pi / 2), D.ln(root_pi * 3 / 4), D.ln(362880),
                  D.ln(2 * root_pi), D.ln(root_pi * 4 / 3), D.ln(root_pi * 8 / 15), D.ln(math.factorial(99)),
                  -D.ln(D.create_decimal("1e-300")), -D.ln(D.create_decimal("1e-300")),
                  D.create_decimal("1e300") * (D.ln(D.create_decimal("1e300")) - 1))
    got = nf.lgamma(x)
    assert got[0] == got[1] == 0.0
    positive = x > 0
    assert _ulps(got[positive], want[positive]).max() <= 2
    # x < 0: log(pi / |x sin(pi x)|) - lgamma(-x) cancels as lgamma nears its zeros there (-2.5: 0.23 - 0.28)
    assert np.all(np.abs(got - want)[~positive] <= 2.3e-16 * np.maximum(1.0, np.abs(want[~positive])))


def test_lgamma_keeps_its_relative_accuracy_near_its_zeros_1_and_2():
    # lgamma(1 + t) = -gamma t + sum (-1)^k zeta(k) t^k / k and lgamma(2 + t) = (1 - gamma) t + sum (-1)^k
    # (zeta(k) - 1) t^k / k (k >= 2), at the step t the double x is from 1 or 2; Python's math.lgamma (a Lanczos sum)
    # is 10^6 ulp off here
    zeta = {2: math.pi ** 2 / 6, 3: ZETA3, 4: math.pi ** 4 / 90, 5: ZETA5, 6: math.pi ** 6 / 945,
            7: 1.0083492773819228}
    h = np.array([1e-3, -1e-3, 2.5e-4, 3e-5, -7e-6, 1e-8, -1e-12])
    for base in (1.0, 2.0):
        x = base + h
        t = x - base  # (exact)
        want = (base - 1 - EULER) * t + sum((-1) ** k * (zeta[k] - (base - 1)) * t ** k / k for k in zeta)
        assert _ulps(nf.lgamma(x), want).max() <= 3, base


def test_lgamma_agrees_with_pythons_away_from_1_and_2_and_at_negative_arguments():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(3.0, 200.0, 2000), rng.uniform(1e-3, 0.5, 2000), 10.0 ** rng.uniform(3, 300, 500)])
    want = np.array([math.lgamma(v) for v in x])  # (CPython's own: a few ulp here)
    assert _ulps(nf.lgamma(x), want).max() <= 8
    x = -rng.uniform(0.0, 30.0, 3000)
    want = np.array([math.lgamma(v) for v in x])
    got = nf.lgamma(x)  # the reflection: absolutely accurate, relatively not near lgamma's zeros below -2
    assert np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))) < 4e-15


@pytest.mark.parametrize("size", [9, 3000])
def test_lgamma_poles_and_infinities_are_inf(size):
    x = np.resize([0.0, -0.0, -1.0, -2.0, -1e20, np.inf, -np.inf, np.nan, -2.0 ** 52], size)
    np.testing.assert_array_equal(nf.lgamma(x)[:9], [np.inf] * 7 + [np.nan, np.inf])


# -- digamma and polygamma -----------------------------------------------------------------------------------------
def test_digamma_at_known_points():
    half = -GAMMA - 2 * LN2  # psi(1/2); psi(n + 1/2) = psi(1/2) + sum of 2 / (2k - 1), k <= n
    x = np.array([1.0, 0.5, 2.0, 10.0, 0.25, 0.75, 1.5, 5.5, -0.5, -1.5, 1e-300, 1e300])
    want = _exact(-GAMMA, half, 1 - GAMMA, sum(D.divide(1, k) for k in range(1, 10)) - GAMMA, -GAMMA - PI / 2 - 3 * LN2,
                  -GAMMA + PI / 2 - 3 * LN2, half + 2, half + sum(D.divide(2, 2 * k - 1) for k in range(1, 6)),
                  half + 2, half + 2 + D.divide(2, 3), -1e300, D.ln(D.create_decimal("1e300")))
    assert _ulps(nf.digamma(x), want).max() <= 2
    assert abs(nf.digamma(np.array([1.4616321449683622]))[0]) < 1e-16  # its positive zero: no cancellation there


def test_digamma_is_the_derivative_of_lgamma_and_keeps_its_recurrence():
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.uniform(0.05, 30.0, 500), -rng.uniform(0.05, 8.0, 500)])
    x = x[np.abs(x - np.round(x)) > 0.05]
    h = 1e-5
    numeric = (nf.lgamma(x + h) - nf.lgamma(x - h)) / (2 * h)
    np.testing.assert_allclose(nf.digamma(x), numeric, rtol=1e-7, atol=1e-7)
    # psi(x + 1) - psi(x) = 1 / x, psi(1 - x) - psi(x) = pi cot(pi x)
    np.testing.assert_allclose(nf.digamma(x + 1) - nf.digamma(x), 1 / x, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(nf.digamma(1 - x) - nf.digamma(x), math.pi / np.tan(math.pi * x), rtol=1e-11,
                               atol=1e-12)


@pytest.mark.parametrize("size", [8, 3000])
def test_digamma_special_points_are_pytorchs(size):
    x = np.resize([0.0, -0.0, -1.0, -7.0, -np.inf, np.inf, np.nan, -2.0 ** 60], size)
    np.testing.assert_array_equal(nf.digamma(x)[:8], [-np.inf, np.inf, np.nan, np.nan, np.nan, np.inf, np.nan, np.nan])


def test_polygamma_at_known_points_and_its_recurrence():
    pi = math.pi
    zeta3 = D.create_decimal("1.202056903159594285399738161511449990765")
    zeta5 = D.create_decimal("1.036927755143369926331365486457034168057")
    cases = {1: ([1.0, 0.5, 2.0], _exact(PI ** 2 / 6, PI ** 2 / 2, PI ** 2 / 6 - 1)),
             2: ([1.0, 0.5], _exact(-2 * zeta3, -14 * zeta3)),
             3: ([1.0, 0.5], _exact(PI ** 4 / 15, PI ** 4)),
             4: ([1.0, 0.5], _exact(-24 * zeta5, -24 * 31 * zeta5)),
             5: ([1.0, 0.5], _exact(8 * PI ** 6 / 63, 8 * PI ** 6))}
    for n, (x, want) in cases.items():
        assert _ulps(nf.polygamma(n, np.array(x)), want).max() <= 3, n
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(0.05, 40.0, 300), -rng.uniform(0.05, 6.0, 300)])
    x = x[np.abs(x - np.round(x)) > 0.05]
    for n in (1, 2, 3, 6):
        step = (-1.0) ** n * math.factorial(n) / x ** (n + 1)  # psi_n(x + 1) = psi_n(x) + (-1)^n n! / x^(n+1)
        after, before = nf.polygamma(n, x + 1), nf.polygamma(n, x)
        assert np.all(np.abs(after - before - step) <= 1e-12 * (np.abs(after) + np.abs(step))), n
    # the reflection: psi_1(1 - x) + psi_1(x) = pi^2 / sin(pi x)^2
    np.testing.assert_allclose(nf.polygamma(1, 1 - x) + nf.polygamma(1, x), pi ** 2 / np.sin(pi * x) ** 2, rtol=1e-12)
    # each order the derivative of the one before
    h = 1e-5
    for n in (1, 2, 4):
        numeric = (nf.polygamma(n - 1, x + h) - nf.polygamma(n - 1, x - h)) / (2 * h) if n > 1 else \
            (nf.digamma(x + h) - nf.digamma(x - h)) / (2 * h)
        np.testing.assert_allclose(nf.polygamma(n, x), numeric, rtol=1e-6)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_polygamma_poles_are_signed_infinities(n):
    x = np.array([0.0, -0.0, -1.0, -5.0, -np.inf, np.inf, np.nan])
    sign = (-1.0) ** (n + 1)
    np.testing.assert_array_equal(nf.polygamma(n, x), [sign * np.inf] * 5 + [sign * 0.0, np.nan])


def test_polygamma_argument_checks_and_order_0():
    x = gg.tensor([0.5, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"^polygamma\(n, x\) does not support negative n\.$"):
        gg.polygamma(-1, x)
    with pytest.raises(TypeError, match="must be int"):
        gg.polygamma(1.0, x)
    zero = gg.polygamma(0, x)
    np.testing.assert_array_equal(zero.detach().numpy(), gg.digamma(x).detach().numpy())
    assert zero.grad_fn.name() == "PolygammaBackward0" and x.polygamma(2).grad_fn.name() == "PolygammaBackward0"
    np.testing.assert_array_equal(x.polygamma(1).detach().numpy(), gg.special.polygamma(1, x).detach().numpy())


# -- erfinv --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 2000])
def test_erfinv_inverts_erf_up_to_the_ends(size):
    rng = np.random.default_rng(4)
    y = np.concatenate([rng.uniform(-1, 1, 2000), 1 - 10.0 ** rng.uniform(-16, -1, 500),
                        -(1 - 10.0 ** rng.uniform(-16, -1, 500)), 10.0 ** rng.uniform(-310, -1, 300),
                        [0.5, -0.5, np.nextafter(1.0, 0.0), np.nextafter(0.5, 0.0)]])
    got = np.concatenate([nf.erfinv(np.tile(part, size))[:part.size] for part in np.array_split(y, 10)])
    assert np.array_equal(np.sign(got), np.sign(y))
    # how far the result is from the exact inverse, in its ulps: the residual of erf (of erfc, relatively accurate,
    # near +-1, where 1 - |y| is exact) over the slope 2 / sqrt(pi) exp(-x^2)
    a, inner = np.abs(got), np.abs(y) < 0.5
    residual = np.where(inner, nf.erf(a) - np.abs(y), nf.erfc(a) - (1 - np.abs(y)))
    assert np.max(np.abs(residual) / (2 / math.sqrt(math.pi) * np.exp(-a * a)) / np.spacing(a)) <= 3
    assert got[-4] == pytest.approx(0.4769362762044699, rel=2e-16) and got[-2] == pytest.approx(5.863584748755167,
                                                                                                rel=2e-16)


def test_erfinv_special_points():
    got = nf.erfinv(np.array([1.0, -1.0, 1.5, -2.0, np.inf, np.nan, 0.0, -0.0]))
    np.testing.assert_array_equal(got, [np.inf, -np.inf, np.nan, np.nan, np.nan, np.nan, 0.0, -0.0])
    assert np.signbit(got[-1])


# -- i0, i1 --------------------------------------------------------------------------------------------------------
def _bessel_series(x: float, order: int) -> float:
    """sum over k of (x/2)^(2k + order) / (k! (k + order)!), in decimal, to convergence (for |x| <= 30)."""
    with decimal.localcontext(D):
        half = D.create_decimal_from_float(x) / 2
        term = half ** order / math.factorial(order) if order else D.create_decimal(1)
        total, k = term, 0
        while abs(term) > D.create_decimal("1e-36") * abs(total):
            k += 1
            term *= half * half / (k * (k + order))
            total += term
        return float(total)


def test_i0_and_i1_against_their_series_and_asymptotics():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(-30, 30, 1000), [0.0, 8.0, -8.0, 1e-10]])
    for fn, order in ((nf.i0, 0), (nf.i1, 1)):
        want = np.array([_bessel_series(v, order) for v in x])
        np.testing.assert_allclose(fn(x), want, rtol=4e-15, atol=0)
        np.testing.assert_array_equal(fn(-x), (-1.0) ** order * fn(x))  # even, odd
    assert nf.i0(np.array([0.0]))[0] == 1.0 and nf.i1(np.array([0.0]))[0] == 0.0
    np.testing.assert_allclose(nf.i0(x), np.i0(x), rtol=1e-14)  # NumPy's Cephes too
    # e^x / sqrt(2 pi x) times 1 + u + 9/2 u^2 + ... (i0), 1 - 3u - 15/2 u^2 - ... (i1), u = 1 / (8x)
    big = np.array([400.0, 700.0])
    u = 1 / (8 * big)
    scale = np.exp(big / 2) / np.sqrt(2 * math.pi * big) * np.exp(big / 2)
    np.testing.assert_allclose(nf.i0(big), scale * (1 + u + 9 / 2 * u ** 2 + 225 / 6 * u ** 3 + 11025 / 24 * u ** 4
                                                    + 893025 / 120 * u ** 5), rtol=1e-14)
    np.testing.assert_allclose(nf.i1(big), scale * (1 - 3 * u - 15 / 2 * u ** 2 - 315 / 6 * u ** 3
                                                    - 14175 / 24 * u ** 4 - 1091475 / 120 * u ** 5), rtol=1e-14)


def test_i0_and_i1_special_points():
    x = np.array([np.inf, -np.inf, np.nan, 713.0, 715.0])
    i0, i1 = nf.i0(x), nf.i1(x)
    np.testing.assert_array_equal(i0[[0, 1, 2, 4]], [np.inf, np.inf, np.nan, np.inf])
    np.testing.assert_array_equal(i1[[0, 1, 2, 4]], [np.inf, -np.inf, np.nan, np.inf])
    # finite where exp(713) alone would overflow (Cephes' formula, PyTorch's, overflows from 709.78)
    assert i0[3] == pytest.approx(6.705128263670996e+307, rel=1e-13) and np.isfinite(i1[3])


# -- mvlgamma ------------------------------------------------------------------------------------------------------
def test_mvlgamma_is_its_sum_of_lgammas_and_refuses_small_arguments():
    x = np.array([2.1, 2.5, 3.7, 10.0])
    for p in (1, 2, 3, 5):
        want = [p * (p - 1) / 4 * math.log(math.pi) + sum(math.lgamma(v - i / 2) for i in range(p)) for v in x]
        for t in (gg.tensor(x), gg.tensor(x, dtype=gg.float32)):
            got = gg.mvlgamma(t, p)
            assert got.dtype == t.dtype
            # (math.lgamma, CPython's own, is accurate to 1e-16 absolutely, not relatively, near 1 and 2)
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-14 if t.dtype == gg.float64 else 1e-6, atol=1e-15)
        np.testing.assert_allclose(gg.compile(lambda t: gg.special.multigammaln(t, p))(gg.tensor(x)).numpy(), want,
                                   rtol=1e-14, atol=1e-15)
    assert gg.mvlgamma(gg.tensor([3, 4]), 2).dtype == gg.float32  # integers: the default float dtype
    with pytest.raises(RuntimeError, match=r"^All elements must be greater than \(p-1\)/2$"):
        gg.mvlgamma(gg.tensor([0.5, 3.0]), 2)
    with pytest.raises(RuntimeError, match="^p has to be greater than or equal to 1$"):
        gg.mvlgamma(gg.tensor([0.5, 3.0]), 0)
    y = gg.tensor([2.5, 3.0]).mvlgamma_(2)
    np.testing.assert_allclose(y.numpy(), gg.mvlgamma(gg.tensor([2.5, 3.0]), 2).numpy())


# -- dtypes, both modes, gradients ---------------------------------------------------------------------------------
OPS = {  # name: (function of a tensor, values inside its domain)
    "erfc": (gg.erfc, np.linspace(-4.0, 6.0, 7)),
    "lgamma": (gg.lgamma, np.array([0.3, 1.0, 1.7, 2.5, 4.2, 9.0, -0.5])),
    "digamma": (gg.digamma, np.array([0.3, 1.0, 1.7, 2.5, 4.2, 12.0, -0.5])),
    "polygamma": (lambda t: gg.polygamma(2, t), np.array([0.3, 1.0, 1.7, 2.5, 4.2, 12.0, -0.5])),
    "erfinv": (gg.erfinv, np.array([-0.99, -0.5, 0.0, 0.3, 0.7, 0.999])),
    "i0": (gg.i0, np.linspace(-4.0, 5.0, 7)),
    "i1": (gg.special.i1, np.linspace(-4.0, 5.0, 7)),
    "mvlgamma": (lambda t: gg.mvlgamma(t, 3), np.array([1.2, 2.0, 3.5, 7.0])),
}
REFERENCE = {"erfc": math.erfc, "lgamma": _lgamma_reference, "digamma": lambda v: _polygamma_reference(0, v),
             "polygamma": lambda v: _polygamma_reference(2, v), "erfinv": _erfinv_reference,
             "i0": lambda v: _bessel_series(v, 0), "i1": lambda v: _bessel_series(v, 1)}


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_dtype_is_kept_and_eager_equals_compiled(name, dtype):
    fn, values = OPS[name]
    x = gg.tensor(values, dtype=getattr(gg, dtype))
    eager, compiled = fn(x), gg.compile(fn)(x)
    assert eager.dtype == compiled.dtype == getattr(gg, dtype)
    np.testing.assert_array_equal(compiled.numpy(), eager.numpy())
    if name in REFERENCE:  # within a few ulp in float64; float32 computed in float64, rounded once
        want = np.array([REFERENCE[name](float(v)) for v in x.numpy()])
        if dtype == "float64":
            assert _ulps(eager.numpy(), want).max() <= 3
        else:
            np.testing.assert_array_equal(eager.numpy(), want.astype(np.float32))


@pytest.mark.parametrize("name", sorted(set(OPS) - {"erfinv"}))
def test_integers_and_bools_give_the_default_float_dtype(name):
    fn, _ = OPS[name]
    x = gg.tensor([3, 5, 7])
    for f in (fn, gg.compile(fn)):
        got = f(x)
        assert got.dtype == gg.float32
        np.testing.assert_allclose(got.numpy(), fn(x.double()).numpy(), rtol=1e-6)
    assert gg.erfinv(gg.tensor([0, 1])).dtype == gg.float32 and gg.erfc(gg.tensor([True])).dtype == gg.float32


def test_large_tensors_equal_eager_and_compiled():
    rng = np.random.default_rng(6)
    x = gg.tensor(rng.standard_normal((50, 80)) * 3)  # 4,000 elements: erfc's array algorithm
    u = gg.tensor(rng.uniform(-1, 1, (50, 80)))
    for fn, arg in ((gg.erfc, x), (gg.lgamma, x), (gg.digamma, x), (lambda t: gg.polygamma(1, t), x), (gg.i0, x),
                    (gg.special.i1, x), (gg.erfinv, u)):
        np.testing.assert_array_equal(gg.compile(fn)(arg).numpy(), fn(arg).numpy())
    np.testing.assert_allclose(gg.erfc(x).numpy().ravel(), [math.erfc(v) for v in x.numpy().ravel()], rtol=1e-15)


@pytest.mark.parametrize("name", sorted(OPS))
def test_first_and_second_order_gradients_against_finite_differences(name, check_gradients):
    fn, values = OPS[name]
    check_gradients(lambda t: (fn(t) * t).sum(), [values])


def test_gradients_are_the_documented_functions():
    x = gg.tensor([0.4, 1.3, 2.5], dtype=gg.float64, requires_grad=True)
    a = x.detach().numpy()

    def each(reference) -> np.ndarray:  # (not numpy_functions', which the gradient rules call)
        return np.array([reference(v) for v in a.tolist()])

    i0, i1 = each(lambda v: _bessel_series(v, 0)), each(lambda v: _bessel_series(v, 1))
    for fn, want in ((gg.erfc, -2 / math.sqrt(math.pi) * np.exp(-a * a)),
                     (gg.lgamma, each(lambda v: _polygamma_reference(0, v))),
                     (gg.digamma, each(lambda v: _polygamma_reference(1, v))),
                     (lambda t: gg.polygamma(3, t), each(lambda v: _polygamma_reference(4, v))),
                     (gg.i0, i1), (gg.special.i1, i0 - i1 / a),
                     (lambda t: gg.erfinv(t / 3),
                      math.sqrt(math.pi) / 2 * np.exp(each(lambda v: _erfinv_reference(v / 3)) ** 2) / 3)):
        (grad,) = gg.autograd.grad(fn(x).sum(), [x])
        np.testing.assert_allclose(grad.numpy(), want, rtol=1e-14)
    # at the special points: PyTorch's
    z = gg.tensor([0.0, 1.0, -1.0], dtype=gg.float64, requires_grad=True)
    (g,) = gg.autograd.grad(gg.special.i1(z).sum(), [z])
    assert g[0].item() == 0.5
    w = gg.tensor([1.0, -1.0, 0.0], dtype=gg.float64, requires_grad=True)
    (g,) = gg.autograd.grad(gg.erfinv(w).sum(), [w])
    np.testing.assert_array_equal(g.numpy(), [np.inf, np.inf, math.sqrt(math.pi) / 2])
    (g,) = gg.autograd.grad(gg.lgamma(w[:2] + 1).sum(), [w])  # lgamma at 2 and 0: digamma 1 - gamma and -inf
    assert g[0].item() == pytest.approx(1 - EULER, rel=1e-15) and g[1].item() == -np.inf


def test_in_place_forms_record_gradients():
    for name, args in (("erfc_", ()), ("lgamma_", ()), ("digamma_", ()), ("polygamma_", (1,)), ("erfinv_", ()),
                       ("i0_", ())):
        x = gg.tensor([0.2, 0.6], dtype=gg.float64, requires_grad=True)
        y = x * 1.0
        getattr(y, name)(*args)
        out_of_place = getattr(x, name[:-1])(*args)
        np.testing.assert_array_equal(y.detach().numpy(), out_of_place.detach().numpy())
        (g,) = gg.autograd.grad(y.sum(), [x])
        (want,) = gg.autograd.grad(out_of_place.sum(), [x])
        np.testing.assert_array_equal(g.numpy(), want.numpy())


# -- generated code ------------------------------------------------------------------------------------------------
def _all(t):
    return (gg.erfc(t) + gg.lgamma(t + 3) + gg.digamma(t + 3) + gg.polygamma(2, t + 3) + gg.erfinv(t / 5)
            + gg.i0(t) + gg.special.i1(t) + gg.mvlgamma(t + 4, 2)).sum()


def test_a_generated_numpy_module_defines_its_helpers_and_runs_without_graphgrad():
    def f(t):
        digamma = t.digamma()  # a user's name: the module's own function keeps its name
        return _all(t) + (digamma * digamma).sum()

    a = np.linspace(-1.75, 2.25, 9)
    x = gg.tensor(a, requires_grad=True)
    compiled = gg.compile(f)
    source = compiled.source(x)
    for helper in ("erfc", "erf", "erf_ranges", "lgamma", "digamma", "polygamma", "cot_pi", "erfinv", "i0", "i1",
                   "chebyshev"):
        assert source.count(f"\ndef {helper}(") == 1, helper
    assert "digamma = digamma(" not in source
    assert "# Imports only numpy and Python's math; safe to copy" in source
    namespace: dict = {}
    exec(compile(source, "<generated>", "exec"), namespace)  # only numpy and math are imported
    value, *saved = namespace["forward"](a)
    eager = f(x)
    assert float(value) == pytest.approx(eager.item(), rel=1e-15)
    (grad,) = (namespace["backward"](*saved, np.ones(())),)
    eager.backward()
    np.testing.assert_allclose(grad, x.grad.numpy(), rtol=1e-14)


def test_cupy_modules_import_only_cupy():
    x = gg.tensor(np.linspace(-2.0, 2.0, 5), requires_grad=True)
    source = gg.compile(_all).source(x, backend="cupy")
    body = source.split("\n", 3)[-1]
    assert "import cupy as cp" in source and "numpy" not in body and "import math" not in source
    for c in ("erfc(x)", "lgamma(x)", "graphgrad_digamma(x)", "graphgrad_polygamma_2(x)", "graphgrad_polygamma_3(x)",
              "erfinv(x)", "cyl_bessel_i0(x)", "cyl_bessel_i1(x)"):
        assert f'"y = {c}"' in source, c


def _special_points(device: str, dtype, mode: str):
    a = np.array([-3.7, -2.5, -0.5, 0.0, 0.3, 1.0, 1.5, 2.0, 4.5, 12.0, -2.0, np.inf, np.nan])
    x = gg.tensor(a, dtype=dtype, device=device, requires_grad=True)
    u = gg.tensor(np.array([-1.0, -0.999, -0.5, 0.0, 0.2, 0.9, 1.0, 1.5]), dtype=dtype, device=device,
                  requires_grad=True)

    def f(t, v):
        return (gg.erfc(t), gg.lgamma(t), gg.digamma(t), gg.polygamma(1, t), gg.polygamma(4, t), gg.i0(t),
                gg.special.i1(t), gg.erfinv(v))

    outs = (f if mode == "eager" else gg.compile(f, fuse=mode == "compiled"))(x, u)
    finite = [gg.where(r.isfinite(), r, 0.0) for r in outs]
    sum(o.sum() for o in finite).backward()
    return [o.detach().cpu().numpy() for o in outs] + [x.grad.cpu().numpy(), u.grad.cpu().numpy()]


@pytest.mark.parametrize("mode", ["eager", "compiled", "compiled unfused"])
def test_the_device_equals_the_cpu_special_points_included(cupy_device, mode):
    for dtype, rtol in ((gg.float64, 1e-12), (gg.float32, 1e-6)):
        want = _special_points("cpu", dtype, "eager")
        got = _special_points("cuda", dtype, mode)
        for k, (g, w) in enumerate(zip(got, want)):
            assert g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * 1e-3, err_msg=f"output {k}")


def test_torch_special_names():
    assert gg.special.gammaln is gg.lgamma and gg.special.psi is gg.digamma is gg.special.digamma
    assert gg.special.multigammaln is gg.mvlgamma and gg.special.erfinv is gg.erfinv
    assert gg.special.erfc is gg.erfc and gg.special.i0 is gg.i0 and gg.special.polygamma is gg.polygamma
    x = gg.tensor([0.3, -1.2])
    np.testing.assert_array_equal(gg.special.erf(x).numpy(), gg.erf(x).numpy())  # (gg.erf: wrapped for out=)
    import graphgrad.special  # noqa: F401  (importable, as torch.special)


@pytest.mark.parametrize("fn", [gg.erfc, gg.lgamma, gg.digamma, gg.erfinv, gg.i0, gg.special.i1],
                         ids=lambda f: f.__name__)
def test_docstring_examples(fn):
    """(The primitives' functions live in ops/define.py: the doctest run over modules does not find them.)"""
    test = doctest.DocTestParser().get_doctest(fn.__doc__, {}, fn.__name__, None, 0)
    assert test.examples
    result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test)
    assert result.failed == 0


def test_mvlgamma_checks_its_domain_in_compiled_code_too():
    # the check ran on eager tensors only: a compiled mvlgamma of 0.5 with p=3 gave inf
    f = gg.compile(lambda t: gg.mvlgamma(t, 3))
    with pytest.raises(RuntimeError, match=r"^All elements must be greater than \(p-1\)/2 \(in the generated"):
        f(gg.tensor([0.5, 3.0]))
    np.testing.assert_allclose(f(gg.tensor([1.5, 3.0])).numpy(), gg.mvlgamma(gg.tensor([1.5, 3.0]), 3).numpy())
    with pytest.raises(RuntimeError, match=r"^p has to be greater than or equal to 1$"):  # (checked first)
        gg.mvlgamma(gg.tensor([-3.0]), 0)
