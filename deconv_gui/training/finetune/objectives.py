"""The loss per kind of data, and the held-out measure that goes with it.

* `Supervised` (pairs, clean photos + a degradation): Charbonnier loss against the target;
  held out: PSNR/SSIM against the target (on Y with the scale shaved for upscalers).
* `NeighbourSubsampling` (noisy photos only): Neighbor2Neighbor (Huang et al., "Neighbor2
  Neighbor: Self-Supervised Denoising from Single Noisy Images", CVPR 2021). The network
  sees a half-size image made of one pixel of each 2x2 cell and must predict a neighbouring
  pixel's image (MSE), plus the paper's regulariser that ties this to the network's output
  on the whole image. Unlike a blind spot, the network keeps seeing every pixel it is given,
  so a supervised denoiser is not pulled towards ignoring the centre pixel.
* `Recorrupted` (noisy RAW files, whose noise profile is measured): Recorrupted-to-
  Recorrupted (Pang et al., CVPR 2021), the default there; held out, its loss less the
  known part of the target's noise. On `benchmarks/bench_camera_tuning.py` it added 0.23 dB
  on the mosaic to what the measured profile alone gives (40.19 -> 40.42 dB; 0.81 dB on the
  camera with strong banding), where Neighbor2Neighbor on the packed planes lost 2.5 dB in a
  short trial while its held-out score rose (neighbours two photosites apart differ in
  signal). Before the recorruption had the camera's banding and a better-measured read
  noise, it added nothing (40.12 -> 40.10 dB).
* `BlindSpot` (Noise2Void): kept for comparison (``objective="noise2void"``): it measured
  -0.96 dB on `benchmarks/bench_finetune.py`.

Held out, both self-supervised objectives use `self_supervised_mse`: the network the app
runs (no hidden pixels), on each half-size image of a held-out photo, against the two
neighbouring half-size images. For noise that is independent from pixel to pixel the
target's noise is independent of the input, so this is the true MSE of the network's output
on the half-size image, plus a constant (the noise variance), plus a term from the small
signal gap between neighbours that favours slightly smoother outputs. It catches a model that
got broadly worse (a diverged run, a too high rate: `guard`), but it is not an oracle: on
`benchmarks/bench_finetune.py`'s chroma noise it scored Noise2Void's over-smoothing (-0.87 dB
true PSNR) as +0.03 dB; no single-image score built from neighbours is free of that bias for
a network that sees every pixel. (The blind-spot loss is worse: it measures the network with
hidden pixels, not the one the app runs, and rose 12.43 -> 12.64 dB while the true PSNR fell
by 0.96 dB.) Noise correlated between neighbours (`correlated_noise_caveat`) breaks both the
training and the score.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from deconv_gui.core import degrade as _degrade
from deconv_gui.core.metrics import psnr, rgb_to_y, shave, ssim
from deconv_gui.errors import DeconvError
from deconv_gui.training.finetune.sampling import (
    blind_spot,
    cell_image,
    neighbours_of,
    random_neighbour_picks,
    split_cells,
)
from deconv_gui.training.loop import charbonnier

if TYPE_CHECKING:
    from deconv_gui.training.degradations import Batch
    from deconv_gui.training.finetune.sources import Source

# (input NCHW, noise map (B, 1, 1, 1) or None) -> output, on the model's device
Forward = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


def make_forward(model: torch.nn.Module, device: torch.device, noise_map: bool,
                 raw_map: bool = False) -> Forward:  # fmt: skip
    """The model as a `Forward`: inputs moved to ``device``, the noise map passed when the
    network takes one. With ``raw_map`` (the RAW denoiser) the noise input is each image's
    Poisson-Gaussian (shot, read) as (B, 2, 1, 1), turned into the per-photosite standard
    deviation map of the image it is given (`core.raw_noise.std_map`), so a sub-sampled
    image gets its own map."""
    from deconv_gui.core.raw_noise import RAW_MAP_SCALE

    def forward(x: torch.Tensor, nm: torch.Tensor | None) -> torch.Tensor:
        x = x.to(device)
        if raw_map and nm is not None:
            nm = nm.to(device)
            var = (x.clamp_min(0.0) * nm[:, 0:1] + nm[:, 1:2]).clamp_min(1e-12)
            return model(x, var.sqrt() * RAW_MAP_SCALE)
        if noise_map and nm is not None:
            return model(x, nm.to(device))
        return model(x)

    return forward


class Objective(ABC):
    """How a fine-tune learns from a batch, and how its held-out photos are scored."""

    name: ClassVar[str]
    supervised: ClassVar[bool]
    patch_multiple: ClassVar[int] = 1  # input patches must be a multiple of this

    @abstractmethod
    def loss(self, forward: Forward, batch: Batch, gen: torch.Generator) -> torch.Tensor:
        """The training loss of one batch (``gen``: the job's seeded torch generator)."""

    @property
    @abstractmethod
    def metric(self) -> str:
        """What the held-out score is, in words (shown with the numbers)."""

    def held_out_mse(self, forward: Forward, noisy: torch.Tensor, nm: torch.Tensor | None,
                     seed: int) -> float:  # fmt: skip
        """The self-supervised held-out loss of a (1, C, H, W) noisy image (even sides)."""
        return self_supervised_mse(forward, noisy, nm)


class Supervised(Objective):
    name = "supervised"
    supervised = True

    def __init__(self, scale: int = 1) -> None:
        self.scale = int(scale)

    def loss(self, forward: Forward, batch: Batch, gen: torch.Generator) -> torch.Tensor:
        out = forward(batch.lq, batch.noise_map)
        return charbonnier(out, batch.gt.to(out.device))

    @property
    def metric(self) -> str:
        return "PSNR/SSIM on Y" if self.scale > 1 else "PSNR/SSIM on RGB"


class NeighbourSubsampling(Objective):
    """Neighbor2Neighbor: reconstruction + ``gamma`` x the consistency regulariser."""

    name = "neighbor2neighbor"
    supervised = False
    patch_multiple = 2

    def __init__(self, gamma: float = 1.0) -> None:
        self.gamma = float(gamma)

    def loss(self, forward: Forward, batch: Batch, gen: torch.Generator) -> torch.Tensor:
        y = batch.lq
        first, second = random_neighbour_picks(y, gen)
        g1, g2 = split_cells(y, first, second)
        out = forward(g1, batch.noise_map)
        diff = out - g2.to(out.device)
        loss = diff.pow(2).mean()
        if self.gamma > 0:
            with torch.no_grad():
                whole = forward(y, batch.noise_map)
            f1, f2 = split_cells(whole, first.to(whole.device), second.to(whole.device))
            loss = loss + self.gamma * (diff - (f1 - f2)).pow(2).mean()
        return loss

    @property
    def metric(self) -> str:
        return "self-supervised PSNR (neighbouring pixels)"


class BlindSpot(Objective):
    """Noise2Void: MSE on randomly hidden pixels, each replaced by a random neighbour."""

    name = "noise2void"
    supervised = False

    def loss(self, forward: Forward, batch: Batch, gen: torch.Generator) -> torch.Tensor:
        masked, mask = blind_spot(batch.lq, gen)
        out = forward(masked, batch.noise_map)
        mask = mask.to(out.device)
        diff = (out - batch.lq.to(out.device)) * mask
        return diff.pow(2).sum() / (mask.sum() * out.shape[1]).clamp_min(1.0)

    @property
    def metric(self) -> str:
        return "self-supervised PSNR (neighbouring pixels)"


class Recorrupted(Objective):
    """Recorrupted-to-Recorrupted (Pang et al., "Recorrupted-to-Recorrupted: Unsupervised
    Deep Learning for Image Denoising", CVPR 2021), for noise of a known profile: the RAW
    source's fitted camera noise, given as (shot, read[, row]) per image (B, 2 or 3, 1, 1).

    From a noisy y with per-photosite variance v = shot * y + read, draw z ~ N(0, v) and
    train f(y + alpha z) -> y - z / alpha. The two noises (n + alpha z and n - z / alpha)
    are uncorrelated, so the loss is the true MSE of f on inputs noisier than the user's
    ((1 + alpha^2) v, which the network is told through its noise map) plus a constant, at
    full resolution: no neighbour's signal stands in for the target, so unlike neighbour
    sub-sampling nothing rewards blurring. It needs z to have the noise's
    covariance: an overestimate rewards smoothing a little, and noise that z lacks is kept
    (the network learns it as picture). So z also gets the camera's row noise (``row``:
    one offset per mosaic row, shared by packed planes R, G1 and by G2, B), which the
    network then learns to remove although its noise map does not describe it.

    ``alpha`` trades the input's extra noise against the target's ((1 + 1 / alpha^2) v):
    the default 1 (twice the variance in, 2 v in the target) learnt more in the same time
    than the paper's 0.5 (1.25 v in, 5 v in the target) on
    `benchmarks/bench_camera_tuning.py`: 40.42 against 40.35 dB in 12 minutes
    (``--objective recorrupted:0.5`` runs the latter; `runs/camera_tuning_alpha05.txt`).
    The objective name ``"recorrupted:ALPHA"`` sets it."""

    name = "recorrupted"
    supervised = False

    def __init__(self, alpha: float = 1.0) -> None:
        if not 0.0 < float(alpha) <= 10.0:
            raise DeconvError(f"recorrupted: alpha must be in (0, 10], got {alpha}")
        self.alpha = float(alpha)

    def pair(self, y: torch.Tensor, nm: torch.Tensor | None, gen: torch.Generator
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
        """(input, target, the input's noise (shot, read[, row]), the added noise z) of a
        batch."""
        if nm is None or nm.shape[1] not in (2, 3):
            raise DeconvError("recorrupted training needs a noise profile (RAW files)")
        var = (y.clamp_min(0.0) * nm[:, 0:1] + nm[:, 1:2]).clamp_min(0.0)
        z = torch.randn(y.shape, generator=gen) * var.sqrt()
        if nm.shape[1] == 3 and y.shape[1] == 4 and bool((nm[:, 2] > 0).any()):
            b, _, h, _ = y.shape
            rows = torch.randn((b, 2, h, 1), generator=gen) * nm[:, 2:3].clamp_min(0.0).sqrt()
            z = z + rows.repeat_interleave(2, dim=1)  # R, G1: one mosaic row; G2, B: the next
        a = self.alpha
        return y + a * z, y - z / a, nm * (1.0 + a * a), z

    def loss(self, forward: Forward, batch: Batch, gen: torch.Generator) -> torch.Tensor:
        u, t, nm, _ = self.pair(batch.lq, batch.noise_map, gen)
        out = forward(u, nm)
        return (out - t.to(out.device)).pow(2).mean()

    def held_out_mse(self, forward: Forward, noisy: torch.Tensor, nm: torch.Tensor | None,
                     seed: int) -> float:  # fmt: skip
        """The recorrupted loss less the part of the target's noise that is known (the
        added z / alpha, squared): the true MSE of the output plus the noise variance, as
        for neighbour sub-sampling, with the same draws before and after training."""
        gen = torch.Generator().manual_seed(1_000 + int(seed))
        total = 0.0
        for _ in range(RECORRUPTED_DRAWS):
            u, t, nm2, z = self.pair(noisy, nm, gen)
            total += float((forward(u, nm2).float().cpu() - t).pow(2).mean())
            total -= float(z.pow(2).mean()) / self.alpha**2
        return max(total / RECORRUPTED_DRAWS, 1e-12)

    @property
    def metric(self) -> str:
        return "self-supervised PSNR (recorrupted)"


RECORRUPTED_DRAWS = 2  # re-corruptions per held-out crop (fixed seeds)
OBJECTIVES = ("neighbor2neighbor", "noise2void", "recorrupted")  # for noisy-only data
DEFAULT_SELF_SUPERVISED = "neighbor2neighbor"
DEFAULT_RAW = "recorrupted"  # noisy RAW files: the noise profile is known


def objective_for(source: Source, name: str | None = None) -> Objective:
    """The objective for a source: supervised for pairs and clean photos, a self-supervised
    one (``name``, default `DEFAULT_SELF_SUPERVISED`, `DEFAULT_RAW` for RAW files) for noisy
    data only."""
    if source.supervised:
        return Supervised(source.base.scale)
    name = name or (DEFAULT_RAW if source.base.bayer else DEFAULT_SELF_SUPERVISED)
    if name == "recorrupted" or name.startswith("recorrupted:"):  # "recorrupted:ALPHA"
        if not source.base.bayer:
            raise DeconvError("the recorrupted objective needs RAW files (a known noise profile)")
        _, _, alpha = name.partition(":")
        try:
            return Recorrupted(float(alpha)) if alpha else Recorrupted()
        except ValueError:
            raise DeconvError(f"recorrupted: alpha must be a number, got {alpha!r}") from None
    if name == "neighbor2neighbor":
        return NeighbourSubsampling()
    if name == "noise2void":
        return BlindSpot()
    raise DeconvError(
        f"unknown self-supervised objective {name!r} (choose {', '.join(OBJECTIVES)})"
    )


# ---------------------------------------------------------------------------- scoring


def self_supervised_mse(forward: Forward, noisy: torch.Tensor, nm: torch.Tensor | None) -> float:
    """Held-out self-supervised loss of a (1, C, H, W) noisy image (even sides): the output
    on each of the four half-size images of its 2x2 cells against the two next to it."""
    total = 0.0
    for p in range(4):
        out = forward(cell_image(noisy, p), nm).float().cpu()
        for q in neighbours_of(p):
            total += float((out - cell_image(noisy, q)).pow(2).mean())
    return total / 8.0


CORRELATED_NOISE = 0.2  # neighbour correlation of the base's residual above which noise is
# called correlated: independent noise measured -0.13 to 0.00 on the bench's photos (clean
# photos -0.18 to +0.05), camera-like noise (mosaic, demosaic, JPEG) +0.26 to +0.37


def residual_correlation(model: torch.nn.Module, source: Source, device: torch.device) -> float:
    """Correlation between neighbouring pixels (horizontal and vertical, all channels) of
    what ``model`` removes from the held-out photos: about 0 (slightly negative) when the
    noise is independent from pixel to pixel, clearly positive when it is spread over
    neighbours (demosaicing, in-camera noise reduction, JPEG)."""
    forward = make_forward(model, device, source.base.noise_map, source.base.bayer)
    num = den = 0.0
    model.eval()
    with torch.inference_mode():
        for item in source.val:
            nm = source.val_noise(item)
            y = source.as_tensor(item.lq[None])
            r = y - forward(y, nm).float().cpu()
            r = r - r.mean(dim=(2, 3), keepdim=True)
            num += (
                float(
                    (r[..., :, 1:] * r[..., :, :-1]).mean()
                    + (r[..., 1:, :] * r[..., :-1, :]).mean()
                )
                / 2
            )
            den += float(r.pow(2).mean())
    model.train()
    return num / den if den > 0 else 0.0


def correlated_noise_caveat(model: torch.nn.Module, source: Source, device: torch.device) -> str:
    """Why a self-supervised fine-tune cannot work on these photos, or "" when it can."""
    rho = residual_correlation(model, source, device)
    if rho <= CORRELATED_NOISE:
        return ""
    return (
        f"the noise in these photos is correlated between neighbouring pixels (correlation "
        f"{rho:.2f}, typical of camera JPEGs: demosaicing, noise reduction, compression); "
        "learning from noisy photos alone cannot remove such noise and its held-out score "
        "cannot vouch for the result: use before/after pairs or clean photos with a "
        "matching degradation instead"
    )


def _to_u8(x: np.ndarray) -> np.ndarray:
    x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0)  # a diverged model's output
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def validate(
    model: torch.nn.Module,
    source: Source,
    objective: Objective,
    device: torch.device,
    with_preview: bool,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Score ``model`` on the source's held-out items: ``{"psnr", "ssim", "input_psnr",
    "metric", "photos"}`` (higher is better; "ssim" and "input_psnr" None for the
    self-supervised score) and, with ``with_preview``, uint8 crops of the first item
    (``{"name", "input", "output", "target"}``, at output size, target None without one)."""
    model.eval()
    forward = make_forward(model, device, source.base.noise_map, source.base.bayer)
    s = source.base.scale
    psnrs, ssims, inps = [], [], []
    preview = None
    with torch.inference_mode():
        for k, item in enumerate(source.val):
            nm = source.val_noise(item)
            lq_t = source.as_tensor(item.lq[None])
            out_np = forward(lq_t, nm).float().cpu().clamp(0, 1)[0].permute(1, 2, 0).numpy()
            lq_np = source.as_float(item.lq)
            if objective.supervised:
                assert item.gt is not None
                p, q, i = _supervised_scores(out_np, lq_np, source.as_float(item.gt), s)
                psnrs.append(p)
                ssims.append(q)
                inps.append(i)
            else:
                mse = objective.held_out_mse(forward, lq_t, nm, k)
                psnrs.append(10 * math.log10(1.0 / mse) if 0 < mse < math.inf else math.nan)
            if with_preview and k == 0:
                inp_show = _degrade.upscale_bicubic(lq_np, s) if s > 1 else lq_np
                show = source.preview_rgb
                preview = {
                    "name": item.name,
                    "input": _to_u8(show(inp_show)),
                    "output": _to_u8(show(out_np)),
                    "target": None if item.gt is None else _to_u8(show(source.as_float(item.gt))),
                }
    model.train()
    val = {
        "psnr": _finite_db(float(np.mean(psnrs))),
        "ssim": round(float(np.nan_to_num(np.mean(ssims))), 4) if ssims else None,
        "input_psnr": round(float(np.mean(inps)), 3) if inps else None,
        "metric": objective.metric,
        "photos": len(source.val),
    }
    return val, preview


def _finite_db(v: float) -> float:
    """A score that JSON and the guard can use: a broken (non-finite) output scores 0 dB,
    an exact one 100 dB."""
    return 0.0 if math.isnan(v) else round(min(max(v, 0.0), 100.0), 3)


def _supervised_scores(out: np.ndarray, lq: np.ndarray, gt: np.ndarray,
                       s: int) -> tuple[float, float, float]:  # fmt: skip
    inp = _degrade.upscale_bicubic(lq, s) if s > 1 else lq
    if s > 1:
        g, i, o = (shave(rgb_to_y(v), s) for v in (gt, inp, out))
    else:
        g, i, o = gt, inp, out
    return (float(psnr(o, g, data_range=1.0)), float(ssim(o, g, data_range=1.0)),
            float(psnr(i, g, data_range=1.0)))  # fmt: skip
