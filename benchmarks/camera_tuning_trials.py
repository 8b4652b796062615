"""Trials behind the camera tuning's choices: one recorrupted (or supervised) fine-tune of
the RAW denoiser on `bench_camera_tuning.py`'s synthetic camera, with the noise profile and
the recorruption chosen by hand, scored on its test files.

    nice -n 10 python benchmarks/camera_tuning_trials.py [--profile fitted|true]
        [--row R] [--alpha A] [--minutes 6] [--mode r2r|sup] [--tag NAME]

``--profile``: the profile fitted from the user's files (`core.camera_noise`) or the
camera's true one, for the recorruption and the network's noise map; ``--row``: the row
noise added to the recorruption (0: none, -1: the camera's true banding, -2: the fitted
one). All 40 user files are trained on (nothing held out), with the app's batch, patch and
learning-rate schedule. Prints one JSON line (also appended to
``runs/camera_tuning_trials.jsonl``): the base model's score with that profile, the tuned
one's, and the steps. The DNG files are `bench_camera_tuning.py`'s (same cache, same
recipe: reused when present).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_camera_tuning import (  # noqa: E402
    crops,
    default_data,
    planes,
    supervised_loss,
    time_boxed_tune,
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("DECONV_GUI_DATA", str(default_data())))
    ap.add_argument("--profile", choices=("fitted", "true"), default="fitted")
    ap.add_argument("--row", type=float, default=-2.0)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--minutes", type=float, default=6.0)
    ap.add_argument("--mode", choices=("r2r", "sup"), default="r2r")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--tag", default="")
    ap.add_argument("--cache", default=str(ROOT / "runs" / "camera_tuning"))
    ap.add_argument("--out", default=str(ROOT / "runs" / "camera_tuning_trials.jsonl"))
    a = ap.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(1)
    from deconv_gui.core.camera_noise import file_points, fit_camera_noise
    from deconv_gui.core.raw_noise import RAW_MAP_SCALE, NoiseProfile
    from deconv_gui.models.catalog import default_registry
    from deconv_gui.models.registry import LoadOptions
    from deconv_gui.training.data import list_images
    from deconv_gui.training.raw_eval import module_raw_runner, planes_psnr
    from deconv_gui.training.synthetic_camera import SyntheticCamera, write_shots

    data = Path(a.data) / "test"
    if not (data / "Kodak24").is_dir():
        raise SystemExit(f"no test photos under {data} (set --data or DECONV_GUI_DATA)")
    cam, isos, cache = SyntheticCamera(), [1600.0, 3200.0, 6400.0], Path(a.cache)
    photos = (list_images(data / "LIVE1") + list_images(data / "McMaster"))[:40]
    train = write_shots(cam, photos, isos, cache / "user", seed=1, one_iso_each=True)
    test = write_shots(cam, list_images(data / "Kodak24")[:8], isos, cache / "test", seed=2)
    # (noisy, clean, ISO)
    tr = [(n, planes(s.clean)[0], iso) for s in train for n, iso in [planes(s.noisy)]]
    te = [(n, planes(s.clean)[0], iso) for s in test for n, iso in [planes(s.noisy)]]
    fitted = fit_camera_noise([file_points(n, iso) for n, _, iso in tr], cam.make, cam.model)

    def prof(iso: float) -> NoiseProfile:
        p = cam.profile(iso) if a.profile == "true" else fitted.profile(iso)
        assert p is not None
        return p

    def row_std(iso: float) -> float:
        if a.row == -2:
            return math.sqrt(fitted.profile(iso).row)  # type: ignore[union-attr]
        if a.row < 0:
            return cam.row_std(iso)
        return a.row * math.sqrt(prof(iso).read)

    spec = default_registry().get("redunet-raw-denoise")
    base = spec.build(LoadOptions(device="cpu", allow_fp16=False)).module.float().eval()

    def score(m: torch.nn.Module) -> float:
        run = module_raw_runner(m.eval())
        return float(np.mean([planes_psnr(np.clip(run(n, prof(iso)), 0, 1), np.clip(c, 0, 1))
                              for n, c, iso in te]))  # fmt: skip

    s0 = score(base)
    model = copy.deepcopy(base).train()
    rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)

    def step_loss() -> torch.Tensor:
        idx, noisy, clean = crops(rng, tr, a.batch, a.patch)
        profiles = [prof(tr[i][2]) for i in idx]
        if a.mode == "sup":
            return supervised_loss(model, noisy, clean, profiles)
        yb = torch.from_numpy(noisy).permute(0, 3, 1, 2).float()
        shot = torch.tensor([p.shot for p in profiles]).view(-1, 1, 1, 1)
        read = torch.tensor([p.read for p in profiles]).view(-1, 1, 1, 1)
        al = a.alpha
        z = torch.randn(yb.shape, generator=gen) * (yb.clamp_min(0) * shot + read).sqrt()
        if a.row:
            r = torch.randn(yb.shape[0], 2, yb.shape[2], 1, generator=gen)
            r = r * torch.tensor([row_std(tr[i][2]) for i in idx]).view(-1, 1, 1, 1)
            z = z + r.repeat_interleave(2, dim=1)
        u, t = yb + al * z, yb - z / al
        nm = ((u.clamp_min(0) * shot + read) * (1 + al * al)).clamp_min(1e-12).sqrt()
        return (model(u, nm * RAW_MAP_SCALE) - t).pow(2).mean()

    step, _ = time_boxed_tune(model, a.lr, a.minutes, step_loss)
    s1 = score(model)
    res = {k: v for k, v in vars(a).items() if k not in ("data", "cache", "out")}
    res.update(base=round(s0, 3), after=round(s1, 3), gain=round(s1 - s0, 3), steps=step)
    print(json.dumps(res), flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "a") as f:
        f.write(json.dumps(res) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
