"""Synthetic-raw test sets written as real DNG files, so that the whole path runs:
read (LibRaw) -> denoise -> write -> develop.

For each clean test photo (image ``i`` of the sorted folder) `raw_eval.make_samples` draws a
camera from ``seed + i`` (colour matrix, white balance, brightness) and unprocesses the photo
to a clean RGGB mosaic; the noisy one gets a full-frame camera's noise at the chosen ISO
(`core.raw_noise.reference_profile`). Both are written as 14-bit DNGs (black level 1024,
white 16383) describing that camera: ColorMatrix1 is its XYZ -> camera matrix and
AsShotNeutral its white balance, so LibRaw develops them as that camera's files. The clean
DNG is the reference: the mosaic in normalised sensor units, and its development for the
rendered-sRGB scores.

`make_dng_set(paths, iso, folder)` writes ``<name>_clean.dng`` and ``<name>_iso<ISO>.dng``
(kept between runs: existing files are reused when their recipe file matches).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from deconv_gui.core.camera import RGB2XYZ
from deconv_gui.core.raw import RawData, RawSizes
from deconv_gui.core.rawmeta import RawMetadata
from deconv_gui.training.raw_eval import ADC_LEVELS, RawSample, make_samples

if TYPE_CHECKING:
    from deconv_gui.core.raw_noise import NoiseProfile

BLACK = 1024
WHITE = BLACK + ADC_LEVELS  # 16383: 14 bits
_RGGB = np.array([[0, 1], [3, 2]], np.uint8)  # LibRaw colour indices, colours "RGBG"


@dataclass(frozen=True)
class DngPair:
    name: str
    clean: Path
    noisy: Path
    iso: float
    profile: NoiseProfile  # the true noise (normalised sensor units)


def _unpack_rggb(packed: np.ndarray) -> np.ndarray:
    h, w = packed.shape[:2]
    m = np.empty((2 * h, 2 * w), np.float32)
    m[0::2, 0::2], m[0::2, 1::2] = packed[..., 0], packed[..., 1]
    m[1::2, 0::2], m[1::2, 1::2] = packed[..., 2], packed[..., 3]
    return m


def _to_sensor(norm: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(norm * ADC_LEVELS + BLACK), 0, WHITE).astype(np.uint16)


def synthetic_record(
    sample: RawSample,
    mosaic: np.ndarray,
    path: Path,
    iso: float,
    *,
    make: str = "Deconv",
    model: str = "Synthetic full frame",
) -> RawData:
    """A `RawData` describing the sample's camera around a uint16 RGGB ``mosaic``."""
    cam = sample.cam
    xyz2cam = cam.rgb2cam[0] @ np.linalg.inv(RGB2XYZ)
    cam_xyz = np.zeros((4, 3), np.float32)
    cam_xyz[:3] = xyz2cam
    wb = (float(cam.red_gain[0]), 1.0, float(cam.blue_gain[0]), 1.0)
    h, w = mosaic.shape
    sizes = RawSizes(h, w, h, w, 0, 0, h, w, 1.0, 0)
    meta = RawMetadata(
        make=make,
        model=model,
        iso=float(iso),
        exif={
            "Exif.Image.Make": make,
            "Exif.Image.Model": model,
            "Exif.Photo.ISOSpeedRatings": str(int(iso)),
        },
    )
    return RawData(
        path=path,
        format="DNG",
        mosaic=mosaic,
        pattern=_RGGB,
        colours="RGBG",
        cfa="RGGB",
        is_bayer=True,
        black_levels=(BLACK, BLACK, BLACK, BLACK),
        white_level=WHITE,
        camera_wb=wb,
        daylight_wb=wb,
        wb=wb,
        wb_source="camera",
        rgb_xyz_matrix=cam_xyz,
        color_matrix=np.zeros((3, 4), np.float32),
        rgb_cam=None,
        dng_colour_tags=(),
        sizes=sizes,
        orientation=1,
        metadata=meta,
        libraw_version="",
        file_size=0,
        file_mtime_ns=0,
    )


def make_dng_set(
    paths: list[Path], iso: float, folder: str | Path, *, seed: int = 0
) -> list[DngPair]:
    """Write (or reuse) the clean and noisy DNG of every photo in ``paths``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    stamp = out / f"recipe_iso{int(iso)}.json"
    recipe = {"seed": seed, "iso": iso, "photos": [Path(p).name for p in paths], "version": 1}
    reuse = stamp.exists() and json.loads(stamp.read_text()) == recipe
    pairs = []
    samples = make_samples(paths, iso, seed=seed)
    for s in samples:
        stem = Path(s.name).stem
        clean_p, noisy_p = out / f"{stem}_clean.dng", out / f"{stem}_iso{int(iso)}.dng"
        if not (reuse and clean_p.exists() and noisy_p.exists()):
            write_pair(s, clean_p, noisy_p, iso)
        pairs.append(DngPair(s.name, clean_p, noisy_p, float(iso), s.profile))
    stamp.write_text(json.dumps(recipe))
    return pairs


def write_pair(sample: RawSample, clean: Path, noisy: Path, iso: float) -> DngPair:
    """Write a sample's clean and noisy mosaics as DNG files (replacing them)."""
    from deconv_gui.core.dng import write_dng

    for p, packed in ((clean, sample.clean), (noisy, sample.noisy)):
        mosaic = _to_sensor(_unpack_rggb(packed))
        write_dng(p, synthetic_record(sample, mosaic, p, iso), mosaic, overwrite=True)
    return DngPair(sample.name, clean, noisy, float(iso), sample.profile)
