"""Option checks at the boundary (`deconv_gui.core.validate`) and the CLI's answers to bad
command lines: one ``error:`` line, a non-zero exit, never "unexpected"."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from deconv_gui import cli
from deconv_gui.core.validate import (
    MAX_THREADS,
    MAX_TILE,
    MIN_TILE,
    OptionError,
    check_at_least_one,
    check_seed,
    check_strength,
    check_threads,
    check_tile_size,
)
from deconv_gui.models.classical import classical_specs
from deconv_gui.models.registry import StrengthSpec

CLASSICAL = {s.id: s for s in classical_specs()}


def _photo(path: Path, size: tuple[int, int] = (40, 32), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DECONV_GUI_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "deconv_gui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )


# ----------------------------------------------------------------------------- checks
@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_tile_size_is_accepted_exactly_in_range(value: int) -> None:
    if 1 <= value <= MAX_TILE:
        assert check_tile_size(value) == max(value, MIN_TILE)
    else:
        with pytest.raises(OptionError, match=r"^tile size must be at (least|most) "):
            check_tile_size(value)
    assert check_tile_size(None) is None


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_counts_threads_and_seeds(value: int) -> None:
    for check, ok in (
        (check_at_least_one, value >= 1),
        (check_threads, 1 <= value <= MAX_THREADS),
        (check_seed, value >= 0),
    ):
        if ok:
            assert check(value, "--x") == value
        else:
            with pytest.raises(OptionError, match=r"^--x must be "):
                check(value, "--x")


@given(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6),
    st.floats(min_value=0, max_value=1e6),
)
def test_strength_is_accepted_exactly_within_the_card_range(
    value: float, low: float, span: float
) -> None:
    level = StrengthSpec("Level", low, low + span, low)
    spec = dataclasses.replace(CLASSICAL["wiener-deblur"], strength=level)
    if math.isfinite(value) and low <= value <= low + span:
        assert check_strength(spec, value, "--strength") == value
    else:
        with pytest.raises(OptionError, match=r"^--strength (must be a finite|for 'wiener)"):
            check_strength(spec, value, "--strength")


def test_strength_messages_name_the_range_and_models_without_strength() -> None:
    with pytest.raises(OptionError, match=r"between 1 and 100, got 1e\+06"):
        check_strength(CLASSICAL["rl-deblur"], 1e6)
    named = dataclasses.replace(
        CLASSICAL["wiener-deblur"], strength=StrengthSpec("Strength", 0.0, 75.0, 25.0)
    )
    with pytest.raises(OptionError, match=r"^--strength for 'wiener-deblur' must be between"):
        check_strength(named, 500.0, "--strength")  # "(strength)" would say it twice
    level = dataclasses.replace(named, strength=StrengthSpec("Noise level", 0.0, 75.0, 25.0))
    with pytest.raises(OptionError, match=r"'wiener-deblur' \(noise level\) must be between"):
        check_strength(level, 500.0, "--strength")
    with pytest.raises(OptionError, match="'bicubic-x2' has no strength setting"):
        check_strength(CLASSICAL["bicubic-x2"], 3.0)
    assert check_strength(CLASSICAL["bicubic-x2"], None) is None
    for bad in (True, "3", None):
        with pytest.raises(OptionError, match="whole number"):
            check_seed(bad, "seed")  # type: ignore[arg-type]


def _parse(argv: list[str]) -> tuple[object, list[str]]:
    """(parsed namespace or the exception raised, stderr lines) for a command line."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            args = cli.build_parser().parse_args(argv)
            cli._check_args(args)
            outcome: object = args
        except (SystemExit, OptionError) as exc:
            outcome = exc
    return outcome, err.getvalue().splitlines()


