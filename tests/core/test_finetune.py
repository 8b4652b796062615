"""Fine-tuning on the user's photos (tiny networks and photos, CPU): the three modes, the
pair report, exact resume, too little data, untrainable bases, saving into the library
(registry, rename, delete) and the base model left untouched."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_models import write_tiny_model

from deconv_gui import paths
from deconv_gui.errors import DeconvError, ModelError
from deconv_gui.models import bundled, catalog, imported
from deconv_gui.models.registry import LoadOptions, ModelSpec
from deconv_gui.training import finetune as ft

torch.set_num_threads(1)

FAST = {"batch": 2, "patch": 16, "val_every": 2}


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelSpec]:
    """Tiny bundled-style networks (card + safetensors) built in a temporary folder."""
    d = tmp_path_factory.mktemp("models")
    return {
        task: bundled.spec_from_card(write_tiny_model(d, task)) for task in ("denoise", "upscale")
    }


def _clean(rng: np.random.Generator, w: int = 48, h: int = 40) -> np.ndarray:
    small = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC))


def _noisy(img: np.ndarray, rng: np.random.Generator, sigma: float = 25.0) -> np.ndarray:
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for sub in ("clean", "noisy", "before", "after", "toned"):
        (root / sub).mkdir()
    for i in range(4):
        gt = _clean(rng)
        Image.fromarray(gt).save(root / "clean" / f"p{i}.png")
        noisy = _noisy(gt, rng)
        Image.fromarray(noisy).save(root / "noisy" / f"p{i}.png")
        Image.fromarray(noisy).save(root / "before" / f"p{i}.png")
        Image.fromarray(gt).save(root / "after" / f"p{i}.png")
        toned = (0.7 * gt.astype(np.float32) + 40).round().astype(np.uint8)  # a "look"
        Image.fromarray(toned).save(root / "toned" / f"p{i}.png")
    return {k: root / k for k in ("clean", "noisy", "before", "after", "toned")}


def drain(gen):
    items = []
    while True:
        try:
            items.append(next(gen))
        except StopIteration as stop:
            return items, stop.value


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------ modes
@pytest.mark.parametrize("mode", ["pairs", "clean", "noisy"])
def test_each_mode_trains_and_reports(mode, bases, photos) -> None:
    spec = bases["denoise"]
    data = {
        "pairs": ft.FinetuneData.pairs(photos["before"], photos["after"]),
        "clean": ft.FinetuneData.clean(photos["clean"], "noise=15-30"),
        "noisy": ft.FinetuneData.noisy(photos["noisy"]),
    }[mode]
    items, res = drain(ft.finetune_job(spec, data, mode, 4, device="cpu", **FAST))
    phases = [p.phase for p in items]
    assert phases[0] == "loading" and "validating" in phases and phases[-1] == "done"
    train = [p for p in items if p.phase == "training"]
    assert [p.step for p in train] == [1, 2, 3, 4]
    assert all(p.total == 4 and p.loss is not None and p.lr > 0 for p in train)
    assert train[-1].eta_s == pytest.approx(0.0)
    validated = [p for p in train if p.val is not None]
    assert [p.step for p in validated] == [2, 4]
    prev = validated[-1].preview
    assert prev["input"].shape == prev["output"].shape and prev["output"].dtype == np.uint8
    assert (prev["target"] is None) == (mode == "noisy")
    assert res.steps == 4 and res.train_count == 3 and res.val_count == 1
    assert np.isfinite(res.before["psnr"]) and np.isfinite(res.after["psnr"])
    if mode != "noisy":
        assert 0 < res.after["ssim"] <= 1


def test_upscaler_on_clean_photos_adds_the_downscale(bases, photos) -> None:
    data = ft.FinetuneData.clean(photos["clean"], "blur=gaussian:0.5-1.5")
    items, res = drain(ft.finetune_job(bases["upscale"], data, steps=2, device="cpu", **FAST))
    prev = next(p.preview for p in items if p.preview is not None)
    assert prev["input"].shape == prev["target"].shape  # shown at output size
    assert res.before["input_psnr"] is not None and "Y" in res.before["metric"]


def test_learning_improves_the_held_out_photos(bases, photos) -> None:
    """A tonal "look" (after = 0.7 before + 40) is learnt in a few steps and measured on the
    held-out photo."""
    data = ft.FinetuneData.pairs(photos["clean"], photos["toned"])
    _, res = drain(
        ft.finetune_job(
            bases["denoise"], data, steps=20, device="cpu", batch=4, patch=24, lr=3e-3, val_every=10
        )  # fmt: skip
    )
    assert res.after["psnr"] > res.before["psnr"] + 1.0
    assert res.after["ssim"] > res.before["ssim"]


@pytest.mark.parametrize("mode", ["pairs", "noisy"])
def test_on_a_cpu_with_fast_bfloat16_it_trains_in_bf16_and_still_learns(
    bases, photos, monkeypatch, mode
) -> None:
    """Where bfloat16 is fast (forced here) the passes run in it; the learnt look still shows
    on the held-out photo (scored in float32), and each mode's loss stays finite."""
    from deconv_gui.core import devices

    monkeypatch.setenv(devices.CPU_BF16_ENV, "1")
    if mode == "pairs":
        data = ft.FinetuneData.pairs(photos["clean"], photos["toned"])
        kw = {"batch": 4, "patch": 24, "lr": 3e-3, "val_every": 10}
        steps = 20
    else:
        data = ft.FinetuneData.noisy(photos["noisy"])
        kw, steps = dict(FAST), 4
    items, res = drain(ft.finetune_job(bases["denoise"], data, steps=steps, device="cpu", **kw))
    assert res.settings["precision"] == "bf16"
    assert all(np.isfinite(p.loss) for p in items if p.phase == "training")
    if mode == "pairs":
        assert res.after["psnr"] > res.before["psnr"] + 1.0
    monkeypatch.setenv(devices.CPU_BF16_ENV, "0")
    _, res = drain(ft.finetune_job(bases["denoise"], data, steps=2, device="cpu", **FAST))
    assert res.settings["precision"] == "fp32"


