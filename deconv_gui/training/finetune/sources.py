"""What a fine-tune learns from: the user's folders (`FinetuneData`) and the sources that
turn them into training batches and a held-out validation set.

A `Source` lists the user's files, holds a fraction of them out (`val_fraction`, at least
one), reads the others into a `deconv_gui.training.data.PatchPool` (bounded crops of large
photos, `POOL_BUDGET_PIXELS` over all photos) and then yields batches
(`deconv_gui.training.degradations.Batch`): `PairsSource` ("before"/"after" pairs),
`CleanSource` (clean photos degraded on the fly with a `RandomDegradation`) and `NoisySource`
(noisy photos only: the batch's target is the noisy patch itself, the self-supervised
objective decides what to do with it). ``Source.supervised`` says which kind of objective
and validation fits it. A new kind of data (e.g. noisy RAW mosaics, 4 packed channels) is
one more subclass registered in `SOURCES`: `list_items`, `read`, `val_item` and `batch`,
plus `as_float` and `preview_rgb` for pixels that are not 8-bit RGB.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from deconv_gui.errors import DeconvError, read_reason
from deconv_gui.training.data import PatchPool, bounded_crops, list_images
from deconv_gui.training.degradations import (
    Batch,
    RandomDegradation,
    checked_degradation,
    effective_sigma,
)

MODES = ("pairs", "clean", "noisy", "noisy_raw")
MODE_LABELS = {
    "pairs": "Before/after pairs",
    "clean": "Clean photos + a degradation",
    "noisy": "Noisy photos only (self-supervised denoising)",
    "noisy_raw": "Noisy RAW files (learn your camera)",
}
MODE_HELP = {
    "pairs": (
        "Two folders: the photos as they are (before) and the same photos as they should "
        "look (after), with the same file names. For an upscaler the 'after' photos must be "
        "exactly scale times larger."
    ),
    "clean": (
        "Good, clean photos of the kind you shoot. They are degraded on the fly with what "
        "you choose below (noise, blur, JPEG, downscale; numbers may be ranges like "
        "noise=10-30), and the model learns to undo exactly that."
    ),
    "noisy": (
        "Only your noisy photos: the model learns from them alone (Neighbor2Neighbor-style "
        "self-supervision: each photo is split into two half-size photos of neighbouring "
        "pixels, and the model learns to predict one from the other). Fits when the noise is "
        "independent from pixel to pixel: raw files developed without noise reduction, sensor "
        "noise of lightly processed photos. Does not fit camera JPEGs (demosaicing, in-camera "
        "noise reduction, sharpening, compression) or resized photos: their noise is "
        "correlated between neighbours, which is checked before training. A model that "
        "became worse on your held-out photos is not saved."
    ),
    "noisy_raw": (
        "Only your camera's noisy RAW files (CR2, NEF, ARW, DNG...), no clean versions: "
        "your sensor's noise and banding are measured per ISO (more precisely with dark and "
        "flat frames, if you add them), and the RAW denoiser learns to remove them on the raw "
        "data (Recorrupted-to-Recorrupted self-supervision). The new model carries your "
        "camera's name and is chosen for its RAW files; one that got worse on your held-out "
        "files is not saved."
    ),
}
MIN_PHOTOS = 2  # one is held out for validation
MIN_SIDE = 16
POOL_BUDGET_PIXELS = 48_000_000  # all crops kept in RAM (input side), ~150 MB as uint8 RGB
CROP_SIDE = 512  # crops kept per photo when a photo is larger than its share of the budget
VAL_CROP = 192  # validation crop side (input pixels)
VAL_MAX_PHOTOS = 8


# ---------------------------------------------------------------------- the user's data


@dataclass
class FinetuneData:
    """What to train on. Build with `FinetuneData.pairs`, `.clean` or `.noisy`."""

    mode: str
    folders: tuple[str, ...]
    degrade: str | None = None
    skip_mismatched: bool = False

    @classmethod
    def pairs(
        cls, lq_dir: str | Path, gt_dir: str | Path, *, skip_mismatched: bool = False
    ) -> FinetuneData:
        return cls("pairs", (str(lq_dir), str(gt_dir)), None, skip_mismatched)

    @classmethod
    def clean(cls, folder: str | Path, degrade: str) -> FinetuneData:
        return cls("clean", (str(folder),), str(degrade))

    @classmethod
    def noisy(cls, folder: str | Path) -> FinetuneData:
        return cls("noisy", (str(folder),))

    @classmethod
    def noisy_raw(cls, folder: str | Path, frames: str | Path | None = None) -> FinetuneData:
        """The camera's noisy RAW files in ``folder``; ``frames``: an optional folder of its
        dark and flat frames, measured for the noise profile only (never trained on)."""
        return cls("noisy_raw", (str(folder),) + ((str(frames),) if frames else ()))

    def describe(self) -> str:
        if self.mode == "pairs":
            return f"pairs {self.folders[0]} -> {self.folders[1]}"
        if self.mode == "clean":
            return f"clean photos in {self.folders[0]}, degraded with {self.degrade}"
        if self.mode == "noisy_raw":
            frames = f", dark/flat frames in {self.folders[1]}" if len(self.folders) > 1 else ""
            return (f"noisy RAW files in {self.folders[0]} (self-supervised, on the mosaic"
                    f"{frames})")  # fmt: skip
        return f"noisy photos in {self.folders[0]} (self-supervised)"


def make_data(mode: str, paths: Sequence[str | Path], degrade: str | None = None,
              *, skip_mismatched: bool = False) -> FinetuneData:  # fmt: skip
    """`FinetuneData` from a mode name and its folders (the CLI's and the panel's form)."""
    if mode not in MODES:
        raise DeconvError(f"unknown fine-tune mode {mode!r} (choose {', '.join(MODES)})")
    need = 2 if mode == "pairs" else 1
    if len(paths) != need and not (mode == "noisy_raw" and len(paths) == 2):
        raise DeconvError(f"mode '{mode}' needs {need} folder(s), got {len(paths)}")
    if mode == "pairs":
        return FinetuneData.pairs(paths[0], paths[1], skip_mismatched=skip_mismatched)
    if mode == "clean":
        if not degrade:
            raise DeconvError("mode 'clean' needs a degradation, e.g. noise=20 or jpeg=30-60")
        return FinetuneData.clean(paths[0], degrade)
    if mode == "noisy_raw":
        return FinetuneData.noisy_raw(paths[0], paths[1] if len(paths) > 1 else None)
    return FinetuneData.noisy(paths[0])


def list_photos(folder: str | Path) -> list[Path]:
    """The photos directly in ``folder`` (or the file itself); `DeconvError` when missing."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise DeconvError(f"folder not found: {folder}")
    return list_images(folder, recursive=False)


