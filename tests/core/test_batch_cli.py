"""`deconv-gui restore` at archive scale: folder trees, patterns, resume, JSON lines, kill -9."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deconv_gui.cli import main
from deconv_gui.core.io import load_image


def _photo(path: Path, size: tuple[int, int] = (40, 32), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arr = np.clip(rng.normal(120, 30, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path)
    return path


def _events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _results(out: Path) -> list[str]:
    """Every file below ``out`` except the manifest's folder, as relative paths."""
    return sorted(
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and ".deconv-gui" not in p.parts
    )


def test_folder_tree_with_patterns_json_lines_and_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "shoot"
    for rel in ("a.jpg", "b.png", "day1/c.jpg", "day1/raw/d.jpg", "day2/e.jpg", "day2/f.tif"):
        _photo(src / rel, seed=len(rel))
    out = tmp_path / "out"
    args = ["restore", str(src), "-r", "--model", "lanczos-x2", "-o", str(out), "--json"]
    args += ["--include", "*.jpg", "--include", "*.tif", "--exclude", "day1/raw/*"]
    assert main(args) == 0
    events = _events(capsys.readouterr().out)
    assert _results(out) == ["a_x2.jpg", "day1/c_x2.jpg", "day2/e_x2.jpg", "day2/f_x2.tif"]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "plan" and kinds[-1] == "summary"
    assert events[0] == {
        "event": "plan",
        "total": 4,
        "todo": 4,
        "done_before": 0,
        "existing": 0,
        "not_raw": 0,
        "out_dir": str(out),
    }
    assert kinds.count("start") == kinds.count("done") == 4 and "tile" in kinds
    done = [e for e in events if e["event"] == "done"]
    assert [Path(e["input"]).name for e in done] == ["a.jpg", "c.jpg", "e.jpg", "f.tif"]
    assert all(e["seconds"] >= 0 for e in done)
    assert events[-1]["done"] == 4 and events[-1]["failed"] == 0

    # the same command again: nothing to do, in well under the time of the run
    assert main(args) == 0
    again = _events(capsys.readouterr().out)
    assert again[0]["done_before"] == 4 and again[0]["todo"] == 0
    assert [e["event"] for e in again] == ["plan", "summary"]
    assert again[-1]["done_before"] == 4
    # --force redoes them all
    assert main([*args, "--force"]) == 0
    assert _events(capsys.readouterr().out)[-1]["done"] == 4


