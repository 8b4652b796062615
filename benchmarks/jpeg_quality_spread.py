"""The JPEG quality read from a large photo's pixels: all its 8x8 blocks against a spread.

    python benchmarks/jpeg_quality_spread.py [--qualities 10,30,50,70,90,95] [--repeat 3]
        [--data ../shared/data]

`core.jpeg_quality.estimate_quality_from_pixels` reads the quality a photo that is no longer
a JPEG (a PNG or TIFF of a once-compressed photo) was saved at, for the analysis on opening
and the JPEG remover's Auto. Over `MAX_BLOCKS` blocks it reads every n-th block row and
column. This script develops the camera RAW files in ``DATA/raw`` (the larger ones are
12 MP), saves each as a JPEG at each quality (Pillow, 4:2:0), decodes it and reads the
quality from all blocks and from the spread: it prints both readings and the median time of
``--repeat`` runs each, and how many readings differ.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--qualities", default="10,30,50,70,90,95")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()

    import numpy as np
    from PIL import Image

    from deconv_gui.core.io import load_image
    from deconv_gui.core.jpeg_quality import MAX_BLOCKS, estimate_quality_from_pixels
    from deconv_gui.core.raw import is_raw_path

    folder = Path(a.data) / "raw"
    files = sorted(p for p in folder.glob("*") if is_raw_path(p)) if folder.is_dir() else []
    if not files:
        print(f"skipped: no camera RAW files in {folder} (set --data)", file=sys.stderr)
        return 0

    def timed(rgb: np.ndarray, cap: int) -> tuple[float | None, float]:
        times, est = [], None
        for _ in range(a.repeat):
            t = time.perf_counter()
            est = estimate_quality_from_pixels(rgb, max_blocks=cap)
            times.append(time.perf_counter() - t)
        return est, statistics.median(times)

    print(f"| photo | size | saved at | all blocks | time | spread (max {MAX_BLOCKS}) | time |")
    print("|---|---|---|---|---|---|---|")
    differ = total = 0
    for path in files:
        rgb = load_image(path).rgb
        h, w = rgb.shape[:2]
        pil = Image.fromarray((np.clip(rgb[..., :3], 0, 1) * 255 + 0.5).astype(np.uint8))
        for q in (int(v) for v in a.qualities.split(",")):
            buf = io.BytesIO()
            pil.save(buf, "JPEG", quality=q)
            dec = np.asarray(Image.open(buf).convert("RGB"), np.float32) / 255.0
            whole, t_whole = timed(dec, 10**12)
            spread, t_spread = timed(dec, MAX_BLOCKS)
            total += 1
            differ += whole != spread
            print(f"| {path.name} | {w}x{h} | {q} | {whole} | {t_whole:.2f} s | {spread} | "
                  f"{t_spread:.2f} s |")  # fmt: skip
    print(f"\n{differ} of {total} readings differ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
