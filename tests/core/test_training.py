"""The training package on tiny configs: pipelines, the generator loop, exact resume,
export + reload through the bundled-model path, evaluation and the command line."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from tiny_models import tiny_architecture

from deconv_gui.models import bundled
from deconv_gui.training import degradations, evaluate, train
from deconv_gui.training.data import PatchPool
from deconv_gui.training.loop import Trainer, TrainProgress

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny dataset: smooth random colour images (train/ and test/)."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for split, n in (("train/a", 3), ("test/b", 2)):
        d = root / split
        d.mkdir(parents=True)
        for i in range(n):
            small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
            img = Image.fromarray(small).resize((64 + 8 * i, 48), Image.Resampling.BICUBIC)
            img.save(d / f"img{i}.png")
    return root


def tiny_config(task: str = "denoise", **over: Any) -> dict[str, Any]:
    arch = tiny_architecture(task)
    if task == "deblur":  # no encoder/decoder blocks: the smallest RED-UNet
        arch["hparams"].update(enc_blocks=0, dec_blocks=0)
    cfg: dict[str, Any] = {
        "id": f"tiny-{task}",
        "name": f"tiny {task}",
        "task": task,
        "scale": 2 if task == "upscale" else 1,
        "architecture": arch,
        "strength": {
            "label": "Noise level",
            "minimum": 0,
            "maximum": 75,
            "default": 25,
            "auto": True,
        }
        if task == "denoise"
        else None,
        "data": {"folders": ["train/a"], "scales": [1.0, 0.75]},
        "degradation": {"margin": 4} if task == "deblur" else {},
        "patch": 16,
        "batch": 2,
        "optimizer": {"lr": 0.002},
        "steps": 6,
        "seed": 3,
        "mse_tail": 0.3,
        "val": [
            {
                "folder": "test/b",
                "degrade": "noise=25"
                if task == "denoise"
                else ("downscale=2" if task == "upscale" else "blur=gaussian:1,noise=2"),
            }
        ],
        "eval": [
            {
                "folder": "test/b",
                "degrade": "noise=25"
                if task == "denoise"
                else ("downscale=2" if task == "upscale" else "blur=gaussian:1,noise=2"),
            }
        ],
    }
    cfg.update(over)
    return cfg


def test_patch_pool_samples_augmented_uint8(data_root: Path) -> None:
    pool = PatchPool([data_root / "train/a"], scales=[1.0, 0.5], min_side=16)
    assert len(pool) == 6 and pool.megapixels > 0
    a = pool.sample(np.random.default_rng(1), 4, 20)
    b = pool.sample(np.random.default_rng(1), 4, 20)
    assert a.shape == (4, 20, 20, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)  # seeded
    big = pool.sample(np.random.default_rng(2), 2, 60)  # larger than the 0.5 copies: padded
    assert big.shape == (2, 60, 60, 3)


@pytest.mark.parametrize("task", ["denoise", "upscale", "deblur"])
def test_pipelines_make_batches(task: str) -> None:
    rng = np.random.default_rng(0)
    cfg = {"scale": 2, "margin": 4, "p_jpeg": 0.5, "p_poisson_gaussian": 0.5}
    p = degradations.patch_size_for(task, cfg, 16)
    gt = rng.integers(0, 256, (4, p, p, 3), dtype=np.uint8)
    b = degradations.PIPELINES[task](gt, rng, torch.Generator().manual_seed(0), cfg)
    assert b.gt.shape == (4, 3, 16, 16)
    assert b.lq.shape == ((4, 3, 8, 8) if task == "upscale" else (4, 3, 16, 16))
    assert float(b.lq.min()) >= 0 and float(b.lq.max()) <= 1
    assert torch.equal(b.lq, (b.lq * 255).round() / 255)  # quantised to 8 bits
    if task == "denoise":
        assert b.noise_map is not None and b.noise_map.shape == (4, 1, 1, 1)
    else:
        assert b.noise_map is None


def test_denoise_batches_with_nearly_clean_samples() -> None:
    """``p_low``: that share of samples gets sigma 0 to ``low_sigma_max`` (noise map and
    noise both); without it the levels span 0-75."""
    from deconv_gui.models.networks import NOISE_MAP_SCALE

    gt = np.random.default_rng(0).integers(0, 256, (64, 16, 16, 3), dtype=np.uint8)

    def batch(cfg: dict[str, Any]) -> Any:
        gen = torch.Generator().manual_seed(0)
        return degradations.denoise_batch(gt, np.random.default_rng(1), gen, cfg)

    base = {"p_jpeg": 0.0, "p_fixed_levels": 0.0}
    low = batch({**base, "p_low": 1.0, "low_sigma_max": 2.0})
    sig = low.noise_map.flatten() * NOISE_MAP_SCALE
    assert float(sig.max()) <= 2.0 and float(sig.mean()) < 1.5
    assert float((low.lq - low.gt).abs().mean()) < 2.5 / 255  # the samples are nearly clean
    plain = batch(base)
    assert float(plain.noise_map.flatten().mul(NOISE_MAP_SCALE).mean()) > 10  # sigma 0-75


def test_denoise_batches_with_grain_samples() -> None:
    """``p_grain``: that share of samples gets coarse noise (`core.degrade.add_grain`) much
    stronger than the map value, which is what the automatic estimate reads on it."""
    from deconv_gui.core.noise import estimate_noise_sigma
    from deconv_gui.models.networks import NOISE_MAP_SCALE

    flat = np.full((16, 64, 64, 3), 128, np.uint8)
    cfg = {"p_jpeg": 0.0, "p_grain": 1.0, "grain_sigma_max": 12.0, "grain_p_jpeg": 0.0}
    gen = torch.Generator().manual_seed(0)
    b = degradations.denoise_batch(flat, np.random.default_rng(2), gen, cfg)
    noise = ((b.lq - b.gt) * 255.0).flatten(1).std(dim=1)
    assert float(noise.min()) >= 0.5 and float(noise.max()) <= 13.0  # sigma 1-12 (+ fine)
    reading = b.noise_map.flatten() * NOISE_MAP_SCALE
    for i in range(4):  # the map is the estimate's reading of each sample
        img = b.lq[i].permute(1, 2, 0).numpy()
        assert float(reading[i]) == pytest.approx(estimate_noise_sigma(img, max_patches=2500))
    assert float((reading / noise).median()) < 0.5  # the estimate misses most of it


def test_blur_kernels_are_normalised() -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        k = degradations.random_blur_kernel(rng, {})
        assert k.ndim == 2 and k.shape[0] % 2 == 1
        assert abs(float(k.sum()) - 1.0) < 1e-4 and float(k.min()) >= 0


@pytest.mark.parametrize("task", ["denoise", "upscale", "deblur"])
def test_training_generator_runs_and_validates(task: str, data_root: Path) -> None:
    t = Trainer(tiny_config(task, val_every=3), data_root=data_root)
    gen = t.run()
    records = list(gen)
    assert [r.step for r in records] == [1, 2, 3, 4, 5, 6]
    assert all(isinstance(r, TrainProgress) and np.isfinite(r.loss) for r in records)
    assert records[2].val and records[-1].val  # validated at step 3 and at the end
    ((label, scores),) = records[-1].val.items()
    assert "psnr" in scores and "ssim" in scores
    assert len(t.curve) == 2
    assert records[-1].lr < records[2].lr  # cosine decay


def test_closing_the_generator_stops_training(data_root: Path) -> None:
    t = Trainer(tiny_config(steps=100), data_root=data_root)
    gen = t.run()
    next(gen)
    next(gen)
    gen.close()
    assert t.step == 2


def _state(t: Trainer) -> dict[str, torch.Tensor]:
    sd = {f"m.{k}": v.clone() for k, v in t.model.state_dict().items()}
    for i, s in enumerate(t.optimizer.state.values()):
        for k, v in s.items():
            if torch.is_tensor(v):
                sd[f"o.{i}.{k}"] = v.clone()
    return sd


@pytest.mark.parametrize("task", ["denoise", "deblur"])
def test_resume_after_interruption_gives_the_same_state(
    task: str, data_root: Path, tmp_path: Path
) -> None:
    cfg = tiny_config(task)
    straight = Trainer(cfg, data_root=data_root)
    list(straight.run())

    first = Trainer(cfg, data_root=data_root, out_dir=tmp_path)
    gen = first.run(max_steps=3)
    list(gen)
    ckpt = first.save_checkpoint(tmp_path / "mid.pt")
    torch.manual_seed(999)  # disturb global RNG state between runs
    np.random.seed(999)
    second = Trainer(copy.deepcopy(cfg), data_root=data_root)
    second.load_checkpoint(ckpt)
    assert second.step == 3
    list(second.run())
    assert second.step == straight.step == 6
    a, b = _state(straight), _state(second)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_time_boxed_run_fits_schedule(data_root: Path) -> None:
    t = Trainer(tiny_config(steps=10_000), data_root=data_root)
    recs = list(t.run(max_minutes=0.02))
    assert 0 < t.step < 10_000
    assert t.time_budget == pytest.approx(1.2)
    assert recs[-1].lr < 0.002 * 0.5


def test_export_reload_and_evaluate(data_root: Path, tmp_path: Path) -> None:
    from deconv_gui.training.export import make_card, save_weights, write_card

    cfg = tiny_config("denoise")
    t = Trainer(cfg, data_root=data_root)
    list(t.run())
    save_weights(t.model, tmp_path / "tiny-denoise.safetensors")
    card = make_card(
        cfg, t.model, sessions=[{"steps": t.step, "wall_minutes": 0.1, "curve": t.curve}]
    )
    write_card(card, tmp_path / "tiny-denoise.json")
    (spec,) = bundled.bundled_specs(tmp_path)
    assert spec.receptive_field == t.model.receptive_field()
    assert spec.card["training"]["steps"] == 6

    res = evaluate.evaluate(spec, data_root / "test/b", "noise=25", strength=25)
    assert len(res.images) == 2 and res.channel == "RGB"
    m = res.mean
    assert 5 < m["input_psnr"] < 40 and np.isfinite(m["output_psnr"])
    # the same numbers through the module directly (whole image, strength as the map)
    res2 = evaluate.evaluate(t.model, data_root / "test/b", "noise=25", strength=25)
    assert res2.mean["output_psnr"] == pytest.approx(m["output_psnr"], abs=0.05)
    # a callable: the identity scores exactly the input
    ident = evaluate.evaluate(lambda x: x, data_root / "test/b", "noise=25")
    assert ident.mean["output_psnr"] == pytest.approx(ident.mean["input_psnr"])
    js = res.to_json()
    assert js["count"] == 2 and "mean" in js

    # resume from the shipped weights: history kept, a new session starts
    t2 = Trainer(cfg, data_root=data_root)
    t2.init_from_weights(tmp_path / "tiny-denoise.safetensors")
    assert len(t2.history) == 1
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(t2.model(x, 0.3), t.model.eval()(x, 0.3), atol=2e-2)


def test_sr_evaluation_uses_y_and_shave(data_root: Path) -> None:
    res = evaluate.evaluate(
        lambda x: evaluate.upscale_bicubic(x, 2), data_root / "test/b", "downscale=2"
    )
    assert res.channel == "Y" and res.shave == 2
    # the bicubic "model" equals the bicubic input baseline
    assert res.mean["output_psnr"] == pytest.approx(res.mean["input_psnr"])


def test_wiener_baseline_helps_on_blur(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    img = np.full((96, 96, 3), 128, np.uint8)
    for _ in range(25):  # sharp-edged rectangles: what blur destroys and Wiener restores
        y, x = rng.integers(0, 80, 2)
        img[y : y + rng.integers(4, 16), x : x + rng.integers(4, 16)] = rng.integers(0, 256, 3)
    Image.fromarray(img).save(tmp_path / "rects.png")
    spec = "blur=gaussian:1.5,noise=1"
    res = evaluate.evaluate(evaluate.wiener_baseline(spec), tmp_path, spec)
    assert res.mean["output_psnr"] > res.mean["input_psnr"] + 1.0
    with pytest.raises(ValueError, match="no blur in"):
        evaluate.wiener_baseline("noise=5")


def test_command_line_trains_exports_and_installs(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg_path = tmp_path / "tiny.json"
    cfg_path.write_text(json.dumps(tiny_config("upscale", steps=3)))
    out = tmp_path / "run"
    rc = train.main(
        ["--config", str(cfg_path), "--data", str(data_root), "--out", str(out), "--threads", "1"]
    )
    assert rc == 0
    card = json.loads((out / "tiny-upscale.json").read_text())
    assert card["training"]["steps"] == 3 and card["scale"] == 2
    session = card["training"]["sessions"][-1]
    assert (session["patch"], session["batch"]) == (16, 2)  # each session's own
    assert session["precision"] == "fp32"
    (ev,) = card["evaluation"]
    assert ev["channel"] == "Y" and "command" in ev
    # resume the exact run from its checkpoint for 2 more steps
    rc = train.main(
        [
            "--config",
            str(cfg_path),
            "--data",
            str(data_root),
            "--out",
            str(out),
            "--resume",
            str(out / "last.pt"),
            "--steps",
            "5",
            "--no-eval",
        ]
    )
    assert rc == 0
    card = json.loads((out / "tiny-upscale.json").read_text())
    assert card["training"]["sessions"][-1]["steps"] == 5
    assert card["training"]["steps"] == 5


def test_batch_workers_make_the_pipelines_batches_in_other_processes(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    t = Trainer(tiny_config("upscale", steps=2), data_root=data_root, workers=1)
    made_in: list[int] = []
    inline = t.pipeline

    def pipeline(*args: Any) -> degradations.Batch:
        made_in.append(os.getpid())  # recorded here only for batches made in line
        return inline(*args)

    b = t.next_batch()
    assert b.lq.shape == (2, 3, 8, 8) and b.gt.shape == (2, 3, 16, 16)
    assert t._stream is not None  # from the loader's worker
    records = list(t.run())
    assert [r.step for r in records] == [1, 2] and np.isfinite(records[-1].loss)
    assert t._stream is None  # the workers ended with the run
    # a loader that breaks (no room for its shared memory, a worker killed) falls back to
    # making the batches in line, and the run goes on
    t2 = Trainer(tiny_config("upscale", steps=2), data_root=data_root, workers=2)

    class Broken:
        def __init__(self, *a: Any, **k: Any) -> None:
            pass

        def __iter__(self) -> Broken:
            return self

        def __next__(self) -> degradations.Batch:
            raise RuntimeError("DataLoader worker (pid 1) is killed by signal: Aborted.")

    monkeypatch.setattr(torch.utils.data, "DataLoader", Broken)
    monkeypatch.setattr(t2, "pipeline", pipeline)
    assert t2.next_batch().gt.shape == (2, 3, 16, 16)
    assert t2.workers == 0 and made_in == [os.getpid()]


def test_a_session_on_some_of_the_folders_or_with_an_mse_tail_says_so_and_the_card_keeps_the_configs(
    data_root: Path, tmp_path: Path
) -> None:
    import shutil

    shutil.copytree(data_root / "train/a", tmp_path / "data/train/c")
    shutil.copytree(data_root / "test", tmp_path / "data/test")
    cfg = tiny_config("upscale", steps=2)
    cfg["data"]["folders"] = ["train/c", "train/gone"]  # train/gone is not on this machine
    cfg_path = tmp_path / "tiny.json"
    cfg_path.write_text(json.dumps(cfg))
    out = tmp_path / "run"
    base = ["--config", str(cfg_path), "--data", str(tmp_path / "data"), "--out", str(out)]
    assert train.main([*base, "--folders", "train/c,train/x", "--no-eval"]) == 2
    assert train.main([*base, "--mse-tail", "1.5", "--no-eval"]) == 2
    argv = [*base, "--folders", "train/c", "--batch", "3", "--val-every", "1", "--no-eval"]
    assert train.main([*argv, "--mse-tail", "0.5"]) == 0
    card = json.loads((out / "tiny-upscale.json").read_text())
    session = card["training"]["sessions"][-1]
    assert session["data"] == ["train/c"] and session["batch"] == 3
    assert session["loss"] == "charbonnier, then MSE for the last 50%"
    assert card["training"]["loss"] == "charbonnier, then MSE for the last 30%"  # config
    assert [c["step"] for c in session["curve"]] == [1, 2]
    assert card["training"]["data"] == ["train/c", "train/gone"]
    assert card["training"]["batch"] == 2  # the config's: the override is the session's
    assert session["machine"].endswith("CPU cores") and card["training"]["hardware"] == "CPU"
    assert session["gpu"] is None


def test_the_card_says_when_a_session_trained_on_a_gpu() -> None:
    from deconv_gui.models.networks import build_network
    from deconv_gui.training.export import make_card

    cfg = tiny_config("upscale")
    net = build_network(cfg["architecture"]["name"], cfg["architecture"]["hparams"])
    cpu = {"machine": "2 CPU cores", "steps": 1, "data": ["train/a", "train/z"]}
    gpu = {"machine": "NVIDIA H200 (CUDA), 16 CPU cores", "steps": 1}
    assert make_card(cfg, net, sessions=[cpu])["training"]["hardware"] == "CPU"
    card = make_card(cfg, net, sessions=[cpu, gpu, cpu])
    assert card["training"]["hardware"] == "CPU; NVIDIA H200 for 1 of its 3 sessions"
    assert make_card(cfg, net, sessions=[gpu])["training"]["hardware"] == "NVIDIA H200"
    # since the sessions name their GPU, a machine described by hand (--machine) says it too
    told = {"machine": "the lab's box", "gpu": "NVIDIA L4", "steps": 1}
    card = make_card(cfg, net, sessions=[gpu, told, {**cpu, "gpu": None}])
    assert card["training"]["hardware"] == "CPU; NVIDIA H200, NVIDIA L4 for 2 of its 3 sessions"
    assert card["training"]["data"] == ["train/a", "train/z"]
    assert train.describe_machine(torch.device("cpu")).endswith("CPU cores")


def test_partial_init_copies_matching_tensors(data_root: Path, tmp_path: Path) -> None:
    from deconv_gui.training.export import save_weights

    x2 = Trainer(tiny_config("upscale"), data_root=data_root)
    list(x2.run(max_steps=2))
    save_weights(x2.model, tmp_path / "x2.safetensors", fp16=False)
    cfg4 = tiny_config("upscale", scale=4)
    cfg4["architecture"]["hparams"]["scale"] = 4
    x4 = Trainer(cfg4, data_root=data_root)
    names = x4.init_from_weights(tmp_path / "x2.safetensors", partial=True)
    assert "head.weight" in names
    assert torch.equal(x4.model.state_dict()["head.weight"], x2.model.state_dict()["head.weight"])
    assert x4.history == []


def test_partial_init_grows_a_trained_network_deeper_as_the_identity(
    data_root: Path, tmp_path: Path
) -> None:
    """A deeper copy of a trained model (more residual blocks) starts computing exactly what
    the trained one does, keeps its training record, and its new blocks then train."""
    from deconv_gui.training.export import make_card, save_weights, write_card

    cfg = tiny_config("denoise")
    t = Trainer(cfg, data_root=data_root)
    list(t.run(max_steps=3))
    save_weights(t.model, tmp_path / "tiny-denoise.safetensors", fp16=False)
    write_card(make_card(cfg, t.model, sessions=[{"steps": 3}]), tmp_path / "tiny-denoise.json")

    deep_cfg = copy.deepcopy(cfg)
    deep_cfg["architecture"]["hparams"].update(mid_blocks=3, dec_blocks=2)
    deep = Trainer(deep_cfg, data_root=data_root)
    names = deep.init_from_weights(tmp_path / "tiny-denoise.safetensors", partial=True)
    assert "mid.0.conv1.weight" in names and "mid.2.conv1.weight" not in names
    assert deep.history == [{"steps": 3}]  # the same model (same id): its record goes on
    x = torch.rand(2, 3, 24, 20)
    with torch.no_grad():
        assert torch.equal(deep.model.eval()(x, 0.3), t.model.eval()(x, 0.3))
    # without the identity start the new blocks would change the output
    random_start = Trainer(deep_cfg, data_root=data_root).model.eval()
    random_start.load_state_dict(t.model.state_dict(), strict=False)
    with torch.no_grad():
        assert not torch.allclose(random_start(x, 0.3), t.model.eval()(x, 0.3), atol=1e-4)
    list(deep.run(max_steps=3))
    assert deep.model.state_dict()["mid.2.conv2.weight"].abs().sum() > 0


# -- held-out validation slice -----------------------------------------------------------


def test_split_holdout_is_disjoint_even_and_deterministic(tmp_path: Path) -> None:
    from deconv_gui.training.data import split_holdout

    a, b = tmp_path / "a", tmp_path / "b"
    for folder, n in ((a, 10), (b, 3)):
        folder.mkdir()
        for i in range(n):
            Image.new("RGB", (8, 8)).save(folder / f"{i:02d}.png")
    train_paths, held = split_holdout([a, b], 3)
    assert len(held) == 3 and len(train_paths) == 10
    assert not set(held) & set(train_paths)
    assert all(p.parent == a for p in held)  # only from the first folder
    assert [p.name for p in held] == ["01.png", "04.png", "08.png"]  # spread, not the first
    assert split_holdout([a, b], 3) == (train_paths, held)
    assert split_holdout([a, b], 0)[1] == []
    assert len(split_holdout([a], 50)[0]) >= 1  # never holds out a whole folder


def test_trainer_validates_on_held_out_training_images(data_root: Path) -> None:
    cfg = tiny_config(
        val=[{"folder": "holdout", "degrade": "noise=25"}],
        data={"folders": ["train/a"], "scales": [1.0], "holdout": 1},
    )
    trainer = Trainer(cfg, data_root=data_root)
    assert len(trainer.pool) == 2  # 3 training images, 1 held out
    res = trainer.validate()
    assert list(res) == ["holdout noise=25"] and res["holdout noise=25"]["psnr"] > 0
    from deconv_gui.training.export import make_card

    card = make_card(cfg, trainer.model, sessions=[])
    assert "held out of training" in card["training"]["validation_note"]


# -- pruning -----------------------------------------------------------------------------


def test_prune_redunet_keeps_shapes_and_the_full_width_is_exact() -> None:
    from deconv_gui.models.networks import RedUNet
    from deconv_gui.training.prune import prune_redunet

    torch.manual_seed(0)
    net = RedUNet((16, 24), enc_blocks=1, mid_blocks=2, dec_blocks=1, noise_map=True).eval()
    for p in net.tail.parameters():  # a trained net's tail is not zero
        torch.nn.init.normal_(p, std=0.05)
    x = torch.rand(2, 3, 32, 28)
    same = prune_redunet(net, (16, 24), x, 0.3)
    with torch.no_grad():
        torch.testing.assert_close(same(x, 0.3), net(x, 0.3))  # a permutation only
    small = prune_redunet(net, (8, 12), x, 0.3)
    assert small.hparams["channels"] == [8, 12]
    assert small.head.weight.shape == (8, 13, 3, 3) and small.up.weight.shape == (12, 8, 2, 2)
    with torch.no_grad():
        y = small(x, 0.3)
    assert y.shape == x.shape and torch.isfinite(y).all()
    # the kept slices are the original weights (copied, not re-initialised)
    rows = {tuple(r.flatten().tolist()) for r in net.head.weight}
    assert all(tuple(r.flatten().tolist()) in rows for r in small.head.weight)
    with pytest.raises(ValueError, match="must be within the network's"):
        prune_redunet(net, (32, 12), x, 0.3)


def test_spec_runner_estimates_the_noise_of_each_image() -> None:
    """`deconv-gui eval` with automatic strength: every image gets its own estimate (a
    processor keeps its first estimate for all tiles of one photo, not for the next photo)."""
    from deconv_gui.models.catalog import default_registry

    spec = default_registry().get("redunet-denoise")
    rng = np.random.default_rng(0)
    small = rng.random((6, 8, 3)).astype(np.float32)

    clean = cv2.resize(small, (64, 48), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    noisy = (clean + rng.normal(0, 40 / 255, clean.shape)).clip(0, 1).astype(np.float32)
    fresh = evaluate.SpecRunner(spec)(clean)
    run = evaluate.SpecRunner(spec)
    run(noisy)
    np.testing.assert_allclose(run(clean), fresh, atol=1e-6)


def test_wiener_deconvolve_inverts_a_noise_free_blur() -> None:
    from deconv_gui.core.degrade import blur, gaussian_kernel
    from deconv_gui.core.metrics import psnr
    from deconv_gui.models.classical import wiener_deconvolve

    rng = np.random.default_rng(3)
    img = cv2.resize(rng.random((12, 12, 3)).astype(np.float32), (64, 64))
    k = gaussian_kernel(1.2)
    blurred = blur(img, k)
    sharp = wiener_deconvolve(blurred, k, 1e-6)
    assert sharp.shape == img.shape and sharp.dtype == np.float32
    inner = (slice(12, -12), slice(12, -12))  # away from the reflected borders
    assert psnr(sharp[inner], img[inner]) > psnr(blurred[inner], img[inner]) + 10
    # with noise, the regularisation (noise-to-signal ratio) keeps it from blowing up
    noisy = blurred + rng.normal(0, 0.01, blurred.shape).astype(np.float32)
    raw = wiener_deconvolve(noisy, k, 1e-6)
    regularised = wiener_deconvolve(noisy, k, 1e-2)
    assert psnr(regularised[inner], img[inner]) > psnr(raw[inner], img[inner]) + 10


def test_known_kernel_deblur_pipeline_feeds_the_wiener_output() -> None:
    rng = np.random.default_rng(0)
    cfg = {"margin": 4, "wiener_nsr": 0.005, "noise_max": 0.0}
    gt = rng.integers(0, 256, (3, 24, 24, 3), dtype=np.uint8)
    b = degradations.deblur_batch(gt, rng, torch.Generator().manual_seed(0), cfg)
    assert b.gt.shape == b.lq.shape == (3, 3, 16, 16) and b.noise_map is None
    plain = degradations.deblur_batch(
        gt, np.random.default_rng(0), torch.Generator().manual_seed(0), {"margin": 4}
    )
    # the Wiener output is closer to the sharp patch than the blurred one is
    assert float((b.lq - b.gt).abs().mean()) < float((plain.lq - plain.gt).abs().mean())


def test_realworld_lr_is_seeded_sized_and_varied() -> None:
    rng = np.random.default_rng(1)
    hr = cv2.resize(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8), (64, 64))
    outs = [degradations.realworld_lr(hr, 4, np.random.default_rng(s), {}) for s in range(12)]
    assert all(o.shape == (16, 16, 3) and o.dtype == np.uint8 for o in outs)
    again = degradations.realworld_lr(hr, 4, np.random.default_rng(5), {})
    assert np.array_equal(outs[5], again)
    bicubic = degradations.prim.downscale_bicubic_u8(hr, 4)
    differ = [float(np.abs(o.astype(int) - bicubic).mean()) > 0.5 for o in outs]
    assert sum(differ) >= 8  # most draws degrade more than the plain downscale
    batch = degradations.upscale_batch(
        np.stack([hr, hr]), rng, torch.Generator(), {"scale": 4, "realworld": True}
    )
    assert batch.lq.shape == (2, 3, 16, 16) and batch.gt.shape == (2, 3, 64, 64)


def test_known_kernel_model_card_runs_wiener_then_the_network(tmp_path: Path) -> None:
    """A card with ``wiener_nsr`` takes a kernel option and runs Wiener before the net."""
    from deconv_gui.core.degrade import parse_kernel
    from deconv_gui.models.classical import wiener_deconvolve
    from deconv_gui.models.registry import LoadOptions
    from deconv_gui.training.export import make_card, save_weights, write_card

    cfg = tiny_config("deblur", id="tiny-kernel", wiener_nsr=0.005)
    net = Trainer(cfg).model  # its tail starts at zero: the network is the identity
    save_weights(net, tmp_path / "tiny-kernel.safetensors")
    write_card(make_card(cfg, net, sessions=[]), tmp_path / "tiny-kernel.json")
    (spec,) = bundled.bundled_specs(tmp_path)
    assert spec.params == ("kernel",) and spec.card["params"] == sum(
        p.numel() for p in net.parameters()
    )
    assert not spec.trainable  # the fine-tune pipelines do not make its Wiener inputs
    rng = np.random.default_rng(2)
    img = cv2.resize(rng.random((8, 8, 3)).astype(np.float32), (40, 40))
    proc = spec.build(LoadOptions(device="cpu", params={"kernel": "motion:11:30"}))
    assert proc.overlap >= spec.receptive_field + 100  # a motion blur's inverse reaches far
    want = np.clip(wiener_deconvolve(img, parse_kernel("motion:11:30"), 0.005, proc.reach), 0, 1)
    assert np.allclose(proc(img), want, atol=1e-5)
    # tiles get the Wiener filter's reach as context (and FFT padding): no seams
    from deconv_gui.core.tiling import restore_tiled, run_to_end

    photo = cv2.resize(rng.random((60, 80, 3)).astype(np.float32), (800, 600))
    tiled = run_to_end(restore_tiled(proc, photo, tile_size=2 * proc.overlap + 64))
    assert np.abs(tiled - proc(photo)).max() <= 1.0 / 255.0


def test_raw_loss_tail_is_mse_and_the_card_says_which_loss() -> None:
    from deconv_gui.training.export import describe_loss
    from deconv_gui.training.loop import _tone, raw_loss

    gt = torch.rand(2, 4, 8, 8)
    out = gt + 0.01 * torch.randn(2, 4, 8, 8)
    mse = torch.nn.functional.mse_loss
    lin = mse(out, gt)
    assert float(raw_loss(out, gt, mse=True, tone_weight=0.0)) == pytest.approx(float(lin))
    both = lin + 0.1 * mse(_tone(out), _tone(gt))
    assert float(raw_loss(out, gt, mse=True, tone_weight=0.1)) == pytest.approx(float(both))
    assert float(raw_loss(out, gt)) > float(raw_loss(out, gt, mse=True))  # Charbonnier ~ L1
    raw = {"loss": "raw"}
    assert describe_loss(raw).startswith("charbonnier on the linear mosaic")
    tail = describe_loss({**raw, "mse_tail": 0.5, "tail_tone_weight": 0.1})
    assert tail.endswith(
        "then MSE on the linear mosaic + 0.1x on a gamma-compressed copy for the last 50%"
    )
    whole = describe_loss({**raw, "mse_tail": 1.0, "tail_tone_weight": 0.1})
    assert whole == "MSE on the linear mosaic + 0.1x on a gamma-compressed copy"
    assert describe_loss({"mse_tail": 0.15}) == "charbonnier, then MSE for the last 15%"
    assert describe_loss({"mse_tail": 1.0}) == "MSE"


def test_a_session_on_shipped_weights_keeps_their_cards_comparisons(
    data_root: Path, tmp_path: Path
) -> None:
    """`--resume shipped.safetensors` into a new folder: the card it writes (and `--install`
    copies) keeps the comparisons recorded in the shipped card beside those weights."""
    cfg_path = tmp_path / "tiny.json"
    cfg_path.write_text(json.dumps(tiny_config("upscale", steps=2)))
    first = tmp_path / "first"
    args = ["--config", str(cfg_path), "--data", str(data_root), "--threads", "1", "--no-eval"]
    assert train.main([*args, "--out", str(first)]) == 0
    shipped = first / "tiny-upscale.json"
    card = json.loads(shipped.read_text())
    assert card["comparisons"] == []
    card["comparisons"] = [{"what": "upsampler A vs B"}]
    shipped.write_text(json.dumps(card))
    second = tmp_path / "second"
    resume = ["--resume", str(first / "tiny-upscale.safetensors"), "--steps", "1"]
    assert train.main([*args, *resume, "--out", str(second)]) == 0
    again = json.loads((second / "tiny-upscale.json").read_text())
    assert again["comparisons"] == [{"what": "upsampler A vs B"}]
    assert len(again["training"]["sessions"]) == 2


def _shipped_configs() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(config file name, config, card) for every training config of a bundled model."""
    cards = {}
    for p in sorted(bundled.models_dir().glob("*.json")):
        card = json.loads(p.read_text())
        cards[card["id"]] = card
    out = []
    for p in sorted((Path(train.__file__).parent / "configs").glob("*.json")):
        cfg = train.load_config(p)
        if cfg["id"] in cards:
            out.append((p.name, cfg, cards[cfg["id"]]))
    return out


