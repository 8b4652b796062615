"""ICC profiles for the RGB spaces a RAW file is rendered into (sRGB, Adobe RGB, ProPhoto RGB).

sRGB comes from Pillow's `ImageCms` (LittleCMS's built-in sRGB profile). Pillow cannot make
other RGB profiles, so Adobe RGB (1998)-compatible and ProPhoto RGB (ROMM) profiles are written
here: small ICC version 2 matrix/TRC display profiles, built from the published primaries and
white point. The colorants (rXYZ, gXYZ, bXYZ) are the primaries adapted to the ICC D50
connection space with the Bradford transform (which is how Adobe's own AdobeRGB1998.icc is
made), so white maps to D50 exactly; the tone curves are pure gammas (Adobe RGB 563/256,
ProPhoto 1.8), the same curves LibRaw is told to apply when it renders into these spaces
(see `deconv_gui.core.raw`). The bytes are deterministic (a fixed creation date).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import ImageCms

__all__ = [
    "COLOUR_SPACES",
    "ColourSpace",
    "icc_profile",
    "rgb_to_xyz_d50",
]

D50 = (0.9642, 1.0, 0.8249)  # the ICC profile connection space white
_BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
)


@dataclass(frozen=True)
class ColourSpace:
    """An RGB output space: primaries and white as CIE xy, and its pure-gamma tone curve."""

    name: str  # the id used in settings and on the command line
    description: str  # the profile description shown by colour-managed applications
    primaries: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    white: tuple[float, float]
    gamma: float  # encoding exponent (value = linear ** (1 / gamma)); 0 for sRGB's curve


SRGB = ColourSpace(
    "srgb", "sRGB IEC61966-2.1", ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06)), (0.3127, 0.3290), 0.0
)
ADOBE_RGB = ColourSpace(
    "adobe-rgb",
    "Adobe RGB (1998) compatible (Deconv GUI)",
    ((0.64, 0.33), (0.21, 0.71), (0.15, 0.06)),
    (0.3127, 0.3290),
    563 / 256,  # 2.19921875, the value stored in Adobe's profile
)
PROPHOTO_RGB = ColourSpace(
    "prophoto-rgb",
    "ProPhoto RGB (ROMM) compatible (Deconv GUI)",
    ((0.7347, 0.2653), (0.1596, 0.8404), (0.0366, 0.0001)),
    (0.3457, 0.3585),
    461 / 256,  # 1.80078125: 1.8 as a u8Fixed8 curve value
)
COLOUR_SPACES: dict[str, ColourSpace] = {cs.name: cs for cs in (SRGB, ADOBE_RGB, PROPHOTO_RGB)}


def _xy_to_xyz(x: float, y: float) -> np.ndarray:
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


def rgb_to_xyz_d50(space: ColourSpace) -> np.ndarray:
    """3x3 matrix from linear RGB of ``space`` to XYZ relative to D50 (Bradford-adapted).

    Columns are the profile's colorants; RGB (1, 1, 1) maps to the ICC D50 white.
    """
    prims = np.stack([_xy_to_xyz(*p) for p in space.primaries], axis=1)
    white = _xy_to_xyz(*space.white)
    m = prims * np.linalg.solve(prims, white)  # scale the primaries so R+G+B = white
    d50 = np.array(D50)
    cone = np.diag((_BRADFORD @ d50) / (_BRADFORD @ white))
    adapt = np.linalg.inv(_BRADFORD) @ cone @ _BRADFORD
    return np.asarray(adapt @ m)


def icc_profile(name: str = "srgb") -> bytes:
    """The ICC profile (bytes) of the colour space called ``name`` (see `COLOUR_SPACES`)."""
    if name not in COLOUR_SPACES:
        raise ValueError(
            f"unknown colour space {name!r} (choose one of {', '.join(COLOUR_SPACES)})"
        )
    return _profile(name)


@cache
def _profile(name: str) -> bytes:
    space = COLOUR_SPACES[name]
    if space is SRGB:
        return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    return _matrix_trc_profile(space)


# --------------------------------------------------------------------------------------------
# ICC v2 writer (ICC.1:2001-04 layout)


def _s15f16(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz_type(xyz: tuple[float, float, float] | np.ndarray) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15f16(float(v)) for v in xyz)


def _curve_type(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"


def _text_type(text: str) -> bytes:
    return b"text\0\0\0\0" + text.encode("ascii") + b"\0"


def _desc_type(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    # ASCII part, then empty Unicode and ScriptCode parts (ScriptCode: 2+1+67 bytes)
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_ + b"\0" * 8 + b"\0" * 70


def _matrix_trc_profile(space: ColourSpace) -> bytes:
    colorants = rgb_to_xyz_d50(space)
    trc = _curve_type(space.gamma)
    media_white = _xy_to_xyz(*space.white)  # v2 convention (as Adobe's profiles): the actual white
    tags: list[tuple[bytes, bytes]] = [
        (b"desc", _desc_type(space.description)),
        (b"cprt", _text_type("No copyright, use freely")),
        (b"wtpt", _xyz_type(media_white)),
        (b"rXYZ", _xyz_type(colorants[:, 0])),
        (b"gXYZ", _xyz_type(colorants[:, 1])),
        (b"bXYZ", _xyz_type(colorants[:, 2])),
        (b"rTRC", trc),
        (b"gTRC", trc),
        (b"bTRC", trc),
    ]
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    entries: list[bytes] = []
    blobs: list[bytes] = []
    shared: dict[bytes, int] = {}  # the three TRC tags point at one curve
    for sig, data in tags:
        if data in shared:
            entries.append(sig + struct.pack(">II", shared[data], len(data)))
            continue
        shared[data] = offset
        entries.append(sig + struct.pack(">II", offset, len(data)))
        padded = data + b"\0" * (-len(data) % 4)
        blobs.append(padded)
        offset += len(padded)
    body = struct.pack(">I", len(tags)) + b"".join(entries) + b"".join(blobs)
    size = 128 + len(body)
    header = (
        struct.pack(">I", size)
        + b"\0\0\0\0"  # preferred CMM: none
        + struct.pack(">I", 0x02100000)  # version 2.1
        + b"mntrRGB XYZ "  # display class, RGB data, XYZ connection space
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)  # creation date (fixed: deterministic bytes)
        + b"acsp"
        + b"\0" * 4  # platform
        + b"\0" * 4  # flags
        + b"\0" * 8  # manufacturer, model
        + b"\0" * 8  # attributes
        + struct.pack(">I", 0)  # rendering intent: perceptual
        + _s15f16(D50[0])
        + _s15f16(D50[1])
        + _s15f16(D50[2])
        + b"\0" * 4  # creator
        + b"\0" * 44  # profile ID (v4 only) and reserved
    )
    assert len(header) == 128
    return header + body
