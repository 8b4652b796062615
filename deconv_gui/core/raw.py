"""Camera RAW files: the sensor mosaic as data, one documented development, a quick preview.

Reading goes through `rawpy` (LibRaw), which reads every RAW format LibRaw knows
(`RAW_EXTENSIONS`). `open_raw` returns a `RawData` record: the visible mosaic exactly as stored
(uint16), the colour-filter pattern, the file's own black and white levels, white balance,
colour matrices, orientation, sizes and metadata (`core.rawmeta`, read with exiv2). Nothing is
rendered while loading (DESIGN.md section 7): `render_raw` is a separate step, and it develops a
modified mosaic (a denoised one) with exactly the settings of the original, so a before/after
comparison judges the same development.

The development (`DEVELOPMENT` below; LibRaw's `dcraw_process` through ``rawpy.postprocess``):

* white balance: the camera's as-shot multipliers, passed explicitly (``user_wb``). A file
  without them gets a grey-world estimate from its original mosaic, computed once at open
  (LibRaw would re-estimate from whatever mosaic it is given); the second green always uses
  the first green's multiplier (a DNG can only store three);
* black and white levels: the file's own; ``adjust_maximum_thr=0`` so the white level never
  follows the data (it would differ between a noisy and a denoised mosaic);
* AHD demosaicking at full size, highlights clipped, no automatic brightening, 16 bits;
* output colour space sRGB (the sRGB tone curve, gamma 2.4 with a 12.92 linear toe), or Adobe RGB
  (pure gamma 563/256) or ProPhoto RGB (pure gamma 1.8), each with its ICC profile from
  `core.icc` embedded in ``ImageMeta.icc_profile``;
* orientation: LibRaw's flip (from the file) is applied once by LibRaw; ``meta.orientation``
  holds the equivalent EXIF value and the EXIF block says 1. Cameras with non-square pixels
  (Kodak DC120) are stretched to square pixels by LibRaw.

A render is a `Photo` (RGB float32 [0, 1]) whose ``meta.extra["raw"]`` is the `RawData` and
``meta.extra["colour_space"]`` the colour space name; ``meta.format`` is the file's extension in
capitals (``"CR2"``, ``"DNG"``...), ``meta.bit_depth`` 16.

Packing for networks: `pack_bayer` turns a Bayer mosaic (any of RGGB, BGGR, GRBG, GBRG, any
size) into half-resolution planes in the canonical order R, G1 (the green on red's rows),
G2 (the green on blue's rows), B; `unpack_bayer` is its exact inverse.
"""

from __future__ import annotations

import ctypes
import errno
import io
import logging
import math
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import rawpy
import tifffile
from PIL import Image

from deconv_gui.core.icc import COLOUR_SPACES, SRGB, icc_profile
from deconv_gui.core.image import ImageMeta, Photo
from deconv_gui.core.metadata import find_sidecar, read_sidecar
from deconv_gui.core.rawmeta import RawMetadata, read_raw_metadata
from deconv_gui.errors import ImageReadError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEVELOPMENT",
    "RAW_EXTENSIONS",
    "RawData",
    "RawSizes",
    "bayer_cfa",
    "bayer_origin",
    "is_raw_path",
    "load_raw_photo",
    "load_raw_preview",
    "open_raw",
    "pack_bayer",
    "render_raw",
    "unpack_bayer",
]

_log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 250_000_000  # the same limit as core.io
LIBRAW_VERSION = ".".join(str(v) for v in rawpy.libraw_version)

# Every RAW format LibRaw 0.22 reads, by extension. (GoPro .gpr needs a LibRaw built with the
# GPR SDK, which rawpy's wheels are not; .tif/.tiff RAWs open as TIFF images.)
RAW_EXTENSIONS = frozenset(
    {
        ".3fr", ".ari", ".arw", ".bay", ".cap", ".cr2", ".cr3", ".crw", ".cs1", ".dcr",
        ".dcs", ".dng", ".drf", ".eip", ".erf", ".fff", ".iff", ".iiq", ".k25", ".kdc",
        ".mdc", ".mef", ".mfw", ".mos", ".mrw", ".nef", ".nrw", ".orf", ".ori", ".pef",
        ".ptx", ".qtk", ".raf", ".raw", ".rw2", ".rwl", ".rwz", ".sr2", ".srf", ".srw",
        ".sti", ".x3f",
    }
)  # fmt: skip

_COLOUR_SPACE_IDS = {
    "srgb": rawpy.ColorSpace.sRGB,
    "adobe-rgb": rawpy.ColorSpace.Adobe,
    "prophoto-rgb": rawpy.ColorSpace.ProPhoto,
}

# The one development (see the module docstring). White balance, output colour space and its
# tone curve are filled in per render.
DEVELOPMENT: dict[str, Any] = {
    "demosaic_algorithm": rawpy.DemosaicAlgorithm.AHD,
    "half_size": False,
    "four_color_rgb": False,
    "use_camera_wb": False,  # the multipliers are passed as user_wb (RawData.wb)
    "use_auto_wb": False,
    "no_auto_bright": True,
    "bright": 1.0,
    "highlight_mode": rawpy.HighlightMode.Clip,
    "output_bps": 16,
    "adjust_maximum_thr": 0.0,
    "median_filter_passes": 0,
    "fbdd_noise_reduction": rawpy.FBDDNoiseReductionMode.Off,
}

