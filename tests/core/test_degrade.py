"""Seeded degradations: kernels, noise, JPEG, resizing and the spec language."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from deconv_gui.core.degrade import (
    Blur,
    Degradation,
    Downscale,
    GaussianNoise,
    Grain,
    Jpeg,
    PoissonGaussianNoise,
    add_gaussian_noise,
    add_grain,
    add_poisson_gaussian,
    blur,
    crop_to_multiple,
    disk_kernel,
    downscale_bicubic,
    gaussian_kernel,
    jpeg_compress,
    motion_kernel,
    parse_kernel,
    parse_spec,
    quantize_8bit,
    upscale_bicubic,
)
from deconv_gui.errors import DeconvError


def photo(seed: int = 0, h: int = 48, w: int = 64) -> np.ndarray:
    """Small photo-like RGB float32 image in [0, 1]."""
    rng = np.random.default_rng(seed)
    low = rng.random((max(2, h // 8), max(2, w // 8), 3)).astype(np.float32)
    return np.clip(cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


def assert_valid_kernel(k: np.ndarray) -> None:
    assert k.dtype == np.float32
    assert k.ndim == 2
    assert k.shape[0] % 2 == 1
    assert k.shape[1] % 2 == 1
    assert np.all(k >= 0)
    assert float(k.sum(dtype=np.float64)) == pytest.approx(1.0, abs=1e-5)
    # Centred: point symmetric (all our kernels are), so convolution does not shift.
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-7)


# ------------------------------------------------------------------------------- kernels


@settings(max_examples=30, deadline=None)
@given(st.floats(0.2, 8.0))
def test_gaussian_kernel(sigma):
    k = gaussian_kernel(sigma)
    assert_valid_kernel(k)
    r = math.ceil(3 * sigma)
    assert k.shape == (2 * r + 1, 2 * r + 1)
    assert np.unravel_index(np.argmax(k), k.shape) == (r, r)
    np.testing.assert_allclose(k, k.T, atol=1e-8)
    # Its spread is sigma (a little less: truncated at 3 sigma; small sigmas are undersampled).
    xs = np.arange(-r, r + 1)
    std = math.sqrt(float((k.sum(axis=0) * xs**2).sum()))
    if sigma >= 1.0:
        assert 0.97 * sigma < std <= sigma


@settings(max_examples=40, deadline=None)
@given(st.floats(1.0, 40.0), st.floats(-360.0, 360.0))
def test_motion_kernel_is_valid(length, angle):
    k = motion_kernel(length, angle)
    assert_valid_kernel(k)
    assert max(k.shape) <= 2 * (math.ceil((length - 1) / 2) + 1) + 1


@pytest.mark.parametrize("length", [1, 3, 9, 15])
def test_motion_kernel_horizontal_and_vertical(length):
    k0 = motion_kernel(length, 0)
    assert k0.shape == (1, length)  # 0 degrees is horizontal, an exact box for odd lengths
    np.testing.assert_allclose(k0, 1.0 / length, atol=1e-7)
    k90 = motion_kernel(length, 90)
    assert k90.shape == (length, 1)
    np.testing.assert_allclose(k90, 1.0 / length, atol=1e-7)
    np.testing.assert_allclose(motion_kernel(length, 180), k0, atol=1e-7)


def test_motion_kernel_even_length_has_half_weight_ends():
    k = motion_kernel(4, 0)
    np.testing.assert_allclose(k, [[0.125, 0.25, 0.25, 0.25, 0.125]], atol=1e-7)


def test_motion_kernel_diagonal_orientation():
    k = motion_kernel(9, 45)  # counter-clockwise: lower-left to upper-right
    h, w = k.shape
    assert h == w
    assert k[0, -1] > 0 and k[-1, 0] > 0
    assert k[0, 0] == 0 and k[-1, -1] == 0
    np.testing.assert_allclose(motion_kernel(9, 135), k[:, ::-1], atol=1e-7)
    # The energy lies along the anti-diagonal.
    assert np.trace(np.fliplr(k)) > 0.5


def test_motion_kernel_length_is_the_blur_extent():
    k = motion_kernel(21, 30)
    ys, xs = np.nonzero(k > 1e-3)
    extent = math.hypot(xs.max() - xs.min(), ys.max() - ys.min())
    assert 19 <= extent <= 23


@settings(max_examples=30, deadline=None)
@given(st.floats(0.3, 12.0))
def test_disk_kernel_is_valid(radius):
    k = disk_kernel(radius)
    assert_valid_kernel(k)
    np.testing.assert_allclose(k, k.T, atol=1e-7)
    np.testing.assert_allclose(k, k[::-1], atol=1e-7)
    r = k.shape[0] // 2
    assert r <= math.ceil(radius)
    # Pixels well inside the disk are fully covered: flat top at the maximum.
    if radius >= 2:
        assert k[r, r] == pytest.approx(k.max())
        assert k[r, r + int(radius) - 1] == pytest.approx(k.max())


@pytest.mark.parametrize("radius", [2, 4, 7])
def test_disk_kernel_shape_and_area(radius):
    k = disk_kernel(radius)
    assert k.shape == (2 * radius + 1, 2 * radius + 1)
    # Total coverage (before normalisation) is the disk area: mean weight = 1 / (pi r^2).
    assert k.max() == pytest.approx(1.0 / (math.pi * radius**2), rel=0.03)
    assert k[0, 0] == 0.0  # corners lie outside the disk


def test_parse_kernel_matches_constructors():
    np.testing.assert_array_equal(parse_kernel("gaussian:2"), gaussian_kernel(2))
    np.testing.assert_array_equal(parse_kernel("motion:15:30"), motion_kernel(15, 30))
    np.testing.assert_array_equal(parse_kernel("disk:4"), disk_kernel(4))
    np.testing.assert_array_equal(parse_kernel(" Motion:7 : 0 "), motion_kernel(7, 0))


@pytest.mark.parametrize(
    "text",
    ["", "gaussian", "gaussian:", "gaussian:x", "gaussian:-1", "motion:15", "box:3", "disk:0"],
)
def test_parse_kernel_errors(text):
    with pytest.raises(DeconvError, match="valid forms") as info:
        parse_kernel(text)
    assert "\n" not in str(info.value)


# ----------------------------------------------------------------------------------- blur


def test_blur_is_a_true_convolution():
    img = np.zeros((21, 21), np.float32)
    img[10, 10] = 1.0
    k = np.zeros((5, 5), np.float32)
    k[0, 1], k[2, 2], k[3, 4] = 0.5, 0.3, 0.2  # asymmetric
    out = blur(img, k)
    # A delta convolved with k is k itself, centred on the delta (not flipped).
    np.testing.assert_allclose(out[8:13, 8:13], k, atol=1e-7)
    assert float(out.sum()) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("kernel", [gaussian_kernel(1.5), motion_kernel(9, 30), disk_kernel(3)])
def test_blur_matches_scipy_convolve_reflect(kernel):
    img = photo(1, 30, 41)
    out = blur(img, kernel)
    assert out.shape == img.shape
    assert out.dtype == np.float32
    ref = np.stack(
        [
            ndimage.convolve(img[..., c].astype(np.float64), kernel, mode="reflect")
            for c in range(3)
        ],
        axis=-1,
    )
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_blur_keeps_constant_image_and_even_kernel_anchor():
    img = np.full((17, 19, 3), 0.4, np.float32)
    np.testing.assert_allclose(blur(img, motion_kernel(11, 60)), 0.4, atol=1e-6)
    delta = np.zeros((9, 9), np.float32)
    delta[4, 4] = 1.0
    even = np.array([[0.0, 0.0], [0.0, 1.0]], np.float32)  # origin (1, 1): identity
    np.testing.assert_allclose(blur(delta, even), delta, atol=1e-7)


# ---------------------------------------------------------------------------------- noise


@pytest.mark.parametrize("sigma", [5, 15, 25, 50])
def test_gaussian_noise_std(sigma):
    img = np.full((96, 96, 3), 0.5, np.float32)
    out = add_gaussian_noise(img, sigma, np.random.default_rng(0))
    assert out.dtype == np.float32
    assert out.shape == img.shape
    residual = (out - img).astype(np.float64)
    assert residual.std() == pytest.approx(sigma / 255, rel=0.02)
    assert abs(residual.mean()) < 0.1 * sigma / 255
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_gaussian_noise_clip_option_and_determinism():
    img = np.full((16, 16, 3), 0.98, np.float32)
    a = add_gaussian_noise(img, 30, np.random.default_rng(3))
    b = add_gaussian_noise(img, 30, np.random.default_rng(3))
    c = add_gaussian_noise(img, 30, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.max() == 1.0
    unclipped = add_gaussian_noise(img, 30, np.random.default_rng(3), clip=False)
    assert unclipped.max() > 1.0
    np.testing.assert_array_equal(np.clip(unclipped, 0, 1), a)


def test_poisson_gaussian_variance_follows_a_x_plus_b():
    a, b = 0.01, 0.0004
    rng = np.random.default_rng(5)
    for level in (0.2, 0.7):
        img = np.full((128, 128, 3), level, np.float32)
        out = add_poisson_gaussian(img, a, b, rng, clip=False)
        assert float(out.mean()) == pytest.approx(level, abs=0.005)
        assert float(out.astype(np.float64).var()) == pytest.approx(a * level + b, rel=0.05)


def test_poisson_gaussian_without_poisson_part_is_gaussian():
    img = np.full((64, 64, 3), 0.5, np.float32)
    out = add_poisson_gaussian(img, 0.0, 0.0025, np.random.default_rng(6))
    assert float((out - img).std()) == pytest.approx(0.05, rel=0.03)
    with pytest.raises(ValueError, match="must be >= 0"):
        add_poisson_gaussian(img, -1.0, 0.0, np.random.default_rng(0))


@pytest.mark.parametrize("size", [1.0, 1.5, 2.0, 3.0])
def test_grain_has_its_sigma_in_each_channel_and_grains_of_its_size(size):
    flat = np.full((120, 150, 3), 0.5, np.float32)
    y = add_grain(flat, 8.0, size, np.random.default_rng(0), clip=False)
    n = (y - flat) * 255.0
    np.testing.assert_allclose(n.std(axis=(0, 1)), 8.0, rtol=1e-3)
    # neighbours are alike over about a grain: white noise (size 1) is not
    lag1 = np.corrcoef(n[:, :-1, 0].ravel(), n[:, 1:, 0].ravel())[0, 1]
    if size == 1.0:
        assert abs(lag1) < 0.05
    else:
        assert lag1 > 0.3 + 0.1 * size
    # partly in colour: the channels agree, but not fully
    rg = np.corrcoef(n[..., 0].ravel(), n[..., 1].ravel())[0, 1]
    assert 0.55 < rg < 0.8


def test_grain_is_what_the_white_noise_estimate_misses():
    """The reason it exists: the estimate the denoisers' Auto starts from reads grain as far
    weaker than it is (and white noise as it is)."""
    from deconv_gui.core.noise import estimate_noise_sigma

    img = 0.2 + 0.6 * photo(3, 160, 160)  # (nothing clipped)
    coarse = parse_spec("grain=8").apply(img, seed=2)
    white = parse_spec("noise=8").apply(img, seed=2)
    assert estimate_noise_sigma(coarse) < 2.0
    assert estimate_noise_sigma(white) == pytest.approx(8.0, abs=1.0)


def test_grain_is_seeded_keeps_shape_and_rejects_bad_values():
    img = photo(4, 37, 53)
    a = parse_spec("grain=5:2.5").apply(img, seed=3)
    assert a.shape == img.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, parse_spec("grain=5:2.5").apply(img, seed=3))
    assert not np.array_equal(a, parse_spec("grain=5:2.5").apply(img, seed=4))
    assert parse_spec("grain=5") == Degradation((Grain(5.0, 2.0),))
    grey = add_grain(img[..., 0], 5.0, 2.0, np.random.default_rng(0))
    assert grey.shape == img.shape[:2]
    with pytest.raises(ValueError, match="grain sigma"):
        add_grain(img, -1.0, 2.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="grain size"):
        add_grain(img, 5.0, 0.5, np.random.default_rng(0))


def test_quantize_8bit():
    x = np.array([-0.2, 0.0, 0.5 / 255, 0.49 / 255, 0.5, 1.0, 1.3], np.float32)
    q = quantize_8bit(x)
    np.testing.assert_allclose(q * 255, [0, 0, 1, 0, 128, 255, 255], atol=1e-4)


# ----------------------------------------------------------------------------------- JPEG


def test_jpeg_changes_image_keeps_shape_and_colour_order():
    img = photo(2, 40, 56)
    img[:16, :16] = (1.0, 0.0, 0.0)  # a pure red patch must stay red (no BGR mix-up)
    out = jpeg_compress(img, 30)
    assert out.shape == img.shape
    assert out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.abs(out - img).max() > 1 / 255
    red = out[4:12, 4:12].mean(axis=(0, 1))
    assert red[0] > 0.8 and red[1] < 0.2 and red[2] < 0.2
    err_low = np.abs(jpeg_compress(img, 10) - img).mean()
    err_high = np.abs(jpeg_compress(img, 95) - img).mean()
    assert err_high < err_low
    np.testing.assert_array_equal(jpeg_compress(img, 30), out)  # deterministic


def test_jpeg_grey_and_bad_quality():
    grey = photo(3, 24, 24)[..., 0]
    assert jpeg_compress(grey, 50).shape == grey.shape
    for q in (0, 101, 50.5):
        with pytest.raises(ValueError, match="JPEG quality must be an integer 1-100"):
            jpeg_compress(grey, q)


# ------------------------------------------------------------------------------- resizing


@pytest.mark.parametrize(("h", "w", "factor"), [(48, 64, 2), (50, 37, 4), (31, 32, 3), (9, 9, 4)])
def test_downscale_shapes_and_constant(h, w, factor):
    img = np.full((h, w, 3), 0.3, np.float32)
    out = downscale_bicubic(img, factor)
    assert out.shape == (h // factor, w // factor, 3)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, 0.3, atol=1e-6)
    assert crop_to_multiple(img, factor).shape == (h // factor * factor, w // factor * factor, 3)


def test_downscale_is_antialiased_and_close_to_area_average():
    checker = (np.indices((64, 64)).sum(axis=0) % 2).astype(np.float32)
    img = np.repeat(checker[..., None], 3, axis=2)
    small = downscale_bicubic(img, 2)
    assert small.std() < 0.01  # plain subsampling would give all 0 or all 1
    assert float(small.mean()) == pytest.approx(0.5, abs=1e-3)
    smooth = photo(4, 64, 64)
    area = cv2.resize(smooth, (16, 16), interpolation=cv2.INTER_AREA)
    assert np.abs(downscale_bicubic(smooth, 4) - area)[2:-2, 2:-2].max() < 0.03


def test_upscale_shape_and_round_trip():
    img = photo(5, 32, 40)
    up = upscale_bicubic(img, 3)
    assert up.shape == (96, 120, 3)
    assert up.dtype == np.float32
    assert up.min() >= 0.0 and up.max() <= 1.0
    back = downscale_bicubic(up, 3)
    assert np.abs(back - img)[2:-2, 2:-2].mean() < 0.01
    with pytest.raises(ValueError, match="must be a positive integer"):
        downscale_bicubic(img, 0)
    with pytest.raises(ValueError, match="smaller than factor 3"):
        downscale_bicubic(img[:2, :2], 3)


# ---------------------------------------------------------------------------------- specs


def test_parse_spec_steps_and_properties():
    d = parse_spec("blur=gaussian:1.6, downscale=4 ,noise=5")
    assert d.steps == (Blur("gaussian", (1.6,)), Downscale(4), GaussianNoise(5.0))
    assert d.scale == 4
    assert d.noise_sigma == 5.0
    np.testing.assert_array_equal(d.kernel, gaussian_kernel(1.6))
    assert str(d) == "blur=gaussian:1.6,downscale=4,noise=5"


def test_degradation_properties_edge_cases():
    d = parse_spec("downscale=2,downscale=3,jpeg=40,pgnoise=0.01:0.0004")
    assert d.scale == 6
    assert d.kernel is None
    assert d.noise_sigma is None
    assert d.steps[2:] == (Jpeg(40), PoissonGaussianNoise(0.01, 0.0004))
    assert parse_spec("blur=disk:2,blur=motion:9:0").kernel is None
    assert parse_spec("noise=3,noise=4").noise_sigma == pytest.approx(5.0)
    assert parse_spec("jpeg=90").scale == 1
    with pytest.raises(AttributeError):
        d.steps = ()  # type: ignore[misc]  # frozen


CANONICAL = [
    "noise=25",
    "pgnoise=0.01:0.0004",
    "blur=gaussian:2",
    "blur=motion:15:30",
    "blur=disk:4",
    "downscale=3",
    "jpeg=75",
    "grain=6",
    "grain=6:1.5",
    "blur=motion:12.5:-45,downscale=2,noise=7.5,jpeg=90",
]


@pytest.mark.parametrize("spec", CANONICAL)
def test_spec_round_trip(spec):
    d = parse_spec(spec)
    assert str(d) == spec
    assert parse_spec(str(d)) == d


def test_spec_is_normalised():
    assert str(parse_spec(" NOISE=25.0 , Blur=Gaussian:2.00,downscale=4.0 ")) == (
        "noise=25,blur=gaussian:2,downscale=4"
    )


step_text = st.one_of(
    st.floats(0.5, 100).map(lambda s: f"noise={s}"),
    st.tuples(st.floats(0, 0.05), st.floats(1e-6, 0.01)).map(lambda ab: f"pgnoise={ab[0]}:{ab[1]}"),
    st.floats(0.3, 5).map(lambda s: f"blur=gaussian:{s}"),
    st.tuples(st.floats(1, 30), st.floats(-180, 180)).map(lambda p: f"blur=motion:{p[0]}:{p[1]}"),
    st.floats(0.5, 8).map(lambda r: f"blur=disk:{r}"),
    st.sampled_from([2, 3, 4]).map(lambda n: f"downscale={n}"),
    st.integers(1, 100).map(lambda q: f"jpeg={q}"),
    st.tuples(st.floats(0.5, 50), st.floats(1, 16)).map(lambda p: f"grain={p[0]}:{p[1]}"),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(step_text, min_size=1, max_size=5))
def test_spec_round_trip_property(steps):
    d = parse_spec(",".join(steps))
    assert len(d.steps) == len(steps)
    again = parse_spec(str(d))
    assert again == d
    assert str(again) == str(d)


BAD_SPECS = [
    "",
    " , ",
    "noise=25,",
    "noise",
    "noise=",
    "noise=abc",
    "noise=-5",
    "noise=nan",
    "pgnoise=0.01",
    "pgnoise=0:0",
    "blur=gaussian",
    "blur=box:3",
    "blur=motion:15",
    "blur=disk:-1",
    "downscale=5",
    "downscale=2.5",
    "jpeg=0",
    "jpeg=101",
    "grain=0",
    "grain=5:0.5",
    "grain=5:17",
    "grain=5:2:1",
    "sharpen=1",
]


@pytest.mark.parametrize("spec", BAD_SPECS)
def test_parse_spec_errors_are_readable(spec):
    with pytest.raises(DeconvError) as info:
        parse_spec(spec)
    message = str(info.value)
    assert "\n" not in message
    assert "valid steps" in message
    for form in ("noise=SIGMA", "pgnoise=A:B", "blur=motion:LENGTH:ANGLE", "downscale=", "jpeg="):
        assert form in message


# ---------------------------------------------------------------------------------- apply


def test_apply_is_seeded_and_quantised():
    img = photo(6)
    d = parse_spec("blur=motion:7:20,noise=15,jpeg=80")
    a = d.apply(img, seed=1)
    b = d.apply(img, seed=1)
    c = d.apply(img, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == img.shape
    assert a.dtype == np.float32
    np.testing.assert_allclose(a * 255, np.round(a * 255), atol=1e-3)  # on the 8-bit grid
    assert a.min() >= 0.0 and a.max() <= 1.0


def test_apply_default_seed_and_input_untouched():
    img = photo(7)
    before = img.copy()
    d = parse_spec("pgnoise=0.01:0.0001")
    np.testing.assert_array_equal(d.apply(img), d.apply(img, seed=0))
    np.testing.assert_array_equal(img, before)


def test_apply_downscale_shape_and_noise_level():
    img = photo(8, 50, 70)
    lq = parse_spec("blur=gaussian:1.2,downscale=4").apply(img)
    assert lq.shape == (12, 17, 3)
    grey = np.full((64, 64, 3), 0.5, np.float32)
    noisy_img = parse_spec("noise=25").apply(grey, seed=3)
    # Quantisation adds ~1/sqrt(12) of an 8-bit step of noise; sigma 25 dominates.
    assert float((noisy_img - 0.5).std() * 255) == pytest.approx(25.0, rel=0.03)


def test_apply_without_quantise_and_identity_of_blur():
    img = photo(9)
    d = Degradation((Blur("gaussian", (1.0,)),))
    raw = d.apply(img, quantize=False)
    np.testing.assert_allclose(raw, blur(img, gaussian_kernel(1.0)), atol=1e-6)
    assert not np.allclose(raw * 255, np.round(raw * 255), atol=1e-3)


def test_apply_rejects_non_rgb():
    with pytest.raises(ValueError, match="must be HxWx3 RGB"):
        parse_spec("noise=5").apply(np.zeros((8, 8), np.float32))
