"""Photo I/O: pixels, metadata, orientation, atomic writes and every way a file can be bad."""

from __future__ import annotations

import errno
import io
import os
import re
import struct
import sys
import tempfile
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image, ImageCms, ImageOps

from deconv_gui.core import io as dio
from deconv_gui.core.image import ImageMeta
from deconv_gui.core.io import (
    DEFAULT_MAX_PIXELS,
    READ_EXTENSIONS,
    WRITE_EXTENSIONS,
    is_image_path,
    load_image,
    load_preview,
    save_image,
    to_uint8,
    to_uint16,
)
from deconv_gui.errors import ImageReadError, ImageWriteError

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
DATE = "2023:06:15 14:30:05"
GPS_LAT = (52.0, 31.0, 12.5)


def camera_exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0110] = "Model X"  # Model
    if orientation is not None:
        exif[0x0112] = orientation
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = DATE  # DateTimeOriginal
    sub[0xA002] = 999  # PixelXDimension (must follow the written size)
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = GPS_LAT
    gps[3] = "E"
    gps[4] = (13.0, 24.0, 1.5)
    return exif


def check_camera_exif(exif: Image.Exif, width: int | None = None) -> None:
    assert exif.get(0x010F) == "TestCam"
    assert exif.get(0x0110) == "Model X"
    sub = exif.get_ifd(0x8769)
    assert sub.get(0x9003) == DATE
    if width is not None:
        assert sub.get(0xA002) == width
    gps = exif.get_ifd(0x8825)
    assert gps.get(1) == "N"
    assert tuple(float(v) for v in gps[2]) == GPS_LAT
    assert exif.get(0x0112, 1) == 1


def parse_exif(data: bytes | None) -> Image.Exif:
    assert data, "EXIF missing"
    exif = Image.Exif()
    exif.load(data)
    return exif


def pattern(h: int, w: int, bits: int, seed: int = 0) -> np.ndarray:
    """Random uint RGB with plenty of values that are not multiples of 257."""
    rng = np.random.default_rng(seed)
    top = 255 if bits == 8 else 65535
    v = rng.integers(0, top + 1, (h, w, 3), dtype=np.int64)
    v[0, 0] = (0, top, 1)
    return v.astype(np.uint8 if bits == 8 else np.uint16)


def as_float(v: np.ndarray) -> np.ndarray:
    top = 255.0 if v.dtype == np.uint8 else 65535.0
    return (v.astype(np.float64) / top).astype(np.float32)


