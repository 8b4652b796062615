"""The JPEG remover on Auto against real JPEG files: PSNR to the clean photo before and after.

    python benchmarks/jpeg_file_auto.py [--set Kodak24] [--limit 8] [--qualities 85,90,94,95,97]

Each photo is saved as a JPEG file by Pillow at each quality (its default 4:2:0 chroma) and
opened as the app opens it, so Auto reads the quality from the file's quantisation tables
(`deconv-gui eval --degrade jpeg=Q` hands the network pixels, where Auto can only estimate
the quality). Prints, per quality, what the tables read and the mean PSNR (RGB, dB) of the
JPEG and of the result. Needs ../shared/data.
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
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--set", default="Kodak24")
    ap.add_argument("--limit", type=int, default=8)
    ap.add_argument("--qualities", default="85,90,94,95,97")
    ap.add_argument("--model", default="redunet-jpeg")
    a = ap.parse_args()

    import numpy as np
    from PIL import Image

    from deconv_gui.core.io import load_image
    from deconv_gui.core.pipeline import restore_photo
    from deconv_gui.core.spec import LoadOptions
    from deconv_gui.core.tiling import run_to_end
    from deconv_gui.models.catalog import default_registry

    folder = Path(a.data) / "test" / a.set
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".png", ".bmp", ".tif"))
    if not files:
        print(f"error: no photos in {folder}", file=sys.stderr)
        return 2
    files = files[: a.limit]
    spec = default_registry().get(a.model)

    def psnr(x: np.ndarray, y: np.ndarray) -> float:
        return float(10 * np.log10(1.0 / np.mean((x.astype(np.float64) - y) ** 2)))

    with tempfile.TemporaryDirectory() as tmp:
        for q in (int(v) for v in a.qualities.split(",")):
            before, after, read = [], [], []
            for f in files:
                clean = load_image(f).rgb
                path = Path(tmp) / "photo.jpg"
                Image.open(f).convert("RGB").save(path, quality=q)
                photo = load_image(path)
                out = run_to_end(restore_photo(spec, photo, LoadOptions(device="cpu")))
                before.append(psnr(clean, photo.rgb))
                after.append(psnr(clean, out.rgb))
                read.append(float(photo.meta.extra.get("jpeg_quality") or 0))
            print(
                f"quality {q} (tables read {np.mean(read):.1f}): JPEG {np.mean(before):.2f} dB"
                f" -> {a.model} on Auto {np.mean(after):.2f} dB ({len(files)} photos of {a.set})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