def test_every_shipped_model_has_its_config_and_it_monitors_only_held_out_images() -> None:
    """A bundled model's config rebuilds the shipped network (so ``--resume`` from the
    shipped weights works), and its learning curve never looks at a test set: the test
    sets are for the final evaluation only (resources/models/README.md)."""
    from deconv_gui.models.networks import build_network

    shipped = _shipped_configs()
    bundled_ids = {s.id for s in bundled.bundled_specs()}
    assert {cfg["id"] for _, cfg, _ in shipped} == bundled_ids
    for name, cfg, card in shipped:
        ours = build_network(cfg["architecture"]["name"], cfg["architecture"]["hparams"])
        theirs = build_network(card["architecture"]["name"], card["architecture"]["hparams"])
        assert type(ours) is type(theirs), name
        assert ours.hparams == theirs.hparams, name
        assert int(cfg["data"].get("holdout", 0)) > 0, name
        assert cfg["val"] and all(v["folder"] == "holdout" for v in cfg["val"]), name


@pytest.mark.parametrize("task", ["denoise", "upscale"])
def test_bf16_training_learns_and_validates_in_float32(task: str, data_root: Path) -> None:
    """precision "bf16": autocast forward/backward, float32 weights (what is exported), a
    falling loss on a fixed batch; an unknown precision is refused."""
    t = Trainer(tiny_config(task, steps=30, precision="bf16"), data_root=data_root)
    assert t.precision == "bf16"
    batch = t.next_batch()
    t.next_batch = lambda: batch  # type: ignore[method-assign]  # learn one batch by heart
    first, _ = t.train_step()
    for _ in range(28):
        last, _ = t.train_step()
    assert np.isfinite(last) and last < first
    assert all(p.dtype == torch.float32 for p in t.model.parameters())
    (scores,) = t.validate().values()
    assert np.isfinite(scores["psnr"])
    with pytest.raises(ValueError, match="precision"):
        Trainer(tiny_config(task, precision="fp8"), data_root=data_root)
