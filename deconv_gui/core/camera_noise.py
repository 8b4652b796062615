"""A camera's own noise profile, fitted from many of its RAW files.

`core.raw_noise.estimate_profile` measures one photo: on textured scenes it overestimates
the noise (texture leaks into even the quietest blocks), by 1.05-1.35x at high ISO and up
to 3x at low ISO. Many files of one camera do better:

1. each file gives (brightness, noise variance) points (`file_points`:
   `core.raw_noise.noise_bins` on its packed planes, keeping only the ``CAMERA_QUIET``
   fraction of blocks with the least texture around them: many files give enough blocks
   for so strict a choice, which a single photo's Auto cannot afford), and its row noise
   (`core.raw_noise.row_noise`);
2. per ISO, the points of all its files are pooled, and in each brightness bin the
   ``LOWER_QUANTILE`` of the files' variances is kept (texture only ever adds variance, so
   the flattest file at that brightness is the most honest); ``var = shot * x + read`` is
   fitted through those (`core.raw_noise.fit_profile`);
3. across ISOs a curve is fitted: ``shot = gain * ISO`` (the sensor's electrons at the white
   level fix ``gain``), and ``log(read)`` a straight line in ``log(shot)`` (the relation
   Brooks et al. 2019 found over many cameras; its slope is taken from them when there is a
   single ISO);
4. row noise: per ISO the ``ROW_QUANTILE`` of the files' measurements (texture along rows
   only adds), over ISO ``log(row)`` a straight line in ``log(shot)`` (with a single ISO, the
   read noise's slope).

On `benchmarks/bench_camera_tuning.py`'s synthetic camera (40 files at three ISOs,
`runs/camera_tuning.txt`) the fit gives 1.00-1.11x the true shot variance, 0.88-0.99x the
read and 1.09-1.44x the row variance (with the looser choice of blocks a single photo uses,
the shot came out 1.05-1.18x and the read down to 0.05x at ISO 1600).

`CameraNoise.profile(iso)` gives the measured profile at an ISO of the user's files and the
curve's in between or beyond. The profile travels with a model tuned on these files (its
card's ``noise_profile``, `to_json` / `from_json`), and the RAW denoiser's Auto uses it for
that model (`models.bundled.RawNoiseInput`).

Dark frames (lens cap on) and flat frames (an evenly lit, out-of-focus white wall) are the
easiest files to measure: give them as extra files to `fit_camera_noise`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from deconv_gui.core.raw_noise import (
    LOG_READ_SLOPE,
    NoiseProfile,
    fit_profile,
    noise_bins,
    row_noise,
)

LOWER_QUANTILE = 0.1  # of the files' variances in a brightness bin
CAMERA_QUIET = 0.05  # fraction of each bin's blocks (least texture around) measured
ROW_QUANTILE = 0.25  # of the files' row-noise measurements at an ISO
BRIGHTNESS_BINS = 16
READ_FLOOR = 1e-9  # a fitted read variance at or below this was not measurable
SLOPE_RANGE = (1.0, 3.5)  # a fitted log(read)/log(shot) slope outside is not believed


@dataclass(frozen=True)
class FilePoints:
    """One file's noise measurements: brightness, variance and samples per bin."""

    iso: float | None
    x: np.ndarray
    var: np.ndarray
    n: np.ndarray
    row: float | None = None  # row-offset variance (`core.raw_noise.row_noise`)


