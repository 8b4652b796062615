"""The real RAW files of ../shared/data/raw for tests, opened, rendered and written once.

The session fixture `raw_files` (tests/conftest.py) hands out one `RawFiles`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from deconv_gui.core.image import Photo
from deconv_gui.core.raw import RawData, load_raw_photo

# The files of ../shared/data/raw (README there): name -> square pixels
RAW_FILES = {
    "Canon_PowerShot_G2_CRW_0304.CRW": True,
    "Canon_PowerShot_S40_CRW_0117.CRW": True,
    "Kodak_DC120_P003917.KDC": False,  # non-square pixels, stretched by LibRaw
    "Kodak_DC50_DC0008L.KDC": True,
    "Canon_EOS_550D_MagicLantern_colorchart.dng": True,
    "GoPro_HERO7_Black_GOPR9231_from_GPR.dng": True,
    "GoPro_Fusion_GPFR7066_from_GPR.dng": True,
}
SMALL = "Kodak_DC50_DC0008L.KDC"  # 768x512: the quick one
CRW = "Canon_PowerShot_G2_CRW_0304.CRW"
BAYER = ("RGGB", "BGGR", "GRBG", "GBRG")


class RawFiles:
    """Opens, renders and writes each real file at most once per session."""

    def __init__(self, folder: Path, out: Path) -> None:
        self.folder = folder
        self.out = out

    def path(self, name: str) -> Path:
        p = self.folder / name
        if not p.is_file():
            pytest.skip(f"{p} is missing (see ../shared/data/raw/README.md)")
        return p

    @cache  # noqa: B019 - one instance per session
    def photo(self, name: str) -> Photo:
        return load_raw_photo(self.path(name))

    def record(self, name: str) -> RawData:
        raw = self.photo(name).meta.extra["raw"]
        assert isinstance(raw, RawData)
        return raw

    @cache  # noqa: B019
    def dng(self, name: str) -> Path:
        from deconv_gui.core.dng import write_dng

        return write_dng(self.out / (Path(name).stem + ".dng"), self.record(name))

    @cache  # noqa: B019
    def dng_photo(self, name: str) -> Photo:
        return load_raw_photo(self.dng(name))

    @cache  # noqa: B019
    def tiff(self, name: str) -> Path:
        """The sRGB render saved by core.io as a 16-bit TIFF."""
        from deconv_gui.core.io import save_image

        photo = self.photo(name)
        return save_image(self.out / (Path(name).stem + ".tif"), photo.rgb, photo.meta)


def levels16(rgb: np.ndarray) -> np.ndarray:
    return np.rint(rgb.astype(np.float64) * 65535).astype(np.int64)
