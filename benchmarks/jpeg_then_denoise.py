"""After the JPEG step, is a Denoise worth it? The measurement behind
`core.analyze.NOISY_AFTER_JPEG`.

    python benchmarks/jpeg_then_denoise.py [--folder ../shared/data/test/CBSD68]
        [--start 12] [--limit 12] [--lines 0.6,0.8,1.0,1.5,2.0]

Photos ``start`` to ``start + limit`` of the folder (the default leaves out the 12 that
`benchmarks/camera_jpeg_chain.py` tabulates) get JPEG damage alone (quality 10, 20, 40: clean
photos) or a full-frame camera's noise at ISO 800, 3200 and 12800 saved at quality 30, 45
and 60 (`core.camera.simulate_iso`). For each: the app's noise probe as it reads the photo
(`core.analyze.noise_removed`) and after the JPEG remover (``first=``), and what the default
denoiser on Auto after the JPEG remover (told the quality) gains in RGB PSNR over the JPEG
remover alone. Then, for each line the after-reading could be held to, the mean gain of the
plan it makes (a Denoise where the first reading reaches `NOISY_REMOVED` and the second the
line; "always": every photo the first reading calls noisy gets one, as before the second
reading).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deconv_gui.core.analyze import NOISY_REMOVED, noise_removed  # noqa: E402
from deconv_gui.core.camera import simulate_iso  # noqa: E402
from deconv_gui.core.degrade import parse_spec, quantize_8bit  # noqa: E402
from deconv_gui.core.io import load_image  # noqa: E402
from deconv_gui.core.metrics import psnr  # noqa: E402
from deconv_gui.models.catalog import default_registry  # noqa: E402
from deconv_gui.models.registry import jpeg_probe, noise_probe  # noqa: E402
from deconv_gui.training.data import list_images  # noqa: E402
from deconv_gui.training.evaluate import SpecRunner  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folder", default=str(ROOT.parent / "shared/data/test/CBSD68"))
    ap.add_argument("--start", type=int, default=12)
    ap.add_argument("--limit", type=int, default=12)
    ap.add_argument("--lines", default="0.6,0.8,1.0,1.5,2.0")
    a = ap.parse_args()
    paths = list_images(Path(a.folder))[a.start : a.start + a.limit]
    if not paths:
        print(f"no photos in {a.folder} from {a.start}", file=sys.stderr)
        return 2
    registry = default_registry()
    probe, remover = noise_probe(registry), jpeg_probe(registry)
    if probe is None or remover is None:
        print("needs the bundled default denoiser and JPEG artifact remover", file=sys.stderr)
        return 2
    denoise = SpecRunner(probe, strength=None)
    clean = []
    for p in paths:
        x = load_image(p).rgb
        clean.append(x[: x.shape[0] // 2 * 2, : x.shape[1] // 2 * 2])  # whole Bayer quads
    cases: list[tuple[str, int, list[np.ndarray]]] = []
    for q in (10, 20, 40):
        deg = parse_spec(f"jpeg={q}")
        cases.append(
            (f"clean, quality {q}", q, [deg.apply(x, seed=i) for i, x in enumerate(clean)])
        )
    for iso in (800, 3200, 12800):
        for q in (30, 45, 60):
            ys = [
                quantize_8bit(simulate_iso(x, iso, np.random.default_rng(i), jpeg_quality=q))
                for i, x in enumerate(clean)
            ]
            cases.append((f"ISO {iso}, quality {q}", q, ys))
    print(f"{len(clean)} photos from {a.folder} (from #{a.start}); {probe.id}, {remover.id}")
    print(
        "| photos | Denoise after the JPEG step: mean gain (dB) | first reading | after the JPEG remover |"
    )
    print("|---|---|---|---|")
    rows = []  # (case, first reading, second reading, gain)
    for name, q, ys in cases:
        jpeg = SpecRunner(remover, strength=float(q))
        gains, first, second = [], [], []
        for x, y in zip(clean, ys, strict=True):
            d = jpeg(y)
            gains.append(psnr(denoise(d), x) - psnr(d, x))
            first.append(noise_removed(y, probe) or 0.0)
            second.append(noise_removed(y, probe, first=remover) or 0.0)
        rows += [(name, f, s, g) for f, s, g in zip(first, second, gains, strict=True)]
        print(
            f"| {name} | {np.mean(gains):+.2f} | {min(first):.2f}-{max(first):.2f} "
            f"| {min(second):.2f}-{max(second):.2f} |",
            flush=True,
        )
    print()
    print("| line for the second reading | mean gain of the plan, dB a photo | Denoise steps |")
    print("|---|---|---|")
    lines: list[float | None] = [None, *(float(v) for v in a.lines.split(",") if v.strip())]
    for line in lines:
        chosen = [r for r in rows if r[1] >= NOISY_REMOVED and (line is None or r[2] >= line)]
        gain = sum(r[3] for r in chosen) / len(rows)
        print(f"| {'always' if line is None else f'{line:g}'} | {gain:+.3f} | {len(chosen)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
