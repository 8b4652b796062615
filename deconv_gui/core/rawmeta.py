"""Camera RAW metadata: read it with exiv2, carry it into renders (TIFF) and DNG files.

Why exiv2 (through `pyexiv2`): it is a maintained C++ library that reads the EXIF, maker notes,
XMP and IPTC of every RAW format we open (TIFF-based ones such as NEF, CR2, ARW, DNG, but also
Canon CRW/CR3, Fuji RAF, Panasonic RW2, Olympus ORF, Sigma X3F...), and the same library writes
EXIF/XMP/IPTC into TIFF and DNG files, relocating what it writes. exifread reads fewer formats
and writes nothing; Pillow reads only TIFF-based RAW headers.

Three products come out of one read:

* `RawMetadata`: the common fields (make, model, lens, ISO, exposure, aperture, focal length,
  date, GPS, orientation) as Python values, plus the full EXIF and IPTC as exiv2 key/value
  strings and the XMP packet.
* ``exif_block``: a TIFF-style EXIF block (the ``ImageMeta.exif`` contract of `core.io`) for the
  rendered photo. exiv2 first copies the RAW's EXIF into a one-pixel TIFF held in memory (it
  reads every RAW container; Pillow then reads a plain TIFF), and Pillow takes the descriptive
  IFD0 tags, the Exif and GPS directories from it. Orientation is 1 (the render is upright).
  The maker note is left out of this block: its internal offsets would not survive Pillow
  moving it. EXIF tags that TIFF/EP cameras store in IFD0 (old Kodaks) move to the Exif IFD;
  ISO, exposure, aperture, focal length and date that the EXIF lacks but LibRaw read (from a
  maker note or its camera table, e.g. a Canon CRW's ISO) are filled in, here and in DNGs.
* ``makernote``: the maker note bytes as exiv2 lays them out, with their byte order and
  original offset, for a DNG's ``DNGPrivateData`` "MakN" block (the DNG way of keeping maker
  notes readable after they move: readers correct their offsets from the original one).

`write_dng_metadata` puts EXIF (Exif and GPS directories, descriptive IFD0 tags), XMP and IPTC
into a DNG written by `core.dng`, through exiv2, without touching the DNG's own IFD0 tags.
"""

from __future__ import annotations

import io
import logging
import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import tifffile
from PIL import Image, TiffImagePlugin

from deconv_gui.core.metadata import exiv2 as _exiv2  # the one lock on exiv2's state

__all__ = [
    "GpsPosition",
    "MakerNote",
    "RawMetadata",
    "read_raw_metadata",
    "write_dng_metadata",
]

_log = logging.getLogger(__name__)

_ORIENTATION = 0x0112
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_INTEROP_IFD = 0xA005
_MAKER_NOTE = 0x927C
# IFD0 tags that describe the photo (the rest of a RAW's IFD0 describes its storage or is
# private to the camera maker or to DNG, and must not land in another file's IFD0).
_DESCRIPTIVE_IFD0 = frozenset({0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298})
# Tags that belong in the Exif IFD; TIFF/EP cameras (old Kodaks) keep some of them in IFD0.
# 0x920B-0x9217 are TIFF/EP-only (their Exif versions are 0xA20B-0xA217); 0x9214 is both.
_EXIF_IFD_TAGS = frozenset(
    {0x829A, 0x829D, 0x8822, 0x8824, 0x8827, 0x8828, *range(0x8830, 0x8836)}
    | (set(range(0x9000, 0x9293)) - (set(range(0x920B, 0x9218)) - {0x9214}))
    | set(range(0xA000, 0xA500))
) - {_INTEROP_IFD}
# exiv2 groups copied into a DNG; makernote groups travel as the MakN block instead.
_DNG_EXIF_GROUPS = ("Photo", "GPSInfo", "Iop")
_DNG_IFD0_KEYS = ("ImageDescription", "Artist", "Copyright", "DateTime")
# TIFF/EP tags (exiv2 Exif.Image.*) that have an Exif-directory twin of the same name
_TIFF_EP_EXIF_NAMES = frozenset(
    {
        "ExposureTime", "FNumber", "ExposureProgram", "SpectralSensitivity", "ISOSpeedRatings",
        "DateTimeOriginal", "CompressedBitsPerPixel", "ShutterSpeedValue", "ApertureValue",
        "BrightnessValue", "ExposureBiasValue", "MaxApertureValue", "SubjectDistance",
        "MeteringMode", "LightSource", "Flash", "FocalLength", "SubjectLocation",
        "ExposureIndex", "SensingMethod", "FocalPlaneXResolution", "FocalPlaneYResolution",
        "FocalPlaneResolutionUnit",
    }
)  # fmt: skip


