"""XMP and IPTC travel from a photo to its result (issue 18), read back by independent readers.

The inputs get EXIF and an ICC profile from Pillow and XMP/IPTC from exiv2 (pyexiv2), as
Lightroom or a camera would leave them: rating, keywords (dc:subject), city, develop
settings (crs:), a hierarchical keyword, a property of a namespace nobody registered, a stale
thumbnail; IPTC keywords, city, by-line, caption. The outputs are read back with exiftool
(skipped with a message when it is missing), pyexiv2 and Pillow.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageCms

from deconv_gui.core import metadata
from deconv_gui.core.image import ImageMeta
from deconv_gui.core.io import load_image, save_image
from deconv_gui.core.pipeline import output_meta

pyexiv2 = pytest.importorskip("pyexiv2")

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
W, H = 48, 32

PACKET = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:xmpGImg="http://ns.adobe.com/xap/1.0/g/img/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:acme="http://example.com/acme/1.0/"
    xmp:Rating="4" photoshop:City="Zürich" crs:Exposure2012="+0.50" crs:Temperature="5600"
    tiff:ImageWidth="{w}" tiff:ImageLength="{h}" tiff:Orientation="{orientation}"
    exif:PixelXDimension="{w}" exif:PixelYDimension="{h}" acme:Stars="five">
   <dc:subject><rdf:Bag><rdf:li>a</rdf:li><rdf:li>b</rdf:li></rdf:Bag></dc:subject>
   <lr:hierarchicalSubject><rdf:Bag><rdf:li>places|Zürich</rdf:li></rdf:Bag></lr:hierarchicalSubject>
   <xmp:Thumbnails><rdf:Alt><rdf:li rdf:parseType="Resource"><xmpGImg:format>JPEG</xmpGImg:format>
     <xmpGImg:image>/9j/4AAQSkZJRg</xmpGImg:image></rdf:li></rdf:Alt></xmp:Thumbnails>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""

IPTC = {
    "Iptc.Application2.Keywords": ["a", "b"],
    "Iptc.Application2.City": "Zürich",
    "Iptc.Application2.Byline": ["Ada Photographer"],
    "Iptc.Application2.Caption": "A test caption",
}
FORMATS = {".jpg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".webp": "WEBP"}


def _exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0110] = "Model X"  # Model
    exif[0x013B] = "Ada Photographer"  # Artist
    exif[0x8298] = "(c) Ada"  # Copyright
    exif[0x0112] = orientation
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2023:06:15 14:30:05"  # DateTimeOriginal
    sub[0xA434] = "Lens 35mm"  # LensModel
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (52.0, 31.0, 12.5)
    return exif


def make_source(path: Path, *, orientation: int = 1, iptc_encoding: str = "utf-8") -> Path:
    """A photo with EXIF + ICC (Pillow) and XMP + IPTC (exiv2), as a camera/catalogue would."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:H, 0:W]
    base = np.stack([xx / W, yy / H, 0.5 + 0 * xx], axis=-1) * 200 + 20
    pixels = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    fmt = FORMATS[path.suffix]
    extra = {"quality": 100, "lossless": True} if fmt == "WEBP" else {}
    Image.fromarray(pixels).save(
        buf, format=fmt, exif=_exif(orientation).tobytes(), icc_profile=SRGB, **extra
    )
    img = pyexiv2.ImageData(buf.getvalue())
    try:
        img.modify_raw_xmp(PACKET.format(w=W, h=H, orientation=orientation))
        if fmt != "WEBP":
            img.modify_iptc(IPTC, encoding=iptc_encoding)
        path.write_bytes(img.get_bytes())
    finally:
        img.close()
    return path


