"""PReLU, GLU, Softmin, Threshold, CosineSimilarity, PairwiseDistance, pdist, Bilinear, GroupNorm, InstanceNorm1d/2d,
LocalResponseNorm, Dropout1d/2d, AlphaDropout, RReLU, Softmax2d, gumbel_softmax, ChannelShuffle, PixelShuffle,
PixelUnshuffle, interpolate and Upsample (functional and modules): values against NumPy written out here from
PyTorch's definitions, gradients against float64 finite differences (first and second order, eager and compiled),
compiled against eager, the random ones by their structure and statistics, and PyTorch's error texts."""
import math
import warnings

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn as nn
import graphgrad.nn.functional as F

RNG = np.random.default_rng(2024)


def _t(a, grad=False):
    return gg.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


# -- NumPy references ------------------------------------------------------------------------------------------
def _prelu(x, w):
    return np.where(x > 0, x, np.reshape(w, (-1,) + (1,) * (x.ndim - 2)) * x if w.size > 1 else w * x)


def _glu(x, dim):
    a, b = np.split(x, 2, axis=dim)
    return a / (1 + np.exp(-b))


def _cosine(x1, x2, dim, eps):
    n1 = np.maximum(np.sqrt((x1 * x1).sum(dim, keepdims=True)), eps)
    n2 = np.maximum(np.sqrt((x2 * x2).sum(dim, keepdims=True)), eps)
    return (x1 / n1 * x2 / n2).sum(dim)


def _pnorm(d, p, axis=-1, keepdims=False):
    a = np.abs(d)
    if p == 0:
        return (a != 0).sum(axis, keepdims=keepdims).astype(d.dtype)
    if p == math.inf:
        return a.max(axis, keepdims=keepdims)
    return (a ** p).sum(axis, keepdims=keepdims) ** (1 / p)


def _pdist(x, p):
    n = len(x)
    return np.array([_pnorm(x[i] - x[j], p) for i in range(n) for j in range(i + 1, n)])


def _bilinear(x1, x2, w, b):
    return np.einsum("ni,oij,nj->no", x1, w, x2) + b


def _group_norm(x, groups, w, b, eps=1e-5):
    g = x.reshape(x.shape[0], groups, -1)
    out = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + eps)).reshape(x.shape)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return out * w.reshape(shape) + b.reshape(shape)


def _instance_norm(x, w=None, b=None, eps=1e-5):
    axes = tuple(range(2, x.ndim))
    out = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return out if w is None else out * w.reshape(shape) + b.reshape(shape)


