"""The RAW denoiser's measuring kit: synthetic-raw DNG pairs and the baseline rows."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from deconv_gui.core.raw import open_raw
from deconv_gui.training import raw_eval
from deconv_gui.training.raw_testset import make_dng_set


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dngset")
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:64, 0:96]
    rgb = np.stack([xx * 2, yy * 3, (xx + yy) % 255], axis=-1).astype(np.uint8)
    rgb = np.clip(rgb.astype(int) + rng.integers(-10, 10, rgb.shape), 0, 255).astype(np.uint8)
    path = folder / "photo.png"
    Image.fromarray(rgb).save(path)
    return make_dng_set([path], 12800, folder / "set")


def test_noisy_row_scores_the_noise_and_the_set_is_reused(pairs, tmp_path):
    res = raw_eval.evaluate_dng_set(raw_eval.noisy_method, pairs).mean
    # ISO 12800 noise on a 14-bit mosaic: clearly noisy, not identical
    assert 20.0 < res["raw_psnr"] < 45.0
    assert res["srgb_psnr"] < res["raw_psnr"] + 10
    again = make_dng_set(
        [p.clean.parent.parent / "photo.png" for p in pairs], 12800, pairs[0].clean.parent
    )
    assert again[0].noisy.stat().st_mtime_ns == pairs[0].noisy.stat().st_mtime_ns


@pytest.mark.skipif(
    not raw_eval.libraw_available(),
    reason="LibRaw's dcraw_emu not installed "
    "(Debian package libraw-bin); the LibRaw wavelet baseline cannot run",
)
def test_libraw_wavelets_round_trip_the_mosaic(pairs):
    noisy = open_raw(pairs[0].noisy)
    # threshold 0 is no denoising: the mosaic comes back exactly (so the scaling is right),
    # except that LibRaw clips the noise below black to black
    mosaic, _ = raw_eval.libraw_wavelet_method(0)(noisy, pairs[0])
    assert np.array_equal(mosaic, np.maximum(noisy.mosaic, min(noisy.black_levels)))
    smoothed, _ = raw_eval.libraw_wavelet_method(3200)(noisy, pairs[0])
    clean = open_raw(pairs[0].clean)
    err = lambda m: float(np.mean((noisy.normalized(m) - clean.normalized()) ** 2))  # noqa: E731
    assert err(smoothed) < err(noisy.mosaic)
