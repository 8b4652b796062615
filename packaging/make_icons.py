"""Render the app icon SVG into the PNG sizes, a Windows .ico and a macOS .icns.

    python packaging/make_icons.py [OUT_DIR] [--svg PATH]     # default OUT_DIR: build/icons

Uses only what the app already ships: Qt's SVG renderer (PySide6.QtSvg, in
PySide6-Essentials) for the PNGs and Pillow for the .ico and .icns (Pillow writes both on every
platform), so the icons can be made on Linux, Windows and macOS alike. Output:

    OUT_DIR/hicolor/<N>x<N>/apps/deconv-gui.png   N = 16 24 32 48 64 128 256 512 (freedesktop)
    OUT_DIR/deconv-gui-<N>.png                    the same plus 1024
    OUT_DIR/deconv-gui.png                        256 px (AppImage / .desktop fallback)
    OUT_DIR/deconv-gui.ico                        16..256 px, each size rendered from the SVG
    OUT_DIR/deconv-gui.icns                       16..1024 px (Pillow's ICNS writer)
    OUT_DIR/deconv-gui.svg                        a copy (hicolor/scalable on Linux)

On macOS, `iconutil -c icns` on an .iconset folder of the same PNGs gives the same result; see
packaging/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SVG = ROOT / "resources" / "icons" / "deconv-gui.svg"
NAME = "deconv-gui"
HICOLOR = [16, 24, 32, 48, 64, 128, 256, 512]
ICO = [16, 24, 32, 48, 64, 128, 256]
ICNS = [16, 32, 64, 128, 256, 512, 1024]


def render(svg: Path, sizes: list[int]) -> dict[int, object]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - keeps Qt alive
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {svg} as SVG")
    out = {}
    for n in sizes:
        img = QImage(n, n, QImage.Format.Format_RGBA8888)
        img.fill(Qt.GlobalColor.transparent)
        painter = QPainter(img)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        data = bytes(img.constBits())[: n * n * 4]
        out[n] = Image.frombuffer("RGBA", (n, n), data, "raw", "RGBA", img.bytesPerLine(), 1).copy()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=str(ROOT / "build" / "icons"))
    ap.add_argument("--svg", default=str(DEFAULT_SVG))
    args = ap.parse_args(argv)
    svg, out = Path(args.svg), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    images = render(svg, sorted(set(HICOLOR + ICO + ICNS)))
    for n, im in images.items():
        im.save(out / f"{NAME}-{n}.png")
        if n in HICOLOR:
            d = out / "hicolor" / f"{n}x{n}" / "apps"
            d.mkdir(parents=True, exist_ok=True)
            im.save(d / f"{NAME}.png")
    images[256].save(out / f"{NAME}.png")
    shutil.copyfile(svg, out / f"{NAME}.svg")
    scalable = out / "hicolor" / "scalable" / "apps"
    scalable.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(svg, scalable / f"{NAME}.svg")
    # .ico: the largest image first, the others as exact-size frames (no resampling).
    images[256].save(
        out / f"{NAME}.ico",
        sizes=[(n, n) for n in ICO],
        append_images=[images[n] for n in ICO if n != 256],
    )
    images[1024].save(out / f"{NAME}.icns", append_images=[images[n] for n in ICNS if n != 1024])
    print(f"icons: {len(images)} sizes, .ico and .icns in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
