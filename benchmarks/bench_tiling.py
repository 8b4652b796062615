"""Throughput and peak memory of the tiled restore engine on a big photo (CPU).

Runs `deconv_gui.core.tiling.restore_tiled` with a small random conv net (4 layers of 32
channels, receptive field 4 px) over a random 3:2 photo of ``--megapixels`` and, for
comparison, of ``--compare-megapixels``, each case in a fresh subprocess so its RSS
high-water mark (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is clean. Peak memory is
reported as the growth of that high-water mark from just before the photo is allocated (after
imports and a warm-up tile), split into the input + output buffers (float32, unavoidable)
and what the engine adds on top, which should depend on the tile size only.

    python benchmarks/bench_tiling.py --megapixels 50 --tile 512 --threads 2

Linux/macOS only (``resource``).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MiB = 2**20


def _maxrss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def _photo_size(megapixels: float) -> tuple[int, int]:
    """(height, width) of a 3:2 landscape photo of about `megapixels` (50 -> 5773 x 8660)."""
    width = round(math.sqrt(megapixels * 1e6 * 1.5))
    return round(width / 1.5), width


def _worker(args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(ROOT))
    import gc

    import numpy as np
    import torch
    from torch import nn

    from deconv_gui.core.devices import set_cpu_threads
    from deconv_gui.core.runner import TorchProcessor
    from deconv_gui.core.tiling import restore_tiled

    set_cpu_threads(args.threads)
    torch.manual_seed(0)
    ch = 32
    net = nn.Sequential(
        nn.Conv2d(3, ch, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(ch, ch, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(ch, ch, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(ch, 3, 3, padding=1),
        nn.Sigmoid(),
    )
    proc = TorchProcessor(net, scale=1, overlap=4, device="cpu")
    rng = np.random.default_rng(0)
    gc.collect()
    base = _maxrss_bytes()  # interpreter, torch and the model; the tile's working set is ours
    proc(rng.random((args.tile, args.tile, 3), dtype=np.float32))  # warm-up: pools, kernels
    warm = _maxrss_bytes() - base

    h, w = _photo_size(args.megapixels)
    image = rng.random((h, w, 3), dtype=np.float32)
    times = []
    tiles = 0
    out_bytes = 0
    for _ in range(args.runs):
        gen = restore_tiled(proc, image, tile_size=args.tile)
        t0 = time.perf_counter()
        tiles = 0
        while True:
            try:
                next(gen)
                tiles += 1
            except StopIteration as stop:
                out = stop.value
                break
        times.append(time.perf_counter() - t0)
        out_bytes = out.nbytes
        del out, gen
        gc.collect()
    peak = _maxrss_bytes() - base
    buffers = image.nbytes + out_bytes
    median = statistics.median(times)
    return {
        "height": h,
        "width": w,
        "megapixels": h * w / 1e6,
        "tile": args.tile,
        "threads": args.threads,
        "tiles": tiles,
        "times_s": times,
        "median_s": median,
        "mp_per_s": h * w / 1e6 / median,
        "peak_delta": peak,
        "one_tile": warm,
        "buffers": buffers,
        "overhead": peak - buffers,
    }


def _run_case(args: argparse.Namespace, megapixels: float) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--megapixels",
        str(megapixels),
        "--tile",
        str(args.tile),
        "--threads",
        str(args.threads),
        "--runs",
        str(args.runs),
    ]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", type=float, default=50.0)
    parser.add_argument("--compare-megapixels", type=float, default=12.0)
    parser.add_argument("--tile", type=int, default=512, help="tile side incl. context (px)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per case (median)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args)))
        return 0

    print(
        f"tiled engine, CPU, {args.threads} thread(s), tile {args.tile} px, "
        f"4x conv3x3 32 ch (overlap 4 px), median of {args.runs} run(s)"
    )
    header = (
        f"{'photo':>18} {'MP':>6} {'tiles':>6} {'MP/s':>7} {'median s':>9} "
        f"{'peak +RSS':>10} {'in+out':>9} {'engine':>8}"
    )
    print(header)
    results = []
    for mp in (args.megapixels, args.compare_megapixels):
        r = _run_case(args, mp)
        results.append(r)
        print(
            f"{r['width']:>8} x {r['height']:<7} {r['megapixels']:6.1f} {r['tiles']:6d} "
            f"{r['mp_per_s']:7.3f} {r['median_s']:9.1f} {r['peak_delta'] / MiB:8.0f} MiB "
            f"{r['buffers'] / MiB:5.0f} MiB {r['overhead'] / MiB:4.0f} MiB"
        )
    big, small = results
    print(
        f"engine memory beyond the input/output buffers: {big['overhead'] / MiB:.0f} MiB at "
        f"{big['megapixels']:.0f} MP vs {small['overhead'] / MiB:.0f} MiB at "
        f"{small['megapixels']:.0f} MP (tile {args.tile} px)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
