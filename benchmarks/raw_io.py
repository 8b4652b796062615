"""Camera RAW I/O timings and the DNG round-trip check on the real files of ../shared/data/raw.

For each file: open (`core.raw.open_raw`: LibRaw decode + exiv2 metadata), render (the one
development, sRGB, 16 bits), preview (`load_raw_preview`, 1024 px), DNG write
(`core.dng.write_dng`), 16-bit TIFF write of the render (`core.io.save_image`), and how far the
render of the written DNG is from the source's render (16-bit levels, max and mean over all
pixels and channels).

    nice -n 5 python benchmarks/raw_io.py [--data ../shared/data/raw]

Measured 2026-12-01 with that command (2 CPU cores shared with other jobs, load average about
5; rawpy 0.28.0 / LibRaw 0.22.2; an earlier run at a lighter moment rendered the 12 MP file in
1.76 s):

    file                                 MP  open s render s preview s  DNG s TIFF s DNG MB  max   mean
    Canon_EOS_550D_MagicLantern_...dng  2.0    0.12     0.46      0.10   0.04   0.88    4.0    0 0.0000
    Canon_PowerShot_G2_CRW_0304.CRW     4.0    0.12     0.82      0.00   0.05   2.32    8.0    0 0.0000
    Canon_PowerShot_S40_CRW_0117.CRW    4.0    0.17     0.81      0.01   0.05   2.05    8.0    0 0.0000
    GoPro_Fusion_GPFR7066_from_GPR.dng  9.3    0.13     2.03      0.27   0.15   5.94   18.6    0 0.0000
    GoPro_HERO7_Black_..._from_GPR.dng 12.0    0.14     3.27      0.34   0.30   8.10   24.0    0 0.0000
    Kodak_DC120_P003917.KDC             0.8    0.06     0.21      0.09   0.13   1.22    1.7 26410 3.2443
    Kodak_DC50_DC0008L.KDC              0.4    0.01     0.09      0.06   0.03   0.30    0.8    0 0.0000

The DNGs develop bit-identically except the Kodak DC120's (non-square pixels, aspect 244/159):
LibRaw reads DefaultScale as float32 where it had the source's aspect as a double, and its
stretch keeps a running sum, so 4 of the 1301 output columns (every 244th, where the sum lands
exactly on a source column) take their neighbour's values; 99.7 % of the values are identical.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deconv_gui.core.dng import write_dng  # noqa: E402
from deconv_gui.core.io import save_image  # noqa: E402
from deconv_gui.core.raw import (  # noqa: E402
    is_raw_path,
    load_raw_preview,
    open_raw,
    render_raw,
)


def _timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def main() -> None:
    default = (
        Path(
            os.environ.get(
                "DECONV_GUI_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
            )
        )
        / "raw"
    )
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default)
    args = ap.parse_args()
    files = sorted(p for p in args.data.iterdir() if is_raw_path(p))
    if not files:
        raise SystemExit(f"no RAW files in {args.data}")
    print(
        f"{'file':44s} {'MP':>5s} {'open s':>7s} {'render s':>8s} {'preview s':>9s} "
        f"{'DNG s':>6s} {'TIFF s':>6s} {'DNG MB':>6s} {'max':>6s} {'mean':>8s}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            raw, t_open = _timed(open_raw, path)
            photo, t_render = _timed(render_raw, raw)
            _, t_preview = _timed(load_raw_preview, path, 1024)
            out, t_dng = _timed(write_dng, Path(tmp) / (path.stem + ".dng"), raw)
            _, t_tiff = _timed(save_image, Path(tmp) / (path.stem + ".tif"), photo.rgb, photo.meta)
            again = render_raw(open_raw(out))
            a = np.rint(photo.rgb.astype(np.float64) * 65535)
            b = np.rint(again.rgb.astype(np.float64) * 65535)
            diff = np.abs(a - b)
            mp = raw.mosaic.shape[0] * raw.mosaic.shape[1] / 1e6
            print(
                f"{path.name:44s} {mp:5.1f} {t_open:7.2f} {t_render:8.2f} {t_preview:9.2f} "
                f"{t_dng:6.2f} {t_tiff:6.2f} {out.stat().st_size / 1e6:6.1f} "
                f"{diff.max():6.0f} {diff.mean():8.4f}"
            )


if __name__ == "__main__":
    main()
