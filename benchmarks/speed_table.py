"""The README's speed table: bundled networks against their classical baselines on one photo,
in float32 and in the reduced precision the app picks on this machine, all in one run.

    python benchmarks/speed_table.py [--megapixels 12] [--repeat 3] [--threads 2]

Denoising: a 12 MP photo with Gaussian noise (sigma 25), each denoiser against OpenCV's
``fastNlMeansDenoisingColored`` on the whole photo in one call (the speed target) and our
tiled ``nlm-denoise``. Upscaling x4: that photo bicubic-downscaled by 4 (0.75 MP in, 12 MP
out), against Lanczos. Deblurring: that photo with Gaussian blur (sigma 2) and noise 2,
against Wiener and Richardson-Lucy given the kernel (strength = their defaults). Prints a
Markdown table of medians with the ratio to the baseline measured in the same run; each case
is also available as ``deconv-gui bench restore`` (see its ``--help``).
"""

from __future__ import annotations

import argparse
import sys

from deconv_gui.bench import RestoreTiming, clean_photo, time_opencv_nlm, time_restore
from deconv_gui.core.devices import cpu_bf16_is_fast, set_cpu_threads


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megapixels", type=float, default=12.0, help="denoising input size")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    set_cpu_threads(args.threads)
    print(f"CPU bfloat16 fast here: {cpu_bf16_is_fast()}; threads {args.threads}", file=sys.stderr)

    def show(t: RestoreTiming) -> RestoreTiming:
        print(t.line(), file=sys.stderr, flush=True)
        return t

    clean = clean_photo(args.megapixels)
    base = show(time_opencv_nlm(clean, repeat=args.repeat, threads=args.threads))
    rows: list[tuple[RestoreTiming, RestoreTiming]] = [(base, base)]
    rows.append((show(time_restore("nlm-denoise", clean, repeat=args.repeat)), base))
    for model in ("redunet-denoise", "redunet-denoise-fast"):
        for reduced in (True, False):
            try:
                t = time_restore(
                    model, clean, device=args.device, reduced_precision=reduced, repeat=args.repeat
                )
            except Exception as exc:  # noqa: BLE001 - a model missing here is one table row
                print(f"{model}: {exc}", file=sys.stderr)
                break
            rows.append((show(t), base))
            if t.precision == "float32":
                break  # no reduced precision here: the second row would repeat the first

    # x4: the same photo downscaled by 4 is the input (0.75 MP for 12 MP), so the result has
    # the denoised photo's size

    lanczos = show(time_restore("lanczos-x4", clean, repeat=args.repeat))
    rows.append((lanczos, lanczos))
    for reduced in (True, False):
        t = show(
            time_restore(
                "fsrcnn-x4", clean, device=args.device, reduced_precision=reduced,
                repeat=args.repeat,
            )
        )  # fmt: skip
        rows.append((t, lanczos))
        if t.precision == "float32":
            break

    for model in ("fsrcnn-x4-real",):  # the same network as fsrcnn-x4, other weights
        t = show(time_restore(model, clean, device=args.device, repeat=args.repeat))
        rows.append((t, lanczos))

    # deblur: the photo blurred (Gaussian sigma 2) with noise 2; the classics are given the
    # kernel, as is the known-kernel network
    wiener = show(time_restore("wiener-deblur", clean, repeat=args.repeat))
    rows.append((wiener, wiener))
    rows.append((show(time_restore("rl-deblur", clean, repeat=args.repeat)), wiener))
    for model in ("redunet-deblur", "redunet-deblur-kernel"):
        try:
            t = time_restore(model, clean, device=args.device, repeat=args.repeat)
        except Exception as exc:  # noqa: BLE001 - a model missing here is one table row
            print(f"{model}: {exc}", file=sys.stderr)
            continue
        rows.append((show(t), wiener))

    print(
        "| method | precision | input | median time | output MP/s | PSNR vs clean "
        "| speed-up (baseline time / this time) |"
    )
    print("|---|---|---|---|---|---|---|")
    for t, b in rows:
        w, h = t.input_size
        ratio = "baseline" if t is b else f"x{b.seconds / t.seconds:.2f} ({b.label})"
        print(
            f"| {t.label} | {t.precision or '-'} | {w}x{h} | {t.seconds:.2f} s | "
            f"{t.output_megapixels / t.seconds:.2f} | {t.psnr:.2f} dB | {ratio} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