def _lrn(x, size, alpha, beta, k):
    c = x.shape[1]
    div = np.zeros_like(x)
    for ch in range(c):  # channels ch - size//2 ... ch + (size-1)//2, those past either end count as 0
        lo, hi = max(ch - size // 2, 0), min(ch + (size - 1) // 2, c - 1)
        div[:, ch] = (x[:, lo:hi + 1] ** 2).sum(1)
    return x / (k + alpha * div / size) ** beta


def _pixel_shuffle(x, r):
    n, c, h, w = x.shape
    out = np.zeros((n, c // (r * r), h * r, w * r))
    for ch in range(c // (r * r)):
        for i in range(r):
            for j in range(r):
                out[:, ch, i::r, j::r] = x[:, ch * r * r + i * r + j]
    return out


def _pixel_unshuffle(x, r):
    n, c, h, w = x.shape
    out = np.zeros((n, c * r * r, h // r, w // r))
    for ch in range(c):
        for i in range(r):
            for j in range(r):
                out[:, ch * r * r + i * r + j] = x[:, ch, i::r, j::r]
    return out


def _channel_shuffle(x, groups):
    c = x.shape[1]
    order = [g * (c // groups) + k for k in range(c // groups) for g in range(groups)]
    return x[:, order]


def _nearest_positions(n_in, n_out, scale=None):
    # PyTorch's 'nearest': source floor(i * in / out), or floor(i / scale_factor) when a factor is given
    step = 1 / scale if scale else n_in / n_out
    return [min(int(math.floor(i * step)), n_in - 1) for i in range(n_out)]


def _linear_weights(n_in, n_out, align_corners, scale=None):
    """(low, high, weight of high) per output position: PyTorch's source position of each output sample."""
    rows = []
    for i in range(n_out):
        if align_corners:
            src = i * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            src = max((i + 0.5) * (1 / scale if scale else n_in / n_out) - 0.5, 0.0)
        low = min(int(math.floor(src)), n_in - 1)
        rows.append((low, min(low + 1, n_in - 1), min(src - low, 1.0)))
    return rows


def _interp_linear_1d(x, axis, n_out, align_corners, scale=None):
    n_in = x.shape[axis]
    if n_in == n_out:
        return x
    parts = []
    for low, high, lam in _linear_weights(n_in, n_out, align_corners, scale):
        parts.append((1 - lam) * np.take(x, [low], axis) + lam * np.take(x, [high], axis))
    return np.concatenate(parts, axis)


# -- deterministic functionals: value, gradients (eager and compiled, first and second order), compiled == eager
AWAY = np.concatenate([RNG.uniform(0.2, 2.0, 30), -RNG.uniform(0.2, 2.0, 30)])  # away from 0 and the threshold


def _away(*shape):
    return RNG.permutation(AWAY)[:int(np.prod(shape))].reshape(shape) + RNG.uniform(-0.05, 0.05, shape)


x3, x4 = RNG.standard_normal((3, 4, 5)), RNG.standard_normal((2, 4, 3, 3))
CASES = {
    # name: (graphgrad function of tensors, NumPy reference of arrays, inputs)
    "prelu shared": (F.prelu, _prelu, [_away(2, 3, 4), np.array([0.3])]),
    "prelu per channel": (F.prelu, _prelu, [_away(2, 3, 2, 2), np.array([0.1, -0.2, 0.7])]),
    "glu": (lambda x: F.glu(x, 1), lambda x: _glu(x, 1), [x3[:, :4]]),
    "glu last": (F.glu, lambda x: _glu(x, -1), [RNG.standard_normal((2, 3, 6))]),
    "softmin": (lambda x: F.softmin(x, 1), lambda x: _softmax(-x, 1), [x3]),
    "threshold": (lambda x: F.threshold(x, 0.1, 2.0), lambda x: np.where(x <= 0.1, 2.0, x), [_away(4, 5)]),
    "cosine_similarity": (F.cosine_similarity, lambda a, b: _cosine(a, b, 1, 1e-8), [x3, RNG.standard_normal((3, 4, 5))]),
    "cosine_similarity broadcast": (lambda a, b: F.cosine_similarity(a, b, dim=-1),
                                    lambda a, b: _cosine(a, b, -1, 1e-8),
                                    [RNG.standard_normal((3, 1, 4)), RNG.standard_normal((5, 4))]),
    "pairwise_distance": (F.pairwise_distance, lambda a, b: _pnorm(a - b + 1e-6, 2),
                          [RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))]),
    "pairwise_distance p=1 keepdim": (lambda a, b: F.pairwise_distance(a, b, 1.0, 0.0, True),
                                      lambda a, b: _pnorm(a - b, 1, keepdims=True), [_away(4, 3), _away(3)]),
    "pairwise_distance p=3": (lambda a, b: F.pairwise_distance(a, b, 3.0), lambda a, b: _pnorm(a - b + 1e-6, 3),
                              [RNG.standard_normal((2, 4, 3)), RNG.standard_normal((2, 4, 3))]),
    "pdist": (F.pdist, lambda x: _pdist(x, 2), [RNG.standard_normal((5, 3))]),
    "pdist p=1": (lambda x: F.pdist(x, 1), lambda x: _pdist(x, 1), [_away(4, 3)]),
    "pdist p=0.5": (lambda x: F.pdist(x, 0.5), lambda x: _pdist(x, 0.5), [_away(4, 3)]),
    "pdist p=3": (lambda x: F.pdist(x, 3), lambda x: _pdist(x, 3), [RNG.standard_normal((4, 2))]),
    "pdist p=inf": (lambda x: F.pdist(x, math.inf), lambda x: _pdist(x, math.inf), [_away(4, 3)]),
    "bilinear": (F.bilinear, _bilinear, [RNG.standard_normal((5, 3)), RNG.standard_normal((5, 2)),
                                         RNG.standard_normal((4, 3, 2)), RNG.standard_normal(4)]),
    "group_norm": (lambda x, w, b: F.group_norm(x, 2, w, b), lambda x, w, b: _group_norm(x, 2, w, b),
                   [x4, RNG.standard_normal(4), RNG.standard_normal(4)]),
    "group_norm one group": (lambda x, w, b: F.group_norm(x, 1, w, b), lambda x, w, b: _group_norm(x, 1, w, b),
                             [x3, RNG.standard_normal(4), RNG.standard_normal(4)]),
    "instance_norm": (lambda x, w, b: F.instance_norm(x, weight=w, bias=b), _instance_norm,
                      [x4, RNG.standard_normal(4), RNG.standard_normal(4)]),
    "instance_norm 1d": (F.instance_norm, _instance_norm, [x3]),
    "local_response_norm 3d": (lambda x: F.local_response_norm(x, 3, 0.5, 0.75, 1.5),
                               lambda x: _lrn(x, 3, 0.5, 0.75, 1.5), [x3]),
    "local_response_norm 4d": (lambda x: F.local_response_norm(x, 2, 1.0), lambda x: _lrn(x, 2, 1.0, 0.75, 1.0),
                               [x4]),
    "rrelu eval": (F.rrelu, lambda x: np.where(x > 0, x, x * (1 / 8 + 1 / 3) / 2), [_away(3, 4)]),
    "softmax2d": (nn.Softmax2d(), lambda x: _softmax(x, -3), [x4]),
    "channel_shuffle": (lambda x: F.channel_shuffle(x, 2), lambda x: _channel_shuffle(x, 2), [x4]),
    "pixel_shuffle": (lambda x: F.pixel_shuffle(x, 2), lambda x: _pixel_shuffle(x, 2), [RNG.standard_normal((2, 8, 2, 3))]),
    "pixel_unshuffle": (lambda x: F.pixel_unshuffle(x, 2), lambda x: _pixel_unshuffle(x, 2),
                        [RNG.standard_normal((2, 2, 4, 6))]),
    "interpolate nearest size": (lambda x: F.interpolate(x, size=(5, 2)),
                                 lambda x: x[:, :, _nearest_positions(3, 5)][:, :, :, _nearest_positions(3, 2)], [x4]),
    "interpolate nearest scale": (lambda x: F.interpolate(x, scale_factor=2.5),
                                  lambda x: x[:, :, _nearest_positions(5, 12, 2.5)], [x3]),
    "interpolate linear": (lambda x: F.interpolate(x, size=8, mode="linear"),
                           lambda x: _interp_linear_1d(x, 2, 8, False), [x3]),
    "interpolate linear align": (lambda x: F.interpolate(x, scale_factor=0.5, mode="linear", align_corners=True),
                                 lambda x: _interp_linear_1d(x, 2, 2, True), [x3]),
    "interpolate bilinear": (lambda x: F.interpolate(x, size=(4, 7), mode="bilinear"),
                             lambda x: _interp_linear_1d(_interp_linear_1d(x, 2, 4, False), 3, 7, False), [x4]),
    "interpolate bilinear align": (lambda x: F.interpolate(x, size=(2, 5), mode="bilinear", align_corners=True),
                                   lambda x: _interp_linear_1d(_interp_linear_1d(x, 2, 2, True), 3, 5, True), [x4]),
    "interpolate bilinear scale": (lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear"),
                                   lambda x: _interp_linear_1d(_interp_linear_1d(x, 2, 4, False, 1.5), 3, 4, False,
                                                               1.5), [x4]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_value_gradients_and_compiled(name, check_gradients):
    fn, reference, arrays = CASES[name]
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    got = fn(*[_t(a) for a in arrays])
    np.testing.assert_allclose(got.detach().numpy(), reference(*arrays), rtol=1e-10, atol=1e-12)
    weights = _t(RNG.standard_normal(tuple(got.shape)))  # every output element counts in the scalar

    def scalar(*xs):
        return (fn(*xs) * weights).sum()

    compiled = check_gradients(scalar, arrays)
    # compiled equals eager to rounding, value and gradients
    eager_inputs, compiled_inputs = [_t(a, True) for a in arrays], [_t(a, True) for a in arrays]
    scalar(*eager_inputs).backward()
    compiled(*compiled_inputs).backward()
    for e, c in zip(eager_inputs, compiled_inputs):
        np.testing.assert_allclose(c.grad.numpy(), e.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gg.compile(fn)(*[_t(a) for a in arrays]).numpy(), got.detach().numpy(),
                               rtol=1e-13, atol=1e-15)


def test_grad_fn_names_are_pytorchs():
    x = _t(RNG.standard_normal((2, 4, 2, 2)), True)
    assert F.prelu(x, _t([0.25], True)).grad_fn.name() == "PreluKernelBackward0"
    assert F.glu(x, 1).grad_fn.name() == "GluBackward0"
    assert F.threshold(x, 0.0, 1.0).grad_fn.name() == "ThresholdBackward0"
    assert F.group_norm(x, 2).grad_fn.name() == "NativeGroupNormBackward0"
    assert F.pixel_shuffle(x, 2).grad_fn.name() == "PixelShuffleBackward0"
    assert F.pixel_unshuffle(x, 2).grad_fn.name() == "PixelUnshuffleBackward0"
    assert F.channel_shuffle(x, 2).grad_fn.name() == "ChannelShuffleBackward0"
    assert F.interpolate(x, scale_factor=2).grad_fn.name() == "UpsampleNearest2DBackward0"
    assert F.interpolate(x, scale_factor=2, mode="bilinear").grad_fn.name() == "UpsampleBilinear2DBackward0"
    assert F.pdist(x[0, 0]).grad_fn.name() == "PdistBackward0"
    assert F.pairwise_distance(x[0], x[1]).grad_fn.name() == "NormBackward1"
    assert F.rrelu(x).grad_fn.name() == "RreluWithNoiseBackward0"


# -- the edges where PyTorch's gradient is its own choice ------------------------------------------------------
def test_cosine_similarity_clamps_each_norm_and_passes_the_norms_gradient():
    # ‖x1‖ < eps: x1 is divided by eps, but (PyTorch 2.x clamps the norm in place under no_grad) its gradient is
    # that of x1 / ‖x1‖_clamped with the clamp invisible: g/eps - (g·x1 / eps²) x1/‖x1‖
    x1, x2, eps = np.array([[1e-9, 2e-9, 0.0]]), np.array([[1.0, -1.0, 2.0]]), 1e-8
    a, b = _t(x1, True), _t(x2, True)
    out = F.cosine_similarity(a, b, eps=eps)
    out.backward()
    n1, n2 = np.linalg.norm(x1), np.linalg.norm(x2)
    np.testing.assert_allclose(out.item(), (x1 / eps * x2 / n2).sum(), rtol=1e-13)
    g = x2 / n2  # d out / d (x1 / c)
    expected = g / eps - (g * x1).sum() / eps ** 2 * x1 / n1
    np.testing.assert_allclose(a.grad.numpy(), expected, rtol=1e-10)
    small, other = RNG.standard_normal((4, 3)) * 0.1, RNG.standard_normal((4, 3))  # ‖small‖ < 0.5 = eps
    np.testing.assert_allclose(F.cosine_similarity(_t(small), _t(other), 1, 0.5).numpy(),
                               _cosine(small, other, 1, 0.5), rtol=1e-12)
    # a zero vector: similarity 0, gradient x2 / (‖x2‖ eps), not nan
    z = _t(np.zeros((1, 3)), True)
    out = F.cosine_similarity(z, b)
    out.backward()
    assert out.item() == 0.0
    np.testing.assert_allclose(z.grad.numpy(), x2 / (n2 * 1e-8), rtol=1e-12)


def test_pdist_gradients_at_zero_distances_and_ties_are_pytorchs():
    x = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0.0, 1.0, 1.0]])
    for p in (2.0, 3.0, 0.5, 1.0):
        t = _t(x, True)
        d = F.pdist(t, p)
        d.sum().backward()
        assert d[0].item() == 0.0
        assert np.isfinite(t.grad.numpy()).all()
        # the zero distance (rows 0 and 1) passes nothing: the gradient is that of the other two pairs
        np.testing.assert_allclose(t.grad.numpy()[0], t.grad.numpy()[1], rtol=1e-12)
    # p = 0 counts differing coordinates, with a zero gradient
    t = _t(x, True)
    F.pdist(t, 0).sum().backward()
    assert F.pdist(t, 0).tolist() == [0.0, 3.0, 3.0] and not t.grad.numpy().any()
    # p = inf: each coordinate tying for the maximum gets the whole gradient (PyTorch's pdist backward)
    t = _t([[0.0, 0.0], [2.0, -2.0]], True)
    F.pdist(t, math.inf).backward()
    np.testing.assert_array_equal(t.grad.numpy(), [[-1.0, 1.0], [1.0, -1.0]])


def test_prelu_threshold_rrelu_at_their_kinks():
    x = _t([0.0, float("nan"), 0.5], True)
    np.testing.assert_array_equal(F.threshold(x, 0.5, 7.0).detach().numpy(), [7.0, np.nan, 7.0])
    x = _t([0.0, -1.0, 1.0], True)
    w = _t([0.3], True)
    F.prelu(x, w).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.3, 0.3, 1.0])  # at 0: the slope, as PyTorch's
    np.testing.assert_allclose(w.grad.numpy(), [-1.0])


# -- random ones ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn,shape,channel_axes", [
    (F.dropout1d, (16, 32, 5), 2), (F.dropout2d, (16, 32, 3, 3), 2), (F.dropout1d, (64, 7), 1),
])
def test_channel_dropout_zeroes_whole_channels(fn, shape, channel_axes):
    gg.manual_seed(0)
    x = _t(RNG.uniform(1.0, 2.0, shape), True)
    out = fn(x, 0.3)
    ratio = out.detach().numpy() / x.detach().numpy()
    per_channel = ratio.reshape(ratio.shape[:channel_axes] + (-1,))
    # each channel is all dropped or all kept (scaled by 1/(1-p))
    assert np.all((per_channel == 0).all(-1) | np.isclose(per_channel, 1 / 0.7, rtol=1e-15).all(-1))
    dropped = (per_channel == 0).all(-1).mean()
    assert 0.2 < dropped < 0.4
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), ratio, rtol=1e-15)  # the gradient is the mask
    assert fn(x, 0.3, training=False) is x and fn(x, 0.0) is x
    assert not fn(x, 1.0).detach().numpy().any()


