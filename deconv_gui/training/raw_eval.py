"""Measure RAW denoisers on synthetic raw made from clean test photos.

Each clean photo (sorted by name, image ``i``) is unprocessed (`unprocess`) with a camera
drawn from ``seed + i`` and given the noise of a full-frame camera at a chosen ISO
(`deconv_gui.core.raw_noise.reference_profile`), quantised to 14 bits (black level 1024,
white 16383). Scores, against the clean mosaic:

* ``raw``: PSNR / SSIM of the packed mosaic in normalised sensor units (data range 1);
* ``srgb``: PSNR / SSIM after the same camera processing (`unprocess.forward_process`:
  white balance, bilinear demosaic, colour matrix, gamma, tone curve) of output and clean.

A *runner* maps ``(noisy packed (h, w, 4) float32, NoiseProfile) -> denoised packed``; the
bundled model, the classical baselines (`vst_bm3d_runner`) and trainers' modules are all
wrapped as runners. `srgb_denoiser_runner` puts an sRGB denoiser after the camera
processing instead (a baseline that sees the noise after demosaicking has mixed it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from deconv_gui.core.metrics import psnr, ssim
from deconv_gui.core.raw_noise import NoiseProfile, reference_profile, std_map
from deconv_gui.training.unprocess import (
    CameraParams,
    add_noise,
    forward_process,
    quantise,
    random_camera,
    unprocess,
)

if TYPE_CHECKING:
    from deconv_gui.core.image import Photo

#: the ISO levels of the synthetic-raw table (full-frame sensor)
ISO_LEVELS = (800, 3200, 6400, 12800)
ADC_LEVELS = 16383 - 1024

RawRunner = Callable[[np.ndarray, NoiseProfile], np.ndarray]


@dataclass
class RawSample:
    name: str
    clean: np.ndarray  # (h, w, 4)
    noisy: np.ndarray  # (h, w, 4)
    profile: NoiseProfile
    cam: CameraParams  # batch of one


def _chw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float()


def _hwc(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t[0].permute(1, 2, 0).numpy().astype(np.float32))


def clean_mosaic(
    photo: str | Path | np.ndarray, rng: np.random.Generator
) -> tuple[torch.Tensor, CameraParams]:
    """A photo (a path or 8-bit sRGB pixels) unprocessed to a clean (1, 4, h, w) packed RGGB
    mosaic (sides cut to a multiple of 4, so the packed sides stay even) by a camera drawn
    from ``rng``."""
    from deconv_gui.training.data import read_rgb_u8

    rgb = photo if isinstance(photo, np.ndarray) else read_rgb_u8(photo)
    h, w = rgb.shape[0] // 4 * 4, rgb.shape[1] // 4 * 4
    srgb = torch.from_numpy(np.ascontiguousarray(rgb[:h, :w])).permute(2, 0, 1)[None]
    cam = random_camera(rng, 1)
    return unprocess(srgb.float() / 255.0, cam), cam


def make_samples(
    paths: Sequence[Path], iso: float, *, seed: int = 0, profile: NoiseProfile | None = None
) -> list[RawSample]:
    """Synthetic raw test samples (deterministic in ``seed`` and the image order)."""
    from deconv_gui.training.data import read_rgb_u8

    prof = profile or reference_profile(iso)
    return [
        sample_from_rgb(read_rgb_u8(p), Path(p).name, prof, seed + i, int(iso))
        for i, p in enumerate(paths)
    ]


def sample_from_rgb(
    rgb_u8: np.ndarray, name: str, profile: NoiseProfile, seed: int, noise_seed: int = 0
) -> RawSample:
    """One synthetic raw sample of an 8-bit sRGB photo: the camera drawn from ``seed``, the
    noise (``profile``) from ``seed + 1000 * noise_seed``."""
    clean, cam = clean_mosaic(rgb_u8, np.random.default_rng(seed))
    gen = torch.Generator().manual_seed(seed + 1000 * noise_seed)
    noisy = add_noise(clean, np.array([profile.shot]), np.array([profile.read]), gen)
    noisy = quantise(noisy, np.array([ADC_LEVELS]))
    return RawSample(name, _hwc(clean), _hwc(noisy), profile, cam)


def render(packed: np.ndarray, cam: CameraParams) -> np.ndarray:
    """(h, w, 4) packed -> (2h, 2w, 3) sRGB by the synthetic camera's processing."""
    with torch.no_grad():
        return _hwc(forward_process(_chw(packed).clamp(0, 1), cam))


@dataclass
class RawScores:
    name: str
    input_raw_psnr: float
    output_raw_psnr: float
    input_raw_ssim: float
    output_raw_ssim: float
    input_srgb_psnr: float
    output_srgb_psnr: float
    input_srgb_ssim: float
    output_srgb_ssim: float
    seconds: float


@dataclass
class RawEvalResult:
    model: str
    iso: float
    images: list[RawScores] = field(default_factory=list)

    @property
    def mean(self) -> dict[str, float]:
        keys = [k for k in RawScores.__dataclass_fields__ if k != "name"]
        return {k: float(np.mean([getattr(s, k) for s in self.images])) for k in keys}


