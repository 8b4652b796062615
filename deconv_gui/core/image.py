"""The one image contract of the core.

Pixels: ``np.ndarray`` of shape (H, W, 3), dtype float32, RGB, values in [0, 1].
Everything else the photographer had travels in `ImageMeta`: source path and format, bit
depth, the original channel layout, EXIF and ICC bytes, XMP and IPTC, and an alpha plane (carried through
untouched, resized only when the image is upscaled). Conversion from Pillow modes or
OpenCV's BGR happens only in `deconv_gui.core.io`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class ImageMeta:
    path: Path | None = None
    format: str = "PNG"  # Pillow format name of the source: PNG, JPEG, TIFF, WEBP, BMP, HEIF
    bit_depth: int = 8  # 8 or 16 (bits per channel of the source)
    mode: str = "RGB"  # source channel layout: "L", "LA", "RGB" or "RGBA"
    exif: bytes | None = None  # raw EXIF block, orientation already applied to the pixels
    icc_profile: bytes | None = None
    orientation: int = 1  # EXIF orientation tag of the source (already applied)
    alpha: np.ndarray | None = None  # (H, W) float32 in [0, 1], or None
    # XMP packet as read (its orientation and pixel size are corrected on save) and IPTC
    # datasets as exiv2 keys -> text or list of texts (core.metadata)
    xmp: str | None = None
    iptc: dict[str, Any] | None = None
    extra: dict = field(default_factory=dict)  # format specifics (dpi, jpeg quality...)

    @property
    def has_alpha(self) -> bool:
        return self.alpha is not None

    @property
    def is_grey(self) -> bool:
        return self.mode in ("L", "LA")

    def copy(self, **changes) -> ImageMeta:
        return replace(self, **changes)


@dataclass
class Photo:
    """An image in the core's contract plus its metadata."""

    rgb: np.ndarray
    meta: ImageMeta = field(default_factory=ImageMeta)

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def megapixels(self) -> float:
        return self.height * self.width / 1e6


def check_rgb(img: np.ndarray, name: str = "image") -> np.ndarray:
    """Validate the core contract; returns the array (float32, contiguous)."""
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{name} must be HxWx3 RGB, got shape {img.shape}")
    return np.ascontiguousarray(img, dtype=np.float32)