def test_dropout_masks_are_fresh_and_the_seed_s_compiled():
    x = _t(np.ones((8, 16, 2, 2)))
    compiled = gg.compile(lambda t: F.dropout2d(t, 0.5))
    gg.manual_seed(3)
    eager = F.dropout2d(x, 0.5).numpy()
    gg.manual_seed(3)
    first = compiled(x).numpy()
    np.testing.assert_array_equal(first, eager)  # the same draws from the same seed
    assert not np.array_equal(compiled(x).numpy(), first)  # a new mask at every call
    assert set(np.unique(first)) == {0.0, 2.0}


def test_alpha_dropout_keeps_zero_mean_and_unit_variance():
    gg.manual_seed(1)
    p, alpha = 0.2, 1.7580993408473766
    x = RNG.standard_normal(200_000)
    out = F.alpha_dropout(_t(x), p, training=True).numpy()
    a = 1 / math.sqrt((alpha ** 2 * p + 1) * (1 - p))
    kept = np.isclose(out, a * x + alpha * a * p, rtol=1e-12)
    dropped = np.isclose(out, alpha * a * (p - 1), rtol=1e-12)
    assert np.all(kept | dropped) and abs(dropped.mean() - p) < 0.01
    assert abs(out.mean()) < 0.01 and abs(out.std() - 1) < 0.01
    t = _t(x[:10])
    assert F.alpha_dropout(t, p) is t  # training=False by default, as PyTorch's
    assert nn.AlphaDropout(p).eval()(t) is t


