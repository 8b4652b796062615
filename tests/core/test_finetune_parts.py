"""The fine-tune package's parts on their own (tiny networks and photos, CPU): each source
gives batches of the right shapes and a held-out set, the patch pool built from arrays, the
self-supervised sub-sampling, and the guard that refuses a model made worse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_models import tiny_card, write_tiny_model

from deconv_gui import cli
from deconv_gui.errors import DeconvError
from deconv_gui.models import bundled, catalog, imported
from deconv_gui.models.registry import ModelRegistry, ModelSpec
from deconv_gui.training import finetune as ft
from deconv_gui.training.data import PatchPool
from deconv_gui.training.finetune import objectives, sampling, sources

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelSpec]:
    d = tmp_path_factory.mktemp("models")
    return {
        task: bundled.spec_from_card(write_tiny_model(d, task)) for task in ("denoise", "upscale")
    }


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Four smooth 48x40 photos: clean, noisy, and x2 "after" photos for an upscaler."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    out = {k: root / k for k in ("clean", "noisy", "small", "big")}
    for d in out.values():
        d.mkdir()
    for i in range(4):
        small = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
        gt = np.asarray(Image.fromarray(small).resize((48, 40), Image.Resampling.BICUBIC))
        noisy = np.clip(gt + rng.normal(0, 25, gt.shape), 0, 255).astype(np.uint8)
        Image.fromarray(gt).save(out["clean"] / f"p{i}.png")
        Image.fromarray(noisy).save(out["noisy"] / f"p{i}.png")
        Image.fromarray(gt[::2, ::2]).save(out["small"] / f"p{i}.png")
        Image.fromarray(gt).save(out["big"] / f"p{i}.png")
    return out


def _source(spec: ModelSpec, data: ft.FinetuneData) -> sources.Source:
    base = sources.BaseInfo.from_card(spec.card)
    src = sources.make_source(data, base, val_fraction=0.25, seed=0)
    for _ in src.load():
        pass
    return src


def drain(gen):
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


# ---------------------------------------------------------------------------- sources
@pytest.mark.parametrize(
    ("task", "mode", "lq", "gt"),
    [
        ("upscale", "pairs", (3, 3, 12, 12), (3, 3, 24, 24)),
        ("upscale", "clean", (3, 3, 12, 12), (3, 3, 24, 24)),
        ("denoise", "clean", (3, 3, 12, 12), (3, 3, 12, 12)),
        ("denoise", "noisy", (3, 3, 12, 12), (3, 3, 12, 12)),
    ],
)
def test_each_source_gives_batches_of_the_right_shapes(task, mode, lq, gt, bases, photos) -> None:
    data = {
        "pairs": ft.FinetuneData.pairs(photos["small"], photos["big"]),
        "clean": ft.FinetuneData.clean(photos["clean"], "noise=5-20"),
        "noisy": ft.FinetuneData.noisy(photos["noisy"]),
    }[mode]
    src = _source(bases[task], data)
    assert src.supervised == (mode != "noisy")
    assert (len(src.train_items), len(src.val)) == (3, 1)
    assert {i[0] for i in src.train_items}.isdisjoint(v.name for v in src.val)
    rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
    b = src.batch(rng, gen, 3, 12)
    assert tuple(b.lq.shape) == lq and tuple(b.gt.shape) == gt
    assert b.lq.dtype == b.gt.dtype == torch.float32
    assert float(b.lq.min()) >= 0.0 and float(b.lq.max()) <= 1.0
    if task == "denoise":  # a noise-map network gets one level per patch
        assert b.noise_map is not None and tuple(b.noise_map.shape) == (3, 1, 1, 1)
    if mode == "noisy":  # the target is the noisy patch itself
        assert torch.equal(b.lq, b.gt) and float(b.noise_map.min()) > 0
    v = src.val[0]
    s = bases[task].scale
    if mode == "noisy":
        assert v.gt is None and v.lq.shape[0] % 2 == 0 and v.lq.shape[1] % 2 == 0
    else:
        assert v.gt.shape == (v.lq.shape[0] * s, v.lq.shape[1] * s, 3)


def test_sources_refuse_data_that_does_not_fit(bases, photos) -> None:
    base = sources.BaseInfo.from_card(bases["upscale"].card)
    with pytest.raises(DeconvError, match="only trains denoisers"):
        sources.NoisySource(ft.FinetuneData.noisy(photos["noisy"]), base, val_fraction=0.2, seed=0)
    with pytest.raises(DeconvError, match="do not match up"):  # "after" not 2x "before"
        sources.PairsSource(
            ft.FinetuneData.pairs(photos["big"], photos["big"]), base, val_fraction=0.2, seed=0
        )


def test_a_held_out_photo_that_cannot_be_read_gives_its_place_to_a_training_photo(
    bases, photos, tmp_path
) -> None:
    folder = tmp_path / "noisy"
    folder.mkdir()
    for p in photos["noisy"].iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    base = sources.BaseInfo.from_card(bases["denoise"].card)
    src = sources.make_source(ft.FinetuneData.noisy(folder), base, val_fraction=0.25, seed=0)
    (val,) = src.val_items
    val[1].write_bytes(b"\x89PNG\r\n\x1a\n damaged")  # the one photo that measures
    said = list(src.load())
    assert said[:2] == ["preparing the held-out photos", f"left out {val[1].name}: "
                        "the file is damaged or incomplete (perhaps it was not fully copied "
                        "or downloaded)"]  # fmt: skip
    assert len(src.val) == src.n_val == 1 and src.val_items[0] != val
    assert len(src.train_items) == 2 and src.val_items[0] not in src.train_items
    assert [s.split(":")[0] for s in src.skipped] == [val[1].name]
    # a held-out photo too small to train on measures nothing either (it was used)
    src = sources.make_source(ft.FinetuneData.noisy(folder), base, val_fraction=0.25, seed=1)
    (val,) = src.val_items
    Image.fromarray(np.zeros((6, 9, 3), np.uint8)).save(val[1])
    said = list(src.load())
    assert said[1].startswith(f"left out {val[1].name}: too small (9x6 px")
    assert src.val_items[0] != val and len(src.train_items) == 1


def test_a_photo_too_small_for_the_upscaler_is_named_with_its_size(bases, photos) -> None:
    data = ft.FinetuneData.clean(photos["small"], "downscale=2")  # 24x20 px photos
    with pytest.raises(DeconvError, match=r"p\d\.png: too small \(24x20 px; x2 training "):
        _source(bases["upscale"], data)


def test_patch_pool_from_arrays_keeps_pairs_aligned_any_channels() -> None:
    """Four-channel images (like packed RAW mosaics) with targets twice as large: each
    target patch is the same place, flip and rotation as its input patch."""
    rng = np.random.default_rng(0)
    imgs = [rng.random((10 + 3 * i, 14, 4)).astype(np.float32) for i in range(3)]
    tgts = [np.repeat(np.repeat(im, 2, 0), 2, 1) for im in imgs]  # nearest-neighbour x2
    pool = PatchPool.from_arrays(imgs, tgts, scale=2)
    a, b, idx = pool.sample_pairs(np.random.default_rng(1), 16, 8)
    assert a.shape == (16, 8, 8, 4) and a.dtype == np.float32
    assert b is not None and b.shape == (16, 16, 16, 4)
    np.testing.assert_array_equal(b[:, ::2, ::2], a)
    assert set(idx.tolist()) <= {0, 1, 2}
    # same draws as a pool without targets: sample() is sample_pairs()'s first array
    np.testing.assert_array_equal(
        PatchPool.from_arrays(imgs).sample(np.random.default_rng(1), 16, 8), a
    )


# --------------------------------------------------------------------------- sampling
def test_neighbour_subsample_takes_two_neighbours_of_each_cell() -> None:
    h, w = 6, 8
    pos = torch.arange(h * w, dtype=torch.float32).view(1, 1, h, w).repeat(2, 3, 1, 1)
    g1, g2 = sampling.neighbour_subsample(pos, torch.Generator().manual_seed(0))
    assert g1.shape == g2.shape == (2, 3, h // 2, w // 2)
    assert torch.equal(g1[:, 0], g1[:, 2])  # the same pick for every channel
    y1, x1 = g1 // w, g1 % w
    y2, x2 = g2 // w, g2 % w
    cy, cx = torch.arange(h // 2).view(-1, 1), torch.arange(w // 2).view(1, -1)
    assert torch.equal(y1 // 2, cy.expand_as(y1)) and torch.equal(x1 // 2, cx.expand_as(x1))
    assert torch.equal(y2 // 2, cy.expand_as(y2)) and torch.equal(x2 // 2, cx.expand_as(x2))
    assert torch.all((y1 - y2).abs() + (x1 - x2).abs() == 1)  # next to each other, no diagonal


def test_self_supervised_score_tracks_the_true_error() -> None:
    """On independent noise, the held-out self-supervised MSE of a better denoiser is lower
    (here: the clean image itself vs the noisy image, returned unchanged)."""
    gen = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    clean = (0.5 + 0.3 * torch.sin(6 * xx) * torch.cos(4 * yy)).expand(1, 3, 64, 64)
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=gen)
    ident = objectives.self_supervised_mse(lambda x, nm: x, noisy, None)
    cells = {p: sampling.cell_image(clean, p) for p in range(4)}
    oracle = objectives.self_supervised_mse(
        lambda x, nm: next(c for p, c in cells.items() if torch.equal(x, sampling.cell_image(
            noisy, p))), noisy, None)  # fmt: skip
    assert oracle == pytest.approx(0.01, rel=0.15)  # the noise variance (+ a small gap)
    assert ident == pytest.approx(0.02, rel=0.15)  # twice: noise on both sides
    assert oracle < ident


def test_recorruption_adds_the_measured_row_noise() -> None:
    """The added noise z has the profile's per-photosite variance and, with a row variance,
    one offset per mosaic row shared by planes R, G1 and by G2, B: the covariance R2R needs
    to leave banding out of the target's reach."""
    gen = torch.Generator().manual_seed(0)
    y = torch.full((4, 4, 64, 64), 0.25)
    shot, read, row = 1e-3, 1e-4, 4e-4
    rec = objectives.Recorrupted(alpha=0.5)
    _, _, _, z = rec.pair(y, torch.tensor([shot, read, row]).view(1, 3, 1, 1).expand(4, 3, 1, 1),
                          gen)  # fmt: skip
    means = z.mean(dim=3)  # (B, 4, H): a row's offset plus a little photosite noise
    pix = (z - z.mean(dim=3, keepdim=True)).var()
    assert float(pix) == pytest.approx(shot * 0.25 + read, rel=0.05)
    assert float(means.var()) == pytest.approx(row + (shot * 0.25 + read) / 64, rel=0.15)
    r_g1 = torch.corrcoef(torch.stack([means[:, 0].flatten(), means[:, 1].flatten()]))[0, 1]
    g1_g2 = torch.corrcoef(torch.stack([means[:, 1].flatten(), means[:, 2].flatten()]))[0, 1]
    assert float(r_g1) > 0.9 and abs(float(g1_g2)) < 0.1
    _, _, _, z2 = rec.pair(y, torch.tensor([shot, read]).view(1, 2, 1, 1).expand(4, 2, 1, 1), gen)
    assert float(z2.mean(dim=3).var()) < 3 * (shot * 0.25 + read) / 64  # no row noise asked


