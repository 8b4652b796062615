"""Train a bundled network from a config and export ``<id>.safetensors`` + ``<id>.json``.

    python -m deconv_gui.training.train --config deconv_gui/training/configs/redunet_denoise.json \
        [--data ../shared/data] [--resume CKPT.pt|WEIGHTS.safetensors] [--minutes N] \
        [--threads N] [--out DIR] [--install] [--no-eval] [--reevaluate]

``--resume`` takes a checkpoint (``DIR/last.pt``: exact continuation, same schedule) or shipped
weights (``resources/models/<id>.safetensors``: a new session starting from those weights,
its history kept in the card). ``--install`` copies the exported model into
``resources/models/``. After training, the full test sets named in the config's ``eval``
block are measured and written into the card with the commands that reproduce them.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

from deconv_gui.training.export import (
    describe_loss,
    load_card,
    make_card,
    save_weights,
    write_card,
)
from deconv_gui.training.loop import Trainer

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def load_config(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.exists() and (CONFIG_DIR / p).exists():
        p = CONFIG_DIR / p
    if p.suffix == ".toml":
        import tomllib

        return tomllib.loads(p.read_text(encoding="utf-8"))
    return json.loads(p.read_text(encoding="utf-8"))


def run_evaluation(
    config: dict[str, Any], data_root: Path, card_path: Path, log: Any
) -> list[dict[str, Any]]:
    """Measure the exported model (through its card, as the app loads it) on the eval sets."""
    from deconv_gui.models.bundled import spec_from_card
    from deconv_gui.training.evaluate import blur_kernel_of, evaluate, wiener_baseline

    spec = spec_from_card(card_path)
    results = []
    for e in config.get("eval", []):
        folder = data_root / e["folder"]
        if not folder.exists():
            continue
        t0 = time.perf_counter()
        strength = e.get("strength")
        known_kernel = "kernel" in spec.params  # told the true kernel, as the classics are
        params = {"kernel": blur_kernel_of(e["degrade"])} if known_kernel else None
        r = evaluate(spec, folder, e["degrade"], strength=strength, params=params)
        m = r.mean
        if known_kernel:
            cmd = f"deconv-gui eval --model {spec.id} --degrade {e['degrade']} --true-kernel"
        else:
            cmd = f"python -m deconv_gui.training.evaluate --model resources/models/{spec.id}.json --degrade {e['degrade']}"
        if strength is not None:
            cmd += f" --strength {strength}"
        cmd += f" ../shared/data/{e['folder']}"
        entry = {
            "set": Path(e["folder"]).name,
            "degrade": e["degrade"],
            "strength": strength if strength is not None else ("auto" if spec.strength else None),
            "channel": r.channel,
            "images": len(r.images),
            "input_psnr": round(m["input_psnr"], 2),
            "input_ssim": round(m["input_ssim"], 4),
            "psnr": round(m["output_psnr"], 2),
            "ssim": round(m["output_ssim"], 4),
            "target_psnr": e.get("target"),
            **({"target": e["target_note"]} if e.get("target_note") else {}),
            "command": cmd,
        }
        if e.get("wiener"):
            w = evaluate(wiener_baseline(e["degrade"]), folder, e["degrade"])
            entry["wiener_true_kernel_psnr"] = round(w.mean["output_psnr"], 2)
            entry["wiener_true_kernel_ssim"] = round(w.mean["output_ssim"], 4)
            entry["beats_wiener_by_db"] = round(entry["psnr"] - entry["wiener_true_kernel_psnr"], 2)
            entry["wiener_command"] = (
                f"python -m deconv_gui.training.evaluate --model wiener --degrade {e['degrade']} ../shared/data/{e['folder']}"
            )
        print(
            f"eval {entry['set']} {entry['degrade']}: {entry['psnr']} dB / {entry['ssim']} "
            f"(input {entry['input_psnr']}) in {time.perf_counter() - t0:.0f}s",
            file=log,
            flush=True,
        )
        results.append(entry)
    return results


def gpu_name(device: torch.device) -> str | None:
    """The GPU a session trains on (None on the CPU)."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else None


def describe_machine(device: torch.device, gpu: str | None = None) -> str:
    """What trained the session, for its card: the GPU's name, or the CPU cores."""
    cores = f"{os.cpu_count()} CPU cores"
    gpu = gpu or gpu_name(device)
    return f"{gpu} (CUDA), {cores}" if gpu else cores