@dataclass(frozen=True)
class GpsPosition:
    latitude: float  # degrees, north positive
    longitude: float  # degrees, east positive
    altitude: float | None = None  # metres above sea level


@dataclass(frozen=True)
class MakerNote:
    """A maker note as exiv2 wrote it into a TIFF: bytes, byte order, offset from the header."""

    data: bytes
    byte_order: bytes  # b"II" or b"MM"
    offset: int

    def dng_private_data(self) -> bytes:
        """The ``DNGPrivateData`` (tag 50740) value holding this maker note (DNG spec 1.4)."""
        body = self.byte_order + struct.pack(">I", self.offset) + self.data
        return b"Adobe\0MakN" + struct.pack(">I", len(body)) + body


@dataclass(frozen=True)
class RawMetadata:
    """What a RAW file says about the photo. Missing values are None (never 0 or "")."""

    make: str | None = None
    model: str | None = None
    lens: str | None = None
    iso: float | None = None
    exposure_time: float | None = None  # seconds
    f_number: float | None = None
    focal_length: float | None = None  # millimetres
    datetime: str | None = None  # "YYYY:MM:DD HH:MM:SS" as EXIF writes it (capture time)
    gps: GpsPosition | None = None
    orientation: int | None = None  # the EXIF orientation tag, as stored
    exif: Mapping[str, str] = field(default_factory=dict)  # every exiv2 Exif.* key
    iptc: Mapping[str, Any] = field(default_factory=dict)  # exiv2 Iptc.* keys
    xmp_packet: str | None = None
    exif_block: bytes | None = None  # TIFF-style EXIF for a render (see the module docstring)
    makernote: MakerNote | None = None


# --------------------------------------------------------------------------------------------
# reading


def read_raw_metadata(data: bytes, fallback: Mapping[str, Any] | None = None) -> RawMetadata:
    """Metadata of the RAW file whose bytes are ``data``.

    ``fallback`` supplies what LibRaw knows (keys as `RawMetadata` fields) for fields the
    EXIF lacks. A file exiv2 cannot read gives the fallback values and no EXIF (logged).
    """
    fb = dict(fallback or {})
    try:
        with _exiv2() as pyexiv2:
            src = pyexiv2.ImageData(data)
            try:
                exif = _read_strings(src.read_exif)
                iptc = _read_strings(src.read_iptc)
                xmp = _read_xmp(src)
                container = _exif_container(pyexiv2, src)
            finally:
                src.close()
    except Exception as e:  # exiv2 raises plain RuntimeError/ValueError for unreadable files
        _log.warning("could not read the RAW file's EXIF (%s); using LibRaw's fields", e)
        return RawMetadata(**{k: v for k, v in fb.items() if v is not None})

    fields: dict[str, Any] = {
        "make": _text(exif, "Exif.Image.Make"),
        "model": _text(exif, "Exif.Image.Model"),
        "lens": _text(exif, "Exif.Photo.LensModel", "Exif.Image.LensModel")
        or _xmp_field(xmp, "aux:Lens"),
        "iso": _number(
            exif,
            "Exif.Photo.ISOSpeedRatings",
            "Exif.Photo.PhotographicSensitivity",
            "Exif.Image.ISOSpeedRatings",
        ),
        "exposure_time": _number(exif, "Exif.Photo.ExposureTime", "Exif.Image.ExposureTime"),
        "f_number": _number(exif, "Exif.Photo.FNumber", "Exif.Image.FNumber"),
        "focal_length": _number(exif, "Exif.Photo.FocalLength", "Exif.Image.FocalLength"),
        "datetime": _text(
            exif,
            "Exif.Photo.DateTimeOriginal",
            "Exif.Image.DateTimeOriginal",
            "Exif.Photo.DateTimeDigitized",
            "Exif.Image.DateTime",
        ),
        "gps": _gps(exif),
        "orientation": _int(exif, "Exif.Image.Orientation"),
    }
    for key, value in fb.items():
        if fields.get(key) is None and value is not None:
            fields[key] = value
    exif_block = _exif_block(container, fields)
    return RawMetadata(
        **fields,
        exif=exif,
        iptc=iptc,
        xmp_packet=xmp,
        exif_block=exif_block,
        makernote=_makernote(container),
    )


