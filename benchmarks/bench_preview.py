"""Latency of what the app shows before a full run: the preview of the part in view and the
live Amount/Detail sliders (medians over ``--repeats``).

For each model it times `gui.recipe_run.preview_job` on the region the app previews
(`gui.workflow.preview_side`: ``--side`` result pixels, the app's `PREVIEW_SIDE` 512, so
an x2 upscaler's region is 256 input pixels) of a photo of ``--megapixels``: the first preview (the model is built
then) and the following ones (a slider moved: a new processor each time, as in the app,
without the step cache). Then it times Amount/Detail reapplied (`core.finish.finish`) to the
visible part of the result (`REFINISH_FIRST_PIXELS`, what the screen shows first) and to
the whole photo (what follows in the background), and the display conversion of the whole.

    python benchmarks/bench_preview.py --megapixels 24 --threads 2

No Qt window is made (the jobs are the ones the app runs in its worker thread).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time

import numpy as np


def _photo(megapixels: float, seed: int = 0) -> np.ndarray:
    """A 3:2 photo-like picture: smooth gradients, edges and noise sigma 15."""
    w = round(math.sqrt(megapixels * 1e6 * 1.5))
    h = round(w / 1.5)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / w, y / h, 0.5 + 0.3 * np.sin(x / 37.0) * np.cos(y / 23.0)], -1)
    rng = np.random.default_rng(seed)
    return np.clip(base + rng.normal(0, 15 / 255, base.shape), 0, 1).astype(np.float32)


def _median(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megapixels", type=float, default=24.0)
    ap.add_argument("--side", type=int, default=512, help="preview region side (px)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: default)")
    ap.add_argument("--models", default="redunet-denoise-fast,fsrcnn-x2,redunet-denoise,fsrcnn-x4")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("DECONV_GUI_CPU_BF16", "0")

    from deconv_gui.core import devices
    from deconv_gui.core.finish import finish
    from deconv_gui.core.image import ImageMeta, Photo
    from deconv_gui.core.recipe import Recipe, RecipeStep
    from deconv_gui.core.spec import LoadOptions
    from deconv_gui.core.tiling import run_to_end
    from deconv_gui.gui.display import DisplayImage
    from deconv_gui.gui.recipe_run import preview_box, preview_job
    from deconv_gui.gui.workflow import PREVIEW_SIDE, REFINISH_FIRST_PIXELS, preview_side
    from deconv_gui.models.catalog import default_registry

    if args.threads:
        devices.set_cpu_threads(args.threads)
    registry = default_registry()
    rgb = _photo(args.megapixels)
    h, w = rgb.shape[:2]
    photo = Photo(rgb, ImageMeta())
    options = LoadOptions(device="cpu")
    rows: list[dict] = []
    for mid in [m.strip() for m in args.models.split(",") if m.strip()]:
        if mid not in registry:
            print(f"skipped {mid}: not installed")
            continue
        spec = registry.get(mid)
        recipe = Recipe((RecipeStep(mid),))
        side = preview_side(recipe, registry) * args.side // PREVIEW_SIDE
        box = preview_box((w / 2 - side / 2, h / 2 - side / 2, side, side), (w, h), side)

        def once(recipe=recipe, spec=spec, box=box) -> None:
            run_to_end(preview_job(recipe, lambda _m, s=spec: s, options, photo, box,
                                   cache=None, colour=None))  # fmt: skip

        t0 = time.perf_counter()
        once()
        first = time.perf_counter() - t0
        med, times = _median(once, args.repeats)
        rows.append({"what": f"preview {mid} ({box[3] - box[2]} px input)", "first_s": round(first, 3),
                     "median_s": round(med, 3), "times": [round(t, 3) for t in times]})  # fmt: skip

    raw = np.clip(rgb * 0.9 + 0.05, 0, 1).astype(np.float32)  # a stand-in result
    side = int(REFINISH_FIRST_PIXELS**0.5)
    y0, y1, x0, x1 = preview_box((w / 2 - side / 2, h / 2 - side / 2, side, side), (w, h), side)
    for amount, detail in ((0.5, 0.0), (0.5, 0.5)):
        med, times = _median(
            lambda a=amount, d=detail: finish(rgb[y0:y1, x0:x1], raw[y0:y1, x0:x1], amount=a,
                                              detail=d), args.repeats)  # fmt: skip
        rows.append({"what": f"Amount {amount:g} Detail {detail:g}, visible {x1 - x0}x{y1 - y0}",
                     "median_s": round(med, 3), "times": [round(t, 3) for t in times]})  # fmt: skip
        med, times = _median(
            lambda a=amount, d=detail: finish(rgb, raw, amount=a, detail=d),
            max(1, args.repeats // 2),
        )
        rows.append({"what": f"Amount {amount:g} Detail {detail:g}, whole {args.megapixels:g} MP",
                     "median_s": round(med, 3), "times": [round(t, 3) for t in times]})  # fmt: skip
    med, times = _median(lambda: DisplayImage.from_rgb(raw), max(1, args.repeats // 2))
    rows.append({"what": f"display conversion, whole {args.megapixels:g} MP",
                 "median_s": round(med, 3), "times": [round(t, 3) for t in times]})  # fmt: skip

    head = {"megapixels": args.megapixels, "app_preview_side": PREVIEW_SIDE, "threads": args.threads or "default",
            "cpus": os.cpu_count()}  # fmt: skip
    if args.json:
        print(json.dumps({**head, "rows": rows}, indent=2))
        return
    print(", ".join(f"{k} {v}" for k, v in head.items()))
    for r in rows:
        first = f"  first {r['first_s']:.2f} s" if "first_s" in r else ""
        print(f"{r['what']:<52} median {r['median_s']:.3f} s{first}")


if __name__ == "__main__":
    main()
