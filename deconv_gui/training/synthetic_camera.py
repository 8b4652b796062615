"""A synthetic camera unlike the one the RAW denoiser was trained for, written as DNG files.

The bundled RAW denoiser learnt a full-frame sensor whose read noise follows Brooks et al.'s
log-linear relation to the shot noise (`deconv_gui.core.raw_noise.reference_profile`), with
noise independent from photosite to photosite. `SyntheticCamera` differs on all three
counts, the way a small-sensor or older body does:

* a different ISO curve: fewer electrons at the white level (15,000 at ISO 100 instead of
  40,000), so at the same ISO its shot noise variance is 2.7 times larger;
* read noise 3 times stronger (standard deviation) than Brooks et al.'s relation gives for
  that shot noise;
* mild row noise: each row of the mosaic gets one random offset (standard deviation 0.3
  times the read noise), the banding many sensors show in their shadows.

`SyntheticCamera.expose` adds that noise to a clean packed mosaic (quantised to the 14-bit
ADC of `raw_testset`, values below black kept, above white clipped); `write_shots` turns
photos into one noisy DNG per (photo, ISO) in ``folder/noisy`` and its clean twin in
``folder/clean`` (same file names), describing the camera by make and model like a real
camera's files; `write_frames` writes dark and flat frames. The clean files are only for
scoring and for the supervised comparison: a self-supervised fine-tune reads the noisy ones.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from deconv_gui.core.raw_noise import NoiseProfile, read_from_shot
from deconv_gui.training.raw_eval import ADC_LEVELS, RawSample, clean_mosaic
from deconv_gui.training.unprocess import random_camera


@dataclass(frozen=True)
class SyntheticCamera:
    """The noise of a camera at any ISO (see the module doc)."""

    make: str = "Deconv"
    model: str = "Synthetic APS-C"
    electrons_at_white: float = 15_000.0  # at ISO 100
    read_factor: float = 3.0  # read noise std / Brooks et al.'s for that shot noise
    row_factor: float = 0.3  # row noise std / read noise std

    def profile(self, iso: float) -> NoiseProfile:
        """The per-photosite (Poisson-Gaussian) part of the noise at ``iso``."""
        shot = float(iso) / 100.0 / self.electrons_at_white
        return NoiseProfile(shot, self.read_factor**2 * read_from_shot(shot))

    def row_std(self, iso: float) -> float:
        """Standard deviation of the offset each mosaic row gets at ``iso``."""
        return self.row_factor * math.sqrt(self.profile(iso).read)

    def expose(self, clean: np.ndarray, iso: float, rng: np.random.Generator) -> np.ndarray:
        """Noisy (h, w, 4) packed RGGB planes from clean ones: photosite noise, one offset per
        mosaic row (planes R, G1 share a mosaic row, G2, B the next), quantised."""
        prof = self.profile(iso)
        clean = np.asarray(clean, np.float64)
        noisy = clean + rng.standard_normal(clean.shape) * np.sqrt(prof.variance(clean))
        rows = rng.standard_normal((clean.shape[0], 2)) * self.row_std(iso)
        noisy[:, :, 0:2] += rows[:, 0, None, None]
        noisy[:, :, 2:4] += rows[:, 1, None, None]
        return (np.minimum(np.rint(noisy * ADC_LEVELS) / ADC_LEVELS, 1.0)).astype(np.float32)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Shot:
    """One noisy file of the camera and its clean twin."""

    name: str
    noisy: Path
    clean: Path
    iso: float


def _write(path: Path, packed: np.ndarray, sample: RawSample, iso: float,
           camera: SyntheticCamera) -> None:  # fmt: skip
    from deconv_gui.core.dng import write_dng
    from deconv_gui.training.raw_testset import _to_sensor, _unpack_rggb, synthetic_record

    mosaic = _to_sensor(_unpack_rggb(packed))
    record = synthetic_record(sample, mosaic, path, iso, make=camera.make, model=camera.model)
    write_dng(path, record, mosaic, overwrite=True)


def write_shots(
    camera: SyntheticCamera,
    photos: Sequence[Path],
    isos: Sequence[float],
    folder: str | Path,
    *,
    seed: int = 0,
    one_iso_each: bool = False,
) -> list[Shot]:
    """One noisy DNG per photo and ISO in ``folder/noisy`` (``<photo>_iso<ISO>.dng``) and
    its clean twin in ``folder/clean`` (with ``one_iso_each``, photo ``i`` is shot at
    ``isos[i % len(isos)]`` only). Each photo is unprocessed by a camera (colour matrix,
    white balance, brightness) drawn from ``seed`` and its index; the noise of each shot from
    ``seed``, the photo and the ISO. Files whose recipe is unchanged are reused."""
    out = Path(folder)
    (out / "noisy").mkdir(parents=True, exist_ok=True)
    (out / "clean").mkdir(parents=True, exist_ok=True)
    stamp = out / "recipe.json"
    recipe = {
        "camera": camera.to_json(),
        "photos": [Path(p).name for p in photos],
        "isos": [float(i) for i in isos],
        "seed": int(seed),
        "one_iso_each": bool(one_iso_each),
        "version": 1,
    }
    reuse = stamp.exists() and json.loads(stamp.read_text()) == recipe
    stamp.unlink(missing_ok=True)
    shots = []
    for i, photo in enumerate(photos):
        clean_t, cam = clean_mosaic(photo, np.random.default_rng([seed, i]))
        clean = np.ascontiguousarray(clean_t[0].permute(1, 2, 0).numpy())
        for iso in [isos[i % len(isos)]] if one_iso_each else isos:
            name = f"{Path(photo).stem}_iso{int(iso)}.dng"
            noisy_p, clean_p = out / "noisy" / name, out / "clean" / name
            if not (reuse and noisy_p.exists() and clean_p.exists()):
                noisy = camera.expose(clean, iso, np.random.default_rng([seed, i, int(iso)]))
                sample = RawSample(name, clean, noisy, camera.profile(iso), cam)
                _write(clean_p, clean, sample, iso, camera)
                _write(noisy_p, noisy, sample, iso, camera)
            shots.append(Shot(name, noisy_p, clean_p, float(iso)))
    stamp.write_text(json.dumps(recipe))
    return shots


def write_frames(
    camera: SyntheticCamera,
    isos: Sequence[float],
    folder: str | Path,
    *,
    level: float = 0.0,
    shape: tuple[int, int] = (128, 192),
    seed: int = 0,
) -> list[Path]:
    """Dark frames (``level`` 0: lens cap on) or flat frames (a uniform ``level`` of the white
    level: a evenly lit white wall out of focus), one per ISO, as ``<kind>_iso<ISO>.dng``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    kind = "flat" if level > 0 else "dark"
    cam = random_camera(np.random.default_rng(seed), 1)
    paths = []
    for iso in isos:
        clean = np.full((*shape, 4), float(level), np.float32)
        noisy = camera.expose(clean, iso, np.random.default_rng([seed, int(iso), 7]))
        path = out / f"{kind}_iso{int(iso)}.dng"
        _write(path, noisy, RawSample(path.name, clean, noisy, camera.profile(iso), cam), iso,
               camera)  # fmt: skip
        paths.append(path)
    return paths
