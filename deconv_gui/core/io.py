"""Reading and writing photos without losing what the photographer had.

This is the only module that knows about Pillow modes and OpenCV's BGR order. Everything it
returns follows the contract of `deconv_gui.core.image`: RGB, HWC, float32 in [0, 1], plus an
`ImageMeta` record.

Camera RAW files (`RAW_EXTENSIONS`) are read and rendered by `deconv_gui.core.raw`.

Reading: only regular files are opened (a FIFO would block forever, a device never end).
Pillow opens every file and provides the metadata (EXIF, ICC profile, DPI) and, for 8-bit
images and 16-bit grey, the pixels. Pillow has no 16-bit colour mode, so 16-bit RGB(A) and
grey+alpha PNG/TIFF pixels are decoded by OpenCV from the same bytes; TIFFs of signed, 32-bit
or floating-point samples (which Pillow misreads or cannot open) by tifffile (see
`_tiff_samples_to_unit` for how their values map to [0, 1]). XMP and IPTC are read by
`deconv_gui.core.metadata` (exiv2). The EXIF orientation is applied exactly once, here, on the
numpy arrays; `meta.orientation` records the original tag and `meta.exif` is stored with the
tag already reset to 1, without the (stale) thumbnail.

Writing: JPEG, WebP, BMP and 8-bit PNG go through Pillow; 16-bit PNG and all TIFFs through the
small writers below (Pillow can neither hold 16-bit colour nor write EXIF sub-IFDs into a
compressed TIFF); XMP and IPTC are then added to the finished temporary file by exiv2. Every
write goes to a temporary file in the destination folder, is fsynced and then moved into place,
so a crash or a full disk never leaves half a photo behind; temporary files that a killed run
left behind are removed by the next write into that folder (`remove_stale_temporaries`).
"""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
import re
import secrets
import socket
import stat
import struct
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, Literal

import cv2
import numpy as np
from PIL import Image, ImageCms, ImageFile, TiffImagePlugin, UnidentifiedImageError

from deconv_gui.core import metadata
from deconv_gui.core.image import ImageMeta, Photo, check_rgb
from deconv_gui.core.jpeg_check import check_jpeg
from deconv_gui.core.raw import (
    RAW_EXTENSIONS,
    is_raw_path,
    load_raw_photo,
    load_raw_preview,
    misnamed_raw,
)
from deconv_gui.errors import DiskFullError, ImageReadError, ImageWriteError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "READ_EXTENSIONS",
    "WRITE_EXTENSIONS",
    "check_target",
    "is_image_path",
    "load_image",
    "load_preview",
    "remove_stale_temporaries",
    "save_image",
    "to_uint8",
    "to_uint16",
]

_log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 250_000_000

# HEIC/HEIF are listed even when pillow-heif is missing: the user then gets a message that
# says how to enable them instead of the file silently not showing up.
READ_EXTENSIONS = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".tif",
        ".tiff",
        ".webp",
        ".bmp",
        ".dib",
        ".heic",
        ".heif",
        *RAW_EXTENSIONS,  # camera RAW files: opened and rendered by core.raw
    }
)
_WRITE_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
}
WRITE_EXTENSIONS = frozenset(_WRITE_FORMATS)
# Pillow format names we accept, mapped to the name stored in ImageMeta.format.
_READ_FORMATS = {
    "PNG": "PNG",
    "JPEG": "JPEG",
    "MPO": "JPEG",  # JPEGs with a multi-picture index (many phones and cameras)
    "TIFF": "TIFF",
    "WEBP": "WEBP",
    "BMP": "BMP",
    "DIB": "BMP",
    "HEIF": "HEIF",
}
_SUPPORTED_TEXT = "PNG, JPEG, TIFF, WebP, BMP or HEIC"
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}

_GREY16_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
_CV2_MODES = {"RGB", "RGBA", "LA"}  # 16-bit sources Pillow would reduce to 8 bits
_MAX_SIDE = {"JPEG": 65_535, "WEBP": 16_383}
_ALPHA_FORMATS = {"PNG", "TIFF", "WEBP"}
_SIXTEEN_BIT_FORMATS = {"PNG", "TIFF"}

_ORIENTATION = 0x0112
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_INTEROP_IFD = 0xA005
_MAKER_NOTE = 0x927C
_PIXEL_X_DIMENSION = 0xA002
_PIXEL_Y_DIMENSION = 0xA003
_ICC_TAG = 34675
_JPEG_APP1_MAX = 65_533  # an APP1 segment holds 65535 bytes, 2 of them its length field

# TIFF tags that describe an image's storage, not the photo. They are dropped from the EXIF we
# keep (a TIFF source's IFD0 holds both) and never copied from EXIF into a TIFF we write. Also
# dropped: 700 XMP and 33723 IPTC (carried on their own by core.metadata, which corrects the
# XMP for the new pixels) and blobs we cannot keep consistent with new pixels (34377 Photoshop
# resources and 37724 layers, with stale thumbnails/pixels).
_STRUCTURAL_TAGS = frozenset(
    {
        254, 255, 256, 257, 258, 259, 262, 263, 264, 265, 266, 273, 277, 278, 279, 280, 281,
        284, 288, 289, 290, 291, 292, 293, 317, 318, 319, 320, 322, 323, 324, 325, 330, 332,
        338, 339, 340, 341, 347, 512, 513, 514, 515, 517, 518, 519, 520, 521, 529, 530, 531,
        532, 700, 33723, 34377, 34675, 37724,
    }
)  # fmt: skip

_HEIF_REGISTERED: bool | None = None
_HEIF_LOCK = threading.Lock()
_PIL_LIMIT_LOCK = threading.Lock()
_PIL_LIFTS = 0  # loads running with Pillow's own pixel limit lifted (see _pillow_limit_for)
_PIL_SAVED_LIMIT: int | None = None


# --------------------------------------------------------------------------------------------
# small public helpers


def is_image_path(path: str | os.PathLike[str]) -> bool:
    """True when the file name has an extension this module reads (the file is not opened)."""
    return Path(path).suffix.lower() in READ_EXTENSIONS


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] (any shape) to uint8: clipped, rounded to nearest, NaN -> 0."""
    return _quantize(img, 255, np.uint8)


def to_uint16(img: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] (any shape) to uint16: clipped, rounded to nearest, NaN -> 0."""
    return _quantize(img, 65535, np.uint16)


def _quantize(img: np.ndarray, top: int, dtype: type[np.unsignedinteger]) -> np.ndarray:
    a = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    np.clip(a, 0.0, 1.0, out=a)
    a *= np.float32(top)
    np.rint(a, out=a)
    return a.astype(dtype)


# --------------------------------------------------------------------------------------------
# reading