def reevaluate(cfg: dict[str, Any], data_root: Path, log: Any) -> int:
    """Rewrite the installed card's ``evaluation`` from a fresh measurement (same weights)."""
    from deconv_gui.paths import resource_path

    card_path = resource_path("models") / f"{cfg['id']}.json"
    card = load_card(card_path)
    if not card:
        print(f"error: no installed card {card_path}", file=sys.stderr)
        return 2
    card["evaluation"] = run_evaluation(cfg, data_root, card_path, log)
    write_card(card, card_path)
    print(f"rewrote the evaluation in {card_path}", file=log, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train a bundled network (CPU friendly).")
    ap.add_argument("--config", required=True)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--resume", default=None, help="checkpoint .pt or shipped .safetensors")
    ap.add_argument(
        "--init", default=None, help="copy matching tensors from other weights (e.g. x4 from x2)"
    )
    ap.add_argument("--minutes", type=float, default=None, help="time budget for this run")
    ap.add_argument("--steps", type=int, default=None, help="override the config's steps")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=None, help="run folder (default runs/<id>)")
    ap.add_argument("--install", action="store_true", help="copy the result into resources/models")
    ap.add_argument(
        "--bf16",
        action="store_true",
        help="train in bfloat16 under autocast (float32 weights; about 3x faster on CPUs "
        "with AMX or AVX512-BF16, and on recent GPUs)",
    )
    ap.add_argument(
        "--device", default="cpu", help="where the network trains: cpu or cuda (default cpu)"
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=0,
        help="background processes making the training batches (for a GPU, which one "
        "Python thread cannot keep busy; default 0: made in line, exactly resumable)",
    )
    ap.add_argument("--batch", type=int, default=None, help="override the config's batch size")
    ap.add_argument(
        "--folders",
        default=None,
        help="train on these of the config's data folders only (comma-separated; the "
        "session's record says so)",
    )
    ap.add_argument(
        "--val-every", type=int, default=None, help="override the config's validation interval"
    )
    ap.add_argument(
        "--machine", default=None, help="how the card describes the machine (default: measured)"
    )
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--lr", type=float, default=None, help="override the peak learning rate")
    ap.add_argument(
        "--mse-tail",
        type=float,
        default=None,
        help="train the last fraction of this session with MSE instead of Charbonnier "
        "(0-1; overrides the config's mse_tail; the session's record says so)",
    )
    ap.add_argument(
        "--reevaluate",
        action="store_true",
        help="no training: measure the installed model (resources/models/<id>.json) on the "
        "config's eval sets again and rewrite its card's evaluation",
    )
    a = ap.parse_args(argv)

    if a.threads:
        torch.set_num_threads(a.threads)
    cfg = load_config(a.config)
    # the card describes the model's config; this session's overrides (lr, batch, folders,
    # MSE tail, precision) are in its session record
    model_cfg = copy.deepcopy(cfg)
    if a.steps is not None:
        cfg["steps"] = a.steps
    if a.lr is not None:
        cfg.setdefault("optimizer", {})["lr"] = a.lr
    if a.batch is not None:
        cfg["batch"] = a.batch
    if a.mse_tail is not None:
        if not 0.0 <= a.mse_tail <= 1.0:
            print("error: --mse-tail must be between 0 and 1", file=sys.stderr)
            return 2
        cfg["mse_tail"] = a.mse_tail
    if a.folders is not None:
        folders = [f.strip() for f in a.folders.split(",") if f.strip()]
        unknown = sorted(set(folders) - set(model_cfg.get("data", {}).get("folders", [])))
        if unknown:
            print(
                f"error: {', '.join(unknown)} not among the config's data folders", file=sys.stderr
            )
            return 2
        cfg.setdefault("data", {})["folders"] = folders
    if a.val_every is not None:
        cfg["val_every"] = a.val_every
    device = torch.device(a.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            print("error: --device cuda, but PyTorch sees no CUDA device here", file=sys.stderr)
            return 2
        torch.backends.cudnn.benchmark = True  # fixed patch sizes: pick the fastest kernels
    if a.bf16:
        from deconv_gui.core.devices import cpu_bf16_is_fast

        cfg["precision"] = "bf16"
        if device.type == "cpu" and not cpu_bf16_is_fast():
            print(
                "note: bfloat16 is not fast on this CPU (no AMX or AVX512-BF16): "
                "float32 may train quicker here",
                file=sys.stderr,
            )
    out = Path(a.out or Path("runs") / cfg["id"])
    out.mkdir(parents=True, exist_ok=True)
    data_root = Path(a.data)
    log = sys.stdout

    if a.reevaluate:
        return reevaluate(cfg, data_root, log)

    trainer = Trainer(cfg, data_root=data_root, out_dir=out, device=a.device, workers=a.workers)
    resumed_from = None
    if a.resume:
        if a.resume.endswith(".pt"):
            trainer.load_checkpoint(a.resume)
            if a.steps is not None:
                trainer.total_steps = a.steps
        else:
            trainer.init_from_weights(a.resume)
        resumed_from = a.resume
    elif a.init:
        names = trainer.init_from_weights(a.init, partial=True)
        resumed_from = f"{len(names)} tensors of {Path(a.init).name}"
        new = len(trainer.model.state_dict()) - len(names)
        if new:
            resumed_from += f"; {new} new tensors (new residual blocks start as the identity)"
    t0 = time.perf_counter()
    pool = trainer.pool
    print(
        f"{cfg['id']}: {len(pool)} training images ({pool.megapixels:.1f} MP) loaded in "
        f"{time.perf_counter() - t0:.1f}s; threads={torch.get_num_threads()}",
        file=log,
        flush=True,
    )
    gen = trainer.run(max_minutes=a.minutes)
    last_print = 0.0
    try:
        while True:
            p = next(gen)
            now = time.perf_counter()
            if p.val or p.checkpoint or now - last_print > 30:
                last_print = now
                val = "  ".join(
                    f"{k}: {v['psnr']:.2f}/{v['ssim']:.4f}" for k, v in (p.val or {}).items()
                )
                print(
                    f"step {p.step}/{p.total_steps} loss {p.loss:.5f} lr {p.lr:.2e} "
                    f"{p.elapsed_s / 60:.1f} min {val} {p.message}",
                    file=log,
                    flush=True,
                )
    except StopIteration as stop:
        summary = stop.value
    except KeyboardInterrupt:
        trainer.save_checkpoint(out / "last.pt")
        print("interrupted; checkpoint saved", file=log)
        return 130

    gpu = gpu_name(device)
    session = {
        "started_from": resumed_from or "scratch",
        "command": "python -m deconv_gui.training.train "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": a.machine or describe_machine(device, gpu),
        "gpu": gpu,
        "steps": trainer.step,  # a checkpoint resume continues the same session
        "wall_minutes": round(trainer.elapsed / 60.0, 1),
        "threads": torch.get_num_threads(),
        "precision": trainer.precision,
        "lr": trainer.base_lr,
        "schedule_steps": trainer.total_steps,
        "data": list(cfg.get("data", {}).get("folders", [])),
        "degradation": dict(cfg.get("degradation", {})),  # this session's (configs change)
        "patch": trainer.patch,
        "batch": trainer.batch_size,
        "loss": describe_loss(cfg),
        "date": time.strftime("%Y-%m-%d"),
        "curve": trainer.curve,
    }
    sessions = [*trainer.history, session]
    weights = save_weights(trainer.model, out / f"{cfg['id']}.safetensors", fp16=True)
    card = make_card(model_cfg, trainer.model, sessions=sessions)
    prev = load_card(out / f"{cfg['id']}.json")
    if "comparisons" not in prev and a.resume and not a.resume.endswith(".pt"):
        # a new session on shipped weights: their card's comparisons stay in the record
        prev = load_card(Path(a.resume).with_suffix(".json"))
    card["comparisons"] = prev.get("comparisons", cfg.get("comparisons", []))
    card_path = write_card(card, out / f"{cfg['id']}.json")
    print(
        f"exported {weights} ({weights.stat().st_size / 1e6:.2f} MB) after {summary['step']} steps",
        file=log,
        flush=True,
    )
    if not a.no_eval:
        card["evaluation"] = run_evaluation(trainer.config, data_root, card_path, log)
        write_card(card, card_path)
    if a.install:
        from deconv_gui.paths import resource_path

        dest = resource_path("models")
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(weights, dest / weights.name)
        shutil.copy2(card_path, dest / card_path.name)
        print(f"installed into {dest}", file=log, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
