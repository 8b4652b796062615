"""`deconv-gui bench ...`: speed numbers quoted in README and model cards.

Machines are noisy: every case reports the median of several runs, and each comparison is
made against a baseline measured in the same run (a ratio, not an absolute promise).

    deconv-gui bench ssim [--size 4000x3000] [--repeat 5] [--no-skimage]
    deconv-gui bench restore --model ID [--baseline ID] [--opencv-nlm] [--fp32]
                             [--megapixels 12] [--repeat 3] [--tile N] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from deconv_gui.errors import DeconvError


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError("size must look like 4000x3000") from None
    return w, h


def bench_photo(width: int, height: int, noise: float = 15.0, seed: int = 0) -> np.ndarray:
    """The bundled sample photo resized to width x height, with Gaussian noise (0-255 scale)."""
    from deconv_gui.core.io import load_image
    from deconv_gui.paths import sample_photo

    base = load_image(sample_photo()).rgb
    img = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(seed)
    img = img + rng.normal(0.0, noise / 255.0, img.shape).astype(np.float32)
    return np.clip(np.round(img * 255.0) / 255.0, 0.0, 1.0).astype(np.float32)


def median_time(fn: Callable[[], object], repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def bench_ssim(argv: Sequence[str]) -> int:
    from deconv_gui.core.metrics import ssim

    p = argparse.ArgumentParser(prog="deconv-gui bench ssim")
    p.add_argument("--size", type=_size, default=(4000, 3000))
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--no-skimage", action="store_true", help="skip the scikit-image reference")
    args = p.parse_args(argv)
    w, h = args.size
    a = bench_photo(w, h, noise=0.0)
    b = bench_photo(w, h, noise=15.0, seed=1)
    ours, runs = median_time(lambda: ssim(a, b), args.repeat)
    value = ssim(a, b)
    print(
        f"SSIM {w}x{h} RGB ({w * h / 1e6:.1f} MP): ours median {ours:.3f}s over {args.repeat} runs"
    )
    if not args.no_skimage:
        try:
            from skimage.metrics import structural_similarity
        except ImportError:
            print("scikit-image not installed: no reference timing")
            return 0

        def ref() -> float:
            return float(
                structural_similarity(
                    a,
                    b,
                    gaussian_weights=True,
                    sigma=1.5,
                    use_sample_covariance=False,
                    channel_axis=2,
                    data_range=1.0,
                )
            )

        ref_time, _ = median_time(ref, 1)
        ref_value = ref()
        print(
            f"scikit-image {ref_time:.3f}s (1 run); speed-up x{ref_time / ours:.1f}; "
            f"|ours - skimage| = {abs(value - ref_value):.2e}"
        )
    return 0


@dataclass
class RestoreTiming:
    """One timed case of `time_restore` / `time_opencv_nlm`."""

    label: str
    seconds: float  # median
    runs: list[float]
    input_size: tuple[int, int]  # (width, height)
    output_megapixels: float
    psnr: float  # against the clean photo
    precision: str

    def line(self) -> str:
        w, h = self.input_size
        return (
            f"{self.label:<22} input {w}x{h} ({w * h / 1e6:.1f} MP)  median {self.seconds:.2f}s "
            f"({', '.join(f'{t:.2f}' for t in self.runs)})  "
            f"{self.output_megapixels / self.seconds:.2f} output MP/s  "
            f"PSNR vs clean {self.psnr:.2f} dB"
            + (f"  [{self.precision}]" if self.precision else "")
        )


DEBLUR_KERNEL = "gaussian:2"  # the blur `time_restore` gives deblur models
JPEG_QUALITY = 30  # the quality `time_restore` saves the photo at for JPEG models


def clean_photo(megapixels: float) -> np.ndarray:
    """The 4:3 benchmark photo (no noise) of about ``megapixels``."""
    w = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    return bench_photo(w, int(round(w * 3 / 4)), noise=0.0)


def _noisy(clean: np.ndarray, noise: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(clean + rng.normal(0, noise / 255, clean.shape), 0, 1).astype(np.float32)


def time_restore(
    model_id: str,
    clean: np.ndarray,
    *,
    noise: float = 25.0,
    device: str = "cpu",
    reduced_precision: bool = True,
    repeat: int = 3,
    tile: int | None = None,
) -> RestoreTiming:
    """Time a registry model the way the app runs it (`restore_job`) on `clean` degraded for
    its task: Gaussian noise for denoisers, a bicubic downscale (the evaluation convention)
    for upscalers, Gaussian blur (sigma 2) and noise 2 for deblurring (a model that takes a
    kernel is given that one), a JPEG round trip at `JPEG_QUALITY` for JPEG artifact
    removal (strength = that quality)."""
    from deconv_gui.core.degrade import crop_to_multiple, downscale_bicubic
    from deconv_gui.core.jobs import restore_job
    from deconv_gui.core.metrics import psnr
    from deconv_gui.core.tiling import TileProgress, run_to_end
    from deconv_gui.models.catalog import default_registry
    from deconv_gui.models.registry import LoadOptions

    spec = default_registry().get(model_id)
    params: dict[str, str] = {}
    strength: float | None = None
    if spec.scale > 1:
        ref = crop_to_multiple(clean, spec.scale)
        lq = downscale_bicubic(ref, spec.scale)
    elif spec.task == "deblur":
        from deconv_gui.core.degrade import blur, parse_kernel

        ref, lq = clean, _noisy(blur(clean, parse_kernel(DEBLUR_KERNEL)), 2.0)
        if "kernel" in spec.params:
            params["kernel"] = DEBLUR_KERNEL
    elif spec.task == "jpeg":
        from deconv_gui.core.degrade import jpeg_compress

        ref, lq, strength = clean, jpeg_compress(clean, JPEG_QUALITY), float(JPEG_QUALITY)
    else:
        ref, lq, strength = clean, _noisy(clean, noise), noise
    opts = LoadOptions(
        device=device, strength=strength, allow_fp16=reduced_precision, params=params
    )
    out_holder: list[np.ndarray] = []
    seen: list[TileProgress] = []

    def once() -> None:
        seen.clear()
        out_holder[:] = [run_to_end(restore_job(spec, lq, opts, tile_size=tile), seen.append)]

    med, runs = median_time(once, repeat)
    out = out_holder[0]
    precision = seen[-1].precision if seen else ""  # what the tiles ran in; "" if classical
    quality = psnr(out, ref) if out.shape == ref.shape else float("nan")
    return RestoreTiming(
        model_id,
        med,
        runs,
        (lq.shape[1], lq.shape[0]),
        out.shape[0] * out.shape[1] / 1e6,
        quality,
        precision,
    )


def time_opencv_nlm(
    clean: np.ndarray, *, noise: float = 25.0, repeat: int = 3, threads: int = 2
) -> RestoreTiming:
    """OpenCV's colour NLM on the whole photo in one call (8-bit, the same noisy photo and
    filter strengths as ``nlm-denoise``): the baseline the denoiser's speed target names."""
    from deconv_gui.core.metrics import psnr

    cv2.setNumThreads(threads)
    u8 = np.clip(np.round(_noisy(clean, noise) * 255.0), 0, 255).astype(np.uint8)
    h, h_color = 0.55 * noise, 0.7 * noise
    out_holder: list[np.ndarray] = []

    def once() -> None:
        out_holder[:] = [cv2.fastNlMeansDenoisingColored(u8, None, h, h_color, 7, 21)]

    med, runs = median_time(once, repeat)
    quality = psnr(out_holder[0].astype(np.float32) / 255.0, clean)
    return RestoreTiming(
        "opencv-nlm (1 call)",
        med,
        runs,
        (u8.shape[1], u8.shape[0]),
        u8.shape[0] * u8.shape[1] / 1e6,
        quality,
        "uint8",
    )


