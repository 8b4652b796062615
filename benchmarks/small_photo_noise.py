"""How small a photo can the noise estimate judge? The measurement behind
`core.analyze.NOISE_MIN_SIDE`.

    python benchmarks/small_photo_noise.py [--folders ../shared/data/test/Kodak24,../shared/data/test/CBSD68]
        [--sides 24,32,48,64,80,96,128] [--sigmas 0,5,8]

Every photo of the folders is downscaled (Lanczos) to each short side, given Gaussian noise of
each sigma (0-255; 0: the clean photo) and measured by `core.noise.estimate_noise_sigma`, the
estimate `deconv-gui analyze` calls noisy from `NOISY_SIGMA` on. Per side and sigma: the share
of photos read at or above that line (for sigma 0: clean photos called noisy), the median and
the largest reading.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deconv_gui.core.analyze import NOISY_SIGMA  # noqa: E402
from deconv_gui.core.noise import estimate_noise_sigma  # noqa: E402
from deconv_gui.training.data import list_images  # noqa: E402

DATA = ROOT.parent / "shared/data/test"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folders", default=f"{DATA / 'Kodak24'},{DATA / 'CBSD68'}")
    ap.add_argument("--sides", default="24,32,48,64,80,96,128")
    ap.add_argument("--sigmas", default="0,5,8")
    a = ap.parse_args()
    paths = [p for f in a.folders.split(",") if Path(f).is_dir() for p in list_images(Path(f))]
    if not paths:
        print(f"no photos in {a.folders} (../shared/data missing?)", file=sys.stderr)
        return 2
    sides = [int(v) for v in a.sides.split(",")]
    sigmas = [float(v) for v in a.sigmas.split(",")]
    photos = [Image.open(p).convert("RGB") for p in paths]
    rng = np.random.default_rng(0)
    print(f"{len(photos)} photos; 'noisy' = estimate >= {NOISY_SIGMA:g}")
    print(
        "| short side | " + " | ".join(f"sigma {s:g}: noisy / median / max" for s in sigmas) + " |"
    )
    print("|---:|" + "---:|" * len(sigmas))
    for side in sides:
        readings: dict[float, list[float]] = {s: [] for s in sigmas}
        for im in photos:
            w, h = im.size
            k = side / min(w, h)
            small = im.resize((max(2, round(w * k)), max(2, round(h * k))), Image.LANCZOS)
            x = np.asarray(small, np.float32) / 255
            for s in sigmas:
                noisy = np.clip(x + rng.normal(0, s / 255, x.shape), 0, 1).astype(np.float32)
                readings[s].append(float(estimate_noise_sigma(noisy)))
        cells = []
        for s in sigmas:
            r = np.array(readings[s])
            cells.append(
                f"{np.mean(r >= NOISY_SIGMA) * 100:.0f} % / {np.median(r):.1f} / {r.max():.1f}"
            )
        print(f"| {side} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
