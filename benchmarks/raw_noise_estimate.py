"""How far the RAW denoiser's Auto noise measurement is from the true noise.

    python benchmarks/raw_noise_estimate.py [--isos 3200,6400,12800] [--images holdout]
        [--limit N] [--data ../shared/data]

`core.raw_noise.estimate_profile` measures a photo's Poisson-Gaussian noise
(``var = shot * x + read``) from the file alone; Auto feeds that to the RAW denoiser. This
script makes synthetic raw samples (`training.raw_eval.make_samples`: a training photo
unprocessed to a camera's mosaic, noise of a full-frame sensor at each ISO,
`core.raw_noise.reference_profile`) and compares the estimate with the noise that was added.

``--images holdout`` (default) uses the RAW denoiser's training holdout (its config's
``data.holdout`` images, kept out of its training); ``--images training`` the first
``--limit`` of its training photos. Never the test sets: this is for tuning the estimate.

Per ISO it prints, over the images, the median (and range) of:

* the estimated noise standard deviation over the true one at brightness 0.02, 0.05 and
  0.2 of the white level (the map Auto gives the network, in shadows and mid-tones);
* the estimated ``shot`` and ``read`` over the true ones.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIG = ROOT / "deconv_gui" / "training" / "configs" / "redunet_raw_denoise.json"
LEVELS = (0.02, 0.05, 0.2)


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--isos", default="3200,6400,12800")
    ap.add_argument("--images", choices=("holdout", "training"), default="holdout")
    ap.add_argument("--limit", type=int, default=24, help="training photos (--images training)")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    a = ap.parse_args()

    from deconv_gui.core.raw_noise import estimate_profile
    from deconv_gui.training.data import split_holdout
    from deconv_gui.training.raw_eval import make_samples

    data = Path(a.data)
    config = json.loads(CONFIG.read_text())
    folders = [data / f for f in config["data"]["folders"]]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        print(f"raw_noise_estimate: no training photos at {', '.join(missing)}", file=sys.stderr)
        return 2
    train, holdout = split_holdout(folders, int(config["data"].get("holdout", 0)))
    paths = holdout if a.images == "holdout" else train[: a.limit]
    print(f"{len(paths)} {a.images} photos of {', '.join(config['data']['folders'])}")
    head = " | ".join(f"std at {x:g}" for x in LEVELS)
    print(f"| ISO | {head} | shot | read |")
    print("|---" * (len(LEVELS) + 3) + "|")
    for iso in (float(s) for s in a.isos.split(",")):
        ratios: list[list[float]] = [[] for _ in LEVELS]
        shot, read = [], []
        for s in make_samples(paths, iso):
            est, true = estimate_profile(s.noisy), s.profile
            for r, x in zip(ratios, LEVELS, strict=True):
                r.append((est.shot * x + est.read) ** 0.5 / (true.shot * x + true.read) ** 0.5)
            shot.append(est.shot / true.shot)
            read.append(est.read / true.read)
        cells = " | ".join(_spread(r) for r in ratios)
        print(f"| {iso:g} | {cells} | {_spread(shot)} | {_spread(read)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
