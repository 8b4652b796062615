"""The README's speed table: every bundled network against the baseline of its task on one
photo, in the reduced precision the app picks on the device and in float32, all in one run.

    python benchmarks/speed_table.py [--megapixels 12] [--repeat 3] [--threads 2]
        [--device cpu|cuda|mps] [--tasks denoise,jpeg,upscale,deblur]

The networks are the registry's bundled models of each task that are not retired, in the
order the app offers them (its default first). Each case, and its baseline:

* denoising: a 12 MP photo with Gaussian noise (sigma 25), against OpenCV's
  ``fastNlMeansDenoisingColored`` on the whole photo in one call (the speed target) and our
  tiled ``nlm-denoise``;
* JPEG artifacts: that photo saved as a JPEG at quality 30, against the default denoiser in
  the same precision (the JPEG remover's target: no slower per megapixel);
* upscaling x4 and x2: that photo bicubic-downscaled by 4 and by 2 (12 MP out), against
  Lanczos;
* deblurring: that photo with Gaussian blur (sigma 2) and noise 2, against Wiener and
  Richardson-Lucy given the kernel (strength = their defaults), as is the known-kernel
  network.

The classical methods run on the CPU whatever ``--device`` says; on a GPU the networks'
reduced precision is float16, so ``--device cuda`` gives each model's CUDA float32 and
float16 throughput. Prints a Markdown table of medians with the ratio to the baseline
measured in the same run; each case is also ``deconv-gui bench restore`` (see its
``--help``). The RAW denoiser has its own benchmark (``benchmarks/raw_speed.py``).
"""

from __future__ import annotations

import argparse
import sys

from deconv_gui.bench import RestoreTiming, clean_photo, time_opencv_nlm, time_restore
from deconv_gui.core.devices import cpu_bf16_is_fast, set_cpu_threads
from deconv_gui.models.catalog import default_registry
from deconv_gui.models.registry import preference, retired_reason

TASKS = ("denoise", "jpeg", "upscale", "deblur")


def networks(task: str, scale: int | None = None) -> list[str]:
    """The bundled, not retired models of `task` (and `scale`), the app's default first."""
    specs = [
        s
        for s in default_registry().by_task(task)
        if s.kind == "bundled" and retired_reason(s) is None and (scale is None or s.scale == scale)
    ]
    return [s.id for s in sorted(specs, key=preference)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megapixels", type=float, default=12.0, help="output size of every case")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="where the networks run")
    ap.add_argument("--tasks", default=",".join(TASKS), help=f"some of {', '.join(TASKS)}")
    args = ap.parse_args(argv)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        ap.error(f"unknown task(s) {', '.join(unknown)} (known: {', '.join(TASKS)})")
    set_cpu_threads(args.threads)
    print(
        f"device {args.device}; CPU bfloat16 fast here: {cpu_bf16_is_fast()}; "
        f"threads {args.threads}",
        file=sys.stderr,
    )
    clean = clean_photo(args.megapixels)
    rows: list[tuple[RestoreTiming, RestoreTiming]] = []

    def show(t: RestoreTiming) -> RestoreTiming:
        print(t.line(), file=sys.stderr, flush=True)
        return t

    def classic(model_id: str) -> RestoreTiming:
        return show(time_restore(model_id, clean, repeat=args.repeat))

    def network(
        model_id: str, baseline: RestoreTiming | dict[str, RestoreTiming], *, table: bool = True
    ) -> dict[str, RestoreTiming]:
        """`model_id` timed in reduced precision and in float32 (once where both are float32),
        each row against `baseline` (or its row of the same precision); by precision."""
        done: dict[str, RestoreTiming] = {}
        for reduced in (True, False):
            try:
                t = time_restore(
                    model_id,
                    clean,
                    device=args.device,
                    reduced_precision=reduced,
                    repeat=args.repeat,
                )
            except Exception as exc:  # noqa: BLE001 - a model that fails here is one line
                print(f"{model_id}: {exc}", file=sys.stderr)
                break
            done[t.precision] = show(t)
            base = baseline.get(t.precision) if isinstance(baseline, dict) else baseline
            if table and base is not None:
                rows.append((t, base))
            if t.precision == "float32":
                break  # no reduced precision: the second row would repeat the first
        return done

    nlm: RestoreTiming | dict[str, RestoreTiming] = {}
    if "denoise" in tasks:
        nlm = show(time_opencv_nlm(clean, repeat=args.repeat, threads=args.threads))
        rows.append((nlm, nlm))
        rows.append((classic("nlm-denoise"), nlm))
    default_denoiser: dict[str, RestoreTiming] = {}
    if "denoise" in tasks or "jpeg" in tasks:
        denoisers = networks("denoise")
        for i, model in enumerate(denoisers if "denoise" in tasks else denoisers[:1]):
            # the default (first) is also the JPEG rows' baseline, precision for precision
            timed = network(model, nlm, table="denoise" in tasks)
            if i == 0:
                default_denoiser = timed
    if "jpeg" in tasks:
        for model in networks("jpeg"):
            network(model, default_denoiser)
    if "upscale" in tasks:
        for scale in (4, 2):
            lanczos = classic(f"lanczos-x{scale}")
            rows.append((lanczos, lanczos))
            for model in networks("upscale", scale):
                network(model, lanczos)
    if "deblur" in tasks:
        wiener = classic("wiener-deblur")
        rows.append((wiener, wiener))
        rows.append((classic("rl-deblur"), wiener))
        for model in networks("deblur"):
            network(model, wiener)

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
