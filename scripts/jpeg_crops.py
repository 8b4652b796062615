"""Crops of LIVE1 photos saved as real JPEG files, through the JPEG artifact remover on Auto,
beside the original, to judge by eye.

    python scripts/jpeg_crops.py OUT_FOLDER [--quality 20] [--models redunet-jpeg]
        [--photos parrots.png,womanhat.png,caps.png,carnivaldolls.png] [--side 192]

For each photo: it is saved as a JPEG file at ``--quality`` (4:2:0 chroma, as cameras and
the web save) and opened as the app opens it, so that Auto reads the quality from the
file's quantisation tables; then a centre crop of that JPEG, each model's result on Auto
(run on the whole photo, then cropped) and the original, side by side with a 4 px gap,
written as PNG. A model is a bundled id or a card (``runs/NAME/ID.json``, its weights beside
it: a session's result).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--quality", type=int, default=20)
    ap.add_argument("--models", default="redunet-jpeg")
    ap.add_argument("--photos", default="parrots.png,womanhat.png,caps.png,carnivaldolls.png")
    ap.add_argument("--side", type=int, default=192)
    a = ap.parse_args()

    import numpy as np
    from PIL import Image

    from deconv_gui.core.io import load_image
    from deconv_gui.core.pipeline import auto_settings, restore_photo
    from deconv_gui.core.spec import LoadOptions
    from deconv_gui.core.tiling import run_to_end
    from deconv_gui.models.bundled import spec_from_card
    from deconv_gui.models.catalog import default_registry

    folder = Path(a.data) / "test" / "LIVE1"
    if not folder.is_dir():
        print(f"error: no LIVE1 photos in {folder}", file=sys.stderr)
        return 2
    reg = default_registry()
    models = a.models.split(",")
    specs = [spec_from_card(m) if m.endswith(".json") else reg.get(m) for m in models]
    names = [Path(m).parent.name + "/" + sp.id if m.endswith(".json") else sp.id
             for m, sp in zip(models, specs, strict=True)]  # fmt: skip
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.photos.split(","):
            clean = load_image(folder / name)
            jpeg = Path(tmp) / f"{Path(name).stem}.jpg"
            Image.open(folder / name).convert("RGB").save(
                jpeg, quality=a.quality, subsampling="4:2:0"
            )
            photo = load_image(jpeg)
            h, w = photo.rgb.shape[:2]
            s = min(a.side, h, w)
            y, x = (h - s) // 2, (w - s) // 2
            tiles = [photo.rgb[y : y + s, x : x + s]]
            chosen = []
            for spec in specs:
                res = run_to_end(restore_photo(spec, photo, LoadOptions(device="cpu")))
                tiles.append(res.rgb[y : y + s, x : x + s])
                chosen += [f"{spec.id}: {st.text()}" for st in auto_settings(res.meta)]
            tiles.append(clean.rgb[y : y + s, x : x + s])
            gap = np.ones((s, 4, 3), np.float32)
            row = np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1)
            dest = out / f"live1_q{a.quality}_{Path(name).stem}.png"
            Image.fromarray((np.clip(row, 0, 1) * 255 + 0.5).astype(np.uint8)).save(dest)
            print(f"{dest}: JPEG q{a.quality} | " + " | ".join(names) + " | original"
                  + (f"  (Auto: {'; '.join(chosen)})" if chosen else ""))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