def exiftool(*paths: Path) -> list[dict[str, Any]]:
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool is not installed (apt-get install libimage-exiftool-perl)")
    out = subprocess.run(
        ["exiftool", "-j", "-G1", "-n", "-struct", "-a", *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return json.loads(out)


def read_exiv2(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    img = pyexiv2.ImageData(path.read_bytes())
    try:
        return img.read_xmp(), img.read_iptc()
    finally:
        img.close()


def check_xmp_fields(tags: dict[str, Any], width: int, height: int) -> None:
    """What exiftool reads from an output's XMP."""
    assert tags["XMP-xmp:Rating"] == 4
    subject = tags["XMP-dc:Subject"]
    assert (subject if isinstance(subject, list) else [subject]) == ["a", "b"]
    assert tags["XMP-photoshop:City"] == "Zürich"
    assert tags["XMP-crs:Exposure2012"] == "+0.50" and tags["XMP-crs:ColorTemperature"] == 5600
    assert tags["XMP-lr:HierarchicalSubject"] in ("places|Zürich", ["places|Zürich"])
    assert (tags["XMP-tiff:ImageWidth"], tags["XMP-tiff:ImageHeight"]) == (width, height)
    assert (tags["XMP-exif:ExifImageWidth"], tags["XMP-exif:ExifImageHeight"]) == (width, height)
    assert tags["XMP-tiff:Orientation"] == 1
    assert not any("Thumbnail" in k for k in tags if k.startswith("XMP")), "stale thumbnail"


def check_iptc_fields(tags: dict[str, Any]) -> None:
    assert tags["IPTC:Keywords"] == ["a", "b"]
    assert tags["IPTC:City"] == "Zürich"
    assert tags["IPTC:By-line"] == "Ada Photographer"
    assert tags["IPTC:Caption-Abstract"] == "A test caption"


def check_exif_and_icc(path: Path) -> None:
    with Image.open(path) as im:
        exif = im.getexif()
        assert (exif.get(0x010F), exif.get(0x0110)) == ("TestCam", "Model X")
        assert (exif.get(0x013B), exif.get(0x8298)) == ("Ada Photographer", "(c) Ada")
        assert exif.get(0x0112, 1) == 1
        sub = exif.get_ifd(0x8769)
        assert (sub.get(0x9003), sub.get(0xA434)) == ("2023:06:15 14:30:05", "Lens 35mm")
        assert tuple(float(v) for v in exif.get_ifd(0x8825)[2]) == (52.0, 31.0, 12.5)
        assert im.info.get("icc_profile") == SRGB


@pytest.mark.parametrize("src_ext", list(FORMATS))
def test_xmp_and_iptc_reach_every_output_format(tmp_path: Path, src_ext: str) -> None:
    src = make_source(tmp_path / f"src{src_ext}")
    photo = load_image(src)
    assert photo.meta.xmp and "acme:Stars" in photo.meta.xmp
    assert photo.meta.iptc is None if src_ext == ".webp" else photo.meta.iptc
    big = np.repeat(np.repeat(photo.rgb, 2, axis=0), 2, axis=1)  # an x2 "upscale"
    meta = output_meta(photo.meta, 2)
    outs = [save_image(tmp_path / f"out{ext}", big, meta, quality=100) for ext in FORMATS]
    for tags, out in zip(exiftool(*outs), outs, strict=True):
        check_xmp_fields(tags, 2 * W, 2 * H)
        if out.suffix != ".webp" and src_ext != ".webp":  # WebP has no IPTC block
            check_iptc_fields(tags)
        else:
            assert not any(k.startswith("IPTC") for k in tags)
        check_exif_and_icc(out)
        xmp, iptc = read_exiv2(out)  # and exiv2 reads the same
        assert xmp["Xmp.acme.Stars"] == "five"  # an unregistered namespace survives
        assert xmp["Xmp.dc.subject"] == ["a", "b"] and xmp["Xmp.xmp.Rating"] == "4"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_format_without_room_for_the_metadata_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """WebP has no IPTC block, BMP neither XMP nor IPTC: what is left out is said (a
    `warning:` line in the CLI), not dropped without a word."""
    photo = load_image(make_source(tmp_path / "src.jpg"))
    assert photo.meta.xmp and photo.meta.iptc
    said = {}
    for ext in (".jpg", ".png", ".tif", ".webp", ".bmp"):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            save_image(tmp_path / f"out{ext}", photo.rgb, photo.meta)
        said[ext] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert said[".jpg"] == said[".png"] == said[".tif"] == []
    assert said[".webp"] == [
        "out.webp: WebP has no room for the photo's IPTC metadata (keywords, caption, "
        "credits...): not written; JPEG, PNG and TIFF keep it"
    ]
    assert any("BMP has no room for the photo's XMP and IPTC metadata" in m for m in said[".bmp"])


def test_the_metadata_step_leaves_pixels_exif_and_icc_alone(tmp_path: Path) -> None:
    src = make_source(tmp_path / "src.png")
    photo = load_image(src)
    for ext in (".png", ".tif"):
        for bits in (8, 16):
            meta = photo.meta.copy(bit_depth=bits)
            bare = save_image(
                tmp_path / f"bare{bits}{ext}", photo.rgb, meta.copy(xmp=None, iptc=None)
            )
            full = save_image(tmp_path / f"full{bits}{ext}", photo.rgb, meta)
            a, b = load_image(bare), load_image(full)
            assert np.array_equal(a.rgb, b.rgb) and a.meta.bit_depth == b.meta.bit_depth == bits
            assert a.meta.exif == b.meta.exif and a.meta.icc_profile == b.meta.icc_profile
            assert b.meta.xmp and not a.meta.xmp and b.meta.iptc and not a.meta.iptc


def test_restore_via_cli_keeps_xmp_iptc_with_the_new_size_and_upright(tmp_path: Path) -> None:
    src = make_source(tmp_path / "photo.jpg", orientation=6)  # stored sideways
    before = src.read_bytes()
    out = tmp_path / "out.tif"
    proc = subprocess.run(
        [sys.executable, "-m", "deconv_gui", "restore", str(src), "--model", "bicubic-x2"]
        + ["-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert src.read_bytes() == before
    (tags,) = exiftool(out)
    # upright: the stored 48x32 is shown 32x48, and upscaled x2
    assert (tags["IFD0:ImageWidth"], tags["IFD0:ImageHeight"]) == (2 * H, 2 * W)
    check_xmp_fields(tags, 2 * H, 2 * W)
    check_iptc_fields(tags)
    assert tags.get("IFD0:Orientation", 1) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif", "photo.jpg"]


def test_latin1_iptc_is_read_and_written_as_utf8(tmp_path: Path) -> None:
    src = make_source(tmp_path / "old.jpg", iptc_encoding="latin-1")
    photo = load_image(src)
    assert photo.meta.iptc is not None
    assert photo.meta.iptc["Iptc.Application2.City"] == "Zürich"
    out = save_image(tmp_path / "new.jpg", photo.rgb, photo.meta)
    (tags,) = exiftool(out)
    assert tags["IPTC:City"] == "Zürich" and tags["IPTC:CodedCharacterSet"] == "\x1b%G"


def test_xmp_exiv2_refuses_is_left_out_and_the_photo_still_saved(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    meta = ImageMeta(xmp="<x:xmpmeta>this is not XML", iptc={"Iptc.Application2.City": "Oslo"})
    rgb = np.full((8, 8, 3), 0.5, np.float32)
    with caplog.at_level(logging.WARNING, logger="deconv_gui.core.metadata"):
        out = save_image(tmp_path / "a.jpg", rgb, meta)
    assert "XMP could not be written" in caplog.text
    back = load_image(out)
    assert back.rgb.shape == (8, 8, 3) and back.meta.xmp is None
    assert back.meta.iptc and back.meta.iptc["Iptc.Application2.City"] == "Oslo"  # it went in
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]


def test_damaged_metadata_in_a_source_does_not_stop_it(tmp_path: Path) -> None:
    good = make_source(tmp_path / "good.jpg").read_bytes()
    at = good.index(b"http://ns.adobe.com/xap/1.0/\x00")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(good[: at + 40] + b"\x00garbage<<>>" + good[at + 52 :])  # XMP mangled
    photo = load_image(bad)
    assert photo.rgb.shape == (H, W, 3)
    assert photo.meta.iptc and photo.meta.iptc["Iptc.Application2.City"] == "Zürich"  # kept
    out = save_image(tmp_path / "out.png", photo.rgb, photo.meta)
    back = load_image(out).meta.iptc
    assert back is not None and {k: back[k] for k in IPTC} == IPTC


def test_a_damaged_metadata_section_is_said_in_a_photographers_words(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A JPEG whose JFIF header lost its length: the picture decodes whole, exiv2 cannot
    parse the file, and the warning was "unreadable XMP/IPTC metadata ignored (Failed to
    read image data)", which reads as if the photo itself were unreadable."""
    good = tmp_path / "good.jpg"
    Image.fromarray(np.full((H, W, 3), 120, np.uint8)).save(good, quality=90)
    data = bytearray(good.read_bytes())
    assert data[2:4] == b"\xff\xe0"  # the JFIF header
    data[4:20] = bytes(16)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        photo = load_image(bad)
    assert np.array_equal(photo.rgb, load_image(good).rgb)
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert said == [
        "bad.jpg: its metadata section is damaged; any captions, keywords or ratings in it "
        "(XMP/IPTC) are not carried over"
    ]


def test_without_pyexiv2_photos_still_load_and_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    src = make_source(tmp_path / "src.jpg")

    def missing() -> Any:
        raise ImportError("No module named 'pyexiv2'")

    monkeypatch.setattr(metadata, "exiv2", missing)
    with caplog.at_level(logging.WARNING, logger="deconv_gui.core.metadata"):
        photo = load_image(src)
        assert photo.meta.xmp is None and photo.meta.exif
        out = save_image(tmp_path / "out.jpg", photo.rgb, photo.meta.copy(xmp=PACKET))
    assert "pyexiv2 is not installed" in caplog.text
    assert load_image(out).meta.exif == photo.meta.exif


def test_a_photo_without_xmp_takes_its_sidecars(tmp_path: Path) -> None:
    """darktable and digiKam keep a photo's rating and keywords in NAME.EXT.xmp: they reach
    the result (develop settings too: they apply to these pixels, not to a RAW's). NAME.xmp
    beside a JPEG belongs to the RAW file shot with it and is not taken; a photo's own XMP
    wins over a sidecar."""
    rgb = np.full((H, W, 3), 0.4, np.float32)
    bare = save_image(tmp_path / "IMG_7.jpg", rgb, ImageMeta())
    packet = PACKET.format(w=W, h=H, orientation=1)
    (tmp_path / "IMG_7.xmp").write_text(packet.replace('Rating="4"', 'Rating="1"'), "utf-8")
    assert load_image(bare).meta.xmp is None
    (tmp_path / "IMG_7.jpg.xmp").write_text(packet, encoding="utf-8")
    photo = load_image(bare)
    out = save_image(tmp_path / "out.tif", photo.rgb, output_meta(photo.meta, 1))
    (tags,) = exiftool(out)
    check_xmp_fields(tags, W, H)
    own = make_source(tmp_path / "own.png")
    (tmp_path / "own.png.xmp").write_text(packet.replace('Rating="4"', 'Rating="1"'), "utf-8")
    assert 'xmp:Rating="4"' in (load_image(own).meta.xmp or "")