def test_rrelu_draws_slopes_while_training_and_is_deterministic_in_eval():
    gg.manual_seed(2)
    x = _t(-RNG.uniform(0.5, 1.0, 10_000), True)
    out = F.rrelu(x, 0.1, 0.3, training=True)
    slopes = out.detach().numpy() / x.detach().numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and abs(slopes.mean() - 0.2) < 0.005
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), slopes, rtol=1e-12)
    positive = _t([1.0, 2.0])
    np.testing.assert_array_equal(F.rrelu(positive, training=True).numpy(), [1.0, 2.0])
    module = nn.RReLU(0.1, 0.3).eval()
    np.testing.assert_allclose(module(x).detach().numpy(), x.detach().numpy() * 0.2, rtol=1e-15)
    np.testing.assert_array_equal(gg.compile(module)(x).detach().numpy(), module(x).detach().numpy())


def test_gumbel_softmax_samples_the_softmax_and_hard_passes_the_soft_gradient():
    logits = np.log(np.array([0.5, 0.3, 0.2]))
    gg.manual_seed(5)
    y = F.gumbel_softmax(_t(np.tile(logits, (40_000, 1))), tau=0.5).numpy()
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-12)
    # the Gumbel-max trick: the argmax is distributed as softmax(logits)
    np.testing.assert_allclose(np.bincount(y.argmax(-1), minlength=3) / len(y), [0.5, 0.3, 0.2], atol=0.01)
    w = _t(RNG.standard_normal((6, 3)))
    grads = []
    for hard in (False, True):
        x = _t(RNG.standard_normal((6, 3)) if not grads else base, True)
        base = x.detach().numpy()
        gg.manual_seed(9)
        out = F.gumbel_softmax(x, hard=hard, dim=1)
        (out * w).sum().backward()
        grads.append(x.grad.numpy())
        if hard:  # one-hot at the soft sample's maximum
            np.testing.assert_array_equal(out.detach().numpy(), np.eye(3)[soft.argmax(1)])
        soft = out.detach().numpy()
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated and has no effect."):
        F.gumbel_softmax(_t(logits), eps=1e-3)