def _read_strings(read: Any) -> dict[str, Any]:
    try:
        return dict(read())
    except UnicodeDecodeError:
        return dict(read(encoding="latin-1"))


def _read_xmp(img: Any) -> str | None:
    try:
        packet = img.read_raw_xmp()
    except UnicodeDecodeError:
        packet = img.read_raw_xmp(encoding="latin-1")
    return packet or None


def _exif_container(pyexiv2: Any, src: Any) -> bytes:
    """A one-pixel TIFF into which exiv2 has copied the source's EXIF."""
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.zeros((1, 1), np.uint8), metadata=None)
    dst = pyexiv2.ImageData(buf.getvalue())
    try:
        src.copy_to_another_image(
            dst, exif=True, iptc=False, xmp=False, comment=False, icc=False, thumbnail=False
        )
        return bytes(dst.get_bytes())
    finally:
        dst.close()


def _exif_block(container: bytes, fields: Mapping[str, Any]) -> bytes | None:
    """The render's EXIF: see the module docstring. Standard tags the EXIF lacks but LibRaw
    read (from a maker note or its camera table) are filled in from ``fields``."""
    try:
        with Image.open(io.BytesIO(container)) as im:
            src = im.getexif()
            exif = Image.Exif()
            sub: dict[int, Any] = {}
            for tag, value in src.items():
                if tag in _DESCRIPTIVE_IFD0:
                    exif[tag] = _clean(value)
                elif tag in _EXIF_IFD_TAGS:
                    sub[tag] = _clean(value)  # TIFF/EP: Exif tags kept in IFD0
            sub.update({tag: _clean(v) for tag, v in src.get_ifd(_EXIF_IFD).items()})
            for d in (exif, sub):  # empty text is no value
                for tag in [t for t, v in d.items() if v == ""]:
                    del d[tag]
            for tag, key in _FILLED_TAGS.items():
                value = fields.get(key)
                if tag not in sub and value is not None:
                    sub[tag] = _exif_value(key, value)
            sub.pop(_MAKER_NOTE, None)
            if _INTEROP_IFD in sub:
                interop = dict(src.get_ifd(_INTEROP_IFD))
                if interop:
                    sub[_INTEROP_IFD] = interop
                else:
                    del sub[_INTEROP_IFD]
            if sub:
                exif[_EXIF_IFD] = sub
            gps = dict(src.get_ifd(_GPS_IFD))
            if gps:
                exif[_GPS_IFD] = gps
            exif[_ORIENTATION] = 1
            return bytes(exif.tobytes())
    except Exception as e:
        _log.warning("could not convert the RAW file's EXIF (%s); the render has none", e)
        return None


