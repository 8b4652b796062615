"""Named presets: saved in the user folder, used by `restore --preset` and `presets` (issue 15)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deconv_gui.cli import main
from deconv_gui.core.batch import OutputSettings
from deconv_gui.core.io import load_image
from deconv_gui.core.presets import (
    Preset,
    PresetError,
    list_presets,
    load_preset,
    presets_dir,
    remove_preset,
    save_preset,
)
from deconv_gui.core.recipe import Recipe, RecipeStep


def _photo(path: Path, size: tuple[int, int] = (40, 32)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = (np.random.default_rng(1).random((size[1], size[0], 3)) * 255).astype(np.uint8)
    Image.fromarray(arr).save(path)
    return path


def test_presets_round_trip_in_the_user_folder() -> None:
    recipe = Recipe((RecipeStep("nlm-denoise", strength=12, amount=0.8, detail=0.3),))
    out = OutputSettings(format=".tif", quality=90, bit_depth=16, suffix="_clean")
    path = save_preset(Preset("Studio 16-bit", recipe, out))
    assert path.parent == presets_dir() == Path(os.environ["DECONV_GUI_HOME"]) / "presets"
    back = load_preset("Studio 16-bit")
    assert back.output == out and back.recipe.steps == recipe.steps
    with pytest.raises(PresetError, match="exists already"):
        save_preset(Preset("Studio 16-bit", recipe), replace=False)
    save_preset(Preset("a quick one", Recipe.single("lanczos-x2")))
    (presets_dir() / "broken.json").write_text("{not json")
    found, problems = list_presets()
    assert [p.name for p in found] == ["a quick one", "Studio 16-bit"]
    assert len(problems) == 1 and "broken" in problems[0]
    remove_preset("a quick one")
    with pytest.raises(PresetError, match="no preset named 'a quick one'"):
        load_preset("a quick one")
    for bad in ("", "../x", "a/b", ".hidden", "x" * 65):
        with pytest.raises(PresetError, match="bad preset name"):
            save_preset(Preset(bad, recipe))


def test_a_preset_file_with_a_bad_step_is_one_line() -> None:
    data = Preset("p", Recipe.single("nlm-denoise")).to_json()
    data["steps"][0]["amount"] = 3
    (presets_dir() / "p.json").write_text(json.dumps(data))
    with pytest.raises(PresetError, match="preset 'p': step 1: amount must be between 0 and 1"):
        load_preset("p")


def test_presets_command_and_restore_with_a_preset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["presets", "save", "upx2", "--model", "lanczos-x2", "--format", "png"]
    assert main([*args, "--suffix", "_big", "--bit-depth", "16"]) == 0
    assert "saved preset 'upx2'" in capsys.readouterr().out
    assert main(["presets", "list"]) == 0
    assert "upx2  lanczos-x2  (.png, suffix _big, 16-bit)" in capsys.readouterr().out
    assert main(["presets", "show", "upx2"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["steps"][0]["model"] == "lanczos-x2" and shown["output"]["bit_depth"] == 16

    src = _photo(tmp_path / "in" / "a.jpg")
    out = tmp_path / "out"
    assert main(["restore", str(src.parent), "--preset", "upx2", "-o", str(out)]) == 0
    result = out / "a_big.png"
    assert load_image(result).meta.bit_depth == 16 and load_image(result).width == 80
    # a flag replaces the preset's setting
    assert main(["restore", str(src), "--preset", "upx2", "--suffix", "_b8", "--bit-depth", "8",
                 "-o", str(out)]) == 0  # fmt: skip
    assert load_image(out / "a_b8.png").meta.bit_depth == 8
    assert main(["restore", str(src), "--preset", "upx2", "--strength", "3"]) == 1
    assert "go into the preset's steps" in capsys.readouterr().err
    assert main(["restore", str(src), "--preset", "nope"]) == 1
    assert "no preset named 'nope' (presets: upx2)" in capsys.readouterr().err
    assert main(["presets", "remove", "upx2"]) == 0
    assert main(["presets", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1] or "[]") == []


@pytest.mark.parametrize(
    ("preset", "flags", "expected"),
    [
        (
            ["--format", "tif", "--bit-depth", "16"],
            ["--format", "jpg"],
            "error: --format jpg with preset 'p' (16-bit results): JPEG holds 8 bits per "
            "channel; add --bit-depth 8, or choose --format png or tif",
        ),
        (
            ["--format", "jpg"],
            ["--bit-depth", "16"],
            "error: --bit-depth 16: preset 'p' writes JPEG: JPEG holds 8 bits per channel; "
            "add --format png or tif",
        ),
        (
            None,
            ["--format", "webp", "--bit-depth", "16"],
            "error: --bit-depth 16 with --format webp: WebP holds 8 bits per channel; choose "
            "--format png or tif, or leave out --bit-depth",
        ),
    ],
)
def test_sixteen_bits_asked_of_an_eight_bit_format_names_who_asked_and_the_way_out(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    preset: list[str] | None,
    flags: list[str],
    expected: str,
) -> None:
    src = _photo(tmp_path / "in" / "a.png")
    if preset is not None:
        assert main(["presets", "save", "p", "--model", "lanczos-x2", *preset]) == 0
        which = ["--preset", "p"]
    else:
        which = ["--model", "lanczos-x2"]
    capsys.readouterr()
    assert main(["restore", str(src), *which, *flags, "-o", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.strip() == expected
    assert not (tmp_path / "out").exists()
    if preset is not None:
        remove_preset("p")
