"""Compare the torchvision stand-in with the real torchvision (run where both exist).

    .venv/bin/python packaging/torchvision_shim/check_shim.py

Exits non-zero on any difference larger than 1e-6.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch
from torchvision.transforms import functional as real

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location(
    "shim_functional", HERE / "torchvision" / "transforms" / "functional.py"
)
shim = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shim)


def main() -> int:
    g = torch.Generator().manual_seed(0)
    worst = 0.0
    cases = 0
    for shape in [(3, 17, 23), (2, 3, 32, 32), (1, 4, 9, 40)]:
        x = torch.rand(shape, generator=g)
        a = real.normalize(x, [0.5, 0.4, 0.3, 0.2][: shape[-3]], [0.5, 0.6, 0.7, 0.8][: shape[-3]])
        b = shim.normalize(x, [0.5, 0.4, 0.3, 0.2][: shape[-3]], [0.5, 0.6, 0.7, 0.8][: shape[-3]])
        worst = max(worst, (a - b).abs().max().item())
        cases += 1
        for angle in [0.0, 15.0, -37.5, 90.0, 180.0, 271.3]:
            for mode in ["NEAREST", "BILINEAR"]:
                for expand in [False, True]:
                    for fill in [None, 0, [0.25] * shape[-3]]:
                        for center in [None, [3, 5]]:
                            a = real.rotate(
                                x,
                                angle,
                                getattr(real.InterpolationMode, mode),
                                expand,
                                center,
                                fill,
                            )
                            b = shim.rotate(
                                x,
                                angle,
                                getattr(shim.InterpolationMode, mode),
                                expand,
                                center,
                                fill,
                            )
                            if a.shape != b.shape:
                                print(f"shape differs: {a.shape} vs {b.shape}")
                                return 1
                            worst = max(worst, (a - b).abs().max().item())
                            cases += 1
    print(f"{cases} cases, largest difference {worst:.3g}")
    return 0 if worst <= 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
