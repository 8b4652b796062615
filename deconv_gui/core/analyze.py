"""Look at a photo and suggest what to do with it, in plain words.

`analyze(rgb, meta)` measures:

* **noise**: the noise level (sigma on the 0-255 scale) by the patch-PCA estimator of
  `core.noise` (the denoisers' own Auto);
* **JPEG compression**: the quality from the file's quantisation tables (read by
  `core.io` into ``meta.extra["jpeg_quality"]``) or, for a file that is no longer a JPEG,
  from the 8x8 DCT statistics of its pixels (`core.jpeg_quality`);
* **blur**: Crete et al.'s no-reference blur measure (2007, "The blur effect: perception and
  estimation with a new no-reference perceptual blur metric"): how little the differences
  between neighbouring pixels shrink when the photo is blurred again (0 sharp, 1 very
  blurred), on the luma;
* **size**: pixels and megapixels.

and plans the steps in the order they should run: JPEG artifacts first (they confuse the
others), then noise, then blur, then enlargement (which would magnify all three). The
thresholds are stated next to each rule (`NOISY_SIGMA`, `JPEG_MAX_QUALITY`, `BLURRY`,
`SMALL_SIDE`); `benchmarks/suggest_confusion.py` measures how often the first step is the
right one on synthetic degradations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np

#: noise sigma (0-255) from which a photo is called noisy
NOISY_SIGMA = 4.0
#: JPEG qualities up to this one have artifacts worth removing
JPEG_MAX_QUALITY = 90.0
#: Crete blur measure from which a photo is called blurred (sharp photos measure 0.2-0.33)
BLURRY = 0.40
#: noise above which the blur measure is not trusted (noise makes photos look sharp)
BLUR_NOISE_LIMIT = 8.0
#: RAW files whose signal-to-noise ratio at their median brightness is below this get the
#: RAW denoiser suggested (a full-frame sensor at ISO 400-800 on a raw mid-tone measures
#: about this; base-ISO files of current cameras measure well above)
RAW_NOISY_SNR = 40.0
#: long sides below these get an enlargement suggested (x2, then x4)
SMALL_SIDE = 1200
TINY_SIDE = 500


@dataclass(frozen=True)
class Step:
    """One suggested step: a task of the model registry and its strength (None = Auto)."""

    task: str  # "jpeg", "denoise", "deblur", "upscale"
    strength: float | None
    label: str  # plain words: "Remove JPEG artifacts"
    scale: int = 1


@dataclass(frozen=True)
class Analysis:
    width: int
    height: int
    noise_sigma: float
    jpeg_quality: float | None
    jpeg_source: str | None  # "file" (tables), "pixels" (DCT statistics) or None
    blur: float
    steps: tuple[Step, ...] = field(default_factory=tuple)
    #: RAW files: signal-to-noise ratio of the sensor data at its median brightness
    raw_snr: float | None = None
    #: RAW files: the camera (make, model) and ISO (a model tuned on that camera is chosen)
    camera: tuple[str | None, str | None] | None = None
    iso: float | None = None

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    @property
    def primary(self) -> str:
        """The task of the first step ("none" when the photo needs nothing)."""
        return self.steps[0].task if self.steps else "none"

    def findings(self) -> list[str]:
        out = []
        if self.raw_snr is not None:
            noisy = self.raw_snr < RAW_NOISY_SNR
            out.append(
                f"camera RAW, {'noisy' if noisy else 'clean'} "
                f"(signal to noise about {self.raw_snr:.0f}:1)"
            )
        elif self.noise_sigma >= NOISY_SIGMA:
            out.append(f"noisy (about {self.noise_sigma:.0f})")
        if self.jpeg_quality is not None and self.jpeg_quality <= JPEG_MAX_QUALITY:
            if self.jpeg_source == "file":
                out.append(f"saved as JPEG quality {self.jpeg_quality:.0f}")
            else:
                out.append(f"once saved as JPEG (quality about {self.jpeg_quality:.0f})")
        if self.blur >= BLURRY and self.noise_sigma < BLUR_NOISE_LIMIT:
            out.append("soft or blurred")
        if max(self.width, self.height) < SMALL_SIDE:
            out.append(f"small ({self.width}x{self.height})")
        return out

    def summary(self) -> str:
        """One line, e.g. "Noisy (about 12), saved as JPEG quality 60: Remove JPEG
        artifacts, then Denoise"."""
        found = self.findings()
        head = ", ".join(found) if found else "Looks clean"
        head = head[0].upper() + head[1:]
        if not self.steps:
            return f"{head}: nothing to do"
        return f"{head}: " + ", then ".join(s.label for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["megapixels"] = round(self.megapixels, 3)
        d["primary"] = self.primary
        d["summary"] = self.summary()
        d["steps"] = [asdict(s) for s in self.steps]
        return d


def blur_measure(rgb: np.ndarray) -> float:
    """Crete et al. 2007 on the luma: 0 (sharp) to 1 (very blurred)."""
    f = np.asarray(rgb, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    worst = 0.0
    for axis, ksize in ((0, (1, 9)), (1, (9, 1))):
        b = cv2.blur(f, ksize)
        df = np.abs(np.diff(f, axis=axis))
        db = np.abs(np.diff(b, axis=axis))
        s_f = float(df.sum())
        if s_f <= 1e-9:
            continue  # a flat picture: no evidence either way
        s_v = float(np.maximum(0.0, df - db).sum())
        worst = max(worst, (s_f - s_v) / s_f)
    return worst


def analyze(rgb: np.ndarray, meta: Any = None) -> Analysis:
    """Measure a photo (RGB float32 in [0, 1]) and plan the steps (see the module doc)."""
    from deconv_gui.core.jpeg_quality import estimate_quality_from_pixels
    from deconv_gui.core.noise import estimate_noise_sigma

    h, w = int(rgb.shape[0]), int(rgb.shape[1])
    raw = (getattr(meta, "extra", None) or {}).get("raw")
    raw_snr = _raw_snr(raw) if raw is not None and getattr(raw, "is_bayer", False) else None
    sigma = float(estimate_noise_sigma(rgb))
    q = (getattr(meta, "extra", None) or {}).get("jpeg_quality")
    source = "file" if q is not None else None
    if q is None:
        q = estimate_quality_from_pixels(rgb)
        source = "pixels" if q is not None else None
    blur = blur_measure(rgb)
    steps: list[Step] = []
    if raw_snr is not None:  # the sensor data: denoised there, before the development
        q = source = None
        if raw_snr < RAW_NOISY_SNR:
            steps.append(Step("raw-denoise", None, "Denoise the RAW data"))
    elif q is not None and q <= JPEG_MAX_QUALITY:
        steps.append(Step("jpeg", float(round(q)), "Remove JPEG artifacts"))
    if raw_snr is None and sigma >= NOISY_SIGMA:
        steps.append(Step("denoise", float(round(sigma)), "Denoise"))
    if blur >= BLURRY and sigma < BLUR_NOISE_LIMIT:
        steps.append(Step("deblur", None, "Sharpen"))
    side = max(h, w)
    if side < SMALL_SIDE:
        scale = 4 if side < TINY_SIDE else 2
        steps.append(Step("upscale", None, f"Upscale x{scale}", scale=scale))
    md = getattr(raw, "metadata", None) if raw is not None else None
    return Analysis(
        w, h, sigma, None if q is None else float(q), source, blur, tuple(steps), raw_snr,
        camera=None if md is None else (md.make, md.model),
        iso=None if md is None else md.iso,
    )  # fmt: skip


def _raw_snr(raw: Any) -> float:
    """Signal-to-noise ratio of a Bayer RAW file's sensor data at its median brightness
    (`core.raw_noise.estimate_profile` on the packed planes)."""
    from deconv_gui.core.raw import pack_bayer
    from deconv_gui.core.raw_noise import estimate_profile

    planes = pack_bayer(raw.normalized(clip=False), raw.cfa)
    level = max(float(np.median(planes)), 1e-4)
    std = float(np.sqrt(estimate_profile(planes).variance(np.float32(level))))
    return level / max(std, 1e-9)
