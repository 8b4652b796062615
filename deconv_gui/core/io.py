"""Reading and writing photos without losing what the photographer had.

This is the only module that knows about Pillow modes and OpenCV's BGR order. Everything it
returns follows the contract of `deconv_gui.core.image`: RGB, HWC, float32 in [0, 1], plus an
`ImageMeta` record.

Camera RAW files (`RAW_EXTENSIONS`) are read and rendered by `deconv_gui.core.raw`.

Reading: Pillow opens every file and provides the metadata (EXIF, ICC profile, DPI) and, for
8-bit images and 16-bit grey, the pixels. Pillow has no 16-bit colour mode, so 16-bit RGB(A)
and grey+alpha PNG/TIFF pixels are decoded by OpenCV from the same bytes. The EXIF orientation
is applied exactly once, here, on the numpy arrays; `meta.orientation` records the original tag
and `meta.exif` is stored with the tag already reset to 1, without the (stale) thumbnail.

Writing: JPEG, WebP, BMP and 8-bit PNG go through Pillow; 16-bit PNG and all TIFFs through the
small writers below (Pillow can neither hold 16-bit colour nor write EXIF sub-IFDs into a
compressed TIFF). Every write goes to a temporary file in the destination folder, is fsynced
and then moved into place, so a crash or a full disk never leaves half a photo behind.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import secrets
import stat
import struct
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np
from PIL import Image, ImageCms, ImageFile, TiffImagePlugin, UnidentifiedImageError

from deconv_gui.core.image import ImageMeta, Photo, check_rgb
from deconv_gui.core.raw import RAW_EXTENSIONS, is_raw_path, load_raw_photo, load_raw_preview
from deconv_gui.errors import ImageReadError, ImageWriteError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "READ_EXTENSIONS",
    "WRITE_EXTENSIONS",
    "check_target",
    "is_image_path",
    "load_image",
    "load_preview",
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
# dropped: blobs we cannot keep consistent with new pixels (700 XMP, which may repeat the
# orientation; 34377 Photoshop resources and 37724 layers, with stale thumbnails/pixels).
_STRUCTURAL_TAGS = frozenset(
    {
        254, 255, 256, 257, 258, 259, 262, 263, 264, 265, 266, 273, 277, 278, 279, 280, 281,
        284, 288, 289, 290, 291, 292, 293, 317, 318, 319, 320, 322, 323, 324, 325, 330, 332,
        338, 339, 340, 341, 347, 512, 513, 514, 515, 517, 518, 519, 520, 521, 529, 530, 531,
        532, 700, 34377, 34675, 37724,
    }
)  # fmt: skip

_HEIF_REGISTERED: bool | None = None
_HEIF_LOCK = threading.Lock()
_PIL_LIMIT_LOCK = threading.Lock()


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
    missing or empty file, a folder, no permission, truncated or damaged data, a format we do
    not read, a picture larger than ``max_pixels`` (checked from the header, before decoding).
    A camera RAW file (`core.raw`) is rendered with the module's one development.
    """
    p = Path(path)
    if is_raw_path(p):
        return load_raw_photo(p, max_pixels=max_pixels)
    name = p.name or str(p)
    _check_is_file(p)
    try:
        with open(p, "rb") as fp:
            return _load_from_file(p, fp, max_pixels)
    except ImageReadError:
        raise
    except MemoryError as e:
        raise ImageReadError(f"Cannot read {name}: not enough memory to open it") from e
    except OSError as e:  # opening or reading the file itself (decoder errors are mapped below)
        raise ImageReadError(_os_read_message(name, e)) from e


def load_preview(path: str | os.PathLike[str], max_side: int = 1024) -> np.ndarray:
    """A quick, downscaled RGB float32 view (longest side <= ``max_side``), orientation applied.

    JPEGs are decoded at reduced scale (draft mode), so this is much faster than `load_image`
    for big photos. Alpha is dropped; 16-bit data is shown at 8 bits.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    p = Path(path)
    if is_raw_path(p):  # the embedded preview JPEG, or a half-size render
        return load_raw_preview(p, max_side)
    name = p.name or str(p)
    _check_is_file(p)
    try:
        with open(p, "rb") as fp:
            _check_not_empty(fp, name)
            _prepare_heif(fp, name)
            with _quiet_pillow():
                im = _open_pillow(fp, name, DEFAULT_MAX_PIXELS)
                with im:
                    _check_supported(im, name)
                    try:
                        if im.format in ("JPEG", "MPO"):
                            im.draft("RGB", (max_side, max_side))
                        _, orientation, _ = _load_oriented(im)
                        small = _preview_rgb(im, name)
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
    with _quiet_pillow():
        im = _open_pillow(fp, name, max_pixels)
        with im:
            fmt = _check_supported(im, name)
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
    if jpeg_quality is not None:
        extra["jpeg_quality"] = jpeg_quality  # from the file's quantisation tables
    meta = ImageMeta(
        path=p,
        format=fmt,
        bit_depth=bits,
        mode=mode,
        exif=exif,
        icc_profile=icc,
        orientation=orientation,
        alpha=alpha,
        extra=extra,
    )
    return Photo(np.ascontiguousarray(rgb), meta)


def _jpeg_quality_of(im: Image.Image) -> float | None:
    """The IJG-equivalent quality of a JPEG's quantisation tables (None for other formats)."""
    if im.format not in ("JPEG", "MPO"):
        return None
    from deconv_gui.core.jpeg_quality import quality_from_tables

    q = quality_from_tables(getattr(im, "quantization", None))
    return None if q is None else round(q, 1)


