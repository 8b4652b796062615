"""Quality numbers for the readout: what is compared with what, computed in worker threads.

Without a reference the result is compared with its input ("similarity to input"); an
upscaled result is first reduced to the input's size. With a reference (a photo the user
loads, or the photo itself in Simulate mode) both the input ("before") and the result
("after") are compared with it at the reference's size, so the readout shows the gain.

Functions here are plain Python (no Qt widgets) and run inside `TaskQueue` jobs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from deconv_gui.core import metrics
from deconv_gui.core.finish import match_size
from deconv_gui.gui.display import (
    DisplayColour,
    DisplayImage,
    Overlay,
    diff_overlay,
    ssim_overlay,
)


def resize_to(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-average when shrinking, bicubic when enlarging (clipped to [0, 1])."""
    h, w = img.shape[:2]
    if (w, h) == (width, height):
        return img
    interp = cv2.INTER_AREA if width < w and height < h else cv2.INTER_CUBIC
    out = cv2.resize(img, (width, height), interpolation=interp)
    return np.clip(out, 0.0, 1.0, out=out)


def psnr_from_mse(mse: float) -> float:
    return math.inf if mse <= 0 else 10.0 * math.log10(1.0 / mse)


@dataclass
class Target:
    """What results are compared with: ``gt`` (the reference, or the input) and its label."""

    gt: np.ndarray
    has_reference: bool
    label: str  # e.g. "similarity to input", "vs your photo", "vs reference photo"
    before_cmp: np.ndarray | None = None  # the input at the reference's size (reference only)
    before_ssim: float | None = None
    before_psnr: float | None = None
    before_map: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        return int(self.gt.shape[1]), int(self.gt.shape[0])


def make_target(lq: np.ndarray, reference: np.ndarray | None, label: str = "") -> Target:
    """Build the comparison target; with a reference also scores the input against it."""
    if reference is None:
        return Target(gt=lq, has_reference=False, label=label or "similarity to input")
    h, w = reference.shape[:2]
    before = resize_to(lq, w, h)
    s, m = metrics.ssim_and_map(before, reference)
    p = metrics.psnr(before, reference)
    return Target(
        gt=reference,
        has_reference=True,
        label=label or "vs reference",
        before_cmp=before,
        before_ssim=float(s),
        before_psnr=float(p),
        before_map=m.astype(np.float32, copy=False),
    )


@dataclass(frozen=True)
class TileScores:
    """Sums over the finished tiles of a result (a live estimate while it arrives)."""

    ssim_sum: float = 0.0
    area: int = 0
    sq_sum: float = 0.0
    values: int = 0
    tiles: int = 0

    def __add__(self, other: TileScores) -> TileScores:
        return TileScores(
            self.ssim_sum + other.ssim_sum,
            self.area + other.area,
            self.sq_sum + other.sq_sum,
            self.values + other.values,
            self.tiles + other.tiles,
        )

    @property
    def ssim(self) -> float | None:
        return self.ssim_sum / self.area if self.area else None

    @property
    def psnr(self) -> float | None:
        return psnr_from_mse(self.sq_sum / self.values) if self.values else None


def score_tiles(
    target: Target,
    out_size: tuple[int, int],
    tiles: list[tuple[tuple[int, int, int, int], np.ndarray]],
) -> TileScores:
    """SSIM/MSE sums of result tiles (boxes in output px) against the target."""
    tw, th = target.size
    ow, oh = out_size
    fx, fy = tw / ow, th / oh
    scores = TileScores()
    for (y0, y1, x0, x1), pixels in tiles:
        ty0, ty1 = round(y0 * fy), round(y1 * fy)
        tx0, tx1 = round(x0 * fx), round(x1 * fx)
        if ty1 - ty0 < 7 or tx1 - tx0 < 7:
            continue
        a = resize_to(np.asarray(pixels[: y1 - y0, : x1 - x0], np.float32), tx1 - tx0, ty1 - ty0)
        b = target.gt[ty0:ty1, tx0:tx1]
        area = (ty1 - ty0) * (tx1 - tx0)
        diff = a - b
        scores += TileScores(
            ssim_sum=float(metrics.ssim(a, b)) * area,
            area=area,
            sq_sum=float(np.einsum("ijk,ijk->", diff, diff, dtype=np.float64)),
            values=diff.size,
            tiles=1,
        )
    return scores


@dataclass
class FinalScores:
    ssim: float
    psnr: float
    ssim_map: np.ndarray  # at the target's size
    overlays: dict[str, Overlay] = field(default_factory=dict, repr=False)  # built on demand


def score_result(target: Target, out: np.ndarray) -> FinalScores:
    """Whole-image SSIM/PSNR of a result against the target, and the SSIM map."""
    tw, th = target.size
    after = resize_to(out, tw, th)
    s, m = metrics.ssim_and_map(after, target.gt)
    p = metrics.psnr(after, target.gt)
    return FinalScores(float(s), float(p), m.astype(np.float32, copy=False))


def make_overlay(kind: str, target: Target, out: np.ndarray, final: FinalScores) -> Overlay:
    """The false-colour SSIM map ("ssim") or the difference ("diff") of a result against
    what it is compared with, auto-contrasted."""
    against = target.label.removeprefix("vs ") if target.has_reference else "input"
    if kind == "ssim":
        return ssim_overlay(final.ssim_map, against)
    tw, th = target.size
    return diff_overlay(resize_to(out, tw, th), target.gt, against)


