"""Longest GUI event-loop stall while the real window opens and processes a 24 MP photo.

A 10 ms QTimer probe records the gap between its ticks; a gap much longer than 10 ms means
the GUI thread was busy (or starved) and the window froze for that long. The photo is
opened through the window (quick preview, then the full image, both off the GUI thread),
then the chosen model runs over it through the real job runner while tiles land in the
viewer and the live SSIM readout updates.

    python benchmarks/bench_gui_stall.py                 # tiny 1-layer conv, whole photo
    python benchmarks/bench_gui_stall.py --model nlm-denoise --seconds 30

Prints the longest stall (target: under 100 ms) and exits non-zero above --limit-ms.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def tiny_conv_spec():
    """A 3x3 box-blur conv (TorchProcessor on the CPU): fast, so the run covers the whole photo."""
    from deconv_gui.models.registry import ModelSpec

    def build(options):
        import torch
        from torch import nn

        from deconv_gui.core.runner import TorchProcessor

        conv = nn.Conv2d(3, 3, 3, padding=1, bias=False)
        with torch.no_grad():
            conv.weight.zero_()
            for c in range(3):
                conv.weight[c, c] = 1.0 / 9.0
        return TorchProcessor(conv, scale=1, overlap=2, device=options.device)

    return ModelSpec(
        "bench-conv", "Benchmark conv", "denoise", 1, "bundled", "3x3 box blur.", build=build
    )


def make_photo(path: Path, width: int, height: int) -> Path:
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    small = rng.random((height // 16, width // 16, 3), dtype=np.float32)
    img = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 0.04, img.shape).astype(np.float32)
    cv2.imwrite(
        str(path), np.clip(img * 255, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 92]
    )
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--megapixels", type=float, default=24.0)
    ap.add_argument(
        "--model", default="bench-conv", help="a model id of the app's registry, or bench-conv"
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tile", type=int, default=0, help="tile size (0 = auto)")
    ap.add_argument(
        "--seconds", type=float, default=0, help="stop (cancel) after this long; 0 = run to the end"
    )
    ap.add_argument("--limit-ms", type=float, default=100.0)
    args = ap.parse_args(argv)

    tmp = tempfile.TemporaryDirectory(prefix="deconv-stall-")
    os.environ["DECONV_GUI_HOME"] = str(Path(tmp.name) / "home")
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, QTimer

    from deconv_gui.gui.app import create_application, settle_heap
    from deconv_gui.gui.main_window import MainWindow
    from deconv_gui.models.catalog import default_registry
    from deconv_gui.models.registry import ModelRegistry

    w = int(round((args.megapixels * 1e6 * 1.5) ** 0.5))
    h = int(round(w / 1.5))
    t = time.perf_counter()
    photo = make_photo(Path(tmp.name) / "big.jpg", w, h)
    print(f"photo: {w}x{h} ({w * h / 1e6:.1f} MP) written in {time.perf_counter() - t:.1f}s")

    registry = (
        default_registry() if args.model != "bench-conv" else ModelRegistry([tiny_conv_spec()])
    )
    app = create_application()
    window = MainWindow(
        registry, QSettings(str(Path(tmp.name) / "s.ini"), QSettings.Format.IniFormat)
    )
    window.ask = lambda *_: True
    window.resize(1280, 800)
    window.show()
    app.processEvents()
    settle_heap()  # as run_app does

    clock = QElapsedTimer()
    gaps: list[float] = []
    phase = {"name": "open"}
    worst: dict[str, float] = {}
    last = [0.0]

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        gap = now - last[0]
        last[0] = now
        gaps.append(gap)
        worst[phase["name"]] = max(worst.get(phase["name"], 0.0), gap)

    probe = QTimer()
    probe.setTimerType(probe.timerType().PreciseTimer)
    probe.setInterval(10)
    probe.timeout.connect(tick)
    loop = QEventLoop()

    def wait(cond, timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while not cond():
            if time.monotonic() > end:
                return False
            QTimer.singleShot(5, loop.quit)
            loop.exec()
        return True

    clock.start()
    last[0] = 0.0
    probe.start()
    t0 = time.perf_counter()
    docs = window.open_paths([photo])
    doc = docs[0]
    if not wait(lambda: doc.is_ready or doc.state == "error", 300):
        print("timed out loading the photo")
        return 2
    if doc.state == "error":
        print(f"loading failed: {doc.error}")
        return 2
    t_open = time.perf_counter() - t0
    phase["name"] = "run"
    spec_id = args.model
    window.restore_panel.select_model(spec_id)
    window.restore_panel.set_device(args.device)
    window.restore_panel.set_tile_size(args.tile or None)
    t1 = time.perf_counter()
    window.restore_panel.run_button.click()
    limit = args.seconds if args.seconds > 0 else 3600
    finished = wait(lambda: not window.is_busy, limit)
    if not finished:
        window.cancel()
        wait(lambda: not window.is_busy, 120)
    t_run = time.perf_counter() - t1
    phase["name"] = "metrics"
    if doc.result is not None and not doc.result.partial:
        wait(lambda: doc.result.final is not None, 300)
    t_metrics = time.perf_counter() - t1 - t_run
    phase["name"] = "idle"
    wait(lambda: False, 0.3)
    probe.stop()
    window.shutdown()
    window.close()

    gaps_sorted = sorted(gaps)
    p99 = gaps_sorted[int(len(gaps_sorted) * 0.99)] if gaps_sorted else 0.0
    longest = max(gaps) if gaps else 0.0
    state = (
        "finished"
        if finished and doc.result is not None and not doc.result.partial
        else "cancelled after the time limit"
    )
    print(
        f"open {t_open:.1f}s, run {t_run:.1f}s ({state}), final metrics {t_metrics:.1f}s, "
        f"{len(gaps)} probe ticks"
    )
    print("longest stall per phase: " + ", ".join(f"{k} {v:.1f} ms" for k, v in worst.items()))
    print(f"longest GUI stall: {longest:.1f} ms (p99 {p99:.1f} ms, limit {args.limit_ms:.0f} ms)")
    tmp.cleanup()
    return 0 if longest < args.limit_ms else 1


if __name__ == "__main__":
    sys.exit(main())