def planes_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (data range 1) over all photosites of two packed mosaics."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def planes_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of the planes of two packed mosaics (each plane on its own)."""
    return float(np.mean([ssim(a[:, :, c], b[:, :, c]) for c in range(a.shape[2])]))


def score(runner: RawRunner, samples: Sequence[RawSample], name: str = "") -> list[RawScores]:
    rows = []
    for s in samples:
        t0 = time.perf_counter()
        out = np.asarray(runner(s.noisy, s.profile), np.float32)
        dt = time.perf_counter() - t0
        out = np.clip(out, 0.0, 1.0)
        noisy = np.clip(s.noisy, 0.0, 1.0)
        g_rgb, i_rgb, o_rgb = render(s.clean, s.cam), render(noisy, s.cam), render(out, s.cam)
        rows.append(
            RawScores(
                s.name,
                planes_psnr(noisy, s.clean),
                planes_psnr(out, s.clean),
                planes_ssim(noisy, s.clean),
                planes_ssim(out, s.clean),
                float(psnr(i_rgb, g_rgb)),
                float(psnr(o_rgb, g_rgb)),
                float(ssim(i_rgb, g_rgb)),
                float(ssim(o_rgb, g_rgb)),
                dt,
            )
        )
    return rows


def module_raw_runner(module: torch.nn.Module, device: str = "cpu") -> RawRunner:
    """Whole-image inference with a RAW denoiser module (validation during training)."""

    def run(noisy: np.ndarray, profile: NoiseProfile) -> np.ndarray:
        x = _chw(noisy).to(device)
        m = _chw(std_map(noisy, profile)).to(device)
        with torch.inference_mode():
            y = module(x, m)
        return _hwc(y.cpu())

    return run


def vst_bm3d_runner(noisy: np.ndarray, profile: NoiseProfile) -> np.ndarray:
    """The classic raw baseline, told the true noise: the generalized Anscombe transform
    (Poisson-Gaussian -> unit variance), BM3D on each of the four CFA planes, and the exact
    unbiased inverse's closed-form approximation (Makitalo & Foi 2011/2013)."""
    import bm3d

    a, b = float(profile.shot), float(profile.read)
    if a <= 0:
        out = np.empty_like(noisy)
        for c in range(noisy.shape[2]):
            out[:, :, c] = bm3d.bm3d(noisy[:, :, c], float(np.sqrt(b)))
        return out
    # GAT for z = a * Poisson(x / a) + N(0, b) with variance a x + b
    z = noisy / a
    sigma2 = b / (a * a)
    f = 2.0 * np.sqrt(np.maximum(z + 3.0 / 8.0 + sigma2, 0.0))
    out = np.empty_like(noisy)
    for c in range(noisy.shape[2]):
        den = np.asarray(bm3d.bm3d(f[:, :, c].astype(np.float64), 1.0), np.float64)
        out[:, :, c] = _gat_inverse(den, sigma2) * a
    return out.astype(np.float32)


def _gat_inverse(d: np.ndarray, sigma2: float) -> np.ndarray:
    """Closed-form approximation of the exact unbiased inverse of the generalized Anscombe
    transform (Makitalo & Foi 2013, eq. 9), floored at 0."""
    d = np.maximum(d, 1e-6)
    inv = (
        0.25 * d**2
        + 0.25 * np.sqrt(1.5) / d
        - 11.0 / 8.0 / d**2
        + 5.0 / 8.0 * np.sqrt(1.5) / d**3
        - 1.0 / 8.0
        - sigma2
    )
    return np.maximum(inv, 0.0)


def evaluate_raw(
    runner: RawRunner,
    folder: str | Path | Sequence[Path],
    iso: float,
    *,
    name: str = "",
    max_images: int | None = None,
    seed: int = 0,
) -> RawEvalResult:
    from deconv_gui.training.data import list_images

    paths = list(folder) if isinstance(folder, (list, tuple)) else list_images(Path(str(folder)))
    if max_images is not None:
        paths = paths[:max_images]
    samples = make_samples(paths, iso, seed=seed)
    return RawEvalResult(name, iso, score(runner, samples, name))


def describe(res: RawEvalResult) -> dict[str, Any]:
    m = res.mean
    return {
        "model": res.model,
        "iso": res.iso,
        "images": len(res.images),
        **{k: round(v, 4 if "ssim" in k else 2) for k, v in m.items()},
    }


# ------------------------------------------------------------------ the DNG (whole-path) set
@dataclass
class DngScores:
    name: str
    raw_psnr: float | None  # None: the method gives no mosaic (it works on the render)
    raw_ssim: float | None
    srgb_psnr: float
    srgb_ssim: float
    seconds: float


