"""Export a result as the photographer asks: format, JPEG quality, bit depth, colour space and
an optional long edge, written atomically with EXIF and the profile of the pixels embedded.

`ExportOptions` is the record the app's export dialog edits (and remembers);
`prepare_export(rgb, meta, options)` returns the pixels and metadata to write (resized with
area averaging when smaller, Lanczos when larger; converted with LittleCMS through
`core.icc.convert_pixels`; bit depth set where the format has 16 bits), and
`export_image(path, rgb, meta, options, overwrite=False)` writes them with `core.io.save_image`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from deconv_gui.core.icc import COLOUR_SPACES, convert_pixels
from deconv_gui.core.io import save_image
from deconv_gui.errors import DeconvError

if TYPE_CHECKING:
    from deconv_gui.core.image import ImageMeta

#: format -> (file extension, has 16 bits, has a quality setting)
FORMATS: dict[str, tuple[str, bool, bool]] = {
    "jpeg": (".jpg", False, True),
    "png": (".png", True, False),
    "tiff": (".tif", True, False),
    "webp": (".webp", False, True),
    "dng": (".dng", False, False),  # a RAW denoiser's result: the sensor data itself
}
FORMAT_LABELS = {
    "jpeg": "JPEG",
    "png": "PNG",
    "tiff": "TIFF",
    "webp": "WebP",
    "dng": "DNG (RAW data)",
}
#: colour space choices: "keep" (the photo's own profile, pixels untouched) or a
#: `core.icc.COLOUR_SPACES` name
COLOUR_CHOICES = ("keep", "srgb", "display-p3", "adobe-rgb")
COLOUR_LABELS = {
    "keep": "Keep the photo's",
    "srgb": "sRGB",
    "display-p3": "Display P3",
    "adobe-rgb": "Adobe RGB (1998)",
}


class ExportError(DeconvError):
    """Export options that cannot be used (one readable line)."""


@dataclass(frozen=True)
class ExportOptions:
    """``format`` a `FORMATS` key; ``quality`` 1-100 (JPEG, WebP); ``bits`` 8 or 16 (0:
    as the photo; formats without 16 bits write 8); ``colour`` a `COLOUR_CHOICES` entry;
    ``long_edge`` pixels of the longer side (0: keep the size)."""

    format: str = "jpeg"
    quality: int = 95  # as the CLI and the batch dialog
    bits: int = 0
    colour: str = "keep"
    long_edge: int = 0

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ExportError(f"unknown format {self.format!r} (use {', '.join(FORMATS)})")
        if not 1 <= int(self.quality) <= 100:
            raise ExportError(f"quality must be 1-100, got {self.quality}")
        if self.bits not in (0, 8, 16):
            raise ExportError(f"bit depth must be 8 or 16, got {self.bits}")
        if self.colour != "keep" and self.colour not in COLOUR_SPACES:
            raise ExportError(f"unknown colour space {self.colour!r}")
        if not 0 <= int(self.long_edge) <= 65535:
            raise ExportError(f"long edge must be 0-65535 pixels, got {self.long_edge}")

    @property
    def extension(self) -> str:
        return FORMATS[self.format][0]

    @property
    def has_quality(self) -> bool:
        return FORMATS[self.format][2]

    @property
    def has_16_bits(self) -> bool:
        return FORMATS[self.format][1]

    def output_bits(self, source_bits: int) -> int:
        """The bit depth written for a photo of ``source_bits``."""
        if not self.has_16_bits:
            return 8
        return self.bits or (16 if source_bits > 8 else 8)

    def with_path_format(self, path: str | os.PathLike[str]) -> ExportOptions:
        """These options with the format the file name's extension asks for (if known)."""
        ext = Path(path).suffix.lower()
        for fmt, (e, _, _) in FORMATS.items():
            if ext == e or (fmt == "jpeg" and ext == ".jpeg") or (fmt == "tiff" and ext == ".tiff"):
                return replace(self, format=fmt)
        return self


def resize_long_edge(rgb: np.ndarray, long_edge: int) -> np.ndarray:
    """``rgb`` scaled so its longer side is ``long_edge`` (0 or the same size: unchanged);
    area averaging to shrink, Lanczos to enlarge."""
    h, w = rgb.shape[:2]
    if not long_edge or long_edge == max(h, w):
        return rgb
    s = long_edge / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LANCZOS4
    return np.clip(cv2.resize(rgb, size, interpolation=interp), 0.0, 1.0).astype(np.float32)


def prepare_export(
    rgb: np.ndarray, meta: ImageMeta, options: ExportOptions
) -> tuple[np.ndarray, ImageMeta]:
    """The pixels and metadata `export_image` writes (see the module doc)."""
    out = resize_long_edge(np.asarray(rgb, np.float32), int(options.long_edge))
    bits = options.output_bits(int(meta.bit_depth or 8))
    icc, mode = meta.icc_profile, meta.mode
    if options.colour != "keep":
        out, icc = convert_pixels(out, meta.icc_profile, options.colour, bits=bits)
        if meta.is_grey:  # an RGB profile needs RGB pixels
            mode = "RGBA" if meta.alpha is not None else "RGB"
    alpha = meta.alpha
    if alpha is not None and alpha.shape[:2] != out.shape[:2]:
        interp = cv2.INTER_AREA if alpha.shape[0] > out.shape[0] else cv2.INTER_LINEAR
        alpha = cv2.resize(alpha, (out.shape[1], out.shape[0]), interpolation=interp)
    return out, meta.copy(bit_depth=bits, icc_profile=icc, alpha=alpha, mode=mode)


def export_image(
    path: str | os.PathLike[str],
    rgb: np.ndarray,
    meta: ImageMeta,
    options: ExportOptions,
    *,
    overwrite: bool = False,
) -> Path:
    """Write ``rgb`` to ``path`` as `options` say (the extension should be
    ``options.extension``); atomic, refuses to replace a file unless ``overwrite``.

    DNG writes a RAW denoiser's result as the sensor data it is (`core.rawpipe.save_photo`):
    no resizing or colour conversion applies to it."""
    if options.format == "dng":
        if options.long_edge or options.colour != "keep":
            raise ExportError(
                "a DNG keeps the sensor's own data: choose no resizing and 'Keep' colours"
            )
        from deconv_gui.core.image import Photo
        from deconv_gui.core.rawpipe import save_photo

        return save_photo(Path(path), Photo(rgb, meta), overwrite=overwrite)
    out, out_meta = prepare_export(rgb, meta, options)
    return save_image(path, out, out_meta, overwrite=overwrite, quality=int(options.quality))
