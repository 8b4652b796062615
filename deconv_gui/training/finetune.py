"""Fine-tune a bundled (or already fine-tuned) network on the user's own photos.

Three ways to get training pairs (`MODES`):

* ``pairs``: a folder of "before" photos (``lq``) and a folder of "after" photos (``gt``)
  with the same file names. `check_pairs` lists names found on one side only, pairs whose
  sizes do not fit the model's scale and unreadable files (a `PairReport`); nothing starts
  while there are problems unless the caller chose to skip them.
* ``clean``: clean photos plus a degradation applied on the fly to random patches: a
  `deconv_gui.core.degrade` spec (``noise=20``, ``blur=gaussian:1.5,jpeg=60``...) whose
  numbers may be ranges ``A-B`` (drawn uniformly per patch) and whose steps may list
  alternatives with ``|`` (``blur=gaussian:0.5-2|disk:1-3|motion:5-11:0-180``); see
  `RandomDegradation`. For an upscaler the spec's downscale must match the model's scale
  (a missing one is added).
* ``noisy``: noisy photos only (denoising). Self-supervised blind-spot training in the
  Noise2Void manner (Krull et al. 2019): a few random pixels of each patch are replaced by a
  random neighbour and the loss is taken on those pixels only, so the network cannot copy
  the noise and learns to predict each pixel from its surroundings. This works when the
  noise is independent from pixel to pixel (sensor noise of raw-developed or lightly
  processed photos); it does not for noise that is correlated between neighbours
  (heavily compressed JPEGs, noise smeared by in-camera noise reduction or demosaicing,
  upscaled photos): the network then learns to keep that noise.

`finetune_job(...)` is a generator (the app's job contract, see ``docs/ARCHITECTURE.md``):
it yields a `FinetuneProgress` after loading, after the first validation of the base model
and after every training step (with validation PSNR/SSIM and a before/after crop when it
validated) and returns a `FinetuneResult`. Pausing = the consumer stops pulling; cancelling =
closing the generator (a checkpoint is written first when ``checkpoint_dir`` is set, so the
job can be resumed). Checkpoints are also written at intervals and a job started again with
the same arguments and ``resume=True`` continues exactly where it stopped (model, optimizer,
schedule, step and every random state; it builds on `deconv_gui.training.loop.Trainer`); a
checkpoint left by a different job (other photos or settings) is replaced.

A fraction of the photos (``val_fraction``) is held out: the metrics before/after are
measured on centre crops of those. Memory stays bounded: each photo keeps at most a few
random crops in RAM (`POOL_BUDGET_PIXELS` over all photos), the batch and patch sizes
follow the device, and an out-of-memory step halves the batch and tries again.

`save_finetuned(result, name)` writes ``weights.safetensors`` + ``card.json`` (kind
"finetuned", loader "deconv") into the user model library, where
`deconv_gui.models.imported.user_specs` (and so `catalog.default_registry`) finds it. The
base model is never modified. `run_finetune_cli(...)` is the headless front end.
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import json
import math
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from deconv_gui.core import degrade as _degrade
from deconv_gui.core.inputs import expand_inputs
from deconv_gui.errors import DeconvError
from deconv_gui.models.registry import LoadOptions, ModelSpec
from deconv_gui.training.degradations import Batch, to_tensor
from deconv_gui.training.loop import Trainer, charbonnier

MODES = ("pairs", "clean", "noisy")
MODE_LABELS = {
    "pairs": "Before/after pairs",
    "clean": "Clean photos + a degradation",
    "noisy": "Noisy photos only (self-supervised denoising)",
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
        "Only your noisy photos: the model learns from them alone (Noise2Void-style blind-"
        "spot training: hidden pixels are predicted from their neighbours). Fits when the "
        "noise is independent from pixel to pixel: raw files developed without noise "
        "reduction, sensor noise of lightly processed photos. Does not fit heavily processed "
        "or compressed JPEGs (in-camera noise reduction, sharpening, blocky compression) or "
        "resized photos: their noise is correlated between neighbours and would be kept. "
        "A model that already removes your noise well can lose some detail this way (the "
        "held-out score here is measured against the noisy photos): compare on a photo "
        "before you keep it."
    ),
}
MIN_PHOTOS = 2  # one is held out for validation
MIN_SIDE = 16
POOL_BUDGET_PIXELS = 48_000_000  # all crops kept in RAM (input side), ~150 MB as uint8 RGB
CROP_SIDE = 512  # crops kept per photo when a photo is larger than its share of the budget
VAL_CROP = 192  # validation crop side (input pixels)
VAL_MAX_PHOTOS = 8
N2V_FRACTION = 0.02  # share of pixels hidden per patch (blind-spot training)
N2V_RADIUS = 2  # neighbour replacement window: (2r+1)^2 minus the centre
DEFAULT_STEPS = 500
DEFAULT_LR = 2e-4
# Blind-spot training pulls a supervised denoiser towards ignoring the centre pixel (the
# Noise2Void gap): a gentler rate keeps more of what it knew (benchmarks/bench_finetune.py).
DEFAULT_LR_NOISY = 5e-5
CHECKPOINT_NAME = "finetune.pt"


# ----------------------------------------------------------------------------- data


def _list_photos(folder: str | Path) -> list[Path]:
    found = expand_inputs([folder])
    if found.missing:
        raise DeconvError(f"folder not found: {Path(folder).expanduser()}")
    return found.paths


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header (raises OSError/ValueError when unreadable)."""
    with Image.open(path) as im:
        return im.size


