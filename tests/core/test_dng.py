"""DNG output: LibRaw develops the written file exactly as the source; metadata survives;
16-bit TIFF renders keep ICC and EXIF; synthetic DNGs cover every pattern and orientation."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import rawpy
import tifffile
from PIL import Image
from rawfiles import BAYER, CRW, RAW_FILES, SMALL, levels16

from deconv_gui.core import io as dio
from deconv_gui.core.dng import _fractions, _libraw_rgb_cam, dng_colour_matrix, write_dng
from deconv_gui.core.raw import RawData, RawSizes, open_raw, pack_bayer, render_raw, unpack_bayer
from deconv_gui.core.rawmeta import RawMetadata
from deconv_gui.errors import ImageReadError, ImageWriteError

XTRANS = ("GGRGGB", "GGBGGR", "BRGRBG", "GGBGGR", "GGRGGB", "RBGBRG")


def _exiftool(path: Path) -> dict:
    out = subprocess.run(
        ["exiftool", "-j", "-n", "-Make", "-Model", "-ISO", "-ExposureTime",
         "-DateTimeOriginal", "-GPSLatitude", "-GPSLongitude", "-Orientation", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout)[0])


# --------------------------------------------------------------------------------------------
# real files


@pytest.mark.parametrize("name", list(RAW_FILES))
def test_dng_of_every_real_file_develops_like_the_source(raw_files, name):
    src = raw_files.record(name)
    dng = raw_files.dng_photo(name).meta.extra["raw"]
    assert np.array_equal(dng.mosaic, src.mosaic) and dng.cfa == src.cfa
    assert dng.black_levels == src.black_levels and dng.white_level == src.white_level
    assert dng.orientation == src.orientation and dng.wb_source == "camera"
    assert dng.sizes.pixel_aspect == pytest.approx(src.sizes.pixel_aspect, rel=1e-7)
    # the same float32 multipliers after LibRaw's normalisation by the smallest
    wb = np.float32(src.wb) / np.float32(min(src.wb))
    assert np.array_equal(np.float32(dng.wb) / np.float32(min(dng.wb)), wb)
    a = levels16(raw_files.photo(name).rgb)
    b = levels16(raw_files.dng_photo(name).rgb)
    assert a.shape == b.shape
    diff = np.abs(a - b)
    if RAW_FILES[name]:
        assert diff.max() <= 1 and diff.mean() < 1e-3, (diff.max(), diff.mean())
    else:
        # LibRaw reads DefaultScale as float32 (the source's aspect is a double) and stretches
        # with a running sum: where that sum lands exactly on a source column (every 244th
        # column for the DC120's 244/159), the column may take its neighbour. Nothing else moves.
        columns = np.nonzero(diff.max(axis=(0, 2)))[0]
        assert len(columns) <= 0.005 * diff.shape[1], columns


def test_a_denoised_mosaic_in_a_dng_develops_like_the_same_mosaic_from_the_source(raw_files):
    src = raw_files.record(CRW)
    planes = pack_bayer(src.normalized(clip=False), src.cfa)
    smooth = cv2.GaussianBlur(planes, (5, 5), 1.0)  # stands in for the denoiser
    mosaic = src.denormalized(unpack_bayer(smooth, src.cfa, src.mosaic.shape))
    assert not np.array_equal(mosaic, src.mosaic)
    path = write_dng(raw_files.out / "smoothed.dng", src, mosaic)
    back = open_raw(path)
    assert np.array_equal(back.mosaic, mosaic)
    expected = levels16(render_raw(src, mosaic).rgb)
    got = levels16(render_raw(back).rgb)
    assert np.abs(expected - got).max() <= 1


def test_the_colour_matrix_is_the_one_libraw_used(raw_files):
    crw = raw_files.record(CRW)  # LibRaw's table (Adobe's matrix): written as is
    assert np.array_equal(dng_colour_matrix(crw), crw.rgb_xyz_matrix[:3].astype(np.float64))
    kodak = raw_files.record(SMALL)  # LibRaw's matrix from Kodak's tags: inverted back
    assert not kodak.rgb_xyz_matrix.any() and kodak.rgb_cam is not None
    for name in (SMALL, "Kodak_DC120_P003917.KDC"):
        back = raw_files.dng_photo(name).meta.extra["raw"]
        assert np.array_equal(back.rgb_cam, raw_files.record(name).rgb_cam), name


needs_exiftool = pytest.mark.skipif(
    shutil.which("exiftool") is None, reason="exiftool not installed (libimage-exiftool-perl)"
)


@needs_exiftool
@pytest.mark.parametrize("name", list(RAW_FILES))
def test_exiftool_finds_the_metadata_in_the_dng_and_the_tiff(raw_files, name):
    source = _exiftool(raw_files.path(name))
    dng = _exiftool(raw_files.dng(name))
    tiff = _exiftool(raw_files.tiff(name))
    for out in (dng, tiff):
        for key in ("Make", "Model", "ISO", "DateTimeOriginal", "GPSLatitude", "GPSLongitude"):
            if source.get(key) not in (None, "", 0):
                assert str(out.get(key)).strip() == str(source[key]).strip(), (key, out)
        if source.get("ExposureTime"):
            assert abs(np.log2(out["ExposureTime"] / source["ExposureTime"])) <= 1 / 6
    assert dng["Orientation"] == source.get("Orientation", 1)
    assert tiff["Orientation"] == 1  # pixels upright


def _tags(path: Path) -> dict[int, object]:
    with tifffile.TiffFile(path) as tf:
        return {t.code: t.value for t in tf.pages[0].tags.values()}


@pytest.mark.parametrize(
    ("name", "carried"),
    [
        # lens shading as gain maps in OpcodeList2; the serial number and original name
        ("GoPro_HERO7_Black_GOPR9231_from_GPR.dng", {51009, 50735, 50827, 50719, 50720}),
        # the fisheye's distortion correction (WarpRectilinear) in OpcodeList3, and GoPro's
        # private calibration block
        ("GoPro_Fusion_GPFR7066_from_GPR.dng", {51022, 50740, 50735, 50709}),
    ],
)
def test_a_dngs_opcodes_crop_and_identity_are_carried(raw_files, name, carried):
    """Developers that apply opcodes (Adobe, darktable, RawTherapee) develop the DNG of the
    denoised mosaic with the source's lens corrections and crop; its noise profile is left
    out (the data is denoised) and so are the digests of the source's data."""
    if not (raw_files.folder / name).is_file():
        pytest.skip(f"{name} is not in ../shared/data/raw")
    source, dng = _tags(raw_files.path(name)), _tags(raw_files.dng(name))
    for code in carried:
        assert code in source and dng.get(code) == source[code], code
    for code in (51041, 51111, 50781):  # NoiseProfile, NewRawImageDigest, RawDataUniqueID
        assert code not in dng, code


