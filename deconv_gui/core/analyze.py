"""Look at a photo and suggest what to do with it, in plain words.

`analyze(rgb, meta)` measures:

* **noise**: the noise level (sigma on the 0-255 scale) by the patch-PCA estimator of
  `core.noise` (the denoisers' own Auto) and, given a ``denoiser`` (the app's default), how
  much that denoiser on Auto takes out of a few crops (`noise_removed`). The estimator
  assumes white noise: noise as a camera makes it (demosaicked, sharpened, JPEG-compressed:
  spatially correlated) reads far too low, while the camera-noise denoiser removes it. What
  the denoiser removes is measured where its result is smooth (`removed_rms`): noise is
  there as much as anywhere, while the fine texture a denoiser also softens (fur, foliage,
  fabric) is not, so a clean but busy photo is not read as noisy. Blocking and ringing read
  as noise there too: on a photo whose JPEG step comes first (quality below `NOISY_JPEG`),
  the denoiser measures again on the JPEG remover's result (``jpeg_remover``), and that
  reading decides the Denoise step (`NOISY_AFTER_JPEG`);
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

import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

if TYPE_CHECKING:
    from deconv_gui.core.spec import RestoreSpec

_log = logging.getLogger(__name__)

#: noise sigma (0-255) from which a photo is called noisy
NOISY_SIGMA = 4.0
#: or: RMS (0-255) of what the default denoiser on Auto removes from the smooth parts of
#: the photo's crops (`removed_rms`; Gaussian noise of sigma 4 loses a little more than
#: this there: about the same line for white noise)
NOISY_REMOVED = 3.5
#: where the JPEG step comes first (quality below NOISY_JPEG), the probe measures again on
#: the JPEG remover's result (blocking and ringing read as noise to the denoiser: a clean
#: photo saved at quality 10 read up to 4.2), and this line decides the Denoise step. On 12
#: CBSD68 photos (`benchmarks/jpeg_then_denoise.py`), a Denoise after the JPEG step gained
#: -0.05 to 0.00 dB on clean photos saved at quality 10-40, -0.03 to -0.02 at ISO 800,
#: +0.10 to +0.50 at ISO 3200 and +1.1 to +2.3 at ISO 12800 (quality 30-60); the second
#: reading was 0.20-0.53, 0.27-1.09, 0.44-4.77 and 1.56-11.65 there. This line: 0.496 dB a
#: photo against 0.498 with a Denoise wherever the first reading says noisy, with 60
#: Denoise steps instead of 70 (those it leaves out do nothing or soften)
NOISY_AFTER_JPEG = 0.8
#: the smooth parts: this fraction of each crop's pixels with the least gradient in the
#: denoised result, among those not within CLIP_MARGIN (0-255) of black or white (clipped
#: areas hold no noise); a crop with less than SMOOTH_MIN_UNCLIPPED unclipped is measured whole
SMOOTH_FRACTION = 0.25
CLIP_MARGIN = 12
SMOOTH_MIN_UNCLIPPED = 0.2
#: the crops that measure it: up to PROBE_CROPS squares of PROBE_SIDE px (median of their
#: RMS; PROBE_MARGIN px of each border left out); photos smaller than one are not probed
PROBE_SIDE = 256
PROBE_CROPS = 3
PROBE_MARGIN = 8
#: a noisy JPEG of this quality or better gets no JPEG step, only the denoiser: the default
#: (camera-noise) denoiser was trained on noisy JPEGs of quality 70-95, and running the JPEG
#: remover before it measured the same or lower on camera noise from quality 75 at ISO 3200
#: and at every quality at ISO 12800 (`benchmarks/camera_jpeg_chain.py`); the quality read
#: from the pixels of a noisy photo comes out a little low, hence 70, not 75
NOISY_JPEG = 70.0
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
#: photos whose short side is below this are not judged noisy or clean: on so few pixels
#: the estimate takes fine detail for noise (Kodak24 and CBSD68 downscaled, clean, read
#: noisy at a short side of 24 / 32 / 48 px in 86 / 68 / 25 % of photos, 13 % at 64 and
#: 4-9 % at 80-128; `benchmarks/small_photo_noise.py`), and a thumbnail is not worth a Denoise
NOISE_MIN_SIDE = 64
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
    #: RAW files: the noise measured on the sensor data as the ISO of a full-frame camera
    #: with as much shot noise (`core.auto_setting.raw_iso_equivalent`: the RAW denoiser's
    #: Auto says the same)
    raw_noise_iso: float | None = None
    #: RAW files: the camera (make, model) and ISO (a model tuned on that camera is chosen)
    camera: tuple[str | None, str | None] | None = None
    iso: float | None = None
    #: RMS (0-255) of what the default denoiser removes (`noise_removed`); None: not measured
    noise_removed: float | None = None
    #: the same after the JPEG remover, where its step comes first and the reading above
    #: says noisy (`NOISY_AFTER_JPEG`); None: not measured
    noise_after_jpeg: float | None = None

    @property
    def noise_judged(self) -> bool:
        """False for photos too small to tell noise from fine detail (`NOISE_MIN_SIDE`)."""
        return _noise_judged(self.width, self.height)

    @property
    def noisy(self) -> bool:
        """Noisy by the estimate, or by what the denoiser removes (camera noise)."""
        return self.noise_judged and _noisy(
            self.noise_sigma, self.noise_removed, self.noise_after_jpeg
        )

    @property
    def noise_level(self) -> float:
        """The noise level named to the user: the larger of the two readings (the estimate
        alone where the probe's reading was JPEG artifacts)."""
        return _noise_level(self.noise_sigma, self.noise_removed, self.noise_after_jpeg)

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    @property
    def primary(self) -> str:
        """The task of the first step ("none" when the photo needs nothing)."""
        return self.steps[0].task if self.steps else "none"

    def raw_noise_words(self) -> str:
        """A RAW file's noise in a photographer's words: as a full-frame ISO (the RAW
        denoiser's Auto says the same), else its signal to noise."""
        from deconv_gui.core.auto_setting import raw_noise_words

        if self.raw_noise_iso is not None:
            return raw_noise_words(self.raw_noise_iso)
        return f"signal to noise about {self.raw_snr or 0:.0f}:1"

    def findings(self) -> list[str]:
        out = []
        if self.raw_snr is not None:
            noisy = self.raw_snr < RAW_NOISY_SNR
            out.append(f"camera RAW, {'noisy' if noisy else 'clean'} ({self.raw_noise_words()})")
        elif self.noisy:
            out.append(f"noisy (about {self.noise_level:.0f})")
        if self.jpeg_quality is not None and self.jpeg_quality <= JPEG_MAX_QUALITY:
            if self.jpeg_source == "file":
                out.append(f"saved as JPEG quality {self.jpeg_quality:.0f}")
            else:
                out.append(f"once saved as JPEG (quality about {self.jpeg_quality:.0f})")
        if self.blur >= BLURRY and self.noise_level < BLUR_NOISE_LIMIT:
            out.append("soft or blurred")
        if max(self.width, self.height) < SMALL_SIDE:
            size = f"{self.width}x{self.height}"
            if not self.noise_judged and self.raw_snr is None:
                size += ": too few pixels to tell noise from detail"
            out.append(f"small ({size})")
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
        d["noise_judged"] = self.noise_judged
        d["summary"] = self.summary()
        d["steps"] = [asdict(s) for s in self.steps]
        return d


def _luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of RGB (float32, the input's scale)."""
    return np.asarray(rgb, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def blur_measure(rgb: np.ndarray) -> float:
    """Crete et al. 2007 on the luma: 0 (sharp) to 1 (very blurred)."""
    f = _luma(rgb)
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


def analyze(
    rgb: np.ndarray,
    meta: Any = None,
    *,
    denoiser: RestoreSpec | None = None,
    jpeg_remover: RestoreSpec | None = None,
) -> Analysis:
    """Measure a photo (RGB float32 in [0, 1]) and plan the steps (see the module doc).
    ``denoiser``: the default denoiser, whose Auto result on a few crops also measures the
    noise (`noise_removed`); without one only the estimator does. ``jpeg_remover``: the
    default JPEG artifact remover; where its step is planned before a Denoise that only the
    probe asks for, the probe measures again on its result (blocking and ringing read as
    noise to the denoiser, and a clean photo saved at quality 20 was told to be denoised)."""
    from deconv_gui.core.jpeg_quality import estimate_quality_from_pixels
    from deconv_gui.core.noise import estimate_noise_sigma

    h, w = int(rgb.shape[0]), int(rgb.shape[1])
    raw = (getattr(meta, "extra", None) or {}).get("raw")
    raw_snr = raw_iso = None
    if raw is not None and getattr(raw, "is_bayer", False):
        raw_snr, raw_iso = _raw_snr(raw)
    sigma = float(estimate_noise_sigma(rgb))
    q = (getattr(meta, "extra", None) or {}).get("jpeg_quality")
    source = "file" if q is not None else None
    if q is None:
        q = estimate_quality_from_pixels(rgb)
        source = "pixels" if q is not None else None
    blur = blur_measure(rgb)
    removed = None
    if raw_snr is None and denoiser is not None and sigma < NOISY_SIGMA and min(h, w) >= PROBE_SIDE:
        # (a photo smaller than one crop is most often a downscaled one, whose fine detail
        # the denoiser takes for noise)
        removed = noise_removed(rgb, denoiser, meta)
    after = None
    if (
        removed is not None
        and removed >= NOISY_REMOVED
        and jpeg_remover is not None
        and denoiser is not None
        and q is not None
        and q < NOISY_JPEG
    ):
        # the JPEG step comes first whatever the noise (below NOISY_JPEG): what is left for
        # a denoiser after it decides the Denoise step
        after = noise_removed(rgb, denoiser, meta, first=jpeg_remover)
    judged = _noise_judged(w, h)
    noisy = raw_snr is None and judged and _noisy(sigma, removed, after)
    # noise the estimate misses but the denoiser removes: correlated, as a camera makes it
    camera_noise = noisy and sigma < NOISY_SIGMA
    steps: list[Step] = []
    if raw_snr is not None:  # the sensor data: denoised there, before the development
        q = source = None
        if raw_snr < RAW_NOISY_SNR:
            steps.append(Step("raw-denoise", None, "Denoise the RAW data"))
    elif q is not None and q <= JPEG_MAX_QUALITY and not (noisy and q >= NOISY_JPEG):
        steps.append(Step("jpeg", float(round(q)), "Remove JPEG artifacts"))
    if raw_snr is None and judged and sigma >= NOISY_SIGMA:
        steps.append(Step("denoise", float(round(sigma)), "Denoise"))
    elif raw_snr is None and camera_noise:
        # the denoiser's own Auto (it was trained with that reading on such noise), not a level
        steps.append(Step("denoise", None, "Denoise"))
    if blur >= BLURRY and _noise_level(sigma, removed, after) < BLUR_NOISE_LIMIT:
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
        noise_removed=removed, noise_after_jpeg=after, raw_noise_iso=raw_iso,
    )  # fmt: skip


def _noise_judged(width: int, height: int) -> bool:
    """The rule behind `Analysis.noise_judged` and the plan (`NOISE_MIN_SIDE`)."""
    return min(width, height) >= NOISE_MIN_SIDE


def _noisy(sigma: float, removed: float | None, after: float | None = None) -> bool:
    """The rule behind `Analysis.noisy` and the plan: either reading over its line; where
    the probe measured again after the JPEG step, that reading decides for the probe."""
    if sigma >= NOISY_SIGMA:
        return True
    if after is not None:
        return after >= NOISY_AFTER_JPEG
    return (removed or 0.0) >= NOISY_REMOVED


def _noise_level(sigma: float, removed: float | None, after: float | None = None) -> float:
    """The larger of the estimate and what the denoiser removes (`Analysis.noise_level`);
    the estimate alone where the probe's first reading turned out to be JPEG artifacts."""
    if after is not None and after < NOISY_AFTER_JPEG:
        return sigma
    return max(sigma, removed or 0.0)


def probe_crops(rgb: np.ndarray) -> list[np.ndarray]:
    """Up to `PROBE_CROPS` squares of `PROBE_SIDE` px: the centre, then the centres of the
    top-left and bottom-right quarters (the whole photo when it is that small)."""
    h, w = rgb.shape[:2]
    side = min(PROBE_SIDE, h, w)
    out, seen = [], set()
    for fy, fx in ((0.5, 0.5), (0.25, 0.25), (0.75, 0.75))[:PROBE_CROPS]:
        y = int(min(max(0, round(fy * h - side / 2)), h - side))
        x = int(min(max(0, round(fx * w - side / 2)), w - side))
        if (y, x) not in seen:
            seen.add((y, x))
            out.append(rgb[y : y + side, x : x + side])
    return out


def removed_rms(before: np.ndarray, after: np.ndarray) -> float:
    """RMS (0-255) of ``before - after`` (RGB in [0, 1]) over the smooth parts of ``after``
    (`SMOOTH_FRACTION` of its unclipped pixels with the least local gradient of luma): what a
    denoiser took out of a crop, not counting texture it softened."""
    after = np.asarray(after, np.float32)
    luma = _luma(after) * 255.0
    gx = cv2.Sobel(luma, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(luma, cv2.CV_32F, 0, 1)
    busy = cv2.GaussianBlur(cv2.magnitude(gx, gy), (0, 0), 2.0)
    ok = (luma > CLIP_MARGIN) & (luma < 255.0 - CLIP_MARGIN)
    if ok.mean() < SMOOTH_MIN_UNCLIPPED:
        ok = np.ones_like(ok)
    smooth = ok & (busy <= np.quantile(busy[ok], SMOOTH_FRACTION))
    d = (np.asarray(before, np.float32) - after)[smooth]
    return float(np.sqrt(np.mean(np.square(d, dtype=np.float64)))) * 255.0


def noise_removed(
    rgb: np.ndarray, denoiser: RestoreSpec, meta: Any = None, *, first: RestoreSpec | None = None
) -> float | None:
    """RMS (0-255) of what `denoiser` on Auto takes out of the smooth parts of the photo
    (`removed_rms`): the median over `probe_crops`, set up on the whole photo as a restore
    is (one noise estimate), on the CPU. ``first``: a model (on Auto, set up on the whole
    photo and its metadata) that runs on the crops before: what the denoiser takes out of
    its result, set up on those results side by side. None when a model cannot run (the
    analysis goes on without it)."""
    from deconv_gui.core.spec import LoadOptions
    from deconv_gui.core.tiling import restore_tiled, run_to_end

    def built(spec: RestoreSpec, whole: np.ndarray, whole_meta: Any) -> Any:
        processor = spec.build(LoadOptions(device="cpu", strength=None))
        prepare = getattr(processor, "prepare", None)
        if callable(prepare):
            prepare(whole, whole_meta)
        return processor

    def run(processor: Any, crop: np.ndarray) -> np.ndarray:
        return run_to_end(restore_tiled(processor, crop, tile_size=max(crop.shape[:2])))

    try:
        crops = probe_crops(np.asarray(rgb, np.float32))
        if first is not None:
            before = built(first, rgb, meta)
            crops = [run(before, c) for c in crops]
            processor = built(denoiser, np.concatenate(crops, axis=1), None)
        else:
            processor = built(denoiser, rgb, meta)
        rms = []
        for crop in crops:
            out = run(processor, crop)
            m = PROBE_MARGIN if min(crop.shape[:2]) > 4 * PROBE_MARGIN else 0
            inner = (slice(m, crop.shape[0] - m), slice(m, crop.shape[1] - m))
            rms.append(removed_rms(crop[inner], out[inner]))
    except Exception as exc:  # noqa: BLE001 - a broken model must not stop the analysis
        which = " then ".join(getattr(s, "id", "?") for s in (first, denoiser) if s is not None)
        _log.warning("noise probe with %s failed: %s", which, exc)
        return None
    return float(np.median(rms))


def _raw_snr(raw: Any) -> tuple[float, float]:
    """(signal-to-noise ratio at the median brightness, full-frame ISO of the shot noise) of
    a Bayer RAW file's sensor data (`core.raw_noise.estimate_profile` on the packed planes,
    as the RAW denoiser's Auto measures it)."""
    from deconv_gui.core.auto_setting import raw_iso_equivalent
    from deconv_gui.core.raw_noise import estimate_profile

    planes = raw.packed(clip=False)
    level = max(float(np.median(planes)), 1e-4)
    profile = estimate_profile(planes)
    std = float(np.sqrt(profile.variance(np.float32(level))))
    return level / max(std, 1e-9), raw_iso_equivalent(profile.shot)