def smooth_rgb(h: int = 48, w: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([x / w, y / h, 0.5 + 0.4 * np.sin(x / 7) * np.cos(y / 9)], axis=2)


def tifffile():
    """An independent TIFF reader/writer (ships with scikit-image, a dev dependency)."""
    return pytest.importorskip("tifffile")


def png_chunk(ctype: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(ctype + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", crc)


def png_with_exif(encoded: bytes, exif: bytes) -> bytes:
    """Insert an eXIf chunk right after IHDR of a PNG made by another encoder."""
    ihdr_end = 8 + 8 + 13 + 4
    raw = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
    return encoded[:ihdr_end] + png_chunk(b"eXIf", raw) + encoded[ihdr_end:]


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ---------------------------------------------------------------------------- helpers / API


def test_extension_sets_and_is_image_path():
    assert {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".heic"} <= READ_EXTENSIONS
    assert {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"} <= WRITE_EXTENSIONS
    assert all(e == e.lower() and e.startswith(".") for e in READ_EXTENSIONS | WRITE_EXTENSIONS)
    assert is_image_path("a/b/Photo.JPG")
    assert is_image_path(Path("x.tiff"))
    assert not is_image_path("notes.txt")
    assert not is_image_path("archive.png.tmp")
    assert not is_image_path("noext")
    assert DEFAULT_MAX_PIXELS == 250_000_000


def test_to_uint_rounds_clips_and_handles_nan():
    x = np.array([-0.5, 0.0, 0.5 / 255, 0.51 / 255, 1.0, 7.0, np.nan, np.inf], np.float32)
    assert to_uint8(x).tolist() == [0, 0, 0, 1, 255, 255, 0, 255]  # 0.5 rounds to even
    assert to_uint16(np.array([0.5 / 65535, 1.5 / 65535, 2.0], np.float32)).tolist() == [
        0,
        2,
        65535,
    ]
    assert to_uint8(np.zeros((2, 3, 3), np.float32)).dtype == np.uint8
    assert to_uint16(np.zeros((2, 3), np.float32)).shape == (2, 3)


@given(arrays(np.uint16, (3, 4, 3)))
def test_to_uint16_inverts_division(v):
    assert np.array_equal(to_uint16(as_float(v)), v)
    assert np.array_equal(to_uint8(as_float((v >> 8).astype(np.uint8))), v >> 8)


# ---------------------------------------------------------------------------- pixels


def test_png8_roundtrip_is_exact(tmp_path):
    v = pattern(9, 13, 8)
    out = save_image(tmp_path / "a.png", as_float(v), ImageMeta())
    photo = load_image(out)
    assert photo.rgb.dtype == np.float32 and photo.rgb.shape == (9, 13, 3)
    assert np.array_equal(to_uint8(photo.rgb), v)
    assert photo.meta.bit_depth == 8 and photo.meta.mode == "RGB" and photo.meta.format == "PNG"
    assert photo.meta.path == out and photo.meta.alpha is None


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16bit_roundtrip_is_exact_and_readable_by_other_decoders(tmp_path, ext, monkeypatch):
    # small blocks/strips so that the PNG filter and the TIFF strips cross several boundaries
    monkeypatch.setattr(dio, "_ROWS_PER_BLOCK", 3)
    monkeypatch.setattr(dio, "_TIFF_STRIP_BYTES", 64)
    v = pattern(11, 7, 16, seed=1)
    assert np.any(v % 257 != 0)
    out = save_image(tmp_path / f"a{ext}", as_float(v), ImageMeta(bit_depth=16))
    photo = load_image(out)
    assert photo.meta.bit_depth == 16 and photo.meta.mode == "RGB"
    assert np.array_equal(to_uint16(photo.rgb), v)
    if ext == ".png":
        other = cv2.cvtColor(cv2.imread(str(out), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
    else:
        other = tifffile().imread(out)
        with tifffile().TiffFile(out) as tif:
            assert len(tif.pages[0].dataoffsets) > 1
    assert other.dtype == np.uint16
    assert np.array_equal(other, v)


@pytest.mark.parametrize("ext", [".png", ".tif", ".jpg", ".bmp"])
@pytest.mark.parametrize("bits", [8, 16])
def test_grey_source_is_saved_grey(tmp_path, ext, bits):
    g = pattern(6, 5, bits)[:, :, 0]
    rgb = np.repeat(as_float(g)[:, :, None], 3, axis=2)
    out = save_image(tmp_path / f"g{ext}", rgb, ImageMeta(mode="L", bit_depth=bits))
    with Image.open(out) as im:
        written_bits = 16 if bits == 16 and ext in (".png", ".tif") else 8
        assert im.mode == ("I;16" if written_bits == 16 else "L")
    photo = load_image(out)
    assert photo.meta.mode == "L" and photo.meta.bit_depth == written_bits
    assert np.array_equal(photo.rgb[:, :, 0], photo.rgb[:, :, 2])
    if ext != ".jpg":
        expect = g if written_bits == bits else to_uint8(as_float(g))
        back = to_uint16(photo.rgb[:, :, 0]) if written_bits == 16 else to_uint8(photo.rgb[:, :, 0])
        assert np.array_equal(back, expect)


@pytest.mark.parametrize(
    ("ext", "bits", "mode"),
    [
        (".png", 8, "RGBA"),
        (".png", 16, "RGBA"),
        (".tif", 8, "RGBA"),
        (".tif", 16, "RGBA"),
        (".png", 8, "LA"),
        (".png", 16, "LA"),
        (".tif", 8, "LA"),
        (".webp", 8, "RGBA"),
    ],
)
def test_alpha_is_carried_through_untouched(tmp_path, ext, bits, mode):
    v = pattern(8, 6, bits, seed=3)
    if mode == "LA":
        v[:, :, 1] = v[:, :, 2] = v[:, :, 0]
    a = pattern(8, 6, bits, seed=4)[:, :, 0]
    meta = ImageMeta(bit_depth=bits, mode=mode, alpha=as_float(a))
    out = save_image(tmp_path / f"a{ext}", as_float(v), meta, quality=100)  # lossless WebP
    photo = load_image(out)
    assert photo.meta.mode == mode and photo.meta.alpha is not None
    assert photo.meta.alpha.dtype == np.float32 and photo.meta.alpha.shape == (8, 6)
    quant = to_uint16 if bits == 16 else to_uint8
    assert np.array_equal(quant(photo.meta.alpha), a)
    assert np.array_equal(quant(photo.rgb), v)


def test_alpha_is_dropped_for_jpeg_and_resized_when_the_image_grew(tmp_path):
    a = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    meta = ImageMeta(mode="RGBA", alpha=a)
    big = np.full((6, 8, 3), 0.5, np.float32)
    photo = load_image(save_image(tmp_path / "up.png", big, meta))
    assert photo.meta.alpha is not None and photo.meta.alpha.shape == (6, 8)
    jpg = load_image(save_image(tmp_path / "a.jpg", big, meta))
    assert jpg.meta.alpha is None and jpg.meta.mode == "RGB"


def test_jpeg_and_lossy_webp_stay_within_tolerance(tmp_path):
    rgb = smooth_rgb()
    for ext in (".jpg", ".webp"):
        photo = load_image(save_image(tmp_path / f"s{ext}", rgb, ImageMeta(), quality=95))
        err = np.abs(photo.rgb - rgb)
        assert err.mean() < 0.01, ext
        assert err.max() < 0.08, ext


def test_16bit_source_saved_as_jpeg_is_8bit(tmp_path):
    out = save_image(tmp_path / "a.jpg", smooth_rgb(), ImageMeta(bit_depth=16))
    assert load_image(out).meta.bit_depth == 8


@settings(max_examples=15, deadline=None)
@given(
    arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 9), st.just(3))),
    st.sampled_from([".png", ".tif", ".bmp"]),
)
def test_lossless_8bit_roundtrip_property(v, ext):
    with tempfile.TemporaryDirectory() as d:
        photo = load_image(save_image(Path(d) / f"p{ext}", as_float(v), ImageMeta()))
        assert np.array_equal(to_uint8(photo.rgb), v)


def test_palette_images_become_rgb_or_rgba(tmp_path):
    pal = Image.new("P", (4, 3))
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    pal.putpixel((1, 1), 1)
    pal.save(tmp_path / "p.png")
    pal.save(tmp_path / "t.png", transparency=0)
    plain = load_image(tmp_path / "p.png")
    assert plain.meta.mode == "RGB" and plain.meta.alpha is None
    assert plain.rgb[0, 0].tolist() == [1.0, 0.0, 0.0] and plain.rgb[1, 1].tolist() == [0, 0, 1]
    trans = load_image(tmp_path / "t.png")
    assert trans.meta.mode == "RGBA" and trans.meta.alpha is not None
    assert trans.meta.alpha[0, 0] == 0.0 and trans.meta.alpha[1, 1] == 1.0


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    Image.new("CMYK", (5, 4), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=95)
    photo = load_image(tmp_path / "c.jpg")
    assert photo.meta.mode == "RGB" and photo.rgb.shape == (4, 5, 3)
    r, g, b = photo.rgb[2, 2]
    assert r > 0.8 and g < 0.2 and b < 0.2


# ---------------------------------------------------------------------------- metadata


@pytest.mark.parametrize(
    ("ext", "bits"),
    [(".jpg", 8), (".png", 8), (".png", 16), (".tif", 8), (".tif", 16), (".webp", 8)],
)
def test_exif_and_icc_survive_save(tmp_path, ext, bits):
    meta = ImageMeta(bit_depth=bits, exif=camera_exif(orientation=1).tobytes(), icc_profile=SRGB)
    rgb = smooth_rgb(10, 14)
    out = save_image(tmp_path / f"m{ext}", rgb, meta)
    with Image.open(out) as im:  # read back by Pillow directly, not through our loader
        assert im.info.get("icc_profile") == SRGB
        check_camera_exif(im.getexif(), width=14)
    photo = load_image(out)
    assert photo.meta.icc_profile == SRGB
    check_camera_exif(parse_exif(photo.meta.exif), width=14)
    assert photo.meta.bit_depth == bits
    if ext == ".tif":  # an independent TIFF parser sees the EXIF and GPS sub-IFDs too
        with tifffile().TiffFile(out) as tif:
            tags = tif.pages[0].tags
            assert tags["Make"].value == "TestCam"
            assert tags["ExifTag"].value["DateTimeOriginal"] == DATE
            assert tags["GPSTag"].value["GPSLatitudeRef"] == "N"
            assert tags["InterColorProfile"].value == SRGB


def test_tiff_source_metadata_is_kept_without_storage_tags(tmp_path):
    src = tmp_path / "src.tif"
    Image.fromarray(pattern(5, 6, 8)).save(
        src, exif=camera_exif(orientation=1).tobytes(), icc_profile=SRGB, dpi=(240, 240)
    )
    photo = load_image(src)
    exif = parse_exif(photo.meta.exif)
    check_camera_exif(exif)
    assert not {256, 257, 273, 279, 34675} & set(exif)  # storage tags and ICC are not EXIF
    assert photo.meta.icc_profile == SRGB
    assert photo.meta.extra["dpi"] == (240, 240)
    big = np.repeat(np.repeat(photo.rgb, 2, axis=0), 2, axis=1)
    out = save_image(tmp_path / "out.jpg", big, photo.meta)
    with Image.open(out) as im:
        assert im.size == (12, 10) and im.info["dpi"] == (240, 240)
        check_camera_exif(im.getexif())


def test_icc_of_the_wrong_colour_space_is_not_embedded(tmp_path):
    meta = ImageMeta(mode="L", icc_profile=SRGB)  # an RGB profile on grey pixels would lie
    out = save_image(tmp_path / "g.png", smooth_rgb(4, 4), meta)
    with Image.open(out) as im:
        assert "icc_profile" not in im.info


def test_unreadable_exif_in_meta_does_not_block_the_save(tmp_path):
    meta = ImageMeta(exif=b"Exif\x00\x00garbage that is not TIFF")
    photo = load_image(save_image(tmp_path / "a.jpg", smooth_rgb(4, 4), meta))
    assert photo.rgb.shape == (4, 4, 3)


# ---------------------------------------------------------------------------- orientation


def asymmetric(h: int = 6, w: int = 10) -> np.ndarray:
    v = np.zeros((h, w, 3), np.uint8)
    v[..., 0] = np.arange(w, dtype=np.uint8)[None, :] * 20
    v[..., 1] = np.arange(h, dtype=np.uint8)[:, None] * 30
    v[0, 0] = (255, 255, 255)
    return v


@pytest.mark.parametrize("ext", [".png", ".tif"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow_exif_transpose(tmp_path, orientation, ext):
    v = asymmetric()
    a = (np.arange(60, dtype=np.uint8).reshape(6, 10) * 4).astype(np.uint8)
    stored = Image.fromarray(np.dstack([v, a]))
    exif = camera_exif(orientation).tobytes()
    reference = io.BytesIO()  # Pillow's exif_transpose on a PNG is the reference
    stored.save(reference, "PNG", exif=exif)
    with Image.open(reference) as im:
        expect = np.asarray(ImageOps.exif_transpose(im))
    path = tmp_path / f"o{ext}"
    stored.save(path, exif=exif)
    photo = load_image(path)
    assert photo.meta.orientation == orientation
    assert np.array_equal(to_uint8(photo.rgb), expect[:, :, :3])
    assert photo.meta.alpha is not None
    assert np.array_equal(to_uint8(photo.meta.alpha), expect[:, :, 3])
    assert parse_exif(photo.meta.exif).get(0x0112, 1) == 1  # reset (or removed)
    assert np.array_equal(to_uint8(load_preview(path)), expect[:, :, :3])


def test_jpeg_orientation_is_applied_exactly_once(tmp_path):
    src = tmp_path / "cam.jpg"
    v = np.kron(asymmetric(), np.ones((4, 4, 1), np.uint8))  # 24x40, blocky for JPEG
    Image.fromarray(v).save(src, quality=100, exif=camera_exif(6).tobytes())
    photo = load_image(src)
    assert photo.meta.orientation == 6
    assert photo.rgb.shape == (40, 24, 3)  # rotated to portrait
    with Image.open(src) as im:
        upright = np.asarray(ImageOps.exif_transpose(im))
    assert np.array_equal(to_uint8(photo.rgb), upright)
    for ext in (".png", ".jpg"):
        out = save_image(tmp_path / f"out{ext}", photo.rgb, photo.meta, quality=100)
        with Image.open(out) as im:
            assert im.getexif().get(0x0112) == 1
            assert im.size == (24, 40)
        again = load_image(out)
        assert again.meta.orientation == 1
        assert again.rgb.shape == photo.rgb.shape
        tol = 0 if ext == ".png" else 3 / 255
        assert np.abs(again.rgb - photo.rgb).max() <= tol + 1e-6
        check_camera_exif(parse_exif(again.meta.exif))


def test_16bit_orientation_is_applied_once(tmp_path):
    v = pattern(5, 8, 16, seed=7)
    expect = np.rot90(v, -1)  # orientation 6: rotate 90 degrees clockwise
    tif = tmp_path / "o.tif"
    tifffile().imwrite(tif, v, photometric="rgb", extratags=[(274, "H", 1, 6, True)])
    ok, enc = cv2.imencode(".png", cv2.cvtColor(v, cv2.COLOR_RGB2BGR))
    assert ok
    png = tmp_path / "o.png"
    png.write_bytes(png_with_exif(enc.tobytes(), camera_exif(6).tobytes()))
    grey = tmp_path / "grey.tif"
    tifffile().imwrite(grey, v[:, :, 0], extratags=[(274, "H", 1, 6, True)])
    for path in (tif, png, grey):
        photo = load_image(path)
        assert photo.meta.bit_depth == 16 and photo.meta.orientation == 6, path.name
        want = expect[:, :, :1].repeat(3, axis=2) if path is grey else expect
        assert np.array_equal(to_uint16(photo.rgb), want), path.name


# ---------------------------------------------------------------------------- preview


def test_preview_is_small_oriented_and_close_to_the_full_image(tmp_path):
    src = tmp_path / "big.jpg"
    rgb = smooth_rgb(200, 300)
    Image.fromarray(to_uint8(rgb)).save(src, quality=95, exif=camera_exif(6).tobytes())
    prev = load_preview(src, max_side=64)
    assert prev.dtype == np.float32 and prev.ndim == 3 and prev.shape[2] == 3
    assert max(prev.shape[:2]) == 64 and prev.shape[0] > prev.shape[1]  # portrait after rotate
    full = load_image(src).rgb
    small = cv2.resize(full, (prev.shape[1], prev.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(small - prev).mean() < 0.03


def test_preview_of_16bit_grey_and_alpha_images(tmp_path):
    g = np.full((20, 30), 40000, np.uint16)
    Image.fromarray(g).save(tmp_path / "g.png")
    prev = load_preview(tmp_path / "g.png", max_side=15)
    assert prev.shape == (10, 15, 3)
    assert np.allclose(prev, 40000 / 65535, atol=1 / 255)
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 1] = 200
    Image.fromarray(rgba).save(tmp_path / "a.png")
    assert load_preview(tmp_path / "a.png").shape == (8, 8, 3)
    # asked for, the transparency comes too (thumbnails show it); a picture without has none
    with_alpha = load_preview(tmp_path / "a.png", alpha=True)
    assert with_alpha.shape == (8, 8, 4) and with_alpha[..., 3].max() == 0
    la = Image.fromarray(np.full((6, 4, 2), 255, np.uint8), "LA")
    la.save(tmp_path / "la.png")
    assert load_preview(tmp_path / "la.png", alpha=True).shape == (6, 4, 4)
    assert load_preview(tmp_path / "g.png", alpha=True).shape == (20, 30, 3)
    write_rgba16 = np.zeros((5, 7, 4), np.uint16)
    write_rgba16[..., 3] = 65535
    tifffile().imwrite(
        tmp_path / "t.tif", write_rgba16, photometric="rgb", extrasamples=["unassalpha"]
    )
    assert load_preview(tmp_path / "t.tif", alpha=True).shape == (5, 7, 4)


# ---------------------------------------------------------------------------- atomic writes


def test_write_leaves_only_the_result_and_never_overwrites_silently(tmp_path):
    rgb = smooth_rgb(8, 8)
    out = save_image(tmp_path / "a.png", rgb, ImageMeta())
    assert listing(tmp_path) == ["a.png"]
    before = out.read_bytes()
    with pytest.raises(ImageWriteError, match="already exists"):
        save_image(out, 1 - rgb, ImageMeta())
    assert out.read_bytes() == before
    assert listing(tmp_path) == ["a.png"]
    save_image(out, 1 - rgb, ImageMeta(), overwrite=True)
    assert out.read_bytes() != before
    assert np.array_equal(to_uint8(load_image(out).rgb), to_uint8(1 - rgb))
    assert listing(tmp_path) == ["a.png"]


def test_the_original_photo_is_never_replaced_even_with_overwrite(tmp_path):
    """Only a caller that asked the user (the app's "Replace the original?") replaces it,
    by passing metadata without the original's path; ``overwrite`` alone is not enough."""
    src = tmp_path / "orig.jpg"
    Image.fromarray(to_uint8(smooth_rgb())).save(src, quality=90)
    before, mtime = src.read_bytes(), src.stat().st_mtime_ns
    photo = load_image(src)
    with pytest.raises(ImageWriteError, match="original"):
        save_image(src, photo.rgb * 0.5, photo.meta)
    with pytest.raises(ImageWriteError, match="original"):  # also through another spelling
        save_image(tmp_path / "." / "orig.jpg", photo.rgb * 0.5, photo.meta)
    assert src.read_bytes() == before and src.stat().st_mtime_ns == mtime
    assert listing(tmp_path) == ["orig.jpg"]
    with pytest.raises(ImageWriteError, match="original"):
        save_image(src, photo.rgb * 0.5, photo.meta, overwrite=True)
    assert src.read_bytes() == before
    save_image(src, photo.rgb * 0.5, photo.meta.copy(path=None), overwrite=True)
    assert load_image(src).rgb.mean() < photo.rgb.mean() * 0.6


def test_disk_error_during_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(dio.os, "fsync", full_disk)
    with pytest.raises(ImageWriteError, match="disk is full"):
        save_image(tmp_path / "a.tif", smooth_rgb(), ImageMeta())
    assert listing(tmp_path) == []


def test_encoder_failure_leaves_no_partial_file(tmp_path, monkeypatch):
    def broken_save(self, fp, format=None, **params):
        fp.write(b"half a jpeg")
        raise OSError("encoder error -2")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(ImageWriteError, match=r"a\.jpg"):
        save_image(tmp_path / "a.jpg", smooth_rgb(), ImageMeta())
    assert listing(tmp_path) == []


def test_missing_and_unwritable_folders(tmp_path):
    with pytest.raises(ImageWriteError, match="does not exist"):
        save_image(tmp_path / "nope" / "a.png", smooth_rgb(4, 4), ImageMeta())
    with pytest.raises(ImageWriteError, match="unsupported file type"):
        save_image(tmp_path / "a.gif", smooth_rgb(4, 4), ImageMeta())
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("permissions do not block this user (root?)")
        with pytest.raises(ImageWriteError, match="permission"):
            save_image(locked / "a.png", smooth_rgb(4, 4), ImageMeta())
        assert listing(locked) == []
    finally:
        locked.chmod(0o700)


def test_permission_errors_are_reported_even_as_root(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(dio, "_create_temp", denied)
    with pytest.raises(ImageWriteError, match="no permission to write"):
        save_image(tmp_path / "a.png", smooth_rgb(4, 4), ImageMeta())
    path = tmp_path / "b.png"
    path.write_bytes(_png_bytes())
    monkeypatch.setattr(dio, "_open_regular", denied)  # where the module opens photos
    for loader in (load_image, load_preview):
        with pytest.raises(ImageReadError, match="b.png: permission denied"):
            loader(path)


def test_16bit_grey_alpha_tiff_is_written_as_rgba(tmp_path):
    g = pattern(4, 5, 16)[:, :, 0]
    meta = ImageMeta(bit_depth=16, mode="LA", alpha=as_float(g[::-1]))
    rgb = np.repeat(as_float(g)[:, :, None], 3, axis=2)
    photo = load_image(save_image(tmp_path / "la.tif", rgb, meta))
    assert photo.meta.mode == "RGBA" and photo.meta.bit_depth == 16
    assert np.array_equal(to_uint16(photo.rgb[:, :, 1]), g)
    assert np.array_equal(to_uint16(photo.meta.alpha), g[::-1])


def test_oversized_maker_note_is_dropped_only_for_jpeg(tmp_path):
    exif = camera_exif()
    exif.get_ifd(0x8769)[0x927C] = b"n" * 70_000  # MakerNote: a JPEG segment holds 64 KB
    meta = ImageMeta(exif=exif.tobytes())
    jpg = load_image(save_image(tmp_path / "a.jpg", smooth_rgb(8, 8), meta))
    check_camera_exif(parse_exif(jpg.meta.exif))
    assert 0x927C not in parse_exif(jpg.meta.exif).get_ifd(0x8769)
    png = load_image(save_image(tmp_path / "a.png", smooth_rgb(8, 8), meta))
    assert len(parse_exif(png.meta.exif).get_ifd(0x8769)[0x927C]) == 70_000


def test_format_size_limits_are_reported_before_writing(tmp_path):
    wide = np.zeros((1, 16_384, 3), np.float32)
    with pytest.raises(ImageWriteError, match="WEBP"):
        save_image(tmp_path / "w.webp", wide, ImageMeta())
    assert listing(tmp_path) == []


# ---------------------------------------------------------------------------- bad input


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(to_uint8(smooth_rgb())).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pattern(40, 40, 8)).save(buf, "PNG")
    return buf.getvalue()


BAD_FILES = {
    "missing.png": None,
    "empty.jpg": b"",
    "truncated.jpg": _jpeg_bytes()[:400],
    "truncated.png": _png_bytes()[:2000],
    "text.png": b"this is a text file, not a picture\n",
    "unsupported.gif": b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
@pytest.mark.parametrize("loader", [load_image, load_preview])
def test_bad_input_gives_one_readable_line(tmp_path, name, loader):
    path = tmp_path / name
    if BAD_FILES[name] is not None:
        path.write_bytes(BAD_FILES[name])
    with pytest.raises(ImageReadError) as info:
        loader(path)
    message = str(info.value)
    assert name in message and "\n" not in message
    # plain words, not the decoder's ("image file is truncated (5 bytes not processed)")
    assert not re.search(r"bytes not processed|image file is|cannot identify|Error", message)


def test_folder_and_ppm_are_refused(tmp_path):
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(ImageReadError, match="folder"):
        load_image(tmp_path / "folder.png")
    Image.new("RGB", (3, 3)).save(tmp_path / "x.ppm")
    with pytest.raises(ImageReadError, match="PPM images are not supported"):
        load_image(tmp_path / "x.ppm")


def test_truncated_16bit_data_is_refused(tmp_path):
    full = tmp_path / "full.png"
    save_image(full, as_float(pattern(30, 30, 16)), ImageMeta(bit_depth=16))
    data = full.read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="cut.png"):
        load_image(cut)


def test_unreadable_file_is_refused(tmp_path):
    path = tmp_path / "secret.png"
    path.write_bytes(_png_bytes())
    path.chmod(0o000)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("permissions do not block this user (root?)")
        with pytest.raises(ImageReadError, match="permission"):
            load_image(path)
    finally:
        path.chmod(0o600)


def test_heic_without_the_extra_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # as if it were not installed
    monkeypatch.setattr(dio, "_HEIF_REGISTERED", None)
    path = tmp_path / "phone.heic"
    path.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
    with pytest.raises(ImageReadError, match=r"pip install deconv-gui\[heic\]"):
        load_image(path)


def test_a_phones_heic_opens_upright_and_keeps_its_exif(tmp_path, monkeypatch):
    """With the ``heic`` extra (which both README commands install): a HEIC photo with
    EXIF orientation 6 opens rotated upright, and its result keeps the camera's EXIF with
    the orientation reset, as read back by exiftool where it is installed."""
    pillow_heif = pytest.importorskip(
        "pillow_heif", reason="pillow-heif (the heic extra) is not installed"
    )
    monkeypatch.setattr(dio, "_HEIF_REGISTERED", None)  # registered by our loader, not here
    arr = np.round(smooth_rgb(48, 64) * 255).astype(np.uint8)  # compresses without loss of shape
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    exif[0x010F] = "Apple"
    heif = pillow_heif.from_bytes(mode="RGB", size=(64, 48), data=arr.tobytes())
    path = tmp_path / "IMG_0001.HEIC"
    heif.save(path, quality=95, exif=exif.tobytes())
    photo = load_image(path)
    assert (photo.width, photo.height) == (48, 64) and photo.meta.format == "HEIF"
    clockwise, anticlockwise = (np.rot90(arr, k).astype(np.float32) / 255 for k in (-1, 1))
    error = np.abs(photo.rgb - clockwise).mean()
    assert error < 0.02 and error < np.abs(photo.rgb - anticlockwise).mean() / 4
    out = tmp_path / "IMG_0001_denoised.jpg"
    save_image(out, photo.rgb, photo.meta)
    with Image.open(out) as im:
        assert im.size == (48, 64)
        assert im.getexif().get(0x010F) == "Apple" and im.getexif().get(0x0112, 1) == 1


# ---------------------------------------------------------------------------- decompression bombs


def test_pixel_limit_is_checked_before_decoding(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(pattern(100, 100, 8)).save(path)
    with pytest.raises(ImageReadError, match="megapixels"):
        load_image(path, max_pixels=5_000)
    assert load_image(path, max_pixels=10_000).rgb.shape == (100, 100, 3)


def test_crafted_png_header_claiming_a_huge_size_is_refused(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
    path = tmp_path / "bomb.png"
    path.write_bytes(data + png_chunk(b"IEND", b""))
    for loader in (load_image, load_preview):
        with pytest.raises(ImageReadError, match="100000x100000"):
            loader(path)


def test_pillow_bomb_warnings_and_errors_do_not_leak(tmp_path, monkeypatch):
    # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; our own limit rules.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    warn_size = tmp_path / "w.png"  # 1600 px: Pillow would warn
    error_size = tmp_path / "e.png"  # 2500 px: Pillow would refuse
    Image.fromarray(pattern(40, 40, 8)).save(warn_size)
    Image.fromarray(pattern(50, 50, 8)).save(error_size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_image(warn_size).rgb.shape == (40, 40, 3)
        assert load_image(error_size).rgb.shape == (50, 50, 3)
        assert load_preview(error_size, max_side=10).shape == (10, 10, 3)
        with pytest.raises(ImageReadError, match="megapixels"):
            load_image(error_size, max_pixels=2_000)
    assert Image.MAX_IMAGE_PIXELS == 1_000  # restored after the temporary lift


# ---------------------------------------------------------------------------- bundled sample


def test_bundled_sample_photo_is_a_small_noisy_jpeg_with_metadata():
    from deconv_gui.paths import sample_photo

    path = sample_photo()
    assert path.is_file() and path.stat().st_size < 400 * 1024
    photo = load_image(path)
    assert photo.meta.format == "JPEG" and photo.rgb.shape == (400, 600, 3)
    exif = parse_exif(photo.meta.exif)
    assert exif.get(0x010F) == "Deconv GUI" and exif.get(0x0110) == "sample"
    assert "coffee" in exif.get(0x010E, "").lower()
    assert exif.get_ifd(0x8769).get(0x9003)
    assert photo.meta.icc_profile and photo.meta.icc_profile[16:20] == b"RGB "
    # noisy: neighbouring pixels differ far more than in a clean photo of this size
    assert float(np.abs(np.diff(photo.rgb, axis=1)).mean()) > 0.02


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (_png_bytes()[:30], "damaged or incomplete"),  # cut inside the header
        (_jpeg_bytes()[:3], "damaged or incomplete"),
        (b"II*\x00\x08", "damaged or incomplete"),
        (b"this is a text file, not a picture\n", "not an image file"),
    ],
)
def test_a_file_cut_in_its_header_is_called_damaged_not_foreign(tmp_path, data, words):
    path = tmp_path / "cut.png"
    path.write_bytes(data)
    with pytest.raises(ImageReadError, match=words):
        load_image(path)


def test_a_long_name_in_four_byte_characters_still_saves(tmp_path):
    """A 255-byte name in emoji: its temporary file's name is cut by bytes, not by
    characters (64 of them are 256 bytes), so the save does not fail on the temporary."""
    name = "\U0001f4f7" * 61 + ".png"  # 248 bytes
    assert len(os.fsencode(name)) <= 255
    out = tmp_path / name
    save_image(out, smooth_rgb(6, 8), ImageMeta())
    assert load_image(out).width == 8 and listing(tmp_path) == [name]
    assert dio.temporary_of("." + dio.temporary_stem(name) + ".0123abcd.tmp") == (
        dio.temporary_stem(name)
    )
    assert len(os.fsencode(dio.temporary_stem(name))) <= 64


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".tif"])
def test_exif_text_beyond_ascii_and_the_byte_order_are_kept(tmp_path, ext, endian):
    """A photographer's name and copyright in UTF-8 come out as they went in (Pillow would
    write '?' for each byte beyond ASCII), and the EXIF keeps its byte order, which a maker
    note (stored in that order) needs to stay readable."""
    exif = Image.Exif()
    exif.endian = endian
    exif[0x013B] = "Jané Doe".encode()  # Artist
    exif[0x8298] = "© Jané Doe".encode()  # Copyright
    src = tmp_path / "in.jpg"
    Image.fromarray(np.full((12, 16, 3), 120, np.uint8)).save(src, exif=exif.tobytes())
    photo = load_image(src)
    out = tmp_path / f"out{ext}"
    save_image(out, photo.rgb, photo.meta)
    with Image.open(out) as im:
        got = im.getexif()
        assert got.endian == endian
        assert got[0x013B].encode("latin-1") == "Jané Doe".encode()
        assert got[0x8298].encode("latin-1") == "© Jané Doe".encode()


def test_an_animation_says_only_its_first_frame_is_read(tmp_path, caplog):
    frames = [Image.new("RGB", (16, 12), (40 * i, 80, 120)) for i in range(3)]
    path = tmp_path / "anim.webp"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with caplog.at_level("WARNING", logger="deconv_gui.core.io"):
        photo = load_image(path)
    assert photo.meta.extra["frames"] == 3
    assert "anim.webp has 3 frames (an animation or pages): only the first" in caplog.text


def test_a_bmp_says_it_drops_the_colour_profile(tmp_path, caplog):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    meta = ImageMeta(icc_profile=profile)
    with caplog.at_level("WARNING", logger="deconv_gui.core.io"):
        save_image(tmp_path / "a.bmp", smooth_rgb(6, 8), meta)
        save_image(tmp_path / "a.png", smooth_rgb(6, 8), meta)
    assert caplog.text.count("holds no colour profile") == 1 and "a.bmp" in caplog.text


def test_a_big_endian_16_bit_tiff_keeps_its_pixels(tmp_path):
    """With big-endian EXIF the TIFF is written big-endian: its 16-bit samples must be too
    (libtiff, as OpenCV reads it, is the independent reader)."""
    exif = Image.Exif()
    exif.endian = ">"
    exif[0x010F] = "NIKON CORPORATION"
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), np.full((8, 8, 3), 40000, np.uint16))
    photo = load_image(src)
    photo.meta.exif = exif.tobytes()
    img = np.random.default_rng(0).random((33, 41, 3)).astype(np.float32)
    out = tmp_path / "out.tif"
    save_image(out, img, photo.meta)
    assert out.read_bytes()[:4] == b"MM\x00*"
    got = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert got.dtype == np.uint16
    np.testing.assert_allclose(got[..., ::-1] / 65535.0, img, atol=1.0 / 65535)
    np.testing.assert_allclose(load_image(out).rgb, img, atol=1.0 / 65535)


@pytest.mark.parametrize(
    "kind", ["lossless", "lossless_alpha", "lossless_animated", "lossy", "lossy_alpha"]
)
def test_a_lossless_webp_stays_lossless_in_webp(tmp_path, kind):
    """A WebP original stored lossless (a scan, a graphic, an export meant to be kept) is
    written back lossless, whatever the quality setting; a lossy one at that quality."""
    rng = np.random.default_rng(3)
    arr = rng.integers(0, 256, (24, 32, 4 if "alpha" in kind else 3), dtype=np.uint8)
    src = tmp_path / "in.webp"
    params = {"lossless": kind.startswith("lossless"), "quality": 80}
    if "animated" in kind:
        frames = [Image.fromarray(arr), Image.fromarray(arr[::-1].copy())]
        frames[0].save(src, save_all=True, append_images=frames[1:], **params)
    else:
        Image.fromarray(arr).save(src, **params)
    photo = load_image(src)
    lossless = kind.startswith("lossless")
    assert photo.meta.extra.get("lossless", False) is lossless
    out = save_image(tmp_path / "out.webp", photo.rgb, photo.meta, quality=80)
    data = out.read_bytes()
    assert (b"VP8L" in data) is lossless and (b"VP8 " in data) is not lossless
    if lossless:  # (the source's encoder may have cleared colour under full transparency)
        with Image.open(out) as im, Image.open(src) as original:
            np.testing.assert_array_equal(np.asarray(im), np.asarray(original))


@pytest.mark.parametrize("ext", [".jpg", ".bmp", ".png"])
def test_transparency_a_format_cannot_hold_is_named(tmp_path, ext, caplog):
    rgba = np.full((8, 10, 4), 200, np.uint8)
    rgba[:4, :, 3] = 0  # the top half transparent
    src = tmp_path / "logo.png"
    Image.fromarray(rgba).save(src)
    photo = load_image(src)
    with caplog.at_level("WARNING", logger="deconv_gui.core.io"):
        save_image(tmp_path / f"out{ext}", photo.rgb, photo.meta)
    said = "holds no transparency" in caplog.text
    assert said is (ext != ".png")
    opaque = photo.meta.copy(alpha=np.ones((8, 10), np.float32))
    caplog.clear()
    with caplog.at_level("WARNING", logger="deconv_gui.core.io"):
        save_image(tmp_path / f"opaque{ext}", photo.rgb, opaque)  # nothing to lose
    assert "transparency" not in caplog.text


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".tif"])
def test_exif_sub_ifd_text_beyond_ascii_stays_text(tmp_path, ext):
    """Lens model and owner name in UTF-8 (as exiv2, exiftool and cameras set in another
    language write them) come out as the same text of type ASCII, not as a list of numbers
    (Pillow knows few tag types of the Exif sub-IFD and would write bytes as BYTE)."""
    pyexiv2 = pytest.importorskip("pyexiv2")
    buf = io.BytesIO()
    Image.fromarray(np.full((12, 16, 3), 90, np.uint8)).save(buf, format="JPEG")
    img = pyexiv2.ImageData(buf.getvalue())
    try:
        img.modify_exif(
            {"Exif.Photo.LensModel": "Objectif Zéro 35", "Exif.Photo.CameraOwnerName": "Jürgen"}
        )
        src = tmp_path / "in.jpg"
        src.write_bytes(img.get_bytes())
    finally:
        img.close()
    photo = load_image(src)
    out = save_image(tmp_path / f"out{ext}", photo.rgb, photo.meta)
    back = pyexiv2.ImageData(out.read_bytes())
    try:
        exif = back.read_exif()
    finally:
        back.close()
    assert exif["Exif.Photo.LensModel"] == "Objectif Zéro 35"
    assert exif["Exif.Photo.CameraOwnerName"] == "Jürgen"
    with Image.open(out) as im:  # stored as text (Pillow: Latin-1 of the UTF-8 bytes)
        sub = im.getexif().get_ifd(0x8769)
        assert sub[0xA434].encode("latin-1").decode() == "Objectif Zéro 35"
