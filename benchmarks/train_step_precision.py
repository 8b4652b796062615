"""Training speed in float32 and in bfloat16 (``train.py --bf16``), side by side in one run.

    python benchmarks/train_step_precision.py [--configs redunet_denoise_camera,fsrcnn_x4]
        [--threads 1] [--steps 8] [--repeat 3] [--data ../shared/data]

For each training config (``deconv_gui/training/configs/NAME.json``) a `Trainer` is built
twice, once per precision, from the same seed, and timed over ``--steps`` real training
steps (patches drawn from the training images, degraded, forward, backward, optimiser) after
two warm-up steps. Prints the median milliseconds per step of ``--repeat`` rounds (the rounds
alternate the precisions, so a busy machine slows both alike) and the float32 / bfloat16
ratio. bfloat16 pays where the CPU has AMX or AVX512-BF16 (``lscpu``: ``amx_bf16``,
``avx512_bf16``); elsewhere it may be slower than float32.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from deconv_gui.training.loop import Trainer

CONFIGS = Path(__file__).resolve().parents[1] / "deconv_gui" / "training" / "configs"


def time_steps(trainer: Trainer, steps: int) -> float:
    """Milliseconds per training step, after two warm-up steps."""
    for _ in range(2):
        trainer.train_step()
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    return (time.perf_counter() - t0) / steps * 1000.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="redunet_denoise_camera,fsrcnn_x4")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    a = ap.parse_args(argv)
    if not Path(a.data, "train").is_dir():
        print(f"error: no training images in {a.data}/train (see --data)", file=sys.stderr)
        return 1
    torch.set_num_threads(a.threads)
    print(f"threads={a.threads}, {a.steps} steps per round, median of {a.repeat} rounds\n")
    print("| config | batch x patch | float32 ms/step | bfloat16 ms/step | float32 / bfloat16 |")
    print("|---|---|---|---|---|")
    for name in a.configs.split(","):
        cfg = json.loads((CONFIGS / f"{name}.json").read_text())
        cfg["val"] = []
        trainers = {p: Trainer({**cfg, "precision": p}, data_root=a.data) for p in ("fp32", "bf16")}
        times: dict[str, list[float]] = {p: [] for p in trainers}
        for _ in range(a.repeat):
            for p, trainer in trainers.items():
                times[p].append(time_steps(trainer, a.steps))
        fp32, bf16 = (statistics.median(times[p]) for p in ("fp32", "bf16"))
        shape = f"{cfg.get('batch', 16)} x {cfg.get('patch', 96)}"
        print(f"| {name} | {shape} | {fp32:.0f} | {bf16:.0f} | {fp32 / bf16:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