# LibRaw flip (dcraw convention) -> EXIF orientation
_FLIP_TO_EXIF = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}

# DNG IFD0 tags that describe the camera's colour; copied verbatim when the source is a DNG
# so that both LibRaw and Adobe's pipeline derive the same colour from the new file.
DNG_COLOUR_TAGS = frozenset(
    {
        50708,  # UniqueCameraModel
        50721, 50722,  # ColorMatrix1/2
        50723, 50724,  # CameraCalibration1/2
        50727,  # AnalogBalance
        50728, 50729,  # AsShotNeutral, AsShotWhiteXY
        50730, 50731, 50732, 50734,  # BaselineExposure, -Noise, -Sharpness, LinearResponseLimit
        50778, 50779,  # CalibrationIlluminant1/2
        50931, 50932,  # CameraCalibrationSignature, ProfileCalibrationSignature
        50936, 50941, 50942,  # ProfileName, ProfileEmbedPolicy, ProfileCopyright
        50937, 50938, 50939, 50940,  # ProfileHueSatMapDims/Data1/Data2, ProfileToneCurve
        50964, 50965,  # ForwardMatrix1/2
        50981, 50982,  # ProfileLookTableDims/Data
        51107, 51108, 51109,  # ProfileHueSatMapEncoding, ProfileLookTableEncoding, DefaultBlackRender
        51110,  # BaselineExposureOffset
    }
)  # fmt: skip


#: A DNG source's tags carried verbatim into a DNG of its denoised mosaic (`core.dng`),
#: besides the colour tags. From IFD 0: who made the file (CameraSerialNumber,
#: LocalizedCameraModel, OriginalRawFileName, DNGPrivateData).
DNG_IFD0_CARRIED = frozenset({50735, 50709, 50827, 50740})
#: From the raw image's IFD, in coordinates of its active area, so carried when LibRaw's
#: visible mosaic is that area: OpcodeList2 and 3 (gain maps for lens shading, lens
#: distortion and vignetting corrections), DefaultCropOrigin/Size, DefaultUserCrop,
#: BayerGreenSplit, ChromaBlurRadius, AntiAliasStrength, BestQualityScale. Left out on
#: purpose: NoiseProfile (the data is denoised: a developer would denoise it again),
#: RawDataUniqueID and the image digests (the data changed), OpcodeList1 (coordinates of
#: the stored image with its masked margins, which the DNG does not keep).
DNG_AREA_CARRIED = frozenset({51009, 51022, 50719, 50720, 51125, 50733, 50737, 50738, 50780})


@dataclass(frozen=True)
class RawSizes:
    """Sizes in pixels. ``height``/``width``: the visible mosaic (`RawData.mosaic`);
    ``output_height``/``output_width``: a full-size render (after the flip and the
    non-square-pixel stretch)."""

    raw_height: int
    raw_width: int
    height: int
    width: int
    top_margin: int
    left_margin: int
    output_height: int
    output_width: int
    pixel_aspect: float  # LibRaw's pixel width / height; 1.0 for square pixels
    flip: int  # LibRaw's flip code (0 none, 3 = 180, 5 = 90 CCW, 6 = 90 CW, ...)