def load_image(path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Photo:
    """Read a photo into the core contract (RGB float32 [0, 1]) with its metadata.

    Raises `ImageReadError` (one line, naming the file) for anything the user can cause:
    missing or empty file, a folder, a pipe, socket or device, no permission, truncated or
    damaged data, a format we do not read, a picture larger than ``max_pixels`` (checked from
    the header, before decoding).

    Sample values map to [0, 1] by their type's range (8/16-bit, signed or not; 1-bit is
    black/white), except in TIFFs of 32-bit integers or floating point, which have no range
    a photo format defines: floats already within [0, 1] are taken as they are, other data
    is stretched from its own minimum to its maximum (see `_tiff_samples_to_unit`); their
    ``meta.bit_depth`` is 16 (what they are saved as). XMP and IPTC land in ``meta.xmp`` and
    ``meta.iptc``. A camera RAW file (`core.raw`) is rendered with the module's one
    development.
    """
    p = Path(path)
    name = p.name or str(p)
    _check_is_file(p)  # before anything opens it, RAW readers included
    if is_raw_path(p):
        return load_raw_photo(p, max_pixels=max_pixels)
    try:
        with _open_regular(p) as fp, _pillow_limit_for(max_pixels):
            _refuse_misnamed_raw(p, fp, name)
            return _load_from_file(p, fp, max_pixels)
    except ImageReadError:
        raise
    except MemoryError as e:
        raise ImageReadError(f"Cannot read {name}: not enough memory to open it") from e
    except OSError as e:  # opening or reading the file itself (decoder errors are mapped below)
        raise ImageReadError(_os_read_message(name, e)) from e


def load_preview(
    path: str | os.PathLike[str], max_side: int = 1024, *, alpha: bool = False
) -> np.ndarray:
    """A quick, downscaled RGB float32 view (longest side <= ``max_side``), orientation applied.

    JPEGs are decoded at reduced scale (draft mode), so this is much faster than `load_image`
    for big photos. Alpha is dropped, unless ``alpha``: a picture with transparency then
    comes back as (H, W, 4) RGBA; 16-bit data is shown at 8 bits.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    p = Path(path)
    name = p.name or str(p)
    _check_is_file(p)
    if is_raw_path(p):  # the embedded preview JPEG, or a half-size render
        return load_raw_preview(p, max_side)
    try:
        with _open_regular(p) as fp, _pillow_limit_for(DEFAULT_MAX_PIXELS):
            _check_not_empty(fp, name)
            _refuse_misnamed_raw(p, fp, name)
            _prepare_heif(fp, name)
            with _quiet_pillow():
                im = _open_pillow_or_tiff(fp, name, DEFAULT_MAX_PIXELS)
                if im is None:  # samples Pillow cannot read: decode them all, then shrink
                    photo = _load_tiff_samples(p, fp, DEFAULT_MAX_PIXELS)
                    pixels = photo.rgb
                    if alpha and photo.meta.alpha is not None:
                        pixels = np.dstack([pixels, photo.meta.alpha])
                    return _fit(pixels, max_side)
                with im:
                    _check_supported(im, name)
                    try:
                        if im.format in ("JPEG", "MPO"):
                            im.draft("RGB", (max_side, max_side))
                        _, orientation, _ = _load_oriented(im)
                        small = _preview_rgb(im, name, max_side, alpha=alpha)
                        small.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
                        arr = np.asarray(small, dtype=np.uint8)
                    except (ImageReadError, MemoryError):
                        raise
                    except Exception as e:
                        raise ImageReadError(_decode_message(name, e)) from e
    except ImageReadError:
        raise
    except MemoryError as e:
        raise ImageReadError(f"Cannot read {name}: not enough memory to open it") from e
    except OSError as e:
        raise ImageReadError(_os_read_message(name, e)) from e
    out = _apply_orientation(arr, orientation).astype(np.float32)
    out *= np.float32(1.0 / 255.0)
    return out


def _load_from_file(p: Path, fp: IO[bytes], max_pixels: int) -> Photo:
    name = p.name or str(p)
    _check_not_empty(fp, name)
    _prepare_heif(fp, name)
    fp, jpeg_checked = _with_end_marker(fp, name)
    with _quiet_pillow():
        im = _open_pillow_or_tiff(fp, name, max_pixels)
        if im is None:
            return _load_tiff_samples(p, fp, max_pixels)
        with im:
            fmt = _check_supported(im, name)
            if fmt in ("JPEG", "MPO") and not jpeg_checked:
                _check_jpeg_data(fp, name)
            try:
                bits = _source_bits(im)
                if bits == 16 and im.mode in _CV2_MODES:
                    # Pillow would reduce these to 8 bits: take the pixels from OpenCV and
                    # only the metadata from Pillow (read before IDAT for PNG: no decode).
                    exif_src = _pillow_exif(im, loaded=False)
                    orientation = to_apply = _orientation_of(exif_src)
                    icc = im.info.get("icc_profile") or None
                    layout = "LA" if _png_colour_type(fp) == 4 else im.mode  # Pillow: RGBA
                    values, alpha_values, mode = _decode_16bit_cv2(
                        fp, name, _stored_size(im), layout
                    )
                else:
                    orientation, to_apply, exif_src = _load_oriented(im)
                    icc = im.info.get("icc_profile") or None
                    values, alpha_values, mode, bits, icc = _decode_pillow(im, name, bits, icc)
                exif = _exif_bytes(_clean_exif(exif_src, name)) if exif_src is not None else None
                dpi = _dpi_of(im)
                n_frames = int(getattr(im, "n_frames", 1) or 1)
                jpeg_quality = _jpeg_quality_of(im)
            except (ImageReadError, MemoryError):
                raise
            except Exception as e:  # any decoder complaint means the file is damaged
                raise ImageReadError(_decode_message(name, e)) from e

    xmp, iptc = _read_xmp_iptc(fp, fmt, p)
    values = _apply_orientation(values, to_apply)
    top = np.float32(65535.0 if values.dtype == np.uint16 else 255.0)
    if values.ndim == 2:
        grey = values.astype(np.float32)
        grey /= top
        rgb = np.repeat(grey[:, :, None], 3, axis=2)
    else:
        rgb = values.astype(np.float32)
        rgb /= top
    alpha = None
    if alpha_values is not None:
        alpha = _apply_orientation(alpha_values, to_apply).astype(np.float32)
        alpha /= np.float32(65535.0 if alpha_values.dtype == np.uint16 else 255.0)

    extra: dict[str, Any] = {}
    if dpi is not None:
        extra["dpi"] = dpi
    if n_frames > 1:
        extra["frames"] = n_frames  # only the first frame/page is read
        _warn_frames(name, n_frames)
    if jpeg_quality is not None:
        extra["jpeg_quality"] = jpeg_quality  # from the file's quantisation tables
    if fmt == "WEBP" and _webp_is_lossless(fp):
        extra["lossless"] = True  # saved as WebP, it stays lossless
    meta = ImageMeta(
        path=p,
        format=fmt,
        bit_depth=bits,
        mode=mode,
        exif=exif,
        icc_profile=icc,
        orientation=orientation,
        alpha=alpha,
        xmp=xmp,
        iptc=iptc,
        extra=extra,
    )
    return Photo(np.ascontiguousarray(rgb), meta)


def _with_end_marker(fp: IO[bytes], name: str) -> tuple[IO[bytes], bool]:
    """A JPEG that lacks only its two-byte end marker (an encoder or a copy that stopped
    there) has all its picture data: read with the marker added, in memory, when the
    data then decodes cleanly and whole (`core.jpeg_check`); otherwise ``fp`` as it is, and
    Pillow calls the file incomplete. Returns (the file to read, whether `check_jpeg`
    passed it already). A file that ends with the marker is not read here."""
    size = fp.seek(0, os.SEEK_END)
    fp.seek(0)
    head = fp.read(3)
    fp.seek(max(0, size - 2))
    tail = fp.read(2)
    fp.seek(0)
    if head != b"\xff\xd8\xff" or tail == b"\xff\xd9":
        return fp, False
    data = fp.read()
    fp.seek(0)
    if data.rfind(b"\xff\xd9") > data.rfind(b"\xff\xda"):
        return fp, False  # it has one after its last scan (and more after it)
    whole = data + b"\xff\xd9"
    if check_jpeg(whole) != (None, None):
        return fp, False
    _log.info("%s: the JPEG's end marker is missing; its picture data is complete", name)
    return io.BytesIO(whole), True


def _check_jpeg_data(fp: IO[bytes], name: str) -> None:
    """Refuse a JPEG whose compressed data is damaged: libjpeg (in Pillow) decodes it without
    a word, to a picture with grey or scrambled blocks (`core.jpeg_check`)."""
    fp.seek(0)
    check = check_jpeg(fp.read())
    fp.seek(0)
    if check.damage:
        raise ImageReadError(f"Cannot read {name}: {check.damage}")
    if check.note:
        _log.info("%s: %s", name, check.note)


def refuse_misnamed_raw(path: str | Path) -> None:
    """Raise `ImageReadError` when `path` is a camera RAW file under a picture's name (the
    message says to give it back its extension); a file that cannot be opened is left to
    the read that follows."""
    p = Path(path)
    try:
        with open(p, "rb") as fp:
            _refuse_misnamed_raw(p, fp, p.name)
    except OSError:
        return


def _refuse_misnamed_raw(p: Path, fp: IO[bytes], name: str) -> None:
    """A camera RAW file under a picture's name (``IMG_0001.CR2`` renamed ``.jpg``) would be
    read as the small preview inside it, or not at all: say what it is instead."""
    head = fp.read(16)
    fp.seek(0)
    kind = misnamed_raw(p, head) if head else None
    if kind == "DNG":
        raise ImageReadError(_renamed_dng_message(name))
    if kind is not None:
        named = f"named {p.suffix}" if p.suffix else "without an extension"
        raise ImageReadError(
            f"Cannot read {name}: it is a camera RAW file {named}; give it its camera's RAW "
            "extension (.CR2, .NEF, .ARW, .KDC...) to open it as RAW"
        )


def _renamed_dng_message(name: str) -> str:
    return f"Cannot read {name}: it is camera RAW data (a DNG); rename it .dng to open it as one"


def _webp_is_lossless(fp: IO[bytes]) -> bool:
    """Whether the WebP file's (first) image is stored lossless: a ``VP8L`` chunk comes
    before any lossy ``VP8 `` one (RIFF chunks: a tag, a little-endian size, even padding)."""
    fp.seek(12)
    for _ in range(64):  # VP8X, ICCP, ANIM... come first; a real file has a handful
        head = fp.read(8)
        if len(head) < 8:
            return False
        tag, size = head[:4], struct.unpack("<I", head[4:])[0]
        if tag in (b"VP8L", b"VP8 "):
            return tag == b"VP8L"
        if tag == b"ANMF":  # an animation frame holds its image chunks inside it
            fp.seek(16, os.SEEK_CUR)
            continue
        fp.seek(size + (size & 1), os.SEEK_CUR)
    return False


def _warn_frames(name: str, n_frames: int) -> None:
    """Say that only the first frame (or page) of an animation or multi-page file is read,
    so its result is a still of that frame (on stderr in the CLI, in the app's log)."""
    _log.warning(
        "%s has %d frames (an animation or pages): only the first is read and restored",
        name,
        n_frames,
    )


def _read_xmp_iptc(fp: IO[bytes], fmt: str, path: Path) -> tuple[str | None, dict | None]:
    """The file's XMP packet and IPTC datasets (`deconv_gui.core.metadata`). A photo without
    XMP of its own takes its sidecar's (``NAME.EXT.xmp``, as darktable and digiKam write)."""
    xmp, iptc = None, None
    if fmt in metadata.XMP_FORMATS:
        fp.seek(0)
        xmp, iptc = metadata.read_xmp_iptc(fp.read(), path.name or str(path))
    if xmp is None:
        sidecar = metadata.find_sidecar(path, raw=False)
        if sidecar is not None:
            xmp = metadata.read_sidecar(sidecar)
    return xmp, iptc


_TIFF_LAYOUTS = {
    (1, 1): "L",
    (1, 2): "LA",
    (0, 1): "L",
    (0, 2): "LA",
    (2, 3): "RGB",
    (2, 4): "RGBA",
}


def _load_tiff_samples(p: Path, fp: IO[bytes], max_pixels: int) -> Photo:
    """A TIFF whose samples Pillow misreads (`_open_pillow_or_tiff`), decoded by tifffile:
    the first page's pixels, its ICC profile, resolution and EXIF (read by Pillow from the same
    directory); 8-bit samples count as 8 bits, wider ones as 16 (what they are saved as).
    `_tiff_samples_to_unit` says how values map to [0, 1]."""
    import tifffile

    name = p.name or str(p)
    fp.seek(0)
    try:
        with tifffile.TiffFile(fp, name=name) as tif:
            page = tif.pages.first
            w, h = int(page.imagewidth), int(page.imagelength)
            if w * h > max_pixels:
                raise ImageReadError(_too_large_message(name, (w, h), max_pixels))
            if w <= 0 or h <= 0:
                raise ImageReadError(f"Cannot read {name}: the image has no pixels")
            layout = _TIFF_LAYOUTS.get((int(page.photometric), _tiff_channels(page)))
            if layout is None and (50706 in page.tags or int(page.photometric) in (32803, 34892)):
                raise ImageReadError(_renamed_dng_message(name))  # (or TIFF/EP raw)
            if layout is None:
                raise ImageReadError(
                    f"Cannot read {name}: the TIFF's {page.photometric.name} "
                    f"{page.dtype} samples are not supported"
                )
            samples = np.asarray(page.asarray())
            if "S" in page.axes:  # samples last, whatever the planar configuration
                samples = np.moveaxis(samples, page.axes.index("S"), -1)
            samples = samples.reshape(h, w, -1)[:, :, : len(layout)]
            icc = _tag_bytes(page, _ICC_TAG)
            dpi = _tiff_dpi(page)
            n_frames = len(tif.pages)
            bits = int(page.bitspersample)
    except (ImageReadError, MemoryError):
        raise
    except Exception as e:  # tifffile's TiffFileError, ValueError... on damaged files
        raise ImageReadError(_decode_message(name, e)) from e

    exif_src = _tiff_exif(fp, name)
    orientation = _orientation_of(exif_src)
    exif = _exif_bytes(_clean_exif(exif_src, name)) if exif_src is not None else None
    minis_white = layout.startswith("L") and int(page.photometric) == 0
    colour = _tiff_samples_to_unit(samples[:, :, : 1 if layout.startswith("L") else 3], bits)
    if minis_white:
        colour = 1.0 - colour
    colour = _apply_orientation(colour, orientation)
    rgb = np.repeat(colour, 3, axis=2) if colour.shape[2] == 1 else colour
    alpha = None
    if layout.endswith("A"):
        alpha = _apply_orientation(
            _tiff_samples_to_unit(samples[:, :, -1:], bits)[:, :, 0], orientation
        )
    xmp, iptc = _read_xmp_iptc(fp, "TIFF", p)
    extra: dict[str, Any] = {}
    if dpi is not None:
        extra["dpi"] = dpi
    if n_frames > 1:
        extra["frames"] = n_frames
        _warn_frames(p.name or str(p), n_frames)
    meta = ImageMeta(
        path=p,
        format="TIFF",
        bit_depth=8 if samples.dtype.itemsize == 1 else 16,
        mode=layout,
        exif=exif,
        icc_profile=icc,
        orientation=orientation,
        alpha=alpha,
        xmp=xmp,
        iptc=iptc,
        extra=extra,
    )
    return Photo(np.ascontiguousarray(rgb, dtype=np.float32), meta)


def _tiff_samples_to_unit(samples: np.ndarray, bits: int) -> np.ndarray:
    """Samples of any TIFF type as float32 in [0, 1].

    - 1-bit: 0 and 1;
    - integers of up to 16 bits: their type's range, from ``bits`` (BitsPerSample): unsigned
      0 .. 2**bits - 1, signed -2**(bits-1) .. 2**(bits-1) - 1 (so 0 is mid-grey);
    - 32/64-bit integers: no photo format defines a range for them and their data uses a
      sliver of it, so the data's own minimum .. maximum is stretched to 0 .. 1;
    - floating point: [0, 1] is the convention of float photos, so data within it is taken as
      it is; data outside it (HDR, scientific data) is stretched from its own finite minimum
      to its maximum. NaN counts as 0, infinities as the ends.
    """
    kind = samples.dtype.kind
    if kind == "b":
        return samples.astype(np.float32)
    if kind in "ui" and samples.dtype.itemsize <= 2:
        bits = bits if 1 <= bits <= samples.dtype.itemsize * 8 else samples.dtype.itemsize * 8
        low = -(2 ** (bits - 1)) if kind == "i" else 0
        out = samples.astype(np.float32) - np.float32(low)
        out /= np.float32(2**bits - 1)
        return np.clip(out, 0.0, 1.0, out=out)
    data = samples.astype(np.float64 if kind in "ui" else np.float32)
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return np.zeros(samples.shape, np.float32)
    lo, hi = float(finite.min()), float(finite.max())
    if kind == "f" and lo >= 0.0 and hi <= 1.0:
        lo, hi = 0.0, 1.0
    scaled = (data - lo) / (hi - lo) if hi > lo else np.zeros_like(data)
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(scaled, 0.0, 1.0).astype(np.float32)


def _tiff_channels(page: Any) -> int:
    """Colour samples plus one alpha of a tifffile page (further extra samples are ignored)."""
    spp = int(page.samplesperpixel)
    colour = 3 if int(page.photometric) == 2 else 1
    alpha = 1 if spp > colour and len(page.extrasamples) >= 1 else 0
    return min(spp, colour + alpha)


def _tag_bytes(page: Any, tag: int) -> bytes | None:
    t = page.tags.get(tag)
    value = getattr(t, "value", None)
    return bytes(value) if isinstance(value, (bytes, bytearray)) and value else None


def _tiff_dpi(page: Any) -> tuple[float, float] | None:
    try:
        unit = int(page.tags[296].value) if 296 in page.tags else 2
        x, y = (page.tags[t].value for t in (282, 283))
        per_inch = {2: 1.0, 3: 2.54}.get(unit)
        if per_inch is None:
            return None
        dpi = _valid_dpi((x[0] / x[1] * per_inch, y[0] / y[1] * per_inch))
    except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError):
        return None
    return (round(dpi[0], 2), round(dpi[1], 2)) if dpi else None


