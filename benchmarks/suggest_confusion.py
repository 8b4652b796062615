"""How often does the automatic suggestion (`deconv_gui.core.analyze`) pick the right kind
of repair? Degrades every photo of a folder (default CBSD68) with each family's
degradations and tabulates the first suggested step against the family.

    python benchmarks/suggest_confusion.py [--folder ../shared/data/test/CBSD68] [--limit N]
        [--estimate-only] [--clean McMaster,Set14,Kodak24]

Families: noise (Gaussian sigma 15, 25, 50), camera noise (ISO 3200, 12800 and 51200 as the
``camera=ISO`` degradation makes it: sensor noise, demosaicking, sharpening, JPEG quality
90), JPEG (quality 10, 20, 40), blur (Gaussian sigma 1.5 and 2, defocus radius 3, motion
11 px), low resolution (bicubic downscale by 2 and 4). The analysis is the app's: the noise
estimate and what the default denoiser removes (`models.registry.noise_probe`);
``--estimate-only`` leaves the denoiser out (the estimate alone, as before it);
``--no-jpeg-probe`` leaves out the second probe, after the JPEG remover, on photos whose JPEG
step comes first (`analyze`'s ``jpeg_remover``). Besides the first step, "in plan" counts
the photos whose suggestion has the family's step anywhere, "Denoise in plan" those with a
Denoise step (on JPEG-only damage, each one is a step that softens the photo for nothing).
The first step is the one the app runs first: JPEG artifacts, then noise, then blur, then
enlargement; a photo with none of the first three gets "upscale" when it is small (every
CBSD68 photo is 481x321, so a clean one is expected to get "upscale" too).
``--clean`` adds rows for other test folders as they are (clean photos; with a long side of
1200 px or more a clean photo is expected to get nothing, smaller ones "upscale"): how
often a clean photo is called noisy, JPEG-damaged or blurred.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deconv_gui.core.analyze import analyze  # noqa: E402
from deconv_gui.core.degrade import parse_spec  # noqa: E402
from deconv_gui.training.data import list_images as image_files  # noqa: E402

FAMILIES = {
    "noise": ["noise=15", "noise=25", "noise=50"],
    "camera noise": ["camera=3200", "camera=12800", "camera=51200"],
    "jpeg": ["jpeg=10", "jpeg=20", "jpeg=40"],
    "deblur": ["blur=gaussian:1.5", "blur=gaussian:2", "blur=disk:3", "blur=motion:11:30"],
    "upscale": ["downscale=2", "downscale=4"],
}
COLUMNS = ["jpeg", "denoise", "deblur", "upscale", "none"]
EXPECTED = {
    "noise": "denoise",
    "camera noise": "denoise",
    "jpeg": "jpeg",
    "deblur": "deblur",
    "upscale": "upscale",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folder", default=str(ROOT.parent / "shared/data/test/CBSD68"))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--estimate-only", action="store_true", help="no denoiser probe")
    ap.add_argument(
        "--no-jpeg-probe",
        action="store_true",
        help="the noise probe does not measure again after the JPEG step (as before it)",
    )
    ap.add_argument("--families", default=",".join(FAMILIES), help="comma-separated")
    ap.add_argument(
        "--clean", default="", help="test folders (under --folder's parent) analysed as they are"
    )
    a = ap.parse_args(argv)
    from deconv_gui.core.io import load_image
    from deconv_gui.models.catalog import default_registry
    from deconv_gui.models.registry import jpeg_probe, noise_probe

    paths = image_files(Path(a.folder))[: a.limit]
    if not paths:
        print(f"no photos in {a.folder}", file=sys.stderr)
        return 2
    registry = default_registry()
    denoiser = None if a.estimate_only else noise_probe(registry)
    jpeg_remover = None if a.estimate_only or a.no_jpeg_probe else jpeg_probe(registry)
    photos = [load_image(p).rgb for p in paths]
    probe = denoiser.id if denoiser is not None else "none (the estimate alone)"
    print(f"{len(photos)} photos from {a.folder}; noise probe: {probe}")
    print(f"jpeg probe: {jpeg_remover.id if jpeg_remover is not None else 'none'}")
    print(
        f"| family | degradations | n | {' | '.join(COLUMNS)} | right | in plan | Denoise in plan |"
    )
    print("|---|---|---|" + "---|" * len(COLUMNS) + "---|---|---|")
    total_right = total = 0

    def look(x):  # type: ignore[no-untyped-def]
        return analyze(x, denoiser=denoiser, jpeg_remover=jpeg_remover)

    for fam in filter(None, (f.strip() for f in a.families.split(","))):
        specs = FAMILIES[fam]
        counts: Counter[str] = Counter()
        planned = denoise = 0
        for spec in specs:
            deg = parse_spec(spec)
            for i, x in enumerate(photos):
                found = look(deg.apply(x, seed=i))
                counts[found.primary] += 1
                planned += any(s.task == EXPECTED[fam] for s in found.steps)
                denoise += any(s.task == "denoise" for s in found.steps)
        n = sum(counts.values())
        right = counts[EXPECTED[fam]]
        total_right += right
        total += n
        cells = " | ".join(str(counts[c]) for c in COLUMNS)
        print(
            f"| {fam} | {', '.join(specs)} | {n} | {cells} | {right / n:.0%} | {planned / n:.0%} "
            f"| {denoise} |"
        )
    clean: Counter[str] = Counter(look(x).primary for x in photos)
    cells = " | ".join(str(clean[c]) for c in COLUMNS)
    print(f"| clean | none | {len(photos)} | {cells} | - | - |")
    if total:  # (--families '' asks for the clean rows only)
        share = total_right / total
        print(f"right first step on degraded photos: {total_right}/{total} ({share:.1%})")
    for name in filter(None, (n.strip() for n in a.clean.split(","))):
        paths = image_files(Path(a.folder).parent / name)
        found_in = [look(load_image(p).rgb) for p in paths]
        firsts: Counter[str] = Counter(f.primary for f in found_in)
        noisy = sum(f.noisy for f in found_in)
        cells = " | ".join(str(firsts[c]) for c in COLUMNS)
        print(f"| clean {name} | none | {len(found_in)} | {cells} | called noisy: {noisy} | - |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
