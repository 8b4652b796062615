"""Training images held in RAM and random augmented patches cropped from them.

The ~36 MP of training images are decoded once into uint8 arrays (plus downscaled copies for
scale jitter); patches are cropped with numpy on the fly, in the training thread (no
DataLoader worker processes: on a 2-core machine they only steal time from the convolutions).

The same `PatchPool` serves the fine-tune sources (`deconv_gui.training.finetune`): built
from arrays already in memory (`PatchPool.from_arrays`), optionally with paired targets
``scale`` times larger, any channel count and dtype; `bounded_crops` keeps a large photo's
share of RAM bounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from deconv_gui.core.inputs import expand_inputs


def list_images(folder: str | Path, *, recursive: bool = True) -> list[Path]:
    """The images of a training folder, sub-folders too when ``recursive`` (sorted, hidden
    files skipped), or the one file ``folder`` (`deconv_gui.core.inputs.expand_inputs`)."""
    return expand_inputs([folder], recursive=recursive).paths


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
    """Images in RAM; `sample()` returns augmented (B, P, P, C) patches of their dtype.

    Images are picked with probability proportional to their area; each patch gets a random
    flip and a random 90-degree rotation. ``scales`` adds downscaled copies (INTER_AREA) for
    scale jitter. `from_arrays` builds a pool from arrays, optionally with a paired target
    per image (``scale`` times larger) that `sample_pairs` crops at the same place.
    """

    def __init__(
        self,
        folders: Sequence[str | Path],
        *,
        scales: Sequence[float] = (1.0,),
        min_side: int = 32,
        max_images: int | None = None,
    ) -> None:
        images: list[np.ndarray] = []
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
                    images.append(im)
        self._fill(images, None, 1)

    @classmethod
    def from_arrays(
        cls,
        images: Sequence[np.ndarray],
        targets: Sequence[np.ndarray] | None = None,
        *,
        scale: int = 1,
    ) -> PatchPool:
        """A pool of (H, W, C) arrays; ``targets[i]`` (when given) is ``images[i]``'s pair,
        ``scale`` times larger (e.g. the "after" photo of a before/after pair)."""
        if not images:
            raise ValueError("a patch pool needs at least one image")
        if targets is not None and len(targets) != len(images):
            raise ValueError("one target per image")
        pool = cls.__new__(cls)
        pool._fill(list(images), None if targets is None else list(targets), scale)
        return pool

    def _fill(self, images: list[np.ndarray], targets: list[np.ndarray] | None, scale: int) -> None:
        self.images = [np.ascontiguousarray(im) for im in images]
        self.targets = None if targets is None else [np.ascontiguousarray(t) for t in targets]
        self.scale = int(scale)
        areas = np.array([im.shape[0] * im.shape[1] for im in self.images], dtype=np.float64)
        self.weights = areas / areas.sum()
        self.megapixels = float(areas.sum() / 1e6)

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, rng: np.random.Generator, batch: int, patch: int) -> np.ndarray:
        return self.sample_pairs(rng, batch, patch)[0]

    def sample_pairs(
        self, rng: np.random.Generator, batch: int, patch: int
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """(B, P, P, C) patches, the (B, P*s, P*s, C) target patches at the same places (None
        without targets) and the (B,) indices of the images they came from."""
        s = self.scale
        first = self.images[0]
        out = np.empty((batch, patch, patch, first.shape[2]), dtype=first.dtype)
        out_t = None
        if self.targets is not None:
            t0 = self.targets[0]
            out_t = np.empty((batch, patch * s, patch * s, t0.shape[2]), dtype=t0.dtype)
        idx = rng.choice(len(self.images), size=batch, p=self.weights)
        for b, i in enumerate(idx):
            img = self.images[i]
            tgt = None if self.targets is None else self.targets[i]
            h, w = img.shape[:2]
            if h < patch or w < patch:  # tiny image: reflect-pad up to the patch size
                ph, pw = max(0, patch - h), max(0, patch - w)
                img = np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="reflect")
                if tgt is not None:
                    tgt = np.pad(tgt, ((0, ph * s), (0, pw * s), (0, 0)), mode="reflect")
                h, w = img.shape[:2]
            y = int(rng.integers(0, h - patch + 1))
            x = int(rng.integers(0, w - patch + 1))
            k = int(rng.integers(0, 8))
            out[b] = _augment(img[y : y + patch, x : x + patch], k)
            if out_t is not None and tgt is not None:
                out_t[b] = _augment(tgt[y * s : (y + patch) * s, x * s : (x + patch) * s], k)
        return out, out_t, idx


def _augment(crop: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips/rotations of a square crop."""
    if k & 4:
        crop = crop[:, ::-1]
    return np.rot90(crop, k & 3)


def bounded_crops(
    image: np.ndarray,
    target: np.ndarray | None,
    *,
    budget: int,
    side: int,
    rng: np.random.Generator,
    scale: int = 1,
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """The whole image (and its target, ``scale`` times larger) when it has at most
    ``budget`` pixels, else ``budget // side**2`` random ``side`` x ``side`` crops of it (the
    target cropped at the same place), so a large photo's share of RAM stays bounded."""
    h, w = image.shape[:2]
    if h * w <= budget:
        return [(image, target)]
    side = min(side, h, w)
    out = []
    for _ in range(max(1, budget // (side * side))):
        y = int(rng.integers(0, h - side + 1))
        x = int(rng.integers(0, w - side + 1))
        crop_t = None
        if target is not None:
            crop_t = target[y * scale : (y + side) * scale, x * scale : (x + side) * scale].copy()
        out.append((image[y : y + side, x : x + side].copy(), crop_t))
    return out
