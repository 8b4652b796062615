"""``deconv-gui finetune``: the headless front end of the fine-tune job."""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from collections.abc import Sequence

from deconv_gui.errors import DeconvError
from deconv_gui.training.finetune.guard import WorseModelError
from deconv_gui.training.finetune.job import (
    FinetuneResult,
    check_trainable,
    default_checkpoint_dir,
    finetune_job,
)
from deconv_gui.training.finetune.save import save_finetuned
from deconv_gui.training.finetune.sources import check_pairs, make_data


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    s = int(round(seconds))
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def run_finetune_cli(
    base: str,
    mode: str,
    paths: Sequence[str],
    degrade: str | None,
    steps: int,
    name: str | None,
    device: str = "auto",
    json_out: bool = False,
    *,
    force: bool = False,
    lr: float | None = None,
    minutes: float | None = None,
    skip_mismatched: bool = False,
) -> int:
    """``deconv-gui finetune``: train ``base`` on the photos, save it as ``name``.

    ``mode``: "pairs" (``paths`` = [before_dir, after_dir]), "clean" (``paths`` = [dir],
    ``degrade`` a spec), "noisy" or "noisy_raw" (``paths`` = [dir]; the latter: RAW files,
    ``base`` the RAW denoiser; ``name`` None = the camera's name and ISO range). ``lr`` and
    ``minutes`` (a time box) go to `finetune_job`. Progress goes to stderr with
    ``json_out`` (stdout's last line is then a JSON object: id, name, base, mode, steps,
    val_psnr_before/after, val_ssim_before/after, metric, minutes), else to stdout.
    Re-running an interrupted command resumes it from its checkpoint. A tuned model that
    got worse on the held-out photos is not saved (unless ``force``): `WorseModelError`, its
    checkpoint removed, nothing written. Raises `DeconvError` (the CLI prints it and exits
    1); returns 0.
    """
    from deconv_gui.models.catalog import default_registry
    from deconv_gui.models.library import check_name

    if name is not None:
        name = check_name(name)  # before the training, not after it (minutes later)
    reg = default_registry()
    spec = reg.get(base)
    check_trainable(spec)
    data = make_data(mode, list(paths), degrade, skip_mismatched=skip_mismatched)
    if data.mode == "pairs":
        rep = check_pairs(data.folders[0], data.folders[1], scale=spec.scale)
        if not rep.ok and not skip_mismatched:
            raise DeconvError(
                "the photo pairs do not match up: " + rep.summary() + " (--skip-mismatched "
                "trains on the pairs that do, as the app's 'Skip the photos that do not match')"
            )
        if not rep.ok:
            print(f"warning: left out: {rep.summary()}", file=sys.stderr)
    out = sys.stderr if json_out else sys.stdout
    ckdir = default_checkpoint_dir(spec.id, data, steps)
    gen = finetune_job(spec, data, steps=steps, device=device, checkpoint_dir=ckdir, lr=lr,
                       minutes=minutes)  # fmt: skip
    last_print = 0.0
    try:
        while True:  # (Ctrl+C: the checkpoint stays, and the same command resumes it)
            try:
                p = next(gen)
            except StopIteration as stop:
                result: FinetuneResult = stop.value
                break
            now = time.monotonic()
            if p.phase == "done":
                continue  # the verdict is printed below
            if p.phase != "training" or p.val is not None or now - last_print >= 2.0:
                last_print = now
                if p.phase == "training":
                    line = (f"step {p.step}/{p.total}  loss {p.loss:.5f}  lr {p.lr:.2e}  "
                            f"eta {_fmt_eta(p.eta_s)}")  # fmt: skip
                else:
                    line = p.message
                if p.val is not None:
                    ss = p.val.get("ssim")
                    line += f"  val {p.val['psnr']:.2f} dB" + (f" / {ss:.4f}" if ss else "")
                print(line, file=out, flush=True)
    except KeyboardInterrupt:  # (the job is closed in `finally` below)
        print(
            "stopped: run the same command again to go on from where the training was "
            "saved (the same base model, photos and --steps)",
            file=sys.stderr,
        )
        raise
    finally:
        gen.close()
    if result.refused and not force:
        shutil.rmtree(ckdir, ignore_errors=True)
        raise WorseModelError(result.message)
    name = name or result.card_extra.get("display_name") or f"{spec.name} (fine-tuned)"
    saved = save_finetuned(result, name, force=force)
    shutil.rmtree(ckdir, ignore_errors=True)
    b, a = result.before, result.after
    prof = result.card_extra.get("noise_profile")
    if prof:
        frames = result.card_extra.get("frames")
        print(f"camera: {result.card_extra.get('display_name')}; noise (variance = shot x "
              "brightness + read; row: banding)"
              + (f", measured with {frames} dark/flat frame(s)" if frames else "") + ":",
              file=out)  # fmt: skip
        for iso, p in prof["per_iso"].items():
            print(f"  ISO {iso}: shot {p['shot']:.3g}, read {p['read']:.3g}, row "
                  f"{p.get('row', 0.0):.3g}", file=out)  # fmt: skip
    print(f"saved '{saved.name}' as {saved.id}: held-out {b.get('metric')} "
          f"{b['psnr']:.2f} -> {a['psnr']:.2f} dB", file=out, flush=True)  # fmt: skip
    if result.left_out:  # named in the closing lines too, as README says
        from deconv_gui.training.finetune.sources import left_out_text

        print(left_out_text(result.left_out), file=out, flush=True)
    if json_out:
        print(json.dumps({
            "id": saved.id, "name": saved.name, "base": spec.id, "mode": data.mode,
            "steps": result.steps, "train_photos": result.train_count,
            "val_photos": result.val_count, "metric": b.get("metric"),
            "val_psnr_before": b.get("psnr"), "val_psnr_after": a.get("psnr"),
            "val_ssim_before": b.get("ssim"), "val_ssim_after": a.get("ssim"),
            "refused": result.refused, "forced": result.refused and force,
            "minutes": round(result.elapsed_s / 60.0, 2), "device": result.device,
            "camera": result.card_extra.get("camera"),
            "iso_range": result.card_extra.get("iso_range"),
            "frames": result.card_extra.get("frames", 0), "left_out": result.left_out,
        }), flush=True)  # fmt: skip
    return 0
