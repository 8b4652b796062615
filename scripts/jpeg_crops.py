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

    from crop_rows import centre_crops, models_named, save_row
    from PIL import Image

    from deconv_gui.core.io import load_image
    from deconv_gui.core.pipeline import auto_settings

    folder = Path(a.data) / "test" / "LIVE1"
    if not folder.is_dir():
        print(f"error: no LIVE1 photos in {folder}", file=sys.stderr)
        return 2
    specs, names = models_named(a.models)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.photos.split(","):
            clean = load_image(folder / name)
            jpeg = Path(tmp) / f"{Path(name).stem}.jpg"
            Image.open(folder / name).convert("RGB").save(
                jpeg, quality=a.quality, subsampling="4:2:0"
            )
            tiles, results, box = centre_crops(load_image(jpeg), specs, a.side)
            chosen = [f"{sp.id}: {st.text()}"
                      for sp, r in zip(specs, results, strict=True) for st in auto_settings(r.meta)]  # fmt: skip
            dest = out / f"live1_q{a.quality}_{Path(name).stem}.png"
            save_row([*tiles, clean.rgb[box]], dest)
            print(f"{dest}: JPEG q{a.quality} | " + " | ".join(names) + " | original"
                  + (f"  (Auto: {'; '.join(chosen)})" if chosen else ""))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
