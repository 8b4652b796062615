"""Camera noise in a JPEG: denoise alone, or remove JPEG artifacts first? And what does the
suggestion plan? The measurement behind `core.analyze.NOISY_JPEG`.

    python benchmarks/camera_jpeg_chain.py [--folder ../shared/data/test/CBSD68] [--limit 12]
        [--isos 800,3200,12800] [--qualities 60,75,85,90]

Each photo gets a full-frame sensor's noise at each ISO in its unprocessed raw mosaic, then
demosaicking, colour matrix, tone curve, sharpening and a JPEG at each quality
(`core.camera.simulate_iso`; seed = the photo's index). Rows: the mean RGB PSNR of the
noisy JPEG, of the default denoiser on Auto, of the JPEG remover (told the quality) then
the default denoiser on Auto, and of the JPEG remover alone; and how many photos the
suggestion (`core.analyze` with the app's noise probe, which measures again after the JPEG
remover where the JPEG step comes first) plans a denoise for, and a JPEG step for; and the
denoise count of the probe without that second measurement. Float32, whole photos.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deconv_gui.core.analyze import analyze  # noqa: E402
from deconv_gui.core.camera import simulate_iso  # noqa: E402
from deconv_gui.core.degrade import quantize_8bit  # noqa: E402
from deconv_gui.core.io import load_image  # noqa: E402
from deconv_gui.core.metrics import psnr  # noqa: E402
from deconv_gui.models.catalog import default_registry  # noqa: E402
from deconv_gui.models.registry import jpeg_probe, noise_probe  # noqa: E402
from deconv_gui.training.data import list_images  # noqa: E402
from deconv_gui.training.evaluate import SpecRunner  # noqa: E402


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folder", default=str(ROOT.parent / "shared/data/test/CBSD68"))
    ap.add_argument("--limit", type=int, default=12)
    ap.add_argument("--isos", type=_ints, default=[800, 3200, 12800])
    ap.add_argument("--qualities", type=_ints, default=[60, 75, 85, 90])
    a = ap.parse_args()
    paths = list_images(Path(a.folder))[: a.limit]
    if not paths:
        print(f"no photos in {a.folder}", file=sys.stderr)
        return 2
    registry = default_registry()
    denoiser = registry.default_for("denoise")
    remover = registry.default_for("jpeg")
    if denoiser is None or remover is None:
        print("needs a denoiser and a JPEG artifact remover", file=sys.stderr)
        return 2
    probe, jpeg_first = noise_probe(registry), jpeg_probe(registry)
    denoise = SpecRunner(denoiser, strength=None)
    clean = []
    for p in paths:
        x = load_image(p).rgb
        clean.append(x[: x.shape[0] // 2 * 2, : x.shape[1] // 2 * 2])  # whole Bayer quads
    print(f"{len(clean)} photos from {a.folder}; {denoiser.id} on Auto, {remover.id}")
    print(
        "| ISO | JPEG quality | noisy JPEG | denoise | JPEG remover, then denoise "
        "| JPEG remover alone | suggestion: denoise | suggestion: JPEG step "
        "| denoise without the second probe |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for iso in a.isos:
        for q in a.qualities:
            jpeg = SpecRunner(remover, strength=float(q))
            scores, plans, old = [], {"denoise": 0, "jpeg": 0}, 0
            for i, x in enumerate(clean):
                y = quantize_8bit(simulate_iso(x, iso, np.random.default_rng(i), jpeg_quality=q))
                dejpeg = jpeg(y)
                scores.append(
                    (psnr(y, x), psnr(denoise(y), x), psnr(denoise(dejpeg), x), psnr(dejpeg, x))
                )
                tasks = {s.task for s in analyze(y, denoiser=probe, jpeg_remover=jpeg_first).steps}
                for t in plans:
                    plans[t] += t in tasks
                old += any(s.task == "denoise" for s in analyze(y, denoiser=probe).steps)
            m = np.mean(scores, axis=0)
            n = len(clean)
            print(
                f"| {iso} | {q} | {m[0]:.2f} | {m[1]:.2f} | {m[2]:.2f} | {m[3]:.2f} "
                f"| {plans['denoise']}/{n} | {plans['jpeg']}/{n} | {old}/{n} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