@pytest.mark.parametrize(
    ("option", "command"),
    [
        ("--tile", ["restore", "x.png", "--model", "nlm-denoise"]),
        ("--threads", ["restore", "x.png", "--model", "nlm-denoise"]),
        ("--max-pixels", ["restore", "x.png", "--model", "nlm-denoise"]),
        ("--seed", ["degrade", "x.png", "-o", "y.png", "--noise", "5"]),
        ("--limit", ["eval", "d", "--model", "nlm-denoise", "--degrade", "noise=5"]),
        ("--strength", ["restore", "x.png", "--model", "nlm-denoise"]),
        ("--steps", ["finetune", "--base", "b", "--noisy", "d", "--name", "n"]),
    ],
)
@given(text=st.one_of(st.integers().map(str), st.floats().map(str), st.text(max_size=12)))
def test_option_parsing_either_accepts_a_valid_value_or_says_why_in_one_line(
    option: str, command: list[str], text: str
) -> None:
    outcome, lines = _parse([*command, f"{option}={text}"])
    attr = option[2:].replace("-", "_")
    if isinstance(outcome, SystemExit):  # argparse: not a number at all
        assert outcome.code == 2
        assert len(lines) == 1 and lines[0].startswith(f"error: argument {option}: invalid")
    elif isinstance(outcome, OptionError):
        assert str(outcome).startswith(f"{option} must be ")
        assert "\n" not in str(outcome)
    else:
        value = getattr(outcome, attr)
        if attr == "strength":
            assert math.isfinite(value)
        elif attr == "tile":
            assert MIN_TILE <= value <= MAX_TILE
        elif attr == "seed":
            assert value >= 0
        else:
            assert value >= 1


# ----------------------------------------------------------------- through the real CLI
BAD_COMMAND_LINES = {
    "tile-zero": (["restore", "{good}", "--model", "bicubic-x2", "--tile", "0"], "--tile must"),
    "tile-negative": (["restore", "{good}", "--model", "bicubic-x2", "--tile=-5"], "--tile must"),
    "tile-text": (["restore", "{good}", "--model", "bicubic-x2", "--tile", "big"], "invalid int"),
    "threads": (["restore", "{good}", "--model", "bicubic-x2", "--threads=-3"], "--threads must"),
    "max-pixels": (["restore", "{good}", "--model", "bicubic-x2", "--max-pixels", "0"], "at least"),
    "strength-nan": (
        ["restore", "{good}", "--model", "wiener-deblur", "--strength", "nan"],
        "finite number",
    ),
    "strength-inf": (
        ["restore", "{good}", "--model", "nlm-denoise", "--strength", "inf"],
        "finite number",
    ),
    "strength-range": (
        ["restore", "{good}", "--model", "rl-deblur", "--strength", "100000"],
        "between 1 and 100",
    ),
    "strength-none": (
        ["restore", "{good}", "--model", "bicubic-x2", "--strength", "3"],
        "has no strength setting",
    ),
    "seed": (["degrade", "{good}", "-o", "{tmp}/d.png", "--noise", "5", "--seed=-1"], "--seed"),
    "limit-negative": (
        ["eval", "{tmp}", "--model", "bicubic-x2", "--degrade", "downscale=2", "--limit=-1"],
        "--limit must be at least 1",
    ),
    "limit-zero": (
        ["eval", "{tmp}", "--model", "bicubic-x2", "--degrade", "downscale=2", "--limit", "0"],
        "--limit must be at least 1",
    ),
    "eval-missing": (
        ["eval", "{tmp}/nope", "--model", "bicubic-x2", "--degrade", "downscale=2"],
        "folder not found",
    ),
    "eval-empty": (
        ["eval", "{tmp}/empty", "--model", "bicubic-x2", "--degrade", "downscale=2"],
        "no images in",
    ),
    "steps": (
        ["finetune", "--base", "x", "--noisy", "{tmp}", "--name", "n", "--steps", "0"],
        "--steps must be at least 1",
    ),
    "unknown-command": (["restor", "{good}"], "unknown command 'restor' (did you mean 'restore'?)"),
    "unknown-word": (["frobnicate"], "unknown command 'frobnicate'"),
}


@pytest.mark.parametrize("case", sorted(BAD_COMMAND_LINES))
def test_bad_options_give_one_error_line_and_change_nothing(tmp_path: Path, case: str) -> None:
    argv, expected = BAD_COMMAND_LINES[case]
    good = _photo(tmp_path / "good.png")
    (tmp_path / "empty").mkdir()
    before = _files(tmp_path)
    proc = run_cli(*(a.format(good=good, tmp=tmp_path) for a in argv))
    assert proc.returncode != 0
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert expected in errors[0]
    assert "unexpected" not in proc.stderr.lower() and "Traceback" not in proc.stderr
    assert _files(tmp_path) == before  # nothing written, inputs untouched


def test_a_path_opens_the_window_and_a_mistyped_command_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    opened: list[list[str]] = []
    monkeypatch.setattr(cli, "_run_gui", lambda paths: opened.append(list(paths)) or 0)
    folder = tmp_path / "photos"
    folder.mkdir()
    for argv in (["missing.jpg"], [str(folder)], ["some/where"], []):
        assert cli.main(argv) == 0
    assert opened == [["missing.jpg"], [str(folder)], ["some/where"], []]
    assert cli.main(["restor", "x.jpg"]) == 2
    assert cli.main(["modles"]) == 2
    assert opened == [["missing.jpg"], [str(folder)], ["some/where"], []]
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "error: unknown command 'restor' (did you mean 'restore'?); a photo to open must exist",
        "error: unknown command 'modles' (did you mean 'models'?); a photo to open must exist",
    ]