def bench_restore(argv: Sequence[str]) -> int:
    from deconv_gui.core.devices import set_cpu_threads

    p = argparse.ArgumentParser(prog="deconv-gui bench restore")
    p.add_argument("--model", required=True)
    p.add_argument("--baseline", default=None, help="another model id timed in the same run")
    p.add_argument("--megapixels", type=float, default=12.0, help="input size")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--tile", type=int, default=None)
    p.add_argument("--noise", type=float, default=25.0, help="noise added to the test photo")
    p.add_argument(
        "--fp32",
        action="store_true",
        help="no reduced precision (no fp16 on GPUs, no bfloat16 on CPUs)",
    )
    p.add_argument(
        "--opencv-nlm",
        action="store_true",
        help="also time cv2.fastNlMeansDenoisingColored on the whole noisy photo (one call)",
    )
    args = p.parse_args(argv)
    set_cpu_threads(args.threads)
    clean = clean_photo(args.megapixels)
    timings = []
    for model_id in [args.model] + ([args.baseline] if args.baseline else []):
        t = time_restore(
            model_id,
            clean,
            noise=args.noise,
            device=args.device,
            reduced_precision=not args.fp32,
            repeat=args.repeat,
            tile=args.tile,
        )
        print(t.line(), flush=True)
        timings.append(t)
    if args.opencv_nlm:
        t = time_opencv_nlm(clean, noise=args.noise, repeat=args.repeat, threads=args.threads)
        print(t.line(), flush=True)
        timings.append(t)
    for other in timings[1:]:
        print(f"ratio {other.label} / {args.model} time: x{other.seconds / timings[0].seconds:.2f}")
    return 0


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {"ssim": bench_ssim, "restore": bench_restore}


def main(what: str, argv: Sequence[str]) -> int:
    if what not in COMMANDS:
        raise DeconvError(f"unknown benchmark '{what}' (choose from {', '.join(COMMANDS)})")
    return COMMANDS[what](list(argv))
