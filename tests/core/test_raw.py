"""Camera RAW: reading (rawpy/LibRaw + exiv2), the one development, previews, packing, errors.

Real files come from ``../shared/data/raw`` (see its README); each test that needs one skips
when it is missing. The 12 MP GoPro files are opened and rendered once per session.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rawpy
import tifffile
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageCms
from rawfiles import BAYER, CRW, RAW_FILES, SMALL

from deconv_gui.core import io as dio
from deconv_gui.core.icc import icc_profile
from deconv_gui.core.naming import output_path_for
from deconv_gui.core.raw import (
    RAW_EXTENSIONS,
    RawData,
    is_raw_path,
    load_raw_preview,
    open_raw,
    pack_bayer,
    render_raw,
    unpack_bayer,
)
from deconv_gui.errors import ImageReadError

# --------------------------------------------------------------------------------------------
# extensions


def test_raw_extensions_are_readable_and_named_by_is_raw_path():
    assert {
        ".dng",
        ".cr2",
        ".cr3",
        ".crw",
        ".nef",
        ".arw",
        ".raf",
        ".orf",
        ".rw2",
    } <= RAW_EXTENSIONS
    assert all(e == e.lower() and e.startswith(".") for e in RAW_EXTENSIONS)
    assert RAW_EXTENSIONS <= dio.READ_EXTENSIONS
    assert not RAW_EXTENSIONS & dio.WRITE_EXTENSIONS
    assert is_raw_path("a/IMG_1.NEF") and is_raw_path(Path("x.Dng")) and dio.is_image_path("b.cr3")
    assert not is_raw_path("x.jpg") and not is_raw_path("nef")
    # a RAW's render keeps its 16 bits by default
    assert output_path_for("/p/IMG_1.CR2") == Path("/p/IMG_1_restored.tif")


# --------------------------------------------------------------------------------------------
# packing


def _canonical_mosaic(cfa: str, h: int, w: int) -> np.ndarray:
    """R=1, G on red's rows=2, G on blue's rows=3, B=4, laid out as ``cfa``."""
    r_row = cfa.index("R") // 2
    tile = np.empty((2, 2), np.uint16)
    for i, letter in enumerate(cfa):
        y, x = divmod(i, 2)
        tile[y, x] = {"R": 1, "B": 4}.get(letter, 2 if y == r_row else 3)
    return np.tile(tile, (h // 2 + 1, w // 2 + 1))[:h, :w]


@pytest.mark.parametrize("cfa", BAYER)
@pytest.mark.parametrize("shape", [(4, 6), (5, 7), (6, 3), (2, 2), (3, 3)])
def test_pack_bayer_gives_r_g1_g2_b_planes_whatever_the_pattern(cfa, shape):
    packed = pack_bayer(_canonical_mosaic(cfa, *shape), cfa)
    for plane, value in enumerate((1, 2, 3, 4)):
        assert (packed[..., plane] == value).all(), (cfa, shape, plane)


@given(
    cfa=st.sampled_from(BAYER),
    h=st.integers(1, 13),
    w=st.integers(1, 13),
    dtype=st.sampled_from([np.uint16, np.float32]),
    seed=st.integers(0, 2**16),
)
def test_unpack_inverts_pack_exactly(cfa, h, w, dtype, seed):
    x = np.random.default_rng(seed).integers(0, 65535, (h, w)).astype(dtype)
    packed = pack_bayer(x, cfa)
    r, c = divmod(cfa.index("R"), 2)
    assert packed.shape == ((h + r + 1) // 2, (w + c + 1) // 2, 4)
    assert packed.dtype == x.dtype
    back = unpack_bayer(packed, cfa, (h, w))
    assert back.dtype == x.dtype and np.array_equal(back, x)


@pytest.mark.parametrize("bad", ["RGBG", "RRGB", "GRGB", "RGB", "XTRANS", "RBGG"])
def test_pack_bayer_refuses_what_is_not_bayer(bad):
    with pytest.raises(ValueError, match="Bayer pattern"):
        pack_bayer(np.zeros((4, 4), np.uint16), bad)


def test_unpack_checks_the_shape():
    with pytest.raises(ValueError, match="does not fit"):
        unpack_bayer(np.zeros((2, 2, 4)), "RGGB", (5, 5))


# --------------------------------------------------------------------------------------------
# opening, rendering and previews of the real files


@pytest.mark.parametrize("name", list(RAW_FILES))
def test_every_real_file_opens_with_its_levels_and_pattern(raw_files, name):
    raw = raw_files.record(name)
    with rawpy.imread(str(raw_files.path(name))) as rp:
        visible = rp.raw_image_visible
        assert raw.mosaic.dtype == np.uint16 and np.array_equal(raw.mosaic, visible)
        assert raw.mosaic.shape == (raw.sizes.height, raw.sizes.width)
        # the pattern says the colour of every photosite
        n = raw.pattern.shape[0]
        tiled = np.tile(raw.pattern, (raw.sizes.height // n + 1, raw.sizes.width // n + 1))
        assert np.array_equal(tiled[: visible.shape[0], : visible.shape[1]], rp.raw_colors_visible)
    assert raw.is_bayer and raw.cfa in BAYER
    assert all(0 <= b < raw.white_level for b in raw.black_levels)
    assert all(v > 0 for v in raw.wb) and raw.wb[3] == raw.wb[1]
    assert raw.wb_source in ("camera", "grey-world")
    norm = raw.normalized()
    assert norm.dtype == np.float32 and norm.min() >= 0.0 and norm.max() <= 1.0
    # black photosites normalise to 0, white ones to 1, colour by colour
    h, w = raw.mosaic.shape
    black = np.tile(raw.black_map(), (h // 2 + 1, w // 2 + 1))[:h, :w]
    unclipped = raw.normalized(clip=False)
    assert np.array_equal(unclipped < 0, raw.mosaic < black)
    assert np.array_equal(unclipped > 1, raw.mosaic > raw.white_level)


def test_normalized_and_denormalized_are_inverse(raw_files):
    raw = raw_files.record(SMALL)
    norm = raw.normalized(clip=False)
    assert np.array_equal(raw.denormalized(norm), raw.mosaic)
    with pytest.raises(ValueError, match="flat colour-filter mosaic"):
        raw.normalized(np.zeros((3, 4, 3), np.uint16))


@pytest.mark.parametrize("name", list(RAW_FILES))
def test_every_real_file_renders_with_the_photo_contract(raw_files, name):
    photo = raw_files.photo(name)
    raw = raw_files.record(name)
    assert photo.rgb.dtype == np.float32 and photo.rgb.ndim == 3 and photo.rgb.shape[2] == 3
    assert photo.rgb.shape[:2] == (raw.sizes.output_height, raw.sizes.output_width)
    assert photo.rgb.min() >= 0.0 and photo.rgb.max() <= 1.0 and photo.rgb.std() > 0.01
    meta = photo.meta
    assert meta.bit_depth == 16 and meta.mode == "RGB" and meta.path == raw_files.path(name)
    assert meta.format == Path(name).suffix[1:].upper()
    assert meta.icc_profile == icc_profile("srgb") and meta.extra["colour_space"] == "srgb"
    assert meta.orientation == raw.orientation
    exif = Image.Exif()
    exif.load(meta.exif)
    assert exif.get(0x0112) == 1  # the render is upright
    assert exif.get(0x010F) == raw.metadata.make and exif.get(0x0110) == raw.metadata.model
    assert 0x927C not in exif.get_ifd(0x8769)  # no maker note in a render's EXIF


def test_flipped_files_render_turned(raw_files):
    """The GoPro files say 'mirror horizontal' (LibRaw flip 1): the render carries that as
    its EXIF orientation (applied; test_dng checks LibRaw's flip against every orientation)."""
    name = "GoPro_Fusion_GPFR7066_from_GPR.dng"
    raw = raw_files.record(name)
    assert raw.sizes.flip == 1 and raw.orientation == 2 == raw.metadata.orientation
    assert raw_files.photo(name).meta.orientation == 2


def test_a_modified_mosaic_is_developed_like_the_original(raw_files):
    raw = raw_files.record(SMALL)
    same = render_raw(raw, raw.mosaic.copy())
    assert np.array_equal(same.rgb, raw_files.photo(SMALL).rgb)
    darker = render_raw(raw, (raw.mosaic // 2).astype(np.uint16))
    assert darker.rgb.mean() < same.rgb.mean() - 0.05
    with pytest.raises(TypeError):
        render_raw(raw, raw.normalized())
    with pytest.raises(ValueError, match="differs from"):
        render_raw(raw, raw.mosaic[:-2])


def test_grey_world_balance_is_fixed_at_open(raw_files):
    """A file without as-shot multipliers (Kodak DC120) develops a modified mosaic with the
    multipliers estimated from the original, not re-estimated from the new data."""
    raw = raw_files.record("Kodak_DC120_P003917.KDC")
    assert raw.wb_source == "grey-world"
    h, w = raw.mosaic.shape
    red = np.tile(raw.pattern == 0, (h // 2 + 1, w // 2 + 1))[:h, :w]
    tinted = np.where(red, raw.mosaic // 2, raw.mosaic).astype(np.uint16)  # halve red
    out = render_raw(raw, tinted).rgb
    base = raw_files.photo("Kodak_DC120_P003917.KDC").rgb
    assert out[..., 0].mean() < base[..., 0].mean() - 0.02  # the tint shows: WB not redone


def test_an_estimated_white_balance_is_said_and_a_cameras_is_not(raw_files):
    """The photographer hears that the colours rest on a guess (was silent)."""
    from deconv_gui.core.raw import open_raw
    from deconv_gui.logs import WarningCollector

    with WarningCollector() as said:
        open_raw(raw_files.path("Kodak_DC120_P003917.KDC"))
        open_raw(raw_files.path(CRW))  # the camera's own multipliers: nothing to say
    assert len(said) == 1 and said[0].startswith(
        "Kodak_DC120_P003917.KDC records no white balance: it is estimated from the picture"
    )


@pytest.mark.parametrize("colour_space", ["adobe-rgb", "prophoto-rgb"])
def test_wide_gamut_renders_match_their_icc_profile(raw_files, colour_space):
    """An Adobe RGB / ProPhoto render shown through its embedded profile looks like the sRGB
    render: LibRaw's conversion and tone curve agree with the profiles of core.icc."""
    raw = raw_files.record(CRW)
    wide = render_raw(raw, colour_space=colour_space)
    assert wide.meta.icc_profile == icc_profile(colour_space)
    srgb8 = np.rint(raw_files.photo(CRW).rgb * 255).astype(np.int64)
    src = ImageCms.ImageCmsProfile(io.BytesIO(wide.meta.icc_profile))
    dst = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile("srgb")))
    im = Image.fromarray(np.rint(wide.rgb * 255).astype(np.uint8))
    shown = ImageCms.profileToProfile(
        im, src, dst, renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC
    )
    diff = np.abs(np.asarray(shown).astype(np.int64) - srgb8)
    assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 3
    assert np.abs(wide.rgb - raw_files.photo(CRW).rgb).mean() > 0.01  # really another space


def test_unknown_colour_space_is_refused(raw_files):
    with pytest.raises(ValueError, match="colour space"):
        render_raw(raw_files.record(SMALL), colour_space="rec2020")


@pytest.mark.parametrize("name", list(RAW_FILES))
def test_every_real_file_previews(raw_files, name):
    preview = load_raw_preview(raw_files.path(name), max_side=400)
    photo = raw_files.photo(name)
    assert preview.dtype == np.float32 and preview.shape[2] == 3 and max(preview.shape[:2]) <= 400
    assert preview.min() >= 0.0 and preview.max() <= 1.0
    h, w = photo.rgb.shape[:2]
    ph, pw = preview.shape[:2]
    assert abs(pw / ph - w / h) < 0.05 * (w / h)  # same framing, upright
    assert dio.load_preview(raw_files.path(name), max_side=400).shape == preview.shape


def test_preview_prefers_the_embedded_jpeg(raw_files):
    """The CRW's embedded JPEG is big enough for a 400 px preview: that is what comes back."""
    path = raw_files.path(CRW)
    with rawpy.imread(str(path)) as rp:
        thumb = rp.extract_thumb()
    assert thumb.format == rawpy.ThumbFormat.JPEG
    with Image.open(io.BytesIO(thumb.data)) as im:
        expected = np.asarray(im.convert("RGB").resize((400, 300), Image.Resampling.BOX))
    got = np.rint(load_raw_preview(path, max_side=400) * 255)
    assert got.shape == expected.shape
    assert np.abs(got - expected).mean() < 3


def test_io_load_image_renders_raw_files(raw_files):
    photo = dio.load_image(raw_files.path(SMALL))
    assert np.array_equal(photo.rgb, raw_files.photo(SMALL).rgb)
    assert isinstance(photo.meta.extra["raw"], RawData)


# --------------------------------------------------------------------------------------------
# metadata


def _exiftool(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["exiftool", "-j", "-n", "-Make", "-Model", "-ISO", "-ExposureTime", "-FNumber",
         "-FocalLength", "-DateTimeOriginal", "-GPSLatitude", "-GPSLongitude", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout)[0])


needs_exiftool = pytest.mark.skipif(
    shutil.which("exiftool") is None, reason="exiftool not installed (libimage-exiftool-perl)"
)


@needs_exiftool
@pytest.mark.parametrize("name", list(RAW_FILES))
def test_metadata_agrees_with_exiftool(raw_files, name):
    meta = raw_files.record(name).metadata
    ref = _exiftool(raw_files.path(name))
    assert meta.make == str(ref["Make"]).strip() and meta.model == str(ref["Model"]).strip()
    # each must be found whenever exiftool finds it (from the EXIF, else from LibRaw: a CRW's
    # focal length), within a sixth of a stop (exiftool may derive them from a maker note's
    # rounded APEX values, exiv2 from the nominal ones)
    for field, key in [
        ("iso", "ISO"),
        ("exposure_time", "ExposureTime"),
        ("f_number", "FNumber"),
        ("focal_length", "FocalLength"),
    ]:
        expected = ref.get(key)
        ours = getattr(meta, field)
        if isinstance(expected, (int, float)) and expected > 0:
            assert ours and abs(np.log2(ours / expected)) <= 1 / 6, (field, ours, expected)
    if ref.get("DateTimeOriginal"):
        assert meta.datetime == ref["DateTimeOriginal"]
    if "GPSLatitude" in ref:
        assert meta.gps is not None
        assert meta.gps.latitude == pytest.approx(ref["GPSLatitude"], abs=1e-6)
        assert meta.gps.longitude == pytest.approx(ref["GPSLongitude"], abs=1e-6)


def test_gopro_metadata_has_gps_and_exposure(raw_files):
    meta = raw_files.record("GoPro_HERO7_Black_GOPR9231_from_GPR.dng").metadata
    assert meta.gps is not None and meta.iso and meta.exposure_time and meta.datetime
    assert meta.xmp_packet and "x:xmpmeta" in meta.xmp_packet
    exif = Image.Exif()
    exif.load(raw_files.photo("GoPro_HERO7_Black_GOPR9231_from_GPR.dng").meta.exif)
    gps = exif.get_ifd(0x8825)
    assert gps.get(1) == "N" and gps.get(3) == "W"


def test_the_crw_maker_note_is_kept_for_the_dng(raw_files):
    meta = raw_files.record(CRW).metadata
    assert meta.makernote is not None and len(meta.makernote.data) > 100
    blob = meta.makernote.dng_private_data()
    assert blob.startswith(b"Adobe\0MakN")
    assert struct.unpack(">I", blob[10:14])[0] == len(blob) - 14


# --------------------------------------------------------------------------------------------
# bad input: one line each


def _one_line(exc: pytest.ExceptionInfo[ImageReadError], name: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"Cannot read {name}:"), msg
    return msg


def _all_readers_refuse(path: Path, match: str) -> None:
    for read in (open_raw, dio.load_image, dio.load_preview, load_raw_preview):
        with pytest.raises(ImageReadError) as exc:
            read(path)
        assert match in _one_line(exc, path.name).lower(), (read.__name__, str(exc.value))


def test_truncated_raw_files(raw_files, tmp_path, capfd):
    """Refused in one line each, and LibRaw's own complaint ("cut_x.dng: Unexpected end of
    file", printed by its C code) does not reach stderr beside it."""
    for name, keep in [(CRW, 0.5), ("Canon_EOS_550D_MagicLantern_colorchart.dng", 0.5)]:
        data = raw_files.path(name).read_bytes()
        cut = tmp_path / ("cut_" + name)
        cut.write_bytes(data[: int(len(data) * keep)])
        capfd.readouterr()
        _all_readers_refuse(cut, "truncated or damaged")
        assert cut.name not in capfd.readouterr().err
    print("stderr works again", file=sys.stderr)
    assert "stderr works again" in capfd.readouterr().err


def test_raw_data_zeroed_in_the_file_is_refused(raw_files, tmp_path):
    """Uncompressed sensor data with a run of zeroed bytes (a failing card, a broken copy)
    decodes without a word from LibRaw: 117 rows at 0, far below the black level, were
    taken for a clean photo ("very little noise") and written out."""
    name = "Canon_EOS_550D_MagicLantern_colorchart.dng"
    data = bytearray(raw_files.path(name).read_bytes())
    n = len(data)
    data[n // 2 : n // 2 + n // 10] = bytes(n // 10)
    bad = tmp_path / name
    bad.write_bytes(bytes(data))
    for read in (open_raw, dio.load_image):  # (a quick preview shows the camera's JPEG)
        with pytest.raises(ImageReadError) as e:
            read(bad)
        said = _one_line(e, name)
        assert "part of its RAW data is blank" in said
        assert said.endswith("which this camera cannot record): the file is damaged")
    # a sensor whose black level is 0 can record 0: such files are not judged
    assert (
        min(open_raw(raw_files.path("GoPro_HERO7_Black_GOPR9231_from_GPR.dng")).black_levels) < 16
    )


def test_empty_file(tmp_path):
    p = tmp_path / "empty.NEF"
    p.write_bytes(b"")
    _all_readers_refuse(p, "empty")


def test_jpeg_renamed_nef_says_what_it_is(tmp_path):
    p = tmp_path / "photo.NEF"
    Image.new("RGB", (32, 24), (200, 30, 30)).save(p, format="JPEG")
    _all_readers_refuse(p, "jpeg image, not a camera raw file")


def test_text_renamed_cr2(tmp_path):
    p = tmp_path / "notes.CR2"
    p.write_text("shopping list: eggs, milk\n")
    _all_readers_refuse(p, "text file")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageReadError) as exc:
        open_raw(tmp_path / "nope.ARW")
    assert "does not exist" in _one_line(exc, "nope.ARW")
    folder = tmp_path / "dir.DNG"
    folder.mkdir()
    with pytest.raises(ImageReadError) as exc:
        dio.load_image(folder)
    assert "folder" in _one_line(exc, "dir.DNG")


@pytest.mark.skipif(
    not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
    reason="root reads files regardless of permissions",
)
def test_unreadable_file(raw_files, tmp_path):
    p = tmp_path / "locked.KDC"
    p.write_bytes(raw_files.path(SMALL).read_bytes())
    p.chmod(0)
    try:
        _all_readers_refuse(p, "permission denied")
    finally:
        p.chmod(0o644)


def test_size_limit_is_checked_before_decoding(raw_files, tmp_path):
    with pytest.raises(ImageReadError) as exc:
        dio.load_image(raw_files.path(SMALL), max_pixels=100_000)
    assert "larger than the limit" in _one_line(exc, SMALL)
    # a DNG whose header declares 60000 x 50000 photosites (3 GP) but holds a few bytes
    small = tmp_path / "small.dng"
    tifffile.imwrite(
        small,
        np.zeros((8, 8), np.uint16),
        photometric=32803,
        metadata=None,
        extratags=[
            (50706, 1, 4, (1, 4, 0, 0), True),
            (33421, 3, 2, (2, 2), True),
            (33422, 1, 4, (0, 1, 1, 2), True),
        ],
    )
    data = bytearray(small.read_bytes())
    with tifffile.TiffFile(small) as tf:
        for code, value in ((256, 60000), (257, 50000)):
            tag = tf.pages[0].tags[code]
            fmt = "<H" if tag.dtype == 3 else "<I"
            struct.pack_into(fmt, data, tag.valueoffset, value)
    huge = tmp_path / "huge.dng"
    huge.write_bytes(bytes(data))
    with pytest.raises(ImageReadError) as exc:
        open_raw(huge)
    assert "larger than the limit" in _one_line(exc, "huge.dng")


def test_changed_source_is_noticed(raw_files, tmp_path):
    p = tmp_path / SMALL
    p.write_bytes(raw_files.path(SMALL).read_bytes())
    raw = open_raw(p)
    p.write_bytes(raw_files.path(CRW).read_bytes())
    with pytest.raises(ImageReadError) as exc:
        render_raw(raw)
    assert "changed" in _one_line(exc, SMALL)


def test_record_is_read_only(raw_files):
    raw = raw_files.record(SMALL)
    with pytest.raises(ValueError, match="read-only"):
        raw.mosaic[0, 0] = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        raw.white_level = 1  # type: ignore[misc]


def test_a_dng_renamed_tif_says_what_it_is(raw_files, tmp_path):
    name = "Canon_EOS_550D_MagicLantern_colorchart.dng"
    if not raw_files.path(name).is_file():
        pytest.skip(f"{name} is not in ../shared/data/raw")
    p = tmp_path / "photo.tif"
    p.write_bytes(raw_files.path(name).read_bytes())
    with pytest.raises(ImageReadError, match="it is camera RAW data \\(a DNG\\); rename it .dng"):
        dio.load_image(p)


def test_a_real_raw_file_renamed_jpg_is_named_as_raw(raw_files, tmp_path):
    """A Kodak KDC renamed .jpg opened as the 96x64 preview TIFF inside it; a Canon CRW
    renamed .jpg was "not an image file". Both now say what they are."""
    for name in (CRW, SMALL):
        renamed = tmp_path / (Path(name).stem + ".jpg")
        renamed.write_bytes(raw_files.path(name).read_bytes())
        with pytest.raises(ImageReadError, match="camera RAW file named .jpg"):
            dio.load_image(renamed)
