"""Pictures ready to paint: 8-bit premultiplied BGRA buffers in a 2x pyramid.

Building one from a float photo (conversion plus the pyramid) is done in a worker thread;
the GUI thread only wraps the buffers in `QImage`s (no copy) and paints the level closest to
the zoom, so a 24 MP photo paints as fast as a small one. A result arriving tile by tile
goes into a transparent `DisplayImage` with `paste`.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtGui import QImage

MIN_LEVEL_SIDE = 384  # stop the pyramid when the longest side gets this small
#: the greys (0-255) of the checkerboard shown behind transparent pixels
CHECKER_GREYS = (102, 153)


class DisplayColour:
    """Converts 8-bit pixels from a photo's embedded ICC profile to sRGB for the screen.

    Only the display is converted; the photo keeps its pixels and its profile (and saving
    keeps both). Without this a wide-gamut (e.g. Adobe RGB) photo would look dull.
    """

    def __init__(self, icc: bytes) -> None:
        from PIL import ImageCms

        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        dst = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        self.name = ImageCms.getProfileDescription(src).strip()
        self._transform = ImageCms.buildTransform(src, dst, "RGB", "RGB")

    def apply(self, rgb8: np.ndarray) -> np.ndarray:
        from PIL import Image, ImageCms

        img = Image.fromarray(np.ascontiguousarray(rgb8), "RGB")
        return np.asarray(ImageCms.applyTransform(img, self._transform))


_COLOUR_CACHE: dict[int, DisplayColour | None] = {}
_COLOUR_LOCK = threading.Lock()


def display_colour(icc: bytes | None) -> DisplayColour | None:
    """The conversion for an embedded profile; None for sRGB, no profile or a broken one."""
    if not icc:
        return None
    key = hash(icc)
    with _COLOUR_LOCK:
        if key in _COLOUR_CACHE:
            return _COLOUR_CACHE[key]
    try:
        colour: DisplayColour | None = DisplayColour(icc)
        name = colour.name.lower()
        if "srgb" in name or "iec61966-2" in name or "iec 61966-2" in name:
            colour = None  # already what the screen is assumed to show
    except Exception:  # an unreadable profile: show the pixels as they are
        colour = None
    with _COLOUR_LOCK:
        _COLOUR_CACHE[key] = colour
    return colour


def to_bgra8(rgb: np.ndarray, colour: DisplayColour | None = None) -> np.ndarray:
    """float32 RGB [0, 1] (H, W, 3) -> uint8 BGRA (alpha 255), fast and clipped, in sRGB."""
    u8 = cv2.convertScaleAbs(np.maximum(rgb, 0.0, dtype=np.float32), alpha=255.0)
    if colour is not None:
        u8 = colour.apply(u8)
    return cv2.cvtColor(u8, cv2.COLOR_RGB2BGRA)


def to_rgb8(rgb: np.ndarray) -> np.ndarray:
    return cv2.convertScaleAbs(np.maximum(rgb, 0.0, dtype=np.float32), alpha=255.0)


def over_checker(rgb: np.ndarray, alpha: np.ndarray, square: int) -> np.ndarray:
    """``rgb`` (float, H x W x 3) seen through ``alpha`` (H x W, 0-1) over the checkerboard
    of `CHECKER_GREYS` with squares of ``square`` pixels, as the viewer shows transparency
    (for small pictures: thumbnails, the Compare models panes)."""
    yy, xx = np.indices(rgb.shape[:2]) // max(1, square)
    greys = np.asarray(CHECKER_GREYS, np.float32) / 255.0
    checker = greys[(yy + xx) % 2][..., None]
    a = np.clip(alpha, 0.0, 1.0).astype(np.float32)[..., None]
    return rgb * a + checker * (1.0 - a)


def _half(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    return cv2.resize(
        img[: h // 2 * 2, : w // 2 * 2], (w // 2, h // 2), interpolation=cv2.INTER_AREA
    )


class DisplayImage:
    """A picture as a list of BGRA uint8 levels, level k being 2**k times smaller."""

    def __init__(self, levels: list[np.ndarray]) -> None:
        self.levels = levels
        self._qimages: dict[int, QImage] = {}

    # -------------------------------------------------------------- construction
    @classmethod
    def from_bgra(cls, bgra: np.ndarray) -> DisplayImage:
        levels = [np.ascontiguousarray(bgra)]
        while max(levels[-1].shape[:2]) > MIN_LEVEL_SIDE * 2 and min(levels[-1].shape[:2]) >= 4:
            levels.append(_half(levels[-1]))
        return cls(levels)

    @classmethod
    def from_rgb(cls, rgb: np.ndarray, colour: DisplayColour | None = None) -> DisplayImage:
        """From a float32 RGB image (run this in a worker thread for big photos)."""
        return cls.from_bgra(to_bgra8(rgb, colour))

    @classmethod
    def transparency(cls, alpha: np.ndarray | None) -> DisplayImage | None:
        """A photo's alpha plane (float32 (H, W) in [0, 1]) as a mask to paint pictures
        through (`CompareView.set_transparency`): white premultiplied by the alpha. None when
        there is no alpha or every pixel is opaque (run this in a worker thread)."""
        if alpha is None or alpha.size == 0 or float(alpha.min()) >= 1.0:
            return None
        a8 = cv2.convertScaleAbs(np.clip(alpha, 0.0, 1.0).astype(np.float32), alpha=255.0)
        return cls.from_bgra(cv2.merge([a8, a8, a8, a8]))

    @classmethod
    def blank(cls, height: int, width: int) -> DisplayImage:
        """Fully transparent, to be filled tile by tile with `paste`."""
        levels = [np.zeros((height, width, 4), np.uint8)]
        while max(levels[-1].shape[:2]) > MIN_LEVEL_SIDE * 2 and min(levels[-1].shape[:2]) >= 4:
            h, w = levels[-1].shape[:2]
            levels.append(np.zeros((h // 2, w // 2, 4), np.uint8))
        return cls(levels)

    # -------------------------------------------------------------- queries
    @property
    def width(self) -> int:
        return int(self.levels[0].shape[1])

    @property
    def height(self) -> int:
        return int(self.levels[0].shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def level_for(self, device_scale: float) -> int:
        """Pyramid level to paint when one level-0 pixel covers `device_scale` device pixels."""
        k = 0
        while k + 1 < len(self.levels) and device_scale * (2 ** (k + 1)) <= 1.0 + 1e-9:
            k += 1
        return k

    def qimage(self, level: int = 0) -> QImage:
        img = self._qimages.get(level)
        if img is None:
            arr = self.levels[level]
            h, w = arr.shape[:2]
            img = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_ARGB32_Premultiplied)
            self._qimages[level] = img
        return img

    # -------------------------------------------------------------- updates
    def paste(self, box: tuple[int, int, int, int], bgra: np.ndarray) -> None:
        """Write finished pixels (level-0 coordinates ``(y0, y1, x0, x1)``) into every level.

        Runs in the GUI thread, so it uses plain numpy (2x2 box means, level by level) and no
        OpenCV: OpenCV's thread pool may be busy with a worker's job and make it wait.
        """
        y0, y1, x0, x1 = (int(v) for v in box)
        base = self.levels[0]
        y1, x1 = min(y1, base.shape[0]), min(x1, base.shape[1])
        if y1 <= y0 or x1 <= x0:
            return
        base[y0:y1, x0:x1] = bgra[: y1 - y0, : x1 - x0]
        prev = base
        for lv in self.levels[1:]:
            y0, x0 = y0 // 2, x0 // 2
            y1, x1 = min(lv.shape[0], -(-y1 // 2)), min(lv.shape[1], -(-x1 // 2))
            if y1 <= y0 or x1 <= x0:
                break
            src = prev[2 * y0 : 2 * y1, 2 * x0 : 2 * x1].astype(np.uint16)
            total = src[0::2, 0::2] + src[1::2, 0::2] + src[0::2, 1::2] + src[1::2, 1::2]
            total += 2
            total >>= 2
            lv[y0:y1, x0:x1] = total
            prev = lv


# ------------------------------------------------------------------ false colour
#: auto-contrast: this percentile of the values gets the top colour of the map
OVERLAY_PERCENTILE = 99.5
#: ...but never less than this (1 - SSIM, and |difference| on the 0-1 scale): a result that
#: barely changed anything is not blown up into a full-scale map of noise
MIN_SSIM_SPAN, MIN_DIFF_SPAN = 0.02, 2 / 255


@dataclass(frozen=True)
class Overlay:
    """A false-colour picture drawn over the result, with what its legend says.

    The colour bar runs from ``low_label`` (left: alike, the better end) to ``high_label``
    (right: the worse end)."""

    kind: str  # "ssim" or "diff"
    image: DisplayImage
    title: str
    low_label: str
    high_label: str
    span: float  # the value (1 - SSIM, or |difference|) shown in the top colour


def _auto_span(values: np.ndarray, floor: float) -> float:
    step = max(1, int(np.sqrt(values.size / 1_000_000)))  # a sample is enough
    sample = values[::step, ::step]
    return float(max(floor, min(1.0, np.percentile(sample, OVERLAY_PERCENTILE))))


def _false_colour(v: np.ndarray, span: float, cmap: int) -> DisplayImage:
    u8 = cv2.convertScaleAbs(np.asarray(v, np.float32), alpha=255.0 / span)
    bgr = cv2.applyColorMap(u8, cmap)
    return DisplayImage.from_bgra(cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))


def ssim_overlay(ssim_map: np.ndarray, against: str = "input") -> Overlay:
    """SSIM map (H, W) -> false colour: blue where alike (SSIM 1), red where least alike;
    auto-contrast: the least alike `OVERLAY_PERCENTILE` % gets the reddest colour."""
    v = np.clip(1.0 - np.asarray(ssim_map, np.float32), 0.0, 1.0)
    span = _auto_span(v, MIN_SSIM_SPAN)
    return Overlay(
        "ssim",
        _false_colour(v, span, cv2.COLORMAP_TURBO),
        f"SSIM map vs {against}: red is least alike",
        "alike (1.00)",
        f"{1.0 - span:.2f} or less",
        span,
    )


def diff_overlay(a: np.ndarray, b: np.ndarray, against: str = "input") -> Overlay:
    """|a - b| averaged over channels in the inferno colour map (black: no difference,
    yellow: the largest); auto-contrast as for `ssim_overlay`."""
    d = cv2.absdiff(np.asarray(a, np.float32), np.asarray(b, np.float32))
    d = cv2.cvtColor(d, cv2.COLOR_RGB2GRAY) if d.ndim == 3 else d
    span = _auto_span(d, MIN_DIFF_SPAN)
    return Overlay(
        "diff",
        _false_colour(d, span, cv2.COLORMAP_INFERNO),
        f"Difference from {against}: bright is most different",
        "none",
        f"{span * 100:.2g} % or more",
        span,
    )


OVERLAY_NAMES = {"ssim": "SSIM map", "diff": "Difference"}


def colour_bar(kind: str, width: int = 128) -> np.ndarray:
    """A 1 x width BGRA legend for an overlay kind ("ssim" or "diff")."""
    ramp = np.linspace(0, 255, width, dtype=np.float32).astype(np.uint8)[None, :]
    cmap = cv2.COLORMAP_TURBO if kind == "ssim" else cv2.COLORMAP_INFERNO
    bgr = cv2.applyColorMap(ramp, cmap)
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))
