"""Noise in a camera's raw data: the Poisson-Gaussian model, its per-ISO profile and an
estimate from the file itself.

In the raw mosaic, normalised to [0, 1] by the file's black and white levels, each
photosite's noise is independent with variance

    var(x) = shot * x + read

(``shot``: photon shot noise, proportional to the signal; ``read``: read-out and other
signal-independent noise, a variance). Both grow with the ISO setting. Brooks et al. 2019
("Unprocessing images for learned raw denoising", CVPR) observed that over many cameras
``log(read)`` is close to a straight line in ``log(shot)``; `REFERENCE_PROFILE` uses their
fitted line, with ``shot`` for a full-frame sensor (about 40,000 electrons at the white level
at ISO 100, so ``shot = ISO / 100 / 40000``).

`estimate_profile(packed)` measures (shot, read) on the photo itself (Foi et al. 2008,
"Practical Poissonian-Gaussian noise modeling and fitting for single-image raw-data"): the
finest diagonal Haar detail of each Bayer plane is almost pure noise on smooth parts of the
picture; its robust variance (from the median absolute deviation) is measured in bins of
local brightness and a straight line ``var = shot * x + read`` is fitted through the bins
(weighted, robust to textured bins, constrained to non-negative values).

Everything here is numpy on (H, W, 4) packed Bayer planes (R, G1, G2, B) or any (H, W, C)
array of photosites; nothing imports Qt or torch.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

#: full-frame sensor: electrons at the white level at ISO 100 (for `REFERENCE_PROFILE`)
FULL_FRAME_ELECTRONS_AT_WHITE = 40_000.0
#: Brooks et al. 2019: log(read) = 2.18 log(shot) + 1.20 (natural logs, variances)
LOG_READ_SLOPE = 2.18
LOG_READ_INTERCEPT = 1.20
#: scale of the per-pixel noise standard deviation fed to the RAW denoiser
RAW_MAP_SCALE = 20.0
#: ``LoadOptions.params`` key: the `NoiseProfile` Auto measured on the whole photo, for a
#: part of it (a preview) that Auto would measure differently (`core.rawpipe`)
MEASURED_PROFILE = "measured_noise_profile"


@dataclass(frozen=True)
class NoiseProfile:
    """Poisson-Gaussian noise of normalised raw data: ``var = shot * x + read`` per
    photosite, and optionally ``row``: the variance of one offset shared by all the
    photosites of a mosaic row (banding; `row_noise`), which is not part of `variance`."""

    shot: float
    read: float
    row: float = 0.0

    def variance(self, x: np.ndarray) -> np.ndarray:
        return self.shot * np.maximum(x, 0.0) + self.read

    def scaled(self, factor: float) -> NoiseProfile:
        """The profile with its standard deviation multiplied by ``factor``."""
        f2 = float(factor) ** 2
        return NoiseProfile(self.shot * f2, self.read * f2, self.row * f2)

    def to_json(self) -> dict[str, float]:
        return {"shot": self.shot, "read": self.read, **({"row": self.row} if self.row else {})}

    @classmethod
    def from_json(cls, d: dict[str, float]) -> NoiseProfile:
        return cls(float(d["shot"]), float(d["read"]), float(d.get("row", 0.0)))


def read_from_shot(shot: float) -> float:
    """Brooks et al.'s read-noise variance for a shot-noise level (no random jitter)."""
    return math.exp(LOG_READ_SLOPE * math.log(shot) + LOG_READ_INTERCEPT)


def reference_profile(iso: float) -> NoiseProfile:
    """The noise of a typical full-frame camera at ``iso`` (see the module doc)."""
    shot = float(iso) / 100.0 / FULL_FRAME_ELECTRONS_AT_WHITE
    return NoiseProfile(shot, read_from_shot(shot))


def std_map(noisy: np.ndarray, profile: NoiseProfile) -> np.ndarray:
    """Per-photosite noise standard deviation, from the noisy values themselves (the clean
    ones are unknown), scaled by `RAW_MAP_SCALE` for the network."""
    var = profile.shot * np.maximum(noisy, 0.0) + profile.read
    return (np.sqrt(np.maximum(var, 1e-12)) * RAW_MAP_SCALE).astype(np.float32)