@dataclass
class DngEvalResult:
    method: str
    iso: float
    images: list[DngScores] = field(default_factory=list)

    @property
    def mean(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for k in ("raw_psnr", "raw_ssim", "srgb_psnr", "srgb_ssim", "seconds"):
            vals = [getattr(s, k) for s in self.images]
            out[k] = None if any(v is None for v in vals) else float(np.mean(vals))
        return out


def evaluate_dng_set(method: Any, pairs: Sequence[Any], *, name: str = "") -> DngEvalResult:
    """Score a method on a synthetic-raw DNG set (`training.raw_testset.make_dng_set`).

    ``method(noisy_raw, pair) -> (mosaic uint16 or None, render Photo)``: what a method
    makes of the noisy file. Scores against the clean DNG: the mosaic in normalised sensor
    units (clipped to [0, 1], planes' mean SSIM) and the LibRaw development of both.
    """
    from deconv_gui.core.raw import open_raw, render_raw

    res = DngEvalResult(name, float(pairs[0].iso) if pairs else 0.0)
    for pair in pairs:
        clean = open_raw(pair.clean)
        noisy = open_raw(pair.noisy)
        ref_planes = clean.packed()
        ref_render = render_raw(clean).rgb
        t0 = time.perf_counter()
        mosaic, render = method(noisy, pair)
        dt = time.perf_counter() - t0
        raw_p = raw_s = None
        if mosaic is not None:
            planes = noisy.packed(mosaic)
            raw_p, raw_s = planes_psnr(planes, ref_planes), planes_ssim(planes, ref_planes)
        res.images.append(
            DngScores(
                pair.name,
                raw_p,
                raw_s,
                float(psnr(render.rgb, ref_render)),
                float(ssim(render.rgb, ref_render)),
                dt,
            )
        )
    return res


def noisy_method(noisy: Any, pair: Any) -> tuple[np.ndarray, Any]:
    """The noisy file itself (the input row)."""
    from deconv_gui.core.raw import render_raw

    return noisy.mosaic, render_raw(noisy)


def spec_method(
    spec: Any,
    *,
    true_profile: bool = False,
    device: str = "cpu",
    strength: float | None = None,
    ensemble: bool = False,
) -> Any:
    """A registry model through the app's pipeline: a RAW model on the mosaic (Auto measures
    the noise in the file unless ``true_profile``), an RGB model on the noisy render;
    ``ensemble``: with "Extra quality"."""
    from deconv_gui.core.pipeline import restore_photo
    from deconv_gui.core.raw import render_raw
    from deconv_gui.core.rawpipe import RAW_MOSAIC
    from deconv_gui.core.spec import LoadOptions
    from deconv_gui.core.tiling import run_to_end

    def run(noisy: Any, pair: Any) -> tuple[np.ndarray | None, Photo]:
        params = {"noise_profile": pair.profile} if true_profile else {}
        options = LoadOptions(
            device=device, allow_fp16=False, strength=strength, params=params, ensemble=ensemble
        )
        photo = render_raw(noisy)
        out = run_to_end(restore_photo(spec, photo, options))
        return out.meta.extra.get(RAW_MOSAIC), out

    return run


def vst_bm3d_method(noisy: Any, pair: Any) -> tuple[np.ndarray, Any]:
    """VST + BM3D on the four CFA planes, told the true noise (`vst_bm3d_runner`)."""
    from deconv_gui.core.raw import render_raw, unpack_bayer

    planes = noisy.packed(clip=False)
    den = vst_bm3d_runner(planes, pair.profile)
    mosaic = noisy.denormalized(unpack_bayer(den, noisy.cfa, noisy.mosaic.shape))
    return mosaic, render_raw(noisy, mosaic)


DCRAW_EMU = "dcraw_emu"


def libraw_wavelet_method(threshold: float) -> Any:
    """LibRaw's own wavelet denoising (dcraw's ``-n threshold``) on the mosaic.

    rawpy 0.28's ``postprocess(noise_thr=...)`` crashes the process (a segmentation fault on
    every file tried), so this runs LibRaw's ``dcraw_emu`` sample program (Debian package
    ``libraw-bin``): wavelet denoising, then no interpolation, unit white balance, raw
    colours, linear 16 bits, which gives back the mosaic as ``(raw - black) * 65535 /
    (white - black)``. That mosaic is put back into the file's sensor units and developed
    like every other row. `libraw_available` says whether the program is there.
    """
    import subprocess
    import tempfile

    import tifffile

    from deconv_gui.core.raw import render_raw

    def run(noisy: Any, pair: Any) -> tuple[np.ndarray, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out.tiff"
            cmd = [DCRAW_EMU, "-disinterp", "-4", "-T", "-r", "1", "1", "1", "1", "-o", "0"]
            cmd += ["-n", str(threshold), "-Z", str(out), str(noisy.path)]
            subprocess.run(cmd, check=True, capture_output=True, timeout=600)
            scaled = tifffile.imread(out).astype(np.float32).sum(axis=-1)
        mosaic = noisy.denormalized(scaled / np.float32(65535.0))
        return mosaic, render_raw(noisy, mosaic)

    return run


def libraw_available() -> bool:
    """Whether LibRaw's ``dcraw_emu`` (for `libraw_wavelet_method`) is on the PATH."""
    import shutil

    return shutil.which(DCRAW_EMU) is not None