# -- modules --------------------------------------------------------------------------------------------------
def test_module_reprs_and_state_dicts_are_pytorchs():
    expected = {
        nn.PReLU(): ("PReLU(num_parameters=1)", ["weight"]),
        nn.PReLU(3, 0.1): ("PReLU(num_parameters=3)", ["weight"]),
        nn.GLU(): ("GLU(dim=-1)", []),
        nn.Softmin(1): ("Softmin(dim=1)", []),
        nn.Threshold(0.1, 20.0): ("Threshold(threshold=0.1, value=20.0)", []),
        nn.CosineSimilarity(): ("CosineSimilarity()", []),
        nn.PairwiseDistance(): ("PairwiseDistance()", []),
        nn.Bilinear(2, 3, 4): ("Bilinear(in1_features=2, in2_features=3, out_features=4, bias=True)",
                               ["weight", "bias"]),
        nn.GroupNorm(2, 4): ("GroupNorm(2, 4, eps=1e-05, affine=True, bias=True)", ["weight", "bias"]),
        nn.InstanceNorm1d(3): ("InstanceNorm1d(3, eps=1e-05, momentum=0.1, affine=False, bias=False, "
                               "track_running_stats=False)", []),
        nn.InstanceNorm2d(3, affine=True, track_running_stats=True): (
            "InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)",
            ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]),
        nn.LocalResponseNorm(3): ("LocalResponseNorm(3, alpha=0.0001, beta=0.75, k=1.0)", []),
        nn.Dropout1d(): ("Dropout1d(p=0.5, inplace=False)", []),
        nn.Dropout2d(0.2): ("Dropout2d(p=0.2, inplace=False)", []),
        nn.AlphaDropout(): ("AlphaDropout(p=0.5, inplace=False)", []),
        nn.RReLU(): ("RReLU(lower=0.125, upper=0.3333333333333333)", []),
        nn.Softmax2d(): ("Softmax2d()", []),
        nn.ChannelShuffle(2): ("ChannelShuffle(groups=2)", []),
        nn.PixelShuffle(2): ("PixelShuffle(upscale_factor=2)", []),
        nn.PixelUnshuffle(2): ("PixelUnshuffle(downscale_factor=2)", []),
        nn.Upsample(scale_factor=2): ("Upsample(scale_factor=2.0, mode='nearest')", []),
        nn.Upsample(size=(3, 4), mode="bilinear", align_corners=True): ("Upsample(size=(3, 4), mode='bilinear')", []),
        nn.UpsamplingNearest2d(scale_factor=2): ("UpsamplingNearest2d(scale_factor=2.0, mode='nearest')", []),
        nn.UpsamplingBilinear2d(size=3): ("UpsamplingBilinear2d(size=3, mode='bilinear')", []),
    }
    for module, (text, keys) in expected.items():
        assert repr(module) == text
        assert list(module.state_dict()) == keys, text
    assert not isinstance(nn.Dropout2d(), nn.Dropout)  # as in PyTorch: separate classes


def test_parameter_initialisation_is_pytorchs():
    np.testing.assert_array_equal(nn.PReLU().weight.detach().numpy(), [0.25])
    np.testing.assert_array_equal(nn.PReLU(3, init=-0.1).weight.detach().numpy(), np.float32([-0.1] * 3))
    gg.manual_seed(0)
    layer = nn.Bilinear(16, 3, 50)
    bound = 1 / math.sqrt(16)  # 1/sqrt(in1_features), not of in1 * in2
    for p in (layer.weight, layer.bias):
        values = p.detach().numpy()
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.9 * bound
    assert abs(layer.weight.detach().numpy().std() - bound / math.sqrt(3)) < 0.01  # uniform's std
    assert nn.Bilinear(2, 3, 4, bias=False).bias is None
    gn = nn.GroupNorm(2, 4)
    assert gn.weight.tolist() == [1.0] * 4 and gn.bias.tolist() == [0.0] * 4
    assert nn.GroupNorm(2, 4, affine=False).weight is None


