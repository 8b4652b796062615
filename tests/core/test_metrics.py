"""SSIM / PSNR / luma against scikit-image (float64) and against their defining properties."""

from __future__ import annotations

import math
import subprocess
import sys

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from deconv_gui.core import metrics
from deconv_gui.core.metrics import psnr, rgb_to_y, shave, ssim, ssim_and_map, ssim_map

TOL = 1e-4  # the contract; in practice we agree to ~1e-8


def sk_ssim(a: np.ndarray, b: np.ndarray, data_range: float, full: bool = False):
    return structural_similarity(
        np.asarray(a, np.float64),
        np.asarray(b, np.float64),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        channel_axis=2 if a.ndim == 3 else None,
        data_range=data_range,
        full=full,
    )


def smooth_image(rng: np.random.Generator, h: int, w: int, c: int = 3) -> np.ndarray:
    """A photo-like image: low-frequency content in [0, 1]."""
    low = rng.random((max(2, h // 8), max(2, w // 8), c)).astype(np.float32)
    img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(img.reshape(h, w, c), 0.0, 1.0)


def noisy(rng: np.random.Generator, img: np.ndarray, sigma: float, hi: float = 1.0) -> np.ndarray:
    return np.clip(img + rng.normal(0.0, sigma, img.shape), 0.0, hi).astype(img.dtype)


def _pairs():
    rng = np.random.default_rng(1234)
    out = []
    a = rng.random((37, 53, 3)).astype(np.float32)
    out.append(("uniform-random", a, noisy(rng, a, 0.1), 1.0))
    a = smooth_image(rng, 48, 61)
    out.append(("smooth+noise", a, noisy(rng, a, 0.03), 1.0))
    a = 0.5 + 0.02 * rng.standard_normal((40, 45, 3)).astype(np.float32)
    out.append(("grey-ish low contrast", a, a + np.float32(0.01), 1.0))
    yy, xx = np.mgrid[0:33, 0:47]
    checker = (((yy // 4) + (xx // 4)) % 2).astype(np.float32)
    grad = (xx / 46.0).astype(np.float32)
    a = np.stack([checker, grad, 1 - grad], axis=-1)
    out.append(("checker vs blurred", a, cv2.GaussianBlur(a, (5, 5), 1.0), 1.0))
    out.append(("anti-correlated", a, 1.0 - a, 1.0))
    out.append(("constant vs structure", np.full_like(a, 0.5), a, 1.0))
    a8 = rng.integers(0, 256, (29, 31, 3)).astype(np.uint8)
    out.append(("uint8", a8, noisy(rng, a8.astype(np.float64), 20, 255).astype(np.uint8), 255.0))
    a16 = (smooth_image(rng, 41, 23) * 65535).astype(np.uint16)
    b16 = noisy(rng, a16.astype(np.float64), 1500, 65535).astype(np.uint16)
    out.append(("uint16", a16, b16, 65535.0))
    f16 = a16.astype(np.float32)
    out.append(("float data in 0..65535", f16, b16.astype(np.float32), 65535.0))
    g = smooth_image(rng, 50, 67, 1)[..., 0]
    out.append(("grey (H, W)", g, noisy(rng, g, 0.05), 1.0))
    a = rng.random((11, 11, 3)).astype(np.float32)
    out.append(("smallest 11x11", a, noisy(rng, a, 0.2), 1.0))
    # Larger than one tile in both directions (64 rows x 512 cols for RGB): tile seams.
    a = smooth_image(rng, 150, 1100)
    out.append(("multi-tile", a, noisy(rng, a, 0.05), 1.0))
    return out


PAIRS = _pairs()


@pytest.mark.parametrize(("name", "a", "b", "data_range"), PAIRS, ids=[p[0] for p in PAIRS])
def test_ssim_matches_skimage(name, a, b, data_range):
    ref = sk_ssim(a, b, data_range)
    assert ssim(a, b, data_range=data_range) == pytest.approx(ref, abs=TOL)
    assert ssim(a, b, data_range=data_range) == pytest.approx(ref, abs=1e-6)


@pytest.mark.parametrize(("name", "a", "b", "data_range"), PAIRS, ids=[p[0] for p in PAIRS])
def test_ssim_map_matches_skimage_full_map(name, a, b, data_range):
    _, ref_map = sk_ssim(a, b, data_range, full=True)
    if ref_map.ndim == 3:
        ref_map = ref_map.mean(axis=2)
    score, smap = ssim_and_map(a, b, data_range=data_range)
    assert smap.shape == a.shape[:2]
    assert smap.dtype == np.float32
    # The whole map, borders included (reflected like scipy's mode="reflect"). Per pixel,
    # float32 moments cost up to ~2e-5 where the local variance is close to C2; the means
    # agree to ~1e-8 because those errors are unbiased.
    err = np.abs(smap - ref_map)
    assert err.max() < TOL
    assert np.median(err) < 1e-5
    # The score is the mean of the map with skimage's 5 px border crop.
    assert score == pytest.approx(float(smap[5:-5, 5:-5].mean(dtype=np.float64)), abs=1e-6)
    np.testing.assert_array_equal(ssim_map(a, b, data_range=data_range), smap)
    assert ssim(a, b, data_range=data_range) == pytest.approx(score, abs=1e-12)


def test_single_channel_layouts_agree():
    rng = np.random.default_rng(5)
    a = smooth_image(rng, 30, 40, 1)
    b = noisy(rng, a, 0.05)
    assert ssim(a, b) == pytest.approx(ssim(a[..., 0], b[..., 0]), abs=1e-12)
    assert ssim_map(a, b).shape == (30, 40)


def test_rgb_score_is_mean_of_channel_scores():
    rng = np.random.default_rng(6)
    a = smooth_image(rng, 32, 35)
    b = noisy(rng, a, 0.08)
    per_channel = [ssim(a[..., c], b[..., c]) for c in range(3)]
    assert ssim(a, b) == pytest.approx(float(np.mean(per_channel)), abs=1e-7)
    assert min(per_channel) < ssim(a, b) < max(per_channel)


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_result_does_not_depend_on_worker_count(monkeypatch, workers):
    rng = np.random.default_rng(7)
    a = smooth_image(rng, 140, 1030)
    b = noisy(rng, a, 0.05)
    expected_score, expected_map = ssim_and_map(a, b)
    monkeypatch.setattr(metrics, "_worker_count", lambda n_tiles: min(workers, n_tiles))
    score, smap = ssim_and_map(a, b)
    assert score == pytest.approx(expected_score, abs=1e-12)
    np.testing.assert_array_equal(smap, expected_map)


def test_ssim_degrades_with_noise_level():
    rng = np.random.default_rng(8)
    a = smooth_image(rng, 64, 64)
    scores = [ssim(a, noisy(np.random.default_rng(0), a, s)) for s in (0.01, 0.05, 0.2)]
    assert 1.0 > scores[0] > scores[1] > scores[2]


def test_ssim_does_not_modify_inputs():
    rng = np.random.default_rng(9)
    a = rng.random((20, 25, 3)).astype(np.float32)
    b = rng.random((20, 25, 3)).astype(np.float32)
    a0, b0 = a.copy(), b.copy()
    ssim_and_map(a, b)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


def test_non_contiguous_and_mixed_dtype_inputs():
    rng = np.random.default_rng(10)
    a = smooth_image(rng, 30, 44)
    b = noisy(rng, a, 0.05)
    ref = sk_ssim(a[:, ::2], b[:, ::2], 1.0)
    assert ssim(a[:, ::2], b[:, ::2]) == pytest.approx(ref, abs=1e-6)
    assert ssim(a, b.astype(np.float64)) == pytest.approx(ssim(a, b), abs=1e-6)


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "match"),
    [
        (np.zeros((20, 20, 3)), np.zeros((20, 21, 3)), {}, "same shape"),
        (np.zeros((0, 20, 3)), np.zeros((0, 20, 3)), {}, "empty"),
        (np.zeros((20, 20, 4)), np.zeros((20, 20, 4)), {}, "H, W"),
        (np.zeros((20, 20, 3)), np.zeros((20, 20, 3)), {"data_range": 0.0}, "data_range"),
        (np.zeros((20, 20, 3)), np.zeros((20, 20, 3)), {"data_range": math.nan}, "data_range"),
    ],
)
def test_ssim_rejects_bad_input(a, b, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ssim(a, b, **kwargs)


def reference_ssim(a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray]:
    """Plain float64 Wang et al. with scipy's filter, our crop rule (5 px, none under 11 px)."""
    x3 = np.atleast_3d(a).astype(np.float64)
    y3 = np.atleast_3d(b).astype(np.float64)

    def filt(v):
        return ndimage.gaussian_filter(v, sigma=1.5, truncate=3.5, mode="reflect")

    maps = []
    for c in range(x3.shape[2]):
        x, y = x3[..., c], y3[..., c]
        mx, my = filt(x), filt(y)
        vx, vy, cxy = filt(x * x) - mx * mx, filt(y * y) - my * my, filt(x * y) - mx * my
        c1, c2 = 0.01**2, 0.03**2
        num = (2 * mx * my + c1) * (2 * cxy + c2)
        maps.append(num / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    smap = np.mean(maps, axis=0)
    h, w = smap.shape
    cr, cc = (5 if h >= 11 else 0), (5 if w >= 11 else 0)
    return float(smap[cr : h - cr, cc : w - cc].mean()), smap


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 14), st.integers(1, 14), st.sampled_from([1, 3]), st.integers(0, 2**32 - 1))
def test_small_images_match_reference(h, w, c, seed):
    """Sides under 11 px (tiles of a live preview): no error, whole-side average."""
    rng = np.random.default_rng(seed)
    a = rng.random((h, w, c)).astype(np.float32)
    b = noisy(rng, a, 0.1)
    if c == 1:
        a, b = a[..., 0], b[..., 0]
    ref_score, ref_map = reference_ssim(a, b)
    score, smap = ssim_and_map(a, b)
    assert score == pytest.approx(ref_score, abs=1e-5)
    np.testing.assert_allclose(smap, ref_map, atol=1e-4)


# ------------------------------------------------------------------ properties (hypothesis)

pair_params = st.tuples(
    st.integers(0, 2**32 - 1),  # seed
    st.integers(11, 40),  # height
    st.integers(11, 40),  # width
    st.sampled_from([1, 3]),  # channels
    st.floats(0.0, 0.5),  # noise level
)


def make_pair(params):
    seed, h, w, c, level = params
    rng = np.random.default_rng(seed)
    a = rng.random((h, w, c)).astype(np.float32) if seed % 2 else smooth_image(rng, h, w, c)
    b = noisy(rng, a, level)
    return (a[..., 0], b[..., 0]) if c == 1 else (a, b)


@settings(max_examples=40, deadline=None)
@given(pair_params)
def test_ssim_is_symmetric_and_bounded(params):
    a, b = make_pair(params)
    s_ab, s_ba = ssim(a, b), ssim(b, a)
    # float32 filtering of x+y and x-y: swapping the inputs changes rounding, not the value
    # (a 1.5e-7 difference was seen on an 11x11 pair); still far inside the 1e-4 contract.
    assert s_ab == pytest.approx(s_ba, abs=1e-6)
    assert -1.0 <= s_ab <= 1.0
    smap = ssim_map(a, b)
    assert np.all(smap <= 1.0 + 1e-6)
    assert np.all(smap >= -1.0 - 1e-6)


@settings(max_examples=40, deadline=None)
@given(pair_params)
def test_ssim_of_image_with_itself_is_one(params):
    a, _ = make_pair(params)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(ssim_map(a, a), 1.0, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(pair_params)
def test_ssim_property_matches_skimage(params):
    a, b = make_pair(params)
    assert ssim(a, b) == pytest.approx(sk_ssim(a, b, 1.0), abs=TOL)


@settings(max_examples=25, deadline=None)
@given(pair_params, st.sampled_from([255.0, 1000.0, 65535.0]))
def test_ssim_is_invariant_to_data_range_units(params, scale):
    a, b = make_pair(params)
    scaled = ssim(a * np.float32(scale), b * np.float32(scale), data_range=scale)
    assert scaled == pytest.approx(ssim(a, b), abs=1e-5)


# -------------------------------------------------------------------------------- PSNR


def test_psnr_known_value_and_identity():
    a = np.full((8, 9, 3), 0.5, np.float32)
    assert psnr(a, a + np.float32(0.1)) == pytest.approx(20.0, abs=1e-4)  # MSE 0.01
    assert psnr(a, a) == math.inf
    assert psnr(a, a + np.float32(0.01)) == pytest.approx(40.0, abs=1e-3)


@pytest.mark.parametrize(("dtype", "data_range"), [(np.uint8, 255), (np.uint16, 65535)])
def test_psnr_integer_data(dtype, data_range):
    rng = np.random.default_rng(11)
    a = rng.integers(0, data_range + 1, (20, 30, 3)).astype(dtype)
    b = rng.integers(0, data_range + 1, (20, 30, 3)).astype(dtype)
    ref = peak_signal_noise_ratio(a, b, data_range=data_range)
    assert psnr(a, b, data_range=data_range) == pytest.approx(ref, abs=1e-9)


def test_psnr_matches_skimage_on_float_and_grey():
    rng = np.random.default_rng(12)
    a = smooth_image(rng, 33, 21)
    b = noisy(rng, a, 0.07)
    ref = peak_signal_noise_ratio(a.astype(np.float64), b.astype(np.float64), data_range=1.0)
    assert psnr(a, b) == pytest.approx(ref, abs=1e-6)
    ref_y = peak_signal_noise_ratio(
        a[..., 1].astype(np.float64), b[..., 1].astype(np.float64), data_range=1.0
    )
    assert psnr(a[..., 1], b[..., 1]) == pytest.approx(ref_y, abs=1e-6)
    assert psnr(a, b.astype(np.float64)) == pytest.approx(ref, abs=1e-5)


def test_psnr_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        psnr(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))


# ----------------------------------------------------------------------------- luma, shave


def test_rgb_to_y_matlab_values():
    colours = np.array(
        [[[0, 0, 0], [1, 1, 1], [1, 0, 0]], [[0, 1, 0], [0, 0, 1], [0.5, 0.25, 0.75]]],
        np.float32,
    )
    y = rgb_to_y(colours)
    assert y.shape == (2, 3)
    assert y.dtype == np.float32
    r, g, b = colours[..., 0], colours[..., 1], colours[..., 2]
    expected = (16 + 65.481 * r + 128.553 * g + 24.966 * b) / 255
    np.testing.assert_allclose(y, expected, atol=1e-6)
    assert y[0, 0] == pytest.approx(16 / 255, abs=1e-6)  # black
    assert y[0, 1] == pytest.approx(235 / 255, abs=1e-6)  # white


def test_rgb_to_y_rejects_grey():
    with pytest.raises(ValueError, match="RGB"):
        rgb_to_y(np.zeros((4, 4), np.float32))


def test_shave():
    img = np.arange(10 * 12 * 3, dtype=np.float32).reshape(10, 12, 3)
    out = shave(img, 2)
    assert out.shape == (6, 8, 3)
    np.testing.assert_array_equal(out, img[2:8, 2:10])
    assert shave(img, 0) is img
    assert shave(img[..., 0], 1).shape == (8, 10)
    with pytest.raises(ValueError, match="cannot shave 5 px"):
        shave(img, 5)
    with pytest.raises(ValueError, match="must be >= 0"):
        shave(img, -1)


def test_metrics_module_imports_neither_qt_nor_torch():
    code = (
        "import sys, deconv_gui.core.metrics, deconv_gui.core.degrade; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'torch', 'skimage')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
