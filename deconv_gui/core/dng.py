"""Writing a (denoised) sensor mosaic back as a DNG that raw developers treat like the original.

The DNG is written with `tifffile` (the mosaic uncompressed in IFD 0, DNG tags as extra tags);
exiv2 (`core.rawmeta`) then adds the source's EXIF and GPS directories, XMP and IPTC; the maker
note travels in ``DNGPrivateData`` (Adobe's "MakN" block). The bytes are checked (every DNG tag
and the mosaic read back unchanged) before they are written atomically (temporary file, fsync,
rename, as `core.io` does).

What makes LibRaw, Lightroom, darktable and RawTherapee develop it as the source:

* the visible mosaic at its size, the CFA pattern (``CFARepeatPatternDim``/``CFAPattern``, any
  2x2 Bayer phase or a 6x6 X-Trans layout; the app's results are Bayer only, as the RAW
  denoiser works on Bayer data: `rawpipe.dng_refusal`), black level per photosite of the
  pattern, white level, ``DefaultScale`` for non-square pixels, ``Orientation`` from LibRaw's
  flip;
* colour: a DNG source's own colour tags, copied verbatim (`raw.DNG_COLOUR_TAGS`); for other
  sources ``ColorMatrix1`` + ``CalibrationIlluminant1`` = D65 holding the XYZ -> camera matrix
  LibRaw used (its Adobe-derived table, written as exact binary fractions so LibRaw rebuilds the
  same float32 camera matrix); cameras LibRaw colours otherwise (e.g. old Kodaks, from their own
  tags) get a matrix fitted so that LibRaw's inversion, replayed here step by step, gives back
  exactly the float32 camera -> sRGB matrix it used for the source;
* white balance: ``AsShotNeutral`` holding the development's multipliers (`RawData.wb`) as
  fractions chosen so that LibRaw reads back the very same float32 multipliers;
* Make, Model, UniqueCameraModel, Software, the source's dates, EXIF, GPS, XMP, IPTC;
* a DNG source's opcodes (OpcodeList2/3: lens shading gain maps, distortion and vignetting
  corrections), default crop and rendering hints, serial number, original file name and
  private data, verbatim (`raw.DNG_IFD0_CARRIED`, `raw.DNG_AREA_CARRIED`; not its
  NoiseProfile: the data is denoised, nor the digests of its data).

Checked by tests: rawpy reopens the file with the same mosaic, pattern and levels, and its
render (`raw.render_raw`) equals the source's render of the same mosaic.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import tifffile

from deconv_gui import __version__
from deconv_gui.core.image import ImageMeta
from deconv_gui.core.io import _atomic_write, check_target
from deconv_gui.core.rawmeta import write_dng_metadata
from deconv_gui.errors import ImageWriteError

if TYPE_CHECKING:
    from deconv_gui.core.raw import RawData

__all__ = ["dng_colour_matrix", "write_dng"]

_log = logging.getLogger(__name__)

# LibRaw's own sRGB -> XYZ (D65) matrix (LibRaw_constants::xyz_rgb, LibRaw 0.22), used to
# replay how LibRaw turns a DNG ColorMatrix into its camera -> sRGB matrix.
LIBRAW_XYZ_RGB = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)

_BYTE, _ASCII, _SHORT, _LONG, _RATIONAL, _SRATIONAL = 1, 2, 3, 4, 5, 10
_D65 = 21  # EXIF LightSource code


def write_dng(
    path: str | os.PathLike[str],
    raw: RawData,
    mosaic: np.ndarray | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write ``mosaic`` (uint16, shaped like ``raw.mosaic``; default the file's own) as a DNG
    carrying ``raw``'s pattern, levels, colour, white balance, orientation and metadata.

    Atomic; never replaces an existing file (nor the source) unless ``overwrite=True``.
    Raises `ImageWriteError` (one line) for a sensor a DNG cannot describe (no colour-filter
    mosaic, not RGB) or an unwritable target. Metadata that exiv2 cannot add without
    disturbing the DNG's own tags or pixels is left out (logged as a warning).
    """
    out = Path(path).expanduser()
    name = out.name or str(out)
    if out.suffix.lower() != ".dng":
        raise ImageWriteError(f"Cannot save {name}: a DNG file needs the .dng extension")
    m = raw.mosaic if mosaic is None else np.asarray(mosaic)
    if m.dtype != np.uint16 or m.shape != raw.mosaic.shape:
        raise ValueError(
            f"mosaic must be uint16 shaped {raw.mosaic.shape}, got {m.dtype} {m.shape}"
        )
    cfa = _cfa_codes(raw, name)
    # the source file is never replaced; a record made in memory (synthetic raw, no LibRaw
    # reading) has no source file to protect
    source = raw.path if raw.libraw_version else None
    check_target(out, ImageMeta(path=source), overwrite)

    tags = _dng_tags(raw, cfa)
    buf = io.BytesIO()
    tifffile.imwrite(
        buf,
        np.ascontiguousarray(m),
        photometric=32803,  # CFA
        subfiletype=0,
        compression=None,
        software=f"Deconv GUI {__version__}",
        metadata=None,
        extratags=tags,
    )
    bare = buf.getvalue()
    try:
        data = write_dng_metadata(bare, raw.metadata)
        _verify(data, tags, m)
    except Exception:
        # exiv2 refused the metadata or disturbed the DNG: keep the photo, drop the extras
        _log.warning(
            "%s: the source's EXIF/XMP/IPTC could not be added safely; the DNG has the "
            "camera make and model and the DNG tags only",
            name,
            exc_info=True,
        )
        data = bare

    def write(fp: IO[bytes]) -> None:
        fp.write(data)

    _atomic_write(out, write, overwrite=overwrite)
    return out