def _haar(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(finest diagonal Haar detail, local mean) on 2x2 blocks of one plane. For independent
    noise of variance v the detail has variance v (the four signs cancel smooth signal)."""
    h, w = plane.shape[0] // 2 * 2, plane.shape[1] // 2 * 2
    p = plane[:h, :w].astype(np.float64)
    a, b, c, d = p[0::2, 0::2], p[0::2, 1::2], p[1::2, 0::2], p[1::2, 1::2]
    return (a - b - c + d) / 2.0, (a + b + c + d) / 4.0


def _activity(mean: np.ndarray) -> np.ndarray:
    """Texture around each block, from its neighbours' means (central differences): it does
    not contain the block's own noise, so selecting quiet blocks does not bias their noise."""
    m = np.pad(mean, 1, mode="edge")
    return np.abs(m[1:-1, 2:] - m[1:-1, :-2]) + np.abs(m[2:, 1:-1] - m[:-2, 1:-1])


def noise_bins(
    packed: np.ndarray, *, bins: int = 16, min_count: int = 200, quiet: float = 0.3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(brightness, noise variance, samples) per brightness bin, pooled over the planes.

    In each bin only the ``quiet`` fraction of blocks with the least texture around them
    is used (`_activity`), and their variance is robust: (1.4826 * MAD)^2 of the Haar
    details. Bins with fewer than ``min_count`` such blocks are dropped.
    """
    if packed.ndim == 2:
        packed = packed[:, :, None]
    details, means, acts = [], [], []
    for c in range(packed.shape[2]):
        d, m = _haar(packed[:, :, c])
        details.append(d.ravel())
        means.append(m.ravel())
        acts.append(_activity(m).ravel())
    det = np.concatenate(details)
    mean = np.concatenate(means)
    act = np.concatenate(acts)
    keep = (mean < 0.95) & np.isfinite(det) & np.isfinite(mean)  # clipped noise has no spread
    det, mean, act = det[keep], mean[keep], act[keep]
    if det.size < min_count:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    lo, hi = np.quantile(mean, [0.005, 0.995])
    edges = np.linspace(lo, hi, bins + 1)
    idx = np.clip(np.searchsorted(edges, mean, side="right") - 1, 0, bins - 1)
    xs, vs, ns = [], [], []
    for k in range(bins):
        sel = np.flatnonzero(idx == k)
        if sel.size * quiet < min_count:
            continue
        calm = sel[act[sel] <= np.quantile(act[sel], quiet)]
        dk = det[calm]
        mad = float(np.median(np.abs(dk - np.median(dk))))
        xs.append(float(np.median(mean[calm])))
        vs.append((1.4826 * mad) ** 2)
        ns.append(calm.size)
    return np.array(xs), np.array(vs), np.array(ns, dtype=np.float64)


def _interquartile_mean(a: np.ndarray) -> np.ndarray:
    """Per row of ``a`` (NaN: missing), the mean of the values between its quartiles."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN
        q1, q3 = np.nanpercentile(a, [25, 75], axis=1, keepdims=True)
        return np.nanmean(np.where((a >= q1) & (a <= q3), a, np.nan), axis=1)


def _robust_var(a: np.ndarray) -> float:
    a = a[np.isfinite(a)]
    return float((1.4826 * np.median(np.abs(a - np.median(a)))) ** 2) if a.size else 0.0


def row_noise(packed: np.ndarray, *, segment: int = 16) -> float | None:
    """Variance of a per-row offset (banding) in (H, W, 4) packed planes R, G1, G2, B:
    planes R and G1 come from one mosaic row, G2 and B from the next, so a row offset is
    shared by the two planes of a row while their photosite noise is independent.

    Each plane's rows are averaged over segments of ``segment`` columns (segments with a
    clipped photosite left out) and high-passed across rows (``m[j] - (m[j-1] + m[j+1]) / 2``,
    which removes smooth picture content and keeps 1.5 times an offset's variance). For a
    row's two planes a and b, the interquartile mean over the segments of ``a + b`` holds
    twice the offset and of ``a - b`` none of it, with the same photosite noise: the
    difference of their robust variances over the rows is 4 x 1.5 x the offset's variance,
    free of the photosite noise. Texture running along rows still adds a little; None when
    the picture has too few rows or segments to tell.
    """
    if packed.ndim != 3 or packed.shape[2] != 4:
        return None
    h, w = packed.shape[:2]
    k = w // segment
    if h < 16 or k < 4:
        return None
    p = packed[:, : k * segment].astype(np.float64).reshape(h, k, segment, 4)
    m = np.where(p.max(axis=2) < 0.95, p.mean(axis=2), np.nan)  # (h, k, 4)
    hp = m[1:-1] - 0.5 * (m[:-2] + m[2:])
    est = []
    for a, b in ((0, 1), (2, 3)):
        both = _interquartile_mean(hp[..., a] + hp[..., b])
        diff = _interquartile_mean(hp[..., a] - hp[..., b])
        if np.isfinite(both).sum() < 8:
            continue
        est.append((_robust_var(both) - _robust_var(diff)) / 6.0)
    return max(float(np.mean(est)), 0.0) if est else None


def fit_profile(x: np.ndarray, var: np.ndarray, weight: np.ndarray | None = None) -> NoiseProfile:
    """Fit ``var = shot * x + read`` (both >= 0) through (brightness, variance) points.

    Weighted least squares with weights ~ samples / var^2 (the variance of a variance
    estimate grows with its square), two rounds of down-weighting points far above the
    line (texture inflates a bin's variance, never lowers it).
    """
    x = np.asarray(x, np.float64)
    var = np.asarray(var, np.float64)
    if x.size == 0:
        raise ValueError("no smooth areas to measure the noise on")
    wt = np.ones_like(x) if weight is None else np.asarray(weight, np.float64)
    wt = wt / np.maximum(var, 1e-14) ** 2
    shot, read = 0.0, float(np.median(var))
    for _ in range(3):
        if x.size >= 2 and np.ptp(x) > 1e-6:
            a = np.stack([x, np.ones_like(x)], axis=1) * np.sqrt(wt)[:, None]
            sol, *_ = np.linalg.lstsq(a, var * np.sqrt(wt), rcond=None)
            shot, read = float(sol[0]), float(sol[1])
        if shot < 0:  # no signal dependence measurable: a constant
            shot = 0.0
            read = float(np.sum(wt * var) / np.sum(wt))
        if read < 0:  # through the origin
            read = 0.0
            shot = float(np.sum(wt * x * var) / max(np.sum(wt * x * x), 1e-30))
        pred = shot * x + read
        resid = var / np.maximum(pred, 1e-14)
        wt = np.where(resid > 1.5, wt / np.maximum(resid, 1.0) ** 4, wt)
    return NoiseProfile(max(shot, 0.0), max(read, 1e-10))


def estimate_profile(packed: np.ndarray) -> NoiseProfile:
    """Measure the photo's own Poisson-Gaussian noise (see the module doc). Small pictures
    get fewer, smaller brightness bins; a picture too small even for that gets a constant
    (signal-independent) level from all its blocks."""
    if packed.shape[0] < 2 or packed.shape[1] < 2:
        return NoiseProfile(0.0, 1e-10)  # not one 2x2 block: nothing to measure
    blocks = (
        packed.shape[0] // 2 * (packed.shape[1] // 2) * (packed.shape[2] if packed.ndim == 3 else 1)
    )
    min_count = int(np.clip(blocks // 100, 20, 200))
    xs, vs, ns = noise_bins(packed, min_count=min_count)
    if xs.size >= 2:
        return fit_profile(xs, vs, ns)
    details = [
        _haar(packed[:, :, c] if packed.ndim == 3 else packed)[0].ravel()
        for c in range(packed.shape[2] if packed.ndim == 3 else 1)
    ]
    d = np.concatenate(details) if details else np.zeros(0)
    if d.size == 0:
        return NoiseProfile(0.0, 1e-10)
    mad = float(np.median(np.abs(d - np.median(d))))
    return NoiseProfile(0.0, max((1.4826 * mad) ** 2, 1e-10))