def test_parameterized_modules_compiled_match_eager(assert_compiled_matches_eager):
    model = nn.Sequential(nn.PReLU(4), nn.GroupNorm(2, 4), nn.InstanceNorm1d(4, affine=True),
                          nn.Upsample(scale_factor=1.5, mode="linear"), nn.GLU(1), nn.Softmin(2)).double()
    bilinear = nn.Bilinear(3, 2, 4).double()
    with gg.no_grad():
        for p in model.parameters():
            p.add_(_t(RNG.standard_normal(tuple(p.shape))) * 0.3)
    x = _t(RNG.standard_normal((3, 4, 6)))
    compiled = assert_compiled_matches_eager(model, lambda t: (model(t) ** 2).sum(), x)
    np.testing.assert_allclose(compiled(x).item(), (model(x) ** 2).sum().item(), rtol=1e-13)
    a, b = _t(RNG.standard_normal((5, 3))), _t(RNG.standard_normal((5, 2)))
    assert_compiled_matches_eager(bilinear, lambda u, v: (bilinear(u, v) ** 2).sum(), a, b)
    expected = _bilinear(a.numpy(), b.numpy(), bilinear.weight.detach().numpy(), bilinear.bias.detach().numpy())
    np.testing.assert_allclose(bilinear(a, b).detach().numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("compiled", [False, True])
def test_instance_norm_running_statistics(compiled):
    norm = nn.InstanceNorm2d(3, momentum=0.3, track_running_stats=True).double()
    step = gg.compile(lambda t: norm(t)) if compiled else norm
    mean, var = np.zeros(3), np.ones(3)
    for k in range(3):
        x = RNG.standard_normal((4, 3, 2, 5)) * (k + 1) + k
        np.testing.assert_allclose(step(_t(x)).numpy(), _instance_norm(x), rtol=1e-10, atol=1e-12)
        # PyTorch's: toward the batch average of the samples' means and unbiased variances
        mean = 0.7 * mean + 0.3 * x.mean((2, 3)).mean(0)
        var = 0.7 * var + 0.3 * x.var((2, 3), ddof=1).mean(0)
        np.testing.assert_allclose(norm.running_mean.numpy(), mean, rtol=1e-12)
        np.testing.assert_allclose(norm.running_var.numpy(), var, rtol=1e-12)
    assert norm.num_batches_tracked.item() == 0  # registered, never counted, as PyTorch's
    norm.eval()
    x = RNG.standard_normal((2, 3, 2, 2))
    expected = (x - mean.reshape(1, 3, 1, 1)) / np.sqrt(var.reshape(1, 3, 1, 1) + 1e-5)
    np.testing.assert_allclose(norm(_t(x)).numpy(), expected, rtol=1e-10)
    # an untracked one normalizes by the input's statistics in eval too
    plain = nn.InstanceNorm2d(3).eval()
    np.testing.assert_allclose(plain(_t(x)).numpy(), _instance_norm(x), rtol=1e-10, atol=1e-12)


def test_instance_norm_unbatched_input_and_feature_checks():
    x = RNG.standard_normal((3, 5))
    np.testing.assert_allclose(nn.InstanceNorm1d(3)(_t(x)).numpy(), _instance_norm(x[None])[0], rtol=1e-10)
    with pytest.warns(UserWarning, match="input's size at dim=1 does not match num_features"):
        nn.InstanceNorm1d(4)(_t(RNG.standard_normal((2, 3, 5))))
    with pytest.raises(ValueError, match=r"^expected input's size at dim=1 to match num_features \(4\), but got: 3\.$"):
        nn.InstanceNorm1d(4, affine=True)(_t(RNG.standard_normal((2, 3, 5))))


def test_upsample_modules_apply_interpolate():
    x = _t(RNG.standard_normal((1, 2, 3, 4)))
    np.testing.assert_array_equal(nn.Upsample(scale_factor=2)(x).numpy(), np.repeat(np.repeat(x.numpy(), 2, 2), 2, 3))
    np.testing.assert_allclose(nn.UpsamplingBilinear2d(size=(5, 7))(x).numpy(),
                               _interp_linear_1d(_interp_linear_1d(x.numpy(), 2, 5, True), 3, 7, True), rtol=1e-12)
    np.testing.assert_array_equal(nn.UpsamplingNearest2d(size=(6, 8))(x).numpy(),
                                  nn.Upsample(scale_factor=2)(x).numpy())
    # nearest-exact: source floor((i + 0.5) * in / out)
    y = F.interpolate(_t(np.arange(4.0).reshape(1, 1, 4)), size=3, mode="nearest-exact")
    assert y.flatten().tolist() == [0.0, 2.0, 3.0]
    # area (4-D) averages blocks
    np.testing.assert_allclose(F.interpolate(x, size=(1, 2), mode="area").numpy(),
                               x.numpy().reshape(1, 2, 1, 3, 2, 2).mean((3, 5)), rtol=1e-12)


def test_interpolate_nearest_follows_pytorch_s_cpu_kernels():
    # 'nearest' with a scale factor: samples 1/scale apart, floor(i / 1.3), even when the size stays (1-D kernel);
    # the 2-D kernel copies then, and repeats each sample when the size doubles
    x = _t(np.arange(3.0).reshape(1, 1, 3))
    assert F.interpolate(x, scale_factor=1.3).flatten().tolist() == [0.0, 0.0, 1.0]
    assert F.interpolate(x.reshape(1, 1, 1, 3), scale_factor=1.3).flatten().tolist() == [0.0, 1.0, 2.0]
    two = _t(np.arange(2.0))
    assert F.interpolate(two.reshape(1, 1, 2), scale_factor=7 / 3).flatten().tolist() == [0.0, 0.0, 0.0, 1.0]
    assert F.interpolate(two.reshape(1, 1, 1, 2), scale_factor=7 / 3)[0, 0, 0].tolist() == [0.0, 0.0, 1.0, 1.0]
    # linear: the same size is a copy, whatever the factor
    assert F.interpolate(x, scale_factor=1.3, mode="linear").flatten().tolist() == [0.0, 1.0, 2.0]
    # recompute_scale_factor: positions from the sizes, in / out apart
    assert F.interpolate(x, scale_factor=1.7, recompute_scale_factor=True).flatten().tolist() == [0.0, 0.0, 1.0,
                                                                                                    1.0, 2.0]


def test_functionals_run_on_the_device_as_on_the_cpu(cupy_device):
    x = RNG.standard_normal((2, 4, 3, 3))
    fns = [lambda t: F.interpolate(t, scale_factor=1.5, mode="bilinear"), lambda t: F.interpolate(t, size=(2, 5)),
           lambda t: F.group_norm(t, 2), lambda t: F.pixel_shuffle(t, 2), lambda t: F.local_response_norm(t, 3),
           lambda t: F.cosine_similarity(t, t.flip(1)), lambda t: F.prelu(t, gg.tensor([0.1, 0.2, 0.3, 0.4],
                                                                                        device=t.device).double())]
    for fn in fns:
        results = []
        for device in ("cpu", "cuda"):
            t = gg.tensor(x, device=device, requires_grad=True)
            out = fn(t)
            (out * out).sum().backward()
            assert out.is_cuda == (device == "cuda")
            results.append((out.detach().cpu().numpy(), t.grad.cpu().numpy()))
            for fuse in (True, False):  # compiled, its elementwise chains fused into kernels or not
                compiled = gg.compile(lambda u: (fn(u) * fn(u)).sum(), fuse=fuse)
                u = gg.tensor(x, device=device, requires_grad=True)
                compiled(u).backward()
                results[-1] += (u.grad.cpu().numpy(),)
        for cpu, dev in zip(*results):
            np.testing.assert_allclose(dev, cpu, rtol=1e-12, atol=1e-14)
    masks = []
    for device in ("cpu", "cuda"):
        gg.manual_seed(4)
        masks.append(F.dropout2d(gg.ones(4, 8, 2, 2, device=device)).cpu().numpy())
        gg.manual_seed(4)
        masks.append(gg.compile(F.dropout2d)(gg.ones(4, 8, 2, 2, device=device)).cpu().numpy())
    for mask in masks[1:]:
        np.testing.assert_array_equal(mask, masks[0])


# -- PyTorch's errors -----------------------------------------------------------------------------------------
def _x(*shape):
    return gg.zeros(*shape)


ERRORS = [
    (lambda: F.prelu(_x(2, 3, 4), gg.ones(2)), RuntimeError,
     "Mismatch of parameter numbers and input channel size. Found parameter numbers = 2 and channel size = 3."),
    (lambda: F.prelu(_x(3), gg.ones(3)), RuntimeError,
     "Mismatch of parameter numbers and input channel size. Found parameter numbers = 3 and channel size = 1."),
    (lambda: F.prelu(_x(2, 3), gg.ones(3, 1)), RuntimeError,
     "prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = 2"),
    (lambda: F.glu(_x(2, 3), 1), RuntimeError, "Halving dimension must be even, but dimension 1 is size 3"),
    (lambda: F.glu(_x(2, 4), 2), IndexError, "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    (lambda: F.group_norm(_x(2, 5, 3), 2), RuntimeError, "Expected number of channels in input to be divisible by "
     "num_groups, but got input of shape [2, 5, 3] and num_groups=2"),
    (lambda: F.group_norm(_x(1, 2), 2), ValueError,
     "Expected more than 1 value per channel when training, got input size [1, 2]"),
    (lambda: F.group_norm(_x(2, 4, 3), 2, gg.ones(3)), RuntimeError, "Expected weight to be a vector of size equal to "
     "the number of channels in input, but got weight of shape [3] and input of shape [2, 4, 3]"),
    (lambda: nn.GroupNorm(2, 5), ValueError, "num_channels (5) must be divisible by num_groups (2)"),
    (lambda: F.instance_norm(_x(2, 3, 1)), ValueError,
     "Expected more than 1 spatial element when training, got input size torch.Size([2, 3, 1])"),
    (lambda: nn.InstanceNorm1d(3)(_x(2, 3, 4, 5)), ValueError, "expected 2D or 3D input (got 4D input)"),
    (lambda: nn.InstanceNorm2d(3)(_x(2, 3)), ValueError, "expected 3D or 4D input (got 2D input)"),
    (lambda: F.local_response_norm(_x(2, 3), 2), ValueError,
     "Expected 3D or higher dimensionality                          input (got 2 dimensions)"),
    (lambda: F.dropout1d(_x(2, 3, 4, 5)), RuntimeError, "dropout1d: Expected 2D or 3D input, but received a 4D input. "
     "Note that dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, a channel "
     "dimension, and an optional batch dimension (i.e. 2D or 3D inputs)."),
    (lambda: F.dropout2d(_x(3)), RuntimeError, "Feature dropout requires at least 2 dimensions in the input"),
    (lambda: nn.Dropout2d(1.5), ValueError, "dropout probability has to be between 0 and 1, but got 1.5"),
    (lambda: F.alpha_dropout(_x(3), -0.1), ValueError, "dropout probability has to be between 0 and 1, but got -0.1"),
    (lambda: F.rrelu(_x(3), 0.3, 0.1), RuntimeError, "Lower bound should be less than or equal to the upper bound"),
    (lambda: nn.Softmax2d()(_x(2, 3)), ValueError, "Softmax2d: expected input to be 3D or 4D, got 2D instead"),
    (lambda: F.cosine_similarity(_x(2, 3), _x(2, 4)), RuntimeError,
     "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1"),
    (lambda: F.pdist(_x(2, 3, 4)), RuntimeError, "pdist only supports 2D tensors, got: 3D"),
    (lambda: F.pdist(_x(2, 3), -1), RuntimeError, "pdist only supports non-negative p values"),
    (lambda: F.bilinear(_x(2, 3), _x(2, 4), _x(5, 3, 3)), RuntimeError,
     "bilinear(): input2 size does not match weight size: got 4 but expected 3"),
    (lambda: F.bilinear(_x(2, 3), _x(3, 4), _x(5, 3, 4)), RuntimeError,
     "bilinear(): input batch dimensions do not match: got 2 and 3"),
    (lambda: F.bilinear(_x(2, 3), _x(2, 4), _x(5, 3, 4), _x(4)), RuntimeError,
     "bilinear(): bias size does not match weight size: got 4 but expected 5"),
    (lambda: nn.Bilinear(0, 2, 3), ValueError, "in1_features must be > 0, but got (in1_features=0)"),
    (lambda: F.channel_shuffle(_x(2, 5, 3), 2), RuntimeError,
     "Number of channels must be divisible by groups. Got 5 channels and 2 groups."),
    (lambda: F.channel_shuffle(_x(2, 4, 3), 0), RuntimeError,
     "Number of groups to divide channels in must be positive. Value of groups:0"),
    (lambda: F.channel_shuffle(_x(2, 4), 2), RuntimeError,
     "channel_shuffle expects input with > 2 dims, but got input with sizes [2, 4]"),
    (lambda: F.pixel_shuffle(_x(2, 5, 3, 3), 2), RuntimeError, "pixel_shuffle expects its input's 'channel' dimension "
     "to be divisible by the square of upscale_factor, but input.size(-3)=5 is not divisible by 4"),
    (lambda: F.pixel_shuffle(_x(4, 3), 2), RuntimeError,
     "pixel_shuffle expects input to have at least 3 dimensions, but got input with 2 dimension(s)"),
    (lambda: F.pixel_shuffle(_x(2, 4, 3, 3), 0), RuntimeError, "pixel_shuffle expects a positive upscale_factor, but got 0"),
    (lambda: F.pixel_unshuffle(_x(2, 5, 3, 4), 2), RuntimeError, "pixel_unshuffle expects height to be divisible by "
     "downscale_factor, but input.size(-2)=3 is not divisible by 2"),
    (lambda: F.pixel_unshuffle(_x(2, 5, 4, 3), 2), RuntimeError, "pixel_unshuffle expects width to be divisible by "
     "downscale_factor, but input.size(-1)=3 is not divisible by 2"),
    (lambda: F.interpolate(_x(2, 3, 4), scale_factor=2, align_corners=False), ValueError,
     "align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | trilinear"),
    (lambda: F.interpolate(_x(2, 3, 4), size=3, scale_factor=2), ValueError,
     "only one of size or scale_factor should be defined"),
    (lambda: F.interpolate(_x(2, 3, 4)), ValueError, "either size or scale_factor should be defined"),
    (lambda: F.interpolate(_x(2, 3, 4), size=(3, 4)), ValueError, "Input and output must have the same number of "
     "spatial dimensions, but got input with spatial dimensions of [4] and output size of (3, 4). Please provide "
     "input tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) format."),
    (lambda: F.interpolate(_x(2, 3, 4), size=3, recompute_scale_factor=True), ValueError,
     "recompute_scale_factor is not meaningful with an explicit size."),
    (lambda: F.interpolate(_x(2, 3, 4), size=3, mode="bilinear"), NotImplementedError,
     "Got 3D input, but bilinear mode needs 4D input"),
    (lambda: F.interpolate(_x(2, 3, 4), size=3, mode="bicubic"), NotImplementedError, "Input Error: Only 3D, 4D and "
     "5D input Tensors supported (got 3D) for the modes: nearest | linear | bilinear | bicubic | trilinear | lanczos | "
     "area | nearest-exact (got bicubic)"),
    (lambda: F.interpolate(_x(2, 2), size=3), NotImplementedError, "Input Error: Only 3D, 4D and 5D input Tensors "
     "supported (got 2D) for the modes: nearest | linear | bilinear | bicubic | trilinear | lanczos | area | "
     "nearest-exact (got nearest)"),
    (lambda: F.interpolate(_x(2, 3, 4), scale_factor=0.1), RuntimeError,
     "Input and output sizes should be greater than 0, but got input (W: 4) and output (W: 0)"),
    (lambda: F.interpolate(_x(1, 1, 2, 2), size=(0, 1)), RuntimeError,
     "Input and output sizes should be greater than 0, but got input (H: 2, W: 2) output (H: 0, W: 1)"),
]


@pytest.mark.parametrize("index", range(len(ERRORS)))
def test_errors_are_pytorchs(index):
    call, kind, message = ERRORS[index]
    with pytest.raises(kind) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (dropout2d warns about a 1-D input before refusing it)
        call()
    assert str(info.value).strip("'\"") == message


def test_warnings_are_pytorchs():
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin has been deprecated"):
        F.softmin(_x(2, 3))
    with pytest.warns(UserWarning, match="dropout2d: Received a 3D input to dropout2d"):
        F.dropout2d(_x(2, 3, 4))
    with pytest.warns(UserWarning, match="dropout2d: Received a 2-D input to dropout2d, which is deprecated"):
        F.dropout2d(_x(2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.dropout2d(_x(2, 3, 4, 4))
        F.softmin(_x(2, 3), 1)


def _cubic_reference(row: np.ndarray, out_size: int, align_corners: bool, scale=None) -> np.ndarray:
    """One row resampled by Keys' cubic convolution (A = -0.75), one output at a time, from the formulas of
    PyTorch's upsample_bicubic2d: source position (not clamped), taps one before to two after, clamped to the row."""
    size, a = len(row), -0.75
    out = np.empty(out_size)
    for i in range(out_size):
        if align_corners:
            source = i * (size - 1) / (out_size - 1) if out_size > 1 else 0.0
        else:
            source = (i + 0.5) * (1 / scale if scale else size / out_size) - 0.5
        low = math.floor(source)
        total = 0.0
        for k in range(-1, 3):
            d = abs(source - (low + k))
            weight = (((a + 2) * d - (a + 3)) * d * d + 1 if d <= 1 else ((a * d - 5 * a) * d + 8 * a) * d - 4 * a)
            total += weight * row[min(max(low + k, 0), size - 1)]
        out[i] = total
    return out


@pytest.mark.parametrize("run", [lambda f, *a: f(*a), lambda f, *a: gg.compile(f)(*a)], ids=["eager", "compiled"])
def test_bicubic_interpolation_is_cubic_convolution_along_each_axis(run):
    rng = np.random.default_rng(5)
    image = rng.standard_normal((2, 3, 4, 5))
    for size, align_corners in (((7, 9), False), ((7, 9), True), ((3, 2), False), ((4, 5), False)):
        got = run(lambda x: F.interpolate(x, size=size, mode="bicubic", align_corners=align_corners),
                  gg.tensor(image)).numpy()
        # separable: each row, then each column of the rows' result
        rows = np.apply_along_axis(_cubic_reference, 3, image, size[1], align_corners)
        want = np.apply_along_axis(_cubic_reference, 2, rows, size[0], align_corners)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    got = F.interpolate(gg.tensor(image), scale_factor=1.7, mode="bicubic").numpy()  # positions 1 / 1.7 apart
    rows = np.apply_along_axis(_cubic_reference, 3, image, 8, False, 1.7)
    np.testing.assert_allclose(got, np.apply_along_axis(_cubic_reference, 2, rows, 6, False, 1.7), atol=1e-12)
    # Keys' kernel reproduces a straight line away from the edges (where the clamped taps bend it)
    ramp = gg.arange(8.0, dtype=gg.float64).expand(1, 1, 3, 8)
    line = F.interpolate(ramp, size=(3, 15), mode="bicubic", align_corners=True).numpy()[0, 0, 1]
    np.testing.assert_allclose(line[2:-2], np.arange(15)[2:-2] / 2, atol=1e-12)
    assert nn.Upsample(scale_factor=2, mode="bicubic")(gg.ones(1, 1, 2, 2)).grad_fn is None
    x = gg.ones(1, 1, 2, 2, requires_grad=True)
    assert F.interpolate(x, scale_factor=2, mode="bicubic").grad_fn.name() == "UpsampleBicubic2DBackward0"


def test_bicubic_gradients():
    from _gradcheck import check_gradients

    rng = np.random.default_rng(6)
    weights = rng.standard_normal((1, 2, 5, 7))
    check_gradients(lambda x: (F.interpolate(x, size=(5, 7), mode="bicubic", align_corners=False)
                               * gg.tensor(weights)).sum(), [rng.standard_normal((1, 2, 3, 4))])
