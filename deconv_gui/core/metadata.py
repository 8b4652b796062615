"""XMP and IPTC: read from a photo, written into its result, through exiv2 (`pyexiv2`).

EXIF and the ICC profile are handled by `deconv_gui.core.io` with Pillow. XMP (Lightroom's
rating, keywords, subject, develop settings...) and IPTC-IIM (keywords, city, creator,
caption) are where photographers' catalogues live; Pillow reads only part of them and writes
neither, so they go through exiv2, a maintained C++ metadata library:

- `read_xmp_iptc(data, name)` returns the XMP packet as it is in the file (text) and the IPTC
  datasets as exiv2 keys (``Iptc.Application2.Keywords`` -> list of texts...).
- `embed_xmp_iptc(data, fmt, ...)` returns the bytes of an encoded photo (JPEG, PNG, TIFF or
  WebP) with them added. The XMP is corrected where it describes the pixels: the orientation
  is set to 1 (the pixels are upright, as the EXIF orientation is reset), the pixel dimensions
  (``tiff:ImageWidth/ImageLength``, ``exif:PixelXDimension/PixelYDimension``) follow the new
  size when the packet has them, and a stale embedded thumbnail (``xmp:Thumbnails``) is dropped.
  WebP has no IPTC block: only XMP is written there. ``develop=False`` (a render of a RAW
  file) also drops the RAW develop settings (Camera Raw's ``crs:``, darktable's history):
  they describe how to develop the sensor data, and an editor would apply them a second time
  to the rendered pixels.
- `find_sidecar(path, raw=...)` and `read_sidecar(path)`: the XMP sidecar a catalogue keeps
  beside a photo (``IMG_0001.CR2.xmp`` from darktable or digiKam, and for RAW files
  ``IMG_0001.xmp`` from Lightroom, Camera Raw or Capture One), where ratings, colour labels,
  keywords and captions live for files the catalogue does not write into.

Damaged metadata never stops a photo: failures are logged and the photo goes on without it.
exiv2 keeps global state (its XMP toolkit, its log handler), so every call holds one lock.
"""

from __future__ import annotations

import functools
import io
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "IPTC_FORMATS",
    "XMP_FORMATS",
    "embed_xmp_iptc",
    "exiv2",
    "find_sidecar",
    "read_sidecar",
    "read_xmp_iptc",
]

_log = logging.getLogger(__name__)

XMP_FORMATS = frozenset({"JPEG", "PNG", "TIFF", "WEBP"})  # formats we write XMP into
IPTC_FORMATS = frozenset({"JPEG", "PNG", "TIFF"})  # WebP has no IPTC block
_MAX_BYTES = 2**31 - 1  # pyexiv2 holds files in memory and refuses 2 GB and more

# XMP properties that describe the pixels, set from the written image when the packet has them.
_XMP_WIDTH = ("Xmp.tiff.ImageWidth", "Xmp.exif.PixelXDimension")
_XMP_HEIGHT = ("Xmp.tiff.ImageLength", "Xmp.exif.PixelYDimension")
_XMP_ORIENTATION = "Xmp.tiff.Orientation"
_XMP_STALE = ("Xmp.xmp.Thumbnails",)  # a preview of the old pixels
# RAW develop settings (Camera Raw / Lightroom, their saved sets, darktable's history)
_XMP_DEVELOP = ("Xmp.crs.", "Xmp.crss.", "Xmp.darktable.")
_SIDECAR_MAX_BYTES = 32 << 20  # darktable's long histories stay far below this
_IPTC_CHARSET = "Iptc.Envelope.CharacterSet"
_IPTC_UTF8 = "\x1b%G"

_EXIV2_LOCK = threading.Lock()
_EXIV2_READY = False


@contextmanager
def exiv2() -> Iterator[Any]:
    """The `pyexiv2` module, under the lock every exiv2 call in the app shares.

    exiv2's log messages (warnings about makers' quirks) are muted: pyexiv2 would otherwise
    print them or raise them as errors. Raises ImportError when pyexiv2 is missing.
    """
    global _EXIV2_READY
    with _EXIV2_LOCK:
        import pyexiv2

        if not _EXIV2_READY:
            pyexiv2.set_log_level(4)
            _EXIV2_READY = True
        yield pyexiv2


