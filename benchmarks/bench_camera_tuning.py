"""Learn your own camera: the RAW denoiser tuned on a synthetic camera's noisy DNGs alone.

    nice -n 10 python benchmarks/bench_camera_tuning.py [--train 40] [--test 8]
        [--isos 1600,3200,6400] [--minutes 12] [--threads 1] [--out runs/camera_tuning.txt]

The camera (`training.synthetic_camera.SyntheticCamera`) is unlike the one the bundled RAW
denoiser learnt: 2.7x the shot noise at the same ISO, 3x the read noise, and row noise.
Photos the denoiser never saw (the test sets; it was trained on train/BSD200 + T91) are
unprocessed and written as 14-bit DNGs of that camera: ``--train`` photos of LIVE1 and
McMaster, one ISO each, cycling through ``--isos`` (the user's folder), and ``--test``
Kodak24 photos at every ISO (scoring only). Rows, PSNR on the mosaic (normalised sensor
units, the four planes, against the clean DNG), mean over the test files:

* the noisy input;
* the bundled RAW denoiser, Auto (noise measured in each file, as the app does);
* the bundled RAW denoiser given the camera profile fitted from the user's files (the
  profile alone, no training);
* after self-supervised tuning on the noisy files only (``finetune_job``, mode
  ``noisy_raw``: Recorrupted-to-Recorrupted on the sensor planes with the fitted profile,
  row noise included, ``--minutes`` of training);
* after supervised fine-tuning on the same files with their clean versions (same model,
  patches, batch, learning rate and time; Charbonnier loss against the clean planes; all
  the files, while the self-supervised run holds 15 % of them out for its guard);
* the guard: a self-supervised run with a far too high learning rate must be refused.

Also: the fitted profile against the camera's true one per ISO, and each tune's wall time.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    import numpy as np
    import torch

    from deconv_gui.core.raw_noise import NoiseProfile


def default_data() -> Path:
    """``../shared/data`` beside the repository (or beside its parent), else the former."""
    return next(
        (d for d in (ROOT.parent / "shared" / "data", ROOT.parents[1] / "shared" / "data")
         if d.is_dir()), ROOT.parent / "shared" / "data",
    )  # fmt: skip


def planes(path: Path) -> tuple[np.ndarray, float]:
    """A DNG's packed planes (normalised, unclipped) and its ISO."""
    from deconv_gui.core.raw import open_raw

    raw = open_raw(path)
    return raw.packed(clip=False), float(raw.metadata.iso or 0)


def crops(rng: np.random.Generator, pairs: Sequence[tuple[Any, ...]], batch: int,
          patch: int) -> tuple[list[int], np.ndarray, np.ndarray]:  # fmt: skip
    """(pair indices, noisy crops, clean crops): ``batch`` random ``patch``-sided crops of
    (noisy, clean, ...) pairs, each at one place in both."""
    import numpy as np

    idx, xs, ys = [], [], []
    for i in rng.integers(0, len(pairs), batch):
        n, c = pairs[i][0], pairs[i][1]
        y = int(rng.integers(0, n.shape[0] - patch + 1))
        x = int(rng.integers(0, n.shape[1] - patch + 1))
        idx.append(int(i))
        xs.append(n[y : y + patch, x : x + patch])
        ys.append(c[y : y + patch, x : x + patch])
    return idx, np.stack(xs), np.stack(ys)


def supervised_loss(model: torch.nn.Module, noisy: np.ndarray, clean: np.ndarray,
                    profiles: Sequence[NoiseProfile]) -> torch.Tensor:  # fmt: skip
    """Charbonnier loss of the RAW denoiser on (B, h, w, 4) crops, each told its profile."""
    import numpy as np
    import torch

    from deconv_gui.core.raw_noise import RAW_MAP_SCALE

    maps = np.stack([np.sqrt(np.maximum(p.variance(x), 1e-12)) * RAW_MAP_SCALE
                     for x, p in zip(noisy, profiles, strict=True)])  # fmt: skip
    t = [torch.from_numpy(v.astype(np.float32)).permute(0, 3, 1, 2) for v in (noisy, clean, maps)]
    return torch.sqrt((model(t[0], t[2]) - t[1]) ** 2 + 1e-6).mean()