def _check_is_file(p: Path) -> None:
    """Refuse what is not a regular file before opening it: opening a named pipe blocks
    until something writes to it, and a device may never end."""
    name = p.name or str(p)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise ImageReadError(f"Cannot read {name}: the file does not exist") from None
    except OSError as e:
        raise ImageReadError(_os_read_message(name, e)) from e
    if stat.S_ISDIR(mode):
        raise ImageReadError(f"Cannot read {name}: it is a folder, not an image file")
    if not stat.S_ISREG(mode):
        what = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a device or socket"
        raise ImageReadError(f"Cannot read {name}: it is {what}, not an image file")


def _check_not_empty(fp: IO[bytes], name: str) -> None:
    if os.fstat(fp.fileno()).st_size == 0:
        raise ImageReadError(f"Cannot read {name}: the file is empty")


def _os_read_message(name: str, e: OSError) -> str:
    if isinstance(e, PermissionError) or e.errno in (errno.EACCES, errno.EPERM):
        return f"Cannot read {name}: permission denied"
    if isinstance(e, FileNotFoundError):
        return f"Cannot read {name}: the file does not exist"
    if isinstance(e, IsADirectoryError):
        return f"Cannot read {name}: it is a folder, not an image file"
    return f"Cannot read {name}: {e.strerror or e}"


def _decode_message(name: str, e: BaseException) -> str:
    detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return f"Cannot read {name}: the file is truncated or damaged ({detail})"


