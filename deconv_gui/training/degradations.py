"""Degradation pipelines that turn clean patches (gt) into training inputs (lq), per task.

Each pipeline takes a batch of clean uint8 patches (B, P, P, 3) and the two seeded random
generators (numpy for per-sample choices, torch for noise fields) and returns a `Batch` of
float32 NCHW tensors. Batch-wide noise is drawn in torch (fast); per-sample work (bicubic
downscale, blur kernels, JPEG) uses the `deconv_gui.core.degrade` primitives.

* denoise: Gaussian noise sigma ~ U(0, 75) (most samples), Poisson-Gaussian, sometimes mild
  JPEG afterwards; quantised to 8 bits like the evaluation inputs. The noise-level map is the
  (effective) sigma / `NOISE_MAP_SCALE`.
* upscale: bicubic (antialiased) downscale by ``scale``, quantised to 8 bits; with
  ``realworld`` the second-order real-world chain of `realworld_lr` (phone and web photos).
* deblur: random Gaussian (sigma 0.5-3, sometimes anisotropic), defocus disk (radius <= 4) or
  linear motion (<= 15 px) kernel, then mild Gaussian noise (sigma <= 3/255), 8-bit; with
  ``wiener_nsr`` (the known-kernel model) the input is the Wiener deconvolution of that.

`RandomDegradation` is a user-written `deconv_gui.core.degrade` spec whose numbers may be
ranges and whose steps may have alternatives (the fine-tune "clean photos" mode draws one
per patch); `effective_sigma` is the noise-map level of a drawn degradation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from deconv_gui.core import degrade as _degrade
from deconv_gui.core.jpeg_quality import quality_map as jpeg_quality_map
from deconv_gui.errors import DeconvError
from deconv_gui.models.networks import NOISE_MAP_SCALE
from deconv_gui.training import _primitives as prim


@dataclass
class Batch:
    lq: torch.Tensor  # (B, 3, h, w) degraded input
    gt: torch.Tensor  # (B, 3, H, W) clean target
    # (B, 1, 1, 1) sigma / NOISE_MAP_SCALE; (B, 4, h, w) per-photosite std for raw; or None
    noise_map: torch.Tensor | None = None


def to_tensor(u8: np.ndarray) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(u8)).permute(0, 3, 1, 2).float().div_(255.0)


def _quantise(x: torch.Tensor) -> torch.Tensor:
    return x.clamp_(0.0, 1.0).mul_(255.0).round_().div_(255.0)


def _jpeg_u8(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover
        return img
    dec = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img if dec is None else np.ascontiguousarray(dec[:, :, ::-1])


def denoise_batch(
    gt_u8: np.ndarray, rng: np.random.Generator, gen: torch.Generator, cfg: dict[str, Any]
) -> Batch:
    gt = to_tensor(gt_u8)
    b = gt.shape[0]
    smax = float(cfg.get("sigma_max", 75.0))
    p_pg = float(cfg.get("p_poisson_gaussian", 0.2))
    p_jpeg = float(cfg.get("p_jpeg", 0.1))
    sig = rng.uniform(0.0, smax, size=b)
    # bias towards the published evaluation levels a little (15, 25, 50)
    fixed = rng.random(b) < float(cfg.get("p_fixed_levels", 0.25))
    sig[fixed] = rng.choice([15.0, 25.0, 50.0], size=int(fixed.sum()))
    # nearly clean samples (sigma 0 to low_sigma_max): what a clean photo looks like at the
    # low noise-map values that weak camera noise also reads as, so that such a photo is
    # left alone rather than smoothed (`p_low`, 0 = none)
    p_low = float(cfg.get("p_low", 0.0))
    if p_low > 0:  # (no draw otherwise: the other configs' random streams stay as they were)
        low = rng.random(b) < p_low
        sig[low] = rng.uniform(0.0, float(cfg.get("low_sigma_max", 3.0)), size=int(low.sum()))
    kind_pg = rng.random(b) < p_pg
    noise = torch.randn(gt.shape, generator=gen)
    std = torch.empty(b, 1, 1, 1)
    lq = gt.clone()
    for i in range(b):
        s = float(sig[i]) / 255.0
        if kind_pg[i]:
            # Poisson-Gaussian with the same mean variance as a Gaussian of sigma s: share
            # a random fraction between signal-dependent (a*x) and constant (b^2) parts.
            frac = float(rng.uniform(0.3, 1.0))
            mean = float(gt[i].mean().clamp_min(0.05))
            a = frac * s * s / mean
            bb = (1.0 - frac) * s * s
            var = (a * gt[i]).add_(bb).clamp_min_(0.0)
            lq[i] += noise[i] * var.sqrt_()
        else:
            lq[i] += noise[i] * s
        std[i] = s * 255.0 / NOISE_MAP_SCALE
    lq = _quantise(lq)
    p_camera = float(cfg.get("p_camera", 0.0))
    if p_camera > 0:  # camera-realistic noise for some samples (replaces theirs)
        for i in np.nonzero(rng.random(b) < p_camera)[0].tolist():
            lq[i], std[i] = _camera_sample(gt_u8[i], rng, cfg)
    p_grain = float(cfg.get("p_grain", 0.0))
    if p_grain > 0:  # coarse noise (film grain, video) for some samples (replaces theirs)
        for i in np.nonzero(rng.random(b) < p_grain)[0].tolist():
            lq[i], std[i] = _grain_sample(gt_u8[i], rng, cfg)
    use_jpeg = rng.random(b) < p_jpeg
    if use_jpeg.any():
        arr = (lq.permute(0, 2, 3, 1).numpy() * 255.0).round().astype(np.uint8)
        for i in np.nonzero(use_jpeg)[0].tolist():
            q = int(rng.integers(int(cfg.get("jpeg_min", 70)), 96))
            lq[i] = torch.from_numpy(_jpeg_u8(arr[i], q).copy()).permute(2, 0, 1).float() / 255.0
    return Batch(lq=lq, gt=gt, noise_map=std)


def _camera_sample(
    gt_u8: np.ndarray, rng: np.random.Generator, cfg: dict[str, Any]
) -> tuple[torch.Tensor, float]:
    """One patch with noise as a camera makes it (`core.camera.simulate_camera`: random
    sensor noise, demosaicking, sharpening and sometimes JPEG) and its map value: what the
    automatic estimate (`core.noise.estimate_noise_sigma`, the app's Auto) reads on it, so
    that Auto gives the network the level it was trained with on such noise."""
    from deconv_gui.core.camera import random_noise_levels, simulate_camera

    shot, read = random_noise_levels(
        rng,
        1,
        shot_min=float(cfg.get("camera_shot_min", 2e-4)),
        shot_max=float(cfg.get("camera_shot_max", 0.02)),
    )
    sharp = rng.random() < 0.7
    jpeg = rng.random() < float(cfg.get("camera_p_jpeg", 0.5))
    out = simulate_camera(
        gt_u8.astype(np.float32) / 255.0,
        rng,
        shot=float(shot[0]),
        read=float(read[0]),
        sharpen_amount=float(rng.uniform(0.2, 1.2)) if sharp else 0.0,
        sharpen_radius=float(rng.uniform(0.5, 1.5)),
        jpeg_quality=int(rng.integers(70, 96)) if jpeg else None,
        method="ea" if rng.random() < 0.7 else "bilinear",
    )
    return _with_reading(np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8))


def _with_reading(u8: np.ndarray) -> tuple[torch.Tensor, float]:
    """A noisy 8-bit patch as a tensor, and its map value: what the automatic estimate
    (`core.noise.estimate_noise_sigma`, the app's Auto) reads on it."""
    from deconv_gui.core.noise import estimate_noise_sigma

    x = u8.astype(np.float32) / 255.0
    reading = estimate_noise_sigma(x, max_patches=2500)
    return torch.from_numpy(x).permute(2, 0, 1), reading / NOISE_MAP_SCALE


def _grain_sample(
    gt_u8: np.ndarray, rng: np.random.Generator, cfg: dict[str, Any]
) -> tuple[torch.Tensor, float]:
    """One patch with coarse noise (`core.degrade.add_grain`: film grain, analogue video,
    noise enlarged with a photo; sigma up to ``grain_sigma_max``, grain 1.25-3 px, partly in
    colour), sometimes fine noise on top and JPEG after, and its map value: what the
    automatic estimate reads on it (much less than its strength), as for camera noise."""
    from deconv_gui.core.degrade import add_gaussian_noise, add_grain

    x = gt_u8.astype(np.float32) / 255.0
    sigma = float(rng.uniform(1.0, float(cfg.get("grain_sigma_max", 20.0))))
    size = float(rng.uniform(1.25, 3.0))
    x = add_grain(x, sigma, size, rng, colour=float(rng.uniform(0.1, 0.6)))
    if rng.random() < 0.5:
        x = add_gaussian_noise(x, float(rng.uniform(0.0, 3.0)), rng)
    u8 = np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
    if rng.random() < float(cfg.get("grain_p_jpeg", 0.5)):
        u8 = _jpeg_u8(u8, int(rng.integers(60, 96)))
    return _with_reading(u8)


def upscale_batch(
    gt_u8: np.ndarray, rng: np.random.Generator, gen: torch.Generator, cfg: dict[str, Any]
) -> Batch:
    """Bicubic downscale, or with ``cfg['realworld']`` the real-world chain `realworld_lr`."""
    scale = int(cfg["scale"])
    if cfg.get("realworld"):
        lq = np.stack([realworld_lr(p, scale, rng, cfg) for p in gt_u8])
    else:
        lq = np.stack([prim.downscale_bicubic_u8(p, scale) for p in gt_u8])
    return Batch(lq=to_tensor(lq), gt=to_tensor(gt_u8))


_INTERPOLATIONS = (cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC)


def _rw_blur(x: np.ndarray, rng: np.random.Generator, sigma_max: float) -> np.ndarray:
    s1 = float(rng.uniform(0.2, sigma_max))
    if rng.random() < 0.4:  # anisotropic, rotated
        k = prim.anisotropic_gaussian_kernel(s1, float(rng.uniform(0.2, s1)), rng.uniform(0, 180))
    else:
        k = prim.gaussian_kernel(s1)
    return cv2.filter2D(x, -1, k[::-1, ::-1], borderType=cv2.BORDER_REFLECT)


def _rw_noise(x: np.ndarray, rng: np.random.Generator, sigma_max: float) -> np.ndarray:
    """Gaussian or signal-dependent (Poisson-like) noise, grey (the same in every channel,
    like luminance noise) for 40 % of the draws; sigma on the 0-255 scale, at mid-grey for
    the signal-dependent kind."""
    sigma = float(rng.uniform(1.0, sigma_max)) / 255.0
    shape = x.shape[:2] + ((1,) if rng.random() < 0.4 else (3,))
    n = rng.standard_normal(shape).astype(np.float32)
    if rng.random() < 0.5:
        return x + n * sigma
    return x + n * np.sqrt(np.clip(x, 0.0, 1.0) / 0.5) * sigma


def _rw_jpeg(x: np.ndarray, rng: np.random.Generator, q_min: int) -> np.ndarray:
    u8 = np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
    q = int(rng.integers(q_min, 96))
    return _jpeg_round_trip(u8, q, bool(rng.random() < 0.3)).astype(np.float32) / 255.0


def realworld_lr(
    hr_u8: np.ndarray, scale: int, rng: np.random.Generator, cfg: dict[str, Any]
) -> np.ndarray:
    """A low-resolution input made as a phone or the web makes one (second-order chain).

    After Real-ESRGAN (Wang et al. 2021) and BSRGAN (Zhang et al. 2021): one or (for
    ``p_second`` of the samples) two rounds of blur, resize, noise and JPEG, each round in
    a random order (BSRGAN's shuffle), then a resize to 1/``scale`` of the clean patch with
    a random interpolation and a last JPEG for ``p_final_jpeg``. ``p_plain`` of the
    samples are the plain bicubic downscale (so clean photos still enlarge sharply).
    Every step is skipped now and then, so mild cases are common too.
    """
    h, w = hr_u8.shape[:2]
    out_hw = (h // scale, w // scale)
    if rng.random() < float(cfg.get("p_plain", 0.1)):
        return prim.downscale_bicubic_u8(hr_u8, scale)
    x: np.ndarray = hr_u8.astype(np.float32) / 255.0
    rounds = 2 if rng.random() < float(cfg.get("p_second", 0.7)) else 1
    for r in range(rounds):
        ops = ["blur", "resize", "noise", "jpeg"]
        rng.shuffle(ops)
        for op in ops:
            if op == "blur" and rng.random() < (0.8 if r == 0 else 0.5):
                x = _rw_blur(x, rng, 2.5 if r == 0 else 1.5)
            elif op == "resize":
                u = rng.random()
                f = (
                    rng.uniform(1.0, 1.3)
                    if u < 0.2
                    else (1.0 if u < 0.3 else rng.uniform(0.5, 1.0))
                )
                ch, cw = x.shape[:2]
                nh = int(np.clip(round(ch * f), out_hw[0], 1.3 * h))
                nw = int(np.clip(round(cw * f), out_hw[1], 1.3 * w))
                x = cv2.resize(x, (nw, nh), interpolation=_INTERPOLATIONS[rng.integers(3)])
            elif op == "noise" and rng.random() < float(cfg.get("p_noise", 0.7)):
                x = _rw_noise(x, rng, float(cfg.get("noise_max", 25.0)) / (1 if r == 0 else 1.5))
            elif op == "jpeg" and rng.random() < (0.6 if r == 0 else 0.4):
                x = _rw_jpeg(x, rng, int(cfg.get("jpeg_min", 30)))
    x = cv2.resize(x, (out_hw[1], out_hw[0]), interpolation=_INTERPOLATIONS[rng.integers(3)])
    if rng.random() < float(cfg.get("p_final_jpeg", 0.7)):
        x = _rw_jpeg(x, rng, int(cfg.get("jpeg_min", 30)))
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def random_blur_kernel(rng: np.random.Generator, cfg: dict[str, Any]) -> np.ndarray:
    p_gauss = float(cfg.get("p_gaussian", 0.5))
    p_disk = float(cfg.get("p_disk", 0.25))
    u = rng.random()
    if u < p_gauss:
        s1 = float(rng.uniform(0.5, float(cfg.get("gauss_sigma_max", 3.0))))
        if rng.random() < 0.3:  # anisotropic, rotated
            s2 = float(rng.uniform(0.5, s1))
            return prim.anisotropic_gaussian_kernel(s1, s2, float(rng.uniform(0, 180)))
        return prim.gaussian_kernel(s1)
    if u < p_gauss + p_disk:
        return prim.disk_kernel(float(rng.uniform(1.0, float(cfg.get("disk_radius_max", 4.0)))))
    length = float(rng.uniform(3.0, float(cfg.get("motion_max", 15.0))))
    return prim.motion_kernel(length, float(rng.uniform(0.0, 180.0)))


def deblur_batch(
    gt_u8: np.ndarray, rng: np.random.Generator, gen: torch.Generator, cfg: dict[str, Any]
) -> Batch:
    """gt_u8 patches carry a margin of ``cfg['margin']`` px that is blurred then cut away.

    With ``cfg['wiener_nsr']`` (the known-kernel deblur model) the noisy 8-bit patch is
    Wiener-deconvolved with its own kernel at that noise-to-signal ratio before the margin
    is cut: the network learns to clean up what the Wiener filter leaves (ringing, amplified
    noise), as in Schuler et al. 2013 ("A machine learning approach for non-blind image
    deconvolution").
    """
    m = int(cfg.get("margin", 16))
    gt_f = gt_u8.astype(np.float32) / 255.0
    kernels = [random_blur_kernel(rng, cfg) for _ in range(len(gt_f))]
    blurred = np.stack([prim.blur(p, k) for p, k in zip(gt_f, kernels, strict=True)])
    if not cfg.get("wiener_nsr"):  # the noise is drawn for the cut patch
        gt, lq = _cut_margin(gt_f, blurred, m)
        return Batch(lq=_noisy_8bit(lq, rng, gen, cfg), gt=gt)
    from deconv_gui.models.classical import wiener_deconvolve

    nsr = float(cfg["wiener_nsr"])
    noisy = _noisy_8bit(torch.from_numpy(blurred), rng, gen, cfg).numpy()
    lq_np = np.stack([wiener_deconvolve(p, k, nsr) for p, k in zip(noisy, kernels, strict=True)])
    gt, lq = _cut_margin(gt_f, lq_np, m)
    return Batch(lq=lq, gt=gt)


def _cut_margin(gt_f: np.ndarray, lq_np: np.ndarray, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, P, P, 3) clean and degraded patches without their ``m`` px margin, as NCHW."""
    if m:
        gt_f, lq_np = gt_f[:, m:-m, m:-m], lq_np[:, m:-m, m:-m]
    gt = torch.from_numpy(np.ascontiguousarray(gt_f)).permute(0, 3, 1, 2)
    return gt, torch.from_numpy(np.ascontiguousarray(lq_np)).permute(0, 3, 1, 2)


def _noisy_8bit(
    x: torch.Tensor, rng: np.random.Generator, gen: torch.Generator, cfg: dict[str, Any]
) -> torch.Tensor:
    """Gaussian noise of sigma ~ U(0, noise_max)/255 per sample, then 8-bit levels."""
    b = x.shape[0]
    sig = torch.from_numpy(rng.uniform(0.0, float(cfg.get("noise_max", 3.0)), size=b)).float()
    return _quantise(x + torch.randn(x.shape, generator=gen) * (sig / 255.0).view(b, 1, 1, 1))


def _jpeg_round_trip(img: np.ndarray, quality: int, chroma_444: bool) -> np.ndarray:
    factor = (
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444 if chroma_444 else cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420
    )
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality), cv2.IMWRITE_JPEG_SAMPLING_FACTOR, factor]
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[:, :, ::-1]), params)
    dec = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
    if dec is None:  # pragma: no cover - libjpeg does not fail on uint8 input
        return img
    return np.ascontiguousarray(dec[:, :, ::-1])


def jpeg_batch(
    gt_u8: np.ndarray, rng: np.random.Generator, gen: torch.Generator, cfg: dict[str, Any]
) -> Batch:
    """Real JPEG round trips (libjpeg through OpenCV) of the clean patches.

    ``gt_u8`` carries a margin of 16 px: the patch is cut from the decoded image at a random
    offset, so the 8x8 grid falls anywhere in it (tiles of a photo do not start on the grid
    either). Quality ~ U(q_min, q_max), 4:4:4 chroma for ``p_444`` of the samples (else
    4:2:0), and ``p_double`` of them compressed twice, the second time on a grid shifted by
    1-7 px with another quality. The model's quality input is the last compression's (what
    Auto reads from a file's quantisation tables).
    """
    m = 16
    p = gt_u8.shape[1] - m
    qmin, qmax = int(cfg.get("q_min", 5)), int(cfg.get("q_max", 95))
    lq = np.empty((gt_u8.shape[0], p, p, 3), np.uint8)
    gt = np.empty_like(lq)
    qmap = torch.empty(gt_u8.shape[0], 1, 1, 1)
    for i, clean in enumerate(gt_u8):
        q = int(rng.integers(qmin, qmax + 1))
        c444 = bool(rng.random() < float(cfg.get("p_444", 0.3)))
        if rng.random() < float(cfg.get("p_double", 0.25)):
            first = _jpeg_round_trip(clean, int(rng.integers(qmin, qmax + 1)), c444)
            dy, dx = (int(v) for v in rng.integers(1, 8, size=2))
            second = _jpeg_round_trip(first[dy:, dx:], q, bool(rng.random() < 0.3))
            dec = np.zeros_like(clean)
            dec[dy:, dx:] = second
            oy, ox = dy + int(rng.integers(0, m - dy + 1)), dx + int(rng.integers(0, m - dx + 1))
        else:
            dec = _jpeg_round_trip(clean, q, c444)
            oy, ox = (int(v) for v in rng.integers(0, m + 1, size=2))
        lq[i] = dec[oy : oy + p, ox : ox + p]
        gt[i] = clean[oy : oy + p, ox : ox + p]
        qmap[i] = jpeg_quality_map(q)
    return Batch(lq=to_tensor(lq), gt=to_tensor(gt), noise_map=qmap)


def raw_denoise_batch(
    gt_u8: np.ndarray, rng: np.random.Generator, gen: torch.Generator, cfg: dict[str, Any]
) -> Batch:
    """Synthetic raw (`deconv_gui.training.unprocess`): the clean (B, 2P, 2P, 3) sRGB
    patches unprocessed to packed (B, 4, P, P) mosaics with random camera noise; the noise
    input is the per-photosite standard deviation map (B, 4, P, P)."""
    from deconv_gui.training.unprocess import make_raw_batch

    rb = make_raw_batch(
        to_tensor(gt_u8),
        rng,
        gen,
        shot_min=float(cfg.get("shot_min", 5e-5)),
        shot_max=float(cfg.get("shot_max", 0.016)),
        p_clip_black=float(cfg.get("p_clip_black", 0.15)),
        map_jitter=float(cfg.get("map_jitter", 0.0)),
    )
    return Batch(lq=rb.noisy, gt=rb.clean, noise_map=rb.std)


PIPELINES = {
    "denoise": denoise_batch,
    "upscale": upscale_batch,
    "deblur": deblur_batch,
    "raw-denoise": raw_denoise_batch,
    "jpeg": jpeg_batch,
}


def patch_size_for(task: str, cfg: dict[str, Any], patch: int) -> int:
    """Size of the clean crop the pipeline needs for an output patch of ``patch`` px."""
    if task == "deblur":
        return patch + 2 * int(cfg.get("margin", 16))
    if task == "raw-denoise":  # the packed mosaic has half the side of the photo patch
        return 2 * patch
    if task == "jpeg":  # a margin to put the 8x8 grid anywhere in the patch
        return patch + 16
    return patch


# ------------------------------------------------------------- user-written random specs

_RANGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*$")
_Field = tuple[float, float] | str


class RandomDegradation:
    """A degradation spec whose numbers may be ranges and whose steps may have alternatives.

    ``noise=10-30,jpeg=40-80`` draws sigma in [10, 30] and a quality in [40, 80] for each
    patch; ``blur=gaussian:0.5-2|disk:1-3`` picks a kernel kind, then its size. Whole-number
    fields (JPEG quality, downscale) are drawn as integers. `sample(rng)` gives a plain
    `deconv_gui.core.degrade.Degradation`; the spec is checked by parsing its extremes
    (`DeconvError` for a bad one).
    """

    _INT_STEPS = ("jpeg", "downscale")

    def __init__(self, spec: str) -> None:
        self.spec = str(spec).strip()
        self.steps: list[tuple[str, list[list[_Field]]]] = []
        for item in (s.strip() for s in self.spec.split(",")):
            name, sep, value = (x.strip() for x in item.partition("="))
            if not sep:
                _degrade.parse_spec(self.spec)  # raises the standard message
            alts = []
            for alt in value.split("|"):
                fields: list[_Field] = []
                for f in alt.split(":"):
                    m = _RANGE_RE.match(f)
                    if m:
                        lo, hi = float(m.group(1)), float(m.group(2))
                        fields.append((min(lo, hi), max(lo, hi)))
                    else:
                        fields.append(f.strip())
                alts.append(fields)
            self.steps.append((name.lower(), alts))
        for end in (min, max):  # both ends of every range must be valid
            for a in range(max(len(alts) for _, alts in self.steps)):
                _degrade.parse_spec(self._text(end, a))
        scales = {self.sample(np.random.default_rng(i)).scale for i in range(4)}
        if len(scales) != 1:
            raise DeconvError(f"degradation {self.spec!r}: the downscale factor must be fixed")
        self.scale = scales.pop()
        self.has_blur = any(name == "blur" for name, _ in self.steps)

    def _text(
        self,
        draw: Callable[[float, float], float],
        alt: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> str:
        parts = []
        for name, alts in self.steps:
            if alt is not None:
                fields = alts[min(alt, len(alts) - 1)]
            else:
                assert rng is not None
                fields = alts[int(rng.integers(0, len(alts)))] if len(alts) > 1 else alts[0]
            vals = []
            for f in fields:
                if isinstance(f, tuple):
                    v = draw(*f)
                    vals.append(str(round(v)) if name in self._INT_STEPS else f"{v:.4g}")
                else:
                    vals.append(f)
            parts.append(f"{name}={':'.join(vals)}")
        return ",".join(parts)

    def sample(self, rng: np.random.Generator) -> _degrade.Degradation:
        return _degrade.parse_spec(self._text(lambda lo, hi: rng.uniform(lo, hi), rng=rng))

    def __str__(self) -> str:
        return self.spec


def checked_degradation(spec: str, scale: int) -> RandomDegradation:
    """`RandomDegradation` for a model of ``scale``: an upscaler's missing downscale step is
    added; a spec that downscales by another factor is refused (`DeconvError`)."""
    if not spec.strip():
        raise DeconvError("choose a degradation to apply to the clean photos, e.g. noise=20")
    deg = RandomDegradation(spec)
    if deg.scale == 1 and scale > 1:
        deg = RandomDegradation(f"{spec},downscale={scale}")
    if deg.scale != scale:
        raise DeconvError(
            f"the degradation {spec!r} downscales by {deg.scale}, but the model's scale is {scale}"
        )
    return deg


def effective_sigma(deg: _degrade.Degradation, mean: float) -> float:
    """Noise level (0-255) of a degradation for a noise-map network (the training pipeline's
    convention: Gaussian sigmas in quadrature, Poisson-Gaussian as its mean variance at the
    image's ``mean`` brightness)."""
    var = 0.0
    for s in deg.steps:
        if isinstance(s, _degrade.GaussianNoise):
            var += (s.sigma / 255.0) ** 2
        elif isinstance(s, _degrade.PoissonGaussianNoise):
            var += s.a * max(mean, 0.05) + s.b
    return math.sqrt(var) * 255.0
