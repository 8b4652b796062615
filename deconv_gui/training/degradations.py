"""Degradation pipelines that turn clean patches (gt) into training inputs (lq), per task.

Each pipeline takes a batch of clean uint8 patches (B, P, P, 3) and the two seeded random
generators (numpy for per-sample choices, torch for noise fields) and returns a `Batch` of
float32 NCHW tensors. Batch-wide noise is drawn in torch (fast); per-sample work (bicubic
downscale, blur kernels, JPEG) uses the `deconv_gui.core.degrade` primitives.

* denoise: Gaussian noise sigma ~ U(0, 75) (most samples), Poisson-Gaussian, sometimes mild
  JPEG afterwards; quantised to 8 bits like the evaluation inputs. The noise-level map is the
  (effective) sigma / `NOISE_MAP_SCALE`.
* upscale: bicubic (antialiased) downscale by ``scale``, quantised to 8 bits.
* deblur: random Gaussian (sigma 0.5-3, sometimes anisotropic), defocus disk (radius <= 4) or
  linear motion (<= 15 px) kernel, then mild Gaussian noise (sigma <= 3/255), 8-bit.

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
from deconv_gui.errors import DeconvError
from deconv_gui.models.networks import NOISE_MAP_SCALE
from deconv_gui.training import _primitives as prim


@dataclass
class Batch:
    lq: torch.Tensor  # (B, 3, h, w) degraded input
    gt: torch.Tensor  # (B, 3, H, W) clean target
    noise_map: torch.Tensor | None = None  # (B, 1, 1, 1) sigma / NOISE_MAP_SCALE, or None


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
    use_jpeg = rng.random(b) < p_jpeg
    if use_jpeg.any():
        arr = (lq.permute(0, 2, 3, 1).numpy() * 255.0).round().astype(np.uint8)
        for i in np.nonzero(use_jpeg)[0].tolist():
            q = int(rng.integers(int(cfg.get("jpeg_min", 70)), 96))
            lq[i] = torch.from_numpy(_jpeg_u8(arr[i], q).copy()).permute(2, 0, 1).float() / 255.0
    return Batch(lq=lq, gt=gt, noise_map=std)


def upscale_batch(
    gt_u8: np.ndarray, rng: np.random.Generator, gen: torch.Generator, cfg: dict[str, Any]
) -> Batch:
    scale = int(cfg["scale"])
    lq = np.stack([prim.downscale_bicubic_u8(p, scale) for p in gt_u8])
    return Batch(lq=to_tensor(lq), gt=to_tensor(gt_u8))


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
    """gt_u8 patches carry a margin of ``cfg['margin']`` px that is blurred then cut away."""
    m = int(cfg.get("margin", 16))
    gt_f = gt_u8.astype(np.float32) / 255.0
    lq_np = np.stack([prim.blur(p, random_blur_kernel(rng, cfg)) for p in gt_f])
    if m:
        gt_f = gt_f[:, m:-m, m:-m]
        lq_np = lq_np[:, m:-m, m:-m]
    gt = torch.from_numpy(np.ascontiguousarray(gt_f)).permute(0, 3, 1, 2)
    lq = torch.from_numpy(np.ascontiguousarray(lq_np)).permute(0, 3, 1, 2)
    b = gt.shape[0]
    sig = torch.from_numpy(rng.uniform(0.0, float(cfg.get("noise_max", 3.0)), size=b)).float()
    lq = lq + torch.randn(lq.shape, generator=gen) * (sig / 255.0).view(b, 1, 1, 1)
    return Batch(lq=_quantise(lq), gt=gt)


PIPELINES = {"denoise": denoise_batch, "upscale": upscale_batch, "deblur": deblur_batch}


def patch_size_for(task: str, cfg: dict[str, Any], patch: int) -> int:
    """Size of the clean crop the pipeline needs for an output patch of ``patch`` px."""
    if task == "deblur":
        return patch + 2 * int(cfg.get("margin", 16))
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