def _tiff_exif(fp: IO[bytes], name: str) -> Image.Exif | None:
    """IFD0 of a TIFF (with its Exif/GPS sub-directories) as a Pillow Exif, or None."""
    try:
        fp.seek(0)
        exif = Image.Exif()
        exif.load_from_fp(fp)
        return exif if len(exif) else None
    except Exception:
        _log.warning("ignoring unreadable EXIF data in %s", name)
        return None


def _jpeg_quality_of(im: Image.Image) -> float | None:
    """The IJG-equivalent quality of a JPEG's quantisation tables (None for other formats)."""
    if im.format not in ("JPEG", "MPO"):
        return None
    from deconv_gui.core.jpeg_quality import quality_from_tables

    q = quality_from_tables(getattr(im, "quantization", None))
    return None if q is None else round(q, 1)


def _check_is_file(p: Path) -> None:
    """Refuse anything but a regular file (following links), without opening it."""
    name = p.name or str(p)
    try:
        mode = os.stat(p).st_mode
    except OSError as e:
        raise ImageReadError(_os_read_message(name, e)) from e
    _check_regular(mode, name)


def _check_regular(mode: int, name: str) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise ImageReadError(f"Cannot read {name}: it is a folder, not an image file")
    if stat.S_ISFIFO(mode):
        what = "a named pipe (FIFO)"
    elif stat.S_ISSOCK(mode):
        what = "a socket"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        what = "a device"
    else:
        what = "a special file"
    raise ImageReadError(f"Cannot read {name}: it is {what}, not an image file")


def _open_regular(p: Path) -> IO[bytes]:
    """Open ``p`` for reading only if it is a regular file.

    Opened non-blocking (a FIFO swapped in after `_check_is_file` must not block the open),
    then checked again on the open descriptor; reads of a regular file are not affected.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(p, flags)
    try:
        _check_regular(os.fstat(fd).st_mode, p.name or str(p))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _check_not_empty(fp: IO[bytes], name: str) -> None:
    if os.fstat(fp.fileno()).st_size == 0:
        raise ImageReadError(f"Cannot read {name}: the file is empty")


def _os_read_message(name: str, e: OSError) -> str:
    if isinstance(e, PermissionError) or e.errno in (errno.EACCES, errno.EPERM):
        return f"Cannot read {name}: permission denied"
    if isinstance(e, FileNotFoundError):
        return f"Cannot read {name}: the file does not exist"
    if e.errno == errno.ELOOP:
        return f"Cannot read {name}: a link that points to itself (a loop of links)"
    if e.errno == errno.ENAMETOOLONG:
        return f"Cannot read {name}: the file name is too long"
    if isinstance(e, IsADirectoryError):
        return f"Cannot read {name}: it is a folder, not an image file"
    return f"Cannot read {name}: {e.strerror or e}"


def _decode_message(name: str, e: BaseException) -> str:
    """In plain words; the decoder's own text ("image file is truncated (13 bytes not
    processed)") goes to the log only."""
    _log.info("decoding %s failed: %s: %s", name, type(e).__name__, e)
    return (
        f"Cannot read {name}: the file is damaged or incomplete (perhaps it was not fully "
        "copied or downloaded)"
    )


