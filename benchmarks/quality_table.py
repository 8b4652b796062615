"""The README's quality table: every bundled network and its classical baseline, measured in
one run with the same code as ``deconv-gui eval`` (conventions: ../shared/data/README.md).

    python benchmarks/quality_table.py [--data ../shared/data] [--threads 2] [--only ID,...]
    python benchmarks/quality_table.py --extra-quality [--only ID,...]

Prints a Markdown table; each row names the `deconv-gui eval` command that reproduces it.
``--extra-quality``: the networks' rows only, each measured twice in the same run, in one
pass and with "Extra quality" (eight flipped passes averaged, `core.runner`), with the gain
and the ratio of the two runs' times.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

from deconv_gui.cli import main as cli_main

# (model, degradation, test set, extra eval args, target in dB or None); targets are the
# second-generation ones (published anchors: DnCNN for denoising, CARN for upscaling)
DENOISE = [
    ("noise=25", ["--strength", "25"], 31.24),
    ("noise=25", [], None),  # automatic noise estimate
    ("noise=1", [], None),  # a nearly clean photo, automatic
    ("noise=50", ["--strength", "50"], 27.95),
]
Row = tuple[str, str, str, list[str], float | None]
DEBLUR = ["blur=gaussian:2,noise=2", "blur=disk:3,noise=2", "blur=motion:11:30,noise=2"]
TUNED = Path(__file__).with_name("classical_deblur_tuned.json")


def rows() -> list[Row]:
    out: list[Row] = []
    for model in ("redunet-denoise-camera", "redunet-denoise-fast", "redunet-denoise"):
        out += [(model, d, "CBSD68", extra, t) for d, extra, t in DENOISE]
    out += [
        ("nlm-denoise", "noise=25", "CBSD68", ["--strength", "25"], None),
        ("nlm-denoise", "noise=50", "CBSD68", ["--strength", "50"], None),
        ("fsrcnn-x2", "downscale=2", "Set5", [], 37.76),
        ("fsrcnn-x2", "downscale=2", "BSD100", [], 32.09),
        ("fsrcnn-x4", "downscale=4", "Set5", [], 32.13),
        ("fsrcnn-x4", "downscale=4", "BSD100", [], 27.58),
        ("lanczos-x4", "downscale=4", "Set5", [], None),
        ("fsrcnn-x4-real", "downscale=4", "Set5", [], None),
        ("fsrcnn-x4-real", "downscale=4", "BSD100", [], None),
        ("fsrcnn-x4", "downscale=4,jpeg=30", "LIVE1", [], None),
        ("fsrcnn-x4-real", "downscale=4,jpeg=30", "LIVE1", [], None),
        ("lanczos-x4", "downscale=4,jpeg=30", "LIVE1", [], None),
    ]
    # JPEG artifacts on LIVE1 (colour, 4:2:0) against QGAC's published numbers
    qgac = {10: 27.62, 20: 29.88, 30: 31.17, 40: 32.05}
    out += [
        ("redunet-jpeg", f"jpeg={q}", "LIVE1", ["--strength", str(q)], t) for q, t in qgac.items()
    ]
    # the deblur networks against Wiener and Richardson-Lucy told the true kernel, each with
    # its setting tuned on training photos (benchmarks/tune_classical_deblur.py)
    tuned = json.loads(TUNED.read_text(encoding="utf-8"))["rows"] if TUNED.exists() else {}
    for d in DEBLUR:
        classics = tuned.get(d, {})
        best = max((c.get("cbsd68_psnr", 0.0) for c in classics.values()), default=0.0)
        out.append(("redunet-deblur", d, "CBSD68", [], None))
        out.append(
            ("redunet-deblur-kernel", d, "CBSD68", ["--true-kernel"], round(best + 1, 2) or None)
        )
        for model, choice in classics.items():
            strength = f"{choice['strength']:g}"
            out.append((model, d, "CBSD68", ["--true-kernel", "--strength", strength], None))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated model ids")
    ap.add_argument(
        "--extra-quality", action="store_true", help="one pass against eight, per network row"
    )
    args = ap.parse_args()
    test = Path(args.data) / "test"
    if not test.is_dir():
        print(f"test sets not found at {test}", file=sys.stderr)
        return 1
    only = {m for m in args.only.split(",") if m}
    from deconv_gui.models.catalog import default_registry

    specs = {s.id: s for s in default_registry()}
    known = set(specs)
    if args.extra_quality:
        nets = {i for i, s in specs.items() if s.card}
        return extra_quality_table(args, test, [r for r in rows() if r[0] in nets], only)
    print(
        "| model | degradation | set | input PSNR / SSIM | output PSNR / SSIM | target | command |"
    )
    print("|---|---|---|---|---|---|---|")
    for model, deg, folder, extra, target in rows():
        if (only and model not in only) or model not in known:
            continue
        argv = ["eval", str(test / folder), "--model", model, "--degrade", deg, "--json"]
        argv += ["--threads", str(args.threads), *extra]
        buf = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(buf):
            rc = cli_main(argv)
        if rc != 0:
            print(f"| {model} | {deg} | {folder} | failed (exit {rc}) | | | |")
            continue
        r = json.loads(buf.getvalue())
        m = r["mean"]
        chan = r["channel"]
        cmd = (
            f"`deconv-gui eval --model {model} --degrade {deg} {' '.join(extra)} .../test/{folder}`"
        )
        tgt = f">= {target}" if target else ""
        if target and m["output_psnr"] < target:
            tgt += " (not met)"
        print(
            f"| {model} | {deg} | {folder} ({chan}) | {m['input_psnr']:.2f} / {m['input_ssim']:.4f}"
            f" | **{m['output_psnr']:.2f}** / {m['output_ssim']:.4f} | {tgt} | {cmd.replace('  ', ' ')} |",
            flush=True,
        )
        print(f"  ({model} {deg} {folder}: {time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    return 0


def _eval(argv: list[str]) -> tuple[dict | None, float]:
    buf = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(buf):
        rc = cli_main(argv)
    return (json.loads(buf.getvalue()) if rc == 0 else None), time.perf_counter() - t0


def extra_quality_table(args: argparse.Namespace, test: Path, todo: list[Row], only: set) -> int:
    print("| model | degradation | set | one pass | **Extra quality** | gain | target | time |")
    print("|---|---|---|---|---|---|---|---|")
    for model, deg, folder, extra, target in todo:
        if only and model not in only:
            continue
        argv = ["eval", str(test / folder), "--model", model, "--degrade", deg, "--json"]
        argv += ["--threads", str(args.threads), *extra]
        one, t1 = _eval(argv)
        eight, t8 = _eval([*argv, "--extra-quality"])
        if one is None or eight is None:
            print(f"| {model} | {deg} | {folder} | failed | | | | |")
            continue
        a, b = one["mean"], eight["mean"]
        tgt = f">= {target}" if target else ""
        if target and b["output_psnr"] < target:
            tgt += " (not met)"
        print(
            f"| {model} | {deg} {' '.join(extra)} | {folder} ({one['channel']}) | "
            f"{a['output_psnr']:.2f} / {a['output_ssim']:.4f} | "
            f"**{b['output_psnr']:.2f}** / {b['output_ssim']:.4f} | "
            f"{b['output_psnr'] - a['output_psnr']:+.2f} | {tgt} | x{t8 / t1:.1f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