def enlarged_view(
    rgb: np.ndarray, size: tuple[int, int], colour: DisplayColour | None = None
) -> DisplayImage:
    """`rgb` enlarged with Lanczos to `size` (w, h), ready to paint: the honest "before" of
    an upscale (`core.finish.match_size`, the same enlargement Amount blends with)."""
    w, h = size
    shape_only = np.broadcast_to(np.float32(0), (h, w, 3))  # match_size reads its shape only
    return DisplayImage.from_rgb(match_size(rgb, shape_only), colour)


# ------------------------------------------------------------------ what the numbers say
#: against the input, SSIM at or above this: the result "changed little"
CHANGED_LITTLE_SSIM = 0.95
#: ...and below this: it "changed a lot" (in between: "changed moderately")
CHANGED_A_LOT_SSIM = 0.80
#: against a reference, a PSNR gain of at least this many dB is "better" (SSIM not lower
#: by more than `SSIM_TOLERANCE`), of `CLEARLY_BETTER_DB` "clearly better"
BETTER_DB, CLEARLY_BETTER_DB = 0.5, 2.0
SSIM_TOLERANCE = 0.005


def change_verdict(ssim: float) -> str:
    """How much a result changed its input, from their SSIM (not a judgement of quality)."""
    if ssim >= CHANGED_LITTLE_SSIM:
        return "changed little"
    if ssim < CHANGED_A_LOT_SSIM:
        return "changed a lot"
    return "changed moderately"


def gain_verdict(
    before_ssim: float,
    after_ssim: float,
    before_psnr: float,
    after_psnr: float,
    against: str = "the reference",
) -> tuple[str, str]:
    """A one-line verdict on a result compared with `against` (a reference), and its kind
    ("good", "bad" or "" for neither)."""
    if math.isinf(after_psnr):
        d_db = 0.0 if math.isinf(before_psnr) else math.inf
    else:
        d_db = after_psnr - before_psnr
    d_ssim = after_ssim - before_ssim
    if d_db >= BETTER_DB and d_ssim >= -SSIM_TOLERANCE:
        word = "Clearly better" if d_db >= CLEARLY_BETTER_DB else "Better"
        return f"{word}: closer to {against} than the input was.", "good"
    if d_db <= -BETTER_DB or d_ssim < -SSIM_TOLERANCE:
        return f"Worse: further from {against} than the input was.", "bad"
    return f"About the same: hardly closer to {against} than the input was.", ""


#: a reference whose small thumbnail has an SSIM below this against the photo's does not
#: show the same scene (a photo degraded by noise, blur or JPEG stays far above it)
LOOKALIKE_MIN_SSIM = 0.5
LOOKALIKE_SIDE = 48  # px, the thumbnails' longer side


def lookalike_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of small grey thumbnails of `a` and `b` (b resized to a's thumbnail): how much
    two photos show the same scene, whatever their noise, blur or size."""
    h, w = a.shape[:2]
    s = LOOKALIKE_SIDE / max(h, w)
    size = (max(8, round(w * s)), max(8, round(h * s)))

    def thumb(x: np.ndarray) -> np.ndarray:
        small = cv2.resize(np.asarray(x, np.float32), size, interpolation=cv2.INTER_AREA)
        return metrics.rgb_to_y(np.clip(small, 0.0, 1.0))

    return float(metrics.ssim(thumb(a), thumb(b)))


def region_mean(
    ssim_map: np.ndarray | None,
    rect_scene: tuple[float, float, float, float],
    scene_size: tuple[int, int],
) -> float | None:
    """Mean of an SSIM map over a scene rectangle (x, y, w, h in scene px)."""
    if ssim_map is None:
        return None
    mh, mw = ssim_map.shape[:2]
    sw, sh = scene_size
    x, y, w, h = rect_scene
    x0, x1 = int(max(0, math.floor(x * mw / sw))), int(min(mw, math.ceil((x + w) * mw / sw)))
    y0, y1 = int(max(0, math.floor(y * mh / sh))), int(min(mh, math.ceil((y + h) * mh / sh)))
    if x1 <= x0 or y1 <= y0:
        return None
    return float(ssim_map[y0:y1, x0:x1].mean(dtype=np.float64))


def reference_refusal(photo: np.ndarray, ref: np.ndarray, ref_name: str, photo_name: str) -> str:
    """Why `ref` cannot be the reference of `photo` (another shape, or another scene by
    `lookalike_ssim`), in words; "" when it can."""
    rh, rw = ref.shape[:2]
    ih, iw = photo.shape[:2]
    if abs(rw / rh - iw / ih) > 0.01:
        return (
            f"{ref_name} is not used as the reference: its shape ({rw} × {rh}) is not the "
            f"photo's ({iw} × {ih}), so it cannot show the same picture."
        )
    alike = lookalike_ssim(photo, ref)
    if alike < LOOKALIKE_MIN_SSIM:
        return (
            f"{ref_name} is not used as the reference: it does not look like {photo_name} "
            f"(their thumbnails are only {alike:.2f} alike in SSIM), so the numbers would "
            "mean nothing."
        )
    return ""