def test_a_run_says_what_auto_chose(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from deconv_gui.core.noise import estimate_noise_sigma

    a, b = _photo(tmp_path / "a.png", seed=1), _photo(tmp_path / "b.png", seed=2)
    said = {p.name: f"noise level {estimate_noise_sigma(load_image(p).rgb):.0f}" for p in (a, b)}
    args = ["restore", str(a), str(b), "--model", "nlm-denoise,lanczos-x2", "--json"]
    assert main([*args, "-o", str(tmp_path / "out")]) == 0
    done = [e for e in _events(capsys.readouterr().out) if e["event"] == "done"]
    assert {Path(e["input"]).name: e["auto"] for e in done} == {
        "a.png": [said["a.png"]],
        "b.png": [said["b.png"]],
    }
    # a strength set by hand: nothing to say
    set_by_hand = ["restore", str(a), str(b), "--model", "nlm-denoise", "--json"]
    assert main([*set_by_hand, "--strength", "10", "-o", str(tmp_path / "set")]) == 0
    done = [e for e in _events(capsys.readouterr().out) if e["event"] == "done"]
    assert len(done) == 2 and not any("auto" in e for e in done)
    # one photo, in words: its summary line
    one = ["restore", str(a), "--model", "nlm-denoise", "-o", str(tmp_path / "one.png")]
    assert main(one) == 0
    assert capsys.readouterr().err.strip().endswith(f"one.png (Auto: {said['a.png']})")


def test_a_raw_denoiser_batch_skips_the_jpegs_beside_the_raw_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A camera's card holds RAW+JPEG pairs: each JPEG had failed the run (exit status 1)."""
    from deconv_gui.core.dng import write_dng
    from tests.core.test_dng import synthetic

    src = tmp_path / "card"
    src.mkdir()
    write_dng(src / "IMG_1.dng", synthetic("RGGB", (64, 96)))
    _photo(src / "IMG_1.jpg")
    out = tmp_path / "out"
    args = ["restore", str(src), "--model", "redunet-raw-denoise", "-o", str(out), "--json"]
    assert main(args) == 0
    events = _events(capsys.readouterr().out)
    assert events[0]["not_raw"] == 1 and events[0]["todo"] == 1
    skipped = [e for e in events if e["event"] == "skipped"]
    assert [Path(e["input"]).name for e in skipped] == ["IMG_1.jpg"]
    assert "not a camera RAW file" in skipped[0]["reason"]
    assert events[-1]["done"] == 1 and events[-1]["failed"] == 0
    assert _results(out) == ["IMG_1_denoised.tif"]
    # an ordinary photo named on its own is an error, not a skip
    alone = ["restore", str(src / "IMG_1.jpg"), "--model", "redunet-raw-denoise"]
    assert main([*alone, "-o", str(tmp_path / "x.tif")]) == 1
    assert "is not one" in capsys.readouterr().err


def test_an_existing_output_of_another_origin_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _photo(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_x2.png").write_bytes(b"mine")
    args = ["restore", str(src.parent), "--model", "lanczos-x2", "-o", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "a_x2.png exists, but this folder's record of its runs does not name it" in err
    assert "--skip-existing keeps it, --overwrite replaces it" in err
    assert (out / "a_x2.png").read_bytes() == b"mine"
    # an output folder copied without its hidden record: its results kept, photos skipped
    assert main([*args, "--skip-existing"]) == 0
    assert "1 skipped" in capsys.readouterr().err
    assert (out / "a_x2.png").read_bytes() == b"mine"
    assert main([*args, "--skip-existing", "--overwrite"]) == 1
    assert "--skip-existing keeps them: give one" in capsys.readouterr().err


def test_rerun_into_the_photos_own_folder_does_not_take_its_results_as_photos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shoot = tmp_path / "shoot"
    _photo(shoot / "a.png", seed=1)
    _photo(shoot / "b.png", seed=2)
    both = ["a.png", "a_x2.png", "b.png", "b_x2.png"]
    # results next to the originals (no -o): a rerun must not enlarge a_x2.png into
    # a_x2_x2.png, nor name a.png's result a_x2-2.png because a_x2.png was taken as a photo
    args = ["restore", str(shoot), "--model", "lanczos-x2"]
    assert main(args) == 0
    assert _results(shoot) == both
    first = (shoot / "a_x2.png").read_bytes()
    capsys.readouterr()
    assert main(args) == 1  # nothing recorded them: kept, and said so
    err = capsys.readouterr().err
    assert "a_x2.png already exists (--overwrite, or 'Replace files that already" in err
    assert _results(shoot) == both
    assert main([*args, "--overwrite"]) == 0
    assert _results(shoot) == both
    assert (shoot / "a_x2.png").read_bytes() == first

    # the output folder is the photos' folder: the manifest resumes, nothing is lost
    here = tmp_path / "here"
    _photo(here / "a.png", seed=1)
    args = ["restore", str(here), "--model", "lanczos-x2", "-o", str(here), "--json"]
    assert main(args) == 0
    assert _events(capsys.readouterr().out)[-1]["done"] == 1
    assert main(args) == 0
    assert _events(capsys.readouterr().out)[0]["done_before"] == 1
    _photo(here / "c.png", seed=3)
    assert main(args) == 0
    assert _events(capsys.readouterr().out)[0]["todo"] == 1
    assert _results(here) == ["a.png", "a_x2.png", "c.png", "c_x2.png"]

    # without a suffix a.png may be an original: it is a photo, and a.jpg's result is
    # named around it, never onto it, even with --overwrite
    same = tmp_path / "same"
    _photo(same / "a.png", seed=1)
    _photo(same / "a.jpg", seed=2)
    original = (same / "a.png").read_bytes()
    args = ["restore", str(same), "--model", "lanczos-x2", "--suffix", "", "--format", "png"]
    assert main([*args, "--overwrite"]) == 0
    assert (same / "a.png").read_bytes() == original
    assert _results(same) == ["a-2.png", "a-3.png", "a.jpg", "a.png"]

    # an output folder above the photos' folder still takes them
    up = tmp_path / "up"
    _photo(up / "in" / "a.png", seed=1)
    assert main(["restore", str(up / "in"), "--model", "lanczos-x2", "-o", str(up)]) == 0
    assert _results(up) == ["a_x2.png", "in/a.png"]
    # and one inside it is not listed as photos: its results stay out of the next run
    tree = tmp_path / "tree"
    _photo(tree / "a.png", seed=1)
    args = ["restore", str(tree), "-r", "--model", "lanczos-x2", "-o", str(tree / "out")]
    assert main(args) == 0 and main([*args, "--json"]) == 0
    assert _events(capsys.readouterr().out)[0]["total"] == 1


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_kill_9_in_the_middle_loses_nothing_and_the_rerun_finishes(tmp_path: Path) -> None:
    n = 12
    src = tmp_path / "in"
    for i in range(n):
        _photo(src / f"p{i:02d}.png", size=(320, 240), seed=i)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "deconv_gui", "restore", str(src), "-o", str(out)]
    cmd += ["--model", "nlm-denoise", "--strength", "20", "--json"]
    seen_done = 0
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as p:
        killer = threading.Timer(120, p.kill)
        killer.start()
        try:
            assert p.stdout is not None
            for line in p.stdout:
                if json.loads(line)["event"] == "done":
                    seen_done += 1
                    if seen_done == 3:
                        os.kill(p.pid, signal.SIGKILL)  # in the middle of the 4th photo
                        break
            p.wait(30)
        finally:
            killer.cancel()
    assert p.returncode == -signal.SIGKILL
    kept = {name: (out / name).stat() for name in _results(out) if not name.endswith(".tmp")}
    assert 3 <= len(kept) < n
    for name in kept:  # what is there is complete
        assert load_image(out / name).width == 320
    done = {Path(out_path).name for out_path in _latest(out, "done")}
    assert len(done) >= 3 and done <= set(kept)

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    events = _events(rerun.stdout)
    assert events[0]["done_before"] == len(done) and events[0]["todo"] == n - len(done)
    assert _results(out) == [f"p{i:02d}_denoised.png" for i in range(n)]  # once each, no temp
    for name in done:  # finished photos were not redone
        assert (out / name).stat().st_mtime_ns == kept[name].st_mtime_ns
    assert all(load_image(out / name).width == 320 for name in _results(out))
    assert len(_latest(out, "done")) == n


def _latest(out: Path, status: str) -> list[str]:
    """The outputs of the inputs whose latest manifest record has ``status``."""
    latest = {}
    for line in (out / ".deconv-gui" / "manifest.jsonl").read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:  # a line torn by the kill
            continue
        if rec["kind"] == "file":
            latest[rec["input"]] = rec
    return [r["output"] for r in latest.values() if r["status"] == status]


def test_cluster_without_ray_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    src = _photo(tmp_path / "in" / "a.png")
    args = ["restore", str(src.parent), "--model", "lanczos-x2", "-o", str(tmp_path / "out")]
    assert main([*args, "--cluster", "local"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "error: --cluster needs Ray: pip install 'deconv-gui[cluster]' "
        "(or pip install 'ray[client]')"
    )
    assert main([*args, "--workers", "2"]) == 1
    assert "--workers goes with --cluster" in capsys.readouterr().err


def test_an_output_folder_inside_the_input_folder_is_not_read_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "shoot"
    _photo(src / "a.png")
    _photo(src / "day" / "b.png", seed=1)
    args = ["restore", str(src), "-r", "--model", "lanczos-x2", "-o", str(src / "x2"), "--json"]
    assert main(args) == 0
    assert _events(capsys.readouterr().out)[0]["todo"] == 2
    assert main(args) == 0  # the results in shoot/x2 are not inputs of the rerun
    assert _events(capsys.readouterr().out)[0] == {
        "event": "plan",
        "total": 2,
        "todo": 0,
        "done_before": 2,
        "existing": 0,
        "not_raw": 0,
        "out_dir": str(src / "x2"),
    }
    assert _results(src / "x2") == ["a_x2.png", "day/b_x2.png"]


def test_a_folder_that_cannot_be_listed_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sub-folder that cannot be listed may hold photos: the run says so as an error,
    counts it in the summary and exits 1 (not a warning and 0); a folder argument that
    cannot be listed, and nothing else, is one readable line."""
    src = tmp_path / "shoot"
    _photo(src / "a.png")
    _photo(src / "locked" / "b.png")
    real = os.scandir

    def scandir(path: object):  # root passes chmod: deny the listing itself
        if Path(str(path)).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr("deconv_gui.core.inputs.os.scandir", scandir)
    out = tmp_path / "out"
    args = ["restore", str(src), "-r", "--model", "lanczos-x2", "-o", str(out), "--json"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert f"error: {src / 'locked'}: cannot list the folder: permission denied" in captured.err
    summary = _events(captured.out)[-1]
    assert summary["event"] == "summary" and summary["done"] == 1 and summary["failed"] == 1
    assert _results(out) == ["a_x2.png"]

    assert main(["restore", str(src / "locked"), "--model", "lanczos-x2", "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: {src / 'locked'}: cannot list the folder: permission denied"


def test_a_damaged_manifest_line_is_a_warning_and_two_jobs_share_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    _photo(src / "a.png")
    _photo(src / "b.png", seed=1)
    out = tmp_path / "out"
    x2 = ["restore", str(src), "--model", "lanczos-x2", "-o", str(out)]
    assert main(x2) == 0
    assert main([*x2, "--format", "jpg"]) == 0  # a second job into the same folder
    assert main([*x2, "--json"]) == 0  # the first again: both done before, none refused
    assert _events(capsys.readouterr().out)[0]["done_before"] == 2
    assert _results(out) == ["a_x2.jpg", "a_x2.png", "b_x2.jpg", "b_x2.png"]

    manifest = out / ".deconv-gui" / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if '"status":"done"' in line)
    lines[number - 1] = re.sub(r'"size":\d+', '"size":"big"', lines[number - 1], count=1)
    manifest.write_text("\n".join(lines) + "\n")
    assert main(x2) == 0
    err = capsys.readouterr().err
    assert f"warning: the manifest {manifest} has 1 damaged line ({number})" in err


def test_a_photos_warnings_are_in_its_json_event_and_the_summary_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Transparency that a JPEG cannot hold: said on stderr (as before) and now in the
    photo's "done" event, for scripts; photos without warnings have no such field."""
    src = tmp_path / "in"
    _photo(src / "plain.png")
    rgba = np.zeros((32, 40, 4), np.uint8)
    rgba[..., 1], rgba[8:, :, 3] = 200, 255
    Image.fromarray(rgba).save(src / "logo.png")
    args = ["restore", str(src), "--model", "lanczos-x2", "-o", str(tmp_path / "out")]
    assert main([*args, "--format", "jpg", "--json"]) == 0
    out, err = capsys.readouterr()
    done = {Path(e["input"]).name: e for e in _events(out) if e["event"] == "done"}
    assert set(done) == {"logo.png", "plain.png"} and "warnings" not in done["plain.png"]
    (said,) = done["logo.png"]["warnings"]
    assert "holds no transparency" in said and said in err
    assert _events(out)[-1]["warned"] == 1
    assert main([*args, "--format", "png", "-o", str(tmp_path / "out2")]) == 0
    assert "2 saved in" in capsys.readouterr().err  # PNG keeps it: nothing to warn of
    assert main([*args, "--format", "jpg", "-o", str(tmp_path / "out3")]) == 0
    assert "2 saved, 1 with warnings in" in capsys.readouterr().err


def test_two_models_whose_results_share_a_name_do_not_replace_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two denoisers into one output folder both name the result ``a_denoised.png``: the
    second run replaced the first's result without a word (and a rerun of the first
    replaced it back). It is refused now with the ways out; the same model with other
    settings still redoes it (a rerun with a new strength replaces, as before)."""
    from deconv_gui.cli import main

    src = tmp_path / "in" / "a.png"
    src.parent.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(40, 200, (48, 64, 3), dtype=np.uint8)).save(src)
    out = tmp_path / "out"
    assert main(["restore", str(src), "--model", "nlm-denoise", "-o", f"{out}/"]) == 0
    first = (out / "a_denoised.png").read_bytes()
    capsys.readouterr()
    assert main(["restore", str(src), "--model", "redunet-denoise-fast", "-o", f"{out}/"]) == 1
    err = capsys.readouterr().err
    assert (
        "a_denoised.png is this photo's result from another run (another model or settings)" in err
    )
    assert "--overwrite replaces it, --suffix names this run's results apart" in err
    assert (out / "a_denoised.png").read_bytes() == first
    args = ["restore", str(src), "--model", "redunet-denoise-fast", "-o", f"{out}/"]
    assert main([*args, "--suffix", "_fast"]) == 0 and (out / "a_fast.png").is_file()
    assert (out / "a_denoised.png").read_bytes() == first
    # the first model with another strength: a redo, replaced as before
    assert (
        main(["restore", str(src), "--model", "nlm-denoise", "--strength", "30", "-o", f"{out}/"])
        == 0
    )
    assert (out / "a_denoised.png").read_bytes() != first


@pytest.mark.parametrize("how", ["moved", "renamed folder", "through a link"])
def test_an_archive_reached_by_another_path_resumes_instead_of_redoing_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    """The manifest named inputs by the path typed: the same archive on a drive mounted
    elsewhere, in a renamed folder or through a link was redone in full, each result
    written a second time as "name_denoised-2.jpg"."""
    import shutil

    root = tmp_path / "drive"
    for i in range(3):
        _photo(root / "Archive" / "2019" / f"img{i}.png", seed=i)
    args = ["--model", "nlm-denoise", "--strength", "5", "--json", "-r"]
    assert main(["restore", str(root / "Archive"), "-o", str(root / "Restored"), *args]) == 0
    capsys.readouterr()
    if how == "moved":
        shutil.move(root, tmp_path / "mounted")
        root = tmp_path / "mounted"
        archive = root / "Archive"
    elif how == "renamed folder":
        (root / "Archive").rename(root / "Photos")
        archive = root / "Photos"
    else:
        (tmp_path / "link").symlink_to(root)
        archive, root = tmp_path / "link" / "Archive", tmp_path / "link"
    assert main(["restore", str(archive), "-o", str(root / "Restored"), *args]) == 0
    kinds = [e.get("event") for e in _events(capsys.readouterr().out)]
    assert "done" not in kinds, kinds  # nothing redone
    assert _results(root / "Restored") == [f"2019/img{i}_denoised.png" for i in range(3)]
    # a photo changed since is redone in place, not as a copy
    _photo(archive / "2019" / "img1.png", seed=9)
    assert main(["restore", str(archive), "-o", str(root / "Restored"), *args]) == 0
    assert _results(root / "Restored") == [f"2019/img{i}_denoised.png" for i in range(3)]


def test_two_copies_of_one_photo_in_two_folders_stay_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same name, size and time in two folders of one run: each keeps its own result (the
    adoption of moved photos must not take one for the other)."""
    a = _photo(tmp_path / "in" / "a" / "x.png", seed=1)
    b = tmp_path / "in" / "b" / "x.png"
    b.parent.mkdir(parents=True)
    b.write_bytes(a.read_bytes())
    os.utime(b, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns))
    out = tmp_path / "out"
    args = ["restore", str(tmp_path / "in"), "-o", str(out), "--model", "nlm-denoise", "-r"]
    assert main(args) == 0
    assert main(args) == 0
    assert _results(out) == ["a/x_denoised.png", "b/x_denoised.png"]
    assert "2 done before" in capsys.readouterr().err


def test_a_result_retouched_since_it_was_written_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rerun after the original changed replaced a result the photographer had retouched
    and saved, without a word."""
    src = _photo(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    args = ["restore", str(tmp_path / "in"), "-o", str(out), "--model", "nlm-denoise", "-r"]
    assert main(args) == 0
    result = out / "a_denoised.png"
    Image.open(result).rotate(90).save(result)  # retouched
    retouched = result.read_bytes()
    os.utime(src)  # the original touched too (a metadata edit, a restore from backup)
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "a_denoised.png was changed since this app wrote it (retouched?), so it is kept" in err
    assert result.read_bytes() == retouched
    assert main([*args, "--overwrite"]) == 0 and result.read_bytes() != retouched


def test_photos_whose_names_differ_in_case_keep_their_own_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """IMG.jpg and img.JPG are two photos on a case-sensitive disk: adding Img.jpg took
    img.JPG's result name, redid img.JPG as "-3" and left its "-2" behind."""
    folder = tmp_path / "in"
    for i, name in enumerate(("IMG.png", "img.PNG")):
        _photo(folder / name, seed=i)
    if len({p.name.casefold() for p in folder.iterdir()}) != 1 or len(list(folder.iterdir())) != 2:
        pytest.skip("the disk does not tell names apart by case")
    out = tmp_path / "out"
    args = ["restore", str(folder), "-o", str(out), "--model", "nlm-denoise"]
    assert main(args) == 0
    first = _results(out)
    assert len(first) == 2
    _photo(folder / "Img.png", seed=5)
    capsys.readouterr()
    assert main(args) == 0
    assert "2 done before" in capsys.readouterr().err
    after = _results(out)
    assert set(first) < set(after) and len(after) == 3


def test_a_full_disk_stops_the_run_instead_of_failing_every_photo_after_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every photo after the disk filled was processed in full only to fail to save
    (hours of work and a line each on an archive); the run now stops there, and the next
    run does the photos not begun."""
    import errno

    from deconv_gui.core import pipeline

    for i in range(5):
        _photo(tmp_path / "in" / f"p{i}.png", seed=i)
    out = tmp_path / "out"
    real_save = pipeline.save_photo
    saved: list[Path] = []

    def save(path, photo, **kw):  # noqa: ANN001, ANN003 - as save_photo
        if len(saved) == 2:  # the third result finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")
        saved.append(Path(path))
        return real_save(path, photo, **kw)

    monkeypatch.setattr(pipeline, "save_photo", save)
    args = ["restore", str(tmp_path / "in"), "-o", str(out), "--model", "nlm-denoise"]
    assert main([*args, "--json"]) == 1
    events = _events(capsys.readouterr().out)
    finished = [e for e in events if e.get("event") in ("done", "failed")]
    assert [e["event"] for e in finished] == ["done", "done", "failed"]  # p3, p4 not begun
    assert events[-1]["stopped"] == "the disk is full"
    monkeypatch.setattr(pipeline, "save_photo", real_save)  # space freed
    assert main(args) == 0
    assert "2 done before" in capsys.readouterr().err
    assert _results(out) == [f"p{i}_denoised.png" for i in range(5)]


def test_a_mistyped_input_folder_is_said_as_such_and_makes_no_output_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`restore Archiv -o out` said "output out has no file extension..."; with `-o out/`
    it made out/.deconv-gui first, then said it could not read Archiv."""
    missing = tmp_path / "Archiv"
    for out in (str(tmp_path / "out"), f"{tmp_path / 'out'}/"):
        assert main(["restore", str(missing), "-r", "-o", out, "--model", "nlm-denoise"]) == 1
        err = capsys.readouterr().err
        assert err == f"error: cannot read {missing}: the file or folder does not exist\n"
        assert not (tmp_path / "out").exists()


def test_files_skipped_while_listing_are_json_events_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken link in the folder was only a `warning:` on stderr: a script reading the
    JSON events never learnt of it."""
    folder = tmp_path / "in"
    _photo(folder / "a.png")
    (folder / "b.png").symlink_to(tmp_path / "gone.png")  # a broken link
    args = ["restore", str(folder), "-o", str(tmp_path / "out"), "--model", "nlm-denoise"]
    assert main([*args, "--json"]) == 0
    captured = capsys.readouterr()
    events = _events(captured.out)
    skipped = [e for e in events if e.get("event") == "skipped"]
    assert [Path(e["input"]).name for e in skipped] == ["b.png"]
    assert skipped[0]["reason"] and "b.png" in captured.err