# Exif-directory tags filled from LibRaw's values when the EXIF lacks them
_FILLED_TAGS = {
    0x829A: "exposure_time",
    0x829D: "f_number",
    0x8827: "iso",
    0x9003: "datetime",
    0x920A: "focal_length",
}
_FILLED_KEYS = {
    "exposure_time": "Exif.Photo.ExposureTime",
    "f_number": "Exif.Photo.FNumber",
    "iso": "Exif.Photo.ISOSpeedRatings",
    "datetime": "Exif.Photo.DateTimeOriginal",
    "focal_length": "Exif.Photo.FocalLength",
}


def _exif_value(key: str, value: Any) -> Any:
    if key == "iso":
        return round(float(value))
    if key == "datetime":
        return str(value)
    frac = Fraction(float(value)).limit_denominator(1_000_000)
    return TiffImagePlugin.IFDRational(frac.numerator, frac.denominator)


def _exif_text(key: str, value: Any) -> str:
    """``value`` as exiv2 parses it for ``key``."""
    v = _exif_value(key, value)
    if isinstance(v, TiffImagePlugin.IFDRational):
        return f"{v.numerator}/{v.denominator}"
    return str(v)


def _clean(value: Any) -> Any:
    """Text as stored by cameras often carries NUL padding: cut it there."""
    if isinstance(value, str):
        return value.split("\0", 1)[0].rstrip()
    return value


def _makernote(tiff: bytes) -> MakerNote | None:
    """The maker note entry of a little TIFF's Exif IFD, with its offset (None if absent)."""
    try:
        order = tiff[:2]
        e = {b"II": "<", b"MM": ">"}[order]
        ifd0 = struct.unpack(e + "I", tiff[4:8])[0]
        for tag, _typ, _count, value_at in _ifd_entries(tiff, e, ifd0):
            if tag == _EXIF_IFD:
                exif_at = struct.unpack(e + "I", tiff[value_at : value_at + 4])[0]
                for tag2, typ2, count2, value_at2 in _ifd_entries(tiff, e, exif_at):
                    if tag2 == _MAKER_NOTE and typ2 == 7 and count2 > 4:
                        start = struct.unpack(e + "I", tiff[value_at2 : value_at2 + 4])[0]
                        data = tiff[start : start + count2]
                        if len(data) == count2:
                            return MakerNote(data, order, start)
    except (KeyError, struct.error, IndexError):
        pass
    return None


def _ifd_entries(tiff: bytes, e: str, at: int) -> Iterator[tuple[int, int, int, int]]:
    (n,) = struct.unpack(e + "H", tiff[at : at + 2])
    for i in range(n):
        pos = at + 2 + 12 * i
        tag, typ, count = struct.unpack(e + "HHI", tiff[pos : pos + 8])
        yield tag, typ, count, pos + 8


def _text(exif: Mapping[str, str], *keys: str) -> str | None:
    for key in keys:
        value = str(exif.get(key, "")).strip().strip("\0").strip()
        if value:
            return value
    return None


def _rational(s: str) -> float | None:
    try:
        v = float(Fraction(s.strip()))
    except (ValueError, ZeroDivisionError):
        return None
    return v if np.isfinite(v) else None


def _number(exif: Mapping[str, str], *keys: str) -> float | None:
    """First positive number among ``keys`` (EXIF writes 0 for unknown)."""
    for key in keys:
        text = str(exif.get(key, "")).split()
        value = _rational(text[0]) if text else None
        if value is not None and value > 0:
            return value
    return None


def _int(exif: Mapping[str, str], key: str) -> int | None:
    try:
        return int(str(exif.get(key, "")).split()[0])
    except (ValueError, IndexError):
        return None


def _gps(exif: Mapping[str, str]) -> GpsPosition | None:
    lat = _dms(exif.get("Exif.GPSInfo.GPSLatitude"), exif.get("Exif.GPSInfo.GPSLatitudeRef"))
    lon = _dms(exif.get("Exif.GPSInfo.GPSLongitude"), exif.get("Exif.GPSInfo.GPSLongitudeRef"))
    if lat is None or lon is None:
        return None
    alt = _number(exif, "Exif.GPSInfo.GPSAltitude")
    if alt is not None and str(exif.get("Exif.GPSInfo.GPSAltitudeRef", "0")).strip() == "1":
        alt = -alt
    return GpsPosition(lat, lon, alt)


