"""Learn your own camera: the noise profile fit, the noisy-RAW fine-tune and its guard,
the camera-named model and its automatic choice for that camera's RAW files, the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deconv_gui.core.camera_noise import CameraNoise, file_points, fit_camera_noise
from deconv_gui.core.raw import open_raw, pack_bayer
from deconv_gui.errors import DeconvError
from deconv_gui.training.synthetic_camera import SyntheticCamera, write_frames, write_shots

CAMERA = SyntheticCamera()
ISOS = (800.0, 3200.0)


def _photos(folder: Path, n: int, side: int = 96) -> list[Path]:
    """Small smooth-ish colour pictures (no test data needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:side, 0:side] / side
    out = []
    for i in range(n):
        f = rng.uniform(1, 4, 3)
        img = np.stack([0.5 + 0.4 * np.sin(f[c] * (xx + yy * (c + 1)) * np.pi + i)
                        for c in range(3)], -1)  # fmt: skip
        p = folder / f"p{i}.png"
        Image.fromarray((img * 255).astype(np.uint8)).save(p)
        out.append(p)
    return out


@pytest.fixture(scope="module")
def camera_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("camera")
    write_shots(CAMERA, _photos(root / "photos", 4), ISOS, root / "shots", seed=3)
    return root / "shots" / "noisy"


def _points(paths: list[Path]) -> list:  # noqa: ANN401
    pts = []
    for p in paths:
        raw = open_raw(p)
        pts.append(file_points(pack_bayer(raw.normalized(clip=False), raw.cfa), raw.metadata.iso))
    return pts


def test_profile_fit_recovers_the_camera(tmp_path: Path) -> None:
    files = []
    for k, level in enumerate((0.0, 0.15, 0.45)):  # a dark frame and two flat frames per ISO
        files += write_frames(CAMERA, ISOS, tmp_path / str(k), level=level, seed=k)
    fit = fit_camera_noise(_points(files), CAMERA.make, CAMERA.model)
    for iso in ISOS:
        got, true = fit.profile(iso), CAMERA.profile(iso)
        assert got is not None
        assert got.shot == pytest.approx(true.shot, rel=0.15)
        assert got.read == pytest.approx(true.read, rel=0.35)
        assert got.row == pytest.approx(CAMERA.row_std(iso) ** 2, rel=0.5)  # banding
    # between and beyond the measured ISOs: the curve, shot proportional to ISO
    mid = fit.profile(1600.0)
    assert mid is not None
    assert mid.shot == pytest.approx(CAMERA.profile(1600.0).shot, rel=0.15)
    assert mid.row == pytest.approx(CAMERA.row_std(1600.0) ** 2, rel=0.5)
    assert fit.display_name() == "Deconv Synthetic APS-C, ISO 800-3200"
    again = CameraNoise.from_json(json.loads(json.dumps(fit.to_json())))
    assert again.profile(3200.0) == fit.profile(3200.0)
    assert again.matches(" deconv ", "SYNTHETIC  aps-c") and not again.matches("Canon", "R6")


def test_fit_over_many_files_beats_one_file_estimates(camera_dir: Path) -> None:
    """The lower envelope over the files is never further from the truth than the median
    single-file estimate (texture only adds variance)."""
    from deconv_gui.core.raw_noise import estimate_profile

    paths = sorted(camera_dir.glob("*_iso3200.dng"))
    fit = fit_camera_noise(_points(paths))
    true = CAMERA.profile(3200.0).shot
    single = [
        estimate_profile(pack_bayer(r.normalized(clip=False), r.cfa)).shot
        for r in map(open_raw, paths)
    ]
    got = fit.profile(3200.0)
    assert got is not None
    assert abs(np.log(got.shot / true)) <= abs(np.log(np.median(single) / true)) + 1e-9