@contextmanager
def _quiet_pillow() -> Iterator[None]:
    """Pillow warns about oversized headers (we check those ourselves) and about corrupt
    metadata in the user's files (we cope); none of that should reach the user as a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


@contextmanager
def _pillow_limit_for(max_pixels: int) -> Iterator[None]:
    """Let Pillow open and decode pictures up to ``max_pixels``.

    Pillow refuses pictures over twice ``Image.MAX_IMAGE_PIXELS`` (179 MP by default) with a
    DecompressionBombError, at open and again while decoding (its TIFF plugin checks in
    ``load_prepare``), which made valid 180-250 MP TIFFs look damaged. Where our limit (checked
    from the header before decoding, `_open_pillow`) is the looser one, Pillow's is lifted for
    as long as any such load runs (counted, so concurrent loads do not restore it too early).
    """
    global _PIL_LIFTS, _PIL_SAVED_LIMIT
    with _PIL_LIMIT_LOCK:
        limit = Image.MAX_IMAGE_PIXELS if _PIL_LIFTS == 0 else _PIL_SAVED_LIMIT
        lift = limit is not None and max_pixels > 2 * limit
        if lift:
            if _PIL_LIFTS == 0:
                _PIL_SAVED_LIMIT = Image.MAX_IMAGE_PIXELS
                Image.MAX_IMAGE_PIXELS = None
            _PIL_LIFTS += 1
    try:
        yield
    finally:
        if lift:
            with _PIL_LIMIT_LOCK:
                _PIL_LIFTS -= 1
                if _PIL_LIFTS == 0:
                    Image.MAX_IMAGE_PIXELS = _PIL_SAVED_LIMIT


class _NotIdentified(ImageReadError):
    """Pillow does not recognise the file (it may still be a TIFF that tifffile reads)."""


def _open_pillow_or_tiff(fp: IO[bytes], name: str, max_pixels: int) -> ImageFile.ImageFile | None:
    """`_open_pillow`, or None for a TIFF whose samples only tifffile reads correctly
    (`_load_tiff_samples`): signed, 32/64-bit or floating-point samples, which Pillow opens
    with the wrong range (int32, uint32, int8) or not at all (float64, float16)."""
    try:
        im = _open_pillow(fp, name, max_pixels)
    except _NotIdentified:
        if _is_tiff(fp):
            return None
        raise
    if im.format == "TIFF" and _pillow_misreads(im):
        return None  # (not im.close(): it would close our file too)
    return im


def _is_tiff(fp: IO[bytes]) -> bool:
    fp.seek(0)
    head = fp.read(4)
    fp.seek(0)
    return head in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _pillow_misreads(im: ImageFile.ImageFile) -> bool:
    tags = im.tag_v2  # type: ignore[attr-defined]
    formats = _as_tuple(tags.get(339, (1,)))
    bits = _as_tuple(tags.get(258, (8,)))
    return im.mode in ("I", "F") or any(f in (2, 3) for f in formats) or max(bits) > 16


def _as_tuple(v: Any) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in (v if isinstance(v, tuple) else (v,))) or (0,)
    except (TypeError, ValueError):
        return (0,)


def _open_pillow(fp: IO[bytes], name: str, max_pixels: int) -> ImageFile.ImageFile:
    """Image.open (header only) with our pixel limit enforced before anything is decoded."""
    try:
        im = Image.open(fp)
    except Image.DecompressionBombError as e:  # only where our limit is stricter than Pillow's
        raise ImageReadError(_too_large_message(name, None, max_pixels)) from e
    except (UnidentifiedImageError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise _NotIdentified(_unidentified_message(fp, name)) from e
    except OSError as e:
        if e.errno is not None:  # a real I/O error, reported as such by the caller
            raise
        raise ImageReadError(_decode_message(name, e)) from e  # Pillow: damaged header
    w, h = im.size
    if w * h > max_pixels:
        im.close()
        raise ImageReadError(_too_large_message(name, (w, h), max_pixels))
    if w <= 0 or h <= 0:
        im.close()
        raise ImageReadError(f"Cannot read {name}: the image has no pixels")
    return im


def megapixels_text(pixels: float) -> str:
    """``pixels`` in megapixels for a message: "5,369", "12.2", "0.0051"."""
    mp = pixels / 1e6
    if mp >= 100:
        return f"{mp:,.0f} megapixels"
    return f"{mp:.1f} megapixels" if mp >= 1 else f"{mp:.2g} megapixels"


def _too_large_message(name: str, size: tuple[int, int] | None, max_pixels: int) -> str:
    limit = megapixels_text(max_pixels)
    if size is None:
        return f"Cannot read {name}: the image is larger than the limit of {limit}"
    w, h = size
    return (
        f"Cannot read {name}: {w}x{h} ({megapixels_text(w * h)}) is larger than the "
        f"limit of {limit}"
    )


def _unidentified_message(fp: IO[bytes], name: str) -> str:
    with suppress(OSError):
        fp.seek(0)
        head = fp.read(16)
        if _is_heif_header(head):
            return _heif_missing_message(name)
        if _looks_like_image(head):  # begins as a PNG/JPEG/TIFF/WebP/BMP does, then breaks
            return _decode_message(name, ValueError("unidentified after a known signature"))
    return f"Cannot read {name}: not an image file, or not a format we read ({_SUPPORTED_TEXT})"


def _looks_like_image(head: bytes) -> bool:
    """Whether the first bytes are the signature of a format we read."""
    return (
        head.startswith((_PNG_SIGNATURE, b"\xff\xd8\xff", b"II*\x00", b"MM\x00*"))
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or (head[:2] == b"BM" and len(head) > 14 and head[14] in (12, 40, 52, 56, 64, 108, 124))
    )


def _check_supported(im: Image.Image, name: str) -> str:
    fmt = _READ_FORMATS.get(im.format or "")
    if fmt is None:
        raise ImageReadError(
            f"Cannot read {name}: {im.format or 'this'} images are not supported "
            f"(use {_SUPPORTED_TEXT})"
        )
    return fmt


def _is_heif_header(head: bytes) -> bool:
    return len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS


def _heif_missing_message(name: str) -> str:
    return (
        f"Cannot read {name}: HEIC/HEIF photos need an optional extra; "
        "install it with: pip install deconv-gui[heic]"
    )


def _prepare_heif(fp: IO[bytes], name: str) -> None:
    """Register pillow-heif's opener the first time a HEIF file shows up."""
    head = fp.read(16)
    fp.seek(0)
    if not _is_heif_header(head):
        return
    global _HEIF_REGISTERED
    with _HEIF_LOCK:
        if _HEIF_REGISTERED is None:
            try:
                import pillow_heif

                pillow_heif.register_heif_opener()
                _HEIF_REGISTERED = True
            except ImportError:
                _HEIF_REGISTERED = False
    if not _HEIF_REGISTERED:
        raise ImageReadError(_heif_missing_message(name))


def _load_oriented(im: ImageFile.ImageFile) -> tuple[int, int, Image.Exif | None]:
    """``im.load()``, then (original orientation, orientation still to apply, EXIF).

    Pillow's TIFF plugin (recent versions) rotates the pixels itself while loading and
    removes the tag; its JPEG/PNG/WebP plugins do not; pillow-heif does and keeps the original
    in ``info``. Comparing the tag before and after loading covers all of them.
    """
    before = _orientation_of(_pillow_exif(im, loaded=False))  # an int: Pillow edits the Exif
    im.load()
    exif = _pillow_exif(im, loaded=True)
    after = _orientation_of(exif)
    if im.format == "HEIF":
        original = im.info.get("original_orientation")
        return (original if isinstance(original, int) and 1 <= original <= 8 else 1), 1, exif
    if before != 1 and after == 1:  # the decoder applied it
        return before, 1, exif
    return after, after, exif


def _png_colour_type(fp: IO[bytes]) -> int | None:
    """The colour type byte of a PNG's IHDR (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA)."""
    fp.seek(0)
    head = fp.read(26)
    if len(head) == 26 and head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR":
        return head[25]
    return None


def _stored_size(im: ImageFile.ImageFile) -> tuple[int, int]:
    """(width, height) as stored in the file; Pillow reports a TIFF's size after the rotation
    its TIFF plugin applies while loading."""
    if im.format == "TIFF":
        tags = im.tag_v2  # type: ignore[attr-defined]
        with suppress(KeyError, TypeError, ValueError):
            return int(tags[256]), int(tags[257])
    return im.size


