"""Crops of real noisy photos (RNI15, no clean versions) through two denoisers, to judge by eye.

    python scripts/rni15_crops.py OUT_FOLDER [--models redunet-denoise-fast,redunet-denoise-camera]
        [--photos Audrey_Hepburn.jpg,Dog.png,Flowers.png,Movie.png,Singer.png] [--side 192]

For each photo: a centre crop of the noisy photo, then each model's result on Auto (run on
the whole photo, then cropped), side by side with a 4 px gap, written as PNG. A model is a
bundled id or a card (``runs/NAME/ID.json``, its weights beside it: a session's result).
Movie and Singer have coarse noise (film grain, analogue video) that the white-noise
estimate reads as almost none.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--models", default="redunet-denoise-fast,redunet-denoise-camera")
    ap.add_argument(
        "--photos", default="Audrey_Hepburn.jpg,Dog.png,Flowers.png,Movie.png,Singer.png"
    )
    ap.add_argument("--side", type=int, default=192)
    a = ap.parse_args()

    from crop_rows import centre_crops, models_named, save_row

    from deconv_gui.core.io import load_image

    folder = Path(a.data) / "test" / "RNI15"
    if not folder.is_dir():
        print(f"error: no RNI15 photos in {folder}", file=sys.stderr)
        return 2
    specs, names = models_named(a.models)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in a.photos.split(","):
        tiles, _, _ = centre_crops(load_image(folder / name), specs, a.side)
        dest = out / f"rni15_{Path(name).stem}.png"
        save_row(tiles, dest)
        print(f"{dest}: noisy | " + " | ".join(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
