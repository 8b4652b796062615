"""How often does the automatic suggestion (`deconv_gui.core.analyze`) pick the right kind
of repair? Degrades every photo of a folder (default CBSD68) with each family's
degradations and tabulates the first suggested step against the family.

    python benchmarks/suggest_confusion.py [--folder ../shared/data/test/CBSD68] [--limit N]

Families: noise (Gaussian sigma 15, 25, 50), JPEG (quality 10, 20, 40), blur (Gaussian
sigma 1.5 and 2, defocus radius 3, motion 11 px), low resolution (bicubic downscale by 2 and
4). The first step is the one the app runs first: JPEG artifacts, then noise, then blur,
then enlargement; a photo with none of the first three gets "upscale" when it is small
(every CBSD68 photo is 481x321, so a clean one is expected to get "upscale" too).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deconv_gui.core.analyze import analyze  # noqa: E402
from deconv_gui.core.degrade import parse_spec  # noqa: E402
from deconv_gui.training.data import list_images as image_files  # noqa: E402

FAMILIES = {
    "noise": ["noise=15", "noise=25", "noise=50"],
    "jpeg": ["jpeg=10", "jpeg=20", "jpeg=40"],
    "deblur": ["blur=gaussian:1.5", "blur=gaussian:2", "blur=disk:3", "blur=motion:11:30"],
    "upscale": ["downscale=2", "downscale=4"],
}
COLUMNS = ["jpeg", "denoise", "deblur", "upscale", "none"]
EXPECTED = {"noise": "denoise", "jpeg": "jpeg", "deblur": "deblur", "upscale": "upscale"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folder", default=str(ROOT.parent / "shared/data/test/CBSD68"))
    ap.add_argument("--limit", type=int, default=None)
    a = ap.parse_args()
    from deconv_gui.core.io import load_image

    paths = image_files(Path(a.folder))[: a.limit]
    if not paths:
        print(f"no photos in {a.folder}", file=sys.stderr)
        return 2
    photos = [load_image(p).rgb for p in paths]
    print(f"{len(photos)} photos from {a.folder}")
    print(f"| family | degradations | n | {' | '.join(COLUMNS)} | right |")
    print("|---|---|---|" + "---|" * len(COLUMNS) + "---|")
    total_right = total = 0
    for fam, specs in FAMILIES.items():
        counts: Counter[str] = Counter()
        for spec in specs:
            deg = parse_spec(spec)
            for i, x in enumerate(photos):
                counts[analyze(deg.apply(x, seed=i)).primary] += 1
        n = sum(counts.values())
        right = counts[EXPECTED[fam]]
        total_right += right
        total += n
        cells = " | ".join(str(counts[c]) for c in COLUMNS)
        print(f"| {fam} | {', '.join(specs)} | {n} | {cells} | {right / n:.0%} |")
    clean: Counter[str] = Counter(analyze(x).primary for x in photos)
    cells = " | ".join(str(clean[c]) for c in COLUMNS)
    print(f"| clean | none | {len(photos)} | {cells} | - |")
    print(f"right first step on degraded photos: {total_right}/{total} ({total_right / total:.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