def _source_bits(im: ImageFile.ImageFile) -> int:
    if im.mode in _GREY16_MODES or im.mode == "F":
        return 16
    if im.format == "TIFF":
        bps = im.tag_v2.get(258, (8,))  # type: ignore[attr-defined]
        bps = bps if isinstance(bps, tuple) else (bps,)
        return 16 if max(int(b) for b in bps) > 8 else 8
    if im.format == "PNG" and im.tile:
        return 16 if ";16" in str(im.tile[0].args) else 8
    return 8


def _decode_pillow(
    im: Image.Image, name: str, bits: int, icc: bytes | None
) -> tuple[np.ndarray, np.ndarray | None, str, int, bytes | None]:
    """Pixels of a loaded Pillow image as (values, alpha, mode, bits, icc).

    ``values`` is (H, W) for grey or (H, W, 3) for colour, uint8 or uint16.
    """
    mode = im.mode
    if mode in _GREY16_MODES:
        arr = np.asarray(im)
        if arr.dtype != np.uint16:
            arr = np.clip(arr, 0, 65535).astype(np.uint16)
        return arr, None, "L", 16, icc
    if mode == "F":
        raise ImageReadError(
            f"Cannot read {name}: 32-bit floating-point images are not supported "
            "(export a 16-bit TIFF or PNG)"
        )
    if mode in ("1", "L") and "transparency" not in im.info:
        return np.asarray(im.convert("L")), None, "L", 8, icc
    if mode in ("1", "L", "LA", "La"):
        arr = np.asarray(im.convert("LA"))
        return arr[:, :, 0], arr[:, :, 1], "LA", 8, icc
    if mode == "CMYK":
        rgb, icc = _cmyk_to_rgb(im, icc)
        return rgb, None, "RGB", 8, icc
    if mode in ("PA", "RGBA", "RGBa") or (mode in ("P", "RGB") and "transparency" in im.info):
        arr = np.asarray(im.convert("RGBA"))
        return arr[:, :, :3], arr[:, :, 3], "RGBA", 8, icc
    if mode not in ("P", "RGB", "RGBX", "YCbCr"):
        raise ImageReadError(f"Cannot read {name}: the {mode} colour mode is not supported")
    return np.asarray(im.convert("RGB")), None, "RGB", bits, icc


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None) -> tuple[np.ndarray, bytes | None]:
    """CMYK (print JPEG/TIFF) to sRGB through its ICC profile when it has one."""
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            out = ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
            if out is not None:
                return np.asarray(out), dst.tobytes()
        except (ImageCms.PyCMSError, OSError, ValueError):
            _log.warning("could not apply the CMYK ICC profile; using a plain conversion")
    return np.asarray(im.convert("RGB")), None


def _decode_16bit_cv2(
    fp: IO[bytes], name: str, size: tuple[int, int], pil_mode: str
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """16-bit colour / grey+alpha pixels via OpenCV as (values, alpha, mode)."""
    fp.seek(0)
    data = bytearray(os.fstat(fp.fileno()).st_size)
    n = fp.readinto(data)  # type: ignore[attr-defined]
    buf = np.frombuffer(data, dtype=np.uint8)[:n]
    # Some OpenCV builds apply the EXIF orientation inside the decoder (OpenCV 5 does for
    # TIFF even with IMREAD_UNCHANGED); we apply it ourselves, so neutralise it in the bytes.
    if buf[:4].tobytes() in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        _reset_tiff_orientation(buf, 0)
    elif buf[:8].tobytes() == _PNG_SIGNATURE:
        _reset_png_orientation(buf)
    arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    del buf, data
    w, h = size
    if arr is None or arr.dtype != np.uint16 or arr.shape[:2] != (h, w):
        raise ImageReadError(f"Cannot read {name}: the 16-bit pixel data is truncated or damaged")
    if arr.ndim == 2:
        return arr, None, "L"
    if pil_mode == "LA":  # OpenCV expands grey+alpha to BGRA
        return np.ascontiguousarray(arr[:, :, 0]), np.ascontiguousarray(arr[:, :, -1]), "LA"
    if arr.shape[2] == 4:
        rgba = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
        if pil_mode == "RGBA":
            return np.ascontiguousarray(rgba[:, :, :3]), np.ascontiguousarray(rgba[:, :, 3]), "RGBA"
        return np.ascontiguousarray(rgba[:, :, :3]), None, "RGB"
    if arr.shape[2] == 3:
        return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB), None, "RGB"
    raise ImageReadError(f"Cannot read {name}: unsupported channel layout ({arr.shape[2]})")


def _reset_tiff_orientation(buf: np.ndarray, start: int) -> bool:
    """Set tag 274 of the first IFD of the TIFF structure at ``buf[start:]`` to 1, in place."""
    try:
        head = buf[start : start + 16].tobytes()
        e = "<" if head[:2] == b"II" else ">" if head[:2] == b"MM" else None
        if e is None:
            return False
        magic = struct.unpack(e + "H", head[2:4])[0]
        if magic == 42:
            ifd = struct.unpack(e + "I", head[4:8])[0]
            count_fmt, count_size, entry_size, value_at = "H", 2, 12, 8
        elif magic == 43:
            ifd = struct.unpack(e + "Q", head[8:16])[0]
            count_fmt, count_size, entry_size, value_at = "Q", 8, 20, 12
        else:
            return False
        pos = start + ifd
        count = struct.unpack(e + count_fmt, buf[pos : pos + count_size].tobytes())[0]
        for i in range(min(count, 4096)):
            entry = pos + count_size + i * entry_size
            if entry + entry_size > buf.size:
                return False
            tag, typ = struct.unpack(e + "HH", buf[entry : entry + 4].tobytes())
            if tag == _ORIENTATION and typ == 3:  # SHORT, stored inline
                at = entry + value_at
                buf[at : at + 2] = np.frombuffer(struct.pack(e + "H", 1), dtype=np.uint8)
                return True
    except (struct.error, ValueError):
        return False
    return False


def _reset_png_orientation(buf: np.ndarray) -> bool:
    pos = 8
    while pos + 12 <= buf.size:
        length = struct.unpack(">I", buf[pos : pos + 4].tobytes())[0]
        ctype = buf[pos + 4 : pos + 8].tobytes()
        end = pos + 8 + length
        if end + 4 > buf.size or ctype == b"IEND":
            return False
        if ctype == b"eXIf":
            start = pos + 8
            if buf[start : start + 6].tobytes() == b"Exif\x00\x00":
                start += 6
            if _reset_tiff_orientation(buf, start):
                crc = zlib.crc32(buf[pos + 4 : end].tobytes()) & 0xFFFFFFFF
                buf[end : end + 4] = np.frombuffer(struct.pack(">I", crc), dtype=np.uint8)
                return True
            return False
        pos = end + 4
    return False


def _fit(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """``rgb`` shrunk (area average) so that its longest side is at most ``max_side``."""
    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(np.clip(rgb, 0.0, 1.0), dtype=np.float32)


def _preview_rgb(im: Image.Image, name: str, max_side: int, *, alpha: bool = False) -> Image.Image:
    """``im`` as RGB for a preview (RGBA with ``alpha`` when it has transparency)."""
    if im.mode in ("1", "L") and "transparency" not in im.info:
        grey = im.convert("L") if im.mode == "1" else im
        grey.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)  # before tripling it
        return grey.convert("RGB")
    if im.mode in _GREY16_MODES:
        grey = np.asarray(im).astype(np.float32) * np.float32(255.0 / 65535.0)
        return Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8)).convert("RGB")
    if im.mode in ("P", "PA") or "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode == "F":
        raise ImageReadError(f"Cannot read {name}: 32-bit floating-point images are not supported")
    return im.convert("RGBA" if alpha and im.mode in _ALPHA_MODES else "RGB")


_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La"}


def _pillow_exif(im: Image.Image, *, loaded: bool) -> Image.Exif | None:
    """The image's EXIF (None when it has none); never triggers a full PNG decode."""
    if (
        not loaded
        and im.format == "PNG"
        and "exif" not in im.info
        and "Raw profile type exif" not in im.info
    ):
        return None
    try:
        exif = im.getexif()
    except Exception:  # corrupt EXIF: keep the pixels, lose the metadata
        _log.warning("ignoring unreadable EXIF data in %s", getattr(im, "filename", "?"))
        return None
    return exif if len(exif) else None


def _orientation_of(exif: Image.Exif | None) -> int:
    """The EXIF orientation tag (1..8); anything missing or invalid counts as 1."""
    if exif is None:
        return 1
    value = exif.get(_ORIENTATION, 1)
    try:
        value = int(value[0] if isinstance(value, tuple) else value)
    except (TypeError, ValueError, IndexError):
        return 1
    return value if 1 <= value <= 8 else 1


