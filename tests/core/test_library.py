"""The user model library writer (`deconv_gui.models.library.add_model`): a model folder
appears whole or not at all, with unique ids, and a library that cannot be written gives
one readable `ModelError` line (import and fine-tune both go through it)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from deconv_gui import paths
from deconv_gui.errors import ModelError
from deconv_gui.models import library
from deconv_gui.models.imported import CARD_NAME


def _writer(payload: bytes = b"weights") -> Any:
    def write_files(folder: Path) -> dict[str, Any]:
        (folder / "weights.bin").write_bytes(payload)
        return {"name": "ignored by the writer", "file": "weights.bin"}

    return write_files


def _entries() -> list[str]:
    """The library folder's entries but its lock file."""
    return sorted(p.name for p in paths.user_models_dir().iterdir() if p.name != library.LOCK_NAME)


def test_a_model_is_added_whole_with_a_unique_id() -> None:
    a = library.add_model("My Model", _writer(b"a"))
    b = library.add_model("My Model", _writer(b"b"))
    assert (a.name, b.name) == ("my-model", "my-model-2")
    card = json.loads((b / CARD_NAME).read_text())
    assert card["id"] == "my-model-2" and (b / "weights.bin").read_bytes() == b"b"
    assert _entries() == ["my-model", "my-model-2"]  # no temporary folder left


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_a_failed_rename_leaves_nothing_behind(code: int, monkeypatch: pytest.MonkeyPatch) -> None:
    library.add_model("kept", _writer())
    before = _entries()

    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(library.os, "rename", fail)
    with pytest.raises(ModelError) as info:
        library.add_model("new one", _writer())
    msg = str(info.value)
    assert "\n" not in msg and "cannot write to the model library" in msg
    assert ("disk is full" if code == errno.ENOSPC else "read-only") in msg
    assert _entries() == before


def test_a_failing_writer_leaves_nothing_behind() -> None:
    def broken(folder: Path) -> dict[str, Any]:
        (folder / "weights.bin").write_bytes(b"half")
        raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(ModelError, match="Input/output error"):
        library.add_model("broken", broken)
    assert _entries() == []


def test_a_read_only_user_folder_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library folder cannot even be created (a read-only user folder): import and
    fine-tune save say so in one line instead of a PermissionError traceback."""

    def read_only() -> Path:
        raise PermissionError(errno.EACCES, "Permission denied", "/home/me/.local/deconv")

    monkeypatch.setattr(paths, "user_models_dir", read_only)
    with pytest.raises(ModelError, match=r"read-only \(Permission denied\)$"):
        library.add_model("x", _writer())


def test_stale_temporary_folders_are_cleaned() -> None:
    root = paths.user_models_dir()
    old = root / ".importing-old"
    old.mkdir()
    os.utime(old, (0, 0))
    fresh = root / ".adding-fresh"  # another process may be writing it right now
    fresh.mkdir()
    library.add_model("m", _writer())
    assert _entries() == [".adding-fresh", "m"]


def test_names_are_checked() -> None:
    with pytest.raises(ModelError, match="empty"):
        library.check_name("  ")
    with pytest.raises(ModelError, match="too long"):
        library.check_name("x" * 121)
    assert library.check_name(" Mine ") == "Mine"
    # one row of the model list each: C0 and C1 controls (CSI moves a terminal's cursor), the
    # Unicode line separator, a right-to-left override that shows the row reversed
    for bad in ("a\nb", "tab\there", "bell\x07", "csi\x9b2J", "a\u2028b", "\u202egnp.x"):
        with pytest.raises(ModelError, match="one line, without control characters"):
            library.check_name(bad)


def test_a_broken_imported_model_is_named_broken_when_asked_for(tmp_path, monkeypatch, capsys):
    from deconv_gui.cli import main

    monkeypatch.setenv("DECONV_GUI_HOME", str(tmp_path / "home"))
    folder = tmp_path / "home" / "models" / "my-up"
    folder.mkdir(parents=True)
    (folder / "card.json").write_text("{}")
    photo = tmp_path / "a.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(photo)
    assert main(["restore", str(photo), "--model", "my-up"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: model 'my-up' is broken: ") and "models remove my-up" in err