# ------------------------------------------------------------------------------ checks
def test_mismatched_pairs_are_reported_and_block_the_start(bases, tmp_path, photos) -> None:
    before, after = tmp_path / "b", tmp_path / "a"
    before.mkdir()
    after.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        Image.fromarray(_clean(rng)).save(before / f"x{i}.png")
        Image.fromarray(_clean(rng)).save(after / f"X{i}.jpg")  # case and extension differ
    Image.fromarray(_clean(rng)).save(before / "lonely.png")
    Image.fromarray(_clean(rng)).save(after / "orphan.png")
    Image.fromarray(_clean(rng, 40, 40)).save(before / "size.png")
    Image.fromarray(_clean(rng)).save(after / "size.png")
    (before / "broken.png").write_bytes(b"not a png")
    (after / "broken.png").write_bytes(b"not a png")
    rep = ft.check_pairs(before, after)
    assert [m[0] for m in rep.matched] == ["x0", "x1", "x2"]
    assert rep.only_lq == ["lonely.png"] and rep.only_gt == ["orphan.png"]
    assert rep.size_mismatch == [("size", (40, 40), (48, 40))]
    assert {n for n, _ in rep.unreadable} == {"broken.png"}
    assert not rep.ok and rep.problems == 5
    text = "\n".join(rep.lines())
    assert "lonely.png" in text and "orphan.png" in text and "40x40 vs 48x40" in text
    with pytest.raises(DeconvError, match="do not match up"):
        next(ft.finetune_job(bases["denoise"], ft.FinetuneData.pairs(before, after), steps=1,
                             device="cpu"))  # fmt: skip
    # skipped: trains on the three good pairs
    data = ft.FinetuneData.pairs(before, after, skip_mismatched=True)
    _, res = drain(ft.finetune_job(bases["denoise"], data, steps=1, device="cpu", **FAST))
    assert res.train_count + res.val_count == 3
    # an upscaler needs 'after' photos twice the size
    assert not ft.check_pairs(photos["before"], photos["after"], scale=2).matched