def _apply_orientation(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation to an (H, W) or (H, W, C) array (same as ImageOps.exif_transpose)."""
    if orientation == 2:
        a = a[:, ::-1]
    elif orientation == 3:
        a = a[::-1, ::-1]
    elif orientation == 4:
        a = a[::-1]
    elif orientation == 5:
        a = a.swapaxes(0, 1)
    elif orientation == 6:
        a = a.swapaxes(0, 1)[:, ::-1]
    elif orientation == 7:
        a = a.swapaxes(0, 1)[::-1, ::-1]
    elif orientation == 8:
        a = a.swapaxes(0, 1)[::-1]
    return np.ascontiguousarray(a)


def _dpi_of(im: Image.Image) -> tuple[float, float] | None:
    dpi = _valid_dpi(im.info.get("dpi"))
    # PNG stores pixels per metre: 300 dpi comes back as 299.9994
    return (round(dpi[0], 2), round(dpi[1], 2)) if dpi else None


def _clean_exif(src: Image.Exif, name: str = "") -> Image.Exif | None:
    """A self-contained copy of the descriptive EXIF: IFD0 tags (no storage tags, no
    thumbnail IFD), the Exif (with Interop) and GPS sub-IFDs as dicts; orientation reset to 1.
    A damaged part is dropped on its own; the rest is kept. The source's byte order is kept
    (a maker note is stored in it and breaks in the other), and text tags keep their bytes:
    Pillow reads them as Latin-1 and would write anything beyond ASCII as ``?`` (``Jané``,
    ``©`` in Artist and Copyright)."""
    out = Image.Exif()
    out.endian = src.endian
    try:
        for tag, value in src.items():
            if tag not in _STRUCTURAL_TAGS and tag not in (_EXIF_IFD, _GPS_IFD):
                out[tag] = _stored_text(value)
    except Exception:
        _log.warning("ignoring unreadable EXIF data in %s", name or "a photo")
        return None
    for ifd_tag in (_EXIF_IFD, _GPS_IFD):
        try:
            sub = dict(src.get_ifd(ifd_tag))
            if ifd_tag == _EXIF_IFD and _INTEROP_IFD in sub:
                interop = dict(src.get_ifd(_INTEROP_IFD))
                if interop:
                    sub[_INTEROP_IFD] = interop
                else:
                    del sub[_INTEROP_IFD]
        except Exception:
            _log.warning("ignoring an unreadable EXIF sub-directory in %s", name or "a photo")
            continue
        if sub:
            out[ifd_tag] = {k: _stored_text(v) for k, v in sub.items()}
    if _ORIENTATION in out:
        out[_ORIENTATION] = 1
    return out if len(out) else None


class _StoredText(str):
    """An EXIF text read by Pillow, which decodes the bytes of ASCII-typed tags as Latin-1,
    and writes text back with ``encode("ascii", "replace")``: a ``?`` for each byte beyond
    ASCII (UTF-8 ``Jané``, ``©``). This gives back the stored bytes, and the tag stays ASCII
    (as bytes it would become a list of numbers in the Exif and GPS sub-IFDs, whose tag
    types Pillow mostly does not know: LensModel, CameraOwnerName...)."""

    __slots__ = ()

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return str.encode(self, "latin-1", "replace")


def _stored_text(value: Any) -> Any:
    """An EXIF text that writes back the bytes it was stored as (see `_StoredText`)."""
    if isinstance(value, str) and not value.isascii():
        return _StoredText(value)
    return value


def _exif_bytes(exif: Image.Exif | None) -> bytes | None:
    if exif is None:
        return None
    try:
        return exif.tobytes()
    except Exception:
        _log.warning("could not serialise the EXIF data; it is dropped")
        return None


# --------------------------------------------------------------------------------------------
# writing


def save_image(
    path: str | os.PathLike[str],
    rgb: np.ndarray,
    meta: ImageMeta,
    *,
    overwrite: bool = False,
    quality: int = 95,
) -> Path:
    """Write ``rgb`` (HxWx3 float32 [0, 1]) with ``meta``'s EXIF, XMP, IPTC, ICC profile and
    bit depth.

    The format follows the extension (.jpg/.jpeg, .png, .tif/.tiff, .webp, .bmp). A 16-bit
    source stays 16-bit in PNG and TIFF (JPEG, WebP and BMP are 8-bit); a grey source is
    written grey (WebP has no grey: RGB); the alpha plane is written where the format has one
    (PNG, TIFF, WebP). The EXIF orientation is reset to 1 (the pixels are upright) and the
    EXIF pixel dimensions follow the new size; so do the XMP's (`deconv_gui.core.metadata`),
    which is written into JPEG, PNG, TIFF and WebP, IPTC into all but WebP (which has no IPTC
    block). ``quality`` applies to JPEG and WebP (100 = lossless WebP); a WebP original
    that was lossless (``meta.extra["lossless"]``) is written lossless in WebP, as a PNG or
    TIFF would be.

    The write is atomic: the metadata is added to the finished temporary file, which then
    appears under its name. An existing file (and the source ``meta.path``) is only replaced
    with ``overwrite=True``. Raises `ImageWriteError` with a one-line message.
    """
    out = Path(path).expanduser()
    name = out.name or str(out)
    fmt = _WRITE_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ImageWriteError(
            f"Cannot save {name}: unsupported file type {out.suffix or '(none)'!r} "
            f"(use {', '.join(sorted(WRITE_EXTENSIONS))})"
        )
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    img = check_rgb(rgb, "image")
    h, w = img.shape[:2]
    if h == 0 or w == 0:
        raise ValueError("cannot save an empty image")
    limit = _MAX_SIDE.get(fmt)
    if limit is not None and max(h, w) > limit:
        raise ImageWriteError(
            f"Cannot save {name}: {w}x{h} is larger than {fmt} allows ({limit} pixels per "
            "side); save as PNG or TIFF instead"
        )
    check_target(out, meta, overwrite)

    values, mode, alpha_ok = _output_planes(img, meta, fmt)
    if meta.alpha is not None and not alpha_ok and float(np.min(meta.alpha)) < 1.0:
        _log.warning(
            "%s: %s holds no transparency: the photo's transparent areas are saved opaque "
            "(PNG, TIFF or WebP keep them)",
            name,
            fmt,
        )
    icc = meta.icc_profile if _icc_matches(meta.icc_profile, mode) else None
    if meta.icc_profile and icc is None:
        _log.warning("%s: the ICC profile does not match the %s output; not embedded", name, mode)
    elif icc is not None and fmt == "BMP":  # a wide-gamut photo would be shown as sRGB
        _log.warning(
            "%s: BMP holds no colour profile: the photo's is not embedded (PNG or TIFF keep it)",
            name,
        )
    exif = _output_exif(meta.exif, w, h)
    dpi = _valid_dpi(meta.extra.get("dpi"))

    def write(fp: IO[bytes]) -> None:
        if fmt == "TIFF":
            _write_tiff(fp, values, alpha=alpha_ok, icc=icc, exif=exif, dpi=dpi)
        elif fmt == "PNG" and values.dtype == np.uint16:
            _write_png16(fp, values, icc=icc, exif=_exif_bytes(exif), dpi=dpi)
        else:
            q = 100 if fmt == "WEBP" and meta.extra.get("lossless") is True else int(quality)
            _write_pillow(fp, fmt, values, icc=icc, exif=exif, dpi=dpi, quality=q)
        if fmt in metadata.XMP_FORMATS and (meta.xmp or meta.iptc):
            _embed_xmp_iptc(fp, fmt, meta, w, h, name)
        _warn_metadata_left_out(fmt, meta, name)

    _atomic_write(out, write, overwrite=overwrite)
    return out


def _warn_metadata_left_out(fmt: str, meta: ImageMeta, name: str) -> None:
    """Say what the photo's XMP or IPTC the output format has no room for (WebP: IPTC; BMP:
    both), so nothing is lost without a word."""
    lost = [
        what
        for what, held, formats in (
            ("XMP", meta.xmp, metadata.XMP_FORMATS),
            ("IPTC", meta.iptc, metadata.IPTC_FORMATS),
        )
        if held and fmt not in formats
    ]
    if lost:
        _log.warning(
            "%s: %s has no room for the photo's %s metadata (keywords, caption, credits...): "
            "not written; JPEG, PNG and TIFF keep it",
            name,
            "WebP" if fmt == "WEBP" else fmt,
            " and ".join(lost),
        )


def _embed_xmp_iptc(fp: IO[bytes], fmt: str, meta: ImageMeta, w: int, h: int, name: str) -> None:
    """Rewrite the finished temporary file ``fp`` with the XMP and IPTC added by exiv2."""
    fp.flush()
    fp.seek(0)
    data = metadata.embed_xmp_iptc(
        fp.read(),
        fmt,
        xmp=meta.xmp,
        iptc=meta.iptc,
        width=w,
        height=h,
        name=name,
        develop="raw" not in meta.extra,  # a RAW's develop settings do not fit its render
    )
    if data is not None:
        fp.seek(0)
        fp.write(data)
        fp.truncate()
    fp.seek(0, os.SEEK_END)


def check_target(out: Path, meta: ImageMeta, overwrite: bool) -> None:
    """Raise `ImageWriteError` unless `save_image` may write ``out`` (checked again there;
    callers use it to refuse before a long computation): never over ``meta.path`` (the
    original photo), over another existing file only with ``overwrite``."""
    name = out.name or str(out)
    folder = out.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ImageWriteError(f"Cannot save {name}: the folder {folder} {what}")
    if out.is_dir():
        raise ImageWriteError(f"Cannot save {name}: a folder with that name exists")
    # the original: never, even with ``overwrite`` (a caller that asked the user whether to
    # replace it passes a meta without its path)
    if meta.path is not None and same_file(out, Path(meta.path)):
        raise ImageWriteError(
            f"Cannot save {name}: that would replace the original photo (choose another name)"
        )
    if overwrite:
        return
    if out.exists() or out.is_symlink():
        raise ImageWriteError(
            f"Cannot save {name}: a file with that name already exists in {folder} "
            "(choose another name or allow overwriting)"
        )


def same_file(a: Path, b: Path) -> bool:
    """Whether the paths name one file (a link, another spelling or case of the name)."""
    with suppress(OSError):
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _output_planes(img: np.ndarray, meta: ImageMeta, fmt: str) -> tuple[np.ndarray, str, bool]:
    """Quantised pixels for ``fmt`` as (values (H, W, C), mode, has_alpha)."""
    sixteen = meta.bit_depth == 16 and fmt in _SIXTEEN_BIT_FORMATS
    quantize = to_uint16 if sixteen else to_uint8
    alpha = meta.alpha if (meta.alpha is not None and fmt in _ALPHA_FORMATS) else None
    # WebP has no grey; 16-bit grey+alpha TIFF is valid but Pillow (so this module) cannot
    # open it, so that one is stored as RGBA.
    grey = meta.is_grey and fmt != "WEBP" and not (fmt == "TIFF" and sixteen and alpha is not None)
    planes: list[np.ndarray] = []
    if grey:
        luma = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        planes.append(quantize(luma)[:, :, None])
    else:
        planes.append(quantize(img))
    if alpha is not None:
        a = np.asarray(alpha, dtype=np.float32)
        if a.shape != img.shape[:2]:
            h, w = img.shape[:2]
            a = np.asarray(cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)
        planes.append(quantize(a)[:, :, None])
    values = planes[0] if len(planes) == 1 else np.concatenate(planes, axis=2)
    mode = ("L" if grey else "RGB") + ("A" if alpha is not None else "")
    return np.ascontiguousarray(values), mode, alpha is not None


def _icc_matches(icc: bytes | None, mode: str) -> bool:
    if not icc or len(icc) < 20:
        return False
    space = icc[16:20]
    return space == (b"GRAY" if mode.startswith("L") else b"RGB ")


def _valid_dpi(dpi: Any) -> tuple[float, float] | None:
    """(x, y) dots per inch, or None. Values below 10 count as unset: writers use 1 (or 0)
    as a placeholder, and no photo is meant to be printed at 1 dot per inch."""
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError):
        return None
    ok = 10 <= x < 1e6 and 10 <= y < 1e6
    return (x, y) if ok else None


def _output_exif(exif: bytes | None, width: int, height: int) -> Image.Exif | None:
    if not exif:
        return None
    try:
        with _quiet_pillow():
            src = Image.Exif()
            src.load(exif)
            clean = _clean_exif(src)
    except Exception:
        _log.warning("the photo's EXIF data could not be read; it is not written")
        return None
    if clean is None:
        return None
    exif_ifd = clean.get(_EXIF_IFD)
    if isinstance(exif_ifd, dict):
        if _PIXEL_X_DIMENSION in exif_ifd:
            exif_ifd[_PIXEL_X_DIMENSION] = width
        if _PIXEL_Y_DIMENSION in exif_ifd:
            exif_ifd[_PIXEL_Y_DIMENSION] = height
    return clean


def _write_pillow(
    fp: IO[bytes],
    fmt: str,
    values: np.ndarray,
    *,
    icc: bytes | None,
    exif: Image.Exif | None,
    dpi: tuple[float, float] | None,
    quality: int,
) -> None:
    if fmt == "JPEG" or fmt == "BMP":
        values = values[:, :, :3] if values.shape[2] >= 3 else values[:, :, :1]
    arr = values[:, :, 0] if values.shape[2] == 1 else values
    im = Image.fromarray(arr)
    params: dict[str, Any] = {}
    exif_data = _exif_bytes(exif) if fmt != "BMP" else None
    if fmt == "JPEG":
        params.update(quality=quality, subsampling=0 if quality >= 90 else 2)
        if exif_data and len(exif_data) > _JPEG_APP1_MAX:
            exif_data = _shrink_exif_for_jpeg(exif)
    elif fmt == "WEBP":
        params.update(quality=quality, lossless=quality >= 100, exact=True, method=4)
    elif fmt == "PNG":
        params.update(compress_level=6)
    if fmt != "BMP":
        if icc:
            params["icc_profile"] = icc
        if exif_data:
            params["exif"] = exif_data
    if dpi and fmt in ("JPEG", "PNG", "BMP"):
        params["dpi"] = (round(dpi[0]), round(dpi[1])) if fmt != "PNG" else dpi
    im.save(fp, format=fmt, **params)


def _shrink_exif_for_jpeg(exif: Image.Exif | None) -> bytes | None:
    """EXIF must fit one 64 KB JPEG segment: drop the maker note, then give up."""
    if exif is None:
        return None
    exif_ifd = exif.get(_EXIF_IFD)
    if isinstance(exif_ifd, dict) and _MAKER_NOTE in exif_ifd:
        del exif_ifd[_MAKER_NOTE]
        data = _exif_bytes(exif)
        if data and len(data) <= _JPEG_APP1_MAX:
            _log.warning("EXIF maker note dropped: too large for a JPEG")
            return data
    _log.warning("EXIF data dropped: too large for a JPEG")
    return None


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type
_ROWS_PER_BLOCK = 64


def _png_chunk(fp: IO[bytes], ctype: bytes, data: bytes) -> None:
    fp.write(struct.pack(">I", len(data)))
    fp.write(ctype)
    fp.write(data)
    fp.write(struct.pack(">I", zlib.crc32(data, zlib.crc32(ctype)) & 0xFFFFFFFF))


def _paeth_filter(raw: np.ndarray, prev: np.ndarray, bpp: int) -> np.ndarray:
    """PNG filter type 4 for a block of rows (uint8, (n, stride)); ``prev`` is the row above."""
    a = np.zeros(raw.shape, dtype=np.int16)
    a[:, bpp:] = raw[:, :-bpp]
    b = np.empty(raw.shape, dtype=np.int16)
    b[0] = prev
    b[1:] = raw[:-1]
    c = np.zeros(raw.shape, dtype=np.int16)
    c[:, bpp:] = b[:, :-bpp]
    pa = np.abs(b - c)
    pb = np.abs(a - c)
    pc = np.abs(a + b - 2 * c)
    pred = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    return (raw.astype(np.int16) - pred).astype(np.uint8)


def _write_png16(
    fp: IO[bytes],
    values: np.ndarray,
    *,
    icc: bytes | None,
    exif: bytes | None,
    dpi: tuple[float, float] | None,
) -> None:
    """A 16-bit PNG (grey, grey+alpha, RGB, RGBA) with iCCP, eXIf and pHYs chunks."""
    h, w, c = values.shape
    fp.write(_PNG_SIGNATURE)
    _png_chunk(fp, b"IHDR", struct.pack(">IIBBBBB", w, h, 16, _PNG_COLOUR_TYPE[c], 0, 0, 0))
    if icc:
        _png_chunk(fp, b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc))
    if exif:
        _png_chunk(fp, b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif)
    if dpi:
        ppm = [round(d / 0.0254) for d in dpi]
        _png_chunk(fp, b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1))
    stride = w * c * 2
    prev = np.zeros(stride, dtype=np.uint8)
    comp = zlib.compressobj(6)
    pending = bytearray()
    for y0 in range(0, h, _ROWS_PER_BLOCK):
        block = values[y0 : y0 + _ROWS_PER_BLOCK].astype(">u2")
        raw = block.reshape(block.shape[0], -1).view(np.uint8)
        rows = np.empty((raw.shape[0], stride + 1), dtype=np.uint8)
        rows[:, 0] = 4
        rows[:, 1:] = _paeth_filter(raw, prev, c * 2)
        prev = raw[-1].copy()
        pending += comp.compress(rows.tobytes())
        if len(pending) >= 1 << 20:
            _png_chunk(fp, b"IDAT", bytes(pending))
            pending.clear()
    pending += comp.flush()
    _png_chunk(fp, b"IDAT", bytes(pending))
    _png_chunk(fp, b"IEND", b"")


_TIFF_STRIP_BYTES = 1 << 18


def _write_tiff(
    fp: IO[bytes],
    values: np.ndarray,
    *,
    alpha: bool,
    icc: bytes | None,
    exif: Image.Exif | None,
    dpi: tuple[float, float] | None,
) -> None:
    """A baseline TIFF, Deflate + horizontal predictor, 8 or 16 bits.

    The file takes the byte order of the photo's EXIF (little-endian without one): a maker
    note is stored in its camera's byte order and cannot be converted, so it is only readable
    inside a file of that order. Layout: header, IFD0 (with the EXIF/GPS sub-IFDs and the ICC
    profile), then the strips. The IFD is written twice: first a placeholder of the same size,
    then, once the compressed strip sizes are known, the real one (offsets and counts are
    fixed-size LONG arrays).
    """
    h, w, c = values.shape
    bits = values.dtype.itemsize * 8
    row_bytes = w * c * values.dtype.itemsize
    rows_per_strip = max(1, min(h, _TIFF_STRIP_BYTES // row_bytes))
    n_strips = -(-h // rows_per_strip)

    endian: Literal["<", ">"] = ">" if exif is not None and exif.endian == ">" else "<"
    header = (b"MM\x00*" if endian == ">" else b"II*\x00") + struct.pack(endian + "I", 8)
    ifd = TiffImagePlugin.ImageFileDirectory_v2(header)
    if exif is not None:
        for tag, value in exif.items():
            if tag not in _STRUCTURAL_TAGS:
                ifd[tag] = value
    ifd[256] = w
    ifd[257] = h
    ifd[258] = (bits,) * c
    ifd[259] = 8  # Adobe Deflate
    ifd[262] = 1 if c <= 2 else 2  # BlackIsZero / RGB
    ifd[277] = c
    ifd[278] = rows_per_strip
    ifd[284] = 1  # chunky
    ifd[317] = 2  # horizontal differencing
    ifd[339] = (1,) * c  # unsigned integers
    if alpha:
        ifd[338] = (2,)  # unassociated alpha
    if dpi:
        ifd[282] = float(dpi[0])
        ifd[283] = float(dpi[1])
        ifd[296] = 2  # inch
    if icc:
        ifd[_ICC_TAG] = icc
    ifd[273] = (0,) * n_strips
    ifd[279] = (0,) * n_strips
    placeholder_size = len(ifd.tobytes(8))

    fp.write(header)
    fp.write(b"\x00" * placeholder_size)
    data_start = 8 + placeholder_size
    offsets: list[int] = []
    counts: list[int] = []
    pos = 0
    order = values.dtype.newbyteorder(endian)
    for y0 in range(0, h, rows_per_strip):
        strip = values[y0 : y0 + rows_per_strip]
        diff = strip.copy()
        diff[:, 1:] -= strip[:, :-1]  # wraps modulo 2**bits, as the predictor expects
        data = zlib.compress(diff.astype(order, copy=False).tobytes(), 6)
        if data_start + pos + len(data) > 0xFFFFFFFF:
            raise _TooLarge("the image is too large for a TIFF file (4 GB); save as PNG")
        fp.write(data)
        offsets.append(pos)
        counts.append(len(data))
        pos += len(data)
    ifd[273] = tuple(offsets)  # Pillow adds the end of the IFD block to these
    ifd[279] = tuple(counts)
    block = ifd.tobytes(8)
    if len(block) != placeholder_size:  # pragma: no cover - guards the layout assumption
        raise RuntimeError("TIFF directory changed size between passes")
    fp.seek(8)
    fp.write(block)
    fp.seek(0, os.SEEK_END)


class _TooLarge(Exception):
    pass


def _atomic_write(out: Path, write: Callable[[IO[bytes]], None], *, overwrite: bool) -> None:
    """Write through a temporary file in the same folder: fsync, then move into place."""
    name = out.name or str(out)
    tmp: Path | None = None
    try:
        _remove_stale_temporaries_once(out.parent)
        fd, tmp = _create_temp(out)
        with os.fdopen(fd, "w+b") as fp:
            write(fp)
            fp.flush()
            os.fsync(fp.fileno())
        if overwrite:
            os.replace(tmp, out)
        else:
            _move_no_clobber(tmp, out)
        tmp = None
        _fsync_folder(out.parent)
    except ImageWriteError:
        raise
    except _TooLarge as e:
        raise ImageWriteError(f"Cannot save {name}: {e}") from e
    except FileExistsError as e:
        raise ImageWriteError(
            f"Cannot save {name}: a file with that name already exists in {out.parent}"
        ) from e
    except OSError as e:
        full = e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1))
        raise (DiskFullError if full else ImageWriteError)(_os_write_message(out, e)) from e
    except (ValueError, TypeError, struct.error) as e:  # an encoder refused the data
        raise ImageWriteError(f"Cannot save {name}: {str(e) or type(e).__name__}") from e
    except MemoryError as e:
        raise ImageWriteError(f"Cannot save {name}: not enough memory") from e
    finally:
        if tmp is not None:
            with suppress(OSError):
                os.unlink(tmp)


# Temporary files: ".<name>.<host>-<pid>-<random>.tmp" (host: 6 hex digits of a hash of the
# machine's name). Older versions wrote ".<name>.<random>.tmp".
_HOST_TAG = hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]
_TEMP_RE = re.compile(
    r"^\.(?P<name>.+)\.(?:(?P<host>[0-9a-f]{6})-(?P<pid>[0-9]{1,10})-)?[0-9a-f]{8}\.tmp$",
    re.DOTALL,
)


def temporary_stem(name: str) -> str:
    """The part of an output's name that its temporary file's name starts with: the name
    cut to 64 bytes (UTF-8) at a character boundary, so that the temporary's name stays
    within the 255 bytes file systems allow whatever the script (a 64-character name in
    4-byte characters is 256 bytes)."""
    return os.fsencode(name)[:64].decode("utf-8", "ignore") or "_"


def temporary_of(filename: str) -> str | None:
    """The output name (`temporary_stem`) whose temporary file ``filename`` is, when it is
    named as `save_image` names its temporaries; else None."""
    m = _TEMP_RE.match(filename)
    return m.group("name") if m else None


STALE_TEMP_SECONDS = 600.0  # a temporary file untouched this long is a dead writer's
_CLEANED_FOLDERS: set[str] = set()
_CLEAN_LOCK = threading.Lock()


def _create_temp(out: Path) -> tuple[int, Path]:
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        token = f"{_HOST_TAG}-{os.getpid()}-{secrets.token_hex(4)}"
        tmp = out.parent / f".{temporary_stem(out.name)}.{token}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "could not create a temporary file", str(out.parent))


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files a killed writer left in ``folder``; returns what was removed.

    Only regular files named as `save_image` names its temporaries count. One is stale when
    the process that wrote it (same machine, its id in the name) is gone, or when nothing has
    written to it for `STALE_TEMP_SECONDS` (a writer on another machine sharing the folder, or
    a name without the process id). Errors are ignored: this is housekeeping.
    """
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if m is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                continue
            host, pid = m.group("host"), m.group("pid")
            dead = host == _HOST_TAG and pid is not None and not _process_alive(int(pid))
            if dead or now - st.st_mtime > STALE_TEMP_SECONDS:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    if removed:
        _log.info("removed %d stale temporary file(s) in %s", len(removed), folder)
    return removed


