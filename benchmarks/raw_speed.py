"""RAW denoising speed against the sRGB default denoiser on a photo of the same size.

    python benchmarks/raw_speed.py [--megapixels 24] [--repeat 3] [--threads 2] [--fp32]
        [--raw-tile N] [--device cpu|cuda|mps]

Makes a synthetic RAW file of the given size (the bundled sample photo enlarged, unprocessed
to a camera's mosaic with ISO 6400 noise of a full-frame sensor, written as a 14-bit DNG,
`training.raw_testset`) and a JPEG of the same photo with Gaussian noise (sigma 10). Times,
each the median of ``--repeat`` runs in this process:

* RAW: open and develop the DNG (`core.io.load_image`), denoise the mosaic with the RAW
  denoiser and develop the result (`core.pipeline.restore_photo`), write the DNG;
* sRGB: open the JPEG, denoise it with the default denoiser, write a JPEG.

The ratio RAW / sRGB is what the RAW issue's target is about (<= 1.5). ``--raw-tile`` sets
the RAW denoiser's CPU tile side (default: its card's ``cpu_tile``) to compare tile sizes.
On Linux and macOS the last line gives the process's peak resident memory; run one tile
size per process to compare memory.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--megapixels", type=float, default=24.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--fp32", action="store_true", help="float32 (no bfloat16/float16)")
    ap.add_argument("--device", default="cpu", help="where the networks run (default cpu)")
    ap.add_argument("--raw-model", default="redunet-raw-denoise")
    ap.add_argument("--raw-tile", type=int, default=None, help="the RAW model's CPU tile side")
    a = ap.parse_args()

    import cv2
    import numpy as np
    import torch

    from deconv_gui.core.degrade import add_gaussian_noise
    from deconv_gui.core.image import ImageMeta
    from deconv_gui.core.io import load_image, save_image
    from deconv_gui.core.pipeline import restore_photo
    from deconv_gui.core.rawpipe import save_photo
    from deconv_gui.core.spec import LoadOptions
    from deconv_gui.core.tiling import run_to_end
    from deconv_gui.models.catalog import default_registry
    from deconv_gui.paths import sample_photo
    from deconv_gui.training.raw_testset import make_dng_set

    if a.threads:
        torch.set_num_threads(a.threads)
    reg = default_registry()
    raw_spec, srgb_spec = reg.get(a.raw_model), reg.default_for("denoise")
    assert srgb_spec is not None
    options = LoadOptions(device=a.device, allow_fp16=not a.fp32)
    src = load_image(sample_photo()).rgb
    h = int(round((a.megapixels * 1e6 * 2 / 3) ** 0.5)) // 4 * 4
    w = h * 3 // 2
    big = cv2.resize(src, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        photo = t / "photo.png"
        save_image(photo, big, ImageMeta())
        (pair,) = make_dng_set([photo], 6400, t / "dng")
        noisy = add_gaussian_noise(big, 10.0, np.random.default_rng(0))
        jpeg = save_image(t / "noisy.jpg", noisy, ImageMeta())
        print(
            f"RAW {w}x{h} ({w * h / 1e6:.1f} MP, 14-bit DNG) vs JPEG {w}x{h}; "
            f"device {a.device}, threads={torch.get_num_threads()}, "
            f"{'float32' if a.fp32 else 'default precision'}, "
            f"RAW tile {a.raw_tile or 'from the card'}"
        )

        def raw_run() -> dict[str, float]:
            t0 = time.perf_counter()
            ph = load_image(pair.noisy)
            t1 = time.perf_counter()
            out = run_to_end(restore_photo(raw_spec, ph, options, tile_size=a.raw_tile))
            t2 = time.perf_counter()
            save_photo(t / "out.dng", out, overwrite=True)
            t3 = time.perf_counter()
            return {"read": t1 - t0, "denoise": t2 - t1, "write": t3 - t2, "total": t3 - t0}

        def srgb_run() -> dict[str, float]:
            t0 = time.perf_counter()
            ph = load_image(jpeg)
            t1 = time.perf_counter()
            out = run_to_end(restore_photo(srgb_spec, ph, options))
            t2 = time.perf_counter()
            save_photo(t / "out.jpg", out, overwrite=True)
            t3 = time.perf_counter()
            return {"read": t1 - t0, "denoise": t2 - t1, "write": t3 - t2, "total": t3 - t0}

        results: dict[str, list[dict[str, float]]] = {"raw": [], "srgb": []}
        for _ in range(a.repeat):  # interleaved, so load changes hit both alike
            results["raw"].append(raw_run())
            results["srgb"].append(srgb_run())
    med = {
        k: {p: statistics.median(r[p] for r in runs) for p in runs[0]}
        for k, runs in results.items()
    }
    for k, label in (("raw", f"RAW ({raw_spec.id})"), ("srgb", f"sRGB ({srgb_spec.id})")):
        m = med[k]
        print(
            f"{label:<40} read {m['read']:6.2f} s  denoise {m['denoise']:6.2f} s  "
            f"write {m['write']:5.2f} s  total {m['total']:6.2f} s"
        )
    print(
        f"RAW / sRGB total: x{med['raw']['total'] / med['srgb']['total']:.2f}  "
        f"(denoise only x{med['raw']['denoise'] / med['srgb']['denoise']:.2f}; medians of {a.repeat})"
    )
    try:
        import resource  # not on Windows
    except ImportError:
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    print(f"peak resident memory: {peak / (2**30 if sys.platform == 'darwin' else 2**20):.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