def test_too_little_data_unreadable_and_bad_specs(bases, tmp_path, photos) -> None:
    one = tmp_path / "one"
    one.mkdir()
    Image.fromarray(_clean(np.random.default_rng(0))).save(one / "a.png")
    with pytest.raises(DeconvError, match="too little data"):
        next(ft.finetune_job(bases["denoise"], ft.FinetuneData.noisy(one), steps=1))
    (one / "b.png").write_bytes(b"garbage")  # two photos, one unreadable: nothing to measure
    with pytest.raises(DeconvError, match=r"none of the .*could be used \(b\.png: "):
        drain(ft.finetune_job(bases["denoise"], ft.FinetuneData.noisy(one), steps=1,
                              val_fraction=0.5, seed=1))  # fmt: skip
    for kwargs, words in (({"lr": float("nan")}, "learning rate"), ({"lr": 0.0}, "learning rate"),
                          ({"minutes": -1.0}, "more than 0 minutes"),
                          ({"minutes": 0.0}, "more than 0 minutes"),
                          ({"steps": 10**11}, "at most 1,000,000 steps")):  # fmt: skip
        with pytest.raises(DeconvError, match=words):  # (a NaN rate was a ValueError)
            next(ft.finetune_job(bases["denoise"], ft.FinetuneData.noisy(photos["noisy"]),
                                 **{"steps": 1, **kwargs}))  # fmt: skip
    with pytest.raises(DeconvError, match="folder not found"):
        next(ft.finetune_job(bases["denoise"], ft.FinetuneData.noisy(tmp_path / "nope"), steps=1))
    with pytest.raises(DeconvError, match="bad degradation"):
        next(ft.finetune_job(bases["denoise"], ft.FinetuneData.clean(photos["clean"], "nois=3"),
                             steps=1))  # fmt: skip
    with pytest.raises(DeconvError, match="only trains denoisers"):
        next(ft.finetune_job(bases["upscale"], ft.FinetuneData.noisy(photos["noisy"]), steps=1))
    with pytest.raises(DeconvError, match="scale is 2"):
        next(
            ft.finetune_job(
                bases["upscale"], ft.FinetuneData.clean(photos["clean"], "downscale=3"), steps=1
            )
        )


