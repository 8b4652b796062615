"""Image quality metrics: SSIM (Wang et al. 2004) and PSNR, fast enough to run live.

SSIM follows the paper and scikit-image's ``structural_similarity(..., gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=R)``: local statistics under an 11x11
Gaussian window (sigma 1.5, truncated at 3.5 sigma), K1 = 0.01, K2 = 0.03, population
covariance; the score is the mean of the SSIM map over the pixels at least 5 px from the
border (skimage's crop), averaged over the channels. The map returned for display covers the
whole image (borders are reflected, as scipy's ``mode="reflect"``).

Speed: the work runs on small tiles (with a 5 px halo) so every intermediate stays in cache,
in float32 with buffers reused per worker thread, spread over ``cv2.getNumThreads()`` threads
(OpenCV releases the GIL). Instead of the five usual moments (mu_x, mu_y, E[x^2], E[y^2],
E[xy]) it filters four, those of s = x + y and d = x - y:

    2 mu_x mu_y = (mu_s^2 - mu_d^2) / 2       mu_x^2 + mu_y^2 = (mu_s^2 + mu_d^2) / 2
    2 cov_xy    = (var_s - var_d) / 2         var_x + var_y   = (var_s + var_d) / 2

so SSIM = (mu_s^2 - mu_d^2 + 2 C1)(var_s - var_d + 2 C2) / ((mu_s^2 + mu_d^2 + 2 C1)(var_s +
var_d + 2 C2)). Values are scaled by 1 / data_range and s is centred (s - 1) before the
squares, which keeps float32 cancellation in var = E[s^2] - E[s]^2 far below 1e-4 of SSIM.

No Qt and no torch here; only numpy and OpenCV.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

__all__ = ["psnr", "rgb_to_y", "shave", "ssim", "ssim_and_map", "ssim_map"]

K1 = 0.01
K2 = 0.03
SIGMA = 1.5
RADIUS = 5  # int(3.5 * sigma + 0.5): scipy's truncate=3.5, an 11x11 window
WIN_SIZE = 2 * RADIUS + 1

_TILE_ROWS = 64  # measured on 12 MP: 64 x 512 px (RGB) keeps a worker's buffers in L2/L3
_TILE_ELEMS = 512 * 3  # tile width in floats (512 RGB px, 1536 grey px)
_MAX_WORKERS = 8

# cv2 can take these dtypes directly; anything else is converted to float64 first.
_CV_DTYPES = {np.dtype(t) for t in (np.uint8, np.uint16, np.int16, np.float32, np.float64)}


def _gaussian_window() -> np.ndarray:
    x = np.arange(-RADIUS, RADIUS + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / SIGMA) ** 2)
    return (g / g.sum()).astype(np.float32).reshape(-1, 1)


_WINDOW = _gaussian_window()


def _prepare_pair(a: np.ndarray, b: np.ndarray, data_range: float) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images must have the same shape, got {a.shape} and {b.shape}")
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3)):
        raise ValueError(f"expected an (H, W), (H, W, 1) or (H, W, 3) image, got shape {a.shape}")
    if not (math.isfinite(data_range) and data_range > 0):
        raise ValueError(f"data_range must be a positive number, got {data_range}")
    if a.dtype != b.dtype or a.dtype not in _CV_DTYPES:
        a = a.astype(np.float64)
        b = b.astype(np.float64)
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


def _crop(size: int) -> int:
    """Border left out of the mean: RADIUS (skimage's crop), or 0 for a side under 11 px."""
    return RADIUS if size >= WIN_SIZE else 0


def _worker_count(n_tiles: int) -> int:
    return max(1, min(cv2.getNumThreads(), os.cpu_count() or 1, _MAX_WORKERS, n_tiles))


class _TileWorker:
    """Computes the SSIM map of one tile at a time; owns its scratch buffers."""

    def __init__(
        self, x: np.ndarray, y: np.ndarray, data_range: float, tile_shape: tuple[int, int]
    ):
        self.x, self.y = x, y
        self.h, self.w = x.shape[:2]
        self.c = 1 if x.ndim == 2 else x.shape[2]
        self.inv = 1.0 / float(data_range)
        th, tw = tile_shape
        size = (th + 2 * RADIUS) * (tw + 2 * RADIUS) * self.c
        self._bufs = [np.empty(size, np.float32) for _ in range(8)]
        self._mean_weights = np.full((1, self.c), 1.0 / self.c, np.float32)

    def _views(self, count: int, h: int, w: int) -> list[np.ndarray]:
        shape = (h, w) if self.c == 1 else (h, w, self.c)
        n = h * w * self.c
        return [buf[:n].reshape(shape) for buf in self._bufs[:count]]

    def run(self, box: tuple[int, int, int, int], out_map: np.ndarray | None) -> float:
        """SSIM map over rows r0:r1, cols c0:c1; returns the sum of its cropped part.

        Writes the channel-mean map into ``out_map[r0:r1, c0:c1]`` when given.
        """
        r0, r1, c0, c1 = box
        h, w, inv = self.h, self.w, self.inv
        # Input window with a RADIUS halo (reflected by OpenCV at the true image borders only;
        # inside, the halo pixels that see the tile edge are computed but thrown away).
        lr, hr = max(0, r0 - RADIUS), min(h, r1 + RADIUS)
        lc, hc = max(0, c0 - RADIUS), min(w, c1 + RADIUS)
        xs, ys = self.x[lr:hr, lc:hc], self.y[lr:hr, lc:hc]
        s, d, ss, dd, ms, md, mss, mdd = self._views(8, hr - lr, hc - lc)
        f32 = cv2.CV_32F
        cv2.addWeighted(xs, inv, ys, inv, -1.0, dst=s, dtype=f32)  # (x + y) / R - 1
        cv2.addWeighted(xs, inv, ys, -inv, 0.0, dst=d, dtype=f32)  # (x - y) / R
        cv2.multiply(s, s, dst=ss)
        cv2.multiply(d, d, dst=dd)
        for src, dst in ((s, ms), (d, md), (ss, mss), (dd, mdd)):
            cv2.sepFilter2D(
                src, f32, _WINDOW, _WINDOW, dst=dst, delta=0.0, borderType=cv2.BORDER_REFLECT
            )
        inner = (slice(r0 - lr, r1 - lr), slice(c0 - lc, c1 - lc))
        ms, md, mss, mdd = ms[inner], md[inner], mss[inner], mdd[inner]
        # Scratch for the formula: the first four buffers, no longer needed.
        t1, t2, t3, t4 = self._views(4, r1 - r0, c1 - c0)
        c1_2, c2_2 = 2.0 * K1 * K1, 2.0 * K2 * K2
        cv2.multiply(md, md, dst=t2)  # mu_d^2
        cv2.subtract(mdd, t2, dst=mdd)  # var_d
        cv2.multiply(ms, ms, dst=t3)  # (mu_s - 1)^2
        cv2.subtract(mss, t3, dst=mss)  # var_s (shift invariant)
        np.add(ms, np.float32(1.0), out=t1)  # mu_s
        cv2.multiply(t1, t1, dst=t1)  # mu_s^2
        cv2.addWeighted(t1, 1.0, t2, -1.0, c1_2, dst=t3)  # A1 = 4 mu_x mu_y + 2 C1
        cv2.addWeighted(t1, 1.0, t2, 1.0, c1_2, dst=t4)  # B1 = 2 (mu_x^2 + mu_y^2) + 2 C1
        cv2.addWeighted(mss, 1.0, mdd, -1.0, c2_2, dst=t1)  # A2 = 4 cov + 2 C2
        cv2.addWeighted(mss, 1.0, mdd, 1.0, c2_2, dst=t2)  # B2 = 2 (var_x + var_y) + 2 C2
        cv2.multiply(t3, t1, dst=t3)
        cv2.multiply(t4, t2, dst=t4)
        smap = cv2.divide(t3, t4, dst=t3)

        if out_map is not None:
            target = out_map[r0:r1, c0:c1]
            if self.c == 1:
                np.copyto(target, smap)
            else:
                cv2.transform(smap, self._mean_weights, dst=target)
        # skimage averages only pixels at least RADIUS from the image border.
        cr, cc = _crop(h), _crop(w)
        a0, a1 = max(r0, cr), min(r1, h - cr)
        b0, b1 = max(c0, cc), min(c1, w - cc)
        if a1 <= a0 or b1 <= b0:
            return 0.0
        sums = cv2.sumElems(smap[a0 - r0 : a1 - r0, b0 - c0 : b1 - c0])
        return float(sum(sums[: self.c]))


def _ssim_impl(
    a: np.ndarray, b: np.ndarray, data_range: float, want_map: bool
) -> tuple[float, np.ndarray | None]:
    x, y = _prepare_pair(a, b, data_range)
    h, w = x.shape[:2]
    if h == 0 or w == 0:
        raise ValueError(f"cannot compute SSIM of an empty image (shape {x.shape})")
    channels = 1 if x.ndim == 2 else x.shape[2]
    th = _TILE_ROWS
    tw = max(64, _TILE_ELEMS // channels)
    boxes = [
        (r0, min(r0 + th, h), c0, min(c0 + tw, w))
        for r0 in range(0, h, th)
        for c0 in range(0, w, tw)
    ]
    out_map = np.empty((h, w), np.float32) if want_map else None
    n_workers = _worker_count(len(boxes))
    tiles: Iterator[tuple[int, int, int, int]] = iter(boxes)
    lock = threading.Lock()

    def work() -> float:
        worker = _TileWorker(x, y, data_range, (th, tw))
        total = 0.0
        while True:
            with lock:
                box = next(tiles, None)
            if box is None:
                return total
            total += worker.run(box, out_map)

    if n_workers == 1:
        total = work()
    else:
        with ThreadPoolExecutor(n_workers, thread_name_prefix="ssim") as pool:
            futures = [pool.submit(work) for _ in range(n_workers)]
            total = sum(f.result() for f in futures)
    count = (h - 2 * _crop(h)) * (w - 2 * _crop(w)) * channels
    return total / count, out_map


def ssim(a: np.ndarray, b: np.ndarray, *, data_range: float = 1.0) -> float:
    """Mean SSIM (Wang et al. 2004) of two images of the same shape, averaged over channels.

    ``a`` and ``b`` are (H, W), (H, W, 1) or (H, W, 3) arrays of any numeric dtype;
    ``data_range`` is the span of possible values (1.0 for the core's float images, 255 for
    8-bit, 65535 for 16-bit data). Matches skimage's ``structural_similarity(a, b,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=2,
    data_range=data_range)`` to about 1e-6. skimage refuses images under 11 px a side; here a
    side that short is averaged whole instead of losing its 5 px borders (no error, so small
    tiles of a live preview can be scored).
    """
    return _ssim_impl(a, b, data_range, want_map=False)[0]


def ssim_map(a: np.ndarray, b: np.ndarray, *, data_range: float = 1.0) -> np.ndarray:
    """Per-pixel SSIM, (H, W) float32, the mean over channels, covering the whole image."""
    out = _ssim_impl(a, b, data_range, want_map=True)[1]
    assert out is not None
    return out


def ssim_and_map(
    a: np.ndarray, b: np.ndarray, *, data_range: float = 1.0
) -> tuple[float, np.ndarray]:
    """`ssim` and `ssim_map` in one pass (the score is the map's border-cropped mean)."""
    score, out = _ssim_impl(a, b, data_range, want_map=True)
    assert out is not None
    return score, out


def psnr(a: np.ndarray, b: np.ndarray, *, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``; inf if identical."""
    x, y = _prepare_pair(a, b, data_range)
    # cv2.norm accumulates in float64 without a difference image; 2D view: any channel count.
    sq_err = cv2.norm(x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1), cv2.NORM_L2SQR)
    mse = sq_err / x.size
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(float(data_range) ** 2 / mse)


# MATLAB rgb2ycbcr, luma row, for RGB in [0, 1], output in [0, 1] ([16, 235] / 255).
_Y_TRANSFORM = np.array([[65.481, 128.553, 24.966, 16.0]], dtype=np.float64) / 255.0


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """BT.601 luma as MATLAB's ``rgb2ycbcr``: (16 + 65.481 R + 128.553 G + 24.966 B) / 255.

    ``img`` is (H, W, 3) RGB in [0, 1]; returns (H, W) float32 in [16/255, 235/255].
    """
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"rgb_to_y expects an (H, W, 3) RGB image, got shape {img.shape}")
    rgb = np.ascontiguousarray(img, dtype=np.float32)
    return cv2.transform(rgb, _Y_TRANSFORM.astype(np.float32))


def shave(img: np.ndarray, n: int) -> np.ndarray:
    """Drop ``n`` pixels on every side (the SR-evaluation border crop). Returns a view."""
    n = int(n)
    h, w = img.shape[:2]
    if n < 0:
        raise ValueError(f"shave width must be >= 0, got {n}")
    if 2 * n >= h or 2 * n >= w:
        raise ValueError(f"cannot shave {n} px from each side of a {w}x{h} image")
    if n == 0:
        return img
    return img[n : h - n, n : w - n]
