"""The `deconv-gui` command-line contract (issue: foundation, point 9 and 10)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deconv_gui.cli import main
from deconv_gui.models.registry import TASKS


def _photo(path: Path, size: tuple[int, int] = (48, 40), seed: int = 0, exif: bool = True) -> Path:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
    base = np.stack([xx / size[0], yy / size[1], 0.5 + 0 * xx], axis=-1) * 200 + 20
    arr = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr)
    kw = {}
    if exif:
        ex = Image.Exif()
        ex[0x010F] = "TestCam"  # Make
        ex[0x0110] = "T-1"  # Model
        kw["exif"] = ex.tobytes()
    img.save(path, **kw)
    return path


def _photo_folder(folder: Path, n: int, size: tuple[int, int], seed: int = 0) -> Path:
    """`folder` with n photos 0.png ... (n-1).png of `size`, seeds seed, seed + 1, ..."""
    folder.mkdir()
    for i in range(n):
        _photo(folder / f"{i}.png", size=size, seed=seed + i)
    return folder


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deconv_gui", *args], capture_output=True, text=True, timeout=300
    )


def test_models_json_lists_classical_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json"]) == 0
    models = json.loads(capsys.readouterr().out)
    ids = {m["id"]: m for m in models}
    for needed in ("nlm-denoise", "bicubic-x2", "lanczos-x4", "wiener-deblur", "rl-deblur"):
        assert needed in ids
    for m in models:
        assert {"id", "name", "task", "scale", "kind"} <= set(m)
        assert m["kind"] in ("bundled", "classical", "imported", "finetuned")
        assert m["task"] in TASKS
    assert ids["lanczos-x4"]["scale"] == 4 and ids["lanczos-x4"]["task"] == "upscale"


def test_models_list_marks_a_retired_model_and_it_still_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models"]) == 0
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines() if ln.strip()}
    assert "RETIRED: redunet-denoise-fast" in lines["redunet-denoise"]
    assert "RETIRED" not in lines["redunet-denoise-fast"]
    # columns line up, the longest task name ("raw-denoise") included
    assert len({re.search(r"  x\d+  ", ln).start() for ln in lines.values()}) == 1  # type: ignore[union-attr]
    src = _photo(tmp_path / "in.png")  # named by id, a retired model still works
    out = tmp_path / "out.png"
    argv = ["restore", str(src), "--model", "redunet-denoise", "--strength", "5", "--output"]
    assert main([*argv, str(out)]) == 0 and out.exists()


def test_restore_file_keeps_metadata_and_original(tmp_path: Path) -> None:
    src = _photo(tmp_path / "in.jpg")
    before = _digest(src)
    out = tmp_path / "out.png"
    assert main(["restore", str(src), "--model", "bicubic-x2", "--output", str(out)]) == 0
    assert _digest(src) == before
    with Image.open(out) as im:
        assert im.format == "PNG"  # format follows the output extension
        assert im.size == (96, 80)
        assert im.getexif().get(0x010F) == "TestCam"


def test_restore_folder_continues_after_a_bad_file(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _photo(folder / "a.png", seed=1)
    (folder / "b.png").write_text("this is not an image")
    _photo(folder / "c.png", seed=2)
    out = tmp_path / "out"
    rc = main(
        ["restore", str(folder), "--model", "nlm-denoise", "--strength", "10", "-o", str(out)]
    )
    assert rc == 1  # one file failed
    written = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert written == ["a_denoised.png", "c_denoised.png"]  # (and the hidden manifest)


def test_restore_refuses_to_overwrite_without_flag(tmp_path: Path) -> None:
    src = _photo(tmp_path / "in.png")
    out = _photo(tmp_path / "out.png", seed=5)
    before = _digest(out)
    assert main(["restore", str(src), "--model", "bicubic-x2", "-o", str(out)]) == 1
    assert _digest(out) == before
    assert main(["restore", str(src), "--model", "bicubic-x2", "-o", str(out), "--overwrite"]) == 0
    assert _digest(out) != before


def test_metrics_json_identical_and_different(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _photo(tmp_path / "a.png", seed=1)
    b = _photo(tmp_path / "b.png", seed=2)
    assert main(["metrics", str(a), str(a), "--json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["ssim"] == pytest.approx(1.0)
    assert main(["metrics", str(a), str(b), "--json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert 0.0 < diff["ssim"] < 0.99
    assert 10.0 < diff["psnr"] < 40.0


def test_degrade_then_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _photo(tmp_path / "clean.png", size=(64, 64))
    noisy = tmp_path / "noisy.png"
    assert main(["degrade", str(src), "-o", str(noisy), "--noise", "25", "--seed", "3"]) == 0
    capsys.readouterr()
    assert main(["metrics", str(src), str(noisy), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    # sigma 25 Gaussian noise on the 0-255 scale is about 20 dB PSNR (clipping lowers it a bit).
    assert 19.0 < m["psnr"] < 22.5
    small = tmp_path / "small.png"
    assert main(["degrade", str(src), "-o", str(small), "--downscale", "4"]) == 0
    with Image.open(small) as im:
        assert im.size == (16, 16)
    # never over the clean photo itself, even with --overwrite; a folder is not a file name
    before = _digest(src)
    assert main(["degrade", str(src), "-o", str(src), "--noise", "5", "--overwrite"]) == 1
    assert "would replace the original photo" in capsys.readouterr().err
    assert _digest(src) == before
    assert main(["degrade", str(src), "-o", str(tmp_path), "--noise", "5"]) == 1
    assert f"output {tmp_path} is a folder: name the file" in capsys.readouterr().err


def test_eval_reports_input_and_output_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _photo_folder(tmp_path / "clean", 2, (64, 48))
    rc = main(["eval", str(folder), "--model", "bicubic-x2", "--degrade", "downscale=2", "--json"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["images"]) == 2
    mean = report["mean"]
    # bicubic x2 of a bicubic-downscaled image is exactly the bicubic input baseline
    assert mean["output_psnr"] == pytest.approx(mean["input_psnr"], abs=0.5)
    assert 0.0 < mean["output_ssim"] <= 1.0
    assert report["precision"] == "float32"


def test_eval_of_a_model_whose_scale_does_not_fit_the_degradation_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _photo_folder(tmp_path / "clean", 1, (64, 48))
    for model, degrade, words in (
        ("bicubic-x2", "noise=25", "bicubic-x2 enlarges x2: measure it on photos made smaller"),
        ("bicubic-x2", "downscale=4", "(--degrade downscale=2"),
        ("nlm-denoise", "downscale=2", "nlm-denoise does not enlarge, so it cannot undo"),
    ):
        assert main(["eval", str(folder), "--model", model, "--degrade", degrade]) == 1
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_eval_in_reduced_precision_says_so_and_stays_close(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _photo_folder(tmp_path / "clean", 2, (96, 64))
    monkeypatch.setenv("DECONV_GUI_CPU_BF16", "1")  # as on a CPU with fast bfloat16
    argv = ["eval", str(folder), "--model", "redunet-denoise", "--degrade", "noise=25"]
    reports = {}
    for extra in ([], ["--reduced-precision"]):
        assert main([*argv, "--strength", "25", "--json", *extra]) == 0
        r = json.loads(capsys.readouterr().out)
        reports[r["precision"]] = r["mean"]["output_psnr"]
    assert set(reports) == {"float32", "bfloat16"}
    assert reports["float32"] > 25  # the network really denoised
    assert abs(reports["bfloat16"] - reports["float32"]) < 0.05


def test_eval_with_extra_quality_runs_eight_passes_and_gains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _photo_folder(tmp_path / "clean", 2, (96, 64))
    argv = ["eval", str(folder), "--model", "redunet-denoise-fast", "--degrade", "noise=25"]
    psnr = {}
    for extra in ([], ["--extra-quality"]):
        assert main([*argv, "--strength", "25", "--json", *extra]) == 0
        r = json.loads(capsys.readouterr().out)
        psnr[r["extra_quality"]] = r["mean"]["output_psnr"]
    # the average of eight flipped passes leaves less noise than one pass
    assert psnr[True] > psnr[False] + 0.05, psnr


def test_self_test_passes() -> None:
    assert main(["self-test"]) == 0


@pytest.mark.parametrize(
    "case",
    ["missing", "empty", "truncated", "text", "bomb", "unknown-model", "sizes", "unwritable"],
)
def test_bad_input_gives_one_line_and_nonzero_exit(tmp_path: Path, case: str) -> None:
    good = _photo(tmp_path / "good.png")
    if case == "missing":
        args = ["restore", str(tmp_path / "nope.png"), "--model", "bicubic-x2"]
    elif case == "empty":
        (tmp_path / "empty.png").write_bytes(b"")
        args = ["restore", str(tmp_path / "empty.png"), "--model", "bicubic-x2"]
    elif case == "truncated":
        jpg = _photo(tmp_path / "t.jpg", size=(200, 150))
        data = jpg.read_bytes()
        jpg.write_bytes(data[: len(data) // 2])
        args = ["restore", str(jpg), "--model", "bicubic-x2"]
    elif case == "text":
        (tmp_path / "t.png").write_text("hello, not a PNG")
        args = ["restore", str(tmp_path / "t.png"), "--model", "bicubic-x2"]
    elif case == "bomb":
        args = ["restore", str(good), "--model", "bicubic-x2", "--max-pixels", "100"]
    elif case == "unknown-model":
        args = ["restore", str(good), "--model", "no-such-model"]
    elif case == "sizes":
        other = _photo(tmp_path / "other.png", size=(30, 30))
        args = ["metrics", str(good), str(other)]
    else:  # an output folder that cannot be created (its parent is a file)
        args = ["restore", str(good), str(good), "--model", "bicubic-x2", "-o", str(good / "sub")]
    before = _digest(good)
    proc = run_cli(*args)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert lines, proc.stderr
    assert all(len(ln) < 300 for ln in lines)
    for ln in lines:  # the photo named once: "error: cannot read a/empty.png: the file is empty"
        if "cannot read" in ln.lower():
            names = [Path(w).name for w in ln.replace(":", " ").split() if w.endswith(".png")]
            assert len(names) == len(set(names)), ln
    assert _digest(good) == before


def test_several_inputs_into_a_file_name_are_refused(tmp_path: Path) -> None:
    a, b = _photo(tmp_path / "a.png"), _photo(tmp_path / "b.png")
    proc = run_cli(
        "restore", str(a), str(b), "--model", "bicubic-x2", "-o", str(tmp_path / "x.jpg")
    )
    assert proc.returncode == 1
    assert "names a file, but several inputs need a folder" in proc.stderr
    assert not (tmp_path / "x.jpg").exists()
    # a trailing separator asks for the folder
    folder = str(tmp_path / "x.jpg") + "/"
    assert run_cli("restore", str(a), str(b), "--model", "bicubic-x2", "-o", folder).returncode == 0
    assert sorted(p.name for p in (tmp_path / "x.jpg").glob("*.png")) == ["a_x2.png", "b_x2.png"]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    proc = run_cli("watch", str(inbox), "--model", "bicubic-x2", "-o", str(tmp_path / "y.tif"))
    assert proc.returncode == 1 and "watching needs an output folder" in proc.stderr
    assert not (tmp_path / "y.tif").exists()


def test_one_input_into_a_name_without_extension_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-o out` (no extension, no such folder) with one photo: neither a file type nor a
    folder, so the run is refused with both ways out, before any work."""
    a = _photo(tmp_path / "a.png")
    out = tmp_path / "out"
    assert main(["restore", str(a), "--model", "bicubic-x2", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"output {out} has no file extension: name the file (out.png) or end a" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert main(["restore", str(a), "--model", "bicubic-x2", "-o", f"{out}/"]) == 0
    assert (out / "a_x2.png").is_file()
    # a file where a folder of the output's path should be
    assert main(["restore", str(a), "--model", "bicubic-x2", "-o", str(a / "x.png")]) == 1
    assert f"error: output {a / 'x.png'}: {a} is a file, not a folder" in capsys.readouterr().err


def test_the_original_is_never_the_output_even_with_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-o photo.png --overwrite` for photo.png itself (or a link to it) is refused before
    any work: --overwrite replaces earlier results, never an original."""
    a = _photo(tmp_path / "a.png")
    before = _digest(a)
    (tmp_path / "link.png").symlink_to(a)
    for out, what in ((a, "the output"), (tmp_path / "link.png", "link.png")):
        assert (
            main(["restore", str(a), "--model", "bicubic-x2", "-o", str(out), "--overwrite"]) == 1
        )
        err = capsys.readouterr().err
        assert f"{what} is the original photo itself: originals are never replaced" in err
    assert _digest(a) == before and (tmp_path / "link.png").is_symlink()


def test_outputs_that_cannot_be_written_are_refused_before_the_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A DNG of a model's RGB result, or a file type we do not write, is refused in one
    line before any photo is processed (they had failed after the model ran)."""
    a = _photo(tmp_path / "a.png")
    for extra in (["-o", str(tmp_path / "a.dng")], ["--format", "dng", "-o", str(tmp_path)]):
        assert main(["restore", str(a), "--model", "bicubic-x2", *extra]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: a DNG holds the sensor's data, which bicubic-x2 does not")
        assert len(err.strip().splitlines()) == 1
    assert main(["restore", str(a), "--model", "bicubic-x2", "-o", str(tmp_path / "a.crw")]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        f"error: -o {tmp_path / 'a.crw'}: cannot write '.crw' (choose one of bmp, dng, jpeg, "
        "jpg, png, tif, tiff, webp)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_a_file_name_that_is_not_utf8_goes_through_a_resumable_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Names from old Windows folders or zip files (bytes that are not UTF-8) are recorded
    in the manifest (JSON escapes) and resumed; the run had stopped with UnicodeEncodeError."""
    import os

    folder = tmp_path / "in"
    folder.mkdir()
    _photo(folder / "ok.png")
    odd = folder / os.fsdecode(b"x\xff y.png")
    try:
        _photo(odd, seed=1)
    except (OSError, UnicodeError):
        pytest.skip("this file system does not take such names")
    out = tmp_path / "out"
    assert main(["restore", str(folder), "--model", "bicubic-x2", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == [
        "ok_x2.png",
        os.fsdecode(b"x\xff y_x2.png"),
    ]
    capsys.readouterr()
    assert main(["restore", str(folder), "--model", "bicubic-x2", "-o", str(out)]) == 0
    assert "2 done before" in capsys.readouterr().err


def test_a_blur_kernel_is_checked_before_any_photo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad --kernel, or one given to a model that takes none (also in a recipe file), is
    one error line before any photo (it had failed every photo, or been ignored)."""
    a = _photo(tmp_path / "a.png")
    recipe = tmp_path / "r.json"
    recipe.write_text('{"steps": [{"model": "nlm-denoise", "params": {"kernel": "disk:3"}}]}')
    for args, words in (
        (["--model", "wiener-deblur", "--kernel", "bogus"], "bad blur kernel 'bogus'"),
        (["--model", "nlm-denoise", "--kernel", "gaussian:2"], "nlm-denoise takes no blur kernel"),
        (["--recipe", str(recipe)], "the recipe's step 1 (nlm-denoise) takes no blur kernel"),
    ):
        assert main(["restore", str(a), *args, "-o", str(tmp_path / "o.png")]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: {words}") and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o.png").exists()


def test_earlier_results_are_not_taken_for_photos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An earlier run's output folder inside the listed tree, and results an output
    folder's manifest records (even with an empty suffix, whose names look like originals),
    are not restored again: reruns had snowballed into p1_x2_x2.png and s-2-2-2.png."""
    batch = tmp_path / "batch"
    (batch / "sub").mkdir(parents=True)
    _photo(batch / "p1.png")
    _photo(batch / "sub" / "p2.png", seed=1)
    run = ["--model", "bicubic-x2", "--recursive"]
    assert main(["restore", str(batch), *run, "-o", str(batch / "out")]) == 0
    assert main(["restore", str(batch), *run]) == 0  # next to the originals now
    names = sorted(p.relative_to(batch).as_posix() for p in batch.rglob("*.png"))
    assert names == [
        "out/p1_x2.png", "out/sub/p2_x2.png", "p1.png", "p1_x2.png", "sub/p2.png", "sub/p2_x2.png"
    ]  # fmt: skip
    same = tmp_path / "same"
    same.mkdir()
    _photo(same / "s.png")
    for _ in range(3):
        assert (
            main(["restore", str(same), "-o", str(same), "--suffix", "", "--model", "bicubic-x2"])
            == 0
        )
    assert sorted(p.name for p in same.glob("*.png")) == ["s-2.png", "s.png"]
    # a folder of results is the next run's photos when it is listed as its input
    up = tmp_path / "up"
    assert main(["restore", str(batch / "out"), *run, "-o", str(up)]) == 0
    assert sorted(p.relative_to(up).as_posix() for p in up.rglob("*.png")) == [
        "p1_x2_x2.png", "sub/p2_x2_x2.png"
    ]  # fmt: skip
    capsys.readouterr()


def test_options_that_contradict_each_other_are_refused_not_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _photo(tmp_path / "a.png")
    run = ["restore", str(a), "--model", "bicubic-x2"]
    assert main([*run, "--format", "jpg", "-o", str(tmp_path / "x.png")]) == 1
    assert "format jpg (--format, or the preset's) and the output name x.png disagree" in (
        capsys.readouterr().err
    )
    assert main([*run, "--format", "jpg", "-o", str(tmp_path / "x.jpeg")]) == 0  # both JPEG
    assert main([*run, "-o", f"{a}/"]) == 1
    assert f"output {a} is a file, but {a}/ asks for a folder" in capsys.readouterr().err
    assert main(["self-test", "--screenshot", str(tmp_path / "s.png")]) == 1
    assert "--screenshot is for the window's self-test: add --gui" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_with_json_an_error_before_the_run_is_json_on_stdout_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _photo(tmp_path / "a.png")
    assert main(["restore", str(a), "--model", "bicubic-x2", "--strength", "nan", "--json"]) == 1
    out = capsys.readouterr()
    assert json.loads(out.out) == {
        "event": "error",
        "error": "--strength must be a finite number, got nan",
    }
    assert out.err.startswith("error: --strength must be a finite number")


def test_a_reader_that_goes_away_ends_the_listing_quietly() -> None:
    proc = subprocess.run(
        f"{sys.executable} -m deconv_gui.cli models --json | head -c 10",
        shell=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_small_mistakes_get_the_right_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DECONV_GUI_HOME", str(tmp_path / "home"))
    a = _photo(tmp_path / "a.png")
    assert main(["models", "import", str(tmp_path)]) == 1
    assert f"{tmp_path}: a folder, not a model file" in capsys.readouterr().err
    assert main(["degrade", str(a), "-o", str(tmp_path / "d.png"), "--downscale", "0"]) == 1
    assert "downscale factor must be 2, 3 or 4, got '0'" in capsys.readouterr().err
    args = ["watch", str(tmp_path / "nosuch"), "-o", str(tmp_path / "w"), "--model", "bicubic-x2"]
    assert main(args) == 1
    out = capsys.readouterr()
    assert "not a folder to watch" in out.err and "watching" not in out.err + out.out


def test_sixteen_bits_where_the_format_holds_eight(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--bit-depth 16` with a format that holds 8 bits is refused; with the originals' own
    formats, the results that come out 8-bit are named on stderr and the others keep 16."""
    a, b = _photo(tmp_path / "a.png"), _photo(tmp_path / "b.jpg", seed=1)
    run = ["restore", "--model", "bicubic-x2", "--bit-depth", "16"]
    for fmt, name in (("jpg", "JPEG"), ("webp", "WebP")):
        assert main([*run, str(a), "--format", fmt, "-o", str(tmp_path / "o1")]) == 1
        assert (
            f"error: --bit-depth 16 with --format {fmt}: {name} holds 8 bits per channel; "
            "choose --format png or tif, or leave out --bit-depth"
        ) in capsys.readouterr().err
    assert not (tmp_path / "o1").exists()
    assert main([*run, str(a), str(b), "-o", str(tmp_path / "o2")]) == 0
    err = capsys.readouterr().err
    assert "note: b_x2.jpg is written with 8 bits per channel" in err and "a_x2" not in err
    c = _photo(tmp_path / "c.jpg", seed=2)
    assert main([*run, str(a), str(b), str(c), "-o", str(tmp_path / "o5")]) == 0
    assert "note: 2 results (b_x2.jpg...) are written with 8 bits" in capsys.readouterr().err
    assert (tmp_path / "o2" / "a_x2.png").read_bytes()[24] == 16  # IHDR bit depth
    assert main([*run, str(a), "--format", "tif", "-o", f"{tmp_path / 'o3'}/"]) == 0
    assert "note:" not in capsys.readouterr().err
    assert main([*run, str(a), str(b), "--format", "tif", "-o", str(tmp_path / "o4")]) == 0
    assert "note:" not in capsys.readouterr().err


def test_crafted_png_header_bomb_is_refused(tmp_path: Path) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
        )

    ihdr = (100_000).to_bytes(4, "big") + (100_000).to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    proc = run_cli("restore", str(bomb), "--model", "bicubic-x2")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "pixel" in proc.stderr.lower() or "large" in proc.stderr.lower()


def test_finetune_command_prints_json_last(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _photo_folder(tmp_path / "clean", 4, (96, 80), seed=10)
    args = ["finetune", "--base", "redunet-denoise", "--clean", str(folder)]
    args += ["--degrade", "noise=10-20", "--steps", "3", "--name", "my denoiser", "--json"]
    assert main(args) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"id", "val_psnr_before", "val_psnr_after"} <= set(last)
    assert main(["models", "--json"]) == 0
    models = {m["id"]: m for m in json.loads(capsys.readouterr().out)}
    assert models[last["id"]]["kind"] == "finetuned"


def test_finetune_checks_the_name_first_and_names_left_out_photos_at_the_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name on two lines was refused only after the whole training (minutes later); a
    damaged photo was named in the progress and the card but not in the closing lines."""
    from deconv_gui.training.finetune import cli as ft_cli

    folder = _photo_folder(tmp_path / "clean", 4, (96, 80), seed=10)
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    base = ["finetune", "--base", "redunet-denoise", "--clean", str(folder)]
    base += ["--degrade", "noise=10-20", "--steps", "2"]
    trained = []
    real = ft_cli.finetune_job
    monkeypatch.setattr(ft_cli, "finetune_job", lambda *a, **k: trained.append(1) or real(*a, **k))
    assert main([*base, "--name", "two\nlines"]) == 1
    assert "the model name must be one line" in capsys.readouterr().err
    assert not trained
    assert main([*base, "--name", "with a bad one"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == "left out 1 photo(s) that could not be used: broken.png", out[-3:]


def test_finetune_with_too_little_data_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "one"
    folder.mkdir()
    _photo(folder / "only.png")
    proc = run_cli(
        "finetune",
        "--base",
        "redunet-denoise",
        "--noisy",
        str(folder),
        "--steps",
        "2",
        "--name",
        "x",
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error:")


def test_fp32_flag_reaches_the_load_options() -> None:
    from deconv_gui import cli

    parser = cli.build_parser()
    for argv, allowed in (([], True), (["--fp32"], False)):
        args = parser.parse_args(["restore", "x.png", "--model", "nlm-denoise", *argv])
        assert cli._load_options(args).allow_fp16 is allowed
    parser.parse_args(["eval", "--model", "nlm-denoise", "--degrade", "noise=5", "d"])
    with pytest.raises(SystemExit):  # eval has --reduced-precision instead
        parser.parse_args(["eval", "--model", "nlm-denoise", "--degrade", "noise=5", "d", "--fp32"])


def test_bench_restore_reports_timings_quality_and_ratios(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["bench", "restore", "--model", "fsrcnn-x2", "--baseline", "bicubic-x2"]
    argv += ["--megapixels", "0.05", "--repeat", "1", "--threads", "1", "--opencv-nlm"]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in out if "median" in line}
    assert set(rows) == {"fsrcnn-x2", "bicubic-x2", "opencv-nlm"}
    assert "[float32]" in rows["fsrcnn-x2"] and "[" not in rows["bicubic-x2"]

    def db(line: str) -> float:
        return float(line.split("PSNR vs clean ")[1].split()[0])

    assert db(rows["fsrcnn-x2"]) > db(rows["bicubic-x2"])  # the network beats bicubic
    assert sum(line.startswith("ratio ") for line in out) == 2
    assert main(["bench", "ssim", "--size", "160x120", "--repeat", "1", "--no-skimage"]) == 0
    assert "SSIM 160x120" in capsys.readouterr().out


def test_bench_times_deblur_models_on_a_blurred_photo() -> None:
    """Deblur models are timed on the photo blurred (Gaussian sigma 2) with noise 2, the
    kernel given to those that take one; deconvolving beats the blurred input."""
    from deconv_gui.bench import clean_photo, time_restore
    from deconv_gui.core.degrade import blur, parse_kernel
    from deconv_gui.core.metrics import psnr

    clean = clean_photo(0.03)
    blurred = psnr(blur(clean, parse_kernel("gaussian:2")), clean)
    t = time_restore("wiener-deblur", clean, repeat=1)
    assert t.seconds > 0 and t.psnr > blurred


def test_bench_times_jpeg_models_on_a_jpeg() -> None:
    """The JPEG artifact remover is timed on the photo saved at `JPEG_QUALITY`, told that
    quality; it comes out closer to the clean photo than the JPEG."""
    from deconv_gui.bench import JPEG_QUALITY, clean_photo, time_restore
    from deconv_gui.core.degrade import jpeg_compress
    from deconv_gui.core.metrics import psnr

    clean = clean_photo(0.03)
    t = time_restore("redunet-jpeg", clean, repeat=1)
    assert t.seconds > 0 and t.psnr > psnr(jpeg_compress(clean, JPEG_QUALITY), clean) + 0.3


def test_speed_table_times_every_bundled_model_of_a_task(capsys, monkeypatch) -> None:
    """benchmarks/speed_table.py: the JPEG rows are each measured against the default
    denoiser in the same precision; retired models get no row."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    from benchmarks import speed_table
    from deconv_gui.models.catalog import default_registry

    monkeypatch.setattr(speed_table, "set_cpu_threads", lambda n: None)  # keep the suite's

    reg = default_registry()
    default = reg.default_for("denoise").id
    denoisers = speed_table.networks("denoise")
    assert denoisers[0] == default and "redunet-denoise" not in denoisers  # retired
    assert set(speed_table.networks("upscale", 4)) >= {"fsrcnn-x4", "fsrcnn-x4-real"}
    assert "fsrcnn-x2" not in speed_table.networks("upscale", 4)

    args = ["--tasks", "jpeg", "--megapixels", "0.02", "--repeat", "1", "--threads", "1"]
    assert speed_table.main(args) == 0
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table]
    assert rows.pop(0)[0] == "method"  # the header; the |---| line does not start with "| "
    assert rows and all(r[0] == "redunet-jpeg" for r in rows)
    precisions = [r[1] for r in rows]
    assert "float32" in precisions and len(set(precisions)) == len(precisions)
    assert all(r[6].endswith(f"({default})") and r[6].startswith("x") for r in rows)
    with pytest.raises(SystemExit):
        speed_table.main(["--tasks", "colourise"])


def test_suggest_confusion_tabulates_each_family_and_the_clean_folders(
    capsys, monkeypatch, tmp_path: Path
) -> None:
    """benchmarks/suggest_confusion.py: a row per family (its photos degraded), the folder's
    own photos, and a row per ``--clean`` folder with how many were called noisy."""
    import cv2

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    from benchmarks import suggest_confusion

    rng = np.random.default_rng(0)
    for folder in ("degraded", "clean"):
        (tmp_path / folder).mkdir()
        img = cv2.GaussianBlur(rng.random((160, 240, 3)), (0, 0), 3) * 255
        cv2.imwrite(str(tmp_path / folder / "a.png"), img.astype(np.uint8))
    args = ["--folder", str(tmp_path / "degraded"), "--estimate-only", "--clean", "clean"]
    assert suggest_confusion.main(args) == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if r.startswith("| ")]
    names = [r.strip("|").split("|")[0].strip() for r in rows[1:]]
    assert names == [*suggest_confusion.FAMILIES, "clean", "clean clean"]
    noise = rows[1].strip("|").split("|")
    assert int(noise[2]) == 3 and noise[4].strip() == "3"  # 3 noise levels, all "denoise"
    assert "called noisy: 0" in rows[-1]


def test_library_copy_times_a_model_of_an_earlier_commit_beside_the_bundled_one(
    capsys, monkeypatch
) -> None:
    """benchmarks/library_copy.py: a bundled model as committed at a revision becomes a
    library model that loads and restores beside the bundled one; a bad revision is one
    error line and exit 1."""
    repo = Path(__file__).resolve().parents[2]
    if subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True
    ).returncode:
        pytest.skip("not a git checkout: benchmarks/library_copy.py reads committed weights")
    monkeypatch.syspath_prepend(str(repo))
    from benchmarks import library_copy
    from deconv_gui.bench import clean_photo, time_restore
    from deconv_gui.models.catalog import default_registry

    assert library_copy.main(["--rev", "HEAD", "--model", "fsrcnn-x4", "--name", "x4 then"]) == 0
    assert capsys.readouterr().out.strip().endswith("library model id x4-then")
    spec = default_registry().get("x4-then")
    assert spec.kind == "finetuned" and spec.scale == 4 and spec.name == "x4 then"
    t = time_restore("x4-then", clean_photo(0.02), repeat=1)
    assert t.seconds > 0 and t.psnr > 20
    bad = ["--rev", "no-such-rev", "--model", "fsrcnn-x4", "--name", "y"]
    assert library_copy.main(bad) == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_disk_peak_reports_the_peak_before_and_after_the_marked_line(tmp_path: Path) -> None:
    """benchmarks/disk_peak.sh: the most a folder held while the command ran, split at the
    first output line that matches --mark, and the command's own exit status."""
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "disk_peak.sh"
    watched = tmp_path / "watched"
    watched.mkdir()
    command = (
        f"head -c 6000000 /dev/zero > {watched}/big; sleep 1.5; rm {watched}/big; echo cleaned; "
        f"head -c 2000000 /dev/zero > {watched}/small; sleep 1.5; exit 3"
    )
    args = ["bash", str(script), "--every", "0.5", "--mark", "cleaned", str(watched), "--"]
    run = subprocess.run([*args, "bash", "-c", command], capture_output=True, text=True)
    assert run.returncode == 3, run.stderr
    out = run.stdout
    assert "cleaned" in out  # the command's own output goes through
    assert re.search(r"disk peak: [67] MB", out), out
    assert re.search(r"before the mark: [67] MB; after it: [23] MB", out), out
    samples = (tmp_path / "watched-disk-samples.tsv").read_text().splitlines()
    assert len(samples) >= 4


def test_jpeg_remover_on_auto_says_what_it_read_and_never_a_quality_a_png_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A photo that never was a JPEG: Auto finds no compression, says so (not "JPEG quality
    100", what that means for the model) and leaves the photo as it is (the network only
    softens such a photo); a JPEG file: the quality from its tables, and the network runs."""
    png = _photo(tmp_path / "never.png", size=(64, 48))
    jpg = tmp_path / "once.jpg"
    Image.open(png).save(jpg, quality=40)
    said, changed = {}, {}
    for src, extra in ((png, []), (jpg, []), (png, ["--strength", "50"])):
        out = tmp_path / "out" / f"{src.stem}{len(extra)}.png"
        argv = ["restore", str(src), "--model", "redunet-jpeg", "-o", str(out), *extra]
        assert main(argv) == 0
        key = f"{src.suffix}{len(extra)}"
        said[key] = capsys.readouterr().err.strip()
        before = np.asarray(Image.open(src).convert("RGB"), np.int16)
        changed[key] = int(np.abs(np.asarray(Image.open(out), np.int16) - before).max())
    assert said[".png0"].endswith("(Auto: no JPEG artifacts found)"), said
    assert said[".jpg0"].endswith("(Auto: JPEG quality 40)"), said
    assert changed[".png0"] == 0 and changed[".jpg0"] > 0, changed
    assert changed[".png2"] > 0, changed  # quality set by hand: the network runs


@pytest.mark.parametrize(
    "where", [{"format": "dng", "output": "out/"}, {"format": None, "output": "out/x.dng"}]
)
def test_bit_depth_with_dng_output_is_said_to_do_nothing(
    where: dict, caplog: pytest.LogCaptureFixture
) -> None:
    """`--format dng --bit-depth 8` wrote the camera's own bit depth without a word (as
    --quality with a lossless output is said to do nothing)."""
    import argparse
    import logging

    from deconv_gui.cli import _output_from_args

    args = argparse.Namespace(quality=None, bit_depth=8, suffix=None, preset=None, **where)
    with caplog.at_level(logging.WARNING):
        _output_from_args(args)
    assert "--bit-depth is for developed photos: a DNG holds the sensor's own data" in caplog.text


def test_a_cluster_address_where_nothing_answers_is_refused_at_once() -> None:
    """ray.init on such an address retried for minutes in native code (Ctrl+C could not
    stop it), printing Ray's internals; it is refused in one line within seconds."""
    import socket

    from deconv_gui.cluster import _check_reachable
    from deconv_gui.errors import DeconvError

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(DeconvError) as e:  # (before Ray is imported or asked)
            _check_reachable(address)
        assert str(e.value).startswith(f"cannot reach the Ray cluster at {address}: ")
        assert "`ray start --head`" in str(e.value)
    with pytest.raises(DeconvError, match="give the head node as HOST:PORT"):
        _check_reachable("my-head-node")
    with socket.socket() as s:  # where something answers, Ray is asked
        s.bind(("127.0.0.1", 0))
        s.listen()
        _check_reachable(f"127.0.0.1:{s.getsockname()[1]}")
    _check_reachable("local")
    _check_reachable("auto")


def test_finetune_pairs_can_skip_the_photos_that_do_not_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The app has 'Skip the photos that do not match'; the command line refused the folders
    with no way out."""
    before = _photo_folder(tmp_path / "before", 4, (96, 80), seed=10)
    after = _photo_folder(tmp_path / "after", 4, (96, 80), seed=10)
    _photo(before / "extra.png")  # no partner
    args = ["finetune", "--base", "redunet-denoise", "--pairs", str(before), str(after)]
    args += ["--steps", "2", "--name", "pairs"]
    assert main(args) == 1
    assert "--skip-mismatched trains on the pairs that do" in capsys.readouterr().err
    rc = main([*args, "--skip-mismatched"])
    out, err = capsys.readouterr()
    assert "warning: left out: " in err and "extra.png" in err
    assert "do not match up" not in err
    # trained on the 4 pairs: saved, or refused by the guard as no better (both say so)
    assert (rc == 0 and "saved 'pairs'" in out) or (rc == 1 and "Not saved" in err), (out, err)