# ------------------------------------------------------------------ naming through the CLI
def test_same_named_inputs_from_two_folders_give_two_results(tmp_path: Path) -> None:
    a = _photo(tmp_path / "a" / "x.png", seed=1)
    b = _photo(tmp_path / "b" / "x.png", seed=2)
    out = tmp_path / "out"
    argv = ["restore", str(a), str(b), "--model", "bicubic-x2", "-o", str(out), "--overwrite"]
    assert cli.main(argv) == 0
    assert sorted(p.name for p in out.iterdir() if p.name[0] != ".") == ["x_x2-2.png", "x_x2.png"]
    first = np.asarray(Image.open(out / "x_x2.png"))
    second = np.asarray(Image.open(out / "x_x2-2.png"))
    assert not np.array_equal(first, second)  # two results, none replaced the other
    assert cli.main(argv) == 0  # again with --overwrite: the same two names
    assert sorted(p.name for p in out.iterdir() if p.name[0] != ".") == ["x_x2-2.png", "x_x2.png"]


def test_recursive_restore_mirrors_the_folder_tree(tmp_path: Path) -> None:
    _photo(tmp_path / "in" / "x.png")
    _photo(tmp_path / "in" / "2024" / "x.png", seed=3)
    out = tmp_path / "out"
    assert (
        cli.main(["restore", "-r", str(tmp_path / "in"), "--model", "bicubic-x2", "-o", str(out)])
        == 0
    )
    results = sorted(k for k in _files(out) if not k.startswith(".deconv-gui"))  # + manifest
    assert results == ["2024/x_x2.png", "x_x2.png"]


def test_an_over_long_name_is_shortened_not_a_failure(tmp_path: Path) -> None:
    src = _photo(tmp_path / ("n" * 250 + ".png"))
    assert cli.main(["restore", str(src), "--model", "bicubic-x2"]) == 0
    (result,) = (p for p in tmp_path.iterdir() if p != src)
    assert result.name.endswith("_x2.png") and len(result.name.encode()) <= 255


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_fifo_in_the_input_folder_is_skipped_and_the_rest_is_done(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    _photo(folder / "a.png")
    os.mkfifo(folder / "b.png")
    _photo(folder / "c.png", seed=4)
    out = tmp_path / "out"
    try:
        proc = run_cli("restore", str(folder), "--model", "bicubic-x2", "-o", str(out), timeout=90)
    except subprocess.TimeoutExpired:
        fd = os.open(folder / "b.png", os.O_WRONLY | os.O_NONBLOCK)  # let the reader go
        os.close(fd)
        pytest.fail("the CLI hung on a named pipe")
    assert proc.returncode == 0, proc.stderr
    assert f"warning: skipped {folder / 'b.png'}: a named pipe (FIFO), not a file" in proc.stderr
    assert sorted(p.name for p in out.iterdir() if p.name[0] != ".") == ["a_x2.png", "c_x2.png"]


def test_eval_goes_on_past_an_unreadable_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "clean"
    _photo(folder / "a.png", (48, 32))
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    _photo(folder / "c.png", (48, 32), seed=2)
    _photo(folder / "d.png", (1, 1), seed=3)
    argv = ["eval", str(folder), "--model", "bicubic-x2", "--degrade", "downscale=2", "--json"]
    assert cli.main(argv) == 1  # the mean leaves two photos out: not a clean success
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert [r["name"] for r in report["images"]] == ["a.png", "c.png"]
    assert [f["name"] for f in report["failed"]] == ["b.png", "d.png"]
    # in plain words, not the decoder's exception
    assert "warning: not measured: b.png: the file is damaged" in captured.err  # named once
    assert "warning: not measured: d.png: 1x1 px is too small to downscale by 2" in captured.err
    # the images after the broken one keep their seeds: the same numbers as without it
    (folder / "b.png").unlink()
    _photo(folder / "b.png", (48, 32), seed=7)
    assert cli.main(argv) == 1  # d.png is still too small
    full = json.loads(capsys.readouterr().out)
    for key in ("name", "input_psnr", "output_psnr", "output_ssim"):
        assert full["images"][2][key] == report["images"][1][key]
