"""Screenshots of the real main window, to look at (not a test).

    python scripts/screenshots.py OUT_FOLDER [--theme light|dark|both] [--only NAME ...]

Runs the app's window with the bundled models on the sample photo (and a few photos it
writes into a temporary folder), drives it as a person would and saves one PNG per state
into OUT_FOLDER: the welcome page, a photo loaded, each compare mode, an upscale (fit and
zoomed in, before enlarged with Lanczos), the SSIM and difference overlays, Simulate (three
pairs), a reference that does not match, swapped sides, the navigator, a broken file, and
the window at 1024 x 700 and 1920 x 1080; with ``--theme both`` everything in light and then
in dark. Works offscreen (``QT_QPA_PLATFORM=offscreen``) and under Xvfb:

    xvfb-run -a -s "-screen 0 1920x1080x24" python scripts/screenshots.py shots
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def wait_until(app, done: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    """Process events until `done()` (or raise after `timeout` seconds)."""
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            raise TimeoutError(f"waited {timeout:.0f} s for {what or done}")
        app.processEvents()
        time.sleep(0.01)
    for _ in range(5):  # let repaints land
        app.processEvents()


def settle(app, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def write_photos(folder: Path) -> dict[str, Path]:
    """A clean reference of the sample, an unrelated photo, and a broken file."""
    import numpy as np
    from PIL import Image

    from deconv_gui.paths import sample_photo

    folder.mkdir(parents=True, exist_ok=True)
    sample = np.asarray(Image.open(sample_photo()).convert("RGB"))
    other = np.asarray(Image.open(sample_photo()).convert("RGB").rotate(90, expand=True))
    out = {"other": folder / "not-the-same.png", "broken": folder / "broken.jpg"}
    Image.fromarray(np.ascontiguousarray(other)).resize((sample.shape[1], sample.shape[0])).save(
        out["other"]
    )
    data = (ROOT / "resources" / "sample" / "sample.jpg").read_bytes()
    out["broken"].write_bytes(data[: len(data) // 3])  # cut short, as an interrupted copy
    return out


def take_shots(app, w, photos: dict[str, Path], prefix: Path, only, taken: list[Path]) -> None:
    """Drive window `w` through the states worth seeing; save `prefix`-NAME.png of each."""
    from PySide6.QtCore import QPointF

    from deconv_gui.paths import sample_photo

    def shot(name: str) -> None:
        if only is not None and name not in only:
            return
        settle(app, 0.2)
        path = prefix.with_name(f"{prefix.name}-{name}.png")
        w.grab().save(str(path))
        taken.append(path)

    def run(model_id: str) -> None:
        assert w.restore_panel.select_model(model_id), model_id
        done: list[object] = []
        w.result_finished.connect(done.append)
        assert w.run()
        wait_until(app, lambda: bool(done), 300, f"{model_id} to finish")
        w.result_finished.disconnect(done.append)
        wait_until(app, lambda: w.current.result.final is not None, 60, "scores")

    def overlay(kind: str) -> None:
        w.set_overlay(kind)
        if kind:
            wait_until(app, lambda: w.view.overlay_kind() == kind, 60, f"{kind} overlay")

    denoiser = w.registry.default_for("denoise").id  # what the app would pick

    shot("01-start")
    w.open_paths([sample_photo()])
    wait_until(app, lambda: w.current is not None and w.current.is_ready, 60, "the photo")
    doc = w.current
    shot("02-photo-loaded")
    run(denoiser)
    for i, mode in enumerate(("split", "side", "flicker"), start=3):
        w.set_compare_mode(mode)
        shot(f"{i:02d}-compare-{mode}")
    w.set_compare_mode("split")
    w.view.set_swapped(True)
    shot("06-swapped")
    w.view.set_swapped(False)
    overlay("ssim")
    shot("07-overlay-ssim")
    overlay("diff")
    shot("08-overlay-diff")
    overlay("")

    run("fsrcnn-x2")
    wait_until(app, lambda: "Lanczos" in w.view.labels()[0], 60, "the Lanczos before")
    shot("09-upscale-fit")
    w.view.set_zoom(3.0)
    w.view.center_on(QPointF(doc.result.view.width * 0.45, doc.result.view.height * 0.5))
    shot("10-upscale-300pc-navigator")
    w.view.fit()

    w.simulate("noise=25")
    wait_until(app, lambda: doc.comparison.lq is not None, 60, "the simulation")
    shot("11-simulate-degraded")
    run(denoiser)
    shot("12-simulate-restored")
    for pair in ("reference", "reference_input"):
        w.viewer.set_pair(pair)
        shot(f"13-simulate-pair-{pair}")
    w.viewer.set_pair("input")
    w.quality.set_comparison(doc, None)  # back: the photo's own result returns
    settle(app)
    shot("14-after-simulate-result-kept")

    w.load_reference(photos["other"])
    wait_until(app, lambda: "not used as the reference" in w.message_bar.text(), 60, "refusal")
    shot("15-reference-refused")

    w.open_paths([photos["broken"]])
    wait_until(app, lambda: w.current is not None and w.current.error != "", 60, "failure")
    shot("16-broken-file")
    w.photos.select(doc)
    settle(app)
    for size in ((1024, 700), (1920, 1080)):
        w.resize(*size)
        settle(app, 0.5)
        shot(f"17-size-{size[0]}x{size[1]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder for the PNG files")
    ap.add_argument("--theme", choices=("light", "dark", "both"), default="both")
    ap.add_argument("--only", nargs="*", default=None, help="shot names to take")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="deconv-shots-"))
    os.environ.setdefault("DECONV_GUI_HOME", str(tmp / "home"))

    from PySide6.QtCore import QSettings

    from deconv_gui.gui.app import create_application
    from deconv_gui.gui.main_window import MainWindow
    from deconv_gui.gui.theme import dark_palette, light_palette
    from deconv_gui.models.catalog import default_registry

    app = create_application()
    registry = default_registry()
    photos = write_photos(tmp / "photos")
    themes = ["light", "dark"] if args.theme == "both" else [args.theme]
    taken: list[Path] = []

    for theme in themes:
        app.setPalette(dark_palette() if theme == "dark" else light_palette(app))
        settings = QSettings(str(tmp / f"settings-{theme}.ini"), QSettings.Format.IniFormat)
        w = MainWindow(registry, settings)
        w.ask = lambda *_: True
        w.resize(1440, 900)
        w.show()
        settle(app)
        try:
            take_shots(app, w, photos, args.out / theme, args.only, taken)
        finally:
            w.ask = lambda *_: True
            w.close()
            w.shutdown()
            w.deleteLater()
            settle(app)

    for p in taken:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