def _dms(value: str | None, ref: str | None) -> float | None:
    if not value or not ref:
        return None
    parts = [_rational(p) for p in value.split()]
    if len(parts) != 3 or any(p is None for p in parts):
        return None
    d, m, s = (float(p) for p in parts)  # type: ignore[arg-type]
    deg = d + m / 60 + s / 3600
    return -deg if ref.strip().upper() in ("S", "W") else deg


def _xmp_field(packet: str | None, name: str) -> str | None:
    """A simple attribute or element value from an XMP packet (e.g. ``aux:Lens``)."""
    if not packet:
        return None
    m = re.search(rf'{re.escape(name)}="([^"]+)"', packet) or re.search(
        rf"<{re.escape(name)}>([^<]+)</{re.escape(name)}>", packet
    )
    return m.group(1).strip() if m else None


# --------------------------------------------------------------------------------------------
# writing into a DNG


def dng_exif_items(meta: RawMetadata) -> dict[str, str]:
    """The exiv2 keys and values `write_dng_metadata` writes: the Exif and GPS directories,
    Exif tags a TIFF/EP camera kept in IFD0 (moved to the Exif directory), and the descriptive
    IFD0 tags. Structural, DNG and maker-note keys are left out."""
    out: dict[str, str] = {}
    for key, value in meta.exif.items():
        parts = key.split(".")
        if len(parts) != 3 or not isinstance(value, str) or not value.strip(" \0"):
            continue
        _, group, name = parts
        exif_dir = group in _DNG_EXIF_GROUPS and key != "Exif.Photo.MakerNote"
        if exif_dir or (group == "Image" and name in _DNG_IFD0_KEYS):
            out[key] = value
    for key, value in meta.exif.items():  # TIFF/EP: IFD0 copies of Exif tags
        parts = key.split(".")
        if len(parts) == 3 and parts[1] == "Image" and isinstance(value, str):
            photo_key = "Exif.Photo." + parts[2]
            if parts[2] in _TIFF_EP_EXIF_NAMES and photo_key not in out:
                out[photo_key] = value
    for field_name, key in _FILLED_KEYS.items():  # what LibRaw read and the EXIF lacks
        value = getattr(meta, field_name)
        if value is not None and key not in out:
            out[key] = _exif_text(field_name, value)
    # the new file's pixel size is not the source's (nor is it needed in a DNG)
    for key in ("Exif.Photo.PixelXDimension", "Exif.Photo.PixelYDimension"):
        out.pop(key, None)
    return out


def write_dng_metadata(dng: bytes, meta: RawMetadata) -> bytes:
    """``dng`` with ``meta``'s EXIF (see `dng_exif_items`), XMP packet and IPTC added by exiv2.

    exiv2 keeps the tags already in the DNG's IFD0 (it rewrites the file but reads them back
    with their own types); only the keys given here are added. Raises ``RuntimeError`` when
    exiv2 refuses the data.
    """
    items = dng_exif_items(meta)
    with _exiv2() as pyexiv2:
        img = pyexiv2.ImageData(dng)
        try:
            if items:
                try:
                    img.modify_exif(items)
                except Exception:  # one bad value: add the others one by one
                    for key, value in items.items():
                        try:
                            img.modify_exif({key: value})
                        except Exception as e:
                            _log.warning("EXIF %s not copied into the DNG: %s", key, e)
            if meta.xmp_packet:
                img.modify_raw_xmp(meta.xmp_packet)
            if meta.iptc:
                try:
                    img.modify_iptc(dict(meta.iptc))
                except Exception as e:
                    _log.warning("IPTC not copied into the DNG: %s", e)
            return bytes(img.get_bytes())
        finally:
            img.close()