def _remove_stale_temporaries_once(folder: Path) -> None:
    """`remove_stale_temporaries` on the first write into ``folder`` in this process."""
    key = os.path.abspath(folder)
    with _CLEAN_LOCK:
        if key in _CLEANED_FOLDERS:
            return
        _CLEANED_FOLDERS.add(key)
    remove_stale_temporaries(folder)


def _process_alive(pid: int) -> bool:
    """Whether a process with this id runs here (unknown -> True, so nothing is removed)."""
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill would terminate it; rely on the age rule there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def _move_no_clobber(tmp: Path, out: Path) -> None:
    """Move ``tmp`` to ``out`` unless ``out`` exists (a hard link is atomic and never replaces)."""
    try:
        os.link(tmp, out)
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system (FAT, some network shares)
        if out.exists():
            raise FileExistsError(errno.EEXIST, "file exists", str(out)) from None
        os.replace(tmp, out)
        return
    os.unlink(tmp)


def _fsync_folder(folder: Path) -> None:
    if os.name == "nt":
        return
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _os_write_message(out: Path, e: OSError) -> str:
    name = out.name or str(out)
    folder = out.parent
    if isinstance(e, PermissionError) or e.errno in (errno.EACCES, errno.EPERM):
        return f"Cannot save {name}: no permission to write in {folder}"
    if e.errno == errno.ENOSPC:
        return f"Cannot save {name}: the disk is full"
    if e.errno == getattr(errno, "EDQUOT", -1):
        return f"Cannot save {name}: disk quota exceeded"
    if e.errno == errno.EROFS:
        return f"Cannot save {name}: {folder} is on a read-only disk"
    if e.errno == errno.ENAMETOOLONG:
        return f"Cannot save {name}: the file name is too long"
    if isinstance(e, FileNotFoundError):
        if folder.is_dir():  # a folder that takes no new files (/proc, a dead mount)
            return f"Cannot save {name}: {folder} does not take new files"
        return f"Cannot save {name}: the folder {folder} does not exist"
    return f"Cannot save {name}: {e.strerror or e}"


def make_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents) when missing; `ImageWriteError` in plain words
    when it cannot be: a file stands where a folder is wanted, no permission, a full or
    read-only disk."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ImageWriteError(_mkdir_message(folder, e)) from None


def _mkdir_message(folder: Path, e: OSError) -> str:
    lead = f"Cannot create the folder {folder}"
    for part in (folder, *folder.parents):  # the nearest thing that exists on the way
        if part.exists() or part.is_symlink():
            if not part.is_dir():
                there = "a file of that name is there" if part == folder else f"{part} is a file"
                return f"{lead}: {there}, not a folder"
            break
    if isinstance(e, PermissionError) or e.errno in (errno.EACCES, errno.EPERM):
        return f"{lead}: no permission to write there"
    if e.errno == errno.ENOSPC:
        return f"{lead}: the disk is full"
    if e.errno == errno.EROFS:
        return f"{lead}: it is on a read-only disk"
    if e.errno == errno.ENAMETOOLONG:
        return f"{lead}: the name is too long"
    return f"{lead}: {e.strerror or type(e).__name__}"
