"""Degradation primitives for the training pipelines.

Blur kernels and blurring are `deconv_gui.core.degrade`'s (the same code the evaluation and
the CLI use); added here: a rotated anisotropic Gaussian kernel and a fast uint8 bicubic
downscale for patches (Pillow, antialiased, like `core.degrade.downscale_bicubic`).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from deconv_gui.core.degrade import blur, disk_kernel, gaussian_kernel, motion_kernel

__all__ = [
    "anisotropic_gaussian_kernel",
    "blur",
    "disk_kernel",
    "downscale_bicubic_u8",
    "gaussian_kernel",
    "motion_kernel",
]


def anisotropic_gaussian_kernel(s1: float, s2: float, angle_deg: float) -> np.ndarray:
    r = max(1, math.ceil(3.0 * max(s1, s2)))
    y, x = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
    t = math.radians(angle_deg)
    u = x * math.cos(t) + y * math.sin(t)
    v = -x * math.sin(t) + y * math.cos(t)
    k = np.exp(-(u**2) / (2 * s1 * s1) - (v**2) / (2 * s2 * s2))
    return (k / k.sum()).astype(np.float32)


def downscale_bicubic_u8(img: np.ndarray, factor: int) -> np.ndarray:
    """Antialiased bicubic downscale of a uint8 RGB patch (Pillow, close to MATLAB imresize)."""
    h, w = img.shape[:2]
    im = Image.fromarray(img).resize((w // factor, h // factor), Image.Resampling.BICUBIC)
    return np.asarray(im, np.uint8)
