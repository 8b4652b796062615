"""``noisy_raw``: learn the user's camera from its noisy RAW files alone.

Each RAW file is read with `core.raw.open_raw`, normalised by its own black and white levels
(unclipped: the noise below black is kept) and packed as four half-resolution planes
R, G1, G2, B (`core.raw.pack_bayer`). In the mosaic each photosite's shot and read noise is
independent of its neighbours' (banding aside, which is measured), so self-supervision is
sound there, unlike on developed JPEGs: Recorrupted-to-Recorrupted with the measured noise
(`objectives.Recorrupted`, the default) or Neighbor2Neighbor's sub-sampling of the packed
planes (`objectives.NeighbourSubsampling`).

The camera's noise is measured on all the files, training and held-out
(`core.camera_noise.fit_camera_noise`: per ISO, then a curve over ISO), of the camera most
of the files come from (files of other cameras get their own measured noise), and on the
dark and flat frames the user may add (a second folder: lens cap on, or an evenly lit white
wall out of focus, at the ISOs they shoot), which are measured only, never trained on. Each
file's network input gets the profile of its ISO (the per-photosite standard deviation map
the RAW denoiser takes; `objectives.make_forward`), the same profile the app's Auto then
uses for the tuned model; its row noise (banding, which the network is not told about) goes
into the recorrupted training's added noise (`objectives.Recorrupted`). The fit, the
camera's make and model and the ISO range go into the tuned model's card (`card_extra`), so
the model is listed as "Canon EOS R6, ISO 3200-12800" and chosen for that camera's RAW files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deconv_gui.core.camera_noise import CameraNoise, FilePoints, file_points, fit_camera_noise
from deconv_gui.core.raw_noise import NoiseProfile, fit_profile
from deconv_gui.errors import DeconvError, read_reason
from deconv_gui.training.data import PatchPool, bounded_crops
from deconv_gui.training.degradations import Batch
from deconv_gui.training.finetune.sources import (
    CROP_SIDE,
    VAL_CROP,
    BaseInfo,
    FinetuneData,
    Item,
    Source,
    ValItem,
    _centre,
)

RAW_POOL_BUDGET = 8_000_000  # packed pixels (x4 photosites, float32: ~128 MB)


def list_raw_files(folder: str | Path) -> list[Path]:
    """The camera RAW files directly in ``folder``; `DeconvError` when it is missing."""
    from deconv_gui.core.raw import is_raw_path

    d = Path(folder).expanduser()
    if not d.is_dir():
        raise DeconvError(f"folder not found: {d}")
    return sorted(p for p in d.iterdir() if p.is_file() and is_raw_path(p))


class NoisyRawSource(Source):
    """Noisy RAW files only (the RAW denoiser): batches of packed planes and their noise."""

    mode = "noisy_raw"
    supervised = False

    def __init__(self, data: FinetuneData, base: BaseInfo, *, val_fraction: float,
                 seed: int) -> None:  # fmt: skip
        if not base.bayer:
            raise DeconvError(
                f"'{base.name}' works on developed photos, not on a camera's raw data: the "
                "noisy-RAW mode trains the RAW denoiser (choose it as the base model)"
            )
        super().__init__(data, base, val_fraction=val_fraction, seed=seed)
        self.camera: CameraNoise | None = None
        self.noise = np.zeros((0, 3), np.float32)  # per pool image: (shot, read, row)
        self.skipped: list[str] = []
        self.frame_count = 0  # dark/flat frames measured

    def list_items(self) -> list[Item]:
        files = list_raw_files(self.data.folders[0])
        if not files:
            raise DeconvError(f"no camera RAW files in {self.data.folders[0]}")
        return [(p.stem, p, None) for p in files]

    def _open(self, path: Path) -> tuple[np.ndarray, float | None, str, str]:
        """(packed planes, ISO, make, model); `DeconvError` for a file that cannot be used."""
        from deconv_gui.core.raw import open_raw

        raw = open_raw(path)
        if not raw.is_bayer:
            raise DeconvError(
                f"{path.name} has no Bayer mosaic (e.g. Fujifilm X-Trans): learning a camera "
                "needs Bayer RAW files"
            )
        packed = raw.packed(clip=False)
        self._check_side(packed, path)
        md = raw.metadata
        return packed, md.iso, str(md.make or ""), str(md.model or "")

    def _frames(self) -> list[Path]:
        """The dark/flat frames' RAW files (the second folder, when given)."""
        if len(self.data.folders) < 2:
            return []
        files = list_raw_files(self.data.folders[1])
        if not files:
            raise DeconvError(f"no camera RAW files (dark/flat frames) in {self.data.folders[1]}")
        return files

    def read(self, item: Item) -> tuple[np.ndarray, np.ndarray | None, float]:
        return self._open(item[1])[0], None, 0.0

    def val_item(self, i: int, item: Item) -> ValItem:
        return self._val_crop(item[0], self._open(item[1])[0])

    def _val_crop(self, name: str, packed: np.ndarray,
                  profile: NoiseProfile | None = None) -> ValItem:  # fmt: skip
        y, x, h, w = _centre(packed, VAL_CROP, 2)  # even sides: split into 2x2 cells
        prof = None if profile is None else (profile.shot, profile.read, profile.row)
        return ValItem(name, np.ascontiguousarray(packed[y : y + h, x : x + w]), None, 0.0, prof)

    def load(self) -> Generator[str, None, None]:
        rng = np.random.default_rng(self.seed + 7)
        budget = max(RAW_POOL_BUDGET // max(1, len(self.train_items)), CROP_SIDE**2)
        val_names = {it[0] for it in self.val_items}
        crops: list[tuple[str, np.ndarray, float | None]] = []  # (name, crop, iso)
        points: dict[str, FilePoints] = {}
        body: dict[str, tuple[str, str]] = {}
        cameras: Counter[tuple[str, str]] = Counter()
        frames = self._frames()
        frame_points: dict[str, tuple[tuple[str, str], FilePoints]] = {}
        left_frames: list[str] = []  # "dark/flat frame NAME: why", said and recorded
        for i, path in enumerate(frames):
            yield f"measuring dark/flat frame {i + 1}/{len(frames)}: {path.name}"
            try:
                packed, iso, make, model = self._open(path)
            except DeconvError as exc:  # as with the photos: one damaged frame stops nothing
                left_frames.append(
                    f"dark/flat frame {path.name}: {read_reason(str(exc), path.name)}"
                )
                yield f"left out {left_frames[-1]}"
                continue
            frame_points[path.name] = ((make, model), file_points(packed, iso))
        total = len(self.items)
        for i, (name, path, _) in enumerate(self.items):
            yield f"reading and measuring RAW file {i + 1}/{total}: {path.name}"
            try:
                packed, iso, make, model = self._open(path)
            except DeconvError as exc:  # one damaged file does not stop the others
                why = read_reason(str(exc), path.name)
                self.skipped.append(f"{path.name}: {why}")
                yield f"left out {path.name}: {why}"
                continue
            cameras[(make, model)] += 1
            body[name] = (make, model)
            points[name] = file_points(packed, iso)
            if name in val_names:
                crops.append((name, self._val_crop(name, packed).lq, iso))
                continue
            for c, _ in bounded_crops(packed, None, budget=budget, side=CROP_SIDE, rng=rng):
                crops.append((name, c, iso))
        read = [n for n in body if not n.startswith("\0")]
        if not any(n in val_names for n in read) or all(n in val_names for n in read):
            left = f"{len(self.skipped)} of {total} could not be read: " if self.skipped else ""
            raise DeconvError(
                f"too few RAW files to train on and to measure with ({left}"
                f"{', '.join(s.split(':')[0] for s in self.skipped) or 'add more files'})"
            )
        ranked = cameras.most_common()
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            # which camera the model is named after, and chosen for, would be a coin toss
            bodies = ", ".join(f"{CameraNoise(*c).name} ({n})" for c, n in ranked)
            raise DeconvError(
                f"the RAW files come from {len(ranked)} cameras and none has more files than "
                f"the others ({bodies}): tune with one camera's files, or mostly one camera's"
            )
        main = ranked[0][0]
        others = sum(n for c, n in cameras.items() if c != main)
        self.frame_count = 0  # the frames measured: this camera's, readable
        for fname, (cam, pts) in frame_points.items():
            if cam != main:  # another body's noise says nothing of this one's
                left_frames.append(
                    f"dark/flat frame {fname}: taken with another camera "
                    f"({CameraNoise(*cam).name}, not {CameraNoise(*main).name})"
                )
                yield f"left out {left_frames[-1]}"
                continue
            name = f"\0frame:{fname}"  # never a training item's name
            body[name] = cam
            points[name] = pts
            self.frame_count += 1
        self.skipped.extend(left_frames)
        yield "fitting the camera's noise profile" + (
            f" ({CameraNoise(*main).name}; {others} file(s) of other "
            "cameras are trained on with their own measured noise)"
            if others
            else ""
        )
        try:
            self.camera = fit_camera_noise((p for n, p in points.items() if body[n] == main), *main)
        except ValueError:
            self.camera = None  # no ISO in the files: each file's own measurement

        def profile(name: str, iso: float | None) -> NoiseProfile:
            mine = self.camera is not None and body[name] == main
            p = self.camera.profile(iso) if mine and self.camera is not None else None
            if p is not None:
                return p
            pts = points[name]
            return fit_profile(pts.x, pts.var, pts.n) if pts.x.size else NoiseProfile(0, 1e-6)

        images, noise = [], []
        self.val = []
        for name, crop, iso in crops:
            prof = profile(name, iso)
            if name in val_names:
                self.val.append(self._val_crop(name, crop, prof))
            else:
                images.append(crop)
                noise.append((prof.shot, prof.read, prof.row))
        self.pool = PatchPool.from_arrays(images)
        self.noise = np.asarray(noise, np.float32)
        self.sigmas = np.zeros(len(images), np.float32)

    def batch(self, rng: np.random.Generator, gen: torch.Generator, batch: int,
              patch: int) -> Batch:  # fmt: skip
        # plain crops: a flip or rotation of packed planes would move the colours' photosites
        # relative to each other (the patch pool's augmentation)
        if self.pool is None:
            raise RuntimeError("load() the source before sampling it")
        pool = self.pool
        idx = rng.choice(len(pool.images), size=batch, p=pool.weights)
        a = np.empty((batch, patch, patch, 4), np.float32)
        for b, i in enumerate(idx):
            img = pool.images[i]
            ph, pw = max(0, patch - img.shape[0]), max(0, patch - img.shape[1])
            if ph or pw:
                img = np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="reflect")
            y = int(rng.integers(0, img.shape[0] - patch + 1))
            x = int(rng.integers(0, img.shape[1] - patch + 1))
            a[b] = img[y : y + patch, x : x + patch]
        noisy = self.as_tensor(a)
        nm = torch.from_numpy(self.noise[idx]).view(-1, 3, 1, 1)
        return Batch(lq=noisy, gt=noisy, noise_map=nm)

    def val_noise(self, item: ValItem) -> torch.Tensor | None:
        prof = item.profile if item.profile is not None else (0.0, 1e-6, 0.0)
        return torch.tensor([prof], dtype=torch.float32).view(1, len(prof), 1, 1)

    def as_float(self, a: np.ndarray) -> np.ndarray:
        return np.asarray(a, np.float32)

    def preview_rgb(self, img: np.ndarray) -> np.ndarray:
        """Packed planes as a quick RGB look (no white balance or colour matrix): R, the
        mean of the greens, B, brightened by a gamma of 2.2."""
        rgb = np.stack([img[..., 0], 0.5 * (img[..., 1] + img[..., 2]), img[..., 3]], axis=-1)
        return np.power(np.clip(rgb, 0.0, 1.0), 1 / 2.2).astype(np.float32)

    def card_extra(self) -> dict[str, Any]:
        cam = self.camera
        if cam is None:
            return {}
        r = cam.iso_range
        return {
            "camera": {"make": cam.make, "model": cam.model},
            "iso_range": None if r is None else [r[0], r[1]],
            "noise_profile": cam.to_json(),
            "display_name": cam.display_name(),
            **({"frames": self.frame_count} if self.frame_count else {}),
        }