def _read_u8(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except Exception as exc:  # noqa: BLE001 - any decoder failure is an unreadable photo
        raise DeconvError(f"cannot read {path.name}: {exc}") from None


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
    lq = {p.stem.lower(): p for p in _list_photos(lq_dir)}
    gt = {p.stem.lower(): p for p in _list_photos(gt_dir)}
    rep.only_lq = sorted(lq[k].name for k in lq.keys() - gt.keys())
    rep.only_gt = sorted(gt[k].name for k in gt.keys() - lq.keys())
    for key in sorted(lq.keys() & gt.keys()):
        a, b = lq[key], gt[key]
        sizes = []
        for p in (a, b):
            try:
                sizes.append(_image_size(p))
            except Exception as exc:  # noqa: BLE001
                rep.unreadable.append((p.name, type(exc).__name__))
        if len(sizes) < 2:
            continue
        (wa, ha), (wb, hb) = sizes
        if (wa * scale, ha * scale) != (wb, hb):
            rep.size_mismatch.append((a.stem, (wa, ha), (wb, hb)))
            continue
        rep.matched.append((a.stem, a, b))
    return rep


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

    def describe(self) -> str:
        if self.mode == "pairs":
            return f"pairs {self.folders[0]} -> {self.folders[1]}"
        if self.mode == "clean":
            return f"clean photos in {self.folders[0]}, degraded with {self.degrade}"
        return f"noisy photos in {self.folders[0]} (blind-spot)"


def make_data(mode: str, paths: Sequence[str | Path], degrade: str | None = None,
              *, skip_mismatched: bool = False) -> FinetuneData:  # fmt: skip
    """`FinetuneData` from a mode name and its folders (the CLI's and the panel's form)."""
    if mode not in MODES:
        raise DeconvError(f"unknown fine-tune mode {mode!r} (choose {', '.join(MODES)})")
    need = 2 if mode == "pairs" else 1
    if len(paths) != need:
        raise DeconvError(f"mode '{mode}' needs {need} folder(s), got {len(paths)}")
    if mode == "pairs":
        return FinetuneData.pairs(paths[0], paths[1], skip_mismatched=skip_mismatched)
    if mode == "clean":
        if not degrade:
            raise DeconvError("mode 'clean' needs a degradation, e.g. noise=20 or jpeg=30-60")
        return FinetuneData.clean(paths[0], degrade)
    return FinetuneData.noisy(paths[0])


# ----------------------------------------------------------------- random degradations

_RANGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*$")


class RandomDegradation:
    """A degradation spec whose numbers may be ranges and whose steps may have alternatives.

    ``noise=10-30,jpeg=40-80`` draws sigma in [10, 30] and a quality in [40, 80] for each
    patch; ``blur=gaussian:0.5-2|disk:1-3`` picks a kernel kind, then its size. Whole-number
    fields (JPEG quality, downscale) are drawn as integers. `sample(rng)` gives a plain
    `deconv_gui.core.degrade.Degradation`; the spec is checked by parsing its extremes.
    """

    _INT_STEPS = ("jpeg", "downscale")

    def __init__(self, spec: str) -> None:
        self.spec = str(spec).strip()
        self.steps: list[tuple[str, list[list[tuple[float, float] | str]]]] = []
        for item in (s.strip() for s in self.spec.split(",")):
            name, sep, value = (x.strip() for x in item.partition("="))
            if not sep:
                _degrade.parse_spec(self.spec)  # raises the standard message
            alts = []
            for alt in value.split("|"):
                fields: list[tuple[float, float] | str] = []
                for f in alt.split(":"):
                    m = _RANGE_RE.match(f)
                    if m:
                        lo, hi = float(m.group(1)), float(m.group(2))
                        fields.append((min(lo, hi), max(lo, hi)))
                    else:
                        fields.append(f.strip())
                alts.append(fields)
            self.steps.append((name.lower(), alts))
        for pick in (0.0, 1.0):  # both ends of every range must be valid
            for a in range(max(len(alts) for _, alts in self.steps)):
                _degrade.parse_spec(self._text(lambda lo, hi, t=pick: lo + t * (hi - lo), a))
        scales = {self.sample(np.random.default_rng(i)).scale for i in range(4)}
        if len(scales) != 1:
            raise DeconvError(f"degradation {self.spec!r}: the downscale factor must be fixed")
        self.scale = scales.pop()
        self.has_blur = any(name == "blur" for name, _ in self.steps)

    def _text(self, draw: Any, alt: int | None = None, rng: np.random.Generator | None = None
              ) -> str:  # fmt: skip
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


def _effective_sigma(deg: _degrade.Degradation, mean: float) -> float:
    """Noise level (0-255) of a degradation for a noise-map network (the training pipeline's
    convention: Gaussian sigmas in quadrature, Poisson-Gaussian as its mean variance)."""
    var = 0.0
    for s in deg.steps:
        if isinstance(s, _degrade.GaussianNoise):
            var += (s.sigma / 255.0) ** 2
        elif isinstance(s, _degrade.PoissonGaussianNoise):
            var += s.a * max(mean, 0.05) + s.b
    return math.sqrt(var) * 255.0


# ---------------------------------------------------------------------------- the pool


class _Pool:
    """Photos (or bounded crops of them) in RAM as uint8: ``a`` the input side (lq, or the
    only image), ``b`` the target side (gt, ``scale`` times larger) or None; ``sigma`` the
    estimated noise level of each entry (for noise-map networks)."""

    def __init__(self, scale: int) -> None:
        self.scale = scale
        self.a: list[np.ndarray] = []
        self.b: list[np.ndarray | None] = []
        self.sigma: list[float] = []

    def add(self, a: np.ndarray, b: np.ndarray | None, sigma: float) -> None:
        self.a.append(np.ascontiguousarray(a))
        self.b.append(None if b is None else np.ascontiguousarray(b))
        self.sigma.append(float(sigma))

    @property
    def weights(self) -> np.ndarray:
        areas = np.array([x.shape[0] * x.shape[1] for x in self.a], np.float64)
        return areas / areas.sum()

    def sample(
        self, rng: np.random.Generator, batch: int, patch: int
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """(B, P, P, 3) input-side patches, (B, P*s, P*s, 3) target patches or None, and
        the (B,) noise levels; random position, flip and 90-degree rotation."""
        s = self.scale
        has_b = self.b[0] is not None
        out_a = np.empty((batch, patch, patch, 3), np.uint8)
        out_b = np.empty((batch, patch * s, patch * s, 3), np.uint8) if has_b else None
        sig = np.empty(batch, np.float32)
        idx = rng.choice(len(self.a), size=batch, p=self.weights)
        for k, i in enumerate(idx):
            a, b = self.a[i], self.b[i]
            h, w = a.shape[:2]
            if h < patch or w < patch:
                ph, pw = max(0, patch - h), max(0, patch - w)
                a = np.pad(a, ((0, ph), (0, pw), (0, 0)), mode="reflect")
                if b is not None:
                    b = np.pad(b, ((0, ph * s), (0, pw * s), (0, 0)), mode="reflect")
                h, w = a.shape[:2]
            y = int(rng.integers(0, h - patch + 1))
            x = int(rng.integers(0, w - patch + 1))
            t = int(rng.integers(0, 8))
            out_a[k] = _augment(a[y : y + patch, x : x + patch], t)
            if out_b is not None and b is not None:
                out_b[k] = _augment(b[y * s : (y + patch) * s, x * s : (x + patch) * s], t)
            sig[k] = self.sigma[i]
        return out_a, out_b, sig


def _augment(crop: np.ndarray, t: int) -> np.ndarray:
    if t & 4:
        crop = crop[:, ::-1]
    return np.rot90(crop, t & 3)


def _bounded_crops(
    a: np.ndarray, b: np.ndarray | None, scale: int, budget: int, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """The whole photo when it fits its share of the RAM budget, else random crops."""
    h, w = a.shape[:2]
    if h * w <= budget:
        return [(a, b)]
    side = min(CROP_SIDE, h, w)
    n = max(1, budget // (side * side))
    out = []
    for _ in range(n):
        y = int(rng.integers(0, h - side + 1))
        x = int(rng.integers(0, w - side + 1))
        ca = a[y : y + side, x : x + side].copy()
        cb = None
        if b is not None:
            cb = b[y * scale : (y + side) * scale, x * scale : (x + side) * scale].copy()
        out.append((ca, cb))
    return out


def _estimate_sigma(u8: np.ndarray) -> float:
    from deconv_gui.core.noise import estimate_noise_sigma

    return float(estimate_noise_sigma(u8.astype(np.float32) / 255.0))


def _centre(img: np.ndarray, side: int, mult: int = 1) -> tuple[int, int, int, int]:
    h, w = img.shape[:2]
    ch, cw = min(side, h), min(side, w)
    ch, cw = ch - ch % mult, cw - cw % mult
    y, x = (h - ch) // 2, (w - cw) // 2
    y, x = y - y % mult, x - x % mult
    return y, x, ch, cw


# ----------------------------------------------------------------------------- records


@dataclass
class FinetuneProgress:
    """One progress record. ``phase``: "loading", "validating", "training", "done".

    ``val`` (when it validated): ``{"psnr", "ssim", "input_psnr", "metric"}``; ``preview``:
    ``{"input", "output", "target"}`` uint8 (h, w, 3) crops of the first held-out photo at
    output size (target None in the noisy mode)."""

    step: int
    total: int
    loss: float | None = None
    lr: float | None = None
    eta_s: float | None = None
    elapsed_s: float = 0.0
    phase: str = "training"
    val: dict[str, Any] | None = None
    preview: dict[str, Any] | None = None
    batch: int = 0
    checkpoint: str | None = None
    message: str = ""


@dataclass
class FinetuneResult:
    """What `finetune_job` returns; `save_finetuned` turns it into a library model."""

    module: torch.nn.Module
    base_card: dict[str, Any]
    base_id: str
    base_name: str
    base_kind: str
    data: FinetuneData
    train_count: int
    val_count: int
    steps: int
    before: dict[str, Any]
    after: dict[str, Any]
    curve: list[dict[str, Any]]
    settings: dict[str, Any]
    elapsed_s: float
    device: str

    @property
    def val_psnr_before(self) -> float | None:
        return self.before.get("psnr")

    @property
    def val_psnr_after(self) -> float | None:
        return self.after.get("psnr")


# ----------------------------------------------------------------------------- trainer


def check_trainable(spec: ModelSpec) -> dict[str, Any]:
    """The base card when ``spec`` is a network this app can train further, else a
    `DeconvError` saying why."""
    from deconv_gui.models.networks import ARCHITECTURES

    arch = spec.card.get("architecture") if isinstance(spec.card, dict) else None
    if (
        not spec.trainable
        or spec.kind not in ("bundled", "finetuned")
        or not isinstance(arch, dict)
        or arch.get("name") not in ARCHITECTURES
    ):
        what = {"classical": "a classical method with nothing to learn",
                "imported": "an imported model (its training code is not part of this app)"
                }.get(spec.kind, "not one of the app's own networks")  # fmt: skip
        raise DeconvError(
            f"'{spec.name}' cannot be fine-tuned: it is {what}; choose a bundled network "
            "or one you fine-tuned before"
        )
    return spec.card


def _auto_batch_patch(device: torch.device, task: str) -> tuple[int, int]:
    """Batch and patch (input px) for the device: small on the CPU, more with GPU memory."""
    if device.type == "cuda":
        try:
            gib = torch.cuda.get_device_properties(device).total_memory / 2**30
        except Exception:  # pragma: no cover
            gib = 4.0
        return (32 if gib >= 10 else 16 if gib >= 5 else 8), (96 if task != "upscale" else 64)
    if device.type == "mps":
        return 16, 80 if task != "upscale" else 48
    return 8, 64 if task != "upscale" else 48


class _FinetuneTrainer(Trainer):
    """`Trainer` with the batches of one fine-tune job (pairs, degraded, blind-spot)."""

    def __init__(self, config: dict[str, Any], job: _Job, device: torch.device) -> None:
        super().__init__(config, device=str(device))
        self.job = job

    def next_batch(self) -> Batch:
        return self.job.make_batch(self.rng, self.gen, self.batch_size, self.patch)

    def train_step(self) -> tuple[float, float]:
        from deconv_gui.core.devices import empty_cache, is_out_of_memory

        while True:
            try:
                with torch.enable_grad():
                    return super().train_step()
            except RuntimeError as exc:
                if not is_out_of_memory(exc) or self.batch_size <= 1:
                    raise
                self.optimizer.zero_grad(set_to_none=True)
                empty_cache(self.device)
                self.batch_size = max(1, self.batch_size // 2)
                self.job.note = f"out of memory: batch size now {self.batch_size}"

    def compute_loss(self, out: torch.Tensor, batch: Any) -> torch.Tensor:
        """Charbonnier; in noisy-only mode, MSE on the blind-spot pixels alone."""
        gt = batch.gt.to(self.device)
        if self.job.mode == "noisy":
            mask = batch.mask.to(self.device)
            diff = (out - gt) * mask
            return diff.pow(2).sum() / (mask.sum() * out.shape[1]).clamp_min(1.0)
        return charbonnier(out, gt)


def blind_spot(
    x: torch.Tensor, gen: torch.Generator, fraction: float = N2V_FRACTION, radius: int = N2V_RADIUS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise2Void masking: (masked input, mask (B, 1, H, W)). A ``fraction`` of the pixels
    (all channels together) is replaced by a random other pixel within ``radius``."""
    b, c, h, w = x.shape
    mask = torch.rand((b, 1, h, w), generator=gen) < fraction
    dy = torch.randint(-radius, radius + 1, (b, 1, h, w), generator=gen)
    dx = torch.randint(-radius, radius + 1, (b, 1, h, w), generator=gen)
    same = (dy == 0) & (dx == 0)
    dx = torch.where(same, torch.where(torch.rand((b, 1, h, w), generator=gen) < 0.5, 1, -1), dx)
    yy = torch.arange(h).view(1, 1, h, 1).expand(b, 1, h, w)
    xx = torch.arange(w).view(1, 1, 1, w).expand(b, 1, h, w)
    sy = (yy + dy).clamp(0, h - 1)
    sx = (xx + dx).clamp(0, w - 1)
    # clamping at the border may land on the pixel itself: reflect instead
    sy = torch.where(sy == yy, (yy - dy).clamp(0, h - 1), sy)
    sx = torch.where((sx == xx) & (sy == yy), (xx - dx).clamp(0, w - 1), sx)
    flat = (sy * w + sx).view(b, 1, h * w).expand(b, c, h * w)
    neighbours = torch.gather(x.reshape(b, c, h * w), 2, flat).view(b, c, h, w)
    out = torch.where(mask, neighbours, x)
    return out, mask.float()


class _Job:
    """The data side of one fine-tune job: photos, split, pool, validation crops."""

    def __init__(self, card: dict[str, Any], data: FinetuneData, val_fraction: float,
                 seed: int) -> None:  # fmt: skip
        self.card = card
        self.data = data
        self.mode = data.mode
        self.task = card["task"]
        self.scale = int(card.get("scale", 1))
        self.noise_map = bool(card["architecture"].get("hparams", {}).get("noise_map"))
        self.val_fraction = float(val_fraction)
        self.seed = int(seed)
        self.note = ""
        self.deg: RandomDegradation | None = None
        if self.mode == "noisy" and (self.task != "denoise" or self.scale != 1):
            raise DeconvError(
                "the noisy-photos mode (blind-spot training) only trains denoisers; "
                f"'{card.get('name', card['id'])}' is a {self.task} model"
            )
        if self.mode == "clean":
            self.deg = _checked_degradation(str(data.degrade or ""), self.scale)
        self.items = self._list_items()
        if len(self.items) < MIN_PHOTOS:
            raise DeconvError(
                f"too little data: {len(self.items)} usable photo(s) found, at least "
                f"{MIN_PHOTOS} are needed (one is held out to measure the result); "
                "add more photos"
            )
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(self.items))
        n_val = min(max(1, round(self.val_fraction * len(self.items))), len(self.items) - 1)
        self.val_items = [self.items[i] for i in sorted(order[:n_val])][:VAL_MAX_PHOTOS]
        self.train_items = [self.items[i] for i in sorted(order[n_val:])]
        self.n_val = n_val
        self.pool = _Pool(self.scale if self.mode == "pairs" else 1)

    # -- listing
    def _list_items(self) -> list[tuple[str, Path, Path | None]]:
        if self.mode == "pairs":
            rep = check_pairs(self.data.folders[0], self.data.folders[1], scale=self.scale)
            if not rep.ok and not self.data.skip_mismatched:
                raise DeconvError("the photo pairs do not match up: " + rep.summary())
            return [(n, a, b) for n, a, b in rep.matched]
        photos = _list_photos(self.data.folders[0])
        return [(p.stem, p, None) for p in photos]

    def fingerprint(self) -> dict[str, Any]:
        files = []
        for _, a, b in self.items:
            for p in (a, b):
                if p is not None:
                    st = p.stat()
                    files.append([str(p), st.st_size, int(st.st_mtime)])
        return {"mode": self.mode, "degrade": self.data.degrade, "files": files}

    # -- loading (a generator of messages: photos can be large)
    def load(self) -> Generator[str, None, None]:
        rng = np.random.default_rng(self.seed + 7)
        budget = max(POOL_BUDGET_PIXELS // max(1, len(self.train_items)), CROP_SIDE**2)
        s_in = self.pool.scale
        for i, (_name, a_path, b_path) in enumerate(self.train_items):
            yield f"reading photo {i + 1}/{len(self.train_items)}: {a_path.name}"
            a = _read_u8(a_path)
            b = _read_u8(b_path) if b_path is not None else None
            if min(a.shape[:2]) < MIN_SIDE:
                raise DeconvError(f"{a_path.name} is too small ({a.shape[1]}x{a.shape[0]})")
            if self.mode == "clean" and min(a.shape[:2]) < MIN_SIDE * self.scale:
                raise DeconvError(f"{a_path.name} is too small to downscale")
            sigma = _estimate_sigma(a) if self.noise_map and self.mode != "clean" else 0.0
            for ca, cb in _bounded_crops(a, b, s_in, budget, rng):
                self.pool.add(ca, cb, sigma)
        yield "preparing the held-out photos"
        self.val = [self._val_entry(i, item) for i, item in enumerate(self.val_items)]

    def _val_entry(self, i: int, item: tuple[str, Path, Path | None]) -> dict[str, Any]:
        name, a_path, b_path = item
        a = _read_u8(a_path)
        s = self.scale
        if self.mode == "pairs":
            assert b_path is not None
            b = _read_u8(b_path)
            y, x, h, w = _centre(a, VAL_CROP)
            lq = a[y : y + h, x : x + w]
            gt = b[y * s : (y + h) * s, x * s : (x + w) * s]
            sigma = _estimate_sigma(a) if self.noise_map else 0.0
        elif self.mode == "clean":
            assert self.deg is not None
            y, x, h, w = _centre(a, VAL_CROP * s, s)
            gt = a[y : y + h, x : x + w]
            deg = self.deg.sample(np.random.default_rng(10_000 + i))
            gtf = gt.astype(np.float32) / 255.0
            lq = (deg.apply(gtf, seed=20_000 + i) * 255.0).round().astype(np.uint8)
            sigma = _effective_sigma(deg, float(gtf.mean()))
        else:
            y, x, h, w = _centre(a, VAL_CROP)
            lq = a[y : y + h, x : x + w]
            gt = None
            sigma = _estimate_sigma(a) if self.noise_map else 0.0
        entry: dict[str, Any] = {"name": name, "lq": lq, "gt": gt, "sigma": sigma}
        if self.mode == "noisy":
            g = torch.Generator().manual_seed(30_000 + i)
            x_t = to_tensor(lq[None])
            masked, mask = blind_spot(x_t, g, fraction=0.05)
            entry["masked"], entry["mask"] = masked, mask
        return entry

    # -- batches
    def make_batch(self, rng: np.random.Generator, gen: torch.Generator, batch: int,
                   patch: int) -> Batch:  # fmt: skip
        s = self.scale
        if self.mode == "clean":
            assert self.deg is not None
            m = 8 if self.deg.has_blur else 0
            big, _, _ = self.pool.sample(rng, batch, (patch + 2 * m) * s)
            lqs, gts, sigmas = [], [], []
            for g in big:
                deg = self.deg.sample(rng)
                gf = g.astype(np.float32) / 255.0
                lq = deg.apply(gf, seed=int(rng.integers(0, 2**31 - 1)))
                lqs.append(lq[m : m + patch, m : m + patch])
                gts.append(gf[m * s : (m + patch) * s, m * s : (m + patch) * s])
                sigmas.append(_effective_sigma(deg, float(gf.mean())))
            lq_t = torch.from_numpy(np.ascontiguousarray(np.stack(lqs))).permute(0, 3, 1, 2)
            gt_t = torch.from_numpy(np.ascontiguousarray(np.stack(gts))).permute(0, 3, 1, 2)
            return self._batch(lq_t.float(), gt_t.float(), np.array(sigmas, np.float32))
        a, b, sig = self.pool.sample(rng, batch, patch)
        if self.mode == "pairs":
            assert b is not None
            return self._batch(to_tensor(a), to_tensor(b), sig)
        noisy = to_tensor(a)
        masked, mask = blind_spot(noisy, gen, fraction=N2V_FRACTION)
        out = self._batch(masked, noisy, sig)
        out.mask = mask  # type: ignore[attr-defined]
        return out

    def _batch(self, lq: torch.Tensor, gt: torch.Tensor, sig: np.ndarray) -> Batch:
        from deconv_gui.models.networks import NOISE_MAP_SCALE

        nm = None
        if self.noise_map:
            nm = torch.from_numpy(sig.astype(np.float32) / NOISE_MAP_SCALE).view(-1, 1, 1, 1)
        return Batch(lq=lq, gt=gt, noise_map=nm)

    # -- validation
    def validate(self, model: torch.nn.Module, device: torch.device,
                 with_preview: bool) -> tuple[dict[str, Any], dict[str, Any] | None]:  # fmt: skip
        from deconv_gui.core.metrics import psnr, rgb_to_y, shave, ssim
        from deconv_gui.models.networks import NOISE_MAP_SCALE

        model.eval()
        s = self.scale
        psnrs, ssims, inps = [], [], []
        preview = None
        with torch.inference_mode():
            for k, e in enumerate(self.val):
                nm = e["sigma"] / NOISE_MAP_SCALE if self.noise_map else None

                def run(x: torch.Tensor, nm: float | None = nm) -> torch.Tensor:
                    x = x.to(device)
                    y = model(x, nm) if nm is not None else model(x)
                    return y.float().cpu()

                lq_t = to_tensor(e["lq"][None])
                out = run(lq_t).clamp(0, 1)
                out_np = out[0].permute(1, 2, 0).numpy()
                lq_np = e["lq"].astype(np.float32) / 255.0
                if self.mode == "noisy":
                    pred = run(e["masked"])
                    mask = e["mask"]
                    mse = float(((pred - lq_t) ** 2 * mask).sum() / (mask.sum() * 3).clamp_min(1))
                    psnrs.append(10 * math.log10(1.0 / max(mse, 1e-12)))
                else:
                    gt = e["gt"].astype(np.float32) / 255.0
                    inp = _degrade.upscale_bicubic(lq_np, s) if s > 1 else lq_np
                    if s > 1:
                        g, i_, o = (shave(rgb_to_y(v), s) for v in (gt, inp, out_np))
                    else:
                        g, i_, o = gt, inp, out_np
                    psnrs.append(float(psnr(o, g, data_range=1.0)))
                    ssims.append(float(ssim(o, g, data_range=1.0)))
                    inps.append(float(psnr(i_, g, data_range=1.0)))
                if with_preview and k == 0:
                    inp_show = _degrade.upscale_bicubic(lq_np, s) if s > 1 else lq_np
                    preview = {
                        "name": e["name"],
                        "input": _to_u8(inp_show),
                        "output": _to_u8(out_np),
                        "target": e["gt"],
                    }
        model.train()
        metric = "blind-spot PSNR vs the noisy photo" if self.mode == "noisy" else (
            "PSNR/SSIM on Y" if s > 1 else "PSNR/SSIM on RGB")  # fmt: skip
        val = {
            "psnr": round(float(np.mean(psnrs)), 3),
            "ssim": round(float(np.mean(ssims)), 4) if ssims else None,
            "input_psnr": round(float(np.mean(inps)), 3) if inps else None,
            "metric": metric,
            "photos": len(self.val),
        }
        return val, preview


def _to_u8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _checked_degradation(spec: str, scale: int) -> RandomDegradation:
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


# ------------------------------------------------------------------------------- job


def finetune_job(
    base_spec: ModelSpec,
    data: FinetuneData,
    mode: str | None = None,
    steps: int = DEFAULT_STEPS,
    *,
    device: str = "auto",
    val_fraction: float = 0.15,
    batch: int | None = None,
    patch: int | None = None,
    lr: float | None = None,
    seed: int = 0,
    checkpoint_dir: str | Path | None = None,
    resume: bool = True,
    val_every: int | None = None,
    checkpoint_minutes: float = 2.0,
) -> Generator[FinetuneProgress, None, FinetuneResult]:
    """Train a copy of ``base_spec``'s network on ``data`` for ``steps`` steps.

    A generator: see the module docstring. Raises `DeconvError` for a base model that
    cannot be trained, too little data, mismatched pairs (unless skipped), unreadable
    photos or a bad degradation spec; the base model is never changed.
    """
    from deconv_gui.core.devices import resolve_device

    if mode is not None and mode != data.mode:
        raise DeconvError(f"mode {mode!r} does not match the data ({data.mode!r})")
    if data.mode not in MODES:
        raise DeconvError(f"unknown fine-tune mode {data.mode!r}")
    steps = int(steps)
    if steps < 1:
        raise DeconvError("the number of steps must be at least 1")
    if not 0.0 < float(val_fraction) < 1.0:
        raise DeconvError("the validation fraction must be between 0 and 1")
    card = check_trainable(base_spec)
    dev = resolve_device(device)
    t0 = time.perf_counter()
    job = _Job(card, data, val_fraction, seed)  # checks names/sizes: fails on the first pull
    yield FinetuneProgress(0, steps, phase="loading", message=f"{len(job.items)} photo(s) found")
    for msg in job.load():
        yield FinetuneProgress(0, steps, phase="loading", message=msg,
                               elapsed_s=time.perf_counter() - t0)  # fmt: skip

    auto_b, auto_p = _auto_batch_patch(dev, job.task)
    batch = int(batch or auto_b)
    patch = int(patch or auto_p)
    if job.scale > 1 or (job.mode == "clean" and job.deg and job.deg.scale > 1):
        patch = max(patch, 8)
    pad = int(card.get("pad_multiple", 1))
    patch = max(pad, patch - patch % pad)
    settings = {
        "steps": steps, "batch": batch, "patch": patch,
        "lr": float(lr or (DEFAULT_LR_NOISY if job.mode == "noisy" else DEFAULT_LR)),
        "seed": int(seed), "val_fraction": float(val_fraction),
    }  # fmt: skip
    config = {
        "id": card["id"] + "-finetune",
        "task": job.task,
        "scale": job.scale,
        "architecture": copy.deepcopy(card["architecture"]),
        "batch": batch,
        "patch": patch,
        "optimizer": {"lr": settings["lr"], "betas": [0.9, 0.99], "weight_decay": 0.0},
        "schedule": {"warmup": 0.05, "final_lr_frac": 0.1},
        "grad_clip": 0.5,
        "steps": steps,
        "seed": int(seed),
    }
    base_proc = base_spec.build(LoadOptions(device="cpu", allow_fp16=False))
    base_sd = {k: v.detach().float().clone() for k, v in base_proc.module.state_dict().items()}
    del base_proc
    trainer = _FinetuneTrainer(config, job, dev)
    trainer.model.load_state_dict(base_sd)
    fingerprint = {
        "base": base_spec.id,
        "base_params": hashlib.sha256(
            b"".join(v.numpy().tobytes()[:4096] for v in base_sd.values())
        ).hexdigest(),
        **job.fingerprint(),
        **settings,
    }
    ft_state: dict[str, Any] = {"fingerprint": fingerprint, "before": None, "curve": []}
    ckpt = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir else None
    resumed = False
    restart_note = ""
    if ckpt is not None and resume and ckpt.is_file():
        try:
            state = torch.load(ckpt, map_location=dev, weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise DeconvError(f"cannot read the checkpoint {ckpt}: {exc}") from None
        old = state.get("finetune", {})
        if old.get("fingerprint") == fingerprint:
            trainer.load_state_dict(state)
            trainer.batch_size = int(old.get("batch", trainer.batch_size))
            ft_state.update(old)
            resumed = True
        else:  # other base model, photos or settings: that checkpoint is replaced
            restart_note = "the checkpoint was for other photos or settings: starting afresh"

    def save_ckpt() -> str | None:
        if ckpt is None:
            return None
        state = trainer.state_dict()
        state["finetune"] = {**ft_state, "batch": trainer.batch_size}
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        tmp = ckpt.with_name(ckpt.name + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, ckpt)
        return str(ckpt)

    if ft_state["before"] is None:
        yield FinetuneProgress(0, steps, phase="validating", message="measuring the base model",
                               elapsed_s=time.perf_counter() - t0)  # fmt: skip
        before, preview = job.validate(trainer.model, dev, True)
        ft_state["before"] = before
        preview_before = preview
    else:
        before = ft_state["before"]
        _, preview_before = job.validate(trainer.model, dev, True)
    yield FinetuneProgress(
        trainer.step, steps, phase="validating", val=before, preview=preview_before,
        batch=trainer.batch_size, elapsed_s=time.perf_counter() - t0,
        message=f"resumed at step {trainer.step}" if resumed else restart_note or "base model measured",
    )  # fmt: skip

    val_every = int(val_every or max(10, min(100, steps // 10)))
    last_ckpt_t = time.perf_counter()
    rate: float | None = None  # seconds per step (moving average)
    after = before
    finished = False
    try:
        while trainer.step < steps:
            ts = time.perf_counter()
            loss, cur_lr = trainer.train_step()
            dt = time.perf_counter() - ts
            rate = dt if rate is None else 0.9 * rate + 0.1 * dt
            val = preview = None
            step = trainer.step
            if step % val_every == 0 or step == steps:
                val, preview = job.validate(trainer.model, dev, True)
                after = val
                ft_state["curve"].append({"step": step, "loss": round(loss, 6), **{
                    k: val[k] for k in ("psnr", "ssim")}})  # fmt: skip
            elif step % 5 == 0 or step < 5:
                ft_state["curve"].append({"step": step, "loss": round(loss, 6)})
            saved = None
            now = time.perf_counter()
            if ckpt is not None and (
                step == steps or now - last_ckpt_t >= checkpoint_minutes * 60.0
            ):
                saved = save_ckpt()
                last_ckpt_t = time.perf_counter()
            note, job.note = job.note, ""
            yield FinetuneProgress(
                step, steps, loss=loss, lr=cur_lr, eta_s=rate * (steps - step),
                elapsed_s=now - t0, phase="training", val=val, preview=preview,
                batch=trainer.batch_size, checkpoint=saved, message=note,
            )  # fmt: skip
        finished = True
    finally:
        if not finished and ckpt is not None and trainer.step > 0:
            save_ckpt()  # cancelled or failed: keep what was learnt for a resume
    if after is before or (ft_state["curve"] and "psnr" not in ft_state["curve"][-1]):
        after, _ = job.validate(trainer.model, dev, False)
    module = copy.deepcopy(trainer.model).cpu().eval()
    yield FinetuneProgress(steps, steps, phase="done", val=after, batch=trainer.batch_size,
                           elapsed_s=time.perf_counter() - t0, message="done")  # fmt: skip
    return FinetuneResult(
        module=module,
        base_card=copy.deepcopy(card),
        base_id=base_spec.id,
        base_name=base_spec.name,
        base_kind=base_spec.kind,
        data=data,
        train_count=len(job.train_items),
        val_count=job.n_val,
        steps=trainer.step,
        before=dict(before),
        after=dict(after),
        curve=list(ft_state["curve"]),
        settings={**settings, "batch": trainer.batch_size},
        elapsed_s=time.perf_counter() - t0,
        device=str(dev),
    )


def default_checkpoint_dir(base_id: str, data: FinetuneData, steps: int) -> Path:
    """A per-job folder under the user folder, so running the same job again resumes it."""
    from deconv_gui import paths

    key = json.dumps(
        [
            base_id,
            data.mode,
            [str(Path(f).expanduser().resolve()) for f in data.folders],
            data.degrade,
            int(steps),
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return paths.user_home() / "finetune-checkpoints" / f"{base_id}-{digest}"


# ------------------------------------------------------------------------------ saving


def save_finetuned(result: FinetuneResult, name: str) -> ModelSpec:
    """Write the fine-tuned network into the user model library and return its spec (kind
    "finetuned"). It shows up in `catalog.default_registry()` from now on."""
    from deconv_gui import __version__, paths
    from deconv_gui.models import imported
    from deconv_gui.models.importer import _slug, _taken_ids, _unique_id
    from deconv_gui.training.export import save_weights

    display = str(name).strip()
    if not display:
        raise DeconvError("the model name is empty")
    if len(display) > 120:
        raise DeconvError("the model name is too long (at most 120 characters)")
    root = paths.user_models_dir()
    tmp = root / f".finetuning-{uuid.uuid4().hex}"
    base = result.base_card
    now = _dt.datetime.now(_dt.timezone.utc)
    try:
        tmp.mkdir()
        weights = save_weights(result.module, tmp / "weights.safetensors", fp16=False)
        sha = hashlib.sha256(weights.read_bytes()).hexdigest()
        model_id = _unique_id(_slug(display), _taken_ids())
        b, a = result.before, result.after
        ft = {
            "base_model": {
                "id": result.base_id,
                "name": result.base_name,
                "kind": result.base_kind,
            },  # fmt: skip
            "mode": result.data.mode,
            "mode_label": MODE_LABELS[result.data.mode],
            "data": result.data.describe(),
            "degrade": result.data.degrade,
            "train_photos": result.train_count,
            "val_photos": result.val_count,
            "steps": result.steps,
            "val_metric": b.get("metric"),
            "val_psnr_before": b.get("psnr"),
            "val_psnr_after": a.get("psnr"),
            "val_ssim_before": b.get("ssim"),
            "val_ssim_after": a.get("ssim"),
            "val_input_psnr": b.get("input_psnr"),
            "device": result.device,
            "minutes": round(result.elapsed_s / 60.0, 2),
            "date": now.date().isoformat(),
            **{k: result.settings[k] for k in ("batch", "patch", "lr", "seed")},
        }
        gain = (
            f"{ft['val_psnr_before']:.2f} -> {ft['val_psnr_after']:.2f} dB"
            if ft["val_psnr_before"] is not None and ft["val_psnr_after"] is not None
            else "n/a"
        )
        card: dict[str, Any] = {
            "format": imported.CARD_FORMAT,
            "id": model_id,
            "name": display,
            "task": base["task"],
            "scale": int(base.get("scale", 1)),
            "kind": "finetuned",
            "loader": "deconv",
            "description": (
                f"{result.base_name} fine-tuned on {result.train_count} of your photos "
                f"({MODE_LABELS[result.data.mode].lower()}, {result.steps} steps; held-out "
                f"{ft['val_metric']}: {gain})."
            ),
            "architecture": copy.deepcopy(base["architecture"]),
            "params": int(sum(p.numel() for p in result.module.parameters())),
            "receptive_field": int(base.get("receptive_field", 16)),
            "pad_multiple": int(base.get("pad_multiple", 1)),
            "fp16": bool(base.get("fp16", False)),
            "storage_dtype": "float32",
            "strength": copy.deepcopy(base.get("strength")),
            "file": weights.name,
            "sha256": sha,
            "size_bytes": weights.stat().st_size,
            "finetune": ft,
            "training": {
                "sessions": [
                    *copy.deepcopy(base.get("training", {}).get("sessions", [])),
                    {
                        "started_from": result.base_id,
                        "finetune": result.data.mode,
                        "steps": result.steps,
                        "wall_minutes": ft["minutes"],
                        "date": ft["date"],
                        "curve": result.curve[-200:],
                    },
                ]
            },  # fmt: skip
            "created_at": now.isoformat(timespec="seconds"),
            "app_version": __version__,
        }
        from deconv_gui.training.export import write_card

        write_card(card, tmp / imported.CARD_NAME)
        os.rename(tmp, root / model_id)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DeconvError(f"cannot write to the model library {root}: {exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return imported.spec_from_card(root / model_id)


# ----------------------------------------------------------------------------- the CLI


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    s = int(round(seconds))
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def run_finetune_cli(
    base: str,
    mode: str,
    paths: Sequence[str],
    degrade: str | None,
    steps: int,
    name: str,
    device: str = "auto",
    json_out: bool = False,
) -> int:
    """``deconv-gui finetune``: train ``base`` on the photos, save it as ``name``.

    ``mode``: "pairs" (``paths`` = [before_dir, after_dir]), "clean" (``paths`` = [dir],
    ``degrade`` a spec) or "noisy" (``paths`` = [dir]). Progress goes to stderr with
    ``json_out`` (stdout's last line is then a JSON object: id, name, base, mode, steps,
    val_psnr_before/after, val_ssim_before/after, metric, minutes), else to stdout.
    Re-running an interrupted command resumes it from its checkpoint. Raises `DeconvError`
    (the CLI prints it and exits 1); returns 0.
    """
    from deconv_gui.models.catalog import default_registry

    reg = default_registry()
    spec = reg.get(base)
    check_trainable(spec)
    data = make_data(mode, list(paths), degrade)
    if data.mode == "pairs":
        rep = check_pairs(data.folders[0], data.folders[1], scale=spec.scale)
        if not rep.ok:
            raise DeconvError("the photo pairs do not match up: " + rep.summary())
    out = sys.stderr if json_out else sys.stdout
    ckdir = default_checkpoint_dir(spec.id, data, steps)
    gen = finetune_job(spec, data, steps=steps, device=device, checkpoint_dir=ckdir)
    last_print = 0.0
    try:
        while True:
            try:
                p = next(gen)
            except StopIteration as stop:
                result: FinetuneResult = stop.value
                break
            now = time.monotonic()
            if p.phase != "training" or p.val is not None or now - last_print >= 2.0:
                last_print = now
                if p.phase == "training":
                    line = (f"step {p.step}/{p.total}  loss {p.loss:.5f}  lr {p.lr:.2e}  "
                            f"eta {_fmt_eta(p.eta_s)}")  # fmt: skip
                else:
                    line = p.message
                if p.val is not None:
                    ss = p.val.get("ssim")
                    line += f"  val {p.val['psnr']:.2f} dB" + (f" / {ss:.4f}" if ss else "")
                print(line, file=out, flush=True)
    finally:
        gen.close()
    saved = save_finetuned(result, name)
    shutil.rmtree(ckdir, ignore_errors=True)
    b, a = result.before, result.after
    print(f"saved '{saved.name}' as {saved.id}: held-out {b.get('metric')} "
          f"{b['psnr']:.2f} -> {a['psnr']:.2f} dB", file=out, flush=True)  # fmt: skip
    if json_out:
        print(json.dumps({
            "id": saved.id, "name": saved.name, "base": spec.id, "mode": data.mode,
            "steps": result.steps, "train_photos": result.train_count,
            "val_photos": result.val_count, "metric": b.get("metric"),
            "val_psnr_before": b.get("psnr"), "val_psnr_after": a.get("psnr"),
            "val_ssim_before": b.get("ssim"), "val_ssim_after": a.get("ssim"),
            "minutes": round(result.elapsed_s / 60.0, 2), "device": result.device,
        }), flush=True)  # fmt: skip
    return 0


__all__ = [
    "MODES",
    "MODE_HELP",
    "MODE_LABELS",
    "FinetuneData",
    "FinetuneProgress",
    "FinetuneResult",
    "PairReport",
    "RandomDegradation",
    "blind_spot",
    "check_pairs",
    "check_trainable",
    "default_checkpoint_dir",
    "finetune_job",
    "make_data",
    "run_finetune_cli",
    "save_finetuned",
]
