"""Poisson-Gaussian noise of raw data (`core.raw_noise`), synthetic raw (`training.unprocess`)
and JPEG quality measurement (`core.jpeg_quality`)."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from deconv_gui.core.jpeg_quality import (
    STD_LUMA,
    estimate_quality_from_pixels,
    ijg_table,
    quality_from_tables,
)
from deconv_gui.core.raw_noise import (
    NoiseProfile,
    estimate_profile,
    reference_profile,
    row_noise,
    std_map,
)
from deconv_gui.training import unprocess as up


def _smooth_scene(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth packed mosaic spanning dark to bright (a blurred random field)."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 12)
    base = (base - base.min()) / (np.ptp(base) + 1e-9)
    ramp = np.linspace(0.02, 0.85, w, dtype=np.float32)[None, :]
    planes = [np.clip(0.5 * base + ramp * k, 0, 0.9) for k in (0.6, 1.0, 1.0, 0.8)]
    return np.stack(planes, axis=2)


@pytest.mark.parametrize("iso", [400, 3200, 12800])
def test_profile_estimate_finds_the_true_noise(iso: int) -> None:
    prof = reference_profile(iso)
    clean = _smooth_scene(384, 512, iso)
    rng = np.random.default_rng(1)
    noisy = clean + rng.standard_normal(clean.shape).astype(np.float32) * np.sqrt(
        prof.variance(clean)
    )
    est = estimate_profile(noisy.astype(np.float32))
    # the noise standard deviation at mid-grey within 15 %, both terms non-negative
    x = 0.2
    ratio = np.sqrt(est.shot * x + est.read) / np.sqrt(prof.shot * x + prof.read)
    assert 0.85 < ratio < 1.15, (est, prof)
    assert est.shot >= 0 and est.read > 0


def _with_rows(clean: np.ndarray, prof: NoiseProfile, row_std: float, seed: int) -> np.ndarray:
    """Photosite noise of ``prof`` plus one offset per mosaic row (planes R, G1 share one,
    G2, B the next)."""
    rng = np.random.default_rng(seed)
    noisy = clean + rng.standard_normal(clean.shape) * np.sqrt(prof.variance(clean))
    rows = rng.standard_normal((clean.shape[0], 2)) * row_std
    noisy[:, :, 0:2] += rows[:, 0, None, None]
    noisy[:, :, 2:4] += rows[:, 1, None, None]
    return noisy.astype(np.float32)


@pytest.mark.parametrize("row_factor", [0.0, 0.3, 1.0])
def test_row_noise_is_measured_apart_from_the_photosite_noise(row_factor: float) -> None:
    """Banding of a given strength is found on a picture with smooth content and much
    stronger photosite noise; without banding the measure stays near zero (far below the
    photosite noise's variance)."""
    prof = NoiseProfile(1.6e-3, 2e-4)  # a small sensor at ISO 6400
    clean = _smooth_scene(384, 512, 3)
    row_std = row_factor * np.sqrt(prof.read)
    got = row_noise(_with_rows(clean, prof, row_std, 4))
    assert got is not None
    if row_factor == 0.0:
        assert got < 2e-3 * float(prof.variance(np.float64(0.2)))
    else:
        assert got == pytest.approx(row_std**2, rel=0.3)
    assert row_noise(clean[:8]) is None  # too few rows to tell
    assert NoiseProfile.from_json(NoiseProfile(1e-3, 1e-5, 2e-6).to_json()).row == 2e-6


def test_profile_estimate_sees_signal_dependence() -> None:
    """Pure shot noise: variance grows with brightness; read noise only: it does not."""
    clean = _smooth_scene(384, 512, 5)
    rng = np.random.default_rng(2)
    z = rng.standard_normal(clean.shape).astype(np.float32)
    shot_only = estimate_profile(clean + z * np.sqrt(2e-3 * clean))
    read_only = estimate_profile(clean + z * np.sqrt(np.float32(4e-5)))
    assert shot_only.shot > 1e-3 and shot_only.read < 2e-5
    assert read_only.shot < 2e-4 and 3e-5 < read_only.read < 5e-5


def test_reference_profile_grows_with_iso() -> None:
    a, b = reference_profile(800), reference_profile(12800)
    assert b.shot == pytest.approx(16 * a.shot)
    assert b.read > a.read > 0
    assert NoiseProfile(1e-3, 1e-5).scaled(2.0).shot == pytest.approx(4e-3)


def test_std_map_matches_the_profile() -> None:
    prof = NoiseProfile(2e-3, 1e-5)
    x = np.full((4, 4, 4), 0.25, np.float32)
    m = std_map(x, prof)
    from deconv_gui.core.raw_noise import RAW_MAP_SCALE

    assert m.shape == x.shape
    assert np.allclose(m / RAW_MAP_SCALE, np.sqrt(2e-3 * 0.25 + 1e-5), rtol=1e-5)


def test_unprocess_then_process_comes_back() -> None:
    """The camera's processing undoes the unprocessing (up to demosaicking): flat colour
    patches survive the round trip."""
    rng = np.random.default_rng(0)
    cam = up.random_camera(rng, 2)
    colours = torch.tensor([[0.2, 0.5, 0.7], [0.8, 0.3, 0.1]])
    srgb = colours.view(2, 3, 1, 1).expand(2, 3, 16, 16).contiguous()
    packed = up.unprocess(srgb, cam)
    assert packed.shape == (2, 4, 8, 8)
    assert float(packed.min()) >= 0 and float(packed.max()) <= 1
    back = up.forward_process(packed, cam)
    assert torch.allclose(back[:, :, 4:-4, 4:-4], srgb[:, :, 4:-4, 4:-4], atol=2e-3)


def test_raw_batch_noise_has_the_drawn_variance() -> None:
    rng = np.random.default_rng(0)
    gen = torch.Generator().manual_seed(0)
    srgb = torch.full((4, 3, 128, 128), 0.5)
    rb = up.make_raw_batch(srgb, rng, gen, p_clip_black=0.0)
    resid = (rb.noisy - rb.clean).flatten(1)
    expect = rb.clean.flatten(1) * torch.tensor(rb.shot)[:, None] + torch.tensor(rb.read)[:, None]
    ratio = resid.var(1) / expect.mean(1)
    assert torch.all((ratio > 0.85) & (ratio < 1.15)), ratio
    assert rb.std.shape == rb.noisy.shape


def _jpeg(img: np.ndarray, q: int) -> Image.Image:
    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    assert ok
    return Image.open(io.BytesIO(buf.tobytes()))


def _photo_like(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.random((24, 32, 3)).astype(np.float32), (256, 192))
    detail = cv2.GaussianBlur(rng.random((192, 256, 3)).astype(np.float32), (0, 0), 1.2)
    return np.clip((0.7 * base + 0.5 * detail) * 255, 0, 255).astype(np.uint8)


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=5, max_value=95))
def test_quality_from_tables_inverts_libjpeg(q: int) -> None:
    im = _jpeg(_photo_like(0), q)
    assert quality_from_tables(im.quantization) == pytest.approx(q, abs=1.0)