@needs_exiftool
def test_exiftool_validates_the_dngs(raw_files):
    names = [n for n in RAW_FILES if (raw_files.folder / n).is_file()]
    paths = [str(raw_files.dng(n)) for n in names if "550D" not in n]  # its EXIF is junk
    out = subprocess.run(
        ["exiftool", "-validate", "-warning", "-error", "-a", "-j", *paths],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    for entry in json.loads(out.stdout):
        assert entry["Validate"] == "OK", entry


def test_tiff_of_a_render_keeps_16_bits_icc_and_exif(raw_files):
    photo = raw_files.photo(CRW)
    back = dio.load_image(raw_files.tiff(CRW))
    assert back.meta.bit_depth == 16 and back.meta.icc_profile == photo.meta.icc_profile
    assert np.array_equal(levels16(back.rgb), levels16(photo.rgb))
    exif = Image.Exif()
    exif.load(back.meta.exif)
    assert exif.get(0x0110) == "Canon PowerShot G2"
    assert exif.get_ifd(0x8769).get(0x9003) == raw_files.record(CRW).metadata.datetime


# --------------------------------------------------------------------------------------------
# synthetic DNGs: a record made up here (no data files needed)

# XYZ -> camera of a real camera (LibRaw's table entry for the Canon EOS 5D Mark II)
CAM_XYZ = np.array(
    [[4716, 603, -830], [-7798, 15474, 2480], [-1496, 1937, 6651], [0, 0, 0]], np.float32
) / np.float32(10000)
SYNTHETIC_EXIF = {
    "Exif.Image.Make": "Deconv",
    "Exif.Image.Model": "Test Camera",
    "Exif.Photo.ISOSpeedRatings": "3200",
    "Exif.Photo.ExposureTime": "1/60",
    "Exif.Photo.DateTimeOriginal": "2024:05:06 07:08:09",
    "Exif.GPSInfo.GPSLatitudeRef": "S",
    "Exif.GPSInfo.GPSLatitude": "33/1 52/1 0/1",
    "Exif.GPSInfo.GPSLongitudeRef": "E",
    "Exif.GPSInfo.GPSLongitude": "151/1 12/1 30/1",
}


def synthetic(
    cfa: str | tuple[str, ...],
    shape: tuple[int, int],
    orientation: int = 1,
    aspect: float = 1.0,
    seed: int = 0,
    path: Path = Path("synthetic.dng"),
) -> RawData:
    rows = [cfa[i : i + 2] for i in (0, 2)] if isinstance(cfa, str) else list(cfa)
    pattern = np.array([["RGB".index(ch) for ch in row] for row in rows], np.uint8)
    h, w = shape
    black, white = (128, 130, 126, 130), 4095
    mosaic = np.random.default_rng(seed).integers(130, white, shape).astype(np.uint16)
    flip = {1: 0, 2: 1, 3: 3, 4: 2, 5: 4, 6: 6, 7: 7, 8: 5}[orientation]
    oh, ow = h, round(w * aspect)
    sizes = RawSizes(h, w, h, w, 0, 0, *((ow, oh) if flip & 4 else (oh, ow)), aspect, flip)
    wb = (2.0, 1.0, 1.5, 1.0)
    return RawData(
        path=path, format="DNG", mosaic=mosaic, pattern=pattern, colours="RGBG",
        cfa="".join(rows), is_bayer=len(rows) == 2, black_levels=black, white_level=white,
        camera_wb=wb, daylight_wb=wb, wb=wb, wb_source="camera", rgb_xyz_matrix=CAM_XYZ,
        color_matrix=np.zeros((3, 4), np.float32), rgb_cam=None, dng_colour_tags=(),
        sizes=sizes, orientation=orientation,
        metadata=RawMetadata(make="Deconv", model="Test Camera", exif=SYNTHETIC_EXIF),
        libraw_version="", file_size=0, file_mtime_ns=0,
    )  # fmt: skip


@pytest.mark.parametrize("cfa", BAYER)
@pytest.mark.parametrize("shape", [(37, 53), (40, 30)])
def test_synthetic_bayer_dngs_reopen_with_their_pattern_and_levels(tmp_path, cfa, shape):
    raw = synthetic(cfa, shape)
    back = open_raw(write_dng(tmp_path / "s.dng", raw))
    assert back.cfa == cfa and back.is_bayer
    assert np.array_equal(back.mosaic, raw.mosaic)
    # black levels are per photosite of the pattern, so per colour after reading
    assert back.white_level == raw.white_level
    for letter, index in (("R", 0), ("B", 2)):
        assert back.black_levels[back.pattern.ravel()[cfa.index(letter)]] == raw.black_levels[index]
    wb = np.float32(raw.wb) / np.float32(min(raw.wb))
    assert np.array_equal(np.float32(back.wb) / np.float32(min(back.wb)), wb)
    # LibRaw develops it with the camera matrix it derives from the table entry itself
    # (as replayed by core.dng; rawpy reports no XYZ matrix for DNGs)
    if back.rgb_cam is not None:
        assert np.array_equal(back.rgb_cam, _libraw_rgb_cam(_fractions(CAM_XYZ[:3].ravel())))


def test_synthetic_dng_keeps_the_metadata(tmp_path):
    back = open_raw(write_dng(tmp_path / "m.dng", synthetic("RGGB", (30, 40))))
    meta = back.metadata
    assert (meta.make, meta.model, meta.iso, meta.datetime) == (
        "Deconv", "Test Camera", 3200, "2024:05:06 07:08:09",
    )  # fmt: skip
    assert meta.exposure_time == pytest.approx(1 / 60)
    assert meta.gps is not None
    assert meta.gps.latitude == pytest.approx(-(33 + 52 / 60))
    assert meta.gps.longitude == pytest.approx(151 + 12 / 60 + 30 / 3600)


def test_synthetic_xtrans_dng_reopens_with_its_6x6_pattern(tmp_path):
    # (LibRaw's X-Trans demosaicking works on 512 x 512 tiles: smaller photos fail)
    raw = synthetic(XTRANS, (516, 522))
    back = open_raw(write_dng(tmp_path / "x.dng", raw))
    assert back.cfa == "".join(XTRANS) and not back.is_bayer
    assert np.array_equal(back.mosaic, raw.mosaic)
    assert render_raw(back).rgb.shape == (516, 522, 3)


def test_orientation_written_is_the_one_libraw_applies(tmp_path):
    """A DNG written with EXIF orientation o develops as the upright one turned by o (the
    flip <-> orientation mapping agrees with LibRaw's)."""
    upright = render_raw(open_raw(write_dng(tmp_path / "o1.dng", synthetic("GRBG", (24, 36)))))
    for o in range(2, 9):
        path = write_dng(tmp_path / f"o{o}.dng", synthetic("GRBG", (24, 36), o))
        back = open_raw(path)
        turned = render_raw(back)
        assert back.orientation == o and turned.meta.orientation == o
        assert turned.rgb.shape[:2] == (back.sizes.output_height, back.sizes.output_width)
        assert np.array_equal(turned.rgb, dio._apply_orientation(upright.rgb, o)), o


def test_non_square_pixels_are_kept_as_default_scale(tmp_path):
    back = open_raw(write_dng(tmp_path / "wide.dng", synthetic("RGGB", (24, 30), aspect=2.0)))
    assert back.sizes.pixel_aspect == 2.0
    assert render_raw(back).rgb.shape == (24, 60, 3)


# --------------------------------------------------------------------------------------------
# writing rules


def test_dng_is_written_atomically_and_never_over_a_file(tmp_path):
    raw = synthetic("RGGB", (30, 40))
    target = tmp_path / "out.dng"
    target.write_bytes(b"keep me")
    with pytest.raises(ImageWriteError, match="already exists"):
        write_dng(target, raw)
    assert target.read_bytes() == b"keep me"
    write_dng(target, raw, overwrite=True)
    with rawpy.imread(str(target)) as rp:
        assert np.array_equal(rp.raw_image_visible, raw.mosaic)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.dng"]  # no temporary left


def test_dng_never_replaces_its_source(tmp_path):
    source = write_dng(tmp_path / "source.dng", synthetic("RGGB", (30, 40)))
    before = source.read_bytes()
    with pytest.raises(ImageWriteError, match="original"):
        write_dng(source, open_raw(source))
    assert source.read_bytes() == before


def test_metadata_that_would_disturb_the_dng_is_left_out(tmp_path, monkeypatch, caplog):
    """If exiv2's rewrite changed a pixel (or a DNG tag), the DNG is written without it."""
    from deconv_gui.core import dng as dng_module

    real = dng_module.write_dng_metadata

    def damaging(data: bytes, meta: RawMetadata) -> bytes:
        out = bytearray(real(data, meta))
        with tifffile.TiffFile(io.BytesIO(bytes(out))) as tf:
            out[tf.pages[0].dataoffsets[0] + 10] ^= 0xFF
        return bytes(out)

    monkeypatch.setattr(dng_module, "write_dng_metadata", damaging)
    raw = synthetic("RGGB", (30, 40))
    back = open_raw(write_dng(tmp_path / "safe.dng", raw))
    assert np.array_equal(back.mosaic, raw.mosaic)
    assert back.metadata.iso is None and back.metadata.make == "Deconv"
    assert "could not be added safely" in caplog.text


def test_dng_refuses_bad_requests(tmp_path):
    raw = synthetic("RGGB", (30, 40))
    with pytest.raises(ImageWriteError, match=".dng"):
        write_dng(tmp_path / "x.tif", raw)
    with pytest.raises(ValueError, match="must be uint16"):
        write_dng(tmp_path / "x.dng", raw, raw.normalized())
    with pytest.raises(ImageWriteError, match="folder"):
        write_dng(tmp_path / "missing" / "x.dng", raw)
    no_cfa = dataclasses.replace(raw, pattern=None, cfa="", is_bayer=False)
    with pytest.raises(ImageWriteError, match="TIFF"):
        write_dng(tmp_path / "x.dng", no_cfa)
    cmy = dataclasses.replace(raw, colours="GMCY", cfa="GMCY")
    with pytest.raises(ImageWriteError, match="RGB"):
        write_dng(tmp_path / "x.dng", cmy)
    assert not list(tmp_path.iterdir())


def test_a_render_carries_the_raws_xmp_and_iptc_into_its_result(tmp_path):
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool is not installed")
    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmp:Rating="4"><dc:subject><rdf:Bag><rdf:li>a</rdf:li><rdf:li>b</rdf:li></rdf:Bag>'
        "</dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    raw = synthetic("RGGB", (30, 40))
    iptc = {"Iptc.Application2.City": "Zürich", "Iptc.Application2.Keywords": ["a", "b"]}
    metadata = dataclasses.replace(raw.metadata, xmp_packet=packet, iptc=iptc)
    dng = write_dng(tmp_path / "x.dng", dataclasses.replace(raw, metadata=metadata))
    photo = dio.load_image(dng)
    assert photo.meta.xmp and photo.meta.iptc
    out = dio.save_image(tmp_path / "x.tif", photo.rgb, photo.meta)
    tags = json.loads(
        subprocess.run(
            ["exiftool", "-j", "-n", "-XMP:all", "-IPTC:all", str(out)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )[0]
    assert tags["Rating"] == 4 and tags["Subject"] == ["a", "b"]
    assert tags["City"] == "Zürich" and tags["Keywords"] == ["a", "b"]


SIDECAR = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:darktable="http://darktable.sf.net/"
    xmp:Rating="{rating}" xmp:Label="Red" crs:Exposure2012="+1.00" crs:Temperature="5600"
    darktable:history_end="1">
   <dc:subject><rdf:Bag><rdf:li>portfolio</rdf:li><rdf:li>Zürich</rdf:li></rdf:Bag></dc:subject>
   <darktable:history><rdf:Seq><rdf:li darktable:operation="exposure" darktable:enabled="1"/>
   </rdf:Seq></darktable:history>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def test_a_raws_xmp_sidecar_reaches_its_results_without_develop_settings(tmp_path, caplog):
    """A rating, colour label and keywords kept in the RAW file's sidecar (Lightroom's
    NAME.xmp; darktable's NAME.EXT.xmp wins where both exist) reach a rendered TIFF/JPEG and
    a DNG; the develop settings (crs:, darktable history) reach only the DNG, which is still
    developed from the sensor data: applied to a render they would develop it twice."""
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool is not installed (apt-get install libimage-exiftool-perl)")
    src = write_dng(tmp_path / "IMG_0001.dng", synthetic("RGGB", (30, 40)))
    (tmp_path / "IMG_0001.xmp").write_text(SIDECAR.format(rating=3), encoding="utf-8")
    raw = open_raw(src)
    assert raw.metadata.xmp_packet and 'xmp:Rating="3"' in raw.metadata.xmp_packet
    (tmp_path / "IMG_0001.dng.xmp").write_text(SIDECAR.format(rating=5), encoding="utf-8")
    photo = dio.load_image(src)
    outs = [
        dio.save_image(tmp_path / f"out{ext}", photo.rgb, photo.meta) for ext in (".tif", ".jpg")
    ]
    dng = write_dng(tmp_path / "out.dng", open_raw(src))
    for out in [*outs, dng]:
        tags = json.loads(
            subprocess.run(
                ["exiftool", "-j", "-n", "-G1", "-XMP:all", str(out)],
                capture_output=True, text=True, check=True,
            ).stdout
        )[0]  # fmt: skip
        assert tags["XMP-xmp:Rating"] == 5 and tags["XMP-xmp:Label"] == "Red", out.name
        assert tags["XMP-dc:Subject"] == ["portfolio", "Zürich"], out.name
        develop = {k.split(":")[0] for k in tags if k.startswith(("XMP-crs", "XMP-darktable"))}
        assert develop == ({"XMP-crs", "XMP-darktable"} if out == dng else set()), out.name


def test_a_damaged_sidecar_is_a_warning_and_the_raw_still_opens(tmp_path, caplog):
    src = write_dng(tmp_path / "a.dng", synthetic("RGGB", (30, 40)))
    (tmp_path / "a.dng.xmp").write_text("<x:xmpmeta><rdf:RDF>cut off", encoding="utf-8")
    with caplog.at_level("WARNING"):
        raw = open_raw(src)
    assert raw.metadata.xmp_packet is None and raw.metadata.make == "Deconv"
    assert "a.dng.xmp: the XMP sidecar is damaged" in caplog.text
    (tmp_path / "a.dng.xmp").write_bytes(b"\xff\x00 not text at all \x81")
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert open_raw(src).metadata.xmp_packet is None
    assert "a.dng.xmp:" in caplog.text and "not used" in caplog.text


@pytest.mark.parametrize("ext", [".tif", ".jpg", ""])
def test_a_raw_file_under_a_pictures_name_says_what_it_is(tmp_path, ext):
    """A DNG renamed .tif would be read as the preview in its first IFD (or not at all as
    .jpg): it is refused, saying it is a camera RAW file and how to open it as one; ordinary
    TIFFs and JPEGs are not held up by the check."""
    dng = write_dng(tmp_path / "shot.dng", synthetic("RGGB", (30, 40)))
    renamed = dng.rename(tmp_path / f"shot{ext}")
    for load in (dio.load_image, dio.load_preview):
        with pytest.raises(ImageReadError, match=r"it is camera RAW data \(a DNG\)") as info:
            load(renamed)
        assert "rename it .dng" in str(info.value) and "\n" not in str(info.value)
    rgb = np.full((8, 8, 3), 0.5, np.float32)
    for name in ("plain.tif", "plain.jpg"):
        out = dio.save_image(tmp_path / name, rgb, dio.ImageMeta())
        assert dio.load_image(out).rgb.shape == (8, 8, 3)
