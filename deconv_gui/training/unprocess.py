"""Synthetic raw data from ordinary photos ("unprocessing", Brooks et al. 2019).

A camera turns its sensor's raw mosaic into a photo by white balance, demosaicking, a colour
matrix, gamma and a tone curve. Running those steps backwards on an sRGB photo gives a
plausible clean raw mosaic; adding Poisson-Gaussian noise (`deconv_gui.core.raw_noise`)
gives its noisy counterpart, so a denoiser for raw data can be trained from ordinary photos.
The steps follow google-research/unprocessing (Brooks, Mildenhall, Xue, Chen, Sharlet,
Barron: "Unprocessing Images for Learned Raw Denoising", CVPR 2019):

1. inverse tone curve (the smoothstep ``3x^2 - 2x^3``) and inverse gamma (``x^2.2``);
2. inverse colour matrix: sRGB -> camera RGB with a random camera matrix (a random convex
   mix of four real cameras' XYZ->camera matrices, rows normalised to sum to 1);
3. inverse white balance and brightness (red gain U(1.9, 2.4), blue U(1.5, 1.9), overall
   1 / N(0.8, 0.1)), with highlights kept from clipping;
4. the Bayer mosaic, packed as four half-resolution planes in (R, G1, G2, B) order (RGGB;
   readers repack other layouts into this order).

`forward_process` runs the camera's steps (white balance, a bilinear demosaic, colour
matrix, gamma, tone curve) for scoring on rendered images. Everything is batched torch on
the CPU: (B, 3, H, W) photos in [0, 1], (B, 4, H/2, W/2) packed mosaics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from deconv_gui.core.camera import random_ccm
from deconv_gui.core.raw_noise import LOG_READ_INTERCEPT, LOG_READ_SLOPE, RAW_MAP_SCALE


@dataclass
class CameraParams:
    """The per-image camera of an unprocessed photo (numpy, batch-first)."""

    rgb2cam: np.ndarray  # (B, 3, 3)
    red_gain: np.ndarray  # (B,)
    blue_gain: np.ndarray  # (B,)
    rgb_gain: np.ndarray  # (B,)

    @property
    def cam2rgb(self) -> np.ndarray:
        return np.linalg.inv(self.rgb2cam)


def random_camera(rng: np.random.Generator, n: int) -> CameraParams:
    return CameraParams(
        rgb2cam=np.stack([random_ccm(rng) for _ in range(n)]),
        red_gain=rng.uniform(1.9, 2.4, size=n),
        blue_gain=rng.uniform(1.5, 1.9, size=n),
        rgb_gain=1.0 / np.clip(rng.normal(0.8, 0.1, size=n), 0.5, 1.2),
    )


def random_noise(
    rng: np.random.Generator,
    n: int,
    *,
    shot_min: float = 5e-5,
    shot_max: float = 0.016,
    read_jitter: float = 0.26,
) -> tuple[np.ndarray, np.ndarray]:
    """(shot, read) variances per image: log-uniform shot noise, read noise from Brooks et
    al.'s log-linear relation with Gaussian jitter in the log domain."""
    log_shot = rng.uniform(math.log(shot_min), math.log(shot_max), size=n)
    log_read = LOG_READ_SLOPE * log_shot + LOG_READ_INTERCEPT + rng.normal(0, read_jitter, n)
    return np.exp(log_shot), np.exp(log_read)


def inverse_smoothstep(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0.0, 1.0)
    return 0.5 - torch.sin(torch.asin(1.0 - 2.0 * x) / 3.0)


def smoothstep(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0.0, 1.0)
    return 3.0 * x * x - 2.0 * x * x * x


def _apply_ccm(img: torch.Tensor, ccm: np.ndarray) -> torch.Tensor:
    m = torch.from_numpy(ccm).to(img)  # (B, 3, 3)
    return torch.einsum("bij,bjhw->bihw", m, img)


def _gains(cam: CameraParams, like: torch.Tensor) -> torch.Tensor:
    g = np.stack([cam.red_gain, np.ones_like(cam.red_gain), cam.blue_gain], 1)
    g = g * cam.rgb_gain[:, None]
    return torch.from_numpy(g).to(like).view(-1, 3, 1, 1)


def unprocess(srgb: torch.Tensor, cam: CameraParams) -> torch.Tensor:
    """(B, 3, H, W) sRGB in [0, 1] -> (B, 4, H/2, W/2) clean packed raw in [0, 1]."""
    lin = inverse_smoothstep(srgb).clamp_min(1e-8) ** 2.2
    cam_rgb = _apply_ccm(lin, cam.rgb2cam)
    gains = _gains(cam, cam_rgb)  # what the camera multiplies by: we divide
    gray = cam_rgb.mean(1, keepdim=True)
    mask = ((gray - 0.9).clamp_min(0.0) / 0.1) ** 2
    safe = torch.maximum(mask + (1 - mask) / gains, 1.0 / gains)
    raw = (cam_rgb * safe).clamp(0.0, 1.0)
    return mosaic(raw)


