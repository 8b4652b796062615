"""A simulated camera: noise as a camera makes it, for training and measuring denoisers.

Real noise in a photo is not the white Gaussian noise of textbook tables: it starts in the
sensor as independent Poisson-Gaussian noise per photosite (`core.raw_noise`) and then goes
through the camera's processing: demosaicking (which spreads it over neighbouring pixels and
colours), white balance and the colour matrix (which mix and amplify channels), gamma and the
tone curve (which make it depend on brightness), sharpening (which boosts it) and JPEG (which
smears it into blocks). `simulate_camera` runs a clean sRGB photo backwards to a raw mosaic
(Brooks et al. 2019, "Unprocessing images for learned raw denoising": inverse tone curve,
inverse gamma, inverse colour matrix, inverse white balance, mosaic), adds sensor noise and
runs it forwards again through those steps.

The random camera (colour matrix mixed from four real cameras' XYZ->camera matrices, white
balance gains, brightness) follows Brooks et al.; `training.unprocess` has the batched torch
version used to train the RAW denoiser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from deconv_gui.core.raw_noise import LOG_READ_INTERCEPT, LOG_READ_SLOPE, reference_profile

# XYZ -> camera matrices of four cameras (Brooks et al.'s list, from Adobe DNG data)
XYZ2CAMS = np.array(
    [
        [[1.0234, -0.2969, -0.2266], [-0.5625, 1.6328, -0.0469], [-0.0703, 0.2188, 0.6406]],
        [[0.4913, -0.0541, -0.0202], [-0.613, 1.3513, 0.2906], [-0.1564, 0.2151, 0.7183]],
        [[0.838, -0.263, -0.0639], [-0.2887, 1.0725, 0.2496], [-0.0627, 0.1427, 0.5438]],
        [[0.6596, -0.2079, -0.0562], [-0.4782, 1.3016, 0.1933], [-0.097, 0.1581, 0.5181]],
    ]
)
RGB2XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)


@dataclass(frozen=True)
class Camera:
    """One camera's processing: sRGB -> camera RGB matrix and white-balance gains."""

    rgb2cam: np.ndarray  # (3, 3), rows sum to 1
    red_gain: float
    blue_gain: float
    rgb_gain: float  # overall brightness gain

    @property
    def gains(self) -> np.ndarray:
        return np.array([self.red_gain, 1.0, self.blue_gain]) * self.rgb_gain


def random_ccm(rng: np.random.Generator) -> np.ndarray:
    """A random sRGB -> camera matrix (rows sum to 1, so grey stays grey)."""
    weights = rng.uniform(1e-8, 1e8, size=(4, 1, 1))
    xyz2cam = (XYZ2CAMS * weights).sum(0) / weights.sum()
    rgb2cam = xyz2cam @ RGB2XYZ
    return rgb2cam / rgb2cam.sum(axis=-1, keepdims=True)


def random_camera(rng: np.random.Generator) -> Camera:
    return Camera(
        rgb2cam=random_ccm(rng),
        red_gain=float(rng.uniform(1.9, 2.4)),
        blue_gain=float(rng.uniform(1.5, 1.9)),
        rgb_gain=float(1.0 / np.clip(rng.normal(0.8, 0.1), 0.5, 1.2)),
    )


def random_noise_levels(
    rng: np.random.Generator, n: int, *, shot_min: float = 5e-5, shot_max: float = 0.016
) -> tuple[np.ndarray, np.ndarray]:
    """(shot, read) variances: log-uniform shot noise, read noise from Brooks et al.'s
    log-linear relation with Gaussian jitter (0.26) in the log domain."""
    log_shot = rng.uniform(math.log(shot_min), math.log(shot_max), size=n)
    log_read = LOG_READ_SLOPE * log_shot + LOG_READ_INTERCEPT + rng.normal(0, 0.26, n)
    return np.exp(log_shot), np.exp(log_read)


def _inverse_smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return 0.5 - np.sin(np.arcsin(1.0 - 2.0 * x) / 3.0)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return 3.0 * x * x - 2.0 * x * x * x


