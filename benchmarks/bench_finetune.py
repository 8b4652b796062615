"""Fine-tuning benchmark: held-out PSNR before and after a few hundred CPU steps, per mode,
on a degradation the base model was not trained for.

* pairs: the bundled blind denoiser on before/after pairs with strong *chroma* noise (luma
  sigma 10, chroma sigma 50 on the 0-255 scale, pixel-independent: unlike the white RGB
  noise it was trained on);
* clean: the x2 upscaler on clean photos with "blur=gaussian:0.8-1.6,downscale=2" applied
  on the fly (it was trained on bicubic downscaling only), tested on blur=gaussian:1.2;
* noisy: the denoiser on the chroma-noisy photos alone (self-supervised, no clean photo used;
  Neighbor2Neighbor, or ``--objective noise2void``).

``--noise camera`` replaces the chroma noise with camera-like noise (an RGGB mosaic with
Poisson-Gaussian noise, demosaicked, saved as JPEG 90): correlated between neighbouring
pixels, like the noise of a camera JPEG. Each run prints the guard's verdict (a model that got
worse on the job's held-out photos, or whose score cannot be trusted, is not saved).

Training photos are the first ``--train`` images of ``../shared/data/train/BSD200``, the test
photos the next ``--test`` ones (never trained on, and not the job's own validation split).
Scores: RGB PSNR/SSIM for denoising, Y-channel PSNR/SSIM with the scale shaved for x2 (the
evaluation convention of `deconv_gui.training.evaluate`); the model's noise level is the
automatic estimate, as in the app.

    DECONV_GUI_DATA=../shared/data nice -n 10 python benchmarks/bench_finetune.py \
        --steps 300 --sr-steps 150 --threads 1 [--noise camera --modes noisy,pairs]

Measured 2026-12-01 with those commands (2 shared CPU cores, other jobs running; test PSNR /
SSIM on the 6 test photos, base -> fine-tuned; "job val" is the job's own held-out score):
    pairs  redunet-denoise  chroma  input 12.69  24.75 / 0.7035 -> 27.65 / 0.8437  +2.90 dB
    clean  fsrcnn-x2 (Y)            input 25.77  26.44 / 0.7576 -> 28.74 / 0.8566  +2.29 dB
      (again 2026-12-05, ``--modes clean``, with the upscaler's later weights:
       26.40 / 0.7585 -> 28.91 / 0.8596  +2.51 dB)
    noisy  redunet-denoise  chroma  input 12.69  24.75 / 0.7035 -> 25.04 / 0.7808  +0.29 dB
           (Neighbor2Neighbor, 1.3 min; job val 12.28 -> 12.39: saved)
    noisy  noise2void       chroma               24.75 / 0.7035 -> 23.79 / 0.6946  -0.96 dB
           (job val 12.28 -> 12.33: the self-supervised score cannot see this over-smoothing)
    pairs  redunet-denoise  camera  input 22.66  23.58 / 0.5868 -> 25.88 / 0.7536  +2.30 dB
    noisy  redunet-denoise  camera  input 22.66  23.58 / 0.5868 -> 23.64 / 0.5868  +0.07 dB
           (job val 20.44 -> 21.23 overstates it; the noise's neighbour correlation 0.31 is
           detected and the result is refused: self-supervision cannot learn correlated noise)
Neighbor2Neighbor learning rates (chroma, 300 steps): 5e-5 +0.05 dB, 2e-4 +0.29 dB, 5e-4
+0.28 dB; patch 96 instead of 64: +0.32 dB in twice the time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from deconv_gui.core import degrade
from deconv_gui.models import bundled
from deconv_gui.models.registry import LoadOptions
from deconv_gui.training import evaluate as ev
from deconv_gui.training import finetune as ft
from deconv_gui.training.data import list_images, read_rgb_u8

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("DECONV_GUI_DATA", ROOT.parent / "shared" / "data"))


def chroma_noise(u8: np.ndarray, seed: int, y_sigma: float = 10.0, c_sigma: float = 50.0):
    """Pixel-independent noise, weak in luma and strong in chroma (BT.601 YCbCr)."""
    rng = np.random.default_rng(seed)
    x = u8.astype(np.float32)
    m = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
    ycc = x @ m.T
    h, w = x.shape[:2]
    ycc[..., 0] += rng.normal(0, y_sigma, (h, w))
    ycc[..., 1:] += rng.normal(0, c_sigma, (h, w, 2))
    rgb = ycc @ np.linalg.inv(m).T
    return np.clip(rgb.round(), 0, 255).astype(np.uint8)


def camera_noise(u8: np.ndarray, seed: int, sigma: float = 25.0, quality: int = 90) -> np.ndarray:
    """What a camera JPEG does to sensor noise: an RGGB mosaic of the photo gets
    Poisson-Gaussian noise (``sigma`` on the 0-255 scale at mid-grey), is demosaicked
    (OpenCV edge-aware) and saved as a JPEG of ``quality``: the noise is then correlated
    between neighbouring pixels (about 0.5 at a distance of one pixel)."""
    rng = np.random.default_rng(seed)
    x = u8.astype(np.float32) / 255.0
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    x = x[:h, :w]
    m = np.empty((h, w), np.float32)
    m[0::2, 0::2], m[0::2, 1::2] = x[0::2, 0::2, 0], x[0::2, 1::2, 1]
    m[1::2, 0::2], m[1::2, 1::2] = x[1::2, 0::2, 1], x[1::2, 1::2, 2]
    m += rng.normal(0.0, sigma / 255.0, m.shape) * np.sqrt(np.clip(m, 0.02, 1.0) / 0.5)
    m16 = (np.clip(m, 0.0, 1.0) * 65535.0).round().astype(np.uint16)
    rgb = cv2.cvtColor(m16, cv2.COLOR_BayerBG2RGB_EA).astype(np.float32) / 65535.0
    out = degrade.jpeg_compress(np.clip(rgb, 0.0, 1.0), quality)
    return (out * 255.0).round().astype(np.uint8)


NOISES = {
    "chroma": ("chroma noise (Y 10, CbCr 50)", chroma_noise),
    "camera": ("camera-like noise (mosaic, demosaic, JPEG 90)", camera_noise),
}


def find_card(model_id: str) -> Path | None:
    for p in (
        bundled.models_dir() / f"{model_id}.json",
        ROOT / "runs" / model_id / f"{model_id}.json",
    ):
        if p.is_file() and p.with_suffix(".safetensors").is_file():
            return p
    return None


def score(module, pairs, scale):
    run = ev.module_runner(module)  # noise level: the automatic estimate, as in the app
    s = ev.score_pairs(run, pairs, scale=scale)
    return (float(np.mean([x.output_psnr for x in s])), float(np.mean([x.output_ssim for x in s])),
            float(np.mean([x.input_psnr for x in s])))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--steps", type=int, default=300, help="steps for the denoiser modes")
    ap.add_argument("--sr-steps", type=int, default=150, help="steps for the x2 model")
    ap.add_argument("--train", type=int, default=12)
    ap.add_argument("--test", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", default="pairs,clean,noisy")
    ap.add_argument("--noise", choices=sorted(NOISES), default="chroma",
                    help="the denoisers' noise: chroma (pixel-independent) or camera "
                    "(correlated, like a camera JPEG)")  # fmt: skip
    ap.add_argument("--objective", default=None, help="noisy mode: neighbor2neighbor "
                    "(default) or noise2void")  # fmt: skip
    ap.add_argument("--lr", type=float, default=None, help="learning rate (default: the job's)")
    ap.add_argument("--patch", type=int, default=None, help="patch size (default: the job's)")
    a = ap.parse_args(argv)
    noise_label, add_noise = NOISES[a.noise]
    src = a.data / "train" / "BSD200"
    if not src.is_dir():
        print(f"skipped: training photos not found at {src} (set DECONV_GUI_DATA)")
        return 0
    torch.set_num_threads(a.threads)
    photos = list_images(src)[: a.train + a.test]
    train, test = photos[: a.train], photos[a.train :]
    den, sr = find_card("redunet-denoise"), find_card("fsrcnn-x2")
    print(f"fine-tune benchmark: {len(train)} training + {len(test)} test photos from {src}, "
          f"{a.steps} steps ({a.sr_steps} for x2), CPU, {a.threads} thread(s)")  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        for d in ("noisy", "clean"):
            (t / d).mkdir()
        for i, p in enumerate(train):
            img = read_rgb_u8(p)
            noisy = add_noise(img, seed=i)
            Image.fromarray(img[: noisy.shape[0], : noisy.shape[1]]).save(
                t / "clean" / f"{p.stem}.png"
            )
            Image.fromarray(noisy).save(t / "noisy" / f"{p.stem}.png")
        test_noisy, test_sr = [], []
        sr_deg = degrade.parse_spec("blur=gaussian:1.2,downscale=2")
        for i, p in enumerate(test):
            img = read_rgb_u8(p)
            gt = img.astype(np.float32) / 255.0
            noisy = add_noise(img, seed=1000 + i).astype(np.float32) / 255.0
            test_noisy.append((p.name, gt[: noisy.shape[0], : noisy.shape[1]], noisy))
            gt2 = degrade.crop_to_multiple(gt, 2)
            test_sr.append((p.name, gt2, sr_deg.apply(gt2, seed=i)))

        for mode in a.modes.split(","):
            card = den if mode in ("pairs", "noisy") else sr
            if card is None:
                print(f"{mode}: skipped (no {'denoiser' if mode != 'clean' else 'x2 model'} found)")
                continue
            spec = bundled.spec_from_card(card)
            if mode == "pairs":
                data = ft.FinetuneData.pairs(t / "noisy", t / "clean")
                what = f"{noise_label}, before/after pairs"
            elif mode == "clean":
                data = ft.FinetuneData.clean(t / "clean", "blur=gaussian:0.8-1.6,downscale=2")
                what = "blur=gaussian:0.8-1.6 + downscale x2 applied on the fly"
            else:
                data = ft.FinetuneData.noisy(t / "noisy")
                what = f"{noise_label}, noisy photos only ({a.objective or 'neighbor2neighbor'})"
            pairs, scale = (test_sr, 2) if mode == "clean" else (test_noisy, 1)
            base = spec.build(LoadOptions(device="cpu", allow_fp16=False)).module
            b_psnr, b_ssim, in_psnr = score(base, pairs, scale)
            t0 = time.perf_counter()
            steps = a.sr_steps if mode == "clean" else a.steps
            gen = ft.finetune_job(
                spec,
                data,
                steps=steps,
                device="cpu",
                seed=0,
                lr=a.lr,
                patch=a.patch,
                objective=a.objective,
            )
            while True:
                try:
                    pr = next(gen)
                except StopIteration as stop:
                    res = stop.value
                    break
                if pr.phase == "training" and pr.val is not None:
                    print(f"  {mode} step {pr.step}/{pr.total} loss {pr.loss:.4f} "
                          f"job-val {pr.val['psnr']:.2f} dB", flush=True)  # fmt: skip
            dt = time.perf_counter() - t0
            a_psnr, a_ssim, _ = score(res.module, pairs, scale)
            rows.append((mode, spec.id, what, in_psnr, b_psnr, b_ssim, a_psnr, a_ssim, dt,
                         res.before["psnr"], res.after["psnr"], res.settings,
                         "refused" if res.refused else "saved"))  # fmt: skip
            print(f"{mode:6s} {spec.id:16s} test PSNR input {in_psnr:.2f}  base {b_psnr:.2f} dB "
                  f"/ {b_ssim:.4f}  ->  fine-tuned {a_psnr:.2f} dB / {a_ssim:.4f}  "
                  f"({a_psnr - b_psnr:+.2f} dB) in {dt / 60:.1f} min", flush=True)  # fmt: skip
            print(f"  guard: {res.message}", flush=True)
    print(
        "\nmode   | base            | degradation | test input | base | fine-tuned | gain | "
        "job val before->after | guard | time"
    )
    for m, mid, what, i, bp, bs, ap_, as_, dt, jb, ja, st, verdict in rows:
        print(f"{m} | {mid} | {what} | {i:.2f} | {bp:.2f} / {bs:.4f} | {ap_:.2f} / {as_:.4f} | "
              f"{ap_ - bp:+.2f} dB | {jb:.2f} -> {ja:.2f} | {verdict} | {dt / 60:.1f} min "
              f"(batch {st['batch']}, patch {st['patch']}, lr {st['lr']:g})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