# ------------------------------------------------------------------------------ guard
def test_guard_decisions() -> None:
    val = {"metric": "PSNR/SSIM on RGB", "photos": 2}
    worse = ft.judge({**val, "psnr": 30.0}, {**val, "psnr": 29.5}, supervised=True)
    assert worse.refused and "worse than the base model" in worse.message
    assert "30.00 -> 29.50 dB" in worse.message
    # what to try names what the app has (steps, photos) and where a learning rate is set
    assert "try more photos, fewer steps or a lower learning rate (deconv-gui finetune --lr)" in (
        worse.message
    )
    same = ft.judge({**val, "psnr": 30.0}, {**val, "psnr": 29.99}, supervised=True)
    assert not same.refused and "No measurable change" in same.message
    better = ft.judge({**val, "psnr": 30.0}, {**val, "psnr": 31.0}, supervised=True)
    assert not better.refused and better.gain == pytest.approx(1.0)
    # the self-supervised score's differences are compressed: a smaller loss is refused
    ss = ft.judge({**val, "psnr": 12.50}, {**val, "psnr": 12.49}, supervised=False)
    assert ss.refused and "noisy photos alone" in ss.message
    caveat = ft.judge({**val, "psnr": 12.0}, {**val, "psnr": 13.0}, supervised=False,
                      caveat="the noise is correlated")  # fmt: skip
    assert caveat.refused and "the noise is correlated" in caveat.message