@dataclass(frozen=True, eq=False)
class RawData:
    """A RAW file's sensor data and everything needed to develop it or write it back.

    Colour indices (``pattern``, ``black_levels``, white balances) follow LibRaw: an index into
    ``colours`` (LibRaw's ``color_desc``, ``"RGBG"`` for RGB sensors, where 3 is the second
    green).
    """

    path: Path
    format: str  # the file's extension in capitals: "CR2", "NEF", "DNG"...
    mosaic: np.ndarray  # visible sensor values as stored (uint16; (H, W), or (H, W, C) if not flat)
    pattern: np.ndarray | None  # (n, n) colour index per photosite (2x2 Bayer, 6x6 X-Trans)
    colours: str
    cfa: str  # pattern letters row by row ("RGGB", 36 letters for X-Trans); "" if none
    is_bayer: bool
    black_levels: tuple[int, int, int, int]  # per colour index
    white_level: int
    camera_wb: tuple[float, float, float, float]  # as shot (LibRaw cam_mul); zeros if unknown
    daylight_wb: tuple[float, float, float, float]  # LibRaw pre_mul
    wb: tuple[float, float, float, float]  # the multipliers `render_raw` uses
    wb_source: str  # "camera" or "grey-world"
    rgb_xyz_matrix: np.ndarray  # (4, 3) XYZ -> camera (LibRaw cam_xyz; zeros when unknown)
    color_matrix: np.ndarray  # (3, 4) LibRaw cmatrix (set for DNGs and some cameras)
    rgb_cam: np.ndarray | None  # (3, 3) camera -> linear sRGB as LibRaw develops it
    dng_colour_tags: tuple[tuple[int, int, int, Any], ...]  # (code, type, count, value)
    sizes: RawSizes
    orientation: int  # EXIF orientation equivalent to sizes.flip
    metadata: RawMetadata
    libraw_version: str
    file_size: int
    file_mtime_ns: int
    #: a DNG source's other tags for a DNG of this mosaic (`DNG_IFD0_CARRIED`,
    #: `DNG_AREA_CARRIED`), as (code, type, count, value)
    dng_carried_tags: tuple[tuple[int, int, int, Any], ...] = ()

    def black_map(self) -> np.ndarray:
        """(n, n) black level of each photosite of the pattern (float32)."""
        if self.pattern is None:
            raise ValueError("this RAW has no colour-filter pattern")
        return np.asarray(self.black_levels, np.float32)[self.pattern]

    def normalized(self, mosaic: np.ndarray | None = None, *, clip: bool = True) -> np.ndarray:
        """The mosaic as float32 scaled by the file's own levels: (value - black) / (white -
        black) per photosite, so black is 0 and white 1 (clipped to [0, 1] unless ``clip`` is
        False: unclipped keeps the noise below black)."""
        m = self.mosaic if mosaic is None else mosaic
        black, scale = self._levels(m.shape)
        out = (m.astype(np.float32) - black) * scale
        if clip:
            np.clip(out, 0.0, 1.0, out=out)
        return out

    def packed(self, mosaic: np.ndarray | None = None, *, clip: bool = True) -> np.ndarray:
        """The `normalized` mosaic packed into half-resolution planes R, G1, G2, B
        (`pack_bayer`): what the RAW denoiser takes."""
        return pack_bayer(self.normalized(mosaic, clip=clip), self.cfa)

    def denormalized(self, norm: np.ndarray) -> np.ndarray:
        """Inverse of `normalized`: uint16 sensor values (rounded, clipped to 0..65535)."""
        black, scale = self._levels(norm.shape)
        values = np.rint(np.asarray(norm, np.float32) / scale + black)
        return np.clip(values, 0, 65535).astype(np.uint16)

    def _levels(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        if len(shape) != 2 or self.pattern is None:
            raise ValueError("levels per photosite need a flat colour-filter mosaic")
        n = self.pattern.shape[0]
        h, w = shape
        idx = np.tile(self.pattern, (-(-h // n), -(-w // n)))[:h, :w]
        black = np.asarray(self.black_levels, np.float32)[idx]
        scale = np.float32(1.0) / np.maximum(np.float32(self.white_level) - black, 1.0)
        return black, scale


# --------------------------------------------------------------------------------------------
# small public helpers


def is_raw_path(path: str | os.PathLike[str]) -> bool:
    """True when the file name has a camera RAW extension (the file is not opened)."""
    return Path(path).suffix.lower() in RAW_EXTENSIONS


# First bytes of the picture formats we read that are never camera RAW files. Other files
# (TIFF-based ones first: most RAW formats are TIFF inside) are asked of LibRaw.
_NOT_RAW_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"RIFF", b"BM", b"GIF8")


def misnamed_raw(path: str | os.PathLike[str], head: bytes) -> str | None:
    """``"DNG"`` or ``"RAW"`` when the file at ``path``, whose first bytes are ``head``, is
    a camera RAW file that LibRaw reads although its name has no RAW extension (a ``.KDC``
    or ``.NEF`` renamed ``.jpg`` or ``.tif``: opened as a picture it gives the small preview
    inside it, or nothing); else None. Formats that are never RAW are not asked (no cost for
    JPEG, PNG, WebP, BMP, HEIC)."""
    if head.startswith(_NOT_RAW_MAGIC) or head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        return None
    try:
        with _libraw_quiet():
            rp = rawpy.imread(str(path))
    except Exception:  # LibRawFileUnsupportedError for ordinary TIFFs and other files
        return None
    rp.close()
    try:
        with tifffile.TiffFile(str(path)) as tif:
            return "DNG" if 50706 in tif.pages.first.tags else "RAW"  # DNGVersion
    except Exception:  # not TIFF-based (CRW, RAF, CR3...)
        return "RAW"


def bayer_cfa(pattern: np.ndarray, colours: str) -> str:
    """Pattern letters row by row, e.g. ``"RGGB"`` (LibRaw's second green counts as G)."""
    return "".join(colours[int(i)] for i in np.asarray(pattern).ravel())


# --------------------------------------------------------------------------------------------
# opening


def open_raw(path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> RawData:
    """Read a RAW file's mosaic and metadata (no rendering). Raises `ImageReadError`."""
    with _opened(Path(path), max_pixels) as (raw, _rp):
        return raw


def load_raw_photo(
    path: str | os.PathLike[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    colour_space: str = "srgb",
) -> Photo:
    """Open a RAW file and render it (`render_raw`) in one go. Raises `ImageReadError`."""
    _check_colour_space(colour_space)
    with _opened(Path(path), max_pixels) as (raw, rp):
        return _render_opened(raw, rp, colour_space)


def render_raw(
    raw: RawData,
    mosaic: np.ndarray | None = None,
    *,
    colour_space: str = "srgb",
    linear: bool = False,
) -> Photo:
    """Develop ``mosaic`` (default: the file's own) with the one development of this module.

    ``linear=True`` leaves out the colour space's tone curve (linear values, for denoising
    demosaicked data of sensors without a Bayer mosaic; `core.rawpipe` encodes them after).

    ``mosaic`` is a uint16 array shaped like ``raw.mosaic`` (use `RawData.denormalized` to
    come back from normalised values). The RAW file is read again for LibRaw, which develops
    from its own buffers; a file changed since `open_raw` gives an `ImageReadError`.
    """
    _check_colour_space(colour_space)
    if mosaic is not None:
        mosaic = np.asarray(mosaic)
        if mosaic.dtype != np.uint16:
            raise TypeError(
                f"mosaic must be uint16 sensor values, got {mosaic.dtype} "
                "(RawData.denormalized converts normalised values)"
            )
        if mosaic.shape != raw.mosaic.shape:
            raise ValueError(f"mosaic shape {mosaic.shape} differs from {raw.mosaic.shape}")
    name = raw.path.name
    try:
        st = raw.path.stat()
    except OSError as e:
        raise ImageReadError(_os_message(name, e)) from e
    if (st.st_size, st.st_mtime_ns) != (raw.file_size, raw.file_mtime_ns):
        raise ImageReadError(f"Cannot read {name}: the file changed since it was opened")
    with _libraw(raw.path, name) as rp:
        _unpack(rp, name)
        if mosaic is not None:
            rp.raw_image_visible[...] = mosaic
        return _render_opened(raw, rp, colour_space, linear=linear)


def load_raw_preview(path: str | os.PathLike[str], max_side: int = 1024) -> np.ndarray:
    """A quick RGB float32 view (longest side <= ``max_side``), orientation applied.

    The embedded preview JPEG when the file has a usable one (at least half the size asked
    for, or of the photo), else a half-size render with the module's development.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    p = Path(path)
    name = p.name or str(p)
    _check_file(p)
    with _libraw(p, name) as rp:
        sizes = _sizes(rp)
        _check_size(name, sizes, DEFAULT_MAX_PIXELS)
        wanted = min(max_side, max(sizes.output_height, sizes.output_width)) / 2
        thumb = _thumbnail(rp, name, _FLIP_TO_EXIF.get(sizes.flip, 1))
        if thumb is not None and max(thumb.shape[:2]) >= wanted:
            rgb = thumb
        else:
            _unpack(rp, name)
            wb, _ = _white_balance(rp)
            params = _params(wb, "srgb")
            params["half_size"] = True
            out = _postprocess(rp, name, params)
            rgb = out.astype(np.float32) * np.float32(1.0 / 65535.0)
    from deconv_gui.core.io import _fit  # io imports this module

    return _fit(rgb, max_side)


# --------------------------------------------------------------------------------------------
# packing


def bayer_origin(cfa: str) -> tuple[int, int]:
    """(row, column) of red in a 2x2 Bayer pattern given as four letters."""
    cfa = cfa.upper()
    if len(cfa) != 4 or sorted(cfa) != ["B", "G", "G", "R"]:
        raise ValueError(f"not a 2x2 Bayer pattern: {cfa!r} (expected RGGB, BGGR, GRBG or GBRG)")
    if (cfa[0] == "R" and cfa[3] != "B") or (cfa[1] == "R" and cfa[2] != "B"):
        raise ValueError(f"not a Bayer pattern: {cfa!r} (red and blue must be diagonal)")
    i = cfa.index("R")
    return i // 2, i % 2


def _is_bayer_cfa(cfa: str) -> bool:
    try:
        bayer_origin(cfa)
    except ValueError:
        return False
    return True


def pack_bayer(mosaic: np.ndarray, cfa: str) -> np.ndarray:
    """(H, W) Bayer mosaic -> (ceil((H + r) / 2), ceil((W + c) / 2), 4) planes R, G1, G2, B.

    (r, c) is red's position in the pattern. The mosaic is padded by reflection (which keeps
    the colour of every padded photosite) by r rows on top and c columns on the left, so red
    sits at (0, 0), and by one more row or column where the size is then odd. The dtype is
    kept. `unpack_bayer` undoes it exactly.
    """
    m = np.asarray(mosaic)
    if m.ndim != 2:
        raise ValueError(f"mosaic must be 2-D, got shape {m.shape}")
    r, c = bayer_origin(cfa)
    h, w = m.shape
    pad_bottom = (h + r) % 2
    pad_right = (w + c) % 2
    if r or c or pad_bottom or pad_right:
        widths = ((r, pad_bottom), (c, pad_right))
        # reflection keeps each padded photosite's colour; a single row or column cannot
        # reflect (then the pattern's phase is what matters, and unpack drops the padding)
        m = np.pad(m, widths, mode="reflect") if min(h, w) >= 2 else np.pad(m, widths, mode="edge")
    return np.stack([m[0::2, 0::2], m[0::2, 1::2], m[1::2, 0::2], m[1::2, 1::2]], axis=-1)


def unpack_bayer(packed: np.ndarray, cfa: str, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of `pack_bayer`: (h, w, 4) planes R, G1, G2, B -> the (H, W) mosaic ``shape``."""
    p = np.asarray(packed)
    r, c = bayer_origin(cfa)
    h, w = shape
    need = ((h + r + 1) // 2, (w + c + 1) // 2, 4)
    if p.shape != need:
        raise ValueError(f"packed shape {p.shape} does not fit a {h}x{w} mosaic ({need})")
    full = np.empty((2 * need[0], 2 * need[1]), dtype=p.dtype)
    full[0::2, 0::2] = p[..., 0]
    full[0::2, 1::2] = p[..., 1]
    full[1::2, 0::2] = p[..., 2]
    full[1::2, 1::2] = p[..., 3]
    return np.ascontiguousarray(full[r : r + h, c : c + w])


# --------------------------------------------------------------------------------------------
# internals: opening and errors


@contextmanager
def _opened(p: Path, max_pixels: int) -> Iterator[tuple[RawData, Any]]:
    name = p.name or str(p)
    _check_file(p)
    try:
        st = p.stat()
        data = p.read_bytes()  # exiv2 and LibRaw's C interface read it from memory
    except OSError as e:
        raise ImageReadError(_os_message(name, e)) from e
    with _libraw(p, name) as rp:
        sizes = _sizes(rp)
        _check_size(name, sizes, max_pixels)
        _unpack(rp, name)
        raw = _record(p, rp, sizes, data, st)
        _check_blank(raw, name)
        if raw.wb_source != "camera":
            _log.warning(
                "%s records no white balance: it is estimated from the picture (grey world), "
                "and a DNG made from it carries the estimate as its as-shot white balance",
                name,
            )
        yield raw, rp


_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved: int | None = None


@contextmanager
def _libraw_quiet() -> Iterator[None]:
    """Hide what LibRaw prints to the C stderr while it reads ("x.dng: Unexpected end of
    file", "data corrupted at 4153"): a damaged file is reported once, in words, by the
    `ImageReadError` that follows. File descriptor 2 is the process's, so it is sent to
    the null device only while a LibRaw call runs (threads share one redirection)."""
    global _quiet_depth, _quiet_saved
    with _quiet_lock:
        if _quiet_depth == 0:
            try:
                sys.stderr.flush()
                null = os.open(os.devnull, os.O_WRONLY)
                try:
                    _quiet_saved = os.dup(2)
                    os.dup2(null, 2)
                finally:
                    os.close(null)
            except (OSError, ValueError, AttributeError):  # no usable stderr: nothing to hide
                _quiet_saved = None
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _quiet_saved is not None:
                with suppress(OSError):
                    os.dup2(_quiet_saved, 2)
                os.close(_quiet_saved)
                _quiet_saved = None


@contextmanager
def _libraw(p: Path, name: str) -> Iterator[Any]:
    try:
        with _libraw_quiet():
            rp = rawpy.imread(str(p))
    except rawpy.LibRawError as e:
        raise ImageReadError(_libraw_message(p, name, e)) from e
    except MemoryError as e:
        raise ImageReadError(f"Cannot read {name}: not enough memory to open it") from e
    except OSError as e:
        raise ImageReadError(_os_message(name, e)) from e
    try:
        yield rp
    finally:
        rp.close()


def _unpack(rp: Any, name: str) -> None:
    try:
        with _libraw_quiet():
            rp.unpack()
    except rawpy.LibRawError as e:
        _log.debug("LibRaw could not unpack %s: %s", name, _detail(e))
        raise ImageReadError(f"Cannot read {name}: the RAW data is truncated or damaged") from e
    except MemoryError as e:
        raise ImageReadError(f"Cannot read {name}: not enough memory to open it") from e


#: a sensor whose black level is at least BLANK_MIN_BLACK cannot record 0: more than
#: BLANK_FRACTION of its photosites at 0 is data lost in the file (bytes zeroed by a failing
#: card or a broken copy), which LibRaw reads without complaint from uncompressed files
BLANK_MIN_BLACK = 16
BLANK_FRACTION = 0.005


def _check_blank(raw: RawData, name: str) -> None:
    """Refuse RAW data of which a part is blank (zeros far below the black level)."""
    if min(raw.black_levels) < BLANK_MIN_BLACK or raw.mosaic.size == 0:
        return
    blank = float(np.count_nonzero(raw.mosaic == 0)) / raw.mosaic.size
    if blank > BLANK_FRACTION:
        raise ImageReadError(
            f"Cannot read {name}: part of its RAW data is blank ({blank:.0%} of the sensor "
            "reads zero, which this camera cannot record): the file is damaged"
        )


def _check_file(p: Path) -> None:
    name = p.name or str(p)
    try:
        if p.is_dir():
            raise ImageReadError(f"Cannot read {name}: it is a folder, not an image file")
        with open(p, "rb") as fp:
            head = fp.read(16)
    except ImageReadError:
        raise
    except OSError as e:
        raise ImageReadError(_os_message(name, e)) from e
    if not head:
        raise ImageReadError(f"Cannot read {name}: the file is empty")


def _os_message(name: str, e: OSError) -> str:
    if isinstance(e, PermissionError) or e.errno in (errno.EACCES, errno.EPERM):
        return f"Cannot read {name}: permission denied"
    if isinstance(e, FileNotFoundError):
        return f"Cannot read {name}: the file does not exist"
    return f"Cannot read {name}: {e.strerror or e}"


def _detail(e: BaseException) -> str:
    text = e.args[0] if e.args else ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text).strip().splitlines()[0] if str(text).strip() else type(e).__name__


# What a file that is not a RAW really is, from its first bytes.
_NOT_RAW = (
    (b"\xff\xd8\xff", "a JPEG image", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image", ".png"),
    (b"GIF8", "a GIF image", ".gif"),
    (b"BM", "a BMP image", ".bmp"),
    (b"%PDF", "a PDF document", ".pdf"),
    (b"PK\x03\x04", "a ZIP archive", ".zip"),
)
_RAW_MAGIC = (
    b"II*\x00", b"MM\x00*", b"IIRO", b"IIRS", b"IIU\x00", b"FUJIFILM", b"FOVb", b"\x00MRM",
    b"ARRI", b"HEAPCCDR",
)  # fmt: skip


def _libraw_message(p: Path, name: str, e: BaseException) -> str:
    with suppress(OSError):
        with open(p, "rb") as fp:
            head = fp.read(64)
        if not head:
            return f"Cannot read {name}: the file is empty"
        for magic, what, ext in _NOT_RAW:
            if head.startswith(magic):
                return f"Cannot read {name}: it is {what}, not a camera RAW file (rename it {ext})"
        if head[4:8] == b"ftyp" and head[8:11] != b"crx":
            return f"Cannot read {name}: it is a HEIF/MP4 file, not a camera RAW file"
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return (
                f"Cannot read {name}: it is a WebP image, not a camera RAW file (rename it .webp)"
            )
        looks_raw = (
            head.startswith(_RAW_MAGIC) or head[6:14] == b"HEAPCCDR" or head[4:11] == b"ftypcrx"
        )
        if not looks_raw and _is_text(head):
            return f"Cannot read {name}: it is a text file, not a camera RAW file"
        if looks_raw:
            return (
                f"Cannot read {name}: LibRaw {LIBRAW_VERSION} cannot decode it: "
                f"the file is truncated or damaged, or this camera is not supported ({_detail(e)})"
            )
    return f"Cannot read {name}: not a camera RAW file LibRaw {LIBRAW_VERSION} reads ({_detail(e)})"


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)


def _sizes(rp: Any) -> RawSizes:
    s = rp.sizes
    h, w = int(s.height), int(s.width)
    aspect = float(s.pixel_aspect) or 1.0
    oh, ow = h, w
    if aspect > 1.0 + 1e-6:
        ow = int(w * aspect + 0.5)
    elif aspect < 1.0 - 1e-6:
        oh = int(h / aspect + 0.5)
    flip = int(s.flip) & 7
    if flip & 4:
        oh, ow = ow, oh
    return RawSizes(
        raw_height=int(s.raw_height),
        raw_width=int(s.raw_width),
        height=h,
        width=w,
        top_margin=int(s.top_margin),
        left_margin=int(s.left_margin),
        output_height=oh,
        output_width=ow,
        pixel_aspect=aspect,
        flip=flip,
    )


def _check_size(name: str, sizes: RawSizes, max_pixels: int) -> None:
    pixels = max(sizes.raw_height * sizes.raw_width, sizes.output_height * sizes.output_width)
    if sizes.height <= 0 or sizes.width <= 0:
        raise ImageReadError(f"Cannot read {name}: the RAW file declares no pixels")
    if pixels > max_pixels:
        w, h = sizes.output_width, sizes.output_height
        raise ImageReadError(
            f"Cannot read {name}: {w}x{h} ({pixels / 1e6:.1f} megapixels) is larger than the "
            f"limit of {max_pixels / 1e6:g} megapixels"
        )


def _record(p: Path, rp: Any, sizes: RawSizes, data: bytes, st: os.stat_result) -> RawData:
    flat = rp.raw_type == rawpy.RawType.Flat
    mosaic = np.array(rp.raw_image_visible, copy=True)
    mosaic.flags.writeable = False
    colours = bytes(rp.color_desc).decode("ascii", "replace")
    pattern = None
    cfa = ""
    if flat and rp.raw_pattern is not None and np.asarray(rp.raw_pattern).size > 1:
        pattern = np.array(rp.raw_pattern, dtype=np.uint8)
        pattern.flags.writeable = False
        cfa = bayer_cfa(pattern, colours)
    is_bayer = pattern is not None and pattern.shape == (2, 2) and _is_bayer_cfa(cfa)
    wb, wb_source = _white_balance(rp)
    fmt = p.suffix[1:].upper() or "RAW"
    fallback = _libraw_fields(rp, sizes)
    colour_tags, carried_tags = _dng_source_tags(data, sizes, p.name)
    return RawData(
        path=p,
        format=fmt,
        mosaic=mosaic,
        pattern=pattern,
        colours=colours,
        cfa=cfa,
        is_bayer=is_bayer,
        black_levels=_four(rp.black_level_per_channel, int),
        white_level=int(rp.white_level),
        camera_wb=_four(rp.camera_whitebalance, float),
        daylight_wb=_four(rp.daylight_whitebalance, float),
        wb=wb,
        wb_source=wb_source,
        rgb_xyz_matrix=_frozen(rp.rgb_xyz_matrix),
        color_matrix=_frozen(rp.color_matrix),
        rgb_cam=_libraw_rgb_cam(data),
        dng_colour_tags=colour_tags,
        sizes=sizes,
        orientation=_FLIP_TO_EXIF.get(sizes.flip, 1),
        metadata=_with_sidecar(read_raw_metadata(data, fallback), p),
        libraw_version=LIBRAW_VERSION,
        file_size=st.st_size,
        file_mtime_ns=st.st_mtime_ns,
        dng_carried_tags=carried_tags,
    )


def _with_sidecar(meta: RawMetadata, path: Path) -> RawMetadata:
    """``meta`` with the XMP of the file's sidecar (``IMG_0001.CR2.xmp`` or ``IMG_0001.xmp``)
    in place of the packet in the RAW file, as Lightroom and darktable read them: the sidecar
    is where they keep the rating, labels, keywords and captions of a RAW file."""
    sidecar = find_sidecar(path, raw=True)
    if sidecar is None:
        return meta
    packet = read_sidecar(sidecar)
    if packet is None:  # (said why) the file's own XMP stays
        return meta
    _log.info("%s: XMP from its sidecar %s", path.name, sidecar.name)
    return replace(meta, xmp_packet=packet)


def _four(values: Any, kind: type) -> Any:
    v = [kind(x) for x in list(values)[:4]]
    return tuple(v + [kind(0)] * (4 - len(v)))


def _frozen(a: Any) -> np.ndarray:
    arr = np.array(a, dtype=np.float32)
    arr.flags.writeable = False
    return arr


def _libraw_fields(rp: Any, sizes: RawSizes) -> dict[str, Any]:
    """What LibRaw knows, for fields the EXIF lacks."""
    out: dict[str, Any] = {"orientation": _FLIP_TO_EXIF.get(sizes.flip, 1)}
    other = getattr(rp, "other", None)
    # each on its own (rawpy names its fields differently across versions: shutter_speed)
    for key, names in (
        ("iso", ("iso_speed",)),
        ("exposure_time", ("shutter_speed", "shutter")),
        ("f_number", ("aperture",)),
        ("focal_length", ("focal_length",)),
    ):
        with suppress(Exception):
            value = next(float(getattr(other, n)) for n in names if hasattr(other, n))
            if value > 0 and math.isfinite(value):
                out[key] = value
    with suppress(Exception):
        stamp = other.timestamp  # type: ignore[union-attr]
        if stamp.timestamp() > 0:
            out["datetime"] = stamp.strftime("%Y:%m:%d %H:%M:%S")
    with suppress(Exception):
        out["lens"] = (rp.lens.model or "").strip() or None
    return out


def _white_balance(rp: Any) -> tuple[tuple[float, float, float, float], str]:
    """The development's multipliers (float32 values) and where they come from."""
    cam = [float(np.float32(v)) for v in rp.camera_whitebalance]
    colours = bytes(rp.color_desc).decode("ascii", "replace")
    if cam[0] > 1e-5 and cam[1] > 1e-5 and cam[2] > 1e-5:
        wb = cam
        source = "camera"
    else:
        wb = _grey_world(rp)
        source = "grey-world"
    if colours == "RGBG" or wb[3] <= 0:
        wb[3] = wb[1]  # the second green follows the first (what a DNG can store)
    return (wb[0], wb[1], wb[2], wb[3]), source


def _grey_world(rp: Any) -> list[float]:
    """Grey-world multipliers from the original mosaic: the mean of each colour over 8x8
    blocks without clipped photosites (as LibRaw's auto white balance), green = 1."""
    m = np.asarray(rp.raw_image_visible)
    if m.ndim != 2:
        return [1.0, 1.0, 1.0, 1.0]
    colours = bytes(rp.color_desc).decode("ascii", "replace")
    idx = np.asarray(rp.raw_colors_visible)
    h, w = (m.shape[0] // 8) * 8, (m.shape[1] // 8) * 8
    if h == 0 or w == 0:
        return [1.0, 1.0, 1.0, 1.0]
    m, idx = m[:h, :w], idx[:h, :w].copy()
    if colours == "RGBG":
        idx[idx == 3] = 1
    clipped = (m >= int(rp.white_level) - 25).reshape(h // 8, 8, w // 8, 8).any(axis=(1, 3))
    keep = ~np.repeat(np.repeat(clipped, 8, axis=0), 8, axis=1)
    black = np.asarray(rp.black_level_per_channel, np.float64)[
        np.asarray(rp.raw_colors_visible)[:h, :w]
    ]
    values = np.clip(m.astype(np.float64) - black, 0, None)
    mul = [0.0, 0.0, 0.0, 0.0]
    for c in range(4):
        sel = keep & (idx == c)
        total = values[sel].sum()
        if total > 0:
            mul[c] = float(sel.sum() / total)
    if mul[1] <= 0:
        return [1.0, 1.0, 1.0, 1.0]
    return [float(np.float32(v / mul[1])) for v in mul]


_Tags = tuple[tuple[int, int, int, Any], ...]  # (code, type, count, value)


def _dng_source_tags(data: bytes, sizes: RawSizes, name: str) -> tuple[_Tags, _Tags]:
    """A DNG's colour tags (`DNG_COLOUR_TAGS`, IFD 0) and the tags carried into a DNG of
    its mosaic (`RawData.dng_carried_tags`), read in one pass; empty for other files."""
    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        return (), ()

    def entry(t: Any) -> tuple[int, int, int, Any]:
        return (t.code, int(t.dtype), 0 if int(t.dtype) == 2 else int(t.count), t.value)

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tf:
            first = tf.pages[0]
            if 50706 not in first.tags:
                return (), ()
            colour = tuple(entry(t) for t in first.tags.values() if t.code in DNG_COLOUR_TAGS)
            out = [entry(t) for t in first.tags.values() if t.code in DNG_IFD0_CARRIED]
            candidates = [first, *(first.pages or [])]
            raw_ifd = next(
                (p for p in candidates if p.subfiletype == 0 and p.photometric == 32803), None
            )
            if raw_ifd is None:
                return colour, tuple(out)
            area = raw_ifd.tags.get(50829)  # ActiveArea: top, left, bottom, right
            top, left, bottom, right = (
                tuple(int(v) for v in area.value) if area else (0, 0, *raw_ifd.shape[:2])
            )
            visible = (
                sizes.top_margin,
                sizes.left_margin,
                sizes.top_margin + sizes.height,
                sizes.left_margin + sizes.width,
            )
            area_tags = [entry(t) for t in raw_ifd.tags.values() if t.code in DNG_AREA_CARRIED]
            if (top, left, bottom, right) == visible:
                out.extend(area_tags)
            elif area_tags:
                _log.warning(
                    "%s: LibRaw's visible area %s is not the DNG's active area %s: its "
                    "opcodes and crop are not carried into a DNG of it",
                    name,
                    visible,
                    (top, left, bottom, right),
                )
            return colour, tuple(out)
    except Exception as e:
        _log.warning("could not read the DNG colour tags (%s)", e)
        return (), ()


# --------------------------------------------------------------------------------------------
# LibRaw's C interface (for the camera -> sRGB matrix, which rawpy does not expose)


@cache
def _libraw_c() -> Any:
    folder = Path(rawpy.__file__).parent
    candidates: list[Path] = []
    for where in (folder, folder / ".dylibs", folder.parent / "rawpy.libs", folder.parent):
        for pattern in ("libraw*.so*", "libraw*.dylib", "libraw*.dll", "raw*.dll"):
            candidates.extend(sorted(where.glob(pattern)))
    for path in candidates:
        try:
            lib = ctypes.CDLL(str(path))
            lib.libraw_get_rgb_cam.restype = ctypes.c_float
        except (OSError, AttributeError):
            continue
        lib.libraw_init.restype = ctypes.c_void_p
        lib.libraw_init.argtypes = [ctypes.c_uint]
        lib.libraw_open_buffer.restype = ctypes.c_int
        lib.libraw_open_buffer.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
        lib.libraw_get_rgb_cam.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        lib.libraw_close.argtypes = [ctypes.c_void_p]
        lib.libraw_close.restype = None
        return lib
    _log.info("LibRaw's C interface not found next to rawpy (%s)", sys.platform)
    return None


def _libraw_rgb_cam(data: bytes) -> np.ndarray | None:
    """The float32 camera -> linear sRGB matrix LibRaw develops this file with, or None."""
    lib = _libraw_c()
    if lib is None:
        return None
    handle = lib.libraw_init(0)
    if not handle:
        return None
    try:
        buf = ctypes.create_string_buffer(data, len(data))
        if lib.libraw_open_buffer(handle, buf, len(data)) != 0:
            return None
        m = [[lib.libraw_get_rgb_cam(handle, i, j) for j in range(3)] for i in range(3)]
    finally:
        lib.libraw_close(handle)
    arr = np.array(m, dtype=np.float32)
    arr.flags.writeable = False
    return arr


# --------------------------------------------------------------------------------------------
# rendering


def _check_colour_space(name: str) -> None:
    if name not in _COLOUR_SPACE_IDS:
        raise ValueError(
            f"unknown colour space {name!r} (choose one of {', '.join(_COLOUR_SPACE_IDS)})"
        )


def _params(wb: tuple[float, ...], colour_space: str, linear: bool = False) -> dict[str, Any]:
    space = COLOUR_SPACES[colour_space]
    gamma = (2.4, 12.92) if space is SRGB else (space.gamma, 0.0)
    if linear:
        gamma = (1.0, 1.0)
    return {
        **DEVELOPMENT,
        "user_wb": [float(v) for v in wb],
        "output_color": _COLOUR_SPACE_IDS[colour_space],
        "gamma": gamma,
    }


def _postprocess(rp: Any, name: str, params: dict[str, Any]) -> np.ndarray:
    try:
        return np.asarray(rp.postprocess(**params))
    except rawpy.LibRawError as e:
        raise ImageReadError(
            f"Cannot read {name}: LibRaw could not develop it ({_detail(e)})"
        ) from e
    except MemoryError as e:
        raise ImageReadError(f"Cannot read {name}: not enough memory to develop it") from e


def _render_opened(
    raw: RawData,
    rp: Any,
    colour_space: str,
    *,
    linear: bool = False,
) -> Photo:
    params = _params(raw.wb, colour_space, linear)
    out = _postprocess(rp, raw.path.name, params)
    rgb = out.astype(np.float32)
    rgb *= np.float32(1.0 / 65535.0)
    meta = ImageMeta(
        path=raw.path,
        format=raw.format,
        bit_depth=16,
        mode="RGB",
        exif=raw.metadata.exif_block,
        icc_profile=icc_profile(colour_space),
        orientation=raw.orientation,
        xmp=raw.metadata.xmp_packet,  # carried into the result by core.io (core.metadata)
        iptc=dict(raw.metadata.iptc) or None,
        extra={"raw": raw, "colour_space": colour_space},
    )
    return Photo(np.ascontiguousarray(rgb), meta)


# --------------------------------------------------------------------------------------------
# preview


def _thumbnail(rp: Any, name: str, orientation: int) -> np.ndarray | None:
    """The embedded preview as RGB float32, upright, or None."""
    try:
        thumb = rp.extract_thumb()
    except (rawpy.LibRawError, MemoryError):
        return None
    if thumb.format == rawpy.ThumbFormat.JPEG:
        try:
            with Image.open(io.BytesIO(thumb.data)) as im:
                im.draft("RGB", (4096, 4096))
                own = im.getexif().get(0x0112, 1)
                arr = np.asarray(im.convert("RGB"))
        except Exception:
            _log.info("%s: the embedded preview is not a readable JPEG", name)
            return None
        if isinstance(own, int) and 2 <= own <= 8:
            orientation = own  # the preview says how it is stored: use that, not the RAW's
    else:
        arr = np.asarray(thumb.data)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            return None
    from deconv_gui.core.io import _apply_orientation  # io imports this module

    return _apply_orientation(arr, orientation).astype(np.float32) * np.float32(1.0 / 255.0)
