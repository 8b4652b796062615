"""Regenerate resources/sample/sample.jpg, the photo the app offers to try things on.

Source: scikit-image's ``coffee`` image (CC0, photo by Rachel Michetti; see
resources/sample/LICENSE.md). The app's default action is denoising, so the sample gets
realistic, seeded camera noise: Poisson (shot) noise plus Gaussian read noise, added in
linear light as a sensor would, then converted back to sRGB. EXIF (maker, model, date, a
description, the licence) and an sRGB ICC profile are embedded, as a camera would.

Needs scikit-image (a dev dependency):  python scripts/make_sample.py
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from deconv_gui.core.image import ImageMeta  # noqa: E402
from deconv_gui.core.io import load_image, save_image  # noqa: E402

OUT = ROOT / "resources" / "sample" / "sample.jpg"

SEED = 20240615
PEAK = 300.0  # photo-electrons at full scale: sets the Poisson (signal-dependent) part
READ_NOISE = 0.004  # Gaussian read noise, standard deviation in linear units
QUALITY = 95
DATE = "2024:06:15 10:30:00"
DESCRIPTION = (
    "Coffee cup with simulated camera noise (Poisson-Gaussian, seeded). "
    "Source: scikit-image sample 'coffee', CC0, photo by Rachel Michetti."
)


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def add_camera_noise(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson-Gaussian noise in linear light, independent per channel and pixel."""
    lin = srgb_to_linear(rgb.astype(np.float64))
    shot = rng.poisson(lin * PEAK) / PEAK
    noisy = shot + rng.normal(0.0, READ_NOISE, lin.shape)
    return linear_to_srgb(noisy).astype(np.float32)


def srgb_profile() -> bytes:
    """LittleCMS's sRGB profile with a fixed creation date (it stamps the current time), so
    that the sample is reproducible byte for byte. Its profile ID is zero, so no checksum."""
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    assert icc[84:100] == bytes(16), "profile ID set: the date cannot be patched"
    icc[24:36] = struct.pack(">6H", 2024, 6, 15, 10, 30, 0)
    return bytes(icc)


def camera_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010E] = DESCRIPTION  # ImageDescription
    exif[0x010F] = "Deconv GUI"  # Make
    exif[0x0110] = "sample"  # Model
    exif[0x0131] = "deconv-gui scripts/make_sample.py"  # Software
    exif[0x0132] = DATE  # DateTime
    exif[0x013B] = "Rachel Michetti"  # Artist
    exif[0x8298] = "CC0 1.0 (public domain dedication), Rachel Michetti"  # Copyright
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = DATE  # DateTimeOriginal
    sub[0x9004] = DATE  # DateTimeDigitized
    return exif.tobytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    from skimage import data  # dev dependency, only needed here

    clean = data.coffee().astype(np.float32) / 255.0
    noisy = add_camera_noise(clean, np.random.default_rng(SEED))
    meta = ImageMeta(
        format="JPEG", exif=camera_exif(), icc_profile=srgb_profile(), extra={"dpi": (300, 300)}
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out = save_image(args.out, noisy, meta, overwrite=True, quality=QUALITY)

    back = load_image(out).rgb
    noise = back - clean
    psnr = 10 * np.log10(1.0 / float(np.mean(noise.astype(np.float64) ** 2)))
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB), {back.shape[1]}x{back.shape[0]}")
    print(f"noise: std {noise.std() * 255:.1f}/255, PSNR vs clean {psnr:.2f} dB")


if __name__ == "__main__":
    main()
