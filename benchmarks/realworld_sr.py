"""Upscalers on real photos: RNI15 (no clean versions) and LIVE1 saved as JPEG quality 30.

    python benchmarks/realworld_sr.py [--data ../shared/data] [--scale 4]
        [--models lanczos-x4,fsrcnn-x4,fsrcnn-x4-real] [--crops resources/crops] [--json OUT]

RNI15 has no clean versions, and LIVE1 saved at JPEG quality 30 (at full size, then
enlarged) stands for a web photo: both are judged with two no-reference measures, each from
the app's own analyzer and each on the photo as the upscaler returns it:

* **noise left**: the automatic noise estimate (`core.noise.estimate_noise_sigma`, 0-255
  scale) of the result shrunk back to the input's size (area average), beside the input's
  own estimate: enlarged noise shows as a level close to the input's;
* **blocks**: the JPEG blockiness of that shrunk result, luma steps across the 8x8 grid
  over steps inside the blocks (1.0 = no blocks; after Wang, Bovik and Evans 2000);
* **blur**: the Crete et al. 2007 blur metric (`core.analyze.blur_measure`, 0 = sharp,
  1 = very blurred) of the result: a model that only smooths scores high here.

LIVE1 has clean originals, so it also gets full-reference rows: each photo downscaled by
the scale (bicubic), saved as JPEG quality 30, upscaled, and compared with the original (PSNR /
SSIM on Y, the same as `deconv-gui eval --degrade downscale=4,jpeg=30`). ``--crops`` writes
side-by-side crops of RNI15 (input enlarged with nearest neighbour, then each model), to
judge by eye.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CROP_PHOTOS = ("Audrey_Hepburn.jpg", "Dog.png", "Flowers.png", "Frog.png")


MEASURES = ("noise_left", "blocks", "blur")


def blockiness(rgb: Any) -> float:
    """Luma steps across the 8x8 JPEG grid over steps inside the blocks (1.0: no blocks),
    both directions averaged; the grid starts at the top-left pixel (the saved JPEG's)."""
    import numpy as np

    y = np.asarray(rgb, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    ratios = []
    for d in (np.abs(np.diff(y, axis=1)), np.abs(np.diff(y, axis=0)).T):
        on_grid = (np.arange(d.shape[1]) % 8) == 7  # between pixel 8k+7 and 8k+8
        ratios.append(float(d[:, on_grid].mean() / max(float(d[:, ~on_grid].mean()), 1e-6)))
    return float(np.mean(ratios))


def measure(rgb: Any, out: Any, scale: int) -> dict[str, float]:
    import cv2

    from deconv_gui.core.analyze import blur_measure
    from deconv_gui.core.noise import estimate_noise_sigma

    h, w = rgb.shape[:2]
    back = cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA)
    return {
        "noise_left": estimate_noise_sigma(back),
        "blocks": blockiness(back),
        "blur": blur_measure(out),
    }


def crop_row(photo: Any, results: list[Any], scale: int, side: int = 64) -> Any:
    import cv2
    import numpy as np

    h, w = photo.shape[:2]
    s = min(side, h, w)
    y, x = (h - s) // 2, (w - s) // 2
    tiles = [
        cv2.resize(
            photo[y : y + s, x : x + s], None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST
        )
    ]
    tiles += [r[y * scale : (y + s) * scale, x * scale : (x + s) * scale] for r in results]
    gap = np.ones((s * scale, 4, 3), np.float32)
    return np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--models", default=None, help="default: lanczos, fsrcnn and fsrcnn-real")
    ap.add_argument("--crops", default=None, help="folder for the RNI15 crops")
    ap.add_argument("--json", default=None)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    import numpy as np
    import torch
    from PIL import Image

    from deconv_gui.core.io import load_image
    from deconv_gui.core.noise import estimate_noise_sigma
    from deconv_gui.models.catalog import default_registry
    from deconv_gui.training.evaluate import SpecRunner, evaluate

    torch.set_num_threads(a.threads)
    s = a.scale
    ids = (a.models or f"lanczos-x{s},fsrcnn-x{s},fsrcnn-x{s}-real").split(",")
    reg = default_registry()
    specs = [reg.get(m) for m in ids]
    rni = Path(a.data) / "test" / "RNI15"
    live1 = Path(a.data) / "test" / "LIVE1"
    if not rni.is_dir() or not live1.is_dir():
        print(f"error: RNI15 or LIVE1 not found under {a.data}/test", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    per_photo: dict[str, dict[str, Any]] = {}
    rows: dict[str, dict[str, list[float]]] = {m: {k: [] for k in MEASURES} for m in ids}
    input_noise = []
    if a.crops:
        Path(a.crops).mkdir(parents=True, exist_ok=True)
    for path in sorted(p for p in rni.iterdir() if p.suffix.lower() in (".png", ".jpg")):
        rgb = load_image(path).rgb
        input_noise.append(estimate_noise_sigma(rgb))
        per_photo[path.name] = {"input_noise": round(input_noise[-1], 2)}
        results = []
        for spec in specs:
            out = SpecRunner(spec, reduced_precision=False)(rgb)
            results.append(out)
            m = measure(rgb, out, s)
            for k, v in m.items():
                rows[spec.id][k].append(v)
            per_photo[path.name][spec.id] = {k: round(v, 3) for k, v in m.items()}
        if a.crops and path.name in CROP_PHOTOS:
            dest = Path(a.crops) / f"rni15_x{s}_{path.stem}.png"
            row = crop_row(rgb, results, s)
            Image.fromarray((np.clip(row, 0, 1) * 255 + 0.5).astype(np.uint8)).save(dest)
            print(f"{dest}: input (nearest) | " + " | ".join(ids))
    # LIVE1 as a web photo: each saved as JPEG quality 30 at full size, then enlarged
    from deconv_gui.core.degrade import jpeg_compress

    web: dict[str, dict[str, list[float]]] = {m: {k: [] for k in MEASURES} for m in ids}
    web_noise, web_blocks = [], []
    for path in sorted(p for p in live1.iterdir() if p.suffix.lower() in (".png", ".bmp")):
        rgb = jpeg_compress(load_image(path).rgb, 30)
        web_noise.append(estimate_noise_sigma(rgb))
        web_blocks.append(blockiness(rgb))
        for spec in specs:
            out = SpecRunner(spec, reduced_precision=False)(rgb)
            for k, v in measure(rgb, out, s).items():
                web[spec.id][k].append(v)

    def means(r: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
        return {m: {k: round(float(np.mean(v)), 3) for k, v in q.items()} for m, q in r.items()}

    summary: dict[str, Any] = {
        "rni15_input_noise": round(float(np.mean(input_noise)), 2),
        "rni15": means(rows),
        "live1_q30_input_noise": round(float(np.mean(web_noise)), 2),
        "live1_q30_input_blocks": round(float(np.mean(web_blocks)), 3),
        "live1_q30": means(web),
        "live1": {},
    }
    degrades = [f"downscale={s},jpeg=30", f"downscale={s}"]
    for spec in specs:
        for d in degrades:
            r = evaluate(spec, live1, d)
            summary["live1"].setdefault(spec.id, {})[d] = {
                "psnr": round(r.mean["output_psnr"], 2),
                "ssim": round(r.mean["output_ssim"], 4),
                "input_psnr": round(r.mean["input_psnr"], 2),
            }
    summary["per_photo"] = per_photo
    summary["minutes"] = round((time.perf_counter() - t0) / 60, 1)
    summary["command"] = "python benchmarks/realworld_sr.py " + " ".join(sys.argv[1:])
    print(
        f"inputs: RNI15 noise {summary['rni15_input_noise']:.2f}; LIVE1 saved at quality 30: "
        f"noise {summary['live1_q30_input_noise']:.2f}, blocks "
        f"{summary['live1_q30_input_blocks']:.2f}"
    )
    print(
        "| model | RNI15: noise left / blocks / blur | LIVE1 q30 enlarged: noise left / blocks"
        f" / blur | LIVE1 x{s} then q30: PSNR / SSIM (Y) | LIVE1 x{s} clean: PSNR / SSIM (Y) |"
    )
    print("|---|---|---|---|---|")
    for m in ids:
        q, w = summary["rni15"][m], summary["live1_q30"][m]
        lj, lc = (summary["live1"][m][d] for d in degrades)
        nr = [" / ".join(f"{r[k]:.2f}" for k in MEASURES) for r in (q, w)]
        print(
            f"| {m} | {nr[0]} | {nr[1]} | {lj['psnr']:.2f} / {lj['ssim']:.4f} | "
            f"{lc['psnr']:.2f} / {lc['ssim']:.4f} |"
        )
    if a.json:
        Path(a.json).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