def _job(folder: Path, **kw):  # noqa: ANN003, ANN202
    from deconv_gui.models.catalog import default_registry
    from deconv_gui.training.finetune import FinetuneData, finetune_job

    spec = default_registry().get("redunet-raw-denoise")
    gen = finetune_job(spec, FinetuneData.noisy_raw(folder), device="cpu", batch=2, patch=16,
                       val_fraction=0.25, **kw)  # fmt: skip
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def test_camera_tuning_in_bfloat16_runs_and_scores_in_float32(
    camera_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a CPU with fast bfloat16 (forced) the tuning's passes run in it: finite losses, a
    finite held-out score, the guard still refusing a far too high learning rate."""
    from deconv_gui.core import devices

    monkeypatch.setenv(devices.CPU_BF16_ENV, "1")
    res = _job(camera_dir, steps=2, lr=1e-5)
    assert res.settings["precision"] == "bf16"
    assert math.isfinite(res.verdict.before) and math.isfinite(res.verdict.after)
    assert _job(camera_dir, steps=4, lr=1.0).verdict.refused


def test_guard_refuses_a_far_too_high_learning_rate(camera_dir: Path) -> None:
    from deconv_gui.training.finetune import WorseModelError, save_finetuned

    res = _job(camera_dir, steps=4, lr=1.0)
    assert res.verdict.refused
    assert res.verdict.after < res.verdict.before
    assert "Not saved" in res.message and "worse" in res.message
    with pytest.raises(WorseModelError):
        save_finetuned(res, "broken")


def test_tuned_model_is_named_after_the_camera_and_chosen_for_it(
    camera_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from deconv_gui.core.analyze import analyze
    from deconv_gui.core.raw import load_raw_photo
    from deconv_gui.models.catalog import default_registry
    from deconv_gui.models.registry import LoadOptions, model_for_step, plain_name
    from deconv_gui.training.finetune import save_finetuned

    res = _job(camera_dir, steps=2, lr=1e-7)
    assert not res.refused, res.message
    assert res.card_extra["camera"] == {"make": CAMERA.make, "model": CAMERA.model}
    saved = save_finetuned(res, res.card_extra["display_name"])
    reg = default_registry()
    spec = reg.get(saved.id)
    assert plain_name(spec) == "Deconv Synthetic APS-C, ISO 800-3200"
    assert spec.input == "bayer" and spec.card["iso_range"] == [800.0, 3200.0]

    photo = load_raw_photo(sorted(camera_dir.glob("*.dng"))[0])
    a = analyze(photo.rgb, photo.meta)
    assert a.camera == (CAMERA.make, CAMERA.model)
    assert model_for_step(reg, "raw-denoise", camera=a.camera, iso=a.iso).id == saved.id
    assert model_for_step(reg, "raw-denoise", camera=("Canon", "EOS R6")).id != saved.id
    assert model_for_step(reg, "raw-denoise").id != saved.id  # no camera: as before

    # Auto for this model: the card's fitted profile at the file's ISO, not a new estimate
    proc = spec.build(LoadOptions(device="cpu", allow_fp16=False))
    raw = photo.meta.extra["raw"]
    packed = pack_bayer(raw.normalized(clip=False), raw.cfa)
    fitted = CameraNoise.from_json(spec.card["noise_profile"]).profile(raw.metadata.iso)
    assert proc.prepare(packed, photo.meta) == fitted

    # another camera's file: measured in the file, and said (it ran without a word)
    import logging
    from dataclasses import replace

    other = replace(raw, metadata=replace(raw.metadata, make="Canon", model="EOS R6"))
    meta = photo.meta.copy(extra={**photo.meta.extra, "raw": other})
    proc = spec.build(LoadOptions(device="cpu", allow_fp16=False))
    with caplog.at_level(logging.WARNING):
        assert proc.prepare(packed, meta) != fitted
    assert (
        "this model was tuned on a Deconv Synthetic APS-C and this photo is from a Canon "
        "EOS R6: its noise is measured in the photo itself"
    ) in caplog.text


def test_noisy_raw_mode_needs_the_raw_denoiser(camera_dir: Path) -> None:
    from deconv_gui.models.catalog import default_registry
    from deconv_gui.training.finetune import FinetuneData, finetune_job

    spec = default_registry().default_for("denoise")
    assert spec is not None and spec.trainable
    with pytest.raises(DeconvError, match="RAW denoiser"):
        next(finetune_job(spec, FinetuneData.noisy_raw(camera_dir), steps=1, device="cpu"))


def test_cli_finetune_noisy_raw(camera_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from deconv_gui.cli import main

    rc = main(["finetune", "--base", "redunet-raw-denoise", "--noisy-raw", str(camera_dir),
               "--steps", "2", "--lr", "1e-7", "--device", "cpu", "--json"])  # fmt: skip
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["mode"] == "noisy_raw" and out["name"] == "Deconv Synthetic APS-C, ISO 800-3200"
    assert out["camera"] == {"make": CAMERA.make, "model": CAMERA.model}


def test_dark_and_flat_frames_are_measured_not_trained_on(
    camera_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Frames in a second folder join the profile fit (a dark frame pins the read noise
    down) but never the training pool; the CLI takes them with --frames."""
    from deconv_gui.cli import main
    from deconv_gui.training.finetune.raw_source import NoisyRawSource
    from deconv_gui.training.finetune.sources import BaseInfo, FinetuneData

    frames = tmp_path / "frames"
    write_frames(CAMERA, ISOS, frames, level=0.0, seed=1, shape=(256, 256))
    write_frames(CAMERA, ISOS, frames, level=0.3, seed=2, shape=(256, 256))
    base = BaseInfo("RAW", "raw-denoise", noise_map=True, channels=4, bayer=True)
    plain = NoisyRawSource(FinetuneData.noisy_raw(camera_dir), base, val_fraction=0.25, seed=0)
    with_frames = NoisyRawSource(FinetuneData.noisy_raw(camera_dir, frames), base,
                                 val_fraction=0.25, seed=0)  # fmt: skip
    for src in (plain, with_frames):
        list(src.load())
    assert with_frames.camera is not None and plain.camera is not None
    assert with_frames.camera.files == plain.camera.files + 4
    assert len(with_frames.pool.images) == len(plain.pool.images)  # frames: not trained on
    assert with_frames.card_extra()["frames"] == 4 and "frames" not in plain.card_extra()
    for iso in ISOS:
        got = with_frames.camera.profile(iso)
        assert got is not None
        assert got.read == pytest.approx(CAMERA.profile(iso).read, rel=0.35)

    rc = main(["finetune", "--base", "redunet-raw-denoise", "--noisy-raw", str(camera_dir),
               "--frames", str(frames), "--steps", "2", "--lr", "1e-7", "--device", "cpu",
               "--json"])  # fmt: skip
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["frames"] == 4
    assert main(["finetune", "--base", "redunet-raw-denoise", "--noisy", str(camera_dir),
                 "--frames", str(frames)]) == 1  # fmt: skip
    assert "--frames goes with --noisy-raw" in capsys.readouterr().err


def test_noisy_raw_source_reads_real_bayer_files(raw_files, tmp_path: Path) -> None:  # noqa: ANN001
    from deconv_gui.training.finetune.raw_source import NoisyRawSource
    from deconv_gui.training.finetune.sources import BaseInfo, FinetuneData
    from tests.rawfiles import CRW, SMALL

    for name in (SMALL, CRW):
        (tmp_path / name).symlink_to(raw_files.path(name))
    (tmp_path / f"again_{SMALL}").symlink_to(raw_files.path(SMALL))  # most files: one camera
    base = BaseInfo("RAW", "raw-denoise", noise_map=True, channels=4, bayer=True)
    src = NoisyRawSource(FinetuneData.noisy_raw(tmp_path), base, val_fraction=0.34, seed=0)
    msgs = list(src.load())
    assert len(msgs) >= 2 and src.pool is not None and len(src.val) == 1
    assert any("1 file(s) of other cameras" in m for m in msgs)  # two bodies here
    assert src.pool.images[0].shape[-1] == 4 and src.val[0].lq.shape[-1] == 4
    assert src.val[0].profile is not None and src.val[0].profile[1] > 0
    assert np.isfinite(src.noise).all() and (src.noise >= 0).all()


def test_a_damaged_raw_file_is_left_out_not_the_whole_run(camera_dir: Path, tmp_path: Path) -> None:
    """One truncated file among a camera's RAW files is named and left out; the others
    are trained on (the run had stopped at it after reading the rest)."""
    import shutil

    from deconv_gui.training.finetune.raw_source import NoisyRawSource
    from deconv_gui.training.finetune.sources import BaseInfo, FinetuneData

    for p in sorted(camera_dir.glob("*.dng")):
        shutil.copy(p, tmp_path / p.name)
    data = next(camera_dir.glob("*.dng")).read_bytes()
    (tmp_path / "a_cut.dng").write_bytes(data[: len(data) // 3])
    base = BaseInfo("RAW", "raw-denoise", noise_map=True, channels=4, bayer=True)
    src = NoisyRawSource(FinetuneData.noisy_raw(tmp_path), base, val_fraction=0.25, seed=0)
    assert "a_cut" not in {it[0] for it in src.val_items}  # (the seed holds out another)
    msgs = list(src.load())
    assert any(m.startswith("left out a_cut.dng: ") for m in msgs)
    assert src.skipped and src.skipped[0].startswith("a_cut.dng: ")
    assert src.pool is not None and len(src.val) >= 1


def test_frames_of_another_camera_or_damaged_are_left_out_and_said(
    camera_dir: Path, tmp_path: Path
) -> None:
    """A dark frame of another camera was counted as "measured with 1 dark/flat frame(s)"
    (and in the card) while the fit left it out without a word; one damaged frame stopped
    the whole run, where a damaged photo is left out."""
    from deconv_gui.training.finetune.raw_source import NoisyRawSource
    from deconv_gui.training.finetune.sources import BaseInfo, FinetuneData

    frames = tmp_path / "frames"
    good = write_frames(CAMERA, ISOS, frames, level=0.0, seed=1, shape=(128, 128))
    other = SyntheticCamera(model="Other Body")
    (foreign,) = write_frames(other, ISOS[:1], tmp_path / "other", level=0.0, seed=2)
    foreign.rename(frames / "zz_other_body.dng")
    data = good[0].read_bytes()
    (frames / "cut.dng").write_bytes(data[: len(data) // 3])
    base = BaseInfo("RAW", "raw-denoise", noise_map=True, channels=4, bayer=True)
    plain = NoisyRawSource(FinetuneData.noisy_raw(camera_dir), base, val_fraction=0.25, seed=0)
    src = NoisyRawSource(FinetuneData.noisy_raw(camera_dir, frames), base,
                         val_fraction=0.25, seed=0)  # fmt: skip
    list(plain.load())
    msgs = list(src.load())
    assert src.frame_count == len(good) and src.card_extra()["frames"] == len(good)
    assert src.camera is not None and plain.camera is not None
    assert src.camera.files == plain.camera.files + len(good)
    assert any(m.startswith("left out dark/flat frame cut.dng: ") for m in msgs)
    said = (
        "left out dark/flat frame zz_other_body.dng: taken with another camera "
        "(Deconv Other Body, not Deconv Synthetic APS-C)"
    )
    assert said in msgs
    assert sorted(s.split(": ")[0] for s in src.skipped) == [
        "dark/flat frame cut.dng",
        "dark/flat frame zz_other_body.dng",
    ]


def test_files_of_several_cameras_without_a_majority_are_refused(
    camera_dir: Path, tmp_path: Path
) -> None:
    """The model is named after, and chosen for, the camera with the most files: with a tie
    that was whichever came first."""
    import shutil

    from deconv_gui.training.finetune.raw_source import NoisyRawSource
    from deconv_gui.training.finetune.sources import BaseInfo, FinetuneData

    mine = sorted(camera_dir.glob("*.dng"))[:2]
    for p in mine:
        shutil.copy(p, tmp_path / p.name)
    other = SyntheticCamera(model="Other Body")
    write_shots(other, _photos(tmp_path / "photos", 1), ISOS, tmp_path / "o", seed=4)
    for p in sorted((tmp_path / "o" / "noisy").glob("*.dng")):
        shutil.copy(p, tmp_path / f"other_{p.name}")
    folder = tmp_path
    for p in [*tmp_path.glob("photos"), tmp_path / "o"]:
        shutil.rmtree(p)
    base = BaseInfo("RAW", "raw-denoise", noise_map=True, channels=4, bayer=True)
    src = NoisyRawSource(FinetuneData.noisy_raw(folder), base, val_fraction=0.25, seed=0)
    with pytest.raises(DeconvError, match="none has more files than the others") as e:
        list(src.load())
    assert "Deconv Other Body (2)" in str(e.value)
    assert "Deconv Synthetic APS-C (2)" in str(e.value)
