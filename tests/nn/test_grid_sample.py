"""F.grid_sample and F.affine_grid (PyTorch's spatial transformer pair), eager and compiled: values against a
per-point reference written from PyTorch's documented formulas, closed forms, gradients by finite differences
(first and second order), and PyTorch 2.13's errors and warnings (the tests do not import torch)."""
import math
import warnings

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn.functional as F
from _gradcheck import check_gradients

EAGER_AND_COMPILED = pytest.mark.parametrize("run", [lambda f, *a: f(*a), lambda f, *a: gg.compile(f)(*a)],
                                             ids=["eager", "compiled"])


# -- a reference, one point at a time, from the formulas of PyTorch's grid_sample documentation and kernels ----

def _unnormalize(c, size, align_corners):
    return (c + 1) / 2 * (size - 1) if align_corners else ((c + 1) * size - 1) / 2


def _reflect(c, twice_low, twice_high):
    if twice_low == twice_high:
        return 0.0
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    c = abs(c - low)
    extra, flips = math.fmod(c, span), math.floor(c / span)
    return extra + low if flips % 2 == 0 else span - extra + low


def _coordinate(c, size, padding, align_corners):
    if padding == "border":
        return min(size - 1, max(c, 0))
    if padding == "reflection":
        c = _reflect(c, 0, 2 * (size - 1)) if align_corners else _reflect(c, -1, 2 * size - 1)
        return min(size - 1, max(c, 0))
    return c


def _cubic(t):
    a = -0.75
    near = lambda s: ((a + 2) * s - (a + 3)) * s * s + 1  # noqa: E731
    far = lambda s: ((a * s - 5 * a) * s + 8 * a) * s - 4 * a  # noqa: E731
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def reference(image, grid, mode, padding, align_corners):
    n, c, h, w = image.shape
    out = np.zeros((n, c) + grid.shape[1:3])

    def pixel(b, xi, yi):
        return image[b, :, yi, xi] if 0 <= xi < w and 0 <= yi < h else np.zeros(c)

    for b in range(n):
        for i in range(grid.shape[1]):
            for j in range(grid.shape[2]):
                x = _unnormalize(grid[b, i, j, 0], w, align_corners)
                y = _unnormalize(grid[b, i, j, 1], h, align_corners)
                if mode == "bicubic":
                    x0, y0 = math.floor(x), math.floor(y)
                    wx, wy = _cubic(x - x0), _cubic(y - y0)
                    for p in range(4):
                        for q in range(4):
                            xi = _coordinate(x0 - 1 + q, w, padding, align_corners)
                            yi = _coordinate(y0 - 1 + p, h, padding, align_corners)
                            out[b, :, i, j] += pixel(b, int(xi), int(yi)) * wx[q] * wy[p]
                    continue
                x, y = _coordinate(x, w, padding, align_corners), _coordinate(y, h, padding, align_corners)
                if mode == "nearest":
                    out[b, :, i, j] = pixel(b, int(np.round(x)), int(np.round(y)))
                    continue
                x0, y0 = math.floor(x), math.floor(y)
                for xi, yi, weight in ((x0, y0, (x0 + 1 - x) * (y0 + 1 - y)), (x0 + 1, y0, (x - x0) * (y0 + 1 - y)),
                                       (x0, y0 + 1, (x0 + 1 - x) * (y - y0)), (x0 + 1, y0 + 1, (x - x0) * (y - y0))):
                    out[b, :, i, j] += pixel(b, xi, yi) * weight
    return out


MODES = ["bilinear", "nearest", "bicubic"]
PADDINGS = ["zeros", "border", "reflection"]


@EAGER_AND_COMPILED
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("align_corners", [False, True])
def test_values_are_the_reference_s(run, mode, padding, align_corners):
    rng = np.random.default_rng(0)
    for h, w in ((4, 5), (1, 3)):  # (a single row: reflection's span is 0 with align_corners)
        image = rng.standard_normal((2, 3, h, w))
        grid = rng.uniform(-1.7, 1.7, (2, 3, 4, 2))  # points inside and outside the image
        got = run(lambda x, g: F.grid_sample(x, g, mode, padding, align_corners), gg.tensor(image), gg.tensor(grid))
        np.testing.assert_allclose(got.numpy(), reference(image, grid, mode, padding, align_corners), rtol=1e-12,
                                   atol=1e-12)


