"""The RAW denoiser's table: synthetic raw written as DNG files, the whole path measured.

    python benchmarks/raw_denoise_table.py [--sets Kodak24,CBSD68] [--isos 800,3200,6400,12800]
        [--model redunet-raw-denoise | --card path/to/card.json] [--limit N] [--threads 2]
        [--cache DIR] [--json out.json] [--write-card] [--extra-quality]
    python benchmarks/raw_denoise_table.py --merge-json a.json,b.json [--card path/to/card.json]

For each test set and ISO (full-frame sensor, `core.raw_noise.reference_profile`) the clean
photos are unprocessed to raw and written as clean and noisy 14-bit DNGs
(`training.raw_testset`). Rows, each scored against the clean DNG on the mosaic
(normalised sensor units, PSNR over the four colour planes, their mean SSIM) and on LibRaw's
development of both:

* input: the noisy file;
* the RAW denoiser, Auto (noise measured in the file) and told the true noise; with
  ``--extra-quality`` also Auto with "Extra quality" (eight Bayer-preserving flipped passes
  averaged, `core.runner`);
* VST + BM3D on the four CFA planes, told the true noise (generalized Anscombe transform,
  BM3D of the `bm3d` package, closed-form unbiased inverse);
* LibRaw's wavelet denoising (dcraw's ``-n``, run through LibRaw's ``dcraw_emu``: Debian
  package ``libraw-bin``; rawpy's ``noise_thr`` crashes) at the best of a few thresholds,
  chosen on the first images of the set (generous to it: tuned on the test images);
* the app's sRGB default denoiser (Auto) on the noisy development.

Everything runs in float32 on the CPU. The DNGs are kept in ``--cache`` between runs.
``--write-card`` merges the rows into the model card's ``evaluation`` (an entry per set and
ISO, the baselines inside it, each with the command that measured it);
``--merge-json`` does that for the ``--json`` files of earlier runs without measuring again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

THRESHOLDS = (200, 400, 800, 1600, 3200, 6400, 12800)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--sets", default="Kodak24,CBSD68")
    ap.add_argument("--isos", default="800,3200,6400,12800")
    ap.add_argument("--model", default="redunet-raw-denoise")
    ap.add_argument("--card", default=None, help="a model card .json instead of --model")
    ap.add_argument("--srgb-model", default=None, help="default: the app's default denoiser")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--cache", default=str(ROOT / "runs" / "raw_testsets"))
    ap.add_argument("--skip", default="", help="rows to leave out: bm3d,libraw,srgb,true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--extra-quality", action="store_true", help="add the Auto row in 8 passes")
    ap.add_argument("--write-card", action="store_true", help="rows into the card's evaluation")
    ap.add_argument("--merge-json", default=None, help="earlier --json files into the card")
    a = ap.parse_args()
    if a.merge_json:
        rows = [r for f in a.merge_json.split(",") for r in json.loads(Path(f).read_text())]
        return write_card_rows(a.card or _card_of(a.model), rows)

    import torch

    from deconv_gui.models.bundled import spec_from_card
    from deconv_gui.models.catalog import default_registry
    from deconv_gui.training import raw_eval as re_
    from deconv_gui.training.data import list_images
    from deconv_gui.training.raw_testset import make_dng_set

    if a.threads:
        torch.set_num_threads(a.threads)
    reg = default_registry()
    spec = spec_from_card(a.card) if a.card else reg.get(a.model)
    srgb = reg.get(a.srgb_model) if a.srgb_model else reg.default_for("denoise")
    skip = {s for s in a.skip.split(",") if s}
    rows: list[dict] = []
    print("| set | ISO | method | mosaic PSNR / SSIM | developed PSNR / SSIM | s / photo |")
    print("|---|---|---|---|---|---|", flush=True)
    for set_name in a.sets.split(","):
        folder = Path(a.data) / "test" / set_name
        paths = list_images(folder)[: a.limit]
        if not paths:
            print(f"no photos in {folder}", file=sys.stderr)
            return 2
        for iso in (float(v) for v in a.isos.split(",")):
            t0 = time.perf_counter()
            pairs = make_dng_set(paths, iso, Path(a.cache) / set_name)
            made = time.perf_counter() - t0
            methods: list[tuple[str, object]] = [
                ("input (noisy)", re_.noisy_method),
                (f"{spec.id} (Auto)", re_.spec_method(spec)),
            ]
            if a.extra_quality:
                methods.append(
                    (f"{spec.id} (Auto, Extra quality)", re_.spec_method(spec, ensemble=True))
                )
            if "true" not in skip:
                methods.append(
                    (f"{spec.id} (told the noise)", re_.spec_method(spec, true_profile=True))
                )
            if "bm3d" not in skip:
                methods.append(("VST + BM3D (told the noise)", re_.vst_bm3d_method))
            if "libraw" not in skip and not re_.libraw_available():
                print("LibRaw's dcraw_emu is not installed: no LibRaw row", file=sys.stderr)
            elif "libraw" not in skip:
                probe = pairs[: min(6, len(pairs))]
                best = max(
                    THRESHOLDS,
                    key=lambda t: re_.evaluate_dng_set(re_.libraw_wavelet_method(t), probe).mean[
                        "srgb_psnr"
                    ],
                )
                methods.append(
                    (f"LibRaw wavelets (noise_thr {best})", re_.libraw_wavelet_method(best))
                )
            if srgb is not None and "srgb" not in skip:
                methods.append((f"{srgb.id} on the development (Auto)", re_.spec_method(srgb)))
            for label, method in methods:
                res = re_.evaluate_dng_set(method, pairs, name=label)
                m = res.mean
                raw = (
                    f"{m['raw_psnr']:.2f} / {m['raw_ssim']:.4f}"
                    if m["raw_psnr"] is not None
                    else "-"
                )
                print(
                    f"| {set_name} | {iso:.0f} | {label} | {raw} | "
                    f"{m['srgb_psnr']:.2f} / {m['srgb_ssim']:.4f} | {m['seconds']:.2f} |",
                    flush=True,
                )
                rows.append(
                    {"set": set_name, "iso": iso, "method": label, "images": len(pairs), **m}
                )
            print(f"<!-- {set_name} ISO {iso:.0f}: DNGs ready in {made:.0f} s -->", flush=True)
    command = "python benchmarks/raw_denoise_table.py " + " ".join(sys.argv[1:])
    for r in rows:
        r["command"] = command
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    if a.write_card:
        return write_card_rows(a.card or _card_of(a.model), rows)
    return 0


def _card_of(model_id: str) -> Path:
    return ROOT / "resources" / "models" / f"{model_id}.json"


def write_card_rows(card_path: str | Path, rows: list[dict]) -> int:
    """Merge table rows into the card's ``evaluation``: one entry per set and ISO in the
    card's columns (the model on Auto, scored on the mosaic, against the noisy file), with
    the developed scores and every other row of the table under ``baselines``; an entry of
    an earlier run for the same set and ISO is updated, not duplicated."""
    from deconv_gui.training.export import load_card, write_card

    card = load_card(card_path)
    if not card:
        print(f"error: no card {card_path}", file=sys.stderr)
        return 2
    r4 = lambda v: None if v is None else round(float(v), 4)  # noqa: E731
    entries = {
        (e.get("set"), e.get("degrade")): e
        for e in card.get("evaluation", [])
        if isinstance(e, dict)
    }
    for r in rows:
        key = (r["set"], f"raw ISO {r['iso']:.0f}")
        e = entries.setdefault(key, {"set": key[0], "degrade": key[1], "channel": "mosaic"})
        e["images"] = r["images"]
        scores = {k: r4(r.get(k)) for k in ("raw_psnr", "raw_ssim", "srgb_psnr", "srgb_ssim")}
        if r["method"].startswith("input"):
            e.update(input_psnr=scores["raw_psnr"], input_ssim=scores["raw_ssim"])
            e.update(developed_input_psnr=scores["srgb_psnr"])
        elif r["method"] == f"{card.get('id')} (Auto)":
            e.update(psnr=scores["raw_psnr"], ssim=scores["raw_ssim"], strength="auto")
            e.update(developed_psnr=scores["srgb_psnr"], developed_ssim=scores["srgb_ssim"])
            e["command"] = r.get("command", "")
        else:
            e.setdefault("baselines", {})[r["method"]] = {**scores, "command": r.get("command")}
    card["evaluation"] = list(entries.values())
    write_card(card, card_path)
    print(f"{len(rows)} rows merged into {len(entries)} entries of {card_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
