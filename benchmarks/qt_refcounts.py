"""Does the window keep Python's reference counts through many runs? The real window
restores one small photo again and again (64 px tiles, as a slider moved with Live preview
would), printing the reference counts of True and None after each run; a binding that releases
references it never took (PySide6-Essentials 6.12.0 at every signal emit) makes them fall
until Python aborts ("bool_dealloc" / "none_dealloc: bug likely caused by a refcount error").

    python benchmarks/qt_refcounts.py [--runs 200] [--model redunet-denoise-fast] [PHOTO]

Without PHOTO it makes an 80 x 64 one. Exits non-zero when a count fell by the end.
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photo", nargs="?", type=Path)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--model", default="redunet-denoise-fast")
    args = ap.parse_args()

    import numpy as np
    import PySide6
    from PIL import Image
    from PySide6.QtWidgets import QApplication

    tmp = Path(tempfile.mkdtemp(prefix="qt-refcounts-"))
    os.environ.setdefault("DECONV_GUI_HOME", str(tmp / "home"))
    photo = args.photo
    if photo is None:
        rng = np.random.default_rng(0)
        photo = tmp / "photo.png"
        Image.fromarray((rng.random((64, 80, 3)) * 255).astype(np.uint8)).save(photo)

    from deconv_gui.gui.main_window import MainWindow
    from deconv_gui.models import catalog

    app = QApplication.instance() or QApplication([])
    w = MainWindow(catalog.default_registry())
    w.resize(1200, 800)
    w.show()

    def spin(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.005)

    w.open_paths([photo])
    spin(5)
    if not w.restore_panel.select_model(args.model):
        print(f"error: no model {args.model!r}", file=sys.stderr)
        return 2
    w.restore_panel.set_tile_size(64)
    print(f"PySide6 {PySide6.__version__}, Python {sys.version.split()[0]}", flush=True)
    first = None
    for k in range(1, args.runs + 1):
        w.run()
        while w.is_busy:
            app.processEvents()
            time.sleep(0.002)
        spin(0.1)
        counts = sys.getrefcount(True), sys.getrefcount(None)
        first = first or counts
        print(f"run {k}: True {counts[0]}, None {counts[1]}", flush=True)  # (before an abort)
    change = (counts[0] - first[0], counts[1] - first[1])
    print(f"{args.runs} runs; change since the first: True {change[0]:+d}, None {change[1]:+d}")
    return 1 if min(change) < 0 else 0  # (not closed: it would ask about the unsaved result)


if __name__ == "__main__":
    sys.exit(main())
