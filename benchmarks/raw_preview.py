"""The RAW denoiser's preview against a full run, on real camera RAW files.

    python benchmarks/raw_preview.py [FILE ...] [--side 512] [--amount 100] [--threads 2]

Without files it takes every RAW file of ``../shared/data/raw`` (``DECONV_GUI_DATA`` names
another data folder). For each file it runs the RAW denoiser on the whole photo (as Run does,
`core.pipeline.restore_photo` through `gui.recipe_run.recipe_work`) and then previews a
``--side`` x ``--side`` region in its middle the way the app does
(`gui.recipe_run.preview_job`: the part of the sensor data behind the region, with the noise
measured on the whole file), twice (the second reuses that measurement). It prints the
times and how far the previewed region is from the same region of the full run: the largest
difference and the share of pixels off by more than 2/1000 (the demosaicking can turn on a
last-bit change of a sensor value), in [0, 1] units of the 16-bit development.

Exit status 1 when a preview is off in more than 2 % of its pixels.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _raw_files(folder: Path) -> list[Path]:
    from deconv_gui.core.raw import is_raw_path

    return sorted(p for p in folder.iterdir() if p.is_file() and is_raw_path(p))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--side", type=int, default=512, help="the previewed region's side")
    ap.add_argument("--amount", type=float, default=100.0, help="Amount, percent")
    ap.add_argument("--model", default="redunet-raw-denoise")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()

    import numpy as np
    import torch

    from deconv_gui.core.io import load_image
    from deconv_gui.core.recipe import Recipe, RecipeStep
    from deconv_gui.core.spec import LoadOptions
    from deconv_gui.core.tiling import run_to_end
    from deconv_gui.gui.recipe_run import preview_job, recipe_work
    from deconv_gui.models.catalog import default_registry

    if a.threads:
        torch.set_num_threads(a.threads)
    files = a.files
    if not files:
        data = Path(os.environ.get("DECONV_GUI_DATA", ROOT.parent / "shared" / "data"))
        folder = data / "raw"
        if not folder.is_dir():
            print(f"no RAW files: {folder} not found (name files, or set DECONV_GUI_DATA)")
            return 2
        files = _raw_files(folder)
    registry = default_registry()
    spec = registry.get(a.model)
    recipe = Recipe((RecipeStep(spec.id, amount=a.amount / 100.0),))
    options = LoadOptions(device="cpu")
    print(f"{'file':42} {'size':>11} {'full s':>7} {'preview s':>9} {'again s':>8} "
          f"{'max diff':>8} {'off %':>6}")  # fmt: skip
    worst = 0.0
    for path in files:
        photo = load_image(path)
        h, w = photo.rgb.shape[:2]
        t = time.perf_counter()
        full = run_to_end(recipe_work(recipe, registry.get, options, photo)).photo.rgb
        t_full = time.perf_counter() - t
        side = min(a.side, h, w)
        y0, x0 = (h - side) // 2, (w - side) // 2
        box = (y0, y0 + side, x0, x0 + side)
        times = []
        for _ in range(2):
            t = time.perf_counter()
            out = run_to_end(
                preview_job(recipe, registry.get, options, photo, box, cache=None, colour=None)
            )
            times.append(time.perf_counter() - t)
        diff = np.abs(out.rgb - full[y0 : y0 + side, x0 : x0 + side]).max(axis=2)
        off = float((diff > 2e-3).mean())
        worst = max(worst, off)
        print(f"{path.name[:42]:42} {w:>5}x{h:<5} {t_full:7.2f} {times[0]:9.2f} {times[1]:8.2f} "
              f"{diff.max():8.4f} {100 * off:6.2f}")  # fmt: skip
    return 1 if worst > 0.02 else 0


if __name__ == "__main__":
    sys.exit(main())