def mosaic(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 4, H/2, W/2) RGGB packed (R, G1, G2, B); odd sides are cropped."""
    h, w = rgb.shape[-2] // 2 * 2, rgb.shape[-1] // 2 * 2
    x = rgb[..., :h, :w]
    return torch.stack(
        [x[:, 0, 0::2, 0::2], x[:, 1, 0::2, 1::2], x[:, 1, 1::2, 0::2], x[:, 2, 1::2, 1::2]], 1
    )


def add_noise(
    clean: torch.Tensor,
    shot: np.ndarray,
    read: np.ndarray,
    gen: torch.Generator | None = None,
) -> torch.Tensor:
    """Poisson-Gaussian noise (Gaussian approximation), variance ``shot * x + read``."""
    s = torch.from_numpy(np.asarray(shot)).to(clean).view(-1, 1, 1, 1)
    r = torch.from_numpy(np.asarray(read)).to(clean).view(-1, 1, 1, 1)
    var = clean.clamp_min(0.0) * s + r
    return clean + torch.randn(clean.shape, generator=gen).to(clean) * var.sqrt()


def quantise(x: torch.Tensor, levels: np.ndarray) -> torch.Tensor:
    """Round to the sensor's ADC steps (``levels`` = white - black, per image); values below
    the black level stay (cameras record them), above the white level clip."""
    lv = torch.from_numpy(np.asarray(levels, np.float64)).to(x).view(-1, 1, 1, 1)
    return (x * lv).round().div(lv).clamp_max(1.0)


def noise_std_map(noisy: torch.Tensor, shot: np.ndarray, read: np.ndarray) -> torch.Tensor:
    """The network's noise input: per-photosite std from the noisy values (as at run time,
    `deconv_gui.core.raw_noise.std_map`)."""
    s = torch.from_numpy(np.asarray(shot)).to(noisy).view(-1, 1, 1, 1)
    r = torch.from_numpy(np.asarray(read)).to(noisy).view(-1, 1, 1, 1)
    return (noisy.clamp_min(0.0) * s + r).clamp_min(1e-12).sqrt() * RAW_MAP_SCALE


def demosaic_bilinear(packed: torch.Tensor) -> torch.Tensor:
    """(B, 4, h, w) RGGB packed -> (B, 3, 2h, 2w) by bilinear interpolation (for scoring)."""
    b, _, h, w = packed.shape
    full = torch.zeros(b, 3, 2 * h, 2 * w, dtype=packed.dtype, device=packed.device)
    mask = torch.zeros_like(full)
    full[:, 0, 0::2, 0::2] = packed[:, 0]
    full[:, 1, 0::2, 1::2] = packed[:, 1]
    full[:, 1, 1::2, 0::2] = packed[:, 2]
    full[:, 2, 1::2, 1::2] = packed[:, 3]
    mask[:, 0, 0::2, 0::2] = 1
    mask[:, 1, 0::2, 1::2] = 1
    mask[:, 1, 1::2, 0::2] = 1
    mask[:, 2, 1::2, 1::2] = 1
    k = torch.tensor([[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]]).to(packed)
    k = k.view(1, 1, 3, 3).repeat(3, 1, 1, 1)
    num = F.conv2d(F.pad(full, (1, 1, 1, 1), mode="reflect"), k, groups=3)
    den = F.conv2d(F.pad(mask, (1, 1, 1, 1), mode="reflect"), k, groups=3)
    return num / den


def forward_process(packed: torch.Tensor, cam: CameraParams) -> torch.Tensor:
    """Camera processing of packed raw: white balance, demosaic, colour matrix, gamma and
    tone curve -> (B, 3, H, W) sRGB in [0, 1]."""
    g = _gains(cam, packed)  # (B, 3, 1, 1) -> per plane R, G, G, B
    wb = packed * torch.cat([g[:, :2], g[:, 1:2], g[:, 2:]], 1)
    rgb = demosaic_bilinear(wb.clamp(0.0, 1.0))
    rgb = _apply_ccm(rgb, cam.cam2rgb).clamp(1e-8, 1.0)
    return smoothstep(rgb ** (1.0 / 2.2))


@dataclass
class RawBatch:
    clean: torch.Tensor  # (B, 4, h, w)
    noisy: torch.Tensor  # (B, 4, h, w)
    std: torch.Tensor  # (B, 4, h, w) network noise input
    shot: np.ndarray
    read: np.ndarray
    cam: CameraParams


def make_raw_batch(
    srgb: torch.Tensor,
    rng: np.random.Generator,
    gen: torch.Generator,
    *,
    shot_min: float = 5e-5,
    shot_max: float = 0.016,
    adc_levels: tuple[float, ...] = (4095 - 256, 16383 - 1024, 16383 - 2048),
    p_clip_black: float = 0.15,
    map_jitter: float = 0.0,
) -> RawBatch:
    """Unprocess a batch of sRGB patches and add random camera noise. Some cameras clip
    their data at the black level (no negative noise): ``p_clip_black`` of the samples."""
    n = srgb.shape[0]
    cam = random_camera(rng, n)
    clean = unprocess(srgb, cam)
    shot, read = random_noise(rng, n, shot_min=shot_min, shot_max=shot_max)
    noisy = add_noise(clean, shot, read, gen)
    noisy = quantise(noisy, rng.choice(np.asarray(adc_levels), size=n))
    clip = torch.from_numpy(rng.random(n) < p_clip_black).view(-1, 1, 1, 1)
    noisy = torch.where(clip, noisy.clamp_min(0.0), noisy)
    std = noise_std_map(noisy, shot, read)
    if map_jitter > 0:
        # the noise measured in a file (Auto) is off by a factor, mostly upwards (texture):
        # for ``map_jitter`` of the samples the map is scaled by 0.8-2 (log-uniform), so the
        # network learns to look at the noise itself too
        factor = np.exp(rng.uniform(np.log(0.8), np.log(2.0), n))
        factor = np.where(rng.random(n) < map_jitter, factor, 1.0)
        std = std * torch.from_numpy(factor).to(std).view(-1, 1, 1, 1)
    return RawBatch(clean, noisy, std, shot, read, cam)
