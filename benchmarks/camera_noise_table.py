"""Denoisers on noise as a camera makes it: Auto against the best strength set by hand.

    python benchmarks/camera_noise_table.py [--cards a.json,b.json] [--isos 3200,12800,51200]
        [--specs "grain=6;grain=4:1.5,jpeg=90"] [--folder ../shared/data/test/Kodak24]
        [--limit N] [--strengths 5,10,15,20,30,40,50,75] [--threads 1]

Each clean photo gets ``camera=ISO`` (`core.degrade`: a camera's sensor noise in linear
light carried through demosaicking, colour matrix, tone curve, sharpening and JPEG 90;
seeded per photo), then every model is run on Auto (its own noise estimate) and at each hand
strength. A row per (model, ISO): input PSNR, Auto's PSNR, the best hand strength and its
PSNR, and Auto's shortfall to it (the camera-noise issue asks for at most 0.2 dB). RGB PSNR
over the whole photo, float32, on the CPU. Default models: the bundled default denoiser.
``--specs`` measures other degradations the same way instead (`core.degrade` specs separated
by ";", e.g. coarse noise as film grain and video make it: ``grain=SIGMA[:SIZE]``); the
second column then names the spec.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cards", default=None, help="model cards (.json, weights beside them)")
    ap.add_argument("--isos", default="3200,12800,51200")
    ap.add_argument("--specs", default=None, help="degradation specs separated by ';'")
    ap.add_argument("--folder", default=str(ROOT.parent / "shared/data/test/Kodak24"))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--strengths", default="5,10,15,20,30,40,50,75")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()

    import numpy as np
    import torch

    from deconv_gui.models.bundled import spec_from_card
    from deconv_gui.models.catalog import default_registry
    from deconv_gui.training.evaluate import SpecRunner, prepare_pairs, score_pairs

    if a.threads:
        torch.set_num_threads(a.threads)
    if not Path(a.folder).is_dir():
        print(f"error: no test photos in {a.folder}", file=sys.stderr)
        return 2
    if a.cards:
        specs = [(c, spec_from_card(c)) for c in a.cards.split(",")]
    else:
        spec = default_registry().default_for("denoise")
        specs = [(spec.id, spec)]
    strengths = [float(s) for s in a.strengths.split(",")]

    print(
        f"| model | {'noise' if a.specs else 'ISO'} | input | Auto | best hand (strength) | Auto - best |"
    )
    print("|---|---|---|---|---|---|", flush=True)
    cases = a.specs.split(";") if a.specs else [f"camera={iso}" for iso in a.isos.split(",")]
    for case in cases:
        iso = case.removeprefix("camera=") if not a.specs else case
        pairs = prepare_pairs(a.folder, case, max_images=a.limit)
        for label, spec in specs:

            def mean_psnr(strength: float | None, spec=spec, pairs=pairs) -> tuple[float, float]:
                scores = score_pairs(SpecRunner(spec, strength=strength), pairs)
                return (
                    float(np.mean([s.input_psnr for s in scores])),
                    float(np.mean([s.output_psnr for s in scores])),
                )

            inp, auto = mean_psnr(None)
            hand = {s: mean_psnr(s)[1] for s in strengths}
            best = max(hand, key=lambda s: hand[s])
            print(
                f"| {Path(label).stem} | {iso} | {inp:.2f} | {auto:.2f} | "
                f"{hand[best]:.2f} ({best:g}) | {auto - hand[best]:+.2f} |",
                flush=True,
            )
    print(f"<!-- {len(pairs)} photos of {a.folder}; hand strengths {a.strengths} -->")
    return 0


if __name__ == "__main__":
    sys.exit(main())