def file_points(packed: np.ndarray, iso: float | None) -> FilePoints:
    """Measure a file's packed (h, w, 4) planes (normalised, unclipped)."""
    blocks = packed.shape[0] // 2 * (packed.shape[1] // 2) * packed.shape[2]
    min_count = int(np.clip(blocks // 100, 20, 200))
    x, v, n = noise_bins(packed, min_count=min_count, quiet=CAMERA_QUIET)
    if x.size < 2:  # a small picture: the single-photo choice of blocks
        x, v, n = noise_bins(packed, min_count=min_count)
    return FilePoints(None if not iso else float(iso), x, v, n, row_noise(packed))


def _lower_envelope(points: list[FilePoints]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pooled points of several files, reduced to the ``LOWER_QUANTILE`` per brightness bin
    (one file: its own points)."""
    if len(points) == 1:
        p = points[0]
        return p.x, p.var, p.n
    x = np.concatenate([p.x for p in points])
    v = np.concatenate([p.var for p in points])
    n = np.concatenate([p.n for p in points])
    if x.size == 0:
        return x, v, n
    edges = np.quantile(x, np.linspace(0.0, 1.0, BRIGHTNESS_BINS + 1))
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, BRIGHTNESS_BINS - 1)
    xs, vs, ns = [], [], []
    for k in range(BRIGHTNESS_BINS):
        sel = np.flatnonzero(idx == k)
        if sel.size == 0:
            continue
        xs.append(float(np.median(x[sel])))
        vs.append(float(np.quantile(v[sel], LOWER_QUANTILE)))
        ns.append(float(n[sel].sum()))
    return np.array(xs), np.array(vs), np.array(ns)


def same_body(a: tuple[object, object], b: tuple[object, object]) -> bool:
    """Two (make, model) pairs name the same camera body (case and spacing ignored; an
    empty model matches nothing)."""

    def norm(s: object) -> str:
        return " ".join(str(s or "").lower().split())

    return bool(norm(a[1])) and (norm(a[0]), norm(a[1])) == (norm(b[0]), norm(b[1]))


@dataclass(frozen=True)
class CameraNoise:
    """A camera's fitted noise: measured per ISO, and a curve over ISO (module doc)."""

    make: str = ""
    model: str = ""
    per_iso: Mapping[float, NoiseProfile] = field(default_factory=dict)
    gain: float = 0.0  # shot = gain * ISO
    read_slope: float = LOG_READ_SLOPE  # log(read) = read_slope * log(shot) + read_intercept
    read_intercept: float = 0.0
    files: int = 0
    row_slope: float = LOG_READ_SLOPE  # log(row) = row_slope * log(shot) + row_intercept
    row_intercept: float | None = None  # None: no row noise measured

    @property
    def name(self) -> str:
        """ "Canon EOS R6" (the model usually names the make already)."""
        make, model = self.make.strip(), self.model.strip()
        if make and model.lower().startswith(make.lower()):
            return model
        return " ".join(s for s in (make, model) if s) or "Unknown camera"

    @property
    def iso_range(self) -> tuple[float, float] | None:
        return (min(self.per_iso), max(self.per_iso)) if self.per_iso else None

    def display_name(self) -> str:
        """ "Canon EOS R6, ISO 3200-12800" (what the tuned model is listed as)."""
        r = self.iso_range
        if r is None:
            return self.name
        lo, hi = int(round(r[0])), int(round(r[1]))
        return f"{self.name}, ISO {lo}" + (f"-{hi}" if hi != lo else "")

    def matches(self, make: str | None, model: str | None) -> bool:
        """The same camera body (`same_body`)."""
        return same_body((self.make, self.model), (make, model))

    def curve(self, iso: float) -> NoiseProfile:
        """The fitted curve's profile at ``iso``."""
        shot = self.gain * float(iso)
        if shot <= 0:
            row = 0.0 if self.row_intercept is None else math.exp(self.row_intercept)
            return NoiseProfile(0.0, math.exp(self.read_intercept), row)
        ls = math.log(shot)
        row = (0.0 if self.row_intercept is None
               else math.exp(self.row_slope * ls + self.row_intercept))  # fmt: skip
        return NoiseProfile(shot, math.exp(self.read_slope * ls + self.read_intercept), row)

    def profile(self, iso: float | None) -> NoiseProfile | None:
        """The measured profile at an ISO of the user's files (within 2 %), else the curve's;
        None without an ISO (or without any fit)."""
        if iso is None or iso <= 0 or not self.per_iso:
            return None
        near = min(self.per_iso, key=lambda i: abs(math.log(i / float(iso))))
        if abs(near / float(iso) - 1.0) <= 0.02:
            return self.per_iso[near]
        return self.curve(float(iso))

    def to_json(self) -> dict[str, Any]:
        return {
            "make": self.make,
            "model": self.model,
            "per_iso": {str(int(round(i))): p.to_json() for i, p in sorted(self.per_iso.items())},
            "curve": {
                "shot_per_iso": self.gain,
                "log_read_slope": self.read_slope,
                "log_read_intercept": self.read_intercept,
                **(
                    {}
                    if self.row_intercept is None
                    else {
                        "log_row_slope": self.row_slope,
                        "log_row_intercept": self.row_intercept,
                    }
                ),
            },  # fmt: skip
            "files": self.files,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CameraNoise:
        c = d.get("curve", {})
        return cls(
            make=str(d.get("make", "")),
            model=str(d.get("model", "")),
            per_iso={float(k): NoiseProfile.from_json(v) for k, v in d.get("per_iso", {}).items()},
            gain=float(c.get("shot_per_iso", 0.0)),
            read_slope=float(c.get("log_read_slope", LOG_READ_SLOPE)),
            read_intercept=float(c.get("log_read_intercept", 0.0)),
            files=int(d.get("files", 0)),
            row_slope=float(c.get("log_row_slope", LOG_READ_SLOPE)),
            row_intercept=(
                None if c.get("log_row_intercept") is None else float(c["log_row_intercept"])
            ),  # fmt: skip
        )


def fit_camera_noise(points: Iterable[FilePoints], make: str = "", model: str = "") -> CameraNoise:
    """Fit a camera's noise from its files' measurements (see the module doc). Files without
    an ISO are left out; `ValueError` when no file has both an ISO and smooth areas."""
    by_iso: dict[float, list[FilePoints]] = {}
    count = 0
    for p in points:
        if p.iso is None or p.x.size == 0:
            continue
        by_iso.setdefault(float(p.iso), []).append(p)
        count += 1
    per_iso: dict[float, NoiseProfile] = {}
    for iso, pts in sorted(by_iso.items()):
        x, v, n = _lower_envelope(pts)
        if x.size:
            rows = [p.row for p in pts if p.row is not None]
            row = float(np.quantile(rows, ROW_QUANTILE)) if rows else 0.0
            per_iso[iso] = replace(fit_profile(x, v, n), row=row)
    if not per_iso:
        raise ValueError("no file with an ISO and smooth areas to measure the noise on")
    isos = np.array(list(per_iso), np.float64)
    shots = np.array([per_iso[i].shot for i in per_iso], np.float64)
    reads = np.array([per_iso[i].read for i in per_iso], np.float64)
    ok = shots > 0
    gain = float(np.exp(np.median(np.log(shots[ok] / isos[ok])))) if ok.any() else 0.0
    # a read noise at the fit's floor was too small to measure (low ISO, bright scenes)
    read_fit = _log_curve(isos, reads, gain, LOG_READ_SLOPE)
    slope, intercept = read_fit or (
        LOG_READ_SLOPE,
        float(np.median(np.log(np.maximum(reads, 1e-10)))),
    )
    row_fit = _log_curve(isos, np.array([per_iso[i].row for i in per_iso]), gain, slope)
    row_slope, row_icpt = row_fit or (slope, None)
    cam = CameraNoise(make, model, per_iso, gain, slope, intercept, count, row_slope, row_icpt)
    fixed = {
        i: p if p.read > READ_FLOOR else replace(p, read=cam.curve(i).read)
        for i, p in per_iso.items()
    }
    return replace(cam, per_iso=fixed)


def _log_curve(isos: np.ndarray, values: np.ndarray, gain: float,
               slope: float) -> tuple[float, float] | None:  # fmt: skip
    """(slope, intercept) of ``log(value)`` as a straight line in ``log(shot)`` through the
    ISOs whose value was measurable (above ``READ_FLOOR``): fitted when they span enough and
    the slope is believable (``SLOPE_RANGE``), else ``slope`` with a fitted intercept. None
    without a shot-noise gain or any measurable value."""
    has = values > READ_FLOOR
    if gain <= 0 or not has.any():
        return None
    ls, lv = np.log(gain * isos[has]), np.log(values[has])
    if ls.size >= 2 and np.ptp(ls) > 0.5:
        s, c = (float(v) for v in np.polyfit(ls, lv, 1))
        if SLOPE_RANGE[0] <= s <= SLOPE_RANGE[1]:
            return s, c
    return slope, float(np.mean(lv - slope * ls))