def read_xmp_iptc(data: bytes, name: str = "") -> tuple[str | None, dict[str, Any] | None]:
    """(XMP packet, IPTC datasets) of an encoded photo; None for what it does not have.

    IPTC text in a legacy 8-bit character set is read as Latin-1 (it is written back as
    UTF-8, with the UTF-8 marker, so the text stays the same)."""
    if len(data) > _MAX_BYTES:
        _log.warning("%s: too large to read its XMP/IPTC metadata; they are not kept", name)
        return None, None
    xmp: Any = None
    iptc: Any = None
    try:
        with exiv2() as pyexiv2:
            img = pyexiv2.ImageData(data)
            try:  # each on its own: damaged XMP must not cost the IPTC, nor the reverse
                xmp = _read_or_warn(img.read_raw_xmp, "XMP", name)
                iptc = _read_or_warn(img.read_iptc, "IPTC", name)
            finally:
                img.close()
    except ImportError:
        _log.warning("pyexiv2 is not installed: XMP and IPTC metadata are not kept")
        return None, None
    except Exception as e:  # exiv2 cannot parse the file's structure: keep the pixels
        # (exiv2's own words, e.g. "Failed to read image data", say nothing to a photographer)
        _log.debug("exiv2 cannot read %s: %s", name or "a photo", e)
        _log.warning(
            "%s: its metadata section is damaged; any captions, keywords or ratings in it "
            "(XMP/IPTC) are not carried over",
            name or "a photo",
        )
        return None, None
    xmp = xmp.strip() if isinstance(xmp, str) else None
    iptc = {k: v for k, v in dict(iptc or {}).items() if v not in (None, "", [])}
    return xmp or None, iptc or None


def _read_or_warn(read: Any, what: str, name: str) -> Any:
    try:
        return _read_text(read)
    except Exception as e:  # exiv2's RuntimeError on damaged metadata
        _log.debug("exiv2 cannot read the %s of %s: %s", what, name or "a photo", e)
        _log.warning(
            "%s: its %s metadata (captions, keywords, ratings) is damaged and not carried over",
            name or "a photo",
            what,
        )
        return None


def _read_text(read: Any) -> Any:
    try:
        return read()
    except UnicodeDecodeError:
        return read(encoding="latin-1")


def embed_xmp_iptc(
    data: bytes,
    fmt: str,
    *,
    xmp: str | None,
    iptc: dict[str, Any] | None,
    width: int,
    height: int,
    name: str = "",
    develop: bool = True,
) -> bytes | None:
    """``data`` (an encoded ``fmt`` photo of ``width`` x ``height``) with the XMP packet and
    IPTC datasets added (see the module doc), or None when there is nothing to add.
    ``develop=False``: the packet's RAW develop settings are left out.

    What exiv2 refuses is left out, logged, in steps: first the removal of a stale thumbnail
    (an odd structure), then the XMP (an invalid packet, or one too large for a JPEG), so the
    IPTC still goes in; at worst the photo is kept as it was, without them. XMP whose develop
    settings must go but cannot be removed is not written."""
    iptc = iptc if fmt in IPTC_FORMATS else None
    if fmt not in XMP_FORMATS or not (xmp or iptc):
        return None
    if len(data) > _MAX_BYTES:
        _log.warning("%s: too large for exiv2; XMP/IPTC metadata not written", name)
        return None
    attempts = [(xmp, True), (xmp, False), (None, False)] if xmp else [(None, False)]
    if not develop:  # removing them is not optional
        attempts = [a for a in attempts if a[1] or a[0] is None]
    for packet, drop_stale in attempts:
        if not (packet or iptc):
            break
        stale = (_XMP_STALE if develop else _XMP_STALE + _XMP_DEVELOP) if drop_stale else ()
        try:
            with exiv2() as pyexiv2:
                return _embed(pyexiv2, data, packet, iptc, width, height, stale)
        except ImportError:
            _log.warning("pyexiv2 is not installed: XMP and IPTC metadata are not written")
            return None
        except Exception as e:  # exiv2's RuntimeError; the next attempt leaves more out
            what = (
                "the stale XMP thumbnail or develop settings could not be removed"
                if drop_stale
                else "the XMP could not be written"
                if packet
                else "the IPTC could not be written"
            )
            _log.warning("%s: %s (%s)", name or "a photo", what, e)
    return None