def time_boxed_tune(model: torch.nn.Module, lr: float, minutes: float,
                    loss_of_step: Callable[[], torch.Tensor]) -> tuple[int, float]:  # fmt: skip
    """Train ``model`` in place for ``minutes`` of its own steps' time with AdamW, the app's
    schedule (5 % warm-up, cosine down to 10 %) and gradients clipped at 0.5; ``loss_of_step``
    draws a batch and returns its loss. Returns (steps, seconds)."""
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99))
    budget = minutes * 60.0
    elapsed, step = 0.0, 0
    while elapsed < budget:
        ts = time.perf_counter()
        frac = elapsed / budget
        now = lr * (0.05 + 0.95 * min(1.0, frac / 0.05) if frac < 0.05 else
                    0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (frac - 0.05) / 0.95)))  # fmt: skip
        for g in opt.param_groups:
            g["lr"] = now
        loss = loss_of_step()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        step += 1
        elapsed += time.perf_counter() - ts
    return step, elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("DECONV_GUI_DATA", str(default_data())))
    ap.add_argument("--train", type=int, default=40)
    ap.add_argument("--test", type=int, default=8)
    ap.add_argument("--isos", default="1600,3200,6400")
    ap.add_argument("--minutes", type=float, default=12.0)
    ap.add_argument("--guard-steps", type=int, default=60)
    ap.add_argument("--guard-lr", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--objective", default=None,
                    help="self-supervised objective (default: the app's, recorrupted)")  # fmt: skip
    ap.add_argument("--row-factor", type=float, default=None,
                    help="the camera's row noise, std / read noise std (default 0.3)")  # fmt: skip
    ap.add_argument("--read-factor", type=float, default=None,
                    help="the camera's read noise, std / Brooks et al.'s (default 3)")  # fmt: skip
    ap.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                    help="the self-supervised tuning's (auto: the app's choice, bfloat16 on "
                    "CPUs where it is fast); scoring is always float32")  # fmt: skip
    ap.add_argument("--cache", default=str(ROOT / "runs" / "camera_tuning"))
    ap.add_argument("--out", default=str(ROOT / "runs" / "camera_tuning.txt"))
    a = ap.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(a.threads)
    from deconv_gui.core.raw_noise import NoiseProfile, estimate_profile
    from deconv_gui.models.catalog import default_registry
    from deconv_gui.models.registry import LoadOptions
    from deconv_gui.training.data import list_images
    from deconv_gui.training.finetune import FinetuneData, finetune_job
    from deconv_gui.training.finetune import job as finetune_module

    if a.precision != "auto":
        finetune_module._precision = lambda _device: a.precision  # type: ignore[assignment]
    from deconv_gui.training.raw_eval import module_raw_runner, planes_psnr
    from deconv_gui.training.synthetic_camera import SyntheticCamera, write_shots

    out_lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        out_lines.append(line)
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text("\n".join(out_lines) + "\n")

    data = Path(a.data) / "test"
    isos = [float(i) for i in a.isos.split(",")]
    changes = {k: v for k, v in (("row_factor", a.row_factor), ("read_factor", a.read_factor))
               if v is not None}  # fmt: skip
    cam = SyntheticCamera(**changes)
    train_photos = (list_images(data / "LIVE1") + list_images(data / "McMaster"))[: a.train]
    test_photos = list_images(data / "Kodak24")[: a.test]
    if not train_photos or not test_photos:
        raise SystemExit(f"no test photos under {data} (set --data or DECONV_GUI_DATA)")
    cache = Path(a.cache)
    t0 = time.perf_counter()
    train = write_shots(cam, train_photos, isos, cache / "user", seed=1, one_iso_each=True)
    test = write_shots(cam, test_photos, isos, cache / "test", seed=2)
    say(f"# Learn your own camera: {cam.make} {cam.model} (synthetic)")
    extra = "".join(f" --{k.replace('_', '-')} {v:g}" for k, v in changes.items())
    extra += f" --objective {a.objective}" if a.objective else ""
    extra += f" --precision {a.precision}" if a.precision != "auto" else ""
    say(f"command: nice -n 10 python benchmarks/bench_camera_tuning.py --train {a.train} "
        f"--test {a.test} --isos {a.isos} --minutes {a.minutes:g} --threads {a.threads}{extra}")  # fmt: skip
    say(f"camera: {cam.electrons_at_white:.0f} e- at white (ISO 100), read noise "
        f"{cam.read_factor:g}x Brooks et al.'s, row noise {cam.row_factor:g}x the read noise")  # fmt: skip
    say(f"user's files: {len(train)} noisy DNGs (LIVE1 + McMaster, one ISO each of {a.isos}); "
        f"test: {len(test)} DNGs (Kodak24 x {len(isos)} ISOs); written in "
        f"{time.perf_counter() - t0:.0f} s")  # fmt: skip

    tests = [(planes(s.noisy), planes(s.clean)[0]) for s in test]

    def score(module: torch.nn.Module, profile_of) -> float:  # noqa: ANN001
        run = module_raw_runner(module.eval())
        vals = []
        for (noisy, iso), clean in tests:
            den = np.clip(run(noisy, profile_of(noisy, iso)), 0, 1)
            vals.append(planes_psnr(den, np.clip(clean, 0, 1)))
        return float(np.mean(vals))

    reg = default_registry()
    spec = reg.get("redunet-raw-denoise")
    base = spec.build(LoadOptions(device="cpu", allow_fp16=False)).module.float().eval()
    auto = lambda noisy, iso: estimate_profile(noisy)  # noqa: E731
    inputs = [planes_psnr(np.clip(n, 0, 1), np.clip(c, 0, 1)) for (n, _), c in tests]
    say()
    say("| row | PSNR on the mosaic (dB) | tune wall time |")
    say("|---|---|---|")
    say(f"| noisy input | {np.mean(inputs):.2f} | |")
    say(f"| bundled RAW denoiser, Auto (noise measured per file) | {score(base, auto):.2f} | |")

    def tune(lr: float | None, steps: int, minutes: float | None):  # noqa: ANN202
        gen = finetune_job(spec, FinetuneData.noisy_raw(cache / "user" / "noisy"), steps=steps,
                           device="cpu", lr=lr, minutes=minutes, seed=0,
                           objective=a.objective)  # fmt: skip
        ts = time.perf_counter()
        last = 0.0
        while True:
            try:
                p = next(gen)
            except StopIteration as stop:
                return stop.value, time.perf_counter() - ts
            if p.val is not None and time.perf_counter() - last > 60:
                last = time.perf_counter()
                print(f"  step {p.step} held-out {p.val['psnr']:.3f} dB "
                      f"({p.elapsed_s / 60:.1f} min)", flush=True)  # fmt: skip

    res, t_self = tune(None, 100_000, a.minutes)
    fitted = res.card_extra["noise_profile"]
    from deconv_gui.core.camera_noise import CameraNoise

    camera = CameraNoise.from_json(fitted)
    by_cam = lambda noisy, iso: camera.profile(iso) or estimate_profile(noisy)  # noqa: E731
    say(f"| bundled RAW denoiser, the camera profile fitted from the user's files | "
        f"{score(base, by_cam):.2f} | |")  # fmt: skip
    say(f"| self-supervised tuning (noisy files only, {res.settings['precision']}, "
        f"{res.steps} steps) | "
        f"{score(res.module, by_cam):.2f} | {t_self / 60:.1f} min |")  # fmt: skip

    # supervised: the same files with their clean versions, same settings and time
    st = res.settings
    pairs = []
    for s in train:
        (n, iso), c = planes(s.noisy), planes(s.clean)[0]
        prof = camera.profile(iso) or estimate_profile(n)
        pairs.append((n, c, prof))
    model = copy.deepcopy(base).train()
    rng = np.random.default_rng(0)

    def step_loss() -> torch.Tensor:
        idx, noisy, clean = crops(rng, pairs, int(st["batch"]), int(st["patch"]))
        return supervised_loss(model, noisy, clean, [pairs[i][2] for i in idx])

    step, elapsed = time_boxed_tune(model, st["lr"], a.minutes, step_loss)
    say(f"| supervised fine-tuning (the same files + their clean versions, {step} steps) | "
        f"{score(model, by_cam):.2f} | {elapsed / 60:.1f} min |")  # fmt: skip
    say()
    v = res.verdict
    say(f"self-supervised held-out score (the guard's measure, {res.val_count} held-out "
        f"files): {v.before:.3f} -> {v.after:.3f} dB; verdict: {v.message}")  # fmt: skip

    bad, t_bad = tune(a.guard_lr, a.guard_steps, None)
    mosaic = score(bad.module, by_cam)
    say(f"guard: lr {a.guard_lr:g}, {bad.steps} steps ({t_bad / 60:.1f} min): held-out score "
        f"{bad.verdict.before:.3f} -> {bad.verdict.after:.3f} dB, true PSNR {mosaic:.2f} dB; "
        f"refused: {bad.verdict.refused}; {bad.verdict.message}")  # fmt: skip
    say()
    say("noise profile, fitted from the user's files vs the camera's true one (variances):")
    for iso in isos:
        true, fit = cam.profile(iso), camera.profile(iso)
        assert isinstance(fit, NoiseProfile)
        say(f"  ISO {iso:g}: shot {fit.shot:.3g} (true {true.shot:.3g}), read {fit.read:.3g} "
            f"(true {true.read:.3g}), row {fit.row:.3g} (true {cam.row_std(iso) ** 2:.3g})")  # fmt: skip
    per_file = [estimate_profile(planes(s.noisy)[0]).shot / cam.profile(s.iso).shot
                for s in train]  # fmt: skip
    say(f"  per-file estimate (Auto) shot / true: median {np.median(per_file):.2f}, range "
        f"{min(per_file):.2f}-{max(per_file):.2f}")  # fmt: skip
    say(f"total {(time.perf_counter() - t0) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