@pytest.mark.parametrize("q", [10, 30, 60, 80])
def test_quality_from_pixels_of_a_decoded_jpeg(q: int) -> None:
    dec = np.asarray(_jpeg(_photo_like(q), q).convert("RGB"), np.float32) / 255.0
    est = estimate_quality_from_pixels(dec)
    assert est is not None and abs(est - q) <= 3


@pytest.mark.parametrize("q", [15, 50, 85])
def test_quality_from_pixels_of_a_large_photo_reads_a_spread_of_its_blocks(q: int) -> None:
    """Over `max_blocks` blocks, every n-th block row and column is read (on the file's
    grid): the quality of all of them, within 1 from a few hundred blocks (a 12 MP photo
    took 2-3 s; `benchmarks/jpeg_quality_spread.py` compares real photos)."""
    img = np.concatenate([np.concatenate([_photo_like(s + 3 * r) for s in range(3)], 1)
                          for r in range(2)], 0)  # fmt: skip
    dec = np.asarray(_jpeg(img, q).convert("RGB"), np.float32) / 255.0
    whole = estimate_quality_from_pixels(dec)
    assert whole is not None and abs(whole - q) <= 3
    for cap in (1200, 300):  # every 2nd and every 4th block row and column
        spread = estimate_quality_from_pixels(dec, max_blocks=cap)
        assert spread is not None and abs(spread - whole) <= 1
    # a photo whose grid starts 3 pixels in is read as no JPEG, spread or not: the spread
    # keeps the grid the photo has
    moved = dec[3:, 3:]
    assert estimate_quality_from_pixels(moved, max_blocks=300) is None


def test_no_quality_for_a_photo_never_compressed() -> None:
    img = _photo_like(7).astype(np.float32) / 255.0
    assert estimate_quality_from_pixels(img) is None
    assert quality_from_tables(None) is None
    assert ijg_table(STD_LUMA, 50)[0, 0] == 16


@pytest.mark.parametrize(("square", "offset"), [(5, 0), (8, 3), (16, 3)])
def test_no_quality_for_a_drawing_of_a_few_exact_values(square: int, offset: int) -> None:
    """A checkerboard's DCT coefficients repeat a few exact values, which lined up with a
    quantisation step by chance (quality 7-8 was read): a drawing is not a JPEG."""
    y, x = np.mgrid[0:256, 0:256]
    board = (((x + offset) // square + (y + offset) // square) % 2).astype(np.float32)
    img = np.repeat(board[..., None], 3, axis=2)
    assert estimate_quality_from_pixels(img) is None


def test_tiny_pictures_get_a_constant_level_not_an_error() -> None:
    rng = np.random.default_rng(4)
    tiny = (0.3 + 0.01 * rng.standard_normal((6, 8, 4))).astype(np.float32)
    est = estimate_profile(tiny)
    assert est.shot == 0.0 and 2e-5 < est.read < 5e-4
    assert estimate_profile(np.zeros((1, 1, 4), np.float32)).read > 0