def test_damaged_and_tiny_photos_are_left_out_and_named(bases, tmp_path, photos) -> None:
    """One bad file in a folder of photos does not stop the run (it did, at that file, after
    reading the ones before it): it is left out, said so while loading, in the result and in
    the saved model's card."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for p in sorted(photos["clean"].iterdir()):
        (folder / p.name).write_bytes(p.read_bytes())
    good = (folder / "p0.png").read_bytes()
    (folder / "p1.png").write_bytes(good[: len(good) // 2])  # truncated
    (folder / "q.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(folder / "r.png")  # too small
    items, res = drain(ft.finetune_job(bases["denoise"], ft.FinetuneData.clean(folder, "noise=20"),
                                       steps=2, device="cpu", val_fraction=0.2, **FAST))  # fmt: skip
    said = [p.message for p in items]
    left = sorted(s.split(":")[0] for s in res.left_out)
    assert left == ["p1.png", "q.jpg", "r.png"]  # held out or trained on, each is left out
    assert all(any(f"left out {n}: " in m for m in said) for n in left)
    assert res.train_count + res.val_count == 3
    assert any(f"left out {len(left)} photo(s) that could not be used" in m for m in said)
    assert all("\n" not in s and "cannot read" not in s for s in res.left_out)
    saved = ft.save_finetuned(res, "Mixed folder", force=True)
    assert sorted(s.split(":")[0] for s in saved.card["finetune"]["left_out"]) == left
    # what its held-out numbers were measured on is in the card (one crop of each photo)
    measured = saved.card["finetune"]["val_measured_on"]
    assert (
        measured
        == f"the central 192 x 192 px (at most) of each of the {res.val_count} held-out photo(s)"
    )


def test_photos_are_read_as_the_app_reads_them(tmp_path) -> None:
    """A 16-bit greyscale PNG was white (Pillow's "I;16" clipped to 8 bits) and a phone photo
    lay on its side (EXIF orientation ignored), unlike in the app."""
    from deconv_gui.training.finetune.sources import _image_size, read_photo

    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (24, 1))
    Image.fromarray(ramp).save(tmp_path / "grey16.png")
    got = read_photo(tmp_path / "grey16.png")
    assert got.shape == (24, 64, 3) and got[0, 0, 0] == 0 and got[0, -1, 0] == 255
    assert abs(int(got[0, 32, 1]) - 132) <= 2  # the middle of the ramp, not white
    img = Image.fromarray(np.zeros((20, 50, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # turned 90 degrees
    img.save(tmp_path / "phone.jpg", exif=exif)
    assert read_photo(tmp_path / "phone.jpg").shape == (50, 20, 3)
    assert _image_size(tmp_path / "phone.jpg") == (20, 50)  # (width, height) upright


def test_untrainable_bases_are_refused(photos) -> None:
    data = ft.FinetuneData.noisy(photos["noisy"])
    classical = next(s for s in catalog.default_registry() if s.kind == "classical")
    with pytest.raises(DeconvError, match="cannot be fine-tuned.*classical"):
        next(ft.finetune_job(classical, data, steps=1))
    fake = ModelSpec("imp", "Imported", "denoise", 1, "imported", "", build=lambda o: None,
                     card={"architecture": "ESRGAN"})  # fmt: skip
    with pytest.raises(DeconvError, match="cannot be fine-tuned.*imported"):
        next(ft.finetune_job(fake, data, steps=1))


def test_random_degradation_ranges_and_alternatives() -> None:
    deg = ft.RandomDegradation("blur=gaussian:0.5-2|disk:1-3,jpeg=30-60,noise=5")
    rng = np.random.default_rng(0)
    seen = {str(deg.sample(rng)).split(",")[0].split(":")[0] for _ in range(30)}
    assert seen == {"blur=gaussian", "blur=disk"}
    q = [int(str(deg.sample(rng)).split("jpeg=")[1].split(",")[0]) for _ in range(30)]
    assert min(q) >= 30 and max(q) <= 60
    assert deg.scale == 1 and deg.has_blur
    with pytest.raises(DeconvError):
        ft.RandomDegradation("noise=0-300")


def test_blind_spot_masking() -> None:
    x = torch.rand(2, 3, 32, 32)
    masked, mask = ft.blind_spot(x, torch.Generator().manual_seed(0), fraction=0.1)
    m = mask.bool().expand_as(x)
    assert 0.05 < mask.mean() < 0.15
    assert torch.equal(masked[~m], x[~m])
    assert not torch.equal(masked[m], x[m])  # replaced by a different pixel's values


# ------------------------------------------------------------------------------ resume
def test_resume_after_interruption_gives_the_same_state(bases, photos, tmp_path) -> None:
    data = ft.FinetuneData.clean(photos["clean"], "noise=10-30,jpeg=50-90")
    kw = dict(device="cpu", checkpoint_dir=None, **FAST)
    _, straight = drain(ft.finetune_job(bases["denoise"], data, steps=6, **kw))
    kw["checkpoint_dir"] = tmp_path / "ck"
    gen = ft.finetune_job(bases["denoise"], data, steps=6, **kw)
    for p in gen:
        if p.phase == "training" and p.step == 3:
            break
    gen.close()  # cancel: a checkpoint is kept
    assert (tmp_path / "ck" / ft.CHECKPOINT_NAME).is_file()
    items, resumed = drain(ft.finetune_job(bases["denoise"], data, steps=6, **kw))
    assert any("resumed at step 3" in p.message for p in items)
    assert [p.step for p in items if p.phase == "training"] == [4, 5, 6]
    a, b = straight.module.state_dict(), resumed.module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.before == straight.before and resumed.after == straight.after
    # another job's checkpoint is not used: that job starts afresh
    items, _ = drain(ft.finetune_job(bases["denoise"], data, steps=2, **kw))
    assert any("starting afresh" in p.message for p in items)
    assert [p.step for p in items if p.phase == "training"] == [1, 2]


# ------------------------------------------------------------------------------ saving
def test_saved_model_is_in_the_registry_runs_and_base_is_unchanged(bases, photos) -> None:
    spec = bases["denoise"]
    img = _noisy(_clean(np.random.default_rng(5)), np.random.default_rng(6)) / 255.0
    img = img.astype(np.float32)
    before_out = spec.build(LoadOptions(device="cpu", strength=20))(img)
    data = ft.FinetuneData.pairs(photos["before"], photos["after"])
    _, res = drain(ft.finetune_job(spec, data, steps=3, device="cpu", lr=5e-3, **FAST))
    saved = ft.save_finetuned(res, "My street photos")
    assert saved.id == "my-street-photos" and saved.kind == "finetuned" and saved.trainable
    reg = catalog.default_registry()
    got = reg.get(saved.id)
    card = got.card
    assert card["loader"] == "deconv" and card["finetune"]["base_model"]["id"] == spec.id
    fcard = card["finetune"]
    assert fcard["mode"] == "pairs" and fcard["steps"] == 3 and fcard["train_photos"] == 3
    assert fcard["val_psnr_before"] == res.before["psnr"]
    assert fcard["val_psnr_after"] == res.after["psnr"] and "date" in fcard
    assert card["architecture"] == spec.card["architecture"] and got.strength is not None
    out = got.build(LoadOptions(device="cpu", strength=20))(img)
    assert out.shape == img.shape and np.isfinite(out).all()
    assert not np.allclose(out, before_out)  # it learnt something
    # the base model gives exactly what it gave before
    after_out = spec.build(LoadOptions(device="cpu", strength=20))(img)
    np.testing.assert_array_equal(after_out, before_out)
    # fine-tuning the fine-tuned model works too
    _, res2 = drain(ft.finetune_job(got, data, steps=1, device="cpu", **FAST))
    assert ft.save_finetuned(res2, "My street photos").id == "my-street-photos-2"
    # rename and delete
    renamed = imported.rename_user_model(saved.id, "Street, v2")
    assert renamed.name == "Street, v2" and catalog.default_registry().get(saved.id).name == (
        "Street, v2"
    )
    # weights changed on disk since they were saved (same size): refused, not run
    weights = paths.user_models_dir() / saved.id / card["file"]
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x40  # the last float's high byte
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="changed since it was fine-tuned"):
        catalog.default_registry().get(saved.id).build(LoadOptions(device="cpu", strength=20))
    from deconv_gui.models.importer import remove_model

    remove_model(saved.id)
    assert saved.id not in catalog.default_registry()


def test_base_weights_file_is_never_written(bases, photos, tmp_path) -> None:
    card_path = write_tiny_model(tmp_path, "deblur")
    card = json.loads(card_path.read_text())
    before = _sha(tmp_path / "tiny-deblur.safetensors")
    spec = bundled.spec_from_card(card_path)
    data = ft.FinetuneData.clean(photos["clean"], "blur=disk:1-2")
    _, res = drain(ft.finetune_job(spec, data, steps=2, device="cpu", lr=1e-2, **FAST))
    ft.save_finetuned(res, "deblur mine", force=True)  # 2 steps at lr 1e-2: worse, refused
    assert _sha(tmp_path / "tiny-deblur.safetensors") == before
    assert json.loads((tmp_path / "tiny-deblur.json").read_text()) == card


def test_cli_function_prints_json_last(bases, photos, capsys, monkeypatch) -> None:
    from deconv_gui.models.registry import ModelRegistry

    monkeypatch.setattr(catalog, "default_registry", lambda: ModelRegistry([bases["denoise"]]))
    rc = ft.run_finetune_cli("tiny-denoise", "noisy", [str(photos["noisy"])], None, 2,
                             "cli model", "cpu", True)  # fmt: skip
    assert rc == 0
    out = capsys.readouterr()
    last = json.loads(out.out.strip().splitlines()[-1])
    assert last["id"] == "cli-model" and last["val_psnr_before"] is not None
    assert "val_psnr_after" in last and "step 2/2" in out.err
    assert "cli-model" in {s.id for s in imported.user_specs()}


def test_on_a_gpu_with_bfloat16_it_trains_in_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """CUDA GPUs with bfloat16 arithmetic train in it (the bundled models' GPU sessions did);
    older ones in float32. The CPU keeps its own rule."""
    import torch

    from deconv_gui.training.finetune.job import _precision

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert _precision(torch.device("cuda")) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert _precision(torch.device("cuda")) == "fp32"
    assert _precision(torch.device("mps")) == "fp32"
