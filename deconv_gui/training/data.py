"""Training images held in RAM and random augmented patches cropped from them.

The ~36 MP of training images are decoded once into uint8 arrays (plus downscaled copies for
scale jitter); patches are cropped with numpy on the fly, in the training thread (no
DataLoader worker processes: on a 2-core machine they only steal time from the convolutions).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from deconv_gui.core.inputs import expand_inputs


def list_images(folder: str | Path) -> list[Path]:
    """The images of a training folder, sub-folders included (sorted), or the one file
    ``folder`` (`deconv_gui.core.inputs.expand_inputs`)."""
    return expand_inputs([folder], recursive=True).paths


def read_rgb_u8(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB (greyscale is replicated to three channels)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def split_holdout(folders: Sequence[str | Path], holdout: int) -> tuple[list[Path], list[Path]]:
    """(training images, held-out images) from the training folders.

    ``holdout`` images, evenly spaced over the first folder's sorted list, are kept out of
    training and used to monitor validation PSNR/SSIM, so the test sets stay untouched until
    the final evaluation.
    """
    per_folder = [list_images(f) for f in folders]
    if holdout <= 0 or not per_folder or not per_folder[0]:
        return [p for ps in per_folder for p in ps], []
    first = per_folder[0]
    n = min(int(holdout), len(first) - 1)
    picks = {round((i + 0.5) * len(first) / n - 0.5) for i in range(n)} if n > 0 else set()
    held = [p for i, p in enumerate(first) if i in picks]
    train = [p for i, p in enumerate(first) if i not in picks]
    for ps in per_folder[1:]:
        train.extend(ps)
    return train, held


class PatchPool:
    """Images in RAM as uint8; `sample()` returns augmented (B, P, P, 3) uint8 patches.

    Images are picked with probability proportional to their area; each patch gets a random
    flip and a random 90-degree rotation. ``scales`` adds downscaled copies (INTER_AREA) for
    scale jitter.
    """

    def __init__(
        self,
        folders: Sequence[str | Path],
        *,
        scales: Sequence[float] = (1.0,),
        min_side: int = 32,
        max_images: int | None = None,
    ) -> None:
        self.images: list[np.ndarray] = []
        paths: list[Path] = []
        for f in folders:  # a folder (all its images) or one image file
            paths.extend(list_images(f))
        if max_images is not None:
            paths = paths[:max_images]
        if not paths:
            raise FileNotFoundError(f"no training images in {', '.join(map(str, folders))}")
        for p in paths:
            img = read_rgb_u8(p)
            for s in scales:
                if s == 1.0:
                    im = img
                else:
                    h, w = img.shape[:2]
                    size = (max(1, round(w * s)), max(1, round(h * s)))
                    im = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
                if min(im.shape[:2]) >= min_side:
                    self.images.append(np.ascontiguousarray(im))
        areas = np.array([im.shape[0] * im.shape[1] for im in self.images], dtype=np.float64)
        self.weights = areas / areas.sum()
        self.megapixels = float(areas.sum() / 1e6)

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, rng: np.random.Generator, batch: int, patch: int) -> np.ndarray:
        out = np.empty((batch, patch, patch, 3), dtype=np.uint8)
        idx = rng.choice(len(self.images), size=batch, p=self.weights)
        for b, i in enumerate(idx):
            img = self.images[i]
            h, w = img.shape[:2]
            if h < patch or w < patch:  # tiny image: reflect-pad up to the patch size
                img = np.pad(
                    img, ((0, max(0, patch - h)), (0, max(0, patch - w)), (0, 0)), mode="reflect"
                )
                h, w = img.shape[:2]
            y = int(rng.integers(0, h - patch + 1))
            x = int(rng.integers(0, w - patch + 1))
            crop = img[y : y + patch, x : x + patch]
            k = int(rng.integers(0, 8))
            if k & 4:
                crop = crop[:, ::-1]
            out[b] = np.rot90(crop, k & 3)
        return out
