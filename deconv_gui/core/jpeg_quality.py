"""How hard was a photo JPEG-compressed? From its quantisation tables, or from its pixels.

A JPEG file stores the quantisation tables its encoder used. Most encoders (libjpeg and
everything built on it: cameras' firmware often too) scale the two example tables of the JPEG
standard (Annex K) by a quality setting q (IJG: ``scale = 5000 / q`` below 50, else
``200 - 2 q``, in percent). `quality_from_tables` finds the IJG quality whose tables are
closest (in log ratio) to the file's; for other encoders' tables this is an equivalent
quality, a fractional number.

A photo that is no longer a JPEG file (a PNG of a once-compressed photo) still carries the
traces: in each 8x8 block aligned to the image's origin, the DCT coefficients of the
luminance sit on multiples of the quantisation step (Fan & de Queiroz 2003, "Identification
of bitmap compression history"). `estimate_quality_from_pixels` measures that step for the
lowest frequencies and maps the steps to an IJG quality, or returns None when no
quantisation is found (never compressed, resized or cropped off the grid since).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

# JPEG standard Annex K tables, natural (row-major) order
STD_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.float64,
)
STD_CHROMA = np.array(
    [
        [17, 18, 24, 47, 99, 99, 99, 99],
        [18, 21, 26, 66, 99, 99, 99, 99],
        [24, 26, 56, 99, 99, 99, 99, 99],
        [47, 66, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
    ],
    dtype=np.float64,
)


def quality_map(quality: float) -> float:
    """What the JPEG artifact remover's one-channel map input carries for a JPEG quality
    (1-100): 0 = pristine, about 1 = the worst."""
    return (100.0 - float(quality)) / 100.0


def ijg_table(base: np.ndarray, quality: float) -> np.ndarray:
    """The table libjpeg writes for ``quality`` (1-100; fractional values interpolate)."""
    q = float(np.clip(quality, 1.0, 100.0))
    scale = 5000.0 / q if q < 50 else 200.0 - 2.0 * q
    return np.clip(np.floor((base * scale + 50.0) / 100.0), 1.0, 255.0)


_QUALITIES = np.arange(1, 101, dtype=np.float64)
_LUMA_TABLES = np.stack([ijg_table(STD_LUMA, q) for q in _QUALITIES])  # (100, 8, 8)
_CHROMA_TABLES = np.stack([ijg_table(STD_CHROMA, q) for q in _QUALITIES])


def quality_from_tables(tables: Mapping[int, Sequence[int]] | None) -> float | None:
    """The IJG quality (1-100) closest to a file's tables (Pillow's ``im.quantization``:
    table id -> 64 values in natural order; 0 is luminance, 1 chrominance). None when
    there are no usable tables."""
    if not tables or 0 not in tables or len(tables[0]) != 64:
        return None
    luma = np.asarray(tables[0], np.float64).reshape(8, 8)
    cost = np.abs(np.log(_LUMA_TABLES) - np.log(np.maximum(luma, 1.0))).sum(axis=(1, 2))
    if 1 in tables and len(tables[1]) == 64:
        chroma = np.asarray(tables[1], np.float64).reshape(8, 8)
        cost = cost + 0.5 * np.abs(np.log(_CHROMA_TABLES) - np.log(np.maximum(chroma, 1.0))).sum(
            axis=(1, 2)
        )
    k = int(np.argmin(cost))
    if 0 < k < 99:  # refine between neighbours: parabola through the three costs
        c0, c1, c2 = cost[k - 1], cost[k], cost[k + 1]
        den = c0 - 2 * c1 + c2
        if den > 0:
            return float(np.clip(_QUALITIES[k] + 0.5 * (c0 - c2) / den, 1.0, 100.0))
    return float(_QUALITIES[k])


def _dct_matrix() -> np.ndarray:
    n = 8
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    m = np.cos((2 * x + 1) * k * np.pi / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_DCT = _dct_matrix()
#: on Auto, a JPEG whose tables read this quality or above is left as it is: the remover
#: learnt qualities 5-95 and above that only softens (`benchmarks/jpeg_file_auto.py`,
#: before this limit: quality 94 39.94 -> 40.16 dB, 95 40.61 -> 40.63, 97 42.37 -> 41.72).
AUTO_LEAVE_QUALITY = 94.5


def left_as_it_is(quality: float, auto: bool) -> bool:
    """Whether the JPEG remover leaves a photo of this quality untouched: 100 (no
    compression found, or set by hand), or on Auto `AUTO_LEAVE_QUALITY` and above."""
    return quality >= 100.0 or (auto and quality >= AUTO_LEAVE_QUALITY)


# fewer distinct coefficient values than this at a frequency: a drawing, not evidence (`_step_of`)
MIN_DISTINCT_COEFFICIENTS = 20
#: `estimate_quality_from_pixels` reads at most this many 8x8 blocks (a 4 MP photo's): a
#: 12 MP photo took 2-3 s whole, and a quarter of its blocks measure the same steps
MAX_BLOCKS = 65536
# low frequencies whose steps are measured (row, column), with enough energy in photos
_PROBES = ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (1, 2), (2, 1), (2, 2), (0, 3), (3, 0))


def block_dct(y255: np.ndarray) -> np.ndarray:
    """(nby, nbx, 8, 8) DCT of the 8x8 blocks of a (H, W) luma plane on the 0-255 scale,
    level-shifted by 128 as JPEG does (blocks aligned to the origin, partial ones dropped)."""
    h, w = y255.shape[0] // 8 * 8, y255.shape[1] // 8 * 8
    b = (y255[:h, :w] - 128.0).reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    # optimize=True: two matrix products, not the default four-index loop (slow on 12 MP)
    return np.einsum("ux,abxy,vy->abuv", _DCT, b, _DCT, optimize=True)


def _step_of(coef: np.ndarray) -> tuple[int, float]:
    """(quantisation step, confidence 0-1) of one frequency's coefficients: the largest step
    whose multiples the coefficients sit on (mean cosine of the phase, over the ones that
    are not near zero)."""
    c = coef[np.abs(coef) > 0.75]
    if c.size < 50:
        return 0, 0.0
    # a decoded JPEG's coefficients sit near the multiples, off by its pixels' rounding, so
    # they take many values; a drawing's repeat a few exact ones (a checkerboard, flat
    # shapes), which line up with some step by chance: not evidence
    if np.unique(np.round(c, 2)).size < MIN_DISTINCT_COEFFICIENTS:
        return 0, 0.0
    best, conf = 1, 0.0
    # a step larger than most coefficients puts them all near phase 0: not evidence
    top = int(min(120, np.quantile(np.abs(c), 0.75) + 0.5))
    for q in range(2, top + 1):
        score = float(np.mean(np.cos(2.0 * np.pi * c / q)))
        # the true step and its divisors all score high; prefer the largest clear one
        if score > 0.6:
            best, conf = q, score
    return best, conf


def estimate_quality_from_pixels(rgb: np.ndarray, max_blocks: int = MAX_BLOCKS) -> float | None:
    """An IJG-equivalent quality for a photo that was JPEG-compressed at some point (on its
    present 8x8 grid), or None when no quantisation is found. ``rgb``: (H, W, 3) in [0, 1].
    A photo of more than ``max_blocks`` 8x8 blocks is measured on an even spread of them
    (every n-th block row and column: the grid stays the file's)."""
    x = np.asarray(rgb)
    if x.ndim != 3 or x.shape[0] < 64 or x.shape[1] < 64:
        return None
    nby, nbx = x.shape[0] // 8, x.shape[1] // 8
    every = math.ceil(math.sqrt(nby * nbx / max_blocks)) if nby * nbx > max_blocks else 1
    if every > 1:
        blocks = x[: nby * 8, : nbx * 8, :3].reshape(nby, 8, nbx, 8, 3)[::every, :, ::every]
        x = blocks.reshape(blocks.shape[0] * 8, blocks.shape[2] * 8, 3)
    # luma in float64 (the steps are measured to a fraction of a code value)
    y = 255.0 * (x[..., :3].astype(np.float64, copy=False) @ np.array([0.299, 0.587, 0.114]))
    d = block_dct(y).reshape(-1, 8, 8)
    steps, weights = [], []
    for u, v in _PROBES:
        q, conf = _step_of(d[:, u, v])
        if q >= 2 and conf > 0.6:
            steps.append((u, v, q))
            weights.append(conf)
    if len(steps) < 3:
        return None
    cost = np.zeros(len(_QUALITIES))
    for (u, v, q), wt in zip(steps, weights, strict=True):
        cost += wt * np.abs(np.log(_LUMA_TABLES[:, u, v]) - np.log(q))
    return float(_QUALITIES[int(np.argmin(cost))])
