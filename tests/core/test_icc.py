"""ICC profiles of the RAW output spaces: valid v2 profiles with the published colorants, and
LittleCMS converts known colours through them as colorimetry says."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image, ImageCms

from deconv_gui.core.icc import COLOUR_SPACES, icc_profile

# D50-adapted colorants as published: Adobe's AdobeRGB1998.icc (Adobe RGB (1998) Color Image
# Encoding, 2005) and ROMM RGB (ISO 22028-2, D50 native); sRGB's from IEC 61966-2-1 Annex
# (Bradford-adapted), columns R, G, B.
PUBLISHED = {
    "adobe-rgb": [[0.6097, 0.2053, 0.1492], [0.3111, 0.6257, 0.0632], [0.0195, 0.0609, 0.7446]],
    "prophoto-rgb": [[0.7977, 0.1352, 0.0313], [0.2880, 0.7119, 0.0001], [0.0000, 0.0000, 0.8249]],
}
SRGB_D50 = np.array([[0.4361, 0.3851, 0.1431], [0.2225, 0.7169, 0.0606], [0.0139, 0.0971, 0.7141]])
GAMMA = {"adobe-rgb": 563 / 256, "prophoto-rgb": 461 / 256}


def _tags(profile: bytes) -> dict[bytes, bytes]:
    (count,) = struct.unpack(">I", profile[128:132])
    out = {}
    for i in range(count):
        sig, off, size = struct.unpack(">4sII", profile[132 + 12 * i : 144 + 12 * i])
        out[sig] = profile[off : off + size]
    return out


def _xyz(tag: bytes) -> np.ndarray:
    assert tag[:4] == b"XYZ "
    return np.array(struct.unpack(">3i", tag[8:20])) / 65536


@pytest.mark.parametrize("name", ["adobe-rgb", "prophoto-rgb"])
def test_written_profiles_are_v2_matrix_trc_with_the_published_colorants(name):
    data = icc_profile(name)
    assert data == icc_profile(name)  # deterministic
    assert struct.unpack(">I", data[:4])[0] == len(data)
    assert (
        data[8:12] == b"\x02\x10\x00\x00"
        and data[12:24] == b"mntrRGB XYZ "
        and data[36:40] == b"acsp"
    )
    tags = _tags(data)
    colorants = np.stack([_xyz(tags[k]) for k in (b"rXYZ", b"gXYZ", b"bXYZ")], axis=1)
    np.testing.assert_allclose(colorants, PUBLISHED[name], atol=1.5e-4)
    np.testing.assert_allclose(colorants.sum(axis=1), [0.9642, 1.0, 0.8249], atol=1e-4)
    for k in (b"rTRC", b"gTRC", b"bTRC"):
        assert tags[k][:4] == b"curv" and struct.unpack(">IH", tags[k][8:14]) == (
            1,
            round(GAMMA[name] * 256),
        )
    profile = ImageCms.ImageCmsProfile(io.BytesIO(data))
    assert COLOUR_SPACES[name].description in ImageCms.getProfileDescription(profile)


def _srgb_decode(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


@pytest.mark.parametrize("name", ["adobe-rgb", "prophoto-rgb"])
def test_littlecms_converts_known_colours_through_them(name):
    """sRGB colours converted to the space by LittleCMS (built-in sRGB -> our profile) land
    where the published colorants put them."""
    colours = np.array(
        [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [128, 128, 128], [200, 120, 40]],
        np.uint8,
    )
    im = Image.fromarray(colours[None])
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    ours = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile(name)))
    got = np.asarray(
        ImageCms.profileToProfile(
            im, srgb, ours, renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC
        )
    )[0].astype(float)
    linear = _srgb_decode(colours / 255.0)
    xyz = linear @ SRGB_D50.T
    target = xyz @ np.linalg.inv(np.array(PUBLISHED[name])).T
    # compared in linear light (the pure-gamma toe is steep near black)
    got_linear = (got / 255.0) ** GAMMA[name]
    assert np.abs(got_linear - np.clip(target, 0, 1)).max() < 0.005, (got_linear, target)
    assert got[3].tolist() == [255, 255, 255]  # white stays white
    assert got[4][0] == got[4][1] == got[4][2]  # grey stays grey


def test_srgb_is_pillows_and_unknown_names_are_refused():
    pillows = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    ours = icc_profile("srgb")

    def undated(b: bytes) -> bytes:  # creation date (24:36) and profile ID (84:100) vary
        return b[:24] + b[36:84] + b[100:]

    assert undated(ours) == undated(pillows)
    with pytest.raises(ValueError, match="colour space"):
        icc_profile("cmyk")