def unprocess(srgb: np.ndarray, cam: Camera) -> np.ndarray:
    """(H, W, 3) sRGB in [0, 1] -> (H, W) clean RGGB mosaic in [0, 1] (even sides)."""
    h, w = srgb.shape[0] // 2 * 2, srgb.shape[1] // 2 * 2
    lin = np.maximum(_inverse_smoothstep(srgb[:h, :w].astype(np.float64)), 1e-8) ** 2.2
    cam_rgb = lin @ cam.rgb2cam.T
    gains = cam.gains
    gray = cam_rgb.mean(axis=2, keepdims=True)
    mask = (np.maximum(gray - 0.9, 0.0) / 0.1) ** 2
    safe = np.maximum(mask + (1 - mask) / gains, 1.0 / gains)
    raw = np.clip(cam_rgb * safe, 0.0, 1.0)
    mosaic = np.empty((h, w), np.float64)
    mosaic[0::2, 0::2] = raw[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = raw[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = raw[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = raw[1::2, 1::2, 2]
    return mosaic


def demosaic(mosaic: np.ndarray, method: str = "ea") -> np.ndarray:
    """RGGB mosaic in [0, 1] -> (H, W, 3) camera RGB: OpenCV's edge-aware ("ea") or
    bilinear ("bilinear") demosaicking on 16-bit data."""
    m16 = np.clip(np.round(mosaic * 65535.0), 0, 65535).astype(np.uint16)
    # OpenCV names Bayer patterns by the second row's first two pixels: RGGB is "BG"
    code = cv2.COLOR_BayerBG2RGB_EA if method == "ea" else cv2.COLOR_BayerBG2RGB
    rgb = cv2.cvtColor(m16, code)
    return rgb.astype(np.float64) / 65535.0


def process(mosaic: np.ndarray, cam: Camera, *, method: str = "ea") -> np.ndarray:
    """The camera's processing of a (noisy) RGGB mosaic -> (H, W, 3) sRGB in [0, 1]."""
    gains = cam.gains
    wb = mosaic.copy()
    wb[0::2, 0::2] *= gains[0]
    wb[0::2, 1::2] *= gains[1]
    wb[1::2, 0::2] *= gains[1]
    wb[1::2, 1::2] *= gains[2]
    rgb = demosaic(np.clip(wb, 0.0, 1.0), method)
    rgb = np.clip(rgb @ np.linalg.inv(cam.rgb2cam).T, 1e-8, 1.0)
    return _smoothstep(rgb ** (1.0 / 2.2))


def sharpen(rgb: np.ndarray, amount: float, radius: float) -> np.ndarray:
    """Unsharp mask, as in-camera sharpening does."""
    if amount <= 0:
        return rgb
    blur = cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), float(radius))
    return np.clip(rgb + amount * (rgb - blur), 0.0, 1.0)


def jpeg_round_trip(rgb: np.ndarray, quality: int) -> np.ndarray:
    u8 = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    dec = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
    if dec is None:  # pragma: no cover - libjpeg does not fail on uint8 input
        return rgb
    return dec[:, :, ::-1].astype(np.float64) / 255.0


def simulate_camera(
    srgb: np.ndarray,
    rng: np.random.Generator,
    *,
    shot: float,
    read: float,
    sharpen_amount: float = 0.5,
    sharpen_radius: float = 1.0,
    jpeg_quality: int | None = 90,
    method: str = "ea",
    cam: Camera | None = None,
) -> np.ndarray:
    """A clean (H, W, 3) sRGB photo with the noise a camera would have recorded: sensor
    noise (``shot``, ``read``: variances in normalised raw units) in the unprocessed mosaic,
    carried through the camera's processing and sharpening, then saved as JPEG
    (``jpeg_quality`` None: not saved). Returns float32 (H', W', 3) with even sides.

    Only the noise goes through the camera: it is the difference between the processing of
    the noisy and of the clean mosaic, added to the photo itself. So the photo without noise
    is the exact reference (demosaicking and sharpening do not change it), while the noise
    has the camera's structure: spread over neighbours and colours by the demosaicking,
    mixed by the colour matrix, shaped by the tone curve and boosted by sharpening."""
    cam = cam or random_camera(rng)
    clean = unprocess(srgb, cam)
    noisy = clean + rng.standard_normal(clean.shape) * np.sqrt(shot * clean + read)
    noisy = np.round(noisy * 15359.0) / 15359.0  # a 14-bit sensor's steps
    rendered = [
        sharpen(process(m, cam, method=method), sharpen_amount, sharpen_radius)
        for m in (noisy, clean)
    ]
    h, w = clean.shape
    out = np.clip(srgb[:h, :w] + (rendered[0] - rendered[1]), 0.0, 1.0)
    if jpeg_quality is not None:
        out = jpeg_round_trip(out, jpeg_quality)
    return np.asarray(out, np.float32)


def simulate_iso(
    srgb: np.ndarray, iso: float, rng: np.random.Generator, *, jpeg_quality: int | None = 90
) -> np.ndarray:
    """`simulate_camera` with a full-frame camera's noise at ``iso`` (the reference
    profile), default sharpening and JPEG quality: the ``camera=ISO`` degradation."""
    prof = reference_profile(iso)
    return simulate_camera(srgb, rng, shot=prof.shot, read=prof.read, jpeg_quality=jpeg_quality)
