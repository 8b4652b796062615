"""Export: options, long-edge resize, colour conversion through LittleCMS with the profile
embedded, 8/16-bit, atomic write through save_image."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from deconv_gui.core.export import (
    ExportError,
    ExportOptions,
    export_image,
    prepare_export,
    resize_long_edge,
)
from deconv_gui.core.icc import COLOUR_SPACES, convert_pixels, icc_profile, profile_name
from deconv_gui.core.image import ImageMeta
from deconv_gui.core.io import load_image

# sRGB primaries and mid grey as other colour-managed software converts them (8-bit):
# Display P3 (Apple's ColorSync, web-platform tests) and Adobe RGB (Photoshop).
PUBLISHED = {
    "display-p3": [[234, 51, 35], [117, 251, 76], [0, 0, 245]],
    "adobe-rgb": [[219, 0, 0], [144, 255, 60], [0, 0, 250]],
}
PRIMARIES = np.array([[[1, 0, 0], [0, 1, 0], [0, 0, 1]]], np.float32)


def _ramp(h: int = 24, w: int = 40) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x / (w - 1), y / (h - 1), 0.5 + 0 * x], -1).astype(np.float32)


@pytest.mark.parametrize("target", ["display-p3", "adobe-rgb"])
@pytest.mark.parametrize("bits", [8, 16])
def test_srgb_primaries_convert_as_published(target, bits):
    out, profile = convert_pixels(PRIMARIES, None, target, bits=bits)
    assert np.abs(out[0] * 255 - np.array(PUBLISHED[target])).max() <= 1.5
    assert profile == icc_profile(target)
    assert profile_name(profile).startswith(("Display P3", "Adobe RGB"))


def test_display_p3_profile_uses_the_srgb_curve():
    # grey is grey in both spaces and both use the sRGB curve: 0.2 stays 0.2
    grey = np.full((1, 1, 3), 0.2, np.float32)
    out, _ = convert_pixels(grey, None, "display-p3", bits=16)
    assert out[0, 0] == pytest.approx([0.2] * 3, abs=1.5 / 255)
    assert "display-p3" in COLOUR_SPACES


def test_sixteen_bit_conversion_is_smooth():
    ramp = np.repeat(np.linspace(0, 1, 4096, dtype=np.float32)[None, :, None], 3, axis=2)
    out, _ = convert_pixels(ramp, None, "adobe-rgb", bits=16)
    steps = np.diff(out[0, :, 0])
    assert (steps >= -1e-6).all()  # monotonic
    # far more distinct levels than 8 bits could hold
    assert len(np.unique(np.round(out[0, :, 0] * 65535))) > 1000


def test_unreadable_source_profile_is_taken_as_srgb():
    a, _ = convert_pixels(PRIMARIES, b"not a profile", "adobe-rgb")
    b, _ = convert_pixels(PRIMARIES, None, "adobe-rgb")
    assert np.array_equal(a, b)


def test_options_are_checked():
    with pytest.raises(ExportError, match="format"):
        ExportOptions(format="gif")
    with pytest.raises(ExportError, match="quality"):
        ExportOptions(quality=0)
    with pytest.raises(ExportError, match="bit depth"):
        ExportOptions(bits=12)
    with pytest.raises(ExportError, match="colour"):
        ExportOptions(colour="cmyk")
    assert ExportOptions().with_path_format("a/b.TIFF").format == "tiff"
    assert ExportOptions(format="png").with_path_format("x.unknown").format == "png"
    assert ExportOptions(format="jpeg", bits=16).output_bits(16) == 8
    assert ExportOptions(format="png").output_bits(16) == 16
    assert ExportOptions(format="png", bits=8).output_bits(16) == 8


def test_resize_long_edge_keeps_the_aspect():
    img = _ramp(30, 60)
    small = resize_long_edge(img, 20)
    assert small.shape == (10, 20, 3)
    assert resize_long_edge(img, 0) is img
    assert resize_long_edge(img, 120).shape == (60, 120, 3)


def test_export_png16_in_adobe_rgb_embeds_the_profile(tmp_path):
    meta = ImageMeta(format="PNG", bit_depth=8, exif=None)
    options = ExportOptions(format="png", bits=16, colour="adobe-rgb", long_edge=20)
    path = export_image(tmp_path / "out.png", _ramp(), meta, options)
    with Image.open(path) as im:
        assert im.size == (20, 12)
        icc = im.info["icc_profile"]
    assert ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).startswith(
        "Adobe RGB"
    )
    back = load_image(path)
    assert back.meta.bit_depth == 16
    with pytest.raises(Exception, match="exists"):
        export_image(path, _ramp(), meta, options)


def test_jpeg_quality_changes_the_file(tmp_path):
    rng = np.random.default_rng(0)
    img = np.clip(_ramp(64, 64) + rng.normal(0, 0.1, (64, 64, 3)), 0, 1).astype(np.float32)
    meta = ImageMeta(format="JPEG")
    lo = export_image(tmp_path / "lo.jpg", img, meta, ExportOptions(quality=20))
    hi = export_image(tmp_path / "hi.jpg", img, meta, ExportOptions(quality=95))
    assert lo.stat().st_size < hi.stat().st_size
    assert load_image(lo).meta.extra.get("jpeg_quality") == pytest.approx(20, abs=2)


def test_keep_leaves_pixels_and_profile_alone():
    icc = icc_profile("display-p3")
    meta = ImageMeta(icc_profile=icc, bit_depth=16)
    img = _ramp()
    out, m = prepare_export(img, meta, ExportOptions(format="tiff"))
    assert out is img and m.icc_profile == icc and m.bit_depth == 16


def test_grey_photo_converted_is_written_in_rgb():
    meta = ImageMeta(mode="L")
    _, m = prepare_export(_ramp(), meta, ExportOptions(format="png", colour="srgb"))
    assert m.mode == "RGB" and m.icc_profile == icc_profile("srgb")
