"""Tune the classical deblur baselines (Wiener, Richardson-Lucy) told the true kernel.

The deblur network is judged against the best of Wiener and Richardson-Lucy *tuned*: each is
given the true blur kernel, and its one free setting is chosen by a grid search on photos of
the training set (never the test set), per degradation:

* ``wiener-deblur``: the strength is the noise level the filter is told; the filter's
  noise-to-signal ratio is ``(strength/255)^2 / var(image)``, so choosing the strength is
  choosing the regularisation (the true noise level is one point of the grid);
* ``rl-deblur``: the strength is the number of Richardson-Lucy iterations.

    python benchmarks/tune_classical_deblur.py [--data ../shared/data] [--images 12] \
        [--out benchmarks/classical_deblur_tuned.json] [--test]

Writes the chosen settings (and the training-set PSNR of every grid point) to ``--out``;
`benchmarks/quality_table.py` reads them for its classical deblur rows. ``--test`` also
measures the chosen settings on CBSD68 (the numbers the quality table prints).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

DEGRADATIONS = ["blur=gaussian:2,noise=2", "blur=disk:3,noise=2", "blur=motion:11:30,noise=2"]
GRIDS: dict[str, list[float]] = {
    "wiener-deblur": [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32],
    "rl-deblur": [2, 3, 4, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 70, 100],
}


def _score(
    spec: Any, folder: Path, degrade: str, strength: float, n: int | None = None, seed: int = 0
) -> float:
    """Mean PSNR over the first ``n`` photos of ``folder`` (seeds as ``deconv-gui eval``'s
    from ``seed``), the model told the true kernel (``--true-kernel``)."""
    from deconv_gui.training.evaluate import evaluate, parse_degradation

    deg = parse_degradation(degrade)
    r = evaluate(
        spec, folder, deg, strength=strength, params={"kernel": deg.kernel}, max_images=n, seed=seed
    )
    return float(r.mean["output_psnr"])


def tune(data: Path, images: int, log: Any = print) -> dict[str, Any]:
    from deconv_gui.models.catalog import default_registry

    specs = {s.id: s for s in default_registry() if s.id in GRIDS}
    folder = data / "train" / "BSD200"
    out: dict[str, Any] = {"tuned_on": f"train/BSD200, first {images} photos", "rows": {}}
    for degrade in DEGRADATIONS:
        row: dict[str, Any] = {}
        for model, grid in GRIDS.items():
            scores = {}
            for s in grid:
                scores[s] = round(_score(specs[model], folder, degrade, s, images, seed=1000), 3)
                log(f"{degrade:28s} {model:14s} strength {s:>5g}: {scores[s]:.3f} dB")
            best = max(scores, key=lambda k: scores[k])
            row[model] = {"strength": best, "train_psnr": scores[best], "grid": scores}
        out["rows"][degrade] = row
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--out", default=str(Path(__file__).with_name("classical_deblur_tuned.json")))
    ap.add_argument("--test", action="store_true", help="also measure the choice on CBSD68")
    args = ap.parse_args()
    data = Path(args.data)
    if not (data / "train" / "BSD200").is_dir():
        print(f"training photos not found under {data}", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    result = tune(data, args.images)
    if args.test and (data / "test" / "CBSD68").is_dir():
        from deconv_gui.models.catalog import default_registry

        specs = {s.id: s for s in default_registry() if s.id in GRIDS}
        for degrade, row in result["rows"].items():
            for model, choice in row.items():
                test = data / "test" / "CBSD68"
                choice["cbsd68_psnr"] = round(
                    _score(specs[model], test, degrade, choice["strength"]), 2
                )
                print(f"{degrade:28s} {model:14s} CBSD68: {choice['cbsd68_psnr']:.2f} dB")
    result["minutes"] = round((time.perf_counter() - t0) / 60, 1)
    result["command"] = "python benchmarks/tune_classical_deblur.py" + (
        " --test" if args.test else ""
    )
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
