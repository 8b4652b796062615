"""ICC profiles for the RGB spaces a RAW file is rendered into and a result is exported in
(sRGB, Display P3, Adobe RGB, ProPhoto RGB), and conversion of pixels between profiles.

sRGB comes from Pillow's `ImageCms` (LittleCMS's built-in sRGB profile). Pillow cannot make
other RGB profiles, so Adobe RGB (1998)-compatible and ProPhoto RGB (ROMM) profiles are written
here: small ICC version 2 matrix/TRC display profiles, built from the published primaries and
white point. The colorants (rXYZ, gXYZ, bXYZ) are the primaries adapted to the ICC D50
connection space with the Bradford transform (which is how Adobe's own AdobeRGB1998.icc is
made), so white maps to D50 exactly; the tone curves are pure gammas (Adobe RGB 563/256,
ProPhoto 1.8), the same curves LibRaw is told to apply when it renders into these spaces
(see `deconv_gui.core.raw`). Display P3 (DCI-P3 primaries, D65 white) uses the sRGB tone
curve, written as a 1024-entry table. The bytes are deterministic (a fixed creation date).

`convert_pixels(rgb, source_icc, target)` converts an RGB float32 photo from its embedded
profile (None: sRGB) into one of these spaces with LittleCMS (Pillow's `ImageCms`), and
returns the target's profile to embed. LittleCMS in Pillow converts 8-bit pixels only: for
8-bit output the pixels go through it directly; for 16-bit output the transform is sampled
on a 52-node grid per channel and applied by trilinear interpolation in float, so gradients
stay smooth (no 8-bit steps) and values are within about 1/255 of LittleCMS's.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import ImageCms

__all__ = [
    "COLOUR_SPACES",
    "ColourSpace",
    "convert_pixels",
    "icc_profile",
    "profile_name",
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
DISPLAY_P3 = ColourSpace(
    "display-p3",
    "Display P3 compatible (Deconv GUI)",
    ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)),
    (0.3127, 0.3290),
    0.0,  # the sRGB tone curve
)
COLOUR_SPACES: dict[str, ColourSpace] = {
    cs.name: cs for cs in (SRGB, DISPLAY_P3, ADOBE_RGB, PROPHOTO_RGB)
}


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
    if gamma <= 0:  # the sRGB curve (IEC 61966-2-1) as a table
        x = np.linspace(0.0, 1.0, 1024)
        y = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
        table = np.round(y * 65535).astype(">u2").tobytes()
        return b"curv\0\0\0\0" + struct.pack(">I", 1024) + table
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


# --------------------------------------------------------------------------------------------
# conversion

#: grid nodes per channel of the sampled transform for 16-bit output (0, 5, ..., 255)
GRID_NODES = 52


def profile_name(icc: bytes | None) -> str:
    """The description of an embedded profile ("sRGB" for none; "" when unreadable)."""
    if not icc:
        return "sRGB"
    try:
        return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip()
    except (OSError, ImageCms.PyCMSError, TypeError, ValueError):
        return ""


def _transform(source_icc: bytes | None, target: str) -> ImageCms.ImageCmsTransform:
    src = None
    if source_icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(source_icc))
        except (OSError, ImageCms.PyCMSError, TypeError, ValueError):
            src = None  # an unreadable profile: the pixels are taken as sRGB
    if src is None:
        src = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    dst = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile(target)))
    return ImageCms.buildTransform(src, dst, "RGB", "RGB", ImageCms.Intent.RELATIVE_COLORIMETRIC)


def convert_pixels(
    rgb: np.ndarray, source_icc: bytes | None, target: str, *, bits: int = 8
) -> tuple[np.ndarray, bytes]:
    """``rgb`` (H, W, 3 float32 in [0, 1], in the space of ``source_icc``; None = sRGB)
    converted into the colour space ``target`` (a `COLOUR_SPACES` name) with relative
    colorimetric intent; returns the pixels and the target's ICC profile to embed. ``bits``
    is the depth they will be written at (16: the smooth sampled path, see the module doc)."""
    from PIL import Image

    profile = icc_profile(target)
    transform = _transform(source_icc, target)
    img = np.asarray(rgb, np.float32)
    if bits <= 8:
        u8 = np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
        out = ImageCms.applyTransform(Image.fromarray(np.ascontiguousarray(u8), "RGB"), transform)
        return np.asarray(out, np.float32) / 255.0, profile
    n = GRID_NODES
    nodes = np.round(np.linspace(0, 255, n)).astype(np.uint8)
    grid = np.stack(np.meshgrid(nodes, nodes, nodes, indexing="ij"), axis=-1).reshape(n * n, n, 3)
    lut = ImageCms.applyTransform(Image.fromarray(grid, "RGB"), transform)
    table = (np.asarray(lut, np.float32) / 255.0).reshape(n, n, n, 3)
    return _trilinear(table, img), profile


def _trilinear(table: np.ndarray, img: np.ndarray) -> np.ndarray:
    """Look ``img`` (H, W, 3 in [0, 1]) up in a (n, n, n, 3) table, row block by row block."""
    n = table.shape[0]
    out = np.empty(img.shape, np.float32)
    rows = max(1, 1_000_000 // max(1, img.shape[1]))
    for y in range(0, img.shape[0], rows):
        x = np.clip(img[y : y + rows], 0.0, 1.0) * np.float32(n - 1)
        i = np.minimum(x.astype(np.int32), n - 2)
        f = x - i
        r, g, b = i[..., 0], i[..., 1], i[..., 2]
        fr, fg, fb = f[..., 0:1], f[..., 1:2], f[..., 2:3]
        acc = np.zeros((*x.shape[:2], 3), np.float32)
        for dr in (0, 1):
            wr = fr if dr else 1 - fr
            for dg in (0, 1):
                wg = fg if dg else 1 - fg
                for db in (0, 1):
                    wb = fb if db else 1 - fb
                    acc += wr * wg * wb * table[r + dr, g + dg, b + db]
        out[y : y + rows] = acc
    return np.clip(out, 0.0, 1.0)