def dng_colour_matrix(raw: RawData) -> np.ndarray:
    """The 3x3 XYZ (D65) -> camera matrix written as ``ColorMatrix1`` for a non-DNG source
    (the exact values of the fractions in the file)."""
    fr = _colour_matrix_fractions(raw)
    return np.array([fr[i] / fr[i + 1] for i in range(0, 18, 2)]).reshape(3, 3)


# --------------------------------------------------------------------------------------------


def _cfa_codes(raw: RawData, name: str) -> list[int]:
    if raw.pattern is None or raw.mosaic.ndim != 2:
        raise ImageWriteError(
            f"Cannot save {name}: this camera's sensor has no colour-filter mosaic a DNG can "
            "describe (save a TIFF instead)"
        )
    codes: list[int] = []
    for letter in raw.cfa:
        if letter not in "RGB":
            raise ImageWriteError(
                f"Cannot save {name}: DNG output needs an RGB colour-filter sensor, this one "
                f"is {raw.colours} (save a TIFF instead)"
            )
        codes.append("RGB".index(letter))
    return codes


def _dng_tags(raw: RawData, cfa: list[int]) -> list[tuple[int, int, int, Any, bool]]:
    n = int(raw.pattern.shape[0])  # type: ignore[union-attr]
    meta = raw.metadata
    make = _ascii(meta.make or "Unknown")
    model = _ascii(meta.model or "Camera")
    tags: list[tuple[int, int, int, Any, bool]] = [
        (50706, _BYTE, 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, _BYTE, 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (271, _ASCII, 0, make, True),
        (272, _ASCII, 0, model, True),
        (274, _SHORT, 1, raw.orientation, True),
        (33421, _SHORT, 2, (n, n), True),  # CFARepeatPatternDim
        (33422, _BYTE, n * n, tuple(cfa), True),  # CFAPattern
        (50710, _BYTE, 3, (0, 1, 2), True),  # CFAPlaneColor
        (50711, _SHORT, 1, 1, True),  # CFALayout: rectangular
        (50717, _LONG, 1, int(raw.white_level), True),  # WhiteLevel
    ]
    black = [int(raw.black_levels[int(i)]) for i in raw.pattern.ravel()]  # type: ignore[union-attr]
    if len(set(black)) == 1:
        tags.append((50714, _LONG, 1, black[0], True))  # BlackLevel
    else:
        tags.append((50713, _SHORT, 2, (n, n), True))  # BlackLevelRepeatDim
        tags.append((50714, _LONG, n * n, tuple(black), True))
    if abs(raw.sizes.pixel_aspect - 1.0) > 1e-6:
        tags.append(
            (50718, _RATIONAL, 2, (*_fraction(raw.sizes.pixel_aspect), 1, 1), True)
        )  # DefaultScale (horizontal, vertical)

    copied = {code for code, *_ in raw.dng_colour_tags}
    if raw.dng_colour_tags:
        tags.extend(
            (code, dtype, count, value, True) for code, dtype, count, value in raw.dng_colour_tags
        )
    else:
        fractions = _colour_matrix_fractions(raw)
        tags.append((50721, _SRATIONAL, 9, fractions, True))  # ColorMatrix1
        tags.append((50778, _SHORT, 1, _D65, True))  # CalibrationIlluminant1
    if 50708 not in copied:
        tags.append((50708, _ASCII, 0, _unique_model(make, model), True))  # UniqueCameraModel
    if raw.wb_source != "camera" or not copied & {50728, 50729}:
        tags.append((50728, _RATIONAL, 3, _as_shot_neutral(raw.wb), True))
    if meta.makernote is not None:
        blob = meta.makernote.dng_private_data()
        tags.append((50740, _BYTE, len(blob), blob, True))  # DNGPrivateData
    written = {code for code, *_ in tags}
    tags.extend(
        (code, dtype, count, value, True)
        for code, dtype, count, value in raw.dng_carried_tags
        if code not in written
    )
    return tags


def _unique_model(make: str, model: str) -> str:
    """UniqueCameraModel: "Canon PowerShot G2", not "Canon Canon PowerShot G2"."""
    first = model.split(" ", 1)[0].lower()
    return model if first in make.lower().split() else f"{make} {model}"


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii").replace("\0", "")


def _fraction(v: float) -> tuple[int, int]:
    """``v`` as (numerator, denominator) that fit a TIFF (S)RATIONAL: exact for float32
    values and binary fractions, else to about 1e-9."""
    f = Fraction(float(v))
    if f.denominator <= 1 << 30 and abs(f.numerator) < 1 << 31:
        return f.numerator, f.denominator
    k = 30
    while k > 0 and abs(v) * (1 << k) >= (1 << 31) - 1:
        k -= 1
    return round(v * (1 << k)), 1 << k


def _fractions(values: Any) -> tuple[int, ...]:
    return tuple(x for v in values for x in _fraction(float(v)))


def _as_shot_neutral(wb: tuple[float, ...]) -> tuple[int, ...]:
    """AsShotNeutral (R, G, B) that LibRaw turns back into exactly the multipliers ``wb``.

    LibRaw keeps each neutral as a float32 n, takes the multiplier as the float32 quotient
    1 / n and divides by the smallest multiplier; from ``wb`` itself it makes
    q = float32(wb / min(wb)). Not every float32 q is a reciprocal of a float32, so the
    smallest channel's neutral (nominally 1) is moved by a few units in the last place until
    every channel's q is reached; the neutrals are then stored as exact binary fractions.
    """
    mul = np.asarray(wb[:3], np.float32)
    q = mul / mul.min()
    low = int(np.argmin(mul))
    one = np.float32(1.0)
    for base in _float_walk(one, 512):
        v = one / base  # the smallest multiplier as LibRaw will compute it
        neutral: list[np.float32] = []
        for c in range(3):
            if c == low:
                neutral.append(base)
                continue
            found = next(
                (n for n in _float_walk(one / (q[c] * v), 8) if (one / n) / v == q[c]), None
            )
            if found is None:
                break
            neutral.append(found)
        else:
            return tuple(x for n in neutral for x in _fraction(float(n)))
    raise ValueError(f"no AsShotNeutral reproduces the multipliers {wb}")  # pragma: no cover


def _float_walk(x: np.float32, steps: int) -> Iterator[np.float32]:
    """``x``, then the float32 values 1, 2, ... ``steps`` units in the last place away."""
    yield np.float32(x)
    up = down = np.float32(x)
    for _ in range(steps):
        up = np.nextafter(up, np.float32(np.inf))
        down = np.nextafter(down, np.float32(0))
        yield up
        yield down


def _colour_matrix_fractions(raw: RawData) -> tuple[int, ...]:
    """ColorMatrix1 for a non-DNG source, as 9 (numerator, denominator) pairs, such that
    LibRaw derives from it the camera -> sRGB matrix it used for the source."""
    xyz = np.asarray(raw.rgb_xyz_matrix, np.float64)[:3]
    if xyz.any():
        table = _fractions(xyz.ravel())  # LibRaw's table entry (Adobe's matrix), exactly
        if raw.rgb_cam is None or np.array_equal(_libraw_rgb_cam(table), raw.rgb_cam):
            return table
    if raw.rgb_cam is not None:
        return _fit_fractions(np.asarray(raw.rgb_cam, np.float32))
    cm = np.asarray(raw.color_matrix, np.float32)[:, :3]
    return _fit_fractions(cm if cm[0, 0] > 0.125 else np.eye(3, dtype=np.float32))


def _libraw_rgb_cam(fractions: tuple[int, ...] | list[int]) -> np.ndarray:
    """What LibRaw 0.22 makes of a single DNG ColorMatrix: cam_xyz_coeff() and its
    pseudoinverse() step by step in double precision, the result rounded to float32."""
    cam_xyz = [
        [fractions[2 * (3 * i + j)] / fractions[2 * (3 * i + j) + 1] for j in range(3)]
        for i in range(3)
    ]
    xyz_rgb = LIBRAW_XYZ_RGB.tolist()
    cam_rgb = [[0.0] * 3 for _ in range(3)]
    for i in range(3):
        for j in range(3):
            acc = 0.0
            for k in range(3):
                acc += cam_xyz[i][k] * xyz_rgb[k][j]
            cam_rgb[i][j] = acc
        num = 0.0
        for j in range(3):
            num += cam_rgb[i][j]
        for j in range(3):
            cam_rgb[i][j] /= num
    work = [[1.0 if j == i + 3 else 0.0 for j in range(6)] for i in range(3)]
    for i in range(3):
        for j in range(3):
            for k in range(3):
                work[i][j] += cam_rgb[k][i] * cam_rgb[k][j]
    for i in range(3):
        num = work[i][i]
        for j in range(6):
            work[i][j] /= num
        for k in range(3):
            if k != i:
                num = work[k][i]
                for j in range(6):
                    work[k][j] -= work[i][j] * num
    out = [[0.0] * 3 for _ in range(3)]
    for i in range(3):
        for j in range(3):
            acc = 0.0
            for k in range(3):
                acc += work[j][k + 3] * cam_rgb[i][k]
            out[i][j] = acc
    return np.array(out, np.float64).T.astype(np.float32)  # rgb_cam[i][j] = inverse[j][i]


def _fit_fractions(rgb_cam: np.ndarray) -> tuple[int, ...]:
    """ColorMatrix fractions from which LibRaw rebuilds ``rgb_cam`` (float32) exactly.

    The inverse relation gives a matrix within a few units in the last place; numerators are
    then nudged, one at a time, while that lowers the number of entries LibRaw would get wrong
    (`_libraw_rgb_cam` replays its arithmetic)."""
    # LibRaw's matrices keep neutrals neutral (rows sum to 1); spread float32 rounding
    excess = rgb_cam.sum(axis=1, keepdims=True, dtype=np.float64) - 1.0
    weights = np.abs(rgb_cam) / np.abs(rgb_cam).sum(axis=1, keepdims=True)
    target = rgb_cam.astype(np.float64) - excess * weights
    cm = np.linalg.inv(target) @ np.linalg.inv(LIBRAW_XYZ_RGB)
    fractions = list(_fractions(cm.ravel()))

    def misses(fr: list[int]) -> int:
        return int((_libraw_rgb_cam(fr) != rgb_cam).sum())

    best = misses(fractions)
    steps = [s for k in range(1, 65) for s in (k, -k)]
    while best:
        improved = False
        for i in range(9):
            for step in steps:
                trial = fractions.copy()
                trial[2 * i] += step
                m = misses(trial)
                if m < best:
                    fractions, best, improved = trial, m, True
                    break
        if not improved:
            break
    return tuple(fractions)


def _verify(data: bytes, tags: list[tuple[int, int, int, Any, bool]], mosaic: np.ndarray) -> None:
    """The DNG tags and the mosaic in ``data`` are exactly those written."""
    with tifffile.TiffFile(io.BytesIO(data)) as tf:
        page = tf.pages[0]
        for code, _dtype, _count, value, _ in tags:
            got = page.tags.get(code)
            if got is None or not _same(got.value, value):
                raise ValueError(f"DNG tag {code} changed while adding metadata")
        if not np.array_equal(page.asarray(), mosaic):
            raise ValueError("the mosaic changed while adding metadata")


def _same(a: Any, b: Any) -> bool:
    if isinstance(b, (bytes, str)) or isinstance(a, (bytes, str)):
        a_bytes = a.encode() if isinstance(a, str) else bytes(a)
        b_bytes = b.encode() if isinstance(b, str) else bytes(b)
        return a_bytes.rstrip(b"\0") == b_bytes.rstrip(b"\0")
    a_arr = np.asarray(a).ravel()
    b_arr = np.asarray(b).ravel()
    return a_arr.shape == b_arr.shape and bool(np.array_equal(a_arr, b_arr))