@contextmanager
def _quiet_pillow() -> Iterator[None]:
    """Pillow warns about oversized headers (we check those ourselves) and about corrupt
    metadata in the user's files (we cope); none of that should reach the user as a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def _open_pillow(fp: IO[bytes], name: str, max_pixels: int) -> ImageFile.ImageFile:
    """Image.open (header only) with our pixel limit enforced before anything is decoded."""
    try:
        im = Image.open(fp)
    except Image.DecompressionBombError as e:
        limit = Image.MAX_IMAGE_PIXELS
        if limit is None or max_pixels <= 2 * limit:
            raise ImageReadError(_too_large_message(name, None, max_pixels)) from e
        # Our limit is looser than Pillow's: let Pillow parse the header, then check ourselves.
        with _PIL_LIMIT_LOCK:
            saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                fp.seek(0)
                im = _identify(fp, name)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except (UnidentifiedImageError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise ImageReadError(_unidentified_message(fp, name)) from e
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


def _identify(fp: IO[bytes], name: str) -> ImageFile.ImageFile:
    try:
        return Image.open(fp)
    except (UnidentifiedImageError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise ImageReadError(_unidentified_message(fp, name)) from e


def _too_large_message(name: str, size: tuple[int, int] | None, max_pixels: int) -> str:
    limit = f"{max_pixels / 1e6:g} megapixels"
    if size is None:
        return f"Cannot read {name}: the image is larger than the limit of {limit}"
    w, h = size
    return (
        f"Cannot read {name}: {w}x{h} ({w * h / 1e6:.1f} megapixels) is larger than the "
        f"limit of {limit}"
    )


def _unidentified_message(fp: IO[bytes], name: str) -> str:
    with suppress(OSError):
        fp.seek(0)
        head = fp.read(16)
        if _is_heif_header(head):
            return _heif_missing_message(name)
    return f"Cannot read {name}: not an image file, or not a format we read ({_SUPPORTED_TEXT})"


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


def _preview_rgb(im: Image.Image, name: str) -> Image.Image:
    if im.mode in _GREY16_MODES:
        grey = np.asarray(im).astype(np.float32) * np.float32(255.0 / 65535.0)
        return Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8)).convert("RGB")
    if im.mode in ("P", "PA") or "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode == "F":
        raise ImageReadError(f"Cannot read {name}: 32-bit floating-point images are not supported")
    return im.convert("RGB")


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
    A damaged part is dropped on its own; the rest is kept."""
    out = Image.Exif()
    try:
        for tag, value in src.items():
            if tag not in _STRUCTURAL_TAGS and tag not in (_EXIF_IFD, _GPS_IFD):
                out[tag] = value
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
            out[ifd_tag] = sub
    if _ORIENTATION in out:
        out[_ORIENTATION] = 1
    return out if len(out) else None


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
    """Write ``rgb`` (HxWx3 float32 [0, 1]) with ``meta``'s EXIF, ICC profile and bit depth.

    The format follows the extension (.jpg/.jpeg, .png, .tif/.tiff, .webp, .bmp). A 16-bit
    source stays 16-bit in PNG and TIFF (JPEG, WebP and BMP are 8-bit); a grey source is
    written grey (WebP has no grey: RGB); the alpha plane is written where the format has one
    (PNG, TIFF, WebP). The EXIF orientation is reset to 1 (the pixels are upright) and the
    EXIF pixel dimensions follow the new size. ``quality`` applies to JPEG and WebP (100 =
    lossless WebP).

    The write is atomic. An existing file (and the source ``meta.path``) is only replaced
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
    icc = meta.icc_profile if _icc_matches(meta.icc_profile, mode) else None
    if meta.icc_profile and icc is None:
        _log.warning("%s: the ICC profile does not match the %s output; not embedded", name, mode)
    exif = _output_exif(meta.exif, w, h)
    dpi = _valid_dpi(meta.extra.get("dpi"))

    def write(fp: IO[bytes]) -> None:
        if fmt == "TIFF":
            _write_tiff(fp, values, alpha=alpha_ok, icc=icc, exif=exif, dpi=dpi)
        elif fmt == "PNG" and values.dtype == np.uint16:
            _write_png16(fp, values, icc=icc, exif=_exif_bytes(exif), dpi=dpi)
        else:
            _write_pillow(fp, fmt, values, icc=icc, exif=exif, dpi=dpi, quality=int(quality))

    _atomic_write(out, write, overwrite=overwrite)
    return out


def check_target(out: Path, meta: ImageMeta, overwrite: bool) -> None:
    """Raise `ImageWriteError` unless `save_image` may write ``out`` (checked again there;
    callers use it to refuse before a long computation)."""
    name = out.name or str(out)
    folder = out.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ImageWriteError(f"Cannot save {name}: the folder {folder} {what}")
    if out.is_dir():
        raise ImageWriteError(f"Cannot save {name}: a folder with that name exists")
    if overwrite:
        return
    if meta.path is not None and _same_file(out, Path(meta.path)):
        raise ImageWriteError(
            f"Cannot save {name}: that would replace the original photo (choose another name)"
        )
    if out.exists() or out.is_symlink():
        raise ImageWriteError(
            f"Cannot save {name}: a file with that name already exists in {folder} "
            "(choose another name or allow overwriting)"
        )


def _same_file(a: Path, b: Path) -> bool:
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
    """A baseline little-endian TIFF, Deflate + horizontal predictor, 8 or 16 bits.

    Layout: header, IFD0 (with the EXIF/GPS sub-IFDs and the ICC profile), then the strips.
    The IFD is written twice: first a placeholder of the same size, then, once the compressed
    strip sizes are known, the real one (offsets and counts are fixed-size LONG arrays).
    """
    h, w, c = values.shape
    bits = values.dtype.itemsize * 8
    row_bytes = w * c * values.dtype.itemsize
    rows_per_strip = max(1, min(h, _TIFF_STRIP_BYTES // row_bytes))
    n_strips = -(-h // rows_per_strip)

    ifd = TiffImagePlugin.ImageFileDirectory_v2()
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

    fp.write(b"II*\x00" + struct.pack("<I", 8))
    fp.write(b"\x00" * placeholder_size)
    data_start = 8 + placeholder_size
    offsets: list[int] = []
    counts: list[int] = []
    pos = 0
    le = values.dtype.newbyteorder("<")
    for y0 in range(0, h, rows_per_strip):
        strip = values[y0 : y0 + rows_per_strip]
        diff = strip.copy()
        diff[:, 1:] -= strip[:, :-1]  # wraps modulo 2**bits, as the predictor expects
        data = zlib.compress(diff.astype(le, copy=False).tobytes(), 6)
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
        fd, tmp = _create_temp(out)
        with os.fdopen(fd, "wb") as fp:
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
        raise ImageWriteError(_os_write_message(out, e)) from e
    except (ValueError, TypeError, struct.error) as e:  # an encoder refused the data
        raise ImageWriteError(f"Cannot save {name}: {str(e) or type(e).__name__}") from e
    except MemoryError as e:
        raise ImageWriteError(f"Cannot save {name}: not enough memory") from e
    finally:
        if tmp is not None:
            with suppress(OSError):
                os.unlink(tmp)


def _create_temp(out: Path) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = out.parent / f".{out.name[:64]}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "could not create a temporary file", str(out.parent))


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
        return f"Cannot save {name}: the folder {folder} does not exist"
    return f"Cannot save {name}: {e.strerror or e}"
