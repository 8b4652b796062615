"""Measure a model on a folder of clean images, following ``../shared/data/README.md``.

`evaluate(model, folder, degradation)` degrades every clean image with a seeded degradation
spec (``deconv_gui.core.degrade`` syntax, e.g. ``noise=25``, ``downscale=4``,
``blur=gaussian:2,noise=2``), restores it and returns per-image and mean PSNR/SSIM of the
input and of the output against the clean image.

Conventions (the published-table ones):
* the degraded input is quantised to 8 bits; image ``i`` (sorted by name) uses seed ``seed+i``;
* denoise/deblur: RGB PSNR and SSIM (mean over channels) over the whole image;
* super-resolution (a ``downscale=N`` step): the clean image is cropped to a multiple of N,
  the input baseline is the bicubic upscale of the LR image, PSNR/SSIM on the BT.601 Y
  channel with N px shaved from each border.

``model`` is a `ModelSpec` (built with `LoadOptions`), an ``nn.Module`` (NCHW in [0, 1]) or
any callable mapping an (H, W, 3) float32 image to the restored image. The command line
``python -m deconv_gui.training.evaluate --model ID|CARD.json --degrade SPEC FOLDER`` prints a
table (the commands quoted in the model cards).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from deconv_gui.core import degrade
from deconv_gui.core.errors import describe_error, is_bug
from deconv_gui.core.inputs import expand_inputs
from deconv_gui.core.jobs import restore_job
from deconv_gui.core.metrics import psnr as _psnr
from deconv_gui.core.metrics import rgb_to_y, shave
from deconv_gui.core.metrics import ssim as _ssim
from deconv_gui.core.spec import LoadOptions
from deconv_gui.core.tiling import run_to_end
from deconv_gui.errors import DeconvError
from deconv_gui.training.data import read_rgb_u8

if TYPE_CHECKING:
    from deconv_gui.core.spec import RestoreSpec
    from deconv_gui.core.tiling import TileProgress

log = logging.getLogger(__name__)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(_psnr(a, b, data_range=1.0))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    return float(_ssim(a, b, data_range=1.0))


def parse_degradation(spec: Any) -> Any:
    """A `deconv_gui.core.degrade.Degradation` from a spec string (objects pass through)."""
    return degrade.parse_spec(spec) if isinstance(spec, str) else spec


def blur_kernel_of(spec: Any) -> np.ndarray | None:
    """The blur kernel of a degradation (one blur step), for the Wiener baseline."""
    return parse_degradation(spec).kernel


def noise_sigma_of(spec: Any) -> float:
    return float(parse_degradation(spec).noise_sigma or 0.0)


def upscale_bicubic(img: np.ndarray, factor: int) -> np.ndarray:
    """Bicubic upscale used as the SR input baseline (`core.degrade.upscale_bicubic`)."""
    return degrade.upscale_bicubic(img, factor)


# ---------------------------------------------------------------------------- running
def module_runner(
    module: torch.nn.Module,
    *,
    noise_sigma: float | None = None,
    device: str = "cpu",
    map_value: float | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """Whole-image inference with an ``nn.Module`` (no tiling), for validation. A module
    with a one-channel map input gets ``map_value`` when given (e.g. a JPEG quality's),
    else the noise level ``noise_sigma`` (or its automatic estimate) / NOISE_MAP_SCALE."""
    from deconv_gui.models.networks import NOISE_MAP_SCALE

    def run(img: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].to(device)
        with torch.inference_mode():
            if getattr(module, "noise_map", False) and map_value is not None:
                y = module(x, float(map_value))
            elif getattr(module, "noise_map", False):
                sigma = noise_sigma if noise_sigma is not None else _auto_sigma(img)
                y = module(x, sigma / NOISE_MAP_SCALE)
            else:
                y = module(x)
        return y[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy().astype(np.float32)

    return run


def _auto_sigma(img: np.ndarray) -> float:
    from deconv_gui.core.noise import estimate_noise_sigma

    return estimate_noise_sigma(img)


class SpecRunner:
    """Inference through a `ModelSpec`, as the app runs it: `restore_job` on each image (the
    options checked, a per-photo ``prepare`` such as the automatic noise estimate, the
    engine's out-of-memory handling), on the whole image unless ``tile_size`` is given.

    float32 unless ``reduced_precision``: then what the app runs by default on this device
    (float16 on GPUs, bfloat16 on CPUs where it is fast, for models that allow it).
    ``precision`` says which the last image ran in.
    """

    def __init__(
        self,
        spec: RestoreSpec,
        *,
        strength: float | None = None,
        device: str = "cpu",
        tile_size: int | None = None,
        reduced_precision: bool = False,
        params: dict[str, Any] | None = None,
        ensemble: bool = False,
    ) -> None:
        self.spec = spec
        self.options = LoadOptions(
            device=device,
            strength=strength,
            allow_fp16=bool(reduced_precision),
            params=dict(params or {}),
            ensemble=ensemble,
        )
        self.tile_size = tile_size
        self.precision = "float32"

    def __call__(self, img: np.ndarray) -> np.ndarray:
        tile = self.tile_size or max(img.shape[:2])  # the whole image as one tile
        job = restore_job(self.spec, img, self.options, tile_size=tile)
        out = run_to_end(job, self._seen)
        return np.clip(np.asarray(out, np.float32), 0.0, 1.0)

    def _seen(self, tp: TileProgress) -> None:
        self.precision = tp.precision or "float32"


@dataclass
class ImageScore:
    name: str
    input_psnr: float
    input_ssim: float
    output_psnr: float
    output_ssim: float
    seconds: float = 0.0


@dataclass
class ImageFailure:
    name: str
    error: str  # one line


@dataclass
class EvalResult:
    model: str
    folder: str
    degradation: str
    channel: str
    shave: int
    images: list[ImageScore] = field(default_factory=list)
    precision: str = "float32"
    failed: list[ImageFailure] = field(default_factory=list)  # unreadable, or the model failed

    @property
    def mean(self) -> dict[str, float]:
        if not self.images:
            return {}
        keys = ("input_psnr", "input_ssim", "output_psnr", "output_ssim", "seconds")
        return {k: float(np.mean([getattr(s, k) for s in self.images])) for k in keys}

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"] = self.mean
        d["count"] = len(self.images)
        return d


def image_paths(folder: str | Path) -> list[Path]:
    """The clean images of ``folder`` (sorted, sub-folders included) or the one file
    ``folder``; a missing or empty folder is a `DeconvError`."""
    found = expand_inputs([folder], recursive=True)
    if found.missing:
        raise DeconvError(f"folder not found: {folder}")
    if not found.files:
        raise DeconvError(f"no images in {folder}")
    return found.paths


def make_pair(path: Path, deg: Any, seed: int) -> tuple[str, np.ndarray, np.ndarray]:
    """(name, clean, degraded) float32 images of one file, the clean one cropped to a
    multiple of the degradation's scale."""
    s = int(getattr(deg, "scale", 1) or 1)
    try:
        gt = read_rgb_u8(path)
    except Exception:
        from deconv_gui.core.io import load_image

        load_image(path)  # says in plain words why the file cannot be read, when it cannot
        raise
    h, w = gt.shape[:2]
    if h < s or w < s:
        raise DeconvError(f"{w}x{h} px is too small to downscale by {s}")
    gt = gt[: h - h % s, : w - w % s].astype(np.float32) / 255.0
    lq = np.asarray(deg.apply(gt, seed=seed), np.float32)
    return path.name, gt, lq


def prepare_pairs(
    folder: str | Path | list[Path],
    degradation: Any,
    *,
    max_images: int | None = None,
    seed: int = 0,
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """[(name, clean, degraded)] float32 images (of a folder, or a list of image paths), the
    clean one cropped to a multiple of the degradation's scale; image i gets seed + i."""
    deg = parse_degradation(degradation)
    paths = list(folder) if isinstance(folder, list) else image_paths(folder)
    if max_images is not None:
        paths = paths[:max_images]
    return [make_pair(p, deg, seed + i) for i, p in enumerate(paths)]


def score_one(
    run: Callable[[np.ndarray], np.ndarray],
    pair: tuple[str, np.ndarray, np.ndarray],
    *,
    scale: int = 1,
    channel: str | None = None,
    baseline: Callable[[np.ndarray], np.ndarray] | None = None,
) -> ImageScore:
    """Restore one degraded image with ``run`` and score input and output against the clean
    one (on Y with ``scale`` px shaved for super-resolution, RGB otherwise)."""
    name, gt, lq = pair
    channel = channel or ("Y" if scale > 1 else "RGB")
    n_shave = scale if scale > 1 else 0
    inp = (
        baseline(lq) if baseline is not None else (upscale_bicubic(lq, scale) if scale > 1 else lq)
    )
    t0 = time.perf_counter()
    out = run(lq)
    dt = time.perf_counter() - t0
    if channel == "Y":
        g, i, o = rgb_to_y(gt), rgb_to_y(inp), rgb_to_y(out)
    else:
        g, i, o = gt, inp, out
    g, i, o = shave(g, n_shave), shave(i, n_shave), shave(o, n_shave)
    return ImageScore(name, psnr(i, g), ssim(i, g), psnr(o, g), ssim(o, g), dt)


def score_pairs(
    run: Callable[[np.ndarray], np.ndarray],
    pairs: list[tuple[str, np.ndarray, np.ndarray]],
    *,
    scale: int = 1,
    channel: str | None = None,
    baseline: Callable[[np.ndarray], np.ndarray] | None = None,
) -> list[ImageScore]:
    return [score_one(run, p, scale=scale, channel=channel, baseline=baseline) for p in pairs]


def evaluate(
    model: Any,
    folder: str | Path,
    degradation: Any,
    *,
    strength: float | None = None,
    channel: str | None = None,
    max_images: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    tile_size: int | None = None,
    reduced_precision: bool = False,
    params: dict[str, Any] | None = None,
    ensemble: bool = False,
) -> EvalResult:
    """Degrade each clean image in ``folder``, restore it with ``model``, score both.

    ``model``: a `ModelSpec`, an ``nn.Module`` or a callable on (H, W, 3) float32 images.
    ``degradation``: a spec string (``"noise=25"``, ``"downscale=4"``...) or a parsed
    `Degradation`. ``strength`` and ``params`` go to the spec's `LoadOptions` (strength None
    = the model's own default, e.g. the automatic noise estimate). A spec is measured in
    float32 unless ``reduced_precision`` (see `SpecRunner`), with "Extra quality" when
    ``ensemble``. An image that cannot be read or
    restored is listed in ``failed`` and the others are measured; when none can be, that is
    a `DeconvError`. Returns an `EvalResult` (``.images``, ``.mean``, ``.precision``,
    ``.failed``, ``.to_json()``).
    """
    deg = parse_degradation(degradation)
    scale = int(getattr(deg, "scale", 1) or 1)
    spec_str = (
        degradation if isinstance(degradation, str) else str(getattr(degradation, "spec", deg))
    )
    run: Callable[[np.ndarray], np.ndarray]
    if isinstance(model, torch.nn.Module):
        run = module_runner(model, noise_sigma=strength, device=device)
        name = type(model).__name__
    elif hasattr(model, "build") and hasattr(model, "id"):
        run = SpecRunner(
            model,
            strength=strength,
            device=device,
            tile_size=tile_size,
            reduced_precision=reduced_precision,
            params=params,
            ensemble=ensemble,
        )
        name = model.id
    elif callable(model):
        run = model
        name = getattr(model, "__name__", type(model).__name__)
    else:
        raise TypeError(f"cannot evaluate {model!r}")
    paths = image_paths(folder)
    if max_images is not None:
        paths = paths[:max_images]
    channel = channel or ("Y" if scale > 1 else "RGB")
    res = EvalResult(name, str(folder), spec_str, channel, scale if scale > 1 else 0)
    for i, path in enumerate(paths):
        try:
            pair = make_pair(path, deg, seed + i)
            res.images.append(score_one(run, pair, scale=scale, channel=channel))
        except Exception as exc:  # this image failed (any reason): say why, measure the rest
            res.failed.append(ImageFailure(path.name, describe_error(exc)))
            if is_bug(exc):
                log.error("evaluating %s failed", path, exc_info=exc)
    if not res.images:
        raise DeconvError(f"no image could be measured: {res.failed[0].error}")
    res.precision = str(getattr(run, "precision", "float32"))
    return res


def wiener_baseline(spec: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The classical Wiener deconvolution (``wiener-deblur`` in the app) told the true blur
    kernel and noise level of ``spec``: the baseline the deblur network must beat (the same
    as ``deconv-gui eval --model wiener-deblur --true-kernel``)."""
    from deconv_gui.models.classical import WienerProcessor

    kernel = blur_kernel_of(spec)
    if kernel is None:
        raise ValueError(f"no blur in {spec!r}")
    proc = WienerProcessor(kernel, max(noise_sigma_of(spec), 0.5))

    def run(img: np.ndarray) -> np.ndarray:
        return np.asarray(proc(img), np.float32)

    run.__name__ = "wiener-true-kernel"
    return run


def load_model_arg(arg: str) -> Any:
    """A model id from the bundled models, or a card JSON path."""
    from deconv_gui.models import bundled

    p = Path(arg)
    if p.suffix == ".json" and p.exists():
        return bundled.spec_from_card(p)
    for spec in bundled.bundled_specs():
        if spec.id == arg:
            return spec
    raise SystemExit(f"unknown model {arg!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--model", required=True, help="bundled model id, a card .json, or 'wiener'")
    ap.add_argument("--degrade", required=True, help="degradation spec, e.g. noise=25")
    ap.add_argument("--strength", type=float, default=None)
    ap.add_argument("--max-images", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tile", type=int, default=None, help="tile size (default: whole image)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None, help="write the full result here")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    model = wiener_baseline(a.degrade) if a.model == "wiener" else load_model_arg(a.model)
    res = evaluate(
        model,
        a.folder,
        a.degrade,
        strength=a.strength,
        max_images=a.max_images,
        seed=a.seed,
        tile_size=a.tile,
    )
    for s in res.images:
        print(
            f"{s.name:24s} in {s.input_psnr:6.2f} dB {s.input_ssim:.4f}   out {s.output_psnr:6.2f} dB {s.output_ssim:.4f}"
        )
    m = res.mean
    print(
        f"MEAN ({len(res.images)} images, {res.channel}, {res.degradation}): input {m['input_psnr']:.2f} dB / "
        f"{m['input_ssim']:.4f}  output {m['output_psnr']:.2f} dB / {m['output_ssim']:.4f}"
    )
    if a.json:
        Path(a.json).write_text(json.dumps(res.to_json(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
