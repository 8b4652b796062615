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

    import numpy as np
    from PIL import Image

    from deconv_gui.core.io import load_image
    from deconv_gui.core.pipeline import restore_photo
    from deconv_gui.core.spec import LoadOptions
    from deconv_gui.core.tiling import run_to_end
    from deconv_gui.models.bundled import spec_from_card
    from deconv_gui.models.catalog import default_registry

    folder = Path(a.data) / "test" / "RNI15"
    if not folder.is_dir():
        print(f"error: no RNI15 photos in {folder}", file=sys.stderr)
        return 2
    reg = default_registry()
    models = a.models.split(",")
    specs = [spec_from_card(m) if m.endswith(".json") else reg.get(m) for m in models]
    # a session's card is named by its run folder ("cam7grain/redunet-denoise-camera")
    names = [Path(m).parent.name + "/" + sp.id if m.endswith(".json") else sp.id
             for m, sp in zip(models, specs, strict=True)]  # fmt: skip
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in a.photos.split(","):
        photo = load_image(folder / name)
        h, w = photo.rgb.shape[:2]
        s = min(a.side, h, w)
        y, x = (h - s) // 2, (w - s) // 2
        tiles = [photo.rgb[y : y + s, x : x + s]]
        for spec in specs:
            res = run_to_end(restore_photo(spec, photo, LoadOptions(device="cpu")))
            tiles.append(res.rgb[y : y + s, x : x + s])
        gap = np.ones((s, 4, 3), np.float32)
        row = np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1)
        dest = out / f"rni15_{Path(name).stem}.png"
        Image.fromarray((np.clip(row, 0, 1) * 255 + 0.5).astype(np.uint8)).save(dest)
        print(f"{dest}: noisy | " + " | ".join(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
