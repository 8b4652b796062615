"""`estimate_noise_sigma` against known Gaussian noise levels on clean-ish images."""

from __future__ import annotations

import numpy as np
import pytest

from deconv_gui.core.noise import estimate_noise_sigma


def clean_image(seed: int = 0, h: int = 200, w: int = 240) -> np.ndarray:
    """Smooth colour gradients with a few sharp edges (no noise of its own)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([0.5 + 0.3 * np.sin(x / 23 + c) * np.cos(y / 31 - c) for c in range(3)], axis=-1)
    for _ in range(6):  # flat rectangles: edges that must not count as noise
        y0, x0 = rng.integers(0, h - 40), rng.integers(0, w - 40)
        img[y0 : y0 + 40, x0 : x0 + 40] = rng.random(3)
    return np.round(np.clip(img, 0, 1) * 255) / 255


def noisy(img: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = img + rng.standard_normal(img.shape) * sigma / 255.0
    return (np.round(np.clip(n, 0, 1) * 255) / 255).astype(np.float32)


@pytest.mark.parametrize("sigma", [5, 10, 15, 25, 35, 50])
def test_estimates_known_gaussian_levels(sigma: float) -> None:
    est = estimate_noise_sigma(noisy(clean_image(), sigma))
    assert est == pytest.approx(sigma, rel=0.12, abs=1.0)


def test_clean_image_reads_low() -> None:
    assert estimate_noise_sigma(clean_image().astype(np.float32)) < 2.0


def test_monotonic_and_greyscale_safe() -> None:
    img = clean_image(3)
    ests = [estimate_noise_sigma(noisy(img, s)) for s in (5, 15, 30)]
    assert ests == sorted(ests)
    grey = np.repeat(noisy(img, 20)[..., :1], 3, axis=2)  # identical channels
    assert estimate_noise_sigma(grey) == pytest.approx(20, rel=0.15)
    assert estimate_noise_sigma(grey[..., 0]) == pytest.approx(20, rel=0.15)


def test_tiny_image_gives_zero() -> None:
    assert estimate_noise_sigma(np.zeros((4, 4, 3), np.float32)) == 0.0
