"""Where things live: bundled resources and the per-user data folder.

`resource_path()` works from a source checkout, an installed wheel (resources are mapped into
the package as `deconv_gui/resources`) and a PyInstaller bundle (`sys._MEIPASS`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "deconv-gui"


def resources_dir() -> Path:
    frozen = getattr(sys, "_MEIPASS", None)
    candidates = []
    if frozen:
        candidates.append(Path(frozen) / "resources")
    here = Path(__file__).resolve().parent
    candidates.append(here / "resources")  # installed wheel
    candidates.append(here.parent / "resources")  # source checkout / editable install
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[-1]


def resource_path(*parts: str) -> Path:
    """Path of a bundled resource, e.g. ``resource_path("sample", "sample.jpg")``."""
    return resources_dir().joinpath(*parts)


def sample_photo() -> Path:
    return resource_path("sample", "sample.jpg")


def user_home() -> Path:
    """Per-user data folder (imported/fine-tuned models, settings, logs).

    ``DECONV_GUI_HOME`` overrides the platform default (tests use it). Raises `DeconvError`
    (one line) when the folder cannot be made.
    """
    env = os.environ.get("DECONV_GUI_HOME")
    if env:
        p = Path(env).expanduser()
    else:
        from platformdirs import user_data_dir

        p = Path(user_data_dir(APP_NAME, appauthor=False))
    return _made(p, "the data folder")


def user_dir(name: str) -> Path:
    """A folder ``name`` of the per-user data folder, made when missing (`DeconvError`, one
    line, when it cannot be)."""
    return _made(user_home() / name, f"the {name} folder")


def user_models_dir() -> Path:
    return user_dir("models")


def _made(p: Path, what: str) -> Path:
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from deconv_gui.errors import DeconvError

        raise DeconvError(
            f"cannot use {what} {p}: {exc.strerror or exc} (DECONV_GUI_HOME chooses another place)"
        ) from None
    return p
