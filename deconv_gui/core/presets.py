"""Named presets: a recipe and how to write its results, saved in the user folder.

A `Preset` is a name, a `Recipe` (one step for a single model: its strength, Amount, Detail
and parameters live in the steps) and `OutputSettings` (format, quality, bit depth, name
suffix). Each is one JSON file in ``<user folder>/presets`` (`deconv_gui.paths.user_home`),
written atomically. The app's batch dialog, ``restore --preset NAME``, ``watch --preset
NAME`` and ``deconv-gui presets list|show|save|remove`` use them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deconv_gui.core.batch import OutputSettings
from deconv_gui.core.recipe import Recipe, RecipeError
from deconv_gui.errors import DeconvError
from deconv_gui.paths import user_dir

__all__ = [
    "PRESET_VERSION",
    "Preset",
    "PresetError",
    "check_preset_name",
    "list_presets",
    "load_preset",
    "presets_dir",
    "remove_preset",
    "save_preset",
]

PRESET_VERSION = 1
_FORMAT = "deconv-gui preset"
_NAME_RE = re.compile(r"^[\w][\w .+()-]{0,63}$")


class PresetError(DeconvError):
    """A preset that cannot be found, read or saved (one readable line)."""


def check_preset_name(name: str) -> str:
    """A preset's name is its file name: letters, digits, spaces and ``_ - . + ( )``, at
    most 64 characters, starting with a letter or digit."""
    name = str(name).strip()
    if not _NAME_RE.match(name):
        raise PresetError(
            f"bad preset name {name!r}: use letters, digits, spaces and _ - . + ( ) "
            "(at most 64 characters, starting with a letter or digit)"
        )
    return name


@dataclass(frozen=True)
class Preset:
    name: str
    recipe: Recipe
    output: OutputSettings = field(default_factory=OutputSettings)

    def to_json(self) -> dict[str, Any]:
        recipe = self.recipe.to_json()
        return {
            "format": _FORMAT,
            "version": PRESET_VERSION,
            "name": self.name,
            "steps": recipe["steps"],
            "output": self.output.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> Preset:
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise PresetError("not a preset file")
        version = data.get("version", PRESET_VERSION)
        if not isinstance(version, int) or version > PRESET_VERSION:
            raise PresetError(f"preset format version {version} is newer than this app reads")
        name = check_preset_name(str(data.get("name", "")))
        try:
            recipe = Recipe.from_json({"steps": data.get("steps"), "name": name})
        except RecipeError as exc:
            raise PresetError(f"preset {name!r}: {exc}") from None
        try:
            output = OutputSettings.from_json(data.get("output") or {})
        except DeconvError as exc:
            raise PresetError(f"preset {name!r}: {exc}") from None
        return cls(name, recipe, output)


def presets_dir() -> Path:
    try:
        return user_dir("presets")
    except DeconvError as exc:
        raise PresetError(str(exc)) from None


def _file(name: str) -> Path:
    return presets_dir() / f"{check_preset_name(name)}.json"


def _read(path: Path) -> Preset:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise PresetError(f"cannot read preset {path.stem!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise PresetError(f"preset {path.stem!r} is not a text file in UTF-8") from None
    except ValueError as exc:
        raise PresetError(f"preset {path.stem!r} is not valid JSON ({exc})") from None
    return Preset.from_json(data)


def list_presets() -> tuple[list[Preset], list[str]]:
    """The saved presets sorted by name (case-insensitive), and one line for each file that
    could not be read."""
    presets, problems = [], []
    try:
        folder = presets_dir()
    except PresetError as exc:  # nothing saved can be there: none, and why
        return [], [str(exc)]
    for path in sorted(folder.glob("*.json"), key=lambda p: p.stem.casefold()):
        try:
            presets.append(_read(path))
        except DeconvError as exc:
            problems.append(str(exc))
    return presets, problems


def presets_using(model_id: str) -> list[str]:
    """The names of the saved presets with a step of ``model_id``."""
    return [p.name for p in list_presets()[0] if any(s.model == model_id for s in p.recipe.steps)]


def load_preset(name: str) -> Preset:
    path = _file(name)
    if not path.is_file():
        saved = ", ".join(p.name for p in list_presets()[0]) or "none saved yet"
        raise PresetError(f"no preset named {name!r} (presets: {saved})")
    return _read(path)


def save_preset(preset: Preset, *, replace: bool = True) -> Path:
    """Write ``preset`` (atomically); without ``replace`` an existing one is refused."""
    path = _file(preset.name)
    if not replace and path.exists():
        raise PresetError(f"a preset named {preset.name!r} exists already")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(preset.to_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise PresetError(f"cannot save preset {preset.name!r}: {exc.strerror or exc}") from None
    return path


def remove_preset(name: str) -> None:
    path = _file(name)
    try:
        path.unlink()
    except FileNotFoundError:
        raise PresetError(f"no preset named {name!r}") from None
    except OSError as exc:
        raise PresetError(f"cannot remove preset {name!r}: {exc.strerror or exc}") from None
