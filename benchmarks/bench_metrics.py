"""Time our SSIM against scikit-image's on a realistic photo-sized pair.

    python benchmarks/bench_metrics.py                 # 4000x3000 RGB (12 MP)
    python benchmarks/bench_metrics.py --size 2000x1500 --threads 2

The pair is seeded: a smooth random image (low-resolution noise, blurred and upscaled) with
independent Gaussian noise added to each side, clipped to [0, 1], float32. Our timings are
the median of ``--repeat`` runs (after one warm-up); skimage's the median of ``--sk-repeat``
runs on float64 copies (it is slow). scikit-image is a dev dependency, needed only here.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deconv_gui.core.metrics import psnr, ssim, ssim_and_map  # noqa: E402


def make_pair(width: int, height: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    coarse = rng.random((max(2, height // 16), max(2, width // 16), 3), dtype=np.float32)
    low = cv2.GaussianBlur(coarse, (0, 0), 1.5)
    base = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
    base = (base - base.min()) / (base.max() - base.min())
    gt = np.clip(base + rng.normal(0.0, 0.02, base.shape), 0.0, 1.0).astype(np.float32)
    out = np.clip(gt + rng.normal(0.0, 0.05, base.shape), 0.0, 1.0).astype(np.float32)
    return gt, out


T = TypeVar("T")


def timed(fn: Callable[[], T], repeat: int) -> tuple[float, float, T]:
    """(median wall seconds, median process CPU seconds, last value) over ``repeat`` runs.

    CPU time is printed too because the machine may be shared: wall time then includes
    waiting for a core, CPU time does not.
    """
    walls, cpus = [], []
    for _ in range(max(1, repeat)):
        t0, c0 = time.perf_counter(), time.process_time()
        value = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), value


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, got {text!r}") from None
    if w < 11 or h < 11:
        raise argparse.ArgumentTypeError("size must be at least 11x11")
    return w, h


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--size", type=parse_size, default=(4000, 3000), help="WxH, default 4000x3000"
    )
    parser.add_argument("--threads", type=int, default=None, help="cv2.setNumThreads(N) first")
    parser.add_argument("--repeat", type=int, default=5, help="runs of our SSIM (median)")
    parser.add_argument("--sk-repeat", type=int, default=1, help="runs of skimage (median)")
    parser.add_argument("--no-skimage", action="store_true", help="skip the slow reference")
    args = parser.parse_args(argv)

    if args.threads is not None:
        cv2.setNumThreads(args.threads)
    w, h = args.size
    gt, out = make_pair(w, h)
    print(f"image: {w}x{h} RGB float32 ({w * h / 1e6:.1f} MP), cv2 threads: {cv2.getNumThreads()}")

    ssim(gt[:64, :64], out[:64, :64])  # warm-up (first-call costs)
    n = args.repeat
    rows = [
        ("ssim", *timed(lambda: ssim(gt, out), n)),
        ("ssim_and_map", *timed(lambda: ssim_and_map(gt, out)[0], n)),
        ("psnr (dB)", *timed(lambda: psnr(gt, out), n)),
    ]
    for name, wall, cpu, value in rows:
        print(
            f"ours    {name:<13} {wall * 1e3:8.1f} ms wall {cpu * 1e3:8.1f} ms CPU  = {value:.8f}"
        )
    print(f"        (median of {n} runs)")
    ours_wall, ours_cpu, ours = rows[0][1:]
    if args.no_skimage:
        return 0

    from skimage.metrics import structural_similarity

    gt64, out64 = gt.astype(np.float64), out.astype(np.float64)

    def reference() -> float:
        return float(
            structural_similarity(
                gt64,
                out64,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                channel_axis=2,
                data_range=1.0,
            )
        )

    sk_wall, sk_cpu, ref = timed(reference, args.sk_repeat)
    print(
        f"skimage ssim (f64)    {sk_wall * 1e3:8.1f} ms wall {sk_cpu * 1e3:8.1f} ms CPU  = "
        f"{ref:.8f}  (median of {args.sk_repeat})"
    )
    print(
        f"speed-up: {sk_wall / ours_wall:.1f}x wall, {sk_cpu / ours_cpu:.1f}x CPU;  "
        f"|ours - skimage| = {abs(ours - ref):.2e}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
