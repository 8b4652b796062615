"""Calibrate nlm-denoise's filter strengths on training photos (never on test sets).

    python benchmarks/calibrate_nlm.py [--data ../shared/data] [--images 6] [--sixteen]

Prints the mean PSNR for (h, hColor) as multiples of the noise sigma at sigma 15, 25, 50.
With --sixteen: the 16-bit path (noise added in float, not rounded to 8 bits; OpenCV's
16-bit NLM with the L1 patch distance), the PSNR for h as a multiple of sigma (x 257), next
to the 8-bit colour NLM on the same data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from deconv_gui.core.io import load_image
from deconv_gui.core.metrics import psnr

FACTORS = ((0.45, 0.8), (0.55, 0.55), (0.55, 0.7), (0.55, 1.1), (0.65, 0.8), (0.8, 0.8), (1.1, 1.1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--sixteen", action="store_true", help="calibrate the 16-bit path")
    args = ap.parse_args()
    folder = Path(args.data) / "train" / "BSD200"
    if not folder.is_dir():
        print(f"training photos not found at {folder}", file=sys.stderr)
        return 1
    clean = [load_image(f).rgb for f in sorted(folder.iterdir())[: args.images]]
    if args.sixteen:
        return _sixteen(clean)
    for sigma in (15, 25, 50):
        rng = np.random.default_rng(0)
        noisy = [
            np.clip(np.round((c + rng.normal(0, sigma / 255, c.shape)) * 255), 0, 255).astype(
                np.uint8
            )
            for c in clean
        ]
        cells = []
        for f, fc in FACTORS:
            scores = [
                psnr(
                    cv2.fastNlMeansDenoisingColored(n, None, f * sigma, fc * sigma, 7, 21) / 255.0,
                    c,
                )
                for n, c in zip(noisy, clean, strict=True)
            ]
            cells.append(f"h={f}s,hc={fc}s: {np.mean(scores):.2f}")
        print(f"sigma {sigma}: " + "  ".join(cells))
    return 0


def _sixteen(clean: list[np.ndarray]) -> int:
    for sigma in (5, 15, 25, 50):
        rng = np.random.default_rng(0)
        noisy = [
            np.clip(c + rng.normal(0, sigma / 255, c.shape), 0, 1).astype(np.float32) for c in clean
        ]
        u8 = [np.clip(np.round(n * 255), 0, 255).astype(np.uint8) for n in noisy]
        colour = np.mean(
            [
                psnr(cv2.fastNlMeansDenoisingColored(n, None, 0.55 * sigma, 0.7 * sigma) / 255, c)
                for n, c in zip(u8, clean, strict=True)
            ]
        )
        cells = [f"8-bit colour: {colour:.2f}"]
        for f in (1.1, 1.2, 1.3, 1.4, 1.5):
            scores = []
            for n, c in zip(noisy, clean, strict=True):
                u16 = np.clip(np.round(n * 65535), 0, 65535).astype(np.uint16)
                out = cv2.fastNlMeansDenoising(u16, [f * sigma * 257], None, 7, 21, cv2.NORM_L1)
                scores.append(psnr(out / 65535.0, c))
            cells.append(f"h={f}s: {np.mean(scores):.2f}")
        print(f"sigma {sigma}: " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
