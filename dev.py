#!/usr/bin/env python3
"""The two set-up commands of README.md, for a fresh machine with Python 3.10+.

    python3 dev.py run    # create/refresh .venv, install, open the app on the sample photo
    python3 dev.py test   # create/refresh .venv, install with dev tools, run every check

Extra arguments after ``test`` go to pytest (e.g. ``python3 dev.py test -k io``); extra
arguments after ``run`` go to the app. ``DECONV_VENV`` chooses another environment folder.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("DECONV_VENV", ROOT / ".venv"))
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"


def _bin(name: str) -> Path:
    sub = "Scripts" if os.name == "nt" else "bin"
    suffix = ".exe" if os.name == "nt" else ""
    return VENV / sub / f"{name}{suffix}"


def _run(cmd: list[str | Path], **kw) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def ensure_env(extras: str) -> None:
    """Create the virtual environment if needed and install the project (editable)."""
    if sys.version_info < (3, 10):  # noqa: UP036 - dev.py itself runs on older Pythons
        sys.exit("Deconv GUI needs Python 3.10 or newer")
    if not _bin("python").exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp_text = (ROOT / "pyproject.toml").read_bytes() + CONSTRAINTS.read_bytes() + extras.encode()
    stamp = hashlib.sha256(stamp_text).hexdigest()
    stamp_file = VENV / ".deconv-install-stamp"
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        return  # already installed from these exact requirements
    py = _bin("python")
    _run([py, "-m", "pip", "install", "--upgrade", "pip"])
    target = f".{extras}" if extras else "."
    _run([py, "-m", "pip", "install", "-c", CONSTRAINTS, "-e", target], cwd=ROOT)
    stamp_file.write_text(stamp)


def cmd_run(args: list[str]) -> int:
    ensure_env("[heic]")  # phones' HEIC photos open too
    paths = args or [str(ROOT / "resources" / "sample" / "sample.jpg")]
    return subprocess.call([str(_bin("deconv-gui")), *paths])


def cmd_test(args: list[str]) -> int:
    ensure_env("[dev,cluster,heic]")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    py = str(_bin("python"))
    steps = [
        [py, "-m", "ruff", "check", "."],
        [py, "-m", "ruff", "format", "--check", "."],
        [py, "-m", "mypy"],
        [str(_bin("lint-imports"))],  # the layer contracts in pyproject.toml
        [py, "-m", "pytest", *args],
    ]
    for step in steps:
        shown = " ".join(step[2:] if step[0] == py else [Path(step[0]).name, *step[1:]])
        print("+", shown, flush=True)
        rc = subprocess.call(step, cwd=ROOT, env=env)
        if rc != 0:
            print(f"FAILED: {shown} (exit {rc})", flush=True)
            return rc
    return 0


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test"):
        print(__doc__)
        return 2
    cmd, rest = sys.argv[1], sys.argv[2:]
    return cmd_run(rest) if cmd == "run" else cmd_test(rest)


if __name__ == "__main__":
    sys.exit(main())
