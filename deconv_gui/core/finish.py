"""Amount and Detail: finishing a model's result against its input, without rerunning it.

*Amount* (0-1) blends the result with the input: ``input + amount * (result - input)``.
*Detail* (0-1) gives back fine detail the model removed together with the noise, as
darktable's neural restore does with its wavelet detail recovery: what the model took away
(``removed = input - result``) is split into its three finest Laplacian-pyramid bands; in each
band and channel the noise it removed is a small-amplitude, Gaussian-like part whose spread is
measured robustly (MAD), and everything above ``DETAIL_K`` times that spread is structure
(edges, texture) rather than noise. ``detail`` returns that share, soft-thresholded so there is
no hard edge between what is kept and what is not.

For an upscaler the input is first enlarged to the result's size with Lanczos (the same
"before" the compare view shows), so Amount 0 gives the Lanczos enlargement.

The functions are cheap (a few blurs): the app reapplies them live on the screen's preview
as the sliders move, and the CLI applies them after the model (``--amount``, ``--detail``).
"""

from __future__ import annotations

import cv2
import numpy as np

#: removed band values above DETAIL_K noise spreads count as detail
DETAIL_K = 2.5


def match_size(before: np.ndarray, result: np.ndarray) -> np.ndarray:
    """``before`` resized (Lanczos) to ``result``'s size when they differ."""
    if before.shape[:2] == result.shape[:2]:
        return np.asarray(before, np.float32)
    h, w = result.shape[:2]
    up = cv2.resize(np.asarray(before, np.float32), (w, h), interpolation=cv2.INTER_LANCZOS4)
    return np.clip(up, 0.0, 1.0).reshape(result.shape)


def _bands(x: np.ndarray) -> list[np.ndarray]:
    """The three finest bands of a Laplacian-style (difference of Gaussians) pyramid."""
    b1 = cv2.GaussianBlur(x, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
    b2 = cv2.GaussianBlur(x, (0, 0), 2.0, borderType=cv2.BORDER_REFLECT)
    b4 = cv2.GaussianBlur(x, (0, 0), 4.0, borderType=cv2.BORDER_REFLECT)
    return [x - b1, b1 - b2, b2 - b4]


def _robust_sigma(band: np.ndarray) -> np.ndarray:
    """Per-channel noise spread of a band (1.4826 * MAD), sampled on a grid for speed."""
    step = max(1, int(np.sqrt(band.shape[0] * band.shape[1] / 250_000)))
    s = band[::step, ::step].reshape(-1, band.shape[2])
    med = np.median(s, axis=0)
    return 1.4826 * np.median(np.abs(s - med), axis=0) + 1e-6


def recovered_detail(before: np.ndarray, result: np.ndarray) -> np.ndarray:
    """The part of what the model removed that stands out from the removed noise (full
    strength; `finish` scales it by ``detail``)."""
    removed = np.asarray(before, np.float32) - np.asarray(result, np.float32)
    out = np.zeros_like(removed)
    for band in _bands(removed):
        t = DETAIL_K * _robust_sigma(band)
        out += np.sign(band) * np.maximum(np.abs(band) - t, 0.0)
    return out


def finish(
    before: np.ndarray,
    result: np.ndarray,
    *,
    amount: float = 1.0,
    detail: float = 0.0,
    clip: bool = True,
) -> np.ndarray:
    """Apply Amount and Detail (both 0-1) to a model's ``result`` of ``before`` (float32
    (H, W, C) in [0, 1]; ``before`` may be smaller, e.g. an upscaler's input). Amount 1,
    Detail 0 returns the result unchanged (the same array). ``clip=False`` keeps values
    outside [0, 1] (a raw mosaic's noise below black)."""
    amount = float(np.clip(amount, 0.0, 1.0))
    detail = float(np.clip(detail, 0.0, 1.0))
    if amount >= 1.0 and detail <= 0.0:
        return result
    base = match_size(before, result)
    out = np.asarray(result, np.float32)
    if detail > 0.0:
        out = out + np.float32(detail) * recovered_detail(base, out)
    if amount < 1.0:
        out = base + amount * (out - base)
    return (np.clip(out, 0.0, 1.0) if clip else out).astype(np.float32)
