"""Blind noise-level estimation: `estimate_noise_sigma(rgb) -> float` (0-255 scale).

PCA of image patches (Chen, Zhu and Heng, "An Efficient Statistical Method for Image Noise
Level Estimation", ICCV 2015): for white noise of variance s^2, the smallest eigenvalues of
the patch covariance all equal s^2, while image structure lives in a few large ones. The
estimate is the mean of the longest tail of small eigenvalues whose mean is also their median.
It is done per channel (robust to greyscale photos stored as RGB, where the three channels
are identical) and the channel estimates are averaged. Unlike the wavelet MAD estimator
(Donoho), texture barely biases it, so it stays near 0 on clean photos.

Large images are sampled on a strided grid of patch positions so the cost stays bounded
(about 0.1 s for a 24 MP photo).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

PATCH = 7
MAX_PATCHES = 20_000


def _tail_variance(eig: np.ndarray) -> float:
    """Chen et al.'s rule on ascending eigenvalues: largest tail whose mean equals its median."""
    eig = np.sort(np.clip(eig, 0.0, None))
    d = len(eig)
    for k in range(d, 0, -1):  # k smallest eigenvalues
        tail = eig[:k]
        tau = float(tail.mean())
        if tau <= float(np.median(tail)):
            return tau
    return float(eig[0])


def _patches(ch: np.ndarray, patch: int, max_patches: int = MAX_PATCHES) -> np.ndarray:
    h, w = ch.shape
    n_pos = (h - patch + 1) * (w - patch + 1)
    stride = max(1, int(math.ceil(math.sqrt(n_pos / max_patches))))
    win = np.lib.stride_tricks.sliding_window_view(ch, (patch, patch))[::stride, ::stride]
    return win.reshape(-1, patch, patch).astype(np.float64)


def _gradient_energy(p: np.ndarray) -> np.ndarray:
    return (np.diff(p, axis=1) ** 2).sum(axis=(1, 2)) + (np.diff(p, axis=2) ** 2).sum(axis=(1, 2))


@lru_cache(maxsize=4)
def _noise_energy_quantile(patch: int, q: float = 0.99) -> float:
    """Gradient energy that unit-variance white noise stays under with probability q."""
    rng = np.random.default_rng(12345)
    return float(np.quantile(_gradient_energy(rng.standard_normal((20000, patch, patch))), q))


def _pca_sigma2(p: np.ndarray) -> float:
    x = p.reshape(len(p), -1)
    x = x - x.mean(axis=0, keepdims=True)
    cov = (x.T @ x) / max(1, x.shape[0] - 1)
    return _tail_variance(np.linalg.eigvalsh(cov))


def _channel_sigma(ch: np.ndarray, patch: int, max_patches: int = MAX_PATCHES) -> float:
    """PCA estimate, refined on weak-texture patches (Liu, Tanaka and Okutomi 2013): keep
    the patches whose gradient energy noise alone could explain, re-estimate, repeat."""
    h, w = ch.shape
    if h < patch + 2 or w < patch + 2:
        return 0.0
    p = _patches(ch, patch, max_patches)
    # patches touching the clipping levels hide part of their noise: leave them out
    lo, hi = p.min(axis=(1, 2)), p.max(axis=(1, 2))
    unclipped = (lo > 0.5) & (hi < 254.5)
    if int(unclipped.sum()) >= max(4 * patch * patch, len(p) // 10):
        p = p[unclipped]
    energy = _gradient_energy(p)
    q = _noise_energy_quantile(patch)
    s2 = _pca_sigma2(p)
    min_keep = max(4 * patch * patch, len(p) // 200)
    for _ in range(4):
        keep = energy < s2 * q
        if int(keep.sum()) < min_keep:
            break
        new = _pca_sigma2(p[keep])
        if abs(new - s2) <= 1e-3 * max(s2, 1e-6):
            s2 = new
            break
        s2 = new
    return math.sqrt(max(0.0, s2))


def estimate_noise_sigma(
    rgb: np.ndarray, *, patch: int = PATCH, max_patches: int = MAX_PATCHES
) -> float:
    """Standard deviation of additive white noise in ``rgb`` on the 0-255 scale.

    ``rgb``: (H, W, 3) or (H, W) float in [0, 1] (the core image contract). Returns 0.0 for
    images too small to measure. ``max_patches`` bounds the patch positions sampled per
    channel (fewer: faster, noisier; training uses fewer on small patches).
    """
    img = np.asarray(rgb, dtype=np.float32)
    if img.ndim == 2:
        img = img[..., None]
    sigmas = [_channel_sigma(img[..., c] * 255.0, patch, max_patches) for c in range(img.shape[2])]
    return float(np.mean(sigmas)) if sigmas else 0.0