def _embed(
    pyexiv2: Any,
    data: bytes,
    xmp: str | None,
    iptc: dict[str, Any] | None,
    width: int,
    height: int,
    stale: tuple[str, ...],
) -> bytes:
    img = pyexiv2.ImageData(data)
    try:
        if xmp:
            img.modify_raw_xmp(xmp)
            _fix_xmp(img, width, height, stale)
        if iptc:
            img.modify_iptc(_utf8_iptc(iptc))
        return bytes(img.get_bytes())
    finally:
        img.close()


def _fix_xmp(img: Any, width: int, height: int, stale_prefixes: tuple[str, ...]) -> None:
    present = _read_text(img.read_xmp)
    changes: dict[str, Any] = {}
    for keys, value in ((_XMP_WIDTH, width), (_XMP_HEIGHT, height)):
        changes.update({k: str(value) for k in keys if k in present})
    if _XMP_ORIENTATION in present:
        changes[_XMP_ORIENTATION] = "1"
    if changes:
        img.modify_xmp(changes)
    if stale_prefixes:  # None deletes; the members of a structure before the structure itself
        stale = [k for k in present if k.startswith(stale_prefixes)]
        if stale:
            img.modify_xmp({k: None for k in sorted(stale, key=len, reverse=True)})


def _utf8_iptc(iptc: dict[str, Any]) -> dict[str, Any]:
    """The datasets, marked as UTF-8 (pyexiv2 writes the text as UTF-8)."""
    out = dict(iptc)
    out[_IPTC_CHARSET] = _IPTC_UTF8
    return out


def find_sidecar(path: Path, *, raw: bool) -> Path | None:
    """The XMP sidecar of the photo at ``path``, or None: ``NAME.EXT.xmp`` (darktable,
    digiKam), and for a RAW file then ``NAME.xmp`` (Lightroom, Camera Raw, Capture One; for
    another photo that name is the sidecar of the RAW file shot with it)."""
    names = [path.name + ".xmp", path.name + ".XMP"]
    if raw:
        names += [path.stem + ".xmp", path.stem + ".XMP"]
    for n in names:
        candidate = path.with_name(n)
        try:  # (is_file raises for a name over the file system's limit)
            if candidate.is_file():
                return candidate
        except OSError:
            continue
    return None


def read_sidecar(path: Path) -> str | None:
    """The XMP packet of the sidecar file at ``path``, or None (logged) when it cannot be
    read, is not XMP, or exiv2 cannot parse it."""
    name = path.name
    try:
        with open(path, "rb") as f:
            data = f.read(_SIDECAR_MAX_BYTES + 1)
    except OSError as e:
        _log.warning("%s: the XMP sidecar cannot be read (%s); it is not used", name, e.strerror)
        return None
    if len(data) > _SIDECAR_MAX_BYTES:
        _log.warning("%s: the XMP sidecar is over 32 MB; it is not used", name)
        return None
    try:
        text = data.decode("utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else None
        text = text if text is not None else data.decode("utf-8-sig")
    except UnicodeDecodeError:
        _log.warning("%s: the XMP sidecar is not UTF-8 text; it is not used", name)
        return None
    text = text.strip()
    if "xmpmeta" not in text and "rdf:RDF" not in text:
        _log.warning("%s: not an XMP sidecar (no XMP packet in it); it is not used", name)
        return None
    try:
        with exiv2() as pyexiv2:
            img = pyexiv2.ImageData(_tiny_png())
            try:
                img.modify_raw_xmp(text)
                if not _read_text(img.read_xmp):
                    raise ValueError("no properties")
            finally:
                img.close()
    except ImportError:
        _log.warning("pyexiv2 is not installed: the XMP sidecar %s is not used", name)
        return None
    except Exception as e:  # exiv2's RuntimeError on XML it cannot parse
        _log.warning("%s: the XMP sidecar is damaged (%s); it is not used", name, e)
        return None
    return text


@functools.cache
def _tiny_png() -> bytes:
    """A 1x1 PNG for exiv2 to check a sidecar's packet in (made once)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    return buf.getvalue()