def read_photo(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB, read as the app reads a photo (`core.io.load_image`: upright by
    its EXIF orientation; 16-bit, float and 32-bit TIFFs, HEIC and camera RAW files too);
    `DeconvError` naming the file when it cannot be decoded."""
    from deconv_gui.core.io import load_image, to_uint8

    try:
        return to_uint8(load_image(path).rgb)
    except DeconvError as exc:
        raise DeconvError(f"cannot read {path.name}: {read_reason(str(exc), path.name)}") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure is an unreadable photo
        raise DeconvError(f"cannot read {path.name}: {exc}") from None


def _reason(exc: BaseException, name: str) -> str:
    """Why photo ``name`` cannot be used, without the lead that names it (`read_photo`'s
    "cannot read NAME: ", the reader's "Cannot read NAME: ")."""
    return read_reason(str(exc), name).removeprefix(f"cannot read {name}: ")


def left_out_text(left_out: Sequence[str]) -> str:
    """``"left out 2 photo(s) that could not be used: a.jpg, b.png"`` for `Source.skipped`
    ("NAME: why" items), at most five names."""
    names = ", ".join(s.split(": ")[0] for s in left_out[:5])
    more = f" and {len(left_out) - 5} more" if len(left_out) > 5 else ""
    return f"left out {len(left_out)} photo(s) that could not be used: {names}{more}"


_SWAPS_SIDES = (5, 6, 7, 8)  # EXIF orientations that turn the picture by 90 degrees


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) upright, as `read_photo` gives it, from the file header where Pillow
    reads it (else by decoding; raises `DeconvError` when unreadable)."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            turned = im.getexif().get(0x0112) in _SWAPS_SIDES
        return (h, w) if turned else (w, h)
    except (OSError, ValueError, SyntaxError):  # not for Pillow (a float TIFF, a RAW file...)
        a = read_photo(path)
        return a.shape[1], a.shape[0]


@dataclass
class PairReport:
    """How the "before" and "after" folders match up (see `check_pairs`)."""

    lq_dir: Path
    gt_dir: Path
    scale: int = 1
    matched: list[tuple[str, Path, Path]] = field(default_factory=list)
    only_lq: list[str] = field(default_factory=list)  # names without an "after" photo
    only_gt: list[str] = field(default_factory=list)  # names without a "before" photo
    size_mismatch: list[tuple[str, tuple[int, int], tuple[int, int]]] = field(
        default_factory=list
    )  # (name, before WxH, after WxH)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)

    @property
    def problems(self) -> int:
        return (
            len(self.only_lq) + len(self.only_gt) + len(self.size_mismatch) + len(self.unreadable)
        )

    @property
    def ok(self) -> bool:
        return self.problems == 0

    def lines(self, limit: int = 10) -> list[str]:
        """Readable lines, one per problem group (at most ``limit`` names each)."""

        def names(items: Sequence[str]) -> str:
            shown = ", ".join(items[:limit])
            return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")

        out = [f"{len(self.matched)} matching pair(s)"]
        if self.only_lq:
            out.append(f"{len(self.only_lq)} 'before' photo(s) without an 'after': "
                       + names(self.only_lq))  # fmt: skip
        if self.only_gt:
            out.append(f"{len(self.only_gt)} 'after' photo(s) without a 'before': "
                       + names(self.only_gt))  # fmt: skip
        if self.size_mismatch:
            want = "the same size" if self.scale == 1 else f"{self.scale}x the 'before' size"
            items = [f"{n} ({a[0]}x{a[1]} vs {b[0]}x{b[1]})" for n, a, b in self.size_mismatch]
            out.append(f"{len(items)} pair(s) whose 'after' is not {want}: " + names(items))
        if self.unreadable:
            out.append(f"{len(self.unreadable)} unreadable file(s): "
                       + names([f"{n} ({r})" for n, r in self.unreadable]))  # fmt: skip
        return out

    def summary(self) -> str:
        return "; ".join(self.lines())


def check_pairs(lq_dir: str | Path, gt_dir: str | Path, *, scale: int = 1) -> PairReport:
    """Match "before" and "after" photos by file name (case-insensitive, extension ignored,
    so ``IMG_1.jpg`` pairs with ``IMG_1.png``) and check their sizes from the file headers:
    the "after" photo must be ``scale`` times the "before" one."""
    lq_dir, gt_dir = Path(lq_dir).expanduser(), Path(gt_dir).expanduser()
    for d, what in ((lq_dir, "'before'"), (gt_dir, "'after'")):
        if not d.is_dir():
            raise DeconvError(f"the {what} folder does not exist: {d}")
    rep = PairReport(lq_dir, gt_dir, int(scale))
    lq = {p.stem.lower(): p for p in list_photos(lq_dir)}
    gt = {p.stem.lower(): p for p in list_photos(gt_dir)}
    rep.only_lq = sorted(lq[k].name for k in lq.keys() - gt.keys())
    rep.only_gt = sorted(gt[k].name for k in gt.keys() - lq.keys())
    for key in sorted(lq.keys() & gt.keys()):
        a, b = lq[key], gt[key]
        sizes = []
        for p in (a, b):
            try:
                sizes.append(_image_size(p))
            except Exception as exc:  # noqa: BLE001
                rep.unreadable.append((p.name, _reason(exc, p.name) or type(exc).__name__))
        if len(sizes) < 2:
            continue
        (wa, ha), (wb, hb) = sizes
        if (wa * scale, ha * scale) != (wb, hb):
            rep.size_mismatch.append((a.stem, (wa, ha), (wb, hb)))
            continue
        rep.matched.append((a.stem, a, b))
    return rep


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class BaseInfo:
    """What a source needs to know about the network being tuned."""

    name: str
    task: str
    scale: int = 1
    noise_map: bool = False  # the network takes a noise level (sigma / NOISE_MAP_SCALE)
    channels: int = 3
    bayer: bool = False  # takes a camera's packed raw mosaic (card ``input: bayer``)

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> BaseInfo:
        hp = card["architecture"].get("hparams", {})
        return cls(
            name=str(card.get("name", card["id"])),
            task=str(card["task"]),
            scale=int(card.get("scale", 1)),
            noise_map=bool(hp.get("noise_map")),
            channels=int(hp.get("in_ch", 3)),
            bayer=card.get("input") == "bayer",
        )


@dataclass
class ValItem:
    """One held-out photo: a centre crop of the input side (uint8 (h, w, C)), its target
    (``scale`` times larger) or None for noisy-only data, and the noise level (0-255) a
    noise-map network is given."""

    name: str
    lq: np.ndarray
    gt: np.ndarray | None
    sigma: float = 0.0
    profile: tuple[float, ...] | None = None  # RAW: (shot, read, row) of its noise


Item = tuple[str, Path, Path | None]  # (name, input file, target file or None)


def _centre(img: np.ndarray, side: int, mult: int = 1) -> tuple[int, int, int, int]:
    """(y, x, h, w) of a centred crop of at most ``side`` px, a multiple of ``mult``."""
    h, w = img.shape[:2]
    ch, cw = min(side, h), min(side, w)
    ch, cw = ch - ch % mult, cw - cw % mult
    y, x = (h - ch) // 2, (w - cw) // 2
    y, x = y - y % mult, x - x % mult
    return y, x, ch, cw


class Source(ABC):
    """One kind of training data for one base network: see the module docstring.

    Construction lists the files and splits them (`DeconvError` for too little data or data
    that does not fit the network); `load` reads them (a generator of messages: photos can be
    large); then `batch` gives training batches and `val` holds the held-out items."""

    mode: ClassVar[str]
    supervised: ClassVar[bool] = True

    def __init__(self, data: FinetuneData, base: BaseInfo, *, val_fraction: float,
                 seed: int) -> None:  # fmt: skip
        self.data = data
        self.base = base
        self.seed = int(seed)
        self.items = self.list_items()
        if len(self.items) < MIN_PHOTOS:
            raise DeconvError(
                f"too little data: {len(self.items)} usable photo(s) found, at least "
                f"{MIN_PHOTOS} are needed (one is held out to measure the result); "
                "add more photos"
            )
        order = np.random.default_rng(self.seed).permutation(len(self.items))
        n_val = min(max(1, round(float(val_fraction) * len(self.items))), len(self.items) - 1)
        self.val_items = [self.items[i] for i in sorted(order[:n_val])][:VAL_MAX_PHOTOS]
        self.train_items = [self.items[i] for i in sorted(order[n_val:])]
        self.n_val = n_val
        self.pool: PatchPool | None = None
        self.sigmas = np.zeros(0, np.float32)  # per pool image: the noise level (0-255)
        self.val: list[ValItem] = []
        self.skipped: list[str] = []  # "NAME: why" of photos left out by `load`

    # -- what each kind of data defines
    @abstractmethod
    def list_items(self) -> list[Item]:
        """The usable files (checked as far as possible without decoding them)."""

    @abstractmethod
    def read(self, item: Item) -> tuple[np.ndarray, np.ndarray | None, float]:
        """(input side, target or None, noise level) of a training item."""

    @abstractmethod
    def val_item(self, i: int, item: Item) -> ValItem:
        """The held-out crop of the ``i``-th validation item (deterministic)."""

    @abstractmethod
    def batch(self, rng: np.random.Generator, gen: torch.Generator, batch: int,
              patch: int) -> Batch:  # fmt: skip
        """A training batch of ``batch`` patches, ``patch`` px on the input side."""

    @property
    def pool_scale(self) -> int:
        """Size ratio of the pool's targets to its images (1 without targets)."""
        return 1

    # -- what a source of other pixel data (16-bit or float RAW mosaics) overrides
    def as_float(self, a: np.ndarray) -> np.ndarray:
        """Pool or held-out arrays (..., H, W, C) as float32 in [0, 1] (uint8 photos here)."""
        return a.astype(np.float32) / 255.0

    def preview_rgb(self, img: np.ndarray) -> np.ndarray:
        """An (h, w, C) float image as the RGB crop the panel shows (a RAW source renders
        its mosaic here)."""
        return img

    def val_noise(self, item: ValItem) -> torch.Tensor | None:
        """The noise input the network gets for a held-out item (None without one)."""
        from deconv_gui.models.networks import NOISE_MAP_SCALE

        return torch.tensor([item.sigma / NOISE_MAP_SCALE]) if self.base.noise_map else None

    def card_extra(self) -> dict[str, Any]:
        """What the tuned model's card records about the data (a RAW source: the camera)."""
        return {}

    # -- shared
    def fingerprint(self) -> dict[str, Any]:
        """The files (path, size, mtime) and settings: a checkpoint of other data is not
        resumed."""
        files = []
        for _, a, b in self.items:
            for p in (a, b):
                if p is not None:
                    st = p.stat()
                    files.append([str(p), st.st_size, int(st.st_mtime)])
        return {"mode": self.mode, "degrade": self.data.degrade, "files": files}

    def load(self) -> Generator[str, None, None]:
        """Read the held-out photos, then the training photos into the patch pool. A photo
        that cannot be used (damaged, too small) is left out and named (`skipped`); a
        held-out one gives its place to a training photo while two or more are left."""
        yield "preparing the held-out photos"
        train = list(self.train_items)
        pending, kept = list(self.val_items), list[Item]()
        while pending:
            item = pending.pop(0)
            try:
                self.val.append(self.val_item(len(kept), item))
            except DeconvError as exc:  # one damaged or tiny photo does not stop the others
                yield self._leave_out(item, exc)
                if len(train) > 1:
                    pending.append(train.pop())
                continue
            kept.append(item)
        if not kept:
            raise DeconvError(
                f"none of the held-out photos, which measure the result, could be used "
                f"({self._why()}); add more photos"
            )
        self.val_items, self.n_val = kept, len(kept)

        rng = np.random.default_rng(self.seed + 7)
        budget = max(POOL_BUDGET_PIXELS // max(1, len(train)), CROP_SIDE**2)
        images: list[np.ndarray] = []
        targets: list[np.ndarray] = []
        sigmas: list[float] = []
        used: list[Item] = []
        for i, item in enumerate(train):
            yield f"reading photo {i + 1}/{len(train)}: {item[1].name}"
            try:
                a, b, sigma = self.read(item)
            except DeconvError as exc:
                yield self._leave_out(item, exc)
                continue
            used.append(item)
            for ca, cb in bounded_crops(a, b, budget=budget, side=CROP_SIDE, rng=rng,
                                        scale=self.pool_scale):  # fmt: skip
                images.append(ca)
                if cb is not None:
                    targets.append(cb)
                sigmas.append(sigma)
        if not used:
            raise DeconvError(f"none of the photos to train on could be used ({self._why()})")
        self.train_items = used
        self.pool = PatchPool.from_arrays(images, targets or None, scale=self.pool_scale)
        self.sigmas = np.asarray(sigmas, np.float32)

    def _leave_out(self, item: Item, exc: DeconvError) -> str:
        """Record a photo `load` leaves out; the progress line that says so."""
        name = item[1].name
        why = _reason(exc, name).removeprefix(f"{name} is ").removesuffix(": leave it out")
        self.skipped.append(f"{name}: {why}")
        return f"left out {name}: {why}"

    def _why(self) -> str:
        return "; ".join(self.skipped[:3]) + ("; ..." if len(self.skipped) > 3 else "")

    def _check_side(self, a: np.ndarray, path: Path, factor: int = 1) -> None:
        need = MIN_SIDE * factor
        if min(a.shape[:2]) < need:
            why = f"x{factor} training downscales it, so it needs" if factor > 1 else "it needs"
            raise DeconvError(
                f"{path.name} is too small ({a.shape[1]}x{a.shape[0]} px; {why} at least "
                f"{need} px on its short side): leave it out"
            )

    def as_tensor(self, a: np.ndarray) -> torch.Tensor:
        """(B, H, W, C) arrays -> (B, C, H, W) float32 in [0, 1]."""
        return torch.from_numpy(np.ascontiguousarray(self.as_float(a))).permute(0, 3, 1, 2)

    def _noise_level(self, a: np.ndarray) -> float:
        if not self.base.noise_map:
            return 0.0
        from deconv_gui.core.noise import estimate_noise_sigma

        return float(estimate_noise_sigma(self.as_float(a)))

    def _sample(self, rng: np.random.Generator, batch: int,
                patch: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:  # fmt: skip
        if self.pool is None:
            raise RuntimeError("load() the source before sampling it")
        return self.pool.sample_pairs(rng, batch, patch)

    def _batch(self, lq: torch.Tensor, gt: torch.Tensor, sig: np.ndarray) -> Batch:
        from deconv_gui.models.networks import NOISE_MAP_SCALE

        nm = None
        if self.base.noise_map:
            nm = torch.from_numpy(sig.astype(np.float32) / NOISE_MAP_SCALE).view(-1, 1, 1, 1)
        return Batch(lq=lq, gt=gt, noise_map=nm)


class PairsSource(Source):
    """Before/after photos with the same names (the "after" ``scale`` times larger)."""

    mode = "pairs"

    @property
    def pool_scale(self) -> int:
        return self.base.scale

    def list_items(self) -> list[Item]:
        rep = check_pairs(self.data.folders[0], self.data.folders[1], scale=self.base.scale)
        if not rep.ok and not self.data.skip_mismatched:
            raise DeconvError("the photo pairs do not match up: " + rep.summary())
        return [(n, a, b) for n, a, b in rep.matched]

    def read(self, item: Item) -> tuple[np.ndarray, np.ndarray | None, float]:
        _, a_path, b_path = item
        assert b_path is not None
        a, b = read_photo(a_path), read_photo(b_path)
        self._check_side(a, a_path)
        return a, b, self._noise_level(a)

    def val_item(self, i: int, item: Item) -> ValItem:
        name, a_path, b_path = item
        assert b_path is not None
        a, b = read_photo(a_path), read_photo(b_path)
        self._check_side(a, a_path)  # as for training: a 4-pixel photo measures nothing
        s = self.base.scale
        y, x, h, w = _centre(a, VAL_CROP)
        gt = b[y * s : (y + h) * s, x * s : (x + w) * s]
        return ValItem(name, a[y : y + h, x : x + w], gt, self._noise_level(a))

    def batch(self, rng: np.random.Generator, gen: torch.Generator, batch: int,
              patch: int) -> Batch:  # fmt: skip
        a, b, idx = self._sample(rng, batch, patch)
        assert b is not None
        return self._batch(self.as_tensor(a), self.as_tensor(b), self.sigmas[idx])


class CleanSource(Source):
    """Clean photos; each patch is degraded with a draw of a `RandomDegradation`."""

    mode = "clean"

    def __init__(self, data: FinetuneData, base: BaseInfo, *, val_fraction: float,
                 seed: int) -> None:  # fmt: skip
        self.deg: RandomDegradation = checked_degradation(str(data.degrade or ""), base.scale)
        super().__init__(data, base, val_fraction=val_fraction, seed=seed)

    def list_items(self) -> list[Item]:
        return [(p.stem, p, None) for p in list_photos(self.data.folders[0])]

    def read(self, item: Item) -> tuple[np.ndarray, np.ndarray | None, float]:
        a = read_photo(item[1])
        self._check_side(a, item[1], self.base.scale)
        return a, None, 0.0  # the noise level is the drawn degradation's, per patch

    def val_item(self, i: int, item: Item) -> ValItem:
        s = self.base.scale
        a = read_photo(item[1])
        self._check_side(a, item[1], s)
        y, x, h, w = _centre(a, VAL_CROP * s, s)
        gt = a[y : y + h, x : x + w]
        deg = self.deg.sample(np.random.default_rng(10_000 + i))
        gtf = self.as_float(gt)
        lq = (deg.apply(gtf, seed=20_000 + i) * 255.0).round().astype(np.uint8)
        return ValItem(item[0], lq, gt, effective_sigma(deg, float(gtf.mean())))

    def batch(self, rng: np.random.Generator, gen: torch.Generator, batch: int,
              patch: int) -> Batch:  # fmt: skip
        s = self.base.scale
        m = 8 if self.deg.has_blur else 0  # blurred margin, cut away
        big, _, _ = self._sample(rng, batch, (patch + 2 * m) * s)
        lqs, gts, sigmas = [], [], []
        for g in big:
            deg = self.deg.sample(rng)
            gf = self.as_float(g)
            lq = deg.apply(gf, seed=int(rng.integers(0, 2**31 - 1)))
            lqs.append(lq[m : m + patch, m : m + patch])
            gts.append(gf[m * s : (m + patch) * s, m * s : (m + patch) * s])
            sigmas.append(effective_sigma(deg, float(gf.mean())))
        lq_t = torch.from_numpy(np.ascontiguousarray(np.stack(lqs))).permute(0, 3, 1, 2)
        gt_t = torch.from_numpy(np.ascontiguousarray(np.stack(gts))).permute(0, 3, 1, 2)
        return self._batch(lq_t.float(), gt_t.float(), np.array(sigmas, np.float32))


class NoisySource(Source):
    """Noisy photos only (denoisers): batches whose target is the noisy patch itself."""

    mode = "noisy"
    supervised = False

    def __init__(self, data: FinetuneData, base: BaseInfo, *, val_fraction: float,
                 seed: int) -> None:  # fmt: skip
        if base.task != "denoise" or base.scale != 1:
            raise DeconvError(
                "the noisy-photos mode (self-supervised training) only trains denoisers; "
                f"'{base.name}' is a {base.task} model"
            )
        super().__init__(data, base, val_fraction=val_fraction, seed=seed)

    def list_items(self) -> list[Item]:
        return [(p.stem, p, None) for p in list_photos(self.data.folders[0])]

    def read(self, item: Item) -> tuple[np.ndarray, np.ndarray | None, float]:
        a = read_photo(item[1])
        self._check_side(a, item[1])
        return a, None, self._noise_level(a)

    def val_item(self, i: int, item: Item) -> ValItem:
        a = read_photo(item[1])
        self._check_side(a, item[1])
        y, x, h, w = _centre(a, VAL_CROP, 2)  # even sides: split into 2x2 cells
        return ValItem(item[0], a[y : y + h, x : x + w], None, self._noise_level(a))

    def batch(self, rng: np.random.Generator, gen: torch.Generator, batch: int,
              patch: int) -> Batch:  # fmt: skip
        a, _, idx = self._sample(rng, batch, patch)
        noisy = self.as_tensor(a)
        return self._batch(noisy, noisy, self.sigmas[idx])


SOURCES: dict[str, type[Source]] = {s.mode: s for s in (PairsSource, CleanSource, NoisySource)}


def make_source(data: FinetuneData, base: BaseInfo, *, val_fraction: float,
                seed: int) -> Source:  # fmt: skip
    """The `Source` for ``data.mode`` (`DeconvError` for an unknown mode)."""
    if data.mode == "noisy_raw":
        from deconv_gui.training.finetune.raw_source import NoisyRawSource

        return NoisyRawSource(data, base, val_fraction=val_fraction, seed=seed)
    cls = SOURCES.get(data.mode)
    if cls is None:
        raise DeconvError(f"unknown fine-tune mode {data.mode!r}")
    return cls(data, base, val_fraction=val_fraction, seed=seed)
