"""How far the RAW denoiser's Auto noise measurement is from the true noise.

    python benchmarks/raw_noise_estimate.py [--isos 3200,6400,12800] [--images holdout]
        [--limit N] [--data ../shared/data] [--scales 1,0.9,0.8 [--card CARD]]

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

``--scales`` then runs the RAW denoiser (``--card``, default the bundled one; the whole
photo at once, float32) on the same samples told the true noise and on Auto with the
estimate's standard deviation multiplied by each scale, and prints the mean PSNR on the
mosaic: how much the measurement's error costs, and whether a correction of it would help.
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
CARD = ROOT / "resources" / "models" / "redunet-raw-denoise.json"
LEVELS = (0.02, 0.05, 0.2)


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--isos", default="3200,6400,12800")
    ap.add_argument("--images", choices=("holdout", "training"), default="holdout")
    ap.add_argument("--limit", type=int, default=24, help="training photos (--images training)")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--scales", default="", help="Auto's std multiplied by each (PSNR table)")
    ap.add_argument("--card", default=str(CARD), help="the RAW denoiser's card (--scales)")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()

    from deconv_gui.core.raw_noise import estimate_profile
    from deconv_gui.training.data import split_holdout
    from deconv_gui.training.export import load_card
    from deconv_gui.training.raw_eval import make_samples

    data = Path(a.data)
    config = json.loads(CONFIG.read_text())
    folders = [data / f for f in config["data"]["folders"]]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        print(f"raw_noise_estimate: no training photos at {', '.join(missing)}", file=sys.stderr)
        return 2
    card_path = Path(a.card)
    card = load_card(card_path) if a.scales else {}
    if a.scales and not card:
        print(f"raw_noise_estimate: no model card {card_path}", file=sys.stderr)
        return 2
    train, holdout = split_holdout(folders, int(config["data"].get("holdout", 0)))
    paths = holdout if a.images == "holdout" else train[: a.limit]
    print(f"{len(paths)} {a.images} photos of {', '.join(config['data']['folders'])}")
    head = " | ".join(f"std at {x:g}" for x in LEVELS)
    print(f"| ISO | {head} | shot | read |")
    print("|---" * (len(LEVELS) + 3) + "|")
    isos = [float(s) for s in a.isos.split(",")]
    samples = {iso: make_samples(paths, iso) for iso in isos}
    estimates = {iso: [estimate_profile(s.noisy) for s in group] for iso, group in samples.items()}
    for iso in isos:
        ratios: list[list[float]] = [[] for _ in LEVELS]
        shot, read = [], []
        for s, est in zip(samples[iso], estimates[iso], strict=True):
            true = s.profile
            for r, x in zip(ratios, LEVELS, strict=True):
                r.append((est.shot * x + est.read) ** 0.5 / (true.shot * x + true.read) ** 0.5)
            shot.append(est.shot / true.shot)
            read.append(est.read / true.read)
        cells = " | ".join(_spread(r) for r in ratios)
        print(f"| {iso:g} | {cells} | {_spread(shot)} | {_spread(read)} |", flush=True)
    if a.scales:
        _psnr_table(a, card, card_path, samples, estimates)
    return 0


def _psnr_table(
    a: argparse.Namespace, card: dict, card_path: Path, samples: dict, estimates: dict
) -> None:
    import numpy as np
    import torch

    from deconv_gui.models.bundled import load_module
    from deconv_gui.training import raw_eval

    if a.threads:
        torch.set_num_threads(a.threads)
    scales = [float(v) for v in a.scales.split(",")]
    module = load_module(card, card_path.with_suffix(".safetensors")).eval()
    run = raw_eval.module_raw_runner(module)
    print(f"\nmean PSNR on the mosaic, {card['id']} ({card_path})")
    print("| ISO | told the noise | " + " | ".join(f"Auto x{s:g}" for s in scales) + " |")
    print("|---" * (len(scales) + 2) + "|")
    for iso, group in samples.items():
        cells = []
        for scale in [None, *scales]:
            psnrs = [
                raw_eval.planes_psnr(
                    np.clip(run(s.noisy, s.profile if scale is None else e.scaled(scale)), 0, 1),
                    s.clean,
                )
                for s, e in zip(group, estimates[iso], strict=True)
            ]
            cells.append(f"{np.mean(psnrs):.3f}")
        print(f"| {iso:g} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