@pytest.mark.parametrize("mode", ["pairs", "noisy"])
def test_a_run_made_to_fail_is_refused_and_not_saved(mode, bases, photos) -> None:
    """A far too high learning rate wrecks the network: the verdict refuses it, saving it
    raises `WorseModelError` and writes nothing; ``force`` saves it anyway."""
    data = (
        ft.FinetuneData.pairs(photos["noisy"], photos["clean"])
        if mode == "pairs"
        else ft.FinetuneData.noisy(photos["noisy"])
    )
    res = drain(ft.finetune_job(bases["denoise"], data, steps=4, device="cpu", batch=2,
                                patch=16, lr=5.0))  # fmt: skip
    assert res.refused and res.after["psnr"] < res.before["psnr"]
    assert res.message.startswith("Not saved") and "worse than the base model" in res.message
    with pytest.raises(ft.WorseModelError, match="worse than the base model"):
        ft.save_finetuned(res, "wrecked")
    assert imported.user_specs() == []
    forced = ft.save_finetuned(res, "wrecked", force=True)
    assert forced.card["finetune"]["verdict"]["refused"] is True


def test_the_cli_refuses_with_one_error_line(bases, photos, capsys, monkeypatch) -> None:
    monkeypatch.setattr(catalog, "default_registry", lambda: ModelRegistry([bases["denoise"]]))
    import deconv_gui.training.finetune.job as job

    real = job.finetune_job
    monkeypatch.setattr(  # the CLI's job, with a far too high learning rate
        "deconv_gui.training.finetune.cli.finetune_job",
        lambda *a, **k: real(*a, **{**k, "lr": 5.0, "batch": 2, "patch": 16}),
    )
    rc = cli.main(["finetune", "--base", "tiny-denoise", "--noisy", str(photos["noisy"]),
                   "--steps", "3", "--name", "bad", "--device", "cpu"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert [ln for ln in err if ln.startswith("error:")] == [err[-1]]
    assert "Not saved" in err[-1] and "unexpected" not in err[-1]
    assert imported.user_specs() == []
    ckpts = ft.default_checkpoint_dir("tiny-denoise", ft.FinetuneData.noisy(photos["noisy"]), 3)
    assert not ckpts.exists()


def test_result_and_card_carry_the_verdict(bases, photos) -> None:
    data = ft.FinetuneData.pairs(photos["noisy"], photos["clean"])
    res = drain(ft.finetune_job(bases["denoise"], data, steps=2, device="cpu", batch=2,
                                patch=16, lr=1e-5))  # fmt: skip
    assert not res.refused and res.verdict.before == res.before["psnr"]
    card = ft.save_finetuned(res, "gentle").card
    assert card["finetune"]["verdict"] == json.loads(json.dumps(res.verdict.as_dict()))
    assert card["finetune"]["objective"] == "supervised"


def test_unknown_objective_is_refused(bases, photos) -> None:
    with pytest.raises(DeconvError, match="unknown self-supervised objective"):
        next(ft.finetune_job(bases["denoise"], ft.FinetuneData.noisy(photos["noisy"]), steps=1,
                             objective="magic"))  # fmt: skip


def test_recorrupted_alpha_from_the_objective_name() -> None:
    raw = sources.BaseInfo("RAW", "raw-denoise", noise_map=True, channels=4, bayer=True)

    class _Src:
        supervised = False
        base = raw

    src: Any = _Src()
    assert objectives.objective_for(src).alpha == 1.0  # the RAW default
    assert objectives.objective_for(src, "recorrupted:0.5").alpha == 0.5
    for bad in ("recorrupted:x", "recorrupted:0", "recorrupted:-1"):
        with pytest.raises(DeconvError, match="alpha"):
            objectives.objective_for(src, bad)


def test_tiny_card_helper_is_trainable() -> None:
    assert sources.BaseInfo.from_card(tiny_card("denoise")).noise_map is True


class _Flat(torch.nn.Module):
    """An "oracle" denoiser for flat photos: each channel's mean."""

    def forward(self, x: torch.Tensor, nm: torch.Tensor | None = None) -> torch.Tensor:
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x)


@pytest.mark.parametrize("correlated", [False, True])
def test_correlated_noise_is_detected(correlated, tmp_path) -> None:
    """Noise spread over neighbours (here: drawn at half size and enlarged) is told apart
    from independent noise by what a denoiser removes."""
    rng = np.random.default_rng(0)
    for i in range(4):
        n = rng.normal(0, 20, (32, 32, 3) if correlated else (64, 64, 3))
        if correlated:
            n = n.repeat(2, 0).repeat(2, 1)
        Image.fromarray(np.clip(128 + n, 0, 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
    base = sources.BaseInfo("flat", "denoise")
    src = sources.make_source(ft.FinetuneData.noisy(tmp_path), base, val_fraction=0.5, seed=0)
    for _ in src.load():
        pass
    rho = objectives.residual_correlation(_Flat(), src, torch.device("cpu"))
    caveat = objectives.correlated_noise_caveat(_Flat(), src, torch.device("cpu"))
    if correlated:
        assert rho > 0.3 and "correlated between neighbouring pixels" in caveat
    else:
        assert abs(rho) < 0.1 and caveat == ""


def test_a_correlated_noise_caveat_refuses_the_result(bases, photos, monkeypatch) -> None:
    monkeypatch.setattr(objectives, "residual_correlation", lambda *a: 0.5)
    items = []
    gen = ft.finetune_job(bases["denoise"], ft.FinetuneData.noisy(photos["noisy"]), steps=2,
                          device="cpu", batch=2, patch=16, lr=1e-5)  # fmt: skip
    while True:
        try:
            items.append(next(gen))
        except StopIteration as stop:
            res = stop.value
            break
    warned = [p.message for p in items if p.phase == "validating" and p.val is not None]
    assert "correlated between neighbouring pixels" in warned[0]
    assert res.refused and "Not saved: the noise in these photos is correlated" in res.message
    with pytest.raises(ft.WorseModelError):
        ft.save_finetuned(res, "correlated")