@EAGER_AND_COMPILED
def test_float32_in_float32_out(run):
    image = gg.randn(1, 2, 3, 3)
    grid = gg.rand(1, 2, 2, 2) * 2 - 1
    out = run(lambda x, g: F.grid_sample(x, g, align_corners=False), image, grid)
    assert out.dtype == gg.float32 and out.shape == (1, 2, 2, 2)
    np.testing.assert_allclose(out.numpy(), reference(image.numpy().astype(np.float64),
                                                      grid.numpy().astype(np.float64), "bilinear", "zeros", False),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("align_corners", [False, True])
def test_the_identity_transform_samples_every_pixel_at_its_centre(align_corners):
    image = gg.randn(2, 3, 5, 7, dtype=gg.float64)
    grid = F.affine_grid(gg.tensor([[[1.0, 0, 0], [0, 1, 0]]] * 2, dtype=gg.float64), image.shape,
                         align_corners=align_corners)
    for mode in MODES:
        np.testing.assert_allclose(F.grid_sample(image, grid, mode, align_corners=align_corners).numpy(),
                                   image.numpy(), atol=1e-12)


def test_a_shift_by_one_pixel_moves_the_image_and_pads_as_asked():
    image = gg.arange(12.0, dtype=gg.float64).reshape(1, 1, 3, 4)
    shift = gg.tensor([[[1.0, 0, 0.5], [0, 1, 0]]], dtype=gg.float64)  # x + 0.5: one pixel of four to the right
    grid = F.affine_grid(shift, (1, 1, 3, 4), align_corners=False)
    rows = image.numpy()[0, 0]
    zeros = F.grid_sample(image, grid, padding_mode="zeros", align_corners=False).numpy()[0, 0]
    np.testing.assert_allclose(zeros, np.c_[rows[:, 1:], np.zeros(3)], atol=1e-12)
    border = F.grid_sample(image, grid, padding_mode="border", align_corners=False).numpy()[0, 0]
    np.testing.assert_allclose(border, np.c_[rows[:, 1:], rows[:, -1]], atol=1e-12)
    # mirrored at the image's outer edge: the pixel past the last is the last
    reflected = F.grid_sample(image, grid, padding_mode="reflection", align_corners=False).numpy()[0, 0]
    np.testing.assert_allclose(reflected, np.c_[rows[:, 1:], rows[:, -1]], atol=1e-12)


def test_bilinear_averages_the_four_neighbours_at_their_middle():
    image = gg.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    out = F.grid_sample(image, gg.tensor([[[[0.0, 0.0], [1.0, -1.0], [-1.0, 1.0]]]]), align_corners=True)
    assert out.tolist() == [[[[1.5, 1.0, 2.0]]]]


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("padding", PADDINGS)
def test_gradients_in_the_image_and_the_grid(mode, padding):
    rng = np.random.default_rng(1)
    image = rng.standard_normal((1, 2, 3, 4))
    # points away from pixel centres and edges, where the interpolation is smooth
    grid = (rng.integers(-4, 4, (1, 2, 3, 2)) + rng.uniform(0.2, 0.8, (1, 2, 3, 2))) / 3.0
    weights = rng.standard_normal((1, 2, 2, 3))
    check_gradients(lambda x, g: (F.grid_sample(x, g, mode, padding, align_corners=False) * gg.tensor(weights))
                    .sum(), [image, grid])


@EAGER_AND_COMPILED
@pytest.mark.parametrize("padding", PADDINGS)
def test_nearest_passes_gradients_to_the_image_and_zeros_to_the_grid(run, padding):
    # PyTorch's GridSampler2DBackward0 gives the grid of a nearest sampling a zero gradient (its result requires
    # grad through the grid alone too); graphgrad's result did not depend on the grid: grid.grad stayed None, and a
    # backward from a grid requiring grad alone raised
    image = gg.tensor(np.arange(9.0).reshape(1, 1, 3, 3), requires_grad=True)
    points = [[[[-0.6, 0.1], [0.9, 0.9], [1.7, 0.0]]]]
    grid = gg.tensor(points, dtype=gg.float64, requires_grad=True)
    out = run(lambda x, g: F.grid_sample(x, g, "nearest", padding, align_corners=False).sum(), image, grid)
    out.backward()
    assert grid.grad is not None and grid.grad.tolist() == np.zeros((1, 1, 3, 2)).tolist()
    # (-0.6, 0.1) reads pixel (x 0, y 1) and (0.9, 0.9) pixel (2, 2), as the kernel's nearbyint of the pixel
    # coordinates ((c + 1) * 3 - 1) / 2; (1.7, 0) lies outside, read as 0 or at the border x 2 (reflection: x 1)
    expected = np.zeros((3, 3))
    expected[1, 0] += 1
    expected[2, 2] += 1
    if padding != "zeros":
        expected[1, 2 if padding == "border" else 1] += 1
    np.testing.assert_array_equal(image.grad.numpy()[0, 0], expected)
    grid_alone = gg.tensor(points, dtype=gg.float64, requires_grad=True)
    out = run(lambda x, g: F.grid_sample(x, g, "nearest", padding, align_corners=False), image.detach(), grid_alone)
    assert out.requires_grad
    out.sum().backward()
    assert grid_alone.grad.tolist() == np.zeros((1, 1, 3, 2)).tolist()
    zeros = gg.grad(lambda g: F.grid_sample(image.detach(), g, "nearest", padding, align_corners=False).sum())(grid)
    assert zeros.tolist() == np.zeros((1, 1, 3, 2)).tolist()


def test_affine_grid_gradients_and_a_spatial_transformer_compile():
    rng = np.random.default_rng(2)
    image = rng.standard_normal((2, 1, 4, 5))
    # (every sampled point at least 0.005 pixel from a pixel's row or column, where bilinear has its kinks)
    theta = np.array([[[0.83, 0.13, 0.071], [-0.11, 0.77, 0.093]], [[1.07, 0.03, -0.087], [0.21, 0.91, 0.017]]])

    def transformed(x, t):
        grid = F.affine_grid(t, (2, 1, 3, 4), align_corners=False)
        return (F.grid_sample(x, grid, align_corners=False) ** 2).sum()
    check_gradients(transformed, [image, theta])


def test_affine_grid_is_theta_applied_to_pixel_centres():
    theta = np.array([[[0.5, -0.25, 0.1], [0.3, 2.0, -0.4]]])
    grid = F.affine_grid(gg.tensor(theta, dtype=gg.float64), (1, 3, 2, 3), align_corners=False).numpy()
    xs, ys = np.array([-2, 0, 2]) / 3, np.array([-1, 1]) / 2  # centres of 3 and 2 pixels across [-1, 1]
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            np.testing.assert_allclose(grid[0, i, j], theta[0] @ [x, y, 1.0], atol=1e-15)
    theta3 = np.arange(12.0).reshape(1, 3, 4) / 10
    grid3 = F.affine_grid(gg.tensor(theta3, dtype=gg.float64), (1, 1, 2, 2, 3), align_corners=True).numpy()
    assert grid3.shape == (1, 2, 2, 3, 3)
    np.testing.assert_allclose(grid3[0, 1, 0, 2], theta3[0] @ [1.0, -1.0, 1.0, 1.0], atol=1e-15)  # x, y, z = 1, -1, 1


def test_a_missing_align_corners_warns_as_pytorch():
    theta = gg.tensor([[[1.0, 0, 0], [0, 1, 0]]])
    with pytest.warns(UserWarning, match="changed to align_corners=False since 1.3.0"):
        grid = F.affine_grid(theta, (1, 1, 2, 2))
    with pytest.warns(UserWarning, match="changed to align_corners=False since 1.3.0"):
        F.grid_sample(gg.ones(1, 1, 2, 2), grid)
    with pytest.warns(UserWarning, match="changed for unit-size grids when align_corners=True"):
        F.affine_grid(theta, (1, 1, 1, 2), align_corners=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.grid_sample(gg.ones(1, 1, 2, 2), grid, align_corners=False)


def test_bad_arguments_get_pytorch_s_errors():
    x, grid = gg.randn(2, 3, 5, 6), gg.rand(2, 4, 7, 2)
    cases = [
        (lambda: F.grid_sample(x, grid, mode="foo"), ValueError,
         "nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: 'foo'"),
        (lambda: F.grid_sample(x, grid, padding_mode="foo"), ValueError,
         "nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or 'reflection', but got: "
         "'foo'"),
        (lambda: F.grid_sample(x, grid.double(), align_corners=False), RuntimeError,
         "expected scalar type Float but found Double"),
        (lambda: F.grid_sample(x, grid[:1], align_corners=False), RuntimeError,
         "grid_sampler(): expected grid and input to have same batch size, but got input with sizes [2, 3, 5, 6] "
         "and grid with sizes [1, 4, 7, 2]"),
        (lambda: F.grid_sample(x, grid[..., :1], align_corners=False), RuntimeError,
         "grid_sampler(): expected grid to have size 2 in last dimension, but got grid with sizes [2, 4, 7, 1]"),
        (lambda: F.grid_sample(x[:, :, :0], grid, align_corners=False), RuntimeError,
         "grid_sampler(): expected input to have non-empty spatial dimensions, but input has sizes [2, 3, 0, 6] "
         "with dimension 2 being empty"),
        (lambda: F.grid_sample(gg.ones(1, 1, 2, 3, 4), gg.ones(1, 2, 2, 2, 3), "bicubic", align_corners=False),
         RuntimeError, "grid_sampler(): bicubic interpolation only supports 4D input"),
        (lambda: F.affine_grid(gg.ones(2, 2, 3), (3, 3, 5, 6), align_corners=False), RuntimeError,
         "Expected size for first two dimensions of batch2 tensor to be: [3, 3] but got: [2, 3]."),
        (lambda: F.affine_grid(gg.ones(2, 2, 3, dtype=gg.int64), (2, 3, 5, 6), align_corners=False), ValueError,
         "Expected theta to have floating point type, but got torch.int64"),
        (lambda: F.affine_grid(gg.ones(2, 3), (2, 3, 5, 6), align_corners=False), ValueError,
         "Expected a batch of 2D affine matrices of shape Nx2x3 for size (2, 3, 5, 6). Got torch.Size([2, 3])."),
        (lambda: F.affine_grid(gg.ones(2, 3, 4), (2, 3, 4, 5), align_corners=False), ValueError,
         "Expected a batch of 2D affine matrices of shape Nx2x3 for size (2, 3, 4, 5). Got torch.Size([2, 3, 4])."),
        (lambda: F.affine_grid(gg.ones(2, 2, 3), (2, 3, 0, 6), align_corners=False), ValueError,
         "Expected non-zero, positive output size. Got (2, 3, 0, 6)"),
        (lambda: F.affine_grid(gg.ones(2, 2, 3), (2, 3, 6), align_corners=False), NotImplementedError,
         "affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, respectively. Got size "
         "(2, 3, 6)."),
    ]
    for call, kind, message in cases:
        with pytest.raises(kind) as caught:
            call()
        assert str(caught.value) == message


@EAGER_AND_COMPILED
@pytest.mark.parametrize("align_corners", [False, True])
def test_a_nan_coordinate_reads_the_first_pixel_row_or_column_with_border_and_reflection_padding(run, align_corners):
    # PyTorch's CPU kernel clips a coordinate with a vectorized maximum and minimum, which drop nan: a nan
    # coordinate, or an infinite one reflected (nan), becomes pixel 0 (it read 0 for nearest, nan for bilinear);
    # with zeros padding a nan point lies outside (nearest: 0, bilinear: nan), as before
    image = gg.tensor(np.arange(20.0).reshape(1, 1, 4, 5))  # pixel (x, y) holds 5 y + x
    grid = gg.tensor([[[[np.nan, -1.0], [1.0, np.nan], [np.nan, np.nan], [np.inf, np.nan]]]], dtype=gg.float64)
    for padding in ("border", "reflection"):
        # (x, y): (0, 0) (y = -1 clipped), (4, 0) (x = 1 clipped), (0, 0), and x = +inf: 4 at the border, reflected
        # nan: 0
        expected = [0.0, 4.0, 0.0, 4.0 if padding == "border" else 0.0]
        for mode in ("nearest", "bilinear"):
            out = run(lambda x, g: F.grid_sample(x, g, mode, padding, align_corners=align_corners), image, grid)
            np.testing.assert_array_equal(out.numpy().ravel(), expected, err_msg=f"{mode}, {padding}")
    out = run(lambda x, g: F.grid_sample(x, g, "bilinear", "zeros", align_corners=align_corners), image, grid)
    assert np.isnan(out.numpy()).all()


def reference_3d(volume, grid, mode, padding, align_corners):
    """grid_sample of (N, C, D, H, W) volumes at (x, y, z) points: trilinear (the 8 neighbours, weighted by the
    products of the distances to the opposite ones) or nearest, one point at a time."""
    n, c, d, h, w = volume.shape
    out = np.zeros((n, c) + grid.shape[1:4])
    sizes = (w, h, d)

    def voxel(b, xi, yi, zi):
        return volume[b, :, zi, yi, xi] if 0 <= xi < w and 0 <= yi < h and 0 <= zi < d else np.zeros(c)

    for b in range(n):
        for index in np.ndindex(*grid.shape[1:4]):
            point = [_coordinate(_unnormalize(grid[(b,) + index + (k,)], size, align_corners), size, padding,
                                 align_corners) for k, size in enumerate(sizes)]
            if mode == "nearest":
                out[(b, slice(None)) + index] = voxel(b, *(int(np.round(p)) for p in point))
                continue
            low = [math.floor(p) for p in point]
            for corner in np.ndindex(2, 2, 2):
                weight = np.prod([(p - lo) if up else (lo + 1 - p) for p, lo, up in zip(point, low, corner)])
                out[(b, slice(None)) + index] += voxel(b, *(lo + up for lo, up in zip(low, corner))) * weight
    return out


@EAGER_AND_COMPILED
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("align_corners", [False, True])
def test_volumes_are_sampled_trilinearly(run, mode, padding, align_corners):
    rng = np.random.default_rng(3)
    volume = rng.standard_normal((2, 2, 3, 4, 5))
    grid = rng.uniform(-1.6, 1.6, (2, 2, 3, 2, 3))
    got = run(lambda x, g: F.grid_sample(x, g, mode, padding, align_corners), gg.tensor(volume), gg.tensor(grid))
    assert got.shape == (2, 2, 2, 3, 2)
    np.testing.assert_allclose(got.numpy(), reference_3d(volume, grid, mode, padding, align_corners), atol=1e-12)


def test_volume_gradients_and_a_3d_spatial_transformer():
    rng = np.random.default_rng(4)
    volume = rng.standard_normal((1, 2, 3, 4, 3))
    # points away from voxel centres, where trilinear interpolation is smooth
    grid = (rng.integers(-3, 3, (1, 2, 2, 1, 3)) + rng.uniform(0.2, 0.8, (1, 2, 2, 1, 3))) / 3.0
    weights = rng.standard_normal((1, 2, 2, 2, 1))
    check_gradients(lambda x, g: (F.grid_sample(x, g, padding_mode="border", align_corners=True) * gg.tensor(weights))
                    .sum(), [volume, grid])
    theta = gg.tensor([[[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]], dtype=gg.float64)
    moved = F.grid_sample(gg.tensor(volume), F.affine_grid(theta, (1, 2, 3, 4, 3), align_corners=False),
                          align_corners=False)
    np.testing.assert_allclose(moved.numpy(), volume, atol=1e-12)  # the identity map samples every voxel centre
    assert F.grid_sample(gg.tensor(volume, requires_grad=True), gg.tensor(grid), align_corners=False).grad_fn.name() \
        == "GridSampler3DBackward0"


@pytest.mark.parametrize("padding", ["border", "reflection"])
@pytest.mark.parametrize("run", [lambda f, *a: f(*a), lambda f, *a: gg.compile(f)(*a)], ids=["eager", "compiled"])
def test_a_point_on_the_edge_gets_no_gradient_across_it(padding, run):
    # PyTorch's clip_coordinates_set_grad: 0 at the clip's bounds. The gradient read the pixel past the edge (a
    # phantom 0): x = 1 with align_corners is the last column's centre, where the identity affine_grid puts it
    image = gg.tensor((np.arange(12.0) ** 1.5).reshape(1, 1, 3, 4))
    grid = gg.tensor([[[[1.0, 0.3], [-1.0, 0.3], [0.2, 1.0]]]], dtype=gg.float64, requires_grad=True)
    run(lambda g: F.grid_sample(image, g, padding_mode=padding, align_corners=True).sum(), grid).backward()
    across = [grid.grad[0, 0, 0, 0].item(), grid.grad[0, 0, 1, 0].item(), grid.grad[0, 0, 2, 1].item()]
    assert across == [0.0, 0.0, 0.0]
    # along the edge the slope is the image's: y = 0.3 is row 1.3, between rows 1 and 2 of the last column
    column = image[0, 0, :, 3].numpy()
    assert grid.grad[0, 0, 0, 1].item() == pytest.approx((column[2] - column[1]) * (3 - 1) / 2)
